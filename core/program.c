/*
 * program.c — a compiled program after compile: binding its planned views to
 * real buffers, the static executor, inputs and outputs.
 *
 * Sections: binding (pools per backend, view resolution and bounds,
 * kernels, staging, prepare per segment); the executor; folds; inputs and
 * outputs; teardown. The figures a program reports are in program_info.c.
 *
 * Everything that can be decided before a run is decided in program_bind:
 * views carry their buffer and host address, instructions their kernel,
 * segments their prepared programs. A run walks the segments: each is one
 * backend's flat loop over (kernel, out, in, attrs), its prepared program,
 * or a stretch of planned transfers; nothing is looked up.
 */
#include "internal.h"

#include "slots.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- binding --- */

/* The buffer behind (backend, pool) and the pool's planned size. */
static plinth_buffer *pool_buffer(plinth_program *p, int32_t backend, int32_t pool,
                                  uint64_t *size)
{
    plinth_model *m = p->model;
    *size = 0;
    if (backend < 0 || (uint32_t)backend >= m->n_backends)
        return NULL;
    program_backend *pb = &p->be[backend];
    model_backend *mb = &m->be[backend];
    switch (pool) {
    case POOL_ARENA: *size = pb->pool_bytes[POOL_ARENA]; return &pb->arena;
    case POOL_PERSISTENT: *size = mb->persistent_bytes; return &mb->persistent;
    case POOL_STATE: *size = mb->state_bytes; return &mb->state;
    case POOL_IO: *size = pb->pool_bytes[POOL_IO]; return &pb->io;
    case POOL_SCRATCH: *size = pb->pool_bytes[POOL_SCRATCH]; return &pb->scratch;
    default: return NULL;
    }
}

/* Where in the program a bad view was found, for messages. */
typedef struct site {
    const char *list; /* "instruction" or "fold instruction" */
    uint32_t index;
    const instruction *ins;
    const char *which; /* "out", "in[2]" */
} site;

static plinth_status view_error(plinth_program *p, const site *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static plinth_status view_error(plinth_program *p, const site *at, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    const char *op = at->ins->op == OP_TRANSFER ? "transfer" : plinth_op_name((plinth_op)at->ins->op);
    return ctx_error(p->model->ctx, PLINTH_ERR_INTERNAL,
                     "program %" PRIu32 ", %s %" PRIu32 " (%s, node %d), %s: %s (a compiler "
                     "bug)",
                     p->id, at->list, at->index, op, (int)at->ins->node, at->which, why);
}

/* Re-resolves a persistent/state view against the model's final layout:
 * the view's place inside its tensor (offset - base) is kept. */
static plinth_status rebase(plinth_program *p, const site *at, plinth_view *v, int32_t pool,
                            int32_t backend, int32_t tensor)
{
    plinth_model *m = p->model;
    if (pool != POOL_PERSISTENT && pool != POOL_STATE)
        return PLINTH_OK;
    if (tensor < 0)
        return PLINTH_OK; /* the compiler placed it itself */
    if ((uint32_t)tensor >= m->n_tensors)
        return view_error(p, at, "tensor index %d, the model has %" PRIu32, (int)tensor,
                          m->n_tensors);
    const model_tensor *t = &m->tensors[tensor];
    if (t->pool != pool || t->backend != backend)
        return view_error(p, at, "'%s' lives in the %s pool of backend %d, the view says %s "
                          "of %d", t->name, pool_name(t->pool), (int)t->backend,
                          pool_name(pool), (int)backend);
    if (v->offset < v->base)
        return view_error(p, at, "offset %" PRIu64 " before its tensor's base %" PRIu64,
                          v->offset, v->base);
    uint64_t inside = v->offset - v->base;
    v->base = t->offset;
    v->offset = t->offset + inside;
    return PLINTH_OK;
}

/* Points the view at its pool's buffer and checks that every element it can
 * address lies inside its tensor's aligned start and the pool's end. */
static plinth_status resolve(plinth_program *p, const site *at, plinth_view *v, int32_t pool,
                             int32_t backend)
{
    uint64_t size = 0;
    plinth_buffer *buf = pool_buffer(p, backend, pool, &size);
    if (!buf)
        return view_error(p, at, "pool id %d of backend %d", (int)pool, (int)backend);
    if ((unsigned)v->dtype >= PLINTH_DTYPE_COUNT || v->ndim < 0 || v->ndim > PLINTH_MAX_DIMS)
        return view_error(p, at, "dtype %d, ndim %d", (int)v->dtype, (int)v->ndim);
    if (v->base % PLINTH_ALIGNMENT != 0)
        return view_error(p, at, "tensor base %" PRIu64 " in the %s pool is not %u-aligned",
                          v->base, pool_name(pool), PLINTH_ALIGNMENT);

    uint64_t first = 0, end = 0;
    if (!view_span(v, &first, &end))
        return view_error(p, at, "the view's extent overflows (offset %" PRIu64 ")", v->offset);
    if (first < end && (first < v->base || end > size))
        return view_error(p, at,
                          "view bytes [%" PRIu64 ", %" PRIu64 ") outside its tensor at %" PRIu64
                          " in the %s pool of %" PRIu64 " bytes",
                          first, end, v->base, pool_name(pool), size);
    v->buffer = buf;
    v->data = buf->host ? buf->host + v->offset : NULL;
    return PLINTH_OK;
}

static plinth_status bind_list(plinth_program *p, instruction *list, uint32_t n, const char *name)
{
    plinth_model *m = p->model;
    for (uint32_t i = 0; i < n; i++) {
        instruction *ins = &list[i];
        site at = {name, i, ins, "out"};
        if (ins->n_in > PLINTH_MAX_INPUTS || ins->backend < 0 ||
            (uint32_t)ins->backend >= m->n_backends)
            return view_error(p, &at, "%" PRIu32 " inputs, backend %d", ins->n_in,
                              (int)ins->backend);
        plinth_status s = rebase(p, &at, &ins->out, ins->out_pool, ins->backend, ins->out_tensor);
        if (s == PLINTH_OK)
            s = resolve(p, &at, &ins->out, ins->out_pool, ins->backend);
        for (uint32_t k = 0; k < ins->n_in && s == PLINTH_OK; k++) {
            char which[16];
            snprintf(which, sizeof which, "in[%" PRIu32 "]", k);
            at.which = which;
            s = rebase(p, &at, &ins->in[k], ins->in_pool[k], ins->in_backend[k],
                       ins->in_tensor[k]);
            if (s == PLINTH_OK)
                s = resolve(p, &at, &ins->in[k], ins->in_pool[k], ins->in_backend[k]);
        }
        if (s != PLINTH_OK)
            return s;
        if (ins->op == OP_TRANSFER)
            continue; /* the executor copies; no kernel */
        plinth_backend *b = m->be[ins->backend].backend;
        ins->fn = slot_kernel(b, ins->op);
        if (!ins->fn)
            return ctx_error(m->ctx, PLINTH_ERR_INTERNAL,
                             "program %" PRIu32 ", %s %" PRIu32 " (node %d): backend '%s' has "
                             "no kernel for op %s, yet the program was compiled for it",
                             p->id, name, i, (int)ins->node, b->name,
                             plinth_op_name((plinth_op)ins->op));
    }
    return PLINTH_OK;
}

static void release_segments(plinth_program *p, segment *seg, uint32_t n)
{
    for (uint32_t i = 0; seg && i < n; i++) {
        if (seg[i].prepared)
            slot_release(p->model->be[seg[i].backend].backend, seg[i].prepared);
        seg[i].prepared = NULL;
        ctx_free(p->model->ctx, seg[i].prep_code);
        seg[i].prep_code = NULL;
    }
}

void program_free_scratch(plinth_program *p)
{
    for (uint32_t b = 0; b < p->model->n_backends; b++)
        slot_buffer_free(p->model->be[b].backend, &p->be[b].scratch);
}

/* Drops what a previous bind made (prepared handles, buffers). */
void program_unbind(plinth_program *p)
{
    plinth_model *m = p->model;
    release_segments(p, p->seg, p->n_seg);
    for (uint32_t b = 0; b < m->n_backends; b++) {
        slot_buffer_free(m->be[b].backend, &p->be[b].arena);
        slot_buffer_free(m->be[b].backend, &p->be[b].io);
        slot_buffer_free(m->be[b].backend, &p->be[b].scratch);
    }
    ctx_free(m->ctx, p->staging);
    p->staging = NULL;
    p->bound = false;
}

static plinth_status alloc_pool(plinth_program *p, int32_t b, int32_t pool, plinth_buffer *buf)
{
    plinth_model *m = p->model;
    plinth_status s = slot_buffer_alloc(m->be[b].backend, p->be[b].pool_bytes[pool], buf);
    if (s != PLINTH_OK)
        return ctx_error_wrap(m->ctx, s,
                              "program %" PRIu32 ": %s pool of %" PRIu64 " bytes on '%s'", p->id,
                              pool_name(pool), p->be[b].pool_bytes[pool],
                              m->be[b].backend->name);
    return PLINTH_OK;
}

/* Whether backend b has anything of this program: its pools are made only
 * then (a single-backend program makes them all, as it always did). */
static bool uses(const plinth_program *p, uint32_t b)
{
    const program_backend *pb = &p->be[b];
    return b == 0 || pb->n_code || pb->n_fold || pb->n_transfers_in ||
           pb->pool_bytes[POOL_IO] || pb->pool_bytes[POOL_SCRATCH];
}

static plinth_status alloc_pools(plinth_program *p)
{
    plinth_status s = PLINTH_OK;
    for (uint32_t b = 0; b < p->model->n_backends && s == PLINTH_OK; b++) {
        if (!uses(p, b))
            continue;
        s = alloc_pool(p, (int32_t)b, POOL_ARENA, &p->be[b].arena);
        if (s == PLINTH_OK)
            s = alloc_pool(p, (int32_t)b, POOL_IO, &p->be[b].io);
        if (s == PLINTH_OK && p->n_fold > 0)
            s = alloc_pool(p, (int32_t)b, POOL_SCRATCH, &p->be[b].scratch);
    }
    return s;
}

/* The host memory a transfer between two backends neither of which the
 * host can address goes through: the largest such transfer, once. */
static plinth_status alloc_staging(plinth_program *p)
{
    uint64_t need = 0;
    for (int list = 0; list < 2; list++) {
        const instruction *l = list ? p->fold : p->code;
        uint32_t n = list ? p->n_fold : p->n_code;
        for (uint32_t i = 0; i < n; i++)
            if (l[i].op == OP_TRANSFER && !l[i].in[0].buffer->host && !l[i].out.buffer->host) {
                uint64_t bytes = 0, first = 0;
                view_span(&l[i].in[0], &first, &bytes);
                if (bytes - first > need)
                    need = bytes - first;
            }
    }
    if (need == 0)
        return PLINTH_OK;
    p->staging = ctx_malloc(p->model->ctx, need);
    p->staging_bytes = need;
    return p->staging ? PLINTH_OK
                      : ctx_error(p->model->ctx, PLINTH_ERR_NO_MEMORY,
                                  "program %" PRIu32 ": out of memory (%" PRIu64
                                  " bytes of transfer staging)", p->id, need);
}

static bool uses_state_pool(const instruction *ins)
{
    bool any = ins->out_pool == POOL_STATE;
    for (uint32_t k = 0; k < ins->n_in; k++)
        any |= ins->in_pool[k] == POOL_STATE;
    return any;
}

/* A segment of a backend with a whole-program path gets its own prepared
 * program: the stretch of the list that is its own. */
static plinth_status prepare_segment(plinth_program *p, segment *sg)
{
    plinth_model *m = p->model;
    if (sg->backend < 0 || !slot_has_program_path(m->be[sg->backend].backend))
        return PLINTH_OK;
    sg->prep_code = ctx_calloc(m->ctx, sg->n ? sg->n : 1, sizeof *sg->prep_code);
    if (!sg->prep_code)
        return ctx_error(m->ctx, PLINTH_ERR_NO_MEMORY, "program %" PRIu32 ": out of memory",
                         p->id);
    for (uint32_t i = 0; i < sg->n; i++) {
        const instruction *ins = &p->code[sg->first + i];
        sg->prep_code[i] = (plinth_instruction){
            .op = ins->op,
            .n_in = ins->n_in,
            .out = &ins->out,
            .in = ins->in,
            .attrs = &ins->attrs,
        };
    }
    return slot_prepare(m->be[sg->backend].backend, sg->prep_code, sg->n, &sg->prepared);
}

static plinth_status prepare(plinth_program *p)
{
    for (uint32_t k = 0; k < p->n_seg; k++) {
        segment *sg = &p->seg[k];
        sg->uses_state = false;
        for (uint32_t i = 0; i < sg->n; i++)
            sg->uses_state |= uses_state_pool(&p->code[sg->first + i]);
        plinth_status s = prepare_segment(p, sg);
        if (s != PLINTH_OK)
            return s;
    }
    return PLINTH_OK;
}

plinth_status program_rebind_state(plinth_program *p)
{
    if (!p->bound)
        return PLINTH_OK; /* bind (at load) resolves against the bound state */
    for (uint32_t i = 0; i < p->n_code; i++) {
        instruction *ins = &p->code[i];
        site at = {"instruction", i, ins, "out"};
        plinth_status s = PLINTH_OK;
        if (ins->out_pool == POOL_STATE)
            s = resolve(p, &at, &ins->out, POOL_STATE, ins->backend);
        for (uint32_t k = 0; k < ins->n_in && s == PLINTH_OK; k++)
            if (ins->in_pool[k] == POOL_STATE) {
                at.which = "in";
                s = resolve(p, &at, &ins->in[k], POOL_STATE, ins->in_backend[k]);
            }
        if (s != PLINTH_OK)
            return s;
    }
    for (uint32_t k = 0; k < p->n_seg; k++) {
        segment *sg = &p->seg[k];
        if (!sg->uses_state || !sg->prepared)
            continue;
        release_segments(p, sg, 1);
        plinth_status s = prepare_segment(p, sg);
        if (s != PLINTH_OK) {
            /* The program cannot run against a half-prepared list. */
            program_unbind(p);
            return s;
        }
    }
    return PLINTH_OK;
}

static plinth_status check_io(plinth_program *prog)
{
    for (uint32_t i = 0; i < prog->n_inputs; i++)
        for (uint32_t b = 0; b < prog->model->n_backends; b++) {
            const io_slot *s = &prog->inputs[i];
            uint64_t size = prog->be[b].pool_bytes[POOL_IO];
            if (s->at[b] != IO_NONE && (s->at[b] > size || s->bytes > size - s->at[b]))
                return ctx_error(prog->model->ctx, PLINTH_ERR_INTERNAL,
                                 "input '%s' lies outside the io pool of backend %" PRIu32
                                 " (a compiler bug)", s->name, b);
        }
    for (uint32_t i = 0; i < prog->n_outputs; i++) {
        const io_slot *s = &prog->outputs[i];
        uint64_t size = prog->be[s->backend].pool_bytes[POOL_IO];
        if (s->offset > size || s->bytes > size - s->offset)
            return ctx_error(prog->model->ctx, PLINTH_ERR_INTERNAL,
                             "output '%s' lies outside the io pool (a compiler bug)", s->name);
    }
    return PLINTH_OK;
}

plinth_status program_bind(plinth_program *prog)
{
    if (!prog || !prog->model)
        return PLINTH_ERR_INVALID;
    program_unbind(prog); /* rebinding (after a reload) starts over */
    plinth_status s = alloc_pools(prog);
    if (s == PLINTH_OK)
        s = bind_list(prog, prog->code, prog->n_code, "instruction");
    if (s == PLINTH_OK)
        s = bind_list(prog, prog->fold, prog->n_fold, "fold instruction");
    if (s == PLINTH_OK)
        s = check_io(prog);
    if (s == PLINTH_OK)
        s = alloc_staging(prog);
    if (s == PLINTH_OK)
        s = prepare(prog);
    if (s != PLINTH_OK) {
        program_unbind(prog);
        return s;
    }
    prog->stats.persistent_bytes = prog->model->persistent_bytes;
    prog->stats.state_bytes = prog->model->state_bytes;
    prog->bound = true;
    return PLINTH_OK;
}

/* --------------------------------------------------------- executor --- */

/* Transfers [first, first + n) of `code`: each copies its source's bytes
 * into its destination by the cheapest route the two buffers allow. */
static plinth_status run_transfers(plinth_program *p, const instruction *code, uint32_t first,
                                   uint32_t n)
{
    plinth_model *m = p->model;
    for (uint32_t i = first; i < first + n; i++) {
        const instruction *t = &code[i];
        plinth_status s = slot_transfer(m->be[t->in_backend[0]].backend, &t->in[0],
                                        m->be[t->backend].backend, &t->out, p->staging,
                                        p->staging_bytes);
        if (s != PLINTH_OK)
            return ctx_error_wrap(m->ctx, s, "transfer %" PRIu32 " (node %d, '%s' -> '%s')", i,
                                  (int)t->node, m->be[t->in_backend[0]].backend->name,
                                  m->be[t->backend].backend->name);
    }
    return PLINTH_OK;
}

/* The static executor: the segments in order, each one backend's kernels
 * (or its prepared program) or a stretch of transfers. A program on one
 * backend is one segment, so its run is the one flat loop it always was. */
static plinth_status run_segments(plinth_program *p, const segment *seg, uint32_t n_seg,
                                  const instruction *code, const char *what)
{
    plinth_model *m = p->model;
    for (uint32_t k = 0; k < n_seg; k++) {
        const segment *sg = &seg[k];
        plinth_status s;
        if (sg->backend < 0)
            s = run_transfers(p, code, sg->first, sg->n);
        else if (sg->prepared)
            s = slot_execute(m->be[sg->backend].backend, sg->prepared);
        else
            s = slot_run_list(m->be[sg->backend].backend, code, sg->first, sg->n, what);
        if (s != PLINTH_OK)
            return s;
    }
    return PLINTH_OK;
}

/* ------------------------------------------------------------ folds --- */

plinth_status program_run_folds(plinth_program *prog)
{
    if (!prog || !prog->model)
        return PLINTH_ERR_INVALID;
    if (prog->n_fold == 0)
        return PLINTH_OK;
    plinth_model *m = prog->model;
    if (!prog->bound)
        return ctx_error(m->ctx, PLINTH_ERR_INTERNAL,
                         "program %" PRIu32 ": folds run before bind", prog->id);
    /* The model frees the scratch after each round of folds: allocate it
     * again and re-point the views into it (the buffer struct is the same,
     * its host address may not be). */
    for (uint32_t b = 0; b < m->n_backends; b++) {
        program_backend *pb = &prog->be[b];
        if (!uses(prog, b) || pb->scratch.handle || pb->scratch.host)
            continue;
        plinth_status s = alloc_pool(prog, (int32_t)b, POOL_SCRATCH, &pb->scratch);
        if (s != PLINTH_OK)
            return s;
    }
    for (uint32_t i = 0; i < prog->n_fold; i++) {
        instruction *ins = &prog->fold[i];
        const plinth_buffer *sb = &prog->be[ins->backend].scratch;
        if (ins->out_pool == POOL_SCRATCH)
            ins->out.data = sb->host ? sb->host + ins->out.offset : NULL;
        for (uint32_t k = 0; k < ins->n_in; k++) {
            if (ins->in_pool[k] != POOL_SCRATCH)
                continue;
            const plinth_buffer *ib = &prog->be[ins->in_backend[k]].scratch;
            ins->in[k].data = ib->host ? ib->host + ins->in[k].offset : NULL;
        }
    }
    return run_segments(prog, prog->fold_seg, prog->n_fold_seg, prog->fold, "fold instruction");
}

plinth_status plinth_program_run(plinth_program *prog)
{
    if (!prog || !prog->model)
        return PLINTH_ERR_INVALID;
    plinth_model *m = prog->model;
    plinth_status s = model_enter(m, "run");
    if (s != PLINTH_OK)
        return s;
    if (!m->loaded || !prog->bound) {
        model_leave(m);
        return ctx_error(m->ctx, PLINTH_ERR_INVALID,
                         "program %" PRIu32 ": load the model before running", prog->id);
    }
    s = run_segments(prog, prog->seg, prog->n_seg, prog->code, "instruction");
    model_leave(m);
    return s;
}

/* --------------------------------------------------- inputs, outputs --- */

uint32_t plinth_program_input_count(const plinth_program *prog)
{
    return prog ? prog->n_inputs : 0;
}

uint32_t plinth_program_output_count(const plinth_program *prog)
{
    return prog ? prog->n_outputs : 0;
}

/* Linear: meant to be called once per name, not per run. */
static int32_t slot_index(const io_slot *slots, uint32_t n, const char *name)
{
    if (!name)
        return -1;
    for (uint32_t i = 0; i < n; i++)
        if (slots[i].name && strcmp(slots[i].name, name) == 0)
            return (int32_t)i;
    return -1;
}

int32_t plinth_program_input_index(const plinth_program *prog, const char *name)
{
    return prog ? slot_index(prog->inputs, prog->n_inputs, name) : -1;
}

int32_t plinth_program_output_index(const plinth_program *prog, const char *name)
{
    return prog ? slot_index(prog->outputs, prog->n_outputs, name) : -1;
}

static plinth_status slot_info(const plinth_program *prog, const io_slot *slots, uint32_t n,
                               uint32_t index, const char *what, plinth_node_info *out)
{
    if (!prog || !out)
        return PLINTH_ERR_INVALID;
    if (index >= n)
        return ctx_error(prog->model->ctx, PLINTH_ERR_INVALID,
                         "program %" PRIu32 " has %" PRIu32 " %ss; no %s %" PRIu32, prog->id, n,
                         what, what, index);
    plinth_node_info info = slots[index].info;
    info.struct_size = sizeof info;
    info.name = slots[index].name;
    if (!sized_out(out, &info, sizeof info))
        return ctx_error(prog->model->ctx, PLINTH_ERR_INVALID, "%s_info: out->struct_size is %u",
                         what, out->struct_size);
    return PLINTH_OK;
}

plinth_status plinth_program_input_info(const plinth_program *prog, uint32_t index,
                                        plinth_node_info *out)
{
    return slot_info(prog, prog ? prog->inputs : NULL, prog ? prog->n_inputs : 0, index, "input",
                     out);
}

plinth_status plinth_program_output_info(const plinth_program *prog, uint32_t index,
                                         plinth_node_info *out)
{
    return slot_info(prog, prog ? prog->outputs : NULL, prog ? prog->n_outputs : 0, index,
                     "output", out);
}

/* The checks set_input and get_output share; returns the slot or NULL with
 * the error on the context. */
static const io_slot *io_check(plinth_program *prog, const io_slot *slots, uint32_t n,
                               uint32_t index, const void *data, size_t bytes, const char *what,
                               plinth_status *s)
{
    plinth_context *ctx = prog->model->ctx;
    if (index >= n) {
        *s = ctx_error(ctx, PLINTH_ERR_INVALID,
                       "program %" PRIu32 " has %" PRIu32 " %ss; no %s %" PRIu32, prog->id, n,
                       what, what, index);
        return NULL;
    }
    const io_slot *slot = &slots[index];
    if (bytes != slot->bytes) {
        char sh[96];
        *s = ctx_error(ctx, PLINTH_ERR_INVALID,
                       "%s '%s' is %s %s, %" PRIu64 " bytes; got %zu bytes", what, slot->name,
                       plinth_dtype_name((plinth_dtype)slot->info.dtype),
                       shape_str(slot->info.shape, slot->info.ndim, sh, sizeof sh), slot->bytes,
                       bytes);
        return NULL;
    }
    if (!data && bytes > 0) {
        *s = ctx_error(ctx, PLINTH_ERR_INVALID, "%s '%s': data is NULL", what, slot->name);
        return NULL;
    }
    if (!prog->bound) {
        *s = ctx_error(ctx, PLINTH_ERR_INVALID,
                       "%s '%s': load the model before setting inputs or reading outputs",
                       what, slot->name);
        return NULL;
    }
    return slot;
}

plinth_status plinth_program_set_input(plinth_program *prog, uint32_t index, const void *data,
                                       size_t bytes)
{
    if (!prog || !prog->model)
        return PLINTH_ERR_INVALID;
    plinth_status s = model_enter(prog->model, "set_input");
    if (s != PLINTH_OK)
        return s;
    const io_slot *slot =
        io_check(prog, prog->inputs, prog->n_inputs, index, data, bytes, "input", &s);
    /* A copy for each backend that reads the input. */
    for (uint32_t b = 0; slot && b < prog->model->n_backends && s == PLINTH_OK; b++)
        if (slot->at[b] != IO_NONE)
            s = slot_upload(prog->model->be[b].backend, &prog->be[b].io, slot->at[b], data,
                            bytes);
    model_leave(prog->model);
    return s;
}

plinth_status plinth_program_get_output(plinth_program *prog, uint32_t index, void *data,
                                        size_t bytes)
{
    if (!prog || !prog->model)
        return PLINTH_ERR_INVALID;
    plinth_status s = model_enter(prog->model, "get_output");
    if (s != PLINTH_OK)
        return s;
    const io_slot *slot =
        io_check(prog, prog->outputs, prog->n_outputs, index, data, bytes, "output", &s);
    if (slot)
        s = slot_download(prog->model->be[slot->backend].backend, &prog->be[slot->backend].io,
                          slot->offset, data, bytes);
    model_leave(prog->model);
    return s;
}

/* --------------------------------------------------------- teardown --- */

static void slots_free(plinth_context *ctx, io_slot *slots, uint32_t n)
{
    for (uint32_t i = 0; slots && i < n; i++)
        ctx_free(ctx, slots[i].name);
    ctx_free(ctx, slots);
}

void program_free(plinth_program *prog)
{
    if (!prog)
        return;
    plinth_model *m = prog->model;
    plinth_context *ctx = m->ctx;
    program_unbind(prog);
    for (uint32_t i = 0; i < m->n_programs; i++) {
        if (m->programs[i] != prog)
            continue;
        memmove(&m->programs[i], &m->programs[i + 1],
                (m->n_programs - i - 1) * sizeof *m->programs);
        m->n_programs--;
        break;
    }
    ctx_free(ctx, prog->code);
    ctx_free(ctx, prog->fold);
    ctx_free(ctx, prog->code_note);
    ctx_free(ctx, prog->fold_note);
    ctx_free(ctx, prog->seg);
    ctx_free(ctx, prog->fold_seg);
    slots_free(ctx, prog->inputs, prog->n_inputs);
    slots_free(ctx, prog->outputs, prog->n_outputs);
    ctx_free(ctx, prog->plan_json);
    ctx_free(ctx, prog);
    model_release(m);
}

void plinth_program_destroy(plinth_program *prog)
{
    program_free(prog);
}
