/*
 * Conversations as a model reads and writes them: a chat request's messages
 * and tools become the prompt's tokens (the model's own template, special
 * tokens only where the template puts them), and an answer streaming back
 * is split into its content and its tool calls. Shared by the OpenAI and
 * Ollama handlers and `rustygpt run`; saved threads (later) build on it.
 *
 * Tool calling follows the protocol most open chat models are trained on
 * (Hermes, Qwen 2.5, SmolLM, many fine-tunes): the tool definitions go into
 * the system message as JSON inside <tools></tools>, and the model answers a
 * call as <tool_call>{"name": ..., "arguments": {...}}</tool_call>; the bare
 * forms of Llama 3 (<|python_tag|>) and Mistral ([TOOL_CALLS]) are read too.
 */
#ifndef RG_CHAT_H
#define RG_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"
#include "engine/engine.h"

#define RG_TOOL_OPEN "<tool_call>"
#define RG_TOOL_CLOSE "</tool_call>"

/* ---- tools (tools.c) ---- */

/* Checks OpenAI's "tools" array; RG_EINVAL with a message naming the bad entry. */
int rg_tools_validate(const json_t *tools, char *err);
/* Appends the instructions and the definitions for the system message. */
int rg_tools_system_text(const json_t *tools, struct rg_buf *out);
/* One earlier call of the assistant, as the model would have written it. */
int rg_tools_call_text(const char *name, const char *arguments_json, struct rg_buf *out);
/*
 * The calls in a model's output: every <tool_call> block whose body is a JSON
 * object with a string "name" (arguments: an object or a JSON string). Where
 * there is no such block, the bare forms other model families write: the
 * whole answer a call object or a list of them ({"name", "arguments" or
 * "parameters"}), optionally after Llama 3's <|python_tag|> or Mistral's
 * [TOOL_CALLS]; those count only when every name is one of tools (NULL: any
 * name) so that a JSON answer is not mistaken for a call.
 * Returns OpenAI's tool_calls array (ids "call_<prefix>_<i>"), empty if none.
 */
json_t *rg_tools_parse(const char *text, size_t len, const char *id_prefix, const json_t *tools);
/*
 * Whether an answer that starts with text[0..len) may be a bare call (see
 * above): 1 it may (hold it back until the end), 0 it is not, -1 too early
 * to say (only whitespace, or part of a marker so far).
 */
int rg_tools_bare_start(const char *text, size_t len);

/* ---- prompts (prompt.c) ---- */

struct rg_chat_prompt {
    int32_t *tokens; /* the rendered conversation, ending with the assistant's turn */
    size_t n_tokens;
    json_t *tools;       /* the tools offered (NULL: none): the answer may call them */
    bool one_call;       /* parallel_tool_calls: false: at most one call per answer */
    struct rg_jg *force; /* tool_choice "required" or a named function: the answer is
                          * constrained to one call (NULL: free) */
    bool forced;         /* force was made (it stays set when the caller takes force) */
};

/*
 * The prompt of a chat request: body's "messages" (roles system, developer,
 * user, assistant with tool_calls, tool; content a string or text parts),
 * "tools", "tool_choice" and "parallel_tool_calls", rendered in format fmt
 * and tokenized with vocabulary v. Special tokens are recognised only in the
 * template's own text: content can never forge a turn.
 * RG_OK with *out (rg_chat_prompt_free), or an error with e filled (400 and
 * the field for bad input, 501 for a tokenizer not implemented, 500).
 */
int rg_chat_prompt_build(const json_t *body, const struct rg_vocab *v, enum rg_chat_format fmt,
                         struct rg_chat_prompt *out, struct rg_req_err *e);
void rg_chat_prompt_free(struct rg_chat_prompt *p);

/*
 * Fill-in-the-middle (code completion between a prefix and a suffix), for
 * the model families with FIM tokens: Qwen 2.5 Coder's <|fim_prefix|>...,
 * StarCoder's <fim_prefix>..., Code Llama's <PRE>..., DeepSeek Coder's.
 * rg_chat_fim_tokens: whether v has them, their ids (prefix, suffix,
 * middle) into ids and their texts into *texts (may be NULL).
 * rg_chat_prompt_fim: the prompt BOS (as v wants) PRE prefix SUF suffix MID
 * into *out; RG_OK, or e filled: 400 naming "suffix" for a model without
 * FIM tokens, 501 (tokenizer not implemented), 500.
 */
bool rg_chat_fim_tokens(const struct rg_vocab *v, int32_t ids[3], const char *const **texts);
int rg_chat_prompt_fim(const struct rg_vocab *v, const char *prefix, size_t pl, const char *suffix,
                       size_t sl, struct rg_chat_prompt *out, struct rg_req_err *e);

/*
 * Renders msgs in format fmt and tokenizes them, special tokens parsed only
 * in the template's text (with BOS as the vocabulary wants). RG_OK with *out
 * (rg_free) and *n_out; RG_EINVAL (a bad role), RG_EUNSUPPORTED (tokenizer
 * not implemented), RG_ENOMEM.
 */
int rg_chat_tokenize_msgs(const struct rg_vocab *v, enum rg_chat_format fmt,
                          const struct rg_chat_msg *msgs, size_t n, int32_t **out, size_t *n_out,
                          char *err);

/* ---- an answer streaming back (stream.c) ---- */

/*
 * Splits an answer into content and tool calls as it arrives: text from a
 * <tool_call> on (or an answer that is a bare call) is held back, and so is
 * a tail that may be the start of "<tool_call>", until the end says what it
 * was. Without tools everything is content.
 */
struct rg_chat_answer {
    bool tools;            /* the request offered tools */
    bool one_call;         /* keep only the first call */
    const json_t *defs;    /* the tools, for the names a bare call may use */
    bool in_tool;          /* output from a call's start on goes to held */
    bool started;          /* something other than whitespace went out as content */
    bool forced;           /* the answer was constrained to a call (set after init): a call
                            * that does not parse (cut short) is dropped, never content */
    struct rg_buf pending; /* not yet sent: may start a call */
    struct rg_buf held;    /* a call, or what may be one */
};
void rg_chat_answer_init(struct rg_chat_answer *a, const json_t *tools, bool one_call);
void rg_chat_answer_free(struct rg_chat_answer *a);
/* Text of the answer in; the part that is certainly content appended to
 * *content. RG_ENOMEM. */
int rg_chat_answer_feed(struct rg_chat_answer *a, const char *text, size_t len,
                        struct rg_buf *content);
/* The answer ended: the rest of its content into *content and its calls
 * (OpenAI's tool_calls array with ids "call_<id_prefix>_<i>") into *calls,
 * NULL when there were none. Whitespace before a call is not content (it is
 * held until something else comes). The answer is then ready for the next
 * one. */
int rg_chat_answer_end(struct rg_chat_answer *a, const char *id_prefix, struct rg_buf *content,
                       json_t **calls);

#endif
