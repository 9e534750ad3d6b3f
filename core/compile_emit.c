/*
 * compile_emit.c — the compiler's output: instructions with every view
 * resolved to a pool and byte offsets, the backend's yes or no for each,
 * and the plan as JSON. The decisions (order, pools, offsets) are made in
 * compile.c; see compile.h for what the two share.
 *
 * Sections:
 *   1. instructions   4-D views from nodes, io slots and placements
 *   2. backend check  supports() for every run and fold instruction
 */
#include "compile.h"

#include "slots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The 4-D form of a rank-`ndim` tensor: leading dims of size 1 whose
 * strides continue the outermost real one, so a contiguous tensor still
 * looks contiguous. */
static void view_shape(plinth_view *v, int32_t dtype, int32_t ndim, const int64_t *shape,
                       const int64_t *stride)
{
    int lead = PLINTH_MAX_DIMS - ndim;
    v->dtype = dtype;
    v->ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        v->shape[lead + d] = shape[d];
        v->stride[lead + d] = stride[d];
    }
    for (int d = lead - 1; d >= 0; d--) {
        v->shape[d] = 1;
        v->stride[d] = v->stride[d + 1] * v->shape[d + 1];
    }
}

/* ---------------------------------------------------- 1. instructions --- */

static void node_view(const compiler *c, int32_t n, plinth_view *v, int32_t *pool,
                      int32_t *tensor)
{
    const graph_node *gn = &c->g->nodes[n];
    const cnode *m = &c->cn[c->cn[n].mem];
    memset(v, 0, sizeof *v);
    view_shape(v, gn->dtype, gn->ndim, gn->shape, gn->stride);
    v->base = m->base;
    v->offset = m->base + (uint64_t)compile_node_offset(c, n);
    *pool = m->pool;
    *tensor = (m->pool == POOL_PERSISTENT || m->pool == POOL_STATE) ? m->ref : -1;
}

static void slot_view(const compiler *c, int32_t n, int32_t slot, plinth_view *v)
{
    const graph_node *gn = &c->g->nodes[n];
    int64_t stride[PLINTH_MAX_DIMS];
    int64_t s = (int64_t)plinth_dtype_size((plinth_dtype)gn->dtype);
    for (int d = gn->ndim - 1; d >= 0; d--) {
        stride[d] = s;
        s *= gn->shape[d];
    }
    memset(v, 0, sizeof *v);
    view_shape(v, gn->dtype, gn->ndim, gn->shape, stride);
    v->base = v->offset = c->prog->outputs[slot].offset;
}

static void emit_one(const compiler *c, const proto *p, instruction *ins)
{
    memset(ins, 0, sizeof *ins);
    ins->op = p->op;
    ins->n_in = p->n_in;
    ins->node = p->node;
    if (p->op != PLINTH_OP_COPY || p->in_node[0] != p->node)
        ins->attrs = c->g->nodes[p->node].attrs;
    if (p->out_node >= 0) {
        node_view(c, p->out_node, &ins->out, &ins->out_pool, &ins->out_tensor);
    } else {
        slot_view(c, p->node, p->out_slot, &ins->out);
        ins->out_pool = POOL_IO;
        ins->out_tensor = -1;
    }
    for (uint32_t j = 0; j < PLINTH_MAX_INPUTS; j++) {
        ins->in_pool[j] = -1;
        ins->in_tensor[j] = -1;
    }
    for (uint32_t j = 0; j < p->n_in; j++)
        node_view(c, p->in_node[j], &ins->in[j], &ins->in_pool[j], &ins->in_tensor[j]);
}

plinth_status emit_instructions(compiler *c)
{
    plinth_program *p = c->prog;
    if (!p->code && c->n_code)
        p->code = ctx_calloc(c->ctx, c->n_code, sizeof *p->code);
    if (!p->fold && c->n_fold)
        p->fold = ctx_calloc(c->ctx, c->n_fold, sizeof *p->fold);
    if ((c->n_code && !p->code) || (c->n_fold && !p->fold))
        return ctx_error(c->ctx, PLINTH_ERR_NO_MEMORY, "compile: out of memory (instructions)");
    p->n_code = c->n_code;
    p->n_fold = c->n_fold;
    for (uint32_t i = 0; i < c->n_code; i++)
        emit_one(c, &c->code[i], &p->code[i]);
    for (uint32_t i = 0; i < c->n_fold; i++)
        emit_one(c, &c->fold[i], &p->fold[i]);
    return PLINTH_OK;
}

/* --------------------------------------------------- 2. backend check --- */

static plinth_status check_list(compiler *c, const instruction *list, uint32_t n,
                                const char *when)
{
    plinth_backend *b = c->model->backend;
    for (uint32_t i = 0; i < n; i++) {
        const instruction *ins = &list[i];
        if (slot_supports(b, ins->op, &ins->out, ins->in, ins->n_in, &ins->attrs))
            continue;
        char types[128];
        size_t len = 0;
        types[0] = '\0';
        for (uint32_t j = 0; j < ins->n_in && len < sizeof types; j++)
            len += (size_t)snprintf(types + len, sizeof types - len, "%s%s", j ? " x " : "",
                                    plinth_dtype_name((plinth_dtype)ins->in[j].dtype));
        if (len < sizeof types)
            snprintf(types + len, sizeof types - len, " -> %s",
                     plinth_dtype_name((plinth_dtype)ins->out.dtype));
        return ctx_error(c->ctx, PLINTH_ERR_UNSUPPORTED,
                         "backend '%s' does not support %s (%s) at node %d%s",
                         c->model->backend->name, plinth_op_name((plinth_op)ins->op), types,
                         (int)ins->node, when);
    }
    return PLINTH_OK;
}

plinth_status emit_check_supports(compiler *c)
{
    plinth_status st = check_list(c, c->prog->fold, c->prog->n_fold, " (folded at load)");
    return st ? st : check_list(c, c->prog->code, c->prog->n_code, "");
}
