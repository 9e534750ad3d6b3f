/*
 * program.c — a compiled program after compile: binding its planned views to
 * real buffers, the static executor, inputs and outputs, plan figures.
 *
 * Sections: binding (pools, view resolution and bounds, kernels, prepare);
 * folds; the executor; inputs and outputs; plan figures; teardown.
 *
 * Everything that can be decided before a run is decided in program_bind:
 * views carry their buffer and host address, instructions their kernel. A
 * run is one flat loop over (kernel, out, in, attrs) with nothing to look up.
 */
#include "internal.h"

#include "slots.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- binding --- */

/* The buffer behind a pool id and the pool's planned size. */
static plinth_buffer *pool_buffer(plinth_program *p, int32_t pool, uint64_t *size)
{
    plinth_model *m = p->model;
    switch (pool) {
    case POOL_ARENA: *size = p->pool_bytes[POOL_ARENA]; return &p->arena;
    case POOL_PERSISTENT: *size = m->persistent_bytes; return &m->persistent;
    case POOL_STATE: *size = m->state_bytes; return &m->state;
    case POOL_IO: *size = p->pool_bytes[POOL_IO]; return &p->io;
    case POOL_SCRATCH: *size = p->pool_bytes[POOL_SCRATCH]; return &p->scratch;
    default: *size = 0; return NULL;
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
    return ctx_error(p->model->ctx, PLINTH_ERR_INTERNAL,
                     "program %" PRIu32 ", %s %" PRIu32 " (%s, node %d), %s: %s (a compiler "
                     "bug)",
                     p->id, at->list, at->index, plinth_op_name((plinth_op)at->ins->op),
                     (int)at->ins->node, at->which, why);
}

/* Re-resolves a persistent/state view against the model's final layout:
 * the view's place inside its tensor (offset - base) is kept. */
static plinth_status rebase(plinth_program *p, const site *at, plinth_view *v, int32_t pool,
                            int32_t tensor)
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
    if (t->pool != pool)
        return view_error(p, at, "'%s' lives in the %s pool, the view says %s", t->name,
                          pool_name(t->pool), pool_name(pool));
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
static plinth_status resolve(plinth_program *p, const site *at, plinth_view *v, int32_t pool)
{
    uint64_t size = 0;
    plinth_buffer *buf = pool_buffer(p, pool, &size);
    if (!buf)
        return view_error(p, at, "pool id %d", (int)pool);
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
    plinth_backend *b = p->model->backend;
    for (uint32_t i = 0; i < n; i++) {
        instruction *ins = &list[i];
        site at = {name, i, ins, "out"};
        if (ins->n_in > PLINTH_MAX_INPUTS)
            return view_error(p, &at, "%" PRIu32 " inputs", ins->n_in);
        plinth_status s = rebase(p, &at, &ins->out, ins->out_pool, ins->out_tensor);
        if (s == PLINTH_OK)
            s = resolve(p, &at, &ins->out, ins->out_pool);
        for (uint32_t k = 0; k < ins->n_in && s == PLINTH_OK; k++) {
            char which[16];
            snprintf(which, sizeof which, "in[%" PRIu32 "]", k);
            at.which = which;
            s = rebase(p, &at, &ins->in[k], ins->in_pool[k], ins->in_tensor[k]);
            if (s == PLINTH_OK)
                s = resolve(p, &at, &ins->in[k], ins->in_pool[k]);
        }
        if (s != PLINTH_OK)
            return s;
        ins->fn = slot_kernel(b, ins->op);
        if (!ins->fn)
            return ctx_error(p->model->ctx, PLINTH_ERR_INTERNAL,
                             "program %" PRIu32 ", %s %" PRIu32 " (node %d): backend '%s' has "
                             "no kernel for op %s, yet the program was compiled for it",
                             p->id, name, i, (int)ins->node, b->name,
                             plinth_op_name((plinth_op)ins->op));
    }
    return PLINTH_OK;
}

/* Drops what a previous bind made (prepared handle, buffers). */
void program_unbind(plinth_program *p)
{
    plinth_backend *b = p->model->backend;
    if (p->prepared)
        slot_release(b, p->prepared);
    p->prepared = NULL;
    ctx_free(b->ctx, p->prep_code);
    p->prep_code = NULL;
    slot_buffer_free(b, &p->arena);
    slot_buffer_free(b, &p->io);
    slot_buffer_free(b, &p->scratch);
    p->bound = false;
}

static plinth_status alloc_pool(plinth_program *p, int32_t pool, plinth_buffer *buf)
{
    plinth_model *m = p->model;
    plinth_status s = slot_buffer_alloc(m->backend, p->pool_bytes[pool], buf);
    if (s != PLINTH_OK)
        return ctx_error_wrap(m->ctx, s, "program %" PRIu32 ": %s pool of %" PRIu64 " bytes",
                              p->id, pool_name(pool), p->pool_bytes[pool]);
    return PLINTH_OK;
}

static plinth_status prepare(plinth_program *p)
{
    plinth_backend *b = p->model->backend;
    if (!slot_has_program_path(b))
        return PLINTH_OK;
    p->prep_code = ctx_calloc(b->ctx, p->n_code, sizeof *p->prep_code);
    if (!p->prep_code)
        return ctx_error(p->model->ctx, PLINTH_ERR_NO_MEMORY, "program %" PRIu32
                         ": out of memory", p->id);
    for (uint32_t i = 0; i < p->n_code; i++) {
        const instruction *ins = &p->code[i];
        p->prep_code[i] = (plinth_instruction){
            .op = ins->op,
            .n_in = ins->n_in,
            .out = &ins->out,
            .in = ins->in,
            .attrs = &ins->attrs,
        };
    }
    return slot_prepare(b, p->prep_code, p->n_code, &p->prepared);
}

plinth_status program_bind(plinth_program *prog)
{
    if (!prog || !prog->model)
        return PLINTH_ERR_INVALID;
    program_unbind(prog); /* rebinding (after a reload) starts over */
    plinth_status s = alloc_pool(prog, POOL_ARENA, &prog->arena);
    if (s == PLINTH_OK)
        s = alloc_pool(prog, POOL_IO, &prog->io);
    if (s == PLINTH_OK && prog->n_fold > 0)
        s = alloc_pool(prog, POOL_SCRATCH, &prog->scratch);
    if (s == PLINTH_OK)
        s = bind_list(prog, prog->code, prog->n_code, "instruction");
    if (s == PLINTH_OK)
        s = bind_list(prog, prog->fold, prog->n_fold, "fold instruction");
    for (uint32_t i = 0; i < prog->n_inputs && s == PLINTH_OK; i++)
        if (prog->inputs[i].offset > prog->pool_bytes[POOL_IO] ||
            prog->inputs[i].bytes > prog->pool_bytes[POOL_IO] - prog->inputs[i].offset)
            s = ctx_error(prog->model->ctx, PLINTH_ERR_INTERNAL,
                          "input '%s' lies outside the io pool (a compiler bug)",
                          prog->inputs[i].name);
    for (uint32_t i = 0; i < prog->n_outputs && s == PLINTH_OK; i++)
        if (prog->outputs[i].offset > prog->pool_bytes[POOL_IO] ||
            prog->outputs[i].bytes > prog->pool_bytes[POOL_IO] - prog->outputs[i].offset)
            s = ctx_error(prog->model->ctx, PLINTH_ERR_INTERNAL,
                          "output '%s' lies outside the io pool (a compiler bug)",
                          prog->outputs[i].name);
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
    if (!prog->scratch.handle && !prog->scratch.host) {
        plinth_status s = alloc_pool(prog, POOL_SCRATCH, &prog->scratch);
        if (s != PLINTH_OK)
            return s;
    }
    for (uint32_t i = 0; i < prog->n_fold; i++) {
        instruction *ins = &prog->fold[i];
        if (ins->out_pool == POOL_SCRATCH)
            ins->out.data = prog->scratch.host ? prog->scratch.host + ins->out.offset : NULL;
        for (uint32_t k = 0; k < ins->n_in; k++)
            if (ins->in_pool[k] == POOL_SCRATCH)
                ins->in[k].data =
                    prog->scratch.host ? prog->scratch.host + ins->in[k].offset : NULL;
    }
    return slot_run_list(prog->model->backend, prog->fold, prog->n_fold, "fold instruction");
}

/* --------------------------------------------------------- executor --- */

plinth_status plinth_program_run(plinth_program *prog)
{
    if (!prog || !prog->model)
        return PLINTH_ERR_INVALID;
    plinth_model *m = prog->model;
    plinth_backend *b = m->backend;
    plinth_status s = model_enter(m, "run");
    if (s != PLINTH_OK)
        return s;
    if (!m->loaded || !prog->bound) {
        model_leave(m);
        return ctx_error(m->ctx, PLINTH_ERR_INVALID,
                         "program %" PRIu32 ": load the model before running", prog->id);
    }
    s = prog->prepared ? slot_execute(b, prog->prepared)
                       : slot_run_list(b, prog->code, prog->n_code, "instruction");
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
    if (slot)
        s = slot_upload(prog->model->backend, &prog->io, slot->offset, data, bytes);
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
        s = slot_download(prog->model->backend, &prog->io, slot->offset, data, bytes);
    model_leave(prog->model);
    return s;
}

/* ----------------------------------------------------- plan figures --- */

plinth_status plinth_program_plan_stats(const plinth_program *prog, plinth_plan_stats *out)
{
    if (!prog || !out)
        return PLINTH_ERR_INVALID;
    plinth_plan_stats st = prog->stats;
    st.struct_size = sizeof st;
    /* The model's pools grow while programs are compiled: report them now. */
    st.persistent_bytes = prog->model->persistent_bytes;
    st.state_bytes = prog->model->state_bytes;
    if (!sized_out(out, &st, sizeof st))
        return ctx_error(prog->model->ctx, PLINTH_ERR_INVALID,
                         "plan_stats: out->struct_size is %u", out->struct_size);
    return PLINTH_OK;
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
    slots_free(ctx, prog->inputs, prog->n_inputs);
    slots_free(ctx, prog->outputs, prog->n_outputs);
    ctx_free(ctx, prog->plan_json);
    ctx_free(ctx, prog->prep_code);
    ctx_free(ctx, prog);
    model_release(m);
}

void plinth_program_destroy(plinth_program *prog)
{
    program_free(prog);
}
