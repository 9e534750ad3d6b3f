/*
 * cpu_quant_x86.h — what the block-dtype kernels of the AVX2 level
 * (cpu_quant_x86.c) and of the AVX-512 one (cpu_quant_avx512.c, with
 * cpu_quant_x8_avx512.h) share: the f16 scale, the row-by-row GEMV loop,
 * and the packed 8-row GEMVs' prefetch, store and f32 arithmetic once the
 * int8 sums of a block are in (8 lanes, one per row, at both levels). The
 * helpers are AVX2: they inline into AVX-512 functions too, whose target
 * includes AVX2's.
 */
#ifndef PLINTH_CPU_QUANT_X86_H
#define PLINTH_CPU_QUANT_X86_H

#include <string.h>

#include "cpu_simd_x86.h"

CPU_AVX2 static inline float f16_at(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* Rows [n0, n1) of the output, each weight row once from memory against
 * every row i of a (the row stays in L1 for the later rows of a):
 * out[i][n] = DOT_I, an expression of i, row and nb (blocks per row), in a
 * function NAME with target attribute TARGET. No software prefetch: a T0 +
 * T2 prefetch as the bf16 GEMV's (4 and 24 KB ahead) changed nothing
 * measurable on an AVX2 EPYC guest whose read bandwidth (~10 GB/s) one
 * thread saturates (q8_0 logits GEMV, alternating rounds, noise +-50%). */
#define BLOCK_GEMV_OF(TARGET, NAME, E, DOT_I)                                              \
    TARGET void NAME(const mm_problem *p, int64_t n0, int64_t n1)                          \
    {                                                                                      \
        const int64_t nb = p->k / (E);                                                     \
        for (int64_t n = n0; n < n1; n++) {                                                \
            const uint8_t *row = p->w + n * p->ldw;                                        \
            for (int64_t i = 0; i < p->m; i++)                                             \
                ((float *)(p->out + i * p->ldo))[n] = (DOT_I);                             \
        }                                                                                  \
    }
/* row i of a as f32; as int8 (aq), its scales per 32 (ad); its sums per 16 */
#define F32_ROW_I ((const float *)(const void *)(p->a + i * p->lda))
#define Q8_ROW_I p->aq + i * p->k, p->ad + i * (p->k / 32)
#define Q8_SUMS_I p->as + i * (p->k / 16)

/* ------------------------------------------------ packed 8-row GEMVs ---- */

/* The lines of one unit X8_PREFETCH bytes on, into L1: the packed GEMVs read
 * their groups in order, yet the hardware prefetcher alone left ~13% of
 * q8_0 decode on the table (Gemma 3 270M q8_0, precision=fast, tg128 at 2
 * threads on an AVX2 EPYC guest, six alternating rounds: 73.6 tok/s
 * without, 83.0 and 83.3 at 1 and 2 KB ahead, 74-78 at 3-4 KB). */
enum { X8_PREFETCH = 2048 };

CPU_AVX2 static inline void x8_prefetch(const uint8_t *u, size_t unit)
{
    for (size_t l = 0; l < unit; l += 64)
        _mm_prefetch((const char *)u + X8_PREFETCH + l, _MM_HINT_T0);
}

/* 8 bytes at p as 8 floats */
CPU_AVX2 static inline __m256 x8_u8_ps(const uint8_t *p)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/* rows 8g.. of output row i, those below n1 */
CPU_AVX2 static inline void x8_store(const mm_problem *p, int64_t i, int64_t g, int64_t n1,
                                     __m256 acc)
{
    float *o = (float *)(void *)(p->out + i * p->ldo) + g * CPU_X8_ROWS;
    const int64_t rows = n1 - g * CPU_X8_ROWS;
    if (rows >= CPU_X8_ROWS)
        _mm256_storeu_ps(o, acc);
    else
        v8_store_n(o, acc, rows);
}

/* q4_0, block b of unit u: row j gets d_j * (d_x * Σ q xq - 8 * Σ_x),
 * dot the rows' Σ q xq (q unsigned: q, not q - 8), xs2 x's two sums per
 * 16 of the block. */
CPU_AVX2 static inline __m256 x8_q4_0_add(__m256 acc, const uint8_t *u, float xd, const float *xs2,
                                          __m256 dot)
{
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)u));
    const __m256 r =
        _mm256_fmsub_ps(_mm256_set1_ps(xd), dot, _mm256_set1_ps(8.0f * (xs2[0] + xs2[1])));
    return _mm256_fmadd_ps(dw, r, acc);
}

/* q8_0, block b of unit u: d_j * d_x, to multiply the rows' Σ w xq */
CPU_AVX2 static inline __m256 x8_q8_0_scale(const uint8_t *u, float xd)
{
    return _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)u)),
                         _mm256_set1_ps(xd));
}

/* q4_K: row j gets d_j * Σ_s sc_js * d_x,s * Σ q xq - dmin_j * Σ_s m_js *
 * Σ_x,s over its 8 sub-blocks s per super-block. x8_q4_K_sub adds sub-
 * blocks 2h and 2h + 1 of unit u (lo, hi: the rows' Σ q xq of each; dx,
 * sx: x's scales per 32 and sums per 16 of the super-block) into *sacc
 * and *macc, x8_q4_K_add the super-block into acc once all 8 are in. */
CPU_AVX2 static inline void x8_q4_K_sub(const uint8_t *u, int h, const float *dx,
                                        const float *sx, __m256 lo, __m256 hi, __m256 *sacc,
                                        __m256 *macc)
{
    const uint8_t *sc = u + CPU_Q4_KX8_SC + 16 * h, *m = u + CPU_Q4_KX8_M + 16 * h;
    *sacc = _mm256_fmadd_ps(_mm256_mul_ps(x8_u8_ps(sc), _mm256_set1_ps(dx[2 * h])), lo, *sacc);
    *sacc = _mm256_fmadd_ps(_mm256_mul_ps(x8_u8_ps(sc + 8), _mm256_set1_ps(dx[2 * h + 1])), hi,
                            *sacc);
    *macc = _mm256_fmadd_ps(x8_u8_ps(m), _mm256_set1_ps(sx[4 * h] + sx[4 * h + 1]), *macc);
    *macc = _mm256_fmadd_ps(x8_u8_ps(m + 8), _mm256_set1_ps(sx[4 * h + 2] + sx[4 * h + 3]), *macc);
}

CPU_AVX2 static inline __m256 x8_q4_K_add(__m256 acc, const uint8_t *u, __m256 sacc, __m256 macc)
{
    acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)u)), sacc, acc);
    return _mm256_fnmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(u + 16))), macc,
                            acc);
}

#endif /* PLINTH_CPU_QUANT_X86_H */
