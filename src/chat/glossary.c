/*
 * The glossary matcher: both the text and the term are folded to lower
 * case character by character (folding never changes a character's UTF-8
 * length in the ranges covered, so offsets in the folded text are offsets
 * in the original), then the term is searched and each hit checked for
 * word boundaries on the characters around it.
 */
#include "chat/glossary.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

/* The code point at s (n bytes in *len), or -1 for an invalid sequence (one byte). */
static int32_t decode(const unsigned char *s, size_t *len)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *len = 1;
        return (int32_t)c;
    }
    size_t n = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    if (!n || (n == 3 && c >= 0xF0)) {
        *len = 1;
        return -1;
    }
    int32_t v = (int32_t)(c & (0x7F >> n));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *len = 1;
            return -1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    *len = n;
    return v;
}

/* Simple lower case of the covered ranges, keeping the UTF-8 length. */
static int32_t lower(int32_t c)
{
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 0x80) return c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32; /* Latin-1 */
    if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 &&
        c != 0x178 && c != 0x17F) { /* Latin Extended-A */
        bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
        if (odd_upper) return (c & 1) ? c + 1 : c;
        return (c & 1) ? c : c + 1;
    }
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32; /* Greek */
    if (c >= 0x410 && c <= 0x42F) return c + 32;               /* Cyrillic */
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}

static size_t encode(int32_t c, unsigned char *o)
{
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (c >> 18));
    o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

size_t rg_chat_gloss_fold(const char *s, char *out, size_t size)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    if (!size) return 0;
    while (*p) {
        size_t n;
        int32_t c = decode(p, &n);
        unsigned char tmp[4];
        size_t m = 1;
        if (c < 0)
            tmp[0] = *p;
        else
            m = encode(lower(c), tmp);
        if (o + m + 1 > size) break;
        memcpy(out + o, tmp, m);
        o += m;
        p += n;
    }
    out[o] = '\0';
    return o;
}

/* A word character: ASCII letters, digits and '_', and any code point from
 * U+0080 up that is not a space, punctuation or symbol of the common blocks. */
static bool word_cp(int32_t c)
{
    if (c < 0) return false;
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '_';
    if (c <= 0xBF)
        return c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 || c == 0xBA ||
               (c >= 0xBC && c <= 0xBE);
    if (c == 0xD7 || c == 0xF7) return false;
    if (c >= 0x2000 && c <= 0x2BFF) return false; /* punctuation, symbols, arrows... */
    if (c >= 0x3000 && c <= 0x303F) return false; /* CJK punctuation */
    if (c >= 0xFE30 && c <= 0xFE4F) return false;
    if (c >= 0xFF00 && c <= 0xFF0F) return false;
    return true;
}

/* The code point ending just before s + at (start is the text's start). */
static int32_t before(const unsigned char *s, size_t at)
{
    if (!at) return -1;
    size_t i = at - 1;
    while (i > 0 && (s[i] & 0xC0) == 0x80 && at - i < 4)
        i--;
    size_t n;
    int32_t c = decode(s + i, &n);
    return i + n == at ? c : -1;
}

struct rg_chat_gloss_text {
    size_t len;
    char s[];
};

struct rg_chat_gloss_text *rg_chat_gloss_text_new(const char *text)
{
    size_t n = strlen(text);
    struct rg_chat_gloss_text *t = rg_malloc(sizeof *t + n + 1);
    if (!t) return NULL;
    t->len = rg_chat_gloss_fold(text, t->s, n + 1);
    return t;
}

void rg_chat_gloss_text_free(struct rg_chat_gloss_text *t)
{
    rg_free(t);
}

long rg_chat_gloss_text_find(const struct rg_chat_gloss_text *t, const char *term)
{
    char key[1024];
    /* leading and trailing spaces of a term are not part of it */
    while (*term == ' ' || *term == '\t')
        term++;
    size_t n = rg_chat_gloss_fold(term, key, sizeof key);
    while (n && (key[n - 1] == ' ' || key[n - 1] == '\t'))
        key[--n] = '\0';
    if (!n) return -1;
    size_t kn;
    int32_t first = decode((const unsigned char *)key, &kn);
    int32_t last = before((const unsigned char *)key, n);
    bool need_left = word_cp(first), need_right = word_cp(last);
    const unsigned char *s = (const unsigned char *)t->s;
    const char *p = t->s;
    while ((p = strstr(p, key)) != NULL) {
        size_t at = (size_t)(p - t->s), m;
        bool ok = !need_left || !word_cp(before(s, at));
        if (ok && need_right && s[at + n]) ok = !word_cp(decode(s + at + n, &m));
        if (ok) return (long)at;
        /* next character start */
        decode((const unsigned char *)p, &m);
        p += m;
    }
    return -1;
}

long rg_chat_gloss_find(const char *text, const char *term)
{
    struct rg_chat_gloss_text *t = rg_chat_gloss_text_new(text);
    if (!t) return -1;
    long at = rg_chat_gloss_text_find(t, term);
    rg_chat_gloss_text_free(t);
    return at;
}
