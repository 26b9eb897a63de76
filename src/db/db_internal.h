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
#define RG_DB_LATEST 2

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
};

extern const struct rg_db_ops rg_db_sqlite_ops;
extern const struct rg_db_ops rg_db_pg_ops;

/* Copies src into a fixed field, truncating (fields are sized above what db.c
 * accepts, so truncation never happens for validated input). */
void rg_db_copy(char *dst, size_t size, const char *src);

/* A random family id (32 hex characters) for a new session family. */
int rg_db_family_new(char out[40]);

#endif
