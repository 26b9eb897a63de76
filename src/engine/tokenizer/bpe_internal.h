/* Byte-level BPE, shared by vocab.c and bpe.c. */
#ifndef RG_ENGINE_TOKENIZER_BPE_INTERNAL_H
#define RG_ENGINE_TOKENIZER_BPE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rg_bpe {
    int family; /* index of the pre-tokenizer family */
    const void *vocab;
    int32_t (*find)(const void *vocab, const char *s, size_t n);
    const char **merge; /* "left right" strings, owned by the GGUF handle */
    size_t *merge_len;
    int32_t n_merges;
    int32_t *slots; /* hash of merge text -> rank */
    size_t cap;
};

/* Builds the merge index once merge/merge_len/n_merges are set. */
int rg_bpe_init(struct rg_bpe *bpe);
/* Pre-tokenizer family for tokenizer.ggml.pre (NULL/empty: GPT-2's); -1 if unknown. */
int rg_bpe_pre_family(const char *pre);
/* Rank of merging a and b (lower merges first), or -1. */
int32_t rg_bpe_rank(const struct rg_bpe *bpe, const char *a, size_t an, const char *b, size_t bn);
int rg_bpe_tokenize(const struct rg_bpe *bpe, const char *text, size_t len, void *out,
                    void (*emit)(void *out, int32_t id));
/* Maps a token's GPT-2 code points back to bytes; returns the length (may exceed cap). */
size_t rg_bpe_decode(const char *piece, size_t len, char *out, size_t cap);

#endif
