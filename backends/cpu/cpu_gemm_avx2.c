/*
 * cpu_gemm_avx2.c — the GEMM of the AVX2 level: prefill on x86-64 CPUs
 * without AVX-512 (AMD Zen 1–3, Intel before Skylake-SP, most laptops).
 * Without it those CPUs ran every prefill matmul as 512 GEMVs, each weight
 * row against every row of A from memory.
 *
 * Sections:
 *   1. a load of 4 or fewer f32, and the 8 x 8 register transpose (the
 *      widening loads are cpu_simd_x86.h's v8_load_n)
 *   2. packing into the shared layout (cpu_kernels.h: A [k][12], B [k][32],
 *      f32): rows of A by 4 x 4 transposes, panels of B by 8 x 8 ones
 *   3. the 12 x 32 tile as four 6 x 16 strips, and its rescale-and-
 *      accumulate twin (flash attention's)
 *
 * Why 6 x 16 strips: AVX2 has 16 vector registers. A strip keeps 12
 * accumulators, the two vectors of B and one broadcast of A in them, and
 * does 12 FMAs per k for 2 loads of B and 6 broadcast loads of A (which
 * need no shuffle port): the FMA units set the pace, as in the Haswell
 * kernels of OpenBLAS and BLIS. The shared layout's 12 x 32 tile is two
 * row halves by two column halves; each strip reads its half of the A
 * block and of the B panel from L1/L2, where the GEMM's blocking keeps
 * them (cpu_matmul.c).
 *
 * Every sum runs over k in order, one FMA per step and per element, so
 * the result is the f32 matmul of the (exactly widened) operands; only
 * the order of the sums may differ from ref's, which the conformance
 * suite bounds.
 */
#if !defined(__x86_64__)
#error "cpu_gemm_avx2.c is built for x86-64 only (meson picks the ISA files)"
#endif

#include <string.h>

#include "cpu_simd_x86.h"

/* ---------------------------------------------------------------- 1 ---- */

/* 4 f32 at p (n < 4: only those read, the rest 0). */
CPU_AVX2 static inline __m128 v4_load_n(const float *p, int n)
{
    if (n >= 4)
        return _mm_loadu_ps(p);
    float tmp[4] = {0, 0, 0, 0};
    if (n > 0)
        memcpy(tmp, p, (size_t)n * 4);
    return _mm_loadu_ps(tmp);
}

/* r[j][i] -> r[i][j] for an 8 x 8 block of f32. */
CPU_AVX2 static inline void transpose8(__m256 r[8])
{
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xee);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xee);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* ---------------------------------------------------------------- 2 ---- */

CPU_AVX2 void cpu_pack_rows_avx2(const float *const *rows, int nrows, int64_t k, float *dst)
{
    for (int64_t kk = 0; kk < k; kk += 4) {
        const int kn = k - kk >= 4 ? 4 : (int)(k - kk);
        for (int g = 0; g < CPU_MR; g += 4) {
            __m128 r0 = g < nrows ? v4_load_n(rows[g] + kk, kn) : _mm_setzero_ps();
            __m128 r1 = g + 1 < nrows ? v4_load_n(rows[g + 1] + kk, kn) : _mm_setzero_ps();
            __m128 r2 = g + 2 < nrows ? v4_load_n(rows[g + 2] + kk, kn) : _mm_setzero_ps();
            __m128 r3 = g + 3 < nrows ? v4_load_n(rows[g + 3] + kk, kn) : _mm_setzero_ps();
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            float *d = dst + kk * CPU_MR + g;
            _mm_storeu_ps(d, r0);
            if (kn > 1)
                _mm_storeu_ps(d + CPU_MR, r1);
            if (kn > 2)
                _mm_storeu_ps(d + 2 * CPU_MR, r2);
            if (kn > 3)
                _mm_storeu_ps(d + 3 * CPU_MR, r3);
        }
    }
}

CPU_AVX2 void cpu_pack_a_avx2(const mm_problem *p, int64_t blk, float *dst)
{
    const int64_t i0 = blk * CPU_MR;
    const int rows = p->m - i0 < CPU_MR ? (int)(p->m - i0) : CPU_MR;
    const float *x[CPU_MR];
    for (int i = 0; i < rows; i++)
        x[i] = (const float *)(const void *)(p->a + (i0 + i) * p->lda);
    cpu_pack_rows_avx2(x, rows, p->k, dst);
}

/* Columns n0 .. n0+32 of w as dst[k][32] f32; columns past n are zero. */
CPU_AVX2 void cpu_pack_b_avx2(const mm_problem *p, int64_t n0, float *dst)
{
    const int64_t es = (int64_t)plinth_dtype_bytes(p->wdt), nv = p->n - n0;
    if (!p->tb) { /* rows of w are rows of the panel */
        for (int64_t kk = 0; kk < p->k; kk++) {
            const uint8_t *row = p->w + kk * p->ldw + n0 * es;
            for (int g = 0; g < CPU_NR; g += 8)
                _mm256_store_ps(dst + kk * CPU_NR + g,
                                g < nv ? v8_load_n(row + g * es, p->wdt,
                                                   nv - g >= 8 ? 8 : (int)(nv - g))
                                       : _mm256_setzero_ps());
        }
        return;
    }
    for (int g = 0; g < CPU_NR; g += 8) { /* 8 weight rows -> 8 panel columns */
        for (int64_t kk = 0; kk < p->k; kk += 8) {
            const int kn = p->k - kk >= 8 ? 8 : (int)(p->k - kk);
            __m256 r[8];
            for (int j = 0; j < 8; j++)
                r[j] = g + j < nv ? v8_load_n(p->w + (n0 + g + j) * p->ldw + kk * es, p->wdt, kn)
                                  : _mm256_setzero_ps();
            transpose8(r);
            for (int c = 0; c < kn; c++)
                _mm256_store_ps(dst + (kk + c) * CPU_NR + g, r[c]);
        }
    }
}

/* ---------------------------------------------------------------- 3 ---- */

/* One 6 x 16 strip: rows [0, rows) and columns [0, nc) of c from the A
 * half at ap (stride CPU_MR per k) and the B half at bp (stride CPU_NR).
 * rs is a constant NULL at one call site, so each variant is compiled
 * without the branch. */
CPU_AVX2 static inline __attribute__((always_inline)) void
strip(const float *ap, const float *bp, int64_t k, uint8_t *c, int64_t ldc, int64_t rows,
      int64_t nc, const float *rs)
{
#define Z(i) __m256 c##i##a = _mm256_setzero_ps(), c##i##b = _mm256_setzero_ps();
    Z(0) Z(1) Z(2) Z(3) Z(4) Z(5)
#undef Z
    for (int64_t kk = 0; kk < k; kk++) {
        const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
#define S(i)                                              \
    {                                                     \
        const __m256 av = _mm256_broadcast_ss(ap + (i));  \
        c##i##a = _mm256_fmadd_ps(av, b0, c##i##a);       \
        c##i##b = _mm256_fmadd_ps(av, b1, c##i##b);       \
    }
        S(0) S(1) S(2) S(3) S(4) S(5)
#undef S
        ap += CPU_MR;
        bp += CPU_NR;
    }
    const bool full = nc == 16;
    const __m256i m0 = v8_lanes(nc), m1 = v8_lanes(nc - 8);
#define W(i)                                                                          \
    if (i < rows) {                                                                   \
        float *o = (float *)(void *)(c + (i) * ldc);                                  \
        if (rs) {                                                                     \
            const __m256 r = _mm256_set1_ps(rs[i]);                                   \
            c##i##a = _mm256_fmadd_ps(full ? _mm256_loadu_ps(o) : _mm256_maskload_ps(o, m0), \
                                      r, c##i##a);                                    \
            c##i##b = _mm256_fmadd_ps(full ? _mm256_loadu_ps(o + 8)                   \
                                           : _mm256_maskload_ps(o + 8, m1),           \
                                      r, c##i##b);                                    \
        }                                                                             \
        if (full) {                                                                   \
            _mm256_storeu_ps(o, c##i##a);                                             \
            _mm256_storeu_ps(o + 8, c##i##b);                                         \
        } else {                                                                      \
            _mm256_maskstore_ps(o, m0, c##i##a);                                      \
            _mm256_maskstore_ps(o + 8, m1, c##i##b);                                  \
        }                                                                             \
    }
    W(0) W(1) W(2) W(3) W(4) W(5)
#undef W
}

/* The four strips of a tile: rows [6h, 6h + 6), columns [16s, 16s + 16),
 * those that hold any of the mr x nr results. */
#define TILE_STRIPS(RS)                                                                   \
    for (int64_t h = 0; h < 2 && 6 * h < mr; h++)                                         \
        for (int64_t s = 0; s < 2 && 16 * s < nr; s++)                                    \
            strip(ap + 6 * h, bp + 16 * s, k, c + 6 * h * ldc + 64 * s, ldc,              \
                  mr - 6 * h < 6 ? mr - 6 * h : 6, nr - 16 * s < 16 ? nr - 16 * s : 16,   \
                  RS);

CPU_AVX2 void cpu_tile_avx2(const float *ap, const float *bp, int64_t k, uint8_t *c,
                            int64_t ldc, int64_t mr, int64_t nr)
{
    TILE_STRIPS(NULL)
}

CPU_AVX2 void cpu_tile_scale_avx2(const float *ap, const float *bp, int64_t k, uint8_t *c,
                                  int64_t ldc, int64_t mr, int64_t nr, const float *rs)
{
    TILE_STRIPS(rs + 6 * h)
}
#undef TILE_STRIPS
