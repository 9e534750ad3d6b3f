/*
 * plan_json.c — a program's memory plan as JSON (plinth_program_plan_json):
 * every instruction with its views' pools, offsets, shapes and strides, the
 * io slots and the plan's figures. Built with cJSON on the first request
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

/* A view as {"pool", "offset", "base", "shape", "strides", "dtype"} with
 * the logical rank; model tensors also carry their "tensor" name. */
static cJSON *json_view(const plinth_model *m, const plinth_view *v, int32_t pool,
                        int32_t tensor)
{
    cJSON *o = cJSON_CreateObject();
    int lead = PLINTH_MAX_DIMS - v->ndim;
    if (!o)
        return NULL;
    bool ok = cJSON_AddStringToObject(o, "pool", pool_name(pool)) &&
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

static cJSON *json_code(const plinth_model *m, const instruction *list, uint32_t n)
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
        ok = cJSON_AddStringToObject(o, "op", plinth_op_name((plinth_op)ins->op)) &&
             cJSON_AddNumberToObject(o, "node", ins->node) &&
             add_owned(o, "out", json_view(m, &ins->out, ins->out_pool, ins->out_tensor));
        cJSON *in = ok ? cJSON_AddArrayToObject(o, "in") : NULL;
        ok = in != NULL;
        for (uint32_t j = 0; ok && j < ins->n_in; j++)
            ok = push_owned(in, json_view(m, &ins->in[j], ins->in_pool[j], ins->in_tensor[j]));
    }
    if (!ok) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

static cJSON *json_slots(const io_slot *s, uint32_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (uint32_t i = 0; a && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!push_owned(a, o)) {
            cJSON_Delete(a);
            return NULL;
        }
        bool ok = cJSON_AddStringToObject(o, "name", s[i].name) &&
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

/* The plan of `p` as JSON text from ctx, or NULL when memory ran out. */
static char *plan_json(const plinth_program *p)
{
    const plinth_model *m = p->model;
    const plinth_plan_stats *s = &p->stats;
    cJSON *root = cJSON_CreateObject();
    bool ok = root &&
              cJSON_AddNumberToObject(root, "arena_bytes", (double)s->arena_bytes) &&
              cJSON_AddNumberToObject(root, "lower_bound", (double)s->lower_bound) &&
              cJSON_AddNumberToObject(root, "naive_bytes", (double)s->naive_bytes) &&
              cJSON_AddNumberToObject(root, "io_bytes", (double)s->io_bytes) &&
              cJSON_AddNumberToObject(root, "scratch_bytes",
                                      (double)p->pool_bytes[POOL_SCRATCH]) &&
              cJSON_AddNumberToObject(root, "n_inplace", s->n_inplace) &&
              cJSON_AddNumberToObject(root, "n_views", s->n_views) &&
              add_owned(root, "instructions", json_code(m, p->code, p->n_code)) &&
              add_owned(root, "fold", json_code(m, p->fold, p->n_fold)) &&
              add_owned(root, "inputs", json_slots(p->inputs, p->n_inputs)) &&
              add_owned(root, "outputs", json_slots(p->outputs, p->n_outputs));
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
