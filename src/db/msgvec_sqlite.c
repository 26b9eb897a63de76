/*
 * Message vectors on SQLite (migration 8, msgvec.h): one row per message,
 * the vector as hex text of its f32, deleted with its message. Also here:
 * a summary message never descends into the active branch (conv_descend of
 * PostgreSQL in migration 8; SQLite's descent is C in conv_sqlite.c).
 */
#include <string.h>

#include <sqlite3.h>

#include "db/db_internal.h"
#include "db/msgvec.h"
#include "db/sqlite_internal.h"

const char rg_db_sqlite_msgvec_migration[] =
    "CREATE TABLE message_vectors ("
    " message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " model TEXT NOT NULL,"
    " dim INTEGER NOT NULL,"
    " vec TEXT NOT NULL,"
    " created_at INTEGER NOT NULL);"
    "CREATE INDEX message_vectors_owner ON message_vectors(owner_id, model);";

int rg_db_sqlite_msgvec_put(void *conn, int64_t owner, int64_t msg_id, const char *model,
                            const char *hex, int dim, int64_t now, char *err)
{
    sqlite3 *c = conn;
    int64_t changes = 0;
    int rc = rg_db_sq_run(
        c,
        rg_db_sq_prep(
            c, err,
            "INSERT INTO message_vectors(message_id, owner_id, model, dim, vec, created_at)"
            " SELECT m.id, v.owner_id, ?3, ?4, ?5, ?6 FROM messages m JOIN conversations v"
            " ON v.id = m.conv_id WHERE m.id = ?1 AND v.owner_id = ?2"
            " ON CONFLICT(message_id) DO UPDATE SET model = excluded.model,"
            " dim = excluded.dim, vec = excluded.vec, created_at = excluded.created_at",
            "iisisi", msg_id, owner, model, (int64_t)dim, hex, now),
        &changes, err);
    if (!rc && !changes) rc = rg_err_set(err, RG_ENOTFOUND, "no such message");
    return rc;
}

int rg_db_sqlite_msgvec_search(void *conn, int64_t owner, const char *model, const float *q,
                               int dim, int64_t except_conv, size_t k, struct rg_db_msgvec_hit *top,
                               size_t *n, char *err)
{
    sqlite3 *c = conn;
    sqlite3_stmt *st = rg_db_sq_prep(
        c, err,
        "SELECT m.id, m.conv_id, x.vec, m.content FROM message_vectors x JOIN messages m"
        " ON m.id = x.message_id JOIN conversations v ON v.id = m.conv_id"
        " WHERE x.owner_id = ?1 AND v.owner_id = ?1 AND x.model = ?2 AND x.dim = ?3"
        " AND m.conv_id <> ?4 AND m.type IN ('user', 'assistant')",
        "isii", owner, model, (int64_t)dim, except_conv);
    if (!st) return RG_EIO;
    int rc = RG_OK;
    for (;;) {
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW) {
            rc = rg_db_sq_fail(c, err);
            break;
        }
        double cos;
        if (!rg_db_msgvec_cos(rg_db_sq_text(st, 2), q, dim, &cos)) continue;
        rc = rg_db_msgvec_keep(top, k, n, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                               cos, rg_db_sq_text(st, 3));
        if (rc) {
            rg_err_set(err, rc, "out of memory");
            break;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int rg_db_sqlite_msgvec_count(void *conn, int64_t owner, const char *model, int64_t *n, char *err)
{
    sqlite3 *c = conn;
    return rg_db_sq_one_int(c,
                            rg_db_sq_prep(c, err,
                                          "SELECT count(*) FROM message_vectors WHERE owner_id = ?1"
                                          " AND model = ?2",
                                          "is", owner, model),
                            n, err);
}
