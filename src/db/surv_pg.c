/*
 * The survival library on PostgreSQL (migration 7 and surv_internal.h). The
 * writes are PL/pgSQL functions, each checking ownership and writing in one
 * round trip:
 *
 *   surv_collections_set  the user's survival library becomes these collections
 *   surv_auto_set         an automatic tagging (kept away from a manual choice)
 *   surv_manual_set       a manual choice, or NULL to clear it
 *
 * Each answers 0 (1: surv_auto_set kept a manual choice) or -1: no such
 * collection / document (another user's too). Arrays go as text literals of
 * values surv.c checked ([a-z-] ids, numbers), so no user text is quoted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/str.h"
#include "db/pg_internal.h"
#include "db/surv_internal.h"

static const char M7_TABLES[] =
    "CREATE TABLE surv_collections ("
    " user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " collection_id bigint NOT NULL REFERENCES lib_collections(id) ON DELETE CASCADE,"
    " added_at bigint NOT NULL,"
    " PRIMARY KEY (user_id, collection_id));"
    "CREATE INDEX surv_collections_collection ON surv_collections(collection_id);"
    "CREATE TABLE surv_doc_state ("
    " doc_id bigint PRIMARY KEY REFERENCES lib_documents(id) ON DELETE CASCADE,"
    " manual boolean NOT NULL DEFAULT false,"
    " content_hash text NOT NULL DEFAULT '',"
    " tagged_at bigint NOT NULL DEFAULT 0,"
    " updated_at bigint NOT NULL);"
    "CREATE TABLE surv_doc_categories ("
    " doc_id bigint NOT NULL REFERENCES lib_documents(id) ON DELETE CASCADE,"
    " category text NOT NULL,"
    " source text NOT NULL CHECK (source IN ('rule', 'embedding', 'manual')),"
    " score double precision NOT NULL CHECK (score >= 0 AND score <= 1),"
    " PRIMARY KEY (doc_id, category));"
    "CREATE INDEX surv_doc_categories_category ON surv_doc_categories(category, doc_id);";

/* The document, locked, when it is the user's and in one of their survival
 * collections. */
static const char M7_DOC_OK[] =
    "CREATE FUNCTION surv_doc_ok(p_user bigint, p_doc bigint) RETURNS boolean"
    " LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    " PERFORM 1 FROM lib_documents d JOIN surv_collections s ON s.collection_id ="
    " d.collection_id\n"
    "  AND s.user_id = p_user WHERE d.id = p_doc AND d.owner_id = p_user FOR UPDATE OF d;\n"
    " RETURN FOUND;\n"
    "END $f$;";

static const char M7_COLLECTIONS_SET[] =
    "CREATE FUNCTION surv_collections_set(p_user bigint, p_ids bigint[], p_now bigint)"
    " RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    " IF EXISTS (SELECT 1 FROM unnest(p_ids) AS i(id) WHERE NOT EXISTS (SELECT 1 FROM\n"
    "  lib_collections k WHERE k.id = i.id AND k.owner_id = p_user)) THEN RETURN -1; END IF;\n"
    " DELETE FROM surv_collections WHERE user_id = p_user AND collection_id <> ALL(p_ids);\n"
    " INSERT INTO surv_collections(user_id, collection_id, added_at)\n"
    "  SELECT DISTINCT p_user, i, p_now FROM unnest(p_ids) AS i ON CONFLICT DO NOTHING;\n"
    " RETURN 0;\n"
    "END $f$;";

static const char M7_AUTO_SET[] =
    "CREATE FUNCTION surv_auto_set(p_user bigint, p_doc bigint, p_cats text[], p_sources text[],"
    " p_scores double precision[], p_hash text, p_now bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    " IF NOT surv_doc_ok(p_user, p_doc) THEN RETURN -1; END IF;\n"
    " IF EXISTS (SELECT 1 FROM surv_doc_state WHERE doc_id = p_doc AND manual) THEN\n"
    "  UPDATE surv_doc_state SET content_hash = coalesce(p_hash, content_hash), tagged_at ="
    " p_now,\n"
    "   updated_at = p_now WHERE doc_id = p_doc;\n"
    "  RETURN 1;\n"
    " END IF;\n"
    " DELETE FROM surv_doc_categories WHERE doc_id = p_doc;\n"
    " INSERT INTO surv_doc_categories(doc_id, category, source, score)\n"
    "  SELECT p_doc, u.c, u.s, u.sc FROM unnest(p_cats, p_sources, p_scores) AS u(c, s, sc);\n"
    " INSERT INTO surv_doc_state(doc_id, manual, content_hash, tagged_at, updated_at)\n"
    "  VALUES (p_doc, false, coalesce(p_hash, ''), p_now, p_now) ON CONFLICT (doc_id) DO UPDATE\n"
    "  SET manual = false, content_hash = excluded.content_hash, tagged_at = p_now,"
    " updated_at = p_now;\n"
    " RETURN 0;\n"
    "END $f$;";

/* p_cats NULL: the manual choice cleared (untagged until the next tagging). */
static const char M7_MANUAL_SET[] =
    "CREATE FUNCTION surv_manual_set(p_user bigint, p_doc bigint, p_cats text[], p_now bigint)"
    " RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    " IF NOT surv_doc_ok(p_user, p_doc) THEN RETURN -1; END IF;\n"
    " DELETE FROM surv_doc_categories WHERE doc_id = p_doc;\n"
    " IF p_cats IS NOT NULL THEN\n"
    "  INSERT INTO surv_doc_categories(doc_id, category, source, score)\n"
    "   SELECT DISTINCT p_doc, c, 'manual', 1 FROM unnest(p_cats) AS c;\n"
    " END IF;\n"
    " INSERT INTO surv_doc_state(doc_id, manual, tagged_at, updated_at)\n"
    "  VALUES (p_doc, p_cats IS NOT NULL, 0, p_now) ON CONFLICT (doc_id) DO UPDATE\n"
    "  SET manual = excluded.manual, tagged_at = CASE WHEN p_cats IS NULL THEN 0\n"
    "   ELSE surv_doc_state.tagged_at END, updated_at = p_now;\n"
    " RETURN 0;\n"
    "END $f$;";

/* The ids claimed (ready survival documents whose hash is not the one last
 * tagged or claimed), each marked with its current hash. */
static const char M7_CLAIM[] =
    "CREATE FUNCTION surv_claim_untagged(p_user bigint, p_ready integer, p_max integer,"
    " p_now bigint) RETURNS SETOF bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE r record;\n"
    "BEGIN\n"
    " FOR r IN SELECT d.id, d.content_hash FROM lib_documents d JOIN surv_collections s ON\n"
    "  s.collection_id = d.collection_id AND s.user_id = p_user LEFT JOIN surv_doc_state t ON\n"
    "  t.doc_id = d.id WHERE d.owner_id = p_user AND d.state = p_ready AND (t.doc_id IS NULL OR\n"
    "  t.content_hash <> d.content_hash) ORDER BY d.id LIMIT p_max FOR UPDATE OF d SKIP LOCKED\n"
    " LOOP\n"
    "  INSERT INTO surv_doc_state(doc_id, content_hash, updated_at) VALUES (r.id,\n"
    "   r.content_hash, p_now) ON CONFLICT (doc_id) DO UPDATE SET content_hash =\n"
    "   excluded.content_hash, updated_at = p_now;\n"
    "  RETURN NEXT r.id;\n"
    " END LOOP;\n"
    "END $f$;";

const char *const rg_db_pg_surv_migration[] = {
    M7_TABLES, M7_DOC_OK, M7_COLLECTIONS_SET, M7_AUTO_SET, M7_MANUAL_SET, M7_CLAIM, NULL};

/* ---- helpers ----------------------------------------------------------------- */

static int one_int(PGresult *r, int rc, int64_t *v)
{
    if (!r) return rc;
    *v = PQntuples(r) ? rg_db_pg_ival(r, 0, 0) : 0;
    PQclear(r);
    return RG_OK;
}

/* Every row's first column as int64s, at most max (then *more). Clears r. */
static int ids_collect(PGresult *r, int rc, size_t max, int64_t **ids, size_t *n, bool *more,
                       char *err)
{
    if (!r) return rc;
    size_t rows = (size_t)PQntuples(r);
    if (rows > max) {
        if (more) *more = true;
        rows = max;
    }
    if (rows) {
        *ids = rg_calloc(rows, sizeof **ids);
        if (!*ids) {
            PQclear(r);
            return rg_err_set(err, RG_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < rows; i++)
            (*ids)[i] = rg_db_pg_ival(r, (int)i, 0);
    }
    *n = rows;
    PQclear(r);
    return RG_OK;
}

/* A literal array of n values each printed by put into b: "{a,b}". */
static bool arr_ids(struct rg_buf *b, const int64_t *ids, size_t n)
{
    rg_buf_append_char(b, '{');
    for (size_t i = 0; i < n; i++)
        rg_buf_printf(b, "%s%lld", i ? "," : "", (long long)ids[i]);
    rg_buf_append_char(b, '}');
    return rg_buf_append(b, "", 1) == RG_OK;
}

/* ---- operations -------------------------------------------------------------- */

int rg_db_pg_surv_collections_get(void *conn, int64_t user, int64_t **ids, size_t *n, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT collection_id FROM surv_collections WHERE user_id ="
                                 " $1::bigint ORDER BY collection_id",
                                 "i", user);
    return ids_collect(r, rc, SIZE_MAX, ids, n, NULL, err);
}

int rg_db_pg_surv_collections_set(void *conn, int64_t user, const int64_t *ids, size_t n,
                                  int64_t now, char *err)
{
    struct rg_buf b;
    rg_buf_init(&b, 64 + n * 24);
    if (!arr_ids(&b, ids, n)) {
        rg_buf_free(&b);
        return rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    int rc;
    int64_t v = 0;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err, "SELECT surv_collections_set($1::bigint, $2::bigint[], $3::bigint)", "isi",
        user, b.data, now);
    rg_buf_free(&b);
    if ((rc = one_int(r, rc, &v))) return rc;
    return v < 0 ? rg_err_set(err, RG_ENOTFOUND, "no such collection") : RG_OK;
}

int rg_db_pg_surv_doc_ids(void *conn, int64_t user, const char *category, int limit, int offset,
                          int64_t **ids, size_t *n, bool *more, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err,
        "SELECT d.id FROM lib_documents d JOIN surv_collections s ON s.collection_id ="
        " d.collection_id AND s.user_id = $1::bigint WHERE d.owner_id = $1::bigint AND ($2::text"
        " IS NULL OR EXISTS (SELECT 1 FROM surv_doc_categories k WHERE k.doc_id = d.id AND"
        " k.category = $2::text)) ORDER BY d.id LIMIT $3::bigint OFFSET $4::bigint",
        "isii", user, category, (int64_t)limit + 1, (int64_t)offset);
    return ids_collect(r, rc, (size_t)limit, ids, n, more, err);
}

int rg_db_pg_surv_doc_categories(void *conn, int64_t user, int64_t doc, struct rg_db_surv_cat **out,
                                 size_t *n, bool *manual, int64_t *tagged_at, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err,
        "SELECT coalesce(t.manual, false), coalesce(t.tagged_at, 0) FROM lib_documents d JOIN"
        " surv_collections s ON s.collection_id = d.collection_id AND s.user_id = $2::bigint LEFT"
        " JOIN surv_doc_state t ON t.doc_id = d.id WHERE d.id = $1::bigint AND d.owner_id ="
        " $2::bigint",
        "ii", doc, user);
    if (!r) return rc;
    if (!PQntuples(r)) {
        PQclear(r);
        return rg_err_set(err, RG_ENOTFOUND, "no such document in the survival library");
    }
    *manual = rg_db_pg_bval(r, 0, 0);
    *tagged_at = rg_db_pg_ival(r, 0, 1);
    PQclear(r);
    r = rg_db_pg_query(conn, &rc, err,
                       "SELECT category, source, score FROM surv_doc_categories WHERE doc_id ="
                       " $1::bigint ORDER BY category",
                       "i", doc);
    if (!r) return rc;
    int rows = PQntuples(r);
    if (rows > RG_DB_SURV_CATS_MAX) rows = RG_DB_SURV_CATS_MAX;
    *out = rg_calloc(RG_DB_SURV_CATS_MAX, sizeof **out);
    if (!*out) {
        PQclear(r);
        return rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    for (int i = 0; i < rows; i++) {
        struct rg_db_surv_cat *k = &(*out)[i];
        rg_strlcpy(k->category, rg_db_pg_val(r, i, 0), sizeof k->category);
        rg_strlcpy(k->source, rg_db_pg_val(r, i, 1), sizeof k->source);
        k->score = strtod(rg_db_pg_val(r, i, 2), NULL);
    }
    *n = (size_t)rows;
    PQclear(r);
    return RG_OK;
}

int rg_db_pg_surv_auto_set(void *conn, int64_t user, int64_t doc, const struct rg_db_surv_cat *cats,
                           size_t n, const char *content_hash, int64_t now, bool *kept, char *err)
{
    struct rg_buf kc, ks, kv;
    rg_buf_init(&kc, 4096);
    rg_buf_init(&ks, 4096);
    rg_buf_init(&kv, 4096);
    rg_buf_append_char(&kc, '{');
    rg_buf_append_char(&ks, '{');
    rg_buf_append_char(&kv, '{');
    for (size_t i = 0; i < n; i++) {
        rg_buf_printf(&kc, "%s%s", i ? "," : "", cats[i].category);
        rg_buf_printf(&ks, "%s%s", i ? "," : "", cats[i].source);
        rg_buf_printf(&kv, "%s%.6f", i ? "," : "", cats[i].score);
    }
    rg_buf_append(&kc, "}", 2);
    rg_buf_append(&ks, "}", 2);
    int rc = rg_buf_append(&kv, "}", 2);
    int64_t v = 0;
    PGresult *r = NULL;
    if (rc == RG_OK && kc.data && ks.data)
        r = rg_db_pg_query(conn, &rc, err,
                           "SELECT surv_auto_set($1::bigint, $2::bigint, $3::text[], $4::text[],"
                           " $5::double precision[], $6::text, $7::bigint)",
                           "iissssi", user, doc, kc.data, ks.data, kv.data, content_hash, now);
    else
        rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    rg_buf_free(&kc);
    rg_buf_free(&ks);
    rg_buf_free(&kv);
    if ((rc = one_int(r, rc, &v))) return rc;
    if (v < 0) return rg_err_set(err, RG_ENOTFOUND, "no such document in the survival library");
    *kept = v == 1;
    return RG_OK;
}

int rg_db_pg_surv_manual_set(void *conn, int64_t user, int64_t doc, const char *const *cats,
                             size_t n, int64_t now, char *err)
{
    struct rg_buf b;
    rg_buf_init(&b, 4096);
    int rc = RG_OK;
    if (cats) {
        rg_buf_append_char(&b, '{');
        for (size_t i = 0; i < n; i++)
            rg_buf_printf(&b, "%s%s", i ? "," : "", cats[i]);
        rc = rg_buf_append(&b, "}", 2);
    }
    int64_t v = 0;
    PGresult *r = NULL;
    if (rc == RG_OK)
        r = rg_db_pg_query(conn, &rc, err,
                           "SELECT surv_manual_set($1::bigint, $2::bigint, $3::text[], $4::bigint)",
                           "iisi", user, doc, cats ? b.data : NULL, now);
    else
        rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    rg_buf_free(&b);
    if ((rc = one_int(r, rc, &v))) return rc;
    return v < 0 ? rg_err_set(err, RG_ENOTFOUND, "no such document in the survival library")
                 : RG_OK;
}

int rg_db_pg_surv_claim_untagged(void *conn, int64_t user, int max, int64_t now, int64_t **ids,
                                 size_t *n, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT * FROM surv_claim_untagged($1::bigint, $2::integer,"
                                 " $3::integer, $4::bigint)",
                                 "iiii", user, (int64_t)RG_DB_DOC_READY, (int64_t)max, now);
    return ids_collect(r, rc, (size_t)max, ids, n, NULL, err);
}

int rg_db_pg_surv_counts(void *conn, int64_t user, const char *const *cats, size_t n,
                         int64_t *counts, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err,
        "SELECT k.category, count(*) FROM surv_doc_categories k JOIN lib_documents d ON d.id ="
        " k.doc_id JOIN surv_collections s ON s.collection_id = d.collection_id AND s.user_id ="
        " $1::bigint WHERE d.owner_id = $1::bigint GROUP BY k.category",
        "i", user);
    if (!r) return rc;
    for (int row = 0; row < PQntuples(r); row++)
        for (size_t i = 0; i < n; i++)
            if (!strcmp(cats[i], rg_db_pg_val(r, row, 0))) counts[i] = rg_db_pg_ival(r, row, 1);
    PQclear(r);
    return RG_OK;
}
