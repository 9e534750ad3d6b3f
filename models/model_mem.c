/*
 * model_mem.c — see model_mem.h: the context's allocator for models/, the
 * C library's when there is no context.
 */
#include "model_mem.h"

#include <stdlib.h>
#include <string.h>

void *model_malloc(plinth_context *ctx, size_t size)
{
    if (size == 0)
        size = 1;
    return ctx ? plinth_context_alloc(ctx, NULL, size) : malloc(size);
}

void *model_calloc(plinth_context *ctx, size_t n, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes))
        return NULL;
    void *p = model_malloc(ctx, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void *model_realloc(plinth_context *ctx, void *ptr, size_t size)
{
    if (size == 0)
        size = 1;
    return ctx ? plinth_context_alloc(ctx, ptr, size) : realloc(ptr, size);
}

void model_free(plinth_context *ctx, void *ptr)
{
    if (!ptr)
        return;
    if (ctx)
        plinth_context_alloc(ctx, ptr, 0);
    else
        free(ptr);
}

char *model_strndup(plinth_context *ctx, const char *s, size_t n)
{
    char *p = n < SIZE_MAX ? model_malloc(ctx, n + 1) : NULL;
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *model_strdup(plinth_context *ctx, const char *s)
{
    return model_strndup(ctx, s, strlen(s));
}
