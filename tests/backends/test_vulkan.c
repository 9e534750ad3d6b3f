/*
 * test_vulkan.c — the vulkan plugin against ref, op by op, and the
 * whole-program path, with the Khronos validation layer on.
 *
 * Both plugins are opened through the public API (PLINTH_TEST_REF,
 * PLINTH_TEST_VULKAN) in one context. Every case runs through the
 * conformance harness (conf_run_case): the same inputs on both, the output
 * poisoned with NaN (every element must be written), guard bytes around it
 * and the inputs checked unchanged, the suite's NMSE bound for the op. The
 * program checks compile one graph on vulkan and on ref (conf_pair): the
 * patterns prepare fuses must give ref's results, and the plugin's own
 * account of its program ("program of N instructions: M dispatches", a
 * debug line on the context's log) shows the fusion happened. Any
 * validation message fails the test: the plugin turns it into an error
 * status, and device_close logs it as an error, which the log callback
 * counts.
 *
 * Sections: context and log; layouts; the cases; the program path; refusals.
 */
#include "backend_test.h"

#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------- context, log --- */

static int g_log_errors;
static char g_last_log[1024];
static char g_last_program[256]; /* the last "program of ..." debug line */

static void on_log(void *user, int level, const char *msg)
{
    (void)user;
    if (strstr(msg, "program of "))
        snprintf(g_last_program, sizeof g_last_program, "%s", msg);
    if (level <= PLINTH_LOG_WARN) {
        g_log_errors++;
        snprintf(g_last_log, sizeof g_last_log, "%s", msg);
    }
}

static plinth_context *ctx;
static plinth_backend *ref, *vk;

static void setup_with(const char *config)
{
    g_log_errors = 0;
    plinth_context_options o = {.struct_size = sizeof o, .log = on_log,
                                .log_level = PLINTH_LOG_DEBUG};
    cr_assert_eq(plinth_context_create(&o, &ctx), PLINTH_OK);
    ref = bt_open_or_fail(ctx, "PLINTH_TEST_REF", NULL);
    vk = bt_open_or_fail(ctx, "PLINTH_TEST_VULKAN", config);
}

static void setup(void)
{
    setup_with("validation=1");
}

static void teardown(void)
{
    plinth_backend_close(vk);
    plinth_backend_close(ref);
    plinth_context_destroy(ctx);
    vk = ref = NULL;
    ctx = NULL;
    cr_expect_eq(g_log_errors, 0, "plugin logged %d warnings/errors, last: %s", g_log_errors,
                 g_last_log);
}

/* ------------------------------------------------------------- layouts --- */

enum layout { DENSE, STRIDED, PERMUTED };

#define F32 PLINTH_F32
#define F16 PLINTH_F16
#define BF16 PLINTH_BF16
#define I32 PLINTH_I32

/* A tensor of rank `rank` (the last `rank` of d0..d3; the others are 1),
 * values uniform in ±[0, 2), laid out as:
 *   DENSE     row-major;
 *   STRIDED   every element two apart, rows 3 elements longer still;
 *   PERMUTED  the last two dims swapped in memory. */
static conf_tensor V(int32_t dt, int rank, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                     int layout)
{
    const int64_t s4[4] = {d0, d1, d2, d3};
    for (int d = 0; d < 4 - rank; d++)
        cr_assert_eq(s4[d], 1, "dim %d of a rank-%d tensor", d, rank);
    conf_tensor t = conf_gen(conf_dense(dt, rank, s4 + 4 - rank), CONF_GEN_UNIFORM, 0, 2);
    if (layout == PERMUTED)
        return conf_transposed(t);
    if (layout == STRIDED) {
        int64_t st[4];
        st[3] = 2;
        st[2] = 2 * (t.shape[3] ? t.shape[3] : 1) + 3;
        st[1] = st[2] * (t.shape[2] ? t.shape[2] : 1);
        st[0] = st[1] * (t.shape[1] ? t.shape[1] : 1);
        return conf_strided(t, st, 0);
    }
    return t;
}

/* i32: small integers in ±1000; positions first..; one value. */
static conf_tensor small_int(conf_tensor t)
{
    return conf_gen(t, CONF_GEN_INT, -1000, 1000);
}

static conf_tensor positions(int64_t n, int64_t first)
{
    return conf_gen(CONF_DENSE(I32, n), CONF_GEN_ARANGE, (double)first, 0);
}

static conf_tensor value(int64_t v)
{
    return conf_gen(CONF_DENSE(I32, 1), CONF_GEN_CONST, (double)v, 0);
}

static void check(uint32_t op, uint32_t n_in, const conf_tensor *in, conf_tensor out,
                  plinth_attrs attrs, uint32_t flags, const char *where)
{
    conf_case c;
    conf_case_make(&c, op, n_in, in, &out, &attrs, flags, NULL);
    bt_check_case(ref, vk, &c, where);
}

/* ----------------------------------------------------------- the cases --- */

static const int32_t float_dts[] = {F32, F16, BF16};
static const int64_t odd[] = {1, 7, 33, 257};
static const plinth_attrs none = {{0}};

TestSuite(vulkan, .init = setup, .fini = teardown, .timeout = 240);

Test(vulkan, binary)
{
    const uint32_t ops[] = {PLINTH_OP_ADD, PLINTH_OP_SUB, PLINTH_OP_MUL, PLINTH_OP_DIV};
    const int32_t dts[] = {F32, F16, BF16, I32};
    for (int o = 0; o < 4; o++)
        for (int t = 0; t < 4; t++)
            for (int s = 0; s < 4; s++) {
                const int32_t dt = dts[t];
                const int64_t n = odd[s];
                conf_tensor in[2] = {V(dt, 3, 1, 2, 3, n, s % 3),
                                     V(dt, 3, 1, 1, 3, s == 2 ? 1 : n, s == 3 ? PERMUTED : DENSE)};
                if (dt == I32)
                    in[0] = small_int(in[0]), in[1] = small_int(in[1]);
                check(ops[o], 2, in, V(dt, 3, 1, 2, 3, n, DENSE), none, 0, "validation=1");
            }
}

Test(vulkan, unary)
{
    const uint32_t ops[] = {PLINTH_OP_SCALE, PLINTH_OP_GELU_TANH, PLINTH_OP_SILU};
    const plinth_attrs scale = {.scale = {0.37f}};
    for (int o = 0; o < 3; o++)
        for (int t = 0; t < 3; t++)
            for (int s = 0; s < 4; s++) {
                const conf_tensor in = V(float_dts[t], 2, 1, 1, 5, odd[s], s % 3);
                check(ops[o], 1, &in, V(float_dts[t], 2, 1, 1, 5, odd[s], s == 3 ? STRIDED : DENSE),
                      scale, 0, "validation=1");
            }
}

Test(vulkan, rows)
{
    for (int t = 0; t < 3; t++)
        for (int s = 0; s < 4; s++) {
            const int32_t dt = float_dts[t];
            const int64_t n = odd[s];
            const conf_tensor out = V(dt, 3, 1, 2, 3, n, DENSE);
            conf_tensor in[2] = {V(dt, 3, 1, 2, 3, n, s % 3),
                                 V(float_dts[(t + s) % 3], 1, 1, 1, 1, n, DENSE)};
            const plinth_attrs eps = {.rms_norm = {1e-6f}};
            check(PLINTH_OP_RMS_NORM, 2, in, out, eps, 0, "validation=1");
            check(PLINTH_OP_RMS_NORM, 1, in, out, eps, 0, "validation=1");
            in[1] = V(F32, 2, 1, 1, 3, n, DENSE);
            const plinth_attrs sm = {.softmax = {0.7f}};
            check(PLINTH_OP_SOFTMAX, 2, in, out, sm, 0, "validation=1");
            check(PLINTH_OP_SOFTMAX, 1, in, out, sm, 0, "validation=1");
            check(PLINTH_OP_ARGMAX, 1, in, CONF_DENSE(I32, 2, 3), none, 0, "validation=1");
        }
}

Test(vulkan, matmul)
{
    /* (M, K, N): decode rows, odd sizes, vec4-able sizes. */
    const int64_t mkn[][3] = {{1, 7, 33}, {1, 64, 257}, {2, 33, 7}, {7, 257, 33},
                              {33, 64, 65}, {65, 16, 70}, {1, 256, 64}, {3, 128, 128}};
    for (int i = 0; i < 8; i++)
        for (int t = 0; t < 3; t++)
            for (int tb = 0; tb < 2; tb++) {
                const int64_t m = mkn[i][0], k = mkn[i][1], n = mkn[i][2];
                conf_tensor in[2] = {
                    V(F32, 2, 1, 1, m, k, i == 3 ? PERMUTED : DENSE),
                    tb ? V(float_dts[t], 2, 1, 1, n, k, i == 4 ? STRIDED : DENSE)
                       : V(float_dts[t], 2, 1, 1, k, n, DENSE)};
                check(PLINTH_OP_MATMUL, 2, in, V(F32, 2, 1, 1, m, n, DENSE),
                      (plinth_attrs){.matmul = {.transpose_b = tb}}, 0, "validation=1");
            }
    /* batched with broadcast, and f16/bf16 activations */
    conf_tensor in[2] = {V(F32, 4, 2, 3, 5, 12, DENSE), V(F32, 4, 1, 3, 9, 12, DENSE)};
    check(PLINTH_OP_MATMUL, 2, in, V(F32, 4, 2, 3, 5, 9, DENSE),
          (plinth_attrs){.matmul = {.transpose_b = 1}},
          0, "validation=1");
    for (int t = 1; t < 3; t++) {
        in[0] = V(float_dts[t], 2, 1, 1, 6, 12, DENSE);
        in[1] = V(F32, 2, 1, 1, 12, 10, DENSE);
        check(PLINTH_OP_MATMUL, 2, in, V(float_dts[t], 2, 1, 1, 6, 10, DENSE), none, 0,
              "validation=1");
    }
}

Test(vulkan, matmul_variants_other)
{
    /* The other variants (register blocking, a row per invocation) on this
     * device too, so both paths are checked wherever the suite runs. */
    teardown();
    const char *cfg = "validation=1,matmul=blocked,matvec=rows";
    setup_with(cfg);
    const int64_t mkn[][3] = {{1, 7, 33}, {1, 64, 257}, {33, 64, 65}, {70, 20, 3}};
    for (int i = 0; i < 4; i++)
        for (int t = 0; t < 3; t++) {
            const int64_t m = mkn[i][0], k = mkn[i][1], n = mkn[i][2];
            conf_tensor in[2] = {V(F32, 2, 1, 1, m, k, DENSE),
                                 i % 2 ? V(float_dts[t], 2, 1, 1, n, k, DENSE)
                                       : V(float_dts[t], 2, 1, 1, k, n, DENSE)};
            check(PLINTH_OP_MATMUL, 2, in, V(F32, 2, 1, 1, m, n, DENSE),
                  (plinth_attrs){.matmul = {.transpose_b = i % 2}}, 0, cfg);
        }
}

Test(vulkan, moves)
{
    const int32_t dts[] = {F32, F16, BF16, I32};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            conf_tensor x = V(dts[a], 2, 1, 1, 7, 33, (a + b) % 3);
            if (dts[a] == I32)
                x = small_int(x);
            check(PLINTH_OP_CAST, 1, &x, V(dts[b], 2, 1, 1, 7, 33, DENSE),
                  (plinth_attrs){.cast = {dts[b]}}, 0, "validation=1");
        }
    for (int a = 0; a < 4; a++) {
        /* [7,33] stored transposed, copied into a contiguous [33,7] */
        conf_tensor x = V(dts[a], 2, 1, 1, 7, 33, PERMUTED);
        if (dts[a] == I32)
            x = small_int(x);
        check(PLINTH_OP_COPY, 1, &x, V(dts[a], 2, 1, 1, 33, 7, DENSE), none, 0,
              "validation=1 (copy reshape)");
        /* 4-D axes 1..3 of [1,2,3,5]: logical axes 0..2 of [2,3,5] */
        const int axis = a % 3;
        int64_t sa[4] = {1, 2, 3, 5}, sb[4] = {1, 2, 3, 5}, so[4] = {1, 2, 3, 5};
        sb[axis + 1] = 4;
        so[axis + 1] += 4;
        conf_tensor in[2] = {V(dts[a], 3, sa[0], sa[1], sa[2], sa[3], STRIDED),
                             V(dts[a], 3, sb[0], sb[1], sb[2], sb[3], DENSE)};
        if (dts[a] == I32)
            in[0] = small_int(in[0]), in[1] = small_int(in[1]);
        check(PLINTH_OP_CONCAT, 2, in, V(dts[a], 3, so[0], so[1], so[2], so[3], DENSE),
              (plinth_attrs){.concat = {axis}}, 0, "validation=1");
    }
}

Test(vulkan, rows_io)
{
    for (int t = 0; t < 4; t++) {
        const int32_t dt = t < 3 ? float_dts[t] : I32;
        conf_tensor in[2] = {V(dt, 2, 1, 1, 257, 33, DENSE),
                             conf_gen(CONF_DENSE(I32, 7), CONF_GEN_INDEX, 0, 257)};
        if (dt == I32)
            in[0] = small_int(in[0]);
        check(PLINTH_OP_GET_ROWS, 2, in, V(dt, 2, 1, 1, 7, 33, DENSE),
              (plinth_attrs){.get_rows = {.dtype = dt}}, 0, "validation=1");
        if (t < 3)
            check(PLINTH_OP_GET_ROWS, 2, in, V(F32, 2, 1, 1, 7, 33, DENSE),
                  (plinth_attrs){.get_rows = {.dtype = F32}}, 0, "validation=1");
        in[0] = V(t == 3 ? dt : F32, 2, 1, 1, 7, 65, t == 1 ? STRIDED : DENSE);
        in[1] = conf_gen(CONF_DENSE(I32, 7), CONF_GEN_INDEX, 0, 33);
        if (dt == I32)
            in[0] = small_int(in[0]);
        check(PLINTH_OP_SET_ROWS, 2, in, V(dt, 2, 1, 1, 33, 65, DENSE), none, CONF_STATE_OUT,
              "validation=1");
    }
}

Test(vulkan, rope)
{
    for (int t = 0; t < 3; t++)
        for (int s = 0; s < 3; s++) {
            conf_tensor in[2] = {V(float_dts[t], 3, 1, 7, 3, 16, s), positions(7, 3 + 20 * s)};
            check(PLINTH_OP_ROPE, 2, in, V(float_dts[t], 3, 1, 7, 3, 16, DENSE),
                  (plinth_attrs){.rope = {s == 1 ? 1e6f : 10000.0f, s == 2 ? 8 : 16}}, 0,
                  "validation=1");
            /* rope_factors: the factors a third buffer, in 1..32 */
            const int n_dims = s == 2 ? 8 : 16;
            conf_tensor in3[3] = {in[0], in[1],
                                  conf_gen(CONF_DENSE(F32, n_dims / 2), CONF_GEN_INT, 1, 32)};
            check(PLINTH_OP_ROPE_FACTORS, 3, in3, V(float_dts[t], 3, 1, 7, 3, 16, DENSE),
                  (plinth_attrs){.rope = {s == 1 ? 500000.0f : 10000.0f, n_dims}}, 0,
                  "validation=1");
        }
}

Test(vulkan, attention)
{
    /* (T, S, kv_len, first pos, Hq, Hkv, D, window) */
    const int64_t cfg[][8] = {{1, 33, 20, 19, 4, 1, 64, 0},   {7, 70, 70, 63, 4, 2, 32, 0},
                              {5, 130, 100, 95, 2, 2, 16, 8}, {3, 257, 257, 254, 4, 1, 256, 0},
                              {1, 7, 7, 6, 1, 1, 33, 3},      {2, 9, 2, 0, 2, 1, 8, 0}};
    for (int i = 0; i < 6; i++)
        for (int t = 0; t < 3; t++) {
            const int64_t *f = cfg[i];
            conf_tensor in[5] = {V(F32, 3, 1, f[0], f[4], f[6], i == 1 ? PERMUTED : DENSE),
                                 V(float_dts[t], 3, 1, f[1], f[5], f[6], DENSE),
                                 V(float_dts[t], 3, 1, f[1], f[5], f[6], i == 2 ? STRIDED : DENSE),
                                 positions(f[0], f[3]), value(f[2])};
            check(PLINTH_OP_ATTENTION, 5, in, V(F32, 3, 1, f[0], f[4], f[6], DENSE),
                  (plinth_attrs){.attention = {1.0f / sqrtf((float)f[6]), (int32_t)f[7]}}, 0,
                  "validation=1");
        }
}

/* The staging path (pools not mapped, copies through a staging buffer), as
 * a discrete GPU without resizable BAR takes it. */
Test(vulkan, staging_memory)
{
    teardown();
    const char *cfg = "validation=1,memory=staging";
    setup_with(cfg);
    conf_tensor in[2] = {V(F32, 2, 1, 1, 7, 33, STRIDED), V(F32, 2, 1, 1, 1, 33, DENSE)};
    check(PLINTH_OP_ADD, 2, in, V(F32, 2, 1, 1, 7, 33, DENSE), none, 0, cfg);
}

/* -------------------------------------------------------- program path --- */

/* Compiles g on vulkan and on ref (g is destroyed); the plugin's debug line
 * about the program lands in g_last_program. */
static conf_pair *compile(plinth_graph *g)
{
    cr_assert_eq(plinth_graph_status(g), PLINTH_OK, "%s", plinth_context_error(ctx));
    conf_pair *p = NULL;
    g_last_program[0] = '\0';
    plinth_status st = conf_pair_create(ref, vk, g, &p);
    plinth_graph_destroy(g);
    bt_pair_ok(p, st, "compile");
    return p;
}

/* The instructions and dispatches vulkan's prepare reported. */
static void program_counts(unsigned *n_instructions, unsigned *n_dispatches)
{
    const char *at = strstr(g_last_program, "program of ");
    cr_assert(at && sscanf(at, "program of %u instructions: %u dispatches", n_instructions,
                           n_dispatches) == 2,
              "the plugin said '%s'", g_last_program);
}

static plinth_graph *new_graph(void)
{
    plinth_graph *g = NULL;
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
    return g;
}

/* A small graph through prepare/execute (one command buffer, barriers from
 * the data dependencies, an in-place add), run twice with new inputs, each
 * time against ref. */
Test(vulkan, program)
{
    plinth_graph *g = new_graph();
    const int64_t xs[2] = {4, 64}, ws[2] = {48, 64}, bs[1] = {48};
    plinth_node x = plinth_input(g, "x", F32, 2, xs);
    plinth_node y = plinth_matmul(g, x, plinth_param(g, "w", BF16, 2, ws), true);
    y = plinth_add(g, y, plinth_param(g, "b", F32, 1, bs)); /* in place: y dies here */
    plinth_node n = plinth_rms_norm(g, y, PLINTH_NODE_INVALID, 1e-5f);
    plinth_output(g, n, "norm");
    plinth_output(g, plinth_argmax(g, n), "argmax");
    conf_pair *p = compile(g);
    plinth_plan_stats stats = {.struct_size = sizeof stats};
    cr_assert_eq(plinth_program_plan_stats(conf_pair_program(p, CONF_PAIR_BACKEND), &stats),
                 PLINTH_OK);
    cr_expect_geq(stats.n_inplace, 1, "the add no longer writes over the matmul's output");
    uint64_t rng = 0x5EED0002ull;
    bt_pair_ok(p, conf_pair_fill_param(p, "w", CONF_GEN_UNIFORM, 0, 2, &rng), "w");
    bt_pair_ok(p, conf_pair_fill_param(p, "b", CONF_GEN_UNIFORM, 0, 2, &rng), "b");
    for (int run = 0; run < 2; run++) {
        bt_pair_ok(p, conf_pair_fill_input(p, "x", CONF_GEN_UNIFORM, 0, 2, &rng), "x");
        bt_pair_ok(p, conf_pair_run(p), "run");
        char where[32];
        snprintf(where, sizeof where, "program run %d", run);
        bt_check_output(p, "norm", 1e-10, where);
        bt_check_output(p, "argmax", 0, where);
    }
    conf_pair_destroy(p);
}

/* The patterns prepare fuses (vulkan_fuse.c): rms_norm then an in-place
 * residual add, gelu_tanh then mul. Every output, the intermediates too,
 * must match ref; both pairs must have become one dispatch each. */
Test(vulkan, fused_program)
{
    enum { ROWS = 3, COLS = 64 };
    plinth_graph *g = new_graph();
    const int64_t t[2] = {ROWS, COLS}, ws[1] = {COLS};
    plinth_node x = plinth_input(g, "x", F32, 2, t);
    /* The residual as an op's output (scale by 1 is exact), so that the
     * add may write over it, as Gemma's residual stream does. */
    plinth_node r = plinth_scale(g, plinth_input(g, "r", F32, 2, t), 1.0f);
    plinth_node y = plinth_rms_norm(g, x, plinth_param(g, "w", BF16, 1, ws), 1e-6f);
    plinth_node s = plinth_add(g, r, y);
    plinth_node gl = plinth_gelu_tanh(g, plinth_input(g, "gate", F32, 2, t));
    plinth_node o = plinth_mul(g, gl, plinth_input(g, "up", F32, 2, t));
    plinth_output(g, y, "rms_norm out");
    plinth_output(g, plinth_copy(g, s), "residual sum");
    plinth_output(g, gl, "gelu out");
    plinth_output(g, o, "mul out");
    conf_pair *p = compile(g);
    unsigned n_ins, n_disp;
    program_counts(&n_ins, &n_disp);
    cr_expect_eq(n_disp, n_ins - 2, "two fused pairs: the plugin said '%s'", g_last_program);
    uint64_t rng = 0x5EED0003ull;
    bt_pair_ok(p, conf_pair_fill_param(p, "w", CONF_GEN_UNIFORM, 0, 2, &rng), "w");
    static const char *const ins[] = {"x", "r", "gate", "up"};
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++)
        bt_pair_ok(p, conf_pair_fill_input(p, ins[i], CONF_GEN_UNIFORM, 0, 2, &rng), ins[i]);
    bt_pair_ok(p, conf_pair_run(p), "run");
    static const char *const outs[] = {"rms_norm out", "residual sum", "gelu out", "mul out"};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
        bt_check_output(p, outs[i], 1e-10, "fused program");
    conf_pair_destroy(p);
}

/* Gemma's post-norm, residual add and next pre-norm as one dispatch
 * (rms_norm -> add -> rms_norm of the sum): y, the sum and z must match
 * ref, and the program must be one dispatch. */
Test(vulkan, fused_norm_chain)
{
    enum { ROWS = 3, COLS = 64 };
    plinth_graph *g = new_graph();
    const int64_t t[2] = {ROWS, COLS}, ws[1] = {COLS};
    plinth_node x = plinth_input(g, "x", F32, 2, t), r = plinth_input(g, "r", F32, 2, t);
    plinth_node y = plinth_rms_norm(g, x, plinth_param(g, "w", F32, 1, ws), 1e-6f);
    plinth_node s = plinth_add(g, r, y);
    plinth_node z = plinth_rms_norm(g, s, plinth_param(g, "w2", F32, 1, ws), 1e-6f);
    plinth_output(g, y, "first norm");
    plinth_output(g, s, "residual sum");
    plinth_output(g, z, "second norm");
    conf_pair *p = compile(g);
    cr_expect(strstr(g_last_program, "3 instructions: 1 dispatches"), "the plugin said '%s'",
              g_last_program);
    uint64_t rng = 0x5EED0004ull;
    bt_pair_ok(p, conf_pair_fill_param(p, "w", CONF_GEN_UNIFORM, 0, 2, &rng), "w");
    bt_pair_ok(p, conf_pair_fill_param(p, "w2", CONF_GEN_UNIFORM, 0, 2, &rng), "w2");
    bt_pair_ok(p, conf_pair_fill_input(p, "x", CONF_GEN_UNIFORM, 0, 2, &rng), "x");
    bt_pair_ok(p, conf_pair_fill_input(p, "r", CONF_GEN_UNIFORM, 0, 2, &rng), "r");
    bt_pair_ok(p, conf_pair_run(p), "run");
    static const char *const outs[] = {"first norm", "residual sum", "second norm"};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
        bt_check_output(p, outs[i], 1e-10, "norm chain");
    conf_pair_destroy(p);
}

/* q/k/v-shaped matvecs of one x with matrices lying one after another (row
 * slices of one weight: fused into one dispatch over the stacked rows), and
 * the same with the matmuls out of order (not stacked: one dispatch each).
 * Every output must match ref. */
Test(vulkan, stacked_matvec)
{
    enum { K = 64, NQ = 48, NK = 16, NV = 16, NALL = NQ + NK + NV };
    const int64_t r0[3] = {0, NQ, NQ + NK}, n[3] = {NQ, NK, NV};
    static const char *const names[3] = {"q", "k", "v"};
    for (int order = 0; order < 2; order++) {
        const int perm[2][3] = {{0, 1, 2}, {1, 0, 2}};
        plinth_graph *g = new_graph();
        const int64_t xs[2] = {1, K}, ws[2] = {NALL, K};
        plinth_node x = plinth_input(g, "x", F32, 2, xs);
        plinth_node w = plinth_param(g, "w", BF16, 2, ws);
        for (int i = 0; i < 3; i++) {
            const int j = perm[order][i];
            plinth_node m = plinth_matmul(g, x, plinth_slice(g, w, 0, r0[j], n[j]), true);
            plinth_output(g, m, names[j]);
        }
        conf_pair *p = compile(g);
        const char *want = order == 0 ? "1 dispatches" : "3 dispatches";
        cr_expect(strstr(g_last_program, want), "order %d: want %s, the plugin said '%s'", order,
                  want, g_last_program);
        uint64_t rng = 0x5EED0005ull;
        bt_pair_ok(p, conf_pair_fill_param(p, "w", CONF_GEN_UNIFORM, 0, 2, &rng), "w");
        bt_pair_ok(p, conf_pair_fill_input(p, "x", CONF_GEN_UNIFORM, 0, 2, &rng), "x");
        bt_pair_ok(p, conf_pair_run(p), "run");
        for (int j = 0; j < 3; j++) {
            char where[32];
            snprintf(where, sizeof where, "order %d", order);
            bt_check_output(p, names[j], 1e-10, where);
        }
        conf_pair_destroy(p);
    }
}

/* The same stacking with block weights (q8_0: rows 2 bytes off a 4-byte
 * boundary every other block; q4_K): the q/k/v matvecs of a quantised
 * model, one dispatch, every output as ref's. */
Test(vulkan, stacked_matvec_blocks)
{
    enum { K = 512, NQ = 48, NK = 16, NV = 16, NALL = NQ + NK + NV };
    const int64_t r0[3] = {0, NQ, NQ + NK}, n[3] = {NQ, NK, NV};
    static const char *const names[3] = {"q", "k", "v"};
    const int32_t dts[] = {PLINTH_Q8_0, PLINTH_Q4_K};
    for (int t = 0; t < 2; t++) {
        plinth_graph *g = new_graph();
        const int64_t xs[2] = {1, K}, ws[2] = {NALL, K};
        plinth_node x = plinth_input(g, "x", F32, 2, xs);
        plinth_node w = plinth_param(g, "w", dts[t], 2, ws);
        for (int j = 0; j < 3; j++)
            plinth_output(g, plinth_matmul(g, x, plinth_slice(g, w, 0, r0[j], n[j]), true),
                          names[j]);
        conf_pair *p = compile(g);
        cr_expect(strstr(g_last_program, "1 dispatches"), "%s: the plugin said '%s'",
                  plinth_dtype_label(dts[t]), g_last_program);
        uint64_t rng = 0x5EED0006ull;
        bt_pair_ok(p, conf_pair_fill_param(p, "w", CONF_GEN_UNIFORM, 0, 2, &rng), "w");
        bt_pair_ok(p, conf_pair_fill_input(p, "x", CONF_GEN_UNIFORM, 0, 2, &rng), "x");
        bt_pair_ok(p, conf_pair_run(p), "run");
        for (int j = 0; j < 3; j++)
            bt_check_output(p, names[j], 1e-10, plinth_dtype_label(dts[t]));
        conf_pair_destroy(p);
    }
}

/* Block weights wider than a binding (the q8_0 embedding of Gemma 3 is
 * 178 MB against lavapipe's 128 MiB): matmul's b and get_rows' table split
 * by rows over several dispatches, forced here with a small max_range. */
Test(vulkan, block_weights_split)
{
    teardown();
    const char *cfg = "validation=1,max_range=8192";
    setup_with(cfg);
    const int32_t dts[] = {PLINTH_Q8_0, PLINTH_Q4_K};
    for (int t = 0; t < 2; t++) {
        const int64_t k = (int64_t)plinth_dtype_block_elems(dts[t]) * (t ? 1 : 2);
        const int64_t n = 200; /* 4 bindings of rows */
        for (int64_t m = 1; m <= 5; m += 4) {
            conf_tensor in[2] = {V(F32, 2, 1, 1, m, k, DENSE),
                                 conf_gen(CONF_DENSE(dts[t], n, k), CONF_GEN_UNIFORM, 0, 2)};
            check(PLINTH_OP_MATMUL, 2, in, V(F32, 2, 1, 1, m, n, DENSE),
                  (plinth_attrs){.matmul = {.transpose_b = 1}}, 0, cfg);
        }
        conf_tensor in[2] = {conf_gen(CONF_DENSE(dts[t], n, k), CONF_GEN_UNIFORM, 0, 2),
                             conf_gen(CONF_DENSE(I32, 6), CONF_GEN_INDEX, 0, (double)n)};
        check(PLINTH_OP_GET_ROWS, 2, in, CONF_DENSE(F32, 6, k),
              (plinth_attrs){.get_rows = {.dtype = F32}}, 0, cfg);
    }
}

/* ------------------------------------------------------------ refusals --- */

/* A pool the device cannot hold is refused with a message naming the limit
 * and by how much, and the device stays usable. */
Test(vulkan, refuses_oversize_buffer)
{
    plinth_memory *m = NULL;
    const uint64_t huge = (uint64_t)1 << 50;
    cr_assert_neq(plinth_memory_create(vk, huge, &m), PLINTH_OK);
    cr_assert_null(m);
    const char *msg = plinth_context_error(ctx);
    cr_expect(strstr(msg, "exceeds") && strstr(msg, "by"), "message: %s", msg);
    cr_assert_eq(plinth_memory_create(vk, 4096, &m), PLINTH_OK, "%s", plinth_context_error(ctx));
    plinth_memory_destroy(m);
}

Test(vulkan, refuses_bad_config)
{
    plinth_backend *b = NULL;
    cr_assert_neq(bt_open(ctx, "PLINTH_TEST_VULKAN", "frobnicate=1", &b), PLINTH_OK);
    cr_assert_null(b);
    cr_assert(strstr(plinth_context_error(ctx), "frobnicate"), "%s", plinth_context_error(ctx));
}
