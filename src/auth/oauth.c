/* GitHub and Apple sign-in, the provider side (see oauth.h). */
#include "auth/oauth.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include "auth/token.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/str.h"
#include "net/net.h"

#define MAX_REPLY (1u << 20)

int rg_oauth_start_new(struct rg_oauth_start *st)
{
    if (rg_token_random(st->state, sizeof st->state, 32) != RG_OK ||
        rg_token_random(st->verifier, sizeof st->verifier, 32) != RG_OK ||
        rg_token_random(st->nonce, sizeof st->nonce, 32) != RG_OK)
        return RG_EINTERNAL;
    return RG_OK;
}

/* ---- outbound HTTP -------------------------------------------------------------- */

struct reply {
    struct rg_buf body;
    bool too_big;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t len = size * n;
    if (r->body.len + len > MAX_REPLY) {
        r->too_big = true;
        return 0;
    }
    return rg_buf_append(&r->body, p, len) == RG_OK ? len : 0;
}

/* GET (form NULL) or POST form to url; *status and the body as JSON. */
static int http_json(const char *url, const char *form, const char *bearer, long *status,
                     json_t **out, char *err)
{
    *out = NULL;
    CURL *c = rg_net_curl(err);
    if (!c) return RG_ENOMEM;
    int rc = rg_net_curl_url(c, url, "sign-in with GitHub or Apple", err);
    if (rc) {
        curl_easy_cleanup(c);
        return rc;
    }
    struct reply r = {0};
    rg_buf_init(&r.body, MAX_REPLY + 1);
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    char auth[2200];
    if (bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        h = curl_slist_append(h, auth);
    }
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    if (form) curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    CURLcode res = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (r.too_big) {
        rc = rg_err_set(err, RG_EFORMAT, "%s: reply larger than 1 MiB", url);
    } else if (res != CURLE_OK && rg_net_offline()) { /* switched off mid-way */
        rc = rg_err_set(err, RG_EPERM, RG_NET_OFFLINE_MSG ": sign-in stopped");
    } else if (res != CURLE_OK) {
        rc = rg_err_set(err, RG_EIO, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(res));
    } else {
        *out = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
        if (!*out)
            rc = rg_err_set(err, RG_EFORMAT, "%s: the reply is not JSON (HTTP %ld)", url, *status);
    }
    rg_buf_free(&r.body);
    return rc;
}

/* ---- the authorization request --------------------------------------------------- */

static void challenge(const char *verifier, char out[48])
{
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)verifier, strlen(verifier), d);
    rg_b64url_encode(d, sizeof d, out);
}

/* Appends "&key=escaped(value)" (or "?key=..." first). */
static int add_param(struct rg_buf *b, CURL *c, const char *key, const char *value)
{
    char *e = curl_easy_escape(c, value, 0);
    if (!e) return RG_ENOMEM;
    int rc = rg_buf_printf(b, "%s%s=%s", strchr(b->data, '?') ? "&" : "?", key, e);
    curl_free(e);
    return rc;
}

int rg_oauth_authorize_url(const struct rg_oauth_provider *p, const char *redirect_uri,
                           const struct rg_oauth_start *st, char **url, char *err)
{
    *url = NULL;
    CURL *c = rg_net_curl(err); /* for escaping only */
    if (!c) return RG_ENOMEM;
    struct rg_buf b;
    rg_buf_init(&b, 16384);
    char ch[48];
    challenge(st->verifier, ch);
    bool apple = p->kind == RG_OAUTH_APPLE;
    int rc = rg_buf_append_str(&b, p->authorize_url);
    if (!rc) rc = add_param(&b, c, "response_type", "code");
    if (!rc) rc = add_param(&b, c, "client_id", p->client_id);
    if (!rc) rc = add_param(&b, c, "redirect_uri", redirect_uri);
    if (!rc) rc = add_param(&b, c, "scope", apple ? "name email" : "read:user user:email");
    if (!rc) rc = add_param(&b, c, "state", st->state);
    if (!rc) rc = add_param(&b, c, "code_challenge", ch);
    if (!rc) rc = add_param(&b, c, "code_challenge_method", "S256");
    if (!rc && apple) rc = add_param(&b, c, "nonce", st->nonce);
    if (!rc && apple) rc = add_param(&b, c, "response_mode", "form_post");
    curl_easy_cleanup(c);
    if (rc) {
        rg_buf_free(&b);
        return rg_err_set(err, rc, "authorize URL too long");
    }
    *url = rg_buf_steal(&b);
    return RG_OK;
}

/* ---- Apple: the client secret and the id_token ----------------------------------------- */

int rg_oauth_apple_client_secret(const struct rg_oauth_provider *p, int64_t now, char **out,
                                 char *err)
{
    *out = NULL;
    json_t *h = json_pack("{s:s, s:s}", "alg", "ES256", "kid", p->key_id);
    json_t *c = json_pack("{s:s, s:I, s:I, s:s, s:s}", "iss", p->team_id, "iat", (json_int_t)now,
                          "exp", (json_int_t)(now + 300), "aud", p->issuer, "sub", p->client_id);
    char *hs = h ? json_dumps(h, JSON_COMPACT) : NULL, *cs = c ? json_dumps(c, JSON_COMPACT) : NULL;
    json_decref(h);
    json_decref(c);
    char *tok = NULL;
    int rc = RG_OK;
    if (!hs || !cs || !(tok = rg_malloc(strlen(hs) * 2 + strlen(cs) * 2 + 200))) {
        rc = rg_err_set(err, RG_ENOMEM, "out of memory");
        goto out;
    }
    size_t n = rg_b64url_encode((const uint8_t *)hs, strlen(hs), tok);
    tok[n++] = '.';
    n += rg_b64url_encode((const uint8_t *)cs, strlen(cs), tok + n);
    /* ECDSA P-256 over SHA-256; JOSE wants r||s, 32 bytes each, not DER */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[128];
    size_t dl = sizeof der;
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, p->apple_key) != 1 ||
        EVP_DigestSign(md, der, &dl, (const unsigned char *)tok, n) != 1) {
        EVP_MD_CTX_free(md);
        rc = rg_err_set(err, RG_EINTERNAL, "cannot sign Apple's client secret (is the key ES256?)");
        goto out;
    }
    EVP_MD_CTX_free(md);
    const unsigned char *q = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &q, (long)dl);
    unsigned char raw[64];
    if (!sig || BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) != 32) {
        ECDSA_SIG_free(sig);
        rc = rg_err_set(err, RG_EINTERNAL, "bad ECDSA signature");
        goto out;
    }
    ECDSA_SIG_free(sig);
    tok[n++] = '.';
    rg_b64url_encode(raw, sizeof raw, tok + n);
    *out = tok;
    tok = NULL;
out:
    free(hs);
    free(cs);
    rg_free(tok);
    return rc;
}

/* Decodes one base64url JWT part into a JSON object. */
static json_t *part_json(const char *s, size_t len)
{
    uint8_t buf[8192];
    long n = rg_b64url_decode(s, len, buf, sizeof buf);
    if (n <= 0) return NULL;
    json_t *o = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* An RSA public key from a JWK's n and e. */
static EVP_PKEY *rsa_from_jwk(json_t *k)
{
    const char *n = json_string_value(json_object_get(k, "n"));
    const char *e = json_string_value(json_object_get(k, "e"));
    if (!n || !e || strlen(n) > 1400 || strlen(e) > 16) return NULL;
    uint8_t nb[1100], eb[16];
    long nl = rg_b64url_decode(n, strlen(n), nb, sizeof nb);
    long el = rg_b64url_decode(e, strlen(e), eb, sizeof eb);
    if (nl < 128 || el <= 0) return NULL; /* at least 1024-bit */
    BIGNUM *bn = BN_bin2bn(nb, (int)nl, NULL), *be = BN_bin2bn(eb, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) &&
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) && EVP_PKEY_fromdata_init(ctx) == 1)
        if (EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) key = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return key;
}

int rg_oauth_verify_id_token(const char *jwks, const char *token, const char *iss, const char *aud,
                             const char *nonce, int64_t now, struct rg_oauth_identity *out,
                             char *err)
{
    memset(out, 0, sizeof *out);
    size_t len = token ? strlen(token) : 0;
    const char *d1 = len && len < 8192 ? strchr(token, '.') : NULL;
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2 || strchr(d2 + 1, '.')) return rg_err_set(err, RG_EAUTH, "id_token: malformed");
    json_t *h = part_json(token, (size_t)(d1 - token));
    const char *alg = h ? json_string_value(json_object_get(h, "alg")) : NULL;
    const char *kid = h ? json_string_value(json_object_get(h, "kid")) : NULL;
    if (!alg || strcmp(alg, "RS256") != 0) {
        json_decref(h);
        return rg_err_set(err, RG_EAUTH, "id_token: algorithm not allowed (only RS256)");
    }
    /* the key */
    json_t *doc = json_loads(jwks ? jwks : "", 0, NULL), *keys = json_object_get(doc, "keys");
    EVP_PKEY *pk = NULL;
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        const char *kk = json_string_value(json_object_get(k, "kid"));
        const char *kty = json_string_value(json_object_get(k, "kty"));
        if (kk && kid && !strcmp(kk, kid) && kty && !strcmp(kty, "RSA")) {
            pk = rsa_from_jwk(k);
            break;
        }
    }
    json_decref(doc);
    json_decref(h);
    if (!pk)
        return rg_err_set(err, RG_EAUTH, "id_token: no key with its kid in the provider's keys");
    uint8_t sig[1024];
    long sl = rg_b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = sl > 0 && md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1 &&
              EVP_DigestVerify(md, sig, (size_t)sl, (const unsigned char *)token,
                               (size_t)(d2 - token)) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    if (!ok) return rg_err_set(err, RG_EAUTH, "id_token: bad signature");
    json_t *c = part_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!c) return rg_err_set(err, RG_EAUTH, "id_token: malformed claims");
    int rc = RG_OK;
    const char *ci = json_string_value(json_object_get(c, "iss"));
    json_t *ca = json_object_get(c, "aud");
    bool aud_ok = json_is_string(ca) && !strcmp(json_string_value(ca), aud);
    json_t *a;
    json_array_foreach(ca, i, a) aud_ok =
        aud_ok || (json_is_string(a) && !strcmp(json_string_value(a), aud));
    json_t *exp = json_object_get(c, "exp");
    const char *cn = json_string_value(json_object_get(c, "nonce"));
    const char *sub = json_string_value(json_object_get(c, "sub"));
    if (!ci || strcmp(ci, iss) != 0)
        rc = rg_err_set(err, RG_EAUTH, "id_token: wrong issuer");
    else if (!aud_ok)
        rc = rg_err_set(err, RG_EAUTH, "id_token: wrong audience");
    else if (!json_is_integer(exp) || json_integer_value(exp) + 60 < now)
        rc = rg_err_set(err, RG_EAUTH, "id_token: expired");
    else if (!cn || !nonce || !rg_token_equal(cn, nonce))
        rc = rg_err_set(err, RG_EAUTH, "id_token: wrong nonce");
    else if (!sub || !*sub || strlen(sub) >= sizeof out->subject)
        rc = rg_err_set(err, RG_EAUTH, "id_token: no subject");
    if (!rc) {
        rg_strlcpy(out->subject, sub, sizeof out->subject);
        const char *em = json_string_value(json_object_get(c, "email"));
        if (em && strlen(em) < sizeof out->email) rg_strlcpy(out->email, em, sizeof out->email);
        json_t *ev = json_object_get(c, "email_verified");
        out->email_verified =
            json_is_true(ev) || (json_is_string(ev) && !strcmp(json_string_value(ev), "true"));
    }
    json_decref(c);
    return rc;
}

/* ---- the exchange ---------------------------------------------------------------------- */

static int form_add(struct rg_buf *b, CURL *c, const char *key, const char *value)
{
    char *e = curl_easy_escape(c, value ? value : "", 0);
    if (!e) return RG_ENOMEM;
    int rc = rg_buf_printf(b, "%s%s=%s", b->len ? "&" : "", key, e);
    curl_free(e);
    return rc;
}

static int github_user(const struct rg_oauth_provider *p, const char *token,
                       struct rg_oauth_identity *out, char *err)
{
    long status = 0;
    json_t *u = NULL, *emails = NULL;
    int rc = http_json(p->user_url, NULL, token, &status, &u, err);
    if (!rc && status != 200) rc = rg_err_set(err, RG_EAUTH, "GitHub user: HTTP %ld", status);
    json_t *id = json_object_get(u, "id");
    if (!rc && !json_is_integer(id)) rc = rg_err_set(err, RG_EFORMAT, "GitHub user: no id");
    if (!rc) {
        snprintf(out->subject, sizeof out->subject, "%lld", (long long)json_integer_value(id));
        const char *name = json_string_value(json_object_get(u, "name"));
        if (!name) name = json_string_value(json_object_get(u, "login"));
        if (name) rg_strlcpy(out->name, name, sizeof out->name);
        rc = http_json(p->emails_url, NULL, token, &status, &emails, err);
        if (!rc && status != 200) rc = rg_err_set(err, RG_EAUTH, "GitHub emails: HTTP %ld", status);
    }
    size_t i;
    json_t *e;
    json_array_foreach(emails, i, e)
    {
        const char *addr = json_string_value(json_object_get(e, "email"));
        if (addr && json_is_true(json_object_get(e, "primary")) &&
            json_is_true(json_object_get(e, "verified")) && strlen(addr) < sizeof out->email) {
            rg_strlcpy(out->email, addr, sizeof out->email);
            out->email_verified = true;
        }
    }
    json_decref(u);
    json_decref(emails);
    return rc;
}

int rg_oauth_finish(const struct rg_oauth_provider *p, const char *redirect_uri, const char *code,
                    const struct rg_oauth_start *st, int64_t now, struct rg_oauth_identity *out,
                    char *err)
{
    memset(out, 0, sizeof *out);
    if (!code || !*code || strlen(code) > 1000) return rg_err_set(err, RG_EAUTH, "bad code");
    CURL *c = rg_net_curl(err); /* for escaping only */
    if (!c) return RG_ENOMEM;
    char *secret = NULL;
    int rc = RG_OK;
    if (p->kind == RG_OAUTH_APPLE) rc = rg_oauth_apple_client_secret(p, now, &secret, err);
    struct rg_buf form;
    rg_buf_init(&form, 65536);
    if (!rc) rc = form_add(&form, c, "grant_type", "authorization_code");
    if (!rc) rc = form_add(&form, c, "code", code);
    if (!rc) rc = form_add(&form, c, "redirect_uri", redirect_uri);
    if (!rc) rc = form_add(&form, c, "client_id", p->client_id);
    if (!rc) rc = form_add(&form, c, "client_secret", secret ? secret : p->client_secret);
    if (!rc) rc = form_add(&form, c, "code_verifier", st->verifier);
    curl_easy_cleanup(c);
    rg_free(secret);
    json_t *tok = NULL;
    long status = 0;
    if (!rc) rc = http_json(p->token_url, form.data, NULL, &status, &tok, err);
    rg_buf_free(&form);
    const char *perr = json_string_value(json_object_get(tok, "error"));
    const char *access = json_string_value(json_object_get(tok, "access_token"));
    if (!rc && (perr || status != 200 || !access))
        rc = rg_err_set(err, RG_EAUTH, "%s refused the code: %.80s (HTTP %ld)", p->name,
                        perr ? perr : "no access_token", status);
    if (!rc && p->kind == RG_OAUTH_GITHUB) rc = github_user(p, access, out, err);
    if (!rc && p->kind == RG_OAUTH_APPLE) {
        const char *idt = json_string_value(json_object_get(tok, "id_token"));
        json_t *jwks = NULL;
        if (!idt) rc = rg_err_set(err, RG_EAUTH, "apple: no id_token in the answer");
        if (!rc) rc = http_json(p->keys_url, NULL, NULL, &status, &jwks, err);
        if (!rc && status != 200) rc = rg_err_set(err, RG_EIO, "apple keys: HTTP %ld", status);
        char *text = jwks ? json_dumps(jwks, JSON_COMPACT) : NULL;
        if (!rc)
            rc = rg_oauth_verify_id_token(text, idt, p->issuer, p->client_id, st->nonce, now, out,
                                          err);
        free(text);
        json_decref(jwks);
    }
    json_decref(tok);
    return rc;
}
