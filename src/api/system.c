/* System routes: /healthz, /status, /metrics, /openapi.json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_jobs.h"
#include "engine/engine.h"
#include "engine/quant/quant.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "http/metrics.h"
#include "net/net.h"

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

/* The engine's slots and queues into the gauges /status and /metrics read. */
static void publish_engine(struct rg_api_state *st)
{
    struct rg_engine_totals t;
    rg_engine_totals(st->engine, &t);
    rg_metrics_set_slots(t.busy, t.slots);
    rg_metrics_set_queue_depth(t.queued);
}

static void status(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    publish_engine(st);
    struct rg_metrics_snapshot m;
    rg_metrics_snapshot(&m);
    json_t *body =
        json_pack("{s:s, s:s, s:f, s:{s:s, s:s, s:s}, s:o, s:{s:I, s:I}, s:I, s:I, s:{s:I}, s:I, "
                  "s:{s:I, s:I, s:f}}",
                  "status", "ok", "version", RG_VERSION, "uptime_s", mono_now() - st->started,
                  "build", "type", RG_BUILD_TYPE, "compiler", RG_COMPILER, "date", __DATE__,
                  "models", rg_engine_status(st->engine), "slots", "busy", (json_int_t)m.slots_busy,
                  "free", (json_int_t)(m.slots_total - m.slots_busy), "queue_depth",
                  (json_int_t)m.queue_depth, "streams_open", (json_int_t)m.streams_open, "memory",
                  "rss_bytes", (json_int_t)rss_bytes(), "requests_total", (json_int_t)m.requests,
                  "tokens", "prompt_total", (json_int_t)m.prompt_tokens, "generated_total",
                  (json_int_t)m.completion_tokens, "generated_per_s", m.generated_per_s);
    /* compute thread pools started so far: embeddings share a model's */
    json_object_set_new(body, "compute_pools", json_integer(rg_engine_pools_started()));
    json_object_set_new(body, "offline", json_boolean(rg_net_offline()));
    json_t *jobs = rg_api_jobs_status(st);
    if (body)
        json_object_set_new(body, "jobs", jobs ? jobs : json_null());
    else
        json_decref(jobs);
    /* the kernel path in use (RG_ISA, src/engine/kernels/dispatch.h) */
    json_object_set_new(body, "isa", json_string(rg_quant_isa()));
    rg_http_reply_json(r, 200, body);
}

/* Per model: loading or ready, slots busy, requests queued by priority. */
static int render_models(struct rg_api_state *st, struct rg_buf *b)
{
    json_t *models = rg_engine_status(st->engine);
    if (!models) return RG_ENOMEM;
    int rc = rg_buf_append_str(b, "# HELP rustygpt_model_loading 1 while a model is loading\n"
                                  "# TYPE rustygpt_model_loading gauge\n"
                                  "# HELP rustygpt_model_slots_busy slots generating per model\n"
                                  "# TYPE rustygpt_model_slots_busy gauge\n"
                                  "# HELP rustygpt_model_queued requests waiting per model\n"
                                  "# TYPE rustygpt_model_queued gauge\n");
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m)
    {
        char line[512];
        const char *id = json_string_value(json_object_get(m, "id"));
        bool loading = !strcmp(json_string_value(json_object_get(m, "state")), "loading");
        json_t *q = json_object_get(m, "queued");
        int n = snprintf(line, sizeof line,
                         "rustygpt_model_loading{model=\"%s\"} %d\n"
                         "rustygpt_model_slots_busy{model=\"%s\"} %lld\n"
                         "rustygpt_model_queued{model=\"%s\",priority=\"interactive\"} %lld\n"
                         "rustygpt_model_queued{model=\"%s\",priority=\"background\"} %lld\n",
                         id, loading, id,
                         (long long)json_integer_value(json_object_get(m, "slots_busy")), id,
                         (long long)json_integer_value(json_object_get(q, "interactive")), id,
                         (long long)json_integer_value(json_object_get(q, "background")));
        if (rc == RG_OK && n > 0 && (size_t)n < sizeof line) rc = rg_buf_append(b, line, (size_t)n);
    }
    json_decref(models);
    return rc;
}

static void metrics(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    publish_engine(st);
    struct rg_buf b;
    rg_buf_init(&b, 64u << 20);
    if (rg_metrics_render(&b) != RG_OK || render_models(st, &b) != RG_OK ||
        rg_api_jobs_metrics(st, &b) != RG_OK) {
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
    "\"isa\":{\"type\":\"string\",\"description\":\"kernel path in use: avx2, neon-dotprod, "
    "neon or generic (RG_ISA)\"},"
    "\"build\":{\"type\":\"object\",\"properties\":{\"type\":{\"type\":\"string\"},"
    "\"compiler\":{\"type\":\"string\"},\"date\":{\"type\":\"string\"}}},"
    "\"models\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}},"
    "\"slots\":{\"type\":\"object\",\"properties\":{\"busy\":{\"type\":\"integer\"},"
    "\"free\":{\"type\":\"integer\"}}},"
    "\"queue_depth\":{\"type\":\"integer\"},\"streams_open\":{\"type\":\"integer\"},"
    "\"memory\":{\"type\":\"object\",\"properties\":{\"rss_bytes\":{\"type\":\"integer\"}}},"
    "\"requests_total\":{\"type\":\"integer\"},\"offline\":{\"type\":\"boolean\"},"
    "\"jobs\":{\"type\":[\"object\",\"null\"],\"description\":\"background jobs by state\","
    "\"additionalProperties\":{\"type\":\"integer\"}}}}";
static const char METRICS_SCHEMA[] =
    "{\"type\":\"string\",\"description\":\"Prometheus text format 0.0.4\"}";
static const char OPENAPI_SCHEMA[] =
    "{\"type\":\"object\",\"description\":\"OpenAPI 3.1 document\"}";

size_t rg_api_system_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    /* with --api-key, what the server runs and how is for key holders too */
    unsigned info = st->cfg && st->cfg->public_info ? 0 : RG_ROUTE_API_KEY;
    const struct rg_route routes[] = {
        {RG_HTTP_GET, "/healthz", healthz, st, RG_ROLE_PUBLIC, RG_ROUTE_NO_LOG, "system",
         "Liveness: 200 while the server is serving", NULL, HEALTH_SCHEMA},
        {RG_HTTP_GET, "/status", status, st, RG_ROLE_PUBLIC, info, "system",
         "Version, uptime, build, loaded models, slots, queue depth and memory", NULL,
         STATUS_SCHEMA},
        {RG_HTTP_GET, "/metrics", metrics, st, RG_ROLE_PUBLIC, info, "system",
         "Prometheus metrics: requests and latency by route and status, tokens, queue depth", NULL,
         METRICS_SCHEMA},
        {RG_HTTP_GET, "/openapi.json", openapi, st, RG_ROLE_PUBLIC, info, "system",
         "This API's OpenAPI 3.1 description, generated from the route table", NULL,
         OPENAPI_SCHEMA},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
