/*
 * cpu_matmul_neon_bf16.c — bf16_compute=1 on aarch64 CPUs with FEAT_BF16
 * (HWCAP2_BF16): the prefill GEMM on bf16 pairs through BFDOT, the
 * counterpart of x86's vdpbf16ps path and as inexact (the activations are
 * rounded to bf16 when A is packed; the weights are bf16 already).
 *
 * Sections:
 *   1. packing into pairs: A rounded with BFCVTN (round to nearest even)
 *      as dst[ceil(k/2)][12], B from [N][K] bf16 weights as [ceil(k/2)][32]
 *      (a pair is one u32, the even k in its low half), through the 4x4
 *      transpose
 *   2. the 12 x 32 tile on pairs: four 12 x 8 strips, 24 accumulators,
 *      BFDOT by lane (each row's pair broadcast from the A vector)
 *
 * Only these functions carry the armv8.2-a+bf16 target; cpu_isa_arm.c
 * puts them in the table only when the kernel reports the extension.
 */
#if !defined(__aarch64__)
#error "cpu_matmul_neon_bf16.c is built for aarch64 only (meson picks the ISA files)"
#endif

#include <string.h>

#include "cpu_neon.h"

#define CPU_BF16 __attribute__((target("arch=armv8.2-a+bf16")))

/* ---------------------------------------------------------------- 1 ---- */

/* f32 x[kk .. kk+8) (0 past k) rounded to 4 bf16 pairs, as the u32 lanes
 * of a float vector (so that transpose4 moves them). */
CPU_BF16 static inline float32x4_t round_pairs(const float *x, int64_t kk, int64_t k)
{
    const float32x4_t z = vdupq_n_f32(0.0f);
    const float32x4_t lo = kk < k ? v4_load_n(x + kk, PLINTH_F32, k - kk) : z;
    const float32x4_t hi = kk + 4 < k ? v4_load_n(x + kk + 4, PLINTH_F32, k - kk - 4) : z;
    return vreinterpretq_f32_bf16(vcvtq_high_bf16_f32(vcvtq_low_bf16_f32(lo), hi));
}

CPU_BF16 void cpu_pack_a_bf16_neon(const mm_problem *p, int64_t blk, uint32_t *dst)
{
    const int64_t i0 = blk * CPU_MR, kp = (p->k + 1) / 2;
    const int rows = p->m - i0 < CPU_MR ? (int)(p->m - i0) : CPU_MR;
    for (int64_t u = 0; u < kp; u += 4) { /* 4 pairs = 8 k */
        const int64_t un = kp - u >= 4 ? 4 : kp - u;
        for (int g = 0; g < CPU_MR; g += 4) {
            float32x4_t r[4];
            for (int i = 0; i < 4; i++)
                r[i] = g + i < rows
                           ? round_pairs((const float *)(p->a + (i0 + g + i) * p->lda), 2 * u, p->k)
                           : vdupq_n_f32(0.0f);
            transpose4(r);
            for (int c = 0; c < un; c++)
                vst1q_f32((float *)(dst + (u + c) * CPU_MR + g), r[c]);
        }
    }
}

/* 4 pairs of bf16 row w from pair u (k = 2u ..), zero past k: never reads
 * past the row's last element. */
static inline float32x4_t row_pairs(const uint8_t *w, int64_t u, int64_t k)
{
    const int64_t have = k - 2 * u; /* bf16 elements left in the row */
    if (have >= 8)
        return vld1q_f32((const float *)(w + 4 * u));
    uint16_t t[8] = {0};
    memcpy(t, w + 4 * u, (size_t)(have > 0 ? have : 0) * 2);
    return vreinterpretq_f32_u16(vld1q_u16(t));
}

/* Columns n0 .. n0+32 of [N][K] bf16 weights as pairs dst[ceil(k/2)][32]
 * (columns past n zero): exact, no arithmetic, so no bf16 target needed. */
void cpu_pack_b_bf16_neon(const mm_problem *p, int64_t n0, uint32_t *dst)
{
    const int64_t kp = (p->k + 1) / 2, nv = p->n - n0;
    for (int g = 0; g < CPU_NR; g += 4) {
        for (int64_t u = 0; u < kp; u += 4) {
            const int64_t un = kp - u >= 4 ? 4 : kp - u;
            float32x4_t r[4];
            for (int j = 0; j < 4; j++)
                r[j] = g + j < nv ? row_pairs(p->w + (n0 + g + j) * p->ldw, u, p->k)
                                  : vdupq_n_f32(0.0f);
            transpose4(r);
            for (int c = 0; c < un; c++)
                vst1q_f32((float *)(dst + (u + c) * CPU_NR + g), r[c]);
        }
    }
}

/* ---------------------------------------------------------------- 2 ---- */

CPU_BF16 static inline __attribute__((always_inline)) void
strip_bf16(const uint32_t *ap, const uint32_t *bp, int64_t kp, uint8_t *c, int64_t ldc,
           int64_t mr, int64_t nc)
{
#define Z(i) float32x4_t c##i##a = vdupq_n_f32(0.0f), c##i##b = c##i##a;
    Z(0) Z(1) Z(2) Z(3) Z(4) Z(5) Z(6) Z(7) Z(8) Z(9) Z(10) Z(11)
#undef Z
    for (int64_t u = 0; u < kp; u++) {
        const bfloat16x8_t a0 = vreinterpretq_bf16_u32(vld1q_u32(ap)),
                           a1 = vreinterpretq_bf16_u32(vld1q_u32(ap + 4)),
                           a2 = vreinterpretq_bf16_u32(vld1q_u32(ap + 8));
        const bfloat16x8_t b0 = vreinterpretq_bf16_u32(vld1q_u32(bp)),
                           b1 = vreinterpretq_bf16_u32(vld1q_u32(bp + 4));
#define S(i, A, L)                                         \
    c##i##a = vbfdotq_laneq_f32(c##i##a, b0, A, L);        \
    c##i##b = vbfdotq_laneq_f32(c##i##b, b1, A, L);
        S(0, a0, 0) S(1, a0, 1) S(2, a0, 2) S(3, a0, 3)
        S(4, a1, 0) S(5, a1, 1) S(6, a1, 2) S(7, a1, 3)
        S(8, a2, 0) S(9, a2, 1) S(10, a2, 2) S(11, a2, 3)
#undef S
        ap += CPU_MR;
        bp += CPU_NR;
    }
#define W(i)                                                                               \
    if (i < mr) {                                                                          \
        float *o = (float *)(c + (i) * ldc);                                               \
        v4_store_n(o, c##i##a, nc);                                                        \
        if (nc > 4)                                                                        \
            v4_store_n(o + 4, c##i##b, nc - 4);                                            \
    }
    W(0) W(1) W(2) W(3) W(4) W(5) W(6) W(7) W(8) W(9) W(10) W(11)
#undef W
}

CPU_BF16 void cpu_tile_bf16_neon(const uint32_t *ap, const uint32_t *bp, int64_t kp, uint8_t *c,
                                 int64_t ldc, int64_t mr, int64_t nr)
{
    for (int64_t s = 0; s < nr; s += 8)
        strip_bf16(ap, bp + s, kp, c + s * 4, ldc, mr, nr - s >= 8 ? 8 : nr - s);
}
