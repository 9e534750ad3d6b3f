/*
 * plan_json.c — a program's memory plan as JSON (plinth_program_plan_json):
 * every instruction with its backend and its views' backends, pools,
 * offsets, shapes and strides (transfers as op "transfer"), the io slots,
 * each backend's pools and the plan's figures. Built with cJSON on the first request
 * (compiling does not pay for it) and kept by the program.
 */
#include "internal.h"

#include <cJSON.h>
#include <string.h>

/* Adds `item` under `key`, or deletes it: cJSON does not take an item it
 * failed to add (the key's copy can fail), so it would be lost. */
static bool add_owned(cJSON *o, const char *key, cJSON *item)
{
    if (!item)
        return false;
    if (!cJSON_AddItemToObject(o, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static bool push_owned(cJSON *a, cJSON *item)
{
    if (!item)
        return false;
    if (!cJSON_AddItemToArray(a, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static cJSON *json_dims(const int64_t *v, int32_t ndim)
{
    cJSON *a = cJSON_CreateArray();
    for (int32_t d = 0; a && d < ndim; d++)
        if (!push_owned(a, cJSON_CreateNumber((double)v[d]))) {
            cJSON_Delete(a);
            return NULL;
        }
    return a;
}

/* A view as {"backend", "pool", "offset", "base", "shape", "strides",
 * "dtype"} with the logical rank; model tensors also carry their "tensor"
 * name. */
static cJSON *json_view(const plinth_model *m, const plinth_view *v, int32_t backend,
                        int32_t pool, int32_t tensor)
{
    cJSON *o = cJSON_CreateObject();
    int lead = PLINTH_MAX_DIMS - v->ndim;
    if (!o)
        return NULL;
    bool ok = cJSON_AddStringToObject(o, "backend", m->be[backend].backend->name) &&
              cJSON_AddStringToObject(o, "pool", pool_name(pool)) &&
              cJSON_AddNumberToObject(o, "offset", (double)v->offset) &&
              cJSON_AddNumberToObject(o, "base", (double)v->base) &&
              add_owned(o, "shape", json_dims(v->shape + lead, v->ndim)) &&
              add_owned(o, "strides", json_dims(v->stride + lead, v->ndim)) &&
              cJSON_AddStringToObject(o, "dtype", plinth_dtype_name((plinth_dtype)v->dtype));
    if (ok && tensor >= 0 && (uint32_t)tensor < m->n_tensors)
        ok = cJSON_AddStringToObject(o, "tensor", m->tensors[tensor].name) != NULL;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *json_code(const plinth_model *m, const instruction *list,
                        const placement_note *notes, uint32_t n)
{
    cJSON *a = cJSON_CreateArray();
    bool ok = a != NULL;
    for (uint32_t i = 0; ok && i < n; i++) {
        const instruction *ins = &list[i];
        cJSON *o = cJSON_CreateObject();
        if (!push_owned(a, o)) {
            ok = false;
            break;
        }
        const char *op =
            ins->op == OP_TRANSFER ? "transfer" : plinth_op_name((plinth_op)ins->op);
        ok = cJSON_AddStringToObject(o, "op", op) &&
             cJSON_AddNumberToObject(o, "node", ins->node) &&
             cJSON_AddStringToObject(o, "backend", m->be[ins->backend].backend->name) &&
             (!notes[i].pinned || cJSON_AddTrueToObject(o, "pinned")) &&
             (!(notes[i].no_kernel | notes[i].refused) ||
              (cJSON_AddNumberToObject(o, "no_kernel_mask", notes[i].no_kernel) &&
               cJSON_AddNumberToObject(o, "refused_mask", notes[i].refused))) &&
             add_owned(o, "out", json_view(m, &ins->out, ins->backend, ins->out_pool,
                                           ins->out_tensor));
        cJSON *in = ok ? cJSON_AddArrayToObject(o, "in") : NULL;
        ok = in != NULL;
        for (uint32_t j = 0; ok && j < ins->n_in; j++)
            ok = push_owned(in, json_view(m, &ins->in[j], ins->in_backend[j], ins->in_pool[j],
                                          ins->in_tensor[j]));
    }
    if (!ok) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

static cJSON *json_slots(const plinth_model *m, const io_slot *s, uint32_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (uint32_t i = 0; a && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!push_owned(a, o)) {
            cJSON_Delete(a);
            return NULL;
        }
        bool ok = cJSON_AddStringToObject(o, "name", s[i].name) &&
                  cJSON_AddStringToObject(o, "backend", m->be[s[i].backend].backend->name) &&
                  cJSON_AddStringToObject(o, "dtype",
                                          plinth_dtype_name((plinth_dtype)s[i].info.dtype)) &&
                  add_owned(o, "shape", json_dims(s[i].info.shape, s[i].info.ndim)) &&
                  cJSON_AddNumberToObject(o, "offset", (double)s[i].offset) &&
                  cJSON_AddNumberToObject(o, "bytes", (double)s[i].bytes);
        if (!ok) {
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

/* Each backend's pools and share of the work, in list order. */
static cJSON *json_backends(const plinth_program *p)
{
    const plinth_model *m = p->model;
    cJSON *a = cJSON_CreateArray();
    for (uint32_t b = 0; a && b < m->n_backends; b++) {
        plinth_backend_plan bp = {.struct_size = sizeof bp};
        cJSON *o = cJSON_CreateObject();
        if (plinth_program_backend_plan(p, b, &bp) != PLINTH_OK || !push_owned(a, o)) {
            cJSON_Delete(a);
            return NULL;
        }
        bool ok = cJSON_AddStringToObject(o, "name", m->be[b].backend->name) &&
                  cJSON_AddNumberToObject(o, "instructions", bp.n_instructions) &&
                  cJSON_AddNumberToObject(o, "fold_instructions", bp.n_fold_instructions) &&
                  cJSON_AddNumberToObject(o, "transfers_in", bp.n_transfers_in) &&
                  cJSON_AddNumberToObject(o, "transfer_bytes_in", (double)bp.transfer_bytes_in) &&
                  cJSON_AddNumberToObject(o, "arena_bytes", (double)bp.arena_bytes) &&
                  cJSON_AddNumberToObject(o, "lower_bound", (double)bp.lower_bound) &&
                  cJSON_AddNumberToObject(o, "io_bytes", (double)bp.io_bytes) &&
                  cJSON_AddNumberToObject(o, "persistent_bytes", (double)bp.persistent_bytes) &&
                  cJSON_AddNumberToObject(o, "state_bytes", (double)bp.state_bytes) &&
                  cJSON_AddNumberToObject(o, "replicas", bp.n_replicas) &&
                  cJSON_AddNumberToObject(o, "replica_bytes", (double)bp.replica_bytes);
        if (!ok) {
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

/* The plan of `p` as JSON text from ctx, or NULL when memory ran out. */
static char *plan_json(const plinth_program *p)
{
    const plinth_model *m = p->model;
    const plinth_plan_stats *s = &p->stats;
    uint64_t scratch = 0;
    for (uint32_t b = 0; b < m->n_backends; b++)
        scratch += p->be[b].pool_bytes[POOL_SCRATCH];
    cJSON *root = cJSON_CreateObject();
    bool ok = root &&
              cJSON_AddNumberToObject(root, "arena_bytes", (double)s->arena_bytes) &&
              cJSON_AddNumberToObject(root, "lower_bound", (double)s->lower_bound) &&
              cJSON_AddNumberToObject(root, "naive_bytes", (double)s->naive_bytes) &&
              cJSON_AddNumberToObject(root, "io_bytes", (double)s->io_bytes) &&
              cJSON_AddNumberToObject(root, "scratch_bytes", (double)scratch) &&
              cJSON_AddNumberToObject(root, "n_inplace", s->n_inplace) &&
              cJSON_AddNumberToObject(root, "n_views", s->n_views) &&
              cJSON_AddNumberToObject(root, "n_transfers", s->n_transfers) &&
              cJSON_AddNumberToObject(root, "transfer_bytes", (double)s->transfer_bytes) &&
              cJSON_AddNumberToObject(root, "n_shared", s->n_shared) &&
              cJSON_AddNumberToObject(root, "n_fallback", s->n_fallback) &&
              cJSON_AddNumberToObject(root, "n_segments", s->n_segments) &&
              cJSON_AddNumberToObject(root, "n_load_transfers", s->n_load_transfers) &&
              add_owned(root, "backends", json_backends(p)) &&
              add_owned(root, "instructions", json_code(m, p->code, p->code_note, p->n_code)) &&
              add_owned(root, "fold", json_code(m, p->fold, p->fold_note, p->n_fold)) &&
              add_owned(root, "inputs", json_slots(m, p->inputs, p->n_inputs)) &&
              add_owned(root, "outputs", json_slots(m, p->outputs, p->n_outputs));
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

plinth_status plinth_program_plan_json(const plinth_program *prog, const char **out_json)
{
    if (!out_json)
        return PLINTH_ERR_INVALID;
    *out_json = NULL;
    if (!prog)
        return PLINTH_ERR_INVALID;
    plinth_context *ctx = prog->model->ctx;
    if (!prog->plan_json) {
        plinth_context *prev = json_enter(ctx); /* cJSON allocates from ctx */
        char *text = plan_json(prog);
        json_leave(prev);
        if (!text)
            return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "plan JSON: out of memory");
        /* Built once, on first request, and kept: a cache, not state. */
        ((plinth_program *)prog)->plan_json = text;
    }
    *out_json = prog->plan_json;
    return PLINTH_OK;
}
