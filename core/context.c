/*
 * context.c — the context object, error and log plumbing, and the name
 * tables generated from the one op list.
 *
 * Sections: names; shape helpers; context; errors and logging.
 */
#include "internal.h"

#include "../plugins/loader.h"

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
    };
    if ((unsigned)status >= PLINTH_STATUS_COUNT)
        return "unknown status";
    return names[status];
}

const char *plinth_dtype_name(plinth_dtype dtype)
{
    static const char *const names[PLINTH_DTYPE_COUNT] = {
        [PLINTH_F32] = "f32", [PLINTH_F16] = "f16", [PLINTH_BF16] = "bf16", [PLINTH_I32] = "i32"};
    if ((unsigned)dtype >= PLINTH_DTYPE_COUNT)
        return "?";
    return names[dtype];
}

size_t plinth_dtype_size(plinth_dtype dtype)
{
    static const size_t sizes[PLINTH_DTYPE_COUNT] = {
        [PLINTH_F32] = 4, [PLINTH_F16] = 2, [PLINTH_BF16] = 2, [PLINTH_I32] = 4};
    if ((unsigned)dtype >= PLINTH_DTYPE_COUNT)
        return 0;
    return sizes[dtype];
}

static const char *const op_names[PLINTH_OP_COUNT] = {
#define X(E, n, lo, hi) [PLINTH_OP_##E] = #n,
    PLINTH_OP_LIST(X)
#undef X
};

const char *plinth_op_name(plinth_op op)
{
    if ((unsigned)op >= PLINTH_OP_COUNT)
        return "?";
    return op_names[op];
}

plinth_op plinth_op_from_name(const char *name)
{
    for (int i = 0; name && i < PLINTH_OP_COUNT; i++)
        if (strcmp(op_names[i], name) == 0)
            return (plinth_op)i;
    return PLINTH_OP_COUNT;
}

void plinth_free(void *ptr)
{
    free(ptr);
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

uint64_t node_bytes(const graph_node *n)
{
    uint64_t count = 1;
    for (int i = 0; i < n->ndim; i++)
        count *= (uint64_t)n->shape[i];
    return count * plinth_dtype_size((plinth_dtype)n->dtype);
}

bool node_is_contiguous(const graph_node *n)
{
    int64_t expect = (int64_t)plinth_dtype_size((plinth_dtype)n->dtype);
    for (int i = n->ndim - 1; i >= 0; i--) {
        if (n->shape[i] != 1 && n->stride[i] != expect)
            return false;
        expect *= n->shape[i];
    }
    return true;
}

/* ----------------------------------------------------------- context --- */

plinth_status plinth_context_create(const plinth_context_options *opts, plinth_context **out)
{
    if (!out)
        return PLINTH_ERR_INVALID;
    *out = NULL;
    plinth_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return PLINTH_ERR_NO_MEMORY;
    ctx->log_level = PLINTH_LOG_WARN;
    if (opts) {
        if (opts->struct_size < sizeof(uint32_t)) {
            free(ctx);
            return PLINTH_ERR_INVALID;
        }
        ctx->log = opts->log;
        ctx->log_user = opts->log_user;
        ctx->log_level = opts->log_level;
        if (opts->plugin_dirs) {
            size_t n = 0;
            while (opts->plugin_dirs[n])
                n++;
            ctx->plugin_dirs = calloc(n + 1, sizeof(char *));
            if (!ctx->plugin_dirs) {
                free(ctx);
                return PLINTH_ERR_NO_MEMORY;
            }
            for (size_t i = 0; i < n; i++) {
                ctx->plugin_dirs[i] = strdup(opts->plugin_dirs[i]);
                if (!ctx->plugin_dirs[i]) {
                    plinth_context_destroy(ctx);
                    return PLINTH_ERR_NO_MEMORY;
                }
            }
        }
    }
    *out = ctx;
    return PLINTH_OK;
}

void plinth_context_destroy(plinth_context *ctx)
{
    if (!ctx)
        return;
    loader_unload_all(ctx);
    if (ctx->plugin_dirs) {
        for (size_t i = 0; ctx->plugin_dirs[i]; i++)
            free(ctx->plugin_dirs[i]);
        free(ctx->plugin_dirs);
    }
    free(ctx);
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

void ctx_log(plinth_context *ctx, int level, const char *fmt, ...)
{
    if (!ctx || !ctx->log || level > ctx->log_level)
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ctx->log(ctx->log_user, level, buf);
}
