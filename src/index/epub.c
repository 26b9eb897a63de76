/*
 * EPUB 2 and 3 (libzip + libxml2): META-INF/container.xml names the package
 * (OPF); its metadata fills the document's, its manifest and spine give the
 * XHTML parts in reading order; nav.xhtml (EPUB 3) or toc.ncx (EPUB 2) gives
 * the chapter titles, which open sections where their targets are (the start
 * of a part, or the element with the fragment's id). Each part is read by the
 * HTML reader (html.c), its blocks' offsets relative to the part.
 *
 * The archive is hostile: names that climb out of it ("../", absolute) are
 * refused for the whole archive, as are too many entries, an entry or a total
 * over the uncompressed limits, or a compression ratio past max_ratio (zip
 * bombs); entries are read through a bounded buffer whatever their headers
 * claim. XML is parsed with XML_PARSE_NONET and no entity substitution, and a
 * document that declares entities (billion laughs, external entities) is
 * refused. DRM-encrypted books are RG_EUNSUPPORTED.
 */
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zip.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "index/doc_internal.h"

/* Set when a small copy (a name, an attribute) failed for want of memory:
 * those helpers return NULL, which the readers treat as "absent", and the
 * parse then ends in RG_ENOMEM instead of a wrong "malformed". One parse runs
 * per thread at a time. */
static _Thread_local bool oom;

static char *dup_or_oom(char *s)
{
    if (!s) oom = true;
    return s;
}

/* Ratio checks start past this size: tiny files of padding compress far. */
#define RATIO_FLOOR (1u << 20)

struct epub {
    zip_t *za;
    const struct rg_doc_limits *lim;
    char *err;
    uint64_t read_total; /* uncompressed bytes read so far */
};

struct item {
    char *id, *href, *type, *props; /* href resolved to an archive name */
};

struct toc_entry {
    char *file; /* archive name */
    char *frag; /* NULL when the entry targets the part's start */
    char *title;
    int level;
};

struct pkg {
    struct item *items;
    size_t n_items;
    char **spine; /* idrefs */
    size_t n_spine;
    char *toc_id; /* spine toc= (NCX) */
    struct toc_entry *toc;
    size_t n_toc, cap_toc;
};

static void pkg_free(struct pkg *p)
{
    for (size_t i = 0; i < p->n_items; i++) {
        rg_free(p->items[i].id);
        rg_free(p->items[i].href);
        rg_free(p->items[i].type);
        rg_free(p->items[i].props);
    }
    rg_free(p->items);
    for (size_t i = 0; i < p->n_spine; i++)
        rg_free(p->spine[i]);
    rg_free(p->spine);
    rg_free(p->toc_id);
    for (size_t i = 0; i < p->n_toc; i++) {
        rg_free(p->toc[i].file);
        rg_free(p->toc[i].frag);
        rg_free(p->toc[i].title);
    }
    rg_free(p->toc);
}

/* A name that stays inside the archive: not absolute, no ".." segment, no
 * backslash or drive letter, no NUL. */
static bool name_safe(const char *n)
{
    if (!n || !*n || n[0] == '/' || n[0] == '\\' || strchr(n, '\\') || (n[0] && n[1] == ':'))
        return false;
    for (const char *p = n; *p;) {
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 2 && p[0] == '.' && p[1] == '.') return false;
        p += l;
        if (*p == '/') p++;
    }
    return true;
}

/*
 * Resolves href (relative to the directory of base, URL-escaped, maybe with
 * a fragment) to an archive name; *frag gets the fragment (or NULL). Returns
 * NULL when it leaves the archive, is a URL with a scheme, or on ENOMEM.
 */
static char *resolve(const char *base, const char *href, char **frag)
{
    if (frag) *frag = NULL;
    if (!href || strstr(href, "://") || !strncasecmp(href, "mailto:", 7) || href[0] == '/')
        return NULL;
    const char *hash = strchr(href, '#');
    size_t hl = hash ? (size_t)(hash - href) : strlen(href);
    const char *slash = base ? strrchr(base, '/') : NULL;
    size_t dl = slash ? (size_t)(slash - base) + 1 : 0;
    char *joined = rg_malloc(dl + hl + 1);
    if (!joined) return dup_or_oom(NULL);
    memcpy(joined, base, dl);
    /* percent-decode the href part */
    size_t n = dl;
    for (size_t i = 0; i < hl; i++) {
        char c = href[i];
        if (c == '%' && i + 2 < hl && isxdigit((unsigned char)href[i + 1]) &&
            isxdigit((unsigned char)href[i + 2])) {
            char hx[3] = {href[i + 1], href[i + 2], 0};
            long v = strtol(hx, NULL, 16);
            if (v > 0) {
                joined[n++] = (char)v;
                i += 2;
                continue;
            }
        }
        joined[n++] = c;
    }
    joined[n] = 0;
    /* normalise "." and ".." segments; ".." above the root fails */
    char *out = rg_malloc(n + 1);
    if (!out) {
        rg_free(joined);
        return dup_or_oom(NULL);
    }
    size_t o = 0;
    for (char *p = joined; *p;) {
        char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0 || (l == 1 && p[0] == '.')) {
        } else if (l == 2 && p[0] == '.' && p[1] == '.') {
            if (o == 0) {
                rg_free(joined);
                rg_free(out);
                return NULL;
            }
            o--;
            while (o > 0 && out[o - 1] != '/')
                o--;
        } else {
            memcpy(out + o, p, l);
            o += l;
            if (e) out[o++] = '/';
        }
        p += l;
        if (*p == '/') p++;
    }
    out[o] = 0;
    rg_free(joined);
    if (frag && hash && hash[1]) *frag = dup_or_oom(rg_strdup(hash + 1));
    return out;
}

/* Checks every entry name and the declared sizes before anything is read. */
static int check_archive(struct epub *e)
{
    zip_int64_t n = zip_get_num_entries(e->za, 0);
    if (n < 0) return rg_err_set(e->err, RG_EFORMAT, "EPUB: unreadable zip directory");
    if ((uint64_t)n > e->lim->max_entries)
        return rg_err_set(e->err, RG_ETOOBIG, "EPUB: %lld entries over %u (max_entries)",
                          (long long)n, e->lim->max_entries);
    uint64_t total = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t st;
        if (zip_stat_index(e->za, (zip_uint64_t)i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME))
            return rg_err_set(e->err, RG_EFORMAT, "EPUB: unreadable entry %lld", (long long)i);
        if (!name_safe(st.name))
            return rg_err_set(e->err, RG_EFORMAT, "EPUB: entry name \"%.80s\" leaves the archive",
                              st.name);
        if (st.valid & ZIP_STAT_SIZE) {
            if (st.size > e->lim->max_entry_bytes)
                return rg_err_set(e->err, RG_ETOOBIG,
                                  "EPUB: entry \"%.80s\" of %llu bytes (max_entry_bytes)", st.name,
                                  (unsigned long long)st.size);
            total += st.size;
            if ((st.valid & ZIP_STAT_COMP_SIZE) && st.size > RATIO_FLOOR &&
                st.size / (st.comp_size ? st.comp_size : 1) > e->lim->max_ratio)
                return rg_err_set(
                    e->err, RG_ETOOBIG,
                    "EPUB: entry \"%.80s\" expands %llu times (max_ratio, a zip bomb?)", st.name,
                    (unsigned long long)(st.size / (st.comp_size ? st.comp_size : 1)));
        }
    }
    if (total > e->lim->max_uncompressed_bytes)
        return rg_err_set(e->err, RG_ETOOBIG,
                          "EPUB: %llu bytes uncompressed (max_uncompressed_bytes)",
                          (unsigned long long)total);
    return RG_OK;
}

/* Reads entry name whole through a bounded buffer. RG_ENOTFOUND when absent. */
static int read_entry(struct epub *e, const char *name, char **out, size_t *out_len)
{
    zip_int64_t idx = zip_name_locate(e->za, name, 0);
    if (idx < 0) return rg_err_set(e->err, RG_ENOTFOUND, "EPUB: no entry \"%.80s\"", name);
    zip_stat_t st;
    if (zip_stat_index(e->za, (zip_uint64_t)idx, 0, &st) != 0)
        return rg_err_set(e->err, RG_EFORMAT, "EPUB: unreadable entry \"%.80s\"", name);
    if (st.valid & ZIP_STAT_ENCRYPTION_METHOD && st.encryption_method != ZIP_EM_NONE)
        return rg_err_set(e->err, RG_EUNSUPPORTED, "EPUB: entry \"%.80s\" is encrypted", name);
    zip_file_t *f = zip_fopen_index(e->za, (zip_uint64_t)idx, 0);
    if (!f)
        return rg_err_set(e->err, RG_EFORMAT, "EPUB: cannot open \"%.80s\": %s", name,
                          zip_strerror(e->za));
    uint64_t budget = e->lim->max_uncompressed_bytes - e->read_total;
    uint64_t max = e->lim->max_entry_bytes < budget ? e->lim->max_entry_bytes : budget;
    struct rg_buf b;
    rg_buf_init(&b, (size_t)max);
    char chunk[65536];
    int rc = RG_OK;
    for (;;) {
        zip_int64_t r = zip_fread(f, chunk, sizeof chunk);
        if (r < 0) {
            rc = rg_err_set(e->err, RG_EFORMAT, "EPUB: \"%.80s\" is damaged: %s", name,
                            zip_file_strerror(f));
            break;
        }
        if (r == 0) break;
        rc = rg_buf_append(&b, chunk, (size_t)r);
        if (rc == RG_ETOOBIG) {
            rc = rg_err_set(e->err, RG_ETOOBIG, "EPUB: \"%.80s\" expands past %llu bytes (%s)",
                            name, (unsigned long long)max,
                            max == budget ? "max_uncompressed_bytes" : "max_entry_bytes");
            break;
        }
        if (rc) {
            rc = rg_err_set(e->err, RG_ENOMEM, "out of memory");
            break;
        }
        if ((st.valid & ZIP_STAT_COMP_SIZE) && b.len > RATIO_FLOOR &&
            b.len / (st.comp_size ? st.comp_size : 1) > e->lim->max_ratio) {
            rc = rg_err_set(e->err, RG_ETOOBIG,
                            "EPUB: \"%.80s\" expands past max_ratio (a zip bomb?)", name);
            break;
        }
    }
    zip_fclose(f);
    if (rc) {
        rg_buf_free(&b);
        return rc;
    }
    e->read_total += b.len;
    *out_len = b.len;
    *out = rg_buf_steal(&b);
    if (!*out) return rg_err_set(e->err, RG_ENOMEM, "out of memory");
    return RG_OK;
}

/* Parses an XML entry: no network, no DTD, no entity substitution; a
 * document that declares entities is refused outright. */
static int read_xml(struct epub *e, const char *name, xmlDocPtr *out)
{
    char *data = NULL;
    size_t len = 0;
    int rc = read_entry(e, name, &data, &len);
    if (rc || !data) return rc ? rc : RG_ENOMEM;
    if (memmem(data, len, "<!ENTITY", 8)) {
        rg_free(data);
        return rg_err_set(e->err, RG_EFORMAT, "EPUB: \"%.80s\" declares XML entities (refused)",
                          name);
    }
    if (len > INT32_MAX) {
        rg_free(data);
        return rg_err_set(e->err, RG_ETOOBIG, "EPUB: \"%.80s\" too large", name);
    }
    xmlDocPtr d = xmlReadMemory(data, (int)len, name, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                    XML_PARSE_NOCDATA);
    rg_free(data);
    if (!d) return rg_err_set(e->err, RG_EFORMAT, "EPUB: \"%.80s\" is not well-formed XML", name);
    *out = d;
    return RG_OK;
}

static bool is(xmlNodePtr n, const char *local)
{
    return n && n->type == XML_ELEMENT_NODE && n->name && !strcasecmp((const char *)n->name, local);
}

static xmlNodePtr child(xmlNodePtr n, const char *local)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (is(c, local)) return c;
    return NULL;
}

static char *prop(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    if (!v) return NULL;
    char *s = dup_or_oom(rg_strdup((const char *)v));
    xmlFree(v);
    return s;
}

/* Text content, at most 64 KiB, as a new string. */
static char *text_of(xmlNodePtr n)
{
    xmlChar *v = xmlNodeGetContent(n);
    if (!v) return dup_or_oom(rg_strdup(""));
    size_t l = strlen((const char *)v);
    char *s = dup_or_oom(rg_strndup((const char *)v, l > 65536 ? 65536 : l));
    xmlFree(v);
    return s;
}

static int meta_from(struct rg_docb *b, char **field, xmlNodePtr n, bool append)
{
    char *t = text_of(n);
    if (!t) return rg_err_set(b->err, RG_ENOMEM, "out of memory");
    int rc = append ? rg_docb_meta_append(b, field, "; ", t, strlen(t))
                    : rg_docb_meta(b, field, t, strlen(t));
    rg_free(t);
    return rc;
}

static int parse_opf(struct epub *e, struct rg_docb *b, const char *opf_name, struct pkg *p)
{
    xmlDocPtr d = NULL;
    int rc = read_xml(e, opf_name, &d);
    if (rc) return rc;
    xmlNodePtr root = xmlDocGetRootElement(d);
    if (!is(root, "package")) {
        xmlFreeDoc(d);
        return rg_err_set(e->err, RG_EFORMAT, "EPUB: \"%.80s\" is not an OPF package", opf_name);
    }
    char *uid = prop(root, "unique-identifier");
    xmlNodePtr md = child(root, "metadata"), mf = child(root, "manifest"),
               sp = child(root, "spine");
    struct rg_doc_meta *m = &b->doc->meta;
    for (xmlNodePtr c = md ? md->children : NULL; c && !rc; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (is(c, "title"))
            rc = meta_from(b, &m->title, c, false);
        else if (is(c, "creator"))
            rc = meta_from(b, &m->authors, c, true);
        else if (is(c, "language"))
            rc = meta_from(b, &m->language, c, false);
        else if (is(c, "date"))
            rc = meta_from(b, &m->date, c, false);
        else if (is(c, "subject")) {
            char *t = text_of(c);
            rc = t ? rg_docb_meta_append(b, &m->tags, ", ", t, strlen(t)) : RG_ENOMEM;
            rg_free(t);
        } else if (is(c, "identifier")) {
            char *id = prop(c, "id");
            bool main_id = uid && id && strcmp(uid, id) == 0;
            rg_free(id);
            if (main_id && m->identifier) {
                rg_free(m->identifier);
                m->identifier = NULL;
            }
            if (main_id || !m->identifier) rc = meta_from(b, &m->identifier, c, false);
        }
    }
    rg_free(uid);
    size_t cap = 0;
    for (xmlNodePtr c = mf ? mf->children : NULL; c && !rc; c = c->next) {
        if (!is(c, "item")) continue;
        if (p->n_items == cap) {
            size_t nc = cap ? cap * 2 : 32;
            void *q = rg_realloc(p->items, nc * sizeof *p->items);
            if (!q) {
                rc = RG_ENOMEM;
                break;
            }
            p->items = q, cap = nc;
        }
        char *href = prop(c, "href");
        struct item it = {.id = prop(c, "id"),
                          .href = resolve(opf_name, href, NULL),
                          .type = prop(c, "media-type"),
                          .props = prop(c, "properties")};
        rg_free(href);
        if (!it.id || !it.href) { /* no id, or an href that leaves the archive: unusable */
            rg_free(it.id), rg_free(it.href), rg_free(it.type), rg_free(it.props);
            continue;
        }
        p->items[p->n_items++] = it;
    }
    cap = 0;
    if (sp && !rc) p->toc_id = prop(sp, "toc");
    for (xmlNodePtr c = sp ? sp->children : NULL; c && !rc; c = c->next) {
        if (!is(c, "itemref")) continue;
        if (p->n_spine == cap) {
            size_t nc = cap ? cap * 2 : 32;
            void *q = rg_realloc(p->spine, nc * sizeof *p->spine);
            if (!q) {
                rc = RG_ENOMEM;
                break;
            }
            p->spine = q, cap = nc;
        }
        char *idref = prop(c, "idref");
        if (idref) p->spine[p->n_spine++] = idref;
    }
    xmlFreeDoc(d);
    if (rc == RG_ENOMEM) return rg_err_set(e->err, RG_ENOMEM, "out of memory");
    if (rc) return rc;
    if (!p->n_spine) return rg_err_set(e->err, RG_EFORMAT, "EPUB: the spine is empty");
    return RG_OK;
}

static const struct item *find_item(const struct pkg *p, const char *id)
{
    for (size_t i = 0; id && i < p->n_items; i++)
        if (!strcmp(p->items[i].id, id)) return &p->items[i];
    return NULL;
}

static int toc_add(struct pkg *p, const char *base, const char *href, char *title, int level)
{
    char *frag;
    char *file = resolve(base, href, &frag);
    if (!file || !title) {
        rg_free(file), rg_free(frag), rg_free(title);
        return RG_OK; /* an entry pointing nowhere is skipped */
    }
    if (p->n_toc == p->cap_toc) {
        size_t nc = p->cap_toc ? p->cap_toc * 2 : 32;
        void *q = rg_realloc(p->toc, nc * sizeof *p->toc);
        if (!q) {
            rg_free(file), rg_free(frag), rg_free(title);
            return RG_ENOMEM;
        }
        p->toc = q, p->cap_toc = nc;
    }
    p->toc[p->n_toc++] = (struct toc_entry){file, frag, title, level};
    return RG_OK;
}

/* NCX: navMap > navPoint (navLabel > text, content@src), nested. */
static int ncx_points(struct pkg *p, const char *base, xmlNodePtr n, int level, size_t max)
{
    if (level > 16) return RG_OK;
    for (xmlNodePtr c = n->children; c; c = c->next) {
        if (!is(c, "navPoint")) continue;
        if (p->n_toc >= max) return RG_OK;
        xmlNodePtr label = child(child(c, "navLabel"), "text"), content = child(c, "content");
        char *src = content ? prop(content, "src") : NULL;
        int rc = toc_add(p, base, src, label ? text_of(label) : NULL, level);
        rg_free(src);
        if (rc) return rc;
        rc = ncx_points(p, base, c, level + 1, max);
        if (rc) return rc;
    }
    return RG_OK;
}

/* nav.xhtml: <nav epub:type="toc"> <ol> <li> <a href>title</a> <ol>... */
static int nav_list(struct pkg *p, const char *base, xmlNodePtr ol, int level, size_t max)
{
    if (level > 16) return RG_OK;
    for (xmlNodePtr li = ol->children; li; li = li->next) {
        if (!is(li, "li")) continue;
        if (p->n_toc >= max) return RG_OK;
        xmlNodePtr a = child(li, "a");
        if (!a) a = child(li, "span");
        if (a) {
            char *href = prop(a, "href");
            int rc = toc_add(p, base, href, text_of(a), level);
            rg_free(href);
            if (rc) return rc;
        }
        xmlNodePtr sub = child(li, "ol");
        if (sub) {
            int rc = nav_list(p, base, sub, level + 1, max);
            if (rc) return rc;
        }
    }
    return RG_OK;
}

static xmlNodePtr find_nav(xmlNodePtr n, int depth)
{
    if (depth > 64) return NULL;
    for (xmlNodePtr c = n; c; c = c->next) {
        if (is(c, "nav")) {
            xmlChar *t = xmlGetProp(c, (const xmlChar *)"type");
            if (!t) t = xmlGetProp(c, (const xmlChar *)"epub:type");
            bool toc = t && strstr((const char *)t, "toc");
            if (t) xmlFree(t);
            if (toc) return c;
        }
        xmlNodePtr r = c->children ? find_nav(c->children, depth + 1) : NULL;
        if (r) return r;
    }
    return NULL;
}

static int read_toc(struct epub *e, struct pkg *p)
{
    const struct item *nav = NULL;
    for (size_t i = 0; i < p->n_items && !nav; i++)
        if (p->items[i].props && strstr(p->items[i].props, "nav")) nav = &p->items[i];
    int rc;
    if (nav) {
        char *data = NULL;
        size_t len = 0;
        rc = read_entry(e, nav->href, &data, &len);
        if (rc) return rc == RG_ENOTFOUND ? RG_OK : rc;
        if (len > INT32_MAX) {
            rg_free(data);
            return RG_OK;
        }
        htmlDocPtr d = htmlReadMemory(data, (int)len, NULL, NULL,
                                      HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                          HTML_PARSE_RECOVER);
        rg_free(data);
        if (!d) return RG_OK;
        xmlNodePtr n = find_nav(xmlDocGetRootElement(d), 0), ol = n ? child(n, "ol") : NULL;
        rc = ol ? nav_list(p, nav->href, ol, 1, e->lim->max_sections) : RG_OK;
        xmlFreeDoc(d);
        if (rc) return rg_err_set(e->err, RG_ENOMEM, "out of memory");
        if (p->n_toc) return RG_OK;
    }
    const struct item *ncx = find_item(p, p->toc_id);
    for (size_t i = 0; i < p->n_items && !ncx; i++)
        if (p->items[i].type && !strcmp(p->items[i].type, "application/x-dtbncx+xml"))
            ncx = &p->items[i];
    if (!ncx) return RG_OK;
    xmlDocPtr d = NULL;
    rc = read_xml(e, ncx->href, &d);
    if (rc == RG_ENOTFOUND) return RG_OK;
    if (rc) return rc;
    xmlNodePtr map = child(xmlDocGetRootElement(d), "navMap");
    rc = map ? ncx_points(p, ncx->href, map, 1, e->lim->max_sections) : RG_OK;
    xmlFreeDoc(d);
    return rc ? rg_err_set(e->err, RG_ENOMEM, "out of memory") : RG_OK;
}

/* DRM: Adobe ADEPT or other xmlenc content encryption (font obfuscation is fine). */
static int check_drm(struct epub *e)
{
    if (zip_name_locate(e->za, "META-INF/rights.xml", 0) >= 0)
        return rg_err_set(e->err, RG_EUNSUPPORTED, "EPUB: DRM-protected (rights.xml)");
    char *data = NULL;
    size_t len = 0;
    int rc = read_entry(e, "META-INF/encryption.xml", &data, &len);
    if (rc == RG_ENOTFOUND) return RG_OK;
    if (rc || !data) return rc ? rc : RG_ENOMEM;
    bool drm = memmem(data, len, "xmlenc#aes", 10) || memmem(data, len, "xmlenc#kw-", 10) ||
               memmem(data, len, "xmlenc#tripledes", 16);
    rg_free(data);
    return drm ? rg_err_set(e->err, RG_EUNSUPPORTED, "EPUB: DRM-encrypted content") : RG_OK;
}

static char *container_rootfile(struct epub *e, int *rc)
{
    xmlDocPtr d = NULL;
    *rc = read_xml(e, "META-INF/container.xml", &d);
    if (*rc) return NULL;
    char *path = NULL;
    xmlNodePtr rfs = child(xmlDocGetRootElement(d), "rootfiles");
    for (xmlNodePtr c = rfs ? rfs->children : NULL; c && !path; c = c->next) {
        if (!is(c, "rootfile")) continue;
        char *mt = prop(c, "media-type");
        if (!mt || !strcmp(mt, "application/oebps-package+xml")) path = prop(c, "full-path");
        rg_free(mt);
    }
    xmlFreeDoc(d);
    if (!path)
        *rc = rg_err_set(e->err, RG_EFORMAT, "EPUB: container.xml names no package");
    else if (!name_safe(path)) {
        rg_free(path);
        path = NULL;
        *rc = rg_err_set(e->err, RG_EFORMAT, "EPUB: package path leaves the archive");
    }
    return path;
}

static int read_parts(struct epub *e, struct rg_docb *b, struct pkg *p)
{
    size_t next_toc = 0;
    for (size_t s = 0; s < p->n_spine; s++) {
        const struct item *it = find_item(p, p->spine[s]);
        if (!it || !it->type ||
            (strcmp(it->type, "application/xhtml+xml") && strcmp(it->type, "text/html")))
            continue;
        char *data = NULL;
        size_t len = 0;
        int rc = read_entry(e, it->href, &data, &len);
        if (rc == RG_ENOTFOUND) continue; /* a spine item missing from the zip */
        if (rc) return rc;
        rc = rg_docb_part(b, it->href);
        /* TOC entries for this part: those without a fragment open here, those
         * with one open at their element */
        struct rg_doc_anchor *anchors = NULL;
        size_t na = 0;
        int base = b->cur_section >= 0 ? b->doc->sections[b->cur_section].level : 0;
        for (size_t t = 0; t < p->n_toc && rc >= 0; t++) {
            if (strcmp(p->toc[t].file, it->href)) continue;
            if (!p->toc[t].frag && t >= next_toc) {
                rc = rg_docb_section(b, p->toc[t].title, strlen(p->toc[t].title), p->toc[t].level);
                base = p->toc[t].level;
                next_toc = t + 1;
            } else if (p->toc[t].frag) {
                if (!anchors) anchors = rg_calloc(p->n_toc, sizeof *anchors);
                if (!anchors) {
                    rc = RG_ENOMEM;
                    break;
                }
                anchors[na++] =
                    (struct rg_doc_anchor){p->toc[t].frag, p->toc[t].title, p->toc[t].level, false};
            }
        }
        if (rc >= 0) rc = rg_doc_html_blocks(b, data, len, false, base, anchors, na);
        rg_free(anchors);
        rg_free(data);
        if (rc == RG_ENOMEM) return rg_err_set(e->err, RG_ENOMEM, "out of memory");
        if (rc < 0) return rc;
    }
    return RG_OK;
}

int rg_doc_parse_epub(const char *path, const void *data, size_t len,
                      const struct rg_doc_limits *lim, struct rg_doc **out, char *err)
{
    rg_doc_xml_init();
    oom = false;
    struct epub e = {.lim = lim, .err = err};
    zip_error_t ze;
    zip_error_init(&ze);
    if (path) {
        int zerr = 0;
        e.za = zip_open(path, ZIP_RDONLY, &zerr);
        if (!e.za) zip_error_init_with_code(&ze, zerr);
    } else {
        zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
        if (src) {
            e.za = zip_open_from_source(src, ZIP_RDONLY, &ze);
            if (!e.za) zip_source_free(src);
        }
    }
    if (!e.za) {
        int rc = rg_err_set(err, zip_error_code_zip(&ze) == ZIP_ER_MEMORY ? RG_ENOMEM : RG_EFORMAT,
                            "EPUB: not a readable zip archive: %s", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return rc;
    }
    zip_error_fini(&ze);
    struct rg_docb b;
    struct pkg p = {0};
    char *opf = NULL;
    int rc = rg_docb_init(&b, RG_DOC_FORMAT_EPUB, lim, err);
    if (!rc) rc = check_archive(&e);
    if (!rc) rc = check_drm(&e);
    if (!rc) opf = container_rootfile(&e, &rc);
    if (!rc) rc = parse_opf(&e, &b, opf, &p);
    if (rc == RG_ENOMEM) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    if (!rc) rc = read_toc(&e, &p);
    if (!rc) rc = read_parts(&e, &b, &p);
    rg_free(opf);
    pkg_free(&p);
    zip_discard(e.za);
    if (oom) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    if (rc) {
        rg_docb_fail(&b);
        return rc == RG_ENOTFOUND ? RG_EFORMAT : rc;
    }
    *out = rg_docb_finish(&b);
    return RG_OK;
}
