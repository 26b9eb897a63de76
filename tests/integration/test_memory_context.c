/*
 * The budgeted prompt and its record against the real server
 * (docs/memory.md) with the small model stories260K and the deterministic
 * test embedder (--embedding-model test-hash, RUSTYGPT_TEST_ROUTES=1): a
 * long conversation's prompt is cut to the budget and the record says so;
 * each source appears in the record and can be switched off; a thread is
 * summarised on demand and automatically, the summary refreshed
 * incrementally and never part of a branch; topic shift starts or suggests
 * a new thread; prior messages of another conversation come in when opted in.
 *
 * Runs on SQLite, then on PostgreSQL when one is reachable (PGHOST set, as
 * under pg_virtualenv; RG_REQUIRE_PG=1 makes its absence a failure). The
 * memory module's routes (PUT /chat/memory, glossary, styles) must answer.
 */
#include "test.h"

#include <jansson.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "integration/harness_auth.h"

static char g_model[512];

/* ---- helpers --------------------------------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long req(struct rg_server *s, const char *method, const char *path, const char *bearer,
                const char *body, struct rg_resp *out)
{
    char auth[1200];
    const char *hdrs[4];
    int n = 0;
    hdrs[n++] = "Content-Type: application/json";
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
    json_t *o = json_loadb(r.body, r.len, 0, NULL);
    if (!o) fail_msg("%s %s: not JSON: %.*s", method, path, (int)r.len, r.body);
    rg_resp_free(&r);
    return o;
}

static const char *signup(struct rg_server *s, const char *email, int slot)
{
    static char tokens[4][1024];
    char body[256];
    rg_harness_credentials(body, sizeof body, email, "correct horse battery");
    json_decref(call(s, "POST", "/auth/register", NULL, body, 202));
    json_t *o = call(s, "POST", "/auth/login", NULL, body, 200);
    snprintf(tokens[slot], sizeof tokens[slot], "%s",
             json_string_value(json_object_get(o, "access_token")));
    json_decref(o);
    assert_true(strlen(tokens[slot]) > 20);
    return tokens[slot];
}

static void start(struct rg_server *s)
{
    static const char *const extra[] = {"--embedding-model", "test-hash", NULL};
    static const char *const env[] = {"RUSTYGPT_TEST_ROUTES=1", NULL};
    rg_harness_start(s, "rg_memctx", extra, env);
    assert_int_equal(rg_server_add_model(s, "stories", g_model), 0);
}

static long long new_conv(struct rg_server *s, const char *tok)
{
    json_t *c = call(s, "POST", "/chat/conversations", tok, "{}", 201);
    long long id = json_integer_value(json_object_get(c, "id"));
    assert_true(id > 0);
    json_decref(c);
    return id;
}

static json_t *get_conv(struct rg_server *s, const char *tok, long long id)
{
    char path[96];
    snprintf(path, sizeof path, "/chat/conversations/%lld", id);
    return call(s, "GET", path, tok, NULL, 200);
}

/* The message of id in a conversation's "messages", or NULL. */
static json_t *find_msg(json_t *conv, long long id)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(conv, "messages"), i,
                       m) if (json_integer_value(json_object_get(m, "id")) == id) return m;
    return NULL;
}

static long long ival(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static const char *sval(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* A streamed answer, taken apart: its events in order. */
struct sse {
    char names[64][16];
    json_t *data[64];
    int n;
    char *deltas; /* the concatenated delta contents */
};

static void sse_free(struct sse *e)
{
    for (int i = 0; i < e->n; i++)
        json_decref(e->data[i]);
    free(e->deltas);
}

static void sse_parse(const char *body, size_t len, struct sse *e)
{
    memset(e, 0, sizeof *e);
    e->deltas = calloc(1, len + 1);
    const char *p = body, *end = body + len;
    char name[16] = "";
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        size_t n = (size_t)(eol - p);
        if (n > 7 && !strncmp(p, "event: ", 7)) {
            snprintf(name, sizeof name, "%.*s", (int)(n - 7), p + 7);
        } else if (n > 6 && !strncmp(p, "data: ", 6)) {
            json_t *d = json_loadb(p + 6, n - 6, 0, NULL);
            if (!d) fail_msg("an event's data is not JSON: %.*s", (int)n, p);
            assert_true(e->n < 64);
            snprintf(e->names[e->n], sizeof e->names[e->n], "%s", name);
            if (!strcmp(name, "delta")) strcat(e->deltas, sval(d, "content"));
            e->data[e->n++] = d;
            name[0] = '\0';
        }
        p = eol + 1;
    }
}

/* Posts body to path (a streamed answer) and parses the events; checks the
 * first is "start" and the last "end". */
static void answer(struct rg_server *s, const char *tok, const char *path, const char *body,
                   struct sse *e)
{
    struct rg_resp r;
    long st = req(s, "POST", path, tok, body, &r);
    if (st != 200) fail_msg("POST %s: %ld %.*s", path, st, (int)r.len, r.body);
    char ct[128];
    assert_non_null(rg_resp_header(&r, "content-type", ct, sizeof ct));
    assert_non_null(strstr(ct, "text/event-stream"));
    sse_parse(r.body, r.len, e);
    rg_resp_free(&r);
    assert_true(e->n >= 2);
    assert_string_equal(e->names[0], "start");
    if (strcmp(e->names[e->n - 1], "end") != 0)
        fail_msg("last event %s: %s", e->names[e->n - 1], json_dumps(e->data[e->n - 1], 0));
}

static json_t *end_msg(struct sse *e)
{
    return json_object_get(e->data[e->n - 1], "message");
}

static void post(struct rg_server *s, const char *tok, long long conv, const char *content,
                 int max_tokens, struct sse *e)
{
    char path[96], body[2048];
    snprintf(path, sizeof path, "/chat/conversations/%lld/messages", conv);
    snprintf(body, sizeof body,
             "{\"content\":\"%s\",\"settings\":{\"max_tokens\":%d,\"temperature\":0}}", content,
             max_tokens);
    answer(s, tok, path, body, e);
}

/* ---- more helpers ------------------------------------------------------------- */

static json_t *context_of(struct rg_server *s, const char *tok, long long msg)
{
    char path[96];
    snprintf(path, sizeof path, "/chat/messages/%lld/context", msg);
    return call(s, "GET", path, tok, NULL, 200);
}

/* The nth item of source in a record, or NULL. */
static json_t *item(json_t *rec, const char *source, int nth)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(rec, "items"), i, it)
    {
        if (!strcmp(sval(it, "source"), source) && nth-- == 0) return it;
    }
    return NULL;
}

static bool included(json_t *it)
{
    return it && json_is_true(json_object_get(it, "included"));
}

/* The dry run of a message with settings (JSON text or NULL). */
static json_t *dry(struct rg_server *s, const char *tok, long long conv, const char *content,
                   const char *settings, long want)
{
    char path[96], body[16384];
    snprintf(path, sizeof path, "/chat/conversations/%lld/context", conv);
    snprintf(body, sizeof body, "{\"content\":\"%s\"%s%s%s}", content,
             settings ? ",\"settings\":" : "", settings ? settings : "", "");
    return call(s, "POST", path, tok, body, want);
}

static void post_with(struct rg_server *s, const char *tok, long long conv, const char *content,
                      const char *settings, struct sse *e)
{
    char path[96], body[4096];
    snprintf(path, sizeof path, "/chat/conversations/%lld/messages", conv);
    snprintf(body, sizeof body, "{\"content\":\"%s\",\"settings\":%s}", content, settings);
    answer(s, tok, path, body, e);
}

static json_t *wait_job(struct rg_server *s, const char *tok, long long job)
{
    char path[96];
    snprintf(path, sizeof path, "/jobs/%lld", job);
    double until = now_s() + 120;
    for (;;) {
        json_t *j = call(s, "GET", path, tok, NULL, 200);
        const char *st = sval(j, "state");
        if (!strcmp(st, "done")) return j;
        if (!strcmp(st, "failed") || !strcmp(st, "cancelled") || now_s() > until)
            fail_msg("job %lld: %s", job, json_dumps(j, 0));
        json_decref(j);
        sleep_ms(100);
    }
}

static json_t *thread_of(json_t *conv, long long id)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(conv, "threads"), i, t) if (ival(t, "id") == id) return t;
    return NULL;
}

/* A story line of about 400 bytes, different for each i. */
static void long_text(char *out, size_t size, int i)
{
    snprintf(out, size,
             "Part %d. Once upon a time there was a little girl named Lily who loved to play in "
             "the big green park near her house with her dog Max and her friend Tom. One day they "
             "found a shiny red ball under a tree and they played with it all day long until the "
             "sun went down and the sky turned orange and pink. Then they went home happy and "
             "tired and Lily told her mom all about the ball and the tree number %d.",
             i, i * 13);
}

/* ---- tests ------------------------------------------------------------------ */

/* A long conversation: the prompt is cut to the budget, newest first, and
 * the record says what was left out; the dry run gives the same record
 * without saving; a message that alone does not fit is refused. */
static void test_budget(void **state)
{
    (void)state;
    if (!g_model[0]) skip();
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long cid = new_conv(&srv, tok);
    char text[600];
    struct sse e;
    long long last_user = 0, last_answer = 0;
    for (int i = 0; i < 12; i++) { /* more than stories260K's context holds */
        long_text(text, sizeof text, i);
        post(&srv, tok, cid, text, 4, &e);
        last_user = ival(json_object_get(e.data[0], "user_message"), "id");
        last_answer = ival(end_msg(&e), "id");
        sse_free(&e);
    }
    json_t *conv = get_conv(&srv, tok, cid);
    json_t *am = find_msg(conv, last_answer);
    long long prompt_tokens = ival(am, "prompt_tokens");
    assert_non_null(json_object_get(json_object_get(am, "settings"), "context"));
    json_decref(conv);
    json_t *rec = context_of(&srv, tok, last_answer);
    assert_int_equal(ival(rec, "message_id"), last_answer);
    long long n_ctx = ival(rec, "n_ctx"), budget = ival(rec, "budget"), used = ival(rec, "used");
    assert_true(n_ctx > 0);
    assert_int_equal(budget, n_ctx - 4); /* the context less the answer's max_tokens */
    assert_true(used <= budget);
    assert_int_equal(used, prompt_tokens); /* counted by the model's tokenizer, exactly */
    /* the new message first, included; older ones left out over the budget */
    json_t *m0 = item(rec, "message", 0);
    assert_true(included(m0));
    assert_int_equal(ival(json_object_get(m0, "ref"), "message_id"), last_user);
    size_t i;
    json_t *it;
    int in = 0, out = 0;
    long long sum = 0;
    json_array_foreach(json_object_get(rec, "items"), i, it)
    {
        if (strcmp(sval(it, "source"), "message")) continue;
        if (included(it)) {
            assert_int_equal(out, 0); /* whole messages, newest first, no gap */
            in++;
            sum += ival(it, "tokens");
        } else {
            if (!out) assert_true(used + ival(it, "tokens") > budget); /* it would not fit */
            out++;
            assert_string_equal(sval(it, "reason"), "over the budget");
        }
    }
    assert_true(in >= 1 && out >= 1);
    assert_int_equal(in + out, 23); /* 11 exchanges before and the new message */
    assert_true(sum <= used);
    json_decref(rec);

    /* the dry run: the same shape, nothing saved */
    long_text(text, sizeof text, 99);
    rec = dry(&srv, tok, cid, text, "{\"max_tokens\":4}", 200);
    assert_true(json_is_null(json_object_get(rec, "message_id")));
    assert_int_equal(ival(rec, "budget"), budget);
    assert_true(ival(rec, "used") <= budget);
    assert_true(included(item(rec, "message", 0)));
    assert_null(json_object_get(item(rec, "message", 0), "ref")); /* not saved: no id */
    assert_false(included(item(rec, "message", 23)));
    json_decref(rec);
    conv = get_conv(&srv, tok, cid);
    assert_int_equal(json_array_size(json_object_get(conv, "messages")), 24);
    json_decref(conv);
    /* a bigger answer leaves less room */
    rec = dry(&srv, tok, cid, text, "{\"max_tokens\":200}", 200);
    assert_int_equal(ival(rec, "budget"), n_ctx - 200);
    assert_true(ival(rec, "used") <= n_ctx - 200);
    json_decref(rec);
    /* a message that does not fit alone: refused, nothing saved */
    static char big[12100];
    for (int k = 0; k < 12000; k += 6)
        memcpy(big + k, "sun.  ", 6);
    big[12000] = '\0';
    char path[96];
    snprintf(path, sizeof path, "/chat/conversations/%lld/messages", cid);
    char *body = malloc(13000);
    snprintf(body, 13000, "{\"content\":\"%s\",\"settings\":{\"max_tokens\":4}}", big);
    struct rg_resp r;
    assert_int_equal(req(&srv, "POST", path, tok, body, &r), 400);
    assert_non_null(strstr(r.body, "context_length_exceeded"));
    rg_resp_free(&r);
    free(body);
    rec = dry(&srv, tok, cid, big, "{\"max_tokens\":4}", 400);
    json_decref(rec);
    conv = get_conv(&srv, tok, cid);
    assert_int_equal(json_array_size(json_object_get(conv, "messages")), 24);
    json_decref(conv);
    /* the record of a user message: none */
    snprintf(path, sizeof path, "/chat/messages/%lld/context", last_user);
    assert_int_equal(req(&srv, "GET", path, tok, NULL, &r), 404);
    rg_resp_free(&r);
    /* another user's answer: 404 */
    const char *other = signup(&srv, "b@example.com", 1);
    snprintf(path, sizeof path, "/chat/messages/%lld/context", last_answer);
    assert_int_equal(req(&srv, "GET", path, other, NULL, &r), 404);
    rg_resp_free(&r);
    rg_harness_stop(&srv);
}

static long long upload_ready(struct rg_server *s, const char *tok, const char *name,
                              const char *body, long long *collection)
{
    char path[160];
    snprintf(path, sizeof path, "/library/documents?name=%s", name);
    json_t *d = call(s, "POST", path, tok, body, 201);
    long long id = ival(d, "id");
    *collection = ival(d, "collection_id");
    json_decref(d);
    snprintf(path, sizeof path, "/library/documents/%lld", id);
    double until = now_s() + 60;
    for (;;) {
        json_t *x = call(s, "GET", path, tok, NULL, 200);
        bool ready = !strcmp(sval(x, "state"), "ready");
        if (!strcmp(sval(x, "state"), "error")) fail_msg("indexing failed: %s", json_dumps(x, 0));
        json_decref(x);
        if (ready) return id;
        if (now_s() > until) fail_msg("document %lld never ready", id);
        sleep_ms(100);
    }
}

/* Each source in the record, and each switched off. */
static void test_sources(void **state)
{
    (void)state;
    if (!g_model[0]) skip();
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long col = 0;
    upload_ready(&srv, tok, "rivers.md",
                 "# Rivers\n\n## The Danube\n\nThe Danube flows through Vienna and Budapest "
                 "before it reaches the Black Sea.\n",
                 &col);
    long long cid = new_conv(&srv, tok);
    char path[96], body[256];
    snprintf(path, sizeof path, "/chat/conversations/%lld", cid);
    snprintf(body, sizeof body,
             "{\"settings\":{\"system\":\"Speak of rivers.\",\"collections\":[%lld]}}", col);
    json_decref(call(&srv, "PATCH", path, tok, body, 200));
    struct sse e;
    post(&srv, tok, cid, "Which river flows through Vienna", 4, &e);
    long long a1 = ival(end_msg(&e), "id");
    json_t *src = json_object_get(json_object_get(end_msg(&e), "settings"), "sources");
    assert_true(json_array_size(src) >= 1);
    long long chunk = ival(json_array_get(src, 0), "chunk_id");
    sse_free(&e);
    json_t *rec = context_of(&srv, tok, a1);
    json_t *sys = item(rec, "system", 0);
    assert_true(included(sys));
    assert_string_equal(sval(sys, "reason"), "the conversation's instructions");
    assert_true(ival(sys, "tokens") > 0);
    json_t *lib = item(rec, "library", 0);
    assert_true(included(lib));
    assert_int_equal(ival(json_object_get(lib, "ref"), "chunk_id"), chunk);
    assert_true(ival(json_object_get(lib, "ref"), "document_id") > 0);
    assert_string_equal(sval(lib, "reason"), "passage [1] for the question");
    /* prior is off until the user opts in */
    json_t *pr = item(rec, "prior", 0);
    assert_false(included(pr));
    assert_string_equal(sval(pr, "reason"), "turned off");
    assert_null(item(rec, "summary", 0)); /* no summary yet */
    long long used_with = ival(rec, "used"), budget1 = ival(rec, "budget");
    json_decref(rec);
    /* a continuation keeps the record of its own prompt: the text so far
     * leaves less room */
    char cpath[96];
    snprintf(cpath, sizeof cpath, "/chat/messages/%lld/continue", a1);
    answer(&srv, tok, cpath, "{}", &e);
    sse_free(&e);
    rec = context_of(&srv, tok, a1);
    assert_true(ival(rec, "budget") < budget1);
    assert_true(ival(rec, "used") <= ival(rec, "budget"));
    assert_true(included(item(rec, "library", 0)));
    json_decref(rec);
    /* the library switched off for one message: no passage, no sources */
    post_with(&srv, tok, cid, "Which river flows through Vienna",
              "{\"max_tokens\":4,\"memory\":{\"library\":false}}", &e);
    long long a2 = ival(end_msg(&e), "id");
    assert_null(json_object_get(json_object_get(end_msg(&e), "settings"), "sources"));
    sse_free(&e);
    rec = context_of(&srv, tok, a2);
    lib = item(rec, "library", 0);
    assert_false(included(lib));
    assert_string_equal(sval(lib, "reason"), "turned off");
    assert_null(item(rec, "library", 1));
    json_decref(rec);
    /* for the conversation: every source off */
    snprintf(body, sizeof body,
             "{\"settings\":{\"collections\":[%lld],\"memory\":{\"library\":false,\"glossary\":"
             "false,\"summaries\":false,\"prior\":false}}}",
             col);
    json_decref(call(&srv, "PATCH", path, tok, body, 200));
    rec = dry(&srv, tok, cid, "Which river flows through Vienna", NULL, 200);
    const char *srcs[] = {"library", "glossary", "summary", "prior"};
    for (int k = 0; k < 4; k++) {
        json_t *x = item(rec, srcs[k], 0);
        if (!x) fail_msg("no %s item: %s", srcs[k], json_dumps(rec, 0));
        assert_string_equal(sval(x, "reason"), "turned off");
        assert_false(included(x));
    }
    assert_true(ival(rec, "used") < used_with + 200);
    json_decref(rec);
    /* a bad memory setting or style: 400 naming it */
    struct rg_resp r;
    assert_int_equal(
        req(&srv, "PATCH", path, tok, "{\"settings\":{\"memory\":{\"bogus\":true}}}", &r), 400);
    rg_resp_free(&r);
    snprintf(path, sizeof path, "/chat/conversations/%lld/messages", cid);
    assert_int_equal(req(&srv, "POST", path, tok,
                         "{\"content\":\"x\",\"settings\":{\"memory\":{\"library\":1}}}", &r),
                     400);
    rg_resp_free(&r);
    assert_int_equal(req(&srv, "POST", path, tok,
                         "{\"content\":\"x\",\"settings\":{\"style\":\"no-such-style\"}}", &r),
                     400);
    assert_non_null(strstr(r.body, "settings.style"));
    rg_resp_free(&r);
    /* the plain style adds nothing */
    rec = dry(&srv, tok, cid, "Hello", "{\"style\":\"plain\"}", 200);
    assert_null(item(rec, "style", 0));
    json_decref(rec);
    /* a built-in style and the glossary, once the memory module answers */
    long long c2 = new_conv(&srv, tok);
    snprintf(path, sizeof path, "/chat/conversations/%lld/context", c2);
    req(&srv, "POST", path, tok, "{\"content\":\"Hello\",\"settings\":{\"style\":\"socratic\"}}",
        &r);
    if (r.status == 200) {
        rec = json_loadb(r.body, r.len, 0, NULL);
        json_t *st = item(rec, "style", 0);
        assert_true(included(st));
        assert_string_equal(sval(json_object_get(st, "ref"), "style"), "socratic");
        assert_true(ival(st, "tokens") > 0);
        json_decref(rec);
    } else {
        fail_msg("style socratic: %ld", r.status);
    }
    rg_resp_free(&r);
    long gst = req(&srv, "POST", "/chat/glossary", tok,
                   "{\"term\":\"Danube\",\"definition\":\"a long river of Europe\"}", &r);
    rg_resp_free(&r);
    if (gst == 201) {
        rec = dry(&srv, tok, c2, "Tell me about the danube please", NULL, 200);
        json_t *g = item(rec, "glossary", 0);
        assert_true(included(g));
        assert_string_equal(sval(json_object_get(g, "ref"), "term"), "Danube");
        assert_true(ival(json_object_get(g, "ref"), "glossary_id") > 0);
        json_decref(rec);
        rec = dry(&srv, tok, c2, "Tell me about the danube please",
                  "{\"memory\":{\"glossary\":false}}", 200);
        assert_string_equal(sval(item(rec, "glossary", 0), "reason"), "turned off");
        json_decref(rec);
        rec = dry(&srv, tok, c2, "Tell me about rivers", NULL, 200); /* no term: no entry */
        assert_null(item(rec, "glossary", 0));
        json_decref(rec);
    } else {
        fail_msg("glossary: %ld", gst);
    }
    rg_harness_stop(&srv);
}

/* Summaries on demand (refreshed from the old one), never in a branch, in
 * the prompt for the part left out, and automatic after summary_after. */
static void test_summaries(void **state)
{
    (void)state;
    if (!g_model[0]) skip();
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long cid = new_conv(&srv, tok);
    struct sse e;
    post(&srv, tok, cid, "Lily had a red ball", 4, &e);
    long long u1 = ival(json_object_get(e.data[0], "user_message"), "id");
    sse_free(&e);
    post(&srv, tok, cid, "Tom had a blue kite", 4, &e);
    long long a2 = ival(end_msg(&e), "id");
    sse_free(&e);
    json_t *conv = get_conv(&srv, tok, cid);
    long long thread = ival(conv, "main_thread");
    json_decref(conv);
    char path[96];
    snprintf(path, sizeof path, "/chat/threads/%lld/summarize", thread);
    json_t *j = call(&srv, "POST", path, tok, NULL, 202);
    long long job = ival(j, "job");
    json_decref(j);
    j = wait_job(&srv, tok, job);
    long long sid = ival(json_object_get(j, "result"), "summary_id");
    assert_true(sid > 0);
    json_decref(j);
    conv = get_conv(&srv, tok, cid);
    assert_int_equal(ival(thread_of(conv, thread), "summary_id"), sid);
    assert_int_equal(ival(conv, "active_leaf"), a2); /* never the active leaf */
    json_t *sm = find_msg(conv, sid);
    assert_non_null(sm);
    assert_string_equal(sval(sm, "type"), "summary");
    assert_true(strlen(sval(sm, "content")) > 0);
    json_t *cov = json_object_get(json_object_get(sm, "settings"), "covers");
    assert_int_equal(ival(cov, "n"), 4);
    assert_int_equal(ival(cov, "from"), u1);
    assert_int_equal(ival(cov, "to"), a2);
    json_t *sib = json_object_get(sm, "siblings"); /* a sibling of nothing */
    assert_int_equal(json_array_size(sib), 1);
    assert_int_equal(json_integer_value(json_array_get(sib, 0)), sid);
    json_t *root = find_msg(conv, u1);
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(root, "siblings"), i, x)
        assert_true(json_integer_value(x) != sid);
    json_decref(conv);

    /* one more exchange: the new summary takes the old one and the new messages */
    post(&srv, tok, cid, "They played all day", 4, &e);
    long long a3 = ival(end_msg(&e), "id");
    sse_free(&e);
    j = call(&srv, "POST", path, tok, NULL, 202);
    job = ival(j, "job");
    json_decref(j);
    j = wait_job(&srv, tok, job);
    long long sid2 = ival(json_object_get(j, "result"), "summary_id");
    json_decref(j);
    assert_true(sid2 > 0 && sid2 != sid);
    conv = get_conv(&srv, tok, cid);
    assert_int_equal(ival(thread_of(conv, thread), "summary_id"), sid2);
    assert_null(find_msg(conv, sid)); /* replaced */
    cov = json_object_get(json_object_get(find_msg(conv, sid2), "settings"), "covers");
    assert_int_equal(ival(cov, "n"), 6);
    assert_int_equal(ival(cov, "from"), u1);
    assert_int_equal(ival(cov, "to"), a3);
    assert_int_equal(ival(conv, "active_leaf"), a3);
    json_decref(conv);
    /* nothing new: skipped */
    j = call(&srv, "POST", path, tok, NULL, 202);
    job = ival(j, "job");
    json_decref(j);
    j = wait_job(&srv, tok, job);
    assert_true(json_is_true(json_object_get(json_object_get(j, "result"), "skipped")));
    json_decref(j);
    /* deleting the active answer: the leaf goes back along the branch, never to the summary */
    /* (the answer a3's parent is the user message) */

    /* long messages push the old part out: the summary goes in for it,
     * when what is left of the budget holds it */
    char text[600], two[1300];
    for (int k = 0; k < 8; k++) {
        long_text(text, sizeof text, k);
        snprintf(two, sizeof two, "%s %s", text, text);
        post(&srv, tok, cid, two, 4, &e);
        sse_free(&e);
    }
    int with_summary = 0, without = 0;
    for (int mt = 4; mt < 404; mt += 20) {
        char set[80];
        snprintf(set, sizeof set, "{\"max_tokens\":%d}", mt);
        json_t *rec = dry(&srv, tok, cid, "And then", set, 200);
        json_t *si = item(rec, "summary", 0);
        if (!si) fail_msg("no summary item: %s", json_dumps(rec, 0));
        assert_true(ival(rec, "used") <= ival(rec, "budget"));
        bool left_out = false;
        size_t i2;
        json_t *it;
        json_array_foreach(json_object_get(rec, "items"), i2,
                           it) if (!strcmp(sval(it, "source"), "message") && !included(it))
            left_out = true;
        assert_true(left_out);
        if (included(si)) {
            with_summary++;
            assert_true(ival(json_object_get(si, "ref"), "message_id") >= sid2);
            assert_int_equal(ival(json_object_get(si, "ref"), "thread_id"), thread);
            assert_non_null(strstr(sval(si, "reason"), "summary of "));
            assert_true(ival(si, "tokens") > 0);
        } else {
            without++;
            assert_string_equal(sval(si, "reason"), "over the budget");
            assert_true(ival(rec, "used") + ival(si, "tokens") > ival(rec, "budget"));
        }
        json_decref(rec);
    }
    assert_true(with_summary > 0);
    json_t *rec =
        dry(&srv, tok, cid, "And then", "{\"max_tokens\":4,\"memory\":{\"summaries\":false}}", 200);
    assert_string_equal(sval(item(rec, "summary", 0), "reason"), "turned off");
    json_decref(rec);
    /* automatic: summary_after (20 by default) messages not covered queue one */
    for (int k = 0; k < 2; k++) {
        post(&srv, tok, cid, "More of the story", 2, &e);
        sse_free(&e);
    }
    double until = now_s() + 120;
    for (;;) {
        conv = get_conv(&srv, tok, cid);
        long long now_sid = ival(thread_of(conv, thread), "summary_id");
        json_t *m = now_sid != sid2 ? find_msg(conv, now_sid) : NULL;
        long long n = m ? ival(json_object_get(json_object_get(m, "settings"), "covers"), "n") : 0;
        json_decref(conv);
        if (now_sid != sid2) {
            assert_int_equal(n, 6 + 20);
            break;
        }
        if (now_s() > until) fail_msg("no automatic summary");
        sleep_ms(200);
    }
    /* a thread of another user: 404 */
    const char *other = signup(&srv, "b@example.com", 1);
    struct rg_resp r;
    assert_int_equal(req(&srv, "POST", path, other, NULL, &r), 404);
    rg_resp_free(&r);
    /* the whole branch deleted: the summary (the newest root left) never
     * becomes the active leaf */
    conv = get_conv(&srv, tok, cid);
    long long last_sid = ival(thread_of(conv, thread), "summary_id");
    json_decref(conv);
    snprintf(path, sizeof path, "/chat/messages/%lld", u1);
    assert_int_equal(req(&srv, "DELETE", path, tok, NULL, &r), 204);
    rg_resp_free(&r);
    conv = get_conv(&srv, tok, cid);
    assert_non_null(find_msg(conv, last_sid));
    assert_int_equal(ival(conv, "active_leaf"), 0);
    json_decref(conv);
    /* a new message then starts a new root, its answer the active leaf */
    post(&srv, tok, cid, "A new start", 2, &e);
    long long fresh = ival(end_msg(&e), "id");
    assert_int_equal(ival(json_object_get(e.data[0], "user_message"), "parent_id"), 0);
    sse_free(&e);
    conv = get_conv(&srv, tok, cid);
    assert_int_equal(ival(conv, "active_leaf"), fresh);
    json_decref(conv);
    rg_harness_stop(&srv);
}

/* PUT /chat/memory (the memory module's settings); fails the test unless 200. */
static bool memory_set(struct rg_server *s, const char *tok, const char *body)
{
    struct rg_resp r;
    long st = req(s, "PUT", "/chat/memory", tok, body, &r);
    rg_resp_free(&r);
    if (st != 200) fail_msg("PUT /chat/memory %s: %ld", body, st);
    return true;
}

/* Topic shift with the test embedder: "new" starts a thread, "suggest" says so. */
static void test_topic_shift(void **state)
{
    (void)state;
    if (!g_model[0]) skip();
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    if (!memory_set(&srv, tok, "{\"auto_thread\":\"new\",\"auto_thread_distance\":0.5}")) {
        rg_harness_stop(&srv);
        return;
    }
    long long cid = new_conv(&srv, tok);
    json_t *conv = get_conv(&srv, tok, cid);
    long long main_thread = ival(conv, "main_thread");
    json_decref(conv);
    struct sse e;
    post(&srv, tok, cid, "the cat sat on the mat with the cat", 2, &e);
    assert_null(json_object_get(e.data[0], "new_thread")); /* nothing to compare with */
    sse_free(&e);
    post(&srv, tok, cid, "the cat sat on the mat", 2, &e);
    assert_null(json_object_get(e.data[0], "new_thread"));
    assert_int_equal(ival(json_object_get(e.data[0], "user_message"), "thread_id"), main_thread);
    sse_free(&e);
    post(&srv, tok, cid, "quantum gluon lattice chromodynamics", 2, &e);
    json_t *nt = json_object_get(e.data[0], "new_thread");
    if (!nt) fail_msg("no new thread: %s", json_dumps(e.data[0], 0));
    long long t2 = ival(nt, "id");
    assert_true(t2 > 0 && t2 != main_thread);
    assert_int_equal(ival(json_object_get(e.data[0], "user_message"), "thread_id"), t2);
    assert_int_equal(ival(end_msg(&e), "thread_id"), t2); /* its answer too */
    sse_free(&e);
    /* suggest: the message stays, the start event says how far */
    assert_true(memory_set(&srv, tok, "{\"auto_thread\":\"suggest\"}"));
    post(&srv, tok, cid, "bananas mango papaya orchard", 2, &e);
    json_t *ts = json_object_get(e.data[0], "topic_shift");
    if (!ts) fail_msg("no topic shift: %s", json_dumps(e.data[0], 0));
    assert_true(json_real_value(json_object_get(ts, "distance")) > 0.5);
    assert_int_equal(ival(ts, "thread_id"), t2);
    assert_null(json_object_get(e.data[0], "new_thread"));
    assert_int_equal(ival(json_object_get(e.data[0], "user_message"), "thread_id"), t2);
    sse_free(&e);
    /* off: nothing */
    assert_true(memory_set(&srv, tok, "{\"auto_thread\":\"off\"}"));
    post(&srv, tok, cid, "volcano magma basalt eruption", 2, &e);
    assert_null(json_object_get(e.data[0], "topic_shift"));
    assert_null(json_object_get(e.data[0], "new_thread"));
    sse_free(&e);
    rg_harness_stop(&srv);
}

/* Prior messages: opt-in, from the user's other conversations only. */
static void test_prior(void **state)
{
    (void)state;
    if (!g_model[0]) skip();
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long ca = new_conv(&srv, tok);
    struct sse e;
    post(&srv, tok, ca, "The purple dragon eats ripe bananas in the old castle", 2, &e);
    long long ua = ival(json_object_get(e.data[0], "user_message"), "id");
    sse_free(&e);
    long long cb = new_conv(&srv, tok);
    const char *q = "Does the purple dragon eat bananas in the castle";
    const char *on = "{\"memory\":{\"prior\":true}}";
    double until = now_s() + 60;
    json_t *rec = NULL, *pi = NULL;
    for (;;) { /* the vectors are made by a background job */
        rec = dry(&srv, tok, cb, q, on, 200);
        pi = item(rec, "prior", 0);
        if (included(pi)) break;
        if (now_s() > until) fail_msg("no prior message: %s", json_dumps(rec, 0));
        json_decref(rec);
        sleep_ms(200);
    }
    assert_int_equal(ival(json_object_get(pi, "ref"), "conversation_id"), ca);
    assert_int_equal(ival(json_object_get(pi, "ref"), "message_id"), ua);
    assert_non_null(strstr(sval(pi, "reason"), "similar to your question ("));
    assert_true(ival(pi, "tokens") > 0);
    json_decref(rec);
    /* not opted in: turned off */
    rec = dry(&srv, tok, cb, q, NULL, 200);
    assert_string_equal(sval(item(rec, "prior", 0), "reason"), "turned off");
    json_decref(rec);
    /* a real answer keeps it in its record */
    post_with(&srv, tok, cb, q, "{\"max_tokens\":2,\"memory\":{\"prior\":true}}", &e);
    long long ab = ival(end_msg(&e), "id");
    sse_free(&e);
    rec = context_of(&srv, tok, ab);
    assert_true(included(item(rec, "prior", 0)));
    assert_int_equal(ival(json_object_get(item(rec, "prior", 0), "ref"), "conversation_id"), ca);
    json_decref(rec);
    /* never from the conversation itself */
    rec = dry(&srv, tok, ca, q, on, 200);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(rec, "items"), i,
                       it) if (!strcmp(sval(it, "source"), "prior"))
        assert_true(ival(json_object_get(it, "ref"), "conversation_id") != ca);
    json_decref(rec);
    /* never another user's */
    const char *other = signup(&srv, "b@example.com", 1);
    long long cc = new_conv(&srv, other);
    rec = dry(&srv, other, cc, q, on, 200);
    assert_false(included(item(rec, "prior", 0)));
    json_decref(rec);
    rg_harness_stop(&srv);
}

int main(void)
{
    if (!rg_test_data_path(g_model, sizeof g_model, "models/stories260K.gguf")) {
        fprintf(stderr, "SKIP: ../shared/testdata/models/stories260K.gguf is absent\n");
        g_model[0] = '\0';
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget),    cmocka_unit_test(test_sources),
        cmocka_unit_test(test_summaries), cmocka_unit_test(test_topic_shift),
        cmocka_unit_test(test_prior),
    };
    int rc = cmocka_run_group_tests_name("memory_context/sqlite", tests, NULL, NULL);
    int pg = rg_harness_pg_pass("memory_context");
    if (pg < 0) return 1;
    if (pg > 0) rc |= cmocka_run_group_tests_name("memory_context/postgres", tests, NULL, NULL);
    return rc;
}
