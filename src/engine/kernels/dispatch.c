/*
 * Chooses the kernels for this CPU once (see dispatch.h). AVX2 needs FMA and
 * F16C as well; RUSTYGPT_ISA=generic keeps the scalar reference (tests,
 * comparisons).
 */
#include "common/cpu.h"
#include "engine/kernels/dispatch.h"
#include "engine/kernels/packed.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void rg_dot_f32_avx2(int n, float *s, const void *x, const void *y);
void rg_dot_f16_avx2(int n, float *s, const void *x, const void *y);
void rg_dot_q8_0_avx2(int n, float *s, const void *x, const void *y);
void rg_dot_q4_0_avx2(int n, float *s, const void *x, const void *y);
void rg_dot_q4_K_avx2(int n, float *s, const void *x, const void *y);
void rg_dot_q6_K_avx2(int n, float *s, const void *x, const void *y);
/* dot_avx2_more.c */
void rg_dot_bf16_avx2(int n, float *s, const void *x, const void *y);
void rg_dot_q4_1_avx2(int n, float *s, const void *x, const void *y);
void rg_dot_q5_0_avx2(int n, float *s, const void *x, const void *y);
void rg_dot_q5_1_avx2(int n, float *s, const void *x, const void *y);
void rg_dot_q2_K_avx2(int n, float *s, const void *x, const void *y);
void rg_dot_q3_K_avx2(int n, float *s, const void *x, const void *y);
void rg_dot_q5_K_avx2(int n, float *s, const void *x, const void *y);

void rg_dot4_q8_0_avx2(int n, float *s, const void *x, const void *y, size_t by);
void rg_dot4_q4_0_avx2(int n, float *s, const void *x, const void *y, size_t by);
void rg_dot4_q4_K_avx2(int n, float *s, const void *x, const void *y, size_t by);
void rg_dot4_q6_K_avx2(int n, float *s, const void *x, const void *y, size_t by);

/* quant_avx2.c */
void rg_quantize_row_q8_0_avx2(const float *x, void *y, int64_t n);
void rg_quantize_row_q8_K_avx2(const float *x, void *y, int64_t n);
/* gemm_avx2.c */
void rg_gemm8_q4_0_avx2(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                        size_t ys);
void rg_gemm8_q8_0_avx2(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                        size_t ys);
void rg_gemm8_q4_K_avx2(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                        size_t ys);
void rg_gemm8_q5_K_avx2(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                        size_t ys);
void rg_gemm8_q6_K_avx2(int nb, const void *w, const void *x, size_t bx, int n_tok, float *y,
                        size_t ys);

const char *rg_kernels_install(struct rg_type_traits *t)
{
    const char *cap = getenv("RUSTYGPT_ISA");
    if (cap && !strcmp(cap, "generic")) return "generic";
    if (!rg_cpu_avx2()) return "generic";
#if defined(__x86_64__) || defined(__i386__)
    t[RG_TYPE_F32].vec_dot = rg_dot_f32_avx2;
    t[RG_TYPE_F16].vec_dot = rg_dot_f16_avx2;
    t[RG_TYPE_Q8_0].vec_dot = rg_dot_q8_0_avx2;
    t[RG_TYPE_Q4_0].vec_dot = rg_dot_q4_0_avx2;
    t[RG_TYPE_Q4_K].vec_dot = rg_dot_q4_K_avx2;
    t[RG_TYPE_Q6_K].vec_dot = rg_dot_q6_K_avx2;
    t[RG_TYPE_BF16].vec_dot = rg_dot_bf16_avx2;
    t[RG_TYPE_Q4_1].vec_dot = rg_dot_q4_1_avx2;
    t[RG_TYPE_Q5_0].vec_dot = rg_dot_q5_0_avx2;
    t[RG_TYPE_Q5_1].vec_dot = rg_dot_q5_1_avx2;
    t[RG_TYPE_Q2_K].vec_dot = rg_dot_q2_K_avx2;
    t[RG_TYPE_Q3_K].vec_dot = rg_dot_q3_K_avx2;
    t[RG_TYPE_Q5_K].vec_dot = rg_dot_q5_K_avx2;
    t[RG_TYPE_Q8_0].from_float = rg_quantize_row_q8_0_avx2;
    t[RG_TYPE_Q8_K].from_float = rg_quantize_row_q8_K_avx2;
    t[RG_TYPE_Q8_0].vec_dot4 = rg_dot4_q8_0_avx2;
    t[RG_TYPE_Q4_0].vec_dot4 = rg_dot4_q4_0_avx2;
    t[RG_TYPE_Q4_K].vec_dot4 = rg_dot4_q4_K_avx2;
    t[RG_TYPE_Q6_K].vec_dot4 = rg_dot4_q6_K_avx2;
    return "avx2";
#else
    return "generic";
#endif
}

/* Packed kernels exist for AVX2 only; the generic path keeps the file's
 * layout, so RUSTYGPT_ISA=generic runs the plain reference end to end. */
rg_gemm8_fn rg_gemm8_kernel(int wt)
{
    if (strcmp(rg_quant_isa(), "avx2") != 0) return NULL;
#if defined(__x86_64__) || defined(__i386__)
    if (wt == RG_TYPE_Q4_0) return rg_gemm8_q4_0_avx2;
    if (wt == RG_TYPE_Q8_0) return rg_gemm8_q8_0_avx2;
    if (wt == RG_TYPE_Q4_K) return rg_gemm8_q4_K_avx2;
    if (wt == RG_TYPE_Q5_K) return rg_gemm8_q5_K_avx2;
    if (wt == RG_TYPE_Q6_K) return rg_gemm8_q6_K_avx2;
#endif
    return NULL;
}
