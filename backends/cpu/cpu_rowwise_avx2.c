/*
 * cpu_rowwise_avx2.c — the AVX2 kernels that work a row at a time, the
 * same operations in the same order as cpu_rowwise_x86.c's AVX-512 ones,
 * 8 lanes wide: elementwise ops, rms_norm, rope, and attention's inner
 * loops. Without them an AVX2-only CPU ran these through the portable
 * loops, and attention (no fa_softmax: no flash attention) took 87% of a
 * 512-token prefill of Gemma 3 270M.
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
 * form, with a ~1 ulp exp (v8_exp). rope rounds each product separately,
 * as ref: bit-identical.
 */
#if !defined(__x86_64__)
#error "cpu_rowwise_avx2.c is built for x86-64 only (meson picks the ISA files)"
#endif

#include <math.h>

#include "cpu_simd_x86.h"

CPU_AVX2 static inline float hmax(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* ---------------------------------------------------------------- 1 ---- */

CPU_AVX2 static inline __m256 unary8(uint32_t op, __m256 x, __m256 s)
{
    if (op == PLINTH_OP_SCALE)
        return _mm256_mul_ps(x, s);
    __m256 z;
    if (op == PLINTH_OP_SILU) {
        z = x;
    } else {
        const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
        z = _mm256_mul_ps(_mm256_set1_ps(1.5957691216057308f),
                          _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x));
    }
    const __m256 e = v8_exp(_mm256_sub_ps(_mm256_setzero_ps(), z));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

CPU_AVX2 static inline __m256 binary8(uint32_t op, __m256 a, __m256 b)
{
    switch (op) {
    case PLINTH_OP_ADD: return _mm256_add_ps(a, b);
    case PLINTH_OP_SUB: return _mm256_sub_ps(a, b);
    case PLINTH_OP_MUL: return _mm256_mul_ps(a, b);
    case PLINTH_OP_DIV: return _mm256_div_ps(a, b);
    default: return _mm256_mul_ps(unary8(PLINTH_OP_GELU_TANH, a, a), b);
    }
}

CPU_AVX2 void cpu_ew_row_avx2(uint32_t op, float sc, float *o, const float *a, const float *b,
                              bool a_bc, bool b_bc, int64_t n)
{
    const __m256 s = _mm256_set1_ps(sc);
    const bool unary = op == PLINTH_OP_SCALE || op == PLINTH_OP_GELU_TANH ||
                       op == PLINTH_OP_SILU;
    const __m256 av = a_bc ? _mm256_set1_ps(a[0]) : s, bv = b && b_bc ? _mm256_set1_ps(b[0]) : s;
    for (int64_t i = 0; i < n; i += 8) {
        const __m256 x = a_bc ? av : v8_load_n(a + i, PLINTH_F32, n - i);
        const __m256 r = unary ? unary8(op, x, s)
                               : binary8(op, x,
                                         b_bc ? bv : v8_load_n(b + i, PLINTH_F32, n - i));
        v8_store_n(o + i, r, n - i);
    }
}

/* ---------------------------------------------------------------- 2 ---- */

CPU_AVX2 void cpu_norm_row_avx2(float *o, const float *x, const uint8_t *w, int32_t wdt,
                                const float *mul, int64_t n, float eps)
{
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        const __m256 v = v8_load_n(x + i, PLINTH_F32, n - i);
        acc = _mm256_fmadd_ps(v, v, acc);
    }
    const double ss = v8_hsum(acc);
    const __m256 inv = _mm256_set1_ps((float)(1.0 / sqrt(ss / (double)n + eps)));
    const size_t ws = plinth_dtype_bytes(wdt);
    for (int64_t i = 0; i < n; i += 8) {
        __m256 v = _mm256_mul_ps(v8_load_n(x + i, PLINTH_F32, n - i), inv);
        if (w)
            v = _mm256_mul_ps(v, v8_load_n(w + i * ws, wdt, n - i));
        if (mul)
            v = _mm256_mul_ps(v, v8_load_n(mul + i, PLINTH_F32, n - i));
        v8_store_n(o + i, v, n - i);
    }
}

/* ---------------------------------------------------------------- 3 ---- */

/* The rotation 8 pairs at a time (x0*c - x1*s with a separate rounding of
 * each product, no FMA: ref's bits); returns how many it did. */
CPU_AVX2 int64_t cpu_rope_row_avx2(const float *x, float *o, const float *cs, int64_t half)
{
    int64_t i = 0;
    for (; i + 8 <= half; i += 8) {
        const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + half + i);
        const __m256 c = _mm256_loadu_ps(cs + i), s = _mm256_loadu_ps(cs + half + i);
        const __m256 r0 = _mm256_sub_ps(_mm256_mul_ps(x0, c), _mm256_mul_ps(x1, s));
        const __m256 r1 = _mm256_add_ps(_mm256_mul_ps(x1, c), _mm256_mul_ps(x0, s));
        _mm256_storeu_ps(o + i, r0);
        _mm256_storeu_ps(o + half + i, r1);
    }
    return i;
}

/* ---------------------------------------------------------------- 4 ---- */

CPU_AVX2 float cpu_dot_avx2(const float *q, const uint8_t *k, int32_t kdt, int64_t d)
{
    const size_t es = plinth_dtype_bytes(kdt);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= d; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), v8_load(k + i * es, kdt), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), v8_load(k + (i + 8) * es, kdt), s1);
    }
    for (; i < d; i += 8)
        s0 = _mm256_fmadd_ps(v8_load_n(q + i, PLINTH_F32, d - i),
                             v8_load_n(k + i * es, kdt, d - i), s0);
    return v8_hsum(_mm256_add_ps(s0, s1));
}

CPU_AVX2 void cpu_axpy_avx2(float *acc, float c, float p, const uint8_t *v, int32_t vdt,
                            int64_t d)
{
    const size_t es = plinth_dtype_bytes(vdt);
    const __m256 cv = _mm256_set1_ps(c), pv = _mm256_set1_ps(p);
    for (int64_t i = 0; i < d; i += 8) {
        __m256 a = _mm256_mul_ps(v8_load_n(acc + i, PLINTH_F32, d - i), cv);
        a = _mm256_fmadd_ps(pv, v8_load_n(v + i * es, vdt, d - i), a);
        v8_store_n(acc + i, a, d - i);
    }
}

CPU_AVX2 float cpu_fa_softmax_avx2(float *s, int64_t nbp, int64_t j0, int64_t lo, int64_t hi,
                                   float scale, float *mx, float *sum)
{
    const __m256i step = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i vlo = _mm256_set1_epi32((int)lo), vhi = _mm256_set1_epi32((int)hi);
    const __m256 ninf = _mm256_set1_ps(-INFINITY), vsc = _mm256_set1_ps(scale);
    __m256 vmax = ninf;
    for (int64_t c = 0; c < nbp; c += 8) {
        const __m256i key = _mm256_add_epi32(_mm256_set1_epi32((int)(j0 + c)), step);
        /* lo <= key < hi */
        const __m256i ok = _mm256_andnot_si256(_mm256_cmpgt_epi32(vlo, key),
                                               _mm256_cmpgt_epi32(vhi, key));
        const __m256 v = _mm256_blendv_ps(ninf, _mm256_mul_ps(_mm256_loadu_ps(s + c), vsc),
                                          _mm256_castsi256_ps(ok));
        _mm256_storeu_ps(s + c, v);
        /* NaN scores: max may drop them, but exp(NaN) brings them back */
        vmax = _mm256_max_ps(vmax, v);
    }
    const float bmax = hmax(vmax);
    const float bm = bmax > *mx ? bmax : *mx;
    if (bm == -INFINITY) { /* every key of this block masked for this row */
        for (int64_t c = 0; c < nbp; c += 8)
            _mm256_storeu_ps(s + c, _mm256_setzero_ps());
        return 1.0f;
    }
    const float corr = *mx == -INFINITY ? 0.0f : expf(*mx - bm);
    __m256 vs = _mm256_setzero_ps();
    const __m256 vbm = _mm256_set1_ps(bm);
    for (int64_t c = 0; c < nbp; c += 8) {
        const __m256 ev = v8_exp(_mm256_sub_ps(_mm256_loadu_ps(s + c), vbm));
        vs = _mm256_add_ps(vs, ev);
        _mm256_storeu_ps(s + c, ev);
    }
    *sum = *sum * corr + v8_hsum(vs);
    *mx = bm;
    return corr;
}
