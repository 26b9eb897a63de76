/*
 * On-disk block layouts of the quantized types. They are fixed by the GGUF
 * format (the ggml layouts), so a tensor read from a file is used in place.
 * Scales are IEEE half floats stored as uint16_t bit patterns.
 */
#ifndef RG_ENGINE_QUANT_BLOCKS_H
#define RG_ENGINE_QUANT_BLOCKS_H

#include <assert.h>
#include <stdint.h>

#include "engine/quant/quant.h"

#define RG_QK4_0 32
#define RG_QK4_1 32
#define RG_QK5_0 32
#define RG_QK5_1 32
#define RG_QK8_0 32
#define RG_QK8_1 32
#define RG_K_SCALE_SIZE 12

typedef struct {
    uint16_t d;               /* scale */
    uint8_t qs[RG_QK4_0 / 2]; /* nibbles: low = element j, high = element j+16 */
} rg_block_q4_0;
static_assert(sizeof(rg_block_q4_0) == 18, "q4_0 layout");

typedef struct {
    uint16_t d, m; /* scale, minimum */
    uint8_t qs[RG_QK4_1 / 2];
} rg_block_q4_1;
static_assert(sizeof(rg_block_q4_1) == 20, "q4_1 layout");

typedef struct {
    uint16_t d;
    uint8_t qh[4]; /* fifth bits, element j at bit j */
    uint8_t qs[RG_QK5_0 / 2];
} rg_block_q5_0;
static_assert(sizeof(rg_block_q5_0) == 22, "q5_0 layout");

typedef struct {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[RG_QK5_1 / 2];
} rg_block_q5_1;
static_assert(sizeof(rg_block_q5_1) == 24, "q5_1 layout");

typedef struct {
    uint16_t d;
    int8_t qs[RG_QK8_0];
} rg_block_q8_0;
static_assert(sizeof(rg_block_q8_0) == 34, "q8_0 layout");

typedef struct {
    uint16_t d; /* scale */
    uint16_t s; /* d * sum(qs) */
    int8_t qs[RG_QK8_1];
} rg_block_q8_1;
static_assert(sizeof(rg_block_q8_1) == 36, "q8_1 layout");

/* K-quants: super-blocks of RG_QK_K = 256 elements. */
typedef struct {
    uint8_t scales[RG_QK_K / 16]; /* 4-bit scale (low) and min (high) per 16 */
    uint8_t qs[RG_QK_K / 4];      /* 2-bit quants */
    uint16_t d, dmin;
} rg_block_q2_K;
static_assert(sizeof(rg_block_q2_K) == 84, "q2_K layout");

typedef struct {
    uint8_t hmask[RG_QK_K / 8]; /* high bit */
    uint8_t qs[RG_QK_K / 4];    /* low 2 bits */
    uint8_t scales[12];         /* 16 6-bit scales */
    uint16_t d;
} rg_block_q3_K;
static_assert(sizeof(rg_block_q3_K) == 110, "q3_K layout");

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[RG_K_SCALE_SIZE]; /* 8 6-bit scales and mins */
    uint8_t qs[RG_QK_K / 2];
} rg_block_q4_K;
static_assert(sizeof(rg_block_q4_K) == 144, "q4_K layout");

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[RG_K_SCALE_SIZE];
    uint8_t qh[RG_QK_K / 8];
    uint8_t qs[RG_QK_K / 2];
} rg_block_q5_K;
static_assert(sizeof(rg_block_q5_K) == 176, "q5_K layout");

typedef struct {
    uint8_t ql[RG_QK_K / 2];     /* low 4 bits */
    uint8_t qh[RG_QK_K / 4];     /* high 2 bits */
    int8_t scales[RG_QK_K / 16]; /* 8-bit scales */
    uint16_t d;
} rg_block_q6_K;
static_assert(sizeof(rg_block_q6_K) == 210, "q6_K layout");

/* Activations for the K-quant dot products (never stored in files). */
typedef struct {
    float d;
    int8_t qs[RG_QK_K];
    int16_t bsums[RG_QK_K / 16]; /* sums of groups of 16 quants */
} rg_block_q8_K;
static_assert(sizeof(rg_block_q8_K) == 292, "q8_K layout");

#endif
