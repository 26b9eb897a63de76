/*
 * The budgeted prompt (docs/memory.md, "How a prompt is built"): given the
 * pieces a prompt may be made of — instructions, the branch's messages, a
 * thread summary, glossary entries, library passages, messages of other
 * conversations — the vocabulary and a token budget, picks what fits in the
 * documented priority order and says what went in and why (the context
 * record the API keeps with each answer). Pure: no database, no engine
 * state; the caller gathers the pieces.
 *
 * Token counts are the model's own: the prompt is rendered in the model's
 * template and tokenized by its vocabulary, and the rendered prompt of the
 * result never has more than the budget's tokens.
 */
#ifndef RG_CHAT_CONTEXT_H
#define RG_CHAT_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "engine/engine.h"

/* The sources, in their priority order. */
enum rg_ctx_source {
    RG_CTX_SYSTEM,   /* the user's and the conversation's instructions */
    RG_CTX_STYLE,    /* the chosen style's instructions */
    RG_CTX_MESSAGE,  /* the new message and the active branch's recent ones */
    RG_CTX_SUMMARY,  /* the summary of the thread's older part */
    RG_CTX_GLOSSARY, /* glossary entries whose terms appear */
    RG_CTX_LIBRARY,  /* passages of the attached collections */
    RG_CTX_PRIOR,    /* relevant messages of the user's other conversations */
    RG_CTX_N_SOURCES
};

/* "system", "style", "message", ... (the record's "source"). */
const char *rg_ctx_source_name(enum rg_ctx_source s);

/* One thing the prompt may hold. Every piece but a message goes into the
 * system message (in priority order); a message is a turn of its own. */
struct rg_ctx_piece {
    enum rg_ctx_source source;
    const char *role;   /* a message: "user", "assistant" or "system" */
    const char *text;   /* what the model reads ("" counts nothing and is skipped) */
    const json_t *ref;  /* the record's "ref" (borrowed, copied into the record); NULL none */
    const char *reason; /* why it is there when included ("recent message" for a message) */
    bool required;      /* a message that must fit (the one answered) */
};

struct rg_ctx_in {
    const struct rg_vocab *v;
    enum rg_chat_format fmt;
    long n_ctx;                 /* for the record */
    size_t budget;              /* tokens the rendered prompt may have */
    bool off[RG_CTX_N_SOURCES]; /* a source turned off: its pieces are left out */
    /* Text put before a source's first included piece in the system message
     * (counted with that piece), e.g. the library's citing instructions; NULL none. */
    const char *intro[RG_CTX_N_SOURCES];
    /* The pieces, any source in any order; messages oldest first (the branch
     * order, the new message last). A summary goes in only when a message
     * was left out. */
    const struct rg_ctx_piece *pieces;
    size_t n;
};

struct rg_ctx_out {
    json_t *messages; /* OpenAI-shaped chat messages: the system message (if any), then the
                       * included messages oldest first */
    json_t *record;   /* {"n_ctx", "budget", "used", "items": [...]} (docs/memory.md) */
    size_t used;      /* tokens of the rendered messages */
};

/* Older messages over the budget listed one by one in the record; past it
 * they are one item. */
#define RG_CTX_RECORD_MESSAGES 64

/*
 * Builds *out (rg_ctx_out_free). RG_OK; 400 context_length_exceeded (param
 * "content") when a required message does not fit with the instructions
 * before it; 501 for a tokenizer not implemented; 500 out of memory.
 */
int rg_ctx_build(const struct rg_ctx_in *in, struct rg_ctx_out *out, struct rg_req_err *e);
void rg_ctx_out_free(struct rg_ctx_out *out);

/* Tokens of text by v, no special tokens (a size for a reason line); 0 on failure. */
size_t rg_ctx_tokens(const struct rg_vocab *v, const char *text);

#endif
