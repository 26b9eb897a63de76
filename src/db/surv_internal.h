/* What surv.c shares with the survival library's backends (surv_sqlite.c,
 * surv_pg.c): their operations over one connection. surv.c has checked the
 * arguments (forms, lengths, counts) and holds the connection. */
#ifndef RG_DB_SURV_INTERNAL_H
#define RG_DB_SURV_INTERNAL_H

#include "db/db_internal.h"
#include "db/survival.h"

#define RG_DB_SURV_OPS_DECL(be)                                                                    \
    int rg_db_##be##_surv_collections_get(void *c, int64_t user, int64_t **ids, size_t *n,         \
                                          char *err);                                              \
    int rg_db_##be##_surv_collections_set(void *c, int64_t user, const int64_t *ids, size_t n,     \
                                          int64_t now, char *err);                                 \
    int rg_db_##be##_surv_doc_ids(void *c, int64_t user, const char *category, int limit,          \
                                  int offset, int64_t **ids, size_t *n, bool *more, char *err);    \
    int rg_db_##be##_surv_doc_categories(void *c, int64_t user, int64_t doc,                       \
                                         struct rg_db_surv_cat **out, size_t *n, bool *manual,     \
                                         int64_t *tagged_at, char *err);                           \
    int rg_db_##be##_surv_auto_set(void *c, int64_t user, int64_t doc,                             \
                                   const struct rg_db_surv_cat *cats, size_t n,                    \
                                   const char *content_hash, int64_t now, bool *kept, char *err);  \
    int rg_db_##be##_surv_manual_set(void *c, int64_t user, int64_t doc, const char *const *cats,  \
                                     size_t n, int64_t now, char *err);                            \
    int rg_db_##be##_surv_claim_untagged(void *c, int64_t user, int max, int64_t now,              \
                                         int64_t **ids, size_t *n, char *err);                     \
    int rg_db_##be##_surv_counts(void *c, int64_t user, const char *const *cats, size_t n,         \
                                 int64_t *counts, char *err)
RG_DB_SURV_OPS_DECL(sqlite);
RG_DB_SURV_OPS_DECL(pg);

#endif
