/*
 * half.c — scalar f16/bf16 conversions. Not on any hot path: the core uses
 * them for constants and load-time conversion only; backends have their own.
 */
#include "half.h"

#include "plinth/plinth.h"

#include <math.h>
#include <string.h>

float half_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t half_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it a (quiet) NaN */
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float half_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: value = man * 2^-24 */
            float f = ldexpf((float)man, -24);
            return sign ? -f : f;
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 112u) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t half_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t au = u & 0x7fffffffu;
    if (au > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u); /* NaN */
    if (au >= 0x477ff000u)                 /* rounds to >= 65520: inf */
        return (uint16_t)(sign | 0x7c00u);
    if (au < 0x38800000u) { /* below the smallest normal: subnormal or 0 */
        float a;
        memcpy(&a, &au, sizeof a);
        /* a * 2^24 rounded to nearest even is the subnormal mantissa */
        float m = nearbyintf(a * 16777216.0f);
        return (uint16_t)(sign | (uint16_t)m);
    }
    uint32_t r = au + 0xfffu + ((au >> 13) & 1u); /* nearest even at bit 13 */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

static double load(const void *src, int dtype, size_t i)
{
    switch (dtype) {
    case PLINTH_F32: return ((const float *)src)[i];
    case PLINTH_F16: return half_f16_to_f32(((const uint16_t *)src)[i]);
    case PLINTH_BF16: return half_bf16_to_f32(((const uint16_t *)src)[i]);
    case PLINTH_I32: return ((const int32_t *)src)[i];
    }
    return 0;
}

int half_convert(void *dst, int dst_dtype, const void *src, int src_dtype, size_t n)
{
    if (dst_dtype < 0 || dst_dtype >= PLINTH_DTYPE_COUNT || src_dtype < 0 ||
        src_dtype >= PLINTH_DTYPE_COUNT)
        return -1;
    if (dst_dtype == src_dtype) {
        memmove(dst, src, n * plinth_dtype_size((plinth_dtype)src_dtype));
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        double v = load(src, src_dtype, i);
        switch (dst_dtype) {
        case PLINTH_F32: ((float *)dst)[i] = (float)v; break;
        case PLINTH_F16: ((uint16_t *)dst)[i] = half_f32_to_f16((float)v); break;
        case PLINTH_BF16: ((uint16_t *)dst)[i] = half_f32_to_bf16((float)v); break;
        case PLINTH_I32: ((int32_t *)dst)[i] = (int32_t)v; break;
        }
    }
    return 0;
}
