/*
 * The durable job queue: background work (indexing, summaries, titles,
 * images, long audio) that must survive a restart, submitted by any part of
 * the server and run by a pool of worker threads. docs/internals/jobs.md
 * tells the whole story; in short:
 *
 *   - Jobs live in the database (src/db, "background jobs"): a submitted
 *     job is queued; a worker claims it (running, under a lease it renews
 *     by heartbeats), runs its kind's function, and ends it done (with a
 *     result), failed (after max_attempts, with exponential back-off
 *     between attempts) or cancelled.
 *   - Kinds are registered before rg_jobs_start() with a run function and,
 *     optionally, a payload check; a node claims only kinds it registered.
 *   - A job whose node died is run again: on start a node requeues its own
 *     running jobs, and any node claims a job whose lease expired. Jobs are
 *     therefore run at least once, never by two workers at the same time;
 *     a run function should be idempotent or check its own progress.
 *   - Progress is followed with rg_jobs_watch(): a callback on the queue's
 *     watcher thread each time the job changes (progress, state), whoever
 *     runs it (the database is polled, so jobs on other nodes are seen too).
 *
 * Threads: rg_jobs_* may be called from any thread once rg_jobs_init
 * returned; rg_jobs_register only before rg_jobs_start. Run functions run
 * on worker threads; watch callbacks on the watcher thread.
 */
#ifndef RG_JOBS_H
#define RG_JOBS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "db/db.h"

struct rg_jobs;
struct rg_job_ctx; /* one running attempt, handed to the run function */

/*
 * Runs one attempt of a job. payload is the job's JSON (read-only). On
 * success return RG_OK and set *result to a new JSON value (or leave it
 * NULL: null), which the queue takes. Any other code fails the attempt,
 * with the reason in err (RG_ERR_SIZE); it is retried after a back-off
 * while attempts remain. A function that stopped because rg_job_cancelled()
 * said so returns RG_ECANCELED.
 */
typedef int (*rg_job_run_fn)(struct rg_job_ctx *ctx, const json_t *payload, json_t **result,
                             char *err);
/* Checks a payload before it is stored: RG_OK or RG_EINVAL with err. */
typedef int (*rg_job_check_fn)(const json_t *payload, void *user, char *err);

enum rg_job_kind_flags {
    RG_JOB_USER = 1 << 0, /* users may submit it themselves (POST /jobs) */
};

struct rg_job_kind {
    const char *name; /* [a-z0-9._-], 1..63 bytes; copied */
    rg_job_run_fn run;
    rg_job_check_fn check; /* may be NULL: any JSON payload */
    void *user;            /* for run (rg_job_user) and check */
    unsigned flags;        /* RG_JOB_* */
};

struct rg_jobs_params {
    int workers;            /* worker threads, default 2 (0: submit and read only) */
    int lease_ms;           /* a running job's lease, default 30000; heartbeats every third */
    int poll_ms;            /* idle workers look for work this often, default 500 */
    int64_t backoff_ms;     /* first retry delay, default 1000; doubles each attempt */
    int64_t backoff_max_ms; /* the longest delay, default 3600000 */
    int watch_ms;           /* watchers poll the database this often, default 250 */
    /* This node's name as a lease holder (at most 127 bytes): the same
     * across restarts of the node (its stale jobs are requeued on start),
     * different from every other node on the database. Required. */
    const char *node;
};
void rg_jobs_default_params(struct rg_jobs_params *p);

/* A queue over db (migrated; it must outlive the queue). No thread runs
 * yet. NULL with err set (RG_EINVAL: bad params, RG_ENOMEM). */
struct rg_jobs *rg_jobs_init(const struct rg_jobs_params *p, struct rg_db *db, char *err);
/* Adds a kind. RG_EINVAL (bad name, no run function), RG_EEXISTS, RG_ESTATE
 * (the queue already started), RG_ENOMEM. */
int rg_jobs_register(struct rg_jobs *q, const struct rg_job_kind *k, char *err);
/* The registered kind of that name, or NULL. */
const struct rg_job_kind *rg_jobs_kind(const struct rg_jobs *q, const char *name);
/* Requeues this node's jobs left running by a crash (the attempt counts),
 * then starts the workers, the heartbeat and the watcher threads.
 * RG_ESTATE if started already, RG_EIO (database), RG_ENOMEM. */
int rg_jobs_start(struct rg_jobs *q, char *err);
/* Stops: running jobs are asked to stop (rg_job_cancelled() turns true) and
 * given back to the queue without using an attempt; watchers get their last
 * call; the threads are joined. Accepts NULL. The database stays open. */
void rg_jobs_free(struct rg_jobs *q);

/*
 * Submits a job of a registered kind (whatever its flags) for owner_id (a
 * user, or 0 for the system), after the kind's check. priority -1000..1000
 * (higher first), max_attempts 1..100. *id gets its id. A failing call
 * stores nothing. RG_EINVAL (unknown kind, bad payload or numbers),
 * RG_ENOTFOUND (no such owner), RG_EIO, RG_EBUSY, RG_ENOMEM.
 */
int rg_jobs_submit(struct rg_jobs *q, const char *kind, int64_t owner_id, const json_t *payload,
                   int priority, int max_attempts, int64_t *id, char *err);
/* The job if owner is 0 or owns it (RG_ENOTFOUND otherwise, the same as a
 * missing job). *out: rg_db_job_clear. */
int rg_jobs_get(struct rg_jobs *q, int64_t id, int64_t owner, struct rg_db_job *out, char *err);
/* Jobs of owner (0: all), newest first, at most limit. *out: rg_db_job_list_free. */
int rg_jobs_list(struct rg_jobs *q, int64_t owner, int limit, struct rg_db_job **out, size_t *n,
                 char *err);
/*
 * Cancels a job (owner as for rg_jobs_get): a queued one is cancelled at
 * once; a running one is asked to stop (at once if it runs on this node,
 * at its next heartbeat elsewhere) and ends cancelled. *state (may be NULL)
 * gets the state after the call. RG_ENOTFOUND, RG_ESTATE (already ended).
 */
int rg_jobs_cancel(struct rg_jobs *q, int64_t id, int64_t owner, enum rg_db_job_state *state,
                   char *err);
/* Jobs by state, for /status and /metrics. */
int rg_jobs_counts(struct rg_jobs *q, int64_t counts[RG_DB_JOB_N_STATES], char *err);

/*
 * Follows a job. fn runs on the watcher thread: first with the job as it is,
 * then each time it changes (changed true), and every watch_ms in between
 * with changed false (so the caller can notice its client left). Its last
 * call is one that returns false, or gets a job in a final state (done,
 * failed, cancelled), or gets j NULL (the job vanished or the queue is
 * stopping). j is valid only during the call. A failing call (RG_ENOMEM,
 * RG_ESTATE when the queue is stopping) never calls fn.
 */
typedef bool (*rg_jobs_watch_fn)(const struct rg_db_job *j, bool changed, void *user);
int rg_jobs_watch(struct rg_jobs *q, int64_t id, rg_jobs_watch_fn fn, void *user, char *err);

/* ---- inside a run function ---- */
int64_t rg_job_id(const struct rg_job_ctx *ctx);
int64_t rg_job_owner(const struct rg_job_ctx *ctx);
int rg_job_attempt(const struct rg_job_ctx *ctx); /* 1 for the first */
void *rg_job_user(const struct rg_job_ctx *ctx);  /* the kind's user pointer */
/* Records progress (0..1, clamped) and a message (truncated to 255 bytes),
 * which renews the lease too; meant for a few calls a second at most.
 * RG_OK, or RG_ECANCELED when the job should stop (see rg_job_cancelled);
 * a database failure is not the run's failure: it returns RG_OK. */
int rg_job_progress(struct rg_job_ctx *ctx, double fraction, const char *message);
/* True once the job should stop: a cancel was asked, its lease was lost to
 * another node, or the queue is stopping. Check it between steps. */
bool rg_job_cancelled(const struct rg_job_ctx *ctx);

#endif
