// matmul_blocked.glsl — the prefill matmul: register blocking without
// shared memory, included by matmul.comp and, with 64-bit loads
// (PLINTH_INT64, devices with shaderInt64), by matmul_i64.comp. Each
// invocation computes a TM x TN block of out (rows and columns interleaved
// by the workgroup size, so neighbouring invocations read neighbouring
// columns); a workgroup covers (WX*TN) x (WY*TM). The CPU devices' variant
// (and that of devices without enough shared memory); matmul_tiled.comp is
// the GPUs' (see vulkan_device.c for the lavapipe measurements).
#include "matmul.glsl"

layout(local_size_x_id = 3, local_size_y_id = 4) in;
// b contiguous along n (not transposed), a along k, f32 a, K % 4 == 0,
// N % 4 == 0, rows 16-byte aligned: each invocation takes 4 neighbouring
// columns instead of 4 interleaved ones, and every load is a vec4 (4 k of
// a, 4 n of b), 64 FMAs per 8 loads where the scalar path does 16 per 8.
// llvmpipe's cost is per load (see matvec.glsl): 1024^3 with b plain
// 2.9 -> 7.1 GFLOP/s on lavapipe (bench_vulkan).
layout(constant_id = 5) const bool NVEC = false;
// KVEC with 32-byte loads (PLINTH_INT64 only): a and b rows 32-byte
// aligned, K a multiple of 8 (f32 b) or 16 (16-bit b): per step each
// invocation loads TM (or 2 TM) rows of a and TN of b as u64vec4, 128 or
// 256 FMAs for 8 or 12 loads where vec4 loads give 64 for 8.
layout(constant_id = 6) const bool W32 = false;
// Rows per invocation: a row of a is loaded once for TN columns and a
// column of b once for TM rows, and on llvmpipe loads are the cost.
// Measured 1024^3 (b transposed / plain, GFLOP/s, lavapipe, W32/NVEC on):
// TM 4: 13.0 / 7.0, 8: 14.9 / 10.0, 16: 18.5 / 12.8, 32: 19.7 / 12.9, with
// the conformance run's shader compile time growing (14 / 17 / 22 / 36 s):
// 16, with the workgroup's y halved to keep 64 rows per workgroup. TN stays
// 4 (NVEC takes 4 neighbouring columns).
#define TM 16
#define TN 4

#ifdef PLINTH_INT64
// 8 f32 of a at element index i (i % 8 == 0).
void ld_a8(int i, out vec4 lo, out vec4 hi)
{
    u64vec4 w = U64x4_AT(OPA, i >> 3);
    lo = uintBitsToFloat(uvec4(unpack32(w.x), unpack32(w.y)));
    hi = uintBitsToFloat(uvec4(unpack32(w.z), unpack32(w.w)));
}

// The 32 bytes of b at element index i: 8 k of f32 (b0, b1) or 16 k of a
// 16-bit dtype (b0 .. b3).
void ld_b32(int i, out vec4 b0, out vec4 b1, out vec4 b2, out vec4 b3)
{
    const int es = DT_B == DT_F32 ? 4 : 2;
    u64vec4 w = U64x4_AT(OPB, (i * es) >> 5);
    uvec4 u = uvec4(unpack32(w.x), unpack32(w.y)), v = uvec4(unpack32(w.z), unpack32(w.w));
    if (DT_B == DT_F32) {
        b0 = uintBitsToFloat(u);
        b1 = uintBitsToFloat(v);
        b2 = b3 = vec4(0.0);
    } else {
        widen8(u, b0, b1);
        widen8(v, b2, b3);
    }
}
#endif

// NVEC: the TM x 4 block at rows m0 + i * wy, columns nb .. nb + 3.
void block_nvec(int m0, int nb, int wy, int ba, int bb, int bo)
{
    int ra[TM];
    for (int i = 0; i < TM; i++)
        ra[i] = ba + min(m0 + i * wy, pc.M - 1) * pc.sa.z;
    const int cb = bb + min(nb, pc.N - 4); // whole vec4s: N % 4 == 0
    vec4 acc[TM];
    for (int i = 0; i < TM; i++)
        acc[i] = vec4(0.0);
    for (int k = 0; k < pc.K; k += 4) {
        vec4 b0 = ld_b4(cb + k * pc.sb.z), b1 = ld_b4(cb + (k + 1) * pc.sb.z);
        vec4 b2 = ld_b4(cb + (k + 2) * pc.sb.z), b3 = ld_b4(cb + (k + 3) * pc.sb.z);
        for (int i = 0; i < TM; i++) {
            vec4 av = F32x4_AT(OPA, (ra[i] + k) >> 2);
            acc[i] += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
        }
    }
    for (int i = 0; i < TM; i++) {
        int m = m0 + i * wy;
        for (int j = 0; j < 4; j++)
            if (m < pc.M && nb + j < pc.N)
                st(pc.o, DT_A, bo + m * pc.so.z + (nb + j) * pc.so.w, acc[i][j]);
    }
}

void main()
{
    int wx = int(gl_WorkGroupSize.x), wy = int(gl_WorkGroupSize.y);
    int n0 = int(gl_WorkGroupID.x) * wx * TN + int(gl_LocalInvocationID.x);
    int m0 = int(gl_WorkGroupID.y) * wy * TM + int(gl_LocalInvocationID.y);
    int z = int(gl_WorkGroupID.z), i0 = z / pc.o1, i1 = z % pc.o1;
    int ba = i0 * pc.sa.x + i1 * pc.sa.y, bb = i0 * pc.sb.x + i1 * pc.sb.y;
    if (NVEC) {
        int nb = (int(gl_WorkGroupID.x) * wx + int(gl_LocalInvocationID.x)) * TN;
        block_nvec(m0, nb, wy, ba, bb, i0 * pc.so.x + i1 * pc.so.y);
        return;
    }
    int ra[TM], rb[TN];
    for (int i = 0; i < TM; i++)
        ra[i] = ba + min(m0 + i * wy, pc.M - 1) * pc.sa.z;
    for (int j = 0; j < TN; j++)
        rb[j] = bb + min(n0 + j * wx, pc.N - 1) * pc.sb.w;
    float acc[TM][TN];
    for (int i = 0; i < TM; i++)
        for (int j = 0; j < TN; j++)
            acc[i][j] = 0.0;
#ifdef PLINTH_INT64
    if (KVEC && W32) {
        const int ks = DT_B == DT_F32 ? 8 : 16;
        for (int k = 0; k < pc.K; k += ks) {
            vec4 a0[TM], a1[TM], a2[TM], a3[TM];
            for (int i = 0; i < TM; i++) {
                ld_a8(ra[i] + k, a0[i], a1[i]);
                if (ks == 16)
                    ld_a8(ra[i] + k + 8, a2[i], a3[i]);
            }
            for (int j = 0; j < TN; j++) {
                vec4 b0, b1, b2, b3;
                ld_b32(rb[j] + k, b0, b1, b2, b3);
                for (int i = 0; i < TM; i++) {
                    float s = dot(a0[i], b0) + dot(a1[i], b1);
                    if (ks == 16)
                        s += dot(a2[i], b2) + dot(a3[i], b3);
                    acc[i][j] += s;
                }
            }
        }
    } else
#endif
    if (KVEC) {
        for (int k = 0; k < pc.K; k += 4) {
            vec4 av[TM], bv[TN];
            for (int i = 0; i < TM; i++)
                av[i] = F32x4_AT(OPA, (ra[i] + k) >> 2);
            for (int j = 0; j < TN; j++)
                bv[j] = ld_b4(rb[j] + k);
            for (int i = 0; i < TM; i++)
                for (int j = 0; j < TN; j++)
                    acc[i][j] += dot(av[i], bv[j]);
        }
    } else {
        for (int k = 0; k < pc.K; k++) {
            float av[TM], bv[TN];
            for (int i = 0; i < TM; i++)
                av[i] = ld(pc.a, DT_A, ra[i] + k * pc.sa.w);
            for (int j = 0; j < TN; j++)
                bv[j] = ld(pc.b, DT_B, rb[j] + k * pc.sb.z);
            for (int i = 0; i < TM; i++)
                for (int j = 0; j < TN; j++)
                    acc[i][j] += av[i] * bv[j];
        }
    }
    int bo = i0 * pc.so.x + i1 * pc.so.y;
    for (int i = 0; i < TM; i++) {
        int m = m0 + i * wy;
        for (int j = 0; j < TN; j++) {
            int n = n0 + j * wx;
            if (m < pc.M && n < pc.N)
                st(pc.o, DT_A, bo + m * pc.so.z + n * pc.so.w, acc[i][j]);
        }
    }
}
