/* (d) Breaks rule 3: struct_size too small to hold the mandatory slots. */
#include "minimal_plugin.h"

static plinth_backend_api api;

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    (void)host_abi_version;
    api = minimal_api("small");
    api.struct_size = (uint32_t)offsetof(plinth_backend_api, buffer_alloc);
    return &api;
}
