/*
 * AVX2 + FMA + F16C dot products for the weight types of the common
 * quantizations (F32, F16, Q4_0, Q8_0, Q4_K, Q6_K). This file is compiled
 * with -mavx2 -mfma -mf16c and only ever called after CPUID said so
 * (dispatch.c). Each kernel is held to the scalar reference in
 * tests/unit/engine/test_kernels.c.
 *
 * Integer kernels: |a| * sign(b, a) with maddubs turns signed x signed int8
 * products into the unsigned x signed form AVX2 multiplies, then madd sums
 * pairs into int32 lanes; the per-block scale product is applied once per
 * block with an FMA, so only the block sums are rounded.
 */
#include <immintrin.h>
#include <string.h>

#include "engine/quant/blocks.h"
#include "engine/kernels/x86/avx2_util.h"
#include "engine/quant/quant.h"
#include "engine/quant/quant_internal.h"

void rg_dot_f32_avx2(int n, float *s, const void *vx, const void *vy);
void rg_dot_f32_avx2(int n, float *s, const void *vx, const void *vy)
{
    const float *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        sum += x[i] * y[i];
    *s = sum;
}

void rg_dot_f16_avx2(int n, float *s, const void *vx, const void *vy);
void rg_dot_f16_avx2(int n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
#define LD(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(LD(x + i), LD(y + i), a0);
        a1 = _mm256_fmadd_ps(LD(x + i + 8), LD(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(LD(x + i + 16), LD(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(LD(x + i + 24), LD(y + i + 24), a3);
    }
#undef LD
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        sum += h2f(x[i]) * h2f(y[i]);
    *s = sum;
}

void rg_dot_q8_0_avx2(int n, float *s, const void *vx, const void *vy);
void rg_dot_q8_0_avx2(int n, float *s, const void *vx, const void *vy)
{
    /* One chain, in llama.cpp's order: Q8_0 generation is bound by memory
     * bandwidth anyway, and this order keeps tiny-q8_0 bit-identical. */
    const rg_block_q8_0 *x = vx, *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / RG_QK8_0; i++) {
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, dot_i8(qx, qy), acc);
    }
    *s = hsum(acc);
}

void rg_dot_q4_0_avx2(int n, float *s, const void *vx, const void *vy);
void rg_dot_q4_0_avx2(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q4_0 *x = vx;
    const rg_block_q8_0 *y = vy;
    const __m256i low = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
    /* two blocks per step into two accumulators: independent FMA chains */
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int nb = n / RG_QK4_0, i = 0;
    for (; i + 1 < nb; i += 2) {
        const __m128i t0 = _mm_loadu_si128((const __m128i *)x[i].qs);
        const __m128i t1 = _mm_loadu_si128((const __m128i *)x[i + 1].qs);
        __m256i q0 = _mm256_set_m128i(_mm_srli_epi16(t0, 4), t0);
        __m256i q1 = _mm256_set_m128i(_mm_srli_epi16(t1, 4), t1);
        q0 = _mm256_sub_epi8(_mm256_and_si256(q0, low), eight);
        q1 = _mm256_sub_epi8(_mm256_and_si256(q1, low), eight);
        const __m256 d0 = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        const __m256 d1 = _mm256_set1_ps(h2f(x[i + 1].d) * h2f(y[i + 1].d));
        acc0 = _mm256_fmadd_ps(d0, dot_i8(q0, _mm256_loadu_si256((const __m256i *)y[i].qs)), acc0);
        acc1 =
            _mm256_fmadd_ps(d1, dot_i8(q1, _mm256_loadu_si256((const __m256i *)y[i + 1].qs)), acc1);
    }
    for (; i < nb; i++) {
        const __m128i t = _mm_loadu_si128((const __m128i *)x[i].qs);
        __m256i q = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
        q = _mm256_sub_epi8(_mm256_and_si256(q, low), eight);
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        acc0 = _mm256_fmadd_ps(d, dot_i8(q, _mm256_loadu_si256((const __m256i *)y[i].qs)), acc0);
    }
    *s = hsum(_mm256_add_ps(acc0, acc1));
}

void rg_dot_q4_K_avx2(int n, float *s, const void *vx, const void *vy);
void rg_dot_q4_K_avx2(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q4_K *x = vx;
    const rg_block_q8_K *y = vy;
    const __m256i low = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float mins_sum = 0;
    for (int i = 0; i < n / RG_QK_K; i++) {
        const float d = y[i].d * h2f(x[i].d), dmin = y[i].d * h2f(x[i].dmin);
        uint8_t sc[8], mn[8];
        rg_q4_K_scales(x[i].scales, sc, mn);
        int summ = 0;
        for (int j = 0; j < 8; j++)
            summ += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        mins_sum -= dmin * (float)summ;
        __m256i sumi = _mm256_setzero_si256();
        const uint8_t *q4 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        for (int j = 0; j < 4; j++, q4 += 32, q8 += 64) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)q4);
            const __m256i lo = _mm256_and_si256(bits, low),
                          hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), low);
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)q8),
                          y1 = _mm256_loadu_si256((const __m256i *)(q8 + 32));
            __m256i p0 =
                _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), _mm256_set1_epi16(sc[2 * j]));
            __m256i p1 =
                _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), _mm256_set1_epi16(sc[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum(acc) + mins_sum;
}

/* The 4 x 32 six-bit values of half a Q6_K block (0..63, not yet offset). */
static inline void q6_K_unpack(const uint8_t *ql, const uint8_t *qh, __m256i q[4])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    const __m256i l1 = _mm256_loadu_si256((const __m256i *)ql);
    const __m256i l2 = _mm256_loadu_si256((const __m256i *)(ql + 32));
    const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
    q[0] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(h, m2), 4));
    q[1] = _mm256_or_si256(_mm256_and_si256(l2, m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l2, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4));
}

void rg_dot_q6_K_avx2(int n, float *s, const void *vx, const void *vy);
void rg_dot_q6_K_avx2(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q6_K *x = vx;
    const rg_block_q8_K *y = vy;
    const __m256i k32 = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / RG_QK_K; i++) {
        const float d = y[i].d * h2f(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *q8 = y[i].qs, *sc = x[i].scales;
        __m256i sumi = _mm256_setzero_si256();
        for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, q8 += 128) {
            __m256i q[4];
            q6_K_unpack(ql, qh, q);
            for (int k = 0; k < 4; k++) {
                const __m256i yk = _mm256_loadu_si256((const __m256i *)(q8 + 32 * k));
                /* (q - 32) * y = q*y - 32*y, both in maddubs' unsigned x signed form */
                __m256i p =
                    _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], yk), _mm256_maddubs_epi16(k32, yk));
                const __m256i scale =
                    _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum(acc);
}

/* ---- four tokens at once: the weight block is decoded once ---- */

void rg_dot4_q8_0_avx2(int n, float *s, const void *vx, const void *vy, size_t by);
void rg_dot4_q8_0_avx2(int n, float *s, const void *vx, const void *vy, size_t by)
{
    const rg_block_q8_0 *x = vx;
    const uint8_t *yb = vy;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int i = 0; i < n / RG_QK8_0; i++) {
        const float xd = h2f(x[i].d);
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i ax = _mm256_sign_epi8(qx, qx);
        for (int j = 0; j < 4; j++) {
            const rg_block_q8_0 *y = (const rg_block_q8_0 *)(yb + j * by) + i;
            const __m256i sy = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y->qs), qx);
            const __m256 p = _mm256_cvtepi32_ps(
                _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1)));
            acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(xd * h2f(y->d)), p, acc[j]);
        }
    }
    for (int j = 0; j < 4; j++)
        s[j] = hsum(acc[j]);
}

void rg_dot4_q4_0_avx2(int n, float *s, const void *vx, const void *vy, size_t by);
void rg_dot4_q4_0_avx2(int n, float *s, const void *vx, const void *vy, size_t by)
{
    const rg_block_q4_0 *x = vx;
    const uint8_t *yb = vy;
    const __m256i low = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int i = 0; i < n / RG_QK4_0; i++) {
        const float xd = h2f(x[i].d);
        const __m128i t = _mm_loadu_si128((const __m128i *)x[i].qs);
        __m256i qx = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
        qx = _mm256_sub_epi8(_mm256_and_si256(qx, low), eight);
        const __m256i ax = _mm256_sign_epi8(qx, qx);
        for (int j = 0; j < 4; j++) {
            const rg_block_q8_0 *y = (const rg_block_q8_0 *)(yb + j * by) + i;
            const __m256i sy = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y->qs), qx);
            const __m256 p = _mm256_cvtepi32_ps(
                _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1)));
            acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(xd * h2f(y->d)), p, acc[j]);
        }
    }
    for (int j = 0; j < 4; j++)
        s[j] = hsum(acc[j]);
}

void rg_dot4_q4_K_avx2(int n, float *s, const void *vx, const void *vy, size_t by);
void rg_dot4_q4_K_avx2(int n, float *s, const void *vx, const void *vy, size_t by)
{
    const rg_block_q4_K *x = vx;
    const uint8_t *yb = vy;
    const __m256i low = _mm256_set1_epi8(0x0F);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    float mins[4] = {0, 0, 0, 0};
    for (int i = 0; i < n / RG_QK_K; i++) {
        uint8_t sc[8], mn[8];
        rg_q4_K_scales(x[i].scales, sc, mn);
        const float xd = h2f(x[i].d), xmin = h2f(x[i].dmin);
        __m256i lo[4], hi[4];
        for (int k = 0; k < 4; k++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * k));
            lo[k] = _mm256_and_si256(bits, low);
            hi[k] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), low);
        }
        for (int j = 0; j < 4; j++) {
            const rg_block_q8_K *y = (const rg_block_q8_K *)(yb + j * by) + i;
            int summ = 0;
            for (int k = 0; k < 8; k++)
                summ += mn[k] * (y->bsums[2 * k] + y->bsums[2 * k + 1]);
            mins[j] -= y->d * xmin * (float)summ;
            __m256i sumi = _mm256_setzero_si256();
            for (int k = 0; k < 4; k++) {
                const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y->qs + 64 * k));
                const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y->qs + 64 * k + 32));
                __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo[k], y0),
                                               _mm256_set1_epi16(sc[2 * k]));
                __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi[k], y1),
                                               _mm256_set1_epi16(sc[2 * k + 1]));
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
            }
            acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(y->d * xd), _mm256_cvtepi32_ps(sumi), acc[j]);
        }
    }
    for (int j = 0; j < 4; j++)
        s[j] = hsum(acc[j]) + mins[j];
}

void rg_dot4_q6_K_avx2(int n, float *s, const void *vx, const void *vy, size_t by);
void rg_dot4_q6_K_avx2(int n, float *s, const void *vx, const void *vy, size_t by)
{
    const rg_block_q6_K *x = vx;
    const uint8_t *yb = vy;
    const __m256i k32 = _mm256_set1_epi8(32);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int i = 0; i < n / RG_QK_K; i++) {
        const float xd = h2f(x[i].d);
        __m256i q[8], scale[8];
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = x[i].ql + 64 * half, *qh = x[i].qh + 32 * half;
            const int8_t *sc = x[i].scales + 8 * half;
            q6_K_unpack(ql, qh, q + 4 * half);
            for (int k = 0; k < 4; k++)
                scale[4 * half + k] =
                    _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
        }
        for (int j = 0; j < 4; j++) {
            const rg_block_q8_K *y = (const rg_block_q8_K *)(yb + j * by) + i;
            __m256i sumi = _mm256_setzero_si256();
            for (int k = 0; k < 8; k++) {
                const __m256i yk = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * k));
                __m256i p =
                    _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], yk), _mm256_maddubs_epi16(k32, yk));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale[k]));
            }
            acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(y->d * xd), _mm256_cvtepi32_ps(sumi), acc[j]);
        }
    }
    for (int j = 0; j < 4; j++)
        s[j] = hsum(acc[j]);
}
