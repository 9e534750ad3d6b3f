/*
 * ref_plugin.c — the ref backend's face to the host.
 *
 * Sections:
 *   1. devices: one CPU device named "ref"
 *   2. buffers: 256-aligned host memory
 *   3. the tables and the entry point (the only exported symbol)
 *
 * Instances, errors, the host's log and allocator, the view checks,
 * supports() and the bounds-checked host copies live in ref_views.c, which
 * the cpu backend compiles in as well. Nothing here is process-wide: the
 * host's services travel with the instance, errors with the instance or
 * the device.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ref.h"

/* ---------------------------------------------------------------- 1 ---- */

static uint32_t ref_device_count(plinth_instance *inst)
{
    (void)inst;
    return 1;
}

static void copy_str(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src);
}

static int32_t ref_device_info(plinth_instance *inst, uint32_t index, plinth_device_info *out)
{
    if (!out || index != 0)
        return plugin_inst_fail(inst, PLINTH_ERR_INVALID, "ref: no device %u (ref has one device)",
                             index);
    /* Write only the fields the host's struct has room for. */
    if (PLINTH_HAS_FIELD(out, plinth_device_info, name))
        copy_str(out->name, sizeof out->name, "ref");
    if (PLINTH_HAS_FIELD(out, plinth_device_info, description))
        copy_str(out->description, sizeof out->description,
                 "plinth reference backend: plain loops, f64 accumulation");
    if (PLINTH_HAS_FIELD(out, plinth_device_info, type))
        out->type = PLINTH_DEVICE_CPU;
    if (PLINTH_HAS_FIELD(out, plinth_device_info, memory_bytes)) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        out->memory_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    }
    if (PLINTH_HAS_FIELD(out, plinth_device_info, features))
        copy_str(out->features, sizeof out->features, "f64-accumulation");
    return PLINTH_OK;
}

static int32_t ref_device_open(plinth_instance *inst, uint32_t index,
                               const plinth_device_options *opts, plinth_device **out)
{
    if (!out)
        return plugin_inst_fail(inst, PLINTH_ERR_INVALID, "ref: device_open: NULL out");
    *out = NULL;
    if (index != 0)
        return plugin_inst_fail(inst, PLINTH_ERR_INVALID,
                             "ref: device index %u out of range (ref has one device)", index);
    if (opts && PLINTH_HAS_FIELD(opts, plinth_device_options, config) && opts->config &&
        opts->config[0])
        plugin_log(inst, PLINTH_LOG_WARN, "ref: device config ignored (ref has no options)");

    /* Bookkeeping goes through the host's allocator (rule 14). */
    plinth_device *dev = plugin_malloc(inst, sizeof *dev);
    if (!dev)
        return plugin_inst_fail(inst, PLINTH_ERR_NO_MEMORY, "ref: out of memory opening the device");
    memset(dev, 0, sizeof *dev);
    dev->inst = inst;
    dev->index = index;
    *out = dev;
    return PLINTH_OK;
}

static void ref_device_close(plinth_device *dev)
{
    if (dev)
        plugin_free(dev->inst, dev);
}

/* ---------------------------------------------------------------- 2 ---- */

static int32_t ref_buffer_alloc(plinth_device *dev, uint64_t size, plinth_buffer *out)
{
    if (!out)
        return ref_fail(dev, PLINTH_ERR_INVALID, "buffer_alloc: NULL out");
    memset(out, 0, sizeof *out);
    /* Size 0 still gets one aligned block, so the buffer is a real address. */
    uint64_t rounded = size == 0 ? PLINTH_ALIGNMENT
                                 : (size + PLINTH_ALIGNMENT - 1) / PLINTH_ALIGNMENT *
                                       PLINTH_ALIGNMENT;
    if (size > UINT64_MAX - PLINTH_ALIGNMENT || rounded > SIZE_MAX)
        return ref_fail(dev, PLINTH_ERR_NO_MEMORY, "buffer_alloc: %llu bytes is too large",
                        (unsigned long long)size);
    void *p = aligned_alloc(PLINTH_ALIGNMENT, (size_t)rounded);
    if (!p)
        return ref_fail(dev, PLINTH_ERR_NO_MEMORY, "buffer_alloc: out of memory (%llu bytes)",
                        (unsigned long long)rounded);
    /* Zeroed, so nothing from an earlier owner of the memory leaks into a run. */
    memset(p, 0, (size_t)rounded);
    out->handle = p;
    out->host = p;
    out->size = rounded;
    return PLINTH_OK;
}

static void ref_buffer_free(plinth_device *dev, plinth_buffer *buf)
{
    if (!buf)
        return;
    free(buf->handle);
    memset(buf, 0, sizeof *buf);
}

/* Buffers are host memory and the kernels read views through `data`
 * alone: a program spanning ref and another host-memory backend shares
 * tensors between them without copies. */
static uint64_t ref_device_caps(plinth_device *dev)
{
    (void)dev;
    return PLINTH_CAP_HOST_MEMORY;
}

/* ---------------------------------------------------------------- 3 ---- */

static const plinth_kernel_fn kernels[PLINTH_OP_COUNT] = {
#define X(E, n, lo, hi) [PLINTH_OP_##E] = ref_##n,
    PLINTH_OP_LIST(X)
#undef X
};

static const plinth_backend_api api = {
    .struct_size = sizeof(plinth_backend_api),
    .abi_version = PLINTH_ABI_VERSION,
    .name = "ref",
    .version = "0.1.0",
    .description = "reference backend: the definition of correct (slow)",
    .instance_create = plugin_instance_create,
    .instance_destroy = plugin_instance_destroy,
    .instance_error = plugin_instance_error,
    .device_count = ref_device_count,
    .device_info = ref_device_info,
    .device_open = ref_device_open,
    .device_close = ref_device_close,
    .device_error = ref_device_error,
    .buffer_alloc = ref_buffer_alloc,
    .buffer_free = ref_buffer_free,
    .upload = ref_host_upload,
    .download = ref_host_download,
    .supports = ref_supports,
    .op_count = PLINTH_OP_COUNT,
    .kernels = kernels,
    .unavailable_reason = NULL, /* the one device is always there */
    .prepare = NULL,
    .execute = NULL,
    .release = NULL,
    .synchronize = NULL, /* every call completes before it returns */
    .device_caps = ref_device_caps,
};

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version);

/* Cheap and without side effects: the host may load the plugin only to
 * list it. Everything with state starts at instance_create. */
PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    /* Version 1 is the only one this plugin speaks; a newer host still
     * understands a version-1 table. */
    if (host_abi_version < PLINTH_ABI_VERSION)
        return NULL;
    return &api;
}
