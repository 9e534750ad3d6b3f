/*
 * cpu_quant_avx512.c — AVX-512 bodies for block-dtype weights (q8_0, q4_0,
 * q4_K, q6_K), the AVX-512 level's slots (cpu_isa_x86.c): the same
 * operations as cpu_quant_x86.c's AVX2 ones, 16 f32 or 64 int8 lanes wide.
 *
 * Sections:
 *   1. helpers
 *   2. f32 activations: one weight row against one row of a, per dtype,
 *      and the GEMV over rows
 *   3. int8 activations: their quantisation, q6_K's GEMV
 *   4. the packed 8-row GEMVs (q8_0, q4_0, q4_K), twice: with VNNI's
 *      vpdpbusd, and with AVX-512BW's vpmaddubsw + vpmaddwd (a Skylake-X),
 *      from one body (cpu_quant_x8_avx512.h)
 *   5. a row dequantised to f32 (bit for bit plinth_dequant_block)
 *
 * Where the int8 sums go: a 512-bit register holds two chunks of a packed
 * unit (8 rows x 4 bytes each), so its int32 lanes are rows 0-7 of one
 * chunk and rows 0-7 of the next; the two halves are added once per block
 * and the f32 scaling stays 8 lanes wide, one lane per row, as at AVX2.
 *
 * Tested on CPUs without AVX-512 too: tests/emulated builds this file with
 * SIMDe's AVX-512 (cpu_simd_x86.h), as a CPU with VNNI and as one without.
 */
#if !defined(__x86_64__)
#error "cpu_quant_avx512.c is built for x86-64 only (meson picks the ISA files)"
#endif

#include <string.h>

#include "cpu_quant_x86.h"

/* ---------------------------------------------------------------- 1 ---- */

/* 16 signed / unsigned bytes as 16 f32 */
CPU_AVX512 static inline __m512 s8x16_ps(__m128i v)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v));
}

CPU_AVX512 static inline __m512 u8x16_ps(__m128i v)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v));
}

/* a's low and high 256 bits added: 8 lanes */
CPU_AVX512 static inline __m256i halves_epi32(__m512i a)
{
    return _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1));
}

/* ---------------------------------------------------------------- 2 ---- */

/* q8_0: x = d * q per block of 32. Two accumulators (even, odd blocks). */
CPU_AVX512 static float dot_q8_0(const float *x, const uint8_t *row, int64_t nb)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 34 * b;
        const float *xb = x + 32 * b;
        __m512 s = _mm512_mul_ps(_mm512_loadu_ps(xb),
                                 s8x16_ps(_mm_loadu_si128((const __m128i *)(p + 2))));
        s = _mm512_fmadd_ps(_mm512_loadu_ps(xb + 16),
                            s8x16_ps(_mm_loadu_si128((const __m128i *)(p + 18))), s);
        if (b & 1)
            acc1 = _mm512_fmadd_ps(_mm512_set1_ps(f16_at(p)), s, acc1);
        else
            acc0 = _mm512_fmadd_ps(_mm512_set1_ps(f16_at(p)), s, acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* q4_0: element i < 16 the low nibble of byte i, 16 + i its high nibble;
 * x = d * (nibble - 8). */
CPU_AVX512 static float dot_q4_0(const float *x, const uint8_t *row, int64_t nb)
{
    const __m128i m4 = _mm_set1_epi8(0x0f), e8 = _mm_set1_epi8(8);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 18 * b;
        const float *xb = x + 32 * b;
        const __m128i v = _mm_loadu_si128((const __m128i *)(p + 2));
        const __m128i lo = _mm_sub_epi8(_mm_and_si128(v, m4), e8);
        const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), e8);
        __m512 s = _mm512_mul_ps(_mm512_loadu_ps(xb), s8x16_ps(lo));
        s = _mm512_fmadd_ps(_mm512_loadu_ps(xb + 16), s8x16_ps(hi), s);
        if (b & 1)
            acc1 = _mm512_fmadd_ps(_mm512_set1_ps(f16_at(p)), s, acc1);
        else
            acc0 = _mm512_fmadd_ps(_mm512_set1_ps(f16_at(p)), s, acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* Σ x q over 32 unsigned bytes q and Σ x, 16 partial sums each. */
CPU_AVX512 static inline __m512 dot32_u8(const float *x, __m256i q, __m512 *xs)
{
    const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    *xs = _mm512_add_ps(x0, x1);
    return _mm512_fmadd_ps(x1, u8x16_ps(_mm256_extracti128_si256(q, 1)),
                           _mm512_mul_ps(x0, u8x16_ps(_mm256_castsi256_si128(q))));
}

/* q4_K: a sub-block of 32 adds (d * sc) Σ x q - (dmin * m) Σ x. */
CPU_AVX512 static float dot_q4_K(const float *x, const uint8_t *row, int64_t nb)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m512 acc = _mm512_setzero_ps(), accm = acc;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 144 * b;
        const float *xb = x + 256 * b;
        const float d = f16_at(p), dmin = f16_at(p + 2);
        for (int g = 0; g < 4; g++) {
            int sc0, m0, sc1, m1;
            plinth_q4_K_scale_min(p + 4, 2 * g, &sc0, &m0);
            plinth_q4_K_scale_min(p + 4, 2 * g + 1, &sc1, &m1);
            const __m256i v = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * g));
            __m512 xs0, xs1;
            const __m512 s0 = dot32_u8(xb + 64 * g, _mm256_and_si256(v, m4), &xs0);
            const __m512 s1 =
                dot32_u8(xb + 64 * g + 32, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4), &xs1);
            acc = _mm512_fmadd_ps(_mm512_set1_ps(d * (float)sc0), s0, acc);
            acc = _mm512_fmadd_ps(_mm512_set1_ps(d * (float)sc1), s1, acc);
            accm = _mm512_fmadd_ps(_mm512_set1_ps(dmin * (float)m0), xs0, accm);
            accm = _mm512_fmadd_ps(_mm512_set1_ps(dmin * (float)m1), xs1, accm);
        }
    }
    return _mm512_reduce_add_ps(_mm512_sub_ps(acc, accm));
}

/* q6_K, one half (128 elements) of a super-block at a time: ql's 64 bytes
 * in one register (bytes 0-31 serve elements 0-31 and 64-95, bytes 32-63
 * elements 32-63 and 96-127: low nibbles for the first 64, high for the
 * rest), and qh's 32 bytes twice (shifted by 0 and 2 bits: the top two
 * bits of runs 0 and 1; 4 and 6 for runs 2 and 3). *first and *second are
 * elements 0-63 and 64-127 of the half as unsigned six-bit quants. */
CPU_AVX512 static inline void q6_K_half(const uint8_t *p, int h, __m512i *first,
                                        __m512i *second)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), m2 = _mm512_set1_epi8(0x03);
    const __m512i ql = _mm512_loadu_si512(p + 64 * h);
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 128 + 32 * h));
    const __m512i qh2 =
        _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
    *first = _mm512_or_si512(_mm512_and_si512(ql, m4),
                             _mm512_slli_epi16(_mm512_and_si512(qh2, m2), 4));
    *second = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                              _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh2, 4), m2),
                                                4));
}

/* 64 unsigned quants q (four sub-blocks of 16, scales s[0..3]) against x,
 * each minus 32: Σ_j s_j Σ x (q - 32), as 16 partial sums. */
CPU_AVX512 static inline __m512 q6_K_dot64(const float *x, __m512i q, const int8_t *s)
{
    const __m512i w = _mm512_sub_epi8(q, _mm512_set1_epi8(32));
    /* the extract's lane must be a constant: the four spelled out */
#define Q6K_SUB(J) \
    _mm512_mul_ps(_mm512_loadu_ps(x + 16 * (J)), s8x16_ps(_mm512_extracti32x4_epi32(w, J)))
    __m512 acc = _mm512_mul_ps(_mm512_set1_ps((float)s[0]), Q6K_SUB(0));
    acc = _mm512_fmadd_ps(_mm512_set1_ps((float)s[1]), Q6K_SUB(1), acc);
    acc = _mm512_fmadd_ps(_mm512_set1_ps((float)s[2]), Q6K_SUB(2), acc);
    acc = _mm512_fmadd_ps(_mm512_set1_ps((float)s[3]), Q6K_SUB(3), acc);
#undef Q6K_SUB
    return acc;
}

/* q6_K: 210-byte super-blocks, x = d * sc * (q - 32) per sub-block of 16. */
CPU_AVX512 static float dot_q6_K(const float *x, const uint8_t *row, int64_t nb)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 210 * b;
        const __m512 d = _mm512_set1_ps(f16_at(p + 208));
        const int8_t *sc = (const int8_t *)(p + 192);
        for (int h = 0; h < 2; h++) {
            __m512i first, second;
            q6_K_half(p, h, &first, &second);
            const float *xh = x + 256 * b + 128 * h;
            acc0 = _mm512_fmadd_ps(d, q6_K_dot64(xh, first, sc + 8 * h), acc0);
            acc1 = _mm512_fmadd_ps(d, q6_K_dot64(xh + 64, second, sc + 8 * h + 4), acc1);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

BLOCK_GEMV_OF(CPU_AVX512, cpu_gemv_q8_0_avx512, 32, dot_q8_0(F32_ROW_I, row, nb))
BLOCK_GEMV_OF(CPU_AVX512, cpu_gemv_q4_0_avx512, 32, dot_q4_0(F32_ROW_I, row, nb))
BLOCK_GEMV_OF(CPU_AVX512, cpu_gemv_q4_K_avx512, 256, dot_q4_K(F32_ROW_I, row, nb))
BLOCK_GEMV_OF(CPU_AVX512, cpu_gemv_q6_K_avx512, 256, dot_q6_K(F32_ROW_I, row, nb))

/* ---------------------------------------------------------------- 3 ---- */

/* As cpu_quantize_q8_avx2 (cpu_kernels.h says what): the same d, the same
 * reciprocal, the same rounding, so both levels give the same bytes. */
CPU_AVX512 void cpu_quantize_q8_avx512(const float *x, int8_t *q, float *d, float *s, int64_t k)
{
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t b = 0; b < k / 32; b++, x += 32, q += 32) {
        const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        const float amax = _mm512_reduce_max_ps(
            _mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1)));
        const float dd = amax / 127.0f;
        d[b] = dd;
        const __m512 id = _mm512_set1_ps(dd != 0.0f ? 1.0f / dd : 0.0f);
        const __m512i i0 = _mm512_cvtps_epi32(
            _mm512_roundscale_ps(_mm512_mul_ps(v0, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        const __m512i i1 = _mm512_cvtps_epi32(
            _mm512_roundscale_ps(_mm512_mul_ps(v1, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        s[2 * b] = dd * _mm512_reduce_add_ps(_mm512_cvtepi32_ps(i0));
        s[2 * b + 1] = dd * _mm512_reduce_add_ps(_mm512_cvtepi32_ps(i1));
        _mm_storeu_si128((__m128i *)q, _mm512_cvtsepi32_epi8(i0));
        _mm_storeu_si128((__m128i *)(q + 16), _mm512_cvtsepi32_epi8(i1));
    }
}

/* q6_K on int8 x: per half, the 64 unsigned quants of each register
 * against x's 64 bytes (vpmaddubsw: q <= 63, so a pair sum stays within
 * 2 * 63 * 127), each sub-block's 8 pair sums times its scale and summed
 * to int32 by vpmaddwd (lanes 0-7 of the result are x block 4h + 0, 8-15
 * block 4h + 1, ...), then x's scale per 32 and d. The -32 of every quant
 * is d * 32 * Σ_s sc_s * Σ x over sub-block s, from x's sums (p->as). */
CPU_AVX512 static inline __m512i q6_K_scales16(const int8_t *s)
{
    int32_t four;
    memcpy(&four, s, 4);
    const __m512i idx = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1,
                                         1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_epi16(
        idx, _mm512_castsi128_si512(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(four))));
}

CPU_AVX512 static float dot_q6_K_q8(const int8_t *xq, const float *xd, const float *xs,
                                    const uint8_t *row, int64_t nb)
{
    __m512 acc = _mm512_setzero_ps();
    __m256 off = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 210 * b;
        const int8_t *sc = (const int8_t *)(p + 192);
        const int8_t *x8 = xq + 256 * b;
        const float *dx = xd + 8 * b, *sx = xs + 16 * b;
        const float d = f16_at(p + 208);
        for (int h = 0; h < 2; h++) {
            __m512i q[2];
            q6_K_half(p, h, &q[0], &q[1]);
            for (int r = 0; r < 2; r++) {
                const __m512i p16 = _mm512_maddubs_epi16(
                    q[r], _mm512_loadu_si512(x8 + 128 * h + 64 * r));
                const __m512i p32 = _mm512_madd_epi16(p16, q6_K_scales16(sc + 8 * h + 4 * r));
                const float *dxr = dx + 4 * h + 2 * r;
                const __m512 scale = _mm512_insertf32x8(_mm512_set1_ps(d * dxr[0]),
                                                        _mm256_set1_ps(d * dxr[1]), 1);
                acc = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(p32), acc);
            }
        }
        /* Σ_s sc[s] * (Σ x over sub-block s), 16 sub-blocks as 2 x 8 lanes */
        const __m256 sc_lo =
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)sc)));
        const __m256 sc_hi =
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(sc + 8))));
        const __m256 t = _mm256_fmadd_ps(sc_hi, _mm256_loadu_ps(sx + 8),
                                         _mm256_mul_ps(sc_lo, _mm256_loadu_ps(sx)));
        off = _mm256_fmadd_ps(_mm256_set1_ps(32.0f * d), t, off);
    }
    return _mm512_reduce_add_ps(acc) - v8_hsum(off);
}

BLOCK_GEMV_OF(CPU_AVX512, cpu_gemv_q6_K_q8_avx512, 256, dot_q6_K_q8(Q8_ROW_I, Q8_SUMS_I, row, nb))

/* ---------------------------------------------------------------- 4 ---- */

/* The 4 bytes of x at c and the 4 at c + 4, each in 8 int32 lanes: the
 * activations of two chunks of a packed unit. */
CPU_AVX512 static inline __m512i bcast4x2(const int8_t *x)
{
    int32_t a, b;
    memcpy(&a, x, 4);
    memcpy(&b, x + 4, 4);
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(a)), _mm256_set1_epi32(b),
                              1);
}

/* q8_0's signed quants through an unsigned-by-signed product: |w|
 * (_mm512_abs_epi8; |-128| is 128 as a byte) against x with w's sign (x in
 * [-127, 127] negates safely). */
CPU_AVX512 static inline __m512i sign_x(__m512i x, __m512i w)
{
    return _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
}

#define X8_TARGET CPU_AVX512VNNI
#define X8_NAME(t) cpu_gemv_##t##_avx512vnni
#define X8_DPBUSD(acc, u, s) _mm512_dpbusd_epi32(acc, u, s)
#include "cpu_quant_x8_avx512.h"
#undef X8_TARGET
#undef X8_NAME
#undef X8_DPBUSD

/* Without VNNI: the pair sums in int16 (at most 2 * 128 * 127 for q8_0,
 * 2 * 15 * 127 for the nibbles), widened and added by vpmaddwd. */
#define X8_TARGET CPU_AVX512
#define X8_NAME(t) cpu_gemv_##t##_avx512
#define X8_DPBUSD(acc, u, s) \
    _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)))
#include "cpu_quant_x8_avx512.h"
#undef X8_TARGET
#undef X8_NAME
#undef X8_DPBUSD

/* ---------------------------------------------------------------- 5 ---- */

/* Each product and difference a statement of its own, in
 * plinth_dequant_block's order (no fused multiply-add): the same bits. */
CPU_AVX512 void cpu_dequant_q8_0_avx512(const uint8_t *src, float *dst, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++, src += 34, dst += 32) {
        const __m512 d = _mm512_set1_ps(f16_at(src));
        _mm512_storeu_ps(dst, _mm512_mul_ps(s8x16_ps(_mm_loadu_si128((const __m128i *)(src + 2))), d));
        _mm512_storeu_ps(dst + 16,
                         _mm512_mul_ps(s8x16_ps(_mm_loadu_si128((const __m128i *)(src + 18))), d));
    }
}

CPU_AVX512 void cpu_dequant_q4_0_avx512(const uint8_t *src, float *dst, int64_t n)
{
    const __m128i m4 = _mm_set1_epi8(0x0f), e8 = _mm_set1_epi8(8);
    for (int64_t b = 0; b < n / 32; b++, src += 18, dst += 32) {
        const __m512 d = _mm512_set1_ps(f16_at(src));
        const __m128i v = _mm_loadu_si128((const __m128i *)(src + 2));
        const __m128i lo = _mm_sub_epi8(_mm_and_si128(v, m4), e8);
        const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), e8);
        _mm512_storeu_ps(dst, _mm512_mul_ps(s8x16_ps(lo), d));
        _mm512_storeu_ps(dst + 16, _mm512_mul_ps(s8x16_ps(hi), d));
    }
}

/* 32 unsigned bytes q as d1 * q - m1, stored at dst */
CPU_AVX512 static inline void q4_K_store32(float *dst, __m256i q, __m512 d1, __m512 m1)
{
    _mm512_storeu_ps(dst, _mm512_sub_ps(_mm512_mul_ps(d1, u8x16_ps(_mm256_castsi256_si128(q))), m1));
    _mm512_storeu_ps(dst + 16, _mm512_sub_ps(_mm512_mul_ps(d1, u8x16_ps(_mm256_extracti128_si256(q, 1))),
                                             m1));
}

CPU_AVX512 void cpu_dequant_q4_K_avx512(const uint8_t *src, float *dst, int64_t n)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (int64_t b = 0; b < n / 256; b++, src += 144, dst += 256) {
        const float d = f16_at(src), dmin = f16_at(src + 2);
        for (int g = 0; g < 4; g++) {
            int sc0, m0, sc1, m1;
            plinth_q4_K_scale_min(src + 4, 2 * g, &sc0, &m0);
            plinth_q4_K_scale_min(src + 4, 2 * g + 1, &sc1, &m1);
            const __m256i v = _mm256_loadu_si256((const __m256i *)(src + 16 + 32 * g));
            q4_K_store32(dst + 64 * g, _mm256_and_si256(v, m4), _mm512_set1_ps(d * (float)sc0),
                         _mm512_set1_ps(dmin * (float)m0));
            q4_K_store32(dst + 64 * g + 32, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4),
                         _mm512_set1_ps(d * (float)sc1), _mm512_set1_ps(dmin * (float)m1));
        }
    }
}

CPU_AVX512 void cpu_dequant_q6_K_avx512(const uint8_t *src, float *dst, int64_t n)
{
    const __m512i e32 = _mm512_set1_epi8(32);
    for (int64_t b = 0; b < n / 256; b++, src += 210, dst += 256) {
        const float d = f16_at(src + 208);
        const int8_t *sc = (const int8_t *)(src + 192);
        for (int h = 0; h < 2; h++) {
            __m512i q[2];
            q6_K_half(src, h, &q[0], &q[1]);
            for (int r = 0; r < 2; r++) {
                const __m512i w = _mm512_sub_epi8(q[r], e32);
                float *o = dst + 128 * h + 64 * r;
                const int8_t *s = sc + 8 * h + 4 * r;
#define Q6K_STORE(J)                                                                        \
    _mm512_storeu_ps(o + 16 * (J), _mm512_mul_ps(_mm512_set1_ps(d * (float)s[J]),           \
                                                 s8x16_ps(_mm512_extracti32x4_epi32(w, J))))
                Q6K_STORE(0);
                Q6K_STORE(1);
                Q6K_STORE(2);
                Q6K_STORE(3);
#undef Q6K_STORE
            }
        }
    }
}
