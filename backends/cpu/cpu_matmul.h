/*
 * cpu_matmul.h — the matmul kernels' internal interface (cpu_matmul*.c).
 *
 * One 2-D problem: out[i][n] = sum_k a[i][k] * w(n, k), i < m, n < n_cols,
 * a f32 rows (inner stride 4, row stride lda bytes), out f32 rows (inner
 * stride 4, row stride ldo bytes), w of dtype wdt with
 *   tb: w(n, k) at w + n*ldw + k*esize   (weights stored [N][K])
 *   !tb: w(n, k) at w + k*ldw + n*esize  (weights stored [K][N])
 */
#ifndef PLINTH_CPU_MATMUL_H
#define PLINTH_CPU_MATMUL_H

#include "cpu.h"

typedef struct mm_problem {
    const uint8_t *a, *w;
    uint8_t *out;
    int64_t lda, ldw, ldo; /* bytes */
    int64_t m, n, k;
    int32_t wdt;
    bool tb;
} mm_problem;

/* GEMV: rows [n0, n1) of the output columns, all m rows of a; tb only. */
void cpu_gemv_avx512(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_avx2(const mm_problem *p, int64_t n0, int64_t n1);

/* GEMM pieces (AVX-512): pack 12-row blocks of a as [k][12] (zero padded),
 * pack a 32-column panel of w as [k][32] f32, run the 12x32 tile. */
#define CPU_MR 12
#define CPU_NR 32
void cpu_pack_a_avx512(const mm_problem *p, int64_t blk, float *dst);
void cpu_pack_b_avx512(const mm_problem *p, int64_t n0, float *dst);
void cpu_tile_avx512(const float *ap, const float *bp, int64_t k, uint8_t *c, int64_t ldc,
                     int64_t mr, int64_t nr);

#endif /* PLINTH_CPU_MATMUL_H */
