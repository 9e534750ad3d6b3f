/*
 * cpu_probe_x86.c — the two loops the precision probe times on AVX-512
 * with avx512_bf16 (cpu_precision.c does the timing and the decision):
 * vdpbf16ps against vfmadd on the same zmm width, as bench/fmapeak.c
 * measures the FMA peak.
 *
 * Sixteen independent accumulator chains in each (enough to cover a 6-8
 * cycle latency on two pipes), written out as named variables so they stay
 * in registers. Every chain starts from its own value (or the compiler may
 * merge identical chains), and the values stay far from overflow and from
 * subnormals (vdpbf16ps flushes those, and either can slow a core down).
 */
#if !defined(__x86_64__)
#error "cpu_probe_x86.c is built for x86-64 only (meson picks the ISA files)"
#endif

#include "cpu_simd_x86.h"

#define ALL16(X)                                                                               \
    X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

/* n iterations of 16 chains c = c * a + b: 16 x 16 x n f32 products. */
CPU_AVX512 float cpu_probe_f32_avx512(int64_t n)
{
    const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
#define DECL(i) __m512 c##i = _mm512_set1_ps(0.25f + 0.01f * (float)(i));
#define STEP(i) c##i = _mm512_fmadd_ps(c##i, a, b);
#define SUM(i) s = _mm512_add_ps(s, c##i);
    ALL16(DECL)
    for (int64_t it = 0; it < n; it++) {
        ALL16(STEP)
    }
    __m512 s = _mm512_setzero_ps();
    ALL16(SUM)
#undef DECL
#undef STEP
    return _mm512_reduce_add_ps(s);
}

/* n iterations of 16 chains c += a . b over bf16 pairs: 16 x 32 x n
 * products, twice the f32 loop's per instruction. The products are 1e-6:
 * a chain grows by 2e-6 per step from 0.25, nowhere near overflow. */
CPU_AVX512BF16 float cpu_probe_bf16_avx512(int64_t n)
{
    const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
    const __m512bh b = a;
#define DECL(i) __m512 c##i = _mm512_set1_ps(0.25f + 0.01f * (float)(i));
#define STEP(i) c##i = _mm512_dpbf16_ps(c##i, a, b);
    ALL16(DECL)
    for (int64_t it = 0; it < n; it++) {
        ALL16(STEP)
    }
    __m512 s = _mm512_setzero_ps();
    ALL16(SUM)
#undef DECL
#undef STEP
#undef SUM
    return _mm512_reduce_add_ps(s);
}
