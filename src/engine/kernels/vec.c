/* Float vector helpers (kernels.h), the AVX2 version where the CPU has it. */
#include <pthread.h>
#include <string.h>

#include "engine/kernels/kernels.h"
#include "engine/quant/quant.h"

#if defined(__x86_64__) || defined(__i386__)
void rg_axpy_f32_avx2(int n, float a, const float *x, float *y);
float rg_dotf_f32_avx2(int n, const float *x, const float *y);
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
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void pick(void)
{
    rg_quant_init();
#if defined(__x86_64__) || defined(__i386__)
    if (strcmp(rg_quant_isa(), "generic") != 0) {
        g_axpy = rg_axpy_f32_avx2;
        g_dot = rg_dotf_f32_avx2;
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
