/*
 * NEON quantizers for the activations (Q8_0 and Q8_K). They give the
 * reference's bytes exactly: the same float products, rounded to nearest
 * even (FCVTNS, as lrintf in the default rounding mode), the same
 * half-precision scale through rg_fp32_to_fp16. Held to the reference in
 * test_kernels.c.
 */
#include <arm_neon.h>
#include <string.h>

#include "engine/quant/blocks.h"
#include "engine/quant/quant.h"

/* 16 floats times id, rounded to nearest even, narrowed to int8 (saturating;
 * the values are within [-127, 127] already). */
static inline int8x16_t round16(const float *x, float id)
{
    const int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x), id));
    const int32x4_t b = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4), id));
    const int32x4_t c = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 8), id));
    const int32x4_t d = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 12), id));
    const int16x8_t ab = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
    const int16x8_t cd = vcombine_s16(vqmovn_s32(c), vqmovn_s32(d));
    return vcombine_s8(vqmovn_s16(ab), vqmovn_s16(cd));
}

void rg_quantize_row_q8_0_neon(const float *x, void *dst, int64_t n);
void rg_quantize_row_q8_0_neon(const float *x, void *dst, int64_t n)
{
    rg_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / RG_QK8_0; i++, x += RG_QK8_0) {
        float32x4_t m = vdupq_n_f32(0);
        for (int j = 0; j < RG_QK8_0; j += 4)
            m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + j)));
        const float amax = vmaxvq_f32(m);
        /* as the reference: id = 127/amax, not 1/d */
        const float d = amax / 127, id = amax ? 127.f / amax : 0.0f;
        b[i].d = rg_fp32_to_fp16(d);
        vst1q_s8(b[i].qs, round16(x, id));
        vst1q_s8(b[i].qs + 16, round16(x + 16, id));
    }
}

void rg_quantize_row_q8_K_neon(const float *x, void *dst, int64_t n);
void rg_quantize_row_q8_K_neon(const float *x, void *dst, int64_t n)
{
    rg_block_q8_K *b = dst;
    const int8x16_t top = vdupq_n_s8(127);
    for (int64_t i = 0; i < n / RG_QK_K; i++, x += RG_QK_K) {
        float32x4_t m = vdupq_n_f32(0);
        for (int j = 0; j < RG_QK_K; j += 4)
            m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + j)));
        const float amax = vmaxvq_f32(m);
        if (!amax) {
            b[i].d = 0;
            memset(b[i].qs, 0, sizeof b[i].qs);
            memset(b[i].bsums, 0, sizeof b[i].bsums);
            continue;
        }
        /* the signed extreme: the first element of largest magnitude, as the
         * reference's strict '>' scan picks it */
        float max = 0;
        for (int j = 0; j < RG_QK_K; j++)
            if (x[j] == amax || x[j] == -amax) {
                max = x[j];
                break;
            }
        const float iscale = -127.f / max;
        for (int j = 0; j < RG_QK_K; j += 16) {
            const int8x16_t q = vminq_s8(round16(x + j, iscale), top);
            vst1q_s8(b[i].qs + j, q);
            b[i].bsums[j / 16] = vaddlvq_s8(q);
        }
        b[i].d = 1 / iscale;
    }
}
