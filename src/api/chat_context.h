/*
 * The context of an answer (docs/memory.md): what chat_answer.c and
 * chat_context.c share to build a prompt within its budget from the
 * user's instructions, the style, the branch, the thread's summary, the
 * glossary, the library and the user's other conversations; the record of
 * it; thread summaries; topic shift; message vectors.
 */
#ifndef RG_API_CHAT_CONTEXT_H
#define RG_API_CHAT_CONTEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "chat/context.h"
#include "db/db.h"

struct rg_job_ctx;
struct rg_buf;

/* settings.memory: an object of the four sources (true, false or null). */
#define RG_API_CHAT_MEMORY_RULE "an object of summaries, prior, glossary, library (true or false)"
bool rg_api_chat_memory_valid(const json_t *v);

struct rg_api_ctx_req {
    int64_t owner;
    int64_t conv_id;
    const json_t *use;              /* the merged settings (conversation's and request's) */
    const struct rg_db_msg *branch; /* the history the answer follows, root first */
    size_t nb;
    const char *new_text; /* the new user message (NULL: the branch's last one is answered) */
    const char *question; /* what the library and the prior messages are searched for */
    const struct rg_vocab *v;
    enum rg_chat_format fmt;
    long n_ctx;
    size_t budget;
};

/*
 * The prompt's messages and its record into *out (rg_ctx_out_free), and
 * the library sources that went in (numbered as in the prompt; NULL when
 * none) into *sources. RG_OK or e (400 unknown style, 404 collection,
 * context_length_exceeded, 500).
 */
int rg_api_chat_context(struct rg_api_state *st, const struct rg_api_ctx_req *q,
                        struct rg_ctx_out *out, json_t **sources, struct rg_req_err *e);

/* Tokens the prompt may have: n_ctx less the answer's room (settings'
 * max_tokens, else --default-max-tokens, else a quarter of the context)
 * less extra (a continued answer's text). 0 when nothing is left. */
size_t rg_api_chat_budget(const struct rg_api_state *st, const json_t *use, long n_ctx,
                          size_t extra);

/* The library's passages for query, as rg_api_chat_retrieve, each source
 * with "text": its labelled passage as the model reads it (chat_answer.c). */
int rg_api_chat_passages(struct rg_api_state *st, int64_t owner, const json_t *use,
                         const char *query, const struct rg_vocab *v, size_t budget,
                         json_t **sources, struct rg_req_err *e);

/* A model's answer to one user prompt (background priority, temperature
 * 0, at most max_tokens) appended to out; RG_OK or err (chat_answer.c). */
int rg_api_chat_model_text(struct rg_job_ctx *ctx, struct rg_api_state *st, const char *model,
                           const char *prompt, int max_tokens, struct rg_buf *out, char *err);

/* Told after an answer is saved: queues the message vectors (with an
 * embedder) and the thread's summary when summary_after messages are not
 * covered. Never fails the answer. */
void rg_api_chat_answer_saved(struct rg_api_state *st, int64_t owner, int64_t conv_id,
                              int64_t user_id, int64_t asst_id);

/* Topic shift of a new message text following branch (docs/memory.md).
 * *distance the cosine distance to the thread (the mean of its summary and
 * last six messages), *thread_id that thread; false when it cannot be told
 * (no embedder, no message in the thread, auto_thread off). */
bool rg_api_chat_topic_shift(struct rg_api_state *st, int64_t owner, const struct rg_db_msg *branch,
                             size_t nb, const char *text, double *distance, int64_t *thread_id);

/* The dry run of POST /chat/conversations/{id}/context (chat_answer.c):
 * replies with the record a message would get. */
void rg_api_chat_dry_run(struct rg_http_req *r, struct rg_api_state *st, int64_t owner,
                         const struct rg_db_conv *conv, const json_t *body);

size_t rg_api_chat_context_routes(struct rg_route *out, size_t max, struct rg_api_state *st);
/* chat.summary and chat.embed on st->jobs. */
int rg_api_chat_context_jobs_register(struct rg_api_state *st, char *err);

#endif
