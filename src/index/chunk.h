/*
 * The chunker: cuts a struct rg_doc into the passages that are embedded,
 * indexed and cited. Chunks follow the document's structure: a chunk never
 * crosses a section (chapter, heading) or a part (EPUB spine item); inside a
 * section whole blocks are packed up to max_tokens; a block longer than that
 * is split at sentence ends, then at word boundaries, then (a single "word"
 * too long) at UTF-8 character boundaries. Each chunk after the first of a
 * section starts with up to overlap_tokens of the previous chunk's end
 * (whole words), so a passage cut in two is still found whole.
 *
 * Tokens are counted by a callback: the service passes the embedding model's
 * tokenizer, tests pass rg_chunk_count_words.
 */
#ifndef RG_INDEX_CHUNK_H
#define RG_INDEX_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "index/doc.h"

/* Tokens in text[0..len) (not NUL-terminated). Must be monotonic enough that
 * a prefix never counts more than the whole. */
typedef size_t (*rg_chunk_count_fn)(const char *text, size_t len, void *user);

/* Counts runs of non-space bytes: a word counter for tests and a fallback. */
size_t rg_chunk_count_words(const char *text, size_t len, void *user);

struct rg_chunk_params {
    size_t max_tokens;       /* most tokens in one chunk's text (overlap included); 256 */
    size_t overlap_tokens;   /* tokens repeated from the previous chunk; 32; < max_tokens */
    rg_chunk_count_fn count; /* rg_chunk_count_words when NULL */
    void *count_user;
};
void rg_chunk_default_params(struct rg_chunk_params *p);

struct rg_chunk {
    char *text; /* UTF-8, NUL-terminated: the overlap, then the chunk's own text;
                   blocks joined by "\n\n" */
    size_t text_len;
    size_t overlap_len; /* bytes at the start of text repeated from the previous chunk */
    char *heading_path; /* section titles from the top, " > "-joined ("Chapter 3 > Rivers");
                           "" before the first heading */
    int section;        /* innermost section (rg_doc.sections), -1 when none */
    /* The chunk's own text (after the overlap) runs from byte first_offset of
     * block first_block's text to byte last_end of block last_block's text. */
    size_t first_block, last_block;
    size_t first_offset, last_end;
    int page_first, page_last; /* PDF pages, -1 otherwise */
    int part;                  /* rg_doc.parts index, -1 when none */
    /* Source byte range covering blocks first_block..last_block whole (their
     * src_start of the first, src_end of the last); -1 when unknown. */
    int64_t src_start, src_end;
    size_t tokens; /* count(text) */
};

struct rg_chunks {
    struct rg_chunk *items;
    size_t n;
};

/*
 * Chunks doc into out (which it fills; free with rg_chunks_free, also after an
 * error). params may be NULL (the defaults). Returns RG_OK, RG_EINVAL
 * (max_tokens 0 or overlap_tokens >= max_tokens), RG_ENOMEM. A document with
 * no text gives zero chunks and RG_OK.
 */
int rg_chunk_doc(const struct rg_doc *doc, const struct rg_chunk_params *params,
                 struct rg_chunks *out, char *err);
/* Frees the chunks and empties out. Accepts an empty or NULL out. */
void rg_chunks_free(struct rg_chunks *out);

#endif
