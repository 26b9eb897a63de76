/*
 * Storage: one interface, two backends.
 *
 *   sqlite:PATH        embedded, the default (WAL, foreign keys, busy timeout)
 *   postgres://...     PostgreSQL 15 through libpq; the account operations
 *   postgresql://...   are PL/pgSQL functions created by the migrations
 *                      (create_user, login, validate_session,
 *                      link_oauth_identity, rotate_session), so several
 *                      server nodes sharing one database apply the same rules
 *                      in one round trip each.
 *
 * The interface speaks in domain terms (users, login attempts, refresh
 * sessions, identities, API keys, background jobs), never in SQL: the SQLite backend gives the
 * same behaviour in C, inside transactions, and one test suite
 * (tests/unit/db/test_storage.c) runs against both.
 *
 * Threading: a struct rg_db is a pool of --db-pool connections; every
 * function may be called from any thread and takes a connection for the
 * duration of the call (waiting up to 10 s for one: RG_EBUSY after that).
 *
 * Secrets never reach this layer in clear: callers pass password hashes
 * (argon2id, PHC strings) and SHA-256 hashes of refresh tokens and API keys.
 * Every value goes through bound parameters; no SQL is built from input.
 *
 * Errors: RG_OK, RG_ENOTFOUND, RG_EEXISTS (unique email, identity, prefix),
 * RG_EAUTH (session unknown, expired, revoked or reused), RG_EINVAL (bad
 * argument), RG_EBUSY (no connection free, database locked), RG_EIO (the
 * database failed: err has its message). Times are Unix seconds.
 */
#ifndef RG_DB_H
#define RG_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct rg_db;

/* Roles as stored (the strings are the API's too). */
#define RG_DB_ROLE_ADMIN "admin"
#define RG_DB_ROLE_USER "user"
#define RG_DB_ROLE_READONLY "readonly"
bool rg_db_role_valid(const char *role);

struct rg_db_params {
    const char *url; /* sqlite:PATH, postgres://..., postgresql://... */
    int pool;        /* connections, default 4 (SQLite: at least 1) */
    int busy_ms;     /* SQLite busy timeout / pool wait, default 10000 */
};
void rg_db_default_params(struct rg_db_params *p);

/* Opens the pool and checks the database answers. Does not migrate. NULL
 * with err set (a bad URL, an unreachable server, a file that is not a
 * database). */
struct rg_db *rg_db_open(const struct rg_db_params *p, char *err);
void rg_db_close(struct rg_db *db);                /* accepts NULL */
const char *rg_db_backend(const struct rg_db *db); /* "sqlite" or "postgres" */

/* ---- schema ------------------------------------------------------------- */

/* Migrations are embedded in the binary, numbered from 1. Each one runs in
 * its own transaction and is recorded in schema_migrations(version, name,
 * applied_at); a failing one is rolled back and stops the run. *applied gets
 * how many ran now (may be NULL). A database newer than this binary is
 * refused (RG_EUNSUPPORTED): an old binary must not write to it. */
int rg_db_migrate(struct rg_db *db, int *applied, char *err);
/* The version the database is at (0 = empty) and the latest this binary knows. */
int rg_db_version(struct rg_db *db, int *current, int *latest, char *err);

/* ---- users -------------------------------------------------------------- */

struct rg_db_user {
    int64_t id;
    char email[256]; /* lower case, as stored */
    char name[128];
    char role[16]; /* admin, user, readonly */
    bool disabled; /* cannot sign in; sessions and keys refused */
    bool pending;  /* signed up under --signup approval, not yet approved */
    int64_t created_at;
    char pw_hash[192]; /* PHC string; empty for accounts made by OAuth only */
};

struct rg_db_new_user {
    const char *email; /* required; stored lower-cased */
    const char *name;  /* may be NULL: "" */
    const char *pw_hash;
    /* NULL: the first account of the database becomes admin, later ones
     * "user"; decided inside the transaction, so two concurrent first
     * sign-ups cannot both become admin. */
    const char *role;
    bool pending; /* ignored for the first account, which becomes the admin */
    /* Closed sign-up: refuse (RG_EPERM) unless this is the database's first
     * account. Decided in the same transaction as the first-admin rule, so
     * concurrent sign-ups on an empty database create at most one account. */
    bool first_only;
    int64_t now;
};

/* RG_EEXISTS if the email is taken (case-insensitively); RG_EPERM when
 * first_only is set and the database has an account already. */
int rg_db_user_create(struct rg_db *db, const struct rg_db_new_user *u, struct rg_db_user *out,
                      char *err);
int rg_db_user_get(struct rg_db *db, int64_t id, struct rg_db_user *out, char *err);
int rg_db_user_by_email(struct rg_db *db, const char *email, struct rg_db_user *out, char *err);
/* All users, oldest first. *out is rg_free'd by the caller. */
int rg_db_user_list(struct rg_db *db, struct rg_db_user **out, size_t *n, char *err);
int rg_db_user_count(struct rg_db *db, int64_t *n, char *err);

/* Changes what is given: role NULL keeps it; disabled/pending -1 keep, 0/1
 * set. Disabling a user also revokes their sessions. RG_ENOTFOUND.
 * Refuses (RG_ESTATE) to leave the database without an enabled admin. */
struct rg_db_user_change {
    const char *role;
    int disabled;
    int pending;
    const char *pw_hash; /* NULL keeps */
};
int rg_db_user_update(struct rg_db *db, int64_t id, const struct rg_db_user_change *c,
                      struct rg_db_user *out, char *err);

/* ---- sign-in ------------------------------------------------------------ */

/*
 * The first half of a password sign-in (PostgreSQL: login()). Records an
 * attempt for (email, addr) as failed, and returns what the server needs to
 * decide: the account if there is one (found false otherwise: the caller
 * still burns an argon2 verification, so the reply and its timing do not
 * tell), and how many attempts failed within window_s before this one, for
 * this address on this account (the pair: failures from other addresses do
 * not count, so nobody can lock a victim out from elsewhere) and for the
 * address on any account, with the time of the pair's last failure (for an
 * exponential back-off). The caller verifies the password and, on success,
 * calls rg_db_login_succeeded() with the attempt id, which marks it
 * succeeded and forgets the pair's earlier failures. Recording first means
 * a crash between the two halves counts as a failure, never as a free try.
 */
struct rg_db_login {
    int64_t attempt_id;
    bool found;
    struct rg_db_user user;
    int failures_pair;       /* failed attempts on this email from this address within the window */
    int failures_addr;       /* failed attempts from this address within the window */
    int64_t last_failure_at; /* the pair's latest counted failure; 0 if none */
};
int rg_db_login(struct rg_db *db, const char *email, const char *addr, int window_s, int64_t now,
                struct rg_db_login *out, char *err);
int rg_db_login_succeeded(struct rg_db *db, int64_t attempt_id, char *err);

/* ---- refresh sessions ----------------------------------------------------
 * A session is a refresh token (stored as its SHA-256) in a family: each use
 * rotates it (the old row is marked replaced, a new one joins the family);
 * presenting a replaced token again means it was stolen or replayed, and the
 * whole family is revoked. */

struct rg_db_session {
    int64_t id;
    int64_t user_id;
    char family[40];
    int64_t created_at, expires_at;
};

/* A new family for user_id (sign-in). */
int rg_db_session_create(struct rg_db *db, int64_t user_id, const char *token_hash,
                         int64_t expires_at, const char *user_agent, int64_t now,
                         struct rg_db_session *out, char *err);
/* The session of a live token, with its (enabled, approved) user. RG_EAUTH
 * for unknown, expired, revoked or replaced tokens and disabled users. */
int rg_db_session_validate(struct rg_db *db, const char *token_hash, int64_t now,
                           struct rg_db_session *s, struct rg_db_user *u, char *err);
/*
 * Rotation (PostgreSQL: rotate_session()): old_hash must be live; it is
 * marked replaced and new_hash joins its family with new_expires. RG_EAUTH
 * otherwise; if old_hash had already been replaced, the family is revoked
 * and *reuse set (may be NULL).
 */
int rg_db_session_rotate(struct rg_db *db, const char *old_hash, const char *new_hash,
                         int64_t new_expires, const char *user_agent, int64_t now,
                         struct rg_db_session *s, struct rg_db_user *u, bool *reuse, char *err);
/* Revokes the family of token_hash (sign-out). RG_ENOTFOUND if unknown. */
int rg_db_session_revoke(struct rg_db *db, const char *token_hash, int64_t now, char *err);
/* Revokes every session of a user. */
int rg_db_session_revoke_user(struct rg_db *db, int64_t user_id, int64_t now, char *err);

/*
 * What an access token of (user_id, session family) may do now: the user's
 * current role and whether the account is active (exists, not disabled, not
 * pending), and whether the family is still signed in (not revoked by
 * sign-out, reuse detection or disabling). One indexed read; the auth layer
 * caches it briefly.
 */
struct rg_db_token_state {
    char role[16];
    bool active;
    bool session_live;
};
int rg_db_token_state(struct rg_db *db, int64_t user_id, const char *family,
                      struct rg_db_token_state *out, char *err);

/* ---- external identities (GitHub, Apple) ---------------------------------- */

/*
 * link_oauth_identity(): what a sign-in through a provider resolves to.
 *   - the identity is known: its user (RG_OK, *created false);
 *   - signed_in_user > 0: the identity is linked to that user;
 *   - else if email (verified by the provider) belongs to an account: RG_EEXISTS
 *     (linking needs that account to sign in and link; nothing is changed);
 *   - else, if allow_create, a new account (no password, role as
 *     rg_db_user_create decides, pending as given) with the identity:
 *     *created true; if not, RG_ENOTFOUND.
 * RG_EEXISTS too if signed_in_user already has another identity of this
 * provider.
 */
struct rg_db_identity_in {
    const char *provider; /* "github", "apple" */
    const char *subject;  /* the provider's stable user id */
    const char *email;    /* verified email or NULL */
    const char *name;     /* may be NULL */
    int64_t signed_in_user;
    bool pending;      /* for a new account (the first account never is) */
    bool allow_create; /* false: an unknown identity gives RG_ENOTFOUND (closed sign-up) */
    /* with allow_create: only while the database has no account (closed
     * sign-up's first admin), decided in the transaction; RG_ENOTFOUND else */
    bool first_only;
    int64_t now;
};
int rg_db_identity_link(struct rg_db *db, const struct rg_db_identity_in *in,
                        struct rg_db_user *out, bool *created, char *err);

/* ---- API keys ------------------------------------------------------------- */

struct rg_db_apikey {
    int64_t id;
    int64_t user_id;
    char name[128];
    char prefix[32]; /* the public part shown in lists ("rg_ab12cd34") */
    char scopes[128];
    int64_t created_at;
    int64_t last_used_at; /* 0 = never */
};

/* key_hash: SHA-256 hex of the whole key. RG_EEXISTS if the prefix is taken. */
int rg_db_apikey_create(struct rg_db *db, int64_t user_id, const char *name, const char *prefix,
                        const char *key_hash, const char *scopes, int64_t now,
                        struct rg_db_apikey *out, char *err);
/* Keys of user_id (0: everyone's), newest first; revoked ones left out. */
int rg_db_apikey_list(struct rg_db *db, int64_t user_id, struct rg_db_apikey **out, size_t *n,
                      char *err);
/* Revokes key id; owner > 0 limits it to that owner's keys (RG_ENOTFOUND
 * otherwise, the same as a missing key, so ids of others are not revealed). */
int rg_db_apikey_revoke(struct rg_db *db, int64_t id, int64_t owner, int64_t now, char *err);
/* The live key with this prefix, its stored hash (for the caller's
 * constant-time comparison) and its enabled owner; updates last_used_at.
 * RG_ENOTFOUND for unknown/revoked keys and disabled owners. */
int rg_db_apikey_lookup(struct rg_db *db, const char *prefix, int64_t now, struct rg_db_apikey *k,
                        char hash_out[72], struct rg_db_user *owner, char *err);

/* ---- background jobs ---------------------------------------------------------
 * The storage of the durable job queue (src/jobs, docs/internals/jobs.md).
 * PostgreSQL: PL/pgSQL functions (job_enqueue, job_claim, job_heartbeat,
 * job_progress, job_finish, job_fail, job_cancel, job_requeue_stale), so
 * several nodes on one database apply the same rules; SQLite: the same rules
 * in C inside BEGIN IMMEDIATE. Times in this part are Unix milliseconds.
 *
 * A running job is held by a lease: (worker, attempt) fences every write of
 * the worker that claimed it, so a worker whose lease expired and whose job
 * was claimed again cannot finish it a second time (RG_ESTATE: lease lost).
 */

enum rg_db_job_state {
    RG_DB_JOB_QUEUED,
    RG_DB_JOB_RUNNING,
    RG_DB_JOB_DONE,
    RG_DB_JOB_FAILED,
    RG_DB_JOB_CANCELLED,
    RG_DB_JOB_N_STATES
};
/* "queued", "running", "done", "failed", "cancelled" (as stored and in the API). */
const char *rg_db_job_state_name(enum rg_db_job_state s);
/* The state named s, or -1. */
int rg_db_job_state_parse(const char *s);

#define RG_DB_JOB_KIND_MAX 64            /* kind names: [a-z0-9._-], 1..63 bytes */
#define RG_DB_JOB_PAYLOAD_MAX (1u << 20) /* bytes of payload JSON */
#define RG_DB_JOB_RESULT_MAX (4u << 20)  /* bytes of result JSON */

struct rg_db_job {
    int64_t id;
    char kind[RG_DB_JOB_KIND_MAX];
    int64_t owner_id; /* 0: the system's */
    enum rg_db_job_state state;
    int priority;    /* higher runs first; equal priorities run oldest first */
    double progress; /* 0..1 */
    char message[256];
    int attempts, max_attempts;
    char *payload; /* JSON text, rg_malloc'd (rg_db_job_clear frees) */
    char *result;  /* JSON text or NULL */
    char error[512];
    bool cancel_requested;
    char worker[128];    /* the lease holder while running, else "" */
    int64_t lease_until; /* 0 when not running */
    int64_t seq;         /* bumped by every visible change (state, progress) */
    int64_t created_at, updated_at, started_at, finished_at, run_after; /* 0 = not yet */
};
/* Frees payload and result (accepts a zeroed job). */
void rg_db_job_clear(struct rg_db_job *j);
/* Clears and frees an array from rg_db_job_list (accepts NULL). */
void rg_db_job_list_free(struct rg_db_job *v, size_t n);
/* Is kind a valid kind name ([a-z0-9._-], 1..63 bytes)? */
bool rg_db_job_kind_valid(const char *kind);

struct rg_db_job_new {
    const char *kind;    /* rg_db_job_kind_valid */
    int64_t owner_id;    /* a user, or 0 */
    const char *payload; /* JSON text, at most RG_DB_JOB_PAYLOAD_MAX bytes */
    int priority;        /* -1000..1000 */
    int max_attempts;    /* 1..100 */
    int64_t run_after;   /* not before (0: now) */
    int64_t now;
};
/* A new queued job; *id gets its id. RG_EINVAL (bad field), RG_ENOTFOUND
 * (owner is no user). */
int rg_db_job_enqueue(struct rg_db *db, const struct rg_db_job_new *n, int64_t *id, char *err);
/* The job (out cleared by the caller with rg_db_job_clear). RG_ENOTFOUND. */
int rg_db_job_get(struct rg_db *db, int64_t id, struct rg_db_job *out, char *err);
/* Jobs of owner (0: everyone's), newest first, at most limit (1..1000).
 * *out: rg_db_job_list_free. */
int rg_db_job_list(struct rg_db *db, int64_t owner, int limit, struct rg_db_job **out, size_t *n,
                   char *err);
/*
 * job_claim(): the next job for worker among kinds (comma-separated kind
 * names): queued ones whose run_after has come, and running ones whose lease
 * expired (their worker died), highest priority first, then oldest. It
 * becomes running with attempts + 1 and a lease until now + lease_ms.
 * Expired jobs that may not run again (attempts used up, or cancel asked)
 * end failed or cancelled on the way. Two claimers never get the same job.
 * RG_ENOTFOUND when there is nothing to do.
 */
int rg_db_job_claim(struct rg_db *db, const char *worker, const char *kinds, int64_t now,
                    int lease_ms, struct rg_db_job *out, char *err);
/* Extends the lease of (id, worker, attempt) to now + lease_ms; *cancel
 * tells whether a cancel was asked. RG_ESTATE if the lease is lost. */
int rg_db_job_heartbeat(struct rg_db *db, int64_t id, const char *worker, int attempt, int64_t now,
                        int lease_ms, bool *cancel, char *err);
/* Progress (clamped to 0..1) and message; also a heartbeat. RG_ESTATE. */
int rg_db_job_progress(struct rg_db *db, int64_t id, const char *worker, int attempt,
                       double progress, const char *message, int64_t now, int lease_ms,
                       bool *cancel, char *err);
/* The leased job ends: state RG_DB_JOB_DONE (result: JSON text or NULL) or
 * RG_DB_JOB_CANCELLED. RG_ESTATE if the lease is lost, RG_EINVAL. */
int rg_db_job_finish(struct rg_db *db, int64_t id, const char *worker, int attempt,
                     enum rg_db_job_state state, const char *result, int64_t now, char *err);
/*
 * job_fail(): the attempt failed with error. A cancel asked meanwhile ends
 * it cancelled; while attempts < max_attempts it is queued again to run
 * after now + min(backoff_ms * 2^(attempts-1), backoff_max_ms); else it
 * ends failed. *state (may be NULL) gets the state it is left in.
 */
int rg_db_job_fail(struct rg_db *db, int64_t id, const char *worker, int attempt, const char *error,
                   int64_t now, int64_t backoff_ms, int64_t backoff_max_ms,
                   enum rg_db_job_state *state, char *err);
/*
 * job_cancel(): a queued job ends cancelled at once; a running one gets
 * cancel_requested (its worker stops it and ends it cancelled). owner > 0
 * limits it to that owner's jobs (RG_ENOTFOUND otherwise, as for a missing
 * job). RG_ESTATE for a job that already ended. *state (may be NULL) gets
 * the state after the call.
 */
int rg_db_job_cancel(struct rg_db *db, int64_t id, int64_t owner, int64_t now,
                     enum rg_db_job_state *state, char *err);
/*
 * job_requeue_stale(): running jobs of worker (NULL: of any worker whose
 * lease expired) go back to queued. refund: the attempt is given back (a
 * clean shutdown interrupted it); otherwise it counts, and a job whose
 * attempts are used up ends failed (a cancelled one, cancelled). *n (may be
 * NULL) gets how many jobs were touched.
 */
int rg_db_job_requeue_stale(struct rg_db *db, const char *worker, int64_t now, bool refund,
                            int64_t *n, char *err);
/* How many jobs are in each state. */
int rg_db_job_counts(struct rg_db *db, int64_t counts[RG_DB_JOB_N_STATES], char *err);

#endif
