/*
 * test_executor.c — the model and the static executor, end to end through
 * the public API on the ref backend ($PLINTH_TEST_REF).
 *
 * Sections: fixture (context with a log capture, backend, model, leak
 * check); helpers (safetensors writer, plain-C references); programs
 * (MLP, broadcasting, folds, shared state, errors); loading (safetensors
 * success and every failure, unused report, progress, the golden file).
 */
#include "plinth/plinth.h"

#include <criterion/criterion.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif

/* ---------------------------------------------------------- fixture --- */

static plinth_context *ctx;
static plinth_backend *backend;
static plinth_model *model;
static char logged[16384]; /* every log line, '\n'-separated */

static void capture(void *user, int level, const char *message)
{
    (void)user;
    (void)level;
    size_t used = strlen(logged);
    snprintf(logged + used, sizeof logged - used, "%s\n", message);
}

static void setup(void)
{
    logged[0] = '\0';
    const plinth_context_options opts = {
        .struct_size = sizeof opts, .log = capture, .log_level = PLINTH_LOG_DEBUG};
    cr_assert_eq(plinth_context_create(&opts, &ctx), PLINTH_OK);
    const char *ref = getenv("PLINTH_TEST_REF");
    cr_assert(ref, "PLINTH_TEST_REF is not set (run through meson test)");
    cr_assert_eq(plinth_backend_open(ctx, ref, 0, NULL, &backend), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_assert_eq(plinth_model_create(backend, &model), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
}

static void teardown(void)
{
    plinth_model_destroy(model);
    plinth_backend_close(backend);
    plinth_context_destroy(ctx);
    model = NULL;
    backend = NULL;
    ctx = NULL;
#ifdef HAVE_LSAN
    cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "leaks (see the sanitizer report)");
#endif
}

TestSuite(executor, .init = setup, .fini = teardown);

#define OKC(call) cr_assert_eq((call), PLINTH_OK, "%s: %s", #call, plinth_context_error(ctx))

static plinth_graph *graph(void)
{
    plinth_graph *g = NULL;
    OKC(plinth_graph_create(ctx, &g));
    return g;
}

/* Compiles and destroys the graph; the program belongs to `model`. */
static plinth_program *compile(plinth_graph *g)
{
    OKC(plinth_graph_status(g));
    plinth_program *p = NULL;
    plinth_status s = plinth_program_compile(model, g, NULL, &p);
    plinth_graph_destroy(g);
    cr_assert_eq(s, PLINTH_OK, "compile: %s", plinth_context_error(ctx));
    return p;
}

static void set_input(plinth_program *p, const char *name, const void *data, size_t bytes)
{
    int32_t i = plinth_program_input_index(p, name);
    cr_assert_geq(i, 0, "no input '%s'", name);
    OKC(plinth_program_set_input(p, (uint32_t)i, data, bytes));
}

static void get_output(plinth_program *p, const char *name, void *data, size_t bytes)
{
    int32_t i = plinth_program_output_index(p, name);
    cr_assert_geq(i, 0, "no output '%s'", name);
    OKC(plinth_program_get_output(p, (uint32_t)i, data, bytes));
}

static void expect_close(const float *got, const double *want, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs(got[i] - want[i]) <= tol * (1.0 + fabs(want[i])),
                  "element %zu: got %.8g, want %.8g", i, got[i], want[i]);
}

static void expect_error(plinth_status s, const char *a, const char *b)
{
    const char *msg = plinth_context_error(ctx);
    cr_assert_neq(s, PLINTH_OK, "expected a failure");
    if (a)
        cr_assert(strstr(msg, a), "message lacks \"%s\": %s", a, msg);
    if (b)
        cr_assert(strstr(msg, b), "message lacks \"%s\": %s", b, msg);
}

/* Deterministic values in [-1, 1), never all zero. */
static void fill(float *x, size_t n, unsigned seed)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 8) / 8388608.0 - 1.0);
    }
}

/* ------------------------------------------------ safetensors writer --- */

typedef struct st_entry {
    const char *name;
    const char *dtype; /* "F32", "BF16", "I64" */
    int ndim;
    int64_t shape[4];
    const void *data;
    size_t bytes;
} st_entry;

/* Writes a valid file: u64 header length, JSON padded with spaces to a
 * multiple of 8, then the data. Returns a malloc'ed path (unlink + free). */
static char *write_st(const st_entry *e, int n)
{
    char header[4096];
    size_t used = (size_t)snprintf(header, sizeof header, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        used += (size_t)snprintf(header + used, sizeof header - used,
                                 ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", e[i].name, e[i].dtype);
        for (int k = 0; k < e[i].ndim; k++)
            used += (size_t)snprintf(header + used, sizeof header - used, k ? ",%lld" : "%lld",
                                     (long long)e[i].shape[k]);
        used += (size_t)snprintf(header + used, sizeof header - used,
                                 "],\"data_offsets\":[%zu,%zu]}", off, off + e[i].bytes);
        off += e[i].bytes;
    }
    used += (size_t)snprintf(header + used, sizeof header - used, "}");
    while (used % 8)
        header[used++] = ' ';
    cr_assert_lt(used, sizeof header);

    char *path = strdup("/tmp/plinth-exec-XXXXXX.safetensors");
    int fd = mkstemps(path, (int)strlen(".safetensors"));
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "wb");
    uint64_t len = used;
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(len >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(header, 1, used, f);
    for (int i = 0; i < n; i++)
        fwrite(e[i].data, 1, e[i].bytes, f);
    fclose(f);
    return path;
}

static void remove_st(char *path)
{
    unlink(path);
    free(path);
}

static const float av[6] = {1, 2, 3, 4, 5, 6}, bv[3] = {10, 20, 30};

/* -------------------------------------------------- C references --- */

static double gelu(double x)
{
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

/* out[t] = attention of q[t] (position pos[t]) over rows j < kv_len, j <=
 * pos[t] of k and v ([S][D], one head). */
static void attention_ref(const float *q, int T, const int32_t *pos, const float *k,
                          const float *v, int kv_len, int D, double scale, double *out)
{
    for (int t = 0; t < T; t++) {
        double w[64], m = -INFINITY, sum = 0;
        int hi = pos[t] + 1 < kv_len ? pos[t] + 1 : kv_len;
        for (int j = 0; j < hi; j++) {
            double dot = 0;
            for (int d = 0; d < D; d++)
                dot += (double)q[t * D + d] * k[j * D + d];
            w[j] = dot * scale;
            m = fmax(m, w[j]);
        }
        for (int j = 0; j < hi; j++)
            sum += (w[j] = exp(w[j] - m));
        for (int d = 0; d < D; d++) {
            double acc = 0;
            for (int j = 0; j < hi; j++)
                acc += w[j] / sum * v[j * D + d];
            out[t * D + d] = acc;
        }
    }
}

/* ------------------------------------------------------------- MLP --- */

enum { MB = 2, MI = 4, MH = 8, MO = 3 };

static plinth_program *mlp_program(void)
{
    plinth_graph *g = graph();
    plinth_node x = plinth_input(g, "x", PLINTH_F32, 2, (int64_t[]){MB, MI});
    plinth_node w1 = plinth_param(g, "w1", PLINTH_F32, 2, (int64_t[]){MH, MI});
    plinth_node w2 = plinth_param(g, "w2", PLINTH_F32, 2, (int64_t[]){MO, MH});
    plinth_node h = plinth_gelu_tanh(g, plinth_matmul(g, x, w1, true));
    OKC(plinth_output(g, plinth_matmul(g, h, w2, true), "y"));
    return compile(g);
}

static void mlp_ref(const float *x, const float *w1, const float *w2, double *y)
{
    for (int b = 0; b < MB; b++) {
        double h[MH];
        for (int j = 0; j < MH; j++) {
            double acc = 0;
            for (int i = 0; i < MI; i++)
                acc += (double)x[b * MI + i] * w1[j * MI + i];
            h[j] = gelu(acc);
        }
        for (int o = 0; o < MO; o++) {
            double acc = 0;
            for (int j = 0; j < MH; j++)
                acc += h[j] * w2[o * MH + j];
            y[b * MO + o] = acc;
        }
    }
}

Test(executor, mlp_with_set_param)
{
    plinth_program *p = mlp_program();
    OKC(plinth_model_load_empty(model));
    float x[MB * MI], w1[MH * MI], w2[MO * MH], y[MB * MO];
    double want[MB * MO];
    fill(x, MB * MI, 1);
    fill(w1, MH * MI, 2);
    fill(w2, MO * MH, 3);

    /* Params are zero until set. */
    set_input(p, "x", x, sizeof x);
    OKC(plinth_program_run(p));
    get_output(p, "y", y, sizeof y);
    for (int i = 0; i < MB * MO; i++)
        cr_assert_eq(y[i], 0.0f, "y[%d] = %g before the params were set", i, y[i]);

    OKC(plinth_model_set_param(model, "w1", w1, sizeof w1));
    OKC(plinth_model_set_param(model, "w2", w2, sizeof w2));
    OKC(plinth_program_run(p));
    get_output(p, "y", y, sizeof y);
    mlp_ref(x, w1, w2, want);
    expect_close(y, want, MB * MO, 1e-5);

    /* Runs repeat: a new input, the same program. */
    fill(x, MB * MI, 4);
    set_input(p, "x", x, sizeof x);
    OKC(plinth_program_run(p));
    get_output(p, "y", y, sizeof y);
    mlp_ref(x, w1, w2, want);
    expect_close(y, want, MB * MO, 1e-5);
}

Test(executor, set_param_errors)
{
    mlp_program();
    float w1[MH * MI] = {0};
    expect_error(plinth_model_set_param(model, "w1", w1, sizeof w1), "load", NULL);
    OKC(plinth_model_load_empty(model));
    expect_error(plinth_model_set_param(model, "w1", w1, sizeof w1 - 4), "w1", "124");
    expect_error(plinth_model_set_param(model, "nope", w1, sizeof w1), "nope", NULL);
}

/* ---------------------------------------------------- broadcasting --- */

Test(executor, elementwise_chain_with_broadcasting)
{
    plinth_graph *g = graph();
    const float c[3] = {1.5f, -2.0f, 0.25f};
    const float d[2] = {2.0f, 4.0f};
    plinth_node a = plinth_input(g, "a", PLINTH_F32, 3, (int64_t[]){2, 3, 4});
    plinth_node b = plinth_input(g, "b", PLINTH_F32, 1, (int64_t[]){4});
    plinth_node nc = plinth_constant(g, "c", PLINTH_F32, 2, (int64_t[]){3, 1}, c);
    plinth_node nd = plinth_constant(g, "d", PLINTH_F32, 3, (int64_t[]){2, 1, 1}, d);
    plinth_node y = plinth_mul(g, plinth_add(g, a, b), nc);
    y = plinth_div(g, plinth_sub(g, y, plinth_scale(g, a, 0.5f)), nd);
    OKC(plinth_output(g, y, "y"));
    plinth_program *p = compile(g);
    OKC(plinth_model_load_empty(model));

    float a_val[24], b_val[4], out[24];
    double want[24];
    fill(a_val, 24, 5);
    fill(b_val, 4, 6);
    set_input(p, "a", a_val, sizeof a_val);
    set_input(p, "b", b_val, sizeof b_val);
    OKC(plinth_program_run(p));
    get_output(p, "y", out, sizeof out);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++) {
                int e = (i * 3 + j) * 4 + k;
                want[e] = (((double)a_val[e] + b_val[k]) * c[j] - 0.5 * a_val[e]) / d[i];
            }
    expect_close(out, want, 24, 1e-6);
}

/* ----------------------------------------------------------- folds --- */

static void rms_ref(const float *x, const float *w, int rows, int n, double *out)
{
    for (int r = 0; r < rows; r++) {
        double ss = 0;
        for (int i = 0; i < n; i++)
            ss += (double)x[r * n + i] * x[r * n + i];
        double inv = 1.0 / sqrt(ss / n + 1e-6);
        for (int i = 0; i < n; i++)
            out[r * n + i] = x[r * n + i] * inv * (1.0 + w[i]);
    }
}

Test(executor, folded_norm_weight_refolds_on_set_param)
{
    plinth_graph *g = graph();
    const float one = 1.0f;
    plinth_node x = plinth_input(g, "x", PLINTH_F32, 2, (int64_t[]){2, 8});
    plinth_node w = plinth_param(g, "norm.weight", PLINTH_F32, 1, (int64_t[]){8});
    plinth_node w1 = plinth_add(g, w, plinth_constant(g, "one", PLINTH_F32, 1, (int64_t[]){1},
                                                      &one));
    OKC(plinth_output(g, plinth_rms_norm(g, x, w1, 1e-6f), "y"));
    plinth_program *p = compile(g);

    plinth_plan_stats st = {.struct_size = sizeof st};
    OKC(plinth_program_plan_stats(p, &st));
    cr_expect_geq(st.n_fold_instructions, 1, "1 + w should be folded at load");

    OKC(plinth_model_load_empty(model));
    float xv[16], wv[8], y[16];
    double want[16];
    fill(xv, 16, 7);
    fill(wv, 8, 8);
    set_input(p, "x", xv, sizeof xv);

    /* w = 0 after load_empty: the fold already gave 1 + 0. */
    const float zero[8] = {0};
    OKC(plinth_program_run(p));
    get_output(p, "y", y, sizeof y);
    rms_ref(xv, zero, 2, 8, want);
    expect_close(y, want, 16, 1e-5);

    OKC(plinth_model_set_param(model, "norm.weight", wv, sizeof wv));
    OKC(plinth_program_run(p));
    get_output(p, "y", y, sizeof y);
    rms_ref(xv, wv, 2, 8, want);
    expect_close(y, want, 16, 1e-5);

    fill(wv, 8, 9);
    OKC(plinth_model_set_param(model, "norm.weight", wv, sizeof wv));
    OKC(plinth_program_run(p));
    get_output(p, "y", y, sizeof y);
    rms_ref(xv, wv, 2, 8, want);
    expect_close(y, want, 16, 1e-5);
}

Test(executor, unfolded_norm_weight_matches)
{
    /* The same graph with folding off: 1 + w runs in every run instead. */
    plinth_graph *g = graph();
    const float one = 1.0f;
    plinth_node x = plinth_input(g, "x", PLINTH_F32, 2, (int64_t[]){2, 8});
    plinth_node w = plinth_param(g, "norm.weight", PLINTH_F32, 1, (int64_t[]){8});
    plinth_node w1 = plinth_add(g, w, plinth_constant(g, "one", PLINTH_F32, 1, (int64_t[]){1},
                                                      &one));
    OKC(plinth_output(g, plinth_rms_norm(g, x, w1, 1e-6f), "y"));
    const plinth_compile_options opts = {.struct_size = sizeof opts, .no_fold = true,
                                         .no_inplace = true};
    plinth_program *p = NULL;
    plinth_status s = plinth_program_compile(model, g, &opts, &p);
    plinth_graph_destroy(g);
    OKC(s);
    plinth_plan_stats st = {.struct_size = sizeof st};
    OKC(plinth_program_plan_stats(p, &st));
    cr_assert_eq(st.n_fold_instructions, 0);

    OKC(plinth_model_load_empty(model));
    float xv[16], wv[8], y[16];
    double want[16];
    fill(xv, 16, 17);
    fill(wv, 8, 18);
    OKC(plinth_model_set_param(model, "norm.weight", wv, sizeof wv));
    set_input(p, "x", xv, sizeof xv);
    OKC(plinth_program_run(p));
    get_output(p, "y", y, sizeof y);
    rms_ref(xv, wv, 2, 8, want);
    expect_close(y, want, 16, 1e-5);
}

/* ------------------------------------------------- shared KV state --- */

enum { KS = 8, KD = 4 };

/* T tokens: writes x into k rows and 2x into v rows at pos, then attends.
 * Outputs "out" [T, 1, D] and "k_rows" (rows 0..2 of k after the write). */
static plinth_program *kv_program(int T)
{
    static const int32_t rows[3] = {0, 1, 2};
    plinth_graph *g = graph();
    plinth_node x = plinth_input(g, "x", PLINTH_F32, 2, (int64_t[]){T, KD});
    plinth_node pos = plinth_input(g, "pos", PLINTH_I32, 1, (int64_t[]){T});
    plinth_node kv_len = plinth_input(g, "kv_len", PLINTH_I32, 1, (int64_t[]){1});
    plinth_node kc = plinth_state(g, "k_cache", PLINTH_F32, 2, (int64_t[]){KS, KD});
    plinth_node vc = plinth_state(g, "v_cache", PLINTH_F32, 2, (int64_t[]){KS, KD});
    plinth_node k = plinth_set_rows(g, kc, x, pos);
    plinth_node v = plinth_set_rows(g, vc, plinth_scale(g, x, 2.0f), pos);
    plinth_node q = plinth_reshape(g, x, 3, (int64_t[]){T, 1, KD});
    plinth_node att = plinth_attention(g, q, plinth_reshape(g, k, 3, (int64_t[]){KS, 1, KD}),
                                       plinth_reshape(g, v, 3, (int64_t[]){KS, 1, KD}), pos,
                                       kv_len, 0.5f, 0);
    OKC(plinth_output(g, att, "out"));
    plinth_node idx = plinth_constant(g, "rows", PLINTH_I32, 1, (int64_t[]){3}, rows);
    OKC(plinth_output(g, plinth_get_rows(g, k, idx, PLINTH_F32), "k_rows"));
    return compile(g);
}

static void kv_run(plinth_program *p, const float *x, int T, const int32_t *pos, int32_t kv_len)
{
    set_input(p, "x", x, (size_t)T * KD * sizeof(float));
    set_input(p, "pos", pos, (size_t)T * sizeof(int32_t));
    set_input(p, "kv_len", &kv_len, sizeof kv_len);
    OKC(plinth_program_run(p));
}

Test(executor, prefill_and_decode_share_state)
{
    plinth_program *prefill = kv_program(2);
    plinth_program *decode = kv_program(1);
    OKC(plinth_model_load_empty(model));

    float kx[3 * KD], vx[3 * KD], out[2 * KD], krows[3 * KD];
    double want[2 * KD];
    fill(kx, 3 * KD, 10);
    for (int i = 0; i < 3 * KD; i++)
        vx[i] = 2.0f * kx[i];

    const int32_t pos_a[2] = {0, 1};
    kv_run(prefill, kx, 2, pos_a, 2);
    get_output(prefill, "out", out, 2 * KD * sizeof(float));
    attention_ref(kx, 2, pos_a, kx, vx, 2, KD, 0.5, want);
    expect_close(out, want, 2 * KD, 1e-5);

    /* Decode sees the rows prefill wrote, plus its own. */
    const int32_t pos_b[1] = {2};
    kv_run(decode, kx + 2 * KD, 1, pos_b, 3);
    get_output(decode, "k_rows", krows, sizeof krows);
    for (int i = 0; i < 3 * KD; i++)
        cr_assert_eq(krows[i], kx[i], "k row %d, element %d", i / KD, i % KD);
    get_output(decode, "out", out, KD * sizeof(float));
    attention_ref(kx + 2 * KD, 1, pos_b, kx, vx, 3, KD, 0.5, want);
    expect_close(out, want, KD, 1e-5);

    plinth_plan_stats a = {.struct_size = sizeof a}, b = {.struct_size = sizeof b};
    OKC(plinth_program_plan_stats(prefill, &a));
    OKC(plinth_program_plan_stats(decode, &b));
    cr_assert_eq(a.state_bytes, b.state_bytes);
    cr_assert_geq(a.state_bytes, 2 * KS * KD * sizeof(float));
}

Test(executor, reset_state_zeroes_the_cache)
{
    plinth_program *prefill = kv_program(2);
    plinth_program *decode = kv_program(1);
    expect_error(plinth_model_reset_state(model), "load", NULL);
    OKC(plinth_model_load_empty(model));

    float kx[3 * KD], krows[3 * KD];
    fill(kx, 3 * KD, 11);
    const int32_t pos_a[2] = {0, 1}, pos_b[1] = {2};
    kv_run(prefill, kx, 2, pos_a, 2);
    OKC(plinth_model_reset_state(model));
    kv_run(decode, kx + 2 * KD, 1, pos_b, 3);
    get_output(decode, "k_rows", krows, sizeof krows);
    for (int i = 0; i < 2 * KD; i++)
        cr_assert_eq(krows[i], 0.0f, "row %d survived reset_state", i / KD);
    for (int i = 2 * KD; i < 3 * KD; i++)
        cr_assert_eq(krows[i], kx[i]);
}

Test(executor, kernel_error_names_instruction_and_op)
{
    plinth_program *decode = kv_program(1);
    OKC(plinth_model_load_empty(model));
    float x[KD];
    fill(x, KD, 12);
    const int32_t pos[1] = {0}, kv_len = KS + 1;
    set_input(decode, "x", x, sizeof x);
    set_input(decode, "pos", pos, sizeof pos);
    set_input(decode, "kv_len", &kv_len, sizeof kv_len);
    expect_error(plinth_program_run(decode), "instruction", "attention");
}

/* ------------------------------------------------------ API errors --- */

Test(executor, set_input_size_mismatch)
{
    plinth_program *p = mlp_program();
    OKC(plinth_model_load_empty(model));
    float x[MB * MI + 1] = {0};
    expect_error(plinth_program_set_input(p, 0, x, sizeof x), "'x'", "36");
    cr_assert(strstr(plinth_context_error(ctx), "32"), "%s", plinth_context_error(ctx));
    expect_error(plinth_program_set_input(p, 7, x, 32), "input", NULL);
    float y[MB * MO + 1];
    expect_error(plinth_program_get_output(p, 0, y, sizeof y), "'y'", "24");
}

Test(executor, run_before_load)
{
    plinth_program *p = mlp_program();
    expect_error(plinth_program_run(p), "load the model before running", NULL);
}

Test(executor, compile_after_load)
{
    mlp_program();
    OKC(plinth_model_load_empty(model));
    plinth_graph *g = graph();
    plinth_node x = plinth_input(g, "x", PLINTH_F32, 1, (int64_t[]){4});
    OKC(plinth_output(g, plinth_scale(g, x, 2.0f), "y"));
    plinth_program *p = NULL;
    plinth_status s = plinth_program_compile(model, g, NULL, &p);
    plinth_graph_destroy(g);
    expect_error(s, "loaded", NULL);
    cr_assert_null(p);
}

Test(executor, conflicting_param_declarations)
{
    mlp_program();
    plinth_graph *g = graph();
    plinth_node w = plinth_param(g, "w1", PLINTH_BF16, 2, (int64_t[]){MH, MI});
    OKC(plinth_output(g, plinth_cast(g, w, PLINTH_F32), "y"));
    plinth_program *p = NULL;
    plinth_status s = plinth_program_compile(model, g, NULL, &p);
    plinth_graph_destroy(g);
    expect_error(s, "w1", "bf16");
}

Test(executor, io_info_and_plan)
{
    plinth_program *p = mlp_program();
    cr_assert_eq(plinth_program_input_count(p), 1);
    cr_assert_eq(plinth_program_output_count(p), 1);
    cr_assert_eq(plinth_program_input_index(p, "x"), 0);
    cr_assert_eq(plinth_program_input_index(p, "nope"), -1);
    cr_assert_eq(plinth_program_output_index(p, "y"), 0);
    plinth_node_info info = {.struct_size = sizeof info};
    OKC(plinth_program_input_info(p, 0, &info));
    cr_assert_str_eq(info.name, "x");
    cr_assert_eq(info.dtype, PLINTH_F32);
    cr_assert_eq(info.ndim, 2);
    cr_assert_eq(info.shape[0], MB);
    cr_assert_eq(info.shape[1], MI);
    OKC(plinth_program_output_info(p, 0, &info));
    cr_assert_str_eq(info.name, "y");
    cr_assert_eq(info.shape[1], MO);
    cr_assert_neq(plinth_program_output_info(p, 1, &info), PLINTH_OK);

    const char *json = NULL;
    OKC(plinth_program_plan_json(p, &json));
    cr_assert(json && (json[0] == '{' || json[0] == '['), "%s", json ? json : "(null)");

    OKC(plinth_model_load_empty(model));
    plinth_plan_stats st = {.struct_size = sizeof st};
    OKC(plinth_program_plan_stats(p, &st));
    cr_assert_geq(st.n_instructions, 3);
    cr_assert_geq(st.persistent_bytes, (MH * MI + MO * MH) * sizeof(float));
    cr_assert_geq(st.arena_bytes, st.lower_bound);
}

Test(executor, destroy_programs_in_any_order)
{
    plinth_program *a = mlp_program();
    plinth_program *b = kv_program(1);
    plinth_program *c = kv_program(2);
    plinth_program_destroy(b);
    plinth_program_destroy(NULL);
    OKC(plinth_model_load_empty(model));
    float x[MB * MI] = {1}, y[MB * MO];
    set_input(a, "x", x, sizeof x);
    OKC(plinth_program_run(a));
    get_output(a, "y", y, sizeof y);
    float kx[2 * KD];
    fill(kx, 2 * KD, 13);
    kv_run(c, kx, 2, (const int32_t[]){0, 1}, 2);
    plinth_program_destroy(a);
    /* c stays: the model destroys it. */
    plinth_model_destroy(NULL);
}

Test(executor, reload_after_failure_and_twice)
{
    plinth_program *p = mlp_program();
    st_entry e[1] = {{"other", "F32", 1, {3}, bv, sizeof bv}};
    char *bad = write_st(e, 1);
    expect_error(plinth_model_load_safetensors(model, bad, NULL), "missing", NULL);
    remove_st(bad);
    expect_error(plinth_program_run(p), "load the model", NULL);
    OKC(plinth_model_load_empty(model));
    OKC(plinth_model_load_empty(model));
    float w1[MH * MI], w2[MO * MH], x[MB * MI], y[MB * MO];
    double want[MB * MO];
    fill(w1, MH * MI, 14);
    fill(w2, MO * MH, 15);
    fill(x, MB * MI, 16);
    OKC(plinth_model_set_param(model, "w1", w1, sizeof w1));
    OKC(plinth_model_set_param(model, "w2", w2, sizeof w2));
    set_input(p, "x", x, sizeof x);
    OKC(plinth_program_run(p));
    get_output(p, "y", y, sizeof y);
    mlp_ref(x, w1, w2, want);
    expect_close(y, want, MB * MO, 1e-5);
}

/* ------------------------------------------------ safetensors load --- */

/* y = a + b with params a [2, 3], b [3]. */
static plinth_program *ab_program(void)
{
    plinth_graph *g = graph();
    plinth_node a = plinth_param(g, "layer.a", PLINTH_F32, 2, (int64_t[]){2, 3});
    plinth_node b = plinth_param(g, "layer.b", PLINTH_F32, 1, (int64_t[]){3});
    OKC(plinth_output(g, plinth_add(g, a, b), "y"));
    return compile(g);
}

static double last_progress = -1;
static int n_progress;
static void progress(void *user, double fraction)
{
    (void)user;
    cr_assert(fraction >= last_progress && fraction <= 1.0, "progress %g after %g", fraction,
              last_progress);
    last_progress = fraction;
    n_progress++;
}

Test(executor, load_safetensors)
{
    plinth_program *p = ab_program();
    st_entry e[2] = {
        {"layer.b", "F32", 1, {3}, bv, sizeof bv},
        {"layer.a", "F32", 2, {2, 3}, av, sizeof av},
    };
    char *path = write_st(e, 2);
    const plinth_load_options opts = {.struct_size = sizeof opts, .progress = progress};
    OKC(plinth_model_load_safetensors(model, path, &opts));
    remove_st(path);
    cr_assert_eq(last_progress, 1.0);
    cr_assert_geq(n_progress, 2);
    OKC(plinth_program_run(p));
    float y[6];
    get_output(p, "y", y, sizeof y);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(y[i], av[i] + bv[i % 3]);
}

Test(executor, load_lists_every_missing_tensor)
{
    plinth_graph *g = graph();
    plinth_node acc = plinth_param(g, "layer.a", PLINTH_F32, 1, (int64_t[]){3});
    const char *names[] = {"m.first", "m.second", "m.third"};
    for (int i = 0; i < 3; i++)
        acc = plinth_add(g, acc, plinth_param(g, names[i], PLINTH_F32, 1, (int64_t[]){3}));
    OKC(plinth_output(g, acc, "y"));
    compile(g);
    st_entry e[1] = {{"layer.a", "F32", 1, {3}, bv, sizeof bv}};
    char *path = write_st(e, 1);
    plinth_status s = plinth_model_load_safetensors(model, path, NULL);
    expect_error(s, "3 tensors missing from", path);
    remove_st(path);
    for (int i = 0; i < 3; i++)
        cr_assert(strstr(plinth_context_error(ctx), names[i]), "%s", plinth_context_error(ctx));
}

Test(executor, load_wrong_shape)
{
    ab_program();
    st_entry e[2] = {
        {"layer.a", "F32", 2, {3, 2}, av, sizeof av},
        {"layer.b", "F32", 1, {3}, bv, sizeof bv},
    };
    char *path = write_st(e, 2);
    expect_error(plinth_model_load_safetensors(model, path, NULL), "[3, 2]", "[2, 3]");
    cr_assert(strstr(plinth_context_error(ctx), "layer.a"));
    remove_st(path);
}

Test(executor, load_wrong_dtype)
{
    ab_program();
    const uint16_t half[6] = {0x3f80, 0x4000, 0x4040, 0x4080, 0x40a0, 0x40c0};
    st_entry e[2] = {
        {"layer.a", "BF16", 2, {2, 3}, half, sizeof half},
        {"layer.b", "F32", 1, {3}, bv, sizeof bv},
    };
    char *path = write_st(e, 2);
    expect_error(plinth_model_load_safetensors(model, path, NULL), "bf16", "f32");
    cr_assert(strstr(plinth_context_error(ctx), "layer.a"));
    remove_st(path);

    const int64_t big[3] = {10, 20, 30};
    st_entry f[2] = {
        {"layer.a", "F32", 2, {2, 3}, av, sizeof av},
        {"layer.b", "I64", 1, {3}, big, sizeof big},
    };
    path = write_st(f, 2);
    expect_error(plinth_model_load_safetensors(model, path, NULL), "I64", "layer.b");
    remove_st(path);
}

Test(executor, report_unused_tensors)
{
    ab_program();
    const float extra[2] = {7, 8};
    st_entry e[3] = {
        {"layer.a", "F32", 2, {2, 3}, av, sizeof av},
        {"zzz.unused", "F32", 1, {2}, extra, sizeof extra},
        {"layer.b", "F32", 1, {3}, bv, sizeof bv},
    };
    char *path = write_st(e, 3);
    logged[0] = '\0';
    const plinth_load_options quiet = {.struct_size = sizeof quiet};
    OKC(plinth_model_load_safetensors(model, path, &quiet));
    cr_assert_null(strstr(logged, "zzz.unused"), "reported without report_unused: %s", logged);
    const plinth_load_options opts = {.struct_size = sizeof opts, .report_unused = true};
    OKC(plinth_model_load_safetensors(model, path, &opts));
    remove_st(path);
    cr_assert(strstr(logged, "zzz.unused"), "log: %s", logged);
    cr_assert_null(strstr(logged, "'layer.a'"), "log: %s", logged);
}

/* ------------------------------------------------------ golden file --- */

/* The test data folder, found from this source file's path (meson gives
 * __FILE__ relative to the build root, three levels above this binary). */
static char *data_path(const char *rel)
{
    char src[PATH_MAX * 2];
    if (__FILE__[0] == '/') {
        snprintf(src, sizeof src, "%s", __FILE__);
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        cr_assert_gt(n, 0);
        exe[n] = '\0';
        for (int up = 0; up < 3; up++) {
            char *slash = strrchr(exe, '/');
            cr_assert(slash);
            *slash = '\0';
        }
        snprintf(src, sizeof src, "%s/%s", exe, __FILE__);
    }
    *strrchr(src, '/') = '\0'; /* tests/unit */
    char joined[PATH_MAX * 3];
    snprintf(joined, sizeof joined, "%s/../data/%s", src, rel);
    char *real = realpath(joined, NULL);
    cr_assert(real, "cannot find %s", joined);
    return real;
}

Test(executor, golden_embedding_rows)
{
    plinth_graph *g = graph();
    plinth_node table =
        plinth_param(g, "model.embed_tokens.weight", PLINTH_F32, 2, (int64_t[]){512, 64});
    plinth_node ids = plinth_input(g, "ids", PLINTH_I32, 1, (int64_t[]){4});
    OKC(plinth_output(g, plinth_get_rows(g, table, ids, PLINTH_F32), "rows"));
    plinth_program *p = compile(g);

    char *path = data_path("gemma3-tiny-a/model.safetensors");
    const plinth_load_options opts = {.struct_size = sizeof opts, .report_unused = true};
    OKC(plinth_model_load_safetensors(model, path, &opts));
    cr_assert(strstr(logged, "model.norm.weight"), "unused tensors not reported: %s", logged);

    const int32_t id[4] = {0, 2, 300, 511};
    set_input(p, "ids", id, sizeof id);
    OKC(plinth_program_run(p));
    float rows[4 * 64];
    get_output(p, "rows", rows, sizeof rows);

    /* The raw bytes: the header says the table is the first tensor. */
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    unsigned char le[8];
    cr_assert_eq(fread(le, 1, 8, f), 8);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | le[i];
    char *header = calloc(1, hlen + 1);
    cr_assert_eq(fread(header, 1, hlen, f), hlen);
    char *entry = strstr(header, "\"model.embed_tokens.weight\"");
    cr_assert(entry);
    char *offs = strstr(entry, "\"data_offsets\"");
    cr_assert(offs);
    unsigned long long start = 0;
    cr_assert_eq(sscanf(strchr(offs, '[') + 1, "%llu", &start), 1);
    free(header);
    for (int r = 0; r < 4; r++) {
        float want[64];
        cr_assert_eq(fseek(f, (long)(8 + hlen + start + (uint64_t)id[r] * 64 * 4), SEEK_SET), 0);
        cr_assert_eq(fread(want, sizeof(float), 64, f), 64);
        cr_assert_eq(memcmp(&rows[r * 64], want, sizeof want), 0, "row of id %d", id[r]);
    }
    fclose(f);
    free(path);
}
