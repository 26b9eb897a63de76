/*
 * NEON float vector helpers (kernels.h: rg_axpy_f32, rg_dotf_f32); the
 * attention helpers of vec.c are built on these two on ARM, so they agree
 * with them bit for bit by construction.
 */
#include <arm_neon.h>

float rg_dotf_f32_neon(int n, const float *x, const float *y);
float rg_dotf_f32_neon(int n, const float *x, const float *y)
{
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(x + i + 8), vld1q_f32(y + i + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(x + i + 12), vld1q_f32(y + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++)
        s += x[i] * y[i];
    return s;
}

void rg_axpy_f32_neon(int n, float a, const float *x, float *y);
void rg_axpy_f32_neon(int n, float a, const float *x, float *y)
{
    const float32x4_t va = vdupq_n_f32(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), vld1q_f32(x + i), va));
        vst1q_f32(y + i + 4, vfmaq_f32(vld1q_f32(y + i + 4), vld1q_f32(x + i + 4), va));
    }
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), vld1q_f32(x + i), va));
    for (; i < n; i++)
        y[i] += a * x[i];
}
