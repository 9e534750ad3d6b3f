#version 450
#extension GL_GOOGLE_include_directive : require
// rope.comp — NeoX rotate-half on the first n_dims of each head,
// theta_i = pos[t] * base^(-2i/n_dims), divided by factors[i] with HAS_F
// (the op rope_factors; factors f32 [n_dims/2]). One invocation per rotated
// pair (reads both halves before writing either, so out may be x) or per
// passed-through element past n_dims.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const int DT = 0;
layout(constant_id = 1) const bool HAS_F = false;

layout(push_constant) uniform PC {
    uvec2 o, x, pos;
    uint n;
    int half_;      // n_dims / 2
    ivec4 ne;       // x shape [B, T, H, D]
    ivec4 so, sx;
    float base;
    int n_dims;
    int spos;       // pos stride
    uvec2 f;        // factors (HAS_F)
    int sf;         // factors stride
} pc;

void main()
{
    uint g = flat_group() * 64u + gl_LocalInvocationID.x;
    if (g >= pc.n)
        return;
    int per_head = pc.ne.w - pc.half_;
    int j = int(g % uint(per_head));
    uint r = g / uint(per_head);
    int h = int(r % uint(pc.ne.z)); r /= uint(pc.ne.z);
    int t = int(r % uint(pc.ne.y));
    int b = int(r / uint(pc.ne.y));
    int bo = b * pc.so.x + t * pc.so.y + h * pc.so.z;
    int bx = b * pc.sx.x + t * pc.sx.y + h * pc.sx.z;
    if (j >= pc.half_) {
        int d = j + pc.half_;
        st(pc.o, DT, bo + d * pc.so.w, ld(pc.x, DT, bx + d * pc.sx.w));
        return;
    }
    float p = float(I32_AT(pc.pos, t * pc.spos));
    float theta = p * exp2(-2.0 * float(j) / float(pc.n_dims) * log2(pc.base));
    if (HAS_F)
        theta /= F32_AT(pc.f, j * pc.sf);
    float c = cos(theta), s = sin(theta);
    float x0 = ld(pc.x, DT, bx + j * pc.sx.w);
    float x1 = ld(pc.x, DT, bx + (j + pc.half_) * pc.sx.w);
    st(pc.o, DT, bo + j * pc.so.w, x0 * c - x1 * s);
    st(pc.o, DT, bo + (j + pc.half_) * pc.so.w, x1 * c + x0 * s);
}
