/*
 * PDF through poppler-glib: the text of each page (poppler's reading order)
 * cut into paragraphs at blank lines and at short lines that end a sentence,
 * each block carrying its 1-based page. The outline (bookmarks), when there
 * is one, gives the sections: an entry opens where its page starts. Byte
 * offsets are unknown (-1): a citation opens the page. Encrypted files are
 * RG_EUNSUPPORTED.
 */
#include <poppler.h>
#include <string.h>

#include "common/alloc.h"
#include "index/doc_internal.h"

struct outline_entry {
    char *title;
    int level, page;
};

struct outline {
    struct outline_entry *e;
    size_t n, cap;
};

static int dest_page(PopplerDocument *doc, PopplerAction *a)
{
    if (!a || a->type != POPPLER_ACTION_GOTO_DEST || !a->goto_dest.dest) return -1;
    PopplerDest *d = a->goto_dest.dest;
    if (d->type == POPPLER_DEST_NAMED) {
        PopplerDest *nd = poppler_document_find_dest(doc, d->named_dest);
        int p = nd ? nd->page_num : -1;
        if (nd) poppler_dest_free(nd);
        return p;
    }
    return d->page_num;
}

static void walk_outline(PopplerDocument *doc, PopplerIndexIter *it, int level, struct outline *o,
                         size_t max)
{
    if (level > 32) return;
    do {
        if (o->n >= max) return;
        PopplerAction *a = poppler_index_iter_get_action(it);
        if (a && a->any.title) {
            if (o->n == o->cap) {
                size_t nc = o->cap ? o->cap * 2 : 16;
                void *p = rg_realloc(o->e, nc * sizeof *o->e);
                if (!p) {
                    poppler_action_free(a);
                    return;
                }
                o->e = p, o->cap = nc;
            }
            char *t = rg_strdup(a->any.title);
            if (t) o->e[o->n++] = (struct outline_entry){t, level, dest_page(doc, a)};
        }
        if (a) poppler_action_free(a);
        PopplerIndexIter *child = poppler_index_iter_get_child(it);
        if (child) {
            walk_outline(doc, child, level + 1, o, max);
            poppler_index_iter_free(child);
        }
    } while (poppler_index_iter_next(it));
}

static bool sentence_end(const char *l, size_t n)
{
    while (n && (l[n - 1] == ' ' || l[n - 1] == '\t'))
        n--;
    if (!n) return false;
    char c = l[n - 1];
    return c == '.' || c == '!' || c == '?' || c == ':' || c == '"';
}

/* Cuts one page's text into paragraph blocks. */
static int page_blocks(struct rg_docb *b, const char *t)
{
    size_t len = strlen(t), maxl = 0;
    for (size_t i = 0; i < len;) { /* the longest line sets what "short" means */
        const char *nl = memchr(t + i, '\n', len - i);
        size_t l = (size_t)((nl ? nl - t : (ptrdiff_t)len) - (ptrdiff_t)i);
        if (l > maxl) maxl = l;
        i += l + 1;
    }
    size_t ps = 0, i = 0;
    while (i <= len) {
        const char *nl = i < len ? memchr(t + i, '\n', len - i) : NULL;
        size_t e = nl ? (size_t)(nl - t) : len, l = e - i;
        bool blank = true;
        for (size_t k = i; k < e && blank; k++)
            blank = t[k] == ' ' || t[k] == '\t' || t[k] == '\f';
        bool ends = blank || e >= len || (sentence_end(t + i, l) && l * 10 < maxl * 8);
        if (ends) {
            size_t pe = blank ? i : e;
            if (pe > ps) {
                int rc = rg_docb_block(b, RG_DOC_BLOCK_PARAGRAPH, t + ps, pe - ps, -1, -1);
                if (rc) return rc;
            }
            ps = e + 1;
        }
        i = e + 1;
    }
    return RG_OK;
}

int rg_doc_parse_pdf_mem(const void *data, size_t len, const struct rg_doc_limits *lim,
                         struct rg_doc **out, char *err)
{
    struct rg_docb b;
    int rc = rg_docb_init(&b, RG_DOC_FORMAT_PDF, lim, err);
    if (rc) return rc;
    GBytes *bytes = g_bytes_new_static(data, len);
    GError *ge = NULL;
    PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, &ge);
    if (!doc) {
        bool enc = ge && ge->domain == POPPLER_ERROR && ge->code == POPPLER_ERROR_ENCRYPTED;
        rc = rg_err_set(err, enc ? RG_EUNSUPPORTED : RG_EFORMAT, "PDF: %s",
                        ge && ge->message ? ge->message : "cannot be opened");
        if (ge) g_error_free(ge);
        g_bytes_unref(bytes);
        rg_docb_fail(&b);
        return rc;
    }
    struct rg_doc_meta *m = &b.doc->meta;
    char *s;
    if (!rc && (s = poppler_document_get_title(doc)))
        rc = rg_docb_meta(&b, &m->title, s, strlen(s)), g_free(s);
    if (!rc && (s = poppler_document_get_author(doc)))
        rc = rg_docb_meta(&b, &m->authors, s, strlen(s)), g_free(s);
    if (!rc && (s = poppler_document_get_keywords(doc)))
        rc = rg_docb_meta(&b, &m->tags, s, strlen(s)), g_free(s);

    struct outline o = {0};
    PopplerIndexIter *it = poppler_index_iter_new(doc);
    if (it) {
        walk_outline(doc, it, 1, &o, lim->max_sections);
        poppler_index_iter_free(it);
    }
    int pages = poppler_document_get_n_pages(doc);
    size_t next = 0;
    for (int p = 0; p < pages && !rc; p++) {
        b.page = p + 1;
        while (!rc && next < o.n && (o.e[next].page <= p + 1)) {
            rc = rg_docb_section(&b, o.e[next].title, strlen(o.e[next].title), o.e[next].level);
            rc = rc < 0 ? rc : RG_OK;
            next++;
        }
        PopplerPage *page = poppler_document_get_page(doc, p);
        if (!page) continue;
        char *text = poppler_page_get_text(page);
        if (text) rc = page_blocks(&b, text);
        g_free(text);
        g_object_unref(page);
    }
    for (size_t i = 0; i < o.n; i++)
        rg_free(o.e[i].title);
    rg_free(o.e);
    g_object_unref(doc);
    g_bytes_unref(bytes);
    if (rc) {
        rg_docb_fail(&b);
        return rc;
    }
    *out = rg_docb_finish(&b);
    return RG_OK;
}
