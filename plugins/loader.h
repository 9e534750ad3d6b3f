/*
 * loader.h — the core's only way into a plugin (compiled into libplinth).
 *
 * Finds plugin files, dlopens them, negotiates the ABI, checks the table,
 * and wraps every slot: the core never calls a plugin pointer directly.
 * Wrappers check presence, supply defaults for optional slots, and check
 * post-conditions (the allocator's alignment); errors land on the context
 * naming the plugin.
 */
#ifndef PLINTH_LOADER_H
#define PLINTH_LOADER_H

#include "../core/internal.h"

/* Plugin files are named "plinth-<name>.so". */
#define PLINTH_PLUGIN_PREFIX "plinth-"
#define PLINTH_PLUGIN_SUFFIX ".so"

/* Loads the plugin at `path` (no search). On failure: NULL and ctx error
 * naming the file and the reason (missing, not a shared object, entry
 * missing, ABI mismatch, table incomplete). */
plinth_status loader_open(plinth_context *ctx, const char *path, plinth_plugin **out);
void loader_close(plinth_plugin *p);
const plinth_backend_api *loader_api(const plinth_plugin *p);
const char *loader_path(const plinth_plugin *p);

/* Search order: ctx->plugin_dirs, $PLINTH_PLUGIN_PATH, PLINTH_INSTALL_PLUGIN_DIR,
 * PLINTH_BUILD_PLUGIN_PATH (compile-time). Fills ctx->plugins with every
 * plinth-*.so found (first of each name wins) and its report. */
plinth_status loader_scan(plinth_context *ctx);
void loader_unload_all(plinth_context *ctx);

/* ---- checked wrappers (b->api, b->dev valid) ---- */
plinth_status backend_buffer_alloc(plinth_backend *b, uint64_t size, plinth_buffer *out);
void backend_buffer_free(plinth_backend *b, plinth_buffer *buf); /* NULL-safe, zeroes */
plinth_status backend_upload(plinth_backend *b, const plinth_buffer *dst, uint64_t offset,
                             const void *src, uint64_t size);
plinth_status backend_download(plinth_backend *b, const plinth_buffer *src, uint64_t offset,
                               void *dst, uint64_t size);
/* Fills `size` bytes with zeros (via upload of a zero block). */
plinth_status backend_zero(plinth_backend *b, const plinth_buffer *dst, uint64_t offset,
                           uint64_t size);
/* false for ops the plugin's table lacks, or whose supports() says no. */
bool backend_supports(plinth_backend *b, uint32_t op, const plinth_view *out,
                      const plinth_view *in, uint32_t n_in, const void *attrs);
plinth_kernel_fn backend_kernel(plinth_backend *b, uint32_t op);
bool backend_has_program_path(const plinth_backend *b);
plinth_status backend_prepare(plinth_backend *b, const plinth_instruction *code, uint32_t n,
                              void **out_program);
plinth_status backend_execute(plinth_backend *b, void *program);
void backend_release(plinth_backend *b, void *program);
plinth_status backend_synchronize(plinth_backend *b);
/* The plugin's last error text, never NULL. */
const char *backend_last_error(plinth_backend *b);

/* ---- added for core/backend.c (plinth_backend_open) ---- */
/* Resolves `name` as plinth_backend_open does: if it contains a '/', the
 * plugin file at that path (opened once and then kept in ctx->plugins, which
 * owns it); otherwise, after a scan, the loaded plugin whose backend is called
 * `name`. On failure the error lists the backends found and the directories
 * searched. The plugin stays owned by the context. */
plinth_status loader_resolve(plinth_context *ctx, const char *name, plinth_plugin **out);

/* Records `ctx` as the context of the plugin call about to be made (plugin
 * log lines go to it) and returns the previous one for loader_leave. Every
 * wrapper does this; core/backend.c does it around device_* calls. */
plinth_context *loader_enter(plinth_context *ctx);
void loader_leave(plinth_context *prev);

#endif /* PLINTH_LOADER_H */
