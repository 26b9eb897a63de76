/*
 * What one request may cost (issue 23, breaks 3 and 10): n answers x tokens x
 * logprob alternatives stay within --max-request-work (an unset max_tokens is
 * fitted to it, a larger one is refused), the server's memory stays bounded
 * and the reply is never an empty 200; an embedding input over the context
 * is a 400, not a 200 with an error inside.
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
    if (!rg_test_data_path(model, sizeof model, "models/stories260K.gguf")) {
        fprintf(stderr, "SKIP: ../shared/testdata/models/stories260K.gguf is absent\n");
        return 0;
    }
    have_data = true;
    const char *args[] = {"--parallel",         "2",    "--threads", "2", "--ctx-size", "1024",
                          "--max-request-work", "4096", NULL};
    if (rg_server_start(&srv, args, NULL) != 0) return -1;
    return rg_server_add_model(&srv, "m", model);
}

static int teardown(void **state)
{
    (void)state;
    return have_data && rg_server_stop(&srv) != 0 ? -1 : 0;
}

static long post(const char *path, const char *body, json_t **out)
{
    struct rg_resp r;
    const char *h[] = {"Content-Type: application/json", NULL};
    assert_int_equal(rg_http(&srv, "POST", path, h, body, strlen(body), &r), 0);
    long st = r.status;
    *out = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
    if (!*out)
        fail_msg("%s: status %ld, body not JSON (%zu bytes): %.200s", path, st, r.len,
                 r.body ? r.body : "");
    rg_resp_free(&r);
    return st;
}

static long rss(void)
{
    struct rg_resp r;
    assert_int_equal(rg_http(&srv, "GET", "/status", NULL, NULL, 0, &r), 0);
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    long v = (long)json_integer_value(json_object_get(json_object_get(j, "memory"), "rss_bytes"));
    json_decref(j);
    rg_resp_free(&r);
    return v;
}

static void test_n_times_logprobs_is_bounded(void **state)
{
    (void)state;
    if (!have_data) skip();
    long before = rss();
    json_t *j;
    /* the attack: 16 answers with 20 alternatives each and no max_tokens */
    long st =
        post("/v1/chat/completions",
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Tell a story\"}],"
             "\"n\":16,\"logprobs\":true,\"top_logprobs\":20,\"ignore_eos\":true}",
             &j);
    assert_int_equal(st, 200);
    json_t *choices = json_object_get(j, "choices");
    assert_int_equal(json_array_size(choices), 16);
    long gen =
        (long)json_integer_value(json_object_get(json_object_get(j, "usage"), "completion_tokens"));
    assert_true(gen > 0);
    assert_true(gen <= 4096 / 21); /* --max-request-work over (1 + top_logprobs) */
    json_decref(j);
    /* asked for more than the limit: refused before any work */
    st = post("/v1/chat/completions",
              "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
              "\"n\":16,\"logprobs\":true,\"top_logprobs\":20,\"max_tokens\":100}",
              &j);
    assert_int_equal(st, 400);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "param")),
                        "max_tokens");
    json_decref(j);
    long after = rss();
    if (after - before > 256L << 20) fail_msg("RSS grew from %ld to %ld bytes", before, after);
}

static void test_errors_are_not_200(void **state)
{
    (void)state;
    if (!have_data) skip();
    /* an input longer than the 1,024-token context */
    char *big = malloc(20000);
    size_t k = 0;
    k += (size_t)snprintf(big, 20000, "{\"model\":\"m\",\"input\":\"");
    for (int i = 0; i < 1500; i++)
        k += (size_t)snprintf(big + k, 20000 - k, "cat ");
    snprintf(big + k, 20000 - k, "\"}");
    json_t *j;
    assert_int_equal(post("/v1/embeddings", big, &j), 400);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "context_length_exceeded");
    json_decref(j);
    free(big);
    /* a prompt over the context, for completions too */
    assert_int_equal(post("/v1/completions",
                          "{\"model\":\"m\",\"prompt\":[1,2,3],\"max_tokens\":4,\"n\":17}", &j),
                     400);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_n_times_logprobs_is_bounded),
        cmocka_unit_test(test_errors_are_not_200),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
