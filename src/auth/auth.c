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
    p->first_signup_open = true;
    p->signup_rate = 20;
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
    pthread_mutex_init(&a->state_mu, NULL);
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
    pthread_mutex_destroy(&a->state_mu);
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

/* Every cached token state is stale from now on (an account or a session
 * changed). Cheap: the next check of each token reads the database once. */
static void invalidate(struct rg_auth *a)
{
    pthread_mutex_lock(&a->state_mu);
    a->gen++;
    pthread_mutex_unlock(&a->state_mu);
}

/* A signed access token for u, bound to the session family. */
static int make_access(struct rg_auth *a, const struct rg_db_user *u, const char *family,
                       int64_t now, char **out, char *err)
{
    struct rg_jwt_claims c;
    memset(&c, 0, sizeof c);
    snprintf(c.sub, sizeof c.sub, "%lld", (long long)u->id);
    rg_strlcpy(c.role, u->role, sizeof c.role);
    rg_strlcpy(c.sid, family, sizeof c.sid);
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
    if (!rc) rc = make_access(a, u, s.family, now, &out->access, err);
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

/* Counts a sign-up attempt from addr; false (*retry_after set) when the
 * address used up its --signup-rate for the current hour. A full table
 * forgets the address whose hour began longest ago. */
static bool signup_allowed(struct rg_auth *a, const char *addr, int *retry_after)
{
    if (a->p.signup_rate <= 0) return true;
    const char *key = addr && *addr ? addr : "unknown";
    int64_t now = now_s();
    bool ok = true;
    pthread_mutex_lock(&a->mu);
    struct rg_auth_signup_slot *hit = NULL, *victim = &a->signups[0];
    for (size_t i = 0; i < RG_AUTH_SIGNUP_SLOTS; i++) {
        struct rg_auth_signup_slot *s = &a->signups[i];
        if (s->addr[0] && !strcmp(s->addr, key)) {
            hit = s;
            break;
        }
        if (!s->addr[0] || s->start + RG_AUTH_SIGNUP_WINDOW <= now)
            victim = s; /* free or expired: reuse it */
        else if (victim->addr[0] && victim->start + RG_AUTH_SIGNUP_WINDOW > now &&
                 s->start < victim->start)
            victim = s;
    }
    if (!hit || hit->start + RG_AUTH_SIGNUP_WINDOW <= now) {
        if (!hit) hit = victim;
        rg_strlcpy(hit->addr, key, sizeof hit->addr);
        hit->start = now;
        hit->count = 0;
    }
    if (hit->count >= a->p.signup_rate) {
        ok = false;
        *retry_after = (int)(hit->start + RG_AUTH_SIGNUP_WINDOW - now);
        if (*retry_after < 1) *retry_after = 1;
    } else {
        hit->count++;
    }
    pthread_mutex_unlock(&a->mu);
    return ok;
}

int rg_auth_register(struct rg_auth *a, const char *email, const char *password, const char *name,
                     const char *addr, bool trusted, int *retry_after, char *err)
{
    *retry_after = 0;
    if (!signup_allowed(a, addr, retry_after))
        return rg_err_set(err, RG_EBUSY, "too many sign-ups from this address: try again later");
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
    /* Without first_signup_open, a closed or approval server takes no
     * self-made accounts at all from untrusted callers, not even the first
     * (its first admin comes from `rustygpt user add` or a key holder). */
    if (a->p.signup != RG_SIGNUP_OPEN && !a->p.first_signup_open && !trusted)
        return rg_err_set(err, RG_EPERM,
                          "sign-up is closed: ask an admin for an account (the first admin is "
                          "made with `rustygpt user add`)");
    char hash[192];
    rc = rg_password_hash(password, hash, sizeof hash, err);
    if (rc) return rc;
    /* The policy is applied by the database, in the same transaction as the
     * first-admin rule: the first account of a database is the admin (never
     * pending) under every policy; under closed sign-up it is the only one. */
    struct rg_db_new_user nu = {.email = email,
                                .name = name ? name : "",
                                .pw_hash = hash,
                                .pending = a->p.signup == RG_SIGNUP_APPROVAL,
                                .first_only = a->p.signup == RG_SIGNUP_CLOSED,
                                .now = now_s()};
    struct rg_db_user u;
    rc = rg_db_user_create(a->db, &nu, &u, err);
    OPENSSL_cleanse(hash, sizeof hash);
    scrub(&u);
    if (rc == RG_EEXISTS) return RG_OK; /* taken: the same answer as a new account */
    if (rc == RG_EPERM)
        return rg_err_set(err, RG_EPERM, "sign-up is closed: ask an admin for an account");
    return rc;
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
    int wait = rg_auth_backoff(l.failures_pair, l.last_failure_at, now_s());
    if (wait == 0 && l.failures_addr >= RG_AUTH_MAX_FAIL_ADDR) wait = RG_AUTH_BACKOFF_MAX;
    if (wait > 0) {
        *retry_after = wait;
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

int rg_auth_backoff(int failures, int64_t last_failure, int64_t now)
{
    if (failures < RG_AUTH_FREE_FAILS || last_failure <= 0) return 0;
    int64_t delay = RG_AUTH_BACKOFF_MAX;
    int shift = failures - RG_AUTH_FREE_FAILS;
    if (shift < 20) {
        delay = (int64_t)RG_AUTH_BACKOFF_BASE << shift;
        if (delay > RG_AUTH_BACKOFF_MAX) delay = RG_AUTH_BACKOFF_MAX;
    }
    int64_t left = last_failure + delay - now;
    return left > 0 ? (int)left : 0;
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
    if (!rc) rc = make_access(a, &u, s.family, now, &out->access, err);
    if (reuse) invalidate(a); /* the family was revoked */
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
    int rc = rg_db_session_revoke(a->db, hash, now_s(), err);
    invalidate(a);
    return rc;
}

int rg_auth_user_update(struct rg_auth *a, int64_t id, const struct rg_db_user_change *c,
                        struct rg_db_user *out, char *err)
{
    int rc = rg_db_user_update(a->db, id, c, out, err);
    invalidate(a);
    return rc;
}

/* ---- bearer credentials ------------------------------------------------------ */

#define KEY_PREFIX_LEN 11 /* "rg_" + 8 hex */

static int64_t mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (int64_t)t.tv_sec;
}

/* What (user, family) may do now: from the cache while it is younger than
 * RG_AUTH_STATE_TTL and nothing changed here since, else from the database.
 * One direct-mapped slot per hash; a collision only costs a read. */
static int token_state(struct rg_auth *a, int64_t user_id, const char *family,
                       struct rg_db_token_state *out, char *err)
{
    uint64_t h = (uint64_t)user_id * 0x9e3779b97f4a7c15ull;
    for (const char *p = family; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    struct rg_auth_state_entry *e = &a->states[h % RG_AUTH_STATE_SLOTS];
    int64_t now = mono_s();
    pthread_mutex_lock(&a->state_mu);
    uint64_t gen = a->gen;
    bool hit = e->user_id == user_id && e->gen == gen && now - e->at < RG_AUTH_STATE_TTL &&
               !strcmp(e->family, family);
    if (hit) *out = e->st;
    pthread_mutex_unlock(&a->state_mu);
    if (hit) return RG_OK;
    int rc = rg_db_token_state(a->db, user_id, family, out, err);
    if (rc) return rc;
    pthread_mutex_lock(&a->state_mu);
    if (a->gen == gen) { /* nothing changed while we read: keep it */
        e->user_id = user_id;
        rg_strlcpy(e->family, family, sizeof e->family);
        e->st = *out;
        e->at = now;
        e->gen = gen;
    }
    pthread_mutex_unlock(&a->state_mu);
    return RG_OK;
}

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
    if (!c.sid[0]) return rg_err_set(err, RG_EAUTH, "token has no session: sign in again");
    struct rg_db_token_state ts;
    rc = token_state(a, id, c.sid, &ts, err);
    if (rc) return rc;
    if (!ts.active) return rg_err_set(err, RG_EAUTH, "the account is disabled or not approved");
    if (!ts.session_live) return rg_err_set(err, RG_EAUTH, "signed out: sign in again");
    who->user_id = id;
    rg_strlcpy(who->role, ts.role, sizeof who->role); /* the current role, not the token's */
    rg_strlcpy(who->family, c.sid, sizeof who->family);
    return RG_OK;
}

int rg_auth_sessions_revoke(struct rg_auth *a, int64_t user_id, const char *family,
                            const char *except, int64_t *n, char *err)
{
    int rc = rg_db_session_revoke_family(a->db, user_id, family, except, now_s(), n, err);
    if (rc == RG_OK) invalidate(a);
    return rc;
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
