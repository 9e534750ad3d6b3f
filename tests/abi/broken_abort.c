/*
 * broken_abort.c — a plugin whose constructor aborts: loading it at all ends
 * the process. Only `plinth devices` (which loads every plugin to list
 * them) may ever touch it; a run that asks for another backend must not.
 */
#include "minimal_plugin.h"

__attribute__((constructor)) static void boom(void)
{
    abort();
}

static plinth_backend_api api;

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    (void)host_abi_version;
    api = minimal_api("abort");
    return &api;
}
