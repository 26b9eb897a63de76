/*
 * /chat/conversations, /chat/threads, export and import: the kept
 * conversations over src/db (docs/chat.md). Thin handlers: each parses and
 * checks its input strictly (unknown fields, wrong types and out-of-range
 * ids are 400 before anything is stored), calls the storage layer with the
 * caller as owner (another user's ids are RG_ENOTFOUND there, so 404 here
 * exactly as a missing one), and replies.
 *
 * This file also holds what both halves of /chat share (chat_internal.h):
 * the caller's id, the reply for a storage error, and the JSON shape of a
 * conversation, a message and a thread.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "api/chat_internal.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/str.h"

/* ---- shared with chat_answer.c -------------------------------------------------- */

int64_t rg_api_chat_user(struct rg_http_req *r)
{
    int64_t id = 0;
    if (rg_parse_i64(rg_http_req_principal(r)->id, 1, INT64_MAX, &id) != RG_OK) {
        rg_http_reply_error(r, 401, NULL, "unauthenticated", NULL,
                            "sign in with an account (a server --api-key is not one)");
        return 0;
    }
    return id;
}

void rg_api_chat_db_fail(struct rg_http_req *r, int rc, const char *what, const char *err)
{
    switch (rc) {
    case RG_ENOTFOUND:
        rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no such %s",
                            what ? what : "conversation");
        return;
    case RG_EINVAL:
        rg_http_reply_error(r, 400, NULL, NULL, NULL, "%s", err && *err ? err : "invalid request");
        return;
    case RG_ESTATE:
        rg_http_reply_error(r, 409, NULL, "conflict", NULL, "%s",
                            err && *err ? err : "not possible in the current state");
        return;
    case RG_EBUSY:
        rg_http_set_header(r, "Retry-After", "1");
        rg_http_reply_error(r, 503, NULL, "busy", NULL, "the database is busy: try again");
        return;
    default:
        rg_log(RG_LOG_ERROR, "chat storage failed", "error", 's', err ? err : "", "code", 's',
               rg_strerror(rc), RG_LOG_END);
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "internal error");
    }
}

/* Stored JSON object text as a value; {} when absent or unreadable (the
 * storage layer only keeps objects, so this is a fallback, not a case). */
static json_t *settings_json(const char *txt)
{
    json_t *v = txt && *txt ? json_loads(txt, 0, NULL) : NULL;
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v ? v : json_object();
}

/* "a,b,c" as ["a", "b", "c"] (empty parts left out). */
static json_t *tags_json(const char *tags)
{
    json_t *a = json_array();
    for (const char *p = tags; a && p && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && json_array_append_new(a, json_stringn(p, n)) != 0) {
            json_decref(a);
            return NULL;
        }
        p = e ? e + 1 : p + n;
    }
    return a;
}

/* A JSON string of stored text: text written by a model may in principle
 * hold bytes that are not UTF-8, which must not make the reply fail. */
static json_t *text_json(const char *s)
{
    return rg_api_json_text(s ? s : "", s ? strlen(s) : 0);
}

json_t *rg_api_chat_conv_json(const struct rg_db_conv *c)
{
    return json_pack("{s:I, s:o, s:b, s:o, s:o, s:o, s:o, s:b, s:b, s:I, s:I, s:I, s:I, s:I}",
                     "id", (json_int_t)c->id, "title", text_json(c->title), "title_auto",
                     (int)c->title_auto, "model", text_json(c->model), "settings",
                     settings_json(c->settings), "folder", text_json(c->folder), "tags",
                     tags_json(c->tags), "archived", (int)c->archived, "pinned", (int)c->pinned,
                     "active_leaf", (json_int_t)c->active_leaf, "main_thread",
                     (json_int_t)c->main_thread, "n_messages", (json_int_t)c->n_messages,
                     "created_at", (json_int_t)c->created_at, "updated_at",
                     (json_int_t)c->updated_at);
}

/* Adds "siblings" (ids of the messages with m's parent, oldest first: all
 * is in id order) and "sibling_index" to o. */
static int add_siblings(json_t *o, const struct rg_db_msg *m, const struct rg_db_msg *all,
                        size_t n)
{
    json_t *sib = json_array();
    if (!sib) return RG_ENOMEM;
    int index = 0;
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (all[i].parent_id != m->parent_id) continue;
        if (all[i].id == m->id) found = true;
        if (!found) index++;
        if (json_array_append_new(sib, json_integer(all[i].id)) != 0) {
            json_decref(sib);
            return RG_ENOMEM;
        }
    }
    if (!found) { /* m is not in this list (a read raced a change): itself alone */
        json_array_clear(sib);
        index = 0;
        if (json_array_append_new(sib, json_integer(m->id)) != 0) {
            json_decref(sib);
            return RG_ENOMEM;
        }
    }
    if (json_object_set_new(o, "siblings", sib) != 0 ||
        json_object_set_new(o, "sibling_index", json_integer(index)) != 0)
        return RG_ENOMEM;
    return RG_OK;
}

json_t *rg_api_chat_msg_json(const struct rg_db_msg *m, const struct rg_db_msg *all, size_t n)
{
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:s, s:s, s:o, s:o, s:o, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:i}",
        "id", (json_int_t)m->id, "conversation_id", (json_int_t)m->conv_id, "thread_id",
        (json_int_t)m->thread_id, "parent_id", (json_int_t)m->parent_id, "type", m->type, "role",
        m->role, "content", text_json(m->content), "model", text_json(m->model), "settings",
        settings_json(m->settings), "finish", m->finish, "incomplete", (int)m->incomplete,
        "prompt_tokens", (json_int_t)m->prompt_tokens, "completion_tokens",
        (json_int_t)m->completion_tokens, "duration_ms", (json_int_t)m->duration_ms, "created_at",
        (json_int_t)m->created_at, "updated_at", (json_int_t)m->updated_at, "n_children",
        m->n_children);
    if (o && all && add_siblings(o, m, all, n) != RG_OK) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *rg_api_chat_thread_json(const struct rg_db_thread *t)
{
    return json_pack("{s:I, s:I, s:o, s:I, s:b, s:I, s:I, s:I}", "id", (json_int_t)t->id,
                     "conversation_id", (json_int_t)t->conv_id, "title", text_json(t->title),
                     "root_id", (json_int_t)t->root_id, "collapsed", (int)t->collapsed,
                     "summary_id", (json_int_t)t->summary_id, "n_messages",
                     (json_int_t)t->n_messages, "created_at", (json_int_t)t->created_at);
}

/* ---- route table ----------------------------------------------------------------- */

size_t rg_api_chat_store_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    (void)out;
    (void)max;
    (void)st;
    return 0;
}
