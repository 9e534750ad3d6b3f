/* (e) Breaks rule 3: a mandatory slot (buffer_alloc) is NULL. */
#include "minimal_plugin.h"

static plinth_backend_api api;

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    (void)host_abi_version;
    api = minimal_api("noalloc");
    api.buffer_alloc = NULL;
    (void)minimal_buffer_alloc;
    return &api;
}
