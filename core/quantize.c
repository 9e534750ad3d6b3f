/*
 * quantize.c — rows of f32 into ggml's blocks (q8_0, q4_0, q4_K, q6_K),
 * and rows of any float or block dtype back into f32.
 *
 * Sections: helpers (rounding, f16 scales, the input check); q8_0 and
 * q4_0; q4_K (a scale and a min per sub-block of 32, fitted by weighted
 * least squares); q6_K (a signed scale per sub-block of 16, fitted the
 * same way); the public row functions.
 *
 * The algorithms are those of ggml's reference quantisers
 * (quantize_row_*_ref in ggml-quants.c, the published GGUF semantics),
 * written again here: the same searches with the same constants and the
 * same f32 arithmetic in the same order, so the blocks are those llama.cpp
 * writes without an importance matrix. The layouts and the dequantisation
 * are plinth_plugin.h's (plinth_dequant_block), shared with every backend.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

/* ----------------------------------------------------------- helpers --- */

/* Round to nearest, ties to even, by the float trick ggml uses (adding
 * 1.5 * 2^23 leaves the integer in the low mantissa bits): exact for
 * |v| < 2^22, which every caller's argument is (clamped to be sure). */
static int nearest_int(float v)
{
    if (v > 4194303.f)
        v = 4194303.f;
    if (v < -4194303.f)
        v = -4194303.f;
    float f = v + 12582912.f;
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

static int clamp_int(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void put_f16(uint8_t *p, uint16_t h)
{
    p[0] = (uint8_t)(h & 0xff);
    p[1] = (uint8_t)(h >> 8);
}

static bool f16_finite(uint16_t h)
{
    return (h & 0x7c00u) != 0x7c00u;
}

/* Every value finite and at most `max` in magnitude: past it the type's
 * f16 scale cannot hold the block, and the searches' sums stay far from
 * f32's range. */
static bool block_ok(const float *x, int n, float max)
{
    for (int i = 0; i < n; i++)
        if (!(fabsf(x[i]) <= max)) /* false for NaN too */
            return false;
    return true;
}

#define F16_MAX 65504.f

/* ----------------------------------------------------- q8_0 and q4_0 --- */

/* d = max|x| / 127; q = round(x / d), halves away from zero. */
static bool q8_0_block(const float *x, uint8_t *out)
{
    float amax = 0.f;
    for (int j = 0; j < 32; j++)
        amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    const uint16_t dh = plinth_f32_to_f16(d);
    put_f16(out, dh);
    for (int j = 0; j < 32; j++)
        out[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    return f16_finite(dh);
}

/* d = -(the value of largest magnitude) / 8, so that value is q = 0;
 * q = min(15, trunc(x / d + 8.5)). */
static bool q4_0_block(const float *x, uint8_t *out)
{
    float amax = 0.f, max = 0.f;
    for (int j = 0; j < 32; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    const float d = max / -8.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    const uint16_t dh = plinth_f32_to_f16(d);
    put_f16(out, dh);
    for (int j = 0; j < 16; j++) {
        const float x0 = x[j] * id, x1 = x[16 + j] * id;
        const int q0 = clamp_int((int)(x0 + 8.5f), 0, 15);
        const int q1 = clamp_int((int)(x1 + 8.5f), 0, 15);
        out[2 + j] = (uint8_t)(q0 | (q1 << 4));
    }
    return f16_finite(dh);
}

/* -------------------------------------------------------------- q4_K --- */

/* Fits x ~ scale * L - min_out over 32 values, L in 0..15 and min_out >= 0,
 * minimising sum w * err^2: from L spread over [min(x, 0), max x], tries
 * 21 stretches of the grid (15 - 1 + 0.1 k levels), each refitted by
 * weighted least squares, and keeps the best. Returns the scale. */
static float fit_scale_min(const float *x, const float *w, uint8_t L[32], float *min_out)
{
    enum { N = 32, NMAX = 15, NSTEP = 20 };
    const float rmin = -1.f, rdelta = 0.1f;
    float min = x[0], max = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < N; i++) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        memset(L, 0, N);
        *min_out = -min;
        return 0.f;
    }
    float iscale = NMAX / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < N; i++) {
        L[i] = (uint8_t)clamp_int(nearest_int(iscale * (x[i] - min)), 0, NMAX);
        float diff = scale * L[i] + min - x[i];
        diff = diff * diff;
        best_error += w[i] * diff;
    }
    uint8_t Laux[N];
    for (int is = 0; is <= NSTEP; is++) {
        iscale = (rmin + rdelta * is + NMAX) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < N; i++) {
            const int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, NMAX);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0))
            continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float cur_error = 0;
        for (int i = 0; i < N; i++) {
            float diff = this_scale * Laux[i] + this_min - x[i];
            diff = diff * diff;
            cur_error += w[i] * diff;
        }
        if (cur_error < best_error) {
            memcpy(L, Laux, N);
            best_error = cur_error;
            scale = this_scale;
            min = this_min;
        }
    }
    *min_out = -min;
    return scale;
}

/* 8 sub-blocks of 32, each fitted (weights: the sub-block's rms plus |x|,
 * favouring large values); the 8 scales and 8 mins quantised to 6 bits
 * against the largest of each (d = max scale / 63, dmin = max min / 63);
 * then every value quantised again against its sub-block's final scale. */
static bool q4_K_block(const float *x, uint8_t *out)
{
    uint8_t L[256];
    float scales[8], mins[8], w[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += xs[l] * xs[l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            w[l] = av_x + fabsf(xs[l]);
        scales[j] = fit_scale_min(xs, w, L + 32 * j, &mins[j]);
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t *sc = out + 4;
    memset(sc, 0, 12);
    for (int j = 0; j < 8; j++) {
        /* A negative fit wraps to 255 and saturates to 63, as in ggml. */
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            sc[j] = ls;
            sc[j + 4] = lm;
        } else {
            sc[j + 4] = (uint8_t)((ls & 0xf) | ((lm & 0xf) << 4));
            sc[j - 4] |= (uint8_t)((ls >> 4) << 6);
            sc[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    const uint16_t dh = plinth_f32_to_f16(max_scale / 63.f);
    const uint16_t mh = plinth_f32_to_f16(max_min / 63.f);
    put_f16(out, dh);
    put_f16(out + 2, mh);
    const float d_all = plinth_f16_to_f32(dh), dmin_all = plinth_f16_to_f32(mh);
    for (int j = 0; j < 8; j++) {
        int s, m;
        plinth_q4_K_scale_min(sc, j, &s, &m);
        const float d = d_all * (float)s;
        if (d == 0.f)
            continue; /* keeps the fit's L */
        const float dm = dmin_all * (float)m;
        for (int i = 0; i < 32; i++)
            L[32 * j + i] = (uint8_t)clamp_int(nearest_int((x[32 * j + i] + dm) / d), 0, 15);
    }
    uint8_t *q = out + 16;
    for (int j = 0; j < 256; j += 64, q += 32) /* sub-blocks 2k, 2k+1: low, high nibbles */
        for (int l = 0; l < 32; l++)
            q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    return f16_finite(dh) && f16_finite(mh);
}

/* -------------------------------------------------------------- q6_K --- */

/* Fits x ~ scale * (L - 32) over 16 values, L in 0..63, minimising
 * sum x^2 * err^2: from the grid that maps the value of largest magnitude
 * to -32, tries 18 stretches (32 + 0.1 k levels, k = -9..9), each refitted
 * by least squares. Returns the scale (its sign that of the mapping). */
static float fit_symmetric(const float *x, int8_t L[16])
{
    enum { N = 16, NMAX = 32 };
    float max = 0, amax = 0;
    for (int i = 0; i < N; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    if (amax < 1e-15f) { /* all zero */
        memset(L, 0, N);
        return 0.f;
    }
    float iscale = -NMAX / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < N; i++) {
        const int l = clamp_int(nearest_int(iscale * x[i]), -NMAX, NMAX - 1);
        L[i] = (int8_t)(l + NMAX);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        iscale = -(NMAX + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < N; i++) {
            const int l = clamp_int(nearest_int(iscale * x[i]), -NMAX, NMAX - 1);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < N; i++)
                L[i] = (int8_t)(NMAX + clamp_int(nearest_int(iscale * x[i]), -NMAX, NMAX - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* 16 sub-blocks of 16, each fitted; the 16 scales quantised to int8
 * against the one of largest magnitude (which becomes -128, d = its
 * scale / -128); then every value quantised again against its sub-block's
 * final scale. */
static bool q6_K_block(const float *x, uint8_t *out)
{
    int8_t L[256];
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ib++) {
        scales[ib] = fit_symmetric(x + 16 * ib, L + 16 * ib);
        if (fabsf(scales[ib]) > max_abs_scale) {
            max_abs_scale = fabsf(scales[ib]);
            max_scale = scales[ib];
        }
    }
    uint8_t *ql = out, *qh = out + 128, *sc = out + 192;
    if (max_abs_scale < 1e-15f) { /* all zero: a zero block */
        memset(out, 0, 210);
        return true;
    }
    const float iscale = -128.f / max_scale;
    const uint16_t dh = plinth_f32_to_f16(1 / iscale);
    put_f16(out + 208, dh);
    int8_t s8[16];
    for (int ib = 0; ib < 16; ib++) {
        const int v = nearest_int(iscale * scales[ib]);
        s8[ib] = (int8_t)(v < 127 ? v : 127);
        sc[ib] = (uint8_t)s8[ib];
    }
    const float d_all = plinth_f16_to_f32(dh);
    for (int j = 0; j < 16; j++) {
        const float d = d_all * s8[j];
        if (d == 0.f)
            continue; /* keeps the fit's L */
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = (int8_t)(clamp_int(nearest_int(x[16 * j + i] / d), -32, 31) + 32);
    }
    /* Two halves of 128: ql holds the low nibbles (values l and l + 64 in
     * byte l, l + 32 and l + 96 in byte l + 32), qh the high 2 bits of
     * l, l + 32, l + 64, l + 96 in byte l. */
    for (int j = 0; j < 256; j += 128, ql += 64, qh += 32)
        for (int l = 0; l < 32; l++) {
            const uint8_t a = (uint8_t)L[j + l], b = (uint8_t)L[j + l + 32],
                          c = (uint8_t)L[j + l + 64], e = (uint8_t)L[j + l + 96];
            ql[l] = (uint8_t)((a & 0xf) | ((c & 0xf) << 4));
            ql[l + 32] = (uint8_t)((b & 0xf) | ((e & 0xf) << 4));
            qh[l] = (uint8_t)((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6));
        }
    return f16_finite(dh);
}

/* ------------------------------------------------------ the row calls --- */

/* A dtype the row calls take (every one but i32), and n a whole number of
 * its blocks. */
static bool row_ok(int32_t dtype, int64_t n, uint64_t *bytes)
{
    *bytes = plinth_dtype_row_bytes(dtype, n);
    return plinth_dtype_block_elems(dtype) != 0 && dtype != PLINTH_I32 && n >= 0 &&
           (*bytes != 0 || n == 0);
}

plinth_status plinth_quantize_row(int32_t dtype, const float *x, int64_t n, void *out)
{
    uint64_t bytes;
    if (!row_ok(dtype, n, &bytes))
        return PLINTH_ERR_INVALID;
    if (n == 0)
        return PLINTH_OK;
    if (!x || !out)
        return PLINTH_ERR_INVALID;
    uint8_t *o = out;
    switch (dtype) {
    case PLINTH_F32:
        memcpy(o, x, (size_t)bytes);
        return PLINTH_OK;
    case PLINTH_F16:
    case PLINTH_BF16:
        for (int64_t i = 0; i < n; i++)
            put_f16(o + 2 * i, dtype == PLINTH_F16 ? plinth_f32_to_f16(x[i])
                                                   : plinth_f32_to_bf16(x[i]));
        return PLINTH_OK;
    default:
        break;
    }
    bool (*block)(const float *, uint8_t *);
    float max; /* the largest magnitude a block can hold (f16 scale) */
    switch (dtype) {
    case PLINTH_Q8_0: block = q8_0_block, max = 127.f * F16_MAX; break;
    case PLINTH_Q4_0: block = q4_0_block, max = 8.f * F16_MAX; break;
    case PLINTH_Q4_K: block = q4_K_block, max = 15.f * 63.f * F16_MAX; break;
    case PLINTH_Q6_K: block = q6_K_block, max = 32.f * 127.f * F16_MAX; break;
    default: return PLINTH_ERR_INVALID;
    }
    const int64_t be = (int64_t)plinth_dtype_block_elems(dtype);
    const size_t bb = plinth_dtype_block_bytes(dtype);
    for (int64_t i = 0; i < n / be; i++) {
        const float *xb = x + i * be;
        if (!block_ok(xb, (int)be, max) || !block(xb, o + (size_t)i * bb))
            return PLINTH_ERR_INVALID;
    }
    return PLINTH_OK;
}

plinth_status plinth_dequantize_row(int32_t dtype, const void *in, int64_t n, float *out)
{
    uint64_t bytes;
    if (!row_ok(dtype, n, &bytes))
        return PLINTH_ERR_INVALID;
    if (n == 0)
        return PLINTH_OK;
    if (!in || !out)
        return PLINTH_ERR_INVALID;
    const uint8_t *p = in;
    switch (dtype) {
    case PLINTH_F32:
        memcpy(out, p, (size_t)bytes);
        return PLINTH_OK;
    case PLINTH_F16:
        for (int64_t i = 0; i < n; i++)
            out[i] = plinth_f16_to_f32(plinth_block_u16(p + 2 * i));
        return PLINTH_OK;
    case PLINTH_BF16:
        for (int64_t i = 0; i < n; i++)
            out[i] = plinth_bf16_to_f32(plinth_block_u16(p + 2 * i));
        return PLINTH_OK;
    default: {
        const int64_t be = (int64_t)plinth_dtype_block_elems(dtype);
        const size_t bb = plinth_dtype_block_bytes(dtype);
        for (int64_t i = 0; i < n / be; i++)
            if (!plinth_dequant_block(dtype, p + (size_t)i * bb, out + i * be))
                return PLINTH_ERR_INVALID;
        return PLINTH_OK;
    }
    }
}
