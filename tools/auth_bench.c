/*
 * auth_bench: the cost of authentication on one core.
 *   - access-token checks (rg_jwt_verify): what every signed-in request pays;
 *   - argon2id verifications (rg_password_verify): what a sign-in pays, by
 *     design the slow part;
 *   - API-key checks (SHA-256 + constant-time compare, without the lookup).
 * Prints one JSON object: {"jwt_verify_per_s":..,"argon2_verify_per_s":..,
 * "argon2_ms":..,"apikey_hash_per_s":..}.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/jwt.h"
#include "auth/password.h"
#include "auth/token.h"
#include "common/alloc.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void)
{
    static const uint8_t key[32] = "bench-key-bench-key-bench-key-b";
    char err[RG_ERR_SIZE], *tok = NULL;
    int64_t t = (int64_t)time(NULL);
    struct rg_jwt_claims c = {.sub = "12345", .role = "user", .iat = t, .exp = t + 900};
    if (rg_jwt_sign(key, sizeof key, &c, &tok, err) != RG_OK) {
        fprintf(stderr, "auth_bench: %s\n", err);
        return 1;
    }
    struct rg_jwt_claims v;
    long n = 0;
    double t0 = now_s(), el;
    do {
        for (int i = 0; i < 1000; i++)
            if (rg_jwt_verify(key, sizeof key, tok, t, &v, err) != RG_OK) return 1;
        n += 1000;
        el = now_s() - t0;
    } while (el < 2.0);
    double jwt = (double)n / el;
    rg_free(tok);

    char hash[192];
    if (rg_password_hash("correct horse battery", hash, sizeof hash, err) != RG_OK) return 1;
    n = 0;
    t0 = now_s();
    do {
        if (rg_password_verify("correct horse battery", hash) != RG_OK) return 1;
        n++;
        el = now_s() - t0;
    } while (el < 2.0);
    double argon = (double)n / el;

    char k[64], h[65], stored[65];
    rg_token_random(k, sizeof k, 32);
    rg_token_sha256_hex(k, stored);
    n = 0;
    t0 = now_s();
    do {
        for (int i = 0; i < 1000; i++) {
            rg_token_sha256_hex(k, h);
            if (!rg_token_equal(h, stored)) return 1;
        }
        n += 1000;
        el = now_s() - t0;
    } while (el < 1.0);
    printf("{\"jwt_verify_per_s\":%.0f,\"argon2_verify_per_s\":%.1f,\"argon2_ms\":%.1f,"
           "\"apikey_hash_per_s\":%.0f}\n",
           jwt, argon, 1000.0 / argon, (double)n / el);
    return 0;
}
