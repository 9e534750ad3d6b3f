/*
 * cpu_simd_x86.h — target attributes and small SIMD helpers shared by the
 * x86 kernel files (cpu_*_x86.c, cpu_*_avx2.c). Each helper is `static inline` with the
 * same target as the kernels that call it, so the compiler inlines it into
 * them. The files are built for the default -march: only functions with
 * these attributes use AVX, and only levels the CPU has call them.
 *
 * Sections:
 *   1. target attribute strings
 *   2. AVX-512 helpers: loads that widen bf16/f16, exp
 *   3. AVX2 helpers: the same 8 lanes wide (loads of n <= 8 with their lane
 *      masks, stores of n), horizontal sum
 */
#ifndef PLINTH_CPU_SIMD_X86_H
#define PLINTH_CPU_SIMD_X86_H

#if !defined(__x86_64__)
#error "cpu_simd_x86.h is for the x86-64 kernel files only"
#endif

#include <immintrin.h>

#include "cpu_x86.h"

/* ---------------------------------------------------------------- 1 ---- */

#define CPU_AVX2 __attribute__((target("avx2,fma,f16c")))
#if defined(PLINTH_CPU_EMULATE_AVX512)
/* The test build of the plugin (tests/emulated/meson.build) that runs the
 * AVX-512 levels on an AVX2 CPU: every _mm512_* intrinsic is SIMDe's
 * portable version (Debian's libsimde-dev, the same semantics, built of
 * AVX2 here) and the AVX-512 functions are compiled for AVX2, so no zmm
 * instruction is emitted. What it cannot catch: an AVX-512 encoding the
 * compiler gets wrong, and speed. cpu_isa_x86.c reports the features. */
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include "cpu_simd_emu.h" /* what SIMDe 0.7.4 lacks */
#define CPU_AVX512 CPU_AVX2
#define CPU_AVX512BF16 CPU_AVX2
#define CPU_AVX512VNNI CPU_AVX2
#else
#define CPU_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx2")))
#define CPU_AVX512BF16                                                                         \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,f16c,avx2")))
#define CPU_AVX512VNNI                                                                         \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,f16c,avx2")))
#endif

/* ---------------------------------------------------------------- 2 ---- */

/* 16 elements of dtype dt at p (n <= 16 valid, the rest read as 0), as f32.
 * bf16 widens exactly (it is the top half of an f32). */
CPU_AVX512 static inline __m512 v16_load(const void *p, int32_t dt, int n)
{
    const __mmask16 m = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
    if (dt == PLINTH_F32)
        return _mm512_maskz_loadu_ps(m, p);
    __m256i h = _mm256_maskz_loadu_epi16(m, p);
    if (dt == PLINTH_BF16)
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/* e^x, ~1 ulp (Cephes expf polynomial); scalef handles overflow to inf
 * and underflow to 0; NaN propagates. */
CPU_AVX512 static inline __m512 v16_exp(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500E-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* ---------------------------------------------------------------- 3 ---- */

/* 8 elements of dtype dt at p (all 8 valid), as f32. */
CPU_AVX2 static inline __m256 v8_load(const void *p, int32_t dt)
{
    if (dt == PLINTH_F32)
        return _mm256_loadu_ps(p);
    __m128i h = _mm_loadu_si128(p);
    if (dt == PLINTH_BF16)
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

/* Lanes [0, n) of 8 set (n clamped to 0..8), as maskload/maskstore want. */
CPU_AVX2 static inline __m256i v8_lanes(int64_t n)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 0 ? 0 : n > 8 ? 8 : n)), idx);
}

/* n elements of dtype dt at p as f32 (n < 8: only those read, the rest 0;
 * bf16 and f16 widened exactly), and the first n lanes of v stored to o. */
CPU_AVX2 static inline __m256 v8_load_n(const void *p, int32_t dt, int64_t n)
{
    if (n >= 8)
        return v8_load(p, dt);
    if (dt == PLINTH_F32)
        return _mm256_maskload_ps((const float *)p, v8_lanes(n));
    uint16_t h[8] = {0};
    for (int64_t i = 0; i < n; i++)
        h[i] = ((const uint16_t *)p)[i];
    return v8_load(h, dt);
}

CPU_AVX2 static inline void v8_store_n(float *o, __m256 v, int64_t n)
{
    if (n >= 8)
        _mm256_storeu_ps(o, v);
    else
        _mm256_maskstore_ps(o, v8_lanes(n), v);
}

/* e^x as v16_exp computes it (the same polynomial, ~1 ulp). AVX2 has no
 * scalef: 2^n is applied as two powers of two that are each a normal f32
 * (n / 2 rounded down, and the rest), so the product rounds once, to a
 * denormal or 0 below e^-87 and to inf above e^88.7, as scalef does. The
 * clamps take x as their second operand, so that a NaN x stays NaN. */
CPU_AVX2 static inline __m256 v8_exp(__m256 x)
{
    x = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-104.0f), x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500E-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i ni = _mm256_cvtps_epi32(n), h = _mm256_srai_epi32(ni, 1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

CPU_AVX2 static inline float v8_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif /* PLINTH_CPU_SIMD_X86_H */
