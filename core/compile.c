/*
 * compile.c — graph to program: the compiler's passes.
 *
 * Sections:
 *   1. state        the compiler's per-node facts and scratch arrays
 *   2. analysis     validation, memory roots, dead nodes, folding
 *   3. order        stable Kahn sort with write-after-read edges on states
 *   4. protos       io slots, pools, the run and load lists by node
 *   5. registry     params, states, constants and folded values in the
 *                   model, on their backends (and replicas)
 *   6. driver       plinth_program_compile
 *
 * Placement and transfers are in compile_place.c, liveness and offsets in
 * compile_plan.c, instruction views and segments in compile_emit.c (see
 * compile.h). Everything is decided here, once: the executor only walks
 * the lists these files produce.
 */
#include "compile.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ 1. state --- */

static bool is_op(const graph_node *n, int32_t op)
{
    return n->kind == PLINTH_NODE_OP && n->op == op;
}

static bool is_set_rows(const graph_node *n)
{
    return is_op(n, PLINTH_OP_SET_ROWS);
}

bool compile_is_set_rows(const graph_node *n)
{
    return is_set_rows(n);
}

plinth_status compile_oom(compiler *c, const char *what)
{
    return ctx_error(c->ctx, PLINTH_ERR_NO_MEMORY, "compile: out of memory (%s)", what);
}

static plinth_status oom(compiler *c, const char *what)
{
    return compile_oom(c, what);
}

/* --------------------------------------------------------- 2. analysis --- */

/* The node that owns n's memory: a view's root, and for a set_rows result
 * the state it writes into (through any chain of writes). */
static int32_t mem_root(const plinth_graph *g, int32_t n)
{
    int32_t r = g->nodes[n].root;
    while (is_set_rows(&g->nodes[r]))
        r = g->nodes[g->nodes[r].in[0]].root;
    return r;
}

/* Byte offset of n's element 0 from its memory root's start. */
int64_t compile_node_offset(const compiler *c, int32_t n)
{
    const graph_node *gn = &c->g->nodes[n];
    return gn->kind == PLINTH_NODE_VIEW ? gn->offset : 0;
}

static plinth_status validate(compiler *c)
{
    const plinth_graph *g = c->g;
    uint32_t n_out = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const graph_node *n = &g->nodes[i];
        if (n->output_name)
            n_out++;
        if (n->kind == PLINTH_NODE_OP && (n->op < 0 || n->op >= PLINTH_OP_COUNT))
            return ctx_error(c->ctx, PLINTH_ERR_INTERNAL, "compile: node %u has op %d", i,
                             (int)n->op);
        for (int32_t j = 0; j < n->n_in; j++)
            if (n->in[j] < 0 || (uint32_t)n->in[j] >= i)
                return ctx_error(c->ctx, PLINTH_ERR_INTERNAL,
                                 "compile: input %d of node %u is node %d (not earlier)", j,
                                 i, (int)n->in[j]);
    }
    if (n_out == 0)
        return ctx_error(c->ctx, PLINTH_ERR_INVALID,
                         "compile: the graph has no outputs (mark one with plinth_output)");
    return PLINTH_OK;
}

/* Liveness of nodes (not of memory): reachable from an output or from a
 * set_rows (a state write is a side effect). Creation order is
 * topological, so one backward sweep suffices. */
static void mark_live(compiler *c)
{
    const plinth_graph *g = c->g;
    for (uint32_t i = 0; i < g->n_nodes; i++)
        c->cn[i].live = g->nodes[i].output_name != NULL || is_set_rows(&g->nodes[i]);
    for (uint32_t i = g->n_nodes; i-- > 0;) {
        if (!c->cn[i].live)
            continue;
        const graph_node *n = &g->nodes[i];
        for (int32_t j = 0; j < n->n_in; j++)
            c->cn[n->in[j]].live = true;
    }
}

/* An op or view all of whose inputs are params, constants or foldable is
 * computed once at load. Folded *values* are the foldable ops whose memory
 * is read at run time (by a run-time node or an output copy): they go to
 * the persistent pool; the other foldable ops are load-time scratch. */
static void mark_fold(compiler *c)
{
    const plinth_graph *g = c->g;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const graph_node *n = &g->nodes[i];
        cnode *cn = &c->cn[i];
        cn->fold = false;
        if (c->no_fold || !cn->live || is_set_rows(n))
            continue;
        if (n->kind != PLINTH_NODE_OP && n->kind != PLINTH_NODE_VIEW)
            continue;
        bool ok = n->n_in > 0;
        for (int32_t j = 0; j < n->n_in && ok; j++) {
            const graph_node *in = &g->nodes[n->in[j]];
            ok = c->cn[n->in[j]].fold || in->kind == PLINTH_NODE_PARAM ||
                 in->kind == PLINTH_NODE_CONSTANT;
        }
        cn->fold = ok;
    }
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const graph_node *n = &g->nodes[i];
        if (!c->cn[i].live)
            continue;
        if (c->cn[i].fold && n->output_name)
            c->cn[c->cn[i].mem].folded_value = true;
        if (c->cn[i].fold || n->kind == PLINTH_NODE_VIEW)
            continue; /* a view reads nothing by itself */
        for (int32_t j = 0; j < n->n_in; j++) {
            int32_t m = c->cn[n->in[j]].mem;
            if (c->cn[m].fold)
                c->cn[m].folded_value = true;
        }
    }
}

/* ------------------------------------------------------------ 3. order --- */

typedef struct heap {
    int32_t *v;
    uint32_t n;
} heap;

static void heap_push(heap *h, int32_t x)
{
    uint32_t i = h->n++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (h->v[p] <= x)
            break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = x;
}

static int32_t heap_pop(heap *h)
{
    int32_t top = h->v[0], x = h->v[--h->n];
    uint32_t i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1, s = i;
        int32_t best = x;
        if (l < h->n && h->v[l] < best) {
            s = l;
            best = h->v[l];
        }
        if (l + 1 < h->n && h->v[l + 1] < best)
            s = l + 1;
        if (s == i)
            break;
        h->v[i] = h->v[s];
        i = s;
    }
    if (h->n)
        h->v[i] = x;
    return top;
}

typedef struct edge {
    int32_t from, to;
} edge;

static bool add_edge(compiler *c, edge **e, uint32_t *n, uint32_t *cap, int32_t from,
                     int32_t to)
{
    if (!ctx_grow(c->ctx, (void **)e, cap, *n + 1, sizeof **e))
        return false;
    (*e)[(*n)++] = (edge){from, to};
    return true;
}

/* Memory read by run-time node r (not its set_rows target; an output also
 * reads itself, through its copy): for each read of a state version v (the
 * state, or a set_rows result), r must run before every write whose target
 * is v. */
static bool war_edges(compiler *c, int32_t r, const int32_t *first_writer,
                      const int32_t *next_writer, edge **e, uint32_t *n, uint32_t *cap)
{
    const graph_node *gn = &c->g->nodes[r];
    int32_t reads[PLINTH_MAX_INPUTS + 2];
    int nr = 0;
    if (gn->kind != PLINTH_NODE_VIEW)
        for (int32_t j = is_set_rows(gn) ? 1 : 0; j < gn->n_in; j++)
            reads[nr++] = c->g->nodes[gn->in[j]].root;
    if (gn->output_name)
        reads[nr++] = gn->root;
    for (int k = 0; k < nr; k++)
        for (int32_t w = first_writer[reads[k]]; w >= 0; w = next_writer[w])
            if (w != r && !add_edge(c, e, n, cap, r, w))
                return false;
    return true;
}

static plinth_status order_nodes(compiler *c)
{
    const plinth_graph *g = c->g;
    uint32_t nn = g->n_nodes;
    plinth_status st = PLINTH_OK;
    int32_t *first_writer = ctx_calloc(c->ctx, nn, sizeof *first_writer);
    int32_t *next_writer = ctx_calloc(c->ctx, nn, sizeof *next_writer);
    uint32_t *indeg = ctx_calloc(c->ctx, nn, sizeof *indeg);
    uint32_t *start = ctx_calloc(c->ctx, nn + 1, sizeof *start);
    int32_t *succ = NULL;
    edge *e = NULL;
    uint32_t ne = 0, cap = 0;
    heap h = {ctx_calloc(c->ctx, nn, sizeof(int32_t)), 0};
    c->order = ctx_calloc(c->ctx, nn, sizeof *c->order);
    if (!first_writer || !next_writer || !indeg || !start || !h.v || !c->order) {
        st = oom(c, "order");
        goto done;
    }
    for (uint32_t i = 0; i < nn; i++)
        first_writer[i] = next_writer[i] = -1;
    for (uint32_t i = nn; i-- > 0;) /* lists in index order */
        if (c->cn[i].live && is_set_rows(&g->nodes[i])) {
            int32_t t = g->nodes[i].in[0];
            next_writer[i] = first_writer[t];
            first_writer[t] = (int32_t)i;
        }
    for (uint32_t i = 0; i < nn; i++) {
        const graph_node *n = &g->nodes[i];
        if (!c->cn[i].runtime)
            continue;
        for (int32_t j = 0; j < n->n_in; j++)
            if (c->cn[n->in[j]].runtime && !add_edge(c, &e, &ne, &cap, n->in[j], (int32_t)i)) {
                st = oom(c, "order");
                goto done;
            }
        if (!war_edges(c, (int32_t)i, first_writer, next_writer, &e, &ne, &cap)) {
            st = oom(c, "order");
            goto done;
        }
    }
    succ = ctx_calloc(c->ctx, ne, sizeof *succ);
    if (!succ) {
        st = oom(c, "order");
        goto done;
    }
    for (uint32_t k = 0; k < ne; k++) {
        start[e[k].from + 1]++;
        indeg[e[k].to]++;
    }
    for (uint32_t i = 0; i < nn; i++)
        start[i + 1] += start[i];
    {
        uint32_t *fill = ctx_calloc(c->ctx, nn, sizeof *fill);
        if (!fill) {
            st = oom(c, "order");
            goto done;
        }
        for (uint32_t k = 0; k < ne; k++)
            succ[start[e[k].from] + fill[e[k].from]++] = e[k].to;
        ctx_free(c->ctx, fill);
    }
    uint32_t n_rt = 0;
    for (uint32_t i = 0; i < nn; i++)
        if (c->cn[i].runtime) {
            n_rt++;
            if (indeg[i] == 0)
                heap_push(&h, (int32_t)i);
        }
    c->n_order = 0;
    while (h.n) {
        int32_t x = heap_pop(&h);
        c->order[c->n_order++] = x;
        for (uint32_t k = start[x]; k < start[x + 1]; k++)
            if (--indeg[succ[k]] == 0)
                heap_push(&h, succ[k]);
    }
    if (c->n_order != n_rt) {
        /* Creation order is topological, so only a write-after-read edge
         * can close a cycle: name the state of a write left unordered. */
        int32_t w = -1;
        for (uint32_t i = 0; i < nn && w < 0; i++)
            if (c->cn[i].runtime && indeg[i] > 0 && is_set_rows(&g->nodes[i]))
                w = (int32_t)i;
        if (w < 0) {
            st = ctx_error(c->ctx, PLINTH_ERR_INTERNAL, "compile: the graph has a cycle");
        } else {
            const graph_node *s = &g->nodes[c->cn[w].mem];
            st = ctx_error(c->ctx, PLINTH_ERR_INVALID,
                           "compile: cannot order the accesses to state '%s': a read of "
                           "the state before write node %d depends on that write (read "
                           "the set_rows result instead, or break the dependency)",
                           s->name ? s->name : "?", (int)w);
        }
    }
done:
    ctx_free(c->ctx, first_writer);
    ctx_free(c->ctx, next_writer);
    ctx_free(c->ctx, indeg);
    ctx_free(c->ctx, start);
    ctx_free(c->ctx, succ);
    ctx_free(c->ctx, e);
    ctx_free(c->ctx, h.v);
    return st;
}

/* ----------------------------------------------------------- 4. protos --- */

static plinth_status io_slot_init(compiler *c, io_slot *s, const graph_node *n,
                                  const char *name)
{
    s->name = ctx_strdup(c->ctx, name);
    if (!s->name)
        return oom(c, "io slot");
    s->info.kind = n->kind;
    s->info.op = n->op;
    s->info.dtype = n->dtype;
    s->info.ndim = n->ndim;
    for (int d = 0; d < PLINTH_MAX_DIMS; d++)
        s->info.shape[d] = d < n->ndim ? n->shape[d] : 0;
    s->info.name = s->name;
    s->bytes = node_bytes(n);
    s->backend = 0;
    for (uint32_t b = 0; b < PLINTH_MAX_BACKENDS; b++)
        s->at[b] = IO_NONE;
    return PLINTH_OK;
}

/* Inputs in creation order (all of them, so that set_input by name keeps
 * working for an input the graph happens not to use), then outputs in node
 * order. Which backends' io pools hold them, and where, is decided after
 * placement (compile_place.c, compile_plan.c). */
static plinth_status place_io(compiler *c)
{
    const plinth_graph *g = c->g;
    plinth_program *p = c->prog;
    uint32_t n_in = 0, n_out = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        n_in += g->nodes[i].kind == PLINTH_NODE_INPUT;
        n_out += g->nodes[i].output_name != NULL;
    }
    p->inputs = ctx_calloc(c->ctx, n_in, sizeof *p->inputs);
    p->outputs = ctx_calloc(c->ctx, n_out, sizeof *p->outputs);
    if (!p->inputs || !p->outputs)
        return oom(c, "io slots");
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const graph_node *n = &g->nodes[i];
        if (n->kind != PLINTH_NODE_INPUT)
            continue;
        plinth_status st = io_slot_init(c, &p->inputs[p->n_inputs], n, n->name);
        if (st)
            return st;
        c->cn[i].pool = POOL_IO;
        c->cn[i].ref = (int32_t)p->n_inputs++;
    }
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const graph_node *n = &g->nodes[i];
        if (!n->output_name)
            continue;
        plinth_status st = io_slot_init(c, &p->outputs[p->n_outputs], n, n->output_name);
        if (st)
            return st;
        c->cn[i].out_slot = (int32_t)p->n_outputs++;
    }
    return PLINTH_OK;
}

/* Pools of the memory roots. Views and set_rows results have none of their
 * own: they use their root's. */
static void place_roots(compiler *c)
{
    const plinth_graph *g = c->g;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const graph_node *n = &g->nodes[i];
        cnode *cn = &c->cn[i];
        if (!cn->live || n->kind == PLINTH_NODE_INPUT || n->kind == PLINTH_NODE_VIEW ||
            is_set_rows(n))
            continue;
        switch (n->kind) {
        case PLINTH_NODE_PARAM:
        case PLINTH_NODE_CONSTANT:
            cn->pool = POOL_PERSISTENT;
            break;
        case PLINTH_NODE_STATE:
            cn->pool = POOL_STATE;
            break;
        default: /* ops */
            if (cn->fold)
                cn->pool = cn->folded_value ? POOL_PERSISTENT : POOL_SCRATCH;
            else
                cn->pool = n->output_name ? POOL_IO : POOL_ARENA;
            break;
        }
    }
}

static bool push_proto(compiler *c, proto **list, uint32_t *n, uint32_t *cap, proto p)
{
    if (!ctx_grow(c->ctx, (void **)list, cap, *n + 1, sizeof **list))
        return false;
    (*list)[(*n)++] = p;
    return true;
}

/* A proto reading nothing through copies, placed nowhere yet. */
static proto proto_blank(void)
{
    proto p;
    memset(&p, 0, sizeof p);
    p.backend = NO_BACKEND;
    p.out_copy = -1;
    for (uint32_t j = 0; j < PLINTH_MAX_INPUTS; j++)
        p.in_copy[j] = -1;
    return p;
}

static proto proto_op(const compiler *c, int32_t i)
{
    const graph_node *n = &c->g->nodes[i];
    proto p = proto_blank();
    p.op = n->op;
    p.node = i;
    p.out_node = i;
    p.out_slot = -1;
    if (is_set_rows(n)) {
        p.out_node = c->cn[i].mem; /* the state itself, full shape */
        p.n_in = 2;
        p.in_node[0] = n->in[1];
        p.in_node[1] = n->in[2];
    } else {
        p.n_in = (uint32_t)n->n_in;
        for (int32_t j = 0; j < n->n_in; j++)
            p.in_node[j] = n->in[j];
        if (n->output_name && !c->cn[i].fold) {
            p.out_node = -1; /* straight into its io slot */
            p.out_slot = c->cn[i].out_slot;
        }
    }
    return p;
}

static proto proto_copy(const compiler *c, int32_t i)
{
    proto p = proto_blank();
    p.op = PLINTH_OP_COPY;
    p.node = i;
    p.n_in = 1;
    p.in_node[0] = i;
    p.out_node = -1;
    p.out_slot = c->cn[i].out_slot;
    return p;
}

/* True if an output node needs a copy into its io slot: everything but a
 * run-time op that writes there itself. */
static bool needs_copy(const compiler *c, int32_t i)
{
    const graph_node *n = &c->g->nodes[i];
    if (!n->output_name)
        return false;
    return !(n->kind == PLINTH_NODE_OP && !is_set_rows(n) && !c->cn[i].fold);
}

static plinth_status build_protos(compiler *c)
{
    const plinth_graph *g = c->g;
    /* Load time: the foldable ops in creation order. */
    for (uint32_t i = 0; i < g->n_nodes; i++)
        if (c->cn[i].fold && g->nodes[i].kind == PLINTH_NODE_OP &&
            !push_proto(c, &c->fold, &c->n_fold, &c->cap_fold, proto_op(c, (int32_t)i)))
            return oom(c, "fold list");
    /* Run time: copies of folded outputs first (their source never
     * changes), then the ordered nodes, each output copy right after its
     * node so that a later state write cannot overtake it. */
    for (uint32_t i = 0; i < g->n_nodes; i++)
        if (c->cn[i].fold && needs_copy(c, (int32_t)i) &&
            !push_proto(c, &c->code, &c->n_code, &c->cap_code, proto_copy(c, (int32_t)i)))
            return oom(c, "code");
    for (uint32_t k = 0; k < c->n_order; k++) {
        int32_t i = c->order[k];
        const graph_node *n = &g->nodes[i];
        if (n->kind == PLINTH_NODE_OP &&
            !push_proto(c, &c->code, &c->n_code, &c->cap_code, proto_op(c, i)))
            return oom(c, "code");
        if (needs_copy(c, i) &&
            !push_proto(c, &c->code, &c->n_code, &c->cap_code, proto_copy(c, i)))
            return oom(c, "code");
    }
    for (uint32_t k = 0; k < c->n_code + c->n_fold; k++) {
        const proto *p = k < c->n_code ? &c->code[k] : &c->fold[k - c->n_code];
        if (p->n_in < plinth_op_min_inputs(p->op) || p->n_in > plinth_op_max_inputs(p->op))
            return ctx_error(c->ctx, PLINTH_ERR_INTERNAL,
                             "compile: %s at node %d has %u kernel inputs, not %u..%u",
                             plinth_op_name((plinth_op)p->op), (int)p->node, p->n_in,
                             plinth_op_min_inputs(p->op), plinth_op_max_inputs(p->op));
    }
    return PLINTH_OK;
}

/* --------------------------------------------------------- 5. registry --- */

/* A number for the unique names of this program's constants and folded
 * values: the program's future index, unless an earlier program (since
 * destroyed, or a failed compile) already used it. */
static uint32_t pick_serial(const plinth_model *model)
{
    for (uint32_t s = model->n_programs;; s++) {
        char prefix[32];
        int len = snprintf(prefix, sizeof prefix, "#p%" PRIu32 "/", s);
        bool used = false;
        for (uint32_t t = 0; t < model->n_tensors && !used; t++)
            used = model->tensors[t].name &&
                   strncmp(model->tensors[t].name, prefix, (size_t)len) == 0;
        if (!used)
            return s;
    }
}

/* Registers one memory root on `backend` (its home, or a replica). */
static plinth_status register_one(compiler *c, uint32_t i, int32_t backend, int32_t *out)
{
    const graph_node *n = &c->g->nodes[i];
    char name[512];
    const char *nm = n->name;
    const void *data = NULL;
    if (n->kind == PLINTH_NODE_CONSTANT) {
        snprintf(name, sizeof name, "#p%" PRIu32 "/c%" PRIu32 ":%s", c->serial, i, n->name);
        nm = name;
        data = n->data;
    } else if (n->kind == PLINTH_NODE_OP) {
        snprintf(name, sizeof name, "#p%" PRIu32 "/n%" PRIu32, c->serial, i);
        nm = name;
    }
    /* The registry's message (naming the tensor) is on ctx on failure. */
    return model_tensor_register(c->model, nm, n->kind, n->dtype, n->ndim, n->shape, data,
                                 backend, out);
}

static bool registered(const plinth_model *model, const char *name, int32_t backend)
{
    for (uint32_t t = 0; t < model->n_tensors; t++)
        if (model->tensors[t].backend == backend && strcmp(model->tensors[t].name, name) == 0)
            return true;
    return false;
}

/* Three passes, so that a failure leaves as little behind as possible:
 * params and states another program already registered on the same
 * backend (the only registrations that can fail on a mismatch, and they
 * add nothing), then new params and states, then this program's own
 * constants and folded values. Replicas (rep[b]) follow their root. */
static plinth_status register_tensors(compiler *c)
{
    const plinth_graph *g = c->g;
    plinth_model *model = c->model;
    for (int pass = 0; pass < 3; pass++)
        for (uint32_t i = 0; i < g->n_nodes; i++) {
            const graph_node *n = &g->nodes[i];
            cnode *cn = &c->cn[i];
            if (!cn->live || cn->mem != (int32_t)i ||
                (cn->pool != POOL_PERSISTENT && cn->pool != POOL_STATE))
                continue;
            bool shared = n->kind == PLINTH_NODE_PARAM || n->kind == PLINTH_NODE_STATE;
            if (shared ? pass == 2 || registered(model, n->name, cn->backend) != (pass == 0)
                       : pass != 2)
                continue;
            int32_t t = -1;
            plinth_status st = register_one(c, i, cn->backend, &t);
            if (st != PLINTH_OK)
                return st;
            cn->ref = t;
            cn->base = model->tensors[t].offset;
            for (uint32_t b = 0; b < c->n_backends; b++) {
                if (cn->rep[b] < 0)
                    continue;
                st = register_one(c, i, (int32_t)b, &cn->rep[b]);
                if (st != PLINTH_OK)
                    return st;
            }
        }
    return PLINTH_OK;
}

/* ----------------------------------------------------------- 6. driver --- */

static plinth_status append_program(compiler *c)
{
    plinth_model *m = c->model;
    if (!ctx_grow(c->ctx, (void **)&m->programs, &m->cap_programs, m->n_programs + 1,
              sizeof *m->programs))
        return oom(c, "program list");
    c->prog->id = m->n_programs;
    m->programs[m->n_programs++] = c->prog;
    return PLINTH_OK;
}

/* The program's figures: per backend (compile_plan.c filled the pools) and
 * summed. */
static void fill_stats(compiler *c)
{
    plinth_program *p = c->prog;
    plinth_plan_stats *s = &p->stats;
    for (uint32_t b = 0; b < c->n_backends; b++) {
        const program_backend *pb = &p->be[b];
        s->arena_bytes += pb->pool_bytes[POOL_ARENA];
        s->lower_bound += pb->lower_bound;
        s->naive_bytes += pb->naive_bytes;
        s->io_bytes += pb->pool_bytes[POOL_IO];
    }
    s->persistent_bytes = c->model->persistent_bytes;
    s->state_bytes = c->model->state_bytes;
    s->n_instructions = p->n_code;
    s->n_fold_instructions = p->n_fold;
    s->n_arena_tensors = c->n_arena_tensors;
    s->n_inplace = c->n_inplace;
    s->n_shared = c->n_shared;
    s->n_segments = p->n_seg;
    for (uint32_t i = 0; i < c->g->n_nodes; i++)
        s->n_views += c->cn[i].live && c->g->nodes[i].kind == PLINTH_NODE_VIEW;
    for (uint32_t i = 0; i < p->n_code; i++) {
        const instruction *ins = &p->code[i];
        program_backend *pb = &p->be[ins->backend];
        if (ins->op == OP_TRANSFER) {
            uint64_t bytes = node_bytes(&c->g->nodes[c->cn[ins->node].mem]);
            s->n_transfers++;
            s->transfer_bytes += bytes;
            pb->n_transfers_in++;
            pb->transfer_bytes_in += bytes;
            continue;
        }
        pb->n_code++;
        s->n_fallback += (p->code_note[i].no_kernel | p->code_note[i].refused) != 0;
    }
    for (uint32_t i = 0; i < p->n_fold; i++) {
        if (p->fold[i].op == OP_TRANSFER)
            s->n_load_transfers++;
        else
            p->be[p->fold[i].backend].n_fold++;
    }
}

static plinth_status run_passes(compiler *c)
{
    plinth_status st;
    if ((st = validate(c)))
        return st;
    for (uint32_t i = 0; i < c->g->n_nodes; i++) {
        cnode *cn = &c->cn[i];
        cn->mem = mem_root(c->g, (int32_t)i);
        cn->pool = -1;
        cn->ref = -1;
        cn->out_slot = -1;
        cn->backend = NO_BACKEND;
        for (uint32_t b = 0; b < PLINTH_MAX_BACKENDS; b++)
            cn->rep[b] = cn->copy[b] = -1;
    }
    mark_live(c);
    mark_fold(c);
    for (uint32_t i = 0; i < c->g->n_nodes; i++)
        c->cn[i].runtime = c->cn[i].live && !c->cn[i].fold;
    if ((st = order_nodes(c)) || (st = place_io(c)))
        return st;
    place_roots(c);
    if ((st = build_protos(c)))
        return st;
    /* Placement asks every backend about every instruction before anything
     * is written into the model; then memory, plans, the registry, and the
     * final instructions with the model's offsets. */
    if ((st = place_protos(c)) || (st = place_memory(c)) || (st = plan_pools(c)) ||
        (st = register_tensors(c)) || (st = emit_instructions(c)) || (st = emit_segments(c)))
        return st;
    fill_stats(c);
    return append_program(c);
}

plinth_status plinth_program_compile(plinth_model *model, const plinth_graph *g,
                                     const plinth_compile_options *opts, plinth_program **out)
{
    if (out)
        *out = NULL;
    if (!model)
        return PLINTH_ERR_INVALID;
    plinth_context *ctx = model->ctx;
    if (!g || !out)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "plinth_program_compile: %s is NULL",
                         g ? "out" : "graph");
    if (g->status != PLINTH_OK)
        return g->status; /* the graph's first error is already on the context */
    if (model->loaded)
        return ctx_error(ctx, PLINTH_ERR_INVALID,
                         "compile: the model is already loaded; compile all programs "
                         "before loading the model");
    if (!model->backend || model->n_backends == 0)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "compile: the model has no backend");

    compiler c;
    memset(&c, 0, sizeof c);
    c.ctx = ctx;
    c.model = model;
    c.g = g;
    if (opts && opts->struct_size >= offsetof(plinth_compile_options, no_fold) + sizeof(bool))
        c.no_fold = opts->no_fold;
    if (opts &&
        opts->struct_size >= offsetof(plinth_compile_options, no_inplace) + sizeof(bool))
        c.no_inplace = opts->no_inplace;
    c.serial = pick_serial(model);
    c.n_backends = model->n_backends;
    c.cn = ctx_calloc(ctx, g->n_nodes, sizeof *c.cn);
    c.prog = ctx_calloc(ctx, 1, sizeof *c.prog);
    if (c.prog) {
        c.prog->model = model;
        model->refs++; /* released by program_free */
    }
    plinth_status st = !c.cn || !c.prog ? oom(&c, "program") : run_passes(&c);
    ctx_free(ctx, c.cn);
    ctx_free(ctx, c.order);
    ctx_free(ctx, c.code);
    ctx_free(ctx, c.fold);
    ctx_free(ctx, c.copies);
    if (st != PLINTH_OK) {
        program_free(c.prog);
        return st;
    }
    *out = c.prog;
    return PLINTH_OK;
}
