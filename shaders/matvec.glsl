// matvec.glsl — the decode matmul (few rows of a): matrix times vector,
// included by matmul_vec.comp and, with 64-bit loads (PLINTH_INT64, on
// devices with shaderInt64), by matmul_vec_i64.comp.
// Two variants, chosen by the host from what the device reports:
//  - SG true (default with subgroup arithmetic): one column per subgroup,
//    its lanes striding over k, then a subgroupAdd: neighbouring lanes read
//    neighbouring memory (GPUs).
//  - SG false: NR consecutive output columns n per invocation (NR 1: the
//    plain column per invocation), k walked several at a time (KW), each a
//    loaded once for the NR columns (CPU devices, where lanes gather
//    anyway, and devices without subgroup arithmetic).
// gl_WorkGroupID.y is the row m of a, .z the batch.
//
// Why KW matters on llvmpipe (Mesa 22.3): a storage-buffer load whose
// address differs between lanes becomes a scalar loop over the 8 lanes and
// the components, with a bounds check and a stack round trip per lane, so
// its cost is per load and per component far more than per byte. 32 bytes
// in one u64vec4 load per lane (KW 2) measured 5.6 -> 7.1 GB/s on the bf16
// logits matvec against 16 bytes in a uvec4 (bench_vulkan ... matvec).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "matmul.glsl"

// Invocations per workgroup (constant 7; 64 for SG, where the host counts
// 64 / subgroup size columns per group).
layout(local_size_x_id = 7) in;
layout(constant_id = 3) const bool SG = false;
layout(constant_id = 4) const int NR = 1; // columns per invocation (SG false, KVEC)
// k per load of b (SG false, KVEC): 0: 4 k; 1: 16 bytes of a 16-bit b
// (8 k), K % 8 == 0, rows 16-byte aligned; 2 (PLINTH_INT64 only): 32
// bytes (8 k of f32, 16 of a 16-bit b), K a multiple, rows 32-byte aligned.
layout(constant_id = 5) const int KW = 0;
// K known at pipeline creation (> 0; 0: the push constant): constant trip
// counts, which llvmpipe unrolls.
layout(constant_id = 6) const int KC = 0;
#define KDIM (KC > 0 ? KC : pc.K)

#ifdef PLINTH_INT64
// 4 consecutive f32 of a at element index i (i % 4 == 0): two 64-bit
// components instead of four 32-bit ones (see KW above).
vec4 ld_a4(int i)
{
    u64vec2 q = U64x2_AT(OPA, i >> 2);
    return uintBitsToFloat(uvec4(unpack32(q.x), unpack32(q.y)));
}

// 8 consecutive k of a 16-bit b at element index i (i % 8 == 0).
void ld_b8(int i, out vec4 lo, out vec4 hi)
{
    u64vec2 q = U64x2_AT(OPB, i >> 3);
    widen8(uvec4(unpack32(q.x), unpack32(q.y)), lo, hi);
}

// a . b over the 32 bytes of b at element index i (KW 2; pa: a's element
// index of the same k), added to acc.
vec4 fma_b32(int pa, int i, vec4 a0, vec4 a1, vec4 a2, vec4 a3, vec4 acc)
{
    const int es = DT_B == DT_F32 ? 4 : 2;
    u64vec4 q = U64x4_AT(OPB, (i * es) >> 5);
    uvec4 u = uvec4(unpack32(q.x), unpack32(q.y)), w = uvec4(unpack32(q.z), unpack32(q.w));
    if (DT_B == DT_F32)
        return fma(a1, uintBitsToFloat(w), fma(a0, uintBitsToFloat(u), acc));
    vec4 b0, b1, b2, b3;
    widen8(u, b0, b1);
    widen8(w, b2, b3);
    return fma(a3, b3, fma(a2, b2, fma(a1, b1, fma(a0, b0, acc))));
}
#else
vec4 ld_a4(int i)
{
    return F32x4_AT(OPA, i >> 2);
}

void ld_b8(int i, out vec4 lo, out vec4 hi)
{
    widen8(U32x4_AT(OPB, i >> 3), lo, hi);
}
#endif

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

// NR columns from nb on, KVEC (SG false); columns past N repeat the last
// one's loads and are not stored.
void columns(int m, int i0, int i1)
{
    int nb = int(gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x) * NR;
    int pa = i0 * pc.sa.x + i1 * pc.sa.y + m * pc.sa.z;
    int pb[NR];
    vec4 acc4[NR];
    for (int j = 0; j < NR; j++) {
        pb[j] = i0 * pc.sb.x + i1 * pc.sb.y + min(nb + j, pc.N - 1) * pc.sb.w;
        acc4[j] = vec4(0.0);
    }
#ifdef PLINTH_INT64
    if (KW == 2) {
        const int ks = DT_B == DT_F32 ? 8 : 16;
        for (int k = 0; k < KDIM; k += ks) {
            vec4 a0 = ld_a4(pa + k), a1 = ld_a4(pa + k + 4), a2 = a0, a3 = a1;
            if (ks == 16) {
                a2 = ld_a4(pa + k + 8);
                a3 = ld_a4(pa + k + 12);
            }
            for (int j = 0; j < NR; j++)
                acc4[j] = fma_b32(pa + k, pb[j] + k, a0, a1, a2, a3, acc4[j]);
        }
    } else
#endif
    if (KW == 1) {
        for (int k = 0; k < KDIM; k += 8) {
            vec4 a0 = ld_a4(pa + k), a1 = ld_a4(pa + k + 4);
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
            st_col(bo, nb + j, (acc4[j].x + acc4[j].y) + (acc4[j].z + acc4[j].w));
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
        columns(m, i0, i1);
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
        st_col(i0 * pc.so.x + i1 * pc.so.y + m * pc.so.z, n, acc);
}
