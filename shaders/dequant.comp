#version 450
#extension GL_GOOGLE_include_directive : require
// dequant.comp — rows of a block-dtype tensor dequantised (blocks.glsl,
// exactly as plinth_dequant_block) into a float dtype, 8 elements per
// invocation:
//  - cast: out [p, q, r, C] = x [p, q, r, C], rounded once to out's dtype;
//  - GET_ROWS: out [p, q, r, C] = table[idx[p, q, r], :] (f32). An index
//    outside [0, total) yields zeros, as get_rows.comp; a table split over
//    several dispatches: each writes the rows it holds.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const int DT_Q = 4;
layout(constant_id = 1) const int DT_O = 0;
layout(constant_id = 2) const bool GET_ROWS = false;
#include "blocks.glsl"

layout(push_constant) uniform PC {
    uvec2 o, x, idx;
    uint n;    // pieces of 8 elements in out
    uint qo;   // x's element 0: its byte from x
    ivec4 ne;  // out shape [p, q, r, C]
    ivec4 so;  // out element strides
    ivec4 si;  // idx strides for p, q, r in .yzw (GET_ROWS)
    ivec4 sx;  // x byte strides for p, q, r in .xyz (GET_ROWS: .z the row)
    int row0;  // GET_ROWS: the table holds rows [row0, row0 + rows) of
    int rows;  // total (split dispatches: vulkan_ops_nn.c)
    int total;
} pc;

void main()
{
    uint g = flat_group() * 64u + gl_LocalInvocationID.x;
    if (g >= pc.n)
        return;
    ivec4 i = unravel(g, ivec4(pc.ne.xyz, pc.ne.w / 8));
    i.w *= 8;
    int io = i.x * pc.so.x + i.y * pc.so.y + i.z * pc.so.z + i.w * pc.so.w;
    int row_byte;
    if (GET_ROWS) {
        int row = I32_AT(pc.idx, i.x * pc.si.y + i.y * pc.si.z + i.z * pc.si.w);
        if (row < 0 || row >= pc.total) {
            if (pc.row0 == 0)
                for (int c = 0; c < 8; c++)
                    st(pc.o, DT_O, io + c * pc.so.w, 0.0);
            return;
        }
        row -= pc.row0;
        if (row < 0 || row >= pc.rows)
            return;
        row_byte = row * pc.sx.z;
    } else {
        row_byte = i.x * pc.sx.x + i.y * pc.sx.y + i.z * pc.sx.z;
    }
    uint p = pc.qo + uint(row_byte + (i.w / q_elems()) * q_bytes());
    vec4 v[2];
    q_dq8(pc.x, p, i.w % q_elems(), v[0], v[1]);
    for (int c = 0; c < 8; c++)
        st(pc.o, DT_O, io + c * pc.so.w, v[c >> 2][c & 3]);
}
