/* Random tokens, hashes, base64url, the secret file, CSRF (see token.h). */
#include "auth/token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t rg_b64url_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
        out[o++] = B64URL[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

long rg_b64url_decode(const char *in, size_t len, uint8_t *out, size_t out_size)
{
    if (len % 4 == 1) return -1;
    size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > out_size) return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val(in[i]);
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* the bits left over must be zero: one text per byte string */
    if (bits && (acc & ((1u << bits) - 1))) return -1;
    return (long)o;
}

int rg_token_random(char *out, size_t out_size, size_t nbytes)
{
    uint8_t buf[128];
    if (nbytes > sizeof buf || out_size < nbytes * 4 / 3 + 2) return RG_ERANGE;
    if (RAND_bytes(buf, (int)nbytes) != 1) return RG_EINTERNAL;
    rg_b64url_encode(buf, nbytes, out);
    OPENSSL_cleanse(buf, sizeof buf);
    return RG_OK;
}

void rg_token_sha256_hex(const char *s, char out[65])
{
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, strlen(s), d);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[64] = '\0';
}

bool rg_token_equal(const char *a, const char *b)
{
    if (!a || !b) return false;
    size_t n = strlen(a);
    if (n != strlen(b)) return false;
    return CRYPTO_memcmp(a, b, n) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int rg_token_secret_load(const char *path, uint8_t *key, size_t key_len, char *err)
{
    if (key_len == 0 || key_len > 128) return rg_err_set(err, RG_EINVAL, "bad key length");
    char text[260];
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (RAND_bytes(key, (int)key_len) != 1)
            return rg_err_set(err, RG_EINTERNAL, "%s: no random bytes", path);
        for (size_t i = 0; i < key_len; i++)
            snprintf(text + 2 * i, 3, "%02x", key[i]);
        text[2 * key_len] = '\n';
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            if (errno == EEXIST) return rg_token_secret_load(path, key, key_len, err);
            return rg_err_set(err, RG_EIO, "%s: cannot create it: %s", path, strerror(errno));
        }
        ssize_t w = write(fd, text, 2 * key_len + 1);
        int sync_rc = fsync(fd);
        close(fd);
        OPENSSL_cleanse(text, sizeof text);
        if (w != (ssize_t)(2 * key_len + 1) || sync_rc != 0) {
            unlink(path);
            return rg_err_set(err, RG_EIO, "%s: cannot write it", path);
        }
        return RG_OK;
    }
    if (fd < 0) return rg_err_set(err, RG_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return rg_err_set(err, RG_EIO, "%s: not a regular file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return rg_err_set(err, RG_EPERM,
                          "%s: readable by other users (mode %03o): chmod 600 it, or delete it "
                          "to make a new one (signs everyone out)",
                          path, (unsigned)(st.st_mode & 0777));
    }
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n < 0) return rg_err_set(err, RG_EIO, "%s: %s", path, strerror(errno));
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    if ((size_t)n != 2 * key_len) {
        OPENSSL_cleanse(text, sizeof text);
        return rg_err_set(err, RG_EFORMAT, "%s: expected %zu hex characters", path, 2 * key_len);
    }
    for (size_t i = 0; i < key_len; i++) {
        int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(text, sizeof text);
            return rg_err_set(err, RG_EFORMAT, "%s: not hex", path);
        }
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    OPENSSL_cleanse(text, sizeof text);
    return RG_OK;
}

void rg_csrf_new(char out[64])
{
    if (rg_token_random(out, 64, 32) != RG_OK) out[0] = '\0'; /* an empty token never matches */
}

bool rg_csrf_check(const char *cookie_value, const char *header_value)
{
    if (!cookie_value || !header_value || !*cookie_value) return false;
    return rg_token_equal(cookie_value, header_value);
}
