#version 450
#extension GL_GOOGLE_include_directive : require
// matmul_vec.comp — the decode matrix-vector product with 32-bit loads
// (any device); the shader is matvec.glsl.
#include "matvec.glsl"
