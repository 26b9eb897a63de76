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
#include "engine/quant/blocks.h"

/*
 * The entry point for a kernel body: one copy per token count (1..4), the
 * count a constant in each, so that the accumulators stay in registers.
 */
#define GEMM8_ENTRY(name, body)                                                                    \
    void name(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y, size_t ys);    \
    void name(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y, size_t ys)     \
    {                                                                                              \
        switch (n_tok) {                                                                           \
        case 1: body(nb, w, x, bx, 1, y, ys); break;                                               \
        case 2: body(nb, w, x, bx, 2, y, ys); break;                                               \
        case 3: body(nb, w, x, bx, 3, y, ys); break;                                               \
        default: body(nb, w, x, bx, 4, y, ys); break;                                              \
        }                                                                                          \
    }

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

GEMM8_ENTRY(rg_gemm8_q4_0_avx2, q4_0x8)

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

GEMM8_ENTRY(rg_gemm8_q8_0_avx2, q8_0x8)

/*
 * Q4_K: per sub-block of 32, eight maddubs of nibbles (0..15) by int8
 * activations (-128..127: Q8_K's scale maps the largest magnitude to -128)
 * add up in int16: a pair of products is at most 2 * 15 * 128 = 3840 in
 * magnitude, eight of them 30720 < 32767. One madd by the row's 6-bit scale
 * (0..63, in both halves of the row's int32 lane) then widens: 2 * 63 *
 * 30720 per sub-block, eight sub-blocks 31e6, far inside int32. The mins'
 * term, min * (sum of the sub-block's activations), is one madd per two
 * sub-blocks: a 32-element sum is at most 32 * 128 = 4096, so it fits int16,
 * and two products of 63 * 4096 sum to 516096 per lane pair.
 */

/* The scales of eight rows, byte r of p, zero-extended into both int16 halves
 * of int32 lane r: madd then scales row r's two partial sums alike. */
static inline __m256i q4_K_scales(const uint8_t *p)
{
    int64_t v;
    memcpy(&v, p, 8);
    const __m256i spread = _mm256_setr_epi8(0, -1, 0, -1, 1, -1, 1, -1, 2, -1, 2, -1, 3, -1, 3, -1,
                                            4, -1, 4, -1, 5, -1, 5, -1, 6, -1, 6, -1, 7, -1, 7, -1);
    return _mm256_shuffle_epi8(_mm256_set1_epi64x(v), spread);
}

/* One sub-block (s of super-block b) of every token into isum. */
static inline __attribute__((always_inline)) void q4_K_sub(const __m256i q[8], __m256i sc,
                                                           const uint8_t *x, size_t bx, int b,
                                                           int s, const int nt, __m256i *isum)
{
    for (int t = 0; t < nt; t++) {
        const int8_t *a = ((const rg_block_q8_K *)(x + (size_t)t * bx) + b)->qs + 32 * s;
        __m256i p = _mm256_maddubs_epi16(q[0], bcast4(a));
        for (int L = 1; L < 8; L++)
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(q[L], bcast4(a + 4 * L)));
        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p, sc));
    }
}

/*
 * The end of a Q4_K / Q5_K super-block (b) for every token: acc += isum *
 * (dw * da) and, apart, mins += (the rows' mins times the activations'
 * sub-block sums) * (dmin * da); the result is acc - mins at the end.
 */
static inline __attribute__((always_inline)) void
k_super_end(const uint16_t d[RG_PACK_ROWS], const uint16_t dmin[RG_PACK_ROWS],
            const uint8_t mins8[8 * RG_PACK_ROWS], const uint8_t *x, size_t bx, int b, const int nt,
            const __m256i *isum, __m256 *acc, __m256 *mins)
{
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)d));
    const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dmin));
    __m256i mn[4];
    for (int p = 0; p < 4; p++)
        mn[p] = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(mins8 + 16 * p)));
    for (int t = 0; t < nt; t++) {
        const rg_block_q8_K *a = (const rg_block_q8_K *)(x + (size_t)t * bx) + b;
        /* the eight sub-blocks' sums (two bsums each), int32 lane p holding
         * those of sub-blocks 2p and 2p + 1 */
        const __m128i s8 = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)a->bsums),
                                          _mm_loadu_si128((const __m128i *)(a->bsums + 8)));
        const __m256i sp = _mm256_broadcastsi128_si256(s8);
        __m256i m = _mm256_madd_epi16(mn[0], _mm256_shuffle_epi32(sp, 0x00));
        m = _mm256_add_epi32(m, _mm256_madd_epi16(mn[1], _mm256_shuffle_epi32(sp, 0x55)));
        m = _mm256_add_epi32(m, _mm256_madd_epi16(mn[2], _mm256_shuffle_epi32(sp, 0xAA)));
        m = _mm256_add_epi32(m, _mm256_madd_epi16(mn[3], _mm256_shuffle_epi32(sp, 0xFF)));
        const __m256 da = _mm256_set1_ps(a->d);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, da), acc[t]);
        mins[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m), _mm256_mul_ps(mw, da), mins[t]);
    }
}

static inline __attribute__((always_inline)) void q4_Kx8(int nb, const rg_block_q4_Kx8 *w,
                                                         const uint8_t *x, size_t bx, const int nt,
                                                         float *y, size_t ys)
{
    const __m256i low = _mm256_set1_epi8(0x0F);
    __m256 acc[RG_PACK_TOKENS], mins[RG_PACK_TOKENS];
    for (int t = 0; t < nt; t++)
        acc[t] = mins[t] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i isum[RG_PACK_TOKENS];
        for (int t = 0; t < nt; t++)
            isum[t] = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            /* the high nibbles are loaded again (from L1) rather than held:
             * sixteen registers of weights would leave none for the tokens */
            const uint8_t *qs = w[b].qs + 256 * j;
            __m256i q[8];
            for (int L = 0; L < 8; L++)
                q[L] = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(qs + 32 * L)), low);
            q4_K_sub(q, q4_K_scales(w[b].scales + 16 * j), x, bx, b, 2 * j, nt, isum);
            for (int L = 0; L < 8; L++)
                q[L] = _mm256_and_si256(
                    _mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)(qs + 32 * L)), 4), low);
            q4_K_sub(q, q4_K_scales(w[b].scales + 16 * j + 8), x, bx, b, 2 * j + 1, nt, isum);
        }
        k_super_end(w[b].d, w[b].dmin, w[b].mins, x, bx, b, nt, isum, acc, mins);
    }
    for (int t = 0; t < nt; t++)
        _mm256_storeu_ps(y + (size_t)t * ys, _mm256_sub_ps(acc[t], mins[t]));
}

GEMM8_ENTRY(rg_gemm8_q4_K_avx2, q4_Kx8)

/*
 * Q5_K: Q4_K with a fifth bit, values 0..31 by int8 activations
 * (-128..127): a pair of products is at most 2 * 31 * 128 = 7936 in
 * magnitude, so four maddubs add up in int16 (31744 < 32767) and eight
 * would not (63488). Each half of a sub-block (four maddubs) goes through
 * its own madd by the row's 6-bit scale (0..63): 2 * 63 * 31744 = 4.0e6 per
 * madd, sixteen of them per super-block 6.4e7, far inside int32. The mins
 * are Q4_K's, to the instruction: the 32-element sums are at most 4096 in
 * magnitude (int16), two products of 63 * 4096 sum to 516096 per lane pair.
 */

/* One sub-block (s of super-block b) of every token into isum. */
static inline __attribute__((always_inline)) void q5_K_sub(const __m256i q[8], __m256i sc,
                                                           const uint8_t *x, size_t bx, int b,
                                                           int s, const int nt, __m256i *isum)
{
    for (int t = 0; t < nt; t++) {
        const int8_t *a = ((const rg_block_q8_K *)(x + (size_t)t * bx) + b)->qs + 32 * s;
        __m256i p0 = _mm256_maddubs_epi16(q[0], bcast4(a));
        __m256i p1 = _mm256_maddubs_epi16(q[4], bcast4(a + 16));
        for (int L = 1; L < 4; L++) {
            p0 = _mm256_add_epi16(p0, _mm256_maddubs_epi16(q[L], bcast4(a + 4 * L)));
            p1 = _mm256_add_epi16(p1, _mm256_maddubs_epi16(q[L + 4], bcast4(a + 16 + 4 * L)));
        }
        isum[t] = _mm256_add_epi32(
            isum[t], _mm256_add_epi32(_mm256_madd_epi16(p0, sc), _mm256_madd_epi16(p1, sc)));
    }
}

/* Bit k (0..7) of every byte of h at bit 4, the other bits unspecified: the
 * 16-bit shifts move bit k by at most four places, so it stays in its byte. */
static inline __attribute__((always_inline)) __m256i q5_K_bit4(__m256i h, const int k)
{
    if (k < 4) return _mm256_slli_epi16(h, 4 - k);
    if (k > 4) return _mm256_srli_epi16(h, k - 4);
    return h;
}

/* Sub-blocks 2j and 2j + 1 of super-block b (w) of every token into isum; j
 * a constant at each call, so that the shifts take immediates. */
static inline __attribute__((always_inline)) void q5_K_pair(const rg_block_q5_Kx8 *w,
                                                            const uint8_t *x, size_t bx, int b,
                                                            const int j, const int nt,
                                                            __m256i *isum)
{
    const __m256i low = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
    const uint8_t *qs = w->k4.qs + 256 * j;
    __m256i q[8];
    /* as in Q4_K, the nibbles (and the fifth bits) are loaded again from L1
     * for the second sub-block rather than held */
    for (int L = 0; L < 8; L++) {
        const __m256i h = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * L));
        q[L] = _mm256_or_si256(
            _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(qs + 32 * L)), low),
            _mm256_and_si256(q5_K_bit4(h, 2 * j), bit4));
    }
    q5_K_sub(q, q4_K_scales(w->k4.scales + 16 * j), x, bx, b, 2 * j, nt, isum);
    for (int L = 0; L < 8; L++) {
        const __m256i h = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * L));
        q[L] = _mm256_or_si256(
            _mm256_and_si256(
                _mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)(qs + 32 * L)), 4), low),
            _mm256_and_si256(q5_K_bit4(h, 2 * j + 1), bit4));
    }
    q5_K_sub(q, q4_K_scales(w->k4.scales + 16 * j + 8), x, bx, b, 2 * j + 1, nt, isum);
}

static inline __attribute__((always_inline)) void q5_Kx8(int nb, const rg_block_q5_Kx8 *w,
                                                         const uint8_t *x, size_t bx, const int nt,
                                                         float *y, size_t ys)
{
    __m256 acc[RG_PACK_TOKENS], mins[RG_PACK_TOKENS];
    for (int t = 0; t < nt; t++)
        acc[t] = mins[t] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i isum[RG_PACK_TOKENS];
        for (int t = 0; t < nt; t++)
            isum[t] = _mm256_setzero_si256();
        q5_K_pair(&w[b], x, bx, b, 0, nt, isum);
        q5_K_pair(&w[b], x, bx, b, 1, nt, isum);
        q5_K_pair(&w[b], x, bx, b, 2, nt, isum);
        q5_K_pair(&w[b], x, bx, b, 3, nt, isum);
        k_super_end(w[b].k4.d, w[b].k4.dmin, w[b].k4.mins, x, bx, b, nt, isum, acc, mins);
    }
    for (int t = 0; t < nt; t++)
        _mm256_storeu_ps(y + (size_t)t * ys, _mm256_sub_ps(acc[t], mins[t]));
}

GEMM8_ENTRY(rg_gemm8_q5_K_avx2, q5_Kx8)

/*
 * Q6_K: six-bit values 0..63 by int8 activations: a pair of products is at
 * most 2 * 63 * 128 = 16128 in magnitude, so two maddubs (32256) add up in
 * int16 and a third would not fit; each such pair of maddubs covers eight
 * elements of one 16-element scale group and goes through one madd by the
 * row's int8 scale: 2 * 32256 * 128 = 8.3e6 per madd, 32 of them 2.6e8. The
 * offset of 32 comes off the same int32 sum as 32 * scale * (sum of the 16
 * activations): 32 * 128 = 4096 still fits the int16 scale lanes, a
 * 16-element sum is at most 2048, and the 16 products at most 1.3e8, so the
 * sum stays inside int32. Fewer instructions than subtracting 32 from
 * every value (a second maddubs per maddubs).
 */

/* One unit (u of super-block b) of every token into isum. */
static inline __attribute__((always_inline)) void q6_K_unit(const __m256i q[8],
                                                            const int8_t *scales, const uint8_t *x,
                                                            size_t bx, int b, int u, const int nt,
                                                            __m256i *isum)
{
    /* from the int16 scales of the unit (lane 2r + e = row r's scale of half
     * e), either half's scale into both lanes of row r */
    const __m256i half0 = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1,
                                           0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13);
    const __m256i half1 = _mm256_setr_epi8(2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15,
                                           2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15);
    const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(scales + 16 * u)));
    const __m256i s0 = _mm256_shuffle_epi8(sc, half0), s1 = _mm256_shuffle_epi8(sc, half1);
    const __m256i s32 = _mm256_slli_epi16(sc, 5);
    for (int t = 0; t < nt; t++) {
        const rg_block_q8_K *ab = (const rg_block_q8_K *)(x + (size_t)t * bx) + b;
        const int8_t *a = ab->qs + 32 * u;
        __m256i p[4];
        for (int k = 0; k < 4; k++)
            p[k] = _mm256_add_epi16(_mm256_maddubs_epi16(q[2 * k], bcast4(a + 8 * k)),
                                    _mm256_maddubs_epi16(q[2 * k + 1], bcast4(a + 8 * k + 4)));
        const __m256i m = _mm256_add_epi32(
            _mm256_add_epi32(_mm256_madd_epi16(p[0], s0), _mm256_madd_epi16(p[1], s0)),
            _mm256_add_epi32(_mm256_madd_epi16(p[2], s1), _mm256_madd_epi16(p[3], s1)));
        /* (bsums[2u], bsums[2u + 1]) in every lane pair */
        int32_t bs;
        memcpy(&bs, ab->bsums + 2 * u, 4);
        const __m256i off = _mm256_madd_epi16(s32, _mm256_set1_epi32(bs));
        isum[t] = _mm256_add_epi32(isum[t], _mm256_sub_epi32(m, off));
    }
}

static inline __attribute__((always_inline)) void q6_Kx8(int nb, const rg_block_q6_Kx8 *w,
                                                         const uint8_t *x, size_t bx, const int nt,
                                                         float *y, size_t ys)
{
    const __m256i six = _mm256_set1_epi8(0x3F), top = _mm256_set1_epi8((char)0xC0);
    __m256 acc[RG_PACK_TOKENS];
    for (int t = 0; t < nt; t++)
        acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i isum[RG_PACK_TOKENS];
        for (int t = 0; t < nt; t++)
            isum[t] = _mm256_setzero_si256();
        for (int c = 0; c < 2; c++) {
            const uint8_t *qs = w[b].qs + 768 * c;
            __m256i q[8];
            for (int j = 0; j < 3; j++) {
                for (int L = 0; L < 8; L++)
                    q[L] = _mm256_and_si256(
                        _mm256_loadu_si256((const __m256i *)(qs + 256 * j + 32 * L)), six);
                q6_K_unit(q, w[b].scales, x, bx, b, 4 * c + j, nt, isum);
            }
            for (int L = 0; L < 8; L++) {
                const __m256i b0 = _mm256_loadu_si256((const __m256i *)(qs + 32 * L));
                const __m256i b1 = _mm256_loadu_si256((const __m256i *)(qs + 256 + 32 * L));
                const __m256i b2 = _mm256_loadu_si256((const __m256i *)(qs + 512 + 32 * L));
                /* masked first, so no bit crosses into the byte below */
                q[L] = _mm256_or_si256(
                    _mm256_or_si256(_mm256_srli_epi16(_mm256_and_si256(b0, top), 6),
                                    _mm256_srli_epi16(_mm256_and_si256(b1, top), 4)),
                    _mm256_srli_epi16(_mm256_and_si256(b2, top), 2));
            }
            q6_K_unit(q, w[b].scales, x, bx, b, 4 * c + 3, nt, isum);
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w[b].d));
        for (int t = 0; t < nt; t++) {
            const rg_block_q8_K *a = (const rg_block_q8_K *)(x + (size_t)t * bx) + b;
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]),
                                     _mm256_mul_ps(dw, _mm256_set1_ps(a->d)), acc[t]);
        }
    }
    for (int t = 0; t < nt; t++)
        _mm256_storeu_ps(y + (size_t)t * ys, acc[t]);
}

GEMM8_ENTRY(rg_gemm8_q6_K_avx2, q6_Kx8)
