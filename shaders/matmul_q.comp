#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
// matmul_q.comp — matmul with a block-dtype b (q8_0, q4_0, q4_K, q6_K):
// out [.., M, N] = a [.., M, K] x b, a any float dtype (f32 read 4 k at a
// time when KVEC), every weight dequantised exactly as
// plinth_dequant_block (blocks.glsl) before it meets a, products and sums
// in f32. Three ways, chosen by the host (vulkan_ops_q.c):
//  - b transposed, [.., N, K] blocked along K (a model's weight), TM rows
//    and TN columns per invocation: the block's units of 32 (blocks.glsl)
//    are dequantised once per invocation and used for its TM rows. TM 1 is
//    the decode matrix-vector product (many columns per invocation: a's
//    units are loaded once for TN columns, the CPU devices' way), TM > 1
//    prefill.
//  - SG (decode on GPUs): one column per subgroup, its lanes striding over
//    the row's units, then a subgroupAdd.
//  - KN: b [.., K, N] blocked along N: each invocation takes 8 columns of
//    one block and TM rows, one 8-element piece of b per k.
// gl_WorkGroupID.y is the tile of TM rows (SG: the row), .z the batch.
#include "matmul.glsl"
#define DT_Q DT_B
#include "blocks.glsl"

layout(local_size_x_id = 7) in;
layout(constant_id = 3) const bool SG = false;
layout(constant_id = 4) const int TN = 1; // columns per invocation (not SG, not KN)
layout(constant_id = 5) const int TM = 1; // rows per invocation (not SG)
layout(constant_id = 6) const bool KN = false;

#define QOP OPB

// 4 values of a from element index pa + k on (k % 4 == 0).
vec4 lda4(int pa, int k)
{
    if (KVEC)
        return F32x4_AT(OPA, (pa + k) >> 2);
    return vec4(ld(pc.a, DT_A, pa + k * pc.sa.w), ld(pc.a, DT_A, pa + (k + 1) * pc.sa.w),
                ld(pc.a, DT_A, pa + (k + 2) * pc.sa.w), ld(pc.a, DT_A, pa + (k + 3) * pc.sa.w));
}

float hsum(vec4 v) { return (v.x + v.y) + (v.z + v.w); }

// TM == 1: columns n0 .. n0 + TN - 1 of row m; a's 32 values of a unit are
// loaded once for the TN columns. Columns past N repeat the last one's
// loads and are not stored.
void matvec_rows(int i0, int i1, int m, int n0)
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

// TM > 1: rows m0 .. m0 + TM - 1 by columns n0 .. n0 + TN - 1; each unit of
// the TN columns is dequantised once for the TM rows.
void matmul_tile(int i0, int i1, int m0, int n0)
{
    const int QE = q_elems(), QU = q_units(), QBY = q_bytes();
    int ra[TM];
    for (int i = 0; i < TM; i++)
        ra[i] = i0 * pc.sa.x + i1 * pc.sa.y + min(m0 + i, pc.M - 1) * pc.sa.z;
    uint pb[TN];
    for (int j = 0; j < TN; j++)
        pb[j] = pc.qo + uint(i0 * pc.sb.x + i1 * pc.sb.y + min(n0 + j, pc.N - 1) * pc.sb.w);
    float acc[TM][TN];
    for (int i = 0; i < TM; i++)
        for (int j = 0; j < TN; j++)
            acc[i][j] = 0.0;
    for (int kb = 0; kb < pc.K / QE; kb++) {
        q_head hd[TN];
        for (int j = 0; j < TN; j++)
            hd[j] = q_read_head(QOP, pb[j] + uint(kb * QBY));
        for (int u = 0; u < QU; u++) {
            vec4 bv[TN][8];
            for (int j = 0; j < TN; j++)
                q_unit(QOP, pb[j] + uint(kb * QBY), u, hd[j], bv[j]);
            for (int i = 0; i < TM; i++) {
                vec4 av[8];
                for (int c = 0; c < 8; c++)
                    av[c] = lda4(ra[i], kb * QE + q_unit_pos(u, c));
                for (int j = 0; j < TN; j++) {
                    vec4 s = av[0] * bv[j][0];
                    for (int c = 1; c < 8; c++)
                        s += av[c] * bv[j][c];
                    acc[i][j] += hsum(s);
                }
            }
        }
    }
    int bo = i0 * pc.so.x + i1 * pc.so.y;
    for (int i = 0; i < TM; i++)
        for (int j = 0; j < TN; j++)
            if (m0 + i < pc.M && n0 + j < pc.N)
                st(pc.o, DT_A, bo + (m0 + i) * pc.so.z + (n0 + j) * pc.so.w, acc[i][j]);
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

// KN: columns n8 .. n8 + 7 (one block's) of rows m0 .. m0 + TM - 1.
void matmul_kn(int i0, int i1, int m0, int n8)
{
    const int QE = q_elems(), QBY = q_bytes();
    uint pb = pc.qo + uint(i0 * pc.sb.x + i1 * pc.sb.y + (n8 / QE) * QBY);
    int ra[TM];
    for (int i = 0; i < TM; i++)
        ra[i] = i0 * pc.sa.x + i1 * pc.sa.y + min(m0 + i, pc.M - 1) * pc.sa.z;
    vec4 acc[TM][2];
    for (int i = 0; i < TM; i++)
        acc[i][0] = acc[i][1] = vec4(0.0);
    for (int k = 0; k < pc.K; k++) {
        vec4 lo, hi;
        q_dq8(QOP, pb + uint(k * pc.sb.z), n8 % QE, lo, hi);
        for (int i = 0; i < TM; i++) {
            float a = ld(pc.a, DT_A, ra[i] + k * pc.sa.w);
            acc[i][0] += a * lo;
            acc[i][1] += a * hi;
        }
    }
    int bo = i0 * pc.so.x + i1 * pc.so.y;
    for (int i = 0; i < TM; i++)
        for (int c = 0; c < 8; c++)
            if (m0 + i < pc.M)
                st(pc.o, DT_A, bo + (m0 + i) * pc.so.z + (n8 + c) * pc.so.w,
                   c < 4 ? acc[i][0][c] : acc[i][1][c - 4]);
}

void main()
{
    int z = int(gl_WorkGroupID.z), i0 = z / pc.o1, i1 = z % pc.o1;
    int g = int(gl_GlobalInvocationID.x);
    if (SG)
        matvec_subgroup(i0, i1, int(gl_WorkGroupID.y));
    else if (KN) {
        if (8 * g < pc.N)
            matmul_kn(i0, i1, int(gl_WorkGroupID.y) * TM, 8 * g);
    } else if (TM == 1)
        matvec_rows(i0, i1, int(gl_WorkGroupID.y), g * TN);
    else
        matmul_tile(i0, i1, int(gl_WorkGroupID.y) * TM, g * TN);
}
