/*
 * Packed weights: a matrix re-laid once, at load time, so that one 256-bit
 * register holds four consecutive elements of each of eight rows. A kernel
 * then multiplies eight rows by one token with a broadcast of four activation
 * bytes per instruction, the eight int32 lanes being the eight rows' sums: no
 * horizontal sum per row and per token, and every scale product is one vector
 * multiply per block. This is the layout llama.cpp's CPU "repack" buffers use
 * for the same reason; the blocks here are our own.
 *
 * Numerics: each block's integer sum is exact, then acc = fma(dw * da, sum,
 * acc) block after block, the order llama.cpp's repacked kernels use. For
 * the K-quants a block is a 256-element super-block, its sum the sub-block
 * sums times their scales; Q4_K and Q5_K keep the mins' products in a second
 * accumulator, fma(dmin * da, sum, mins), and returns acc - mins.
 *
 * Internal to src/engine/kernels (the public entry points are in kernels.h).
 */
#ifndef RG_ENGINE_KERNELS_PACKED_H
#define RG_ENGINE_KERNELS_PACKED_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define RG_PACK_ROWS 8   /* rows interleaved in one packed group */
#define RG_PACK_TOKENS 4 /* tokens one kernel call takes at most */

/*
 * Eight Q4_0 rows, one 32-element block of each. Byte 32 * L + 4 * r + i is
 * byte 4 * L + i of row r's block (L = 0..3): its low nibble is element
 * 4L + i, its high nibble element 16 + 4L + i, as in Q4_0 itself, so the
 * low nibbles of a 32-byte load are elements 4L..4L+3 of all eight rows.
 */
typedef struct {
    uint16_t d[RG_PACK_ROWS]; /* row scales (half) */
    uint8_t qs[RG_PACK_ROWS * 16];
} rg_block_q4_0x8;
static_assert(sizeof(rg_block_q4_0x8) == 144, "q4_0x8 layout");

/* Eight Q8_0 rows: byte 32 * g + 4 * r + i is element 4g + i of row r. */
typedef struct {
    uint16_t d[RG_PACK_ROWS];
    int8_t qs[RG_PACK_ROWS * 32];
} rg_block_q8_0x8;
static_assert(sizeof(rg_block_q8_0x8) == 272, "q8_0x8 layout");

/*
 * Eight Q4_K rows, one 256-element super-block of each; sub-block s is
 * elements 32 s .. 32 s + 31. Byte 256 * j + 32 * L + 4 * r + i is byte
 * 32 * j + 4 * L + i of row r's qs, as in Q4_K itself: its low nibble is
 * element 4L + i of sub-block 2j, its high nibble the same element of
 * sub-block 2j + 1, so one 32-byte load gives four elements of all eight
 * rows for two sub-blocks. The 6-bit scales and mins are unpacked once here
 * instead of in every call: scales[8 * s + r] is row r's scale of sub-block s
 * (eight bytes, one broadcast per sub-block); mins[16 * p + 2 * r + e] is row
 * r's min of sub-block 2p + e, so that widened to int16 the two lanes of row
 * r meet the activation sums of sub-blocks 2p and 2p + 1 in one madd.
 */
typedef struct {
    uint16_t d[RG_PACK_ROWS];    /* row scales (half) */
    uint16_t dmin[RG_PACK_ROWS]; /* row scales of the mins (half) */
    uint8_t scales[8 * RG_PACK_ROWS];
    uint8_t mins[8 * RG_PACK_ROWS];
    uint8_t qs[RG_PACK_ROWS * 128];
} rg_block_q4_Kx8;
static_assert(sizeof(rg_block_q4_Kx8) == 1184, "q4_Kx8 layout");

/*
 * Eight Q5_K rows, one super-block of each: Q4_K's packed block (d, dmin,
 * scales, mins and the nibbles exactly as in rg_block_q4_Kx8) and the fifth
 * bits interleaved the same way. Byte 32 * L + 4 * r + i of qh is byte
 * 4 * L + i of row r's qh, as in Q5_K itself: its bit s is the fifth bit of
 * element 4L + i of sub-block s. So the qh register at 32 L holds, one bit
 * per sub-block, the fifth bits of the qs registers at 256 j + 32 L (bit 2j
 * for their low nibbles, bit 2j + 1 for their high ones): a value 0..31 is
 * a shift, an AND and an OR more than Q4_K's nibble, and the weights
 * keep the file's size (5.6 bits a weight; a byte per value would be 8).
 */
typedef struct {
    rg_block_q4_Kx8 k4;            /* d, dmin, scales, mins and nibbles, as Q4_K's */
    uint8_t qh[RG_PACK_ROWS * 32]; /* the fifth bits */
} rg_block_q5_Kx8;
static_assert(sizeof(rg_block_q5_Kx8) == 1440, "q5_Kx8 layout");

/*
 * Eight Q6_K rows, one super-block of each, as six-bit values 0..63 (the
 * offset of 32 is taken off with the activation sums, so the values stay
 * unsigned for maddubs). Unit u is elements 32 u .. 32 u + 31; units go in
 * fours. Byte 768 * c + 256 * j + 32 * L + 4 * r + i (j = 0..2) holds element
 * 4L + i of row r's unit 4c + j in its low six bits and two bits (2j, 2j + 1)
 * of that element of unit 4c + 3 in its top two: three units cost one AND
 * per register to unpack, the fourth eight operations per register, against
 * four or five for a layout of nibbles and bit pairs. scales[16 * u + 2 * r
 * + e] is row r's scale of elements 32u + 16e .. 32u + 16e + 15: widened to
 * int16, the two lanes of row r meet the activation sums of those two halves
 * in one madd.
 */
typedef struct {
    uint16_t d[RG_PACK_ROWS]; /* row scales (half) */
    int8_t scales[16 * RG_PACK_ROWS];
    uint8_t qs[RG_PACK_ROWS * 192];
} rg_block_q6_Kx8;
static_assert(sizeof(rg_block_q6_Kx8) == 1680, "q6_Kx8 layout");

/* Activations for the packed kernels: Q8_0 (the same values and the same
 * half-rounded scale as llama.cpp's) with the scale as a float and the sum
 * of the 32 values, which Q4_0's offset of 8 needs. */
typedef struct {
    float d;
    int32_t sum;
    int8_t qs[32];
} rg_block_q8_0s;
static_assert(sizeof(rg_block_q8_0s) == 40, "q8_0s layout");

/*
 * One packed group (8 rows, nb blocks each) times n_tok tokens (1..4):
 * y[t * ys + r] = row r · token t. Token t's nb activation blocks start at
 * (const char *)x + t * bx.
 */
typedef void (*rg_gemm8_fn)(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                            size_t ys);

/* The scalar references (held to in tests; what the AVX2 kernels compute). */
void rg_gemm8_q4_0_generic(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                           size_t ys);
void rg_gemm8_q8_0_generic(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                           size_t ys);
/* The K-quant kernels read Q8_K activations (engine/quant/blocks.h); nb
 * counts 256-element super-blocks. */
void rg_gemm8_q4_K_generic(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                           size_t ys);
void rg_gemm8_q5_K_generic(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                           size_t ys);
void rg_gemm8_q6_K_generic(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                           size_t ys);
/* The kernel this CPU runs for weight type wt, NULL where packing does not pay
 * (no vector unit: then weights stay as in the file). */
rg_gemm8_fn rg_gemm8_kernel(int wt);
/* n floats (a multiple of 32) to activation blocks. */
void rg_quantize_row_q8_0s(const float *x, void *dst, int64_t n);

#endif
