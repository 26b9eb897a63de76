/*
 * The memory module through the API (docs/memory.md) against the real
 * server: memory settings (defaults, changes, bad input refused and
 * nothing stored), thinking styles (built in and custom, a built-in one
 * never changed), the glossary (CRUD, a duplicate term without case is
 * 409, another user's entry 404, readonly 403), ratings and assumption
 * flags (saved, in the conversation, exported as JSON and CSV, carried by
 * a conversation's export and import, the admin summary per model), and
 * the conversation type (by hand, the list filter, the classification job
 * through the model under a JSON schema and through the embedding
 * fallback).
 *
 * Runs on SQLite, then again on PostgreSQL when one is reachable (PGHOST
 * set, as under pg_virtualenv; RG_REQUIRE_PG=1 makes its absence a failure).
 */
#include "test.h"

#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "integration/harness_auth.h"

/* ---- helpers (as tests/integration/test_conversations.c) ---------------------- */

static void start_with(struct rg_server *s, const char *const *extra)
{
    rg_harness_start(s, "rg_mem", extra, NULL);
}

static void start(struct rg_server *s)
{
    start_with(s, NULL);
}

static void stop(struct rg_server *s)
{
    rg_harness_stop(s);
}

static long req(struct rg_server *s, const char *method, const char *path, const char *bearer,
                const char *body, struct rg_resp *out)
{
    char auth[1200];
    const char *hdrs[4];
    int n = 0;
    hdrs[n++] = "Content-Type: application/json";
    hdrs[n++] = "Accept: application/json";
    if (bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        hdrs[n++] = auth;
    }
    hdrs[n] = NULL;
    memset(out, 0, sizeof *out);
    assert_int_equal(rg_http(s, method, path, hdrs, body, body ? strlen(body) : 0, out), 0);
    return out->status;
}

static json_t *call(struct rg_server *s, const char *method, const char *path, const char *bearer,
                    const char *body, long want)
{
    struct rg_resp r;
    long st = req(s, method, path, bearer, body, &r);
    if (st != want)
        fail_msg("%s %s: %ld (wanted %ld) %.*s", method, path, st, want, (int)r.len, r.body);
    if (want == 204) {
        assert_int_equal(r.len, 0);
        rg_resp_free(&r);
        return NULL;
    }
    json_t *o = json_loadb(r.body, r.len, 0, NULL);
    if (!o) fail_msg("%s %s: not JSON: %.*s", method, path, (int)r.len, r.body);
    rg_resp_free(&r);
    return o;
}

/* The status of a request; an error reply must be an error object, and its
 * code (may be NULL) goes to code. */
static long status_code(struct rg_server *s, const char *method, const char *path,
                        const char *bearer, const char *body, char *code, size_t size)
{
    struct rg_resp r;
    long st = req(s, method, path, bearer, body, &r);
    if (code) code[0] = '\0';
    if (st >= 400) {
        json_t *o = json_loadb(r.body, r.len, 0, NULL);
        json_t *e = json_object_get(o, "error");
        if (!json_is_object(e)) fail_msg("%s %s: %ld without an error body", method, path, st);
        if (code && json_is_string(json_object_get(e, "code")))
            snprintf(code, size, "%s", json_string_value(json_object_get(e, "code")));
        json_decref(o);
    }
    rg_resp_free(&r);
    return st;
}

static long status_of(struct rg_server *s, const char *method, const char *path, const char *bearer,
                      const char *body)
{
    return status_code(s, method, path, bearer, body, NULL, 0);
}

static const char *login(struct rg_server *s, const char *email, int slot)
{
    static char tokens[6][1024];
    char body[256];
    rg_harness_credentials(body, sizeof body, email, "correct horse battery");
    json_t *o = call(s, "POST", "/auth/login", NULL, body, 200);
    snprintf(tokens[slot], sizeof tokens[slot], "%s",
             json_string_value(json_object_get(o, "access_token")));
    json_decref(o);
    assert_true(strlen(tokens[slot]) > 20);
    return tokens[slot];
}

static const char *signup(struct rg_server *s, const char *email, int slot)
{
    char body[256];
    rg_harness_credentials(body, sizeof body, email, "correct horse battery");
    json_decref(call(s, "POST", "/auth/register", NULL, body, 202));
    return login(s, email, slot);
}

static long long me(struct rg_server *s, const char *tok)
{
    json_t *o = call(s, "GET", "/auth/me", tok, NULL, 200);
    long long id = json_integer_value(json_object_get(o, "id"));
    json_decref(o);
    return id;
}

/* u made readonly by admin; the new token. */
static const char *make_readonly(struct rg_server *s, const char *admin, const char *u,
                                 const char *email, int slot)
{
    char path[96];
    snprintf(path, sizeof path, "/admin/users/%lld", me(s, u));
    json_decref(call(s, "PATCH", path, admin, "{\"role\":\"readonly\"}", 200));
    return login(s, email, slot);
}

static long long jint(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) fail_msg("'%s' is not an integer", key);
    return json_integer_value(v);
}

static const char *jstr(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) fail_msg("'%s' is not a string", key);
    return json_string_value(v);
}

/* ---- memory settings ------------------------------------------------------------- */

static void test_settings(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv);
    const char *admin = signup(&srv, "admin@example.com", 0);
    const char *a = signup(&srv, "a@example.com", 1);
    const char *b = signup(&srv, "b@example.com", 2);

    json_t *d = call(&srv, "GET", "/chat/memory", a, NULL, 200);
    json_t *want = json_loads(
        "{\"system\":\"\",\"sources\":{\"summaries\":true,\"prior\":false,\"glossary\":true,"
        "\"library\":true},\"auto_thread\":\"off\",\"auto_thread_distance\":0.6,"
        "\"summary_after\":20}",
        0, NULL);
    assert_true(json_equal(d, want));
    json_decref(d);

    json_t *o = call(&srv, "PUT", "/chat/memory", a,
                     "{\"system\":\"Answer in French.\",\"sources\":{\"prior\":true,"
                     "\"library\":false},\"auto_thread\":\"suggest\"}",
                     200);
    assert_string_equal(jstr(o, "system"), "Answer in French.");
    assert_true(json_is_true(json_object_get(json_object_get(o, "sources"), "prior")));
    assert_true(json_is_false(json_object_get(json_object_get(o, "sources"), "library")));
    assert_true(json_is_true(json_object_get(json_object_get(o, "sources"), "summaries")));
    assert_string_equal(jstr(o, "auto_thread"), "suggest");
    assert_int_equal(jint(o, "summary_after"), 20);
    json_decref(o);
    /* a second change keeps the first */
    o = call(&srv, "PUT", "/chat/memory", a, "{\"summary_after\":0,\"auto_thread_distance\":1.5}",
             200);
    json_t *g = call(&srv, "GET", "/chat/memory", a, NULL, 200);
    assert_true(json_equal(o, g));
    assert_string_equal(jstr(g, "system"), "Answer in French.");
    assert_int_equal(jint(g, "summary_after"), 0);
    assert_true(json_real_value(json_object_get(g, "auto_thread_distance")) == 1.5);
    json_decref(o);

    static const char *const bad[] = {
        "{\"auto_thread\":\"always\"}",
        "{\"auto_thread_distance\":0}",
        "{\"auto_thread_distance\":2.5}",
        "{\"auto_thread_distance\":\"1\"}",
        "{\"summary_after\":1001}",
        "{\"summary_after\":-1}",
        "{\"summary_after\":1.5}",
        "{\"sources\":{\"web\":true}}",
        "{\"sources\":{\"prior\":1}}",
        "{\"sources\":[]}",
        "{\"system\":5}",
        "{\"colour\":\"red\"}",
        "[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        long st = status_of(&srv, "PUT", "/chat/memory", a, bad[i]);
        if (st != 400) fail_msg("PUT /chat/memory %s: %ld", bad[i], st);
    }
    /* system at most 16 KiB */
    size_t big = 16 * 1024 + 1;
    char *body = malloc(big + 32);
    memcpy(body, "{\"system\":\"", 11);
    memset(body + 11, 'x', big);
    strcpy(body + 11 + big, "\"}");
    assert_int_equal(status_of(&srv, "PUT", "/chat/memory", a, body), 400);
    body[11 + big - 1] = '"';
    body[11 + big] = '}';
    body[11 + big + 1] = '\0';
    json_decref(call(&srv, "PUT", "/chat/memory", b, body, 200));
    free(body);
    /* nothing of the refused ones was stored */
    json_t *g2 = call(&srv, "GET", "/chat/memory", a, NULL, 200);
    assert_true(json_equal(g, g2));
    json_decref(g2);
    /* another user's settings are their own */
    json_t *gb = call(&srv, "GET", "/chat/memory", b, NULL, 200);
    assert_int_equal(strlen(jstr(gb, "system")), 16 * 1024);
    assert_string_equal(jstr(gb, "auto_thread"), "off");
    json_decref(gb);
    /* readonly reads, never writes */
    const char *ro = make_readonly(&srv, admin, a, "a@example.com", 3);
    json_t *g3 = call(&srv, "GET", "/chat/memory", ro, NULL, 200);
    assert_true(json_equal(g, g3));
    json_decref(g3);
    assert_int_equal(status_of(&srv, "PUT", "/chat/memory", ro, "{\"summary_after\":3}"), 403);
    assert_int_equal(status_of(&srv, "GET", "/chat/memory", NULL, NULL), 401);
    json_decref(g);
    json_decref(want);
    stop(&srv);
}

/* ---- styles ---------------------------------------------------------------------------- */

static void test_styles(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv);
    const char *admin = signup(&srv, "admin@example.com", 0);
    const char *a = signup(&srv, "a@example.com", 1);
    const char *b = signup(&srv, "b@example.com", 2);

    json_t *l = call(&srv, "GET", "/chat/styles", a, NULL, 200);
    json_t *d = json_object_get(l, "data");
    static const char *const ids[] = {"plain", "socratic", "devils-advocate", "chain-of-thought"};
    assert_int_equal(json_array_size(d), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *s = json_array_get(d, i);
        assert_string_equal(jstr(s, "id"), ids[i]);
        assert_true(json_is_true(json_object_get(s, "builtin")));
        assert_true(strlen(jstr(s, "name")) > 0);
        assert_true(strlen(jstr(s, "description")) > 10);
        if (i == 0)
            assert_string_equal(jstr(s, "prompt"), "");
        else
            assert_true(strlen(jstr(s, "prompt")) > 100);
    }
    json_t *soc = call(&srv, "GET", "/chat/styles/socratic", a, NULL, 200);
    assert_true(json_equal(soc, json_array_get(d, 1)));
    assert_non_null(strstr(jstr(soc, "prompt"), "question"));
    assert_string_equal(jstr(soc, "name"), "Socratic");

    /* a copy of a built-in one, changed */
    json_t *nb = json_pack("{s:s, s:s, s:s}", "name", "My Socratic", "description",
                           "fewer questions", "prompt", jstr(soc, "prompt"));
    char *nbs = json_dumps(nb, 0);
    json_t *c = call(&srv, "POST", "/chat/styles", a, nbs, 201);
    free(nbs);
    json_decref(nb);
    const char *cid = jstr(c, "id");
    assert_true(!strncmp(cid, "custom-", 7));
    assert_true(json_is_false(json_object_get(c, "builtin")));
    assert_string_equal(jstr(c, "prompt"), jstr(soc, "prompt"));
    char path[96];
    snprintf(path, sizeof path, "/chat/styles/%s", cid);
    json_t *p = call(&srv, "PATCH", path, a, "{\"prompt\":\"Ask one question.\\nOnly one.\"}", 200);
    assert_string_equal(jstr(p, "prompt"), "Ask one question.\nOnly one.");
    assert_string_equal(jstr(p, "name"), "My Socratic");
    assert_string_equal(jstr(p, "description"), "fewer questions");
    json_t *g = call(&srv, "GET", path, a, NULL, 200);
    assert_true(json_equal(g, p));
    json_decref(g);
    json_decref(p);
    json_decref(l);
    l = call(&srv, "GET", "/chat/styles", a, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(l, "data")), 5);
    assert_string_equal(jstr(json_array_get(json_object_get(l, "data"), 4), "id"), cid);
    json_decref(l);

    /* built-in ones are never changed */
    char code[64];
    assert_int_equal(status_code(&srv, "PATCH", "/chat/styles/socratic", a, "{\"name\":\"x\"}",
                                 code, sizeof code),
                     400);
    assert_string_equal(code, "builtin_style");
    assert_int_equal(status_code(&srv, "DELETE", "/chat/styles/plain", a, NULL, code, sizeof code),
                     400);
    assert_string_equal(code, "builtin_style");
    json_t *soc2 = call(&srv, "GET", "/chat/styles/socratic", a, NULL, 200);
    assert_true(json_equal(soc, soc2));
    json_decref(soc2);

    /* bad input */
    static const char *const bad[] = {"{\"name\":\"x\"}",
                                      "{\"prompt\":\"x\"}",
                                      "{\"name\":\"\",\"prompt\":\"x\"}",
                                      "{\"name\":\"a\\nb\",\"prompt\":\"x\"}",
                                      "{\"name\":\"x\",\"prompt\":\"y\",\"id\":\"z\"}",
                                      "{\"name\":7,\"prompt\":\"y\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (status_of(&srv, "POST", "/chat/styles", a, bad[i]) != 400) fail_msg("POST %s", bad[i]);
    assert_int_equal(status_of(&srv, "PATCH", path, a, "{\"prompt\":\"\"}"), 400);
    assert_int_equal(status_of(&srv, "GET", "/chat/styles/nope", a, NULL), 404);
    assert_int_equal(status_of(&srv, "GET", "/chat/styles/custom-0", a, NULL), 404);
    assert_int_equal(status_of(&srv, "GET", "/chat/styles/custom-99999", a, NULL), 404);

    /* another user's style is not there for b */
    assert_int_equal(status_of(&srv, "GET", path, b, NULL), 404);
    assert_int_equal(status_of(&srv, "PATCH", path, b, "{\"name\":\"mine\"}"), 404);
    assert_int_equal(status_of(&srv, "DELETE", path, b, NULL), 404);
    l = call(&srv, "GET", "/chat/styles", b, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(l, "data")), 4);
    json_decref(l);

    /* readonly */
    const char *ro = make_readonly(&srv, admin, a, "a@example.com", 3);
    json_decref(call(&srv, "GET", path, ro, NULL, 200));
    assert_int_equal(
        status_of(&srv, "POST", "/chat/styles", ro, "{\"name\":\"x\",\"prompt\":\"y\"}"), 403);
    assert_int_equal(status_of(&srv, "PATCH", path, ro, "{\"name\":\"x\"}"), 403);
    assert_int_equal(status_of(&srv, "DELETE", path, ro, NULL), 403);
    /* back to a user: delete */
    char upath[96];
    snprintf(upath, sizeof upath, "/admin/users/%lld", me(&srv, ro));
    json_decref(call(&srv, "PATCH", upath, admin, "{\"role\":\"user\"}", 200));
    a = login(&srv, "a@example.com", 1);
    call(&srv, "DELETE", path, a, NULL, 204);
    assert_int_equal(status_of(&srv, "GET", path, a, NULL), 404);
    assert_int_equal(status_of(&srv, "DELETE", path, a, NULL), 404);
    json_decref(c);
    json_decref(soc);
    stop(&srv);
}

/* ---- glossary ------------------------------------------------------------------------- */

static long long add_term(struct rg_server *s, const char *tok, const char *term, const char *def)
{
    json_t *b = json_pack("{s:s, s:s}", "term", term, "definition", def);
    char *txt = json_dumps(b, 0);
    json_t *o = call(s, "POST", "/chat/glossary", tok, txt, 201);
    assert_string_equal(jstr(o, "term"), term);
    assert_string_equal(jstr(o, "definition"), def);
    long long id = jint(o, "id");
    assert_true(jint(o, "created_at") > 0);
    json_decref(o);
    free(txt);
    json_decref(b);
    return id;
}

/* The terms of a glossary list, joined by '|'. */
static void terms_of(struct rg_server *s, const char *tok, const char *query, char *out,
                     size_t size)
{
    char path[256];
    snprintf(path, sizeof path, "/chat/glossary%s", query ? query : "");
    json_t *o = call(s, "GET", path, tok, NULL, 200);
    size_t i;
    json_t *e;
    out[0] = '\0';
    json_array_foreach(json_object_get(o, "data"), i, e)
    {
        if (i) strncat(out, "|", size - strlen(out) - 1);
        strncat(out, jstr(e, "term"), size - strlen(out) - 1);
    }
    json_decref(o);
}

static void test_glossary(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv);
    const char *admin = signup(&srv, "admin@example.com", 0);
    const char *a = signup(&srv, "a@example.com", 1);
    const char *b = signup(&srv, "b@example.com", 2);

    long long raii = add_term(&srv, a, "RAII", "Resource acquisition is initialization.");
    add_term(&srv, a, "Übergröße", "Oversize, in German.\nTwo lines.");
    add_term(&srv, a, "borrow checker", "Rust's compile-time check of references.");
    char got[512];
    terms_of(&srv, a, NULL, got, sizeof got);
    assert_string_equal(got, "borrow checker|RAII|Übergröße");
    terms_of(&srv, a, "?q=ra", got, sizeof got);
    assert_string_equal(got, "RAII");
    terms_of(&srv, a, "?q=%C3%9Cber", got, sizeof got); /* Über */
    assert_string_equal(got, "Übergröße");
    terms_of(&srv, a, "?q=%C3%BCBER", got, sizeof got); /* übER: without case */
    assert_string_equal(got, "Übergröße");
    terms_of(&srv, a, "?q=zzz", got, sizeof got);
    assert_string_equal(got, "");

    /* a duplicate without case is 409 exists */
    char code[64];
    assert_int_equal(status_code(&srv, "POST", "/chat/glossary", a,
                                 "{\"term\":\"raii\",\"definition\":\"again\"}", code, sizeof code),
                     409);
    assert_string_equal(code, "exists");
    assert_int_equal(status_code(&srv, "POST", "/chat/glossary", a,
                                 "{\"term\":\"übergröße\",\"definition\":\"again\"}", code,
                                 sizeof code),
                     409);
    /* b may have the same term */
    long long b_raii = add_term(&srv, b, "raii", "b's own");

    char path[96];
    snprintf(path, sizeof path, "/chat/glossary/%lld", raii);
    json_t *p = call(&srv, "PATCH", path, a, "{\"definition\":\"Scope-bound resources.\"}", 200);
    assert_string_equal(jstr(p, "term"), "RAII");
    assert_string_equal(jstr(p, "definition"), "Scope-bound resources.");
    json_decref(p);
    /* renaming onto another term is 409 */
    assert_int_equal(
        status_code(&srv, "PATCH", path, a, "{\"term\":\"Borrow Checker\"}", code, sizeof code),
        409);
    p = call(&srv, "PATCH", path, a, "{\"term\":\"Raii\"}", 200);
    assert_string_equal(jstr(p, "term"), "Raii");
    json_decref(p);

    /* bad input */
    static const char *const bad[] = {
        "{\"term\":\"x\"}",
        "{\"definition\":\"x\"}",
        "{\"term\":\"\",\"definition\":\"x\"}",
        "{\"term\":\"   \",\"definition\":\"x\"}",
        "{\"term\":\"a\\nb\",\"definition\":\"x\"}",
        "{\"term\":\"x\",\"definition\":\"y\",\"id\":3}",
        "{\"term\":[],\"definition\":\"y\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (status_of(&srv, "POST", "/chat/glossary", a, bad[i]) != 400)
            fail_msg("POST %s", bad[i]);
    char big[4100];
    memset(big, 'd', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    json_t *bb = json_pack("{s:s, s:s}", "term", "long", "definition", big);
    char *bbs = json_dumps(bb, 0);
    assert_int_equal(status_of(&srv, "POST", "/chat/glossary", a, bbs), 400);
    free(bbs);
    json_decref(bb);
    char longterm[202];
    memset(longterm, 't', 201);
    longterm[201] = '\0';
    bb = json_pack("{s:s, s:s}", "term", longterm, "definition", "x");
    bbs = json_dumps(bb, 0);
    assert_int_equal(status_of(&srv, "POST", "/chat/glossary", a, bbs), 400);
    free(bbs);
    json_decref(bb);

    /* another user's entry is 404 and stays */
    char bpath[96];
    snprintf(bpath, sizeof bpath, "/chat/glossary/%lld", b_raii);
    assert_int_equal(status_of(&srv, "PATCH", bpath, a, "{\"definition\":\"mine\"}"), 404);
    assert_int_equal(status_of(&srv, "DELETE", bpath, a, NULL), 404);
    assert_int_equal(status_of(&srv, "DELETE", "/chat/glossary/0", a, NULL), 404);
    assert_int_equal(status_of(&srv, "DELETE", "/chat/glossary/abc", a, NULL), 404);
    terms_of(&srv, b, NULL, got, sizeof got);
    assert_string_equal(got, "raii");

    /* readonly reads, never writes */
    const char *ro = make_readonly(&srv, admin, a, "a@example.com", 3);
    terms_of(&srv, ro, NULL, got, sizeof got);
    assert_string_equal(got, "borrow checker|Raii|Übergröße");
    assert_int_equal(
        status_of(&srv, "POST", "/chat/glossary", ro, "{\"term\":\"x\",\"definition\":\"y\"}"),
        403);
    assert_int_equal(status_of(&srv, "PATCH", path, ro, "{\"definition\":\"y\"}"), 403);
    assert_int_equal(status_of(&srv, "DELETE", path, ro, NULL), 403);

    call(&srv, "DELETE", bpath, b, NULL, 204);
    terms_of(&srv, b, NULL, got, sizeof got);
    assert_string_equal(got, "");
    assert_int_equal(status_of(&srv, "DELETE", bpath, b, NULL), 404);
    stop(&srv);
}

/* ---- ratings and flags ---------------------------------------------------------------- */

/* A conversation of two answers by two models, made by import. */
static const char RATED[] =
    "{\"format\":\"rustygpt.conversation\",\"version\":1,"
    "\"conversation\":{\"title\":\"Rated talk\",\"model\":\"m1\"},"
    "\"messages\":["
    "{\"id\":1,\"type\":\"user\",\"content\":\"Is it safe?\"},"
    "{\"id\":2,\"parent_id\":1,\"type\":\"assistant\",\"model\":\"m1\",\"finish\":\"stop\","
    "\"content\":\"It is safe. Caf\\u00e9s are open, \\\"mostly\\\". Trust me.\"},"
    "{\"id\":3,\"parent_id\":2,\"type\":\"user\",\"content\":\"Sure?\"},"
    "{\"id\":4,\"parent_id\":3,\"type\":\"assistant\",\"model\":\"m2\",\"finish\":\"stop\","
    "\"content\":\"Yes.\"}]}";

static long long import_conv(struct rg_server *s, const char *tok, const char *body)
{
    json_t *o = call(s, "POST", "/chat/import", tok, body, 201);
    long long id = jint(o, "id");
    json_decref(o);
    return id;
}

/* The conversation's messages (tree), taken. */
static json_t *messages_of(struct rg_server *s, const char *tok, long long conv)
{
    char path[96];
    snprintf(path, sizeof path, "/chat/conversations/%lld", conv);
    json_t *o = call(s, "GET", path, tok, NULL, 200);
    json_t *m = json_incref(json_object_get(o, "messages"));
    json_decref(o);
    return m;
}

static json_t *msg_with(json_t *msgs, const char *content_start)
{
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) if (!strncmp(jstr(m, "content"), content_start,
                                                strlen(content_start))) return m;
    fail_msg("no message starting '%s'", content_start);
    return NULL;
}

static void test_ratings(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv);
    const char *admin = signup(&srv, "admin@example.com", 0);
    const char *a = signup(&srv, "a@example.com", 1);
    const char *b = signup(&srv, "b@example.com", 2);
    long long conv = import_conv(&srv, a, RATED);
    json_t *msgs = messages_of(&srv, a, conv);
    long long q1 = jint(msg_with(msgs, "Is it"), "id"), a1 = jint(msg_with(msgs, "It is"), "id");
    long long a2 = jint(msg_with(msgs, "Yes"), "id");
    const char *content = jstr(msg_with(msgs, "It is"), "content");
    assert_true(json_is_null(json_object_get(msg_with(msgs, "It is"), "rating")));
    char p1[96], p2[96], pq[96], f1[96];
    snprintf(p1, sizeof p1, "/chat/messages/%lld/rating", a1);
    snprintf(p2, sizeof p2, "/chat/messages/%lld/rating", a2);
    snprintf(pq, sizeof pq, "/chat/messages/%lld/rating", q1);
    snprintf(f1, sizeof f1, "/chat/messages/%lld/flags", a1);

    /* never rated: nulls */
    json_t *g = call(&srv, "GET", p1, a, NULL, 200);
    assert_true(json_is_null(json_object_get(g, "confidence")));
    assert_true(json_is_null(json_object_get(g, "thumbs")));
    assert_int_equal(json_array_size(json_object_get(g, "flags")), 0);
    json_decref(g);

    g = call(&srv, "PUT", p1, a, "{\"confidence\":70,\"thumbs\":\"up\"}", 200);
    assert_int_equal(jint(g, "confidence"), 70);
    assert_string_equal(jstr(g, "thumbs"), "up");
    assert_true(jint(g, "updated_at") > 0);
    json_decref(g);
    g = call(&srv, "PUT", p1, a, "{\"confidence\":40}", 200); /* thumbs kept */
    assert_int_equal(jint(g, "confidence"), 40);
    assert_string_equal(jstr(g, "thumbs"), "up");
    json_decref(g);
    g = call(&srv, "PUT", p2, a, "{\"thumbs\":\"down\",\"confidence\":90}", 200);
    json_decref(g);
    g = call(&srv, "PUT", p2, a, "{\"confidence\":null}", 200);
    assert_true(json_is_null(json_object_get(g, "confidence")));
    assert_string_equal(jstr(g, "thumbs"), "down");
    json_decref(g);

    static const char *const bad[] = {"{\"confidence\":101}",
                                      "{\"confidence\":-1}",
                                      "{\"confidence\":5.5}",
                                      "{\"confidence\":\"50\"}",
                                      "{\"thumbs\":\"sideways\"}",
                                      "{\"thumbs\":true}",
                                      "{\"stars\":5}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (status_of(&srv, "PUT", p1, a, bad[i]) != 400) fail_msg("PUT rating %s", bad[i]);
    assert_int_equal(status_of(&srv, "PUT", pq, a, "{\"confidence\":5}"), 400); /* a question */

    /* flags: the sentence "Cafés are open, "mostly"." by byte offsets */
    const char *s0 = strstr(content, "Caf"), *s1 = strstr(content, " Trust");
    long long start = s0 - content, end = s1 - content;
    char body[160];
    snprintf(body, sizeof body, "{\"start\":%lld,\"end\":%lld,\"note\":\"who said so?\"}", start,
             end);
    json_t *fl = call(&srv, "POST", f1, a, body, 201);
    assert_string_equal(jstr(fl, "quote"), "Cafés are open, \"mostly\".");
    assert_string_equal(jstr(fl, "note"), "who said so?");
    assert_int_equal(jint(fl, "message_id"), a1);
    assert_int_equal(jint(fl, "start"), start);
    long long flag1 = jint(fl, "id");
    json_decref(fl);
    fl = call(&srv, "POST", f1, a, "{\"start\":0,\"end\":11}", 201);
    assert_string_equal(jstr(fl, "quote"), "It is safe.");
    assert_string_equal(jstr(fl, "note"), "");
    long long flag2 = jint(fl, "id");
    json_decref(fl);
    snprintf(body, sizeof body, "{\"start\":%lld,\"end\":%lld}", start + 4, end); /* inside é */
    assert_int_equal(status_of(&srv, "POST", f1, a, body), 400);
    snprintf(body, sizeof body, "{\"start\":0,\"end\":%zu}", strlen(content) + 1);
    assert_int_equal(status_of(&srv, "POST", f1, a, body), 400);
    assert_int_equal(status_of(&srv, "POST", f1, a, "{\"start\":5,\"end\":5}"), 400);
    assert_int_equal(status_of(&srv, "POST", f1, a, "{\"start\":-1,\"end\":5}"), 400);
    assert_int_equal(status_of(&srv, "POST", f1, a, "{\"end\":5}"), 400);
    assert_int_equal(status_of(&srv, "POST", f1, a, "{\"start\":0,\"end\":5,\"x\":1}"), 400);
    char fq[96];
    snprintf(fq, sizeof fq, "/chat/messages/%lld/flags", q1);
    assert_int_equal(status_of(&srv, "POST", fq, a, "{\"start\":0,\"end\":2}"), 400);
    /* a flag alone rates the other answer (it is in the export) */
    char f2[96];
    snprintf(f2, sizeof f2, "/chat/messages/%lld/flags", a2);
    fl = call(&srv, "POST", f2, a, "{\"start\":0,\"end\":4,\"note\":\"n,\\\"q\\\"\"}", 201);
    json_decref(fl);

    /* in the conversation */
    json_decref(msgs);
    msgs = messages_of(&srv, a, conv);
    json_t *rt = json_object_get(msg_with(msgs, "It is"), "rating");
    assert_int_equal(jint(rt, "confidence"), 40);
    assert_string_equal(jstr(rt, "thumbs"), "up");
    assert_int_equal(json_array_size(json_object_get(rt, "flags")), 2);
    assert_int_equal(jint(json_array_get(json_object_get(rt, "flags"), 0), "id"), flag1);
    assert_true(json_is_null(json_object_get(msg_with(msgs, "Is it"), "rating")));
    rt = json_object_get(msg_with(msgs, "Yes"), "rating");
    assert_int_equal(json_array_size(json_object_get(rt, "flags")), 1);

    /* another user: 404 everywhere, nothing changes */
    assert_int_equal(status_of(&srv, "GET", p1, b, NULL), 404);
    assert_int_equal(status_of(&srv, "PUT", p1, b, "{\"confidence\":1}"), 404);
    assert_int_equal(status_of(&srv, "POST", f1, b, "{\"start\":0,\"end\":2}"), 404);
    char fd[96];
    snprintf(fd, sizeof fd, "/chat/flags/%lld", flag2);
    assert_int_equal(status_of(&srv, "DELETE", fd, b, NULL), 404);
    json_t *eb = call(&srv, "GET", "/chat/ratings/export", b, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(eb, "data")), 0);
    json_decref(eb);

    /* the export: json and csv */
    json_t *ex = call(&srv, "GET", "/chat/ratings/export?format=json", a, NULL, 200);
    json_t *d = json_object_get(ex, "data");
    assert_int_equal(json_array_size(d), 2);
    assert_int_equal(jint(json_array_get(d, 0), "message_id"), a1);
    assert_string_equal(jstr(json_array_get(d, 0), "model"), "m1");
    assert_int_equal(jint(json_array_get(d, 0), "conversation_id"), conv);
    assert_true(json_equal(json_object_get(json_array_get(d, 0), "rating"),
                           json_object_get(msg_with(msgs, "It is"), "rating")));
    json_decref(ex);
    struct rg_resp resp;
    assert_int_equal(req(&srv, "GET", "/chat/ratings/export?format=csv", a, NULL, &resp), 200);
    char *csv = strndup(resp.body, resp.len);
    rg_resp_free(&resp);
    assert_int_equal(rg_count(csv, "\r\n"), 4); /* header, two flags of a1, one of a2 */
    assert_non_null(strstr(csv, "message_id,conversation_id,model,confidence,thumbs,"));
    assert_non_null(strstr(csv, "\"Cafés are open, \"\"mostly\"\".\",who said so?\r\n"));
    snprintf(body, sizeof body, "%lld,%lld,m2,,down,", a2, conv);
    assert_non_null(strstr(csv, body));
    assert_non_null(strstr(csv, ",\"n,\"\"q\"\"\"\r\n"));
    free(csv);
    assert_int_equal(status_of(&srv, "GET", "/chat/ratings/export?format=xml", a, NULL), 400);

    /* the admin summary per model */
    assert_int_equal(status_of(&srv, "GET", "/admin/ratings", a, NULL), 403);
    json_t *sum = call(&srv, "GET", "/admin/ratings", admin, NULL, 200);
    d = json_object_get(sum, "data");
    assert_int_equal(json_array_size(d), 2);
    json_t *m1 = json_array_get(d, 0), *m2 = json_array_get(d, 1);
    assert_string_equal(jstr(m1, "model"), "m1");
    assert_int_equal(jint(m1, "answers_rated"), 1);
    assert_true(json_number_value(json_object_get(m1, "avg_confidence")) == 40);
    assert_int_equal(jint(m1, "thumbs_up"), 1);
    assert_int_equal(jint(m1, "thumbs_down"), 0);
    assert_int_equal(jint(m1, "flags"), 2);
    assert_string_equal(jstr(m2, "model"), "m2");
    assert_true(json_is_null(json_object_get(m2, "avg_confidence")));
    assert_int_equal(jint(m2, "thumbs_down"), 1);
    assert_int_equal(jint(m2, "flags"), 1);
    json_decref(sum);

    /* the conversation's export carries them, the import restores them */
    char path[96];
    snprintf(path, sizeof path, "/chat/conversations/%lld/export", conv);
    json_t *cx = call(&srv, "GET", path, a, NULL, 200);
    json_t *xr = json_object_get(msg_with(json_object_get(cx, "messages"), "It is"), "rating");
    assert_int_equal(json_array_size(json_object_get(xr, "flags")), 2);
    char *cxs = json_dumps(cx, 0);
    long long copy = import_conv(&srv, b, cxs);
    free(cxs);
    json_t *bm = messages_of(&srv, b, copy);
    json_t *br = json_object_get(msg_with(bm, "It is"), "rating");
    assert_int_equal(jint(br, "confidence"), 40);
    assert_string_equal(jstr(br, "thumbs"), "up");
    json_t *bf = json_object_get(br, "flags");
    assert_int_equal(json_array_size(bf), 2);
    assert_string_equal(jstr(json_array_get(bf, 0), "quote"), "Cafés are open, \"mostly\".");
    assert_string_equal(jstr(json_array_get(bf, 0), "note"), "who said so?");
    assert_int_equal(jint(json_array_get(bf, 0), "message_id"), jint(msg_with(bm, "It is"), "id"));
    assert_true(json_is_null(json_object_get(msg_with(bm, "Is it"), "rating")));
    json_decref(bm);
    /* a bad rating refuses the whole import */
    json_t *bad_imp = json_deep_copy(cx);
    json_object_set_new(
        json_object_get(msg_with(json_object_get(bad_imp, "messages"), "It is"), "rating"),
        "confidence", json_integer(500));
    char *bis = json_dumps(bad_imp, 0);
    json_t *bl = call(&srv, "GET", "/chat/conversations", b, NULL, 200);
    size_t nb = json_array_size(json_object_get(bl, "data"));
    json_decref(bl);
    assert_int_equal(status_of(&srv, "POST", "/chat/import", b, bis), 400);
    bl = call(&srv, "GET", "/chat/conversations", b, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(bl, "data")), nb);
    json_decref(bl);
    free(bis);
    json_decref(bad_imp);
    json_decref(cx);

    /* delete a flag; readonly reads, never writes */
    call(&srv, "DELETE", fd, a, NULL, 204);
    assert_int_equal(status_of(&srv, "DELETE", fd, a, NULL), 404);
    g = call(&srv, "GET", p1, a, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(g, "flags")), 1);
    json_decref(g);
    const char *ro = make_readonly(&srv, admin, a, "a@example.com", 3);
    json_decref(call(&srv, "GET", p1, ro, NULL, 200));
    json_decref(call(&srv, "GET", "/chat/ratings/export", ro, NULL, 200));
    assert_int_equal(status_of(&srv, "PUT", p1, ro, "{\"confidence\":1}"), 403);
    assert_int_equal(status_of(&srv, "POST", f1, ro, "{\"start\":0,\"end\":2}"), 403);
    snprintf(fd, sizeof fd, "/chat/flags/%lld", flag1);
    assert_int_equal(status_of(&srv, "DELETE", fd, ro, NULL), 403);
    json_decref(msgs);
    stop(&srv);
}

/* ---- conversation type ------------------------------------------------------------------ */

static void start_env(struct rg_server *s, const char *const *extra)
{
    static const char *const env[] = {"RUSTYGPT_TEST_ROUTES=1", NULL};
    rg_harness_start(s, "rg_mem", extra, env);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Runs the classification of conv and waits for its job: the job's result. */
static json_t *classify(struct rg_server *s, const char *tok, long long conv)
{
    char path[96];
    snprintf(path, sizeof path, "/chat/conversations/%lld/classify", conv);
    json_t *o = call(s, "POST", path, tok, NULL, 202);
    snprintf(path, sizeof path, "/jobs/%lld", jint(o, "job"));
    json_decref(o);
    double until = now_s() + 120;
    for (;;) {
        json_t *j = call(s, "GET", path, tok, NULL, 200);
        const char *state = jstr(j, "state");
        if (!strcmp(state, "done")) {
            json_t *res = json_incref(json_object_get(j, "result"));
            json_decref(j);
            return res;
        }
        if (!strcmp(state, "failed") || now_s() > until) fail_msg("job: %s", json_dumps(j, 0));
        json_decref(j);
        usleep(100 * 1000);
    }
}

static json_t *conv_json(struct rg_server *s, const char *tok, long long conv)
{
    char path[96];
    snprintf(path, sizeof path, "/chat/conversations/%lld", conv);
    return call(s, "GET", path, tok, NULL, 200);
}

/* A conversation of one exchange (by import), with model (may be ""). */
static long long talk(struct rg_server *s, const char *tok, const char *model, const char *q,
                      const char *a)
{
    json_t *b = json_pack("{s:s, s:i, s:{s:s, s:s, s:i}, s:[{s:i, s:s, s:s}, {s:i, s:i, s:s, "
                          "s:s, s:s, s:s}]}",
                          "format", "rustygpt.conversation", "version", 1, "conversation", "title",
                          q, "model", model, "active_leaf", 2, "messages", "id", 1, "type", "user",
                          "content", q, "id", 2, "parent_id", 1, "type", "assistant", "content", a,
                          "model", model, "finish", "stop");
    char *txt = json_dumps(b, 0);
    long long id = import_conv(s, tok, txt);
    free(txt);
    json_decref(b);
    return id;
}

static size_t list_n(struct rg_server *s, const char *tok, const char *query)
{
    char path[128];
    snprintf(path, sizeof path, "/chat/conversations?%s", query);
    json_t *o = call(s, "GET", path, tok, NULL, 200);
    size_t n = json_array_size(json_object_get(o, "data"));
    json_decref(o);
    return n;
}

static void test_type_by_hand(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv);
    const char *admin = signup(&srv, "admin@example.com", 0);
    const char *a = signup(&srv, "a@example.com", 1);
    const char *b = signup(&srv, "b@example.com", 2);
    long long c1 = talk(&srv, a, "", "How do I fix a leaking tap?", "Close the valve first.");
    long long c2 = talk(&srv, a, "", "Why is the sky blue?", "Rayleigh scattering.");
    json_t *o = conv_json(&srv, a, c1);
    assert_string_equal(jstr(o, "type"), "");
    assert_true(json_is_true(json_object_get(o, "type_auto")));
    json_decref(o);

    char path[96];
    snprintf(path, sizeof path, "/chat/conversations/%lld", c1);
    o = call(&srv, "PATCH", path, a, "{\"type\":\"practical\"}", 200);
    assert_string_equal(jstr(o, "type"), "practical");
    assert_true(json_is_false(json_object_get(o, "type_auto")));
    json_decref(o);
    char path2[96];
    snprintf(path2, sizeof path2, "/chat/conversations/%lld", c2);
    json_decref(call(&srv, "PATCH", path2, a, "{\"type\":\"analytical\",\"pinned\":true}", 200));
    assert_int_equal(list_n(&srv, a, "type=practical"), 1);
    assert_int_equal(list_n(&srv, a, "type=analytical"), 1);
    assert_int_equal(list_n(&srv, a, "type=reflective"), 0);
    assert_int_equal(list_n(&srv, a, "type="), 2);
    assert_int_equal(list_n(&srv, a, "type=analytical&q=scattering"), 1);
    assert_int_equal(list_n(&srv, a, "type=practical&q=scattering"), 0);
    assert_int_equal(status_of(&srv, "GET", "/chat/conversations?type=funny", a, NULL), 400);
    assert_int_equal(status_of(&srv, "PATCH", path, a, "{\"type\":\"funny\"}"), 400);
    assert_int_equal(status_of(&srv, "PATCH", path, a, "{\"type\":3}"), 400);
    /* another user: 404, nothing changes; readonly 403 */
    assert_int_equal(status_of(&srv, "PATCH", path, b, "{\"type\":\"reflective\"}"), 404);
    snprintf(path2, sizeof path2, "/chat/conversations/%lld/classify", c1);
    assert_int_equal(status_of(&srv, "POST", path2, b, NULL), 404);
    assert_int_equal(list_n(&srv, b, "type=practical"), 0);
    assert_int_equal(list_n(&srv, a, "type=practical"), 1);

    /* set by hand: never reclassified */
    json_t *res = classify(&srv, a, c1);
    assert_true(json_is_true(json_object_get(res, "skipped")));
    json_decref(res);
    o = conv_json(&srv, a, c1);
    assert_string_equal(jstr(o, "type"), "practical");
    json_decref(o);
    /* the export keeps it, the import restores it */
    snprintf(path2, sizeof path2, "/chat/conversations/%lld/export", c1);
    json_t *ex = call(&srv, "GET", path2, a, NULL, 200);
    char *exs = json_dumps(ex, 0);
    long long c3 = import_conv(&srv, b, exs);
    free(exs);
    json_decref(ex);
    o = conv_json(&srv, b, c3);
    assert_string_equal(jstr(o, "type"), "practical");
    assert_true(json_is_false(json_object_get(o, "type_auto")));
    json_decref(o);
    /* "" clears and gives it back to the classifier */
    o = call(&srv, "PATCH", path, a, "{\"type\":\"\"}", 200);
    assert_string_equal(jstr(o, "type"), "");
    assert_true(json_is_true(json_object_get(o, "type_auto")));
    json_decref(o);
    assert_int_equal(list_n(&srv, a, "type=practical"), 0);
    /* without a model or an embedder nothing can classify it */
    res = classify(&srv, a, c1);
    assert_true(json_is_true(json_object_get(res, "skipped")));
    json_decref(res);
    const char *ro = make_readonly(&srv, admin, a, "a@example.com", 3);
    assert_int_equal(status_of(&srv, "PATCH", path, ro, "{\"type\":\"reflective\"}"), 403);
    snprintf(path2, sizeof path2, "/chat/conversations/%lld/classify", c1);
    assert_int_equal(status_of(&srv, "POST", path2, ro, NULL), 403);
    stop(&srv);
}

/* The embedding fallback with the deterministic test embedder: no model,
 * so the nearest label description wins. */
static void test_type_by_embedding(void **state)
{
    (void)state;
    struct rg_server srv;
    static const char *const extra[] = {"--embedding-model", "test-hash", NULL};
    start_env(&srv, extra);
    const char *a = signup(&srv, "a@example.com", 0);
    static const struct {
        const char *q, *ans, *want;
    } cases[] = {
        {"How to fix and repair my bike, step-by-step instructions?",
         "Install the new chain, then fix the brake: do this task step-by-step.", "practical"},
        {"I keep thinking about my feelings and memories of my father.",
         "Your feelings, values and memories matter; journaling about relationships helps.",
         "reflective"},
        {"Compare the evidence for these two theories and explain why.",
         "The data and arguments: reasoning about evidence and theories explains why.",
         "analytical"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        long long c = talk(&srv, a, "", cases[i].q, cases[i].ans);
        json_t *res = classify(&srv, a, c);
        if (!json_is_string(json_object_get(res, "type")))
            fail_msg("case %zu: %s", i, json_dumps(res, 0));
        if (strcmp(jstr(res, "type"), cases[i].want) != 0)
            fail_msg("case %zu: %s", i, json_dumps(res, 0));
        assert_string_equal(jstr(res, "source"), "embedding");
        json_decref(res);
        json_t *o = conv_json(&srv, a, c);
        assert_string_equal(jstr(o, "type"), cases[i].want);
        assert_true(json_is_true(json_object_get(o, "type_auto")));
        json_decref(o);
    }
    assert_int_equal(list_n(&srv, a, "type=practical"), 1);
    assert_int_equal(list_n(&srv, a, "type=reflective"), 1);
    stop(&srv);
}

/* The model under the JSON schema: stories260K's answer is noise, but the
 * schema allows only the three labels, so the model's answer is used. */
static void test_type_by_model(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(model, "models/stories260K.gguf");
    struct rg_server srv;
    start(&srv); /* no embedder: only the model can answer */
    assert_int_equal(rg_server_add_model(&srv, "stories260K", model), 0);
    const char *a = signup(&srv, "a@example.com", 0);
    static const char *const qs[] = {"Once upon a time", "How do I fix a tap?",
                                     "Why is the sky blue?"};
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        long long c = talk(&srv, a, "stories260K", qs[i], "Lily was happy.");
        json_t *res = classify(&srv, a, c);
        const char *t = json_string_value(json_object_get(res, "type"));
        if (!t) fail_msg("not classified: %s", json_dumps(res, 0));
        assert_true(!strcmp(t, "reflective") || !strcmp(t, "analytical") ||
                    !strcmp(t, "practical"));
        assert_string_equal(jstr(res, "source"), "model");
        json_t *o = conv_json(&srv, a, c);
        assert_string_equal(jstr(o, "type"), t);
        json_decref(o);
        json_decref(res);
    }
    /* a real first answer queues the classification by itself (rg_api_mem_answered) */
    json_t *c = call(&srv, "POST", "/chat/conversations", a, "{\"model\":\"stories260K\"}", 201);
    long long cid = jint(c, "id");
    json_decref(c);
    char path[96];
    snprintf(path, sizeof path, "/chat/conversations/%lld/messages", cid);
    json_decref(call(&srv, "POST", path, a,
                     "{\"content\":\"How do I fix a tap?\",\"stream\":false,"
                     "\"settings\":{\"max_tokens\":8}}",
                     200));
    const char *t = "";
    json_t *o = NULL;
    for (double until = now_s() + 120; !*t && now_s() < until;) {
        json_decref(o);
        o = conv_json(&srv, a, cid);
        t = jstr(o, "type");
        if (!*t) usleep(200 * 1000);
    }
    if (!*t) fail_msg("the first answer left the conversation without a type");
    assert_true(!strcmp(t, "reflective") || !strcmp(t, "analytical") || !strcmp(t, "practical"));
    assert_true(json_is_true(json_object_get(o, "type_auto")));
    json_decref(o);
    stop(&srv);
}

#define TESTS                                                                                      \
    cmocka_unit_test(test_settings), cmocka_unit_test(test_styles),                                \
        cmocka_unit_test(test_glossary), cmocka_unit_test(test_ratings),                           \
        cmocka_unit_test(test_type_by_hand), cmocka_unit_test(test_type_by_embedding),             \
        cmocka_unit_test(test_type_by_model)

int main(void)
{
    const struct CMUnitTest tests[] = {TESTS};
    int failed = cmocka_run_group_tests_name("memory/sqlite", tests, NULL, NULL);
    int pg = rg_harness_pg_pass("memory");
    if (pg <= 0) return failed + (pg < 0 ? 1 : 0);
    const struct CMUnitTest pg_tests[] = {TESTS};
    failed += cmocka_run_group_tests_name("memory/postgres", pg_tests, NULL, NULL);
    return failed;
}
