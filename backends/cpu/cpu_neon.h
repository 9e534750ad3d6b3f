/*
 * cpu_neon.h — the NEON kernels (cpu_matmul_neon.c, cpu_rowwise_neon.c,
 * cpu_matmul_neon_bf16.c), declared for the tables of cpu_isa_arm.c, and
 * the small helpers the files share. Each kernel implements the
 * cpu_kernels slot of the same name (cpu_kernels.h says what it must
 * do). aarch64 only: NEON (Advanced
 * SIMD) is part of its baseline, and so are the conversions used here
 * (FCVTL widens f16; bf16 widens with a shift), so no target attribute is
 * needed but for the bf16_compute GEMM (armv8.2-a+bf16, used only where
 * the kernel reports FEAT_BF16).
 *
 * Sections:
 *   1. the kernels
 *   2. helpers: widening loads (whole and partial), exp, 4x4 transpose
 */
#ifndef PLINTH_CPU_NEON_H
#define PLINTH_CPU_NEON_H

#if !defined(__aarch64__)
#error "cpu_neon.h is for the aarch64 kernel files only"
#endif

#include <arm_neon.h>

#include "cpu_kernels.h"

/* ---------------------------------------------------------------- 1 ---- */

void cpu_gemv_neon(const mm_problem *p, int64_t n0, int64_t n1, int64_t pf_end);
/* cpu_probe_neon.c: the precision probe's loops (FMLA, BFDOT). */
float cpu_probe_f32_neon(int64_t n);
float cpu_probe_bf16_neon(int64_t n);
/* cpu_quant_neon.c: q8_0 and q4_0 weights (f32 activations). */
void cpu_gemv_q8_0_neon(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q4_0_neon(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_dequant_q8_0_neon(const uint8_t *src, float *dst, int64_t n);
void cpu_dequant_q4_0_neon(const uint8_t *src, float *dst, int64_t n);
void cpu_pack_a_neon(const mm_problem *p, int64_t blk, float *dst);
void cpu_pack_b_neon(const mm_problem *p, int64_t n0, float *dst);
void cpu_tile_neon(const float *ap, const float *bp, int64_t k, uint8_t *c, int64_t ldc,
                   int64_t mr, int64_t nr);
void cpu_tile_scale_neon(const float *ap, const float *bp, int64_t k, uint8_t *c, int64_t ldc,
                         int64_t mr, int64_t nr, const float *rs);
void cpu_pack_rows_neon(const float *const *rows, int nrows, int64_t k, float *dst);
/* cpu_matmul_neon_bf16.c: bf16_compute=1 through BFDOT (FEAT_BF16 only). */
void cpu_pack_a_bf16_neon(const mm_problem *p, int64_t blk, uint32_t *dst);
void cpu_pack_b_bf16_neon(const mm_problem *p, int64_t n0, uint32_t *dst);
void cpu_tile_bf16_neon(const uint32_t *ap, const uint32_t *bp, int64_t kp, uint8_t *c,
                        int64_t ldc, int64_t mr, int64_t nr);

void cpu_ew_row_neon(uint32_t op, float s, float *o, const float *a, const float *b, bool a_bc,
                     bool b_bc, int64_t n);
void cpu_norm_row_neon(float *o, const float *x, const uint8_t *w, int32_t wdt, const float *mul,
                       int64_t n, float eps);
int64_t cpu_rope_row_neon(const float *x, float *o, const float *cs, int64_t half);
float cpu_dot_neon(const float *q, const uint8_t *k, int32_t kdt, int64_t d);
void cpu_axpy_neon(float *acc, float c, float p, const uint8_t *v, int32_t vdt, int64_t d);
float cpu_fa_softmax_neon(float *s, int64_t nbp, int64_t j0, int64_t lo, int64_t hi,
                          float scale, float *mx, float *sum);

/* ---------------------------------------------------------------- 2 ---- */

/* 4 elements of dtype dt at p, as f32 (exact: bf16 is the top half of an
 * f32, FCVTL widens f16). */
static inline float32x4_t v4_load(const void *p, int32_t dt)
{
    if (dt == PLINTH_F32)
        return vld1q_f32((const float *)p);
    const uint16x4_t h = vld1_u16((const uint16_t *)p);
    if (dt == PLINTH_BF16)
        return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
    return vcvt_f32_f16(vreinterpret_f16_u16(h));
}

/* The same for n < 4 valid elements (the rest read as 0; nothing past
 * them is touched). */
static inline float32x4_t v4_load_n(const void *p, int32_t dt, int64_t n)
{
    if (n >= 4)
        return v4_load(p, dt);
    float t[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < n; i++)
        t[i] = cpu_load_f((const uint8_t *)p, dt, i);
    return vld1q_f32(t);
}

/* Stores the first n (< 4 allowed) lanes of v at o. */
static inline void v4_store_n(float *o, float32x4_t v, int64_t n)
{
    if (n >= 4) {
        vst1q_f32(o, v);
        return;
    }
    float t[4];
    vst1q_f32(t, v);
    for (int64_t i = 0; i < n; i++)
        o[i] = t[i];
}

/* e^x, ~1 ulp: the Cephes expf polynomial of the AVX-512 kernels. 2^n is
 * applied in two halves (each a normal power of two for every n the
 * clamp allows), so overflow gives inf and underflow rounds gradually to
 * 0 as with scalef; NaN propagates (FMAX/FMIN keep it). */
static inline float32x4_t v4_exp(float32x4_t x)
{
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-104.0f)), vdupq_n_f32(89.0f));
    const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500E-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507E-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073E-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894E-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459E-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201E-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), vmulq_f32(p, r), r);
    const int32x4_t ni = vcvtq_s32_f32(n);
    const int32x4_t n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
    const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, vdupq_n_s32(127)), 23));
    const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, vdupq_n_s32(127)), 23));
    return vmulq_f32(vmulq_f32(p, s1), s2);
}

/* r[0..3] rows in, columns out: r[c] lane i = old r[i] lane c (the
 * packing of A and B panels: f32 or bf16 pairs alike). */
static inline void transpose4(float32x4_t r[4])
{
    const float32x4x2_t t01 = vtrnq_f32(r[0], r[1]), t23 = vtrnq_f32(r[2], r[3]);
    r[0] = vcombine_f32(vget_low_f32(t01.val[0]), vget_low_f32(t23.val[0]));
    r[1] = vcombine_f32(vget_low_f32(t01.val[1]), vget_low_f32(t23.val[1]));
    r[2] = vcombine_f32(vget_high_f32(t01.val[0]), vget_high_f32(t23.val[0]));
    r[3] = vcombine_f32(vget_high_f32(t01.val[1]), vget_high_f32(t23.val[1]));
}

#endif /* PLINTH_CPU_NEON_H */
