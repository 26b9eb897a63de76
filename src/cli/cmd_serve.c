/* `rustygpt serve`: the API server (options in common/config.c). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/cli.h"
#include "common/config.h"
#include "common/log.h"
#include "engine/catalog/catalog.h"

extern char **environ;

/* Creates dir if it is missing (not its parents) and checks that we can write
 * there. A one-line reason in err otherwise. */
static int ensure_dir(const char *flag, const char *dir, bool need_write, char *err)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || mkdir(dir, 0700) != 0)
            return rg_err_set(err, RG_EIO, "%s %s: cannot create it: %s", flag, dir,
                              strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        return rg_err_set(err, RG_EIO, "%s %s: not a directory", flag, dir);
    }
    if (access(dir, need_write ? (R_OK | W_OK | X_OK) : (R_OK | X_OK)) != 0)
        return rg_err_set(err, RG_EIO, "%s %s: %s", flag, dir, strerror(errno));
    return RG_OK;
}

int rg_cmd_serve(int argc, char **argv)
{
    if (rg_config_wants_help(argc - 1, argv + 1)) {
        rg_config_print_help(stdout,
                             "usage: rustygpt serve [options]\n\nServes the OpenAI-compatible API, "
                             "the web app and the system routes (/healthz, /status, /metrics, "
                             "/openapi.json, /docs).");
        return RG_EXIT_OK;
    }
    struct rg_config cfg;
    char err[RG_ERR_SIZE];
    if (rg_config_load(&cfg, argc - 1, argv + 1, environ, err) != RG_OK) {
        fprintf(stderr, "rustygpt serve: %s\n", err);
        return RG_EXIT_USAGE;
    }
    enum rg_log_level level = RG_LOG_INFO;
    rg_log_level_parse(cfg.log_level, &level);
    rg_log_set_level(level);
    rg_log_set_format(cfg.log_format);

    int rc = RG_EXIT_FAIL;
    struct rg_api *api = NULL;
    if (!rg_http_bind_is_loopback(cfg.host) && cfg.api_keys.n == 0 && !cfg.insecure_no_auth) {
        fprintf(stderr,
                "rustygpt serve: --host %s would let any machine that can reach it use the API: "
                "set --api-key KEY (or --insecure-no-auth if that is what you want)\n",
                cfg.host);
        rg_config_free(&cfg);
        return RG_EXIT_USAGE;
    }
    if (ensure_dir("--data-dir", cfg.data_dir, true, err) != RG_OK ||
        ensure_dir("--models-dir", cfg.models_dir, false, err) != RG_OK) {
        fprintf(stderr, "rustygpt serve: %s\n", err);
        goto out;
    }
    /* Signals are taken synchronously by this thread: block them before any
     * server thread starts, so every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    api = rg_api_new(&cfg, err);
    if (!api || rg_api_start(api, err) != RG_OK) {
        fprintf(stderr, "rustygpt serve: %s\n", err);
        goto out;
    }
    bool v6 = strchr(cfg.host, ':') != NULL;
    fprintf(stderr, "rustygpt %s: listening on http://%s%s%s:%d\n", RG_VERSION, v6 ? "[" : "",
            cfg.host, v6 ? "]" : "", rg_api_port(api));
    if (cfg.models.n == 0) { /* a first start: say how to get a model */
        struct rg_model_list l;
        char cerr[RG_ERR_SIZE];
        size_t usable = 0;
        if (rg_catalog_scan(cfg.models_dir, &l, cerr) == RG_OK) {
            for (size_t i = 0; i < l.n; i++)
                usable += !l.v[i].error;
            rg_catalog_free(&l);
        }
        if (!usable)
            fprintf(stderr,
                    "rustygpt: no models yet. Put .gguf files in %s, pass -m FILE.gguf, or "
                    "download one: rustygpt pull URL (see docs/pull.md)\n",
                    cfg.models_dir);
    }
    fflush(stderr);
    int sig = 0;
    sigwait(&sigs, &sig);
    rg_log(RG_LOG_INFO, "shutting down", "signal", 's', sig == SIGINT ? "SIGINT" : "SIGTERM",
           "grace_s", 'i', (long long)cfg.shutdown_grace, RG_LOG_END);
    rg_api_stop(api, cfg.shutdown_grace);
    api = NULL;
    rc = RG_EXIT_OK;
out:
    if (api) rg_api_stop(api, 0);
    rg_config_free(&cfg);
    return rc;
}
