/*
 * cpu_rowwise_neon.c — the NEON kernels that work a row at a time:
 * elementwise ops, rms_norm, rope, and attention's inner loops. The same
 * arithmetic as the AVX-512 ones (cpu_rowwise_x86.c), 4 lanes wide; tails
 * go through partial loads and stores, never past the row.
 *
 * Sections:
 *   1. elementwise: add sub mul div, scale gelu_tanh silu, gelu(a) * b
 *   2. rms_norm
 *   3. rope
 *   4. attention: q . k and acc * c + p * v (decode), the online softmax
 *      of one row of a score block (flash attention, prefill)
 *
 * add/sub/mul/div are one correctly rounded f32 operation (FDIV too):
 * bit-identical to ref. gelu and silu are x / (1 + e^-z) with v4_exp.
 */
#if !defined(__aarch64__)
#error "cpu_rowwise_neon.c is built for aarch64 only (meson picks the ISA files)"
#endif

#include <math.h>

#include "cpu_neon.h"

/* ---------------------------------------------------------------- 1 ---- */

static inline float32x4_t unary4(uint32_t op, float32x4_t x, float32x4_t s)
{
    if (op == PLINTH_OP_SCALE)
        return vmulq_f32(x, s);
    float32x4_t z = x; /* silu */
    if (op != PLINTH_OP_SILU) {
        const float32x4_t x3 = vmulq_f32(vmulq_f32(x, x), x);
        z = vmulq_f32(vdupq_n_f32(1.5957691216057308f),
                      vfmaq_f32(x, vdupq_n_f32(0.044715f), x3));
    }
    const float32x4_t e = v4_exp(vnegq_f32(z));
    return vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0f), e));
}

static inline float32x4_t binary4(uint32_t op, float32x4_t a, float32x4_t b)
{
    switch (op) {
    case PLINTH_OP_ADD: return vaddq_f32(a, b);
    case PLINTH_OP_SUB: return vsubq_f32(a, b);
    case PLINTH_OP_MUL: return vmulq_f32(a, b);
    case PLINTH_OP_DIV: return vdivq_f32(a, b);
    default: return vmulq_f32(unary4(PLINTH_OP_GELU_TANH, a, a), b);
    }
}

void cpu_ew_row_neon(uint32_t op, float sc, float *o, const float *a, const float *b, bool a_bc,
                     bool b_bc, int64_t n)
{
    const float32x4_t s = vdupq_n_f32(sc);
    const bool unary = op == PLINTH_OP_SCALE || op == PLINTH_OP_GELU_TANH ||
                       op == PLINTH_OP_SILU;
    const float32x4_t av = a_bc ? vdupq_n_f32(a[0]) : s, bv = b && b_bc ? vdupq_n_f32(b[0]) : s;
    for (int64_t i = 0; i < n; i += 4) {
        const int64_t m = n - i;
        const float32x4_t x = a_bc ? av : v4_load_n(a + i, PLINTH_F32, m);
        float32x4_t r;
        if (unary)
            r = unary4(op, x, s);
        else
            r = binary4(op, x, b_bc ? bv : v4_load_n(b + i, PLINTH_F32, m));
        v4_store_n(o + i, r, m);
    }
}

/* ---------------------------------------------------------------- 2 ---- */

void cpu_norm_row_neon(float *o, const float *x, const uint8_t *w, int32_t wdt, const float *mul,
                       int64_t n, float eps)
{
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float32x4_t v0 = vld1q_f32(x + i), v1 = vld1q_f32(x + i + 4);
        acc0 = vfmaq_f32(acc0, v0, v0);
        acc1 = vfmaq_f32(acc1, v1, v1);
    }
    for (; i < n; i += 4) {
        const float32x4_t v = v4_load_n(x + i, PLINTH_F32, n - i);
        acc0 = vfmaq_f32(acc0, v, v);
    }
    const double ss = vaddvq_f32(vaddq_f32(acc0, acc1));
    const float32x4_t inv = vdupq_n_f32((float)(1.0 / sqrt(ss / (double)n + eps)));
    const size_t ws = plinth_dtype_bytes(wdt);
    for (i = 0; i < n; i += 4) {
        const int64_t m = n - i;
        float32x4_t v = vmulq_f32(v4_load_n(x + i, PLINTH_F32, m), inv);
        if (w)
            v = vmulq_f32(v, v4_load_n(w + i * (int64_t)ws, wdt, m));
        if (mul)
            v = vmulq_f32(v, v4_load_n(mul + i, PLINTH_F32, m));
        v4_store_n(o + i, v, m);
    }
}

/* ---------------------------------------------------------------- 3 ---- */

/* x0*c - x1*s with each product rounded on its own (no FMA), as ref. */
int64_t cpu_rope_row_neon(const float *x, float *o, const float *cs, int64_t half)
{
    int64_t i = 0;
    for (; i + 4 <= half; i += 4) {
        const float32x4_t x0 = vld1q_f32(x + i), x1 = vld1q_f32(x + half + i);
        const float32x4_t c = vld1q_f32(cs + i), s = vld1q_f32(cs + half + i);
        const float32x4_t r0 = vsubq_f32(vmulq_f32(x0, c), vmulq_f32(x1, s));
        const float32x4_t r1 = vaddq_f32(vmulq_f32(x1, c), vmulq_f32(x0, s));
        vst1q_f32(o + i, r0);
        vst1q_f32(o + half + i, r1);
    }
    return i;
}

/* ---------------------------------------------------------------- 4 ---- */

float cpu_dot_neon(const float *q, const uint8_t *k, int32_t kdt, int64_t d)
{
    const int64_t es = (int64_t)plinth_dtype_bytes(kdt);
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= d; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(q + i), v4_load(k + i * es, kdt));
        s1 = vfmaq_f32(s1, vld1q_f32(q + i + 4), v4_load(k + (i + 4) * es, kdt));
        s2 = vfmaq_f32(s2, vld1q_f32(q + i + 8), v4_load(k + (i + 8) * es, kdt));
        s3 = vfmaq_f32(s3, vld1q_f32(q + i + 12), v4_load(k + (i + 12) * es, kdt));
    }
    for (; i < d; i += 4)
        s0 = vfmaq_f32(s0, v4_load_n(q + i, PLINTH_F32, d - i), v4_load_n(k + i * es, kdt, d - i));
    return vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
}

void cpu_axpy_neon(float *acc, float c, float p, const uint8_t *v, int32_t vdt, int64_t d)
{
    const int64_t es = (int64_t)plinth_dtype_bytes(vdt);
    const float32x4_t cv = vdupq_n_f32(c), pv = vdupq_n_f32(p);
    for (int64_t i = 0; i < d; i += 4) {
        const int64_t m = d - i;
        const float32x4_t a = vmulq_f32(v4_load_n(acc + i, PLINTH_F32, m), cv);
        v4_store_n(acc + i, vfmaq_f32(a, pv, v4_load_n(v + i * es, vdt, m)), m);
    }
}

float cpu_fa_softmax_neon(float *s, int64_t nbp, int64_t j0, int64_t lo, int64_t hi, float scale,
                          float *mx, float *sum)
{
    static const int32_t lane[4] = {0, 1, 2, 3};
    const int32x4_t lanes = vld1q_s32(lane), vlo = vdupq_n_s32((int32_t)lo),
                    vhi = vdupq_n_s32((int32_t)hi);
    const float32x4_t ninf = vdupq_n_f32(-INFINITY), vsc = vdupq_n_f32(scale);
    float32x4_t vmax = ninf;
    for (int64_t c = 0; c < nbp; c += 4) {
        const int32x4_t key = vaddq_s32(vdupq_n_s32((int32_t)(j0 + c)), lanes);
        const uint32x4_t ok = vandq_u32(vcgeq_s32(key, vlo), vcltq_s32(key, vhi));
        const float32x4_t v = vbslq_f32(ok, vmulq_f32(vld1q_f32(s + c), vsc), ninf);
        vst1q_f32(s + c, v);
        /* maxNum drops NaN scores here; exp(NaN) brings them back below */
        vmax = vmaxnmq_f32(vmax, v);
    }
    const float bmax = vmaxnmvq_f32(vmax);
    const float bm = bmax > *mx ? bmax : *mx;
    if (bm == -INFINITY) { /* every key of this block masked for this row */
        for (int64_t c = 0; c < nbp; c += 4)
            vst1q_f32(s + c, vdupq_n_f32(0.0f));
        return 1.0f;
    }
    const float corr = *mx == -INFINITY ? 0.0f : expf(*mx - bm);
    const float32x4_t vbm = vdupq_n_f32(bm);
    float32x4_t vs = vdupq_n_f32(0.0f);
    for (int64_t c = 0; c < nbp; c += 4) {
        const float32x4_t ev = v4_exp(vsubq_f32(vld1q_f32(s + c), vbm));
        vs = vaddq_f32(vs, ev);
        vst1q_f32(s + c, ev);
    }
    *sum = *sum * corr + vaddvq_f32(vs);
    *mx = bm;
    return corr;
}
