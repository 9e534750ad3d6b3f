/*
 * cpu_matmul_neon.c — the NEON bodies of matmul.
 *
 * Sections:
 *   1. GEMV: 4 weight rows at a time, 2 accumulators each, one loop per
 *      weight dtype (8 bf16 or f16 weights per 16-byte load, widened in
 *      registers: exact)
 *   2. GEMM packing: 4x4 register transposes into the shared layout
 *      (cpu_kernels.h: A [k][12], B [k][32])
 *   3. the 12 x 32 tile, as four 12 x 8 strips: 24 accumulators, 3
 *      vectors of A and 2 of B, one FMA by lane per row (29 of the 32
 *      vector registers), and its rescale-and-accumulate twin
 *
 * Decode streams every weight byte once (read-bound), prefill packs B
 * once per panel and runs the tile at the FMA rate (compute-bound), as on
 * x86. No software prefetch: nothing here has been measured on an ARM
 * machine yet (the conformance suite proves it under qemu, which says
 * nothing of speed).
 */
#if !defined(__aarch64__)
#error "cpu_matmul_neon.c is built for aarch64 only (meson picks the ISA files)"
#endif

#include "cpu_neon.h"

/* ---------------------------------------------------------------- 1 ---- */

/* 8 elements of 16-bit dtype DT at p as two f32 vectors. */
#define LOAD8(p, DT, lo, hi)                                                                   \
    {                                                                                          \
        const uint16x8_t h_ = vld1q_u16((const uint16_t *)(p));                               \
        if ((DT) == PLINTH_BF16) {                                                             \
            lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h_), 16));                    \
            hi = vreinterpretq_f32_u32(vshll_high_n_u16(h_, 16));                              \
        } else {                                                                               \
            lo = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h_)));                        \
            hi = vcvt_high_f32_f16(vreinterpretq_f16_u16(h_));                                 \
        }                                                                                      \
    }

/* Four dot products of x with rows r[0..3] of dtype DT, length k. DT is a
 * constant at every call site, so each dtype gets its own loop. */
#define GEMV_KERNEL(NAME, DT, ES)                                                              \
    static void NAME(const float *x, const uint8_t *const r[4], int64_t k, float *res)        \
    {                                                                                          \
        float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;                        \
        float32x4_t b0 = a0, b1 = a0, b2 = a0, b3 = a0;                                        \
        int64_t i = 0;                                                                         \
        for (; i + 8 <= k; i += 8) {                                                           \
            const float32x4_t x0 = vld1q_f32(x + i), x1 = vld1q_f32(x + i + 4);               \
            float32x4_t w0, w1;                                                                \
            if ((DT) == PLINTH_F32) {                                                          \
                a0 = vfmaq_f32(a0, x0, vld1q_f32((const float *)r[0] + i));                   \
                b0 = vfmaq_f32(b0, x1, vld1q_f32((const float *)r[0] + i + 4));               \
                a1 = vfmaq_f32(a1, x0, vld1q_f32((const float *)r[1] + i));                   \
                b1 = vfmaq_f32(b1, x1, vld1q_f32((const float *)r[1] + i + 4));               \
                a2 = vfmaq_f32(a2, x0, vld1q_f32((const float *)r[2] + i));                   \
                b2 = vfmaq_f32(b2, x1, vld1q_f32((const float *)r[2] + i + 4));               \
                a3 = vfmaq_f32(a3, x0, vld1q_f32((const float *)r[3] + i));                   \
                b3 = vfmaq_f32(b3, x1, vld1q_f32((const float *)r[3] + i + 4));               \
                continue;                                                                      \
            }                                                                                  \
            LOAD8(r[0] + i * ES, DT, w0, w1)                                                   \
            a0 = vfmaq_f32(a0, x0, w0);                                                        \
            b0 = vfmaq_f32(b0, x1, w1);                                                        \
            LOAD8(r[1] + i * ES, DT, w0, w1)                                                   \
            a1 = vfmaq_f32(a1, x0, w0);                                                        \
            b1 = vfmaq_f32(b1, x1, w1);                                                        \
            LOAD8(r[2] + i * ES, DT, w0, w1)                                                   \
            a2 = vfmaq_f32(a2, x0, w0);                                                        \
            b2 = vfmaq_f32(b2, x1, w1);                                                        \
            LOAD8(r[3] + i * ES, DT, w0, w1)                                                   \
            a3 = vfmaq_f32(a3, x0, w0);                                                        \
            b3 = vfmaq_f32(b3, x1, w1);                                                        \
        }                                                                                      \
        for (; i < k; i += 4) {                                                                \
            const int64_t n = k - i;                                                           \
            const float32x4_t x0 = v4_load_n(x + i, PLINTH_F32, n);                            \
            a0 = vfmaq_f32(a0, x0, v4_load_n(r[0] + i * ES, DT, n));                           \
            a1 = vfmaq_f32(a1, x0, v4_load_n(r[1] + i * ES, DT, n));                           \
            a2 = vfmaq_f32(a2, x0, v4_load_n(r[2] + i * ES, DT, n));                           \
            a3 = vfmaq_f32(a3, x0, v4_load_n(r[3] + i * ES, DT, n));                           \
        }                                                                                      \
        res[0] = vaddvq_f32(vaddq_f32(a0, b0));                                                \
        res[1] = vaddvq_f32(vaddq_f32(a1, b1));                                                \
        res[2] = vaddvq_f32(vaddq_f32(a2, b2));                                                \
        res[3] = vaddvq_f32(vaddq_f32(a3, b3));                                                \
    }
GEMV_KERNEL(dot4_f32, PLINTH_F32, 4)
GEMV_KERNEL(dot4_bf16, PLINTH_BF16, 2)
GEMV_KERNEL(dot4_f16, PLINTH_F16, 2)
#undef GEMV_KERNEL
#undef LOAD8

void cpu_gemv_neon(const mm_problem *p, int64_t n0, int64_t n1, int64_t pf_end)
{
    (void)pf_end; /* no software prefetch (see the top of the file) */
    void (*dot4)(const float *, const uint8_t *const[4], int64_t, float *) =
        p->wdt == PLINTH_F32 ? dot4_f32 : p->wdt == PLINTH_BF16 ? dot4_bf16 : dot4_f16;
    for (int64_t n = n0; n < n1; n += 4) {
        const int nr = n1 - n >= 4 ? 4 : (int)(n1 - n);
        const uint8_t *r[4];
        for (int j = 0; j < 4; j++)
            r[j] = p->w + (n + (j < nr ? j : 0)) * p->ldw; /* tail: repeat a valid row */
        for (int64_t i = 0; i < p->m; i++) {
            float res[4];
            dot4((const float *)(p->a + i * p->lda), r, p->k, res);
            float *o = (float *)(p->out + i * p->ldo) + n;
            for (int j = 0; j < nr; j++)
                o[j] = res[j];
        }
    }
}

/* ---------------------------------------------------------------- 2 ---- */

void cpu_pack_rows_neon(const float *const *rows, int nrows, int64_t k, float *dst)
{
    for (int64_t kk = 0; kk < k; kk += 4) {
        const int64_t kn = k - kk >= 4 ? 4 : k - kk;
        for (int g = 0; g < CPU_MR; g += 4) {
            float32x4_t r[4];
            for (int i = 0; i < 4; i++)
                r[i] = g + i < nrows ? v4_load_n(rows[g + i] + kk, PLINTH_F32, kn)
                                     : vdupq_n_f32(0.0f);
            transpose4(r);
            for (int c = 0; c < kn; c++)
                vst1q_f32(dst + (kk + c) * CPU_MR + g, r[c]);
        }
    }
}

void cpu_pack_a_neon(const mm_problem *p, int64_t blk, float *dst)
{
    const int64_t i0 = blk * CPU_MR;
    const int rows = p->m - i0 < CPU_MR ? (int)(p->m - i0) : CPU_MR;
    const float *x[CPU_MR];
    for (int i = 0; i < rows; i++)
        x[i] = (const float *)(p->a + (i0 + i) * p->lda);
    cpu_pack_rows_neon(x, rows, p->k, dst);
}

/* Columns n0 .. n0+32 of w as dst[k][32] f32; columns past n are zero. */
void cpu_pack_b_neon(const mm_problem *p, int64_t n0, float *dst)
{
    const int64_t es = (int64_t)plinth_dtype_bytes(p->wdt), nv = p->n - n0;
    if (!p->tb) { /* rows of w are rows of the panel */
        for (int64_t kk = 0; kk < p->k; kk++) {
            const uint8_t *row = p->w + kk * p->ldw + n0 * es;
            for (int g = 0; g < CPU_NR; g += 4)
                vst1q_f32(dst + kk * CPU_NR + g,
                          g < nv ? v4_load_n(row + g * es, p->wdt, nv - g) : vdupq_n_f32(0.0f));
        }
        return;
    }
    for (int g = 0; g < CPU_NR; g += 4) { /* 4 weight rows -> 4 panel columns */
        for (int64_t kk = 0; kk < p->k; kk += 4) {
            const int64_t kn = p->k - kk >= 4 ? 4 : p->k - kk;
            float32x4_t r[4];
            for (int j = 0; j < 4; j++)
                r[j] = g + j < nv ? v4_load_n(p->w + (n0 + g + j) * p->ldw + kk * es, p->wdt, kn)
                                  : vdupq_n_f32(0.0f);
            transpose4(r);
            for (int c = 0; c < kn; c++)
                vst1q_f32(dst + (kk + c) * CPU_NR + g, r[c]);
        }
    }
}

/* ---------------------------------------------------------------- 3 ---- */

/* Strip s of the tile (columns 8s .. 8s+7): rs NULL at one call site and
 * not at the other, so each is compiled without the branch. */
static inline __attribute__((always_inline)) void
strip(const float *ap, const float *bp, int64_t k, uint8_t *c, int64_t ldc, int64_t mr,
      int64_t nc, const float *rs)
{
#define Z(i) float32x4_t c##i##a = vdupq_n_f32(0.0f), c##i##b = c##i##a;
    Z(0) Z(1) Z(2) Z(3) Z(4) Z(5) Z(6) Z(7) Z(8) Z(9) Z(10) Z(11)
#undef Z
    for (int64_t kk = 0; kk < k; kk++) {
        const float32x4_t a0 = vld1q_f32(ap), a1 = vld1q_f32(ap + 4), a2 = vld1q_f32(ap + 8);
        const float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4);
#define S(i, A, L)                                         \
    c##i##a = vfmaq_laneq_f32(c##i##a, b0, A, L);          \
    c##i##b = vfmaq_laneq_f32(c##i##b, b1, A, L);
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
        if (rs) {                                                                          \
            const float32x4_t r = vdupq_n_f32(rs[i]);                                      \
            c##i##a = vfmaq_f32(c##i##a, v4_load_n(o, PLINTH_F32, nc), r);                 \
            if (nc > 4)                                                                    \
                c##i##b = vfmaq_f32(c##i##b, v4_load_n(o + 4, PLINTH_F32, nc - 4), r);     \
        }                                                                                  \
        v4_store_n(o, c##i##a, nc);                                                        \
        if (nc > 4)                                                                        \
            v4_store_n(o + 4, c##i##b, nc - 4);                                            \
    }
    W(0) W(1) W(2) W(3) W(4) W(5) W(6) W(7) W(8) W(9) W(10) W(11)
#undef W
}

void cpu_tile_neon(const float *ap, const float *bp, int64_t k, uint8_t *c, int64_t ldc,
                   int64_t mr, int64_t nr)
{
    for (int64_t s = 0; s < nr; s += 8)
        strip(ap, bp + s, k, c + s * 4, ldc, mr, nr - s >= 8 ? 8 : nr - s, NULL);
}

void cpu_tile_scale_neon(const float *ap, const float *bp, int64_t k, uint8_t *c, int64_t ldc,
                         int64_t mr, int64_t nr, const float *rs)
{
    for (int64_t s = 0; s < nr; s += 8)
        strip(ap, bp + s, k, c + s * 4, ldc, mr, nr - s >= 8 ? 8 : nr - s, rs);
}
