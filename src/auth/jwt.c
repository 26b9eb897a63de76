/* HS256 access tokens (see jwt.h). */
#include "auth/jwt.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "auth/token.h"
#include "common/alloc.h"
#include "common/str.h"

/* base64url of {"alg":"HS256","typ":"JWT"} */
static const char HEADER[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

static bool valid_role(const char *r)
{
    return !strcmp(r, "admin") || !strcmp(r, "user") || !strcmp(r, "readonly");
}

int rg_jwt_sign(const uint8_t *key, size_t key_len, struct rg_jwt_claims *c, char **out, char *err)
{
    *out = NULL;
    uint8_t r[16];
    if (RAND_bytes(r, sizeof r) != 1) return rg_err_set(err, RG_EINTERNAL, "no random bytes");
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(c->jti + 2 * i, 3, "%02x", r[i]);
    if (!valid_role(c->role) || !c->sub[0]) return rg_err_set(err, RG_EINVAL, "bad claims");
    json_t *p =
        json_pack("{s:s, s:s, s:I, s:I, s:s, s:s}", "sub", c->sub, "role", c->role, "iat",
                  (json_int_t)c->iat, "exp", (json_int_t)c->exp, "jti", c->jti, "iss", "rustygpt");
    if (p && c->sid[0] && json_object_set_new(p, "sid", json_string(c->sid)) != 0) {
        json_decref(p);
        p = NULL;
    }
    char *payload = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    if (!payload) return rg_err_set(err, RG_ENOMEM, "out of memory");
    size_t pl = strlen(payload);
    size_t cap = sizeof HEADER + pl * 4 / 3 + 4 + 1 + 44 + 1;
    char *tok = rg_malloc(cap);
    if (!tok) {
        free(payload);
        return rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    size_t n = sizeof HEADER - 1;
    memcpy(tok, HEADER, n);
    tok[n++] = '.';
    n += rg_b64url_encode((const uint8_t *)payload, pl, tok + n);
    free(payload);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned ml = 0;
    if (!HMAC(EVP_sha256(), key, (int)key_len, (const uint8_t *)tok, n, mac, &ml)) {
        rg_free(tok);
        return rg_err_set(err, RG_EINTERNAL, "HMAC failed");
    }
    tok[n++] = '.';
    rg_b64url_encode(mac, ml, tok + n);
    *out = tok;
    return RG_OK;
}

/* Decodes one base64url part into a JSON object (NULL if it is not one). */
static json_t *part_json(const char *s, size_t len)
{
    uint8_t buf[RG_JWT_MAX];
    long n = rg_b64url_decode(s, len, buf, sizeof buf);
    if (n <= 0) return NULL;
    json_t *o = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    if (o && !json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static bool header_ok(const char *s, size_t len)
{
    if (len == sizeof HEADER - 1 && !memcmp(s, HEADER, len)) return true; /* ours, the usual case */
    json_t *h = part_json(s, len);
    if (!h) return false;
    bool ok = json_object_size(h) <= 2;
    json_t *alg = json_object_get(h, "alg"), *typ = json_object_get(h, "typ");
    ok = ok && json_is_string(alg) && !strcmp(json_string_value(alg), "HS256");
    ok = ok && (!typ || (json_is_string(typ) && !strcmp(json_string_value(typ), "JWT")));
    ok = ok && json_object_size(h) == 1u + (typ != NULL); /* nothing else: no crit, kid, jku */
    json_decref(h);
    return ok;
}

static bool claim_str(json_t *p, const char *name, char *dst, size_t size)
{
    json_t *v = json_object_get(p, name);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= size)
        return false;
    rg_strlcpy(dst, json_string_value(v), size);
    return strlen(dst) == json_string_length(v);
}

static bool claim_int(json_t *p, const char *name, int64_t *dst)
{
    json_t *v = json_object_get(p, name);
    if (!json_is_integer(v)) return false;
    *dst = (int64_t)json_integer_value(v);
    return true;
}

int rg_jwt_verify(const uint8_t *key, size_t key_len, const char *token, int64_t now,
                  struct rg_jwt_claims *out, char *err)
{
    memset(out, 0, sizeof *out);
    size_t len = token ? strnlen(token, RG_JWT_MAX + 1) : 0;
    if (len == 0 || len > RG_JWT_MAX) return rg_err_set(err, RG_EAUTH, "malformed token");
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) || d1 == token ||
        d2 == d1 + 1)
        return rg_err_set(err, RG_EAUTH, "malformed token");
    if (!header_ok(token, (size_t)(d1 - token)))
        return rg_err_set(err, RG_EAUTH, "algorithm not allowed (only HS256)");
    uint8_t sig[64], mac[EVP_MAX_MD_SIZE];
    long sl = rg_b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - token), sig, sizeof sig);
    unsigned ml = 0;
    if (!HMAC(EVP_sha256(), key, (int)key_len, (const uint8_t *)token, (size_t)(d2 - token), mac,
              &ml))
        return rg_err_set(err, RG_EINTERNAL, "HMAC failed");
    if (sl != (long)ml || CRYPTO_memcmp(sig, mac, ml) != 0)
        return rg_err_set(err, RG_EAUTH, "bad signature");
    json_t *p = part_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!p) return rg_err_set(err, RG_EAUTH, "malformed token");
    int rc = RG_OK;
    if (!claim_str(p, "sub", out->sub, sizeof out->sub))
        rc = rg_err_set(err, RG_EAUTH, "missing or bad claim 'sub'");
    else if (!claim_str(p, "role", out->role, sizeof out->role) || !valid_role(out->role))
        rc = rg_err_set(err, RG_EAUTH, "missing or bad claim 'role'");
    else if (!claim_str(p, "jti", out->jti, sizeof out->jti))
        rc = rg_err_set(err, RG_EAUTH, "missing or bad claim 'jti'");
    else if (!claim_int(p, "iat", &out->iat))
        rc = rg_err_set(err, RG_EAUTH, "missing or bad claim 'iat'");
    else if (!claim_int(p, "exp", &out->exp))
        rc = rg_err_set(err, RG_EAUTH, "missing or bad claim 'exp'");
    else if (json_object_get(p, "sid") && !claim_str(p, "sid", out->sid, sizeof out->sid))
        rc = rg_err_set(err, RG_EAUTH, "missing or bad claim 'sid'");
    else if (out->exp <= now)
        rc = rg_err_set(err, RG_EAUTH, "token expired");
    else if (out->iat > now + 60)
        rc = rg_err_set(err, RG_EAUTH, "token issued in the future");
    json_decref(p);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}
