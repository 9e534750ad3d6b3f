#version 450
#extension GL_GOOGLE_include_directive : require
// matmul.comp — the register-blocked prefill matmul with 32-bit loads (any
// device); the shader is matmul_blocked.glsl.
#include "matmul_blocked.glsl"
