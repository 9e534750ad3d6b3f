/*
 * cpu_matmul_x86.c — the SIMD bodies of matmul.
 *
 * Sections:
 *   1. GEMV, AVX-512: 4 weight rows at a time, 2 accumulators each; bf16 is
 *      widened in registers (exact), f16 through F16C
 *   2. GEMV, AVX2: the same with 8 lanes
 *   3. GEMM, AVX-512: packing (16x16 register transposes for [N][K]
 *      weights), the 12x32 micro-tile (24 zmm accumulators)
 *
 * Decode is read-bound: the GEMV streams every weight byte once and does
 * its arithmetic in f32 in registers. Prefill is compute-bound: the GEMM
 * widens bf16 weights to f32 once per 32-column panel while packing, and
 * the micro-tile runs at the f32 FMA peak on the packed panels.
 */
#include <string.h>

#include "cpu_matmul.h"
#include "cpu_simd.h"

#if defined(__x86_64__)

/* ---------------------------------------------------------------- 1 ---- */

CPU_AVX512 static inline __mmask16 tail16(int64_t n)
{
    return (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
}

/* Four dot products of x with rows r[0..3] (dtype dt), length k. */
CPU_AVX512 static inline void dot4_avx512(const float *x, const uint8_t *const r[4], int32_t dt,
                                          int64_t k, float *res)
{
    const size_t es = cpu_esize(dt);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) {
        const __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
        a0 = _mm512_fmadd_ps(x0, v16_load(r[0] + i * es, dt, 16), a0);
        a1 = _mm512_fmadd_ps(x0, v16_load(r[1] + i * es, dt, 16), a1);
        a2 = _mm512_fmadd_ps(x0, v16_load(r[2] + i * es, dt, 16), a2);
        a3 = _mm512_fmadd_ps(x0, v16_load(r[3] + i * es, dt, 16), a3);
        b0 = _mm512_fmadd_ps(x1, v16_load(r[0] + (i + 16) * es, dt, 16), b0);
        b1 = _mm512_fmadd_ps(x1, v16_load(r[1] + (i + 16) * es, dt, 16), b1);
        b2 = _mm512_fmadd_ps(x1, v16_load(r[2] + (i + 16) * es, dt, 16), b2);
        b3 = _mm512_fmadd_ps(x1, v16_load(r[3] + (i + 16) * es, dt, 16), b3);
    }
    for (; i < k; i += 16) {
        const int n = k - i >= 16 ? 16 : (int)(k - i);
        const __m512 x0 = _mm512_maskz_loadu_ps(tail16(n), x + i);
        a0 = _mm512_fmadd_ps(x0, v16_load(r[0] + i * es, dt, n), a0);
        a1 = _mm512_fmadd_ps(x0, v16_load(r[1] + i * es, dt, n), a1);
        a2 = _mm512_fmadd_ps(x0, v16_load(r[2] + i * es, dt, n), a2);
        a3 = _mm512_fmadd_ps(x0, v16_load(r[3] + i * es, dt, n), a3);
    }
    res[0] = _mm512_reduce_add_ps(_mm512_add_ps(a0, b0));
    res[1] = _mm512_reduce_add_ps(_mm512_add_ps(a1, b1));
    res[2] = _mm512_reduce_add_ps(_mm512_add_ps(a2, b2));
    res[3] = _mm512_reduce_add_ps(_mm512_add_ps(a3, b3));
}

CPU_AVX512 void cpu_gemv_avx512(const mm_problem *p, int64_t n0, int64_t n1)
{
    for (int64_t n = n0; n < n1; n += 4) {
        const int nr = n1 - n >= 4 ? 4 : (int)(n1 - n);
        const uint8_t *r[4];
        for (int j = 0; j < 4; j++)
            r[j] = p->w + (n + (j < nr ? j : 0)) * p->ldw; /* tail: repeat a valid row */
        for (int64_t i = 0; i < p->m; i++) {
            float res[4];
            dot4_avx512((const float *)(p->a + i * p->lda), r, p->wdt, p->k, res);
            float *o = (float *)(p->out + i * p->ldo) + n;
            for (int j = 0; j < nr; j++)
                o[j] = res[j];
        }
    }
}

/* ---------------------------------------------------------------- 2 ---- */

CPU_AVX2 void cpu_gemv_avx2(const mm_problem *p, int64_t n0, int64_t n1)
{
    const size_t es = cpu_esize(p->wdt);
    const int32_t dt = p->wdt;
    for (int64_t n = n0; n < n1; n += 4) {
        const int nr = n1 - n >= 4 ? 4 : (int)(n1 - n);
        const uint8_t *r[4];
        for (int j = 0; j < 4; j++)
            r[j] = p->w + (n + (j < nr ? j : 0)) * p->ldw;
        for (int64_t i = 0; i < p->m; i++) {
            const float *x = (const float *)(p->a + i * p->lda);
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            int64_t kk = 0;
            for (; kk + 8 <= p->k; kk += 8) {
                const __m256 xv = _mm256_loadu_ps(x + kk);
                a0 = _mm256_fmadd_ps(xv, v8_load(r[0] + kk * es, dt), a0);
                a1 = _mm256_fmadd_ps(xv, v8_load(r[1] + kk * es, dt), a1);
                a2 = _mm256_fmadd_ps(xv, v8_load(r[2] + kk * es, dt), a2);
                a3 = _mm256_fmadd_ps(xv, v8_load(r[3] + kk * es, dt), a3);
            }
            float res[4] = {v8_hsum(a0), v8_hsum(a1), v8_hsum(a2), v8_hsum(a3)};
            for (; kk < p->k; kk++)
                for (int j = 0; j < 4; j++)
                    res[j] += x[kk] * cpu_load_f(r[j], dt, kk);
            float *o = (float *)(p->out + i * p->ldo) + n;
            for (int j = 0; j < nr; j++)
                o[j] = res[j];
        }
    }
}

/* ---------------------------------------------------------------- 3 ---- */

/* a block: rows blk*12 .. +12 of a as dst[k][12]; rows past m are zero. */
CPU_AVX512 void cpu_pack_a_avx512(const mm_problem *p, int64_t blk, float *dst)
{
    const int64_t i0 = blk * CPU_MR;
    for (int i = 0; i < CPU_MR; i++) {
        if (i0 + i >= p->m) {
            for (int64_t kk = 0; kk < p->k; kk++)
                dst[kk * CPU_MR + i] = 0.0f;
            continue;
        }
        const float *x = (const float *)(p->a + (i0 + i) * p->lda);
        for (int64_t kk = 0; kk < p->k; kk++)
            dst[kk * CPU_MR + i] = x[kk];
    }
}

/* In-register transpose of 16 rows of 16 floats (see the derivation in
 * the comments: pairs, then quads, then 128-bit lanes). */
CPU_AVX512 static inline void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);     /* a0 b0 a1 b1 per lane */
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]); /* a2 b2 a3 b3 */
    }
    for (int i = 0; i < 4; i++) {
        const __m512d t0 = _mm512_castps_pd(t[4 * i]), t1 = _mm512_castps_pd(t[4 * i + 1]);
        const __m512d t2 = _mm512_castps_pd(t[4 * i + 2]), t3 = _mm512_castps_pd(t[4 * i + 3]);
        /* r[4i+c], lane L: rows 4i..4i+3 of column c + 4L */
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    __m512 o[16];
    for (int c = 0; c < 4; c++) {
        const __m512 u0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
        const __m512 u1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
        const __m512 u2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
        const __m512 u3 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
        o[c] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        o[c + 8] = _mm512_shuffle_f32x4(u0, u2, 0xdd);
        o[c + 4] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        o[c + 12] = _mm512_shuffle_f32x4(u1, u3, 0xdd);
    }
    for (int i = 0; i < 16; i++)
        r[i] = o[i];
}

/* Columns n0 .. n0+32 of w as dst[k][32] f32; columns past n are zero. */
CPU_AVX512 void cpu_pack_b_avx512(const mm_problem *p, int64_t n0, float *dst)
{
    const size_t es = cpu_esize(p->wdt);
    if (!p->tb) {
        const int64_t nv = p->n - n0;
        for (int64_t kk = 0; kk < p->k; kk++) {
            const uint8_t *row = p->w + kk * p->ldw + n0 * (int64_t)es;
            _mm512_store_ps(dst + kk * CPU_NR, v16_load(row, p->wdt, nv >= 16 ? 16 : (int)nv));
            _mm512_store_ps(dst + kk * CPU_NR + 16,
                            nv > 16 ? v16_load(row + 16 * es, p->wdt, nv >= 32 ? 16 : (int)(nv - 16))
                                    : _mm512_setzero_ps());
        }
        return;
    }
    for (int g = 0; g < CPU_NR; g += 16) {
        for (int64_t kk = 0; kk < p->k; kk += 16) {
            const int kn = p->k - kk >= 16 ? 16 : (int)(p->k - kk);
            __m512 r[16];
            for (int j = 0; j < 16; j++)
                r[j] = n0 + g + j < p->n
                           ? v16_load(p->w + (n0 + g + j) * p->ldw + kk * (int64_t)es, p->wdt, kn)
                           : _mm512_setzero_ps();
            transpose16(r);
            for (int c = 0; c < kn; c++)
                _mm512_store_ps(dst + (kk + c) * CPU_NR + g, r[c]);
        }
    }
}

/* c[i][j] = sum_k ap[k][i] * bp[k][j] for i < mr, j < nr (the 12x32 tile,
 * rows of c ldc bytes apart). */
CPU_AVX512 void cpu_tile_avx512(const float *ap, const float *bp, int64_t k, uint8_t *c,
                                int64_t ldc, int64_t mr, int64_t nr)
{
#define Z(i) __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();
    Z(0) Z(1) Z(2) Z(3) Z(4) Z(5) Z(6) Z(7) Z(8) Z(9) Z(10) Z(11)
#undef Z
    for (int64_t kk = 0; kk < k; kk++) {
        const __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#define S(i)                                             \
    {                                                    \
        const __m512 av = _mm512_set1_ps(ap[i]);         \
        c##i##a = _mm512_fmadd_ps(av, b0, c##i##a);      \
        c##i##b = _mm512_fmadd_ps(av, b1, c##i##b);      \
    }
        S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11)
#undef S
        ap += CPU_MR;
        bp += CPU_NR;
    }
    const __mmask16 m0 = tail16(nr), m1 = tail16(nr - 16 > 0 ? nr - 16 : 0);
#define W(i)                                                              \
    if (i < mr) {                                                         \
        float *o = (float *)(c + (i) * ldc);                              \
        _mm512_mask_storeu_ps(o, m0, c##i##a);                            \
        _mm512_mask_storeu_ps(o + 16, m1, c##i##b);                       \
    }
    W(0) W(1) W(2) W(3) W(4) W(5) W(6) W(7) W(8) W(9) W(10) W(11)
#undef W
}

#else
typedef int cpu_matmul_x86_unused;
#endif /* __x86_64__ */
