#version 450
#extension GL_GOOGLE_include_directive : require
// argmax.comp — index of the first maximum of each row (NaN counts as the
// maximum: the first NaN wins), one row per invocation (see rows.glsl).
// out is i32; pc.so holds its strides for the row dims (i0, i1, i2).
#include "rows.glsl"

void main()
{
    ivec3 r;
    if (!row_index(r))
        return;
    int bx = row_base(r, pc.sx), bo = row_base(r, pc.so);
    int n = pc.ne.w;
    int best = 0;
    float bv = ld(pc.x, DT, bx);
    for (int i = 1; i < n && !isnan(bv); i++) {
        float v = ld(pc.x, DT, bx + i * pc.sx.w);
        if (isnan(v) || v > bv) {
            bv = v;
            best = i;
        }
    }
    I32_AT(pc.o, bo) = best;
}
