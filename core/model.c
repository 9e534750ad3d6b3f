/*
 * model.c — a model: the tensor registry, the persistent and state pools it
 * owns on one backend, and loading (safetensors or empty), set_param,
 * reset_state.
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

#include "../plugins/loader.h"
#include "safetensors.h"

#include <inttypes.h>
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
    plinth_model *m = calloc(1, sizeof *m);
    if (!m)
        return ctx_error(backend->ctx, PLINTH_ERR_NO_MEMORY, "model: out of memory");
    m->ctx = backend->ctx;
    m->backend = backend;
    *out = m;
    return PLINTH_OK;
}

static void pools_free(plinth_model *m);

/* Prefixes the message already on the context (from a wrapper) with what we
 * were doing; the copy avoids formatting ctx->error into itself. */
static plinth_status rewrap(plinth_context *ctx, plinth_status s, const char *what)
{
    char why[1024];
    snprintf(why, sizeof why, "%.900s", ctx->error);
    return ctx_error(ctx, s, "%s: %s", what, why);
}

void plinth_model_destroy(plinth_model *model)
{
    if (!model)
        return;
    /* plinth_program_destroy removes the program from the array. */
    while (model->n_programs > 0) {
        uint32_t before = model->n_programs;
        plinth_program_destroy(model->programs[before - 1]);
        if (model->n_programs == before) /* never loop on a broken array */
            model->n_programs--;
    }
    free(model->programs);
    pools_free(model);
    for (uint32_t i = 0; i < model->n_tensors; i++) {
        free(model->tensors[i].name);
        free(model->tensors[i].data);
    }
    free(model->tensors);
    free(model);
}

/* ------------------------------------------------------ the registry --- */

static const char *kind_name(int32_t kind)
{
    switch (kind) {
    case PLINTH_NODE_PARAM: return "param";
    case PLINTH_NODE_CONSTANT: return "constant";
    case PLINTH_NODE_STATE: return "state";
    case PLINTH_NODE_OP: return "folded value";
    default: return "tensor";
    }
}

/* Bytes of a contiguous dtype/shape, false on overflow or a bad shape. */
static bool tensor_bytes(int32_t dtype, int32_t ndim, const int64_t *shape, uint64_t *out)
{
    uint64_t n = plinth_dtype_size((plinth_dtype)dtype);
    for (int32_t i = 0; i < ndim; i++) {
        if (shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t)shape[i], &n))
            return false;
    }
    *out = n;
    return true;
}

/* Sequential 256-aligned offsets in registration order, per pool. Stable:
 * appending a tensor never moves an earlier one. Returns false on overflow. */
static bool layout(plinth_model *m)
{
    uint64_t end[POOL_COUNT] = {0};
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        model_tensor *t = &m->tensors[i];
        uint64_t off = ALIGN_UP(end[t->pool], PLINTH_ALIGNMENT);
        if (off < end[t->pool] || t->bytes > UINT64_MAX - off)
            return false;
        t->offset = off;
        end[t->pool] = off + t->bytes;
    }
    m->persistent_bytes = ALIGN_UP(end[POOL_PERSISTENT], PLINTH_ALIGNMENT);
    m->state_bytes = ALIGN_UP(end[POOL_STATE], PLINTH_ALIGNMENT);
    return true;
}

int32_t model_tensor_register(plinth_model *model, const char *name, int32_t kind,
                              int32_t dtype, int32_t ndim, const int64_t *shape,
                              const void *const_data)
{
    if (!model || !name)
        return -1;
    plinth_context *ctx = model->ctx;
    if (model->loaded) {
        ctx_error(ctx, PLINTH_ERR_INVALID,
                  "cannot add %s '%s': model already loaded (compile every program before "
                  "loading the model)",
                  kind_name(kind), name);
        return -1;
    }
    if (kind != PLINTH_NODE_PARAM && kind != PLINTH_NODE_CONSTANT &&
        kind != PLINTH_NODE_STATE && kind != PLINTH_NODE_OP) {
        ctx_error(ctx, PLINTH_ERR_INTERNAL, "tensor '%s': kind %d cannot live in a model pool",
                  name, (int)kind);
        return -1;
    }
    uint64_t bytes = 0;
    if ((unsigned)dtype >= PLINTH_DTYPE_COUNT || ndim < 1 || ndim > PLINTH_MAX_DIMS || !shape ||
        !tensor_bytes(dtype, ndim, shape, &bytes)) {
        ctx_error(ctx, PLINTH_ERR_INVALID, "%s '%s': bad dtype %d or shape (ndim %d)",
                  kind_name(kind), name, (int)dtype, (int)ndim);
        return -1;
    }
    if (kind == PLINTH_NODE_CONSTANT && !const_data && bytes > 0) {
        ctx_error(ctx, PLINTH_ERR_INTERNAL, "constant '%s': no data", name);
        return -1;
    }

    for (uint32_t i = 0; i < model->n_tensors; i++) {
        model_tensor *t = &model->tensors[i];
        if (strcmp(t->name, name) != 0)
            continue;
        bool same = t->kind == kind && t->dtype == dtype && t->ndim == ndim;
        for (int32_t k = 0; same && k < ndim; k++)
            same = t->shape[k] == shape[k];
        if (!same) {
            char a[96], b[96];
            if (t->kind != kind)
                ctx_error(ctx, PLINTH_ERR_INVALID,
                          "'%s' declared as a %s %s %s by one program and a %s %s %s by "
                          "another",
                          name, kind_name(t->kind), plinth_dtype_name((plinth_dtype)t->dtype),
                          shape_str(t->shape, t->ndim, a, sizeof a), kind_name(kind),
                          plinth_dtype_name((plinth_dtype)dtype),
                          shape_str(shape, ndim, b, sizeof b));
            else
                ctx_error(ctx, PLINTH_ERR_INVALID,
                          "%s '%s' declared as %s %s by one program and %s %s by another",
                          kind_name(kind), name, plinth_dtype_name((plinth_dtype)t->dtype),
                          shape_str(t->shape, t->ndim, a, sizeof a),
                          plinth_dtype_name((plinth_dtype)dtype),
                          shape_str(shape, ndim, b, sizeof b));
            return -1;
        }
        return (int32_t)i;
    }

    if (model->n_tensors >= (uint32_t)INT32_MAX) {
        ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s '%s': too many tensors", kind_name(kind), name);
        return -1;
    }
    if (model->n_tensors == model->cap_tensors) {
        uint32_t cap = model->cap_tensors ? model->cap_tensors * 2 : 16;
        model_tensor *grown = realloc(model->tensors, cap * sizeof *grown);
        if (!grown) {
            ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s '%s': out of memory", kind_name(kind), name);
            return -1;
        }
        model->tensors = grown;
        model->cap_tensors = cap;
    }
    model_tensor t = {
        .name = strdup(name),
        .kind = kind,
        .dtype = dtype,
        .ndim = ndim,
        .pool = kind == PLINTH_NODE_STATE ? POOL_STATE : POOL_PERSISTENT,
        .bytes = bytes,
    };
    memcpy(t.shape, shape, (size_t)ndim * sizeof *shape);
    if (kind == PLINTH_NODE_CONSTANT && bytes > 0) {
        t.data = malloc(bytes);
        if (t.data)
            memcpy(t.data, const_data, bytes);
    }
    if (!t.name || (kind == PLINTH_NODE_CONSTANT && bytes > 0 && !t.data)) {
        free(t.name);
        free(t.data);
        ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s '%s': out of memory", kind_name(kind), name);
        return -1;
    }
    model->tensors[model->n_tensors++] = t;
    if (!layout(model)) {
        model->n_tensors--;
        free(t.name);
        free(t.data);
        layout(model);
        ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s '%s': the pool would overflow 64 bits",
                  kind_name(kind), name);
        return -1;
    }
    return (int32_t)(model->n_tensors - 1);
}

static model_tensor *find_tensor(plinth_model *m, const char *name)
{
    for (uint32_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

/* ------------------------------------------------------------ pools --- */

/* Drops every program's bindings (prepared handle, arena, io, scratch):
 * they refer to the pools, so this comes before the pools go. */
static void programs_unbind(plinth_model *m)
{
    for (uint32_t i = 0; i < m->n_programs; i++)
        program_unbind(m->programs[i]);
}

static void pools_free(plinth_model *m)
{
    programs_unbind(m);
    backend_buffer_free(m->backend, &m->persistent);
    backend_buffer_free(m->backend, &m->state);
    m->loaded = false;
}

/* Allocates both pools (a 0-byte pool still gets its buffer), zeroes the
 * state (and the persistent pool when no file will fill the params) and
 * uploads the constants. */
static plinth_status pools_alloc(plinth_model *m, bool zero_persistent)
{
    plinth_backend *b = m->backend;
    if (!layout(m))
        return ctx_error(m->ctx, PLINTH_ERR_NO_MEMORY, "model: pool sizes overflow");
    char what[128];
    plinth_status s = backend_buffer_alloc(b, m->persistent_bytes, &m->persistent);
    if (s != PLINTH_OK) {
        snprintf(what, sizeof what, "model: persistent pool of %" PRIu64 " bytes",
                 m->persistent_bytes);
        return rewrap(m->ctx, s, what);
    }
    s = backend_buffer_alloc(b, m->state_bytes, &m->state);
    if (s != PLINTH_OK) {
        snprintf(what, sizeof what, "model: state pool of %" PRIu64 " bytes", m->state_bytes);
        return rewrap(m->ctx, s, what);
    }
    s = backend_zero(b, &m->state, 0, m->state_bytes);
    if (s == PLINTH_OK && zero_persistent)
        s = backend_zero(b, &m->persistent, 0, m->persistent_bytes);
    if (s != PLINTH_OK)
        return s;
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const model_tensor *t = &m->tensors[i];
        if (t->kind != PLINTH_NODE_CONSTANT || t->bytes == 0)
            continue;
        s = backend_upload(b, &m->persistent, t->offset, t->data, t->bytes);
        if (s != PLINTH_OK)
            return s;
    }
    return PLINTH_OK;
}

/* Frees each program's scratch (fold intermediates are needed at load only). */
static void scratch_free(plinth_model *m)
{
    for (uint32_t i = 0; i < m->n_programs; i++)
        backend_buffer_free(m->backend, &m->programs[i]->scratch);
}

static plinth_status run_all_folds(plinth_model *m)
{
    plinth_status s = PLINTH_OK;
    for (uint32_t i = 0; i < m->n_programs && s == PLINTH_OK; i++)
        s = program_run_folds(m->programs[i]);
    scratch_free(m);
    return s;
}

/* --------------------------------------------------------- loading --- */

/* "[512, 64]" for a file's shape (up to ST_MAX_DIMS dims). */
static const char *st_shape_str(const st_tensor *t, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int32_t i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %lld" : "%lld",
                                 (long long)t->shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
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

/* Every param present, with the right dtype and shape; all missing names
 * are reported in one message. */
static plinth_status check_params(plinth_model *m, st_dict *d, const char *path)
{
    plinth_context *ctx = m->ctx;
    uint32_t n_missing = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].kind == PLINTH_NODE_PARAM && !st_find(d, m->tensors[i].name))
            n_missing++;
    if (n_missing > 0) {
        char list[3072];
        size_t used = 0;
        uint32_t listed = 0;
        list[0] = '\0';
        for (uint32_t i = 0; i < m->n_tensors && listed < MAX_LISTED; i++) {
            const model_tensor *t = &m->tensors[i];
            if (t->kind != PLINTH_NODE_PARAM || st_find(d, t->name))
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
        const st_tensor *t = st_find(d, p->name);
        if (t->dtype < 0)
            return ctx_error(ctx, PLINTH_ERR_FORMAT,
                             "tensor '%s' in %s has dtype %s, which plinth cannot use", p->name,
                             t->file, t->dtype_name);
        if (t->dtype != p->dtype)
            return ctx_error(ctx, PLINTH_ERR_FORMAT,
                             "tensor '%s': file has %s, the graph wants %s (in %s)", p->name,
                             plinth_dtype_name((plinth_dtype)t->dtype),
                             plinth_dtype_name((plinth_dtype)p->dtype), t->file);
        if (!shapes_match(p, t)) {
            char a[160], b[96];
            return ctx_error(ctx, PLINTH_ERR_FORMAT,
                             "tensor '%s': file has shape %s, the graph wants %s (in %s)",
                             p->name, st_shape_str(t, a, sizeof a),
                             shape_str(p->shape, p->ndim, b, sizeof b), t->file);
        }
        if (t->bytes != p->bytes)
            return ctx_error(ctx, PLINTH_ERR_FORMAT,
                             "tensor '%s' in %s: %" PRIu64 " bytes of data, its shape needs %"
                             PRIu64, p->name, t->file, t->bytes, p->bytes);
    }
    return PLINTH_OK;
}

static plinth_status upload_params(plinth_model *m, st_dict *d, const plinth_load_options *opts)
{
    void (*progress)(void *, double) = OPT_HAS(opts, progress) ? opts->progress : NULL;
    void *user = OPT_HAS(opts, progress_user) ? opts->progress_user : NULL;
    uint64_t total = 0, done = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].kind == PLINTH_NODE_PARAM)
            total += m->tensors[i].bytes;
    if (progress)
        progress(user, 0.0);
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const model_tensor *p = &m->tensors[i];
        if (p->kind != PLINTH_NODE_PARAM)
            continue;
        st_tensor *t = st_find(d, p->name);
        plinth_status s = backend_upload(m->backend, &m->persistent, p->offset, t->data, p->bytes);
        if (s != PLINTH_OK) {
            char what[512];
            snprintf(what, sizeof what, "tensor '%s' (%s)", p->name, t->file);
            return rewrap(m->ctx, s, what);
        }
        t->used = true;
        done += p->bytes;
        if (progress && total > 0)
            progress(user, (double)done / (double)total);
    }
    if (progress && total == 0)
        progress(user, 1.0);
    return PLINTH_OK;
}

static void report_unused(plinth_model *m, st_dict *d, const char *path)
{
    uint32_t n = st_count(d), unused = 0;
    for (uint32_t i = 0; i < n; i++) {
        const st_tensor *t = st_at(d, i);
        if (t->used)
            continue;
        unused++;
        ctx_log(m->ctx, PLINTH_LOG_INFO, "unused tensor '%s' in %s", t->name, t->file);
    }
    ctx_log(m->ctx, PLINTH_LOG_INFO, "%" PRIu32 " of %" PRIu32 " tensors in %s unused", unused,
            n, path);
}

/* Shared by both loaders: `d` is NULL for load_empty (params zeroed). */
static plinth_status load(plinth_model *m, st_dict *d, const char *path,
                          const plinth_load_options *opts)
{
    plinth_status s = PLINTH_OK;
    if (d)
        s = check_params(m, d, path);
    if (s == PLINTH_OK)
        s = pools_alloc(m, !d);
    if (s == PLINTH_OK && d)
        s = upload_params(m, d, opts);
    for (uint32_t i = 0; i < m->n_programs && s == PLINTH_OK; i++)
        s = program_bind(m->programs[i]);
    if (s == PLINTH_OK)
        s = run_all_folds(m);
    if (s != PLINTH_OK) {
        pools_free(m);
        return s;
    }
    if (d && OPT_HAS(opts, report_unused) && opts->report_unused)
        report_unused(m, d, path);
    m->loaded = true;
    return PLINTH_OK;
}

plinth_status plinth_model_load_safetensors(plinth_model *model, const char *path,
                                            const plinth_load_options *opts)
{
    if (!model)
        return PLINTH_ERR_INVALID;
    if (!path)
        return ctx_error(model->ctx, PLINTH_ERR_INVALID, "model load: no path given");
    pools_free(model); /* a reload starts from scratch */
    st_dict *d = NULL;
    plinth_status s = st_open(model->ctx, path, &d);
    if (s != PLINTH_OK)
        return s;
    s = load(model, d, path, opts);
    st_close(d);
    return s;
}

plinth_status plinth_model_load_empty(plinth_model *model)
{
    if (!model)
        return PLINTH_ERR_INVALID;
    pools_free(model);
    return load(model, NULL, NULL, NULL);
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
                             kind_name(t->kind));
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
    plinth_status s = backend_upload(model->backend, &model->persistent, t->offset, data, bytes);
    if (s != PLINTH_OK)
        return s;
    return run_all_folds(model);
}

plinth_status plinth_model_reset_state(plinth_model *model)
{
    if (!model)
        return PLINTH_ERR_INVALID;
    if (!model->loaded)
        return ctx_error(model->ctx, PLINTH_ERR_INVALID,
                         "reset_state: load the model first");
    return backend_zero(model->backend, &model->state, 0, model->state_bytes);
}
