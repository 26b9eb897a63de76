/*
 * Library search (search.h): the full-text list from the database, the
 * vector list from the index (then located in the database, which checks
 * visibility and the tag/language filters the index does not hold), and
 * their reciprocal-rank fusion.
 */
#include "index/search.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "index/vec.h"

static const char *const MODES[] = {"fulltext", "vector", "hybrid"};

const char *rg_search_mode_name(enum rg_search_mode m)
{
    return (unsigned)m < 3 ? MODES[m] : "?";
}

int rg_search_mode_parse(const char *s)
{
    for (int i = 0; s && i < 3; i++)
        if (!strcmp(s, MODES[i])) return i;
    return -1;
}

void rg_search_result_free(struct rg_search_result *r)
{
    if (!r) return;
    rg_free(r->hits);
    memset(r, 0, sizeof *r);
}

static int cmp_fused(const void *a, const void *b)
{
    const struct rg_search_fused *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    int ra = x->rank_a ? x->rank_a : 1 << 30, rb = y->rank_a ? y->rank_a : 1 << 30;
    if (ra != rb) return ra < rb ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

size_t rg_search_rrf(const int64_t *a, size_t na, const int64_t *b, size_t nb,
                     struct rg_search_fused *out)
{
    size_t n = 0;
    for (size_t i = 0; i < na; i++) {
        out[n].id = a[i];
        out[n].rank_a = (int)i + 1;
        out[n].rank_b = 0;
        out[n++].score = 1.0 / (RG_SEARCH_RRF_K + (double)(i + 1));
    }
    for (size_t j = 0; j < nb; j++) {
        double s = 1.0 / (RG_SEARCH_RRF_K + (double)(j + 1));
        size_t k = 0;
        while (k < na && out[k].id != b[j])
            k++;
        if (k < na) {
            out[k].rank_b = (int)j + 1;
            out[k].score += s;
        } else {
            out[n].id = b[j];
            out[n].rank_a = 0;
            out[n].rank_b = (int)j + 1;
            out[n++].score = s;
        }
    }
    qsort(out, n, sizeof *out, cmp_fused);
    return n;
}

static struct rg_db_chunk_query db_query(const struct rg_search_query *q, int limit)
{
    struct rg_db_chunk_query d = {.q = q->q,
                                  .collections = q->collections,
                                  .n_collections = q->n_collections,
                                  .doc_id = q->doc_id,
                                  .tag = q->tag,
                                  .language = q->language,
                                  .limit = limit,
                                  .any_word = q->any_word};
    return d;
}

/* The vector list: embed, search the index (over-fetching when filters the
 * index cannot apply are given), locate in the database. *cos gets each
 * located hit's cosine. */
static int vector_list(const struct rg_search_ctx *ctx, const struct rg_search_query *q, int depth,
                       struct rg_db_chunk_hit **hits, size_t *n, float **cos, char *err)
{
    *hits = NULL;
    *n = 0;
    *cos = NULL;
    float *qv = rg_malloc_array((size_t)ctx->dim, sizeof *qv);
    int k = depth * (q->tag || q->language ? 4 : 1);
    if (k > 1000) k = 1000;
    struct rg_vec_hit *vh = rg_malloc_array((size_t)k, sizeof *vh);
    int64_t *ids = rg_malloc_array((size_t)k, sizeof *ids);
    int rc = qv && vh && ids ? RG_OK : rg_err_set(err, RG_ENOMEM, "out of memory");
    if (!rc) rc = ctx->embed(ctx->embed_ud, q->q, qv, ctx->dim, err);
    int m = 0;
    if (!rc) {
        struct rg_vec_filter f = {.user = q->user,
                                  .collections = q->collections,
                                  .n_collections = q->n_collections,
                                  .doc_id = q->doc_id};
        rc = rg_vec_search(ctx->vec, qv, k, &f, q->exact ? RG_VEC_EXACT : RG_VEC_AUTO, 0, vh, &m,
                           err);
    }
    for (int i = 0; !rc && i < m; i++)
        ids[i] = vh[i].meta.id;
    if (!rc) {
        struct rg_db_chunk_query dq = db_query(q, depth);
        rc = rg_db_chunk_locate(ctx->db, q->user, ids, (size_t)m, &dq, hits, n, err);
    }
    if (!rc && *n > (size_t)depth) *n = (size_t)depth;
    if (!rc && !(*cos = rg_malloc_array(*n ? *n : 1, sizeof **cos)))
        rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    for (size_t i = 0, j = 0; !rc && i < *n; i++) { /* located hits keep the index's order */
        while (j < (size_t)m && vh[j].meta.id != (*hits)[i].chunk_id)
            j++;
        (*cos)[i] = j < (size_t)m ? vh[j].score : 0;
    }
    if (rc) {
        rg_free(*hits);
        *hits = NULL;
        *n = 0;
    }
    rg_free(qv);
    rg_free(vh);
    rg_free(ids);
    return rc;
}

int rg_search(const struct rg_search_ctx *ctx, const struct rg_search_query *q,
              struct rg_search_result *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (q->limit < 1 || q->limit > RG_SEARCH_LIMIT_MAX)
        return rg_err_set(err, RG_EINVAL, "limit must be 1..%d", RG_SEARCH_LIMIT_MAX);
    if ((unsigned)q->mode > RG_SEARCH_HYBRID) return rg_err_set(err, RG_EINVAL, "bad search mode");
    if (!q->q || !*q->q) return RG_OK; /* nothing asked, nothing found */
    bool can_vec = ctx->vec && ctx->embed && ctx->dim > 0;
    enum rg_search_mode mode = q->mode;
    if (mode == RG_SEARCH_VECTOR && !can_vec)
        return rg_err_set(err, RG_EUNSUPPORTED, "no embedding model: vector search is unavailable");
    if (mode == RG_SEARCH_HYBRID && !can_vec) {
        mode = RG_SEARCH_FULLTEXT;
        out->degraded = true;
    }
    out->mode = mode;
    int depth = mode == RG_SEARCH_HYBRID ? (q->limit * 4 > 50 ? q->limit * 4 : 50) : q->limit;
    struct rg_db_chunk_hit *fh = NULL, *vh = NULL;
    size_t nf = 0, nv = 0;
    float *cos = NULL;
    int rc = RG_OK;
    if (mode != RG_SEARCH_VECTOR) {
        struct rg_db_chunk_query dq = db_query(q, depth);
        rc = rg_db_chunk_search(ctx->db, q->user, &dq, &fh, &nf, err);
    }
    if (!rc && mode != RG_SEARCH_FULLTEXT) rc = vector_list(ctx, q, depth, &vh, &nv, &cos, err);
    out->n_fts = nf;
    out->n_vec = nv;
    size_t total = nf + nv;
    int64_t *a = NULL, *b = NULL;
    struct rg_search_fused *fz = NULL;
    if (!rc) {
        a = rg_malloc_array(nf ? nf : 1, sizeof *a);
        b = rg_malloc_array(nv ? nv : 1, sizeof *b);
        fz = rg_malloc_array(total ? total : 1, sizeof *fz);
        out->hits = rg_calloc(total ? total : 1, sizeof *out->hits);
        if (!a || !b || !fz || !out->hits) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    if (!rc) {
        for (size_t i = 0; i < nf; i++)
            a[i] = fh[i].chunk_id;
        for (size_t i = 0; i < nv; i++)
            b[i] = vh[i].chunk_id;
        size_t n = rg_search_rrf(a, nf, b, nv, fz);
        if (n > (size_t)q->limit) n = (size_t)q->limit;
        for (size_t i = 0; i < n; i++) {
            struct rg_search_hit *h = &out->hits[i];
            h->rank_fts = fz[i].rank_a;
            h->rank_vec = fz[i].rank_b;
            h->c = h->rank_fts ? fh[h->rank_fts - 1] : vh[h->rank_vec - 1];
            if (h->rank_vec) h->cosine = cos[h->rank_vec - 1];
            h->score = mode == RG_SEARCH_HYBRID   ? fz[i].score
                       : mode == RG_SEARCH_VECTOR ? (double)h->cosine
                                                  : h->c.rank;
        }
        out->n = n;
    }
    rg_free(a);
    rg_free(b);
    rg_free(fz);
    rg_free(fh);
    rg_free(vh);
    rg_free(cos);
    if (rc) rg_search_result_free(out);
    return rc;
}
