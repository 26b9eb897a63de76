/*
 * The job queue (src/jobs) over a real SQLite database: registration rules,
 * submit checks that store nothing, a run followed by a watch, a local
 * cancel of a running job, retries, a stop that gives the attempt back, and
 * a lost lease that stops the run and lets the job finish once. (The
 * storage rules themselves, on both backends: tests/unit/db.)
 */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "jobs/jobs.h"

static char g_path[128];
static int g_seq;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct fx {
    struct rg_db *db;
    struct rg_jobs *q;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(g_path, sizeof g_path, "/tmp/rg_test_jobs_%d_%d.db", (int)getpid(), ++g_seq);
    unlink(g_path);
    char url[160], err[RG_ERR_SIZE] = "";
    snprintf(url, sizeof url, "sqlite:%s", g_path);
    struct rg_db_params p;
    rg_db_default_params(&p);
    p.url = url;
    f->db = rg_db_open(&p, err);
    if (!f->db) fail_msg("open: %s", err);
    if (rg_db_migrate(f->db, NULL, err) != RG_OK) fail_msg("migrate: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rg_jobs_free(f->q);
    rg_db_close(f->db);
    char p[160];
    unlink(g_path);
    snprintf(p, sizeof p, "%s-wal", g_path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", g_path);
    unlink(p);
    free(f);
    return 0;
}

static struct rg_jobs *queue(struct fx *f, int workers, int lease_ms, int64_t backoff_ms)
{
    struct rg_jobs_params p;
    rg_jobs_default_params(&p);
    p.node = "test-node";
    p.workers = workers;
    p.lease_ms = lease_ms;
    p.backoff_ms = backoff_ms;
    p.poll_ms = 20;
    p.watch_ms = 20;
    char err[RG_ERR_SIZE] = "";
    f->q = rg_jobs_init(&p, f->db, err);
    if (!f->q) fail_msg("init: %s", err);
    return f->q;
}

/* What the test kinds share with the test. */
struct probe {
    atomic_int runs, saw_cancel, fail_first;
    atomic_int last_attempt;
};

/* Loops until told to stop (or 20 s); attempt 2 and later return at once. */
static int run_until_stopped(struct rg_job_ctx *ctx, const json_t *payload, json_t **result,
                             char *err)
{
    (void)payload;
    struct probe *p = rg_job_user(ctx);
    atomic_fetch_add(&p->runs, 1);
    atomic_store(&p->last_attempt, rg_job_attempt(ctx));
    if (rg_job_attempt(ctx) == 1) {
        for (int i = 0; i < 2000; i++) {
            if (rg_job_cancelled(ctx)) {
                atomic_fetch_add(&p->saw_cancel, 1);
                return RG_ECANCELED;
            }
            sleep_ms(10);
        }
        return rg_err_set(err, RG_ETIMEOUT, "never stopped");
    }
    *result = json_pack("{s:i}", "attempt", rg_job_attempt(ctx));
    return RG_OK;
}

/* Three steps with progress; fails its first fail_first attempts. */
static int run_steps(struct rg_job_ctx *ctx, const json_t *payload, json_t **result, char *err)
{
    (void)payload;
    struct probe *p = rg_job_user(ctx);
    atomic_fetch_add(&p->runs, 1);
    if (rg_job_attempt(ctx) <= atomic_load(&p->fail_first))
        return rg_err_set(err, RG_EIO, "planned failure %d", rg_job_attempt(ctx));
    for (int i = 1; i <= 3; i++) {
        sleep_ms(30);
        char msg[32];
        snprintf(msg, sizeof msg, "step %d", i);
        if (rg_job_progress(ctx, i / 3.0, msg) != RG_OK) return RG_ECANCELED;
    }
    *result = json_pack("{s:i}", "attempt", rg_job_attempt(ctx));
    return RG_OK;
}

static int check_object(const json_t *payload, void *user, char *err)
{
    (void)user;
    return json_is_object(payload) ? RG_OK : rg_err_set(err, RG_EINVAL, "want an object");
}

static void add_kind(struct rg_jobs *q, const char *name, rg_job_run_fn run, struct probe *p)
{
    char err[RG_ERR_SIZE] = "";
    struct rg_job_kind k = {.name = name, .run = run, .check = check_object, .user = p};
    if (rg_jobs_register(q, &k, err) != RG_OK) fail_msg("register %s: %s", name, err);
}

static int64_t submit(struct rg_jobs *q, const char *kind)
{
    char err[RG_ERR_SIZE] = "";
    json_t *payload = json_object();
    int64_t id = 0;
    int rc = rg_jobs_submit(q, kind, 0, payload, 0, 3, &id, err);
    json_decref(payload);
    if (rc) fail_msg("submit: %s", err);
    return id;
}

/* Waits (up to 20 s) for the job to reach state; its attempts. */
static int wait_state(struct fx *f, int64_t id, enum rg_db_job_state st)
{
    for (int i = 0; i < 2000; i++) {
        struct rg_db_job j;
        char err[RG_ERR_SIZE];
        assert_int_equal(rg_jobs_get(f->q, id, 0, &j, err), RG_OK);
        rg_db_job_clear(&j);
        if (j.state == st) return j.attempts;
        sleep_ms(10);
    }
    fail_msg("job %lld never reached %s", (long long)id, rg_db_job_state_name(st));
    return -1;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_register(void **state)
{
    struct fx *f = *state;
    struct rg_jobs *q = queue(f, 1, 30000, 1000);
    char err[RG_ERR_SIZE];
    struct probe p = {0};
    struct rg_job_kind k = {.name = "Bad Name", .run = run_steps};
    assert_int_equal(rg_jobs_register(q, &k, err), RG_EINVAL);
    k.name = "ok";
    k.run = NULL;
    assert_int_equal(rg_jobs_register(q, &k, err), RG_EINVAL);
    add_kind(q, "steps", run_steps, &p);
    k.run = run_steps;
    k.name = "steps";
    assert_int_equal(rg_jobs_register(q, &k, err), RG_EEXISTS);
    assert_non_null(rg_jobs_kind(q, "steps"));
    assert_null(rg_jobs_kind(q, "other"));
    assert_int_equal(rg_jobs_start(q, err), RG_OK);
    k.name = "late";
    assert_int_equal(rg_jobs_register(q, &k, err), RG_ESTATE);
    assert_int_equal(rg_jobs_start(q, err), RG_ESTATE);
    struct rg_jobs_params bad;
    rg_jobs_default_params(&bad);
    assert_null(rg_jobs_init(&bad, f->db, err)); /* no node name */
}

static void test_submit_checks(void **state)
{
    struct fx *f = *state;
    struct rg_jobs *q = queue(f, 0, 30000, 1000); /* no workers: jobs stay queued */
    struct probe p = {0};
    add_kind(q, "steps", run_steps, &p);
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_jobs_start(q, err), RG_OK);
    int64_t id = -1;
    json_t *arr = json_array(), *obj = json_object();
    assert_int_equal(rg_jobs_submit(q, "nope", 0, obj, 0, 3, &id, err), RG_EINVAL);
    assert_int_equal(rg_jobs_submit(q, "steps", 0, arr, 0, 3, &id, err), RG_EINVAL); /* check */
    assert_int_equal(rg_jobs_submit(q, "steps", 0, obj, 0, 0, &id, err), RG_EINVAL);
    assert_int_equal(rg_jobs_submit(q, "steps", 999, obj, 0, 3, &id, err), RG_ENOTFOUND);
    int64_t c[RG_DB_JOB_N_STATES];
    assert_int_equal(rg_jobs_counts(q, c, err), RG_OK);
    assert_int_equal(c[RG_DB_JOB_QUEUED], 0); /* nothing stored */
    assert_int_equal(rg_jobs_submit(q, "steps", 0, obj, 0, 3, &id, err), RG_OK);
    assert_true(id > 0);
    assert_int_equal(rg_jobs_counts(q, c, err), RG_OK);
    assert_int_equal(c[RG_DB_JOB_QUEUED], 1);
    json_decref(arr);
    json_decref(obj);
    sleep_ms(100);
    assert_int_equal(atomic_load(&p.runs), 0);
}

/* Records what a watch saw. */
struct seen {
    pthread_mutex_t mu;
    int calls, changes, finals, after_final;
    double last_progress;
    bool regressed, first_changed, ended;
    enum rg_db_job_state last;
    int64_t last_seq;
};

static bool on_watch(const struct rg_db_job *j, bool changed, void *user)
{
    struct seen *s = user;
    pthread_mutex_lock(&s->mu);
    if (s->ended) s->after_final++;
    if (s->calls++ == 0) s->first_changed = changed;
    if (!j) {
        s->ended = true;
    } else {
        if (changed) s->changes++;
        if (!changed && j->seq != s->last_seq) s->regressed = true; /* a change not flagged */
        if (j->progress < s->last_progress) s->regressed = true;
        s->last_progress = j->progress;
        s->last_seq = j->seq;
        s->last = j->state;
        if (j->state == RG_DB_JOB_DONE || j->state == RG_DB_JOB_FAILED ||
            j->state == RG_DB_JOB_CANCELLED) {
            s->finals++;
            s->ended = true;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return true;
}

static void test_run_and_watch(void **state)
{
    struct fx *f = *state;
    struct rg_jobs *q = queue(f, 2, 30000, 1000);
    struct probe p = {0};
    add_kind(q, "steps", run_steps, &p);
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_jobs_start(q, err), RG_OK);
    int64_t id = submit(q, "steps");
    struct seen s = {.mu = PTHREAD_MUTEX_INITIALIZER, .last_seq = -1};
    assert_int_equal(rg_jobs_watch(q, id, on_watch, &s, err), RG_OK);
    assert_int_equal(wait_state(f, id, RG_DB_JOB_DONE), 1);
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&s.mu);
        bool ended = s.ended;
        pthread_mutex_unlock(&s.mu);
        if (ended) break;
        sleep_ms(10);
    }
    sleep_ms(100); /* no call after the final one */
    pthread_mutex_lock(&s.mu);
    assert_true(s.first_changed);
    assert_int_equal(s.finals, 1);
    assert_int_equal(s.after_final, 0);
    assert_int_equal(s.last, RG_DB_JOB_DONE);
    assert_false(s.regressed);
    assert_true(s.changes >= 2); /* at least queued/running and the end */
    pthread_mutex_unlock(&s.mu);
    struct rg_db_job j;
    assert_int_equal(rg_jobs_get(q, id, 0, &j, err), RG_OK);
    assert_string_equal(j.result, "{\"attempt\":1}");
    assert_string_equal(j.message, "step 3");
    rg_db_job_clear(&j);
    assert_int_equal(rg_jobs_get(q, id, 5, &j, err), RG_ENOTFOUND); /* not owner 5's */
    assert_int_equal(atomic_load(&p.runs), 1);
}

static void test_cancel_running(void **state)
{
    struct fx *f = *state;
    struct rg_jobs *q = queue(f, 1, 30000, 1000); /* heartbeats every 10 s: the cancel is local */
    struct probe p = {0};
    add_kind(q, "loop", run_until_stopped, &p);
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_jobs_start(q, err), RG_OK);
    int64_t id = submit(q, "loop");
    wait_state(f, id, RG_DB_JOB_RUNNING);
    enum rg_db_job_state st;
    assert_int_equal(rg_jobs_cancel(q, id, 7, &st, err), RG_ENOTFOUND); /* not owner 7's */
    assert_int_equal(rg_jobs_cancel(q, id, 0, &st, err), RG_OK);
    assert_int_equal(st, RG_DB_JOB_RUNNING);
    assert_int_equal(wait_state(f, id, RG_DB_JOB_CANCELLED), 1);
    assert_int_equal(atomic_load(&p.saw_cancel), 1);
    assert_int_equal(rg_jobs_cancel(q, id, 0, &st, err), RG_ESTATE);
    assert_int_equal(atomic_load(&p.runs), 1);
}

static void test_retries(void **state)
{
    struct fx *f = *state;
    struct rg_jobs *q = queue(f, 1, 30000, 20);
    struct probe p = {0};
    atomic_store(&p.fail_first, 2);
    add_kind(q, "steps", run_steps, &p);
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_jobs_start(q, err), RG_OK);
    int64_t id = submit(q, "steps");
    assert_int_equal(wait_state(f, id, RG_DB_JOB_DONE), 3);
    assert_int_equal(atomic_load(&p.runs), 3);
}

static void test_stop_gives_back(void **state)
{
    struct fx *f = *state;
    struct rg_jobs *q = queue(f, 1, 30000, 1000);
    struct probe p = {0};
    add_kind(q, "loop", run_until_stopped, &p);
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_jobs_start(q, err), RG_OK);
    int64_t id = submit(q, "loop");
    wait_state(f, id, RG_DB_JOB_RUNNING);
    rg_jobs_free(q); /* asks the run to stop, gives the attempt back */
    f->q = NULL;
    assert_int_equal(atomic_load(&p.saw_cancel), 1);
    struct rg_db_job j;
    assert_int_equal(rg_db_job_get(f->db, id, &j, err), RG_OK);
    rg_db_job_clear(&j);
    assert_int_equal(j.state, RG_DB_JOB_QUEUED);
    assert_int_equal(j.attempts, 0);
    /* the next start runs it (its second run is attempt 1 again: it loops; stop it) */
    q = queue(f, 1, 30000, 1000);
    add_kind(q, "loop", run_until_stopped, &p);
    assert_int_equal(rg_jobs_start(q, err), RG_OK);
    wait_state(f, id, RG_DB_JOB_RUNNING);
    assert_int_equal(rg_jobs_cancel(q, id, 0, NULL, err), RG_OK);
    assert_int_equal(wait_state(f, id, RG_DB_JOB_CANCELLED), 1);
    assert_int_equal(atomic_load(&p.runs), 2);
}

static void test_lease_lost(void **state)
{
    struct fx *f = *state;
    struct rg_jobs *q = queue(f, 1, 300, 0); /* heartbeats every 100 ms */
    struct probe p = {0};
    add_kind(q, "loop", run_until_stopped, &p);
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_jobs_start(q, err), RG_OK);
    int64_t id = submit(q, "loop");
    wait_state(f, id, RG_DB_JOB_RUNNING);
    /* as if the node had restarted behind the worker's back: the job is queued again */
    int64_t n = 0;
    assert_int_equal(rg_db_job_requeue_stale(f->db, "test-node", now_ms(), false, &n, err), RG_OK);
    assert_int_equal(n, 1);
    /* the heartbeat finds the lease gone, the first run stops and writes nothing; the
     * job runs again (attempt 2) and finishes once */
    assert_int_equal(wait_state(f, id, RG_DB_JOB_DONE), 2);
    assert_int_equal(atomic_load(&p.saw_cancel), 1);
    assert_int_equal(atomic_load(&p.runs), 2);
    struct rg_db_job j;
    assert_int_equal(rg_db_job_get(f->db, id, &j, err), RG_OK);
    assert_string_equal(j.result, "{\"attempt\":2}");
    rg_db_job_clear(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_and_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_gives_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_lost, setup, teardown),
    };
    return cmocka_run_group_tests_name("jobs", tests, NULL, NULL);
}
