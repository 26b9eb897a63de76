/*
 * The NEON dot products with SDOT (FEAT_DotProd): dot_neon_body.h. The
 * whole file is compiled for armv8.2-a+dotprod (src/engine/CMakeLists.txt),
 * and dispatch.c calls it only where AT_HWCAP has HWCAP_ASIMDDP.
 */
#define RG_NEON_NAME(x) x##_neon_dotprod
#define RG_NEON_DOTPROD 1
#include "engine/kernels/arm/dot_neon_body.h"
