/*
 * compile_emit.c — the compiler's output: instructions with every view
 * resolved to a backend, a pool and byte offsets, and the lists cut into
 * segments. The decisions (order, placement, pools, offsets) are made in
 * compile.c, compile_place.c and compile_plan.c; see compile.h.
 *
 * Sections:
 *   1. instructions   4-D views from nodes, io slots, copies and replicas
 *   2. segments       stretches of one backend's kernels, or of transfers
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
        /* the row of a 1-D block tensor: its blocks' bytes, not shape x block */
        v->stride[d] = d == 2 && dtype_is_block(dtype)
                           ? (int64_t)plinth_dtype_row_bytes(dtype, v->shape[3])
                           : v->stride[d + 1] * v->shape[d + 1];
    }
}

/* ---------------------------------------------------- 1. instructions --- */

typedef struct place {
    int32_t backend, pool, tensor;
    uint64_t base;
} place;

/* Where a reader on backend `b` finds memory root m (b < 0: placement is
 * still asking supports(), and only dtypes and shapes matter). */
static place where(const compiler *c, int32_t m, int32_t b)
{
    const cnode *r = &c->cn[m];
    place w = {r->backend, r->pool, -1, r->base};
    if (r->pool == POOL_PERSISTENT || r->pool == POOL_STATE)
        w.tensor = r->ref;
    if (b < 0 || r->backend < 0 || r->backend == b || model_shares(c->model, r->backend, b))
        return w;
    w.backend = b;
    if (r->pool == POOL_PERSISTENT && r->rep[b] >= 0) { /* a replica */
        w.tensor = r->rep[b];
        w.base = c->model->tensors[r->rep[b]].offset;
    } else if (r->pool == POOL_IO && c->g->nodes[m].kind == PLINTH_NODE_INPUT) {
        w.base = c->prog->inputs[r->ref].at[b]; /* the input's copy */
    }
    return w;
}

static void set_view(const compiler *c, int32_t n, plinth_view *v)
{
    const graph_node *gn = &c->g->nodes[n];
    memset(v, 0, sizeof *v);
    view_shape(v, gn->dtype, gn->ndim, gn->shape, gn->stride);
}

/* Node n as read (or written) by an instruction on backend b, through copy
 * `copy` when >= 0. */
static void node_view(const compiler *c, int32_t n, int32_t b, int32_t copy, plinth_view *v,
                      int32_t *pool, int32_t *backend, int32_t *tensor)
{
    set_view(c, n, v);
    place w;
    if (copy >= 0) {
        const xcopy *x = &c->copies[copy];
        w = (place){x->backend, x->pool, -1, x->base};
    } else {
        w = where(c, c->cn[n].mem, b);
    }
    v->base = w.base;
    v->offset = w.base + (uint64_t)compile_node_offset(c, n);
    *pool = w.pool;
    *backend = w.backend;
    *tensor = w.tensor;
}

static void slot_view(const compiler *c, int32_t n, int32_t slot, plinth_view *v)
{
    const graph_node *gn = &c->g->nodes[n];
    int64_t stride[PLINTH_MAX_DIMS];
    contiguous_strides(gn->dtype, gn->ndim, gn->shape, stride);
    memset(v, 0, sizeof *v);
    view_shape(v, gn->dtype, gn->ndim, gn->shape, stride);
    v->base = v->offset = c->prog->outputs[slot].offset;
}

/* A transfer: the whole memory root of the value, contiguous, from its
 * home into a copy (or a replica). */
static void emit_transfer(const compiler *c, const proto *p, instruction *ins)
{
    const int32_t m = c->cn[p->node].mem;
    place src = where(c, m, NO_BACKEND), dst;
    if (p->out_copy >= 0) {
        const xcopy *x = &c->copies[p->out_copy];
        dst = (place){x->backend, x->pool, -1, x->base};
    } else {
        dst = where(c, m, p->backend);
    }
    set_view(c, m, &ins->in[0]);
    ins->in[0].base = ins->in[0].offset = src.base;
    ins->in_pool[0] = src.pool;
    ins->in_backend[0] = src.backend;
    ins->in_tensor[0] = src.tensor;
    set_view(c, m, &ins->out);
    ins->out.base = ins->out.offset = dst.base;
    ins->out_pool = dst.pool;
    ins->out_tensor = dst.tensor;
}

void emit_proto(const compiler *c, const proto *p, instruction *ins)
{
    memset(ins, 0, sizeof *ins);
    ins->op = p->op;
    ins->n_in = p->n_in;
    ins->node = p->node;
    ins->backend = p->backend;
    for (uint32_t j = 0; j < PLINTH_MAX_INPUTS; j++) {
        ins->in_pool[j] = -1;
        ins->in_tensor[j] = -1;
        ins->in_backend[j] = NO_BACKEND;
    }
    if (p->op == OP_TRANSFER) {
        emit_transfer(c, p, ins);
        return;
    }
    if (p->op != PLINTH_OP_COPY || p->in_node[0] != p->node)
        ins->attrs = c->g->nodes[p->node].attrs;
    int32_t out_backend = NO_BACKEND;
    if (p->out_node >= 0) {
        node_view(c, p->out_node, p->backend, -1, &ins->out, &ins->out_pool, &out_backend,
                  &ins->out_tensor);
    } else {
        slot_view(c, p->node, p->out_slot, &ins->out);
        ins->out_pool = POOL_IO;
        ins->out_tensor = -1;
    }
    for (uint32_t j = 0; j < p->n_in; j++)
        node_view(c, p->in_node[j], p->backend, p->in_copy[j], &ins->in[j], &ins->in_pool[j],
                  &ins->in_backend[j], &ins->in_tensor[j]);
}

const char *emit_types(const instruction *ins, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t j = 0; j < ins->n_in && len < size; j++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", j ? " x " : "",
                                plinth_dtype_name((plinth_dtype)ins->in[j].dtype));
    if (len < size)
        snprintf(buf + len, size - len, " -> %s",
                 plinth_dtype_name((plinth_dtype)ins->out.dtype));
    return buf;
}

static plinth_status emit_list(compiler *c, const proto *l, uint32_t n, instruction **out,
                               placement_note **notes)
{
    ctx_free(c->ctx, *out);
    ctx_free(c->ctx, *notes);
    *out = ctx_calloc(c->ctx, n ? n : 1, sizeof **out);
    *notes = ctx_calloc(c->ctx, n ? n : 1, sizeof **notes);
    if (!*out || !*notes)
        return compile_oom(c, "instructions");
    for (uint32_t i = 0; i < n; i++) {
        emit_proto(c, &l[i], &(*out)[i]);
        (*notes)[i] = l[i].note;
    }
    return PLINTH_OK;
}

plinth_status emit_instructions(compiler *c)
{
    plinth_program *p = c->prog;
    plinth_status st = emit_list(c, c->code, c->n_code, &p->code, &p->code_note);
    if (st == PLINTH_OK)
        st = emit_list(c, c->fold, c->n_fold, &p->fold, &p->fold_note);
    if (st != PLINTH_OK)
        return st;
    p->n_code = c->n_code;
    p->n_fold = c->n_fold;
    return PLINTH_OK;
}

/* -------------------------------------------------------- 2. segments --- */

/* Kernels of one backend in a row make one segment (a whole-program
 * backend prepares it as one program); transfers in a row make another. */
static plinth_status cut(compiler *c, const instruction *l, uint32_t n, segment **out,
                         uint32_t *n_out)
{
    ctx_free(c->ctx, *out);
    *out = ctx_calloc(c->ctx, n ? n : 1, sizeof **out); /* at most one per instruction */
    if (!*out)
        return compile_oom(c, "segments");
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        int32_t b = l[i].op == OP_TRANSFER ? NO_BACKEND : l[i].backend;
        segment *s = k ? &(*out)[k - 1] : NULL;
        if (s && s->backend == b && s->first + s->n == i) {
            s->n++;
            continue;
        }
        (*out)[k++] = (segment){.backend = b, .first = i, .n = 1};
    }
    *n_out = k;
    return PLINTH_OK;
}

plinth_status emit_segments(compiler *c)
{
    plinth_program *p = c->prog;
    plinth_status st = cut(c, p->code, p->n_code, &p->seg, &p->n_seg);
    return st ? st : cut(c, p->fold, p->n_fold, &p->fold_seg, &p->n_fold_seg);
}
