/* Unicode lookups (see unicode.h). */
#include "engine/tokenizer/unicode.h"

unsigned rg_unicode_flags(uint32_t cp)
{
    unsigned lo = 0, hi = rg_unicode_n_ranges;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (cp < rg_unicode_ranges[mid].first)
            hi = mid;
        else if (cp > rg_unicode_ranges[mid].last)
            lo = mid + 1;
        else
            return rg_unicode_ranges[mid].flags;
    }
    return 0;
}

bool rg_unicode_is_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

uint32_t rg_utf8_decode(const char *str, size_t n, size_t *len)
{
    const unsigned char *s = (const unsigned char *)str;
    *len = 1;
    if (n == 0) return 0xFFFD;
    if (s[0] < 0x80) return s[0];
    size_t need = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (!need || (s[0] >= 0xF5) || need > n) return 0xFFFD;
    uint32_t cp = s[0] & (0xFF >> (need + 1));
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0xFFFD;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0xFFFD;
    *len = need;
    return cp;
}

size_t rg_utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

uint32_t rg_unicode_tolower(uint32_t cp)
{
    unsigned lo = 0, hi = rg_unicode_n_lower;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (cp < rg_unicode_lower[mid].cp)
            hi = mid;
        else if (cp > rg_unicode_lower[mid].cp)
            lo = mid + 1;
        else
            return rg_unicode_lower[mid].to;
    }
    return cp;
}

static const struct rg_unicode_decomp *decomp_of(uint32_t cp)
{
    unsigned lo = 0, hi = rg_unicode_n_decomps;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (cp < rg_unicode_decomps[mid].cp)
            hi = mid;
        else if (cp > rg_unicode_decomps[mid].cp)
            lo = mid + 1;
        else
            return &rg_unicode_decomps[mid];
    }
    return NULL;
}

size_t rg_unicode_nfd(uint32_t cp, uint32_t *out, size_t cap)
{
    if (cap == 0) return 0;
    /* Hangul syllables decompose by arithmetic */
    if (cp >= 0xAC00 && cp < 0xAC00 + 11172) {
        uint32_t s = cp - 0xAC00, l = 0x1100 + s / 588, v = 0x1161 + (s % 588) / 28,
                 t = 0x11A7 + s % 28;
        size_t n = 0;
        if (n < cap) out[n++] = l;
        if (n < cap) out[n++] = v;
        if (t != 0x11A7 && n < cap) out[n++] = t;
        return n;
    }
    const struct rg_unicode_decomp *d = decomp_of(cp);
    if (!d) {
        out[0] = cp;
        return 1;
    }
    size_t n = rg_unicode_nfd(d->a, out, cap);
    if (d->b && n < cap) n += rg_unicode_nfd(d->b, out + n, cap - n);
    return n;
}
