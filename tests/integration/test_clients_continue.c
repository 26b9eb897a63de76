/*
 * Continue, replayed: the requests of its Ollama provider
 * (continuedev/continue, core/llm/llms/Ollama.ts: /api/show with "name",
 * whose "parameters" it splits into lines matching
 * /^(\S+)\s+((?:".*")|\S+)$/ for num_ctx, and whose template it searches
 * for ".Suffix" to decide on fill-in-the-middle; /api/generate with
 * "prompt", "suffix", "raw", "options" {num_predict, stop, num_ctx},
 * keep_alive 1800; /api/chat with "tools" and "stream": false in agent
 * mode, tool_calls read back with arguments as objects) and of its
 * autocomplete (core/autocomplete/templating/getStopTokens.ts: a dozen stop
 * sequences on every request, through the Ollama and the OpenAI provider).
 */
#include "test.h"

#include <regex.h>

#include <jansson.h>

#include "harness.h"
#include "harness_models.h"

static struct rg_server srv;
static char model[512];
static bool have;

/* Token ids of stories260K renamed to Qwen 2.5 Coder's FIM tokens, for a
 * model that has them. */
static const int32_t FIM_IDS[] = {509, 510, 511};
static const char *const FIM_TEXT[] = {"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"};

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
    char dst[600];
    snprintf(dst, sizeof dst, "%s/models/coder.gguf", srv.dir);
    if (rg_test_model_variant(model, dst, NULL, FIM_IDS, FIM_TEXT, 3) != 0) return -1;
    return rg_server_add_model(&srv, "stories260K", model);
}

static int teardown(void **state)
{
    (void)state;
    return have && rg_server_stop(&srv) != 0 ? -1 : 0;
}

#define NEED()                                                                                     \
    if (!have) skip()

static json_t *call(const char *path, const char *body, long want)
{
    struct rg_resp r;
    const char *h[] = {"Content-Type: application/json", NULL};
    assert_int_equal(rg_http(&srv, "POST", path, h, body, strlen(body), &r), 0);
    if (r.status != want) fail_msg("%s: status %ld, want %ld: %s", path, r.status, want, r.body);
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    if (!j) fail_msg("%s: not JSON: %s", path, r.body);
    rg_resp_free(&r);
    return j;
}

/* A streamed /api/generate: the text of its lines, and the done line. */
static json_t *generate_stream(const char *body, char *text, size_t cap)
{
    struct rg_resp r;
    assert_int_equal(rg_http(&srv, "POST", "/api/generate", NULL, body, strlen(body), &r), 0);
    if (r.status != 200) fail_msg("/api/generate: %ld %s", r.status, r.body);
    size_t tl = 0;
    text[0] = '\0';
    json_t *done = NULL;
    char *save = NULL;
    for (char *l = strtok_r(r.body, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(l, 0, NULL);
        if (!o) fail_msg("not an NDJSON line: %s", l);
        const char *t = json_string_value(json_object_get(o, "response"));
        if (t) tl += (size_t)snprintf(text + tl, cap - tl, "%s", t);
        if (json_is_true(json_object_get(o, "done"))) {
            done = o;
        } else {
            json_decref(o);
        }
    }
    rg_resp_free(&r);
    assert_non_null(done);
    return done;
}

/* /api/show as Continue reads it: every parameters line parses, num_ctx is
 * the served context; ".Suffix" only for a model with FIM tokens. */
static void test_show(void **state)
{
    (void)state;
    NEED();
    regex_t re;
    assert_int_equal(
        regcomp(&re, "^([^[:space:]]+)[[:space:]]+(\"[^\"]*\"|[^[:space:]]+)$", REG_EXTENDED), 0);
    const char *names[] = {"stories260K", "coder:latest"};
    for (int k = 0; k < 2; k++) {
        char body[128];
        snprintf(body, sizeof body, "{\"name\":\"%s\"}", names[k]);
        json_t *j = call("/api/show", body, 200);
        const char *params = json_string_value(json_object_get(j, "parameters"));
        assert_non_null(params);
        char *copy = strdup(params), *save = NULL;
        long num_ctx = -1;
        int lines = 0;
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            regmatch_t m[3];
            if (regexec(&re, l, 3, m, 0) != 0)
                fail_msg("a parameters line Continue cannot split: '%s'", l);
            lines++;
            if (!strncmp(l + m[1].rm_so, "num_ctx", 7)) num_ctx = strtol(l + m[2].rm_so, NULL, 10);
        }
        free(copy);
        assert_true(lines > 0);
        assert_int_equal(num_ctx, 1024);
        const char *tmpl = json_string_value(json_object_get(j, "template"));
        assert_non_null(tmpl);
        char *caps = json_dumps(json_object_get(j, "capabilities"), JSON_COMPACT);
        if (k == 0) {
            assert_null(strstr(tmpl, ".Suffix"));
            assert_null(strstr(caps, "insert"));
        } else {
            assert_non_null(strstr(tmpl, ".Suffix"));
            assert_non_null(strstr(tmpl, "<|fim_suffix|>"));
            assert_non_null(strstr(caps, "\"insert\""));
        }
        free(caps);
        json_decref(j);
    }
    regfree(&re);
}

/* getStopTokens.ts: the common stops, then the template's own. The last is
 * replaced by a piece of the model's greedy answer, so that it must stop. */
static void stops_json(char *out, size_t cap, const char *cut)
{
    json_t *a = json_pack("[s, s, s, s, s, s, s, s, s, s, s, s]", "\n\n", "\r\n\r\n", "/src/",
                          "#- coding: utf-8", "```", "<|endoftext|>", "<|fim_prefix|>",
                          "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", cut);
    char *s = json_dumps(a, JSON_COMPACT);
    snprintf(out, cap, "%s", s);
    free(s);
    json_decref(a);
}

/* Autocomplete with its 12 stops, on both providers: accepted, and the
 * answer ends before a stop. More than the cap is a 400. */
static void test_autocomplete_stops(void **state)
{
    (void)state;
    NEED();
    char text[8192], body[8192], stops[1024];
    /* the greedy answer without stops */
    json_t *done = generate_stream("{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\","
                                   "\"raw\":true,\"options\":{\"temperature\":0,\"num_predict\":"
                                   "48},\"stream\":true}",
                                   text, sizeof text);
    json_decref(done);
    size_t full = strlen(text);
    assert_true(full > 40);
    /* a stop from the middle of it */
    char cut[8];
    snprintf(cut, sizeof cut, "%.5s", text + full / 2);
    size_t before = (size_t)(strstr(text, cut) - text);
    stops_json(stops, sizeof stops, cut);
    snprintf(body, sizeof body,
             "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"raw\":true,"
             "\"options\":{\"temperature\":0,\"num_predict\":48,\"stop\":%s,\"num_ctx\":1024},"
             "\"keep_alive\":1800,\"stream\":true}",
             stops);
    char stopped[8192];
    done = generate_stream(body, stopped, sizeof stopped);
    assert_int_equal(strlen(stopped), before);
    assert_memory_equal(stopped, text, before);
    assert_string_equal(json_string_value(json_object_get(done, "done_reason")), "stop");
    json_decref(done);
    /* the OpenAI provider sends the same list */
    snprintf(body, sizeof body,
             "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"max_tokens\":48,"
             "\"temperature\":0,\"stop\":%s,\"stream\":false}",
             stops);
    json_t *j = call("/v1/completions", body, 200);
    const char *t = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text"));
    assert_non_null(t);
    assert_int_equal(strlen(t), before);
    json_decref(j);
    /* past the documented cap of 64 */
    char many[2048] = "[";
    for (int i = 0; i < 65; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s\"s%d\"", i ? "," : "", i);
    strcat(many, "]");
    snprintf(body, sizeof body,
             "{\"model\":\"stories260K\",\"prompt\":\"x\",\"max_tokens\":2,\"stop\":%s}", many);
    j = call("/v1/completions", body, 400);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "param")),
                        "stop");
    json_decref(j);
}

/* Fill-in-the-middle: prompt and suffix around the FIM tokens. */
static void test_fim(void **state)
{
    (void)state;
    NEED();
    const char *prefix = "def add(a, b):\\n    return ";
    const char *suffix = "\\n\\nprint(add(1, 2))\\n";
    char body[2048];
    long counts[3];
    const char *bodies[3][2] = {{prefix, NULL}, {suffix, NULL}, {prefix, suffix}};
    for (int k = 0; k < 3; k++) {
        char sfx[256] = "";
        if (bodies[k][1]) snprintf(sfx, sizeof sfx, "\"suffix\":\"%s\",", bodies[k][1]);
        snprintf(body, sizeof body,
                 "{\"model\":\"coder\",\"prompt\":\"%s\",%s\"raw\":true,\"stream\":false,"
                 "\"options\":{\"temperature\":0.01,\"num_predict\":4,\"stop\":[\"\\n\\n\"]},"
                 "\"keep_alive\":1800}",
                 bodies[k][0], sfx);
        json_t *j = call("/api/generate", body, 200);
        counts[k] = (long)json_integer_value(json_object_get(j, "prompt_eval_count"));
        json_decref(j);
    }
    /* BOS prefix SUF suffix MID: the two texts (each counted with BOS), the
     * three FIM tokens, one BOS */
    assert_int_equal(counts[2], counts[0] + counts[1] + 3 - 1);
    /* a model without FIM tokens says so */
    snprintf(body, sizeof body,
             "{\"model\":\"stories260K\",\"prompt\":\"%s\",\"suffix\":\"%s\",\"stream\":false}",
             prefix, suffix);
    json_t *j = call("/api/generate", body, 400);
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "suffix"));
    json_decref(j);
}

/* Agent mode over Ollama: tools with stream false; a call comes back as
 * message.tool_calls, its arguments an object. */
static void test_agent_tools(void **state)
{
    (void)state;
    NEED();
    const char *tools =
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"builtin_read_file\","
        "\"description\":\"Use this tool to read a file\",\"parameters\":{\"type\":\"object\","
        "\"required\":[\"filepath\"],\"properties\":{\"filepath\":{\"type\":\"string\","
        "\"description\":\"The path of the file\"}}}}},{\"type\":\"function\",\"function\":{"
        "\"name\":\"builtin_run_terminal_command\",\"description\":\"Run a command\","
        "\"parameters\":{\"type\":\"object\",\"required\":[\"command\"],\"properties\":{"
        "\"command\":{\"type\":\"string\"}}}}}]";
    const char *msgs = "\"messages\":[{\"role\":\"system\",\"content\":\"You are a coding "
                       "agent.\"},{\"role\":\"user\",\"content\":\"Read main.c\"}]";
    char body[4096];
    snprintf(body, sizeof body,
             "{\"model\":\"stories260K\",%s,\"options\":{\"num_predict\":1,\"num_ctx\":1024},"
             "\"keep_alive\":1800,\"stream\":false}",
             msgs);
    json_t *plain = call("/api/chat", body, 200);
    snprintf(body, sizeof body,
             "{\"model\":\"stories260K\",%s,\"options\":{\"num_predict\":1,\"num_ctx\":1024},"
             "\"keep_alive\":1800,\"stream\":false,%s}",
             msgs, tools);
    json_t *with = call("/api/chat", body, 200);
    json_int_t p0 = json_integer_value(json_object_get(plain, "prompt_eval_count"));
    json_int_t p1 = json_integer_value(json_object_get(with, "prompt_eval_count"));
    if (p1 <= p0 + 40) fail_msg("the tools are not in the prompt: %lld vs %lld", p1, p0);
    json_decref(plain);
    json_decref(with);
    snprintf(body, sizeof body,
             "{\"model\":\"stories260K\",%s,\"options\":{\"num_predict\":200,\"temperature\":0.5,"
             "\"seed\":4},\"stream\":false,%s,\"format\":{\"type\":\"object\",\"properties\":{"
             "\"name\":{\"const\":\"builtin_read_file\"},\"arguments\":{\"type\":\"object\","
             "\"properties\":{\"filepath\":{\"type\":\"string\",\"maxLength\":10}},\"required\":["
             "\"filepath\"]}},\"required\":[\"name\",\"arguments\"]}}",
             msgs, tools);
    json_t *j = call("/api/chat", body, 200);
    json_t *msg = json_object_get(j, "message");
    assert_string_equal(json_string_value(json_object_get(msg, "role")), "assistant");
    json_t *tc = json_object_get(msg, "tool_calls");
    assert_int_equal(json_array_size(tc), 1);
    json_t *fn = json_object_get(json_array_get(tc, 0), "function");
    assert_string_equal(json_string_value(json_object_get(fn, "name")), "builtin_read_file");
    json_t *args = json_object_get(fn, "arguments");
    assert_true(json_is_object(args));
    assert_true(json_is_string(json_object_get(args, "filepath")));
    assert_string_equal(json_string_value(json_object_get(msg, "content")), "");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_show),
        cmocka_unit_test(test_autocomplete_stops),
        cmocka_unit_test(test_fim),
        cmocka_unit_test(test_agent_tools),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
