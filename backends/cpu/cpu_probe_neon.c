/*
 * cpu_probe_neon.c — the two loops the precision probe times on NEON with
 * FEAT_BF16 (cpu_precision.c does the timing and the decision): BFDOT
 * against FMLA on the same 128-bit width, as bench/fmapeak.c measures the
 * FMA peak on x86.
 *
 * Sixteen independent accumulator chains in each, written out as named
 * variables so they stay in registers; every chain starts from its own
 * value (or the compiler may merge identical chains), and the values stay
 * far from overflow and from subnormals.
 */
#if !defined(__aarch64__)
#error "cpu_probe_neon.c is built for aarch64 only (meson picks the ISA files)"
#endif

#include "cpu_neon.h"

#define CPU_BF16 __attribute__((target("arch=armv8.2-a+bf16")))

#define ALL16(X)                                                                               \
    X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define DECL(i) float32x4_t c##i = vdupq_n_f32(0.25f + 0.01f * (float)(i));
#define SUM(i) s = vaddq_f32(s, c##i);

/* n iterations of 16 chains c = c + a * b (FMLA): 16 x 4 x n products. */
float cpu_probe_f32_neon(int64_t n)
{
    const float32x4_t a = vdupq_n_f32(0.999f), b = vdupq_n_f32(0.001f);
#define STEP(i) c##i = vfmaq_f32(b, c##i, a);
    ALL16(DECL)
    for (int64_t it = 0; it < n; it++) {
        ALL16(STEP)
    }
#undef STEP
    float32x4_t s = vdupq_n_f32(0.0f);
    ALL16(SUM)
    return vaddvq_f32(s);
}

/* n iterations of 16 chains c += a . b over bf16 pairs (BFDOT): 16 x 8 x n
 * products, twice FMLA's per instruction. The products are 1e-6: a chain
 * grows by 2e-6 per step from 0.25. */
CPU_BF16 float cpu_probe_bf16_neon(int64_t n)
{
    const bfloat16x8_t a = vcvtq_high_bf16_f32(vcvtq_low_bf16_f32(vdupq_n_f32(1e-3f)),
                                               vdupq_n_f32(1e-3f));
#define STEP(i) c##i = vbfdotq_f32(c##i, a, a);
    ALL16(DECL)
    for (int64_t it = 0; it < n; it++) {
        ALL16(STEP)
    }
#undef STEP
    float32x4_t s = vdupq_n_f32(0.0f);
    ALL16(SUM)
    return vaddvq_f32(s);
}
