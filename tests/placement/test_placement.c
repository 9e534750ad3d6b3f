/*
 * test_placement.c — programs compiled for a list of backends.
 *
 * The backends are plinth-mask.so devices (mask_plugin.c: ref's kernels
 * behind a support mask read from the device config, with host memory or
 * "device" memory), so every result must equal ref's bit for bit.
 *
 * Sections:
 *   1. fixture and helpers
 *   2. random graphs on random support sets: every op on the backend the
 *      rules give it, every crossing exactly one transfer (none where memory
 *      is shared), every read local or shared, results equal ref alone
 *   3. sharing and transfers, one by one
 *   4. folds, states shared by programs, pins, the segment path
 *   5. errors: every missing op in one message, pins that cannot hold
 */
#include "compile.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif

/* ------------------------------------------------------------------ 1 --- */

static plinth_context *ctx;

static void setup(void)
{
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
}

static void teardown(void)
{
    plinth_context_destroy(ctx);
    ctx = NULL;
#ifdef HAVE_LSAN
    cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "leaks (see the sanitizer report)");
#endif
}

TestSuite(placement, .init = setup, .fini = teardown);

#define OKC(call) cr_assert_eq((call), PLINTH_OK, "%s: %s", #call, plinth_context_error(ctx))

static plinth_backend *open_ref(void)
{
    plinth_backend *b = NULL;
    OKC(plinth_backend_open(ctx, getenv("PLINTH_TEST_REF"), 0, NULL, &b));
    return b;
}

/* A mask device: ops and dtypes masks, host memory or not. */
static plinth_backend *open_mask(uint64_t ops, uint64_t dtypes, bool host)
{
    char config[96];
    snprintf(config, sizeof config, "ops=%llx,dtypes=%llx,host=%d", (unsigned long long)ops,
             (unsigned long long)dtypes, host ? 1 : 0);
    plinth_device_options o = {.struct_size = sizeof o, .config = config};
    plinth_backend *b = NULL;
    OKC(plinth_backend_open(ctx, getenv("PLINTH_TEST_MASK"), 0, &o, &b));
    return b;
}

static uint64_t bit(plinth_op op)
{
    return (uint64_t)1 << op;
}

#define ALL_DTYPES 0xfull
#define F32_ONLY (1ull << PLINTH_F32)

static plinth_model *model_on(plinth_backend **list, uint32_t n)
{
    plinth_model *m = NULL;
    OKC(plinth_model_create_multi(list, n, &m));
    return m;
}

static plinth_program *compile_on(plinth_model *m, const plinth_graph *g, bool no_fold)
{
    plinth_compile_options o = {.struct_size = sizeof o, .no_fold = no_fold};
    plinth_program *p = NULL;
    OKC(plinth_program_compile(m, g, &o, &p));
    return p;
}

static plinth_instruction_info info_at(const plinth_program *p, uint32_t i)
{
    plinth_instruction_info info = {.struct_size = sizeof info};
    OKC(plinth_program_instruction_info(p, i, &info));
    return info;
}

static plinth_plan_stats stats_of(const plinth_program *p)
{
    plinth_plan_stats s = {.struct_size = sizeof s};
    OKC(plinth_program_plan_stats(p, &s));
    return s;
}

/* The kernel instruction computing node n in the run list, or -1. */
static int32_t backend_of(const plinth_program *p, int32_t node)
{
    plinth_plan_stats s = stats_of(p);
    for (uint32_t i = 0; i < s.n_instructions; i++) {
        plinth_instruction_info in = info_at(p, i);
        if (in.op >= 0 && in.node == node)
            return in.backend;
    }
    return -1;
}

/* Transfers in the run list of node `node` into backend `to`. */
static uint32_t transfers_of(const plinth_program *p, int32_t node, int32_t to)
{
    plinth_plan_stats s = stats_of(p);
    uint32_t n = 0;
    for (uint32_t i = 0; i < s.n_instructions; i++) {
        plinth_instruction_info in = info_at(p, i);
        n += in.op < 0 && in.node == node && in.backend == to;
    }
    return n;
}

/* Every input of every kernel is read where it runs, or from a backend
 * it shares memory with: transfers, replicas and input copies leave
 * nothing else. */
static void expect_reads_local(const plinth_program *p)
{
    const plinth_model *m = p->model;
    for (int list = 0; list < 2; list++) {
        const instruction *l = list ? p->fold : p->code;
        uint32_t n = list ? p->n_fold : p->n_code;
        for (uint32_t i = 0; i < n; i++) {
            if (l[i].op == OP_TRANSFER)
                continue;
            for (uint32_t j = 0; j < l[i].n_in; j++)
                cr_expect(model_shares(m, l[i].in_backend[j], l[i].backend),
                          "%s %u (%s, node %d) reads in[%u] from backend %d, runs on %d",
                          list ? "fold" : "instruction", i, plinth_op_name(l[i].op),
                          (int)l[i].node, j, (int)l[i].in_backend[j], (int)l[i].backend);
        }
    }
}

typedef struct rng {
    uint64_t s;
} rng;

static uint32_t next(rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (uint32_t)(r->s >> 11);
}

static uint32_t below(rng *r, uint32_t n)
{
    return next(r) % n;
}

static void fill_floats(float *v, size_t n, rng *r)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)((int32_t)below(r, 2001) - 1000) / 500.0f + 0.001f;
}

/* Sets every param of the model to deterministic values (same for both
 * models compared) and loads it. */
static void load_params(plinth_model *m, const char *const *names, const size_t *floats,
                        uint32_t n, uint64_t seed)
{
    OKC(plinth_model_load_empty(m));
    for (uint32_t i = 0; i < n; i++) {
        rng r = {seed + i * 7919u + 1};
        float *v = malloc(floats[i] * sizeof *v);
        cr_assert_not_null(v);
        fill_floats(v, floats[i], &r);
        plinth_status st = plinth_model_set_param(m, names[i], v, floats[i] * sizeof *v);
        free(v);
        if (st != PLINTH_OK && strstr(plinth_context_error(ctx), "no param named"))
            continue; /* the graph happens not to use it */
        cr_assert_eq(st, PLINTH_OK, "set_param %s: %s", names[i], plinth_context_error(ctx));
    }
}

/* Input 0 set to `in` on p and on pr (ref), both run: output 0 (floats
 * floats) must be the same bits. */
static void expect_same_as_ref(plinth_program *p, plinth_program *pr, const void *in,
                               size_t in_bytes, size_t floats, const char *what)
{
    float *got = calloc(floats, sizeof *got), *want = calloc(floats, sizeof *want);
    cr_assert(got && want);
    OKC(plinth_program_set_input(p, 0, in, in_bytes));
    OKC(plinth_program_set_input(pr, 0, in, in_bytes));
    OKC(plinth_program_run(p));
    OKC(plinth_program_run(pr));
    OKC(plinth_program_get_output(p, 0, got, floats * sizeof *got));
    OKC(plinth_program_get_output(pr, 0, want, floats * sizeof *want));
    cr_expect_eq(memcmp(want, got, floats * sizeof *got), 0, "%s: differs from ref", what);
    free(got);
    free(want);
}

/* ------------------------------------------------------------------ 2 --- */

enum { MAX_NODES = 256, MAX_OUT = 4 };

/* What the test knows of each graph node: the values its kernel reads
 * (view roots; set_rows: src and idx, not the state) and its op. */
typedef struct gen_node {
    int32_t kind;     /* plinth_node_kind */
    int32_t op;
    int32_t root;     /* the value node (a view's root; a state version) */
    int32_t n_read;
    int32_t read[PLINTH_MAX_INPUTS];
    int32_t pin;
} gen_node;

typedef struct gen {
    plinth_graph *g;
    rng r;
    gen_node nodes[MAX_NODES];
    int32_t pool[MAX_NODES]; /* f32 [T, C] values to build on */
    uint32_t n_pool;
    int32_t outputs[MAX_OUT];
    uint32_t n_outputs;
    int64_t T, C;
    int32_t x, idx, state;
    uint32_t n_backends;
    uint32_t pin_allowed; /* nodes may be pinned (the test knows who runs what) */
} gen;

/* Records node id (made by the caller) with the values its kernel reads. */
static int32_t rec(gen *gn, plinth_node id, int32_t n_read, const int32_t *read)
{
    cr_assert_neq(id, PLINTH_NODE_INVALID, "%s", plinth_context_error(ctx));
    cr_assert_lt(id, MAX_NODES);
    plinth_node_info info = {.struct_size = sizeof info};
    OKC(plinth_graph_node_info(gn->g, id, &info));
    gen_node *n = &gn->nodes[id];
    n->kind = info.kind;
    n->op = info.op;
    n->root = id;
    n->pin = -1;
    n->n_read = n_read;
    for (int32_t j = 0; j < n_read; j++)
        n->read[j] = gn->nodes[read[j]].root;
    return id;
}

static int32_t view_of(gen *gn, plinth_node id, int32_t of)
{
    rec(gn, id, 0, NULL);
    gn->nodes[id].root = gn->nodes[of].root;
    return id;
}

static int32_t pick(gen *gn)
{
    return gn->pool[below(&gn->r, gn->n_pool)];
}

static void add_pool(gen *gn, int32_t id)
{
    gn->pool[gn->n_pool++] = id;
}

/* One random step on values of the pool. */
static void step(gen *gn, const int32_t *params)
{
    plinth_graph *g = gn->g;
    int32_t a = pick(gn), b = pick(gn), id = -1;
    const int64_t T = gn->T, C = gn->C;
    switch (below(&gn->r, 13)) {
    case 0: id = rec(gn, plinth_add(g, a, b), 2, (int32_t[]){a, b}); break;
    case 1: id = rec(gn, plinth_sub(g, a, b), 2, (int32_t[]){a, b}); break;
    case 2: id = rec(gn, plinth_mul(g, a, b), 2, (int32_t[]){a, b}); break;
    case 3: id = rec(gn, plinth_scale(g, a, 0.5f), 1, &a); break;
    case 4: id = rec(gn, plinth_gelu_tanh(g, a), 1, &a); break;
    case 5: id = rec(gn, plinth_silu(g, a), 1, &a); break;
    case 6:
        id = rec(gn, plinth_rms_norm(g, a, params[1], 1e-5f), 2, (int32_t[]){a, params[1]});
        break;
    case 7: id = rec(gn, plinth_softmax(g, a, PLINTH_NODE_INVALID, 1.0f), 1, &a); break;
    case 8: {
        bool t = below(&gn->r, 2);
        id = rec(gn, plinth_matmul(g, a, params[0], t), 2, (int32_t[]){a, params[0]});
        break;
    }
    case 9: { /* through f16 and back */
        int32_t h = rec(gn, plinth_cast(g, a, PLINTH_F16), 1, &a);
        id = rec(gn, plinth_cast(g, h, PLINTH_F32), 1, &h);
        break;
    }
    case 10: { /* two halves of a slice, joined */
        int32_t l = view_of(gn, plinth_slice(g, a, 1, 0, C / 2), a);
        int32_t r = view_of(gn, plinth_slice(g, b, 1, C / 2, C / 2), b);
        id = rec(gn, plinth_concat(g, l, r, 1), 2, (int32_t[]){l, r});
        break;
    }
    case 11: { /* rows into the state, then the first T rows of it back */
        int32_t w = rec(gn, plinth_set_rows(g, gn->state, a, gn->idx), 2,
                        (int32_t[]){a, gn->idx});
        gn->state = w;
        /* Views of the older version leave the pool: read after this write
         * by something that depends on it, they could not be ordered. */
        uint32_t keep = 0;
        for (uint32_t i = 0; i < gn->n_pool; i++) {
            const gen_node *v = &gn->nodes[gn->pool[i]];
            if (!(v->kind == PLINTH_NODE_VIEW && gn->nodes[v->root].op == PLINTH_OP_SET_ROWS))
                gn->pool[keep++] = gn->pool[i];
        }
        gn->n_pool = keep;
        if (gn->n_pool == 0)
            add_pool(gn, gn->x);
        id = view_of(gn, plinth_slice(g, w, 0, 0, T), w);
        break;
    }
    default: { /* a transposed view made contiguous */
        int32_t t = view_of(gn, plinth_transpose(g, a), a);
        int32_t cpy = rec(gn, plinth_copy(g, t), 1, &t);
        int64_t shape[2] = {T, C};
        id = view_of(gn, plinth_reshape(g, cpy, 2, shape), cpy);
        break;
    }
    }
    add_pool(gn, id);
    if (gn->pin_allowed && below(&gn->r, 6) == 0 && gn->nodes[id].kind == PLINTH_NODE_OP)
        gn->nodes[id].pin = (int32_t)below(&gn->r, gn->n_backends); /* applied later */
}

/* A random graph: x [T, C], idx [T], W [C, C] (square: matmul with or
 * without transpose keeps the shape), a norm weight, a state [8, C]. */
static void build_random(gen *gn, uint64_t seed, uint32_t n_backends, bool pins)
{
    memset(gn, 0, sizeof *gn);
    gn->r.s = seed * 0x9E3779B97F4A7C15ull + 1;
    gn->n_backends = n_backends;
    gn->pin_allowed = pins;
    gn->T = 1 + below(&gn->r, 5);
    gn->C = 4 * (1 + (int64_t)below(&gn->r, 3));
    OKC(plinth_graph_create(ctx, &gn->g));
    plinth_graph *g = gn->g;
    int64_t tc[2] = {gn->T, gn->C}, t1[1] = {gn->T}, cc[2] = {gn->C, gn->C}, c1[1] = {gn->C},
            sc[2] = {8, gn->C};
    gn->x = rec(gn, plinth_input(g, "x", PLINTH_F32, 2, tc), 0, NULL);
    gn->idx = rec(gn, plinth_input(g, "idx", PLINTH_I32, 1, t1), 0, NULL);
    int32_t params[2] = {rec(gn, plinth_param(g, "W", PLINTH_F32, 2, cc), 0, NULL),
                         rec(gn, plinth_param(g, "w", PLINTH_F32, 1, c1), 0, NULL)};
    gn->state = rec(gn, plinth_state(g, "S", PLINTH_F32, 2, sc), 0, NULL);
    add_pool(gn, gn->x);
    uint32_t steps = 4 + below(&gn->r, 14);
    for (uint32_t i = 0; i < steps; i++)
        step(gn, params);
    /* Outputs: the last value and up to two more, all ops (computed at run
     * time, written straight into their io slots), and an argmax. */
    for (uint32_t k = 0; k < 3 && gn->n_outputs < 3; k++) {
        int32_t v = k == 0 ? gn->pool[gn->n_pool - 1] : pick(gn);
        if (gn->nodes[v].kind != PLINTH_NODE_OP || gn->nodes[v].op == PLINTH_OP_SET_ROWS)
            continue;
        bool dup = false;
        for (uint32_t o = 0; o < gn->n_outputs; o++)
            dup |= gn->outputs[o] == v;
        if (dup)
            continue;
        char name[16];
        snprintf(name, sizeof name, "y%u", gn->n_outputs);
        OKC(plinth_output(g, v, name));
        gn->outputs[gn->n_outputs++] = v;
    }
    int32_t a = pick(gn);
    int32_t am = rec(gn, plinth_argmax(g, a), 1, &a);
    OKC(plinth_output(g, am, "argmax"));
    gn->outputs[gn->n_outputs++] = am;
    OKC(plinth_graph_status(g));
}

/* A backend's support as the test models it: its masks (ref: all). */
typedef struct bdesc {
    uint64_t ops, dtypes;
    bool host, is_ref;
} bdesc;

/* Whether the ref program computes node (dead nodes are dropped). */
static bool live(const plinth_program *ref_prog, int32_t node)
{
    for (uint32_t i = 0; i < ref_prog->n_code; i++)
        if (ref_prog->code[i].node == node)
            return true;
    return false;
}

static bool can_run(const bdesc *d, const plinth_program *ref_prog, int32_t node)
{
    if (d->is_ref)
        return true;
    /* The node's views as ref compiled them: op and every dtype. */
    for (uint32_t i = 0; i < ref_prog->n_code; i++) {
        const instruction *ins = &ref_prog->code[i];
        if (ins->node != node || ins->op == OP_TRANSFER)
            continue;
        if (!(d->ops >> ins->op & 1) || !(d->dtypes >> ins->out.dtype & 1))
            return false;
        for (uint32_t j = 0; j < ins->n_in; j++)
            if (!(d->dtypes >> ins->in[j].dtype & 1))
                return false;
        return true;
    }
    cr_assert_fail("node %d has no instruction in the ref program", (int)node);
    return false;
}

static int32_t expected_backend(const gen *gn, const bdesc *d, uint32_t n, const plinth_program *rp,
                                int32_t node)
{
    if (!live(rp, node))
        return 0; /* dead: placed nowhere, asks nothing */
    if (gn->nodes[node].pin >= 0)
        return gn->nodes[node].pin;
    for (uint32_t b = 0; b < n; b++)
        if (can_run(&d[b], rp, node))
            return (int32_t)b;
    return -1;
}

static void run_and_get(plinth_program *p, const gen *gn, const float *x, const int32_t *idx,
                        uint8_t out[MAX_OUT][1024])
{
    OKC(plinth_program_set_input(p, 0, x, (size_t)(gn->T * gn->C) * sizeof *x));
    OKC(plinth_program_set_input(p, 1, idx, (size_t)gn->T * sizeof *idx));
    OKC(plinth_program_run(p));
    for (uint32_t o = 0; o < gn->n_outputs; o++) {
        plinth_node_info info = {.struct_size = sizeof info};
        OKC(plinth_program_output_info(p, o, &info));
        size_t bytes = plinth_dtype_size((plinth_dtype)info.dtype);
        for (int d = 0; d < info.ndim; d++)
            bytes *= (size_t)info.shape[d];
        cr_assert_leq(bytes, 1024);
        OKC(plinth_program_get_output(p, o, out[o], bytes));
    }
}

/* What the random cases exercised, summed (each test checks it covered
 * transfers, sharing, fallbacks and pins, not only easy cases). */
static struct {
    uint32_t cases, transfers, shared, fallback, segments, pinned, prepared;
} seen;

/* One random case: `n_mask` mask devices with random masks (ref after them
 * unless `no_ref`). Returns whether it compiled. */
static bool random_case(uint64_t seed, uint32_t n_mask, bool with_ref, bool pins)
{
    rng r = {seed * 31 + 7};
    static const plinth_op used[] = {
        PLINTH_OP_ADD, PLINTH_OP_SUB, PLINTH_OP_MUL, PLINTH_OP_SCALE, PLINTH_OP_GELU_TANH,
        PLINTH_OP_SILU, PLINTH_OP_RMS_NORM, PLINTH_OP_SOFTMAX, PLINTH_OP_MATMUL, PLINTH_OP_CAST,
        PLINTH_OP_CONCAT, PLINTH_OP_SET_ROWS, PLINTH_OP_COPY, PLINTH_OP_ARGMAX};
    plinth_backend *list[PLINTH_MAX_BACKENDS];
    bdesc d[PLINTH_MAX_BACKENDS];
    uint32_t n = 0;
    for (uint32_t k = 0; k < n_mask; k++) {
        uint64_t ops = 0;
        for (size_t i = 0; i < sizeof used / sizeof used[0]; i++)
            if (below(&r, 100) < 55)
                ops |= bit(used[i]);
        uint64_t dtypes = below(&r, 5) ? ALL_DTYPES : F32_ONLY | (1ull << PLINTH_I32);
        bool host = below(&r, 2);
        d[n] = (bdesc){ops, dtypes, host, false};
        list[n++] = open_mask(ops, dtypes, host);
    }
    if (with_ref) {
        d[n] = (bdesc){~0ull, ~0ull, true, true};
        list[n++] = open_ref();
    }
    plinth_backend *ref = with_ref ? list[n - 1] : open_ref();

    gen gn;
    build_random(&gn, seed, n, pins);
    plinth_model *mref = model_on(&ref, 1);
    plinth_program *pref = compile_on(mref, gn.g, true);

    /* Pins only where the backend can run the node (the error case has its
     * own tests). */
    for (uint32_t i = 0; i < plinth_graph_node_count(gn.g); i++) {
        if (gn.nodes[i].pin >= 0 && (!live(pref, (int32_t)i) ||
                                     !can_run(&d[gn.nodes[i].pin], pref, (int32_t)i)))
            gn.nodes[i].pin = -1;
        if (gn.nodes[i].pin >= 0 && gn.nodes[i].op != PLINTH_OP_SET_ROWS)
            OKC(plinth_graph_pin_node(gn.g, (plinth_node)i, gn.nodes[i].pin));
        else
            gn.nodes[i].pin = -1; /* no pinned writers: the state rule decides them */
    }
    /* The state's writers go together (one writer per version here, but
     * they share a state): the first backend that runs them all. */
    uint32_t writers_ok = (1u << n) - 1;
    for (uint32_t i = 0; i < plinth_graph_node_count(gn.g); i++)
        if (gn.nodes[i].kind == PLINTH_NODE_OP && gn.nodes[i].op == PLINTH_OP_SET_ROWS)
            /* set_rows is always live: a state write is a side effect */
            for (uint32_t b = 0; b < n; b++)
                if (!can_run(&d[b], pref, (int32_t)i))
                    writers_ok &= ~(1u << b);
    int32_t writers_at = writers_ok ? (int32_t)__builtin_ctz(writers_ok) : -1;

    bool feasible = true;
    for (uint32_t i = 0; i < plinth_graph_node_count(gn.g); i++)
        if (gn.nodes[i].kind == PLINTH_NODE_OP && expected_backend(&gn, d, n, pref, (int32_t)i) < 0)
            feasible = false;
    bool has_writer = false;
    for (uint32_t i = 0; i < plinth_graph_node_count(gn.g); i++)
        has_writer |= gn.nodes[i].kind == PLINTH_NODE_OP && gn.nodes[i].op == PLINTH_OP_SET_ROWS;
    if (has_writer && writers_at < 0)
        feasible = false;

    plinth_model *m = model_on(list, n);
    plinth_compile_options o = {.struct_size = sizeof o, .no_fold = true};
    plinth_program *p = NULL;
    plinth_status st = plinth_program_compile(m, gn.g, &o, &p);
    cr_assert_eq(st == PLINTH_OK, feasible, "seed %llu: compile %s, expected %s: %s",
                 (unsigned long long)seed, plinth_status_name(st),
                 feasible ? "success" : "failure", plinth_context_error(ctx));
    if (!feasible) {
        /* Every op nothing runs is named in the one message. */
        for (uint32_t i = 0; i < plinth_graph_node_count(gn.g); i++) {
            if (gn.nodes[i].kind != PLINTH_NODE_OP ||
                expected_backend(&gn, d, n, pref, (int32_t)i) >= 0)
                continue;
            char want[64];
            snprintf(want, sizeof want, "%s (", plinth_op_name((plinth_op)gn.nodes[i].op));
            cr_expect_not_null(strstr(plinth_context_error(ctx), want), "seed %llu: %s missing in: %s",
                               (unsigned long long)seed, want, plinth_context_error(ctx));
        }
    } else {
        /* Placement: the pin, the state's writers together, else the first
         * backend whose supports() says yes. */
        int32_t home[MAX_NODES];
        for (uint32_t i = 0; i < MAX_NODES; i++)
            home[i] = -1;
        for (uint32_t i = 0; i < plinth_graph_node_count(gn.g); i++) {
            const gen_node *nd = &gn.nodes[i];
            if (nd->kind != PLINTH_NODE_OP || !live(pref, (int32_t)i))
                continue;
            int32_t want = nd->op == PLINTH_OP_SET_ROWS ? writers_at
                                                        : expected_backend(&gn, d, n, pref, (int32_t)i);
            home[i] = backend_of(p, (int32_t)i);
            cr_expect_eq(home[i], want, "seed %llu: node %u (%s) on backend %d, want %d",
                         (unsigned long long)seed, i, plinth_op_name((plinth_op)nd->op),
                         (int)home[i], (int)want);
        }
        if (has_writer) /* the state's own home: its writers' */
            for (uint32_t i = 0; i < plinth_graph_node_count(gn.g); i++)
                if (gn.nodes[i].kind == PLINTH_NODE_STATE)
                    home[i] = writers_at;
        /* Transfers: exactly one per (value, reading backend) that cannot
         * share the value's memory; none otherwise. */
        uint32_t want_total = 0;
        bool counted[MAX_NODES][PLINTH_MAX_BACKENDS];
        memset(counted, 0, sizeof counted);
        for (uint32_t i = 0; i < plinth_graph_node_count(gn.g); i++) {
            const gen_node *nd = &gn.nodes[i];
            if (nd->kind != PLINTH_NODE_OP || !live(pref, (int32_t)i))
                continue;
            int32_t B = home[i];
            for (int32_t j = 0; j < nd->n_read; j++) {
                int32_t v = nd->read[j], A = home[v];
                if (A < 0 || A == B || (d[A].host && d[B].host))
                    continue; /* a leaf (replicated), local, or shared in place */
                if (!counted[v][B]) {
                    counted[v][B] = true;
                    want_total++;
                    cr_expect_eq(transfers_of(p, v, B), 1,
                                 "seed %llu: value %d (backend %d) read on %d: %u transfers",
                                 (unsigned long long)seed, (int)v, (int)A, (int)B,
                                 transfers_of(p, v, B));
                }
            }
        }
        plinth_plan_stats s = stats_of(p);
        seen.cases++;
        seen.transfers += s.n_transfers;
        seen.shared += s.n_shared;
        seen.fallback += s.n_fallback;
        seen.segments += s.n_segments > 1;
        for (uint32_t i = 0; i < s.n_instructions; i++)
            seen.pinned += info_at(p, i).pinned;
        cr_expect_eq(s.n_transfers, want_total, "seed %llu: %u transfers, want %u",
                     (unsigned long long)seed, s.n_transfers, want_total);
        expect_reads_local(p);

        /* Results: equal to ref alone, bit for bit, over two runs (the
         * state carries over). */
        const char *pnames[2] = {"W", "w"};
        size_t pfloats[2] = {(size_t)(gn.C * gn.C), (size_t)gn.C};
        load_params(mref, pnames, pfloats, 2, seed);
        load_params(m, pnames, pfloats, 2, seed);
        float x[64];
        int32_t idx[8];
        rng xr = {seed + 99};
        for (int run = 0; run < 2; run++) {
            fill_floats(x, (size_t)(gn.T * gn.C), &xr);
            for (int64_t t = 0; t < gn.T; t++)
                idx[t] = (int32_t)((t * 3 + run) % 8);
            static uint8_t want[MAX_OUT][1024], got[MAX_OUT][1024];
            run_and_get(pref, &gn, x, idx, want);
            run_and_get(p, &gn, x, idx, got);
            for (uint32_t k = 0; k < gn.n_outputs; k++)
                cr_expect_eq(memcmp(want[k], got[k], sizeof want[k]), 0,
                             "seed %llu, run %d: output %u differs from ref's",
                             (unsigned long long)seed, run, k);
        }
        for (uint32_t k = 0; k < p->n_seg; k++)
            seen.prepared += p->seg[k].prepared != NULL;
    }
    plinth_program_destroy(p);
    plinth_program_destroy(pref);
    plinth_model_destroy(m);
    plinth_model_destroy(mref);
    plinth_graph_destroy(gn.g);
    for (uint32_t k = 0; k < n; k++)
        plinth_backend_close(list[k]);
    if (!with_ref)
        plinth_backend_close(ref);
    return feasible;
}

Test(placement, random_graphs_with_a_full_fallback)
{
    memset(&seen, 0, sizeof seen);
    for (uint64_t seed = 1; seed <= 80; seed++)
        random_case(seed, 1 + (uint32_t)(seed % 3), true, false);
    cr_expect_eq(seen.cases, 80);
    cr_expect_gt(seen.transfers, 20, "transfers %u", seen.transfers);
    cr_expect_gt(seen.shared, 20, "shared reads %u", seen.shared);
    cr_expect_gt(seen.fallback, 20, "fallbacks %u", seen.fallback);
    cr_expect_gt(seen.segments, 20, "programs of several segments %u", seen.segments);
    cr_expect_gt(seen.prepared, 20, "prepared segments %u", seen.prepared);
}

Test(placement, random_graphs_with_pins)
{
    memset(&seen, 0, sizeof seen);
    for (uint64_t seed = 100; seed <= 140; seed++)
        random_case(seed, 2, true, true);
    cr_expect_gt(seen.pinned, 10, "pinned instructions %u", seen.pinned);
}

Test(placement, random_graphs_without_a_fallback_fail_listing_every_miss)
{
    uint32_t failed = 0;
    for (uint64_t seed = 200; seed <= 240; seed++)
        failed += !random_case(seed, 2, false, false);
    cr_expect_gt(failed, 5, "the support sets should leave some graphs without a backend");
}

/* ------------------------------------------------------------------ 3 --- */

/* y = matmul(rms_norm(x, w) + x, W)^T ... : rms_norm and matmul on the
 * second backend, the add and the scale on the first. */
typedef struct small {
    plinth_graph *g;
    plinth_node x, norm, add, mm, y;
} small;

enum { ST = 3, SC = 8 };

static small build_small(void)
{
    small s;
    OKC(plinth_graph_create(ctx, &s.g));
    int64_t xs[2] = {ST, SC}, ws[2] = {SC, SC}, nw[1] = {SC};
    s.x = plinth_input(s.g, "x", PLINTH_F32, 2, xs);
    s.norm = plinth_rms_norm(s.g, s.x, plinth_param(s.g, "w", PLINTH_F32, 1, nw), 1e-6f);
    s.add = plinth_add(s.g, s.norm, s.x);
    s.mm = plinth_matmul(s.g, s.add, plinth_param(s.g, "W", PLINTH_F32, 2, ws), true);
    s.y = plinth_scale(s.g, s.mm, 0.5f);
    OKC(plinth_output(s.g, s.y, "y"));
    return s;
}

/* Runs the small graph on `list` and on ref alone with the same values;
 * the outputs must be equal. Returns the program (for more checks). */
static void small_equals_ref(plinth_program *p, plinth_model *m, plinth_backend *ref,
                             const plinth_graph *g)
{
    plinth_model *mr = model_on(&ref, 1);
    plinth_program *pr = compile_on(mr, g, false);
    const char *names[2] = {"w", "W"};
    size_t floats[2] = {SC, SC * SC};
    load_params(mr, names, floats, 2, 5);
    load_params(m, names, floats, 2, 5);
    float x[ST * SC];
    rng r = {11};
    for (int run = 0; run < 2; run++) {
        fill_floats(x, ST * SC, &r);
        char what[32];
        snprintf(what, sizeof what, "run %d", run);
        expect_same_as_ref(p, pr, x, sizeof x, ST * SC, what);
    }
    plinth_program_destroy(pr);
    plinth_model_destroy(mr);
}

/* The instruction of p computing node (bound), for buffer checks. */
static const instruction *kernel_of(const plinth_program *p, int32_t node)
{
    for (uint32_t i = 0; i < p->n_code; i++)
        if (p->code[i].node == node && p->code[i].op != OP_TRANSFER)
            return &p->code[i];
    cr_assert_fail("no instruction for node %d", (int)node);
    return NULL;
}

Test(placement, host_memory_backends_share_tensors_without_copies)
{
    plinth_backend *list[2] = {
        open_mask(bit(PLINTH_OP_ADD) | bit(PLINTH_OP_SCALE), ALL_DTYPES, true), open_ref()};
    small s = build_small();
    plinth_model *m = model_on(list, 2);
    plinth_program *p = compile_on(m, s.g, false);
    cr_expect_eq(backend_of(p, s.norm), 1);
    cr_expect_eq(backend_of(p, s.add), 0);
    cr_expect_eq(backend_of(p, s.mm), 1);
    cr_expect_eq(backend_of(p, s.y), 0);
    plinth_plan_stats st = stats_of(p);
    cr_expect_eq(st.n_transfers, 0, "both declare host memory: no copy");
    cr_expect_eq(st.n_shared, 4, "add reads norm and x, matmul add, scale matmul (%u)",
                 st.n_shared);
    cr_expect_eq(st.n_segments, 4);
    expect_reads_local(p);
    small_equals_ref(p, m, list[1], s.g);
    /* The reader's view is the writer's very memory. */
    const instruction *norm = kernel_of(p, s.norm), *add = kernel_of(p, s.add);
    cr_expect_eq(add->in[0].buffer, norm->out.buffer);
    cr_expect_eq(add->in[0].data, norm->out.data);
    cr_expect_eq(add->in_backend[0], 1);
    plinth_backend_plan bp = {.struct_size = sizeof bp};
    OKC(plinth_program_backend_plan(p, 0, &bp));
    cr_expect_eq(bp.n_replicas, 0, "a shared param is loaded once");
    plinth_program_destroy(p);
    plinth_model_destroy(m);
    plinth_graph_destroy(s.g);
    plinth_backend_close(list[0]);
    plinth_backend_close(list[1]);
}

Test(placement, device_memory_crossings_are_planned_transfers)
{
    /* The first backend's memory is not the host's: each value that
     * crosses is copied once per run, into a planned place of the
     * reader's arena; the input goes to both io pools at set_input. */
    plinth_backend *list[2] = {
        open_mask(bit(PLINTH_OP_ADD) | bit(PLINTH_OP_SCALE), ALL_DTYPES, false), open_ref()};
    small s = build_small();
    plinth_model *m = model_on(list, 2);
    plinth_program *p = compile_on(m, s.g, false);
    plinth_plan_stats st = stats_of(p);
    cr_expect_eq(st.n_shared, 0);
    cr_expect_eq(transfers_of(p, s.norm, 0), 1, "norm: ref -> mask");
    cr_expect_eq(transfers_of(p, s.add, 1), 1, "add: mask -> ref");
    cr_expect_eq(transfers_of(p, s.mm, 0), 1, "matmul: ref -> mask");
    cr_expect_eq(st.n_transfers, 3);
    cr_expect_eq(st.transfer_bytes, 3 * ST * SC * 4);
    cr_expect_neq(p->inputs[0].at[0], IO_NONE, "x is read on both");
    cr_expect_neq(p->inputs[0].at[1], IO_NONE);
    cr_expect_eq(p->outputs[0].backend, 0, "y is computed on the mask backend");
    plinth_backend_plan b0 = {.struct_size = sizeof b0}, b1 = {.struct_size = sizeof b1};
    OKC(plinth_program_backend_plan(p, 0, &b0));
    OKC(plinth_program_backend_plan(p, 1, &b1));
    cr_expect_eq(b0.n_transfers_in, 2);
    cr_expect_eq(b1.n_transfers_in, 1);
    cr_expect_eq(b0.n_instructions + b1.n_instructions + st.n_transfers, st.n_instructions);
    cr_expect_geq(b0.arena_bytes, b0.lower_bound);
    cr_expect_gt(b0.arena_bytes, 0, "the copies live in the reader's arena");
    expect_reads_local(p);
    small_equals_ref(p, m, list[1], s.g);
    /* A transfer's destination is the reader's arena on the reader. */
    for (uint32_t i = 0; i < p->n_code; i++) {
        const instruction *t = &p->code[i];
        if (t->op != OP_TRANSFER)
            continue;
        cr_expect_eq(t->out_pool, POOL_ARENA);
        cr_expect_eq(t->out.buffer, &p->be[t->backend].arena);
        cr_expect_neq(t->in_backend[0], t->backend);
    }
    plinth_program_destroy(p);
    plinth_model_destroy(m);
    plinth_graph_destroy(s.g);
    plinth_backend_close(list[0]);
    plinth_backend_close(list[1]);
}

Test(placement, two_device_memory_backends_transfer_through_staging)
{
    plinth_backend *list[2] = {
        open_mask(bit(PLINTH_OP_ADD) | bit(PLINTH_OP_SCALE), ALL_DTYPES, false),
        open_mask(~0ull, ALL_DTYPES, false)};
    plinth_backend *ref = open_ref();
    small s = build_small();
    plinth_model *m = model_on(list, 2);
    plinth_program *p = compile_on(m, s.g, false);
    cr_expect_eq(stats_of(p).n_transfers, 3);
    small_equals_ref(p, m, ref, s.g);
    cr_expect_geq(p->staging_bytes, ST * SC * 4, "neither side is host memory");
    plinth_program_destroy(p);
    plinth_model_destroy(m);
    plinth_graph_destroy(s.g);
    plinth_backend_close(list[0]);
    plinth_backend_close(list[1]);
    plinth_backend_close(ref);
}

/* ------------------------------------------------------------------ 4 --- */

Test(placement, a_folded_value_crosses_once_at_load)
{
    /* w + 1 is folded at load on the first backend (the only one with
     * add... and the first that has it); rms_norm reads it on the second,
     * which cannot reach the first's memory: one load-time transfer into a
     * replica, none per run. */
    plinth_backend *list[2] = {open_mask(bit(PLINTH_OP_ADD), ALL_DTYPES, false),
                               open_mask(~0ull & ~bit(PLINTH_OP_ADD), ALL_DTYPES, false)};
    plinth_backend *ref = open_ref();
    plinth_graph *g = NULL;
    OKC(plinth_graph_create(ctx, &g));
    int64_t xs[2] = {ST, SC}, nw[1] = {SC}, one_s[1] = {1};
    static const float one = 1.0f;
    plinth_node x = plinth_input(g, "x", PLINTH_F32, 2, xs);
    plinth_node w = plinth_add(g, plinth_param(g, "w", PLINTH_F32, 1, nw),
                               plinth_constant(g, "one", PLINTH_F32, 1, one_s, &one));
    OKC(plinth_output(g, plinth_rms_norm(g, x, w, 1e-6f), "y"));
    plinth_model *m = model_on(list, 2), *mr = model_on(&ref, 1);
    plinth_program *p = compile_on(m, g, false), *pr = compile_on(mr, g, false);
    plinth_plan_stats st = stats_of(p);
    cr_expect_eq(st.n_transfers, 0);
    cr_expect_eq(st.n_load_transfers, 1);
    cr_expect_eq(st.n_fold_instructions, 2, "the add and its transfer");
    expect_reads_local(p);
    const char *names[1] = {"w"};
    size_t floats[1] = {SC};
    load_params(m, names, floats, 1, 3);
    load_params(mr, names, floats, 1, 3);
    float xv[ST * SC];
    rng r = {5};
    fill_floats(xv, ST * SC, &r);
    expect_same_as_ref(p, pr, xv, sizeof xv, ST * SC, "the run");
    plinth_program_destroy(p);
    plinth_program_destroy(pr);
    plinth_model_destroy(m);
    plinth_model_destroy(mr);
    plinth_graph_destroy(g);
    plinth_backend_close(list[0]);
    plinth_backend_close(list[1]);
    plinth_backend_close(ref);
}

/* Deterministic blocks for a block-dtype param (the same on both models):
 * every byte from the seed, then each block's f16 scale set to a normal
 * value (dequantised values of order 1). */
static void set_blocks(plinth_model *m, const char *name, int32_t dtype, int64_t n, uint64_t seed)
{
    const size_t bb = plinth_dtype_block_bytes(dtype), bytes = plinth_dtype_row_bytes(dtype, n);
    uint8_t *b = malloc(bytes);
    cr_assert_not_null(b);
    rng r = {seed};
    for (size_t i = 0; i < bytes; i++)
        b[i] = (uint8_t)below(&r, 256);
    for (size_t at = 0; at < bytes; at += bb) {
        b[at] = (uint8_t)below(&r, 256);
        b[at + 1] = 0x20; /* 2^-7 .. 2^-6 */
    }
    OKC(plinth_model_set_param(m, name, b, bytes));
    free(b);
}

/* A backend that takes no block dtype (here a mask device: plain dtypes
 * only, device memory) leaves every op reading one to the next backend
 * that does: the q8_0 matmul and the dequantising cast (folded at load)
 * run on ref; the f32 matmul of the folded weights stays first, reading
 * them from a replica filled by one load-time transfer. */
Test(placement, block_weights_go_where_they_are_supported)
{
    plinth_backend *list[2] = {open_mask(~0ull, ALL_DTYPES, false), open_ref()};
    plinth_backend *ref = open_ref();
    plinth_graph *g = NULL;
    OKC(plinth_graph_create(ctx, &g));
    int64_t xs[2] = {ST, 64}, ws[2] = {SC, 64};
    plinth_node x = plinth_input(g, "x", PLINTH_F32, 2, xs);
    plinth_node mq = plinth_matmul(g, x, plinth_param(g, "wq", PLINTH_Q8_0, 2, ws), true);
    plinth_node vf = plinth_cast(g, plinth_param(g, "v", PLINTH_Q4_0, 2, ws), PLINTH_F32);
    plinth_node mf = plinth_matmul(g, x, vf, true);
    OKC(plinth_output(g, plinth_add(g, mq, mf), "y"));
    plinth_model *m = model_on(list, 2), *mr = model_on(&ref, 1);
    plinth_program *p = compile_on(m, g, false), *pr = compile_on(mr, g, false);
    cr_expect_eq(backend_of(p, mq), 1, "the q8_0 matmul runs on ref");
    cr_expect_eq(backend_of(p, mf), 0, "the f32 matmul stays first");
    plinth_plan_stats st = stats_of(p);
    cr_expect_eq(st.n_load_transfers, 1, "the folded f32 weights cross once, at load");
    cr_expect_eq(p->n_fold, 2u);
    for (uint32_t i = 0; i < p->n_fold; i++)
        if (p->fold[i].op == PLINTH_OP_CAST)
            cr_expect_eq(p->fold[i].backend, 1, "the cast folds on ref");
    expect_reads_local(p);
    OKC(plinth_model_load_empty(m));
    OKC(plinth_model_load_empty(mr));
    set_blocks(m, "wq", PLINTH_Q8_0, SC * 64, 11);
    set_blocks(mr, "wq", PLINTH_Q8_0, SC * 64, 11);
    set_blocks(m, "v", PLINTH_Q4_0, SC * 64, 12);
    set_blocks(mr, "v", PLINTH_Q4_0, SC * 64, 12);
    float xv[ST * 64], want[ST * SC], got[ST * SC];
    rng r = {7};
    fill_floats(xv, ST * 64, &r);
    OKC(plinth_program_set_input(p, 0, xv, sizeof xv));
    OKC(plinth_program_set_input(pr, 0, xv, sizeof xv));
    OKC(plinth_program_run(p));
    OKC(plinth_program_run(pr));
    OKC(plinth_program_get_output(p, 0, got, sizeof got));
    OKC(plinth_program_get_output(pr, 0, want, sizeof want));
    cr_expect_eq(memcmp(want, got, sizeof want), 0);
    bool nonzero = false;
    for (int i = 0; i < ST * SC; i++)
        nonzero |= want[i] != 0.0f;
    cr_expect(nonzero);
    plinth_program_destroy(p);
    plinth_program_destroy(pr);
    plinth_model_destroy(m);
    plinth_model_destroy(mr);
    plinth_graph_destroy(g);
    plinth_backend_close(list[0]);
    plinth_backend_close(list[1]);
    plinth_backend_close(ref);
}

/* One program of a state-writing pair: rows of x * 2 into S at idx, then
 * y = the first rows of S, read by a softmax. */
static plinth_graph *state_graph(int64_t t, bool pin_writer)
{
    plinth_graph *g = NULL;
    OKC(plinth_graph_create(ctx, &g));
    int64_t xs[2] = {t, SC}, ts[1] = {t}, ss[2] = {6, SC};
    plinth_node x = plinth_input(g, "x", PLINTH_F32, 2, xs);
    plinth_node idx = plinth_input(g, "idx", PLINTH_I32, 1, ts);
    plinth_node s = plinth_state(g, "S", PLINTH_F32, 2, ss);
    plinth_node w = plinth_set_rows(g, s, plinth_scale(g, x, 2.0f), idx);
    if (pin_writer)
        OKC(plinth_graph_pin_node(g, w, 1));
    OKC(plinth_output(g, plinth_softmax(g, w, PLINTH_NODE_INVALID, 1.0f), "y"));
    return g;
}

Test(placement, a_state_lives_where_the_first_program_put_it)
{
    plinth_backend *list[2] = {open_mask(~0ull, ALL_DTYPES, false), open_ref()};
    plinth_backend *ref = open_ref();
    plinth_model *m = model_on(list, 2), *mr = model_on(&ref, 1);
    plinth_graph *g1 = state_graph(3, true), *g2 = state_graph(1, false);
    plinth_program *p1 = compile_on(m, g1, false), *p2 = compile_on(m, g2, false);
    plinth_program *r2 = compile_on(mr, g2, false), *r1 = NULL;
    /* The pin names a backend of the list: on a model of one it is out of
     * range. */
    cr_expect_eq(plinth_program_compile(mr, g1, NULL, &r1), PLINTH_ERR_INVALID);
    cr_expect(strstr(plinth_context_error(ctx), "pinned to backend 1, but the model has 1 "
                                                "backend"), "%s", plinth_context_error(ctx));
    plinth_graph_destroy(g1);
    g1 = state_graph(3, false);
    r1 = compile_on(mr, g1, false);
    /* p1's writer is pinned to ref; p2's would go to the mask backend (it
     * supports everything and comes first), but the state is on ref. */
    for (int k = 0; k < 2; k++) {
        plinth_program *p = k ? p2 : p1;
        for (uint32_t i = 0; i < p->n_code; i++)
            if (p->code[i].op == PLINTH_OP_SET_ROWS)
                cr_expect_eq(p->code[i].backend, 1, "program %d writes S on ref", k + 1);
    }
    OKC(plinth_model_load_empty(m));
    OKC(plinth_model_load_empty(mr));
    float x[3 * SC], want[6 * SC], got[6 * SC];
    rng r = {17};
    for (int step = 0; step < 4; step++) {
        bool first = step == 0;
        plinth_program *p = first ? p1 : p2, *pr = first ? r1 : r2;
        int64_t t = first ? 3 : 1;
        int32_t idx[3] = {0, 1, 2};
        if (!first)
            idx[0] = 2 + step;
        fill_floats(x, (size_t)(t * SC), &r);
        OKC(plinth_program_set_input(p, 0, x, (size_t)(t * SC) * 4));
        OKC(plinth_program_set_input(pr, 0, x, (size_t)(t * SC) * 4));
        OKC(plinth_program_set_input(p, 1, idx, (size_t)t * 4));
        OKC(plinth_program_set_input(pr, 1, idx, (size_t)t * 4));
        OKC(plinth_program_run(p));
        OKC(plinth_program_run(pr));
        OKC(plinth_program_get_output(p, 0, got, sizeof got));
        OKC(plinth_program_get_output(pr, 0, want, sizeof want));
        cr_expect_eq(memcmp(want, got, sizeof want), 0, "step %d", step);
    }
    plinth_program_destroy(p1);
    plinth_program_destroy(p2);
    plinth_program_destroy(r1);
    plinth_program_destroy(r2);
    plinth_model_destroy(m);
    plinth_model_destroy(mr);
    plinth_graph_destroy(g1);
    plinth_graph_destroy(g2);
    plinth_backend_close(list[0]);
    plinth_backend_close(list[1]);
    plinth_backend_close(ref);
}

Test(placement, the_template_runs_its_three_ops_beside_cpu)
{
    plinth_backend *t = NULL, *cpu = NULL;
    OKC(plinth_backend_open(ctx, getenv("PLINTH_TEST_TEMPLATE"), 0, NULL, &t));
    OKC(plinth_backend_open(ctx, getenv("PLINTH_TEST_CPU"), 0, NULL, &cpu));
    plinth_backend *list[2] = {t, cpu};
    small s = build_small();
    plinth_model *m = model_on(list, 2);
    plinth_program *p = compile_on(m, s.g, false);
    cr_expect_eq(backend_of(p, s.add), 0);
    cr_expect_eq(backend_of(p, s.y), 0);
    cr_expect_eq(backend_of(p, s.norm), 1);
    cr_expect_eq(stats_of(p).n_transfers, 0, "template and cpu share host memory");
    plinth_instruction_info in = info_at(p, 0);
    cr_expect_eq(in.op, PLINTH_OP_RMS_NORM);
    cr_expect_eq(in.no_kernel, 1u, "the template has no rms_norm kernel");
    OKC(plinth_model_load_empty(m));
    float x[ST * SC], y[ST * SC];
    for (int i = 0; i < ST * SC; i++)
        x[i] = (float)(i % 7) - 3.0f;
    OKC(plinth_program_set_input(p, 0, x, sizeof x));
    OKC(plinth_program_run(p));
    OKC(plinth_program_get_output(p, 0, y, sizeof y));
    for (int i = 0; i < ST * SC; i++) /* params are zero: y = 0 */
        cr_expect_eq(y[i], 0.0f);
    plinth_program_destroy(p);
    plinth_model_destroy(m);
    plinth_graph_destroy(s.g);
    plinth_backend_close(t);
    plinth_backend_close(cpu);
}

/* ------------------------------------------------------------------ 5 --- */

static bool has(const char *s)
{
    return strstr(plinth_context_error(ctx), s) != NULL;
}

Test(placement, every_op_nothing_runs_is_named_at_once)
{
    plinth_backend *list[2] = {open_mask(bit(PLINTH_OP_ADD), ALL_DTYPES, true),
                               open_mask(bit(PLINTH_OP_SCALE), F32_ONLY, true)};
    small s = build_small();
    plinth_model *m = model_on(list, 2);
    plinth_program *p = NULL;
    cr_assert_eq(plinth_program_compile(m, s.g, NULL, &p), PLINTH_ERR_UNSUPPORTED);
    cr_assert_null(p);
    cr_expect(has("no backend of the list ('mask', 'mask') supports 2 ops"), "%s",
              plinth_context_error(ctx));
    char want[160];
    snprintf(want, sizeof want,
             "rms_norm (f32 x f32 -> f32) at node %d: 'mask' said no (supports); 'mask' said "
             "no (supports)", (int)s.norm);
    cr_expect(has(want), "%s\nwant: %s", plinth_context_error(ctx), want);
    snprintf(want, sizeof want, "matmul (f32 x f32 -> f32) at node %d", (int)s.mm);
    cr_expect(has(want), "%s", plinth_context_error(ctx));
    cr_expect_eq(m->n_tensors, 0, "nothing registered");
    cr_expect_eq(m->n_programs, 0);
    plinth_model_destroy(m);
    plinth_graph_destroy(s.g);
    plinth_backend_close(list[0]);
    plinth_backend_close(list[1]);
}

Test(placement, a_pin_that_cannot_hold_names_node_and_backend)
{
    plinth_backend *list[2] = {open_mask(bit(PLINTH_OP_ADD), ALL_DTYPES, true), open_ref()};
    small s = build_small();
    OKC(plinth_graph_pin_node(s.g, s.mm, 0));
    plinth_model *m = model_on(list, 2);
    plinth_program *p = NULL;
    cr_assert_eq(plinth_program_compile(m, s.g, NULL, &p), PLINTH_ERR_UNSUPPORTED);
    char want[160];
    snprintf(want, sizeof want,
             "node %d (matmul f32 x f32 -> f32) is pinned to backend 0 'mask', which does not "
             "support it", (int)s.mm);
    cr_expect(has(want), "%s", plinth_context_error(ctx));
    /* A pin past the list. */
    OKC(plinth_graph_pin_node(s.g, s.mm, 2));
    cr_assert_eq(plinth_program_compile(m, s.g, NULL, &p), PLINTH_ERR_INVALID);
    cr_expect(has("is pinned to backend 2, but the model has 2 backends"), "%s",
              plinth_context_error(ctx));
    /* Pins that hold: the scope form too. */
    OKC(plinth_graph_pin_node(s.g, s.mm, -1));
    plinth_graph *g = NULL;
    OKC(plinth_graph_create(ctx, &g));
    int64_t xs[1] = {4};
    plinth_node x = plinth_input(g, "x", PLINTH_F32, 1, xs);
    OKC(plinth_graph_pin(g, 1));
    plinth_node a = plinth_add(g, x, x);
    OKC(plinth_graph_pin(g, -1));
    plinth_node b = plinth_add(g, a, x);
    OKC(plinth_output(g, b, "y"));
    cr_expect_eq(plinth_graph_pin(g, 9), PLINTH_ERR_INVALID);
    plinth_graph_destroy(g);
    OKC(plinth_graph_create(ctx, &g));
    x = plinth_input(g, "x", PLINTH_F32, 1, xs);
    OKC(plinth_graph_pin(g, 1));
    a = plinth_add(g, x, x);
    OKC(plinth_graph_pin(g, -1));
    b = plinth_add(g, a, x);
    OKC(plinth_output(g, b, "y"));
    p = compile_on(m, g, false);
    cr_expect_eq(backend_of(p, a), 1);
    cr_expect(info_at(p, 0).pinned);
    cr_expect_eq(backend_of(p, b), 0);
    plinth_program_destroy(p);
    plinth_graph_destroy(g);
    plinth_model_destroy(m);
    plinth_graph_destroy(s.g);
    plinth_backend_close(list[0]);
    plinth_backend_close(list[1]);
}

Test(placement, a_model_list_is_checked)
{
    plinth_backend *a = open_ref(), *b = open_mask(~0ull, ALL_DTYPES, true);
    plinth_model *m = NULL;
    plinth_backend *twice[2] = {a, a};
    cr_expect_eq(plinth_model_create_multi(twice, 2, &m), PLINTH_ERR_INVALID);
    cr_expect(has("in the list twice"), "%s", plinth_context_error(ctx));
    plinth_backend *with_null[2] = {a, NULL};
    cr_expect_eq(plinth_model_create_multi(with_null, 2, &m), PLINTH_ERR_INVALID);
    plinth_backend *many[PLINTH_MAX_BACKENDS + 1];
    for (uint32_t i = 0; i <= PLINTH_MAX_BACKENDS; i++)
        many[i] = i % 2 ? b : a;
    cr_expect_eq(plinth_model_create_multi(many, PLINTH_MAX_BACKENDS + 1, &m),
                 PLINTH_ERR_INVALID);
    cr_expect_null(m);
    plinth_backend *ok[2] = {b, a};
    OKC(plinth_model_create_multi(ok, 2, &m));
    cr_expect_eq(plinth_model_backend_count(m), 2);
    cr_expect_eq(plinth_model_backend(m, 1), a);
    cr_expect_null(plinth_model_backend(m, 2));
    /* The model keeps its backends alive. */
    plinth_backend_close(a);
    plinth_backend_close(b);
    cr_expect_str_eq(plinth_backend_name(plinth_model_backend(m, 1)), "ref");
    plinth_model_destroy(m);
}

/* ------------------------------------------------------ packed weights --- */

/* A mask device from a whole config string. */
static plinth_backend *open_mask_config(const char *config)
{
    plinth_device_options o = {.struct_size = sizeof o, .config = config};
    plinth_backend *b = NULL;
    OKC(plinth_backend_open(ctx, getenv("PLINTH_TEST_MASK"), 0, &o, &b));
    return b;
}

/* A plugin that packs matmul's weight (pack=1: stored [K, N], its matmul
 * reading that) gets the packed view, strides 0 and b_packed set, and
 * computes ref's very bits; the twin follows its param through set_param
 * and is left alone by another param's. With host memory the weight
 * (read by nothing else) is packed in place: the pool does not grow.
 * Without, the twin sits beside it: the pool grows by its 256 bytes. */
Test(placement, a_packed_weight_is_read_packed_and_equals_ref)
{
    /* host memory, packed from the host's copy; packed over its own bytes
     * by the plugin (PLINTH_CAP_PACK_IN_PLACE: it refuses a copy); no host
     * memory, a twin */
    const char *const configs[3] = {"pack=1,host=1", "pack=1,host=1,inplace=1", "pack=1,host=0"};
    for (int c = 0; c < 3; c++) {
        const char *config = configs[c];
        const int host = c < 2;
        plinth_backend *mask = open_mask_config(config), *ref = open_ref();
        small s = build_small();
        plinth_model *m = model_on(&mask, 1), *mr = model_on(&ref, 1);
        plinth_program *p = compile_on(m, s.g, false), *pr = compile_on(mr, s.g, false);
        const char *names[2] = {"w", "W"};
        size_t floats[2] = {SC, SC * SC};
        load_params(mr, names, floats, 2, 5); /* plain: the twin's size */
        small_equals_ref(p, m, ref, s.g);     /* loads both, compares two runs */
        const instruction *mm = kernel_of(p, s.mm);
        cr_expect_eq(mm->attrs.matmul.b_packed, 1, "[%s] matmul not given the packed view",
                     config);
        for (int d = 0; d < PLINTH_MAX_DIMS; d++)
            cr_expect_eq(mm->in[1].stride[d], 0, "[%s] packed view stride[%d]", config, d);
        cr_expect_eq(stats_of(p).persistent_bytes,
                     stats_of(pr).persistent_bytes + (host ? 0 : 256),
                     "[%s] persistent %llu, plain %llu (+ a 256-byte twin without host "
                     "memory)", config, (unsigned long long)stats_of(p).persistent_bytes,
                     (unsigned long long)stats_of(pr).persistent_bytes);
        /* the twin follows its param ("W"), and not another's ("w") */
        float w[SC * SC], x[ST * SC];
        rng r = {99};
        for (int step = 0; step < 2; step++) {
            const char *name = step ? "w" : "W";
            const size_t n = step ? SC : SC * SC;
            fill_floats(w, n, &r);
            fill_floats(x, ST * SC, &r);
            OKC(plinth_model_set_param(m, name, w, n * sizeof *w));
            OKC(plinth_model_set_param(mr, name, w, n * sizeof *w));
            char what[96];
            snprintf(what, sizeof what, "[%s] after set_param '%s'", config, name);
            expect_same_as_ref(p, pr, x, sizeof x, ST * SC, what);
        }
        plinth_program_destroy(p);
        plinth_program_destroy(pr);
        plinth_model_destroy(m);
        plinth_model_destroy(mr);
        plinth_graph_destroy(s.g);
        plinth_backend_close(mask);
        plinth_backend_close(ref);
    }
}

/* The conformance case for packing: a plugin that packs the weight but
 * whose matmul reads the packed view as plain (pack=2) must not pass for
 * correct. */
Test(placement, a_kernel_reading_a_packed_weight_as_plain_is_caught)
{
    plinth_backend *mask = open_mask_config("pack=2"), *ref = open_ref();
    small s = build_small();
    plinth_model *m = model_on(&mask, 1), *mr = model_on(&ref, 1);
    plinth_program *p = compile_on(m, s.g, false), *pr = compile_on(mr, s.g, false);
    const char *names[2] = {"w", "W"};
    size_t floats[2] = {SC, SC * SC};
    load_params(m, names, floats, 2, 5);
    load_params(mr, names, floats, 2, 5);
    float x[ST * SC], got[ST * SC], want[ST * SC];
    rng r = {3};
    fill_floats(x, ST * SC, &r);
    OKC(plinth_program_set_input(p, 0, x, sizeof x));
    OKC(plinth_program_set_input(pr, 0, x, sizeof x));
    OKC(plinth_program_run(pr));
    OKC(plinth_program_get_output(pr, 0, want, sizeof want));
    const plinth_status st = plinth_program_run(p);
    if (st == PLINTH_OK) {
        OKC(plinth_program_get_output(p, 0, got, sizeof got));
        cr_expect_neq(memcmp(want, got, sizeof want), 0,
                      "a matmul that ignores b_packed gave ref's result");
    }
    plinth_program_destroy(p);
    plinth_program_destroy(pr);
    plinth_model_destroy(m);
    plinth_model_destroy(mr);
    plinth_graph_destroy(s.g);
    plinth_backend_close(mask);
    plinth_backend_close(ref);
}

/* A weight with another reader (a tied embedding: get_rows and the logits
 * matmul) on mask with `config`. pack=1: the matmul reads the packed twin,
 * get_rows the plain tensor, which stays (the twin's 256 bytes are added).
 * pack=3, a plugin that packs get_rows' table too (the cpu plugin's bf16
 * pairs): both readers get the packed view and the weight is packed in
 * place (the pool is ref's to the byte). Either way both give ref's
 * result, also after set_param. */
static void tied_weight_case(const char *config, bool rows_packed)
{
    plinth_backend *mask = open_mask_config(config), *ref = open_ref();
    plinth_graph *g = NULL;
    OKC(plinth_graph_create(ctx, &g));
    int64_t ids_shape[1] = {ST}, ws[2] = {SC, SC};
    plinth_node ids = plinth_input(g, "ids", PLINTH_I32, 1, ids_shape);
    plinth_node emb = plinth_param(g, "E", PLINTH_F32, 2, ws);
    plinth_node h = plinth_get_rows(g, emb, ids, PLINTH_F32);
    plinth_node logits = plinth_matmul(g, h, emb, true);
    OKC(plinth_output(g, logits, "logits"));
    plinth_model *m = model_on(&mask, 1), *mr = model_on(&ref, 1);
    plinth_program *p = compile_on(m, g, false), *pr = compile_on(mr, g, false);
    const char *names[1] = {"E"};
    size_t floats[1] = {SC * SC};
    load_params(m, names, floats, 1, 8);
    load_params(mr, names, floats, 1, 8);
    const instruction *mm = kernel_of(p, logits), *gr = kernel_of(p, h);
    cr_expect_eq(mm->attrs.matmul.b_packed, 1, "[%s] the matmul of a tied weight not packed",
                 config);
    cr_expect_eq(mm->in[1].stride[3], 0, "[%s] the matmul's view is not the packed one", config);
    cr_expect_eq(gr->attrs.get_rows.table_packed, rows_packed, "[%s] get_rows' table_packed",
                 config);
    cr_expect_eq(gr->in[0].stride[3] == 0, rows_packed, "[%s] get_rows' view", config);
    cr_expect_eq(stats_of(p).persistent_bytes,
                 stats_of(pr).persistent_bytes + (rows_packed ? 0 : 256),
                 "[%s] persistent %llu, plain %llu (+ a 256-byte twin unless packed in place)",
                 config, (unsigned long long)stats_of(p).persistent_bytes,
                 (unsigned long long)stats_of(pr).persistent_bytes);
    int32_t idx[ST] = {1, 7, 2};
    float e[SC * SC];
    rng r = {7};
    for (int round = 0; round < 2; round++) {
        if (round == 1) { /* a new value reaches both readers */
            fill_floats(e, SC * SC, &r);
            OKC(plinth_model_set_param(m, "E", e, sizeof e));
            OKC(plinth_model_set_param(mr, "E", e, sizeof e));
        }
        char what[64];
        snprintf(what, sizeof what, "[%s] %s", config, round ? "after set_param" : "after load");
        expect_same_as_ref(p, pr, idx, sizeof idx, ST * SC, what);
    }
    plinth_program_destroy(p);
    plinth_program_destroy(pr);
    plinth_model_destroy(m);
    plinth_model_destroy(mr);
    plinth_graph_destroy(g);
    plinth_backend_close(mask);
    plinth_backend_close(ref);
}

Test(placement, a_tied_weight_is_packed_for_the_matmul_and_plain_for_get_rows)
{
    tied_weight_case("pack=1", false);
}

Test(placement, a_tied_weight_packed_for_get_rows_too_is_packed_in_place)
{
    tied_weight_case("pack=3", true);
    tied_weight_case("pack=3,inplace=1", true);
}
