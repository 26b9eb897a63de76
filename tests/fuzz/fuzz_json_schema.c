/*
 * Fuzz target for response_format: a client's JSON Schema is compiled, then
 * text (as a model would write it, in random pieces) runs through the
 * automaton. Input layout: the schema's JSON, a newline, then the text; the
 * first byte of the text also sets the piece length.
 *
 * Besides not crashing, it checks the bounds of grammar.h: no fed byte costs
 * more than RG_JG_STEPS automaton steps, and feeding in pieces, byte by byte
 * and from a copy (rg_jg_feed_from) always agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/constrain/grammar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t sl = nl ? (size_t)(nl - data) : size;
    json_t *schema = NULL;
    if (sl > 0) {
        schema = json_loadb((const char *)data, sl, JSON_DECODE_ANY, NULL);
        if (!schema) return 0;
    }
    char err[256];
    struct rg_jg *g = NULL;
    if (rg_jg_compile(schema, &g, err, sizeof err) == 0) {
        const char *text = nl ? (const char *)nl + 1 : "";
        size_t tl = nl ? size - sl - 1 : 0, piece = tl ? (size_t)(unsigned char)text[0] % 7 + 1 : 1;
        struct rg_jg_state st, bytes, from;
        rg_jg_start(g, &st);
        rg_jg_start(g, &bytes);
        for (size_t i = 0; i < tl; i += piece) {
            size_t n = tl - i < piece ? tl - i : piece;
            rg_jg_copy(&from, &st);
            struct rg_jg_state out;
            bool alive_from = rg_jg_feed_from(g, &from, text + i, n, &out);
            uint64_t before = rg_jg_steps();
            bool alive = rg_jg_feed(g, &st, text + i, n);
            if (rg_jg_steps() - before > (uint64_t)RG_JG_STEPS * n)
                abort(); /* the per-byte bound */
            bool alive_bytes = true;
            for (size_t k = 0; k < n && alive_bytes; k++)
                alive_bytes = rg_jg_feed(g, &bytes, text + i + k, 1);
            if (alive != alive_bytes || alive != alive_from) abort();
            if (!alive) break;
            if (rg_jg_complete(&st) != rg_jg_complete(&bytes) ||
                rg_jg_can_end(g, &st) != rg_jg_can_end(g, &out))
                abort();
            (void)rg_jg_can_end(g, &bytes);
        }
        rg_jg_free(g);
    }
    json_decref(schema);
    return 0;
}
