/*
 * Answers in kept conversations (docs/chat.md) against the real server and
 * the small model stories260K: a posted message streams start, delta and
 * end events and both messages are saved; the next turn's prompt holds the
 * history; regenerate, edit and continue make the versions the tree
 * promises; a client that leaves mid-answer leaves a saved incomplete
 * answer; a server killed (SIGKILL) mid-answer loses no committed message;
 * a refusal saves nothing; the title job names the conversation; /v1 keeps
 * nothing; a conversation over a library collection answers with sources.
 *
 * Runs on SQLite, then on PostgreSQL when one is reachable (PGHOST set, as
 * under pg_virtualenv; RG_REQUIRE_PG=1 makes its absence a failure). Waits
 * are generous deadlines, not timings.
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
    rg_harness_start(s, "rg_answers", NULL, NULL);
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
    json_array_foreach(json_object_get(conv, "messages"), i, m) if (
        json_integer_value(json_object_get(m, "id")) == id) return m;
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
    char path[96], body[512];
    snprintf(path, sizeof path, "/chat/conversations/%lld/messages", conv);
    snprintf(body, sizeof body,
             "{\"content\":\"%s\",\"settings\":{\"max_tokens\":%d,\"temperature\":0}}", content,
             max_tokens);
    answer(s, tok, path, body, e);
}

/* ---- tests ------------------------------------------------------------------ */

/* A message and its answer: the events, what is saved, and the next turn. */
static void test_post_and_history(void **state)
{
    (void)state;
    if (!g_model[0]) skip();
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long cid = new_conv(&srv, tok);
    struct sse e;
    post(&srv, tok, cid, "Once upon a time", 12, &e);
    json_t *um = json_object_get(e.data[0], "user_message");
    json_t *am = json_object_get(e.data[0], "assistant_message");
    assert_string_equal(sval(um, "content"), "Once upon a time");
    assert_string_equal(sval(um, "type"), "user");
    assert_true(json_is_true(json_object_get(am, "incomplete")));
    assert_int_equal(ival(am, "parent_id"), ival(um, "id"));
    json_t *fin = end_msg(&e);
    assert_int_equal(ival(fin, "id"), ival(am, "id"));
    assert_false(json_is_true(json_object_get(fin, "incomplete")));
    assert_true(!strcmp(sval(fin, "finish"), "stop") || !strcmp(sval(fin, "finish"), "length"));
    assert_string_equal(sval(fin, "content"), e.deltas); /* what was sent is what is kept */
    assert_true(strlen(e.deltas) > 0);
    assert_string_equal(sval(fin, "model"), "stories");
    long long p1 = ival(fin, "prompt_tokens"), c1 = ival(fin, "completion_tokens");
    assert_true(p1 > 0 && c1 > 0);
    long long job = ival(e.data[e.n - 1], "title_job");
    assert_true(job > 0);
    long long am_id = ival(am, "id");

    json_t *conv = get_conv(&srv, tok, cid);
    assert_int_equal(json_array_size(json_object_get(conv, "messages")), 2);
    assert_int_equal(ival(conv, "active_leaf"), ival(fin, "id"));
    assert_string_equal(sval(find_msg(conv, ival(fin, "id")), "content"), e.deltas);
    json_decref(conv);
    sse_free(&e);

    /* the title job names it */
    char path[96];
    snprintf(path, sizeof path, "/jobs/%lld", job);
    double until = now_s() + 60;
    for (;;) {
        json_t *j = call(&srv, "GET", path, tok, NULL, 200);
        bool done = !strcmp(sval(j, "state"), "done");
        if (!done && now_s() > until) fail_msg("title job: %s", json_dumps(j, 0));
        json_decref(j);
        if (done) break;
        sleep_ms(100);
    }
    conv = get_conv(&srv, tok, cid);
    assert_true(strlen(sval(conv, "title")) > 0);
    assert_true(strlen(sval(conv, "title")) <= 60);
    json_decref(conv);

    /* the second turn's prompt holds the first exchange */
    post(&srv, tok, cid, "The end", 4, &e);
    fin = end_msg(&e);
    assert_true(ival(fin, "prompt_tokens") >= p1 + c1);
    assert_int_equal(ival(e.data[e.n - 1], "title_job"), 0); /* named already */
    json_t *um2 = json_object_get(e.data[0], "user_message");
    assert_int_equal(ival(um2, "parent_id"), am_id);
    sse_free(&e);
    rg_harness_stop(&srv);
}

/* Regenerate, edit and continue make versions in the tree. */
static void test_versions(void **state)
{
    (void)state;
    if (!g_model[0]) skip();
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long cid = new_conv(&srv, tok);
    struct sse e;
    post(&srv, tok, cid, "Lily had a ball", 3, &e);
    long long u1 = ival(json_object_get(e.data[0], "user_message"), "id");
    long long a1 = ival(end_msg(&e), "id");
    assert_string_equal(sval(end_msg(&e), "finish"), "length"); /* 3 tokens: cut */
    char *a1_text = strdup(sval(end_msg(&e), "content"));
    sse_free(&e);

    /* continue: the same message goes on */
    char path[96];
    snprintf(path, sizeof path, "/chat/messages/%lld/continue", a1);
    answer(&srv, tok, path, "{}", &e);
    json_t *fin = end_msg(&e);
    assert_int_equal(ival(fin, "id"), a1);
    assert_true(json_is_null(json_object_get(e.data[0], "user_message")));
    assert_int_equal(strncmp(sval(fin, "content"), a1_text, strlen(a1_text)), 0);
    assert_true(strlen(sval(fin, "content")) > strlen(a1_text));
    sse_free(&e);
    free(a1_text);

    /* regenerate: a sibling answer, now active */
    snprintf(path, sizeof path, "/chat/messages/%lld/regenerate", a1);
    answer(&srv, tok, path, "{\"settings\":{\"max_tokens\":3,\"seed\":7,\"temperature\":1}}", &e);
    long long a2 = ival(end_msg(&e), "id");
    assert_true(a2 != a1);
    assert_int_equal(ival(end_msg(&e), "parent_id"), u1);
    json_t *sib = json_object_get(end_msg(&e), "siblings");
    assert_int_equal(json_array_size(sib), 2);
    assert_int_equal(ival(end_msg(&e), "sibling_index"), 1);
    sse_free(&e);

    /* edit the user message: a sibling question with its own answer */
    snprintf(path, sizeof path, "/chat/messages/%lld/edit", u1);
    answer(&srv, tok, path, "{\"content\":\"Tom had a dog\",\"settings\":{\"max_tokens\":3}}", &e);
    json_t *u2 = json_object_get(e.data[0], "user_message");
    assert_int_equal(ival(u2, "parent_id"), 0); /* a root, as u1 */
    assert_string_equal(sval(u2, "content"), "Tom had a dog");
    long long a3 = ival(end_msg(&e), "id");
    assert_int_equal(ival(end_msg(&e), "parent_id"), ival(u2, "id"));
    sse_free(&e);
    json_t *conv = get_conv(&srv, tok, cid);
    assert_int_equal(json_array_size(json_object_get(conv, "messages")), 5);
    assert_int_equal(ival(conv, "active_leaf"), a3);
    json_decref(conv);

    /* regenerating a user message, or editing into nothing, is refused */
    snprintf(path, sizeof path, "/chat/messages/%lld/regenerate", u1);
    struct rg_resp r;
    assert_int_equal(req(&srv, "POST", path, tok, "{}", &r), 400);
    rg_resp_free(&r);
    snprintf(path, sizeof path, "/chat/messages/%lld/edit", u1);
    assert_int_equal(req(&srv, "POST", path, tok, "{\"content\":\"\"}", &r), 400);
    rg_resp_free(&r);
    conv = get_conv(&srv, tok, cid);
    assert_int_equal(json_array_size(json_object_get(conv, "messages")), 5);
    json_decref(conv);
    rg_harness_stop(&srv);
}

/* Polls the conversation until message id has finish set; that message (a copy). */
static json_t *wait_finished(struct rg_server *s, const char *tok, long long cid, long long id)
{
    double until = now_s() + 60;
    for (;;) {
        json_t *conv = get_conv(s, tok, cid);
        json_t *m = find_msg(conv, id);
        assert_non_null(m);
        if (sval(m, "finish")[0]) {
            json_t *c = json_deep_copy(m);
            json_decref(conv);
            return c;
        }
        json_decref(conv);
        if (now_s() > until) fail_msg("message %lld never finished", id);
        sleep_ms(100);
    }
}

/* Starts a long streamed answer over a raw socket and reads until its first
 * delta; the socket and the assistant message's id. */
static int start_long_answer(struct rg_server *s, const char *tok, long long cid, long long *am)
{
    char body[256], head[2048];
    snprintf(body, sizeof body,
             "{\"content\":\"Once upon a time\",\"settings\":{\"max_tokens\":400,"
             "\"temperature\":1,\"seed\":3}}");
    int n = snprintf(head, sizeof head,
                     "POST /chat/conversations/%lld/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     cid, tok, strlen(body), body);
    int fd = rg_tcp_connect(s->port);
    assert_true(fd >= 0);
    assert_int_equal(rg_tcp_send(fd, head, (size_t)n), 0);
    size_t len;
    char *got = rg_tcp_read_until(fd, "event: delta", 1, 30000, &len);
    assert_non_null(got);
    if (!strstr(got, "event: delta")) fail_msg("no delta: %s", got);
    const char *a = strstr(got, "\"assistant_message\"");
    assert_non_null(a);
    const char *idp = strstr(a, "\"id\":");
    assert_non_null(idp);
    *am = strtoll(idp + 5, NULL, 10);
    assert_true(*am > 0);
    free(got);
    return fd;
}

/* A client that leaves mid-answer: the answer so far is kept, incomplete. */
static void test_disconnect_keeps_partial(void **state)
{
    (void)state;
    if (!g_model[0]) skip();
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long cid = new_conv(&srv, tok);
    long long am;
    int fd = start_long_answer(&srv, tok, cid, &am);
    close(fd);
    json_t *m = wait_finished(&srv, tok, cid, am);
    assert_string_equal(sval(m, "finish"), "cancelled");
    assert_true(json_is_true(json_object_get(m, "incomplete")));
    assert_true(strlen(sval(m, "content")) > 0); /* at least the first delta */
    assert_true(ival(m, "completion_tokens") < 400);
    json_decref(m);
    rg_harness_stop(&srv);
}

/* The server dies mid-answer: after a restart every committed message is there. */
static void test_kill_mid_answer(void **state)
{
    (void)state;
    if (!g_model[0]) skip();
    struct rg_server a, b;
    start(&a);
    const char *tok = signup(&a, "a@example.com", 0);
    long long cid = new_conv(&a, tok);
    struct sse e;
    post(&a, tok, cid, "First", 3, &e); /* a whole exchange first */
    long long a1 = ival(end_msg(&e), "id");
    char *a1_text = strdup(sval(end_msg(&e), "content"));
    sse_free(&e);
    long long am;
    int fd = start_long_answer(&a, tok, cid, &am);
    rg_server_signal(&a, SIGKILL);
    rg_server_wait(&a, 10);
    close(fd);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/data", a.dir);
    const char *args[] = {"--data-dir", dir, NULL};
    rg_harness_start_on(&b, args, NULL);
    json_t *conv = get_conv(&b, tok, cid);
    assert_int_equal(json_array_size(json_object_get(conv, "messages")), 4);
    assert_string_equal(sval(find_msg(conv, a1), "content"), a1_text);
    json_t *m = find_msg(conv, am);
    assert_non_null(m);
    assert_true(json_is_true(json_object_get(m, "incomplete"))); /* never finished */
    json_t *u = find_msg(conv, ival(m, "parent_id"));
    assert_non_null(u);
    assert_string_equal(sval(u, "content"), "Once upon a time");
    json_decref(conv);
    free(a1_text);
    rg_harness_stop(&b);
    rg_server_stop(&a);
}

/* Refusals save nothing; other users, readonly accounts and /v1 are kept out. */
static void test_refusals(void **state)
{
    (void)state;
    if (!g_model[0]) skip();
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    const char *other = signup(&srv, "b@example.com", 1);
    long long cid = new_conv(&srv, tok);
    char path[96];
    snprintf(path, sizeof path, "/chat/conversations/%lld/messages", cid);
    struct rg_resp r;
    /* a prompt longer than the context */
    size_t big = 200000;
    char *body = malloc(big + 64);
    strcpy(body, "{\"content\":\"");
    size_t k = strlen(body);
    for (size_t i = 0; i < big; i++)
        body[k++] = i % 5 == 4 ? ' ' : 'a' + (char)(i % 7);
    strcpy(body + k, "\"}");
    assert_int_equal(req(&srv, "POST", path, tok, body, &r), 400);
    assert_non_null(strstr(r.body, "context_length_exceeded"));
    rg_resp_free(&r);
    free(body);
    const char *bad[] = {
        "{\"content\":\"hi\",\"model\":\"no-such-model\"}",  /* 404 */
        "{\"content\":\"hi\",\"settings\":{\"temperature\":\"hot\"}}",
        "{\"content\":\"hi\",\"settings\":{\"colour\":1}}", "{\"content\":\"hi\",\"extra\":1}",
        "{\"content\":5}",
        "{\"content\":\"hi\",\"parent_id\":999999}", /* no such message: 404 */
        "{\"content\":\"hi\",\"stream\":\"yes\"}",
    };
    const long want[] = {404, 400, 400, 400, 400, 404, 400};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        long st = req(&srv, "POST", path, tok, bad[i], &r);
        if (st != want[i]) fail_msg("%s: %ld %.*s", bad[i], st, (int)r.len, r.body);
        rg_resp_free(&r);
    }
    /* another user cannot post into it, nor regenerate in it */
    assert_int_equal(req(&srv, "POST", path, other, "{\"content\":\"hi\"}", &r), 404);
    rg_resp_free(&r);
    json_t *conv = get_conv(&srv, tok, cid);
    assert_int_equal(json_array_size(json_object_get(conv, "messages")), 0);
    json_decref(conv);
    struct sse e;
    post(&srv, tok, cid, "Hello", 2, &e);
    long long am = ival(end_msg(&e), "id");
    long long um = ival(json_object_get(e.data[0], "user_message"), "id");
    sse_free(&e);
    const char *verbs[] = {"regenerate", "continue", "edit"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/chat/messages/%lld/%s", i == 2 ? um : am, verbs[i]);
        assert_int_equal(req(&srv, "POST", path, other, i == 2 ? "{\"content\":\"x\"}" : "{}", &r),
                         404);
        rg_resp_free(&r);
    }
    /* a readonly account may read its conversations but not post */
    long long bcid = new_conv(&srv, other);
    json_t *users = call(&srv, "GET", "/admin/users", tok, NULL, 200);
    long long bid = 0;
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(users, "data"), i, u) if (!strcmp(sval(u, "email"),
                                                                         "b@example.com")) bid =
        ival(u, "id");
    json_decref(users);
    assert_true(bid > 0);
    char upath[64];
    snprintf(upath, sizeof upath, "/admin/users/%lld", bid);
    json_decref(call(&srv, "PATCH", upath, tok, "{\"role\":\"readonly\"}", 200));
    snprintf(path, sizeof path, "/chat/conversations/%lld/messages", bcid);
    assert_int_equal(req(&srv, "POST", path, other, "{\"content\":\"hi\"}", &r), 403);
    rg_resp_free(&r);
    conv = get_conv(&srv, other, bcid);
    assert_int_equal(json_array_size(json_object_get(conv, "messages")), 0);
    json_decref(conv);
    conv = get_conv(&srv, tok, cid);
    assert_int_equal(json_array_size(json_object_get(conv, "messages")), 2);
    json_decref(conv);

    /* /v1 keeps nothing */
    json_t *before = call(&srv, "GET", "/chat/conversations", tok, NULL, 200);
    size_t nb = json_array_size(json_object_get(before, "data"));
    json_decref(before);
    json_decref(call(&srv, "POST", "/v1/chat/completions", tok,
                     "{\"model\":\"stories\",\"max_tokens\":2,"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                     200));
    json_t *after = call(&srv, "GET", "/chat/conversations", tok, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(after, "data")), nb);
    json_decref(after);
    rg_harness_stop(&srv);
}

/* stream false: the whole answer as one JSON body, saved the same way. */
static void test_not_streamed(void **state)
{
    (void)state;
    if (!g_model[0]) skip();
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long cid = new_conv(&srv, tok);
    char path[96];
    snprintf(path, sizeof path, "/chat/conversations/%lld/messages", cid);
    json_t *o = call(&srv, "POST", path, tok,
                     "{\"content\":\"Hi\",\"stream\":false,\"settings\":{\"max_tokens\":4}}", 200);
    json_t *m = json_object_get(o, "message");
    assert_non_null(m);
    assert_false(json_is_true(json_object_get(m, "incomplete")));
    json_t *conv = get_conv(&srv, tok, cid);
    assert_string_equal(sval(find_msg(conv, ival(m, "id")), "content"), sval(m, "content"));
    json_decref(conv);
    json_decref(o);
    rg_harness_stop(&srv);
}


/* An upload of name with body (a raw upload); the document id, waited for ready. */
static long long upload_ready(struct rg_server *s, const char *tok, const char *name,
                              const char *body, long long *collection)
{
    char path[160];
    snprintf(path, sizeof path, "/library/documents?name=%s", name);
    json_t *d = call(s, "POST", path, tok, body, 201);
    long long id = ival(d, "id");
    *collection = ival(d, "collection_id");
    json_decref(d);
    assert_true(id > 0 && *collection > 0);
    snprintf(path, sizeof path, "/library/documents/%lld", id);
    double until = now_s() + 60;
    for (;;) {
        json_t *x = call(s, "GET", path, tok, NULL, 200);
        const char *state = sval(x, "state");
        bool ready = !strcmp(state, "ready");
        if (!strcmp(state, "error")) fail_msg("indexing failed: %s", json_dumps(x, 0));
        json_decref(x);
        if (ready) return id;
        if (now_s() > until) fail_msg("document %lld never ready", id);
        sleep_ms(100);
    }
}

/* A conversation over a collection: the passages found are the answer's
 * sources, saved with it and given to the model; another user's collection
 * is refused before anything is saved. */
static void test_library_sources(void **state)
{
    (void)state;
    if (!g_model[0]) skip();
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    const char *other = signup(&srv, "b@example.com", 1);
    long long col = 0;
    upload_ready(&srv, tok, "rivers.md",
                 "---\ntitle: Rivers of Europe\n---\n# Rivers of Europe\n\n## The Danube\n\nThe Danube flows through Vienna and "
                 "Budapest before it reaches the Black Sea.\n\n## The Rhine\n\nThe Rhine "
                 "rises in the Alps and meets the North Sea near Rotterdam.\n",
                 &col);
    /* without the collection: no sources, a shorter prompt */
    long long plain = new_conv(&srv, tok);
    struct sse e;
    post(&srv, tok, plain, "Which river flows through Vienna", 2, &e);
    long long p_plain = ival(end_msg(&e), "prompt_tokens");
    assert_null(json_object_get(json_object_get(end_msg(&e), "settings"), "sources"));
    sse_free(&e);

    json_t *c = call(&srv, "POST", "/chat/conversations", tok, "{}", 201);
    long long cid = ival(c, "id");
    json_decref(c);
    char path[96], body[160];
    snprintf(path, sizeof path, "/chat/conversations/%lld", cid);
    snprintf(body, sizeof body, "{\"settings\":{\"collections\":[%lld]}}", col);
    json_decref(call(&srv, "PATCH", path, tok, body, 200));
    post(&srv, tok, cid, "Which river flows through Vienna", 2, &e);
    json_t *first = json_object_get(json_object_get(json_object_get(e.data[0], "assistant_message"),
                                                    "settings"),
                                    "sources");
    json_t *src = json_object_get(json_object_get(end_msg(&e), "settings"), "sources");
    assert_true(json_array_size(first) >= 1); /* known while the answer streams */
    assert_true(json_array_size(src) >= 1);
    json_t *s0 = json_array_get(src, 0);
    assert_int_equal(ival(s0, "n"), 1);
    assert_string_equal(sval(s0, "title"), "Rivers of Europe");
    assert_non_null(strstr(sval(s0, "heading"), "Danube"));
    assert_true(ival(s0, "chunk_id") > 0);
    assert_true(ival(end_msg(&e), "prompt_tokens") > p_plain + 10); /* the passage was read */
    long long chunk = ival(s0, "chunk_id");
    sse_free(&e);
    /* the cited passage opens */
    snprintf(path, sizeof path, "/library/chunks/%lld", chunk);
    struct rg_resp r;
    assert_int_equal(req(&srv, "GET", path, tok, NULL, &r), 200);
    assert_non_null(strstr(r.body, "Vienna"));
    rg_resp_free(&r);
    /* saved: the message read back has them */
    json_t *conv = get_conv(&srv, tok, cid);
    json_t *saved = find_msg(conv, ival(conv, "active_leaf"));
    assert_true(json_array_size(json_object_get(json_object_get(saved, "settings"), "sources")) >= 1);
    json_decref(conv);

    /* /v1 with the extension: the same passages, sources in the reply */
    char v1[400];
    snprintf(v1, sizeof v1,
             "{\"model\":\"stories\",\"max_tokens\":2,\"rustygpt\":{\"collections\":[%lld]},"
             "\"messages\":[{\"role\":\"user\",\"content\":\"Which river flows through Vienna\"}]}",
             col);
    json_t *o = call(&srv, "POST", "/v1/chat/completions", tok, v1, 200);
    json_t *vs = json_object_get(json_object_get(o, "rustygpt"), "sources");
    assert_true(json_array_size(vs) >= 1);
    assert_int_equal(ival(json_array_get(vs, 0), "chunk_id"), chunk);
    assert_true(ival(json_object_get(o, "usage"), "prompt_tokens") > p_plain + 10);
    json_decref(o);
    snprintf(v1, sizeof v1,
             "{\"model\":\"stories\",\"max_tokens\":2,\"stream\":true,\"rustygpt\":{\"collections\":[%lld]},"
             "\"messages\":[{\"role\":\"user\",\"content\":\"Which river flows through Vienna\"}]}",
             col);
    assert_int_equal(req(&srv, "POST", "/v1/chat/completions", tok, v1, &r), 200);
    const char *firstdata = strstr(r.body, "data: ");
    assert_non_null(firstdata);
    assert_non_null(strstr(firstdata, "\"rustygpt\":{\"sources\":[{"));
    assert_true(strstr(firstdata, "\"rustygpt\"") < strstr(firstdata, "\n\n")); /* the first chunk */
    rg_resp_free(&r);
    assert_int_equal(req(&srv, "POST", "/v1/chat/completions", NULL, v1, &r), 401); /* whose? */
    rg_resp_free(&r);

    /* b may not answer from a's collection: 404, nothing saved */
    long long bc = new_conv(&srv, other);
    snprintf(path, sizeof path, "/chat/conversations/%lld/messages", bc);
    snprintf(body, sizeof body, "{\"content\":\"Vienna\",\"settings\":{\"collections\":[%lld]}}",
             col);
    assert_int_equal(req(&srv, "POST", path, other, body, &r), 404);
    rg_resp_free(&r);
    conv = get_conv(&srv, other, bc);
    assert_int_equal(json_array_size(json_object_get(conv, "messages")), 0);
    json_decref(conv);
    /* a malformed list is a 400 */
    assert_int_equal(req(&srv, "POST", path, other,
                         "{\"content\":\"x\",\"settings\":{\"collections\":[\"a\"]}}", &r),
                     400);
    rg_resp_free(&r);
    rg_harness_stop(&srv);
}

int main(void)
{
    if (!rg_test_data_path(g_model, sizeof g_model, "models/stories260K.gguf")) {
        fprintf(stderr, "SKIP: ../shared/testdata/models/stories260K.gguf is absent\n");
        g_model[0] = '\0';
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_and_history),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_disconnect_keeps_partial),
        cmocka_unit_test(test_kill_mid_answer),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_not_streamed),
        cmocka_unit_test(test_library_sources),
    };
    int rc = cmocka_run_group_tests_name("conversation_answers/sqlite", tests, NULL, NULL);
    int pg = rg_harness_pg_pass("conversation_answers");
    if (pg < 0) return 1;
    if (pg > 0) rc |= cmocka_run_group_tests_name("conversation_answers/postgres", tests, NULL, NULL);
    return rc;
}
