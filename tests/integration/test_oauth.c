/*
 * Sign in with GitHub and with Apple, end to end: the real server, its real
 * provider code, and a local stand-in of both providers (oauth_standin.c)
 * whose endpoints the server is configured with. Covers account creation,
 * signing in again, linking to a signed-in account, an email that belongs to
 * another account, a bad state, a forged state cookie, and Apple id_tokens
 * with a bad signature, a wrong audience, issuer or nonce, or expired.
 */
#include "test.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include "integration/harness.h"
#include "integration/oauth_standin.h"

static struct rg_standin *g_si;
static struct rg_server g_srv;
static char g_dir[128], g_keyfile[200];

/* ---- a browser, by hand ---- */

struct hop {
    long status;
    char location[4100];
    char cookie[4100]; /* value of rg_oauth set by the reply */
    char *body;
};

static size_t on_hdr(char *p, size_t size, size_t n, void *ud)
{
    struct hop *h = ud;
    size_t len = size * n;
    char line[4096];
    if (len >= sizeof line) return len;
    memcpy(line, p, len);
    line[len] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (!strncasecmp(line, "location: ", 10))
        snprintf(h->location, sizeof h->location, "%s", line + 10);
    if (!strncasecmp(line, "set-cookie: rg_oauth=", 21)) {
        char *v = line + 21;
        v[strcspn(v, ";")] = '\0';
        snprintf(h->cookie, sizeof h->cookie, "%s", v);
    }
    return len;
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct hop *h = ud;
    size_t old = h->body ? strlen(h->body) : 0;
    h->body = realloc(h->body, old + size * n + 1);
    memcpy(h->body + old, p, size * n);
    h->body[old + size * n] = '\0';
    return size * n;
}

/* One request, no redirects followed; a POST of form when it is given. */
static void request(const char *url, const char *cookie, const char *bearer, const char *form,
                    struct hop *h)
{
    memset(h, 0, sizeof *h);
    CURL *c = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Accept: application/json");
    char b[2200];
    if (bearer) {
        snprintf(b, sizeof b, "Authorization: Bearer %s", bearer);
        hd = curl_slist_append(hd, b);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    if (cookie) curl_easy_setopt(c, CURLOPT_COOKIE, cookie);
    if (form) curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_hdr);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    if (!h->body) h->body = strdup("");
}

static void get(const char *url, const char *cookie, const char *bearer, struct hop *h)
{
    request(url, cookie, bearer, NULL, h);
}

/*
 * start → provider → callback. mangle: 0 as a browser would, 1 a wrong
 * state, 2 no cookie, 3 a forged cookie. Returns the callback's status and
 * body (caller frees).
 */
static long sign_in(const char *provider, const char *bearer, int mangle, char **body)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/auth/oauth/%s/start", g_srv.port, provider);
    struct hop start, prov, cb;
    get(url, NULL, bearer, &start);
    assert_int_equal(start.status, 302);
    assert_true(start.cookie[0]);
    assert_non_null(strstr(start.location, "code_challenge_method=S256"));
    get(start.location, NULL, NULL, &prov);
    assert_int_equal(prov.status, 302);
    char *cbu = prov.location;
    assert_non_null(strstr(cbu, "/auth/oauth/"));
    char fixed[4200];
    if (mangle == 1) { /* a state that is not ours */
        char *st = strstr(cbu, "state=");
        assert_non_null(st);
        snprintf(fixed, sizeof fixed, "%.*sstate=AAAAforgedAAAAforgedAAAAforgedAAAAforgedAAA",
                 (int)(st - cbu), cbu);
        cbu = fixed;
    }
    char cookie[4200];
    snprintf(cookie, sizeof cookie, "rg_oauth=%s", start.cookie);
    if (mangle == 3) { /* flip one character of the signed payload */
        cookie[10] = cookie[10] == 'A' ? 'B' : 'A';
    }
    get(cbu, mangle == 2 ? NULL : cookie, NULL, &cb);
    free(start.body);
    free(prov.body);
    *body = cb.body;
    return cb.status;
}

static json_t *user_of(const char *body)
{
    json_t *o = json_loads(body, 0, NULL);
    assert_non_null(o);
    json_t *u = json_incref(json_object_get(o, "user"));
    json_decref(o);
    assert_non_null(u);
    return u;
}

/* ---- fixture: one stand-in and one server for the whole file ---- */

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/rg_oauth_%d", (int)getpid());
    mkdir(g_dir, 0700);
    /* the server's Sign in with Apple key (ES256), made here */
    EVP_PKEY *k = EVP_EC_gen("P-256");
    snprintf(g_keyfile, sizeof g_keyfile, "%s/apple-key.pem", g_dir);
    FILE *f = fopen(g_keyfile, "w");
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, k);
    char *pub = NULL;
    long pl = BIO_get_mem_data(bio, &pub);
    char *pubz = strndup(pub, (size_t)pl);
    BIO_free(bio);
    EVP_PKEY_free(k);
    struct rg_standin_opts o = {.github_client_id = "gh-client",
                                .github_client_secret = "gh-secret",
                                .apple_client_id = "com.example.rustygpt",
                                .apple_team_id = "TEAM123456",
                                .apple_key_id = "KEY123",
                                .apple_issuer = "https://appleid.example.test",
                                .apple_client_pub_pem = pubz,
                                .email = "octo@example.com",
                                .name = "Octo Cat"};
    g_si = rg_standin_start(&o);
    free(pubz);
    if (!g_si) return -1;
    int p = rg_standin_port(g_si);
    char gh_auth[128], gh_tok[128], gh_api[128], ap_auth[128], ap_tok[128], ap_keys[128];
    snprintf(gh_auth, sizeof gh_auth, "http://127.0.0.1:%d/github/authorize", p);
    snprintf(gh_tok, sizeof gh_tok, "http://127.0.0.1:%d/github/token", p);
    snprintf(gh_api, sizeof gh_api, "http://127.0.0.1:%d/github/api", p);
    snprintf(ap_auth, sizeof ap_auth, "http://127.0.0.1:%d/apple/authorize", p);
    snprintf(ap_tok, sizeof ap_tok, "http://127.0.0.1:%d/apple/token", p);
    snprintf(ap_keys, sizeof ap_keys, "http://127.0.0.1:%d/apple/keys", p);
    const char *args[] = {"--github-client-id",
                          "gh-client",
                          "--github-client-secret",
                          "gh-secret",
                          "--github-authorize-url",
                          gh_auth,
                          "--github-token-url",
                          gh_tok,
                          "--github-api-url",
                          gh_api,
                          "--apple-client-id",
                          "com.example.rustygpt",
                          "--apple-team-id",
                          "TEAM123456",
                          "--apple-key-id",
                          "KEY123",
                          "--apple-private-key",
                          g_keyfile,
                          "--apple-authorize-url",
                          ap_auth,
                          "--apple-token-url",
                          ap_tok,
                          "--apple-keys-url",
                          ap_keys,
                          "--apple-issuer",
                          "https://appleid.example.test",
                          NULL};
    return rg_server_start(&g_srv, args, NULL);
}

static int teardown(void **state)
{
    (void)state;
    int rc = rg_server_stop(&g_srv);
    rg_standin_stop(g_si);
    unlink(g_keyfile);
    rmdir(g_dir);
    return rc == 0 ? 0 : -1;
}

/* ---- tests (in order: the first sign-in makes the first account) ---- */

static void test_github(void **state)
{
    (void)state;
    char *body = NULL;
    long st = sign_in("github", NULL, 0, &body);
    if (st != 200) fail_msg("github sign-in: %ld %s", st, body);
    json_t *u = user_of(body);
    assert_string_equal(json_string_value(json_object_get(u, "email")), "octo@example.com");
    assert_string_equal(json_string_value(json_object_get(u, "name")), "Octo Cat");
    assert_string_equal(json_string_value(json_object_get(u, "role")), "admin"); /* first */
    long long id = json_integer_value(json_object_get(u, "id"));
    json_decref(u);
    /* the access token works */
    json_t *o = json_loads(body, 0, NULL);
    char tok[2048];
    snprintf(tok, sizeof tok, "%s", json_string_value(json_object_get(o, "access_token")));
    json_decref(o);
    free(body);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/auth/me", g_srv.port);
    struct hop me;
    get(url, NULL, tok, &me);
    assert_int_equal(me.status, 200);
    assert_non_null(strstr(me.body, "octo@example.com"));
    free(me.body);
    /* again: the same account, not a new one */
    assert_int_equal(sign_in("github", NULL, 0, &body), 200);
    u = user_of(body);
    assert_int_equal(json_integer_value(json_object_get(u, "id")), id);
    json_decref(u);
    free(body);
}

static void test_github_refusals(void **state)
{
    (void)state;
    char *body = NULL;
    assert_int_equal(sign_in("github", NULL, 1, &body), 401); /* bad state */
    assert_non_null(strstr(body, "state"));
    free(body);
    assert_int_equal(sign_in("github", NULL, 2, &body), 401); /* no cookie */
    free(body);
    assert_int_equal(sign_in("github", NULL, 3, &body), 401); /* forged cookie */
    free(body);
    /* an unknown provider */
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/auth/oauth/myspace/start", g_srv.port);
    struct hop h;
    get(url, NULL, NULL, &h);
    assert_int_equal(h.status, 404);
    free(h.body);
    /* a code replayed at the callback: the stand-in refuses it, so do we */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/auth/oauth/github/start", g_srv.port);
    struct hop s1, p1, c1, c2;
    get(url, NULL, NULL, &s1);
    get(s1.location, NULL, NULL, &p1);
    char cookie[4200];
    snprintf(cookie, sizeof cookie, "rg_oauth=%s", s1.cookie);
    get(p1.location, cookie, NULL, &c1);
    assert_int_equal(c1.status, 200);
    int before = rg_standin_refusals(g_si);
    get(p1.location, cookie, NULL, &c2);
    assert_int_equal(c2.status, 401);
    assert_int_equal(rg_standin_refusals(g_si), before + 1);
    free(s1.body), free(p1.body), free(c1.body), free(c2.body);
}

static void test_apple_email_taken(void **state)
{
    (void)state;
    /* octo@example.com belongs to the GitHub-made account: Apple, with the
     * same email and no link, must not take it over */
    char *body = NULL;
    assert_int_equal(sign_in("apple", NULL, 0, &body), 409);
    assert_non_null(strstr(body, "sign in"));
    free(body);
}

static void test_apple_link_and_faults(void **state)
{
    (void)state;
    /* signed in with GitHub, link Apple to the same account */
    char *body = NULL;
    assert_int_equal(sign_in("github", NULL, 0, &body), 200);
    json_t *o = json_loads(body, 0, NULL);
    char tok[2048];
    snprintf(tok, sizeof tok, "%s", json_string_value(json_object_get(o, "access_token")));
    long long id = json_integer_value(json_object_get(json_object_get(o, "user"), "id"));
    json_decref(o);
    free(body);

    static const struct {
        enum rg_standin_fault f;
        const char *says;
    } faults[] = {
        {RG_FAULT_BAD_SIGNATURE, "signature"}, {RG_FAULT_WRONG_AUD, "audience"},
        {RG_FAULT_WRONG_ISS, "issuer"},        {RG_FAULT_EXPIRED, "expired"},
        {RG_FAULT_WRONG_NONCE, "nonce"},
    };
    for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) {
        rg_standin_set_fault(g_si, faults[i].f);
        long st = sign_in("apple", tok, 0, &body);
        if (st != 401 || !strstr(body, faults[i].says))
            fail_msg("fault %d: %ld %s", (int)faults[i].f, st, body);
        free(body);
    }
    rg_standin_set_fault(g_si, RG_FAULT_NONE);
    long st = sign_in("apple", tok, 0, &body);
    if (st != 200) fail_msg("apple link: %ld %s", st, body);
    json_t *u = user_of(body);
    assert_int_equal(json_integer_value(json_object_get(u, "id")), id);
    json_decref(u);
    free(body);
    /* Apple's real answer is a form POST to the callback: the same flow that way */
    char url[256], cookie[4200], form[4200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/auth/oauth/apple/start", g_srv.port);
    struct hop s1, p1, c1;
    get(url, NULL, NULL, &s1);
    get(s1.location, NULL, NULL, &p1);
    char *q = strchr(p1.location, '?');
    assert_non_null(q);
    snprintf(form, sizeof form, "%s", q + 1); /* code=...&state=... */
    *q = '\0';
    snprintf(cookie, sizeof cookie, "rg_oauth=%s", s1.cookie);
    request(p1.location, cookie, NULL, form, &c1);
    if (c1.status != 200) fail_msg("form_post callback: %ld %s", c1.status, c1.body);
    assert_non_null(strstr(c1.body, "access_token"));
    free(s1.body), free(p1.body), free(c1.body);
    /* from now on Apple alone signs in to that account */
    assert_int_equal(sign_in("apple", NULL, 0, &body), 200);
    u = user_of(body);
    assert_int_equal(json_integer_value(json_object_get(u, "id")), id);
    json_decref(u);
    free(body);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_github),
        cmocka_unit_test(test_github_refusals),
        cmocka_unit_test(test_apple_email_taken),
        cmocka_unit_test(test_apple_link_and_faults),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
