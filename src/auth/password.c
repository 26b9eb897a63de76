/* argon2id passwords and the rules for new ones (see password.h). */
#include "auth/password.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <argon2.h>
#include <openssl/rand.h>

int rg_password_hash(const char *pw, char *out, size_t out_size, char *err)
{
    uint8_t salt[RG_PASSWORD_SALT];
    if (RAND_bytes(salt, sizeof salt) != 1) return rg_err_set(err, RG_EINTERNAL, "no random bytes");
    int rc = argon2id_hash_encoded(RG_PASSWORD_T, RG_PASSWORD_M_KIB, RG_PASSWORD_P, pw, strlen(pw),
                                   salt, sizeof salt, RG_PASSWORD_HASH, out, out_size);
    if (rc == ARGON2_ENCODING_FAIL) return rg_err_set(err, RG_ERANGE, "hash buffer too small");
    if (rc != ARGON2_OK)
        return rg_err_set(err, RG_EINTERNAL, "argon2: %s", argon2_error_message(rc));
    return RG_OK;
}

/* Reads m, t, p from "$argon2id$v=19$m=M,t=T,p=P$..." and checks the caps. */
static int check_params(const char *enc)
{
    static const char head[] = "$argon2id$v=19$";
    if (strncmp(enc, head, sizeof head - 1) != 0) return RG_EFORMAT;
    unsigned long m = 0, t = 0, p = 0;
    int used = 0;
    if (sscanf(enc + sizeof head - 1, "m=%lu,t=%lu,p=%lu$%n", &m, &t, &p, &used) != 3 || !used)
        return RG_EFORMAT;
    if (m == 0 || m > RG_PASSWORD_MAX_M_KIB || t == 0 || t > RG_PASSWORD_MAX_T || p == 0 ||
        p > RG_PASSWORD_MAX_P)
        return RG_EFORMAT;
    return RG_OK;
}

int rg_password_verify(const char *pw, const char *encoded)
{
    if (!pw || !encoded || strlen(encoded) > 512 || check_params(encoded) != RG_OK)
        return RG_EFORMAT;
    int rc = argon2id_verify(encoded, pw, strlen(pw));
    if (rc == ARGON2_OK) return RG_OK;
    if (rc == ARGON2_VERIFY_MISMATCH) return RG_EAUTH;
    return RG_EFORMAT;
}

static char g_dummy[160];
static pthread_once_t g_dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy(void)
{
    char pw[32];
    unsigned char r[16];
    if (RAND_bytes(r, sizeof r) != 1) memset(r, 0x5a, sizeof r);
    for (size_t i = 0; i < sizeof r; i++)
        pw[i] = (char)('a' + r[i] % 26);
    pw[sizeof r] = '\0';
    if (rg_password_hash(pw, g_dummy, sizeof g_dummy, NULL) != RG_OK) g_dummy[0] = '\0';
}

void rg_password_dummy_verify(const char *pw)
{
    /* a hash of a random password with our parameters, made on first use, so
     * the work is exactly that of checking a real account's password */
    pthread_once(&g_dummy_once, make_dummy);
    if (g_dummy[0]) (void)argon2id_verify(g_dummy, pw, strlen(pw));
}

/* Code points of valid UTF-8, or -1. */
static long utf8_len(const char *s)
{
    long n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int len = *p < 0x80             ? 1
                  : (*p & 0xE0) == 0xC0 ? 2
                  : (*p & 0xF0) == 0xE0 ? 3
                  : (*p & 0xF8) == 0xF0 ? 4
                                        : 0;
        if (!len || (len == 2 && *p < 0xC2) || (len == 4 && *p > 0xF4)) return -1;
        uint32_t cp = len == 1 ? *p : (uint32_t)(*p & (0x7F >> len));
        for (int i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80) return -1;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        p += len;
        n++;
    }
    return n;
}

static const char *const COMMON[] = {
    "password",      "password1",  "password123", "12345678", "123456789", "1234567890", "qwertyui",
    "qwerty123",     "qwertyuiop", "11111111",    "00000000", "iloveyou",  "abc12345",   "abcd1234",
    "sunshine",      "princess",   "football",    "baseball", "welcome1",  "letmein1",   "admin123",
    "administrator", "trustno1",   "passw0rd",    "p@ssw0rd", "changeme",  "starwars",   "whatever",
    "dragon123",     "monkey123",  "1q2w3e4r",    "1qaz2wsx", "zaq12wsx",  "asdfghjk",   "superman",
    "87654321",      "qazwsxedc",  "michael1",    "rustygpt", "11223344",
};

int rg_password_check_rules(const char *pw, const char *email, char *err)
{
    if (!pw) return rg_err_set(err, RG_EINVAL, "password is required");
    size_t bytes = strlen(pw);
    if (bytes > 256) return rg_err_set(err, RG_EINVAL, "password must be at most 256 bytes");
    long n = utf8_len(pw);
    if (n < 0) return rg_err_set(err, RG_EINVAL, "password is not valid UTF-8");
    if (n < 8) return rg_err_set(err, RG_EINVAL, "password must be at least 8 characters");
    if (email && *email) {
        const char *at = strchr(email, '@');
        size_t local = at ? (size_t)(at - email) : strlen(email);
        if (!strcasecmp(pw, email) || (local == bytes && !strncasecmp(pw, email, local)))
            return rg_err_set(err, RG_EINVAL, "password must not be your email");
    }
    for (size_t i = 0; i < sizeof COMMON / sizeof *COMMON; i++)
        if (!strcasecmp(pw, COMMON[i]))
            return rg_err_set(err, RG_EINVAL, "password is too common: choose another");
    return RG_OK;
}
