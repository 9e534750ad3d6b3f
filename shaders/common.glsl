// common.glsl — what every plinth compute shader shares.
//
// Sections: extensions; operand access (descriptor slot or device address,
// see backends/vulkan/vulkan.h); dtype load/store
// with the conversions done in f32 registers; the flat invocation index.
//
// dtype numbers are plinth's: f32 0, f16 1, bf16 2, i32 3. 16-bit values are
// read and written as uint16_t (storageBuffer16BitAccess) and converted in
// integer arithmetic, so neither shaderFloat16 nor a bf16 type is needed;
// stores round to nearest even.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require

#define DT_F32 0
#define DT_F16 1
#define DT_BF16 2
#define DT_I32 3

// With PLINTH_INT64 defined before the include (and
// GL_EXT_shader_explicit_arithmetic_types_int64 enabled: shaderInt64), the
// U64_AT / U64x2_AT / U64x4_AT accessors read 8 / 16 / 32 bytes as 64-bit
// components.
//
// A tensor operand is a uvec2 in the push constants, read through the
// X_AT(operand, index) accessors (loads and stores alike). Each shader is
// compiled twice (backends/vulkan/meson.build):
//  - PLINTH_DESC: the operand is (binding slot, byte offset in the binding);
//    every tensor is a storage-buffer descriptor in set 0, binding 0[slot].
//    CPU drivers (llvmpipe) load these several times faster than device
//    addresses (see backends/vulkan/vulkan.h).
//  - otherwise: the operand is a buffer device address (GL_EXT_buffer_reference).
#ifdef PLINTH_DESC
#define NB 8 // VULKAN_MAX_BINDS
layout(set = 0, binding = 0, std430) buffer DF32 { float v[]; } b_f32[NB];
layout(set = 0, binding = 0, std430) buffer DI32 { int v[]; } b_i32[NB];
layout(set = 0, binding = 0, std430) buffer DU32 { uint v[]; } b_u32[NB];
layout(set = 0, binding = 0, std430) buffer DU16 { uint16_t v[]; } b_u16[NB];
layout(set = 0, binding = 0, std430) buffer DF32x4 { vec4 v[]; } b_f32x4[NB];
layout(set = 0, binding = 0, std430) buffer DU32x2 { uvec2 v[]; } b_u32x2[NB];
layout(set = 0, binding = 0, std430) buffer DU32x4 { uvec4 v[]; } b_u32x4[NB];
#define F32_AT(a, i) b_f32[(a).x].v[int((a).y >> 2) + (i)]
#define I32_AT(a, i) b_i32[(a).x].v[int((a).y >> 2) + (i)]
#define U32_AT(a, i) b_u32[(a).x].v[int((a).y >> 2) + (i)]
#define U16_AT(a, i) b_u16[(a).x].v[int((a).y >> 1) + (i)]
#define F32x4_AT(a, i) b_f32x4[(a).x].v[int((a).y >> 4) + (i)]
#define U32x2_AT(a, i) b_u32x2[(a).x].v[int((a).y >> 3) + (i)]
#define U32x4_AT(a, i) b_u32x4[(a).x].v[int((a).y >> 4) + (i)]
#ifdef PLINTH_INT64
layout(set = 0, binding = 0, std430) buffer DU64 { uint64_t v[]; } b_u64[NB];
layout(set = 0, binding = 0, std430) buffer DU64x2 { u64vec2 v[]; } b_u64x2[NB];
layout(set = 0, binding = 0, std430) buffer DU64x4 { u64vec4 v[]; } b_u64x4[NB];
#define U64_AT(a, i) b_u64[(a).x].v[int((a).y >> 3) + (i)]
#define U64x2_AT(a, i) b_u64x2[(a).x].v[int((a).y >> 4) + (i)]
#define U64x4_AT(a, i) b_u64x4[(a).x].v[int((a).y >> 5) + (i)]
#endif
#else
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_buffer_reference_uvec2 : require
layout(buffer_reference, std430, buffer_reference_align = 4) buffer F32 { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer I32 { int v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer U32 { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 2) buffer U16 { uint16_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer F32x4 { vec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 8) buffer U32x2 { uvec2 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer U32x4 { uvec4 v[]; };
#define F32_AT(a, i) F32(a).v[i]
#define I32_AT(a, i) I32(a).v[i]
#define U32_AT(a, i) U32(a).v[i]
#define U16_AT(a, i) U16(a).v[i]
#define F32x4_AT(a, i) F32x4(a).v[i]
#define U32x2_AT(a, i) U32x2(a).v[i]
#define U32x4_AT(a, i) U32x4(a).v[i]
#ifdef PLINTH_INT64
layout(buffer_reference, std430, buffer_reference_align = 8) buffer U64 { uint64_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer U64x2 { u64vec2 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 32) buffer U64x4 { u64vec4 v[]; };
#define U64_AT(a, i) U64(a).v[i]
#define U64x2_AT(a, i) U64x2(a).v[i]
#define U64x4_AT(a, i) U64x4(a).v[i]
#endif
#endif

float bf16_to_f32(uint h) { return uintBitsToFloat(h << 16); }
// f16 widened by hand: unpackHalf2x16 may flush f16 subnormals (llvmpipe
// does), which the conformance suite sees in long dot products.
float f16_to_f32(uint h)
{
    uint s = (h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0u)
        return uintBitsToFloat(s | floatBitsToUint(float(m) * 5.9604644775390625e-8));
    if (e == 31u)
        return uintBitsToFloat(s | 0x7f800000u | (m << 13));
    return uintBitsToFloat(s | ((e + 112u) << 23) | (m << 13));
}

uint f32_to_bf16(float f)
{
    uint u = floatBitsToUint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (u >> 16) | 0x40u; // quiet NaN, sign kept
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

uint f32_to_f16(float f)
{
    uint u = floatBitsToUint(f);
    uint sign = (u >> 16) & 0x8000u;
    uint a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return sign | 0x7e00u;
    if (a >= 0x477ff000u) // rounds to >= 65520: infinity
        return sign | 0x7c00u;
    if (a >= 0x38800000u) { // normal f16
        uint r = a - 0x38000000u; // rebias 127 -> 15 (exponent - 112)
        r = (r + 0xfffu + ((r >> 13) & 1u)) >> 13;
        return sign | r;
    }
    // subnormal f16 (or zero): value = m * 2^-24
    uint e = a >> 23;
    if (e < 102u)
        return sign;
    uint m = (a & 0x7fffffu) | 0x800000u;
    uint shift = 126u - e; // 14..24
    uint h = m >> shift;
    uint rem = m & ((1u << shift) - 1u);
    uint half_ = 1u << (shift - 1u);
    if (rem > half_ || (rem == half_ && (h & 1u) == 1u))
        h += 1u;
    return sign | h;
}

float ld(uvec2 a, int dt, int i)
{
    if (dt == DT_F32)
        return F32_AT(a, i);
    if (dt == DT_F16)
        return f16_to_f32(uint(U16_AT(a, i)));
    if (dt == DT_BF16)
        return bf16_to_f32(uint(U16_AT(a, i)));
    return float(I32_AT(a, i));
}

int f32_to_i32(float v)
{
    if (isnan(v))
        return 0;
    if (v >= 2147483648.0)
        return 2147483647;
    if (v <= -2147483648.0)
        return -2147483647 - 1;
    return int(roundEven(v));
}

void st(uvec2 a, int dt, int i, float x)
{
    if (dt == DT_F32)
        F32_AT(a, i) = x;
    else if (dt == DT_F16)
        U16_AT(a, i) = uint16_t(f32_to_f16(x));
    else if (dt == DT_BF16)
        U16_AT(a, i) = uint16_t(f32_to_bf16(x));
    else
        I32_AT(a, i) = f32_to_i32(x);
}

// Raw element moves (same dtype: bit-exact, NaN payloads kept).
void mv(uvec2 dst, int di, uvec2 src, int si, int esize)
{
    if (esize == 4)
        U32_AT(dst, di) = U32_AT(src, si);
    else
        U16_AT(dst, di) = U16_AT(src, si);
}

// Dispatches are 2-D when one row of workgroups is not enough (65535 cap):
// the flat workgroup number, then the flat invocation number.
uint flat_group() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

// 4-D index of the n-th element of a row-major shape ne.
ivec4 unravel(uint n, ivec4 ne)
{
    ivec4 i;
    i.w = int(n % uint(ne.w)); n /= uint(ne.w);
    i.z = int(n % uint(ne.z)); n /= uint(ne.z);
    i.y = int(n % uint(ne.y)); n /= uint(ne.y);
    i.x = int(n);
    return i;
}
