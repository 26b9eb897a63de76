/*
 * AVX2 kernels over packed weights (kernels/packed.h): eight rows by up to
 * four tokens per call. Each block's eight weight registers are decoded once
 * and serve every token; for each token, four activation bytes are broadcast
 * to all lanes and multiplied against four elements of all eight rows, so the
 * eight int32 lanes end up holding the eight rows' block sums. Held to the
 * scalar references in packed.c by tests/unit/engine/test_kernels.c.
 */
#include <immintrin.h>
#include <string.h>

#include "engine/kernels/packed.h"

static inline __m256i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/*
 * Q4_0: nibbles 0..15 times int8 activations. A pair of products is at most
 * 2 * 15 * 127 = 3810, so the eight maddubs of a block add up in int16
 * without saturating (30480); the offset of 8 comes off the int32 sum as
 * 8 * (sum of the activations).
 */
static inline __attribute__((always_inline)) void q4_0x8(int nb, const rg_block_q4_0x8 *w,
                                                         const uint8_t *x, size_t bx, const int nt,
                                                         float *y, size_t ys)
{
    const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __m256 acc[RG_PACK_TOKENS];
    for (int t = 0; t < nt; t++)
        acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i q[8];
        for (int L = 0; L < 4; L++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * L));
            q[L] = _mm256_and_si256(bits, low);
            q[L + 4] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), low);
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w[b].d));
        for (int t = 0; t < nt; t++) {
            const rg_block_q8_0s *a = (const rg_block_q8_0s *)(x + (size_t)t * bx) + b;
            __m256i s = _mm256_maddubs_epi16(q[0], bcast4(a->qs));
            for (int g = 1; g < 8; g++)
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(q[g], bcast4(a->qs + 4 * g)));
            const __m256i i32 =
                _mm256_sub_epi32(_mm256_madd_epi16(s, ones), _mm256_set1_epi32(8 * a->sum));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32),
                                     _mm256_mul_ps(dw, _mm256_set1_ps(a->d)), acc[t]);
        }
    }
    for (int t = 0; t < nt; t++)
        _mm256_storeu_ps(y + (size_t)t * ys, acc[t]);
}

void rg_gemm8_q4_0_avx2(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                        size_t ys);
void rg_gemm8_q4_0_avx2(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                        size_t ys)
{
    /* a constant token count per copy keeps the accumulators in registers */
    switch (n_tok) {
    case 1: q4_0x8(nb, w, x, bx, 1, y, ys); break;
    case 2: q4_0x8(nb, w, x, bx, 2, y, ys); break;
    case 3: q4_0x8(nb, w, x, bx, 3, y, ys); break;
    default: q4_0x8(nb, w, x, bx, 4, y, ys); break;
    }
}

/*
 * Q8_0: signed times signed, so each group of four goes through |w| times
 * the activations with w's signs (maddubs multiplies unsigned by signed); a
 * pair of products can reach 2 * 128 * 127, so each maddubs is widened to
 * int32 at once.
 */
static inline __attribute__((always_inline)) void q8_0x8(int nb, const rg_block_q8_0x8 *w,
                                                         const uint8_t *x, size_t bx, const int nt,
                                                         float *y, size_t ys)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[RG_PACK_TOKENS];
    for (int t = 0; t < nt; t++)
        acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        /* |w| in registers; w itself is read again (from L1) for its signs */
        __m256i aq[8];
        for (int g = 0; g < 8; g++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * g));
            aq[g] = _mm256_sign_epi8(q, q);
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w[b].d));
        for (int t = 0; t < nt; t++) {
            const rg_block_q8_0s *a = (const rg_block_q8_0s *)(x + (size_t)t * bx) + b;
            __m256i s = _mm256_setzero_si256();
            for (int g = 0; g < 8; g++) {
                const __m256i q = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * g));
                const __m256i p =
                    _mm256_maddubs_epi16(aq[g], _mm256_sign_epi8(bcast4(a->qs + 4 * g), q));
                s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
            }
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_set1_ps(a->d)),
                                     acc[t]);
        }
    }
    for (int t = 0; t < nt; t++)
        _mm256_storeu_ps(y + (size_t)t * ys, acc[t]);
}

void rg_gemm8_q8_0_avx2(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                        size_t ys);
void rg_gemm8_q8_0_avx2(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                        size_t ys)
{
    switch (n_tok) {
    case 1: q8_0x8(nb, w, x, bx, 1, y, ys); break;
    case 2: q8_0x8(nb, w, x, bx, 2, y, ys); break;
    case 3: q8_0x8(nb, w, x, bx, 3, y, ys); break;
    default: q8_0x8(nb, w, x, bx, 4, y, ys); break;
    }
}
