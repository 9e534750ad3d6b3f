/*
 * ref_dtype.c — dtype facts and element load/store through double.
 *
 * Sections:
 *   1. validity and names (sizes: plinth_dtype_bytes in plinth_plugin.h)
 *   2. rounding: half-even to an integer, double -> f16/bf16 in one step
 *   3. load/store of one element
 *
 * Why round from double directly: results are computed in f64, and going
 * double -> float -> f16 rounds twice (1 + 2^-11 + 2^-40 would become 1.0
 * instead of 1 + 2^-10). The oracle must round once.
 */
#include <math.h>
#include <string.h>

#include "ref.h"

/* ---------------------------------------------------------------- 1 ---- */

bool ref_dtype_valid(int32_t dtype)
{
    return dtype >= 0 && dtype < PLINTH_DTYPE_COUNT;
}

bool ref_dtype_is_float(int32_t dtype)
{
    return dtype == PLINTH_F32 || dtype == PLINTH_F16 || dtype == PLINTH_BF16;
}

bool ref_dtype_is_block(int32_t dtype)
{
    return plinth_dtype_block_elems(dtype) > 1;
}


/* ---------------------------------------------------------------- 2 ---- */

/* Round a finite, non-negative double below 2^52 to the nearest integer,
 * ties to even. Done by hand rather than with nearbyint() so the result does
 * not depend on the caller's floating-point rounding mode. */
static double round_half_even(double q)
{
    double fl = floor(q);
    double diff = q - fl; /* exact: q and fl share an exponent range */
    if (diff > 0.5)
        return fl + 1.0;
    if (diff < 0.5)
        return fl;
    return fmod(fl, 2.0) == 0.0 ? fl : fl + 1.0;
}

/*
 * Pack v into an IEEE-style binary format with `ebits` exponent and `mbits`
 * mantissa bits (f16: 5/10, bf16: 8/7), round to nearest even, overflow to
 * infinity, gradual underflow, NaN to a quiet NaN with v's sign. ldexp and
 * frexp are exact here, so the only rounding is round_half_even.
 */
static uint16_t pack_small(double v, int ebits, int mbits)
{
    const uint32_t sign = signbit(v) ? 1u << (ebits + mbits) : 0u;
    const uint32_t exp_all = ((1u << ebits) - 1u) << mbits;
    const int bias = (1 << (ebits - 1)) - 1;
    const int emin = 1 - bias; /* exponent of the smallest normal */
    double a = fabs(v);

    if (isnan(v))
        return (uint16_t)(sign | exp_all | (1u << (mbits - 1)));
    if (isinf(v))
        return (uint16_t)(sign | exp_all);
    if (a < ldexp(1.0, emin)) {
        /* Subnormal: count units of 2^(emin - mbits). A result of 2^mbits
         * is the smallest normal, whose bit pattern is the same integer. */
        double m = round_half_even(ldexp(a, mbits - emin));
        return (uint16_t)(sign | (uint32_t)m);
    }
    int ex;
    double f = frexp(a, &ex); /* a = f * 2^ex, f in [0.5, 1) */
    int e = ex - 1;           /* a = (2f) * 2^e, 2f in [1, 2)  */
    if (e > bias)
        return (uint16_t)(sign | exp_all);
    double m = round_half_even(ldexp(f, mbits + 1)); /* in [2^mbits, 2^(mbits+1)] */
    /* A mantissa that rounds up to 2^(mbits+1) carries into the exponent by
     * plain addition; a carry out of the top exponent lands on infinity. */
    uint32_t bits = ((uint32_t)(e + bias) << mbits) + (uint32_t)m - (1u << mbits);
    if (bits >= exp_all)
        bits = exp_all;
    return (uint16_t)(sign | bits);
}

uint16_t ref_f16_from_double(double v)
{
    return pack_small(v, 5, 10);
}

uint16_t ref_bf16_from_double(double v)
{
    return pack_small(v, 8, 7);
}

double ref_f16_to_double(uint16_t h)
{
    double sign = (h & 0x8000u) ? -1.0 : 1.0;
    unsigned e = (h >> 10) & 0x1fu;
    unsigned m = h & 0x3ffu;
    if (e == 0)
        return sign * ldexp((double)m, -24);
    if (e == 31)
        return m ? (sign < 0 ? -NAN : NAN) : sign * INFINITY;
    return sign * ldexp((double)(m + 1024u), (int)e - 25);
}

double ref_bf16_to_double(uint16_t h)
{
    /* bf16 is the top half of an f32: widening is exact. */
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return (double)f;
}

int32_t ref_i32_from_double(double v)
{
    if (isnan(v))
        return 0;
    if (v >= 2147483647.0)
        return INT32_MAX;
    if (v <= -2147483648.0)
        return INT32_MIN;
    double r = round_half_even(fabs(v));
    return (int32_t)(v < 0 ? -r : r);
}

/* ---------------------------------------------------------------- 3 ---- */

/* memcpy keeps loads and stores legal for any address the strides produce. */
double ref_load(const uint8_t *p, int32_t dtype)
{
    switch (dtype) {
    case PLINTH_F32: {
        float f;
        memcpy(&f, p, sizeof f);
        return (double)f;
    }
    case PLINTH_F16: {
        uint16_t h;
        memcpy(&h, p, sizeof h);
        return ref_f16_to_double(h);
    }
    case PLINTH_BF16: {
        uint16_t h;
        memcpy(&h, p, sizeof h);
        return ref_bf16_to_double(h);
    }
    case PLINTH_I32: {
        int32_t i;
        memcpy(&i, p, sizeof i);
        return (double)i;
    }
    default: return NAN;
    }
}

void ref_store(uint8_t *p, int32_t dtype, double v)
{
    switch (dtype) {
    case PLINTH_F32: {
        float f = (float)v; /* one rounding, to nearest even */
        memcpy(p, &f, sizeof f);
        break;
    }
    case PLINTH_F16: {
        uint16_t h = ref_f16_from_double(v);
        memcpy(p, &h, sizeof h);
        break;
    }
    case PLINTH_BF16: {
        uint16_t h = ref_bf16_from_double(v);
        memcpy(p, &h, sizeof h);
        break;
    }
    case PLINTH_I32: {
        int32_t i = ref_i32_from_double(v);
        memcpy(p, &i, sizeof i);
        break;
    }
    default: break;
    }
}
