/*
 * Background jobs against the real server (RUSTYGPT_TEST_ROUTES=1 registers
 * the test.count kind): submit and poll to done, the SSE event stream,
 * cancel of a queued and of a running job, retries with back-off, a job
 * killed with its server (SIGKILL) and run again after the restart exactly
 * once, who may see what, and bad input that stores nothing.
 *
 * Runs on SQLite, then again on PostgreSQL when one is reachable (PGHOST set,
 * as under pg_virtualenv; RG_REQUIRE_PG=1 makes its absence a failure), each
 * server on a database of its own. Waits are generous deadlines, not timings.
 */
#include "test.h"

#include <jansson.h>
#include <signal.h>
#include <time.h>

#include "integration/harness_auth.h"

static const char *const TEST_ENV[] = {"RUSTYGPT_TEST_ROUTES=1", NULL};

/* ---- helpers --------------------------------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Starts a server on the current database with extra args (NULL-ended, may be NULL). */
static void start_on(struct rg_server *s, const char *const *extra)
{
    rg_harness_start_on(s, extra, TEST_ENV);
}

/* The same on a fresh database. */
static void start(struct rg_server *s, const char *const *extra)
{
    rg_harness_start(s, "rg_jobs", extra, TEST_ENV);
}

static void stop(struct rg_server *s)
{
    rg_harness_stop(s);
}

/* A request with an optional bearer; the status. */
static long req(struct rg_server *s, const char *method, const char *path, const char *bearer,
                const char *body, struct rg_resp *out)
{
    char auth[1200];
    const char *hdrs[4];
    int n = 0;
    hdrs[n++] = "Content-Type: application/json";
    hdrs[n++] = "Accept: application/json";
    if (bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        hdrs[n++] = auth;
    }
    hdrs[n] = NULL;
    memset(out, 0, sizeof *out);
    assert_int_equal(rg_http(s, method, path, hdrs, body, body ? strlen(body) : 0, out), 0);
    return out->status;
}

/* The JSON reply of a request that must answer `want`. Caller json_decref's. */
static json_t *call(struct rg_server *s, const char *method, const char *path, const char *bearer,
                    const char *body, long want)
{
    struct rg_resp r;
    long st = req(s, method, path, bearer, body, &r);
    if (st != want)
        fail_msg("%s %s: %ld (wanted %ld) %.*s", method, path, st, want, (int)r.len, r.body);
    json_t *o = json_loadb(r.body, r.len, 0, NULL);
    if (!o) fail_msg("%s %s: not JSON: %.*s", method, path, (int)r.len, r.body);
    rg_resp_free(&r);
    return o;
}

static long status_of(struct rg_server *s, const char *method, const char *path, const char *bearer,
                      const char *body)
{
    struct rg_resp r;
    long st = req(s, method, path, bearer, body, &r);
    rg_resp_free(&r);
    return st;
}

/* Signs in as email (password "correct horse battery"); the access token
 * (static storage per slot). */
static const char *login(struct rg_server *s, const char *email, int slot)
{
    static char tokens[4][1024];
    char body[256];
    rg_harness_credentials(body, sizeof body, email, "correct horse battery");
    json_t *o = call(s, "POST", "/auth/login", NULL, body, 200);
    snprintf(tokens[slot], sizeof tokens[slot], "%s",
             json_string_value(json_object_get(o, "access_token")));
    json_decref(o);
    assert_true(strlen(tokens[slot]) > 20);
    return tokens[slot];
}

/* Creates the account (sign-up answers 202 and no token), then signs in. */
static const char *signup(struct rg_server *s, const char *email, int slot)
{
    char body[256];
    rg_harness_credentials(body, sizeof body, email, "correct horse battery");
    json_decref(call(s, "POST", "/auth/register", NULL, body, 202));
    return login(s, email, slot);
}

/* Submits a test.count job; its id. */
static long long submit(struct rg_server *s, const char *tok, const char *payload, int max_attempts)
{
    char body[512];
    snprintf(body, sizeof body, "{\"kind\":\"test.count\",\"payload\":%s,\"max_attempts\":%d}",
             payload, max_attempts);
    json_t *o = call(s, "POST", "/jobs", tok, body, 201);
    long long id = json_integer_value(json_object_get(o, "id"));
    assert_true(id > 0);
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "test.count");
    json_decref(o);
    return id;
}

static json_t *get_job(struct rg_server *s, const char *tok, long long id)
{
    char path[64];
    snprintf(path, sizeof path, "/jobs/%lld", id);
    return call(s, "GET", path, tok, NULL, 200);
}

static const char *state_of(json_t *job)
{
    return json_string_value(json_object_get(job, "state"));
}

/* Polls until the job is in state (or, with min_progress > 0, running at
 * least that far); the job. Fails after timeout_s. */
static json_t *wait_job(struct rg_server *s, const char *tok, long long id, const char *state,
                        double min_progress, int timeout_s)
{
    double until = now_s() + timeout_s;
    for (;;) {
        json_t *j = get_job(s, tok, id);
        const char *st = state_of(j);
        if (!strcmp(st, state) &&
            json_real_value(json_object_get(j, "progress")) >= min_progress - 1e-9)
            return j;
        if (now_s() > until) fail_msg("job %lld: still %s after %d s", id, st, timeout_s);
        json_decref(j);
        sleep_ms(50);
    }
}

/* How many lines "done <id>" the test kind wrote into data_dir. */
static int done_lines(const char *data_dir, long long id)
{
    char path[400], want[64], line[128];
    snprintf(path, sizeof path, "%s/test-jobs.log", data_dir);
    snprintf(want, sizeof want, "done %lld\n", id);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += !strcmp(line, want);
    fclose(f);
    return n;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_submit_and_poll(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long id = submit(&srv, tok, "{\"steps\":3,\"step_ms\":20}", 3);
    json_t *j = wait_job(&srv, tok, id, "done", 0, 30);
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 1);
    assert_true(json_real_value(json_object_get(j, "progress")) == 1.0);
    json_t *res = json_object_get(j, "result");
    assert_int_equal(json_integer_value(json_object_get(res, "steps")), 3);
    assert_true(json_is_null(json_object_get(j, "error")));
    assert_true(json_integer_value(json_object_get(j, "finished_at")) >=
                json_integer_value(json_object_get(j, "created_at")));
    json_decref(j);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/data", srv.dir);
    assert_int_equal(done_lines(dir, id), 1);

    json_t *list = call(&srv, "GET", "/jobs", tok, NULL, 200);
    json_t *data = json_object_get(list, "data");
    assert_int_equal(json_array_size(data), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(data, 0), "id")), id);
    json_decref(list);

    json_t *st = call(&srv, "GET", "/status", NULL, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "jobs"), "done")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "jobs"), "queued")), 0);
    json_decref(st);
    struct rg_resp m;
    assert_int_equal(req(&srv, "GET", "/metrics", NULL, NULL, &m), 200);
    assert_non_null(strstr(m.body, "rustygpt_jobs{state=\"done\"} 1\n"));
    assert_non_null(strstr(m.body, "rustygpt_jobs{state=\"running\"} 0\n"));
    rg_resp_free(&m);
    /* one structured line at the end */
    char *log = rg_server_log(&srv);
    char want[64];
    snprintf(want, sizeof want, "job id=%lld kind=test.count", id);
    assert_int_equal(rg_count(log, want), 1);
    assert_non_null(strstr(log, "outcome=done"));
    free(log);
    stop(&srv);
}

static void test_events(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long id = submit(&srv, tok, "{\"steps\":5,\"step_ms\":100}", 3);
    char path[64], auth[1200];
    snprintf(path, sizeof path, "/jobs/%lld/events", id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    const char *hdrs[] = {auth, NULL};
    struct rg_resp r;
    assert_int_equal(rg_http(&srv, "GET", path, hdrs, NULL, 0, &r), 0); /* returns at the end */
    assert_int_equal(r.status, 200);
    char ct[128];
    assert_non_null(rg_resp_header(&r, "Content-Type", ct, sizeof ct));
    assert_non_null(strstr(ct, "text/event-stream"));
    /* "event: progress" events, progress never going back, then one "end" */
    int n_progress = 0, n_end = 0;
    double last = -1;
    bool ran = false;
    for (char *p = r.body; (p = strstr(p, "event: "));) {
        p += 7;
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        bool end = !strncmp(p, "end\n", 4);
        assert_true(end || !strncmp(p, "progress\n", 9));
        assert_int_equal(n_end, 0); /* nothing after the end */
        assert_true(!strncmp(nl + 1, "data: ", 6));
        char *eol = strchr(nl + 1, '\n');
        json_t *j = json_loadb(nl + 7, (size_t)(eol - nl - 7), 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "id")), id);
        double pr = json_real_value(json_object_get(j, "progress"));
        assert_true(pr >= last);
        last = pr;
        if (end) {
            n_end++;
            assert_string_equal(state_of(j), "done");
            assert_int_equal(
                json_integer_value(json_object_get(json_object_get(j, "result"), "steps")), 5);
        } else {
            n_progress++;
            ran |= !strcmp(state_of(j), "running");
        }
        json_decref(j);
        p = eol;
    }
    assert_int_equal(n_end, 1);
    assert_true(ran);
    assert_true(n_progress >= 3); /* steps 100 ms apart, watched every 250 ms at the slowest */
    rg_resp_free(&r);
    /* a finished job's stream is its end event alone */
    assert_int_equal(rg_http(&srv, "GET", path, hdrs, NULL, 0, &r), 0);
    assert_int_equal(rg_count(r.body, "event: end"), 1);
    assert_int_equal(rg_count(r.body, "event: progress"), 0);
    rg_resp_free(&r);
    stop(&srv);
}

static void test_cancel(void **state)
{
    (void)state;
    struct rg_server srv;
    const char *args[] = {"--job-workers", "1", NULL};
    start(&srv, args);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long longj = submit(&srv, tok, "{\"steps\":600,\"step_ms\":50}", 3); /* 30 s */
    json_t *j = wait_job(&srv, tok, longj, "running", 0, 30);
    json_decref(j);
    long long queued = submit(&srv, tok, "{\"steps\":1}", 3); /* the one worker is busy */
    char path[64];
    snprintf(path, sizeof path, "/jobs/%lld/cancel", queued);
    j = call(&srv, "POST", path, tok, NULL, 200);
    assert_string_equal(state_of(j), "cancelled"); /* at once */
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 0);
    json_decref(j);
    assert_int_equal(status_of(&srv, "POST", path, tok, NULL), 409); /* it already ended */

    snprintf(path, sizeof path, "/jobs/%lld", longj);
    j = call(&srv, "DELETE", path, tok, NULL, 200);
    assert_true(json_is_true(json_object_get(j, "cancel_requested")));
    json_decref(j);
    j = wait_job(&srv, tok, longj, "cancelled", 0, 30);
    assert_true(json_real_value(json_object_get(j, "progress")) < 1.0); /* stopped midway */
    json_decref(j);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/data", srv.dir);
    assert_int_equal(done_lines(dir, longj), 0);
    assert_int_equal(done_lines(dir, queued), 0);
    /* the worker is free again */
    long long next = submit(&srv, tok, "{\"steps\":1}", 3);
    json_decref(wait_job(&srv, tok, next, "done", 0, 30));
    j = get_job(&srv, tok, queued);
    assert_string_equal(state_of(j), "cancelled"); /* never ran */
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 0);
    json_decref(j);
    char *log = rg_server_log(&srv);
    assert_non_null(strstr(log, "outcome=cancelled"));
    free(log);
    stop(&srv);
}

static void test_retries(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long id = submit(&srv, tok, "{\"steps\":1,\"fail_first\":2}", 3);
    long long doomed = submit(&srv, tok, "{\"steps\":1,\"fail_first\":5}", 2);
    json_t *j = wait_job(&srv, tok, id, "done", 0, 60); /* back-off 1 s, then 2 s */
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "result"), "attempt")),
                     3);
    json_decref(j);
    j = wait_job(&srv, tok, doomed, "failed", 0, 60);
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 2);
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "planned failure"));
    json_decref(j);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/data", srv.dir);
    assert_int_equal(done_lines(dir, id), 1);
    assert_int_equal(done_lines(dir, doomed), 0);
    char *log = rg_server_log(&srv);
    assert_int_equal(rg_count(log, "outcome=retry"), 3); /* two for id, one for doomed */
    assert_int_equal(rg_count(log, "outcome=failed"), 1);
    free(log);
    stop(&srv);
}

static void test_kill_and_restart(void **state)
{
    (void)state;
    struct rg_server a, b;
    start(&a, NULL);
    const char *tok = signup(&a, "a@example.com", 0);
    long long id = submit(&a, tok, "{\"steps\":40,\"step_ms\":50}", 3); /* 2 s */
    json_decref(wait_job(&a, tok, id, "running", 0.1, 30));
    rg_server_signal(&a, SIGKILL);
    rg_server_wait(&a, 10);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/data", a.dir);
    assert_int_equal(done_lines(dir, id), 0); /* killed before it finished */
    /* the same node (data dir, database) comes back */
    const char *args[] = {"--data-dir", dir, NULL};
    start_on(&b, args);
    json_t *j = wait_job(&b, tok, id, "done", 0, 60);
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 2);
    json_decref(j);
    char *log = rg_server_log(&b);
    assert_non_null(strstr(log, "requeued"));
    free(log);
    sleep_ms(500);                            /* time for a second run, if there were one */
    assert_int_equal(done_lines(dir, id), 1); /* finished once */
    stop(&b);
    rg_server_stop(&a); /* removes its directory (the process is gone already) */
}

/* Two nodes on one database: the node running a job dies (SIGKILL) and does
 * not come back; once its lease lapses the other node runs the job. */
static void test_other_node_takes_over(void **state)
{
    (void)state;
    struct rg_server a, b;
    const char *lease[] = {"--job-lease", "2", NULL};
    start(&a, lease);
    const char *tok = signup(&a, "a@example.com", 0);
    long long id = submit(&a, tok, "{\"steps\":60,\"step_ms\":50}", 3); /* 3 s */
    json_decref(wait_job(&a, tok, id, "running", 0.05, 30)); /* node A has it: B is not up */
    rg_server_signal(&a, SIGKILL);
    rg_server_wait(&a, 10);
    char sqlite_url[400];
    snprintf(sqlite_url, sizeof sqlite_url, "sqlite:%s/data/rustygpt.db", a.dir);
    const char *args[] = {"--job-lease", "2", rg_harness_pg ? NULL : "--db", sqlite_url, NULL};
    start_on(&b, args);                                /* its own data dir: another node */
    const char *tok_b = login(&b, "a@example.com", 1); /* B signs with its own secret */
    json_t *j = wait_job(&b, tok_b, id, "done", 0, 60);
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 2);
    json_decref(j);
    char dir_a[400], dir_b[400];
    snprintf(dir_a, sizeof dir_a, "%s/data", a.dir);
    snprintf(dir_b, sizeof dir_b, "%s/data", b.dir);
    assert_int_equal(done_lines(dir_a, id), 0);
    assert_int_equal(done_lines(dir_b, id), 1); /* B ran it, once */
    char *log = rg_server_log(&b);
    assert_null(strstr(log, "requeued")); /* not B's own job: the lease lapsed */
    free(log);
    stop(&b);
    rg_server_stop(&a);
}

static void test_access(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL);
    const char *admin = signup(&srv, "admin@example.com", 0); /* the first account */
    const char *u1 = signup(&srv, "u1@example.com", 1);
    const char *u2 = signup(&srv, "u2@example.com", 2);
    long long id = submit(&srv, u1, "{\"steps\":1}", 3);
    json_decref(wait_job(&srv, u1, id, "done", 0, 30));
    char path[64];
    snprintf(path, sizeof path, "/jobs/%lld", id);
    assert_int_equal(status_of(&srv, "GET", path, u2, NULL), 404); /* as if it did not exist */
    assert_int_equal(status_of(&srv, "GET", "/jobs/987654", u2, NULL), 404);
    assert_int_equal(status_of(&srv, "DELETE", path, u2, NULL), 404);
    snprintf(path, sizeof path, "/jobs/%lld/events", id);
    assert_int_equal(status_of(&srv, "GET", path, u2, NULL), 404);
    snprintf(path, sizeof path, "/jobs/%lld/cancel", id);
    assert_int_equal(status_of(&srv, "POST", path, u2, NULL), 404);
    /* a user may lower a job's priority, not raise it above everyone's */
    assert_int_equal(status_of(&srv, "POST", "/jobs", u2,
                               "{\"kind\":\"test.count\",\"payload\":{},\"priority\":5}"),
                     403);
    assert_int_equal(status_of(&srv, "GET", "/jobs", NULL, NULL), 401);
    assert_int_equal(status_of(&srv, "POST", "/jobs", NULL, "{\"kind\":\"test.count\"}"), 401);

    json_t *l = call(&srv, "GET", "/jobs", u2, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(l, "data")), 0);
    json_decref(l);
    l = call(&srv, "GET", "/jobs?all=1", u2, NULL, 200); /* all=1 is an admin's view only */
    assert_int_equal(json_array_size(json_object_get(l, "data")), 0);
    json_decref(l);
    l = call(&srv, "GET", "/jobs", u1, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(l, "data")), 1);
    json_decref(l);
    long long own = submit(&srv, admin, "{\"steps\":1}", 3);
    l = call(&srv, "GET", "/jobs?all=1", admin, NULL, 200);
    json_t *data = json_object_get(l, "data");
    assert_int_equal(json_array_size(data), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(data, 0), "id")), own);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(data, 1), "id")), id);
    json_decref(l);
    json_t *j = get_job(&srv, admin, id); /* admins see every job */
    json_decref(j);
    stop(&srv);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL);
    const char *tok = signup(&srv, "admin@example.com", 0);
    const char *bad[] = {
        "{\"kind\":\"nope\",\"payload\":{}}",
        "{\"kind\":\"TEST.COUNT\"}",
        "{\"kind\":7}",
        "{\"payload\":{}}",
        "{\"kind\":\"test.count\",\"payload\":{\"steps\":-1}}",
        "{\"kind\":\"test.count\",\"payload\":{\"steps\":\"3\"}}",
        "{\"kind\":\"test.count\",\"payload\":{\"bogus\":1}}",
        "{\"kind\":\"test.count\",\"payload\":[1,2]}",
        "{\"kind\":\"test.count\",\"payload\":{},\"max_attempts\":0}",
        "{\"kind\":\"test.count\",\"payload\":{},\"max_attempts\":\"3\"}",
        "{\"kind\":\"test.count\",\"payload\":{},\"priority\":100000}",
        "{\"kind\":\"test.count\",\"payload\":{}",
        "[\"test.count\"]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct rg_resp r;
        long st = req(&srv, "POST", "/jobs", tok, bad[i], &r);
        if (st != 400) fail_msg("%s: %ld %.*s", bad[i], st, (int)r.len, r.body);
        assert_non_null(strstr(r.body, "\"error\""));
        rg_resp_free(&r);
    }
    json_t *l = call(&srv, "GET", "/jobs?all=1", tok, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(l, "data")), 0); /* nothing stored */
    json_decref(l);
    assert_int_equal(status_of(&srv, "GET", "/jobs/abc", tok, NULL), 404);
    assert_int_equal(status_of(&srv, "GET", "/jobs/-1", tok, NULL), 404);
    assert_int_equal(status_of(&srv, "GET", "/jobs?limit=0", tok, NULL), 400);
    stop(&srv);
}

#define TESTS                                                                                      \
    cmocka_unit_test(test_submit_and_poll), cmocka_unit_test(test_events),                         \
        cmocka_unit_test(test_cancel), cmocka_unit_test(test_retries),                             \
        cmocka_unit_test(test_kill_and_restart), cmocka_unit_test(test_other_node_takes_over),     \
        cmocka_unit_test(test_access), cmocka_unit_test(test_bad_input)

int main(void)
{
    const struct CMUnitTest tests[] = {TESTS};
    int failed = cmocka_run_group_tests_name("jobs/sqlite", tests, NULL, NULL);
    int pg = rg_harness_pg_pass("jobs");
    if (pg <= 0) return failed + (pg < 0 ? 1 : 0);
    const struct CMUnitTest pg_tests[] = {TESTS};
    failed += cmocka_run_group_tests_name("jobs/postgres", pg_tests, NULL, NULL);
    return failed;
}
