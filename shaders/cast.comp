#version 450
#extension GL_GOOGLE_include_directive : require
// cast.comp — x -> another dtype (see move.glsl)
#include "move.glsl"
