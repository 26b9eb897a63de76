/* Server metrics (see metrics.h). One mutex guards the request series: a
 * handful of routes times a handful of statuses, updated once per request. */
#include "http/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"

static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define N_BUCKETS (sizeof BUCKETS / sizeof BUCKETS[0])

struct series {
    char method[8];
    char route_copy[64];
    int status;
    unsigned long long count;
    double sum;
    unsigned long long bucket[N_BUCKETS]; /* not cumulative; summed when rendered */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct series *series;
static size_t n_series, cap_series;
static atomic_long prompt_tokens, completion_tokens, queue_depth, slots_busy, slots_total,
    streams_open;
static atomic_ullong requests_total;

void rg_metrics_observe_request(const char *method, const char *route, int status, double seconds)
{
    atomic_fetch_add(&requests_total, 1);
    pthread_mutex_lock(&lock);
    struct series *s = NULL;
    for (size_t i = 0; i < n_series; i++) {
        if (series[i].status == status && !strcmp(series[i].route_copy, route) &&
            !strcmp(series[i].method, method)) {
            s = &series[i];
            break;
        }
    }
    if (!s && n_series < 4096) {
        if (n_series == cap_series) {
            size_t nc = cap_series ? cap_series * 2 : 32;
            struct series *v = rg_realloc(series, nc * sizeof *v);
            if (v) {
                series = v;
                cap_series = nc;
            }
        }
        if (n_series < cap_series) {
            s = &series[n_series++];
            memset(s, 0, sizeof *s);
            snprintf(s->method, sizeof s->method, "%s", method);
            snprintf(s->route_copy, sizeof s->route_copy, "%s", route);
            s->status = status;
        }
    }
    if (s) {
        s->count++;
        s->sum += seconds;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            if (seconds <= BUCKETS[b]) {
                s->bucket[b]++;
                break;
            }
        }
    }
    pthread_mutex_unlock(&lock);
}

/* Generated tokens per second of the clock, the last RATE_SECONDS of them. */
#define RATE_SECONDS 10
static struct {
    long long sec;
    long n;
} rate[RATE_SECONDS + 2];
static pthread_mutex_t rate_lock = PTHREAD_MUTEX_INITIALIZER;

static long long now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec;
}

void rg_metrics_add_generated(long n)
{
    long long s = now_sec();
    size_t k = (size_t)(s % (RATE_SECONDS + 2));
    pthread_mutex_lock(&rate_lock);
    if (rate[k].sec != s) rate[k].sec = s, rate[k].n = 0;
    rate[k].n += n;
    pthread_mutex_unlock(&rate_lock);
}

static double generated_per_s(void)
{
    long long s = now_sec();
    long sum = 0;
    pthread_mutex_lock(&rate_lock);
    for (size_t k = 0; k < RATE_SECONDS + 2; k++)
        if (rate[k].sec >= s - RATE_SECONDS && rate[k].sec < s) sum += rate[k].n;
    pthread_mutex_unlock(&rate_lock);
    return (double)sum / RATE_SECONDS;
}

void rg_metrics_add_tokens(long prompt, long completion)
{
    atomic_fetch_add(&prompt_tokens, prompt);
    atomic_fetch_add(&completion_tokens, completion);
}
void rg_metrics_set_queue_depth(long n)
{
    atomic_store(&queue_depth, n);
}
void rg_metrics_set_slots(long busy, long total)
{
    atomic_store(&slots_busy, busy);
    atomic_store(&slots_total, total);
}
void rg_metrics_stream_started(void)
{
    atomic_fetch_add(&streams_open, 1);
}
void rg_metrics_stream_ended(void)
{
    atomic_fetch_sub(&streams_open, 1);
}

void rg_metrics_snapshot(struct rg_metrics_snapshot *o)
{
    o->prompt_tokens = atomic_load(&prompt_tokens);
    o->completion_tokens = atomic_load(&completion_tokens);
    o->queue_depth = atomic_load(&queue_depth);
    o->slots_busy = atomic_load(&slots_busy);
    o->slots_total = atomic_load(&slots_total);
    o->streams_open = atomic_load(&streams_open);
    o->requests = atomic_load(&requests_total);
    o->generated_per_s = generated_per_s();
}

int rg_metrics_render(struct rg_buf *b)
{
    int rc = RG_OK;
#define P(...)                                                                                     \
    do {                                                                                           \
        if (rc == RG_OK) rc = rg_buf_printf(b, __VA_ARGS__);                                       \
    } while (0)
    P("# HELP rustygpt_http_requests_total HTTP requests by route and status.\n");
    P("# TYPE rustygpt_http_requests_total counter\n");
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_series; i++) {
        const struct series *s = &series[i];
        P("rustygpt_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
          s->method, s->route_copy, s->status, s->count);
    }
    P("# HELP rustygpt_http_request_duration_seconds Time from request to reply.\n");
    P("# TYPE rustygpt_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < n_series; i++) {
        const struct series *s = &series[i];
        unsigned long long cum = 0;
        for (size_t k = 0; k < N_BUCKETS; k++) {
            cum += s->bucket[k];
            P("rustygpt_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",status=\"%"
              "d\","
              "le=\"%g\"} %llu\n",
              s->method, s->route_copy, s->status, BUCKETS[k], cum);
        }
        P("rustygpt_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",status=\"%d\","
          "le=\"+Inf\"} %llu\n",
          s->method, s->route_copy, s->status, s->count);
        P("rustygpt_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\",status=\"%d\"} "
          "%.6f\n",
          s->method, s->route_copy, s->status, s->sum);
        P("rustygpt_http_request_duration_seconds_count{method=\"%s\",route=\"%s\",status=\"%d\"} "
          "%llu\n",
          s->method, s->route_copy, s->status, s->count);
    }
    pthread_mutex_unlock(&lock);
    P("# HELP rustygpt_prompt_tokens_total Prompt tokens processed.\n");
    P("# TYPE rustygpt_prompt_tokens_total counter\n");
    P("rustygpt_prompt_tokens_total %ld\n", atomic_load(&prompt_tokens));
    P("# HELP rustygpt_generated_tokens_total Tokens generated.\n");
    P("# TYPE rustygpt_generated_tokens_total counter\n");
    P("rustygpt_generated_tokens_total %ld\n", atomic_load(&completion_tokens));
    P("# HELP rustygpt_generation_tokens_per_second Tokens generated per second, last 10 s.\n");
    P("# TYPE rustygpt_generation_tokens_per_second gauge\n");
    P("rustygpt_generation_tokens_per_second %.2f\n", generated_per_s());
    P("# HELP rustygpt_queue_depth Requests waiting for a generation slot.\n");
    P("# TYPE rustygpt_queue_depth gauge\n");
    P("rustygpt_queue_depth %ld\n", atomic_load(&queue_depth));
    P("# HELP rustygpt_slots_busy Generation slots in use.\n");
    P("# TYPE rustygpt_slots_busy gauge\n");
    P("rustygpt_slots_busy %ld\n", atomic_load(&slots_busy));
    P("# HELP rustygpt_slots_total Generation slots.\n");
    P("# TYPE rustygpt_slots_total gauge\n");
    P("rustygpt_slots_total %ld\n", atomic_load(&slots_total));
    P("# HELP rustygpt_streams_open Server-sent event streams open.\n");
    P("# TYPE rustygpt_streams_open gauge\n");
    P("rustygpt_streams_open %ld\n", atomic_load(&streams_open));
#undef P
    return rc;
}

void rg_metrics_reset(void)
{
    pthread_mutex_lock(&lock);
    rg_free(series);
    series = NULL;
    n_series = cap_series = 0;
    pthread_mutex_unlock(&lock);
}
