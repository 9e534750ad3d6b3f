/*
 * cpu_isa.c — what this x86-64 CPU and its OS let us run.
 *
 * Sections:
 *   1. cpuid and xgetbv (x86-64 only; elsewhere everything reads false)
 *   2. feature sets behind each ISA level
 *
 * A CPU flag alone is not enough: the OS must save the ymm/zmm state on a
 * context switch (XCR0), or the first AVX instruction faults.
 */
#include "cpu.h"

#if defined(__x86_64__)
#include <cpuid.h>

/* ---------------------------------------------------------------- 1 ---- */

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* ---------------------------------------------------------------- 2 ---- */

void cpu_detect(cpu_features *out)
{
    *out = (cpu_features){0};
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    const bool osxsave = c & (1u << 27), fma = c & (1u << 12), f16c = c & (1u << 29);
    if (!osxsave)
        return;
    const uint64_t xcr0 = xgetbv0();
    const bool ymm_os = (xcr0 & 0x6) == 0x6;            /* SSE + AVX state      */
    const bool zmm_os = ymm_os && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM_Hi256/Hi16 */
    if (__get_cpuid_max(0, NULL) < 7)
        return;
    __cpuid_count(7, 0, a, b, c, d);
    const bool avx2 = b & (1u << 5);
    const bool f512 = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30),
               vl = b & (1u << 31);
    out->avx2_fma = ymm_os && avx2 && fma && f16c;
    out->avx512 = out->avx2_fma && zmm_os && f512 && dq && bw && vl;
    unsigned a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    out->avx512_bf16 = out->avx512 && (a1 & (1u << 5));
}
#else
void cpu_detect(cpu_features *out)
{
    *out = (cpu_features){0};
}
#endif

const char *cpu_isa_name(int isa)
{
    return isa == CPU_ISA_AVX512 ? "avx512" : isa == CPU_ISA_AVX2 ? "avx2" : "scalar";
}
