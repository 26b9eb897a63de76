/*
 * GitHub Copilot Chat, replayed (microsoft/vscode-copilot-chat). Its Ollama
 * provider (src/extension/byok/vscode-node/ollamaProvider.ts) discovers
 * models with GET /api/version, GET /api/tags and POST /api/show
 * {"model": name} and sends no Authorization header on them, then chats on
 * /v1/chat/completions with the name from /api/tags; its OpenAI-compatible
 * provider lists /v1/models and reads "tools" from the capabilities. Its
 * chat requests carry no max_tokens (it deletes the field), and with
 * tool_choice a forced call may be cut short by a client's limit.
 */
#include "test.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"
#include "harness_models.h"

static char model[512];
static bool have;

static int setup(void **state)
{
    (void)state;
    have = rg_test_data_path(model, sizeof model, "models/stories260K.gguf") != NULL;
    if (!have) fprintf(stderr, "SKIP: ../shared/testdata/models/stories260K.gguf is absent\n");
    return 0;
}

#define NEED()                                                                                     \
    if (!have) skip()

static long status_of(struct rg_server *s, const char *method, const char *path, const char *auth,
                      const char *body, char **out)
{
    struct rg_resp r;
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    assert_int_equal(rg_http(s, method, path, h, body, body ? strlen(body) : 0, &r), 0);
    long st = r.status;
    if (out) *out = strdup(r.body ? r.body : "");
    rg_resp_free(&r);
    return st;
}

static void start(struct rg_server *s, const char *const *args)
{
    assert_int_equal(rg_server_start(s, args, NULL), 0);
    assert_int_equal(rg_server_add_model(s, "stories260K", model), 0);
}

static const char CHAT[] =
    "{\"model\":\"stories260K:latest\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
    "\"max_tokens\":2,\"stream\":false}";

/* With --api-key, discovery works without the key from this machine (the
 * default), chat needs it; --discovery-auth key closes discovery too. */
static void test_discovery_with_api_key(void **state)
{
    (void)state;
    NEED();
    struct rg_server s;
    const char *args[] = {"--api-key", "sekret", NULL};
    start(&s, args);
    const char *key = "Authorization: Bearer sekret";
    char *body;
    assert_int_equal(status_of(&s, "GET", "/api/version", NULL, NULL, NULL), 200);
    assert_int_equal(status_of(&s, "GET", "/api/tags", NULL, NULL, &body), 200);
    assert_non_null(strstr(body, "\"name\":\"stories260K:latest\""));
    free(body);
    assert_int_equal(
        status_of(&s, "POST", "/api/show", NULL, "{\"model\":\"stories260K:latest\"}", &body), 200);
    json_t *j = json_loads(body, 0, NULL);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(j, "model_info"), "llama.context_length")),
                     2048);
    json_decref(j);
    free(body);
    /* the rest still needs the key */
    assert_int_equal(status_of(&s, "POST", "/v1/chat/completions", NULL, CHAT, NULL), 401);
    assert_int_equal(status_of(&s, "POST", "/api/chat", NULL, CHAT, NULL), 401);
    assert_int_equal(status_of(&s, "GET", "/v1/models", NULL, NULL, NULL), 401);
    assert_int_equal(status_of(&s, "POST", "/v1/chat/completions", key, CHAT, NULL), 200);
    assert_int_equal(
        status_of(&s, "POST", "/v1/chat/completions", "Authorization: Bearer nope", CHAT, NULL),
        401);
    assert_int_equal(rg_server_stop(&s), 0);

    const char *closed[] = {"--api-key", "sekret", "--discovery-auth", "key", NULL};
    start(&s, closed);
    assert_int_equal(status_of(&s, "GET", "/api/tags", NULL, NULL, NULL), 401);
    assert_int_equal(status_of(&s, "POST", "/api/show", NULL, "{\"model\":\"stories260K\"}", NULL),
                     401);
    assert_int_equal(status_of(&s, "GET", "/api/tags", key, NULL, NULL), 200);
    assert_int_equal(rg_server_stop(&s), 0);

    const char *open[] = {"--api-key", "sekret", "--discovery-auth", "open", NULL};
    start(&s, open);
    assert_int_equal(status_of(&s, "GET", "/api/tags", NULL, NULL, NULL), 200);
    assert_int_equal(status_of(&s, "POST", "/api/chat", NULL, CHAT, NULL), 401);
    assert_int_equal(rg_server_stop(&s), 0);

    struct rg_run r;
    const char *bad[] = {"serve", "--port", "0", "--discovery-auth", "everyone", NULL};
    assert_int_equal(rg_run_cli(bad, NULL, NULL, 10, &r), 0);
    assert_true(r.status != 0);
    assert_non_null(strstr(r.err, "--discovery-auth"));
    rg_run_free(&r);
}

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
    (void)p, (void)ud;
    return size * n;
}

/* GET url without a key: the status (0 when it cannot connect). */
static long get_status(const char *url)
{
    CURL *c = curl_easy_init();
    long code = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code;
}

/* An IPv4 address of this machine that is not loopback, or false. */
static bool other_address(char *out, size_t n)
{
    struct ifaddrs *ifs, *i;
    bool found = false;
    if (getifaddrs(&ifs) != 0) return false;
    for (i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        const struct in_addr *a = &((const struct sockaddr_in *)i->ifa_addr)->sin_addr;
        if ((ntohl(a->s_addr) >> 24) == 127) continue;
        found = inet_ntop(AF_INET, a, out, (socklen_t)n) != NULL;
    }
    freeifaddrs(ifs);
    return found;
}

/* Open on loopback means the peer's address, not the server's: on a public
 * bind, a caller from another address needs the key for discovery too
 * (unless --discovery-auth open). */
static void test_discovery_other_address(void **state)
{
    (void)state;
    NEED();
    char ip[64];
    if (!other_address(ip, sizeof ip)) {
        fprintf(stderr, "SKIP: this machine has no non-loopback IPv4 address\n");
        skip();
    }
    for (int open = 0; open < 2; open++) {
        struct rg_server s;
        const char *args[] = {"--host", "0.0.0.0",          "--api-key",
                              "sekret", "--discovery-auth", open ? "open" : "loopback",
                              NULL};
        start(&s, args);
        char url[128];
        snprintf(url, sizeof url, "http://%s:%d/api/tags", ip, s.port);
        assert_int_equal(get_status(url), open ? 200 : 401);
        snprintf(url, sizeof url, "http://127.0.0.1:%d/api/tags", s.port);
        assert_int_equal(get_status(url), 200);
        assert_int_equal(rg_server_stop(&s), 0);
    }
}

/* /v1/models says "tools" where /api/show does. */
static void test_models_tools(void **state)
{
    (void)state;
    NEED();
    struct rg_server s;
    start(&s, NULL);
    char dst[600];
    snprintf(dst, sizeof dst, "%s/models/toolish.gguf", s.dir);
    assert_int_equal(rg_test_model_variant(model, dst, RG_TEST_TOOL_TEMPLATE, NULL, NULL, 0), 0);
    char *body;
    assert_int_equal(status_of(&s, "GET", "/v1/models", NULL, NULL, &body), 200);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    int seen = 0;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(j, "data"), i, m)
    {
        const char *id = json_string_value(json_object_get(m, "id"));
        char *caps = json_dumps(json_object_get(m, "capabilities"), JSON_COMPACT);
        if (!strcmp(id, "toolish")) assert_string_equal(caps, "[\"completion\",\"tools\"]"), seen++;
        if (!strcmp(id, "stories260K")) assert_string_equal(caps, "[\"completion\"]"), seen++;
        free(caps);
    }
    assert_int_equal(seen, 2);
    json_decref(j);
    assert_int_equal(status_of(&s, "GET", "/v1/models/toolish", NULL, NULL, &body), 200);
    assert_non_null(strstr(body, "\"tools\""));
    free(body);
    assert_int_equal(
        status_of(&s, "POST", "/api/show", NULL, "{\"model\":\"toolish:latest\"}", &body), 200);
    assert_non_null(strstr(body, "\"tools\""));
    free(body);
    assert_int_equal(rg_server_stop(&s), 0);
}

/* No max_tokens: the answer stops at --default-max-tokens, not at the end
 * of the context. */
static void test_default_max_tokens(void **state)
{
    (void)state;
    NEED();
    struct rg_server s;
    const char *args[] = {"--default-max-tokens", "7", NULL};
    start(&s, args);
    const char body[] = "{\"model\":\"stories260K:latest\",\"messages\":[{\"role\":\"user\","
                        "\"content\":\"Once upon a time\"}],\"temperature\":0,\"stream\":false}";
    char *out;
    assert_int_equal(status_of(&s, "POST", "/v1/chat/completions", NULL, body, &out), 200);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "usage"), "completion_tokens")), 7);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "choices"), 0), "finish_reason")),
                        "length");
    json_decref(j);
    /* a max_tokens given is the client's, above the default too */
    const char more[] = "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":"
                        "\"Once upon a time\"}],\"temperature\":0,\"max_tokens\":9,"
                        "\"ignore_eos\":true}";
    assert_int_equal(status_of(&s, "POST", "/v1/chat/completions", NULL, more, &out), 200);
    j = json_loads(out, 0, NULL);
    free(out);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "usage"), "completion_tokens")), 9);
    json_decref(j);
    assert_int_equal(rg_server_stop(&s), 0);
}

/* A forced call cut short by max_tokens: no raw <tool_call> text, and the
 * finish says it was cut ("length"), streamed or not. */
static void test_forced_call_cut(void **state)
{
    (void)state;
    NEED();
    struct rg_server s;
    start(&s, NULL);
    const char *head =
        "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":"
        "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":["
        "\"city\"]}}}],\"tool_choice\":\"required\",\"temperature\":0";
    char body[2048], *out;
    snprintf(body, sizeof body, "%s,\"max_tokens\":20}", head);
    assert_int_equal(status_of(&s, "POST", "/v1/chat/completions", NULL, body, &out), 200);
    json_t *j = json_loads(out, 0, NULL);
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "length");
    const char *content =
        json_string_value(json_object_get(json_object_get(ch, "message"), "content"));
    if (content && *content) fail_msg("raw call text came back: %s", out);
    assert_null(json_object_get(json_object_get(ch, "message"), "tool_calls"));
    json_decref(j);
    free(out);
    snprintf(body, sizeof body, "%s,\"max_tokens\":20,\"stream\":true}", head);
    assert_int_equal(status_of(&s, "POST", "/v1/chat/completions", NULL, body, &out), 200);
    assert_null(strstr(out, "\"content\":\""));
    assert_non_null(strstr(out, "\"finish_reason\":\"length\""));
    free(out);
    /* a whole call: no content before it (the model writes " <tool_call>";
     * Copilot would show the " "), streamed or not */
    snprintf(body, sizeof body, "%s,\"max_tokens\":300}", head);
    assert_int_equal(status_of(&s, "POST", "/v1/chat/completions", NULL, body, &out), 200);
    j = json_loads(out, 0, NULL);
    ch = json_array_get(json_object_get(j, "choices"), 0);
    if (strcmp(json_string_value(json_object_get(ch, "finish_reason")), "tool_calls"))
        fail_msg("not a call: %s", out);
    assert_true(json_is_null(json_object_get(json_object_get(ch, "message"), "content")));
    json_decref(j);
    free(out);
    snprintf(body, sizeof body, "%s,\"max_tokens\":300,\"stream\":true}", head);
    assert_int_equal(status_of(&s, "POST", "/v1/chat/completions", NULL, body, &out), 200);
    if (strstr(out, "\"content\":\"")) fail_msg("content before the call: %s", out);
    assert_non_null(strstr(out, "\"tool_calls\""));
    free(out);
    assert_int_equal(rg_server_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discovery_with_api_key),
        cmocka_unit_test(test_discovery_other_address),
        cmocka_unit_test(test_models_tools),
        cmocka_unit_test(test_default_max_tokens),
        cmocka_unit_test(test_forced_call_cut),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
