/* The application's server: route table assembly and lifecycle (see api.h). */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"

#define MAX_ROUTES 128

struct rg_api {
    struct rg_api_state st;
    struct rg_route routes[MAX_ROUTES];
    size_t n_routes;
    struct rg_http_server *srv;
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct rg_api *rg_api_new(const struct rg_config *cfg, char *err)
{
    struct rg_api *a = rg_calloc(1, sizeof *a);
    if (!a) {
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    a->st.started = mono_now();
    a->st.cfg = cfg;
    a->st.openai = rg_openai_new(cfg);
    if (!a->st.openai) {
        rg_free(a);
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    a->n_routes += rg_api_system_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes += rg_api_docs_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes += rg_api_openai_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    const char *dbg = getenv("RUSTYGPT_TEST_ROUTES");
    if (dbg && !strcmp(dbg, "1"))
        a->n_routes +=
            rg_api_debug_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);

    struct rg_http_opts o = {
        .host = cfg->host,
        .port = cfg->port,
        .max_body = cfg->max_body,
        .max_connections = cfg->max_connections,
        .timeout = cfg->timeout,
        .threads = cfg->http_threads,
        .cors_origins = (const char *const *)cfg->cors_origins.v,
        .n_cors = cfg->cors_origins.n,
        .api_keys = (const char *const *)cfg->api_keys.v,
        .n_api_keys = cfg->api_keys.n,
    };
    a->srv = rg_http_server_new(&o, a->routes, a->n_routes, err);
    if (!a->srv) {
        rg_openai_free(a->st.openai);
        rg_free(a);
        return NULL;
    }
    return a;
}

int rg_api_start(struct rg_api *a, char *err)
{
    return rg_http_server_start(a->srv, err);
}

int rg_api_port(const struct rg_api *a)
{
    return rg_http_server_port(a->srv);
}

void rg_api_stop(struct rg_api *a, int grace_s)
{
    if (!a) return;
    rg_http_server_stop(a->srv, grace_s);
    rg_openai_free(a->st.openai);
    rg_free(a);
}
