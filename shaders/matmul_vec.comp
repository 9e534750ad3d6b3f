#version 450
#extension GL_GOOGLE_include_directive : require
// matmul_vec.comp — the decode matmul (few rows of a): matrix times vector.
// Two variants, chosen by the host from what the device reports:
//  - SG true (default with subgroup arithmetic): one column per subgroup,
//    its lanes striding over k, then a subgroupAdd: neighbouring lanes read
//    neighbouring memory (GPUs, and lavapipe too: 3x the other variant).
//  - SG false: one output column n per invocation, k walked with vec4 loads
//    (devices without subgroup arithmetic).
// gl_WorkGroupID.y is the row m of a, .z the batch.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "matmul.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 3) const bool SG = false;

float dot_col(int pa, int pb, int k_begin, int k_step)
{
    float acc = 0.0;
    if (KVEC) {
        vec4 acc4 = vec4(0.0);
        for (int k = k_begin * 4; k < pc.K; k += k_step * 4)
            acc4 += F32x4(pc.a).v[(pa + k) >> 2] * ld_b4(pb + k);
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
    } else {
        n = int(gl_WorkGroupID.x * 64u + gl_LocalInvocationID.x);
        if (n >= pc.N)
            return;
        int pa = i0 * pc.sa.x + i1 * pc.sa.y + m * pc.sa.z;
        int pb = i0 * pc.sb.x + i1 * pc.sb.y + n * pc.sb.w;
        acc = dot_col(pa, pb, 0, 1);
    }
    if (n < pc.N)
        st(pc.o, DT_A, i0 * pc.so.x + i1 * pc.so.y + m * pc.so.z + n * pc.so.w, acc);
}
