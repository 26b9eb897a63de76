/* System routes: /healthz, /status, /metrics, /openapi.json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_jobs.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "http/metrics.h"

#ifndef RG_VERSION
#define RG_VERSION "0.0.0"
#endif
#ifndef RG_BUILD_TYPE
#define RG_BUILD_TYPE "unknown"
#endif
#ifndef RG_COMPILER
#define RG_COMPILER "unknown"
#endif

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void healthz(struct rg_http_req *r, void *ctx)
{
    (void)ctx;
    static const char body[] = "{\"status\":\"ok\"}";
    rg_http_reply(r, 200, "application/json", body, sizeof body - 1);
}

/* Resident set size from /proc/self/statm (pages → bytes); 0 if unknown. */
static long long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    long long size = 0, rss = 0;
    int n = fscanf(f, "%lld %lld", &size, &rss);
    fclose(f);
    return n == 2 ? rss * sysconf(_SC_PAGESIZE) : 0;
}

static void status(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    struct rg_metrics_snapshot m;
    rg_metrics_snapshot(&m);
    json_t *body =
        json_pack("{s:s, s:s, s:f, s:{s:s, s:s, s:s}, s:o, s:{s:I, s:I}, s:I, s:I, s:{s:I}, s:I, "
                  "s:{s:I, s:I, s:f}}",
                  "status", "ok", "version", RG_VERSION, "uptime_s", mono_now() - st->started,
                  "build", "type", RG_BUILD_TYPE, "compiler", RG_COMPILER, "date", __DATE__,
                  "models", rg_openai_status(st->openai), "slots", "busy", (json_int_t)m.slots_busy,
                  "free", (json_int_t)(m.slots_total - m.slots_busy), "queue_depth",
                  (json_int_t)m.queue_depth, "streams_open", (json_int_t)m.streams_open, "memory",
                  "rss_bytes", (json_int_t)rss_bytes(), "requests_total", (json_int_t)m.requests,
                  "tokens", "prompt_total", (json_int_t)m.prompt_tokens, "generated_total",
                  (json_int_t)m.completion_tokens, "generated_per_s", m.generated_per_s);
    json_t *jobs = rg_api_jobs_status(st);
    if (body)
        json_object_set_new(body, "jobs", jobs ? jobs : json_null());
    else
        json_decref(jobs);
    rg_http_reply_json(r, 200, body);
}

static void metrics(struct rg_http_req *r, void *ctx)
{
    struct rg_buf b;
    rg_buf_init(&b, 64u << 20);
    if (rg_metrics_render(&b) != RG_OK || rg_api_jobs_metrics(ctx, &b) != RG_OK) {
        rg_buf_free(&b);
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    rg_http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    rg_buf_free(&b);
}

static void openapi(struct rg_http_req *r, void *ctx)
{
    (void)ctx;
    size_t n;
    const struct rg_route *routes = rg_http_server_routes(rg_http_req_server(r), &n);
    json_t *doc = rg_api_openapi(routes, n, RG_VERSION);
    if (!doc) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    rg_http_reply_json(r, 200, doc);
}

static const char HEALTH_SCHEMA[] = "{\"type\":\"object\",\"required\":[\"status\"],\"properties\":"
                                    "{\"status\":{\"const\":\"ok\"}}}";
static const char STATUS_SCHEMA[] =
    "{\"type\":\"object\",\"required\":[\"status\",\"version\",\"uptime_s\",\"build\",\"models\","
    "\"slots\","
    "\"queue_depth\",\"memory\"],\"properties\":{"
    "\"status\":{\"type\":\"string\"},\"version\":{\"type\":\"string\"},"
    "\"uptime_s\":{\"type\":\"number\"},"
    "\"build\":{\"type\":\"object\",\"properties\":{\"type\":{\"type\":\"string\"},"
    "\"compiler\":{\"type\":\"string\"},\"date\":{\"type\":\"string\"}}},"
    "\"models\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}},"
    "\"slots\":{\"type\":\"object\",\"properties\":{\"busy\":{\"type\":\"integer\"},"
    "\"free\":{\"type\":\"integer\"}}},"
    "\"queue_depth\":{\"type\":\"integer\"},\"streams_open\":{\"type\":\"integer\"},"
    "\"memory\":{\"type\":\"object\",\"properties\":{\"rss_bytes\":{\"type\":\"integer\"}}},"
    "\"requests_total\":{\"type\":\"integer\"},"
    "\"jobs\":{\"type\":[\"object\",\"null\"],\"description\":\"background jobs by state\","
    "\"additionalProperties\":{\"type\":\"integer\"}}}}";
static const char METRICS_SCHEMA[] =
    "{\"type\":\"string\",\"description\":\"Prometheus text format 0.0.4\"}";
static const char OPENAPI_SCHEMA[] =
    "{\"type\":\"object\",\"description\":\"OpenAPI 3.1 document\"}";

size_t rg_api_system_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const struct rg_route routes[] = {
        {RG_HTTP_GET, "/healthz", healthz, st, RG_ROLE_PUBLIC, RG_ROUTE_NO_LOG, "system",
         "Liveness: 200 while the server is serving", NULL, HEALTH_SCHEMA},
        {RG_HTTP_GET, "/status", status, st, RG_ROLE_PUBLIC, 0, "system",
         "Version, uptime, build, loaded models, slots, queue depth and memory", NULL,
         STATUS_SCHEMA},
        {RG_HTTP_GET, "/metrics", metrics, st, RG_ROLE_PUBLIC, 0, "system",
         "Prometheus metrics: requests and latency by route and status, tokens, queue depth", NULL,
         METRICS_SCHEMA},
        {RG_HTTP_GET, "/openapi.json", openapi, st, RG_ROLE_PUBLIC, 0, "system",
         "This API's OpenAPI 3.1 description, generated from the route table", NULL,
         OPENAPI_SCHEMA},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
