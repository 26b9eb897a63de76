/*
 * The job queue's storage on PostgreSQL (migration 3 and the job operations
 * of db_internal.h). The rules are PL/pgSQL functions in the database, so
 * every node sharing it applies the same ones in one round trip each:
 *
 *   job_enqueue        a new queued job
 *   job_claim          the next runnable job for a worker, FOR UPDATE SKIP
 *                      LOCKED (concurrent claimers skip each other's rows),
 *                      priority first, then age; expired leases count as
 *                      runnable (their node died)
 *   job_heartbeat      extends a lease, says whether a cancel was asked
 *   job_progress       progress + message, also a heartbeat
 *   job_finish         done (with result) or cancelled
 *   job_fail           retry with exponential back-off, or failed
 *   job_cancel         queued: cancelled now; running: cancel_requested
 *   job_requeue_stale  running jobs of a dead worker go back to queued
 *
 * Every write of a worker is fenced by (id, worker, attempts): a worker that
 * lost its lease changes nothing.
 */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db_internal.h"
#include "db/pg_internal.h"

#define FENCE                                                                                      \
    "x.id = p_id AND x.state = 'running' AND x.worker = p_worker AND x.attempts = p_attempt"

static const char M2_TABLE[] =
    "CREATE TABLE jobs ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " kind text NOT NULL,"
    " owner_id bigint REFERENCES users(id) ON DELETE CASCADE,"
    " state text NOT NULL DEFAULT 'queued'"
    "  CHECK (state IN ('queued','running','done','failed','cancelled')),"
    " priority int NOT NULL DEFAULT 0,"
    " progress double precision NOT NULL DEFAULT 0,"
    " message text NOT NULL DEFAULT '',"
    " attempts int NOT NULL DEFAULT 0,"
    " max_attempts int NOT NULL DEFAULT 3,"
    " payload text NOT NULL,"
    " result text,"
    " error text NOT NULL DEFAULT '',"
    " cancel_requested boolean NOT NULL DEFAULT false,"
    " worker text,"
    " lease_until bigint,"
    " seq bigint NOT NULL DEFAULT 1,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL,"
    " started_at bigint,"
    " finished_at bigint,"
    " run_after bigint NOT NULL);"
    "CREATE INDEX jobs_claim ON jobs(state, priority DESC, id);"
    "CREATE INDEX jobs_owner ON jobs(owner_id, id);";

static const char M2_ENQUEUE[] =
    "CREATE FUNCTION job_enqueue(p_kind text, p_owner bigint, p_priority int, p_max int,"
    " p_payload text, p_now bigint, p_after bigint) RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE v bigint;\n"
    "BEGIN\n"
    " INSERT INTO jobs(kind, owner_id, priority, max_attempts, payload, created_at, updated_at,\n"
    "  run_after) VALUES (p_kind, NULLIF(p_owner, 0), p_priority, p_max, p_payload, p_now, p_now,\n"
    "  GREATEST(p_after, p_now)) RETURNING id INTO v;\n"
    " RETURN v;\n"
    "END $f$;";

static const char M2_CLAIM[] =
    "CREATE FUNCTION job_claim(p_worker text, p_kinds text, p_now bigint, p_lease bigint)"
    " RETURNS SETOF jobs LANGUAGE plpgsql AS $f$\n"
    "DECLARE j jobs%ROWTYPE;\n"
    "BEGIN\n"
    " UPDATE jobs x SET state = CASE WHEN x.cancel_requested THEN 'cancelled' ELSE 'failed' END,\n"
    "  error = CASE WHEN x.cancel_requested THEN 'cancelled'\n"
    "  ELSE 'lease expired: worker ' || coalesce(x.worker, '') || ' stopped' END,\n"
    "  finished_at = p_now, updated_at = p_now, seq = x.seq + 1, worker = NULL, lease_until = "
    "NULL\n"
    "  WHERE x.id IN (SELECT y.id FROM jobs y WHERE y.state = 'running' AND y.lease_until < p_now\n"
    "  AND (y.cancel_requested OR y.attempts >= y.max_attempts) FOR UPDATE SKIP LOCKED);\n"
    " SELECT * INTO j FROM jobs x WHERE x.kind = ANY (string_to_array(p_kinds, ','))\n"
    "  AND ((x.state = 'queued' AND x.run_after <= p_now) OR (x.state = 'running' AND\n"
    "  x.lease_until < p_now AND NOT x.cancel_requested AND x.attempts < x.max_attempts))\n"
    "  ORDER BY x.priority DESC, x.id LIMIT 1 FOR UPDATE SKIP LOCKED;\n"
    " IF NOT FOUND THEN RETURN; END IF;\n"
    " UPDATE jobs x SET state = 'running', attempts = x.attempts + 1, worker = p_worker,\n"
    "  lease_until = p_now + p_lease, started_at = p_now, updated_at = p_now, progress = 0,\n"
    "  message = '', seq = x.seq + 1 WHERE x.id = j.id RETURNING * INTO j;\n"
    " RETURN NEXT j;\n"
    "END $f$;";

static const char M2_HEARTBEAT[] =
    "CREATE FUNCTION job_heartbeat(p_id bigint, p_worker text, p_attempt int, p_until bigint)"
    " RETURNS boolean LANGUAGE plpgsql AS $f$\n"
    "DECLARE v boolean;\n"
    "BEGIN\n"
    " UPDATE jobs x SET lease_until = p_until WHERE " FENCE "\n"
    "  RETURNING x.cancel_requested INTO v;\n"
    " RETURN v;\n"
    "END $f$;";

static const char M2_PROGRESS[] =
    "CREATE FUNCTION job_progress(p_id bigint, p_worker text, p_attempt int,"
    " p_progress double precision, p_message text, p_now bigint, p_until bigint)"
    " RETURNS boolean LANGUAGE plpgsql AS $f$\n"
    "DECLARE v boolean;\n"
    "BEGIN\n"
    " UPDATE jobs x SET progress = LEAST(GREATEST(p_progress, 0), 1), message = p_message,\n"
    "  updated_at = p_now, lease_until = p_until, seq = x.seq + 1 WHERE " FENCE "\n"
    "  RETURNING x.cancel_requested INTO v;\n"
    " RETURN v;\n"
    "END $f$;";

static const char M2_FINISH[] =
    "CREATE FUNCTION job_finish(p_id bigint, p_worker text, p_attempt int, p_state text,"
    " p_result text, p_now bigint) RETURNS boolean LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    " IF p_state NOT IN ('done', 'cancelled') THEN RAISE EXCEPTION 'bad final state %', p_state;\n"
    " END IF;\n"
    " UPDATE jobs x SET state = p_state,\n"
    "  result = CASE WHEN p_state = 'done' THEN p_result END,\n"
    "  progress = CASE WHEN p_state = 'done' THEN 1 ELSE x.progress END,\n"
    "  error = CASE WHEN p_state = 'done' THEN '' ELSE 'cancelled' END,\n"
    "  finished_at = p_now, updated_at = p_now, seq = x.seq + 1, worker = NULL, lease_until = "
    "NULL\n"
    "  WHERE " FENCE ";\n"
    " RETURN FOUND;\n"
    "END $f$;";

/* The back-off is min(base * 2^(attempts-1), max), as rg_db_job_backoff computes it. */
static const char M2_FAIL[] =
    "CREATE FUNCTION job_fail(p_id bigint, p_worker text, p_attempt int, p_error text,"
    " p_now bigint, p_backoff bigint, p_backoff_max bigint) RETURNS text"
    " LANGUAGE plpgsql AS $f$\n"
    "DECLARE j jobs%ROWTYPE; v_state text; v_delay bigint;\n"
    "BEGIN\n"
    " SELECT * INTO j FROM jobs x WHERE " FENCE " FOR UPDATE;\n"
    " IF NOT FOUND THEN RETURN NULL; END IF;\n"
    " v_state := CASE WHEN j.cancel_requested THEN 'cancelled'\n"
    "  WHEN j.attempts < j.max_attempts THEN 'queued' ELSE 'failed' END;\n"
    " v_delay := LEAST(p_backoff::double precision *\n"
    "  power(2::double precision, LEAST(GREATEST(j.attempts - 1, 0), 62)),\n"
    "  p_backoff_max::double precision)::bigint;\n"
    " UPDATE jobs x SET state = v_state, error = p_error, updated_at = p_now, seq = x.seq + 1,\n"
    "  worker = NULL, lease_until = NULL,\n"
    "  run_after = CASE WHEN v_state = 'queued' THEN p_now + v_delay ELSE x.run_after END,\n"
    "  finished_at = CASE WHEN v_state = 'queued' THEN NULL ELSE p_now END WHERE x.id = j.id;\n"
    " RETURN v_state;\n"
    "END $f$;";

static const char M2_CANCEL[] =
    "CREATE FUNCTION job_cancel(p_id bigint, p_owner bigint, p_now bigint)"
    " RETURNS TABLE(o_status text, o_state text) LANGUAGE plpgsql AS $f$\n"
    "DECLARE j jobs%ROWTYPE;\n"
    "BEGIN\n"
    " SELECT * INTO j FROM jobs x WHERE x.id = p_id AND (p_owner = 0 OR x.owner_id = p_owner)\n"
    "  FOR UPDATE;\n"
    " IF NOT FOUND THEN o_status := 'notfound'; RETURN NEXT; RETURN; END IF;\n"
    " IF j.state = 'queued' THEN\n"
    "  UPDATE jobs x SET state = 'cancelled', cancel_requested = true, error = 'cancelled',\n"
    "   finished_at = p_now, updated_at = p_now, seq = x.seq + 1 WHERE x.id = j.id;\n"
    "  o_status := 'ok'; o_state := 'cancelled';\n"
    " ELSIF j.state = 'running' THEN\n"
    "  IF NOT j.cancel_requested THEN\n"
    "   UPDATE jobs x SET cancel_requested = true, updated_at = p_now, seq = x.seq + 1\n"
    "    WHERE x.id = j.id;\n"
    "  END IF;\n"
    "  o_status := 'ok'; o_state := 'running';\n"
    " ELSE\n"
    "  o_status := 'ended'; o_state := j.state;\n"
    " END IF;\n"
    " RETURN NEXT;\n"
    "END $f$;";

static const char M2_REQUEUE_STALE[] =
    "CREATE FUNCTION job_requeue_stale(p_worker text, p_now bigint, p_refund boolean)"
    " RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "DECLARE n bigint;\n"
    "BEGIN\n"
    " UPDATE jobs x SET\n"
    "  state = CASE WHEN x.cancel_requested THEN 'cancelled'\n"
    "   WHEN NOT p_refund AND x.attempts >= x.max_attempts THEN 'failed' ELSE 'queued' END,\n"
    "  error = CASE WHEN x.cancel_requested THEN 'cancelled'\n"
    "   WHEN NOT p_refund AND x.attempts >= x.max_attempts\n"
    "   THEN 'interrupted: its worker stopped during the last attempt' ELSE x.error END,\n"
    "  finished_at = CASE WHEN x.cancel_requested OR (NOT p_refund AND\n"
    "   x.attempts >= x.max_attempts) THEN p_now END,\n"
    "  attempts = CASE WHEN p_refund AND x.attempts > 0 THEN x.attempts - 1 ELSE x.attempts END,\n"
    "  worker = NULL, lease_until = NULL, run_after = p_now, updated_at = p_now,\n"
    "  progress = CASE WHEN x.cancel_requested THEN x.progress ELSE 0 END, seq = x.seq + 1\n"
    "  WHERE x.state = 'running' AND ((p_worker IS NULL AND x.lease_until < p_now)\n"
    "  OR x.worker = p_worker);\n"
    " GET DIAGNOSTICS n = ROW_COUNT;\n"
    " RETURN n;\n"
    "END $f$;";

const char *const rg_db_pg_jobs_migration[] = {M2_TABLE,         M2_ENQUEUE, M2_CLAIM, M2_HEARTBEAT,
                                               M2_PROGRESS,      M2_FINISH,  M2_FAIL,  M2_CANCEL,
                                               M2_REQUEUE_STALE, NULL};

/* ---- statements ------------------------------------------------------------ */

#define JOB_COLS                                                                                   \
    "id, kind, coalesce(owner_id, 0), state, priority, progress, message, attempts,"               \
    " max_attempts, payload, result, error, cancel_requested, coalesce(worker, ''),"               \
    " coalesce(lease_until, 0), seq, created_at, updated_at, coalesce(started_at, 0),"             \
    " coalesce(finished_at, 0), run_after"

static int read_job(PGresult *r, int row, struct rg_db_job *j, char *err)
{
    j->id = rg_db_pg_ival(r, row, 0);
    rg_db_copy(j->kind, sizeof j->kind, rg_db_pg_val(r, row, 1));
    j->owner_id = rg_db_pg_ival(r, row, 2);
    int s = rg_db_job_state_parse(rg_db_pg_val(r, row, 3));
    j->state = s < 0 ? RG_DB_JOB_FAILED : (enum rg_db_job_state)s;
    j->priority = (int)rg_db_pg_ival(r, row, 4);
    j->progress = strtod(rg_db_pg_val(r, row, 5), NULL);
    rg_db_copy(j->message, sizeof j->message, rg_db_pg_val(r, row, 6));
    j->attempts = (int)rg_db_pg_ival(r, row, 7);
    j->max_attempts = (int)rg_db_pg_ival(r, row, 8);
    j->payload = rg_strdup(rg_db_pg_val(r, row, 9));
    bool has_result = !PQgetisnull(r, row, 10);
    j->result = has_result ? rg_strdup(rg_db_pg_val(r, row, 10)) : NULL;
    rg_db_copy(j->error, sizeof j->error, rg_db_pg_val(r, row, 11));
    j->cancel_requested = rg_db_pg_bval(r, row, 12);
    rg_db_copy(j->worker, sizeof j->worker, rg_db_pg_val(r, row, 13));
    j->lease_until = rg_db_pg_ival(r, row, 14);
    j->seq = rg_db_pg_ival(r, row, 15);
    j->created_at = rg_db_pg_ival(r, row, 16);
    j->updated_at = rg_db_pg_ival(r, row, 17);
    j->started_at = rg_db_pg_ival(r, row, 18);
    j->finished_at = rg_db_pg_ival(r, row, 19);
    j->run_after = rg_db_pg_ival(r, row, 20);
    if (!j->payload || (has_result && !j->result)) {
        rg_db_job_clear(j);
        return rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    return RG_OK;
}

/* The one job row of r (RG_ENOTFOUND if none); clears r. */
static int one_job(PGresult *r, int rc, struct rg_db_job *out, const char *none, char *err)
{
    if (!r) return rc;
    rc = PQntuples(r) == 0 ? rg_err_set(err, RG_ENOTFOUND, "%s", none) : read_job(r, 0, out, err);
    PQclear(r);
    return rc;
}

/* A boolean function result that is NULL when the lease was lost. */
static int fenced_flag(PGresult *r, int rc, bool *flag, char *err)
{
    if (!r) return rc;
    if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0))
        rc = rg_err_set(err, RG_ESTATE, "job lease lost");
    else
        *flag = rg_db_pg_bval(r, 0, 0);
    PQclear(r);
    return rc;
}

/* ---- operations ------------------------------------------------------------ */

int rg_db_pg_job_enqueue(void *conn, const struct rg_db_job_new *n, int64_t *id, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT job_enqueue($1, $2, $3, $4, $5, $6, $7)",
                                 "siiisii", n->kind, n->owner_id, (int64_t)n->priority,
                                 (int64_t)n->max_attempts, n->payload, n->now, n->run_after);
    if (!r) return rc;
    *id = rg_db_pg_ival(r, 0, 0);
    PQclear(r);
    return RG_OK;
}

int rg_db_pg_job_get(void *conn, int64_t id, struct rg_db_job *out, char *err)
{
    int rc;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err, "SELECT " JOB_COLS " FROM jobs WHERE id = $1", "i", id);
    return one_job(r, rc, out, "no such job", err);
}

int rg_db_pg_job_list(void *conn, int64_t owner, int limit, struct rg_db_job **out, size_t *n,
                      char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT " JOB_COLS " FROM jobs WHERE ($1 = 0 OR owner_id = $1)"
                                 " ORDER BY id DESC LIMIT $2",
                                 "ii", owner, (int64_t)limit);
    if (!r) return rc;
    int rows = PQntuples(r);
    struct rg_db_job *v = rows ? rg_calloc((size_t)rows, sizeof *v) : NULL;
    if (rows && !v) {
        PQclear(r);
        return rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    for (int i = 0; i < rows; i++) {
        if ((rc = read_job(r, i, &v[i], err))) {
            rg_db_job_list_free(v, (size_t)i);
            PQclear(r);
            return rc;
        }
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return RG_OK;
}

int rg_db_pg_job_claim(void *conn, const char *worker, const char *kinds, int64_t now, int lease_ms,
                       struct rg_db_job *out, char *err)
{
    int rc;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err, "SELECT " JOB_COLS " FROM job_claim($1, $2, $3, $4)", "ssii",
                       worker, kinds, now, (int64_t)lease_ms);
    return one_job(r, rc, out, "no job to run", err);
}

int rg_db_pg_job_heartbeat(void *conn, int64_t id, const char *worker, int attempt, int64_t now,
                           int lease_ms, bool *cancel, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT job_heartbeat($1, $2, $3, $4)", "isii", id,
                                 worker, (int64_t)attempt, now + lease_ms);
    return fenced_flag(r, rc, cancel, err);
}

int rg_db_pg_job_progress(void *conn, int64_t id, const char *worker, int attempt, double progress,
                          const char *message, int64_t now, int lease_ms, bool *cancel, char *err)
{
    int rc;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err, "SELECT job_progress($1, $2, $3, $4, $5, $6, $7)", "isidsii",
                       id, worker, (int64_t)attempt, progress, message, now, now + lease_ms);
    return fenced_flag(r, rc, cancel, err);
}

int rg_db_pg_job_finish(void *conn, int64_t id, const char *worker, int attempt,
                        enum rg_db_job_state state, const char *result, int64_t now, char *err)
{
    int rc;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err, "SELECT job_finish($1, $2, $3, $4, $5, $6)", "isissi", id,
                       worker, (int64_t)attempt, rg_db_job_state_name(state), result, now);
    bool found = false;
    rc = fenced_flag(r, rc, &found, err);
    if (!rc && !found) rc = rg_err_set(err, RG_ESTATE, "job lease lost");
    return rc;
}

int rg_db_pg_job_fail(void *conn, int64_t id, const char *worker, int attempt, const char *error,
                      int64_t now, int64_t backoff_ms, int64_t backoff_max_ms,
                      enum rg_db_job_state *state, char *err)
{
    int rc;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err, "SELECT job_fail($1, $2, $3, $4, $5, $6, $7)", "isisiii", id,
                       worker, (int64_t)attempt, error, now, backoff_ms, backoff_max_ms);
    if (!r) return rc;
    int s = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)
                ? rg_db_job_state_parse(rg_db_pg_val(r, 0, 0))
                : -1;
    PQclear(r);
    if (s < 0) return rg_err_set(err, RG_ESTATE, "job lease lost");
    *state = (enum rg_db_job_state)s;
    return RG_OK;
}

int rg_db_pg_job_cancel(void *conn, int64_t id, int64_t owner, int64_t now,
                        enum rg_db_job_state *state, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT * FROM job_cancel($1, $2, $3)", "iii", id,
                                 owner, now);
    if (!r) return rc;
    const char *status = PQntuples(r) == 1 ? rg_db_pg_val(r, 0, 0) : "";
    int s = rg_db_job_state_parse(PQntuples(r) == 1 ? rg_db_pg_val(r, 0, 1) : "");
    if (s >= 0) *state = (enum rg_db_job_state)s;
    if (!strcmp(status, "ok") && s >= 0)
        rc = RG_OK;
    else if (!strcmp(status, "ended") && s >= 0)
        rc = rg_err_set(err, RG_ESTATE, "the job already ended (%s)", rg_db_job_state_name(*state));
    else if (!strcmp(status, "notfound"))
        rc = rg_err_set(err, RG_ENOTFOUND, "no such job");
    else
        rc = rg_err_set(err, RG_EIO, "postgres: job_cancel() said '%.20s'", status);
    PQclear(r);
    return rc;
}

int rg_db_pg_job_requeue_stale(void *conn, const char *worker, int64_t now, bool refund, int64_t *n,
                               char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT job_requeue_stale($1, $2, $3)", "sib",
                                 worker, now, (int)refund);
    if (!r) return rc;
    *n = rg_db_pg_ival(r, 0, 0);
    PQclear(r);
    return RG_OK;
}

int rg_db_pg_job_counts(void *conn, int64_t counts[RG_DB_JOB_N_STATES], char *err)
{
    int rc;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err, "SELECT state, count(*) FROM jobs GROUP BY state", "");
    if (!r) return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        int s = rg_db_job_state_parse(rg_db_pg_val(r, i, 0));
        if (s >= 0) counts[s] = rg_db_pg_ival(r, i, 1);
    }
    PQclear(r);
    return RG_OK;
}
