/*
 * wrong.c — deliberately wrong plugins: the conformance suite's self-test.
 *
 * One source, built four times (meson.build), each with one defect the
 * suite must catch and name:
 *
 *   WRONG_ULP        add is 4 ulps off (the bound allows ~2)  -> "accuracy"
 *   WRONG_OVERRUN    mul writes one element past its output   -> "guard"
 *   WRONG_UNWRITTEN  scale leaves its last element unwritten  -> "unwritten"
 *   WRONG_MISALIGNED buffers start 16 bytes past a 256 boundary -> "alloc"
 *
 * Everything else is a correct f32 add/mul/scale plugin on general strided,
 * broadcasting views. Uses only plinth_plugin.h (rule: no core calls).
 *
 * Sections: 1 instance, device and buffers; 2 kernels; 3 table and entry.
 */
#include "plinth_plugin.h"

#include <stdlib.h>
#include <string.h>

#if defined(WRONG_ULP)
#define WRONG_NAME "wrong_ulp"
#elif defined(WRONG_OVERRUN)
#define WRONG_NAME "wrong_overrun"
#elif defined(WRONG_UNWRITTEN)
#define WRONG_NAME "wrong_unwritten"
#elif defined(WRONG_MISALIGNED)
#define WRONG_NAME "wrong_misaligned"
#else
#error "define one WRONG_* defect"
#endif

/* ------------------------------------------------------------------ 1 --- */

/* Instances and devices come from the host's allocator (rule 14) and keep
 * their host (rule 12): the defects are in the ops, nowhere else. */
struct plinth_instance {
    const plinth_host *host;
};

struct plinth_device {
    plinth_instance *inst;
};

static int32_t wrong_instance_create(const plinth_host *host, plinth_instance **out)
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

static void wrong_instance_destroy(plinth_instance *inst)
{
    if (inst)
        inst->host->free(inst->host->user, inst);
}

static const char *wrong_instance_error(plinth_instance *inst) { (void)inst; return "wrong: error"; }

static uint32_t wrong_device_count(plinth_instance *inst) { (void)inst; return 1; }

static int32_t wrong_device_info(plinth_instance *inst, uint32_t index, plinth_device_info *out)
{
    (void)inst;
    if (index != 0 || !out)
        return PLINTH_ERR_INVALID;
    /* Only the fields the host's struct has room for. */
    if (PLINTH_HAS_FIELD(out, plinth_device_info, name)) {
        memset(out->name, 0, sizeof out->name);
        strcpy(out->name, WRONG_NAME);
    }
    if (PLINTH_HAS_FIELD(out, plinth_device_info, description))
        out->description[0] = '\0';
    if (PLINTH_HAS_FIELD(out, plinth_device_info, type))
        out->type = PLINTH_DEVICE_CPU;
    if (PLINTH_HAS_FIELD(out, plinth_device_info, memory_bytes))
        out->memory_bytes = 0;
    if (PLINTH_HAS_FIELD(out, plinth_device_info, features))
        out->features[0] = '\0';
    return PLINTH_OK;
}

static int32_t wrong_device_open(plinth_instance *inst, uint32_t index,
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

static void wrong_device_close(plinth_device *dev)
{
    if (dev)
        dev->inst->host->free(dev->inst->host->user, dev);
}

static const char *wrong_device_error(plinth_device *dev) { (void)dev; return "wrong: error"; }

static int32_t wrong_buffer_alloc(plinth_device *dev, uint64_t size, plinth_buffer *out)
{
    (void)dev;
    uint64_t rounded = (size + 2 * PLINTH_ALIGNMENT - 1) / PLINTH_ALIGNMENT * PLINTH_ALIGNMENT;
    uint8_t *p = aligned_alloc(PLINTH_ALIGNMENT, rounded);
    if (!p)
        return PLINTH_ERR_NO_MEMORY;
    memset(p, 0, rounded);
    out->handle = p;
#if defined(WRONG_MISALIGNED)
    out->host = p + 16; /* the defect: not a multiple of 256 */
#else
    out->host = p;
#endif
    out->size = size;
    return PLINTH_OK;
}

static void wrong_buffer_free(plinth_device *dev, plinth_buffer *buf)
{
    (void)dev;
    free(buf->handle);
    memset(buf, 0, sizeof *buf);
}

static int32_t wrong_upload(plinth_device *dev, const plinth_buffer *dst, uint64_t offset,
                            const void *src, uint64_t size)
{
    (void)dev;
    if (offset > dst->size || size > dst->size - offset)
        return PLINTH_ERR_INVALID;
    memcpy(dst->host + offset, src, size);
    return PLINTH_OK;
}

static int32_t wrong_download(plinth_device *dev, const plinth_buffer *src, uint64_t offset,
                              void *dst, uint64_t size)
{
    (void)dev;
    if (offset > src->size || size > src->size - offset)
        return PLINTH_ERR_INVALID;
    memcpy(dst, src->host + offset, size);
    return PLINTH_OK;
}

/* ------------------------------------------------------------------ 2 --- */

static float *at(const plinth_view *v, const int64_t *i)
{
    uint8_t *p = v->data;
    for (int d = 0; d < 4; d++)
        p += (v->shape[d] == 1 ? 0 : i[d]) * v->stride[d];
    return (float *)(void *)p;
}

static float nudge(float x, int ulps)
{
    uint32_t b;
    memcpy(&b, &x, 4);
    if ((b & 0x7f800000u) != 0x7f800000u && (b & 0x7fffffffu) != 0)
        b += (uint32_t)ulps;
    memcpy(&x, &b, 4);
    return x;
}

static int32_t elementwise(uint32_t op, const plinth_view *out, const plinth_view *in,
                           const void *attrs)
{
    const float s = op == PLINTH_OP_SCALE ? ((const plinth_attr_scale *)attrs)->s : 0.0f;
    const int64_t n = out->shape[0] * out->shape[1] * out->shape[2] * out->shape[3];
    int64_t k = 0;
    int64_t i[4];
    for (i[0] = 0; i[0] < out->shape[0]; i[0]++)
        for (i[1] = 0; i[1] < out->shape[1]; i[1]++)
            for (i[2] = 0; i[2] < out->shape[2]; i[2]++)
                for (i[3] = 0; i[3] < out->shape[3]; i[3]++, k++) {
                    float a = *at(&in[0], i), r;
                    if (op == PLINTH_OP_SCALE) {
#if defined(WRONG_UNWRITTEN)
                        if (k == n - 1)
                            continue; /* the defect: the last element is skipped */
#endif
                        r = a * s;
                    } else {
                        float b = *at(&in[1], i);
                        r = op == PLINTH_OP_ADD ? a + b : a * b;
                    }
#if defined(WRONG_ULP)
                    if (op == PLINTH_OP_ADD)
                        r = nudge(r, 4); /* the defect: 4 ulps off */
#endif
                    float *o = (float *)(void *)((uint8_t *)out->data + i[0] * out->stride[0] +
                                                 i[1] * out->stride[1] + i[2] * out->stride[2] +
                                                 i[3] * out->stride[3]);
                    *o = r;
#if defined(WRONG_OVERRUN)
                    if (op == PLINTH_OP_MUL && k == n - 1)
                        o[out->stride[3] / 4] = r; /* the defect: one element past the end */
#endif
                }
    (void)n;
    (void)nudge;
    return PLINTH_OK;
}

static int32_t wrong_add(plinth_device *d, const plinth_view *o, const plinth_view *in,
                         uint32_t n, const void *a)
{
    (void)d; (void)n;
    return elementwise(PLINTH_OP_ADD, o, in, a);
}
static int32_t wrong_mul(plinth_device *d, const plinth_view *o, const plinth_view *in,
                         uint32_t n, const void *a)
{
    (void)d; (void)n;
    return elementwise(PLINTH_OP_MUL, o, in, a);
}
static int32_t wrong_scale(plinth_device *d, const plinth_view *o, const plinth_view *in,
                           uint32_t n, const void *a)
{
    (void)d; (void)n;
    return elementwise(PLINTH_OP_SCALE, o, in, a);
}

static bool wrong_supports(plinth_device *dev, uint32_t op, const plinth_view *out,
                           const plinth_view *in, uint32_t n_in, const void *attrs)
{
    (void)dev; (void)attrs;
    if (op != PLINTH_OP_ADD && op != PLINTH_OP_MUL && op != PLINTH_OP_SCALE)
        return false;
    if (out->dtype != PLINTH_F32)
        return false;
    for (uint32_t k = 0; k < n_in; k++) {
        if (in[k].dtype != PLINTH_F32)
            return false;
        for (int d = 0; d < 4; d++)
            if (in[k].shape[d] != out->shape[d] && in[k].shape[d] != 1)
                return false;
    }
    return true;
}

/* ------------------------------------------------------------------ 3 --- */

static const plinth_kernel_fn kernels[PLINTH_OP_COUNT] = {
    [PLINTH_OP_ADD] = wrong_add, [PLINTH_OP_MUL] = wrong_mul, [PLINTH_OP_SCALE] = wrong_scale};

static const plinth_backend_api api = {
    .struct_size = sizeof(plinth_backend_api),
    .abi_version = PLINTH_ABI_VERSION,
    .name = WRONG_NAME,
    .version = "0",
    .description = "a deliberately wrong plugin (conformance self-test)",
    .instance_create = wrong_instance_create,
    .instance_destroy = wrong_instance_destroy,
    .instance_error = wrong_instance_error,
    .device_count = wrong_device_count,
    .device_info = wrong_device_info,
    .device_open = wrong_device_open,
    .device_close = wrong_device_close,
    .device_error = wrong_device_error,
    .buffer_alloc = wrong_buffer_alloc,
    .buffer_free = wrong_buffer_free,
    .upload = wrong_upload,
    .download = wrong_download,
    .supports = wrong_supports,
    .op_count = PLINTH_OP_COUNT,
    .kernels = kernels,
};

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version);

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    return host_abi_version >= PLINTH_ABI_VERSION ? &api : NULL;
}
