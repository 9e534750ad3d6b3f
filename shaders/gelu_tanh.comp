#version 450
#extension GL_GOOGLE_include_directive : require
// gelu_tanh.comp — GELU with the tanh approximation (see gelu.glsl and
// unary.glsl).
#include "gelu.glsl"
#define UOP(x) gelu(x)
#include "unary.glsl"
