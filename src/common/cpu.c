#include "common/cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

bool rg_cpu_avx2(void)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28),
         f16c = c & (1u << 29);
    if (!(fma && osxsave && avx && f16c)) return false;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return false; /* the OS saves XMM and YMM state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return b & (1u << 5);
#else
    return false;
#endif
}

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1ul << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1ul << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1ul << 13)
#endif
#endif

bool rg_cpu_neon(void)
{
#if defined(__aarch64__) && defined(__linux__)
    return getauxval(AT_HWCAP) & HWCAP_ASIMD;
#else
    return false;
#endif
}

bool rg_cpu_arm_dotprod(void)
{
#if defined(__aarch64__) && defined(__linux__)
    return rg_cpu_neon() && (getauxval(AT_HWCAP) & HWCAP_ASIMDDP);
#else
    return false;
#endif
}

bool rg_cpu_arm_i8mm(void)
{
#if defined(__aarch64__) && defined(__linux__)
    return rg_cpu_neon() && (getauxval(AT_HWCAP2) & HWCAP2_I8MM);
#else
    return false;
#endif
}
