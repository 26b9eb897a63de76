/*
 * Fuzz target for the Markdown (front matter, md4c events to blocks) reader of the
 * knowledge library: parse the input with tight limits, check what every
 * document promises (UTF-8 blocks, sections before their children), then chunk
 * it, which walks every block and offset again.
 */
#include <stdint.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "index/chunk.h"
#include "index/doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_doc(struct rg_doc *d, void *user)
{
    (void)user;
    for (size_t i = 0; i < d->n_sections; i++)
        if (d->sections[i].parent >= (int)i) __builtin_trap();
    for (size_t i = 0; i < d->n_blocks; i++)
        if (strlen(d->blocks[i].text) != d->blocks[i].text_len ||
            d->blocks[i].section >= (int)d->n_sections)
            __builtin_trap();
    struct rg_chunk_params p;
    rg_chunk_default_params(&p);
    p.max_tokens = 24;
    p.overlap_tokens = 6;
    struct rg_chunks c;
    if (rg_chunk_doc(d, &p, &c, NULL) == RG_OK)
        for (size_t i = 0; i < c.n; i++)
            if (c.items[i].tokens > p.max_tokens || c.items[i].last_block >= d->n_blocks)
                __builtin_trap();
    rg_chunks_free(&c);
    rg_doc_free(d);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20)) return 0;
    struct rg_doc_limits lim = {
        .max_file_bytes = 1u << 20,
        .max_uncompressed_bytes = 16u << 20,
        .max_entry_bytes = 4u << 20,
        .max_entries = 256,
        .max_blocks = 20000,
        .max_text_bytes = 8u << 20,
    };
    char err[RG_ERR_SIZE];
    (void)rg_doc_parse_mem(RG_DOC_FORMAT_MARKDOWN, data, size, &lim, on_doc, NULL, err);
    return 0;
}
