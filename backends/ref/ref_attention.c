/*
 * ref_attention.c — position-dependent ops of the transformer block.
 *
 * Sections:
 *   1. rope       NeoX rotate-half on the first n_dims of D, angles in double;
 *                 rope_factors: the same with each frequency divided by its factor
 *   2. attention  causal + sliding window + kv_len masking, GQA; two passes
 *                 (max, then exp-sum and weighted sum), all in double
 *
 * Layouts (4-D views): x, q, out [B, T, H, D] with B = 1 for a rank-3
 * tensor; k, v [B, S, Hkv, D]; pos i32 [T]; kv_len i32 [1]; factors
 * f32 [n_dims/2].
 */
#include <math.h>
#include <string.h>

#include "ref.h"

static int32_t load_i32(const plinth_view *v, int64_t i3)
{
    int32_t x;
    memcpy(&x, ref_at(v, 0, 0, 0, i3), sizeof x);
    return x;
}

/* pos must be an i32 vector of T elements. */
static int32_t check_pos(plinth_device *dev, const char *name, const plinth_view *pos,
                         int64_t t)
{
    if (pos->dtype != PLINTH_I32)
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: pos must be i32, not %s", name,
                        plinth_dtype_label(pos->dtype));
    if (pos->shape[0] != 1 || pos->shape[1] != 1 || pos->shape[2] != 1 || pos->shape[3] != t) {
        char s[96];
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: pos %s is not [%lld]", name,
                        ref_shape_str(pos, s, sizeof s), (long long)t);
    }
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 1 ---- */

/* rope and rope_factors share the checks and the loops; rope_factors has
 * a third input, f32 factors [n_dims/2]. */
static int32_t check_rope(plinth_device *dev, uint32_t op, const plinth_view *out,
                          const plinth_view *in, uint32_t n_in, const void *attrs)
{
    const char *name = plinth_op_label(op);
    int32_t st = ref_check_arity(dev, op, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    const plinth_view *x = &in[0];
    char s1[96], s2[96];
    if (!ref_dtype_is_float(x->dtype))
        return ref_fail(dev, PLINTH_ERR_UNSUPPORTED, "%s: x must be a float dtype, not %s", name,
                        plinth_dtype_label(x->dtype));
    if (out->dtype != x->dtype || !ref_same_shape(out, x))
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: out %s %s differs from x %s %s", name,
                        plinth_dtype_label(out->dtype), ref_shape_str(out, s1, sizeof s1),
                        plinth_dtype_label(x->dtype), ref_shape_str(x, s2, sizeof s2));
    st = check_pos(dev, name, &in[1], x->shape[1]);
    if (st != PLINTH_OK)
        return st;
    if (!attrs)
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: attrs missing", name);
    const int32_t nd = ((const plinth_attr_rope *)attrs)->n_dims;
    if (nd < 0 || nd % 2 != 0 || nd > x->shape[3])
        return ref_fail(dev, PLINTH_ERR_INVALID,
                        "%s: n_dims %d must be even and within head dim %lld", name, (int)nd,
                        (long long)x->shape[3]);
    if (op == PLINTH_OP_ROPE_FACTORS) {
        const plinth_view *f = &in[2];
        if (f->dtype != PLINTH_F32 || f->shape[0] != 1 || f->shape[1] != 1 ||
            f->shape[2] != 1 || f->shape[3] != nd / 2)
            return ref_fail(dev, PLINTH_ERR_INVALID, "%s: factors %s %s is not f32 [%d]", name,
                            plinth_dtype_label(f->dtype), ref_shape_str(f, s1, sizeof s1),
                            (int)nd / 2);
    }
    return PLINTH_OK;
}

static int32_t rope(plinth_device *dev, uint32_t op, const plinth_view *out,
                    const plinth_view *in, uint32_t n_in, const void *attrs)
{
    int32_t st = check_rope(dev, op, out, in, n_in, attrs);
    if (st == PLINTH_OK)
        st = ref_check_memory(dev, op, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    const plinth_view *x = &in[0], *pos = &in[1];
    const plinth_view *factors = op == PLINTH_OP_ROPE_FACTORS ? &in[2] : NULL;
    const plinth_attr_rope *a = attrs;
    const int64_t half = a->n_dims / 2, d_all = x->shape[3];
    const size_t esize = plinth_dtype_bytes(x->dtype);
    for (int64_t b = 0; b < x->shape[0]; b++)
        for (int64_t t = 0; t < x->shape[1]; t++) {
            const double p = (double)load_i32(pos, t);
            for (int64_t h = 0; h < x->shape[2]; h++) {
                for (int64_t i = 0; i < half; i++) {
                    double theta =
                        p * pow((double)a->base, -2.0 * (double)i / (double)a->n_dims);
                    if (factors)
                        theta /= ref_load(ref_at(factors, 0, 0, 0, i), PLINTH_F32);
                    const double c = cos(theta), s = sin(theta);
                    /* Read both halves before writing: out may be x. */
                    const double x0 = ref_load(ref_at(x, b, t, h, i), x->dtype);
                    const double x1 = ref_load(ref_at(x, b, t, h, i + half), x->dtype);
                    ref_store(ref_at(out, b, t, h, i), out->dtype, x0 * c - x1 * s);
                    ref_store(ref_at(out, b, t, h, i + half), out->dtype, x1 * c + x0 * s);
                }
                for (int64_t d = 2 * half; d < d_all; d++)
                    memmove(ref_at(out, b, t, h, d), ref_at(x, b, t, h, d), esize);
            }
        }
    return PLINTH_OK;
}

int32_t ref_check_rope(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                       uint32_t n_in, const void *attrs)
{
    return check_rope(dev, PLINTH_OP_ROPE, out, in, n_in, attrs);
}

int32_t ref_rope(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                 uint32_t n_in, const void *attrs)
{
    return rope(dev, PLINTH_OP_ROPE, out, in, n_in, attrs);
}

int32_t ref_check_rope_factors(plinth_device *dev, const plinth_view *out,
                               const plinth_view *in, uint32_t n_in, const void *attrs)
{
    return check_rope(dev, PLINTH_OP_ROPE_FACTORS, out, in, n_in, attrs);
}

int32_t ref_rope_factors(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                         uint32_t n_in, const void *attrs)
{
    return rope(dev, PLINTH_OP_ROPE_FACTORS, out, in, n_in, attrs);
}

/* ---------------------------------------------------------------- 2 ---- */

enum { Q, K, V, POS, KV_LEN };

int32_t ref_check_attention(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                            uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_arity(dev, PLINTH_OP_ATTENTION, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    const plinth_view *q = &in[Q], *k = &in[K], *v = &in[V];
    char s1[96], s2[96], s3[96], s4[96];
    if (!ref_dtype_is_float(q->dtype) || !ref_dtype_is_float(k->dtype) ||
        !ref_dtype_is_float(v->dtype))
        return ref_fail(dev, PLINTH_ERR_UNSUPPORTED,
                        "attention: q, k, v must be float dtypes, not %s, %s, %s",
                        plinth_dtype_label(q->dtype), plinth_dtype_label(k->dtype),
                        plinth_dtype_label(v->dtype));
    if (out->dtype != q->dtype)
        return ref_fail(dev, PLINTH_ERR_INVALID, "attention: out dtype %s differs from q's %s",
                        plinth_dtype_label(out->dtype), plinth_dtype_label(q->dtype));
    const int64_t hq = q->shape[2], hkv = k->shape[2];
    bool ok = k->shape[0] == q->shape[0] && v->shape[0] == q->shape[0] &&
              k->shape[3] == q->shape[3] && v->shape[1] == k->shape[1] &&
              v->shape[2] == hkv && out->shape[0] == q->shape[0] &&
              out->shape[1] == q->shape[1] && out->shape[2] == hq &&
              out->shape[3] == v->shape[3] && (hkv == 0 ? hq == 0 : hq % hkv == 0);
    if (!ok)
        return ref_fail(dev, PLINTH_ERR_INVALID,
                        "attention: shapes q %s, k %s, v %s, out %s do not fit",
                        ref_shape_str(q, s1, sizeof s1), ref_shape_str(k, s2, sizeof s2),
                        ref_shape_str(v, s3, sizeof s3), ref_shape_str(out, s4, sizeof s4));
    st = check_pos(dev, "attention", &in[POS], q->shape[1]);
    if (st != PLINTH_OK)
        return st;
    if (in[KV_LEN].dtype != PLINTH_I32 || ref_numel(&in[KV_LEN]) != 1)
        return ref_fail(dev, PLINTH_ERR_INVALID, "attention: kv_len must be one i32, not %s %s",
                        plinth_dtype_label(in[KV_LEN].dtype),
                        ref_shape_str(&in[KV_LEN], s1, sizeof s1));
    if (!attrs)
        return ref_fail(dev, PLINTH_ERR_INVALID, "attention: attrs missing");
    if (((const plinth_attr_attention *)attrs)->window < 0)
        return ref_fail(dev, PLINTH_ERR_INVALID, "attention: window %d is negative",
                        (int)((const plinth_attr_attention *)attrs)->window);
    return PLINTH_OK;
}

/* scale * q[b, t, h, :] . k[b, j, kh, :], summed in double. */
static double score(const plinth_view *q, const plinth_view *k, int64_t b, int64_t t,
                    int64_t h, int64_t j, int64_t kh, double scale)
{
    double acc = 0.0;
    for (int64_t d = 0; d < q->shape[3]; d++)
        acc += ref_load(ref_at(q, b, t, h, d), q->dtype) *
               ref_load(ref_at(k, b, j, kh, d), k->dtype);
    return acc * scale;
}

/* Output dims are produced in chunks with accumulators on the stack: no
 * allocation in a kernel, and scores are recomputed once per chunk. */
#define ACC_CHUNK 64

int32_t ref_attention(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                      uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_attention(dev, out, in, n_in, attrs);
    if (st == PLINTH_OK)
        st = ref_check_memory(dev, PLINTH_OP_ATTENTION, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    const plinth_view *q = &in[Q], *k = &in[K], *v = &in[V], *pos = &in[POS];
    const plinth_attr_attention *a = attrs;
    const int64_t s_len = k->shape[1], dv = v->shape[3];
    const int32_t kv_len = load_i32(&in[KV_LEN], 0);
    if (kv_len < 0 || kv_len > s_len)
        return ref_fail(dev, PLINTH_ERR_INVALID, "attention: kv_len %d out of range [0, %lld]",
                        (int)kv_len, (long long)s_len);
    if (ref_numel(out) == 0)
        return PLINTH_OK;
    const int64_t group = q->shape[2] / k->shape[2]; /* query heads per kv head */
    const double scale = a->scale;
    for (int64_t b = 0; b < q->shape[0]; b++)
        for (int64_t t = 0; t < q->shape[1]; t++) {
            const int64_t p = load_i32(pos, t);
            /* Keys j in [lo, hi) are visible: causal, kv_len, window. */
            int64_t hi = p + 1 < kv_len ? p + 1 : kv_len;
            int64_t lo = a->window > 0 ? p - a->window + 1 : 0;
            if (lo < 0)
                lo = 0;
            for (int64_t h = 0; h < q->shape[2]; h++) {
                const int64_t kh = h / group;
                double mx = -INFINITY, sum = 0.0;
                for (int64_t j = lo; j < hi; j++) {
                    double sc = score(q, k, b, t, h, j, kh, scale);
                    if (sc > mx || isnan(sc))
                        mx = sc;
                }
                for (int64_t j = lo; j < hi; j++)
                    sum += exp(score(q, k, b, t, h, j, kh, scale) - mx);
                for (int64_t d0 = 0; d0 < dv; d0 += ACC_CHUNK) {
                    const int64_t n = dv - d0 < ACC_CHUNK ? dv - d0 : ACC_CHUNK;
                    double acc[ACC_CHUNK] = {0};
                    for (int64_t j = lo; j < hi; j++) {
                        const double w = exp(score(q, k, b, t, h, j, kh, scale) - mx) / sum;
                        for (int64_t d = 0; d < n; d++)
                            acc[d] += w * ref_load(ref_at(v, b, j, kh, d0 + d), v->dtype);
                    }
                    /* No visible key (hi <= lo): the loop above never ran
                     * and the output is zeros, not NaN. */
                    for (int64_t d = 0; d < n; d++)
                        ref_store(ref_at(out, b, t, h, d0 + d), out->dtype, acc[d]);
                }
            }
        }
    return PLINTH_OK;
}
