/*
 * data.c — input values for the cases, and element access by dtype.
 *
 * Sections:
 *   1. a small seeded generator (xorshift64*), the same on every machine
 *   2. loading and storing one element of any dtype as a double
 *   3. filling a tensor's block according to its generator
 */
#include "conf_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ 1 --- */

uint64_t conf_rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, 1). */
static double unit(uint64_t *s)
{
    return (double)(conf_rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ------------------------------------------------------------------ 2 --- */

double conf_load(const uint8_t *p, int32_t dtype)
{
    uint16_t h;
    float f;
    int32_t i;
    switch (dtype) {
    case PLINTH_F32: memcpy(&f, p, 4); return f;
    case PLINTH_F16: memcpy(&h, p, 2); return plinth_f16_to_f32(h);
    case PLINTH_BF16: memcpy(&h, p, 2); return plinth_bf16_to_f32(h);
    default: memcpy(&i, p, 4); return i;
    }
}

void conf_store(uint8_t *p, int32_t dtype, double v)
{
    uint16_t h;
    float f = (float)v;
    switch (dtype) {
    case PLINTH_F32: memcpy(p, &f, 4); break;
    case PLINTH_F16: h = plinth_f32_to_f16(f); memcpy(p, &h, 2); break;
    case PLINTH_BF16: h = plinth_f32_to_bf16(f); memcpy(p, &h, 2); break;
    default: {
        /* Only generators store i32: values are already integers in range. */
        int32_t i = (int32_t)v;
        memcpy(p, &i, 4);
    }
    }
}

/* ------------------------------------------------------------------ 3 --- */

int64_t conf_numel(const conf_tensor *t)
{
    return t->shape[0] * t->shape[1] * t->shape[2] * t->shape[3];
}

int64_t conf_elem_index(const conf_tensor *t, int64_t flat)
{
    int64_t idx = t->offset;
    for (int d = 3; d >= 0; d--) {
        int64_t n = t->shape[d];
        idx += (flat % n) * t->stride[d];
        flat /= n;
    }
    return idx;
}

/* Values that probe rounding and special cases: NaN, ±inf, ties to even in
 * every 16-bit format and in i32, values that overflow f16, saturate i32,
 * underflow f16, and -0. */
static const double special_f[] = {
    NAN, INFINITY, -INFINITY, 0.5, 1.5, 2.5, -2.5, -0.5, 65504.0, 65520.0, 1e5, -1e5,
    3e9, -3e9, 16777217.0, 1.0 / 3.0, 1e-8, -0.0, 1.00048828125 /* f16 tie */,
    1.00390625 /* bf16 tie */, 2147483520.0, -2147483648.0, 7.0, -1.0};
static const double special_i[] = {2147483647.0, -2147483648.0, 0, 16777217.0, -16777217.0,
                                   65505.0, 1, -1, 3, 2049.0, 33554433.0, -7};

/* A random f16 scale of magnitude in [0.5, 1.5) * unit, random sign. */
static void put_scale(uint8_t *p, double unit_, uint64_t *rng)
{
    double v = (0.5 + unit(rng)) * unit_;
    if (conf_rng_next(rng) & 1)
        v = -v;
    const uint16_t h = plinth_f32_to_f16((float)v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* One random block of a block dtype: every quant, scale and min byte
 * random (the full ranges a kernel must handle: int8 -128, 6-bit scales up
 * to 63, negative q6_K scales), the f16 super-scales chosen so that the
 * dequantised values are of order 1. */
static void fill_block(int32_t dtype, uint8_t *b, uint64_t *rng)
{
    const size_t n = plinth_dtype_block_bytes(dtype);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(conf_rng_next(rng) >> 56);
    switch (dtype) {
    case PLINTH_Q8_0: put_scale(b, 1.0 / 127.0, rng); break;     /* d * [-128, 127] */
    case PLINTH_Q4_0: put_scale(b, 1.0 / 8.0, rng); break;       /* d * [-8, 7]     */
    case PLINTH_Q4_K:                                             /* d*sc*q - dmin*m */
        put_scale(b, 1.0 / (63.0 * 15.0), rng);
        put_scale(b + 2, 0.5 / 63.0, rng);
        break;
    case PLINTH_Q6_K: put_scale(b + 208, 1.0 / (128.0 * 32.0), rng); break; /* d*sc*(q-32) */
    default: break;
    }
}

uint64_t conf_bytes(int32_t dtype, int64_t n)
{
    return n > 0 ? plinth_dtype_row_bytes(dtype, n) : 0;
}

void conf_fill(const conf_tensor *t, uint8_t *block, uint64_t *rng)
{
    if (plinth_dtype_block_elems(t->dtype) > 1) {
        /* Every block of the tensor's memory, gaps included (never read). */
        const int64_t per = (int64_t)plinth_dtype_block_elems(t->dtype);
        const size_t bb = plinth_dtype_block_bytes(t->dtype);
        for (int64_t i = 0; i < t->alloc / per; i++)
            fill_block(t->dtype, block + (size_t)i * bb, rng);
        return;
    }
    const size_t es = plinth_dtype_bytes(t->dtype);
    const bool is_int = t->dtype == PLINTH_I32;
    /* Every element of the block, gaps included, gets a value (gaps should
     * never be read; if a kernel does read them, the results show it). */
    for (int64_t i = 0; i < t->alloc; i++) {
        double v;
        switch (t->gen) {
        case CONF_GEN_INT:
            v = floor(t->lo + unit(rng) * (t->hi - t->lo + 1.0));
            if (v > t->hi)
                v = t->hi;
            break;
        case CONF_GEN_INDEX:
            v = floor(unit(rng) * t->hi);
            break;
        case CONF_GEN_SPECIAL:
            if (is_int && t->hi > 0)
                v = (double)(i % (int64_t)t->hi); /* repeated indices */
            else if (is_int)
                v = i < 12 ? special_i[i] : floor(unit(rng) * 2000.0 - 1000.0);
            else
                v = i < 24 ? special_f[i] : (unit(rng) * 2.0 - 1.0) * 100.0;
            break;
        default: {
            /* Uniform magnitude in [lo, hi) (default [0, 1)), random sign;
             * an exact zero is replaced so no tensor is all zeros. */
            double lo = t->lo, hi = t->hi > 0 ? t->hi : 1.0;
            double m = lo + unit(rng) * (hi - lo);
            if (m == 0.0)
                m = 0.5 * hi;
            v = (conf_rng_next(rng) & 1) ? -m : m;
        }
        }
        conf_store(block + (size_t)i * es, t->dtype, v);
    }

    /* Generators defined on logical elements (rows, positions). */
    const int64_t n = conf_numel(t), row = t->shape[3];
    if (t->gen == CONF_GEN_INDEX && t->lo == 1.0 && n <= (int64_t)t->hi) {
        /* Distinct indices: the first n of a Fisher-Yates shuffle of [0, hi). */
        const int64_t r = (int64_t)t->hi;
        int32_t *perm = malloc((size_t)(r > 0 ? r : 1) * sizeof *perm);
        if (perm) {
            for (int64_t i = 0; i < r; i++)
                perm[i] = (int32_t)i;
            for (int64_t i = 0; i < n; i++) {
                int64_t j = i + (int64_t)(unit(rng) * (double)(r - i));
                int32_t tmp = perm[i];
                perm[i] = perm[j];
                perm[j] = tmp;
                memcpy(block + (size_t)conf_elem_index(t, i) * es, &perm[i], 4);
            }
            free(perm);
        }
    }
    for (int64_t i = 0; i < n; i++) {
        uint8_t *p = block + (size_t)conf_elem_index(t, i) * es;
        if (t->gen == CONF_GEN_ARANGE)
            conf_store(p, t->dtype, t->lo + (double)i);
        else if (t->gen == CONF_GEN_CONST)
            conf_store(p, t->dtype, t->lo);
        else if (t->gen == CONF_GEN_CAUSAL_MASK) {
            int64_t r = (i / row) % t->shape[2], c = i % row;
            bool masked = c > r || (t->lo == 1.0 && r == 0);
            conf_store(p, t->dtype, masked ? -INFINITY : (unit(rng) - 0.5));
        }
    }
    if (t->gen == CONF_GEN_ARGMAX && row > 0) {
        /* Values in ±1, then one clear maximum (1.5) per row, or two equal
         * ones when lo == 1 (the first must win): no near-ties in any dtype. */
        for (int64_t r0 = 0; r0 < n / row; r0++) {
            int64_t a = (int64_t)(unit(rng) * (double)row);
            conf_store(block + (size_t)conf_elem_index(t, r0 * row + a) * es, t->dtype, 1.5);
            if (t->lo == 1.0 && row > 1) {
                int64_t c = (a + 1 + (int64_t)(unit(rng) * (double)(row - 1))) % row;
                conf_store(block + (size_t)conf_elem_index(t, r0 * row + c) * es, t->dtype, 1.5);
            }
        }
    }
}
