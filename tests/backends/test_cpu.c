/*
 * test_cpu.c — the cpu plugin against ref, op by op and program by program.
 *
 * Both plugins are opened through the public API (paths in PLINTH_TEST_REF
 * and PLINTH_TEST_CPU). The cases are the shapes and layouts the cpu
 * kernels special-case: odd sizes (1, 7, 33, 257), padded rows (odd
 * strides), broadcasts, every weight dtype, out aliasing in[0], a padded
 * output. Each runs through the conformance harness (conf_run_case): the
 * output NaN-poisoned (every element written), guard bytes around it and
 * the inputs checked unchanged, and the suite's NMSE bound for the op. The
 * program check compiles one graph on cpu and on ref (conf_pair) whose
 * instruction list holds both fusable pairs and two rope steps sharing
 * their angles, and runs it twice with new positions. Each test runs all
 * of it at one ISA level and thread count (a level this machine lacks is
 * skipped: the plugin refuses to open it, and says why), and then checks
 * which kernels ran: the plugin logs its kernel calls per ISA level when
 * the device closes, and every kernel family the level has must have run
 * on it (a table that silently fell back to the portable loops fails).
 *
 * Sections: tensors; the cases; the program; the tests.
 */
#include "backend_test.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- tensors --- */

#define F PLINTH_F32
#define B PLINTH_BF16
#define H PLINTH_F16
#define I PLINTH_I32

/* A dense tensor (dims outermost first), values uniform in ±[0, 2). */
#define T(dt, ...) conf_gen(CONF_DENSE(dt, __VA_ARGS__), CONF_GEN_UNIFORM, 0, 2)

/* Rows `pad` elements longer than the tensor's (an odd row stride). */
static conf_tensor pad(conf_tensor t, int64_t n)
{
    return n ? conf_padded(t, n) : t;
}

/* i32 [len]: random indices in [0, n); positions first, first + 1, ...;
 * one value. */
static conf_tensor idx(int64_t len, int64_t n)
{
    return conf_gen(CONF_DENSE(I, len), CONF_GEN_INDEX, 0, (double)n);
}

static conf_tensor positions(int64_t len, int64_t first)
{
    return conf_gen(CONF_DENSE(I, len), CONF_GEN_ARANGE, (double)first, 0);
}

static conf_tensor value(int32_t v)
{
    return conf_gen(CONF_DENSE(I, 1), CONF_GEN_CONST, v, 0);
}

/* ----------------------------------------------------------- the cases --- */

enum { MAX_CASES = 192 };
static conf_case cases[MAX_CASES];
static int n_cases;

static void add(uint32_t op, uint32_t n_in, const conf_tensor *in, conf_tensor out,
                plinth_attrs attrs, uint32_t flags, const char *tag)
{
    cr_assert(n_cases < MAX_CASES);
    conf_case_make(&cases[n_cases++], op, n_in, in, &out, &attrs, flags, tag);
}

static void build_cases(void)
{
    if (n_cases)
        return;
    static const uint32_t bin[] = {PLINTH_OP_ADD, PLINTH_OP_SUB, PLINTH_OP_MUL, PLINTH_OP_DIV};
    static const int64_t sz[] = {1, 7, 33, 257};
    const plinth_attrs none = {{0}};
    conf_tensor in[5];
    for (int o = 0; o < 4; o++) {
        for (int s = 0; s < 4; s++) {
            in[0] = T(F, 3, sz[s]);
            in[1] = pad(T(F, 3, sz[s]), 1);
            add(bin[o], 2, in, T(F, 3, sz[s]), none, 0, "b padded");
        }
        in[0] = pad(T(F, 2, 7, 257), 3);
        in[1] = T(F, 257);
        add(bin[o], 2, in, T(F, 2, 7, 257), none, 0, "bcast row");
        in[0] = T(F, 33, 1);
        in[1] = T(F, 33, 7);
        add(bin[o], 2, in, T(F, 33, 7), none, 0, "bcast col");
        in[0] = in[1] = T(F, 65, 257);
        add(bin[o], 2, in, T(F, 65, 257), none, CONF_ALIAS_IN0, "in place");
        in[0] = conf_gen(CONF_DENSE(I, 7, 33), CONF_GEN_INT, 0, 999);
        in[1] = conf_gen(CONF_DENSE(I, 7, 33), CONF_GEN_INT, 0, 6); /* x/0 = 0 */
        add(bin[o], 2, in, CONF_DENSE(I, 7, 33), none, 0, "i32");
        in[0] = in[1] = T(B, 7, 33);
        add(bin[o], 2, in, T(B, 7, 33), none, 0, "bf16");
    }
    static const uint32_t un[] = {PLINTH_OP_SCALE, PLINTH_OP_GELU_TANH, PLINTH_OP_SILU};
    for (int o = 0; o < 3; o++) {
        for (int s = 0; s < 4; s++) {
            in[0] = pad(T(F, 7, sz[s]), 2);
            add(un[o], 1, in, T(F, 7, sz[s]), (plinth_attrs){.scale = {0.37f}}, 0, "x padded");
        }
        in[0] = T(F, 129, 1000);
        add(un[o], 1, in, in[0], (plinth_attrs){.scale = {-1.5f}}, CONF_ALIAS_IN0,
            "big in place");
        in[0] = T(H, 7, 33);
        add(un[o], 1, in, T(H, 7, 33), (plinth_attrs){.scale = {3.0f}}, 0, "f16");
    }
    static const int32_t wdts[] = {F, B, H};
    const plinth_attrs eps = {.rms_norm = {1e-6f}};
    for (int s = 0; s < 4; s++)
        for (int w = 0; w < 3; w++) {
            in[0] = pad(T(F, 7, sz[s]), 1);
            in[1] = T(wdts[w], sz[s]);
            add(PLINTH_OP_RMS_NORM, 2, in, T(F, 7, sz[s]), eps, 0, "x padded");
        }
    in[0] = T(F, 2, 33, 640);
    add(PLINTH_OP_RMS_NORM, 1, in, T(F, 2, 33, 640), eps, 0, "no weight");
    in[0] = T(F, 7, 33);
    in[1] = T(F, 7, 33);
    add(PLINTH_OP_SOFTMAX, 2, in, T(F, 7, 33), (plinth_attrs){.softmax = {0.5f}}, 0, "mask");

    /* matmul: M K N, every weight dtype, both layouts, odd strides; the
     * last shape is the GEMM with several panels per task at 1 thread (19
     * panels, the last one 24 columns wide), whatever the L2 */
    static const int64_t mkn[][3] = {{1, 7, 33},   {1, 257, 33}, {1, 640, 257}, {2, 33, 7},
                                     {7, 33, 257}, {13, 64, 40}, {33, 257, 7},  {257, 33, 65},
                                     {25, 100, 33}, {24, 40, 600}};
    for (size_t s = 0; s < sizeof mkn / sizeof mkn[0]; s++)
        for (int w = 0; w < 3; w++)
            for (int tb = 0; tb < 2; tb++) {
                const int64_t m = mkn[s][0], k = mkn[s][1], n = mkn[s][2];
                char tag[64];
                snprintf(tag, sizeof tag, "[%lld,%lld]x[%lld,%lld]%s", (long long)m,
                         (long long)k, (long long)(tb ? n : k), (long long)(tb ? k : n),
                         tb ? "^T" : "");
                in[0] = pad(T(F, m, k), (int64_t)(s & 1));
                in[1] = tb ? pad(T(wdts[w], n, k), (int64_t)(s % 3)) : pad(T(wdts[w], k, n), 1);
                add(PLINTH_OP_MATMUL, 2, in, T(F, m, n),
                    (plinth_attrs){.matmul = {.transpose_b = tb}}, 0, tag);
            }
    const plinth_attrs tb1 = {.matmul = {.transpose_b = 1}};
    in[0] = T(F, 2, 3, 13, 7);
    in[1] = T(B, 1, 3, 33, 7);
    add(PLINTH_OP_MATMUL, 2, in, T(F, 2, 3, 13, 33), tb1, 0, "batched bcast");
    in[0] = T(F, 20, 64);
    in[1] = T(F, 33, 64);
    add(PLINTH_OP_MATMUL, 2, in, pad(T(F, 20, 33), 5), tb1, 0, "padded out");

    /* block weights: decode (the block GEMV, one row and three), prefill
     * (rows dequantised into f32 chunks), rows padded by a block, N odd;
     * get_rows and cast of block tensors */
    static const int32_t qdts[] = {PLINTH_Q8_0, PLINTH_Q4_0, PLINTH_Q4_K, PLINTH_Q6_K};
    static const int64_t qmn[][2] = {{1, 37}, {3, 9}, {16, 41}};
    for (int q = 0; q < 4; q++) {
        const int64_t e = (int64_t)plinth_dtype_block_elems(qdts[q]), k = 3 * e;
        for (int s = 0; s < 3; s++) {
            in[0] = pad(T(F, qmn[s][0], k), (int64_t)(s & 1));
            in[1] = pad(T(qdts[q], qmn[s][1], k), s == 1 ? e : 0);
            add(PLINTH_OP_MATMUL, 2, in, T(F, qmn[s][0], qmn[s][1]), tb1, 0,
                s == 0 ? "decode" : s == 1 ? "decode m=3, b padded" : "prefill");
        }
        in[0] = T(qdts[q], 33, 2 * e);
        in[1] = idx(7, 33);
        add(PLINTH_OP_GET_ROWS, 2, in, T(F, 7, 2 * e), (plinth_attrs){.get_rows = {.dtype = F}}, 0,
            "block table");
        in[0] = pad(T(qdts[q], 5, 2 * e), e);
        add(PLINTH_OP_CAST, 1, in, T(q % 2 ? B : H, 5, 2 * e),
            (plinth_attrs){.cast = {q % 2 ? B : H}}, 0, "dequantise");
    }

    /* rows */
    for (int w = 0; w < 3; w++) {
        in[0] = T(wdts[w], 33, 257);
        in[1] = idx(7, 33);
        add(PLINTH_OP_GET_ROWS, 2, in, T(F, 7, 257), (plinth_attrs){.get_rows = {.dtype = F}}, 0,
            "widen");
    }
    in[0] = T(B, 33, 33);
    in[1] = idx(7, 33);
    add(PLINTH_OP_GET_ROWS, 2, in, T(B, 7, 33), (plinth_attrs){.get_rows = {.dtype = B}}, 0, "bf16");
    in[0] = T(F, 7, 257);
    in[1] = positions(7, 0);
    add(PLINTH_OP_SET_ROWS, 2, in, T(F, 33, 257), none, CONF_STATE_OUT, "rows 0..6");
    in[0] = T(F, 7, 64);
    in[1] = positions(7, 26);
    add(PLINTH_OP_SET_ROWS, 2, in, T(B, 33, 64), none, CONF_STATE_OUT, "bf16 from f32");

    /* rope */
    static const int32_t nd[] = {64, 32, 2};
    for (int r = 0; r < 3; r++) {
        in[0] = pad(T(F, 7, 3, 64), 3);
        in[1] = positions(7, 26);
        add(PLINTH_OP_ROPE, 2, in, T(F, 7, 3, 64),
            (plinth_attrs){.rope = {r == 1 ? 1e6f : 10000.0f, nd[r]}}, 0, "x padded");
        /* rope_factors: the same rows, each angle divided by a factor in 1..32 */
        in[2] = conf_gen(CONF_DENSE(F, nd[r] / 2), CONF_GEN_INT, 1, 32);
        add(PLINTH_OP_ROPE_FACTORS, 3, in, T(F, 7, 3, 64),
            (plinth_attrs){.rope = {r == 1 ? 500000.0f : 10000.0f, nd[r]}}, 0, "x padded");
    }

    /* attention */
    static const int32_t kvd[] = {F, B};
    for (int kd = 0; kd < 2; kd++)
        for (int w = 0; w < 3; w++) {
            in[0] = pad(T(F, 7, 4, 64), 1);
            in[1] = T(kvd[kd], 33, 1, 64);
            in[2] = T(kvd[kd], 33, 1, 64);
            in[3] = positions(7, 26);
            in[4] = value(w == 2 ? 20 : 33);
            add(PLINTH_OP_ATTENTION, 5, in, T(F, 7, 4, 64),
                (plinth_attrs){.attention = {0.125f, w == 1 ? 5 : 0}}, 0,
                w == 0 ? "prefill" : w == 1 ? "prefill window 5" : "prefill kv_len 20");
        }
    in[0] = T(F, 1, 4, 256);
    in[1] = T(F, 257, 1, 256);
    in[2] = T(F, 257, 1, 256);
    in[3] = positions(1, 199);
    in[4] = value(200);
    add(PLINTH_OP_ATTENTION, 5, in, T(F, 1, 4, 256), (plinth_attrs){.attention = {0.0625f, 0}},
        0, "decode gqa");
    in[0] = T(F, 7, 4, 33);
    in[1] = T(F, 33, 2, 33);
    in[2] = T(F, 33, 2, 33);
    in[3] = positions(7, 26);
    in[4] = value(33);
    add(PLINTH_OP_ATTENTION, 5, in, T(F, 7, 4, 33), (plinth_attrs){.attention = {0.2f, 0}}, 0,
        "2 kv heads");

    /* moves */
    in[0] = pad(T(F, 7, 33), 1);
    add(PLINTH_OP_CAST, 1, in, T(B, 7, 33), (plinth_attrs){.cast = {B}}, 0, "x padded");
    in[0] = pad(T(F, 7, 33), 3);
    add(PLINTH_OP_COPY, 1, in, T(F, 7, 33), none, 0, "padded");
    in[0] = T(B, 7, 33);
    add(PLINTH_OP_COPY, 1, in, T(B, 7, 33), none, 0, "dense");
    in[0] = T(F, 7, 33);
    in[1] = T(F, 7, 7);
    add(PLINTH_OP_CONCAT, 2, in, T(F, 7, 40), (plinth_attrs){.concat = {-1}}, 0, "");
    in[0] = pad(T(F, 7, 257), 1);
    add(PLINTH_OP_ARGMAX, 1, in, CONF_DENSE(I, 7), none, 0, "x padded");
}

/* ---------------------------------------------------------- the program --- */

/* A program with both pairs the cpu plugin fuses (rms_norm then an in-place
 * mul; gelu_tanh then an in-place mul), two rope steps with the same base
 * and positions (one shared angle table), two rope_factors steps with that
 * base and different factors (one more table, refilled when the factors
 * change: a table kept for the first factors would give the second step
 * wrong angles), three bf16 matmuls of one input (one GEMM job of three
 * members: 2, 3 and 2 panels, the last ones partial), a gate (f32) and an
 * up (bf16) projection of another (one GEMM job of two dtypes) whose
 * outputs meet in gelu_tanh(gate) * up, and a sandwich norm's residual
 * step, rms_norm(y) + r, then rms_norm of the sum. cpu runs it
 * through prepare/execute, ref instruction by instruction; it runs twice,
 * with the positions changed in between. Every output, the fused pairs'
 * too (through a copy, so that the pair itself stays in place), must agree
 * within 1e-9. */
enum { P_T = 33, P_E = 640, P_F = 257, P_H = 4, P_D = 64, P_O = 40, P_O2 = 72, P_O3 = 56,
       P_G = 44 };

static void run_program(plinth_backend *ref, plinth_backend *cpu, const char *cfg)
{
    plinth_graph *g = NULL;
    cr_assert_eq(plinth_graph_create(plinth_backend_context(cpu), &g), PLINTH_OK);
    const int64_t xe[2] = {P_T, P_E}, xf[2] = {P_T, P_F}, qs[3] = {P_T, P_H, P_D},
                  ts[1] = {P_T}, ws[1] = {P_E}, ms[2] = {P_O, P_E}, ms2[2] = {P_O2, P_E},
                  ms3[2] = {P_O3, P_E};
    plinth_node x = plinth_input(g, "x", F, 2, xe), y = plinth_input(g, "y", F, 2, xe);
    plinth_node r = plinth_input(g, "r", F, 2, xe);
    plinth_node gate = plinth_input(g, "gate", F, 2, xf), up = plinth_input(g, "up", F, 2, xf);
    plinth_node q = plinth_input(g, "q", F, 3, qs), pos = plinth_input(g, "pos", I, 1, ts);
    plinth_node w = plinth_param(g, "w", B, 1, ws), mw = plinth_param(g, "mw", B, 2, ms);
    plinth_node mw2 = plinth_param(g, "mw2", B, 2, ms2), mw3 = plinth_param(g, "mw3", B, 2, ms3);
    const int64_t gs[2] = {P_G, P_E};
    plinth_node mg = plinth_param(g, "mg", F, 2, gs), mu = plinth_param(g, "mu", B, 2, gs);
    plinth_node t = plinth_mul(g, plinth_rms_norm(g, x, w, 1e-6f), y);
    plinth_node gu = plinth_mul(g, up, plinth_gelu_tanh(g, gate));
    plinth_node q2 = plinth_rope(g, q, pos, 10000.0f, P_D);
    plinth_node k2 = plinth_rope(g, q2, pos, 10000.0f, P_D);
    const int64_t fs[1] = {P_D / 2};
    plinth_node f1 = plinth_input(g, "f1", F, 1, fs), f2 = plinth_input(g, "f2", F, 1, fs);
    plinth_node q3 = plinth_rope_factors(g, q, pos, f1, 10000.0f, P_D);
    plinth_node k3 = plinth_rope_factors(g, q3, pos, f2, 10000.0f, P_D);
    plinth_node o = plinth_matmul(g, t, mw, true);
    plinth_node o2 = plinth_matmul(g, t, mw2, true), o3 = plinth_matmul(g, t, mw3, true);
    plinth_node ffn = plinth_mul(g, plinth_gelu_tanh(g, plinth_matmul(g, x, mg, true)),
                                 plinth_matmul(g, x, mu, true));
    plinth_output(g, plinth_copy(g, t), "t");
    plinth_output(g, plinth_copy(g, gu), "gu");
    plinth_output(g, q2, "q2");
    plinth_output(g, k2, "k2");
    plinth_output(g, q3, "q3");
    plinth_output(g, k3, "k3");
    plinth_output(g, o, "o");
    plinth_output(g, o2, "o2");
    plinth_output(g, o3, "o3");
    plinth_output(g, plinth_copy(g, ffn), "ffn");
    plinth_node nw = plinth_param(g, "nw", F, 1, ws);
    plinth_node rs = plinth_add(g, r, plinth_rms_norm(g, y, nw, 1e-6f));
    plinth_output(g, plinth_copy(g, plinth_rms_norm(g, rs, w, 1e-5f)), "nh");
    plinth_output(g, plinth_copy(g, rs), "rs");
    cr_assert_eq(plinth_graph_status(g), PLINTH_OK, "%s",
                 plinth_context_error(plinth_backend_context(cpu)));

    conf_pair *p = NULL;
    plinth_status st = conf_pair_create(ref, cpu, g, &p);
    bt_pair_ok(p, st, "compile");
    plinth_graph_destroy(g);
    /* Both muls write over their dying input: the pairs the plugin fuses. */
    plinth_plan_stats stats = {.struct_size = sizeof stats};
    cr_assert_eq(plinth_program_plan_stats(conf_pair_program(p, CONF_PAIR_BACKEND), &stats),
                 PLINTH_OK);
    cr_expect_geq(stats.n_inplace, 2, "[%s] %u in-place tensors: the fusable pairs are gone",
                  cfg, stats.n_inplace);

    uint64_t rng = 0x5EED5EEDull;
    bt_pair_ok(p, conf_pair_fill_param(p, "w", CONF_GEN_UNIFORM, 0, 2, &rng), "w");
    bt_pair_ok(p, conf_pair_fill_param(p, "mw", CONF_GEN_UNIFORM, 0, 2, &rng), "mw");
    bt_pair_ok(p, conf_pair_fill_param(p, "mw2", CONF_GEN_UNIFORM, 0, 2, &rng), "mw2");
    bt_pair_ok(p, conf_pair_fill_param(p, "mw3", CONF_GEN_UNIFORM, 0, 2, &rng), "mw3");
    bt_pair_ok(p, conf_pair_fill_param(p, "nw", CONF_GEN_UNIFORM, 0, 2, &rng), "nw");
    bt_pair_ok(p, conf_pair_fill_param(p, "mg", CONF_GEN_UNIFORM, -1, 1, &rng), "mg");
    bt_pair_ok(p, conf_pair_fill_param(p, "mu", CONF_GEN_UNIFORM, -1, 1, &rng), "mu");
    static const char *const ins[] = {"x", "y", "r", "gate", "up", "q"};
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++)
        bt_pair_ok(p, conf_pair_fill_input(p, ins[i], CONF_GEN_UNIFORM, 0, 2, &rng), ins[i]);
    bt_pair_ok(p, conf_pair_fill_input(p, "f1", CONF_GEN_INT, 1, 32, &rng), "f1");
    bt_pair_ok(p, conf_pair_fill_input(p, "f2", CONF_GEN_INT, 1, 32, &rng), "f2");
    for (int pass = 0; pass < 2; pass++) {
        bt_pair_ok(p, conf_pair_fill_input(p, "pos", CONF_GEN_INDEX, 0, 4000, &rng), "pos");
        bt_pair_ok(p, conf_pair_run(p), "run");
        static const char *const outs[] = {"t", "gu", "q2", "k2",  "q3", "k3",
                                           "o", "o2", "o3", "ffn", "nh", "rs"};
        char where[160];
        snprintf(where, sizeof where, "%s, program pass %d", cfg, pass);
        for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
            bt_check_output(p, outs[i], 1e-9, where);
    }
    conf_pair_destroy(p);
}

/* ------------------------------------------------------ kernels that ran --- */

/* The plugin's "cpu: kernel calls: neon: gemv 12 gemm 3 ...; scalar: ..."
 * line (DEBUG, at device close), kept by the context's log callback. */
static char calls_line[1024];

static void keep_calls(void *user, int level, const char *message)
{
    (void)user;
    (void)level;
    if (!strncmp(message, "cpu: kernel calls: ", 19))
        snprintf(calls_line, sizeof calls_line, "%s", message + 19);
}

/* The families each level has a kernel for (cpu_kernels.h tables): all of
 * them must have run on that level, and nothing on a level not asked for. */
static const struct {
    const char *level, *families;
} expect_calls[] = {
    {"avx512", "gemv gemm gemm_group elementwise rms_norm rope attention flash_attention "
               "gemv_block dequant"},
    {"avx2", "gemv gemv_block dequant"},
    {"neon", "gemv gemm gemm_group elementwise rms_norm rope attention flash_attention "
             "gemv_block dequant"},
    {"scalar", ""},
};

static void check_calls(const char *cfg)
{
    char level[32] = "";
    sscanf(cfg, "isa=%31[a-z0-9]", level);
    cr_assert(calls_line[0], "[%s] the cpu plugin logged no kernel calls at close", cfg);
    cr_log_info("[%s] kernel calls: %s", cfg, calls_line);
    /* the segment of our level: "<level>: f n f n ...;" */
    char seg[1024] = "", head[40];
    snprintf(head, sizeof head, "%s:", level);
    const char *at = strstr(calls_line, head);
    if (at) {
        snprintf(seg, sizeof seg, " %s", at + strlen(head));
        char *end = strchr(seg, ';');
        if (end)
            *end = 0;
    }
    for (size_t i = 0; i < sizeof expect_calls / sizeof expect_calls[0]; i++) {
        if (!strcmp(expect_calls[i].level, level)) {
            char fams[128], *save = NULL;
            snprintf(fams, sizeof fams, "%s", expect_calls[i].families);
            for (char *f = strtok_r(fams, " ", &save); f; f = strtok_r(NULL, " ", &save)) {
                char word[48];
                snprintf(word, sizeof word, " %s ", f);
                cr_expect(strstr(seg, word), "[%s] no %s kernel ran on %s: %s", cfg, f, level,
                          calls_line);
            }
        } else if (strcmp(expect_calls[i].level, "scalar")) {
            snprintf(head, sizeof head, "%s:", expect_calls[i].level);
            cr_expect(!strstr(calls_line, head), "[%s] %s kernels ran: %s", cfg,
                      expect_calls[i].level, calls_line);
        }
    }
}

/* ---------------------------------------------------------------- tests --- */

static void run_all(const char *cfg)
{
    build_cases();
    plinth_context *ctx = NULL;
    const plinth_context_options opts = {.struct_size = sizeof opts, .log = keep_calls,
                                         .log_level = PLINTH_LOG_DEBUG};
    calls_line[0] = 0;
    cr_assert_eq(plinth_context_create(&opts, &ctx), PLINTH_OK);
    plinth_backend *ref = bt_open_or_fail(ctx, "PLINTH_TEST_REF", NULL);
    plinth_backend *cpu = NULL;
    plinth_status st = bt_open(ctx, "PLINTH_TEST_CPU", cfg, &cpu);
    if (st == PLINTH_ERR_UNSUPPORTED) { /* a level this machine lacks */
        char why[512];
        snprintf(why, sizeof why, "%s: %s", cfg, plinth_context_error(ctx));
        plinth_backend_close(ref);
        plinth_context_destroy(ctx);
        cr_skip_test("%s", why);
    }
    cr_assert_eq(st, PLINTH_OK, "%s: %s", cfg, plinth_context_error(ctx));
    for (int i = 0; i < n_cases; i++)
        bt_check_case(ref, cpu, &cases[i], cfg);
    run_program(ref, cpu, cfg);
    plinth_backend_close(cpu); /* its device closes: the kernel calls are logged */
    plinth_backend_close(ref);
    plinth_context_destroy(ctx);
    check_calls(cfg);
}

Test(cpu, avx512_t1) { run_all("isa=avx512,threads=1"); }
Test(cpu, avx512_t2) { run_all("isa=avx512,threads=2"); }
Test(cpu, avx2_t1) { run_all("isa=avx2,threads=1"); }
Test(cpu, avx2_t2) { run_all("isa=avx2,threads=2"); }
/* block weights' decode with every type's activations f32, and int8 */
Test(cpu, avx2_q8_act_0) { run_all("isa=avx2,threads=2,q8_act=0"); }
Test(cpu, avx2_q8_act_1) { run_all("isa=avx2,threads=1,q8_act=1"); }
Test(cpu, avx512_q8_act_0) { run_all("isa=avx512,threads=2,q8_act=0"); }
Test(cpu, avx512_q8_act_1) { run_all("isa=avx512,threads=1,q8_act=1"); }
Test(cpu, neon_t1) { run_all("isa=neon,threads=1"); }
Test(cpu, neon_t2) { run_all("isa=neon,threads=2"); }
Test(cpu, scalar_t1) { run_all("isa=scalar,threads=1"); }
Test(cpu, scalar_t2) { run_all("isa=scalar,threads=2"); }

/* Options are checked: a typo is an error, not a default. */
Test(cpu, bad_config)
{
    plinth_context *ctx = NULL;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    plinth_backend *b = NULL;
    cr_assert_eq(bt_open(ctx, "PLINTH_TEST_CPU", "isa=avx9", &b), PLINTH_ERR_INVALID);
    cr_assert_null(b);
    cr_assert(strstr(plinth_context_error(ctx), "isa=avx9"), "%s", plinth_context_error(ctx));
    cr_assert_eq(bt_open(ctx, "PLINTH_TEST_CPU", "thread=2", &b), PLINTH_ERR_INVALID);
    uint32_t index = 0;
    cr_assert_eq(plinth_plugin_load(ctx, getenv("PLINTH_TEST_CPU"), &index), PLINTH_OK);
    plinth_device_info info = {.struct_size = sizeof info};
    cr_assert_eq(plinth_plugin_device_info(ctx, index, 0, &info), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_assert(strstr(info.features, "isa="), "features: %s", info.features);
    plinth_context_destroy(ctx);
}

/* ------------------------------------------------------------ precision --- */

/* The precision line of a cpu device opened with `precision` (the device
 * options' field) and `cfg` (its keys), as plinth_backend_device_info
 * gives it (the plugin's device_describe). */
static void open_precision(plinth_context *ctx, int32_t precision, const char *cfg, char *buf,
                           size_t size)
{
    plinth_device_options o = {.struct_size = sizeof o, .config = cfg, .precision = precision};
    plinth_backend *b = NULL;
    cr_assert_eq(plinth_backend_open(ctx, getenv("PLINTH_TEST_CPU"), 0, &o, &b), PLINTH_OK,
                 "[%d %s] %s", precision, cfg ? cfg : "", plinth_context_error(ctx));
    plinth_device_info info = {.struct_size = sizeof info};
    cr_assert_eq(plinth_backend_device_info(b, &info), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    snprintf(buf, size, "%s", info.precision);
    cr_log_info("precision %d, config '%s': %s", precision, cfg ? cfg : "", buf);
    plinth_backend_close(b);
}

/* What precision fast means on this CPU, said by device_info before a
 * device opens (`plinth devices`) and by the open device after: the bf16
 * GEMM only where the CPU has one at the device's level (the features say
 * " bf16_compute") and the probe found it faster; otherwise exact, with
 * the reason. The device options' precision, the precision= key over it,
 * bf16_compute= and q8_act= over both; bad values refused, naming them.
 * fast also says where q8_0 decode runs on int8 activations. */
Test(cpu, precision)
{
    plinth_context *ctx = NULL;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    uint32_t index = 0;
    cr_assert_eq(plinth_plugin_load(ctx, getenv("PLINTH_TEST_CPU"), &index), PLINTH_OK);
    plinth_device_info info = {.struct_size = sizeof info};
    cr_assert_eq(plinth_plugin_device_info(ctx, index, 0, &info), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_log_info("device_info: features '%s', precision '%s'", info.features, info.precision);
    cr_assert(!strncmp(info.precision, "fast: ", 6), "device_info precision: '%s'",
              info.precision);
    const bool has_gemm = strstr(info.features, " bf16_compute") != NULL;
    const bool bf16 = strstr(info.precision, "fast: bf16 dot products") == info.precision;
    if (!has_gemm) /* no bf16 GEMM here: fast cannot be anything but exact */
        cr_expect(!bf16 && strstr(info.precision, "fast: as exact, f32 arithmetic (no ") ==
                               info.precision,
                  "no bf16 GEMM (features '%s'), yet: %s", info.features, info.precision);
    else if (!bf16) /* the GEMM is there: only the probe can have said no */
        cr_expect(strstr(info.precision, "probed at"), "%s", info.precision);

    char line[160], want[160];
    open_precision(ctx, PLINTH_PRECISION_EXACT, NULL, line, sizeof line);
    cr_expect_str_eq(line, "exact: f32 arithmetic");
    open_precision(ctx, PLINTH_PRECISION_FAST, NULL, line, sizeof line);
    if (bf16) { /* nothing ran yet */
        cr_expect(strstr(line, "fast: bf16 dot products") == line, "%s", line);
        cr_expect(strstr(line, ", 0 matmuls so far"), "%s", line);
    } else { /* the open device says what device_info said, and why */
        cr_expect_str_eq(line, info.precision);
    }
    snprintf(want, sizeof want, "%s", line);
    open_precision(ctx, PLINTH_PRECISION_EXACT, "precision=fast", line, sizeof line);
    cr_expect_str_eq(line, want, "the key sets what the field does");
    open_precision(ctx, PLINTH_PRECISION_FAST, "precision=exact", line, sizeof line);
    cr_expect_str_eq(line, "exact: f32 arithmetic", "the key wins over the field");
    /* fast also runs q8_0 decode on int8 activations where the level has
     * the int8 GEMV (every x86-64 one but scalar); q8_act= wins over it */
    const char *tail = strstr(info.precision, "; q8_0 decode in int8") ? "; q8_0 decode in int8"
                                                                      : "";
#if defined(__x86_64__)
    cr_expect(*tail, "x86-64: fast says q8_0 decode runs in int8: %s", info.precision);
#endif
    snprintf(want, sizeof want, "fast bf16_compute=0: f32 arithmetic%s", tail);
    open_precision(ctx, PLINTH_PRECISION_FAST, "bf16_compute=0", line, sizeof line);
    cr_expect_str_eq(line, want);
    open_precision(ctx, PLINTH_PRECISION_FAST, "bf16_compute=0,q8_act=0", line, sizeof line);
    cr_expect_str_eq(line, "fast bf16_compute=0: f32 arithmetic");
    snprintf(want, sizeof want, "exact: f32 arithmetic%s", tail);
    open_precision(ctx, PLINTH_PRECISION_EXACT, "q8_act=1", line, sizeof line);
    cr_expect_str_eq(line, want);
    open_precision(ctx, PLINTH_PRECISION_EXACT, "bf16_compute=1", line, sizeof line);
    if (has_gemm)
        cr_expect(strstr(line, "exact bf16_compute=1: bf16 dot products") == line, "%s", line);
    else
        cr_expect(strstr(line, "exact bf16_compute=1: as exact, f32 arithmetic (no ") == line,
                  "%s", line);

    plinth_backend *b = NULL;
    plinth_device_options o = {.struct_size = sizeof o, .precision = 2};
    cr_expect_eq(plinth_backend_open(ctx, getenv("PLINTH_TEST_CPU"), 0, &o, &b),
                 PLINTH_ERR_INVALID);
    cr_expect(strstr(plinth_context_error(ctx), "precision 2"), "%s", plinth_context_error(ctx));
    cr_expect_eq(bt_open(ctx, "PLINTH_TEST_CPU", "precision=half", &b), PLINTH_ERR_INVALID);
    cr_expect(strstr(plinth_context_error(ctx), "precision=half: expected exact or fast"), "%s",
              plinth_context_error(ctx));
    cr_expect_null(b);
    plinth_context_destroy(ctx);
}
