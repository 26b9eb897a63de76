/*
 * The survival library's storage (migration 7; docs/memory.md "Survival
 * mode"): which of a user's collections make up their survival library, and
 * each document's categories with their source (rule, embedding, manual)
 * and score.
 *
 * Ownership: every call takes the acting user. A survival collection is one
 * of the user's own collections (another's, a shared one included, is
 * RG_ENOTFOUND); a document's categories are read and written only for a
 * document of the user in one of their survival collections (else
 * RG_ENOTFOUND, as a missing one). Deleting a collection or a document
 * deletes what is stored here about it.
 *
 * A manual choice wins: once a user set a document's categories by hand,
 * automatic taggings (rg_db_surv_auto_set) leave them as they are, until the
 * manual choice is cleared.
 *
 * PostgreSQL: the writes are PL/pgSQL functions (surv_collections_set,
 * surv_auto_set, surv_manual_set); SQLite: the same rules in C inside BEGIN
 * IMMEDIATE. Category ids are checked here for their form ([a-z-], 1..31
 * bytes); which ids exist is src/index/survival.h's table.
 */
#ifndef RG_DB_SURVIVAL_H
#define RG_DB_SURVIVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

#define RG_DB_SURV_COLLECTIONS_MAX 256 /* collections of a survival library */
#define RG_DB_SURV_CATS_MAX 16         /* categories of a document */
#define RG_DB_SURV_CAT_MAX 31          /* bytes of a category id */

struct rg_db_surv_cat {
    char category[RG_DB_SURV_CAT_MAX + 1];
    char source[12]; /* "rule", "embedding", "manual" */
    double score;    /* 0..1 */
};

/* The user's survival collections, ascending ids. *ids: rg_free (NULL when
 * n is 0). */
int rg_db_surv_collections_get(struct rg_db *db, int64_t user, int64_t **ids, size_t *n, char *err);
/* The user's survival library becomes exactly ids[0..n) (duplicates
 * allowed). RG_ENOTFOUND when one is not the user's own collection (nothing
 * changes), RG_EINVAL (n over the maximum, an id < 1). */
int rg_db_surv_collections_set(struct rg_db *db, int64_t user, const int64_t *ids, size_t n,
                               int64_t now, char *err);

/* The ids of the user's documents in their survival collections, ascending,
 * with category (NULL: any) among their categories; at most limit
 * (1..1000) after offset; *more: more follow. *ids: rg_free. */
int rg_db_surv_doc_ids(struct rg_db *db, int64_t user, const char *category, int limit, int offset,
                       int64_t **ids, size_t *n, bool *more, char *err);

/* A document's categories by id, *manual whether they are a manual choice,
 * *tagged_at when automatic tagging last ran on it (0 never). *out: rg_free.
 * RG_ENOTFOUND. */
int rg_db_surv_doc_categories(struct rg_db *db, int64_t user, int64_t doc,
                              struct rg_db_surv_cat **out, size_t *n, bool *manual,
                              int64_t *tagged_at, char *err);

/* An automatic tagging's result (sources rule or embedding): replaces the
 * document's automatic categories, unless they are a manual choice (then
 * *kept is true and nothing but the tagging time changes). content_hash:
 * the document's hash that was tagged (may be NULL). RG_ENOTFOUND,
 * RG_EINVAL (bad id, source or score, n over the maximum). */
int rg_db_surv_auto_set(struct rg_db *db, int64_t user, int64_t doc,
                        const struct rg_db_surv_cat *cats, size_t n, const char *content_hash,
                        int64_t now, bool *kept, char *err);

/* A manual choice: the document's categories become exactly cats[0..n)
 * (source manual, score 1; n may be 0: none). cats NULL clears the manual
 * choice (the document has no categories until it is tagged again).
 * RG_ENOTFOUND, RG_EINVAL. */
int rg_db_surv_manual_set(struct rg_db *db, int64_t user, int64_t doc, const char *const *cats,
                          size_t n, int64_t now, char *err);

/* Claims the user's survival documents that are ready and were never
 * tagged, or whose file changed since (the document's content hash is not
 * the one last tagged or claimed), at most max (1..1000): their ids into
 * *ids (rg_free), each marked with its current hash so that the next call
 * does not claim it again. The caller queues their tagging. */
int rg_db_surv_claim_untagged(struct rg_db *db, int64_t user, int max, int64_t now, int64_t **ids,
                              size_t *n, char *err);

/* How many of the user's survival documents have each of cats[0..n)
 * (counts[i] for cats[i]). */
int rg_db_surv_counts(struct rg_db *db, int64_t user, const char *const *cats, size_t n,
                      int64_t *counts, char *err);

#endif
