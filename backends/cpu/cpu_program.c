/*
 * cpu_program.c — the whole-program path: prepare fuses, execute replays.
 *
 * Sections:
 *   1. the program: validated steps, fused pairs, rope tables
 *   2. fusion rules
 *   3. prepare / execute / release
 *
 * Fusion is only done where it cannot change what any reader sees: a pair
 * of adjacent instructions whose second writes over the first's output in
 * place (the planner aliases the mul's output onto its dying input). After
 * the pair, that memory holds exactly what the unfused pair leaves there,
 * and nothing ran in between that could have read the intermediate.
 *   rms_norm(x[, w]) -> t ; mul(t, y) -> t   =>  one pass: x/rms * w * y
 *   gelu_tanh(g) -> t     ; mul(t, u) -> t   =>  one pass: gelu(g) * u
 * Adjacent matmuls that read the same a into outputs apart from a and
 * from each other (a layer's q, k and v; gate and up) become one GEMM job
 * (cpu_matmul_group): a packed once, and k's and v's eight panels no
 * longer a parallel run of their own (at 2 threads, 45-58% of the FMA
 * peak alone).
 * Rope steps with the same base, n_dims and positions (q and k of every
 * layer) share one cos/sin table per execute instead of one sincos per
 * element pair per step; so do rope_factors steps with the same factors.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu_kernels.h"

/* PLINTH_CPU_PROFILE=1: wall time per op kind (matmuls split by whether
 * they stream more than 16 MB of weights, i.e. the logits), and the share
 * of the thread pools' time spent inside tasks (cpu_pool_profile_read),
 * printed to stderr when the process exits. Costs two clock reads per
 * step; off, one predictable branch. For finding the per-token overhead
 * outside the matmuls, which bandwidth-bound decode cannot afford. A
 * process-wide diagnostic by design (the sum over every device): the
 * switch is read once and the counters are atomic, since devices of
 * different instances may execute on different threads at once. */
#define PROF_SLOTS (PLINTH_OP_COUNT + 2)
static pthread_once_t prof_once = PTHREAD_ONCE_INIT;
static bool prof_on; /* written once, under prof_once */
static _Atomic int64_t prof_ns[PROF_SLOTS];
static _Atomic int64_t prof_n[PROF_SLOTS];
static const char *const prof_names[PROF_SLOTS] = {
#define X(E, nm, lo, hi) [PLINTH_OP_##E] = #nm,
    PLINTH_OP_LIST(X)
#undef X
    [PLINTH_OP_COUNT] = "matmul>16MB",
    [PLINTH_OP_COUNT + 1] = "(fused pairs)",
};

static void prof_report(void)
{
    double ns[PROF_SLOTS], total = 0;
    for (int i = 0; i < PROF_SLOTS; i++)
        total += ns[i] = (double)atomic_load(&prof_ns[i]);
    fprintf(stderr, "cpu profile: %.1f ms in execute\n", total / 1e6);
    for (int i = 0; i < PROF_SLOTS; i++) {
        const int64_t n = atomic_load(&prof_n[i]);
        if (n)
            fprintf(stderr, "  %-14s %8lld calls %10.1f ms %5.1f%% %8.2f us/call\n",
                    prof_names[i] ? prof_names[i] : "?", (long long)n, ns[i] / 1e6,
                    100 * ns[i] / total, ns[i] / 1e3 / (double)n);
    }
    int64_t jobs, thread_ns, task_ns;
    cpu_pool_profile_read(&jobs, &thread_ns, &task_ns);
    if (jobs && thread_ns)
        fprintf(stderr,
                "  threads: %lld jobs, %.1f ms of thread time, %.1f%% of it inside tasks "
                "(the rest waits at job ends)\n",
                (long long)jobs, (double)thread_ns / 1e6,
                100.0 * (double)task_ns / (double)thread_ns);
}

static void prof_init(void)
{
    const char *e = getenv("PLINTH_CPU_PROFILE");
    prof_on = e && e[0] == '1';
    if (prof_on) {
        cpu_pool_profile_start();
        atexit(prof_report);
    }
}

static bool prof_enabled(void)
{
    pthread_once(&prof_once, prof_init);
    return prof_on;
}

static int64_t prof_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void prof_add(int slot, int64_t ns)
{
    atomic_fetch_add_explicit(&prof_ns[slot], ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&prof_n[slot], 1, memory_order_relaxed);
}

/* ---------------------------------------------------------------- 1 ---- */

enum step_kind { STEP_OP, STEP_NORM_MUL, STEP_GELU_MUL, STEP_ROPE, STEP_MATMUL_GROUP };

typedef struct step {
    int kind;
    const plinth_instruction *ins; /* into program.code; a fused pair's
                                      mul is ins + 1                    */
    const plinth_view *other; /* the mul's other operand (fused kinds)  */
    const plinth_view *out;   /* the pair's final output                */
    int table;                /* STEP_ROPE: index into tables           */
    int n_group;              /* STEP_MATMUL_GROUP: matmuls ins[0 .. n-1] */
} step;

typedef struct program {
    /* The instructions, copied: the host's array has its own element size
     * (instruction_size) and only its views and attrs are promised to
     * outlive prepare. */
    plinth_instruction *code;
    uint32_t n_steps;
    step *steps;
    uint32_t n_tables;
    cpu_rope_table tables[8];
} program;

/* ---------------------------------------------------------------- 2 ---- */

static bool same_view(const plinth_view *a, const plinth_view *b)
{
    if (a->data != b->data || a->dtype != b->dtype)
        return false;
    for (int k = 0; k < 4; k++)
        if (a->shape[k] != b->shape[k] || (a->shape[k] != 1 && a->stride[k] != b->stride[k]))
            return false;
    return true;
}

/* The bytes [lo, hi) a 2-D view (batch dims 1, rows stride[2] apart,
 * elements packed) touches; false for any other view. */
static bool span_2d(const plinth_view *v, uintptr_t *lo, uintptr_t *hi)
{
    const int64_t es = (int64_t)plinth_dtype_bytes(v->dtype);
    if (!v->data || v->shape[0] != 1 || v->shape[1] != 1 || v->shape[2] < 1 ||
        v->shape[3] < 1 || v->stride[3] != es || v->stride[2] < v->shape[3] * es)
        return false;
    *lo = (uintptr_t)v->data;
    *hi = *lo + (uintptr_t)((v->shape[2] - 1) * v->stride[2] + v->shape[3] * es);
    return true;
}

static bool apart(const plinth_view *x, const plinth_view *y)
{
    uintptr_t xl, xh, yl, yh;
    return span_2d(x, &xl, &xh) && span_2d(y, &yl, &yh) && (xh <= yl || yh <= xl);
}

/* A matmul of b transposed (plain or packed) whose output is a 2-D f32
 * view apart from its a: may start or join a group. */
static bool groupable(const plinth_instruction *ins)
{
    if (ins->op != PLINTH_OP_MATMUL || ins->n_in != 2 || !ins->attrs)
        return false;
    const plinth_attr_matmul *m = ins->attrs;
    return (m->transpose_b || m->b_packed) && ins->out->dtype == PLINTH_F32 &&
           apart(ins->out, &ins->in[0]);
}

/* Can `next` run in one job with the group code[0 .. n-1], which it
 * follows in the program? It must read the same a, and its output must not
 * touch any member's output (nor a, groupable says): then running them
 * together gives what running them in order gives. Decided once, at
 * prepare: the views are final by then (plinth_plugin.h), as for the
 * fused pairs. */
static bool joins_group(const plinth_instruction *code, int n, const plinth_instruction *next)
{
    if (!groupable(next) || !same_view(&next->in[0], &code[0].in[0]))
        return false;
    for (int i = 0; i < n; i++)
        if (!apart(next->out, code[i].out))
            return false;
    return true;
}

/* Is `second` a mul that takes `first`'s output and writes over it? Sets
 * *other to the mul's other input. */
static bool mul_in_place(const plinth_instruction *first, const plinth_instruction *second,
                         const plinth_view **other)
{
    if (second->op != PLINTH_OP_MUL || !same_view(second->out, first->out))
        return false;
    const plinth_view *t = first->out;
    if (same_view(&second->in[0], t) && !same_view(&second->in[1], t))
        *other = &second->in[1];
    else if (same_view(&second->in[1], t) && !same_view(&second->in[0], t))
        *other = &second->in[0];
    else
        return false;
    /* the fused kernels read `other` with the output's shape */
    return (*other)->dtype == PLINTH_F32 && ref_same_shape(*other, t) && t->dtype == PLINTH_F32;
}

/* ---------------------------------------------------------------- 3 ---- */

/* Frees exactly what exists (every pointer starts NULL), so it also undoes
 * a prepare that failed part way. */
void cpu_release(plinth_device *pd, void *prog)
{
    program *p = prog;
    if (!pd || !p)
        return;
    plinth_instance *inst = pd->inst;
    for (uint32_t i = 0; i < p->n_tables; i++) {
        plugin_free(inst, p->tables[i].pos);
        plugin_free(inst, p->tables[i].cs);
    }
    plugin_free(inst, p->steps);
    plugin_free(inst, p->code);
    plugin_free(inst, p);
}

/* The fields this plugin reads: all of a v1 instruction. */
#define INSTRUCTION_V1_SIZE (offsetof(plinth_instruction, attrs) + sizeof(const void *))

/* code[i] for i < n, from elements of `size` bytes into an array of our own
 * sizeof. A host built with a longer instruction passes fields we do not
 * know: they are not copied. NULL: out of memory. */
static plinth_instruction *copy_code(plinth_instance *inst, const plinth_instruction *code,
                                     uint32_t n, size_t size)
{
    plinth_instruction *c = plugin_malloc(inst, sizeof *c * (n ? n : 1));
    if (!c)
        return NULL;
    const size_t take = size < sizeof *c ? size : sizeof *c;
    for (uint32_t i = 0; i < n; i++) {
        memset(&c[i], 0, sizeof c[i]);
        memcpy(&c[i], plinth_instruction_at(code, size, i), take);
    }
    return c;
}

static int rope_table_for(program *p, const plinth_instruction *ins)
{
    const plinth_attr_rope *a = ins->attrs;
    const int64_t t = ins->in[0].shape[1];
    const bool scaled = ins->op == PLINTH_OP_ROPE_FACTORS;
    if (ins->in[0].dtype != PLINTH_F32 || a->n_dims <= 0 || a->n_dims > 512)
        return -1;
    for (uint32_t i = 0; i < p->n_tables; i++)
        if (p->tables[i].base == a->base && p->tables[i].n_dims == a->n_dims &&
            p->tables[i].scaled == scaled) {
            if (p->tables[i].cap_t < t)
                p->tables[i].cap_t = t;
            return (int)i;
        }
    if (p->n_tables == 8)
        return -1;
    cpu_rope_table *tb = &p->tables[p->n_tables];
    *tb = (cpu_rope_table){.base = a->base, .n_dims = a->n_dims, .scaled = scaled, .cap_t = t};
    return (int)p->n_tables++;
}

/* The inputs ref's checks see: a matmul's packed b (b_packed, every
 * stride 0) or get_rows' packed table (table_packed) as the contiguous
 * tensor it was packed from, whose bytes our layouts never undercut
 * (cpu_matmul.c section 6), so the shape and the buffer checks hold for
 * the twin too. in2 holds the copy. */
static const plinth_view *checked_inputs(const plinth_instruction *ins, plinth_view in2[2])
{
    int which;
    if (ins->n_in == 2 && ins->attrs && ins->op == PLINTH_OP_MATMUL &&
        ((const plinth_attr_matmul *)ins->attrs)->b_packed)
        which = 1;
    else if (ins->n_in == 2 && ins->attrs && ins->op == PLINTH_OP_GET_ROWS &&
             ((const plinth_attr_get_rows *)ins->attrs)->table_packed)
        which = 0;
    else
        return ins->in;
    in2[0] = ins->in[0];
    in2[1] = ins->in[1];
    plinth_view *b = &in2[which];
    b->stride[3] = (int64_t)plinth_dtype_block_bytes(b->dtype);
    b->stride[2] = (int64_t)plinth_dtype_row_bytes(b->dtype, b->shape[3]);
    b->stride[1] = b->stride[2] * b->shape[2];
    b->stride[0] = b->stride[1] * b->shape[1];
    return in2;
}

int32_t cpu_prepare(plinth_device *pd, const plinth_instruction *host_code, uint32_t n,
                    size_t instruction_size, void **out_program)
{
    cpu_device *dev = cpu_dev(pd);
    if (!out_program || (n && !host_code))
        return ref_fail(pd, PLINTH_ERR_INVALID, "prepare: NULL argument");
    *out_program = NULL;
    if (n && instruction_size < INSTRUCTION_V1_SIZE)
        return ref_fail(pd, PLINTH_ERR_INVALID,
                        "prepare: instruction_size %zu is smaller than an ABI v1 instruction "
                        "(%zu bytes)", instruction_size, (size_t)INSTRUCTION_V1_SIZE);
    program *p = plugin_malloc(pd->inst, sizeof *p);
    if (!p)
        return ref_fail(pd, PLINTH_ERR_NO_MEMORY, "prepare: out of memory");
    memset(p, 0, sizeof *p);
    p->code = copy_code(pd->inst, host_code, n, instruction_size);
    p->steps = plugin_malloc(pd->inst, sizeof(step) * (n ? n : 1));
    if (!p->code || !p->steps) {
        cpu_release(pd, p);
        return ref_fail(pd, PLINTH_ERR_NO_MEMORY, "prepare: out of memory");
    }
    const plinth_instruction *code = p->code;
    typedef int32_t (*check_fn)(plinth_device *, const plinth_view *, const plinth_view *,
                                uint32_t, const void *);
    static const check_fn checks[PLINTH_OP_COUNT] = {
#define X(E, nm, lo, hi) [PLINTH_OP_##E] = ref_check_##nm,
        PLINTH_OP_LIST(X)
#undef X
    };
    int64_t mm_m = 0, mm_k = 0, bm_m = 0, bm_k = 0; /* largest matmul; of block weights */
    for (uint32_t i = 0; i < n; i++) {
        const plinth_instruction *ins = &code[i];
        plinth_view in2[2];
        const plinth_view *in = checked_inputs(ins, in2);
        int32_t st = ins->op < PLINTH_OP_COUNT
                         ? checks[ins->op](pd, ins->out, in, ins->n_in, ins->attrs)
                         : ref_fail(pd, PLINTH_ERR_INVALID, "prepare: unknown op %u", ins->op);
        if (st == PLINTH_OK)
            st = ref_check_memory(pd, ins->op, ins->out, in, ins->n_in);
        if (st != PLINTH_OK) {
            cpu_release(pd, p);
            return st;
        }
        if (ins->op == PLINTH_OP_MATMUL) {
            if (ins->out->shape[2] > mm_m)
                mm_m = ins->out->shape[2];
            if (ins->in[0].shape[3] > mm_k)
                mm_k = ins->in[0].shape[3];
            if (plinth_dtype_block_elems(ins->in[1].dtype) > 1) {
                bm_m = ins->out->shape[2] > bm_m ? ins->out->shape[2] : bm_m;
                bm_k = ins->in[0].shape[3] > bm_k ? ins->in[0].shape[3] : bm_k;
            }
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        const plinth_instruction *ins = &code[i];
        step s = {.kind = STEP_OP, .ins = ins, .out = ins->out, .table = -1};
        const plinth_view *other = NULL;
        if (i + 1 < n && (ins->op == PLINTH_OP_RMS_NORM || ins->op == PLINTH_OP_GELU_TANH) &&
            mul_in_place(ins, &code[i + 1], &other)) {
            s.kind = ins->op == PLINTH_OP_RMS_NORM ? STEP_NORM_MUL : STEP_GELU_MUL;
            s.other = other;
            s.out = code[i + 1].out;
            p->steps[p->n_steps++] = s;
            i++; /* the mul is part of this step */
            continue;
        }
        if (groupable(ins)) { /* q, k and v; gate and up: one GEMM job */
            int g = 1;
            while (i + g < n && g < CPU_MM_GROUP_MAX && joins_group(ins, g, &code[i + g]))
                g++;
            if (g > 1) {
                s.kind = STEP_MATMUL_GROUP;
                s.n_group = g;
                p->steps[p->n_steps++] = s;
                i += (uint32_t)g - 1;
                continue;
            }
        }
        if (ins->op == PLINTH_OP_ROPE || ins->op == PLINTH_OP_ROPE_FACTORS) {
            s.table = rope_table_for(p, ins);
            if (s.table >= 0)
                s.kind = STEP_ROPE;
        }
        p->steps[p->n_steps++] = s;
    }
    for (uint32_t i = 0; i < p->n_tables; i++) {
        cpu_rope_table *tb = &p->tables[i];
        tb->pos = plugin_malloc(pd->inst, sizeof(int32_t) * (size_t)(tb->cap_t ? tb->cap_t : 1));
        tb->cs = plugin_malloc(pd->inst, sizeof(float) * (size_t)(tb->cap_t ? tb->cap_t : 1) *
                                          (size_t)tb->n_dims);
        if (!tb->pos || !tb->cs) {
            cpu_release(pd, p);
            return ref_fail(pd, PLINTH_ERR_NO_MEMORY, "prepare: out of memory");
        }
    }
    if ((dev->k->tile && mm_m > 0 && !cpu_matmul_reserve(dev, mm_m, mm_k)) ||
        (bm_k > 0 && !cpu_matmul_reserve_block(dev, bm_m, bm_k))) {
        cpu_release(pd, p);
        return ref_fail(pd, PLINTH_ERR_NO_MEMORY, "prepare: out of memory for matmul buffers");
    }
    *out_program = p;
    return PLINTH_OK;
}

/* A step of two instructions, an op and the mul that takes its output. */
static bool fused_pair(const step *s)
{
    return s->kind == STEP_NORM_MUL || s->kind == STEP_GELU_MUL;
}

static int prof_slot(const step *q)
{
    if (fused_pair(q))
        return PLINTH_OP_COUNT + 1;
    if (q->ins->op == PLINTH_OP_MATMUL &&
        (int64_t)plinth_dtype_row_bytes(q->ins->in[1].dtype, ref_numel(&q->ins->in[1])) >
            (16 << 20))
        return PLINTH_OP_COUNT;
    return (int)q->ins->op;
}

int32_t cpu_execute(plinth_device *pd, void *prog)
{
    cpu_device *dev = cpu_dev(pd);
    program *p = prog;
    if (!p)
        return ref_fail(pd, PLINTH_ERR_INVALID, "execute: NULL program");
    for (uint32_t i = 0; i < p->n_tables; i++)
        p->tables[i].t = 0; /* positions may have changed since the last run */
    const bool prof = prof_enabled();
    int64_t t0 = prof ? prof_now() : 0;
    for (uint32_t i = 0; i < p->n_steps; i++) {
        if (prof && i > 0) {
            const int64_t t1 = prof_now();
            prof_add(prof_slot(&p->steps[i - 1]), t1 - t0);
            t0 = t1;
        }
        const step *s = &p->steps[i];
        const plinth_instruction *ins = s->ins;
        bool done = false;
        switch (s->kind) {
        case STEP_NORM_MUL:
            done = cpu_rms_norm_fast(dev, s->out, &ins->in[0], ins->n_in == 2 ? &ins->in[1] : NULL,
                                     ((const plinth_attr_rms_norm *)ins->attrs)->eps, s->other);
            break;
        case STEP_GELU_MUL:
            done = cpu_gelu_mul_fast(dev, s->out, &ins->in[0], s->other);
            break;
        case STEP_ROPE:
            done = cpu_rope_table_fast(dev, ins->out, &ins->in[0], &ins->in[1],
                                       ins->op == PLINTH_OP_ROPE_FACTORS ? &ins->in[2] : NULL,
                                       ins->attrs, &p->tables[s->table]);
            break;
        case STEP_MATMUL_GROUP: {
            const plinth_view *outs[CPU_MM_GROUP_MAX], *bs[CPU_MM_GROUP_MAX];
            bool packed[CPU_MM_GROUP_MAX];
            for (int g = 0; g < s->n_group; g++) {
                outs[g] = ins[g].out;
                bs[g] = &ins[g].in[1];
                packed[g] = ((const plinth_attr_matmul *)ins[g].attrs)->b_packed != 0;
            }
            if (cpu_matmul_group(dev, s->n_group, outs, &ins->in[0], bs, packed))
                continue;
            /* not one GEMM (too few rows, ...): each member on its own */
            for (int g = 0; g < s->n_group; g++) {
                const int32_t st = cpu_run_op(dev, ins[g].op, ins[g].out, ins[g].in,
                                              ins[g].n_in, ins[g].attrs);
                if (st != PLINTH_OK)
                    return st;
            }
            continue;
        }
        default:
            break;
        }
        if (done)
            continue;
        int32_t st = cpu_run_op(dev, ins->op, ins->out, ins->in, ins->n_in, ins->attrs);
        if (st == PLINTH_OK && fused_pair(s)) {
            /* a fused pair the fast kernel declined: run its mul too */
            const plinth_instruction *mul = ins + 1;
            st = cpu_run_op(dev, mul->op, mul->out, mul->in, mul->n_in, mul->attrs);
        }
        if (st != PLINTH_OK)
            return st;
    }
    if (prof && p->n_steps > 0) /* the last step */
        prof_add(prof_slot(&p->steps[p->n_steps - 1]), prof_now() - t0);
    return PLINTH_OK;
}
