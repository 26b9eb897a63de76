/*
 * The survival library on SQLite (migration 7 and surv_internal.h): the
 * writes check ownership and write inside BEGIN IMMEDIATE.
 */
#include <string.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/sqlite_internal.h"
#include "db/surv_internal.h"

const char rg_db_sqlite_surv_migration[] =
    "CREATE TABLE surv_collections ("
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " collection_id INTEGER NOT NULL REFERENCES lib_collections(id) ON DELETE CASCADE,"
    " added_at INTEGER NOT NULL,"
    " PRIMARY KEY (user_id, collection_id));"
    "CREATE INDEX surv_collections_collection ON surv_collections(collection_id);"
    "CREATE TABLE surv_doc_state ("
    " doc_id INTEGER PRIMARY KEY REFERENCES lib_documents(id) ON DELETE CASCADE,"
    " manual INTEGER NOT NULL DEFAULT 0,"
    " content_hash TEXT NOT NULL DEFAULT '',"
    " tagged_at INTEGER NOT NULL DEFAULT 0,"
    " updated_at INTEGER NOT NULL);"
    "CREATE TABLE surv_doc_categories ("
    " doc_id INTEGER NOT NULL REFERENCES lib_documents(id) ON DELETE CASCADE,"
    " category TEXT NOT NULL,"
    " source TEXT NOT NULL CHECK (source IN ('rule', 'embedding', 'manual')),"
    " score REAL NOT NULL CHECK (score >= 0 AND score <= 1),"
    " PRIMARY KEY (doc_id, category));"
    "CREATE INDEX surv_doc_categories_category ON surv_doc_categories(category, doc_id);";

/* The document is the user's and in one of their survival collections. */
#define DOC_OK                                                                                     \
    "SELECT count(*) FROM lib_documents d JOIN surv_collections s ON s.collection_id ="            \
    " d.collection_id AND s.user_id = ?2 WHERE d.id = ?1 AND d.owner_id = ?2"

static int doc_ok(sqlite3 *c, int64_t user, int64_t doc, char *err)
{
    int64_t v = 0;
    int rc = rg_db_sq_one_int(c, rg_db_sq_prep(c, err, DOC_OK, "ii", doc, user), &v, err);
    if (rc) return rc;
    return v ? RG_OK : rg_err_set(err, RG_ENOTFOUND, "no such document in the survival library");
}

/* Every row's first column as an int64 array (*ids rg_free'd by the caller). */
static int ids_collect(sqlite3 *c, sqlite3_stmt *st, size_t max, int64_t **ids, size_t *n,
                       bool *more, char *err)
{
    if (!st) return RG_EIO;
    size_t cap = 0;
    int rc = RG_OK, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == max) {
            if (more) *more = true;
            break;
        }
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            int64_t *p = rg_realloc(*ids, nc * sizeof *p);
            if (!p) {
                rc = rg_err_set(err, RG_ENOMEM, "out of memory");
                break;
            }
            *ids = p;
            cap = nc;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    if (!rc && s != SQLITE_ROW && s != SQLITE_DONE) rc = rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    if (rc) {
        rg_free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int rg_db_sqlite_surv_collections_get(void *conn, int64_t user, int64_t **ids, size_t *n, char *err)
{
    sqlite3 *c = conn;
    return ids_collect(c,
                       rg_db_sq_prep(c, err,
                                     "SELECT collection_id FROM surv_collections WHERE user_id = ?1"
                                     " ORDER BY collection_id",
                                     "i", user),
                       SIZE_MAX, ids, n, NULL, err);
}

int rg_db_sqlite_surv_collections_set(void *conn, int64_t user, const int64_t *ids, size_t n,
                                      int64_t now, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    for (size_t i = 0; !rc && i < n; i++) {
        int64_t v = 0;
        rc = rg_db_sq_one_int(c,
                              rg_db_sq_prep(c, err,
                                            "SELECT count(*) FROM lib_collections WHERE id = ?1"
                                            " AND owner_id = ?2",
                                            "ii", ids[i], user),
                              &v, err);
        if (!rc && !v)
            rc = rg_err_set(err, RG_ENOTFOUND, "no such collection: %lld", (long long)ids[i]);
    }
    if (!rc)
        rc = rg_db_sq_run(
            c, rg_db_sq_prep(c, err, "DELETE FROM surv_collections WHERE user_id = ?1", "i", user),
            NULL, err);
    for (size_t i = 0; !rc && i < n; i++)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "INSERT OR IGNORE INTO surv_collections(user_id,"
                                        " collection_id, added_at) VALUES (?1, ?2, ?3)",
                                        "iii", user, ids[i], now),
                          NULL, err);
    return rg_db_sq_finish(c, rc, false, err);
}

int rg_db_sqlite_surv_doc_ids(void *conn, int64_t user, const char *category, int limit, int offset,
                              int64_t **ids, size_t *n, bool *more, char *err)
{
    sqlite3 *c = conn;
    return ids_collect(
        c,
        rg_db_sq_prep(c, err,
                      "SELECT d.id FROM lib_documents d JOIN surv_collections s ON"
                      " s.collection_id = d.collection_id AND s.user_id = ?1 WHERE d.owner_id = ?1"
                      " AND (?2 IS NULL OR EXISTS (SELECT 1 FROM surv_doc_categories k WHERE"
                      " k.doc_id = d.id AND k.category = ?2)) ORDER BY d.id LIMIT ?3 OFFSET ?4",
                      "isii", user, category, (int64_t)limit + 1, (int64_t)offset),
        (size_t)limit, ids, n, more, err);
}

int rg_db_sqlite_surv_doc_categories(void *conn, int64_t user, int64_t doc,
                                     struct rg_db_surv_cat **out, size_t *n, bool *manual,
                                     int64_t *tagged_at, char *err)
{
    sqlite3 *c = conn;
    int rc = doc_ok(c, user, doc, err);
    if (rc) return rc;
    sqlite3_stmt *st = rg_db_sq_prep(
        c, err, "SELECT manual, tagged_at FROM surv_doc_state WHERE doc_id = ?1", "i", doc);
    if (!st) return RG_EIO;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *manual = sqlite3_column_int(st, 0) != 0;
        *tagged_at = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE) return rg_db_sq_fail(c, err);
    st = rg_db_sq_prep(c, err,
                       "SELECT category, source, score FROM surv_doc_categories WHERE doc_id = ?1"
                       " ORDER BY category",
                       "i", doc);
    if (!st) return RG_EIO;
    *out = rg_calloc(RG_DB_SURV_CATS_MAX, sizeof **out);
    if (!*out) {
        sqlite3_finalize(st);
        return rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    while ((s = sqlite3_step(st)) == SQLITE_ROW && *n < RG_DB_SURV_CATS_MAX) {
        struct rg_db_surv_cat *k = &(*out)[(*n)++];
        rg_strlcpy(k->category, rg_db_sq_text(st, 0), sizeof k->category);
        rg_strlcpy(k->source, rg_db_sq_text(st, 1), sizeof k->source);
        k->score = sqlite3_column_double(st, 2);
    }
    rc = s == SQLITE_ROW || s == SQLITE_DONE ? RG_OK : rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    if (rc) {
        rg_free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static int state_upsert(sqlite3 *c, int64_t doc, int manual, const char *hash, int64_t tagged_at,
                        int64_t now, char *err)
{
    return rg_db_sq_run(
        c,
        rg_db_sq_prep(c, err,
                      "INSERT INTO surv_doc_state(doc_id, manual, content_hash, tagged_at,"
                      " updated_at) VALUES (?1, max(?2, 0), coalesce(?3, ''), max(?4, 0), ?5)"
                      " ON CONFLICT(doc_id)"
                      " DO UPDATE SET manual = CASE WHEN ?2 < 0 THEN manual ELSE ?2 END,"
                      " content_hash = coalesce(?3, content_hash), tagged_at = CASE WHEN ?4 < 0"
                      " THEN tagged_at ELSE ?4 END, updated_at = ?5",
                      "iisii", doc, (int64_t)manual, hash, tagged_at, now),
        NULL, err);
}

int rg_db_sqlite_surv_auto_set(void *conn, int64_t user, int64_t doc,
                               const struct rg_db_surv_cat *cats, size_t n,
                               const char *content_hash, int64_t now, bool *kept, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = doc_ok(c, user, doc, err);
    int64_t manual = 0;
    if (!rc)
        rc = rg_db_sq_one_int(
            c,
            rg_db_sq_prep(c, err, "SELECT manual FROM surv_doc_state WHERE doc_id = ?1", "i", doc),
            &manual, err);
    if (!rc && manual) {
        *kept = true;
        rc = state_upsert(c, doc, -1, content_hash, now, now, err);
        return rg_db_sq_finish(c, rc, false, err);
    }
    if (!rc)
        rc = rg_db_sq_run(
            c, rg_db_sq_prep(c, err, "DELETE FROM surv_doc_categories WHERE doc_id = ?1", "i", doc),
            NULL, err);
    for (size_t i = 0; !rc && i < n; i++)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "INSERT INTO surv_doc_categories(doc_id, category, source,"
                                        " score) VALUES (?1, ?2, ?3, ?4)",
                                        "issd", doc, cats[i].category, cats[i].source,
                                        cats[i].score),
                          NULL, err);
    if (!rc) rc = state_upsert(c, doc, 0, content_hash, now, now, err);
    return rg_db_sq_finish(c, rc, false, err);
}

int rg_db_sqlite_surv_manual_set(void *conn, int64_t user, int64_t doc, const char *const *cats,
                                 size_t n, int64_t now, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = doc_ok(c, user, doc, err);
    if (!rc)
        rc = rg_db_sq_run(
            c, rg_db_sq_prep(c, err, "DELETE FROM surv_doc_categories WHERE doc_id = ?1", "i", doc),
            NULL, err);
    for (size_t i = 0; !rc && cats && i < n; i++)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "INSERT INTO surv_doc_categories(doc_id, category, source,"
                                        " score) VALUES (?1, ?2, 'manual', 1)",
                                        "is", doc, cats[i]),
                          NULL, err);
    /* cleared: untagged until the next tagging (tagged_at 0 says so) */
    if (!rc) rc = state_upsert(c, doc, cats ? 1 : 0, NULL, cats ? -1 : 0, now, err);
    return rg_db_sq_finish(c, rc, false, err);
}

/* Ready survival documents whose hash is not the one last tagged or claimed. */
#define UNTAGGED                                                                                   \
    "SELECT d.id FROM lib_documents d JOIN surv_collections s ON s.collection_id ="                \
    " d.collection_id AND s.user_id = ?1 LEFT JOIN surv_doc_state t ON t.doc_id = d.id WHERE"      \
    " d.owner_id = ?1 AND d.state = ?2 AND (t.doc_id IS NULL OR t.content_hash <>"                 \
    " d.content_hash) ORDER BY d.id LIMIT ?3"

int rg_db_sqlite_surv_claim_untagged(void *conn, int64_t user, int max, int64_t now, int64_t **ids,
                                     size_t *n, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = ids_collect(
        c, rg_db_sq_prep(c, err, UNTAGGED, "iii", user, (int64_t)RG_DB_DOC_READY, (int64_t)max),
        (size_t)max, ids, n, NULL, err);
    for (size_t i = 0; !rc && i < *n; i++)
        rc = rg_db_sq_run(
            c,
            rg_db_sq_prep(c, err,
                          "INSERT INTO surv_doc_state(doc_id, content_hash, updated_at) SELECT id,"
                          " content_hash, ?2 FROM lib_documents WHERE id = ?1 ON CONFLICT(doc_id)"
                          " DO UPDATE SET content_hash = excluded.content_hash, updated_at = ?2",
                          "ii", (*ids)[i], now),
            NULL, err);
    rc = rg_db_sq_finish(c, rc, false, err);
    if (rc) {
        rg_free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int rg_db_sqlite_surv_counts(void *conn, int64_t user, const char *const *cats, size_t n,
                             int64_t *counts, char *err)
{
    sqlite3 *c = conn;
    sqlite3_stmt *st = rg_db_sq_prep(
        c, err,
        "SELECT k.category, count(*) FROM surv_doc_categories k JOIN lib_documents d ON d.id ="
        " k.doc_id JOIN surv_collections s ON s.collection_id = d.collection_id AND s.user_id ="
        " ?1 WHERE d.owner_id = ?1 GROUP BY k.category",
        "i", user);
    if (!st) return RG_EIO;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = rg_db_sq_text(st, 0);
        for (size_t i = 0; i < n; i++)
            if (!strcmp(cats[i], k)) counts[i] = sqlite3_column_int64(st, 1);
    }
    int rc = s == SQLITE_DONE ? RG_OK : rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    return rc;
}
