/* HTTP decisions without a socket: routing, CORS, Host, gzip, SSE framing, errors. */
#include "test.h"

#include <zlib.h>

#include "common/alloc.h"
#include "http/http.h"

static void test_match(void **state)
{
    (void)state;
    struct rg_http_span names[4], values[4];
    size_t n = 99;
    assert_true(rg_http_match("/healthz", "/healthz", names, values, 4, &n));
    assert_int_equal(n, 0);
    assert_false(rg_http_match("/healthz", "/healthz/", names, values, 4, &n));
    assert_false(rg_http_match("/healthz", "/health", names, values, 4, &n));
    assert_false(rg_http_match("/healthz", "/healthzz", names, values, 4, &n));
    assert_false(rg_http_match("/a/b", "/a", names, values, 4, &n));
    assert_true(rg_http_match("/v1/models/{id}", "/v1/models/tiny-q8", names, values, 4, &n));
    assert_int_equal(n, 1);
    assert_int_equal(names[0].n, 2);
    assert_memory_equal(names[0].p, "id", 2);
    assert_int_equal(values[0].n, 7);
    assert_memory_equal(values[0].p, "tiny-q8", 7);
    assert_false(rg_http_match("/v1/models/{id}", "/v1/models/", names, values, 4, &n));
    assert_false(rg_http_match("/v1/models/{id}", "/v1/models/a/b", names, values, 4, &n));
    assert_true(rg_http_match("/a/{x}/b/{y}", "/a/1/b/2", names, values, 4, &n));
    assert_int_equal(n, 2);
    assert_memory_equal(values[1].p, "2", 1);
    /* more parameters than room: no match rather than a silent truncation */
    assert_false(rg_http_match("/{a}/{b}", "/1/2", names, values, 1, &n));
    assert_false(rg_http_match("/x", "", names, values, 4, &n));
    assert_false(rg_http_match("/x", "x", names, values, 4, &n));
}

static void test_origins(void **state)
{
    (void)state;
    assert_true(rg_http_origin_allowed(NULL, NULL, 0));
    assert_true(rg_http_origin_allowed("http://localhost:5173", NULL, 0));
    assert_true(rg_http_origin_allowed("http://localhost", NULL, 0));
    assert_true(rg_http_origin_allowed("http://127.0.0.1:8080", NULL, 0));
    assert_true(rg_http_origin_allowed("http://[::1]:3000", NULL, 0));
    assert_false(rg_http_origin_allowed("http://evil.com", NULL, 0));
    assert_false(rg_http_origin_allowed("http://localhost.evil.com", NULL, 0));
    assert_false(rg_http_origin_allowed("http://127.0.0.1.evil.com:80", NULL, 0));
    assert_false(rg_http_origin_allowed("http://localhost:80x", NULL, 0));
    assert_false(rg_http_origin_allowed("null", NULL, 0));
    assert_false(rg_http_origin_allowed("file://", NULL, 0));
    const char *list[] = {"https://app.example:8443", "http://dev.local:*"};
    assert_true(rg_http_origin_allowed("https://app.example:8443", list, 2));
    assert_false(rg_http_origin_allowed("https://app.example:8444", list, 2));
    assert_true(rg_http_origin_allowed("http://dev.local:1234", list, 2));
    assert_true(rg_http_origin_allowed("http://dev.local", list, 2));
    assert_false(rg_http_origin_allowed("http://dev.local.evil:1", list, 2));
    assert_false(
        rg_http_origin_allowed("http://localhost:1", list, 2)); /* a list replaces the default */
    const char *star[] = {"*"};
    assert_true(rg_http_origin_allowed("http://anything", star, 1));
}

static void test_hosts(void **state)
{
    (void)state;
    assert_true(rg_http_host_is_loopback("localhost"));
    assert_true(rg_http_host_is_loopback("localhost:8080"));
    assert_true(rg_http_host_is_loopback("127.0.0.1:1"));
    assert_true(rg_http_host_is_loopback("[::1]:8080"));
    assert_true(rg_http_host_is_loopback("LOCALHOST"));
    assert_false(rg_http_host_is_loopback("evil.com"));
    assert_false(rg_http_host_is_loopback("localhost.evil.com"));
    assert_false(rg_http_host_is_loopback("127.0.0.1.nip.io"));
    assert_false(rg_http_host_is_loopback("localhost:80:80"));
    assert_false(rg_http_host_is_loopback("localhost:abc"));
    assert_false(rg_http_host_is_loopback(""));
    assert_false(rg_http_host_is_loopback(NULL));
    assert_true(rg_http_bind_is_loopback("127.0.0.1"));
    assert_true(rg_http_bind_is_loopback("::1"));
    assert_false(rg_http_bind_is_loopback("0.0.0.0"));
}

static void test_gzip(void **state)
{
    (void)state;
    assert_true(rg_http_accepts_gzip("gzip"));
    assert_true(rg_http_accepts_gzip("deflate, gzip;q=0.5"));
    assert_true(rg_http_accepts_gzip("br, *"));
    assert_false(rg_http_accepts_gzip("gzip;q=0"));
    assert_false(rg_http_accepts_gzip("identity"));
    assert_false(rg_http_accepts_gzip("gzipx"));
    assert_false(rg_http_accepts_gzip(NULL));

    char in[5000];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (char)('a' + (i * 7) % 26);
    void *z;
    size_t zl;
    assert_int_equal(rg_http_gzip(in, sizeof in, &z, &zl), RG_OK);
    assert_true(zl < sizeof in);
    char out[6000];
    z_stream s = {0};
    assert_int_equal(inflateInit2(&s, 15 + 16), Z_OK);
    s.next_in = z;
    s.avail_in = (uInt)zl;
    s.next_out = (Bytef *)out;
    s.avail_out = sizeof out;
    assert_int_equal(inflate(&s, Z_FINISH), Z_STREAM_END);
    assert_int_equal(s.total_out, sizeof in);
    assert_memory_equal(out, in, sizeof in);
    inflateEnd(&s);
    rg_free(z);
}

static void test_sse_format(void **state)
{
    (void)state;
    size_t n;
    char *s = rg_sse_format(NULL, "{\"a\":1}", 7, &n);
    assert_string_equal(s, "data: {\"a\":1}\n\n");
    assert_int_equal(n, strlen(s));
    rg_free(s);
    s = rg_sse_format("done", "x\ny\r\nz\rw", 8, &n);
    assert_string_equal(s, "event: done\ndata: x\ndata: y\ndata: z\ndata: w\n\n");
    rg_free(s);
    s = rg_sse_format(NULL, "", 0, &n);
    assert_string_equal(s, "data: \n\n");
    rg_free(s);
}

static void test_error_body(void **state)
{
    (void)state;
    char *b = rg_http_error_body(404, NULL, "model_not_found", "model", "no model 'x'");
    json_error_t je;
    json_t *j = json_loads(b, 0, &je);
    assert_non_null(j);
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "no model 'x'");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "not_found_error");
    assert_string_equal(json_string_value(json_object_get(e, "param")), "model");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "model_not_found");
    json_decref(j);
    rg_free(b);

    /* invalid UTF-8 from a client never breaks the JSON */
    b = rg_http_error_body(400, NULL, NULL, NULL, "bad \xff\xfe value \xc3");
    j = json_loads(b, 0, &je);
    assert_non_null(j);
    e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "bad ?? value ?");
    assert_true(json_is_null(json_object_get(e, "param")));
    assert_true(json_is_null(json_object_get(e, "code")));
    assert_string_equal(json_string_value(json_object_get(e, "type")), "invalid_request_error");
    json_decref(j);
    rg_free(b);
    b = rg_http_error_body(503, NULL, NULL, NULL, "x");
    assert_non_null(strstr(b, "server_error"));
    rg_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),      cmocka_unit_test(test_origins),
        cmocka_unit_test(test_hosts),      cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_sse_format), cmocka_unit_test(test_error_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
