/*
 * The one place where ISA-specific kernels are chosen. rg_quant_init()
 * (src/engine/quant) fills a table with the portable scalar traits, then calls
 * rg_kernels_install(), which reads CPUID and replaces entries (vec_dot,
 * to_float, from_float) with AVX2 / AVX-512 versions where the CPU has them.
 */
#ifndef RG_ENGINE_KERNELS_DISPATCH_H
#define RG_ENGINE_KERNELS_DISPATCH_H

#include "engine/quant/quant.h"

/* table has RG_TYPE_COUNT entries. Returns the ISA name chosen:
 * "avx512", "avx2" or "generic". RUSTYGPT_ISA=generic|avx2 in the
 * environment caps the choice (for tests and benchmarks). */
const char *rg_kernels_install(struct rg_type_traits *table);

#endif
