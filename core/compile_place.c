/*
 * compile_place.c — which backend runs each proto, where each tensor's
 * memory lives, and the transfers between backends. Everything here is
 * decided once, at compile; the executor only follows it.
 *
 * Sections:
 *   1. support: every backend of the model asked about every proto
 *   2. choice: pins, a state's writers together, else the first backend
 *      that can; one error listing every op nothing can run
 *   3. homes: the backend whose pool holds each memory root
 *   4. reads: replicas of params, copies of inputs, and a transfer before
 *      the first reader of a value on a backend that cannot read its home
 *
 * Rules (plinth.h, plinth_model_create_multi): the first backend of the
 * list that supports an op runs it unless the node is pinned; params and
 * constants live with their first reader and are replicated (loaded again)
 * for readers that cannot share its memory; a state lives with its writers;
 * an input is copied into the io pool of each backend that reads it at
 * set_input; anything computed at run time crosses by a transfer, once per
 * (value, reading backend), placed right before the first such reader.
 * Backends that both declare PLINTH_CAP_HOST_MEMORY read each other's
 * memory in place: no replica, no copy, no transfer.
 */
#include "compile.h"

#include "slots.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ 1 --- */

static plinth_backend *backend_at(const compiler *c, int32_t b)
{
    return c->model->be[b].backend;
}

/* Fills p->support and the reasons of the backends that cannot run it. */
static void ask(compiler *c, proto *p)
{
    instruction probe; /* views with placeholder offsets: supports() reads
                          dtypes, shapes and strides only */
    emit_proto(c, p, &probe);
    for (uint32_t b = 0; b < c->n_backends; b++) {
        plinth_backend *be = backend_at(c, (int32_t)b);
        if (!slot_kernel(be, p->op))
            p->note.no_kernel |= 1u << b;
        else if (slot_supports(be, p->op, &probe.out, probe.in, probe.n_in, &probe.attrs))
            p->support |= 1u << b;
        else
            p->note.refused |= 1u << b;
    }
}

/* ------------------------------------------------------------------ 2 --- */

static int32_t lowest_bit(uint32_t mask)
{
    return mask ? (int32_t)__builtin_ctz(mask) : NO_BACKEND;
}

/* One kind of op no backend runs: op and dtypes, how many nodes, why. */
typedef struct miss {
    uint32_t op;
    char types[96];
    int32_t first;
    uint32_t n;
    uint32_t no_kernel, refused;
} miss;

typedef struct misses {
    miss *v;
    uint32_t n, cap;
} misses;

static plinth_status note_miss(compiler *c, misses *ms, const proto *p)
{
    instruction probe;
    char types[96];
    emit_proto(c, p, &probe);
    emit_types(&probe, types, sizeof types);
    for (uint32_t i = 0; i < ms->n; i++)
        if (ms->v[i].op == p->op && strcmp(ms->v[i].types, types) == 0) {
            ms->v[i].n++;
            ms->v[i].no_kernel |= p->note.no_kernel;
            ms->v[i].refused |= p->note.refused;
            return PLINTH_OK;
        }
    if (!ctx_grow(c->ctx, (void **)&ms->v, &ms->cap, ms->n + 1, sizeof *ms->v))
        return compile_oom(c, "placement");
    miss *m = &ms->v[ms->n++];
    memset(m, 0, sizeof *m);
    m->op = p->op;
    snprintf(m->types, sizeof m->types, "%s", types);
    m->first = p->node;
    m->n = 1;
    m->no_kernel = p->note.no_kernel;
    m->refused = p->note.refused;
    return PLINTH_OK;
}

/* "'template', 'cpu'" */
static void list_backends(const compiler *c, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t b = 0; b < c->n_backends && len < size; b++)
        len += (size_t)snprintf(buf + len, size - len, "%s'%s'", b ? ", " : "",
                                backend_at(c, (int32_t)b)->name);
}

/* Why backends refused: "'template' has no kernel; 'cpu' refused these
 * dtypes or shapes". */
static size_t why_str(const compiler *c, uint32_t no_kernel, uint32_t refused, char *buf,
                      size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t b = 0; b < c->n_backends && len < size; b++) {
        const char *why = no_kernel >> b & 1 ? "has no kernel"
                          : refused >> b & 1 ? "said no (supports)"
                                             : NULL;
        if (why)
            len += (size_t)snprintf(buf + len, size - len, "%s'%s' %s", len ? "; " : "",
                                    backend_at(c, (int32_t)b)->name, why);
    }
    return len;
}

/* The one message for every op nothing in the list runs, one line each. */
static plinth_status report_misses(compiler *c, const misses *ms)
{
    char msg[3900], names[512];
    size_t len = 0;
    uint32_t total = 0;
    for (uint32_t i = 0; i < ms->n; i++)
        total += ms->v[i].n;
    list_backends(c, names, sizeof names);
    if (c->n_backends == 1)
        len = (size_t)snprintf(msg, sizeof msg,
                               "backend %s does not support %" PRIu32 " op%s of this graph "
                               "(%" PRIu32 " kind%s; a model on several backends runs them on "
                               "a fallback):",
                               names, total, total == 1 ? "" : "s", ms->n,
                               ms->n == 1 ? "" : "s");
    else
        len = (size_t)snprintf(msg, sizeof msg,
                               "no backend of the list (%s) supports %" PRIu32 " op%s of this "
                               "graph (%" PRIu32 " kind%s):",
                               names, total, total == 1 ? "" : "s", ms->n,
                               ms->n == 1 ? "" : "s");
    for (uint32_t i = 0; i < ms->n && len < sizeof msg; i++) {
        const miss *m = &ms->v[i];
        char why[512], more[48] = "";
        why_str(c, m->no_kernel, m->refused, why, sizeof why);
        if (m->n > 1)
            snprintf(more, sizeof more, " and %" PRIu32 " more", m->n - 1);
        len += (size_t)snprintf(msg + len, sizeof msg - len, "\n  %s (%s) at node %d%s: %s",
                                plinth_op_name((plinth_op)m->op), m->types, (int)m->first, more,
                                why);
    }
    return ctx_error(c->ctx, PLINTH_ERR_UNSUPPORTED, "%s", msg);
}

static const char *state_name(const compiler *c, int32_t s)
{
    const char *n = c->g->nodes[s].name;
    return n ? n : "?";
}

static plinth_status pin_range_error(compiler *c, int32_t node, int32_t pin)
{
    return ctx_error(c->ctx, PLINTH_ERR_INVALID,
                     "compile: node %d is pinned to backend %d, but the model has %" PRIu32
                     " backend%s",
                     (int)node, (int)pin, c->n_backends, c->n_backends == 1 ? "" : "s");
}

/* The writers of state s (set_rows protos of the run list) go to one
 * backend: the one the model already holds it on, or their common pin, or
 * the first that runs them all. */
static plinth_status place_writers(compiler *c, int32_t s, bool *done)
{
    uint32_t allowed = (1u << c->n_backends) - 1, n = 0;
    int32_t pin = NO_BACKEND, pinned_at = -1, reg = model_state_backend(c->model,
                                                                        state_name(c, s));
    for (uint32_t i = 0; i < c->n_code; i++) {
        const proto *p = &c->code[i];
        if (p->op != PLINTH_OP_SET_ROWS || p->out_node != s)
            continue;
        n++;
        allowed &= p->support;
        int32_t pi = c->g->nodes[p->node].pin;
        if (pi < 0)
            continue;
        if (pi >= (int32_t)c->n_backends)
            return pin_range_error(c, p->node, pi);
        if (pin >= 0 && pi != pin)
            return ctx_error(c->ctx, PLINTH_ERR_INVALID,
                             "compile: state '%s' is written at node %d pinned to backend %d "
                             "and at node %d pinned to backend %d; a state lives on one "
                             "backend",
                             state_name(c, s), (int)pinned_at, (int)pin, (int)p->node, (int)pi);
        pin = pi;
        pinned_at = p->node;
    }
    if (n == 0)
        return PLINTH_OK;
    int32_t want = reg >= 0 ? reg : pin >= 0 ? pin : lowest_bit(allowed);
    if (reg >= 0 && pin >= 0 && pin != reg)
        return ctx_error(c->ctx, PLINTH_ERR_INVALID,
                         "compile: state '%s' lives on backend %d '%s' (another program of "
                         "the model writes it there), but node %d is pinned to backend %d",
                         state_name(c, s), (int)reg, backend_at(c, reg)->name, (int)pinned_at,
                         (int)pin);
    if (want < 0 || !(allowed >> want & 1)) {
        /* A writer no backend runs at all is reported with the other misses. */
        for (uint32_t i = 0; i < c->n_code; i++)
            if (c->code[i].op == PLINTH_OP_SET_ROWS && c->code[i].out_node == s &&
                !c->code[i].support)
                return PLINTH_OK;
        if (want >= 0)
            return ctx_error(c->ctx, PLINTH_ERR_UNSUPPORTED,
                             "compile: state '%s' lives on backend %d '%s' (%s), which cannot "
                             "run every set_rows writing it",
                             state_name(c, s), (int)want, backend_at(c, want)->name,
                             reg >= 0 ? "another program put it there" : "pinned");
        return ctx_error(c->ctx, PLINTH_ERR_UNSUPPORTED,
                         "compile: the %" PRIu32 " set_rows writing state '%s' run on no one "
                         "backend of the list together (a state lives on one backend)",
                         n, state_name(c, s));
    }
    for (uint32_t i = 0; i < c->n_code; i++) {
        proto *p = &c->code[i];
        if (p->op != PLINTH_OP_SET_ROWS || p->out_node != s)
            continue;
        p->backend = want;
        p->note.pinned = pin >= 0;
        p->note.no_kernel &= (1u << want) - 1;
        p->note.refused &= (1u << want) - 1;
        if (pin >= 0)
            p->note.no_kernel = p->note.refused = 0;
        done[i] = true;
    }
    return PLINTH_OK;
}

/* The pin error: the node, the backend, and why it cannot. */
static plinth_status pin_error(compiler *c, const proto *p, int32_t pin)
{
    instruction probe;
    char types[96];
    emit_proto(c, p, &probe);
    emit_types(&probe, types, sizeof types);
    return ctx_error(c->ctx, PLINTH_ERR_UNSUPPORTED,
                     "compile: node %d (%s %s) is pinned to backend %d '%s', which %s", (int)p->node,
                     plinth_op_name((plinth_op)p->op), types, (int)pin,
                     backend_at(c, pin)->name,
                     p->note.no_kernel >> pin & 1 ? "has no kernel for it"
                                                  : "does not support it (supports said no)");
}

static plinth_status choose(compiler *c, proto *p, bool run, misses *ms, plinth_status *pin_st)
{
    int32_t pin = c->g->nodes[p->node].pin;
    if (pin >= (int32_t)c->n_backends)
        return pin_range_error(c, p->node, pin);
    if (pin >= 0 && (p->support >> pin & 1)) {
        p->backend = pin;
        p->note.pinned = run;
        if (run) { /* the pin is the reason, not an earlier backend's no */
            p->note.no_kernel = p->note.refused = 0;
            return PLINTH_OK;
        }
    } else if (pin >= 0 && run) {
        if (*pin_st == PLINTH_OK)
            *pin_st = pin_error(c, p, pin);
        return PLINTH_OK;
    } else {
        p->backend = lowest_bit(p->support); /* a fold only prefers its pin */
    }
    if (p->backend < 0)
        return note_miss(c, ms, p);
    uint32_t earlier = (1u << p->backend) - 1;
    p->note.no_kernel &= earlier;
    p->note.refused &= earlier;
    return PLINTH_OK;
}

plinth_status place_protos(compiler *c)
{
    for (uint32_t i = 0; i < c->n_code; i++)
        ask(c, &c->code[i]);
    for (uint32_t i = 0; i < c->n_fold; i++)
        ask(c, &c->fold[i]);
    bool *done = ctx_calloc(c->ctx, c->n_code + 1, sizeof *done);
    if (!done)
        return compile_oom(c, "placement");
    /* Errors wait until every proto was tried: the ops nothing runs are
     * reported first, all together, then a state or a pin that cannot be
     * kept. */
    plinth_status st = PLINTH_OK, pin_st = PLINTH_OK, state_st = PLINTH_OK;
    for (uint32_t i = 0; i < c->g->n_nodes && state_st == PLINTH_OK; i++)
        if (c->cn[i].live && c->g->nodes[i].kind == PLINTH_NODE_STATE)
            state_st = place_writers(c, (int32_t)i, done);
    misses ms = {0};
    for (uint32_t i = 0; i < c->n_code && st == PLINTH_OK; i++)
        if (!done[i])
            st = choose(c, &c->code[i], true, &ms, &pin_st);
    for (uint32_t i = 0; i < c->n_fold && st == PLINTH_OK; i++)
        st = choose(c, &c->fold[i], false, &ms, &pin_st);
    if (st == PLINTH_OK && ms.n)
        st = report_misses(c, &ms);
    if (st == PLINTH_OK)
        st = state_st;
    if (st == PLINTH_OK)
        st = pin_st;
    ctx_free(c->ctx, ms.v);
    ctx_free(c->ctx, done);
    return st;
}

/* ------------------------------------------------------------------ 3 --- */

/* The first reader's backend, run list first. */
static int32_t first_reader(const compiler *c, int32_t m)
{
    for (int list = 0; list < 2; list++) {
        const proto *l = list ? c->fold : c->code;
        uint32_t n = list ? c->n_fold : c->n_code;
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t j = 0; j < l[i].n_in; j++)
                if (c->cn[l[i].in_node[j]].mem == m)
                    return l[i].backend;
    }
    return NO_BACKEND;
}

/* The producers' backends: an op's result, a state's writers, an output
 * slot (an op that writes its result straight into its slot makes the slot
 * that node's memory; an output copy reads the node). */
static void set_producers(compiler *c, const proto *l, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        const proto *p = &l[i];
        if (p->out_slot >= 0) {
            c->prog->outputs[p->out_slot].backend = p->backend;
            bool output_copy = p->op == PLINTH_OP_COPY && p->in_node[0] == p->node;
            if (!output_copy)
                c->cn[p->node].backend = p->backend;
        }
        if (p->out_node >= 0)
            c->cn[c->cn[p->out_node].mem].backend = p->backend;
    }
}

static void place_homes(compiler *c)
{
    set_producers(c, c->fold, c->n_fold);
    set_producers(c, c->code, c->n_code);
    for (uint32_t i = 0; i < c->g->n_nodes; i++) {
        cnode *cn = &c->cn[i];
        if (!cn->live || cn->mem != (int32_t)i || cn->backend >= 0)
            continue;
        int32_t b = NO_BACKEND;
        if (c->g->nodes[i].kind == PLINTH_NODE_STATE)
            b = model_state_backend(c->model, state_name(c, (int32_t)i));
        if (b < 0)
            b = first_reader(c, (int32_t)i);
        cn->backend = b >= 0 ? b : 0;
    }
    for (uint32_t i = 0; i < c->g->n_nodes; i++) { /* unused inputs too */
        cnode *cn = &c->cn[i];
        if (c->g->nodes[i].kind != PLINTH_NODE_INPUT)
            continue;
        if (cn->backend < 0)
            cn->backend = 0;
        io_slot *s = &c->prog->inputs[cn->ref];
        s->backend = cn->backend;
        s->at[cn->backend] = 0; /* a real offset comes with the io layout */
    }
}

/* ------------------------------------------------------------------ 4 --- */

typedef struct plist {
    proto *v;
    uint32_t n, cap;
} plist;

static bool push(compiler *c, plist *l, const proto *p)
{
    if (!ctx_grow(c->ctx, (void **)&l->v, &l->cap, l->n + 1, sizeof *l->v))
        return false;
    l->v[l->n++] = *p;
    return true;
}

static proto transfer_proto(int32_t value, int32_t backend, int32_t out_copy)
{
    proto t;
    memset(&t, 0, sizeof t);
    t.op = OP_TRANSFER;
    t.n_in = 1;
    t.node = value;
    t.out_node = -1;
    t.out_slot = -1;
    t.in_node[0] = value;
    t.backend = backend;
    t.out_copy = out_copy;
    for (uint32_t j = 0; j < PLINTH_MAX_INPUTS; j++)
        t.in_copy[j] = -1;
    return t;
}

/* A load-time transfer filling rep[b] of folded value m, once. */
static bool export_value(compiler *c, plist *fold, int32_t m, int32_t b)
{
    cnode *cn = &c->cn[m];
    cn->rep[b] = 0; /* registered with the others (compile.c) */
    if (cn->exported >> b & 1)
        return true;
    cn->exported |= 1u << b;
    proto t = transfer_proto(m, b, -1);
    return push(c, fold, &t);
}

/* Decides how input j of p is read; may push a transfer to `out` first. */
static plinth_status route_read(compiler *c, proto *p, uint32_t j, bool run, plist *out,
                                plist *fold)
{
    const int32_t n = p->in_node[j], m = c->cn[n].mem, B = p->backend;
    const int32_t H = c->cn[m].backend;
    if (H == B)
        return PLINTH_OK;
    if (model_shares(c->model, H, B)) {
        c->n_shared += run;
        return PLINTH_OK;
    }
    const graph_node *gm = &c->g->nodes[m];
    if (c->cn[m].pool == POOL_PERSISTENT) {
        if (gm->kind == PLINTH_NODE_PARAM || gm->kind == PLINTH_NODE_CONSTANT) {
            c->cn[m].rep[B] = 0; /* loaded (or uploaded) there too */
            return PLINTH_OK;
        }
        /* A folded value: copied once at load into a replica. */
        return export_value(c, run ? fold : out, m, B) ? PLINTH_OK
                                                       : compile_oom(c, "transfers");
    }
    if (gm->kind == PLINTH_NODE_INPUT) {
        c->prog->inputs[c->cn[m].ref].at[B] = 0; /* set_input writes a copy there */
        return PLINTH_OK;
    }
    const int32_t v = c->g->nodes[n].root;
    if (c->cn[v].copy[B] < 0) {
        if (!ctx_grow(c->ctx, (void **)&c->copies, &c->cap_copies, c->n_copies + 1,
                      sizeof *c->copies))
            return compile_oom(c, "transfers");
        int32_t k = (int32_t)c->n_copies++;
        c->copies[k] = (xcopy){.value = v, .backend = B,
                               .pool = run ? POOL_ARENA : POOL_SCRATCH, .ref = -1};
        c->cn[v].copy[B] = k;
        proto t = transfer_proto(v, B, k);
        if (!push(c, out, &t))
            return compile_oom(c, "transfers");
    }
    p->in_copy[j] = c->cn[v].copy[B];
    return PLINTH_OK;
}

/* Rebuilds one list with its transfers. Copies do not outlive their list:
 * the load list's live in scratch, the run list's in the arena. */
static plinth_status route_list(compiler *c, proto **list, uint32_t *n, uint32_t *cap, bool run,
                                plist *fold)
{
    plist out = {0};
    plinth_status st = PLINTH_OK;
    for (uint32_t i = 0; i < *n && st == PLINTH_OK; i++) {
        proto p = (*list)[i];
        for (uint32_t j = 0; j < p.n_in && st == PLINTH_OK; j++)
            st = route_read(c, &p, j, run, &out, fold);
        if (st == PLINTH_OK && !push(c, &out, &p))
            st = compile_oom(c, "transfers");
    }
    for (uint32_t i = 0; i < c->g->n_nodes; i++)
        for (uint32_t b = 0; b < PLINTH_MAX_BACKENDS; b++)
            c->cn[i].copy[b] = -1;
    if (st != PLINTH_OK) {
        ctx_free(c->ctx, out.v);
        return st;
    }
    ctx_free(c->ctx, *list);
    *list = out.v;
    *n = out.n;
    *cap = out.cap;
    return PLINTH_OK;
}

plinth_status place_memory(compiler *c)
{
    place_homes(c);
    plist fold = {0};
    /* The load list first; the run list's reads of folded values elsewhere
     * append their load-time transfers to it. */
    plinth_status st = route_list(c, &c->fold, &c->n_fold, &c->cap_fold, false, NULL);
    if (st != PLINTH_OK)
        return st;
    fold = (plist){c->fold, c->n_fold, c->cap_fold};
    st = route_list(c, &c->code, &c->n_code, &c->cap_code, true, &fold);
    c->fold = fold.v;
    c->n_fold = fold.n;
    c->cap_fold = fold.cap;
    return st;
}
