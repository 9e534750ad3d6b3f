/* (c) Breaks rule 2: returns a table claiming an ABI newer than the host's. */
#include "minimal_plugin.h"

static plinth_backend_api api;

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    api = minimal_api("newer");
    api.abi_version = host_abi_version + 1;
    return &api;
}
