/*
 * slots.c — every call from the core into a plugin (slots.h says why).
 *
 * Sections: the host services an instance gets; statuses and messages;
 * instance and devices; buffers; ops and the executor; the whole-program
 * path.
 */
#include "slots.h"

#include "loader.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* True when the table is long enough to hold `field` (it may still be
 * NULL). Slots appended after the plugin was built read as absent. */
#define API_HAS(api, field) PLINTH_HAS_FIELD(api, plinth_backend_api, field)

/* ------------------------------------------------------ host services --- */

static void host_log(void *user, int level, const char *message)
{
    if (message)
        ctx_log(user, level, "%s", message);
}

static void *host_malloc(void *user, size_t size)
{
    return ctx_malloc(user, size);
}

static void *host_realloc(void *user, void *ptr, size_t size)
{
    return ctx_realloc(user, ptr, size);
}

static void host_free(void *user, void *ptr)
{
    ctx_free(user, ptr);
}

/* ---------------------------------------------- statuses and messages --- */

/* A plugin's status as ours; one outside the enum is itself a broken
 * contract. */
static plinth_status as_status(int32_t st)
{
    return st > PLINTH_OK && st < PLINTH_STATUS_COUNT ? (plinth_status)st : PLINTH_ERR_PLUGIN;
}

/* A plugin string we print: never NULL, and cut at a sane length (the
 * plugin may not have terminated it where it meant to). */
static const char *text(const char *s, char *buf, size_t size)
{
    if (!s)
        return "";
    size_t n = strnlen(s, size - 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

/* A failed device call: the plugin's message on the context. */
static plinth_status device_failed(plinth_backend *b, int32_t st, const char *what)
{
    char msg[1024];
    if (st <= PLINTH_OK || st >= PLINTH_STATUS_COUNT)
        return ctx_error(b->ctx, PLINTH_ERR_PLUGIN,
                         "backend '%s': %s returned status %" PRId32 ", which is not a "
                         "plinth_status",
                         b->name, what, st);
    const char *m = text(b->api->device_error(b->dev), msg, sizeof msg);
    if (m[0])
        return ctx_error(b->ctx, (plinth_status)st, "backend '%s': %s", b->name, m);
    return ctx_error(b->ctx, (plinth_status)st, "backend '%s': %s failed: %s", b->name, what,
                     plinth_status_name((plinth_status)st));
}

/* A failed instance call. */
static plinth_status instance_failed(plinth_plugin *p, int32_t st, const char *what)
{
    char msg[1024];
    const char *m = text(p->api->instance_error(p->inst), msg, sizeof msg);
    return ctx_error(p->ctx, as_status(st), "backend '%s': %s failed: %s", p->api->name, what,
                     m[0] ? m : plinth_status_name(as_status(st)));
}

/* ------------------------------------------------ instance and devices --- */

plinth_status slot_instance_create(plinth_plugin *p)
{
    p->host = (plinth_host){
        .struct_size = sizeof(plinth_host),
        .abi_version = PLINTH_ABI_VERSION,
        .user = p->ctx,
        .log = host_log,
        .malloc = host_malloc,
        .realloc = host_realloc,
        .free = host_free,
    };
    plinth_instance *inst = NULL;
    int32_t st = p->api->instance_create(&p->host, &inst);
    if (st != PLINTH_OK || !inst) {
        if (st == PLINTH_OK)
            return ctx_error(p->ctx, PLINTH_ERR_PLUGIN,
                             "plugin '%s': instance_create returned OK but no instance",
                             p->path);
        return ctx_error(p->ctx, as_status(st), "plugin '%s': instance_create failed: %s",
                         p->path, plinth_status_name(as_status(st)));
    }
    p->inst = inst;
    return PLINTH_OK;
}

void slot_instance_destroy(plinth_plugin *p)
{
    if (p->inst)
        p->api->instance_destroy(p->inst);
    p->inst = NULL;
}

plinth_status slot_device_count(plinth_plugin *p, uint32_t *out)
{
    uint32_t n = p->api->device_count(p->inst);
    if (n > PLINTH_MAX_DEVICES) {
        *out = 0;
        return ctx_error(p->ctx, PLINTH_ERR_PLUGIN,
                         "plugin '%s': claims %" PRIu32 " devices; at most %u are allowed",
                         p->path, n, PLINTH_MAX_DEVICES);
    }
    *out = n;
    return PLINTH_OK;
}

void slot_unavailable_reason(plinth_plugin *p, char *buf, size_t size)
{
    buf[0] = '\0';
    if (API_HAS(p->api, unavailable_reason) && p->api->unavailable_reason) {
        char msg[512];
        snprintf(buf, size, "%s", text(p->api->unavailable_reason(p->inst), msg, sizeof msg));
    }
}

/* Terminates a fixed-size string a plugin filled (it may not have). */
#define TERMINATE(arr) ((arr)[sizeof(arr) - 1] = '\0')

plinth_status slot_device_info(plinth_plugin *p, uint32_t index, plinth_device_info *out)
{
    if (index >= p->n_devices)
        return ctx_error(p->ctx, PLINTH_ERR_INVALID, "backend '%s' has %" PRIu32 " device%s; "
                         "no device %" PRIu32, p->api->name, p->n_devices,
                         p->n_devices == 1 ? "" : "s", index);
    plinth_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    int32_t st = p->api->device_info(p->inst, index, &info);
    if (st != PLINTH_OK) {
        char what[64];
        snprintf(what, sizeof what, "device_info(%" PRIu32 ")", index);
        return instance_failed(p, st, what);
    }
    info.struct_size = sizeof info;
    TERMINATE(info.name);
    TERMINATE(info.description);
    TERMINATE(info.features);
    TERMINATE(info.precision);
    *out = info;
    return PLINTH_OK;
}

bool slot_has_pack(const plinth_backend *b)
{
    return API_HAS(b->api, pack) && b->api->pack_size && b->api->pack;
}

uint64_t slot_pack_size(plinth_backend *b, uint32_t op, uint32_t input, const plinth_view *out,
                        const plinth_view *in, uint32_t n_in, const void *attrs)
{
    return slot_has_pack(b) ? b->api->pack_size(b->dev, op, input, out, in, n_in, attrs) : 0;
}

plinth_status slot_pack(plinth_backend *b, uint32_t op, uint32_t input, const plinth_view *plain,
                        const plinth_view *packed)
{
    int32_t st = b->api->pack(b->dev, op, input, plain, packed);
    return st == PLINTH_OK ? PLINTH_OK : device_failed(b, st, "pack");
}

plinth_status slot_device_describe(plinth_backend *b, plinth_device_info *out)
{
    if (!API_HAS(b->api, device_describe) || !b->api->device_describe)
        return slot_device_info(b->plugin, b->device_index, out); /* the default */
    plinth_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    int32_t st = b->api->device_describe(b->dev, &info);
    if (st != PLINTH_OK)
        return device_failed(b, st, "device_describe");
    info.struct_size = sizeof info;
    TERMINATE(info.name);
    TERMINATE(info.description);
    TERMINATE(info.features);
    TERMINATE(info.precision);
    *out = info;
    return PLINTH_OK;
}

plinth_status slot_device_open(plinth_plugin *p, uint32_t index,
                               const plinth_device_options *opts, plinth_device **out)
{
    *out = NULL;
    if (index >= p->n_devices) {
        if (p->n_devices == 0) {
            char why[256];
            slot_unavailable_reason(p, why, sizeof why);
            return ctx_error(p->ctx, PLINTH_ERR_DEVICE, "backend '%s' has no devices%s%s",
                             p->api->name, why[0] ? ": " : "", why);
        }
        return ctx_error(p->ctx, PLINTH_ERR_DEVICE,
                         "backend '%s' has %" PRIu32 " device%s; no device %" PRIu32,
                         p->api->name, p->n_devices, p->n_devices == 1 ? "" : "s", index);
    }
    const plinth_device_options defaults = {.struct_size = sizeof defaults};
    plinth_device *dev = NULL;
    int32_t st = p->api->device_open(p->inst, index, opts ? opts : &defaults, &dev);
    if (st == PLINTH_OK && !dev)
        return ctx_error(p->ctx, PLINTH_ERR_PLUGIN,
                         "backend '%s': device_open(%" PRIu32 ") returned OK but no device",
                         p->api->name, index);
    if (st != PLINTH_OK) {
        char msg[1024];
        const char *m = text(p->api->instance_error(p->inst), msg, sizeof msg);
        return ctx_error(p->ctx, as_status(st), "backend '%s': cannot open device %" PRIu32
                         ": %s", p->api->name, index,
                         m[0] ? m : plinth_status_name(as_status(st)));
    }
    *out = dev;
    return PLINTH_OK;
}

uint64_t slot_device_caps(plinth_backend *b)
{
    if (!API_HAS(b->api, device_caps) || !b->api->device_caps)
        return 0; /* default: nothing beyond the mandatory slots */
    return b->api->device_caps(b->dev);
}

void slot_device_close(plinth_backend *b)
{
    if (b->dev)
        b->api->device_close(b->dev);
    b->dev = NULL;
}

/* ---------------------------------------------------------- buffers --- */

plinth_status slot_buffer_alloc(plinth_backend *b, uint64_t size, plinth_buffer *out)
{
    *out = (plinth_buffer){0};
    int32_t st = b->api->buffer_alloc(b->dev, size, out);
    if (st != PLINTH_OK) {
        *out = (plinth_buffer){0};
        return device_failed(b, st, "buffer_alloc");
    }
    if (out->host && (uintptr_t)out->host % PLINTH_ALIGNMENT != 0) {
        uintptr_t addr = (uintptr_t)out->host;
        b->api->buffer_free(b->dev, out);
        *out = (plinth_buffer){0};
        return ctx_error(b->ctx, PLINTH_ERR_PLUGIN,
                         "plugin '%s' (%s): allocator returned misaligned buffer 0x%" PRIxPTR
                         " (not a multiple of %u)",
                         b->name, b->plugin->path, addr, PLINTH_ALIGNMENT);
    }
    if (!out->host && (b->caps & PLINTH_CAP_HOST_MEMORY)) {
        b->api->buffer_free(b->dev, out);
        *out = (plinth_buffer){0};
        return ctx_error(b->ctx, PLINTH_ERR_PLUGIN,
                         "plugin '%s' (%s): declares host memory (PLINTH_CAP_HOST_MEMORY) but "
                         "allocated a buffer without a host address",
                         b->name, b->plugin->path);
    }
    if (out->size < size) {
        uint64_t got = out->size;
        b->api->buffer_free(b->dev, out);
        *out = (plinth_buffer){0};
        return ctx_error(b->ctx, PLINTH_ERR_PLUGIN,
                         "plugin '%s' (%s): allocator returned %" PRIu64 " bytes for a request "
                         "of %" PRIu64,
                         b->name, b->plugin->path, got, size);
    }
    return PLINTH_OK;
}

void slot_buffer_free(plinth_backend *b, plinth_buffer *buf)
{
    if (!b || !buf)
        return;
    if (buf->handle || buf->host)
        b->api->buffer_free(b->dev, buf);
    *buf = (plinth_buffer){0};
}

/* offset + size within the buffer, without overflow. */
static bool in_bounds(const plinth_buffer *buf, uint64_t offset, uint64_t size)
{
    return offset <= buf->size && size <= buf->size - offset;
}

static plinth_status out_of_bounds(plinth_backend *b, const char *what, uint64_t offset,
                                   uint64_t size, const plinth_buffer *buf)
{
    return ctx_error(b->ctx, PLINTH_ERR_INVALID,
                     "backend '%s': %s of %" PRIu64 " bytes at %" PRIu64
                     " overruns a buffer of %" PRIu64,
                     b->name, what, size, offset, buf->size);
}

plinth_status slot_upload(plinth_backend *b, const plinth_buffer *dst, uint64_t offset,
                          const void *src, uint64_t size)
{
    if (!in_bounds(dst, offset, size))
        return out_of_bounds(b, "upload", offset, size, dst);
    if (size == 0)
        return PLINTH_OK;
    int32_t st = b->api->upload(b->dev, dst, offset, src, size);
    return st == PLINTH_OK ? PLINTH_OK : device_failed(b, st, "upload");
}

plinth_status slot_download(plinth_backend *b, const plinth_buffer *src, uint64_t offset,
                            void *dst, uint64_t size)
{
    if (!in_bounds(src, offset, size))
        return out_of_bounds(b, "download", offset, size, src);
    if (size == 0)
        return PLINTH_OK;
    int32_t st = b->api->download(b->dev, src, offset, dst, size);
    return st == PLINTH_OK ? PLINTH_OK : device_failed(b, st, "download");
}

plinth_status slot_zero(plinth_backend *b, const plinth_buffer *dst, uint64_t offset,
                        uint64_t size)
{
    /* Through upload, so it works for buffers the host cannot map. */
    static const uint8_t zeros[64 * 1024];
    if (!in_bounds(dst, offset, size))
        return out_of_bounds(b, "zeroing", offset, size, dst);
    while (size > 0) {
        uint64_t chunk = size < sizeof zeros ? size : sizeof zeros;
        plinth_status s = slot_upload(b, dst, offset, zeros, chunk);
        if (s != PLINTH_OK)
            return s;
        offset += chunk;
        size -= chunk;
    }
    return PLINTH_OK;
}

/* ---------------------------------------------- ops and the executor --- */

plinth_kernel_fn slot_kernel(const plinth_backend *b, uint32_t op)
{
    if (op >= b->api->op_count || !b->api->kernels)
        return NULL;
    return b->api->kernels[op];
}

bool slot_supports(plinth_backend *b, uint32_t op, const plinth_view *out, const plinth_view *in,
                   uint32_t n_in, const void *attrs)
{
    if (!slot_kernel(b, op))
        return false;
    return b->api->supports(b->dev, op, out, in, n_in, attrs);
}

/* A kernel's failure, naming where it happened. */
static plinth_status kernel_failed(plinth_backend *b, int32_t st, const char *what, uint32_t i,
                                   uint32_t op, int32_t node)
{
    char msg[1024];
    const char *m = text(b->api->device_error(b->dev), msg, sizeof msg);
    if (node >= 0)
        return ctx_error(b->ctx, as_status(st), "%s %" PRIu32 " (%s, node %d): %s", what, i,
                         plinth_op_name((plinth_op)op), (int)node,
                         m[0] ? m : plinth_status_name(as_status(st)));
    return ctx_error(b->ctx, as_status(st), "backend '%s': %s: %s", b->name,
                     plinth_op_name((plinth_op)op), m[0] ? m : plinth_status_name(as_status(st)));
}

plinth_status slot_run_list(plinth_backend *b, const instruction *code, uint32_t first,
                            uint32_t n, const char *what)
{
    plinth_device *dev = b->dev;
    const uint32_t end = first + n;
    for (uint32_t i = first; i < end; i++) {
        int32_t st = code[i].fn(dev, &code[i].out, code[i].in, code[i].n_in, &code[i].attrs);
        if (st != PLINTH_OK)
            return kernel_failed(b, st, what, i, code[i].op, code[i].node);
    }
    return slot_synchronize(b);
}

plinth_status slot_transfer(plinth_backend *sb, const plinth_view *src, plinth_backend *db,
                            const plinth_view *dst, uint8_t *staging, uint64_t staging_size)
{
    uint64_t first = 0, end = 0;
    if (!view_span(src, &first, &end))
        return ctx_error(db->ctx, PLINTH_ERR_INTERNAL, "transfer: a view overflows");
    const uint64_t bytes = end - first, to = dst->offset + (first - src->offset);
    const plinth_buffer *s = src->buffer, *d = dst->buffer;
    if (s->host)
        return slot_upload(db, d, to, s->host + first, bytes);
    if (d->host) {
        if (!in_bounds(d, to, bytes))
            return out_of_bounds(db, "transfer", to, bytes, d);
        return slot_download(sb, s, first, d->host + to, bytes);
    }
    if (bytes > staging_size)
        return ctx_error(db->ctx, PLINTH_ERR_INTERNAL,
                         "transfer of %" PRIu64 " bytes, %" PRIu64 " bytes of staging", bytes,
                         staging_size);
    plinth_status st = slot_download(sb, s, first, staging, bytes);
    return st ? st : slot_upload(db, d, to, staging, bytes);
}

plinth_status slot_run_kernel(plinth_backend *b, uint32_t op, const plinth_view *out,
                              const plinth_view *in, uint32_t n_in, const void *attrs)
{
    plinth_kernel_fn fn = slot_kernel(b, op);
    if (!fn)
        return ctx_error(b->ctx, PLINTH_ERR_UNSUPPORTED, "backend '%s' has no kernel for %s",
                         b->name, plinth_op_name((plinth_op)op));
    int32_t st = fn(b->dev, out, in, n_in, attrs);
    if (st != PLINTH_OK)
        return kernel_failed(b, st, NULL, 0, op, -1);
    return slot_synchronize(b);
}

/* ------------------------------------------------ whole-program path --- */

bool slot_has_program_path(const plinth_backend *b)
{
    const plinth_backend_api *api = b->api;
    return API_HAS(api, release) && api->prepare && api->execute && api->release;
}

plinth_status slot_prepare(plinth_backend *b, const plinth_instruction *code, uint32_t n,
                           void **out_program)
{
    *out_program = NULL;
    if (!slot_has_program_path(b))
        return PLINTH_OK; /* default: no program, the executor runs kernels */
    int32_t st = b->api->prepare(b->dev, code, n, sizeof *code, out_program);
    if (st != PLINTH_OK) {
        *out_program = NULL;
        return device_failed(b, st, "prepare");
    }
    return PLINTH_OK;
}

plinth_status slot_execute(plinth_backend *b, void *program)
{
    if (!slot_has_program_path(b))
        return ctx_error(b->ctx, PLINTH_ERR_UNSUPPORTED,
                         "backend '%s' has no whole-program path (prepare/execute)", b->name);
    int32_t st = b->api->execute(b->dev, program);
    if (st != PLINTH_OK)
        return device_failed(b, st, "execute");
    return slot_synchronize(b);
}

void slot_release(plinth_backend *b, void *program)
{
    if (program && slot_has_program_path(b))
        b->api->release(b->dev, program);
}

plinth_status slot_synchronize(plinth_backend *b)
{
    if (!API_HAS(b->api, synchronize) || !b->api->synchronize)
        return PLINTH_OK; /* default: the plugin is synchronous */
    int32_t st = b->api->synchronize(b->dev);
    return st == PLINTH_OK ? PLINTH_OK : device_failed(b, st, "synchronize");
}
