/*
 * cpu_rowwise_x86.c — the AVX-512 kernels that work a row at a time:
 * elementwise ops, rms_norm, rope, and attention's inner loops.
 *
 * Sections:
 *   1. elementwise: add sub mul div, scale gelu_tanh silu, gelu(a) * b
 *   2. rms_norm
 *   3. rope
 *   4. attention: q . k and acc * c + p * v (decode), the online softmax
 *      of one row of a score block (flash attention, prefill)
 *
 * add/sub/mul/div are one correctly rounded f32 operation: bit-identical
 * to ref. gelu and silu are x / (1 + e^-z), an exact identity of the tanh
 * form, with a ~1 ulp exp (v16_exp).
 */
#if !defined(__x86_64__)
#error "cpu_rowwise_x86.c is built for x86-64 only (meson picks the ISA files)"
#endif

#include <math.h>

#include "cpu_simd_x86.h"

/* ---------------------------------------------------------------- 1 ---- */

CPU_AVX512 static inline __m512 unary16(uint32_t op, __m512 x, __m512 s)
{
    if (op == PLINTH_OP_SCALE)
        return _mm512_mul_ps(x, s);
    __m512 z;
    if (op == PLINTH_OP_SILU) {
        z = x;
    } else {
        __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
        z = _mm512_mul_ps(_mm512_set1_ps(1.5957691216057308f),
                          _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), x3, x));
    }
    __m512 e = v16_exp(_mm512_sub_ps(_mm512_setzero_ps(), z));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

CPU_AVX512 static inline __m512 binary16(uint32_t op, __m512 a, __m512 b)
{
    switch (op) {
    case PLINTH_OP_ADD: return _mm512_add_ps(a, b);
    case PLINTH_OP_SUB: return _mm512_sub_ps(a, b);
    case PLINTH_OP_MUL: return _mm512_mul_ps(a, b);
    case PLINTH_OP_DIV: return _mm512_div_ps(a, b);
    default: return _mm512_mul_ps(unary16(PLINTH_OP_GELU_TANH, a, a), b);
    }
}

CPU_AVX512 void cpu_ew_row_avx512(uint32_t op, float sc, float *o, const float *a, const float *b,
                                  bool a_bc, bool b_bc, int64_t n)
{
    const __m512 s = _mm512_set1_ps(sc);
    const bool unary = op == PLINTH_OP_SCALE || op == PLINTH_OP_GELU_TANH ||
                       op == PLINTH_OP_SILU;
    const __m512 av = a_bc ? _mm512_set1_ps(a[0]) : s, bv = b && b_bc ? _mm512_set1_ps(b[0]) : s;
    for (int64_t i = 0; i < n; i += 16) {
        const int m = n - i >= 16 ? 16 : (int)(n - i);
        const __mmask16 k = (__mmask16)(m == 16 ? 0xffff : (1u << m) - 1);
        __m512 x = a_bc ? av : _mm512_maskz_loadu_ps(k, a + i), r;
        if (unary) {
            r = unary16(op, x, s);
        } else {
            __m512 y = b_bc ? bv : _mm512_maskz_loadu_ps(k, b + i);
            r = binary16(op, x, y);
        }
        _mm512_mask_storeu_ps(o + i, k, r);
    }
}

/* ---------------------------------------------------------------- 2 ---- */

CPU_AVX512 void cpu_norm_row_avx512(float *o, const float *x, const uint8_t *w, int32_t wdt,
                                    const float *mul, int64_t n, float eps)
{
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __m512 v = v16_load(x + i, PLINTH_F32, n - i >= 16 ? 16 : (int)(n - i));
        acc = _mm512_fmadd_ps(v, v, acc);
    }
    const double ss = _mm512_reduce_add_ps(acc);
    const __m512 inv = _mm512_set1_ps((float)(1.0 / sqrt(ss / (double)n + eps)));
    const size_t ws = plinth_dtype_bytes(wdt);
    for (int64_t i = 0; i < n; i += 16) {
        const int m = n - i >= 16 ? 16 : (int)(n - i);
        const __mmask16 k = (__mmask16)(m == 16 ? 0xffff : (1u << m) - 1);
        __m512 v = _mm512_mul_ps(v16_load(x + i, PLINTH_F32, m), inv);
        if (w)
            v = _mm512_mul_ps(v, v16_load(w + i * ws, wdt, m));
        if (mul)
            v = _mm512_mul_ps(v, v16_load(mul + i, PLINTH_F32, m));
        _mm512_mask_storeu_ps(o + i, k, v);
    }
}

/* ---------------------------------------------------------------- 3 ---- */

/* The rotation 16 pairs at a time (the same f32 operations as the scalar
 * loop: x0*c - x1*s with a separate rounding of each product, no FMA, so
 * results match ref's bit for bit); returns how many it did. */
CPU_AVX512 int64_t cpu_rope_row_avx512(const float *x, float *o, const float *cs, int64_t half)
{
    int64_t i = 0;
    for (; i + 16 <= half; i += 16) {
        const __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + half + i);
        const __m512 c = _mm512_loadu_ps(cs + i), s = _mm512_loadu_ps(cs + half + i);
        const __m512 r0 = _mm512_sub_ps(_mm512_mul_ps(x0, c), _mm512_mul_ps(x1, s));
        const __m512 r1 = _mm512_add_ps(_mm512_mul_ps(x1, c), _mm512_mul_ps(x0, s));
        _mm512_storeu_ps(o + i, r0);
        _mm512_storeu_ps(o + half + i, r1);
    }
    return i;
}

/* ---------------------------------------------------------------- 4 ---- */

CPU_AVX512 float cpu_dot_avx512(const float *q, const uint8_t *k, int32_t kdt, int64_t d)
{
    const size_t es = plinth_dtype_bytes(kdt);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 32 <= d; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), v16_load(k + i * es, kdt, 16), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), v16_load(k + (i + 16) * es, kdt, 16), s1);
    }
    for (; i < d; i += 16) {
        const int n = d - i >= 16 ? 16 : (int)(d - i);
        s0 = _mm512_fmadd_ps(v16_load(q + i, PLINTH_F32, n), v16_load(k + i * es, kdt, n), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

CPU_AVX512 void cpu_axpy_avx512(float *acc, float c, float p, const uint8_t *v, int32_t vdt,
                                int64_t d)
{
    const size_t es = plinth_dtype_bytes(vdt);
    const __m512 cv = _mm512_set1_ps(c), pv = _mm512_set1_ps(p);
    for (int64_t i = 0; i < d; i += 16) {
        const int n = d - i >= 16 ? 16 : (int)(d - i);
        const __mmask16 m = (__mmask16)(n == 16 ? 0xffff : (1u << n) - 1);
        __m512 a = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, acc + i), cv);
        a = _mm512_fmadd_ps(pv, v16_load(v + i * es, vdt, n), a);
        _mm512_mask_storeu_ps(acc + i, m, a);
    }
}

CPU_AVX512 float cpu_fa_softmax_avx512(float *s, int64_t nbp, int64_t j0, int64_t lo, int64_t hi,
                                       float scale, float *mx, float *sum)
{
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int64_t c = 0; c < nbp; c += 16) {
        const __m512i key = _mm512_add_epi32(_mm512_set1_epi32((int)(j0 + c)),
                                             _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                               11, 12, 13, 14, 15));
        const __mmask16 ok = _mm512_cmpge_epi32_mask(key, _mm512_set1_epi32((int)lo)) &
                             _mm512_cmplt_epi32_mask(key, _mm512_set1_epi32((int)hi));
        const __m512 v = _mm512_mask_mul_ps(_mm512_set1_ps(-INFINITY), ok, _mm512_loadu_ps(s + c),
                                            _mm512_set1_ps(scale));
        _mm512_storeu_ps(s + c, v);
        /* NaN scores: max may drop them, but exp(NaN) brings them back */
        vmax = _mm512_max_ps(vmax, v);
    }
    const float bmax = _mm512_reduce_max_ps(vmax);
    const float bm = bmax > *mx ? bmax : *mx;
    if (bm == -INFINITY) { /* every key of this block masked for this row */
        for (int64_t c = 0; c < nbp; c += 16)
            _mm512_storeu_ps(s + c, _mm512_setzero_ps());
        return 1.0f;
    }
    const float corr = *mx == -INFINITY ? 0.0f : expf(*mx - bm);
    __m512 vs = _mm512_setzero_ps();
    for (int64_t c = 0; c < nbp; c += 16) {
        const __m512 ev = v16_exp(_mm512_sub_ps(_mm512_loadu_ps(s + c), _mm512_set1_ps(bm)));
        vs = _mm512_add_ps(vs, ev);
        _mm512_storeu_ps(s + c, ev);
    }
    *sum = *sum * corr + _mm512_reduce_add_ps(vs);
    *mx = bm;
    return corr;
}
