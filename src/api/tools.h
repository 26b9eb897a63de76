/*
 * Tool calling in the protocol most open chat models are trained on (Hermes,
 * Qwen 2.5, SmolLM, many fine-tunes): the tool definitions go into the system
 * message as JSON inside <tools></tools>, and the model answers a call as
 * <tool_call>{"name": ..., "arguments": {...}}</tool_call>.
 */
#ifndef RG_API_TOOLS_H
#define RG_API_TOOLS_H

#include <stddef.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"

#define RG_TOOL_OPEN "<tool_call>"
#define RG_TOOL_CLOSE "</tool_call>"

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

#endif
