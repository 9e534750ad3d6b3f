#version 450
#extension GL_GOOGLE_include_directive : require
// copy.comp — x -> the same values, laid out as out says (see move.glsl)
#include "move.glsl"
