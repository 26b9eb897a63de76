/*
 * Accounts against the real server: sign-up, sign-in, refresh rotation and
 * reuse detection, sign-out, tampered/expired/alg-none tokens, CSRF, the
 * rate limit, roles, API keys, sign-up policies, hostile input.
 *
 * Runs on SQLite, then again on PostgreSQL when one is reachable (PGHOST set,
 * as under pg_virtualenv; RG_REQUIRE_PG=1 makes its absence a failure), each
 * server on a database of its own.
 */
#include "test.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <time.h>

#include "integration/harness_auth.h"

/* ---- helpers --------------------------------------------------------------- */

/* Starts a server on a fresh database with extra args (NULL-ended, may be NULL). */
static void start(struct rg_server *s, const char *const *extra)
{
    rg_harness_start(s, "rg_auth", extra, NULL);
}

static void stop(struct rg_server *s)
{
    rg_harness_stop(s);
}

/* A request with optional bearer, cookie header and CSRF header. */
static long req(struct rg_server *s, const char *method, const char *path, const char *bearer,
                const char *cookies, const char *csrf, const char *body, struct rg_resp *out)
{
    char h1[4200], h2[2048], h3[256];
    const char *hdrs[5];
    int n = 0;
    hdrs[n++] = "Content-Type: application/json";
    if (bearer) {
        snprintf(h1, sizeof h1, "Authorization: Bearer %s", bearer);
        hdrs[n++] = h1;
    }
    if (cookies) {
        snprintf(h2, sizeof h2, "Cookie: %s", cookies);
        hdrs[n++] = h2;
    }
    if (csrf) {
        snprintf(h3, sizeof h3, "X-CSRF-Token: %s", csrf);
        hdrs[n++] = h3;
    }
    hdrs[n] = NULL;
    memset(out, 0, sizeof *out);
    assert_int_equal(rg_http(s, method, path, hdrs, body, body ? strlen(body) : 0, out), 0);
    return out->status;
}

/* The value of cookie `name` set by the response (Set-Cookie), with its attributes line. */
static bool set_cookie(const struct rg_resp *r, const char *name, char *value, size_t size,
                       char *line, size_t line_size)
{
    const char *p = r->headers;
    size_t nl = strlen(name);
    while (p && (p = strcasestr(p, "set-cookie:"))) {
        p += 11;
        while (*p == ' ')
            p++;
        if (!strncmp(p, name, nl) && p[nl] == '=') {
            const char *v = p + nl + 1, *e = strpbrk(v, ";\r\n");
            size_t n = e ? (size_t)(e - v) : strlen(v);
            if (n >= size) n = size - 1;
            memcpy(value, v, n);
            value[n] = '\0';
            if (line) {
                const char *le = strpbrk(p, "\r\n");
                size_t ln = le ? (size_t)(le - p) : strlen(p);
                if (ln >= line_size) ln = line_size - 1;
                memcpy(line, p, ln);
                line[ln] = '\0';
            }
            return true;
        }
    }
    return false;
}

struct session {
    char access[1024];
    char refresh[128];
    char csrf[128];
    char cookies[400];
    long long id;
    char role[16];
};

static void take_session(const struct rg_resp *r, struct session *s)
{
    json_t *o = json_loadb(r->body, r->len, 0, NULL);
    assert_non_null(o);
    const char *at = json_string_value(json_object_get(o, "access_token"));
    assert_non_null(at);
    snprintf(s->access, sizeof s->access, "%s", at);
    assert_string_equal(json_string_value(json_object_get(o, "token_type")), "Bearer");
    assert_true(json_integer_value(json_object_get(o, "expires_in")) > 0);
    json_t *u = json_object_get(o, "user");
    s->id = json_integer_value(json_object_get(u, "id"));
    snprintf(s->role, sizeof s->role, "%s", json_string_value(json_object_get(u, "role")));
    assert_null(json_object_get(u, "pw_hash"));
    assert_true(set_cookie(r, "rg_refresh", s->refresh, sizeof s->refresh, NULL, 0));
    assert_true(set_cookie(r, "rg_csrf", s->csrf, sizeof s->csrf, NULL, 0));
    assert_string_equal(json_string_value(json_object_get(o, "csrf_token")), s->csrf);
    snprintf(s->cookies, sizeof s->cookies, "rg_refresh=%s; rg_csrf=%s", s->refresh, s->csrf);
    json_decref(o);
}

/* Sign-up (202 accepted, whether or not the email was taken), then sign-in. */
static void signup(struct rg_server *srv, const char *email, const char *pw, struct session *s)
{
    char body[512];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\",\"name\":\"T\"}", email, pw);
    struct rg_resp r;
    long st = req(srv, "POST", "/auth/register", NULL, NULL, NULL, body, &r);
    if (st != 202) fail_msg("register %s: %ld %.*s", email, st, (int)r.len, r.body);
    assert_null(strstr(r.body, "access_token"));
    rg_resp_free(&r);
    rg_harness_credentials(body, sizeof body, email, pw);
    st = req(srv, "POST", "/auth/login", NULL, NULL, NULL, body, &r);
    if (st != 200) fail_msg("login %s: %ld %.*s", email, st, (int)r.len, r.body);
    take_session(&r, s);
    rg_resp_free(&r);
}

static long login(struct rg_server *srv, const char *email, const char *pw, struct session *s,
                  struct rg_resp *keep)
{
    char body[512];
    rg_harness_credentials(body, sizeof body, email, pw);
    struct rg_resp r;
    long st = req(srv, "POST", "/auth/login", NULL, NULL, NULL, body, &r);
    if (st == 200 && s) take_session(&r, s);
    if (keep)
        *keep = r;
    else
        rg_resp_free(&r);
    return st;
}

static long status_of(struct rg_server *srv, const char *method, const char *path,
                      const char *bearer, const char *body)
{
    struct rg_resp r;
    long st = req(srv, method, path, bearer, NULL, NULL, body, &r);
    rg_resp_free(&r);
    return st;
}

static void b64url(const unsigned char *in, size_t n, char *out)
{
    unsigned char tmp[1024];
    int len = EVP_EncodeBlock(tmp, in, (int)n);
    int o = 0;
    for (int i = 0; i < len; i++) {
        if (tmp[i] == '=') break;
        out[o++] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : (char)tmp[i];
    }
    out[o] = '\0';
}

/* A token signed with the server's own secret (read from its data dir). */
static void forge(struct rg_server *srv, const char *header, const char *payload, char *out)
{
    char path[400], hex[200] = "";
    snprintf(path, sizeof path, "%s/data/jwt-secret", srv->dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(hex, sizeof hex, f));
    fclose(f);
    unsigned char key[100];
    size_t kl = 0;
    for (size_t i = 0; hex[i] && hex[i + 1] && hex[i] != '\n' && kl < sizeof key; i += 2) {
        unsigned v;
        sscanf(hex + i, "%2x", &v);
        key[kl++] = (unsigned char)v;
    }
    assert_true(kl >= 32);
    char h[300], p[600], input[1000];
    b64url((const unsigned char *)header, strlen(header), h);
    b64url((const unsigned char *)payload, strlen(payload), p);
    snprintf(input, sizeof input, "%s.%s", h, p);
    unsigned char mac[32];
    unsigned ml = 0;
    HMAC(EVP_sha256(), key, (int)kl, (const unsigned char *)input, strlen(input), mac, &ml);
    char sig[100];
    b64url(mac, ml, sig);
    sprintf(out, "%s.%s", input, sig);
}

/* The "sid" claim (session family) of one of the server's own tokens. */
static void token_sid(const char *jwt, char *sid, size_t size)
{
    const char *d1 = strchr(jwt, '.');
    assert_non_null(d1);
    const char *d2 = strchr(d1 + 1, '.');
    assert_non_null(d2);
    char b64[1200];
    size_t n = 0;
    for (const char *p = d1 + 1; p < d2 && n < sizeof b64 - 4; p++)
        b64[n++] = *p == '-' ? '+' : *p == '_' ? '/' : *p;
    while (n % 4)
        b64[n++] = '=';
    b64[n] = '\0';
    unsigned char raw[1000];
    int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    assert_true(len > 0);
    json_t *o = json_loadb((const char *)raw, strnlen((const char *)raw, (size_t)len), 0, NULL);
    assert_non_null(o);
    const char *v = json_string_value(json_object_get(o, "sid"));
    assert_non_null(v);
    snprintf(sid, size, "%s", v);
    json_decref(o);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_signup_signin_refresh(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL);
    struct session a, b;
    struct rg_resp r;
    signup(&srv, "Alice@Example.com", "correct horse battery", &a);
    assert_string_equal(a.role, "admin"); /* the first account */
    /* the refresh cookie's attributes */
    assert_int_equal(req(&srv, "POST", "/auth/login", NULL, NULL, NULL,
                         "{\"email\":\"alice@example.com\",\"password\":\"correct horse battery\"}",
                         &r),
                     200);
    char v[128], line[512];
    assert_true(set_cookie(&r, "rg_refresh", v, sizeof v, line, sizeof line));
    assert_non_null(strstr(line, "HttpOnly"));
    assert_non_null(strstr(line, "Secure"));
    assert_non_null(strstr(line, "SameSite=Strict"));
    assert_non_null(strstr(line, "Path=/auth"));
    rg_resp_free(&r);

    /* who am I */
    assert_int_equal(req(&srv, "GET", "/auth/me", a.access, NULL, NULL, NULL, &r), 200);
    json_t *me = json_loadb(r.body, r.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(me, "email")), "alice@example.com");
    assert_string_equal(json_string_value(json_object_get(me, "role")), "admin");
    json_decref(me);
    rg_resp_free(&r);
    assert_int_equal(status_of(&srv, "GET", "/auth/me", NULL, NULL), 401);

    signup(&srv, "bob@example.com", "another good one", &b);
    assert_string_equal(b.role, "user");
    /* the same email twice: accepted like a new one (no enumeration), nothing changes */
    assert_int_equal(status_of(&srv, "POST", "/auth/register", NULL,
                               "{\"email\":\"BOB@example.com\",\"password\":\"whatever it is\"}"),
                     202);
    assert_int_equal(login(&srv, "bob@example.com", "whatever it is", NULL, NULL), 401);
    /* rules: short password, bad email, wrong types, missing fields */
    assert_int_equal(req(&srv, "POST", "/auth/register", NULL, NULL, NULL,
                         "{\"email\":\"c@example.com\",\"password\":\"short\"}", &r),
                     400);
    assert_non_null(strstr(r.body, "at least 8"));
    rg_resp_free(&r);
    assert_int_equal(status_of(&srv, "POST", "/auth/register", NULL,
                               "{\"email\":\"not-an-email\",\"password\":\"long enough pw\"}"),
                     400);
    assert_int_equal(status_of(&srv, "POST", "/auth/register", NULL,
                               "{\"email\":7,\"password\":\"long enough pw\"}"),
                     400);
    assert_int_equal(status_of(&srv, "POST", "/auth/login", NULL, "{\"email\":\"a@b.c\"}"), 400);
    assert_int_equal(status_of(&srv, "POST", "/auth/login", NULL, "{not json"), 400);

    /* refresh: a new access token and a rotated cookie */
    assert_int_equal(req(&srv, "POST", "/auth/refresh", NULL, b.cookies, b.csrf, NULL, &r), 200);
    struct session b2;
    take_session(&r, &b2);
    rg_resp_free(&r);
    assert_string_not_equal(b2.refresh, b.refresh);
    assert_int_equal(b2.id, b.id);
    assert_int_equal(status_of(&srv, "GET", "/auth/me", b2.access, NULL), 200);
    /* the old refresh token again: reuse, the whole family is revoked */
    assert_int_equal(req(&srv, "POST", "/auth/refresh", NULL, b.cookies, b.csrf, NULL, &r), 401);
    rg_resp_free(&r);
    assert_int_equal(req(&srv, "POST", "/auth/refresh", NULL, b2.cookies, b2.csrf, NULL, &r), 401);
    rg_resp_free(&r);

    /* CSRF: the cookie alone does not refresh or sign out */
    struct session b3;
    assert_int_equal(login(&srv, "bob@example.com", "another good one", &b3, NULL), 200);
    assert_int_equal(req(&srv, "POST", "/auth/refresh", NULL, b3.cookies, NULL, NULL, &r), 403);
    rg_resp_free(&r);
    assert_int_equal(
        req(&srv, "POST", "/auth/refresh", NULL, b3.cookies, "forged-token-value", NULL, &r), 403);
    rg_resp_free(&r);
    assert_int_equal(req(&srv, "POST", "/auth/logout", NULL, b3.cookies, NULL, NULL, &r), 403);
    rg_resp_free(&r);
    /* sign-out revokes */
    assert_int_equal(req(&srv, "POST", "/auth/logout", NULL, b3.cookies, b3.csrf, NULL, &r), 204);
    assert_true(set_cookie(&r, "rg_refresh", v, sizeof v, NULL, 0));
    assert_string_equal(v, ""); /* cleared */
    rg_resp_free(&r);
    assert_int_equal(req(&srv, "POST", "/auth/refresh", NULL, b3.cookies, b3.csrf, NULL, &r), 401);
    rg_resp_free(&r);
    stop(&srv);
}

static void test_tokens_refused(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL);
    struct session a;
    signup(&srv, "alice@example.com", "correct horse battery", &a);
    char tok[2048];
    long long now = (long long)time(NULL);
    char payload[400], sid[64];
    token_sid(a.access, sid, sizeof sid);

    /* a well-formed token made with the right key works: the forging is right */
    snprintf(payload, sizeof payload,
             "{\"sub\":\"%lld\",\"role\":\"admin\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"abc\","
             "\"sid\":\"%s\"}",
             a.id, now, now + 600, sid);
    forge(&srv, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, tok);
    assert_int_equal(status_of(&srv, "GET", "/auth/me", tok, NULL), 200);
    /* the same without a session, or with a session that is not this user's */
    snprintf(payload, sizeof payload,
             "{\"sub\":\"%lld\",\"role\":\"admin\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"abc\"}",
             a.id, now, now + 600);
    forge(&srv, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, tok);
    assert_int_equal(status_of(&srv, "GET", "/auth/me", tok, NULL), 401);
    snprintf(payload, sizeof payload,
             "{\"sub\":\"%lld\",\"role\":\"admin\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"abc\","
             "\"sid\":\"%s\"}",
             a.id + 1, now, now + 600, sid);
    forge(&srv, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, tok);
    assert_int_equal(status_of(&srv, "GET", "/auth/me", tok, NULL), 401);
    /* expired */
    snprintf(payload, sizeof payload,
             "{\"sub\":\"%lld\",\"role\":\"admin\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"abc\"}",
             a.id, now - 4000, now - 3000);
    forge(&srv, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, tok);
    struct rg_resp r;
    assert_int_equal(req(&srv, "GET", "/auth/me", tok, NULL, NULL, NULL, &r), 401);
    assert_non_null(strstr(r.body, "expired"));
    rg_resp_free(&r);
    /* alg none, no signature */
    char h[200], p[600];
    b64url((const unsigned char *)"{\"alg\":\"none\",\"typ\":\"JWT\"}", 26, h);
    snprintf(payload, sizeof payload,
             "{\"sub\":\"%lld\",\"role\":\"admin\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"abc\"}",
             a.id, now, now + 600);
    b64url((const unsigned char *)payload, strlen(payload), p);
    snprintf(tok, sizeof tok, "%s.%s.", h, p);
    assert_int_equal(status_of(&srv, "GET", "/auth/me", tok, NULL), 401);
    /* HS512 with the right key is still refused: the algorithm is pinned */
    forge(&srv, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, tok);
    assert_int_equal(status_of(&srv, "GET", "/auth/me", tok, NULL), 401);
    /* tampered: one character of the payload changed */
    snprintf(tok, sizeof tok, "%s", a.access);
    char *dot = strchr(tok, '.');
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    assert_int_equal(status_of(&srv, "GET", "/auth/me", tok, NULL), 401);
    /* tampered signature */
    snprintf(tok, sizeof tok, "%s", a.access);
    size_t tl = strlen(tok);
    tok[tl - 2] = tok[tl - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(status_of(&srv, "GET", "/auth/me", tok, NULL), 401);
    /* a role raised by hand without the key */
    assert_int_equal(status_of(&srv, "GET", "/auth/me", "eyJhbGciOiJIUzI1NiJ9.e30.x", NULL), 401);
    stop(&srv);
}

static void test_enumeration_and_rate_limit(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL);
    struct session a;
    signup(&srv, "alice@example.com", "correct horse battery", &a);
    struct rg_resp r1, r2;
    assert_int_equal(login(&srv, "alice@example.com", "wrong password!", NULL, &r1), 401);
    assert_int_equal(login(&srv, "nobody@example.com", "wrong password!", NULL, &r2), 401);
    assert_int_equal(r1.len, r2.len);
    assert_memory_equal(r1.body, r2.body, r1.len); /* the same words */
    rg_resp_free(&r1);
    rg_resp_free(&r2);
    /* after 5 failures from here on the account: 429 with Retry-After (the
     * back-off), even with the right password */
    for (int i = 0; i < 4; i++)
        assert_int_equal(login(&srv, "alice@example.com", "wrong password!", NULL, NULL), 401);
    assert_int_equal(login(&srv, "alice@example.com", "correct horse battery", NULL, &r1), 429);
    char ra[32];
    assert_non_null(rg_resp_header(&r1, "Retry-After", ra, sizeof ra));
    assert_true(atoi(ra) > 0);
    rg_resp_free(&r1);
    /* another account from the same address is not locked (yet) */
    struct session b;
    signup(&srv, "bob@example.com", "another good one", &b);
    assert_int_equal(login(&srv, "bob@example.com", "another good one", NULL, NULL), 200);
    /* per address: 30 failures from here (7 so far, the 429 included), spread
     * over emails none of which reaches its own limit, lock every account out
     * from this address */
    for (int i = 0; i < 23; i++) {
        char email[64];
        snprintf(email, sizeof email, "guess%d@example.com", i % 8);
        assert_int_equal(login(&srv, email, "wrong password!", NULL, NULL), 401);
    }
    assert_int_equal(login(&srv, "bob@example.com", "another good one", NULL, &r1), 429);
    assert_non_null(rg_resp_header(&r1, "Retry-After", ra, sizeof ra));
    rg_resp_free(&r1);
    stop(&srv);
}

static void test_roles_and_admin(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL);
    struct session admin, u;
    signup(&srv, "admin@example.com", "correct horse battery", &admin);
    signup(&srv, "user@example.com", "another good one", &u);
    assert_int_equal(status_of(&srv, "GET", "/admin/users", u.access, NULL), 403);
    assert_int_equal(status_of(&srv, "GET", "/admin/users", NULL, NULL), 401);
    struct rg_resp r;
    assert_int_equal(req(&srv, "GET", "/admin/users", admin.access, NULL, NULL, NULL, &r), 200);
    json_t *o = json_loadb(r.body, r.len, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(o, "data")), 2);
    json_decref(o);
    rg_resp_free(&r);

    /* a user may make API keys; a readonly user may only read */
    assert_int_equal(status_of(&srv, "POST", "/auth/api-keys", u.access, "{\"name\":\"x\"}"), 201);
    char path[64], body[64];
    snprintf(path, sizeof path, "/admin/users/%lld", u.id);
    assert_int_equal(status_of(&srv, "PATCH", path, u.access, "{\"role\":\"admin\"}"), 403);
    assert_int_equal(status_of(&srv, "PATCH", path, admin.access, "{\"role\":\"readonly\"}"), 200);
    assert_int_equal(status_of(&srv, "PATCH", path, admin.access, "{\"role\":\"root\"}"), 400);
    assert_int_equal(
        status_of(&srv, "PATCH", "/admin/users/99999", admin.access, "{\"role\":\"user\"}"), 404);
    struct session ro;
    assert_int_equal(login(&srv, "user@example.com", "another good one", &ro, NULL), 200);
    assert_string_equal(ro.role, "readonly");
    assert_int_equal(status_of(&srv, "GET", "/auth/me", ro.access, NULL), 200);
    assert_int_equal(status_of(&srv, "GET", "/auth/api-keys", ro.access, NULL), 200);
    assert_int_equal(status_of(&srv, "POST", "/auth/api-keys", ro.access, "{\"name\":\"y\"}"), 403);
    assert_int_equal(status_of(&srv, "GET", "/admin/users", ro.access, NULL), 403);
    /* the last admin cannot demote itself */
    snprintf(path, sizeof path, "/admin/users/%lld", admin.id);
    assert_int_equal(status_of(&srv, "PATCH", path, admin.access, "{\"role\":\"user\"}"), 409);
    /* disabling ends sign-in and refresh */
    snprintf(path, sizeof path, "/admin/users/%lld", u.id);
    snprintf(body, sizeof body, "{\"disabled\":true}");
    assert_int_equal(status_of(&srv, "PATCH", path, admin.access, body), 200);
    assert_int_equal(login(&srv, "user@example.com", "another good one", NULL, NULL), 403);
    assert_int_equal(req(&srv, "POST", "/auth/refresh", NULL, ro.cookies, ro.csrf, NULL, &r), 401);
    rg_resp_free(&r);
    stop(&srv);
}

static void test_api_keys(void **state)
{
    (void)state;
    struct rg_server srv;
    /* --api-key closes sign-up unless asked for: ask for it here */
    const char *extra[] = {"--api-key", "server-wide-key", "--signup", "open", NULL};
    start(&srv, extra);
    struct session a, b;
    signup(&srv, "alice@example.com", "correct horse battery", &a);
    signup(&srv, "bob@example.com", "another good one", &b);
    struct rg_resp r;
    assert_int_equal(
        req(&srv, "POST", "/auth/api-keys", b.access, NULL, NULL, "{\"name\":\"ci\"}", &r), 201);
    json_t *o = json_loadb(r.body, r.len, 0, NULL);
    const char *key = json_string_value(json_object_get(o, "key"));
    assert_non_null(key);
    assert_true(!strncmp(key, "rg_", 3));
    char k[200];
    snprintf(k, sizeof k, "%s", key);
    long long kid = json_integer_value(json_object_get(o, "id"));
    json_decref(o);
    rg_resp_free(&r);
    /* the key is the account: /auth/me, and the OpenAI routes behind --api-key */
    assert_int_equal(req(&srv, "GET", "/auth/me", k, NULL, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "bob@example.com"));
    rg_resp_free(&r);
    assert_int_equal(status_of(&srv, "GET", "/v1/models", k, NULL), 200);
    assert_int_equal(status_of(&srv, "GET", "/v1/models", "server-wide-key", NULL), 200);
    assert_int_equal(status_of(&srv, "GET", "/v1/models", "not-a-key", NULL), 401);
    assert_int_equal(status_of(&srv, "GET", "/v1/models", NULL, NULL), 401);
    k[strlen(k) - 1] ^= 1; /* one bit off */
    assert_int_equal(status_of(&srv, "GET", "/v1/models", k, NULL), 401);
    k[strlen(k) - 1] ^= 1;
    /* the list shows the prefix, never the key */
    assert_int_equal(req(&srv, "GET", "/auth/api-keys", b.access, NULL, NULL, NULL, &r), 200);
    assert_null(strstr(r.body, k));
    assert_non_null(strstr(r.body, "\"prefix\""));
    rg_resp_free(&r);
    /* Alice (admin) sees it with ?all=1; Bob's list does not hold Alice's */
    char path[64];
    snprintf(path, sizeof path, "/auth/api-keys/%lld", kid);
    /* another user cannot revoke it: 404, as if it did not exist */
    struct session c;
    signup(&srv, "carol@example.com", "a third password", &c);
    assert_int_equal(status_of(&srv, "DELETE", path, c.access, NULL), 404);
    assert_int_equal(status_of(&srv, "GET", "/auth/me", k, NULL), 200);
    /* an admin sees everyone's keys with ?all=1, a user only their own */
    struct rg_resp lr;
    assert_int_equal(req(&srv, "GET", "/auth/api-keys?all=1", a.access, NULL, NULL, NULL, &lr),
                     200);
    assert_non_null(strstr(lr.body, "\"ci\""));
    rg_resp_free(&lr);
    assert_int_equal(req(&srv, "GET", "/auth/api-keys?all=1", c.access, NULL, NULL, NULL, &lr),
                     200);
    assert_null(strstr(lr.body, "\"ci\""));
    rg_resp_free(&lr);
    /* an admin may revoke anyone's key; make Bob a second one for that */
    assert_int_equal(
        req(&srv, "POST", "/auth/api-keys", b.access, NULL, NULL, "{\"name\":\"two\"}", &lr), 201);
    json_t *o2 = json_loadb(lr.body, lr.len, 0, NULL);
    char k2[200], path2[64];
    snprintf(k2, sizeof k2, "%s", json_string_value(json_object_get(o2, "key")));
    snprintf(path2, sizeof path2, "/auth/api-keys/%lld",
             (long long)json_integer_value(json_object_get(o2, "id")));
    json_decref(o2);
    rg_resp_free(&lr);
    assert_int_equal(status_of(&srv, "GET", "/auth/me", k2, NULL), 200);
    assert_int_equal(status_of(&srv, "DELETE", path2, a.access, NULL), 204);
    assert_int_equal(status_of(&srv, "GET", "/auth/me", k2, NULL), 401);
    assert_int_equal(status_of(&srv, "DELETE", path, b.access, NULL), 204);
    assert_int_equal(status_of(&srv, "GET", "/auth/me", k, NULL), 401);
    assert_int_equal(status_of(&srv, "GET", "/v1/models", k, NULL), 401);
    stop(&srv);
}

static void test_signup_policies(void **state)
{
    (void)state;
    struct rg_server srv;
    const char *closed[] = {"--signup", "closed", NULL};
    start(&srv, closed);
    struct session a;
    signup(&srv, "admin@example.com", "correct horse battery", &a); /* the first is let in */
    assert_int_equal(status_of(&srv, "POST", "/auth/register", NULL,
                               "{\"email\":\"b@example.com\",\"password\":\"another good one\"}"),
                     403);
    stop(&srv);

    const char *approval[] = {"--signup", "approval", NULL};
    start(&srv, approval);
    signup(&srv, "admin@example.com", "correct horse battery", &a);
    struct rg_resp r;
    assert_int_equal(req(&srv, "POST", "/auth/register", NULL, NULL, NULL,
                         "{\"email\":\"b@example.com\",\"password\":\"another good one\"}", &r),
                     202);
    json_t *o = json_loadb(r.body, r.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "accepted");
    assert_null(json_object_get(o, "access_token"));
    json_decref(o);
    rg_resp_free(&r);
    /* the admin sees the pending account */
    long long bid = 0;
    assert_int_equal(req(&srv, "GET", "/admin/users", a.access, NULL, NULL, NULL, &r), 200);
    o = json_loadb(r.body, r.len, 0, NULL);
    json_t *data = json_object_get(o, "data");
    for (size_t i = 0; i < json_array_size(data); i++) {
        json_t *u = json_array_get(data, i);
        if (!strcmp(json_string_value(json_object_get(u, "email")), "b@example.com")) {
            bid = json_integer_value(json_object_get(u, "id"));
            assert_true(json_is_true(json_object_get(u, "pending")));
        }
    }
    json_decref(o);
    rg_resp_free(&r);
    assert_true(bid > 0);
    assert_int_equal(login(&srv, "b@example.com", "another good one", NULL, NULL), 403);
    char path[64];
    snprintf(path, sizeof path, "/admin/users/%lld", bid);
    assert_int_equal(status_of(&srv, "PATCH", path, a.access, "{\"approved\":true}"), 200);
    assert_int_equal(login(&srv, "b@example.com", "another good one", NULL, NULL), 200);
    stop(&srv);
}

static void test_injection(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL);
    struct session a;
    signup(&srv, "admin@example.com", "correct horse battery", &a);
    static const char *evil[] = {
        "x' OR '1'='1",
        "admin@example.com' --",
        "a@b.c'; DROP TABLE users; --",
        "\\\" OR 1=1 --",
    };
    char body[512];
    for (size_t i = 0; i < sizeof evil / sizeof *evil; i++) {
        snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"' OR '1'='1\"}", evil[i]);
        long st = status_of(&srv, "POST", "/auth/login", NULL, body);
        assert_true(st == 401 || st == 400);
        snprintf(body, sizeof body,
                 "{\"email\":\"%s\",\"password\":\"x' OR 1=1; --xx\",\"name\":\"%s\"}", evil[i],
                 evil[i]);
        st = status_of(&srv, "POST", "/auth/register", NULL, body);
        assert_true(st == 400 || st == 202);
    }
    snprintf(body, sizeof body, "{\"name\":\"k'); DELETE FROM api_keys; --\"}");
    assert_int_equal(status_of(&srv, "POST", "/auth/api-keys", a.access, body), 201);
    assert_int_equal(status_of(&srv, "DELETE", "/auth/api-keys/1%20OR%201=1", a.access, NULL), 404);
    assert_int_equal(status_of(&srv, "PATCH", "/admin/users/1;DROP", a.access, "{}"), 404);
    /* everything is still there and the admin still signs in */
    struct rg_resp r;
    assert_int_equal(req(&srv, "GET", "/admin/users", a.access, NULL, NULL, NULL, &r), 200);
    json_t *o = json_loadb(r.body, r.len, 0, NULL);
    size_t users = json_array_size(json_object_get(o, "data"));
    assert_true(users >= 1);
    json_decref(o);
    rg_resp_free(&r);
    assert_int_equal(req(&srv, "GET", "/auth/api-keys", a.access, NULL, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "DELETE FROM api_keys")); /* stored as text */
    rg_resp_free(&r);
    assert_int_equal(login(&srv, "admin@example.com", "correct horse battery", NULL, NULL), 200);
    stop(&srv);
}

#define TESTS                                                                                      \
    cmocka_unit_test(test_signup_signin_refresh), cmocka_unit_test(test_tokens_refused),           \
        cmocka_unit_test(test_enumeration_and_rate_limit), cmocka_unit_test(test_roles_and_admin), \
        cmocka_unit_test(test_api_keys), cmocka_unit_test(test_signup_policies),                   \
        cmocka_unit_test(test_injection)

int main(void)
{
    const struct CMUnitTest tests[] = {TESTS};
    int failed = cmocka_run_group_tests_name("auth/sqlite", tests, NULL, NULL);
    int pg = rg_harness_pg_pass("auth");
    if (pg <= 0) return failed + (pg < 0 ? 1 : 0);
    const struct CMUnitTest pg_tests[] = {TESTS};
    failed += cmocka_run_group_tests_name("auth/postgres", pg_tests, NULL, NULL);
    return failed;
}
