/*
 * test_ref_values.c — the ref backend against hand-computed values.
 *
 * ref is the oracle every other backend is measured against, so it is
 * checked here against numbers worked out by hand (or quoted to 7 digits),
 * never against the same formula re-evaluated. ref is opened the way any
 * program opens a backend (plinth_backend_open on the plugin meson names in
 * PLINTH_TEST_REF); tensors live in plinth_memory and ops run through
 * plinth_backend_run_op with views built here, so the host's own checks
 * (shapes and dtypes by the graph builders' rules, views inside their
 * memory) come first and ref's kernels see only calls that pass them.
 *
 * Sections:
 *   1. harness: open, tensors (contiguous 4-D views of rank-r shapes), calls
 *   2. the plugin, its device, memory
 *   3. elementwise: binary (broadcast, every dtype), unary, cast, copy
 *   4. reductions: rms_norm, softmax, argmax
 *   5. matmul
 *   6. rows: get_rows, set_rows, concat
 *   7. rope, rope_factors and attention
 *   8. query_op and defensive checks
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
} tensor;

static tensor pool[32];
static int n_pool;

static const char *ref_path(void)
{
    const char *path = getenv("PLINTH_TEST_REF");
    cr_assert(path != NULL && path[0], "PLINTH_TEST_REF is not set");
    return path;
}

static void setup(void)
{
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    cr_assert_eq(plinth_backend_open(ctx, ref_path(), 0, NULL, &ref), PLINTH_OK, "%s",
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

TestSuite(ref, .init = setup, .fini = teardown);

static size_t esize(int32_t dtype)
{
    return dtype == PLINTH_F16 || dtype == PLINTH_BF16 ? 2 : 4;
}

/* A contiguous tensor of rank `ndim` in its own memory; its 4-D view pads
 * leading 1s. */
static tensor *mk(int32_t dtype, int ndim, const int64_t *shape)
{
    cr_assert(n_pool < 32);
    tensor *t = &pool[n_pool++];
    memset(t, 0, sizeof *t);
    int64_t s4[4] = {1, 1, 1, 1};
    for (int i = 0; i < ndim; i++)
        s4[4 - ndim + i] = shape[i];
    uint64_t n = (uint64_t)(s4[0] * s4[1] * s4[2] * s4[3]);
    cr_assert_eq(plinth_memory_create(ref, n * esize(dtype), &t->mem), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    t->v.buffer = plinth_memory_buffer(t->mem);
    t->v.data = t->v.buffer->host;
    t->v.dtype = dtype;
    t->v.ndim = ndim;
    int64_t stride = (int64_t)esize(dtype);
    for (int k = 3; k >= 0; k--) {
        t->v.shape[k] = s4[k];
        t->v.stride[k] = stride;
        stride *= s4[k];
    }
    return t;
}
#define MK(dtype, ...) \
    mk(PLINTH_##dtype, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static uint64_t nbytes(const tensor *t)
{
    return (uint64_t)(t->v.shape[0] * t->v.shape[1] * t->v.shape[2] * t->v.shape[3]) *
           esize(t->v.dtype);
}

static void put(tensor *t, const void *src)
{
    cr_assert_eq(plinth_memory_upload(t->mem, 0, src, nbytes(t)), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
}

static void get(const tensor *t, void *dst)
{
    cr_assert_eq(plinth_memory_download(t->mem, 0, dst, nbytes(t)), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
}

/* One op on ref (attrs NULL: all zero). */
static plinth_status call(uint32_t op, const plinth_view *out, const plinth_view *in,
                          uint32_t n_in, const plinth_attrs *attrs)
{
    static const plinth_attrs zero;
    return plinth_backend_run_op(ref, (plinth_op)op, out, in, n_in, attrs ? attrs : &zero);
}

/* Run op and require success, with the message on failure. */
static void ok(uint32_t op, const plinth_view *out, const plinth_view *in, uint32_t n_in,
               const plinth_attrs *attrs)
{
    plinth_status st = call(op, out, in, n_in, attrs);
    cr_assert_eq(st, PLINTH_OK, "op %u failed: %s %s", op, plinth_status_name(st),
                 plinth_context_error(ctx));
}

/* The context's message contains `want`. */
static void expect_error_has(const char *want)
{
    const char *m = plinth_context_error(ctx);
    cr_expect(strstr(m, want) != NULL, "message '%s' lacks '%s'", m, want);
}

static void expect_f32(const tensor *t, const float *want, int n, float tol)
{
    float got[64];
    cr_assert(n <= 64 && (uint64_t)n * 4 == nbytes(t));
    get(t, got);
    for (int i = 0; i < n; i++) {
        if (isnan(want[i]))
            cr_expect(isnan(got[i]), "[%d] got %.9g, want NaN", i, got[i]);
        else if (isinf(want[i]))
            cr_expect(got[i] == want[i], "[%d] got %.9g, want %.9g", i, got[i], want[i]);
        else
            cr_expect(fabsf(got[i] - want[i]) <= tol, "[%d] got %.9g, want %.9g", i, got[i],
                      want[i]);
    }
}

static void expect_u16(const tensor *t, const uint16_t *want, int n)
{
    uint16_t got[64];
    cr_assert(n <= 64 && (uint64_t)n * 2 == nbytes(t));
    get(t, got);
    for (int i = 0; i < n; i++)
        cr_expect_eq(got[i], want[i], "[%d] got 0x%04x, want 0x%04x", i, got[i], want[i]);
}

static void expect_i32(const tensor *t, const int32_t *want, int n)
{
    int32_t got[64];
    cr_assert(n <= 64 && (uint64_t)n * 4 == nbytes(t));
    get(t, got);
    for (int i = 0; i < n; i++)
        cr_expect_eq(got[i], want[i], "[%d] got %d, want %d", i, got[i], want[i]);
}

#define TOL 1e-6f

/* ---------------------------------------------------------------- 2 ---- */

/* The plugin as the host loaded it: named ref, a version, one device, a
 * kernel for every op. */
Test(ref, plugin_is_ref_with_every_kernel)
{
    uint32_t index = 0;
    cr_assert_eq(plinth_plugin_load(ctx, ref_path(), &index), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    plinth_plugin_report rep = {.struct_size = sizeof rep};
    cr_assert_eq(plinth_plugin_query(ctx, index, &rep), PLINTH_OK);
    cr_expect(rep.loaded, "%s", rep.error);
    cr_expect_str_eq(rep.name, "ref");
    cr_expect(rep.version[0] != '\0');
    cr_expect_str_eq(plinth_backend_name(ref), "ref");
    for (uint32_t op = 0; op < PLINTH_OP_COUNT; op++)
        cr_expect(plinth_backend_has_kernel(ref, (plinth_op)op), "op %s has no kernel",
                  plinth_op_name((plinth_op)op));
    cr_expect_not(plinth_backend_has_kernel(ref, PLINTH_OP_COUNT));
}

Test(ref, one_cpu_device_named_ref)
{
    uint32_t index = 0;
    cr_assert_eq(plinth_plugin_load(ctx, ref_path(), &index), PLINTH_OK);
    plinth_plugin_report rep = {.struct_size = sizeof rep};
    cr_assert_eq(plinth_plugin_query(ctx, index, &rep), PLINTH_OK);
    cr_expect_eq(rep.n_devices, 1u);
    plinth_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    cr_assert_eq(plinth_plugin_device_info(ctx, index, 0, &info), PLINTH_OK);
    cr_expect_str_eq(info.name, "ref");
    cr_expect_eq(info.type, PLINTH_DEVICE_CPU);
    plinth_device_info mine = {.struct_size = sizeof mine};
    cr_assert_eq(plinth_backend_device_info(ref, &mine), PLINTH_OK);
    cr_expect_str_eq(mine.name, "ref");
    cr_expect_neq(plinth_plugin_device_info(ctx, index, 1, &info), PLINTH_OK);
    plinth_backend *d2 = NULL;
    cr_expect_neq(plinth_backend_open(ctx, ref_path(), 1, NULL, &d2), PLINTH_OK);
    cr_expect_null(d2);
}

Test(ref, allocator_is_256_aligned)
{
    const uint64_t sizes[] = {0, 1, 255, 256, 257, 1000, 4096};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        plinth_memory *m = NULL;
        cr_assert_eq(plinth_memory_create(ref, sizes[i], &m), PLINTH_OK);
        const plinth_buffer *b = plinth_memory_buffer(m);
        cr_expect_not_null(b->host, "size %llu", (unsigned long long)sizes[i]);
        cr_expect_eq((uintptr_t)b->host % 256, 0u, "size %llu", (unsigned long long)sizes[i]);
        cr_expect_geq(b->size, sizes[i]);
        cr_expect_geq(plinth_memory_size(m), sizes[i]);
        plinth_memory_destroy(m);
    }
}

Test(ref, upload_download_check_bounds)
{
    tensor *t = MK(F32, 64); /* 256 bytes */
    plinth_memory *m = t->mem;
    const uint64_t size = plinth_memory_size(m);
    uint8_t data[300] = {7};
    cr_expect_eq(plinth_memory_upload(m, 0, data, 256), PLINTH_OK);
    cr_expect_eq(plinth_memory_upload(m, size - 56, data, 57), PLINTH_ERR_INVALID);
    expect_error_has("upload");
    cr_expect_eq(plinth_memory_upload(m, UINT64_MAX, data, 2), PLINTH_ERR_INVALID);
    cr_expect_eq(plinth_memory_download(m, 1, data, size), PLINTH_ERR_INVALID);
    cr_expect_eq(plinth_memory_download(m, size, data, 0), PLINTH_OK);
    uint8_t back[256];
    cr_expect_eq(plinth_memory_download(m, 0, back, 256), PLINTH_OK);
    cr_expect_eq(memcmp(back, data, 256), 0, "download gives back what was uploaded");
}

/* ---------------------------------------------------------------- 3 ---- */

Test(ref, add_f32_broadcasts_row)
{
    tensor *a = MK(F32, 2, 3), *b = MK(F32, 3), *o = MK(F32, 2, 3);
    put(a, (float[]){1, 2, 3, 4, 5, 6});
    put(b, (float[]){10, 20, 30});
    plinth_view in[2] = {a->v, b->v};
    ok(PLINTH_OP_ADD, &o->v, in, 2, NULL);
    expect_f32(o, (float[]){11, 22, 33, 14, 25, 36}, 6, 0);
}

Test(ref, sub_broadcasts_both_sides)
{
    tensor *a = MK(F32, 2, 1), *b = MK(F32, 1, 3), *o = MK(F32, 2, 3);
    put(a, (float[]){1, 2});
    put(b, (float[]){10, 20, 30});
    plinth_view in[2] = {a->v, b->v};
    ok(PLINTH_OP_SUB, &o->v, in, 2, NULL);
    expect_f32(o, (float[]){-9, -19, -29, -8, -18, -28}, 6, 0);
}

Test(ref, mul_f16_rounds_half_to_even)
{
    tensor *a = MK(F16, 4), *b = MK(F16, 4), *o = MK(F16, 4);
    /* 1, 2, 0.333251953125 (f16 of 1/3), -2  times  3, 0.5, 3, 2 */
    put(a, (uint16_t[]){0x3C00, 0x4000, 0x3555, 0xC000});
    put(b, (uint16_t[]){0x4200, 0x3800, 0x4200, 0x4000});
    plinth_view in[2] = {a->v, b->v};
    ok(PLINTH_OP_MUL, &o->v, in, 2, NULL);
    /* 3*0.333251953125 = 1 - 2^-12: a tie between 0x3BFF and 0x3C00 -> even. */
    expect_u16(o, (uint16_t[]){0x4200, 0x3C00, 0x3C00, 0xC400}, 4);
}

Test(ref, div_f32_follows_ieee)
{
    tensor *a = MK(F32, 5), *b = MK(F32, 5), *o = MK(F32, 5);
    put(a, (float[]){1, 1, 0, -1, 7});
    put(b, (float[]){4, 0, 0, 0, 2});
    plinth_view in[2] = {a->v, b->v};
    ok(PLINTH_OP_DIV, &o->v, in, 2, NULL);
    expect_f32(o, (float[]){0.25f, INFINITY, NAN, -INFINITY, 3.5f}, 5, 0);
}

Test(ref, i32_add_wraps_div_truncates)
{
    tensor *a = MK(I32, 4), *b = MK(I32, 4), *o = MK(I32, 4);
    put(a, (int32_t[]){INT32_MAX, 5, -7, INT32_MIN});
    put(b, (int32_t[]){1, -7, 2, -1});
    plinth_view in[2] = {a->v, b->v};
    ok(PLINTH_OP_ADD, &o->v, in, 2, NULL);
    expect_i32(o, (int32_t[]){INT32_MIN, -2, -5, INT32_MAX}, 4);
    put(a, (int32_t[]){7, -7, 5, INT32_MIN});
    put(b, (int32_t[]){2, 2, 0, -1});
    ok(PLINTH_OP_DIV, &o->v, in, 2, NULL);
    expect_i32(o, (int32_t[]){3, -3, 0, INT32_MIN}, 4);
}

Test(ref, add_bf16)
{
    tensor *a = MK(BF16, 2), *b = MK(BF16, 2), *o = MK(BF16, 2);
    put(a, (uint16_t[]){0x3F80, 0x3EAB}); /* 1, 0.333984375 */
    put(b, (uint16_t[]){0x4000, 0x3EAB}); /* 2, 0.333984375 */
    plinth_view in[2] = {a->v, b->v};
    ok(PLINTH_OP_ADD, &o->v, in, 2, NULL);
    expect_u16(o, (uint16_t[]){0x4040, 0x3F2B}, 2); /* 3, 0.66796875 */
}

Test(ref, add_reads_transposed_view)
{
    /* b holds [[1,2,3],[4,5,6]]; its transpose [3,2] is a permuted view. */
    tensor *a = MK(F32, 3, 2), *b = MK(F32, 2, 3), *o = MK(F32, 3, 2);
    put(a, (float[]){100, 200, 300, 400, 500, 600});
    put(b, (float[]){1, 2, 3, 4, 5, 6});
    plinth_view bt = b->v;
    bt.shape[2] = 3;
    bt.shape[3] = 2;
    bt.stride[2] = 4;
    bt.stride[3] = 12;
    plinth_view in[2] = {a->v, bt};
    ok(PLINTH_OP_ADD, &o->v, in, 2, NULL);
    expect_f32(o, (float[]){101, 204, 302, 405, 503, 606}, 6, 0);
}

Test(ref, writes_only_inside_strided_out)
{
    /* out is every other float of an 8-float buffer: the gaps are guards. */
    tensor *a = MK(F32, 4), *b = MK(F32, 4), *g = MK(F32, 8);
    put(a, (float[]){1, 2, 3, 4});
    put(b, (float[]){1, 1, 1, 1});
    put(g, (float[]){-1, -1, -1, -1, -1, -1, -1, -1});
    plinth_view o = g->v;
    o.shape[3] = 4;
    o.stride[3] = 8;
    plinth_view in[2] = {a->v, b->v};
    ok(PLINTH_OP_ADD, &o, in, 2, NULL);
    expect_f32(g, (float[]){2, -1, 3, -1, 4, -1, 5, -1}, 8, 0);
}

Test(ref, in_place_add_aliases_a)
{
    tensor *a = MK(F32, 3), *b = MK(F32, 3);
    put(a, (float[]){1, 2, 3});
    put(b, (float[]){0.5f, 0.5f, 0.5f});
    plinth_view in[2] = {a->v, b->v};
    ok(PLINTH_OP_ADD, &a->v, in, 2, NULL);
    expect_f32(a, (float[]){1.5f, 2.5f, 3.5f}, 3, 0);
}

Test(ref, scale_f32)
{
    tensor *x = MK(F32, 3), *o = MK(F32, 3);
    put(x, (float[]){1, -2, 0.5f});
    plinth_attrs s = {.scale = {.s = 3.0f}};
    ok(PLINTH_OP_SCALE, &o->v, &x->v, 1, &s);
    expect_f32(o, (float[]){3, -6, 1.5f}, 3, 0);
}

Test(ref, gelu_tanh_known_values)
{
    tensor *x = MK(F32, 5), *o = MK(F32, 5);
    put(x, (float[]){1, -1, 2, 0.5f, 0});
    ok(PLINTH_OP_GELU_TANH, &o->v, &x->v, 1, NULL);
    expect_f32(o, (float[]){0.8411920f, -0.1588080f, 1.9545977f, 0.3457140f, 0}, 5, TOL);
}

Test(ref, gelu_tanh_f16_and_bf16)
{
    tensor *x = MK(F16, 1), *o = MK(F16, 1);
    put(x, (uint16_t[]){0x3C00});
    ok(PLINTH_OP_GELU_TANH, &o->v, &x->v, 1, NULL);
    expect_u16(o, (uint16_t[]){0x3ABB}, 1); /* 0.8411920 in f16 */
    tensor *xb = MK(BF16, 1), *ob = MK(BF16, 1);
    put(xb, (uint16_t[]){0x3F80});
    ok(PLINTH_OP_GELU_TANH, &ob->v, &xb->v, 1, NULL);
    expect_u16(ob, (uint16_t[]){0x3F57}, 1); /* 0.8411920 in bf16 */
}

Test(ref, silu_known_values)
{
    tensor *x = MK(F32, 4), *o = MK(F32, 4);
    put(x, (float[]){1, -2, 3, 0});
    ok(PLINTH_OP_SILU, &o->v, &x->v, 1, NULL);
    expect_f32(o, (float[]){0.7310586f, -0.2384058f, 2.8577224f, 0}, 4, TOL);
    tensor *h = MK(F16, 1), *ho = MK(F16, 1);
    put(h, (uint16_t[]){0x3C00});
    ok(PLINTH_OP_SILU, &ho->v, &h->v, 1, NULL);
    expect_u16(ho, (uint16_t[]){0x39D9}, 1); /* 0.7310586 in f16 */
}

Test(ref, cast_f32_to_i32_half_even_saturating)
{
    tensor *x = MK(F32, 12), *o = MK(I32, 12);
    put(x, (float[]){0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.7f, -2.7f, 3e9f, -3e9f, NAN,
                     2147483520.0f});
    plinth_attrs c = {.cast = {.dtype = PLINTH_I32}};
    ok(PLINTH_OP_CAST, &o->v, &x->v, 1, &c);
    expect_i32(o, (int32_t[]){0, 2, 2, 0, -2, -2, 3, -3, INT32_MAX, INT32_MIN, 0, 2147483520},
               12);
}

Test(ref, cast_f32_to_f16_rounding)
{
    tensor *x = MK(F32, 11), *o = MK(F16, 11);
    put(x, (float[]){1.0f / 3.0f, 65519.0f, 65520.0f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f,
                     NAN, -0.0f, 0x1p-24f, 0x1p-25f, 3 * 0x1p-25f, 1e-8f});
    plinth_attrs c = {.cast = {.dtype = PLINTH_F16}};
    ok(PLINTH_OP_CAST, &o->v, &x->v, 1, &c);
    uint16_t got[11];
    get(o, got);
    /* 1/3; largest finite; overflow at the tie; ties to even (down, up);
     * NaN; -0; smallest subnormal; subnormal ties to even (0, 2); underflow */
    const uint16_t want[11] = {0x3555, 0x7BFF, 0x7C00, 0x3C00, 0x3C02, 0,
                               0x8000, 0x0001, 0x0000, 0x0002, 0x0000};
    for (int i = 0; i < 11; i++) {
        if (i == 5)
            cr_expect((got[i] & 0x7C00) == 0x7C00 && (got[i] & 0x03FF) != 0, "NaN: 0x%04x",
                      got[i]);
        else
            cr_expect_eq(got[i], want[i], "[%d] got 0x%04x, want 0x%04x", i, got[i], want[i]);
    }
}

Test(ref, cast_f32_to_bf16_rounding)
{
    tensor *x = MK(F32, 5), *o = MK(BF16, 5);
    put(x, (float[]){1.0f / 3.0f, 1.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 3.4028235e38f});
    plinth_attrs c = {.cast = {.dtype = PLINTH_BF16}};
    ok(PLINTH_OP_CAST, &o->v, &x->v, 1, &c);
    /* FLT_MAX rounds past the largest bf16 (0x7F7F) to infinity. */
    expect_u16(o, (uint16_t[]){0x3EAB, 0x3F80, 0x3F80, 0x3F82, 0x7F80}, 5);
}

Test(ref, cast_f16_to_f32_and_i32_to_bf16)
{
    tensor *x = MK(F16, 6), *o = MK(F32, 6);
    put(x, (uint16_t[]){0x0001, 0x3555, 0x7C00, 0xFC00, 0x7E00, 0x8000});
    plinth_attrs c = {.cast = {.dtype = PLINTH_F32}};
    ok(PLINTH_OP_CAST, &o->v, &x->v, 1, &c);
    expect_f32(o, (float[]){0x1p-24f, 0.333251953125f, INFINITY, -INFINITY, NAN, 0}, 6, 0);
    float got[6];
    get(o, got);
    cr_expect(signbit(got[5]), "-0 keeps its sign");

    tensor *i = MK(I32, 4), *b = MK(BF16, 4);
    put(i, (int32_t[]){1, 3, 257, -7});
    plinth_attrs cb = {.cast = {.dtype = PLINTH_BF16}};
    ok(PLINTH_OP_CAST, &b->v, &i->v, 1, &cb);
    /* 257 is a tie between 256 and 258 in bf16: even mantissa -> 256. */
    expect_u16(b, (uint16_t[]){0x3F80, 0x4040, 0x4380, 0xC0E0}, 4);
}

Test(ref, copy_makes_permuted_view_contiguous)
{
    tensor *x = MK(F32, 2, 3), *o = MK(F32, 3, 2);
    put(x, (float[]){1, 2, 3, 4, 5, 6});
    plinth_view t = x->v;
    t.shape[2] = 3;
    t.shape[3] = 2;
    t.stride[2] = 4;
    t.stride[3] = 12;
    ok(PLINTH_OP_COPY, &o->v, &t, 1, NULL);
    expect_f32(o, (float[]){1, 4, 2, 5, 3, 6}, 6, 0);
}

Test(ref, copy_of_slice_and_broadcast)
{
    /* Columns 1..2 of a [3, 4] matrix: offset 4 bytes, row stride 16. */
    tensor *x = MK(F32, 3, 4), *o = MK(F32, 3, 2);
    put(x, (float[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    plinth_view s = x->v;
    s.offset = 4;
    s.data = s.buffer->host + 4;
    s.shape[3] = 2;
    ok(PLINTH_OP_COPY, &o->v, &s, 1, NULL);
    expect_f32(o, (float[]){1, 2, 5, 6, 9, 10}, 6, 0);

    /* A [3] vector broadcast to [2, 3] with stride 0. */
    tensor *r = MK(F32, 3), *o2 = MK(F32, 2, 3);
    put(r, (float[]){7, 8, 9});
    plinth_view bv = r->v;
    bv.ndim = 2;
    bv.shape[2] = 2;
    bv.stride[2] = 0;
    ok(PLINTH_OP_COPY, &o2->v, &bv, 1, NULL);
    expect_f32(o2, (float[]){7, 8, 9, 7, 8, 9}, 6, 0);
}

Test(ref, empty_tensor_is_a_no_op)
{
    tensor *a = MK(F32, 0, 3), *b = MK(F32, 0, 3), *o = MK(F32, 0, 3);
    plinth_view in[2] = {a->v, b->v};
    ok(PLINTH_OP_ADD, &o->v, in, 2, NULL);
    ok(PLINTH_OP_SILU, &o->v, &a->v, 1, NULL);
    ok(PLINTH_OP_SOFTMAX, &o->v, &a->v, 1, &(plinth_attrs){.softmax = {.scale = 1}});
}

/* ---------------------------------------------------------------- 4 ---- */

Test(ref, rms_norm_with_bf16_weight)
{
    tensor *x = MK(F32, 2, 4), *w = MK(BF16, 4), *o = MK(F32, 2, 4);
    put(x, (float[]){1, 2, 3, 4, 0, 0, 0, 0});
    put(w, (uint16_t[]){0x3F80, 0x3F00, 0x4000, 0x0000}); /* 1, 0.5, 2, 0 */
    plinth_attrs a = {.rms_norm = {.eps = 1e-6f}};
    plinth_view in[2] = {x->v, w->v};
    ok(PLINTH_OP_RMS_NORM, &o->v, in, 2, &a);
    /* mean(x^2) = 7.5; 1/sqrt(7.5) = 0.3651484; a zero row stays zero. */
    expect_f32(o, (float[]){0.3651484f, 0.3651484f, 2.1908902f, 0, 0, 0, 0, 0}, 8, TOL);
    ok(PLINTH_OP_RMS_NORM, &o->v, &x->v, 1, &a);
    expect_f32(o, (float[]){0.3651484f, 0.7302967f, 1.0954451f, 1.4605935f, 0, 0, 0, 0}, 8,
               TOL);
}

Test(ref, rms_norm_in_place_f16)
{
    tensor *x = MK(F16, 2);
    put(x, (uint16_t[]){0x4200, 0x4400}); /* 3, 4: rms = sqrt(12.5) */
    plinth_attrs a = {.rms_norm = {.eps = 0}};
    ok(PLINTH_OP_RMS_NORM, &x->v, &x->v, 1, &a);
    /* 3/sqrt(12.5) = 0.8485281 -> 0x3ACA; 4/sqrt(12.5) = 1.1313708 -> 0x3C87 */
    expect_u16(x, (uint16_t[]){0x3ACA, 0x3C87}, 2);
}

Test(ref, softmax_of_1_2_3)
{
    tensor *x = MK(F32, 3), *o = MK(F32, 3);
    put(x, (float[]){1, 2, 3});
    plinth_attrs a = {.softmax = {.scale = 1}};
    ok(PLINTH_OP_SOFTMAX, &o->v, &x->v, 1, &a);
    expect_f32(o, (float[]){0.0900306f, 0.2447285f, 0.6652410f}, 3, TOL);
    tensor *h = MK(F16, 3), *ho = MK(F16, 3);
    put(h, (uint16_t[]){0x3C00, 0x4000, 0x4200});
    ok(PLINTH_OP_SOFTMAX, &ho->v, &h->v, 1, &a);
    expect_u16(ho, (uint16_t[]){0x2DC3, 0x33D5, 0x3952}, 3);
}

Test(ref, softmax_scale_mask_and_fully_masked_row)
{
    tensor *x = MK(F32, 2, 3), *m = MK(F32, 2, 3), *o = MK(F32, 2, 3);
    put(x, (float[]){1, 2, 3, 1, 2, 3});
    put(m, (float[]){0, -INFINITY, 0, -INFINITY, -INFINITY, -INFINITY});
    plinth_attrs a = {.softmax = {.scale = 2}};
    plinth_view in[2] = {x->v, m->v};
    ok(PLINTH_OP_SOFTMAX, &o->v, in, 2, &a);
    /* logits 2, -inf, 6: 1/(1+e^4), 0, e^4/(1+e^4); an all -inf row -> 0s */
    expect_f32(o, (float[]){0.0179862f, 0, 0.9820138f, 0, 0, 0}, 6, TOL);
}

Test(ref, softmax_mask_broadcasts)
{
    tensor *x = MK(F32, 2, 3), *m = MK(F32, 3), *o = MK(F32, 2, 3);
    put(x, (float[]){1, 2, 3, 5, 6, 100});
    put(m, (float[]){0, 0, -INFINITY});
    plinth_attrs a = {.softmax = {.scale = 1}};
    plinth_view in[2] = {x->v, m->v};
    ok(PLINTH_OP_SOFTMAX, &o->v, in, 2, &a);
    expect_f32(o, (float[]){0.2689414f, 0.7310586f, 0, 0.2689414f, 0.7310586f, 0}, 6, TOL);
}

Test(ref, argmax_first_maximum_nan_wins)
{
    tensor *x = MK(F32, 3, 4), *o = MK(I32, 3);
    put(x, (float[]){1, 5, 5, 2, -1, -3, -2, -9, 0, NAN, 7, NAN});
    ok(PLINTH_OP_ARGMAX, &o->v, &x->v, 1, NULL);
    expect_i32(o, (int32_t[]){1, 0, 1}, 3);
    tensor *h = MK(BF16, 3), *o1 = MK(I32, 1);
    put(h, (uint16_t[]){0x3F80, 0x4040, 0x4000}); /* 1, 3, 2 */
    ok(PLINTH_OP_ARGMAX, &o1->v, &h->v, 1, NULL);
    expect_i32(o1, (int32_t[]){1}, 1);
}

/* ---------------------------------------------------------------- 5 ---- */

Test(ref, matmul_f32)
{
    tensor *a = MK(F32, 2, 3), *b = MK(F32, 3, 2), *o = MK(F32, 2, 2);
    put(a, (float[]){1, 2, 3, 4, 5, 6});
    put(b, (float[]){7, 8, 9, 10, 11, 12});
    plinth_attrs m = {.matmul = {.transpose_b = 0}};
    plinth_view in[2] = {a->v, b->v};
    ok(PLINTH_OP_MATMUL, &o->v, in, 2, &m);
    expect_f32(o, (float[]){58, 64, 139, 154}, 4, 0);
}

Test(ref, matmul_transpose_b_bf16_weights)
{
    tensor *a = MK(F32, 2, 3), *b = MK(BF16, 2, 3), *o = MK(F32, 2, 2);
    put(a, (float[]){1, 2, 3, 4, 5, 6});
    put(b, (uint16_t[]){0x40E0, 0x4110, 0x4130, 0x4100, 0x4120, 0x4140}); /* 7 9 11 / 8 10 12 */
    plinth_attrs m = {.matmul = {.transpose_b = 1}};
    plinth_view in[2] = {a->v, b->v};
    ok(PLINTH_OP_MATMUL, &o->v, in, 2, &m);
    expect_f32(o, (float[]){58, 64, 139, 154}, 4, 0);
}

Test(ref, matmul_batch_broadcast)
{
    tensor *a = MK(F32, 2, 1, 2), *b = MK(F32, 2, 1), *o = MK(F32, 2, 1, 1);
    put(a, (float[]){1, 2, 3, 4});
    put(b, (float[]){1, 10});
    plinth_attrs m = {.matmul = {.transpose_b = 0}};
    plinth_view in[2] = {a->v, b->v};
    ok(PLINTH_OP_MATMUL, &o->v, in, 2, &m);
    expect_f32(o, (float[]){21, 43}, 2, 0);
}

Test(ref, matmul_f16_rounds_once_from_double)
{
    /* 1*1 + 2^-11*1 + 2^-20*2^-20 = 1 + 2^-11 + 2^-40: just above the tie,
     * so one rounding gives 0x3C01; rounding through f32 first would lose
     * the 2^-40 and tie down to 0x3C00. */
    tensor *a = MK(F16, 1, 3), *b = MK(F16, 3, 1), *o = MK(F16, 1, 1);
    put(a, (uint16_t[]){0x3C00, 0x1000, 0x0010});
    put(b, (uint16_t[]){0x3C00, 0x3C00, 0x0010});
    plinth_attrs m = {.matmul = {.transpose_b = 0}};
    plinth_view in[2] = {a->v, b->v};
    ok(PLINTH_OP_MATMUL, &o->v, in, 2, &m);
    expect_u16(o, (uint16_t[]){0x3C01}, 1);
}

/* ---------------------------------------------------------------- 6 ---- */

Test(ref, get_rows_f32_and_widening_f16)
{
    tensor *t = MK(F32, 4, 3), *i = MK(I32, 3), *o = MK(F32, 3, 3);
    put(t, (float[]){0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32});
    put(i, (int32_t[]){3, 0, 3});
    plinth_attrs g = {.get_rows = {.dtype = PLINTH_F32}};
    plinth_view in[2] = {t->v, i->v};
    ok(PLINTH_OP_GET_ROWS, &o->v, in, 2, &g);
    expect_f32(o, (float[]){30, 31, 32, 0, 1, 2, 30, 31, 32}, 9, 0);

    tensor *h = MK(F16, 3, 2), *i2 = MK(I32, 2), *o2 = MK(F32, 2, 2);
    put(h, (uint16_t[]){0x3C00, 0x4000, 0x3800, 0x4200, 0x3555, 0xC000});
    put(i2, (int32_t[]){2, 1});
    plinth_view in2[2] = {h->v, i2->v};
    ok(PLINTH_OP_GET_ROWS, &o2->v, in2, 2, &g);
    expect_f32(o2, (float[]){0.333251953125f, -2, 0.5f, 3}, 4, 0);
}

Test(ref, get_rows_out_of_range_fails)
{
    tensor *t = MK(F32, 512, 2), *i = MK(I32, 2), *o = MK(F32, 2, 2);
    put(i, (int32_t[]){1, 600});
    put(o, (float[]){-1, -1, -1, -1});
    plinth_attrs g = {.get_rows = {.dtype = PLINTH_F32}};
    plinth_view in[2] = {t->v, i->v};
    cr_expect_eq(call(PLINTH_OP_GET_ROWS, &o->v, in, 2, &g), PLINTH_ERR_INVALID);
    expect_error_has("get_rows: index 600 out of range [0, 512)");
    expect_f32(o, (float[]){-1, -1, -1, -1}, 4, 0);
    put(i, (int32_t[]){-1, 0});
    cr_expect_eq(call(PLINTH_OP_GET_ROWS, &o->v, in, 2, &g), PLINTH_ERR_INVALID);
    expect_error_has("get_rows: index -1 out of range [0, 512)");
}

Test(ref, set_rows_f32_into_f16_state)
{
    tensor *s = MK(F16, 4, 2), *src = MK(F32, 2, 2), *i = MK(I32, 2);
    put(s, (uint16_t[]){0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666, 0x7777, 0x0123});
    put(src, (float[]){1, 1.0f / 3.0f, -2, 65520});
    put(i, (int32_t[]){3, 1});
    plinth_view in[2] = {src->v, i->v};
    ok(PLINTH_OP_SET_ROWS, &s->v, in, 2, NULL);
    expect_u16(s, (uint16_t[]){0x1111, 0x2222, 0xC000, 0x7C00, 0x5555, 0x6666, 0x3C00, 0x3555},
               8);
}

Test(ref, set_rows_out_of_range_leaves_state)
{
    tensor *s = MK(F32, 4, 1), *src = MK(F32, 2, 1), *i = MK(I32, 2);
    put(s, (float[]){1, 2, 3, 4});
    put(src, (float[]){9, 9});
    put(i, (int32_t[]){0, 4});
    plinth_view in[2] = {src->v, i->v};
    cr_expect_eq(call(PLINTH_OP_SET_ROWS, &s->v, in, 2, NULL), PLINTH_ERR_INVALID);
    expect_error_has("set_rows: index 4 out of range [0, 4)");
    expect_f32(s, (float[]){1, 2, 3, 4}, 4, 0);
}

Test(ref, concat_last_and_first_axis)
{
    tensor *a = MK(F32, 2, 2), *b = MK(F32, 2, 1), *o = MK(F32, 2, 3);
    put(a, (float[]){1, 2, 3, 4});
    put(b, (float[]){9, 8});
    plinth_attrs c = {.concat = {.axis = -1}};
    plinth_view in[2] = {a->v, b->v};
    ok(PLINTH_OP_CONCAT, &o->v, in, 2, &c);
    expect_f32(o, (float[]){1, 2, 9, 3, 4, 8}, 6, 0);

    tensor *ia = MK(I32, 1, 2), *ib = MK(I32, 2, 2), *io = MK(I32, 3, 2);
    put(ia, (int32_t[]){1, 2});
    put(ib, (int32_t[]){3, 4, 5, 6});
    plinth_attrs c0 = {.concat = {.axis = 0}};
    plinth_view in2[2] = {ia->v, ib->v};
    ok(PLINTH_OP_CONCAT, &io->v, in2, 2, &c0);
    expect_i32(io, (int32_t[]){1, 2, 3, 4, 5, 6}, 6);
}

Test(ref, concat_axis_is_logical_not_4d)
{
    /* Rank 3: axis 0 is 4-D axis 1, axis 2 (= -1) is 4-D axis 3. */
    tensor *a = MK(F32, 1, 2, 2), *b = MK(F32, 1, 2, 2), *o = MK(F32, 2, 2, 2);
    put(a, (float[]){1, 2, 3, 4});
    put(b, (float[]){5, 6, 7, 8});
    plinth_view in[2] = {a->v, b->v};
    ok(PLINTH_OP_CONCAT, &o->v, in, 2, &(plinth_attrs){.concat = {.axis = 0}});
    expect_f32(o, (float[]){1, 2, 3, 4, 5, 6, 7, 8}, 8, 0);
    tensor *o2 = MK(F32, 1, 2, 4);
    ok(PLINTH_OP_CONCAT, &o2->v, in, 2, &(plinth_attrs){.concat = {.axis = 2}});
    expect_f32(o2, (float[]){1, 2, 5, 6, 3, 4, 7, 8}, 8, 0);
    cr_expect_eq(call(PLINTH_OP_CONCAT, &o2->v, in, 2, &(plinth_attrs){.concat = {.axis = 3}}),
                 PLINTH_ERR_INVALID);
}

/* ---------------------------------------------------------------- 7 ---- */

Test(ref, rope_at_pos_1_base_10000)
{
    tensor *x = MK(F32, 1, 1, 4), *p = MK(I32, 1), *o = MK(F32, 1, 1, 4);
    put(x, (float[]){1, 2, 3, 4});
    put(p, (int32_t[]){1});
    plinth_attrs r = {.rope = {.base = 10000, .n_dims = 4}};
    plinth_view in[2] = {x->v, p->v};
    ok(PLINTH_OP_ROPE, &o->v, in, 2, &r);
    /* pairs (x0, x2) at theta 1 and (x1, x3) at theta 10000^-0.5 = 0.01:
     * cos 1 = 0.5403023, sin 1 = 0.8414710; cos .01 = 0.99995, sin .01 = 0.0099998 */
    expect_f32(o, (float[]){-1.9841106f, 1.9599007f, 2.4623779f, 4.0197997f}, 4, TOL);
}

Test(ref, rope_partial_dims_in_place_multi_token)
{
    /* T = 2, H = 1, D = 6, n_dims = 2: only (x0, x1) rotate, by pos * 1. */
    tensor *x = MK(F32, 2, 1, 6), *p = MK(I32, 2);
    put(x, (float[]){1, 0, 5, 6, 7, 8, 1, 0, 5, 6, 7, 8});
    put(p, (int32_t[]){0, 1});
    plinth_attrs r = {.rope = {.base = 10000, .n_dims = 2}};
    plinth_view in[2] = {x->v, p->v};
    ok(PLINTH_OP_ROPE, &x->v, in, 2, &r);
    expect_f32(x, (float[]){1, 0, 5, 6, 7, 8, 0.5403023f, 0.8414710f, 5, 6, 7, 8}, 12, TOL);
}

/* rope_factors: frequency i divided by factors[i]. x [1, 1, 4], pos 5,
 * base 100, n_dims 4: frequencies 1 and 100^-0.5 = 0.1, factors 2 and 4,
 * so theta 5 * 1 / 2 = 2.5 for (x0, x2) and 5 * 0.1 / 4 = 0.125 for
 * (x1, x3). cos 2.5 = -0.8011436, sin 2.5 = 0.5984721; cos .125 =
 * 0.9921977, sin .125 = 0.1246747. Ignoring the factors (theta 5 and 0.5)
 * or taking them in the other order (1.25 and 0.25) gives other values. */
Test(ref, rope_factors_divide_each_frequency)
{
    tensor *x = MK(F32, 1, 1, 4), *p = MK(I32, 1), *f = MK(F32, 2), *o = MK(F32, 1, 1, 4);
    put(x, (float[]){1, 2, 3, 4});
    put(p, (int32_t[]){5});
    put(f, (float[]){2, 4});
    plinth_attrs r = {.rope = {.base = 100, .n_dims = 4}};
    plinth_view in[3] = {x->v, p->v, f->v};
    ok(PLINTH_OP_ROPE_FACTORS, &o->v, in, 3, &r);
    /* 1 c0 - 3 s0, 2 c1 - 4 s1, 3 c0 + 1 s0, 4 c1 + 2 s1 */
    expect_f32(o, (float[]){-2.5965600f, 1.4856964f, -1.8049587f, 4.2181401f}, 4, TOL);
}

/* [B, T, H, D] = [2, 2, 1, 6] in place, n_dims 2 (only (x0, x1) rotate,
 * by pos / 2; the rest pass through): positions 0 and 2 give theta 0 and
 * 1 in both batches. */
Test(ref, rope_factors_partial_dims_4d_in_place)
{
    tensor *x = MK(F32, 2, 2, 1, 6), *p = MK(I32, 2), *f = MK(F32, 1);
    const float row[6] = {1, 0, 5, 6, 7, 8};
    float all[24];
    for (int i = 0; i < 4; i++)
        memcpy(all + 6 * i, row, sizeof row);
    put(x, all);
    put(p, (int32_t[]){0, 2});
    put(f, (float[]){2});
    plinth_attrs r = {.rope = {.base = 10000, .n_dims = 2}};
    plinth_view in[3] = {x->v, p->v, f->v};
    ok(PLINTH_OP_ROPE_FACTORS, &x->v, in, 3, &r);
    const float turned[6] = {0.5403023f, 0.8414710f, 5, 6, 7, 8};
    float want[24];
    for (int i = 0; i < 4; i++) /* rows b0t0 b0t1 b1t0 b1t1 */
        memcpy(want + 6 * i, i % 2 ? turned : row, sizeof row);
    expect_f32(x, want, 24, TOL);
}

/* factors must be f32 [n_dims / 2]: the host's (graph builder's) check. */
Test(ref, rope_factors_refuses_bad_factors)
{
    tensor *x = MK(F32, 1, 1, 4), *p = MK(I32, 1), *o = MK(F32, 1, 1, 4);
    tensor *f4 = MK(F32, 4), *f16 = MK(F16, 2);
    plinth_attrs r = {.rope = {.base = 100, .n_dims = 4}};
    plinth_view in[3] = {x->v, p->v, f4->v};
    cr_expect_eq(call(PLINTH_OP_ROPE_FACTORS, &o->v, in, 3, &r), PLINTH_ERR_INVALID);
    expect_error_has("factors");
    in[2] = f16->v;
    cr_expect_eq(call(PLINTH_OP_ROPE_FACTORS, &o->v, in, 3, &r), PLINTH_ERR_INVALID);
    expect_error_has("f32 [2]");
    cr_expect_eq(call(PLINTH_OP_ROPE_FACTORS, &o->v, in, 2, &r), PLINTH_ERR_INVALID);
}

Test(ref, attention_weights_by_score)
{
    /* One query, two keys, D = 1: scores 0 and ln 3 -> weights 1/4, 3/4. */
    tensor *q = MK(F32, 1, 1, 1), *k = MK(F32, 2, 1, 1), *v = MK(F32, 2, 1, 1);
    tensor *p = MK(I32, 1), *n = MK(I32, 1), *o = MK(F32, 1, 1, 1);
    put(q, (float[]){1});
    put(k, (float[]){0, 1});
    put(v, (float[]){4, 8});
    put(p, (int32_t[]){1});
    put(n, (int32_t[]){2});
    plinth_attrs a = {.attention = {.scale = 1.0986123f, .window = 0}};
    plinth_view in[5] = {q->v, k->v, v->v, p->v, n->v};
    ok(PLINTH_OP_ATTENTION, &o->v, in, 5, &a);
    expect_f32(o, (float[]){7}, 1, 1e-5f);
}

Test(ref, attention_gqa_window_kv_len)
{
    /* k = 0 makes every visible key weigh the same: outputs are means.
     * Hq = 4, Hkv = 2: heads 0,1 read kv head 0, heads 2,3 kv head 1.
     * kv_len 3, window 2: pos 1 sees {0,1}, pos 2 {1,2}, pos 3 {2}. */
    tensor *q = MK(F32, 3, 4, 1), *k = MK(F32, 4, 2, 1), *v = MK(F32, 4, 2, 1);
    tensor *p = MK(I32, 3), *n = MK(I32, 1), *o = MK(F32, 3, 4, 1);
    put(q, (float[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
    put(v, (float[]){1, 10, 2, 20, 4, 40, 8, 80});
    put(p, (int32_t[]){1, 2, 3});
    put(n, (int32_t[]){3});
    plinth_attrs a = {.attention = {.scale = 0.5f, .window = 2}};
    plinth_view in[5] = {q->v, k->v, v->v, p->v, n->v};
    ok(PLINTH_OP_ATTENTION, &o->v, in, 5, &a);
    expect_f32(o, (float[]){1.5f, 1.5f, 15, 15, 3, 3, 30, 30, 4, 4, 40, 40}, 12, TOL);
    /* No window: pos 3 sees {0, 1, 2} (kv_len still 3). */
    a.attention.window = 0;
    ok(PLINTH_OP_ATTENTION, &o->v, in, 5, &a);
    expect_f32(o, (float[]){1.5f, 1.5f, 15, 15, 7.0f / 3, 7.0f / 3, 70.0f / 3, 70.0f / 3,
                            7.0f / 3, 7.0f / 3, 70.0f / 3, 70.0f / 3},
               12, TOL);
}

Test(ref, attention_no_visible_key_gives_zeros)
{
    tensor *q = MK(F32, 2, 1, 2), *k = MK(F32, 2, 1, 2), *v = MK(F32, 2, 1, 2);
    tensor *p = MK(I32, 2), *n = MK(I32, 1), *o = MK(F32, 2, 1, 2);
    put(q, (float[]){1, 1, 1, 1});
    put(k, (float[]){1, 1, 1, 1});
    put(v, (float[]){3, 4, 5, 6});
    put(p, (int32_t[]){-1, 0}); /* pos -1: nothing is causal-visible */
    put(n, (int32_t[]){2});
    put(o, (float[]){NAN, NAN, NAN, NAN});
    plinth_attrs a = {.attention = {.scale = 1, .window = 0}};
    plinth_view in[5] = {q->v, k->v, v->v, p->v, n->v};
    ok(PLINTH_OP_ATTENTION, &o->v, in, 5, &a);
    expect_f32(o, (float[]){0, 0, 3, 4}, 4, 0);
    put(n, (int32_t[]){0});
    ok(PLINTH_OP_ATTENTION, &o->v, in, 5, &a);
    expect_f32(o, (float[]){0, 0, 0, 0}, 4, 0);
}

Test(ref, attention_kv_len_out_of_range)
{
    tensor *q = MK(F32, 1, 1, 1), *k = MK(F32, 2, 1, 1), *v = MK(F32, 2, 1, 1);
    tensor *p = MK(I32, 1), *n = MK(I32, 1), *o = MK(F32, 1, 1, 1);
    put(n, (int32_t[]){3});
    plinth_attrs a = {.attention = {.scale = 1, .window = 0}};
    plinth_view in[5] = {q->v, k->v, v->v, p->v, n->v};
    cr_expect_eq(call(PLINTH_OP_ATTENTION, &o->v, in, 5, &a), PLINTH_ERR_INVALID);
    expect_error_has("attention: kv_len 3 out of range [0, 2]");
    put(n, (int32_t[]){-1});
    cr_expect_eq(call(PLINTH_OP_ATTENTION, &o->v, in, 5, &a), PLINTH_ERR_INVALID);
}

/* ---------------------------------------------------------------- 8 ---- */

/* A shape-and-dtype-only view of rank 1 or 2, as query_op sees it (no
 * buffer). */
static plinth_view sv(int32_t dtype, int64_t n)
{
    plinth_view v = {.dtype = dtype, .ndim = 1, .shape = {1, 1, 1, n}};
    v.stride[3] = (int64_t)esize(dtype);
    v.stride[2] = v.stride[1] = v.stride[0] = n * v.stride[3];
    return v;
}

static plinth_view sv2(int32_t dtype, int64_t rows, int64_t n)
{
    plinth_view v = sv(dtype, n);
    v.ndim = 2;
    v.shape[2] = rows;
    v.stride[1] = v.stride[0] = rows * v.stride[2];
    return v;
}

/* query_op on ref (attrs NULL: all zero). */
static plinth_status query(uint32_t op, const plinth_view *out, const plinth_view *in,
                           uint32_t n_in, const plinth_attrs *attrs)
{
    static const plinth_attrs zero;
    return plinth_backend_query_op(ref, (plinth_op)op, out, in, n_in, attrs ? attrs : &zero);
}

/* What the ABI does not define is refused: by the host's rules (the graph
 * builders': PLINTH_ERR_INVALID) before ref's supports() is asked. */
Test(ref, query_says_no_where_the_abi_does)
{
    plinth_view i32 = sv(PLINTH_I32, 4), f32 = sv(PLINTH_F32, 4), f16 = sv(PLINTH_F16, 4);
    plinth_view bf = sv(PLINTH_BF16, 4);
    cr_expect_eq(query(PLINTH_OP_GELU_TANH, &i32, &i32, 1, NULL), PLINTH_ERR_INVALID);
    cr_expect_eq(query(PLINTH_OP_GELU_TANH, &f16, &f16, 1, NULL), PLINTH_OK);
    cr_expect_eq(query(PLINTH_OP_SILU, &i32, &i32, 1, NULL), PLINTH_ERR_INVALID);
    plinth_view two[2] = {f32, f32};
    cr_expect_eq(query(PLINTH_OP_ADD, &f32, two, 2, NULL), PLINTH_OK);
    plinth_view mixed[2] = {f32, f16};
    cr_expect_eq(query(PLINTH_OP_ADD, &f32, mixed, 2, NULL), PLINTH_ERR_INVALID);
    plinth_view ia[2] = {i32, i32};
    cr_expect_eq(query(PLINTH_OP_ADD, &i32, ia, 2, NULL), PLINTH_OK);
    /* matmul: a float, b any float; never i32 */
    plinth_view mm[2] = {sv2(PLINTH_F32, 1, 4), sv2(PLINTH_I32, 4, 1)};
    plinth_view mo = sv2(PLINTH_F32, 1, 1);
    plinth_attrs ma = {.matmul = {.transpose_b = 0}};
    cr_expect_eq(query(PLINTH_OP_MATMUL, &mo, mm, 2, &ma), PLINTH_ERR_INVALID);
    mm[1].dtype = PLINTH_BF16;
    cr_expect_eq(query(PLINTH_OP_MATMUL, &mo, mm, 2, &ma), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    /* argmax of i32 is not in the ABI; of bf16 it is */
    plinth_view am = sv(PLINTH_I32, 1);
    cr_expect_eq(query(PLINTH_OP_ARGMAX, &am, &i32, 1, NULL), PLINTH_ERR_INVALID);
    cr_expect_eq(query(PLINTH_OP_ARGMAX, &am, &bf, 1, NULL), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    /* cast: anything to anything, into attrs.cast.dtype */
    plinth_attrs c = {.cast = {.dtype = PLINTH_F16}};
    cr_expect_eq(query(PLINTH_OP_CAST, &f16, &i32, 1, &c), PLINTH_OK);
    cr_expect_eq(query(PLINTH_OP_CAST, &bf, &i32, 1, &c), PLINTH_ERR_INVALID);
    cr_expect_eq(query(PLINTH_OP_COUNT, &f32, &f32, 1, NULL), PLINTH_ERR_INVALID);
}

Test(ref, query_get_and_set_rows_dtypes)
{
    plinth_view table = sv2(PLINTH_F16, 5, 8), idx = sv(PLINTH_I32, 3);
    plinth_view out = sv2(PLINTH_F32, 3, 8);
    plinth_view in[2] = {table, idx};
    plinth_attrs g = {.get_rows = {.dtype = PLINTH_F32}};
    cr_expect_eq(query(PLINTH_OP_GET_ROWS, &out, in, 2, &g), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    plinth_view out16 = out;
    out16.dtype = PLINTH_BF16;
    g.get_rows.dtype = PLINTH_BF16;
    cr_expect_eq(query(PLINTH_OP_GET_ROWS, &out16, in, 2, &g), PLINTH_ERR_INVALID);
    plinth_view src = out; /* f32 [3, 8] into bf16 [5, 8] */
    plinth_view state = table;
    state.dtype = PLINTH_BF16;
    plinth_view sin[2] = {src, idx};
    cr_expect_eq(query(PLINTH_OP_SET_ROWS, &state, sin, 2, NULL), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    sin[1].dtype = PLINTH_F32; /* idx must be i32 */
    cr_expect_eq(query(PLINTH_OP_SET_ROWS, &state, sin, 2, NULL), PLINTH_ERR_INVALID);
}

Test(ref, bad_calls_are_refused_with_a_message)
{
    tensor *a = MK(F32, 3), *b = MK(F32, 4), *o = MK(F32, 3);
    plinth_view in[2] = {a->v, b->v};
    cr_expect_eq(call(PLINTH_OP_ADD, &o->v, in, 1, NULL), PLINTH_ERR_INVALID);
    expect_error_has("add");
    cr_expect_eq(call(PLINTH_OP_ADD, &o->v, in, 2, NULL), PLINTH_ERR_INVALID);
    expect_error_has("broadcast");
    cr_expect_neq(plinth_backend_run_op(ref, PLINTH_OP_SCALE, &o->v, in, 1, NULL), PLINTH_OK,
                  "no attrs");
    tensor *i = MK(I32, 3), *io = MK(I32, 3);
    cr_expect_eq(call(PLINTH_OP_GELU_TANH, &io->v, &i->v, 1, NULL), PLINTH_ERR_INVALID);
    expect_error_has("float");
    /* A view that reaches past its memory is refused, not followed. */
    plinth_view big = a->v;
    big.shape[3] = 1000;
    plinth_view ob = o->v;
    ob.shape[3] = 1000;
    cr_expect_eq(call(PLINTH_OP_COPY, &ob, &big, 1, NULL), PLINTH_ERR_INVALID);
    expect_error_has("inside");
    /* So is a view into memory that is not this backend's. */
    plinth_view stray = o->v;
    plinth_buffer other = *o->v.buffer;
    stray.buffer = &other;
    cr_expect_eq(call(PLINTH_OP_COPY, &stray, &a->v, 1, NULL), PLINTH_ERR_INVALID);
    expect_error_has("not a memory");
}
