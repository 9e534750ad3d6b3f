#version 450
#extension GL_GOOGLE_include_directive : require
// matvec_q_i64.comp — the decode matrix-vector product with a block-dtype
// b reading through 64-bit components (devices with shaderInt64; CPU
// devices load far fewer components this way, see matvec.glsl); the shader
// is matvec_q.glsl.
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#define PLINTH_INT64
#include "matvec_q.glsl"
