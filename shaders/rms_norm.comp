#version 450
#extension GL_GOOGLE_include_directive : require
// rms_norm.comp — out = x / sqrt(mean(x^2) + eps) (* w), one row per
// invocation (see rows.glsl). The row is read in full before it is
// written, so out may be x.
//
// ADD_R (fusion of rms_norm followed by a residual add, backends/vulkan/
// vulkan_fuse.c; f32, o, r and s dense and of one shape): also writes
// s[i] = r[i] + out[i], the add's output, after out[i] (which is kept).
// NORM2 (with ADD_R: the next rms_norm reads s, Gemma's post-norm, residual
// add, pre-norm): then z = rms_norm(s) (* w2, strides of w), same eps; the
// row of s is complete before it is read, so z may be s.
#include "rows.glsl"

layout(constant_id = 3) const bool ADD_R = false;
layout(constant_id = 4) const bool NORM2 = false;

void main()
{
    ivec3 r;
    if (!row_index(r))
        return;
    int bx = row_base(r, pc.sx), bo = row_base(r, pc.so), bw = row_base(r, pc.sw);
    int n = pc.ne.w;
    float ss = 0.0;
    for (int i = 0; i < n; i++) {
        float v = ld(pc.x, DT, bx + i * pc.sx.w);
        ss += v * v;
    }
    float inv = 1.0 / sqrt(ss / float(n) + pc.p);
    for (int i = 0; i < n; i++) {
        float v = ld(pc.x, DT, bx + i * pc.sx.w) * inv;
        if (HAS_W)
            v *= ld(pc.w, DT_W, bw + i * pc.sw.w);
        st(pc.o, DT, bo + i * pc.so.w, v);
        if (ADD_R)
            st(pc.s, DT, bo + i * pc.so.w, ld(pc.r, DT, bo + i * pc.so.w) + v);
    }
    if (!(ADD_R && NORM2))
        return;
    float ss2 = 0.0;
    for (int i = 0; i < n; i++) {
        float v = ld(pc.s, DT, bo + i * pc.so.w);
        ss2 += v * v;
    }
    float inv2 = 1.0 / sqrt(ss2 / float(n) + pc.p);
    for (int i = 0; i < n; i++) {
        float v = ld(pc.s, DT, bo + i * pc.so.w) * inv2;
        if (HAS_W)
            v *= ld(pc.w2, DT_W, bw + i * pc.sw.w);
        st(pc.z, DT, bo + i * pc.so.w, v);
    }
}
