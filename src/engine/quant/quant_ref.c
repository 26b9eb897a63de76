/*
 * Portable scalar reference for every tensor type: dequantization, reference
 * quantization, and a dot product. The formats are ggml's (GGUF files store
 * them bit for bit). The dot products are written for clarity, not speed:
 * each block of both operands is expanded to floats and multiplied; the ISA
 * kernels (src/engine/kernels/x86) replace the hot ones and are tested against
 * these.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "engine/kernels/dispatch.h"
#include "engine/quant/blocks.h"
#include "engine/quant/quant.h"
#include "engine/quant/quant_internal.h"

#define H2F(h) rg_fp16_to_fp32(h)
#define F2H(f) rg_fp32_to_fp16(f)

static int nearest_int(float f)
{
    return (int)lrintf(f);
}

/* ---- float types ---- */

static void f32_to_float(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * 4);
}
static void f32_from_float(const float *src, void *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * 4);
}
static void f16_to_float(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = H2F(s[i]);
}
static void f16_from_float(const float *src, void *dst, int64_t n)
{
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++)
        d[i] = F2H(src[i]);
}
static void bf16_to_float(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = rg_bf16_to_fp32(s[i]);
}
static void bf16_from_float(const float *src, void *dst, int64_t n)
{
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++)
        d[i] = rg_fp32_to_bf16(src[i]);
}

/* ---- 32-element blocks ---- */

static void q4_0_to_float(const void *src, float *y, int64_t n)
{
    const rg_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / RG_QK4_0; i++, y += RG_QK4_0) {
        float d = H2F(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = ((b[i].qs[j] & 0xF) - 8) * d;
            y[j + 16] = ((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void q4_0_from_float(const float *x, void *dst, int64_t n)
{
    rg_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / RG_QK4_0; i++, x += RG_QK4_0) {
        float amax = 0, max = 0;
        for (int j = 0; j < RG_QK4_0; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
        float d = max / -8, id = d ? 1.0f / d : 0.0f;
        b[i].d = F2H(d);
        for (int j = 0; j < 16; j++) {
            int a = (int)(x[j] * id + 8.5f), c = (int)(x[j + 16] * id + 8.5f);
            a = a > 15 ? 15 : a < 0 ? 0 : a;
            c = c > 15 ? 15 : c < 0 ? 0 : c;
            b[i].qs[j] = (uint8_t)(a | (c << 4));
        }
    }
}

static void q4_1_to_float(const void *src, float *y, int64_t n)
{
    const rg_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / RG_QK4_1; i++, y += RG_QK4_1) {
        float d = H2F(b[i].d), m = H2F(b[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (b[i].qs[j] & 0xF) * d + m;
            y[j + 16] = (b[i].qs[j] >> 4) * d + m;
        }
    }
}

static void q4_1_from_float(const float *x, void *dst, int64_t n)
{
    rg_block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / RG_QK4_1; i++, x += RG_QK4_1) {
        float min = x[0], max = x[0];
        for (int j = 1; j < RG_QK4_1; j++)
            min = fminf(min, x[j]), max = fmaxf(max, x[j]);
        float d = (max - min) / 15, id = d ? 1.0f / d : 0.0f;
        b[i].d = F2H(d);
        b[i].m = F2H(min);
        for (int j = 0; j < 16; j++) {
            int a = (int)((x[j] - min) * id + 0.5f), c = (int)((x[j + 16] - min) * id + 0.5f);
            a = a > 15 ? 15 : a;
            c = c > 15 ? 15 : c;
            b[i].qs[j] = (uint8_t)(a | (c << 4));
        }
    }
}

static void q5_0_to_float(const void *src, float *y, int64_t n)
{
    const rg_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / RG_QK5_0; i++, y += RG_QK5_0) {
        float d = H2F(b[i].d);
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            y[j] = (((b[i].qs[j] & 0xF) | (h0 << 4)) - 16) * d;
            y[j + 16] = (((b[i].qs[j] >> 4) | (h1 << 4)) - 16) * d;
        }
    }
}

static void q5_0_from_float(const float *x, void *dst, int64_t n)
{
    rg_block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / RG_QK5_0; i++, x += RG_QK5_0) {
        float amax = 0, max = 0;
        for (int j = 0; j < RG_QK5_0; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
        float d = max / -16, id = d ? 1.0f / d : 0.0f;
        b[i].d = F2H(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int a = (int)(x[j] * id + 16.5f), c = (int)(x[j + 16] * id + 16.5f);
            a = a > 31 ? 31 : a < 0 ? 0 : a;
            c = c > 31 ? 31 : c < 0 ? 0 : c;
            b[i].qs[j] = (uint8_t)((a & 0xF) | ((c & 0xF) << 4));
            qh |= (uint32_t)((a >> 4) & 1) << j;
            qh |= (uint32_t)((c >> 4) & 1) << (j + 16);
        }
        memcpy(b[i].qh, &qh, 4);
    }
}

static void q5_1_to_float(const void *src, float *y, int64_t n)
{
    const rg_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / RG_QK5_1; i++, y += RG_QK5_1) {
        float d = H2F(b[i].d), m = H2F(b[i].m);
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            y[j] = ((b[i].qs[j] & 0xF) | (h0 << 4)) * d + m;
            y[j + 16] = ((b[i].qs[j] >> 4) | (h1 << 4)) * d + m;
        }
    }
}

static void q5_1_from_float(const float *x, void *dst, int64_t n)
{
    rg_block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / RG_QK5_1; i++, x += RG_QK5_1) {
        float min = x[0], max = x[0];
        for (int j = 1; j < RG_QK5_1; j++)
            min = fminf(min, x[j]), max = fmaxf(max, x[j]);
        float d = (max - min) / 31, id = d ? 1.0f / d : 0.0f;
        b[i].d = F2H(d);
        b[i].m = F2H(min);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int a = (int)((x[j] - min) * id + 0.5f), c = (int)((x[j + 16] - min) * id + 0.5f);
            a = a > 31 ? 31 : a;
            c = c > 31 ? 31 : c;
            b[i].qs[j] = (uint8_t)((a & 0xF) | ((c & 0xF) << 4));
            qh |= (uint32_t)((a >> 4) & 1) << j;
            qh |= (uint32_t)((c >> 4) & 1) << (j + 16);
        }
        memcpy(b[i].qh, &qh, 4);
    }
}

static void q8_0_to_float(const void *src, float *y, int64_t n)
{
    const rg_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / RG_QK8_0; i++, y += RG_QK8_0) {
        float d = H2F(b[i].d);
        for (int j = 0; j < RG_QK8_0; j++)
            y[j] = b[i].qs[j] * d;
    }
}

void rg_quantize_row_q8_0_ref(const float *x, void *dst, int64_t n);
void rg_quantize_row_q8_0_ref(const float *x, void *dst, int64_t n)
{
    rg_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / RG_QK8_0; i++, x += RG_QK8_0) {
        float amax = 0;
        for (int j = 0; j < RG_QK8_0; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        /* id = 127/amax rather than 1/d, as llama.cpp's kernels compute it:
         * the two differ in the last bit, which moves values that sit on a
         * rounding boundary, and random-weight models amplify such flips. */
        float d = amax / 127, id = amax ? 127.f / amax : 0.0f;
        b[i].d = F2H(d);
        for (int j = 0; j < RG_QK8_0; j++)
            b[i].qs[j] = (int8_t)nearest_int(x[j] * id);
    }
}

/* ---- K-quants (256-element super-blocks) ---- */

static void q2_K_to_float(const void *src, float *y, int64_t n)
{
    const rg_block_q2_K *b = src;
    for (int64_t i = 0; i < n / RG_QK_K; i++) {
        float d = H2F(b[i].d), min = H2F(b[i].dmin);
        const uint8_t *q = b[i].qs;
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int part = 0; part < 2; part++) {
                    uint8_t sc = b[i].scales[is++];
                    float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++)
                        *y++ = dl * ((q[l + 16 * part] >> shift) & 3) - ml;
                }
            }
        }
    }
}

static void q3_K_to_float(const void *src, float *y, int64_t n)
{
    const rg_block_q3_K *b = src;
    for (int64_t i = 0; i < n / RG_QK_K; i++) {
        float d_all = H2F(b[i].d);
        int8_t scales[16];
        rg_q3_K_scales(b[i].scales, scales);
        const uint8_t *q = b[i].qs, *hm = b[i].hmask;
        uint8_t m = 1;
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
                for (int part = 0; part < 2; part++) {
                    float dl = d_all * scales[is++];
                    for (int l = 0; l < 16; l++) {
                        int k = l + 16 * part;
                        *y++ = dl * ((int)((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4));
                    }
                }
            }
        }
    }
}

static void q4_K_to_float(const void *src, float *y, int64_t n)
{
    const rg_block_q4_K *b = src;
    for (int64_t i = 0; i < n / RG_QK_K; i++) {
        float d = H2F(b[i].d), min = H2F(b[i].dmin);
        const uint8_t *q = b[i].qs;
        uint8_t sc[8], m[8];
        rg_q4_K_scales(b[i].scales, sc, m);
        for (int j = 0, is = 0; j < RG_QK_K; j += 64, is += 2, q += 32) {
            float d1 = d * sc[is], m1 = min * m[is];
            float d2 = d * sc[is + 1], m2 = min * m[is + 1];
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

static void q5_K_to_float(const void *src, float *y, int64_t n)
{
    const rg_block_q5_K *b = src;
    for (int64_t i = 0; i < n / RG_QK_K; i++) {
        float d = H2F(b[i].d), min = H2F(b[i].dmin);
        const uint8_t *ql = b[i].qs, *qh = b[i].qh;
        uint8_t u1 = 1, u2 = 2;
        uint8_t sc[8], m[8];
        rg_q4_K_scales(b[i].scales, sc, m);
        for (int j = 0, is = 0; j < RG_QK_K; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            float d1 = d * sc[is], m1 = min * m[is];
            float d2 = d * sc[is + 1], m2 = min * m[is + 1];
            for (int l = 0; l < 32; l++)
                *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

static void q6_K_to_float(const void *src, float *y, int64_t n)
{
    const rg_block_q6_K *b = src;
    for (int64_t i = 0; i < n / RG_QK_K; i++) {
        float d = H2F(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = (int)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

static void q8_K_to_float(const void *src, float *y, int64_t n)
{
    const rg_block_q8_K *b = src;
    for (int64_t i = 0; i < n / RG_QK_K; i++)
        for (int j = 0; j < RG_QK_K; j++)
            *y++ = b[i].d * b[i].qs[j];
}

void rg_quantize_row_q8_K_ref(const float *x, void *dst, int64_t n);
void rg_quantize_row_q8_K_ref(const float *x, void *dst, int64_t n)
{
    rg_block_q8_K *b = dst;
    for (int64_t i = 0; i < n / RG_QK_K; i++, x += RG_QK_K) {
        float amax = 0, max = 0;
        for (int j = 0; j < RG_QK_K; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
        if (!amax) {
            b[i].d = 0;
            memset(b[i].qs, 0, sizeof b[i].qs);
            memset(b[i].bsums, 0, sizeof b[i].bsums);
            continue;
        }
        /* -127 (not -128) over the signed extreme, as llama.cpp quantizes
         * Q8_K activations: with -128 every K-quant product drifted from its
         * logits by about 1e-2 on the tiny256 references */
        float iscale = -127.f / max;
        for (int j = 0; j < RG_QK_K; j++) {
            int v = nearest_int(iscale * x[j]);
            b[i].qs[j] = (int8_t)(v > 127 ? 127 : v);
        }
        for (int j = 0; j < RG_QK_K / 16; j++) {
            int sum = 0;
            for (int k = 0; k < 16; k++)
                sum += b[i].qs[j * 16 + k];
            b[i].bsums[j] = (int16_t)sum;
        }
        b[i].d = 1 / iscale;
    }
}

/*
 * K-quant quantizers. These are straightforward min/max fits per sub-block
 * with the sub-block scales quantized to the format's 6 or 8 bits; they write
 * valid files that every reader decodes, but search less than llama.cpp's
 * (which iterates on each sub-block's scale), so their error is somewhat
 * higher. Importance-weighted search is future work.
 */
/*
 * The part Q4_K and Q5_K share: a min/max fit of each 32-value sub-block to
 * levels 0..nmax, its scale and min quantized to 6 bits against the block's
 * largest, packed into the 12 scale bytes; then each value's level. d and
 * dmin come back as stored (half precision); L gets the 256 levels.
 */
static void fit_k_block(const float *x, int nmax, uint8_t scales[RG_K_SCALE_SIZE], uint16_t *d_out,
                        uint16_t *dmin_out, uint8_t L[RG_QK_K])
{
    float sc_f[8], mn_f[8], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float lo = x[32 * j], hi = x[32 * j];
        for (int l = 1; l < 32; l++)
            lo = fminf(lo, x[32 * j + l]), hi = fmaxf(hi, x[32 * j + l]);
        if (lo > 0) lo = 0;
        sc_f[j] = (hi - lo) / (float)nmax;
        mn_f[j] = -lo;
        max_scale = fmaxf(max_scale, sc_f[j]);
        max_min = fmaxf(max_min, mn_f[j]);
    }
    float inv_s = max_scale > 0 ? 63.f / max_scale : 0, inv_m = max_min > 0 ? 63.f / max_min : 0;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        int a = nearest_int(inv_s * sc_f[j]), c = nearest_int(inv_m * mn_f[j]);
        ls[j] = (uint8_t)(a > 63 ? 63 : a);
        lm[j] = (uint8_t)(c > 63 ? 63 : c);
    }
    memset(scales, 0, RG_K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            scales[j] = ls[j];
            scales[j + 4] = lm[j];
        } else {
            scales[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            scales[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
    *d_out = F2H(max_scale / 63);
    *dmin_out = F2H(max_min / 63);
    float d = H2F(*d_out), dmin = H2F(*dmin_out);
    uint8_t sc[8], m[8];
    rg_q4_K_scales(scales, sc, m);
    for (int j = 0; j < 8; j++) {
        float dd = d * sc[j], dm = dmin * m[j];
        for (int l = 0; l < 32; l++) {
            int v = dd ? nearest_int((x[32 * j + l] + dm) / dd) : 0;
            L[32 * j + l] = (uint8_t)(v < 0 ? 0 : v > nmax ? nmax : v);
        }
    }
}

static void q4_K_from_float(const float *x, void *dst, int64_t n)
{
    rg_block_q4_K *b = dst;
    for (int64_t i = 0; i < n / RG_QK_K; i++, x += RG_QK_K) {
        uint8_t L[RG_QK_K];
        fit_k_block(x, 15, b[i].scales, &b[i].d, &b[i].dmin, L);
        uint8_t *q = b[i].qs;
        for (int j = 0; j < RG_QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++)
                q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

static void q5_K_from_float(const float *x, void *dst, int64_t n)
{
    rg_block_q5_K *b = dst;
    for (int64_t i = 0; i < n / RG_QK_K; i++, x += RG_QK_K) {
        uint8_t L[RG_QK_K];
        fit_k_block(x, 31, b[i].scales, &b[i].d, &b[i].dmin, L);
        memset(b[i].qh, 0, sizeof b[i].qh);
        uint8_t *ql = b[i].qs;
        uint8_t m1 = 1, m2 = 2;
        for (int j = 0; j < RG_QK_K; j += 64, ql += 32, m1 <<= 2, m2 <<= 2) {
            for (int l = 0; l < 32; l++) {
                int l1 = L[j + l], l2 = L[j + l + 32];
                if (l1 > 15) l1 -= 16, b[i].qh[l] |= m1;
                if (l2 > 15) l2 -= 16, b[i].qh[l] |= m2;
                ql[l] = (uint8_t)(l1 | (l2 << 4));
            }
        }
    }
}

static void q6_K_from_float(const float *x, void *dst, int64_t n)
{
    rg_block_q6_K *b = dst;
    for (int64_t i = 0; i < n / RG_QK_K; i++, x += RG_QK_K) {
        float scales[16], max_scale = 0, max_abs = 0;
        for (int j = 0; j < 16; j++) {
            float amax = 0, mx = 0;
            for (int l = 0; l < 16; l++)
                if (fabsf(x[16 * j + l]) > amax) amax = fabsf(x[16 * j + l]), mx = x[16 * j + l];
            scales[j] = mx / -32;
            if (fabsf(scales[j]) > max_abs) max_abs = fabsf(scales[j]), max_scale = scales[j];
        }
        if (!max_abs) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        float iscale = -128.f / max_scale;
        b[i].d = F2H(1 / iscale);
        float d = H2F(b[i].d);
        uint8_t L[RG_QK_K];
        for (int j = 0; j < 16; j++) {
            int s = nearest_int(iscale * scales[j]);
            b[i].scales[j] = (int8_t)(s > 127 ? 127 : s < -128 ? -128 : s);
            float dd = d * b[i].scales[j];
            for (int l = 0; l < 16; l++) {
                int v = dd ? nearest_int(x[16 * j + l] / dd) : 0;
                v = v < -32 ? -32 : v > 31 ? 31 : v;
                L[16 * j + l] = (uint8_t)(v + 32);
            }
        }
        uint8_t *ql = b[i].ql, *qh = b[i].qh;
        for (int j = 0; j < RG_QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF,
                        q4 = L[j + l + 96] & 0xF;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                  ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

/*
 * Q2_K and Q3_K have so few levels (4 and 8 per 16-value sub-block) that
 * where the grid sits matters more than in the wider formats, so their
 * sub-block scales are searched rather than read off the extremes: grids
 * around the min/max fit are tried, the scale (and Q2_K's offset) is refitted
 * by least squares to each grid's levels, the best is refined by reassigning
 * levels, and once the sub-block scales are quantized the super-block scales
 * are refitted to the final levels. Plain squared error, no importance.
 */
enum { SUB = 16, FIT_STEPS = 5 };

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Levels of x under the grid s * q + b, q in [0, nmax]. */
static void levels_affine(const float *x, float s, float b, int nmax, uint8_t q[SUB])
{
    float is = s > 0 ? 1 / s : 0;
    for (int i = 0; i < SUB; i++)
        q[i] = (uint8_t)clampi(nearest_int((x[i] - b) * is), 0, nmax);
}

/* Least-squares s >= 0, b <= 0 for x ≈ s * q + b with the levels fixed;
 * returns the squared error. */
static float lsq_affine(const float *x, const uint8_t q[SUB], float *s_out, float *b_out)
{
    float sq = 0, sqq = 0, sx = 0, sxq = 0;
    for (int i = 0; i < SUB; i++)
        sq += q[i], sqq += q[i] * q[i], sx += x[i], sxq += x[i] * q[i];
    float det = SUB * sqq - sq * sq, s = 0, b = sx / SUB;
    if (det > 0) s = (SUB * sxq - sq * sx) / det, b = (sqq * sx - sq * sxq) / det;
    if (b > 0) b = 0, s = sqq > 0 ? sxq / sqq : 0;
    if (s < 0) s = 0, b = fminf(sx / SUB, 0);
    float err = 0;
    for (int i = 0; i < SUB; i++)
        err += (x[i] - s * q[i] - b) * (x[i] - s * q[i] - b);
    *s_out = s;
    *b_out = b;
    return err;
}

/* x ≈ s * q - m over one sub-block, q in [0, nmax], s, m >= 0. Returns s. */
static float fit_affine(const float *x, int nmax, float *m)
{
    float lo = x[0], hi = x[0];
    for (int i = 1; i < SUB; i++)
        lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]);
    if (lo > 0) lo = 0;
    *m = -lo;
    if (!(hi > lo)) return 0;
    uint8_t q[SUB];
    float best_s = 0, best_b = lo, best = INFINITY, s, b;
    for (int t = -FIT_STEPS; t <= FIT_STEPS; t++) {
        levels_affine(x, (hi - lo) / (nmax + 0.2f * t), lo, nmax, q);
        float e = lsq_affine(x, q, &s, &b);
        if (e < best) best = e, best_s = s, best_b = b;
    }
    for (int it = 0; it < 2; it++) {
        levels_affine(x, best_s, best_b, nmax, q);
        float e = lsq_affine(x, q, &s, &b);
        if (!(e < best)) break;
        best = e, best_s = s, best_b = b;
    }
    *m = -best_b;
    return best_s;
}

/* Levels of x under the grid s * q, q in [-nneg, npos]; returns sum(x q)
 * and sets *qq to sum(q q). */
static float levels_signed(const float *x, float s, int nneg, int npos, int8_t q[SUB], float *qq)
{
    float is = s ? 1 / s : 0, xq = 0;
    *qq = 0;
    for (int i = 0; i < SUB; i++) {
        q[i] = (int8_t)clampi(nearest_int(x[i] * is), -nneg, npos);
        xq += x[i] * q[i];
        *qq += q[i] * q[i];
    }
    return xq;
}

/* x ≈ s * q over one sub-block, q in [-nneg, npos]; returns s (any sign).
 * For fixed levels the best s is sum(x q) / sum(q q), and the error left is
 * sum(x x) - sum(x q)^2 / sum(q q), so the search maximizes the latter term. */
static float fit_signed(const float *x, int nneg, int npos)
{
    float amax = 0, max = 0;
    for (int i = 0; i < SUB; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), max = x[i];
    if (!amax) return 0;
    int8_t q[SUB];
    float best_s = 0, best = 0, xq, qq;
    for (int t = -FIT_STEPS; t <= FIT_STEPS; t++) {
        /* the largest value on the long side of the range, then the short */
        const float ends[2] = {-(nneg + 0.2f * t), npos + 0.2f * t};
        for (int e = 0; e < 2; e++) {
            xq = levels_signed(x, max / ends[e], nneg, npos, q, &qq);
            if (qq > 0 && xq * xq / qq > best) best = xq * xq / qq, best_s = xq / qq;
        }
    }
    for (int it = 0; it < 2; it++) {
        xq = levels_signed(x, best_s, nneg, npos, q, &qq);
        if (!(qq > 0 && xq * xq / qq > best)) break;
        best = xq * xq / qq, best_s = xq / qq;
    }
    return best_s;
}

/* Element e of a Q2_K / Q3_K block keeps its two low bits in
 * qs[32 * (e / 128) + e % 32] at bit 2 * (e % 128 / 32). */
static void pack_2bit(const uint8_t L[RG_QK_K], uint8_t qs[RG_QK_K / 4])
{
    memset(qs, 0, RG_QK_K / 4);
    for (int e = 0; e < RG_QK_K; e++)
        qs[32 * (e / 128) + e % 32] |= (uint8_t)((L[e] & 3) << (2 * (e % 128 / 32)));
}

static void q2_K_from_float(const float *x, void *dst, int64_t n)
{
    rg_block_q2_K *b = dst;
    for (int64_t i = 0; i < n / RG_QK_K; i++, x += RG_QK_K) {
        float sc[RG_QK_K / SUB], mn[RG_QK_K / SUB], max_sc = 0, max_mn = 0;
        for (int j = 0; j < RG_QK_K / SUB; j++) {
            sc[j] = fit_affine(x + SUB * j, 3, &mn[j]);
            max_sc = fmaxf(max_sc, sc[j]);
            max_mn = fmaxf(max_mn, mn[j]);
        }
        /* 4-bit sub-block scales and mins against the block's largest */
        uint8_t ls[RG_QK_K / SUB], lm[RG_QK_K / SUB], L[RG_QK_K];
        float is = max_sc > 0 ? 15 / max_sc : 0, im = max_mn > 0 ? 15 / max_mn : 0;
        for (int j = 0; j < RG_QK_K / SUB; j++) {
            ls[j] = (uint8_t)clampi(nearest_int(is * sc[j]), 0, 15);
            lm[j] = (uint8_t)clampi(nearest_int(im * mn[j]), 0, 15);
            b[i].scales[j] = (uint8_t)(ls[j] | (lm[j] << 4));
        }
        float d = H2F(F2H(max_sc / 15)), dmin = H2F(F2H(max_mn / 15));
        for (int j = 0; j < RG_QK_K / SUB; j++)
            levels_affine(x + SUB * j, d * ls[j], -dmin * lm[j], 3, L + SUB * j);
        /* x ≈ d * A - dmin * B with A = ls * level and B = lm fixed: refit
         * d and dmin by least squares, kept only if they lower the error */
        double aa = 0, ab = 0, bb = 0, xa = 0, xb = 0;
        for (int e = 0; e < RG_QK_K; e++) {
            double A = ls[e / SUB] * L[e], B = lm[e / SUB];
            aa += A * A, ab += A * B, bb += B * B, xa += x[e] * A, xb += x[e] * B;
        }
        double det = aa * bb - ab * ab;
        float d2 = d, dmin2 = dmin;
        if (det > 0) {
            d2 = H2F(F2H((float)((xa * bb - xb * ab) / det)));
            dmin2 = H2F(F2H((float)(-(xb * aa - xa * ab) / det)));
        }
        if (d2 >= 0 && dmin2 >= 0) {
            double e1 = 0, e2 = 0;
            for (int e = 0; e < RG_QK_K; e++) {
                float A = (float)(ls[e / SUB] * L[e]), B = lm[e / SUB];
                e1 += (x[e] - d * A + dmin * B) * (x[e] - d * A + dmin * B);
                e2 += (x[e] - d2 * A + dmin2 * B) * (x[e] - d2 * A + dmin2 * B);
            }
            if (e2 < e1) d = d2, dmin = dmin2;
        }
        b[i].d = F2H(d);
        b[i].dmin = F2H(dmin);
        pack_2bit(L, b[i].qs);
    }
}

static void q3_K_from_float(const float *x, void *dst, int64_t n)
{
    rg_block_q3_K *b = dst;
    for (int64_t i = 0; i < n / RG_QK_K; i++, x += RG_QK_K) {
        float sc[RG_QK_K / SUB], amax = 0, max = 0;
        for (int j = 0; j < RG_QK_K / SUB; j++) {
            sc[j] = fit_signed(x + SUB * j, 4, 3);
            if (fabsf(sc[j]) > amax) amax = fabsf(sc[j]), max = sc[j];
        }
        memset(&b[i], 0, sizeof b[i]);
        if (!amax) continue; /* d = 0: every value decodes to 0 */
        /* signed 6-bit sub-block scales, the largest at -32 */
        float iscale = -32 / max, d = H2F(F2H(max / -32));
        int8_t ls[RG_QK_K / SUB], q[SUB];
        uint8_t L[RG_QK_K];
        for (int j = 0; j < RG_QK_K / SUB; j++) {
            ls[j] = (int8_t)clampi(nearest_int(iscale * sc[j]), -32, 31);
            float qq;
            levels_signed(x + SUB * j, d * ls[j], 4, 3, q, &qq);
            for (int k = 0; k < SUB; k++)
                L[SUB * j + k] = (uint8_t)(q[k] + 4);
        }
        /* the super-block scale refitted to the final levels */
        double xa = 0, aa = 0;
        for (int e = 0; e < RG_QK_K; e++) {
            double A = ls[e / SUB] * (L[e] - 4);
            xa += x[e] * A, aa += A * A;
        }
        if (aa > 0) {
            float d2 = H2F(F2H((float)(xa / aa)));
            double e1 = 0, e2 = 0;
            for (int e = 0; e < RG_QK_K; e++) {
                float A = (float)(ls[e / SUB] * (L[e] - 4));
                e1 += (x[e] - d * A) * (x[e] - d * A), e2 += (x[e] - d2 * A) * (x[e] - d2 * A);
            }
            if (e2 < e1) d = d2;
        }
        b[i].d = F2H(d);
        for (int j = 0; j < RG_QK_K / SUB; j++) {
            uint8_t l = (uint8_t)(ls[j] + 32);
            b[i].scales[j % 8] |= (uint8_t)((l & 0xF) << (4 * (j / 8)));
            b[i].scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
        }
        pack_2bit(L, b[i].qs);
        for (int e = 0; e < RG_QK_K; e++)
            if (L[e] & 4) b[i].hmask[e % 32] |= (uint8_t)(1 << (e / 32));
    }
}

/* ---- generic dot product: expand both operands block by block ---- */

struct dot_pair {
    rg_to_float_fn x, y;
    int bs;
};

static float dot_expand(int n, const void *x, const void *y, enum rg_type tx, enum rg_type ty);

#define DOT_FN(name, TX, TY)                                                                       \
    static void name(int n, float *s, const void *x, const void *y)                                \
    {                                                                                              \
        *s = dot_expand(n, x, y, TX, TY);                                                          \
    }
DOT_FN(dot_f32, RG_TYPE_F32, RG_TYPE_F32)
DOT_FN(dot_f16, RG_TYPE_F16, RG_TYPE_F16)
DOT_FN(dot_bf16, RG_TYPE_BF16, RG_TYPE_BF16)
DOT_FN(dot_q4_0, RG_TYPE_Q4_0, RG_TYPE_Q8_0)
DOT_FN(dot_q4_1, RG_TYPE_Q4_1, RG_TYPE_Q8_0)
DOT_FN(dot_q5_0, RG_TYPE_Q5_0, RG_TYPE_Q8_0)
DOT_FN(dot_q5_1, RG_TYPE_Q5_1, RG_TYPE_Q8_0)
DOT_FN(dot_q8_0, RG_TYPE_Q8_0, RG_TYPE_Q8_0)
DOT_FN(dot_q2_K, RG_TYPE_Q2_K, RG_TYPE_Q8_K)
DOT_FN(dot_q3_K, RG_TYPE_Q3_K, RG_TYPE_Q8_K)
DOT_FN(dot_q4_K, RG_TYPE_Q4_K, RG_TYPE_Q8_K)
DOT_FN(dot_q5_K, RG_TYPE_Q5_K, RG_TYPE_Q8_K)
DOT_FN(dot_q6_K, RG_TYPE_Q6_K, RG_TYPE_Q8_K)

static struct rg_type_traits generic[RG_TYPE_COUNT];
static struct rg_type_traits best[RG_TYPE_COUNT];
static const char *isa = "generic";
static pthread_once_t once = PTHREAD_ONCE_INIT;

static float dot_expand(int n, const void *x, const void *y, enum rg_type tx, enum rg_type ty)
{
    float a[RG_QK_K], b[RG_QK_K];
    const struct rg_type_traits *X = &generic[tx], *Y = &generic[ty];
    int bs = X->block_size > Y->block_size ? X->block_size : Y->block_size;
    if (bs < 32) bs = 32;
    if (n % bs) bs = X->block_size; /* short tail rows of float types */
    double sum = 0;
    const uint8_t *px = x, *py = y;
    for (int i = 0; i < n; i += bs) {
        int len = n - i < bs ? n - i : bs;
        X->to_float(px, a, len);
        Y->to_float(py, b, len);
        px += rg_type_row_size(tx, len);
        py += rg_type_row_size(ty, len);
        float s = 0;
        for (int j = 0; j < len; j++)
            s += a[j] * b[j];
        sum += s;
    }
    return (float)sum;
}

static void set(enum rg_type t, rg_to_float_fn to, rg_from_float_fn from, rg_vec_dot_fn dot,
                enum rg_type vdt)
{
    const struct rg_type_geometry *g = &rg_type_geometry[t];
    generic[t] = (struct rg_type_traits){g->name, g->block_size, g->type_size, g->quantized, to,
                                         from,    dot,           vdt,          NULL};
}

static void init(void)
{
    for (int t = 0; t < RG_TYPE_COUNT; t++) {
        const struct rg_type_geometry *g = &rg_type_geometry[t];
        generic[t] =
            (struct rg_type_traits){g->name, g->block_size, g->type_size,    g->quantized, NULL,
                                    NULL,    NULL,          (enum rg_type)t, NULL};
    }
    set(RG_TYPE_F32, f32_to_float, f32_from_float, dot_f32, RG_TYPE_F32);
    set(RG_TYPE_F16, f16_to_float, f16_from_float, dot_f16, RG_TYPE_F16);
    set(RG_TYPE_BF16, bf16_to_float, bf16_from_float, dot_bf16, RG_TYPE_BF16);
    set(RG_TYPE_Q4_0, q4_0_to_float, q4_0_from_float, dot_q4_0, RG_TYPE_Q8_0);
    set(RG_TYPE_Q4_1, q4_1_to_float, q4_1_from_float, dot_q4_1, RG_TYPE_Q8_0);
    set(RG_TYPE_Q5_0, q5_0_to_float, q5_0_from_float, dot_q5_0, RG_TYPE_Q8_0);
    set(RG_TYPE_Q5_1, q5_1_to_float, q5_1_from_float, dot_q5_1, RG_TYPE_Q8_0);
    set(RG_TYPE_Q8_0, q8_0_to_float, rg_quantize_row_q8_0_ref, dot_q8_0, RG_TYPE_Q8_0);
    set(RG_TYPE_Q2_K, q2_K_to_float, q2_K_from_float, dot_q2_K, RG_TYPE_Q8_K);
    set(RG_TYPE_Q3_K, q3_K_to_float, q3_K_from_float, dot_q3_K, RG_TYPE_Q8_K);
    set(RG_TYPE_Q4_K, q4_K_to_float, q4_K_from_float, dot_q4_K, RG_TYPE_Q8_K);
    set(RG_TYPE_Q5_K, q5_K_to_float, q5_K_from_float, dot_q5_K, RG_TYPE_Q8_K);
    set(RG_TYPE_Q6_K, q6_K_to_float, q6_K_from_float, dot_q6_K, RG_TYPE_Q8_K);
    set(RG_TYPE_Q8_K, q8_K_to_float, rg_quantize_row_q8_K_ref, NULL, RG_TYPE_Q8_K);
    memcpy(best, generic, sizeof best);
    isa = rg_kernels_install(best);
}

void rg_quant_init(void)
{
    pthread_once(&once, init);
}

const struct rg_type_traits *rg_type_traits(enum rg_type t)
{
    rg_quant_init();
    if ((unsigned)t >= RG_TYPE_COUNT || !best[t].block_size) return NULL;
    return &best[t];
}

const struct rg_type_traits *rg_type_traits_generic(enum rg_type t)
{
    rg_quant_init();
    if ((unsigned)t >= RG_TYPE_COUNT || !generic[t].block_size) return NULL;
    return &generic[t];
}

const char *rg_quant_isa(void)
{
    rg_quant_init();
    return isa;
}
