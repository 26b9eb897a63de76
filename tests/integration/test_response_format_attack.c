/*
 * Issue 23's attacks on response_format, against the real server and model
 * (stories260K): a schema whose $ref points back into a 16-way anyOf of
 * itself used to cost minutes per token and jam the model's only slot; now
 * the answer comes back at once (within the harness's 30 s request timeout,
 * where it used to take minutes) and the slot serves the next request. A
 * schema that can never produce a finite document ({"$ref":"#"}, a -> a) and
 * one over the expansion limit are 400s naming response_format, never a 200
 * with an error in the body.
 */
#include "test.h"

#include <jansson.h>

#include "harness.h"

static struct rg_server srv;
static bool have_data;

static int setup(void **state)
{
    (void)state;
    char model[512];
    have_data = rg_test_data_path(model, sizeof model, "models/stories260K.gguf");
    if (!have_data) {
        fprintf(stderr, "SKIP: ../shared/testdata/models/stories260K.gguf is absent\n");
        return 0;
    }
    /* one slot: a jammed request would block every other one */
    const char *args[] = {"--parallel", "1", "--threads", "2", "--ctx-size", "512", NULL};
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

#define NEED_DATA()                                                                                \
    if (!have_data) skip()

static json_t *post(const char *body, long want_status)
{
    struct rg_resp r;
    const char *h[] = {"Content-Type: application/json", NULL};
    assert_int_equal(rg_http(&srv, "POST", "/v1/chat/completions", h, body, strlen(body), &r), 0);
    if (r.status != want_status)
        fail_msg("status %ld, want %ld: %s", r.status, want_status, r.body ? r.body : "");
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    if (!j) fail_msg("not JSON: %s", r.body);
    rg_resp_free(&r);
    return j;
}

/* A chat request under schema (JSON text) into buf. */
static void request(char *buf, size_t cap, const char *schema, int max_tokens)
{
    snprintf(buf, cap,
             "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"JSON "
             "please\"}],\"max_tokens\":%d,\"temperature\":0.8,\"seed\":7,\"response_format\":"
             "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":%s}}}",
             max_tokens, schema);
}

/* {"anyOf":[<item> x 15, <last>]} */
static void attack(char *buf, size_t cap, const char *item, const char *last)
{
    size_t o = (size_t)snprintf(buf, cap, "{\"anyOf\":[");
    for (int i = 0; i < 15; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s,", item);
    snprintf(buf + o, cap - o, "%s]}", last);
}

static void test_recursive_anyof_answers(void **state)
{
    (void)state;
    NEED_DATA();
    static const struct {
        const char *item, *last;
    } attacks[] = {
        {"{\"$ref\":\"#\"}", "{\"type\":\"string\",\"maxLength\":20}"},
        {"{\"type\":\"array\",\"items\":{\"$ref\":\"#\"},\"maxItems\":2}", "{\"$ref\":\"#\"}"},
    };
    char schema[4096], body[8192];
    for (size_t a = 0; a < sizeof attacks / sizeof attacks[0]; a++) {
        attack(schema, sizeof schema, attacks[a].item, attacks[a].last);
        request(body, sizeof body, schema, 48);
        json_t *resp = post(body, 200);
        json_t *choice = json_array_get(json_object_get(resp, "choices"), 0);
        const char *content =
            json_string_value(json_object_get(json_object_get(choice, "message"), "content"));
        const char *finish = json_string_value(json_object_get(choice, "finish_reason"));
        assert_non_null(content);
        assert_non_null(finish);
        if (!strcmp(finish, "stop")) { /* a whole document: it parses */
            json_t *doc = json_loads(content, JSON_DECODE_ANY, NULL);
            if (!doc) fail_msg("attack %zu: not JSON: %s", a, content);
            json_decref(doc);
        } else {
            assert_string_equal(finish, "length");
        }
        json_decref(resp);
    }
    /* the only slot is free again: a plain request is answered */
    const char *plain = "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":"
                        "\"hi\"}],\"max_tokens\":4}";
    json_t *resp = post(plain, 200);
    json_decref(resp);
}

static void expect_400(const char *schema, const char *msg)
{
    char body[16384];
    request(body, sizeof body, schema, 8);
    json_t *j = post(body, 400);
    json_t *e = json_object_get(j, "error");
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "param")), "response_format");
    const char *m = json_string_value(json_object_get(e, "message"));
    if (!m || !strstr(m, msg)) fail_msg("message '%s', want '%s'", m ? m : "(none)", msg);
    json_decref(j);
}

static void test_unsatisfiable_schemas_are_400(void **state)
{
    (void)state;
    NEED_DATA();
    expect_400("{\"$ref\":\"#\"}", "finite document");
    expect_400("{\"$ref\":\"#/$defs/a\",\"$defs\":{\"a\":{\"$ref\":\"#/$defs/a\"}}}",
               "finite document");
    expect_400("{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}},\"required\":[\"a\"]}",
               "finite document");
    /* 16 x 16 distinct alternatives for one value: over the expansion limit */
    char schema[8192];
    size_t o = (size_t)snprintf(schema, sizeof schema, "{\"anyOf\":[");
    for (int i = 0; i < 16; i++) {
        o += (size_t)snprintf(schema + o, sizeof schema - o, "%s{\"anyOf\":[", i ? "," : "");
        for (int k = 0; k < 16; k++)
            o += (size_t)snprintf(schema + o, sizeof schema - o, "%s{\"const\":%d}", k ? "," : "",
                                  i * 16 + k);
        o += (size_t)snprintf(schema + o, sizeof schema - o, "]}");
    }
    snprintf(schema + o, sizeof schema - o, "]}");
    expect_400(schema, "too complex");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recursive_anyof_answers),
        cmocka_unit_test(test_unsatisfiable_schemas_are_400),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
