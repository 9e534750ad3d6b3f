#version 450
#extension GL_GOOGLE_include_directive : require
// mul.comp — out = a * b (see binary.glsl)
#define FOP(x, y) ((x) * (y))
#define IOP(x, y) ((x) * (y))
#include "binary.glsl"
