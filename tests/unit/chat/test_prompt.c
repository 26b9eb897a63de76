/*
 * chat/: a request's conversation becomes the template's tokens, bad input
 * is refused naming its field, every allocation failing in turn gives an
 * error and leaks nothing, and a streamed answer is split into content and
 * tool calls whatever the pieces it arrives in.
 */
#include "test.h"

#include <jansson.h>

#include "chat/chat.h"
#include "common/alloc.h"

static struct rg_model *model;

static int setup(void **state)
{
    (void)state;
    char path[512];
    if (!rg_test_data_path(path, sizeof path, "models/stories260K.gguf")) {
        fprintf(stderr, "SKIP: ../shared/testdata/models/stories260K.gguf is absent\n");
        return 0;
    }
    struct rg_model_params p = rg_model_default_params();
    p.vocab_only = true;
    char err[RG_ERR_SIZE];
    model = rg_model_load(path, &p, err);
    return model ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rg_model_free(model);
    return 0;
}

static int build(const char *json, struct rg_chat_prompt *out, struct rg_req_err *e)
{
    json_t *body = json_loads(json, 0, NULL);
    assert_non_null(body);
    int rc = rg_chat_prompt_build(body, rg_model_vocab(model), RG_CHAT_CHATML, out, e);
    json_decref(body);
    return rc;
}

static void test_tokens_are_the_template(void **state)
{
    (void)state;
    if (!model) skip();
    struct rg_chat_prompt p;
    struct rg_req_err e;
    assert_int_equal(
        build("{\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},"
              "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]}]}",
              &p, &e),
        RG_OK);
    struct rg_chat_msg msgs[] = {{"system", "Be brief."}, {"user", "Hi"}};
    int32_t *want;
    size_t n;
    char err[RG_ERR_SIZE];
    assert_int_equal(
        rg_chat_tokenize_msgs(rg_model_vocab(model), RG_CHAT_CHATML, msgs, 2, &want, &n, err),
        RG_OK);
    assert_int_equal(p.n_tokens, n);
    assert_memory_equal(p.tokens, want, n * sizeof *want);
    assert_null(p.tools);
    assert_null(p.force);
    rg_free(want);
    rg_chat_prompt_free(&p);
}

static void test_bad_input_names_field(void **state)
{
    (void)state;
    if (!model) skip();
    static const struct {
        const char *body, *param;
    } C[] = {
        {"{}", "messages"},
        {"{\"messages\":[]}", "messages"},
        {"{\"messages\":[{\"content\":\"x\"}]}", "messages[0].role"},
        {"{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "messages[0].role"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
         "messages[0].content"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":7}]}", "messages[0].content"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\","
         "\"function\":{\"name\":\"f\"}}],\"tool_choice\":{\"type\":\"function\",\"function\":{"
         "\"name\":\"g\"}}}",
         "tool_choice"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"nope\"}]}",
         "tools"},
    };
    for (size_t i = 0; i < RG_ARRAY_LEN(C); i++) {
        struct rg_chat_prompt p;
        struct rg_req_err e = {0};
        int rc = build(C[i].body, &p, &e);
        if (rc == RG_OK) fail_msg("accepted: %s", C[i].body);
        assert_int_equal(e.status, 400);
        assert_string_equal(e.param, C[i].param);
        assert_null(p.tokens);
    }
}

/* A forced call: the answer is constrained, the tools are kept for parsing. */
static void test_tools_and_forced_call(void **state)
{
    (void)state;
    if (!model) skip();
    struct rg_chat_prompt p;
    struct rg_req_err e;
    assert_int_equal(build("{\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"}],"
                           "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get\","
                           "\"parameters\":{\"type\":\"object\"}}}],\"tool_choice\":\"required\","
                           "\"parallel_tool_calls\":false}",
                           &p, &e),
                     RG_OK);
    assert_non_null(p.tools);
    assert_non_null(p.force);
    assert_true(p.one_call);
    rg_chat_prompt_free(&p);
}

/* Every allocation failing in turn: an error (never a crash), nothing leaked
 * (LeakSanitizer in the sanitizer build), and in the end a success. */
static void test_allocation_failures(void **state)
{
    (void)state;
    if (!model) skip();
    const char *body = "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\","
                       "\"content\":\"Hello there\"},{\"role\":\"assistant\",\"content\":null,"
                       "\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                       "{\"role\":\"tool\",\"content\":\"42\"}],\"tools\":[{\"type\":\"function\","
                       "\"function\":{\"name\":\"f\"}}]}";
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    bool ok = false;
    long n;
    for (n = 0; n < 5000 && !ok; n++) {
        struct rg_chat_prompt p;
        struct rg_req_err e = {0};
        rg_alloc_fail_after(n);
        int rc = rg_chat_prompt_build(j, rg_model_vocab(model), RG_CHAT_CHATML, &p, &e);
        rg_alloc_fail_after(-1);
        if (rc == RG_OK) {
            ok = true;
            assert_true(p.n_tokens > 0);
        } else {
            assert_true(e.status >= 400);
            assert_null(p.tokens);
        }
        rg_chat_prompt_free(&p);
    }
    json_decref(j);
    assert_true(ok);
    assert_true(n > 5); /* the failures did reach its allocations */
}

/* Content and calls, fed in pieces of every size. */
static void split(const char *answer, size_t piece, const json_t *tools, struct rg_buf *content,
                  json_t **calls)
{
    struct rg_chat_answer a;
    rg_chat_answer_init(&a, tools, false);
    rg_buf_init(content, 1 << 20);
    size_t len = strlen(answer);
    for (size_t i = 0; i < len; i += piece)
        assert_int_equal(rg_chat_answer_feed(&a, answer + i, RG_MIN(piece, len - i), content),
                         RG_OK);
    assert_int_equal(rg_chat_answer_end(&a, "t", content, calls), RG_OK);
    rg_chat_answer_free(&a);
}

static void test_answer_split(void **state)
{
    (void)state;
    json_t *tools =
        json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"get\"}}]", 0, NULL);
    const char *with_call = "Let me look. <tool_call>{\"name\":\"get\",\"arguments\":{\"q\":1}}"
                            "</tool_call>";
    for (size_t piece = 1; piece < 20; piece++) {
        struct rg_buf c;
        json_t *calls;
        split(with_call, piece, tools, &c, &calls);
        assert_int_equal(c.len, strlen("Let me look. "));
        assert_memory_equal(c.data, "Let me look. ", c.len);
        assert_int_equal(json_array_size(calls), 1);
        assert_string_equal(json_string_value(json_object_get(
                                json_object_get(json_array_get(calls, 0), "function"), "name")),
                            "get");
        json_decref(calls);
        rg_buf_free(&c);
        /* a bare call (a whole answer that is the call) */
        split("{\"name\": \"get\", \"arguments\": {}}", piece, tools, &c, &calls);
        assert_int_equal(c.len, 0);
        assert_int_equal(json_array_size(calls), 1);
        json_decref(calls);
        rg_buf_free(&c);
        /* text that only looks like the start of a call is content after all */
        split("a <tool_ca b", piece, tools, &c, &calls);
        assert_null(calls);
        assert_int_equal(c.len, strlen("a <tool_ca b"));
        rg_buf_free(&c);
        /* without tools everything is content */
        split(with_call, piece, NULL, &c, &calls);
        assert_null(calls);
        assert_int_equal(c.len, strlen(with_call));
        rg_buf_free(&c);
    }
    json_decref(tools);
}

/* Whitespace before a call is not content (Copilot would show a " "
 * message before the call); whitespace before text still is. An answer
 * forced to be a call that is cut short gives no content at all. */
static void test_answer_whitespace_and_forced(void **state)
{
    (void)state;
    json_t *tools =
        json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"get\"}}]", 0, NULL);
    for (size_t piece = 1; piece < 16; piece++) {
        struct rg_buf c;
        json_t *calls;
        split(" \n <tool_call>{\"name\":\"get\",\"arguments\":{}}</tool_call>", piece, tools, &c,
              &calls);
        assert_int_equal(c.len, 0);
        assert_int_equal(json_array_size(calls), 1);
        json_decref(calls);
        rg_buf_free(&c);
        split("  hello", piece, tools, &c, &calls);
        assert_null(calls);
        assert_int_equal(c.len, 7);
        assert_memory_equal(c.data, "  hello", 7);
        rg_buf_free(&c);
        /* forced and cut: nothing; not forced and cut: the text, as it was */
        for (int forced = 0; forced < 2; forced++) {
            const char *cut = " <tool_call>{\"name\":\"g";
            struct rg_chat_answer a;
            rg_chat_answer_init(&a, tools, false);
            a.forced = forced;
            rg_buf_init(&c, 1 << 20);
            for (size_t i = 0; i < strlen(cut); i += piece)
                assert_int_equal(
                    rg_chat_answer_feed(&a, cut + i, RG_MIN(piece, strlen(cut) - i), &c), RG_OK);
            assert_int_equal(rg_chat_answer_end(&a, "t", &c, &calls), RG_OK);
            assert_null(calls);
            if (forced)
                assert_int_equal(c.len, 0);
            else
                assert_non_null(memmem(c.data, c.len, "<tool_call>", 11));
            rg_chat_answer_free(&a);
            rg_buf_free(&c);
        }
    }
    json_decref(tools);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_are_the_template),
        cmocka_unit_test(test_bad_input_names_field),
        cmocka_unit_test(test_tools_and_forced_call),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_answer_split),
        cmocka_unit_test(test_answer_whitespace_and_forced),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
