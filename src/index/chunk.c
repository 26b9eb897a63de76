/*
 * The chunker (chunk.h). Blocks are grouped by (section, part): a chunk
 * never leaves its group. Inside a group the blocks become units: a block
 * that fits (max_tokens - overlap_tokens) is one unit, a longer one is cut at
 * sentence ends, a sentence still too long at word boundaries, a word still
 * too long at UTF-8 character boundaries. Units are packed greedily into
 * chunks; each chunk after a group's first starts with the last whole words
 * of the previous chunk, up to overlap_tokens. Token counts are the
 * caller's (the embedding model's tokenizer); a chunk's count is checked on
 * its final text, and a unit is pushed to the next chunk when the packed
 * text counts more than the sum of its parts.
 */
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "index/chunk.h"

size_t rg_chunk_count_words(const char *text, size_t len, void *user)
{
    (void)user;
    size_t n = 0;
    bool in = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        bool sp = c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
        if (!sp && !in) n++;
        in = !sp;
    }
    return n;
}

void rg_chunk_default_params(struct rg_chunk_params *p)
{
    *p = (struct rg_chunk_params){.max_tokens = 256, .overlap_tokens = 32, .count = NULL};
}

struct unit {
    size_t block, start, end, tokens;
};

struct ctx {
    const struct rg_doc *doc;
    struct rg_chunk_params p;
    struct unit *u;
    size_t nu, cap;
    struct rg_chunks *out;
    size_t cap_out;
};

static size_t count(const struct ctx *c, const char *t, size_t n)
{
    return c->p.count(t, n, c->p.count_user);
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r';
}

/* Adds text[s, e) of a block (trimmed) as a unit; tokens < 0: count it here. */
static int add_unit_counted(struct ctx *c, size_t block, size_t s, size_t e, long tokens)
{
    const char *t = c->doc->blocks[block].text;
    while (s < e && is_space(t[s]))
        s++;
    while (e > s && is_space(t[e - 1]))
        e--;
    if (s == e) return RG_OK;
    if (c->nu == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        void *q = rg_realloc(c->u, nc * sizeof *c->u);
        if (!q) return RG_ENOMEM;
        c->u = q, c->cap = nc;
    }
    c->u[c->nu++] =
        (struct unit){block, s, e, tokens >= 0 ? (size_t)tokens : count(c, t + s, e - s)};
    return RG_OK;
}

static int add_unit(struct ctx *c, size_t block, size_t s, size_t e)
{
    return add_unit_counted(c, block, s, e, -1);
}

/* Start of the UTF-8 character holding byte i (not before lo). */
static size_t utf8_back(const char *t, size_t i, size_t lo)
{
    while (i > lo && ((unsigned char)t[i] & 0xC0) == 0x80)
        i--;
    return i;
}

/* A run with no spaces longer than budget: pieces at character boundaries. */
static int split_chars(struct ctx *c, size_t block, size_t s, size_t e, size_t budget)
{
    const char *t = c->doc->blocks[block].text;
    while (s < e) {
        size_t all = count(c, t + s, e - s);
        if (all <= budget) return add_unit(c, block, s, e);
        size_t len = (e - s) * budget / all; /* a guess, then shrink until it fits */
        if (len < 1) len = 1;
        size_t cut = utf8_back(t, s + len, s);
        while (cut > s && count(c, t + s, cut - s) > budget) {
            size_t step = (cut - s) / 8 ? (cut - s) / 8 : 1;
            cut = utf8_back(t, cut - step, s);
        }
        if (cut == s) { /* one character counts more than budget: take it alone */
            cut = s + 1;
            while (cut < e && ((unsigned char)t[cut] & 0xC0) == 0x80)
                cut++;
        }
        int rc = add_unit(c, block, s, cut);
        if (rc) return rc;
        s = cut;
    }
    return RG_OK;
}

/* A sentence longer than budget: greedy runs of whole words. */
static int split_words(struct ctx *c, size_t block, size_t s, size_t e, size_t budget)
{
    const char *t = c->doc->blocks[block].text;
    size_t run = s, sum = 0, i = s;
    while (i < e) {
        while (i < e && is_space(t[i]))
            i++;
        size_t w = i;
        while (i < e && !is_space(t[i]))
            i++;
        if (w == i) break;
        size_t wt = count(c, t + w, i - w);
        if (wt > budget) {
            int rc = add_unit(c, block, run, w);
            if (!rc) rc = split_chars(c, block, w, i, budget);
            if (rc) return rc;
            run = i, sum = 0;
            continue;
        }
        if (sum + wt > budget && sum) {
            int rc = add_unit(c, block, run, w);
            if (rc) return rc;
            run = w, sum = 0;
        }
        sum += wt;
    }
    return add_unit(c, block, run, e);
}

static int split_block(struct ctx *c, size_t block, size_t budget)
{
    const struct rg_doc_block *b = &c->doc->blocks[block];
    const char *t = b->text;
    size_t n = b->text_len;
    size_t all = count(c, t, n); /* block text is trimmed already: the unit's count */
    if (all <= budget) return add_unit_counted(c, block, 0, n, (long)all);
    size_t s = 0;
    for (size_t i = 0; i <= n; i++) {
        bool end = i == n;
        if (!end && (t[i] == '.' || t[i] == '!' || t[i] == '?' || t[i] == '\n')) {
            size_t j = i + 1;
            while (j < n && (t[j] == '"' || t[j] == '\'' || t[j] == ')'))
                j++;
            if (j == n || is_space(t[j])) end = true, i = j - 1;
        }
        if (!end) continue;
        size_t e = i == n ? n : i + 1;
        if (e > s) {
            int rc = count(c, t + s, e - s) <= budget ? add_unit(c, block, s, e)
                                                      : split_words(c, block, s, e, budget);
            if (rc) return rc;
        }
        s = e;
    }
    return RG_OK;
}

static int heading_path(const struct rg_doc *d, int sec, char **out)
{
    struct rg_buf b;
    rg_buf_init(&b, 1 << 20);
    int chain[64], n = 0;
    for (int s = sec; s >= 0 && n < 64; s = d->sections[s].parent)
        chain[n++] = s;
    int rc = RG_OK;
    for (int i = n - 1; i >= 0 && !rc; i--) {
        if (i != n - 1) rc = rg_buf_append_str(&b, " > ");
        if (!rc) rc = rg_buf_append_str(&b, d->sections[chain[i]].title);
    }
    if (rc == RG_ETOOBIG) rc = RG_OK; /* a path past 1 MiB is cut */
    *out = rc ? NULL : rg_buf_steal(&b);
    rg_buf_free(&b);
    return *out ? RG_OK : RG_ENOMEM;
}

/* The tail of prev (whole words) that counts at most overlap_tokens. */
static size_t overlap_start(const struct ctx *c, const char *t, size_t n)
{
    if (!c->p.overlap_tokens || !n) return n;
    size_t best = n, i = n;
    for (;;) {
        while (i > 0 && is_space(t[i - 1]))
            i--;
        while (i > 0 && !is_space(t[i - 1]))
            i--;
        size_t s = i;
        while (s < n && is_space(t[s]))
            s++;
        if (s >= n || count(c, t + s, n - s) > c->p.overlap_tokens) break;
        best = s;
        if (i == 0) break;
    }
    return best;
}

/* Builds a chunk of units [u0, u1) with the given overlap text. */
static int build(struct ctx *c, size_t u0, size_t u1, const char *ov, size_t ovl,
                 struct rg_chunk *ch)
{
    const struct rg_doc *d = c->doc;
    struct rg_buf b;
    rg_buf_init(&b, (size_t)-1 / 2);
    int rc = RG_OK;
    if (ovl) {
        rc = rg_buf_append(&b, ov, ovl);
        if (!rc) rc = rg_buf_append_str(&b, c->u[u0].start == 0 ? "\n\n" : " ");
    }
    size_t own = b.len;
    for (size_t i = u0; i < u1 && !rc; i++) {
        const struct unit *u = &c->u[i];
        if (i > u0) rc = rg_buf_append_str(&b, u->block == c->u[i - 1].block ? " " : "\n\n");
        if (!rc) rc = rg_buf_append(&b, d->blocks[u->block].text + u->start, u->end - u->start);
    }
    if (rc) {
        rg_buf_free(&b);
        return RG_ENOMEM;
    }
    const struct rg_doc_block *fb = &d->blocks[c->u[u0].block],
                              *lb = &d->blocks[c->u[u1 - 1].block];
    *ch = (struct rg_chunk){
        .text_len = b.len,
        .overlap_len = own,
        .section = fb->section,
        .first_block = c->u[u0].block,
        .last_block = c->u[u1 - 1].block,
        .first_offset = c->u[u0].start,
        .last_end = c->u[u1 - 1].end,
        .page_first = -1,
        .page_last = -1,
        .part = fb->part,
        .src_start = fb->src_start >= 0 && lb->src_end >= 0 ? fb->src_start : -1,
        .src_end = fb->src_start >= 0 && lb->src_end >= 0 ? lb->src_end : -1,
    };
    for (size_t k = ch->first_block; k <= ch->last_block; k++) {
        int pg = d->blocks[k].page;
        if (pg < 0) continue;
        if (ch->page_first < 0 || pg < ch->page_first) ch->page_first = pg;
        if (pg > ch->page_last) ch->page_last = pg;
    }
    ch->text = rg_buf_steal(&b);
    if (!ch->text) return RG_ENOMEM;
    ch->tokens = count(c, ch->text, ch->text_len);
    if (heading_path(d, fb->section, &ch->heading_path)) {
        rg_free(ch->text);
        return RG_ENOMEM;
    }
    return RG_OK;
}

static void chunk_free(struct rg_chunk *ch)
{
    rg_free(ch->text);
    rg_free(ch->heading_path);
}

static int push(struct ctx *c, struct rg_chunk *ch)
{
    struct rg_chunks *o = c->out;
    if (o->n == c->cap_out) {
        size_t nc = c->cap_out ? c->cap_out * 2 : 32;
        void *q = rg_realloc(o->items, nc * sizeof *o->items);
        if (!q) return RG_ENOMEM;
        o->items = q, c->cap_out = nc;
    }
    o->items[o->n++] = *ch;
    return RG_OK;
}

/* Packs the units of one group into chunks. */
static int pack(struct ctx *c)
{
    size_t i = 0;
    bool first = true;
    while (i < c->nu) {
        const char *ov = NULL;
        size_t ovl = 0, ovt = 0;
        if (!first) {
            const struct rg_chunk *prev = &c->out->items[c->out->n - 1];
            size_t s = overlap_start(c, prev->text, prev->text_len);
            ov = prev->text + s, ovl = prev->text_len - s;
            if (ovl) ovt = count(c, ov, ovl);
        }
        size_t budget = c->p.max_tokens - ovt, sum = 0, j = i;
        while (j < c->nu && (j == i || sum + c->u[j].tokens <= budget))
            sum += c->u[j++].tokens;
        struct rg_chunk ch;
        for (;;) {
            int rc = build(c, i, j, ov, ovl, &ch);
            if (rc) return rc;
            if (ch.tokens <= c->p.max_tokens) break;
            chunk_free(&ch);
            if (j - i > 1)
                j--;
            else if (ovl)
                ovl = 0; /* drop the overlap before breaking the bound */
            else {
                rc = build(c, i, j, NULL, 0, &ch); /* one unit alone: as small as it gets */
                if (rc) return rc;
                break;
            }
        }
        int rc = push(c, &ch);
        if (rc) {
            chunk_free(&ch);
            return rc;
        }
        first = false;
        i = j;
    }
    return RG_OK;
}

int rg_chunk_doc(const struct rg_doc *doc, const struct rg_chunk_params *params,
                 struct rg_chunks *out, char *err)
{
    out->items = NULL;
    out->n = 0;
    struct ctx c = {.doc = doc, .out = out};
    if (params)
        c.p = *params;
    else
        rg_chunk_default_params(&c.p);
    if (!c.p.count) c.p.count = rg_chunk_count_words;
    if (!c.p.max_tokens || c.p.overlap_tokens >= c.p.max_tokens)
        return rg_err_set(err, RG_EINVAL,
                          "max_tokens %zu, overlap_tokens %zu: need 0 <= overlap < max",
                          c.p.max_tokens, c.p.overlap_tokens);
    size_t budget = c.p.max_tokens - c.p.overlap_tokens;
    int rc = RG_OK;
    for (size_t g = 0; g < doc->n_blocks && !rc;) {
        size_t e = g + 1;
        while (e < doc->n_blocks && doc->blocks[e].section == doc->blocks[g].section &&
               doc->blocks[e].part == doc->blocks[g].part)
            e++;
        c.nu = 0;
        for (size_t k = g; k < e && !rc; k++)
            rc = split_block(&c, k, budget);
        if (!rc) rc = pack(&c);
        g = e;
    }
    rg_free(c.u);
    if (rc) return rg_err_set(err, rc, "out of memory while chunking");
    return RG_OK;
}

void rg_chunks_free(struct rg_chunks *out)
{
    if (!out) return;
    for (size_t i = 0; i < out->n; i++)
        chunk_free(&out->items[i]);
    rg_free(out->items);
    out->items = NULL;
    out->n = 0;
}
