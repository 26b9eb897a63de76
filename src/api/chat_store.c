/*
 * /chat/conversations, /chat/threads, export and import: the kept
 * conversations over src/db (docs/chat.md). Being built.
 */
#include "api/chat_internal.h"

size_t rg_api_chat_store_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    (void)out;
    (void)max;
    (void)st;
    return 0;
}
