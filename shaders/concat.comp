#version 450
#extension GL_GOOGLE_include_directive : require
// concat.comp — out = a and b joined on one 4-D axis, one invocation per
// output element, bits moved unchanged.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const int ESIZE = 4;

layout(push_constant) uniform PC {
    uvec2 o, a, b;
    uint n;
    int axis;
    ivec4 ne, so, sa, sb;
    int split;  // a's extent on the axis
} pc;

void main()
{
    uint g = flat_group() * 64u + gl_LocalInvocationID.x;
    if (g >= pc.n)
        return;
    ivec4 i = unravel(g, pc.ne);
    int io = i.x * pc.so.x + i.y * pc.so.y + i.z * pc.so.z + i.w * pc.so.w;
    if (i[pc.axis] < pc.split) {
        mv(pc.o, io, pc.a, i.x * pc.sa.x + i.y * pc.sa.y + i.z * pc.sa.z + i.w * pc.sa.w, ESIZE);
    } else {
        i[pc.axis] -= pc.split;
        mv(pc.o, io, pc.b, i.x * pc.sb.x + i.y * pc.sb.y + i.z * pc.sb.z + i.w * pc.sb.w, ESIZE);
    }
}
