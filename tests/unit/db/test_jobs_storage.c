/*
 * The job queue's storage (the "background jobs" part of src/db/db.h), run
 * against SQLite and then PostgreSQL, each test on a fresh database: claim
 * order, concurrent claimers, retries with back-off, lease expiry and
 * fencing, cancellation, stale requeue, progress, bad input.
 *
 * PostgreSQL as in test_storage.c: PGHOST (pg_virtualenv) or RG_TEST_PG_URL;
 * RG_REQUIRE_PG=1 makes its absence a failure.
 */
#include "storage_fixture.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "common/alloc.h"
#include "db/db.h"
#include "db/db_internal.h" /* rg_db_job_backoff */

/* ---- helpers ----------------------------------------------------------------- */

static int64_t enqueue(struct rg_db *db, const char *kind, int64_t owner, int priority,
                       int max_attempts, int64_t run_after, int64_t now)
{
    char err[RG_ERR_SIZE] = "";
    struct rg_db_job_new n = {.kind = kind,
                              .owner_id = owner,
                              .payload = "{\"x\":1}",
                              .priority = priority,
                              .max_attempts = max_attempts,
                              .run_after = run_after,
                              .now = now};
    int64_t id = 0;
    int rc = rg_db_job_enqueue(db, &n, &id, err);
    if (rc) fail_msg("enqueue %s: %d %s", kind, rc, err);
    assert_true(id > 0);
    return id;
}

/* Claims for worker at now; the id claimed, or 0 when there was nothing. */
static int64_t claim(struct rg_db *db, const char *worker, const char *kinds, int64_t now,
                     int lease_ms, struct rg_db_job *out)
{
    char err[RG_ERR_SIZE] = "";
    struct rg_db_job tmp;
    if (!out) out = &tmp;
    int rc = rg_db_job_claim(db, worker, kinds, now, lease_ms, out, err);
    if (rc == RG_ENOTFOUND) return 0;
    if (rc) fail_msg("claim: %d %s", rc, err);
    int64_t id = out->id;
    assert_int_equal(out->state, RG_DB_JOB_RUNNING);
    assert_string_equal(out->worker, worker);
    if (out == &tmp) rg_db_job_clear(&tmp);
    return id;
}

static struct rg_db_job get(struct rg_db *db, int64_t id)
{
    char err[RG_ERR_SIZE] = "";
    struct rg_db_job j;
    int rc = rg_db_job_get(db, id, &j, err);
    if (rc) fail_msg("get %lld: %d %s", (long long)id, rc, err);
    return j;
}

/* The job's scalar fields (payload and result freed). */
static struct rg_db_job peek(struct rg_db *db, int64_t id)
{
    struct rg_db_job j = get(db, id);
    rg_db_job_clear(&j);
    return j;
}

static enum rg_db_job_state state_of(struct rg_db *db, int64_t id)
{
    struct rg_db_job j = get(db, id);
    rg_db_job_clear(&j);
    return j.state;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_enqueue_get_list(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL), b = mkuser(f->db, "b@x.org", NULL, NULL);
    int64_t j1 = enqueue(f->db, "test.count", a, 0, 3, 0, 5000);
    int64_t j2 = enqueue(f->db, "test.count", b, 0, 3, 0, 5001);
    int64_t j3 = enqueue(f->db, "index.file", 0, 0, 3, 0, 5002); /* the system's */
    struct rg_db_job j = get(f->db, j1);
    assert_string_equal(j.kind, "test.count");
    assert_int_equal(j.owner_id, a);
    assert_int_equal(j.state, RG_DB_JOB_QUEUED);
    assert_string_equal(j.payload, "{\"x\":1}");
    assert_null(j.result);
    assert_int_equal(j.attempts, 0);
    assert_int_equal(j.max_attempts, 3);
    assert_int_equal(j.created_at, 5000);
    assert_int_equal(j.run_after, 5000); /* 0 means now */
    assert_int_equal(j.started_at, 0);
    rg_db_job_clear(&j);
    assert_int_equal(peek(f->db, j3).owner_id, 0);

    struct rg_db_job *v;
    size_t n;
    assert_int_equal(rg_db_job_list(f->db, a, 100, &v, &n, err), RG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, j1);
    rg_db_job_list_free(v, n);
    assert_int_equal(rg_db_job_list(f->db, 0, 100, &v, &n, err), RG_OK);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].id, j3); /* newest first */
    assert_int_equal(v[2].id, j1);
    rg_db_job_list_free(v, n);
    assert_int_equal(rg_db_job_list(f->db, 0, 2, &v, &n, err), RG_OK);
    assert_int_equal(n, 2);
    rg_db_job_list_free(v, n);
    (void)j2;

    int64_t counts[RG_DB_JOB_N_STATES];
    assert_int_equal(rg_db_job_counts(f->db, counts, err), RG_OK);
    assert_int_equal(counts[RG_DB_JOB_QUEUED], 3);
    assert_int_equal(counts[RG_DB_JOB_RUNNING], 0);
    assert_int_equal(rg_db_job_get(f->db, 999999, &j, err), RG_ENOTFOUND);
}

static void test_bad_input(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL), id = -1;
    struct rg_db_job_new n = {
        .kind = "Bad Kind", .owner_id = a, .payload = "{}", .max_attempts = 3, .now = 1};
    assert_int_equal(rg_db_job_enqueue(f->db, &n, &id, err), RG_EINVAL);
    n.kind = "x'; DROP TABLE jobs; --";
    assert_int_equal(rg_db_job_enqueue(f->db, &n, &id, err), RG_EINVAL);
    n.kind = "ok.kind";
    n.max_attempts = 0;
    assert_int_equal(rg_db_job_enqueue(f->db, &n, &id, err), RG_EINVAL);
    n.max_attempts = 3;
    n.priority = 5000;
    assert_int_equal(rg_db_job_enqueue(f->db, &n, &id, err), RG_EINVAL);
    n.priority = 0;
    n.payload = NULL;
    assert_int_equal(rg_db_job_enqueue(f->db, &n, &id, err), RG_EINVAL);
    n.payload = "{}";
    n.owner_id = 424242; /* no such user */
    assert_int_equal(rg_db_job_enqueue(f->db, &n, &id, err), RG_ENOTFOUND);
    assert_int_equal(id, 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM jobs"), 0); /* nothing stored */
    struct rg_db_job j;
    assert_int_equal(rg_db_job_claim(f->db, "w", "a,,b", 1, 1000, &j, err), RG_EINVAL);
    assert_int_equal(rg_db_job_claim(f->db, "w", "A", 1, 1000, &j, err), RG_EINVAL);
    assert_int_equal(rg_db_job_claim(f->db, "", "a", 1, 1000, &j, err), RG_EINVAL);
}

static void test_claim_order(void **state)
{
    struct fx *f = *state;
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t low1 = enqueue(f->db, "k", a, 0, 3, 0, 100);
    int64_t high = enqueue(f->db, "k", a, 5, 3, 0, 101);
    int64_t low2 = enqueue(f->db, "k", a, 0, 3, 0, 102);
    int64_t other = enqueue(f->db, "other", a, 9, 3, 0, 103);
    int64_t later = enqueue(f->db, "k", a, 9, 3, 5000, 104); /* not before 5000 */
    struct rg_db_job j;
    assert_int_equal(claim(f->db, "w1", "k", 200, 1000, &j), high);
    assert_int_equal(j.attempts, 1);
    assert_int_equal(j.started_at, 200);
    assert_int_equal(j.lease_until, 1200);
    rg_db_job_clear(&j);
    assert_int_equal(claim(f->db, "w1", "k", 200, 1000, NULL), low1);
    assert_int_equal(claim(f->db, "w1", "k", 200, 1000, NULL), low2);
    assert_int_equal(claim(f->db, "w1", "k", 200, 1000, NULL),
                     0); /* `later` waits, `other` is not ours */
    assert_int_equal(claim(f->db, "w1", "k,other", 300, 1000, NULL), other);
    assert_int_equal(claim(f->db, "w1", "k", 5000, 100000, NULL), later);
    assert_int_equal(state_of(f->db, later), RG_DB_JOB_RUNNING);
}

struct racer {
    struct rg_db *db;
    char worker[16];
    int64_t got[64];
    int n;
};

static void *race_claim(void *arg)
{
    struct racer *r = arg;
    char err[RG_ERR_SIZE];
    for (;;) {
        struct rg_db_job j;
        int rc = rg_db_job_claim(r->db, r->worker, "k", 1000, 60000, &j, err);
        if (rc == RG_ENOTFOUND) break;
        if (rc == RG_EBUSY) continue;
        if (rc) {
            fprintf(stderr, "claim: %s\n", err);
            break;
        }
        if (r->n < 64) r->got[r->n++] = j.id;
        rg_db_job_clear(&j);
    }
    return NULL;
}

static void test_concurrent_claimers(void **state)
{
    struct fx *f = *state;
    enum { JOBS = 40, N = 4 };
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    for (int i = 0; i < JOBS; i++)
        enqueue(f->db, "k", a, 0, 3, 0, 100 + i);
    struct racer r[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].db = f->db;
        snprintf(r[i].worker, sizeof r[i].worker, "w%d", i);
        pthread_create(&t[i], NULL, race_claim, &r[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    int total = 0;
    bool seen[JOBS + 1] = {false};
    for (int i = 0; i < N; i++) {
        total += r[i].n;
        for (int k = 0; k < r[i].n; k++) {
            int64_t id = r[i].got[k];
            assert_true(id >= 1 && id <= JOBS);
            if (seen[id]) fail_msg("job %lld claimed twice", (long long)id);
            seen[id] = true;
        }
    }
    assert_int_equal(total, JOBS);
    assert_int_equal(
        raw_int(f, "SELECT count(*) FROM jobs WHERE state = 'running' AND attempts = 1"), JOBS);
}

static void test_retry_backoff(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t id = enqueue(f->db, "k", a, 0, 3, 0, 1000);
    enum rg_db_job_state st;
    assert_int_equal(claim(f->db, "w", "k", 1000, 500, NULL), id);
    assert_int_equal(rg_db_job_fail(f->db, id, "w", 1, "boom 1", 1000, 100, 10000, &st, err),
                     RG_OK);
    assert_int_equal(st, RG_DB_JOB_QUEUED);
    struct rg_db_job j = get(f->db, id);
    assert_int_equal(j.run_after, 1100); /* 100 * 2^0 */
    assert_string_equal(j.error, "boom 1");
    assert_string_equal(j.worker, "");
    rg_db_job_clear(&j);
    /* the stale worker's writes no longer count */
    assert_int_equal(rg_db_job_finish(f->db, id, "w", 1, RG_DB_JOB_DONE, "{}", 1001, err),
                     RG_ESTATE);
    assert_int_equal(claim(f->db, "w", "k", 1099, 500, NULL), 0); /* backing off */
    assert_int_equal(claim(f->db, "w", "k", 1100, 500, NULL), id);
    assert_int_equal(rg_db_job_fail(f->db, id, "w", 2, "boom 2", 1100, 100, 10000, &st, err),
                     RG_OK);
    assert_int_equal(st, RG_DB_JOB_QUEUED);
    j = get(f->db, id);
    assert_int_equal(j.run_after, 1300); /* 100 * 2^1 */
    assert_int_equal(j.attempts, 2);
    rg_db_job_clear(&j);
    assert_int_equal(claim(f->db, "w", "k", 1300, 500, &j), id);
    assert_int_equal(j.attempts, 3);
    rg_db_job_clear(&j);
    assert_int_equal(rg_db_job_fail(f->db, id, "w", 3, "boom\n3", 1400, 100, 10000, &st, err),
                     RG_OK);
    assert_int_equal(st, RG_DB_JOB_FAILED);
    j = get(f->db, id);
    assert_int_equal(j.state, RG_DB_JOB_FAILED);
    assert_string_equal(j.error, "boom 3"); /* control characters flattened */
    assert_int_equal(j.finished_at, 1400);
    rg_db_job_clear(&j);
    assert_int_equal(claim(f->db, "w", "k", 99999, 500, NULL), 0);
    /* the back-off is capped */
    assert_int_equal(rg_db_job_backoff(1, 100, 10000), 100);
    assert_int_equal(rg_db_job_backoff(4, 100, 10000), 800);
    assert_int_equal(rg_db_job_backoff(40, 100, 10000), 10000);
    assert_int_equal(rg_db_job_backoff(200, 1000, INT64_MAX), INT64_MAX);

    /* and a success after a retry keeps its result */
    int64_t id2 = enqueue(f->db, "k", a, 0, 2, 0, 2000);
    assert_int_equal(claim(f->db, "w", "k", 2000, 500, NULL), id2);
    assert_int_equal(rg_db_job_fail(f->db, id2, "w", 1, "x\xffy", 2000, 0, 0, &st, err), RG_OK);
    j = get(f->db, id2);
    assert_string_equal(j.error, "x"); /* cut before invalid UTF-8: the API's JSON stays valid */
    rg_db_job_clear(&j);
    assert_int_equal(claim(f->db, "w", "k", 2000, 500, NULL), id2);
    assert_int_equal(rg_db_job_finish(f->db, id2, "w", 2, RG_DB_JOB_DONE, "{\"n\":2}", 2100, err),
                     RG_OK);
    j = get(f->db, id2);
    assert_int_equal(j.state, RG_DB_JOB_DONE);
    assert_string_equal(j.result, "{\"n\":2}");
    assert_true(j.progress == 1.0);
    assert_string_equal(j.error, "");
    rg_db_job_clear(&j);
    assert_int_equal(rg_db_job_finish(f->db, id2, "w", 2, RG_DB_JOB_DONE, "{}", 2200, err),
                     RG_ESTATE); /* finishes once */
}

static void test_lease_expiry(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    bool cancel = true;
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t id = enqueue(f->db, "k", a, 0, 3, 0, 0);
    assert_int_equal(claim(f->db, "node1", "k", 1000, 1000, NULL), id);
    assert_int_equal(rg_db_job_heartbeat(f->db, id, "node1", 1, 1500, 1000, &cancel, err), RG_OK);
    assert_false(cancel);
    assert_int_equal(claim(f->db, "node2", "k", 2400, 1000, NULL), 0);  /* lease held to 2500 */
    assert_int_equal(claim(f->db, "node2", "k", 2501, 1000, NULL), id); /* node1 died */
    assert_int_equal(peek(f->db, id).attempts, 2);
    assert_int_equal(rg_db_job_heartbeat(f->db, id, "node1", 1, 2600, 1000, &cancel, err),
                     RG_ESTATE);
    assert_int_equal(rg_db_job_progress(f->db, id, "node1", 1, 0.5, "x", 2600, 1000, &cancel, err),
                     RG_ESTATE);
    assert_int_equal(rg_db_job_finish(f->db, id, "node1", 1, RG_DB_JOB_DONE, "{}", 2600, err),
                     RG_ESTATE);
    assert_int_equal(rg_db_job_finish(f->db, id, "node2", 2, RG_DB_JOB_DONE, "{}", 2700, err),
                     RG_OK);
    assert_int_equal(state_of(f->db, id), RG_DB_JOB_DONE);

    /* an expired lease on a job with no attempts left ends it failed */
    int64_t once = enqueue(f->db, "k", a, 0, 1, 0, 0);
    assert_int_equal(claim(f->db, "node1", "k", 3000, 1000, NULL), once);
    assert_int_equal(claim(f->db, "node2", "k", 4001, 1000, NULL), 0);
    struct rg_db_job j = get(f->db, once);
    assert_int_equal(j.state, RG_DB_JOB_FAILED);
    assert_non_null(strstr(j.error, "lease expired"));
    rg_db_job_clear(&j);
}

static void test_cancel(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    enum rg_db_job_state st;
    bool cancel = false;
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL), b = mkuser(f->db, "b@x.org", NULL, NULL);
    int64_t q = enqueue(f->db, "k", a, 0, 3, 0, 0);
    int64_t r = enqueue(f->db, "k", a, 0, 3, 0, 0);
    /* another owner cannot touch it, nor learn that it exists */
    assert_int_equal(rg_db_job_cancel(f->db, q, b, 10, &st, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_job_cancel(f->db, 424242, 0, 10, &st, err), RG_ENOTFOUND);
    assert_int_equal(state_of(f->db, q), RG_DB_JOB_QUEUED);
    assert_int_equal(rg_db_job_cancel(f->db, q, a, 10, &st, err), RG_OK);
    assert_int_equal(st, RG_DB_JOB_CANCELLED);
    assert_int_equal(state_of(f->db, q), RG_DB_JOB_CANCELLED);
    assert_int_equal(claim(f->db, "w", "k", 20, 1000, NULL), r); /* the cancelled one is skipped */
    assert_int_equal(rg_db_job_cancel(f->db, r, 0, 30, &st, err), RG_OK); /* an admin's */
    assert_int_equal(st, RG_DB_JOB_RUNNING);
    assert_int_equal(rg_db_job_progress(f->db, r, "w", 1, 0.25, "step", 40, 1000, &cancel, err),
                     RG_OK);
    assert_true(cancel);
    cancel = false;
    assert_int_equal(rg_db_job_heartbeat(f->db, r, "w", 1, 40, 1000, &cancel, err), RG_OK);
    assert_true(cancel);
    assert_int_equal(rg_db_job_finish(f->db, r, "w", 1, RG_DB_JOB_CANCELLED, NULL, 50, err), RG_OK);
    assert_int_equal(state_of(f->db, r), RG_DB_JOB_CANCELLED);
    assert_int_equal(rg_db_job_cancel(f->db, r, a, 60, &st, err), RG_ESTATE);
    assert_int_equal(st, RG_DB_JOB_CANCELLED);
    /* a failure after a cancel was asked ends cancelled, not retried */
    int64_t s = enqueue(f->db, "k", a, 0, 3, 0, 0);
    assert_int_equal(claim(f->db, "w", "k", 100, 1000, NULL), s);
    assert_int_equal(rg_db_job_cancel(f->db, s, a, 110, &st, err), RG_OK);
    assert_int_equal(rg_db_job_fail(f->db, s, "w", 1, "stopped", 120, 100, 1000, &st, err), RG_OK);
    assert_int_equal(st, RG_DB_JOB_CANCELLED);
    assert_int_equal(claim(f->db, "w", "k", 100000, 1000, NULL), 0);
}

static void test_requeue_stale(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t n = -1;
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t id = enqueue(f->db, "k", a, 0, 2, 0, 0);
    int64_t other = enqueue(f->db, "k", a, 0, 2, 0, 0);
    assert_int_equal(claim(f->db, "node1", "k", 100, 60000, NULL), id);
    assert_int_equal(claim(f->db, "node2", "k", 100, 60000, NULL), other);
    /* node1 restarts: its running job goes back, the attempt counted */
    assert_int_equal(rg_db_job_requeue_stale(f->db, "node1", 200, false, &n, err), RG_OK);
    assert_int_equal(n, 1);
    struct rg_db_job j = get(f->db, id);
    assert_int_equal(j.state, RG_DB_JOB_QUEUED);
    assert_int_equal(j.attempts, 1);
    rg_db_job_clear(&j);
    assert_int_equal(state_of(f->db, other), RG_DB_JOB_RUNNING); /* node2's is left alone */
    /* a clean shutdown gives the attempt back */
    assert_int_equal(claim(f->db, "node1", "k", 300, 60000, NULL), id);
    assert_int_equal(rg_db_job_requeue_stale(f->db, "node1", 400, true, &n, err), RG_OK);
    j = get(f->db, id);
    assert_int_equal(j.state, RG_DB_JOB_QUEUED);
    assert_int_equal(j.attempts, 1);
    rg_db_job_clear(&j);
    /* the last attempt interrupted by a crash ends the job failed */
    assert_int_equal(claim(f->db, "node1", "k", 500, 60000, NULL), id);
    assert_int_equal(rg_db_job_requeue_stale(f->db, "node1", 600, false, &n, err), RG_OK);
    j = get(f->db, id);
    assert_int_equal(j.state, RG_DB_JOB_FAILED);
    assert_non_null(strstr(j.error, "interrupted"));
    rg_db_job_clear(&j);
    /* NULL: every expired lease */
    assert_int_equal(rg_db_job_requeue_stale(f->db, NULL, 1000, false, &n, err), RG_OK);
    assert_int_equal(n, 0);
    assert_int_equal(rg_db_job_requeue_stale(f->db, NULL, 70000, false, &n, err), RG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(state_of(f->db, other), RG_DB_JOB_QUEUED);
}

static void test_progress_seq(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    bool cancel = true;
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t id = enqueue(f->db, "k", a, 0, 3, 0, 0);
    int64_t s0 = peek(f->db, id).seq;
    assert_int_equal(claim(f->db, "w", "k", 10, 1000, NULL), id);
    int64_t s1 = peek(f->db, id).seq;
    assert_true(s1 > s0);
    assert_int_equal(rg_db_job_progress(f->db, id, "w", 1, 0.5, "half way", 20, 1000, &cancel, err),
                     RG_OK);
    assert_false(cancel);
    struct rg_db_job j = get(f->db, id);
    assert_true(j.seq > s1);
    assert_true(j.progress == 0.5);
    assert_string_equal(j.message, "half way");
    assert_int_equal(j.updated_at, 20);
    assert_int_equal(j.lease_until, 1020);
    rg_db_job_clear(&j);
    assert_int_equal(rg_db_job_progress(f->db, id, "w", 1, 7.0, "", 30, 1000, &cancel, err), RG_OK);
    j = get(f->db, id);
    assert_true(j.progress == 1.0); /* clamped */
    int64_t s2 = j.seq;
    rg_db_job_clear(&j);
    /* a heartbeat is not a visible change */
    assert_int_equal(rg_db_job_heartbeat(f->db, id, "w", 1, 40, 1000, &cancel, err), RG_OK);
    assert_int_equal(peek(f->db, id).seq, s2);
    int64_t counts[RG_DB_JOB_N_STATES];
    assert_int_equal(rg_db_job_counts(f->db, counts, err), RG_OK);
    assert_int_equal(counts[RG_DB_JOB_RUNNING], 1);
}

#define SUITE(x)                                                                                   \
    cmocka_unit_test_setup_teardown(test_enqueue_get_list, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),                          \
        cmocka_unit_test_setup_teardown(test_claim_order, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(test_concurrent_claimers, setup, teardown),                \
        cmocka_unit_test_setup_teardown(test_retry_backoff, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_lease_expiry, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_requeue_stale, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_progress_seq, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {SUITE(x)};
    g_backend = SQLITE;
    int failed = cmocka_run_group_tests_name("jobs_storage/sqlite", tests, NULL, NULL);

    int pg = fx_pg_find("jobs_storage");
    if (pg <= 0) return failed + (pg < 0 ? 1 : 0);
    g_backend = PG;
    const struct CMUnitTest pg_tests[] = {SUITE(x)};
    failed += cmocka_run_group_tests_name("jobs_storage/postgres", pg_tests, NULL, NULL);
    return failed;
}
