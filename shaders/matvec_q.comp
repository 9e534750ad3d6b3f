#version 450
#extension GL_GOOGLE_include_directive : require
// matvec_q.comp — the decode matrix-vector product with a block-dtype b,
// 32-bit loads (any device); the shader is matvec_q.glsl.
#include "matvec_q.glsl"
