/*
 * Accounts: sign-up, sign-in, sessions, API keys and provider sign-in, over
 * src/db and the primitives beside this file (password.h: argon2id,
 * jwt.h: HS256 access tokens, token.h: random tokens, hashes, CSRF,
 * oauth.h: GitHub and Apple).
 *
 * Tokens:
 *   access   a JWT (HS256, --access-ttl, default 15 min) sent as
 *            "Authorization: Bearer"; stateless, so a disabled account's
 *            access token lives on until it expires (at most the TTL);
 *   refresh  32 random bytes, base64url; kept by the browser in an HttpOnly
 *            cookie, stored as its SHA-256; rotated on every use, and reuse
 *            of a rotated one revokes the whole family (src/db);
 *   API key  "rg_" + 8 hex (the prefix, shown in lists) + "_" + 32 random
 *            bytes base64url; shown once, stored as its SHA-256.
 *
 * Sign-in failures are counted in the database (so several nodes share the
 * count): after RG_AUTH_MAX_FAIL_ACCOUNT failures on one email, or
 * RG_AUTH_MAX_FAIL_ADDR from one address, within RG_AUTH_FAIL_WINDOW seconds,
 * sign-in answers "too many attempts" (RG_EBUSY) without checking the
 * password. Unknown emails are counted like known ones and cost the same
 * argon2 verification, so neither the replies nor their timing say whether an
 * account exists.
 *
 * Thread-safe: every function may be called from any HTTP thread.
 */
#ifndef RG_AUTH_H
#define RG_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "db/db.h"

#define RG_AUTH_MAX_FAIL_ACCOUNT 5
#define RG_AUTH_MAX_FAIL_ADDR 20
#define RG_AUTH_FAIL_WINDOW 900

enum rg_auth_signup { RG_SIGNUP_OPEN, RG_SIGNUP_APPROVAL, RG_SIGNUP_CLOSED };

/* One OAuth provider's configuration (NULL client_id = the provider is off). */
struct rg_auth_provider_conf {
    const char *client_id, *client_secret;
    const char *authorize_url, *token_url, *api_url; /* GitHub */
    const char *team_id, *key_id, *private_key_file; /* Apple */
    const char *keys_url, *issuer;                   /* Apple */
};

struct rg_auth_params {
    struct rg_db *db;     /* required, migrated */
    const char *data_dir; /* the JWT secret lives in DATA_DIR/jwt-secret */
    int access_ttl;       /* seconds, default 900 */
    int refresh_ttl;      /* seconds, default 30 days */
    enum rg_auth_signup signup;
    const char *public_url; /* base for OAuth redirect URIs ("http://127.0.0.1:8080"; copied) */
    struct rg_auth_provider_conf github, apple;
};
void rg_auth_default_params(struct rg_auth_params *p);
/* "open", "approval", "closed" → *out; RG_EINVAL otherwise. */
int rg_auth_signup_parse(const char *s, enum rg_auth_signup *out);

struct rg_auth;
/* Loads (or creates, mode 0600) the JWT secret. NULL with err set. */
struct rg_auth *rg_auth_new(const struct rg_auth_params *p, char *err);
void rg_auth_free(struct rg_auth *a);

/* What a successful sign-in gives. */
struct rg_auth_tokens {
    char *access;   /* JWT, rg_free'd by rg_auth_tokens_clear */
    int expires_in; /* seconds */
    char refresh[64];
    int64_t refresh_expires; /* Unix seconds */
    struct rg_db_user user;
};
void rg_auth_tokens_clear(struct rg_auth_tokens *t);

/* Who a request is, from an access token or an API key. */
struct rg_auth_who {
    int64_t user_id;
    char role[16];
    int64_t api_key_id; /* 0 for access tokens */
};

/*
 * Sign-up. RG_OK with tokens (signed in), or RG_OK with *pending true and no
 * tokens (--signup approval: an admin must approve; the first account of a
 * database is always the admin, never pending). RG_EPERM when sign-up is
 * closed, RG_EINVAL for a password or email that breaks the rules (err says
 * which), RG_EEXISTS for a taken email.
 */
int rg_auth_register(struct rg_auth *a, const char *email, const char *password, const char *name,
                     const char *user_agent, struct rg_auth_tokens *out, bool *pending, char *err);
/*
 * Sign-in with email and password. RG_EAUTH "invalid email or password" for
 * both an unknown email and a wrong password; RG_EBUSY when rate limited
 * (*retry_after seconds); RG_EPERM for a disabled account or one waiting for
 * approval (only once the password was right).
 */
int rg_auth_login(struct rg_auth *a, const char *email, const char *password, const char *addr,
                  const char *user_agent, struct rg_auth_tokens *out, int *retry_after, char *err);
/* Rotates a refresh token: new access and refresh tokens. RG_EAUTH. */
int rg_auth_refresh(struct rg_auth *a, const char *refresh, const char *user_agent,
                    struct rg_auth_tokens *out, char *err);
/* Revokes the sign-in that refresh belongs to. RG_ENOTFOUND if unknown. */
int rg_auth_logout(struct rg_auth *a, const char *refresh, char *err);

/* An access token or an API key ("rg_..."). RG_EAUTH with the reason. */
int rg_auth_check_bearer(struct rg_auth *a, const char *bearer, struct rg_auth_who *who, char *err);

/* A new API key for user_id; *key (rg_free) is the only copy of the secret. */
int rg_auth_apikey_create(struct rg_auth *a, int64_t user_id, const char *name, char **key,
                          struct rg_db_apikey *row, char *err);

/* Makes the session for a user who signed in some other way (OAuth). */
int rg_auth_issue(struct rg_auth *a, const struct rg_db_user *u, const char *user_agent,
                  struct rg_auth_tokens *out, char *err);

/* Sets the base of OAuth redirect URIs (copied), e.g. once the port is known. */
int rg_auth_set_public_url(struct rg_auth *a, const char *url);
struct rg_db *rg_auth_db(struct rg_auth *a);
enum rg_auth_signup rg_auth_signup_policy(const struct rg_auth *a);

/* ---- provider sign-in ------------------------------------------------------- */

/* Is the provider ("github", "apple") configured? */
bool rg_auth_provider_enabled(const struct rg_auth *a, const char *provider);
/*
 * Starts a provider sign-in: *url (rg_free) is where to send the browser,
 * *cookie (rg_free) the value of the short-lived state cookie to set
 * (state, PKCE verifier, nonce and the signed-in user to link, signed with
 * the server's secret so any node can finish the flow).
 */
int rg_auth_oauth_start(struct rg_auth *a, const char *provider, int64_t link_user, char **url,
                        char **cookie, char *err);
/*
 * Finishes it: checks state against the cookie, exchanges the code, links or
 * creates the account (rg_db_identity_link) and signs in. RG_EAUTH for a bad
 * state or a provider answer that fails verification, RG_EEXISTS when the
 * email belongs to another account, RG_EPERM for a disabled or pending
 * account or closed sign-up.
 */
int rg_auth_oauth_finish(struct rg_auth *a, const char *provider, const char *code,
                         const char *state, const char *cookie, const char *user_agent,
                         struct rg_auth_tokens *out, bool *pending, char *err);

#endif
