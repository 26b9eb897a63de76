/*
 * ZIM archives as documents: each HTML article is its own document (title
 * and path from the archive, language from its metadata), read by the HTML
 * reader and handed to the callback at once, so an archive of millions of
 * articles is streamed in constant memory. An article that is too big or
 * fails to parse is skipped; out of memory and the callback stop the walk.
 */
#include <string.h>

#include "common/alloc.h"
#include "index/doc_internal.h"
#include "index/zim.h"

int rg_doc_parse_zim_file(const char *path, const struct rg_doc_limits *lim, rg_doc_fn cb,
                          void *user, char *err)
{
    char zerr[RG_ERR_SIZE] = "";
    struct rg_zim *z = rg_zim_open(path, zerr, sizeof zerr);
    if (!z) return rg_err_set(err, RG_EFORMAT, "%s: %s", path, zerr);
    uint64_t total = rg_zim_entry_count(z), seq = 0;
    const char *lang = rg_zim_language(z);
    int rc = RG_OK;
    for (;;) {
        struct rg_zim_article a;
        int r = rg_zim_next(z, lim->max_entry_bytes, &a, zerr, sizeof zerr);
        if (r == 0) break;
        if (r < 0) {
            rc = rg_err_set(err, RG_EFORMAT, "%s: %s", path, zerr);
            break;
        }
        if (a.too_big) continue;
        if (seq >= lim->max_docs) {
            rc = rg_err_set(err, RG_ETOOBIG, "%s: more than %llu articles (max_docs)", path,
                            (unsigned long long)lim->max_docs);
            break;
        }
        struct rg_docb b;
        char aerr[RG_ERR_SIZE];
        rc = rg_docb_init(&b, RG_DOC_FORMAT_ZIM, lim, aerr);
        if (!rc) rc = rg_docb_part(&b, a.path) < 0 ? RG_ENOMEM : RG_OK;
        if (!rc) rc = rg_docb_meta(&b, &b.doc->meta.title, a.title, strlen(a.title));
        if (!rc) rc = rg_docb_meta(&b, &b.doc->meta.identifier, a.path, strlen(a.path));
        if (!rc && *lang) rc = rg_docb_meta(&b, &b.doc->meta.language, lang, strlen(lang));
        if (!rc) rc = rg_doc_html_blocks(&b, a.data, a.len, true, 0, NULL, 0);
        if (rc == RG_ENOMEM) {
            rg_docb_fail(&b);
            rc = rg_err_set(err, RG_ENOMEM, "out of memory");
            break;
        }
        if (rc) { /* this article only */
            rg_docb_fail(&b);
            rc = RG_OK;
            continue;
        }
        struct rg_doc *doc = rg_docb_finish(&b);
        doc->seq = seq;
        doc->total = total > seq ? total : seq + 1;
        seq++;
        rc = cb(doc, user);
        if (rc) break;
    }
    rg_zim_close(z);
    return rc;
}
