/*
 * test_ref_blocks.c — ref on block dtypes (q8_0, q4_0, q4_K, q6_K) against
 * blocks built here by hand, whose dequantised values are written down
 * from the layouts of ggml-common.h, not recomputed by plinth's own
 * dequantisers: cast, get_rows and matmul (with and without transpose_b),
 * and the host's rules for block views.
 *
 * Sections:
 *   1. harness: ref through the public one-op API, contiguous tensors
 *   2. the hand-built blocks and their values
 *   3. cast and get_rows: the values exactly
 *   4. matmul: sums over known values
 *   5. what the host and ref refuse
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plinth.h"

/* ---------------------------------------------------------------- 1 ---- */

static plinth_context *ctx;
static plinth_backend *ref;

typedef struct tensor {
    plinth_memory *mem;
    plinth_view v;
    uint64_t bytes;
} tensor;

static tensor pool[16];
static int n_pool;

static void setup(void)
{
    const char *path = getenv("PLINTH_TEST_REF");
    cr_assert(path && path[0], "PLINTH_TEST_REF is not set");
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    cr_assert_eq(plinth_backend_open(ctx, path, 0, NULL, &ref), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    n_pool = 0;
}

static void teardown(void)
{
    for (int i = 0; i < n_pool; i++)
        plinth_memory_destroy(pool[i].mem);
    plinth_backend_close(ref);
    plinth_context_destroy(ctx);
}

TestSuite(blocks, .init = setup, .fini = teardown);

/* A contiguous [rows, cols] tensor (a block dtype: rows of whole blocks,
 * stride[3] the block's bytes, as plinth_view says). */
static tensor *mk2(int32_t dtype, int64_t rows, int64_t cols)
{
    cr_assert(n_pool < 16);
    tensor *t = &pool[n_pool++];
    memset(t, 0, sizeof *t);
    const uint64_t row = plinth_dtype_row_bytes(dtype, cols);
    cr_assert(row > 0, "%lld is not whole blocks of %s", (long long)cols,
              plinth_dtype_label(dtype));
    t->bytes = row * (uint64_t)rows;
    cr_assert_eq(plinth_memory_create(ref, t->bytes, &t->mem), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    t->v.buffer = plinth_memory_buffer(t->mem);
    t->v.data = t->v.buffer->host;
    t->v.dtype = dtype;
    t->v.ndim = 2;
    t->v.shape[0] = t->v.shape[1] = 1;
    t->v.shape[2] = rows;
    t->v.shape[3] = cols;
    t->v.stride[3] = (int64_t)plinth_dtype_block_bytes(dtype);
    t->v.stride[2] = (int64_t)row;
    t->v.stride[1] = t->v.stride[0] = (int64_t)t->bytes;
    return t;
}

static void put(tensor *t, const void *src)
{
    cr_assert_eq(plinth_memory_upload(t->mem, 0, src, t->bytes), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
}

static void get(const tensor *t, void *dst)
{
    cr_assert_eq(plinth_memory_download(t->mem, 0, dst, t->bytes), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
}

static plinth_status call(uint32_t op, const plinth_view *out, const plinth_view *in,
                          uint32_t n_in, const plinth_attrs *attrs)
{
    return plinth_backend_run_op(ref, (plinth_op)op, out, in, n_in, attrs);
}

static void ok(uint32_t op, const plinth_view *out, const plinth_view *in, uint32_t n_in,
               const plinth_attrs *attrs)
{
    plinth_status st = call(op, out, in, n_in, attrs);
    cr_assert_eq(st, PLINTH_OK, "%s failed: %s %s", plinth_op_name((plinth_op)op),
                 plinth_status_name(st), plinth_context_error(ctx));
}

/* ---------------------------------------------------------------- 2 ---- */

/* f16 bit patterns of the scales used below. */
#define H_1 0x3C00u     /* 1.0   */
#define H_HALF 0x3800u  /* 0.5   */
#define H_QUART 0x3400u /* 0.25  */
#define H_2 0x4000u     /* 2.0   */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* q8_0: d, then 32 int8. qs[i] = i - 16: x[i] = d * (i - 16). */
static void q8_0_block(uint8_t b[34], uint16_t d)
{
    put_u16(b, d);
    for (int i = 0; i < 32; i++)
        b[2 + i] = (uint8_t)(int8_t)(i - 16);
}

/* q4_0: d, then 16 bytes: element i < 16 the low nibble of byte i, element
 * 16 + i its high nibble; x = d * (nibble - 8). Byte i = i | (15 - i) << 4:
 * x[i] = d * (i - 8), x[16 + i] = d * (7 - i). */
static void q4_0_block(uint8_t b[18], uint16_t d)
{
    put_u16(b, d);
    for (int i = 0; i < 16; i++)
        b[2 + i] = (uint8_t)(i | (15 - i) << 4);
}

/* q4_K: d = 1, dmin = 0.5, 12 scale bytes, 128 quant bytes. Sub-blocks
 * 0-3 keep scale and min in the low 6 bits of bytes 0-3 and 4-7; sub-block
 * j = 4-7 its low 4 bits in byte j + 4 (scale low nibble, min high nibble)
 * and its top 2 bits in the top bits of bytes j - 4 (scale) and j (min).
 * Here: scales 1 2 3 4 2 2 2 40, mins 0 1 2 3 3 3 3 17; sub-block 7's
 * scale 40 = 0b10'1000 and min 17 = 0b01'0001 use the top bits. */
static const int Q4K_SCALE[8] = {1, 2, 3, 4, 2, 2, 2, 40};
static const int Q4K_MIN[8] = {0, 1, 2, 3, 3, 3, 3, 17};

static void q4_K_block(uint8_t b[144])
{
    static const uint8_t scales[12] = {1, 2, 3, 0x84, 0, 1, 2, 0x43, 0x32, 0x32, 0x32, 0x18};
    put_u16(b, H_1);
    put_u16(b + 2, H_HALF);
    memcpy(b + 4, scales, 12);
    /* 32 bytes per pair of sub-blocks (2g low nibbles, 2g + 1 high): byte l
     * of a group is (l % 16) | (15 - l % 16) << 4. */
    for (int g = 0; g < 4; g++)
        for (int l = 0; l < 32; l++)
            b[16 + 32 * g + l] = (uint8_t)((l & 15) | (15 - (l & 15)) << 4);
}

/* Element n of the q4_K block: d * scale * q - dmin * min. */
static float q4_K_value(int n)
{
    const int j = n / 32, l = n % 32;
    const int q = j % 2 == 0 ? (l & 15) : 15 - (l & 15);
    return (float)(Q4K_SCALE[j] * q) - 0.5f * (float)Q4K_MIN[j];
}

/* q6_K: ql[128], qh[64], int8 scales[16], d. Element n = 128h + 32k + l
 * (h < 2, k < 4, l < 32) has its low 4 bits in ql[64h + 32(k % 2) + l]
 * (the low nibble for k < 2, the high one for k >= 2) and its top 2 bits
 * at bit 2k of qh[32h + l]; x = d * scales[n / 16] * (q - 32). Here
 * q(n) = n % 64, scales[s] = s - 8, d = 2. */
static void q6_K_block(uint8_t b[210])
{
    memset(b, 0, 210);
    uint8_t *ql = b, *qh = b + 128;
    for (int n = 0; n < 256; n++) {
        const int h = n / 128, k = (n % 128) / 32, l = n % 32, q = n % 64;
        ql[64 * h + 32 * (k % 2) + l] |= (uint8_t)((q & 15) << (k >= 2 ? 4 : 0));
        qh[32 * h + l] |= (uint8_t)((q >> 4) << (2 * k));
    }
    for (int s = 0; s < 16; s++)
        b[192 + s] = (uint8_t)(int8_t)(s - 8);
    put_u16(b + 208, H_2);
}

static float q6_K_value(int n)
{
    return 2.0f * (float)(n / 16 - 8) * (float)(n % 64 - 32);
}

/* ---------------------------------------------------------------- 3 ---- */

static void cast_to_f32(tensor *x, float *got)
{
    tensor *o = mk2(PLINTH_F32, x->v.shape[2], x->v.shape[3]);
    plinth_attrs a = {.cast = {.dtype = PLINTH_F32}};
    ok(PLINTH_OP_CAST, &o->v, &x->v, 1, &a);
    get(o, got);
}

Test(blocks, cast_q8_0_and_q4_0_to_f32)
{
    uint8_t b[2 * 34];
    q8_0_block(b, H_HALF);
    q8_0_block(b + 34, H_QUART);
    tensor *x = mk2(PLINTH_Q8_0, 1, 64);
    put(x, b);
    float got[64];
    cast_to_f32(x, got);
    for (int i = 0; i < 32; i++) {
        cr_expect_eq(got[i], 0.5f * (float)(i - 16), "q8_0 [%d] = %g", i, got[i]);
        cr_expect_eq(got[32 + i], 0.25f * (float)(i - 16), "q8_0 [%d] = %g", 32 + i, got[32 + i]);
    }
    uint8_t c[18];
    q4_0_block(c, H_QUART);
    tensor *y = mk2(PLINTH_Q4_0, 1, 32);
    put(y, c);
    cast_to_f32(y, got);
    for (int i = 0; i < 16; i++) {
        cr_expect_eq(got[i], 0.25f * (float)(i - 8), "q4_0 [%d] = %g", i, got[i]);
        cr_expect_eq(got[16 + i], 0.25f * (float)(7 - i), "q4_0 [%d] = %g", 16 + i, got[16 + i]);
    }
    cr_expect_eq(got[0], -2.0f); /* spot checks written out */
    cr_expect_eq(got[31], -2.0f);
    cr_expect_eq(got[16], 1.75f);
}

Test(blocks, cast_q4_K_and_q6_K_to_f32)
{
    uint8_t b[144], c[210];
    q4_K_block(b);
    q6_K_block(c);
    tensor *x = mk2(PLINTH_Q4_K, 1, 256), *y = mk2(PLINTH_Q6_K, 1, 256);
    put(x, b);
    put(y, c);
    float got[256];
    cast_to_f32(x, got);
    for (int n = 0; n < 256; n++)
        cr_expect_eq(got[n], q4_K_value(n), "q4_K [%d] = %g, want %g", n, got[n], q4_K_value(n));
    /* sub-block 7 (scale 40, min 17, both from the top bits): element 224
     * is the high nibble of its group's byte 0, 15 - 0 */
    cr_expect_eq(got[224], 591.5f);
    cr_expect_eq(got[0], 0.0f);
    cr_expect_eq(got[33], 2.0f * 14.0f - 0.5f);
    cast_to_f32(y, got);
    for (int n = 0; n < 256; n++)
        cr_expect_eq(got[n], q6_K_value(n), "q6_K [%d] = %g, want %g", n, got[n], q6_K_value(n));
    cr_expect_eq(got[0], 2.0f * -8.0f * -32.0f);    /* 512 */
    cr_expect_eq(got[255], 2.0f * 7.0f * 31.0f);    /* 434 */
    cr_expect_eq(got[130], 2.0f * 0.0f * -30.0f);   /* scale 0 */
}

/* The dequantised f32 value, rounded once to f16 and bf16. */
Test(blocks, cast_q6_K_to_f16_and_bf16_rounds_once)
{
    uint8_t c[210];
    q6_K_block(c);
    /* d = 1.0009765625 (f16 0x3C01): x = d * s * q needs more bits than bf16
     * has (and f16, for some products). */
    put_u16(c + 208, 0x3C01u);
    tensor *x = mk2(PLINTH_Q6_K, 1, 256);
    put(x, c);
    tensor *h = mk2(PLINTH_F16, 1, 256), *bh = mk2(PLINTH_BF16, 1, 256);
    plinth_attrs a16 = {.cast = {.dtype = PLINTH_F16}}, ab = {.cast = {.dtype = PLINTH_BF16}};
    ok(PLINTH_OP_CAST, &h->v, &x->v, 1, &a16);
    ok(PLINTH_OP_CAST, &bh->v, &x->v, 1, &ab);
    uint16_t g16[256], gb[256];
    get(h, g16);
    get(bh, gb);
    /* element 0: 1.0009765625 * -8 * -32 = 256.25: f16 has 10 fraction bits
     * (step 0.25 at 256): 0x5C01; bf16 has 7 (step 2 at 256): 256 = 0x4380. */
    cr_expect_eq(g16[0], 0x5C01u, "f16 %04x", g16[0]);
    cr_expect_eq(gb[0], 0x4380u, "bf16 %04x", gb[0]);
    /* element 255: 1.0009765625 * 7 * 31 = 217.2119140625: f16 step 0.125:
     * 217.25 = 0x5ACA; bf16 step 1: 217 = 0x4359. */
    cr_expect_eq(g16[255], 0x5ACAu, "f16 %04x", g16[255]);
    cr_expect_eq(gb[255], 0x4359u, "bf16 %04x", gb[255]);
}

/* get_rows of a q4_0 table: row r has d = 2^-r; rows come out dequantised
 * in f32. */
Test(blocks, get_rows_q4_0_gives_f32_rows)
{
    uint8_t b[3 * 2 * 18];
    const uint16_t ds[3] = {H_1, H_HALF, H_QUART};
    for (int r = 0; r < 3; r++) {
        q4_0_block(b + 36 * r, ds[r]);
        q4_0_block(b + 36 * r + 18, ds[r]);
    }
    tensor *t = mk2(PLINTH_Q4_0, 3, 64);
    put(t, b);
    tensor *idx = mk2(PLINTH_I32, 1, 2), *o = mk2(PLINTH_F32, 2, 64);
    idx->v.ndim = 1;
    o->v.ndim = 2;
    const int32_t ids[2] = {2, 0};
    put(idx, ids);
    plinth_view in[2] = {t->v, idx->v};
    plinth_attrs a = {.get_rows = {.dtype = PLINTH_F32}};
    ok(PLINTH_OP_GET_ROWS, &o->v, in, 2, &a);
    float got[128];
    get(o, got);
    for (int i = 0; i < 64; i++) {
        const float v = (float)(i % 32 < 16 ? i % 32 - 8 : 7 - (i % 32 - 16));
        cr_expect_eq(got[i], 0.25f * v, "row 2 [%d] = %g", i, got[i]);
        cr_expect_eq(got[64 + i], v, "row 0 [%d] = %g", i, got[64 + i]);
    }
}

/* ---------------------------------------------------------------- 4 ---- */

/* a [2, 256] x b [2, 256]^T, b = the q4_K block (row 1 with d = 2): row 0
 * of a is all ones (sums of the block), row 1 is 1 at element 224 and 2 at
 * element 33 (it picks two values). */
Test(blocks, matmul_transpose_b_q4_K)
{
    uint8_t b[2 * 144];
    q4_K_block(b);
    q4_K_block(b + 144);
    b[144 + 0] = 0x00; /* row 1: d = 2.0 (f16 0x4000) */
    b[144 + 1] = 0x40;
    tensor *w = mk2(PLINTH_Q4_K, 2, 256), *a = mk2(PLINTH_F32, 2, 256), *o = mk2(PLINTH_F32, 2, 2);
    put(w, b);
    float av[512] = {0};
    for (int i = 0; i < 256; i++)
        av[i] = 1.0f;
    av[256 + 224] = 1.0f;
    av[256 + 33] = 2.0f;
    put(a, av);
    plinth_view in[2] = {a->v, w->v};
    plinth_attrs at = {.matmul = {.transpose_b = 1}};
    ok(PLINTH_OP_MATMUL, &o->v, in, 2, &at);
    float got[4];
    get(o, got);
    /* Σ over the block of scale*q - 0.5*min: each sub-block's q sum to
     * 2 * (0 + ... + 15) = 240 over its 32 elements, and 32 mins: Σ scale
     * * 240 - 16 * Σ min = 56 * 240 - 16 * 32 = 12928. */
    cr_expect_eq(got[0], 12928.0f, "got %g", got[0]);
    /* b's row 1 (d = 2): 2 * 13440 - 512 = 26368 */
    cr_expect_eq(got[1], 26368.0f, "got %g", got[1]);
    /* picks: element 224 (591.5) + 2 * element 33 (27.5) = 646.5; with
     * d = 2: 1191.5 + 2 * 55.5 = 1302.5 */
    cr_expect_eq(got[2], 646.5f, "got %g", got[2]);
    cr_expect_eq(got[3], 1302.5f, "got %g", got[3]);
}

/* b [K, N] blocked along N (no transpose): out[i][n] = Σ_k a[i][k] b[k][n].
 * b = two rows of one q8_0 block, d = 0.5 and 0.25: out = a0 * 0.5 * (n -
 * 16) + a1 * 0.25 * (n - 16). */
Test(blocks, matmul_q8_0_blocked_along_n)
{
    uint8_t b[2 * 34];
    q8_0_block(b, H_HALF);
    q8_0_block(b + 34, H_QUART);
    tensor *w = mk2(PLINTH_Q8_0, 2, 32), *a = mk2(PLINTH_F32, 1, 2), *o = mk2(PLINTH_F32, 1, 32);
    put(w, b);
    const float av[2] = {3.0f, -4.0f}; /* 1.5 (n - 16) - (n - 16) = 0.5 (n - 16) */
    put(a, av);
    plinth_view in[2] = {a->v, w->v};
    plinth_attrs at = {.matmul = {.transpose_b = 0}};
    ok(PLINTH_OP_MATMUL, &o->v, in, 2, &at);
    float got[32];
    get(o, got);
    for (int n = 0; n < 32; n++)
        cr_expect_eq(got[n], 0.5f * (float)(n - 16), "[%d] = %g", n, got[n]);
}

/* f64 accumulation: 2^24 then 31 ones, which an f32 running sum drops
 * one by one (2^24 + 1 rounds back to 2^24). */
Test(blocks, matmul_q8_0_accumulates_in_f64)
{
    uint8_t b[34];
    put_u16(b, H_1);
    b[2] = 64;
    for (int i = 1; i < 32; i++)
        b[2 + i] = 1;
    tensor *w = mk2(PLINTH_Q8_0, 1, 32), *a = mk2(PLINTH_F32, 1, 32), *o = mk2(PLINTH_F32, 1, 1);
    put(w, b);
    float av[32];
    av[0] = 262144.0f; /* x 64 = 2^24 */
    for (int i = 1; i < 32; i++)
        av[i] = 1.0f;
    put(a, av);
    plinth_view in[2] = {a->v, w->v};
    plinth_attrs at = {.matmul = {.transpose_b = 1}};
    ok(PLINTH_OP_MATMUL, &o->v, in, 2, &at);
    float got;
    get(o, &got);
    /* 16777216 + 31 = 16777247, a tie between 16777246 and 16777248 in f32
     * (steps of 2): to even, 16777248. An f32 running sum gives 16777216. */
    cr_expect_eq(got, 16777248.0f, "got %.1f", got);
}

/* ---------------------------------------------------------------- 5 ---- */

Test(blocks, the_host_refuses_what_cuts_or_writes_a_block)
{
    tensor *w = mk2(PLINTH_Q8_0, 2, 64), *a = mk2(PLINTH_F32, 1, 64), *o = mk2(PLINTH_F32, 1, 2);
    plinth_attrs at = {.matmul = {.transpose_b = 1}};
    /* a block view whose inner stride is not the block's bytes */
    plinth_view bad = w->v;
    bad.stride[3] = 1;
    plinth_view in[2] = {a->v, bad};
    cr_expect_eq(call(PLINTH_OP_MATMUL, &o->v, in, 2, &at), PLINTH_ERR_INVALID);
    /* an inner dim that is not whole blocks */
    bad = w->v;
    bad.shape[3] = 48;
    in[1] = bad;
    plinth_view a48 = a->v;
    a48.shape[3] = 48;
    in[0] = a48;
    cr_expect_eq(call(PLINTH_OP_MATMUL, &o->v, in, 2, &at), PLINTH_ERR_INVALID);
    /* a block a (only b may be one) */
    in[0] = w->v;
    in[1] = w->v;
    tensor *o22 = mk2(PLINTH_F32, 2, 2);
    cr_expect_neq(call(PLINTH_OP_MATMUL, &o22->v, in, 2, &at), PLINTH_OK);
    /* casting to a block dtype, or from one to i32 */
    plinth_attrs to_q = {.cast = {.dtype = PLINTH_Q8_0}}, to_i = {.cast = {.dtype = PLINTH_I32}};
    tensor *f = mk2(PLINTH_F32, 2, 64), *i = mk2(PLINTH_I32, 2, 64), *q = mk2(PLINTH_Q8_0, 2, 64);
    cr_expect_neq(call(PLINTH_OP_CAST, &q->v, &f->v, 1, &to_q), PLINTH_OK);
    cr_expect_neq(call(PLINTH_OP_CAST, &i->v, &w->v, 1, &to_i), PLINTH_OK);
    /* a copy of a block tensor (nothing writes one) */
    plinth_attrs none = {0};
    cr_expect_neq(call(PLINTH_OP_COPY, &q->v, &w->v, 1, &none), PLINTH_OK);
    /* a block table read as anything but f32 */
    tensor *idx = mk2(PLINTH_I32, 1, 1), *h = mk2(PLINTH_F16, 1, 64);
    idx->v.ndim = 1;
    plinth_view gin[2] = {w->v, idx->v};
    plinth_attrs g16 = {.get_rows = {.dtype = PLINTH_F16}};
    cr_expect_neq(call(PLINTH_OP_GET_ROWS, &h->v, gin, 2, &g16), PLINTH_OK);
}
