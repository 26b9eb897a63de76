/* What vec.c takes from vec_kernels.c: the kernels chosen for this CPU, as
 * pointers fetched once per search instead of once per vector. */
#ifndef RG_INDEX_VEC_INTERNAL_H
#define RG_INDEX_VEC_INTERNAL_H

#include <stdint.h>

typedef float (*rg_vec_dot_f16_fn)(const float *q, const uint16_t *x, int n);
typedef float (*rg_vec_dot_i8_fn)(const float *q, const int8_t *x, int n);
rg_vec_dot_f16_fn rg_vec_kernel_f16(void);
rg_vec_dot_i8_fn rg_vec_kernel_i8(void);
/* n halves to floats (F16C when present). */
typedef void (*rg_vec_decode_f16_fn)(const uint16_t *x, float *out, int n);
rg_vec_decode_f16_fn rg_vec_kernel_decode_f16(void);

#endif
