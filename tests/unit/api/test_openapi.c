/* /openapi.json is generated from the route table: every visible route is
 * described, every schema parses, hidden routes stay out. */
#include "test.h"

#include "api/api.h"

static void test_openapi_covers_routes(void **state)
{
    (void)state;
    struct rg_api_state st = {0};
    struct rg_route routes[64];
    size_t n = 0;
    n += rg_api_system_routes(routes + n, 64 - n, &st);
    n += rg_api_docs_routes(routes + n, 64 - n, &st);
    size_t visible = n;
    n += rg_api_debug_routes(routes + n, 64 - n, &st);
    assert_true(n > visible);
    json_t *doc = rg_api_openapi(routes, n, "9.9.9");
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    json_t *paths = json_object_get(doc, "paths");
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_object_get(paths, routes[i].pattern);
        if (routes[i].flags & RG_ROUTE_HIDDEN) {
            assert_null(item);
            continue;
        }
        if (!item) fail_msg("%s is not described", routes[i].pattern);
        json_t *get = json_object_get(item, "get");
        assert_non_null(get);
        assert_non_null(json_object_get(get, "summary"));
        json_t *ok = json_object_get(json_object_get(get, "responses"), "200");
        assert_non_null(ok);
        /* a schema that failed to parse would leave content out */
        if (routes[i].response_schema && !json_object_get(ok, "content"))
            fail_msg("%s: response schema did not parse", routes[i].pattern);
    }
    assert_int_equal(json_object_size(paths), visible);
    assert_non_null(
        json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"), "Error"));
    json_decref(doc);
}

static void test_path_params_described(void **state)
{
    (void)state;
    struct rg_route r = {RG_HTTP_DELETE | RG_HTTP_GET,
                         "/v1/things/{id}/parts/{part}",
                         NULL,
                         NULL,
                         RG_ROLE_USER,
                         0,
                         "t",
                         "a thing",
                         "{\"type\":\"object\"}",
                         NULL};
    json_t *doc = rg_api_openapi(&r, 1, "1");
    json_t *item = json_object_get(json_object_get(doc, "paths"), "/v1/things/{id}/parts/{part}");
    json_t *del = json_object_get(item, "delete");
    assert_non_null(del);
    json_t *params = json_object_get(del, "parameters");
    assert_int_equal(json_array_size(params), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(params, 1), "name")),
                        "part");
    assert_non_null(json_object_get(del, "security"));
    assert_non_null(json_object_get(del, "requestBody"));
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openapi_covers_routes),
        cmocka_unit_test(test_path_params_described),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
