/*
 * model.c — a model: its backends, the tensor registry, the persistent and
 * state pools it owns on each backend, and loading (safetensors or empty),
 * set_param, reset_state.
 *
 * Sections: lifetime; the tensor registry and its layout; pools (allocate,
 * free, unbind programs); loading (checks against the file, uploads, bind
 * and fold); params and state after load.
 *
 * Layout is sequential in registration order (256-aligned), so an offset
 * given out at registration never changes: the compiler's views are final
 * and bind's re-resolution (internal.h, instruction.out_tensor) is a no-op
 * in practice. Loading is all-or-nothing: on failure the pools are freed,
 * the programs unbound, `loaded` stays false and the model may be loaded
 * again.
 */
#include "internal.h"

#include "slots.h"
#include "safetensors.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* opts may come from an older caller with a shorter struct. */
#define OPT_HAS(o, field) \
    ((o) && (o)->struct_size >= offsetof(__typeof__(*(o)), field) + sizeof((o)->field))

/* At most this many names are listed in a "missing tensors" message. */
#define MAX_LISTED 20

/* --------------------------------------------------------- lifetime --- */

plinth_status plinth_model_create(plinth_backend *backend, plinth_model **out)
{
    if (!out)
        return PLINTH_ERR_INVALID;
    *out = NULL;
    if (!backend)
        return PLINTH_ERR_INVALID;
    return plinth_model_create_multi(&backend, 1, out);
}

plinth_status plinth_model_create_multi(plinth_backend *const *backends, uint32_t n,
                                        plinth_model **out)
{
    if (!out)
        return PLINTH_ERR_INVALID;
    *out = NULL;
    if (!backends || n == 0 || !backends[0])
        return PLINTH_ERR_INVALID;
    plinth_context *ctx = backends[0]->ctx;
    if (n > PLINTH_MAX_BACKENDS)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "model: %u backends; at most %u", n,
                         PLINTH_MAX_BACKENDS);
    for (uint32_t i = 0; i < n; i++) {
        if (!backends[i])
            return ctx_error(ctx, PLINTH_ERR_INVALID, "model: backend %u of the list is NULL", i);
        if (backends[i]->ctx != ctx)
            return ctx_error(ctx, PLINTH_ERR_INVALID,
                             "model: backend %u ('%s') belongs to another context than "
                             "backend 0",
                             i, backends[i]->name);
        for (uint32_t j = 0; j < i; j++)
            if (backends[j] == backends[i])
                return ctx_error(ctx, PLINTH_ERR_INVALID,
                                 "model: backend '%s' is in the list twice (%u and %u)",
                                 backends[i]->name, j, i);
    }
    plinth_model *m = ctx_calloc(ctx, 1, sizeof *m);
    if (!m)
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "model: out of memory");
    m->ctx = ctx;
    m->backend = backends[0];
    m->n_backends = n;
    m->refs = 1;
    for (uint32_t i = 0; i < n; i++) {
        m->be[i].backend = backends[i];
        backend_retain(backends[i]);
    }
    *out = m;
    return PLINTH_OK;
}

uint32_t plinth_model_backend_count(const plinth_model *model)
{
    return model ? model->n_backends : 0;
}

plinth_backend *plinth_model_backend(const plinth_model *model, uint32_t index)
{
    return model && index < model->n_backends ? model->be[index].backend : NULL;
}

bool model_shares(const plinth_model *m, int32_t a, int32_t b)
{
    if (a == b)
        return true;
    if (a < 0 || b < 0 || (uint32_t)a >= m->n_backends || (uint32_t)b >= m->n_backends)
        return false;
    return (m->be[a].backend->caps & m->be[b].backend->caps & PLINTH_CAP_HOST_MEMORY) != 0;
}

plinth_status model_enter(plinth_model *m, const char *what)
{
    int idle = 0;
    /* C11 atomics: clang refuses the __atomic builtins on an _Atomic object */
    if (!atomic_compare_exchange_strong_explicit(&m->busy, &idle, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        return ctx_error(m->ctx, PLINTH_ERR_BUSY,
                         "%s: the model on backend '%s' is in use by another call (a model "
                         "and its programs take one call at a time)",
                         what, m->backend->name);
    return PLINTH_OK;
}

void model_leave(plinth_model *m)
{
    atomic_store_explicit(&m->busy, 0, memory_order_release);
}

static void pools_free(plinth_model *m);

/* Frees the model once its last program and the caller's handle are gone
 * (plinth.h, lifetimes). */
void model_release(plinth_model *model)
{
    if (!model || --model->refs > 0)
        return;
    plinth_context *ctx = model->ctx;
    pools_free(model);
    ctx_free(ctx, model->programs);
    for (uint32_t i = 0; i < model->n_tensors; i++) {
        ctx_free(ctx, model->tensors[i].name);
        ctx_free(ctx, model->tensors[i].data);
    }
    ctx_free(ctx, model->tensors);
    model_backend be[PLINTH_MAX_BACKENDS];
    uint32_t n = model->n_backends;
    memcpy(be, model->be, sizeof be);
    ctx_free(ctx, model);
    for (uint32_t i = 0; i < n; i++) /* the last may free the context */
        backend_release(be[i].backend);
}

void plinth_model_destroy(plinth_model *model)
{
    model_release(model);
}

/* ------------------------------------------------------ the registry --- */

/* Sequential 256-aligned offsets in registration order, per backend and
 * pool. Stable: appending a tensor never moves an earlier one. Returns
 * false on overflow. */
static bool layout(plinth_model *m)
{
    uint64_t end[PLINTH_MAX_BACKENDS][POOL_COUNT] = {{0}};
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        model_tensor *t = &m->tensors[i];
        if (t->packed_from >= 0 && m->tensors[t->packed_from].pack_in_place) {
            t->offset = m->tensors[t->packed_from].offset; /* placed with its plain */
            continue;
        }
        /* a plain tensor packed in place spans the larger of the two */
        const uint64_t bytes = t->pack_in_place && m->tensors[t->packed].bytes > t->bytes
                                   ? m->tensors[t->packed].bytes
                                   : t->bytes;
        uint64_t *e = &end[t->backend][t->pool];
        uint64_t off = ALIGN_UP(*e, PLINTH_ALIGNMENT);
        if (off < *e || bytes > UINT64_MAX - off)
            return false;
        t->offset = off;
        *e = off + bytes;
    }
    m->persistent_bytes = m->state_bytes = 0;
    for (uint32_t b = 0; b < m->n_backends; b++) {
        m->be[b].persistent_bytes = ALIGN_UP(end[b][POOL_PERSISTENT], PLINTH_ALIGNMENT);
        m->be[b].state_bytes = ALIGN_UP(end[b][POOL_STATE], PLINTH_ALIGNMENT);
        m->persistent_bytes += m->be[b].persistent_bytes;
        m->state_bytes += m->be[b].state_bytes;
    }
    return true;
}

int32_t model_state_backend(const plinth_model *model, const char *name)
{
    for (uint32_t i = 0; i < model->n_tensors; i++)
        if (model->tensors[i].kind == PLINTH_NODE_STATE &&
            strcmp(model->tensors[i].name, name) == 0)
            return model->tensors[i].backend;
    return -1;
}

plinth_status model_tensor_register(plinth_model *model, const char *name, int32_t kind,
                                    int32_t dtype, int32_t ndim, const int64_t *shape,
                                    const void *const_data, int32_t backend,
                                    int32_t *out_index)
{
    *out_index = -1;
    plinth_context *ctx = model->ctx;
    const char *what = node_kind_name(kind);
    if (model->loaded)
        return ctx_error(ctx, PLINTH_ERR_INVALID,
                         "cannot add %s '%s': model already loaded (compile every program "
                         "before loading the model)",
                         what, name);
    if (kind != PLINTH_NODE_PARAM && kind != PLINTH_NODE_CONSTANT &&
        kind != PLINTH_NODE_STATE && kind != PLINTH_NODE_OP)
        return ctx_error(ctx, PLINTH_ERR_INTERNAL,
                         "tensor '%s': kind %d cannot live in a model pool", name, (int)kind);
    uint64_t bytes = 0;
    if ((unsigned)dtype >= PLINTH_DTYPE_COUNT || ndim < 1 || ndim > PLINTH_MAX_DIMS || !shape ||
        !tensor_bytes(dtype, ndim, shape, &bytes))
        return ctx_error(ctx, PLINTH_ERR_INVALID, "%s '%s': bad dtype %d or shape (ndim %d)",
                         what, name, (int)dtype, (int)ndim);
    if (kind == PLINTH_NODE_CONSTANT && !const_data && bytes > 0)
        return ctx_error(ctx, PLINTH_ERR_INTERNAL, "constant '%s': no data", name);
    if (backend < 0 || (uint32_t)backend >= model->n_backends)
        return ctx_error(ctx, PLINTH_ERR_INTERNAL, "%s '%s': backend %d of %u", what, name,
                         (int)backend, model->n_backends);

    /* Every registration of a name (one per backend that holds it) agrees;
     * a state has one. */
    int32_t found = -1;
    for (uint32_t i = 0; i < model->n_tensors; i++) {
        model_tensor *t = &model->tensors[i];
        if (strcmp(t->name, name) != 0)
            continue;
        bool same = t->kind == kind && t->dtype == dtype && t->ndim == ndim;
        for (int32_t k = 0; same && k < ndim; k++)
            same = t->shape[k] == shape[k];
        if (!same) {
            char sa[96], sb[96];
            if (t->kind != kind)
                return ctx_error(ctx, PLINTH_ERR_INVALID,
                                 "'%s' declared as a %s %s %s by one program and a %s %s %s "
                                 "by another",
                                 name, node_kind_name(t->kind),
                                 plinth_dtype_name((plinth_dtype)t->dtype),
                                 shape_str(t->shape, t->ndim, sa, sizeof sa), what,
                                 plinth_dtype_name((plinth_dtype)dtype),
                                 shape_str(shape, ndim, sb, sizeof sb));
            return ctx_error(ctx, PLINTH_ERR_INVALID,
                             "%s '%s' declared as %s %s by one program and %s %s by another",
                             what, name, plinth_dtype_name((plinth_dtype)t->dtype),
                             shape_str(t->shape, t->ndim, sa, sizeof sa),
                             plinth_dtype_name((plinth_dtype)dtype),
                             shape_str(shape, ndim, sb, sizeof sb));
        }
        if (t->backend == backend)
            found = (int32_t)i;
        else if (kind == PLINTH_NODE_STATE)
            return ctx_error(ctx, PLINTH_ERR_INVALID,
                             "state '%s' lives on backend '%s'; a program cannot put it on "
                             "'%s' too",
                             name, model->be[t->backend].backend->name,
                             model->be[backend].backend->name);
    }
    if (found >= 0) {
        *out_index = found;
        return PLINTH_OK;
    }

    if (model->n_tensors >= (uint32_t)INT32_MAX ||
        !ctx_grow(ctx, (void **)&model->tensors, &model->cap_tensors, model->n_tensors + 1,
                  sizeof *model->tensors))
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s '%s': out of memory", what, name);
    model_tensor t = {
        .name = ctx_strdup(ctx, name),
        .kind = kind,
        .dtype = dtype,
        .ndim = ndim,
        .pool = kind == PLINTH_NODE_STATE ? POOL_STATE : POOL_PERSISTENT,
        .backend = backend,
        .bytes = bytes,
        .packed = -1,
        .packed_from = -1,
    };
    memcpy(t.shape, shape, (size_t)ndim * sizeof *shape);
    if (kind == PLINTH_NODE_CONSTANT && bytes > 0) {
        t.data = ctx_malloc(ctx, bytes);
        if (t.data)
            memcpy(t.data, const_data, bytes);
    }
    if (!t.name || (kind == PLINTH_NODE_CONSTANT && bytes > 0 && !t.data)) {
        ctx_free(ctx, t.name);
        ctx_free(ctx, t.data);
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s '%s': out of memory", what, name);
    }
    model->tensors[model->n_tensors++] = t;
    if (!layout(model)) {
        model->n_tensors--;
        ctx_free(ctx, t.name);
        ctx_free(ctx, t.data);
        layout(model);
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s '%s': the pool would overflow 64 bits",
                         what, name);
    }
    *out_index = (int32_t)(model->n_tensors - 1);
    return PLINTH_OK;
}

plinth_status model_tensor_add_packed(plinth_model *m, int32_t plain, uint64_t bytes,
                                      bool in_place, int32_t *out_index)
{
    const model_tensor *p = &m->tensors[plain];
    char name[1024];
    snprintf(name, sizeof name, "%s (packed)", p->name);
    if (m->n_tensors >= (uint32_t)INT32_MAX ||
        !ctx_grow(m->ctx, (void **)&m->tensors, &m->cap_tensors, m->n_tensors + 1,
                  sizeof *m->tensors))
        return ctx_error(m->ctx, PLINTH_ERR_NO_MEMORY, "'%s': out of memory", name);
    p = &m->tensors[plain]; /* the array may have moved */
    model_tensor t = {.name = ctx_strdup(m->ctx, name), .kind = PLINTH_NODE_OP,
                      .dtype = p->dtype, .ndim = p->ndim, .pool = POOL_PERSISTENT,
                      .backend = p->backend, .bytes = bytes, .packed = -1,
                      .packed_from = plain};
    memcpy(t.shape, p->shape, sizeof t.shape);
    if (!t.name)
        return ctx_error(m->ctx, PLINTH_ERR_NO_MEMORY, "'%s': out of memory", name);
    m->tensors[m->n_tensors++] = t;
    m->tensors[plain].packed = (int32_t)(m->n_tensors - 1);
    m->tensors[plain].pack_in_place = in_place;
    if (!layout(m)) {
        ctx_free(m->ctx, m->tensors[--m->n_tensors].name);
        m->tensors[plain].packed = -1;
        m->tensors[plain].pack_in_place = false;
        layout(m);
        return ctx_error(m->ctx, PLINTH_ERR_NO_MEMORY, "'%s': the pool would overflow 64 bits",
                         name);
    }
    *out_index = (int32_t)(m->n_tensors - 1);
    return PLINTH_OK;
}

static model_tensor *find_tensor(plinth_model *m, const char *name)
{
    for (uint32_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

bool model_tensor_is_replica(const plinth_model *m, uint32_t i)
{
    for (uint32_t k = 0; k < i; k++)
        if (strcmp(m->tensors[k].name, m->tensors[i].name) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------ pools --- */

/* Drops every program's bindings (prepared handles, arenas, io, scratch):
 * they refer to the pools, so this comes before the pools go. */
static void programs_unbind(plinth_model *m)
{
    for (uint32_t i = 0; i < m->n_programs; i++)
        program_unbind(m->programs[i]);
}

static void pools_free(plinth_model *m)
{
    programs_unbind(m);
    for (uint32_t b = 0; b < m->n_backends; b++) {
        slot_buffer_free(m->be[b].backend, &m->be[b].persistent);
        slot_buffer_free(m->be[b].backend, &m->be[b].own_state);
        m->be[b].state = (plinth_buffer){0};
    }
    m->bound = NULL;
    m->loaded = false;
}

/* Allocates both pools of every backend (a 0-byte pool still gets its
 * buffer), zeroes the state (and the persistent pool when no file will
 * fill the params) and uploads the constants. */
static plinth_status pools_alloc(plinth_model *m, bool zero_persistent)
{
    if (!layout(m))
        return ctx_error(m->ctx, PLINTH_ERR_NO_MEMORY, "model: pool sizes overflow");
    for (uint32_t i = 0; i < m->n_backends; i++) {
        model_backend *mb = &m->be[i];
        plinth_backend *b = mb->backend;
        plinth_status s = slot_buffer_alloc(b, mb->persistent_bytes, &mb->persistent);
        if (s != PLINTH_OK)
            return ctx_error_wrap(m->ctx, s, "model: persistent pool of %" PRIu64 " bytes on '%s'",
                                  mb->persistent_bytes, b->name);
        s = slot_buffer_alloc(b, mb->state_bytes, &mb->own_state);
        if (s != PLINTH_OK)
            return ctx_error_wrap(m->ctx, s, "model: state pool of %" PRIu64 " bytes on '%s'",
                                  mb->state_bytes, b->name);
        mb->state = mb->own_state;
        s = slot_zero(b, &mb->state, 0, mb->state_bytes);
        if (s == PLINTH_OK && zero_persistent)
            s = slot_zero(b, &mb->persistent, 0, mb->persistent_bytes);
        if (s != PLINTH_OK)
            return s;
    }
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const model_tensor *t = &m->tensors[i];
        if (t->kind != PLINTH_NODE_CONSTANT || t->bytes == 0)
            continue;
        model_backend *mb = &m->be[t->backend];
        plinth_status s = slot_upload(mb->backend, &mb->persistent, t->offset, t->data, t->bytes);
        if (s != PLINTH_OK)
            return s;
    }
    return PLINTH_OK;
}

static plinth_status run_all_folds(plinth_model *m)
{
    plinth_status s = PLINTH_OK;
    for (uint32_t i = 0; i < m->n_programs && s == PLINTH_OK; i++)
        s = program_run_folds(m->programs[i]);
    for (uint32_t i = 0; i < m->n_programs; i++)
        program_free_scratch(m->programs[i]);
    return s;
}

/* --------------------------------------------------------- loading --- */

/* "[512, 64]" for a file's shape (up to PLINTH_STATE_DICT_MAX_DIMS dims). */
static const char *st_shape_str(const st_tensor *t, char *buf, size_t size)
{
    return shape_str(t->shape, t->ndim, buf, size);
}

static bool shapes_match(const model_tensor *p, const st_tensor *t)
{
    /* A file's scalar (shape []) is the graph's [1]. */
    if (t->ndim == 0)
        return p->ndim == 1 && p->shape[0] == 1;
    if (t->ndim != p->ndim)
        return false;
    for (int32_t k = 0; k < p->ndim; k++)
        if (t->shape[k] != p->shape[k])
            return false;
    return true;
}

static st_tensor *find(plinth_state_dict *d, const char *name)
{
    int32_t i = plinth_state_dict_find(d, name);
    return i < 0 ? NULL : st_at(d, (uint32_t)i);
}

/* Every param present, with the right dtype and shape; all missing names
 * are reported in one message. */
static plinth_status check_params(plinth_model *m, plinth_state_dict *d, const char *path)
{
    plinth_context *ctx = m->ctx;
    uint32_t n_missing = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].kind == PLINTH_NODE_PARAM && !model_tensor_is_replica(m, i) &&
            !find(d, m->tensors[i].name))
            n_missing++;
    if (n_missing > 0) {
        char list[3072];
        size_t used = 0;
        uint32_t listed = 0;
        list[0] = '\0';
        for (uint32_t i = 0; i < m->n_tensors && listed < MAX_LISTED; i++) {
            const model_tensor *t = &m->tensors[i];
            if (t->kind != PLINTH_NODE_PARAM || model_tensor_is_replica(m, i) || find(d, t->name))
                continue;
            if (used < sizeof list)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                         listed ? ", " : "", t->name);
            listed++;
        }
        if (listed < n_missing && used < sizeof list)
            snprintf(list + used, sizeof list - used, " and %" PRIu32 " more",
                     n_missing - listed);
        return ctx_error(ctx, PLINTH_ERR_FORMAT, "%" PRIu32 " tensor%s missing from %s: %s",
                         n_missing, n_missing == 1 ? "" : "s", path, list);
    }
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const model_tensor *p = &m->tensors[i];
        if (p->kind != PLINTH_NODE_PARAM)
            continue;
        const st_tensor *t = find(d, p->name);
        const char *file = st_file_path(d, t);
        if (t->dtype < 0)
            return ctx_error(ctx, PLINTH_ERR_FORMAT,
                             "tensor '%s' in %s has dtype %s, which plinth cannot use", p->name,
                             file, t->dtype_name);
        if (t->dtype != p->dtype)
            return ctx_error(ctx, PLINTH_ERR_FORMAT,
                             "tensor '%s': file has %s, the graph wants %s (in %s)", p->name,
                             plinth_dtype_name((plinth_dtype)t->dtype),
                             plinth_dtype_name((plinth_dtype)p->dtype), file);
        if (!shapes_match(p, t)) {
            char a[160], b[96];
            return ctx_error(ctx, PLINTH_ERR_FORMAT,
                             "tensor '%s': file has shape %s, the graph wants %s (in %s)",
                             p->name, st_shape_str(t, a, sizeof a),
                             shape_str(p->shape, p->ndim, b, sizeof b), file);
        }
        if (t->bytes != p->bytes)
            return ctx_error(ctx, PLINTH_ERR_FORMAT,
                             "tensor '%s' in %s: %" PRIu64 " bytes of data, its shape needs %"
                             PRIu64, p->name, file, t->bytes, p->bytes);
    }
    return PLINTH_OK;
}

/* Bytes read per step when the pool is not host-visible (a bounce buffer). */
#define BOUNCE_BYTES ((uint64_t)4 << 20)

/* One param from the file into its backend's persistent pool: straight
 * into the pool when the host can write it, else through a bounce buffer. */
static plinth_status load_param(plinth_model *m, plinth_state_dict *d, uint32_t index,
                                const model_tensor *p, uint8_t **bounce)
{
    model_backend *mb = &m->be[p->backend];
    if (mb->persistent.host)
        return plinth_state_dict_read(d, index, 0, mb->persistent.host + p->offset, p->bytes);
    if (!*bounce && !(*bounce = ctx_malloc(m->ctx, BOUNCE_BYTES)))
        return ctx_error(m->ctx, PLINTH_ERR_NO_MEMORY, "load: out of memory");
    for (uint64_t at = 0; at < p->bytes; at += BOUNCE_BYTES) {
        uint64_t n = p->bytes - at < BOUNCE_BYTES ? p->bytes - at : BOUNCE_BYTES;
        plinth_status s = plinth_state_dict_read(d, index, at, *bounce, n);
        if (s == PLINTH_OK)
            s = slot_upload(mb->backend, &mb->persistent, p->offset + at, *bounce, n);
        if (s != PLINTH_OK)
            return s;
    }
    return PLINTH_OK;
}

/* Says which params are loaded on more than one backend (a reader that
 * cannot share memory with the first holds its own copy). */
static void report_replicas(plinth_model *m)
{
    uint32_t n = 0;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const model_tensor *t = &m->tensors[i];
        if (t->kind != PLINTH_NODE_PARAM || !model_tensor_is_replica(m, i))
            continue;
        n++;
        bytes += t->bytes;
        ctx_log(m->ctx, PLINTH_LOG_INFO,
                "param '%s' is read on backend '%s' too: loaded there as well (%" PRIu64
                " bytes)",
                t->name, m->be[t->backend].backend->name, t->bytes);
    }
    if (n)
        ctx_log(m->ctx, PLINTH_LOG_INFO,
                "%" PRIu32 " param%s loaded on more than one backend (%" PRIu64 " bytes more)", n,
                n == 1 ? "" : "s", bytes);
}

static plinth_status upload_params(plinth_model *m, plinth_state_dict *d,
                                   const plinth_load_options *opts)
{
    void (*progress)(void *, double) = OPT_HAS(opts, progress) ? opts->progress : NULL;
    void *user = OPT_HAS(opts, progress_user) ? opts->progress_user : NULL;
    uint64_t total = 0, done = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].kind == PLINTH_NODE_PARAM)
            total += m->tensors[i].bytes;
    if (progress)
        progress(user, 0.0);
    uint8_t *bounce = NULL;
    plinth_status s = PLINTH_OK;
    for (uint32_t i = 0; i < m->n_tensors && s == PLINTH_OK; i++) {
        const model_tensor *p = &m->tensors[i];
        if (p->kind != PLINTH_NODE_PARAM)
            continue;
        int32_t index = plinth_state_dict_find(d, p->name);
        st_tensor *t = st_at(d, (uint32_t)index);
        s = load_param(m, d, (uint32_t)index, p, &bounce);
        if (s != PLINTH_OK) {
            s = ctx_error_wrap(m->ctx, s, "tensor '%s' (%s)", p->name, st_file_path(d, t));
            break;
        }
        t->used = true;
        done += p->bytes;
        if (progress && total > 0)
            progress(user, (double)done / (double)total);
    }
    ctx_free(m->ctx, bounce);
    if (s == PLINTH_OK && progress && total == 0)
        progress(user, 1.0);
    if (s == PLINTH_OK)
        report_replicas(m);
    return s;
}

static void report_unused(plinth_model *m, plinth_state_dict *d, const char *path)
{
    uint32_t n = plinth_state_dict_count(d), unused = 0;
    for (uint32_t i = 0; i < n; i++) {
        const st_tensor *t = st_at(d, i);
        if (t->used)
            continue;
        unused++;
        ctx_log(m->ctx, PLINTH_LOG_INFO, "unused tensor '%s' in %s", t->name,
                st_file_path(d, t));
    }
    ctx_log(m->ctx, PLINTH_LOG_INFO, "%" PRIu32 " of %" PRIu32 " tensors in %s unused", unused,
            n, path);
}

/* Shared by both loaders: `d` is NULL for load_empty (params zeroed). */
static plinth_status load(plinth_model *m, plinth_state_dict *d, const plinth_load_options *opts)
{
    const char *path = d ? plinth_state_dict_path(d) : NULL;
    plinth_status s = PLINTH_OK;
    pools_free(m); /* a reload starts from scratch (and makes state sets stale) */
    m->generation++;
    if (d)
        s = check_params(m, d, path);
    if (s == PLINTH_OK && !m->pack_planned)
        s = model_pack_plan(m); /* once: the programs are fixed from here */
    if (s == PLINTH_OK)
        s = pools_alloc(m, !d);
    if (s == PLINTH_OK && d)
        s = upload_params(m, d, opts);
    for (uint32_t i = 0; i < m->n_programs && s == PLINTH_OK; i++)
        s = program_bind(m->programs[i]);
    if (s == PLINTH_OK)
        s = run_all_folds(m);
    if (s == PLINTH_OK)
        s = model_pack_all(m, NULL);
    if (s != PLINTH_OK) {
        pools_free(m);
        return s;
    }
    if (d && OPT_HAS(opts, report_unused) && opts->report_unused)
        report_unused(m, d, path);
    m->loaded = true;
    return PLINTH_OK;
}

plinth_status plinth_model_load(plinth_model *model, plinth_state_dict *sd,
                                const plinth_load_options *opts)
{
    if (!model)
        return PLINTH_ERR_INVALID;
    if (!sd)
        return ctx_error(model->ctx, PLINTH_ERR_INVALID, "model load: no state dict given");
    plinth_status s = model_enter(model, "load");
    if (s != PLINTH_OK)
        return s;
    for (uint32_t i = 0; i < plinth_state_dict_count(sd); i++)
        st_at(sd, i)->used = false;
    s = load(model, sd, opts);
    model_leave(model);
    return s;
}

plinth_status plinth_model_load_safetensors(plinth_model *model, const char *path,
                                            const plinth_load_options *opts)
{
    if (!model)
        return PLINTH_ERR_INVALID;
    if (!path)
        return ctx_error(model->ctx, PLINTH_ERR_INVALID, "model load: no path given");
    plinth_state_dict *d = NULL;
    plinth_status s = plinth_state_dict_open(model->ctx, path, &d);
    if (s == PLINTH_OK)
        s = plinth_model_load(model, d, opts);
    plinth_state_dict_close(d);
    return s;
}

plinth_status plinth_model_load_empty(plinth_model *model)
{
    if (!model)
        return PLINTH_ERR_INVALID;
    plinth_status s = model_enter(model, "load");
    if (s != PLINTH_OK)
        return s;
    s = load(model, NULL, NULL);
    model_leave(model);
    return s;
}

/* ------------------------------------------------ after the load --- */

plinth_status plinth_model_set_param(plinth_model *model, const char *name, const void *data,
                                     size_t bytes)
{
    if (!model)
        return PLINTH_ERR_INVALID;
    plinth_context *ctx = model->ctx;
    if (!name)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "set_param: no name given");
    if (!model->loaded)
        return ctx_error(ctx, PLINTH_ERR_INVALID,
                         "param '%s': load the model before setting params", name);
    model_tensor *t = find_tensor(model, name);
    if (!t || t->kind != PLINTH_NODE_PARAM) {
        if (t)
            return ctx_error(ctx, PLINTH_ERR_INVALID, "'%s' is a %s, not a param", name,
                             node_kind_name(t->kind));
        return ctx_error(ctx, PLINTH_ERR_INVALID, "no param named '%s' in any program", name);
    }
    if (bytes != t->bytes) {
        char sh[96];
        return ctx_error(ctx, PLINTH_ERR_INVALID,
                         "param '%s' is %s %s (%" PRIu64 " bytes); got %zu bytes", name,
                         plinth_dtype_name((plinth_dtype)t->dtype),
                         shape_str(t->shape, t->ndim, sh, sizeof sh), t->bytes, bytes);
    }
    if (bytes > 0 && !data)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "param '%s': data is NULL", name);
    plinth_status s = model_enter(model, "set_param");
    if (s != PLINTH_OK)
        return s;
    /* Into every backend that holds it. */
    for (uint32_t i = 0; i < model->n_tensors && s == PLINTH_OK; i++) {
        const model_tensor *r = &model->tensors[i];
        if (r->kind != PLINTH_NODE_PARAM || strcmp(r->name, name) != 0)
            continue;
        model_backend *mb = &model->be[r->backend];
        s = slot_upload(mb->backend, &mb->persistent, r->offset, data, bytes);
    }
    if (s == PLINTH_OK)
        s = run_all_folds(model);
    if (s == PLINTH_OK)
        s = model_pack_all(model, name); /* the packed twins follow their params */
    model_leave(model);
    return s;
}

plinth_status plinth_model_reset_state(plinth_model *model)
{
    if (!model)
        return PLINTH_ERR_INVALID;
    if (!model->loaded)
        return ctx_error(model->ctx, PLINTH_ERR_INVALID,
                         "reset_state: load the model first");
    plinth_status s = model_enter(model, "reset_state");
    if (s != PLINTH_OK)
        return s;
    for (uint32_t b = 0; b < model->n_backends && s == PLINTH_OK; b++)
        s = slot_zero(model->be[b].backend, &model->be[b].state, 0, model->be[b].state_bytes);
    model_leave(model);
    return s;
}
