/*
 * /auth/... and /admin/...: accounts over src/auth. Thin handlers: parse, call
 * one rg_auth_* or rg_db_* function, reply.
 *
 * Cookies (all Secure, which browsers honour on http://localhost too):
 *   rg_refresh  the refresh token: HttpOnly, SameSite=Strict, Path=/auth
 *   rg_csrf     double-submit CSRF token, readable by the page: requests
 *               that the refresh cookie authenticates (refresh, logout) must
 *               echo it in X-CSRF-Token, which another site cannot read
 *   rg_oauth    signed OAuth state for one provider round trip: HttpOnly,
 *               SameSite=None (Apple answers with a cross-site POST),
 *               Path=/auth/oauth, 10 minutes
 * Bearer credentials (access tokens, API keys) need no CSRF token: a browser
 * never attaches them on its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api.h"
#include "auth/auth.h"
#include "auth/token.h"
#include "common/alloc.h"
#include "common/str.h"
#include "net/net.h"

#define REFRESH_COOKIE "rg_refresh"
#define CSRF_COOKIE "rg_csrf"
#define OAUTH_COOKIE "rg_oauth"

/* ---- helpers --------------------------------------------------------------- */

/* Replies with the status an rg_auth/rg_db error code means. */
static void reply_rc(struct rg_http_req *r, int rc, const char *msg)
{
    int status = 500;
    const char *code = NULL;
    switch (rc) {
    case RG_EINVAL: status = 400; break;
    case RG_EAUTH: status = 401, code = "invalid_credentials"; break;
    case RG_EPERM: status = 403, code = "forbidden"; break;
    case RG_ENOTFOUND: status = 404, code = "not_found"; break;
    case RG_EEXISTS: status = 409, code = "conflict"; break;
    case RG_ESTATE: status = 409, code = "conflict"; break;
    case RG_EBUSY: status = 429, code = "rate_limited"; break;
    default: break;
    }
    if (status == 500) {
        rg_log(RG_LOG_ERROR, "auth failed", "error", 's', msg, RG_LOG_END);
        msg = "internal error";
    }
    rg_http_reply_error(r, status, NULL, code, NULL, "%s", msg);
}

static int64_t current_user(struct rg_http_req *r)
{
    const struct rg_principal *p = rg_http_req_principal(r);
    char *end = NULL;
    long long id = strtoll(p->id, &end, 10);
    return end && end != p->id && !*end && id > 0 ? id : 0;
}

/* The caller must be an account (not a --api-key key): 401 otherwise. */
static int64_t need_user(struct rg_http_req *r)
{
    int64_t id = current_user(r);
    if (!id)
        rg_http_reply_error(r, 401, NULL, "unauthenticated", NULL,
                            "sign in with an account (a server --api-key is not one)");
    return id;
}

static json_t *user_json(const struct rg_db_user *u, bool admin_view)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)u->id, "email", u->email,
                          "name", u->name, "role", u->role);
    if (o && admin_view) {
        json_object_set_new(o, "disabled", json_boolean(u->disabled));
        json_object_set_new(o, "pending", json_boolean(u->pending));
        json_object_set_new(o, "created_at", json_integer(u->created_at));
        json_object_set_new(o, "has_password", json_boolean(u->pw_hash[0] != '\0'));
    }
    return o;
}

static void set_cookie(struct rg_http_req *r, const char *name, const char *value,
                       const char *attrs, long max_age)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s=%s; Max-Age=%ld; %s", name, value, max_age, attrs);
    rg_http_set_header(r, "Set-Cookie", buf);
}

static void set_session_cookies(struct rg_http_req *r, const struct rg_auth_tokens *t,
                                char csrf[64])
{
    long age = (long)(t->refresh_expires - (int64_t)time(NULL));
    if (age < 0) age = 0;
    set_cookie(r, REFRESH_COOKIE, t->refresh, "Path=/auth; HttpOnly; Secure; SameSite=Strict", age);
    rg_csrf_new(csrf);
    set_cookie(r, CSRF_COOKIE, csrf, "Path=/; Secure; SameSite=Strict", age);
}

static void clear_session_cookies(struct rg_http_req *r)
{
    set_cookie(r, REFRESH_COOKIE, "", "Path=/auth; HttpOnly; Secure; SameSite=Strict", 0);
    set_cookie(r, CSRF_COOKIE, "", "Path=/; Secure; SameSite=Strict", 0);
}

/* 200/201 with {access_token, token_type, expires_in, user, csrf_token} and the cookies. */
static void reply_tokens(struct rg_http_req *r, int status, struct rg_auth_tokens *t)
{
    char csrf[64];
    set_session_cookies(r, t, csrf);
    rg_http_set_header(r, "Cache-Control", "no-store");
    json_t *o = json_pack("{s:s, s:s, s:i, s:o, s:s}", "access_token", t->access, "token_type",
                          "Bearer", "expires_in", t->expires_in, "user", user_json(&t->user, false),
                          "csrf_token", csrf);
    rg_auth_tokens_clear(t);
    if (!o) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    rg_http_reply_json(r, status, o);
}

static const char *body_str(struct rg_http_req *r, json_t *body, const char *key, bool required,
                            bool *bad)
{
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) {
        if (required) {
            rg_http_reply_error(r, 400, NULL, NULL, key, "'%s' is required", key);
            *bad = true;
        }
        return NULL;
    }
    if (!json_is_string(v)) {
        rg_http_reply_error(r, 400, NULL, NULL, key, "'%s' must be a string", key);
        *bad = true;
        return NULL;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        rg_http_reply_error(r, 400, NULL, NULL, key, "'%s' contains a NUL character", key);
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

/* Cookie-authenticated state changes need the CSRF token echoed in a header. */
static bool csrf_ok(struct rg_http_req *r)
{
    if (rg_csrf_check(rg_http_req_cookie(r, CSRF_COOKIE), rg_http_req_header(r, "X-CSRF-Token")))
        return true;
    rg_http_reply_error(r, 403, NULL, "csrf", NULL,
                        "missing or wrong X-CSRF-Token header (it must equal the rg_csrf cookie)");
    return false;
}

/* ---- sign-up, sign-in, sessions ------------------------------------------------ */

/* Sign-up answers the same for a new and a taken email (202, nothing
 * signed in): the client signs in next. See docs/auth.md for the flow. */
static void do_register(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    bool bad = false;
    const char *email = body_str(r, body, "email", true, &bad);
    const char *password = bad ? NULL : body_str(r, body, "password", true, &bad);
    const char *name = bad ? NULL : body_str(r, body, "name", false, &bad);
    if (bad) return;
    char addr[64], err[RG_ERR_SIZE];
    rg_http_req_client_addr(r, addr, sizeof addr);
    /* a caller holding a server --api-key (not an account) may make the first admin */
    bool trusted = !strcmp(rg_http_req_principal(r)->id, "api-key");
    int retry = 0;
    int rc = rg_auth_register(st->auth, email, password, name, addr, trusted, &retry, err);
    if (rc == RG_EBUSY && retry > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", retry);
        rg_http_set_header(r, "Retry-After", v);
    }
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    rg_http_set_header(r, "Cache-Control", "no-store");
    rg_http_reply_json(
        r, 202,
        json_pack("{s:s, s:s}", "status", "accepted", "message",
                  "sign-up accepted: sign in with this email and password (if the email already "
                  "had an account, its password is unchanged; under approval, sign-in works "
                  "once an admin approves)"));
}

static void do_login(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    bool bad = false;
    const char *email = body_str(r, body, "email", true, &bad);
    const char *password = bad ? NULL : body_str(r, body, "password", true, &bad);
    if (bad) return;
    char addr[64], err[RG_ERR_SIZE];
    rg_http_req_client_addr(r, addr, sizeof addr);
    struct rg_auth_tokens t;
    int retry = 0;
    int rc = rg_auth_login(st->auth, email, password, addr, rg_http_req_header(r, "User-Agent"), &t,
                           &retry, err);
    if (rc == RG_EBUSY && retry > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", retry);
        rg_http_set_header(r, "Retry-After", v);
    }
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    reply_tokens(r, 200, &t);
}

static void do_refresh(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    const char *cookie = rg_http_req_cookie(r, REFRESH_COOKIE);
    if (!cookie || !*cookie) {
        rg_http_reply_error(r, 401, NULL, "unauthenticated", NULL,
                            "not signed in (no session cookie)");
        return;
    }
    if (!csrf_ok(r)) return;
    struct rg_auth_tokens t;
    char err[RG_ERR_SIZE];
    int rc = rg_auth_refresh(st->auth, cookie, rg_http_req_header(r, "User-Agent"), &t, err);
    if (rc) {
        if (rc == RG_EAUTH) clear_session_cookies(r);
        reply_rc(r, rc, err);
        return;
    }
    reply_tokens(r, 200, &t);
}

static void do_logout(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    const char *cookie = rg_http_req_cookie(r, REFRESH_COOKIE);
    if (cookie && *cookie) {
        if (!csrf_ok(r)) return;
        char err[RG_ERR_SIZE];
        int rc = rg_auth_logout(st->auth, cookie, err);
        if (rc && rc != RG_ENOTFOUND) {
            reply_rc(r, rc, err);
            return;
        }
    }
    clear_session_cookies(r);
    rg_http_reply(r, 204, NULL, NULL, 0);
}

static void do_me(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t id = need_user(r);
    if (!id) return;
    struct rg_db_user u;
    char err[RG_ERR_SIZE];
    int rc = rg_db_user_get(rg_auth_db(st->auth), id, &u, err);
    if (rc == RG_ENOTFOUND) rc = RG_EAUTH, rg_strlcpy(err, "the account is gone", sizeof err);
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    rg_http_reply_json(r, 200, user_json(&u, false));
}

/* ---- API keys ------------------------------------------------------------------ */

static json_t *key_json(const struct rg_db_apikey *k)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:I, s:I}", "id", (json_int_t)k->id, "name", k->name,
                          "prefix", k->prefix, "created_at", (json_int_t)k->created_at, "owner",
                          (json_int_t)k->user_id);
    if (o)
        json_object_set_new(o, "last_used_at",
                            k->last_used_at ? json_integer(k->last_used_at) : json_null());
    return o;
}

static bool is_admin(struct rg_http_req *r)
{
    return rg_http_req_principal(r)->role >= RG_ROLE_ADMIN;
}

/* ---- signed-in devices (docs/chat.md, "Account sessions") ---------------------------- */

/* The session family of the caller's access token ("" for an API key). */
static void current_family(struct rg_http_req *r, struct rg_api_state *st, char *out, size_t n)
{
    out[0] = '\0';
    const char *b = rg_http_req_bearer(r);
    struct rg_auth_who w;
    char err[RG_ERR_SIZE];
    if (b && rg_auth_check_bearer(st->auth, b, &w, err) == RG_OK)
        rg_strlcpy(out, w.family, n);
}

static void sessions_list(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t id = need_user(r);
    if (!id) return;
    char cur[40];
    current_family(r, st, cur, sizeof cur);
    struct rg_db_device *v = NULL;
    size_t n = 0;
    char err[RG_ERR_SIZE];
    int rc = rg_db_session_list(rg_auth_db(st->auth), id, (int64_t)time(NULL), &v, &n, err);
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    json_t *data = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            data, json_pack("{s:s, s:s, s:I, s:I, s:I, s:b}", "id", v[i].family, "user_agent",
                            v[i].user_agent, "created_at", (json_int_t)v[i].created_at,
                            "last_used_at", (json_int_t)v[i].last_used_at, "expires_at",
                            (json_int_t)v[i].expires_at, "current",
                            cur[0] && !strcmp(cur, v[i].family)));
    rg_free(v);
    rg_http_reply_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void sessions_delete(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t id = need_user(r);
    if (!id) return;
    const char *fam = rg_http_req_param(r, "id");
    char err[RG_ERR_SIZE];
    int rc = fam && strlen(fam) < 40 ? rg_auth_sessions_revoke(st->auth, id, fam, NULL, NULL, err)
                                     : RG_ENOTFOUND;
    if (rc == RG_ENOTFOUND)
        rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no such session");
    else if (rc)
        reply_rc(r, rc, err);
    else
        rg_http_reply(r, 204, NULL, NULL, 0);
}

static void sessions_revoke_others(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t id = need_user(r);
    if (!id) return;
    char cur[40];
    current_family(r, st, cur, sizeof cur);
    if (!cur[0]) {
        rg_http_reply_error(r, 400, NULL, NULL, NULL,
                            "this needs a signed-in session (an access token, not an API key)");
        return;
    }
    int64_t n = 0;
    char err[RG_ERR_SIZE];
    int rc = rg_auth_sessions_revoke(st->auth, id, NULL, cur, &n, err);
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    rg_http_reply_json(r, 200, json_pack("{s:I}", "revoked", (json_int_t)n));
}

static void keys_list(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t id = need_user(r);
    if (!id) return;
    const char *all = rg_http_req_query(r, "all");
    bool everyone = all && !strcmp(all, "1") && is_admin(r);
    struct rg_db_apikey *v = NULL;
    size_t n = 0;
    char err[RG_ERR_SIZE];
    int rc = rg_db_apikey_list(rg_auth_db(st->auth), everyone ? 0 : id, &v, &n, err);
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    json_t *data = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(data, key_json(&v[i]));
    rg_free(v);
    rg_http_reply_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void keys_create(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t id = need_user(r);
    if (!id) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    bool bad = false;
    const char *name = body_str(r, body, "name", false, &bad);
    if (bad) return;
    char *key = NULL, err[RG_ERR_SIZE];
    struct rg_db_apikey k;
    int rc = rg_auth_apikey_create(st->auth, id, name, &key, &k, err);
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    json_t *o = key_json(&k);
    json_object_set_new(o, "key", json_string(key));
    rg_free(key);
    rg_http_set_header(r, "Cache-Control", "no-store");
    rg_http_reply_json(r, 201, o);
}

static bool parse_id(const char *s, int64_t *out)
{
    char *end = NULL;
    if (!s || !*s) return false;
    long long v = strtoll(s, &end, 10);
    if (*end || v <= 0) return false;
    *out = v;
    return true;
}

static void keys_delete(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t id = need_user(r), key_id = 0;
    if (!id) return;
    if (!parse_id(rg_http_req_param(r, "id"), &key_id)) {
        rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no such API key");
        return;
    }
    char err[RG_ERR_SIZE];
    int rc = rg_db_apikey_revoke(rg_auth_db(st->auth), key_id, is_admin(r) ? 0 : id,
                                 (int64_t)time(NULL), err);
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    rg_http_reply(r, 204, NULL, NULL, 0);
}

/* ---- admin ---------------------------------------------------------------------- */

static void admin_users(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    struct rg_db_user *v = NULL;
    size_t n = 0;
    char err[RG_ERR_SIZE];
    int rc = rg_db_user_list(rg_auth_db(st->auth), &v, &n, err);
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    json_t *data = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(data, user_json(&v[i], true));
    rg_free(v);
    rg_http_reply_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void admin_user_patch(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t id = 0;
    if (!parse_id(rg_http_req_param(r, "id"), &id)) {
        rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no such user");
        return;
    }
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    struct rg_db_user_change ch = {.disabled = -1, .pending = -1};
    bool bad = false;
    ch.role = body_str(r, body, "role", false, &bad);
    if (bad) return;
    if (ch.role && !rg_db_role_valid(ch.role)) {
        rg_http_reply_error(r, 400, NULL, NULL, "role", "role must be admin, user or readonly");
        return;
    }
    static const char *const flags[] = {"disabled", "approved"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(body, flags[i]);
        if (!v || json_is_null(v)) continue;
        if (!json_is_boolean(v)) {
            rg_http_reply_error(r, 400, NULL, NULL, flags[i], "'%s' must be true or false",
                                flags[i]);
            return;
        }
        if (i == 0)
            ch.disabled = json_is_true(v);
        else
            ch.pending = !json_is_true(v);
    }
    struct rg_db_user u;
    char err[RG_ERR_SIZE];
    int rc = rg_auth_user_update(st->auth, id, &ch, &u, err);
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    rg_http_reply_json(r, 200, user_json(&u, true));
}

/* ---- provider sign-in ------------------------------------------------------------- */

/* Offline, provider sign-in is refused before anything else: 503 offline. */
static bool refused_offline(struct rg_http_req *r)
{
    char err[RG_ERR_SIZE];
    if (rg_net_allowed("sign-in with GitHub or Apple", err) == RG_OK) return false;
    rg_http_reply_error(r, 503, NULL, "offline", NULL, "%s", err);
    return true;
}

static void oauth_start(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    const char *provider = rg_http_req_param(r, "provider");
    if (refused_offline(r)) return;
    if (!rg_auth_provider_enabled(st->auth, provider)) {
        rg_http_reply_error(r, 404, NULL, "not_found", NULL,
                            "sign-in with '%.20s' is not configured on this server", provider);
        return;
    }
    char *url = NULL, *cookie = NULL, err[RG_ERR_SIZE];
    int rc = rg_auth_oauth_start(st->auth, provider, current_user(r), &url, &cookie, err);
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    set_cookie(r, OAUTH_COOKIE, cookie, "Path=/auth/oauth; HttpOnly; Secure; SameSite=None", 600);
    rg_http_set_header(r, "Location", url);
    rg_http_set_header(r, "Cache-Control", "no-store");
    json_t *o = json_pack("{s:s}", "url", url);
    rg_free(url);
    rg_free(cookie);
    rg_http_reply_json(r, 302, o);
}

/* Value of key in an application/x-www-form-urlencoded body, decoded into out. */
static const char *form_value(const char *body, size_t len, const char *key, char *out, size_t size)
{
    size_t kl = strlen(key);
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        if ((size_t)(e - p) > kl && !memcmp(p, key, kl) && p[kl] == '=') {
            size_t o = 0;
            for (const char *q = p + kl + 1; q < e && o + 1 < size; q++) {
                if (*q == '+') {
                    out[o++] = ' ';
                } else if (*q == '%' && e - q >= 3) {
                    char hex[3] = {q[1], q[2], 0};
                    char *hend = NULL;
                    long v = strtol(hex, &hend, 16);
                    if (*hend || v == 0) return NULL;
                    out[o++] = (char)v;
                    q += 2;
                } else {
                    out[o++] = *q;
                }
            }
            out[o] = '\0';
            return out;
        }
        p = e + 1;
    }
    return NULL;
}

static void oauth_callback(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    const char *provider = rg_http_req_param(r, "provider");
    if (refused_offline(r)) return;
    if (!rg_auth_provider_enabled(st->auth, provider)) {
        rg_http_reply_error(r, 404, NULL, "not_found", NULL,
                            "sign-in with '%.20s' is not configured on this server", provider);
        return;
    }
    static char none[] = "";
    char codebuf[1024], statebuf[256], errbuf[128];
    const char *code = rg_http_req_query(r, "code"), *state = rg_http_req_query(r, "state");
    const char *perr = rg_http_req_query(r, "error");
    if (rg_http_req_method(r) == RG_HTTP_POST) { /* Apple's response_mode=form_post */
        size_t len = 0;
        const char *body = rg_http_req_body(r, &len);
        body = body ? body : none;
        code = form_value(body, len, "code", codebuf, sizeof codebuf);
        state = form_value(body, len, "state", statebuf, sizeof statebuf);
        perr = form_value(body, len, "error", errbuf, sizeof errbuf);
    }
    set_cookie(r, OAUTH_COOKIE, "", "Path=/auth/oauth; HttpOnly; Secure; SameSite=None", 0);
    if (perr) {
        rg_http_reply_error(r, 400, NULL, "oauth_denied", NULL, "the provider said: %.100s", perr);
        return;
    }
    if (!code || !state) {
        rg_http_reply_error(r, 400, NULL, NULL, NULL, "missing 'code' or 'state'");
        return;
    }
    struct rg_auth_tokens t;
    bool pending = false;
    char err[RG_ERR_SIZE];
    int rc =
        rg_auth_oauth_finish(st->auth, provider, code, state, rg_http_req_cookie(r, OAUTH_COOKIE),
                             rg_http_req_header(r, "User-Agent"), &t, &pending, err);
    if (rc) {
        reply_rc(r, rc, err);
        return;
    }
    if (pending) {
        rg_auth_tokens_clear(&t);
        rg_http_reply_json(r, 202,
                           json_pack("{s:s, s:s}", "status", "pending", "message",
                                     "account created: an admin must approve it"));
        return;
    }
    const char *accept = rg_http_req_header(r, "Accept");
    if (accept && strstr(accept, "application/json")) {
        reply_tokens(r, 200, &t);
        return;
    }
    /* a browser: keep the session in its cookie and go to the app, which
     * gets an access token from /auth/refresh */
    char csrf[64];
    set_session_cookies(r, &t, csrf);
    rg_auth_tokens_clear(&t);
    rg_http_set_header(r, "Location", "/");
    rg_http_reply(r, 302, "text/plain", "signed in\n", 10);
}

static void oauth_providers(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    rg_http_reply_json(r, 200,
                       json_pack("{s:b, s:b}", "github",
                                 !rg_net_offline() && rg_auth_provider_enabled(st->auth, "github"),
                                 "apple",
                                 !rg_net_offline() && rg_auth_provider_enabled(st->auth, "apple")));
}

/* ---- route table ----------------------------------------------------------------- */

#define USER_SCHEMA                                                                                \
    "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"email\":{\"type\":"      \
    "\"string\"},\"name\":{\"type\":\"string\"},\"role\":{\"enum\":[\"admin\",\"user\","           \
    "\"readonly\"]}}}"
#define TOKENS_SCHEMA                                                                              \
    "{\"type\":\"object\",\"properties\":{\"access_token\":{\"type\":\"string\"},\"token_type\":"  \
    "{\"const\":\"Bearer\"},\"expires_in\":{\"type\":\"integer\"},\"csrf_token\":{\"type\":"       \
    "\"string\"},\"user\":" USER_SCHEMA "}}"
#define LIST_SCHEMA "{\"type\":\"object\",\"properties\":{\"data\":{\"type\":\"array\"}}}"

size_t rg_api_auth_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const struct rg_route routes[] = {
        {RG_HTTP_POST, "/auth/register", do_register, st, RG_ROLE_PUBLIC, 0, "auth",
         "Create an account: 202 accepted whether or not the email was taken (then sign in); "
         "429 with Retry-After past --signup-rate",
         "{\"type\":\"object\",\"required\":[\"email\",\"password\"],\"properties\":{\"email\":{"
         "\"type\":\"string\"},\"password\":{\"type\":\"string\",\"minLength\":8},\"name\":{"
         "\"type\":\"string\"}}}",
         "{\"type\":\"object\",\"properties\":{\"status\":{\"const\":\"accepted\"},"
         "\"message\":{\"type\":\"string\"}}}"},
        {RG_HTTP_POST, "/auth/login", do_login, st, RG_ROLE_PUBLIC, 0, "auth",
         "Sign in: an access token, and the refresh cookie",
         "{\"type\":\"object\",\"required\":[\"email\",\"password\"],\"properties\":{\"email\":{"
         "\"type\":\"string\"},\"password\":{\"type\":\"string\"}}}",
         TOKENS_SCHEMA},
        {RG_HTTP_POST, "/auth/refresh", do_refresh, st, RG_ROLE_PUBLIC, 0, "auth",
         "A new access token from the refresh cookie (rotated); needs X-CSRF-Token", NULL,
         TOKENS_SCHEMA},
        {RG_HTTP_POST, "/auth/logout", do_logout, st, RG_ROLE_PUBLIC, 0, "auth",
         "Sign out: revokes the session of the refresh cookie; needs X-CSRF-Token", NULL, NULL},
        {RG_HTTP_GET, "/auth/me", do_me, st, RG_ROLE_READONLY, 0, "auth", "The signed-in account",
         NULL, USER_SCHEMA},
        {RG_HTTP_GET, "/auth/providers", oauth_providers, st, RG_ROLE_PUBLIC, 0, "auth",
         "Which provider sign-ins this server offers", NULL,
         "{\"type\":\"object\",\"properties\":{\"github\":{\"type\":\"boolean\"},"
         "\"apple\":{\"type\":\"boolean\"}}}"},
        {RG_HTTP_GET, "/auth/oauth/{provider}/start", oauth_start, st, RG_ROLE_PUBLIC, 0, "auth",
         "Sign in with github or apple: redirects to the provider", NULL, NULL},
        {RG_HTTP_GET | RG_HTTP_POST, "/auth/oauth/{provider}/callback", oauth_callback, st,
         RG_ROLE_PUBLIC, 0, "auth", "Where the provider sends the browser back", NULL, NULL},
        {RG_HTTP_GET, "/auth/sessions", sessions_list, st, RG_ROLE_READONLY, 0, "auth",
         "The signed-in devices of the account", NULL, NULL},
        {RG_HTTP_DELETE, "/auth/sessions/{id}", sessions_delete, st, RG_ROLE_READONLY, 0, "auth",
         "Sign one device out", NULL, NULL},
        {RG_HTTP_POST, "/auth/sessions/revoke-others", sessions_revoke_others, st,
         RG_ROLE_READONLY, 0, "auth", "Sign out every device but this one", NULL, NULL},
        {RG_HTTP_GET, "/auth/api-keys", keys_list, st, RG_ROLE_READONLY, 0, "auth",
         "Your API keys (admins: ?all=1 for everyone's)", NULL, LIST_SCHEMA},
        {RG_HTTP_POST, "/auth/api-keys", keys_create, st, RG_ROLE_USER, 0, "auth",
         "A new API key; the key itself is shown only in this reply",
         "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}}}",
         "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"key\":{\"type\":"
         "\"string\"},\"prefix\":{\"type\":\"string\"}}}"},
        {RG_HTTP_DELETE, "/auth/api-keys/{id}", keys_delete, st, RG_ROLE_USER, 0, "auth",
         "Revoke an API key (yours; admins: anyone's)", NULL, NULL},
        {RG_HTTP_GET, "/admin/users", admin_users, st, RG_ROLE_ADMIN, 0, "admin", "All accounts",
         NULL, LIST_SCHEMA},
        {RG_HTTP_PATCH, "/admin/users/{id}", admin_user_patch, st, RG_ROLE_ADMIN, 0, "admin",
         "Change an account's role, disable or enable it, approve it",
         "{\"type\":\"object\",\"properties\":{\"role\":{\"enum\":[\"admin\",\"user\","
         "\"readonly\"]},\"disabled\":{\"type\":\"boolean\"},\"approved\":{\"type\":"
         "\"boolean\"}}}",
         USER_SCHEMA},
    };
    size_t n = RG_ARRAY_LEN(routes) < max ? RG_ARRAY_LEN(routes) : max;
    memcpy(out, routes, n * sizeof *routes);
    return n;
}

/* ---- the auth hook ------------------------------------------------------------------ */

/* Does this bearer look like one of ours (an API key or a JWT)? Other
 * bearers (a client's placeholder key) are left to the --api-key check. */
static bool ours(const char *b)
{
    if (!strncmp(b, "rg_", 3)) return true;
    if (strncmp(b, "eyJ", 3) != 0) return false;
    const char *d1 = strchr(b, '.');
    return d1 && strchr(d1 + 1, '.');
}

int rg_api_auth_hook(struct rg_http_req *r, void *ctx, struct rg_principal *who)
{
    struct rg_api_state *st = ctx;
    const char *b = rg_http_req_bearer(r);
    if (!b || !st->auth || !ours(b)) return RG_OK;
    struct rg_auth_who w;
    char err[RG_ERR_SIZE];
    int rc = rg_auth_check_bearer(st->auth, b, &w, err);
    if (rc && rc != RG_EAUTH) { /* the database could not say: not the client's fault */
        rg_log(RG_LOG_ERROR, "credential check failed", "error", 's', err, RG_LOG_END);
        rg_http_set_header(r, "Retry-After", "1");
        rg_http_reply_error(r, 503, NULL, "unavailable", NULL,
                            "the accounts database is unavailable: try again");
        return RG_EAUTH;
    }
    if (rc) {
        rg_http_set_header(r, "WWW-Authenticate", "Bearer");
        rg_http_reply_error(r, 401, NULL, "invalid_credentials", NULL, "%s", err);
        return RG_EAUTH;
    }
    who->role = !strcmp(w.role, "admin")  ? RG_ROLE_ADMIN
                : !strcmp(w.role, "user") ? RG_ROLE_USER
                                          : RG_ROLE_READONLY;
    snprintf(who->id, sizeof who->id, "%lld", (long long)w.user_id);
    return RG_OK;
}
