/*
 * The memory module's storage (migration 6; docs/memory.md): a user's
 * memory settings, custom styles, glossary, answer ratings and assumption
 * flags, and a conversation's type. Each function picks the backend by
 * rg_db_backend() (mem.c); the SQLite writes are single statements or run
 * in BEGIN IMMEDIATE, the PostgreSQL writes are PL/pgSQL functions
 * (mem_pg.c). Another user's ids are RG_ENOTFOUND exactly as missing ones.
 */
#ifndef RG_DB_MEMORY_H
#define RG_DB_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

#define RG_DB_MEM_PREFS_MAX (32 * 1024) /* bytes of the settings' JSON */
#define RG_DB_MEM_STYLE_NAME_MAX 100
#define RG_DB_MEM_STYLE_DESC_MAX 1000
#define RG_DB_MEM_STYLE_PROMPT_MAX (16 * 1024)
#define RG_DB_MEM_STYLES_MAX 200 /* custom styles per user */
#define RG_DB_MEM_TERM_MAX 200
#define RG_DB_MEM_DEF_MAX 4000
#define RG_DB_MEM_GLOSSARY_MAX 5000 /* entries per user */
#define RG_DB_MEM_NOTE_MAX 2000
#define RG_DB_MEM_QUOTE_MAX 4000 /* bytes of a flag's quote kept */
#define RG_DB_MEM_FLAGS_MAX 200  /* flags per message */

/* ---- settings ---- */
/* The settings' JSON text into *json (rg_free), NULL when never set. */
int rg_db_mem_prefs_get(struct rg_db *db, int64_t owner, char **json, char *err);
/* RG_ENOTFOUND (no such user), RG_EINVAL (too long). */
int rg_db_mem_prefs_put(struct rg_db *db, int64_t owner, const char *json, int64_t now, char *err);

/* ---- custom styles ---- */
struct rg_db_mem_style {
    int64_t id, owner_id;
    char name[RG_DB_MEM_STYLE_NAME_MAX + 1];
    char *description, *prompt; /* rg_malloc'd */
    int64_t created_at, updated_at;
};
void rg_db_mem_style_clear(struct rg_db_mem_style *s);
void rg_db_mem_style_list_free(struct rg_db_mem_style *v, size_t n);
/* RG_EINVAL (name/prompt missing or too long, RG_DB_MEM_STYLES_MAX reached),
 * RG_ENOTFOUND (no such user). */
int rg_db_mem_style_create(struct rg_db *db, int64_t owner, const char *name, const char *desc,
                           const char *prompt, int64_t now, struct rg_db_mem_style *out, char *err);
int rg_db_mem_style_get(struct rg_db *db, int64_t owner, int64_t id, struct rg_db_mem_style *out,
                        char *err);
/* Oldest first. */
int rg_db_mem_style_list(struct rg_db *db, int64_t owner, struct rg_db_mem_style **out, size_t *n,
                         char *err);
/* NULL keeps. RG_ENOTFOUND, RG_EINVAL. */
int rg_db_mem_style_update(struct rg_db *db, int64_t owner, int64_t id, const char *name,
                           const char *desc, const char *prompt, int64_t now,
                           struct rg_db_mem_style *out, char *err);
int rg_db_mem_style_delete(struct rg_db *db, int64_t owner, int64_t id, char *err);

/* ---- glossary ---- */
struct rg_db_mem_term {
    int64_t id, owner_id;
    char term[RG_DB_MEM_TERM_MAX + 1];
    char *definition; /* rg_malloc'd */
    int64_t created_at, updated_at;
};
void rg_db_mem_term_clear(struct rg_db_mem_term *t);
void rg_db_mem_term_list_free(struct rg_db_mem_term *v, size_t n);
/* key: the term folded to lower case by the caller (rg_chat_gloss_fold),
 * unique per owner: RG_EEXISTS; RG_EINVAL (a term not one line, too long,
 * or the entry cap reached). */
int rg_db_mem_term_create(struct rg_db *db, int64_t owner, const char *term, const char *key,
                          const char *def, int64_t now, struct rg_db_mem_term *out, char *err);
int rg_db_mem_term_get(struct rg_db *db, int64_t owner, int64_t id, struct rg_db_mem_term *out,
                       char *err);
/* By key (then id); key_prefix (NULL/"" all): keys starting with it. */
int rg_db_mem_term_list(struct rg_db *db, int64_t owner, const char *key_prefix,
                        struct rg_db_mem_term **out, size_t *n, char *err);
/* NULL keeps (term and key go together). RG_ENOTFOUND, RG_EEXISTS, RG_EINVAL. */
int rg_db_mem_term_update(struct rg_db *db, int64_t owner, int64_t id, const char *term,
                          const char *key, const char *def, int64_t now, struct rg_db_mem_term *out,
                          char *err);
int rg_db_mem_term_delete(struct rg_db *db, int64_t owner, int64_t id, char *err);

/* ---- ratings and assumption flags ---- */
struct rg_db_mem_flag {
    int64_t id, message_id;
    int64_t start, end; /* byte offsets in the message's content */
    char *quote, *note; /* rg_malloc'd */
    int64_t created_at;
};
struct rg_db_mem_rating {
    int64_t message_id, conv_id;
    int confidence;     /* 0..100, -1 none */
    char thumbs[8];     /* "up", "down", "" none */
    int64_t updated_at; /* 0: never rated */
    char model[128];    /* the answer's model (reads that join the message) */
};
void rg_db_mem_flag_list_free(struct rg_db_mem_flag *v, size_t n);
/* Sets the rating of an assistant message (confidence -1 / thumbs "" clear).
 * RG_ENOTFOUND (not the owner's), RG_EINVAL (not an answer, bad values). */
int rg_db_mem_rating_put(struct rg_db *db, int64_t owner, int64_t msg_id, int confidence,
                         const char *thumbs, int64_t now, struct rg_db_mem_rating *out, char *err);
/* The rating (updated_at 0 and nulls when none) and flags (oldest first). */
int rg_db_mem_rating_get(struct rg_db *db, int64_t owner, int64_t msg_id,
                         struct rg_db_mem_rating *out, struct rg_db_mem_flag **flags, size_t *nf,
                         char *err);
/* A flag on bytes [start, end) of an assistant message (whole UTF-8
 * characters); quote is cut from the content. RG_ENOTFOUND, RG_EINVAL. */
int rg_db_mem_flag_add(struct rg_db *db, int64_t owner, int64_t msg_id, int64_t start, int64_t end,
                       const char *note, int64_t now, struct rg_db_mem_flag *out, char *err);
int rg_db_mem_flag_delete(struct rg_db *db, int64_t owner, int64_t flag_id, char *err);
void rg_db_mem_flag_clear(struct rg_db_mem_flag *f);
/* Every rating and flag of the owner's messages, in conversation conv (0:
 * all the owner's conversations), by message id: ratings (rows that have a
 * rating or a flag) and flags. */
int rg_db_mem_ratings_list(struct rg_db *db, int64_t owner, int64_t conv,
                           struct rg_db_mem_rating **ratings, size_t *nr,
                           struct rg_db_mem_flag **flags, size_t *nf, char *err);

/* The admin page's summary, one row per model of rated answers. */
struct rg_db_mem_model_sum {
    char model[128];
    int64_t answers_rated;
    double avg_confidence; /* NAN when no answer has a confidence */
    int64_t thumbs_up, thumbs_down, flags;
};
int rg_db_mem_ratings_summary(struct rg_db *db, struct rg_db_mem_model_sum **out, size_t *n,
                              char *err);

/* ---- conversation type ---- */
/* type "reflective", "analytical", "practical" or "" (clear); by_hand sets
 * type_auto false (never reclassified), else true; only_if_auto: the job,
 * which changes nothing (RG_ESTATE) when the type was set by hand
 * meanwhile. RG_ENOTFOUND, RG_EINVAL. */
int rg_db_mem_conv_set_type(struct rg_db *db, int64_t owner, int64_t conv_id, const char *type,
                            bool by_hand, bool only_if_auto, char *err);
bool rg_db_mem_conv_type_valid(const char *type); /* one of the three or "" */

#endif
