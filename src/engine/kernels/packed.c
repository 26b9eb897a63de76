/*
 * Packed weights (see packed.h): the re-layout done at load time, the scalar
 * reference kernels, the activation format they read, and the matrix product
 * over packed weights, threaded like rg_matmul (kernels/matmul.c): each
 * thread takes a band of 8-row groups and passes every token over them.
 */
#include "engine/kernels/packed.h"

#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "engine/kernels/kernels.h"
#include "engine/quant/blocks.h"
#include "engine/quant/quant_internal.h"

/* ---- the activation format ---- */

void rg_quantize_row_q8_0s(const float *x, void *dst, int64_t n)
{
    const struct rg_type_traits *q8 = rg_type_traits(RG_TYPE_Q8_0);
    rg_block_q8_0s *out = dst;
    enum { CHUNK = 64 }; /* blocks quantized per call */
    rg_block_q8_0 b[CHUNK];
    for (int64_t i0 = 0; i0 < n / 32; i0 += CHUNK) {
        int64_t nb = RG_MIN(CHUNK, n / 32 - i0);
        q8->from_float(x + 32 * i0, b, 32 * nb);
        for (int64_t i = 0; i < nb; i++) {
            int32_t sum = 0;
            for (int j = 0; j < 32; j++)
                sum += b[i].qs[j];
            out[i0 + i].d = rg_fp16_to_fp32(b[i].d);
            out[i0 + i].sum = sum;
            memcpy(out[i0 + i].qs, b[i].qs, 32);
        }
    }
}

/* ---- scalar references ---- */

void rg_gemm8_q4_0_generic(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                           size_t ys)
{
    const rg_block_q4_0x8 *wb = w;
    for (int t = 0; t < n_tok; t++) {
        const rg_block_q8_0s *a = (const rg_block_q8_0s *)((const uint8_t *)x + (size_t)t * bx);
        float acc[RG_PACK_ROWS] = {0};
        for (int b = 0; b < nb; b++) {
            for (int r = 0; r < RG_PACK_ROWS; r++) {
                int32_t s = 0;
                for (int L = 0; L < 4; L++)
                    for (int i = 0; i < 4; i++) {
                        uint8_t q = wb[b].qs[32 * L + 4 * r + i];
                        s += (q & 15) * a[b].qs[4 * L + i] + (q >> 4) * a[b].qs[16 + 4 * L + i];
                    }
                s -= 8 * a[b].sum;
                acc[r] = fmaf(rg_fp16_to_fp32(wb[b].d[r]) * a[b].d, (float)s, acc[r]);
            }
        }
        memcpy(y + (size_t)t * ys, acc, sizeof acc);
    }
}

void rg_gemm8_q8_0_generic(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                           size_t ys)
{
    const rg_block_q8_0x8 *wb = w;
    for (int t = 0; t < n_tok; t++) {
        const rg_block_q8_0s *a = (const rg_block_q8_0s *)((const uint8_t *)x + (size_t)t * bx);
        float acc[RG_PACK_ROWS] = {0};
        for (int b = 0; b < nb; b++) {
            for (int r = 0; r < RG_PACK_ROWS; r++) {
                int32_t s = 0;
                for (int g = 0; g < 8; g++)
                    for (int i = 0; i < 4; i++)
                        s += wb[b].qs[32 * g + 4 * r + i] * a[b].qs[4 * g + i];
                acc[r] = fmaf(rg_fp16_to_fp32(wb[b].d[r]) * a[b].d, (float)s, acc[r]);
            }
        }
        memcpy(y + (size_t)t * ys, acc, sizeof acc);
    }
}

/*
 * Q4_K and Q5_K (Q5_K's packed block is Q4_K's plus qh, see packed.h): per
 * sub-block an exact integer sum times the row's 6-bit scale, per
 * super-block one FMA into acc and one into a separate sum of the mins'
 * products, subtracted at the end. qh: the block's fifth bits, NULL for Q4_K.
 */
static void gemm8_k45(const rg_block_q4_Kx8 *wb, const uint8_t *qh, size_t stride, int nb,
                      const void *x, size_t bx, int n_tok, float *y, size_t ys)
{
    for (int t = 0; t < n_tok; t++) {
        const rg_block_q8_K *a = (const rg_block_q8_K *)((const uint8_t *)x + (size_t)t * bx);
        float acc[RG_PACK_ROWS] = {0}, mins[RG_PACK_ROWS] = {0};
        for (int b = 0; b < nb; b++) {
            const rg_block_q4_Kx8 *w = (const rg_block_q4_Kx8 *)((const uint8_t *)wb + b * stride);
            const uint8_t *h = qh ? qh + b * stride : NULL;
            for (int r = 0; r < RG_PACK_ROWS; r++) {
                int32_t s = 0, m = 0;
                for (int sb = 0; sb < 8; sb++) {
                    int32_t ss = 0;
                    for (int L = 0; L < 8; L++)
                        for (int i = 0; i < 4; i++) {
                            uint8_t q = w->qs[256 * (sb / 2) + 32 * L + 4 * r + i];
                            int v = sb % 2 ? q >> 4 : q & 15;
                            if (h) v |= (h[32 * L + 4 * r + i] >> sb & 1) << 4;
                            ss += v * a[b].qs[32 * sb + 4 * L + i];
                        }
                    s += w->scales[8 * sb + r] * ss;
                    m += w->mins[16 * (sb / 2) + 2 * r + sb % 2] *
                         (a[b].bsums[2 * sb] + a[b].bsums[2 * sb + 1]);
                }
                acc[r] = fmaf(rg_fp16_to_fp32(w->d[r]) * a[b].d, (float)s, acc[r]);
                mins[r] = fmaf(rg_fp16_to_fp32(w->dmin[r]) * a[b].d, (float)m, mins[r]);
            }
        }
        for (int r = 0; r < RG_PACK_ROWS; r++)
            y[(size_t)t * ys + r] = acc[r] - mins[r];
    }
}

void rg_gemm8_q4_K_generic(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                           size_t ys)
{
    gemm8_k45(w, NULL, sizeof(rg_block_q4_Kx8), nb, x, bx, n_tok, y, ys);
}

void rg_gemm8_q5_K_generic(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                           size_t ys)
{
    const rg_block_q5_Kx8 *wb = w;
    gemm8_k45(&wb->k4, wb->qh, sizeof(rg_block_q5_Kx8), nb, x, bx, n_tok, y, ys);
}

/* Q6_K: the six-bit value at byte offset at (32 * L + 4 * r + i) of unit u
 * (see packed.h). */
static int q6_K_value(const rg_block_q6_Kx8 *w, int u, int at)
{
    const uint8_t *q = w->qs + 768 * (u / 4) + at;
    if (u % 4 < 3) return q[256 * (u % 4)] & 63;
    return q[0] >> 6 | (q[256] >> 6) << 2 | (q[512] >> 6) << 4;
}

/* Q6_K: the offset of 32 as 32 * scale * (sum of the 16 activations), in
 * the same integer sum, then one FMA per super-block. */
void rg_gemm8_q6_K_generic(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                           size_t ys)
{
    const rg_block_q6_Kx8 *wb = w;
    for (int t = 0; t < n_tok; t++) {
        const rg_block_q8_K *a = (const rg_block_q8_K *)((const uint8_t *)x + (size_t)t * bx);
        float acc[RG_PACK_ROWS] = {0};
        for (int b = 0; b < nb; b++) {
            for (int r = 0; r < RG_PACK_ROWS; r++) {
                int32_t s = 0;
                for (int u = 0; u < 8; u++)
                    for (int e = 0; e < 2; e++) {
                        int32_t ss = 0;
                        for (int L = 4 * e; L < 4 * e + 4; L++)
                            for (int i = 0; i < 4; i++)
                                ss += q6_K_value(&wb[b], u, 32 * L + 4 * r + i) *
                                      a[b].qs[32 * u + 4 * L + i];
                        const int8_t sc = wb[b].scales[16 * u + 2 * r + e];
                        s += sc * ss - 32 * sc * a[b].bsums[2 * u + e];
                    }
                acc[r] = fmaf(rg_fp16_to_fp32(wb[b].d[r]) * a[b].d, (float)s, acc[r]);
            }
        }
        memcpy(y + (size_t)t * ys, acc, sizeof acc);
    }
}

/* ---- re-layout ---- */

/* Block b of each of the 8 rows (rows[r] is row r of the group in the file's
 * layout) into one packed block at dst. */
typedef void (*pack_block_fn)(const uint8_t *const rows[RG_PACK_ROWS], int64_t b, void *dst);

/* Row r's bytes, four at a time, into the interleaved order of packed.h:
 * its group g of four goes to 32 * g + 4 * r. */
static void interleave4(uint8_t *out, const uint8_t *in, int groups, int r)
{
    for (int g = 0; g < groups; g++)
        memcpy(out + 32 * g + 4 * r, in + 4 * g, 4);
}

static void pack_q4_0(const uint8_t *const rows[RG_PACK_ROWS], int64_t b, void *dst)
{
    rg_block_q4_0x8 *out = dst;
    for (int r = 0; r < RG_PACK_ROWS; r++) {
        const rg_block_q4_0 *in = (const rg_block_q4_0 *)rows[r] + b;
        out->d[r] = in->d;
        interleave4(out->qs, in->qs, 4, r);
    }
}

static void pack_q8_0(const uint8_t *const rows[RG_PACK_ROWS], int64_t b, void *dst)
{
    rg_block_q8_0x8 *out = dst;
    for (int r = 0; r < RG_PACK_ROWS; r++) {
        const rg_block_q8_0 *in = (const rg_block_q8_0 *)rows[r] + b;
        out->d[r] = in->d;
        interleave4((uint8_t *)out->qs, (const uint8_t *)in->qs, 8, r);
    }
}

/* Row r of a Q4_K or Q5_K block into the Q4_K part of a packed one. */
static void pack_k4_row(rg_block_q4_Kx8 *out, int r, uint16_t d, uint16_t dmin,
                        const uint8_t scales[12], const uint8_t qs[128])
{
    out->d[r] = d;
    out->dmin[r] = dmin;
    uint8_t sc[8], mn[8];
    rg_q4_K_scales(scales, sc, mn);
    for (int s = 0; s < 8; s++) {
        out->scales[8 * s + r] = sc[s];
        out->mins[16 * (s / 2) + 2 * r + s % 2] = mn[s];
    }
    interleave4(out->qs, qs, 32, r); /* byte 256 j + 32 L + 4 r + i, as packed.h says */
}

static void pack_q4_K(const uint8_t *const rows[RG_PACK_ROWS], int64_t b, void *dst)
{
    for (int r = 0; r < RG_PACK_ROWS; r++) {
        const rg_block_q4_K *in = (const rg_block_q4_K *)rows[r] + b;
        pack_k4_row(dst, r, in->d, in->dmin, in->scales, in->qs);
    }
}

static void pack_q5_K(const uint8_t *const rows[RG_PACK_ROWS], int64_t b, void *dst)
{
    rg_block_q5_Kx8 *out = dst;
    for (int r = 0; r < RG_PACK_ROWS; r++) {
        const rg_block_q5_K *in = (const rg_block_q5_K *)rows[r] + b;
        pack_k4_row(&out->k4, r, in->d, in->dmin, in->scales, in->qs);
        interleave4(out->qh, in->qh, 8, r); /* byte 32 L + 4 r + i, as packed.h says */
    }
}

static void pack_q6_K(const uint8_t *const rows[RG_PACK_ROWS], int64_t b, void *dst)
{
    rg_block_q6_Kx8 *out = dst;
    for (int r = 0; r < RG_PACK_ROWS; r++) {
        const rg_block_q6_K *in = (const rg_block_q6_K *)rows[r] + b;
        /* the file's order: per half of 128, ql's low nibbles are elements
         * 0..63, its high nibbles 64..127, qh's bit pairs the four quarters */
        uint8_t q[RG_QK_K];
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = in->ql + 64 * h, *qh = in->qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                q[128 * h + l] = (uint8_t)((ql[l] & 15) | (qh[l] & 3) << 4);
                q[128 * h + 32 + l] = (uint8_t)((ql[32 + l] & 15) | (qh[l] >> 2 & 3) << 4);
                q[128 * h + 64 + l] = (uint8_t)((ql[l] >> 4) | (qh[l] >> 4 & 3) << 4);
                q[128 * h + 96 + l] = (uint8_t)((ql[32 + l] >> 4) | (qh[l] >> 6) << 4);
            }
        }
        out->d[r] = in->d;
        for (int u = 0; u < 8; u++)
            for (int e = 0; e < 2; e++)
                out->scales[16 * u + 2 * r + e] = in->scales[2 * u + e];
        for (int c = 0; c < 2; c++)
            for (int L = 0; L < 8; L++)
                for (int i = 0; i < 4; i++) {
                    const uint8_t *v = q + 128 * c + 4 * L + i; /* v[32 * j]: unit 4c + j */
                    for (int j = 0; j < 3; j++)
                        out->qs[768 * c + 256 * j + 32 * L + 4 * r + i] =
                            (uint8_t)(v[32 * j] | (v[96] >> (2 * j) & 3) << 6);
                }
    }
}

/* The K-quants' activations: Q8_K as every K-quant dot product reads it. */
static void quantize_q8_K(const float *x, void *dst, int64_t n)
{
    rg_type_traits(RG_TYPE_Q8_K)->from_float(x, dst, n);
}

/* What each packable weight type needs: its packed block, the activation
 * format its kernel reads, and how to make both. */
struct pack_format {
    enum rg_type wt;
    int block;          /* elements per block */
    size_t group_block; /* bytes of one packed block (8 rows) */
    size_t act_block;   /* bytes of one activation block */
    rg_from_float_fn quantize;
    pack_block_fn pack;
};

static const struct pack_format FORMATS[] = {
    {RG_TYPE_Q4_0, 32, sizeof(rg_block_q4_0x8), sizeof(rg_block_q8_0s), rg_quantize_row_q8_0s,
     pack_q4_0},
    {RG_TYPE_Q8_0, 32, sizeof(rg_block_q8_0x8), sizeof(rg_block_q8_0s), rg_quantize_row_q8_0s,
     pack_q8_0},
    {RG_TYPE_Q4_K, RG_QK_K, sizeof(rg_block_q4_Kx8), sizeof(rg_block_q8_K), quantize_q8_K,
     pack_q4_K},
    {RG_TYPE_Q5_K, RG_QK_K, sizeof(rg_block_q5_Kx8), sizeof(rg_block_q8_K), quantize_q8_K,
     pack_q5_K},
    {RG_TYPE_Q6_K, RG_QK_K, sizeof(rg_block_q6_Kx8), sizeof(rg_block_q8_K), quantize_q8_K,
     pack_q6_K},
};

static const struct pack_format *format_of(enum rg_type wt, int64_t n_rows, int64_t k)
{
    for (size_t i = 0; i < sizeof FORMATS / sizeof FORMATS[0]; i++) {
        const struct pack_format *f = &FORMATS[i];
        if (f->wt != wt) continue;
        if (!rg_gemm8_kernel(wt) || n_rows <= 0 || n_rows % RG_PACK_ROWS || k <= 0 ||
            k % f->block || k > INT32_MAX)
            return NULL;
        return f;
    }
    return NULL;
}

size_t rg_pack_size(enum rg_type wt, int64_t n_rows, int64_t k)
{
    const struct pack_format *f = format_of(wt, n_rows, k);
    size_t out;
    if (!f || !rg_mul_size((size_t)(n_rows / RG_PACK_ROWS) * (size_t)(k / f->block), f->group_block,
                           &out))
        return 0;
    return out;
}

int rg_pack(enum rg_type wt, const void *w, int64_t n_rows, int64_t k, void *dst)
{
    const struct pack_format *f = format_of(wt, n_rows, k);
    if (!f || !rg_pack_size(wt, n_rows, k)) return RG_EINVAL;
    int64_t nb = k / f->block;
    size_t row = rg_type_row_size(wt, k);
    uint8_t *out = dst;
    /* The packers read block fields (half-float scales) as typed loads. A
     * file with general.alignment = 1 may put the matrix at any byte: then
     * each block of the 8 rows goes through an aligned copy first (load time
     * only; every row size is even, so an aligned start is enough). */
    bool aligned = (uintptr_t)w % 4 == 0;
    size_t bsize = row / (size_t)nb;
    _Alignas(16) uint8_t tmp[RG_PACK_ROWS][256];
    if (!aligned && bsize > sizeof tmp[0]) return RG_EINVAL;
    for (int64_t g = 0; g < n_rows / RG_PACK_ROWS; g++) {
        const uint8_t *rows[RG_PACK_ROWS], *copies[RG_PACK_ROWS];
        for (int r = 0; r < RG_PACK_ROWS; r++) {
            rows[r] = (const uint8_t *)w + (size_t)(g * RG_PACK_ROWS + r) * row;
            copies[r] = tmp[r];
        }
        for (int64_t b = 0; b < nb; b++, out += f->group_block) {
            if (aligned) {
                f->pack(rows, b, out);
                continue;
            }
            for (int r = 0; r < RG_PACK_ROWS; r++)
                memcpy(tmp[r], rows[r] + (size_t)b * bsize, bsize);
            f->pack(copies, 0, out);
        }
    }
    return RG_OK;
}

/* ---- the product ---- */

struct pmm {
    const struct pack_format *f;
    rg_gemm8_fn kernel;
    const uint8_t *w;
    size_t group; /* bytes of one 8-row group: nb blocks */
    int64_t n_rows, k, nb, n_tok;
    const float *x;
    uint8_t *xq; /* [n_tok][nb] activation blocks */
    size_t bx;   /* bytes of one token's activations */
    float *y;
};

static void quantize_part(void *ctx, int ith, int nth)
{
    struct pmm *m = ctx;
    for (int64_t t = ith; t < m->n_tok; t += nth)
        m->f->quantize(m->x + t * m->k, m->xq + (size_t)t * m->bx, m->k);
}

static void pmm_part(void *ctx, int ith, int nth)
{
    struct pmm *m = ctx;
    int64_t groups = m->n_rows / RG_PACK_ROWS;
    int64_t g0 = groups * ith / nth, g1 = groups * (ith + 1) / nth;
    /* CHUNK groups (64 rows) stay in cache while every token passes over them,
     * RG_PACK_TOKENS at a time; those tokens' activations stay in L1 */
    enum { CHUNK = 8 };
    for (int64_t c = g0; c < g1; c += CHUNK) {
        int64_t ce = c + CHUNK < g1 ? c + CHUNK : g1;
        for (int64_t t = 0; t < m->n_tok; t += RG_PACK_TOKENS) {
            int nt = (int)(m->n_tok - t < RG_PACK_TOKENS ? m->n_tok - t : RG_PACK_TOKENS);
            for (int64_t g = c; g < ce; g++)
                m->kernel((int)m->nb, m->w + (size_t)g * m->group, m->xq + (size_t)t * m->bx, m->bx,
                          nt, m->y + t * m->n_rows + g * RG_PACK_ROWS, (size_t)m->n_rows);
        }
    }
}

int rg_matmul_packed(struct rg_pool *p, enum rg_type wt, const void *packed, int64_t n_rows,
                     int64_t k, const float *x, int64_t n_tok, float *y)
{
    const struct pack_format *f = format_of(wt, n_rows, k);
    if (!f || !rg_pack_size(wt, n_rows, k) || n_tok <= 0) return RG_EINVAL;
    int64_t nb = k / f->block;
    struct pmm m = {f,
                    rg_gemm8_kernel(wt),
                    packed,
                    f->group_block * (size_t)nb,
                    n_rows,
                    k,
                    nb,
                    n_tok,
                    x,
                    NULL,
                    f->act_block * (size_t)nb,
                    y};
    size_t bytes;
    if (!rg_mul_size(m.bx, (size_t)n_tok, &bytes)) return RG_EINVAL;
    m.xq = rg_aligned_alloc(64, bytes);
    if (!m.xq) return RG_ENOMEM;
    rg_pool_run(n_tok > 1 ? p : NULL, quantize_part, &m);
    rg_pool_run(p, pmm_part, &m);
    rg_free(m.xq);
    return RG_OK;
}
