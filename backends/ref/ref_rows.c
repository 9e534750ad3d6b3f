/*
 * ref_rows.c — ops that move whole rows or blocks.
 *
 * Sections:
 *   1. index checks shared by get_rows and set_rows
 *   2. get_rows  table [R, C], idx i32 [...] -> [..., C] (float may widen to f32)
 *   3. set_rows  out = state [R, C]; src [..., C], idx i32 [...]
 *   4. concat    a, b joined on a logical axis
 *
 * Indices are all validated before anything is written, so a bad index
 * leaves `out` exactly as it was (the state is not half-updated).
 */
#include <string.h>

#include "ref.h"

/* ---------------------------------------------------------------- 1 ---- */

/* idx [1, p, q, r] pairs with rows [p, q, r, C] (out of get_rows, src of
 * set_rows); the table/state is [1, 1, R, C]. */
static int32_t check_rows_shapes(plinth_device *dev, const char *name,
                                 const plinth_view *table, const char *table_what,
                                 const plinth_view *rows, const char *rows_what,
                                 const plinth_view *idx)
{
    char s1[96], s2[96], s3[96];
    if (idx->dtype != PLINTH_I32)
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: idx must be i32, not %s", name,
                        plinth_dtype_label(idx->dtype));
    if (table->shape[0] != 1 || table->shape[1] != 1 || idx->shape[0] != 1 ||
        rows->shape[0] != idx->shape[1] || rows->shape[1] != idx->shape[2] ||
        rows->shape[2] != idx->shape[3] || rows->shape[3] != table->shape[3])
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: shapes %s %s, %s %s, idx %s do not fit",
                        name, table_what, ref_shape_str(table, s1, sizeof s1), rows_what,
                        ref_shape_str(rows, s2, sizeof s2), ref_shape_str(idx, s3, sizeof s3));
    return PLINTH_OK;
}

static int32_t load_index(const plinth_view *idx, int64_t p, int64_t q, int64_t r)
{
    int32_t v;
    memcpy(&v, ref_at(idx, 0, p, q, r), sizeof v);
    return v;
}

static int32_t check_indices(plinth_device *dev, const char *name, const plinth_view *idx,
                             int64_t n_rows)
{
    for (int64_t p = 0; p < idx->shape[1]; p++)
        for (int64_t q = 0; q < idx->shape[2]; q++)
            for (int64_t r = 0; r < idx->shape[3]; r++) {
                int32_t v = load_index(idx, p, q, r);
                if (v < 0 || v >= n_rows)
                    return ref_fail(dev, PLINTH_ERR_INVALID,
                                    "%s: index %d out of range [0, %lld)", name, (int)v,
                                    (long long)n_rows);
            }
    return PLINTH_OK;
}

/* One row of C elements: bytes when the dtypes match, else via double. */
static void copy_row(const plinth_view *dst, int64_t d0, int64_t d1, int64_t d2,
                     const plinth_view *src, int64_t s0, int64_t s1, int64_t s2)
{
    if (ref_dtype_is_block(src->dtype)) { /* dequantised, a block at a time */
        const int64_t e = (int64_t)plinth_dtype_block_elems(src->dtype);
        float w[256];
        for (int64_t c0 = 0; c0 < dst->shape[3]; c0 += e) {
            plinth_dequant_block(src->dtype, ref_block_at(src, s0, s1, s2, c0), w);
            for (int64_t q = 0; q < e; q++)
                ref_store(ref_at(dst, d0, d1, d2, c0 + q), dst->dtype, (double)w[q]);
        }
        return;
    }
    const size_t esize = plinth_dtype_bytes(src->dtype);
    for (int64_t c = 0; c < dst->shape[3]; c++) {
        const uint8_t *ps = ref_at(src, s0, s1, s2, c);
        uint8_t *pd = ref_at(dst, d0, d1, d2, c);
        if (dst->dtype == src->dtype)
            memmove(pd, ps, esize);
        else
            ref_store(pd, dst->dtype, ref_load(ps, src->dtype));
    }
}

/* ---------------------------------------------------------------- 2 ---- */

int32_t ref_check_get_rows(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                           uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_arity(dev, PLINTH_OP_GET_ROWS, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    if (!attrs)
        return ref_fail(dev, PLINTH_ERR_INVALID, "get_rows: attrs missing");
    const plinth_view *table = &in[0];
    const int32_t want = ((const plinth_attr_get_rows *)attrs)->dtype;
    if (out->dtype != want)
        return ref_fail(dev, PLINTH_ERR_INVALID, "get_rows: out dtype %s, attrs say %s",
                        plinth_dtype_label(out->dtype), plinth_dtype_label(want));
    if (out->dtype != table->dtype &&
        !((ref_dtype_is_float(table->dtype) || ref_dtype_is_block(table->dtype)) &&
          out->dtype == PLINTH_F32))
        return ref_fail(dev, PLINTH_ERR_UNSUPPORTED,
                        "get_rows: %s table to %s (only the same dtype, or float or block to "
                        "f32)",
                        plinth_dtype_label(table->dtype), plinth_dtype_label(out->dtype));
    return check_rows_shapes(dev, "get_rows", table, "table", out, "out", &in[1]);
}

int32_t ref_get_rows(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                     uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_get_rows(dev, out, in, n_in, attrs);
    if (st == PLINTH_OK)
        st = ref_check_memory(dev, PLINTH_OP_GET_ROWS, out, in, n_in);
    if (st == PLINTH_OK)
        st = check_indices(dev, "get_rows", &in[1], in[0].shape[2]);
    if (st != PLINTH_OK)
        return st;
    const plinth_view *table = &in[0], *idx = &in[1];
    for (int64_t p = 0; p < idx->shape[1]; p++)
        for (int64_t q = 0; q < idx->shape[2]; q++)
            for (int64_t r = 0; r < idx->shape[3]; r++)
                copy_row(out, p, q, r, table, 0, 0, load_index(idx, p, q, r));
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 3 ---- */

int32_t ref_check_set_rows(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                           uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_arity(dev, PLINTH_OP_SET_ROWS, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    const plinth_view *src = &in[0];
    /* A cache may be kept narrower than the values written into it. */
    if (out->dtype != src->dtype &&
        !(ref_dtype_is_float(out->dtype) && ref_dtype_is_float(src->dtype)))
        return ref_fail(dev, PLINTH_ERR_UNSUPPORTED, "set_rows: %s src into %s state",
                        plinth_dtype_label(src->dtype), plinth_dtype_label(out->dtype));
    return check_rows_shapes(dev, "set_rows", out, "state", src, "src", &in[1]);
}

int32_t ref_set_rows(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                     uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_set_rows(dev, out, in, n_in, attrs);
    if (st == PLINTH_OK)
        st = ref_check_memory(dev, PLINTH_OP_SET_ROWS, out, in, n_in);
    if (st == PLINTH_OK)
        st = check_indices(dev, "set_rows", &in[1], out->shape[2]);
    if (st != PLINTH_OK)
        return st;
    const plinth_view *src = &in[0], *idx = &in[1];
    /* In index order: when an index repeats, the last write wins. */
    for (int64_t p = 0; p < idx->shape[1]; p++)
        for (int64_t q = 0; q < idx->shape[2]; q++)
            for (int64_t r = 0; r < idx->shape[3]; r++)
                copy_row(out, 0, 0, load_index(idx, p, q, r), src, p, q, r);
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 4 ---- */

/* The axis is logical (of the rank-ndim tensor); its 4-D view pads
 * 4 - ndim leading dims, so the view axis is axis + 4 - ndim. */
static int32_t concat_axis(plinth_device *dev, const plinth_view *out, const void *attrs,
                           int *out_axis)
{
    if (!attrs)
        return ref_fail(dev, PLINTH_ERR_INVALID, "concat: attrs missing");
    const int32_t axis = ((const plinth_attr_concat *)attrs)->axis;
    const int32_t nd = out->ndim;
    if (nd < 1)
        return ref_fail(dev, PLINTH_ERR_INVALID, "concat: out has rank %d", (int)nd);
    const int32_t a = axis < 0 ? axis + nd : axis;
    if (a < 0 || a >= nd)
        return ref_fail(dev, PLINTH_ERR_INVALID, "concat: axis %d out of range for rank %d",
                        (int)axis, (int)nd);
    *out_axis = (int)(a + (PLINTH_MAX_DIMS - nd));
    return PLINTH_OK;
}

int32_t ref_check_concat(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                         uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_arity(dev, PLINTH_OP_CONCAT, out, in, n_in);
    int ax = 0;
    if (st == PLINTH_OK)
        st = concat_axis(dev, out, attrs, &ax);
    if (st != PLINTH_OK)
        return st;
    const plinth_view *a = &in[0], *b = &in[1];
    if (a->dtype != b->dtype || out->dtype != a->dtype)
        return ref_fail(dev, PLINTH_ERR_INVALID, "concat: dtypes differ (a %s, b %s, out %s)",
                        plinth_dtype_label(a->dtype), plinth_dtype_label(b->dtype),
                        plinth_dtype_label(out->dtype));
    bool ok = out->shape[ax] == a->shape[ax] + b->shape[ax];
    for (int k = 0; k < 4; k++)
        if (k != ax)
            ok = ok && a->shape[k] == out->shape[k] && b->shape[k] == out->shape[k];
    if (!ok) {
        char s1[96], s2[96], s3[96];
        return ref_fail(dev, PLINTH_ERR_INVALID, "concat: a %s and b %s do not join into %s "
                        "on axis %d", ref_shape_str(a, s1, sizeof s1),
                        ref_shape_str(b, s2, sizeof s2), ref_shape_str(out, s3, sizeof s3),
                        (int)((const plinth_attr_concat *)attrs)->axis);
    }
    return PLINTH_OK;
}

int32_t ref_concat(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                   uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_concat(dev, out, in, n_in, attrs);
    int ax = 0;
    if (st == PLINTH_OK)
        st = ref_check_memory(dev, PLINTH_OP_CONCAT, out, in, n_in);
    if (st == PLINTH_OK)
        st = concat_axis(dev, out, attrs, &ax);
    if (st != PLINTH_OK)
        return st;
    const size_t esize = plinth_dtype_bytes(out->dtype);
    const int64_t split = in[0].shape[ax];
    for (int64_t i0 = 0; i0 < out->shape[0]; i0++)
        for (int64_t i1 = 0; i1 < out->shape[1]; i1++)
            for (int64_t i2 = 0; i2 < out->shape[2]; i2++)
                for (int64_t i3 = 0; i3 < out->shape[3]; i3++) {
                    int64_t j[4] = {i0, i1, i2, i3};
                    const plinth_view *src = &in[0];
                    if (j[ax] >= split) {
                        src = &in[1];
                        j[ax] -= split;
                    }
                    memmove(ref_at(out, i0, i1, i2, i3), ref_at(src, j[0], j[1], j[2], j[3]),
                            esize);
                }
    return PLINTH_OK;
}
