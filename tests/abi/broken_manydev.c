/*
 * broken_manydev.c — a plugin that claims 2^32 - 1 devices (rule 13): a
 * host that believed it would list devices without end.
 */
#include "minimal_plugin.h"

static uint32_t many(plinth_instance *inst)
{
    (void)inst;
    return UINT32_MAX;
}

static plinth_backend_api api;

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    (void)host_abi_version;
    api = minimal_api("manydev");
    api.device_count = many;
    return &api;
}
