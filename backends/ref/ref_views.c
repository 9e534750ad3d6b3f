/*
 * ref_views.c — the instance, errors, host services and the view checks
 * every ref kernel runs before it touches memory. A file of its own because
 * the cpu backend compiles ref's kernels in as its generic fallback: both
 * plugins then share these checks (and so accept and refuse exactly the
 * same cases) and the instance slots without a copy. The host-memory copies
 * and supports() that both plugins use live here too.
 *
 * Sections:
 *   1. instances, errors, the host's log and allocator
 *   2. op facts and view checks
 *   3. host buffers and supports()
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ref.h"

/* ---------------------------------------------------------------- 1 ---- */

int32_t ref_fail(plinth_device *dev, int32_t status, const char *fmt, ...)
{
    if (dev) {
        va_list ap;
        va_start(ap, fmt);
        plugin_set_error(dev->error, sizeof dev->error, status, fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *ref_device_error(plinth_device *dev)
{
    return dev ? dev->error : "";
}

/* ---------------------------------------------------------------- 2 ---- */


const char *ref_shape_str(const plinth_view *v, char *buf, size_t size)
{
    snprintf(buf, size, "[%lld, %lld, %lld, %lld]", (long long)v->shape[0],
             (long long)v->shape[1], (long long)v->shape[2], (long long)v->shape[3]);
    return buf;
}

bool ref_same_shape(const plinth_view *a, const plinth_view *b)
{
    for (int k = 0; k < 4; k++)
        if (a->shape[k] != b->shape[k])
            return false;
    return true;
}

bool ref_broadcastable(const plinth_view *v, const plinth_view *to)
{
    for (int k = 0; k < 4; k++)
        if (v->shape[k] != to->shape[k] && v->shape[k] != 1)
            return false;
    return true;
}

int32_t ref_check_view(plinth_device *dev, uint32_t op, const char *what,
                       const plinth_view *v)
{
    const char *name = plinth_op_label(op);
    if (!ref_dtype_valid(v->dtype))
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: %s has unknown dtype %d", name, what,
                        (int)v->dtype);
    if (v->ndim < 0 || v->ndim > PLINTH_MAX_DIMS)
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: %s has ndim %d", name, what,
                        (int)v->ndim);
    for (int k = 0; k < 4; k++)
        if (v->shape[k] < 0)
            return ref_fail(dev, PLINTH_ERR_INVALID, "%s: %s has negative dim %d", name,
                            what, k);
    if (ref_dtype_is_block(v->dtype) &&
        (v->shape[3] % (int64_t)plinth_dtype_block_elems(v->dtype) != 0 ||
         v->stride[3] != (int64_t)plinth_dtype_block_bytes(v->dtype)))
        return ref_fail(dev, PLINTH_ERR_INVALID,
                        "%s: %s is %s with inner dim %lld and stride %lld: not whole blocks "
                        "of %zu elements, %zu bytes apart",
                        name, what, plinth_dtype_label(v->dtype), (long long)v->shape[3],
                        (long long)v->stride[3], plinth_dtype_block_elems(v->dtype),
                        plinth_dtype_block_bytes(v->dtype));
    /* Element counts are int64 products everywhere else: make them safe. */
    int64_t n = 1;
    for (int k = 0; k < 4; k++)
        if (__builtin_mul_overflow(n, v->shape[k], &n))
            return ref_fail(dev, PLINTH_ERR_INVALID, "%s: %s has too many elements", name,
                            what);
    return PLINTH_OK;
}

int32_t ref_check_arity(plinth_device *dev, uint32_t op, const plinth_view *out,
                        const plinth_view *in, uint32_t n_in)
{
    const char *name = plinth_op_label(op);
    if (op >= PLINTH_OP_COUNT)
        return ref_fail(dev, PLINTH_ERR_INVALID, "unknown op %u", op);
    if (n_in < plinth_op_min_inputs(op) || n_in > plinth_op_max_inputs(op))
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: takes %u to %u inputs, got %u", name,
                        (unsigned)plinth_op_min_inputs(op), (unsigned)plinth_op_max_inputs(op), n_in);
    if (!out || (n_in > 0 && !in))
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: NULL view", name);
    int32_t st = ref_check_view(dev, op, "out", out);
    if (st == PLINTH_OK && ref_dtype_is_block(out->dtype))
        return ref_fail(dev, PLINTH_ERR_UNSUPPORTED,
                        "%s: out is %s; no op writes a block dtype (weights only)", name,
                        plinth_dtype_label(out->dtype));
    for (uint32_t i = 0; st == PLINTH_OK && i < n_in; i++) {
        char what[16];
        snprintf(what, sizeof what, "in[%u]", i);
        st = ref_check_view(dev, op, what, &in[i]);
    }
    return st;
}

/* Does the byte range a view touches lie inside its buffer? Overflowing
 * arithmetic counts as "no". */
static bool view_in_buffer(const plinth_view *v)
{
    int64_t lo = (int64_t)v->offset, hi = (int64_t)v->offset;
    if (v->offset > (uint64_t)INT64_MAX)
        return false;
    for (int k = 0; k < 4; k++) {
        /* a block dtype's inner dim steps by blocks (ref_check_view) */
        const int64_t steps = k == 3 ? v->shape[3] / (int64_t)plinth_dtype_block_elems(v->dtype)
                                     : v->shape[k];
        int64_t span;
        if (__builtin_mul_overflow(steps - 1, v->stride[k], &span))
            return false;
        if (span < 0 ? __builtin_add_overflow(lo, span, &lo)
                     : __builtin_add_overflow(hi, span, &hi))
            return false;
    }
    if (__builtin_add_overflow(hi, (int64_t)plinth_dtype_block_bytes(v->dtype), &hi))
        return false;
    return lo >= 0 && (uint64_t)hi <= v->buffer->size;
}

static int32_t check_one_memory(plinth_device *dev, uint32_t op, const char *what,
                                const plinth_view *v)
{
    if (ref_numel(v) == 0)
        return PLINTH_OK;
    if (!v->data)
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: %s has no host data", plinth_op_label(op),
                        what);
    /* Only checkable when the view says where it lives. */
    if (v->buffer && v->buffer->host && v->data == v->buffer->host + v->offset &&
        !view_in_buffer(v)) {
        char s[96];
        return ref_fail(dev, PLINTH_ERR_INVALID,
                        "%s: %s %s at offset %llu reaches outside its %llu-byte buffer",
                        plinth_op_label(op), what, ref_shape_str(v, s, sizeof s),
                        (unsigned long long)v->offset, (unsigned long long)v->buffer->size);
    }
    return PLINTH_OK;
}

int32_t ref_check_memory(plinth_device *dev, uint32_t op, const plinth_view *out,
                         const plinth_view *in, uint32_t n_in)
{
    int32_t st = check_one_memory(dev, op, "out", out);
    for (uint32_t i = 0; st == PLINTH_OK && i < n_in; i++) {
        char what[16];
        snprintf(what, sizeof what, "in[%u]", i);
        st = check_one_memory(dev, op, what, &in[i]);
    }
    return st;
}

/* ---------------------------------------------------------------- 3 ---- */

static int32_t check_range(plinth_device *dev, const char *what, const plinth_buffer *buf,
                           uint64_t offset, const void *host, uint64_t size)
{
    if (!buf || !buf->host)
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: no buffer", what);
    if (size > 0 && !host)
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: NULL host pointer", what);
    if (offset > buf->size || size > buf->size - offset)
        return ref_fail(dev, PLINTH_ERR_INVALID,
                        "%s: %llu bytes at offset %llu exceed the %llu-byte buffer", what,
                        (unsigned long long)size, (unsigned long long)offset,
                        (unsigned long long)buf->size);
    return PLINTH_OK;
}

int32_t ref_host_upload(plinth_device *dev, const plinth_buffer *dst, uint64_t offset,
                        const void *src, uint64_t size)
{
    int32_t st = check_range(dev, "upload", dst, offset, src, size);
    if (st == PLINTH_OK && size > 0)
        memcpy(dst->host + offset, src, (size_t)size);
    return st;
}

int32_t ref_host_download(plinth_device *dev, const plinth_buffer *src, uint64_t offset,
                          void *dst, uint64_t size)
{
    int32_t st = check_range(dev, "download", src, offset, dst, size);
    if (st == PLINTH_OK && size > 0)
        memcpy(dst, src->host + offset, (size_t)size);
    return st;
}

typedef int32_t (*check_fn)(plinth_device *dev, const plinth_view *out,
                            const plinth_view *in, uint32_t n_in, const void *attrs);

static const check_fn checks[PLINTH_OP_COUNT] = {
#define X(E, n, lo, hi) [PLINTH_OP_##E] = ref_check_##n,
    PLINTH_OP_LIST(X)
#undef X
};

/* Honest by construction: the answer is the kernels' own validation. A "no"
 * leaves its reason in device_error. */
bool ref_supports(plinth_device *dev, uint32_t op, const plinth_view *out,
                  const plinth_view *in, uint32_t n_in, const void *attrs)
{
    if (op >= PLINTH_OP_COUNT) {
        ref_fail(dev, PLINTH_ERR_UNSUPPORTED, "unknown op %u", op);
        return false;
    }
    return checks[op](dev, out, in, n_in, attrs) == PLINTH_OK;
}
