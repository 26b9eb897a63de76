/*
 * The vocabulary trie and the masked walk (see constrain.h).
 *
 * Building: every indexed token's piece is sorted bytewise; in that order a
 * trie's nodes come out depth first, a prefix before its extensions, so one
 * pass over the sorted pieces (each compared with the one before) appends
 * the nodes a piece adds. A node keeps its byte, its depth, the index just
 * past its subtree, and where its tokens start in the sorted order: the
 * tokens of a subtree are one contiguous run, so pruning a subtree masks a
 * run. End-of-generation tokens and tokens with no bytes stay out of the trie.
 */
#include "engine/constrain/constrain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

struct rg_jg_vocab {
    int32_t n_tokens;
    bool *eog;
    char *bytes;    /* every token's piece, back to back */
    uint32_t *off;  /* n_tokens + 1 offsets into bytes */
    int32_t *order; /* indexed tokens sorted by piece */
    int32_t n_order;
    int32_t *other; /* tokens outside the trie (end of generation, or no bytes) */
    int32_t n_other;
    /* the trie, depth first */
    int32_t n_nodes;
    uint8_t *byte;
    uint16_t *depth;
    int32_t *end;   /* index just past the subtree */
    int32_t *first; /* n_nodes + 1: first token of the subtree in order[] */
    int32_t *here;  /* tokens ending exactly here (the first ones of the subtree) */
    int max_depth;
};

struct piece {
    const char *p;
    uint32_t len;
    int32_t id;
};

static int cmp_piece(const void *a, const void *b)
{
    const struct piece *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void rg_jg_vocab_free(struct rg_jg_vocab *tv)
{
    if (!tv) return;
    rg_free(tv->eog);
    rg_free(tv->bytes);
    rg_free(tv->off);
    rg_free(tv->order);
    rg_free(tv->other);
    rg_free(tv->byte);
    rg_free(tv->depth);
    rg_free(tv->end);
    rg_free(tv->first);
    rg_free(tv->here);
    rg_free(tv);
}

/* Every token's piece into tv->bytes/off (empty when longer than
 * RG_JG_MAX_PIECE or not text). */
static bool read_pieces(struct rg_jg_vocab *tv, const struct rg_vocab *v)
{
    size_t cap = 1 << 16, len = 0;
    char *b = rg_malloc(cap);
    char *one = rg_malloc(RG_JG_MAX_PIECE);
    tv->off = rg_malloc_array((size_t)tv->n_tokens + 1, sizeof *tv->off);
    tv->eog = rg_calloc((size_t)tv->n_tokens + 1, sizeof *tv->eog);
    bool ok = b && one && tv->off && tv->eog;
    for (int32_t i = 0; ok && i < tv->n_tokens; i++) {
        tv->off[i] = (uint32_t)len;
        tv->eog[i] = rg_vocab_is_eog(v, i);
        int n = rg_token_to_piece(v, i, false, one, RG_JG_MAX_PIECE);
        if (n <= 0 || n > RG_JG_MAX_PIECE || tv->eog[i]) continue;
        if (len + (size_t)n > UINT32_MAX) continue; /* past 4 GiB: left out */
        if (len + (size_t)n > cap) {
            char *nb = rg_realloc(b, cap * 2);
            if (!nb) {
                ok = false;
                break;
            }
            b = nb;
            cap *= 2;
        }
        memcpy(b + len, one, (size_t)n);
        len += (size_t)n;
    }
    rg_free(one);
    if (!ok) {
        rg_free(b);
        return false;
    }
    tv->off[tv->n_tokens] = (uint32_t)len;
    tv->bytes = b;
    return true;
}

static bool build_trie(struct rg_jg_vocab *tv)
{
    int32_t n = tv->n_tokens;
    struct piece *ps = rg_malloc_array(n ? (size_t)n : 1, sizeof *ps);
    tv->order = rg_malloc_array(n ? (size_t)n : 1, sizeof *tv->order);
    tv->other = rg_malloc_array(n ? (size_t)n : 1, sizeof *tv->other);
    if (!ps || !tv->order || !tv->other) {
        rg_free(ps);
        return false;
    }
    for (int32_t i = 0; i < n; i++) {
        uint32_t a = tv->off[i], b = tv->off[i + 1];
        if (a == b || tv->eog[i])
            tv->other[tv->n_other++] = i;
        else
            ps[tv->n_order++] = (struct piece){.p = tv->bytes + a, .len = b - a, .id = i};
    }
    qsort(ps, (size_t)tv->n_order, sizeof *ps, cmp_piece);
    /* nodes: at most the bytes of all pieces */
    size_t max_nodes = tv->off[n] + 1;
    tv->byte = rg_malloc(max_nodes);
    tv->depth = rg_malloc_array(max_nodes, sizeof *tv->depth);
    tv->end = rg_malloc_array(max_nodes, sizeof *tv->end);
    tv->first = rg_malloc_array(max_nodes + 1, sizeof *tv->first);
    tv->here = rg_calloc(max_nodes, sizeof *tv->here);
    int32_t path[RG_JG_MAX_PIECE + 1] = {0}; /* the node at each depth of the previous piece */
    bool ok = tv->byte && tv->depth && tv->end && tv->first && tv->here;
    int32_t nodes = 0;
    uint32_t prev_len = 0;
    for (int32_t k = 0; ok && k < tv->n_order; k++) {
        const struct piece *s = &ps[k];
        uint32_t l = 0;
        if (k) {
            const struct piece *p = &ps[k - 1];
            while (l < p->len && l < s->len && p->p[l] == s->p[l])
                l++;
        }
        for (uint32_t d = l + 1; d <= prev_len; d++) /* subtrees that end here */
            tv->end[path[d]] = nodes;
        for (uint32_t d = l + 1; d <= s->len; d++) {
            tv->byte[nodes] = (uint8_t)s->p[d - 1];
            tv->depth[nodes] = (uint16_t)d;
            tv->first[nodes] = k;
            path[d] = nodes++;
        }
        tv->here[path[s->len]]++;
        tv->order[k] = s->id;
        if ((int)s->len > tv->max_depth) tv->max_depth = (int)s->len;
        prev_len = s->len;
    }
    for (uint32_t d = 1; ok && d <= prev_len; d++)
        tv->end[path[d]] = nodes;
    if (ok) tv->first[nodes] = tv->n_order;
    tv->n_nodes = nodes;
    rg_free(ps);
    return ok;
}

struct rg_jg_vocab *rg_jg_vocab_new(const struct rg_vocab *v, char err[RG_ERR_SIZE])
{
    struct rg_jg_vocab *tv = rg_calloc(1, sizeof *tv);
    if (!tv) {
        rg_err_set(err, RG_ENOMEM, "out of memory indexing the vocabulary");
        return NULL;
    }
    tv->n_tokens = rg_vocab_n_tokens(v);
    if (tv->n_tokens < 0) tv->n_tokens = 0;
    if (!read_pieces(tv, v) || !build_trie(tv)) {
        rg_jg_vocab_free(tv);
        rg_err_set(err, RG_ENOMEM, "out of memory indexing the vocabulary");
        return NULL;
    }
    return tv;
}

int32_t rg_jg_vocab_size(const struct rg_jg_vocab *tv)
{
    return tv->n_tokens;
}

int32_t rg_jg_vocab_nodes(const struct rg_jg_vocab *tv)
{
    return tv->n_nodes;
}

bool rg_jg_allows(const struct rg_jg *g, const struct rg_jg_state *st, const struct rg_jg_vocab *tv,
                  int32_t t, struct rg_jg_state *next)
{
    if (t < 0 || t >= tv->n_tokens || st->n == 0) return false;
    if (tv->eog[t]) {
        if (!rg_jg_can_end(g, st)) return false;
        if (next && next != st) rg_jg_copy(next, st);
        return true;
    }
    uint32_t a = tv->off[t], b = tv->off[t + 1];
    if (a == b) return false;
    if (next && next != st) return rg_jg_feed_from(g, st, tv->bytes + a, b - a, next);
    struct rg_jg_state tmp;
    if (!rg_jg_feed_from(g, st, tv->bytes + a, b - a, &tmp)) return false;
    if (next) rg_jg_copy(next, &tmp);
    return true;
}

/* Allowed tokens, as runs of order[] (the walk finds them in increasing order). */
struct runs {
    int32_t (*r)[2];
    int32_t n, cap;
};

static bool add_run(struct runs *rs, int32_t a, int32_t b)
{
    if (rs->n && rs->r[rs->n - 1][1] == a) {
        rs->r[rs->n - 1][1] = b;
        return true;
    }
    if (rs->n == rs->cap) {
        int32_t cap = rs->cap ? rs->cap * 2 : 256;
        void *r = rg_realloc(rs->r, (size_t)cap * sizeof *rs->r);
        if (!r) return false;
        rs->r = r;
        rs->cap = cap;
    }
    rs->r[rs->n][0] = a;
    rs->r[rs->n++][1] = b;
    return true;
}

/* Masks every token but the runs (and the end-of-generation tokens when
 * end): few allowed tokens are saved, the row filled, and they are put
 * back (sequential writes); many, and only the gaps are written. Returns
 * the allowed tokens whose logit was not -INFINITY already. */
static int32_t apply(const struct rg_jg_vocab *tv, const struct runs *rs, bool end, float *logits)
{
    int32_t allowed = 0;
    for (int32_t k = 0; k < rs->n; k++)
        allowed += rs->r[k][1] - rs->r[k][0];
    int32_t n_eog = 0;
    for (int32_t k = 0; k < tv->n_other; k++)
        n_eog += end && tv->eog[tv->other[k]];
    float *keep = allowed < tv->n_tokens / 4
                      ? rg_malloc_array((size_t)(allowed + n_eog) + 1, sizeof *keep)
                      : NULL;
    if (keep) {
        int32_t j = 0;
        for (int32_t k = 0; k < rs->n; k++)
            for (int32_t i = rs->r[k][0]; i < rs->r[k][1]; i++)
                keep[j++] = logits[tv->order[i]];
        for (int32_t k = 0; k < tv->n_other; k++)
            if (end && tv->eog[tv->other[k]]) keep[j++] = logits[tv->other[k]];
        for (int32_t i = 0; i < tv->n_tokens; i++)
            logits[i] = -INFINITY;
        j = 0;
        for (int32_t k = 0; k < rs->n; k++)
            for (int32_t i = rs->r[k][0]; i < rs->r[k][1]; i++)
                logits[tv->order[i]] = keep[j++];
        for (int32_t k = 0; k < tv->n_other; k++)
            if (end && tv->eog[tv->other[k]]) logits[tv->other[k]] = keep[j++];
        int32_t left = 0;
        for (int32_t k = 0; k < j; k++)
            left += keep[k] != -INFINITY;
        rg_free(keep);
        return left;
    }
    int32_t at = 0;
    for (int32_t k = 0; k <= rs->n; k++) {
        int32_t stop = k < rs->n ? rs->r[k][0] : tv->n_order;
        for (int32_t i = at; i < stop; i++)
            logits[tv->order[i]] = -INFINITY;
        if (k < rs->n) at = rs->r[k][1];
    }
    int32_t left = 0;
    for (int32_t k = 0; k < rs->n; k++)
        for (int32_t i = rs->r[k][0]; i < rs->r[k][1]; i++)
            left += logits[tv->order[i]] != -INFINITY;
    for (int32_t k = 0; k < tv->n_other; k++) {
        int32_t t = tv->other[k];
        if (!(end && tv->eog[t]))
            logits[t] = -INFINITY;
        else
            left += logits[t] != -INFINITY;
    }
    return left;
}

int32_t rg_jg_mask(const struct rg_jg *g, const struct rg_jg_state *st,
                   const struct rg_jg_vocab *tv, float *logits, const atomic_bool *cancel)
{
    bool end = st->n > 0 && rg_jg_can_end(g, st);
    struct runs rs = {0};
    if (st->n == 0) return apply(tv, &rs, false, logits);
    /* states[d]: after the first d bytes of the current path (states[0] is st) */
    struct rg_jg_state *states = rg_malloc_array((size_t)tv->max_depth + 1, sizeof *states);
    if (!states) return RG_ENOMEM;
    uint32_t ticks = 0;
    int32_t i = 0, rc = 0;
    while (i < tv->n_nodes) {
        if (cancel && ++ticks % RG_JG_CANCEL_EVERY == 0 &&
            atomic_load_explicit(cancel, memory_order_relaxed)) {
            rc = RG_ECANCELED;
            break;
        }
        int d = tv->depth[i];
        const struct rg_jg_state *parent = d == 1 ? st : &states[d - 1];
        char ch = (char)tv->byte[i];
        if (!rg_jg_feed_from(g, parent, &ch, 1, &states[d])) {
            i = tv->end[i];
            continue;
        }
        if (tv->here[i] && !add_run(&rs, tv->first[i], tv->first[i] + tv->here[i])) {
            rc = RG_ENOMEM;
            break;
        }
        i++;
    }
    rg_free(states);
    if (rc == 0) rc = apply(tv, &rs, end, logits);
    rg_free(rs.r);
    return rc;
}
