/* Accounts over src/db and the primitives (see auth.h for the contract). */
#include "auth/auth.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "auth/auth_internal.h"
#include "auth/jwt.h"
#include "auth/password.h"
#include "auth/token.h"
#include "common/alloc.h"
#include "common/str.h"

void rg_auth_default_params(struct rg_auth_params *p)
{
    memset(p, 0, sizeof *p);
    p->access_ttl = 900;
    p->refresh_ttl = 30 * 86400;
    p->signup = RG_SIGNUP_OPEN;
    p->public_url = "http://127.0.0.1:8080";
}

int rg_auth_signup_parse(const char *s, enum rg_auth_signup *out)
{
    if (s && !strcmp(s, "open"))
        *out = RG_SIGNUP_OPEN;
    else if (s && !strcmp(s, "approval"))
        *out = RG_SIGNUP_APPROVAL;
    else if (s && !strcmp(s, "closed"))
        *out = RG_SIGNUP_CLOSED;
    else
        return RG_EINVAL;
    return RG_OK;
}

struct rg_auth *rg_auth_new(const struct rg_auth_params *p, char *err)
{
    if (!p->db || !p->data_dir) {
        rg_err_set(err, RG_EINVAL, "auth: a database and a data directory are required");
        return NULL;
    }
    struct rg_auth *a = rg_calloc(1, sizeof *a);
    if (!a) {
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    a->p = *p;
    a->db = p->db;
    pthread_mutex_init(&a->mu, NULL);
    if (p->public_url && rg_auth_set_public_url(a, p->public_url) != RG_OK) {
        rg_err_set(err, RG_ENOMEM, "out of memory");
        rg_auth_free(a);
        return NULL;
    }
    char path[1024];
    if (snprintf(path, sizeof path, "%s/jwt-secret", p->data_dir) >= (int)sizeof path) {
        rg_err_set(err, RG_EINVAL, "--data-dir is too long");
        rg_free(a);
        return NULL;
    }
    if (rg_token_secret_load(path, a->key, sizeof a->key, err) != RG_OK) {
        rg_auth_free(a);
        return NULL;
    }
    if (rg_auth_oauth_init(a, err) != RG_OK) {
        rg_auth_free(a);
        return NULL;
    }
    return a;
}

void rg_auth_free(struct rg_auth *a)
{
    if (!a) return;
    rg_auth_oauth_fini(a);
    OPENSSL_cleanse(a->key, sizeof a->key);
    rg_free(a->public_url);
    pthread_mutex_destroy(&a->mu);
    rg_free(a);
}

int rg_auth_set_public_url(struct rg_auth *a, const char *url)
{
    char *copy = rg_strdup(url);
    if (!copy) return RG_ENOMEM;
    size_t n = strlen(copy);
    while (n && copy[n - 1] == '/')
        copy[--n] = '\0';
    pthread_mutex_lock(&a->mu);
    rg_free(a->public_url);
    a->public_url = copy;
    pthread_mutex_unlock(&a->mu);
    return RG_OK;
}

struct rg_db *rg_auth_db(struct rg_auth *a)
{
    return a->db;
}

enum rg_auth_signup rg_auth_signup_policy(const struct rg_auth *a)
{
    return a->p.signup;
}

void rg_auth_tokens_clear(struct rg_auth_tokens *t)
{
    rg_free(t->access);
    OPENSSL_cleanse(t, sizeof *t);
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* A signed access token for u. */
static int make_access(struct rg_auth *a, const struct rg_db_user *u, int64_t now, char **out,
                       char *err)
{
    struct rg_jwt_claims c;
    memset(&c, 0, sizeof c);
    snprintf(c.sub, sizeof c.sub, "%lld", (long long)u->id);
    rg_strlcpy(c.role, u->role, sizeof c.role);
    c.iat = now;
    c.exp = now + a->p.access_ttl;
    return rg_jwt_sign(a->key, sizeof a->key, &c, out, err);
}

int rg_auth_issue(struct rg_auth *a, const struct rg_db_user *u, const char *user_agent,
                  struct rg_auth_tokens *out, char *err)
{
    memset(out, 0, sizeof *out);
    int64_t now = now_s();
    char hash[65];
    int rc = rg_token_random(out->refresh, sizeof out->refresh, 32);
    if (rc) return rg_err_set(err, rc, "no random bytes");
    rg_token_sha256_hex(out->refresh, hash);
    struct rg_db_session s;
    out->refresh_expires = now + a->p.refresh_ttl;
    rc = rg_db_session_create(a->db, u->id, hash, out->refresh_expires, user_agent, now, &s, err);
    if (!rc) rc = make_access(a, u, now, &out->access, err);
    if (rc) {
        rg_auth_tokens_clear(out);
        return rc;
    }
    out->expires_in = a->p.access_ttl;
    out->user = *u;
    return RG_OK;
}

/* Ends by clearing password hashes from what callers see. */
static void scrub(struct rg_db_user *u)
{
    OPENSSL_cleanse(u->pw_hash, sizeof u->pw_hash);
}

int rg_auth_register(struct rg_auth *a, const char *email, const char *password, const char *name,
                     const char *user_agent, struct rg_auth_tokens *out, bool *pending, char *err)
{
    memset(out, 0, sizeof *out);
    *pending = false;
    if (!email || !*email) return rg_err_set(err, RG_EINVAL, "email is required");
    if (!password) return rg_err_set(err, RG_EINVAL, "password is required");
    const char *at = strchr(email, '@');
    if (!at || at == email || !at[1] || strchr(at + 1, '@') || strlen(email) > 254 ||
        strpbrk(email, " \t\r\n<>()[],;:\\\""))
        return rg_err_set(err, RG_EINVAL, "email is not a valid address");
    if (name && strlen(name) > 100)
        return rg_err_set(err, RG_EINVAL, "name is too long (100 bytes at most)");
    int rc = rg_password_check_rules(password, email, err);
    if (rc) return rc;
    int64_t n = 0;
    rc = rg_db_user_count(a->db, &n, err);
    if (rc) return rc;
    /* the first account is the admin and is always allowed: it is how a new
     * server gets its administrator */
    if (n > 0 && a->p.signup == RG_SIGNUP_CLOSED)
        return rg_err_set(err, RG_EPERM, "sign-up is closed: ask an admin for an account");
    char hash[192];
    rc = rg_password_hash(password, hash, sizeof hash, err);
    if (rc) return rc;
    struct rg_db_new_user nu = {.email = email,
                                .name = name ? name : "",
                                .pw_hash = hash,
                                .pending = n > 0 && a->p.signup == RG_SIGNUP_APPROVAL,
                                .now = now_s()};
    struct rg_db_user u;
    rc = rg_db_user_create(a->db, &nu, &u, err);
    OPENSSL_cleanse(hash, sizeof hash);
    if (rc == RG_EEXISTS) return rg_err_set(err, RG_EEXISTS, "an account with this email exists");
    if (rc) return rc;
    scrub(&u);
    if (u.pending) {
        *pending = true;
        out->user = u;
        return RG_OK;
    }
    return rg_auth_issue(a, &u, user_agent, out, err);
}

int rg_auth_login(struct rg_auth *a, const char *email, const char *password, const char *addr,
                  const char *user_agent, struct rg_auth_tokens *out, int *retry_after, char *err)
{
    memset(out, 0, sizeof *out);
    *retry_after = 0;
    if (!email || !*email || !password || strlen(email) > 254 || strlen(password) > 1024) {
        /* same work as a real attempt */
        rg_password_dummy_verify(password ? password : "");
        return rg_err_set(err, RG_EAUTH, "invalid email or password");
    }
    struct rg_db_login l;
    int rc = rg_db_login(a->db, email, addr && *addr ? addr : "unknown", RG_AUTH_FAIL_WINDOW,
                         now_s(), &l, err);
    if (rc == RG_EINVAL) {
        rg_password_dummy_verify(password);
        return rg_err_set(err, RG_EAUTH, "invalid email or password");
    }
    if (rc) return rc;
    if (l.failures_account >= RG_AUTH_MAX_FAIL_ACCOUNT ||
        l.failures_addr >= RG_AUTH_MAX_FAIL_ADDR) {
        *retry_after = RG_AUTH_FAIL_WINDOW;
        scrub(&l.user);
        return rg_err_set(err, RG_EBUSY, "too many failed sign-in attempts: try again later");
    }
    bool ok;
    if (l.found && l.user.pw_hash[0]) {
        ok = rg_password_verify(password, l.user.pw_hash) == RG_OK;
    } else {
        rg_password_dummy_verify(password); /* unknown email, or an account without a password */
        ok = false;
    }
    scrub(&l.user);
    if (!ok) return rg_err_set(err, RG_EAUTH, "invalid email or password");
    rc = rg_db_login_succeeded(a->db, l.attempt_id, err);
    if (rc) return rc;
    if (l.user.disabled) return rg_err_set(err, RG_EPERM, "this account is disabled");
    if (l.user.pending)
        return rg_err_set(err, RG_EPERM, "this account is waiting for an admin's approval");
    return rg_auth_issue(a, &l.user, user_agent, out, err);
}

static bool refresh_shape_ok(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    if (n < 16 || n > 63) return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

int rg_auth_refresh(struct rg_auth *a, const char *refresh, const char *user_agent,
                    struct rg_auth_tokens *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (!refresh_shape_ok(refresh)) return rg_err_set(err, RG_EAUTH, "invalid session");
    int64_t now = now_s();
    char old_hash[65], new_hash[65];
    rg_token_sha256_hex(refresh, old_hash);
    int rc = rg_token_random(out->refresh, sizeof out->refresh, 32);
    if (rc) return rg_err_set(err, rc, "no random bytes");
    rg_token_sha256_hex(out->refresh, new_hash);
    out->refresh_expires = now + a->p.refresh_ttl;
    struct rg_db_session s;
    struct rg_db_user u;
    bool reuse = false;
    rc = rg_db_session_rotate(a->db, old_hash, new_hash, out->refresh_expires, user_agent, now, &s,
                              &u, &reuse, err);
    if (!rc) rc = make_access(a, &u, now, &out->access, err);
    if (rc) {
        rg_auth_tokens_clear(out);
        return rc;
    }
    scrub(&u);
    out->user = u;
    out->expires_in = a->p.access_ttl;
    return RG_OK;
}

int rg_auth_logout(struct rg_auth *a, const char *refresh, char *err)
{
    if (!refresh_shape_ok(refresh)) return rg_err_set(err, RG_ENOTFOUND, "no such session");
    char hash[65];
    rg_token_sha256_hex(refresh, hash);
    return rg_db_session_revoke(a->db, hash, now_s(), err);
}

/* ---- bearer credentials ------------------------------------------------------ */

#define KEY_PREFIX_LEN 11 /* "rg_" + 8 hex */

int rg_auth_check_bearer(struct rg_auth *a, const char *bearer, struct rg_auth_who *who, char *err)
{
    memset(who, 0, sizeof *who);
    if (!bearer) return rg_err_set(err, RG_EAUTH, "no credential");
    if (!strncmp(bearer, "rg_", 3)) {
        size_t n = strlen(bearer);
        if (n < KEY_PREFIX_LEN + 2 || n > 128 || bearer[KEY_PREFIX_LEN] != '_')
            return rg_err_set(err, RG_EAUTH, "invalid API key");
        char prefix[KEY_PREFIX_LEN + 1], want[65], stored[72];
        memcpy(prefix, bearer, KEY_PREFIX_LEN);
        prefix[KEY_PREFIX_LEN] = '\0';
        struct rg_db_apikey k;
        struct rg_db_user owner;
        int rc = rg_db_apikey_lookup(a->db, prefix, now_s(), &k, stored, &owner, err);
        if (rc == RG_ENOTFOUND) return rg_err_set(err, RG_EAUTH, "invalid API key");
        if (rc) return rc;
        scrub(&owner);
        rg_token_sha256_hex(bearer, want);
        if (!rg_token_equal(want, stored)) return rg_err_set(err, RG_EAUTH, "invalid API key");
        who->user_id = owner.id;
        rg_strlcpy(who->role, owner.role, sizeof who->role);
        who->api_key_id = k.id;
        return RG_OK;
    }
    struct rg_jwt_claims c;
    int rc = rg_jwt_verify(a->key, sizeof a->key, bearer, now_s(), &c, err);
    if (rc) return rc;
    char *end = NULL;
    long long id = strtoll(c.sub, &end, 10);
    if (!end || *end || id <= 0) return rg_err_set(err, RG_EAUTH, "malformed token subject");
    who->user_id = id;
    rg_strlcpy(who->role, c.role, sizeof who->role);
    return RG_OK;
}

int rg_auth_apikey_create(struct rg_auth *a, int64_t user_id, const char *name, char **key,
                          struct rg_db_apikey *row, char *err)
{
    *key = NULL;
    if (name && strlen(name) > 100)
        return rg_err_set(err, RG_EINVAL, "name is too long (100 bytes at most)");
    unsigned char id[4];
    char secret[64], hash[65];
    for (int tries = 0; tries < 4; tries++) {
        if (RAND_bytes(id, sizeof id) != 1 || rg_token_random(secret, sizeof secret, 32) != RG_OK)
            return rg_err_set(err, RG_EINTERNAL, "no random bytes");
        char *k = rg_malloc(KEY_PREFIX_LEN + 1 + sizeof secret);
        if (!k) return rg_err_set(err, RG_ENOMEM, "out of memory");
        snprintf(k, KEY_PREFIX_LEN + 1 + sizeof secret, "rg_%02x%02x%02x%02x_%s", id[0], id[1],
                 id[2], id[3], secret);
        char prefix[KEY_PREFIX_LEN + 1];
        memcpy(prefix, k, KEY_PREFIX_LEN);
        prefix[KEY_PREFIX_LEN] = '\0';
        rg_token_sha256_hex(k, hash);
        int rc = rg_db_apikey_create(a->db, user_id, name ? name : "", prefix, hash, "", now_s(),
                                     row, err);
        if (rc == RG_OK) {
            *key = k;
            return RG_OK;
        }
        OPENSSL_cleanse(k, strlen(k));
        rg_free(k);
        if (rc != RG_EEXISTS) return rc; /* a prefix collision: draw again */
    }
    return rg_err_set(err, RG_EINTERNAL, "could not draw a free key prefix");
}
