/*
 * Provider sign-in (GitHub, Apple). Not built yet: every provider reports
 * itself as not configured, so the routes answer 404 "not configured".
 */
#include "auth/auth_internal.h"

int rg_auth_oauth_init(struct rg_auth *a, char *err)
{
    (void)err;
    a->github = NULL;
    a->apple = NULL;
    return RG_OK;
}

void rg_auth_oauth_fini(struct rg_auth *a)
{
    (void)a;
}

bool rg_auth_provider_enabled(const struct rg_auth *a, const char *provider)
{
    (void)provider;
    return a->github != NULL || a->apple != NULL;
}

int rg_auth_oauth_start(struct rg_auth *a, const char *provider, int64_t link_user, char **url,
                        char **cookie, char *err)
{
    (void)a, (void)provider, (void)link_user;
    *url = *cookie = NULL;
    return rg_err_set(err, RG_EUNSUPPORTED, "provider sign-in is not built yet");
}

int rg_auth_oauth_finish(struct rg_auth *a, const char *provider, const char *code,
                         const char *state, const char *cookie, const char *user_agent,
                         struct rg_auth_tokens *out, bool *pending, char *err)
{
    (void)a, (void)provider, (void)code, (void)state, (void)cookie, (void)user_agent;
    (void)out;
    *pending = false;
    return rg_err_set(err, RG_EUNSUPPORTED, "provider sign-in is not built yet");
}
