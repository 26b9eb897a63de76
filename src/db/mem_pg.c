/*
 * The memory module on PostgreSQL (migration 6): its tables, its writes as
 * PL/pgSQL functions (each checks ownership and writes in one round trip),
 * and the one statement runner mem.c uses (mem_internal.h).
 *
 *   mem_prefs_put                                  0
 *   mem_style_create, mem_term_create, mem_flag_add  the new id
 *   mem_style_update, mem_style_delete, mem_term_update, mem_term_delete,
 *   mem_rating_put, mem_flag_delete, mem_conv_set_type  0
 *
 * or a negative code: -1 not found (or another user's), -2 not an answer,
 * -3 the type was set by hand, -5 the cap of entries reached. A duplicate
 * term raises unique_violation (RG_EEXISTS).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db/db_internal.h"
#include "db/mem_internal.h"
#include "db/pg_internal.h"

static const char M6_TABLES[] =
    "CREATE TABLE mem_prefs ("
    " owner_id bigint PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
    " prefs text NOT NULL,"
    " updated_at bigint NOT NULL);"
    "CREATE TABLE mem_styles ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " owner_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name text NOT NULL,"
    " description text NOT NULL DEFAULT '',"
    " prompt text NOT NULL,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL);"
    "CREATE INDEX mem_styles_owner ON mem_styles(owner_id, id);"
    "CREATE TABLE mem_glossary ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " owner_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " term text NOT NULL,"
    " term_key text NOT NULL,"
    " definition text NOT NULL,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL,"
    " UNIQUE (owner_id, term_key));"
    "CREATE TABLE mem_ratings ("
    " message_id bigint PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " owner_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " confidence integer,"
    " thumbs text NOT NULL DEFAULT '',"
    " updated_at bigint NOT NULL);"
    "CREATE INDEX mem_ratings_owner ON mem_ratings(owner_id, message_id);"
    "CREATE TABLE mem_flags ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " message_id bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " owner_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " start_at bigint NOT NULL,"
    " end_at bigint NOT NULL,"
    " quote text NOT NULL,"
    " note text NOT NULL DEFAULT '',"
    " created_at bigint NOT NULL);"
    "CREATE INDEX mem_flags_message ON mem_flags(message_id, id);"
    "CREATE INDEX mem_flags_owner ON mem_flags(owner_id, message_id);"
    "ALTER TABLE conversations ADD COLUMN type text NOT NULL DEFAULT '';"
    "ALTER TABLE conversations ADD COLUMN type_auto boolean NOT NULL DEFAULT true;"
    "CREATE INDEX conversations_type ON conversations(owner_id, type);";

static const char M6_PREFS[] =
    "CREATE FUNCTION mem_prefs_put(p_owner bigint, p_prefs text, p_now bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    " INSERT INTO mem_prefs(owner_id, prefs, updated_at) VALUES (p_owner, p_prefs, p_now)\n"
    "  ON CONFLICT (owner_id) DO UPDATE SET prefs = excluded.prefs, updated_at = "
    "excluded.updated_at;\n"
    " RETURN 0;\n"
    "END $f$;";

static const char M6_STYLES[] =
    "CREATE FUNCTION mem_style_create(p_owner bigint, p_name text, p_desc text, p_prompt text,"
    " p_now bigint, p_max bigint) RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE v bigint;\n"
    "BEGIN\n"
    " PERFORM 1 FROM users WHERE id = p_owner FOR UPDATE;\n"
    " IF (SELECT count(*) FROM mem_styles WHERE owner_id = p_owner) >= p_max THEN RETURN -5; END "
    "IF;\n"
    " INSERT INTO mem_styles(owner_id, name, description, prompt, created_at, updated_at)\n"
    "  VALUES (p_owner, p_name, p_desc, p_prompt, p_now, p_now) RETURNING id INTO v;\n"
    " RETURN v;\n"
    "END $f$;"
    "CREATE FUNCTION mem_style_update(p_owner bigint, p_id bigint, p_name text, p_desc text,"
    " p_prompt text, p_now bigint) RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    " UPDATE mem_styles SET name = coalesce(p_name, name), description = coalesce(p_desc,"
    " description),\n"
    "  prompt = coalesce(p_prompt, prompt), updated_at = p_now WHERE id = p_id AND owner_id = "
    "p_owner;\n"
    " IF NOT FOUND THEN RETURN -1; END IF;\n"
    " RETURN 0;\n"
    "END $f$;"
    "CREATE FUNCTION mem_style_delete(p_owner bigint, p_id bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    " DELETE FROM mem_styles WHERE id = p_id AND owner_id = p_owner;\n"
    " IF NOT FOUND THEN RETURN -1; END IF;\n"
    " RETURN 0;\n"
    "END $f$;";

static const char M6_GLOSSARY[] =
    "CREATE FUNCTION mem_term_create(p_owner bigint, p_term text, p_key text, p_def text,"
    " p_now bigint, p_max bigint) RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE v bigint;\n"
    "BEGIN\n"
    " PERFORM 1 FROM users WHERE id = p_owner FOR UPDATE;\n"
    " IF (SELECT count(*) FROM mem_glossary WHERE owner_id = p_owner) >= p_max THEN RETURN -5;"
    " END IF;\n"
    " INSERT INTO mem_glossary(owner_id, term, term_key, definition, created_at, updated_at)\n"
    "  VALUES (p_owner, p_term, p_key, p_def, p_now, p_now) RETURNING id INTO v;\n"
    " RETURN v;\n"
    "END $f$;"
    "CREATE FUNCTION mem_term_update(p_owner bigint, p_id bigint, p_term text, p_key text,"
    " p_def text, p_now bigint) RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    " UPDATE mem_glossary SET term = coalesce(p_term, term), term_key = coalesce(p_key, "
    "term_key),\n"
    "  definition = coalesce(p_def, definition), updated_at = p_now\n"
    "  WHERE id = p_id AND owner_id = p_owner;\n"
    " IF NOT FOUND THEN RETURN -1; END IF;\n"
    " RETURN 0;\n"
    "END $f$;"
    "CREATE FUNCTION mem_term_delete(p_owner bigint, p_id bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    " DELETE FROM mem_glossary WHERE id = p_id AND owner_id = p_owner;\n"
    " IF NOT FOUND THEN RETURN -1; END IF;\n"
    " RETURN 0;\n"
    "END $f$;";

/* The role of message p_msg when p_owner owns it, its row locked; NULL when not. */
static const char M6_RATINGS[] =
    "CREATE FUNCTION mem_msg_role(p_owner bigint, p_msg bigint) RETURNS text"
    " LANGUAGE sql AS $f$ SELECT m.role FROM messages m JOIN conversations c ON c.id = m.conv_id"
    " WHERE m.id = p_msg AND c.owner_id = p_owner FOR SHARE OF m $f$;"
    "CREATE FUNCTION mem_rating_put(p_owner bigint, p_msg bigint, p_conf integer, p_thumbs text,"
    " p_now bigint) RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE r text := mem_msg_role(p_owner, p_msg);\n"
    "BEGIN\n"
    " IF r IS NULL THEN RETURN -1; END IF;\n"
    " IF r <> 'assistant' THEN RETURN -2; END IF;\n"
    " INSERT INTO mem_ratings(message_id, owner_id, confidence, thumbs, updated_at)\n"
    "  VALUES (p_msg, p_owner, p_conf, p_thumbs, p_now) ON CONFLICT (message_id) DO UPDATE\n"
    "  SET confidence = excluded.confidence, thumbs = excluded.thumbs,"
    " updated_at = excluded.updated_at;\n"
    " RETURN 0;\n"
    "END $f$;"
    "CREATE FUNCTION mem_flag_add(p_owner bigint, p_msg bigint, p_start bigint, p_end bigint,"
    " p_quote text, p_note text, p_now bigint, p_max bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $f$\n"
    "DECLARE r text := mem_msg_role(p_owner, p_msg); v bigint;\n"
    "BEGIN\n"
    " IF r IS NULL THEN RETURN -1; END IF;\n"
    " IF r <> 'assistant' THEN RETURN -2; END IF;\n"
    " INSERT INTO mem_ratings(message_id, owner_id, confidence, thumbs, updated_at)\n"
    "  VALUES (p_msg, p_owner, NULL, '', p_now) ON CONFLICT (message_id) DO NOTHING;\n"
    " IF (SELECT count(*) FROM mem_flags WHERE message_id = p_msg) >= p_max THEN RETURN -5;"
    " END IF;\n"
    " INSERT INTO mem_flags(message_id, owner_id, start_at, end_at, quote, note, created_at)\n"
    "  VALUES (p_msg, p_owner, p_start, p_end, p_quote, p_note, p_now) RETURNING id INTO v;\n"
    " RETURN v;\n"
    "END $f$;"
    "CREATE FUNCTION mem_flag_delete(p_owner bigint, p_id bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    " DELETE FROM mem_flags WHERE id = p_id AND owner_id = p_owner;\n"
    " IF NOT FOUND THEN RETURN -1; END IF;\n"
    " RETURN 0;\n"
    "END $f$;";

static const char M6_TYPE[] =
    "CREATE FUNCTION mem_conv_set_type(p_owner bigint, p_conv bigint, p_type text,"
    " p_auto integer, p_only_if_auto integer) RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE a boolean;\n"
    "BEGIN\n"
    " SELECT type_auto INTO a FROM conversations WHERE id = p_conv AND owner_id = p_owner"
    " FOR UPDATE;\n"
    " IF NOT FOUND THEN RETURN -1; END IF;\n"
    " IF p_only_if_auto = 1 AND NOT a THEN RETURN -3; END IF;\n"
    " UPDATE conversations SET type = p_type, type_auto = p_auto = 1 WHERE id = p_conv;\n"
    " RETURN 0;\n"
    "END $f$;";

const char *const rg_db_pg_mem_migration[] = {M6_TABLES,  M6_PREFS, M6_STYLES, M6_GLOSSARY,
                                              M6_RATINGS, M6_TYPE,  NULL};

#define MAXP 12
#define MEM_COLS_MAX 16

int rg_db_pg_mem_exec(void *conn, const char *sql, const struct rg_db_mem_arg *a, int na,
                      rg_db_mem_row_fn fn, void *u, int64_t *changes, char *err)
{
    PGconn *c = conn;
    RG_ASSERT(na <= MAXP);
    const char *vals[MAXP];
    char nums[MAXP][24];
    for (int i = 0; i < na; i++) {
        if (a[i].t == 'i') {
            snprintf(nums[i], sizeof nums[i], "%lld", (long long)a[i].i);
            vals[i] = nums[i];
        } else {
            vals[i] = a[i].t == 's' ? a[i].s : NULL;
        }
    }
    PGresult *r = PQexecParams(c, sql, na, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        int rc = rg_db_pg_fail(c, r, err);
        PQclear(r);
        if (PQstatus(c) != CONNECTION_OK) PQreset(c);
        return rc;
    }
    int out = RG_OK;
    int rows = PQntuples(r), n = PQnfields(r);
    if (n > MEM_COLS_MAX) n = MEM_COLS_MAX;
    for (int row = 0; fn && row < rows && out == RG_OK; row++) {
        const char *v[MEM_COLS_MAX];
        for (int i = 0; i < n; i++)
            v[i] = PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
        out = fn(u, v, n);
    }
    if (changes) {
        const char *t = PQcmdTuples(r);
        *changes = t && *t ? strtoll(t, NULL, 10) : 0;
    }
    PQclear(r);
    return out;
}
