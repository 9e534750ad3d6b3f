#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
// matvec_q.comp — the decode matrix-vector product with a block-dtype b
// [.., N, K] (a model's weight; see matmul_q.glsl), two ways:
//  - SG false (CPU devices, and devices without subgroup arithmetic): TN
//    columns per invocation; the 32 values of a that meet a unit of 32 of b
//    (blocks.glsl) are loaded once for the TN columns;
//  - SG (GPUs): one column per subgroup, its lanes striding over the row's
//    units, then a subgroupAdd.
#include "matmul_q.glsl"

layout(constant_id = 3) const bool SG = false;

// Columns n0 .. n0 + TN - 1 of row m; a's 32 values of a unit are
// loaded once for the TN columns. Columns past N repeat the last one's
// loads and are not stored.
void matvec_cols(int i0, int i1, int m, int n0)
{
    const int QE = q_elems(), QU = q_units(), QBY = q_bytes();
    int pa = i0 * pc.sa.x + i1 * pc.sa.y + m * pc.sa.z;
    uint pb[TN];
    vec4 acc[TN];
    for (int j = 0; j < TN; j++) {
        pb[j] = pc.qo + uint(i0 * pc.sb.x + i1 * pc.sb.y + min(n0 + j, pc.N - 1) * pc.sb.w);
        acc[j] = vec4(0.0);
    }
    for (int kb = 0; kb < pc.K / QE; kb++) {
        q_head hd[TN];
        for (int j = 0; j < TN; j++)
            hd[j] = q_read_head(QOP, pb[j] + uint(kb * QBY));
        for (int u = 0; u < QU; u++) {
            vec4 av[8];
            for (int i = 0; i < 8; i++)
                av[i] = lda4(pa, kb * QE + q_unit_pos(u, i));
            for (int j = 0; j < TN; j++) {
                vec4 v[8];
                q_unit(QOP, pb[j] + uint(kb * QBY), u, hd[j], v);
                for (int i = 0; i < 8; i++)
                    acc[j] += v[i] * av[i];
            }
        }
    }
    int bo = i0 * pc.so.x + i1 * pc.so.y + m * pc.so.z;
    for (int j = 0; j < TN; j++)
        if (n0 + j < pc.N)
            st_col(bo, n0 + j, hsum(acc[j]));
}

// SG: column n of row m, the subgroup's lanes over the row's units.
void matvec_subgroup(int i0, int i1, int m)
{
    const int QE = q_elems(), QU = q_units(), QBY = q_bytes();
    int n = int(gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID);
    int pa = i0 * pc.sa.x + i1 * pc.sa.y + m * pc.sa.z;
    uint pb = pc.qo + uint(i0 * pc.sb.x + i1 * pc.sb.y + min(n, pc.N - 1) * pc.sb.w);
    vec4 acc = vec4(0.0);
    for (int f = int(gl_SubgroupInvocationID); f < (pc.K / QE) * QU; f += int(gl_SubgroupSize)) {
        int kb = f / QU, u = f % QU;
        uint p = pb + uint(kb * QBY);
        vec4 v[8];
        q_unit(QOP, p, u, q_read_head(QOP, p), v);
        for (int i = 0; i < 8; i++)
            acc += v[i] * lda4(pa, kb * QE + q_unit_pos(u, i));
    }
    float sum = subgroupAdd(hsum(acc));
    if (subgroupElect() && n < pc.N)
        st_col(i0 * pc.so.x + i1 * pc.so.y + m * pc.so.z, n, sum);
}

void main()
{
    int z = int(gl_WorkGroupID.z), i0 = z / pc.o1, i1 = z % pc.o1;
    if (SG)
        matvec_subgroup(i0, i1, int(gl_WorkGroupID.y));
    else
        matvec_cols(i0, i1, int(gl_WorkGroupID.y), int(gl_GlobalInvocationID.x) * TN);
}
