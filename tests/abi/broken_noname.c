/* (g) Breaks rule 3: the table has no name. */
#include "minimal_plugin.h"

static plinth_backend_api api;

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    (void)host_abi_version;
    api = minimal_api(NULL);
    return &api;
}
