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

/* GEMV: rows [n0, n1) of the output columns, all m rows of a; tb only.
 * The AVX-512 one prefetches weight rows ahead up to row pf_end (>= n1). */
void cpu_gemv_avx512(const mm_problem *p, int64_t n0, int64_t n1, int64_t pf_end);
void cpu_gemv_avx2(const mm_problem *p, int64_t n0, int64_t n1);

/* GEMM pieces (AVX-512): pack 12-row blocks of a as [k][12] (zero padded),
 * pack a 32-column panel of w as [k][32] f32, run the 12x32 tile. */
#define CPU_MR 12
#define CPU_NR 32
void cpu_pack_a_avx512(const mm_problem *p, int64_t blk, float *dst);
void cpu_pack_b_avx512(const mm_problem *p, int64_t n0, float *dst);
void cpu_tile_avx512(const float *ap, const float *bp, int64_t k, uint8_t *c, int64_t ldc,
                     int64_t mr, int64_t nr);
/* The same tile, accumulating: c[i][j] = c[i][j] * rs[i] + sum (i < mr). */
void cpu_tile_scale_avx512(const float *ap, const float *bp, int64_t k, uint8_t *c,
                           int64_t ldc, int64_t mr, int64_t nr, const float *rs);
/* The vdpbf16ps variant (bf16_compute=1, bf16 [N][K] weights): A rounded
 * to bf16 and packed as pairs dst[ceil(k/2)][12] (u32: k even low half),
 * B panels as pairs [ceil(k/2)][32], the 12x32 tile on pairs. */
void cpu_pack_a_bf16(const mm_problem *p, int64_t blk, uint32_t *dst);
void cpu_pack_b_bf16(const mm_problem *p, int64_t n0, uint32_t *dst);
void cpu_tile_bf16(const uint32_t *ap, const uint32_t *bp, int64_t kp, uint8_t *c, int64_t ldc,
                   int64_t mr, int64_t nr);
/* Arbitrary f32 rows as an A block dst[k][12] (rows past nrows zero). */
void cpu_pack_rows_avx512(const float *const *rows, int nrows, int64_t k, float *dst);

#endif /* PLINTH_CPU_MATMUL_H */
