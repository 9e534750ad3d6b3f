#version 450
#extension GL_GOOGLE_include_directive : require
// matmul_tiled.comp — the GPU prefill matmul: 64x64 output tile per
// workgroup of 16x16, A and B staged through shared memory in 64x16
// slices, each invocation accumulating a 4x4 block from registers.
// The default wherever 8 KiB of shared memory exists (vulkan_device.c).
#include "matmul.glsl"

layout(local_size_x = 16, local_size_y = 16) in;
#define BS 64
#define BK 16
shared float As[BK][BS];
shared float Bs[BK][BS];

void main()
{
    int lx = int(gl_LocalInvocationID.x), ly = int(gl_LocalInvocationID.y);
    int lid = ly * 16 + lx;
    int n_t = int(gl_WorkGroupID.x) * BS, m_t = int(gl_WorkGroupID.y) * BS;
    int z = int(gl_WorkGroupID.z), i0 = z / pc.o1, i1 = z % pc.o1;
    int ba = i0 * pc.sa.x + i1 * pc.sa.y, bb = i0 * pc.sb.x + i1 * pc.sb.y;
    float acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            acc[i][j] = 0.0;
    for (int k0 = 0; k0 < pc.K; k0 += BK) {
        // 256 invocations load 64x16 of each operand: 4 elements each.
        for (int e = 0; e < 4; e++) {
            int f = lid + e * 256;      // 0..1023
            int kk = f % BK, mm = f / BK;
            int k = k0 + kk;
            int m = m_t + mm, n = n_t + mm;
            As[kk][mm] = (k < pc.K && m < pc.M) ? ld(pc.a, DT_A, ba + m * pc.sa.z + k * pc.sa.w) : 0.0;
            Bs[kk][mm] = (k < pc.K && n < pc.N) ? ld(pc.b, DT_B, bb + k * pc.sb.z + n * pc.sb.w) : 0.0;
        }
        barrier();
        for (int kk = 0; kk < BK; kk++) {
            float av[4], bv[4];
            for (int i = 0; i < 4; i++)
                av[i] = As[kk][ly + 16 * i];
            for (int j = 0; j < 4; j++)
                bv[j] = Bs[kk][lx + 16 * j];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    acc[i][j] += av[i] * bv[j];
        }
        barrier();
    }
    int bo = i0 * pc.so.x + i1 * pc.so.y;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            int m = m_t + ly + 16 * i, n = n_t + lx + 16 * j;
            if (m < pc.M && n < pc.N)
                st(pc.o, DT_A, bo + m * pc.so.z + n * pc.so.w, acc[i][j]);
        }
}
