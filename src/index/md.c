/*
 * Markdown through md4c (GitHub dialect: tables, task lists). Headings open
 * sections; paragraphs, list items, code blocks, quotes and tables become
 * blocks. md4c hands text pieces that point into the input, which gives each
 * block its byte range (from its first to its last piece of text; markup
 * around them is outside). Front matter ("---" line, "key: value" lines,
 * "---" or "..." line) gives title, author(s), language, tags and date;
 * lists are "[a, b]" or "- a" lines.
 */
#include <ctype.h>
#include <md4c.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "index/doc_internal.h"

#define MD_STACK 64

struct md_state {
    struct rg_docb *b;
    const char *base; /* input start, for offsets */
    size_t base_len;
    size_t off; /* offset of base in the file (after front matter) */
    struct rg_buf text;
    int64_t s0, s1; /* source range of the text gathered so far */
    MD_BLOCKTYPE stack[MD_STACK];
    int depth;   /* entries used; deeper nesting is counted, not stored */
    int table;   /* inside a table */
    int cells;   /* cells so far in the current row */
    int h_level; /* inside a heading of this level, 0 otherwise */
    int rc;
};

static bool in_stack(const struct md_state *s, MD_BLOCKTYPE t)
{
    for (int i = 0; i < s->depth && i < MD_STACK; i++)
        if (s->stack[i] == t) return true;
    return false;
}

static int md_fail(struct md_state *s, int rc)
{
    if (!s->rc) s->rc = rc;
    return 1; /* stops md4c */
}

static int flush(struct md_state *s)
{
    if (!s->text.len) return 0;
    enum rg_doc_block_kind k = RG_DOC_BLOCK_PARAGRAPH;
    if (s->table)
        k = RG_DOC_BLOCK_TABLE;
    else if (in_stack(s, MD_BLOCK_CODE))
        k = RG_DOC_BLOCK_CODE;
    else if (in_stack(s, MD_BLOCK_LI))
        k = RG_DOC_BLOCK_LIST_ITEM;
    else if (in_stack(s, MD_BLOCK_QUOTE))
        k = RG_DOC_BLOCK_QUOTE;
    int64_t a = s->s0 >= 0 ? s->s0 + (int64_t)s->off : -1;
    int64_t e = s->s1 >= 0 ? s->s1 + (int64_t)s->off : -1;
    int rc = rg_docb_block(s->b, k, s->text.data, s->text.len, a, e);
    rg_buf_reset(&s->text);
    s->s0 = s->s1 = -1;
    return rc ? md_fail(s, rc) : 0;
}

/* Maps a buffer append's failure to the parse's error. */
static int buf_fail(struct md_state *s, int rc)
{
    if (rc == RG_ETOOBIG)
        return md_fail(s, rg_err_set(s->b->err, RG_ETOOBIG, "block over max_text_bytes"));
    return md_fail(s, rg_err_set(s->b->err, RG_ENOMEM, "out of memory"));
}

static int enter_block(MD_BLOCKTYPE t, void *detail, void *user)
{
    struct md_state *s = user;
    if (t == MD_BLOCK_DOC) return 0;
    if (!s->table && flush(s)) return 1;
    if (s->depth < MD_STACK) s->stack[s->depth] = t;
    s->depth++;
    if (t == MD_BLOCK_TABLE) s->table = 1;
    if (t == MD_BLOCK_TR) s->cells = 0;
    int rc;
    if ((t == MD_BLOCK_TD || t == MD_BLOCK_TH) && s->cells++ > 0 &&
        (rc = rg_buf_append_str(&s->text, " | ")))
        return buf_fail(s, rc);
    if (t == MD_BLOCK_H) s->h_level = (int)((MD_BLOCK_H_DETAIL *)detail)->level;
    return 0;
}

static int leave_block(MD_BLOCKTYPE t, void *detail, void *user)
{
    struct md_state *s = user;
    if (t == MD_BLOCK_DOC) return flush(s);
    int brc;
    if (t == MD_BLOCK_TR && (brc = rg_buf_append_char(&s->text, '\n'))) return buf_fail(s, brc);
    if (t == MD_BLOCK_H) {
        int rc = rg_docb_section(s->b, s->text.data ? s->text.data : "", s->text.len, s->h_level);
        if (rc < 0) return md_fail(s, rc);
        s->h_level = 0;
        int64_t a = s->s0 >= 0 ? s->s0 + (int64_t)s->off : -1;
        int64_t e = s->s1 >= 0 ? s->s1 + (int64_t)s->off : -1;
        rc = rg_docb_block(s->b, RG_DOC_BLOCK_HEADING, s->text.data ? s->text.data : "",
                           s->text.len, a, e);
        rg_buf_reset(&s->text);
        s->s0 = s->s1 = -1;
        if (rc) return md_fail(s, rc);
    } else if (t == MD_BLOCK_TABLE) {
        s->depth--; /* the table's kind is decided while table is set */
        int r = flush(s);
        s->table = 0;
        return r;
    } else if (!s->table && flush(s))
        return 1;
    s->depth--;
    return 0;
}

static int enter_span(MD_SPANTYPE t, void *d, void *u)
{
    return 0;
}
static int leave_span(MD_SPANTYPE t, void *d, void *u)
{
    return 0;
}

/* The few named entities worth decoding, and numeric ones. */
static int append_entity(struct rg_buf *b, const char *t, size_t n)
{
    static const struct {
        const char *name, *utf8;
    } named[] = {{"&amp;", "&"},        {"&lt;", "<"},         {"&gt;", ">"},
                 {"&quot;", "\""},      {"&apos;", "'"},       {"&nbsp;", " "},
                 {"&mdash;", "\u2014"}, {"&ndash;", "\u2013"}, {"&hellip;", "\u2026"},
                 {"&copy;", "\u00a9"}};
    for (size_t i = 0; i < RG_ARRAY_LEN(named); i++)
        if (strlen(named[i].name) == n && memcmp(named[i].name, t, n) == 0)
            return rg_buf_append_str(b, named[i].utf8);
    if (n >= 4 && t[1] == '#') {
        unsigned long cp = 0;
        bool hex = t[2] == 'x' || t[2] == 'X';
        for (size_t i = hex ? 3 : 2; i + 1 < n && cp <= 0x10FFFF; i++)
            cp = cp * (hex ? 16 : 10) +
                 (unsigned long)(isdigit((unsigned char)t[i])
                                     ? t[i] - '0'
                                     : (tolower((unsigned char)t[i]) - 'a' + 10));
        if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
        char u[4];
        size_t l;
        if (cp < 0x80)
            u[0] = (char)cp, l = 1;
        else if (cp < 0x800)
            u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), l = 2;
        else if (cp < 0x10000)
            u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
            u[2] = (char)(0x80 | (cp & 0x3F)), l = 3;
        else
            u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
            u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), l = 4;
        return rg_buf_append(b, u, l);
    }
    return rg_buf_append(b, t, n);
}

static int on_text(MD_TEXTTYPE t, const MD_CHAR *text, MD_SIZE size, void *user)
{
    struct md_state *s = user;
    int rc = RG_OK;
    switch (t) {
    case MD_TEXT_HTML: return 0; /* raw inline HTML: tags, not text */
    case MD_TEXT_NULLCHAR: rc = rg_buf_append_str(&s->text, "\xEF\xBF\xBD"); break;
    case MD_TEXT_BR: rc = rg_buf_append_char(&s->text, '\n'); break;
    case MD_TEXT_SOFTBR: rc = rg_buf_append_char(&s->text, ' '); break;
    case MD_TEXT_ENTITY: rc = append_entity(&s->text, text, size); break;
    default: rc = rg_buf_append(&s->text, text, size); break;
    }
    if (rc) return buf_fail(s, rc);
    if (text >= s->base && text + size <= s->base + s->base_len) {
        int64_t a = text - s->base, e = a + size;
        if (s->s0 < 0 || a < s->s0) s->s0 = a;
        if (e > s->s1) s->s1 = e;
    }
    return 0;
}

/* ---- front matter ---- */

/* Next line of [*p, end): sets line/len (no newline), advances *p. */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
    if (*p >= end) return false;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    *line = *p;
    *len = (size_t)((nl ? nl : end) - *p);
    if (*len && (*line)[*len - 1] == '\r') (*len)--;
    *p = nl ? nl + 1 : end;
    return true;
}

static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s))
        (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
    if (*n >= 2 &&
        (((*s)[0] == '"' && (*s)[*n - 1] == '"') || ((*s)[0] == '\'' && (*s)[*n - 1] == '\'')))
        (*s)++, *n -= 2;
}

/* Adds each item of a "[a, b]" list or a single value to *field with sep. */
static int add_list(struct rg_docb *b, char **field, const char *sep, const char *v, size_t n)
{
    trim(&v, &n);
    if (n >= 2 && v[0] == '[' && v[n - 1] == ']') {
        v++, n -= 2;
        while (n) {
            const char *c = memchr(v, ',', n);
            size_t il = c ? (size_t)(c - v) : n;
            const char *it = v;
            size_t itl = il;
            trim(&it, &itl);
            int rc = rg_docb_meta_append(b, field, sep, it, itl);
            if (rc) return rc;
            if (!c) break;
            v += il + 1, n -= il + 1;
        }
        return RG_OK;
    }
    return rg_docb_meta_append(b, field, sep, v, n);
}

static char **meta_field(struct rg_doc_meta *m, const char *k, size_t kl, const char **sep)
{
    *sep = NULL;
#define K(lit) (kl == sizeof(lit) - 1 && strncasecmp(k, lit, kl) == 0)
    if (K("title")) return &m->title;
    if (K("author") || K("authors")) return *sep = "; ", &m->authors;
    if (K("language") || K("lang")) return &m->language;
    if (K("tags") || K("keywords")) return *sep = ", ", &m->tags;
    if (K("date")) return &m->date;
    if (K("id") || K("identifier")) return &m->identifier;
#undef K
    return NULL;
}

/* Parses front matter at the start of data; returns bytes it spans (0 if none). */
static size_t front_matter(struct rg_docb *b, const char *data, size_t len, int *rc)
{
    const char *p = data, *end = data + len, *line;
    size_t ll;
    *rc = RG_OK;
    if (!next_line(&p, end, &line, &ll) || ll != 3 || memcmp(line, "---", 3) != 0) return 0;
    /* find the closing line first: without one this is a thematic break */
    const char *q = p, *close = NULL;
    while (next_line(&q, end, &line, &ll))
        if ((ll == 3 && (memcmp(line, "---", 3) == 0 || memcmp(line, "...", 3) == 0))) {
            close = q;
            break;
        }
    if (!close) return 0;
    char **list = NULL;
    const char *list_sep = NULL;
    while (p < close && next_line(&p, close, &line, &ll)) {
        if (ll == 3 && (memcmp(line, "---", 3) == 0 || memcmp(line, "...", 3) == 0)) break;
        const char *t = line;
        size_t tl = ll;
        trim(&t, &tl);
        if (tl >= 2 && t[0] == '-' && t[1] == ' ' && list) { /* "- item" under a key */
            *rc = rg_docb_meta_append(b, list, list_sep ? list_sep : "; ", t + 2, tl - 2);
            if (*rc) return 0;
            continue;
        }
        list = NULL;
        const char *colon = memchr(line, ':', ll);
        if (!colon || line[0] == ' ' || line[0] == '#') continue;
        const char *sep;
        char **f = meta_field(&b->doc->meta, line, (size_t)(colon - line), &sep);
        if (!f) continue;
        const char *v = colon + 1;
        size_t vl = ll - (size_t)(colon + 1 - line);
        trim(&v, &vl);
        if (vl == 0) {
            list = f, list_sep = sep;
            continue;
        }
        *rc = sep ? add_list(b, f, sep, v, vl) : rg_docb_meta(b, f, v, vl);
        if (*rc) return 0;
    }
    return (size_t)(close - data);
}

int rg_doc_parse_md_mem(const char *data, size_t len, const struct rg_doc_limits *lim,
                        struct rg_doc **out, char *err)
{
    struct rg_docb b;
    int rc = rg_docb_init(&b, RG_DOC_FORMAT_MARKDOWN, lim, err);
    if (rc) return rc;
    if (len > (size_t)UINT32_MAX - 1) { /* MD_SIZE is 32 bits */
        rg_docb_fail(&b);
        return rg_err_set(err, RG_ETOOBIG, "Markdown over 4 GiB");
    }
    size_t fm = front_matter(&b, data, len, &rc);
    if (rc) {
        rg_docb_fail(&b);
        return rc;
    }
    struct md_state s = {
        .b = &b, .base = data + fm, .base_len = len - fm, .off = fm, .s0 = -1, .s1 = -1};
    rg_buf_init(&s.text, (size_t)lim->max_text_bytes);
    MD_PARSER p = {
        .flags = MD_DIALECT_GITHUB | MD_FLAG_COLLAPSEWHITESPACE,
        .enter_block = enter_block,
        .leave_block = leave_block,
        .enter_span = enter_span,
        .leave_span = leave_span,
        .text = on_text,
    };
    int mr = md_parse(data + fm, (MD_SIZE)(len - fm), &p, &s);
    rg_buf_free(&s.text);
    rc = s.rc ? s.rc : mr ? rg_err_set(err, RG_ENOMEM, "md4c failed (%d)", mr) : RG_OK;
    if (rc) {
        rg_docb_fail(&b);
        return rc;
    }
    *out = rg_docb_finish(&b);
    return RG_OK;
}
