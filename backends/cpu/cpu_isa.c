/*
 * cpu_isa.c — the ISA levels, whatever the architecture.
 *
 * Sections:
 *   1. names
 *   2. the scalar level (every slot NULL: the generic files' portable loops)
 *   3. the level a device gets by default
 *   4. kernel calls per level, as a log line
 *
 * What a machine runs comes from its architecture's file (cpu_isa_x86.c,
 * cpu_isa_arm.c or cpu_isa_generic.c): this file knows no instruction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"

/* ---------------------------------------------------------------- 1 ---- */

static const char *const names[CPU_ISA_COUNT] = {
    [CPU_ISA_SCALAR] = "scalar",
    [CPU_ISA_AVX2] = "avx2",
    [CPU_ISA_AVX512] = "avx512",
    [CPU_ISA_NEON] = "neon",
};

const char *cpu_isa_name(int isa)
{
    return isa >= 0 && isa < CPU_ISA_COUNT ? names[isa] : "?";
}

int cpu_isa_parse(const char *name)
{
    for (int i = 0; i < CPU_ISA_COUNT; i++)
        if (name && !strcmp(name, names[i]))
            return i;
    return -1;
}

const char *cpu_isa_all(void)
{
    return "scalar, avx2, avx512 or neon";
}

/* ---------------------------------------------------------------- 2 ---- */

const cpu_kernels cpu_kernels_scalar = {.isa = CPU_ISA_SCALAR};

/* ---------------------------------------------------------------- 3 ---- */

int cpu_isa_default(const cpu_arch *a)
{
    const char *env = getenv("PLINTH_CPU_ISA");
    const int want = cpu_isa_parse(env);
    /* Only a level this machine has (all of them are at most the best);
     * anything else leaves the best, as before levels had families. */
    return want >= 0 && a->level[want] ? want : a->best;
}

/* ---------------------------------------------------------------- 4 ---- */

/* The names tests look for (tests/backends/test_cpu.c). */
static const char *const families[CPU_KC_COUNT] = {
    [CPU_KC_GEMV] = "gemv",
    [CPU_KC_GEMM] = "gemm",
    [CPU_KC_ELEMENTWISE] = "elementwise",
    [CPU_KC_RMS_NORM] = "rms_norm",
    [CPU_KC_ROPE] = "rope",
    [CPU_KC_ATTENTION] = "attention",
    [CPU_KC_FLASH] = "flash_attention",
    [CPU_KC_GEMV_BLOCK] = "gemv_block",
    [CPU_KC_DEQUANT] = "dequant",
    [CPU_KC_GEMM_BF16] = "gemm_bf16",
    [CPU_KC_GEMM_GROUP] = "gemm_group",
};

void cpu_calls_format(const cpu_device *dev, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = 0;
    for (int l = CPU_ISA_COUNT - 1; l >= 0; l--) { /* the SIMD levels first */
        uint64_t any = 0;
        for (int f = 0; f < CPU_KC_COUNT; f++)
            any += dev->calls[l][f];
        if (!any)
            continue;
        int n = snprintf(buf + at, size - at, "%s%s:", at ? "; " : "", names[l]);
        for (int f = 0; f < CPU_KC_COUNT && n >= 0 && (size_t)n < size - at; f++)
            if (dev->calls[l][f])
                n += snprintf(buf + at + n, size - at - (size_t)n, " %s %llu", families[f],
                              (unsigned long long)dev->calls[l][f]);
        if (n < 0 || (size_t)n >= size - at)
            return; /* truncated: what fits stays */
        at += (size_t)n;
    }
    if (!at)
        snprintf(buf, size, "none");
}
