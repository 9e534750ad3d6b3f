// rows.glsl — push constants and row addressing for the ops that reduce
// along the last dim (rms_norm, softmax, argmax): one invocation per row.
// A row per invocation: rows are short
// (a hidden size) or few (logits), so this is not the bottleneck anywhere.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const int DT = 0;     // x (and out, except argmax)
layout(constant_id = 1) const int DT_W = 0;   // weight / mask
layout(constant_id = 2) const bool HAS_W = false;

layout(push_constant) uniform PC {
    uvec2 o, x, w;
    uint rows;
    float p;          // eps (rms_norm) or scale (softmax)
    ivec4 ne;         // x shape; ne.w is the row length
    ivec4 so, sx, sw; // element strides (w: 0 where it broadcasts)
    uvec2 r, s;       // rms_norm ADD_R: residual in, sum out (dense, like o)
    uvec2 z, w2;      // rms_norm NORM2: the sum's own norm out (dense), its weight
} pc;

// The row of this invocation, or -1 past the end; r = (i0, i1, i2).
bool row_index(out ivec3 r)
{
    uint g = flat_group() * 64u + gl_LocalInvocationID.x;
    if (g >= pc.rows)
        return false;
    r.z = int(g % uint(pc.ne.z)); g /= uint(pc.ne.z);
    r.y = int(g % uint(pc.ne.y)); g /= uint(pc.ne.y);
    r.x = int(g);
    return true;
}

int row_base(ivec3 r, ivec4 s) { return r.x * s.x + r.y * s.y + r.z * s.z; }
