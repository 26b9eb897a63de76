/*
 * Answers in kept conversations (docs/chat.md): a posted message, an edit, a
 * regeneration or a continuation becomes a prompt from the active branch,
 * streamed back and saved. Being built.
 */
#include "api/chat_internal.h"

size_t rg_api_chat_answer_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    (void)out;
    (void)max;
    (void)st;
    return 0;
}
