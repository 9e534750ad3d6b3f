/*
 * broken_exit.c — a plugin whose entry calls exit() (rule 8).
 */
#include "minimal_plugin.h"

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    (void)host_abi_version;
    exit(3);
}
