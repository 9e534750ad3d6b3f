#version 450
#extension GL_GOOGLE_include_directive : require
// matmul_i64.comp — the register-blocked prefill matmul reading through
// 64-bit components (devices with shaderInt64; see matmul_blocked.glsl);
// the shader is matmul_blocked.glsl.
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#define PLINTH_INT64
#include "matmul_blocked.glsl"
