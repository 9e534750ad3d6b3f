/*
 * plugin_host.c — a shipped plugin's instance and its host services (see
 * plugin_host.h).
 */
#include "plugin_host.h"

#include <stdio.h>
#include <string.h>

/* Logging is optional for a host: a NULL log means "not listening". */
static bool host_has_log(const plinth_host *h)
{
    return h && PLINTH_HAS_FIELD(h, plinth_host, log) && h->log;
}

static bool host_usable(const plinth_host *h)
{
    return h && PLINTH_HAS_FIELD(h, plinth_host, free) && h->malloc && h->free;
}

int32_t plugin_instance_create(const plinth_host *host, plinth_instance **out)
{
    if (!out)
        return PLINTH_ERR_INVALID;
    *out = NULL;
    if (!host_usable(host)) {
        /* No backend prefix: the host names the plugin. */
        if (host_has_log(host))
            host->log(host->user, PLINTH_LOG_ERROR, "the host offers no allocator (malloc/free)");
        return PLINTH_ERR_PLUGIN;
    }
    plinth_instance *inst = host->malloc(host->user, sizeof *inst);
    if (!inst)
        return PLINTH_ERR_NO_MEMORY;
    memset(inst, 0, sizeof *inst);
    inst->host = host;
    *out = inst;
    return PLINTH_OK;
}

void plugin_instance_destroy(plinth_instance *inst)
{
    if (inst)
        plugin_free(inst, inst);
}

const char *plugin_instance_error(plinth_instance *inst)
{
    return inst ? inst->error : "";
}

int32_t plugin_set_error(char *buf, size_t size, int32_t status, const char *fmt, va_list ap)
{
    vsnprintf(buf, size, fmt, ap);
    return status;
}

int32_t plugin_inst_fail(plinth_instance *inst, int32_t status, const char *fmt, ...)
{
    if (!inst)
        return status;
    va_list ap;
    va_start(ap, fmt);
    plugin_set_error(inst->error, sizeof inst->error, status, fmt, ap);
    va_end(ap);
    return status;
}

void plugin_log(plinth_instance *inst, int level, const char *fmt, ...)
{
    if (!inst || !host_has_log(inst->host))
        return;
    char msg[PLUGIN_ERROR_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    inst->host->log(inst->host->user, level, msg);
}

void *plugin_malloc(plinth_instance *inst, size_t size)
{
    return inst->host->malloc(inst->host->user, size);
}

void plugin_free(plinth_instance *inst, void *p)
{
    if (p)
        inst->host->free(inst->host->user, p);
}
