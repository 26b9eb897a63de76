/*
 * The survival library's categories and how a document is tagged with them
 * (docs/memory.md "Survival mode"): water, food, shelter, first-aid, fire,
 * navigation, tools, communication.
 *
 *   rules      each category's words counted over the document's title
 *              (weight 3), headings (2) and text (1); a category is tagged
 *              when the weighted count reaches rule_min and either a title or
 *              heading has one of its words or its words are at least
 *              rule_density per 1000 words of text (so that a long book
 *              mentioning "fire" a few times is not a fire manual).
 *              score = w / (w + 10), in (0, 1).
 *   zero-shot  each category's description and up to zs_chunks chunks
 *              (spread over the document) are embedded; each chunk votes for
 *              its nearest category when that cosine is at least
 *              zs_threshold and at least zs_margin over the next nearest
 *              (text near every description alike says nothing); a category is tagged when its
 * votes are at least zs_share of the chunks embedded. score = its mean cosine over the chunks that
 * voted for it. manual     a user's choice, which replaces both (rg_surv_resolve; the database
 * keeps it over every later automatic tagging).
 *
 * A category found by both keeps the source "rule" with the higher score.
 * Pure functions over the caller's text, but for the embedder's calls.
 */
#ifndef RG_INDEX_SURVIVAL_H
#define RG_INDEX_SURVIVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct rg_library_embedder;

#define RG_SURV_N_CATEGORIES 8

struct rg_surv_category {
    const char *id;           /* "water", "first-aid", ... */
    const char *name;         /* "Water", "First aid", ... */
    const char *description;  /* what zero-shot tagging compares with */
    const char *const *words; /* rule words, NULL-ended; "stem*" matches as a word prefix,
                               * others as whole words with an optional plural s/es */
};

/* The categories in their fixed order (index 0..RG_SURV_N_CATEGORIES-1). */
const struct rg_surv_category *rg_surv_categories(void);
/* The index of category id, or -1. */
int rg_surv_category_find(const char *id);

enum rg_surv_source { RG_SURV_RULE, RG_SURV_EMBEDDING, RG_SURV_MANUAL };
const char *rg_surv_source_name(enum rg_surv_source s); /* "rule", "embedding", "manual" */

struct rg_surv_tag {
    int category; /* index */
    enum rg_surv_source source;
    double score; /* 0..1 */
};

/* What tagging reads of a document (all may be empty; texts are UTF-8). */
struct rg_surv_doc {
    const char *title;           /* NULL: none */
    const char *const *headings; /* n_headings heading paths */
    size_t n_headings;
    const char *const *texts; /* the chunks' texts in order */
    size_t n_texts;
};

struct rg_surv_params {
    double rule_min;     /* weighted word count a rule tag needs, 3 */
    double rule_density; /* words per 1000 words of text without a title/heading hit, 3 */
    double zs_threshold; /* cosine a chunk's vote needs, 0.2 */
    double zs_share;     /* share of the embedded chunks a category needs, 0.25 */
    double zs_margin;    /* how much nearer than the next category a vote must be, 0.05 */
    size_t zs_chunks;    /* most chunks embedded, 16 */
};
void rg_surv_default_params(struct rg_surv_params *p);

/* Rule scores of each category into w (weighted word counts) and the tags
 * that pass into out (at most RG_SURV_N_CATEGORIES, by category order);
 * returns how many. */
size_t rg_surv_rules(const struct rg_surv_doc *d, const struct rg_surv_params *p,
                     double w[RG_SURV_N_CATEGORIES], struct rg_surv_tag *out);

/* Zero-shot tags into out (by category order), *n how many. RG_OK, or the
 * embedder's error (hold, embed) with err; RG_ENOMEM. No text: *n 0. */
int rg_surv_zero_shot(const struct rg_surv_doc *d, const struct rg_library_embedder *emb,
                      const struct rg_surv_params *p, struct rg_surv_tag *out, size_t *n,
                      char *err);

/* Both (emb NULL: rules only), merged as above, into out by category
 * order; *n how many. Errors as rg_surv_zero_shot. */
int rg_surv_tag(const struct rg_surv_doc *d, const struct rg_library_embedder *emb,
                const struct rg_surv_params *p, struct rg_surv_tag *out, size_t *n, char *err);

/* A manual choice wins: with manual (n_manual category indexes, which may
 * be 0: "none of them") the result is exactly those, source manual, score
 * 1; manual NULL: the automatic tags as they are. Into out; returns how
 * many. Duplicates and invalid indexes are dropped. */
size_t rg_surv_resolve(const struct rg_surv_tag *autos, size_t n_autos, const int *manual,
                       size_t n_manual, struct rg_surv_tag *out);

#endif
