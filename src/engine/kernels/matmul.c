/*
 * y = x · Wᵀ for any weight type. The activations are converted once to the
 * weight type's vec_dot_type (F16 for F16 weights, Q8_0 for the 32-blocks,
 * Q8_K for the K-quants: the same conversions llama.cpp makes, which keeps
 * our results close to its), then the rows of W are split between threads.
 * Each thread takes a contiguous band of rows and, for each row, all tokens,
 * so a weight row is read from memory once per call.
 *
 * Weights in place may be misaligned: GGUF allows general.alignment = 1, and
 * the kernels read block fields (half-float scales, floats) as typed loads.
 * A matrix whose start is not 4-byte aligned (every row size is even, so
 * rows of an aligned matrix are 2-aligned at least, which the blocks need)
 * is read one row at a time through an aligned copy: only such files pay for
 * it, and the kernels' loops stay as they are.
 */
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "engine/kernels/kernels.h"

struct mm {
    const struct rg_type_traits *tw, *tx;
    const void *w;
    size_t w_row, x_row;
    int64_t n_rows, k, n_tok;
    const float *x;
    const uint8_t *xq; /* converted activations */
    float *y;
    uint8_t *scratch; /* misaligned w: one aligned row per thread, w_row_pad bytes apart */
    size_t w_row_pad;
};

/* Is w fit to be read in place (see the top of the file)? */
static bool weights_aligned(const void *w)
{
    return (uintptr_t)w % 4 == 0;
}

static void convert_part(void *ctx, int ith, int nth)
{
    struct mm *m = ctx;
    for (int64_t t = ith; t < m->n_tok; t += nth)
        m->tx->from_float(m->x + t * m->k, (uint8_t *)m->xq + t * m->x_row, m->k);
}

static void mm_part(void *ctx, int ith, int nth)
{
    struct mm *m = ctx;
    /* bands of rows, rounded to 4 so neighbours do not share cache lines of y */
    int64_t per = (m->n_rows + nth - 1) / nth;
    per = (per + 3) & ~(int64_t)3;
    int64_t r0 = per * ith, r1 = r0 + per < m->n_rows ? r0 + per : m->n_rows;
    rg_vec_dot_fn dot = m->tw->vec_dot;
    rg_vec_dot4_fn dot4 = m->tw->vec_dot4;
    const uint8_t *w = m->w;
    if (m->scratch) {
        /* misaligned weights: each row copied once, then every token over it */
        uint8_t *row = m->scratch + (size_t)ith * m->w_row_pad;
        for (int64_t r = r0; r < r1; r++) {
            memcpy(row, w + r * m->w_row, m->w_row);
            int64_t t = 0;
            if (dot4)
                for (; t + 4 <= m->n_tok; t += 4) {
                    float s4[4];
                    dot4((int)m->k, s4, row, m->xq + t * m->x_row, m->x_row);
                    for (int j = 0; j < 4; j++)
                        m->y[(t + j) * m->n_rows + r] = s4[j];
                }
            for (; t < m->n_tok; t++)
                dot((int)m->k, &m->y[t * m->n_rows + r], row, m->xq + t * m->x_row);
        }
        return;
    }
    /* tiles of ROWS weight rows: they stay in cache while every token (four
     * at a time where a 4-token kernel exists) passes over them */
    enum { ROWS = 16 };
    for (int64_t rb = r0; rb < r1; rb += ROWS) {
        int64_t re = rb + ROWS < r1 ? rb + ROWS : r1;
        int64_t t = 0;
        if (dot4)
            for (; t + 4 <= m->n_tok; t += 4)
                for (int64_t r = rb; r < re; r++) {
                    float s4[4];
                    dot4((int)m->k, s4, w + r * m->w_row, m->xq + t * m->x_row, m->x_row);
                    for (int j = 0; j < 4; j++)
                        m->y[(t + j) * m->n_rows + r] = s4[j];
                }
        for (; t < m->n_tok; t++)
            for (int64_t r = rb; r < re; r++) {
                float s;
                dot((int)m->k, &s, w + r * m->w_row, m->xq + t * m->x_row);
                m->y[t * m->n_rows + r] = s;
            }
    }
}

int rg_matmul(struct rg_pool *p, enum rg_type wt, const void *w, int64_t n_rows, int64_t k,
              const float *x, int64_t n_tok, float *y)
{
    const struct rg_type_traits *tw = rg_type_traits(wt);
    if (!tw || !tw->vec_dot || k <= 0 || n_rows <= 0 || n_tok <= 0 || k > INT32_MAX)
        return RG_EINVAL;
    const struct rg_type_traits *tx = rg_type_traits(tw->vec_dot_type);
    if (!tx || !tx->from_float) return RG_EINVAL;
    size_t w_row = rg_type_row_size(wt, k), x_row = rg_type_row_size(tw->vec_dot_type, k);
    if (!w_row || !x_row) return RG_EINVAL;
    struct mm m = {tw, tx, w, w_row, x_row, n_rows, k, n_tok, x, NULL, y, NULL, 0};
    uint8_t *xq = NULL, *scratch = NULL;
    if (!weights_aligned(w)) {
        int nth = p ? rg_pool_size(p) : 1;
        size_t bytes;
        m.w_row_pad = (w_row + 63) & ~(size_t)63;
        if (nth < 1 || !rg_mul_size(m.w_row_pad, (size_t)nth, &bytes)) return RG_EINVAL;
        if (!(scratch = rg_aligned_alloc(64, bytes))) return RG_ENOMEM;
        m.scratch = scratch;
    }
    if (tw->vec_dot_type == RG_TYPE_F32) {
        m.xq = (const uint8_t *)x;
    } else {
        size_t bytes;
        if (!rg_mul_size(x_row, (size_t)n_tok, &bytes)) return RG_EINVAL;
        xq = rg_aligned_alloc(64, bytes);
        if (!xq) {
            rg_free(scratch);
            return RG_ENOMEM;
        }
        m.xq = xq;
        rg_pool_run(n_tok > 1 ? p : NULL, convert_part, &m);
    }
    rg_pool_run(p, mm_part, &m);
    rg_free(xq);
    rg_free(scratch);
    return RG_OK;
}

int rg_get_row(enum rg_type wt, const void *w, int64_t k, int64_t r, float *dst)
{
    const struct rg_type_traits *tw = rg_type_traits(wt);
    size_t row = rg_type_row_size(wt, k);
    if (!tw || !tw->to_float || !row || r < 0) return RG_EINVAL;
    const uint8_t *src = (const uint8_t *)w + (size_t)r * row;
    if (weights_aligned(src)) {
        tw->to_float(src, dst, k);
        return RG_OK;
    }
    /* misaligned (see the top of the file): through an aligned buffer, a
     * whole number of blocks at a time */
    _Alignas(64) uint8_t buf[4096];
    int64_t per = (int64_t)(sizeof buf / tw->type_size) * tw->block_size;
    if (per <= 0) return RG_EINVAL;
    for (int64_t i = 0; i < k; i += per) {
        int64_t n = RG_MIN(per, k - i);
        size_t bytes = (size_t)(n / tw->block_size) * tw->type_size;
        memcpy(buf, src + (size_t)(i / tw->block_size) * tw->type_size, bytes);
        tw->to_float(buf, dst + i, n);
    }
    return RG_OK;
}
