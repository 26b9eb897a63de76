/* The NEON dot products for any AArch64 CPU (no dotprod): dot_neon_body.h. */
#define RG_NEON_NAME(x) x##_neon
#define RG_NEON_DOTPROD 0
#include "engine/kernels/arm/dot_neon_body.h"
