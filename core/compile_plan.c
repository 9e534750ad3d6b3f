/*
 * compile_plan.c — the compiler's memory plans, one per backend: liveness
 * over a list, in-place reuse, offsets from the planner, and the io pools.
 *
 * Sections:
 *   1. liveness and in-place reuse of one (list, pool, backend)
 *   2. offsets: the planner, verified, with its lower bound
 *   3. io: each backend's inputs and outputs, 256-aligned
 *   4. plan_pools: every backend's arena, scratch and io; the bases
 *
 * Steps are positions in the one list (run or load) that every backend
 * shares: backends run one after another, so a tensor of one backend that
 * another reads in place stays live until that read, and a transfer's
 * read of its source counts like any other.
 */
#include "compile.h"

#include <string.h>

/* ------------------------------------------------------------------ 1 --- */

/* Ops whose kernel may write over in[0] (and in[1] for binary ones):
 * plinth_plugin.h rule 10. */
static bool op_inplace_ok(uint32_t op)
{
    switch (op) {
    case PLINTH_OP_ADD: case PLINTH_OP_SUB: case PLINTH_OP_MUL: case PLINTH_OP_DIV:
    case PLINTH_OP_SCALE: case PLINTH_OP_GELU_TANH: case PLINTH_OP_SILU:
        return true;
    default:
        return false;
    }
}

static bool same_shape(const graph_node *a, const graph_node *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim)
        return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return false;
    return true;
}

/* May the output of proto `p` (step `step`) take the memory of its input
 * k? The input must be an arena tensor itself (not a view) of the same
 * backend read in place (not through a copy), equal in dtype and shape,
 * dying here, and no other input may see its memory through a different
 * view. */
static bool inplace_candidate(const compiler *c, const proto *p, uint32_t k, uint32_t step,
                              const uint32_t *last)
{
    int32_t x = p->in_node[k];
    const graph_node *gx = &c->g->nodes[x];
    if (gx->kind != PLINTH_NODE_OP || c->cn[x].mem != x || c->cn[x].pool != POOL_ARENA ||
        c->cn[x].backend != p->backend || p->in_copy[k] >= 0)
        return false;
    if (last[x] != step || !same_shape(gx, &c->g->nodes[p->node]))
        return false;
    for (uint32_t j = 0; j < p->n_in; j++)
        if (j != k && p->in_node[j] != x && c->cn[p->in_node[j]].mem == x)
            return false;
    return true;
}

/* Is `o` a memory root of (pool, backend) that proto p produces? */
static bool produces(const compiler *c, const proto *p, int32_t pool, int32_t backend)
{
    int32_t o = p->out_node;
    return p->op != OP_TRANSFER && o >= 0 && o == p->node && c->cn[o].pool == pool &&
           c->cn[o].backend == backend;
}

/* Liveness over one list for the items of (pool, backend): the roots its
 * protos produce there and the copies its transfers make there, indexed by
 * cn.ref / xcopy.ref; in-place merges for the arena. */
static plinth_status plan_items(compiler *c, const proto *list, uint32_t n, int32_t pool,
                                int32_t backend, bool inplace, program_backend *pb,
                                plan_item **out_items, uint32_t *out_n)
{
    const plinth_graph *g = c->g;
    uint32_t nn = g->n_nodes, n_items = 0;
    uint32_t *last = ctx_calloc(c->ctx, nn, sizeof *last);
    uint32_t *last_copy = ctx_calloc(c->ctx, c->n_copies + 1, sizeof *last_copy);
    plan_item *items = ctx_calloc(c->ctx, n + 1, sizeof *items);
    if (!last || !items || !last_copy) {
        ctx_free(c->ctx, last);
        ctx_free(c->ctx, last_copy);
        ctx_free(c->ctx, items);
        return compile_oom(c, "liveness");
    }
    for (uint32_t i = 0; i < nn; i++)
        last[i] = UINT32_MAX;
    for (uint32_t k = 0; k < c->n_copies; k++)
        last_copy[k] = UINT32_MAX;
    for (uint32_t s = 0; s < n; s++)
        for (uint32_t j = 0; j < list[s].n_in; j++) {
            if (list[s].in_copy[j] >= 0) {
                last_copy[list[s].in_copy[j]] = s;
                continue;
            }
            int32_t m = c->cn[list[s].in_node[j]].mem;
            if (c->cn[m].pool == pool && c->cn[m].backend == backend)
                last[m] = s; /* ascending s: the last read wins */
        }
    const bool arena = pool == POOL_ARENA;
    for (uint32_t s = 0; s < n; s++) {
        const proto *p = &list[s];
        if (p->op == OP_TRANSFER && p->out_copy >= 0) {
            xcopy *x = &c->copies[p->out_copy];
            if (x->pool != pool || x->backend != backend)
                continue;
            uint64_t bytes = node_bytes(&g->nodes[c->cn[x->value].mem]);
            x->ref = (int32_t)n_items++;
            uint32_t end = last_copy[p->out_copy] == UINT32_MAX ? s : last_copy[p->out_copy];
            items[x->ref] = (plan_item){.size = bytes, .first = s, .last = end};
            pb->naive_bytes += arena ? ALIGN_UP(bytes, PLINTH_ALIGNMENT) : 0;
            continue;
        }
        if (!produces(c, p, pool, backend))
            continue;
        int32_t o = p->out_node;
        int32_t ref = -1;
        for (uint32_t k = 0; inplace && k < p->n_in && k < 2 && ref < 0; k++)
            if (op_inplace_ok(p->op) && inplace_candidate(c, p, k, s, last)) {
                ref = c->cn[p->in_node[k]].ref;
                c->n_inplace++;
            }
        if (ref < 0) {
            ref = (int32_t)n_items++;
            items[ref] = (plan_item){.size = node_bytes(&g->nodes[o]), .first = s, .last = s};
        }
        pb->naive_bytes += arena ? ALIGN_UP(node_bytes(&g->nodes[o]), PLINTH_ALIGNMENT) : 0;
        c->cn[o].ref = ref;
        uint32_t end = last[o] == UINT32_MAX ? s : last[o];
        if (end > items[ref].last)
            items[ref].last = end;
        if (arena)
            c->n_arena_tensors++;
    }
    ctx_free(c->ctx, last);
    ctx_free(c->ctx, last_copy);
    *out_items = items;
    *out_n = n_items;
    return PLINTH_OK;
}

/* ------------------------------------------------------------------ 2 --- */

static plinth_status plan_pool(compiler *c, plan_item *items, uint32_t n, const char *what,
                               uint64_t *out_size, uint64_t *out_lower)
{
    *out_size = 0;
    if (out_lower)
        *out_lower = 0;
    if (n == 0)
        return PLINTH_OK;
    const plan_mem mem = {c->ctx->alloc, c->ctx->alloc_user};
    uint64_t size = plan_greedy_by_size(&mem, items, n, PLINTH_ALIGNMENT);
    if (size == UINT64_MAX)
        return compile_oom(c, what);
    char err[512];
    if (plan_verify(items, n, size, PLINTH_ALIGNMENT, err, sizeof err) != 0)
        return ctx_error(c->ctx, PLINTH_ERR_INTERNAL, "compile: the %s plan is invalid: %s",
                         what, err);
    if (out_lower) {
        *out_lower = plan_lower_bound(&mem, items, n, PLINTH_ALIGNMENT);
        if (*out_lower == UINT64_MAX)
            return compile_oom(c, what);
    }
    *out_size = size;
    return PLINTH_OK;
}

/* ------------------------------------------------------------------ 3 --- */

/* Each backend's io pool: the inputs it reads (creation order), then the
 * outputs computed on it (node order), each 256-aligned. */
static void layout_io(compiler *c)
{
    plinth_program *p = c->prog;
    for (uint32_t b = 0; b < c->n_backends; b++) {
        uint64_t end = 0;
        for (uint32_t i = 0; i < p->n_inputs; i++) {
            io_slot *s = &p->inputs[i];
            if (s->at[b] == IO_NONE)
                continue;
            s->at[b] = ALIGN_UP(end, PLINTH_ALIGNMENT);
            end = s->at[b] + s->bytes;
        }
        for (uint32_t i = 0; i < p->n_outputs; i++) {
            io_slot *s = &p->outputs[i];
            if (s->backend != (int32_t)b)
                continue;
            s->offset = ALIGN_UP(end, PLINTH_ALIGNMENT);
            end = s->offset + s->bytes;
        }
        p->be[b].pool_bytes[POOL_IO] = ALIGN_UP(end, PLINTH_ALIGNMENT);
    }
    for (uint32_t i = 0; i < p->n_inputs; i++)
        p->inputs[i].offset = p->inputs[i].at[p->inputs[i].backend];
}

/* ------------------------------------------------------------------ 4 --- */

/* Offsets of every memory root of (pool, backend) and of its copies. */
static void resolve_bases(compiler *c, int32_t pool, int32_t backend, const plan_item *items)
{
    const plinth_graph *g = c->g;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        cnode *cn = &c->cn[i];
        if (cn->live && cn->mem == (int32_t)i && cn->pool == pool && cn->backend == backend &&
            cn->ref >= 0)
            cn->base = items[cn->ref].offset;
    }
    for (uint32_t k = 0; k < c->n_copies; k++)
        if (c->copies[k].pool == pool && c->copies[k].backend == backend &&
            c->copies[k].ref >= 0)
            c->copies[k].base = items[c->copies[k].ref].offset;
}

static plinth_status plan_one(compiler *c, int32_t b, bool run)
{
    program_backend *pb = &c->prog->be[b];
    const int32_t pool = run ? POOL_ARENA : POOL_SCRATCH;
    plan_item *items = NULL;
    uint32_t n = 0;
    plinth_status st = run ? plan_items(c, c->code, c->n_code, pool, b, !c->no_inplace, pb,
                                        &items, &n)
                           : plan_items(c, c->fold, c->n_fold, pool, b, false, pb, &items, &n);
    if (st == PLINTH_OK)
        st = plan_pool(c, items, n, run ? "arena" : "scratch", &pb->pool_bytes[pool],
                       run ? &pb->lower_bound : NULL);
    if (st == PLINTH_OK)
        resolve_bases(c, pool, b, items);
    ctx_free(c->ctx, items);
    return st;
}

plinth_status plan_pools(compiler *c)
{
    plinth_status st = PLINTH_OK;
    for (uint32_t b = 0; b < c->n_backends && st == PLINTH_OK; b++) {
        st = plan_one(c, (int32_t)b, true);
        if (st == PLINTH_OK)
            st = plan_one(c, (int32_t)b, false);
    }
    if (st != PLINTH_OK)
        return st;
    layout_io(c);
    const plinth_program *p = c->prog;
    for (uint32_t i = 0; i < c->g->n_nodes; i++) {
        cnode *cn = &c->cn[i];
        if (!cn->live || cn->mem != (int32_t)i || cn->pool != POOL_IO)
            continue;
        const graph_node *n = &c->g->nodes[i];
        cn->base = n->kind == PLINTH_NODE_INPUT ? p->inputs[cn->ref].offset
                                                : p->outputs[cn->out_slot].offset;
    }
    return PLINTH_OK;
}
