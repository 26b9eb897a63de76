/* AVX2 + FMA versions of the float vector helpers of kernels.h (attention). */
#include <immintrin.h>

#include "engine/kernels/x86/avx2_util.h"

void rg_axpy_f32_avx2(int n, float a, const float *x, float *y);
void rg_axpy_f32_avx2(int n, float a, const float *x, float *y)
{
    const __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
        _mm256_storeu_ps(
            y + i + 8, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8)));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

float rg_dotf_f32_avx2(int n, const float *x, const float *y);
float rg_dotf_f32_avx2(int n, const float *x, const float *y)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float s = hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        s += x[i] * y[i];
    return s;
}

/*
 * Attention helpers (kernels.h). Every score is rg_dotf_f32_avx2's sum for a
 * head size that is a multiple of 16 (two accumulators over steps of 16,
 * then hsum), every output element rg_axpy_f32_avx2's chain of FMAs in
 * position order, so the results are those of the one-head loops; what
 * changes is that positions go in blocks that stay in L1 while every head of
 * the group passes over them, and the outputs stay in registers meanwhile.
 * A cache of half floats is read through an exact conversion, so it gives
 * what the float cache would hold the same values.
 */
enum { ATT_BLOCK = 64 }; /* positions per block: 64 rows of 128 floats = 32 KB */

/* Row p of the cache (float, or half when `half`), and eight of its elements
 * from i as floats; `half` is a constant in every inlined copy. */
static inline __attribute__((always_inline)) const void *cache_row(const void *base, int32_t p,
                                                                   size_t stride, const int half)
{
    return half ? (const void *)((const uint16_t *)base + (size_t)p * stride)
                : (const void *)((const float *)base + (size_t)p * stride);
}
static inline __attribute__((always_inline)) __m256 load8(const void *row, int i, const int half)
{
    return half ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)))
                : _mm256_loadu_ps((const float *)row + i);
}

static inline __attribute__((always_inline)) void scores_hd(const int hd, const int half, int per,
                                                            const float *q, const void *k,
                                                            size_t stride, int32_t p0, int32_t n,
                                                            float scale, float *scores, size_t ld)
{
    for (int32_t pb = p0; pb < n; pb += ATT_BLOCK) {
        int32_t pe = n - pb < ATT_BLOCK ? n : pb + ATT_BLOCK;
        for (int g = 0; g < per; g++) {
            const float *qg = q + (size_t)g * hd;
            float *sg = scores + (size_t)g * ld;
            for (int32_t p = pb; p < pe; p++) {
                const void *kp = cache_row(k, p, stride, half);
                __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
                for (int i = 0; i < hd; i += 16) {
                    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qg + i), load8(kp, i, half), a0);
                    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(qg + i + 8), load8(kp, i + 8, half), a1);
                }
                sg[p] = hsum(_mm256_add_ps(a0, a1)) * scale;
            }
        }
    }
}

/* The common head sizes get copies where q stays in registers. */
static inline __attribute__((always_inline)) void scores(int hd, const int half, int per,
                                                         const float *q, const void *k,
                                                         size_t stride, int32_t p0, int32_t n,
                                                         float scale, float *out, size_t ld)
{
    if (hd == 64)
        scores_hd(64, half, per, q, k, stride, p0, n, scale, out, ld);
    else if (hd == 128)
        scores_hd(128, half, per, q, k, stride, p0, n, scale, out, ld);
    else
        scores_hd(hd, half, per, q, k, stride, p0, n, scale, out, ld);
}

void rg_attn_scores_avx2(int hd, int per, const float *q, const float *k, size_t stride, int32_t p0,
                         int32_t n, float scale, float *scores, size_t ld);
void rg_attn_scores_avx2(int hd, int per, const float *q, const float *k, size_t stride, int32_t p0,
                         int32_t n, float scale, float *out, size_t ld)
{
    scores(hd, 0, per, q, k, stride, p0, n, scale, out, ld);
}

void rg_attn_scores_f16_avx2(int hd, int per, const float *q, const uint16_t *k, size_t stride,
                             int32_t p0, int32_t n, float scale, float *scores, size_t ld);
void rg_attn_scores_f16_avx2(int hd, int per, const float *q, const uint16_t *k, size_t stride,
                             int32_t p0, int32_t n, float scale, float *out, size_t ld)
{
    scores(hd, 1, per, q, k, stride, p0, n, scale, out, ld);
}

/* out[0 .. 8 * nv) += w[p] * v_p[d0 ..] over a block of positions, in registers. */
static inline __attribute__((always_inline)) void values_chunk(const int nv, const int half,
                                                               const float *w, const void *v,
                                                               int d0, size_t stride, int32_t pb,
                                                               int32_t pe, float *out)
{
    __m256 acc[8];
    for (int i = 0; i < nv; i++)
        acc[i] = _mm256_loadu_ps(out + 8 * i);
    for (int32_t p = pb; p < pe; p++) {
        const __m256 wv = _mm256_set1_ps(w[p]);
        const void *vp = cache_row(v, p, stride, half);
        for (int i = 0; i < nv; i++)
            acc[i] = _mm256_fmadd_ps(wv, load8(vp, d0 + 8 * i, half), acc[i]);
    }
    for (int i = 0; i < nv; i++)
        _mm256_storeu_ps(out + 8 * i, acc[i]);
}

static inline __attribute__((always_inline)) void values(int hd, const int half, int per,
                                                         const float *w, size_t ld, const void *v,
                                                         size_t stride, int32_t p0, int32_t n,
                                                         float *out)
{
    for (int32_t pb = p0; pb < n; pb += ATT_BLOCK) {
        int32_t pe = n - pb < ATT_BLOCK ? n : pb + ATT_BLOCK;
        for (int g = 0; g < per; g++) {
            const float *wg = w + (size_t)g * ld;
            float *og = out + (size_t)g * hd;
            int d = 0;
            for (; d + 64 <= hd; d += 64)
                values_chunk(8, half, wg, v, d, stride, pb, pe, og + d);
            if (d + 32 <= hd) values_chunk(4, half, wg, v, d, stride, pb, pe, og + d), d += 32;
            if (d + 16 <= hd) values_chunk(2, half, wg, v, d, stride, pb, pe, og + d);
        }
    }
}

void rg_attn_values_avx2(int hd, int per, const float *w, size_t ld, const float *v, size_t stride,
                         int32_t p0, int32_t n, float *out);
void rg_attn_values_avx2(int hd, int per, const float *w, size_t ld, const float *v, size_t stride,
                         int32_t p0, int32_t n, float *out)
{
    values(hd, 0, per, w, ld, v, stride, p0, n, out);
}

void rg_attn_values_f16_avx2(int hd, int per, const float *w, size_t ld, const uint16_t *v,
                             size_t stride, int32_t p0, int32_t n, float *out);
void rg_attn_values_f16_avx2(int hd, int per, const float *w, size_t ld, const uint16_t *v,
                             size_t stride, int32_t p0, int32_t n, float *out)
{
    values(hd, 1, per, w, ld, v, stride, p0, n, out);
}
