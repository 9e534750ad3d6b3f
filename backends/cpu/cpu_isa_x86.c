/*
 * cpu_isa_x86.c — what this x86-64 CPU and its OS let us run, and the
 * kernel tables of its levels (AVX-512, AVX2).
 *
 * Sections:
 *   1. cpuid and xgetbv
 *   2. the tables: which kernels each level has (cpu_x86.h)
 *   3. the levels this machine runs; the spin-wait hint (cpu_pool.c)
 *
 * A CPU flag alone is not enough: the OS must save the ymm/zmm state on a
 * context switch (XCR0), or the first AVX instruction faults.
 */
#if !defined(__x86_64__)
#error "cpu_isa_x86.c is built for x86-64 only (meson picks the ISA files)"
#endif

#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_x86.h"

/* ---------------------------------------------------------------- 1 ---- */

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

typedef struct x86_features {
    bool avx2_fma; /* AVX2 + FMA + F16C with OS ymm state */
    bool avx512;   /* AVX-512 F/BW/VL/DQ with OS zmm state */
    bool avx512_vnni;
    bool avx512_bf16;
} x86_features;

static void detect(x86_features *out)
{
    *out = (x86_features){0};
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
    out->avx512_vnni = out->avx512 && (c & (1u << 11));
    unsigned a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    out->avx512_bf16 = out->avx512 && (a1 & (1u << 5));
#if defined(PLINTH_CPU_EMULATE_AVX512)
    /* the test build (cpu_simd_x86.h): AVX-512 wherever AVX2 is, with
     * VNNI and bf16 unless PLINTH_CPU_EMULATE=skx (a Skylake-X) */
    const char *emu = getenv("PLINTH_CPU_EMULATE");
    const bool skx = emu && !strcmp(emu, "skx");
    out->avx512 = out->avx2_fma;
    out->avx512_vnni = out->avx512_bf16 = out->avx512 && !skx;
#endif
}

/* ---------------------------------------------------------------- 2 ---- */

/* Block-dtype weights at AVX2. */
#define BLOCK_SLOTS_AVX2                                                                       \
    .gemv_block = {cpu_gemv_q8_0_avx2, cpu_gemv_q4_0_avx2, cpu_gemv_q4_K_avx2,                 \
                   cpu_gemv_q6_K_avx2},                                                        \
    .dequant_row = {cpu_dequant_q8_0_avx2, cpu_dequant_q4_0_avx2, cpu_dequant_q4_K_avx2,       \
                    cpu_dequant_q6_K_avx2},                                                    \
    .gemv_block_q8 = {cpu_gemv_q8_0_q8_avx2, cpu_gemv_q4_0_q8_avx2, cpu_gemv_q4_K_q8_avx2,     \
                      cpu_gemv_q6_K_q8_avx2},                                                  \
    .quantize_q8 = cpu_quantize_q8_avx2,                                                      \
    .gemv_x8_q8 = {cpu_gemv_q8_0x8_q8_avx2, cpu_gemv_q4_0x8_q8_avx2, cpu_gemv_q4_Kx8_q8_avx2, NULL}

/* AVX2: every slot but the bf16 GEMM, 8 lanes wide. */
static const cpu_kernels avx2 = {
    .isa = CPU_ISA_AVX2,
    .gemv = cpu_gemv_avx2,
    .pack_a = cpu_pack_a_avx2,
    .pack_b = cpu_pack_b_avx2,
    .tile = cpu_tile_avx2,
    .tile_scale = cpu_tile_scale_avx2,
    .pack_rows = cpu_pack_rows_avx2,
    .ew_row = cpu_ew_row_avx2,
    .norm_row = cpu_norm_row_avx2,
    .rope_row = cpu_rope_row_avx2,
    .dot = cpu_dot_avx2,
    .axpy = cpu_axpy_avx2,
    .fa_softmax = cpu_fa_softmax_avx2,
    BLOCK_SLOTS_AVX2,
};

/* AVX-512: every slot; the packed int8 GEMVs with vpdpbusd where the CPU
 * has VNNI (X8 = avx512vnni) and without (avx512); the bf16 ones only
 * where it has avx512_bf16. Four tables, one per combination, chosen in
 * cpu_arch_detect. The unpacked int8 GEMVs of q8_0, q4_0 and q4_K stay
 * AVX2's: they run only where those weights are not packed. */
#define AVX512_SLOTS(X8)                                                                       \
    .isa = CPU_ISA_AVX512, .gemv = cpu_gemv_avx512, .pack_a = cpu_pack_a_avx512,               \
    .pack_b = cpu_pack_b_avx512, .tile = cpu_tile_avx512, .tile_scale = cpu_tile_scale_avx512, \
    .pack_rows = cpu_pack_rows_avx512, .pack_b_pairs = cpu_pack_b_pairs_avx512,                \
    .tile_pairs = cpu_tile_pairs_avx512, .gemv_pairs = cpu_gemv_pairs_avx512,                  \
    .gemv_panels = cpu_gemv_panels_avx512,                                                     \
    .ew_row = cpu_ew_row_avx512,                                                               \
    .norm_row = cpu_norm_row_avx512, .rope_row = cpu_rope_row_avx512,                          \
    .dot = cpu_dot_avx512, .axpy = cpu_axpy_avx512, .fa_softmax = cpu_fa_softmax_avx512,     \
    .gemv_block = {cpu_gemv_q8_0_avx512, cpu_gemv_q4_0_avx512, cpu_gemv_q4_K_avx512,           \
                   cpu_gemv_q6_K_avx512},                                                      \
    .dequant_row = {cpu_dequant_q8_0_avx512, cpu_dequant_q4_0_avx512,                          \
                    cpu_dequant_q4_K_avx512, cpu_dequant_q6_K_avx512},                         \
    .gemv_block_q8 = {cpu_gemv_q8_0_q8_avx2, cpu_gemv_q4_0_q8_avx2, cpu_gemv_q4_K_q8_avx2,     \
                      cpu_gemv_q6_K_q8_avx512},                                                \
    .quantize_q8 = cpu_quantize_q8_avx512,                                                    \
    .gemv_x8_q8 = {cpu_gemv_q8_0x8_q8_##X8, cpu_gemv_q4_0x8_q8_##X8,                           \
                   cpu_gemv_q4_Kx8_q8_##X8, NULL}
#define BF16_SLOTS                                                                             \
    .pack_a_bf16 = cpu_pack_a_bf16, .pack_b_bf16 = cpu_pack_b_pairs_avx512, .tile_bf16 = cpu_tile_bf16, \
    .probe_f32 = cpu_probe_f32_avx512, .probe_bf16 = cpu_probe_bf16_avx512
static const cpu_kernels avx512 = {AVX512_SLOTS(avx512)};
static const cpu_kernels avx512_vnni = {AVX512_SLOTS(avx512vnni)};
static const cpu_kernels avx512_bf16 = {AVX512_SLOTS(avx512), BF16_SLOTS};
static const cpu_kernels avx512_vnni_bf16 = {AVX512_SLOTS(avx512vnni), BF16_SLOTS};
#undef AVX512_SLOTS
#undef BF16_SLOTS
#undef BLOCK_SLOTS_AVX2

/* ---------------------------------------------------------------- 3 ---- */

void cpu_arch_detect(cpu_arch *out)
{
    *out = (cpu_arch){.best = CPU_ISA_SCALAR};
    out->level[CPU_ISA_SCALAR] = &cpu_kernels_scalar;
    x86_features f;
    detect(&f);
    if (f.avx2_fma) {
        out->level[CPU_ISA_AVX2] = &avx2;
        out->best = CPU_ISA_AVX2;
    }
    if (f.avx512) {
        static const cpu_kernels *const table[2][2] = {{&avx512, &avx512_bf16},
                                                       {&avx512_vnni, &avx512_vnni_bf16}};
        out->level[CPU_ISA_AVX512] = table[f.avx512_vnni][f.avx512_bf16];
        out->best = CPU_ISA_AVX512;
        out->bf16_gemm = f.avx512_bf16;
    }
    snprintf(out->flags, sizeof out->flags, "%s%s%s", f.avx512_vnni ? "avx512_vnni" : "",
             f.avx512_vnni && f.avx512_bf16 ? " " : "", f.avx512_bf16 ? "avx512_bf16" : "");
    out->bf16_feature = "avx512_bf16";
    out->bf16_insn = "vdpbf16ps";
}

void cpu_relax(void)
{
    __builtin_ia32_pause(); /* PAUSE: let the other hyperthread run */
}
