/*
 * Byte-level BPE (tokenizer.ggml.model = "gpt2"): text is split into words
 * by the vocabulary's pre-tokenizer (tokenizer.ggml.pre), each word's bytes
 * are mapped to GPT-2's printable code points, and adjacent symbols merge by
 * rank (tokenizer.ggml.merges), lowest rank first, leftmost on ties.
 *
 * Pre-tokenizers: each family's regular expressions are implemented as
 * scanners over code points rather than with a regex engine. They apply in
 * sequence, as llama.cpp applies its list: each one splits every current
 * fragment into its matches and the text between them.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "engine/tokenizer/bpe_internal.h"
#include "engine/tokenizer/unicode.h"

/* ---- code point classes ---- */

static bool is_L(uint32_t c)
{
    return rg_unicode_flags(c) & RG_UC_LETTER;
}
static bool is_N(uint32_t c)
{
    return rg_unicode_flags(c) & RG_UC_NUMBER;
}
static bool is_P(uint32_t c)
{
    return rg_unicode_flags(c) & RG_UC_PUNCT;
}
static bool is_S(uint32_t c)
{
    return rg_unicode_is_space(c);
}
static bool is_other(uint32_t c)
{
    return !is_S(c) && !is_L(c) && !is_N(c);
}
static bool is_crlf(uint32_t c)
{
    return c == '\r' || c == '\n';
}
static uint32_t lower(uint32_t c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* ---- fragments ---- */

struct frags {
    size_t *v; /* boundaries: fragment i is [v[i], v[i+1]) */
    size_t n, cap;
};

static int push(struct frags *f, size_t b)
{
    if (f->n && f->v[f->n - 1] == b) return RG_OK;
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 64;
        size_t *v = rg_realloc(f->v, nc * sizeof *v);
        if (!v) return RG_ENOMEM;
        f->v = v;
        f->cap = nc;
    }
    f->v[f->n++] = b;
    return RG_OK;
}

/* A matcher returns the length of the match starting at pos (0: none). */
typedef size_t (*matcher)(const uint32_t *c, size_t pos, size_t end);

/* regex-search semantics: leftmost match, continue after it; the text
 * between matches stays a fragment of its own. */
static int split(const uint32_t *c, const struct frags *in, struct frags *out, matcher m)
{
    out->n = 0;
    int rc = RG_OK;
    for (size_t i = 0; i + 1 < in->n && rc == RG_OK; i++) {
        size_t start = in->v[i], end = in->v[i + 1];
        rc = push(out, start);
        for (size_t pos = start; pos < end && rc == RG_OK;) {
            size_t len = m(c, pos, end);
            if (len) {
                rc = push(out, pos);
                if (rc == RG_OK) rc = push(out, pos + len);
                pos += len;
            } else {
                pos++;
            }
        }
        if (rc == RG_OK) rc = push(out, end);
    }
    return rc;
}

/* 's|'t|'re|'ve|'m|'ll|'d (case-insensitive for llama3 style) */
static size_t contraction(const uint32_t *c, size_t p, size_t end, bool ci)
{
    if (c[p] != '\'' || p + 1 >= end) return 0;
    uint32_t a = ci ? lower(c[p + 1]) : c[p + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (p + 2 < end) {
        uint32_t b = ci ? lower(c[p + 2]) : c[p + 2];
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
    return 0;
}

static size_t run(const uint32_t *c, size_t p, size_t end, bool (*pred)(uint32_t))
{
    size_t q = p;
    while (q < end && pred(c[q]))
        q++;
    return q - p;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
static size_t m_gpt2(const uint32_t *c, size_t p, size_t end)
{
    size_t n = contraction(c, p, end, false);
    if (n) return n;
    size_t sp = c[p] == ' ' && p + 1 < end ? 1 : 0;
    bool (*preds[])(uint32_t) = {is_L, is_N, is_other};
    for (int k = 0; k < 3; k++)
        if (p + sp < end && preds[k](c[p + sp])) return sp + run(c, p + sp, end, preds[k]);
    if (is_S(c[p])) {
        size_t w = run(c, p, end, is_S);
        if (p + w == end) return w; /* trailing whitespace */
        return w > 1 ? w - 1 : 0;   /* leave the last one to the next word */
    }
    return 0;
}

/* llama3 / qwen2:
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*
 * |\s*[\r\n]+|\s+(?!\S)|\s+   (qwen2: \p{N} one at a time) */
static size_t m_llama3_digits(const uint32_t *c, size_t p, size_t end, size_t max_digits)
{
    size_t n = contraction(c, p, end, true);
    if (n) return n;
    if (!is_crlf(c[p]) && !is_L(c[p]) && !is_N(c[p]) && p + 1 < end && is_L(c[p + 1]))
        return 1 + run(c, p + 1, end, is_L);
    if (is_L(c[p])) return run(c, p, end, is_L);
    if (is_N(c[p])) {
        size_t d = run(c, p, end, is_N);
        return d < max_digits ? d : max_digits;
    }
    size_t sp = c[p] == ' ' && p + 1 < end && is_other(c[p + 1]) ? 1 : 0;
    if (is_other(c[p + sp])) {
        size_t q = p + sp + run(c, p + sp, end, is_other);
        while (q < end && is_crlf(c[q]))
            q++;
        return q - p;
    }
    if (is_S(c[p])) {
        /* \s*[\r\n]+ : whitespace up to and including the last newline of the run */
        size_t w = run(c, p, end, is_S), last_nl = 0;
        for (size_t q = p; q < p + w; q++)
            if (is_crlf(c[q])) last_nl = q - p + 1;
        if (last_nl) return last_nl;
        if (p + w == end) return w;
        return w > 1 ? w - 1 : w; /* \s+(?!\S), else \s+ */
    }
    return 0;
}
static size_t m_llama3(const uint32_t *c, size_t p, size_t end)
{
    return m_llama3_digits(c, p, end, 3);
}
static size_t m_qwen2(const uint32_t *c, size_t p, size_t end)
{
    return m_llama3_digits(c, p, end, 1);
}

static size_t m_digit(const uint32_t *c, size_t p, size_t end)
{
    return p < end && is_N(c[p]) ? 1 : 0;
}
static size_t m_digits(const uint32_t *c, size_t p, size_t end)
{
    return run(c, p, end, is_N);
}
static size_t m_3digits(const uint32_t *c, size_t p, size_t end)
{
    for (size_t i = 0; i < 3; i++)
        if (p + i >= end || c[p + i] < '0' || c[p + i] > '9') return 0;
    return 3;
}
static bool falcon_punct(uint32_t c)
{
    return is_P(c) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' ||
           c == '~' || c == '|' || c == '`';
}
static size_t m_falcon_punct(const uint32_t *c, size_t p, size_t end)
{
    return run(c, p, end, falcon_punct);
}
static size_t m_crlf(const uint32_t *c, size_t p, size_t end)
{
    return p < end && is_crlf(c[p]) ? 1 : 0;
}
static size_t m_sp_letters(const uint32_t *c, size_t p, size_t end)
{
    size_t sp = is_S(c[p]) && p + 1 < end && is_L(c[p + 1]) ? 1 : 0;
    size_t n = run(c, p + sp, end, is_L);
    return n ? sp + n : 0;
}
static size_t m_sp_punct(const uint32_t *c, size_t p, size_t end)
{
    size_t sp = is_S(c[p]) && p + 1 < end && is_P(c[p + 1]) ? 1 : 0;
    size_t n = run(c, p + sp, end, is_P);
    return n ? sp + n : 0;
}
static bool cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x0800 && c <= 0x4E00) ||
           (c >= 0xAC00 && c <= 0xD7FF);
}
static size_t m_cjk(const uint32_t *c, size_t p, size_t end)
{
    return run(c, p, end, cjk);
}
/* deepseek-llm's letter class is Latin, Greek, Cyrillic and similar scripts:
 * letters outside the CJK ranges that get their own rule */
static bool ds_letter(uint32_t c)
{
    return is_L(c) && !cjk(c);
}
static size_t m_ds_letters(const uint32_t *c, size_t p, size_t end)
{
    size_t sp = is_S(c[p]) && p + 1 < end && ds_letter(c[p + 1]) ? 1 : 0;
    size_t n = run(c, p + sp, end, ds_letter);
    return n ? sp + n : 0;
}
static bool ds_punct(uint32_t c)
{
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '~') || (c >= 0xFF01 && c <= 0xFF0F) ||
           (c >= 0xFF1A && c <= 0xFF5E) || (c >= 0x2018 && c <= 0x201F) ||
           (c >= 0x3000 && c <= 0x3002);
}
static size_t m_ds_punct(const uint32_t *c, size_t p, size_t end)
{
    size_t sp = is_S(c[p]) && p + 1 < end && ds_punct(c[p + 1]) ? 1 : 0;
    size_t n = run(c, p + sp, end, ds_punct);
    return n ? sp + n : 0;
}
static size_t m_trailing_space(const uint32_t *c, size_t p, size_t end)
{
    size_t w = run(c, p, end, is_S);
    return w && p + w == end ? w : 0;
}

struct pre_family {
    const char *names; /* "|a|b|" */
    matcher steps[6];
};

static const struct pre_family FAMILIES[] = {
    {"|gpt-2|mpt|olmo|jais|trillion|default|", {m_gpt2}},
    {"|starcoder|refact|command-r|smollm|codeshell|exaone|minerva|", {m_digit, m_gpt2}},
    {"|falcon|", {m_falcon_punct, m_gpt2, m_3digits}},
    {"|llama3|llama-bpe|llama-v3|dbrx|smaug-bpe|tekken|", {m_llama3}},
    {"|qwen2|qwen35|deepseek-r1-qwen|stablelm2|", {m_qwen2}},
    {"|deepseek-coder|", {m_crlf, m_sp_letters, m_sp_punct, m_cjk, m_digit}},
    {"|deepseek-llm|", {m_crlf, m_ds_letters, m_ds_punct, m_trailing_space, m_cjk, m_digits}},
};

int rg_bpe_pre_family(const char *pre)
{
    char key[80];
    snprintf(key, sizeof key, "|%.70s|", pre && *pre ? pre : "default");
    for (size_t i = 0; i < RG_ARRAY_LEN(FAMILIES); i++)
        if (strstr(FAMILIES[i].names, key)) return (int)i;
    return -1;
}

/* Splits text into words; calls fn for each. */
static int pre_tokenize(int family, const char *text, size_t len,
                        int (*fn)(void *, const char *, size_t), void *ctx)
{
    uint32_t *cp = rg_malloc_array(len + 1, sizeof *cp);
    size_t *byte_at = rg_malloc_array(len + 1, sizeof *byte_at);
    struct frags a = {0}, b = {0};
    int rc = cp && byte_at ? RG_OK : RG_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; rc == RG_OK && i < len;) {
        size_t l;
        cp[n] = rg_utf8_decode(text + i, len - i, &l);
        byte_at[n++] = i;
        i += l;
    }
    if (byte_at) byte_at[n] = len;
    if (rc == RG_OK) rc = push(&a, 0);
    if (rc == RG_OK) rc = push(&a, n);
    const struct pre_family *f = &FAMILIES[family];
    for (size_t s = 0; rc == RG_OK && s < RG_ARRAY_LEN(f->steps) && f->steps[s]; s++) {
        rc = split(cp, &a, &b, f->steps[s]);
        struct frags t = a;
        a = b;
        b = t;
    }
    for (size_t i = 0; rc == RG_OK && i + 1 < a.n; i++)
        if (a.v[i + 1] > a.v[i])
            rc = fn(ctx, text + byte_at[a.v[i]], byte_at[a.v[i + 1]] - byte_at[a.v[i]]);
    rg_free(a.v);
    rg_free(b.v);
    rg_free(cp);
    rg_free(byte_at);
    return rc;
}

/* ---- byte-level encoding (GPT-2) ---- */

static uint32_t byte_cp[256];
static int16_t cp_byte[512];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* Printable bytes keep their code point; the others take 256, 257, ... in
 * byte order, so every byte has a visible character. */
static void tables_init(void)
{
    uint32_t k = 0;
    for (int i = 0; i < 512; i++)
        cp_byte[i] = -1;
    for (unsigned b = 0; b < 256; b++) {
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        byte_cp[b] = printable ? b : 256 + k++;
        cp_byte[byte_cp[b]] = (int16_t)b;
    }
}

static uint32_t byte_to_cp(uint8_t b)
{
    return byte_cp[b];
}

/* ---- merging ---- */

struct sym {
    int32_t prev, next;
    size_t start, n; /* bytes of the encoded word */
};
struct cand {
    int32_t left, right;
    int32_t rank;
    size_t size;
};

static bool cand_below(const struct cand *a, const struct cand *b)
{
    /* min-heap on rank, then leftmost */
    return a->rank > b->rank || (a->rank == b->rank && a->left > b->left);
}

struct heap {
    struct cand *v;
    size_t n, cap;
};

static int hpush(struct heap *h, struct cand c)
{
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        struct cand *v = rg_realloc(h->v, nc * sizeof *v);
        if (!v) return RG_ENOMEM;
        h->v = v;
        h->cap = nc;
    }
    size_t i = h->n++;
    h->v[i] = c;
    while (i) {
        size_t p = (i - 1) / 2;
        if (!cand_below(&h->v[p], &h->v[i])) break;
        struct cand t = h->v[p];
        h->v[p] = h->v[i];
        h->v[i] = t;
        i = p;
    }
    return RG_OK;
}

static struct cand hpop(struct heap *h)
{
    struct cand top = h->v[0];
    h->v[0] = h->v[--h->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && cand_below(&h->v[m], &h->v[l])) m = l;
        if (r < h->n && cand_below(&h->v[m], &h->v[r])) m = r;
        if (m == i) break;
        struct cand t = h->v[m];
        h->v[m] = h->v[i];
        h->v[i] = t;
        i = m;
    }
    return top;
}

struct word_ctx {
    const struct rg_bpe *bpe;
    void *out;
    void (*emit)(void *out, int32_t id);
    char *buf; /* encoded word */
    size_t cap;
};

static int try_pair(const struct rg_bpe *bpe, const char *w, struct sym *s, int32_t l,
                    struct heap *h)
{
    if (l < 0 || s[l].next < 0) return RG_OK;
    int32_t r = s[l].next;
    int32_t rank = rg_bpe_rank(bpe, w + s[l].start, s[l].n, w + s[r].start, s[r].n);
    if (rank < 0) return RG_OK;
    return hpush(h, (struct cand){l, r, rank, s[l].n + s[r].n});
}

static int bpe_word(void *vctx, const char *word, size_t len)
{
    struct word_ctx *x = vctx;
    size_t need = len * 2 + 1;
    if (need > x->cap) {
        char *nb = rg_realloc(x->buf, need);
        if (!nb) return RG_ENOMEM;
        x->buf = nb;
        x->cap = need;
    }
    size_t wl = 0;
    for (size_t i = 0; i < len; i++)
        wl += rg_utf8_encode(byte_to_cp((uint8_t)word[i]), x->buf + wl);
    const char *w = x->buf;
    /* the whole word is often a token by itself */
    int32_t whole = x->bpe->find(x->bpe->vocab, w, wl);
    if (whole >= 0) {
        x->emit(x->out, whole);
        return RG_OK;
    }
    struct sym *s = rg_malloc_array(wl, sizeof *s);
    struct heap h = {0};
    if (!s) return RG_ENOMEM;
    int32_t n = 0;
    for (size_t i = 0; i < wl;) {
        size_t cl;
        rg_utf8_decode(w + i, wl - i, &cl);
        s[n] = (struct sym){n - 1, -1, i, cl};
        if (n) s[n - 1].next = n;
        n++;
        i += cl;
    }
    int rc = RG_OK;
    for (int32_t i = 0; i + 1 < n && rc == RG_OK; i++)
        rc = try_pair(x->bpe, w, s, i, &h);
    while (rc == RG_OK && h.n) {
        struct cand c = hpop(&h);
        struct sym *L = &s[c.left], *R = &s[c.right];
        if (!L->n || !R->n || L->n + R->n != c.size || L->next != c.right) continue;
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0) s[R->next].prev = c.left;
        rc = try_pair(x->bpe, w, s, L->prev, &h);
        if (rc == RG_OK) rc = try_pair(x->bpe, w, s, c.left, &h);
    }
    for (int32_t i = 0; rc == RG_OK && n && i >= 0; i = s[i].next) {
        if (!s[i].n) continue;
        int32_t id = x->bpe->find(x->bpe->vocab, w + s[i].start, s[i].n);
        if (id >= 0) {
            x->emit(x->out, id);
            continue;
        }
        for (size_t k = 0; k < s[i].n;) { /* each encoded character alone */
            size_t cl;
            rg_utf8_decode(w + s[i].start + k, s[i].n - k, &cl);
            int32_t b = x->bpe->find(x->bpe->vocab, w + s[i].start + k, cl);
            if (b >= 0) x->emit(x->out, b);
            k += cl;
        }
    }
    rg_free(h.v);
    rg_free(s);
    return rc;
}

int rg_bpe_tokenize(const struct rg_bpe *bpe, const char *text, size_t len, void *out,
                    void (*emit)(void *out, int32_t id))
{
    pthread_once(&tables_once, tables_init);
    struct word_ctx x = {bpe, out, emit, NULL, 0};
    int rc = pre_tokenize(bpe->family, text, len, bpe_word, &x);
    rg_free(x.buf);
    return rc;
}

/* Decoding: GPT-2 code points back to bytes. */
size_t rg_bpe_decode(const char *piece, size_t len, char *out, size_t cap)
{
    pthread_once(&tables_once, tables_init);
    const int16_t *rev = cp_byte;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t cl;
        uint32_t cp = rg_utf8_decode(piece + i, len - i, &cl);
        if (cp < 512 && rev[cp] >= 0) {
            if (n < cap) out[n] = (char)rev[cp];
            n++;
        } else {
            for (size_t k = 0; k < cl; k++, n++)
                if (n < cap) out[n] = piece[i + k];
        }
        i += cl;
    }
    return n;
}

static uint64_t hash2(const char *a, size_t an, const char *b, size_t bn)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < an; i++)
        h = (h ^ (unsigned char)a[i]) * 1099511628211ull;
    h = (h ^ ' ') * 1099511628211ull;
    for (size_t i = 0; i < bn; i++)
        h = (h ^ (unsigned char)b[i]) * 1099511628211ull;
    return h;
}

static bool merge_is(const struct rg_bpe *bpe, int32_t r, const char *a, size_t an, const char *b,
                     size_t bn)
{
    return bpe->merge_len[r] == an + 1 + bn && !memcmp(bpe->merge[r], a, an) &&
           bpe->merge[r][an] == ' ' && !memcmp(bpe->merge[r] + an + 1, b, bn);
}

int32_t rg_bpe_rank(const struct rg_bpe *bpe, const char *a, size_t an, const char *b, size_t bn)
{
    size_t mask = bpe->cap - 1, i = hash2(a, an, b, bn) & mask;
    while (bpe->slots[i] >= 0) {
        if (merge_is(bpe, bpe->slots[i], a, an, b, bn)) return bpe->slots[i];
        i = (i + 1) & mask;
    }
    return -1;
}

int rg_bpe_init(struct rg_bpe *bpe)
{
    bpe->cap = 16;
    while (bpe->cap < (size_t)bpe->n_merges * 2)
        bpe->cap <<= 1;
    bpe->slots = rg_malloc_array(bpe->cap, sizeof *bpe->slots);
    if (!bpe->slots) return RG_ENOMEM;
    for (size_t i = 0; i < bpe->cap; i++)
        bpe->slots[i] = -1;
    for (int32_t r = 0; r < bpe->n_merges; r++) {
        const char *sp = memchr(bpe->merge[r], ' ', bpe->merge_len[r]);
        if (!sp || sp == bpe->merge[r]) continue; /* malformed merge: never applies */
        size_t an = (size_t)(sp - bpe->merge[r]), bn = bpe->merge_len[r] - an - 1;
        if (rg_bpe_rank(bpe, bpe->merge[r], an, sp + 1, bn) >= 0) continue; /* first rank wins */
        size_t mask = bpe->cap - 1, i = hash2(bpe->merge[r], an, sp + 1, bn) & mask;
        while (bpe->slots[i] >= 0)
            i = (i + 1) & mask;
        bpe->slots[i] = r;
    }
    return RG_OK;
}
