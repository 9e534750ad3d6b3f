/*
 * cpu_isa_generic.c — an architecture with no SIMD level of its own: the
 * scalar level (the generic files' portable loops) is all it runs, and
 * its thread pool spins without a hint.
 */
#include "cpu_kernels.h"

void cpu_arch_detect(cpu_arch *out)
{
    *out = (cpu_arch){.best = CPU_ISA_SCALAR};
    out->level[CPU_ISA_SCALAR] = &cpu_kernels_scalar;
}

void cpu_relax(void)
{
}
