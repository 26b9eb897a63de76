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

#endif
