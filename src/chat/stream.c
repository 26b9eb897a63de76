/*
 * An answer streaming back, split into content and tool calls (chat.h).
 * Runs on the caller's side of the engine (the HTTP stream stage, the
 * terminal), never on the scheduler's thread.
 */
#include <string.h>

#include "chat/chat.h"

void rg_chat_answer_init(struct rg_chat_answer *a, const json_t *tools, bool one_call)
{
    memset(a, 0, sizeof *a);
    a->tools = tools != NULL;
    a->defs = tools;
    a->one_call = one_call;
    rg_buf_init(&a->pending, 1u << 20);
    rg_buf_init(&a->held, 16u << 20);
}

void rg_chat_answer_free(struct rg_chat_answer *a)
{
    rg_buf_free(&a->pending);
    rg_buf_free(&a->held);
}

/* Longest suffix of text[0..n) that is a proper prefix of RG_TOOL_OPEN. */
static size_t open_prefix(const char *text, size_t n)
{
    size_t sl = strlen(RG_TOOL_OPEN);
    for (size_t l = RG_MIN(sl - 1, n); l > 0; l--)
        if (!memcmp(text + n - l, RG_TOOL_OPEN, l)) return l;
    return 0;
}

/* Moves pending[at..] to held: from there on the answer is a call. */
static int to_held(struct rg_chat_answer *a, size_t at)
{
    int rc = rg_buf_append(&a->held, a->pending.data + at, a->pending.len - at);
    a->pending.len = at;
    a->pending.data[at] = '\0';
    a->in_tool = true;
    return rc;
}

int rg_chat_answer_feed(struct rg_chat_answer *a, const char *text, size_t len,
                        struct rg_buf *content)
{
    if (!a->tools) return len ? rg_buf_append(content, text, len) : RG_OK;
    if (len && rg_buf_append(&a->pending, text, len) != RG_OK) return RG_ENOMEM;
    if (!a->pending.len) return RG_OK;
    int rc = RG_OK;
    bool bare_hold = false; /* may still turn out to be a bare call: send nothing yet */
    if (!a->in_tool && !a->started) {
        int b = rg_tools_bare_start(a->pending.data, a->pending.len);
        if (b == 1) rc = to_held(a, 0); /* {"name": ...}, [{...}], <|python_tag|>, [TOOL_CALLS] */
        bare_hold = b == -1;
    }
    if (rc == RG_OK && a->pending.len) { /* a tool call is not content: keep it apart */
        const char *hit = a->in_tool ? a->pending.data : strstr(a->pending.data, RG_TOOL_OPEN);
        if (hit) rc = to_held(a, (size_t)(hit - a->pending.data));
    }
    size_t hold = bare_hold ? a->pending.len : open_prefix(a->pending.data, a->pending.len);
    size_t send = a->pending.len - hold;
    /* leading whitespace waits: it is dropped if a call follows (Copilot
     * shows a " " content before the call otherwise) */
    bool only_ws = !a->started;
    for (size_t i = 0; only_ws && a->pending.data && i < send; i++)
        only_ws = strchr(" \n\r\t", a->pending.data[i]) != NULL;
    if (only_ws && send && a->in_tool) /* a call came: the whitespace before it goes */
        hold = send = 0;
    else if (only_ws && send && hold) /* what follows may be a call: wait with it */
        hold = a->pending.len, send = 0;
    for (size_t i = 0; i < send && !a->started; i++)
        a->started = !strchr(" \n\r\t", a->pending.data[i]);
    if (rc == RG_OK && send) rc = rg_buf_append(content, a->pending.data, send);
    memmove(a->pending.data, a->pending.data + send, hold);
    a->pending.len = hold;
    a->pending.data[hold] = '\0';
    return rc;
}

int rg_chat_answer_end(struct rg_chat_answer *a, const char *id_prefix, struct rg_buf *content,
                       json_t **calls)
{
    *calls = NULL;
    json_t *c = a->held.len ? rg_tools_parse(a->held.data, a->held.len, id_prefix, a->defs) : NULL;
    bool ws = !a->started;
    for (size_t i = 0; ws && i < a->pending.len; i++)
        ws = strchr(" \n\r\t", a->pending.data[i]) != NULL;
    bool call = c && json_array_size(c) > 0;
    /* an answer that had to be a call is all call: cut short, none of it
     * is content */
    int rc = a->pending.len && !(ws && call) && !(a->forced && !call)
                 ? rg_buf_append(content, a->pending.data, a->pending.len)
                 : RG_OK;
    if (rc == RG_OK && a->held.len) {
        if (!c) {
            rc = RG_ENOMEM;
        } else if (json_array_size(c) == 0) { /* not a call after all: it was text */
            json_decref(c);
            c = NULL;
            if (!a->forced) rc = rg_buf_append(content, a->held.data, a->held.len);
        } else {
            while (a->one_call && json_array_size(c) > 1) /* parallel_tool_calls: false */
                json_array_remove(c, json_array_size(c) - 1);
            *calls = c;
        }
    }
    a->pending.len = a->held.len = 0;
    a->in_tool = a->started = false;
    return rc;
}
