/*
 * auth_bench: the cost of authentication on one core.
 *   - access-token checks (rg_jwt_verify): what every signed-in request pays;
 *   - argon2id verifications (rg_password_verify): what a sign-in pays, by
 *     design the slow part;
 *   - API-key checks (SHA-256 + constant-time compare, without the lookup);
 *   - whole access-token checks (rg_auth_check_bearer: the JWT, then the
 *     account's current role and session, cached for RG_AUTH_STATE_TTL), and
 *     the database read a cache miss costs (rg_db_token_state, SQLite).
 * Prints one JSON object: {"jwt_verify_per_s":..,"argon2_verify_per_s":..,
 * "argon2_ms":..,"apikey_hash_per_s":..,"bearer_check_per_s":..,
 * "token_state_read_per_s":..}.
 */
#include <stdio.h>
#include <stdlib.h> /* mkdtemp */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
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

/* Whole bearer checks against a throw-away SQLite database: *checks per
 * second through rg_auth_check_bearer, *reads the uncached state read. */
static int bench_bearer(double *checks, double *reads)
{
    char dir[] = "/tmp/rg_auth_bench_XXXXXX", url[128], err[RG_ERR_SIZE];
    if (!mkdtemp(dir)) return 1;
    snprintf(url, sizeof url, "sqlite:%s/bench.db", dir);
    struct rg_db_params dp;
    rg_db_default_params(&dp);
    dp.url = url;
    struct rg_db *db = rg_db_open(&dp, err);
    int rc = db ? rg_db_migrate(db, NULL, err) : RG_EIO;
    struct rg_auth_params ap;
    rg_auth_default_params(&ap);
    ap.db = db;
    ap.data_dir = dir;
    struct rg_auth *a = rc ? NULL : rg_auth_new(&ap, err);
    struct rg_db_user u;
    struct rg_db_new_user nu = {.email = "b@example.com", .pw_hash = "", .now = 1};
    struct rg_auth_tokens t;
    memset(&t, 0, sizeof t);
    if (!a || rg_db_user_create(db, &nu, &u, err) || rg_auth_issue(a, &u, "bench", &t, err)) {
        fprintf(stderr, "auth_bench: %s\n", err);
        rc = 1;
    }
    struct rg_auth_who who;
    long n = 0;
    double t0 = now_s(), el = 0;
    while (!rc) {
        for (int i = 0; i < 1000 && !rc; i++)
            rc = rg_auth_check_bearer(a, t.access, &who, err);
        n += 1000;
        el = now_s() - t0;
        if (el >= 3.0) break; /* spans at least one cache expiry */
    }
    *checks = el > 0 ? (double)n / el : 0;
    char family[40] = "";
    struct rg_db_session s;
    struct rg_db_user su;
    char h[65];
    rg_token_sha256_hex(t.refresh, h);
    if (!rc) rc = rg_db_session_validate(db, h, (int64_t)time(NULL), &s, &su, err);
    if (!rc) snprintf(family, sizeof family, "%s", s.family);
    struct rg_db_token_state ts;
    n = 0;
    t0 = now_s();
    while (!rc) {
        for (int i = 0; i < 100 && !rc; i++)
            rc = rg_db_token_state(db, u.id, family, &ts, err);
        n += 100;
        el = now_s() - t0;
        if (el >= 1.0) break;
    }
    *reads = el > 0 ? (double)n / el : 0;
    if (rc) fprintf(stderr, "auth_bench: %s\n", err);
    rg_auth_tokens_clear(&t);
    rg_auth_free(a);
    rg_db_close(db);
    static const char *const files[] = {"bench.db", "bench.db-wal", "bench.db-shm", "jwt-secret"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[200];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
    return rc ? 1 : 0;
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
    double keys = (double)n / el, checks = 0, reads = 0;
    if (bench_bearer(&checks, &reads) != 0) return 1;
    printf("{\"jwt_verify_per_s\":%.0f,\"argon2_verify_per_s\":%.1f,\"argon2_ms\":%.1f,"
           "\"apikey_hash_per_s\":%.0f,\"bearer_check_per_s\":%.0f,"
           "\"token_state_read_per_s\":%.0f}\n",
           jwt, argon, 1000.0 / argon, keys, checks, reads);
    return 0;
}
