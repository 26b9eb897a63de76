/*
 * The engine runtime under load, through the real server: a model that is
 * loading holds up nothing else; streams whose clients leave free their
 * slots and queue entries; an embedding runs beside a long generation on
 * the model's own compute threads.
 */
#include "test.h"

#include <dirent.h>
#include <jansson.h>
#include <pthread.h>

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

static json_t *get_json(struct rg_server *srv, const char *path)
{
    struct rg_resp r;
    assert_int_equal(rg_http(srv, "GET", path, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    assert_non_null(j);
    rg_resp_free(&r);
    return j;
}

static long post(struct rg_server *srv, const char *path, const char *body, char **out)
{
    struct rg_resp r;
    const char *h[] = {"Content-Type: application/json", NULL};
    assert_int_equal(rg_http(srv, "POST", path, h, body, strlen(body), &r), 0);
    long st = r.status;
    if (out) *out = strdup(r.body ? r.body : "");
    rg_resp_free(&r);
    return st;
}

/* The state /status gives a model ("loading", "ready"), or "" when absent. */
static void model_state(struct rg_server *srv, const char *id, char *out, size_t n)
{
    json_t *s = get_json(srv, "/status");
    out[0] = '\0';
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(s, "models"), i, m)
    {
        if (!strcmp(json_string_value(json_object_get(m, "id")), id))
            snprintf(out, n, "%s", json_string_value(json_object_get(m, "state")));
    }
    json_decref(s);
}

struct bg_req {
    struct rg_server *srv;
    const char *body;
    long status;
};

static void *bg_post(void *arg)
{
    struct bg_req *b = arg;
    b->status = post(b->srv, "/v1/completions", b->body, NULL);
    return NULL;
}

/* While model b loads (slowly: the test makes each load wait 3 s), /status,
 * /api/ps and generations on the loaded model a are answered, and they see
 * b as loading. */
static void test_load_does_not_block(void **state)
{
    (void)state;
    if (!model[0]) skip();
    struct rg_server srv;
    const char *args[] = {"--threads", "1", NULL};
    const char *env[] = {"RUSTYGPT_TEST_LOAD_DELAY_MS=3000", NULL};
    assert_int_equal(rg_server_start(&srv, args, env), 0);
    add_model(&srv, "a");
    add_model(&srv, "b");
    const char *ca = "{\"model\":\"a\",\"prompt\":\"Once\",\"max_tokens\":8}";
    assert_int_equal(post(&srv, "/v1/completions", ca, NULL), 200); /* a is loaded */
    struct bg_req b = {&srv, "{\"model\":\"b\",\"prompt\":\"Once\",\"max_tokens\":8}", 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bg_post, &b), 0);
    char st[32] = "";
    for (int i = 0; i < 100 && strcmp(st, "loading"); i++) {
        usleep(20000);
        model_state(&srv, "b", st, sizeof st); /* /status answers during the load */
    }
    assert_string_equal(st, "loading");
    json_t *ps = get_json(&srv, "/api/ps"); /* so does /api/ps: only a is ready */
    assert_int_equal(json_array_size(json_object_get(ps, "models")), 1);
    json_decref(ps);
    assert_int_equal(post(&srv, "/v1/completions", ca, NULL), 200); /* and a generates */
    model_state(&srv, "b", st, sizeof st);
    assert_string_equal(st, "loading"); /* all of that while b was still loading */
    pthread_join(t, NULL);
    assert_int_equal(b.status, 200);
    model_state(&srv, "b", st, sizeof st);
    assert_string_equal(st, "ready");
    rg_server_stop(&srv);
}

static void *bg_stream(void *arg)
{
    struct bg_req *b = arg;
    char *out = NULL;
    b->status = post(b->srv, "/v1/completions", b->body, &out);
    if (b->status == 200 && !strstr(out, "data: [DONE]")) b->status = -1;
    free(out);
    return NULL;
}

static int open_stream(int port, const char *body)
{
    int fd = rg_tcp_connect(port);
    assert_true(fd >= 0);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    assert_int_equal(rg_tcp_send(fd, req, (size_t)n), 0);
    return fd;
}

/* 16 streams on 4 slots (12 wait in the queue); 8 clients leave after their
 * first bytes or before any: the other 8 finish, and then every slot and
 * queue entry is free. */
static void test_half_disconnect(void **state)
{
    (void)state;
    if (!model[0]) skip();
    struct rg_server srv;
    const char *args[] = {"--parallel", "4", "--threads", "2", NULL};
    assert_int_equal(rg_server_start(&srv, args, NULL), 0);
    add_model(&srv, "m");
    const char *body = "{\"model\":\"m\",\"prompt\":\"Once upon a time\",\"max_tokens\":300,"
                       "\"ignore_eos\":true,\"stream\":true}";
    struct bg_req keep[8];
    pthread_t t[8];
    int fds[8];
    for (int i = 0; i < 8; i++) {
        fds[i] = open_stream(srv.port, body);
        keep[i] = (struct bg_req){&srv, body, 0};
        assert_int_equal(pthread_create(&t[i], NULL, bg_stream, &keep[i]), 0);
    }
    for (int i = 0; i < 8; i++) { /* half of the leavers read a little first */
        if (i % 2 == 0) free(rg_tcp_read_until(fds[i], "data:", 1, 5000, NULL));
        close(fds[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(keep[i].status, 200);
    }
    long busy = -1, queued = -1;
    for (int i = 0; i < 100 && (busy || queued); i++) {
        json_t *s = get_json(&srv, "/status");
        json_t *m = json_array_get(json_object_get(s, "models"), 0);
        busy = (long)json_integer_value(json_object_get(m, "slots_busy"));
        json_t *q = json_object_get(m, "queued");
        queued = (long)(json_integer_value(json_object_get(q, "interactive")) +
                        json_integer_value(json_object_get(q, "background")));
        json_decref(s);
        if (busy || queued) usleep(50000);
    }
    assert_int_equal(busy, 0);
    assert_int_equal(queued, 0);
    char *log = rg_server_log(&srv);
    /* every request ended (a leaver the server had not yet noticed may have
     * finished), none in error, and those it noticed were stopped */
    assert_int_equal(rg_count(log, "engine request"), 16);
    assert_int_equal(rg_count(log, "outcome=error"), 0);
    assert_true(rg_count(log, "outcome=ok") >= 8);
    assert_true(rg_count(log, "outcome=cancelled") >= 1);
    free(log);
    rg_server_stop(&srv);
}

static int threads_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static long pools(struct rg_server *srv)
{
    json_t *s = get_json(srv, "/status");
    long n = (long)json_integer_value(json_object_get(s, "compute_pools"));
    json_decref(s);
    return n;
}

/* An embedding during a long generation is answered while the generation
 * goes on, without a thread or a compute pool of its own. */
static void test_embed_during_generation(void **state)
{
    (void)state;
    if (!model[0]) skip();
    struct rg_server srv;
    const char *args[] = {"--parallel", "2", "--threads", "2", NULL};
    assert_int_equal(rg_server_start(&srv, args, NULL), 0);
    add_model(&srv, "m");
    /* 16 answers of 1,900 tokens: many seconds of generation */
    int fd = open_stream(srv.port, "{\"model\":\"m\",\"prompt\":\"Once upon a time\",\"n\":16,"
                                   "\"max_tokens\":1900,\"ignore_eos\":true,\"stream\":true}");
    free(rg_tcp_read_until(fd, "data:", 2, 10000, NULL));
    long pools0 = pools(&srv);
    int threads0 = threads_of(srv.pid);
    assert_true(pools0 >= 1);
    char *out = NULL;
    assert_int_equal(
        post(&srv, "/v1/embeddings", "{\"model\":\"m\",\"input\":[\"a cat\",\"a dog\"]}", &out),
        200);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 2);
    json_decref(j);
    free(out);
    json_t *s = get_json(&srv, "/status");
    json_t *m = json_array_get(json_object_get(s, "models"), 0);
    assert_int_equal(json_integer_value(json_object_get(m, "slots_busy")), 1); /* still going */
    json_decref(s);
    assert_int_equal(pools(&srv), pools0);
    assert_int_equal(threads_of(srv.pid), threads0);
    close(fd);
    rg_server_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_does_not_block),
        cmocka_unit_test(test_half_disconnect),
        cmocka_unit_test(test_embed_during_generation),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
