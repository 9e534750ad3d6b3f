/*
 * state_set.c — more state pools for one model (plinth.h, "State sets"):
 * several sequences share the weights and the compiled programs, each with
 * its own KV cache.
 *
 * A set is one buffer per backend of the model, of that backend's planned
 * state size. Binding copies the set's buffer descriptions into the model's
 * `be[b].state` (which every state view points at) and lets each program
 * re-resolve its state views and prepare again what used them. Nothing of
 * the state itself is copied.
 */
#include "internal.h"

#include "slots.h"

#include <inttypes.h>
#include <string.h>

struct plinth_state_set {
    plinth_model *model;  /* retained */
    uint32_t generation;  /* the model's load count when made */
    plinth_buffer buf[PLINTH_MAX_BACKENDS];
};

static plinth_status require_loaded(plinth_model *m, const char *what)
{
    if (!m->loaded)
        return ctx_error(m->ctx, PLINTH_ERR_INVALID, "%s: load the model first", what);
    return PLINTH_OK;
}

static void set_free(plinth_state_set *set)
{
    plinth_model *m = set->model;
    for (uint32_t b = 0; b < m->n_backends; b++)
        slot_buffer_free(m->be[b].backend, &set->buf[b]);
    ctx_free(m->ctx, set);
}

plinth_status plinth_state_set_create(plinth_model *model, plinth_state_set **out)
{
    if (!out)
        return PLINTH_ERR_INVALID;
    *out = NULL;
    if (!model)
        return PLINTH_ERR_INVALID;
    plinth_status s = require_loaded(model, "state set");
    if (s != PLINTH_OK)
        return s;
    plinth_state_set *set = ctx_calloc(model->ctx, 1, sizeof *set);
    if (!set)
        return ctx_error(model->ctx, PLINTH_ERR_NO_MEMORY, "state set: out of memory");
    set->model = model;
    set->generation = model->generation;
    for (uint32_t b = 0; b < model->n_backends && s == PLINTH_OK; b++) {
        model_backend *mb = &model->be[b];
        s = slot_buffer_alloc(mb->backend, mb->state_bytes, &set->buf[b]);
        if (s != PLINTH_OK)
            s = ctx_error_wrap(model->ctx, s, "state set: %" PRIu64 " bytes on '%s'",
                               mb->state_bytes, mb->backend->name);
        else
            s = slot_zero(mb->backend, &set->buf[b], 0, mb->state_bytes);
    }
    if (s != PLINTH_OK) {
        set_free(set);
        return s;
    }
    model->refs++;
    *out = set;
    return PLINTH_OK;
}

/* Points the model's programs at `set` (NULL: the model's own pool). */
static plinth_status bind(plinth_model *m, plinth_state_set *set)
{
    if (m->bound == set)
        return PLINTH_OK;
    for (uint32_t b = 0; b < m->n_backends; b++)
        m->be[b].state = set ? set->buf[b] : m->be[b].own_state;
    m->bound = set;
    plinth_status s = PLINTH_OK;
    for (uint32_t i = 0; i < m->n_programs; i++) {
        plinth_status r = program_rebind_state(m->programs[i]);
        if (s == PLINTH_OK)
            s = r;
    }
    return s;
}

plinth_status plinth_model_bind_state(plinth_model *model, plinth_state_set *set)
{
    if (!model)
        return PLINTH_ERR_INVALID;
    plinth_status s = require_loaded(model, "bind_state");
    if (s != PLINTH_OK)
        return s;
    if (set && set->model != model)
        return ctx_error(model->ctx, PLINTH_ERR_INVALID,
                         "bind_state: the state set belongs to another model");
    if (set && set->generation != model->generation)
        return ctx_error(model->ctx, PLINTH_ERR_INVALID,
                         "bind_state: the state set was made before the model was loaded "
                         "again; make a new one");
    s = model_enter(model, "bind_state");
    if (s != PLINTH_OK)
        return s;
    s = bind(model, set);
    model_leave(model);
    return s;
}

plinth_state_set *plinth_model_bound_state(const plinth_model *model)
{
    return model ? model->bound : NULL;
}

void plinth_state_set_destroy(plinth_state_set *set)
{
    if (!set)
        return;
    plinth_model *m = set->model;
    if (m->bound == set)
        bind(m, NULL); /* a failure leaves programs unbound: they say so when run */
    set_free(set);
    model_release(m);
}

/* The buffer of `set` (NULL: the model's own) on backend b. */
static const plinth_buffer *set_buffer(const plinth_model *m, const plinth_state_set *set,
                                       uint32_t b)
{
    return set ? &set->buf[b] : &m->be[b].own_state;
}

plinth_status plinth_state_set_copy(plinth_model *model, plinth_state_set *dst,
                                    const plinth_state_set *src)
{
    if (!model)
        return PLINTH_ERR_INVALID;
    plinth_status s = require_loaded(model, "state set copy");
    if (s != PLINTH_OK)
        return s;
    if ((dst && dst->model != model) || (src && src->model != model))
        return ctx_error(model->ctx, PLINTH_ERR_INVALID,
                         "state set copy: a set belongs to another model");
    if ((dst && dst->generation != model->generation) ||
        (src && src->generation != model->generation))
        return ctx_error(model->ctx, PLINTH_ERR_INVALID,
                         "state set copy: a set was made before the model was loaded again");
    if (dst == src)
        return PLINTH_OK;
    s = model_enter(model, "state set copy");
    if (s != PLINTH_OK)
        return s;
    for (uint32_t b = 0; b < model->n_backends && s == PLINTH_OK; b++) {
        model_backend *mb = &model->be[b];
        const plinth_buffer *from = set_buffer(model, src, b);
        const plinth_buffer *to = set_buffer(model, dst, b);
        if (mb->state_bytes == 0)
            continue;
        if (from->host) { /* straight from host memory */
            s = slot_upload(mb->backend, to, 0, from->host, mb->state_bytes);
            continue;
        }
        void *tmp = ctx_malloc(model->ctx, mb->state_bytes);
        if (!tmp) {
            s = ctx_error(model->ctx, PLINTH_ERR_NO_MEMORY,
                          "state set copy: out of memory (%" PRIu64 " bytes)", mb->state_bytes);
            break;
        }
        s = slot_download(mb->backend, from, 0, tmp, mb->state_bytes);
        if (s == PLINTH_OK)
            s = slot_upload(mb->backend, to, 0, tmp, mb->state_bytes);
        ctx_free(model->ctx, tmp);
    }
    model_leave(model);
    return s;
}
