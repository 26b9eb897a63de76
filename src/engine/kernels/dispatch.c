/*
 * Chooses the kernels for this CPU once (see dispatch.h): AVX2 (with FMA and
 * F16C) on x86-64, NEON with or without dotprod on AArch64, else the scalar
 * reference. RG_ISA=scalar|avx2|avx512|amx|neon|neon-dotprod forces a path
 * (tests, comparisons); RUSTYGPT_ISA=generic is an alias of RG_ISA=scalar.
 */
#include "common/cpu.h"
#include "common/log.h"
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

#if defined(__aarch64__)
#define NEON_DOTS(X)                                                                               \
    X(F32, f32)                                                                                    \
    X(F16, f16) X(BF16, bf16) X(Q8_0, q8_0) X(Q4_0, q4_0) X(Q4_1, q4_1) X(Q5_0, q5_0)              \
        X(Q5_1, q5_1) X(Q2_K, q2_K) X(Q3_K, q3_K) X(Q4_K, q4_K) X(Q5_K, q5_K) X(Q6_K, q6_K)
#define DECLARE(T, t)                                                                              \
    void rg_dot_##t##_neon(int n, float *s, const void *x, const void *y);                         \
    void rg_dot_##t##_neon_dotprod(int n, float *s, const void *x, const void *y);
NEON_DOTS(DECLARE)
#undef DECLARE
#define DECLARE4(t)                                                                                \
    void rg_dot4_##t##_neon(int n, float *s, const void *x, const void *y, size_t by);             \
    void rg_dot4_##t##_neon_dotprod(int n, float *s, const void *x, const void *y, size_t by);
DECLARE4(q8_0)
DECLARE4(q4_0)
#undef DECLARE4
/* quant_neon.c */
void rg_quantize_row_q8_0_neon(const float *x, void *y, int64_t n);
void rg_quantize_row_q8_K_neon(const float *x, void *y, int64_t n);

static void install_neon(struct rg_type_traits *t, bool dotprod)
{
#define SET(T, t_)                                                                                 \
    t[RG_TYPE_##T].vec_dot = dotprod ? rg_dot_##t_##_neon_dotprod : rg_dot_##t_##_neon;
    NEON_DOTS(SET)
#undef SET
    t[RG_TYPE_Q8_0].vec_dot4 = dotprod ? rg_dot4_q8_0_neon_dotprod : rg_dot4_q8_0_neon;
    t[RG_TYPE_Q4_0].vec_dot4 = dotprod ? rg_dot4_q4_0_neon_dotprod : rg_dot4_q4_0_neon;
    t[RG_TYPE_Q8_0].from_float = rg_quantize_row_q8_0_neon;
    t[RG_TYPE_Q8_K].from_float = rg_quantize_row_q8_K_neon;
}
#endif

#if defined(__x86_64__) || defined(__i386__)
static void install_avx2(struct rg_type_traits *t)
{
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
}
#endif

/* Whether this build has kernels for path `isa` and this CPU can run them
 * ("generic", the scalar reference, always). */
static bool isa_available(const char *isa)
{
    if (!strcmp(isa, "generic")) return true;
#if defined(__x86_64__) || defined(__i386__)
    if (!strcmp(isa, "avx2")) return rg_cpu_avx2();
#endif
#if defined(__aarch64__)
    if (!strcmp(isa, "neon")) return rg_cpu_neon();
    if (!strcmp(isa, "neon-dotprod")) return rg_cpu_arm_dotprod();
#endif
    return false;
}

/* The best path of this build for this CPU. */
static const char *isa_best(void)
{
    static const char *const order[] = {"neon-dotprod", "neon", "avx2"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (isa_available(order[i])) return order[i];
    return "generic";
}

/* The path RG_ISA (or the older RUSTYGPT_ISA) asks for, as rg_quant_isa()
 * names it, or NULL when neither is set. */
static const char *isa_requested(void)
{
    const char *want = getenv("RG_ISA");
    if (!want || !*want) want = getenv("RUSTYGPT_ISA");
    if (!want || !*want) return NULL;
    if (!strcmp(want, "scalar") || !strcmp(want, "generic")) return "generic";
    return want;
}

const char *rg_kernels_install(struct rg_type_traits *t)
{
    const char *isa = isa_best(), *want = isa_requested();
    if (want && strcmp(want, isa) != 0) {
        if (isa_available(want)) {
            isa = want;
        } else {
            rg_log_warn("RG_ISA: this CPU or build has no such kernel path; using the best one",
                        "requested", 's', want, "using", 's', isa, RG_LOG_END);
        }
    }
#if defined(__x86_64__) || defined(__i386__)
    if (!strcmp(isa, "avx2")) install_avx2(t);
#endif
#if defined(__aarch64__)
    if (!strcmp(isa, "neon") || !strcmp(isa, "neon-dotprod"))
        install_neon(t, !strcmp(isa, "neon-dotprod"));
#endif
    return isa;
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
