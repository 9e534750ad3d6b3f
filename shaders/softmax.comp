#version 450
#extension GL_GOOGLE_include_directive : require
// softmax.comp — softmax(x * scale + mask) over the last dim, one row per
// invocation (see rows.glsl). A row whose logits are all -inf gives zeros;
// a NaN anywhere gives a NaN row (as ref).
#include "rows.glsl"

float logit(int bx, int bw, int i)
{
    float l = ld(pc.x, DT, bx + i * pc.sx.w) * pc.p;
    if (HAS_W)
        l += ld(pc.w, DT_W, bw + i * pc.sw.w);
    return l;
}

void main()
{
    ivec3 r;
    if (!row_index(r))
        return;
    int bx = row_base(r, pc.sx), bo = row_base(r, pc.so), bw = row_base(r, pc.sw);
    int n = pc.ne.w;
    float mx = uintBitsToFloat(0xff800000u); // -inf
    bool nan_ = false;
    for (int i = 0; i < n; i++) {
        float l = logit(bx, bw, i);
        nan_ = nan_ || isnan(l);
        mx = l > mx ? l : mx;
    }
    if (nan_ || isinf(mx) && mx < 0.0) {
        float fill = nan_ ? uintBitsToFloat(0x7fc00000u) : 0.0;
        for (int i = 0; i < n; i++)
            st(pc.o, DT, bo + i * pc.so.w, fill);
        return;
    }
    float sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += exp(logit(bx, bw, i) - mx);
    float inv = 1.0 / sum;
    for (int i = 0; i < n; i++)
        st(pc.o, DT, bo + i * pc.so.w, exp(logit(bx, bw, i) - mx) * inv);
}
