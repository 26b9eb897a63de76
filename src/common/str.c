/* Bounded string helpers (see str.h). */
#include "common/str.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"

size_t rg_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (size) {
        size_t c = n < size - 1 ? n : size - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

int rg_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s) return RG_EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || end == s) return RG_EINVAL;
    if (errno == ERANGE || v < min || v > max) return RG_ERANGE;
    *out = v;
    return RG_OK;
}

int rg_parse_double(const char *s, double min, double max, double *out)
{
    if (!s || !*s) return RG_EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0' || end == s || isnan(v)) return RG_EINVAL;
    if (errno == ERANGE || v < min || v > max) return RG_ERANGE;
    *out = v;
    return RG_OK;
}

int rg_parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};
    if (!s) return RG_EINVAL;
    for (size_t i = 0; i < RG_ARRAY_LEN(yes); i++) {
        if (!strcasecmp(s, yes[i])) return *out = true, RG_OK;
        if (!strcasecmp(s, no[i])) return *out = false, RG_OK;
    }
    return RG_EINVAL;
}

bool rg_str_starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool rg_str_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

bool rg_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    const unsigned char *x = a, *y = b;
    size_t n = alen > blen ? alen : blen;
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < n; i++) {
        unsigned char cx = i < alen ? x[i] : 0;
        unsigned char cy = i < blen ? y[i] : 0;
        diff |= cx ^ cy;
    }
    return diff == 0;
}

/* Length of the UTF-8 sequence starting at s[0..n), 0 if invalid, -1 if cut. */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    int len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    unsigned cp = c & (0x3Fu >> (len - 1));
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) return -1;
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

size_t rg_utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int l = utf8_seq(u + i, n - i);
        if (l <= 0) break;
        i += (size_t)l;
    }
    return i;
}

bool rg_utf8_valid(const char *s, size_t n)
{
    return rg_utf8_valid_prefix(s, n) == n;
}
