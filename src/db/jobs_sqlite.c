/*
 * The job queue's storage on SQLite (migration 3 and the job operations of
 * db_internal.h). The rules the PostgreSQL backend keeps in PL/pgSQL
 * (jobs_pg.c) are here in C: single statements where one statement decides,
 * BEGIN IMMEDIATE where a read decides a write (claim, fail, cancel), so
 * that two connections claiming at once are serialized by SQLite's write
 * lock and never get the same job. One process owns an SQLite file, so
 * "leases" matter here only across a restart of that process.
 */
#include <string.h>

#include <sqlite3.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db_internal.h"
#include "db/sqlite_internal.h"

const char rg_db_sqlite_jobs_migration[] =
    "CREATE TABLE jobs ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " kind TEXT NOT NULL,"
    " owner_id INTEGER REFERENCES users(id) ON DELETE CASCADE,"
    " state TEXT NOT NULL DEFAULT 'queued'"
    "  CHECK (state IN ('queued','running','done','failed','cancelled')),"
    " priority INTEGER NOT NULL DEFAULT 0,"
    " progress REAL NOT NULL DEFAULT 0,"
    " message TEXT NOT NULL DEFAULT '',"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " max_attempts INTEGER NOT NULL DEFAULT 3,"
    " payload TEXT NOT NULL,"
    " result TEXT,"
    " error TEXT NOT NULL DEFAULT '',"
    " cancel_requested INTEGER NOT NULL DEFAULT 0,"
    " worker TEXT,"
    " lease_until INTEGER,"
    " seq INTEGER NOT NULL DEFAULT 1,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " started_at INTEGER,"
    " finished_at INTEGER,"
    " run_after INTEGER NOT NULL);"
    "CREATE INDEX jobs_claim ON jobs(state, priority DESC, id);"
    "CREATE INDEX jobs_owner ON jobs(owner_id, id);";

/* ---- statements ------------------------------------------------------------ */

#define JOB_COLS                                                                                   \
    "id, kind, coalesce(owner_id, 0), state, priority, progress, message, attempts,"               \
    " max_attempts, payload, result, error, cancel_requested, coalesce(worker, ''),"               \
    " coalesce(lease_until, 0), seq, created_at, updated_at, coalesce(started_at, 0),"             \
    " coalesce(finished_at, 0), run_after"

/* The JOB_COLS of the current row into j. RG_ENOMEM (j cleared). */
static int read_job(sqlite3_stmt *st, struct rg_db_job *j, char *err)
{
    j->id = sqlite3_column_int64(st, 0);
    rg_db_copy(j->kind, sizeof j->kind, rg_db_sq_text(st, 1));
    j->owner_id = sqlite3_column_int64(st, 2);
    int s = rg_db_job_state_parse(rg_db_sq_text(st, 3));
    j->state = s < 0 ? RG_DB_JOB_FAILED : (enum rg_db_job_state)s;
    j->priority = sqlite3_column_int(st, 4);
    j->progress = sqlite3_column_double(st, 5);
    rg_db_copy(j->message, sizeof j->message, rg_db_sq_text(st, 6));
    j->attempts = sqlite3_column_int(st, 7);
    j->max_attempts = sqlite3_column_int(st, 8);
    j->payload = rg_strdup(rg_db_sq_text(st, 9));
    j->result =
        sqlite3_column_type(st, 10) == SQLITE_NULL ? NULL : rg_strdup(rg_db_sq_text(st, 10));
    rg_db_copy(j->error, sizeof j->error, rg_db_sq_text(st, 11));
    j->cancel_requested = sqlite3_column_int(st, 12) != 0;
    rg_db_copy(j->worker, sizeof j->worker, rg_db_sq_text(st, 13));
    j->lease_until = sqlite3_column_int64(st, 14);
    j->seq = sqlite3_column_int64(st, 15);
    j->created_at = sqlite3_column_int64(st, 16);
    j->updated_at = sqlite3_column_int64(st, 17);
    j->started_at = sqlite3_column_int64(st, 18);
    j->finished_at = sqlite3_column_int64(st, 19);
    j->run_after = sqlite3_column_int64(st, 20);
    if (!j->payload || (sqlite3_column_type(st, 10) != SQLITE_NULL && !j->result)) {
        rg_db_job_clear(j);
        return rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    return RG_OK;
}

static int job_by_id(sqlite3 *c, int64_t id, struct rg_db_job *out, char *err)
{
    sqlite3_stmt *st =
        rg_db_sq_prep(c, err, "SELECT " JOB_COLS " FROM jobs WHERE id = ?1", "i", id);
    if (!st) return RG_EIO;
    int step = sqlite3_step(st), rc;
    if (step == SQLITE_ROW)
        rc = read_job(st, out, err);
    else
        rc = step == SQLITE_DONE ? rg_err_set(err, RG_ENOTFOUND, "no such job")
                                 : rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    return rc;
}

/* The condition that fences a leased job's writes: ?1 id, ?2 worker, ?3 attempt. */
#define FENCE "id = ?1 AND state = 'running' AND worker = ?2 AND attempts = ?3"

/* ---- operations ------------------------------------------------------------ */

int rg_db_sqlite_job_enqueue(void *conn, const struct rg_db_job_new *n, int64_t *id, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_run(
        c,
        rg_db_sq_prep(c, err,
                      "INSERT INTO jobs(kind, owner_id, priority, max_attempts, payload,"
                      " created_at, updated_at, run_after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
                      "soiisii", n->kind, n->owner_id, (int64_t)n->priority,
                      (int64_t)n->max_attempts, n->payload, n->now, n->run_after),
        NULL, err);
    if (rc == RG_OK) *id = sqlite3_last_insert_rowid(c);
    return rc;
}

int rg_db_sqlite_job_get(void *conn, int64_t id, struct rg_db_job *out, char *err)
{
    return job_by_id(conn, id, out, err);
}

int rg_db_sqlite_job_list(void *conn, int64_t owner, int limit, struct rg_db_job **out, size_t *n,
                          char *err)
{
    sqlite3 *c = conn;
    sqlite3_stmt *st = rg_db_sq_prep(c, err,
                                     "SELECT " JOB_COLS " FROM jobs WHERE (?1 = 0 OR owner_id = ?1)"
                                     " ORDER BY id DESC LIMIT ?2",
                                     "ii", owner, (int64_t)limit);
    if (!st) return RG_EIO;
    struct rg_db_job *v = rg_calloc((size_t)limit, sizeof *v);
    if (!v) {
        sqlite3_finalize(st);
        return rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    size_t k = 0;
    int step, rc = RG_OK;
    while (rc == RG_OK && k < (size_t)limit && (step = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = read_job(st, &v[k], err)) == RG_OK) k++;
    if (rc == RG_OK && k < (size_t)limit && step != SQLITE_DONE) rc = rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    if (rc) {
        rg_db_job_list_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return RG_OK;
}

int rg_db_sqlite_job_claim(void *conn, const char *worker, const char *kinds, int64_t now,
                           int lease_ms, struct rg_db_job *out, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    /* expired leases on jobs that may not run again end here */
    rc = rg_db_sq_run(
        c,
        rg_db_sq_prep(c, err,
                      "UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'cancelled'"
                      " ELSE 'failed' END, error = CASE WHEN cancel_requested THEN 'cancelled'"
                      " ELSE 'lease expired: worker ' || coalesce(worker, '') || ' stopped' END,"
                      " finished_at = ?1, updated_at = ?1, seq = seq + 1, worker = NULL,"
                      " lease_until = NULL WHERE state = 'running' AND lease_until < ?1 AND"
                      " (cancel_requested OR attempts >= max_attempts)",
                      "i", now),
        NULL, err);
    int64_t id = 0;
    if (!rc) {
        /* ids start at 1, so 0 means no row */
        rc = rg_db_sq_one_int(
            c,
            rg_db_sq_prep(c, err,
                          "SELECT id FROM jobs WHERE instr(',' || ?1 || ',', ',' || kind ||"
                          " ',') > 0 AND ((state = 'queued' AND run_after <= ?2) OR"
                          " (state = 'running' AND lease_until < ?2))"
                          " ORDER BY priority DESC, id LIMIT 1",
                          "si", kinds, now),
            &id, err);
        if (!rc && id == 0) rc = rg_err_set(err, RG_ENOTFOUND, "no job to run");
    }
    if (!rc)
        rc = rg_db_sq_run(
            c,
            rg_db_sq_prep(c, err,
                          "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = ?2,"
                          " lease_until = ?3 + ?4, started_at = ?3, updated_at = ?3, progress = 0,"
                          " message = '', seq = seq + 1 WHERE id = ?1",
                          "isii", id, worker, now, (int64_t)lease_ms),
            NULL, err);
    if (!rc) rc = job_by_id(c, id, out, err);
    /* a failure after the first update still commits it when nothing was claimed */
    return rg_db_sq_finish(c, rc, rc == RG_ENOTFOUND, err);
}

/* An UPDATE ... RETURNING cancel_requested on a fenced job: RG_ESTATE when
 * no row matched (the lease is lost). */
static int fenced_cancel_flag(sqlite3 *c, sqlite3_stmt *st, bool *cancel, char *err)
{
    if (!st) return RG_EIO;
    int step = sqlite3_step(st), rc = RG_OK;
    if (step == SQLITE_ROW) {
        *cancel = sqlite3_column_int(st, 0) != 0;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        }
    }
    if (step != SQLITE_DONE)
        rc = rg_db_sq_fail(c, err);
    else if (sqlite3_changes(c) == 0)
        rc = rg_err_set(err, RG_ESTATE, "job lease lost");
    sqlite3_finalize(st);
    return rc;
}

int rg_db_sqlite_job_heartbeat(void *conn, int64_t id, const char *worker, int attempt, int64_t now,
                               int lease_ms, bool *cancel, char *err)
{
    sqlite3 *c = conn;
    return fenced_cancel_flag(c,
                              rg_db_sq_prep(c, err,
                                            "UPDATE jobs SET lease_until = ?4 WHERE " FENCE
                                            " RETURNING cancel_requested",
                                            "isii", id, worker, (int64_t)attempt, now + lease_ms),
                              cancel, err);
}

int rg_db_sqlite_job_progress(void *conn, int64_t id, const char *worker, int attempt,
                              double progress, const char *message, int64_t now, int lease_ms,
                              bool *cancel, char *err)
{
    sqlite3 *c = conn;
    return fenced_cancel_flag(
        c,
        rg_db_sq_prep(c, err,
                      "UPDATE jobs SET progress = ?4, message = ?5, updated_at = ?6,"
                      " lease_until = ?7, seq = seq + 1 WHERE " FENCE " RETURNING cancel_requested",
                      "isidsii", id, worker, (int64_t)attempt, progress, message, now,
                      now + lease_ms),
        cancel, err);
}

int rg_db_sqlite_job_finish(void *conn, int64_t id, const char *worker, int attempt,
                            enum rg_db_job_state state, const char *result, int64_t now, char *err)
{
    sqlite3 *c = conn;
    bool ok = state == RG_DB_JOB_DONE;
    int64_t changed = 0;
    int rc = rg_db_sq_run(
        c,
        rg_db_sq_prep(c, err,
                      "UPDATE jobs SET state = ?4, result = ?5, progress = CASE WHEN ?4 = 'done'"
                      " THEN 1 ELSE progress END, error = CASE WHEN ?4 = 'done' THEN ''"
                      " ELSE 'cancelled' END, finished_at = ?6, updated_at = ?6, seq = seq + 1,"
                      " worker = NULL, lease_until = NULL WHERE " FENCE,
                      "isissi", id, worker, (int64_t)attempt, rg_db_job_state_name(state),
                      ok ? result : NULL, now),
        &changed, err);
    if (!rc && changed == 0) rc = rg_err_set(err, RG_ESTATE, "job lease lost");
    return rc;
}

int rg_db_sqlite_job_fail(void *conn, int64_t id, const char *worker, int attempt,
                          const char *error, int64_t now, int64_t backoff_ms,
                          int64_t backoff_max_ms, enum rg_db_job_state *state, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    sqlite3_stmt *st = rg_db_sq_prep(
        c, err, "SELECT attempts, max_attempts, cancel_requested FROM jobs WHERE " FENCE, "isi", id,
        worker, (int64_t)attempt);
    if (!st) return rg_db_sq_finish(c, RG_EIO, false, err);
    int step = sqlite3_step(st);
    int attempts = 0, max_attempts = 0;
    bool cancel = false;
    if (step == SQLITE_ROW) {
        attempts = sqlite3_column_int(st, 0);
        max_attempts = sqlite3_column_int(st, 1);
        cancel = sqlite3_column_int(st, 2) != 0;
    }
    sqlite3_finalize(st);
    if (step == SQLITE_DONE)
        return rg_db_sq_finish(c, rg_err_set(err, RG_ESTATE, "job lease lost"), false, err);
    if (step != SQLITE_ROW) return rg_db_sq_finish(c, rg_db_sq_fail(c, err), false, err);
    enum rg_db_job_state next = cancel                    ? RG_DB_JOB_CANCELLED
                                : attempts < max_attempts ? RG_DB_JOB_QUEUED
                                                          : RG_DB_JOB_FAILED;
    int64_t after = now + rg_db_job_backoff(attempts, backoff_ms, backoff_max_ms);
    rc = rg_db_sq_run(
        c,
        rg_db_sq_prep(c, err,
                      "UPDATE jobs SET state = ?2, error = ?3, updated_at = ?4, seq = seq + 1,"
                      " worker = NULL, lease_until = NULL, run_after = CASE WHEN ?2 = 'queued'"
                      " THEN ?5 ELSE run_after END, finished_at = CASE WHEN ?2 = 'queued' THEN NULL"
                      " ELSE ?4 END WHERE id = ?1",
                      "issii", id, rg_db_job_state_name(next), error, now, after),
        NULL, err);
    rc = rg_db_sq_finish(c, rc, false, err);
    if (!rc) *state = next;
    return rc;
}

int rg_db_sqlite_job_cancel(void *conn, int64_t id, int64_t owner, int64_t now,
                            enum rg_db_job_state *state, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    sqlite3_stmt *st = rg_db_sq_prep(c, err,
                                     "SELECT state, cancel_requested FROM jobs WHERE id = ?1 AND"
                                     " (?2 = 0 OR owner_id = ?2)",
                                     "ii", id, owner);
    if (!st) return rg_db_sq_finish(c, RG_EIO, false, err);
    int step = sqlite3_step(st), cur = -1;
    bool asked = false;
    if (step == SQLITE_ROW) {
        cur = rg_db_job_state_parse(rg_db_sq_text(st, 0));
        asked = sqlite3_column_int(st, 1) != 0;
    }
    sqlite3_finalize(st);
    if (step == SQLITE_DONE)
        return rg_db_sq_finish(c, rg_err_set(err, RG_ENOTFOUND, "no such job"), false, err);
    if (step != SQLITE_ROW) return rg_db_sq_finish(c, rg_db_sq_fail(c, err), false, err);
    if (cur == RG_DB_JOB_QUEUED) {
        rc = rg_db_sq_run(
            c,
            rg_db_sq_prep(c, err,
                          "UPDATE jobs SET state = 'cancelled', cancel_requested = 1,"
                          " error = 'cancelled', finished_at = ?2, updated_at = ?2, seq = seq + 1"
                          " WHERE id = ?1",
                          "ii", id, now),
            NULL, err);
        *state = RG_DB_JOB_CANCELLED;
    } else if (cur == RG_DB_JOB_RUNNING) {
        if (!asked)
            rc = rg_db_sq_run(
                c,
                rg_db_sq_prep(c, err,
                              "UPDATE jobs SET cancel_requested = 1, updated_at = ?2, seq = seq + 1"
                              " WHERE id = ?1",
                              "ii", id, now),
                NULL, err);
        *state = RG_DB_JOB_RUNNING;
    } else {
        *state = cur < 0 ? RG_DB_JOB_FAILED : (enum rg_db_job_state)cur;
        rc = rg_err_set(err, RG_ESTATE, "the job already ended (%s)", rg_db_job_state_name(*state));
    }
    return rg_db_sq_finish(c, rc, false, err);
}

int rg_db_sqlite_job_requeue_stale(void *conn, const char *worker, int64_t now, bool refund,
                                   int64_t *n, char *err)
{
    sqlite3 *c = conn;
    return rg_db_sq_run(
        c,
        rg_db_sq_prep(c, err,
                      "UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'cancelled'"
                      " WHEN ?3 = 0 AND attempts >= max_attempts THEN 'failed' ELSE 'queued' END,"
                      " error = CASE WHEN cancel_requested THEN 'cancelled'"
                      " WHEN ?3 = 0 AND attempts >= max_attempts"
                      " THEN 'interrupted: its worker stopped during the last attempt'"
                      " ELSE error END,"
                      " finished_at = CASE WHEN cancel_requested OR (?3 = 0 AND"
                      " attempts >= max_attempts) THEN ?2 ELSE NULL END,"
                      " attempts = CASE WHEN ?3 = 1 AND attempts > 0 THEN attempts - 1"
                      " ELSE attempts END,"
                      " worker = NULL, lease_until = NULL, run_after = ?2, updated_at = ?2,"
                      " progress = CASE WHEN cancel_requested THEN progress ELSE 0 END,"
                      " seq = seq + 1 WHERE state = 'running' AND"
                      " ((?1 IS NULL AND lease_until < ?2) OR worker = ?1)",
                      "sii", worker, now, (int64_t)(refund ? 1 : 0)),
        n, err);
}

int rg_db_sqlite_job_counts(void *conn, int64_t counts[RG_DB_JOB_N_STATES], char *err)
{
    sqlite3 *c = conn;
    sqlite3_stmt *st = rg_db_sq_prep(c, err, "SELECT state, count(*) FROM jobs GROUP BY state", "");
    if (!st) return RG_EIO;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int s = rg_db_job_state_parse(rg_db_sq_text(st, 0));
        if (s >= 0) counts[s] = sqlite3_column_int64(st, 1);
    }
    int rc = step == SQLITE_DONE ? RG_OK : rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    return rc;
}
