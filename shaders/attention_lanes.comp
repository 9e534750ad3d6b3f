#version 450
#extension GL_GOOGLE_include_directive : require
// attention_lanes.comp — fused attention over the KV cache for CPU devices
// (f32 k and v, contiguous along d, rows 32-byte aligned; shaderInt64 and
// subgroup arithmetic). One workgroup = one subgroup per (query head,
// query); no shared memory and no barriers. Lane l owns the dims
// 8 * (S * c + l) .. + 8 of chunk c (S the subgroup size) for q, k, v and
// the output alike, so each key costs each lane NCK + NCV 32-byte loads:
// the partial dot of its q dims with the key's, one subgroupAdd for the
// score, the online-softmax update (scores are never stored) and its
// slice of the weighted v.
//
// Why: llvmpipe runs a storage-buffer or shared-memory load whose address
// differs per lane as a loop over lanes and components (see matvec.glsl),
// and a barrier as a coroutine switch; attention.comp's per-element loads
// and shared scores cost ~4 ms per decoded token per layer at 512 keys.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#define PLINTH_INT64
#include "common.glsl"
#include "attention.glsl"

layout(local_size_x_id = 3) in; // the subgroup size
layout(constant_id = 0) const int DT_Q = 0; // q and out
layout(constant_id = 1) const int NCK = 1;  // chunks of 8 * S dims of q and k
layout(constant_id = 2) const int NCV = 1;  // of v and out

// 8 f32 at element index i (i % 8 == 0) of operand a.
void ld8(uvec2 a, int i, out vec4 lo, out vec4 hi)
{
    u64vec4 w = U64x4_AT(a, i >> 3);
    lo = uintBitsToFloat(uvec4(unpack32(w.x), unpack32(w.y)));
    hi = uintBitsToFloat(uvec4(unpack32(w.z), unpack32(w.w)));
}

void main()
{
    const int S = int(gl_SubgroupSize), lane = int(gl_SubgroupInvocationID);
    const int h = int(gl_WorkGroupID.x), t = int(gl_WorkGroupID.y), kh = h / pc.group;
    int lo, hi;
    visible_keys(t, lo, hi);

    vec4 q0[NCK], q1[NCK];
    for (int c = 0; c < NCK; c++) {
        float e[8];
        for (int i = 0; i < 8; i++) {
            int d = 8 * (S * c + lane) + i;
            e[i] = d < pc.dk ? ld(pc.q, DT_Q, t * pc.sq[0] + h * pc.sq[1] + d * pc.sq[2]) : 0.0;
        }
        q0[c] = vec4(e[0], e[1], e[2], e[3]);
        q1[c] = vec4(e[4], e[5], e[6], e[7]);
    }
    vec4 a0[NCV], a1[NCV];
    for (int c = 0; c < NCV; c++)
        a0[c] = a1[c] = vec4(0.0);

    float m = uintBitsToFloat(0xff800000u), l = 0.0;
    for (int j = lo; j < hi; j++) {
        const int kb = j * pc.sk[0] + kh * pc.sk[1], vb = j * pc.sv[0] + kh * pc.sv[1];
        float part = 0.0;
        for (int c = 0; c < NCK; c++) {
            const int d0 = 8 * (S * c + lane);
            if (d0 < pc.dk) {
                vec4 k0, k1;
                ld8(pc.k, kb + d0, k0, k1);
                part += dot(q0[c], k0) + dot(q1[c], k1);
            }
        }
        const float s = subgroupAdd(part) * pc.scale;
        const float nm = max(m, s);
        const float corr = exp(m - nm); // 0 on the first key (m = -inf)
        const float p = exp(s - nm);
        l = l * corr + p;
        m = nm;
        for (int c = 0; c < NCV; c++) {
            const int d0 = 8 * (S * c + lane);
            if (d0 < pc.dv) {
                vec4 v0, v1;
                ld8(pc.v, vb + d0, v0, v1);
                a0[c] = a0[c] * corr + p * v0;
                a1[c] = a1[c] * corr + p * v1;
            }
        }
    }
    const float inv = l > 0.0 ? 1.0 / l : 0.0;
    const int ob = t * pc.so[0] + h * pc.so[1];
    for (int c = 0; c < NCV; c++) {
        const vec4 r0 = a0[c] * inv, r1 = a1[c] * inv;
        const float e[8] = float[8](r0.x, r0.y, r0.z, r0.w, r1.x, r1.y, r1.z, r1.w);
        for (int i = 0; i < 8; i++) {
            int d = 8 * (S * c + lane) + i;
            if (d < pc.dv)
                st(pc.o, DT_Q, ob + d * pc.so[2], e[i]);
        }
    }
}
