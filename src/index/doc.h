/*
 * Documents of the knowledge library: one shape for every format the library
 * reads (plain text, Markdown, HTML, EPUB 2/3, PDF, ZIM), made by the parsers
 * in this folder (txt.c, md.c, html.c, epub.c, pdf.c, zim.cpp) and cut into
 * chunks by chunk.h. A document is its metadata, its heading tree (sections)
 * and its blocks of text in reading order, each block knowing where it came
 * from (section, page, archive part, byte offsets in the source) so that a
 * citation can open the exact passage.
 *
 * Every input is hostile: each parser runs under a struct rg_doc_limits and
 * any breach is an RG_E* error with a message, never a crash or an unbounded
 * allocation. XML is read without DTD loading, entity substitution or
 * network (libxml2 XML_PARSE_NONET, never XML_PARSE_NOENT).
 */
#ifndef RG_INDEX_DOC_H
#define RG_INDEX_DOC_H

#include <stddef.h>
#include <stdint.h>

enum rg_doc_format {
    RG_DOC_FORMAT_UNKNOWN = 0,
    RG_DOC_FORMAT_TEXT,
    RG_DOC_FORMAT_MARKDOWN,
    RG_DOC_FORMAT_HTML,
    RG_DOC_FORMAT_EPUB,
    RG_DOC_FORMAT_PDF,
    RG_DOC_FORMAT_ZIM,
};

/* "text", "markdown", "html", "epub", "pdf", "zim"; "unknown" otherwise. Never NULL. */
const char *rg_doc_format_name(enum rg_doc_format f);
/* The format of one of those names (case-insensitive); UNKNOWN for anything else. */
enum rg_doc_format rg_doc_format_from_name(const char *name);
/*
 * The format of a file from its first bytes (head, head_len; may be 0) and its
 * name (path; may be NULL). Magic wins over the extension: "PK\3\4" with an
 * "application/epub+zip" mimetype entry is EPUB, "%PDF-" is PDF, the ZIM magic
 * (0x44D495A little-endian) is ZIM; then the extension (.txt .text, .md
 * .markdown, .html .htm .xhtml, .epub, .pdf, .zim); then "<!doctype html" or
 * "<html" at the start is HTML. Returns UNKNOWN when nothing matches (a
 * caller may still try TEXT).
 */
enum rg_doc_format rg_doc_format_detect(const char *path, const void *head, size_t head_len);

/*
 * Caps for one parse. A breach is an error (RG_ETOOBIG for sizes and counts,
 * RG_EFORMAT for structure) with the limit named in err. 0 in a field means
 * "the default" (rg_doc_default_limits), never "unlimited".
 */
struct rg_doc_limits {
    uint64_t max_file_bytes;         /* the file (or memory input) itself; 256 MiB */
    uint64_t max_uncompressed_bytes; /* sum of an archive's entries read (EPUB); 512 MiB */
    uint64_t max_entry_bytes;        /* one archive entry or ZIM article, uncompressed; 64 MiB */
    uint32_t max_ratio;              /* uncompressed / compressed of one zip entry; 200 */
    uint32_t max_entries;            /* entries in a zip archive; 10000 */
    uint32_t max_xml_depth;          /* element nesting in XML/HTML; 256 */
    uint32_t max_blocks;             /* blocks in one document; 1000000 */
    uint32_t max_sections;           /* sections in one document; 100000 */
    uint64_t max_text_bytes;         /* total UTF-8 text of one document's blocks; 256 MiB */
    uint64_t max_docs;               /* documents from one file (ZIM articles); 100000000 */
};
/* Fills l with the defaults named above. */
void rg_doc_default_limits(struct rg_doc_limits *l);

struct rg_doc_meta {
    char *title;      /* NULL when the source has none */
    char *authors;    /* "; "-joined, NULL when none */
    char *language;   /* as the source says it ("en", "fr-CA"), NULL when none */
    char *identifier; /* EPUB dc:identifier, ZIM article path, NULL when none */
    char *encoding;   /* text: "utf-8", "windows-1252" or "latin-1" (the one chosen); else NULL */
    char *tags;       /* Markdown front matter tags/keywords, ", "-joined, NULL when none */
    char *date;       /* publication date as written, NULL when none */
};

/*
 * The heading tree: EPUB chapters from nav.xhtml/toc.ncx and headings inside
 * them, Markdown and HTML headings, a PDF's outline. Sections are in document
 * order; parent is the index of the enclosing section (-1 at top level), so
 * parent < own index always.
 */
struct rg_doc_section {
    char *title; /* UTF-8, never NULL ("" when untitled) */
    int level;   /* 1 = chapter / h1, 2 = h2, ... */
    int parent;  /* index into rg_doc.sections, -1 for a top-level section */
};

enum rg_doc_block_kind {
    RG_DOC_BLOCK_HEADING, /* a section's title as it stands in the text */
    RG_DOC_BLOCK_PARAGRAPH,
    RG_DOC_BLOCK_LIST_ITEM,
    RG_DOC_BLOCK_CODE, /* preformatted, newlines kept */
    RG_DOC_BLOCK_QUOTE,
    RG_DOC_BLOCK_TABLE, /* one row per line, cells separated by " | " */
};
/* "heading", "paragraph", "list_item", "code", "quote", "table". Never NULL. */
const char *rg_doc_block_kind_name(enum rg_doc_block_kind k);

struct rg_doc_block {
    enum rg_doc_block_kind kind;
    char *text;      /* valid UTF-8, NUL-terminated, whitespace collapsed except in CODE */
    size_t text_len; /* bytes, not counting the NUL */
    int section;     /* innermost enclosing section, -1 before the first heading */
    int page;        /* PDF: 1-based page; -1 for other formats */
    int part;        /* index into rg_doc.parts (EPUB spine item, ZIM article); -1 if none */
    /* Byte range [src_start, src_end) of the block in its source: the file for
     * text, Markdown and HTML; the part's XHTML for EPUB; -1 when unknown (PDF,
     * ZIM). HTML/XHTML: from the start tag to after the end tag (or to the next
     * block's start when the end tag is implied); Markdown: from the first to
     * the last byte of the block's text (markup around it outside); text: the
     * paragraph's lines. */
    int64_t src_start, src_end;
};

struct rg_doc {
    enum rg_doc_format format;
    struct rg_doc_meta meta;
    struct rg_doc_section *sections;
    size_t n_sections;
    struct rg_doc_block *blocks; /* in reading order */
    size_t n_blocks;
    char **parts; /* EPUB: spine hrefs (archive names) in spine order; ZIM: the article path */
    size_t n_parts;
    /* Position of this document in its file: 0-based sequence number and the
     * number the file holds (1 for most formats; ZIM: articles considered, an
     * estimate for progress bars, never less than seq + 1). */
    uint64_t seq, total;
};

/* Frees a document and everything it points to. Accepts NULL. */
void rg_doc_free(struct rg_doc *doc);

/*
 * Receives one parsed document. The callback owns doc and must rg_doc_free it
 * (at once or later). Returning nonzero stops the parse: rg_doc_parse_* then
 * returns that value unchanged (use a negative RG_E* or any positive value).
 */
typedef int (*rg_doc_fn)(struct rg_doc *doc, void *user);

/*
 * Parses the file at path, detecting its format (rg_doc_format_detect on its
 * first bytes and name; TEXT when nothing matches), and calls cb once per
 * document: once for text, Markdown, HTML, EPUB and PDF; once per HTML article
 * for a ZIM archive, streamed (the archive is never loaded whole; redirects
 * and non-HTML entries are skipped; an article that fails to parse is skipped
 * too, never stopping the archive). limits may be NULL (the defaults).
 * Returns RG_OK when every document was delivered, or:
 *   RG_EIO        the file cannot be opened or read (err has errno's text)
 *   RG_ETOOBIG    a limit was passed (err names it)
 *   RG_EFORMAT    malformed input (err says where)
 *   RG_EUNSUPPORTED  an encrypted/DRM EPUB or PDF, an unknown binary format
 *   RG_ENOMEM
 *   or the callback's nonzero return.
 * On an error no further callback is made; documents already delivered stay
 * the callback's. A parse that fails before the first document calls cb never.
 */
int rg_doc_parse_file(const char *path, const struct rg_doc_limits *limits, rg_doc_fn cb,
                      void *user, char *err);

/*
 * As rg_doc_parse_file for a document in memory (data, len) of a known
 * format (TEXT, MARKDOWN, HTML, EPUB, PDF; ZIM returns RG_EUNSUPPORTED). data
 * is only read and need not outlive the call. Used by the fuzzers and by
 * uploads that are not on disk yet.
 */
int rg_doc_parse_mem(enum rg_doc_format format, const void *data, size_t len,
                     const struct rg_doc_limits *limits, rg_doc_fn cb, void *user, char *err);

/* Convenience for single-document formats: parses and returns the first
 * document in *out (the caller frees it), stopping after it. Same returns,
 * and RG_ENOTFOUND when the file holds no document (an empty ZIM). */
int rg_doc_load_file(const char *path, const struct rg_doc_limits *limits, struct rg_doc **out,
                     char *err);
int rg_doc_load_mem(enum rg_doc_format format, const void *data, size_t len,
                    const struct rg_doc_limits *limits, struct rg_doc **out, char *err);

#endif
