/*
 * Message vectors on PostgreSQL (migration 8, msgvec.h): one row per
 * message, the vector as hex text of its f32, deleted with its message.
 * The migration also replaces conv_descend (migration 4) so that a summary
 * message (docs/memory.md: never part of branches) is never descended to:
 * from a summary the descent starts over at the newest other root, and a
 * summary child is never followed.
 */
#include <string.h>

#include <libpq-fe.h>

#include "db/db_internal.h"
#include "db/msgvec.h"
#include "db/pg_internal.h"

const char *const rg_db_pg_msgvec_migration[] = {
    "CREATE TABLE message_vectors ("
    " message_id bigint PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " owner_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " model text NOT NULL,"
    " dim integer NOT NULL,"
    " vec text NOT NULL,"
    " created_at bigint NOT NULL)",
    "CREATE INDEX message_vectors_owner ON message_vectors(owner_id, model)",
    "CREATE OR REPLACE FUNCTION conv_descend(p_conv bigint, p_msg bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $f$\n"
    "DECLARE v bigint := p_msg; k bigint;\n"
    "BEGIN\n"
    " IF v IS NULL OR v = 0 THEN RETURN 0; END IF;\n"
    " IF EXISTS (SELECT 1 FROM messages m WHERE m.id = v AND m.type = 'summary') THEN\n"
    "  SELECT max(m.id) INTO v FROM messages m WHERE m.conv_id = p_conv AND m.parent_id IS NULL\n"
    "   AND m.type <> 'summary';\n"
    "  IF v IS NULL THEN RETURN 0; END IF;\n"
    " END IF;\n"
    " LOOP\n"
    "  SELECT m.id INTO k FROM messages m WHERE m.conv_id = p_conv AND m.parent_id = v\n"
    "   AND m.type <> 'summary' ORDER BY m.id DESC LIMIT 1;\n"
    "  EXIT WHEN NOT FOUND;\n"
    "  v := k;\n"
    " END LOOP;\n"
    " RETURN v;\n"
    "END $f$",
    NULL};

int rg_db_pg_msgvec_put(void *conn, int64_t owner, int64_t msg_id, const char *model,
                        const char *hex, int dim, int64_t now, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err,
        "INSERT INTO message_vectors(message_id, owner_id, model, dim, vec, created_at)"
        " SELECT m.id, v.owner_id, $3, $4, $5, $6 FROM messages m JOIN conversations v"
        " ON v.id = m.conv_id WHERE m.id = $1 AND v.owner_id = $2"
        " ON CONFLICT (message_id) DO UPDATE SET model = excluded.model, dim = excluded.dim,"
        " vec = excluded.vec, created_at = excluded.created_at",
        "iisisi", msg_id, owner, model, (int64_t)dim, hex, now);
    if (!r) return rc;
    bool none = !strcmp(PQcmdTuples(r), "0");
    PQclear(r);
    return none ? rg_err_set(err, RG_ENOTFOUND, "no such message") : RG_OK;
}

int rg_db_pg_msgvec_search(void *conn, int64_t owner, const char *model, const float *q, int dim,
                           int64_t except_conv, size_t k, struct rg_db_msgvec_hit *top, size_t *n,
                           char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err,
        "SELECT m.id, m.conv_id, x.vec, m.content FROM message_vectors x JOIN messages m"
        " ON m.id = x.message_id JOIN conversations v ON v.id = m.conv_id"
        " WHERE x.owner_id = $1 AND v.owner_id = $1 AND x.model = $2 AND x.dim = $3"
        " AND m.conv_id <> $4 AND m.type IN ('user', 'assistant')",
        "isii", owner, model, (int64_t)dim, except_conv);
    if (!r) return rc;
    rc = RG_OK;
    for (int i = 0; i < PQntuples(r) && !rc; i++) {
        double cos;
        if (!rg_db_msgvec_cos(rg_db_pg_val(r, i, 2), q, dim, &cos)) continue;
        rc = rg_db_msgvec_keep(top, k, n, rg_db_pg_ival(r, i, 0), rg_db_pg_ival(r, i, 1), cos,
                               rg_db_pg_val(r, i, 3));
        if (rc) rg_err_set(err, rc, "out of memory");
    }
    PQclear(r);
    return rc;
}

int rg_db_pg_msgvec_count(void *conn, int64_t owner, const char *model, int64_t *n, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT count(*) FROM message_vectors WHERE owner_id = $1"
                                 " AND model = $2",
                                 "is", owner, model);
    if (!r) return rc;
    *n = rg_db_pg_ival(r, 0, 0);
    PQclear(r);
    return RG_OK;
}
