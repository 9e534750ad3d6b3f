/*
 * half.h — f16/bf16 <-> f32 conversions for the core (constants, loading).
 * Rounding to 16 bits is round-to-nearest-even; NaN stays NaN.
 */
#ifndef PLINTH_HALF_H
#define PLINTH_HALF_H

#include <stddef.h>
#include <stdint.h>

float half_bf16_to_f32(uint16_t h);
uint16_t half_f32_to_bf16(float f);
float half_f16_to_f32(uint16_t h);
uint16_t half_f32_to_f16(float f);

/* Converts n elements between any two plinth float/int dtypes (i32 <-> float
 * converts values). Returns 0, or -1 for an unknown dtype. */
int half_convert(void *dst, int dst_dtype, const void *src, int src_dtype, size_t n);

#endif
