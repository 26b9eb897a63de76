/* The HTTP core through the real binary on loopback: routing, errors, limits,
 * CORS, Host, gzip, keep-alive and pipelining, SSE with a disconnect, system
 * routes, API keys, and lifecycle. */
#include "test.h"

#include <signal.h>
#include <sys/socket.h>
#include <zlib.h>

#include <jansson.h>

#include "harness.h"

static const char *const TEST_ENV[] = {"RUSTYGPT_TEST_ROUTES=1", NULL};

static struct rg_server srv; /* shared by the tests that need no special flags */

static int setup(void **state)
{
    (void)state;
    return rg_server_start(&srv, NULL, TEST_ENV);
}

static int teardown(void **state)
{
    (void)state;
    return rg_server_stop(&srv) == 0 ? 0 : -1;
}

static json_t *parse(const struct rg_resp *r)
{
    json_error_t je;
    json_t *j = json_loadb(r->body, r->len, 0, &je);
    if (!j) fail_msg("not JSON (%s): %.300s", je.text, r->body);
    return j;
}

/* Checks the OpenAI error shape and returns error.code (or ""). */
static void expect_error(const struct rg_resp *r, long status, const char *code)
{
    if (r->status != status) fail_msg("status %ld, want %ld: %.300s", r->status, status, r->body);
    json_t *j = parse(r);
    json_t *e = json_object_get(j, "error");
    assert_non_null(e);
    assert_true(json_is_string(json_object_get(e, "message")));
    assert_true(json_is_string(json_object_get(e, "type")));
    assert_non_null(json_object_get(e, "param"));
    json_t *c = json_object_get(e, "code");
    if (code) assert_string_equal(json_string_value(c), code);
    json_decref(j);
}

static void test_routing(void **state)
{
    (void)state;
    struct rg_resp r;
    char h[128];
    assert_int_equal(rg_http(&srv, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
    assert_non_null(rg_resp_header(&r, "X-Request-Id", h, sizeof h));
    rg_resp_free(&r);

    const char *hid[] = {"X-Request-Id: my-trace-42", NULL};
    assert_int_equal(rg_http(&srv, "GET", "/healthz", hid, NULL, 0, &r), 0);
    assert_string_equal(rg_resp_header(&r, "X-Request-Id", h, sizeof h), "my-trace-42");
    rg_resp_free(&r);
    const char *bad_id[] = {"X-Request-Id: bad id with spaces", NULL};
    assert_int_equal(rg_http(&srv, "GET", "/healthz", bad_id, NULL, 0, &r), 0);
    assert_string_not_equal(rg_resp_header(&r, "X-Request-Id", h, sizeof h), "bad id with spaces");
    rg_resp_free(&r);

    assert_int_equal(rg_http(&srv, "GET", "/no/such/route", NULL, NULL, 0, &r), 0);
    expect_error(&r, 404, "not_found");
    rg_resp_free(&r);

    assert_int_equal(rg_http(&srv, "POST", "/healthz", NULL, "{}", 2, &r), 0);
    expect_error(&r, 405, "method_not_allowed");
    assert_non_null(rg_resp_header(&r, "Allow", h, sizeof h));
    assert_non_null(strstr(h, "GET"));
    rg_resp_free(&r);

    assert_int_equal(rg_http(&srv, "HEAD", "/healthz", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    rg_resp_free(&r);

    assert_int_equal(rg_http(&srv, "GET", "/debug/param/one/x/two", NULL, NULL, 0, &r), 0);
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "a")), "one");
    assert_string_equal(json_string_value(json_object_get(j, "b")), "two");
    json_decref(j);
    rg_resp_free(&r);
}

static void test_json_bodies(void **state)
{
    (void)state;
    struct rg_resp r;
    const char *bodies[] = {"{\"a\":", "not json",          "[1,2]",
                            "",        "{\"a\":1,\"a\":2}", "{\"s\":\"\xff\"}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        assert_int_equal(
            rg_http(&srv, "POST", "/debug/echo", NULL, bodies[i], strlen(bodies[i]), &r), 0);
        expect_error(&r, 400, "invalid_json");
        rg_resp_free(&r);
    }
    const char ok[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9\"}]}";
    assert_int_equal(rg_http(&srv, "POST", "/debug/echo", NULL, ok, sizeof ok - 1, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = parse(&r);
    json_t *msg = json_array_get(json_object_get(json_object_get(j, "received"), "messages"), 0);
    assert_string_equal(json_string_value(json_object_get(msg, "content")), "h\xc3\xa9");
    json_decref(j);
    rg_resp_free(&r);
}

static void test_body_limit(void **state)
{
    (void)state;
    struct rg_server s;
    const char *args[] = {"--max-body", "1k", NULL};
    assert_int_equal(rg_server_start(&s, args, TEST_ENV), 0);
    char big[4096];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[sizeof big - 1] = '}';
    struct rg_resp r;
    assert_int_equal(rg_http(&s, "POST", "/debug/echo", NULL, big, sizeof big, &r), 0);
    expect_error(&r, 413, "request_too_large");
    rg_resp_free(&r);
    /* chunked: no Content-Length to refuse up front */
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    rg_http(&s, "POST", "/debug/echo", chunked, big, sizeof big, &r);
    expect_error(&r, 413, "request_too_large");
    rg_resp_free(&r);
    /* just under the limit is fine */
    assert_int_equal(rg_http(&s, "POST", "/debug/echo", NULL, big + 3072, 1024, &r), 0);
    assert_int_not_equal(r.status, 413);
    rg_resp_free(&r);
    /* the server is still healthy */
    assert_int_equal(rg_http(&s, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    rg_resp_free(&r);
    assert_int_equal(rg_server_stop(&s), 0);
}

static void test_cors_and_host(void **state)
{
    (void)state;
    struct rg_resp r;
    char h[256];
    const char *pre_ok[] = {"Origin: http://localhost:5173", "Access-Control-Request-Method: POST",
                            "Access-Control-Request-Headers: authorization, content-type", NULL};
    assert_int_equal(rg_http(&srv, "OPTIONS", "/debug/echo", pre_ok, NULL, 0, &r), 0);
    assert_int_equal(r.status, 204);
    assert_string_equal(rg_resp_header(&r, "Access-Control-Allow-Origin", h, sizeof h),
                        "http://localhost:5173");
    assert_non_null(
        strstr(rg_resp_header(&r, "Access-Control-Allow-Methods", h, sizeof h), "POST"));
    assert_non_null(
        strstr(rg_resp_header(&r, "Access-Control-Allow-Headers", h, sizeof h), "authorization"));
    rg_resp_free(&r);

    const char *pre_bad[] = {"Origin: http://evil.example", "Access-Control-Request-Method: POST",
                             NULL};
    assert_int_equal(rg_http(&srv, "OPTIONS", "/debug/echo", pre_bad, NULL, 0, &r), 0);
    assert_int_equal(r.status, 403);
    assert_null(rg_resp_header(&r, "Access-Control-Allow-Origin", h, sizeof h));
    rg_resp_free(&r);

    /* a simple cross-origin request from elsewhere is refused, not just unreadable */
    const char *simple_bad[] = {"Origin: http://evil.example", NULL};
    assert_int_equal(rg_http(&srv, "POST", "/debug/echo", simple_bad, "{}", 2, &r), 0);
    expect_error(&r, 403, "cors_origin_denied");
    rg_resp_free(&r);

    const char *simple_ok[] = {"Origin: http://127.0.0.1:3000", NULL};
    assert_int_equal(rg_http(&srv, "GET", "/status", simple_ok, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(rg_resp_header(&r, "Access-Control-Allow-Origin", h, sizeof h),
                        "http://127.0.0.1:3000");
    rg_resp_free(&r);

    /* DNS rebinding: a page on evil.example resolved to 127.0.0.1 */
    const char *host_bad[] = {"Host: evil.example:8080", NULL};
    assert_int_equal(rg_http(&srv, "GET", "/status", host_bad, NULL, 0, &r), 0);
    expect_error(&r, 403, "host_denied");
    rg_resp_free(&r);
    const char *host_ok[] = {"Host: localhost:8080", NULL};
    assert_int_equal(rg_http(&srv, "GET", "/status", host_ok, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    rg_resp_free(&r);

    /* configured origins replace the loopback default */
    struct rg_server s;
    const char *args[] = {"--cors-origin", "https://app.example", NULL};
    assert_int_equal(rg_server_start(&s, args, TEST_ENV), 0);
    const char *o1[] = {"Origin: https://app.example", NULL};
    assert_int_equal(rg_http(&s, "GET", "/status", o1, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    rg_resp_free(&r);
    const char *o2[] = {"Origin: http://localhost:5173", NULL};
    assert_int_equal(rg_http(&s, "GET", "/status", o2, NULL, 0, &r), 0);
    assert_int_equal(r.status, 403);
    rg_resp_free(&r);
    assert_int_equal(rg_server_stop(&s), 0);
}

static void test_gzip(void **state)
{
    (void)state;
    struct rg_resp r;
    char h[64];
    const char *gz[] = {"Accept-Encoding: gzip", NULL};
    assert_int_equal(rg_http(&srv, "GET", "/openapi.json", gz, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(rg_resp_header(&r, "Content-Encoding", h, sizeof h), "gzip");
    char *out = malloc(1 << 20);
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)r.body;
    z.avail_in = (uInt)r.len;
    z.next_out = (Bytef *)out;
    z.avail_out = (1 << 20) - 1;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    out[z.total_out] = '\0';
    inflateEnd(&z);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    assert_non_null(j);
    json_decref(j);
    free(out);
    rg_resp_free(&r);
    /* small bodies and clients without gzip get plain bytes */
    assert_int_equal(rg_http(&srv, "GET", "/openapi.json", NULL, NULL, 0, &r), 0);
    assert_null(rg_resp_header(&r, "Content-Encoding", h, sizeof h));
    assert_true(r.body[0] == '{');
    rg_resp_free(&r);
    assert_int_equal(rg_http(&srv, "GET", "/healthz", gz, NULL, 0, &r), 0);
    assert_null(rg_resp_header(&r, "Content-Encoding", h, sizeof h));
    rg_resp_free(&r);
}

static void test_keepalive_and_pipelining(void **state)
{
    (void)state;
    int fd = rg_tcp_connect(srv.port);
    assert_true(fd >= 0);
    const char one[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(rg_tcp_send(fd, one, sizeof one - 1), 0);
    char *a = rg_tcp_read_until(fd, "{\"status\":\"ok\"}", 1, 3000, NULL);
    assert_int_equal(rg_count(a, "HTTP/1.1 200"), 1);
    free(a);
    /* same connection, three requests in one write, one with a body */
    const char three[] =
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
        "POST /debug/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 7\r\n\r\n{\"x\":1}"
        "GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(rg_tcp_send(fd, three, sizeof three - 1), 0);
    char *b = rg_tcp_read_until(fd, "HTTP/1.1 200", 3, 5000, NULL);
    assert_int_equal(rg_count(b, "HTTP/1.1 200"), 3);
    /* answered in order */
    char *p1 = strstr(b, "{\"status\":\"ok\"}"), *p2 = strstr(b, "\"received\""),
         *p3 = strstr(b, "\"uptime_s\"");
    assert_non_null(p1);
    assert_non_null(p2);
    assert_non_null(p3);
    assert_true(p1 < p2 && p2 < p3);
    free(b);
    close(fd);
}

static long stat_of(const char *key)
{
    struct rg_resp r;
    if (rg_http(&srv, "GET", "/debug/stats", NULL, NULL, 0, &r) != 0) return -1;
    json_t *j = parse(&r);
    long v = (long)json_integer_value(json_object_get(j, key));
    json_decref(j);
    rg_resp_free(&r);
    return v;
}

static void test_sse(void **state)
{
    (void)state;
    struct rg_resp r;
    char h[64];
    assert_int_equal(rg_http(&srv, "GET", "/debug/sse?n=5&interval_ms=20", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(rg_resp_header(&r, "Content-Type", h, sizeof h), "text/event-stream");
    assert_int_equal(rg_count(r.body, "data: {\"i\":"), 5);
    assert_non_null(strstr(r.body, "data: {\"i\":4}\n\ndata: [DONE]\n\n"));
    rg_resp_free(&r);

    /* a client that leaves midway: the producer sees it and stops */
    long cancelled = stat_of("sse_cancelled");
    int fd = rg_tcp_connect(srv.port);
    const char req[] = "GET /debug/sse?n=100000&interval_ms=5 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(rg_tcp_send(fd, req, sizeof req - 1), 0);
    char *got = rg_tcp_read_until(fd, "data: {\"i\":", 3, 3000, NULL);
    assert_true(rg_count(got, "data: {\"i\":") >= 3);
    free(got);
    close(fd);
    bool seen = false;
    for (int i = 0; i < 250 && !seen; i++) {
        seen = stat_of("sse_cancelled") > cancelled;
        if (!seen) usleep(20000);
    }
    assert_true(seen);
    /* and the stream's slot is released */
    long open = 1;
    for (int i = 0; i < 100 && open; i++) {
        open = stat_of("streams_open");
        if (open) usleep(20000);
    }
    assert_int_equal(open, 0);
}

static void test_system_routes(void **state)
{
    (void)state;
    struct rg_resp r;
    assert_int_equal(rg_http(&srv, "GET", "/status", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = parse(&r);
    const char *keys[] = {"version", "uptime_s",    "build", "models",
                          "slots",   "queue_depth", "memory"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!json_object_get(j, keys[i])) fail_msg("/status lacks %s", keys[i]);
    assert_true(json_integer_value(json_object_get(json_object_get(j, "memory"), "rss_bytes")) > 0);
    /* the kernel path in use, as rustygpt bench prints it */
    const char *isa = json_string_value(json_object_get(j, "isa"));
    if (!isa || !*isa) fail_msg("/status has no isa");
    json_decref(j);
    rg_resp_free(&r);

    for (int i = 0; i < 3; i++) {
        assert_int_equal(rg_http(&srv, "GET", "/status", NULL, NULL, 0, &r), 0);
        rg_resp_free(&r);
    }
    assert_int_equal(rg_http(&srv, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    const char *line = strstr(
        r.body, "rustygpt_http_requests_total{method=\"GET\",route=\"/status\",status=\"200\"} ");
    assert_non_null(line);
    assert_true(atol(strchr(line, '}') + 2) >= 4);
    assert_non_null(strstr(
        r.body, "rustygpt_http_request_duration_seconds_bucket{method=\"GET\",route=\"/status\""));
    assert_non_null(strstr(r.body, "# TYPE rustygpt_generated_tokens_total counter"));
    assert_non_null(strstr(r.body, "rustygpt_queue_depth "));
    rg_resp_free(&r);

    assert_int_equal(rg_http(&srv, "GET", "/openapi.json", NULL, NULL, 0, &r), 0);
    j = parse(&r);
    json_t *paths = json_object_get(j, "paths");
    const char *routes[] = {"/healthz", "/status", "/metrics", "/openapi.json", "/docs"};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!json_object_get(json_object_get(paths, routes[i]), "get"))
            fail_msg("openapi lacks %s", routes[i]);
    assert_null(json_object_get(paths, "/debug/sse")); /* hidden */
    json_decref(j);
    rg_resp_free(&r);

    assert_int_equal(rg_http(&srv, "GET", "/docs", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "/openapi.json"));
    /* everything is served by the binary: no external scripts, styles or fonts */
    assert_null(strstr(r.body, "src=\"http"));
    assert_null(strstr(r.body, "href=\"http"));
    assert_null(strstr(r.body, "//cdn"));
    assert_null(strstr(r.body, "@import"));
    rg_resp_free(&r);
}

static void test_api_key(void **state)
{
    (void)state;
    struct rg_server s;
    const char *args[] = {"--api-key", "sk-one", "--api-key", "sk-two", NULL};
    assert_int_equal(rg_server_start(&s, args, TEST_ENV), 0);
    struct rg_resp r;
    assert_int_equal(rg_http(&s, "POST", "/debug/echo", NULL, "{}", 2, &r), 0);
    expect_error(&r, 401, "invalid_api_key");
    rg_resp_free(&r);
    const char *wrong[] = {"Authorization: Bearer sk-on", NULL};
    assert_int_equal(rg_http(&s, "POST", "/debug/echo", wrong, "{}", 2, &r), 0);
    expect_error(&r, 401, "invalid_api_key");
    rg_resp_free(&r);
    const char *right[] = {"Authorization: Bearer sk-two", NULL};
    assert_int_equal(rg_http(&s, "POST", "/debug/echo", right, "{}", 2, &r), 0);
    assert_int_equal(r.status, 200);
    rg_resp_free(&r);
    /* system routes stay open for probes */
    assert_int_equal(rg_http(&s, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    rg_resp_free(&r);
    assert_int_equal(rg_server_stop(&s), 0);
}

static void test_json_access_log(void **state)
{
    (void)state;
    struct rg_server s;
    const char *args[] = {"--log-format", "json", NULL};
    assert_int_equal(rg_server_start(&s, args, TEST_ENV), 0);
    struct rg_resp r;
    const char *hid[] = {"X-Request-Id: trace-7", NULL};
    assert_int_equal(rg_http(&s, "GET", "/status", hid, NULL, 0, &r), 0);
    rg_resp_free(&r);
    char *log = NULL;
    bool found = false;
    for (int i = 0; i < 50 && !found; i++) {
        free(log);
        log = rg_server_log(&s);
        found = log && strstr(log, "trace-7");
        if (!found) usleep(20000);
    }
    assert_true(found);
    /* the access log line is the one holding the request id */
    const char *hit = strstr(log, "\"trace-7\""), *line = hit;
    assert_non_null(hit);
    while (line > log && line[-1] != '\n')
        line--;
    const char *end = strchr(line, '\n');
    assert_non_null(end);
    json_error_t je;
    json_t *j = json_loadb(line, (size_t)(end - line), 0, &je);
    if (!j) fail_msg("log line is not JSON: %.*s", (int)(end - line), line);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "trace-7");
    assert_string_equal(json_string_value(json_object_get(j, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/status");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
    assert_non_null(json_object_get(j, "ms"));
    assert_non_null(json_object_get(j, "bytes"));
    json_decref(j);
    free(log);
    assert_int_equal(rg_server_stop(&s), 0);
}

static void test_sigterm_lets_streams_finish(void **state)
{
    (void)state;
    struct rg_server s;
    assert_int_equal(rg_server_start(&s, NULL, TEST_ENV), 0);
    int fd = rg_tcp_connect(s.port);
    const char req[] = "GET /debug/sse?n=15&interval_ms=40 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(rg_tcp_send(fd, req, sizeof req - 1), 0);
    char *first = rg_tcp_read_until(fd, "data: {\"i\":", 1, 3000, NULL);
    free(first);
    rg_server_signal(&s, SIGTERM);
    char *rest = rg_tcp_read_until(fd, "data: [DONE]", 1, 5000, NULL);
    assert_non_null(strstr(rest, "data: [DONE]"));
    assert_non_null(strstr(rest, "data: {\"i\":14}"));
    free(rest);
    close(fd);
    assert_int_equal(rg_server_wait(&s, 10), 0);
    /* no new connections after the signal */
    assert_true(rg_tcp_connect(s.port) < 0);
    assert_int_equal(rg_server_stop(&s), -1); /* already gone */
}

static void test_sigterm_grace_is_bounded(void **state)
{
    (void)state;
    struct rg_server s;
    const char *args[] = {"--shutdown-grace", "1", NULL};
    assert_int_equal(rg_server_start(&s, args, TEST_ENV), 0);
    int fd = rg_tcp_connect(s.port);
    const char req[] = "GET /debug/sse?n=100000&interval_ms=20 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(rg_tcp_send(fd, req, sizeof req - 1), 0);
    free(rg_tcp_read_until(fd, "data: {\"i\":", 1, 3000, NULL));
    rg_server_signal(&s, SIGTERM);
    /* the stream would run for half an hour; with a 1 s grace the server is
     * gone in about a second (20 s leaves room for a loaded sanitizer run) */
    int status = rg_server_wait(&s, 20);
    if (status != 0) {
        char *log = rg_server_log(&s);
        fail_msg("exit status %d after SIGTERM; server log:\n%s", status, log ? log : "");
    }
    close(fd);
    rg_server_stop(&s);
}

static void test_cli_errors(void **state)
{
    (void)state;
    struct rg_run r;
    const char *bad_flag[] = {"serve", "--prot", "80", NULL};
    assert_int_equal(rg_run_cli(bad_flag, NULL, NULL, 10, &r), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "unknown option --prot"));
    assert_int_equal(rg_count(r.err, "\n"), 1);
    rg_run_free(&r);

    const char *bad_val[] = {"serve", "--port", "http", NULL};
    assert_int_equal(rg_run_cli(bad_val, NULL, NULL, 10, &r), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--port"));
    rg_run_free(&r);

    const char *env_bad[] = {"RUSTYGPT_PARALLEL=lots", NULL};
    const char *plain[] = {"serve", NULL};
    assert_int_equal(rg_run_cli(plain, env_bad, NULL, 10, &r), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "RUSTYGPT_PARALLEL"));
    rg_run_free(&r);

    const char *help[] = {"serve", "--help", NULL};
    assert_int_equal(rg_run_cli(help, NULL, NULL, 10, &r), 0);
    assert_int_equal(r.status, 0);
    const char *opts[] = {"--host",        "--port",    "--model",    "--models-dir", "--data-dir",
                          "--db",          "--threads", "--parallel", "--ctx-size",   "--api-key",
                          "--cors-origin", "--web-dir", "--offline",  "--log-format", "--config",
                          "--library",     "--embedding-model"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (!strstr(r.out, opts[i])) fail_msg("--help lacks %s", opts[i]);
    rg_run_free(&r);

    const char *no_parent[] = {"serve", "--port", "0", "--data-dir", "/nonexistent/a/b", NULL};
    assert_int_equal(rg_run_cli(no_parent, NULL, NULL, 10, &r), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "--data-dir /nonexistent/a/b"));
    rg_run_free(&r);

    /* a non-loopback bind needs a key, or an explicit opt-out */
    const char *open_bind[] = {"serve", "--host", "0.0.0.0", "--port", "0", NULL};
    assert_int_equal(rg_run_cli(open_bind, NULL, NULL, 10, &r), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--api-key"));
    rg_run_free(&r);

    /* port in use: a clear error and exit 1 */
    char port[16], data[300];
    snprintf(port, sizeof port, "%d", srv.port);
    snprintf(data, sizeof data, "%s/data", srv.dir);
    const char *busy[] = {"serve", "--port", port, "--data-dir", data, NULL};
    assert_int_equal(rg_run_cli(busy, NULL, NULL, 10, &r), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "cannot listen"));
    assert_non_null(strstr(r.err, "in use"));
    rg_run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_json_bodies),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_cors_and_host),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_keepalive_and_pipelining),
        cmocka_unit_test(test_sse),
        cmocka_unit_test(test_system_routes),
        cmocka_unit_test(test_api_key),
        cmocka_unit_test(test_json_access_log),
        cmocka_unit_test(test_sigterm_lets_streams_finish),
        cmocka_unit_test(test_sigterm_grace_is_bounded),
        cmocka_unit_test(test_cli_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
