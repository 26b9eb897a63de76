/*
 * Accounts: sign-up, sign-in, sessions, API keys and provider sign-in, over
 * src/db and the primitives beside this file (password.h: argon2id,
 * jwt.h: HS256 access tokens, token.h: random tokens, hashes, CSRF,
 * oauth.h: GitHub and Apple).
 *
 * Tokens:
 *   access   a JWT (HS256, --access-ttl, default 15 min) sent as
 *            "Authorization: Bearer", naming its user and its session
 *            family ("sid"). Every check reads the user's current role and
 *            state and whether the session is still signed in
 *            (rg_db_token_state), cached for RG_AUTH_STATE_TTL seconds and
 *            dropped at once when this process changes an account or ends
 *            a session: a demoted, disabled or signed-out token stops
 *            working on its next request (on other nodes sharing the
 *            database, within RG_AUTH_STATE_TTL);
 *   refresh  32 random bytes, base64url; kept by the browser in an HttpOnly
 *            cookie, stored as its SHA-256; rotated on every use, and reuse
 *            of a rotated one revokes the whole family (src/db);
 *   API key  "rg_" + 8 hex (the prefix, shown in lists) + "_" + 32 random
 *            bytes base64url; shown once, stored as its SHA-256.
 *
 * Sign-in failures are counted in the database (so several nodes share the
 * count) per (address, account) pair: after RG_AUTH_FREE_FAILS failures of
 * one pair within RG_AUTH_FAIL_WINDOW seconds, that pair must wait
 * RG_AUTH_BACKOFF_BASE seconds after its last failure, doubling with each
 * further failure up to RG_AUTH_BACKOFF_MAX (attempts made while waiting
 * count too). Failures from one address never slow the same account down
 * from another address, so a guesser cannot lock its victim out. An address
 * with RG_AUTH_MAX_FAIL_ADDR failures on any accounts within the window is
 * refused too. Refusals are RG_EBUSY with *retry_after, before the password
 * is checked. Unknown emails are counted like known ones and cost the same
 * argon2 verification, so neither the replies nor their timing say whether
 * an account exists.
 *
 * Sign-up never says whether an email is taken: a valid request is
 * "accepted" whether it created an account or not (the caller then signs
 * in), and each client address may try --signup-rate times per hour.
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

#define RG_AUTH_FREE_FAILS 5     /* failures of one (address, account) before the back-off */
#define RG_AUTH_BACKOFF_BASE 5   /* seconds of the first wait */
#define RG_AUTH_BACKOFF_MAX 900  /* the longest wait */
#define RG_AUTH_MAX_FAIL_ADDR 30 /* failures from one address on any accounts */
#define RG_AUTH_FAIL_WINDOW 3600 /* seconds failures are remembered */
#define RG_AUTH_STATE_TTL 2      /* seconds an access token's checked state is reused */
#define RG_AUTH_SIGNUP_WINDOW 3600

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
    /* false: under closed or approval sign-up even the first account cannot
     * sign itself up unless the caller is trusted (holds a server --api-key);
     * the first admin then comes from `rustygpt user add`. true (default):
     * the first account of an empty database may always sign up, as admin. */
    bool first_signup_open;
    int signup_rate;        /* sign-up attempts per address per hour; 0 = no limit; default 20 */
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
    char family[40];    /* an access token's session family ("" for API keys) */
};

/*
 * Sign-up. RG_OK means "accepted": the account was created, or the email was
 * taken already and nothing changed; the two are indistinguishable by
 * design (same result, same argon2 work), and the caller signs in next
 * (under --signup approval, sign-in works once an admin approved; the first
 * account of a database is the admin and never pending). The policy and the
 * first-admin rule are decided in one database transaction. addr is the
 * client address for the rate limit; trusted says the caller holds a server
 * --api-key (see first_signup_open). RG_EPERM when sign-up is closed,
 * RG_EINVAL for a password or email that breaks the rules (err says which),
 * RG_EBUSY with *retry_after seconds when addr made --signup-rate attempts
 * within the hour.
 */
int rg_auth_register(struct rg_auth *a, const char *email, const char *password, const char *name,
                     const char *addr, bool trusted, int *retry_after, char *err);
/*
 * Sign-in with email and password. RG_EAUTH "invalid email or password" for
 * both an unknown email and a wrong password; RG_EBUSY when rate limited
 * (*retry_after seconds); RG_EPERM for a disabled account or one waiting for
 * approval (only once the password was right).
 */
int rg_auth_login(struct rg_auth *a, const char *email, const char *password, const char *addr,
                  const char *user_agent, struct rg_auth_tokens *out, int *retry_after, char *err);
/* Seconds a pair with `failures` counted failures, the last at
 * last_failure, must still wait at now (0: it may try). Exposed for tests. */
int rg_auth_backoff(int failures, int64_t last_failure, int64_t now);
/* Rotates a refresh token: new access and refresh tokens. RG_EAUTH. */
int rg_auth_refresh(struct rg_auth *a, const char *refresh, const char *user_agent,
                    struct rg_auth_tokens *out, char *err);
/* Revokes the sign-in that refresh belongs to, and with it the access tokens
 * issued to it. RG_ENOTFOUND if unknown. */
int rg_auth_logout(struct rg_auth *a, const char *refresh, char *err);
/* rg_db_user_update, and the account's live access tokens follow it at once
 * (a new role, disabled). RG_ESTATE when it would leave no enabled admin.
 * *out keeps its password hash (callers show only whether there is one). */
int rg_auth_user_update(struct rg_auth *a, int64_t id, const struct rg_db_user_change *c,
                        struct rg_db_user *out, char *err);

/* An access token or an API key ("rg_..."): who with the account's current
 * role. RG_EAUTH with the reason (also for a disabled or pending account and
 * a signed-out session). */
int rg_auth_check_bearer(struct rg_auth *a, const char *bearer, struct rg_auth_who *who, char *err);

/* A new API key for user_id; *key (rg_free) is the only copy of the secret. */
int rg_auth_apikey_create(struct rg_auth *a, int64_t user_id, const char *name, char **key,
                          struct rg_db_apikey *row, char *err);

/* Signs out one device of user_id (family), or with except every device
 * but that one (family NULL); tokens of those sessions stop working at
 * once on this node. *n (may be NULL): how many. RG_ENOTFOUND. */
int rg_auth_sessions_revoke(struct rg_auth *a, int64_t user_id, const char *family,
                            const char *except, int64_t *n, char *err);

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
