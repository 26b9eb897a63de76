/*
 * What the two halves of /chat share (docs/chat.md): chat_store.c (the
 * conversations, their trees and threads, export and import) and
 * chat_answer.c (posting a message, edit, regenerate and continue: the
 * answers, streamed and saved). One JSON shape for each stored thing, one
 * mapping of storage errors to replies.
 */
#ifndef RG_API_CHAT_INTERNAL_H
#define RG_API_CHAT_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "api/api.h"
#include "db/db.h"

/* The signed-in user's id (the principal of an access token or account API
 * key); 0 when the caller is no user (then it replied 401 itself). */
int64_t rg_api_chat_user(struct rg_http_req *r);

/* Replies for a storage failure: RG_ENOTFOUND 404 (what names the thing:
 * "conversation", "message", "thread"), RG_EINVAL 400 with err, RG_ESTATE
 * 409, RG_EBUSY 503, else 500. */
void rg_api_chat_db_fail(struct rg_http_req *r, int rc, const char *what, const char *err);
/* The {id} of the path: a positive integer, else 0 with 404 "no such <what>" replied. */
int64_t rg_api_chat_path_id(struct rg_http_req *r, const char *what);
/* Every key of o is one of names (NULL-ended); else false with 400 naming the
 * first other one, so a typo is not silently ignored. */
bool rg_api_chat_fields_known(struct rg_http_req *r, const json_t *o, const char *const *names);

/* The API shapes of docs/chat.md. rg_api_chat_msg_json: with the whole tree
 * (all, n) it adds "siblings" and "sibling_index"; all may be NULL. NULL on
 * ENOMEM. */
json_t *rg_api_chat_conv_json(const struct rg_db_conv *c);
json_t *rg_api_chat_msg_json(const struct rg_db_msg *m, const struct rg_db_msg *all, size_t n);
json_t *rg_api_chat_thread_json(const struct rg_db_thread *t);

/*
 * Answers from the library (docs/chat.md): the passages of the collections
 * named in obj's "collections" for query — their text for the system
 * message (within budget tokens of v, numbered [1], [2]...) appended to
 * *passages, and the sources array (in the order of their numbers) into
 * *sources (NULL when no collection is named or nothing was found). A
 * malformed list is 400 in e, a collection the user cannot see 404; a search
 * that fails only loses the sources (logged).
 */
struct rg_buf;
struct rg_vocab;
int rg_api_chat_retrieve(struct rg_api_state *st, int64_t owner, const json_t *obj,
                         const char *query, const struct rg_vocab *v, size_t budget,
                         struct rg_buf *passages, json_t **sources, struct rg_req_err *e);
/* What the model is told before the passages. */
#define RG_API_CHAT_CITE                                                                           \
    "Answer from these passages of the user's library when they help, and cite each passage "      \
    "you use by its number in brackets, like [1].\n\n"

/* Registers the chat.title job kind (chat_answer.c) on st->jobs. */
int rg_api_chat_jobs_register(struct rg_api_state *st, char *err);

/* A title from a model's answer: its first line that has words, without
 * quotes, a "Title:" label or a final full stop, at most 60 bytes cut at a
 * word (or a whole character), into out (size >= 2). "" if nothing is left.
 * Exposed for tests. */
void rg_api_chat_title_clean(const char *in, char *out, size_t size);

/* Route tables of the two halves. */
size_t rg_api_chat_store_routes(struct rg_route *out, size_t max, struct rg_api_state *st);
size_t rg_api_chat_answer_routes(struct rg_route *out, size_t max, struct rg_api_state *st);

#endif
