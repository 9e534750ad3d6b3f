/* (f) Breaks rule 4: buffers start 16 bytes past a 256-byte boundary. */
#include "minimal_plugin.h"

static int32_t misaligned_alloc(plinth_device *dev, uint64_t size, plinth_buffer *out)
{
    (void)dev;
    uint64_t rounded = (size + 2 * PLINTH_ALIGNMENT) / PLINTH_ALIGNMENT * PLINTH_ALIGNMENT;
    uint8_t *base = aligned_alloc(PLINTH_ALIGNMENT, (size_t)rounded);
    if (!base)
        return PLINTH_ERR_NO_MEMORY;
    out->handle = base; /* minimal_buffer_free frees the handle */
    out->host = base + 16;
    out->size = rounded - 16;
    return PLINTH_OK;
}

static plinth_backend_api api;

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    (void)host_abi_version;
    api = minimal_api("misaligned");
    api.buffer_alloc = misaligned_alloc;
    (void)minimal_buffer_alloc;
    return &api;
}
