/*
 * Tokenizers built from a GGUF file's tokenizer.* metadata:
 *   tokenizer.ggml.model = "llama" (SentencePiece BPE), "gpt2" (byte-level
 *   BPE with the pre-tokenizer named by tokenizer.ggml.pre), "bert" (WordPiece).
 * Works on vocab-only files. A vocabulary is immutable after loading and may
 * be used from any number of threads at once.
 */
#ifndef RG_ENGINE_TOKENIZER_H
#define RG_ENGINE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/gguf/gguf.h"

struct rg_vocab;

enum rg_vocab_kind { RG_VOCAB_SPM, RG_VOCAB_BPE, RG_VOCAB_WPM };

/* Reads the vocabulary of g. Returns RG_OK, or RG_EFORMAT/RG_EUNSUPPORTED
 * with err naming the missing/bad key or the unknown model/pre-tokenizer. */
int rg_vocab_load(const struct rg_gguf *g, struct rg_vocab **out, char err[RG_ERR_SIZE]);
void rg_vocab_free(struct rg_vocab *v); /* accepts NULL */

enum rg_vocab_kind rg_vocab_kind(const struct rg_vocab *v);
int32_t rg_vocab_n_tokens(const struct rg_vocab *v);
int32_t rg_vocab_bos(const struct rg_vocab *v); /* -1 if none */
int32_t rg_vocab_eos(const struct rg_vocab *v); /* -1 if none */
/* Whether the model wants BOS / EOS added (tokenizer.ggml.add_bos_token...,
 * with llama.cpp's defaults per tokenizer kind when the key is absent). */
bool rg_vocab_add_bos(const struct rg_vocab *v);
bool rg_vocab_add_eos(const struct rg_vocab *v);
/* End of generation: EOS, EOT, <|im_end|>, <|eot_id|>... (token types and
 * the known end-of-turn texts, as llama.cpp decides). */
bool rg_vocab_is_eog(const struct rg_vocab *v, int32_t id);
/* Control/special tokens (not rendered by default in detokenization). */
bool rg_vocab_is_control(const struct rg_vocab *v, int32_t id);
/* The token's text as stored in the vocabulary (not decoded); NULL if out of range. */
const char *rg_vocab_text(const struct rg_vocab *v, int32_t id);
/* Id of a token with exactly this stored text, or -1. */
int32_t rg_vocab_find(const struct rg_vocab *v, const char *text);

/*
 * Tokenizes len bytes of text. add_special: add BOS/EOS as the vocabulary
 * wants; parse_special: recognise special-token texts (e.g. "<|im_start|>")
 * in text as single tokens, else they are ordinary text.
 * Writes up to cap ids to out and the total count to *n_out; returns RG_OK,
 * or RG_ETOOBIG when cap was too small (*n_out then holds the needed count),
 * or RG_ENOMEM.
 */
int rg_tokenize(const struct rg_vocab *v, const char *text, size_t len, bool add_special,
                bool parse_special, int32_t *out, size_t cap, size_t *n_out);
/* The same into an array it allocates (*out, rg_free it), however many
 * tokens the text needs (byte fallback can make more tokens than bytes). */
int rg_tokenize_alloc(const struct rg_vocab *v, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t **out, size_t *n_out);

/*
 * For prompts assembled from trusted and untrusted text (rg_chat_tokenize):
 * as rg_tokenize_alloc with parse_special, except that a control token is
 * recognised only where special_ok[i] is nonzero for each of its bytes
 * (special_ok has len entries); elsewhere its text is ordinary text.
 * User-defined tokens are recognised everywhere, as with parse_special off.
 * add_bos adds BOS as add_special would; EOS is never added.
 * RG_OK with *out (rg_free) and *n_out, or RG_ENOMEM.
 */
int rg_tokenize_alloc_masked(const struct rg_vocab *v, const char *text, size_t len,
                             const uint8_t *special_ok, bool add_bos, int32_t **out, size_t *n_out);

/*
 * The bytes that token id stands for (SPM: '▁' → ' ', <0xNN> byte tokens;
 * BPE: byte-level decoding; WPM: "##" continuation). Control tokens give ""
 * unless special is true. Returns the length written (may exceed cap: then
 * nothing useful was written and the caller retries with a bigger buffer),
 * or a negative RG_E* code for an id out of range.
 */
int rg_token_to_piece(const struct rg_vocab *v, int32_t id, bool special, char *buf, size_t cap);

/*
 * Streaming detokenizer: feed ids one at a time, get text that is always
 * whole UTF-8 characters (a piece that ends inside a character is held back
 * until the rest arrives). SPM's leading-space rule for the first token is
 * applied as llama.cpp does when remove_leading_space is true.
 */
struct rg_detok {
    const struct rg_vocab *vocab;
    bool special;
    bool remove_leading_space;
    bool first;
    char pending[8];
    size_t n_pending;
};
void rg_detok_init(struct rg_detok *d, const struct rg_vocab *v, bool special);
/* Appends the complete text now available to out (capacity cap, always
 * NUL-terminated). Returns bytes written, or RG_ETOOBIG if cap is too small
 * (nothing consumed), or RG_EINVAL for a bad id. */
int rg_detok_push(struct rg_detok *d, int32_t id, char *out, size_t cap);
/* Flushes held-back bytes at the end (invalid UTF-8 becomes U+FFFD). */
int rg_detok_flush(struct rg_detok *d, char *out, size_t cap);

#endif
