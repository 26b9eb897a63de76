/*
 * Vocabulary from GGUF metadata (tokenizer.ggml.*) and the SentencePiece
 * tokenizer of the llama family, with detokenization that streams whole
 * UTF-8 characters.
 *
 * SPM: the text gets a leading space (add_space_prefix), spaces become U+2581,
 * and adjacent symbols (UTF-8 characters at first) are merged best score
 * first, leftmost first on ties, as long as the merged string is a token; what
 * is left and not a token falls back to its bytes (<0xXX> tokens) or <unk>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/str.h"
#include "engine/tokenizer/bpe_internal.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/unicode.h"

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

struct rg_vocab {
    enum rg_vocab_kind kind;
    int32_t n;
    const char **text; /* owned by the GGUF handle */
    size_t *len;
    float *score;
    int32_t *type;
    int32_t bos, eos, unk, eot, eom, pad;
    bool add_bos, add_eos, add_space_prefix;
    int32_t byte_tok[256]; /* <0xXX> ids or -1 */
    int32_t *slots;        /* text -> id hash */
    size_t cap;
    bool *eog;
    int32_t *specials; /* control and user-defined ids, longest first, for parse_special */
    int32_t n_specials;
    struct rg_bpe bpe; /* byte-level BPE only */
    size_t max_len;    /* longest token text, bytes */
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int32_t find_n(const struct rg_vocab *v, const char *s, size_t n)
{
    size_t mask = v->cap - 1, i = hash_bytes(s, n) & mask;
    while (v->slots[i] >= 0) {
        int32_t id = v->slots[i];
        if (v->len[id] == n && !memcmp(v->text[id], s, n)) return id;
        i = (i + 1) & mask;
    }
    return -1;
}

int32_t rg_vocab_find(const struct rg_vocab *v, const char *text)
{
    return find_n(v, text, strlen(text));
}

void rg_vocab_free(struct rg_vocab *v)
{
    if (!v) return;
    rg_free(v->text);
    rg_free(v->len);
    rg_free(v->score);
    rg_free(v->type);
    rg_free(v->slots);
    rg_free(v->eog);
    rg_free(v->specials);
    rg_free(v->bpe.merge);
    rg_free(v->bpe.merge_len);
    rg_free(v->bpe.slots);
    rg_free(v);
}

static int32_t find_cb(const void *vocab, const char *s, size_t n)
{
    return find_n(vocab, s, n);
}

static int load_bpe(const struct rg_gguf *g, struct rg_vocab *v, char *err)
{
    const char *pre = NULL;
    rg_gguf_get_str(g, "tokenizer.ggml.pre", &pre);
    v->bpe.family = rg_bpe_pre_family(pre);
    if (v->bpe.family < 0)
        return rg_err_set(err, RG_EUNSUPPORTED, "pre-tokenizer '%.40s' is not supported yet", pre);
    v->bpe.vocab = v;
    v->bpe.find = find_cb;
    enum rg_gguf_type et;
    uint64_t n = 0;
    if (rg_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n) == RG_OK) {
        if (et != RG_GGUF_STRING || n > (1u << 24))
            return rg_err_set(err, RG_EFORMAT, "tokenizer.ggml.merges must be an array of strings");
        v->bpe.merge = rg_calloc(n + 1, sizeof *v->bpe.merge);
        v->bpe.merge_len = rg_calloc(n + 1, sizeof *v->bpe.merge_len);
        if (!v->bpe.merge || !v->bpe.merge_len) return rg_err_set(err, RG_ENOMEM, "out of memory");
        for (uint64_t i = 0; i < n; i++)
            rg_gguf_arr_str(g, "tokenizer.ggml.merges", i, &v->bpe.merge[i], &v->bpe.merge_len[i]);
        v->bpe.n_merges = (int32_t)n;
    }
    return rg_bpe_init(&v->bpe) == RG_OK ? RG_OK : rg_err_set(err, RG_ENOMEM, "out of memory");
}

static int32_t get_id(const struct rg_gguf *g, const char *key, int32_t n, int32_t def)
{
    uint32_t id;
    if (rg_gguf_get_u32(g, key, &id) != RG_OK || id >= (uint32_t)n) return def;
    return (int32_t)id;
}

static bool get_bool(const struct rg_gguf *g, const char *key, bool def)
{
    bool b;
    return rg_gguf_get_bool(g, key, &b) == RG_OK ? b : def;
}

static int by_len_desc(const void *a, const void *b, void *ctx)
{
    const struct rg_vocab *v = ctx;
    size_t la = v->len[*(const int32_t *)a], lb = v->len[*(const int32_t *)b];
    return la < lb ? 1 : la > lb ? -1 : 0;
}

/* qsort_r is a GNU extension; a plain insertion of a few hundred specials is fine */
static void sort_specials(struct rg_vocab *v)
{
    for (int32_t i = 1; i < v->n_specials; i++) {
        int32_t x = v->specials[i], j = i - 1;
        while (j >= 0 && by_len_desc(&v->specials[j], &x, v) > 0) {
            v->specials[j + 1] = v->specials[j];
            j--;
        }
        v->specials[j + 1] = x;
    }
}

int rg_vocab_load(const struct rg_gguf *g, struct rg_vocab **out, char err[RG_ERR_SIZE])
{
    *out = NULL;
    const char *model = NULL;
    if (rg_gguf_get_str(g, "tokenizer.ggml.model", &model) != RG_OK)
        return rg_err_set(err, RG_EFORMAT, "missing tokenizer.ggml.model");
    enum rg_vocab_kind kind;
    if (!strcmp(model, "llama"))
        kind = RG_VOCAB_SPM;
    else if (!strcmp(model, "gpt2"))
        kind = RG_VOCAB_BPE;
    else if (!strcmp(model, "bert"))
        kind = RG_VOCAB_WPM;
    else
        return rg_err_set(err, RG_EUNSUPPORTED, "tokenizer model '%.40s' is not supported", model);
    enum rg_gguf_type et;
    uint64_t n;
    if (rg_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) != RG_OK || et != RG_GGUF_STRING)
        return rg_err_set(err, RG_EFORMAT, "missing or malformed tokenizer.ggml.tokens");
    if (n == 0 || n > (1u << 24))
        return rg_err_set(err, RG_EFORMAT, "vocabulary of %llu tokens", (unsigned long long)n);
    struct rg_vocab *v = rg_calloc(1, sizeof *v);
    if (!v) return rg_err_set(err, RG_ENOMEM, "out of memory");
    v->kind = kind;
    v->n = (int32_t)n;
    v->text = rg_calloc(n, sizeof *v->text);
    v->len = rg_calloc(n, sizeof *v->len);
    v->score = rg_calloc(n, sizeof *v->score);
    v->type = rg_calloc(n, sizeof *v->type);
    v->eog = rg_calloc(n, sizeof *v->eog);
    v->cap = 16;
    while (v->cap < n * 2)
        v->cap <<= 1;
    v->slots = rg_malloc_array(v->cap, sizeof *v->slots);
    if (!v->text || !v->len || !v->score || !v->type || !v->eog || !v->slots) {
        rg_vocab_free(v);
        return rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < v->cap; i++)
        v->slots[i] = -1;
    for (uint64_t i = 0; i < n; i++) {
        rg_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &v->text[i], &v->len[i]);
        v->type[i] = TT_NORMAL;
    }
    uint64_t ns;
    if (rg_gguf_get_arr(g, "tokenizer.ggml.scores", NULL, &ns) == RG_OK &&
        (ns != n || rg_gguf_arr_f32(g, "tokenizer.ggml.scores", v->score, n) != RG_OK)) {
        rg_vocab_free(v);
        return rg_err_set(err, RG_EFORMAT, "tokenizer.ggml.scores does not match the %llu tokens",
                          (unsigned long long)n);
    }
    if (rg_gguf_get_arr(g, "tokenizer.ggml.token_type", NULL, &ns) == RG_OK &&
        (ns != n || rg_gguf_arr_i32(g, "tokenizer.ggml.token_type", v->type, n) != RG_OK)) {
        rg_vocab_free(v);
        return rg_err_set(err, RG_EFORMAT,
                          "tokenizer.ggml.token_type does not match the %llu tokens",
                          (unsigned long long)n);
    }
    /* text -> id; the first of duplicate texts wins */
    for (int32_t i = 0; i < v->n; i++) {
        if (find_n(v, v->text[i], v->len[i]) >= 0) continue;
        size_t mask = v->cap - 1, h = hash_bytes(v->text[i], v->len[i]) & mask;
        while (v->slots[h] >= 0)
            h = (h + 1) & mask;
        v->slots[h] = i;
    }
    for (int32_t i = 0; i < v->n; i++)
        if (v->len[i] > v->max_len) v->max_len = v->len[i];
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        v->byte_tok[b] = find_n(v, name, 6);
    }
    bool spm = kind == RG_VOCAB_SPM, wpm = kind == RG_VOCAB_WPM;
    v->bos = get_id(g, "tokenizer.ggml.bos_token_id", v->n, spm ? (v->n > 1 ? 1 : -1) : -1);
    v->eos = get_id(g, "tokenizer.ggml.eos_token_id", v->n, spm ? (v->n > 2 ? 2 : -1) : -1);
    v->unk = get_id(g, "tokenizer.ggml.unknown_token_id", v->n, spm ? 0 : -1);
    v->eot = get_id(g, "tokenizer.ggml.eot_token_id", v->n, -1);
    v->eom = get_id(g, "tokenizer.ggml.eom_token_id", v->n, -1);
    v->pad = get_id(g, "tokenizer.ggml.padding_token_id", v->n, -1);
    if (wpm) {
        v->bos = get_id(g, "tokenizer.ggml.cls_token_id", v->n, v->bos);
        v->eos = get_id(g, "tokenizer.ggml.seperator_token_id", v->n, v->eos);
    }
    v->add_bos = get_bool(g, "tokenizer.ggml.add_bos_token", spm || wpm);
    v->add_eos = get_bool(g, "tokenizer.ggml.add_eos_token", wpm);
    v->add_space_prefix = get_bool(g, "tokenizer.ggml.add_space_prefix", spm);
    /* end of generation: eos, eot, eom, and the end-of-turn markers of the
     * common chat formats when the file does not name them */
    static const char *const eog_texts[] = {"<|eot_id|>",    "<|im_end|>",    "<|end|>",
                                            "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
                                            "</s>"};
    int32_t ids[] = {v->eos, v->eot, v->eom};
    for (size_t i = 0; i < RG_ARRAY_LEN(ids); i++)
        if (ids[i] >= 0) v->eog[ids[i]] = true;
    for (size_t i = 0; i < RG_ARRAY_LEN(eog_texts); i++) {
        int32_t id = rg_vocab_find(v, eog_texts[i]);
        if (id >= 0 && (v->type[id] == TT_CONTROL || v->type[id] == TT_USER)) v->eog[id] = true;
    }
    /* specials to match in text: never an empty one (the empty string would
     * match everywhere without advancing), so count exactly what is stored */
    for (int32_t i = 0; i < v->n; i++)
        if ((v->type[i] == TT_CONTROL || v->type[i] == TT_USER) && v->len[i] > 0) v->n_specials++;
    v->specials = rg_calloc((size_t)v->n_specials + 1, sizeof *v->specials);
    if (!v->specials) {
        rg_vocab_free(v);
        return rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    for (int32_t i = 0, k = 0; i < v->n; i++)
        if ((v->type[i] == TT_CONTROL || v->type[i] == TT_USER) && v->len[i] > 0)
            v->specials[k++] = i;
    sort_specials(v);
    if (kind == RG_VOCAB_BPE) {
        int rc = load_bpe(g, v, err);
        if (rc) {
            rg_vocab_free(v);
            return rc;
        }
    }
    *out = v;
    return RG_OK;
}

enum rg_vocab_kind rg_vocab_kind(const struct rg_vocab *v)
{
    return v->kind;
}
int32_t rg_vocab_n_tokens(const struct rg_vocab *v)
{
    return v->n;
}
int32_t rg_vocab_bos(const struct rg_vocab *v)
{
    return v->bos;
}
int32_t rg_vocab_eos(const struct rg_vocab *v)
{
    return v->eos;
}
bool rg_vocab_add_bos(const struct rg_vocab *v)
{
    return v->add_bos && v->bos >= 0;
}
bool rg_vocab_add_eos(const struct rg_vocab *v)
{
    return v->add_eos && v->eos >= 0;
}
bool rg_vocab_is_eog(const struct rg_vocab *v, int32_t id)
{
    return id >= 0 && id < v->n && v->eog[id];
}
bool rg_vocab_is_control(const struct rg_vocab *v, int32_t id)
{
    return id >= 0 && id < v->n && v->type[id] == TT_CONTROL;
}
const char *rg_vocab_text(const struct rg_vocab *v, int32_t id)
{
    return id >= 0 && id < v->n ? v->text[id] : NULL;
}

/* ---- SentencePiece ---- */

struct sym {
    int32_t prev, next;
    size_t start, n;
};
struct bigram {
    int32_t left, right;
    float score;
    size_t size;
};

struct heap {
    struct bigram *v;
    size_t n, cap;
};

static bool bg_less(const struct bigram *a, const struct bigram *b)
{
    /* a below b in the max-heap: lower score, or equal score and further right */
    return a->score < b->score || (a->score == b->score && a->left > b->left);
}

static int heap_push(struct heap *h, struct bigram b)
{
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        struct bigram *v = rg_realloc(h->v, nc * sizeof *v);
        if (!v) return RG_ENOMEM;
        h->v = v;
        h->cap = nc;
    }
    size_t i = h->n++;
    h->v[i] = b;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bg_less(&h->v[p], &h->v[i])) break;
        struct bigram t = h->v[p];
        h->v[p] = h->v[i];
        h->v[i] = t;
        i = p;
    }
    return RG_OK;
}

static struct bigram heap_pop(struct heap *h)
{
    struct bigram top = h->v[0];
    h->v[0] = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && bg_less(&h->v[m], &h->v[l])) m = l;
        if (r < h->n && bg_less(&h->v[m], &h->v[r])) m = r;
        if (m == i) break;
        struct bigram t = h->v[m];
        h->v[m] = h->v[i];
        h->v[i] = t;
        i = m;
    }
    return top;
}

struct out {
    int32_t *v;
    size_t cap, n;
    bool overflow;
};

static void emit(struct out *o, int32_t id)
{
    if (o->n < o->cap)
        o->v[o->n] = id;
    else
        o->overflow = true;
    o->n++;
}

/* <unk>, when the vocabulary has one (a file may name none: then what no
 * token covers is dropped, as byte-level BPE drops a byte it has no token for,
 * rather than emitting an id out of range) */
static void emit_unk(const struct rg_vocab *v, struct out *o)
{
    if (v->unk >= 0) emit(o, v->unk);
}

static int try_pair(const struct rg_vocab *v, const char *text, struct sym *s, int32_t l,
                    struct heap *h)
{
    if (l < 0 || s[l].next < 0) return RG_OK;
    int32_t r = s[l].next;
    int32_t id = find_n(v, text + s[l].start, s[l].n + s[r].n);
    if (id < 0) return RG_OK;
    return heap_push(h, (struct bigram){l, r, v->score[id], s[l].n + s[r].n});
}

static int spm_fragment(const struct rg_vocab *v, const char *text, size_t len, struct out *o)
{
    if (len == 0) return RG_OK;
    struct sym *s = rg_malloc_array(len, sizeof *s);
    struct heap h = {0};
    if (!s) return RG_ENOMEM;
    int32_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t cl = 1;
        unsigned char c = (unsigned char)text[i];
        if (c >= 0xF0)
            cl = 4;
        else if (c >= 0xE0)
            cl = 3;
        else if (c >= 0xC0)
            cl = 2;
        if (cl > len - i) cl = len - i;
        s[n] = (struct sym){n - 1, -1, i, cl};
        if (n > 0) s[n - 1].next = n;
        n++;
        i += cl;
    }
    int rc = RG_OK;
    for (int32_t i = 0; i + 1 < n && rc == RG_OK; i++)
        rc = try_pair(v, text, s, i, &h);
    while (rc == RG_OK && h.n > 0) {
        struct bigram b = heap_pop(&h);
        struct sym *L = &s[b.left], *R = &s[b.right];
        if (L->n == 0 || R->n == 0 || L->n + R->n != b.size || L->next != b.right) continue;
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0) s[R->next].prev = b.left;
        rc = try_pair(v, text, s, L->prev, &h);
        if (rc == RG_OK) rc = try_pair(v, text, s, b.left, &h);
    }
    for (int32_t i = 0; rc == RG_OK && i != -1 && n > 0; i = s[i].next) {
        if (s[i].n == 0) continue;
        int32_t id = find_n(v, text + s[i].start, s[i].n);
        if (id >= 0) {
            emit(o, id);
            continue;
        }
        for (size_t k = 0; k < s[i].n; k++) {
            int32_t bt = v->byte_tok[(unsigned char)text[s[i].start + k]];
            if (bt >= 0)
                emit(o, bt);
            else
                emit_unk(v, o);
        }
    }
    rg_free(h.v);
    rg_free(s);
    return rc;
}

/* Escapes spaces as U+2581 and adds the leading space when asked. */
static int spm_text(const struct rg_vocab *v, const char *text, size_t len, bool prefix,
                    struct out *o)
{
    size_t n_sp = 0;
    for (size_t i = 0; i < len; i++)
        n_sp += text[i] == ' ';
    size_t cap = len + 2 * (n_sp + 1) + 4;
    char *buf = rg_malloc(cap);
    if (!buf) return RG_ENOMEM;
    size_t k = 0;
    if (prefix) {
        memcpy(buf, "\xe2\x96\x81", 3);
        k = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(buf + k, "\xe2\x96\x81", 3);
            k += 3;
        } else {
            buf[k++] = text[i];
        }
    }
    int rc = spm_fragment(v, buf, k, o);
    rg_free(buf);
    return rc;
}

static void emit_cb(void *o, int32_t id)
{
    emit(o, id);
}

/* ---- WordPiece (BERT) ---- */

static bool chinese_char(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* One word: "\xe2\x96\x81" + word, greedy longest match from the left; a word
 * that cannot be covered becomes one <unk>. */
static int wpm_word(const struct rg_vocab *v, const char *w, size_t wl, struct out *o)
{
    if (!wl) return RG_OK;
    size_t n = wl + 3, start = o->n;
    char *buf = rg_malloc(n);
    if (!buf) return RG_ENOMEM;
    memcpy(buf, "\xe2\x96\x81", 3);
    memcpy(buf + 3, w, wl);
    for (size_t i = 0; i < n;) {
        bool match = false;
        for (size_t j = RG_MIN(n, i + v->max_len + 1); j > i; j--) {
            int32_t id = find_n(v, buf + i, j - i);
            if (id >= 0) {
                emit(o, id);
                i = j;
                match = true;
                break;
            }
        }
        if (!match) {
            o->n = start; /* discard the word's pieces */
            break;
        }
    }
    if (o->n == start) emit_unk(v, o);
    rg_free(buf);
    return RG_OK;
}

static int wpm_text(const struct rg_vocab *v, const char *text, size_t len, struct out *o)
{
    char *word = rg_malloc(len * 12 + 16);
    if (!word) return RG_ENOMEM;
    size_t wl = 0;
    int rc = RG_OK;
    for (size_t i = 0; rc == RG_OK && i < len;) {
        size_t cl;
        uint32_t cp = rg_utf8_decode(text + i, len - i, &cl);
        i += cl;
        uint32_t nfd[8];
        size_t nn = rg_unicode_nfd(cp, nfd, 8);
        for (size_t k = 0; k < nn; k++) {
            uint32_t c = nfd[k];
            unsigned f = rg_unicode_flags(c);
            if (rg_unicode_is_space(c)) {
                rc = rc ? rc : wpm_word(v, word, wl, o);
                wl = 0;
                continue;
            }
            /* accents go, as in BERT's uncased normalization (the reference
             * vectors expect "Äpfel" as "apfel") */
            if (c == 0 || c == 0xFFFD || (f & (RG_UC_CONTROL | RG_UC_MARK))) continue;
            char u[4];
            size_t ul = rg_utf8_encode(rg_unicode_tolower(c), u);
            if ((f & RG_UC_PUNCT) || (c < 0x7F && (f & RG_UC_SYMBOL)) || chinese_char(c)) {
                rc = rc ? rc : wpm_word(v, word, wl, o);
                rc = rc ? rc : wpm_word(v, u, ul, o);
                wl = 0;
            } else {
                memcpy(word + wl, u, ul);
                wl += ul;
            }
        }
    }
    if (rc == RG_OK) rc = wpm_word(v, word, wl, o);
    rg_free(word);
    return rc;
}

/* Whether the control token id may be recognised at text[i]: everywhere when
 * there is no mask, else only where each of its bytes is the template's. */
static bool special_allowed(const struct rg_vocab *v, int32_t id, const uint8_t *mask, size_t i)
{
    if (!mask) return true;
    for (size_t k = 0; k < v->len[id]; k++)
        if (!mask[i + k]) return false;
    return true;
}

/* rg_tokenize with BOS and EOS chosen separately and, for control tokens, an
 * optional per-byte mask of where they may be recognised (NULL: wherever
 * parse_special allows). */
static int tokenize(const struct rg_vocab *v, const char *text, size_t len, bool bos, bool eos,
                    bool parse_special, const uint8_t *mask, int32_t *out, size_t cap,
                    size_t *n_out)
{
    struct out o = {out, cap, 0, false};
    if (bos && rg_vocab_add_bos(v)) emit(&o, v->bos);
    int rc = RG_OK;
    size_t pos = 0;
    bool first = true;
    while (rc == RG_OK && pos < len) {
        /* next special token in the text: user-defined ones always (as
         * llama.cpp does), control ones only when asked to parse them */
        size_t next = len;
        int32_t sid = -1;
        for (size_t i = pos; i < len && sid < 0; i++)
            for (int32_t k = 0; k < v->n_specials; k++) {
                int32_t id = v->specials[k];
                bool user = v->type[id] == TT_USER;
                if (!parse_special && !user) continue;
                if (v->len[id] <= len - i && !memcmp(text + i, v->text[id], v->len[id]) &&
                    (user || special_allowed(v, id, mask, i))) {
                    sid = id;
                    next = i;
                    break;
                }
            }
        if (next > pos) {
            if (v->kind == RG_VOCAB_SPM)
                rc = spm_text(v, text + pos, next - pos, v->add_space_prefix && first, &o);
            else if (v->kind == RG_VOCAB_WPM)
                rc = wpm_text(v, text + pos, next - pos, &o);
            else
                rc = rg_bpe_tokenize(&v->bpe, text + pos, next - pos, &o, emit_cb);
        }
        first = false;
        if (sid >= 0) {
            emit(&o, sid);
            pos = next + v->len[sid];
        } else {
            pos = next;
        }
    }
    if (rc == RG_OK && eos && rg_vocab_add_eos(v)) emit(&o, v->eos);
    *n_out = o.n;
    if (rc) return rc;
    return o.overflow ? RG_ETOOBIG : RG_OK;
}

static int tokenize_alloc(const struct rg_vocab *v, const char *text, size_t len, bool bos,
                          bool eos, bool parse_special, const uint8_t *mask, int32_t **out,
                          size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    size_t cap = len + 16;
    for (int attempt = 0; attempt < 2; attempt++) {
        int32_t *t = rg_malloc_array(cap, sizeof *t);
        if (!t) return RG_ENOMEM;
        size_t n = 0;
        int rc = tokenize(v, text, len, bos, eos, parse_special, mask, t, cap, &n);
        if (rc == RG_OK) {
            *out = t;
            *n_out = n;
            return RG_OK;
        }
        rg_free(t);
        if (rc != RG_ETOOBIG || n <= cap) return rc;
        cap = n; /* the count it needed */
    }
    return RG_ETOOBIG;
}

int rg_tokenize(const struct rg_vocab *v, const char *text, size_t len, bool add_special,
                bool parse_special, int32_t *out, size_t cap, size_t *n_out)
{
    return tokenize(v, text, len, add_special, add_special, parse_special, NULL, out, cap, n_out);
}

int rg_tokenize_alloc(const struct rg_vocab *v, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t **out, size_t *n_out)
{
    return tokenize_alloc(v, text, len, add_special, add_special, parse_special, NULL, out, n_out);
}

int rg_tokenize_alloc_masked(const struct rg_vocab *v, const char *text, size_t len,
                             const uint8_t *special_ok, bool add_bos, int32_t **out, size_t *n_out)
{
    return tokenize_alloc(v, text, len, add_bos, false, true, special_ok, out, n_out);
}

int rg_token_to_piece(const struct rg_vocab *v, int32_t id, bool special, char *buf, size_t cap)
{
    if (id < 0 || id >= v->n) return RG_EINVAL;
    int t = v->type[id];
    size_t n = 0;
    char tmp[8];
    const char *src = v->text[id];
    size_t sl = v->len[id];
    if (t == TT_CONTROL || t == TT_UNUSED || t == TT_UNKNOWN) {
        if (!special && t != TT_UNKNOWN) sl = 0;
        if (t == TT_UNKNOWN) {
            src = "\xe2\x96\x85"; /* llama.cpp renders <unk> as a block */
            sl = 3;
        }
    } else if (t == TT_BYTE && v->kind == RG_VOCAB_SPM && sl == 6) {
        tmp[0] = (char)strtol(src + 3, NULL, 16);
        src = tmp;
        sl = 1;
    }
    if (v->kind == RG_VOCAB_SPM && (t == TT_NORMAL || t == TT_USER)) {
        /* U+2581 back to spaces */
        for (size_t i = 0; i < sl;) {
            if (i + 3 <= sl && !memcmp(src + i, "\xe2\x96\x81", 3)) {
                if (n < cap) buf[n] = ' ';
                n++;
                i += 3;
            } else {
                if (n < cap) buf[n] = src[i];
                n++;
                i++;
            }
        }
    } else if (v->kind == RG_VOCAB_BPE && t == TT_NORMAL) {
        n = rg_bpe_decode(src, sl, buf, cap);
    } else {
        for (size_t i = 0; i < sl; i++, n++)
            if (n < cap) buf[n] = src[i];
    }
    return (int)n;
}

void rg_detok_init(struct rg_detok *d, const struct rg_vocab *v, bool special)
{
    memset(d, 0, sizeof *d);
    d->vocab = v;
    d->special = special;
    d->first = true;
}

static bool incomplete_tail(const unsigned char *p, size_t n)
{
    size_t need = p[0] >= 0xC2 && p[0] <= 0xDF   ? 2
                  : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
                  : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4
                                                 : 0;
    if (!need || n >= need) return false;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return false;
    return true;
}

/* Appends a piece and hands out the longest valid UTF-8 prefix; an incomplete
 * character at the end waits in `pending` for the next token. */
int rg_detok_push(struct rg_detok *d, int32_t id, char *out, size_t cap)
{
    char piece[256];
    int n = rg_token_to_piece(d->vocab, id, d->special, piece, sizeof piece);
    if (n < 0) return n;
    if ((size_t)n > sizeof piece) n = (int)sizeof piece;
    char all[sizeof piece + sizeof d->pending];
    memcpy(all, d->pending, d->n_pending);
    memcpy(all + d->n_pending, piece, (size_t)n);
    size_t total = d->n_pending + (size_t)n;
    /* pass through everything but an incomplete character at the very end;
     * invalid bytes go out as they are (the model produced them) */
    size_t ok = 0;
    for (;;) {
        ok += rg_utf8_valid_prefix(all + ok, total - ok);
        if (ok == total || incomplete_tail((const unsigned char *)all + ok, total - ok)) break;
        ok++;
    }
    size_t rest = total - ok;
    if (ok > cap) return -1;
    memcpy(out, all, ok);
    memcpy(d->pending, all + ok, rest);
    d->n_pending = rest;
    d->first = false;
    return (int)ok;
}

int rg_detok_flush(struct rg_detok *d, char *out, size_t cap)
{
    size_t n = d->n_pending;
    if (n > cap) return -1;
    memcpy(out, d->pending, n);
    d->n_pending = 0;
    return (int)n;
}
