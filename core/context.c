/*
 * context.c — the context object, error and log plumbing, and the name
 * tables generated from the one op list.
 *
 * Sections: names; shape helpers; allocator (and cJSON's routing);
 * context (lifetime); errors and logging.
 */
#include "internal.h"

#include "loader.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- names --- */

const char *plinth_status_name(plinth_status status)
{
    static const char *const names[PLINTH_STATUS_COUNT] = {
        [PLINTH_OK] = "ok",
        [PLINTH_ERR_INVALID] = "invalid argument",
        [PLINTH_ERR_UNSUPPORTED] = "unsupported",
        [PLINTH_ERR_NO_MEMORY] = "out of memory",
        [PLINTH_ERR_IO] = "i/o error",
        [PLINTH_ERR_FORMAT] = "bad file format",
        [PLINTH_ERR_PLUGIN] = "plugin error",
        [PLINTH_ERR_DEVICE] = "device error",
        [PLINTH_ERR_INTERNAL] = "internal error",
        [PLINTH_ERR_BUSY] = "busy",
    };
    if ((unsigned)status >= PLINTH_STATUS_COUNT)
        return "unknown status";
    return names[status];
}

const char *plinth_dtype_name(plinth_dtype dtype)
{
    return plinth_dtype_label(dtype);
}

size_t plinth_dtype_size(plinth_dtype dtype)
{
    return plinth_dtype_bytes(dtype);
}

const char *plinth_op_name(plinth_op op)
{
    return plinth_op_label((uint32_t)op);
}

plinth_op plinth_op_from_name(const char *name)
{
    for (int i = 0; name && i < PLINTH_OP_COUNT; i++)
        if (strcmp(plinth_op_label((uint32_t)i), name) == 0)
            return (plinth_op)i;
    return PLINTH_OP_COUNT;
}

const char *plinth_version(void)
{
    return PLINTH_VERSION_STRING;
}

bool plinth_op_arity(plinth_op op, uint32_t *out_min, uint32_t *out_max)
{
    if ((unsigned)op >= PLINTH_OP_COUNT)
        return false;
    if (out_min)
        *out_min = plinth_op_min_inputs((uint32_t)op);
    if (out_max)
        *out_max = plinth_op_max_inputs((uint32_t)op);
    return true;
}

bool sized_out(void *out, const void *full, size_t size)
{
    uint32_t have;
    memcpy(&have, out, sizeof have);
    if (have < sizeof have)
        return false;
    size_t n = have < size ? have : size;
    memcpy((char *)out + sizeof have, (const char *)full + sizeof have, n - sizeof have);
    return true;
}

const char *pool_name(int32_t pool)
{
    static const char *const names[POOL_COUNT] = {
        [POOL_ARENA] = "arena", [POOL_PERSISTENT] = "persistent", [POOL_STATE] = "state",
        [POOL_IO] = "io", [POOL_SCRATCH] = "scratch"};
    return (unsigned)pool < POOL_COUNT ? names[pool] : "?";
}

const char *node_kind_name(int32_t kind)
{
    switch (kind) {
    case PLINTH_NODE_INPUT: return "input";
    case PLINTH_NODE_PARAM: return "param";
    case PLINTH_NODE_CONSTANT: return "constant";
    case PLINTH_NODE_STATE: return "state";
    case PLINTH_NODE_OP: return "folded value";
    case PLINTH_NODE_VIEW: return "view";
    default: return "tensor";
    }
}

/* ----------------------------------------------------- shape helpers --- */

const char *shape_str(const int64_t *shape, int ndim, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf + used, size - used, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %lld" : "%lld",
                                 (long long)shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

bool view_span(const plinth_view *v, uint64_t *first, uint64_t *end)
{
    /* Extent relative to element 0. Any overflow is itself out of bounds. A
     * block dtype's inner dim steps from block to block (stride[3] is the
     * block's bytes), and the last block ends block_bytes after its start. */
    const int64_t per = (int64_t)plinth_dtype_block_elems(v->dtype);
    if (per <= 0 || v->shape[3] % per != 0)
        return false;
    int64_t lo = 0, hi = 0;
    bool empty = false, wrap = false;
    for (int k = 0; k < PLINTH_MAX_DIMS; k++) {
        if (v->shape[k] < 0)
            return false;
        if (v->shape[k] == 0)
            empty = true;
        const int64_t steps = k == 3 ? v->shape[k] / per : v->shape[k];
        int64_t span = 0;
        if (steps > 0)
            wrap |= __builtin_mul_overflow(steps - 1, v->stride[k], &span);
        wrap |= __builtin_add_overflow(span < 0 ? lo : hi, span, span < 0 ? &lo : &hi);
    }
    if (empty) {
        *first = *end = v->offset;
        return true;
    }
    int64_t f = 0, e = 0;
    wrap |= v->offset > (uint64_t)INT64_MAX;
    wrap |= __builtin_add_overflow((int64_t)v->offset, lo, &f);
    wrap |= __builtin_add_overflow((int64_t)v->offset, hi, &e);
    wrap |= __builtin_add_overflow(e, (int64_t)plinth_dtype_block_bytes(v->dtype), &e);
    if (wrap || f < 0)
        return false;
    *first = (uint64_t)f;
    *end = (uint64_t)e;
    return true;
}

bool tensor_bytes(int32_t dtype, int32_t ndim, const int64_t *shape, uint64_t *out)
{
    /* rows x the bytes of one row of the innermost dim */
    uint64_t rows = 1;
    bool empty = false;
    for (int32_t i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return false;
        empty |= shape[i] == 0;
    }
    const int64_t inner = ndim > 0 ? shape[ndim - 1] : 1;
    if (plinth_dtype_block_elems(dtype) == 0 || inner % (int64_t)plinth_dtype_block_elems(dtype))
        return false;
    if (empty) {
        *out = 0;
        return true;
    }
    for (int32_t i = 0; i + 1 < ndim; i++)
        if (__builtin_mul_overflow(rows, (uint64_t)shape[i], &rows))
            return false;
    const uint64_t row = plinth_dtype_row_bytes(dtype, inner);
    if (row == 0 || __builtin_mul_overflow(rows, row, out))
        return false;
    return true;
}

void contiguous_strides(int32_t dtype, int32_t ndim, const int64_t *shape, int64_t *stride)
{
    if (ndim <= 0)
        return;
    stride[ndim - 1] = (int64_t)plinth_dtype_block_bytes(dtype);
    if (ndim > 1)
        stride[ndim - 2] = (int64_t)plinth_dtype_row_bytes(dtype, shape[ndim - 1]);
    for (int32_t i = ndim - 3; i >= 0; i--)
        stride[i] = stride[i + 1] * shape[i + 1];
}

uint64_t node_bytes(const graph_node *n)
{
    uint64_t bytes = 0;
    return tensor_bytes(n->dtype, n->ndim, n->shape, &bytes) ? bytes : 0;
}

bool node_is_contiguous(const graph_node *n)
{
    int64_t want[PLINTH_MAX_DIMS];
    contiguous_strides(n->dtype, n->ndim, n->shape, want);
    for (int i = 0; i < n->ndim; i++)
        if (n->shape[i] != 1 && n->stride[i] != want[i])
            return false;
    return true;
}

/* --------------------------------------------------------- allocator --- */

static void *libc_alloc(void *user, void *ptr, size_t size)
{
    (void)user;
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, size);
}

void *ctx_malloc(plinth_context *ctx, size_t size)
{
    return ctx->alloc(ctx->alloc_user, NULL, size ? size : 1);
}

void *ctx_calloc(plinth_context *ctx, size_t n, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes))
        return NULL;
    void *p = ctx_malloc(ctx, bytes);
    if (p)
        memset(p, 0, bytes ? bytes : 1);
    return p;
}

void *ctx_realloc(plinth_context *ctx, void *ptr, size_t size)
{
    return ctx->alloc(ctx->alloc_user, ptr, size ? size : 1);
}

bool ctx_grow(plinth_context *ctx, void **v, uint32_t *cap, uint32_t need, size_t size)
{
    if (need <= *cap)
        return true;
    uint64_t n = *cap ? *cap : 8;
    while (n < need)
        n *= 2;
    size_t bytes;
    if (n > UINT32_MAX || __builtin_mul_overflow((size_t)n, size, &bytes))
        return false;
    void *grown = ctx_realloc(ctx, *v, bytes);
    if (!grown)
        return false;
    *v = grown;
    *cap = (uint32_t)n;
    return true;
}

void ctx_free(plinth_context *ctx, void *ptr)
{
    if (ptr)
        ctx->alloc(ctx->alloc_user, ptr, 0);
}

char *ctx_strdup(plinth_context *ctx, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = ctx_malloc(ctx, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void *plinth_context_alloc(plinth_context *ctx, void *ptr, size_t size)
{
    if (!ctx)
        return NULL;
    if (size == 0) {
        ctx_free(ctx, ptr);
        return NULL;
    }
    return ctx->alloc(ctx->alloc_user, ptr, size);
}

/* cJSON's hooks are process-wide and take no user pointer: they route to
 * the context whose parse or print is running on this thread, else to the
 * C library. Installed once; a host that installs its own hooks later
 * takes them back, which costs only the routing. */
static _Thread_local plinth_context *json_ctx;

static void *json_malloc(size_t size)
{
    return json_ctx ? ctx_malloc(json_ctx, size) : malloc(size);
}

static void json_free(void *ptr)
{
    if (json_ctx)
        ctx_free(json_ctx, ptr);
    else
        free(ptr);
}

static void json_hooks_install(void)
{
    cJSON_Hooks hooks = {.malloc_fn = json_malloc, .free_fn = json_free};
    cJSON_InitHooks(&hooks);
}

plinth_context *json_enter(plinth_context *ctx)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, json_hooks_install);
    plinth_context *prev = json_ctx;
    json_ctx = ctx;
    return prev;
}

void json_leave(plinth_context *prev)
{
    json_ctx = prev;
}

/* ----------------------------------------------------------- context --- */

#define OPT(o, field, dflt) \
    ((o) && PLINTH_HAS_FIELD(o, plinth_context_options, field) ? (o)->field : (dflt))

plinth_status plinth_context_create(const plinth_context_options *opts, plinth_context **out)
{
    if (!out)
        return PLINTH_ERR_INVALID;
    *out = NULL;
    if (opts && opts->struct_size < sizeof(uint32_t))
        return PLINTH_ERR_INVALID;
    plinth_alloc_fn alloc = OPT(opts, alloc, NULL);
    void *alloc_user = alloc ? OPT(opts, alloc_user, NULL) : NULL;
    if (!alloc)
        alloc = libc_alloc;
    plinth_context *ctx = alloc(alloc_user, NULL, sizeof *ctx);
    if (!ctx)
        return PLINTH_ERR_NO_MEMORY;
    memset(ctx, 0, sizeof *ctx);
    ctx->alloc = alloc;
    ctx->alloc_user = alloc_user;
    ctx->refs = 1;
    ctx->log = OPT(opts, log, NULL);
    ctx->log_user = OPT(opts, log_user, NULL);
    ctx->log_level = OPT(opts, log_level, PLINTH_LOG_WARN);
    pthread_mutex_init(&ctx->log_lock, NULL);
    const char *const *dirs = OPT(opts, plugin_dirs, NULL);
    if (dirs) {
        size_t n = 0;
        while (dirs[n])
            n++;
        ctx->plugin_dirs = ctx_calloc(ctx, n + 1, sizeof(char *));
        for (size_t i = 0; ctx->plugin_dirs && i < n; i++) {
            ctx->plugin_dirs[i] = ctx_strdup(ctx, dirs[i]);
            if (!ctx->plugin_dirs[i]) {
                plinth_context_destroy(ctx);
                return PLINTH_ERR_NO_MEMORY;
            }
        }
        if (!ctx->plugin_dirs) {
            plinth_context_destroy(ctx);
            return PLINTH_ERR_NO_MEMORY;
        }
    }
    *out = ctx;
    return PLINTH_OK;
}

void ctx_retain(plinth_context *ctx)
{
    ctx->refs++;
}

void ctx_release(plinth_context *ctx)
{
    if (!ctx || --ctx->refs > 0)
        return;
    loader_unload_all(ctx);
    if (ctx->plugin_dirs) {
        for (size_t i = 0; ctx->plugin_dirs[i]; i++)
            ctx_free(ctx, ctx->plugin_dirs[i]);
        ctx_free(ctx, ctx->plugin_dirs);
    }
    pthread_mutex_destroy(&ctx->log_lock);
    plinth_alloc_fn alloc = ctx->alloc;
    void *user = ctx->alloc_user;
    alloc(user, ctx, 0);
}

void plinth_context_destroy(plinth_context *ctx)
{
    ctx_release(ctx);
}

const char *plinth_context_error(const plinth_context *ctx)
{
    return ctx ? ctx->error : "no context";
}

/* ------------------------------------------------ errors and logging --- */

plinth_status ctx_error(plinth_context *ctx, plinth_status status, const char *fmt, ...)
{
    if (!ctx)
        return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
    va_end(ap);
    return status;
}

plinth_status ctx_error_wrap(plinth_context *ctx, plinth_status status, const char *fmt, ...)
{
    if (!ctx)
        return status;
    char prefix[1024], why[sizeof ctx->error];
    memcpy(why, ctx->error, sizeof why); /* never format ctx->error into itself */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(ctx->error, sizeof ctx->error, "%s: %.*s", prefix, (int)(sizeof ctx->error / 2),
             why);
    return status;
}

void ctx_log(plinth_context *ctx, int level, const char *fmt, ...)
{
    if (!ctx || !ctx->log || level > ctx->log_level)
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&ctx->log_lock);
    ctx->log(ctx->log_user, level, buf);
    pthread_mutex_unlock(&ctx->log_lock);
}
