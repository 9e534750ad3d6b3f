/*
 * plinth_plugin.h — the backend plugin ABI of plinth, version 1.
 *
 * This header is the whole contract between the plinth core (the host) and a
 * backend plugin (a shared module loaded with dlopen). It includes only
 * standard headers; a plugin includes this file and nothing else of plinth.
 *
 * Sections:
 *   1. versions, constants, the size check
 *   2. vocabulary shared with the public API: status, dtype, op list, attrs
 *   3. views and buffers
 *   4. host services (passed in) and the backend vtable (passed out)
 *   5. the entry symbol
 *   6. a well-behaved plugin (numbered rules, what breaks, what the host checks)
 *
 * ABI v1 is frozen: what is declared here keeps its layout for as long as
 * version 1 exists (tests/abi/test_abi_layout.c asserts every offset and
 * size). It grows by these rules:
 *   - Sized structs start with `uint32_t struct_size` (plinth_host,
 *     plinth_backend_api, plinth_device_info, plinth_device_options). Fields
 *     are only ever appended. Whoever fills one sets struct_size to the size
 *     it was compiled with (or, for a struct the other side passes in to be
 *     filled, writes only fields that fit the caller's struct_size); a reader
 *     reads a field only when PLINTH_HAS_FIELD says the struct reaches it,
 *     and a field it cannot see reads as its documented default (an optional
 *     slot: absent).
 *   - Frozen structs never change: plinth_buffer, plinth_view, the per-op
 *     attr structs and the 64-byte plinth_attrs union. A new op gets a new
 *     union member; a new attribute of an existing op is a new op or a
 *     member appended to its struct whose zero value means the v1 behaviour,
 *     which the host sets non-zero only for a plugin whose table declares it
 *     (its struct_size covers the slot added with it).
 *   - Arrays of a struct that may grow travel with their element size
 *     (prepare's instruction list: `instruction_size`).
 *   - Op numbers, dtype numbers and status numbers are only ever appended.
 */
#ifndef PLINTH_PLUGIN_H
#define PLINTH_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- 1 ---- */

/* The ABI version this header describes. Bumped only when a change cannot be
 * expressed by the growth rules; plugins say which versions they serve. */
#define PLINTH_ABI_VERSION 1u

/* Every buffer a plugin allocates and every tensor the planner places starts
 * at a multiple of this many bytes. 256 is the largest
 * minStorageBufferOffsetAlignment Vulkan allows, so one plan fits all. */
#define PLINTH_ALIGNMENT 256u

/* Tensors have at most this many dimensions. */
#define PLINTH_MAX_DIMS 4

/* A plugin reports at most this many devices; the host refuses a plugin
 * whose device_count() says more. */
#define PLINTH_MAX_DEVICES 64u

/* Name of the one symbol a plugin exports (see section 5). */
#define PLINTH_PLUGIN_ENTRY_SYMBOL "plinth_plugin_entry"

/* The one size check, used by the host, the plugins and the public API:
 * true when the sized struct `*s` (of type `type`) reaches past `field`. */
#define PLINTH_HAS_FIELD(s, type, field) \
    ((s)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ---------------------------------------------------------------- 2 ---- */

typedef enum plinth_status {
    PLINTH_OK = 0,
    PLINTH_ERR_INVALID = 1,     /* bad argument, bad graph, bad shape       */
    PLINTH_ERR_UNSUPPORTED = 2, /* op/dtype/feature not available here      */
    PLINTH_ERR_NO_MEMORY = 3,   /* an allocation failed                     */
    PLINTH_ERR_IO = 4,          /* file missing, unreadable, truncated      */
    PLINTH_ERR_FORMAT = 5,      /* file readable but its content is wrong   */
    PLINTH_ERR_PLUGIN = 6,      /* a plugin broke the ABI contract          */
    PLINTH_ERR_DEVICE = 7,      /* the device failed or is absent           */
    PLINTH_ERR_INTERNAL = 8,    /* a bug in plinth                          */
    PLINTH_ERR_BUSY = 9,        /* the object is in use by another call     */
    PLINTH_STATUS_COUNT
} plinth_status;

/*
 * Element types. Plain dtypes, one element each: f32 4 bytes, f16 2, bf16 2,
 * i32 4. Block dtypes (appended for quantized weights): a fixed number of
 * elements stored together in a fixed number of bytes, with the layouts and
 * the dequantisation of ggml (ggml-common.h, ggml-quants.c), so a GGUF
 * file's tensor data is used as it is. Little-endian; f16 is IEEE half.
 *
 *   q8_0  32 elements in 34 bytes:  f16 d; int8 qs[32].      x[i] = d * qs[i]
 *   q4_0  32 elements in 18 bytes:  f16 d; uint8 qs[16].     x[i] = d * (q - 8),
 *         q the low nibble of qs[i] for i < 16, the high nibble of qs[i - 16]
 *         for i >= 16
 *   q4_K  256 elements in 144 bytes (8 sub-blocks of 32): f16 d, dmin;
 *         uint8 scales[12] (a 6-bit scale and a 6-bit min per sub-block);
 *         uint8 qs[128]. x = (d * scale) * q - (dmin * min), q a nibble
 *   q6_K  256 elements in 210 bytes (16 sub-blocks of 16): uint8 ql[128]
 *         (low 4 bits), qh[64] (high 2 bits); int8 scales[16]; f16 d.
 *         x = (d * scale) * (q - 32), q 6 bits
 *
 * The exact element order and arithmetic (in f32, in the order written, no
 * fused multiply-add) is that of plinth_dequant_block below, which every
 * side shares. Block dtypes are weights only: where they may appear is said
 * in the op list (matmul's b, get_rows' table, cast's x) and how a view
 * addresses them with plinth_view.
 */
typedef enum plinth_dtype {
    PLINTH_F32 = 0,
    PLINTH_F16 = 1,
    PLINTH_BF16 = 2,
    PLINTH_I32 = 3,
    PLINTH_Q8_0 = 4,
    PLINTH_Q4_0 = 5,
    PLINTH_Q4_K = 6,
    PLINTH_Q6_K = 7,
    PLINTH_DTYPE_COUNT
} plinth_dtype;

/* The dtype's name ("f32", "f16", "bf16", "i32", "q8_0", "q4_0", "q4_K",
 * "q6_K"; "?" for a number that is not a dtype) and its bytes per element
 * (0 for a block dtype and for a number that is not a dtype, so a plugin
 * that sizes views by the element refuses a block dtype rather than
 * misreading it): the one table for the host and every plugin. */
static inline const char *plinth_dtype_label(int32_t dtype)
{
    return dtype == PLINTH_F32    ? "f32"
           : dtype == PLINTH_F16  ? "f16"
           : dtype == PLINTH_BF16 ? "bf16"
           : dtype == PLINTH_I32  ? "i32"
           : dtype == PLINTH_Q8_0 ? "q8_0"
           : dtype == PLINTH_Q4_0 ? "q4_0"
           : dtype == PLINTH_Q4_K ? "q4_K"
           : dtype == PLINTH_Q6_K ? "q6_K"
                                  : "?";
}

static inline size_t plinth_dtype_bytes(int32_t dtype)
{
    return dtype == PLINTH_F32 || dtype == PLINTH_I32 ? 4u
           : dtype == PLINTH_F16 || dtype == PLINTH_BF16 ? 2u
                                                          : 0u;
}

/* Elements per block: 1 for a plain dtype, 32 (q8_0, q4_0) or 256 (q4_K,
 * q6_K) for a block dtype, 0 for a number that is not a dtype. */
static inline size_t plinth_dtype_block_elems(int32_t dtype)
{
    return dtype == PLINTH_Q8_0 || dtype == PLINTH_Q4_0   ? 32u
           : dtype == PLINTH_Q4_K || dtype == PLINTH_Q6_K ? 256u
                                                          : plinth_dtype_bytes(dtype) ? 1u : 0u;
}

/* Bytes per block: the element size for a plain dtype, 34 (q8_0), 18
 * (q4_0), 144 (q4_K), 210 (q6_K), 0 for a number that is not a dtype. */
static inline size_t plinth_dtype_block_bytes(int32_t dtype)
{
    return dtype == PLINTH_Q8_0   ? 34u
           : dtype == PLINTH_Q4_0 ? 18u
           : dtype == PLINTH_Q4_K ? 144u
           : dtype == PLINTH_Q6_K ? 210u
                                  : plinth_dtype_bytes(dtype);
}

/* Bytes of n consecutive elements (a row of n, or a whole contiguous
 * tensor of n): the one size computation for tensor bytes. 0 when n is not
 * a whole number of blocks, is negative, the dtype is not one, or the
 * result would not fit; also, rightly, for n = 0. */
static inline uint64_t plinth_dtype_row_bytes(int32_t dtype, int64_t n)
{
    const uint64_t be = plinth_dtype_block_elems(dtype), bb = plinth_dtype_block_bytes(dtype);
    if (be == 0 || n < 0 || (uint64_t)n % be != 0 || (uint64_t)n / be > UINT64_MAX / bb)
        return 0;
    return (uint64_t)n / be * bb;
}

/*
 * The one set of scalar f16/bf16 <-> f32 conversions, for the host, the
 * plugins and the tools (not for hot loops: kernels vectorise their own).
 * Widening is exact; narrowing rounds to nearest even, overflows to
 * infinity, and keeps NaN a NaN.
 */
static inline float plinth_bits_to_f32(uint32_t u)
{
    union { uint32_t u; float f; } v;
    v.u = u;
    return v.f;
}

static inline uint32_t plinth_f32_to_bits(float f)
{
    union { uint32_t u; float f; } v;
    v.f = f;
    return v.u;
}

static inline float plinth_bf16_to_f32(uint16_t h)
{
    return plinth_bits_to_f32((uint32_t)h << 16);
}

static inline uint16_t plinth_f32_to_bf16(float f)
{
    uint32_t u = plinth_f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it a (quiet) NaN */
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float plinth_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0) {
        if (man == 0)
            return plinth_bits_to_f32(sign);
        /* subnormal man * 2^-24: normalise the mantissa */
        exp = 113;
        while (!(man & 0x400u)) {
            man <<= 1;
            exp--;
        }
        return plinth_bits_to_f32(sign | (exp << 23) | ((man & 0x3ffu) << 13));
    }
    if (exp == 31)
        return plinth_bits_to_f32(sign | 0x7f800000u | (man << 13));
    return plinth_bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t plinth_f32_to_f16(float f)
{
    uint32_t u = plinth_f32_to_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t au = u & 0x7fffffffu;
    if (au > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u); /* NaN */
    if (au >= 0x477ff000u)                 /* rounds to >= 65520: infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (au < 0x38800000u) { /* below the smallest normal: subnormal or 0 */
        if (au < 0x33000000u) /* below half the smallest subnormal */
            return sign;
        uint32_t e = au >> 23, m = (au & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* 14..24: m * 2^(e-150) as a multiple of 2^-24 */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        q += rem > half || (rem == half && (q & 1u));
        return (uint16_t)(sign | q);
    }
    uint32_t r = au + 0xfffu + ((au >> 13) & 1u); /* nearest even at bit 13 */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

/*
 * Dequantisation of one block into f32, exactly as ggml's
 * dequantize_row_<type> (the same f32 operations in the same order: each
 * product is a statement of its own so no compiler fuses it into an FMA).
 * `blk` points at the block's first byte (any alignment); `out` receives
 * plinth_dtype_block_elems(type) values. The one definition for the host,
 * the plugins and the tools; not for hot loops (kernels vectorise their own
 * and must agree with these).
 */
static inline uint16_t plinth_block_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (uint16_t)(p[1] << 8)); /* little-endian */
}

static inline int plinth_block_i8(uint8_t b)
{
    return (int)b - (b & 0x80u ? 256 : 0);
}

static inline void plinth_dequant_q8_0(const void *blk, float out[32])
{
    const uint8_t *b = (const uint8_t *)blk;
    const float d = plinth_f16_to_f32(plinth_block_u16(b));
    for (int i = 0; i < 32; i++)
        out[i] = (float)plinth_block_i8(b[2 + i]) * d;
}

static inline void plinth_dequant_q4_0(const void *blk, float out[32])
{
    const uint8_t *b = (const uint8_t *)blk;
    const float d = plinth_f16_to_f32(plinth_block_u16(b));
    for (int i = 0; i < 16; i++) {
        out[i] = (float)((int)(b[2 + i] & 0x0fu) - 8) * d;
        out[i + 16] = (float)((int)(b[2 + i] >> 4) - 8) * d;
    }
}

/* q4_K's 6-bit scale and min of sub-block j (0..7) from its 12 bytes. */
static inline void plinth_q4_K_scale_min(const uint8_t *s, int j, int *scale, int *min)
{
    if (j < 4) {
        *scale = s[j] & 63;
        *min = s[j + 4] & 63;
    } else {
        *scale = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        *min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

static inline void plinth_dequant_q4_K(const void *blk, float out[256])
{
    const uint8_t *b = (const uint8_t *)blk;
    const float d = plinth_f16_to_f32(plinth_block_u16(b));
    const float dmin = plinth_f16_to_f32(plinth_block_u16(b + 2));
    const uint8_t *scales = b + 4, *q = b + 16;
    for (int j = 0; j < 8; j += 2) { /* 32 bytes: sub-block j low nibbles, j + 1 high */
        int sc, m;
        plinth_q4_K_scale_min(scales, j, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        plinth_q4_K_scale_min(scales, j + 1, &sc, &m);
        const float d2 = d * (float)sc, m2 = dmin * (float)m;
        for (int l = 0; l < 32; l++) {
            const float lo = d1 * (float)(q[l] & 0x0f);
            const float hi = d2 * (float)(q[l] >> 4);
            out[32 * j + l] = lo - m1;
            out[32 * j + 32 + l] = hi - m2;
        }
        q += 32;
    }
}

static inline void plinth_dequant_q6_K(const void *blk, float out[256])
{
    const uint8_t *b = (const uint8_t *)blk;
    const uint8_t *ql = b, *qh = b + 128, *sc = b + 192;
    const float d = plinth_f16_to_f32(plinth_block_u16(b + 208));
    for (int h = 0; h < 2; h++) { /* two halves of 128: 64 ql bytes, 32 qh, 8 scales */
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            const float s1 = d * (float)plinth_block_i8(sc[is + 0]);
            const float s2 = d * (float)plinth_block_i8(sc[is + 2]);
            const float s3 = d * (float)plinth_block_i8(sc[is + 4]);
            const float s4 = d * (float)plinth_block_i8(sc[is + 6]);
            out[128 * h + l] = s1 * (float)q1;
            out[128 * h + l + 32] = s2 * (float)q2;
            out[128 * h + l + 64] = s3 * (float)q3;
            out[128 * h + l + 96] = s4 * (float)q4;
        }
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

/* One block of any block dtype into `out` (plinth_dtype_block_elems
 * values); false, writing nothing, for a dtype that is not a block dtype. */
static inline bool plinth_dequant_block(int32_t dtype, const void *blk, float *out)
{
    switch (dtype) {
    case PLINTH_Q8_0: plinth_dequant_q8_0(blk, out); return true;
    case PLINTH_Q4_0: plinth_dequant_q4_0(blk, out); return true;
    case PLINTH_Q4_K: plinth_dequant_q4_K(blk, out); return true;
    case PLINTH_Q6_K: plinth_dequant_q6_K(blk, out); return true;
    default: return false;
    }
}

/*
 * The op list, once. X(ENUM, name, min_inputs, max_inputs)
 *
 * Shapes below are written outermost first; "[..., N]" means any leading
 * dims. Unless said otherwise the output dtype is the first input's dtype.
 * "float" means f32, f16 or bf16. Block dtypes (q8_0, q4_0, q4_K, q6_K) are
 * taken by three ops only, as weights, and no op outputs one: matmul's b,
 * get_rows' table and cast's x. Their innermost dim is a whole number of
 * blocks.
 *
 *  add sub mul div  a ∘ b with numpy broadcasting; a, b same dtype. On i32:
 *                   add/sub/mul wrap (two's complement), div truncates
 *                   toward zero, x/0 = 0.
 *  scale            x * attrs.scale.s (float dtypes)
 *  gelu_tanh        0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))
 *  silu             x / (1 + e^-x)
 *  rms_norm         x [..., N], optional w [N] (any float dtype):
 *                   x / sqrt(mean(x²) + eps) (* w)
 *  softmax          x [..., N], optional float mask broadcastable to x (added
 *                   after scaling): softmax(x * scale + mask) over the last
 *                   dim; a row that is entirely -inf gives zeros
 *  matmul           a [..., M, K] x b [..., K, N] (or b [..., N, K] with
 *                   transpose_b) -> [..., M, N]; leading dims broadcast;
 *                   a float, b any float or block dtype; out dtype = a's
 *                   dtype. A block b is blocked along its inner dim: K with
 *                   transpose_b (a weight [N, K], what models use), N
 *                   without; its values are the dequantised ones
 *                   (plinth_dequant_block)
 *  get_rows         table [R, C] (any dtype), idx i32 [N] (or [..., N], up
 *                   to rank 3) -> [N, C] ([..., N, C]) in attrs.get_rows.dtype
 *                   (a float table may widen to f32; a block table gives
 *                   f32: its rows dequantised)
 *  set_rows         out = a state tensor [R, C]; in: src [N, C] (any float
 *                   dtype), idx i32 [N]: out[idx[i]] = src[i]; other rows
 *                   untouched (the one op exempt from "writes every
 *                   element", rule 6); a repeated index: the last write wins
 *  rope             x [T, H, D] or [B, T, H, D], pos i32 [T]: NeoX
 *                   rotate-half over the first n_dims of D with
 *                   theta_i = pos * base^(-2i/n_dims)
 *  attention        q [T, Hq, D], k [S, Hkv, D], v [S, Hkv, D], pos i32 [T],
 *                   kv_len i32 [1] -> [T, Hq, D]. Query t attends to key j
 *                   when j < kv_len, j <= pos[t] (causal) and, if window > 0,
 *                   pos[t] - j < window. Hq is a multiple of Hkv (GQA). A
 *                   query with no visible key gives zeros.
 *  cast             x -> attrs.cast.dtype (round to nearest even; float ->
 *                   i32 saturates, NaN -> 0). x may be a block dtype, cast
 *                   to a float dtype: dequantised (plinth_dequant_block),
 *                   then rounded once to f16/bf16. Casting a weight at
 *                   build time is how a model gives a backend without block
 *                   kernels plain weights (folded once at load)
 *  copy             x -> same values, contiguous; out may have another shape
 *                   with as many elements (they follow in row-major order)
 *  concat           a, b equal except on attrs.concat.axis -> joined
 *  argmax           x [..., N] float -> i32 [...] (first maximum; NaN counts
 *                   as the maximum, as in numpy)
 *  rope_factors     x [T, H, D] or [B, T, H, D], pos i32 [T], factors f32
 *                   [n_dims/2]; attrs.rope: rope with each frequency divided
 *                   by its factor, theta_i = pos * base^(-2i/n_dims) /
 *                   factors[i] (Llama 3's rope_scaling "llama3"; factors
 *                   are finite and non-zero)
 */
#define PLINTH_OP_LIST(X)                \
    X(ADD,       add,       2, 2)        \
    X(SUB,       sub,       2, 2)        \
    X(MUL,       mul,       2, 2)        \
    X(DIV,       div,       2, 2)        \
    X(SCALE,     scale,     1, 1)        \
    X(GELU_TANH, gelu_tanh, 1, 1)        \
    X(SILU,      silu,      1, 1)        \
    X(RMS_NORM,  rms_norm,  1, 2)        \
    X(SOFTMAX,   softmax,   1, 2)        \
    X(MATMUL,    matmul,    2, 2)        \
    X(GET_ROWS,  get_rows,  2, 2)        \
    X(SET_ROWS,  set_rows,  2, 2)        \
    X(ROPE,      rope,      2, 2)        \
    X(ATTENTION, attention, 5, 5)        \
    X(CAST,      cast,      1, 1)        \
    X(COPY,      copy,      1, 1)        \
    X(CONCAT,    concat,    2, 2)        \
    X(ARGMAX,    argmax,    1, 1)        \
    X(ROPE_FACTORS, rope_factors, 3, 3)

typedef enum plinth_op {
#define PLINTH_X_ENUM(E, n, lo, hi) PLINTH_OP_##E,
    PLINTH_OP_LIST(PLINTH_X_ENUM)
#undef PLINTH_X_ENUM
    PLINTH_OP_COUNT
} plinth_op;

/* The one table of op names and arities, for the host and every plugin:
 * "add", ..., or "?" for a number that is not an op. */
static inline const char *plinth_op_label(uint32_t op)
{
    static const char *const names[PLINTH_OP_COUNT] = {
#define PLINTH_X_NAME(E, n, lo, hi) #n,
        PLINTH_OP_LIST(PLINTH_X_NAME)
#undef PLINTH_X_NAME
    };
    return op < PLINTH_OP_COUNT ? names[op] : "?";
}

/* Inputs op takes at least / at most (0 for a number that is not an op). */
static inline uint32_t plinth_op_min_inputs(uint32_t op)
{
    static const uint8_t lo[PLINTH_OP_COUNT] = {
#define PLINTH_X_LO(E, n, l, h) l,
        PLINTH_OP_LIST(PLINTH_X_LO)
#undef PLINTH_X_LO
    };
    return op < PLINTH_OP_COUNT ? lo[op] : 0u;
}

static inline uint32_t plinth_op_max_inputs(uint32_t op)
{
    static const uint8_t hi[PLINTH_OP_COUNT] = {
#define PLINTH_X_HI(E, n, l, h) h,
        PLINTH_OP_LIST(PLINTH_X_HI)
#undef PLINTH_X_HI
    };
    return op < PLINTH_OP_COUNT ? hi[op] : 0u;
}

/* Maximum number of inputs any op takes. */
#define PLINTH_MAX_INPUTS 5

/* Per-op attributes (frozen). The executor passes a pointer to the member of
 * the union that belongs to the op (all members start at offset 0). */
typedef struct plinth_attr_scale     { float s; } plinth_attr_scale;
typedef struct plinth_attr_rms_norm  { float eps; } plinth_attr_rms_norm;
typedef struct plinth_attr_softmax   { float scale; } plinth_attr_softmax;
typedef struct plinth_attr_matmul {
    int32_t transpose_b;
    /* Appended (issue 17), by the attr growth rule: non-zero only for a
     * plugin whose table has `pack` (section 4), when in[1] is a packed
     * view, i.e. the plugin's own layout of a persistent weight. 0: v1. */
    int32_t b_packed;
} plinth_attr_matmul;
typedef struct plinth_attr_get_rows {
    int32_t dtype;
    /* Appended (issue 17), as matmul's b_packed: non-zero when in[0] (the
     * table) is a packed view of the plugin's own layout. 0: v1. */
    int32_t table_packed;
} plinth_attr_get_rows;
typedef struct plinth_attr_rope      { float base; int32_t n_dims; } plinth_attr_rope;
typedef struct plinth_attr_attention { float scale; int32_t window; } plinth_attr_attention;
typedef struct plinth_attr_cast      { int32_t dtype; } plinth_attr_cast;
typedef struct plinth_attr_concat    { int32_t axis; } plinth_attr_concat;

typedef union plinth_attrs {
    plinth_attr_scale scale;
    plinth_attr_rms_norm rms_norm;
    plinth_attr_softmax softmax;
    plinth_attr_matmul matmul;
    plinth_attr_get_rows get_rows;
    plinth_attr_rope rope;
    plinth_attr_attention attention;
    plinth_attr_cast cast;
    plinth_attr_concat concat;
    uint8_t reserved[64]; /* fixes the size: members may be appended */
} plinth_attrs;

/* ---------------------------------------------------------------- 3 ---- */

/* A buffer as the plugin's allocator hands it out (frozen). */
typedef struct plinth_buffer {
    void *handle;  /* the plugin's own object; opaque to the host          */
    uint8_t *host; /* host address of byte 0 if the host may read/write the
                      buffer directly, else NULL (e.g. device memory)       */
    uint64_t size; /* usable bytes, >= the size asked for                  */
} plinth_buffer;

/*
 * A view (frozen): where a tensor's elements are and how to step through
 * them.
 *
 * Always 4 dims, outermost first: shape[3] is the innermost dim. A tensor of
 * rank r < 4 has its leading 4 - r dims set to 1; ndim keeps r, which
 * matters where an attr names a logical axis (concat: the 4-D axis is
 * axis + 4 - ndim). Strides are in bytes and may be anything a reshape, permute,
 * slice or broadcast produces (0 for a broadcast dim). A view never extends
 * outside the tensor it belongs to.
 *
 *   element (i0,i1,i2,i3) lives at  data + i0*stride[0] + ... + i3*stride[3]
 *
 * Block dtypes: shape still counts elements, and shape[3] is a whole
 * number of blocks stored one after the other; stride[3] is the block's
 * byte size (plinth_dtype_block_bytes: the step from one block to the
 * next) and the outer strides are bytes as always, so
 *
 *   element (i0,i1,i2,i3) is element i3 % E of the block at
 *       data + i0*stride[0] + i1*stride[1] + i2*stride[2] + (i3 / E)*stride[3]
 *   with E = plinth_dtype_block_elems(dtype)
 *
 * and a contiguous [R, C] tensor has stride[2] = plinth_dtype_row_bytes(dtype,
 * C). Only whole rows are ever viewed (the graph refuses a slice, permute or
 * reshape that would cut or move the inner dim), so a row's bytes are
 * always contiguous. A block view ends at the last byte of its last block.
 *
 * `data` is buffer.host + offset (NULL when the buffer is not host-visible).
 * `base` is the offset of the tensor's own 256-aligned start in the buffer;
 * `offset - base` is where this view begins inside that tensor. Backends that
 * bind buffers (Vulkan) bind at `base` and pass `offset - base` as an
 * argument; host backends just use `data`.
 */
typedef struct plinth_view {
    const plinth_buffer *buffer;
    uint8_t *data;
    uint64_t base;
    uint64_t offset;
    int32_t dtype;
    int32_t ndim;
    int64_t shape[PLINTH_MAX_DIMS];
    int64_t stride[PLINTH_MAX_DIMS];
} plinth_view;

/* ---------------------------------------------------------------- 4 ---- */

enum plinth_log_level {
    PLINTH_LOG_ERROR = 0,
    PLINTH_LOG_WARN = 1,
    PLINTH_LOG_INFO = 2,
    PLINTH_LOG_DEBUG = 3
};

/*
 * Services the host gives one plugin instance (sized). There is one per
 * instance, i.e. per host context that uses the plugin: `user` identifies
 * that context, so a log line reaches the right one from whatever thread the
 * plugin calls from. Valid from instance_create until instance_destroy
 * returns; keep the pointer. A plugin never prints and never calls into the
 * core except through these.
 */
typedef struct plinth_host {
    uint32_t struct_size;
    uint32_t abi_version;
    void *user;
    /* Thread-safe; `message` is one line without a trailing newline. */
    void (*log)(void *user, int level, const char *message);
    /* The allocator for the plugin's bookkeeping (instances, devices,
     * programs, scratch): everything but tensor buffers. The host's own
     * allocator stands behind it, so a host that injects allocation failures
     * reaches the plugin too. malloc may return NULL: fail the call with
     * PLINTH_ERR_NO_MEMORY. realloc(user, NULL, n) is malloc; free(user,
     * NULL) does nothing. Blocks are aligned for any standard type.
     * Thread-safe. */
    void *(*malloc)(void *user, size_t size);
    void *(*realloc)(void *user, void *ptr, size_t size);
    void (*free)(void *user, void *ptr);
} plinth_host;

enum plinth_device_type {
    PLINTH_DEVICE_CPU = 0,
    PLINTH_DEVICE_GPU_DISCRETE = 1,
    PLINTH_DEVICE_GPU_INTEGRATED = 2,
    PLINTH_DEVICE_GPU_VIRTUAL = 3,
    PLINTH_DEVICE_SOFTWARE = 4, /* e.g. a software Vulkan rasteriser */
    PLINTH_DEVICE_OTHER = 5
};

/* Filled by device_info (sized: the host sets struct_size to its sizeof;
 * the plugin writes only fields that fit). Strings are NUL-terminated; the
 * host terminates them again in case a plugin did not. */
typedef struct plinth_device_info {
    uint32_t struct_size;
    char name[128];
    char description[256]; /* one line: driver, versions            */
    int32_t type;           /* enum plinth_device_type              */
    uint64_t memory_bytes;  /* memory usable for buffers, 0 unknown */
    char features[256];     /* one line, e.g. "avx512 bf16 threads=2" */
    /* Appended (issue 17; "" when the plugin does not fill it: it has no
     * fast precision, so fast computes as exact). One line: from
     * device_info, what PLINTH_PRECISION_FAST would use on this device
     * ("fast: bf16 dot products ... (probe: 2.0x f32)", "fast: as exact
     * ..."); from device_describe, what this open device uses. */
    char precision[128];
} plinth_device_info;

/*
 * Arithmetic precision a device is opened with (plinth_device_options.
 * precision). EXACT, the default: the arithmetic of ref up to the order of
 * f32 sums (f32 products of the weights' values as stored). FAST: the
 * plugin may use reduced-precision arithmetic (bf16 dot products, say)
 * where it is faster on this device, within an error bound its README
 * states; where nothing is faster, FAST computes exactly as EXACT. A value
 * a plugin does not know reads as EXACT. A plugin's own config keys may
 * refine it (an explicit key wins).
 */
enum plinth_precision {
    PLINTH_PRECISION_EXACT = 0,
    PLINTH_PRECISION_FAST = 1,
    PLINTH_PRECISION_COUNT
};

/* Given to device_open (sized). */
typedef struct plinth_device_options {
    uint32_t struct_size;
    uint32_t n_threads;  /* 0 = the plugin's default                */
    const char *config;  /* "key=value,key=value" backend specific,
                            NULL or "" for defaults                 */
    /* Appended (issue 17): enum plinth_precision; 0 (exact) when the
     * struct does not reach it. */
    int32_t precision;
} plinth_device_options;

/* One instruction of a compiled program, as handed to `prepare`. Travels in
 * an array with its element size (see prepare); read it with
 * plinth_instruction_at. */
typedef struct plinth_instruction {
    uint32_t op;
    uint32_t n_in;
    const plinth_view *out;
    const plinth_view *in; /* n_in views                            */
    const void *attrs;     /* the op's attrs member, never NULL     */
} plinth_instruction;

/* Element i of an instruction array whose elements are `size` bytes. */
static inline const plinth_instruction *plinth_instruction_at(const plinth_instruction *code,
                                                              size_t size, uint32_t i)
{
    return (const plinth_instruction *)(const void *)((const char *)code + (size_t)i * size);
}

typedef struct plinth_instance plinth_instance; /* plugin-defined */
typedef struct plinth_device plinth_device;     /* plugin-defined */

/* An out-kernel: compute the op from `in` into `out`, writing nothing
 * outside `out`. Returns a plinth_status; on failure the message is read
 * with device_error(dev). */
typedef int32_t (*plinth_kernel_fn)(plinth_device *dev, const plinth_view *out,
                                    const plinth_view *in, uint32_t n_in,
                                    const void *attrs);

/*
 * The vtable (sized). Every slot receives the object it acts on: an instance
 * (one per host context that loads the plugin) or a device opened from one.
 * Nothing needs process-wide or thread-local state in the plugin: errors
 * live on the instance (before a device exists) or on the device.
 *
 * Threads: calls on one instance and the devices opened from it come from
 * one thread at a time (the host serialises them). Different instances may
 * be used from different threads at once, so state shared between instances
 * (a global device list) must be thread-safe.
 *
 * Mandatory in v1: everything from instance_create to kernels. Optional (may be
 * NULL): unavailable_reason, prepare/execute/release (all three or none),
 * synchronize, device_caps, device_describe, pack_size/pack (both or none).
 */
typedef struct plinth_backend_api {
    uint32_t struct_size;
    uint32_t abi_version; /* the version this table follows */
    const char *name;     /* short, lower case, [a-z0-9_]: "ref", "cpu"; the
                             file is plinth-<name>.so */
    const char *version;  /* the plugin's own version string */
    const char *description;

    /* Instances. `host` outlives the instance. Fails only for lack of memory
     * (PLINTH_ERR_NO_MEMORY) or a host it cannot use (PLINTH_ERR_PLUGIN),
     * and may say why through host->log first. */
    int32_t (*instance_create)(const plinth_host *host, plinth_instance **out);
    /* Called after every device of the instance was closed. */
    void (*instance_destroy)(plinth_instance *inst);
    /* The message of the instance's last failed call (device_info,
     * device_open); "" if none. Valid until the next call on the instance. */
    const char *(*instance_error)(plinth_instance *inst);

    /* Devices. `device_count` may return 0 (e.g. no Vulkan driver); then
     * `unavailable_reason` says why in one line (may be NULL). */
    uint32_t (*device_count)(plinth_instance *inst);
    int32_t (*device_info)(plinth_instance *inst, uint32_t index, plinth_device_info *out);
    int32_t (*device_open)(plinth_instance *inst, uint32_t index,
                           const plinth_device_options *opts, plinth_device **out);
    void (*device_close)(plinth_device *dev);
    /* The message of the device's last failed call; "" if none. Valid until
     * the next call on the device. */
    const char *(*device_error)(plinth_device *dev);

    /* Allocator: `out->host`, when not NULL, must be a multiple of
     * PLINTH_ALIGNMENT; size 0 is allowed and yields a valid buffer. */
    int32_t (*buffer_alloc)(plinth_device *dev, uint64_t size, plinth_buffer *out);
    void (*buffer_free)(plinth_device *dev, plinth_buffer *buf);
    int32_t (*upload)(plinth_device *dev, const plinth_buffer *dst, uint64_t offset,
                      const void *src, uint64_t size);
    int32_t (*download)(plinth_device *dev, const plinth_buffer *src, uint64_t offset,
                        void *dst, uint64_t size);

    /* May this device run `op` on these views? Views carry shapes, dtypes
     * and strides (their buffers and data are NULL at this point). */
    bool (*supports)(plinth_device *dev, uint32_t op, const plinth_view *out,
                     const plinth_view *in, uint32_t n_in, const void *attrs);

    /* Out-kernels indexed by plinth_op; ops >= op_count or NULL entries are
     * unsupported. */
    uint32_t op_count;
    const plinth_kernel_fn *kernels;

    /* Optional: why device_count() is 0, one line (NULL = not said). */
    const char *(*unavailable_reason)(plinth_instance *inst);

    /* Optional whole-program path (all three or none): `prepare` sees the
     * final instruction list once, after every buffer exists, as `n`
     * elements of `instruction_size` bytes (plinth_instruction_at); read
     * only the fields that fit both that size and your sizeof. `execute`
     * replays it. Views and attrs stay valid until `release`. */
    int32_t (*prepare)(plinth_device *dev, const plinth_instruction *code, uint32_t n,
                       size_t instruction_size, void **out_program);
    int32_t (*execute)(plinth_device *dev, void *program);
    void (*release)(plinth_device *dev, void *program);

    /* Optional: wait until all submitted work is done (NULL = synchronous). */
    int32_t (*synchronize)(plinth_device *dev);

    /* Appended after v1's first table (read only when struct_size reaches
     * it; absent means 0).
     *
     * Optional: what the device can do beyond the mandatory slots, as
     * PLINTH_CAP_* bits (NULL = none). Asked once, when the device opens. */
    uint64_t (*device_caps)(plinth_device *dev);

    /* Appended (issue 17; absent means NULL). Optional: device_info of an
     * open device, as its options made it (the precision it computes with,
     * and what of it ran so far), filled by the same sized-struct rules.
     * NULL: the host asks device_info(instance, index) instead. */
    int32_t (*device_describe)(plinth_device *dev, plinth_device_info *out);

    /* Appended (issue 17; absent means NULL). Optional, both or neither:
     * weights in the plugin's own layout (packed panels, widened,
     * interleaved), made once at load instead of on every call.
     *
     * pack_size: asked at compile time, with views whose buffers are NULL
     * (as supports()), for each instruction on this device whose operand
     * `input` is a whole persistent tensor (a param, a constant or a folded
     * value; contiguous, as stored): the bytes of the plugin's layout of
     * it for this use, or 0 to read it plain (the default). Matmul's b
     * (input 1) and get_rows' table (input 0) are asked in this version.
     * The answer may depend on the instruction (`out` gives M: a plugin
     * may say 0 for M = 1 alone), but the host packs a tensor on a device
     * only when every matmul it asked about the tensor answered the same
     * non-zero size, and every get_rows that did not answer 0 answered
     * that size too; then every one of them gets the packed view, and the
     * plugin's kernels must read it for every case they accepted. A
     * get_rows that answered 0 keeps reading the plain tensor (below): a
     * plugin without get_rows on its layout still packs a tied
     * embedding's matmul, beside the plain copy.
     *
     * pack: at load, once the plain value is final (params loaded, folds
     * run; again after plinth_model_set_param changes it), writes the
     * layout of `plain` into `packed` (a view of pack_size bytes: dtype
     * and shape of the plain tensor, every stride 0, 256-aligned in the
     * device's persistent pool). From then on the instructions above
     * receive that view as in[input] (strides 0: a kernel that reads it as
     * plain reads element 0 over and over, which conformance catches), with
     * plinth_attr_matmul.b_packed = 1 (get_rows:
     * plinth_attr_get_rows.table_packed = 1). `plain` is either the tensor in the
     * same pool, or (a param whose only readers are those instructions,
     * on a device that declares PLINTH_CAP_HOST_MEMORY) a host copy of it
     * in no buffer (buffer NULL, offset 0, data set) while `packed` is the
     * tensor's own range: read plain->data, never plain's buffer. A device
     * that declares PLINTH_CAP_PACK_IN_PLACE gets no copy: `plain` is the
     * start of `packed`'s own range (below).
     *
     * Other readers of the tensor (a get_rows that answered 0, a reader on
     * another backend, a fold) keep reading it plain: the host keeps the plain tensor beside its packed twin (folds
     * and set_param write it; the twin is packed from it again), and the
     * twin's bytes count in the device's persistent pool
     * (core/model_pack.c). */
    uint64_t (*pack_size)(plinth_device *dev, uint32_t op, uint32_t input,
                          const plinth_view *out, const plinth_view *in, uint32_t n_in,
                          const void *attrs);
    int32_t (*pack)(plinth_device *dev, uint32_t op, uint32_t input, const plinth_view *plain,
                    const plinth_view *packed);
} plinth_backend_api;

/*
 * Device capabilities (device_caps):
 *
 * PLINTH_CAP_HOST_MEMORY  Every buffer the device allocates is ordinary host
 *     memory (`plinth_buffer.host` is its address, never NULL), and its
 *     kernels (and prepare) read and write any view through `view.data`
 *     alone, whoever allocated the buffer behind it. When a program spans
 *     two backends that both declare it, a tensor made on one is read by the
 *     other in place: no transfer is planned (rule 15).
 */
#define PLINTH_CAP_HOST_MEMORY ((uint64_t)1 << 0)

/*
 * PLINTH_CAP_PACK_IN_PLACE  (issue 17) With PLINTH_CAP_HOST_MEMORY and
 *     pack: where the host packs a param in place (see pack), it passes
 *     `plain` as the tensor's own bytes in the pool, at the start of
 *     `packed`'s range (plain.data == packed.data, plain.buffer the pool),
 *     instead of a host copy of them: pack() must read every plain byte it
 *     needs before it writes over it. Without the bit the host copies the
 *     tensor first, a transient host allocation of its size (for Gemma's
 *     tied embedding, 60% of the 270M's weights, at load).
 */
#define PLINTH_CAP_PACK_IN_PLACE ((uint64_t)1 << 1)

/* ---------------------------------------------------------------- 5 ---- */

/*
 * The one exported symbol:
 *
 *   const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version);
 *
 * Cheap, no side effects: the host may load a plugin only to list it.
 * Returns NULL when the plugin cannot serve `host_abi_version`; otherwise a
 * table (static, const) whose abi_version is <= host_abi_version.
 */
typedef const plinth_backend_api *(*plinth_plugin_entry_fn)(uint32_t host_abi_version);

#if defined(_WIN32)
#define PLINTH_PLUGIN_EXPORT __declspec(dllexport)
#else
#define PLINTH_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* ---------------------------------------------------------------- 6 ---- */

/*
 * A well-behaved plugin. Each rule: what it asks, what happens if it is
 * broken, and whether the host checks it.
 *
 *  1. Export exactly `plinth_plugin_entry`, built with hidden visibility,
 *     from a file named plinth-<name>.so whose table says `name`.
 *     Broken: the loader reports "entry symbol missing" (or the name
 *     mismatch) naming the file. Checked: yes.
 *  2. Return NULL for an ABI version you cannot serve; never return a table
 *     whose abi_version exceeds the host's. Broken: the plugin is refused
 *     with both versions in the message. Checked: yes.
 *  3. Set struct_size = sizeof(plinth_backend_api) as compiled, and fill
 *     every mandatory slot. Broken: refused naming the missing slot.
 *     Checked: yes.
 *  4. Allocator: every buffer's host address (when not NULL) is a multiple
 *     of PLINTH_ALIGNMENT and `size` >= the size asked for. Broken: the
 *     allocation is freed and refused, naming the plugin and the address.
 *     Checked: yes, on every buffer.
 *  5. `supports` is honest: if it says yes, the kernel runs that case.
 *     Broken: compile succeeds but the run fails (or the conformance suite
 *     reports the op). Checked: by conformance.
 *  6. A kernel writes only inside `out` (its shape and strides), and writes
 *     every element of it (set_rows: every indexed row). Broken: neighbouring tensors are corrupted, or
 *     stale values leak through. Checked: by conformance (guard bytes and
 *     NaN poisoning), not at run time.
 *  7. A kernel does not allocate, lock, or look anything up by name on the
 *     hot path; setup belongs in device_open or prepare. Broken: slow.
 *     Checked: by benchmarks.
 *  8. Never print, exit or abort for anything a caller can cause: return a
 *     status and keep the message for instance_error / device_error.
 *     Broken: the host cannot report the error or recover. Checked: no.
 *  9. Results agree with `ref` within the conformance thresholds for every
 *     case `supports` accepts. Checked: by conformance.
 * 10. Do not touch inputs (`in` views are read-only) except where an op's
 *     output aliases its input: the planner reuses an input's memory for
 *     the output of add sub mul div scale gelu_tanh silu when that input
 *     dies there, so out may be the very same view as in[0] or in[1] for
 *     those ops. Kernels of those ops must read an element before writing
 *     the same element, and must not assume out and in are disjoint.
 *     Checked: by conformance.
 * 11. Keep errors on the object that failed: instance_error for
 *     device_info/device_open, device_error for everything on a device. No
 *     global or thread-local error state is needed or wanted. Broken: the
 *     host reports the status without a reason, or another context's
 *     reason. Checked: no.
 * 12. Log only through the instance's host, which routes each line to the
 *     context that owns the instance (any thread may log).
 *     Checked: no.
 * 13. Report at most PLINTH_MAX_DEVICES devices, and return from every call.
 *     Broken: refused (device count) naming the plugin. Checked: the count.
 * 14. Allocate bookkeeping through host->malloc/realloc/free and handle a
 *     NULL from them with PLINTH_ERR_NO_MEMORY, leaving no partial object
 *     behind. Broken: allocation failures crash or leak instead of
 *     reporting. Checked: by the allocation-failure tests of the shipped
 *     plugins.
 * 15. Declare PLINTH_CAP_HOST_MEMORY only if it holds: every buffer has a
 *     host address, and no kernel looks at `view.buffer->handle` (it may be
 *     another plugin's). Broken: a program spanning this backend and
 *     another host-memory one crashes or computes garbage where one reads
 *     the other's tensors. Checked: the host refuses a buffer without a
 *     host address from such a device; the rest by the placement tests.
 *
 * 16. Say no in supports() to any dtype you do not know: a number at or
 *     past the PLINTH_DTYPE_COUNT you were built with, or a block dtype
 *     (q8_0, q4_0, q4_K, q6_K: plinth_dtype_block_elems > 1) your kernel
 *     does not read. Dtypes are appended, so a case with a dtype newer than
 *     the plugin reaches supports(); plinth_dtype_bytes() is 0 for every
 *     block dtype, so a plugin that sizes views by it must refuse rather
 *     than compute with 0. Broken: the kernel reads blocks as elements and
 *     computes garbage, or reads outside the tensor. Checked: by
 *     conformance (its block-dtype cases), not at run time; the host
 *     gives each op to the first backend that says yes, so refusing is
 *     always safe.
 *
 * A plugin need not implement every op. The host compiles a program for an
 * ordered list of backends and gives each op to the first one whose
 * supports() says yes, with planned transfers between them: a backend with
 * one op runs whole models beside a fallback (plinth_model_create_multi).
 */

#ifdef __cplusplus
}
#endif
#endif /* PLINTH_PLUGIN_H */
