/*
 * What db.c (the pool and argument checks) shares with the backends
 * (db_sqlite.c, db_pg.c). A backend is a table of functions over one
 * connection; db.c has already validated the arguments (lengths, roles, ids)
 * and holds the connection exclusively for the duration of a call.
 */
#ifndef RG_DB_INTERNAL_H
#define RG_DB_INTERNAL_H

#include "db/db.h"

/* The number of migrations this binary knows; both backends have exactly
 * these versions, with the same meaning. */
#define RG_DB_LATEST 3

struct rg_db_ops {
    const char *name;
    /* url is the whole --db value. */
    int (*connect)(const char *url, int busy_ms, void **conn, char *err);
    void (*disconnect)(void *conn);
    int (*migrate)(void *conn, int *applied, char *err);
    int (*version)(void *conn, int *current, char *err);

    int (*user_create)(void *c, const struct rg_db_new_user *u, struct rg_db_user *out, char *err);
    int (*user_get)(void *c, int64_t id, struct rg_db_user *out, char *err);
    int (*user_by_email)(void *c, const char *email, struct rg_db_user *out, char *err);
    int (*user_list)(void *c, struct rg_db_user **out, size_t *n, char *err);
    int (*user_count)(void *c, int64_t *n, char *err);
    int (*user_update)(void *c, int64_t id, const struct rg_db_user_change *ch, int64_t now,
                       struct rg_db_user *out, char *err);

    int (*login)(void *c, const char *email, const char *addr, int window_s, int64_t now,
                 struct rg_db_login *out, char *err);
    int (*login_succeeded)(void *c, int64_t attempt_id, char *err);

    int (*session_create)(void *c, int64_t user_id, const char *token_hash, int64_t expires_at,
                          const char *ua, int64_t now, struct rg_db_session *out, char *err);
    int (*session_validate)(void *c, const char *token_hash, int64_t now, struct rg_db_session *s,
                            struct rg_db_user *u, char *err);
    int (*session_rotate)(void *c, const char *old_hash, const char *new_hash, int64_t new_expires,
                          const char *ua, int64_t now, struct rg_db_session *s,
                          struct rg_db_user *u, bool *reuse, char *err);
    int (*session_revoke)(void *c, const char *token_hash, int64_t now, char *err);
    int (*session_revoke_user)(void *c, int64_t user_id, int64_t now, char *err);
    int (*token_state)(void *c, int64_t user_id, const char *family, struct rg_db_token_state *out,
                       char *err);

    int (*identity_link)(void *c, const struct rg_db_identity_in *in, struct rg_db_user *out,
                         bool *created, char *err);

    int (*apikey_create)(void *c, int64_t user_id, const char *name, const char *prefix,
                         const char *key_hash, const char *scopes, int64_t now,
                         struct rg_db_apikey *out, char *err);
    int (*apikey_list)(void *c, int64_t user_id, struct rg_db_apikey **out, size_t *n, char *err);
    int (*apikey_revoke)(void *c, int64_t id, int64_t owner, int64_t now, char *err);
    int (*apikey_lookup)(void *c, const char *prefix, int64_t now, struct rg_db_apikey *k,
                         char hash_out[72], struct rg_db_user *owner, char *err);

    /* background jobs (jobs_sqlite.c, jobs_pg.c); db.c validated the arguments */
    int (*job_enqueue)(void *c, const struct rg_db_job_new *n, int64_t *id, char *err);
    int (*job_get)(void *c, int64_t id, struct rg_db_job *out, char *err);
    int (*job_list)(void *c, int64_t owner, int limit, struct rg_db_job **out, size_t *n,
                    char *err);
    int (*job_claim)(void *c, const char *worker, const char *kinds, int64_t now, int lease_ms,
                     struct rg_db_job *out, char *err);
    int (*job_heartbeat)(void *c, int64_t id, const char *worker, int attempt, int64_t now,
                         int lease_ms, bool *cancel, char *err);
    int (*job_progress)(void *c, int64_t id, const char *worker, int attempt, double progress,
                        const char *message, int64_t now, int lease_ms, bool *cancel, char *err);
    int (*job_finish)(void *c, int64_t id, const char *worker, int attempt,
                      enum rg_db_job_state state, const char *result, int64_t now, char *err);
    int (*job_fail)(void *c, int64_t id, const char *worker, int attempt, const char *error,
                    int64_t now, int64_t backoff_ms, int64_t backoff_max_ms,
                    enum rg_db_job_state *state, char *err);
    int (*job_cancel)(void *c, int64_t id, int64_t owner, int64_t now, enum rg_db_job_state *state,
                      char *err);
    int (*job_requeue_stale)(void *c, const char *worker, int64_t now, bool refund, int64_t *n,
                             char *err);
    int (*job_counts)(void *c, int64_t counts[RG_DB_JOB_N_STATES], char *err);
};

extern const struct rg_db_ops rg_db_sqlite_ops;
extern const struct rg_db_ops rg_db_pg_ops;

/* The jobs migration of each backend (its SQL lives beside its code). */
extern const char rg_db_sqlite_jobs_migration[];
extern const char *const rg_db_pg_jobs_migration[];

/* The job operations of each backend, for the backends' tables. */
int rg_db_sqlite_job_enqueue(void *c, const struct rg_db_job_new *n, int64_t *id, char *err);
int rg_db_sqlite_job_get(void *c, int64_t id, struct rg_db_job *out, char *err);
int rg_db_sqlite_job_list(void *c, int64_t owner, int limit, struct rg_db_job **out, size_t *n,
                          char *err);
int rg_db_sqlite_job_claim(void *c, const char *worker, const char *kinds, int64_t now,
                           int lease_ms, struct rg_db_job *out, char *err);
int rg_db_sqlite_job_heartbeat(void *c, int64_t id, const char *worker, int attempt, int64_t now,
                               int lease_ms, bool *cancel, char *err);
int rg_db_sqlite_job_progress(void *c, int64_t id, const char *worker, int attempt, double progress,
                              const char *message, int64_t now, int lease_ms, bool *cancel,
                              char *err);
int rg_db_sqlite_job_finish(void *c, int64_t id, const char *worker, int attempt,
                            enum rg_db_job_state state, const char *result, int64_t now, char *err);
int rg_db_sqlite_job_fail(void *c, int64_t id, const char *worker, int attempt, const char *error,
                          int64_t now, int64_t backoff_ms, int64_t backoff_max_ms,
                          enum rg_db_job_state *state, char *err);
int rg_db_sqlite_job_cancel(void *c, int64_t id, int64_t owner, int64_t now,
                            enum rg_db_job_state *state, char *err);
int rg_db_sqlite_job_requeue_stale(void *c, const char *worker, int64_t now, bool refund,
                                   int64_t *n, char *err);
int rg_db_sqlite_job_counts(void *c, int64_t counts[RG_DB_JOB_N_STATES], char *err);

int rg_db_pg_job_enqueue(void *c, const struct rg_db_job_new *n, int64_t *id, char *err);
int rg_db_pg_job_get(void *c, int64_t id, struct rg_db_job *out, char *err);
int rg_db_pg_job_list(void *c, int64_t owner, int limit, struct rg_db_job **out, size_t *n,
                      char *err);
int rg_db_pg_job_claim(void *c, const char *worker, const char *kinds, int64_t now, int lease_ms,
                       struct rg_db_job *out, char *err);
int rg_db_pg_job_heartbeat(void *c, int64_t id, const char *worker, int attempt, int64_t now,
                           int lease_ms, bool *cancel, char *err);
int rg_db_pg_job_progress(void *c, int64_t id, const char *worker, int attempt, double progress,
                          const char *message, int64_t now, int lease_ms, bool *cancel, char *err);
int rg_db_pg_job_finish(void *c, int64_t id, const char *worker, int attempt,
                        enum rg_db_job_state state, const char *result, int64_t now, char *err);
int rg_db_pg_job_fail(void *c, int64_t id, const char *worker, int attempt, const char *error,
                      int64_t now, int64_t backoff_ms, int64_t backoff_max_ms,
                      enum rg_db_job_state *state, char *err);
int rg_db_pg_job_cancel(void *c, int64_t id, int64_t owner, int64_t now,
                        enum rg_db_job_state *state, char *err);
int rg_db_pg_job_requeue_stale(void *c, const char *worker, int64_t now, bool refund, int64_t *n,
                               char *err);
int rg_db_pg_job_counts(void *c, int64_t counts[RG_DB_JOB_N_STATES], char *err);

/* The back-off before retry number `attempts` (1-based count of attempts
 * made): min(base * 2^(attempts-1), max), overflow-safe. */
int64_t rg_db_job_backoff(int attempts, int64_t base, int64_t max);

/* Copies src into a fixed field, truncating (fields are sized above what db.c
 * accepts, so truncation never happens for validated input). */
void rg_db_copy(char *dst, size_t size, const char *src);

/* A random family id (32 hex characters) for a new session family. */
int rg_db_family_new(char out[40]);

#endif
