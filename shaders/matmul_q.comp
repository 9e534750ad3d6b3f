#version 450
#extension GL_GOOGLE_include_directive : require
// matmul_q.comp — the prefill matmul with a block-dtype b [.., N, K] (a
// model's weight; see matmul_q.glsl): TM rows by TN columns per invocation,
// each unit of 32 of the TN weight rows (blocks.glsl) dequantised once and
// used for the TM rows.
#include "matmul_q.glsl"

// Rows m0 .. m0 + TM - 1 by columns n0 .. n0 + TN - 1; each unit of
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

void main()
{
    int z = int(gl_WorkGroupID.z), i0 = z / pc.o1, i1 = z % pc.o1;
    matmul_tile(i0, i1, int(gl_WorkGroupID.y) * TM, int(gl_GlobalInvocationID.x) * TN);
}
