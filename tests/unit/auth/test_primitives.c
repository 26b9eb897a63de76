/* The security primitives of src/auth: passwords, JWTs, tokens, CSRF. */
#include "test.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>

#include "auth/auth.h"
#include "auth/jwt.h"
#include "auth/password.h"
#include "auth/token.h"
#include "common/alloc.h"

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";

/* ---- passwords ---- */

static void test_password_roundtrip(void **state)
{
    (void)state;
    char h1[192], h2[192], err[RG_ERR_SIZE];
    assert_int_equal(rg_password_hash("correct horse", h1, sizeof h1, err), RG_OK);
    assert_int_equal(rg_password_hash("correct horse", h2, sizeof h2, err), RG_OK);
    assert_string_not_equal(h1, h2); /* salted */
    assert_non_null(strstr(h1, "$argon2id$v=19$m=19456,t=2,p=1$"));
    assert_int_equal(rg_password_verify("correct horse", h1), RG_OK);
    assert_int_equal(rg_password_verify("correct horsE", h1), RG_EAUTH);
    assert_int_equal(rg_password_verify("", h1), RG_EAUTH);
    /* tampered or foreign hashes */
    char t[192];
    snprintf(t, sizeof t, "%s", h1);
    t[strlen(t) - 3] = t[strlen(t) - 3] == 'A' ? 'B' : 'A';
    assert_int_not_equal(rg_password_verify("correct horse", t), RG_OK);
    assert_int_equal(rg_password_verify("x", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA"),
                     RG_EFORMAT);
    assert_int_equal(rg_password_verify("x", "plaintext"), RG_EFORMAT);
    /* a hostile row asking for 4 GiB of memory is refused unrun */
    assert_int_equal(rg_password_verify("x", "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaA"),
                     RG_EFORMAT);
    assert_int_equal(
        rg_password_verify("x", "$argon2id$v=19$m=19456,t=1000,p=1$c2FsdHNhbHQ$aGFzaA"),
        RG_EFORMAT);
    assert_int_equal(rg_password_hash("x", t, 20, err), RG_ERANGE);
    rg_password_dummy_verify("anything"); /* runs, returns nothing */
}

static void test_password_rules(void **state)
{
    (void)state;
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_password_check_rules("short", "a@b.c", err), RG_EINVAL);
    assert_non_null(strstr(err, "at least 8"));
    /* 8 code points of 2 bytes each: long enough; 7 are not */
    assert_int_equal(
        rg_password_check_rules("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
                                NULL, err),
        RG_OK);
    assert_int_equal(rg_password_check_rules(
                         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", NULL, err),
                     RG_EINVAL);
    assert_int_equal(rg_password_check_rules("abcdefg\xff", NULL, err), RG_EINVAL);
    assert_non_null(strstr(err, "UTF-8"));
    assert_int_equal(rg_password_check_rules("Password", NULL, err), RG_EINVAL);
    assert_int_equal(rg_password_check_rules("12345678", NULL, err), RG_EINVAL);
    assert_int_equal(rg_password_check_rules("alice.smith", "Alice.Smith@example.com", err),
                     RG_EINVAL);
    assert_int_equal(rg_password_check_rules("alice@example.com", "alice@example.com", err),
                     RG_EINVAL);
    char longpw[300];
    memset(longpw, 'a', sizeof longpw - 1);
    longpw[sizeof longpw - 1] = '\0';
    assert_int_equal(rg_password_check_rules(longpw, NULL, err), RG_EINVAL);
    assert_int_equal(rg_password_check_rules("correct horse battery", "alice@example.com", err),
                     RG_OK);
}

/* ---- JWT ---- */

static void b64(const char *s, size_t n, char *out)
{
    rg_b64url_encode((const uint8_t *)s, n, out);
}

/* header.payload signed with KEY by HMAC-SHA256 (or alg_none: no signature). */
static void make(const char *header, const char *payload, bool sign, char *out)
{
    char h[512], p[1024];
    b64(header, strlen(header), h);
    b64(payload, strlen(payload), p);
    int n = sprintf(out, "%s.%s", h, p);
    out[n++] = '.';
    out[n] = '\0';
    if (!sign) return;
    unsigned char mac[32];
    unsigned ml = 0;
    HMAC(EVP_sha256(), KEY, sizeof KEY, (const unsigned char *)out, (size_t)n - 1, mac, &ml);
    rg_b64url_encode(mac, ml, out + n);
}

static void test_jwt(void **state)
{
    (void)state;
    char err[RG_ERR_SIZE], *tok = NULL, t[4096];
    struct rg_jwt_claims c = {.sub = "42", .role = "user", .iat = 1000, .exp = 1900}, v;
    assert_int_equal(rg_jwt_sign(KEY, sizeof KEY, &c, &tok, err), RG_OK);
    assert_int_equal(strlen(c.jti), 32);
    assert_int_equal(rg_jwt_verify(KEY, sizeof KEY, tok, 1500, &v, err), RG_OK);
    assert_string_equal(v.sub, "42");
    assert_string_equal(v.role, "user");
    assert_string_equal(v.jti, c.jti);
    assert_int_equal(v.exp, 1900);
    /* expired, wrong key, future */
    assert_int_equal(rg_jwt_verify(KEY, sizeof KEY, tok, 1900, &v, err), RG_EAUTH);
    assert_non_null(strstr(err, "expired"));
    uint8_t other[32] = {1};
    assert_int_equal(rg_jwt_verify(other, sizeof other, tok, 1500, &v, err), RG_EAUTH);
    assert_non_null(strstr(err, "signature"));
    assert_int_equal(rg_jwt_verify(KEY, sizeof KEY, tok, 900, &v, err), RG_EAUTH);
    /* tampered payload and signature */
    snprintf(t, sizeof t, "%s", tok);
    char *dot = strchr(t, '.');
    dot[3] ^= 1;
    assert_int_equal(rg_jwt_verify(KEY, sizeof KEY, t, 1500, &v, err), RG_EAUTH);
    snprintf(t, sizeof t, "%s", tok);
    t[strlen(t) - 1] = t[strlen(t) - 1] == 'A' ? 'B' : 'A';
    assert_int_equal(rg_jwt_verify(KEY, sizeof KEY, t, 1500, &v, err), RG_EAUTH);
    rg_free(tok);

    const char *good = "{\"sub\":\"1\",\"role\":\"admin\",\"iat\":1000,\"exp\":2000,\"jti\":\"x\"}";
    make("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", good, true, t);
    assert_int_equal(rg_jwt_verify(KEY, sizeof KEY, t, 1500, &v, err), RG_OK); /* the maker works */
    make("{\"alg\":\"HS256\"}", good, true, t);
    assert_int_equal(rg_jwt_verify(KEY, sizeof KEY, t, 1500, &v, err), RG_OK);
    /* the algorithm is pinned */
    static const char *bad_headers[] = {
        "{\"alg\":\"none\",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS512\"}",
        "{\"alg\":\"RS256\"}",
        "{\"alg\":\"hs256\"}",
        "{\"typ\":\"JWT\"}",
        "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
        "{\"alg\":\"HS256\",\"jku\":\"http://x\"}",
        "{\"alg\":\"HS256\",\"alg\":\"none\"}",
        "[\"HS256\"]",
        "not json",
    };
    for (size_t i = 0; i < sizeof bad_headers / sizeof *bad_headers; i++) {
        make(bad_headers[i], good, true, t);
        assert_int_equal(rg_jwt_verify(KEY, sizeof KEY, t, 1500, &v, err), RG_EAUTH);
        make(bad_headers[i], good, false, t);
        assert_int_equal(rg_jwt_verify(KEY, sizeof KEY, t, 1500, &v, err), RG_EAUTH);
    }
    /* claims */
    static const char *bad_payloads[] = {
        "{\"role\":\"admin\",\"iat\":1000,\"exp\":2000,\"jti\":\"x\"}",
        "{\"sub\":\"1\",\"role\":\"root\",\"iat\":1000,\"exp\":2000,\"jti\":\"x\"}",
        "{\"sub\":\"1\",\"role\":\"admin\",\"iat\":1000,\"exp\":\"2000\",\"jti\":\"x\"}",
        "{\"sub\":\"1\",\"role\":\"admin\",\"iat\":1000,\"jti\":\"x\"}",
        "{\"sub\":\"1\",\"role\":\"admin\",\"iat\":1000,\"exp\":2000}",
        "{\"sub\":1,\"role\":\"admin\",\"iat\":1000,\"exp\":2000,\"jti\":\"x\"}",
        "{\"sub\":\"1\",\"role\":\"admin\",\"iat\":1600,\"exp\":2000,\"jti\":\"x\"}", /* future */
        "[]",
    };
    for (size_t i = 0; i < sizeof bad_payloads / sizeof *bad_payloads; i++) {
        make("{\"alg\":\"HS256\"}", bad_payloads[i], true, t);
        assert_int_equal(rg_jwt_verify(KEY, sizeof KEY, t, 1500, &v, err), RG_EAUTH);
    }
    /* shapes */
    static const char *garbage[] = {"", "a", "a.b", "a.b.c.d", "..", "x.y.", ".y.z", "eyJ.eyJ.x"};
    for (size_t i = 0; i < sizeof garbage / sizeof *garbage; i++)
        assert_int_equal(rg_jwt_verify(KEY, sizeof KEY, garbage[i], 1500, &v, err), RG_EAUTH);
    char *huge = malloc(RG_JWT_MAX + 100);
    memset(huge, 'a', RG_JWT_MAX + 99);
    huge[RG_JWT_MAX + 99] = '\0';
    assert_int_equal(rg_jwt_verify(KEY, sizeof KEY, huge, 1500, &v, err), RG_EAUTH);
    free(huge);
}

/* ---- tokens ---- */

/* Access tokens name their session family; a token without one is still
 * parsed (auth.c refuses it), a bad one is not. */
static void test_jwt_session(void **state)
{
    (void)state;
    char err[RG_ERR_SIZE], *tok = NULL, t[4096];
    struct rg_jwt_claims c = {.sub = "7",
                              .role = "admin",
                              .sid = "0123abcd",
                              .iat = 1000,
                              .exp = 1900},
                         v;
    assert_int_equal(rg_jwt_sign(KEY, sizeof KEY, &c, &tok, err), RG_OK);
    assert_int_equal(rg_jwt_verify(KEY, sizeof KEY, tok, 1500, &v, err), RG_OK);
    assert_string_equal(v.sid, "0123abcd");
    rg_free(tok);
    make("{\"alg\":\"HS256\"}",
         "{\"sub\":\"1\",\"role\":\"user\",\"iat\":1000,\"exp\":2000,\"jti\":\"x\"}", true, t);
    assert_int_equal(rg_jwt_verify(KEY, sizeof KEY, t, 1500, &v, err), RG_OK);
    assert_string_equal(v.sid, "");
    make("{\"alg\":\"HS256\"}",
         "{\"sub\":\"1\",\"role\":\"user\",\"iat\":1000,\"exp\":2000,\"jti\":\"x\",\"sid\":7}",
         true, t);
    assert_int_equal(rg_jwt_verify(KEY, sizeof KEY, t, 1500, &v, err), RG_EAUTH);
    assert_non_null(strstr(err, "sid"));
}

/* The sign-in back-off: free tries, then a wait that doubles up to a cap. */
static void test_backoff(void **state)
{
    (void)state;
    for (int f = 0; f < RG_AUTH_FREE_FAILS; f++)
        assert_int_equal(rg_auth_backoff(f, 1000, 1000), 0);
    assert_int_equal(rg_auth_backoff(RG_AUTH_FREE_FAILS, 1000, 1000), RG_AUTH_BACKOFF_BASE);
    assert_int_equal(rg_auth_backoff(RG_AUTH_FREE_FAILS + 1, 1000, 1000), 2 * RG_AUTH_BACKOFF_BASE);
    assert_int_equal(rg_auth_backoff(RG_AUTH_FREE_FAILS + 3, 1000, 1000), 8 * RG_AUTH_BACKOFF_BASE);
    /* time passing shortens the wait, and past it the pair may try */
    assert_int_equal(rg_auth_backoff(RG_AUTH_FREE_FAILS + 1, 1000, 1003),
                     2 * RG_AUTH_BACKOFF_BASE - 3);
    assert_int_equal(rg_auth_backoff(RG_AUTH_FREE_FAILS, 1000, 1000 + RG_AUTH_BACKOFF_BASE), 0);
    /* capped, also for absurd counts (no overflow) */
    assert_int_equal(rg_auth_backoff(RG_AUTH_FREE_FAILS + 30, 1000, 1000), RG_AUTH_BACKOFF_MAX);
    assert_int_equal(rg_auth_backoff(1 << 30, 1000, 1000), RG_AUTH_BACKOFF_MAX);
    assert_int_equal(rg_auth_backoff(RG_AUTH_FREE_FAILS + 2, 0, 1000), 0); /* no time known */
}

static void test_b64url(void **state)
{
    (void)state;
    uint8_t in[40], out[64];
    char text[80];
    for (size_t n = 0; n < sizeof in; n++) {
        for (size_t i = 0; i < n; i++)
            in[i] = (uint8_t)(i * 37 + n);
        size_t tl = rg_b64url_encode(in, n, text);
        assert_int_equal(tl, (n * 4 + 2) / 3);
        assert_int_equal(rg_b64url_decode(text, tl, out, sizeof out), (long)n);
        assert_memory_equal(in, out, n);
    }
    assert_int_equal(rg_b64url_decode("ab+/", 4, out, sizeof out), -1); /* not url alphabet */
    assert_int_equal(rg_b64url_decode("abc=", 4, out, sizeof out), -1); /* padding */
    assert_int_equal(rg_b64url_decode("a", 1, out, sizeof out), -1);
    assert_int_equal(rg_b64url_decode("QR", 2, out, sizeof out), -1); /* non-zero spare bits */
    assert_int_equal(rg_b64url_decode("QQ", 2, out, sizeof out), 1);
    assert_int_equal(rg_b64url_decode("QUFBQUFB", 8, out, 3), -1); /* too small */
}

static void test_tokens_and_csrf(void **state)
{
    (void)state;
    char a[64], b[64], h[65];
    assert_int_equal(rg_token_random(a, sizeof a, 32), RG_OK);
    assert_int_equal(rg_token_random(b, sizeof b, 32), RG_OK);
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);
    assert_int_equal(rg_token_random(a, 10, 32), RG_ERANGE);
    rg_token_sha256_hex("abc", h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(rg_token_equal("same", "same"));
    assert_false(rg_token_equal("same", "samE"));
    assert_false(rg_token_equal("same", "same!"));
    assert_false(rg_token_equal(NULL, "x"));
    char c[64];
    rg_csrf_new(c);
    assert_int_equal(strlen(c), 43);
    assert_true(rg_csrf_check(c, c));
    assert_false(rg_csrf_check(c, NULL));
    assert_false(rg_csrf_check(NULL, c));
    assert_false(rg_csrf_check("", ""));
    assert_false(rg_csrf_check(c, "x"));
}

static void test_secret_file(void **state)
{
    (void)state;
    char path[128], err[RG_ERR_SIZE];
    snprintf(path, sizeof path, "/tmp/rg_test_secret_%d", (int)getpid());
    unlink(path);
    uint8_t k1[32], k2[32];
    assert_int_equal(rg_token_secret_load(path, k1, sizeof k1, err), RG_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(rg_token_secret_load(path, k2, sizeof k2, err), RG_OK);
    assert_memory_equal(k1, k2, sizeof k1);
    chmod(path, 0644);
    assert_int_equal(rg_token_secret_load(path, k2, sizeof k2, err), RG_EPERM);
    assert_non_null(strstr(err, "chmod 600"));
    chmod(path, 0600);
    FILE *f = fopen(path, "w");
    fputs("nothex!!\n", f);
    fclose(f);
    assert_int_equal(rg_token_secret_load(path, k2, sizeof k2, err), RG_EFORMAT);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_roundtrip),
        cmocka_unit_test(test_password_rules),
        cmocka_unit_test(test_jwt),
        cmocka_unit_test(test_jwt_session),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_tokens_and_csrf),
        cmocka_unit_test(test_secret_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
