/*
 * What the parsers of src/index share: a document builder that enforces the
 * limits while blocks and sections are added (UTF-8 repair, whitespace
 * folding, the heading tree), and each format's entry point, called by doc.c.
 */
#ifndef RG_INDEX_DOC_INTERNAL_H
#define RG_INDEX_DOC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "index/doc.h"

struct rg_docb {
    struct rg_doc *doc;
    const struct rg_doc_limits *lim; /* resolved: no zero fields */
    char *err;
    uint64_t text_bytes;
    size_t cap_blocks, cap_sections, cap_parts;
    int cur_section; /* innermost open section, -1 before the first */
    int cur_part;    /* -1 when none */
    int page;        /* -1 when none */
};

/* Copies l, replacing zero fields with the defaults. */
void rg_doc_limits_resolve(const struct rg_doc_limits *l, struct rg_doc_limits *out);

/* Starts a document of format f in b->doc. RG_OK or RG_ENOMEM. */
int rg_docb_init(struct rg_docb *b, enum rg_doc_format f, const struct rg_doc_limits *lim,
                 char *err);
/* Frees the document being built (after a failure). */
void rg_docb_fail(struct rg_docb *b);
/* Hands the document over (b no longer owns it). */
struct rg_doc *rg_docb_finish(struct rg_docb *b);

/*
 * Opens a section titled text[0..len) (cleaned like a block) at level >= 1;
 * its parent is the innermost open section of a smaller level. It becomes
 * the current section. Returns its index (>= 0) or RG_ETOOBIG / RG_ENOMEM.
 */
int rg_docb_section(struct rg_docb *b, const char *title, size_t len, int level);
/*
 * Adds a block: invalid UTF-8 replaced by U+FFFD, whitespace folded to single
 * spaces and trimmed (CODE keeps newlines and spaces, trims blank edges). An
 * empty result adds nothing and returns RG_OK. Returns RG_OK, RG_ETOOBIG
 * (max_blocks, max_text_bytes), RG_ENOMEM.
 */
int rg_docb_block(struct rg_docb *b, enum rg_doc_block_kind kind, const char *text, size_t len,
                  int64_t src_start, int64_t src_end);
/* Adds a part name and makes it current; returns its index or RG_ENOMEM. */
int rg_docb_part(struct rg_docb *b, const char *name);
/* Sets *field (a meta string) to a cleaned copy of text[0..len) unless it is
 * already set or the text is blank; RG_OK or RG_ENOMEM. */
int rg_docb_meta(struct rg_docb *b, char **field, const char *text, size_t len);
/* Appends "; " + text to *field (authors). RG_OK or RG_ENOMEM. */
int rg_docb_meta_append(struct rg_docb *b, char **field, const char *sep, const char *text,
                        size_t len);

/* Cleans text into a new string (UTF-8 repair; whitespace folded unless keep_ws). */
char *rg_doc_clean_text(const char *text, size_t len, bool keep_ws, size_t *out_len);
/* true when s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
bool rg_doc_utf8_valid(const char *s, size_t len);

/* libxml2's one-time initialisation (thread-safe, idempotent). */
void rg_doc_xml_init(void);

/* ---- format entry points: each builds one document into *out ---- */
int rg_doc_parse_text_mem(const char *data, size_t len, const struct rg_doc_limits *lim,
                          struct rg_doc **out, char *err);
int rg_doc_parse_md_mem(const char *data, size_t len, const struct rg_doc_limits *lim,
                        struct rg_doc **out, char *err);
int rg_doc_parse_html_mem(const char *data, size_t len, const struct rg_doc_limits *lim,
                          struct rg_doc **out, char *err);
/*
 * A table-of-contents entry that opens a section where an element with this
 * id appears in a page (EPUB: nav/NCX targets with a fragment). opened is set
 * when it was found.
 */
struct rg_doc_anchor {
    const char *id;
    const char *title;
    int level;
    bool opened;
};

/*
 * Adds the blocks and headings of one HTML/XHTML page to b (the EPUB reader
 * and the ZIM reader use it per part). Offsets are relative to data. When
 * meta is true, <title>, <meta name=author> and <html lang> fill b's metadata.
 * heading_base is added to h1..h6 levels (EPUB: headings below chapters); an
 * anchor found in the page opens its section there and makes its level the
 * base. A heading whose text is the current section's title opens no new
 * section (a chapter's own heading under its TOC entry).
 */
int rg_doc_html_blocks(struct rg_docb *b, const char *data, size_t len, bool meta, int heading_base,
                       struct rg_doc_anchor *anchors, size_t n_anchors);
/* EPUB from a zip in memory (path NULL) or on disk (data NULL). */
int rg_doc_parse_epub(const char *path, const void *data, size_t len,
                      const struct rg_doc_limits *lim, struct rg_doc **out, char *err);
int rg_doc_parse_pdf_mem(const void *data, size_t len, const struct rg_doc_limits *lim,
                         struct rg_doc **out, char *err);
/* zim_doc.c (over zim.h's reader): streams the HTML articles, one document each. */
int rg_doc_parse_zim_file(const char *path, const struct rg_doc_limits *lim, rg_doc_fn cb,
                          void *user, char *err);

#endif
