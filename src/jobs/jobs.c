/*
 * The job queue (see jobs.h): the kinds table, the worker threads that
 * claim and run jobs, the heartbeat thread that renews their leases and
 * carries cancels asked on other nodes, and the watcher thread that follows
 * jobs for rg_jobs_watch(). All durable state is in the database; what is
 * here is the process's share of the work in flight.
 *
 * Locks (never two at once):
 *   mu      stopping, work_gen (workers sleep on cv between claims)
 *   run_mu  the list of attempts running on this node
 *   wmu     the watches, change_gen, wstop (the watcher sleeps on wcv)
 */
#include "jobs/jobs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/str.h"

#define MAX_KINDS 64

struct rg_job_ctx {
    struct rg_jobs *q;
    const struct rg_job_kind *kind;
    int64_t id, owner;
    int attempt;
    atomic_bool cancel; /* a cancel was asked */
    atomic_bool lost;   /* the lease went to another node */
    atomic_bool stop;   /* the queue is stopping */
    struct rg_job_ctx *next;
};

struct watch {
    int64_t id, seq;
    rg_jobs_watch_fn fn;
    void *user;
    struct watch *next;
};

struct rg_jobs {
    struct rg_jobs_params p;
    char node[128];
    struct rg_db *db;
    struct rg_job_kind kinds[MAX_KINDS];
    char names[MAX_KINDS][RG_DB_JOB_KIND_MAX];
    size_t n_kinds;
    char kind_list[MAX_KINDS * RG_DB_JOB_KIND_MAX]; /* "a,b,c" for claims */
    bool started;

    atomic_bool stop; /* set first when stopping: attempts started later see it */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    unsigned long work_gen;

    pthread_mutex_t run_mu;
    struct rg_job_ctx *running;

    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    struct watch *watches;
    unsigned long change_gen;
    bool wstop;

    pthread_t *workers;
    int n_workers;
    pthread_t keeper, watcher;
    bool keeper_on, watcher_on;
};

/* ---- time ------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Waits on cv (a CLOCK_MONOTONIC condition) for at most ms. */
static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cv, mu, &t);
}

static void cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* Wakes the watcher: something this node knows about changed. */
static void changed(struct rg_jobs *q)
{
    pthread_mutex_lock(&q->wmu);
    q->change_gen++;
    pthread_cond_signal(&q->wcv);
    pthread_mutex_unlock(&q->wmu);
}

/* ---- set-up ------------------------------------------------------------------- */

void rg_jobs_default_params(struct rg_jobs_params *p)
{
    memset(p, 0, sizeof *p);
    p->workers = 2;
    p->lease_ms = 30000;
    p->poll_ms = 500;
    p->backoff_ms = 1000;
    p->backoff_max_ms = 3600000;
    p->watch_ms = 250;
}

struct rg_jobs *rg_jobs_init(const struct rg_jobs_params *p, struct rg_db *db, char *err)
{
    if (!p || !db) {
        rg_err_set(err, RG_EINVAL, "jobs: no parameters or database");
        return NULL;
    }
    if (!p->node || !*p->node || strlen(p->node) >= sizeof((struct rg_jobs *)0)->node) {
        rg_err_set(err, RG_EINVAL, "jobs: the node name must be 1..127 bytes");
        return NULL;
    }
    if (p->workers < 0 || p->workers > 256 || p->lease_ms < 100 || p->poll_ms < 1 ||
        p->watch_ms < 1 || p->backoff_ms < 0 || p->backoff_max_ms < p->backoff_ms) {
        rg_err_set(err, RG_EINVAL, "jobs: bad parameters");
        return NULL;
    }
    struct rg_jobs *q = rg_calloc(1, sizeof *q);
    if (!q) {
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    q->p = *p;
    rg_strlcpy(q->node, p->node, sizeof q->node);
    q->p.node = q->node;
    q->db = db;
    pthread_mutex_init(&q->mu, NULL);
    pthread_mutex_init(&q->run_mu, NULL);
    pthread_mutex_init(&q->wmu, NULL);
    cond_init(&q->cv);
    cond_init(&q->wcv);
    return q;
}

int rg_jobs_register(struct rg_jobs *q, const struct rg_job_kind *k, char *err)
{
    if (q->started) return rg_err_set(err, RG_ESTATE, "jobs: register kinds before the start");
    if (!k || !k->run || !rg_db_job_kind_valid(k->name))
        return rg_err_set(err, RG_EINVAL, "jobs: a kind needs a name of [a-z0-9._-] and a run");
    if (rg_jobs_kind(q, k->name)) return rg_err_set(err, RG_EEXISTS, "jobs: %s exists", k->name);
    size_t used = strlen(q->kind_list);
    if (q->n_kinds == MAX_KINDS || used + strlen(k->name) + 2 > sizeof q->kind_list)
        return rg_err_set(err, RG_ENOMEM, "jobs: too many kinds");
    size_t i = q->n_kinds++;
    rg_strlcpy(q->names[i], k->name, sizeof q->names[i]);
    q->kinds[i] = *k;
    q->kinds[i].name = q->names[i];
    snprintf(q->kind_list + used, sizeof q->kind_list - used, "%s%s", used ? "," : "", k->name);
    return RG_OK;
}

const struct rg_job_kind *rg_jobs_kind(const struct rg_jobs *q, const char *name)
{
    for (size_t i = 0; name && i < q->n_kinds; i++)
        if (!strcmp(q->names[i], name)) return &q->kinds[i];
    return NULL;
}

/* ---- running one attempt ------------------------------------------------------- */

int64_t rg_job_id(const struct rg_job_ctx *ctx)
{
    return ctx->id;
}

int64_t rg_job_owner(const struct rg_job_ctx *ctx)
{
    return ctx->owner;
}

int rg_job_attempt(const struct rg_job_ctx *ctx)
{
    return ctx->attempt;
}

void *rg_job_user(const struct rg_job_ctx *ctx)
{
    return ctx->kind->user;
}

bool rg_job_cancelled(const struct rg_job_ctx *ctx)
{
    return atomic_load(&ctx->cancel) || atomic_load(&ctx->lost) || atomic_load(&ctx->stop);
}

int rg_job_progress(struct rg_job_ctx *ctx, double fraction, const char *message)
{
    char msg[sizeof((struct rg_db_job *)0)->message];
    rg_strlcpy(msg, message ? message : "", sizeof msg);
    size_t n = rg_utf8_valid_prefix(msg, strlen(msg)); /* no split character at the cut */
    msg[n] = '\0';
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20) *p = ' ';
    bool cancel = false;
    char err[RG_ERR_SIZE];
    int rc = rg_db_job_progress(ctx->q->db, ctx->id, ctx->q->node, ctx->attempt, fraction, msg,
                                now_ms(), ctx->q->p.lease_ms, &cancel, err);
    if (rc == RG_ESTATE)
        atomic_store(&ctx->lost, true);
    else if (rc == RG_OK && cancel)
        atomic_store(&ctx->cancel, true);
    else if (rc != RG_OK)
        rg_log(RG_LOG_WARN, "job progress not recorded", "id", 'i', (long long)ctx->id, "error",
               's', err, RG_LOG_END);
    if (rc == RG_OK) changed(ctx->q);
    return rg_job_cancelled(ctx) ? RG_ECANCELED : RG_OK;
}

static void running_add(struct rg_jobs *q, struct rg_job_ctx *c)
{
    pthread_mutex_lock(&q->run_mu);
    c->next = q->running;
    q->running = c;
    if (atomic_load(&q->stop)) atomic_store(&c->stop, true); /* claimed as the stop began */
    pthread_mutex_unlock(&q->run_mu);
}

static void running_remove(struct rg_jobs *q, struct rg_job_ctx *c)
{
    pthread_mutex_lock(&q->run_mu);
    for (struct rg_job_ctx **p = &q->running; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    pthread_mutex_unlock(&q->run_mu);
}

/* Runs the claimed job j to the end of this attempt and records how it ended. */
static void run_one(struct rg_jobs *q, struct rg_db_job *j)
{
    struct rg_job_ctx ctx = {.q = q, .id = j->id, .owner = j->owner_id, .attempt = j->attempts};
    ctx.kind = rg_jobs_kind(q, j->kind);
    char err[RG_ERR_SIZE] = "";
    json_t *result = NULL, *payload = NULL;
    int rc;
    double t0 = mono_ms();
    if (!ctx.kind) {
        rc = rg_err_set(err, RG_EINVAL, "no kind %s on this node", j->kind); /* claim filters */
    } else if (!(payload = json_loads(j->payload, JSON_DECODE_ANY, NULL))) {
        rc = rg_err_set(err, RG_EFORMAT, "the stored payload is not JSON");
    } else {
        running_add(q, &ctx);
        rc = ctx.kind->run(&ctx, payload, &result, err);
        running_remove(q, &ctx);
    }
    double ran = mono_ms() - t0;
    json_decref(payload);
    if (rc != RG_OK && !err[0]) rg_err_set(err, rc, "%s", rg_strerror(rc));

    const char *outcome;
    char derr[RG_ERR_SIZE] = "";
    int64_t now = now_ms();
    int drc = RG_OK;
    if (atomic_load(&ctx.lost)) {
        outcome = "lease_lost"; /* another node has it now: write nothing */
    } else if (rc != RG_OK && atomic_load(&ctx.stop) && !atomic_load(&ctx.cancel)) {
        outcome = "interrupted"; /* rg_jobs_free gives it back to the queue */
    } else if (rc == RG_OK) {
        char *txt = json_dumps(result ? result : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
        if (txt && strlen(txt) <= RG_DB_JOB_RESULT_MAX) {
            drc = rg_db_job_finish(q->db, j->id, q->node, j->attempts, RG_DB_JOB_DONE, txt, now,
                                   derr);
            outcome = "done";
        } else {
            rg_err_set(err, txt ? RG_ETOOBIG : RG_ENOMEM, "%s",
                       txt ? "the result is too large" : "out of memory");
            enum rg_db_job_state st;
            drc = rg_db_job_fail(q->db, j->id, q->node, j->attempts, err, now, q->p.backoff_ms,
                                 q->p.backoff_max_ms, &st, derr);
            outcome = st == RG_DB_JOB_QUEUED ? "retry" : rg_db_job_state_name(st);
        }
        rg_free(txt);
    } else if (atomic_load(&ctx.cancel)) {
        drc = rg_db_job_finish(q->db, j->id, q->node, j->attempts, RG_DB_JOB_CANCELLED, NULL, now,
                               derr);
        outcome = "cancelled";
    } else {
        enum rg_db_job_state st = RG_DB_JOB_FAILED;
        drc = rg_db_job_fail(q->db, j->id, q->node, j->attempts, err, now, q->p.backoff_ms,
                             q->p.backoff_max_ms, &st, derr);
        outcome = st == RG_DB_JOB_QUEUED ? "retry" : rg_db_job_state_name(st);
    }
    json_decref(result);
    if (drc == RG_ESTATE) outcome = "lease_lost";
    changed(q);
    double wait = j->started_at > j->created_at ? (double)(j->started_at - j->created_at) : 0;
    rg_log(drc == RG_OK ? RG_LOG_INFO : RG_LOG_WARN, "job", "id", 'i', (long long)j->id, "kind",
           's', j->kind, "owner", 'i', (long long)j->owner_id, "attempt", 'i',
           (long long)j->attempts, "max_attempts", 'i', (long long)j->max_attempts, "outcome", 's',
           outcome, "queue_wait_ms", 'f', wait, "duration_ms", 'f', ran, "error", 's',
           rc == RG_OK ? (drc ? derr : "") : err, RG_LOG_END);
}

/* ---- threads --------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    struct rg_jobs *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        bool stop = q->stopping;
        unsigned long gen = q->work_gen;
        pthread_mutex_unlock(&q->mu);
        if (stop) break;
        struct rg_db_job j;
        char err[RG_ERR_SIZE];
        int rc = rg_db_job_claim(q->db, q->node, q->kind_list, now_ms(), q->p.lease_ms, &j, err);
        if (rc == RG_OK) {
            changed(q);
            run_one(q, &j);
            rg_db_job_clear(&j);
            continue;
        }
        if (rc != RG_ENOTFOUND && rc != RG_EBUSY)
            rg_log(RG_LOG_WARN, "job claim failed", "node", 's', q->node, "error", 's', err,
                   RG_LOG_END);
        pthread_mutex_lock(&q->mu);
        if (!q->stopping && q->work_gen == gen) timed_wait(&q->cv, &q->mu, q->p.poll_ms);
        pthread_mutex_unlock(&q->mu);
    }
    return NULL;
}

/* Renews the leases of this node's running attempts and picks up cancels
 * asked through other nodes. */
static void *keeper_main(void *arg)
{
    struct rg_jobs *q = arg;
    int every = RG_MAX(q->p.lease_ms / 3, 50);
    for (;;) {
        pthread_mutex_lock(&q->mu);
        if (!q->stopping) timed_wait(&q->cv, &q->mu, every);
        bool stop = q->stopping;
        pthread_mutex_unlock(&q->mu);
        if (stop) break;
        pthread_mutex_lock(&q->run_mu);
        for (struct rg_job_ctx *c = q->running; c; c = c->next) {
            bool cancel = false;
            char err[RG_ERR_SIZE];
            int rc = rg_db_job_heartbeat(q->db, c->id, q->node, c->attempt, now_ms(), q->p.lease_ms,
                                         &cancel, err);
            if (rc == RG_ESTATE)
                atomic_store(&c->lost, true);
            else if (rc == RG_OK && cancel)
                atomic_store(&c->cancel, true);
            else if (rc != RG_OK)
                rg_log(RG_LOG_WARN, "job heartbeat failed", "id", 'i', (long long)c->id, "error",
                       's', err, RG_LOG_END);
        }
        pthread_mutex_unlock(&q->run_mu);
    }
    return NULL;
}

static bool final_state(enum rg_db_job_state s)
{
    return s == RG_DB_JOB_DONE || s == RG_DB_JOB_FAILED || s == RG_DB_JOB_CANCELLED;
}

/* One look at a watched job; false when the watch is over (w freed). */
static bool watch_step(struct rg_jobs *q, struct watch *w)
{
    struct rg_db_job j;
    char err[RG_ERR_SIZE];
    int rc = rg_db_job_get(q->db, w->id, &j, err);
    bool more;
    if (rc == RG_ENOTFOUND) {
        w->fn(NULL, true, w->user);
        more = false;
    } else if (rc != RG_OK) {
        more = true; /* the database hiccupped: look again next time */
    } else {
        bool ch = j.seq != w->seq;
        w->seq = j.seq;
        more = w->fn(&j, ch, w->user) && !final_state(j.state);
        rg_db_job_clear(&j);
    }
    if (!more) rg_free(w);
    return more;
}

static void *watcher_main(void *arg)
{
    struct rg_jobs *q = arg;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&q->wmu);
        if (!q->wstop && q->change_gen == seen) timed_wait(&q->wcv, &q->wmu, q->p.watch_ms);
        seen = q->change_gen;
        bool stop = q->wstop;
        struct watch *list = q->watches;
        q->watches = NULL;
        pthread_mutex_unlock(&q->wmu);
        if (stop) {
            /* rg_jobs_watch refuses new watches now: these are the last */
            while (list) {
                struct watch *w = list;
                list = w->next;
                w->fn(NULL, true, w->user);
                rg_free(w);
            }
            break;
        }
        struct watch *keep = NULL, **tail = &keep;
        while (list) {
            struct watch *w = list;
            list = w->next;
            w->next = NULL;
            if (watch_step(q, w)) {
                *tail = w;
                tail = &w->next;
            }
        }
        if (keep) {
            pthread_mutex_lock(&q->wmu);
            *tail = q->watches;
            q->watches = keep;
            pthread_mutex_unlock(&q->wmu);
        }
    }
    return NULL;
}

int rg_jobs_start(struct rg_jobs *q, char *err)
{
    if (q->started) return rg_err_set(err, RG_ESTATE, "jobs: already started");
    int64_t n = 0;
    char derr[RG_ERR_SIZE];
    int rc = rg_db_job_requeue_stale(q->db, q->node, now_ms(), false, &n, derr);
    if (rc) return rg_err_set(err, rc, "jobs: requeue of stale jobs: %s", derr);
    if (n)
        rg_log(RG_LOG_INFO, "jobs left running by a stop were requeued", "node", 's', q->node,
               "jobs", 'i', (long long)n, RG_LOG_END);
    q->started = true;
    if (q->p.workers > 0 && q->n_kinds > 0) {
        q->workers = rg_calloc((size_t)q->p.workers, sizeof *q->workers);
        if (!q->workers) return rg_err_set(err, RG_ENOMEM, "out of memory");
        for (int i = 0; i < q->p.workers; i++) {
            if (pthread_create(&q->workers[i], NULL, worker_main, q) != 0)
                return rg_err_set(err, RG_ENOMEM, "jobs: cannot start a worker thread");
            q->n_workers++;
        }
        if (pthread_create(&q->keeper, NULL, keeper_main, q) != 0)
            return rg_err_set(err, RG_ENOMEM, "jobs: cannot start the heartbeat thread");
        q->keeper_on = true;
    }
    if (pthread_create(&q->watcher, NULL, watcher_main, q) != 0)
        return rg_err_set(err, RG_ENOMEM, "jobs: cannot start the watcher thread");
    q->watcher_on = true;
    return RG_OK;
}

void rg_jobs_free(struct rg_jobs *q)
{
    if (!q) return;
    atomic_store(&q->stop, true);
    pthread_mutex_lock(&q->mu);
    q->stopping = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_mutex_lock(&q->run_mu);
    for (struct rg_job_ctx *c = q->running; c; c = c->next)
        atomic_store(&c->stop, true);
    pthread_mutex_unlock(&q->run_mu);
    for (int i = 0; i < q->n_workers; i++)
        pthread_join(q->workers[i], NULL);
    if (q->keeper_on) pthread_join(q->keeper, NULL);
    pthread_mutex_lock(&q->wmu);
    q->wstop = true;
    pthread_cond_signal(&q->wcv);
    pthread_mutex_unlock(&q->wmu);
    if (q->watcher_on) {
        pthread_join(q->watcher, NULL);
    } else {
        for (struct watch *w = q->watches, *next; w; w = next) {
            next = w->next;
            w->fn(NULL, true, w->user);
            rg_free(w);
        }
    }
    if (q->n_workers) { /* the attempts stopped above go back without counting */
        char err[RG_ERR_SIZE];
        int64_t n = 0;
        if (rg_db_job_requeue_stale(q->db, q->node, now_ms(), true, &n, err) != RG_OK)
            rg_log(RG_LOG_WARN,
                   "jobs: interrupted jobs not requeued (they will be on the next "
                   "start)",
                   "error", 's', err, RG_LOG_END);
        else if (n)
            rg_log(RG_LOG_INFO, "jobs interrupted by the stop were requeued", "jobs", 'i',
                   (long long)n, RG_LOG_END);
    }
    rg_free(q->workers);
    pthread_mutex_destroy(&q->mu);
    pthread_mutex_destroy(&q->run_mu);
    pthread_mutex_destroy(&q->wmu);
    pthread_cond_destroy(&q->cv);
    pthread_cond_destroy(&q->wcv);
    rg_free(q);
}

/* ---- the queue's operations -------------------------------------------------------- */

int rg_jobs_submit(struct rg_jobs *q, const char *kind, int64_t owner_id, const json_t *payload,
                   int priority, int max_attempts, int64_t *id, char *err)
{
    *id = 0;
    const struct rg_job_kind *k = rg_jobs_kind(q, kind);
    if (!k) return rg_err_set(err, RG_EINVAL, "unknown job kind '%.63s'", kind ? kind : "");
    if (!payload) return rg_err_set(err, RG_EINVAL, "a job needs a payload");
    if (k->check) {
        int rc = k->check(payload, k->user, err);
        if (rc) return rc;
    }
    char *txt = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!txt) return rg_err_set(err, RG_ENOMEM, "out of memory");
    int64_t now = now_ms();
    struct rg_db_job_new n = {.kind = k->name,
                              .owner_id = owner_id,
                              .payload = txt,
                              .priority = priority,
                              .max_attempts = max_attempts,
                              .run_after = now,
                              .now = now};
    int rc = rg_db_job_enqueue(q->db, &n, id, err);
    rg_free(txt);
    if (rc) return rc;
    pthread_mutex_lock(&q->mu);
    q->work_gen++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return RG_OK;
}

int rg_jobs_get(struct rg_jobs *q, int64_t id, int64_t owner, struct rg_db_job *out, char *err)
{
    int rc = rg_db_job_get(q->db, id, out, err);
    if (rc == RG_OK && owner > 0 && out->owner_id != owner) {
        rg_db_job_clear(out);
        memset(out, 0, sizeof *out);
        return rg_err_set(err, RG_ENOTFOUND, "no such job");
    }
    return rc;
}

int rg_jobs_list(struct rg_jobs *q, int64_t owner, int limit, struct rg_db_job **out, size_t *n,
                 char *err)
{
    return rg_db_job_list(q->db, owner, limit, out, n, err);
}

int rg_jobs_cancel(struct rg_jobs *q, int64_t id, int64_t owner, enum rg_db_job_state *state,
                   char *err)
{
    enum rg_db_job_state dummy;
    if (!state) state = &dummy;
    int rc = rg_db_job_cancel(q->db, id, owner > 0 ? owner : 0, now_ms(), state, err);
    if (rc) return rc;
    if (*state == RG_DB_JOB_RUNNING) {
        pthread_mutex_lock(&q->run_mu);
        for (struct rg_job_ctx *c = q->running; c; c = c->next)
            if (c->id == id) atomic_store(&c->cancel, true);
        pthread_mutex_unlock(&q->run_mu);
    }
    changed(q);
    return RG_OK;
}

int rg_jobs_counts(struct rg_jobs *q, int64_t counts[RG_DB_JOB_N_STATES], char *err)
{
    return rg_db_job_counts(q->db, counts, err);
}

int rg_jobs_watch(struct rg_jobs *q, int64_t id, rg_jobs_watch_fn fn, void *user, char *err)
{
    struct watch *w = rg_calloc(1, sizeof *w);
    if (!w) return rg_err_set(err, RG_ENOMEM, "out of memory");
    w->id = id;
    w->seq = -1;
    w->fn = fn;
    w->user = user;
    pthread_mutex_lock(&q->wmu);
    bool stop = q->wstop || !q->watcher_on;
    if (!stop) {
        w->next = q->watches;
        q->watches = w;
        q->change_gen++; /* its first call comes now, not at the next tick */
        pthread_cond_signal(&q->wcv);
    }
    pthread_mutex_unlock(&q->wmu);
    if (stop) {
        rg_free(w);
        return rg_err_set(err, RG_ESTATE, "the job queue is not running");
    }
    return RG_OK;
}
