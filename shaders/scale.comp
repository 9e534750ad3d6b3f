#version 450
#extension GL_GOOGLE_include_directive : require
// scale.comp — out = x * s (see unary.glsl)
#define UOP(x) ((x) * pc.s)
#include "unary.glsl"
