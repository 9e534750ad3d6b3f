// matvec_q.glsl — the decode matrix-vector product with a block-dtype b
// [.., N, K] (a model's weight; see matmul_q.glsl), included by
// matvec_q.comp and, with 8-byte loads (PLINTH_INT64, devices with
// shaderInt64), by matvec_q_i64.comp. Two ways:
//  - SG false (CPU devices, and devices without subgroup arithmetic): TN
//    columns per invocation; the values of a that meet a unit of 32 of b
//    (blocks.glsl), or with G4 a group of 4 q8_0 / q4_0 blocks, are loaded
//    once for the TN columns;
//  - SG (GPUs): one column per subgroup, its lanes striding over the row's
//    units, then a subgroupAdd.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "matmul_q.glsl"

layout(constant_id = 3) const bool SG = false;
// q8_0 / q4_0 read 4 blocks (128 k) at a time in 8-byte loads
// (PLINTH_INT64 only): K % 128 == 0, every group at a multiple of 8 bytes.
layout(constant_id = 6) const bool G4 = false;

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
#ifdef PLINTH_INT64
    if (G4) {
        for (int kg = 0; kg < pc.K / 128; kg++) {
            vec4 av[32];
            for (int i = 0; i < 32; i++)
                av[i] = lda4(pa, 128 * kg + 4 * i);
            for (int j = 0; j < TN; j++) {
                uint w[34];
                q_group4_words(QOP, pb[j] + uint(kg * 4 * QBY), w);
                vec4 v[8];
                q_group_block(w, 0, v);
                for (int i = 0; i < 8; i++)
                    acc[j] += v[i] * av[i];
                q_group_block(w, 1, v);
                for (int i = 0; i < 8; i++)
                    acc[j] += v[i] * av[8 + i];
                q_group_block(w, 2, v);
                for (int i = 0; i < 8; i++)
                    acc[j] += v[i] * av[16 + i];
                q_group_block(w, 3, v);
                for (int i = 0; i < 8; i++)
                    acc[j] += v[i] * av[24 + i];
            }
        }
    } else
#endif
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
