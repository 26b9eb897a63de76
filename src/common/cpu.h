#ifndef RG_COMMON_CPU_H
#define RG_COMMON_CPU_H

#include <stdbool.h>

/* True when the CPU has AVX2, FMA and F16C and the OS saves YMM state.
 * Asked of CPUID and XCR0 directly, because compilers disagree on which
 * names __builtin_cpu_supports knows (clang 14 has no "f16c"). */
bool rg_cpu_avx2(void);

/* 64-bit ARM, from the kernel's AT_HWCAP / AT_HWCAP2 (getauxval): NEON
 * (Advanced SIMD, always there on AArch64 Linux), the SDOT/UDOT dot-product
 * instructions (FEAT_DotProd) and the SMMLA int8 matrix multiply
 * (FEAT_I8MM). All false on other architectures. */
bool rg_cpu_neon(void);
bool rg_cpu_arm_dotprod(void);
bool rg_cpu_arm_i8mm(void);

#endif
