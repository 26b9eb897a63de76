/*
 * The provider side of "sign in with GitHub / Apple": the authorization
 * code flow with PKCE (S256), the token exchange, and what each provider
 * says about the user.
 *
 *   GitHub  client secret in the token request; then GET {api}/user and
 *           {api}/user/emails (the primary verified address).
 *   Apple   the client secret is an ES256 JWT signed with the team's key
 *           (iss team id, sub client id, aud the issuer, 5 minutes); the
 *           answer's id_token is an RS256 JWT checked against the keys at
 *           keys_url: signature, alg, iss, aud, exp, nonce.
 *
 * Every endpoint is configuration (nothing here names a provider's host),
 * so tests run these very paths against a local stand-in. Outbound HTTP is
 * libcurl with 10 s timeouts, http/https only, replies capped at 1 MiB.
 */
#ifndef RG_AUTH_OAUTH_H
#define RG_AUTH_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/err.h"

enum rg_oauth_kind { RG_OAUTH_GITHUB, RG_OAUTH_APPLE };

struct rg_oauth_provider {
    enum rg_oauth_kind kind;
    const char *name; /* "github", "apple" */
    const char *client_id, *client_secret;
    const char *authorize_url, *token_url;
    const char *user_url, *emails_url; /* GitHub */
    const char *keys_url, *issuer;     /* Apple */
    const char *team_id, *key_id;      /* Apple */
    EVP_PKEY *apple_key;               /* Apple: the ES256 private key */
};

/* One sign-in's secrets, kept by the browser in a signed cookie meanwhile. */
struct rg_oauth_start {
    char state[48];
    char verifier[48]; /* PKCE code verifier (43 characters) */
    char nonce[48];    /* Apple: echoed in the id_token */
};

struct rg_oauth_identity {
    char subject[128]; /* the provider's stable user id */
    char email[256];   /* "" if none */
    bool email_verified;
    char name[128];
};

/* Fresh random state, verifier and nonce. */
int rg_oauth_start_new(struct rg_oauth_start *st);
/* Where to send the browser: authorize_url?response_type=code&client_id=..
 * &redirect_uri=..&scope=..&state=..&code_challenge=..&code_challenge_method=S256
 * (+ nonce and response_mode=form_post for Apple). *url is rg_free'd. */
int rg_oauth_authorize_url(const struct rg_oauth_provider *p, const char *redirect_uri,
                           const struct rg_oauth_start *st, char **url, char *err);
/* Exchanges the code and learns who signed in. RG_EAUTH when the provider
 * refuses or its answer fails a check (err says which), RG_EIO when it
 * cannot be reached or answers with an unexpected status, RG_EFORMAT for a
 * malformed answer. */
int rg_oauth_finish(const struct rg_oauth_provider *p, const char *redirect_uri, const char *code,
                    const struct rg_oauth_start *st, int64_t now, struct rg_oauth_identity *out,
                    char *err);

/* Apple's client secret for now (*out rg_free'd). */
int rg_oauth_apple_client_secret(const struct rg_oauth_provider *p, int64_t now, char **out,
                                 char *err);
/* Checks an id_token against a JWKS document (exposed for tests). */
int rg_oauth_verify_id_token(const char *jwks, const char *token, const char *iss, const char *aud,
                             const char *nonce, int64_t now, struct rg_oauth_identity *out,
                             char *err);

#endif
