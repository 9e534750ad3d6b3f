/*
 * template.c — the smallest complete plinth backend plugin. Copy it.
 *
 * It runs three ops (add, mul, scale) on f32 tensors with plain C loops on
 * one CPU "device" — and that is enough to run whole models: compiled for
 * a list of backends (`plinth run MODEL --backend=template,cpu`), each op
 * goes to the first backend that supports it, so a new backend can start
 * with one op and grow. Everything a real backend needs is here in small form:
 * version negotiation, instances (one per host context), device
 * enumeration, an allocator that keeps the 256-byte alignment contract,
 * upload/download, an honest supports(), an out-kernel table, and error
 * messages kept on the object that failed instead of printed.
 *
 * Sections:
 *   1. instances: the host's services and errors
 *   2. devices
 *   3. buffers
 *   4. kernels (add, mul, scale), supports() and capabilities
 *   5. the table and the entry point
 *
 * The plugin includes plinth_plugin.h and nothing else of plinth: it never
 * calls into the core. Rename every `template_` to your backend's prefix
 * (`mybackend_`), change `.name` (the file must be plinth-<name>.so), and
 * grow the kernel table.
 *
 * No globals: everything with state hangs off an instance or a device. One
 * loaded image may serve several host contexts at once, each from its own
 * thread, each with its own instance; a global would mix them up.
 */
#include "plinth_plugin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ 1 --- */

/*
 * An instance is what one host context gets from instance_create: its own
 * host services (log and allocator, the `host` pointer stays valid until
 * instance_destroy, so keep it rather than a copy) and a place for the
 * message of a failure that has no device to hold it (device_info,
 * device_open). The host sees only an opaque `plinth_instance *`; the
 * struct is ours to define.
 */
struct plinth_instance {
    const plinth_host *host;
    char error[256]; /* instance_error(): last failed device_info/device_open */
};

/* Our device object, opaque to the host like the instance. It points back
 * to its instance: that is where the log and the allocator are. */
struct plinth_device {
    plinth_instance *inst;
    char error[256]; /* device_error(): the last failure on this device */
};

/* Records a message on the instance and returns `status`. A plugin never
 * prints (rule 8): the host decides what the user sees. */
static int32_t inst_fail(plinth_instance *inst, int32_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int32_t inst_fail(plinth_instance *inst, int32_t status, const char *fmt, ...)
{
    if (inst) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(inst->error, sizeof inst->error, fmt, ap);
        va_end(ap);
    }
    return status;
}

/* The same for a device: every failure on a device is kept on it (rule 11). */
static int32_t fail(plinth_device *dev, int32_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int32_t fail(plinth_device *dev, int32_t status, const char *fmt, ...)
{
    if (dev) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(dev->error, sizeof dev->error, fmt, ap);
        va_end(ap);
    }
    return status;
}

/* Logging goes through the instance's host, which routes the line to the
 * context that owns the instance (rule 12). The host struct grows like
 * every sized struct: read a field only when PLINTH_HAS_FIELD says the
 * host's struct_size reaches it. A NULL log means the host is not
 * listening. */
static void template_log(plinth_instance *inst, int level, const char *msg)
{
    const plinth_host *h = inst->host;
    if (PLINTH_HAS_FIELD(h, plinth_host, log) && h->log)
        h->log(h->user, level, msg);
}

/*
 * instance_create: the first call with state. Check the host before
 * relying on it (its allocator must be there: every object we keep comes
 * from it, rule 14), then allocate the instance from it. A NULL from the
 * host's malloc is an ordinary failure: return PLINTH_ERR_NO_MEMORY and
 * leave nothing behind.
 */
static int32_t template_instance_create(const plinth_host *host, plinth_instance **out)
{
    if (!out)
        return PLINTH_ERR_INVALID;
    *out = NULL;
    if (!host || !PLINTH_HAS_FIELD(host, plinth_host, free) || !host->malloc || !host->free)
        return PLINTH_ERR_PLUGIN; /* a host we cannot use */
    plinth_instance *inst = host->malloc(host->user, sizeof *inst);
    if (!inst)
        return PLINTH_ERR_NO_MEMORY;
    memset(inst, 0, sizeof *inst);
    inst->host = host;
    *out = inst;
    return PLINTH_OK;
}

/* The host closes every device of the instance before this. */
static void template_instance_destroy(plinth_instance *inst)
{
    if (inst)
        inst->host->free(inst->host->user, inst);
}

static const char *template_instance_error(plinth_instance *inst)
{
    return inst ? inst->error : "";
}

static const char *template_device_error(plinth_device *dev)
{
    return dev ? dev->error : "";
}

/* ------------------------------------------------------------------ 2 --- */

/* One device: the CPU we run on. A GPU backend would enumerate its adapters
 * here (at most PLINTH_MAX_DEVICES, rule 13; and return 0 plus an
 * unavailable_reason when there is no driver). A device list shared by
 * every instance is fine, but then it must be thread-safe (pthread_once or
 * a mutex): different instances may be called from different threads at
 * once. */
static uint32_t template_device_count(plinth_instance *inst)
{
    (void)inst;
    return 1;
}

static int32_t template_device_info(plinth_instance *inst, uint32_t index,
                                    plinth_device_info *out)
{
    if (index != 0 || !out)
        return inst_fail(inst, PLINTH_ERR_INVALID, "template: no device %u", index);

    /* Fill a full-size copy, then hand over only as many bytes as the host's
     * struct has (its struct_size): a host built against an older header
     * has a shorter struct, and writing past it would corrupt its memory. */
    plinth_device_info info = {.struct_size = out->struct_size};
    snprintf(info.name, sizeof info.name, "template-cpu");
    snprintf(info.description, sizeof info.description,
             "plinth template plugin: plain C loops, f32 add/mul/scale");
    info.type = PLINTH_DEVICE_CPU;
    info.memory_bytes = 0; /* unknown */
    snprintf(info.features, sizeof info.features, "scalar");

    size_t n = out->struct_size < sizeof info ? out->struct_size : sizeof info;
    memcpy(out, &info, n);
    return PLINTH_OK;
}

static int32_t template_device_open(plinth_instance *inst, uint32_t index,
                                    const plinth_device_options *opts, plinth_device **out)
{
    if (!out)
        return inst_fail(inst, PLINTH_ERR_INVALID, "template: device_open: out is NULL");
    *out = NULL;
    if (index != 0)
        return inst_fail(inst, PLINTH_ERR_INVALID, "template: no device %u (there is 1)",
                         index);

    /* Options grow like every other sized struct: read `config` only if
     * the caller's struct_size covers it. We take no configuration at all,
     * and say so rather than ignoring a setting the user thinks is
     * applied. */
    const char *config = NULL;
    if (opts && PLINTH_HAS_FIELD(opts, plinth_device_options, config))
        config = opts->config;
    if (config && config[0])
        return inst_fail(inst, PLINTH_ERR_INVALID, "template: unknown device config '%s'",
                         config);

    /* Bookkeeping goes through the host's allocator, so the host can count
     * it, limit it, or fail it on purpose in tests (rule 14). */
    plinth_device *dev = inst->host->malloc(inst->host->user, sizeof *dev);
    if (!dev)
        return inst_fail(inst, PLINTH_ERR_NO_MEMORY, "template: out of memory opening device");
    memset(dev, 0, sizeof *dev);
    dev->inst = inst;
    template_log(inst, PLINTH_LOG_DEBUG, "template: device 0 open");
    *out = dev;
    return PLINTH_OK;
}

static void template_device_close(plinth_device *dev)
{
    if (dev)
        dev->inst->host->free(dev->inst->host->user, dev);
}

/* ------------------------------------------------------------------ 3 --- */

/*
 * Buffers are plain host memory. The contract (rule 4): `host` is a multiple
 * of PLINTH_ALIGNMENT (256) and `size` >= the size asked for. The host checks
 * both on every allocation and refuses the buffer otherwise. Tensor buffers
 * are the one thing that does not come from the host's allocator: they are
 * the device's memory (here the C library's; on a GPU, the driver's).
 *
 * aligned_alloc wants the size to be a multiple of the alignment, so round
 * up; a zero-byte request still gets a real (256-byte) block, so the buffer
 * is valid and free() has something to free.
 */
static int32_t template_buffer_alloc(plinth_device *dev, uint64_t size, plinth_buffer *out)
{
    const uint64_t align = PLINTH_ALIGNMENT;
    if (size > SIZE_MAX - align)
        return fail(dev, PLINTH_ERR_NO_MEMORY, "template: %llu bytes is too large",
                    (unsigned long long)size);
    uint64_t rounded = size == 0 ? align : (size + align - 1) / align * align;
    void *p = aligned_alloc(align, (size_t)rounded);
    if (!p)
        return fail(dev, PLINTH_ERR_NO_MEMORY, "template: cannot allocate %llu bytes",
                    (unsigned long long)size);
    out->handle = p;
    out->host = p;
    out->size = rounded;
    return PLINTH_OK;
}

static void template_buffer_free(plinth_device *dev, plinth_buffer *buf)
{
    (void)dev;
    if (buf)
        free(buf->handle);
}

/* offset + size inside the buffer, written so that it cannot overflow. */
static int in_bounds(const plinth_buffer *buf, uint64_t offset, uint64_t size)
{
    return offset <= buf->size && size <= buf->size - offset;
}

static int32_t template_upload(plinth_device *dev, const plinth_buffer *dst, uint64_t offset,
                               const void *src, uint64_t size)
{
    if (!in_bounds(dst, offset, size))
        return fail(dev, PLINTH_ERR_INVALID, "template: upload of %llu bytes at %llu overruns "
                    "a buffer of %llu", (unsigned long long)size, (unsigned long long)offset,
                    (unsigned long long)dst->size);
    if (size)
        memcpy(dst->host + offset, src, (size_t)size);
    return PLINTH_OK;
}

static int32_t template_download(plinth_device *dev, const plinth_buffer *src, uint64_t offset,
                                 void *dst, uint64_t size)
{
    if (!in_bounds(src, offset, size))
        return fail(dev, PLINTH_ERR_INVALID, "template: download of %llu bytes at %llu "
                    "overruns a buffer of %llu", (unsigned long long)size,
                    (unsigned long long)offset, (unsigned long long)src->size);
    if (size)
        memcpy(dst, src->host + offset, (size_t)size);
    return PLINTH_OK;
}

/* ------------------------------------------------------------------ 4 --- */

/*
 * Views (plinth_plugin.h, section 3): always 4 dims, outermost first, byte
 * strides that may be anything (a slice, a permute, 0 for a broadcast). The
 * element (i0,i1,i2,i3) lives at data + i0*stride[0] + ... + i3*stride[3].
 * Never assume contiguity; a real backend adds fast paths for the
 * contiguous case after the general one is right.
 *
 * Binary ops broadcast numpy-style: each input dim equals the output's or
 * is 1. A dim of 1 is read with stride 0, whatever stride it carries.
 */

/* May `in` be broadcast to `out`'s shape? */
static int broadcasts_to(const plinth_view *in, const plinth_view *out)
{
    for (int d = 0; d < PLINTH_MAX_DIMS; d++)
        if (in->shape[d] != out->shape[d] && in->shape[d] != 1)
            return 0;
    return 1;
}

/* The one place that decides what this plugin can run. supports() answers
 * with it, and the kernels call it too: it is a few comparisons, and a
 * kernel handed a case it cannot run must fail cleanly, never crash
 * (rule 8). Returns NULL when fine, else why not. */
static const char *check(uint32_t op, const plinth_view *out, const plinth_view *in,
                         uint32_t n_in, const void *attrs)
{
    uint32_t want = op == PLINTH_OP_SCALE ? 1 : 2;
    if (op != PLINTH_OP_ADD && op != PLINTH_OP_MUL && op != PLINTH_OP_SCALE)
        return "op not implemented";
    if (!out || !in || n_in != want)
        return "wrong number of inputs";
    if (op == PLINTH_OP_SCALE && !attrs)
        return "scale needs its attrs";
    if (out->dtype != PLINTH_F32)
        return "output is not f32";
    for (int d = 0; d < PLINTH_MAX_DIMS; d++)
        if (out->shape[d] < 0)
            return "negative dimension";
    for (uint32_t i = 0; i < n_in; i++) {
        if (in[i].dtype != PLINTH_F32)
            return "input is not f32";
        if (!broadcasts_to(&in[i], out))
            return "input shape does not broadcast to the output";
    }
    return NULL;
}

/* supports() is called at compile time with views whose buffers are NULL:
 * decide from dtypes and shapes only. Say yes only to what the kernels
 * really run (rule 5): the conformance suite will hold you to it. */
static bool template_supports(plinth_device *dev, uint32_t op, const plinth_view *out,
                              const plinth_view *in, uint32_t n_in, const void *attrs)
{
    (void)dev;
    return check(op, out, in, n_in, attrs) == NULL;
}

/* The stride to step `v` along dim d of the output: 0 where v broadcasts. */
static int64_t step(const plinth_view *v, int d)
{
    return v->shape[d] == 1 ? 0 : v->stride[d];
}

/*
 * One 4-D loop for the three ops. Each output element is computed from the
 * inputs at the same index and written once, so it is correct when `out`
 * is the same memory as in[0] (the planner's in-place reuse, rule 10).
 */
enum binop { OP_ADD, OP_MUL, OP_SCALE };

static int32_t elementwise_f32(plinth_device *dev, uint32_t op, enum binop kind,
                               const plinth_view *out, const plinth_view *in, uint32_t n_in,
                               const void *attrs)
{
    const char *why = check(op, out, in, n_in, attrs);
    if (why)
        return fail(dev, PLINTH_ERR_UNSUPPORTED, "template: %s", why);
    /* supports() saw no buffers; at run time every view must have memory
     * the CPU can reach (ours always do: our buffers are host memory). */
    for (uint32_t i = 0; i < n_in; i++)
        if (!in[i].data)
            return fail(dev, PLINTH_ERR_INVALID, "template: input %u has no host memory", i);
    if (!out->data)
        return fail(dev, PLINTH_ERR_INVALID, "template: output has no host memory");

    const plinth_view *a = &in[0];
    const plinth_view *b = kind == OP_SCALE ? &in[0] : &in[1]; /* unused for scale */
    const float s = kind == OP_SCALE ? ((const plinth_attr_scale *)attrs)->s : 0.0f;

    for (int64_t i0 = 0; i0 < out->shape[0]; i0++)
        for (int64_t i1 = 0; i1 < out->shape[1]; i1++)
            for (int64_t i2 = 0; i2 < out->shape[2]; i2++) {
                uint8_t *po = out->data + i0 * out->stride[0] + i1 * out->stride[1] +
                              i2 * out->stride[2];
                const uint8_t *pa = a->data + i0 * step(a, 0) + i1 * step(a, 1) +
                                    i2 * step(a, 2);
                const uint8_t *pb = b->data + i0 * step(b, 0) + i1 * step(b, 1) +
                                    i2 * step(b, 2);
                const int64_t so = out->stride[3], sa = step(a, 3), sb = step(b, 3);
                /* memcpy, not *(float *): strides are in bytes and need not
                 * keep float alignment; the compiler turns this into a plain
                 * load/store. */
                for (int64_t i3 = 0; i3 < out->shape[3]; i3++) {
                    float x, y, r;
                    memcpy(&x, pa + i3 * sa, sizeof x);
                    switch (kind) {
                    case OP_ADD:
                        memcpy(&y, pb + i3 * sb, sizeof y);
                        r = x + y;
                        break;
                    case OP_MUL:
                        memcpy(&y, pb + i3 * sb, sizeof y);
                        r = x * y;
                        break;
                    default:
                        r = x * s;
                        break;
                    }
                    memcpy(po + i3 * so, &r, sizeof r);
                }
            }
    return PLINTH_OK;
}

/* Kernel names follow <backend>_<op>_<dtype>. One signature for all ops:
 * (device, out, inputs, input count, the op's attrs member). */
static int32_t template_add_f32(plinth_device *dev, const plinth_view *out,
                                const plinth_view *in, uint32_t n_in, const void *attrs)
{
    return elementwise_f32(dev, PLINTH_OP_ADD, OP_ADD, out, in, n_in, attrs);
}

static int32_t template_mul_f32(plinth_device *dev, const plinth_view *out,
                                const plinth_view *in, uint32_t n_in, const void *attrs)
{
    return elementwise_f32(dev, PLINTH_OP_MUL, OP_MUL, out, in, n_in, attrs);
}

static int32_t template_scale_f32(plinth_device *dev, const plinth_view *out,
                                  const plinth_view *in, uint32_t n_in, const void *attrs)
{
    return elementwise_f32(dev, PLINTH_OP_SCALE, OP_SCALE, out, in, n_in, attrs);
}

/*
 * Capabilities beyond the mandatory slots. Our buffers are plain host
 * memory and our kernels reach every view through `data` alone (never
 * through `buffer->handle`), so we may say PLINTH_CAP_HOST_MEMORY (rule
 * 15): in a program that also runs on another host-memory backend (ref,
 * cpu) the tensors cross between us and it without a copy. A backend whose
 * memory lives on a device returns 0 (or leaves the slot NULL): the host
 * then plans a transfer wherever a tensor crosses.
 */
static uint64_t template_device_caps(plinth_device *dev)
{
    (void)dev;
    return PLINTH_CAP_HOST_MEMORY;
}

/* ------------------------------------------------------------------ 5 --- */

/* Indexed by plinth_op; ops we do not run stay NULL (the host then never
 * asks supports() about them). Sized by the op count of the header we were
 * built with: a newer host with more ops sees op_count and stops there. */
static const plinth_kernel_fn template_kernels[PLINTH_OP_COUNT] = {
    [PLINTH_OP_ADD] = template_add_f32,
    [PLINTH_OP_MUL] = template_mul_f32,
    [PLINTH_OP_SCALE] = template_scale_f32,
};

/* static const, designated initializers only: every slot is named, so the
 * order of the slots in the header never matters, and a slot added to the
 * header later is zero (absent) here until we fill it. */
static const plinth_backend_api template_api = {
    .struct_size = sizeof(plinth_backend_api),
    .abi_version = PLINTH_ABI_VERSION,
    .name = "template",
    .version = "0.1.0",
    .description = "minimal example backend: f32 add, mul, scale in plain C",

    .instance_create = template_instance_create,
    .instance_destroy = template_instance_destroy,
    .instance_error = template_instance_error,

    .device_count = template_device_count,
    .device_info = template_device_info,
    .device_open = template_device_open,
    .device_close = template_device_close,
    .device_error = template_device_error,

    .buffer_alloc = template_buffer_alloc,
    .buffer_free = template_buffer_free,
    .upload = template_upload,
    .download = template_download,

    .supports = template_supports,
    .op_count = PLINTH_OP_COUNT,
    .kernels = template_kernels,
    .device_caps = template_device_caps,

    /* Optional, left NULL: always has its device (unavailable_reason), no
     * whole-program path (prepare/execute/release; a backend that wants one
     * reads the instruction array with plinth_instruction_at, since the
     * host's elements are `instruction_size` bytes, not necessarily
     * sizeof(plinth_instruction)), synchronous (synchronize). */
};

/*
 * The one exported symbol (rule 1). Cheap and without side effects: the
 * host may call it just to list plugins, so nothing is allocated, detected
 * or remembered here. State starts at instance_create.
 *
 * Negotiation (rule 2): we serve ABI version 1. A newer host still speaks
 * version 1 (it only appends), so any host_abi_version >= 1 gets our
 * version-1 table; an older host (0) gets NULL.
 *
 * (The separate declaration keeps -Wmissing-prototypes quiet.)
 */
PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version);

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    if (host_abi_version < 1)
        return NULL;
    return &template_api;
}
