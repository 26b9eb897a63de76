/*
 * The vector index's kernels: f16 conversion and dot products of an f32
 * query with stored f16 or int8 vectors. A scalar reference beside each
 * AVX2 one (FMA + F16C, compiled for those features with target attributes
 * so the rest of the build stays baseline x86-64); the choice is made once,
 * at first use, from the CPU's features. test_vec.c holds them to each other.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "common/cpu.h"
#include "index/vec.h"
#include "index/vec_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define RG_VEC_X86 1
#endif

uint16_t rg_vec_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t e = (x >> 23) & 0xffu, m = x & 0x7fffffu;
    if (e == 0xff) return (uint16_t)(sign | 0x7c00u | (m ? 0x200u : 0)); /* inf, nan */
    int32_t ne = (int32_t)e - 127 + 15;
    if (ne >= 31) return (uint16_t)(sign | 0x7c00u); /* overflow: inf */
    if (ne <= 0) {                                   /* subnormal or zero */
        if (ne < -10) return (uint16_t)sign;
        m |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - ne);
        uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)ne << 10) | (m >> 13), rem = m & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* may carry into the exponent */
    return (uint16_t)(sign | h);
}

float rg_vec_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    if (e == 0) {
        if (m == 0) {
            x = sign;
        } else { /* subnormal: normalise */
            e = 1;
            while (!(m & 0x400u)) {
                m <<= 1;
                e--;
            }
            m &= 0x3ffu;
            x = sign | ((e + 127 - 15) << 23) | (m << 13);
        }
    } else if (e == 31) {
        x = sign | 0x7f800000u | (m << 13);
    } else {
        x = sign | ((e + 127 - 15) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

float rg_vec_dot_f16_scalar(const float *q, const uint16_t *x, int n)
{
    float s = 0;
    for (int i = 0; i < n; i++)
        s += q[i] * rg_vec_f16_to_f32(x[i]);
    return s;
}

float rg_vec_dot_i8_scalar(const float *q, const int8_t *x, int n)
{
    float s = 0;
    for (int i = 0; i < n; i++)
        s += q[i] * (float)x[i];
    return s;
}

#ifdef RG_VEC_X86
__attribute__((target("avx2,fma,f16c"))) static float hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_hadd_ps(lo, lo);
    lo = _mm_hadd_ps(lo, lo);
    return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma,f16c"))) static float dot_f16_avx2(const float *q,
                                                                   const uint16_t *x, int n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 x0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        __m256 x1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8)));
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), x0, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), x1, a1);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i),
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))), a0);
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        s += q[i] * rg_vec_f16_to_f32(x[i]);
    return s;
}

__attribute__((target("avx2,fma,f16c"))) static float dot_i8_avx2(const float *q, const int8_t *x,
                                                                  int n)
{
    __m256 a0 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x + i)));
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_cvtepi32_ps(w), a0);
    }
    float s = hsum256(a0);
    for (; i < n; i++)
        s += q[i] * (float)x[i];
    return s;
}
#endif

#ifdef RG_VEC_X86
__attribute__((target("avx2,fma,f16c"))) static void decode_f16c(const uint16_t *x, float *out,
                                                                 int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++)
        out[i] = rg_vec_f16_to_f32(x[i]);
}
#endif

static void decode_scalar(const uint16_t *x, float *out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = rg_vec_f16_to_f32(x[i]);
}

static rg_vec_decode_f16_fn g_decode = decode_scalar;
static float (*g_dot_f16)(const float *, const uint16_t *, int) = rg_vec_dot_f16_scalar;
static float (*g_dot_i8)(const float *, const int8_t *, int) = rg_vec_dot_i8_scalar;
static const char *g_isa = "scalar";
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void choose(void)
{
#ifdef RG_VEC_X86
    if (rg_cpu_avx2()) {
        g_dot_f16 = dot_f16_avx2;
        g_dot_i8 = dot_i8_avx2;
        g_decode = decode_f16c;
        g_isa = "avx2";
    }
#endif
}

float rg_vec_dot_f16(const float *q, const uint16_t *x, int n)
{
    pthread_once(&g_once, choose);
    return g_dot_f16(q, x, n);
}

float rg_vec_dot_i8(const float *q, const int8_t *x, int n)
{
    pthread_once(&g_once, choose);
    return g_dot_i8(q, x, n);
}

const char *rg_vec_isa(void)
{
    pthread_once(&g_once, choose);
    return g_isa;
}

rg_vec_dot_f16_fn rg_vec_kernel_f16(void)
{
    pthread_once(&g_once, choose);
    return g_dot_f16;
}

rg_vec_dot_i8_fn rg_vec_kernel_i8(void)
{
    pthread_once(&g_once, choose);
    return g_dot_i8;
}

rg_vec_decode_f16_fn rg_vec_kernel_decode_f16(void)
{
    pthread_once(&g_once, choose);
    return g_decode;
}
