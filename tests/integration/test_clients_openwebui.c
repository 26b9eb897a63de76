/*
 * Open WebUI's Ollama connection, replayed: the requests its backend sends
 * (open-webui/open-webui, backend/open_webui/routers/ollama.py: the model
 * list from /api/tags, then /api/chat with the name it looked up there,
 * which it makes "name:latest" when it has no tag; /api/embed for RAG;
 * /api/ps, /api/pull, /api/copy, /api/delete, /api/create from the model
 * settings; and backend/open_webui/utils/response.py, which reads the done
 * line's eval_count and eval_duration for tokens/s and message.tool_calls
 * from any line for native tool calling).
 */
#include "test.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "harness.h"
#include "harness_models.h"

static struct rg_server srv;
static char model[512];
static bool have;

static int setup(void **state)
{
    (void)state;
    have = rg_test_data_path(model, sizeof model, "models/stories260K.gguf") != NULL;
    if (!have) {
        fprintf(stderr, "SKIP: ../shared/testdata/models/stories260K.gguf is absent\n");
        return 0;
    }
    const char *args[] = {"--parallel", "2", "--threads", "2", "--ctx-size", "1024", NULL};
    if (rg_server_start(&srv, args, NULL) != 0) return -1;
    return rg_server_add_model(&srv, "stories260K", model);
}

static int teardown(void **state)
{
    (void)state;
    return have && rg_server_stop(&srv) != 0 ? -1 : 0;
}

#define NEED()                                                                                     \
    if (!have) skip()

/* One request; the reply's status must be want; the body into *raw (free). */
static long request(struct rg_server *s, const char *method, const char *path, const char *body,
                    char **raw)
{
    struct rg_resp r;
    const char *h[] = {"Content-Type: application/json", NULL};
    assert_int_equal(rg_http(s, method, path, h, body, body ? strlen(body) : 0, &r), 0);
    long st = r.status;
    if (raw) *raw = strdup(r.body ? r.body : "");
    rg_resp_free(&r);
    return st;
}

static json_t *call(const char *method, const char *path, const char *body, long want)
{
    char *raw;
    long st = request(&srv, method, path, body, &raw);
    if (st != want) fail_msg("%s %s: status %ld, want %ld: %s", method, path, st, want, raw);
    json_t *j = json_loads(raw, 0, NULL);
    if (!j) fail_msg("%s: not JSON: %s", path, raw);
    free(raw);
    return j;
}

/* An NDJSON reply as an array of its lines (each must be JSON). */
static json_t *ndjson(const char *path, const char *body)
{
    char *raw;
    long st = request(&srv, "POST", path, body, &raw);
    if (st != 200) fail_msg("%s: status %ld: %s", path, st, raw);
    json_t *lines = json_array();
    char *save = NULL;
    for (char *l = strtok_r(raw, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(l, 0, NULL);
        if (!o) fail_msg("%s: not an NDJSON line: %s", path, l);
        json_array_append_new(lines, o);
    }
    free(raw);
    return lines;
}

static bool tags_have(const char *name)
{
    json_t *t = call("GET", "/api/tags", NULL, 200);
    bool found = false;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(t, "models"), i, m)
    {
        const char *n = json_string_value(json_object_get(m, "name"));
        const char *id = json_string_value(json_object_get(m, "model"));
        found |= n && id && !strcmp(n, name) && !strcmp(id, name);
    }
    json_decref(t);
    return found;
}

/* tags -> a name with ":latest" -> chat with it -> the done line's durations. */
static void test_tags_then_chat(void **state)
{
    (void)state;
    NEED();
    /* Ollama names: an untagged file is "name:latest", in "name" and "model" */
    assert_true(tags_have("stories260K:latest"));
    assert_false(tags_have("stories260K"));
    json_t *j = call("POST", "/api/show", "{\"model\":\"stories260K:latest\"}", 200);
    assert_non_null(json_object_get(j, "model_info"));
    json_decref(j);
    /* the chat body Open WebUI's Ollama router forwards */
    json_t *lines = ndjson(
        "/api/chat",
        "{\"model\":\"stories260K:latest\",\"messages\":[{\"role\":\"system\",\"content\":\"You "
        "tell stories.\"},{\"role\":\"user\",\"content\":\"Once upon a time\"}],\"stream\":true,"
        "\"options\":{\"temperature\":0,\"num_predict\":24},\"keep_alive\":\"5m\"}");
    size_t n = json_array_size(lines);
    assert_true(n >= 2);
    json_t *done = json_array_get(lines, n - 1);
    assert_true(json_is_true(json_object_get(done, "done")));
    for (size_t i = 0; i + 1 < n; i++)
        assert_false(json_is_true(json_object_get(json_array_get(lines, i), "done")));
    long evals = (long)json_integer_value(json_object_get(done, "eval_count"));
    long eval_ns = (long)json_integer_value(json_object_get(done, "eval_duration"));
    long prompt_ns = (long)json_integer_value(json_object_get(done, "prompt_eval_duration"));
    long total_ns = (long)json_integer_value(json_object_get(done, "total_duration"));
    assert_int_equal(evals, 24);
    assert_true(eval_ns > 0);
    assert_true(prompt_ns > 0);
    assert_true(total_ns >= eval_ns);
    assert_true(json_integer_value(json_object_get(done, "prompt_eval_count")) > 5);
    /* Open WebUI's tokens/s: eval_count / (eval_duration / 1e9) */
    double tps = (double)evals / ((double)eval_ns / 1e9);
    assert_true(isfinite(tps) && tps > 0);
    assert_string_equal(json_string_value(json_object_get(done, "done_reason")), "length");
    json_decref(lines);
    /* the name without a tag still works */
    j = call("POST", "/api/chat",
             "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
             "\"stream\":false,\"options\":{\"num_predict\":2}}",
             200);
    assert_true(json_is_true(json_object_get(j, "done")));
    json_decref(j);
    /* so does /v1 with Ollama's name */
    j = call("POST", "/v1/chat/completions",
             "{\"model\":\"stories260K:latest\",\"messages\":[{\"role\":\"user\",\"content\":"
             "\"hi\"}],\"max_tokens\":2}",
             200);
    json_decref(j);
    j = call("POST", "/api/show", "{\"model\":\"stories260K:7b\"}", 404);
    json_decref(j);
}

static const char TOOLS[] =
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":"
    "\"The weather of a city\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{"
    "\"type\":\"string\"}},\"required\":[\"city\"]}}}]";

/* Native tool calling over Ollama: the tools reach the prompt; a call comes
 * back as message.tool_calls with arguments as an object; the result goes
 * back as a tool message after the assistant's call, arguments an object. */
static void test_native_tools(void **state)
{
    (void)state;
    NEED();
    char body[4096];
    const char *msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Oslo?\"}]";
    snprintf(body, sizeof body,
             "{\"model\":\"stories260K:latest\",%s,\"stream\":false,\"options\":{\"num_predict\":"
             "1}}",
             msgs);
    json_t *plain = call("POST", "/api/chat", body, 200);
    snprintf(body, sizeof body,
             "{\"model\":\"stories260K:latest\",%s,\"stream\":false,\"options\":{\"num_predict\":"
             "1},%s}",
             msgs, TOOLS);
    json_t *with = call("POST", "/api/chat", body, 200);
    json_int_t p0 = json_integer_value(json_object_get(plain, "prompt_eval_count"));
    json_int_t p1 = json_integer_value(json_object_get(with, "prompt_eval_count"));
    if (p1 <= p0 + 20) fail_msg("tools did not reach the prompt: %lld vs %lld", p1, p0);
    json_decref(plain);
    json_decref(with);

    /* a model that answers with a call (steered by "format", since the test
     * model was never taught tools): streamed, the call is on a line */
    const char *fmt = "\"format\":{\"type\":\"object\",\"properties\":{\"name\":{\"const\":"
                      "\"get_weather\"},\"arguments\":{\"type\":\"object\",\"properties\":{"
                      "\"city\":{\"type\":\"string\",\"maxLength\":8}},\"required\":[\"city\"]}},"
                      "\"required\":[\"name\",\"arguments\"]}";
    snprintf(body, sizeof body,
             "{\"model\":\"stories260K:latest\",%s,\"stream\":true,\"options\":{\"num_predict\":"
             "200,\"temperature\":0.5,\"seed\":4},%s,%s}",
             msgs, TOOLS, fmt);
    json_t *lines = ndjson("/api/chat", body);
    json_t *call_obj = NULL;
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l)
    {
        json_t *msg = json_object_get(l, "message");
        const char *c = json_string_value(json_object_get(msg, "content"));
        if (c && strchr(c, '{')) fail_msg("the call leaked into content: %s", c);
        json_t *tc = json_object_get(msg, "tool_calls");
        if (tc) {
            assert_null(call_obj);
            call_obj = json_incref(json_array_get(tc, 0));
        }
    }
    assert_non_null(call_obj);
    json_t *fn = json_object_get(call_obj, "function");
    assert_string_equal(json_string_value(json_object_get(fn, "name")), "get_weather");
    assert_true(json_is_object(json_object_get(fn, "arguments")));
    assert_true(json_is_string(json_object_get(json_object_get(fn, "arguments"), "city")));
    json_t *done = json_array_get(lines, json_array_size(lines) - 1);
    assert_true(json_is_true(json_object_get(done, "done")));
    assert_string_equal(json_string_value(json_object_get(done, "done_reason")), "stop");
    json_decref(call_obj);
    json_decref(lines);
    /* not streamed: the call is in the one message */
    snprintf(body, sizeof body,
             "{\"model\":\"stories260K:latest\",%s,\"stream\":false,\"options\":{\"num_predict\":"
             "200,\"temperature\":0.5,\"seed\":4},%s,%s}",
             msgs, TOOLS, fmt);
    json_t *one = call("POST", "/api/chat", body, 200);
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(one, "message"), "tool_calls")), 1);
    json_decref(one);

    /* the result goes back: the call's arguments (an object) are in the prompt */
    const char *turns[] = {"{}", "{\"city\":\"Oslo, the capital city of Norway, by the fjord\"}"};
    json_int_t counts[2];
    for (int k = 0; k < 2; k++) {
        snprintf(body, sizeof body,
                 "{\"model\":\"stories260K:latest\",\"messages\":[{\"role\":\"user\",\"content\":"
                 "\"Weather in Oslo?\"},{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{"
                 "\"function\":{\"name\":\"get_weather\",\"arguments\":%s}}]},{\"role\":\"tool\","
                 "\"content\":\"12 degrees\"}],\"stream\":false,\"options\":{\"num_predict\":1},"
                 "%s}",
                 turns[k], TOOLS);
        json_t *j = call("POST", "/api/chat", body, 200);
        counts[k] = json_integer_value(json_object_get(j, "prompt_eval_count"));
        json_decref(j);
    }
    if (counts[1] <= counts[0] + 5)
        fail_msg("the call's arguments did not reach the prompt: %lld vs %lld", counts[1],
                 counts[0]);
}

/* RAG: /api/embed of a batch, and the older /api/embeddings of one. */
static void test_embed(void **state)
{
    (void)state;
    NEED();
    json_t *j = call("POST", "/api/embed",
                     "{\"model\":\"stories260K:latest\",\"input\":[\"The cat sat.\",\"A dog "
                     "ran far away.\"]}",
                     200);
    json_t *e = json_object_get(j, "embeddings");
    assert_int_equal(json_array_size(e), 2);
    size_t dim = json_array_size(json_array_get(e, 0));
    assert_true(dim > 0);
    assert_int_equal(json_array_size(json_array_get(e, 1)), dim);
    assert_true(json_integer_value(json_object_get(j, "prompt_eval_count")) > 4);
    json_t *one = call("POST", "/api/embeddings",
                       "{\"model\":\"stories260K\",\"prompt\":\"The cat sat.\"}", 200);
    json_t *v = json_object_get(one, "embedding");
    assert_int_equal(json_array_size(v), dim);
    /* the same text, the same vector */
    for (size_t k = 0; k < dim; k++)
        assert_true(fabs(json_number_value(json_array_get(v, k)) -
                         json_number_value(json_array_get(json_array_get(e, 0), k))) < 1e-5);
    double norm = 0;
    for (size_t k = 0; k < dim; k++)
        norm += pow(json_number_value(json_array_get(v, k)), 2);
    assert_true(fabs(norm - 1) < 1e-3);
    json_decref(one);
    json_decref(j);
    j = call("POST", "/api/embed", "{\"model\":\"stories260K\",\"input\":[]}", 400);
    assert_true(json_is_string(json_object_get(j, "error")));
    json_decref(j);
    j = call("POST", "/api/embed", "{\"model\":\"nope\",\"input\":\"x\"}", 404);
    assert_true(json_is_string(json_object_get(j, "error")));
    json_decref(j);
}

/* /api/ps: a loaded model expires in the future. */
static void test_ps(void **state)
{
    (void)state;
    NEED();
    json_decref(call("POST", "/api/generate",
                     "{\"model\":\"stories260K:latest\",\"prompt\":\"x\",\"stream\":false,"
                     "\"options\":{\"num_predict\":1},\"keep_alive\":\"10m\"}",
                     200));
    json_t *j = call("GET", "/api/ps", NULL, 200);
    json_t *m = json_array_get(json_object_get(j, "models"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "name")), "stories260K:latest");
    const char *exp = json_string_value(json_object_get(m, "expires_at"));
    assert_non_null(exp);
    struct tm tm = {0};
    assert_non_null(strptime(exp, "%Y-%m-%dT%H:%M:%S", &tm));
    time_t t = timegm(&tm);
    if (t <= time(NULL) + 60) fail_msg("expires_at %s is not ~10 minutes ahead", exp);
    json_decref(j);
}

/* ---- a download server for /api/pull: serves the test model's bytes ---- */

static struct MHD_Daemon *dl;
static int dl_port;
static void *blob;
static size_t blob_len;

static enum MHD_Result dl_handler(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **con_cls)
{
    (void)cls, (void)method, (void)version, (void)upload, (void)upload_len, (void)con_cls;
    bool ok = !strcmp(url, "/files/pulled.gguf");
    struct MHD_Response *r = MHD_create_response_from_buffer(
        ok ? blob_len : 9, ok ? blob : (void *)"not found", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, ok ? 200 : 404, r);
    MHD_destroy_response(r);
    return ret;
}

/* Pull (streamed progress, then the model is listed), copy, create, delete;
 * offline refuses to pull. */
static void test_model_upkeep(void **state)
{
    (void)state;
    NEED();
    blob = rg_test_read_file(model, &blob_len);
    assert_non_null(blob);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    dl = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, dl_handler,
                          NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    assert_non_null(dl);
    dl_port = MHD_get_daemon_info(dl, MHD_DAEMON_INFO_BIND_PORT)->port;
    char body[512];
    snprintf(body, sizeof body, "{\"model\":\"http://127.0.0.1:%d/files/pulled.gguf\"}", dl_port);
    json_t *lines = ndjson("/api/pull", body);
    size_t n = json_array_size(lines);
    assert_true(n >= 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 0), "status")),
                        "pulling manifest");
    bool progress = false;
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l)
    {
        json_int_t total = json_integer_value(json_object_get(l, "total"));
        json_int_t done = json_integer_value(json_object_get(l, "completed"));
        if (total == (json_int_t)blob_len && done <= total) progress = true;
    }
    assert_true(progress);
    json_t *last = json_array_get(lines, n - 1);
    if (!json_object_get(last, "status") ||
        strcmp(json_string_value(json_object_get(last, "status")), "success"))
        fail_msg("the pull did not succeed: %s", json_dumps(last, 0));
    json_decref(lines);
    assert_true(tags_have("pulled:latest"));
    /* a failed pull ends with an error line */
    snprintf(body, sizeof body, "{\"model\":\"http://127.0.0.1:%d/files/missing.gguf\"}", dl_port);
    lines = ndjson("/api/pull", body);
    last = json_array_get(lines, json_array_size(lines) - 1);
    assert_true(json_is_string(json_object_get(last, "error")));
    json_decref(lines);
    /* an Ollama registry name: there is no registry here */
    json_decref(call("POST", "/api/pull", "{\"model\":\"llama3.2\"}", 400));

    /* copy, create from, delete */
    json_decref(call("POST", "/api/copy",
                     "{\"source\":\"pulled:latest\",\"destination\":\"pulled-copy\"}", 200));
    assert_true(tags_have("pulled-copy:latest"));
    json_decref(call("POST", "/api/copy",
                     "{\"source\":\"pulled:latest\",\"destination\":\"pulled-copy\"}", 409));
    json_decref(
        call("POST", "/api/copy", "{\"source\":\"pulled\",\"destination\":\"../escape\"}", 400));
    char *raw;
    assert_int_equal(request(&srv, "POST", "/api/create",
                             "{\"model\":\"made\",\"from\":\"stories260K:latest\"}", &raw),
                     200);
    assert_non_null(strstr(raw, "\"status\":\"success\""));
    free(raw);
    assert_true(tags_have("made:latest"));
    json_t *j =
        call("POST", "/api/create",
             "{\"model\":\"made2\",\"from\":\"stories260K\",\"system\":\"Be brief.\"}", 400);
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "system"));
    json_decref(j);
    json_decref(call("DELETE", "/api/delete", "{\"model\":\"pulled-copy:latest\"}", 200));
    json_decref(call("DELETE", "/api/delete", "{\"model\":\"made\"}", 200));
    json_decref(call("DELETE", "/api/delete", "{\"model\":\"pulled\"}", 200));
    assert_false(tags_have("pulled-copy:latest"));
    assert_false(tags_have("made:latest"));
    json_decref(call("DELETE", "/api/delete", "{\"model\":\"pulled\"}", 404));
    /* not streamed: one object at the end */
    snprintf(body, sizeof body,
             "{\"model\":\"http://127.0.0.1:%d/files/pulled.gguf\",\"stream\":false}", dl_port);
    j = call("POST", "/api/pull", body, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "success");
    json_decref(j);
    assert_true(tags_have("pulled:latest"));
    json_decref(call("DELETE", "/api/delete", "{\"model\":\"pulled\"}", 200));

    /* --offline: nothing is downloaded */
    struct rg_server off;
    const char *args[] = {"--offline", NULL};
    assert_int_equal(rg_server_start(&off, args, NULL), 0);
    assert_int_equal(request(&off, "POST", "/api/pull", body, &raw), 503);
    assert_non_null(strstr(raw, "offline"));
    free(raw);
    assert_int_equal(rg_server_stop(&off), 0);
    MHD_stop_daemon(dl);
    free(blob);
}

/* With accounts, changing the models is for admins: the first account is
 * the admin, the second is not. */
static void test_upkeep_needs_admin(void **state)
{
    (void)state;
    NEED();
    struct rg_server s;
    assert_int_equal(rg_server_start(&s, NULL, NULL), 0);
    assert_int_equal(rg_server_add_model(&s, "stories260K", model), 0);
    const char *emails[] = {"admin@example.com", "user@example.com"};
    char tokens[2][2048];
    for (int k = 0; k < 2; k++) {
        char cred[256];
        snprintf(cred, sizeof cred, "{\"email\":\"%s\",\"password\":\"correct horse battery\"}",
                 emails[k]);
        struct rg_resp r;
        const char *h[] = {"Content-Type: application/json", NULL};
        assert_int_equal(rg_http(&s, "POST", "/auth/register", h, cred, strlen(cred), &r), 0);
        if (r.status != 202) fail_msg("register: %ld %s", r.status, r.body);
        rg_resp_free(&r);
        assert_int_equal(rg_http(&s, "POST", "/auth/login", h, cred, strlen(cred), &r), 0);
        if (r.status != 200) fail_msg("login: %ld %s", r.status, r.body);
        json_t *j = json_loads(r.body, 0, NULL);
        const char *tok = json_string_value(json_object_get(j, "access_token"));
        assert_non_null(tok);
        snprintf(tokens[k], sizeof tokens[k], "Authorization: Bearer %s", tok);
        json_decref(j);
        rg_resp_free(&r);
    }
    const char body[] = "{\"source\":\"stories260K\",\"destination\":\"mine\"}";
    long want[2] = {200, 403};
    for (int k = 1; k >= 0; k--) {
        struct rg_resp r;
        const char *h[] = {"Content-Type: application/json", tokens[k], NULL};
        assert_int_equal(rg_http(&s, "POST", "/api/copy", h, body, sizeof body - 1, &r), 0);
        if (r.status != want[k]) fail_msg("account %d: %ld %s", k, r.status, r.body);
        rg_resp_free(&r);
    }
    struct rg_resp r; /* nobody signed in */
    assert_int_equal(rg_http(&s, "POST", "/api/copy", NULL, body, sizeof body - 1, &r), 0);
    assert_int_equal(r.status, 403);
    rg_resp_free(&r);
    assert_int_equal(rg_server_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tags_then_chat), cmocka_unit_test(test_native_tools),
        cmocka_unit_test(test_embed),          cmocka_unit_test(test_ps),
        cmocka_unit_test(test_model_upkeep),   cmocka_unit_test(test_upkeep_needs_admin),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
