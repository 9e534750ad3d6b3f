// matmul.glsl — push constants and operand access shared by the matmul
// shaders. out [o0, o1, M, N] = a [.., M, K] x b [.., K, N]; transpose_b is
// folded into b's strides by the host (sb.z steps k, sb.w steps n), batch
// dims that broadcast have stride 0. The batch index comes from
// gl_WorkGroupID.z = i0 * o1 + i1.
#include "common.glsl"

layout(constant_id = 0) const int DT_A = 0;  // a and out
layout(constant_id = 1) const int DT_B = 0;
// k runs along contiguous, 16-byte aligned memory in both a and b, K % 4 == 0
// and a is f32: load 4 k at a time (vec4 / 4 halves).
layout(constant_id = 2) const bool KVEC = false;

layout(push_constant) uniform PC {
    uvec2 o, a, b;
    int M, N, K, o1;
    uint qo;   // a block b (matmul_q.comp): element 0's byte from b, and sb
    int pad_;  // in bytes (the blocked dim's step is not used)
    ivec4 so, sa, sb;
    // Stacked matrix-vector products (matmul_vec, matmul_q): columns [0, n1)
    // go to o, [n1, n1 + n2) to o2, the rest to o3 (dense, one row).
    uvec2 o2, o3;
    int n1, n2;
} pc;

// a and b for the vec4 paths: descriptor slots 1 and 2 as constants (the
// encoder binds out, a, b in that order), which llvmpipe turns into direct
// bindings instead of an indexed lookup per load (~20% on the matvec).
#ifdef PLINTH_DESC
#define OPA uvec2(1u, pc.a.y)
#define OPB uvec2(2u, pc.b.y)
#else
#define OPA pc.a
#define OPB pc.b
#endif

// 8 halves (bf16 or f16, per DT_B) widened to f32, in k order.
void widen8(uvec4 u, out vec4 lo, out vec4 hi)
{
    if (DT_B == DT_BF16) {
        uvec4 l = u << 16, h = u & 0xffff0000u;
        lo = uintBitsToFloat(uvec4(l.x, h.x, l.y, h.y));
        hi = uintBitsToFloat(uvec4(l.z, h.z, l.w, h.w));
    } else {
        lo = vec4(f16_to_f32(u.x & 0xffffu), f16_to_f32(u.x >> 16),
                  f16_to_f32(u.y & 0xffffu), f16_to_f32(u.y >> 16));
        hi = vec4(f16_to_f32(u.z & 0xffffu), f16_to_f32(u.z >> 16),
                  f16_to_f32(u.w & 0xffffu), f16_to_f32(u.w >> 16));
    }
}

// 4 consecutive k of b at element index i (i % 4 == 0), widened to f32.
vec4 ld_b4(int i)
{
    if (DT_B == DT_F32)
        return F32x4_AT(OPB, i >> 2);
    uvec2 u = U32x2_AT(OPB, i >> 2);
    if (DT_B == DT_BF16)
        return vec4(uintBitsToFloat(u.x << 16), uintBitsToFloat(u.x & 0xffff0000u),
                    uintBitsToFloat(u.y << 16), uintBitsToFloat(u.y & 0xffff0000u));
    return vec4(f16_to_f32(u.x & 0xffffu), f16_to_f32(u.x >> 16),
                f16_to_f32(u.y & 0xffffu), f16_to_f32(u.y >> 16));
}

// Stores column n of row m; base is the row's offset in o (a stack of
// matrix-vector products: see the push constants).
void st_col(int base, int n, float v)
{
    if (n < pc.n1)
        st(pc.o, DT_A, base + n * pc.so.w, v);
    else if (n < pc.n1 + pc.n2)
        st(pc.o2, DT_A, n - pc.n1, v);
    else
        st(pc.o3, DT_A, n - pc.n1 - pc.n2, v);
}
