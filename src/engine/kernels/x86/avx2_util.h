/*
 * Small AVX2 helpers shared by the x86 kernel files (included only from
 * files compiled with -mavx2 -mfma -mf16c).
 */
#ifndef RG_ENGINE_KERNELS_X86_AVX2_UTIL_H
#define RG_ENGINE_KERNELS_X86_AVX2_UTIL_H

#include <immintrin.h>
#include <stdint.h>

/* The sum of the 8 lanes. */
static inline float hsum(__m256 x)
{
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

static inline float h2f(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* int16 pairs of p summed into 8 int32 lanes, as floats */
static inline __m256 sum_pairs(__m256i p)
{
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

/* 32 unsigned (0..127) x 32 signed int8 -> 8 lane sums, as floats */
static inline __m256 dot_u8(__m256i x, __m256i y)
{
    return sum_pairs(_mm256_maddubs_epi16(x, y));
}

/* 32 signed x 32 signed int8 -> 8 int32 lane sums, as floats: |x| times y
 * with x's sign moved onto it, in the unsigned x signed form AVX2 has */
static inline __m256 dot_i8(__m256i x, __m256i y)
{
    return dot_u8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

#endif
