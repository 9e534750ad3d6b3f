/*
 * ref_elementwise.c — ops that map each output element from the element(s)
 * at the same index.
 *
 * Sections:
 *   1. binary: add sub mul div (numpy broadcasting; i32 wraps)
 *   2. unary float: scale gelu_tanh silu (computed in double)
 *   3. moves: cast copy (same element count, row-major order)
 *
 * Aliasing: out may be the same memory as in[0] (the planner's in-place
 * reuse). Every loop reads an element before it writes the element at the
 * same index, which is safe when the two views are identical.
 */
#include <math.h>
#include <string.h>

#include "ref.h"

/* ---------------------------------------------------------------- 1 ---- */

static int32_t check_binary(plinth_device *dev, uint32_t op, const plinth_view *out,
                            const plinth_view *in, uint32_t n_in)
{
    int32_t st = ref_check_arity(dev, op, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    const char *name = plinth_op_label(op);
    if (in[0].dtype != in[1].dtype || out->dtype != in[0].dtype)
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: dtypes differ (a %s, b %s, out %s)",
                        name, plinth_dtype_label(in[0].dtype), plinth_dtype_label(in[1].dtype),
                        plinth_dtype_label(out->dtype));
    for (uint32_t i = 0; i < 2; i++) {
        if (!ref_broadcastable(&in[i], out)) {
            char s1[96], s2[96];
            return ref_fail(dev, PLINTH_ERR_INVALID, "%s: %s %s does not broadcast to %s",
                            name, i == 0 ? "a" : "b", ref_shape_str(&in[i], s1, sizeof s1),
                            ref_shape_str(out, s2, sizeof s2));
        }
    }
    return PLINTH_OK;
}

/* Two's-complement wrap-around, as the GPU and SIMD backends do naturally;
 * computed in uint32 so C never sees signed overflow. Division truncates
 * toward zero like C and GLSL; x / 0 is defined here as 0. */
static int32_t binary_i32(uint32_t op, int32_t a, int32_t b)
{
    uint32_t ua = (uint32_t)a, ub = (uint32_t)b, r;
    switch (op) {
    case PLINTH_OP_ADD: r = ua + ub; break;
    case PLINTH_OP_SUB: r = ua - ub; break;
    case PLINTH_OP_MUL: r = ua * ub; break;
    default:
        if (b == 0)
            return 0;
        if (a == INT32_MIN && b == -1)
            return INT32_MIN;
        return a / b;
    }
    int32_t s;
    memcpy(&s, &r, sizeof s);
    return s;
}

static double binary_f(uint32_t op, double a, double b)
{
    switch (op) {
    case PLINTH_OP_ADD: return a + b;
    case PLINTH_OP_SUB: return a - b;
    case PLINTH_OP_MUL: return a * b;
    default: return a / b; /* IEEE: x/0 = ±inf, 0/0 = NaN */
    }
}

static int32_t binary(plinth_device *dev, uint32_t op, const plinth_view *out,
                      const plinth_view *in, uint32_t n_in)
{
    int32_t st = check_binary(dev, op, out, in, n_in);
    if (st == PLINTH_OK)
        st = ref_check_memory(dev, op, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    const plinth_view *a = &in[0], *b = &in[1];
    const int32_t dt = out->dtype;
    for (int64_t i0 = 0; i0 < out->shape[0]; i0++)
        for (int64_t i1 = 0; i1 < out->shape[1]; i1++)
            for (int64_t i2 = 0; i2 < out->shape[2]; i2++)
                for (int64_t i3 = 0; i3 < out->shape[3]; i3++) {
                    const uint8_t *pa =
                        ref_at(a, ref_bcast(a->shape[0], i0), ref_bcast(a->shape[1], i1),
                               ref_bcast(a->shape[2], i2), ref_bcast(a->shape[3], i3));
                    const uint8_t *pb =
                        ref_at(b, ref_bcast(b->shape[0], i0), ref_bcast(b->shape[1], i1),
                               ref_bcast(b->shape[2], i2), ref_bcast(b->shape[3], i3));
                    uint8_t *po = ref_at(out, i0, i1, i2, i3);
                    if (dt == PLINTH_I32) {
                        int32_t x, y, r;
                        memcpy(&x, pa, sizeof x);
                        memcpy(&y, pb, sizeof y);
                        r = binary_i32(op, x, y);
                        memcpy(po, &r, sizeof r);
                    } else {
                        ref_store(po, dt, binary_f(op, ref_load(pa, dt), ref_load(pb, dt)));
                    }
                }
    return PLINTH_OK;
}

#define REF_BINARY(name, OP)                                                           \
    int32_t ref_check_##name(plinth_device *dev, const plinth_view *out,              \
                             const plinth_view *in, uint32_t n_in, const void *attrs) \
    {                                                                                  \
        return check_binary(dev, PLINTH_OP_##OP, out, in, n_in);                       \
    }                                                                                  \
    int32_t ref_##name(plinth_device *dev, const plinth_view *out, const plinth_view *in, \
                       uint32_t n_in, const void *attrs)                               \
    {                                                                                  \
        return binary(dev, PLINTH_OP_##OP, out, in, n_in);                             \
    }

REF_BINARY(add, ADD)
REF_BINARY(sub, SUB)
REF_BINARY(mul, MUL)
REF_BINARY(div, DIV)

/* ---------------------------------------------------------------- 2 ---- */

/* The float unary ops: x float, out the same dtype and shape. Integer
 * inputs are refused: these are real functions, and rounding their result
 * back to i32 would hide that the graph is wrong. */
static int32_t check_unary_float(plinth_device *dev, uint32_t op, const plinth_view *out,
                                 const plinth_view *in, uint32_t n_in, const void *attrs,
                                 bool needs_attrs)
{
    int32_t st = ref_check_arity(dev, op, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    const char *name = plinth_op_label(op);
    if (!ref_dtype_is_float(in[0].dtype))
        return ref_fail(dev, PLINTH_ERR_UNSUPPORTED, "%s: x must be a float dtype, not %s",
                        name, plinth_dtype_label(in[0].dtype));
    if (out->dtype != in[0].dtype)
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: out dtype %s differs from x's %s", name,
                        plinth_dtype_label(out->dtype), plinth_dtype_label(in[0].dtype));
    if (!ref_same_shape(out, &in[0])) {
        char s1[96], s2[96];
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: out %s differs from x %s", name,
                        ref_shape_str(out, s1, sizeof s1),
                        ref_shape_str(&in[0], s2, sizeof s2));
    }
    if (needs_attrs && !attrs)
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: attrs missing", name);
    return PLINTH_OK;
}

static double gelu_tanh(double x)
{
    const double k = 0.79788456080286535588; /* sqrt(2/pi) */
    return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
}

static double silu(double x)
{
    return x / (1.0 + exp(-x));
}

static int32_t unary_float(plinth_device *dev, uint32_t op, const plinth_view *out,
                           const plinth_view *in, uint32_t n_in, const void *attrs)
{
    int32_t st = check_unary_float(dev, op, out, in, n_in, attrs, op == PLINTH_OP_SCALE);
    if (st == PLINTH_OK)
        st = ref_check_memory(dev, op, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    const plinth_view *x = &in[0];
    const double s = op == PLINTH_OP_SCALE ? (double)((const plinth_attr_scale *)attrs)->s : 1.0;
    for (int64_t i0 = 0; i0 < out->shape[0]; i0++)
        for (int64_t i1 = 0; i1 < out->shape[1]; i1++)
            for (int64_t i2 = 0; i2 < out->shape[2]; i2++)
                for (int64_t i3 = 0; i3 < out->shape[3]; i3++) {
                    double v = ref_load(ref_at(x, i0, i1, i2, i3), x->dtype);
                    double r = op == PLINTH_OP_SCALE ? v * s
                               : op == PLINTH_OP_GELU_TANH ? gelu_tanh(v)
                                                           : silu(v);
                    ref_store(ref_at(out, i0, i1, i2, i3), out->dtype, r);
                }
    return PLINTH_OK;
}

#define REF_UNARY(name, OP, NEEDS_ATTRS)                                               \
    int32_t ref_check_##name(plinth_device *dev, const plinth_view *out,              \
                             const plinth_view *in, uint32_t n_in, const void *attrs) \
    {                                                                                  \
        return check_unary_float(dev, PLINTH_OP_##OP, out, in, n_in, attrs, NEEDS_ATTRS); \
    }                                                                                  \
    int32_t ref_##name(plinth_device *dev, const plinth_view *out, const plinth_view *in, \
                       uint32_t n_in, const void *attrs)                               \
    {                                                                                  \
        return unary_float(dev, PLINTH_OP_##OP, out, in, n_in, attrs);                 \
    }

REF_UNARY(scale, SCALE, true)
REF_UNARY(gelu_tanh, GELU_TANH, false)
REF_UNARY(silu, SILU, false)

/* ---------------------------------------------------------------- 3 ---- */

/* cast and copy take x and out with the same shape, or, more generally, the
 * same element count: elements then pair up in row-major order (a reshape
 * of a view whose strides cannot express it). */
static int32_t check_move(plinth_device *dev, uint32_t op, const plinth_view *out,
                          const plinth_view *in, uint32_t n_in, int32_t want_dtype)
{
    const char *name = plinth_op_label(op);
    if (out->dtype != want_dtype)
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: out dtype %s, expected %s", name,
                        plinth_dtype_label(out->dtype), plinth_dtype_label(want_dtype));
    if (ref_numel(out) != ref_numel(&in[0])) {
        char s1[96], s2[96];
        return ref_fail(dev, PLINTH_ERR_INVALID, "%s: out %s and x %s differ in size", name,
                        ref_shape_str(out, s1, sizeof s1),
                        ref_shape_str(&in[0], s2, sizeof s2));
    }
    return PLINTH_OK;
}

int32_t ref_check_cast(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                       uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_arity(dev, PLINTH_OP_CAST, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    if (!attrs)
        return ref_fail(dev, PLINTH_ERR_INVALID, "cast: attrs missing");
    int32_t dt = ((const plinth_attr_cast *)attrs)->dtype;
    if (!ref_dtype_valid(dt))
        return ref_fail(dev, PLINTH_ERR_INVALID, "cast: unknown target dtype %d", (int)dt);
    st = check_move(dev, PLINTH_OP_CAST, out, in, n_in, dt);
    /* A block x is dequantised a row of blocks at a time: it needs out of
     * the same shape (no reshape through the cast) and a float out. */
    if (st == PLINTH_OK && ref_dtype_is_block(in[0].dtype) &&
        (!ref_same_shape(out, &in[0]) || !ref_dtype_is_float(dt)))
        return ref_fail(dev, PLINTH_ERR_UNSUPPORTED,
                        "cast: a %s x casts to a float dtype of its own shape",
                        plinth_dtype_label(in[0].dtype));
    return st;
}

int32_t ref_check_copy(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                       uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_arity(dev, PLINTH_OP_COPY, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    return check_move(dev, PLINTH_OP_COPY, out, in, n_in, in[0].dtype);
}

/* Walk out and x together in row-major order. Same dtype moves the bytes
 * (bit-exact: NaN payloads, -0); otherwise load as double and store once. */
/* A block x: each row of blocks dequantised into the same row of out,
 * rounded once to out's dtype. */
static void dequant_rows(const plinth_view *out, const plinth_view *x)
{
    const int64_t e = (int64_t)plinth_dtype_block_elems(x->dtype);
    float w[256];
    for (int64_t i0 = 0; i0 < out->shape[0]; i0++)
        for (int64_t i1 = 0; i1 < out->shape[1]; i1++)
            for (int64_t i2 = 0; i2 < out->shape[2]; i2++)
                for (int64_t c0 = 0; c0 < out->shape[3]; c0 += e) {
                    plinth_dequant_block(x->dtype, ref_block_at(x, i0, i1, i2, c0), w);
                    for (int64_t q = 0; q < e; q++)
                        ref_store(ref_at(out, i0, i1, i2, c0 + q), out->dtype, (double)w[q]);
                }
}

static void move(const plinth_view *out, const plinth_view *x)
{
    if (ref_dtype_is_block(x->dtype)) {
        dequant_rows(out, x);
        return;
    }
    const size_t esize = plinth_dtype_bytes(x->dtype);
    const bool raw = out->dtype == x->dtype;
    int64_t j[4] = {0, 0, 0, 0}; /* x's index, advanced like an odometer */
    for (int64_t i0 = 0; i0 < out->shape[0]; i0++)
        for (int64_t i1 = 0; i1 < out->shape[1]; i1++)
            for (int64_t i2 = 0; i2 < out->shape[2]; i2++)
                for (int64_t i3 = 0; i3 < out->shape[3]; i3++) {
                    const uint8_t *px = ref_at(x, j[0], j[1], j[2], j[3]);
                    uint8_t *po = ref_at(out, i0, i1, i2, i3);
                    if (raw)
                        memmove(po, px, esize);
                    else
                        ref_store(po, out->dtype, ref_load(px, x->dtype));
                    for (int k = 3; k >= 0; k--) {
                        if (++j[k] < x->shape[k])
                            break;
                        j[k] = 0;
                    }
                }
}

int32_t ref_cast(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                 uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_cast(dev, out, in, n_in, attrs);
    if (st == PLINTH_OK)
        st = ref_check_memory(dev, PLINTH_OP_CAST, out, in, n_in);
    if (st == PLINTH_OK)
        move(out, &in[0]);
    return st;
}

int32_t ref_copy(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                 uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_copy(dev, out, in, n_in, attrs);
    if (st == PLINTH_OK)
        st = ref_check_memory(dev, PLINTH_OP_COPY, out, in, n_in);
    if (st == PLINTH_OK)
        move(out, &in[0]);
    return st;
}
