/*
 * broken_segv.c — a plugin whose entry crashes with SIGSEGV.
 */
#include "minimal_plugin.h"

#include <signal.h>

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    (void)host_abi_version;
    raise(SIGSEGV);
    return NULL;
}
