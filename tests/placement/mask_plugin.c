/*
 * mask_plugin.c — plinth-mask.so, a partial backend made to order for the
 * placement tests: ref's kernels (so its results equal ref's bit for bit),
 * with what it supports and how its memory behaves read from the device
 * config string:
 *
 *   ops=HEX      bit i: op i is supported (default: all)
 *   dtypes=HEX   bit d: every view of a supported case has a dtype in the
 *                mask (default: all)
 *   host=0|1     1 (default): buffers are host memory and the device
 *                declares PLINTH_CAP_HOST_MEMORY, so tensors are shared in
 *                place with other host-memory backends; 0: buffers have no
 *                host address (like device memory): every crossing is a
 *                transfer through upload/download
 *   pack=0|1|2|3 weights in its own layout (issue 17): 1 asks to pack
 *                matmul's b when it is an f32 [N, K] weight read
 *                transposed, stores it as [K, N], and its matmul reads that
 *                (f64 sums in ref's order: ref's bits); 2 packs the same
 *                way but its matmul ignores b_packed and reads the packed
 *                view as plain (the broken plugin the tests must catch);
 *                3 as 1, and get_rows' f32 table too (its get_rows reads
 *                the [K, N] layout); 0 (default): no packing
 *   inplace=0|1  1: declares PLINTH_CAP_PACK_IN_PLACE (with host=1): its
 *                pack() copies the plain bytes aside itself when they are
 *                packed's own, and refuses a host copy (the host must not
 *                make one for it)
 *
 * It always has the whole-program path (prepare records the list, execute
 * replays it), so programs that span it exercise the per-segment prepare.
 * Opened twice with different configs it is two different backends.
 */
#include "ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mask_device {
    struct plinth_device base; /* first: ref's kernels take it as theirs */
    uint64_t ops, dtypes;
    bool host;
    uint32_t pack; /* 0 to 3: see the config */
    bool inplace;
    uint64_t n_packed; /* pack() calls, for the tests (device_describe) */
} mask_device;

static mask_device *md(plinth_device *dev)
{
    return (mask_device *)(void *)dev;
}

/* ------------------------------------------------------------ devices --- */

static uint32_t mask_device_count(plinth_instance *inst)
{
    (void)inst;
    return 1;
}

static int32_t mask_device_info(plinth_instance *inst, uint32_t index, plinth_device_info *out)
{
    if (!out || index != 0)
        return plugin_inst_fail(inst, PLINTH_ERR_INVALID, "mask: no device %u", index);
    if (PLINTH_HAS_FIELD(out, plinth_device_info, name))
        snprintf(out->name, sizeof out->name, "mask");
    if (PLINTH_HAS_FIELD(out, plinth_device_info, type))
        out->type = PLINTH_DEVICE_OTHER;
    return PLINTH_OK;
}

/* "ops=1f,dtypes=3,host=0" */
static bool parse(mask_device *d, const char *config, char *why, size_t size)
{
    d->ops = d->dtypes = ~(uint64_t)0;
    d->host = true;
    for (const char *p = config; p && *p;) {
        char key[16] = "";
        unsigned long long v = 0;
        int used = 0;
        if (sscanf(p, "%15[a-z]=%llx%n", key, &v, &used) != 2) {
            snprintf(why, size, "mask: bad config at '%s'", p);
            return false;
        }
        if (strcmp(key, "ops") == 0)
            d->ops = v;
        else if (strcmp(key, "dtypes") == 0)
            d->dtypes = v;
        else if (strcmp(key, "host") == 0)
            d->host = v != 0;
        else if (strcmp(key, "pack") == 0 && v <= 3)
            d->pack = (uint32_t)v;
        else if (strcmp(key, "inplace") == 0)
            d->inplace = v != 0;
        else {
            snprintf(why, size, "mask: unknown key '%s'", key);
            return false;
        }
        p += used;
        if (*p == ',')
            p++;
    }
    return true;
}

static int32_t mask_device_open(plinth_instance *inst, uint32_t index,
                                const plinth_device_options *opts, plinth_device **out)
{
    *out = NULL;
    if (index != 0)
        return plugin_inst_fail(inst, PLINTH_ERR_INVALID, "mask: no device %u", index);
    mask_device *d = plugin_malloc(inst, sizeof *d);
    if (!d)
        return plugin_inst_fail(inst, PLINTH_ERR_NO_MEMORY, "mask: out of memory");
    memset(d, 0, sizeof *d);
    d->base.inst = inst;
    const char *config =
        opts && PLINTH_HAS_FIELD(opts, plinth_device_options, config) ? opts->config : NULL;
    char why[256];
    if (!parse(d, config, why, sizeof why)) {
        plugin_free(inst, d);
        return plugin_inst_fail(inst, PLINTH_ERR_INVALID, "%s", why);
    }
    *out = &d->base;
    return PLINTH_OK;
}

static void mask_device_close(plinth_device *dev)
{
    if (dev)
        plugin_free(dev->inst, dev);
}

static uint64_t mask_device_caps(plinth_device *dev)
{
    const mask_device *d = md(dev);
    return d->host ? PLINTH_CAP_HOST_MEMORY | (d->inplace ? PLINTH_CAP_PACK_IN_PLACE : 0) : 0;
}

/* ------------------------------------------------------------ buffers --- */

static int32_t mask_buffer_alloc(plinth_device *dev, uint64_t size, plinth_buffer *out)
{
    uint64_t rounded = size == 0 ? PLINTH_ALIGNMENT
                                 : (size + PLINTH_ALIGNMENT - 1) / PLINTH_ALIGNMENT *
                                       PLINTH_ALIGNMENT;
    void *p = aligned_alloc(PLINTH_ALIGNMENT, (size_t)rounded);
    if (!p)
        return ref_fail(dev, PLINTH_ERR_NO_MEMORY, "mask: out of memory");
    memset(p, 0, (size_t)rounded);
    out->handle = p;
    out->host = md(dev)->host ? p : NULL; /* host=0: the host cannot reach it */
    out->size = rounded;
    return PLINTH_OK;
}

static void mask_buffer_free(plinth_device *dev, plinth_buffer *buf)
{
    (void)dev;
    if (buf)
        free(buf->handle);
}

static bool in_bounds(const plinth_buffer *b, uint64_t offset, uint64_t size)
{
    return offset <= b->size && size <= b->size - offset;
}

static int32_t mask_upload(plinth_device *dev, const plinth_buffer *dst, uint64_t offset,
                           const void *src, uint64_t size)
{
    if (!in_bounds(dst, offset, size))
        return ref_fail(dev, PLINTH_ERR_INVALID, "mask: upload out of bounds");
    memcpy((uint8_t *)dst->handle + offset, src, (size_t)size);
    return PLINTH_OK;
}

static int32_t mask_download(plinth_device *dev, const plinth_buffer *src, uint64_t offset,
                             void *dst, uint64_t size)
{
    if (!in_bounds(src, offset, size))
        return ref_fail(dev, PLINTH_ERR_INVALID, "mask: download out of bounds");
    memcpy(dst, (const uint8_t *)src->handle + offset, (size_t)size);
    return PLINTH_OK;
}

/* ------------------------------------------------------------ kernels --- */

static bool dtype_ok(const mask_device *d, const plinth_view *v)
{
    return v->dtype >= 0 && v->dtype < 64 && (d->dtypes >> v->dtype & 1);
}

static bool mask_supports(plinth_device *dev, uint32_t op, const plinth_view *out,
                          const plinth_view *in, uint32_t n_in, const void *attrs)
{
    const mask_device *d = md(dev);
    if (op >= 64 || !(d->ops >> op & 1) || !dtype_ok(d, out))
        return false;
    for (uint32_t i = 0; i < n_in; i++)
        if (!dtype_ok(d, &in[i]))
            return false;
    return ref_supports(dev, op, out, in, n_in, attrs);
}

/* With host=0 the host hands views without `data`: point them at the
 * memory behind the handle, as a device would bind its buffers. */
static void locate(const mask_device *d, plinth_view *v)
{
    if (!d->host && v->buffer)
        v->data = (uint8_t *)v->buffer->handle + v->offset;
}

typedef int32_t (*ref_fn)(plinth_device *, const plinth_view *, const plinth_view *, uint32_t,
                          const void *);

static int32_t call(plinth_device *dev, ref_fn fn, const plinth_view *out, const plinth_view *in,
                    uint32_t n_in, const void *attrs)
{
    plinth_view o = *out, v[PLINTH_MAX_INPUTS];
    if (n_in > PLINTH_MAX_INPUTS)
        return ref_fail(dev, PLINTH_ERR_INVALID, "mask: %u inputs", n_in);
    locate(md(dev), &o);
    for (uint32_t i = 0; i < n_in; i++) {
        v[i] = in[i];
        locate(md(dev), &v[i]);
    }
    return fn(dev, &o, v, n_in, attrs);
}

/* ------------------------------------------------------ packed weights --- */

/* pack=1|2|3: an f32 [N, K] weight (rank 2, contiguous) read transposed as
 * matmul's b is stored [K, N]; pack=3: so is get_rows' f32 table. */
static uint64_t mask_pack_size(plinth_device *dev, uint32_t op, uint32_t input,
                               const plinth_view *out, const plinth_view *in, uint32_t n_in,
                               const void *attrs)
{
    const mask_device *d = md(dev);
    const bool rows = d->pack == 3 && op == PLINTH_OP_GET_ROWS && input == 0 && n_in == 2 &&
                      out->dtype == PLINTH_F32;
    if (!rows && (!d->pack || op != PLINTH_OP_MATMUL || input != 1 || n_in != 2 ||
                  !((const plinth_attr_matmul *)attrs)->transpose_b))
        return 0;
    const plinth_view *b = &in[input];
    if (b->dtype != PLINTH_F32 || b->shape[0] != 1 || b->shape[1] != 1 || b->stride[3] != 4 ||
        b->stride[2] != 4 * b->shape[3])
        return 0;
    return (uint64_t)(b->shape[2] * b->shape[3] * 4);
}

static int32_t mask_pack(plinth_device *dev, uint32_t op, uint32_t input,
                         const plinth_view *plain, const plinth_view *packed)
{
    mask_device *d = md(dev);
    plinth_view p = *plain, q = *packed;
    locate(d, &p);
    locate(d, &q);
    const int64_t n = p.shape[2], k = p.shape[3];
    const float *src = (const float *)(const void *)p.data;
    float *dst = (float *)(void *)q.data, *aside = NULL;
    if (d->inplace && !plain->buffer)
        return ref_fail(dev, PLINTH_ERR_INVALID,
                        "mask: pack: given a host copy though it packs in place");
    if ((const void *)src == (const void *)dst) { /* in place: read it all first */
        aside = plugin_malloc(dev->inst, (size_t)(n * k) * sizeof *aside);
        if (!aside)
            return ref_fail(dev, PLINTH_ERR_NO_MEMORY, "mask: pack: out of memory");
        memcpy(aside, src, (size_t)(n * k) * sizeof *aside);
        src = aside;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j++)
            dst[j * n + i] = src[i * k + j];
    plugin_free(dev->inst, aside);
    d->n_packed++;
    return PLINTH_OK;
}

/* matmul with b_packed (pack=1): out[.., i, c] = sum_k a[.., i, k] *
 * B[k][c], summed in double in k order, as ref does. */
static int32_t matmul_packed(plinth_device *dev, const plinth_view *out, const plinth_view *in)
{
    plinth_view o = *out, a = in[0], b = in[1];
    locate(md(dev), &o);
    locate(md(dev), &a);
    locate(md(dev), &b);
    const int64_t n = b.shape[2], k = b.shape[3];
    const float *w = (const float *)(const void *)b.data;
    for (int64_t o0 = 0; o0 < o.shape[0]; o0++)
        for (int64_t o1 = 0; o1 < o.shape[1]; o1++)
            for (int64_t i = 0; i < o.shape[2]; i++)
                for (int64_t c = 0; c < n; c++) {
                    double sum = 0.0;
                    for (int64_t p = 0; p < k; p++)
                        sum += ref_load(ref_at(&a, a.shape[0] == 1 ? 0 : o0,
                                               a.shape[1] == 1 ? 0 : o1, i, p),
                                        a.dtype) *
                               (double)w[p * n + c];
                    *(float *)(void *)ref_at(&o, o0, o1, i, c) = (float)sum;
                }
    return PLINTH_OK;
}

/* get_rows with table_packed (pack=3): out row r is column ids[r] of the
 * [K, N] table. */
static int32_t get_rows_packed(plinth_device *dev, const plinth_view *out, const plinth_view *in)
{
    plinth_view o = *out, t = in[0], ids = in[1];
    locate(md(dev), &o);
    locate(md(dev), &t);
    locate(md(dev), &ids);
    const int64_t n = t.shape[2], k = t.shape[3];
    const float *w = (const float *)(const void *)t.data;
    for (int64_t r = 0; r < ids.shape[3]; r++) {
        int32_t v;
        memcpy(&v, ref_at(&ids, 0, 0, 0, r), 4);
        if (v < 0 || v >= n)
            return ref_fail(dev, PLINTH_ERR_INVALID, "mask: get_rows: index %d out of range", v);
        for (int64_t c = 0; c < k; c++)
            *(float *)(void *)ref_at(&o, 0, 0, r, c) = w[c * n + v];
    }
    return PLINTH_OK;
}

#define X(E, n, lo, hi)                                                                    \
    static int32_t mask_##n(plinth_device *dev, const plinth_view *out, const plinth_view *in, \
                            uint32_t n_in, const void *attrs)                              \
    {                                                                                      \
        if (PLINTH_OP_##E == PLINTH_OP_MATMUL && (md(dev)->pack & 1) &&                    \
            ((const plinth_attr_matmul *)attrs)->b_packed)                                 \
            return matmul_packed(dev, out, in);                                            \
        if (PLINTH_OP_##E == PLINTH_OP_GET_ROWS && md(dev)->pack == 3 &&                   \
            ((const plinth_attr_get_rows *)attrs)->table_packed)                           \
            return get_rows_packed(dev, out, in);                                          \
        return call(dev, ref_##n, out, in, n_in, attrs);                                   \
    }
PLINTH_OP_LIST(X)
#undef X

static const plinth_kernel_fn kernels[PLINTH_OP_COUNT] = {
#define X(E, n, lo, hi) [PLINTH_OP_##E] = mask_##n,
    PLINTH_OP_LIST(X)
#undef X
};

/* ------------------------------------------- the whole-program path --- */

typedef struct program {
    uint32_t n;
    plinth_instruction *code;
} program;

static int32_t mask_prepare(plinth_device *dev, const plinth_instruction *code, uint32_t n,
                            size_t size, void **out)
{
    program *p = plugin_malloc(dev->inst, sizeof *p);
    plinth_instruction *c = plugin_malloc(dev->inst, sizeof *c * (n ? n : 1));
    if (!p || !c) {
        plugin_free(dev->inst, p);
        plugin_free(dev->inst, c);
        return ref_fail(dev, PLINTH_ERR_NO_MEMORY, "mask: prepare: out of memory");
    }
    for (uint32_t i = 0; i < n; i++) {
        const plinth_instruction *ins = plinth_instruction_at(code, size, i);
        if (ins->op >= PLINTH_OP_COUNT || !mask_supports(dev, ins->op, ins->out, ins->in,
                                                         ins->n_in, ins->attrs)) {
            plugin_free(dev->inst, p);
            plugin_free(dev->inst, c);
            return ref_fail(dev, PLINTH_ERR_UNSUPPORTED,
                            "mask: prepare: instruction %u (%s) is not one of ours", i,
                            plinth_op_label(ins->op));
        }
        c[i] = *ins;
    }
    p->n = n;
    p->code = c;
    *out = p;
    return PLINTH_OK;
}

static int32_t mask_execute(plinth_device *dev, void *prog)
{
    const program *p = prog;
    for (uint32_t i = 0; i < p->n; i++) {
        const plinth_instruction *ins = &p->code[i];
        int32_t st = kernels[ins->op](dev, ins->out, ins->in, ins->n_in, ins->attrs);
        if (st != PLINTH_OK)
            return st;
    }
    return PLINTH_OK;
}

static void mask_release(plinth_device *dev, void *prog)
{
    program *p = prog;
    if (!p)
        return;
    plugin_free(dev->inst, p->code);
    plugin_free(dev->inst, p);
}

static const plinth_backend_api api = {
    .struct_size = sizeof(plinth_backend_api),
    .abi_version = PLINTH_ABI_VERSION,
    .name = "mask",
    .version = "0.1.0",
    .description = "ref's kernels behind a configurable support mask (placement tests)",
    .instance_create = plugin_instance_create,
    .instance_destroy = plugin_instance_destroy,
    .instance_error = plugin_instance_error,
    .device_count = mask_device_count,
    .device_info = mask_device_info,
    .device_open = mask_device_open,
    .device_close = mask_device_close,
    .device_error = ref_device_error,
    .buffer_alloc = mask_buffer_alloc,
    .buffer_free = mask_buffer_free,
    .upload = mask_upload,
    .download = mask_download,
    .supports = mask_supports,
    .op_count = PLINTH_OP_COUNT,
    .kernels = kernels,
    .prepare = mask_prepare,
    .execute = mask_execute,
    .release = mask_release,
    .device_caps = mask_device_caps,
    .pack_size = mask_pack_size,
    .pack = mask_pack,
};

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version);

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    return host_abi_version >= PLINTH_ABI_VERSION ? &api : NULL;
}
