/*
 * Provider sign-in for the accounts service: configuration, the signed state
 * cookie that carries one sign-in's secrets between start and callback, and
 * the account it resolves to (rg_db_identity_link).
 *
 * The cookie is base64url(JSON {p, s, v, n, u, e}) "." base64url(HMAC-SHA256
 * with the server secret): provider, state, PKCE verifier, nonce, the user
 * to link (0: sign in) and an expiry ten minutes out. Signed rather than
 * stored, so any node behind a load balancer can finish what another began.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth/auth_internal.h"
#include "auth/oauth.h"
#include "auth/token.h"
#include "common/alloc.h"
#include "common/str.h"

#define STATE_TTL 600

struct provider_box {
    struct rg_oauth_provider p;
    char user_url[1024], emails_url[1024];
};

static struct rg_oauth_provider *make_github(const struct rg_auth_provider_conf *c, char *err)
{
    if (!c->client_secret || !c->authorize_url || !c->token_url || !c->api_url) {
        rg_err_set(err, RG_EINVAL,
                   "GitHub sign-in needs --github-client-secret, --github-authorize-url, "
                   "--github-token-url and --github-api-url too (docs/auth.md)");
        return NULL;
    }
    struct provider_box *b = rg_calloc(1, sizeof *b);
    if (!b) return NULL;
    size_t n = strlen(c->api_url);
    while (n && c->api_url[n - 1] == '/')
        n--;
    snprintf(b->user_url, sizeof b->user_url, "%.*s/user", (int)n, c->api_url);
    snprintf(b->emails_url, sizeof b->emails_url, "%.*s/user/emails", (int)n, c->api_url);
    b->p = (struct rg_oauth_provider){.kind = RG_OAUTH_GITHUB,
                                      .name = "github",
                                      .client_id = c->client_id,
                                      .client_secret = c->client_secret,
                                      .authorize_url = c->authorize_url,
                                      .token_url = c->token_url,
                                      .user_url = b->user_url,
                                      .emails_url = b->emails_url};
    return &b->p;
}

static struct rg_oauth_provider *make_apple(struct rg_auth *a,
                                            const struct rg_auth_provider_conf *c, char *err)
{
    if (!c->team_id || !c->key_id || !c->private_key_file || !c->authorize_url || !c->token_url ||
        !c->keys_url || !c->issuer) {
        rg_err_set(err, RG_EINVAL,
                   "Sign in with Apple needs --apple-team-id, --apple-key-id, "
                   "--apple-private-key, --apple-authorize-url, --apple-token-url, "
                   "--apple-keys-url and --apple-issuer too (docs/auth.md)");
        return NULL;
    }
    FILE *f = fopen(c->private_key_file, "r");
    if (!f) {
        rg_err_set(err, RG_EIO, "--apple-private-key %s: cannot read it", c->private_key_file);
        return NULL;
    }
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
        EVP_PKEY_free(key);
        rg_err_set(err, RG_EFORMAT, "--apple-private-key %s: not an EC (ES256) private key in PEM",
                   c->private_key_file);
        return NULL;
    }
    struct provider_box *b = rg_calloc(1, sizeof *b);
    if (!b) {
        EVP_PKEY_free(key);
        return NULL;
    }
    (void)a;
    b->p = (struct rg_oauth_provider){.kind = RG_OAUTH_APPLE,
                                      .name = "apple",
                                      .client_id = c->client_id,
                                      .authorize_url = c->authorize_url,
                                      .token_url = c->token_url,
                                      .keys_url = c->keys_url,
                                      .issuer = c->issuer,
                                      .team_id = c->team_id,
                                      .key_id = c->key_id,
                                      .apple_key = key};
    return &b->p;
}

int rg_auth_oauth_init(struct rg_auth *a, char *err)
{
    if (a->p.github.client_id) {
        a->github = make_github(&a->p.github, err);
        if (!a->github) return RG_EINVAL;
    }
    if (a->p.apple.client_id) {
        a->apple = make_apple(a, &a->p.apple, err);
        if (!a->apple) return RG_EINVAL;
    }
    return RG_OK;
}

void rg_auth_oauth_fini(struct rg_auth *a)
{
    if (a->apple) EVP_PKEY_free(a->apple->apple_key);
    rg_free(a->github); /* the provider is the first member of its box */
    rg_free(a->apple);
    a->github = a->apple = NULL;
}

static struct rg_oauth_provider *find(const struct rg_auth *a, const char *name)
{
    if (name && !strcmp(name, "github")) return a->github;
    if (name && !strcmp(name, "apple")) return a->apple;
    return NULL;
}

bool rg_auth_provider_enabled(const struct rg_auth *a, const char *provider)
{
    return find(a, provider) != NULL;
}

static void redirect_uri(struct rg_auth *a, const char *provider, char *out, size_t size)
{
    pthread_mutex_lock(&a->mu);
    snprintf(out, size, "%s/auth/oauth/%s/callback", a->public_url ? a->public_url : "", provider);
    pthread_mutex_unlock(&a->mu);
}

static void mac_b64(const struct rg_auth *a, const char *data, size_t n, char out[48])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned ml = 0;
    HMAC(EVP_sha256(), a->key, sizeof a->key, (const unsigned char *)data, n, mac, &ml);
    rg_b64url_encode(mac, ml, out);
}

int rg_auth_oauth_start(struct rg_auth *a, const char *provider, int64_t link_user, char **url,
                        char **cookie, char *err)
{
    *url = *cookie = NULL;
    struct rg_oauth_provider *p = find(a, provider);
    if (!p) return rg_err_set(err, RG_ENOTFOUND, "provider not configured");
    struct rg_oauth_start st;
    if (rg_oauth_start_new(&st) != RG_OK) return rg_err_set(err, RG_EINTERNAL, "no random bytes");
    char ruri[1200];
    redirect_uri(a, provider, ruri, sizeof ruri);
    int rc = rg_oauth_authorize_url(p, ruri, &st, url, err);
    if (rc) return rc;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "p", provider, "s", st.state, "v",
                          st.verifier, "n", st.nonce, "u", (json_int_t)link_user, "e",
                          (json_int_t)(time(NULL) + STATE_TTL));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    size_t tl = text ? strlen(text) : 0;
    char *c = text ? rg_malloc(tl * 4 / 3 + 4 + 48) : NULL;
    if (!c) {
        free(text);
        rg_free(*url);
        *url = NULL;
        return rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    size_t n = rg_b64url_encode((const uint8_t *)text, tl, c);
    OPENSSL_cleanse(text, tl);
    free(text);
    char mac[48];
    mac_b64(a, c, n, mac);
    c[n++] = '.';
    strcpy(c + n, mac);
    OPENSSL_cleanse(&st, sizeof st);
    *cookie = c;
    return RG_OK;
}

/* Checks the cookie's MAC, expiry and provider, and that state matches. */
static int open_cookie(struct rg_auth *a, const char *provider, const char *cookie,
                       const char *state, struct rg_oauth_start *st, int64_t *link_user, char *err)
{
    const char *dot = cookie ? strrchr(cookie, '.') : NULL;
    if (!dot || strlen(cookie) > 2048)
        return rg_err_set(err, RG_EAUTH, "sign-in state cookie missing: start again");
    char mac[48];
    mac_b64(a, cookie, (size_t)(dot - cookie), mac);
    if (!rg_token_equal(mac, dot + 1))
        return rg_err_set(err, RG_EAUTH, "sign-in state cookie forged");
    uint8_t buf[2048];
    long n = rg_b64url_decode(cookie, (size_t)(dot - cookie), buf, sizeof buf);
    json_t *o = n > 0 ? json_loadb((const char *)buf, (size_t)n, 0, NULL) : NULL;
    const char *p = json_string_value(json_object_get(o, "p"));
    const char *s = json_string_value(json_object_get(o, "s"));
    const char *v = json_string_value(json_object_get(o, "v"));
    const char *nn = json_string_value(json_object_get(o, "n"));
    int64_t exp = (int64_t)json_integer_value(json_object_get(o, "e"));
    int rc = RG_OK;
    if (!p || !s || !v || !nn || strlen(s) >= sizeof st->state ||
        strlen(v) >= sizeof st->verifier || strlen(nn) >= sizeof st->nonce)
        rc = rg_err_set(err, RG_EAUTH, "sign-in state cookie malformed");
    else if (strcmp(p, provider) != 0)
        rc = rg_err_set(err, RG_EAUTH, "sign-in state belongs to another provider");
    else if (exp < (int64_t)time(NULL))
        rc = rg_err_set(err, RG_EAUTH, "sign-in took too long: start again");
    else if (!rg_token_equal(s, state))
        rc = rg_err_set(err, RG_EAUTH, "state does not match: start again");
    if (!rc) {
        rg_strlcpy(st->state, s, sizeof st->state);
        rg_strlcpy(st->verifier, v, sizeof st->verifier);
        rg_strlcpy(st->nonce, nn, sizeof st->nonce);
        *link_user = (int64_t)json_integer_value(json_object_get(o, "u"));
    }
    json_decref(o);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

int rg_auth_oauth_finish(struct rg_auth *a, const char *provider, const char *code,
                         const char *state, const char *cookie, const char *user_agent,
                         struct rg_auth_tokens *out, bool *pending, char *err)
{
    memset(out, 0, sizeof *out);
    *pending = false;
    struct rg_oauth_provider *p = find(a, provider);
    if (!p) return rg_err_set(err, RG_ENOTFOUND, "provider not configured");
    struct rg_oauth_start st;
    int64_t link_user = 0;
    int rc = open_cookie(a, provider, cookie, state, &st, &link_user, err);
    if (rc) return rc;
    char ruri[1200];
    redirect_uri(a, provider, ruri, sizeof ruri);
    struct rg_oauth_identity id;
    int64_t now = (int64_t)time(NULL);
    rc = rg_oauth_finish(p, ruri, code, &st, now, &id, err);
    OPENSSL_cleanse(&st, sizeof st);
    if (rc) return rc;
    int64_t users = 0;
    rc = rg_db_user_count(a->db, &users, err);
    if (rc) return rc;
    struct rg_db_identity_in in = {
        .provider = provider,
        .subject = id.subject,
        .email = id.email_verified && id.email[0] ? id.email : NULL,
        .name = id.name,
        .signed_in_user = link_user,
        .pending = a->p.signup == RG_SIGNUP_APPROVAL,
        /* as rg_auth_register: without first_signup_open, a closed or
         * approval server's first admin never comes from outside; under
         * closed sign-up only the first account may (decided in the
         * database's transaction, users is only a hint) */
        .allow_create =
            a->p.signup == RG_SIGNUP_OPEN ||
            (a->p.first_signup_open && (users == 0 || a->p.signup != RG_SIGNUP_CLOSED)) ||
            (!a->p.first_signup_open && users > 0 && a->p.signup != RG_SIGNUP_CLOSED),
        .first_only = a->p.signup == RG_SIGNUP_CLOSED,
        .now = now,
    };
    struct rg_db_user u;
    bool created = false;
    rc = rg_db_identity_link(a->db, &in, &u, &created, err);
    if (rc == RG_ENOTFOUND && !link_user)
        return rg_err_set(err, RG_EPERM, "sign-up is closed: ask an admin for an account");
    if (rc) return rc;
    OPENSSL_cleanse(u.pw_hash, sizeof u.pw_hash);
    if (u.disabled) return rg_err_set(err, RG_EPERM, "this account is disabled");
    if (u.pending) {
        *pending = true;
        out->user = u;
        return RG_OK;
    }
    return rg_auth_issue(a, &u, user_agent, out, err);
}
