/*
 * The OpenAI-compatible API on a real model (stories260K from the reference
 * data): completions match llama.cpp's greedy continuation, streamed and not;
 * chat completions have the OpenAI shape; stop strings never leak; usage
 * counts tokens; errors name the bad parameter; a client that leaves frees
 * its slot.
 */
#include "test.h"

#include <math.h>

#include <jansson.h>

#include "engine/gguf/gguf.h"
#include "harness.h"

static struct rg_server srv;
static char want[4096];
static bool have_data;

static int setup(void **state)
{
    (void)state;
    char model[512], gen[512];
    have_data = rg_test_data_path(model, sizeof model, "models/stories260K.gguf") &&
                rg_test_data_path(gen, sizeof gen, "reference/stories260K/kvf32-nofa/p0.gen.txt");
    if (!have_data) {
        fprintf(stderr, "SKIP: ../shared/testdata/models/stories260K.gguf is absent\n");
        return 0;
    }
    size_t n;
    char *g = rg_test_read_file(gen, &n);
    snprintf(want, sizeof want, "%s", g);
    free(g);
    /* a context shorter than the model's 2048: what clients are told */
    const char *args[] = {"--parallel", "2", "--threads", "2", "--ctx-size", "1024", NULL};
    if (rg_server_start(&srv, args, NULL) != 0) return -1;
    char link[600];
    snprintf(link, sizeof link, "%s/models/stories260K.gguf", srv.dir);
    return symlink(model, link);
}

static int teardown(void **state)
{
    (void)state;
    if (!have_data) return 0;
    return rg_server_stop(&srv) == 0 ? 0 : -1;
}

static json_t *post(const char *path, const char *body, long want_status)
{
    struct rg_resp r;
    const char *h[] = {"Content-Type: application/json", NULL};
    assert_int_equal(rg_http(&srv, "POST", path, h, body, strlen(body), &r), 0);
    if (r.status != want_status)
        fail_msg("%s: status %ld, want %ld: %s", path, r.status, want_status, r.body);
    json_error_t je;
    json_t *j = json_loadb(r.body, r.len, 0, &je);
    if (!j) fail_msg("not JSON: %s", r.body);
    rg_resp_free(&r);
    return j;
}

/* A greedy /v1/completions of prompt (any text: it is JSON-encoded here). */
static json_t *complete(const char *prompt, int max_tokens)
{
    json_t *b = json_pack("{s:s, s:s, s:i, s:i}", "model", "stories260K", "prompt", prompt,
                          "max_tokens", max_tokens, "temperature", 0);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    json_t *j = post("/v1/completions", body, 200);
    free(body);
    return j;
}

/* "<before>i<after>" for i = 0..n-1, one after another, into out. */
static void numbered(char *out, size_t cap, const char *before, const char *after, int n)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%d%s", before, i, after);
}

/* POST /v1/completions with body on a raw connection, left open for the
 * caller to read the stream from (and close). */
static int post_open(const char *body)
{
    int fd = rg_tcp_connect(srv.port);
    assert_true(fd >= 0);
    size_t len = strlen(body), cap = len + 256;
    char *req = malloc(cap);
    int n = snprintf(req, cap,
                     "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     len, body);
    assert_int_equal(rg_tcp_send(fd, req, (size_t)n), 0);
    free(req);
    return fd;
}

#define NEED_DATA()                                                                                \
    if (!have_data) skip()

static void test_models(void **state)
{
    (void)state;
    NEED_DATA();
    struct rg_resp r;
    assert_int_equal(rg_http(&srv, "GET", "/v1/models", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"id\":\"stories260K\""));
    assert_non_null(strstr(r.body, "\"object\":\"list\""));
    rg_resp_free(&r);
    assert_int_equal(rg_http(&srv, "GET", "/v1/models/stories260K", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *m = json_loadb(r.body, r.len, 0, NULL);
    /* the context a prompt must fit (--ctx-size), the model's own under meta */
    assert_int_equal(json_integer_value(json_object_get(m, "context_length")), 1024);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "meta"), "n_ctx_train")),
                     2048);
    assert_string_equal(json_string_value(json_array_get(json_object_get(m, "capabilities"), 0)),
                        "completion");
    json_decref(m);
    rg_resp_free(&r);
    assert_int_equal(rg_http(&srv, "GET", "/v1/models/nope", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 404);
    rg_resp_free(&r);
}

static void test_completion_matches_reference(void **state)
{
    (void)state;
    NEED_DATA();
    json_t *j = post("/v1/completions",
                     "{\"model\":\"stories260K\",\"prompt\":\"Once upon a "
                     "time\",\"max_tokens\":64,\"temperature\":0}",
                     200);
    json_t *c = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "text")), want);
    assert_string_equal(json_string_value(json_object_get(c, "finish_reason")), "length");
    json_t *u = json_object_get(j, "usage");
    assert_int_equal(json_integer_value(json_object_get(u, "completion_tokens")), 64);
    assert_int_equal(json_integer_value(json_object_get(u, "prompt_tokens")), 5); /* BOS + 4 */
    assert_int_equal(json_integer_value(json_object_get(u, "total_tokens")), 69);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "text_completion");
    json_decref(j);
}

static void test_stream_matches_reference(void **state)
{
    (void)state;
    NEED_DATA();
    struct rg_resp r;
    const char body[] = "{\"model\":\"stories260K\",\"prompt\":\"Once upon a "
                        "time\",\"max_tokens\":64,\"temperature\":0,"
                        "\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
    assert_int_equal(rg_http(&srv, "POST", "/v1/completions", NULL, body, sizeof body - 1, &r), 0);
    assert_int_equal(r.status, 200);
    char text[4096] = "";
    size_t tl = 0;
    bool done = false, usage = false;
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "data: ", 6)) continue;
        if (!strcmp(line + 6, "[DONE]")) {
            done = true;
            continue;
        }
        json_error_t je;
        json_t *j = json_loads(line + 6, 0, &je);
        assert_non_null(j);
        json_t *c = json_array_get(json_object_get(j, "choices"), 0);
        const char *t = json_string_value(json_object_get(c, "text"));
        if (t) tl += (size_t)snprintf(text + tl, sizeof text - tl, "%s", t);
        if (json_object_get(j, "usage")) usage = true;
        json_decref(j);
    }
    assert_true(done);
    assert_true(usage);
    assert_string_equal(text, want);
    rg_resp_free(&r);
}

static void test_stop_strings(void **state)
{
    (void)state;
    NEED_DATA();
    json_t *j = post("/v1/completions",
                     "{\"model\":\"stories260K\",\"prompt\":\"Once upon a "
                     "time\",\"max_tokens\":64,\"temperature\":0,"
                     "\"stop\":[\"Lily\",\"zzz\"]}",
                     200);
    json_t *c = json_array_get(json_object_get(j, "choices"), 0);
    const char *text = json_string_value(json_object_get(c, "text"));
    const char *cut = strstr(want, "Lily");
    assert_non_null(cut);
    assert_int_equal(strlen(text), (size_t)(cut - want));
    assert_memory_equal(text, want, strlen(text));
    assert_string_equal(json_string_value(json_object_get(c, "finish_reason")), "stop");
    json_decref(j);
}

static void test_chat_shape(void **state)
{
    (void)state;
    NEED_DATA();
    json_t *j = post(
        "/v1/chat/completions",
        "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Tell a story\"}]}],"
        "\"max_tokens\":8,\"seed\":3}",
        200);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "chat.completion");
    assert_true(strncmp(json_string_value(json_object_get(j, "id")), "chatcmpl-", 9) == 0);
    json_t *c = json_array_get(json_object_get(j, "choices"), 0);
    json_t *m = json_object_get(c, "message");
    assert_string_equal(json_string_value(json_object_get(m, "role")), "assistant");
    assert_true(json_is_string(json_object_get(m, "content")));
    json_t *u = json_object_get(j, "usage");
    assert_true(json_integer_value(json_object_get(u, "prompt_tokens")) > 10);
    assert_true(json_integer_value(json_object_get(u, "completion_tokens")) <= 8);
    json_decref(j);
}

static void expect_400(const char *path, const char *body, const char *param)
{
    json_t *j = post(path, body, 400);
    json_t *e = json_object_get(j, "error");
    assert_non_null(e);
    if (param) assert_string_equal(json_string_value(json_object_get(e, "param")), param);
    json_decref(j);
}

static void test_errors(void **state)
{
    (void)state;
    NEED_DATA();
    expect_400("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
               "model");
    expect_400("/v1/chat/completions", "{\"model\":\"stories260K\",\"messages\":[]}", "messages");
    expect_400("/v1/chat/completions",
               "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
               "\"temperature\":5}",
               "temperature");
    expect_400("/v1/chat/completions",
               "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}",
               "messages[0].role");
    expect_400("/v1/completions", "{\"model\":\"stories260K\",\"prompt\":42}", "prompt");
    expect_400("/v1/completions", "{\"model\":\"stories260K\",\"prompt\":\"x\",\"stop\":7}",
               "stop");
    json_t *j =
        post("/v1/chat/completions",
             "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 404);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "model_not_found");
    json_decref(j);
    j = post("/v1/chat/completions", "{\"model\":\"../../etc/passwd\",\"messages\":[]}", 404);
    json_decref(j);
}

static void test_disconnect_frees_slot(void **state)
{
    (void)state;
    NEED_DATA();
    /* two clients leave in the middle of long streams; with 2 slots, a third request must still run
     */
    for (int k = 0; k < 2; k++) {
        int fd = post_open("{\"model\":\"stories260K\",\"prompt\":\"Once\",\"max_tokens\":100000,"
                           "\"stream\":true}");
        free(rg_tcp_read_until(fd, "data: ", 3, 5000, NULL));
        close(fd);
    }
    json_t *j =
        post("/v1/completions",
             "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"max_tokens\":4}", 200);
    json_decref(j);
    struct rg_resp r;
    assert_int_equal(rg_http(&srv, "GET", "/status", NULL, NULL, 0, &r), 0);
    assert_non_null(strstr(r.body, "\"id\":\"stories260K\""));
    rg_resp_free(&r);
    assert_int_equal(rg_http(&srv, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    const char *g = strstr(r.body, "\nrustygpt_generated_tokens_total ");
    assert_non_null(g);
    assert_true(atol(g + 33) > 64);
    rg_resp_free(&r);
}

static void test_embeddings(void **state)
{
    (void)state;
    NEED_DATA();
    json_t *j = post("/v1/embeddings",
                     "{\"model\":\"stories260K\",\"input\":[\"Once upon a time\",\"The dog "
                     "ran\",\"Once upon a time\"]}",
                     200);
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 3);
    double v[3][64], dots[3] = {0};
    for (int i = 0; i < 3; i++) {
        json_t *e = json_object_get(json_array_get(data, i), "embedding");
        assert_int_equal(json_array_size(e), 64);
        double norm = 0;
        for (int k = 0; k < 64; k++) {
            v[i][k] = json_number_value(json_array_get(e, k));
            norm += v[i][k] * v[i][k];
        }
        assert_true(fabs(norm - 1.0) < 1e-4);
    }
    for (int k = 0; k < 64; k++)
        dots[0] += v[0][k] * v[2][k], dots[1] += v[0][k] * v[1][k];
    assert_true(dots[0] > 0.9999); /* same text, same vector */
    assert_true(dots[1] < 0.999);  /* different text, different vector */
    assert_true(json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens")) >=
                10);
    json_decref(j);
    j = post("/v1/embeddings",
             "{\"model\":\"stories260K\",\"input\":\"hello\",\"encoding_format\":\"base64\"}", 200);
    const char *b = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "data"), 0), "embedding"));
    assert_non_null(b);
    assert_int_equal(strlen(b), (64 * 4 + 2) / 3 * 4);
    json_decref(j);
    expect_400("/v1/embeddings", "{\"model\":\"stories260K\",\"input\":[]}", "input");
    expect_400("/v1/embeddings", "{\"model\":\"stories260K\",\"input\":[\"a\",3]}", "input");
}

static void test_logprobs(void **state)
{
    (void)state;
    NEED_DATA();
    json_t *j =
        post("/v1/chat/completions",
             "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
             "\"max_tokens\":4,\"temperature\":0,\"logprobs\":true,\"top_logprobs\":3}",
             200);
    json_t *content = json_object_get(
        json_object_get(json_array_get(json_object_get(j, "choices"), 0), "logprobs"), "content");
    assert_int_equal(json_array_size(content), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *e = json_array_get(content, i);
        double lp = json_real_value(json_object_get(e, "logprob"));
        assert_true(lp <= 0);
        json_t *top = json_object_get(e, "top_logprobs");
        assert_int_equal(json_array_size(top), 3);
        /* greedy: the chosen token is the most likely one; alternatives sorted */
        assert_string_equal(json_string_value(json_object_get(json_array_get(top, 0), "token")),
                            json_string_value(json_object_get(e, "token")));
        double a = json_real_value(json_object_get(json_array_get(top, 0), "logprob")),
               b = json_real_value(json_object_get(json_array_get(top, 1), "logprob")),
               c = json_real_value(json_object_get(json_array_get(top, 2), "logprob"));
        assert_true(a >= b && b >= c);
        assert_true(fabs(a - lp) < 1e-6);
    }
    json_decref(j);
    /* streamed: every content chunk carries its token's entry */
    struct rg_resp r;
    const char body[] =
        "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"max_tokens\":3,\"temperature\":0,\"logprobs\":true,\"stream\":true}";
    assert_int_equal(rg_http(&srv, "POST", "/v1/chat/completions", NULL, body, sizeof body - 1, &r),
                     0);
    assert_int_equal(rg_count(r.body, "\"logprob\":"), 3);
    rg_resp_free(&r);
    expect_400("/v1/chat/completions",
               "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
               "\"top_logprobs\":2}",
               "top_logprobs");
}

/* What Copilot's Ollama provider calls, and Ollama's own chat/generate. */
static void test_ollama_api(void **state)
{
    (void)state;
    NEED_DATA();
    struct rg_resp r;
    assert_int_equal(rg_http(&srv, "GET", "/api/version", NULL, NULL, 0, &r), 0);
    json_error_t je;
    json_t *j = json_loads(r.body, 0, &je);
    const char *ver = json_string_value(json_object_get(j, "version"));
    assert_non_null(ver);
    int a = 0, b = 0, c = 0;
    sscanf(ver, "%d.%d.%d", &a, &b, &c);
    assert_true(a > 0 || b > 6 || (b == 6 && c >= 4)); /* Copilot refuses < 0.6.4 */
    json_decref(j);
    rg_resp_free(&r);

    assert_int_equal(rg_http(&srv, "GET", "/api/tags", NULL, NULL, 0, &r), 0);
    assert_non_null(strstr(r.body, "\"model\":\"stories260K:latest\""));
    rg_resp_free(&r);

    j = post("/api/show", "{\"model\":\"stories260K\"}", 200);
    json_t *info = json_object_get(j, "model_info");
    assert_string_equal(json_string_value(json_object_get(info, "general.architecture")), "llama");
    /* Copilot sizes its prompts by this: the served context, not the training one */
    assert_int_equal(json_integer_value(json_object_get(info, "llama.context_length")), 1024);
    assert_true(json_is_array(json_object_get(j, "capabilities")));
    json_decref(j);

    /* generate, raw, streamed as NDJSON: the pieces add up to the reference */
    const char gen[] = "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"raw\":true,"
                       "\"options\":{\"temperature\":0,\"num_predict\":64}}";
    assert_int_equal(rg_http(&srv, "POST", "/api/generate", NULL, gen, sizeof gen - 1, &r), 0);
    assert_int_equal(r.status, 200);
    char text[4096] = "";
    size_t tl = 0;
    bool done = false;
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, &je);
        if (!o) fail_msg("not an NDJSON line: %s", line);
        const char *t = json_string_value(json_object_get(o, "response"));
        if (t) tl += (size_t)snprintf(text + tl, sizeof text - tl, "%s", t);
        if (json_is_true(json_object_get(o, "done"))) {
            done = true;
            assert_int_equal(json_integer_value(json_object_get(o, "eval_count")), 64);
        }
        json_decref(o);
    }
    assert_true(done);
    assert_string_equal(text, want);
    rg_resp_free(&r);

    /* chat without streaming: one object with the message */
    j = post("/api/chat",
             "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
             "\"stream\":false,\"options\":{\"num_predict\":4,\"seed\":1}}",
             200);
    assert_true(json_is_true(json_object_get(j, "done")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "message"), "role")),
                        "assistant");
    json_decref(j);

    j = post("/api/show", "{\"model\":\"nope\"}", 404);
    json_decref(j);
    /* a model whose chat template speaks the <tool_call> protocol advertises tools */
    char src[512], dst[600], err[RG_ERR_SIZE];
    assert_non_null(rg_test_data_path(src, sizeof src, "models/stories260K.gguf"));
    snprintf(dst, sizeof dst, "%s/models/toolish.gguf", srv.dir);
    struct rg_gguf *g = rg_gguf_open(src, NULL, err);
    assert_non_null(g);
    struct rg_gguf_writer *w = rg_gguf_writer_new();
    assert_int_equal(rg_gguf_writer_copy_kv(w, g), RG_OK);
    assert_int_equal(
        rg_gguf_writer_set_str(w, "tokenizer.chat_template",
                               "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
                               "<|im_end|>{% endfor %}{# tools: <tool_call> #}"),
        RG_OK);
    for (int64_t i = 0; i < rg_gguf_n_tensors(g); i++) {
        const struct rg_gguf_tensor *t = rg_gguf_tensor(g, i);
        assert_int_equal(rg_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data),
                         RG_OK);
    }
    assert_int_equal(rg_gguf_writer_write(w, dst, err), RG_OK);
    rg_gguf_writer_free(w);
    rg_gguf_close(g);
    j = post("/api/show", "{\"model\":\"toolish\"}", 200);
    char *caps = json_dumps(json_object_get(j, "capabilities"), JSON_COMPACT);
    assert_string_equal(caps, "[\"completion\",\"tools\"]");
    free(caps);
    json_decref(j);
    j = post("/api/show", "{\"model\":\"stories260K\"}", 200);
    caps = json_dumps(json_object_get(j, "capabilities"), JSON_COMPACT);
    assert_string_equal(caps, "[\"completion\"]");
    free(caps);
    json_decref(j);
    unlink(dst);
    /* Ollama's error shape on its own endpoints */
    j = post("/api/chat",
             "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 404);
    assert_true(json_is_string(json_object_get(j, "error")));
    json_decref(j);
    assert_int_equal(rg_http(&srv, "GET", "/api/ps", NULL, NULL, 0, &r), 0);
    assert_non_null(strstr(r.body, "stories260K"));
    rg_resp_free(&r);
}

/* Tool definitions reach the prompt; tool turns are accepted; a reply without
 * a call is plain content, the same streamed or not. */
static void test_tools_requests(void **state)
{
    (void)state;
    NEED_DATA();
    const char *tool = "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                       "\"description\":\"Weather of a city\",\"parameters\":{\"type\":\"object\","
                       "\"properties\":{\"city\":{\"type\":\"string\"}}}}}]";
    char body[2048];
    json_t *plain =
        post("/v1/chat/completions",
             "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
             "\"max_tokens\":6,\"temperature\":0}",
             200);
    snprintf(body, sizeof body,
             "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
             "\"max_tokens\":6,\"temperature\":0,%s}",
             tool);
    json_t *with = post("/v1/chat/completions", body, 200);
    long p0 =
        (long)json_integer_value(json_object_get(json_object_get(plain, "usage"), "prompt_tokens"));
    long p1 =
        (long)json_integer_value(json_object_get(json_object_get(with, "usage"), "prompt_tokens"));
    assert_true(p1 > p0 + 20); /* the definitions are in the prompt */
    const char *content = json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(with, "choices"), 0), "message"),
        "content"));
    assert_non_null(content);
    /* streamed, the same content arrives */
    snprintf(body, sizeof body,
             "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
             "\"max_tokens\":6,\"temperature\":0,\"stream\":true,%s}",
             tool);
    struct rg_resp r;
    assert_int_equal(rg_http(&srv, "POST", "/v1/chat/completions", NULL, body, strlen(body), &r),
                     0);
    char text[1024] = "";
    size_t tl = 0;
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "data: {", 7)) continue;
        json_error_t je;
        json_t *j = json_loads(line + 6, 0, &je);
        const char *t = json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta"), "content"));
        if (t) tl += (size_t)snprintf(text + tl, sizeof text - tl, "%s", t);
        json_decref(j);
    }
    assert_string_equal(text, content);
    rg_resp_free(&r);
    json_decref(plain);
    json_decref(with);
    /* a conversation with a call and its result */
    snprintf(
        body, sizeof body,
        "{\"model\":\"stories260K\",\"max_tokens\":2,\"messages\":["
        "{\"role\":\"user\",\"content\":\"Weather in Oslo?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":"
        "\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"sunny\"}],%s}",
        tool);
    json_decref(post("/v1/chat/completions", body, 200));
    expect_400("/v1/chat/completions",
               "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
               "\"tools\":[{\"type\":\"function\",\"function\":{}}]}",
               "tools");
}

/* response_format: the answer is a document of the schema, streamed or not,
 * through the OpenAI and the Ollama endpoints; bad schemas are 400s. */
static void test_response_format(void **state)
{
    (void)state;
    NEED_DATA();
    const char *schema =
        "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":12},"
        "\"age\":{\"type\":\"integer\"},\"happy\":{\"type\":\"boolean\"},\"color\":{\"enum\":"
        "[\"red\",\"blue\"]}},\"required\":[\"name\",\"age\",\"happy\",\"color\"]}";
    char body[2048];
    for (int seed = 1; seed <= 3; seed++) {
        snprintf(
            body, sizeof body,
            "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":"
            "\"Describe a person as JSON\"}],\"max_tokens\":400,\"temperature\":0.8,\"seed\":%d,"
            "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":"
            "\"person\",\"strict\":true,\"schema\":%s}}}",
            seed, schema);
        json_t *resp = post("/v1/chat/completions", body, 200);
        json_t *choice = json_array_get(json_object_get(resp, "choices"), 0);
        assert_string_equal(json_string_value(json_object_get(choice, "finish_reason")), "stop");
        const char *content =
            json_string_value(json_object_get(json_object_get(choice, "message"), "content"));
        json_error_t je;
        json_t *doc = json_loads(content, 0, &je);
        if (!doc) fail_msg("seed %d: not JSON (%s): %s", seed, je.text, content);
        assert_int_equal(json_object_size(doc), 4);
        json_t *name = json_object_get(doc, "name"), *color = json_object_get(doc, "color");
        assert_true(json_is_string(name));
        assert_true(json_is_integer(json_object_get(doc, "age")));
        assert_true(json_is_boolean(json_object_get(doc, "happy")));
        assert_true(json_is_string(color));
        assert_true(!strcmp(json_string_value(color), "red") ||
                    !strcmp(json_string_value(color), "blue"));
        /* maxLength counts characters; the model's bytes are ASCII here */
        assert_true(json_string_length(name) <= 12);
        json_decref(doc);
        json_decref(resp);
    }
    /* Ollama's "format", streamed as NDJSON */
    const char *ol = "{\"model\":\"stories260K\",\"prompt\":\"Numbers:\",\"options\":{\"seed\":1},"
                     "\"format\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"},"
                     "\"minItems\":1,\"maxItems\":3}}";
    struct rg_resp r;
    assert_int_equal(rg_http(&srv, "POST", "/api/generate", NULL, ol, strlen(ol), &r), 0);
    assert_int_equal(r.status, 200);
    char text[2048] = "";
    size_t tl = 0;
    bool done = false;
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        const char *t = json_string_value(json_object_get(j, "response"));
        if (t) tl += (size_t)snprintf(text + tl, sizeof text - tl, "%s", t);
        if (json_is_true(json_object_get(j, "done"))) {
            done = true;
            assert_string_equal(json_string_value(json_object_get(j, "done_reason")), "stop");
        }
        json_decref(j);
    }
    rg_resp_free(&r);
    assert_true(done);
    json_t *arr = json_loads(text, 0, NULL);
    if (!json_is_array(arr)) fail_msg("not a JSON array: %s", text);
    assert_true(json_array_size(arr) >= 1 && json_array_size(arr) <= 3);
    for (size_t i = 0; i < json_array_size(arr); i++)
        assert_true(json_is_integer(json_array_get(arr, i)));
    json_decref(arr);
    /* json_object mode starts an object at once */
    json_t *o = post("/v1/completions",
                     "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"max_tokens\":8,"
                     "\"temperature\":0,\"response_format\":{\"type\":\"json_object\"}}",
                     200);
    const char *t = json_string_value(
        json_object_get(json_array_get(json_object_get(o, "choices"), 0), "text"));
    assert_non_null(t);
    while (*t == ' ' || *t == '\n')
        t++;
    assert_int_equal(*t, '{');
    json_decref(o);
    expect_400("/v1/chat/completions",
               "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
               "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\","
               "\"schema\":{\"type\":\"strng\"}}}}",
               "response_format");
    expect_400("/v1/chat/completions",
               "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
               "\"response_format\":{\"type\":\"xml\"}}",
               "response_format");
    expect_400("/v1/chat/completions",
               "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
               "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\","
               "\"schema\":{\"type\":\"string\",\"pattern\":\"a+\"}}}}",
               "response_format");
}

/* "n": several answers to one prompt, each with its index and finish_reason;
 * usage counts them all; streamed, each index closes once. */
static void test_n_choices(void **state)
{
    (void)state;
    NEED_DATA();
    const char *one =
        "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"max_tokens\":12,"
        "\"temperature\":0}";
    const char *two =
        "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"max_tokens\":12,"
        "\"temperature\":0,\"n\":2}";
    json_t *a = post("/v1/completions", one, 200), *b = post("/v1/completions", two, 200);
    json_t *ca = json_object_get(a, "choices"), *cb = json_object_get(b, "choices");
    assert_int_equal(json_array_size(cb), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *c = json_array_get(cb, i);
        assert_int_equal(json_integer_value(json_object_get(c, "index")), (json_int_t)i);
        /* greedy: both answers are the one answer */
        assert_string_equal(json_string_value(json_object_get(c, "text")),
                            json_string_value(json_object_get(json_array_get(ca, 0), "text")));
    }
    json_int_t ua =
        json_integer_value(json_object_get(json_object_get(a, "usage"), "completion_tokens"));
    json_int_t ub =
        json_integer_value(json_object_get(json_object_get(b, "usage"), "completion_tokens"));
    assert_int_equal(ub, 2 * ua);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(b, "usage"), "prompt_tokens")),
        json_integer_value(json_object_get(json_object_get(a, "usage"), "prompt_tokens")));
    json_decref(a);
    json_decref(b);
    /* sampled: answers differ (own seeds), chat shape */
    json_t *c = post("/v1/chat/completions",
                     "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":"
                     "\"Tell a story\"}],\"max_tokens\":24,\"temperature\":1,\"seed\":7,\"n\":3}",
                     200);
    json_t *cc = json_object_get(c, "choices");
    assert_int_equal(json_array_size(cc), 3);
    const char *t0 = json_string_value(
        json_object_get(json_object_get(json_array_get(cc, 0), "message"), "content"));
    const char *t1 = json_string_value(
        json_object_get(json_object_get(json_array_get(cc, 1), "message"), "content"));
    assert_non_null(t0);
    assert_non_null(t1);
    assert_string_not_equal(t0, t1);
    json_decref(c);
    /* streamed */
    const char *sb =
        "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"max_tokens\":5,\"temperature\":0.5,\"n\":2,\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true}}";
    struct rg_resp r;
    assert_int_equal(rg_http(&srv, "POST", "/v1/chat/completions", NULL, sb, strlen(sb), &r), 0);
    assert_int_equal(r.status, 200);
    int finishes[2] = {0, 0}, roles[2] = {0, 0};
    bool usage_seen = false, done = false;
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strcmp(line, "data: [DONE]")) done = true;
        if (strncmp(line, "data: {", 7)) continue;
        json_t *j = json_loads(line + 6, 0, NULL);
        assert_non_null(j);
        json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
        if (ch) {
            json_int_t idx = json_integer_value(json_object_get(ch, "index"));
            assert_true(idx == 0 || idx == 1);
            if (json_is_string(json_object_get(ch, "finish_reason"))) finishes[idx]++;
            if (json_object_get(json_object_get(ch, "delta"), "role")) roles[idx]++;
        }
        json_t *u = json_object_get(j, "usage");
        if (json_is_object(u)) {
            usage_seen = true;
            assert_int_equal(json_integer_value(json_object_get(u, "completion_tokens")), 10);
        }
        json_decref(j);
    }
    rg_resp_free(&r);
    assert_int_equal(finishes[0], 1);
    assert_int_equal(finishes[1], 1);
    assert_int_equal(roles[0], 1);
    assert_int_equal(roles[1], 1);
    assert_true(usage_seen && done);
    expect_400("/v1/completions", "{\"model\":\"stories260K\",\"prompt\":\"x\",\"n\":0}", "n");
    expect_400("/v1/completions", "{\"model\":\"stories260K\",\"prompt\":\"x\",\"n\":1.5}", "n");
}

/* llama.cpp's ignore_eos: the end-of-sequence token never ends the answer. */
static void test_ignore_eos(void **state)
{
    (void)state;
    NEED_DATA();
    /* a bias that makes </s> (id 2) the model's certain choice */
    json_t *a = post("/v1/completions",
                     "{\"model\":\"stories260K\",\"prompt\":\"Once\",\"max_tokens\":6,"
                     "\"temperature\":0,\"logit_bias\":{\"2\":100}}",
                     200);
    json_t *b = post("/v1/completions",
                     "{\"model\":\"stories260K\",\"prompt\":\"Once\",\"max_tokens\":6,"
                     "\"temperature\":0,\"logit_bias\":{\"2\":100},\"ignore_eos\":true,"
                     "\"cache_prompt\":true}",
                     200);
    json_t *ca = json_array_get(json_object_get(a, "choices"), 0),
           *cb = json_array_get(json_object_get(b, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(ca, "finish_reason")), "stop");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(a, "usage"), "completion_tokens")), 0);
    assert_string_equal(json_string_value(json_object_get(cb, "finish_reason")), "length");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(b, "usage"), "completion_tokens")), 6);
    json_decref(a);
    json_decref(b);
    expect_400("/v1/completions", "{\"model\":\"stories260K\",\"prompt\":\"x\",\"ignore_eos\":3}",
               "ignore_eos");
}

/* tool_choice "required" or a named function: the answer is a call. */
static void test_forced_tool_call(void **state)
{
    (void)state;
    NEED_DATA();
    const char *tools =
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\","
        "\"maxLength\":16}},\"required\":[\"city\"]}}},{\"type\":\"function\",\"function\":{"
        "\"name\":\"get_time\",\"parameters\":{\"type\":\"object\",\"properties\":{\"zone\":{"
        "\"type\":\"string\",\"pattern\":\"^[A-Z]\",\"maxLength\":8}}}}}]";
    const char *choices[] = {"\"required\"",
                             "{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}",
                             "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}"};
    for (int k = 0; k < 3; k++) {
        char body[2048];
        snprintf(body, sizeof body,
                 "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":"
                 "\"Weather in Oslo?\"}],\"max_tokens\":300,\"temperature\":0.7,\"seed\":%d,%s,"
                 "\"tool_choice\":%s}",
                 k + 1, tools, choices[k]);
        json_t *resp = post("/v1/chat/completions", body, 200);
        json_t *choice = json_array_get(json_object_get(resp, "choices"), 0);
        const char *finish = json_string_value(json_object_get(choice, "finish_reason"));
        if (strcmp(finish, "tool_calls") != 0) {
            char *d = json_dumps(resp, 0);
            fail_msg("choice %d: not a tool call: %s", k, d);
        }
        json_t *call =
            json_array_get(json_object_get(json_object_get(choice, "message"), "tool_calls"), 0);
        json_t *fn = json_object_get(call, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        assert_non_null(name);
        if (k == 1) assert_string_equal(name, "get_time");
        if (k == 2) assert_string_equal(name, "get_weather");
        json_t *args = json_loads(json_string_value(json_object_get(fn, "arguments")), 0, NULL);
        assert_true(json_is_object(args));
        if (!strcmp(name, "get_weather")) {
            json_t *city = json_object_get(args, "city");
            assert_true(json_is_string(city));
            assert_true(json_string_length(city) <= 16);
        }
        json_decref(args);
        json_decref(resp);
    }
    char bad[2048];
    snprintf(bad, sizeof bad,
             "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
             "%s,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"nope\"}}}",
             tools);
    expect_400("/v1/chat/completions", bad, "tool_choice");
    snprintf(bad, sizeof bad,
             "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
             "%s,\"tool_choice\":\"always\"}",
             tools);
    expect_400("/v1/chat/completions", bad, "tool_choice");
}

/* /status and /metrics count tokens and the generation rate. */
static void test_status_tokens(void **state)
{
    (void)state;
    NEED_DATA();
    json_decref(post("/v1/completions",
                     "{\"model\":\"stories260K\",\"prompt\":\"Once\",\"max_tokens\":8,"
                     "\"ignore_eos\":true}",
                     200));
    struct rg_resp r;
    assert_int_equal(rg_http(&srv, "GET", "/status", NULL, NULL, 0, &r), 0);
    json_t *st = json_loadb(r.body, r.len, 0, NULL);
    rg_resp_free(&r);
    json_t *tok = json_object_get(st, "tokens");
    assert_true(json_integer_value(json_object_get(tok, "generated_total")) >= 8);
    assert_true(json_integer_value(json_object_get(tok, "prompt_total")) >= 2);
    assert_true(json_is_number(json_object_get(tok, "generated_per_s")));
    json_t *m0 = json_array_get(json_object_get(st, "models"), 0);
    assert_true(json_integer_value(json_object_get(m0, "memory_bytes")) >
                json_integer_value(json_object_get(m0, "file_size")));
    json_decref(st);
    assert_int_equal(rg_http(&srv, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    assert_non_null(strstr(r.body, "rustygpt_generation_tokens_per_second "));
    rg_resp_free(&r);
}

/* /v1/completions' prompt as token ids and as a list; a prompt longer than
 * the context is a 400 naming it. */
static void test_prompt_forms(void **state)
{
    (void)state;
    NEED_DATA();
    json_t *a = post("/v1/completions",
                     "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"max_tokens\":6,"
                     "\"temperature\":0}",
                     200);
    const char *ta = json_string_value(
        json_object_get(json_array_get(json_object_get(a, "choices"), 0), "text"));
    /* the same prompt as the ids the tokenizer gives (BOS included) */
    struct rg_run rr;
    char model[512];
    assert_non_null(rg_test_data_path(model, sizeof model, "models/stories260K.gguf"));
    const char *targs[] = {"tokenize", model, "Once upon a time", "--ids", "--special", NULL};
    assert_int_equal(rg_run_cli(targs, NULL, NULL, 30, &rr), 0);
    assert_int_equal(rr.status, 0);
    char ids[512] = "";
    size_t il = 0;
    for (char *p = strtok(rr.out, " \n"); p; p = strtok(NULL, " \n"))
        il += (size_t)snprintf(ids + il, sizeof ids - il, "%s%s", il ? "," : "", p);
    rg_run_free(&rr);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"model\":\"stories260K\",\"prompt\":[%s],\"max_tokens\":6,\"temperature\":0}", ids);
    json_t *b = post("/v1/completions", body, 200);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(b, "choices"), 0), "text")),
                        ta);
    /* a list of prompts: answers in order, n each, usage summed */
    json_t *c = post("/v1/completions",
                     "{\"model\":\"stories260K\",\"prompt\":[\"Once upon a time\",\"The cat\"],"
                     "\"max_tokens\":6,\"temperature\":0,\"n\":2}",
                     200);
    json_t *cc = json_object_get(c, "choices");
    assert_int_equal(json_array_size(cc), 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(cc, i), "index")),
                         (json_int_t)i);
    assert_string_equal(json_string_value(json_object_get(json_array_get(cc, 0), "text")), ta);
    assert_string_equal(json_string_value(json_object_get(json_array_get(cc, 1), "text")), ta);
    assert_string_not_equal(json_string_value(json_object_get(json_array_get(cc, 2), "text")), ta);
    json_int_t pa =
        json_integer_value(json_object_get(json_object_get(a, "usage"), "prompt_tokens"));
    assert_true(json_integer_value(json_object_get(json_object_get(c, "usage"), "prompt_tokens")) >
                pa);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    /* too long for the context */
    size_t big = 40000;
    char *huge = malloc(big + 128);
    size_t k = (size_t)snprintf(huge, 128, "{\"model\":\"stories260K\",\"prompt\":\"");
    for (size_t i = 0; i < big / 4; i++)
        memcpy(huge + k + 4 * i, "cat ", 4);
    k += big;
    snprintf(huge + k, 64, "\",\"max_tokens\":4}");
    json_t *e = post("/v1/completions", huge, 400);
    free(huge);
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "error"), "code")),
                        "context_length_exceeded");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "error"), "param")),
                        "prompt");
    json_decref(e);
    expect_400("/v1/completions", "{\"model\":\"stories260K\",\"prompt\":[1,2,999999]}", "prompt");
    expect_400("/v1/completions", "{\"model\":\"stories260K\",\"prompt\":[]}", "prompt");
    expect_400("/v1/completions", "{\"model\":\"stories260K\",\"prompt\":[\"a\",{}]}", "prompt");
}

/* A prompt longer than one scheduler step goes in chunk by chunk, beside
 * another request's generation, and gives what `rustygpt run` gives. */
static void test_long_prompt_in_chunks(void **state)
{
    (void)state;
    NEED_DATA();
    char prompt[4096];
    numbered(prompt, sizeof prompt, "Tim saw a red ball ", " times and he was happy. ", 40);
    char model[512];
    assert_non_null(rg_test_data_path(model, sizeof model, "models/stories260K.gguf"));
    struct rg_run rr;
    const char *args[] = {"run", model, prompt, "-n", "16", "--temp", "0", "--raw", NULL};
    assert_int_equal(rg_run_cli(args, NULL, NULL, 60, &rr), 0);
    assert_int_equal(rr.status, 0);
    /* another request generates meanwhile */
    int fd = post_open("{\"model\":\"stories260K\",\"prompt\":\"Once\",\"max_tokens\":200,"
                       "\"stream\":true,\"ignore_eos\":true}");
    json_t *j = complete(prompt, 16);
    json_t *u = json_object_get(j, "usage");
    assert_true(json_integer_value(json_object_get(u, "prompt_tokens")) > 300);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "choices"), 0), "text")),
                        rr.out);
    json_decref(j);
    rg_run_free(&rr);
    size_t n;
    char *streamed = rg_tcp_read_until(fd, "[DONE]", 1, 30000, &n);
    assert_non_null(strstr(streamed, "[DONE]"));
    free(streamed);
    close(fd);
}

static long cached_tokens(json_t *j)
{
    json_t *d = json_object_get(json_object_get(j, "usage"), "prompt_tokens_details");
    assert_non_null(d);
    return (long)json_integer_value(json_object_get(d, "cached_tokens"));
}

/* A conversation's next turn finds its own slot even after another
 * conversation took a slot in between (the server has two), and usage says
 * how much of the prompt came from the cache: all of the first turn. */
static void test_prefix_reuse_across_conversations(void **state)
{
    (void)state;
    NEED_DATA();
    char a[2048], b[2048];
    numbered(a, sizeof a, "Sam had a blue kite number ", ". ", 8);
    numbered(b, sizeof b, "Anna baked ", " small cakes. ", 8);
    json_t *first = complete(a, 4);
    long n_first =
        (long)json_integer_value(json_object_get(json_object_get(first, "usage"), "prompt_tokens"));
    assert_true(n_first > 40);
    const char *answer = json_string_value(
        json_object_get(json_array_get(json_object_get(first, "choices"), 0), "text"));
    char next[4096];
    snprintf(next, sizeof next, "%s%s Then the wind came.", a, answer);
    json_decref(first);
    json_decref(complete(b, 4)); /* the other conversation */
    json_t *second = complete(next, 4);
    long cached = cached_tokens(second);
    long n_second = (long)json_integer_value(
        json_object_get(json_object_get(second, "usage"), "prompt_tokens"));
    if (cached < n_first || cached >= n_second)
        fail_msg("second turn: %ld of %ld prompt tokens cached, want at least the first turn's %ld",
                 cached, n_second, n_first);
    json_decref(second);
}

/* A prompt that starts like the one another slot is generating from takes
 * that slot's K/V rows for the shared part instead of computing them (a
 * long system prompt sent with every request), and answers exactly as if it
 * had computed them. */
static void test_prefix_copied_from_busy_slot(void **state)
{
    (void)state;
    NEED_DATA();
    char shared[2048];
    numbered(shared, sizeof shared, "The owl read book ", " by the moon. ", 8);
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%sThen Tom", shared);
    snprintf(b, sizeof b, "%sThen Mia", shared);
    char model[512];
    assert_non_null(rg_test_data_path(model, sizeof model, "models/stories260K.gguf"));
    struct rg_run rr;
    const char *args[] = {"run", model, b, "-n", "12", "--temp", "0", "--raw", NULL};
    assert_int_equal(rg_run_cli(args, NULL, NULL, 60, &rr), 0);
    assert_int_equal(rr.status, 0);
    /* a holds one slot, generating, while b arrives */
    json_t *ja = json_pack("{s:s, s:s, s:i, s:b, s:b}", "model", "stories260K", "prompt", a,
                           "max_tokens", 400, "stream", 1, "ignore_eos", 1);
    char *body = json_dumps(ja, JSON_COMPACT);
    json_decref(ja);
    int fd = post_open(body);
    free(body);
    size_t n;
    free(rg_tcp_read_until(fd, "data: {", 1, 30000, &n)); /* a is generating */
    json_t *jb = complete(b, 12);
    long cached = cached_tokens(jb);
    if (cached < 40) fail_msg("b found only %ld of its prompt's tokens cached", cached);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(jb, "choices"), 0), "text")),
                        rr.out);
    json_decref(jb);
    rg_run_free(&rr);
    free(rg_tcp_read_until(fd, "[DONE]", 1, 60000, &n));
    close(fd);
}

/* A bare call ({"name", "arguments"} as the whole answer, as Llama 3 and
 * Mistral write them) becomes tool_calls, streamed or not, and nothing of it
 * leaks into the content. The answer is steered into that shape with
 * response_format, since the test model was never taught tools. */
static void test_bare_tool_call(void **state)
{
    (void)state;
    NEED_DATA();
    const char *head =
        "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],"
        "\"max_tokens\":200,\"temperature\":0.5,\"seed\":4,";
    const char *tail =
        "\"tools\":[{\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"}}}],"
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"c\",\"schema\":"
        "{\"type\":\"object\",\"properties\":{\"name\":{\"const\":\"get_weather\"},\"arguments\":{"
        "\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":8}},"
        "\"required\":[\"city\"]}},\"required\":[\"name\",\"arguments\"]}}}}";
    char body[2048];
    snprintf(body, sizeof body, "%s%s", head, tail);
    json_t *j = post("/v1/chat/completions", body, 200);
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "tool_calls");
    json_t *msg = json_object_get(ch, "message");
    assert_true(json_is_null(json_object_get(msg, "content")));
    json_t *call = json_array_get(json_object_get(msg, "tool_calls"), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(call, "function"), "name")),
        "get_weather");
    json_decref(j);
    snprintf(body, sizeof body, "%s\"stream\":true,%s", head, tail);
    struct rg_resp r;
    assert_int_equal(rg_http(&srv, "POST", "/v1/chat/completions", NULL, body, strlen(body), &r),
                     0);
    bool saw_call = false, saw_finish = false;
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "data: {", 7)) continue;
        json_t *c = json_loads(line + 6, 0, NULL);
        json_t *d = json_object_get(json_array_get(json_object_get(c, "choices"), 0), "delta");
        const char *content = json_string_value(json_object_get(d, "content"));
        if (content && strchr(content, '{')) fail_msg("the call leaked into content: %s", line);
        saw_call |= json_array_size(json_object_get(d, "tool_calls")) == 1;
        const char *f = json_string_value(
            json_object_get(json_array_get(json_object_get(c, "choices"), 0), "finish_reason"));
        saw_finish |= f && !strcmp(f, "tool_calls");
        json_decref(c);
    }
    rg_resp_free(&r);
    assert_true(saw_call);
    assert_true(saw_finish);
    /* a list of two calls; with parallel_tool_calls false only the first is kept */
    const char *two =
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"parameters\":{\"type\":\"object\"}}}],\"response_format\":{\"type\":\"json_schema\","
        "\"json_schema\":{\"name\":\"c\",\"schema\":{\"type\":\"array\",\"minItems\":2,"
        "\"maxItems\":2,\"items\":{\"type\":\"object\",\"properties\":{\"name\":{\"const\":"
        "\"get_weather\"},\"arguments\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"
        "\"string\",\"maxLength\":6}},\"required\":[\"city\"]}},\"required\":[\"name\","
        "\"arguments\"]}}}}}";
    for (int parallel = 1; parallel >= 0; parallel--) {
        snprintf(body, sizeof body, "%s%s%s", head,
                 parallel ? "" : "\"parallel_tool_calls\":false,", two);
        j = post("/v1/chat/completions", body, 200);
        ch = json_array_get(json_object_get(j, "choices"), 0);
        assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "tool_calls");
        assert_int_equal(
            json_array_size(json_object_get(json_object_get(ch, "message"), "tool_calls")),
            parallel ? 2 : 1);
        json_decref(j);
    }
}

/* One slot, no queue: a second request while the first streams gets 429. */
static void test_queue_bound(void **state)
{
    (void)state;
    NEED_DATA();
    struct rg_server s2;
    const char *args[] = {"--parallel", "1", "--max-queue", "0", NULL};
    assert_int_equal(rg_server_start(&s2, args, NULL), 0);
    char model[512], link[600];
    assert_non_null(rg_test_data_path(model, sizeof model, "models/stories260K.gguf"));
    snprintf(link, sizeof link, "%s/models/stories260K.gguf", s2.dir);
    assert_int_equal(symlink(model, link), 0);
    int fd = rg_tcp_connect(s2.port);
    const char body[] =
        "{\"model\":\"stories260K\",\"prompt\":\"Once\",\"max_tokens\":100000,\"stream\":true}";
    char req[512];
    int n = snprintf(
        req, sizeof req,
        "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu\r\n\r\n%s",
        sizeof body - 1, body);
    assert_int_equal(rg_tcp_send(fd, req, (size_t)n), 0);
    free(rg_tcp_read_until(fd, "data: ", 2, 5000, NULL));
    struct rg_resp r;
    const char small[] = "{\"model\":\"stories260K\",\"prompt\":\"Once\",\"max_tokens\":2}";
    assert_int_equal(rg_http(&s2, "POST", "/v1/completions", NULL, small, sizeof small - 1, &r), 0);
    assert_int_equal(r.status, 429);
    char h[16];
    assert_non_null(rg_resp_header(&r, "Retry-After", h, sizeof h));
    assert_non_null(strstr(r.body, "queue_full"));
    rg_resp_free(&r);
    close(fd);
    /* once the stream's client is gone, the slot frees and requests run again */
    bool ok = false;
    for (int i = 0; i < 100 && !ok; i++) {
        assert_int_equal(rg_http(&s2, "POST", "/v1/completions", NULL, small, sizeof small - 1, &r),
                         0);
        ok = r.status == 200;
        rg_resp_free(&r);
        if (!ok) usleep(50000);
    }
    assert_true(ok);
    assert_int_equal(rg_server_stop(&s2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_completion_matches_reference),
        cmocka_unit_test(test_stream_matches_reference),
        cmocka_unit_test(test_stop_strings),
        cmocka_unit_test(test_chat_shape),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_disconnect_frees_slot),
        cmocka_unit_test(test_ollama_api),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_logprobs),
        cmocka_unit_test(test_queue_bound),
        cmocka_unit_test(test_tools_requests),
        cmocka_unit_test(test_response_format),
        cmocka_unit_test(test_n_choices),
        cmocka_unit_test(test_ignore_eos),
        cmocka_unit_test(test_forced_tool_call),
        cmocka_unit_test(test_status_tokens),
        cmocka_unit_test(test_prompt_forms),
        cmocka_unit_test(test_long_prompt_in_chunks),
        cmocka_unit_test(test_prefix_reuse_across_conversations),
        cmocka_unit_test(test_prefix_copied_from_busy_slot),
        cmocka_unit_test(test_bare_tool_call),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
