/*
 * backend.c — the public face of plugins: discovery reports, device queries,
 * and opening/closing a backend (one device of one plugin).
 *
 * Sections: reports; backends.
 *
 * The context owns every plugin (ctx->plugins, unloaded at context destroy);
 * a plinth_backend owns only its open device.
 */
#include "internal.h"

#include "../plugins/loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- reports --- */

plinth_status plinth_plugins_scan(plinth_context *ctx)
{
    if (!ctx)
        return PLINTH_ERR_INVALID;
    return loader_scan(ctx);
}

uint32_t plinth_plugin_count(const plinth_context *ctx)
{
    return ctx ? ctx->n_plugins : 0;
}

plinth_status plinth_plugin_query(const plinth_context *ctx, uint32_t index,
                                  plinth_plugin_report *out)
{
    if (!ctx || !out || index >= ctx->n_plugins)
        return PLINTH_ERR_INVALID;
    *out = ctx->plugins[index].report;
    return PLINTH_OK;
}

/* Terminates a fixed-size string a plugin filled (it may not have). */
#define TERMINATE(arr) ((arr)[sizeof(arr) - 1] = '\0')

plinth_status plinth_plugin_device_info(plinth_context *ctx, uint32_t plugin, uint32_t device,
                                        plinth_device_info *out)
{
    if (!ctx || !out)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "plinth_plugin_device_info: NULL argument");
    if (plugin >= ctx->n_plugins)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "no plugin %u (there are %u)", plugin,
                         ctx->n_plugins);
    const plugin_entry *e = &ctx->plugins[plugin];
    if (!e->plugin)
        return ctx_error(ctx, PLINTH_ERR_PLUGIN, "plugin '%s' is not loaded: %s", e->report.path,
                         e->report.error);
    const plinth_backend_api *api = loader_api(e->plugin);
    uint32_t n = api->device_count();
    if (device >= n)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "backend '%s' has %u device%s; no device %u",
                         api->name, n, n == 1 ? "" : "s", device);
    plinth_device_info info = {.struct_size = sizeof info};
    plinth_context *prev = loader_enter(ctx);
    int32_t st = api->device_info(device, &info);
    loader_leave(prev);
    if (st != PLINTH_OK) {
        const char *msg = api->last_error(NULL);
        return ctx_error(ctx, st > 0 && st < PLINTH_STATUS_COUNT ? (plinth_status)st
                                                                   : PLINTH_ERR_PLUGIN,
                         "backend '%s': device_info(%u) failed: %s", api->name, device,
                         msg && msg[0] ? msg : "no message");
    }
    info.struct_size = sizeof info;
    TERMINATE(info.name);
    TERMINATE(info.description);
    TERMINATE(info.features);
    *out = info;
    return PLINTH_OK;
}

/* --------------------------------------------------------- backends --- */

plinth_status plinth_backend_open(plinth_context *ctx, const char *name, uint32_t device,
                                  const plinth_device_options *opts, plinth_backend **out)
{
    if (out)
        *out = NULL;
    if (!ctx || !name || !out)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "plinth_backend_open: NULL argument");

    plinth_plugin *plugin = NULL;
    plinth_status s = loader_resolve(ctx, name, &plugin);
    if (s != PLINTH_OK)
        return s;
    const plinth_backend_api *api = loader_api(plugin);

    uint32_t n = api->device_count();
    if (device >= n) {
        if (n == 0) {
            /* unavailable_reason is optional: read it only if the table has it. */
            const char *why = NULL;
            if (api->struct_size >= offsetof(plinth_backend_api, unavailable_reason) +
                                        sizeof api->unavailable_reason &&
                api->unavailable_reason)
                why = api->unavailable_reason();
            return ctx_error(ctx, PLINTH_ERR_DEVICE, "backend '%s' has no devices%s%s",
                             api->name, why && why[0] ? ": " : "", why ? why : "");
        }
        return ctx_error(ctx, PLINTH_ERR_DEVICE, "backend '%s' has %u device%s; no device %u",
                         api->name, n, n == 1 ? "" : "s", device);
    }

    plinth_backend *b = calloc(1, sizeof *b);
    if (!b)
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "backend '%s': out of memory", api->name);
    b->ctx = ctx;
    b->plugin = plugin;
    b->api = api;
    b->device_index = device;
    snprintf(b->name, sizeof b->name, "%s", api->name);

    const plinth_device_options defaults = {.struct_size = sizeof defaults};
    plinth_device *dev = NULL;
    plinth_context *prev = loader_enter(ctx);
    int32_t st = api->device_open(device, opts ? opts : &defaults, &dev);
    loader_leave(prev);
    if (st != PLINTH_OK || !dev) {
        const char *msg = api->last_error(NULL);
        if (st == PLINTH_OK)
            s = ctx_error(ctx, PLINTH_ERR_PLUGIN,
                          "backend '%s': device_open(%u) returned OK but no device", b->name,
                          device);
        else
            s = ctx_error(ctx, st > 0 && st < PLINTH_STATUS_COUNT ? (plinth_status)st
                                                                    : PLINTH_ERR_PLUGIN,
                          "backend '%s': cannot open device %u: %s", b->name, device,
                          msg && msg[0] ? msg : plinth_status_name((plinth_status)st));
        free(b);
        return s;
    }
    b->dev = dev;
    *out = b;
    return PLINTH_OK;
}

void plinth_backend_close(plinth_backend *backend)
{
    if (!backend)
        return;
    if (backend->dev) {
        plinth_context *prev = loader_enter(backend->ctx);
        backend->api->device_close(backend->dev);
        loader_leave(prev);
    }
    free(backend);
}

const char *plinth_backend_name(const plinth_backend *backend)
{
    return backend ? backend->name : "";
}
