/*
 * Hidden routes for the integration tests, present only when the server runs
 * with RUSTYGPT_TEST_ROUTES=1: an SSE stream fed by its own thread (as a
 * generation will be), whose producer observes a client disconnect, and a
 * JSON echo for the body-parsing path.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "common/alloc.h"
#include "common/str.h"

static atomic_long sse_started, sse_completed, sse_cancelled;

struct job {
    struct rg_sse *s;
    long n, interval_ms;
};

static void *producer(void *arg)
{
    struct job *j = arg;
    bool cancelled = false;
    for (long i = 0; i < j->n; i++) {
        if (rg_sse_closed(j->s)) {
            cancelled = true;
            break;
        }
        char data[64];
        int len = snprintf(data, sizeof data, "{\"i\":%ld}", i);
        if (rg_sse_send(j->s, NULL, data, (size_t)len) != RG_OK) {
            cancelled = true;
            break;
        }
        struct timespec ts = {j->interval_ms / 1000, (j->interval_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (!cancelled) {
        /* One last check: a client that left during the final sleep. */
        cancelled = rg_sse_send(j->s, NULL, "[DONE]", 6) != RG_OK;
    }
    rg_sse_log_model(j->s, "debug", 0, j->n);
    rg_sse_end(j->s);
    atomic_fetch_add(cancelled ? &sse_cancelled : &sse_completed, 1);
    rg_free(j);
    return NULL;
}

static long query_long(struct rg_http_req *r, const char *name, long def, long max)
{
    const char *v = rg_http_req_query(r, name);
    int64_t x;
    if (!v || rg_parse_i64(v, 0, max, &x) != RG_OK) return def;
    return (long)x;
}

static void sse(struct rg_http_req *r, void *ctx)
{
    (void)ctx;
    struct job *j = rg_calloc(1, sizeof *j);
    if (!j) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    j->n = query_long(r, "n", 5, 100000);
    j->interval_ms = query_long(r, "interval_ms", 10, 10000);
    j->s = rg_http_sse_start(r);
    if (!j->s) {
        rg_free(j);
        return;
    }
    atomic_fetch_add(&sse_started, 1);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, producer, j) != 0) {
        rg_sse_end(j->s);
        rg_free(j);
    }
    pthread_attr_destroy(&attr);
}

static void stats(struct rg_http_req *r, void *ctx)
{
    (void)ctx;
    rg_http_reply_json(r, 200,
                       json_pack("{s:I, s:I, s:I, s:i}", "sse_started",
                                 (json_int_t)atomic_load(&sse_started), "sse_completed",
                                 (json_int_t)atomic_load(&sse_completed), "sse_cancelled",
                                 (json_int_t)atomic_load(&sse_cancelled), "streams_open",
                                 rg_http_server_active_streams(rg_http_req_server(r))));
}

static void echo(struct rg_http_req *r, void *ctx)
{
    (void)ctx;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    rg_http_reply_json(r, 200,
                       json_pack("{s:O, s:s}", "received", body, "request_id", rg_http_req_id(r)));
}

static void param(struct rg_http_req *r, void *ctx)
{
    (void)ctx;
    rg_http_reply_json(
        r, 200,
        json_pack("{s:s, s:s}", "a", rg_http_req_param(r, "a"), "b", rg_http_req_param(r, "b")));
}

size_t rg_api_debug_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    (void)st;
    const struct rg_route routes[] = {
        {RG_HTTP_GET, "/debug/sse", sse, NULL, RG_ROLE_PUBLIC, RG_ROUTE_HIDDEN | RG_ROUTE_STREAM,
         "debug", "test stream", NULL, NULL},
        {RG_HTTP_GET, "/debug/stats", stats, NULL, RG_ROLE_PUBLIC, RG_ROUTE_HIDDEN, "debug", NULL,
         NULL, NULL},
        {RG_HTTP_POST, "/debug/echo", echo, NULL, RG_ROLE_PUBLIC,
         RG_ROUTE_HIDDEN | RG_ROUTE_API_KEY, "debug", NULL, NULL, NULL},
        {RG_HTTP_GET | RG_HTTP_DELETE, "/debug/param/{a}/x/{b}", param, NULL, RG_ROLE_PUBLIC,
         RG_ROUTE_HIDDEN, "debug", NULL, NULL, NULL},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
