/*
 * model_mem.h — the model code's memory: every allocation of models/ (the
 * config, the tokenizer, the sampler, lm_model and plinth_lm's objects)
 * comes from the context's allocator (plinth_context_options.alloc, through
 * plinth_context_alloc), so that a host's allocator sees it and a test can
 * fail any one of them. An object that allocates keeps the context it was
 * made with and frees into it.
 *
 * ctx NULL means the C library's allocator: for tools and tests that call
 * the model code's internals without a context. (st_writer.c, the
 * checkpoint writer of `plinth init-random`, takes no context: a tool's.)
 *
 * cJSON allocates through process-wide hooks; the core routes them to the
 * context whose parse runs on this thread (core/context.c, json_enter).
 * model_json_enter/leave bracket the model code's cJSON work the same way:
 * every cJSON call that allocates or frees (parse, create, add, print,
 * delete) must run inside the bracket of the context the tree belongs to.
 * Inside libplinth they are the core's json_enter/json_leave
 * (model_json.c); a static copy of the model code linked beside libplinth
 * (tools, tests: models_dep) cannot reach the core's router, and its
 * brackets route nothing there (model_json_none.c): its cJSON trees come
 * from the C library, allocated and freed alike.
 *
 * Thread-safety: as the context's allocator (plinth.h).
 */
#ifndef PLINTH_MODEL_MEM_H
#define PLINTH_MODEL_MEM_H

#include <plinth.h>

#include <stddef.h>

/* NULL when out of memory. A size of 0 takes 1 byte, so success is never
 * NULL. model_calloc checks n * size for overflow (NULL) and zeroes. */
void *model_malloc(plinth_context *ctx, size_t size);
void *model_calloc(plinth_context *ctx, size_t n, size_t size);
/* realloc's contract: NULL on failure with ptr untouched; ptr NULL
 * allocates. */
void *model_realloc(plinth_context *ctx, void *ptr, size_t size);
/* ptr may be NULL. */
void model_free(plinth_context *ctx, void *ptr);
/* A NUL-terminated copy of s[0, n) (model_strdup: of all of s). */
char *model_strndup(plinth_context *ctx, const char *s, size_t n);
char *model_strdup(plinth_context *ctx, const char *s);

/* cJSON's allocations go to ctx until model_json_leave(the returned
 * value); brackets nest. */
plinth_context *model_json_enter(plinth_context *ctx);
void model_json_leave(plinth_context *prev);

#endif /* PLINTH_MODEL_MEM_H */
