/*
 * Small security primitives: random tokens, SHA-256, constant-time
 * comparison, base64url, the server secret file and CSRF tokens.
 */
#ifndef RG_AUTH_TOKEN_H
#define RG_AUTH_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* nbytes random bytes (OpenSSL RAND_bytes) as base64url without padding into
 * out. RG_ERANGE if out_size is too small (needs 4*nbytes/3 + 2), RG_EINTERNAL
 * if the generator fails. */
int rg_token_random(char *out, size_t out_size, size_t nbytes);
/* Lower-case hex SHA-256 of the string s. */
void rg_token_sha256_hex(const char *s, char out[65]);
/* Equal strings, compared in time that depends only on the lengths. */
bool rg_token_equal(const char *a, const char *b);

/* base64url without padding. encode: out needs 4*n/3 + 2 bytes, returns the
 * length. decode: strict (no padding, no whitespace, canonical last
 * character); returns the decoded length or -1; out needs 3*len/4 + 1. */
size_t rg_b64url_encode(const uint8_t *in, size_t n, char *out);
long rg_b64url_decode(const char *in, size_t len, uint8_t *out, size_t out_size);

/*
 * The server's secret: if path is missing, creates it (O_EXCL, mode 0600)
 * with key_len random bytes as hex; if present, refuses it (RG_EPERM) when
 * group or others may read it, or (RG_EFORMAT) when it is not key_len bytes
 * of hex. Fills key.
 */
int rg_token_secret_load(const char *path, uint8_t *key, size_t key_len, char *err);

/* A new CSRF token (random, base64url, 43 characters). */
void rg_csrf_new(char out[64]);
/* Double-submit check: both present, non-empty and equal. */
bool rg_csrf_check(const char *cookie_value, const char *header_value);

#endif
