#ifndef RG_COMMON_CPU_H
#define RG_COMMON_CPU_H

#include <stdbool.h>

/* True when the CPU has AVX2, FMA and F16C and the OS saves YMM state.
 * Asked of CPUID and XCR0 directly, because compilers disagree on which
 * names __builtin_cpu_supports knows (clang 14 has no "f16c"). */
bool rg_cpu_avx2(void);

#endif
