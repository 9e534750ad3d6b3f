// matmul_q.glsl — what the matmuls with a block-dtype b (q8_0, q4_0,
// q4_K, q6_K) share: out [.., M, N] = a [.., M, K] x b, a any float dtype
// (f32 read 4 k at a time when KVEC), every weight dequantised exactly as
// plinth_dequant_block (blocks.glsl) before it meets a, products and sums in
// f32. Three shaders, chosen by the host (vulkan_ops_q.c), one module each
// (a CPU driver compiles a module's every path before it specialises):
//  - matvec_q.comp (matvec_q_i64.comp: with 8-byte loads): decode (b
//    transposed: [.., N, K], blocked along K; matvec_q.glsl);
//  - matmul_q.comp: prefill, b transposed, TM x TN tiles;
//  - matmul_q_kn.comp: b [.., K, N], blocked along N.
// gl_WorkGroupID.y is the row or the tile of TM rows, .z the batch.
#include "matmul.glsl"
#define DT_Q DT_B
#include "blocks.glsl"

layout(local_size_x_id = 7) in;
layout(constant_id = 4) const int TN = 1; // columns per invocation
layout(constant_id = 5) const int TM = 1; // rows per invocation

#define QOP OPB

// 4 values of a from element index pa + k on (k % 4 == 0).
vec4 lda4(int pa, int k)
{
#ifdef PLINTH_INT64
    if (KVEC) { // two 64-bit components instead of four 32-bit ones
        u64vec2 q = U64x2_AT(OPA, (pa + k) >> 2);
        return uintBitsToFloat(uvec4(unpack32(q.x), unpack32(q.y)));
    }
#endif
    if (KVEC)
        return F32x4_AT(OPA, (pa + k) >> 2);
    return vec4(ld(pc.a, DT_A, pa + k * pc.sa.w), ld(pc.a, DT_A, pa + (k + 1) * pc.sa.w),
                ld(pc.a, DT_A, pa + (k + 2) * pc.sa.w), ld(pc.a, DT_A, pa + (k + 3) * pc.sa.w));
}

float hsum(vec4 v) { return (v.x + v.y) + (v.z + v.w); }

