/*
 * ref_reduce.c — ops that reduce along the last dim.
 *
 * Sections:
 *   1. rms_norm  (mean of squares in double)
 *   2. softmax   (max-subtracted, sums in double; all -inf rows give zeros)
 *   3. argmax    (first maximum; NaN counts as the maximum)
 *
 * Aliasing: rms_norm and softmax may write over x (out == in[0]); each row
 * is fully read by the reductions before element i of it is overwritten,
 * and the final pass reads x[i] before writing out[i].
 */
#include <math.h>

#include "ref.h"

/* Shared by rms_norm and softmax: x float, out like x, optional second input
 * (weight / mask) of a float dtype broadcastable to x. */
static int32_t check_row_op(plinth_device *dev, uint32_t op, const plinth_view *out,
                            const plinth_view *in, uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_arity(dev, op, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    const char *name = plinth_op_label(op);
    char s1[96], s2[96];
    if (!ref_dtype_is_float(in[0].dtype))
        return ref_fail(dev, PLINTH_ERR_UNSUPPORTED, "%s: x must be a float dtype, not %s",
                        name, plinth_dtype_label(in[0].dtype));
    if (out->dtype != in[0].dtype)
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: out dtype %s differs from x's %s", name,
                        plinth_dtype_label(out->dtype), plinth_dtype_label(in[0].dtype));
    if (!ref_same_shape(out, &in[0]))
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: out %s differs from x %s", name,
                        ref_shape_str(out, s1, sizeof s1), ref_shape_str(&in[0], s2, sizeof s2));
    if (n_in == 2) {
        const char *what = op == PLINTH_OP_RMS_NORM ? "weight" : "mask";
        if (!ref_dtype_is_float(in[1].dtype))
            return ref_fail(dev, PLINTH_ERR_UNSUPPORTED, "%s: %s must be a float dtype, not %s",
                            name, what, plinth_dtype_label(in[1].dtype));
        if (!ref_broadcastable(&in[1], &in[0]))
            return ref_fail(dev, PLINTH_ERR_INVALID, "%s: %s %s does not broadcast to x %s",
                            name, what, ref_shape_str(&in[1], s1, sizeof s1),
                            ref_shape_str(&in[0], s2, sizeof s2));
    }
    if (!attrs)
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: attrs missing", name);
    return PLINTH_OK;
}

/* Element i3 of the optional broadcast input w at row (i0, i1, i2). */
static double load_bcast(const plinth_view *w, int64_t i0, int64_t i1, int64_t i2, int64_t i3)
{
    return ref_load(ref_at(w, ref_bcast(w->shape[0], i0), ref_bcast(w->shape[1], i1),
                           ref_bcast(w->shape[2], i2), ref_bcast(w->shape[3], i3)),
                    w->dtype);
}

/* ---------------------------------------------------------------- 1 ---- */

int32_t ref_check_rms_norm(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                           uint32_t n_in, const void *attrs)
{
    return check_row_op(dev, PLINTH_OP_RMS_NORM, out, in, n_in, attrs);
}

int32_t ref_rms_norm(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                     uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_rms_norm(dev, out, in, n_in, attrs);
    if (st == PLINTH_OK)
        st = ref_check_memory(dev, PLINTH_OP_RMS_NORM, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    const plinth_view *x = &in[0], *w = n_in == 2 ? &in[1] : NULL;
    const double eps = ((const plinth_attr_rms_norm *)attrs)->eps;
    const int64_t n = x->shape[3];
    for (int64_t i0 = 0; i0 < x->shape[0]; i0++)
        for (int64_t i1 = 0; i1 < x->shape[1]; i1++)
            for (int64_t i2 = 0; i2 < x->shape[2]; i2++) {
                double ss = 0.0;
                for (int64_t i3 = 0; i3 < n; i3++) {
                    double v = ref_load(ref_at(x, i0, i1, i2, i3), x->dtype);
                    ss += v * v;
                }
                const double inv = 1.0 / sqrt(ss / (double)n + eps);
                for (int64_t i3 = 0; i3 < n; i3++) {
                    double v = ref_load(ref_at(x, i0, i1, i2, i3), x->dtype) * inv;
                    if (w)
                        v *= load_bcast(w, i0, i1, i2, i3);
                    ref_store(ref_at(out, i0, i1, i2, i3), out->dtype, v);
                }
            }
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 2 ---- */

int32_t ref_check_softmax(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                          uint32_t n_in, const void *attrs)
{
    return check_row_op(dev, PLINTH_OP_SOFTMAX, out, in, n_in, attrs);
}

int32_t ref_softmax(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                    uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_softmax(dev, out, in, n_in, attrs);
    if (st == PLINTH_OK)
        st = ref_check_memory(dev, PLINTH_OP_SOFTMAX, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    const plinth_view *x = &in[0], *mask = n_in == 2 ? &in[1] : NULL;
    const double scale = ((const plinth_attr_softmax *)attrs)->scale;
    const int64_t n = x->shape[3];
#define LOGIT(i3)                                                                \
    (ref_load(ref_at(x, i0, i1, i2, (i3)), x->dtype) * scale +                   \
     (mask ? load_bcast(mask, i0, i1, i2, (i3)) : 0.0))
    for (int64_t i0 = 0; i0 < x->shape[0]; i0++)
        for (int64_t i1 = 0; i1 < x->shape[1]; i1++)
            for (int64_t i2 = 0; i2 < x->shape[2]; i2++) {
                double mx = -INFINITY;
                bool nan = false;
                for (int64_t i3 = 0; i3 < n; i3++) {
                    double l = LOGIT(i3);
                    nan |= isnan(l);
                    if (l > mx)
                        mx = l;
                }
                /* A row with every logit -inf (fully masked) has no
                 * distribution; it yields zeros, never NaN, so a masked
                 * query contributes nothing downstream. A NaN anywhere in
                 * the row poisons the whole row, as the math says. */
                if (mx == -INFINITY || nan) {
                    for (int64_t i3 = 0; i3 < n; i3++)
                        ref_store(ref_at(out, i0, i1, i2, i3), out->dtype, nan ? NAN : 0.0);
                    continue;
                }
                double sum = 0.0;
                for (int64_t i3 = 0; i3 < n; i3++)
                    sum += exp(LOGIT(i3) - mx);
                for (int64_t i3 = 0; i3 < n; i3++)
                    ref_store(ref_at(out, i0, i1, i2, i3), out->dtype, exp(LOGIT(i3) - mx) / sum);
            }
#undef LOGIT
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 3 ---- */

/* x [a, b, c, N] -> out i32 [1, a, b, c]: the 4-D view of a tensor whose
 * rank is one less than x's. */
int32_t ref_check_argmax(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                         uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_arity(dev, PLINTH_OP_ARGMAX, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    const plinth_view *x = &in[0];
    if (!ref_dtype_is_float(x->dtype))
        return ref_fail(dev, PLINTH_ERR_UNSUPPORTED, "argmax: x must be a float dtype, not %s",
                        plinth_dtype_label(x->dtype));
    if (out->dtype != PLINTH_I32)
        return ref_fail(dev, PLINTH_ERR_INVALID, "argmax: out must be i32, not %s",
                        plinth_dtype_label(out->dtype));
    if (out->shape[0] != 1 || out->shape[1] != x->shape[0] || out->shape[2] != x->shape[1] ||
        out->shape[3] != x->shape[2]) {
        char s1[96], s2[96];
        return ref_fail(dev, PLINTH_ERR_INVALID, "argmax: out %s does not match x %s minus its "
                        "last dim", ref_shape_str(out, s1, sizeof s1),
                        ref_shape_str(x, s2, sizeof s2));
    }
    if (x->shape[3] == 0 && ref_numel(out) > 0)
        return ref_fail(dev, PLINTH_ERR_INVALID, "argmax: empty last dim has no maximum");
    return PLINTH_OK;
}

int32_t ref_argmax(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                   uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_argmax(dev, out, in, n_in, attrs);
    if (st == PLINTH_OK)
        st = ref_check_memory(dev, PLINTH_OP_ARGMAX, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    const plinth_view *x = &in[0];
    for (int64_t i0 = 0; i0 < x->shape[0]; i0++)
        for (int64_t i1 = 0; i1 < x->shape[1]; i1++)
            for (int64_t i2 = 0; i2 < x->shape[2]; i2++) {
                /* NaN is the maximum (numpy and torch agree): the first NaN
                 * wins, so a broken logit row is visible, not skipped. */
                int64_t best = 0;
                double bv = ref_load(ref_at(x, i0, i1, i2, 0), x->dtype);
                for (int64_t i3 = 1; i3 < x->shape[3] && !isnan(bv); i3++) {
                    double v = ref_load(ref_at(x, i0, i1, i2, i3), x->dtype);
                    if (isnan(v) || v > bv) {
                        bv = v;
                        best = i3;
                    }
                }
                ref_store(ref_at(out, 0, i0, i1, i2), PLINTH_I32, (double)best);
            }
    return PLINTH_OK;
}
