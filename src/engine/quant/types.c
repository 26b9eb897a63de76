/*
 * Block geometry and names of every tensor type, plus half/bfloat16
 * conversions. The kernels (to_float, from_float, vec_dot) are filled into
 * copies of this table by the per-format files and chosen per CPU in
 * rg_quant_init(); this file only knows sizes, so the GGUF loader can validate
 * tensor sizes without any kernel.
 */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "engine/quant/quant.h"
#include "engine/quant/quant_internal.h"

const struct rg_type_geometry rg_type_geometry[RG_TYPE_COUNT] = {
    [RG_TYPE_F32] = {"F32", 1, 4, false},
    [RG_TYPE_F16] = {"F16", 1, 2, false},
    [RG_TYPE_BF16] = {"BF16", 1, 2, false},
    [RG_TYPE_Q4_0] = {"Q4_0", 32, 2 + 16, true},
    [RG_TYPE_Q4_1] = {"Q4_1", 32, 2 + 2 + 16, true},
    [RG_TYPE_Q5_0] = {"Q5_0", 32, 2 + 4 + 16, true},
    [RG_TYPE_Q5_1] = {"Q5_1", 32, 2 + 2 + 4 + 16, true},
    [RG_TYPE_Q8_0] = {"Q8_0", 32, 2 + 32, true},
    [RG_TYPE_Q8_1] = {"Q8_1", 32, 4 + 32, true},
    [RG_TYPE_Q2_K] = {"Q2_K", RG_QK_K, RG_QK_K / 16 + RG_QK_K / 4 + 2 + 2, true},
    [RG_TYPE_Q3_K] = {"Q3_K", RG_QK_K, RG_QK_K / 8 + RG_QK_K / 4 + 12 + 2, true},
    [RG_TYPE_Q4_K] = {"Q4_K", RG_QK_K, 2 + 2 + 12 + RG_QK_K / 2, true},
    [RG_TYPE_Q5_K] = {"Q5_K", RG_QK_K, 2 + 2 + 12 + RG_QK_K / 8 + RG_QK_K / 2, true},
    [RG_TYPE_Q6_K] = {"Q6_K", RG_QK_K, RG_QK_K / 2 + RG_QK_K / 4 + RG_QK_K / 16 + 2, true},
    [RG_TYPE_Q8_K] = {"Q8_K", RG_QK_K, 4 + RG_QK_K + RG_QK_K / 16 * 2, true},
    [RG_TYPE_I8] = {"I8", 1, 1, false},
    [RG_TYPE_I16] = {"I16", 1, 2, false},
    [RG_TYPE_I32] = {"I32", 1, 4, false},
    [RG_TYPE_I64] = {"I64", 1, 8, false},
    [RG_TYPE_F64] = {"F64", 1, 8, false},
};

size_t rg_type_row_size(enum rg_type t, int64_t n)
{
    if ((unsigned)t >= RG_TYPE_COUNT || n < 0) return 0;
    const struct rg_type_geometry *g = &rg_type_geometry[t];
    if (!g->block_size || n % g->block_size) return 0;
    size_t out;
    if (__builtin_mul_overflow((size_t)(n / g->block_size), g->type_size, &out)) return 0;
    return out;
}

int rg_type_from_name(const char *name)
{
    for (int t = 0; t < RG_TYPE_COUNT; t++)
        if (rg_type_geometry[t].name && !strcasecmp(rg_type_geometry[t].name, name)) return t;
    return -1;
}

/* IEEE half <-> single, exact for every value (round to nearest even). */
float rg_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalize */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3FF) << 13);
        }
    } else if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t rg_fp32_to_fp16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7FFFFFFF;
    if (absx > 0x7F800000) return (uint16_t)(sign | 0x7E00);  /* NaN */
    if (absx >= 0x477FF000) return (uint16_t)(sign | 0x7C00); /* overflow -> inf */
    if (absx < 0x38800000) {                                  /* subnormal or zero */
        if (absx < 0x33000000) return (uint16_t)sign;
        uint32_t e = absx >> 23, m = (absx & 0x7FFFFF) | 0x800000;
        uint32_t shift = 126 - e; /* 14 + (113 - e) */
        uint32_t v = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (v & 1))) v++;
        return (uint16_t)(sign | v);
    }
    uint32_t v = ((absx >> 13) - ((127 - 15) << 10));
    uint32_t rem = absx & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (v & 1))) v++;
    return (uint16_t)(sign | v);
}

float rg_bf16_to_fp32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t rg_fp32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFF) > 0x7F800000) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    x += 0x7FFF + ((x >> 16) & 1); /* round to nearest even */
    return (uint16_t)(x >> 16);
}
