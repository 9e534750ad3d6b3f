/*
 * cli_devices.c — `plinth devices`: every plugin found, its devices and
 * features, and every plugin file that was refused with the reason.
 */
#include "cli.h"

#include <stdio.h>

static const char *type_name(int32_t type)
{
    switch (type) {
    case PLINTH_DEVICE_CPU: return "cpu";
    case PLINTH_DEVICE_GPU_DISCRETE: return "discrete gpu";
    case PLINTH_DEVICE_GPU_INTEGRATED: return "integrated gpu";
    case PLINTH_DEVICE_GPU_VIRTUAL: return "virtual gpu";
    case PLINTH_DEVICE_SOFTWARE: return "software";
    default: return "other";
    }
}

static const char devices_usage[] =
    "usage: plinth devices [--plugin-dir=DIR]\n"
    "Lists every backend plugin found, its devices and their features (and what\n"
    "--precision fast would use on each), and every plugin file that was refused,\n"
    "with the reason.\n";

int cli_devices(cli_options *o, int argc, char **argv)
{
    int rc = cli_parse_common(o, argc, argv, devices_usage);
    if (rc != CLI_PARSED)
        return rc;
    if (optind < argc) {
        fprintf(stderr, "plinth: devices takes no arguments\n");
        return 2;
    }
    plinth_context *ctx = cli_context(o);
    if (!ctx)
        return 1;
    if (plinth_plugins_scan(ctx) != PLINTH_OK) {
        rc = cli_fail(ctx, "plugin scan");
        plinth_context_destroy(ctx);
        return rc;
    }
    uint32_t n = plinth_plugin_count(ctx), n_loaded = 0;
    for (uint32_t i = 0; i < n; i++) {
        plinth_plugin_report r = {.struct_size = sizeof r};
        if (plinth_plugin_query(ctx, i, &r) != PLINTH_OK || !r.loaded)
            continue;
        n_loaded++;
        printf("%s %s  (%s)\n", r.name, r.version, r.path);
        if (r.n_devices == 0)
            printf("  no devices%s%s\n", r.unavailable[0] ? ": " : "", r.unavailable);
        for (uint32_t d = 0; d < r.n_devices; d++) {
            plinth_device_info info = {.struct_size = sizeof info};
            if (plinth_plugin_device_info(ctx, i, d, &info) != PLINTH_OK) {
                printf("  %u: (error: %s)\n", d, plinth_context_error(ctx));
                continue;
            }
            char mem[32] = "-";
            if (info.memory_bytes)
                cli_bytes(info.memory_bytes, mem, sizeof mem);
            printf("  %u: %-28s %-14s memory %-10s %s\n", d, info.name, type_name(info.type),
                   mem, info.features);
            if (info.description[0])
                printf("     %s\n", info.description);
            /* what --precision fast would use; a plugin that says nothing
             * has no fast arithmetic */
            printf("     precision %s\n",
                   info.precision[0] ? info.precision : "fast: as exact (the backend has none)");
        }
    }
    int refused = 0;
    for (uint32_t i = 0; i < n; i++) {
        plinth_plugin_report r = {.struct_size = sizeof r};
        if (plinth_plugin_query(ctx, i, &r) != PLINTH_OK || r.loaded)
            continue;
        if (!refused++)
            printf("refused:\n");
        printf("  %s: %s\n", r.path, r.error);
    }
    if (n_loaded == 0)
        fprintf(stderr, "plinth: no backend plugins found (try --plugin-dir or PLINTH_PLUGIN_PATH)\n");
    plinth_context_destroy(ctx);
    return n_loaded ? 0 : 1;
}
