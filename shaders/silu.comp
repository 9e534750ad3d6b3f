#version 450
#extension GL_GOOGLE_include_directive : require
// silu.comp — x / (1 + e^-x) (see unary.glsl)
#define UOP(x) ((x) / (1.0 + exp(-(x))))
#include "unary.glsl"
