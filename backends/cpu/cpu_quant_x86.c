/*
 * cpu_quant_x86.c — AVX2 bodies for block-dtype weights (q8_0, q4_0, q4_K,
 * q6_K): the decode GEMV and the dequantisation of a row (the AVX-512
 * level's are cpu_quant_avx512.c's, but for three unpacked int8 GEMVs that
 * it takes from here).
 *
 * Sections:
 *   1. helpers: the f16 scale, int8/uint8 lanes to f32
 *   2. one weight row against one row of activations, per dtype
 *   3. the GEMV: every weight row of the task against every row of a
 *   4. a row dequantised to f32, per dtype (the same operations, in the
 *      same order, as plinth_dequant_block: bit for bit)
 *
 * The activations stay f32 (cpu_quant.c says why): each block's quants are
 * widened to f32 in registers, dotted with the activations, and the sum
 * scaled once per block (per sub-block for the K-quants). Exact with
 * respect to the dequantised weights up to the order of the f32 sums.
 */
#if !defined(__x86_64__)
#error "cpu_quant_x86.c is built for x86-64 only (meson picks the ISA files)"
#endif

#include <string.h>

#include "cpu_quant_x86.h"

/* ---------------------------------------------------------------- 1 ---- */

/* The low 8 signed / unsigned bytes of v as 8 f32. */
CPU_AVX2 static inline __m256 s8_ps(__m128i v)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
}

CPU_AVX2 static inline __m256 u8_ps(__m128i v)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v));
}

/* Σ x[i] * q[i] over 32 lanes (q 32 signed bytes, as two halves), as 8
 * partial sums. */
CPU_AVX2 static inline __m256 dot32_s8(const float *x, __m128i q0, __m128i q1)
{
    __m256 s = _mm256_mul_ps(_mm256_loadu_ps(x), s8_ps(q0));
    __m256 t = _mm256_mul_ps(_mm256_loadu_ps(x + 8), s8_ps(_mm_srli_si128(q0, 8)));
    s = _mm256_fmadd_ps(_mm256_loadu_ps(x + 16), s8_ps(q1), s);
    t = _mm256_fmadd_ps(_mm256_loadu_ps(x + 24), s8_ps(_mm_srli_si128(q1, 8)), t);
    return _mm256_add_ps(s, t);
}

/* The same with the 32 signed bytes read from memory 8 at a time, each
 * widened by vpmovsxbd straight from memory (no shuffle to split them). */
CPU_AVX2 static inline __m256 dot32_s8_mem(const float *x, const uint8_t *q)
{
#define W8(j) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + 8 * (j)))))
    __m256 s = _mm256_mul_ps(_mm256_loadu_ps(x), W8(0));
    __m256 t = _mm256_mul_ps(_mm256_loadu_ps(x + 8), W8(1));
    s = _mm256_fmadd_ps(_mm256_loadu_ps(x + 16), W8(2), s);
    t = _mm256_fmadd_ps(_mm256_loadu_ps(x + 24), W8(3), t);
#undef W8
    return _mm256_add_ps(s, t);
}

/* ---------------------------------------------------------------- 2 ---- */

/* q8_0: 34-byte blocks, x = d * q. Two accumulators (even, odd blocks). */
CPU_AVX2 static float dot_q8_0(const float *x, const uint8_t *row, int64_t nb)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *p = row + 34 * b;
        const __m256 s0 = dot32_s8_mem(x + 32 * b, p + 2);
        const __m256 s1 = dot32_s8_mem(x + 32 * b + 32, p + 36);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(p)), s0, acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(p + 34)), s1, acc1);
    }
    if (b < nb) {
        const uint8_t *p = row + 34 * b;
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(p)), dot32_s8_mem(x + 32 * b, p + 2), acc0);
    }
    return v8_hsum(_mm256_add_ps(acc0, acc1));
}

/* q4_0: 18-byte blocks; element i < 16 the low nibble of byte i, 16 + i
 * its high nibble; x = d * (nibble - 8). */
CPU_AVX2 static inline __m256 q4_0_block(const float *x, const uint8_t *p)
{
    const __m128i m4 = _mm_set1_epi8(0x0f), e8 = _mm_set1_epi8(8);
    const __m128i v = _mm_loadu_si128((const __m128i *)(p + 2));
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(v, m4), e8);
    const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), e8);
    return dot32_s8(x, lo, hi);
}

CPU_AVX2 static float dot_q4_0(const float *x, const uint8_t *row, int64_t nb)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *p = row + 18 * b;
        const __m256 s0 = q4_0_block(x + 32 * b, p), s1 = q4_0_block(x + 32 * b + 32, p + 18);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(p)), s0, acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(p + 18)), s1, acc1);
    }
    if (b < nb) {
        const uint8_t *p = row + 18 * b;
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(p)), q4_0_block(x + 32 * b, p), acc0);
    }
    return v8_hsum(_mm256_add_ps(acc0, acc1));
}

/* Σ x[i] * q[i] over 32 unsigned bytes q (one 256-bit register), and Σ x[i]
 * (*xs), as 8 partial sums each. */
CPU_AVX2 static inline __m256 dot32_u8(const float *x, __m256i q, __m256 *xs)
{
    const __m128i q0 = _mm256_castsi256_si128(q), q1 = _mm256_extracti128_si256(q, 1);
    const __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8);
    const __m256 x2 = _mm256_loadu_ps(x + 16), x3 = _mm256_loadu_ps(x + 24);
    __m256 s = _mm256_mul_ps(x0, u8_ps(q0));
    __m256 t = _mm256_mul_ps(x1, u8_ps(_mm_srli_si128(q0, 8)));
    s = _mm256_fmadd_ps(x2, u8_ps(q1), s);
    t = _mm256_fmadd_ps(x3, u8_ps(_mm_srli_si128(q1, 8)), t);
    *xs = _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
    return _mm256_add_ps(s, t);
}

/* q4_K: 144-byte super-blocks of 8 sub-blocks of 32; x = (d * sc) * q -
 * dmin * m, so a sub-block adds (d * sc) Σ x q - (dmin * m) Σ x. */
CPU_AVX2 static float dot_q4_K(const float *x, const uint8_t *row, int64_t nb)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps(), accm = acc;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 144 * b;
        const float *xb = x + 256 * b;
        const float d = f16_at(p), dmin = f16_at(p + 2);
        for (int g = 0; g < 4; g++) {
            int sc0, m0, sc1, m1;
            plinth_q4_K_scale_min(p + 4, 2 * g, &sc0, &m0);
            plinth_q4_K_scale_min(p + 4, 2 * g + 1, &sc1, &m1);
            const __m256i v = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * g));
            __m256 xs0, xs1;
            const __m256 s0 = dot32_u8(xb + 64 * g, _mm256_and_si256(v, m4), &xs0);
            const __m256 s1 =
                dot32_u8(xb + 64 * g + 32, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4), &xs1);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc0), s0, acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc1), s1, acc);
            accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin * (float)m0), xs0, accm);
            accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin * (float)m1), xs1, accm);
        }
    }
    return v8_hsum(_mm256_sub_ps(acc, accm));
}

/* q6_K: the 32 six-bit quants of elements 128h + 32k + [0, 32) as signed
 * bytes q - 32: low 4 bits from ql (ql0 = bytes 0-31 of the half, ql1 =
 * 32-63; the low nibble for k < 2, the high one for k >= 2), top 2 bits
 * from bits 2k of qh. */
#define Q6K_QUANTS(K)                                                                    \
    _mm256_sub_epi8(                                                                     \
        _mm256_or_si256(                                                                 \
            _mm256_and_si256((K) < 2 ? ((K) % 2 ? ql1 : ql0)                             \
                                     : _mm256_srli_epi16((K) % 2 ? ql1 : ql0, 4),        \
                             m4),                                                        \
            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * (K)), m2), 4)), \
        e32)

/* 32 signed bytes q (elements l = 0..31 of a run) against x: the sums of
 * l < 16 (*lo) and l >= 16 (*hi), each scaled by its own sub-block. */
CPU_AVX2 static inline void dot32_s8_halves(const float *x, __m256i q, __m256 *lo, __m256 *hi)
{
    const __m128i q0 = _mm256_castsi256_si128(q), q1 = _mm256_extracti128_si256(q, 1);
    *lo = _mm256_fmadd_ps(_mm256_loadu_ps(x + 8), s8_ps(_mm_srli_si128(q0, 8)),
                          _mm256_mul_ps(_mm256_loadu_ps(x), s8_ps(q0)));
    *hi = _mm256_fmadd_ps(_mm256_loadu_ps(x + 24), s8_ps(_mm_srli_si128(q1, 8)),
                          _mm256_mul_ps(_mm256_loadu_ps(x + 16), s8_ps(q1)));
}

CPU_AVX2 static float dot_q6_K(const float *x, const uint8_t *row, int64_t nb)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x03),
                  e32 = _mm256_set1_epi8(32);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 210 * b;
        const float d = f16_at(p + 208);
        const int8_t *sc = (const int8_t *)(p + 192);
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(p + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(p + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 128 + 32 * h));
            const float *xh = x + 256 * b + 128 * h;
            const int8_t *s = sc + 8 * h;
            __m256 lo, hi;
#define Q6K_RUN(K, ACC)                                                         \
    dot32_s8_halves(xh + 32 * (K), Q6K_QUANTS(K), &lo, &hi);                    \
    ACC = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)s[2 * (K)]), lo, ACC);      \
    ACC = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)s[2 * (K) + 1]), hi, ACC);
            Q6K_RUN(0, acc0)
            Q6K_RUN(1, acc1)
            Q6K_RUN(2, acc0)
            Q6K_RUN(3, acc1)
#undef Q6K_RUN
        }
    }
    return v8_hsum(_mm256_add_ps(acc0, acc1));
}

/* ---------------------------------------------------------------- 3 ---- */

BLOCK_GEMV_OF(CPU_AVX2, cpu_gemv_q8_0_avx2, 32, dot_q8_0(F32_ROW_I, row, nb))
BLOCK_GEMV_OF(CPU_AVX2, cpu_gemv_q4_0_avx2, 32, dot_q4_0(F32_ROW_I, row, nb))
BLOCK_GEMV_OF(CPU_AVX2, cpu_gemv_q4_K_avx2, 256, dot_q4_K(F32_ROW_I, row, nb))
BLOCK_GEMV_OF(CPU_AVX2, cpu_gemv_q6_K_avx2, 256, dot_q6_K(F32_ROW_I, row, nb))

/* q8_act=1: activations as int8 per block of 32 (p->aq, p->ad), weights
 * as int8: each 32-lane product by vpmaddubsw on |w| (unsigned: |-128| is
 * 128) and x with w's sign (x in [-127, 127] negates safely; a pair sum
 * stays within 2 * 128 * 127 < 2^15), pairs summed to int32, then one f32
 * scale per block pair. */
CPU_AVX2 static inline __m256i quads_i8(__m256i w, __m256i xq)
{
    const __m256i p16 =
        _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xq, w));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

/* The same sums of 4 products per int32 lane, as f32. */
CPU_AVX2 static inline __m256 dot_i8(__m256i w, __m256i xq)
{
    return _mm256_cvtepi32_ps(quads_i8(w, xq));
}

CPU_AVX2 static float dot_q8_0_q8(const int8_t *xq, const float *xd, const uint8_t *row,
                                  int64_t nb)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 34 * b;
        const __m256 s = dot_i8(_mm256_loadu_si256((const __m256i *)(p + 2)),
                                _mm256_loadu_si256((const __m256i *)(xq + 32 * b)));
        const __m256 d = _mm256_set1_ps(f16_at(p) * xd[b]);
        if (b & 1)
            acc1 = _mm256_fmadd_ps(d, s, acc1);
        else
            acc0 = _mm256_fmadd_ps(d, s, acc0);
    }
    return v8_hsum(_mm256_add_ps(acc0, acc1));
}

CPU_AVX2 static float dot_q4_0_q8(const int8_t *xq, const float *xd, const uint8_t *row,
                                  int64_t nb)
{
    const __m128i m4 = _mm_set1_epi8(0x0f);
    const __m256i e8 = _mm256_set1_epi8(8);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 18 * b;
        const __m128i v = _mm_loadu_si128((const __m128i *)(p + 2));
        const __m256i w = _mm256_sub_epi8(
            _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4)), e8);
        const __m256 s = dot_i8(w, _mm256_loadu_si256((const __m256i *)(xq + 32 * b)));
        const __m256 d = _mm256_set1_ps(f16_at(p) * xd[b]);
        if (b & 1)
            acc1 = _mm256_fmadd_ps(d, s, acc1);
        else
            acc0 = _mm256_fmadd_ps(d, s, acc0);
    }
    return v8_hsum(_mm256_add_ps(acc0, acc1));
}

/* The K-quants take unsigned quants (q4_K's nibbles, q6_K's six bits before
 * the -32): vpmaddubsw on q and x directly. Their mins and offsets
 * multiply the quantised x's sums per 16 (p->as). */
CPU_AVX2 static inline __m256i pairs_u8_s8(__m256i q, __m256i xq)
{
    return _mm256_maddubs_epi16(q, xq);
}

/* q4_K: sub-block j adds d * sc_j * dx_j * Σ q xq - dmin * m_j * Σ x. */
CPU_AVX2 static float dot_q4_K_q8(const int8_t *xq, const float *xd, const float *xs,
                                  const uint8_t *row, int64_t nb)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 144 * b;
        const int8_t *x8 = xq + 256 * b;
        const float *dx = xd + 8 * b, *sx = xs + 16 * b;
        const float d = f16_at(p), dmin = f16_at(p + 2);
        float msum = 0.0f;
        for (int g = 0; g < 4; g++) {
            int sc0, m0, sc1, m1;
            plinth_q4_K_scale_min(p + 4, 2 * g, &sc0, &m0);
            plinth_q4_K_scale_min(p + 4, 2 * g + 1, &sc1, &m1);
            const __m256i v = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * g));
            const __m256i lo = _mm256_and_si256(v, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            const __m256i p0 = _mm256_madd_epi16(
                pairs_u8_s8(lo, _mm256_loadu_si256((const __m256i *)(x8 + 64 * g))), ones);
            const __m256i p1 = _mm256_madd_epi16(
                pairs_u8_s8(hi, _mm256_loadu_si256((const __m256i *)(x8 + 64 * g + 32))), ones);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc0 * dx[2 * g]),
                                  _mm256_cvtepi32_ps(p0), acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc1 * dx[2 * g + 1]),
                                  _mm256_cvtepi32_ps(p1), acc);
            msum += (float)m0 * (sx[4 * g] + sx[4 * g + 1]) +
                    (float)m1 * (sx[4 * g + 2] + sx[4 * g + 3]);
        }
        mins += dmin * msum;
    }
    return v8_hsum(acc) - mins;
}

/* q6_K: the run of 32 at 128h + 32k is x block 4h + k; its two sub-blocks
 * of 16 (scales sc[8h + 2k], sc[8h + 2k + 1]) weight the int16 pair sums
 * through vpmaddwd; the -32 of every quant is d * sc * 32 * Σ x per 16. */
#define Q6K_UQUANTS(K)                                                                   \
    _mm256_or_si256(                                                                     \
        _mm256_and_si256((K) < 2 ? ((K) % 2 ? ql1 : ql0)                                 \
                                 : _mm256_srli_epi16((K) % 2 ? ql1 : ql0, 4),            \
                         m4),                                                            \
        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * (K)), m2), 4))

CPU_AVX2 static float dot_q6_K_q8(const int8_t *xq, const float *xd, const float *xs,
                                  const uint8_t *row, int64_t nb)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x03);
    __m256 acc = _mm256_setzero_ps(), off = acc;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 210 * b;
        const int8_t *sc = (const int8_t *)(p + 192);
        const int8_t *x8 = xq + 256 * b;
        const float *dx = xd + 8 * b, *sx = xs + 16 * b;
        const float d = f16_at(p + 208);
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(p + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(p + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 128 + 32 * h));
#define Q6K_RUN_Q8(K)                                                                     \
    {                                                                                     \
        const __m256i s16 = _mm256_set_m128i(_mm_set1_epi16(sc[8 * h + 2 * (K) + 1]),     \
                                             _mm_set1_epi16(sc[8 * h + 2 * (K)]));        \
        const __m256i p16 = pairs_u8_s8(                                                  \
            Q6K_UQUANTS(K), _mm256_loadu_si256((const __m256i *)(x8 + 128 * h + 32 * (K)))); \
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d * dx[4 * h + (K)]),                       \
                              _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, s16)), acc);      \
    }
            Q6K_RUN_Q8(0)
            Q6K_RUN_Q8(1)
            Q6K_RUN_Q8(2)
            Q6K_RUN_Q8(3)
#undef Q6K_RUN_Q8
        }
        /* Σ_s sc[s] * (Σ x over sub-block s), 16 sub-blocks as 2 x 8 lanes */
        const __m256 sc_lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)sc)));
        const __m256 sc_hi =
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(sc + 8))));
        const __m256 t = _mm256_fmadd_ps(sc_hi, _mm256_loadu_ps(sx + 8),
                                         _mm256_mul_ps(sc_lo, _mm256_loadu_ps(sx)));
        off = _mm256_fmadd_ps(_mm256_set1_ps(32.0f * d), t, off);
    }
    return v8_hsum(_mm256_sub_ps(acc, off));
}
#undef Q6K_UQUANTS

BLOCK_GEMV_OF(CPU_AVX2, cpu_gemv_q8_0_q8_avx2, 32, dot_q8_0_q8(Q8_ROW_I, row, nb))
BLOCK_GEMV_OF(CPU_AVX2, cpu_gemv_q4_0_q8_avx2, 32, dot_q4_0_q8(Q8_ROW_I, row, nb))
BLOCK_GEMV_OF(CPU_AVX2, cpu_gemv_q4_K_q8_avx2, 256, dot_q4_K_q8(Q8_ROW_I, Q8_SUMS_I, row, nb))
BLOCK_GEMV_OF(CPU_AVX2, cpu_gemv_q6_K_q8_avx2, 256, dot_q6_K_q8(Q8_ROW_I, Q8_SUMS_I, row, nb))

/* q8_0, q4_0 and q4_K packed as 8-row groups (cpu_kernels.h CPU_X8_*), int8
 * activations: lane j of every register is row 8g + j. A chunk's low
 * nibbles are a 4-byte run of each row's quants, its high nibbles the run
 * 16 (q4_0) or 32 (q4_K) further on, so vpmaddubsw against x's matching 4
 * bytes (broadcast) sums pairs per row. The quants are unsigned (q4_0's
 * q, not q - 8; q4_K's as they are): each pair sum is at most
 * 2 * 15 * 127, so 8 of them add up in int16 without overflow (<= 30480),
 * and one vpmaddwd gives the rows' sums. What the unsigned quants leave
 * out (q4_0's 8 * Σ xq, q4_K's mins) comes from x's sums per 16 (p->as). */
CPU_AVX2 static inline __m256i bcast4(const int8_t *x)
{
    int32_t v;
    memcpy(&v, x, 4);
    return _mm256_set1_epi32(v);
}

/* n chunks at q (n <= 4 for one sum of both halves): the int16 pair sums
 * of the low nibbles against xlo + 4c into *lo, the high ones against
 * xhi + 4c into *hi. */
CPU_AVX2 static inline void x8_nibble_dots(const uint8_t *q, int n, const int8_t *xlo,
                                           const int8_t *xhi, __m256i *lo, __m256i *hi)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256i l = _mm256_setzero_si256(), h = l;
    for (int c = 0; c < n; c++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * c));
        l = _mm256_add_epi16(l, _mm256_maddubs_epi16(_mm256_and_si256(v, m4), bcast4(xlo + 4 * c)));
        h = _mm256_add_epi16(h, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4),
                                                     bcast4(xhi + 4 * c)));
    }
    *lo = l;
    *hi = h;
}

CPU_AVX2 static inline __m256 x8_i16_sums(__m256i s16)
{
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)));
}

/* q4_0: row j gets d_j * (d_x * Σ q xq - 8 * Σ_x) per block. */
CPU_AVX2 void cpu_gemv_q4_0x8_q8_avx2(const mm_problem *p, int64_t n0, int64_t n1)
{
    const int64_t nb = p->k / 32;
    for (int64_t g = n0 / CPU_X8_ROWS; g * CPU_X8_ROWS < n1; g++) {
        const uint8_t *grp = p->w + g * nb * CPU_Q4_0X8_UNIT;
        for (int64_t i = 0; i < p->m; i++) {
            const int8_t *xq = p->aq + i * p->k;
            const float *xd = p->ad + i * nb, *xs = p->as + i * 2 * nb;
            __m256 acc = _mm256_setzero_ps();
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *u = grp + b * CPU_Q4_0X8_UNIT;
                x8_prefetch(u, CPU_Q4_0X8_UNIT);
                __m256i lo, hi;
                x8_nibble_dots(u + 16, 4, xq + 32 * b, xq + 32 * b + 16, &lo, &hi);
                acc = x8_q4_0_add(acc, u, xd[b], xs + 2 * b,
                                  x8_i16_sums(_mm256_add_epi16(lo, hi)));
            }
            x8_store(p, i, g, n1, acc);
        }
    }
}

/* q8_0: the quants are signed, so each chunk's products go through
 * vpmaddubsw as |w| against x with w's sign (quads_i8, per lane);
 * a pair sum reaches 2 * 128 * 127, so every chunk's pairs widen to int32
 * at once. Row j gets d_j * d_x * Σ w xq per block. */
CPU_AVX2 void cpu_gemv_q8_0x8_q8_avx2(const mm_problem *p, int64_t n0, int64_t n1)
{
    const int64_t nb = p->k / 32;
    for (int64_t g = n0 / CPU_X8_ROWS; g * CPU_X8_ROWS < n1; g++) {
        const uint8_t *grp = p->w + g * nb * CPU_Q8_0X8_UNIT;
        for (int64_t i = 0; i < p->m; i++) {
            const int8_t *xq = p->aq + i * p->k;
            const float *xd = p->ad + i * nb;
            __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *u = grp + b * CPU_Q8_0X8_UNIT;
                const int8_t *x = xq + 32 * b;
                x8_prefetch(u, CPU_Q8_0X8_UNIT);
                __m256i s0 = _mm256_setzero_si256(), s1 = s0;
                for (int c = 0; c < 8; c += 2) {
                    const __m256i w0 = _mm256_loadu_si256((const __m256i *)(u + 16 + 32 * c));
                    const __m256i w1 = _mm256_loadu_si256((const __m256i *)(u + 48 + 32 * c));
                    s0 = _mm256_add_epi32(s0, quads_i8(w0, bcast4(x + 4 * c)));
                    s1 = _mm256_add_epi32(s1, quads_i8(w1, bcast4(x + 4 * c + 4)));
                }
                const __m256 dw = x8_q8_0_scale(u, xd[b]);
                const __m256 dot = _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1));
                if (b & 1)
                    acc1 = _mm256_fmadd_ps(dw, dot, acc1);
                else
                    acc0 = _mm256_fmadd_ps(dw, dot, acc0);
            }
            x8_store(p, i, g, n1, _mm256_add_ps(acc0, acc1));
        }
    }
}

/* q4_K: row j gets d_j * Σ_s sc_js * d_x,s * Σ q xq - dmin_j * Σ_s m_js *
 * Σ_x,s over its 8 sub-blocks s per super-block. */
CPU_AVX2 void cpu_gemv_q4_Kx8_q8_avx2(const mm_problem *p, int64_t n0, int64_t n1)
{
    const int64_t nb = p->k / 256;
    for (int64_t g = n0 / CPU_X8_ROWS; g * CPU_X8_ROWS < n1; g++) {
        const uint8_t *grp = p->w + g * nb * CPU_Q4_KX8_UNIT;
        for (int64_t i = 0; i < p->m; i++) {
            const int8_t *xq = p->aq + i * p->k;
            const float *xd = p->ad + i * (p->k / 32), *xs = p->as + i * (p->k / 16);
            __m256 acc = _mm256_setzero_ps();
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *u = grp + b * CPU_Q4_KX8_UNIT;
                x8_prefetch(u, CPU_Q4_KX8_UNIT);
                const int8_t *x8 = xq + 256 * b;
                const float *dx = xd + 8 * b, *sx = xs + 16 * b;
                __m256 sacc = _mm256_setzero_ps(), macc = sacc;
                for (int h = 0; h < 4; h++) {
                    __m256i lo, hi;
                    x8_nibble_dots(u + CPU_Q4_KX8_QS + 256 * h, 8, x8 + 64 * h,
                                   x8 + 64 * h + 32, &lo, &hi);
                    x8_q4_K_sub(u, h, dx, sx, x8_i16_sums(lo), x8_i16_sums(hi), &sacc, &macc);
                }
                acc = x8_q4_K_add(acc, u, sacc, macc);
            }
            x8_store(p, i, g, n1, acc);
        }
    }
}

/* x (k floats, k a multiple of 32) as int8 per block of 32: d = max|x| /
 * 127, q = x * (1 / d) rounded to nearest even (d = 0: all zero); s[j] =
 * d times the sum of q over [16j, 16j + 16): the quantised x's sums, so
 * that an offset or min applied to them cancels the same rounding as the
 * integer dot products it corrects (llama.cpp's bsums). */
CPU_AVX2 void cpu_quantize_q8_avx2(const float *x, int8_t *q, float *d, float *s, int64_t k)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < k / 32; b++, x += 32, q += 32) {
        __m256 v[4], amax = _mm256_setzero_ps();
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_loadu_ps(x + 8 * j);
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[j]));
        }
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        const float dd = _mm_cvtss_f32(m) / 127.0f;
        d[b] = dd;
        const __m256 id = _mm256_set1_ps(dd != 0.0f ? 1.0f / dd : 0.0f);
        __m256i i[4];
        for (int j = 0; j < 4; j++)
            i[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[j], id),
                                                      _MM_FROUND_TO_NEAREST_INT |
                                                          _MM_FROUND_NO_EXC));
        s[2 * b] = dd * v8_hsum(_mm256_cvtepi32_ps(_mm256_add_epi32(i[0], i[1])));
        s[2 * b + 1] = dd * v8_hsum(_mm256_cvtepi32_ps(_mm256_add_epi32(i[2], i[3])));
        /* pack 32 -> 16 -> 8 bits; the packs work per 128-bit lane, so the
         * last permute puts the 8 groups of 4 back in order */
        const __m256i a = _mm256_packs_epi32(i[0], i[1]), c = _mm256_packs_epi32(i[2], i[3]);
        const __m256i r = _mm256_packs_epi16(a, c);
        _mm256_storeu_si256((__m256i *)q,
                            _mm256_permutevar8x32_epi32(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6,
                                                                             3, 7)));
    }
}

/* ---------------------------------------------------------------- 4 ---- */

/* Each product and difference a statement of its own, in
 * plinth_dequant_block's order (no fused multiply-add), so the values are
 * the same bits. */
CPU_AVX2 void cpu_dequant_q8_0_avx2(const uint8_t *src, float *dst, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++, src += 34, dst += 32) {
        const __m256 d = _mm256_set1_ps(f16_at(src));
        const __m128i q0 = _mm_loadu_si128((const __m128i *)(src + 2));
        const __m128i q1 = _mm_loadu_si128((const __m128i *)(src + 18));
        _mm256_storeu_ps(dst, _mm256_mul_ps(s8_ps(q0), d));
        _mm256_storeu_ps(dst + 8, _mm256_mul_ps(s8_ps(_mm_srli_si128(q0, 8)), d));
        _mm256_storeu_ps(dst + 16, _mm256_mul_ps(s8_ps(q1), d));
        _mm256_storeu_ps(dst + 24, _mm256_mul_ps(s8_ps(_mm_srli_si128(q1, 8)), d));
    }
}

CPU_AVX2 void cpu_dequant_q4_0_avx2(const uint8_t *src, float *dst, int64_t n)
{
    const __m128i m4 = _mm_set1_epi8(0x0f), e8 = _mm_set1_epi8(8);
    for (int64_t b = 0; b < n / 32; b++, src += 18, dst += 32) {
        const __m256 d = _mm256_set1_ps(f16_at(src));
        const __m128i v = _mm_loadu_si128((const __m128i *)(src + 2));
        const __m128i lo = _mm_sub_epi8(_mm_and_si128(v, m4), e8);
        const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), e8);
        _mm256_storeu_ps(dst, _mm256_mul_ps(s8_ps(lo), d));
        _mm256_storeu_ps(dst + 8, _mm256_mul_ps(s8_ps(_mm_srli_si128(lo, 8)), d));
        _mm256_storeu_ps(dst + 16, _mm256_mul_ps(s8_ps(hi), d));
        _mm256_storeu_ps(dst + 24, _mm256_mul_ps(s8_ps(_mm_srli_si128(hi, 8)), d));
    }
}

/* 32 unsigned bytes q as d1 * q - m1, stored at dst. */
CPU_AVX2 static inline void q4_K_store32(float *dst, __m256i q, __m256 d1, __m256 m1)
{
    const __m128i q0 = _mm256_castsi256_si128(q), q1 = _mm256_extracti128_si256(q, 1);
    const __m128i part[4] = {q0, _mm_srli_si128(q0, 8), q1, _mm_srli_si128(q1, 8)};
    for (int j = 0; j < 4; j++) {
        const __m256 lo = _mm256_mul_ps(d1, u8_ps(part[j]));
        _mm256_storeu_ps(dst + 8 * j, _mm256_sub_ps(lo, m1));
    }
}

CPU_AVX2 void cpu_dequant_q4_K_avx2(const uint8_t *src, float *dst, int64_t n)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (int64_t b = 0; b < n / 256; b++, src += 144, dst += 256) {
        const float d = f16_at(src), dmin = f16_at(src + 2);
        for (int g = 0; g < 4; g++) {
            int sc0, m0, sc1, m1;
            plinth_q4_K_scale_min(src + 4, 2 * g, &sc0, &m0);
            plinth_q4_K_scale_min(src + 4, 2 * g + 1, &sc1, &m1);
            const float d1 = d * (float)sc0, mm1 = dmin * (float)m0;
            const float d2 = d * (float)sc1, mm2 = dmin * (float)m1;
            const __m256i v = _mm256_loadu_si256((const __m256i *)(src + 16 + 32 * g));
            q4_K_store32(dst + 64 * g, _mm256_and_si256(v, m4), _mm256_set1_ps(d1),
                         _mm256_set1_ps(mm1));
            q4_K_store32(dst + 64 * g + 32, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4),
                         _mm256_set1_ps(d2), _mm256_set1_ps(mm2));
        }
    }
}

CPU_AVX2 void cpu_dequant_q6_K_avx2(const uint8_t *src, float *dst, int64_t n)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x03),
                  e32 = _mm256_set1_epi8(32);
    for (int64_t b = 0; b < n / 256; b++, src += 210, dst += 256) {
        const float d = f16_at(src + 208);
        const int8_t *sc = (const int8_t *)(src + 192);
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(src + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(src + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(src + 128 + 32 * h));
            const __m256i q[4] = {Q6K_QUANTS(0), Q6K_QUANTS(1), Q6K_QUANTS(2), Q6K_QUANTS(3)};
            for (int k = 0; k < 4; k++) {
                const __m128i q0 = _mm256_castsi256_si128(q[k]);
                const __m128i q1 = _mm256_extracti128_si256(q[k], 1);
                const __m256 s_lo = _mm256_set1_ps(d * (float)sc[8 * h + 2 * k]);
                const __m256 s_hi = _mm256_set1_ps(d * (float)sc[8 * h + 2 * k + 1]);
                float *o = dst + 128 * h + 32 * k;
                _mm256_storeu_ps(o, _mm256_mul_ps(s_lo, s8_ps(q0)));
                _mm256_storeu_ps(o + 8, _mm256_mul_ps(s_lo, s8_ps(_mm_srli_si128(q0, 8))));
                _mm256_storeu_ps(o + 16, _mm256_mul_ps(s_hi, s8_ps(q1)));
                _mm256_storeu_ps(o + 24, _mm256_mul_ps(s_hi, s8_ps(_mm_srli_si128(q1, 8))));
            }
        }
    }
}
#undef Q6K_QUANTS
