/*
 * cpu_simd_emu.h — the AVX-512 intrinsics the kernels use that Debian 12's
 * SIMDe (0.7.4) lacks or aliases wrongly, lane by lane, for the test build that runs the
 * AVX-512 levels on an AVX2 CPU (cpu_simd_x86.h, PLINTH_CPU_EMULATE_AVX512).
 * Each follows Intel's pseudocode for its instruction; masked loads read
 * only the lanes their mask selects, as the instructions do (a masked tail
 * load past the end of a buffer must stay invisible to AddressSanitizer).
 * Never part of a shipped plugin.
 */
#ifndef PLINTH_CPU_SIMD_EMU_H
#define PLINTH_CPU_SIMD_EMU_H

#if !defined(PLINTH_CPU_EMULATE_AVX512)
#error "cpu_simd_emu.h belongs to the emulated test build only"
#endif

#include <math.h>
#include <string.h>

static inline simde__m512 emu_mm512_maskz_loadu_ps(simde__mmask16 k, const void *p)
{
    float v[16] = {0};
    for (int i = 0; i < 16; i++)
        if (k >> i & 1)
            memcpy(&v[i], (const char *)p + 4 * i, 4);
    return simde_mm512_loadu_ps(v);
}

static inline void emu_mm512_mask_storeu_ps(void *p, simde__mmask16 k, simde__m512 a)
{
    float v[16];
    simde_mm512_storeu_ps(v, a);
    for (int i = 0; i < 16; i++)
        if (k >> i & 1)
            memcpy((char *)p + 4 * i, &v[i], 4);
}

static inline simde__m256i emu_mm256_maskz_loadu_epi16(simde__mmask16 k, const void *p)
{
    uint16_t v[16] = {0};
    for (int i = 0; i < 16; i++)
        if (k >> i & 1)
            memcpy(&v[i], (const char *)p + 2 * i, 2);
    return simde_mm256_loadu_si256(v);
}

static inline simde__m512i emu_mm512_maskz_loadu_epi16(simde__mmask32 k, const void *p)
{
    uint16_t v[32] = {0};
    for (int i = 0; i < 32; i++)
        if (k >> i & 1)
            memcpy(&v[i], (const char *)p + 2 * i, 2);
    return simde_mm512_loadu_si512(v);
}

static inline simde__m512i emu_mm512_cvtepu16_epi32(simde__m256i a)
{
    uint16_t in[16];
    uint32_t out[16];
    simde_mm256_storeu_si256(in, a);
    for (int i = 0; i < 16; i++)
        out[i] = in[i];
    return simde_mm512_loadu_si512(out);
}

static inline simde__m512 emu_mm512_cvtph_ps(simde__m256i a)
{
    uint16_t in[16];
    float out[16];
    simde_mm256_storeu_si256(in, a);
    for (int i = 0; i < 16; i++)
        out[i] = _cvtsh_ss(in[i]); /* F16C: the test build needs it anyway */
    return simde_mm512_loadu_ps(out);
}

static inline simde__mmask16 emu_mm512_cmplt_epi32_mask(simde__m512i a, simde__m512i b)
{
    int32_t x[16], y[16];
    simde_mm512_storeu_si512(x, a);
    simde_mm512_storeu_si512(y, b);
    simde__mmask16 k = 0;
    for (int i = 0; i < 16; i++)
        k |= (simde__mmask16)((x[i] < y[i]) << i);
    return k;
}

static inline float emu_reduce(simde__m512 a, int max)
{
    float v[16];
    simde_mm512_storeu_ps(v, a);
    for (int w = 8; w >= 1; w /= 2) /* the halving tree GCC's reduce uses */
        for (int i = 0; i < w; i++)
            v[i] = max ? (v[i] > v[i + w] ? v[i] : v[i + w]) : v[i] + v[i + w];
    return v[0];
}

/* dst's 128-bit lanes: a's lanes imm[1:0], imm[3:2], then b's imm[5:4],
 * imm[7:6] */
static inline simde__m512 emu_mm512_shuffle_f32x4(simde__m512 a, simde__m512 b, int imm)
{
    float x[16], y[16], o[16];
    simde_mm512_storeu_ps(x, a);
    simde_mm512_storeu_ps(y, b);
    for (int l = 0; l < 4; l++)
        memcpy(o + 4 * l, (l < 2 ? x : y) + 4 * (imm >> (2 * l) & 3), 16);
    return simde_mm512_loadu_ps(o);
}

/* f32 to bf16 as vcvtne2ps2bf16: NaN stays a quiet NaN, a denormal
 * becomes a zero of its sign, the rest rounds to nearest even. */
static inline uint16_t emu_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if (isnan(f))
        return (uint16_t)(u >> 16 | 0x40);
    if ((u & 0x7f800000u) == 0)
        return (uint16_t)(u >> 16 & 0x8000);
    return (uint16_t)((u + 0x7fffu + (u >> 16 & 1)) >> 16);
}

/* lanes 0-15 from b, 16-31 from a */
static inline simde__m512bh emu_mm512_cvtne2ps_pbh(simde__m512 a, simde__m512 b)
{
    float x[16], y[16];
    uint16_t o[32];
    simde_mm512_storeu_ps(x, a);
    simde_mm512_storeu_ps(y, b);
    for (int i = 0; i < 16; i++) {
        o[i] = emu_bf16(y[i]);
        o[16 + i] = emu_bf16(x[i]);
    }
    simde__m512bh r;
    memcpy(&r, o, sizeof r);
    return r;
}

static inline void emu_mm256_mask_storeu_ps(void *p, simde__mmask8 k, simde__m256 a)
{
    float v[8];
    simde_mm256_storeu_ps(v, a);
    for (int i = 0; i < 8; i++)
        if (k >> i & 1)
            memcpy((char *)p + 4 * i, &v[i], 4);
}

static inline simde__m512 emu_mm512_cvtepi32_ps(simde__m512i a)
{
    int32_t in[16];
    float out[16];
    simde_mm512_storeu_si512(in, a);
    for (int i = 0; i < 16; i++)
        out[i] = (float)in[i];
    return simde_mm512_loadu_ps(out);
}

/* in the default rounding mode (to nearest even), as vcvtps2dq */
static inline simde__m512i emu_mm512_cvtps_epi32(simde__m512 a)
{
    float in[16];
    int32_t out[16];
    simde_mm512_storeu_ps(in, a);
    for (int i = 0; i < 16; i++)
        out[i] = (int32_t)nearbyintf(in[i]);
    return simde_mm512_loadu_si512(out);
}

static inline simde__m512i emu_mm512_cvtepi8_epi32(simde__m128i a)
{
    int8_t in[16];
    int32_t out[16];
    simde_mm_storeu_si128(in, a);
    for (int i = 0; i < 16; i++)
        out[i] = in[i];
    return simde_mm512_loadu_si512(out);
}

static inline simde__m512i emu_mm512_cvtepu8_epi32(simde__m128i a)
{
    uint8_t in[16];
    int32_t out[16];
    simde_mm_storeu_si128(in, a);
    for (int i = 0; i < 16; i++)
        out[i] = in[i];
    return simde_mm512_loadu_si512(out);
}

/* (#undef first: at -O0 GCC's headers make some of them macros) */
#undef _mm256_mask_storeu_ps
#define _mm256_mask_storeu_ps emu_mm256_mask_storeu_ps
#undef _mm512_cvtepi32_ps
#define _mm512_cvtepi32_ps emu_mm512_cvtepi32_ps
#undef _mm512_cvtps_epi32
#define _mm512_cvtps_epi32 emu_mm512_cvtps_epi32
#undef _mm512_cvtepi8_epi32
#define _mm512_cvtepi8_epi32 emu_mm512_cvtepi8_epi32
#undef _mm512_cvtepu8_epi32
#define _mm512_cvtepu8_epi32 emu_mm512_cvtepu8_epi32
#undef _mm512_maskz_loadu_ps
#define _mm512_maskz_loadu_ps emu_mm512_maskz_loadu_ps
#undef _mm512_mask_storeu_ps
#define _mm512_mask_storeu_ps emu_mm512_mask_storeu_ps
#undef _mm256_maskz_loadu_epi16
#define _mm256_maskz_loadu_epi16 emu_mm256_maskz_loadu_epi16
#undef _mm512_maskz_loadu_epi16
#define _mm512_maskz_loadu_epi16 emu_mm512_maskz_loadu_epi16
#undef _mm512_cvtepu16_epi32
#define _mm512_cvtepu16_epi32 emu_mm512_cvtepu16_epi32
#undef _mm512_cvtph_ps
#define _mm512_cvtph_ps emu_mm512_cvtph_ps
#undef _mm512_cmplt_epi32_mask
#define _mm512_cmplt_epi32_mask emu_mm512_cmplt_epi32_mask
#undef _mm512_reduce_add_ps
#define _mm512_reduce_add_ps(a) emu_reduce((a), 0)
#undef _mm512_reduce_max_ps
#define _mm512_reduce_max_ps(a) emu_reduce((a), 1)
#undef _mm512_shuffle_f32x4
#define _mm512_shuffle_f32x4 emu_mm512_shuffle_f32x4
#undef _mm512_cvtne2ps_pbh
#define _mm512_cvtne2ps_pbh emu_mm512_cvtne2ps_pbh
/* SIMDe 0.7.4's alias of this one takes the masked form's four arguments */
#undef _mm512_madd_epi16
#define _mm512_madd_epi16(a, b) simde_mm512_madd_epi16(a, b)

#endif /* PLINTH_CPU_SIMD_EMU_H */
