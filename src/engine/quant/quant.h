/*
 * Tensor element types (the ggml/GGUF numbering, so a GGUF tensor's type field
 * maps directly) and the one traits table through which all code reaches a
 * format: block geometry, dequantization, reference quantization and the dot
 * product against the type's vec_dot_type (activations are quantized to that
 * type first, as llama.cpp does: Q8_0 for the 32-blocks, Q8_K for K-quants).
 *
 * Every function pointer is the best kernel for this CPU once
 * rg_quant_init() has run (it picks AVX2/AVX-512 from CPUID, in one place);
 * rg_type_traits_generic() returns the portable scalar reference, which the
 * tests hold the fast kernels to.
 */
#ifndef RG_ENGINE_QUANT_H
#define RG_ENGINE_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rg_type {
    RG_TYPE_F32 = 0,
    RG_TYPE_F16 = 1,
    RG_TYPE_Q4_0 = 2,
    RG_TYPE_Q4_1 = 3,
    RG_TYPE_Q5_0 = 6,
    RG_TYPE_Q5_1 = 7,
    RG_TYPE_Q8_0 = 8,
    RG_TYPE_Q8_1 = 9,
    RG_TYPE_Q2_K = 10,
    RG_TYPE_Q3_K = 11,
    RG_TYPE_Q4_K = 12,
    RG_TYPE_Q5_K = 13,
    RG_TYPE_Q6_K = 14,
    RG_TYPE_Q8_K = 15,
    RG_TYPE_I8 = 24,
    RG_TYPE_I16 = 25,
    RG_TYPE_I32 = 26,
    RG_TYPE_I64 = 27,
    RG_TYPE_F64 = 28,
    RG_TYPE_BF16 = 30,
    RG_TYPE_COUNT = 40 /* table size; ids without an entry have block_size 0 */
};

#define RG_QK_K 256 /* super-block size of the K-quants */

/* x: n elements of this type; y: n elements of vec_dot_type; *s = sum x*y.
 * n is a multiple of both types' block sizes. */
typedef void (*rg_vec_dot_fn)(int n, float *s, const void *x, const void *y);
/* n elements (a multiple of block_size) between float and this type. */
/* Four dot products of one x against y, y + by, y + 2*by, y + 3*by (bytes):
 * s[j] as vec_dot would give it, with x decoded once (prompt processing). */
typedef void (*rg_vec_dot4_fn)(int n, float *s, const void *x, const void *y, size_t by);
typedef void (*rg_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*rg_from_float_fn)(const float *src, void *dst, int64_t n);

struct rg_type_traits {
    const char *name; /* "Q4_K", as GGUF tools print it; NULL if unknown id */
    int block_size;   /* elements per block; 0 if this id is unknown */
    size_t type_size; /* bytes per block */
    bool quantized;
    rg_to_float_fn to_float;     /* NULL where the type has no float view (I32...) */
    rg_from_float_fn from_float; /* reference quantizer (activations, rustygpt quantize) */
    rg_vec_dot_fn vec_dot;       /* NULL if not a weight type */
    enum rg_type vec_dot_type;   /* what the other operand must be converted to */
    rg_vec_dot4_fn vec_dot4;     /* NULL where there is no 4-token kernel */
};

/* Picks the kernels for this CPU. Idempotent, thread-safe; called by every
 * entry point of the engine that needs kernels (cheap after the first call). */
void rg_quant_init(void);
/* Traits of type t (best kernels for this CPU), or NULL for an unknown id. */
const struct rg_type_traits *rg_type_traits(enum rg_type t);
/* The portable scalar reference for t, or NULL. */
const struct rg_type_traits *rg_type_traits_generic(enum rg_type t);
/* Name of the ISA chosen by rg_quant_init(): "avx512", "avx2" or "generic". */
const char *rg_quant_isa(void);
/* Looks up a type by name ("q4_0", "Q8_0", "f16"...); -1 if unknown. */
int rg_type_from_name(const char *name);

/* Bytes of a row of n elements; 0 when t is unknown or n is not a multiple of
 * the block size. *ok-style overflow: returns 0 on overflow too. */
size_t rg_type_row_size(enum rg_type t, int64_t n);

/* half/bfloat16 conversions (bit patterns in uint16_t). */
float rg_fp16_to_fp32(uint16_t h);
uint16_t rg_fp32_to_fp16(float f);
float rg_bf16_to_fp32(uint16_t h);
uint16_t rg_fp32_to_bf16(float f);

#endif
