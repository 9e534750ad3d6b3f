/*
 * cpu_matmul_x86.c — the SIMD bodies of matmul.
 *
 * Sections:
 *   1. GEMV, AVX-512: 4 weight rows at a time, 2 accumulators each, one
 *      loop per weight dtype (bf16 widened in registers: exact; f16
 *      through F16C), software prefetch ahead at two distances, into L1
 *      and L2 (f16: L1 only)
 *   2. GEMV, AVX2: the same with 8 lanes, every dtype prefetched as bf16 is
 *      (the GEMM of the AVX2 level is cpu_gemm_avx2.c)
 *   3. GEMM, AVX-512: packing (16x16 register transposes for [N][K]
 *      weights and for A), the 12x32 micro-tile (24 zmm accumulators),
 *      its rescale-and-accumulate twin for flash attention
 *   4. GEMM with vdpbf16ps (bf16_compute=1): packing into bf16 pairs, the
 *      12x32 tile on pairs
 *   5. bf16 weights packed at load as those pairs (pack_weights): the f32
 *      tile and the GEMV on them, widened in registers; the GEMV on f32
 *      weights packed at load as section 3's panels
 *
 * Decode is read-bound: the GEMV streams every weight byte once and does
 * its arithmetic in f32 in registers. Prefill is compute-bound: the GEMM
 * widens bf16 weights to f32 once per 32-column panel while packing, and
 * the micro-tile runs at the f32 FMA rate on the packed panels (measured
 * alone, hot in L1/L2: 174-177 GFLOP per CPU-second when a plain FMA loop
 * gets 204 on the same, shared, core; 12x32, 14x32, 8x48, 6x64 and 4x96
 * tiles all measured within 2% of each other).
 */
#if !defined(__x86_64__)
#error "cpu_matmul_x86.c is built for x86-64 only (meson picks the ISA files)"
#endif

#include <stdlib.h>
#include <string.h>

#include "cpu_simd_x86.h"

/* ---------------------------------------------------------------- 1 ---- */

CPU_AVX512 static inline __mmask16 tail16(int64_t n)
{
    return (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
}

/* The GEMV's software prefetch. bf16 rows: two levels, the 4-row block
 * 10 KB ahead into L1 (T0) and the one 40 KB ahead into L2 (T2), each in
 * address order, spread over the k loop (one run of lines per 32 k).
 * Measured streaming 512 MB of bf16 K=640 rows (1 | 2 threads, GB/s; a
 * read-only loop got 16.8 | 32.8 in the same run):
 *   T0 line i of each row 8 rows ahead (before)   15.3 | 30.1
 *   T0 in address order, 4-12 rows ahead           15.7 | 31.4
 *   T0 8 rows + T2 16-48 rows ahead               16.9 | 33.5-34.1
 *   T1/T2 alone 8-16 rows, NTA                     <= 14.6 | 29.5, 7
 * With the widening and the FMAs in the loop the core does not run far
 * enough ahead with its demand loads; the far T2 prefetch keeps L2 misses
 * in flight and the near T0 one brings them on to L1. f32 and f16 rows
 * keep T0 on line i of each row 8 rows ahead: for f32 (half the work per
 * byte) the two levels measured 2-9% slower (logits matrix and decode, 1
 * thread), T0 alone in address order 10% slower; f16 is not measured.
 * PLINTH_CPU_GEMV_PF=N sets near (bf16: KB, else rows), 0 turns
 * prefetching off (benchmarks). */
static int64_t gemv_pf_near(int32_t wdt)
{
    /* Atomic: devices of other instances may read it first on other
     * threads (all store the same value). */
    static _Atomic int64_t cached = -2; /* -2: not read yet; -1: not set */
    int64_t pf = atomic_load_explicit(&cached, memory_order_relaxed);
    if (pf == -2) {
        const char *e = getenv("PLINTH_CPU_GEMV_PF");
        pf = e && atoll(e) >= 0 ? atoll(e) : -1;
        atomic_store_explicit(&cached, pf, memory_order_relaxed);
    }
    return pf >= 0 ? pf : wdt == PLINTH_BF16 ? 10 : 8;
}

/* f32 rows: besides T0 8 rows ahead, T2 this many rows ahead (into L2).
 * Measured on the random gemma-3-270m with f32 weights, decode 64, 3
 * alternating rounds: 2 threads 27.5-28.6 -> 29.1-29.3 tok/s (88-92% ->
 * 93-99% of the same-run read bandwidth; per-layer matmuls and logits both
 * faster), 1 thread 15.1 -> 15.3-15.6; 16 and 32 rows within noise of 24.
 * (Earlier, one-thread runs of the logits matrix alone found the bf16
 * scheme's two levels slower for f32; this is a farther second level.)
 * PLINTH_CPU_GEMV_PF2=N overrides, 0 turns it off. */
static int64_t gemv_pf_far_f32(void)
{
    static _Atomic int64_t cached = -1; /* atomic: as gemv_pf_near's */
    int64_t far = atomic_load_explicit(&cached, memory_order_relaxed);
    if (far < 0) {
        const char *e = getenv("PLINTH_CPU_GEMV_PF2");
        far = e && atoll(e) >= 0 ? atoll(e) : 24;
        atomic_store_explicit(&cached, far, memory_order_relaxed);
    }
    return far;
}

typedef struct gemv_pf {
    const char *near, *far; /* NULL: none */
    int64_t step;           /* bytes per 32 k, whole lines */
} gemv_pf;

/* No target attribute: prefetch is baseline x86-64, and the AVX-512 and
 * AVX2 GEMVs both inline it. */
static inline __attribute__((always_inline)) void gemv_prefetch(gemv_pf *f)
{
    if (f->near) {
        for (int64_t l = 0; l < f->step; l += 64)
            _mm_prefetch(f->near + l, _MM_HINT_T0);
        f->near += f->step;
    }
    if (f->far) {
        for (int64_t l = 0; l < f->step; l += 64)
            _mm_prefetch(f->far + l, _MM_HINT_T2);
        f->far += f->step;
    }
}

/* Four dot products of x with rows r[0..3] of dtype DT, length k; rows
 * pf bytes further on are prefetched into L1 and rows pf2 bytes on into L2
 * (0: none), one cache line per row per 64 bytes (the next rows of a
 * contiguous matrix: the hardware prefetcher alone ramps up too slowly on
 * short rows). DT is a constant at every call site, so each dtype gets its
 * own loop with no branch inside. */
/* One prefetch per 64 bytes of [off, off + n) past each of r0..r3. */
#define GEMV_PF4(off, n, hint)                                                                 \
    for (int l = 0; l < (n); l += 64) {                                                        \
        _mm_prefetch((const char *)(r0 + (off) + l), hint);                                    \
        _mm_prefetch((const char *)(r1 + (off) + l), hint);                                    \
        _mm_prefetch((const char *)(r2 + (off) + l), hint);                                    \
        _mm_prefetch((const char *)(r3 + (off) + l), hint);                                    \
    }
#define GEMV_KERNEL(NAME, DT, ES)                                                              \
    CPU_AVX512 static void NAME(const float *x, const uint8_t *const r[4], int64_t k,         \
                                int64_t pf, int64_t pf2, float *res)                           \
    {                                                                                          \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                            \
        __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0;                                             \
        const uint8_t *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3];                          \
        int64_t i = 0;                                                                         \
        for (; i + 32 <= k; i += 32) {                                                         \
            if (pf)                                                                            \
                GEMV_PF4(pf + i * ES, 32 * ES, _MM_HINT_T0);                                   \
            if (pf2)                                                                           \
                GEMV_PF4(pf2 + i * ES, 32 * ES, _MM_HINT_T2);                                  \
            const __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);        \
            a0 = _mm512_fmadd_ps(x0, v16_load(r0 + i * ES, DT, 16), a0);                       \
            a1 = _mm512_fmadd_ps(x0, v16_load(r1 + i * ES, DT, 16), a1);                       \
            a2 = _mm512_fmadd_ps(x0, v16_load(r2 + i * ES, DT, 16), a2);                       \
            a3 = _mm512_fmadd_ps(x0, v16_load(r3 + i * ES, DT, 16), a3);                       \
            b0 = _mm512_fmadd_ps(x1, v16_load(r0 + (i + 16) * ES, DT, 16), b0);                \
            b1 = _mm512_fmadd_ps(x1, v16_load(r1 + (i + 16) * ES, DT, 16), b1);                \
            b2 = _mm512_fmadd_ps(x1, v16_load(r2 + (i + 16) * ES, DT, 16), b2);                \
            b3 = _mm512_fmadd_ps(x1, v16_load(r3 + (i + 16) * ES, DT, 16), b3);                \
        }                                                                                      \
        for (; i < k; i += 16) {                                                               \
            const int n = k - i >= 16 ? 16 : (int)(k - i);                                     \
            const __m512 x0 = _mm512_maskz_loadu_ps(tail16(n), x + i);                         \
            a0 = _mm512_fmadd_ps(x0, v16_load(r0 + i * ES, DT, n), a0);                        \
            a1 = _mm512_fmadd_ps(x0, v16_load(r1 + i * ES, DT, n), a1);                        \
            a2 = _mm512_fmadd_ps(x0, v16_load(r2 + i * ES, DT, n), a2);                        \
            a3 = _mm512_fmadd_ps(x0, v16_load(r3 + i * ES, DT, n), a3);                        \
        }                                                                                      \
        res[0] = _mm512_reduce_add_ps(_mm512_add_ps(a0, b0));                                  \
        res[1] = _mm512_reduce_add_ps(_mm512_add_ps(a1, b1));                                  \
        res[2] = _mm512_reduce_add_ps(_mm512_add_ps(a2, b2));                                  \
        res[3] = _mm512_reduce_add_ps(_mm512_add_ps(a3, b3));                                  \
    }
GEMV_KERNEL(dot4_f32, PLINTH_F32, 4)
GEMV_KERNEL(dot4_f16, PLINTH_F16, 2)
#undef GEMV_KERNEL
#undef GEMV_PF4

/* bf16 with fewer instructions per byte: one 64-byte load per row per 32
 * k, widened by interleaving with zeros (unpacklo/hi: bf16 is the top half
 * of an f32) instead of two vpmovzxwd + two shifts. Interleaving works per
 * 128-bit lane, so lo holds k = 0-3, 8-11, 16-19, 24-27 and hi the rest;
 * x is permuted the same way once per 32 k for all four rows. Exact: the
 * same products, summed in a different order. The k tail (< 32) takes the
 * 16-wide path. */
CPU_AVX512 static void dot4_bf16(const float *x, const uint8_t *const r[4], int64_t k,
                                 gemv_pf f, float *res)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    const uint8_t *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3];
    const __m512i ilo = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
    const __m512i ihi = _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    const __m512i z = _mm512_setzero_si512();
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) {
        gemv_prefetch(&f);
        const __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
        const __m512 xl = _mm512_permutex2var_ps(x0, ilo, x1);
        const __m512 xh = _mm512_permutex2var_ps(x0, ihi, x1);
#define ROW(R, A, B)                                                                  \
    {                                                                                 \
        const __m512i w = _mm512_loadu_si512(R + i * 2);                              \
        A = _mm512_fmadd_ps(xl, _mm512_castsi512_ps(_mm512_unpacklo_epi16(z, w)), A); \
        B = _mm512_fmadd_ps(xh, _mm512_castsi512_ps(_mm512_unpackhi_epi16(z, w)), B); \
    }
        ROW(r0, a0, b0) ROW(r1, a1, b1) ROW(r2, a2, b2) ROW(r3, a3, b3)
#undef ROW
    }
    for (; i < k; i += 16) {
        const int n = k - i >= 16 ? 16 : (int)(k - i);
        const __m512 x0 = _mm512_maskz_loadu_ps(tail16(n), x + i);
        a0 = _mm512_fmadd_ps(x0, v16_load(r0 + i * 2, PLINTH_BF16, n), a0);
        a1 = _mm512_fmadd_ps(x0, v16_load(r1 + i * 2, PLINTH_BF16, n), a1);
        a2 = _mm512_fmadd_ps(x0, v16_load(r2 + i * 2, PLINTH_BF16, n), a2);
        a3 = _mm512_fmadd_ps(x0, v16_load(r3 + i * 2, PLINTH_BF16, n), a3);
    }
    res[0] = _mm512_reduce_add_ps(_mm512_add_ps(a0, b0));
    res[1] = _mm512_reduce_add_ps(_mm512_add_ps(a1, b1));
    res[2] = _mm512_reduce_add_ps(_mm512_add_ps(a2, b2));
    res[3] = _mm512_reduce_add_ps(_mm512_add_ps(a3, b3));
}

/* bf16: the prefetches for the 4-row block at row n (see gemv_pf_near),
 * each only while the block it reaches ends by row pf_end (the rows past
 * it are most likely another thread's). */
static gemv_pf gemv_pf_for(const mm_problem *p, int64_t n, int64_t pf_end, int64_t near_kb)
{
    gemv_pf f = {NULL, NULL, 0};
    const int64_t iters = p->k / 32;
    if (near_kb <= 0 || iters == 0)
        return f;
    const char *blk = (const char *)(p->w + n * p->ldw);
    const char *end = (const char *)(p->w + pf_end * p->ldw);
    const int64_t span = 4 * p->ldw, near = near_kb * 1024;
    f.step = (span + 64 * iters - 1) / (64 * iters) * 64;
    if (blk + near + span <= end)
        f.near = blk + near;
    if (blk + 4 * near + span <= end)
        f.far = blk + 4 * near;
    return f;
}

CPU_AVX512 void cpu_gemv_avx512(const mm_problem *p, int64_t n0, int64_t n1, int64_t pf_end)
{
    void (*dot4)(const float *, const uint8_t *const[4], int64_t, int64_t, int64_t, float *) =
        p->wdt == PLINTH_F32 ? dot4_f32 : dot4_f16;
    const bool bf16 = p->wdt == PLINTH_BF16;
    const int64_t near = gemv_pf_near(p->wdt);
    const gemv_pf none = {NULL, NULL, 0};
    for (int64_t n = n0; n < n1; n += 4) {
        const int nr = n1 - n >= 4 ? 4 : (int)(n1 - n);
        const uint8_t *r[4];
        for (int j = 0; j < 4; j++)
            r[j] = p->w + (n + (j < nr ? j : 0)) * p->ldw; /* tail: repeat a valid row */
        const gemv_pf f = bf16 ? gemv_pf_for(p, n, pf_end, near) : none;
        const int64_t pf = !bf16 && n + 4 + near <= pf_end ? near * p->ldw : 0;
        const int64_t far = p->wdt == PLINTH_F32 ? gemv_pf_far_f32() : 0;
        const int64_t pf2 = far && n + 4 + far <= pf_end ? far * p->ldw : 0;
        for (int64_t i = 0; i < p->m; i++) {
            float res[4];
            const float *x = (const float *)(p->a + i * p->lda);
            if (bf16)
                dot4_bf16(x, r, p->k, i == 0 ? f : none, res);
            else
                dot4(x, r, p->k, i == 0 ? pf : 0, i == 0 ? pf2 : 0, res);
            float *o = (float *)(p->out + i * p->ldo) + n;
            for (int j = 0; j < nr; j++)
                o[j] = res[j];
        }
    }
}

/* ---------------------------------------------------------------- 2 ---- */

/* Four dot products of x with rows r[0..3] of dtype DT, length k, 32 k a
 * step with two accumulators per row (the FMA latency hidden), prefetching
 * as f says. DT is a constant at every call site. */
#define GEMV2_KERNEL(NAME, DT, ES)                                                           \
    CPU_AVX2 static void NAME(const float *x, const uint8_t *const r[4], int64_t k, gemv_pf f, \
                              float *res)                                                    \
    {                                                                                        \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                          \
        __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;                                           \
        const uint8_t *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3];                        \
        int64_t i = 0;                                                                       \
        for (; i + 32 <= k; i += 32) {                                                       \
            gemv_prefetch(&f);                                                               \
            for (int64_t h = i; h < i + 32; h += 16) {                                       \
                const __m256 x0 = _mm256_loadu_ps(x + h), x1 = _mm256_loadu_ps(x + h + 8);   \
                a0 = _mm256_fmadd_ps(x0, v8_load(r0 + h * ES, DT), a0);                      \
                b0 = _mm256_fmadd_ps(x1, v8_load(r0 + (h + 8) * ES, DT), b0);                \
                a1 = _mm256_fmadd_ps(x0, v8_load(r1 + h * ES, DT), a1);                      \
                b1 = _mm256_fmadd_ps(x1, v8_load(r1 + (h + 8) * ES, DT), b1);                \
                a2 = _mm256_fmadd_ps(x0, v8_load(r2 + h * ES, DT), a2);                      \
                b2 = _mm256_fmadd_ps(x1, v8_load(r2 + (h + 8) * ES, DT), b2);                \
                a3 = _mm256_fmadd_ps(x0, v8_load(r3 + h * ES, DT), a3);                      \
                b3 = _mm256_fmadd_ps(x1, v8_load(r3 + (h + 8) * ES, DT), b3);                \
            }                                                                                \
        }                                                                                    \
        for (; i + 8 <= k; i += 8) {                                                         \
            const __m256 x0 = _mm256_loadu_ps(x + i);                                        \
            a0 = _mm256_fmadd_ps(x0, v8_load(r0 + i * ES, DT), a0);                          \
            a1 = _mm256_fmadd_ps(x0, v8_load(r1 + i * ES, DT), a1);                          \
            a2 = _mm256_fmadd_ps(x0, v8_load(r2 + i * ES, DT), a2);                          \
            a3 = _mm256_fmadd_ps(x0, v8_load(r3 + i * ES, DT), a3);                          \
        }                                                                                    \
        res[0] = v8_hsum(_mm256_add_ps(a0, b0));                                             \
        res[1] = v8_hsum(_mm256_add_ps(a1, b1));                                             \
        res[2] = v8_hsum(_mm256_add_ps(a2, b2));                                             \
        res[3] = v8_hsum(_mm256_add_ps(a3, b3));                                             \
        for (; i < k; i++)                                                                   \
            for (int j = 0; j < 4; j++)                                                      \
                res[j] += x[i] * cpu_load_f(r[j], DT, i);                                    \
    }
GEMV2_KERNEL(dot4_f32_avx2, PLINTH_F32, 4)
GEMV2_KERNEL(dot4_bf16_avx2, PLINTH_BF16, 2)
GEMV2_KERNEL(dot4_f16_avx2, PLINTH_F16, 2)
#undef GEMV2_KERNEL

/* The AVX-512 bf16 scheme's prefetch for every dtype: the 4-row block
 * near KB ahead into L1 and 4 x near into L2, in address order, spread
 * over the k loop (gemv_pf_for; PLINTH_CPU_GEMV_PF=N sets near in KB here,
 * 0 turns it off). Without it the four interleaved row streams defeated
 * the hardware prefetcher: the random 270M's bf16 decode read 4-7 GB/s
 * where its q8_0 one, a row at a time, read 15 (AVX2 EPYC, same run). */
CPU_AVX2 void cpu_gemv_avx2(const mm_problem *p, int64_t n0, int64_t n1, int64_t pf_end)
{
    void (*dot4)(const float *, const uint8_t *const[4], int64_t, gemv_pf, float *) =
        p->wdt == PLINTH_F32 ? dot4_f32_avx2 : p->wdt == PLINTH_BF16 ? dot4_bf16_avx2
                                                                     : dot4_f16_avx2;
    const int64_t near = gemv_pf_near(PLINTH_BF16);
    const gemv_pf none = {NULL, NULL, 0};
    for (int64_t n = n0; n < n1; n += 4) {
        const int nr = n1 - n >= 4 ? 4 : (int)(n1 - n);
        const uint8_t *r[4];
        for (int j = 0; j < 4; j++)
            r[j] = p->w + (n + (j < nr ? j : 0)) * p->ldw; /* tail: repeat a valid row */
        const gemv_pf f = gemv_pf_for(p, n, pf_end, near);
        for (int64_t i = 0; i < p->m; i++) {
            float res[4];
            dot4((const float *)(p->a + i * p->lda), r, p->k, i == 0 ? f : none, res);
            float *o = (float *)(p->out + i * p->ldo) + n;
            for (int j = 0; j < nr; j++)
                o[j] = res[j];
        }
    }
}

/* ---------------------------------------------------------------- 3 ---- */

/* In-register transpose of 16 rows of 16 floats (see the derivation in
 * the comments: pairs, then quads, then 128-bit lanes). */
CPU_AVX512 static inline __attribute__((always_inline)) void transpose16(__m512 r[16])
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

/* a block: rows blk*12 .. +12 of a as dst[k][12]; rows past m are zero. */
CPU_AVX512 void cpu_pack_a_avx512(const mm_problem *p, int64_t blk, float *dst)
{
    const int64_t i0 = blk * CPU_MR;
    const int rows = p->m - i0 < CPU_MR ? (int)(p->m - i0) : CPU_MR;
    const float *x[CPU_MR];
    for (int i = 0; i < rows; i++)
        x[i] = (const float *)(p->a + (i0 + i) * p->lda);
    cpu_pack_rows_avx512(x, rows, p->k, dst);
}

/* Columns n0 .. n0+32 of w as dst[k][32] f32; columns past n are zero. */
CPU_AVX512 void cpu_pack_b_avx512(const mm_problem *p, int64_t n0, float *dst)
{
    const size_t es = plinth_dtype_bytes(p->wdt);
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
 * rows of c ldc bytes apart); with rs, c[i][j] = c[i][j] * rs[i] + sum
 * instead (flash attention's rescale-and-accumulate). rs is a constant
 * NULL in one caller, so each variant is compiled without the branch. */
CPU_AVX512 static inline __attribute__((always_inline)) void
tile_body(const float *ap, const float *bp, int64_t k, uint8_t *c, int64_t ldc, int64_t mr,
          int64_t nr, const float *rs)
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
#define W(i)                                                                              \
    if (i < mr) {                                                                         \
        float *o = (float *)(c + (i) * ldc);                                              \
        if (rs) {                                                                         \
            const __m512 r = _mm512_set1_ps(rs[i]);                                       \
            c##i##a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, o), r, c##i##a);          \
            c##i##b = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, o + 16), r, c##i##b);     \
        }                                                                                 \
        _mm512_mask_storeu_ps(o, m0, c##i##a);                                            \
        _mm512_mask_storeu_ps(o + 16, m1, c##i##b);                                       \
    }
    W(0) W(1) W(2) W(3) W(4) W(5) W(6) W(7) W(8) W(9) W(10) W(11)
#undef W
}

CPU_AVX512 void cpu_tile_avx512(const float *ap, const float *bp, int64_t k, uint8_t *c,
                                int64_t ldc, int64_t mr, int64_t nr)
{
    tile_body(ap, bp, k, c, ldc, mr, nr, NULL);
}

CPU_AVX512 void cpu_tile_scale_avx512(const float *ap, const float *bp, int64_t k, uint8_t *c,
                                      int64_t ldc, int64_t mr, int64_t nr, const float *rs)
{
    tile_body(ap, bp, k, c, ldc, mr, nr, rs);
}

/* Rows rows[0..nrows) (f32, length k) as dst[k][12]; rows past nrows are 0.
 * 16 k at a time: the rows (and zero rows up to 16) through the 16x16
 * register transpose, then 12 lanes stored per k. A scalar loop here cost
 * ~5% of prefill when it packed A (it runs once per matmul over all of
 * A), and as much again in attention, where it packs Q and every block of
 * softmax weights P. */
CPU_AVX512 void cpu_pack_rows_avx512(const float *const *rows, int nrows, int64_t k, float *dst)
{
    for (int64_t kk = 0; kk < k; kk += 16) {
        const int kn = k - kk >= 16 ? 16 : (int)(k - kk);
        const __mmask16 km = tail16(kn);
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = i < nrows ? _mm512_maskz_loadu_ps(km, rows[i] + kk) : _mm512_setzero_ps();
        transpose16(r);
        for (int c = 0; c < kn; c++)
            _mm512_mask_storeu_ps(dst + (kk + c) * CPU_MR, (__mmask16)0x0fff, r[c]);
    }
}

/* ---------------------------------------------------------------- 4 ---- */

/* bf16_compute=1: vdpbf16ps does two bf16 products per f32 lane, twice
 * the f32 FMA rate. The weights are bf16 already (exact); the activations
 * are rounded to bf16 (round to nearest even) when A is packed. Pairs of
 * consecutive k are the unit: for [N][K] weights they are adjacent in
 * memory, so the B panel is the same 16x16 transpose on 32-bit units. */
CPU_AVX512BF16 void cpu_pack_a_bf16(const mm_problem *p, int64_t blk, uint32_t *dst)
{
    const int64_t i0 = blk * CPU_MR, kp = (p->k + 1) / 2;
    const int rows = p->m - i0 < CPU_MR ? (int)(p->m - i0) : CPU_MR;
    for (int64_t u = 0; u < kp; u += 16) { /* 16 pairs = 32 k */
        const int64_t kk = 2 * u;
        const int64_t kn = p->k - kk >= 32 ? 32 : p->k - kk;
        const __mmask16 lo = tail16(kn), hi = tail16(kn > 16 ? kn - 16 : 0);
        const int un = kp - u >= 16 ? 16 : (int)(kp - u);
        __m512 r[16];
        for (int i = 0; i < 16; i++) {
            if (i >= rows) {
                r[i] = _mm512_setzero_ps();
                continue;
            }
            const float *x = (const float *)(p->a + (i0 + i) * p->lda) + kk;
            const __m512bh h = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + 16),
                                                   _mm512_maskz_loadu_ps(lo, x));
            r[i] = (__m512)h;
        }
        transpose16(r);
        for (int c = 0; c < un; c++)
            _mm512_mask_storeu_ps((float *)(dst + (u + c) * CPU_MR), (__mmask16)0x0fff, r[c]);
    }
}

/* B as pairs: no bf16 instruction (a 32-bit transpose), so every AVX-512
 * level has it; bf16 weights packed at load use it too (section 5). */
CPU_AVX512 void cpu_pack_b_pairs_avx512(const mm_problem *p, int64_t n0, uint32_t *dst)
{
    const int64_t kp = (p->k + 1) / 2;
    for (int g = 0; g < CPU_NR; g += 16) {
        for (int64_t u = 0; u < kp; u += 16) {
            const int64_t kn = p->k - 2 * u >= 32 ? 32 : p->k - 2 * u;
            const __mmask32 m = kn >= 32 ? 0xffffffffu : (__mmask32)((1u << kn) - 1);
            const int un = kp - u >= 16 ? 16 : (int)(kp - u);
            __m512 r[16];
            for (int j = 0; j < 16; j++)
                r[j] = n0 + g + j < p->n
                           ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(
                                 m, p->w + (n0 + g + j) * p->ldw + 2 * u * 2))
                           : _mm512_setzero_ps();
            transpose16(r);
            for (int c = 0; c < un; c++)
                _mm512_store_ps((float *)(dst + (u + c) * CPU_NR + g), r[c]);
        }
    }
}

/* The accumulators c0a .. c11b of a 12x32 tile into rows i < mr of c (ldc
 * bytes apart), columns < nr: the end of section 4's and 5's tiles. */
#define STORE_TILE()                                                                           \
    do {                                                                                       \
        const __mmask16 m0 = tail16(nr), m1 = tail16(nr - 16 > 0 ? nr - 16 : 0);               \
        W(0) W(1) W(2) W(3) W(4) W(5) W(6) W(7) W(8) W(9) W(10) W(11)                          \
    } while (0)
#define W(i)                                                                                   \
    if (i < mr) {                                                                              \
        float *o = (float *)(c + (i) * ldc);                                                   \
        _mm512_mask_storeu_ps(o, m0, c##i##a);                                                 \
        _mm512_mask_storeu_ps(o + 16, m1, c##i##b);                                            \
    }

CPU_AVX512BF16 void cpu_tile_bf16(const uint32_t *ap, const uint32_t *bp, int64_t kp, uint8_t *c,
                                  int64_t ldc, int64_t mr, int64_t nr)
{
#define Z(i) __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();
    Z(0) Z(1) Z(2) Z(3) Z(4) Z(5) Z(6) Z(7) Z(8) Z(9) Z(10) Z(11)
#undef Z
    for (int64_t u = 0; u < kp; u++) {
        const __m512bh b0 = (__m512bh)_mm512_load_si512(bp), b1 = (__m512bh)_mm512_load_si512(bp + 16);
#define S(i)                                                         \
    {                                                                \
        const __m512bh av = (__m512bh)_mm512_set1_epi32((int)ap[i]); \
        c##i##a = _mm512_dpbf16_ps(c##i##a, av, b0);                 \
        c##i##b = _mm512_dpbf16_ps(c##i##b, av, b1);                 \
    }
        S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11)
#undef S
        ap += CPU_MR;
        bp += CPU_NR;
    }
    STORE_TILE();
}


/* ---------------------------------------------------------------- 5 ---- */

/* bf16 weights packed at load in section 4's B layout, [ceil(n/32)]
 * [ceil(k/2)][32] u32 pairs (k even in the low half, zeros past n and k):
 * f32 arithmetic on them (exact), widened in registers. A bf16 is the
 * high half of its f32, so the even k is the pair shifted left by 16 and
 * the odd k the pair with its low half cleared: two integer operations
 * per 32 weights, which on a Zen 5 left the tile's rate where the f32
 * panels' is (205-210 GFLOP/s either, one thread, hot), and prefill no
 * longer widens and transposes every panel on every call. */
CPU_AVX512 static inline __m512 pair_even(__m512i u)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
}

CPU_AVX512 static inline __m512 pair_odd(__m512i u)
{
    return _mm512_castsi512_ps(_mm512_and_si512(u, _mm512_set1_epi32((int)0xffff0000u)));
}

/* The 12x32 tile of section 3 with B as pairs: c[i][j] = sum_k ap[k][i] *
 * b(k, j), k in order, so it gives the f32 panels' tile's bits. */
CPU_AVX512 void cpu_tile_pairs_avx512(const float *ap, const uint32_t *bp, int64_t k, uint8_t *c,
                                      int64_t ldc, int64_t mr, int64_t nr)
{
#define Z(i) __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();
    Z(0) Z(1) Z(2) Z(3) Z(4) Z(5) Z(6) Z(7) Z(8) Z(9) Z(10) Z(11)
#undef Z
#define S(i)                                             \
    {                                                    \
        const __m512 av = _mm512_set1_ps(ap[i]);         \
        c##i##a = _mm512_fmadd_ps(av, b0, c##i##a);      \
        c##i##b = _mm512_fmadd_ps(av, b1, c##i##b);      \
    }
    int64_t kk = 0;
    for (; kk + 1 < k; kk += 2) {
        const __m512i u0 = _mm512_load_si512(bp), u1 = _mm512_load_si512(bp + 16);
        __m512 b0 = pair_even(u0), b1 = pair_even(u1);
        S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11)
        ap += CPU_MR;
        b0 = pair_odd(u0);
        b1 = pair_odd(u1);
        S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11)
        ap += CPU_MR;
        bp += CPU_NR;
    }
    if (kk < k) { /* odd k: the last pair's even half (A has no row k) */
        const __m512 b0 = pair_even(_mm512_load_si512(bp)),
                     b1 = pair_even(_mm512_load_si512(bp + 16));
        S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11)
    }
#undef S
    STORE_TILE();
}

#undef W
#undef STORE_TILE

/* Outputs n0 .. n0+nr (nr <= 32) of row i: lo the first 16, hi the rest. */
CPU_AVX512 static inline void store_panel_row(const mm_problem *p, int64_t i, int64_t n0,
                                              int64_t nr, __m512 lo, __m512 hi)
{
    float *o = (float *)(void *)(p->out + i * p->ldo) + n0;
    _mm512_mask_storeu_ps(o, tail16(nr), lo);
    _mm512_mask_storeu_ps(o + 16, tail16(nr - 16 > 0 ? nr - 16 : 0), hi);
}

/* Decode on the pairs: panels [q0, q1) for every row of a, 32 outputs per
 * panel. A panel is one contiguous run of k * 64 bytes and the panels
 * follow each other, so a task streams its range front to back; the
 * prefetch runs PAIRS_PF bytes ahead (into L1) of the 128 read per step. */
#define PAIRS_PF 2048
CPU_AVX512 void cpu_gemv_pairs_avx512(const mm_problem *p, const uint32_t *panels, int64_t q0,
                                      int64_t q1)
{
    const int64_t kp = (p->k + 1) / 2, k2 = p->k / 2; /* k2 pairs with both halves */
    for (int64_t q = q0; q < q1; q++) {
        const uint32_t *pan = panels + q * kp * CPU_NR;
        const int64_t n0 = q * CPU_NR, nr = p->n - n0 < CPU_NR ? p->n - n0 : CPU_NR;
        for (int64_t i = 0; i < p->m; i++) {
            const float *x = (const float *)(const void *)(p->a + i * p->lda);
            __m512 e0 = _mm512_setzero_ps(), e1 = _mm512_setzero_ps();
            __m512 o0 = _mm512_setzero_ps(), o1 = _mm512_setzero_ps();
            const uint32_t *b = pan;
            for (int64_t u = 0; u < k2; u++, b += CPU_NR) {
                _mm_prefetch((const char *)b + PAIRS_PF, _MM_HINT_T0);
                _mm_prefetch((const char *)b + PAIRS_PF + 64, _MM_HINT_T0);
                const __m512i u0 = _mm512_load_si512(b), u1 = _mm512_load_si512(b + 16);
                const __m512 xe = _mm512_set1_ps(x[2 * u]), xo = _mm512_set1_ps(x[2 * u + 1]);
                e0 = _mm512_fmadd_ps(xe, pair_even(u0), e0);
                e1 = _mm512_fmadd_ps(xe, pair_even(u1), e1);
                o0 = _mm512_fmadd_ps(xo, pair_odd(u0), o0);
                o1 = _mm512_fmadd_ps(xo, pair_odd(u1), o1);
            }
            if (k2 < kp) { /* odd k: the last even half */
                const __m512 xe = _mm512_set1_ps(x[2 * k2]);
                e0 = _mm512_fmadd_ps(xe, pair_even(_mm512_load_si512(b)), e0);
                e1 = _mm512_fmadd_ps(xe, pair_even(_mm512_load_si512(b + 16)), e1);
            }
            store_panel_row(p, i, n0, nr, _mm512_add_ps(e0, o0), _mm512_add_ps(e1, o1));
        }
    }
}

/* Decode on f32 panels (pack_weights, f32 weights): the same stream, 128
 * bytes (one k of 32 columns) per step, two accumulators per half. */
CPU_AVX512 void cpu_gemv_panels_avx512(const mm_problem *p, const float *panels, int64_t q0,
                                       int64_t q1)
{
    for (int64_t q = q0; q < q1; q++) {
        const float *pan = panels + q * p->k * CPU_NR;
        const int64_t n0 = q * CPU_NR, nr = p->n - n0 < CPU_NR ? p->n - n0 : CPU_NR;
        for (int64_t i = 0; i < p->m; i++) {
            const float *x = (const float *)(const void *)(p->a + i * p->lda);
            __m512 e0 = _mm512_setzero_ps(), e1 = _mm512_setzero_ps();
            __m512 o0 = _mm512_setzero_ps(), o1 = _mm512_setzero_ps();
            const float *b = pan;
            int64_t kk = 0;
            for (; kk + 1 < p->k; kk += 2, b += 2 * CPU_NR) {
                _mm_prefetch((const char *)b + 2 * PAIRS_PF, _MM_HINT_T0);
                _mm_prefetch((const char *)b + 2 * PAIRS_PF + 64, _MM_HINT_T0);
                _mm_prefetch((const char *)b + 2 * PAIRS_PF + 128, _MM_HINT_T0);
                _mm_prefetch((const char *)b + 2 * PAIRS_PF + 192, _MM_HINT_T0);
                const __m512 xe = _mm512_set1_ps(x[kk]), xo = _mm512_set1_ps(x[kk + 1]);
                e0 = _mm512_fmadd_ps(xe, _mm512_load_ps(b), e0);
                e1 = _mm512_fmadd_ps(xe, _mm512_load_ps(b + 16), e1);
                o0 = _mm512_fmadd_ps(xo, _mm512_load_ps(b + 32), o0);
                o1 = _mm512_fmadd_ps(xo, _mm512_load_ps(b + 48), o1);
            }
            if (kk < p->k) {
                const __m512 xe = _mm512_set1_ps(x[kk]);
                e0 = _mm512_fmadd_ps(xe, _mm512_load_ps(b), e0);
                e1 = _mm512_fmadd_ps(xe, _mm512_load_ps(b + 16), e1);
            }
            store_panel_row(p, i, n0, nr, _mm512_add_ps(e0, o0), _mm512_add_ps(e1, o1));
        }
    }
}
#undef PAIRS_PF
