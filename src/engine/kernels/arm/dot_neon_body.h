/*
 * The NEON dot products, written once and compiled twice: dot_neon.c with
 * plain ARMv8 NEON (int8 products widened with SMULL and summed pairwise,
 * any AArch64 CPU) and dot_neon_dotprod.c with SDOT (FEAT_DotProd: Cortex-A76
 * and later, Apple M1, Graviton 2). The includer defines RG_NEON_NAME(x),
 * which gives the functions their suffix, and RG_NEON_DOTPROD (0 or 1).
 *
 * Every kernel computes each block's products in exact integer arithmetic
 * and applies the block's float scales as the reference does (the
 * reference dequantizes to float, so the two differ only by float rounding:
 * the bound in test_kernels.c). The 32-element types then accumulate
 * acc = fma(dx * dy, block sum, acc) block after block, the order of
 * llama.cpp's repacked kernels and of the packed gemm8 references
 * (kernels.md, Numerics): with per-lane float sums instead, tiny256-q8_0's
 * top-1 agreement with the ../shared/testdata logits fell to 0.975.
 *
 * Not measured on ARM hardware: the speed of these kernels is unknown; they
 * are checked for correctness under qemu.
 */
#include <arm_neon.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/quant/blocks.h"
#include "engine/quant/quant.h"
#include "engine/quant/quant_internal.h"

#ifndef RG_NEON_NAME
#error "define RG_NEON_NAME before including dot_neon_body.h"
#endif

/* acc + the sums of the products of a and b, four lanes (which lane gets
 * which products differs between the two forms; callers only add the lanes). */
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b)
{
#if RG_NEON_DOTPROD
    return vdotq_s32(acc, a, b);
#else
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_s8(vget_high_s8(a), vget_high_s8(b));
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
#endif
}

static inline float h2f(uint16_t h)
{
    return rg_fp16_to_fp32(h);
}

/* The fifth bits of a Q5 block as 0x10 bytes: elements 0..15 (lo) and
 * 16..31 (hi), element j from bit j of qh. */
static inline void q5_high_bits(const uint8_t qh[4], uint8x16_t *lo, uint8x16_t *hi)
{
    static const uint8_t idx_lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t idx_hi[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint8_t q[16] = {0};
    memcpy(q, qh, 4);
    const uint8x16_t t = vld1q_u8(q), m = vld1q_u8(bit), b16 = vdupq_n_u8(0x10);
    *lo = vandq_u8(vtstq_u8(vqtbl1q_u8(t, vld1q_u8(idx_lo)), m), b16);
    *hi = vandq_u8(vtstq_u8(vqtbl1q_u8(t, vld1q_u8(idx_hi)), m), b16);
}

/* ---- float types --------------------------------------------------------- */

void RG_NEON_NAME(rg_dot_f32)(int n, float *s, const void *vx, const void *vy);
void RG_NEON_NAME(rg_dot_f32)(int n, float *s, const void *vx, const void *vy)
{
    const float *x = vx, *y = vy;
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(x + i + 8), vld1q_f32(y + i + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(x + i + 12), vld1q_f32(y + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++)
        sum += x[i] * y[i];
    *s = sum;
}

static inline float32x4_t load_f16x4(const uint16_t *p)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

void RG_NEON_NAME(rg_dot_f16)(int n, float *s, const void *vx, const void *vy);
void RG_NEON_NAME(rg_dot_f16)(int n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 = vfmaq_f32(a0, load_f16x4(x + i), load_f16x4(y + i));
        a1 = vfmaq_f32(a1, load_f16x4(x + i + 4), load_f16x4(y + i + 4));
    }
    for (; i + 4 <= n; i += 4)
        a0 = vfmaq_f32(a0, load_f16x4(x + i), load_f16x4(y + i));
    float sum = vaddvq_f32(vaddq_f32(a0, a1));
    for (; i < n; i++)
        sum += rg_fp16_to_fp32(x[i]) * rg_fp16_to_fp32(y[i]);
    *s = sum;
}

static inline float32x4_t load_bf16x4(const uint16_t *p)
{
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

void RG_NEON_NAME(rg_dot_bf16)(int n, float *s, const void *vx, const void *vy);
void RG_NEON_NAME(rg_dot_bf16)(int n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 = vfmaq_f32(a0, load_bf16x4(x + i), load_bf16x4(y + i));
        a1 = vfmaq_f32(a1, load_bf16x4(x + i + 4), load_bf16x4(y + i + 4));
    }
    for (; i + 4 <= n; i += 4)
        a0 = vfmaq_f32(a0, load_bf16x4(x + i), load_bf16x4(y + i));
    float sum = vaddvq_f32(vaddq_f32(a0, a1));
    for (; i < n; i++)
        sum += rg_bf16_to_fp32(x[i]) * rg_bf16_to_fp32(y[i]);
    *s = sum;
}

/* ---- 32-element blocks against Q8_0 -------------------------------------- */

void RG_NEON_NAME(rg_dot_q8_0)(int n, float *s, const void *vx, const void *vy);
void RG_NEON_NAME(rg_dot_q8_0)(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q8_0 *x = vx, *y = vy;
    float acc = 0;
    for (int i = 0; i < n / RG_QK8_0; i++) {
        int32x4_t p = dot16(vdupq_n_s32(0), vld1q_s8(x[i].qs), vld1q_s8(y[i].qs));
        p = dot16(p, vld1q_s8(x[i].qs + 16), vld1q_s8(y[i].qs + 16));
        acc = fmaf(h2f(x[i].d) * h2f(y[i].d), (float)vaddvq_s32(p), acc);
    }
    *s = acc;
}

void RG_NEON_NAME(rg_dot_q4_0)(int n, float *s, const void *vx, const void *vy);
void RG_NEON_NAME(rg_dot_q4_0)(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q4_0 *x = vx;
    const rg_block_q8_0 *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t s8 = vdupq_n_s8(8);
    float acc = 0;
    for (int i = 0; i < n / RG_QK4_0; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), s8);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), s8);
        int32x4_t p = dot16(vdupq_n_s32(0), lo, vld1q_s8(y[i].qs));
        p = dot16(p, hi, vld1q_s8(y[i].qs + 16));
        acc = fmaf(h2f(x[i].d) * h2f(y[i].d), (float)vaddvq_s32(p), acc);
    }
    *s = acc;
}

/* Sum of the 32 activation quants of a Q8_0 block (for the minimum terms). */
static inline int q8_sum(const rg_block_q8_0 *y)
{
    return vaddlvq_s8(vld1q_s8(y->qs)) + vaddlvq_s8(vld1q_s8(y->qs + 16));
}

void RG_NEON_NAME(rg_dot_q4_1)(int n, float *s, const void *vx, const void *vy);
void RG_NEON_NAME(rg_dot_q4_1)(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q4_1 *x = vx;
    const rg_block_q8_0 *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float acc = 0, sm = 0;
    for (int i = 0; i < n / RG_QK4_1; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(q, m4));
        const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
        int32x4_t p = dot16(vdupq_n_s32(0), lo, vld1q_s8(y[i].qs));
        p = dot16(p, hi, vld1q_s8(y[i].qs + 16));
        const float dy = h2f(y[i].d);
        acc = fmaf(h2f(x[i].d) * dy, (float)vaddvq_s32(p), acc);
        sm += h2f(x[i].m) * dy * (float)q8_sum(&y[i]);
    }
    *s = acc + sm;
}

void RG_NEON_NAME(rg_dot_q5_0)(int n, float *s, const void *vx, const void *vy);
void RG_NEON_NAME(rg_dot_q5_0)(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q5_0 *x = vx;
    const rg_block_q8_0 *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t s16 = vdupq_n_s8(16);
    float acc = 0;
    for (int i = 0; i < n / RG_QK5_0; i++) {
        uint8x16_t hl, hh;
        q5_high_bits(x[i].qh, &hl, &hh);
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), hl)), s16);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), hh)), s16);
        int32x4_t p = dot16(vdupq_n_s32(0), lo, vld1q_s8(y[i].qs));
        p = dot16(p, hi, vld1q_s8(y[i].qs + 16));
        acc = fmaf(h2f(x[i].d) * h2f(y[i].d), (float)vaddvq_s32(p), acc);
    }
    *s = acc;
}

void RG_NEON_NAME(rg_dot_q5_1)(int n, float *s, const void *vx, const void *vy);
void RG_NEON_NAME(rg_dot_q5_1)(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q5_1 *x = vx;
    const rg_block_q8_0 *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float acc = 0, sm = 0;
    for (int i = 0; i < n / RG_QK5_1; i++) {
        uint8x16_t hl, hh;
        q5_high_bits(x[i].qh, &hl, &hh);
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), hl));
        const int8x16_t hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), hh));
        int32x4_t p = dot16(vdupq_n_s32(0), lo, vld1q_s8(y[i].qs));
        p = dot16(p, hi, vld1q_s8(y[i].qs + 16));
        const float dy = h2f(y[i].d);
        acc = fmaf(h2f(x[i].d) * dy, (float)vaddvq_s32(p), acc);
        sm += h2f(x[i].m) * dy * (float)q8_sum(&y[i]);
    }
    *s = acc + sm;
}

/* ---- K-quants against Q8_K ----------------------------------------------- */

/* Sum over the 8 sub-blocks of 32 of mins[j] * (activation sum of sub-block j). */
static inline int32_t k_min_sum(const uint8_t mn[8], const int16_t bsums[16])
{
    const int16x8_t b0 = vld1q_s16(bsums), b1 = vld1q_s16(bsums + 8);
    const int16x8_t pairs = vpaddq_s16(b0, b1); /* sums of sub-blocks 0..7 */
    const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
    int32x4_t acc = vmull_s16(vget_low_s16(pairs), vget_low_s16(m));
    acc = vmlal_s16(acc, vget_high_s16(pairs), vget_high_s16(m));
    return vaddvq_s32(acc);
}

/* Integer dot of 32 quants (two registers) with 32 activations. */
static inline int32_t dot32(int8x16_t a0, int8x16_t a1, const int8_t *y)
{
    int32x4_t p = dot16(vdupq_n_s32(0), a0, vld1q_s8(y));
    p = dot16(p, a1, vld1q_s8(y + 16));
    return vaddvq_s32(p);
}

void RG_NEON_NAME(rg_dot_q4_K)(int n, float *s, const void *vx, const void *vy);
void RG_NEON_NAME(rg_dot_q4_K)(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q4_K *x = vx;
    const rg_block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sum = 0;
    for (int i = 0; i < n / RG_QK_K; i++) {
        uint8_t sc[8], mn[8];
        rg_q4_K_scales(x[i].scales, sc, mn);
        const float d = h2f(x[i].d) * y[i].d, dmin = h2f(x[i].dmin) * y[i].d;
        const uint8_t *q = x[i].qs;
        const int8_t *a = y[i].qs;
        int32_t isum = 0;
        for (int j = 0; j < 4; j++, q += 32, a += 64) {
            const uint8x16_t q0 = vld1q_u8(q), q1 = vld1q_u8(q + 16);
            const int32_t lo = dot32(vreinterpretq_s8_u8(vandq_u8(q0, m4)),
                                     vreinterpretq_s8_u8(vandq_u8(q1, m4)), a);
            const int32_t hi = dot32(vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)),
                                     vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), a + 32);
            isum += sc[2 * j] * lo + sc[2 * j + 1] * hi;
        }
        sum += d * (float)isum - dmin * (float)k_min_sum(mn, y[i].bsums);
    }
    *s = sum;
}

void RG_NEON_NAME(rg_dot_q5_K)(int n, float *s, const void *vx, const void *vy);
void RG_NEON_NAME(rg_dot_q5_K)(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q5_K *x = vx;
    const rg_block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), b16 = vdupq_n_u8(0x10);
    float sum = 0;
    for (int i = 0; i < n / RG_QK_K; i++) {
        uint8_t sc[8], mn[8];
        rg_q4_K_scales(x[i].scales, sc, mn);
        const float d = h2f(x[i].d) * y[i].d, dmin = h2f(x[i].dmin) * y[i].d;
        const uint8_t *q = x[i].qs;
        const uint8x16_t h0 = vld1q_u8(x[i].qh), h1 = vld1q_u8(x[i].qh + 16);
        const int8_t *a = y[i].qs;
        int32_t isum = 0;
        for (int j = 0; j < 4; j++, q += 32, a += 64) {
            const uint8x16_t u1 = vdupq_n_u8((uint8_t)(1u << (2 * j)));
            const uint8x16_t u2 = vdupq_n_u8((uint8_t)(2u << (2 * j)));
            const uint8x16_t q0 = vld1q_u8(q), q1 = vld1q_u8(q + 16);
            const uint8x16_t l0 = vorrq_u8(vandq_u8(q0, m4), vandq_u8(vtstq_u8(h0, u1), b16));
            const uint8x16_t l1 = vorrq_u8(vandq_u8(q1, m4), vandq_u8(vtstq_u8(h1, u1), b16));
            const uint8x16_t g0 = vorrq_u8(vshrq_n_u8(q0, 4), vandq_u8(vtstq_u8(h0, u2), b16));
            const uint8x16_t g1 = vorrq_u8(vshrq_n_u8(q1, 4), vandq_u8(vtstq_u8(h1, u2), b16));
            const int32_t lo = dot32(vreinterpretq_s8_u8(l0), vreinterpretq_s8_u8(l1), a);
            const int32_t hi = dot32(vreinterpretq_s8_u8(g0), vreinterpretq_s8_u8(g1), a + 32);
            isum += sc[2 * j] * lo + sc[2 * j + 1] * hi;
        }
        sum += d * (float)isum - dmin * (float)k_min_sum(mn, y[i].bsums);
    }
    *s = sum;
}

/* Integer dot of 16 quants with 16 activations, lanes added. */
static inline int32_t dot16s(int8x16_t a, const int8_t *y)
{
    return vaddvq_s32(dot16(vdupq_n_s32(0), a, vld1q_s8(y)));
}

void RG_NEON_NAME(rg_dot_q6_K)(int n, float *s, const void *vx, const void *vy);
void RG_NEON_NAME(rg_dot_q6_K)(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q6_K *x = vx;
    const rg_block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m3 = vdupq_n_u8(0x03);
    const int8x16_t s32 = vdupq_n_s8(32);
    float sum = 0;
    for (int i = 0; i < n / RG_QK_K; i++) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales, *a = y[i].qs;
        int32_t isum = 0;
        for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, a += 128) {
            for (int k = 0; k < 2; k++) { /* elements l = 16k .. 16k+15 of each quarter */
                const uint8x16_t l0 = vld1q_u8(ql + 16 * k), l1 = vld1q_u8(ql + 32 + 16 * k);
                const uint8x16_t h = vld1q_u8(qh + 16 * k);
#define Q6(lo, sh)                                                                                 \
    vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, vshlq_n_u8(vandq_u8(vshrq_n_u8(h, sh), m3), 4))), s32)
                const int8x16_t v1 = Q6(vandq_u8(l0, m4), 0);
                const int8x16_t v2 = Q6(vandq_u8(l1, m4), 2);
                const int8x16_t v3 = Q6(vshrq_n_u8(l0, 4), 4);
                const int8x16_t v4 = Q6(vshrq_n_u8(l1, 4), 6);
#undef Q6
                isum += sc[k] * dot16s(v1, a + 16 * k) + sc[2 + k] * dot16s(v2, a + 32 + 16 * k) +
                        sc[4 + k] * dot16s(v3, a + 64 + 16 * k) +
                        sc[6 + k] * dot16s(v4, a + 96 + 16 * k);
            }
        }
        sum += h2f(x[i].d) * y[i].d * (float)isum;
    }
    *s = sum;
}

void RG_NEON_NAME(rg_dot_q2_K)(int n, float *s, const void *vx, const void *vy);
void RG_NEON_NAME(rg_dot_q2_K)(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q2_K *x = vx;
    const rg_block_q8_K *y = vy;
    const uint8x16_t m3 = vdupq_n_u8(0x03);
    float sum = 0;
    for (int i = 0; i < n / RG_QK_K; i++) {
        const uint8_t *q = x[i].qs, *scales = x[i].scales;
        const int8_t *a = y[i].qs;
        int32_t isum = 0, msum = 0;
        for (int g = 0; g < 16; g++)
            msum += (scales[g] >> 4) * y[i].bsums[g];
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            const uint8x16_t q0 = vld1q_u8(q), q1 = vld1q_u8(q + 16);
            for (int shift = 0; shift < 8; shift += 2, a += 32, is += 2) {
                const int8x16_t v0 =
                    vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q0, vdupq_n_s8((int8_t)-shift)), m3));
                const int8x16_t v1 =
                    vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q1, vdupq_n_s8((int8_t)-shift)), m3));
                isum += (scales[is] & 0xF) * dot16s(v0, a) +
                        (scales[is + 1] & 0xF) * dot16s(v1, a + 16);
            }
        }
        sum += h2f(x[i].d) * y[i].d * (float)isum - h2f(x[i].dmin) * y[i].d * (float)msum;
    }
    *s = sum;
}

void RG_NEON_NAME(rg_dot_q3_K)(int n, float *s, const void *vx, const void *vy);
void RG_NEON_NAME(rg_dot_q3_K)(int n, float *s, const void *vx, const void *vy)
{
    const rg_block_q3_K *x = vx;
    const rg_block_q8_K *y = vy;
    const uint8x16_t m3 = vdupq_n_u8(0x03), four = vdupq_n_u8(4);
    float sum = 0;
    for (int i = 0; i < n / RG_QK_K; i++) {
        int8_t scales[16];
        rg_q3_K_scales(x[i].scales, scales);
        const uint8_t *q = x[i].qs;
        const uint8x16_t hm0 = vld1q_u8(x[i].hmask), hm1 = vld1q_u8(x[i].hmask + 16);
        const int8_t *a = y[i].qs;
        int32_t isum = 0;
        int is = 0;
        unsigned m = 1;
        for (int half = 0; half < 2; half++, q += 32) {
            const uint8x16_t q0 = vld1q_u8(q), q1 = vld1q_u8(q + 16);
            for (int shift = 0; shift < 8; shift += 2, m <<= 1, a += 32, is += 2) {
                const int8x16_t sh = vdupq_n_s8((int8_t)-shift);
                const uint8x16_t mm = vdupq_n_u8((uint8_t)m);
                /* (q >> shift) & 3, less 4 where the mask bit is clear */
                const uint8x16_t sub0 = vbicq_u8(four, vtstq_u8(hm0, mm));
                const uint8x16_t sub1 = vbicq_u8(four, vtstq_u8(hm1, mm));
                const int8x16_t v0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q0, sh), m3)),
                                              vreinterpretq_s8_u8(sub0));
                const int8x16_t v1 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q1, sh), m3)),
                                              vreinterpretq_s8_u8(sub1));
                isum += scales[is] * dot16s(v0, a) + scales[is + 1] * dot16s(v1, a + 16);
            }
        }
        sum += h2f(x[i].d) * y[i].d * (float)isum;
    }
    *s = sum;
}

/* ---- four tokens at once (prompt processing) ------------------------------ */

/* s[j] = vec_dot(x, y + j * by) for j < 4, bit for bit: the same integer
 * block sums and the same fma per block, with x's block decoded once. */
void RG_NEON_NAME(rg_dot4_q8_0)(int n, float *s, const void *vx, const void *vy, size_t by);
void RG_NEON_NAME(rg_dot4_q8_0)(int n, float *s, const void *vx, const void *vy, size_t by)
{
    const rg_block_q8_0 *x = vx;
    const rg_block_q8_0 *y[4];
    for (int j = 0; j < 4; j++)
        y[j] = (const rg_block_q8_0 *)((const uint8_t *)vy + j * by);
    float acc[4] = {0, 0, 0, 0};
    for (int i = 0; i < n / RG_QK8_0; i++) {
        const int8x16_t x0 = vld1q_s8(x[i].qs), x1 = vld1q_s8(x[i].qs + 16);
        const float dx = h2f(x[i].d);
        for (int j = 0; j < 4; j++) {
            int32x4_t p = dot16(vdupq_n_s32(0), x0, vld1q_s8(y[j][i].qs));
            p = dot16(p, x1, vld1q_s8(y[j][i].qs + 16));
            acc[j] = fmaf(dx * h2f(y[j][i].d), (float)vaddvq_s32(p), acc[j]);
        }
    }
    memcpy(s, acc, sizeof acc);
}

void RG_NEON_NAME(rg_dot4_q4_0)(int n, float *s, const void *vx, const void *vy, size_t by);
void RG_NEON_NAME(rg_dot4_q4_0)(int n, float *s, const void *vx, const void *vy, size_t by)
{
    const rg_block_q4_0 *x = vx;
    const rg_block_q8_0 *y[4];
    for (int j = 0; j < 4; j++)
        y[j] = (const rg_block_q8_0 *)((const uint8_t *)vy + j * by);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t s8 = vdupq_n_s8(8);
    float acc[4] = {0, 0, 0, 0};
    for (int i = 0; i < n / RG_QK4_0; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), s8);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), s8);
        const float dx = h2f(x[i].d);
        for (int j = 0; j < 4; j++) {
            int32x4_t p = dot16(vdupq_n_s32(0), lo, vld1q_s8(y[j][i].qs));
            p = dot16(p, hi, vld1q_s8(y[j][i].qs + 16));
            acc[j] = fmaf(dx * h2f(y[j][i].d), (float)vaddvq_s32(p), acc[j]);
        }
    }
    memcpy(s, acc, sizeof acc);
}
