/*
 * The document model's common part: format names and detection, limits, the
 * builder every parser fills (UTF-8 repair, whitespace folding, the heading
 * tree, the caps), and the dispatch from a file or a memory buffer to the
 * parser of its format.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "index/doc_internal.h"

/* ---- names and detection ---- */

static const char *const format_names[] = {
    [RG_DOC_FORMAT_UNKNOWN] = "unknown",   [RG_DOC_FORMAT_TEXT] = "text",
    [RG_DOC_FORMAT_MARKDOWN] = "markdown", [RG_DOC_FORMAT_HTML] = "html",
    [RG_DOC_FORMAT_EPUB] = "epub",         [RG_DOC_FORMAT_PDF] = "pdf",
    [RG_DOC_FORMAT_ZIM] = "zim",
};

const char *rg_doc_format_name(enum rg_doc_format f)
{
    if ((unsigned)f >= RG_ARRAY_LEN(format_names)) return "unknown";
    return format_names[f];
}

enum rg_doc_format rg_doc_format_from_name(const char *name)
{
    if (!name) return RG_DOC_FORMAT_UNKNOWN;
    for (size_t i = 1; i < RG_ARRAY_LEN(format_names); i++)
        if (strcasecmp(name, format_names[i]) == 0) return (enum rg_doc_format)i;
    return RG_DOC_FORMAT_UNKNOWN;
}

const char *rg_doc_block_kind_name(enum rg_doc_block_kind k)
{
    switch (k) {
    case RG_DOC_BLOCK_HEADING: return "heading";
    case RG_DOC_BLOCK_PARAGRAPH: return "paragraph";
    case RG_DOC_BLOCK_LIST_ITEM: return "list_item";
    case RG_DOC_BLOCK_CODE: return "code";
    case RG_DOC_BLOCK_QUOTE: return "quote";
    case RG_DOC_BLOCK_TABLE: return "table";
    }
    return "paragraph";
}

static const char *path_ext(const char *path)
{
    if (!path) return "";
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot ? dot + 1 : "";
}

/* Case-insensitive "does head start with lit, after leading whitespace/BOM". */
static bool head_starts(const unsigned char *h, size_t n, const char *lit)
{
    size_t i = 0;
    if (n >= 3 && h[0] == 0xEF && h[1] == 0xBB && h[2] == 0xBF) i = 3;
    while (i < n && (h[i] == ' ' || h[i] == '\t' || h[i] == '\r' || h[i] == '\n'))
        i++;
    size_t l = strlen(lit);
    return n - i >= l && strncasecmp((const char *)h + i, lit, l) == 0;
}

enum rg_doc_format rg_doc_format_detect(const char *path, const void *head, size_t head_len)
{
    const unsigned char *h = head;
    if (!h) head_len = 0;
    if (head_len >= 4 && h[0] == 'P' && h[1] == 'K' && h[2] == 3 && h[3] == 4) {
        /* EPUB puts an uncompressed "mimetype" entry first (OCF 3.0 §4.3). */
        static const char mt[] = "mimetypeapplication/epub+zip";
        if (head_len >= 30 + sizeof mt - 1 && memcmp(h + 30, mt, sizeof mt - 1) == 0)
            return RG_DOC_FORMAT_EPUB;
        if (strcasecmp(path_ext(path), "epub") == 0) return RG_DOC_FORMAT_EPUB;
        return RG_DOC_FORMAT_UNKNOWN;
    }
    if (head_len >= 5 && memcmp(h, "%PDF-", 5) == 0) return RG_DOC_FORMAT_PDF;
    if (head_len >= 4 && h[0] == 0x5A && h[1] == 0x49 && h[2] == 0x4D && h[3] == 0x04)
        return RG_DOC_FORMAT_ZIM;
    const char *ext = path_ext(path);
    static const struct {
        const char *ext;
        enum rg_doc_format f;
    } exts[] = {
        {"txt", RG_DOC_FORMAT_TEXT},    {"text", RG_DOC_FORMAT_TEXT},
        {"md", RG_DOC_FORMAT_MARKDOWN}, {"markdown", RG_DOC_FORMAT_MARKDOWN},
        {"html", RG_DOC_FORMAT_HTML},   {"htm", RG_DOC_FORMAT_HTML},
        {"xhtml", RG_DOC_FORMAT_HTML},  {"epub", RG_DOC_FORMAT_EPUB},
        {"pdf", RG_DOC_FORMAT_PDF},     {"zim", RG_DOC_FORMAT_ZIM},
    };
    for (size_t i = 0; i < RG_ARRAY_LEN(exts); i++)
        if (strcasecmp(ext, exts[i].ext) == 0) return exts[i].f;
    if (head_starts(h, head_len, "<!doctype html") || head_starts(h, head_len, "<html"))
        return RG_DOC_FORMAT_HTML;
    return RG_DOC_FORMAT_UNKNOWN;
}

/* ---- limits ---- */

void rg_doc_default_limits(struct rg_doc_limits *l)
{
    *l = (struct rg_doc_limits){
        .max_file_bytes = 256ull << 20,
        .max_uncompressed_bytes = 512ull << 20,
        .max_entry_bytes = 64ull << 20,
        .max_ratio = 200,
        .max_entries = 10000,
        .max_xml_depth = 256,
        .max_blocks = 1000000,
        .max_sections = 100000,
        .max_text_bytes = 256ull << 20,
        .max_docs = 100000000,
    };
}

void rg_doc_limits_resolve(const struct rg_doc_limits *l, struct rg_doc_limits *out)
{
    struct rg_doc_limits d;
    rg_doc_default_limits(&d);
    if (!l) {
        *out = d;
        return;
    }
    *out = *l;
#define RG_FILL(f)                                                                                 \
    if (!out->f) out->f = d.f
    RG_FILL(max_file_bytes);
    RG_FILL(max_uncompressed_bytes);
    RG_FILL(max_entry_bytes);
    RG_FILL(max_ratio);
    RG_FILL(max_entries);
    RG_FILL(max_xml_depth);
    RG_FILL(max_blocks);
    RG_FILL(max_sections);
    RG_FILL(max_text_bytes);
    RG_FILL(max_docs);
#undef RG_FILL
}

/* ---- text cleaning ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len) return 0;
    unsigned cp = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

bool rg_doc_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t l = utf8_seq(p + i, len - i);
        if (!l) return false;
        i += l;
    }
    return true;
}

char *rg_doc_clean_text(const char *text, size_t len, bool keep_ws, size_t *out_len)
{
    /* Worst case: every byte invalid -> 3 bytes of U+FFFD each. */
    size_t cap;
    if (!rg_mul_size(len, 3, &cap) || !rg_add_size(cap, 1, &cap)) return NULL;
    char *o = rg_malloc(cap);
    if (!o) return NULL;
    const unsigned char *p = (const unsigned char *)text;
    size_t n = 0, i = 0;
    bool space = false;
    while (i < len) {
        unsigned c = p[i];
        if (c == '\r' && keep_ws) {
            i++;
            continue;
        }
        bool ws = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
        /* U+00A0 no-break space folds like a space */
        if (!ws && c == 0xC2 && i + 1 < len && p[i + 1] == 0xA0 && !keep_ws) {
            ws = true;
            i++;
        }
        if (ws && !keep_ws) {
            space = n > 0;
            i++;
            continue;
        }
        if (space) {
            o[n++] = ' ';
            space = false;
        }
        if (c == 0 || (c < 0x20 && c != '\n' && c != '\t')) { /* control bytes dropped */
            i++;
            continue;
        }
        size_t l = utf8_seq(p + i, len - i);
        if (!l) {
            memcpy(o + n, "\xEF\xBF\xBD", 3);
            n += 3;
            i++;
            continue;
        }
        memcpy(o + n, p + i, l);
        n += l;
        i += l;
    }
    if (keep_ws) { /* trim blank lines at both ends */
        size_t s = 0;
        while (s < n && (o[s] == '\n' || o[s] == ' ' || o[s] == '\t')) {
            size_t e = s;
            while (e < n && (o[e] == ' ' || o[e] == '\t'))
                e++;
            if (e < n && o[e] != '\n') break;
            s = e < n ? e + 1 : e;
        }
        while (n > s && (o[n - 1] == '\n' || o[n - 1] == ' ' || o[n - 1] == '\t'))
            n--;
        if (s) memmove(o, o + s, n - s), n -= s;
    }
    o[n] = 0;
    *out_len = n;
    return o;
}

/* ---- the builder ---- */

void rg_doc_free(struct rg_doc *doc)
{
    if (!doc) return;
    rg_free(doc->meta.title);
    rg_free(doc->meta.authors);
    rg_free(doc->meta.language);
    rg_free(doc->meta.identifier);
    rg_free(doc->meta.encoding);
    rg_free(doc->meta.tags);
    rg_free(doc->meta.date);
    for (size_t i = 0; i < doc->n_sections; i++)
        rg_free(doc->sections[i].title);
    rg_free(doc->sections);
    for (size_t i = 0; i < doc->n_blocks; i++)
        rg_free(doc->blocks[i].text);
    rg_free(doc->blocks);
    for (size_t i = 0; i < doc->n_parts; i++)
        rg_free(doc->parts[i]);
    rg_free(doc->parts);
    rg_free(doc);
}

int rg_docb_init(struct rg_docb *b, enum rg_doc_format f, const struct rg_doc_limits *lim,
                 char *err)
{
    *b = (struct rg_docb){.lim = lim, .err = err, .cur_section = -1, .cur_part = -1, .page = -1};
    b->doc = rg_calloc(1, sizeof *b->doc);
    if (!b->doc) return rg_err_set(err, RG_ENOMEM, "out of memory");
    b->doc->format = f;
    b->doc->total = 1;
    return RG_OK;
}

void rg_docb_fail(struct rg_docb *b)
{
    rg_doc_free(b->doc);
    b->doc = NULL;
}

struct rg_doc *rg_docb_finish(struct rg_docb *b)
{
    struct rg_doc *d = b->doc;
    b->doc = NULL;
    return d;
}

/* Grows *arr (of elem bytes, *cap slots) to hold n + 1. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return RG_OK;
    size_t nc = *cap ? *cap * 2 : 16, bytes;
    if (!rg_mul_size(nc, elem, &bytes)) return RG_ENOMEM;
    void *p = rg_realloc(*arr, bytes);
    if (!p) return RG_ENOMEM;
    *arr = p;
    *cap = nc;
    return RG_OK;
}

int rg_docb_section(struct rg_docb *b, const char *title, size_t len, int level)
{
    struct rg_doc *d = b->doc;
    if (d->n_sections >= b->lim->max_sections)
        return rg_err_set(b->err, RG_ETOOBIG, "more than %u sections (max_sections)",
                          b->lim->max_sections);
    if (grow((void **)&d->sections, &b->cap_sections, d->n_sections, sizeof *d->sections))
        return rg_err_set(b->err, RG_ENOMEM, "out of memory");
    size_t tl;
    char *t = rg_doc_clean_text(title ? title : "", title ? len : 0, false, &tl);
    if (!t) return rg_err_set(b->err, RG_ENOMEM, "out of memory");
    if (level < 1) level = 1;
    int parent = b->cur_section;
    while (parent >= 0 && d->sections[parent].level >= level)
        parent = d->sections[parent].parent;
    d->sections[d->n_sections] =
        (struct rg_doc_section){.title = t, .level = level, .parent = parent};
    b->cur_section = (int)d->n_sections++;
    return b->cur_section;
}

int rg_docb_block(struct rg_docb *b, enum rg_doc_block_kind kind, const char *text, size_t len,
                  int64_t src_start, int64_t src_end)
{
    struct rg_doc *d = b->doc;
    size_t tl;
    char *t =
        rg_doc_clean_text(text, len, kind == RG_DOC_BLOCK_CODE || kind == RG_DOC_BLOCK_TABLE, &tl);
    if (!t) return rg_err_set(b->err, RG_ENOMEM, "out of memory");
    if (tl == 0) {
        rg_free(t);
        return RG_OK;
    }
    if (d->n_blocks >= b->lim->max_blocks) {
        rg_free(t);
        return rg_err_set(b->err, RG_ETOOBIG, "more than %u blocks (max_blocks)",
                          b->lim->max_blocks);
    }
    if (b->text_bytes + tl > b->lim->max_text_bytes) {
        rg_free(t);
        return rg_err_set(b->err, RG_ETOOBIG, "text over %llu bytes (max_text_bytes)",
                          (unsigned long long)b->lim->max_text_bytes);
    }
    if (grow((void **)&d->blocks, &b->cap_blocks, d->n_blocks, sizeof *d->blocks)) {
        rg_free(t);
        return rg_err_set(b->err, RG_ENOMEM, "out of memory");
    }
    b->text_bytes += tl;
    if (src_start < 0 || src_end < src_start) src_start = src_end = -1;
    d->blocks[d->n_blocks++] = (struct rg_doc_block){
        .kind = kind,
        .text = t,
        .text_len = tl,
        .section = b->cur_section,
        .page = b->page,
        .part = b->cur_part,
        .src_start = src_start,
        .src_end = src_end,
    };
    return RG_OK;
}

int rg_docb_part(struct rg_docb *b, const char *name)
{
    struct rg_doc *d = b->doc;
    if (grow((void **)&d->parts, &b->cap_parts, d->n_parts, sizeof *d->parts))
        return rg_err_set(b->err, RG_ENOMEM, "out of memory");
    char *s = rg_strdup(name);
    if (!s) return rg_err_set(b->err, RG_ENOMEM, "out of memory");
    d->parts[d->n_parts] = s;
    b->cur_part = (int)d->n_parts++;
    return b->cur_part;
}

int rg_docb_meta(struct rg_docb *b, char **field, const char *text, size_t len)
{
    if (*field || !text) return RG_OK;
    size_t tl;
    char *t = rg_doc_clean_text(text, len, false, &tl);
    if (!t) return rg_err_set(b->err, RG_ENOMEM, "out of memory");
    if (!tl) {
        rg_free(t);
        return RG_OK;
    }
    *field = t;
    return RG_OK;
}

int rg_docb_meta_append(struct rg_docb *b, char **field, const char *sep, const char *text,
                        size_t len)
{
    if (!*field) return rg_docb_meta(b, field, text, len);
    size_t tl;
    char *t = rg_doc_clean_text(text, len, false, &tl);
    if (!t) return rg_err_set(b->err, RG_ENOMEM, "out of memory");
    if (!tl) {
        rg_free(t);
        return RG_OK;
    }
    size_t ol = strlen(*field), sl = strlen(sep);
    char *n = rg_malloc(ol + sl + tl + 1);
    if (!n) {
        rg_free(t);
        return rg_err_set(b->err, RG_ENOMEM, "out of memory");
    }
    memcpy(n, *field, ol);
    memcpy(n + ol, sep, sl);
    memcpy(n + ol + sl, t, tl + 1);
    rg_free(t);
    rg_free(*field);
    *field = n;
    return RG_OK;
}

/* ---- dispatch ---- */

static int deliver(int rc, struct rg_doc *doc, rg_doc_fn cb, void *user)
{
    if (rc != RG_OK) {
        rg_doc_free(doc);
        return rc;
    }
    return cb(doc, user);
}

int rg_doc_parse_mem(enum rg_doc_format format, const void *data, size_t len,
                     const struct rg_doc_limits *limits, rg_doc_fn cb, void *user, char *err)
{
    struct rg_doc_limits lim;
    rg_doc_limits_resolve(limits, &lim);
    if (!cb || (!data && len)) return rg_err_set(err, RG_EINVAL, "no callback or no data");
    if (len > lim.max_file_bytes)
        return rg_err_set(err, RG_ETOOBIG, "input of %zu bytes over %llu (max_file_bytes)", len,
                          (unsigned long long)lim.max_file_bytes);
    if (!data) data = "";
    struct rg_doc *doc = NULL;
    int rc;
    switch (format) {
    case RG_DOC_FORMAT_TEXT: rc = rg_doc_parse_text_mem(data, len, &lim, &doc, err); break;
    case RG_DOC_FORMAT_MARKDOWN: rc = rg_doc_parse_md_mem(data, len, &lim, &doc, err); break;
    case RG_DOC_FORMAT_HTML: rc = rg_doc_parse_html_mem(data, len, &lim, &doc, err); break;
    case RG_DOC_FORMAT_EPUB: rc = rg_doc_parse_epub(NULL, data, len, &lim, &doc, err); break;
    case RG_DOC_FORMAT_PDF: rc = rg_doc_parse_pdf_mem(data, len, &lim, &doc, err); break;
    case RG_DOC_FORMAT_ZIM:
        return rg_err_set(err, RG_EUNSUPPORTED, "a ZIM archive is read from a file only");
    default: return rg_err_set(err, RG_EUNSUPPORTED, "unknown document format");
    }
    return deliver(rc, doc, cb, user);
}

/* Reads the whole file (at most max bytes) into a new buffer. */
static int read_file(int fd, const char *path, uint64_t max, char **out, size_t *out_len, char *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return rg_err_set(err, RG_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return rg_err_set(err, RG_EIO, "%s: not a regular file", path);
    if ((uint64_t)st.st_size > max)
        return rg_err_set(err, RG_ETOOBIG, "%s: %lld bytes over %llu (max_file_bytes)", path,
                          (long long)st.st_size, (unsigned long long)max);
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = rg_malloc(cap);
    if (!buf) return rg_err_set(err, RG_ENOMEM, "out of memory");
    for (;;) {
        if (n == cap - 1) { /* the file grew while read: stay within max */
            if (n >= max) {
                rg_free(buf);
                return rg_err_set(err, RG_ETOOBIG, "%s: over %llu bytes (max_file_bytes)", path,
                                  (unsigned long long)max);
            }
            size_t nc = cap * 2 > max + 1 ? (size_t)max + 1 : cap * 2;
            char *p = rg_realloc(buf, nc);
            if (!p) {
                rg_free(buf);
                return rg_err_set(err, RG_ENOMEM, "out of memory");
            }
            buf = p;
            cap = nc;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            rg_free(buf);
            return rg_err_set(err, RG_EIO, "%s: %s", path, strerror(e));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    buf[n] = 0;
    *out = buf;
    *out_len = n;
    return RG_OK;
}

int rg_doc_parse_file(const char *path, const struct rg_doc_limits *limits, rg_doc_fn cb,
                      void *user, char *err)
{
    struct rg_doc_limits lim;
    rg_doc_limits_resolve(limits, &lim);
    if (!path || !cb) return rg_err_set(err, RG_EINVAL, "no path or no callback");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rg_err_set(err, RG_EIO, "%s: %s", path, strerror(errno));
    unsigned char head[64];
    ssize_t hn = pread(fd, head, sizeof head, 0);
    if (hn < 0) {
        int e = errno;
        close(fd);
        return rg_err_set(err, RG_EIO, "%s: %s", path, strerror(e));
    }
    enum rg_doc_format f = rg_doc_format_detect(path, head, (size_t)hn);
    if (f == RG_DOC_FORMAT_UNKNOWN) {
        if (hn >= 4 && head[0] == 'P' && head[1] == 'K') {
            close(fd);
            return rg_err_set(err, RG_EUNSUPPORTED, "%s: a zip archive that is not an EPUB", path);
        }
        f = RG_DOC_FORMAT_TEXT;
    }
    if (f == RG_DOC_FORMAT_ZIM || f == RG_DOC_FORMAT_EPUB) {
        /* archives are read in place, entry by entry, never whole */
        struct stat st;
        int rc = fstat(fd, &st) == 0 ? RG_OK : RG_EIO;
        close(fd);
        if (rc) return rg_err_set(err, RG_EIO, "%s: %s", path, strerror(errno));
        if (f == RG_DOC_FORMAT_ZIM) return rg_doc_parse_zim_file(path, &lim, cb, user, err);
        if ((uint64_t)st.st_size > lim.max_file_bytes)
            return rg_err_set(err, RG_ETOOBIG, "%s: %lld bytes over %llu (max_file_bytes)", path,
                              (long long)st.st_size, (unsigned long long)lim.max_file_bytes);
        struct rg_doc *doc = NULL;
        rc = rg_doc_parse_epub(path, NULL, 0, &lim, &doc, err);
        return deliver(rc, doc, cb, user);
    }
    char *data = NULL;
    size_t len = 0;
    int rc = read_file(fd, path, lim.max_file_bytes, &data, &len, err);
    close(fd);
    if (rc) return rc;
    rc = rg_doc_parse_mem(f, data, len, &lim, cb, user, err);
    rg_free(data);
    return rc;
}

static int take_first(struct rg_doc *doc, void *user)
{
    struct rg_doc **out = user;
    *out = doc;
    return 1; /* stop after the first */
}

int rg_doc_load_file(const char *path, const struct rg_doc_limits *limits, struct rg_doc **out,
                     char *err)
{
    *out = NULL;
    int rc = rg_doc_parse_file(path, limits, take_first, out, err);
    if (rc == 1 || (rc == RG_OK && *out)) return RG_OK;
    if (rc == RG_OK) return rg_err_set(err, RG_ENOTFOUND, "%s: no document in the file", path);
    return rc;
}

int rg_doc_load_mem(enum rg_doc_format format, const void *data, size_t len,
                    const struct rg_doc_limits *limits, struct rg_doc **out, char *err)
{
    *out = NULL;
    int rc = rg_doc_parse_mem(format, data, len, limits, take_first, out, err);
    if (rc == 1 || (rc == RG_OK && *out)) return RG_OK;
    return rc;
}
