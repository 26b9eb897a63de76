/*
 * Compute kernels of the engine: a thread pool and the matrix products over
 * weights of any rg_type, plus the few element-wise kernels the forward pass
 * needs. Which ISA variant runs is decided once by rg_quant_init() (CPUID),
 * never by #ifdef in callers.
 */
#ifndef RG_ENGINE_KERNELS_H
#define RG_ENGINE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/quant/quant.h"

/* ---- thread pool ------------------------------------------------------- */

struct rg_pool;

/* n_threads workers in all, the calling thread included (n_threads <= 0:
 * number of online CPUs). Returns RG_OK or RG_ENOMEM / RG_EINVAL. */
int rg_pool_create(int n_threads, struct rg_pool **out);
void rg_pool_free(struct rg_pool *p); /* accepts NULL; joins the workers */
int rg_pool_size(const struct rg_pool *p);
/* Pools created since the process started. */
long rg_pool_created(void);

/* Runs fn(ctx, ith, nth) on every thread of the pool (ith = 0..nth-1, the
 * caller is ith 0) and returns when all are done. Not reentrant: one run at a
 * time per pool (a pool belongs to one scheduler thread). p may be NULL: then
 * fn(ctx, 0, 1) runs on the caller. */
typedef void (*rg_pool_fn)(void *ctx, int ith, int nth);
void rg_pool_run(struct rg_pool *p, rg_pool_fn fn, void *ctx);

/* ---- matrix products --------------------------------------------------- */

/*
 * y = x · Wᵀ over n_tok tokens:
 *   W: n_rows rows of k elements of type wt, row stride rg_type_row_size(wt, k)
 *      (a GGUF tensor with ne[0] = k, ne[1] = n_rows, used in place);
 *   x: n_tok rows of k floats (row stride k);
 *   y: n_tok rows of n_rows floats (row stride n_rows).
 * x is converted to the type's vec_dot_type (Q8_0 / Q8_K...) once, then rows
 * of W are split over the pool. k must be a multiple of wt's block size.
 * Returns RG_OK, RG_EINVAL for a bad shape/type, RG_ENOMEM.
 */
int rg_matmul(struct rg_pool *p, enum rg_type wt, const void *w, int64_t n_rows, int64_t k,
              const float *x, int64_t n_tok, float *y);

/*
 * Packed weights (kernels/packed.h): a matrix re-laid once so that the
 * kernels read eight rows at a time. rg_pack_size() gives the bytes of the
 * packed form, or 0 where this CPU has no packed kernel for wt or the shape
 * does not fit (n_rows a multiple of 8, k of 32): then use rg_matmul on the
 * file's layout. rg_pack() writes it (RG_OK, RG_EINVAL). rg_matmul_packed()
 * is rg_matmul over the packed form (same shapes and errors).
 */
size_t rg_pack_size(enum rg_type wt, int64_t n_rows, int64_t k);
int rg_pack(enum rg_type wt, const void *w, int64_t n_rows, int64_t k, void *dst);
int rg_matmul_packed(struct rg_pool *p, enum rg_type wt, const void *packed, int64_t n_rows,
                     int64_t k, const float *x, int64_t n_tok, float *y);

/* ---- float vectors (attention) ---------------------------------------- */

/* Picks the versions below for this CPU; call once before using them (cheap,
 * idempotent, thread-safe). Until then the portable ones run. */
void rg_vec_init(void);
/* y[i] += a * x[i] for i < n. */
void rg_axpy_f32(int n, float a, const float *x, float *y);
/* sum of x[i] * y[i] for i < n (summation order depends on the ISA). */
float rg_dotf_f32(int n, const float *x, const float *y);

/*
 * Attention of one query over positions p0..n-1 of one KV head, for `per`
 * query heads at once (each K/V row is read while it is in cache for all):
 *   q: per rows of hd floats; k, v: row p at k + p * stride (floats);
 *   scores[g * ld + p] = (q_g . k_p) * scale           (rg_attn_scores)
 *   out[g * hd + d] += sum over p of w[g * ld + p] * v_p[d], p in order
 *                                                      (rg_attn_values)
 * Each dot product and each sum is what rg_dotf_f32 and rg_axpy_f32 give,
 * operation for operation, so results do not depend on `per`.
 */
void rg_attn_scores(int hd, int per, const float *q, const float *k, size_t stride, int32_t p0,
                    int32_t n, float scale, float *scores, size_t ld);
void rg_attn_values(int hd, int per, const float *w, size_t ld, const float *v, size_t stride,
                    int32_t p0, int32_t n, float *out);
/* The same over a cache of half floats (k, v as IEEE half bit patterns):
 * exactly what the two above give on the rows converted to float. */
void rg_attn_scores_f16(int hd, int per, const float *q, const uint16_t *k, size_t stride,
                        int32_t p0, int32_t n, float scale, float *scores, size_t ld);
void rg_attn_values_f16(int hd, int per, const float *w, size_t ld, const uint16_t *v,
                        size_t stride, int32_t p0, int32_t n, float *out);

/* Row r of a weight matrix as floats (embedding lookup): dst gets k floats. */
int rg_get_row(enum rg_type wt, const void *w, int64_t k, int64_t r, float *dst);

#endif
