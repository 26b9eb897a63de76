/*
 * The model manager: a model idle longer than --keep-alive is unloaded (and
 * loads again on the next request); --max-memory makes room by unloading
 * idle models, least recently used first, and a model that cannot fit gets
 * a 503 that says why, while the server keeps serving.
 */
#include "test.h"

#include <jansson.h>

#include "harness.h"

static char model[512];

static int setup(void **state)
{
    (void)state;
    if (!rg_test_data_path(model, sizeof model, "models/stories260K.gguf")) {
        fprintf(stderr, "SKIP: ../shared/testdata/models/stories260K.gguf is absent\n");
        model[0] = '\0';
    }
    return 0;
}

static void add_model(struct rg_server *srv, const char *id)
{
    assert_int_equal(rg_server_add_model(srv, id, model), 0);
}

static long complete(struct rg_server *srv, const char *id, char *err, size_t errsize)
{
    char body[256];
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"prompt\":\"Once\",\"max_tokens\":4}", id);
    struct rg_resp r;
    const char *h[] = {"Content-Type: application/json", NULL};
    assert_int_equal(rg_http(srv, "POST", "/v1/completions", h, body, strlen(body), &r), 0);
    long st = r.status;
    if (err) snprintf(err, errsize, "%s", r.body ? r.body : "");
    rg_resp_free(&r);
    return st;
}

/* Ids in /api/ps, comma-separated, in server order (Ollama names them
 * "id:latest"). */
static void loaded(struct rg_server *srv, char *out, size_t n)
{
    struct rg_resp r;
    assert_int_equal(rg_http(srv, "GET", "/api/ps", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    assert_non_null(j);
    out[0] = '\0';
    size_t i, k = 0;
    json_t *m;
    json_array_foreach(json_object_get(j, "models"), i, m)
    {
        assert_non_null(json_string_value(json_object_get(m, "expires_at")));
        const char *name = json_string_value(json_object_get(m, "name"));
        size_t nl = strlen(name);
        assert_true(nl > 7 && !strcmp(name + nl - 7, ":latest"));
        k += (size_t)snprintf(out + k, n - k, "%s%.*s", k ? "," : "", (int)(nl - 7), name);
    }
    json_decref(j);
    rg_resp_free(&r);
}

static void test_idle_unload(void **state)
{
    (void)state;
    if (!model[0]) skip();
    struct rg_server srv;
    const char *args[] = {"--keep-alive", "1", "--threads", "1", NULL};
    assert_int_equal(rg_server_start(&srv, args, NULL), 0);
    add_model(&srv, "a");
    char ps[256];
    assert_int_equal(complete(&srv, "a", NULL, 0), 200);
    loaded(&srv, ps, sizeof ps);
    assert_string_equal(ps, "a");
    for (int i = 0; i < 60 && ps[0]; i++) { /* unloaded within a few seconds */
        usleep(100000);
        loaded(&srv, ps, sizeof ps);
    }
    assert_string_equal(ps, "");
    char *log = rg_server_log(&srv);
    assert_non_null(strstr(log, "model unloaded"));
    assert_non_null(strstr(log, "idle"));
    free(log);
    /* and it comes back on demand */
    assert_int_equal(complete(&srv, "a", NULL, 0), 200);
    loaded(&srv, ps, sizeof ps);
    assert_string_equal(ps, "a");
    assert_int_equal(rg_server_stop(&srv), 0);
}

static void test_memory_budget(void **state)
{
    (void)state;
    if (!model[0]) skip();
    /* stories260K: 1.2 MB of weights + 4 slots x 5 layers x 2048 positions x
     * 32 (KV width) x 8 B of KV cache = 11.7 MB; 16 MB holds one, not two */
    struct rg_server srv;
    const char *args[] = {"--max-memory", "16m",  "--keep-alive", "-1", "--parallel", "4",
                          "--ctx-size",   "2048", "--threads",    "1",  NULL};
    assert_int_equal(rg_server_start(&srv, args, NULL), 0);
    add_model(&srv, "a");
    add_model(&srv, "b");
    char ps[256];
    assert_int_equal(complete(&srv, "a", NULL, 0), 200);
    loaded(&srv, ps, sizeof ps);
    assert_string_equal(ps, "a");
    assert_int_equal(complete(&srv, "b", NULL, 0), 200); /* a is idle: it makes room */
    loaded(&srv, ps, sizeof ps);
    assert_string_equal(ps, "b");
    char *log = rg_server_log(&srv);
    assert_non_null(strstr(log, "memory budget"));
    free(log);
    assert_int_equal(rg_server_stop(&srv), 0);

    /* a KV cache of half floats takes half the room: 1.2 + 5.2 MB each, both fit */
    const char *half[] = {
        "--max-memory", "16m", "--keep-alive", "-1",  "--parallel", "4", "--ctx-size", "2048",
        "--threads",    "1",   "--cache-type", "f16", NULL};
    assert_int_equal(rg_server_start(&srv, half, NULL), 0);
    add_model(&srv, "a");
    add_model(&srv, "b");
    assert_int_equal(complete(&srv, "a", NULL, 0), 200);
    assert_int_equal(complete(&srv, "b", NULL, 0), 200);
    loaded(&srv, ps, sizeof ps);
    if (strcmp(ps, "a,b") != 0 && strcmp(ps, "b,a") != 0) fail_msg("loaded: %s", ps);
    assert_int_equal(rg_server_stop(&srv), 0);

    /* a budget no model fits: a clear 503, and the server lives on */
    const char *tiny[] = {"--max-memory", "1m", NULL};
    assert_int_equal(rg_server_start(&srv, tiny, NULL), 0);
    add_model(&srv, "a");
    char err[1024];
    assert_int_equal(complete(&srv, "a", err, sizeof err), 503);
    assert_non_null(strstr(err, "--max-memory"));
    struct rg_resp r;
    assert_int_equal(rg_http(&srv, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    rg_resp_free(&r);
    assert_int_equal(rg_server_stop(&srv), 0);
}

/* -m models load at start, before any request, and stay loaded; one that
 * fails to load is logged and the server serves the others. */
static void test_preload_pinned(void **state)
{
    (void)state;
    if (!model[0]) skip();
    char bad[] = "/tmp/rg-bad-XXXXXX.gguf";
    int fd = mkstemps(bad, 5);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "GGUF\3\0\0\0garbage", 16), 16);
    close(fd);
    struct rg_server srv;
    const char *args[] = {"-m", model, "-m", bad, "--keep-alive", "1", "--threads", "1", NULL};
    assert_int_equal(rg_server_start(&srv, args, NULL), 0);
    char ps[256] = "";
    for (int i = 0; i < 100 && !ps[0]; i++) { /* loaded without a request */
        usleep(50000);
        loaded(&srv, ps, sizeof ps);
    }
    assert_string_equal(ps, "stories260K");
    sleep(3); /* well past --keep-alive: a -m model stays */
    loaded(&srv, ps, sizeof ps);
    assert_string_equal(ps, "stories260K");
    char *log = rg_server_log(&srv);
    assert_non_null(strstr(log, "model not loaded"));
    free(log);
    assert_int_equal(complete(&srv, "stories260K", NULL, 0), 200);
    assert_int_equal(rg_server_stop(&srv), 0);
    unlink(bad);
}

static json_t *ollama(struct rg_server *srv, const char *path, const char *body, long want)
{
    struct rg_resp r;
    assert_int_equal(rg_http(srv, "POST", path, NULL, body, strlen(body), &r), 0);
    if (r.status != want) fail_msg("%s %s: %ld, want %ld: %s", path, body, r.status, want, r.body);
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    rg_resp_free(&r);
    return j;
}

static void wait_loaded(struct rg_server *srv, const char *want, int seconds)
{
    char ps[256] = "?";
    for (int i = 0; i < seconds * 10 && strcmp(ps, want) != 0; i++) {
        loaded(srv, ps, sizeof ps);
        if (strcmp(ps, want) != 0) usleep(100000);
    }
    assert_string_equal(ps, want);
}

/* Ollama's load and unload requests and keep_alive. */
static void test_ollama_keep_alive(void **state)
{
    (void)state;
    if (!model[0]) skip();
    struct rg_server srv;
    const char *args[] = {"--threads", "1", NULL}; /* --keep-alive stays 300 s */
    assert_int_equal(rg_server_start(&srv, args, NULL), 0);
    add_model(&srv, "a");
    json_t *j = ollama(&srv, "/api/generate", "{\"model\":\"a\"}", 200);
    assert_string_equal(json_string_value(json_object_get(j, "done_reason")), "load");
    json_decref(j);
    wait_loaded(&srv, "a", 1);
    j = ollama(&srv, "/api/generate", "{\"model\":\"a\",\"keep_alive\":0}", 200);
    assert_string_equal(json_string_value(json_object_get(j, "done_reason")), "unload");
    json_decref(j);
    wait_loaded(&srv, "", 5);
    /* a chat that asks to be forgotten a second after it ends */
    json_decref(ollama(&srv, "/api/chat",
                       "{\"model\":\"a\",\"stream\":false,\"keep_alive\":\"1s\",\"messages\":[{"
                       "\"role\":\"user\",\"content\":\"hi\"}],\"options\":{\"num_predict\":2}}",
                       200));
    wait_loaded(&srv, "", 6);
    json_decref(ollama(&srv, "/api/generate", "{\"model\":\"a\",\"keep_alive\":\"soon\"}", 400));
    json_decref(ollama(&srv, "/api/generate", "{\"model\":\"nope\"}", 404));
    assert_int_equal(rg_server_stop(&srv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_unload),
        cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_preload_pinned),
        cmocka_unit_test(test_ollama_keep_alive),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
