/*
 * What the prompt builder (chat_answer.c, chat_context.c) asks of the
 * memory module (memory.c): the user's memory settings, prompt styles and
 * glossary matches. docs/memory.md is the REST contract around them.
 */
#ifndef RG_API_MEMORY_H
#define RG_API_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"

struct rg_api_state;
struct rg_req_err;

/* A user's memory settings (GET/PUT /chat/memory; defaults when never set). */
struct rg_api_mem_prefs {
    char *system;        /* the user's own instructions for every conversation; "" none; rg_free */
    bool use_summaries;  /* thread summaries of older parts, default true */
    bool use_prior;      /* relevant messages of the user's other conversations, default false */
    bool use_glossary;   /* glossary entries whose terms appear, default true */
    bool use_library;    /* passages of attached collections, default true */
    char auto_thread[8]; /* "off" (default), "suggest" or "new" */
    double auto_thread_distance; /* cosine distance that counts as a topic shift, default 0.6 */
    int summary_after; /* summarise a thread after this many new messages, default 20; 0 never */
};

/* The user's settings into *out (defaults for a user without any). RG_OK or
 * a database error (e set, 500). rg_api_mem_prefs_clear frees. */
int rg_api_mem_prefs_get(struct rg_api_state *st, int64_t owner, struct rg_api_mem_prefs *out,
                         struct rg_req_err *e);
void rg_api_mem_prefs_clear(struct rg_api_mem_prefs *p);

/*
 * The instructions of style id ("plain", "socratic", "devils-advocate",
 * "chain-of-thought" built in, from src/chat/styles/; "custom-N" the
 * owner's own) appended to out ("plain" appends nothing). RG_OK; 400
 * unknown style (param settings.style) with e.
 */
int rg_api_mem_style_prompt(struct rg_api_state *st, int64_t owner, const char *id,
                            struct rg_buf *out, struct rg_req_err *e);

/*
 * The owner's glossary entries whose term appears in text (case-insensitive,
 * on word boundaries), as a new JSON array of {"id", "term", "definition"}
 * in the order their terms first appear, at most max. *out NULL when none.
 * RG_OK or a database error (e set).
 */
int rg_api_mem_glossary_match(struct rg_api_state *st, int64_t owner, const char *text, size_t max,
                              json_t **out, struct rg_req_err *e);

/* Told by chat_answer.c after each answer is saved (ok: it ended normally):
 * queues the conversation-type classification when the conversation has no
 * type yet and none was set by hand. Never fails the answer. */
void rg_api_mem_answered(struct rg_api_state *st, int64_t owner, int64_t conv_id, bool ok);

/* ---- ratings in conversations (chat_store.c: GET, export and import) ---- */

/* Adds "rating" (docs/memory.md: {confidence, thumbs, flags, updated_at},
 * or null when never rated) to each message object of msgs, a JSON array
 * of conversation conv_id's messages. RG_OK, or a storage error (logged;
 * err set). */
int rg_api_mem_add_ratings(struct rg_api_state *st, int64_t owner, int64_t conv_id, json_t *msgs,
                           char *err);

/* An imported message's "rating" (rating may be NULL or null: none)
 * checked against its role and content before anything is created: false
 * with the reason in err (size RG_ERR_SIZE). */
bool rg_api_mem_rating_valid(const json_t *rating, const char *role, const char *content,
                             char *err);

/* Stores a checked imported rating (and its flags) on the new message
 * msg_id. RG_OK (also for none) or a storage error in err. */
int rg_api_mem_rating_import(struct rg_api_state *st, int64_t owner, int64_t msg_id,
                             const json_t *rating, char *err);

#endif
