#version 450
#extension GL_GOOGLE_include_directive : require
// get_rows.comp — out[p, q, r, :] = table[idx[p, q, r], :], one invocation
// per output element. A float table may widen to f32; the same dtype moves
// the bits. An index outside [0, R) yields zeros (the host-side backends
// report it; a shader cannot). A table split over several dispatches: each
// copies the rows it holds.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const int DT_T = 0;
layout(constant_id = 1) const int DT_O = 0;

layout(push_constant) uniform PC {
    uvec2 o, t, idx;
    uint n;
    int rows;
    ivec4 ne;   // out shape [p, q, r, C]
    ivec4 so;
    ivec4 si;   // idx strides for p, q, r in .yzw
    ivec2 st;   // table: row stride, column stride
    int row0;   // the table holds rows [row0, row0 + rows) of total
    int total;  // (split dispatches: vulkan_ops_nn.c)
} pc;

void main()
{
    uint g = flat_group() * 64u + gl_LocalInvocationID.x;
    if (g >= pc.n)
        return;
    ivec4 i = unravel(g, pc.ne);
    int io = i.x * pc.so.x + i.y * pc.so.y + i.z * pc.so.z + i.w * pc.so.w;
    int row = I32_AT(pc.idx, i.x * pc.si.y + i.y * pc.si.z + i.z * pc.si.w);
    if (row < 0 || row >= pc.total) {
        if (pc.row0 == 0)
            st(pc.o, DT_O, io, 0.0);
        return;
    }
    row -= pc.row0;
    if (row < 0 || row >= pc.rows)
        return;
    int it = row * pc.st.x + i.w * pc.st.y;
    if (DT_T == DT_O)
        mv(pc.o, io, pc.t, it, DT_O == DT_F16 || DT_O == DT_BF16 ? 2 : 4);
    else
        st(pc.o, DT_O, io, ld(pc.t, DT_T, it));
}
