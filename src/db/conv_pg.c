/*
 * Kept conversations on PostgreSQL (migration 4 and the conversation and
 * signed-in-device operations of db_internal.h). The writes whose rules
 * read before they write are PL/pgSQL functions, so every node sharing the
 * database applies the same ones in one round trip each; each locks its
 * conversation row (FOR UPDATE) first, so two writers of one conversation
 * are serialized and one never sees half of the other's change:
 *
 *   conv_create      a conversation and its main thread
 *   msg_add          a message: parent and thread checked, active leaf moved
 *   msg_finish       an answer's final (or intermediate) state
 *   msg_delete       a subtree; the active leaf re-chosen if it was in it
 *   conv_set_active  the active leaf, optionally followed down newest children
 *   msg_move         a subtree into another (or a new) thread
 *   conv_delete      a conversation with its messages and threads
 *
 * Each returns an id or a count, and a negative number for what was not
 * found (-1 the conversation, -2 the message, -3 the thread): another user's
 * rows are not found, like missing ones. Search: generated tsvector columns
 * ('simple') with GIN indexes; the tsquery is built from db.c's words, each
 * quoted as a lexeme ('word' & 'word':*), so no user text is tsquery syntax.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db_internal.h"
#include "db/pg_internal.h"

static const char M4_TABLES[] =
    "CREATE TABLE conversations ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " owner_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " title text NOT NULL DEFAULT '',"
    " title_auto boolean NOT NULL DEFAULT true,"
    " model text NOT NULL DEFAULT '',"
    " settings text NOT NULL DEFAULT '{}',"
    " folder text NOT NULL DEFAULT '',"
    " tags text NOT NULL DEFAULT '',"
    " archived boolean NOT NULL DEFAULT false,"
    " pinned boolean NOT NULL DEFAULT false,"
    " active_leaf bigint,"
    " main_thread bigint,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL,"
    " tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', title)) STORED);"
    "CREATE INDEX conversations_list ON conversations(owner_id, pinned DESC, updated_at DESC,"
    " id DESC);"
    "CREATE INDEX conversations_tsv ON conversations USING gin(tsv);"
    "CREATE TABLE threads ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " conv_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    " title text NOT NULL DEFAULT '',"
    " root_id bigint,"
    " collapsed boolean NOT NULL DEFAULT false,"
    " summary_id bigint,"
    " created_at bigint NOT NULL);"
    "CREATE INDEX threads_conv ON threads(conv_id, id);"
    "CREATE TABLE messages ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " conv_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    " thread_id bigint NOT NULL,"
    " parent_id bigint,"
    " type text NOT NULL CHECK (type IN ('user','assistant','system','tool','summary','note')),"
    " role text NOT NULL CHECK (role IN ('user','assistant','system','tool')),"
    " content text NOT NULL DEFAULT '',"
    " model text NOT NULL DEFAULT '',"
    " settings text NOT NULL DEFAULT '{}',"
    " finish text NOT NULL DEFAULT '',"
    " incomplete boolean NOT NULL DEFAULT false,"
    " prompt_tokens bigint NOT NULL DEFAULT 0,"
    " completion_tokens bigint NOT NULL DEFAULT 0,"
    " duration_ms bigint NOT NULL DEFAULT 0,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL,"
    /* a tsvector holds at most 1 MB: the first 256 KiB of a message are searchable */
    " tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', left(content, 262144))) STORED);"
    "CREATE INDEX messages_tree ON messages(conv_id, parent_id);"
    "CREATE INDEX messages_thread ON messages(thread_id);"
    "CREATE INDEX messages_tsv ON messages USING gin(tsv);";

/* From p_msg, its newest child repeatedly down to a leaf (0 stays 0). */
static const char M4_DESCEND[] =
    "CREATE FUNCTION conv_descend(p_conv bigint, p_msg bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $f$\n"
    "DECLARE v bigint := p_msg; k bigint;\n"
    "BEGIN\n"
    " IF v IS NULL OR v = 0 THEN RETURN 0; END IF;\n"
    " LOOP\n"
    "  SELECT m.id INTO k FROM messages m WHERE m.conv_id = p_conv AND m.parent_id = v\n"
    "   ORDER BY m.id DESC LIMIT 1;\n"
    "  EXIT WHEN NOT FOUND;\n"
    "  v := k;\n"
    " END LOOP;\n"
    " RETURN v;\n"
    "END $f$;";

/* Threads other than the main one left without messages go; roots and
 * summaries that went are unlinked. */
static const char M4_TIDY[] =
    "CREATE FUNCTION conv_tidy_threads(p_conv bigint) RETURNS void LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    " DELETE FROM threads t WHERE t.conv_id = p_conv AND t.id <> (SELECT c.main_thread\n"
    "  FROM conversations c WHERE c.id = p_conv) AND NOT EXISTS (SELECT 1 FROM messages m\n"
    "  WHERE m.thread_id = t.id);\n"
    " UPDATE threads t SET root_id = CASE WHEN EXISTS (SELECT 1 FROM messages m\n"
    "  WHERE m.id = t.root_id) THEN t.root_id END, summary_id = CASE WHEN EXISTS (SELECT 1\n"
    "  FROM messages m WHERE m.id = t.summary_id) THEN t.summary_id END\n"
    "  WHERE t.conv_id = p_conv AND (t.root_id IS NOT NULL OR t.summary_id IS NOT NULL);\n"
    "END $f$;";

static const char M4_CONV_CREATE[] =
    "CREATE FUNCTION conv_create(p_owner bigint, p_title text, p_model text, p_settings text,"
    " p_folder text, p_tags text, p_now bigint) RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE v bigint; t bigint;\n"
    "BEGIN\n"
    " INSERT INTO conversations(owner_id, title, title_auto, model, settings, folder, tags,\n"
    "  created_at, updated_at) VALUES (p_owner, p_title, p_title = '', p_model, p_settings,\n"
    "  p_folder, p_tags, p_now, p_now) RETURNING id INTO v;\n"
    " INSERT INTO threads(conv_id, created_at) VALUES (v, p_now) RETURNING id INTO t;\n"
    " UPDATE conversations SET main_thread = t WHERE id = v;\n"
    " RETURN v;\n"
    "END $f$;";

static const char M4_MSG_ADD[] =
    "CREATE FUNCTION msg_add(p_owner bigint, p_conv bigint, p_parent bigint, p_thread bigint,"
    " p_type text, p_role text, p_content text, p_model text, p_settings text,"
    " p_incomplete boolean, p_active boolean, p_now bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $f$\n"
    "DECLARE c conversations%ROWTYPE; th bigint := NULLIF(p_thread, 0); pt bigint; v bigint;\n"
    "BEGIN\n"
    " SELECT * INTO c FROM conversations x WHERE x.id = p_conv AND x.owner_id = p_owner\n"
    "  FOR UPDATE;\n"
    " IF NOT FOUND THEN RETURN -1; END IF;\n"
    " IF p_parent <> 0 THEN\n"
    "  SELECT m.thread_id INTO pt FROM messages m WHERE m.id = p_parent AND m.conv_id = p_conv;\n"
    "  IF NOT FOUND THEN RETURN -2; END IF;\n"
    " END IF;\n"
    " IF th IS NOT NULL THEN\n"
    "  PERFORM 1 FROM threads t WHERE t.id = th AND t.conv_id = p_conv;\n"
    "  IF NOT FOUND THEN RETURN -3; END IF;\n"
    " END IF;\n"
    " th := coalesce(th, pt, c.main_thread);\n"
    " INSERT INTO messages(conv_id, thread_id, parent_id, type, role, content, model, settings,\n"
    "  incomplete, created_at, updated_at) VALUES (p_conv, th, NULLIF(p_parent, 0), p_type,\n"
    "  p_role, p_content, p_model, p_settings, p_incomplete, p_now, p_now) RETURNING id INTO v;\n"
    /* the first message of a conversation is its active leaf in any case */
    " UPDATE conversations x SET updated_at = p_now, active_leaf = CASE WHEN p_active OR\n"
    "  x.active_leaf IS NULL THEN v ELSE x.active_leaf END WHERE x.id = p_conv;\n"
    " RETURN v;\n"
    "END $f$;";

static const char M4_MSG_FINISH[] =
    "CREATE FUNCTION msg_finish(p_owner bigint, p_id bigint, p_content text, p_finish text,"
    " p_incomplete boolean, p_prompt bigint, p_completion bigint, p_duration bigint,"
    " p_settings text, p_now bigint) RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE cv bigint;\n"
    "BEGIN\n"
    " SELECT x.id INTO cv FROM conversations x JOIN messages m ON m.conv_id = x.id\n"
    "  WHERE m.id = p_id AND x.owner_id = p_owner FOR UPDATE OF x;\n"
    " IF NOT FOUND THEN RETURN -2; END IF;\n"
    " UPDATE messages m SET content = p_content, finish = p_finish, incomplete = p_incomplete,\n"
    "  prompt_tokens = p_prompt, completion_tokens = p_completion, duration_ms = p_duration,\n"
    "  settings = coalesce(p_settings, m.settings), updated_at = p_now WHERE m.id = p_id;\n"
    " UPDATE conversations x SET updated_at = p_now WHERE x.id = cv;\n"
    " RETURN p_id;\n"
    "END $f$;";

/* The subtree of p_id (in conversation cv) as an array. */
#define PG_SUBTREE                                                                                 \
    "WITH RECURSIVE sub(id) AS (SELECT p_id UNION ALL SELECT k.id FROM messages k JOIN sub ON"     \
    " k.parent_id = sub.id WHERE k.conv_id = cv) "

static const char M4_MSG_DELETE[] =
    "CREATE FUNCTION msg_delete(p_owner bigint, p_id bigint, p_now bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $f$\n"
    "DECLARE cv bigint; par bigint; act bigint; ids bigint[]; n bigint;\n"
    "BEGIN\n"
    " SELECT x.id, x.active_leaf, m.parent_id INTO cv, act, par FROM conversations x\n"
    "  JOIN messages m ON m.conv_id = x.id WHERE m.id = p_id AND x.owner_id = p_owner\n"
    "  FOR UPDATE OF x;\n"
    " IF NOT FOUND THEN RETURN -2; END IF;\n"
    " " PG_SUBTREE "SELECT array_agg(id) INTO ids FROM sub;\n"
    " DELETE FROM messages m WHERE m.id = ANY (ids);\n"
    " GET DIAGNOSTICS n = ROW_COUNT;\n"
    " IF act = ANY (ids) THEN\n"
    "  IF par IS NULL THEN\n" /* a root went: the newest remaining root */
    "   SELECT max(m.id) INTO par FROM messages m WHERE m.conv_id = cv AND m.parent_id IS NULL;\n"
    "  END IF;\n"
    "  act := NULLIF(conv_descend(cv, par), 0);\n"
    " END IF;\n"
    " PERFORM conv_tidy_threads(cv);\n"
    " UPDATE conversations x SET active_leaf = act, updated_at = GREATEST(x.updated_at, p_now)\n"
    "  WHERE x.id = cv;\n"
    " RETURN n;\n"
    "END $f$;";

static const char M4_SET_ACTIVE[] =
    "CREATE FUNCTION conv_set_active(p_owner bigint, p_conv bigint, p_msg bigint,"
    " p_descend boolean) RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE v bigint := p_msg;\n"
    "BEGIN\n"
    " PERFORM 1 FROM conversations x WHERE x.id = p_conv AND x.owner_id = p_owner FOR UPDATE;\n"
    " IF NOT FOUND THEN RETURN -1; END IF;\n"
    " PERFORM 1 FROM messages m WHERE m.id = p_msg AND m.conv_id = p_conv;\n"
    " IF NOT FOUND THEN RETURN -2; END IF;\n"
    " IF p_descend THEN v := conv_descend(p_conv, p_msg); END IF;\n"
    " UPDATE conversations x SET active_leaf = v WHERE x.id = p_conv;\n"
    " RETURN v;\n"
    "END $f$;";

static const char M4_MSG_MOVE[] =
    "CREATE FUNCTION msg_move(p_owner bigint, p_id bigint, p_thread bigint, p_title text,"
    " p_now bigint) RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE cv bigint; th bigint := p_thread; n bigint;\n"
    "BEGIN\n"
    " SELECT x.id INTO cv FROM conversations x JOIN messages m ON m.conv_id = x.id\n"
    "  WHERE m.id = p_id AND x.owner_id = p_owner FOR UPDATE OF x;\n"
    " IF NOT FOUND THEN RETURN -2; END IF;\n"
    " IF th <> 0 THEN\n"
    "  PERFORM 1 FROM threads t WHERE t.id = th AND t.conv_id = cv;\n"
    "  IF NOT FOUND THEN RETURN -3; END IF;\n"
    " ELSE\n"
    "  SELECT count(*) INTO n FROM threads t WHERE t.conv_id = cv;\n"
    "  INSERT INTO threads(conv_id, title, root_id, created_at) VALUES (cv,\n"
    "   CASE WHEN p_title = '' THEN 'Thread ' || n ELSE p_title END, p_id, p_now)\n"
    "   RETURNING id INTO th;\n"
    " END IF;\n"
    " " PG_SUBTREE "UPDATE messages m SET thread_id = th WHERE m.id IN (SELECT id FROM sub);\n"
    " PERFORM conv_tidy_threads(cv);\n"
    " UPDATE conversations x SET updated_at = p_now WHERE x.id = cv;\n"
    " RETURN th;\n"
    "END $f$;";

static const char M4_CONV_DELETE[] =
    "CREATE FUNCTION conv_delete(p_owner bigint, p_id bigint) RETURNS boolean"
    " LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    " DELETE FROM conversations x WHERE x.id = p_id AND x.owner_id = p_owner;\n"
    " RETURN FOUND;\n"
    "END $f$;";

const char *const rg_db_pg_conv_migration[] = {
    M4_TABLES,     M4_DESCEND,    M4_TIDY,     M4_CONV_CREATE, M4_MSG_ADD, M4_MSG_FINISH,
    M4_MSG_DELETE, M4_SET_ACTIVE, M4_MSG_MOVE, M4_CONV_DELETE, NULL};

/* ---- reading rows ------------------------------------------------------------ */

#define CONV_COLS                                                                                  \
    "c.id, c.owner_id, c.title, c.model, c.settings, c.folder, c.tags, c.archived, c.pinned,"      \
    " c.title_auto, coalesce(c.active_leaf, 0), coalesce(c.main_thread, 0),"                       \
    " (SELECT count(*) FROM messages n WHERE n.conv_id = c.id), c.created_at, c.updated_at,"       \
    " c.type, c.type_auto"
#define CONV_NCOLS 17

#define MSG_COLS                                                                                   \
    "m.id, m.conv_id, m.thread_id, coalesce(m.parent_id, 0), m.type, m.role, m.content, m.model,"  \
    " m.settings, m.finish, m.incomplete, m.prompt_tokens, m.completion_tokens, m.duration_ms,"    \
    " m.created_at, m.updated_at,"                                                                 \
    " (SELECT count(*) FROM messages k WHERE k.conv_id = m.conv_id AND k.parent_id = m.id)"

#define THREAD_COLS                                                                                \
    "t.id, t.conv_id, t.title, coalesce(t.root_id, 0), t.collapsed, coalesce(t.summary_id, 0),"    \
    " t.created_at, (SELECT count(*) FROM messages n WHERE n.thread_id = t.id)"

#define MSG_OF_OWNER "messages m JOIN conversations c ON c.id = m.conv_id AND c.owner_id = $2"

typedef int (*read_fn)(PGresult *r, int row, void *item, char *err);

static int read_conv(PGresult *r, int row, void *item, char *err)
{
    struct rg_db_conv *c = item;
    c->id = rg_db_pg_ival(r, row, 0);
    c->owner_id = rg_db_pg_ival(r, row, 1);
    rg_db_copy(c->title, sizeof c->title, rg_db_pg_val(r, row, 2));
    rg_db_copy(c->model, sizeof c->model, rg_db_pg_val(r, row, 3));
    c->settings = rg_strdup(rg_db_pg_val(r, row, 4));
    rg_db_copy(c->folder, sizeof c->folder, rg_db_pg_val(r, row, 5));
    rg_db_copy(c->tags, sizeof c->tags, rg_db_pg_val(r, row, 6));
    c->archived = rg_db_pg_bval(r, row, 7);
    c->pinned = rg_db_pg_bval(r, row, 8);
    c->title_auto = rg_db_pg_bval(r, row, 9);
    c->active_leaf = rg_db_pg_ival(r, row, 10);
    c->main_thread = rg_db_pg_ival(r, row, 11);
    c->n_messages = rg_db_pg_ival(r, row, 12);
    c->created_at = rg_db_pg_ival(r, row, 13);
    c->updated_at = rg_db_pg_ival(r, row, 14);
    rg_db_copy(c->type, sizeof c->type, rg_db_pg_val(r, row, 15)); /* migration 6 */
    c->type_auto = rg_db_pg_bval(r, row, 16);
    if (PQnfields(r) > CONV_NCOLS + 1) { /* a search: the match and its snippet */
        c->match_message = rg_db_pg_ival(r, row, CONV_NCOLS);
        rg_db_copy_utf8(c->snippet, 240, rg_db_pg_val(r, row, CONV_NCOLS + 1));
        for (char *p = c->snippet; *p; p++) /* one line, as on SQLite */
            if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    }
    return c->settings ? RG_OK : rg_err_set(err, RG_ENOMEM, "out of memory");
}

static int read_msg(PGresult *r, int row, void *item, char *err)
{
    struct rg_db_msg *m = item;
    m->id = rg_db_pg_ival(r, row, 0);
    m->conv_id = rg_db_pg_ival(r, row, 1);
    m->thread_id = rg_db_pg_ival(r, row, 2);
    m->parent_id = rg_db_pg_ival(r, row, 3);
    rg_db_copy(m->type, sizeof m->type, rg_db_pg_val(r, row, 4));
    rg_db_copy(m->role, sizeof m->role, rg_db_pg_val(r, row, 5));
    m->content = rg_strdup(rg_db_pg_val(r, row, 6));
    rg_db_copy(m->model, sizeof m->model, rg_db_pg_val(r, row, 7));
    m->settings = rg_strdup(rg_db_pg_val(r, row, 8));
    rg_db_copy(m->finish, sizeof m->finish, rg_db_pg_val(r, row, 9));
    m->incomplete = rg_db_pg_bval(r, row, 10);
    m->prompt_tokens = rg_db_pg_ival(r, row, 11);
    m->completion_tokens = rg_db_pg_ival(r, row, 12);
    m->duration_ms = rg_db_pg_ival(r, row, 13);
    m->created_at = rg_db_pg_ival(r, row, 14);
    m->updated_at = rg_db_pg_ival(r, row, 15);
    m->n_children = (int)rg_db_pg_ival(r, row, 16);
    if (m->content && m->settings) return RG_OK;
    rg_db_msg_clear(m);
    return rg_err_set(err, RG_ENOMEM, "out of memory");
}

static int read_thread(PGresult *r, int row, void *item, char *err)
{
    (void)err;
    struct rg_db_thread *t = item;
    t->id = rg_db_pg_ival(r, row, 0);
    t->conv_id = rg_db_pg_ival(r, row, 1);
    rg_db_copy(t->title, sizeof t->title, rg_db_pg_val(r, row, 2));
    t->root_id = rg_db_pg_ival(r, row, 3);
    t->collapsed = rg_db_pg_bval(r, row, 4);
    t->summary_id = rg_db_pg_ival(r, row, 5);
    t->created_at = rg_db_pg_ival(r, row, 6);
    t->n_messages = rg_db_pg_ival(r, row, 7);
    return RG_OK;
}

static int read_device(PGresult *r, int row, void *item, char *err)
{
    (void)err;
    struct rg_db_device *d = item;
    rg_db_copy(d->family, sizeof d->family, rg_db_pg_val(r, row, 0));
    rg_db_copy(d->user_agent, sizeof d->user_agent, rg_db_pg_val(r, row, 1));
    d->created_at = rg_db_pg_ival(r, row, 2);
    d->last_used_at = rg_db_pg_ival(r, row, 3);
    d->expires_at = rg_db_pg_ival(r, row, 4);
    return RG_OK;
}

/* The first row of r into item (RG_ENOTFOUND "no such <none>" when none); clears r. */
static int one_row(PGresult *r, int rc, read_fn read, void *item, const char *none, char *err)
{
    if (!r) return rc;
    rc = PQntuples(r) == 0 ? rg_err_set(err, RG_ENOTFOUND, "no such %s", none)
                           : read(r, 0, item, err);
    PQclear(r);
    return rc;
}

/* Every row of r (at most max, 0: all) as an array of elem-byte items; clears
 * r. free_fn (may be NULL) frees what was read on failure. */
static int all_rows(PGresult *r, int rc, read_fn read, size_t elem, size_t max,
                    void (*free_fn)(void *v, size_t n), void **out, size_t *n, char *err)
{
    *out = NULL;
    *n = 0;
    if (!r) return rc;
    size_t rows = (size_t)PQntuples(r);
    if (max && rows > max) rows = max;
    if (rows) {
        if (!(*out = rg_calloc(rows, elem))) {
            PQclear(r);
            return rg_err_set(err, RG_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < rows; i++) {
            if ((rc = read(r, (int)i, (char *)*out + i * elem, err))) {
                if (free_fn)
                    free_fn(*out, i);
                else
                    rg_free(*out);
                *out = NULL;
                PQclear(r);
                return rc;
            }
        }
    }
    *n = rows;
    PQclear(r);
    return RG_OK;
}

static void free_convs(void *v, size_t n)
{
    rg_db_conv_list_free(v, n);
}

static void free_msgs(void *v, size_t n)
{
    rg_db_msg_list_free(v, n);
}

/* One integer answer of a function (or rc when it failed); clears r. */
static int one_int(PGresult *r, int rc, int64_t *v)
{
    if (!r) return rc;
    *v = PQntuples(r) ? rg_db_pg_ival(r, 0, 0) : 0;
    PQclear(r);
    return RG_OK;
}

/* A function's negative answer as its error. */
static int not_found(int64_t v, char *err)
{
    if (v == -1) return rg_err_set(err, RG_ENOTFOUND, "no such conversation");
    if (v == -3) return rg_err_set(err, RG_ENOTFOUND, "no such thread");
    return rg_err_set(err, RG_ENOTFOUND, "no such message");
}

static int conv_by_id(PGconn *c, int64_t owner, int64_t id, struct rg_db_conv *out, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(c, &rc, err,
                                 "SELECT " CONV_COLS
                                 " FROM conversations c WHERE c.id = $1 AND c.owner_id = $2",
                                 "ii", id, owner);
    return one_row(r, rc, read_conv, out, "conversation", err);
}

static int msg_by_id(PGconn *c, int64_t owner, int64_t id, struct rg_db_msg *out, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(
        c, &rc, err, "SELECT " MSG_COLS " FROM " MSG_OF_OWNER " WHERE m.id = $1", "ii", id, owner);
    return one_row(r, rc, read_msg, out, "message", err);
}

static int thread_by_id(PGconn *c, int64_t owner, int64_t id, struct rg_db_thread *out, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(c, &rc, err,
                                 "SELECT " THREAD_COLS " FROM threads t JOIN conversations c ON"
                                 " c.id = t.conv_id AND c.owner_id = $2 WHERE t.id = $1",
                                 "ii", id, owner);
    return one_row(r, rc, read_thread, out, "thread", err);
}

/* ---- signed-in devices --------------------------------------------------------------- */

#define LIVE_TOKEN "s.replaced_at IS NULL AND s.revoked_at IS NULL AND s.expires_at > $2"

int rg_db_pg_session_list(void *conn, int64_t user_id, int64_t now, struct rg_db_device **out,
                          size_t *n, char *err)
{
    int rc;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err,
                       "SELECT s.family, s.user_agent, (SELECT min(f.created_at) FROM"
                       " sessions f WHERE f.family = s.family), s.created_at,"
                       " s.expires_at FROM sessions s WHERE s.user_id = $1 AND " LIVE_TOKEN
                       " ORDER BY s.created_at DESC, s.id DESC",
                       "ii", user_id, now);
    return all_rows(r, rc, read_device, sizeof **out, 0, NULL, (void **)out, n, err);
}

int rg_db_pg_session_revoke_family(void *conn, int64_t user_id, const char *family,
                                   const char *except, int64_t now, int64_t *n, char *err)
{
    int rc;
    /* one statement: the live families counted, and (a family: only if it
     * is live) the family or every other one revoked */
    PGresult *r = rg_db_pg_query(
        conn, &rc, err,
        "WITH live AS (SELECT DISTINCT s.family FROM sessions s WHERE s.user_id = $1 AND"
        " " LIVE_TOKEN " AND ($3::text IS NULL OR s.family = $3::text) AND"
        " ($4::text IS NULL OR s.family <> $4::text)),"
        " gone AS (UPDATE sessions x SET revoked_at = $2 WHERE x.user_id = $1 AND"
        " x.revoked_at IS NULL AND (($3::text IS NOT NULL AND x.family = $3::text AND EXISTS"
        " (SELECT 1 FROM live)) OR ($4::text IS NOT NULL AND x.family <> $4::text)) RETURNING 1)"
        " SELECT (SELECT count(*) FROM live), (SELECT count(*) FROM gone)",
        "iiss", user_id, now, family, except);
    rc = one_int(r, rc, n);
    if (!rc && family && *n == 0) rc = rg_err_set(err, RG_ENOTFOUND, "no such session");
    if (rc) *n = 0;
    return rc;
}

/* ---- conversations ------------------------------------------------------------------- */

int rg_db_pg_conv_create(void *conn, const struct rg_db_conv_new *n, struct rg_db_conv *out,
                         char *err)
{
    int rc;
    int64_t id = 0;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err, "SELECT conv_create($1, $2, $3, $4, $5, $6, $7)", "isssssi",
                       n->owner_id, n->title, n->model, n->settings, n->folder, n->tags, n->now);
    if ((rc = one_int(r, rc, &id))) return rc;
    return conv_by_id(conn, n->owner_id, id, out, err);
}

int rg_db_pg_conv_get(void *conn, int64_t owner, int64_t id, struct rg_db_conv *out, char *err)
{
    return conv_by_id(conn, owner, id, out, err);
}

/* The tsquery of words: each quoted as a lexeme (they hold no quote or
 * backslash), all required, the last a prefix. */
static int ts_query(const struct rg_db_words *w, char *out, size_t size, char *err)
{
    size_t o = 0;
    for (int i = 0; i < w->n; i++) {
        int k = snprintf(out + o, size - o, "%s'%s'%s", i ? " & " : "", w->w[i],
                         i == w->n - 1 ? ":*" : "");
        if (k < 0 || (size_t)k >= size - o)
            return rg_err_set(err, RG_EINVAL, "the search is too long");
        o += (size_t)k;
    }
    return RG_OK;
}

#define LIST_FILTER                                                                                \
    "c.owner_id = $1 AND ($2::int < 0 OR c.archived = ($2::int = 1)) AND"                          \
    " ($3::text IS NULL OR c.folder = $3::text) AND ($4::text IS NULL OR"                          \
    " position(',' || $4::text || ',' IN ',' || c.tags || ',') > 0)"
#define LIST_ORDER " ORDER BY c.pinned DESC, c.updated_at DESC, c.id DESC LIMIT $5 OFFSET $6"
/* the type filter (docs/memory.md), its parameter after the statement's others */
#define TYPE_FILTER(p) " AND (" p "::text IS NULL OR c.type = " p "::text)"

int rg_db_pg_conv_list(void *conn, int64_t owner, const struct rg_db_conv_filter *f,
                       const struct rg_db_words *words, struct rg_db_conv **out, size_t *n,
                       bool *more, char *err)
{
    int rc;
    PGresult *r;
    if (!words) {
        r = rg_db_pg_query(conn, &rc, err,
                           "SELECT " CONV_COLS
                           " FROM conversations c WHERE " LIST_FILTER TYPE_FILTER("$7") LIST_ORDER,
                           "iissiis", owner, (int64_t)f->archived, f->folder, f->tag,
                           (int64_t)f->limit + 1, (int64_t)f->offset, f->type);
    } else {
        char q[RG_DB_SEARCH_Q_MAX * 2 + 6 * RG_DB_SEARCH_WORDS_MAX + 8];
        if ((rc = ts_query(words, q, sizeof q, err))) return rc;
        /* every word in one message (its newest such message is the match)
         * or in the title (match 0); the snippet only for the page's rows */
        r = rg_db_pg_query(
            conn, &rc, err,
            "WITH q AS (SELECT to_tsquery('simple', $7) AS q),"
            " hit(cid, mid) AS (SELECT m.conv_id, max(m.id) FROM messages m JOIN conversations c"
            " ON c.id = m.conv_id, q WHERE c.owner_id = $1 AND m.tsv @@ q.q GROUP BY m.conv_id"
            " UNION ALL SELECT c.id, 0 FROM conversations c, q WHERE c.owner_id = $1 AND"
            " c.tsv @@ q.q),"
            " best(cid, mid) AS (SELECT cid, max(mid) FROM hit GROUP BY cid),"
            " page AS (SELECT " CONV_COLS ", best.mid FROM best JOIN conversations c ON"
            " c.id = best.cid WHERE " LIST_FILTER TYPE_FILTER("$8") LIST_ORDER
            ")"
            " SELECT page.*, CASE WHEN page.mid = 0 THEN left(page.title, 240) ELSE"
            " ts_headline('simple', (SELECT m.content FROM messages m WHERE m.id = page.mid),"
            " q.q, 'MaxFragments=1, MaxWords=24, MinWords=8, StartSel=\"\", StopSel=\"\","
            " FragmentDelimiter=\" … \"') END FROM page, q"
            " ORDER BY page.pinned DESC, page.updated_at DESC, page.id DESC",
            "iissiiss", owner, (int64_t)f->archived, f->folder, f->tag, (int64_t)f->limit + 1,
            (int64_t)f->offset, q, f->type);
    }
    struct rg_db_conv *v = NULL;
    size_t got = 0;
    if ((rc = all_rows(r, rc, read_conv, sizeof *v, 0, free_convs, (void **)&v, &got, err)))
        return rc;
    *more = got > (size_t)f->limit;
    if (*more) {
        rg_db_conv_clear(&v[f->limit]);
        got = (size_t)f->limit;
    }
    *out = v;
    *n = got;
    return RG_OK;
}

int rg_db_pg_conv_update(void *conn, int64_t owner, int64_t id, const struct rg_db_conv_change *ch,
                         struct rg_db_conv *out, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err,
        "UPDATE conversations SET title = coalesce($3, title), model = coalesce($4, model),"
        " settings = coalesce($5, settings), folder = coalesce($6, folder),"
        " tags = coalesce($7, tags),"
        " archived = CASE WHEN $8::int < 0 THEN archived ELSE $8::int = 1 END,"
        " pinned = CASE WHEN $9::int < 0 THEN pinned ELSE $9::int = 1 END,"
        " title_auto = CASE WHEN $10::int < 0 THEN title_auto ELSE $10::int = 1 END,"
        " updated_at = $11 WHERE id = $1 AND owner_id = $2 AND (NOT $12::boolean OR title_auto)",
        "iisssssiiiib", id, owner, ch->title, ch->model, ch->settings, ch->folder, ch->tags,
        (int64_t)ch->archived, (int64_t)ch->pinned, (int64_t)ch->title_auto, ch->now,
        (int)ch->only_if_auto);
    if (!r) return rc;
    bool changed = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    rc = conv_by_id(conn, owner, id, out, err);
    if (!rc && !changed) {
        rg_db_conv_clear(out);
        memset(out, 0, sizeof *out);
        rc = rg_err_set(err, RG_ESTATE, "the title was set by the user");
    }
    return rc;
}

int rg_db_pg_conv_delete(void *conn, int64_t owner, int64_t id, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT conv_delete($1, $2)", "ii", owner, id);
    if (!r) return rc;
    bool found = PQntuples(r) == 1 && rg_db_pg_bval(r, 0, 0);
    PQclear(r);
    return found ? RG_OK : rg_err_set(err, RG_ENOTFOUND, "no such conversation");
}

/* ---- messages ------------------------------------------------------------------------ */

int rg_db_pg_msg_add(void *conn, int64_t owner, const struct rg_db_msg_new *n,
                     struct rg_db_msg *out, char *err)
{
    int rc;
    int64_t id = 0;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err, "SELECT msg_add($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        "iiiisssssbbi", owner, n->conv_id, n->parent_id, n->thread_id, n->type, n->role, n->content,
        n->model, n->settings, (int)n->incomplete, (int)n->set_active, n->now);
    if ((rc = one_int(r, rc, &id))) return rc;
    if (id <= 0) return not_found(id, err);
    return msg_by_id(conn, owner, id, out, err);
}

int rg_db_pg_msg_finish(void *conn, int64_t owner, int64_t id, const struct rg_db_msg_end *e,
                        struct rg_db_msg *out, char *err)
{
    int rc;
    int64_t v = 0;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err, "SELECT msg_finish($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                       "iissbiiisi", owner, id, e->content, e->finish, (int)e->incomplete,
                       e->prompt_tokens, e->completion_tokens, e->duration_ms, e->settings, e->now);
    if ((rc = one_int(r, rc, &v))) return rc;
    if (v <= 0) return not_found(v, err);
    return msg_by_id(conn, owner, id, out, err);
}

int rg_db_pg_msg_get(void *conn, int64_t owner, int64_t id, struct rg_db_msg *out, char *err)
{
    return msg_by_id(conn, owner, id, out, err);
}

int rg_db_pg_msg_list(void *conn, int64_t owner, int64_t conv_id, struct rg_db_msg **out, size_t *n,
                      char *err)
{
    int rc;
    /* the conversation's row tells "not yours" apart from "no messages" */
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT " MSG_COLS " FROM conversations c LEFT JOIN messages m"
                                 " ON m.conv_id = c.id WHERE c.id = $1 AND c.owner_id = $2"
                                 " ORDER BY m.id",
                                 "ii", conv_id, owner);
    if (!r) return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return rg_err_set(err, RG_ENOTFOUND, "no such conversation");
    }
    if (PQgetisnull(r, 0, 0)) { /* the conversation, without messages */
        PQclear(r);
        return RG_OK;
    }
    return all_rows(r, RG_OK, read_msg, sizeof **out, 0, free_msgs, (void **)out, n, err);
}

int rg_db_pg_msg_branch(void *conn, int64_t owner, int64_t conv_id, int64_t leaf,
                        struct rg_db_msg **out, size_t *n, char *err)
{
    int rc;
    int64_t start = 0;
    /* the leaf (or the active one), checked to be a message of the owner's conversation */
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT CASE WHEN $3 = 0 THEN coalesce(c.active_leaf, 0) ELSE"
                                 " coalesce((SELECT m.id FROM messages m WHERE m.id = $3 AND"
                                 " m.conv_id = c.id), -2) END FROM conversations c WHERE"
                                 " c.id = $1 AND c.owner_id = $2",
                                 "iii", conv_id, owner, leaf);
    if (!r) return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return rg_err_set(err, RG_ENOTFOUND, "no such conversation");
    }
    start = rg_db_pg_ival(r, 0, 0);
    PQclear(r);
    if (start < 0) return not_found(start, err);
    if (start == 0) return RG_OK;
    r = rg_db_pg_query(conn, &rc, err,
                       "WITH RECURSIVE up(id, depth) AS (SELECT $1::bigint, 0 UNION ALL"
                       " SELECT p.parent_id, up.depth + 1 FROM messages p JOIN up ON p.id = up.id"
                       " WHERE p.parent_id IS NOT NULL AND up.depth < 10000000)"
                       " SELECT " MSG_COLS " FROM up JOIN messages m ON m.id = up.id"
                       " WHERE m.conv_id = $2 ORDER BY up.depth DESC",
                       "ii", start, conv_id);
    return all_rows(r, rc, read_msg, sizeof **out, 0, free_msgs, (void **)out, n, err);
}

int rg_db_pg_conv_set_active(void *conn, int64_t owner, int64_t conv_id, int64_t msg_id,
                             bool descend, int64_t *leaf, char *err)
{
    int rc;
    int64_t v = 0;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT conv_set_active($1, $2, $3, $4)", "iiib",
                                 owner, conv_id, msg_id, (int)descend);
    if ((rc = one_int(r, rc, &v))) return rc;
    if (v <= 0) return not_found(v, err);
    *leaf = v;
    return RG_OK;
}

int rg_db_pg_msg_delete(void *conn, int64_t owner, int64_t id, int64_t now, int64_t *n, char *err)
{
    int rc;
    int64_t v = 0;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err, "SELECT msg_delete($1, $2, $3)", "iii", owner, id, now);
    if ((rc = one_int(r, rc, &v))) return rc;
    if (v < 0) return not_found(v, err);
    *n = v;
    return RG_OK;
}

/* ---- threads -------------------------------------------------------------------------- */

int rg_db_pg_thread_list(void *conn, int64_t owner, int64_t conv_id, struct rg_db_thread **out,
                         size_t *n, char *err)
{
    int rc;
    /* every conversation has its main thread, so no row means not the owner's */
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT " THREAD_COLS " FROM threads t JOIN conversations c ON"
                                 " c.id = t.conv_id AND c.owner_id = $2 WHERE t.conv_id = $1"
                                 " ORDER BY t.id",
                                 "ii", conv_id, owner);
    if (r && PQntuples(r) == 0) {
        PQclear(r);
        return rg_err_set(err, RG_ENOTFOUND, "no such conversation");
    }
    return all_rows(r, rc, read_thread, sizeof **out, 0, NULL, (void **)out, n, err);
}

int rg_db_pg_thread_update(void *conn, int64_t owner, int64_t thread_id, const char *title,
                           int collapsed, int64_t summary_id, struct rg_db_thread *out, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err,
        "UPDATE threads t SET title = coalesce($3, t.title),"
        " collapsed = CASE WHEN $4::int < 0 THEN t.collapsed ELSE $4::int = 1 END,"
        " summary_id = CASE WHEN $5::bigint < 0 THEN t.summary_id ELSE NULLIF($5::bigint, 0) END"
        " FROM conversations c WHERE t.id = $1 AND c.id = t.conv_id AND c.owner_id = $2 AND"
        " ($5::bigint <= 0 OR EXISTS (SELECT 1 FROM messages m WHERE m.id = $5::bigint AND"
        " m.conv_id = t.conv_id))",
        "iisii", thread_id, owner, title, (int64_t)collapsed, summary_id);
    if (!r) return rc;
    bool changed = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    if (!changed) {
        rc = thread_by_id(conn, owner, thread_id, out, err);
        memset(out, 0, sizeof *out);
        return rc ? rc : rg_err_set(err, RG_ENOTFOUND, "no such message");
    }
    return thread_by_id(conn, owner, thread_id, out, err);
}

int rg_db_pg_msg_move(void *conn, int64_t owner, int64_t msg_id, int64_t thread_id,
                      const char *new_title, int64_t now, struct rg_db_thread *out, char *err)
{
    int rc;
    int64_t v = 0;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT msg_move($1, $2, $3, $4, $5)", "iiisi",
                                 owner, msg_id, thread_id, new_title, now);
    if ((rc = one_int(r, rc, &v))) return rc;
    if (v <= 0) return not_found(v, err);
    return thread_by_id(conn, owner, v, out, err);
}
