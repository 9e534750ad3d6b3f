// move.glsl — out and x hold the same number of elements, paired in
// row-major order (their shapes may differ: a reshape the strides cannot
// express). Same dtype moves the bits; otherwise load as f32 and store once
// (cast: round to nearest even; float -> i32 saturates, NaN -> 0).
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const int DT_X = 0;
layout(constant_id = 1) const int DT_O = 0;
layout(constant_id = 2) const bool SAME_SHAPE = true;

layout(push_constant) uniform PC {
    uvec2 o, x;
    uint n, pad0_, pad1_, pad2_;
    ivec4 ne, so; // out shape, strides
    ivec4 nx, sx; // x shape, strides
} pc;

void main()
{
    uint g = flat_group() * 64u + gl_LocalInvocationID.x;
    if (g >= pc.n)
        return;
    ivec4 i = unravel(g, pc.ne);
    ivec4 j = SAME_SHAPE ? i : unravel(g, pc.nx);
    int io = i.x * pc.so.x + i.y * pc.so.y + i.z * pc.so.z + i.w * pc.so.w;
    int ix = j.x * pc.sx.x + j.y * pc.sx.y + j.z * pc.sx.z + j.w * pc.sx.w;
    if (DT_X == DT_O)
        mv(pc.o, io, pc.x, ix, DT_O == DT_F16 || DT_O == DT_BF16 ? 2 : 4);
    else if (DT_X == DT_I32 && DT_O == DT_F32)
        F32_AT(pc.o, io) = float(I32_AT(pc.x, ix));
    else
        st(pc.o, DT_O, io, ld(pc.x, DT_X, ix));
}
