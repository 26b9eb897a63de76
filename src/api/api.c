/* The application's server: route table assembly and lifecycle (see api.h). */
#include "api/api.h"
#include "api/api_internal.h"
#include "api/api_jobs.h"
#include "api/chat_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "common/alloc.h"
#include "common/str.h"
#include "db/db.h"
#include "net/net.h"

#define MAX_ROUTES 192

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

/* Opens the database (migrating it) and the accounts service. */
static int open_accounts(struct rg_api *a, const struct rg_config *cfg, char *err)
{
    char url[1200];
    if (!rg_config_db_url(cfg, url, sizeof url))
        return rg_err_set(err, RG_EINVAL, "--db: the database path is too long");
    struct rg_db_params dp;
    rg_db_default_params(&dp);
    dp.url = url;
    dp.pool = cfg->db_pool;
    a->st.db = rg_db_open(&dp, err);
    if (!a->st.db) return RG_EIO;
    int applied = 0;
    char merr[RG_ERR_SIZE];
    int rc = rg_db_migrate(a->st.db, &applied, merr);
    if (rc) return rg_err_set(err, rc, "database: %s", merr);
    if (applied)
        rg_log(RG_LOG_INFO, "database migrated", "backend", 's', rg_db_backend(a->st.db), "applied",
               'i', (long long)applied, RG_LOG_END);
    struct rg_auth_params ap;
    rg_auth_default_params(&ap);
    ap.db = a->st.db;
    ap.data_dir = cfg->data_dir;
    ap.access_ttl = cfg->access_ttl;
    ap.refresh_ttl = cfg->refresh_ttl;
    /* --api-key guards the server: sign-up then stays closed unless asked
     * for, and nobody without the key can make the first admin */
    if (!cfg->signup)
        ap.signup = cfg->api_keys.n ? RG_SIGNUP_CLOSED : RG_SIGNUP_OPEN;
    else if (rg_auth_signup_parse(cfg->signup, &ap.signup) != RG_OK)
        return rg_err_set(err, RG_EINVAL,
                          "--signup: expected open, approval or closed, got '%.20s'", cfg->signup);
    ap.first_signup_open = cfg->api_keys.n == 0 || ap.signup == RG_SIGNUP_OPEN;
    ap.signup_rate = cfg->signup_rate;
    ap.public_url = cfg->public_url; /* NULL: set from the bound port in rg_api_start */
    ap.github = (struct rg_auth_provider_conf){
        .client_id = cfg->github_client_id,
        .client_secret = cfg->github_client_secret,
        .authorize_url = cfg->github_authorize_url,
        .token_url = cfg->github_token_url,
        .api_url = cfg->github_api_url,
    };
    ap.apple = (struct rg_auth_provider_conf){
        .client_id = cfg->apple_client_id,
        .team_id = cfg->apple_team_id,
        .key_id = cfg->apple_key_id,
        .private_key_file = cfg->apple_private_key,
        .authorize_url = cfg->apple_authorize_url,
        .token_url = cfg->apple_token_url,
        .keys_url = cfg->apple_keys_url,
        .issuer = cfg->apple_issuer,
    };
    /* the process-wide switch (src/net/): an admin flips it at run time, so the
     * providers stay configured and refuse while it is on */
    rg_net_set_offline(cfg->offline);
    if (cfg->offline && (cfg->github_client_id || cfg->apple_client_id))
        rg_log(RG_LOG_WARN, "--offline: GitHub and Apple sign-in are off", RG_LOG_END);
    a->st.auth = rg_auth_new(&ap, err);
    if (!a->st.auth) return RG_EIO;
    int64_t users = 0;
    if (!ap.first_signup_open && rg_db_user_count(a->st.db, &users, merr) == RG_OK && users == 0)
        rg_log(RG_LOG_WARN,
               "no accounts yet and sign-up is closed: make the first admin with "
               "`rustygpt user add EMAIL`, or POST /auth/register with an --api-key",
               RG_LOG_END);
    return rg_api_jobs_open(&a->st, err);
}

static void close_accounts(struct rg_api *a)
{
    rg_api_jobs_close(&a->st); /* its workers use the database */
    rg_auth_free(a->st.auth);
    a->st.auth = NULL;
    rg_db_close(a->st.db);
    a->st.db = NULL;
}

/* The engine (models, schedulers) with the server's settings, and the
 * stage that turns its events into replies. */
static int open_engine(struct rg_api *a, const struct rg_config *cfg, char *err)
{
    struct rg_engine_params p = rg_engine_default_params();
    p.models = (const char *const *)cfg->models.v;
    p.n_models = cfg->models.n;
    p.models_dir = cfg->models_dir;
    p.n_ctx = cfg->ctx_size;
    p.n_slots = cfg->parallel > 0 ? cfg->parallel : 1;
    p.n_threads = cfg->threads;
    p.kv_f16 = cfg->cache_f16;
    p.keep_alive = cfg->keep_alive;
    p.max_memory = cfg->max_memory;
    p.max_queue = cfg->max_queue;
    const char *delay = getenv("RUSTYGPT_TEST_LOAD_DELAY_MS"); /* tests: a slow disk */
    int64_t ms;
    if (delay && rg_parse_i64(delay, 0, 600000, &ms) == RG_OK) p.load_delay_ms = (int)ms;
    a->st.engine = rg_engine_new(&p, err);
    if (!a->st.engine) return RG_ENOMEM;
    a->st.streams = rg_api_streams_new(err);
    return a->st.streams ? RG_OK : RG_ENOMEM;
}

static void close_engine(struct rg_api *a)
{
    rg_api_streams_free(a->st.streams);
    rg_engine_free(a->st.engine);
    a->st.streams = NULL;
    a->st.engine = NULL;
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
    if (open_accounts(a, cfg, err) != RG_OK) {
        close_accounts(a);
        rg_free(a);
        return NULL;
    }
    if (open_engine(a, cfg, err) != RG_OK) {
        close_engine(a);
        close_accounts(a);
        rg_free(a);
        return NULL;
    }
    a->n_routes += rg_api_system_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes += rg_api_docs_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes += rg_api_models_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes += rg_api_chat_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes +=
        rg_api_completions_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes +=
        rg_api_embeddings_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes += rg_api_ollama_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes += rg_api_auth_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes += rg_api_jobs_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes += rg_api_library_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes +=
        rg_api_chat_store_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes +=
        rg_api_chat_answer_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes += rg_api_memory_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes +=
        rg_api_survival_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes += rg_api_net_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    a->n_routes += rg_api_web_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);
    const char *dbg = getenv("RUSTYGPT_TEST_ROUTES");
    if (dbg && !strcmp(dbg, "1"))
        a->n_routes +=
            rg_api_debug_routes(a->routes + a->n_routes, MAX_ROUTES - a->n_routes, &a->st);

    enum rg_http_discovery disc = RG_HTTP_DISCOVERY_LOOPBACK;
    const char *da = cfg->discovery_auth ? cfg->discovery_auth : "loopback";
    if (!strcmp(da, "key")) {
        disc = RG_HTTP_DISCOVERY_KEY;
    } else if (!strcmp(da, "open")) {
        disc = RG_HTTP_DISCOVERY_OPEN;
    } else if (strcmp(da, "loopback") != 0) {
        rg_err_set(err, RG_EINVAL, "--discovery-auth: expected loopback, key or open, got '%.20s'",
                   da);
        close_engine(a);
        close_accounts(a);
        rg_free(a);
        return NULL;
    }
    struct rg_http_opts o = {
        .host = cfg->host,
        .port = cfg->port,
        .max_body = cfg->max_body,
        .max_connections = cfg->max_connections,
        .max_connections_per_ip = cfg->max_connections_per_ip,
        .timeout = cfg->timeout,
        .header_timeout = cfg->header_timeout,
        .threads = cfg->http_threads,
        .cors_origins = (const char *const *)cfg->cors_origins.v,
        .n_cors = cfg->cors_origins.n,
        .api_keys = (const char *const *)cfg->api_keys.v,
        .n_api_keys = cfg->api_keys.n,
        .discovery = disc,
    };
    a->srv = rg_http_server_new(&o, a->routes, a->n_routes, err);
    if (!a->srv) {
        close_engine(a);
        close_accounts(a);
        rg_free(a);
        return NULL;
    }
    rg_http_server_set_auth(a->srv, rg_api_auth_hook, &a->st);
    return a;
}

int rg_api_start(struct rg_api *a, char *err)
{
    int rc = rg_http_server_start(a->srv, err);
    if (rc == RG_OK && !a->st.cfg->public_url) {
        const char *host = a->st.cfg->host;
        bool v6 = strchr(host, ':') != NULL;
        char pub[300];
        snprintf(pub, sizeof pub, "http://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "",
                 rg_http_server_port(a->srv));
        rc = rg_auth_set_public_url(a->st.auth, pub);
        if (rc) rg_err_set(err, rc, "out of memory");
    }
    if (rc == RG_OK) rc = rg_api_jobs_start(&a->st, err);
    return rc;
}

int rg_api_port(const struct rg_api *a)
{
    return rg_http_server_port(a->srv);
}

void rg_api_stop(struct rg_api *a, int grace_s)
{
    if (!a) return;
    rg_http_server_stop(a->srv, grace_s);
    rg_api_jobs_close(&a->st); /* jobs use the engine (titles): they stop first */
    close_engine(a); /* every connection is closed: the streams end, then the engine */
    close_accounts(a);
    rg_free(a);
}
