/*
 * test_compile.c — the compiler (core/compile.c) against its contract.
 *
 * Sections: fixture (ref backend located next to this binary, a model);
 * dead nodes and views; folding; in-place; outputs and io; states
 * (ordering, sharing); errors; plan JSON; a brute-force check of the arena
 * plan on random graphs (independent of the planner's own verifier); plan
 * quality on a Gemma-like transformer block.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <cJSON.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* ------------------------------------------------------------ fixture --- */

static plinth_context *ctx;
static plinth_backend *be;
static plinth_model *model;
static plinth_graph *g;

/* tests/unit/ is two levels under the build root. */
static void plugin_path(const char *rel, char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cr_assert(n > 0);
    exe[n] = '\0';
    snprintf(out, size, "%s/../../%s", dirname(exe), rel);
}

static void open_backend(const char *rel)
{
    char path[PATH_MAX + 64];
    plugin_path(rel, path, sizeof path);
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    plinth_status st = plinth_backend_open(ctx, path, 0, NULL, &be);
    cr_assert_eq(st, PLINTH_OK, "open %s: %s", path, plinth_context_error(ctx));
    cr_assert_eq(plinth_model_create(be, &model), PLINTH_OK, "%s", plinth_context_error(ctx));
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
}

static void setup(void)
{
    open_backend("backends/ref/plinth-ref.so");
}

static void setup_template(void)
{
    open_backend("plugins/template/plinth-template.so");
}

static void teardown(void)
{
    plinth_graph_destroy(g);
    plinth_model_destroy(model); /* destroys its programs */
    plinth_backend_close(be);
    plinth_context_destroy(ctx);
    g = NULL;
    model = NULL;
    be = NULL;
    ctx = NULL;
}

TestSuite(compile, .init = setup, .fini = teardown);
TestSuite(compile_template, .init = setup_template, .fini = teardown);

static plinth_program *compile_ok(const plinth_compile_options *opts)
{
    plinth_program *p = NULL;
    plinth_status st = plinth_program_compile(model, g, opts, &p);
    cr_assert_eq(st, PLINTH_OK, "compile: %s (%s)", plinth_status_name(st),
                 plinth_context_error(ctx));
    cr_assert_not_null(p);
    return p;
}

static plinth_compile_options options(bool no_fold, bool no_inplace)
{
    plinth_compile_options o = {.struct_size = sizeof o, .no_fold = no_fold,
                                .no_inplace = no_inplace};
    return o;
}

static const int64_t S44[] = {4, 4};

static plinth_node in2(const char *name, int64_t a, int64_t b)
{
    return plinth_input(g, name, PLINTH_F32, 2, (int64_t[]){a, b});
}

static plinth_node param2(const char *name, int64_t a, int64_t b)
{
    return plinth_param(g, name, PLINTH_F32, 2, (int64_t[]){a, b});
}

/* Index of the first instruction of `p` for graph node `node`, or -1. */
static int find_code(const plinth_program *p, int node, uint32_t op)
{
    for (uint32_t i = 0; i < p->n_code; i++)
        if (p->code[i].node == node && p->code[i].op == op)
            return (int)i;
    return -1;
}

static uint32_t count_op(const instruction *list, uint32_t n, uint32_t op)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        k += list[i].op == op;
    return k;
}

static uint64_t view_extent(const plinth_view *v)
{
    /* Last byte touched + 1, relative to offset (strides are >= 0 here). */
    uint64_t end = plinth_dtype_size((plinth_dtype)v->dtype);
    for (int d = 0; d < PLINTH_MAX_DIMS; d++) {
        if (v->shape[d] == 0)
            return 0;
        end += (uint64_t)(v->shape[d] - 1) * (uint64_t)v->stride[d];
    }
    return end;
}

/* ---------------------------------------------- dead nodes and views --- */

Test(compile, dead_nodes_are_removed)
{
    plinth_node x = in2("x", 4, 4);
    plinth_node a = plinth_gelu_tanh(g, x);
    plinth_node b = plinth_silu(g, x); /* dead */
    plinth_add(g, b, b);               /* dead */
    plinth_param(g, "unused.weight", PLINTH_F32, 2, S44);
    cr_assert_eq(plinth_output(g, a, "y"), PLINTH_OK);
    plinth_program *p = compile_ok(NULL);
    cr_assert_eq(p->n_code, 1);
    cr_assert_eq(p->stats.n_instructions, 1);
    cr_assert_eq(p->code[0].op, PLINTH_OP_GELU_TANH);
    cr_assert_eq(model->n_tensors, 0, "a dead param is not registered");
}

Test(compile, views_make_no_instruction_and_alias_their_base)
{
    plinth_node x = in2("x", 4, 8);
    plinth_node y = plinth_gelu_tanh(g, x);
    plinth_node s = plinth_slice(g, y, 0, 1, 2); /* rows 1..2: +32 bytes */
    plinth_node t = plinth_transpose(g, s);      /* [8, 2] */
    plinth_node z = plinth_silu(g, t);
    plinth_output(g, z, "z");
    plinth_program *p = compile_ok(NULL);
    cr_assert_eq(p->n_code, 2);
    cr_assert_eq(p->stats.n_views, 2);
    const instruction *a = &p->code[0], *b = &p->code[1];
    cr_assert_eq(a->node, y);
    cr_assert_eq(b->node, z);
    cr_assert_eq(a->out_pool, POOL_ARENA);
    cr_assert_eq(b->in_pool[0], POOL_ARENA);
    cr_assert_eq(b->in[0].base, a->out.offset, "the view's base is its root's offset");
    cr_assert_eq(b->in[0].offset, a->out.offset + 32);
    cr_assert_eq(b->in[0].shape[2], 8);
    cr_assert_eq(b->in[0].shape[3], 2);
    cr_assert_eq(b->in[0].stride[2], 4);
    cr_assert_eq(b->in[0].stride[3], 32);
}

Test(compile, views_extend_the_life_of_their_base)
{
    plinth_node x = in2("x", 64, 64);
    plinth_node y = plinth_gelu_tanh(g, x);
    plinth_node t = plinth_transpose(g, y);
    plinth_node a = plinth_silu(g, x);
    plinth_node b = plinth_scale(g, a, 2.0f);
    plinth_node c = plinth_add(g, b, t);
    plinth_node o = plinth_silu(g, c);
    plinth_output(g, o, "o");
    plinth_compile_options opt = options(false, true);
    plinth_program *p = compile_ok(&opt);
    int iy = find_code(p, y, PLINTH_OP_GELU_TANH), ia = find_code(p, a, PLINTH_OP_SILU),
        ib = find_code(p, b, PLINTH_OP_SCALE);
    cr_assert(iy >= 0 && ia >= 0 && ib >= 0);
    uint64_t ys = p->code[iy].out.offset, bytes = 64 * 64 * 4;
    for (int k = 0; k < 2; k++) {
        uint64_t off = p->code[k ? ib : ia].out.offset;
        cr_assert(off + bytes <= ys || ys + bytes <= off,
                  "y (read later through its transpose) overlaps a tensor made meanwhile");
    }
}

Test(compile, views_pad_to_four_dims)
{
    plinth_node x = in2("x", 3, 5);
    plinth_node y = plinth_gelu_tanh(g, x);
    plinth_output(g, y, "y");
    plinth_program *p = compile_ok(NULL);
    const plinth_view *v = &p->code[0].in[0];
    cr_assert_eq(v->ndim, 2);
    int64_t shape[4] = {1, 1, 3, 5}, stride[4] = {60, 60, 20, 4};
    for (int d = 0; d < 4; d++) {
        cr_assert_eq(v->shape[d], shape[d]);
        cr_assert_eq(v->stride[d], stride[d]);
    }
    cr_assert_null(v->buffer);
    cr_assert_null(v->data);
}

/* ------------------------------------------------------------ folding --- */

/* rms_norm(x, 1 + w): the Gemma norm weight. */
static plinth_node norm_one_plus_w(plinth_node x, const char *wname)
{
    float one = 1.0f;
    plinth_node w = plinth_param(g, wname, PLINTH_F32, 1, (int64_t[]){16});
    plinth_node c1 = plinth_constant(g, "one", PLINTH_F32, 1, (int64_t[]){1}, &one);
    plinth_node wp = plinth_add(g, w, c1);
    return plinth_rms_norm(g, x, wp, 1e-6f);
}

Test(compile, param_only_subgraph_is_folded)
{
    plinth_node x = in2("x", 4, 16);
    plinth_node y = norm_one_plus_w(x, "norm.weight");
    plinth_output(g, y, "y");
    plinth_program *p = compile_ok(NULL);
    cr_assert_eq(p->stats.n_fold_instructions, 1);
    cr_assert_eq(p->n_fold, 1);
    cr_assert_eq(p->fold[0].op, PLINTH_OP_ADD);
    cr_assert_eq(p->fold[0].out_pool, POOL_PERSISTENT);
    cr_assert_eq(p->n_code, 1, "run time code is the norm only");
    cr_assert_eq(count_op(p->code, p->n_code, PLINTH_OP_ADD), 0);
    cr_assert_eq(p->code[0].in_pool[1], POOL_PERSISTENT);
    cr_assert_eq(p->code[0].in[1].offset, p->fold[0].out.offset);
    int32_t t = p->fold[0].out_tensor;
    cr_assert(t >= 0 && (uint32_t)t < model->n_tensors);
    cr_assert_eq(model->tensors[t].kind, PLINTH_NODE_OP);
    cr_assert_eq(strncmp(model->tensors[t].name, "#p0/n", 5), 0, "%s",
                 model->tensors[t].name);
}

Test(compile, no_fold_keeps_the_subgraph_in_the_program)
{
    plinth_node x = in2("x", 4, 16);
    plinth_node y = norm_one_plus_w(x, "norm.weight");
    plinth_output(g, y, "y");
    plinth_compile_options opt = options(true, false);
    plinth_program *p = compile_ok(&opt);
    cr_assert_eq(p->n_fold, 0);
    cr_assert_eq(p->n_code, 2);
    cr_assert_eq(p->code[0].op, PLINTH_OP_ADD);
    cr_assert_eq(p->code[0].out_pool, POOL_ARENA);
}

Test(compile, fold_intermediates_live_in_scratch)
{
    plinth_node x = in2("x", 4, 16);
    plinth_node w = plinth_param(g, "w", PLINTH_F32, 2, (int64_t[]){4, 16});
    plinth_node a = plinth_scale(g, w, 2.0f);  /* scratch */
    plinth_node b = plinth_gelu_tanh(g, a);    /* scratch */
    plinth_node c = plinth_add(g, b, a);       /* folded value */
    plinth_node y = plinth_mul(g, x, c);
    plinth_output(g, y, "y");
    plinth_program *p = compile_ok(NULL);
    cr_assert_eq(p->n_fold, 3);
    cr_assert_eq(p->fold[0].out_pool, POOL_SCRATCH);
    cr_assert_eq(p->fold[1].out_pool, POOL_SCRATCH);
    cr_assert_eq(p->fold[2].out_pool, POOL_PERSISTENT);
    cr_assert_neq(p->fold[0].out.offset, p->fold[1].out.offset, "both live at step 1..2");
    cr_assert_geq(p->be[0].pool_bytes[POOL_SCRATCH], 2 * 256);
    cr_assert_eq(p->n_code, 1);
}

Test(compile, folded_output_is_copied)
{
    plinth_node w = param2("w", 4, 4);
    plinth_node a = plinth_scale(g, w, 3.0f);
    plinth_output(g, a, "a");
    plinth_program *p = compile_ok(NULL);
    cr_assert_eq(p->n_fold, 1);
    cr_assert_eq(p->n_code, 1);
    cr_assert_eq(p->code[0].op, PLINTH_OP_COPY);
    cr_assert_eq(p->code[0].in_pool[0], POOL_PERSISTENT);
    cr_assert_eq(p->code[0].out_pool, POOL_IO);
}

/* ----------------------------------------------------------- in-place --- */

Test(compile, inplace_chain_reuses_memory)
{
    plinth_node x = in2("x", 8, 64);
    plinth_node h = plinth_scale(g, x, 2.0f);
    plinth_node ge = plinth_gelu_tanh(g, h);
    plinth_node s = plinth_scale(g, ge, 0.5f);
    plinth_node a = plinth_add(g, s, x);
    plinth_node o = plinth_silu(g, a);
    plinth_output(g, o, "o");
    plinth_program *p = compile_ok(NULL);
    cr_assert_eq(p->stats.n_inplace, 3);
    uint64_t off = p->code[0].out.offset;
    for (int i = 1; i < 4; i++)
        cr_assert_eq(p->code[i].out.offset, off, "instruction %d", i);
    cr_assert_eq(p->stats.arena_bytes, 8 * 64 * 4);
    cr_assert_eq(p->stats.n_arena_tensors, 4);
}

Test(compile, no_inplace_disables_reuse)
{
    plinth_node x = in2("x", 8, 64);
    plinth_node h = plinth_scale(g, x, 2.0f);
    plinth_node ge = plinth_gelu_tanh(g, h);
    plinth_node s = plinth_scale(g, ge, 0.5f);
    plinth_output(g, plinth_silu(g, s), "o");
    plinth_compile_options opt = options(false, true);
    plinth_program *p = compile_ok(&opt);
    cr_assert_eq(p->stats.n_inplace, 0);
    cr_assert_neq(p->code[0].out.offset, p->code[1].out.offset);
    cr_assert_eq(p->stats.naive_bytes, 3 * 2048);
}

Test(compile, no_inplace_when_the_input_is_read_later)
{
    plinth_node x = in2("x", 4, 64);
    plinth_node h = plinth_scale(g, x, 2.0f);
    plinth_node ge = plinth_gelu_tanh(g, h); /* h is read again below */
    plinth_node a = plinth_add(g, ge, h);
    plinth_output(g, plinth_silu(g, a), "o");
    plinth_program *p = compile_ok(NULL);
    int ih = find_code(p, h, PLINTH_OP_SCALE), ig = find_code(p, ge, PLINTH_OP_GELU_TANH);
    cr_assert_neq(p->code[ih].out.offset, p->code[ig].out.offset);
    cr_assert_eq(p->stats.n_inplace, 1, "only the add may reuse a dying input");
}

Test(compile, no_inplace_when_a_view_of_the_input_is_also_read)
{
    plinth_node x = in2("x", 16, 16);
    plinth_node h = plinth_scale(g, x, 2.0f);
    plinth_node t = plinth_transpose(g, h);
    plinth_node a = plinth_add(g, h, t); /* out must not overwrite h */
    plinth_output(g, plinth_silu(g, a), "o");
    plinth_program *p = compile_ok(NULL);
    cr_assert_eq(p->stats.n_inplace, 0);
    int ia = find_code(p, a, PLINTH_OP_ADD);
    cr_assert_neq(p->code[ia].out.offset, p->code[0].out.offset);
}

Test(compile, no_inplace_when_shapes_differ)
{
    plinth_node x = in2("x", 1, 64);
    plinth_node y = in2("y", 8, 64);
    plinth_node h = plinth_scale(g, x, 2.0f);  /* [1, 64] broadcast below */
    plinth_node a = plinth_add(g, h, y);       /* [8, 64] */
    plinth_output(g, plinth_silu(g, a), "o");
    plinth_program *p = compile_ok(NULL);
    cr_assert_eq(p->stats.n_inplace, 0);
}

/* --------------------------------------------------- outputs and io --- */

Test(compile, outputs_and_inputs_live_in_the_io_pool)
{
    plinth_node x = in2("x", 3, 5);
    plinth_node pos = plinth_input(g, "pos", PLINTH_I32, 1, (int64_t[]){3});
    plinth_node y = plinth_gelu_tanh(g, x);
    plinth_node z = plinth_silu(g, y);
    plinth_output(g, z, "z");
    plinth_output(g, y, "y");
    (void)pos;
    plinth_program *p = compile_ok(NULL);
    cr_assert_eq(p->n_inputs, 2);
    cr_assert_str_eq(p->inputs[0].name, "x");
    cr_assert_str_eq(p->inputs[1].name, "pos");
    cr_assert_eq(p->n_outputs, 2);
    cr_assert_str_eq(p->outputs[0].name, "y", "outputs in node order");
    uint64_t end = 0;
    for (uint32_t i = 0; i < 4; i++) {
        const io_slot *s = i < 2 ? &p->inputs[i] : &p->outputs[i - 2];
        cr_assert_eq(s->offset % 256, 0);
        cr_assert_geq(s->offset, end);
        cr_assert_str_eq(s->info.name, s->name);
        end = s->offset + s->bytes;
    }
    cr_assert_eq(p->inputs[0].bytes, 60);
    cr_assert_eq(p->inputs[1].info.dtype, PLINTH_I32);
    cr_assert_eq(p->be[0].pool_bytes[POOL_IO], p->stats.io_bytes);
    cr_assert_geq(p->stats.io_bytes, end);
    cr_assert_eq(p->n_code, 2, "op outputs need no copy");
    cr_assert_eq(p->code[0].out_pool, POOL_IO);
    cr_assert_eq(p->code[0].out.offset, p->outputs[0].offset);
    cr_assert_eq(p->code[1].in_pool[0], POOL_IO);
    cr_assert_eq(p->code[1].out.offset, p->outputs[1].offset);
    cr_assert_eq(p->code[0].in_pool[0], POOL_IO);
    cr_assert_eq(p->code[0].in[0].offset, p->inputs[0].offset);
    cr_assert_eq(p->be[0].pool_bytes[POOL_ARENA], 0);
}

Test(compile, leaf_and_view_outputs_get_a_copy)
{
    plinth_node x = in2("x", 4, 4);
    plinth_node w = param2("w", 4, 4);
    plinth_node y = plinth_add(g, x, w);
    plinth_node t = plinth_transpose(g, y);
    plinth_output(g, w, "w_out");
    plinth_output(g, x, "x_out");
    plinth_output(g, t, "t_out");
    plinth_program *p = compile_ok(NULL);
    cr_assert_eq(count_op(p->code, p->n_code, PLINTH_OP_COPY), 3);
    int cw = find_code(p, w, PLINTH_OP_COPY), cx = find_code(p, x, PLINTH_OP_COPY),
        ct = find_code(p, t, PLINTH_OP_COPY), iy = find_code(p, y, PLINTH_OP_ADD);
    cr_assert(cw >= 0 && cx >= 0 && ct >= 0 && iy >= 0);
    cr_assert_eq(p->code[cw].in_pool[0], POOL_PERSISTENT);
    cr_assert_eq(p->code[cx].in_pool[0], POOL_IO);
    cr_assert_eq(p->code[ct].in_pool[0], POOL_ARENA);
    cr_assert_gt(ct, iy);
    cr_assert_eq(p->code[ct].in[0].base, p->code[iy].out.offset);
    cr_assert_eq(p->code[ct].in[0].stride[3], 16, "the copy reads the transposed view");
    for (int k = 0; k < 3; k++) {
        const instruction *c = &p->code[k == 0 ? cw : k == 1 ? cx : ct];
        cr_assert_eq(c->out_pool, POOL_IO);
        cr_assert_eq(c->out.stride[3], 4, "copies write contiguous");
        cr_assert_eq(c->out.stride[2], 16);
    }
}

Test(compile, program_is_registered_with_the_model)
{
    plinth_node x = in2("x", 4, 4);
    plinth_output(g, plinth_silu(g, x), "y");
    plinth_program *a = compile_ok(NULL);
    plinth_program *b = compile_ok(NULL);
    cr_assert_eq(model->n_programs, 2);
    cr_assert_eq(a->id, 0);
    cr_assert_eq(b->id, 1);
    cr_assert_eq(model->programs[0], a);
    cr_assert_eq(model->programs[1], b);
    cr_assert_eq(a->model, model);
    cr_assert_null(a->plan_json, "the plan JSON is built on request, not at compile");
}

Test(compile, constants_get_unique_names_and_data)
{
    float v[4] = {1, 2, 3, 4};
    plinth_node x = plinth_input(g, "x", PLINTH_F32, 1, (int64_t[]){4});
    plinth_node c = plinth_constant(g, "bias", PLINTH_F32, 1, (int64_t[]){4}, v);
    plinth_output(g, plinth_add(g, x, c), "y");
    plinth_program *p = compile_ok(NULL);
    int32_t t = p->code[0].in_tensor[1];
    cr_assert_eq(p->code[0].in_pool[1], POOL_PERSISTENT);
    cr_assert(t >= 0);
    cr_assert_eq(model->tensors[t].kind, PLINTH_NODE_CONSTANT);
    cr_assert_not_null(strstr(model->tensors[t].name, "bias"));
    cr_assert_eq(model->tensors[t].name[0], '#');
    cr_assert_eq(memcmp(model->tensors[t].data, v, sizeof v), 0);
    /* A second program's constant of the same name is its own tensor. */
    plinth_program *q = compile_ok(NULL);
    cr_assert_neq(q->code[0].in_tensor[1], t);
}

/* ------------------------------------------------------------- states --- */

Test(compile, set_rows_writes_into_the_state)
{
    plinth_node kv = plinth_state(g, "cache.k", PLINTH_F32, 2, (int64_t[]){16, 8});
    plinth_node src = in2("src", 2, 8);
    plinth_node idx = plinth_input(g, "idx", PLINTH_I32, 1, (int64_t[]){2});
    plinth_node w = plinth_set_rows(g, kv, src, idx);
    plinth_node r = plinth_scale(g, w, 2.0f);
    plinth_output(g, r, "r");
    plinth_program *p = compile_ok(NULL);
    int iw = find_code(p, w, PLINTH_OP_SET_ROWS), ir = find_code(p, r, PLINTH_OP_SCALE);
    cr_assert(iw >= 0 && ir > iw);
    const instruction *s = &p->code[iw];
    cr_assert_eq(s->n_in, 2);
    cr_assert_eq(s->out_pool, POOL_STATE);
    cr_assert_eq(s->out.shape[2], 16);
    cr_assert_eq(s->out.shape[3], 8);
    cr_assert_eq(s->in[1].dtype, PLINTH_I32);
    cr_assert_eq(p->code[ir].in_pool[0], POOL_STATE);
    cr_assert_eq(p->code[ir].in[0].offset, s->out.offset);
    cr_assert_eq(p->code[ir].in_tensor[0], s->out_tensor);
    cr_assert_eq(model->tensors[s->out_tensor].pool, POOL_STATE);
}

Test(compile, dead_set_rows_is_kept)
{
    plinth_node kv = plinth_state(g, "cache", PLINTH_F32, 2, (int64_t[]){16, 8});
    plinth_node src = in2("src", 2, 8);
    plinth_node idx = plinth_input(g, "idx", PLINTH_I32, 1, (int64_t[]){2});
    plinth_node s2 = plinth_scale(g, src, 2.0f);
    plinth_set_rows(g, kv, s2, idx); /* nobody reads it: still a side effect */
    plinth_output(g, plinth_silu(g, src), "y");
    plinth_program *p = compile_ok(NULL);
    cr_assert_eq(count_op(p->code, p->n_code, PLINTH_OP_SET_ROWS), 1);
    cr_assert_eq(count_op(p->code, p->n_code, PLINTH_OP_SCALE), 1);
}

Test(compile, reads_of_a_state_run_before_its_write)
{
    plinth_node kv = plinth_state(g, "cache", PLINTH_F32, 2, (int64_t[]){16, 8});
    plinth_node src = in2("src", 2, 8);
    plinth_node idx = plinth_input(g, "idx", PLINTH_I32, 1, (int64_t[]){2});
    plinth_node w = plinth_set_rows(g, kv, src, idx);
    /* Created after the write, reads the state before it (directly and
     * through a view): both must run first. */
    plinth_node r = plinth_scale(g, kv, 2.0f);
    plinth_node v = plinth_slice(g, kv, 0, 0, 4);
    plinth_node r2 = plinth_silu(g, v);
    plinth_node after = plinth_gelu_tanh(g, w);
    plinth_output(g, r, "r");
    plinth_output(g, r2, "r2");
    plinth_output(g, after, "after");
    plinth_program *p = compile_ok(NULL);
    int iw = find_code(p, w, PLINTH_OP_SET_ROWS), ir = find_code(p, r, PLINTH_OP_SCALE),
        ir2 = find_code(p, r2, PLINTH_OP_SILU), ia = find_code(p, after, PLINTH_OP_GELU_TANH);
    cr_assert(iw >= 0 && ir >= 0 && ir2 >= 0 && ia >= 0);
    cr_assert_lt(ir, iw);
    cr_assert_lt(ir2, iw);
    cr_assert_gt(ia, iw);
}

Test(compile, state_output_is_copied_before_the_write)
{
    plinth_node kv = plinth_state(g, "cache", PLINTH_F32, 2, (int64_t[]){16, 8});
    plinth_node src = in2("src", 2, 8);
    plinth_node idx = plinth_input(g, "idx", PLINTH_I32, 1, (int64_t[]){2});
    plinth_node w = plinth_set_rows(g, kv, src, idx);
    plinth_output(g, w, "after");
    plinth_output(g, kv, "before");
    plinth_program *p = compile_ok(NULL);
    int cb = find_code(p, kv, PLINTH_OP_COPY), iw = find_code(p, w, PLINTH_OP_SET_ROWS),
        ca = find_code(p, w, PLINTH_OP_COPY);
    cr_assert(cb >= 0 && iw >= 0 && ca >= 0);
    cr_assert_lt(cb, iw);
    cr_assert_gt(ca, iw);
}

Test(compile, a_read_that_needs_the_write_first_is_a_cycle)
{
    plinth_node kv = plinth_state(g, "cache.v", PLINTH_F32, 2, (int64_t[]){4, 8});
    plinth_node src = in2("src", 2, 8);
    plinth_node idx = plinth_input(g, "idx", PLINTH_I32, 1, (int64_t[]){2});
    plinth_node w = plinth_set_rows(g, kv, src, idx);
    plinth_node y = plinth_scale(g, w, 2.0f);  /* after the write */
    plinth_node z = plinth_add(g, kv, y);      /* before the write, yet needs y */
    plinth_output(g, z, "z");
    plinth_program *p = NULL;
    plinth_status st = plinth_program_compile(model, g, NULL, &p);
    cr_assert_eq(st, PLINTH_ERR_INVALID);
    cr_assert_null(p);
    cr_assert_not_null(strstr(plinth_context_error(ctx), "'cache.v'"), "%s",
                       plinth_context_error(ctx));
    cr_assert_eq(model->n_programs, 0);
}

/* Builds x -> matmul(x, W) + state read in a fresh graph each call. */
static void build_shared(bool bf16)
{
    plinth_graph_destroy(g);
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
    plinth_node x = in2("x", 2, 8);
    plinth_node w = plinth_param(g, "layer.w", bf16 ? PLINTH_BF16 : PLINTH_F32, 2,
                                 (int64_t[]){8, 8});
    plinth_node kv = plinth_state(g, "layer.kv", PLINTH_F32, 2, (int64_t[]){16, 8});
    plinth_node idx = plinth_input(g, "idx", PLINTH_I32, 1, (int64_t[]){2});
    plinth_node m = plinth_matmul(g, x, w, true);
    plinth_node s = plinth_set_rows(g, kv, m, idx);
    plinth_output(g, plinth_scale(g, s, 1.0f), "y");
    if (bf16) { /* a new param, declared alongside the mismatching one */
        plinth_node e = plinth_param(g, "layer.extra", PLINTH_F32, 1, (int64_t[]){8});
        plinth_output(g, plinth_scale(g, e, 2.0f), "e");
    }
}

Test(compile, programs_share_params_and_states)
{
    build_shared(false);
    plinth_program *a = compile_ok(NULL);
    build_shared(false);
    plinth_program *b = compile_ok(NULL);
    cr_assert_eq(model->n_tensors, 2, "one param and one state");
    int ma = find_code(a, 4, PLINTH_OP_MATMUL), mb = find_code(b, 4, PLINTH_OP_MATMUL);
    cr_assert(ma >= 0 && mb >= 0);
    cr_assert_eq(a->code[ma].in_tensor[1], b->code[mb].in_tensor[1]);
    cr_assert_eq(a->code[ma].in[1].offset, b->code[mb].in[1].offset);
    int sa = find_code(a, 5, PLINTH_OP_SET_ROWS), sb = find_code(b, 5, PLINTH_OP_SET_ROWS);
    cr_assert_eq(a->code[sa].out_tensor, b->code[sb].out_tensor);
    int32_t p = a->code[ma].in_tensor[1], s = a->code[sa].out_tensor;
    cr_assert_str_eq(model->tensors[p].name, "layer.w");
    cr_assert_eq(model->tensors[p].pool, POOL_PERSISTENT);
    cr_assert_str_eq(model->tensors[s].name, "layer.kv");
    cr_assert_eq(model->tensors[s].pool, POOL_STATE);
}

Test(compile, a_param_declared_twice_differently_fails)
{
    build_shared(false);
    compile_ok(NULL);
    build_shared(true);
    plinth_program *p = NULL;
    cr_assert_eq(plinth_program_compile(model, g, NULL, &p), PLINTH_ERR_INVALID);
    cr_assert_null(p);
    cr_assert_not_null(strstr(plinth_context_error(ctx), "layer.w"), "%s",
                       plinth_context_error(ctx));
    cr_assert_eq(model->n_programs, 1);
    cr_assert_eq(model->n_tensors, 2, "the failed compile registered nothing new");
}

/* ------------------------------------------------------------- errors --- */

Test(compile_template, unsupported_op_names_backend_op_and_dtypes)
{
    plinth_node x = in2("x", 4, 8);
    plinth_node w = param2("w", 8, 8);
    plinth_node y = plinth_add(g, x, x);
    plinth_node m = plinth_matmul(g, y, w, false);
    plinth_output(g, m, "m");
    plinth_program *p = NULL;
    plinth_status st = plinth_program_compile(model, g, NULL, &p);
    cr_assert_eq(st, PLINTH_ERR_UNSUPPORTED);
    cr_assert_null(p);
    char want[128];
    snprintf(want, sizeof want, "matmul (f32 x f32 -> f32) at node %d: 'template' has no kernel",
             m);
    cr_assert_not_null(strstr(plinth_context_error(ctx), want), "%s",
                       plinth_context_error(ctx));
    cr_assert_not_null(strstr(plinth_context_error(ctx), "backend 'template' does not support"),
                       "%s", plinth_context_error(ctx));
    cr_assert_eq(model->n_programs, 0);
    cr_assert_eq(model->n_tensors, 0, "nothing registered before the backend said yes");
}

Test(compile_template, supported_graph_compiles)
{
    plinth_node x = in2("x", 4, 8);
    plinth_node y = plinth_add(g, x, x);
    plinth_output(g, plinth_scale(g, y, 2.0f), "y");
    plinth_program *p = compile_ok(NULL);
    cr_assert_eq(p->n_code, 2);
}

Test(compile, graph_error_is_returned_unchanged)
{
    plinth_node x = in2("x", 4, 8);
    plinth_node y = in2("y", 3, 5);
    plinth_add(g, x, y); /* shapes do not broadcast */
    char msg[4096];
    snprintf(msg, sizeof msg, "%s", plinth_context_error(ctx));
    cr_assert_neq(msg[0], '\0');
    plinth_program *p = NULL;
    cr_assert_eq(plinth_program_compile(model, g, NULL, &p), PLINTH_ERR_INVALID);
    cr_assert_str_eq(plinth_context_error(ctx), msg);
    cr_assert_null(p);
}

Test(compile, a_graph_without_outputs_is_refused)
{
    plinth_node x = in2("x", 4, 8);
    plinth_silu(g, x);
    plinth_program *p = NULL;
    cr_assert_eq(plinth_program_compile(model, g, NULL, &p), PLINTH_ERR_INVALID);
    cr_assert_not_null(strstr(plinth_context_error(ctx), "no outputs"));
}

Test(compile, compiling_after_load_is_refused)
{
    plinth_node x = in2("x", 4, 8);
    plinth_output(g, plinth_silu(g, x), "y");
    model->loaded = true; /* as plinth_model_load_* leaves it */
    plinth_program *p = NULL;
    cr_assert_eq(plinth_program_compile(model, g, NULL, &p), PLINTH_ERR_INVALID);
    model->loaded = false;
    cr_assert_not_null(strstr(plinth_context_error(ctx),
                              "compile all programs before loading the model"));
}

Test(compile, null_arguments_are_refused)
{
    plinth_program *p = NULL;
    cr_assert_eq(plinth_program_compile(NULL, g, NULL, &p), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_program_compile(model, NULL, NULL, &p), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_program_compile(model, g, NULL, NULL), PLINTH_ERR_INVALID);
}

Test(compile, optional_inputs_absent_means_one_kernel_input)
{
    plinth_node x = in2("x", 4, 8);
    plinth_node n = plinth_rms_norm(g, x, PLINTH_NODE_INVALID, 1e-6f);
    plinth_node s = plinth_softmax(g, n, PLINTH_NODE_INVALID, 1.0f);
    plinth_output(g, s, "s");
    plinth_program *p = compile_ok(NULL);
    cr_assert_eq(p->code[0].n_in, 1);
    cr_assert_eq(p->code[1].n_in, 1);
    cr_assert_float_eq(p->code[0].attrs.rms_norm.eps, 1e-6f, 1e-12);
}

/* ---------------------------------------------------------- plan JSON --- */

Test(compile, plan_json_describes_the_plan)
{
    plinth_node x = in2("x", 4, 8);
    plinth_node w = param2("w", 8, 8);
    plinth_node m = plinth_matmul(g, x, w, false);
    plinth_node t = plinth_transpose(g, m);
    plinth_output(g, plinth_gelu_tanh(g, t), "y");
    plinth_program *p = compile_ok(NULL);
    const char *text = NULL;
    cr_assert_eq(plinth_program_plan_json(p, &text), PLINTH_OK);
    cr_assert_eq(text, p->plan_json, "kept by the program");
    cJSON *j = cJSON_Parse(text);
    cr_assert_not_null(j, "%s", text);
    const char *keys[] = {"arena_bytes", "lower_bound", "naive_bytes", "io_bytes",
                          "scratch_bytes"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, keys[k])), "%s", keys[k]);
    cr_assert_eq((uint64_t)cJSON_GetObjectItem(j, "arena_bytes")->valuedouble,
                 p->stats.arena_bytes);
    cJSON *code = cJSON_GetObjectItem(j, "instructions");
    cr_assert_eq(cJSON_GetArraySize(code), (int)p->n_code);
    cJSON *i0 = cJSON_GetArrayItem(code, 0), *i1 = cJSON_GetArrayItem(code, 1);
    cr_assert_str_eq(cJSON_GetObjectItem(i0, "op")->valuestring, "matmul");
    cr_assert_eq(cJSON_GetObjectItem(i0, "node")->valueint, m);
    cJSON *out = cJSON_GetObjectItem(i0, "out");
    cr_assert_str_eq(cJSON_GetObjectItem(out, "pool")->valuestring, "arena");
    cr_assert_str_eq(cJSON_GetObjectItem(out, "dtype")->valuestring, "f32");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(out, "shape")), 2);
    cJSON *w_in = cJSON_GetArrayItem(cJSON_GetObjectItem(i0, "in"), 1);
    cr_assert_str_eq(cJSON_GetObjectItem(w_in, "pool")->valuestring, "persistent");
    cr_assert_str_eq(cJSON_GetObjectItem(w_in, "tensor")->valuestring, "w");
    cJSON *tv = cJSON_GetArrayItem(cJSON_GetObjectItem(i1, "in"), 0);
    cJSON *strides = cJSON_GetObjectItem(tv, "strides");
    cr_assert_eq(cJSON_GetArrayItem(strides, 0)->valueint, 4);
    cr_assert_eq(cJSON_GetArrayItem(strides, 1)->valueint, 32);
    cr_assert_eq(cJSON_GetObjectItem(tv, "offset")->valuedouble,
                 cJSON_GetObjectItem(out, "offset")->valuedouble);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "fold")), 0);
    cJSON *ins = cJSON_GetObjectItem(j, "inputs");
    cr_assert_eq(cJSON_GetArraySize(ins), 1);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(ins, 0), "name")->valuestring,
                     "x");
    cJSON *outs = cJSON_GetObjectItem(j, "outputs");
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(outs, 0), "bytes")->valueint, 128);
    cJSON_Delete(j);
}

/* ------------------------------------------- brute-force plan checking --- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((rng_state >> 33) % n);
}

static bool elementwise(uint32_t op)
{
    return op == PLINTH_OP_ADD || op == PLINTH_OP_SUB || op == PLINTH_OP_MUL ||
           op == PLINTH_OP_DIV || op == PLINTH_OP_SCALE || op == PLINTH_OP_GELU_TANH ||
           op == PLINTH_OP_SILU;
}

/*
 * Independent of the planner: rebuild every arena tensor's life from the
 * code alone. A tensor is an instruction's arena output; a read of arena
 * memory belongs to the latest earlier tensor with that base. Then any two
 * tensors whose bytes overlap must not be live together, except the one
 * step where an elementwise op overwrites the identical region it reads.
 */
static void check_arena(const plinth_program *p, uint32_t seed)
{
    uint32_t n = p->n_code;
    uint64_t *base = calloc(n, sizeof *base), *size = calloc(n, sizeof *size);
    uint32_t *end = calloc(n, sizeof *end);
    bool *is_t = calloc(n, sizeof *is_t);
    cr_assert(base && size && end && is_t);
    for (uint32_t i = 0; i < n; i++) {
        const instruction *ins = &p->code[i];
        cr_assert_eq(ins->out.base % 256, 0, "seed %u: step %u out base", seed, i);
        for (uint32_t j = 0; j < ins->n_in; j++) {
            if (ins->in_pool[j] != POOL_ARENA)
                continue;
            int owner = -1;
            for (uint32_t k = i; k-- > 0;)
                if (is_t[k] && base[k] == ins->in[j].base) {
                    owner = (int)k;
                    break;
                }
            cr_assert(owner >= 0, "seed %u: step %u reads arena memory nobody wrote", seed, i);
            cr_assert_leq(ins->in[j].offset - base[owner] + view_extent(&ins->in[j]),
                          size[owner], "seed %u: step %u reads outside its tensor", seed, i);
            end[owner] = i;
        }
        if (ins->out_pool == POOL_ARENA) {
            is_t[i] = true;
            base[i] = ins->out.base;
            size[i] = view_extent(&ins->out);
            end[i] = i;
            cr_assert_eq(ins->out.offset, ins->out.base);
            cr_assert_leq(base[i] + size[i], p->stats.arena_bytes,
                          "seed %u: step %u is outside the arena", seed, i);
        }
    }
    for (uint32_t a = 0; a < n; a++)
        for (uint32_t b = a + 1; b < n && is_t[a]; b++) {
            if (!is_t[b] || size[a] == 0 || size[b] == 0)
                continue;
            bool overlap = base[a] < base[b] + size[b] && base[b] < base[a] + size[a];
            if (!overlap || end[a] < b)
                continue;
            bool inplace = end[a] == b && elementwise(p->code[b].op) && base[a] == base[b] &&
                           size[a] == size[b];
            cr_assert(inplace,
                      "seed %u: tensors of steps %u (live to %u) and %u overlap: "
                      "[%llu,+%llu) [%llu,+%llu)",
                      seed, a, end[a], b, (unsigned long long)base[a],
                      (unsigned long long)size[a], (unsigned long long)base[b],
                      (unsigned long long)size[b]);
        }
    free(base);
    free(size);
    free(end);
    free(is_t);
}

/* A random DAG of 2-D f32 tensors: elementwise ops, matmuls with params or
 * activations, views (transpose, slice, reshape), a few outputs. */
static void random_graph(uint32_t seed)
{
    static const int64_t dims[] = {1, 3, 7, 16, 33, 64};
    plinth_node nodes[64];
    uint32_t nn = 0;
    char name[32];
    int64_t r = dims[rnd(6)], c = dims[rnd(6)];
    nodes[nn++] = in2("x0", r, c);
    if (rnd(2))
        nodes[nn++] = in2("x1", r, c);
    if (rnd(2)) {
        snprintf(name, sizeof name, "p%u", seed);
        nodes[nn++] = param2(name, r, c);
    }
    uint32_t steps = 4 + rnd(24);
    for (uint32_t s = 0; s < steps && nn < 60; s++) {
        plinth_node a = nodes[rnd(nn)];
        plinth_node_info ia = {.struct_size = sizeof ia};
        plinth_graph_node_info(g, a, &ia);
        plinth_node out = PLINTH_NODE_INVALID;
        switch (rnd(9)) {
        case 0: out = plinth_gelu_tanh(g, a); break;
        case 1: out = plinth_silu(g, a); break;
        case 2: out = plinth_scale(g, a, 0.5f); break;
        case 3:
        case 4: {
            /* a partner of the same shape, else a itself */
            plinth_node b = a;
            for (int tries = 0; tries < 8; tries++) {
                plinth_node cand = nodes[rnd(nn)];
                plinth_node_info ib = {.struct_size = sizeof ib};
                plinth_graph_node_info(g, cand, &ib);
                if (ib.ndim == ia.ndim && memcmp(ib.shape, ia.shape, sizeof ib.shape) == 0) {
                    b = cand;
                    break;
                }
            }
            out = rnd(2) ? plinth_add(g, a, b) : plinth_mul(g, a, b);
            break;
        }
        case 5: {
            if (ia.ndim != 2)
                break;
            int64_t k = ia.shape[1], m = dims[rnd(6)];
            bool tb = rnd(2);
            snprintf(name, sizeof name, "w%u.%u", seed, s);
            plinth_node w = rnd(3) ? param2(name, tb ? m : k, tb ? k : m)
                                   : in2(name, tb ? m : k, tb ? k : m);
            out = plinth_matmul(g, a, w, tb);
            break;
        }
        case 6:
            if (ia.ndim == 2)
                out = plinth_transpose(g, a);
            break;
        case 7:
            if (ia.shape[0] > 1) {
                int64_t st = rnd((uint32_t)ia.shape[0]);
                out = plinth_slice(g, a, 0, st, ia.shape[0] - st);
            }
            break;
        case 8:
            if (ia.ndim == 2)
                out = plinth_reshape(g, a, 2, (int64_t[]){ia.shape[1], ia.shape[0]});
            break;
        }
        if (out != PLINTH_NODE_INVALID)
            nodes[nn++] = out;
        cr_assert_eq(plinth_graph_status(g), PLINTH_OK, "seed %u: %s", seed,
                     plinth_context_error(ctx));
    }
    /* The last node and up to two more distinct ones become outputs. */
    plinth_node chosen[3];
    uint32_t n_out = 1 + rnd(3), n_chosen = 0;
    for (uint32_t k = 0; k < n_out; k++) {
        plinth_node cand = k == 0 ? nodes[nn - 1] : nodes[rnd(nn)];
        bool taken = false;
        for (uint32_t q = 0; q < n_chosen; q++)
            taken |= chosen[q] == cand;
        if (taken)
            continue;
        chosen[n_chosen++] = cand;
        snprintf(name, sizeof name, "out%u", k);
        cr_assert_eq(plinth_output(g, cand, name), PLINTH_OK, "seed %u: %s", seed,
                     plinth_context_error(ctx));
    }
}

Test(compile, random_graphs_have_valid_arena_plans, .timeout = 240)
{
    uint32_t total_inplace = 0, total_fold = 0;
    for (uint32_t seed = 1; seed <= 240; seed++) {
        rng_state = seed * 0x9E3779B97F4A7C15ull;
        plinth_graph_destroy(g);
        cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
        random_graph(seed);
        plinth_compile_options opt = options(rnd(4) == 0, rnd(4) == 0);
        plinth_program *p = compile_ok(&opt);
        check_arena(p, seed);
        cr_assert_geq(p->stats.arena_bytes, p->stats.lower_bound);
        cr_assert_leq(p->stats.arena_bytes, p->stats.naive_bytes);
        for (uint32_t i = 0; i < p->n_fold; i++)
            cr_assert_neq(p->fold[i].out_pool, POOL_ARENA);
        total_inplace += p->stats.n_inplace;
        total_fold += p->n_fold;
        plinth_program_destroy(p);
    }
    cr_log_info("random graphs: %u in-place reuses, %u fold instructions", total_inplace,
                total_fold);
    cr_assert_gt(total_inplace, 0);
    cr_assert_gt(total_fold, 0);
}

/* ------------------------------------------------ transformer block --- */

/* One Gemma-3-like block over T tokens: norms with folded (1 + w) weights,
 * q/k/v projections, per-head norms, rope, KV cache writes, attention,
 * o_proj, residuals, GeGLU MLP. */
Test(compile, transformer_block_plan_is_near_the_lower_bound)
{
    enum { T = 64, H = 640, HQ = 4, HKV = 1, D = 256, F = 2048, S = 512 };
    float one = 1.0f;
    plinth_node x = in2("x", T, H);
    plinth_node pos = plinth_input(g, "pos", PLINTH_I32, 1, (int64_t[]){T});
    plinth_node kv_len = plinth_input(g, "kv_len", PLINTH_I32, 1, (int64_t[]){1});
    plinth_node c1 = plinth_constant(g, "one", PLINTH_F32, 1, (int64_t[]){1}, &one);
#define NORMW(nm, n) plinth_add(g, plinth_param(g, nm, PLINTH_F32, 1, (int64_t[]){n}), c1)
#define WEIGHT(nm, o, i) plinth_param(g, nm, PLINTH_BF16, 2, (int64_t[]){o, i})
    plinth_node h = plinth_rms_norm(g, x, NORMW("input_layernorm.weight", H), 1e-6f);
    plinth_node q = plinth_matmul(g, h, WEIGHT("q_proj.weight", HQ * D, H), true);
    plinth_node k = plinth_matmul(g, h, WEIGHT("k_proj.weight", HKV * D, H), true);
    plinth_node v = plinth_matmul(g, h, WEIGHT("v_proj.weight", HKV * D, H), true);
    q = plinth_reshape(g, q, 3, (int64_t[]){T, HQ, D});
    k = plinth_reshape(g, k, 3, (int64_t[]){T, HKV, D});
    q = plinth_rms_norm(g, q, NORMW("q_norm.weight", D), 1e-6f);
    k = plinth_rms_norm(g, k, NORMW("k_norm.weight", D), 1e-6f);
    q = plinth_rope(g, q, pos, 10000.0f, D);
    k = plinth_rope(g, k, pos, 10000.0f, D);
    plinth_node kc = plinth_state(g, "cache.k", PLINTH_F32, 2, (int64_t[]){S, HKV * D});
    plinth_node vc = plinth_state(g, "cache.v", PLINTH_F32, 2, (int64_t[]){S, HKV * D});
    kc = plinth_set_rows(g, kc, plinth_reshape(g, k, 2, (int64_t[]){T, HKV * D}), pos);
    vc = plinth_set_rows(g, vc, v, pos);
    plinth_node a = plinth_attention(g, q, plinth_reshape(g, kc, 3, (int64_t[]){S, HKV, D}),
                                     plinth_reshape(g, vc, 3, (int64_t[]){S, HKV, D}), pos,
                                     kv_len, 0.0625f, 0);
    a = plinth_reshape(g, a, 2, (int64_t[]){T, HQ * D});
    plinth_node o = plinth_matmul(g, a, WEIGHT("o_proj.weight", H, HQ * D), true);
    o = plinth_rms_norm(g, o, NORMW("post_attention_layernorm.weight", H), 1e-6f);
    plinth_node x2 = plinth_add(g, x, o);
    plinth_node h2 = plinth_rms_norm(g, x2, NORMW("pre_feedforward_layernorm.weight", H), 1e-6f);
    plinth_node gt = plinth_matmul(g, h2, WEIGHT("gate_proj.weight", F, H), true);
    plinth_node up = plinth_matmul(g, h2, WEIGHT("up_proj.weight", F, H), true);
    plinth_node m = plinth_mul(g, plinth_gelu_tanh(g, gt), up);
    plinth_node d = plinth_matmul(g, m, WEIGHT("down_proj.weight", H, F), true);
    d = plinth_rms_norm(g, d, NORMW("post_feedforward_layernorm.weight", H), 1e-6f);
    plinth_output(g, plinth_add(g, x2, d), "out");
#undef NORMW
#undef WEIGHT
    cr_assert_eq(plinth_graph_status(g), PLINTH_OK, "%s", plinth_context_error(ctx));
    plinth_program *p = compile_ok(NULL);
    const plinth_plan_stats *s = &p->stats;
    cr_log_info("transformer block: arena %llu bytes, lower bound %llu, naive %llu, "
                "%u instructions, %u folded, %u in-place, %u views",
                (unsigned long long)s->arena_bytes, (unsigned long long)s->lower_bound,
                (unsigned long long)s->naive_bytes, s->n_instructions, s->n_fold_instructions,
                s->n_inplace, s->n_views);
    cr_assert_eq(s->n_fold_instructions, 6, "six (1 + w) norm weights");
    cr_assert_eq(count_op(p->code, p->n_code, PLINTH_OP_SET_ROWS), 2);
    cr_assert_gt(s->lower_bound, 0);
    cr_assert_leq(s->arena_bytes * 10, s->lower_bound * 11, "arena %llu > 1.10 x %llu",
                  (unsigned long long)s->arena_bytes, (unsigned long long)s->lower_bound);
    check_arena(p, 0);
}

/* ------------------------------------------- run time (with program.c) --- */

static float gelu_ref(float v)
{
    return 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
}

Test(compile, inplace_and_views_compute_the_right_values)
{
    enum { R = 5, C = 7 };
    plinth_node x = in2("x", R, C);
    plinth_node h = plinth_scale(g, x, 2.0f);
    plinth_node ge = plinth_gelu_tanh(g, h);
    plinth_node s = plinth_scale(g, ge, 0.5f);
    plinth_node a = plinth_add(g, s, x);               /* in-place chain */
    plinth_node t = plinth_transpose(g, a);            /* [C, R] view    */
    plinth_node u = plinth_mul(g, t, t);
    plinth_output(g, u, "u");
    plinth_output(g, t, "t");
    plinth_program *p = compile_ok(NULL);
    cr_assert_geq(p->stats.n_inplace, 3);
    cr_assert_eq(plinth_model_load_empty(model), PLINTH_OK, "%s", plinth_context_error(ctx));
    float in[R * C], out_u[C * R], out_t[C * R];
    for (int i = 0; i < R * C; i++)
        in[i] = (float)(i % 11) * 0.25f - 1.2f;
    cr_assert_eq(plinth_program_set_input(p, 0, in, sizeof in), PLINTH_OK);
    cr_assert_eq(plinth_program_run(p), PLINTH_OK, "%s", plinth_context_error(ctx));
    int32_t iu = plinth_program_output_index(p, "u"), it = plinth_program_output_index(p, "t");
    cr_assert(iu >= 0 && it >= 0);
    cr_assert_eq(plinth_program_get_output(p, (uint32_t)iu, out_u, sizeof out_u), PLINTH_OK);
    cr_assert_eq(plinth_program_get_output(p, (uint32_t)it, out_t, sizeof out_t), PLINTH_OK);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            float v = 0.5f * gelu_ref(2.0f * in[r * C + c]) + in[r * C + c];
            cr_assert_float_eq(out_t[c * R + r], v, 1e-4f, "t[%d][%d]", c, r);
            cr_assert_float_eq(out_u[c * R + r], v * v, 1e-4f, "u[%d][%d]", c, r);
        }
}

Test(compile, a_read_of_the_state_sees_it_before_the_write)
{
    plinth_node kv = plinth_state(g, "cache", PLINTH_F32, 2, (int64_t[]){4, 2});
    plinth_node src = in2("src", 1, 2);
    plinth_node idx = plinth_input(g, "idx", PLINTH_I32, 1, (int64_t[]){1});
    plinth_node w = plinth_set_rows(g, kv, src, idx);
    plinth_node before = plinth_scale(g, kv, 1.0f); /* created after the write */
    plinth_node after = plinth_scale(g, w, 1.0f);
    plinth_output(g, before, "before");
    plinth_output(g, after, "after");
    plinth_program *p = compile_ok(NULL);
    cr_assert_eq(plinth_model_load_empty(model), PLINTH_OK, "%s", plinth_context_error(ctx));
    float row[2] = {3, 4}, b[8], a[8];
    int32_t at = 2;
    cr_assert_eq(plinth_program_set_input(p, 0, row, sizeof row), PLINTH_OK);
    cr_assert_eq(plinth_program_set_input(p, 1, &at, sizeof at), PLINTH_OK);
    for (int run = 0; run < 2; run++) {
        cr_assert_eq(plinth_program_run(p), PLINTH_OK, "%s", plinth_context_error(ctx));
        cr_assert_eq(plinth_program_get_output(p, (uint32_t)plinth_program_output_index(p, "before"),
                                               b, sizeof b), PLINTH_OK);
        cr_assert_eq(plinth_program_get_output(p, (uint32_t)plinth_program_output_index(p, "after"),
                                               a, sizeof a), PLINTH_OK);
        cr_assert_float_eq(a[4], 3.0f, 0);
        cr_assert_float_eq(a[5], 4.0f, 0);
        /* first run: the cache was zero; second run: it holds the row */
        cr_assert_float_eq(b[4], run ? 3.0f : 0.0f, 0, "run %d", run);
    }
}

/* Runs the current graph `g` in a fresh model compiled with `opt`; params
 * and inputs get deterministic values. Returns the outputs concatenated. */
static float *run_graph(const plinth_compile_options *opt, size_t *out_n)
{
    plinth_model *m = NULL;
    plinth_program *p = NULL;
    cr_assert_eq(plinth_model_create(be, &m), PLINTH_OK);
    plinth_status st = plinth_program_compile(m, g, opt, &p);
    cr_assert_eq(st, PLINTH_OK, "%s", plinth_context_error(ctx));
    cr_assert_eq(plinth_model_load_empty(m), PLINTH_OK, "%s", plinth_context_error(ctx));
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const graph_node *n = &g->nodes[i];
        if (n->kind != PLINTH_NODE_PARAM && n->kind != PLINTH_NODE_INPUT)
            continue;
        size_t count = node_bytes(n) / 4;
        float *v = malloc(count * sizeof *v);
        for (size_t k = 0; k < count; k++)
            v[k] = (float)((k * 7 + i * 13) % 17) / 8.0f - 1.0f;
        if (n->kind == PLINTH_NODE_PARAM) {
            plinth_model_set_param(m, n->name, v, count * 4); /* dead params: not there */
        } else {
            int32_t idx = plinth_program_input_index(p, n->name);
            cr_assert(idx >= 0);
            cr_assert_eq(plinth_program_set_input(p, (uint32_t)idx, v, count * 4), PLINTH_OK);
        }
        free(v);
    }
    cr_assert_eq(plinth_program_run(p), PLINTH_OK, "%s", plinth_context_error(ctx));
    size_t total = 0;
    for (uint32_t o = 0; o < p->n_outputs; o++)
        total += p->outputs[o].bytes / 4;
    float *out = malloc((total ? total : 1) * sizeof *out);
    size_t at = 0;
    for (uint32_t o = 0; o < p->n_outputs; o++) {
        cr_assert_eq(plinth_program_get_output(p, o, out + at, p->outputs[o].bytes), PLINTH_OK);
        at += p->outputs[o].bytes / 4;
    }
    plinth_model_destroy(m);
    *out_n = total;
    return out;
}

/* The same random graphs, planned (fold + in-place) and unplanned (no fold,
 * no in-place), must compute the same values. */
Test(compile, random_graphs_compute_the_same_with_and_without_reuse, .timeout = 240)
{
    for (uint32_t seed = 1; seed <= 60; seed++) {
        rng_state = seed * 0x9E3779B97F4A7C15ull;
        plinth_graph_destroy(g);
        cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
        random_graph(seed);
        plinth_compile_options planned = options(false, false), plain = options(true, true);
        size_t na, nb;
        float *a = run_graph(&planned, &na), *b = run_graph(&plain, &nb);
        cr_assert_eq(na, nb);
        for (size_t k = 0; k < na; k++)
            cr_assert_float_eq(a[k], b[k], 1e-4f * (1.0f + fabsf(b[k])),
                               "seed %u: output element %zu: %g vs %g", seed, k, a[k], b[k]);
        free(a);
        free(b);
    }
}
