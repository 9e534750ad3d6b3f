/*
 * loader.h — finding, loading and checking plugins (core code; never
 * installed).
 *
 * A plugin is loaded into one context: dlopen, version negotiation, table
 * checks, then one plugin instance created with a host whose `user` is that
 * context. The context owns its plugins (ctx->plugins) and unloads them when
 * it is freed, which its backends delay (they retain it). Every call into a
 * loaded plugin goes through slots.h, never through `api` directly.
 */
#ifndef PLINTH_LOADER_H
#define PLINTH_LOADER_H

#include "internal.h"

/* Plugin files are named "plinth-<name>.so". */
#define PLINTH_PLUGIN_PREFIX "plinth-"
#define PLINTH_PLUGIN_SUFFIX ".so"

struct plinth_plugin {
    void *handle;                  /* from dlopen                          */
    const plinth_backend_api *api; /* checked table, lives in the plugin   */
    plinth_instance *inst;         /* this context's instance              */
    plinth_host host;              /* the instance's services; user = ctx  */
    plinth_context *ctx;
    uint32_t n_devices;            /* device_count(), checked and bounded  */
    char path[];                   /* as found or given                    */
};

/* Loads the plugin at `path` (no search) into ctx: dlopen, negotiation,
 * table checks, instance, device count. `expect_name` (may be NULL) is the
 * backend name the file's name promises; the table must say the same. On
 * failure: NULL and a ctx error naming the file and the reason. */
plinth_status loader_open(plinth_context *ctx, const char *path, const char *expect_name,
                          plinth_plugin **out);
void loader_close(plinth_plugin *p);

/* The plugin for plinth_backend_open's `name`: a path (contains '/'), or a
 * backend name whose file plinth-<name>.so is the first in the search order
 * (only that file is loaded; later ones of the same name are logged as
 * shadowed). Loaded once per context; the context owns it. On failure the
 * error names the file, or lists the directories searched. */
plinth_status loader_resolve(plinth_context *ctx, const char *name, plinth_plugin **out);

/* Loads every plinth-*.so of the search path (first of each name; later
 * ones are reported as shadowed, not loaded) and records a report for each
 * (ctx->plugins). For listing only. */
plinth_status loader_scan(plinth_context *ctx);
/* Closes every plugin of the context (its backends are gone). */
void loader_unload_all(plinth_context *ctx);

#endif /* PLINTH_LOADER_H */
