/*
 * Search over the library: full-text (the database's FTS5 / tsvector,
 * rg_db_chunk_search), vector (the query embedded by the caller's embedder,
 * then the vector index), and hybrid: both lists fused by reciprocal rank,
 *
 *     score(chunk) = sum over the lists it is in of 1 / (RG_SEARCH_RRF_K + rank)
 *
 * with rank 1-based and k = 60 (Cormack et al.), ties broken by the better
 * full-text rank, then lower chunk id. Each list is fetched to a depth of
 * max(limit * 4, 50) before fusion. Filters (collections, document, tag,
 * language, and always what the user can see) apply to both lists.
 *
 * Without an embedder or a vector index (no embedding model configured),
 * a hybrid search is a full-text one and says so (degraded); a vector search
 * is RG_EUNSUPPORTED. docs/internals/search.md has the measures.
 *
 * Stateless: every call takes what it needs; thread safe as db and vec are.
 */
#ifndef RG_INDEX_SEARCH_H
#define RG_INDEX_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "db/db.h"

struct rg_vec;

#define RG_SEARCH_RRF_K 60
#define RG_SEARCH_LIMIT_MAX 100

/* Embeds text into out (dim floats). RG_OK or an RG_E* code with err. Called
 * from the searching thread; the service's one asks the engine. */
typedef int (*rg_search_embed_fn)(void *ud, const char *text, float *out, int dim, char *err);

struct rg_search_ctx {
    struct rg_db *db;         /* required */
    struct rg_vec *vec;       /* the embedding model's index, NULL: none */
    rg_search_embed_fn embed; /* NULL: none */
    void *embed_ud;
    int dim; /* of the embedder's vectors (the index's) */
};

enum rg_search_mode { RG_SEARCH_FULLTEXT, RG_SEARCH_VECTOR, RG_SEARCH_HYBRID };
/* "fulltext", "vector", "hybrid"; parse gives -1 for others. */
const char *rg_search_mode_name(enum rg_search_mode m);
int rg_search_mode_parse(const char *s);

struct rg_search_query {
    int64_t user;  /* who searches: their collections and the shared ones */
    const char *q; /* the user's text */
    enum rg_search_mode mode;
    const int64_t *collections; /* NULL: every visible one */
    size_t n_collections;       /* <= 256 */
    int64_t doc_id;             /* 0: any */
    const char *tag, *language; /* NULL: any */
    int limit;                  /* 1..RG_SEARCH_LIMIT_MAX */
    bool exact;                 /* vector list by exact scan even with a graph */
    bool any_word;              /* full-text list: any word, ranked (rg_db_chunk_query) */
};

struct rg_search_hit {
    struct rg_db_chunk_hit c; /* ids, snippet (marked), location, title */
    double score;             /* the fused score (hybrid), the rank (full-text), cosine (vector) */
    int rank_fts;             /* 1-based rank in the full-text list, 0: not in it */
    int rank_vec;             /* 1-based rank in the vector list, 0: not in it */
    float cosine;             /* when rank_vec > 0 */
};

struct rg_search_result {
    struct rg_search_hit *hits; /* rg_malloc'd, best first */
    size_t n;
    enum rg_search_mode mode; /* what ran: a degraded hybrid says fulltext */
    bool degraded;            /* hybrid asked, no embedder or index: full-text only */
    size_t n_fts, n_vec;      /* the lengths of the lists before fusion */
};
void rg_search_result_free(struct rg_search_result *r); /* accepts zeroed */

/* Runs q. RG_EINVAL (bad limit, too long a query), RG_EUNSUPPORTED (vector
 * mode without an embedder/index), the embedder's or the database's codes.
 * *out is zeroed first; freed by rg_search_result_free on success. */
int rg_search(const struct rg_search_ctx *ctx, const struct rg_search_query *q,
              struct rg_search_result *out, char *err);

/* The fusion alone (exposed for tests): a and b are lists of chunk ids,
 * best first; out (na + nb entries) gets the union by fused score, best
 * first, with each one's ranks; returns how many. */
struct rg_search_fused {
    int64_t id;
    double score;
    int rank_a, rank_b;
};
size_t rg_search_rrf(const int64_t *a, size_t na, const int64_t *b, size_t nb,
                     struct rg_search_fused *out);

#endif
