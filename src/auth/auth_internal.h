/* What auth.c shares with auth_oauth.c. */
#ifndef RG_AUTH_INTERNAL_H
#define RG_AUTH_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "auth/auth.h"

struct rg_oauth_provider;

/* One checked (user, session family): what rg_db_token_state said, when. */
struct rg_auth_state_entry {
    int64_t user_id;
    char family[40];
    struct rg_db_token_state st;
    int64_t at;   /* monotonic seconds */
    uint64_t gen; /* rg_auth.gen when fetched: older entries are stale */
};
#define RG_AUTH_STATE_SLOTS 1024

/* Sign-up attempts of one client address in the current hour. */
struct rg_auth_signup_slot {
    char addr[64];
    int64_t start; /* wall seconds the hour began */
    int count;
};
#define RG_AUTH_SIGNUP_SLOTS 1024

struct rg_auth {
    struct rg_auth_params p; /* strings borrowed from the caller (the config) */
    struct rg_db *db;
    uint8_t key[32]; /* HS256 secret (DATA_DIR/jwt-secret); also signs OAuth state cookies */
    struct rg_oauth_provider *github, *apple; /* NULL when not configured */
    char *apple_key_pem;                      /* the private key file's text */
    char *public_url;                         /* owned copy of p.public_url */
    pthread_mutex_t mu;                       /* guards public_url, signups */
    struct rg_auth_signup_slot signups[RG_AUTH_SIGNUP_SLOTS];
    pthread_mutex_t state_mu; /* guards states and gen */
    struct rg_auth_state_entry states[RG_AUTH_STATE_SLOTS];
    uint64_t gen; /* bumped by every account or session change made here */
};

/* Builds the provider configurations (reads the Apple key file). */
int rg_auth_oauth_init(struct rg_auth *a, char *err);
void rg_auth_oauth_fini(struct rg_auth *a);

#endif
