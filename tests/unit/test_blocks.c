/*
 * test_blocks.c — block dtypes (q8_0, q4_0, q4_K, q6_K) in the core: where
 * the graph takes them and where it refuses them (with the message), views
 * that would cut a block, and every size the core derives from them (leaf
 * and view strides, the model's pools, set_param, plan figures), then a
 * program on ref with a dequantising cast folded at load.
 *
 * Sections: helpers; leaves and ops; views; sizes and a program.
 */
#include <criterion/criterion.h>

#include "internal.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
}

TestSuite(blocks, .init = setup, .fini = teardown);

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define NDIM(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define PARAM(name, dt, ...) plinth_param(g, name, dt, NDIM(__VA_ARGS__), DIMS(__VA_ARGS__))
#define INPUT(name, dt, ...) plinth_input(g, name, dt, NDIM(__VA_ARGS__), DIMS(__VA_ARGS__))

static const graph_node *node(plinth_node n)
{
    cr_assert(n >= 0 && (uint32_t)n < g->n_nodes, "node %d: %s", n, plinth_context_error(ctx));
    return &g->nodes[n];
}

/* The builder failed and the message holds `frag`. */
static void expect_error(plinth_node n, const char *frag)
{
    cr_assert_eq(n, PLINTH_NODE_INVALID, "expected a failure, got node %d", n);
    const char *msg = plinth_context_error(ctx);
    cr_assert(strstr(msg, frag), "message '%s' lacks '%s'", msg, frag);
}

/* A fresh graph (after a sticky error). */
static void regraph(void)
{
    plinth_graph_destroy(g);
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
}

/* -------------------------------------------------------- leaves, ops --- */

Test(blocks, a_weight_is_whole_blocks_with_block_strides)
{
    plinth_node w = PARAM("w", PLINTH_Q8_0, 3, 64);
    const graph_node *n = node(w);
    cr_expect_eq(n->stride[1], 34); /* the block's bytes */
    cr_expect_eq(n->stride[0], 2 * 34);
    cr_expect_eq(node_bytes(n), 3u * 2u * 34u);
    plinth_node k = PARAM("k", PLINTH_Q4_K, 2, 5, 512);
    n = node(k);
    cr_expect_eq(n->stride[2], 144);
    cr_expect_eq(n->stride[1], 2 * 144);
    cr_expect_eq(n->stride[0], 5 * 2 * 144);
    cr_expect_eq(node_bytes(n), 2u * 5u * 2u * 144u);
    cr_expect(node_is_contiguous(n));
    expect_error(PARAM("bad", PLINTH_Q4_K, 2, 640), "whole number of q4_K blocks");
}

Test(blocks, states_and_outputs_are_not_block_dtypes)
{
    expect_error(plinth_state(g, "s", PLINTH_Q4_0, 2, DIMS(2, 32)), "weights only");
    regraph();
    plinth_node w = PARAM("w", PLINTH_Q6_K, 1, 256);
    cr_expect_eq(plinth_output(g, w, "w"), PLINTH_ERR_INVALID);
    cr_expect(strstr(plinth_context_error(ctx), "cast it to f32"), "%s",
              plinth_context_error(ctx));
}

Test(blocks, matmul_takes_a_block_b_only)
{
    plinth_node a = INPUT("a", PLINTH_F32, 7, 64);
    plinth_node w = PARAM("w", PLINTH_Q4_0, 33, 64);
    plinth_node y = plinth_matmul(g, a, w, true);
    cr_expect_eq(node(y)->dtype, PLINTH_F32);
    cr_expect_eq(node(y)->shape[0], 7);
    cr_expect_eq(node(y)->shape[1], 33);
    /* without transpose_b: b [K, N], N blocked */
    plinth_node wn = PARAM("wn", PLINTH_Q8_0, 64, 32);
    y = plinth_matmul(g, a, wn, false);
    cr_expect_eq(node(y)->shape[1], 32);
    expect_error(plinth_matmul(g, w, w, true), "needs a float dtype");
}

Test(blocks, get_rows_of_a_block_table_gives_f32)
{
    plinth_node t = PARAM("t", PLINTH_Q6_K, 100, 256);
    plinth_node idx = INPUT("idx", PLINTH_I32, 5);
    plinth_node r = plinth_get_rows(g, t, idx, PLINTH_F32);
    cr_expect_eq(node(r)->dtype, PLINTH_F32);
    cr_expect_eq(node(r)->shape[1], 256);
    expect_error(plinth_get_rows(g, t, idx, PLINTH_F16), "a block table gives f32");
}

Test(blocks, cast_dequantises_to_float_and_nothing_writes_a_block)
{
    plinth_node w = PARAM("w", PLINTH_Q8_0, 4, 32);
    cr_expect_eq(node(plinth_cast(g, w, PLINTH_F16))->dtype, PLINTH_F16);
    cr_expect_eq(node(plinth_cast(g, w, PLINTH_BF16))->dtype, PLINTH_BF16);
    expect_error(plinth_cast(g, w, PLINTH_I32), "casts to f32, f16 or bf16");
    regraph();
    plinth_node f = INPUT("f", PLINTH_F32, 4, 32);
    expect_error(plinth_cast(g, f, PLINTH_Q8_0), "no op writes one");
    regraph();
    w = PARAM("w", PLINTH_Q4_0, 4, 32);
    expect_error(plinth_copy(g, w), "no op writes one");
    regraph();
    w = PARAM("w", PLINTH_Q4_0, 4, 32);
    expect_error(plinth_add(g, w, w), "no op writes one");
    regraph();
    w = PARAM("w", PLINTH_Q4_0, 4, 32);
    expect_error(plinth_concat(g, w, w, 0), "no op writes one");
    regraph();
    w = PARAM("w", PLINTH_Q4_0, 4, 32);
    expect_error(plinth_rms_norm(g, w, PLINTH_NODE_INVALID, 1e-6f), "needs a float dtype");
}

/* ------------------------------------------------------------- views --- */

Test(blocks, views_keep_whole_rows_of_blocks)
{
    plinth_node w = PARAM("w", PLINTH_Q8_0, 6, 128);
    /* rows: fine; their offset is whole rows of blocks */
    plinth_node s = plinth_slice(g, w, 0, 2, 3);
    cr_expect_eq(node(s)->offset, 2 * 4 * 34);
    cr_expect_eq(node(s)->stride[1], 34);
    /* a contiguous reshape into whole blocks: fine, same bytes */
    plinth_node r = plinth_reshape(g, w, 3, DIMS(2, 3, 128));
    cr_expect_eq(node(r)->stride[2], 34);
    cr_expect_eq(node(r)->stride[1], 4 * 34);
    r = plinth_reshape(g, w, 2, DIMS(12, 64));
    cr_expect_eq(node(r)->stride[0], 2 * 34);
    /* an outer permute: fine */
    plinth_node w3 = PARAM("w3", PLINTH_Q4_0, 2, 3, 32);
    plinth_node p = plinth_permute(g, w3, (const int[]){1, 0, 2});
    cr_expect_eq(node(p)->stride[0], 18);
    cr_expect_eq(node(p)->stride[1], 3 * 18);
    /* cutting the inner dim: refused, each way */
    expect_error(plinth_slice(g, w, 1, 0, 32), "only whole rows");
    regraph();
    w = PARAM("w", PLINTH_Q8_0, 6, 128);
    expect_error(plinth_reshape(g, w, 2, DIMS(48, 16)), "would cut a q8_0 block");
    regraph();
    w = PARAM("w", PLINTH_Q8_0, 6, 128);
    expect_error(plinth_transpose(g, w), "must stay last");
    regraph();
    /* a strided view of blocks cannot be reshaped (that needs a copy) */
    w = PARAM("w", PLINTH_Q8_0, 2, 6, 64);
    s = plinth_slice(g, w, 1, 0, 3);
    expect_error(plinth_reshape(g, s, 2, DIMS(6, 64)), "needs a copy");
}

/* ------------------------------------------------- sizes and a program --- */

static void ref_path(char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cr_assert(n > 0);
    exe[n] = '\0';
    snprintf(out, size, "%s/../../backends/ref/plinth-ref.so", dirname(exe));
}

/* y = x @ w^T (w q8_0) + x @ cast(v, f32)^T (v q4_0, dequantised at load):
 * the model's pool holds w's blocks, v's blocks and v's folded f32 copy;
 * set_param wants the blocks' bytes; the values are the dequantised ones. */
Test(blocks, a_program_sizes_loads_and_folds_block_weights)
{
    char path[PATH_MAX + 64];
    ref_path(path, sizeof path);
    plinth_backend *be = NULL;
    plinth_model *m = NULL;
    plinth_program *p = NULL;
    cr_assert_eq(plinth_backend_open(ctx, path, 0, NULL, &be), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_assert_eq(plinth_model_create(be, &m), PLINTH_OK);
    plinth_node x = INPUT("x", PLINTH_F32, 1, 64);
    plinth_node w = PARAM("w", PLINTH_Q8_0, 3, 64);
    plinth_node v = PARAM("v", PLINTH_Q4_0, 3, 64);
    plinth_node y = plinth_add(g, plinth_matmul(g, x, w, true),
                               plinth_matmul(g, x, plinth_cast(g, v, PLINTH_F32), true));
    cr_assert_eq(plinth_output(g, y, "y"), PLINTH_OK, "%s", plinth_context_error(ctx));
    cr_assert_eq(plinth_program_compile(m, g, NULL, &p), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    plinth_plan_stats st = {.struct_size = sizeof st};
    cr_assert_eq(plinth_program_plan_stats(p, &st), PLINTH_OK);
    cr_expect_eq(st.n_fold_instructions, 1u, "the cast folds at load");
    /* w: 3 x 2 x 34 = 204 -> 256; v: 3 x 2 x 18 = 108 -> 256; v as f32: 768 */
    cr_expect_eq(st.persistent_bytes, 256u + 256u + 768u, "persistent %llu",
                 (unsigned long long)st.persistent_bytes);
    cr_assert_eq(plinth_model_load_empty(m), PLINTH_OK, "%s", plinth_context_error(ctx));

    /* w: every block d = 1, q = 1 (so row r of w sums x); v: d = 0.5,
     * nibbles 9 (q - 8 = 1: 0.5 each) */
    uint8_t wb[3 * 2 * 34], vb[3 * 2 * 18];
    for (int b = 0; b < 6; b++) {
        wb[34 * b] = 0x00;
        wb[34 * b + 1] = 0x3C;
        memset(wb + 34 * b + 2, 1, 32);
        vb[18 * b] = 0x00;
        vb[18 * b + 1] = 0x38;
        memset(vb + 18 * b + 2, 0x99, 16);
    }
    cr_expect_eq(plinth_model_set_param(m, "w", wb, sizeof wb - 1), PLINTH_ERR_INVALID);
    cr_expect(strstr(plinth_context_error(ctx), "204 bytes"), "%s", plinth_context_error(ctx));
    cr_assert_eq(plinth_model_set_param(m, "w", wb, sizeof wb), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_assert_eq(plinth_model_set_param(m, "v", vb, sizeof vb), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    float xv[64];
    for (int i = 0; i < 64; i++)
        xv[i] = (float)(i + 1); /* sums to 2080 */
    cr_assert_eq(plinth_program_set_input(p, 0, xv, sizeof xv), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_assert_eq(plinth_program_run(p), PLINTH_OK, "%s", plinth_context_error(ctx));
    float out[3];
    cr_assert_eq(plinth_program_get_output(p, 0, out, sizeof out), PLINTH_OK);
    for (int i = 0; i < 3; i++)
        cr_expect_eq(out[i], 2080.0f + 1040.0f, "y[%d] = %g", i, out[i]);
    plinth_program_destroy(p);
    plinth_model_destroy(m);
    plinth_backend_close(be);
}
