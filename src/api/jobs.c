/*
 * /jobs/...: background jobs over src/jobs. Thin handlers: parse, call one
 * rg_jobs_* function, reply. Users see and cancel their own jobs (another
 * user's job is a 404, so ids reveal nothing); admins see everyone's.
 *
 *   POST /jobs                    submit {kind, payload, priority, max_attempts}
 *   GET  /jobs                    the caller's jobs (?all=1: an admin's view of all)
 *   GET  /jobs/{id}               one job
 *   GET  /jobs/{id}/events        SSE: "progress" per change, then "end" (the job)
 *   POST /jobs/{id}/cancel        cancel (DELETE /jobs/{id} does the same)
 *
 * The event stream costs no HTTP thread while it waits: the queue's watcher
 * thread calls follow() on each change and writes to the stream.
 *
 * With RUSTYGPT_TEST_ROUTES=1 a test kind is registered, test.count:
 * {"steps":N, "step_ms":M, "fail_first":K} reports progress each step,
 * honours cancellation, fails its first K attempts, and on success appends
 * "done <id>" to <data-dir>/test-jobs.log (so a test can count finishes).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api_jobs.h"
#include "api/chat_internal.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/str.h"
#include "jobs/jobs.h"

#define DEFAULT_MAX_ATTEMPTS 3
#define PING_MS 15000

/* ---- the test kind ------------------------------------------------------------- */

struct count_args {
    int64_t steps, step_ms, fail_first;
};

static int count_parse(const json_t *p, struct count_args *a, char *err)
{
    *a = (struct count_args){.steps = 1};
    if (!json_is_object(p)) return rg_err_set(err, RG_EINVAL, "payload must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)p, key, v)
    {
        int64_t *dst = !strcmp(key, "steps")        ? &a->steps
                       : !strcmp(key, "step_ms")    ? &a->step_ms
                       : !strcmp(key, "fail_first") ? &a->fail_first
                                                    : NULL;
        if (!dst) return rg_err_set(err, RG_EINVAL, "payload: unknown field '%.40s'", key);
        if (!json_is_integer(v))
            return rg_err_set(err, RG_EINVAL, "payload: %s must be an integer", key);
        *dst = json_integer_value(v);
    }
    if (a->steps < 1 || a->steps > 100000)
        return rg_err_set(err, RG_EINVAL, "payload: steps must be 1..100000");
    if (a->step_ms < 0 || a->step_ms > 60000)
        return rg_err_set(err, RG_EINVAL, "payload: step_ms must be 0..60000");
    if (a->fail_first < 0 || a->fail_first > 100)
        return rg_err_set(err, RG_EINVAL, "payload: fail_first must be 0..100");
    return RG_OK;
}

static int count_check(const json_t *payload, void *user, char *err)
{
    (void)user;
    struct count_args a;
    return count_parse(payload, &a, err);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int count_run(struct rg_job_ctx *ctx, const json_t *payload, json_t **result, char *err)
{
    const struct rg_api_state *st = rg_job_user(ctx);
    struct count_args a;
    int rc = count_parse(payload, &a, err);
    if (rc) return rc;
    if (rg_job_attempt(ctx) <= a.fail_first)
        return rg_err_set(err, RG_EIO, "planned failure: attempt %d of the first %lld",
                          rg_job_attempt(ctx), (long long)a.fail_first);
    for (int64_t i = 0; i < a.steps; i++) {
        for (int64_t left = a.step_ms; left > 0; left -= 10) { /* a cancel stops it mid-step */
            if (rg_job_cancelled(ctx)) return RG_ECANCELED;
            sleep_ms(left < 10 ? (long)left : 10);
        }
        char msg[64];
        snprintf(msg, sizeof msg, "step %lld of %lld", (long long)(i + 1), (long long)a.steps);
        if (rg_job_progress(ctx, (double)(i + 1) / (double)a.steps, msg) == RG_ECANCELED)
            return RG_ECANCELED;
    }
    char path[1200], line[64];
    snprintf(path, sizeof path, "%s/test-jobs.log", st->cfg->data_dir);
    int n = snprintf(line, sizeof line, "done %lld\n", (long long)rg_job_id(ctx));
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return rg_err_set(err, RG_EIO, "%s: %s", path, strerror(errno));
    bool ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    close(fd);
    if (!ok) return rg_err_set(err, RG_EIO, "%s: %s", path, strerror(errno));
    *result = json_pack("{s:I, s:i}", "steps", (json_int_t)a.steps, "attempt", rg_job_attempt(ctx));
    return *result ? RG_OK : rg_err_set(err, RG_ENOMEM, "out of memory");
}

/* ---- the queue's life ------------------------------------------------------------- */

int rg_api_jobs_open(struct rg_api_state *st, char *err)
{
    /* the node's lease name: the same across restarts, unique per data dir and host */
    char host[128] = "localhost", dir[1024], node[128];
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    if (!realpath(st->cfg->data_dir, dir)) rg_strlcpy(dir, st->cfg->data_dir, sizeof dir);
    char full[sizeof host + sizeof dir + 2];
    snprintf(full, sizeof full, "%s:%s", host, dir);
    if (strlen(full) < sizeof node) {
        rg_strlcpy(node, full, sizeof node);
    } else { /* too long for a lease name: the host and a hash of the directory */
        unsigned long long h = 1469598103934665603ULL;
        for (const char *c = dir; *c; c++)
            h = (h ^ (unsigned char)*c) * 1099511628211ULL;
        snprintf(node, sizeof node, "%.100s:#%016llx", host, h);
    }
    struct rg_jobs_params p;
    rg_jobs_default_params(&p);
    p.workers = st->cfg->job_workers;
    p.lease_ms = st->cfg->job_lease * 1000;
    p.node = node;
    st->jobs = rg_jobs_init(&p, st->db, err);
    if (!st->jobs) return RG_EINVAL;
    int krc = rg_api_chat_jobs_register(st, err);
    if (!krc) krc = rg_api_library_open(st, err); /* the library's job kinds */
    if (!krc) krc = rg_api_memory_jobs_register(st, err);
    if (!krc) krc = rg_api_survival_jobs_register(st, err);
    if (krc) return krc;
    const char *test = getenv("RUSTYGPT_TEST_ROUTES");
    if (test && !strcmp(test, "1")) {
        struct rg_job_kind k = {.name = "test.count",
                                .run = count_run,
                                .check = count_check,
                                .user = st,
                                .flags = RG_JOB_USER};
        int rc = rg_jobs_register(st->jobs, &k, err);
        if (rc) return rc;
    }
    return RG_OK;
}

int rg_api_jobs_start(struct rg_api_state *st, char *err)
{
    int rc = rg_jobs_start(st->jobs, err);
    return rc ? rc : rg_api_library_start(st, err); /* watches; catch-up jobs */
}

void rg_api_jobs_close(struct rg_api_state *st)
{
    rg_api_library_stop(st); /* its watches submit jobs */
    rg_jobs_free(st->jobs);
    st->jobs = NULL;
    rg_api_library_close(st); /* after the workers, which use it */
}

json_t *rg_api_jobs_status(struct rg_api_state *st)
{
    int64_t c[RG_DB_JOB_N_STATES];
    char err[RG_ERR_SIZE];
    if (!st->jobs || rg_jobs_counts(st->jobs, c, err) != RG_OK) return NULL;
    json_t *o = json_object();
    for (int i = 0; o && i < RG_DB_JOB_N_STATES; i++)
        json_object_set_new(o, rg_db_job_state_name(i), json_integer(c[i]));
    return o;
}

int rg_api_jobs_metrics(struct rg_api_state *st, struct rg_buf *b)
{
    int64_t c[RG_DB_JOB_N_STATES];
    char err[RG_ERR_SIZE];
    if (!st->jobs || rg_jobs_counts(st->jobs, c, err) != RG_OK) return RG_OK; /* left out */
    int rc = rg_buf_printf(b, "# HELP rustygpt_jobs Background jobs by state.\n"
                              "# TYPE rustygpt_jobs gauge\n");
    for (int i = 0; rc == RG_OK && i < RG_DB_JOB_N_STATES; i++)
        rc = rg_buf_printf(b, "rustygpt_jobs{state=\"%s\"} %lld\n", rg_db_job_state_name(i),
                           (long long)c[i]);
    return rc;
}

/* ---- helpers -------------------------------------------------------------------- */

static void reply_rc(struct rg_http_req *r, int rc, const char *msg)
{
    switch (rc) {
    case RG_EINVAL: rg_http_reply_error(r, 400, NULL, NULL, NULL, "%s", msg); return;
    case RG_ENOTFOUND: rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no such job"); return;
    case RG_ESTATE: rg_http_reply_error(r, 409, NULL, "conflict", NULL, "%s", msg); return;
    case RG_EBUSY:
        rg_http_set_header(r, "Retry-After", "1");
        rg_http_reply_error(r, 503, NULL, "busy", NULL, "the database is busy");
        return;
    default:
        rg_log(RG_LOG_ERROR, "jobs failed", "error", 's', msg, RG_LOG_END);
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "internal error");
    }
}

/* The calling account's id, or 0 (401 sent): a server --api-key is no account. */
static int64_t need_user(struct rg_http_req *r)
{
    const char *p = rg_http_req_principal(r)->id;
    int64_t id = 0;
    if (rg_parse_i64(p, 1, INT64_MAX, &id) != RG_OK) {
        rg_http_reply_error(r, 401, NULL, "unauthenticated", NULL,
                            "sign in with an account (a server --api-key is not one)");
        return 0;
    }
    return id;
}

/* Whose jobs the caller may see: 0 (all) for admins, else their own. */
static int64_t scope(struct rg_http_req *r, int64_t user)
{
    return rg_http_req_principal(r)->role >= RG_ROLE_ADMIN ? 0 : user;
}

/* The {id} of the path, or 0 (404 sent: a malformed id is just an unknown job). */
static int64_t path_id(struct rg_http_req *r)
{
    int64_t id = 0;
    if (rg_parse_i64(rg_http_req_param(r, "id"), 1, INT64_MAX, &id) != RG_OK) {
        rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no such job");
        return 0;
    }
    return id;
}

static json_t *json_or_null(const char *txt)
{
    json_t *v = txt ? json_loads(txt, JSON_DECODE_ANY, NULL) : NULL;
    return v ? v : json_null();
}

static json_t *time_or_null(int64_t ms)
{
    return ms ? json_integer(ms) : json_null();
}

static json_t *job_json(const struct rg_db_job *j)
{
    return json_pack(
        "{s:I, s:s, s:s, s:I, s:s, s:i, s:f, s:s, s:i, s:i, s:o, s:o, s:o, s:b, "
        "s:I, s:I, s:o, s:o, s:I}",
        "id", (json_int_t)j->id, "object", "job", "kind", j->kind, "owner", (json_int_t)j->owner_id,
        "state", rg_db_job_state_name(j->state), "priority", j->priority, "progress", j->progress,
        "message", j->message, "attempts", j->attempts, "max_attempts", j->max_attempts, "payload",
        json_or_null(j->payload), "result", json_or_null(j->result), "error",
        j->error[0] ? json_string(j->error) : json_null(), "cancel_requested",
        (int)j->cancel_requested, "created_at", (json_int_t)j->created_at, "updated_at",
        (json_int_t)j->updated_at, "started_at", time_or_null(j->started_at), "finished_at",
        time_or_null(j->finished_at), "run_after", (json_int_t)j->run_after);
}

/* Replies with job id as the caller may see it. */
static void reply_job(struct rg_http_req *r, struct rg_jobs *q, int status, int64_t id,
                      int64_t owner)
{
    struct rg_db_job j;
    char err[RG_ERR_SIZE];
    int rc = rg_jobs_get(q, id, owner, &j, err);
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    json_t *o = job_json(&j);
    rg_db_job_clear(&j);
    if (!o) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    rg_http_reply_json(r, status, o);
}

/* ---- handlers ------------------------------------------------------------------------ */

static void submit(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = need_user(r);
    if (!user) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    json_t *kind = json_object_get(body, "kind"), *payload = json_object_get(body, "payload");
    json_t *prio = json_object_get(body, "priority"), *max = json_object_get(body, "max_attempts");
    if (!json_is_string(kind)) {
        rg_http_reply_error(r, 400, NULL, NULL, "kind", "kind must be a string");
        return;
    }
    const struct rg_job_kind *k = rg_jobs_kind(st->jobs, json_string_value(kind));
    /* unknown and not user-submittable get the same words: kinds cannot be probed */
    if (!k || !(k->flags & RG_JOB_USER)) {
        rg_http_reply_error(r, 400, NULL, "unknown_kind", "kind", "unknown job kind '%.63s'",
                            json_string_value(kind));
        return;
    }
    if (prio && (!json_is_integer(prio) || json_integer_value(prio) < -1000 ||
                 json_integer_value(prio) > 1000)) {
        rg_http_reply_error(r, 400, NULL, NULL, "priority",
                            "priority must be an integer within -1000..1000");
        return;
    }
    /* above the default is for admins: a user cannot jump ahead of everyone else */
    if (prio && json_integer_value(prio) > 0 && rg_http_req_principal(r)->role < RG_ROLE_ADMIN) {
        rg_http_reply_error(r, 403, NULL, NULL, "priority",
                            "a priority above 0 needs the admin role (0 or below is yours)");
        return;
    }
    if (max &&
        (!json_is_integer(max) || json_integer_value(max) < 1 || json_integer_value(max) > 10)) {
        rg_http_reply_error(r, 400, NULL, NULL, "max_attempts",
                            "max_attempts must be an integer within 1..10");
        return;
    }
    json_t *empty = payload ? NULL : json_object();
    char err[RG_ERR_SIZE] = "";
    int64_t id = 0;
    int rc = rg_jobs_submit(st->jobs, k->name, user, payload ? payload : empty,
                            prio ? (int)json_integer_value(prio) : 0,
                            max ? (int)json_integer_value(max) : DEFAULT_MAX_ATTEMPTS, &id, err);
    json_decref(empty);
    if (rc == RG_EINVAL) {
        rg_http_reply_error(r, 400, NULL, "invalid_payload", "payload", "%s", err);
        return;
    }
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    reply_job(r, st->jobs, 201, id, user);
}

static void list(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = need_user(r);
    if (!user) return;
    const char *all = rg_http_req_query(r, "all"), *lim = rg_http_req_query(r, "limit");
    int64_t owner = all && !strcmp(all, "1") ? scope(r, user) : user, limit = 100;
    if (lim && rg_parse_i64(lim, 1, 1000, &limit) != RG_OK) {
        rg_http_reply_error(r, 400, NULL, NULL, "limit", "limit must be 1..1000");
        return;
    }
    struct rg_db_job *v = NULL;
    size_t n = 0;
    char err[RG_ERR_SIZE];
    int rc = rg_jobs_list(st->jobs, owner, (int)limit, &v, &n, err);
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    json_t *data = json_array();
    for (size_t i = 0; data && i < n; i++)
        if (json_array_append_new(data, job_json(&v[i])) != 0) {
            json_decref(data);
            data = NULL;
        }
    rg_db_job_list_free(v, n);
    if (!data) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    rg_http_reply_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void get_one(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = need_user(r), id = user ? path_id(r) : 0;
    if (id) reply_job(r, st->jobs, 200, id, scope(r, user));
}

static void cancel(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = need_user(r), id = user ? path_id(r) : 0;
    if (!id) return;
    char err[RG_ERR_SIZE];
    int rc = rg_jobs_cancel(st->jobs, id, scope(r, user), NULL, err);
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    reply_job(r, st->jobs, 200, id, scope(r, user));
}

/* One event stream: owned by the watcher thread once the watch is set. */
struct follow {
    struct rg_sse *sse;
    double quiet_ms; /* since the last event or ping */
    int watch_ms;
};

/* The watch callback (the watcher thread): progress while it runs, then the end. */
static bool follow(const struct rg_db_job *j, bool changed, void *user)
{
    struct follow *f = user;
    bool more = true;
    if (!j) { /* the job vanished, or the server is stopping */
        more = false;
    } else if (rg_sse_closed(f->sse)) {
        more = false;
    } else if (changed) {
        bool final = j->state == RG_DB_JOB_DONE || j->state == RG_DB_JOB_FAILED ||
                     j->state == RG_DB_JOB_CANCELLED;
        json_t *o = job_json(j);
        if (!o || rg_sse_send_json(f->sse, final ? "end" : "progress", o) != RG_OK) more = false;
        json_decref(o);
        more = more && !final;
        f->quiet_ms = 0;
    } else if ((f->quiet_ms += f->watch_ms) >= PING_MS) {
        f->quiet_ms = 0;
        more = rg_sse_comment(f->sse, "ping") == RG_OK;
    }
    if (!more) {
        rg_sse_end(f->sse);
        rg_free(f);
    }
    return more;
}

static void events(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = need_user(r), id = user ? path_id(r) : 0;
    if (!id) return;
    struct rg_db_job j;
    char err[RG_ERR_SIZE];
    int rc = rg_jobs_get(st->jobs, id, scope(r, user), &j, err); /* 404 before the stream */
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    rg_db_job_clear(&j);
    struct follow *f = rg_calloc(1, sizeof *f);
    if (!f) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    struct rg_jobs_params p;
    rg_jobs_default_params(&p);
    f->watch_ms = p.watch_ms;
    f->sse = rg_http_sse_start(r);
    if (!f->sse) {
        rg_free(f);
        return;
    }
    if (rg_jobs_watch(st->jobs, id, follow, f, err) != RG_OK) {
        json_t *e = json_pack("{s:s}", "error", err);
        if (e) rg_sse_send_json(f->sse, "error", e);
        json_decref(e);
        rg_sse_end(f->sse);
        rg_free(f);
    }
}

/* ---- route table ----------------------------------------------------------------------- */

#define JOB_SCHEMA                                                                                 \
    "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"object\":{\"const\":"    \
    "\"job\"},\"kind\":{\"type\":\"string\"},\"owner\":{\"type\":\"integer\"},\"state\":{"         \
    "\"enum\":[\"queued\",\"running\",\"done\",\"failed\",\"cancelled\"]},\"priority\":{\"type\":" \
    "\"integer\"},\"progress\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1},\"message\":{"    \
    "\"type\":\"string\"},\"attempts\":{\"type\":\"integer\"},\"max_attempts\":{\"type\":"         \
    "\"integer\"},\"payload\":{},\"result\":{},\"error\":{\"type\":[\"string\",\"null\"]},"        \
    "\"cancel_requested\":{\"type\":\"boolean\"},\"created_at\":{\"type\":\"integer\","            \
    "\"description\":\"Unix milliseconds, as every time here\"},\"updated_at\":{\"type\":"         \
    "\"integer\"},\"started_at\":{\"type\":[\"integer\",\"null\"]},\"finished_at\":{\"type\":["    \
    "\"integer\",\"null\"]},\"run_after\":{\"type\":\"integer\"}}}"
#define SUBMIT_SCHEMA                                                                              \
    "{\"type\":\"object\",\"required\":[\"kind\"],\"properties\":{\"kind\":{\"type\":\"string\"}," \
    "\"payload\":{\"description\":\"the kind's input; default {}\"},\"priority\":{\"type\":"       \
    "\"integer\",\"minimum\":-1000,\"maximum\":1000,\"default\":0},\"max_attempts\":{\"type\":"    \
    "\"integer\",\"minimum\":1,\"maximum\":10,\"default\":3}}}"
#define JOBS_SCHEMA                                                                                \
    "{\"type\":\"object\",\"properties\":{\"object\":{\"const\":\"list\"},\"data\":{\"type\":"     \
    "\"array\",\"items\":" JOB_SCHEMA "}}}"

size_t rg_api_jobs_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const struct rg_route routes[] = {
        {RG_HTTP_POST, "/jobs", submit, st, RG_ROLE_USER, 0, "jobs",
         "Submit a background job of a kind users may submit (201 with the job)", SUBMIT_SCHEMA,
         JOB_SCHEMA},
        {RG_HTTP_GET, "/jobs", list, st, RG_ROLE_USER, 0, "jobs",
         "Your jobs, newest first (?limit=N; admins: ?all=1 for everyone's)", NULL, JOBS_SCHEMA},
        {RG_HTTP_GET, "/jobs/{id}", get_one, st, RG_ROLE_USER, 0, "jobs", "One job", NULL,
         JOB_SCHEMA},
        {RG_HTTP_DELETE, "/jobs/{id}", cancel, st, RG_ROLE_USER, 0, "jobs",
         "Cancel a job (as POST /jobs/{id}/cancel)", NULL, JOB_SCHEMA},
        {RG_HTTP_GET, "/jobs/{id}/events", events, st, RG_ROLE_USER, RG_ROUTE_STREAM, "jobs",
         "Follow a job: SSE 'progress' events (the job) on each change, then one 'end' event with "
         "the final job",
         NULL, JOB_SCHEMA},
        {RG_HTTP_POST, "/jobs/{id}/cancel", cancel, st, RG_ROLE_USER, 0, "jobs",
         "Cancel a job: a queued one at once, a running one is stopped (409 once it ended)", NULL,
         JOB_SCHEMA},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
