/*
 * The account half of the attack of issue 23, kept in the suite so it stays
 * fixed: live tokens after a demotion, a disable or a sign-out (break 2);
 * --api-key with open sign-up and open info routes (4); sign-up floods,
 * email enumeration through sign-up and lockout of a victim from another
 * address (8); simultaneous sign-ups on an empty database (9).
 *
 * Runs on SQLite, then again on PostgreSQL when one is reachable (PGHOST set,
 * as under pg_virtualenv; RG_REQUIRE_PG=1 makes its absence a failure), each
 * server on a database of its own. Requests can come from another loopback
 * address (127.0.0.2) to play a second client.
 */
#include "test.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>

#include "integration/harness_auth.h"

#define PW_ADMIN "correct horse battery"
#define PW_USER "another good one"

/* ---- helpers --------------------------------------------------------------- */

/* Starts a server on a fresh database with extra args (NULL-ended, may be NULL). */
static void start(struct rg_server *s, const char *const *extra)
{
    rg_harness_start(s, "rg_attack", extra, NULL);
}

static void stop(struct rg_server *s)
{
    rg_harness_stop(s);
}

struct resp {
    long status;
    char body[8192];
    size_t len;
    char retry_after[32]; /* "" if none */
    char refresh[128], csrf[128];
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = size * n, room = sizeof r->body - 1 - r->len;
    size_t take = len < room ? len : room;
    memcpy(r->body + r->len, p, take);
    r->len += take;
    r->body[r->len] = '\0';
    return len;
}

/* Copies the value of "name=" from a Set-Cookie line. */
static void cookie_value(const char *line, size_t len, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    if (len <= nl + 12 || strncasecmp(line, "set-cookie:", 11)) return;
    const char *v = line + 11;
    while (*v == ' ')
        v++;
    if (strncmp(v, name, nl) || v[nl] != '=') return;
    v += nl + 1;
    size_t n = strcspn(v, ";\r\n");
    if (n >= size) n = size - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = size * n;
    if (len > 12 && !strncasecmp(p, "retry-after:", 12)) {
        const char *v = p + 12;
        while (*v == ' ')
            v++;
        size_t vl = strcspn(v, "\r\n");
        if (vl >= sizeof r->retry_after) vl = sizeof r->retry_after - 1;
        memcpy(r->retry_after, v, vl);
        r->retry_after[vl] = '\0';
    }
    cookie_value(p, len, "rg_refresh", r->refresh, sizeof r->refresh);
    cookie_value(p, len, "rg_csrf", r->csrf, sizeof r->csrf);
    return len;
}

/*
 * One request from source address `from` (NULL: 127.0.0.1), with an
 * optional bearer and, for cookie routes, the session cookies and CSRF
 * header of a previous sign-in. Thread-safe (one curl handle per call).
 */
static long call(const struct rg_server *s, const char *from, const char *method, const char *path,
                 const char *bearer, const struct resp *session, const char *body, struct resp *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[256], auth[1200], cookie[400], csrf[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        h = curl_slist_append(h, auth);
    }
    if (session) {
        snprintf(cookie, sizeof cookie, "Cookie: rg_refresh=%s; rg_csrf=%s", session->refresh,
                 session->csrf);
        snprintf(csrf, sizeof csrf, "X-CSRF-Token: %s", session->csrf);
        h = curl_slist_append(h, cookie);
        h = curl_slist_append(h, csrf);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (from) curl_easy_setopt(c, CURLOPT_INTERFACE, from);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    return out->status;
}

static long status(const struct rg_server *s, const char *method, const char *path,
                   const char *bearer, const char *body)
{
    struct resp r;
    return call(s, NULL, method, path, bearer, NULL, body, &r);
}

static long reg(const struct rg_server *s, const char *from, const char *bearer, const char *email,
                const char *pw, struct resp *out)
{
    char body[512];
    rg_harness_credentials(body, sizeof body, email, pw);
    return call(s, from, "POST", "/auth/register", bearer, NULL, body, out);
}

/* Signs in; on 200 the access token goes to access (may be NULL). */
static long login(const struct rg_server *s, const char *from, const char *email, const char *pw,
                  char *access, size_t size, struct resp *out)
{
    struct resp tmp;
    if (!out) out = &tmp;
    char body[512];
    rg_harness_credentials(body, sizeof body, email, pw);
    long st = call(s, from, "POST", "/auth/login", NULL, NULL, body, out);
    if (st == 200 && access) {
        json_t *o = json_loads(out->body, 0, NULL);
        assert_non_null(o);
        snprintf(access, size, "%s", json_string_value(json_object_get(o, "access_token")));
        json_decref(o);
    }
    return st;
}

/* Sign-up then sign-in; returns the user id. */
static long long account(const struct rg_server *s, const char *email, const char *pw, char *access,
                         size_t size, struct resp *session)
{
    struct resp r;
    /* 202 accepted; the 201 of older servers (which signed in at once) is let
     * through here so that the attacks below, not this set-up, decide */
    long st = reg(s, NULL, NULL, email, pw, &r);
    if (st != 202 && st != 201) fail_msg("register %s: %ld %s", email, st, r.body);
    struct resp tmp;
    if (!session) session = &tmp;
    if (login(s, NULL, email, pw, access, size, session) != 200)
        fail_msg("login %s: %ld %s", email, session->status, session->body);
    json_t *o = json_loads(session->body, 0, NULL);
    long long id = json_integer_value(json_object_get(json_object_get(o, "user"), "id"));
    json_decref(o);
    return id;
}

static void patch_user(const struct rg_server *s, const char *admin, long long id, const char *body,
                       long want, const char *want_text)
{
    char path[64];
    snprintf(path, sizeof path, "/admin/users/%lld", id);
    struct resp r;
    long st = call(s, NULL, "PATCH", path, admin, NULL, body, &r);
    if (st != want) fail_msg("PATCH %s %s: %ld %s", path, body, st, r.body);
    if (want_text && !strstr(r.body, want_text))
        fail_msg("PATCH %s: '%s' not in %s", path, want_text, r.body);
}

/* ---- break 2: role and account changes reach live tokens -------------------- */

static void test_demoted_admin_token(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL);
    char root[1024], mallory[1024];
    long long root_id = account(&srv, "root@example.com", PW_ADMIN, root, sizeof root, NULL);
    long long m_id = account(&srv, "mallory@example.com", PW_USER, mallory, sizeof mallory, NULL);
    patch_user(&srv, root, m_id, "{\"role\":\"admin\"}", 200, NULL);
    /* Mallory's token of before the promotion already has it: the current role counts */
    assert_int_equal(status(&srv, "GET", "/admin/users", mallory, NULL), 200);

    /* demoted to readonly: her live token loses admin and every write at once */
    patch_user(&srv, root, m_id, "{\"role\":\"readonly\"}", 200, NULL);
    assert_int_equal(status(&srv, "GET", "/admin/users", mallory, NULL), 403);
    assert_int_equal(status(&srv, "POST", "/auth/api-keys", mallory, "{\"name\":\"x\"}"), 403);
    char path[64];
    snprintf(path, sizeof path, "/admin/users/%lld", m_id);
    assert_int_equal(status(&srv, "PATCH", path, mallory, "{\"role\":\"admin\"}"), 403);
    snprintf(path, sizeof path, "/admin/users/%lld", root_id);
    assert_int_equal(status(&srv, "PATCH", path, mallory, "{\"disabled\":true}"), 403);
    assert_int_equal(status(&srv, "GET", "/auth/me", mallory, NULL), 200); /* still signed in */

    /* promoted again, then disabled: her token is refused everywhere */
    patch_user(&srv, root, m_id, "{\"role\":\"admin\"}", 200, NULL);
    assert_int_equal(status(&srv, "GET", "/admin/users", mallory, NULL), 200);
    patch_user(&srv, root, m_id, "{\"disabled\":true}", 200, NULL);
    assert_int_equal(status(&srv, "GET", "/admin/users", mallory, NULL), 401);
    assert_int_equal(status(&srv, "POST", "/auth/api-keys", mallory, "{\"name\":\"x\"}"), 401);
    assert_int_equal(status(&srv, "GET", "/auth/me", mallory, NULL), 401);
    /* enabling the account again does not bring back the revoked session */
    patch_user(&srv, root, m_id, "{\"disabled\":false}", 200, NULL);
    assert_int_equal(status(&srv, "GET", "/auth/me", mallory, NULL), 401);
    /* the real admin is untouched */
    assert_int_equal(status(&srv, "GET", "/admin/users", root, NULL), 200);
    stop(&srv);
}

static void test_logout_revokes_access_token(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL);
    char a[1024], b[1024];
    struct resp sa, sb;
    account(&srv, "alice@example.com", PW_ADMIN, a, sizeof a, &sa);
    /* a second sign-in of the same account (another device) */
    assert_int_equal(login(&srv, NULL, "alice@example.com", PW_ADMIN, b, sizeof b, &sb), 200);
    assert_int_equal(status(&srv, "GET", "/auth/me", a, NULL), 200);
    struct resp r;
    assert_int_equal(call(&srv, NULL, "POST", "/auth/logout", NULL, &sa, NULL, &r), 204);
    assert_int_equal(status(&srv, "GET", "/auth/me", a, NULL), 401);
    assert_int_equal(status(&srv, "POST", "/auth/api-keys", a, "{\"name\":\"x\"}"), 401);
    /* the other device's sign-in lives on */
    assert_int_equal(status(&srv, "GET", "/auth/me", b, NULL), 200);
    /* a refresh-token reuse ends that family's access tokens too */
    struct resp fresh;
    assert_int_equal(call(&srv, NULL, "POST", "/auth/refresh", NULL, &sb, NULL, &fresh), 200);
    assert_int_equal(call(&srv, NULL, "POST", "/auth/refresh", NULL, &sb, NULL, &r), 401);
    assert_int_equal(status(&srv, "GET", "/auth/me", b, NULL), 401);
    stop(&srv);
}

static void test_last_admin_stays(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL);
    char a[1024], u[1024];
    long long a_id = account(&srv, "admin@example.com", PW_ADMIN, a, sizeof a, NULL);
    long long u_id = account(&srv, "user@example.com", PW_USER, u, sizeof u, NULL);
    patch_user(&srv, a, a_id, "{\"role\":\"user\"}", 409, "last enabled admin");
    patch_user(&srv, a, a_id, "{\"disabled\":true}", 409, "last enabled admin");
    assert_int_equal(status(&srv, "GET", "/admin/users", a, NULL), 200);
    /* with a second admin, the first may step down */
    patch_user(&srv, a, u_id, "{\"role\":\"admin\"}", 200, NULL);
    patch_user(&srv, a, a_id, "{\"role\":\"user\"}", 200, NULL);
    assert_int_equal(status(&srv, "GET", "/admin/users", a, NULL), 403);
    patch_user(&srv, u, u_id, "{\"disabled\":true}", 409, "last enabled admin");
    stop(&srv);
}

/* ---- break 4: --api-key closes sign-up and the info routes ------------------ */

static void test_api_key_closes_signup(void **state)
{
    (void)state;
    struct rg_server srv;
    const char *keyed[] = {"--api-key", "operator-key", NULL};
    start(&srv, keyed);
    struct resp r;
    /* no key: no account, not even the first (which would be the admin) */
    assert_int_equal(reg(&srv, NULL, NULL, "eve@example.com", PW_USER, &r), 403);
    assert_int_equal(login(&srv, NULL, "eve@example.com", PW_USER, NULL, 0, NULL), 401);
    /* the info routes follow /v1: the key or nothing */
    static const char *const info[] = {"/status", "/metrics", "/openapi.json"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(status(&srv, "GET", info[i], NULL, NULL), 401);
        assert_int_equal(status(&srv, "GET", info[i], "wrong-key", NULL), 401);
        assert_int_equal(status(&srv, "GET", info[i], "operator-key", NULL), 200);
    }
    assert_int_equal(status(&srv, "GET", "/healthz", NULL, NULL), 200); /* probes stay open */
    /* the key holder makes the first admin */
    assert_int_equal(reg(&srv, NULL, "operator-key", "root@example.com", PW_ADMIN, &r), 202);
    char root[1024];
    assert_int_equal(login(&srv, NULL, "root@example.com", PW_ADMIN, root, sizeof root, &r), 200);
    assert_non_null(strstr(r.body, "\"role\":\"admin\""));
    assert_int_equal(status(&srv, "GET", "/status", root, NULL), 200); /* an account passes too */
    /* later sign-ups stay closed, with or without the key */
    assert_int_equal(reg(&srv, NULL, NULL, "eve@example.com", PW_USER, &r), 403);
    assert_int_equal(reg(&srv, NULL, "operator-key", "eve@example.com", PW_USER, &r), 403);
    assert_int_equal(login(&srv, NULL, "eve@example.com", PW_USER, NULL, 0, NULL), 401);
    stop(&srv);

    /* --public-info keeps the info routes open; --signup open opens sign-up */
    const char *open_info[] = {"--api-key", "operator-key", "--public-info",
                               "--signup",  "open",         NULL};
    start(&srv, open_info);
    assert_int_equal(status(&srv, "GET", "/status", NULL, NULL), 200);
    assert_int_equal(status(&srv, "GET", "/openapi.json", NULL, NULL), 200);
    assert_int_equal(status(&srv, "GET", "/v1/models", NULL, NULL), 401);
    assert_int_equal(reg(&srv, NULL, NULL, "first@example.com", PW_ADMIN, &r), 202);
    assert_int_equal(login(&srv, NULL, "first@example.com", PW_ADMIN, NULL, 0, NULL), 200);
    stop(&srv);
}

/* ---- break 8: sign-up floods, enumeration, lockout abuse ------------------ */

static void test_signup_rate_limit(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL); /* the default: 20 sign-ups per address per hour */
    struct resp r;
    int accepted = 0;
    long last = 0;
    for (int i = 0; i < 25; i++) {
        char email[64];
        snprintf(email, sizeof email, "flood%d@example.com", i);
        last = reg(&srv, NULL, NULL, email, PW_USER, &r);
        if (last == 202) accepted++;
        if (last != 202) break;
    }
    assert_int_equal(accepted, 20);
    assert_int_equal(last, 429);
    assert_true(r.retry_after[0] != '\0');
    assert_true(atoi(r.retry_after) > 0 && atoi(r.retry_after) <= 3600);
    /* nothing was made by the refused one */
    assert_int_equal(login(&srv, NULL, "flood20@example.com", PW_USER, NULL, 0, NULL), 401);
    /* another address has its own allowance */
    assert_int_equal(reg(&srv, "127.0.0.2", NULL, "other@example.com", PW_USER, &r), 202);
    stop(&srv);

    const char *tight[] = {"--signup-rate", "2", NULL};
    start(&srv, tight);
    assert_int_equal(reg(&srv, NULL, NULL, "a@example.com", PW_USER, &r), 202);
    assert_int_equal(reg(&srv, NULL, NULL, "b@example.com", "bad", &r), 400); /* counts too */
    assert_int_equal(reg(&srv, NULL, NULL, "c@example.com", PW_USER, &r), 429);
    stop(&srv);
}

static void test_signup_does_not_reveal_accounts(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL);
    char a[1024];
    account(&srv, "alice@example.com", PW_ADMIN, a, sizeof a, NULL);
    struct resp fresh, taken;
    assert_int_equal(reg(&srv, NULL, NULL, "newcomer@example.com", PW_USER, &fresh), 202);
    assert_int_equal(reg(&srv, NULL, NULL, "ALICE@example.com", PW_USER, &taken), 202);
    assert_int_equal(fresh.len, taken.len);
    assert_string_equal(fresh.body, taken.body);
    assert_null(strstr(taken.body, "access_token"));
    /* the taken account is unchanged: its password still works, the new one does not */
    assert_int_equal(login(&srv, NULL, "alice@example.com", PW_ADMIN, NULL, 0, NULL), 200);
    assert_int_equal(login(&srv, NULL, "alice@example.com", PW_USER, NULL, 0, NULL), 401);
    assert_int_equal(login(&srv, NULL, "newcomer@example.com", PW_USER, NULL, 0, NULL), 200);
    stop(&srv);
}

static void test_lockout_is_per_address(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv, NULL);
    char a[1024];
    account(&srv, "victim@example.com", PW_ADMIN, a, sizeof a, NULL);
    /* the attacker, from 127.0.0.2, guesses */
    struct resp r;
    for (int i = 0; i < 5; i++)
        assert_int_equal(
            login(&srv, "127.0.0.2", "victim@example.com", "wrong guess!", NULL, 0, &r), 401);
    /* then waits: a short back-off, not a fixed lock of 900 s ... */
    assert_int_equal(login(&srv, "127.0.0.2", "victim@example.com", PW_ADMIN, NULL, 0, &r), 429);
    int first = atoi(r.retry_after);
    assert_true(first >= 1 && first <= 5);
    /* ... which doubles as it keeps trying */
    assert_int_equal(login(&srv, "127.0.0.2", "victim@example.com", "wrong guess!", NULL, 0, &r),
                     429);
    int second = atoi(r.retry_after);
    assert_true(second > first);
    assert_true(second <= 10);
    /* the victim, from their own address, signs in all the while */
    assert_int_equal(login(&srv, NULL, "victim@example.com", PW_ADMIN, NULL, 0, &r), 200);
    /* and their success does not forgive the attacker's failures */
    assert_int_equal(login(&srv, "127.0.0.2", "victim@example.com", PW_ADMIN, NULL, 0, &r), 429);
    stop(&srv);
}

/* ---- break 9: simultaneous sign-ups on an empty database ------------------ */

struct racer {
    const struct rg_server *srv;
    int i;
    long st;
    pthread_barrier_t *go;
};

static void *race_one(void *arg)
{
    struct racer *r = arg;
    char email[64];
    snprintf(email, sizeof email, "racer%d@example.com", r->i);
    struct resp out;
    pthread_barrier_wait(r->go);
    r->st = reg(r->srv, NULL, NULL, email, PW_USER, &out);
    return NULL;
}

/* 12 sign-ups at once; then who can sign in: *ok signed in, *waiting pending. */
static void race_round(const char *policy, int *ok, int *waiting)
{
    enum { N = 12 };
    struct rg_server srv;
    const char *args[] = {"--signup", policy, NULL};
    start(&srv, args);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    pthread_t t[N];
    struct racer r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct racer){.srv = &srv, .i = i, .go = &go};
        pthread_create(&t[i], NULL, race_one, &r[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_true(r[i].st == 202 || r[i].st == 403 || r[i].st == 201); /* 201: older servers */
    }
    pthread_barrier_destroy(&go);
    *ok = *waiting = 0;
    for (int i = 0; i < N; i++) {
        char email[64];
        snprintf(email, sizeof email, "racer%d@example.com", i);
        long st = login(&srv, NULL, email, PW_USER, NULL, 0, NULL);
        if (st == 200) (*ok)++;
        if (st == 403) (*waiting)++;
    }
    stop(&srv);
}

static void test_signup_race(void **state)
{
    (void)state;
    for (int run = 0; run < 3; run++) {
        int ok, waiting;
        race_round("closed", &ok, &waiting);
        assert_int_equal(ok, 1); /* the first admin, and nobody else */
        assert_int_equal(waiting, 0);
        race_round("approval", &ok, &waiting);
        assert_int_equal(ok, 1); /* only the first admin skips approval */
        assert_int_equal(waiting, 11);
    }
}

#define TESTS                                                                                      \
    cmocka_unit_test(test_demoted_admin_token),                                                    \
        cmocka_unit_test(test_logout_revokes_access_token),                                        \
        cmocka_unit_test(test_last_admin_stays), cmocka_unit_test(test_api_key_closes_signup),     \
        cmocka_unit_test(test_signup_rate_limit),                                                  \
        cmocka_unit_test(test_signup_does_not_reveal_accounts),                                    \
        cmocka_unit_test(test_lockout_is_per_address), cmocka_unit_test(test_signup_race)

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {TESTS};
    int failed = cmocka_run_group_tests_name("auth_attack/sqlite", tests, NULL, NULL);
    int pg = rg_harness_pg_pass("auth_attack");
    if (pg <= 0) {
        curl_global_cleanup();
        return failed + (pg < 0 ? 1 : 0);
    }
    const struct CMUnitTest pg_tests[] = {TESTS};
    failed += cmocka_run_group_tests_name("auth_attack/postgres", pg_tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
