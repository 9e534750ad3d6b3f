/*
 * plugin_host.h — the instance every shipped plugin (ref, cpu, vulkan)
 * keeps, and its services: errors, the host's log and the host's allocator.
 * Compiled into each plugin (plugins share no state and no symbols; they
 * share this source). Depends on plinth_plugin.h alone, like the plugins.
 *
 * The template plugin carries its own copy on purpose: it is the one file
 * a plugin author copies.
 */
#ifndef PLINTH_PLUGIN_HOST_H
#define PLINTH_PLUGIN_HOST_H

#include "plinth_plugin.h"

#include <stdarg.h>

#define PLUGIN_ERROR_SIZE 1024

/* One per host context (instance_create). The host's services live here and
 * nowhere else: no process-wide or thread-local state holds them. */
struct plinth_instance {
    const plinth_host *host;       /* valid until instance_destroy            */
    char error[PLUGIN_ERROR_SIZE]; /* last failed device_info/device_open, "" */
};

/* The three instance slots of the table. instance_create refuses a host
 * without an allocator (rule 14: everything the plugin keeps comes from
 * it, the instance first). */
int32_t plugin_instance_create(const plinth_host *host, plinth_instance **out);
void plugin_instance_destroy(plinth_instance *inst);
const char *plugin_instance_error(plinth_instance *inst);

/* Formats the instance's error and returns `status`. */
int32_t plugin_inst_fail(plinth_instance *inst, int32_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Formats into a device's error buffer (any plugin's) and returns status. */
int32_t plugin_set_error(char *buf, size_t size, int32_t status, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
/* A line to the host's log (if it listens). */
void plugin_log(plinth_instance *inst, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The host's allocator: NULL from plugin_malloc fails the call with
 * PLINTH_ERR_NO_MEMORY; plugin_free(NULL) does nothing. */
void *plugin_malloc(plinth_instance *inst, size_t size);
void plugin_free(plinth_instance *inst, void *p);

#endif /* PLINTH_PLUGIN_HOST_H */
