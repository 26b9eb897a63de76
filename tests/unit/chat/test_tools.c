/* Tool calls: definitions checked and rendered, calls found in model output. */
#include "test.h"

#include "chat/chat.h"

static void test_parse(void **state)
{
    (void)state;
    const char out[] =
        "Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
        "\"Oslo\"}}\n"
        "</tool_call>\n<tool_call>{\"name\":\"now\",\"arguments\":\"{}\"}</tool_call>"
        "<tool_call>not json</tool_call><tool_call>{\"arguments\":{}}</tool_call>";
    json_t *c = rg_tools_parse(out, sizeof out - 1, "abc", NULL);
    assert_int_equal(json_array_size(c), 2);
    json_t *f = json_object_get(json_array_get(c, 0), "function");
    assert_string_equal(json_string_value(json_object_get(f, "name")), "get_weather");
    assert_string_equal(json_string_value(json_object_get(f, "arguments")), "{\"city\":\"Oslo\"}");
    assert_string_equal(json_string_value(json_object_get(json_array_get(c, 1), "id")),
                        "call_abc_1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "type")),
                        "function");
    json_decref(c);
    /* an unterminated call at the end of the output still counts */
    const char cut[] = "<tool_call>{\"name\":\"x\",\"arguments\":{}}";
    c = rg_tools_parse(cut, sizeof cut - 1, "p", NULL);
    assert_int_equal(json_array_size(c), 1);
    json_decref(c);
    c = rg_tools_parse("plain answer", 12, "p", NULL);
    assert_int_equal(json_array_size(c), 0);
    json_decref(c);
}

/* The bare forms of Llama 3 and Mistral, only with declared names. */
static void test_parse_bare(void **state)
{
    (void)state;
    json_t *tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},"
                               "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]",
                               0, NULL);
    assert_non_null(tools);
    static const struct {
        const char *text;
        size_t calls;
    } C[] = {
        {" {\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}", 1},
        {"<|python_tag|>{\"name\": \"now\", \"arguments\": {}}", 1},
        {"[TOOL_CALLS] [{\"name\": \"now\", \"arguments\": {}}, {\"name\": \"get_weather\", "
         "\"arguments\": {\"city\": \"Rome\"}}]",
         2},
        {"{\"name\": \"Ann\", \"age\": 3}", 0},               /* an answer, not a call */
        {"{\"name\": \"unknown_fn\", \"arguments\": {}}", 0}, /* not declared */
        {"[{\"name\": \"now\", \"arguments\": {}}, {\"name\": \"x\"}]", 0}, /* all or none */
        {"{\"name\": \"now\", \"arguments\": {}} and more", 0},             /* not only a call */
        {"[1, 2]", 0},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        json_t *c = rg_tools_parse(C[i].text, strlen(C[i].text), "b", tools);
        if (json_array_size(c) != C[i].calls)
            fail_msg("%s: %zu calls, want %zu", C[i].text, json_array_size(c), C[i].calls);
        json_decref(c);
    }
    json_t *c = rg_tools_parse(C[0].text, strlen(C[0].text), "b", tools);
    json_t *fn = json_object_get(json_array_get(c, 0), "function");
    assert_string_equal(json_string_value(json_object_get(fn, "name")), "get_weather");
    assert_string_equal(json_string_value(json_object_get(fn, "arguments")), "{\"city\":\"Oslo\"}");
    json_decref(c);
    json_decref(tools);
    /* the start of an answer: a call, not one, or too early to say */
    assert_int_equal(rg_tools_bare_start("  {\"na", 6), 1);
    assert_int_equal(rg_tools_bare_start("\n[", 2), 1);
    assert_int_equal(rg_tools_bare_start("<|pyth", 6), -1);
    assert_int_equal(rg_tools_bare_start("<|python_tag|>", 14), 1);
    assert_int_equal(rg_tools_bare_start("  ", 2), -1);
    assert_int_equal(rg_tools_bare_start("Hello", 5), 0);
    assert_int_equal(rg_tools_bare_start("<b>", 3), 0);
}

static void test_validate_and_render(void **state)
{
    (void)state;
    char err[RG_ERR_SIZE];
    json_error_t je;
    json_t *ok = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{"
                            "\"type\":\"object\"}}}]",
                            0, &je);
    assert_int_equal(rg_tools_validate(ok, err), RG_OK);
    struct rg_buf b;
    rg_buf_init(&b, 1 << 20);
    assert_int_equal(rg_tools_system_text(ok, &b), RG_OK);
    assert_non_null(strstr(b.data, "<tools>\n{\"type\":\"function\",\"function\":{\"name\":\"f\""));
    assert_non_null(strstr(b.data, "<tool_call>"));
    rg_buf_free(&b);
    json_decref(ok);
    const char *bad[] = {
        "{}", "[{\"type\":\"x\"}]", "[{\"type\":\"function\",\"function\":{}}]",
        "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":3}}]"};
    for (size_t i = 0; i < 4; i++) {
        json_t *t = json_loads(bad[i], 0, &je);
        assert_int_equal(rg_tools_validate(t, err), RG_EINVAL);
        json_decref(t);
    }
    rg_buf_init(&b, 1 << 20);
    assert_int_equal(rg_tools_call_text("f", "{\"a\":1}", &b), RG_OK);
    assert_string_equal(b.data,
                        "\n<tool_call>\n{\"name\":\"f\",\"arguments\":{\"a\":1}}\n</tool_call>");
    rg_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_bare),
        cmocka_unit_test(test_validate_and_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
