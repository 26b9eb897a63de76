/*
 * Unicode general categories (first letter) for the pre-tokenizers, from a
 * table generated at build time out of Debian's UnicodeData.txt.
 */
#ifndef RG_ENGINE_TOKENIZER_UNICODE_H
#define RG_ENGINE_TOKENIZER_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rg_unicode_flag {
    RG_UC_LETTER = 1 << 0,
    RG_UC_NUMBER = 1 << 1,
    RG_UC_PUNCT = 1 << 2,
    RG_UC_SYMBOL = 1 << 3,
    RG_UC_MARK = 1 << 4,
    RG_UC_SEPARATOR = 1 << 5,
    RG_UC_CONTROL = 1 << 6,
};

struct rg_unicode_range {
    uint32_t first, last;
    unsigned flags;
};
extern const struct rg_unicode_range rg_unicode_ranges[];
extern const unsigned rg_unicode_n_ranges;
struct rg_unicode_pair {
    uint32_t cp, to;
};
extern const struct rg_unicode_pair rg_unicode_lower[];
extern const unsigned rg_unicode_n_lower;
struct rg_unicode_decomp {
    uint32_t cp, a, b; /* canonical decomposition: a, then b (0: none) */
};
extern const struct rg_unicode_decomp rg_unicode_decomps[];
extern const unsigned rg_unicode_n_decomps;

/* Simple lowercase mapping (the code point itself if none). */
uint32_t rg_unicode_tolower(uint32_t cp);
/* Canonical decomposition (NFD, without reordering of combining marks):
 * appends to out (at most cap) and returns how many code points it produced. */
size_t rg_unicode_nfd(uint32_t cp, uint32_t *out, size_t cap);

/* Category flag of a code point (0 for unassigned ones). */
unsigned rg_unicode_flags(uint32_t cp);
/* White_Space as regex \s understands it. */
bool rg_unicode_is_space(uint32_t cp);
/* Decodes one UTF-8 character at s (n bytes left): the code point, and its
 * length in *len (1 for an invalid byte, returned as U+FFFD). */
uint32_t rg_utf8_decode(const char *s, size_t n, size_t *len);
/* Encodes cp; returns the byte count (1-4). */
size_t rg_utf8_encode(uint32_t cp, char out[4]);

#endif
