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

/* ---- refresh sessions as a user sees them (the account page) ---------------- */

/* One signed-in device: a live family (not revoked, its newest token not
 * expired), with the user agent and times of its newest token. */
struct rg_db_device {
    char family[40];
    char user_agent[256];
    int64_t created_at;   /* the family's first sign-in */
    int64_t last_used_at; /* the newest rotation */
    int64_t expires_at;
};
/* The user's live families, most recently used first. *out: rg_free. */
int rg_db_session_list(struct rg_db *db, int64_t user_id, int64_t now, struct rg_db_device **out,
                       size_t *n, char *err);
/* Revokes family of user_id (RG_ENOTFOUND when it is not theirs or not
 * live); with except set instead, every live family of the user but that one
 * ("sign out other devices"; family then NULL). *n (may be NULL) gets how
 * many were revoked. */
int rg_db_session_revoke_family(struct rg_db *db, int64_t user_id, const char *family,
                                const char *except, int64_t now, int64_t *n, char *err);

/* ---- conversations ---------------------------------------------------------------
 * Kept chats (migration 4; docs/internals/conversations.md). A conversation
 * owns a tree of messages: parent_id links a message to the one it answers
 * or follows (0: a root); an edit or a regeneration is a sibling (same
 * parent). The active leaf names the branch shown and continued: the path
 * from a root to it. Messages are grouped into threads (each conversation
 * has a main thread from its creation; a moved subtree can form a new one).
 *
 * Every call takes the owner and touches only that owner's rows: another
 * user's conversation, message or thread is RG_ENOTFOUND, exactly as a
 * missing one, so ids reveal nothing. There is no "any owner" value: nobody
 * (admins included) reads another user's messages through this interface.
 * PostgreSQL: the writes are PL/pgSQL functions (conv_create, msg_add,
 * msg_finish, msg_delete, conv_set_active, msg_move, conv_delete); SQLite:
 * the same rules in C inside BEGIN IMMEDIATE. Times in this part are Unix
 * milliseconds. Full-text search: FTS5 (SQLite), tsvector + GIN (PostgreSQL),
 * 'simple' word rules on both (no stemming), every word of the query must
 * appear (the last one may be a prefix: search as you type), case-insensitive.
 */

#define RG_DB_CONV_TITLE_MAX 200        /* bytes of a title */
#define RG_DB_CONV_TAGS_MAX 16          /* tags of a conversation */
#define RG_DB_CONV_TAG_MAX 48           /* bytes of one tag */
#define RG_DB_CONV_SETTINGS_MAX 65536   /* bytes of settings JSON */
#define RG_DB_MSG_CONTENT_MAX (4u << 20) /* bytes of a message's text */

/* Message types (as stored and in the API). */
#define RG_DB_MSG_TYPES "user,assistant,system,tool,summary,note"
bool rg_db_msg_type_valid(const char *type);

struct rg_db_conv {
    int64_t id;
    int64_t owner_id;
    char title[RG_DB_CONV_TITLE_MAX + 8];
    char model[128];
    char *settings; /* JSON object text (system prompt, sampling), rg_malloc'd; "{}" default */
    char folder[128]; /* "" = none */
    char tags[RG_DB_CONV_TAGS_MAX * (RG_DB_CONV_TAG_MAX + 1) + 8]; /* comma-separated, sorted */
    bool archived, pinned;
    bool title_auto;     /* the title was made by the model (or not yet: title "") */
    char type[16];       /* reflective, analytical, practical or "" (docs/memory.md) */
    bool type_auto;      /* the type is the classifier's (or none yet); false: set by hand */
    int64_t active_leaf; /* message id, 0 when there is no message */
    int64_t main_thread; /* the thread made with the conversation */
    int64_t n_messages;
    int64_t created_at, updated_at; /* updated: any change, a new message included */
    /* filled by a search only: the best matching message (0: the title
     * matched) and a snippet of its text around the match (UTF-8, <= 240 bytes) */
    int64_t match_message;
    char snippet[256];
};
void rg_db_conv_clear(struct rg_db_conv *c);                 /* frees settings; accepts zeroed */
void rg_db_conv_list_free(struct rg_db_conv *v, size_t n); /* accepts NULL */

struct rg_db_conv_new {
    int64_t owner_id;
    const char *title;    /* NULL or "": untitled (title_auto: a title job may name it) */
    const char *model;    /* may be NULL */
    const char *settings; /* JSON object text or NULL */
    const char *folder;   /* may be NULL */
    const char *tags;     /* comma-separated or NULL; normalised (trimmed, lower case, sorted, unique) */
    int64_t now;
};
/* RG_ENOTFOUND (owner is no user), RG_EINVAL. */
int rg_db_conv_create(struct rg_db *db, const struct rg_db_conv_new *n, struct rg_db_conv *out,
                      char *err);
int rg_db_conv_get(struct rg_db *db, int64_t owner, int64_t id, struct rg_db_conv *out, char *err);

struct rg_db_conv_filter {
    const char *q;      /* full-text query over titles and message text, NULL/"" none */
    const char *folder; /* NULL: any */
    const char *tag;    /* NULL: any; else conversations having this tag */
    int archived;       /* -1 any, 0 not archived (the usual list), 1 archived only */
    const char *type;   /* NULL: any; else conversations of this type (db/memory.h) */
    int limit;          /* 1..200 */
    int offset;         /* >= 0 */
};
/* The owner's conversations, pinned first, then most recently updated first
 * (ties: higher id first). With q: the conversations where every word
 * appears in the title or in one message, with match_message and snippet.
 * *more tells whether more follow. *out: rg_db_conv_list_free. */
int rg_db_conv_list(struct rg_db *db, int64_t owner, const struct rg_db_conv_filter *f,
                    struct rg_db_conv **out, size_t *n, bool *more, char *err);

/* Changes what is given (NULL / -1 keep). A title given sets title_auto
 * false unless title_auto is 1 (the title job). RG_ENOTFOUND, RG_EINVAL. */
struct rg_db_conv_change {
    const char *title;
    const char *model;
    const char *settings;
    const char *folder;
    const char *tags;
    int archived, pinned; /* -1 keep */
    int title_auto;       /* -1 keep (a given title makes it 0), 0/1 set */
    /* the title job: only if the title is still auto (the user did not rename
     * meanwhile); otherwise nothing changes and RG_ESTATE */
    bool only_if_auto;
    int64_t now;
};
int rg_db_conv_update(struct rg_db *db, int64_t owner, int64_t id,
                      const struct rg_db_conv_change *c, struct rg_db_conv *out, char *err);
/* The conversation, its messages and threads. RG_ENOTFOUND. */
int rg_db_conv_delete(struct rg_db *db, int64_t owner, int64_t id, char *err);

struct rg_db_msg {
    int64_t id, conv_id, thread_id;
    int64_t parent_id; /* 0: a root */
    char type[16];     /* RG_DB_MSG_TYPES */
    char role[16];     /* user, assistant, system, tool */
    char *content;     /* rg_malloc'd, never NULL after a read */
    char model[128];   /* the model that wrote it ("" for people) */
    char *settings;    /* JSON object text: sampling settings, tool calls...; rg_malloc'd */
    char finish[16];   /* stop, length, cancelled, error, "" (not an answer / not ended) */
    bool incomplete;   /* an answer that did not end (client left, error, still streaming) */
    int64_t prompt_tokens, completion_tokens;
    int64_t duration_ms; /* of the generation */
    int64_t created_at, updated_at;
    int n_children; /* filled by reads: how many messages have this one as parent */
};
void rg_db_msg_clear(struct rg_db_msg *m);
void rg_db_msg_list_free(struct rg_db_msg *v, size_t n);

struct rg_db_msg_new {
    int64_t conv_id;
    /* the message it follows: a message of the conversation, or 0 for a root
     * (a conversation may have several roots: editing the first message) */
    int64_t parent_id;
    int64_t thread_id; /* 0: the parent's thread (a root: the main thread) */
    const char *type;  /* rg_db_msg_type_valid */
    const char *role;  /* NULL: from the type (user->user, assistant/summary->assistant,
                        * system/note->system, tool->tool) */
    const char *content;  /* may be "" (an answer about to stream) */
    const char *model;    /* may be NULL */
    const char *settings; /* JSON object or NULL */
    bool incomplete;
    bool set_active; /* the new message becomes the active leaf */
    int64_t now;
};
/* A new message; updates the conversation's updated_at (and active leaf).
 * RG_ENOTFOUND (conversation, parent or thread not the owner's / not in this
 * conversation), RG_EINVAL. */
int rg_db_msg_add(struct rg_db *db, int64_t owner, const struct rg_db_msg_new *n,
                  struct rg_db_msg *out, char *err);

/* msg_finish(): an answer's final (or intermediate, incomplete still true)
 * state: content replaced, finish, tokens and duration set. RG_ENOTFOUND. */
struct rg_db_msg_end {
    const char *content;
    const char *finish; /* may be NULL: "" */
    bool incomplete;
    int64_t prompt_tokens, completion_tokens, duration_ms;
    const char *settings; /* NULL keeps */
    int64_t now;
};
int rg_db_msg_finish(struct rg_db *db, int64_t owner, int64_t id, const struct rg_db_msg_end *e,
                     struct rg_db_msg *out, char *err);
int rg_db_msg_get(struct rg_db *db, int64_t owner, int64_t id, struct rg_db_msg *out, char *err);
/* Every message of the conversation, oldest first (ids ascending): the
 * whole tree. RG_ENOTFOUND. */
int rg_db_msg_list(struct rg_db *db, int64_t owner, int64_t conv_id, struct rg_db_msg **out,
                   size_t *n, char *err);
/* The path from a root to leaf (leaf 0: the active leaf), root first; empty
 * for a conversation without messages. RG_ENOTFOUND (leaf not in conv). */
int rg_db_msg_branch(struct rg_db *db, int64_t owner, int64_t conv_id, int64_t leaf,
                     struct rg_db_msg **out, size_t *n, char *err);
/* conv_set_active(): msg_id (a message of the conversation) and, with
 * descend, then its newest child repeatedly down to a leaf, becomes the
 * active leaf; *leaf gets it. RG_ENOTFOUND. */
int rg_db_conv_set_active(struct rg_db *db, int64_t owner, int64_t conv_id, int64_t msg_id,
                          bool descend, int64_t *leaf, char *err);
/* msg_delete(): the message and its whole subtree. If the active leaf was in
 * it, the active leaf becomes the deleted message's parent followed down its
 * newest children (or, for a root, the newest remaining root so followed; 0
 * when none is left). *n (may be NULL): how many were deleted. */
int rg_db_msg_delete(struct rg_db *db, int64_t owner, int64_t id, int64_t *n, char *err);

struct rg_db_thread {
    int64_t id, conv_id;
    char title[RG_DB_CONV_TITLE_MAX + 8];
    int64_t root_id;    /* the message it was started from (0: the main thread) */
    bool collapsed;
    int64_t summary_id; /* a summary message, 0 none */
    int64_t created_at;
    int64_t n_messages; /* filled by reads */
};
/* The conversation's threads, oldest first. *out: rg_free. */
int rg_db_thread_list(struct rg_db *db, int64_t owner, int64_t conv_id, struct rg_db_thread **out,
                      size_t *n, char *err);
/* title NULL keeps, collapsed -1 keeps, summary_id -1 keeps (0 clears; else a
 * message of the conversation). RG_ENOTFOUND, RG_EINVAL. */
int rg_db_thread_update(struct rg_db *db, int64_t owner, int64_t thread_id, const char *title,
                        int collapsed, int64_t summary_id, struct rg_db_thread *out, char *err);
/* msg_move(): message msg_id and its subtree join thread_id (a thread of the
 * same conversation), or with thread_id 0 a new thread titled new_title
 * (NULL/"": "Thread N") rooted at the message; *out gets the thread.
 * A thread left without messages (other than the main one) is deleted.
 * Tree links are unchanged: threads group messages, they do not reparent.
 * RG_ENOTFOUND, RG_EINVAL. */
int rg_db_msg_move(struct rg_db *db, int64_t owner, int64_t msg_id, int64_t thread_id,
                   const char *new_title, int64_t now, struct rg_db_thread *out, char *err);

/* ---- library ----------------------------------------------------------------------
 * The knowledge library's storage (migration 5; docs/internals/search.md):
 * collections of documents, watched folders, documents cut into chunks, the
 * chunks' embeddings and a full-text index over their text.
 *
 * Ownership, as for conversations: every call takes the acting user and
 * touches only that user's rows; another user's collection, folder, document
 * or chunk is RG_ENOTFOUND, exactly as a missing one. One exception: a
 * collection marked shared (published by an admin) is readable by every
 * user, with its documents and chunks (get, list, search); writing to it or
 * to them stays its owner's (RG_EPERM for the others, who can see it).
 * Only an admin may mark a collection shared (the role is read inside the
 * transaction: RG_EPERM otherwise).
 *
 * PostgreSQL: the writes are PL/pgSQL functions (lib_collection_create,
 * lib_collection_update, lib_doc_create, lib_doc_update, lib_chunks_replace,
 * ...); SQLite: the same rules in C inside BEGIN IMMEDIATE. Times in this
 * part are Unix milliseconds. Deleting a collection deletes its folders,
 * documents and chunks; deleting a folder deletes the documents found in it;
 * deleting a document deletes its chunks (and their vectors).
 *
 * Embeddings are stored with their chunk as little-endian IEEE f32, dim * 4
 * bytes (SQLite BLOB, PostgreSQL bytea), with the model's name; the vector
 * index (src/index/vec.h) keeps its own compact copy (f16 or int8) and is
 * rebuilt from these.
 *
 * Full-text search: FTS5 (SQLite, bm25()) and tsvector + GIN (PostgreSQL,
 * ts_rank_cd()), 'simple' word rules (no stemming), case-insensitive; the
 * query is cut into plain words as for conversations (never parsed as FTS5 or
 * tsquery syntax); every word must appear, the last may be a prefix.
 */

#define RG_DB_LIB_NAME_MAX 200         /* bytes of a collection name, a title */
#define RG_DB_LIB_DESC_MAX 4000        /* bytes of a collection description */
#define RG_DB_LIB_PATH_MAX 4096        /* bytes of a folder or source path */
#define RG_DB_LIB_META_MAX 1000        /* bytes of authors, identifier */
#define RG_DB_LIB_HEADING_MAX 1000     /* bytes of a chunk's heading path */
#define RG_DB_LIB_CHUNK_MAX (1u << 20) /* bytes of a chunk's text */
#define RG_DB_LIB_DIM_MAX 4096         /* dimensions of an embedding */
#define RG_DB_LIB_ERROR_MAX 1000       /* bytes of a document's error text */
/* Snippets of a search: at most this many bytes of whole UTF-8 characters,
 * the query's words marked by RG_DB_LIB_MARK_ON ... RG_DB_LIB_MARK_OFF (bytes
 * that never occur in stored text: db.c refuses control characters other
 * than \t \n \r in chunks), "…" where text was cut. The API turns the pair
 * into <mark></mark> after escaping the rest. */
#define RG_DB_LIB_SNIPPET_MAX 300
#define RG_DB_LIB_MARK_ON "\x02"
#define RG_DB_LIB_MARK_OFF "\x03"

struct rg_db_collection {
    int64_t id;
    int64_t owner_id;
    char name[RG_DB_LIB_NAME_MAX + 8];
    char description[RG_DB_LIB_DESC_MAX + 8];
    bool shared;         /* published to every user, read-only for them */
    int64_t n_documents; /* filled by reads */
    int64_t created_at, updated_at;
};

struct rg_db_collection_new {
    int64_t owner_id;
    const char *name;        /* required, one line, 1..RG_DB_LIB_NAME_MAX bytes */
    const char *description; /* may be NULL */
    bool shared;             /* the owner must be an admin (RG_EPERM) */
    int64_t now;
};
/* RG_ENOTFOUND (no such user), RG_EEXISTS (the owner has a collection of
 * that name), RG_EPERM, RG_EINVAL. */
int rg_db_collection_create(struct rg_db *db, const struct rg_db_collection_new *n,
                            struct rg_db_collection *out, char *err);
/* The user's collection or a shared one. RG_ENOTFOUND. */
int rg_db_collection_get(struct rg_db *db, int64_t user, int64_t id, struct rg_db_collection *out,
                         char *err);
/* The user's own collections and every shared one, by name (then id).
 * *out: rg_free. */
int rg_db_collection_list(struct rg_db *db, int64_t user, struct rg_db_collection **out, size_t *n,
                          char *err);
/* Changes what is given (NULL / -1 keep). Owner only: RG_ENOTFOUND, or
 * RG_EPERM for a shared collection of another; shared 1 needs an admin
 * (RG_EPERM); RG_EEXISTS (name taken), RG_EINVAL. */
struct rg_db_collection_change {
    const char *name;
    const char *description;
    int shared; /* -1 keep */
    int64_t now;
};
int rg_db_collection_update(struct rg_db *db, int64_t user, int64_t id,
                            const struct rg_db_collection_change *c, struct rg_db_collection *out,
                            char *err);
/* The collection with its folders, documents and chunks. RG_ENOTFOUND,
 * RG_EPERM (a shared collection of another). */
int rg_db_collection_delete(struct rg_db *db, int64_t user, int64_t id, char *err);

/* A watched folder: the watcher (src/index) indexes what is under path into
 * collection_id on behalf of owner_id. */
struct rg_db_lib_folder {
    int64_t id;
    int64_t owner_id;
    int64_t collection_id;
    char path[RG_DB_LIB_PATH_MAX + 8]; /* absolute, as given (no trailing '/' but for "/") */
    int64_t created_at;
};
/* path must be absolute and valid UTF-8; collection_id one of the user's own
 * collections (RG_ENOTFOUND; RG_EPERM for a shared one of another).
 * RG_EEXISTS when the user watches this path already. */
int rg_db_lib_folder_add(struct rg_db *db, int64_t user, int64_t collection_id, const char *path,
                         int64_t now, struct rg_db_lib_folder *out, char *err);
/* The user's folders (user 0: every user's, for the watcher at start),
 * oldest first. *out: rg_free. */
int rg_db_lib_folder_list(struct rg_db *db, int64_t user, struct rg_db_lib_folder **out, size_t *n,
                          char *err);
/* The folder and the documents indexed from it. RG_ENOTFOUND. */
int rg_db_lib_folder_remove(struct rg_db *db, int64_t user, int64_t id, char *err);

enum rg_db_doc_state {
    RG_DB_DOC_QUEUED,
    RG_DB_DOC_INDEXING,
    RG_DB_DOC_READY,
    RG_DB_DOC_ERROR,
    RG_DB_DOC_N_STATES
};
/* "queued", "indexing", "ready", "error" (as stored and in the API). */
const char *rg_db_doc_state_name(enum rg_db_doc_state s);
int rg_db_doc_state_parse(const char *s); /* the state, or -1 */

struct rg_db_document {
    int64_t id;
    int64_t owner_id;
    int64_t collection_id;
    int64_t folder_id;                   /* 0: uploaded */
    char source[RG_DB_LIB_PATH_MAX + 8]; /* the absolute path in the folder, or the upload's name */
    char format[16];                     /* epub, md, txt, html, pdf, zim, ... */
    char title[RG_DB_LIB_NAME_MAX + 8];
    char authors[RG_DB_LIB_META_MAX + 8];    /* "; "-separated as the parser gave them */
    char language[36];                       /* BCP 47 as found, "" unknown */
    char identifier[RG_DB_LIB_META_MAX + 8]; /* ISBN, URN, ... "" none */
    char encoding[32]; /* the text's encoding as detected ("utf-8", "windows-1252") */
    char tags[RG_DB_CONV_TAGS_MAX * (RG_DB_CONV_TAG_MAX + 1) +
              8];          /* normalised as conversation tags */
    char content_hash[72]; /* SHA-256 hex of the file's bytes, "" not yet */
    int64_t size;          /* bytes of the file */
    int64_t mtime;         /* the file's modification time, Unix ms (0 for uploads) */
    enum rg_db_doc_state state;
    char error[RG_DB_LIB_ERROR_MAX + 8]; /* why it is in state error, else "" */
    double progress;                     /* 0..1 within the state */
    int64_t n_chunks;
    char embed_model[128]; /* the model of its chunks' embeddings, "" none */
    int64_t created_at, updated_at;
};

struct rg_db_doc_new {
    int64_t owner_id;
    int64_t collection_id; /* one of the owner's collections (RG_ENOTFOUND / RG_EPERM) */
    int64_t folder_id;     /* 0: uploaded; else the owner's folder of that collection */
    const char *source;    /* required; valid UTF-8, one line */
    const char *format;    /* required, [a-z0-9]{1,15} */
    const char *title, *authors, *language, *identifier, *encoding; /* may be NULL */
    const char *tags;                                               /* comma-separated or NULL */
    const char *content_hash;                                       /* hex or NULL */
    int64_t size, mtime;
    int64_t now;
};
/* A new document in state queued. RG_EEXISTS when the folder has a document
 * of that source already (uploads may repeat names). */
int rg_db_doc_create(struct rg_db *db, const struct rg_db_doc_new *n, struct rg_db_document *out,
                     char *err);
/* The user's document or one in a shared collection. RG_ENOTFOUND. */
int rg_db_doc_get(struct rg_db *db, int64_t user, int64_t id, struct rg_db_document *out,
                  char *err);
/* The user's document of (folder, source path): what the watcher compares a
 * file with. RG_ENOTFOUND. */
int rg_db_doc_by_path(struct rg_db *db, int64_t user, int64_t folder_id, const char *source,
                      struct rg_db_document *out, char *err);

struct rg_db_doc_filter {
    int64_t collection_id; /* 0: any visible (own + shared) */
    int64_t folder_id;     /* 0: any; -1: uploads only */
    int state;             /* -1 any, else an rg_db_doc_state */
    const char *tag;       /* NULL: any */
    int limit;             /* 1..1000 */
    int offset;            /* >= 0 */
};
/* Visible documents, newest first (updated_at, then id). *more: more follow.
 * *out: rg_free. */
int rg_db_doc_list(struct rg_db *db, int64_t user, const struct rg_db_doc_filter *f,
                   struct rg_db_document **out, size_t *n, bool *more, char *err);
/* State, progress (clamped to 0..1) and error text (NULL: ""; kept only in
 * state error). Owner only. RG_ENOTFOUND, RG_EINVAL. */
int rg_db_doc_set_state(struct rg_db *db, int64_t user, int64_t id, enum rg_db_doc_state state,
                        double progress, const char *error, int64_t now, char *err);
/* Metadata found by parsing, tags set by hand or rules, the file's new hash,
 * size and mtime (a changed file): what is given (NULL / -1 keep). Owner
 * only (RG_ENOTFOUND; RG_EPERM in a shared collection of another). */
struct rg_db_doc_change {
    const char *title, *authors, *language, *identifier, *encoding, *format;
    const char *tags;
    const char *content_hash;
    const char *embed_model;
    int64_t size, mtime; /* -1 keep */
    int64_t now;
};
int rg_db_doc_update(struct rg_db *db, int64_t user, int64_t id, const struct rg_db_doc_change *c,
                     struct rg_db_document *out, char *err);
/* The document and its chunks. RG_ENOTFOUND, RG_EPERM. */
int rg_db_doc_delete(struct rg_db *db, int64_t user, int64_t id, char *err);

/* A chunk as the chunker cuts it (src/index/chunk.h) and as it is stored. */
struct rg_db_chunk {
    int64_t id;
    int64_t doc_id;
    int ordinal;                             /* 0.. in document order */
    char *text;                              /* UTF-8, rg_malloc'd on reads */
    char heading[RG_DB_LIB_HEADING_MAX + 8]; /* heading path, " > "-joined */
    char section[RG_DB_LIB_NAME_MAX + 8];    /* chapter or section id/title ("" none) */
    int page_from, page_to;                  /* 1-based, 0 when the format has no pages */
    char part[RG_DB_LIB_NAME_MAX + 8];       /* the archive member (EPUB XHTML, ZIM entry) */
    int64_t byte_from, byte_to;              /* the source byte range [from, to) */
    int tokens;                              /* the embedding model's tokens, 0 unknown */
    char embed_model[128];                   /* "" while it has no embedding */
    int dim;                                 /* of its embedding, 0 none */
};
void rg_db_chunk_clear(struct rg_db_chunk *c);               /* frees text; accepts zeroed */
void rg_db_chunk_list_free(struct rg_db_chunk *v, size_t n); /* accepts NULL */

/* The document's chunks become exactly chunks[0..n) (ordinals and ids
 * new; embeddings dropped), n_chunks updated, in one transaction: a failure
 * leaves the old chunks (re-indexing a changed file is all or nothing). The
 * id and embedding fields of chunks are ignored. ids (may be NULL) gets the
 * new chunk ids in order (n of them, the caller's array). Owner only:
 * RG_ENOTFOUND, RG_EPERM; RG_EINVAL (text empty, too long, not UTF-8, or
 * with control bytes other than \t \n \r). */
int rg_db_chunks_replace(struct rg_db *db, int64_t user, int64_t doc_id,
                         const struct rg_db_chunk *chunks, size_t n, int64_t *ids, char *err);
/* Embeddings of chunks ids[0..n) (n <= 1024 a call): vecs holds n * dim
 * floats, row i for ids[i]; model names them. One transaction. Chunks not
 * the user's are RG_ENOTFOUND (nothing is written). */
int rg_db_chunks_set_embeddings(struct rg_db *db, int64_t user, const int64_t *ids, size_t n,
                                const float *vecs, int dim, const char *model, char *err);
/* One visible chunk with its document. RG_ENOTFOUND. */
int rg_db_chunk_get(struct rg_db *db, int64_t user, int64_t id, struct rg_db_chunk *out,
                    struct rg_db_document *doc, char *err);
/* The chunks of a document in order (ordinal from..from+limit, limit
 * 1..1000), for showing a passage with its neighbours. *out:
 * rg_db_chunk_list_free. */
int rg_db_chunk_list(struct rg_db *db, int64_t user, int64_t doc_id, int from, int limit,
                     struct rg_db_chunk **out, size_t *n, char *err);

/* One stored vector, for rebuilding the vector index. */
struct rg_db_vec_row {
    int64_t chunk_id, doc_id, collection_id, owner_id;
    bool shared; /* the collection is shared */
    float *vec;  /* dim floats, into the page's buffer */
};
struct rg_db_vec_page {
    struct rg_db_vec_row *rows;
    size_t n;
    int dim;
    float *buf; /* n * dim */
};
void rg_db_vec_page_free(struct rg_db_vec_page *p); /* accepts zeroed */
/* Every user's chunk vectors of model with chunk id > after, ascending, at
 * most limit (1..10000) a page: call again with after = the last id until
 * n is 0. The system's read (no owner filter: the index filters at search). */
int rg_db_vec_page(struct rg_db *db, const char *model, int64_t after, int limit,
                   struct rg_db_vec_page *out, char *err);
/* How many chunk vectors of model are stored and the largest chunk id among
 * them: the vector file's fingerprint (a file that does not match is rebuilt). */
int rg_db_vec_stats(struct rg_db *db, const char *model, int64_t *count, int64_t *max_id,
                    char *err);

/* A search hit: a chunk with what a result shows and a citation opens. */
struct rg_db_chunk_hit {
    int64_t chunk_id, doc_id, collection_id;
    double rank; /* higher is better (-bm25 on SQLite, ts_rank_cd on PostgreSQL); 0 for located */
    char snippet[RG_DB_LIB_SNIPPET_MAX + 8]; /* marked as RG_DB_LIB_MARK_ON/OFF say */
    char heading[RG_DB_LIB_HEADING_MAX + 8];
    char section[RG_DB_LIB_NAME_MAX + 8];
    int page_from, page_to;
    char part[RG_DB_LIB_NAME_MAX + 8];
    int64_t byte_from, byte_to;
    int ordinal;
    char title[RG_DB_LIB_NAME_MAX + 8]; /* the document's */
    char source[RG_DB_LIB_PATH_MAX + 8];
};

struct rg_db_chunk_query {
    const char *q;              /* the user's text: cut into words, never parsed */
    const int64_t *collections; /* NULL: every visible collection; else these (if visible) */
    size_t n_collections;       /* <= 256 */
    int64_t doc_id;             /* 0: any */
    const char *tag;            /* document tag, NULL any */
    const char *language;       /* document language, NULL any */
    int limit;                  /* 1..1000 */
    /* false: every word must appear (a search box); true: any word may, the
     * rank deciding (the passages for a question, whose words are not all in
     * the answer) */
    bool any_word;
};
/* Full-text search over the chunks visible to user (own + shared
 * collections), best rank first (ties: lower chunk id). *out: rg_free.
 * A query without words matches nothing (n 0). RG_EINVAL (too long, too
 * many words: see conversations). */
int rg_db_chunk_search(struct rg_db *db, int64_t user, const struct rg_db_chunk_query *q,
                       struct rg_db_chunk_hit **out, size_t *n, char *err);
/* The hits of chunks ids[0..n) (n <= 1000; e.g. from the vector index) that
 * the user can see and that pass q's filters (q->q, if any, only marks the
 * snippet: a chunk is not dropped for missing words; the snippet is the
 * chunk's start when no word is found), in the order of ids; the others are
 * left out. *out: rg_free. */
int rg_db_chunk_locate(struct rg_db *db, int64_t user, const int64_t *ids, size_t n,
                       const struct rg_db_chunk_query *q, struct rg_db_chunk_hit **out,
                       size_t *n_out, char *err);

#endif
