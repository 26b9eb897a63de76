/*
 * Message vectors (migration 8): the embedding of a kept message under the
 * model that made it, for the prompt's "prior messages" (docs/memory.md)
 * and any later search over messages. A vector goes with its message (the
 * message's deletion deletes it). The search is a brute-force cosine scan
 * over the owner's messages: fine for one person's history.
 */
#ifndef RG_DB_MSGVEC_H
#define RG_DB_MSGVEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

#define RG_DB_MSGVEC_DIM_MAX 8192
#define RG_DB_MSGVEC_K_MAX 64

/* Stores (or replaces) message msg_id's vector v[0..dim) made by model.
 * RG_ENOTFOUND (not the owner's message), RG_EINVAL. */
int rg_db_msgvec_put(struct rg_db *db, int64_t owner, int64_t msg_id, const char *model,
                     const float *v, int dim, int64_t now, char *err);

struct rg_db_msgvec_hit {
    int64_t message_id, conv_id;
    double score;  /* cosine similarity */
    char *content; /* the message's text, rg_malloc'd */
};
void rg_db_msgvec_hits_free(struct rg_db_msgvec_hit *h, size_t n);

/* The k (<= RG_DB_MSGVEC_K_MAX) most similar user and assistant messages of
 * the owner with a vector of model and dimension dim, outside conversation
 * except_conv (0: none), best first. *out: rg_db_msgvec_hits_free. */
int rg_db_msgvec_search(struct rg_db *db, int64_t owner, const char *model, const float *q, int dim,
                        int64_t except_conv, size_t k, struct rg_db_msgvec_hit **out, size_t *n,
                        char *err);

/* How many of the owner's messages have a vector of model (tests, status). */
int rg_db_msgvec_count(struct rg_db *db, int64_t owner, const char *model, int64_t *n, char *err);

/* ---- for the backends (msgvec_sqlite.c, msgvec_pg.c) ---- */

/* v as hex text of its little-endian f32 (2 * 4 * dim + 1 bytes into out). */
void rg_db_msgvec_hex(const float *v, int dim, char *out);
/* The cosine of hex (a stored vector) with q (dim floats); false when hex
 * has not dim floats. */
bool rg_db_msgvec_cos(const char *hex, const float *q, int dim, double *cos);
/* Keeps the best k: adds (id, conv, score) if it ranks; content is copied
 * only then. */
int rg_db_msgvec_keep(struct rg_db_msgvec_hit *top, size_t k, size_t *n, int64_t id, int64_t conv,
                      double score, const char *content);

int rg_db_sqlite_msgvec_put(void *c, int64_t owner, int64_t msg_id, const char *model,
                            const char *hex, int dim, int64_t now, char *err);
int rg_db_sqlite_msgvec_search(void *c, int64_t owner, const char *model, const float *q, int dim,
                               int64_t except_conv, size_t k, struct rg_db_msgvec_hit *top,
                               size_t *n, char *err);
int rg_db_sqlite_msgvec_count(void *c, int64_t owner, const char *model, int64_t *n, char *err);
int rg_db_pg_msgvec_put(void *c, int64_t owner, int64_t msg_id, const char *model, const char *hex,
                        int dim, int64_t now, char *err);
int rg_db_pg_msgvec_search(void *c, int64_t owner, const char *model, const float *q, int dim,
                           int64_t except_conv, size_t k, struct rg_db_msgvec_hit *top, size_t *n,
                           char *err);
int rg_db_pg_msgvec_count(void *c, int64_t owner, const char *model, int64_t *n, char *err);

#endif
