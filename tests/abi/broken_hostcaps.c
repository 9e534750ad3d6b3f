/* (l) Breaks rule 15: declares PLINTH_CAP_HOST_MEMORY, yet its buffers have
 * no host address. */
#include "minimal_plugin.h"

static int32_t hidden_alloc(plinth_device *dev, uint64_t size, plinth_buffer *out)
{
    int32_t st = minimal_buffer_alloc(dev, size, out);
    out->host = NULL; /* "device memory" after all */
    return st;
}

static uint64_t claims_host_memory(plinth_device *dev)
{
    (void)dev;
    return PLINTH_CAP_HOST_MEMORY;
}

static plinth_backend_api api;

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    (void)host_abi_version;
    api = minimal_api("hostcaps");
    api.buffer_alloc = hidden_alloc;
    api.device_caps = claims_host_memory;
    return &api;
}
