/*
 * The one place where ISA-specific kernels are chosen. rg_quant_init()
 * (src/engine/quant) fills a table with the portable scalar traits, then calls
 * rg_kernels_install(), which reads CPUID and replaces entries (vec_dot,
 * to_float, from_float) with AVX2 / AVX-512 versions where the CPU has them.
 */
#ifndef RG_ENGINE_KERNELS_DISPATCH_H
#define RG_ENGINE_KERNELS_DISPATCH_H

#include "engine/quant/quant.h"

/* table has RG_TYPE_COUNT entries. Returns the name of the path chosen:
 * "avx2", "neon-dotprod" (NEON with SDOT), "neon" (plain NEON) or
 * "generic" (the scalar reference). RG_ISA in the environment forces a path
 * (for tests and comparisons): scalar (or generic), avx2, avx512, amx, neon,
 * neon-dotprod; RUSTYGPT_ISA=generic is the older spelling of RG_ISA=scalar.
 * A path this CPU or build lacks is refused with a warning in the log
 * (the one thing the engine logs itself) and the best available one runs. */
const char *rg_kernels_install(struct rg_type_traits *table);

#endif
