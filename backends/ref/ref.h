/*
 * ref.h — internals shared by the files of the ref backend.
 *
 * The ref backend is the definition of correct: plain 4-D loops, every value
 * loaded as a double, f64 accumulation, one rounding on store. Nothing here
 * crosses the plugin boundary; the only exported symbol is the entry point in
 * ref_plugin.c.
 *
 * Sections:
 *   1. the instance and device objects, errors, host services
 *                                              (ref_views.c)
 *   2. dtypes: names, load/store               (ref_dtype.c)
 *   3. views: addressing and validation        (inline here, ref_plugin.c)
 *   4. kernels and their checks                (one file per op family)
 */
#ifndef PLINTH_REF_H
#define PLINTH_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plinth_plugin.h"
#include "plugin_host.h"

/* ---------------------------------------------------------------- 1 ---- */

#define REF_ERROR_SIZE 512

/* The instance (struct plinth_instance) and its host services:
 * backends/common/plugin_host.h, shared with the cpu and vulkan plugins. */

struct plinth_device {
    plinth_instance *inst;      /* opened from: its log and allocator      */
    uint32_t index;
    char error[REF_ERROR_SIZE]; /* last failure, "" when none yet          */
};

/* Formats a message into dev->error (when dev is not NULL) and returns
 * `status`, so a check reads `return ref_fail(dev, PLINTH_ERR_INVALID, ...)`. */
int32_t ref_fail(plinth_device *dev, int32_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *ref_device_error(plinth_device *dev);

/* The op's lower-case name ("matmul"), "?" when out of range. */

/* ---------------------------------------------------------------- 2 ---- */

bool ref_dtype_valid(int32_t dtype);
bool ref_dtype_is_float(int32_t dtype);
/* q8_0, q4_0, q4_K, q6_K: weights only (matmul's b, get_rows' table, cast's
 * x), read a block at a time with plinth_dequant_block. */
bool ref_dtype_is_block(int32_t dtype);
/* Sizes: plinth_dtype_bytes() (plinth_plugin.h), the one table. */

/* Every element travels as a double: each dtype's values are exact in f64,
 * so a load never rounds and a store rounds exactly once. */
double ref_load(const uint8_t *p, int32_t dtype);
void ref_store(uint8_t *p, int32_t dtype, double v);

/* The rounding rules, exposed for the cast kernel and for clarity. */
uint16_t ref_f16_from_double(double v);
uint16_t ref_bf16_from_double(double v);
double ref_f16_to_double(uint16_t h);
double ref_bf16_to_double(uint16_t h);
/* Round half to even, saturate to the int32 range, NaN -> 0. */
int32_t ref_i32_from_double(double v);

/* ---------------------------------------------------------------- 3 ---- */

static inline uint8_t *ref_at(const plinth_view *v, int64_t i0, int64_t i1, int64_t i2,
                              int64_t i3)
{
    return v->data + i0 * v->stride[0] + i1 * v->stride[1] + i2 * v->stride[2] +
           i3 * v->stride[3];
}

/* The block holding element (i0, i1, i2, i3) of a block-dtype view: inner
 * index i3 lies in block i3 / E, stride[3] bytes per block (plinth_view). */
static inline const uint8_t *ref_block_at(const plinth_view *v, int64_t i0, int64_t i1,
                                          int64_t i2, int64_t i3)
{
    const int64_t e = (int64_t)plinth_dtype_block_elems(v->dtype);
    return v->data + i0 * v->stride[0] + i1 * v->stride[1] + i2 * v->stride[2] +
           (i3 / e) * v->stride[3];
}

static inline int64_t ref_numel(const plinth_view *v)
{
    return v->shape[0] * v->shape[1] * v->shape[2] * v->shape[3];
}

/* Index into an input dim that broadcasts (size 1) against the output. */
static inline int64_t ref_bcast(int64_t in_dim, int64_t i)
{
    return in_dim == 1 ? 0 : i;
}

/* Arity: n_in within the op's [min, max] and `in` non-NULL when needed. */
int32_t ref_check_arity(plinth_device *dev, uint32_t op, const plinth_view *out,
                        const plinth_view *in, uint32_t n_in);
/* A view's own sanity: known dtype, ndim in [0, 4], no negative dim; a
 * block dtype's inner dim a whole number of blocks, one block per
 * stride[3]. Every op refuses to write a block dtype (none does). */
int32_t ref_check_view(plinth_device *dev, uint32_t op, const char *what,
                       const plinth_view *v);
/* Run-time only: every non-empty view has data, and when its buffer is known
 * the view's extent lies inside the buffer (so ref never writes outside). */
int32_t ref_check_memory(plinth_device *dev, uint32_t op, const plinth_view *out,
                         const plinth_view *in, uint32_t n_in);
/* `v` can broadcast to `to` (every dim equal or 1). */
bool ref_broadcastable(const plinth_view *v, const plinth_view *to);
/* Bounds-checked copies for buffers that are host memory (ref, cpu). */
int32_t ref_host_upload(plinth_device *dev, const plinth_buffer *dst, uint64_t offset,
                        const void *src, uint64_t size);
int32_t ref_host_download(plinth_device *dev, const plinth_buffer *src, uint64_t offset,
                          void *dst, uint64_t size);
/* supports(): the kernels' own validation (ref_check_<op>). */
bool ref_supports(plinth_device *dev, uint32_t op, const plinth_view *out,
                  const plinth_view *in, uint32_t n_in, const void *attrs);
bool ref_same_shape(const plinth_view *a, const plinth_view *b);
/* "[2, 3, 4, 5]" into buf, for messages. */
const char *ref_shape_str(const plinth_view *v, char *buf, size_t size);

/* ---------------------------------------------------------------- 4 ---- */

/*
 * For every op: ref_check_<op> validates arity, dtypes, shapes and attrs
 * without touching memory (it serves `supports`, where buffers are NULL);
 * ref_<op> is the kernel: the check, the memory check, then the loops.
 */
#define REF_X_DECL(E, n, lo, hi)                                                      \
    int32_t ref_check_##n(plinth_device *dev, const plinth_view *out,                \
                          const plinth_view *in, uint32_t n_in, const void *attrs);  \
    int32_t ref_##n(plinth_device *dev, const plinth_view *out, const plinth_view *in, \
                    uint32_t n_in, const void *attrs);
PLINTH_OP_LIST(REF_X_DECL)
#undef REF_X_DECL

#endif /* PLINTH_REF_H */
