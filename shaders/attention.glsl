// attention.glsl — push constants shared by the attention shaders
// (attention.comp, attention_lanes.comp). Visible keys for query t:
// j < kv_len, j <= pos[t], pos[t] - j < window (window > 0). GQA: head h
// reads kv head h / group. No visible key: zeros.
layout(push_constant) uniform PC {
    uvec2 q, k, v, o, pos, kvl;
    int dk, dv, s_len, window;
    float scale;
    int group, spos, pad_;
    int sq[3];  // t, h, d (arrays of int: no vec3 padding)
    int sk[3];  // s, h, d
    int sv[3];
    int so[3];
} pc;

// Keys [lo, hi) that query t (at position p) sees.
void visible_keys(int t, out int lo, out int hi)
{
    int p = I32_AT(pc.pos, t * pc.spos);
    int kv_len = I32_AT(pc.kvl, 0);
    hi = min(p + 1, min(kv_len, pc.s_len));
    lo = pc.window > 0 ? max(p - pc.window + 1, 0) : 0;
}
