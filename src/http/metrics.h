/*
 * Process-wide server metrics, rendered as Prometheus text on /metrics:
 * request counts and latency histograms by route and status (recorded by the
 * server), and the engine-side gauges and counters the api layer updates.
 * All functions are thread-safe.
 */
#ifndef RG_HTTP_METRICS_H
#define RG_HTTP_METRICS_H

#include <stddef.h>

#include "common/buf.h"

/* route: the route pattern ("/v1/models/{id}") or "unmatched". */
void rg_metrics_observe_request(const char *method, const char *route, int status, double seconds);
void rg_metrics_add_tokens(long prompt, long completion);
/* n tokens were just generated (for the tokens/s gauge: a 10 s window). */
void rg_metrics_add_generated(long n);
void rg_metrics_set_queue_depth(long n);
void rg_metrics_set_slots(long busy, long total);
void rg_metrics_stream_started(void);
void rg_metrics_stream_ended(void);

struct rg_metrics_snapshot {
    long prompt_tokens, completion_tokens;
    long queue_depth, slots_busy, slots_total, streams_open;
    unsigned long long requests;
    double generated_per_s; /* over the last 10 whole seconds */
};
void rg_metrics_snapshot(struct rg_metrics_snapshot *out);

/* Appends the Prometheus text exposition. RG_OK or RG_ENOMEM. */
int rg_metrics_render(struct rg_buf *out);
/* Forgets all request series (tests). */
void rg_metrics_reset(void);

#endif
