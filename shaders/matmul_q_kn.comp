#version 450
#extension GL_GOOGLE_include_directive : require
// matmul_q_kn.comp — matmul with a block-dtype b [.., K, N] blocked along N
// (see matmul_q.glsl): each invocation takes 8 columns of one block and TM
// rows, one 8-element piece of b (blocks.glsl q_dq8) per k.
#include "matmul_q.glsl"

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
    int n8 = 8 * int(gl_GlobalInvocationID.x);
    if (n8 < pc.N)
        matmul_kn(i0, i1, int(gl_WorkGroupID.y) * TM, n8);
}
