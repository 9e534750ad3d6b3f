// unary.glsl — out = UOP(x) elementwise on a float dtype. Included by
// scale/gelu_tanh/silu.comp, each of which defines UOP(x) (f32 math; pc.s
// is the scale attribute). In-place safe (out may be x).
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const int DT = 0;
layout(constant_id = 1) const bool CONTIG = false;

layout(push_constant) uniform PC {
    uvec2 o, a;
    uint n;
    float s;
    uint pad0_, pad1_;
    ivec4 ne, so, sa;
} pc;

void main()
{
    uint g = flat_group() * 64u + gl_LocalInvocationID.x;
    if (g >= pc.n)
        return;
    int io, ia;
    if (CONTIG) {
        io = int(g); ia = io;
    } else {
        ivec4 i = unravel(g, pc.ne);
        io = i.x * pc.so.x + i.y * pc.so.y + i.z * pc.so.z + i.w * pc.so.w;
        ia = i.x * pc.sa.x + i.y * pc.sa.y + i.z * pc.sa.z + i.w * pc.sa.w;
    }
    float x = ld(pc.a, DT, ia);
    st(pc.o, DT, io, UOP(x));
}
