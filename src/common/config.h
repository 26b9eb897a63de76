/*
 * Server configuration: one table of options, four layers.
 *
 *   built-in defaults < config file (--config FILE) < RUSTYGPT_<OPTION>
 *   environment < command-line flags
 *
 * Every option of `rustygpt serve` in the CLI contract is in the table
 * (config.c), with its type, default and help line; `--help` is printed from
 * the same table, so the two cannot drift. The environment name of an option
 * is RUSTYGPT_ + its long name upper-cased with '-' as '_' (RUSTYGPT_CTX_SIZE).
 * The config file is JSON: {"port": 8080, "cors-origin": ["http://x:1"], ...}
 * keyed by the long names. Repeatable options (-m, --api-key, --cors-origin)
 * take a comma-separated list in the environment; a layer that sets a
 * repeatable option replaces the lower layers' list.
 */
#ifndef RG_COMMON_CONFIG_H
#define RG_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/err.h"
#include "common/log.h"

struct rg_strlist {
    char **v;
    size_t n;
};

struct rg_config {
    /* network */
    char *host;                     /* --host, "127.0.0.1" */
    int port;                       /* --port, 8080 (0 = pick a free port) */
    struct rg_strlist cors_origins; /* --cors-origin, repeatable; empty = loopback only */
    struct rg_strlist api_keys;     /* --api-key, repeatable */
    /* models and engine */
    struct rg_strlist models; /* -m/--model FILE.gguf, repeatable */
    char *models_dir;         /* --models-dir, "./models" */
    int threads;              /* --threads, 0 = number of cores */
    int parallel;             /* --parallel, 4: sequences decoded together */
    int max_queue;            /* --max-queue, 64: requests waiting for a slot; more get 429 */
    int max_request_work;     /* --max-request-work: n x max_tokens x (1 + top_logprobs) */
    int default_max_tokens;   /* --default-max-tokens, 4096: an answer whose request sets no
                               * max_tokens stops here; 0 = at the end of the context */
    int ctx_size;             /* --ctx-size, 0 = the model's own */
    int keep_alive;        /* --keep-alive SECONDS an idle model stays loaded, 300; -1 = forever */
    size_t max_memory;     /* --max-memory BYTES for loaded models (weights + KV), 0 = no limit */
    bool offline;          /* --offline: never touch the network */
    bool insecure_no_auth; /* --insecure-no-auth: allow a non-loopback bind without --api-key */
    /* storage */
    char *data_dir; /* --data-dir, "./data" */
    char *db;       /* --db, NULL = "sqlite:<data-dir>/rustygpt.db" */
    char *web_dir;  /* --web-dir, NULL = assets embedded in the binary */
    int db_pool;    /* --db-pool, 4 */
    /* knowledge library */
    struct rg_strlist library; /* --library DIR, repeatable: watched folders of the first admin */
    char *embedding_model;     /* --embedding-model ID, NULL: full-text search only */
    /* background jobs */
    int job_workers; /* --job-workers, 2: worker threads */
    int job_lease;   /* --job-lease SECONDS, 30: how long a dead node holds its jobs */
    /* accounts */
    char *signup;     /* --signup open|approval|closed; NULL: open, or closed with --api-key */
    int signup_rate;  /* --signup-rate N sign-up attempts per address per hour, 20 */
    bool public_info; /* --public-info: /status, /metrics, /openapi.json open despite --api-key */
    char *discovery_auth; /* --discovery-auth loopback|key|open: who may list models (Ollama's
                           * /api/tags, /api/show) without --api-key's key; "loopback" */
    int access_ttl;       /* --access-ttl SECONDS, 900 */
    int refresh_ttl;      /* --refresh-ttl SECONDS, 30 days */
    char *public_url;     /* --public-url, NULL = http://HOST:PORT */
    /* OAuth providers: all NULL = off; endpoints are configuration */
    char *github_client_id, *github_client_secret;
    char *github_authorize_url, *github_token_url, *github_api_url;
    char *apple_client_id, *apple_team_id, *apple_key_id, *apple_private_key;
    char *apple_authorize_url, *apple_token_url, *apple_keys_url, *apple_issuer;

    /* HTTP limits */
    size_t max_body;     /* --max-body BYTES, 8 MiB */
    int max_connections; /* --max-connections, 256 */
    int http_threads;    /* --http-threads, 0 = one per core */
    int timeout;         /* --timeout SECONDS idle/slow client, 60 */
    int shutdown_grace;  /* --shutdown-grace SECONDS for running streams, 10 */
    /* --max-connections-per-ip, 64 (0 = no limit); --header-timeout SECONDS for a
     * request's headers to arrive, 15 */
    int max_connections_per_ip, header_timeout;
    bool cache_f16; /* --cache-type f32|f16: the KV cache's elements, f32 */
    /* logging */
    enum rg_log_format log_format; /* --log-format json|text, text */
    char *log_level;               /* --log-level debug|info|warn|error, "info" */
    char *config_file;             /* --config FILE, NULL */
};

/* Fills *c with the built-in defaults (all strings owned by c). Returns RG_OK or RG_ENOMEM. */
int rg_config_defaults(struct rg_config *c);
void rg_config_free(struct rg_config *c); /* frees what c owns; c may be zeroed */

/*
 * Builds the configuration from all four layers. argv holds the flags only
 * (argv[0] is the first flag, not the program name). environ is NULL-ended
 * "NAME=value" strings (pass the process's environ). On error returns
 * RG_EINVAL (bad flag or value: err holds one line such as
 * "unknown option --prot" or "--port: expected an integer 1-65535, got 'x'"),
 * or RG_EIO/RG_EFORMAT for an unreadable or malformed config file; *c is then
 * left freed. --help is not handled here: see rg_config_wants_help().
 */
int rg_config_load(struct rg_config *c, int argc, char **argv, char **environ_,
                   char err[RG_ERR_SIZE]);

/* True if argv contains -h or --help. */
bool rg_config_wants_help(int argc, char **argv);
/* Prints every option with its argument, default and help, one per line. */
void rg_config_print_help(FILE *out, const char *usage_line);

/* The database URL after defaults: c->db or "sqlite:<data_dir>/rustygpt.db".
 * Writes into buf; returns buf, or NULL if it does not fit. */
const char *rg_config_db_url(const struct rg_config *c, char *buf, size_t size);

#endif
