#version 450
#extension GL_GOOGLE_include_directive : require
// matmul_vec.comp — the decode matmul (few rows of a): matrix times vector.
// Two variants, chosen by the host from what the device reports:
//  - SG true (default with subgroup arithmetic): one column per subgroup,
//    its lanes striding over k, then a subgroupAdd: neighbouring lanes read
//    neighbouring memory (GPUs, and lavapipe too: 3x the other variant).
//  - SG false: NR consecutive output columns n per invocation (NR 1: the
//    plain column per invocation), k walked with vec4 loads (uvec4: 8 k of
//    a 16-bit b with K8), each a loaded once for the NR columns (CPU
//    devices, where lanes gather anyway, and devices without subgroup
//    arithmetic).
// gl_WorkGroupID.y is the row m of a, .z the batch.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "matmul.glsl"

// Invocations per workgroup (constant 7; 64 for SG, where the host counts
// 64 / subgroup size columns per group).
layout(local_size_x_id = 7) in;
layout(constant_id = 3) const bool SG = false;
layout(constant_id = 4) const int NR = 1; // columns per invocation (SG false, KVEC)
// 16-bit b, K % 8 == 0, b rows 16-byte aligned: 8 k per load (uvec4).
layout(constant_id = 5) const bool K8 = false;
// K known at pipeline creation (> 0; 0: the push constant): constant trip
// counts, which llvmpipe unrolls.
layout(constant_id = 6) const int KC = 0;
#define KDIM (KC > 0 ? KC : pc.K)

// 8 consecutive k of a 16-bit b at element index i (i % 8 == 0).
void ld_b8(int i, out vec4 lo, out vec4 hi)
{
    uvec4 u = U32x4_AT(OPB, i >> 3);
    if (DT_B == DT_BF16) {
        uvec4 l = u << 16, h = u & 0xffff0000u;
        lo = uintBitsToFloat(uvec4(l.x, h.x, l.y, h.y));
        hi = uintBitsToFloat(uvec4(l.z, h.z, l.w, h.w));
    } else {
        lo = vec4(f16_to_f32(u.x & 0xffffu), f16_to_f32(u.x >> 16),
                  f16_to_f32(u.y & 0xffffu), f16_to_f32(u.y >> 16));
        hi = vec4(f16_to_f32(u.z & 0xffffu), f16_to_f32(u.z >> 16),
                  f16_to_f32(u.w & 0xffffu), f16_to_f32(u.w >> 16));
    }
}

float dot_col(int pa, int pb, int k_begin, int k_step)
{
    float acc = 0.0;
    if (KVEC) {
        vec4 acc4 = vec4(0.0);
        for (int k = k_begin * 4; k < pc.K; k += k_step * 4)
            acc4 += F32x4_AT(OPA, (pa + k) >> 2) * ld_b4(pb + k);
        acc = (acc4.x + acc4.y) + (acc4.z + acc4.w);
    } else {
        for (int k = k_begin; k < pc.K; k += k_step)
            acc += ld(pc.a, DT_A, pa + k * pc.sa.w) * ld(pc.b, DT_B, pb + k * pc.sb.z);
    }
    return acc;
}

void main()
{
    int m = int(gl_WorkGroupID.y);
    int z = int(gl_WorkGroupID.z), i0 = z / pc.o1, i1 = z % pc.o1;
    int n;
    float acc;
    if (SG) {
        n = int(gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID);
        int nc = min(n, pc.N - 1);
        int pa = i0 * pc.sa.x + i1 * pc.sa.y + m * pc.sa.z;
        int pb = i0 * pc.sb.x + i1 * pc.sb.y + nc * pc.sb.w;
        acc = subgroupAdd(dot_col(pa, pb, int(gl_SubgroupInvocationID), int(gl_SubgroupSize)));
        if (!subgroupElect())
            return;
    } else if (KVEC) {
        int nb = int(gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x) * NR;
        if (nb >= pc.N)
            return;
        int pa = i0 * pc.sa.x + i1 * pc.sa.y + m * pc.sa.z;
        int pb[NR];
        vec4 acc4[NR];
        for (int j = 0; j < NR; j++) {
            pb[j] = i0 * pc.sb.x + i1 * pc.sb.y + min(nb + j, pc.N - 1) * pc.sb.w;
            acc4[j] = vec4(0.0);
        }
        if (K8) {
            for (int k = 0; k < KDIM; k += 8) {
                vec4 a0 = F32x4_AT(OPA, (pa + k) >> 2), a1 = F32x4_AT(OPA, (pa + k + 4) >> 2);
                for (int j = 0; j < NR; j++) {
                    vec4 lo, hi;
                    ld_b8(pb[j] + k, lo, hi);
                    acc4[j] += a0 * lo + a1 * hi;
                }
            }
        } else {
            for (int k = 0; k < KDIM; k += 4) {
                vec4 av = F32x4_AT(OPA, (pa + k) >> 2);
                for (int j = 0; j < NR; j++)
                    acc4[j] += av * ld_b4(pb[j] + k);
            }
        }
        int bo = i0 * pc.so.x + i1 * pc.so.y + m * pc.so.z;
        for (int j = 0; j < NR; j++)
            if (nb + j < pc.N)
                st(pc.o, DT_A, bo + (nb + j) * pc.so.w,
                   (acc4[j].x + acc4[j].y) + (acc4[j].z + acc4[j].w));
        return;
    } else {
        n = int(gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x);
        if (n >= pc.N)
            return;
        int pa = i0 * pc.sa.x + i1 * pc.sa.y + m * pc.sa.z;
        int pb = i0 * pc.sb.x + i1 * pc.sb.y + n * pc.sb.w;
        acc = dot_col(pa, pb, 0, 1);
    }
    if (n < pc.N)
        st(pc.o, DT_A, i0 * pc.so.x + i1 * pc.so.y + m * pc.so.z + n * pc.so.w, acc);
}
