/* The GitHub/Apple stand-in (see oauth_standin.h). Test code: small, strict
 * enough to fail the server when it gets the protocol wrong. */
#include "integration/oauth_standin.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define MAX_CODES 32

struct code {
    char code[40], challenge[64], nonce[96], redirect[512];
    bool used, apple;
};

struct rg_standin {
    struct MHD_Daemon *d;
    struct rg_standin_opts o;
    EVP_PKEY *rsa, *rsa_other, *apple_pub;
    pthread_mutex_t mu;
    struct code codes[MAX_CODES];
    int n_codes;
    char access[40];
    enum rg_standin_fault fault;
    int refusals;
};

struct body {
    char *data;
    size_t len;
};

/* ---- small helpers ---- */

static void b64url(const unsigned char *in, size_t n, char *out)
{
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = T[v >> 18 & 63], out[o++] = T[v >> 12 & 63], out[o++] = T[v >> 6 & 63],
        out[o++] = T[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = T[v >> 18 & 63], out[o++] = T[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = T[v >> 18 & 63], out[o++] = T[v >> 12 & 63], out[o++] = T[v >> 6 & 63];
    }
    out[o] = '\0';
}

static long unb64url(const char *in, size_t len, unsigned char *out, size_t cap)
{
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '-'             ? 62
                : c == '_'             ? 63
                                       : -1;
        if (v < 0) return -1;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap) return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

/* Value of key in a urlencoded string, decoded (or NULL). */
static const char *form_get(const char *form, const char *key, char *out, size_t size)
{
    size_t kl = strlen(key);
    for (const char *p = form; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, key, kl) || p[kl] != '=') continue;
        size_t o = 0;
        for (const char *q = p + kl + 1; *q && *q != '&' && o + 1 < size; q++) {
            if (*q == '%' && q[1] && q[2]) {
                char h[3] = {q[1], q[2], 0};
                out[o++] = (char)strtol(h, NULL, 16);
                q += 2;
            } else {
                out[o++] = *q == '+' ? ' ' : *q;
            }
        }
        out[o] = '\0';
        return out;
    }
    return NULL;
}

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *body,
                             const char *location)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (location) MHD_add_response_header(r, "Location", location);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* RS256 JWT of claims with key. */
static char *sign_rs256(EVP_PKEY *key, const char *claims)
{
    static char out[8192];
    char h[200], p[2048];
    const char *hdr = "{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"JWT\"}";
    b64url((const unsigned char *)hdr, strlen(hdr), h);
    b64url((const unsigned char *)claims, strlen(claims), p);
    int n = snprintf(out, sizeof out, "%s.%s", h, p);
    unsigned char sig[512];
    size_t sl = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key);
    EVP_DigestSign(md, sig, &sl, (unsigned char *)out, (size_t)n);
    EVP_MD_CTX_free(md);
    out[n++] = '.';
    b64url(sig, sl, out + n);
    return out;
}

static const char *sv(json_t *v)
{
    const char *s = json_string_value(v);
    return s ? s : "";
}

/* Checks Apple's client secret: ES256 JWT from the right team for the right client. */
static bool apple_secret_ok(struct rg_standin *s, const char *jwt)
{
    const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2) return false;
    unsigned char hb[512], pb[1024], sig[64];
    long hl = unb64url(jwt, (size_t)(d1 - jwt), hb, sizeof hb - 1);
    long pl = unb64url(d1 + 1, (size_t)(d2 - d1 - 1), pb, sizeof pb - 1);
    long sl = unb64url(d2 + 1, strlen(d2 + 1), sig, sizeof sig);
    if (hl <= 0 || pl <= 0 || sl != 64) return false;
    json_t *h = json_loadb((char *)hb, (size_t)hl, 0, NULL),
           *p = json_loadb((char *)pb, (size_t)pl, 0, NULL);
    bool ok = h && p && !strcmp(sv(json_object_get(h, "alg")), "ES256") &&
              !strcmp(sv(json_object_get(h, "kid")), s->o.apple_key_id) &&
              !strcmp(sv(json_object_get(p, "iss")), s->o.apple_team_id) &&
              !strcmp(sv(json_object_get(p, "sub")), s->o.apple_client_id) &&
              !strcmp(sv(json_object_get(p, "aud")), s->o.apple_issuer) &&
              json_integer_value(json_object_get(p, "exp")) > (json_int_t)time(NULL);
    json_decref(h);
    json_decref(p);
    if (!ok) return false;
    /* r||s back to DER for OpenSSL */
    ECDSA_SIG *es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
    unsigned char *der = NULL;
    int dl = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ok = dl > 0 && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, s->apple_pub) == 1 &&
         EVP_DigestVerify(md, der, (size_t)dl, (const unsigned char *)jwt, (size_t)(d2 - jwt)) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    return ok;
}

/* ---- handlers ---- */

static enum MHD_Result authorize(struct rg_standin *s, struct MHD_Connection *c, bool apple)
{
    const char *ruri = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "redirect_uri");
    const char *state = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "state");
    const char *ch = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "code_challenge");
    const char *m = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "code_challenge_method");
    const char *cid = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "client_id");
    const char *nonce = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "nonce");
    const char *want = apple ? s->o.apple_client_id : s->o.github_client_id;
    if (!ruri || !state || !ch || !m || strcmp(m, "S256") || !cid || strcmp(cid, want) ||
        (apple && !nonce))
        return reply(c, 400, "{\"error\":\"invalid_request\"}", NULL);
    pthread_mutex_lock(&s->mu);
    struct code *k = &s->codes[s->n_codes++ % MAX_CODES];
    memset(k, 0, sizeof *k);
    unsigned char r[12];
    RAND_bytes(r, sizeof r);
    b64url(r, sizeof r, k->code);
    snprintf(k->challenge, sizeof k->challenge, "%s", ch);
    snprintf(k->nonce, sizeof k->nonce, "%s", nonce ? nonce : "");
    snprintf(k->redirect, sizeof k->redirect, "%s", ruri);
    k->apple = apple;
    char loc[1024];
    snprintf(loc, sizeof loc, "%s?code=%s&state=%s", ruri, k->code, state);
    pthread_mutex_unlock(&s->mu);
    return reply(c, 302, "{}", loc);
}

static enum MHD_Result token(struct rg_standin *s, struct MHD_Connection *c, const char *form,
                             bool apple)
{
    char code[64], ver[128], cid[128], secret[4096], ruri[512];
    if (!form_get(form, "code", code, sizeof code) ||
        !form_get(form, "code_verifier", ver, sizeof ver) ||
        !form_get(form, "client_id", cid, sizeof cid) ||
        !form_get(form, "client_secret", secret, sizeof secret) ||
        !form_get(form, "redirect_uri", ruri, sizeof ruri))
        return reply(c, 400, "{\"error\":\"invalid_request\"}", NULL);
    bool client_ok =
        apple ? !strcmp(cid, s->o.apple_client_id) && apple_secret_ok(s, secret)
              : !strcmp(cid, s->o.github_client_id) && !strcmp(secret, s->o.github_client_secret);
    pthread_mutex_lock(&s->mu);
    struct code *k = NULL;
    for (int i = 0; i < MAX_CODES; i++)
        if (s->codes[i].code[0] && !strcmp(s->codes[i].code, code) && s->codes[i].apple == apple)
            k = &s->codes[i];
    unsigned char d[32];
    char ch[64];
    SHA256((unsigned char *)ver, strlen(ver), d);
    b64url(d, sizeof d, ch);
    bool ok = client_ok && k && !k->used && !strcmp(k->challenge, ch) && !strcmp(k->redirect, ruri);
    if (!ok) {
        s->refusals++;
        pthread_mutex_unlock(&s->mu);
        /* GitHub answers 200 with an error field; Apple 400 */
        return apple ? reply(c, 400, "{\"error\":\"invalid_grant\"}", NULL)
                     : reply(c, 200, "{\"error\":\"bad_verification_code\"}", NULL);
    }
    k->used = true;
    unsigned char r[12];
    RAND_bytes(r, sizeof r);
    b64url(r, sizeof r, s->access);
    char nonce[96];
    snprintf(nonce, sizeof nonce, "%s", k->nonce);
    pthread_mutex_unlock(&s->mu);
    char body[9000];
    if (!apple) {
        snprintf(body, sizeof body,
                 "{\"access_token\":\"%s\",\"token_type\":\"bearer\",\"scope\":\"read:user\"}",
                 s->access);
        return reply(c, 200, body, NULL);
    }
    long long now = (long long)time(NULL);
    char claims[1024];
    enum rg_standin_fault f = s->fault;
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"001234.apple.subject\",\"iat\":%lld,"
             "\"exp\":%lld,\"nonce\":\"%s\",\"email\":\"%s\",\"email_verified\":\"true\"}",
             f == RG_FAULT_WRONG_ISS ? "https://evil.example" : s->o.apple_issuer,
             f == RG_FAULT_WRONG_AUD ? "someone.else" : s->o.apple_client_id,
             now - (f == RG_FAULT_EXPIRED ? 7200 : 0), now + (f == RG_FAULT_EXPIRED ? -3600 : 600),
             f == RG_FAULT_WRONG_NONCE ? "not-the-nonce" : nonce, s->o.email);
    const char *idt = sign_rs256(f == RG_FAULT_BAD_SIGNATURE ? s->rsa_other : s->rsa, claims);
    snprintf(body, sizeof body,
             "{\"access_token\":\"%s\",\"token_type\":\"Bearer\",\"expires_in\":3600,"
             "\"id_token\":\"%s\"}",
             s->access, idt);
    return reply(c, 200, body, NULL);
}

static enum MHD_Result github_api(struct rg_standin *s, struct MHD_Connection *c, bool emails)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    char want[64];
    snprintf(want, sizeof want, "Bearer %s", s->access);
    if (!auth || !s->access[0] || strcmp(auth, want))
        return reply(c, 401, "{\"message\":\"Bad credentials\"}", NULL);
    char body[1024];
    if (emails)
        snprintf(body, sizeof body,
                 "[{\"email\":\"other@example.org\",\"primary\":false,\"verified\":true},"
                 "{\"email\":\"%s\",\"primary\":true,\"verified\":true}]",
                 s->o.email);
    else
        snprintf(body, sizeof body, "{\"id\":12345,\"login\":\"octo\",\"name\":\"%s\"}", s->o.name);
    return reply(c, 200, body, NULL);
}

static enum MHD_Result keys(struct rg_standin *s, struct MHD_Connection *c)
{
    BIGNUM *n = NULL, *e = NULL;
    EVP_PKEY_get_bn_param(s->rsa, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(s->rsa, OSSL_PKEY_PARAM_RSA_E, &e);
    unsigned char nb[512], eb[8];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    char ns[800], es[16], body[1200];
    b64url(nb, (size_t)nl, ns);
    b64url(eb, (size_t)el, es);
    BN_free(n);
    BN_free(e);
    snprintf(body, sizeof body,
             "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k1\",\"use\":\"sig\",\"alg\":\"RS256\","
             "\"n\":\"%s\",\"e\":\"%s\"}]}",
             ns, es);
    return reply(c, 200, body, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct rg_standin *s = cls;
    struct body *b = *con_cls;
    if (!b) {
        *con_cls = calloc(1, sizeof *b);
        return MHD_YES;
    }
    if (*upload_size) {
        b->data = realloc(b->data, b->len + *upload_size + 1);
        memcpy(b->data + b->len, upload, *upload_size);
        b->len += *upload_size;
        b->data[b->len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    const char *form = b->data ? b->data : "";
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (get && !strcmp(url, "/github/authorize")) return authorize(s, c, false);
    if (get && !strcmp(url, "/apple/authorize")) return authorize(s, c, true);
    if (post && !strcmp(url, "/github/token")) return token(s, c, form, false);
    if (post && !strcmp(url, "/apple/token")) return token(s, c, form, true);
    if (get && !strcmp(url, "/github/api/user")) return github_api(s, c, false);
    if (get && !strcmp(url, "/github/api/user/emails")) return github_api(s, c, true);
    if (get && !strcmp(url, "/apple/keys")) return keys(s, c);
    return reply(c, 404, "{\"error\":\"not_found\"}", NULL);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    struct body *b = *con_cls;
    if (b) free(b->data);
    free(b);
    *con_cls = NULL;
}

struct rg_standin *rg_standin_start(const struct rg_standin_opts *o)
{
    struct rg_standin *s = calloc(1, sizeof *s);
    s->o = *o;
    pthread_mutex_init(&s->mu, NULL);
    s->rsa = EVP_RSA_gen(2048);
    s->rsa_other = EVP_RSA_gen(2048);
    if (o->apple_client_pub_pem) {
        BIO *bio = BIO_new_mem_buf(o->apple_client_pub_pem, -1);
        s->apple_pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            on_request, s, MHD_OPTION_NOTIFY_COMPLETED, on_done, s, MHD_OPTION_END);
    if (!s->d || !s->rsa || !s->rsa_other) {
        rg_standin_stop(s);
        return NULL;
    }
    return s;
}

int rg_standin_port(const struct rg_standin *s)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}

void rg_standin_set_fault(struct rg_standin *s, enum rg_standin_fault f)
{
    s->fault = f;
}

int rg_standin_refusals(const struct rg_standin *s)
{
    return s->refusals;
}

void rg_standin_stop(struct rg_standin *s)
{
    if (!s) return;
    if (s->d) MHD_stop_daemon(s->d);
    EVP_PKEY_free(s->rsa);
    EVP_PKEY_free(s->rsa_other);
    EVP_PKEY_free(s->apple_pub);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
