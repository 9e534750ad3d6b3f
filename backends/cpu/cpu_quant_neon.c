/*
 * cpu_quant_neon.c — NEON bodies for q8_0 and q4_0 weights: the decode
 * GEMV (f32 activations) and the dequantisation of a row. q4_K and q6_K
 * run the portable loops at this level, and so does q8_act (no int8
 * kernels here: the baseline ARMv8.0 has no dot-product instruction, and
 * the level must run on a Cortex-A53).
 *
 * Sections:
 *   1. helpers: the f16 scale, 16 signed bytes to four f32 vectors
 *   2. one weight row against one row of activations, per dtype
 *   3. the GEMV and the dequantisation of a row
 */
#if !defined(__aarch64__)
#error "cpu_quant_neon.c is built for aarch64 only (meson picks the ISA files)"
#endif

#include <string.h>

#include "cpu_neon.h"

/* ---------------------------------------------------------------- 1 ---- */

static inline float f16_at(const uint8_t *p)
{
    __fp16 h;
    memcpy(&h, p, 2);
    return (float)h; /* FCVT: exact */
}

/* 16 signed bytes as 4 x 4 f32, in order. */
static inline void s8x16_ps(int8x16_t q, float32x4_t w[4])
{
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
    w[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
    w[1] = vcvtq_f32_s32(vmovl_high_s16(lo));
    w[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
    w[3] = vcvtq_f32_s32(vmovl_high_s16(hi));
}

/* Σ x[i] * q[i] over 16 lanes, added into acc (4 partial sums). */
static inline float32x4_t dot16(float32x4_t acc, const float *x, int8x16_t q)
{
    float32x4_t w[4];
    s8x16_ps(q, w);
    acc = vfmaq_f32(acc, vld1q_f32(x), w[0]);
    acc = vfmaq_f32(acc, vld1q_f32(x + 4), w[1]);
    acc = vfmaq_f32(acc, vld1q_f32(x + 8), w[2]);
    return vfmaq_f32(acc, vld1q_f32(x + 12), w[3]);
}

/* q4_0's 16 bytes as its 32 quants - 8: the low nibbles (elements 0-15)
 * and the high ones (16-31). */
static inline void q4_0_quants(const uint8_t *p, int8x16_t *lo, int8x16_t *hi)
{
    const uint8x16_t v = vld1q_u8(p);
    const int8x16_t e8 = vdupq_n_s8(8);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))), e8);
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), e8);
}

/* ---------------------------------------------------------------- 2 ---- */

static float dot_q8_0(const float *x, const uint8_t *row, int64_t nb)
{
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 34 * b;
        float32x4_t s = dot16(vdupq_n_f32(0.0f), x + 32 * b, vld1q_s8((const int8_t *)(p + 2)));
        s = dot16(s, x + 32 * b + 16, vld1q_s8((const int8_t *)(p + 18)));
        acc = vfmaq_n_f32(acc, s, f16_at(p));
    }
    return vaddvq_f32(acc);
}

static float dot_q4_0(const float *x, const uint8_t *row, int64_t nb)
{
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 18 * b;
        int8x16_t lo, hi;
        q4_0_quants(p + 2, &lo, &hi);
        float32x4_t s = dot16(vdupq_n_f32(0.0f), x + 32 * b, lo);
        s = dot16(s, x + 32 * b + 16, hi);
        acc = vfmaq_n_f32(acc, s, f16_at(p));
    }
    return vaddvq_f32(acc);
}

/* ---------------------------------------------------------------- 3 ---- */

#define BLOCK_GEMV(NAME, DOT)                                                              \
    void NAME(const mm_problem *p, int64_t n0, int64_t n1)                                 \
    {                                                                                      \
        const int64_t nb = p->k / 32;                                                      \
        for (int64_t n = n0; n < n1; n++) {                                                \
            const uint8_t *row = p->w + n * p->ldw;                                        \
            for (int64_t i = 0; i < p->m; i++)                                             \
                ((float *)(p->out + i * p->ldo))[n] =                                      \
                    DOT((const float *)(p->a + i * p->lda), row, nb);                      \
        }                                                                                  \
    }
BLOCK_GEMV(cpu_gemv_q8_0_neon, dot_q8_0)
BLOCK_GEMV(cpu_gemv_q4_0_neon, dot_q4_0)
#undef BLOCK_GEMV

/* (float)q * d, a product of its own (no fused multiply-add): the bits of
 * plinth_dequant_block. */
static inline void store16(float *dst, int8x16_t q, float d)
{
    float32x4_t w[4];
    s8x16_ps(q, w);
    for (int j = 0; j < 4; j++)
        vst1q_f32(dst + 4 * j, vmulq_n_f32(w[j], d));
}

void cpu_dequant_q8_0_neon(const uint8_t *src, float *dst, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++, src += 34, dst += 32) {
        const float d = f16_at(src);
        store16(dst, vld1q_s8((const int8_t *)(src + 2)), d);
        store16(dst + 16, vld1q_s8((const int8_t *)(src + 18)), d);
    }
}

void cpu_dequant_q4_0_neon(const uint8_t *src, float *dst, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++, src += 18, dst += 32) {
        int8x16_t lo, hi;
        q4_0_quants(src + 2, &lo, &hi);
        const float d = f16_at(src);
        store16(dst, lo, d);
        store16(dst + 16, hi, d);
    }
}
