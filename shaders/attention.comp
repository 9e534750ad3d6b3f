#version 450
#extension GL_GOOGLE_include_directive : require
// attention.comp — fused attention over the KV cache: one workgroup of 64
// per (query head, query), keys in blocks of 64 with an online softmax, so
// scores are never written to memory. Lane l scores key j0 + l; then each
// lane accumulates the output dims d = l, l + 64, ... over the block.
// Any dtypes and strides; GPUs (attention_lanes.comp is the CPU devices'
// variant). Which keys a query sees: attention.glsl.
#include "common.glsl"
#include "attention.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const int DT_Q = 0; // q and out
layout(constant_id = 1) const int DT_K = 0;
layout(constant_id = 2) const int DT_V = 0;
#define MAXC 8       // dv <= 512
#define MAXD 512     // dk <= 512

shared float qs[MAXD];
shared float sc[64];
shared float pr[64];

void main()
{
    int lane = int(gl_LocalInvocationID.x);
    int h = int(gl_WorkGroupID.x), t = int(gl_WorkGroupID.y);
    int kh = h / pc.group;
    int lo, hi;
    visible_keys(t, lo, hi);
    for (int d = lane; d < pc.dk; d += 64)
        qs[d] = ld(pc.q, DT_Q, t * pc.sq[0] + h * pc.sq[1] + d * pc.sq[2]);
    barrier();
    float acc[MAXC];
    for (int c = 0; c < MAXC; c++)
        acc[c] = 0.0;
    float m = uintBitsToFloat(0xff800000u), l = 0.0;
    for (int j0 = lo; j0 < hi; j0 += 64) {
        int cnt = min(64, hi - j0);
        float s = uintBitsToFloat(0xff800000u);
        if (lane < cnt) {
            int kb = (j0 + lane) * pc.sk[0] + kh * pc.sk[1];
            float dotp = 0.0;
            for (int d = 0; d < pc.dk; d++)
                dotp += qs[d] * ld(pc.k, DT_K, kb + d * pc.sk[2]);
            s = dotp * pc.scale;
        }
        sc[lane] = s;
        barrier();
        float bm = sc[0];
        for (int j = 1; j < cnt; j++)
            bm = max(bm, sc[j]);
        float nm = max(m, bm);
        float corr = exp(m - nm); // 0 on the first block (m = -inf)
        pr[lane] = lane < cnt ? exp(s - nm) : 0.0;
        barrier();
        float ps = 0.0;
        for (int c = 0; c < MAXC; c++)
            acc[c] *= corr;
        for (int j = 0; j < cnt; j++) {
            float w = pr[j];
            ps += w;
            int vb = (j0 + j) * pc.sv[0] + kh * pc.sv[1];
            for (int c = 0; c < MAXC; c++) {
                int d = lane + 64 * c;
                if (d < pc.dv)
                    acc[c] += w * ld(pc.v, DT_V, vb + d * pc.sv[2]);
            }
        }
        l = l * corr + ps;
        m = nm;
    }
    float inv = l > 0.0 ? 1.0 / l : 0.0;
    for (int c = 0; c < MAXC; c++) {
        int d = lane + 64 * c;
        if (d < pc.dv)
            st(pc.o, DT_Q, t * pc.so[0] + h * pc.so[1] + d * pc.so[2], acc[c] * inv);
    }
}
