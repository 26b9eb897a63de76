/*
 * AVX2 + FMA + F16C dot products for the weight types dot_avx2.c leaves to
 * the scalar reference: BF16 (against BF16), Q4_1, Q5_0, Q5_1 (against
 * Q8_0) and Q2_K, Q3_K, Q5_K (against Q8_K), the vec_dot_type each one has
 * in quant_ref.c. Same flags, same dispatch (dispatch.c) and the same test
 * against the reference (tests/unit/engine/test_kernels.c) as dot_avx2.c.
 *
 * The conventions of dot_avx2.c: int8 products through maddubs (unsigned x
 * signed; signed x signed by moving the sign onto y), pairs summed to int32
 * with madd, and each block's scale product applied once with an FMA. A
 * format with a minimum adds a second term per block, min * sum(y), which
 * for Q8_0 is a maddubs of ones against y and for Q8_K comes from its bsums.
 */
#include <immintrin.h>
#include <string.h>

#include "engine/quant/blocks.h"
#include "engine/kernels/x86/avx2_util.h"
#include "engine/quant/quant.h"
#include "engine/quant/quant_internal.h"

/* The 32 nibbles of a 32-block as bytes in element order (low nibbles are
 * elements 0..15, high nibbles 16..31). */
static inline __m256i nibbles32(const uint8_t *qs)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}

/* The 32 fifth bits of a Q5_0 / Q5_1 block (element j at bit j of qh) as
 * bytes 0x10 or 0: byte j takes qh's byte j / 8 and tests bit j % 8. */
static inline __m256i fifth_bits(const uint8_t qh[4])
{
    uint32_t h;
    memcpy(&h, qh, 4);
    const __m256i pick = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), pick);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* 8 bf16 -> 8 floats: a bfloat16 is the high half of a float */
static inline __m256 bf16x8(const uint16_t *p)
{
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

void rg_dot_bf16_avx2(int n, float *s, const void *vx, const void *vy);
void rg_dot_bf16_avx2(int n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(bf16x8(x + i), bf16x8(y + i), a0);
        a1 = _mm256_fmadd_ps(bf16x8(x + i + 8), bf16x8(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(bf16x8(x + i + 16), bf16x8(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(bf16x8(x + i + 24), bf16x8(y + i + 24), a3);
    }
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        sum += rg_bf16_to_fp32(x[i]) * rg_bf16_to_fp32(y[i]);
    *s = sum;
}

/* ---- 32-blocks against Q8_0 ---- */

/*
 * Q4_1 and Q5_1 store x = d * q + m with unsigned q, so
 *   sum x * y = dx * dy * sum(q * y) + m * dy * sum(y):
 * one FMA for each term, in two independent chains. q holds the 32 levels.
 */
static inline void dot_min_block(__m256i q, float d, float m, const rg_block_q8_0 *y, __m256 *acc,
                                 __m256 *acc_m)
{
    const __m256i qy = _mm256_loadu_si256((const __m256i *)y->qs);
    const float dy = h2f(y->d);
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(d * dy), dot_u8(q, qy), *acc);
    *acc_m = _mm256_fmadd_ps(_mm256_set1_ps(m * dy), dot_u8(_mm256_set1_epi8(1), qy), *acc_m);
}

void rg_dot_q4_1_avx2(int n, float *s, const void *vx, const void *vy);
void rg_dot_q4_1_avx2(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q4_1 *x = vx;
    const rg_block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps(), acc_m = _mm256_setzero_ps();
    for (int i = 0; i < n / RG_QK4_1; i++)
        dot_min_block(nibbles32(x[i].qs), h2f(x[i].d), h2f(x[i].m), &y[i], &acc, &acc_m);
    *s = hsum(_mm256_add_ps(acc, acc_m));
}

void rg_dot_q5_1_avx2(int n, float *s, const void *vx, const void *vy);
void rg_dot_q5_1_avx2(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q5_1 *x = vx;
    const rg_block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps(), acc_m = _mm256_setzero_ps();
    for (int i = 0; i < n / RG_QK5_1; i++) {
        const __m256i q = _mm256_or_si256(nibbles32(x[i].qs), fifth_bits(x[i].qh));
        dot_min_block(q, h2f(x[i].d), h2f(x[i].m), &y[i], &acc, &acc_m);
    }
    *s = hsum(_mm256_add_ps(acc, acc_m));
}

/* Q5_0: levels 0..31 offset to -16..15, signed x signed; returns the lane
 * sums of one block and sets *d to its scale product. */
static inline __m256 q5_0_block(const rg_block_q5_0 *x, const rg_block_q8_0 *y, __m256 *d)
{
    const __m256i q =
        _mm256_sub_epi8(_mm256_or_si256(nibbles32(x->qs), fifth_bits(x->qh)), _mm256_set1_epi8(16));
    *d = _mm256_set1_ps(h2f(x->d) * h2f(y->d));
    return dot_i8(q, _mm256_loadu_si256((const __m256i *)y->qs));
}

void rg_dot_q5_0_avx2(int n, float *s, const void *vx, const void *vy);
void rg_dot_q5_0_avx2(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q5_0 *x = vx;
    const rg_block_q8_0 *y = vy;
    /* two blocks per step into two accumulators: independent FMA chains */
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), d0, d1;
    int nb = n / RG_QK5_0, i = 0;
    for (; i + 1 < nb; i += 2) {
        const __m256 p0 = q5_0_block(&x[i], &y[i], &d0), p1 = q5_0_block(&x[i + 1], &y[i + 1], &d1);
        acc0 = _mm256_fmadd_ps(d0, p0, acc0);
        acc1 = _mm256_fmadd_ps(d1, p1, acc1);
    }
    if (i < nb) {
        const __m256 p0 = q5_0_block(&x[i], &y[i], &d0);
        acc0 = _mm256_fmadd_ps(d0, p0, acc0);
    }
    *s = hsum(_mm256_add_ps(acc0, acc1));
}

/* ---- K-quants against Q8_K ---- */

/* The 16 int16 products of 32 levels with 32 y, each lane half (one 16-value
 * sub-block) multiplied by its scale and summed in pairs: 8 int32. */
static inline __m256i scaled_pairs(__m256i q, __m256i y, int sc_lo, int sc_hi)
{
    const __m256i scale =
        _mm256_set_m128i(_mm_set1_epi16((short)sc_hi), _mm_set1_epi16((short)sc_lo));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(q, y), scale);
}

/*
 * Q2_K: x = d * sc * q - dmin * m per 16-value sub-block, q in 0..3. The
 * mins meet y only through its sums over the same 16 values (bsums), so
 *   sum x * y = d * dy * sum_sub(sc * sum(q * y)) - dmin * dy * sum_sub(m * bsum).
 * The 32 bytes of qs hold 128 values, two bits each: shift 2j gives values
 * 32j..32j+31 of that half, sub-blocks 2j and 2j + 1.
 */
void rg_dot_q2_K_avx2(int n, float *s, const void *vx, const void *vy);
void rg_dot_q2_K_avx2(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q2_K *x = vx;
    const rg_block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps(), acc_m = _mm256_setzero_ps();
    for (int i = 0; i < n / RG_QK_K; i++) {
        const float dy = y[i].d;
        const __m128i packed = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m256i mins =
            _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F)));
        const __m256i bsums = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dy * h2f(x[i].dmin)),
                                _mm256_cvtepi32_ps(_mm256_madd_epi16(mins, bsums)), acc_m);
        uint8_t sc[16];
        for (int j = 0; j < 16; j++)
            sc[j] = x[i].scales[j] & 0x0F;
        __m256i sumi = _mm256_setzero_si256();
        for (int half = 0; half < 2; half++) {
            __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * half));
            const int8_t *q8 = y[i].qs + 128 * half;
            const uint8_t *s8 = sc + 8 * half;
            for (int j = 0; j < 4; j++, bits = _mm256_srli_epi16(bits, 2)) {
                const __m256i yj = _mm256_loadu_si256((const __m256i *)(q8 + 32 * j));
                sumi = _mm256_add_epi32(
                    sumi, scaled_pairs(_mm256_and_si256(bits, m3), yj, s8[2 * j], s8[2 * j + 1]));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dy * h2f(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum(acc) - hsum(acc_m);
}

/*
 * Q3_K: x = d * sc * (L - 4) with L = low2 | hbit << 2 in 0..7 and sc signed
 * (-32..31) per 16-value sub-block. maddubs takes L unsigned; the offset
 * comes back through the bsums, all in int32:
 *   sum_sub sc * sum((L - 4) * y) = sum_sub sc * sum(L * y) - 4 * sum_sub sc * bsum.
 * The low bits are laid out as in Q2_K; the high bit of value 32k + l (k =
 * 0..7) is bit k of hmask[l].
 */
void rg_dot_q3_K_avx2(int n, float *s, const void *vx, const void *vy);
void rg_dot_q3_K_avx2(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q3_K *x = vx;
    const rg_block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / RG_QK_K; i++) {
        int8_t sc[16];
        rg_q3_K_scales(x[i].scales, sc);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        const __m256i bsums = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(),
                                        _mm256_slli_epi32(_mm256_madd_epi16(sc16, bsums), 2));
        __m256i hbits = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        for (int half = 0; half < 2; half++) {
            __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * half));
            const int8_t *q8 = y[i].qs + 128 * half, *s8 = sc + 8 * half;
            for (int j = 0; j < 4; j++) {
                const __m256i hi = _mm256_slli_epi16(_mm256_and_si256(hbits, m1), 2);
                const __m256i L = _mm256_or_si256(_mm256_and_si256(bits, m3), hi);
                const __m256i yj = _mm256_loadu_si256((const __m256i *)(q8 + 32 * j));
                sumi = _mm256_add_epi32(sumi, scaled_pairs(L, yj, s8[2 * j], s8[2 * j + 1]));
                bits = _mm256_srli_epi16(bits, 2);
                hbits = _mm256_srli_epi16(hbits, 1);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum(acc);
}

/*
 * Q5_K: x = d * sc * q - dmin * m per 32-value sub-block, q = nibble |
 * fifth bit << 4 in 0..31. Each 64 values share 32 bytes of qs (low nibbles
 * first, then high) and bits 2j, 2j + 1 of qh. The mins go through the
 * bsums as in Q4_K.
 */
void rg_dot_q5_K_avx2(int n, float *s, const void *vx, const void *vy);
void rg_dot_q5_K_avx2(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q5_K *x = vx;
    const rg_block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m1 = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float mins_sum = 0;
    for (int i = 0; i < n / RG_QK_K; i++) {
        uint8_t sc[8], mn[8];
        rg_q4_K_scales(x[i].scales, sc, mn);
        int summ = 0;
        for (int j = 0; j < 8; j++)
            summ += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        mins_sum -= y[i].d * h2f(x[i].dmin) * (float)summ;
        __m256i hbits = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        const int8_t *q8 = y[i].qs;
        for (int j = 0; j < 4; j++, q8 += 64) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(hbits, m1), 4);
            const __m256i h1 =
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), m1), 4);
            hbits = _mm256_srli_epi16(hbits, 2);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(bits, m4), h0);
            const __m256i hi =
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), h1);
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)q8),
                          y1 = _mm256_loadu_si256((const __m256i *)(q8 + 32));
            const __m256i p0 =
                _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), _mm256_set1_epi16(sc[2 * j]));
            const __m256i p1 =
                _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), _mm256_set1_epi16(sc[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum(acc) + mins_sum;
}
