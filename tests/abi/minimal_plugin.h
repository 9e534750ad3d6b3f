/*
 * minimal_plugin.h — a complete but do-nothing plugin table, for the broken
 * plugins of tests/abi. Each broken_*.c includes this, copies the table and
 * breaks exactly one rule of plinth_plugin.h section 6; everything else here
 * keeps the rules, so the loader has only that one thing to catch.
 *
 * One device that runs nothing (supports() says no to everything), with
 * plain aligned host buffers. Instances and devices come from the host's
 * allocator (rule 14), so the loader tests' leak checks see them.
 */
#ifndef MINIMAL_PLUGIN_H
#define MINIMAL_PLUGIN_H

#include "plinth_plugin.h"

#include <stdlib.h>
#include <string.h>

struct plinth_instance {
    const plinth_host *host;
};

struct plinth_device {
    plinth_instance *inst;
};

static int32_t minimal_instance_create(const plinth_host *host, plinth_instance **out)
{
    *out = NULL;
    if (!host || !PLINTH_HAS_FIELD(host, plinth_host, free) || !host->malloc || !host->free)
        return PLINTH_ERR_PLUGIN;
    plinth_instance *inst = host->malloc(host->user, sizeof *inst);
    if (!inst)
        return PLINTH_ERR_NO_MEMORY;
    inst->host = host;
    *out = inst;
    return PLINTH_OK;
}

static void minimal_instance_destroy(plinth_instance *inst)
{
    if (inst)
        inst->host->free(inst->host->user, inst);
}

static const char *minimal_instance_error(plinth_instance *inst)
{
    (void)inst;
    return "minimal plugin error";
}

static uint32_t minimal_device_count(plinth_instance *inst)
{
    (void)inst;
    return 1;
}

static int32_t minimal_device_info(plinth_instance *inst, uint32_t index, plinth_device_info *out)
{
    (void)inst;
    if (index != 0 || !out)
        return PLINTH_ERR_INVALID;
    if (PLINTH_HAS_FIELD(out, plinth_device_info, name))
        strcpy(out->name, "minimal");
    return PLINTH_OK;
}

static int32_t minimal_device_open(plinth_instance *inst, uint32_t index,
                                   const plinth_device_options *opts, plinth_device **out)
{
    (void)opts;
    *out = NULL;
    if (index != 0)
        return PLINTH_ERR_INVALID;
    plinth_device *dev = inst->host->malloc(inst->host->user, sizeof *dev);
    if (!dev)
        return PLINTH_ERR_NO_MEMORY;
    dev->inst = inst;
    *out = dev;
    return PLINTH_OK;
}

static void minimal_device_close(plinth_device *dev)
{
    if (dev)
        dev->inst->host->free(dev->inst->host->user, dev);
}

static const char *minimal_device_error(plinth_device *dev)
{
    (void)dev;
    return "minimal plugin error";
}

static int32_t minimal_buffer_alloc(plinth_device *dev, uint64_t size, plinth_buffer *out)
{
    (void)dev;
    uint64_t rounded = (size + PLINTH_ALIGNMENT) / PLINTH_ALIGNMENT * PLINTH_ALIGNMENT;
    out->handle = aligned_alloc(PLINTH_ALIGNMENT, (size_t)rounded);
    if (!out->handle)
        return PLINTH_ERR_NO_MEMORY;
    out->host = out->handle;
    out->size = rounded;
    return PLINTH_OK;
}

static void minimal_buffer_free(plinth_device *dev, plinth_buffer *buf)
{
    (void)dev;
    free(buf->handle);
}

static int32_t minimal_upload(plinth_device *dev, const plinth_buffer *dst, uint64_t offset,
                              const void *src, uint64_t size)
{
    (void)dev;
    memcpy(dst->host + offset, src, (size_t)size);
    return PLINTH_OK;
}

static int32_t minimal_download(plinth_device *dev, const plinth_buffer *src, uint64_t offset,
                                void *dst, uint64_t size)
{
    (void)dev;
    memcpy(dst, src->host + offset, (size_t)size);
    return PLINTH_OK;
}

static bool minimal_supports(plinth_device *dev, uint32_t op, const plinth_view *out,
                             const plinth_view *in, uint32_t n_in, const void *attrs)
{
    (void)dev, (void)op, (void)out, (void)in, (void)n_in, (void)attrs;
    return false;
}

static const plinth_kernel_fn minimal_kernels[1] = {NULL};

/* A table that passes every check of the loader. Inline: a broken plugin
 * that never returns a table (its entry crashes or exits) need not use it. */
static inline plinth_backend_api minimal_api(const char *name)
{
    return (plinth_backend_api){
        .struct_size = sizeof(plinth_backend_api),
        .abi_version = PLINTH_ABI_VERSION,
        .name = name,
        .version = "0",
        .description = "broken on purpose (tests/abi)",
        .instance_create = minimal_instance_create,
        .instance_destroy = minimal_instance_destroy,
        .instance_error = minimal_instance_error,
        .device_count = minimal_device_count,
        .device_info = minimal_device_info,
        .device_open = minimal_device_open,
        .device_close = minimal_device_close,
        .device_error = minimal_device_error,
        .buffer_alloc = minimal_buffer_alloc,
        .buffer_free = minimal_buffer_free,
        .upload = minimal_upload,
        .download = minimal_download,
        .supports = minimal_supports,
        .op_count = 1,
        .kernels = minimal_kernels,
    };
}

/* Every broken plugin defines its entry with this prototype. */
PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version);

#endif /* MINIMAL_PLUGIN_H */
