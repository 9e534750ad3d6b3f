#version 450
#extension GL_GOOGLE_include_directive : require
// set_rows.comp — state[idx[i], :] = src[i, :], one invocation per column,
// walking the source rows in index order so that when an index repeats the
// last write wins (as ref). Rows not indexed are untouched; an index outside
// [0, R) is skipped.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const int DT_S = 0; // src
layout(constant_id = 1) const int DT_O = 0; // state

layout(push_constant) uniform PC {
    uvec2 o, s, idx;
    uint cols;
    int rows;   // rows of the state
    ivec4 ne;   // src shape [p, q, r, C]
    ivec4 ss;   // src strides
    ivec4 si;   // idx strides for p, q, r in .yzw
    ivec2 so;   // state: row stride, column stride
} pc;

void main()
{
    uint g = flat_group() * 64u + gl_LocalInvocationID.x;
    if (g >= pc.cols)
        return;
    int c = int(g);
    for (int p = 0; p < pc.ne.x; p++)
        for (int q = 0; q < pc.ne.y; q++)
            for (int r = 0; r < pc.ne.z; r++) {
                int row = I32_AT(pc.idx, p * pc.si.y + q * pc.si.z + r * pc.si.w);
                if (row < 0 || row >= pc.rows)
                    continue;
                int is = p * pc.ss.x + q * pc.ss.y + r * pc.ss.z + c * pc.ss.w;
                int io = row * pc.so.x + c * pc.so.y;
                if (DT_S == DT_O)
                    mv(pc.o, io, pc.s, is, DT_O == DT_F16 || DT_O == DT_BF16 ? 2 : 4);
                else
                    st(pc.o, DT_O, io, ld(pc.s, DT_S, is));
            }
}
