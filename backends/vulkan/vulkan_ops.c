/*
 * vulkan_ops.c — turning one op on views into one dispatch.
 *
 * Sections:
 *   1. views: element strides, device addresses, byte ranges
 *   2. elementwise: add sub mul div, scale gelu_tanh silu
 *   3. rows: rms_norm softmax argmax
 *   4. moves: cast copy concat
 *   5. vulkan_encode: arity, then the op's encoder
 *
 * Each encoder checks the case completely first (dtypes, shapes, attrs,
 * view layout), so supports() (check_only) and the kernels agree. The
 * push-constant structs mirror the shaders' blocks field by field.
 */
#include <stdio.h>
#include <string.h>

#include "vulkan_ops.h"

/* ---------------------------------------------------------------- 1 ---- */

bool vulkan_is_float(int32_t dtype)
{
    return dtype == PLINTH_F32 || dtype == PLINTH_F16 || dtype == PLINTH_BF16;
}

int64_t vulkan_numel(const plinth_view *v)
{
    return v->shape[0] * v->shape[1] * v->shape[2] * v->shape[3];
}

bool vulkan_same_shape(const plinth_view *a, const plinth_view *b)
{
    for (int k = 0; k < 4; k++)
        if (a->shape[k] != b->shape[k])
            return false;
    return true;
}

bool vulkan_dense(const int64_t shape[4], const int32_t s[4])
{
    int64_t want = 1;
    for (int k = 3; k >= 0; k--) {
        if (shape[k] != 1 && s[k] != want)
            return false;
        want *= shape[k];
    }
    return true;
}

void vulkan_groups_1d(uint64_t n, uint32_t groups[3])
{
    uint64_t g = (n + 63) / 64;
    uint64_t gx = g < 65535 ? g : 65535;
    groups[0] = (uint32_t)gx;
    groups[1] = gx ? (uint32_t)((g + gx - 1) / gx) : 0;
    groups[2] = 1;
}

const char *vulkan_shape_str(const plinth_view *v, char *buf, size_t size)
{
    snprintf(buf, size, "[%lld, %lld, %lld, %lld]", (long long)v->shape[0],
             (long long)v->shape[1], (long long)v->shape[2], (long long)v->shape[3]);
    return buf;
}

/* Lowest and highest element a view reaches, relative to element 0. */
static void extent(const plinth_view *v, int64_t es, int64_t *lo, int64_t *hi)
{
    *lo = *hi = 0;
    for (int k = 0; k < 4; k++) {
        if (v->shape[k] <= 1)
            continue;
        int64_t span = (v->shape[k] - 1) * (v->stride[k] / es);
        if (span < 0)
            *lo += span;
        else
            *hi += span;
    }
}

/* A block-dtype view (plinth_plugin.h, plinth_view): the lowest and one
 * past the highest byte it reaches, relative to its first block's first
 * byte. Its rows are whole runs of blocks. */
static void extent_blocks(const plinth_view *v, int64_t *lo, int64_t *hi)
{
    *lo = 0;
    *hi = (int64_t)plinth_dtype_row_bytes(v->dtype, v->shape[3]);
    for (int k = 0; k < 3; k++) {
        if (v->shape[k] <= 1)
            continue;
        int64_t span = (v->shape[k] - 1) * v->stride[k];
        if (span < 0)
            *lo += span;
        else
            *hi += span;
    }
}

static bool is_block(int32_t dtype)
{
    return plinth_dtype_block_elems(dtype) > 1;
}

void vulkan_view_span(const plinth_view *v, int64_t *lo, int64_t *hi)
{
    if (is_block(v->dtype)) {
        extent_blocks(v, lo, hi);
        return;
    }
    *lo = 0;
    *hi = (int64_t)plinth_dtype_bytes(v->dtype);
    for (int k = 0; k < 4; k++) {
        if (v->shape[k] <= 1)
            continue;
        int64_t span = (v->shape[k] - 1) * v->stride[k];
        if (span < 0)
            *lo += span;
        else
            *hi += span;
    }
}

uint64_t vulkan_view_bytes(const plinth_view *v)
{
    if (plinth_dtype_block_bytes(v->dtype) == 0 || vulkan_numel(v) == 0)
        return 0;
    int64_t lo, hi;
    vulkan_view_span(v, &lo, &hi);
    return (uint64_t)(hi - lo);
}

/* Descriptor mode: the next slot of d binds `v` (bytes [blo, bhi) of vb);
 * out->addr = (slot, offset of element 0 in the binding). Slots follow the
 * order of the encoder's vulkan_view calls (out first), so hot shaders may
 * name them as constants (matmul.glsl). */
static int32_t bind_view(plinth_device *dev, const char *name, const char *what,
                         const plinth_view *v, const vulkan_buffer *vb, uint64_t blo,
                         uint64_t bhi, vulkan_dispatch *d, vview *out)
{
    const uint64_t align = dev->min_align > PLINTH_ALIGNMENT ? dev->min_align : PLINTH_ALIGNMENT;
    const uint64_t at = blo / align * align;
    uint64_t end = (bhi + 15) / 16 * 16; /* whole vec4s */
    if (end > vb->size)
        end = vb->size;
    if (end - at > dev->max_range)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "%s: %s spans %llu bytes, more than maxStorageBufferRange %llu",
                           name, what, (unsigned long long)(end - at),
                           (unsigned long long)dev->max_range);
    const vulkan_bind b = {.buffer = vb->buffer, .offset = vb->shift + at, .range = end - at};
    if (d->n_binds == VULKAN_MAX_BINDS)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED, "%s: more than %d operands", name,
                           VULKAN_MAX_BINDS);
    const uint32_t slot = d->n_binds++;
    d->binds[slot] = b;
    out->addr[0] = slot;
    out->addr[1] = (uint32_t)(v->offset - at);
    return PLINTH_OK;
}

/* Where a block view's blocks may start (shaders/blocks.glsl): at even
 * bytes, and at 4-byte boundaries where the block's size is a multiple of 4
 * (q4_K: read as aligned words only). Views of whole rows always are. */
static uint64_t block_align(int32_t dtype)
{
    return plinth_dtype_block_bytes(dtype) % 4 == 0 ? 4 : 2;
}

/* A block-dtype view: byte strides in out->s[0..2] (the shaders index
 * blocks by byte), the block's bytes in s[3]; lo, hi: its bytes relative to
 * its first one (hi one past the last). */
static int32_t block_strides(plinth_device *dev, const char *name, const char *what,
                             const plinth_view *v, vview *out, int64_t *lo, int64_t *hi)
{
    const int64_t bb = (int64_t)plinth_dtype_block_bytes(v->dtype);
    const int64_t align = (int64_t)block_align(v->dtype);
    if (v->shape[3] % (int64_t)plinth_dtype_block_elems(v->dtype) != 0 ||
        (v->shape[3] > (int64_t)plinth_dtype_block_elems(v->dtype) && v->stride[3] != bb))
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "%s: %s (%s) is not whole rows of contiguous blocks", name, what,
                           plinth_dtype_label(v->dtype));
    for (int k = 0; k < 3; k++) {
        if (v->shape[k] <= 1)
            continue;
        if (v->stride[k] % align != 0 || v->stride[k] > INT32_MAX || v->stride[k] < INT32_MIN)
            return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                               "%s: %s stride %lld is not a multiple of %lld bytes or past 2^31",
                               name, what, (long long)v->stride[k], (long long)align);
        out->s[k] = (int32_t)v->stride[k];
    }
    out->s[3] = (int32_t)bb;
    extent_blocks(v, lo, hi);
    if (*hi >= INT32_MAX || *lo <= INT32_MIN)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "%s: %s spans more than 2^31 bytes (vulkan indexes with i32)", name,
                           what);
    return PLINTH_OK;
}

int32_t vulkan_view(plinth_device *dev, uint32_t op, const char *what, const plinth_view *v,
                    bool check_only, vulkan_dispatch *d, vview *out)
{
    const char *name = plinth_op_label(op);
    memset(out, 0, sizeof *out);
    const bool blocks = is_block(v->dtype) && v->dtype < PLINTH_DTYPE_COUNT;
    /* Bytes per element, or per byte-addressed unit of a block view. */
    const int64_t es = blocks ? 1 : (int64_t)plinth_dtype_bytes(v->dtype);
    if (es == 0)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: %s has unknown dtype %d", name, what,
                           (int)v->dtype);
    int64_t n = 1;
    for (int k = 0; k < 4; k++) {
        if (v->shape[k] < 0)
            return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: %s has a negative dim", name, what);
        n *= v->shape[k] ? v->shape[k] : 1;
        if (n > INT32_MAX)
            return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                               "%s: %s has more than 2^31 elements (vulkan indexes with i32)",
                               name, what);
        if (v->shape[k] <= 1 || blocks)
            continue;
        if (v->stride[k] % es != 0)
            return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                               "%s: %s stride %lld is not a multiple of its element size",
                               name, what, (long long)v->stride[k]);
        out->s[k] = (int32_t)(v->stride[k] / es);
    }
    /* lo, hi: the lowest and one past the highest byte, from element 0's. */
    int64_t lo, hi;
    if (blocks) {
        int32_t st = block_strides(dev, name, what, v, out, &lo, &hi);
        if (st != PLINTH_OK)
            return st;
    } else {
        extent(v, es, &lo, &hi);
        if (hi >= INT32_MAX || lo <= INT32_MIN)
            return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                               "%s: %s spans more than 2^31 elements (vulkan indexes with i32)",
                               name, what);
        lo *= es;
        hi = (hi + 1) * es;
    }
    if (dev->desc && vulkan_view_bytes(v) + 2 * PLINTH_ALIGNMENT > dev->max_range)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "%s: %s spans %llu bytes, more than maxStorageBufferRange %llu",
                           name, what, (unsigned long long)vulkan_view_bytes(v),
                           (unsigned long long)dev->max_range);
    if (check_only || vulkan_numel(v) == 0)
        return PLINTH_OK;
    if (!v->buffer || !v->buffer->handle)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: %s has no buffer", name, what);
    const vulkan_buffer *vb = v->buffer->handle;
    const uint64_t align = blocks ? block_align(v->dtype) : (uint64_t)es;
    if (v->offset < v->base || (v->offset - v->base) % align != 0)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "%s: %s starts %llu bytes into its tensor: not element-aligned",
                           name, what, (unsigned long long)(v->offset - v->base));
    /* Where the tensor starts: a multiple of 256 and of the device's
     * minStorageBufferOffsetAlignment (checked both, whatever the plan
     * promises). vb->addr is 0 in descriptor mode. */
    const uint64_t bind = vb->addr + v->base;
    if (bind % PLINTH_ALIGNMENT != 0 || bind % dev->min_align != 0)
        return vulkan_fail(dev, PLINTH_ERR_INVALID,
                           "%s: %s tensor base %llu is not a multiple of 256 and of "
                           "minStorageBufferOffsetAlignment %llu", name, what,
                           (unsigned long long)v->base, (unsigned long long)dev->min_align);
    int64_t blo = (int64_t)v->offset + lo, bhi = (int64_t)v->offset + hi;
    if (blo < 0 || (uint64_t)bhi > vb->size)
        return vulkan_fail(dev, PLINTH_ERR_INVALID,
                           "%s: %s at offset %llu reaches outside its %llu-byte buffer", name,
                           what, (unsigned long long)v->offset, (unsigned long long)vb->size);
    out->byte_addr = vb->addr + v->offset;
    out->range = (vulkan_range){.buf = vb, .lo = (uint64_t)blo, .hi = (uint64_t)bhi};
    if (dev->desc) {
        int32_t st = bind_view(dev, name, what, v, vb, (uint64_t)blo, (uint64_t)bhi, d, out);
        if (st == PLINTH_OK && blocks) { /* (slot, 0) and the byte offset */
            out->qo = out->addr[1];
            out->addr[1] = 0;
        }
        return st;
    }
    /* Block operands are 16-byte aligned addresses plus a byte offset. */
    const uint64_t at = blocks ? out->byte_addr & ~(uint64_t)15 : out->byte_addr;
    out->qo = (uint32_t)(out->byte_addr - at);
    out->addr[0] = (uint32_t)at;
    out->addr[1] = (uint32_t)(at >> 32);
    return PLINTH_OK;
}

/* Sets d->write / d->reads from views already converted. */
static void ranges(vulkan_dispatch *d, const vview *o, const vview *in, uint32_t n_in)
{
    d->write = o->range;
    d->n_reads = n_in;
    for (uint32_t i = 0; i < n_in; i++)
        d->reads[i] = in[i].range;
}

static bool broadcasts(const plinth_view *v, const plinth_view *to)
{
    for (int k = 0; k < 4; k++)
        if (v->shape[k] != to->shape[k] && v->shape[k] != 1)
            return false;
    return true;
}

static void copy4(int32_t dst[4], const int64_t src[4])
{
    for (int k = 0; k < 4; k++)
        dst[k] = (int32_t)src[k];
}

/* ---------------------------------------------------------------- 2 ---- */

typedef struct pc_binary {
    uint32_t o[2], a[2], b[2];
    uint32_t n, pad;
    int32_t ne[4], so[4], sa[4], sb[4];
    uint32_t g[2]; /* fused gelu(a) (vulkan_fuse.c) */
} pc_binary;

static int32_t encode_binary(plinth_device *dev, uint32_t op, const plinth_view *out,
                             const plinth_view *in, bool check_only, vulkan_dispatch *d)
{
    const char *name = plinth_op_label(op);
    if (in[0].dtype != in[1].dtype || out->dtype != in[0].dtype)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: dtypes differ (a %s, b %s, out %s)",
                           name, plinth_dtype_label(in[0].dtype), plinth_dtype_label(in[1].dtype),
                           plinth_dtype_label(out->dtype));
    if (!broadcasts(&in[0], out) || !broadcasts(&in[1], out))
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: inputs do not broadcast to out", name);
    vview vo, vi[2];
    int32_t st = vulkan_view(dev, op, "out", out, check_only, d, &vo);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, op, "a", &in[0], check_only, d, &vi[0]);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, op, "b", &in[1], check_only, d, &vi[1]);
    if (st != PLINTH_OK || check_only)
        return st;
    static const uint32_t shader[] = {[PLINTH_OP_ADD] = VULKAN_SH_ADD,
                                      [PLINTH_OP_SUB] = VULKAN_SH_SUB,
                                      [PLINTH_OP_MUL] = VULKAN_SH_MUL,
                                      [PLINTH_OP_DIV] = VULKAN_SH_DIV};
    pc_binary pc = {.n = (uint32_t)vulkan_numel(out)};
    memcpy(pc.o, vo.addr, 8);
    memcpy(pc.a, vi[0].addr, 8);
    memcpy(pc.b, vi[1].addr, 8);
    copy4(pc.ne, out->shape);
    memcpy(pc.so, vo.s, 16);
    memcpy(pc.sa, vi[0].s, 16);
    memcpy(pc.sb, vi[1].s, 16);
    bool contig = vulkan_same_shape(&in[0], out) && vulkan_same_shape(&in[1], out) &&
                  vulkan_dense(out->shape, vo.s) && vulkan_dense(out->shape, vi[0].s) &&
                  vulkan_dense(out->shape, vi[1].s);
    d->shader = shader[op];
    d->n_spec = 2;
    d->spec[0] = out->dtype;
    d->spec[1] = contig;
    VULKAN_PUSH(d, pc);
    vulkan_groups_1d(pc.n, d->groups);
    ranges(d, &vo, vi, 2);
    return PLINTH_OK;
}

int32_t vulkan_encode_gelu_binary(plinth_device *dev, uint32_t op, const plinth_view *out,
                                  const plinth_view *x, const plinth_view *b,
                                  const plinth_view *g, vulkan_dispatch *d)
{
    memset(d, 0, sizeof *d);
    if (op != PLINTH_OP_ADD && op != PLINTH_OP_SUB && op != PLINTH_OP_MUL &&
        op != PLINTH_OP_DIV)
        return PLINTH_ERR_UNSUPPORTED;
    if (out->dtype != PLINTH_F32 || x->dtype != PLINTH_F32 || b->dtype != PLINTH_F32 ||
        g->dtype != PLINTH_F32 || !vulkan_same_shape(x, out) || !vulkan_same_shape(b, out) ||
        !vulkan_same_shape(g, out))
        return PLINTH_ERR_UNSUPPORTED;
    const plinth_view in[2] = {*x, *b};
    int32_t st = encode_binary(dev, op, out, in, false, d);
    vview vg;
    if (st == PLINTH_OK)
        st = vulkan_view(dev, op, "gelu out", g, false, d, &vg);
    if (st != PLINTH_OK)
        return st;
    pc_binary pc;
    memcpy(&pc, d->push, sizeof pc);
    if (!d->spec[1] || !vulkan_dense(out->shape, vg.s))
        return PLINTH_ERR_UNSUPPORTED; /* not CONTIG: g would need its own index */
    memcpy(pc.g, vg.addr, 8);
    VULKAN_PUSH(d, pc);
    d->n_spec = 3;
    d->spec[2] = 1; /* GELU_A */
    d->write2 = vg.range;
    return PLINTH_OK;
}

typedef struct pc_unary {
    uint32_t o[2], a[2];
    uint32_t n;
    float s;
    uint32_t pad[2];
    int32_t ne[4], so[4], sa[4];
} pc_unary;

static int32_t encode_unary(plinth_device *dev, uint32_t op, const plinth_view *out,
                            const plinth_view *in, const void *attrs, bool check_only,
                            vulkan_dispatch *d)
{
    const char *name = plinth_op_label(op);
    if (!vulkan_is_float(in[0].dtype) || out->dtype != in[0].dtype)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED, "%s: x and out must be one float dtype",
                           name);
    if (!vulkan_same_shape(out, &in[0]))
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: out and x differ in shape", name);
    vview vo, vi;
    int32_t st = vulkan_view(dev, op, "out", out, check_only, d, &vo);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, op, "x", &in[0], check_only, d, &vi);
    if (st != PLINTH_OK || check_only)
        return st;
    pc_unary pc = {.n = (uint32_t)vulkan_numel(out)};
    if (op == PLINTH_OP_SCALE)
        pc.s = ((const plinth_attr_scale *)attrs)->s;
    memcpy(pc.o, vo.addr, 8);
    memcpy(pc.a, vi.addr, 8);
    copy4(pc.ne, out->shape);
    memcpy(pc.so, vo.s, 16);
    memcpy(pc.sa, vi.s, 16);
    d->shader = op == PLINTH_OP_SCALE ? VULKAN_SH_SCALE
                : op == PLINTH_OP_GELU_TANH ? VULKAN_SH_GELU_TANH
                                            : VULKAN_SH_SILU;
    d->n_spec = 2;
    d->spec[0] = out->dtype;
    d->spec[1] = vulkan_dense(out->shape, vo.s) && vulkan_dense(out->shape, vi.s);
    VULKAN_PUSH(d, pc);
    vulkan_groups_1d(pc.n, d->groups);
    ranges(d, &vo, &vi, 1);
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 3 ---- */

typedef struct pc_rows {
    uint32_t o[2], x[2], w[2];
    uint32_t rows;
    float p;
    int32_t ne[4], so[4], sx[4], sw[4];
    uint32_t r[2], s[2]; /* fused residual add (vulkan_fuse.c) */
    uint32_t z[2], w2[2]; /* and the next rms_norm of its sum */
} pc_rows;

static int32_t encode_rows(plinth_device *dev, uint32_t op, const plinth_view *out,
                           const plinth_view *in, uint32_t n_in, const void *attrs,
                           bool check_only, vulkan_dispatch *d)
{
    const char *name = plinth_op_label(op);
    const plinth_view *x = &in[0];
    if (!vulkan_is_float(x->dtype))
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED, "%s: x must be a float dtype", name);
    if (op == PLINTH_OP_ARGMAX) {
        if (out->dtype != PLINTH_I32 || out->shape[0] != 1 || out->shape[1] != x->shape[0] ||
            out->shape[2] != x->shape[1] || out->shape[3] != x->shape[2])
            return vulkan_fail(dev, PLINTH_ERR_INVALID,
                               "argmax: out must be i32 [1, a, b, c] for x [a, b, c, N]");
        if (x->shape[3] == 0 && vulkan_numel(out) > 0)
            return vulkan_fail(dev, PLINTH_ERR_INVALID, "argmax: empty last dim");
    } else {
        if (out->dtype != x->dtype || !vulkan_same_shape(out, x))
            return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: out must match x", name);
        if (n_in == 2 && (!vulkan_is_float(in[1].dtype) || !broadcasts(&in[1], x)))
            return vulkan_fail(dev, PLINTH_ERR_INVALID,
                               "%s: the second input must be float and broadcast to x", name);
    }
    vview vo, vi[2];
    memset(vi, 0, sizeof vi);
    int32_t st = vulkan_view(dev, op, "out", out, check_only, d, &vo);
    for (uint32_t i = 0; st == PLINTH_OK && i < n_in; i++)
        st = vulkan_view(dev, op, i ? "weight" : "x", &in[i], check_only, d, &vi[i]);
    if (st != PLINTH_OK || check_only)
        return st;
    pc_rows pc = {.rows = (uint32_t)(x->shape[0] * x->shape[1] * x->shape[2])};
    if (op == PLINTH_OP_RMS_NORM)
        pc.p = ((const plinth_attr_rms_norm *)attrs)->eps;
    else if (op == PLINTH_OP_SOFTMAX)
        pc.p = ((const plinth_attr_softmax *)attrs)->scale;
    memcpy(pc.o, vo.addr, 8);
    memcpy(pc.x, vi[0].addr, 8);
    memcpy(pc.w, n_in == 2 ? vi[1].addr : vi[0].addr, 8);
    copy4(pc.ne, x->shape);
    if (op == PLINTH_OP_ARGMAX) {
        pc.so[0] = vo.s[1], pc.so[1] = vo.s[2], pc.so[2] = vo.s[3];
    } else {
        memcpy(pc.so, vo.s, 16);
    }
    memcpy(pc.sx, vi[0].s, 16);
    if (n_in == 2)
        memcpy(pc.sw, vi[1].s, 16);
    d->shader = op == PLINTH_OP_RMS_NORM ? VULKAN_SH_RMS_NORM
                : op == PLINTH_OP_SOFTMAX ? VULKAN_SH_SOFTMAX
                                          : VULKAN_SH_ARGMAX;
    d->n_spec = 3;
    d->spec[0] = x->dtype;
    d->spec[1] = n_in == 2 ? in[1].dtype : 0;
    d->spec[2] = n_in == 2;
    VULKAN_PUSH(d, pc);
    vulkan_groups_1d(pc.rows, d->groups);
    ranges(d, &vo, vi, n_in);
    return PLINTH_OK;
}

int32_t vulkan_encode_rms_norm_add(plinth_device *dev, const plinth_view *out,
                                   const plinth_view *in, uint32_t n_in, const void *attrs,
                                   const plinth_view *r, const plinth_view *s,
                                   const plinth_view *z, const plinth_view *w2,
                                   vulkan_dispatch *d)
{
    memset(d, 0, sizeof *d);
    if (!attrs || n_in < 1 || n_in > 2 || out->dtype != PLINTH_F32 ||
        in[0].dtype != PLINTH_F32 || r->dtype != PLINTH_F32 || s->dtype != PLINTH_F32 ||
        !vulkan_same_shape(r, out) || !vulkan_same_shape(s, out))
        return PLINTH_ERR_UNSUPPORTED;
    int32_t st = encode_rows(dev, PLINTH_OP_RMS_NORM, out, in, n_in, attrs, false, d);
    vview vr, vs;
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_RMS_NORM, "residual", r, false, d, &vr);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_RMS_NORM, "sum", s, false, d, &vs);
    if (st != PLINTH_OK)
        return st;
    pc_rows pc;
    memcpy(&pc, d->push, sizeof pc);
    if (!vulkan_dense(out->shape, pc.so) || !vulkan_dense(out->shape, vr.s) ||
        !vulkan_dense(out->shape, vs.s))
        return PLINTH_ERR_UNSUPPORTED; /* r and s are indexed like out */
    memcpy(pc.r, vr.addr, 8);
    memcpy(pc.s, vs.addr, 8);
    memcpy(pc.z, vs.addr, 8);
    memcpy(pc.w2, pc.w, 8);
    d->n_spec = 5;
    d->spec[3] = 1; /* ADD_R */
    d->reads[d->n_reads++] = vr.range;
    d->write2 = vs.range;
    if (z) { /* NORM2: z like out, w2 like the first weight */
        vview vz, vw2;
        if ((n_in == 2) != (w2 != NULL) || z->dtype != PLINTH_F32 || !vulkan_same_shape(z, out))
            return PLINTH_ERR_UNSUPPORTED;
        st = vulkan_view(dev, PLINTH_OP_RMS_NORM, "out", z, false, d, &vz);
        if (st == PLINTH_OK && w2)
            st = vulkan_view(dev, PLINTH_OP_RMS_NORM, "weight", w2, false, d, &vw2);
        if (st != PLINTH_OK)
            return st;
        if (!vulkan_dense(out->shape, vz.s) ||
            (w2 && (w2->dtype != in[1].dtype || memcmp(vw2.s, pc.sw, sizeof pc.sw) != 0)))
            return PLINTH_ERR_UNSUPPORTED;
        memcpy(pc.z, vz.addr, 8);
        if (w2) {
            memcpy(pc.w2, vw2.addr, 8);
            d->reads[d->n_reads++] = vw2.range;
        }
        d->write3 = vz.range;
        d->spec[4] = 1; /* NORM2 */
    }
    VULKAN_PUSH(d, pc);
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 4 ---- */

typedef struct pc_move {
    uint32_t o[2], x[2];
    uint32_t n, pad[3];
    int32_t ne[4], so[4], nx[4], sx[4];
} pc_move;

static int32_t encode_move(plinth_device *dev, uint32_t op, const plinth_view *out,
                           const plinth_view *in, const void *attrs, bool check_only,
                           vulkan_dispatch *d)
{
    const char *name = plinth_op_label(op);
    int32_t want = op == PLINTH_OP_CAST ? ((const plinth_attr_cast *)attrs)->dtype : in[0].dtype;
    if (plinth_dtype_bytes(want) == 0 || out->dtype != want)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: out dtype %s, expected %s", name,
                           plinth_dtype_label(out->dtype), plinth_dtype_label(want));
    if (vulkan_numel(out) != vulkan_numel(&in[0]))
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: out and x differ in size", name);
    vview vo, vi;
    int32_t st = vulkan_view(dev, op, "out", out, check_only, d, &vo);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, op, "x", &in[0], check_only, d, &vi);
    if (st != PLINTH_OK || check_only)
        return st;
    pc_move pc = {.n = (uint32_t)vulkan_numel(out)};
    memcpy(pc.o, vo.addr, 8);
    memcpy(pc.x, vi.addr, 8);
    copy4(pc.ne, out->shape);
    memcpy(pc.so, vo.s, 16);
    copy4(pc.nx, in[0].shape);
    memcpy(pc.sx, vi.s, 16);
    d->shader = op == PLINTH_OP_CAST ? VULKAN_SH_CAST : VULKAN_SH_COPY;
    d->n_spec = 3;
    d->spec[0] = in[0].dtype;
    d->spec[1] = out->dtype;
    d->spec[2] = vulkan_same_shape(out, &in[0]);
    VULKAN_PUSH(d, pc);
    vulkan_groups_1d(pc.n, d->groups);
    ranges(d, &vo, &vi, 1);
    return PLINTH_OK;
}

typedef struct pc_concat {
    uint32_t o[2], a[2], b[2];
    uint32_t n;
    int32_t axis;
    int32_t ne[4], so[4], sa[4], sb[4];
    int32_t split;
} pc_concat;

static int32_t encode_concat(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                             const void *attrs, bool check_only, vulkan_dispatch *d)
{
    const plinth_view *a = &in[0], *b = &in[1];
    const int32_t nd = out->ndim, axis = ((const plinth_attr_concat *)attrs)->axis;
    const int32_t la = axis < 0 ? axis + nd : axis;
    if (nd < 1 || nd > 4 || la < 0 || la >= nd)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "concat: axis %d out of range for rank %d",
                           (int)axis, (int)nd);
    const int ax = la + 4 - nd;
    if (a->dtype != b->dtype || out->dtype != a->dtype)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "concat: dtypes differ");
    bool ok = out->shape[ax] == a->shape[ax] + b->shape[ax];
    for (int k = 0; k < 4; k++)
        if (k != ax)
            ok = ok && a->shape[k] == out->shape[k] && b->shape[k] == out->shape[k];
    if (!ok)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "concat: shapes do not join on axis %d",
                           (int)axis);
    vview vo, vi[2];
    int32_t st = vulkan_view(dev, PLINTH_OP_CONCAT, "out", out, check_only, d, &vo);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_CONCAT, "a", a, check_only, d, &vi[0]);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_CONCAT, "b", b, check_only, d, &vi[1]);
    if (st != PLINTH_OK || check_only)
        return st;
    pc_concat pc = {.n = (uint32_t)vulkan_numel(out), .axis = ax, .split = (int32_t)a->shape[ax]};
    memcpy(pc.o, vo.addr, 8);
    memcpy(pc.a, vi[0].addr, 8);
    memcpy(pc.b, vi[1].addr, 8);
    copy4(pc.ne, out->shape);
    memcpy(pc.so, vo.s, 16);
    memcpy(pc.sa, vi[0].s, 16);
    memcpy(pc.sb, vi[1].s, 16);
    d->shader = VULKAN_SH_CONCAT;
    d->n_spec = 1;
    d->spec[0] = (int32_t)plinth_dtype_bytes(out->dtype);
    VULKAN_PUSH(d, pc);
    vulkan_groups_1d(pc.n, d->groups);
    ranges(d, &vo, vi, 2);
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 5 ---- */


int32_t vulkan_encode(plinth_device *dev, uint32_t op, const plinth_view *out,
                      const plinth_view *in, uint32_t n_in, const void *attrs,
                      bool check_only, vulkan_dispatch *d, uint32_t *n_d)
{
    memset(d, 0, sizeof *d);
    *n_d = 1;
    if (op >= PLINTH_OP_COUNT)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED, "vulkan: unknown op %u", op);
    if (n_in < plinth_op_min_inputs(op) || n_in > plinth_op_max_inputs(op) || !out || (n_in && !in))
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: takes %u to %u inputs, got %u",
                           plinth_op_label(op), plinth_op_min_inputs(op), plinth_op_max_inputs(op), n_in);
    if (!attrs && (op == PLINTH_OP_SCALE || op == PLINTH_OP_RMS_NORM ||
                   op == PLINTH_OP_SOFTMAX || op == PLINTH_OP_MATMUL ||
                   op == PLINTH_OP_GET_ROWS || op == PLINTH_OP_ROPE ||
                   op == PLINTH_OP_ATTENTION || op == PLINTH_OP_CAST ||
                   op == PLINTH_OP_CONCAT || op == PLINTH_OP_ROPE_FACTORS))
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: attrs missing", plinth_op_label(op));
    if (plinth_dtype_bytes(out->dtype) == 0)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: out has unknown dtype",
                           plinth_op_label(op));
    /* Block dtypes only where the ABI allows them and a kernel reads them
     * (vulkan_ops_q.c): matmul's b, get_rows' table, cast's x (rule 16). */
    for (uint32_t i = 0; i < n_in; i++) {
        if (plinth_dtype_bytes(in[i].dtype) != 0)
            continue;
        if (!is_block(in[i].dtype) || in[i].dtype >= PLINTH_DTYPE_COUNT)
            return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: input %u has unknown dtype",
                               plinth_op_label(op), i);
        if (!((op == PLINTH_OP_MATMUL && i == 1) ||
              ((op == PLINTH_OP_GET_ROWS || op == PLINTH_OP_CAST) && i == 0)))
            return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED, "%s: input %u is %s: block dtypes "
                               "are matmul's b, get_rows' table and cast's x",
                               plinth_op_label(op), i, plinth_dtype_label(in[i].dtype));
    }
    switch (op) {
    case PLINTH_OP_ADD:
    case PLINTH_OP_SUB:
    case PLINTH_OP_MUL:
    case PLINTH_OP_DIV:
        return encode_binary(dev, op, out, in, check_only, d);
    case PLINTH_OP_SCALE:
    case PLINTH_OP_GELU_TANH:
    case PLINTH_OP_SILU:
        return encode_unary(dev, op, out, in, attrs, check_only, d);
    case PLINTH_OP_RMS_NORM:
    case PLINTH_OP_SOFTMAX:
    case PLINTH_OP_ARGMAX:
        return encode_rows(dev, op, out, in, n_in, attrs, check_only, d);
    case PLINTH_OP_CAST:
        if (is_block(in[0].dtype))
            return vulkan_encode_cast_q(dev, out, in, attrs, check_only, d);
        return encode_move(dev, op, out, in, attrs, check_only, d);
    case PLINTH_OP_COPY:
        return encode_move(dev, op, out, in, attrs, check_only, d);
    case PLINTH_OP_CONCAT:
        return encode_concat(dev, out, in, attrs, check_only, d);
    case PLINTH_OP_MATMUL:
        return vulkan_encode_matmul(dev, out, in, attrs, check_only, d, n_d);
    case PLINTH_OP_GET_ROWS:
        return vulkan_encode_get_rows(dev, out, in, attrs, check_only, d, n_d);
    case PLINTH_OP_SET_ROWS:
        return vulkan_encode_set_rows(dev, out, in, check_only, d);
    case PLINTH_OP_ROPE:
    case PLINTH_OP_ROPE_FACTORS:
        return vulkan_encode_rope(dev, op, out, in, attrs, check_only, d);
    case PLINTH_OP_ATTENTION:
        return vulkan_encode_attention(dev, out, in, attrs, check_only, d);
    default:
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED, "vulkan: op %s not implemented",
                           plinth_op_label(op));
    }
}
