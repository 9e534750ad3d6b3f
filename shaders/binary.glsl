// binary.glsl — out = a OP b with numpy broadcasting (the host passes a
// stride of 0 for every broadcast dim). Included by add/sub/mul/div.comp,
// each of which defines FOP(x, y) (float) and IOP(x, y) (int, wrapping).
//
// In-place safe: each invocation reads a[i], b[i] before writing out[i].
//
// GELU_A (fusion of gelu_tanh followed by this op, backends/vulkan/
// vulkan_fuse.c; CONTIG and f32 only): a is the gelu's input x; the
// invocation writes g[i] = gelu(x[i]) (the gelu's own output, kept) and
// out[i] = FOP(g[i], b[i]) — the values the two dispatches would write.
#include "common.glsl"
#include "gelu.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const int DT = 0;        // a, b and out share it
layout(constant_id = 1) const bool CONTIG = false; // all three dense, same shape
layout(constant_id = 2) const bool GELU_A = false;

layout(push_constant) uniform PC {
    uvec2 o, a, b;
    uint n, pad_;
    ivec4 ne, so, sa, sb; // out shape; element strides
    uvec2 g;              // GELU_A: where gelu(a) goes (dense, like out)
} pc;

void main()
{
    uint g = flat_group() * 64u + gl_LocalInvocationID.x;
    if (g >= pc.n)
        return;
    int io, ia, ib;
    if (CONTIG) {
        io = int(g); ia = io; ib = io;
    } else {
        ivec4 i = unravel(g, pc.ne);
        io = i.x * pc.so.x + i.y * pc.so.y + i.z * pc.so.z + i.w * pc.so.w;
        ia = i.x * pc.sa.x + i.y * pc.sa.y + i.z * pc.sa.z + i.w * pc.sa.w;
        ib = i.x * pc.sb.x + i.y * pc.sb.y + i.z * pc.sb.z + i.w * pc.sb.w;
    }
    if (DT == DT_I32) {
        int x = I32_AT(pc.a, ia), y = I32_AT(pc.b, ib);
        I32_AT(pc.o, io) = IOP(x, y);
    } else {
        float x = ld(pc.a, DT, ia), y = ld(pc.b, DT, ib);
        if (GELU_A) {
            x = gelu(x);
            st(pc.g, DT, io, x);
        }
        st(pc.o, DT, io, FOP(x, y));
    }
}
