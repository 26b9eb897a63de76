/*
 * Access tokens: JWTs signed with HMAC-SHA256 (RFC 7519, JWS compact form).
 *
 * The algorithm is pinned: a token whose header says anything but
 * {"alg":"HS256"} (optionally with "typ":"JWT") is refused before its
 * signature or claims are looked at, so "alg": "none", HS512 or RS256 tokens
 * never get a chance. Both directions are a few lines over OpenSSL's HMAC and
 * jansson rather than libjwt: the check must run before any parsing that
 * trusts the header, and it runs on every request (measured in
 * bench/RESULTS.md: well over 50,000 verifications/s per core).
 */
#ifndef RG_AUTH_JWT_H
#define RG_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define RG_JWT_MAX 4096 /* longer tokens are refused unread */

struct rg_jwt_claims {
    char sub[64];  /* the user id, as text */
    char role[16]; /* admin, user, readonly */
    char jti[40];  /* unique id; filled in by rg_jwt_sign */
    char sid[40];  /* the session family it was issued to; "" = none (not written) */
    int64_t iat, exp;
};

/* Signs c (jti is drawn at random) into *out (rg_free). */
int rg_jwt_sign(const uint8_t *key, size_t key_len, struct rg_jwt_claims *c, char **out, char *err);
/* RG_OK with the claims, or RG_EAUTH with err saying why: "malformed token",
 * "algorithm not allowed", "bad signature", "token expired", "token issued
 * in the future", "missing or bad claim 'x'". */
int rg_jwt_verify(const uint8_t *key, size_t key_len, const char *token, int64_t now,
                  struct rg_jwt_claims *out, char *err);

#endif
