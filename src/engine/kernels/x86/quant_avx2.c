/*
 * AVX2 quantizers for the activations (Q8_0 before every 32-block matmul,
 * Q8_K before every K-quant one): the scalar ones cost about as much as the
 * attention in prompt processing. They give the reference's bytes exactly:
 * the same float products, rounded to nearest even as lrintf does, the same
 * half-precision scale. Held to the reference in test_kernels.c.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "engine/quant/blocks.h"
#include "engine/quant/quant.h"

/* The largest of the 8 lanes. */
static inline float hmax(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* 32 int32 lanes (four registers, in order) to 32 int8 values at dst. */
static inline void pack32(__m256i a, __m256i b, __m256i c, __m256i d, int8_t *dst)
{
    /* packs work within 128-bit halves; the permute puts the groups back in order */
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    const __m256i q = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd),
                                                  _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)dst, q);
}

void rg_quantize_row_q8_0_avx2(const float *x, void *dst, int64_t n);
void rg_quantize_row_q8_0_avx2(const float *x, void *dst, int64_t n)
{
    rg_block_q8_0 *b = dst;
    const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    for (int64_t i = 0; i < n / RG_QK8_0; i++, x += RG_QK8_0) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            m = _mm256_max_ps(m, _mm256_and_ps(v[k], abs));
        }
        const float amax = hmax(m);
        /* as the reference: d = amax / 127 stored, 127 / amax multiplied */
        const float d = amax / 127, id = amax ? 127.f / amax : 0.0f;
        b[i].d = rg_fp32_to_fp16(d);
        const __m256 s = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++)
            q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], s));
        pack32(q[0], q[1], q[2], q[3], b[i].qs);
    }
}

void rg_quantize_row_q8_K_avx2(const float *x, void *dst, int64_t n);
void rg_quantize_row_q8_K_avx2(const float *x, void *dst, int64_t n)
{
    rg_block_q8_K *b = dst;
    const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    for (int64_t i = 0; i < n / RG_QK_K; i++, x += RG_QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < RG_QK_K; k += 8)
            m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + k), abs));
        const float amax = hmax(m);
        if (!amax) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* the signed value of the first element of largest magnitude, as the
         * reference picks it */
        float max = 0;
        for (int j = 0; j < RG_QK_K; j++)
            if (fabsf(x[j]) == amax) {
                max = x[j];
                break;
            }
        const float iscale = -127.f / max;
        const __m256 s = _mm256_set1_ps(iscale);
        const __m256i top = _mm256_set1_epi32(127);
        for (int k = 0; k < RG_QK_K; k += 32) {
            __m256i q[4];
            for (int j = 0; j < 4; j++)
                q[j] = _mm256_min_epi32(
                    _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * j), s)), top);
            pack32(q[0], q[1], q[2], q[3], b[i].qs + k);
        }
        for (int j = 0; j < RG_QK_K / 16; j++) {
            /* 16 values widened to int16 and summed pairwise */
            const __m256i w =
                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b[i].qs + 16 * j)));
            __m128i h = _mm_add_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
            h = _mm_hadd_epi16(h, h);
            h = _mm_hadd_epi16(h, h);
            h = _mm_hadd_epi16(h, h);
            b[i].bsums[j] = (int16_t)_mm_extract_epi16(h, 0);
        }
        b[i].d = 1 / iscale;
    }
}
