/*
 * test_graph.c — graph building: leaves, outputs, op shape/dtype inference,
 * views, and sticky errors (core alone, no plugin).
 *
 * Sections: helpers; leaves and outputs; elementwise; normalisation and
 * softmax; matmul; rows; rope and attention; cast, copy, concat, argmax;
 * views; sticky errors.
 */
#include <criterion/criterion.h>

#include "internal.h"

#include <stdio.h>
#include <string.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

/* ------------------------------------------------------------ helpers --- */

static plinth_context *ctx;
static plinth_graph *g;

static void setup(void)
{
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
}

static void teardown(void)
{
    plinth_graph_destroy(g);
    plinth_context_destroy(ctx);
    g = NULL;
    ctx = NULL;
}

/* Destroys the graph and context inside the test, so that under ASan a
 * leak fails the test (Criterion's workers exit without LeakSanitizer's
 * own check, and a failed check in .fini does not count). */
#ifdef __SANITIZE_ADDRESS__
/* LeakSanitizer treats any pointer left in a register (a copied graph_node
 * in an xmm register, say) as a reference, which would hide exactly the
 * leaks these tests look for; the graph is destroyed before the check, so
 * nothing of it may be held in registers legitimately. */
const char *__lsan_default_options(void)
{
    return "use_registers=0";
}
#endif

static void end_and_check_leaks(void)
{
    teardown();
#ifdef __SANITIZE_ADDRESS__
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leaks (see the report above)");
#endif
}

/* A test of suite `graph` whose body runs with a fresh context and graph. */
#define GTEST(name)                                                                        \
    static void name##_body(void);                                                         \
    Test(graph, name)                                                                      \
    {                                                                                      \
        name##_body();                                                                     \
        end_and_check_leaks();                                                             \
    }                                                                                      \
    static void name##_body(void)

TestSuite(graph, .init = setup, .fini = teardown);

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define NDIM(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define INPUT(name, dt, ...) plinth_input(g, name, dt, NDIM(__VA_ARGS__), DIMS(__VA_ARGS__))
#define PARAM(name, dt, ...) plinth_param(g, name, dt, NDIM(__VA_ARGS__), DIMS(__VA_ARGS__))
#define STATE(name, dt, ...) plinth_state(g, name, dt, NDIM(__VA_ARGS__), DIMS(__VA_ARGS__))

/* The node exists, is an op/leaf/view of this dtype and exactly this shape. */
static void expect_shape(plinth_node n, int dtype, int ndim, const int64_t *shape)
{
    cr_assert_neq(n, PLINTH_NODE_INVALID, "node invalid: %s", plinth_context_error(ctx));
    plinth_node_info info = {.struct_size = sizeof info};
    cr_assert_eq(plinth_graph_node_info(g, n, &info), PLINTH_OK);
    cr_assert_eq(info.dtype, dtype, "dtype %s, expected %s",
                 plinth_dtype_name((plinth_dtype)info.dtype),
                 plinth_dtype_name((plinth_dtype)dtype));
    cr_assert_eq(info.ndim, ndim, "ndim %d, expected %d", info.ndim, ndim);
    for (int i = 0; i < ndim; i++)
        cr_assert_eq(info.shape[i], shape[i], "dim %d is %lld, expected %lld", i,
                     (long long)info.shape[i], (long long)shape[i]);
}
#define EXPECT(n, dt, ...) expect_shape(n, dt, NDIM(__VA_ARGS__), DIMS(__VA_ARGS__))

/* The builder failed, the graph's status says so, and the message holds
 * every fragment. */
static void expect_error(plinth_node n, const char *const *frags, int n_frags)
{
    cr_assert_eq(n, PLINTH_NODE_INVALID, "expected a failure, got node %d", n);
    cr_assert_neq(plinth_graph_status(g), PLINTH_OK);
    const char *msg = plinth_context_error(ctx);
    for (int i = 0; i < n_frags; i++)
        cr_assert(strstr(msg, frags[i]), "message '%s' lacks '%s'", msg, frags[i]);
}
#define EXPECT_ERR(n, ...)                                                                 \
    expect_error(n, (const char *const[]){__VA_ARGS__},                                    \
                 (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))

static const graph_node *node(plinth_node n)
{
    cr_assert(n >= 0 && (uint32_t)n < g->n_nodes);
    return &g->nodes[n];
}

static int op_of(plinth_node n)
{
    return node(n)->op;
}

/* -------------------------------------------------- leaves and outputs --- */

GTEST(empty_graph_is_ok)
{
    cr_assert_eq(plinth_graph_status(g), PLINTH_OK);
    cr_assert_eq(plinth_graph_node_count(g), 0);
    plinth_node_info info = {.struct_size = sizeof info};
    cr_assert_eq(plinth_graph_node_info(g, 0, &info), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_graph_status(g), PLINTH_OK, "inspection does not fail the graph");
}

GTEST(leaves_have_kind_name_shape_and_contiguous_strides)
{
    plinth_node i = INPUT("tokens", PLINTH_I32, 7);
    plinth_node p = PARAM("w", PLINTH_BF16, 2, 3, 4);
    plinth_node s = STATE("kv", PLINTH_F16, 16, 8);
    float v[2] = {1, 2};
    plinth_node c = plinth_constant(g, "c", PLINTH_F32, 1, DIMS(2), v);
    cr_assert_eq(plinth_graph_node_count(g), 4);
    cr_assert_eq(i, 0);
    cr_assert_eq(c, 3);
    EXPECT(i, PLINTH_I32, 7);
    EXPECT(p, PLINTH_BF16, 2, 3, 4);
    EXPECT(s, PLINTH_F16, 16, 8);
    const int kinds[4] = {PLINTH_NODE_INPUT, PLINTH_NODE_PARAM, PLINTH_NODE_STATE,
                          PLINTH_NODE_CONSTANT};
    const char *names[4] = {"tokens", "w", "kv", "c"};
    plinth_node ids[4] = {i, p, s, c};
    for (int k = 0; k < 4; k++) {
        plinth_node_info info = {.struct_size = sizeof info};
        cr_assert_eq(plinth_graph_node_info(g, ids[k], &info), PLINTH_OK);
        cr_assert_eq(info.kind, kinds[k]);
        cr_assert_eq(info.op, -1);
        cr_assert_str_eq(info.name, names[k]);
        cr_assert_eq(node(ids[k])->root, ids[k]);
        cr_assert_eq(node(ids[k])->offset, 0);
    }
    cr_assert_eq(node(p)->stride[0], 24);
    cr_assert_eq(node(p)->stride[1], 8);
    cr_assert_eq(node(p)->stride[2], 2);
}

GTEST(scalar_and_empty_leaves)
{
    plinth_node s = plinth_input(g, "kv_len", PLINTH_I32, 0, NULL);
    EXPECT(s, PLINTH_I32, 1);
    plinth_node e = INPUT("empty", PLINTH_F32, 0, 3);
    EXPECT(e, PLINTH_F32, 0, 3);
    cr_assert_eq(node_bytes(node(e)), 0);
    plinth_node c = plinth_constant(g, "nothing", PLINTH_F32, 1, DIMS(0), NULL);
    EXPECT(c, PLINTH_F32, 0);
    cr_assert_eq(plinth_graph_status(g), PLINTH_OK);
}

GTEST(leaf_negative_dim_is_named)
{
    plinth_node n = PARAM("model.norm.weight", PLINTH_F32, 4, -3);
    EXPECT_ERR(n, "param 'model.norm.weight': dim 1 is -3");
    cr_assert_eq(plinth_graph_status(g), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_graph_node_count(g), 0);
}

GTEST(leaf_duplicate_name_within_kind)
{
    /* The same name in different kinds is fine: they live in different
     * namespaces (state dict, run-time inputs, KV states). */
    cr_assert_neq(INPUT("x", PLINTH_F32, 2), PLINTH_NODE_INVALID);
    cr_assert_neq(PARAM("x", PLINTH_F32, 2), PLINTH_NODE_INVALID);
    cr_assert_neq(STATE("x", PLINTH_F32, 2), PLINTH_NODE_INVALID);
    plinth_node n = PARAM("x", PLINTH_F32, 3);
    EXPECT_ERR(n, "param 'x'", "already used by node 1");
}

GTEST(leaf_bad_ndim)
{
    plinth_node n = plinth_input(g, "big", PLINTH_F32, 5, DIMS(1, 2, 3, 4, 5));
    EXPECT_ERR(n, "input 'big'", "ndim 5");
}

GTEST(leaf_bad_dtype)
{
    plinth_node n = plinth_input(g, "q8", (plinth_dtype)9, 1, DIMS(4));
    EXPECT_ERR(n, "input 'q8'", "dtype 9");
}

GTEST(leaf_empty_name)
{
    plinth_node n = plinth_state(g, "", PLINTH_F32, 1, DIMS(4));
    EXPECT_ERR(n, "state", "empty");
}

GTEST(leaf_null_shape)
{
    plinth_node n = plinth_param(g, "w", PLINTH_F32, 2, NULL);
    EXPECT_ERR(n, "param 'w'", "NULL");
}

GTEST(leaf_overflowing_shape)
{
    plinth_node n = INPUT("huge", PLINTH_F32, INT64_MAX / 2, 4);
    EXPECT_ERR(n, "input 'huge'", "too large");
}

GTEST(constant_data_is_copied)
{
    float v[6] = {1, 2, 3, 4, 5, 6};
    plinth_node c = plinth_constant(g, "c", PLINTH_F32, 2, DIMS(2, 3), v);
    EXPECT(c, PLINTH_F32, 2, 3);
    v[0] = 100;
    const float *copy = node(c)->data;
    cr_assert_not_null(copy);
    cr_assert_neq((const void *)copy, (const void *)v);
    cr_assert_eq(copy[0], 1.0f);
    cr_assert_eq(copy[5], 6.0f);
}

GTEST(constant_without_data_fails)
{
    plinth_node c = plinth_constant(g, "c", PLINTH_F32, 1, DIMS(2), NULL);
    EXPECT_ERR(c, "constant 'c'", "data is NULL");
}

GTEST(outputs_are_marked_once)
{
    plinth_node x = INPUT("x", PLINTH_F32, 2, 3);
    plinth_node y = plinth_silu(g, x);
    plinth_node z = plinth_scale(g, x, 2.0f);
    cr_assert_eq(plinth_output(g, y, "y"), PLINTH_OK);
    cr_assert_str_eq(node(y)->output_name, "y");
    plinth_node_info info = {.struct_size = sizeof info};
    cr_assert_eq(plinth_graph_node_info(g, y, &info), PLINTH_OK);
    cr_assert_str_eq(info.name, "y");
    cr_assert_eq(plinth_graph_node_info(g, z, &info), PLINTH_OK);
    cr_assert_null(info.name, "an unmarked op has no name");
    cr_assert_eq(plinth_output(g, z, "y"), PLINTH_ERR_INVALID);
    cr_assert(strstr(plinth_context_error(ctx), "'y'"));
    cr_assert(strstr(plinth_context_error(ctx), "node 1"), "%s", plinth_context_error(ctx));
    cr_assert_null(node(z)->output_name);
}

GTEST(output_twice_on_one_node_fails)
{
    plinth_node x = INPUT("x", PLINTH_F32, 2);
    cr_assert_eq(plinth_output(g, x, "a"), PLINTH_OK);
    cr_assert_eq(plinth_output(g, x, "b"), PLINTH_ERR_INVALID);
    cr_assert(strstr(plinth_context_error(ctx), "already output 'a'"), "%s",
              plinth_context_error(ctx));
    cr_assert_eq(plinth_graph_status(g), PLINTH_ERR_INVALID);
}

GTEST(output_of_invalid_node_or_name_fails)
{
    cr_assert_eq(plinth_output(g, 5, "y"), PLINTH_ERR_INVALID);
    cr_assert(strstr(plinth_context_error(ctx), "node 5"), "%s", plinth_context_error(ctx));
    plinth_graph *g2;
    cr_assert_eq(plinth_graph_create(ctx, &g2), PLINTH_OK);
    plinth_node x = plinth_input(g2, "x", PLINTH_F32, 1, DIMS(2));
    cr_assert_eq(plinth_output(g2, x, ""), PLINTH_ERR_INVALID);
    cr_assert(strstr(plinth_context_error(ctx), "empty"), "%s", plinth_context_error(ctx));
    plinth_graph_destroy(g2);
}

GTEST(many_nodes_grow_the_array)
{
    plinth_node x = INPUT("x", PLINTH_F32, 4);
    for (int i = 0; i < 200; i++) {
        plinth_node y = plinth_add(g, x, x);
        cr_assert_eq(y, i + 1);
        cr_assert(node(y)->in[0] < y, "inputs precede their node");
        x = y;
    }
    cr_assert_eq(plinth_graph_node_count(g), 201);
    EXPECT(x, PLINTH_F32, 4);
}

/* --------------------------------------------------------- elementwise --- */

GTEST(binary_broadcasting)
{
    plinth_node a = INPUT("a", PLINTH_F32, 2, 3);
    plinth_node b = INPUT("b", PLINTH_F32, 3);
    plinth_node c = INPUT("c", PLINTH_F32, 4, 1, 3);
    plinth_node d = INPUT("d", PLINTH_F32, 2, 1);
    plinth_node s = plinth_input(g, "s", PLINTH_F32, 0, NULL);
    plinth_node e = INPUT("e", PLINTH_F32, 0, 1);
    EXPECT(plinth_add(g, a, b), PLINTH_F32, 2, 3);
    EXPECT(plinth_sub(g, b, a), PLINTH_F32, 2, 3);
    EXPECT(plinth_mul(g, c, d), PLINTH_F32, 4, 2, 3);
    EXPECT(plinth_div(g, s, c), PLINTH_F32, 4, 1, 3);
    EXPECT(plinth_add(g, e, b), PLINTH_F32, 0, 3);
    plinth_node y = plinth_add(g, a, b);
    cr_assert_eq(op_of(y), PLINTH_OP_ADD);
    cr_assert_eq(node(y)->n_in, 2);
    cr_assert_eq(node(y)->in[0], a);
    cr_assert_eq(node(y)->in[1], b);
    cr_assert_eq(node(y)->kind, PLINTH_NODE_OP);
    cr_assert_eq(node(y)->root, y);
}

GTEST(binary_ops_accept_every_dtype)
{
    const plinth_dtype dts[4] = {PLINTH_F32, PLINTH_F16, PLINTH_BF16, PLINTH_I32};
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        plinth_node x = INPUT(name, dts[i], 3);
        plinth_node y = plinth_div(g, x, x);
        EXPECT(y, dts[i], 3);
        cr_assert_eq(op_of(y), PLINTH_OP_DIV);
        cr_assert_eq(op_of(plinth_mul(g, x, x)), PLINTH_OP_MUL);
    }
}

GTEST(binary_shapes_that_do_not_broadcast)
{
    plinth_node a = INPUT("a", PLINTH_F32, 2, 3);
    plinth_node b = INPUT("b", PLINTH_F32, 4, 3);
    EXPECT_ERR(plinth_add(g, a, b), "add (node 2): shapes [2, 3] and [4, 3] do not broadcast");
}

GTEST(binary_dtypes_differ)
{
    plinth_node a = INPUT("a", PLINTH_F32, 2, 3);
    plinth_node b = INPUT("b", PLINTH_F16, 2, 3);
    EXPECT_ERR(plinth_mul(g, a, b), "mul (node 2)", "f32 [2, 3]", "f16 [2, 3]");
}

GTEST(unary_float_ops)
{
    plinth_node x = INPUT("x", PLINTH_BF16, 2, 5);
    plinth_node s = plinth_scale(g, x, 0.5f);
    EXPECT(s, PLINTH_BF16, 2, 5);
    cr_assert_eq(op_of(s), PLINTH_OP_SCALE);
    cr_assert_eq(node(s)->attrs.scale.s, 0.5f);
    plinth_node ge = plinth_gelu_tanh(g, x);
    EXPECT(ge, PLINTH_BF16, 2, 5);
    cr_assert_eq(op_of(ge), PLINTH_OP_GELU_TANH);
    plinth_node si = plinth_silu(g, plinth_cast(g, x, PLINTH_F16));
    EXPECT(si, PLINTH_F16, 2, 5);
    cr_assert_eq(op_of(si), PLINTH_OP_SILU);
    cr_assert_eq(node(si)->n_in, 1);
}

GTEST(unary_float_ops_reject_i32)
{
    plinth_node x = INPUT("x", PLINTH_I32, 2, 3);
    EXPECT_ERR(plinth_silu(g, x), "silu (node 1)", "i32 [2, 3]", "float");
}

GTEST(scale_rejects_i32)
{
    plinth_node x = INPUT("x", PLINTH_I32, 4);
    EXPECT_ERR(plinth_scale(g, x, 2.0f), "scale (node 1)", "i32 [4]");
}

/* ------------------------------------------- normalisation, softmax --- */

GTEST(rms_norm_with_and_without_weight)
{
    plinth_node x = INPUT("x", PLINTH_F32, 5, 64);
    plinth_node w = PARAM("w", PLINTH_BF16, 64);
    plinth_node y = plinth_rms_norm(g, x, w, 1e-6f);
    EXPECT(y, PLINTH_F32, 5, 64);
    cr_assert_eq(op_of(y), PLINTH_OP_RMS_NORM);
    cr_assert_eq(node(y)->n_in, 2);
    cr_assert_eq(node(y)->in[1], w);
    cr_assert_eq(node(y)->attrs.rms_norm.eps, 1e-6f);
    plinth_node z = plinth_rms_norm(g, x, PLINTH_NODE_INVALID, 0.0f);
    EXPECT(z, PLINTH_F32, 5, 64);
    cr_assert_eq(node(z)->n_in, 1);
    cr_assert_eq(plinth_graph_status(g), PLINTH_OK);
}

GTEST(rms_norm_weight_shape_mismatch)
{
    plinth_node x = INPUT("x", PLINTH_F32, 5, 64);
    plinth_node w = PARAM("w", PLINTH_F32, 32);
    EXPECT_ERR(plinth_rms_norm(g, x, w, 1e-6f), "rms_norm (node 2)", "f32 [32]", "f32 [5, 64]");
}

GTEST(rms_norm_negative_eps)
{
    plinth_node x = INPUT("x", PLINTH_F32, 5, 64);
    EXPECT_ERR(plinth_rms_norm(g, x, PLINTH_NODE_INVALID, -1.0f), "rms_norm (node 1)", "eps");
}

GTEST(softmax_with_mask)
{
    plinth_node x = INPUT("x", PLINTH_F32, 4, 3, 7);
    plinth_node m = INPUT("m", PLINTH_F16, 3, 7);
    plinth_node y = plinth_softmax(g, x, m, 0.125f);
    EXPECT(y, PLINTH_F32, 4, 3, 7);
    cr_assert_eq(op_of(y), PLINTH_OP_SOFTMAX);
    cr_assert_eq(node(y)->n_in, 2);
    cr_assert_eq(node(y)->attrs.softmax.scale, 0.125f);
    plinth_node z = plinth_softmax(g, x, PLINTH_NODE_INVALID, 1.0f);
    EXPECT(z, PLINTH_F32, 4, 3, 7);
    cr_assert_eq(node(z)->n_in, 1);
}

GTEST(softmax_mask_must_broadcast_to_x)
{
    plinth_node x = INPUT("x", PLINTH_F32, 3, 7);
    plinth_node m = INPUT("m", PLINTH_F32, 2, 3, 7); /* would grow x */
    EXPECT_ERR(plinth_softmax(g, x, m, 1.0f), "softmax (node 2)", "[2, 3, 7]", "[3, 7]");
}

GTEST(softmax_rejects_integer_mask)
{
    plinth_node x = INPUT("x", PLINTH_F32, 3, 7);
    plinth_node m = INPUT("m", PLINTH_I32, 3, 7);
    EXPECT_ERR(plinth_softmax(g, x, m, 1.0f), "softmax (node 2)", "mask", "i32 [3, 7]");
}

/* ------------------------------------------------------------- matmul --- */

GTEST(matmul_shapes)
{
    plinth_node a = INPUT("a", PLINTH_F32, 3, 5);
    plinth_node b = PARAM("b", PLINTH_BF16, 5, 6);
    plinth_node bt = PARAM("bt", PLINTH_F16, 6, 5);
    plinth_node y = plinth_matmul(g, a, b, false);
    EXPECT(y, PLINTH_F32, 3, 6);
    cr_assert_eq(op_of(y), PLINTH_OP_MATMUL);
    cr_assert_eq(node(y)->attrs.matmul.transpose_b, 0);
    plinth_node yt = plinth_matmul(g, a, bt, true);
    EXPECT(yt, PLINTH_F32, 3, 6);
    cr_assert_eq(node(yt)->attrs.matmul.transpose_b, 1);
}

GTEST(matmul_batch_broadcasting)
{
    plinth_node a = INPUT("a", PLINTH_F16, 2, 1, 3, 5);
    plinth_node b = INPUT("b", PLINTH_F32, 4, 5, 6);
    plinth_node c = INPUT("c", PLINTH_F32, 5, 6);
    EXPECT(plinth_matmul(g, a, b, false), PLINTH_F16, 2, 4, 3, 6);
    EXPECT(plinth_matmul(g, a, c, false), PLINTH_F16, 2, 1, 3, 6);
    plinth_node d = INPUT("d", PLINTH_F32, 7, 3, 5);
    EXPECT(plinth_matmul(g, d, c, false), PLINTH_F32, 7, 3, 6);
}

GTEST(matmul_inner_dims_differ)
{
    plinth_node a = INPUT("a", PLINTH_F32, 3, 5);
    plinth_node b = INPUT("b", PLINTH_F32, 4, 6);
    EXPECT_ERR(plinth_matmul(g, a, b, false),
               "matmul (node 2): inner dims differ: a [3, 5] (K=5), b [4, 6] (K=4)");
}

GTEST(matmul_batch_dims_differ)
{
    plinth_node a = INPUT("a", PLINTH_F32, 2, 3, 5);
    plinth_node b = INPUT("b", PLINTH_F32, 3, 5, 6);
    EXPECT_ERR(plinth_matmul(g, a, b, false), "matmul (node 2)", "[2, 3, 5]", "[3, 5, 6]",
               "batch");
}

GTEST(matmul_rejects_rank1_and_ints)
{
    plinth_node a = INPUT("a", PLINTH_F32, 5);
    plinth_node b = INPUT("b", PLINTH_F32, 5, 6);
    EXPECT_ERR(plinth_matmul(g, a, b, false), "matmul (node 2)", "[5]", "[5, 6]", "rank");
    plinth_graph_destroy(g);
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
    plinth_node ai = INPUT("a", PLINTH_I32, 2, 5);
    plinth_node bf = INPUT("b", PLINTH_F32, 5, 6);
    EXPECT_ERR(plinth_matmul(g, ai, bf, false), "matmul (node 2)", "i32 [2, 5]");
}

/* --------------------------------------------------------------- rows --- */

GTEST(get_rows_dtypes)
{
    plinth_node tf = PARAM("tf", PLINTH_F32, 10, 4);
    plinth_node tb = PARAM("tb", PLINTH_BF16, 10, 4);
    plinth_node ti = PARAM("ti", PLINTH_I32, 10, 4);
    plinth_node idx = INPUT("idx", PLINTH_I32, 3);
    plinth_node y = plinth_get_rows(g, tf, idx, PLINTH_F32);
    EXPECT(y, PLINTH_F32, 3, 4);
    cr_assert_eq(op_of(y), PLINTH_OP_GET_ROWS);
    cr_assert_eq(node(y)->attrs.get_rows.dtype, PLINTH_F32);
    plinth_node wide = plinth_get_rows(g, tb, idx, PLINTH_F32);
    EXPECT(wide, PLINTH_F32, 3, 4);
    EXPECT(plinth_get_rows(g, tb, idx, PLINTH_BF16), PLINTH_BF16, 3, 4);
    EXPECT(plinth_get_rows(g, ti, idx, PLINTH_I32), PLINTH_I32, 3, 4);
}

GTEST(get_rows_rejects_narrowing)
{
    plinth_node t = PARAM("t", PLINTH_F32, 10, 4);
    plinth_node idx = INPUT("idx", PLINTH_I32, 3);
    EXPECT_ERR(plinth_get_rows(g, t, idx, PLINTH_F16), "get_rows (node 2)", "f16",
               "f32 [10, 4]");
}

GTEST(get_rows_rejects_float_idx_and_rank3_table)
{
    plinth_node t = PARAM("t", PLINTH_F32, 10, 4);
    plinth_node idx = INPUT("idx", PLINTH_F32, 3);
    EXPECT_ERR(plinth_get_rows(g, t, idx, PLINTH_F32), "get_rows (node 2)", "idx",
               "f32 [3]");
    plinth_graph_destroy(g);
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
    plinth_node t3 = PARAM("t", PLINTH_F32, 2, 10, 4);
    plinth_node i3 = INPUT("idx", PLINTH_I32, 3);
    EXPECT_ERR(plinth_get_rows(g, t3, i3, PLINTH_F32), "get_rows (node 2)", "[2, 10, 4]");
}

GTEST(set_rows_records_state_src_idx_and_chains)
{
    plinth_node s = STATE("k_cache", PLINTH_F16, 16, 8);
    plinth_node src = INPUT("src", PLINTH_F32, 2, 8);
    plinth_node idx = INPUT("idx", PLINTH_I32, 2);
    plinth_node w = plinth_set_rows(g, s, src, idx);
    EXPECT(w, PLINTH_F16, 16, 8);
    cr_assert_eq(op_of(w), PLINTH_OP_SET_ROWS);
    cr_assert_eq(node(w)->kind, PLINTH_NODE_OP);
    cr_assert_eq(node(w)->n_in, 3);
    cr_assert_eq(node(w)->in[0], s);
    cr_assert_eq(node(w)->in[1], src);
    cr_assert_eq(node(w)->in[2], idx);
    plinth_node src16 = plinth_cast(g, src, PLINTH_F16);
    plinth_node w2 = plinth_set_rows(g, w, src16, idx);
    EXPECT(w2, PLINTH_F16, 16, 8);
    cr_assert_eq(node(w2)->in[0], w);
}

GTEST(set_rows_target_must_be_state)
{
    plinth_node s = INPUT("not_state", PLINTH_F32, 16, 8);
    plinth_node src = INPUT("src", PLINTH_F32, 2, 8);
    plinth_node idx = INPUT("idx", PLINTH_I32, 2);
    EXPECT_ERR(plinth_set_rows(g, s, src, idx), "set_rows (node 3)", "not a state");
}

GTEST(set_rows_shape_and_dtype_checks)
{
    plinth_node s = STATE("s", PLINTH_F32, 16, 8);
    plinth_node src = INPUT("src", PLINTH_F32, 2, 4);
    plinth_node idx = INPUT("idx", PLINTH_I32, 2);
    EXPECT_ERR(plinth_set_rows(g, s, src, idx), "set_rows (node 3)", "f32 [2, 4]",
               "f32 [16, 8]");
    plinth_graph_destroy(g);
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
    s = STATE("s", PLINTH_F32, 16, 8);
    src = INPUT("src", PLINTH_F16, 2, 8); /* f16 into an f32 state: no */
    idx = INPUT("idx", PLINTH_I32, 2);
    EXPECT_ERR(plinth_set_rows(g, s, src, idx), "set_rows (node 3)", "f16 [2, 8]",
               "f32 [16, 8]");
}

GTEST(set_rows_idx_length_must_match_src)
{
    plinth_node s = STATE("s", PLINTH_BF16, 16, 8);
    plinth_node src = INPUT("src", PLINTH_F32, 2, 8);
    plinth_node idx = INPUT("idx", PLINTH_I32, 3);
    EXPECT_ERR(plinth_set_rows(g, s, src, idx), "set_rows (node 3)", "i32 [3]", "[2]");
}

/* ------------------------------------------------- rope and attention --- */

GTEST(rope_shapes_and_attrs)
{
    plinth_node x3 = INPUT("x3", PLINTH_F32, 5, 4, 64);
    plinth_node x4 = INPUT("x4", PLINTH_BF16, 2, 5, 4, 64);
    plinth_node pos = INPUT("pos", PLINTH_I32, 5);
    plinth_node y = plinth_rope(g, x3, pos, 10000.0f, 32);
    EXPECT(y, PLINTH_F32, 5, 4, 64);
    cr_assert_eq(op_of(y), PLINTH_OP_ROPE);
    cr_assert_eq(node(y)->attrs.rope.base, 10000.0f);
    cr_assert_eq(node(y)->attrs.rope.n_dims, 32);
    EXPECT(plinth_rope(g, x4, pos, 1e6f, 64), PLINTH_BF16, 2, 5, 4, 64);
}

GTEST(rope_rejects_odd_or_large_n_dims)
{
    plinth_node x = INPUT("x", PLINTH_F32, 5, 4, 64);
    plinth_node pos = INPUT("pos", PLINTH_I32, 5);
    EXPECT_ERR(plinth_rope(g, x, pos, 10000.0f, 33), "rope (node 2)", "n_dims 33",
               "[5, 4, 64]");
    plinth_graph_destroy(g);
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
    x = INPUT("x", PLINTH_F32, 5, 4, 64);
    pos = INPUT("pos", PLINTH_I32, 5);
    EXPECT_ERR(plinth_rope(g, x, pos, 10000.0f, 66), "rope (node 2)", "n_dims 66");
}

GTEST(rope_rejects_bad_pos_and_base)
{
    plinth_node x = INPUT("x", PLINTH_F32, 5, 4, 64);
    plinth_node pos = INPUT("pos", PLINTH_I32, 6);
    EXPECT_ERR(plinth_rope(g, x, pos, 10000.0f, 64), "rope (node 2)", "pos", "i32 [6]",
               "[5]");
    plinth_graph_destroy(g);
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
    x = INPUT("x", PLINTH_F32, 5, 4, 64);
    pos = INPUT("pos", PLINTH_I32, 5);
    EXPECT_ERR(plinth_rope(g, x, pos, 0.0f, 64), "rope (node 2)", "base");
}

GTEST(rope_rejects_rank2)
{
    plinth_node x = INPUT("x", PLINTH_F32, 5, 64);
    plinth_node pos = INPUT("pos", PLINTH_I32, 5);
    EXPECT_ERR(plinth_rope(g, x, pos, 10000.0f, 64), "rope (node 2)", "f32 [5, 64]");
}

GTEST(rope_factors_shapes_and_attrs)
{
    plinth_node x = INPUT("x", PLINTH_BF16, 2, 5, 4, 64);
    plinth_node pos = INPUT("pos", PLINTH_I32, 5);
    plinth_node f = PARAM("f", PLINTH_F32, 16);
    plinth_node y = plinth_rope_factors(g, x, pos, f, 500000.0f, 32);
    EXPECT(y, PLINTH_BF16, 2, 5, 4, 64);
    cr_assert_eq(op_of(y), PLINTH_OP_ROPE_FACTORS);
    cr_assert_eq(node(y)->n_in, 3);
    cr_assert_eq(node(y)->in[2], f);
    cr_assert_eq(node(y)->attrs.rope.base, 500000.0f);
    cr_assert_eq(node(y)->attrs.rope.n_dims, 32);
}

/* factors f32 [n_dims / 2]: not [n_dims], not f16, not [1, n_dims / 2]. */
GTEST(rope_factors_rejects_bad_factors)
{
    static const struct {
        int32_t dtype;
        int ndim;
        int64_t shape[2];
        const char *desc;
    } bad[] = {
        {PLINTH_F32, 1, {64}, "f32 [64]"},
        {PLINTH_F16, 1, {32}, "f16 [32]"},
        {PLINTH_F32, 2, {1, 32}, "f32 [1, 32]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (i) {
            plinth_graph_destroy(g);
            cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
        }
        plinth_node x = INPUT("x", PLINTH_F32, 5, 4, 64);
        plinth_node pos = INPUT("pos", PLINTH_I32, 5);
        plinth_node f = plinth_param(g, "f", (plinth_dtype)bad[i].dtype, bad[i].ndim,
                                     bad[i].shape);
        EXPECT_ERR(plinth_rope_factors(g, x, pos, f, 10000.0f, 64), "rope_factors (node 3)",
                   "factors", bad[i].desc, "f32 [32]");
    }
}

GTEST(rope_factors_keeps_ropes_checks)
{
    plinth_node x = INPUT("x", PLINTH_F32, 5, 4, 64);
    plinth_node pos = INPUT("pos", PLINTH_I32, 5);
    plinth_node f = PARAM("f", PLINTH_F32, 33);
    EXPECT_ERR(plinth_rope_factors(g, x, pos, f, 10000.0f, 66), "rope_factors (node 3)",
               "n_dims 66");
    plinth_graph_destroy(g);
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
    x = INPUT("x", PLINTH_F32, 5, 4, 64);
    pos = INPUT("pos", PLINTH_I32, 5);
    EXPECT_ERR(plinth_rope_factors(g, x, pos, PLINTH_NODE_INVALID, 10000.0f, 64),
               "rope_factors", "factors");
}

/* q [T, Hq, D], k/v [S, Hkv, D], pos [T], kv_len [1], in that node order. */
static plinth_node attn(int64_t t, int64_t hq, int64_t s, int64_t hkv, int64_t d,
                        int64_t t_pos, int window)
{
    plinth_node q = INPUT("q", PLINTH_F32, t, hq, d);
    plinth_node k = STATE("k", PLINTH_F16, s, hkv, d);
    plinth_node v = STATE("v", PLINTH_F16, s, hkv, d);
    plinth_node pos = INPUT("pos", PLINTH_I32, t_pos);
    plinth_node kv_len = plinth_input(g, "kv_len", PLINTH_I32, 0, NULL);
    return plinth_attention(g, q, k, v, pos, kv_len, 0.0625f, window);
}

GTEST(attention_shape_and_attrs)
{
    plinth_node y = attn(5, 8, 32, 2, 64, 5, 16);
    EXPECT(y, PLINTH_F32, 5, 8, 64);
    cr_assert_eq(op_of(y), PLINTH_OP_ATTENTION);
    cr_assert_eq(node(y)->n_in, 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(node(y)->in[i], i);
    cr_assert_eq(node(y)->attrs.attention.scale, 0.0625f);
    cr_assert_eq(node(y)->attrs.attention.window, 16);
}

GTEST(attention_gqa_heads_must_divide)
{
    EXPECT_ERR(attn(5, 6, 32, 4, 64, 5, 0), "attention (node 5)", "[5, 6, 64]",
               "[32, 4, 64]");
}

GTEST(attention_rejects_bad_pos_and_window)
{
    EXPECT_ERR(attn(5, 8, 32, 2, 64, 4, 0), "attention (node 5)", "pos", "i32 [4]");
    plinth_graph_destroy(g);
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
    EXPECT_ERR(attn(5, 8, 32, 2, 64, 5, -1), "attention (node 5)", "window is -1");
}

GTEST(attention_k_v_must_agree)
{
    plinth_node q = INPUT("q", PLINTH_F32, 5, 8, 64);
    plinth_node k = STATE("k", PLINTH_F32, 32, 2, 64);
    plinth_node v = STATE("v", PLINTH_F32, 16, 2, 64);
    plinth_node pos = INPUT("pos", PLINTH_I32, 5);
    plinth_node kv_len = INPUT("kv_len", PLINTH_I32, 1);
    EXPECT_ERR(plinth_attention(g, q, k, v, pos, kv_len, 1.0f, 0), "attention (node 5)",
               "[32, 2, 64]", "[16, 2, 64]");
}

GTEST(attention_kv_len_must_be_one_i32)
{
    plinth_node q = INPUT("q", PLINTH_F32, 5, 8, 64);
    plinth_node k = STATE("k", PLINTH_F32, 32, 2, 64);
    plinth_node v = STATE("v", PLINTH_F32, 32, 2, 64);
    plinth_node pos = INPUT("pos", PLINTH_I32, 5);
    plinth_node kv_len = INPUT("kv_len", PLINTH_I32, 2);
    EXPECT_ERR(plinth_attention(g, q, k, v, pos, kv_len, 1.0f, 0), "attention (node 5)",
               "kv_len", "i32 [2]");
}

/* ------------------------------------------ cast, copy, concat, argmax --- */

GTEST(cast_and_copy)
{
    plinth_node x = INPUT("x", PLINTH_I32, 2, 3);
    plinth_node c = plinth_cast(g, x, PLINTH_BF16);
    EXPECT(c, PLINTH_BF16, 2, 3);
    cr_assert_eq(op_of(c), PLINTH_OP_CAST);
    cr_assert_eq(node(c)->attrs.cast.dtype, PLINTH_BF16);
    plinth_node t = plinth_transpose(g, c);
    plinth_node cp = plinth_copy(g, t);
    EXPECT(cp, PLINTH_BF16, 3, 2);
    cr_assert_eq(op_of(cp), PLINTH_OP_COPY);
    cr_assert(node_is_contiguous(node(cp)));
    cr_assert_not(node_is_contiguous(node(t)));
}

GTEST(cast_to_bad_dtype)
{
    plinth_node x = INPUT("x", PLINTH_F32, 2, 3);
    EXPECT_ERR(plinth_cast(g, x, (plinth_dtype)99), "cast (node 1)", "dtype 99", "f32 [2, 3]");
}

GTEST(concat_axes)
{
    plinth_node a = INPUT("a", PLINTH_F16, 2, 3, 4);
    plinth_node b = INPUT("b", PLINTH_F16, 2, 5, 4);
    plinth_node c = INPUT("c", PLINTH_F16, 2, 3, 1);
    plinth_node y = plinth_concat(g, a, b, 1);
    EXPECT(y, PLINTH_F16, 2, 8, 4);
    cr_assert_eq(op_of(y), PLINTH_OP_CONCAT);
    cr_assert_eq(node(y)->attrs.concat.axis, 1);
    plinth_node z = plinth_concat(g, a, c, -1);
    EXPECT(z, PLINTH_F16, 2, 3, 5);
    cr_assert_eq(node(z)->attrs.concat.axis, 2, "the axis is stored normalised");
}

GTEST(concat_mismatch)
{
    plinth_node a = INPUT("a", PLINTH_F32, 2, 3);
    plinth_node b = INPUT("b", PLINTH_F32, 4, 5);
    EXPECT_ERR(plinth_concat(g, a, b, 0), "concat (node 2)", "f32 [2, 3]", "f32 [4, 5]");
}

GTEST(concat_bad_axis_and_dtype)
{
    plinth_node a = INPUT("a", PLINTH_F32, 2, 3);
    plinth_node b = INPUT("b", PLINTH_F32, 2, 3);
    EXPECT_ERR(plinth_concat(g, a, b, 2), "concat (node 2)", "axis 2");
    plinth_graph_destroy(g);
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
    a = INPUT("a", PLINTH_F32, 2, 3);
    b = INPUT("b", PLINTH_BF16, 2, 3);
    EXPECT_ERR(plinth_concat(g, a, b, 0), "concat (node 2)", "bf16 [2, 3]");
}

GTEST(argmax_drops_last_dim)
{
    plinth_node x = INPUT("x", PLINTH_BF16, 2, 3, 5);
    plinth_node v = INPUT("v", PLINTH_F32, 7);
    plinth_node y = plinth_argmax(g, x);
    EXPECT(y, PLINTH_I32, 2, 3);
    cr_assert_eq(op_of(y), PLINTH_OP_ARGMAX);
    EXPECT(plinth_argmax(g, v), PLINTH_I32, 1);
}

GTEST(argmax_rejects_i32)
{
    plinth_node x = INPUT("x", PLINTH_I32, 7);
    EXPECT_ERR(plinth_argmax(g, x), "argmax (node 1)", "i32 [7]");
}

/* -------------------------------------------------------------- views --- */

GTEST(transpose_and_permute_swap_strides)
{
    plinth_node x = INPUT("x", PLINTH_F32, 2, 3, 4);
    plinth_node t = plinth_transpose(g, x);
    EXPECT(t, PLINTH_F32, 2, 4, 3);
    const graph_node *n = node(t);
    cr_assert_eq(n->kind, PLINTH_NODE_VIEW);
    cr_assert_eq(n->op, -1);
    cr_assert_eq(n->n_in, 1);
    cr_assert_eq(n->in[0], x);
    cr_assert_eq(n->root, x);
    cr_assert_eq(n->offset, 0);
    cr_assert_eq(n->stride[0], 48);
    cr_assert_eq(n->stride[1], 4);
    cr_assert_eq(n->stride[2], 16);
    plinth_node p = plinth_permute(g, x, (const int[]){2, 0, 1});
    EXPECT(p, PLINTH_F32, 4, 2, 3);
    cr_assert_eq(node(p)->stride[0], 4);
    cr_assert_eq(node(p)->stride[1], 48);
    cr_assert_eq(node(p)->stride[2], 16);
}

GTEST(permute_rejects_non_permutation)
{
    plinth_node x = INPUT("x", PLINTH_F32, 2, 3, 4);
    EXPECT_ERR(plinth_permute(g, x, (const int[]){0, 0, 1}), "permute (node 1)", "0, 0, 1",
               "[2, 3, 4]");
}

GTEST(transpose_needs_rank2)
{
    plinth_node x = INPUT("x", PLINTH_F32, 4);
    EXPECT_ERR(plinth_transpose(g, x), "transpose (node 1)", "[4]");
}

GTEST(slice_offsets_compose_to_the_root)
{
    plinth_node x = INPUT("x", PLINTH_F32, 4, 6);
    plinth_node s = plinth_slice(g, x, -1, 2, 3);
    EXPECT(s, PLINTH_F32, 4, 3);
    cr_assert_eq(node(s)->offset, 8);
    cr_assert_eq(node(s)->stride[0], 24);
    cr_assert_eq(node(s)->stride[1], 4);
    plinth_node s2 = plinth_slice(g, s, 0, 1, 2);
    EXPECT(s2, PLINTH_F32, 2, 3);
    cr_assert_eq(node(s2)->in[0], s);
    cr_assert_eq(node(s2)->root, x, "a view of a view points at the owner");
    cr_assert_eq(node(s2)->offset, 8 + 24);
    plinth_node t = plinth_transpose(g, s2);
    cr_assert_eq(node(t)->root, x);
    cr_assert_eq(node(t)->offset, 32);
    cr_assert_eq(node(t)->stride[0], 4);
    cr_assert_eq(node(t)->stride[1], 24);
    plinth_node s3 = plinth_slice(g, t, 0, 2, 1);
    cr_assert_eq(node(s3)->offset, 32 + 8);
    EXPECT(s3, PLINTH_F32, 1, 2);
}

GTEST(slice_out_of_range)
{
    plinth_node x = INPUT("x", PLINTH_F32, 4, 6);
    EXPECT_ERR(plinth_slice(g, x, 1, 4, 3), "slice (node 1)", "[4, 6]");
}

GTEST(slice_negative_start_or_bad_axis)
{
    plinth_node x = INPUT("x", PLINTH_F32, 4, 6);
    EXPECT_ERR(plinth_slice(g, x, 0, -1, 2), "slice (node 1)", "[4, 6]");
    plinth_graph_destroy(g);
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
    x = INPUT("x", PLINTH_F32, 4, 6);
    EXPECT_ERR(plinth_slice(g, x, 2, 0, 1), "slice (node 1)", "axis 2");
}

GTEST(reshape_of_contiguous_is_a_view)
{
    plinth_node x = INPUT("x", PLINTH_BF16, 2, 3, 4);
    plinth_node r = plinth_reshape(g, x, 2, DIMS(6, -1));
    EXPECT(r, PLINTH_BF16, 6, 4);
    cr_assert_eq(plinth_graph_node_count(g), 2);
    cr_assert_eq(node(r)->kind, PLINTH_NODE_VIEW);
    cr_assert_eq(node(r)->root, x);
    cr_assert_eq(node(r)->stride[0], 8);
    cr_assert_eq(node(r)->stride[1], 2);
    /* An outer slice is still contiguous: no copy, its offset kept. */
    plinth_node s = plinth_slice(g, x, 0, 1, 1);
    plinth_node r2 = plinth_reshape(g, s, 1, DIMS(12));
    EXPECT(r2, PLINTH_BF16, 12);
    cr_assert_eq(plinth_graph_node_count(g), 4);
    cr_assert_eq(node(r2)->root, x);
    cr_assert_eq(node(r2)->offset, 24);
    plinth_node sc = plinth_reshape(g, r2, 0, NULL);
    cr_assert_eq(sc, PLINTH_NODE_INVALID, "12 elements are not a scalar");
}

GTEST(reshape_of_strided_view_inserts_a_copy)
{
    plinth_node x = INPUT("x", PLINTH_F32, 3, 4);
    plinth_node t = plinth_transpose(g, x);
    uint32_t before = plinth_graph_node_count(g);
    plinth_node r = plinth_reshape(g, t, 1, DIMS(12));
    EXPECT(r, PLINTH_F32, 12);
    cr_assert_eq(plinth_graph_node_count(g), before + 2);
    plinth_node cp = node(r)->in[0];
    cr_assert_eq(op_of(cp), PLINTH_OP_COPY);
    cr_assert_eq(node(cp)->in[0], t);
    EXPECT(cp, PLINTH_F32, 4, 3);
    cr_assert_eq(node(r)->root, cp);
    cr_assert_eq(node(r)->offset, 0);
}

GTEST(reshape_element_count_must_match)
{
    plinth_node x = INPUT("x", PLINTH_F32, 2, 3);
    EXPECT_ERR(plinth_reshape(g, x, 2, DIMS(4, 2)), "reshape (node 1)", "f32 [2, 3]",
               "[4, 2]");
}

GTEST(reshape_rejects_two_inferred_dims)
{
    plinth_node x = INPUT("x", PLINTH_F32, 2, 3);
    EXPECT_ERR(plinth_reshape(g, x, 2, DIMS(-1, -1)), "reshape (node 1)", "[-1, -1]");
}

/* ------------------------------------------------------ sticky errors --- */

GTEST(first_error_is_kept)
{
    plinth_node a = INPUT("a", PLINTH_F32, 2, 3);
    plinth_node b = INPUT("b", PLINTH_F32, 4, 3);
    plinth_node bad = plinth_add(g, a, b);
    cr_assert_eq(bad, PLINTH_NODE_INVALID);
    char first[4096];
    snprintf(first, sizeof first, "%s", plinth_context_error(ctx));
    cr_assert(strstr(first, "add (node 2)"), "%s", first);
    /* Later calls fail without touching the message, valid or not. */
    cr_assert_eq(plinth_silu(g, bad), PLINTH_NODE_INVALID);
    cr_assert_eq(plinth_silu(g, a), PLINTH_NODE_INVALID);
    cr_assert_eq(plinth_matmul(g, a, b, false), PLINTH_NODE_INVALID);
    cr_assert_eq(INPUT("c", PLINTH_F32, -1), PLINTH_NODE_INVALID);
    cr_assert_eq(plinth_reshape(g, a, 1, DIMS(6)), PLINTH_NODE_INVALID);
    cr_assert_neq(plinth_output(g, a, "a"), PLINTH_OK);
    cr_assert_str_eq(plinth_context_error(ctx), first);
    cr_assert_eq(plinth_graph_status(g), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_graph_node_count(g), 2);
}

GTEST(invalid_argument_node_fails_the_graph)
{
    plinth_node a = INPUT("a", PLINTH_F32, 2, 3);
    EXPECT_ERR(plinth_mul(g, a, PLINTH_NODE_INVALID), "mul (node 1)", "b is node -1");
    plinth_graph_destroy(g);
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
    a = INPUT("a", PLINTH_F32, 2, 3);
    EXPECT_ERR(plinth_rms_norm(g, a, 99, 1e-6f), "rms_norm (node 1)", "node 99");
}

GTEST(graphs_are_independent)
{
    plinth_graph *g2;
    cr_assert_eq(plinth_graph_create(ctx, &g2), PLINTH_OK);
    plinth_node a = INPUT("a", PLINTH_F32, 2);
    cr_assert_eq(plinth_silu(g, a + 5), PLINTH_NODE_INVALID);
    cr_assert_neq(plinth_graph_status(g), PLINTH_OK);
    cr_assert_eq(plinth_graph_status(g2), PLINTH_OK);
    cr_assert_neq(plinth_input(g2, "a", PLINTH_F32, 1, DIMS(2)), PLINTH_NODE_INVALID);
    plinth_graph_destroy(g2);
    cr_assert_eq(plinth_graph_create(NULL, &g2), PLINTH_ERR_INVALID);
    cr_assert_null(g2);
}
