/*
 * The application's HTTP surface: builds the route table from each area's
 * routes (system, docs, and later OpenAI, auth, chats), owns the server, and
 * wires the api-level state (start time, models) that handlers report.
 */
#ifndef RG_API_H
#define RG_API_H

#include <stddef.h>

#include "common/config.h"
#include "http/http.h"

struct rg_api;

/* Reads nothing from the environment except RUSTYGPT_TEST_ROUTES=1, which adds
 * the hidden /debug/... routes the integration tests use. */
struct rg_api *rg_api_new(const struct rg_config *cfg, char *err);
int rg_api_start(struct rg_api *a, char *err); /* binds; RG_EIO with a reason */
int rg_api_port(const struct rg_api *a);
/* Stops accepting, gives streams grace_s seconds, stops, frees. */
void rg_api_stop(struct rg_api *a, int grace_s);

/* ---- per-area route tables (each area's file) ---- */
struct rg_engine;
struct rg_api_streams;
struct rg_auth;
struct rg_db;
struct rg_api_state {
    double started; /* CLOCK_MONOTONIC seconds at start */
    const struct rg_config *cfg;
    struct rg_engine *engine;       /* models and their schedulers (src/engine) */
    struct rg_api_streams *streams; /* engine events -> replies (stream.c) */
    struct rg_db *db;               /* accounts and, later, chats */
    struct rg_auth *auth;           /* sign-in, tokens, API keys (auth.c) */
    struct rg_jobs *jobs;           /* the background job queue (jobs.c) */
    struct rg_api_library *library; /* the knowledge library (library.c) */
};

/* Appends an area's routes; each returns how many it wrote (at most max). */
size_t rg_api_system_routes(struct rg_route *out, size_t max, struct rg_api_state *st);
size_t rg_api_docs_routes(struct rg_route *out, size_t max, struct rg_api_state *st);
size_t rg_api_auth_routes(struct rg_route *out, size_t max, struct rg_api_state *st);
size_t rg_api_web_routes(struct rg_route *out, size_t max, struct rg_api_state *st);
size_t rg_api_debug_routes(struct rg_route *out, size_t max, struct rg_api_state *st);

/* The auth hook (auth.c): access tokens and account API keys → principal. */
int rg_api_auth_hook(struct rg_http_req *r, void *ctx, struct rg_principal *who);

/* The OpenAPI 3.1 document of a route table (exposed for tests). NULL on ENOMEM. */
json_t *rg_api_openapi(const struct rg_route *routes, size_t n, const char *version);

#endif
