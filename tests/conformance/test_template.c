/*
 * test_template.c — the template plugin against ref, op by op.
 *
 * For add, mul and scale on a set of shapes (1-D, 3-D, broadcast, strided
 * and transposed inputs) both plugins run the same inputs; the outputs must
 * agree (normalised MSE), contain no NaN after the output was poisoned with
 * NaN (every element written: rule 6), and leave the 0xA5 guard bytes
 * before and after the output untouched (nothing written outside: rule 6).
 *
 * Plugins come from PLINTH_TEST_REF and PLINTH_TEST_TEMPLATE (paths) and are
 * opened through plinth_backend_open; buffers and kernels go through the
 * loader's checked wrappers.
 *
 * Sections: helpers; running one case on one backend; cases.
 */
#include "internal.h"
#include "loader.h"

#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define CHECK_NO_LEAKS() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked")
#else
#define CHECK_NO_LEAKS() ((void)0)
#endif

/*
 * Tolerance. add, mul and scale are one IEEE-754 f32 operation per element,
 * correctly rounded: any conforming backend gives the bit-identical result
 * (and so does ref if it computes in f64 and rounds once, since a double has
 * more than 2*24+2 bits). The normalised MSE should therefore be 0; 1e-12 (an
 * rms relative error of 1e-6, a few f32 ulps) leaves room only for a backend
 * that contracts or reorders differently (e.g. x*s computed as a fused op),
 * not for a wrong index or a missed element, which give errors of order 1.
 */
#define MAX_NMSE 1e-12

#define GUARD 256 /* guard bytes each side; keeps the output 256-aligned */
#define GUARD_BYTE 0xA5

/* ------------------------------------------------------------ helpers --- */

static const char *need_env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v && v[0], "environment variable %s is not set (run through meson test)", name);
    return v;
}

/* xorshift32: small, seeded, the same everywhere. */
static uint32_t next_u32(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/* Uniform in [-2, 2), never exactly 0 (so the NMSE denominator is not 0). */
static float next_f32(uint32_t *state)
{
    float f = (float)(next_u32(state) >> 8) / 16777216.0f * 4.0f - 2.0f;
    return f == 0.0f ? 0.25f : f;
}

static int64_t count4(const int64_t *shape)
{
    return shape[0] * shape[1] * shape[2] * shape[3];
}

/* --------------------------------------- one case on one backend --- */

/* An input: its logical shape, and the layout of the memory it views. The
 * memory holds `alloc` floats; element (i0..i3) is at float index
 * sum(i_d * stride[d]). */
typedef struct input {
    int64_t shape[4];
    int64_t stride[4]; /* in elements */
    int64_t alloc;     /* floats in the memory                  */
} input;

typedef struct tcase {
    const char *name;
    uint32_t op;
    uint32_t n_in;
    int64_t out[4]; /* the output shape (contiguous) */
    input in[2];
    float scale;
} tcase;

/* A contiguous input of `shape`. */
static input dense(int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    input in = {.shape = {d0, d1, d2, d3}, .alloc = d0 * d1 * d2 * d3};
    in.stride[3] = 1;
    in.stride[2] = d3;
    in.stride[1] = d3 * d2;
    in.stride[0] = d3 * d2 * d1;
    return in;
}

/* Runs `c` on backend `b` with input data `data[i]` (each in[i].alloc
 * floats); writes the downloaded output (count4(c->out) floats) to `got`. */
static void run_case(plinth_backend *b, const tcase *c, float *const data[2], float *got,
                     uint32_t seed)
{
    const char *who = plinth_backend_name(b);
    plinth_context *ctx = b->ctx;
    plinth_buffer bin[2] = {{0}, {0}}, bout = {0};
    plinth_view vin[2];
    memset(vin, 0, sizeof vin);

    for (uint32_t i = 0; i < c->n_in; i++) {
        uint64_t bytes = (uint64_t)c->in[i].alloc * sizeof(float);
        cr_assert_eq(backend_buffer_alloc(b, bytes, &bin[i]), PLINTH_OK, "%s: %s", who,
                     plinth_context_error(ctx));
        cr_assert_eq(backend_upload(b, &bin[i], 0, data[i], bytes), PLINTH_OK, "%s: %s", who,
                     plinth_context_error(ctx));
        plinth_view *v = &vin[i];
        v->buffer = &bin[i];
        v->data = bin[i].host;
        v->dtype = PLINTH_F32;
        v->ndim = 4;
        for (int d = 0; d < 4; d++) {
            v->shape[d] = c->in[i].shape[d];
            v->stride[d] = c->in[i].stride[d] * (int64_t)sizeof(float);
        }
    }

    /* Output buffer: [GUARD bytes of 0xA5][output, poisoned with NaN][GUARD]. */
    int64_t n = count4(c->out);
    uint64_t out_bytes = (uint64_t)n * sizeof(float);
    uint64_t total = GUARD + out_bytes + GUARD;
    uint8_t *image = malloc(total);
    cr_assert(image);
    memset(image, GUARD_BYTE, total);
    const float nan = NAN;
    for (int64_t i = 0; i < n; i++)
        memcpy(image + GUARD + i * sizeof(float), &nan, sizeof nan);
    cr_assert_eq(backend_buffer_alloc(b, total, &bout), PLINTH_OK, "%s: %s", who,
                 plinth_context_error(ctx));
    cr_assert_eq(backend_upload(b, &bout, 0, image, total), PLINTH_OK);

    plinth_view vout = {.buffer = &bout, .data = bout.host ? bout.host + GUARD : NULL,
                        .base = GUARD, .offset = GUARD, .dtype = PLINTH_F32, .ndim = 4};
    int64_t stride = sizeof(float);
    for (int d = 3; d >= 0; d--) {
        vout.shape[d] = c->out[d];
        vout.stride[d] = stride;
        stride *= c->out[d];
    }

    const plinth_attr_scale attrs = {c->scale};
    cr_assert(backend_supports(b, c->op, &vout, vin, c->n_in, &attrs),
              "%s: %s says it does not support case '%s'", who, who, c->name);
    plinth_kernel_fn fn = backend_kernel(b, c->op);
    cr_assert(fn);
    int32_t st = fn(b->dev, &vout, vin, c->n_in, &attrs);
    cr_assert_eq(st, PLINTH_OK, "%s: case '%s' (seed %u): kernel failed: %s", who, c->name,
                 seed, backend_last_error(b));
    cr_assert_eq(backend_synchronize(b), PLINTH_OK);

    cr_assert_eq(backend_download(b, &bout, 0, image, total), PLINTH_OK);
    for (uint64_t i = 0; i < GUARD; i++) {
        cr_assert_eq(image[i], GUARD_BYTE, "%s: case '%s' (seed %u): wrote guard byte %llu "
                     "before the output", who, c->name, seed, (unsigned long long)(GUARD - i));
        cr_assert_eq(image[GUARD + out_bytes + i], GUARD_BYTE,
                     "%s: case '%s' (seed %u): wrote guard byte %llu after the output", who,
                     c->name, seed, (unsigned long long)i);
    }
    memcpy(got, image + GUARD, out_bytes);
    for (int64_t i = 0; i < n; i++)
        cr_assert(!isnan(got[i]), "%s: case '%s' (seed %u): element %lld not written (NaN)",
                  who, c->name, seed, (long long)i);

    free(image);
    backend_buffer_free(b, &bout);
    for (uint32_t i = 0; i < c->n_in; i++)
        backend_buffer_free(b, &bin[i]);
}

/* Runs `c` on ref and on the template with the same random inputs and
 * compares. */
static void check_case(const tcase *c, uint32_t seed)
{
    plinth_context *ctx = NULL;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    plinth_backend *ref = NULL, *tpl = NULL;
    cr_assert_eq(plinth_backend_open(ctx, need_env("PLINTH_TEST_REF"), 0, NULL, &ref),
                 PLINTH_OK, "%s", plinth_context_error(ctx));
    cr_assert_eq(plinth_backend_open(ctx, need_env("PLINTH_TEST_TEMPLATE"), 0, NULL, &tpl),
                 PLINTH_OK, "%s", plinth_context_error(ctx));

    uint32_t state = seed;
    float *data[2] = {NULL, NULL};
    for (uint32_t i = 0; i < c->n_in; i++) {
        data[i] = malloc((size_t)c->in[i].alloc * sizeof(float));
        cr_assert(data[i]);
        for (int64_t k = 0; k < c->in[i].alloc; k++)
            data[i][k] = next_f32(&state);
    }
    int64_t n = count4(c->out);
    float *want = malloc((size_t)n * sizeof(float));
    float *got = malloc((size_t)n * sizeof(float));
    cr_assert(want && got);

    run_case(ref, c, data, want, seed);
    run_case(tpl, c, data, got, seed);

    /* Normalised MSE: sum (got - want)^2 / sum want^2, in double. */
    double err = 0.0, norm = 0.0;
    int64_t worst = 0;
    double worst_d = -1.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)got[i] - (double)want[i];
        err += d * d;
        norm += (double)want[i] * (double)want[i];
        if (fabs(d) > worst_d) {
            worst_d = fabs(d);
            worst = i;
        }
    }
    double nmse = norm > 0.0 ? err / norm : err;
    cr_assert(nmse <= MAX_NMSE,
              "case '%s' (seed %u): normalised MSE %.3g > %.3g; worst element %lld: "
              "template %.9g, ref %.9g",
              c->name, seed, nmse, MAX_NMSE, (long long)worst, (double)got[worst],
              (double)want[worst]);

    free(want);
    free(got);
    free(data[0]);
    free(data[1]);
    plinth_backend_close(ref);
    plinth_backend_close(tpl);
    plinth_context_destroy(ctx);
    CHECK_NO_LEAKS();
}

/* -------------------------------------------------------------- cases --- */

/* The shapes every op runs on, with the op filled in by the caller. */
static const uint32_t seed_base = 0x5EED1234u;

static void run_shapes(uint32_t op, const char *opname)
{
    const uint32_t n_in = op == PLINTH_OP_SCALE ? 1 : 2;
    tcase cases[16];
    int n = 0;
    static const int64_t lengths[] = {1, 7, 33, 257};
    char names[16][64];

    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        int64_t len = lengths[i];
        snprintf(names[n], sizeof names[n], "%s [%lld]", opname, (long long)len);
        cases[n] = (tcase){.out = {1, 1, 1, len}, .in = {dense(1, 1, 1, len), dense(1, 1, 1, len)}};
        n++;
    }
    snprintf(names[n], sizeof names[n], "%s [3,5,7]", opname);
    cases[n++] = (tcase){.out = {1, 3, 5, 7}, .in = {dense(1, 3, 5, 7), dense(1, 3, 5, 7)}};

    /* [3,5,7] sliced out of a [3,5,10] tensor (last dim 7 of 10), and a
     * second input that is the transpose of a [7,5,3] tensor. */
    input sliced = dense(1, 3, 5, 10);
    sliced.shape[3] = 7;
    input transposed = {.shape = {1, 3, 5, 7}, .stride = {0, 1, 3, 15}, .alloc = 105};
    snprintf(names[n], sizeof names[n], "%s strided [3,5,7]", opname);
    cases[n++] = (tcase){.out = {1, 3, 5, 7}, .in = {sliced, transposed}};

    /* An inner stride that is not the element size: every other float. */
    input every_other = {.shape = {1, 1, 1, 33}, .stride = {0, 0, 0, 2}, .alloc = 66};
    snprintf(names[n], sizeof names[n], "%s step-2 [33]", opname);
    cases[n++] = (tcase){.out = {1, 1, 1, 33}, .in = {every_other, every_other}};

    if (n_in == 2) {
        snprintf(names[n], sizeof names[n], "%s broadcast [4,1,9]+[1,6,9]", opname);
        cases[n++] = (tcase){.out = {1, 4, 6, 9}, .in = {dense(1, 4, 1, 9), dense(1, 1, 6, 9)}};
        snprintf(names[n], sizeof names[n], "%s broadcast [2,3,4,5]+[5]", opname);
        cases[n++] = (tcase){.out = {2, 3, 4, 5}, .in = {dense(2, 3, 4, 5), dense(1, 1, 1, 5)}};
    }

    for (int i = 0; i < n; i++) {
        cases[i].name = names[i];
        cases[i].op = op;
        cases[i].n_in = n_in;
        cases[i].scale = -0.375f;
        check_case(&cases[i], seed_base + (uint32_t)i);
    }
}

Test(template_vs_ref, add)
{
    run_shapes(PLINTH_OP_ADD, "add");
}

Test(template_vs_ref, mul)
{
    run_shapes(PLINTH_OP_MUL, "mul");
}

Test(template_vs_ref, scale)
{
    run_shapes(PLINTH_OP_SCALE, "scale");
}
