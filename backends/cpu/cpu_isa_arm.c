/*
 * cpu_isa_arm.c — what this aarch64 CPU and its kernel let us run, and
 * the kernel table of its NEON level.
 *
 * Sections:
 *   1. the kernel's hardware capabilities (getauxval)
 *   2. the NEON table
 *   3. the levels this machine runs; the spin-wait hint (cpu_pool.c)
 *
 * Every exact kernel of the NEON level uses the Advanced SIMD baseline
 * only: f16 weights widen with FCVTL, bf16 with a shift, and the
 * arithmetic is f32. FEAT_BF16 adds the inexact bf16_compute=1 GEMM
 * (BFDOT, cpu_matmul_neon_bf16.c), as avx512_bf16 does on x86: the table
 * with it is chosen when the kernel reports the extension. The other
 * extensions are detected and shown (`plinth devices`) for the kernels
 * that would use them and do not exist yet: fp16 (FEAT_FP16, f16
 * arithmetic) and dotprod/i8mm (int8 dot products for block types).
 */
#if !defined(__aarch64__)
#error "cpu_isa_arm.c is built for aarch64 only (meson picks the ISA files)"
#endif

#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>

#include "cpu_neon.h"

/* ---------------------------------------------------------------- 1 ---- */

/* The bits of the kernel ABI (arch/arm64/include/uapi/asm/hwcap.h), spelt
 * out so that older headers build too. */
#define HWCAP_ASIMD_BIT (1ul << 1)
#define HWCAP_ASIMDHP_BIT (1ul << 10)
#define HWCAP_ASIMDDP_BIT (1ul << 20)
#define HWCAP_SVE_BIT (1ul << 22)
#define HWCAP2_I8MM_BIT (1ul << 13)
#define HWCAP2_BF16_BIT (1ul << 14)

/* ---------------------------------------------------------------- 2 ---- */

#define NEON_SLOTS                                                                             \
    .isa = CPU_ISA_NEON, .gemv = cpu_gemv_neon, .pack_a = cpu_pack_a_neon,                     \
    .pack_b = cpu_pack_b_neon, .tile = cpu_tile_neon, .tile_scale = cpu_tile_scale_neon,       \
    .pack_rows = cpu_pack_rows_neon, .ew_row = cpu_ew_row_neon, .norm_row = cpu_norm_row_neon, \
    .rope_row = cpu_rope_row_neon, .dot = cpu_dot_neon, .axpy = cpu_axpy_neon,                 \
    .fa_softmax = cpu_fa_softmax_neon,                                                         \
    .gemv_block = {cpu_gemv_q8_0_neon, cpu_gemv_q4_0_neon},                                    \
    .dequant_row = {cpu_dequant_q8_0_neon, cpu_dequant_q4_0_neon}
static const cpu_kernels neon = {NEON_SLOTS};
/* With FEAT_BF16: the bf16_compute GEMM too. */
static const cpu_kernels neon_bf16 = {
    NEON_SLOTS,
    .pack_a_bf16 = cpu_pack_a_bf16_neon,
    .pack_b_bf16 = cpu_pack_b_bf16_neon,
    .tile_bf16 = cpu_tile_bf16_neon,
    .probe_f32 = cpu_probe_f32_neon,
    .probe_bf16 = cpu_probe_bf16_neon,
};
#undef NEON_SLOTS

/* ---------------------------------------------------------------- 3 ---- */

static void add_flag(char *buf, size_t size, const char *name)
{
    const size_t at = strlen(buf);
    snprintf(buf + at, size - at, "%s%s", at ? " " : "", name);
}

void cpu_arch_detect(cpu_arch *out)
{
    *out = (cpu_arch){.best = CPU_ISA_SCALAR};
    out->level[CPU_ISA_SCALAR] = &cpu_kernels_scalar;
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    if (hw & HWCAP_ASIMD_BIT) {
        const bool bf16 = hw2 & HWCAP2_BF16_BIT;
        out->level[CPU_ISA_NEON] = bf16 ? &neon_bf16 : &neon;
        out->best = CPU_ISA_NEON;
        out->bf16_gemm = bf16;
    }
    out->bf16_feature = "FEAT_BF16";
    out->bf16_insn = "BFDOT";
    if (hw & HWCAP_ASIMDHP_BIT)
        add_flag(out->flags, sizeof out->flags, "fp16");
    if (hw2 & HWCAP2_BF16_BIT)
        add_flag(out->flags, sizeof out->flags, "bf16");
    if (hw & HWCAP_ASIMDDP_BIT)
        add_flag(out->flags, sizeof out->flags, "dotprod");
    if (hw2 & HWCAP2_I8MM_BIT)
        add_flag(out->flags, sizeof out->flags, "i8mm");
    if (hw & HWCAP_SVE_BIT)
        add_flag(out->flags, sizeof out->flags, "sve");
}

void cpu_relax(void)
{
    __asm__ volatile("yield" ::: "memory");
}
