/*
 * HTML (and the XHTML of EPUB and ZIM) through libxml2's HTML parser in SAX
 * mode, so that no tree is built and every block knows its byte range: the
 * parser's position (xmlByteConsumed) at each tag gives where a block starts
 * (its start tag) and ends (after its end tag, or where the next block
 * starts when the end tag is implied). Headings open sections; paragraphs,
 * divisions with text, list items, pre, blockquote and tables (one row per
 * line) become blocks; script, style, head (bar <title>), template and
 * form controls are dropped. The HTML parser loads no DTD, substitutes no
 * user entities and opens no network (HTML_PARSE_NONET).
 */
#include <libxml/HTMLparser.h>
#include <libxml/parserInternals.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "index/doc_internal.h"

struct html_state {
    struct rg_docb *b;
    htmlParserCtxtPtr ctxt;
    const char *data;
    size_t len;
    bool meta;
    int heading_base;
    struct rg_buf text;  /* the block being gathered */
    struct rg_buf title; /* <title> */
    int64_t s0;          /* start of the gathered block, -1 when nothing yet */
    int64_t boundary;    /* where the next block would start */
    int depth, skip, pre, li, quote, table, cells, heading, in_title;
    struct rg_doc_anchor *anchors;
    size_t n_anchors;
    int rc;
};

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static void xml_init(void)
{
    xmlInitParser();
}
void rg_doc_xml_init(void)
{
    pthread_once(&xml_once, xml_init);
}

static int64_t pos_now(struct html_state *s)
{
    long c = xmlByteConsumed(s->ctxt);
    if (c < 0) return -1;
    if ((size_t)c > s->len) c = (long)s->len;
    return c;
}

/* Offset of the '<' opening the tag that ends before pos. */
static int64_t tag_start(struct html_state *s, int64_t pos)
{
    if (pos <= 0) return pos;
    int64_t i = pos - 1, stop = pos > 65536 ? pos - 65536 : 0;
    while (i > stop && s->data[i] != '<')
        i--;
    return s->data[i] == '<' ? i : pos;
}

static void fail(struct html_state *s, int rc)
{
    if (!s->rc) s->rc = rc;
    xmlStopParser(s->ctxt);
}

static void flush(struct html_state *s, int64_t end)
{
    if (s->rc) return;
    if (s->text.len) {
        enum rg_doc_block_kind k = s->table   ? RG_DOC_BLOCK_TABLE
                                   : s->pre   ? RG_DOC_BLOCK_CODE
                                   : s->li    ? RG_DOC_BLOCK_LIST_ITEM
                                   : s->quote ? RG_DOC_BLOCK_QUOTE
                                              : RG_DOC_BLOCK_PARAGRAPH;
        int rc = rg_docb_block(s->b, k, s->text.data, s->text.len, s->s0, end);
        if (rc) fail(s, rc);
    }
    rg_buf_reset(&s->text);
    s->s0 = -1;
    s->boundary = end;
}

enum tag_class {
    T_INLINE,
    T_BLOCK,
    T_SKIP,
    T_HEAD,
    T_TITLE,
    T_PRE,
    T_LI,
    T_QUOTE,
    T_TABLE,
    T_TR,
    T_CELL,
    T_H,
    T_BR
};

static enum tag_class classify(const char *n, int *level)
{
    static const char *const block[] = {
        "p",       "div",     "section", "article",    "header",   "footer", "main",
        "aside",   "nav",     "dt",      "dd",         "ul",       "ol",     "dl",
        "address", "hr",      "figure",  "figcaption", "caption",  "body",   "html",
        "center",  "details", "summary", "legend",     "fieldset", "hgroup", "menu"};
    static const char *const skip[] = {"script", "style",    "template", "noscript", "select",
                                       "option", "textarea", "button",   "svg",      "iframe",
                                       "object", "embed",    "canvas",   "math"};
    if ((n[0] == 'h' || n[0] == 'H') && n[1] >= '1' && n[1] <= '6' && !n[2]) {
        *level = n[1] - '0';
        return T_H;
    }
    if (!strcasecmp(n, "br")) return T_BR;
    if (!strcasecmp(n, "head")) return T_HEAD;
    if (!strcasecmp(n, "title")) return T_TITLE;
    if (!strcasecmp(n, "pre")) return T_PRE;
    if (!strcasecmp(n, "li")) return T_LI;
    if (!strcasecmp(n, "blockquote")) return T_QUOTE;
    if (!strcasecmp(n, "table")) return T_TABLE;
    if (!strcasecmp(n, "tr")) return T_TR;
    if (!strcasecmp(n, "td") || !strcasecmp(n, "th")) return T_CELL;
    for (size_t i = 0; i < RG_ARRAY_LEN(skip); i++)
        if (!strcasecmp(n, skip[i])) return T_SKIP;
    for (size_t i = 0; i < RG_ARRAY_LEN(block); i++)
        if (!strcasecmp(n, block[i])) return T_BLOCK;
    return T_INLINE;
}

static void append(struct html_state *s, const char *t, size_t n)
{
    int rc = rg_buf_append(&s->text, t, n);
    if (rc == RG_ETOOBIG)
        fail(s, rg_err_set(s->b->err, RG_ETOOBIG, "block over max_text_bytes"));
    else if (rc)
        fail(s, rg_err_set(s->b->err, RG_ENOMEM, "out of memory"));
}

static const char *attr(const xmlChar **atts, const char *name)
{
    for (size_t i = 0; atts && atts[i]; i += 2)
        if (!strcasecmp((const char *)atts[i], name))
            return atts[i + 1] ? (const char *)atts[i + 1] : "";
    return NULL;
}

static void on_start(void *user, const xmlChar *name_x, const xmlChar **atts)
{
    struct html_state *s = user;
    const char *name = (const char *)name_x;
    if (s->rc) return;
    if (++s->depth > (int)s->b->lim->max_xml_depth) {
        fail(s, rg_err_set(s->b->err, RG_ETOOBIG, "elements nested deeper than %u (max_xml_depth)",
                           s->b->lim->max_xml_depth));
        return;
    }
    int level = 0;
    enum tag_class c = classify(name, &level);
    if (s->meta && !strcasecmp(name, "html")) {
        const char *lang = attr(atts, "lang");
        if (!lang) lang = attr(atts, "xml:lang");
        if (lang) {
            int rc = rg_docb_meta(s->b, &s->b->doc->meta.language, lang, strlen(lang));
            if (rc) fail(s, rc);
        }
    }
    if (s->meta && !strcasecmp(name, "meta")) {
        const char *n = attr(atts, "name"), *content = attr(atts, "content");
        if (n && content && (!strcasecmp(n, "author") || !strcasecmp(n, "dc.creator"))) {
            int rc =
                rg_docb_meta_append(s->b, &s->b->doc->meta.authors, "; ", content, strlen(content));
            if (rc) fail(s, rc);
        }
    }
    if (s->n_anchors && !s->skip) {
        const char *id = attr(atts, "id");
        if (!id && !strcasecmp(name, "a")) id = attr(atts, "name");
        for (size_t i = 0; id && i < s->n_anchors; i++) {
            struct rg_doc_anchor *a = &s->anchors[i];
            if (a->opened || strcmp(a->id, id) != 0) continue;
            int64_t here = pos_now(s);
            if (!s->table) flush(s, here >= 0 ? tag_start(s, here) : -1);
            int rc = rg_docb_section(s->b, a->title, strlen(a->title), a->level);
            if (rc < 0) {
                fail(s, rc);
                return;
            }
            a->opened = true;
            s->heading_base = a->level;
        }
    }
    if (c == T_SKIP || c == T_HEAD) {
        s->skip += c == T_SKIP;
        if (c == T_HEAD) s->skip++;
        return;
    }
    if (c == T_TITLE) {
        s->in_title++;
        return;
    }
    if (s->skip) return;
    if (c == T_BR) {
        append(s, "\n", 1);
        return;
    }
    if (c == T_INLINE) return;
    int64_t here = pos_now(s), start = here >= 0 ? tag_start(s, here) : -1;
    if (s->table) { /* inside a table everything is rows and cells */
        if (c == T_TR)
            s->cells = 0;
        else if (c == T_CELL && s->cells++ > 0)
            append(s, " | ", 3);
        else if (c == T_TABLE)
            s->table++;
        return;
    }
    flush(s, start);
    s->boundary = start;
    switch (c) {
    case T_PRE: s->pre++; break;
    case T_LI: s->li++; break;
    case T_QUOTE: s->quote++; break;
    case T_TABLE: s->table++, s->cells = 0; break;
    case T_H: s->heading = level; break;
    default: break;
    }
}

static void dec(int *v)
{
    if (*v > 0) (*v)--;
}

/* true when text (before cleaning) is the current section's title, letter case aside. */
static bool same_title(struct html_state *s, const char *t, size_t n)
{
    int cur = s->b->cur_section;
    if (cur < 0) return false;
    size_t cl;
    char *c = rg_doc_clean_text(t, n, false, &cl);
    if (!c) return false;
    bool same = strcasecmp(c, s->b->doc->sections[cur].title) == 0;
    rg_free(c);
    return same;
}

static void on_end(void *user, const xmlChar *name_x)
{
    struct html_state *s = user;
    const char *name = (const char *)name_x;
    if (s->rc) return;
    dec(&s->depth);
    int level = 0;
    enum tag_class c = classify(name, &level);
    if (c == T_SKIP || c == T_HEAD) {
        dec(&s->skip);
        return;
    }
    if (c == T_TITLE) {
        dec(&s->in_title);
        if (s->meta && s->title.len) {
            int rc = rg_docb_meta(s->b, &s->b->doc->meta.title, s->title.data, s->title.len);
            if (rc) fail(s, rc);
        }
        rg_buf_reset(&s->title);
        return;
    }
    if (s->skip || c == T_INLINE || c == T_BR) return;
    int64_t here = pos_now(s);
    if (s->table) {
        if (c == T_TR)
            append(s, "\n", 1);
        else if (c == T_TABLE && s->table == 1) {
            flush(s, here); /* still a table while it flushes */
            s->table = 0;
        } else if (c == T_TABLE)
            s->table--;
        return;
    }
    if (c == T_H && s->heading) {
        int lv = level + s->heading_base, rc = RG_OK;
        const char *t = s->text.data ? s->text.data : "";
        if (!same_title(s, t, s->text.len)) rc = rg_docb_section(s->b, t, s->text.len, lv);
        if (rc < 0) {
            fail(s, rc);
            return;
        }
        rc = rg_docb_block(s->b, RG_DOC_BLOCK_HEADING, s->text.data ? s->text.data : "",
                           s->text.len, s->s0, here);
        if (rc) fail(s, rc);
        rg_buf_reset(&s->text);
        s->s0 = -1;
        s->boundary = here;
        s->heading = 0;
        return;
    }
    flush(s, here);
    switch (c) {
    case T_PRE: dec(&s->pre); break;
    case T_LI: dec(&s->li); break;
    case T_QUOTE: dec(&s->quote); break;
    default: break;
    }
}

static void on_chars(void *user, const xmlChar *ch, int n)
{
    struct html_state *s = user;
    if (s->rc || n <= 0) return;
    if (s->in_title && s->meta) {
        int rc = rg_buf_append(&s->title, ch, (size_t)n);
        if (rc == RG_ENOMEM) fail(s, rg_err_set(s->b->err, RG_ENOMEM, "out of memory"));
        return; /* a title past 4 KiB is cut */
    }
    if (s->skip) return;
    if (s->s0 < 0) {
        bool blank = true;
        for (int i = 0; i < n && blank; i++)
            blank = ch[i] == ' ' || ch[i] == '\t' || ch[i] == '\n' || ch[i] == '\r';
        if (blank && !s->pre) return;
        s->s0 = s->boundary;
    }
    append(s, (const char *)ch, (size_t)n);
}

static void quiet(void *ctx, const char *msg, ...)
{
    (void)ctx, (void)msg;
}

int rg_doc_html_blocks(struct rg_docb *b, const char *data, size_t len, bool meta, int heading_base,
                       struct rg_doc_anchor *anchors, size_t n_anchors)
{
    rg_doc_xml_init();
    if (len > (size_t)INT32_MAX) return rg_err_set(b->err, RG_ETOOBIG, "HTML over 2 GiB");
    struct html_state s = {.b = b,
                           .data = data,
                           .len = len,
                           .meta = meta,
                           .heading_base = heading_base,
                           .s0 = -1,
                           .boundary = 0,
                           .anchors = anchors,
                           .n_anchors = n_anchors};
    rg_buf_init(&s.text, (size_t)b->lim->max_text_bytes);
    rg_buf_init(&s.title, 4096);
    htmlSAXHandler sax;
    memset(&sax, 0, sizeof sax);
    sax.startElement = on_start;
    sax.endElement = on_end;
    sax.characters = on_chars;
    sax.cdataBlock = on_chars;
    sax.warning = quiet;
    sax.error = quiet;
    sax.fatalError = quiet;
    s.ctxt = htmlCreatePushParserCtxt(&sax, &s, NULL, 0, NULL, XML_CHAR_ENCODING_NONE);
    if (!s.ctxt) {
        rg_buf_free(&s.text);
        rg_buf_free(&s.title);
        return rg_err_set(b->err, RG_ENOMEM, "out of memory (HTML parser)");
    }
    htmlCtxtUseOptions(s.ctxt, HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                   HTML_PARSE_RECOVER | HTML_PARSE_NOBLANKS);
    size_t off = 0;
    const size_t step = 1 << 20;
    do {
        size_t n = len - off < step ? len - off : step;
        htmlParseChunk(s.ctxt, data + off, (int)n, off + n >= len);
        off += n;
    } while (off < len && !s.rc);
    if (!s.rc) flush(&s, (int64_t)len);
    htmlFreeParserCtxt(s.ctxt);
    rg_buf_free(&s.text);
    rg_buf_free(&s.title);
    return s.rc;
}

int rg_doc_parse_html_mem(const char *data, size_t len, const struct rg_doc_limits *lim,
                          struct rg_doc **out, char *err)
{
    struct rg_docb b;
    int rc = rg_docb_init(&b, RG_DOC_FORMAT_HTML, lim, err);
    if (rc) return rc;
    rc = rg_doc_html_blocks(&b, data, len, true, 0, NULL, 0);
    if (rc) {
        rg_docb_fail(&b);
        return rc;
    }
    *out = rg_docb_finish(&b);
    return RG_OK;
}
