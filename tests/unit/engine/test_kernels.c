/*
 * The kernels this CPU uses against the portable scalar reference, for every
 * weight type: dequantize(quantize(x)) stays close to x, and each dot product
 * and matmul (threads on, odd shapes) agrees with the reference within float
 * rounding of the summation order.
 */
#include "test.h"

#include <math.h>
#include <stddef.h>

#include "common/alloc.h"
#include "common/cpu.h"
#include "common/err.h"
#include "engine/kernels/kernels.h"
#include "engine/kernels/packed.h"
#include "engine/quant/blocks.h"
#include "engine/quant/quant.h"

static float frand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*s >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
}

static const enum rg_type TYPES[] = {RG_TYPE_F32,  RG_TYPE_F16,  RG_TYPE_BF16, RG_TYPE_Q4_0,
                                     RG_TYPE_Q4_1, RG_TYPE_Q5_0, RG_TYPE_Q5_1, RG_TYPE_Q8_0,
                                     RG_TYPE_Q2_K, RG_TYPE_Q3_K, RG_TYPE_Q4_K, RG_TYPE_Q5_K,
                                     RG_TYPE_Q6_K};

/* Relative RMS round-trip error allowed on uniform [-1, 1) data: 4-bit
 * formats lose about 1/15 of the range per step; Q3_K's 8 and Q2_K's 4
 * levels per 16 values lose far more (measured 0.12 and 0.23). */
static double round_trip_bound(enum rg_type t)
{
    switch (t) {
    case RG_TYPE_F32:
    case RG_TYPE_F16:
    case RG_TYPE_BF16: return 0.01;
    case RG_TYPE_Q2_K: return 0.25;
    case RG_TYPE_Q3_K: return 0.14;
    default: return 0.12;
    }
}

static void test_round_trip_error(void **state)
{
    (void)state;
    const int n = 1024;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    uint8_t *q = malloc(8 * n);
    uint64_t seed = 1;
    for (int i = 0; i < n; i++)
        x[i] = frand(&seed);
    for (size_t k = 0; k < sizeof TYPES / sizeof TYPES[0]; k++) {
        const struct rg_type_traits *t = rg_type_traits_generic(TYPES[k]);
        assert_non_null(t->from_float);
        t->from_float(x, q, n);
        t->to_float(q, y, n);
        double err = 0, ref = 0;
        for (int i = 0; i < n; i++)
            err += (x[i] - y[i]) * (x[i] - y[i]), ref += x[i] * x[i];
        double rel = sqrt(err / ref);
        double bound = round_trip_bound(TYPES[k]);
        if (rel > bound) fail_msg("%s: relative RMS error %g", t->name, rel);
    }
    free(x);
    free(y);
    free(q);
}

static void check_dot(const struct rg_type_traits *g, const struct rg_type_traits *b, int len,
                      const void *qx, const void *qa)
{
    float s_ref, s_fast;
    g->vec_dot(len, &s_ref, qx, qa);
    b->vec_dot(len, &s_fast, qx, qa);
    float tol = 1e-4f * (1.0f + fabsf(s_ref)) * sqrtf((float)len);
    if (fabsf(s_ref - s_fast) > tol)
        fail_msg("%s n=%d: reference %g, fast %g", g->name, len, s_ref, s_fast);
}

static void test_dots_match_reference(void **state)
{
    (void)state;
    const int n = 4096;
    float *x = malloc(n * sizeof *x), *a = malloc(n * sizeof *a);
    uint8_t *qx = malloc(8 * n), *qa = malloc(8 * n);
    uint64_t seed = 7;
    for (int i = 0; i < n; i++)
        x[i] = frand(&seed), a[i] = frand(&seed);
    fprintf(stderr, "kernels: %s\n", rg_quant_isa());
    for (size_t k = 0; k < sizeof TYPES / sizeof TYPES[0]; k++) {
        const struct rg_type_traits *g = rg_type_traits_generic(TYPES[k]),
                                    *b = rg_type_traits(TYPES[k]);
        const struct rg_type_traits *va = rg_type_traits_generic(g->vec_dot_type);
        g->from_float(x, qx, n);
        va->from_float(a, qa, n);
        for (int len = g->block_size < 32 ? 32 : g->block_size; len <= n; len *= 4) {
            check_dot(g, b, len, qx, qa);
            if (g->block_size == 1) check_dot(g, b, len - 3, qx, qa); /* a scalar tail */
        }
    }
    free(x);
    free(a);
    free(qx);
    free(qa);
}

static void test_matmul_threads(void **state)
{
    (void)state;
    const int64_t k = 512, rows = 37, toks = 5;
    float *w = malloc(k * rows * sizeof *w), *x = malloc(k * toks * sizeof *x);
    float *y1 = malloc(rows * toks * sizeof *y1), *y2 = malloc(rows * toks * sizeof *y2);
    uint8_t *qw = malloc(8 * k * rows);
    uint64_t seed = 3;
    for (int64_t i = 0; i < k * rows; i++)
        w[i] = frand(&seed);
    for (int64_t i = 0; i < k * toks; i++)
        x[i] = frand(&seed);
    struct rg_pool *p;
    assert_int_equal(rg_pool_create(3, &p), RG_OK);
    for (size_t t = 0; t < sizeof TYPES / sizeof TYPES[0]; t++) {
        const struct rg_type_traits *tr = rg_type_traits(TYPES[t]);
        size_t row = rg_type_row_size(TYPES[t], k);
        for (int64_t r = 0; r < rows; r++)
            tr->from_float(w + r * k, qw + r * row, k);
        assert_int_equal(rg_matmul(NULL, TYPES[t], qw, rows, k, x, toks, y1), RG_OK);
        assert_int_equal(rg_matmul(p, TYPES[t], qw, rows, k, x, toks, y2), RG_OK);
        assert_memory_equal(y1, y2, rows * toks * sizeof *y1); /* threads never change results */
        /* and each entry is the dot product of a dequantized row with x */
        float deq[512];
        rg_get_row(TYPES[t], qw, k, 36, deq);
        double s = 0;
        for (int64_t i = 0; i < k; i++)
            s += deq[i] * x[4 * k + i];
        if (fabs(s - y1[4 * rows + 36]) > 0.05 * (1 + fabs(s)))
            fail_msg("%s: %g vs %g", tr->name, s, y1[4 * rows + 36]);
    }
    assert_int_equal(rg_matmul(p, RG_TYPE_Q4_0, qw, rows, 33, x, toks, y1),
                     RG_EINVAL); /* k not a block multiple */
    assert_int_equal(rg_matmul(p, RG_TYPE_I32, qw, rows, k, x, toks, y1), RG_EINVAL);
    rg_pool_free(p);
    free(w);
    free(x);
    free(y1);
    free(y2);
    free(qw);
}

/* What a packable type's kernel reads: its activation format and its
 * scalar reference. */
static void quantize_q8_K(const float *x, void *dst, int64_t n)
{
    rg_type_traits(RG_TYPE_Q8_K)->from_float(x, dst, n);
}

static const struct packable {
    enum rg_type wt;
    int block;        /* elements per weight block */
    size_t act_block; /* bytes of one activation block */
    rg_from_float_fn quantize;
    rg_gemm8_fn ref;
} PACKABLE[] = {
    {RG_TYPE_Q4_0, 32, sizeof(rg_block_q8_0s), rg_quantize_row_q8_0s, rg_gemm8_q4_0_generic},
    {RG_TYPE_Q8_0, 32, sizeof(rg_block_q8_0s), rg_quantize_row_q8_0s, rg_gemm8_q8_0_generic},
    {RG_TYPE_Q4_K, 256, sizeof(rg_block_q8_K), quantize_q8_K, rg_gemm8_q4_K_generic},
    {RG_TYPE_Q5_K, 256, sizeof(rg_block_q8_K), quantize_q8_K, rg_gemm8_q5_K_generic},
    {RG_TYPE_Q6_K, 256, sizeof(rg_block_q8_K), quantize_q8_K, rg_gemm8_q6_K_generic},
};

/*
 * Packed weights: for each packable type, with 1..9 tokens (every tail of
 * the 4-token kernel), on 1 and 3 threads: the packed product equals the
 * scalar packed reference exactly (integer block sums, then the same float
 * operations in the same order), and is close to rg_matmul on the file's
 * layout. Shapes that do not pack are refused.
 */
static void test_packed_matmul(void **state)
{
    (void)state;
    const int64_t k = 512, rows = 24, max_tok = 9;
    float *w = malloc(k * rows * sizeof *w), *x = malloc(k * max_tok * sizeof *x);
    float *y1 = malloc(rows * max_tok * sizeof *y1), *y2 = malloc(rows * max_tok * sizeof *y2),
          *y3 = malloc(rows * max_tok * sizeof *y3);
    uint8_t *qw = malloc(2 * k * rows);
    uint64_t seed = 11;
    /* per 16 elements a different spread and offset: the sub-block scales and
     * mins of the K-quants then differ from each other and from row to row */
    for (int64_t i = 0; i < k * rows; i++) {
        int64_t g = i / 16;
        w[i] = frand(&seed) * (float)(1 + g % 5) + 0.5f * (float)(g % 3 - 1);
    }
    for (int64_t i = 0; i < k * max_tok; i++)
        x[i] = frand(&seed) * (i % 7 == 0 ? 8 : 1); /* uneven magnitudes: real scales */
    struct rg_pool *p;
    assert_int_equal(rg_pool_create(3, &p), RG_OK);
    for (size_t t = 0; t < sizeof PACKABLE / sizeof PACKABLE[0]; t++) {
        const struct packable *pk = &PACKABLE[t];
        enum rg_type wt = pk->wt;
        const char *name = rg_type_traits(wt)->name;
        size_t need = rg_pack_size(wt, rows, k);
        if (!rg_gemm8_kernel(wt)) {
            assert_int_equal(need, 0); /* no packed kernel: nothing is packed */
            print_message("# %s: no packed kernel on this CPU\n", name);
            continue;
        }
        assert_true(need > 0);
        size_t row = rg_type_row_size(wt, k);
        for (int64_t r = 0; r < rows; r++)
            rg_type_traits(wt)->from_float(w + r * k, qw + r * row, k);
        uint8_t *pw = malloc(need);
        assert_int_equal(rg_pack(wt, qw, rows, k, pw), RG_OK);
        const int nb = (int)(k / pk->block);
        const size_t bx = (size_t)nb * pk->act_block, group = rg_pack_size(wt, 8, k);
        uint8_t *xq = malloc(max_tok * bx);
        for (int64_t n = 1; n <= max_tok; n++) {
            assert_int_equal(rg_matmul_packed(NULL, wt, pw, rows, k, x, n, y1), RG_OK);
            assert_int_equal(rg_matmul_packed(p, wt, pw, rows, k, x, n, y2), RG_OK);
            assert_memory_equal(y1, y2, rows * n * sizeof *y1);
            for (int64_t j = 0; j < n; j++)
                pk->quantize(x + j * k, xq + j * bx, k);
            float yr[8 * 9];
            for (int64_t g = 0; g < rows / 8; g++) {
                pk->ref(nb, pw + g * group, xq, bx, (int)n, yr, 8);
                for (int64_t j = 0; j < n; j++)
                    for (int r = 0; r < 8; r++)
                        if (yr[j * 8 + r] != y1[j * rows + g * 8 + r])
                            fail_msg("%s n=%lld: row %lld token %lld: %.9g vs reference %.9g", name,
                                     (long long)n, (long long)(g * 8 + r), (long long)j,
                                     y1[j * rows + g * 8 + r], yr[j * 8 + r]);
            }
            assert_int_equal(rg_matmul(NULL, wt, qw, rows, k, x, n, y3), RG_OK);
            for (int64_t i = 0; i < rows * n; i++)
                if (fabsf(y1[i] - y3[i]) > 1e-4f * (1 + fabsf(y3[i])))
                    fail_msg("%s: packed %g vs unpacked %g at %lld", name, y1[i], y3[i],
                             (long long)i);
        }
        assert_int_equal(rg_pack_size(wt, 20, k), 0); /* rows not a multiple of 8 */
        assert_int_equal(rg_pack_size(wt, rows, pk->block + pk->block / 2), 0);
        assert_int_equal(rg_matmul_packed(p, wt, pw, 20, k, x, 1, y1), RG_EINVAL);
        free(xq);
        free(pw);
    }
    assert_int_equal(rg_pack_size(RG_TYPE_Q3_K, rows, k), 0); /* no packed form */
    rg_pool_free(p);
    free(w);
    free(x);
    free(y1);
    free(y2);
    free(y3);
    free(qw);
}

/*
 * The int16 bounds the K-quant kernels rely on, at their limits: every quant
 * and sub-block scale at its largest magnitude, activations at -128 and 127
 * (Q8_K maps a block's largest magnitude to -128), unit block scales so the
 * exact result is an integer. The kernel must equal the reference and the
 * exact sum of the dequantized products.
 */
/* Variant 1: every quant at its top; variant 0: the top next to the bottom. */
static void fill_extreme(enum rg_type wt, uint8_t *row, int64_t k, int variant)
{
    for (int64_t b = 0; b < k / 256; b++) {
        if (wt == RG_TYPE_Q4_K) {
            rg_block_q4_K *q = (rg_block_q4_K *)row + b;
            q->d = q->dmin = rg_fp32_to_fp16(1.0f);
            memset(q->scales, 0xFF, sizeof q->scales); /* every scale and min 63 */
            memset(q->qs, 0xFF, sizeof q->qs);         /* every nibble 15 */
            if (!variant) memset(q->qs, 0x0F, 16);
        } else if (wt == RG_TYPE_Q5_K) {
            rg_block_q5_K *q = (rg_block_q5_K *)row + b;
            q->d = q->dmin = rg_fp32_to_fp16(1.0f);
            memset(q->scales, 0xFF, sizeof q->scales); /* every scale and min 63 */
            memset(q->qs, 0xFF, sizeof q->qs);         /* with every fifth bit, every value 31 */
            memset(q->qh, 0xFF, sizeof q->qh);
            /* variant 0: elements 0..15 of sub-block 0 at 31, of sub-block 1 at 0
             * (of sub-blocks 3, 5, 7 at 15: their fifth bits cleared) */
            if (!variant) {
                memset(q->qs, 0x0F, 16);
                memset(q->qh, 0x55, 16);
            }
        } else {
            rg_block_q6_K *q = (rg_block_q6_K *)row + b;
            q->d = rg_fp32_to_fp16(1.0f);
            /* every value 63, or every value 0 (-32 after the offset) */
            memset(q->ql, variant ? 0xFF : 0x00, sizeof q->ql);
            memset(q->qh, variant ? 0xFF : 0x00, sizeof q->qh);
            for (int g = 0; g < 16; g++)
                q->scales[g] = (int8_t)(variant || g % 2 ? -128 : 127);
        }
    }
}

static void test_packed_extremes(void **state)
{
    (void)state;
    const int64_t k = 512;
    const enum rg_type types[] = {RG_TYPE_Q4_K, RG_TYPE_Q5_K, RG_TYPE_Q6_K};
    const rg_gemm8_fn refs[] = {rg_gemm8_q4_K_generic, rg_gemm8_q5_K_generic,
                                rg_gemm8_q6_K_generic};
    uint8_t *rows = malloc(8 * 2 * k);
    rg_block_q8_K *xq = malloc(RG_PACK_TOKENS * (k / 256) * sizeof *xq);
    float *deq = malloc(k * sizeof *deq);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        enum rg_type wt = types[ti];
        rg_gemm8_fn kern = rg_gemm8_kernel(wt);
        if (!kern) continue;
        const rg_gemm8_fn ref = refs[ti];
        size_t row = rg_type_row_size(wt, k), need = rg_pack_size(wt, 8, k);
        uint8_t *pw = malloc(need);
        for (int variant = 0; variant < 2; variant++) {
            for (int r = 0; r < 8; r++)
                fill_extreme(wt, rows + r * row, k, variant);
            assert_int_equal(rg_pack(wt, rows, 8, k, pw), RG_OK);
            /* token 0 all -128, 1 all 127, 2 alternating, 3 -128 but one 127 per 16 */
            for (int t = 0; t < RG_PACK_TOKENS; t++)
                for (int64_t b = 0; b < k / 256; b++) {
                    rg_block_q8_K *a = xq + t * (k / 256) + b;
                    a->d = 1.0f;
                    for (int e = 0; e < 256; e++)
                        a->qs[e] = (int8_t)(t == 0   ? -128
                                            : t == 1 ? 127
                                            : t == 2 ? (e % 2 ? 127 : -128)
                                                     : (e % 16 ? -128 : 127));
                    for (int g = 0; g < 16; g++) {
                        int sum = 0;
                        for (int e = 0; e < 16; e++)
                            sum += a->qs[16 * g + e];
                        a->bsums[g] = (int16_t)sum;
                    }
                }
            const size_t bx = (k / 256) * sizeof *xq;
            for (int n = 1; n <= RG_PACK_TOKENS; n++) {
                float yk[8 * RG_PACK_TOKENS], yr[8 * RG_PACK_TOKENS];
                kern((int)(k / 256), pw, xq, bx, n, yk, 8);
                ref((int)(k / 256), pw, xq, bx, n, yr, 8);
                assert_memory_equal(yk, yr, 8 * (size_t)n * sizeof *yk);
                for (int r = 0; r < 8; r++) {
                    rg_type_traits_generic(wt)->to_float(rows + r * row, deq, k);
                    for (int t = 0; t < n; t++) {
                        double s = 0;
                        for (int64_t e = 0; e < k; e++)
                            s += (double)deq[e] * xq[t * (k / 256) + e / 256].qs[e % 256];
                        if (fabs(s - yk[t * 8 + r]) > 1e-6 * fabs(s))
                            fail_msg("%s variant %d n=%d row %d token %d: %.9g, exact %.9g",
                                     rg_type_traits(wt)->name, variant, n, r, t, yk[t * 8 + r], s);
                    }
                }
            }
        }
        free(pw);
    }
    free(rows);
    free(xq);
    free(deq);
}

/*
 * The activation quantizers this CPU uses give the reference's bytes
 * exactly (the kernels' results depend on every one of them): random rows,
 * values on rounding ties (x * 127 / amax = k + 0.5), an all-zero block, and
 * a block whose largest magnitude appears twice with both signs.
 */
static void test_activation_quantizers_exact(void **state)
{
    (void)state;
    const enum rg_type act[] = {RG_TYPE_Q8_0, RG_TYPE_Q8_K};
    const int64_t n = 1024;
    float x[1024];
    uint64_t seed = 5;
    for (int64_t i = 0; i < n; i++)
        x[i] = frand(&seed) * (i % 5 == 0 ? 30 : 1);
    for (int64_t i = 256; i < 288; i++) /* amax 127 => scale 1: exact ties */
        x[i] = (float)(i - 272) + 0.5f;
    x[256] = 127;
    for (int64_t i = 512; i < 768; i++) /* a zero block (of either size) */
        x[i] = 0;
    x[800] = -9, x[801] = 9; /* first of equal magnitudes picks the sign */
    for (size_t t = 0; t < 2; t++) {
        const struct rg_type_traits *b = rg_type_traits(act[t]),
                                    *g = rg_type_traits_generic(act[t]);
        size_t row = rg_type_row_size(act[t], n);
        uint8_t *qb = malloc(row), *qg = malloc(row);
        memset(qb, 0xAA, row);
        memset(qg, 0x55, row);
        b->from_float(x, qb, n);
        g->from_float(x, qg, n);
        for (size_t i = 0; i < row; i++)
            if (qb[i] != qg[i])
                fail_msg("%s: byte %zu: %d vs reference %d", b->name, i, qb[i], qg[i]);
        free(qb);
        free(qg);
    }
}

/*
 * The attention helpers give, bit for bit, what the one-head loops of
 * rg_dotf_f32 and rg_axpy_f32 give, for the head sizes of real models (and
 * odd ones that take the portable path), several heads at once, a window
 * that starts past 0, and more positions than one block.
 */
static void test_attention_helpers_exact(void **state)
{
    (void)state;
    rg_vec_init();
    const int sizes[] = {8, 16, 48, 64, 80, 128, 256};
    enum { PER = 3, N = 150, P0 = 7 };
    const size_t stride = 300, ld = N + 5;
    float *kv = malloc((size_t)N * stride * sizeof *kv), *q = malloc(PER * 256 * sizeof *q);
    float *kh = malloc((size_t)N * stride * sizeof *kh);
    uint16_t *h = malloc((size_t)N * stride * sizeof *h);
    float *s1 = malloc(PER * ld * sizeof *s1), *s2 = malloc(PER * ld * sizeof *s2);
    float *o1 = malloc(PER * 256 * sizeof *o1), *o2 = malloc(PER * 256 * sizeof *o2);
    uint64_t seed = 9;
    for (size_t i = 0; i < (size_t)N * stride; i++)
        kv[i] = frand(&seed);
    for (int i = 0; i < PER * 256; i++)
        q[i] = frand(&seed);
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        int hd = sizes[z];
        memset(s1, 0, PER * ld * sizeof *s1);
        memset(s2, 0, PER * ld * sizeof *s2);
        rg_attn_scores(hd, PER, q, kv, stride, P0, N, 0.125f, s1, ld);
        for (int g = 0; g < PER; g++)
            for (int p = P0; p < N; p++)
                s2[g * ld + p] = rg_dotf_f32(hd, q + g * hd, kv + p * stride) * 0.125f;
        assert_memory_equal(s1, s2, PER * ld * sizeof *s1);
        for (int i = 0; i < PER * hd; i++)
            o1[i] = o2[i] = frand(&seed);
        rg_attn_values(hd, PER, s1, ld, kv, stride, P0, N, o1);
        for (int p = P0; p < N; p++)
            for (int g = 0; g < PER; g++)
                rg_axpy_f32(hd, s1[g * ld + p], kv + p * stride, o2 + g * hd);
        if (memcmp(o1, o2, PER * hd * sizeof *o1) != 0) fail_msg("values differ for hd %d", hd);
        /* a cache of half floats: what the float cache gives on the same values */
        for (size_t i = 0; i < (size_t)N * stride; i++) {
            h[i] = rg_fp32_to_fp16(kv[i]);
            kh[i] = rg_fp16_to_fp32(h[i]);
        }
        rg_attn_scores_f16(hd, PER, q, h, stride, P0, N, 0.125f, s2, ld);
        rg_attn_scores(hd, PER, q, kh, stride, P0, N, 0.125f, s1, ld);
        if (memcmp(s1, s2, PER * ld * sizeof *s1) != 0) fail_msg("f16 scores differ, hd %d", hd);
        for (int i = 0; i < PER * hd; i++)
            o1[i] = o2[i];
        rg_attn_values_f16(hd, PER, s1, ld, h, stride, P0, N, o1);
        rg_attn_values(hd, PER, s1, ld, kh, stride, P0, N, o2);
        if (memcmp(o1, o2, PER * hd * sizeof *o1) != 0) fail_msg("f16 values differ, hd %d", hd);
    }
    free(h);
    free(kh);
    free(kv);
    free(q);
    free(s1);
    free(s2);
    free(o1);
    free(o2);
}

/*
 * Both NEON paths, whatever RG_ISA chose: each plain-NEON kernel and (where
 * the CPU has SDOT; qemu -cpu max does) each dotprod kernel against the
 * scalar reference, on random blocks and on extreme ones: every weight byte
 * and scale byte 0x00, 0xFF, 0x80 or 0x7F (each format's largest and
 * smallest quants, scales and mins, -128 and 127 for the int8 ones; half
 * scales set to 1) against activations all -128, all
 * 127, or alternating, with unit activation scales: the exact result is an
 * integer (up to 2^28 here), which both paths must give within the float
 * rounding of the per-block scaling (1e-6 relative). On another CPU: SKIP.
 */
#if defined(__aarch64__)
#define NEON_TYPES(X)                                                                              \
    X(F32, f32)                                                                                    \
    X(F16, f16) X(BF16, bf16) X(Q8_0, q8_0) X(Q4_0, q4_0) X(Q4_1, q4_1) X(Q5_0, q5_0)              \
        X(Q5_1, q5_1) X(Q2_K, q2_K) X(Q3_K, q3_K) X(Q4_K, q4_K) X(Q5_K, q5_K) X(Q6_K, q6_K)
#define DECLARE(T, t)                                                                              \
    void rg_dot_##t##_neon(int n, float *s, const void *x, const void *y);                         \
    void rg_dot_##t##_neon_dotprod(int n, float *s, const void *x, const void *y);
NEON_TYPES(DECLARE)
#undef DECLARE
void rg_dot4_q8_0_neon(int n, float *s, const void *x, const void *y, size_t by);
void rg_dot4_q8_0_neon_dotprod(int n, float *s, const void *x, const void *y, size_t by);
void rg_dot4_q4_0_neon(int n, float *s, const void *x, const void *y, size_t by);
void rg_dot4_q4_0_neon_dotprod(int n, float *s, const void *x, const void *y, size_t by);
static const struct neon_kernel4 {
    enum rg_type t;
    rg_vec_dot_fn dot;
    rg_vec_dot4_fn dot4;
    bool dotprod;
} NEON_KERNELS4[] = {
    {RG_TYPE_Q8_0, rg_dot_q8_0_neon, rg_dot4_q8_0_neon, false},
    {RG_TYPE_Q8_0, rg_dot_q8_0_neon_dotprod, rg_dot4_q8_0_neon_dotprod, true},
    {RG_TYPE_Q4_0, rg_dot_q4_0_neon, rg_dot4_q4_0_neon, false},
    {RG_TYPE_Q4_0, rg_dot_q4_0_neon_dotprod, rg_dot4_q4_0_neon_dotprod, true},
};
static const struct neon_kernel {
    enum rg_type t;
    rg_vec_dot_fn plain, dotprod;
} NEON_KERNELS[] = {
#define ENTRY(T, t) {RG_TYPE_##T, rg_dot_##t##_neon, rg_dot_##t##_neon_dotprod},
    NEON_TYPES(ENTRY)
#undef ENTRY
};

/* Every half-float scale field of a block of type t (d, and m/dmin) at 1.0. */
static void unit_scales(enum rg_type t, uint8_t *row, int64_t n)
{
    const struct rg_type_traits *g = rg_type_traits_generic(t);
    const uint16_t one = rg_fp32_to_fp16(1.0f);
    for (int64_t b = 0; b < n / g->block_size; b++) {
        uint8_t *blk = row + b * g->type_size;
        switch (t) {
        case RG_TYPE_Q4_0:
        case RG_TYPE_Q5_0:
        case RG_TYPE_Q8_0: memcpy(blk, &one, 2); break;
        case RG_TYPE_Q4_1:
        case RG_TYPE_Q5_1:
        case RG_TYPE_Q4_K:
        case RG_TYPE_Q5_K:
            memcpy(blk, &one, 2);
            memcpy(blk + 2, &one, 2);
            break;
        case RG_TYPE_Q2_K:
            memcpy(blk + offsetof(rg_block_q2_K, d), &one, 2);
            memcpy(blk + offsetof(rg_block_q2_K, dmin), &one, 2);
            break;
        case RG_TYPE_Q3_K: memcpy(blk + offsetof(rg_block_q3_K, d), &one, 2); break;
        case RG_TYPE_Q6_K: memcpy(blk + offsetof(rg_block_q6_K, d), &one, 2); break;
        default: break;
        }
    }
}

/* Activations of type t (Q8_0 or Q8_K), n elements: pattern 0 all -128,
 * 1 all 127, 2 alternating; unit scales and the block sums to match. */
static void extreme_acts(enum rg_type t, uint8_t *dst, int64_t n, int pattern)
{
    for (int64_t e = 0; e < n; e++) {
        int8_t v = (int8_t)(pattern == 0 ? -128 : pattern == 1 ? 127 : (e % 2 ? 127 : -128));
        if (t == RG_TYPE_Q8_0) {
            rg_block_q8_0 *b = (rg_block_q8_0 *)dst + e / 32;
            b->d = rg_fp32_to_fp16(1.0f);
            b->qs[e % 32] = v;
        } else {
            rg_block_q8_K *b = (rg_block_q8_K *)dst + e / 256;
            b->d = 1.0f;
            b->qs[e % 256] = v;
        }
    }
    if (t == RG_TYPE_Q8_K)
        for (int64_t b = 0; b < n / 256; b++) {
            rg_block_q8_K *a = (rg_block_q8_K *)dst + b;
            for (int g = 0; g < 16; g++) {
                int sum = 0;
                for (int e = 0; e < 16; e++)
                    sum += a->qs[16 * g + e];
                a->bsums[g] = (int16_t)sum;
            }
        }
}
#endif

static void test_neon_paths(void **state)
{
    (void)state;
#if !defined(__aarch64__)
    print_message("SKIP: not aarch64 (the NEON kernels are built for AArch64 only)\n");
#else
    const bool dp = rg_cpu_arm_dotprod();
    if (!dp) print_message("SKIP: no dotprod (asimddp): only the plain NEON kernels run\n");
    const int n = 2048;
    float *x = malloc(n * sizeof *x), *a = malloc(n * sizeof *a);
    uint8_t *qx = malloc(8 * n), *qa = malloc(8 * n);
    uint64_t seed = 13;
    for (int i = 0; i < n; i++)
        x[i] = frand(&seed) * (i % 9 == 0 ? 6 : 1), a[i] = frand(&seed);
    for (size_t k = 0; k < sizeof NEON_KERNELS / sizeof NEON_KERNELS[0]; k++) {
        const struct neon_kernel *nk = &NEON_KERNELS[k];
        const struct rg_type_traits *g = rg_type_traits_generic(nk->t);
        struct rg_type_traits plain = *g, dotp = *g;
        plain.vec_dot = nk->plain;
        dotp.vec_dot = nk->dotprod;
        const struct rg_type_traits *va = rg_type_traits_generic(g->vec_dot_type);
        g->from_float(x, qx, n);
        va->from_float(a, qa, n);
        for (int len = g->block_size < 32 ? 32 : g->block_size; len <= n; len *= 2) {
            check_dot(g, &plain, len, qx, qa);
            if (dp) check_dot(g, &dotp, len, qx, qa);
            if (g->block_size == 1) {
                check_dot(g, &plain, len - 3, qx, qa);
                if (dp) check_dot(g, &dotp, len - 3, qx, qa);
            }
        }
        if (!g->quantized) continue;
        /* extreme blocks: the exact integer result, from both paths */
        size_t row = rg_type_row_size(nk->t, n);
        static const uint8_t fills[] = {0x00, 0xFF, 0x80, 0x7F};
        for (int fill = 0; fill < 4; fill++)
            for (int pattern = 0; pattern < 3; pattern++) {
                memset(qx, fills[fill], row);
                unit_scales(nk->t, qx, n);
                extreme_acts(g->vec_dot_type, qa, n, pattern);
                float deq[2048], act[2048];
                g->to_float(qx, deq, n);
                va->to_float(qa, act, n);
                double exact = 0;
                for (int i = 0; i < n; i++)
                    exact += (double)deq[i] * act[i];
                float s_ref, s_plain, s_dp = (float)exact;
                g->vec_dot(n, &s_ref, qx, qa);
                nk->plain(n, &s_plain, qx, qa);
                if (dp) nk->dotprod(n, &s_dp, qx, qa);
                if (fabs(s_plain - exact) > 1e-6 * fabs(exact) ||
                    fabs(s_dp - exact) > 1e-6 * fabs(exact))
                    fail_msg("%s fill %d pattern %d: plain %.9g, dotprod %.9g, exact %.9g, "
                             "reference %.9g",
                             g->name, fill, pattern, s_plain, s_dp, exact, s_ref);
            }
    }
    /* the 4-token kernels give what four vec_dot calls give, bit for bit */
    for (size_t k = 0; k < sizeof NEON_KERNELS4 / sizeof NEON_KERNELS4[0]; k++) {
        const struct neon_kernel4 *nk = &NEON_KERNELS4[k];
        if (nk->dotprod && !dp) continue;
        const int len = 512;
        const size_t by = rg_type_row_size(RG_TYPE_Q8_0, len);
        rg_type_traits_generic(nk->t)->from_float(x, qx, len);
        for (int j = 0; j < 4; j++)
            rg_type_traits_generic(RG_TYPE_Q8_0)->from_float(a + j * len, qa + j * by, len);
        float s4[4], s1[4];
        nk->dot4(len, s4, qx, qa, by);
        for (int j = 0; j < 4; j++)
            nk->dot(len, &s1[j], qx, qa + j * by);
        if (memcmp(s4, s1, sizeof s4) != 0)
            fail_msg("%s dot4 (%s): %.9g %.9g %.9g %.9g vs vec_dot %.9g %.9g %.9g %.9g",
                     rg_type_traits_generic(nk->t)->name, nk->dotprod ? "dotprod" : "plain", s4[0],
                     s4[1], s4[2], s4[3], s1[0], s1[1], s1[2], s1[3]);
    }
    free(x);
    free(a);
    free(qx);
    free(qa);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_error),
        cmocka_unit_test(test_dots_match_reference),
        cmocka_unit_test(test_matmul_threads),
        cmocka_unit_test(test_packed_matmul),
        cmocka_unit_test(test_packed_extremes),
        cmocka_unit_test(test_activation_quantizers_exact),
        cmocka_unit_test(test_attention_helpers_exact),
        cmocka_unit_test(test_neon_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
