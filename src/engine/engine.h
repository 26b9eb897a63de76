/*
 * RustyGPT's inference engine: the public API (everything else in
 * src/engine is internal). Depends on src/common alone.
 *
 * Objects and threads:
 *   struct rg_model  weights (memory-mapped GGUF), hyperparameters, vocabulary.
 *                    Immutable after load: share it between any number of
 *                    contexts and threads.
 *   struct rg_ctx    one sequence's KV cache, scratch buffers and a compute
 *                    thread pool. Use a context from one thread at a time.
 *
 * Errors are RG_E* codes (common/err.h) with a one-line message in an
 * RG_ERR_SIZE buffer.
 */
#ifndef RG_ENGINE_H
#define RG_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/quant/quant.h"
#include "engine/tokenizer/tokenizer.h"

struct rg_model;
struct rg_ctx;

enum rg_rope_type { RG_ROPE_NORM = 0, RG_ROPE_NEOX = 2 };

struct rg_model_info {
    const char *arch; /* general.architecture */
    const char *name; /* general.name or the file name */
    int32_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, n_ff, head_dim, n_rot;
    float rms_eps, rope_base, rope_scale;
    enum rg_rope_type rope_type;
    enum rg_type ftype; /* most common matrix type */
    uint64_t n_params;
    size_t file_size;
    bool tied_embeddings;
};

struct rg_model_params {
    bool vocab_only; /* tokenizer only: no tensors are bound */
};
struct rg_model_params rg_model_default_params(void);

/* Loads a GGUF model. NULL with the reason in err: unreadable or malformed
 * file, unsupported architecture, a tensor missing or of the wrong shape or
 * type (named), vocabulary problems. */
struct rg_model *rg_model_load(const char *path, const struct rg_model_params *p, char *err);
void rg_model_free(struct rg_model *m); /* accepts NULL */
const struct rg_model_info *rg_model_info(const struct rg_model *m);
const struct rg_vocab *rg_model_vocab(const struct rg_model *m);
const struct rg_gguf *rg_model_gguf(const struct rg_model *m);

struct rg_ctx_params {
    int32_t n_ctx;        /* positions in the KV cache; 0 = the model's own context length */
    int32_t n_threads;    /* compute threads; 0 = one per core */
    int32_t n_batch;      /* most tokens per forward pass; 0 = 512 */
    int32_t n_seq;        /* sequences with their own KV cache, decoded together; 0 = 1 */
    enum rg_type kv_type; /* the KV cache's elements: RG_TYPE_F32 (0, the default: llama.cpp's
                           * F32 numbers) or RG_TYPE_F16 (half the memory, what llama.cpp and
                           * Ollama keep by default) */
};
struct rg_ctx_params rg_ctx_default_params(void);

struct rg_ctx *rg_ctx_new(struct rg_model *m, const struct rg_ctx_params *p, char *err);
void rg_ctx_free(struct rg_ctx *c);
int32_t rg_ctx_n_ctx(const struct rg_ctx *c);
/* Positions held in the KV cache (the next token goes at this position). */
int32_t rg_ctx_n_past(const struct rg_ctx *c);
/* Forgets cached positions from n_keep on (prefix reuse: keep the shared
 * part, decode the rest). RG_EINVAL if n_keep > n_past. */
int rg_ctx_truncate(struct rg_ctx *c, int32_t n_keep);

/*
 * Feeds n tokens at positions n_past.. n_past+n-1 (split into batches of at
 * most n_batch). Logits: if all_logits, logits must hold n * n_vocab floats
 * and gets one row per token; otherwise it holds n_vocab floats for the last
 * token (logits may be NULL to skip them). RG_EOVERFLOW when the context
 * would overflow (nothing is changed), RG_EINVAL for a token id out of range.
 */
int rg_decode(struct rg_ctx *c, const int32_t *tokens, int32_t n, float *logits, bool all_logits,
              char *err);

/*
 * Sentence embedding of tokens: the model's final hidden states (after the
 * output norm), mean-pooled and L2-normalized, into out (n_embd floats).
 * Uses and then forgets the context's cache (n_past is 0 afterwards).
 */
int rg_embed(struct rg_ctx *c, const int32_t *tokens, int32_t n, float *out, char *err);

/*
 * Several sequences in one step: each item's token goes at the next position
 * of its sequence (items of one sequence in order), every weight matrix is
 * read once for the whole batch, and attention stays within each sequence.
 * logits gets one row of n_vocab floats per item with .logits set, in order
 * (may be NULL). Errors (bad sequence or token, a sequence's context full)
 * change nothing.
 */
struct rg_batch_item {
    int32_t token, seq;
    bool logits;
};
int rg_decode_batch(struct rg_ctx *c, const struct rg_batch_item *items, int32_t n, float *logits,
                    char *err);
int32_t rg_ctx_n_seq(const struct rg_ctx *c);
int32_t rg_ctx_seq_past(const struct rg_ctx *c, int32_t seq);           /* -1 for a bad seq */
int rg_ctx_seq_truncate(struct rg_ctx *c, int32_t seq, int32_t n_keep); /* RG_EINVAL if bad */
/* Positions from..n-1 of sequence src are copied into sequence dst (their K
 * and V rows), which keeps its first `from` positions (the caller knows they
 * hold the same tokens) and then holds n. For a prompt that starts like
 * another sequence's: copying rows is far cheaper than computing them.
 * RG_EINVAL for a bad sequence, dst == src, from > what dst holds, or
 * from > n > what src holds; nothing changes then. */
int rg_ctx_seq_copy(struct rg_ctx *c, int32_t src, int32_t dst, int32_t from, int32_t n);

/* Peak resident memory of the process so far, bytes (from the kernel). */
size_t rg_peak_rss(void);

#endif
