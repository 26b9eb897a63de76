/* Float vector helpers (kernels.h), the AVX2 or NEON version where the CPU has it. */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "engine/kernels/kernels.h"
#include "engine/quant/quant.h"

#if defined(__x86_64__) || defined(__i386__)
void rg_axpy_f32_avx2(int n, float a, const float *x, float *y);
float rg_dotf_f32_avx2(int n, const float *x, const float *y);
void rg_attn_scores_avx2(int hd, int per, const float *q, const float *k, size_t stride, int32_t p0,
                         int32_t n, float scale, float *scores, size_t ld);
void rg_attn_values_avx2(int hd, int per, const float *w, size_t ld, const float *v, size_t stride,
                         int32_t p0, int32_t n, float *out);
void rg_attn_scores_f16_avx2(int hd, int per, const float *q, const uint16_t *k, size_t stride,
                             int32_t p0, int32_t n, float scale, float *scores, size_t ld);
void rg_attn_values_f16_avx2(int hd, int per, const float *w, size_t ld, const uint16_t *v,
                             size_t stride, int32_t p0, int32_t n, float *out);
#endif
#if defined(__aarch64__)
void rg_axpy_f32_neon(int n, float a, const float *x, float *y);
float rg_dotf_f32_neon(int n, const float *x, const float *y);
#endif

static void axpy_ref(int n, float a, const float *x, float *y)
{
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

static float dot_ref(int n, const float *x, const float *y)
{
    float s = 0;
    for (int i = 0; i < n; i++)
        s += x[i] * y[i];
    return s;
}

static void (*g_axpy)(int, float, const float *, float *) = axpy_ref;
static float (*g_dot)(int, const float *, const float *) = dot_ref;

/* The attention helpers in terms of the two above (any ISA, any head size). */
static void scores_ref(int hd, int per, const float *q, const float *k, size_t stride, int32_t p0,
                       int32_t n, float scale, float *scores, size_t ld)
{
    for (int g = 0; g < per; g++)
        for (int32_t p = p0; p < n; p++)
            scores[(size_t)g * ld + p] =
                g_dot(hd, q + (size_t)g * hd, k + (size_t)p * stride) * scale;
}

static void values_ref(int hd, int per, const float *w, size_t ld, const float *v, size_t stride,
                       int32_t p0, int32_t n, float *out)
{
    for (int32_t p = p0; p < n; p++)
        for (int g = 0; g < per; g++)
            g_axpy(hd, w[(size_t)g * ld + p], v + (size_t)p * stride, out + (size_t)g * hd);
}

#if defined(__x86_64__) || defined(__i386__)
static bool g_attn_avx2; /* the AVX2 attention helpers (head sizes that are multiples of 16) */
#endif
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void pick(void)
{
    rg_quant_init();
#if defined(__x86_64__) || defined(__i386__)
    if (strcmp(rg_quant_isa(), "generic") != 0) {
        g_axpy = rg_axpy_f32_avx2;
        g_dot = rg_dotf_f32_avx2;
        g_attn_avx2 = true;
    }
#endif
#if defined(__aarch64__)
    /* the attention helpers stay the loops over these two (no NEON versions yet) */
    if (strcmp(rg_quant_isa(), "generic") != 0) {
        g_axpy = rg_axpy_f32_neon;
        g_dot = rg_dotf_f32_neon;
    }
#endif
}

void rg_vec_init(void)
{
    pthread_once(&g_once, pick);
}

void rg_axpy_f32(int n, float a, const float *x, float *y)
{
    g_axpy(n, a, x, y);
}

float rg_dotf_f32(int n, const float *x, const float *y)
{
    return g_dot(n, x, y);
}

void rg_attn_scores(int hd, int per, const float *q, const float *k, size_t stride, int32_t p0,
                    int32_t n, float scale, float *scores, size_t ld)
{
#if defined(__x86_64__) || defined(__i386__)
    if (g_attn_avx2 && hd % 16 == 0) {
        rg_attn_scores_avx2(hd, per, q, k, stride, p0, n, scale, scores, ld);
        return;
    }
#endif
    scores_ref(hd, per, q, k, stride, p0, n, scale, scores, ld);
}

void rg_attn_values(int hd, int per, const float *w, size_t ld, const float *v, size_t stride,
                    int32_t p0, int32_t n, float *out)
{
#if defined(__x86_64__) || defined(__i386__)
    if (g_attn_avx2 && hd % 16 == 0) {
        rg_attn_values_avx2(hd, per, w, ld, v, stride, p0, n, out);
        return;
    }
#endif
    values_ref(hd, per, w, ld, v, stride, p0, n, out);
}

/* Row p of a half-float cache as floats (head sizes are at most 1024). */
static const float *row_f32(const uint16_t *src, int hd, float *buf)
{
    for (int i = 0; i < hd; i++)
        buf[i] = rg_fp16_to_fp32(src[i]);
    return buf;
}

void rg_attn_scores_f16(int hd, int per, const float *q, const uint16_t *k, size_t stride,
                        int32_t p0, int32_t n, float scale, float *scores, size_t ld)
{
#if defined(__x86_64__) || defined(__i386__)
    if (g_attn_avx2 && hd % 16 == 0) {
        rg_attn_scores_f16_avx2(hd, per, q, k, stride, p0, n, scale, scores, ld);
        return;
    }
#endif
    float row[1024];
    for (int32_t p = p0; p < n; p++) {
        const float *kp = row_f32(k + (size_t)p * stride, hd, row);
        for (int g = 0; g < per; g++)
            scores[(size_t)g * ld + p] = g_dot(hd, q + (size_t)g * hd, kp) * scale;
    }
}

void rg_attn_values_f16(int hd, int per, const float *w, size_t ld, const uint16_t *v,
                        size_t stride, int32_t p0, int32_t n, float *out)
{
#if defined(__x86_64__) || defined(__i386__)
    if (g_attn_avx2 && hd % 16 == 0) {
        rg_attn_values_f16_avx2(hd, per, w, ld, v, stride, p0, n, out);
        return;
    }
#endif
    float row[1024];
    for (int32_t p = p0; p < n; p++) {
        const float *vp = row_f32(v + (size_t)p * stride, hd, row);
        for (int g = 0; g < per; g++)
            g_axpy(hd, w[(size_t)g * ld + p], vp, out + (size_t)g * hd);
    }
}
