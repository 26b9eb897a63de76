/* What auth.c shares with auth_oauth.c. */
#ifndef RG_AUTH_INTERNAL_H
#define RG_AUTH_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "auth/auth.h"

struct rg_oauth_provider;

struct rg_auth {
    struct rg_auth_params p; /* strings borrowed from the caller (the config) */
    struct rg_db *db;
    uint8_t key[32]; /* HS256 secret (DATA_DIR/jwt-secret); also signs OAuth state cookies */
    struct rg_oauth_provider *github, *apple; /* NULL when not configured */
    char *apple_key_pem;                      /* the private key file's text */
    char *public_url;                         /* owned copy of p.public_url */
    pthread_mutex_t mu;                       /* guards public_url */
};

/* Builds the provider configurations (reads the Apple key file). */
int rg_auth_oauth_init(struct rg_auth *a, char *err);
void rg_auth_oauth_fini(struct rg_auth *a);

#endif
