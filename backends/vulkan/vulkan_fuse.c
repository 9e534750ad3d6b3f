/*
 * vulkan_fuse.c — instruction patterns that prepare runs as one dispatch
 * (config fuse=0 turns it off).
 *
 * Sections: 1. views and aliasing; 2. the patterns.
 *
 * A fused dispatch writes everything the instructions it replaces write
 * (their intermediates too, so later readers and program outputs see the
 * same bytes) and computes the same f32 values in the same order, so a
 * program's results do not change. Fusing is refused wherever that could
 * not be guaranteed: other dtypes, views that are not dense, operands that
 * partly overlap.
 *
 * Patterns: 2 or 3 one-row matmuls of the same a with matrices stacked in
 * memory (Gemma's q/k/v and gate/up projections) as one matrix-vector
 * dispatch; gelu_tanh(x) -> g followed by mul/add/sub/div(g, b) (the Gemma
 * MLP's gelu(gate) * up; mul and add also with g second); rms_norm(x, w)
 * -> y followed by add(r, y) (Gemma's post-attention and post-MLP norms
 * and the residual add), and by a further rms_norm of that sum (the next
 * pre-norm). Not fused yet: q_norm with k_norm, rope of q and k, the two
 * set_rows into the cache. On
 * lavapipe each dispatch costs ~60-110 us of hand-off between threads
 * (PLINTH_VULKAN_PROFILE=1), ~10 ms of a decoded token's ~100.
 */
#include <string.h>

#include "vulkan.h"

#include "vulkan_ops.h"

/* ---------------------------------------------------------------- 1 ---- */

static bool same_view(const plinth_view *a, const plinth_view *b)
{
    return a->buffer == b->buffer && a->offset == b->offset && a->dtype == b->dtype &&
           memcmp(a->shape, b->shape, sizeof a->shape) == 0 &&
           memcmp(a->stride, b->stride, sizeof a->stride) == 0;
}

/* The bytes [*lo, *hi) a view's elements occupy in its buffer. */
static void byte_span(const plinth_view *v, uint64_t *lo, uint64_t *hi)
{
    int64_t a, b;
    vulkan_view_span(v, &a, &b);
    *lo = (uint64_t)((int64_t)v->offset + a), *hi = (uint64_t)((int64_t)v->offset + b);
}

/* No byte of a in b's span. */
static bool disjoint_any(const plinth_view *a, const plinth_view *b)
{
    if (a->buffer != b->buffer)
        return true;
    uint64_t alo, ahi, blo, bhi;
    byte_span(a, &alo, &ahi);
    byte_span(b, &blo, &bhi);
    return ahi <= blo || bhi <= alo;
}

/* Disjoint, or (allow_same) the same view, element for element. */
static bool same_or_disjoint(const plinth_view *a, const plinth_view *b, bool allow_same)
{
    return disjoint_any(a, b) || (allow_same && same_view(a, b));
}

/* ---------------------------------------------------------------- 2 ---- */

/* gelu_tanh then a binary op reading its output. */
static int32_t fuse_gelu_binary(plinth_device *dev, const plinth_instruction *c,
                                vulkan_dispatch *d)
{
    if (c[0].op != PLINTH_OP_GELU_TANH || c[0].n_in != 1 || c[1].n_in != 2)
        return PLINTH_ERR_UNSUPPORTED;
    const uint32_t op = c[1].op;
    const plinth_view *g = c[0].out, *x = &c[0].in[0], *out = c[1].out, *b;
    if (same_view(&c[1].in[0], g))
        b = &c[1].in[1];
    else if ((op == PLINTH_OP_MUL || op == PLINTH_OP_ADD) && same_view(&c[1].in[1], g))
        b = &c[1].in[0]; /* f32 x * y == y * x, x + y == y + x exactly */
    else
        return PLINTH_ERR_UNSUPPORTED;
    if (op != PLINTH_OP_MUL && op != PLINTH_OP_ADD && op != PLINTH_OP_SUB &&
        op != PLINTH_OP_DIV)
        return PLINTH_ERR_UNSUPPORTED;
    /* Each invocation reads x[i], b[i], then writes g[i], out[i]: the same
     * as the two dispatches when every written operand is the same bytes
     * as a read one or shares none with it, except b, which the second
     * instruction reads after g is written. */
    if (!same_or_disjoint(g, x, true) || !same_or_disjoint(g, b, false) ||
        !same_or_disjoint(out, x, true) || !same_or_disjoint(out, b, true) ||
        !same_or_disjoint(out, g, true))
        return PLINTH_ERR_UNSUPPORTED;
    int32_t st = vulkan_encode_gelu_binary(dev, op, out, x, b, g, d);
    return st == PLINTH_OK ? PLINTH_OK : PLINTH_ERR_UNSUPPORTED; /* else: unfused */
}

/* rms_norm then an add of its output and a residual; with `norm2`, then
 * also an rms_norm of the sum (c[2]). */
static int32_t fuse_rms_norm_add(plinth_device *dev, const plinth_instruction *c, bool norm2,
                                 vulkan_dispatch *d)
{
    if (c[0].op != PLINTH_OP_RMS_NORM || c[1].op != PLINTH_OP_ADD || c[1].n_in != 2 ||
        c[0].n_in < 1 || c[0].n_in > 2)
        return PLINTH_ERR_UNSUPPORTED;
    const plinth_view *y = c[0].out, *x = &c[0].in[0], *s = c[1].out, *r;
    if (same_view(&c[1].in[1], y))
        r = &c[1].in[0];
    else if (same_view(&c[1].in[0], y))
        r = &c[1].in[1]; /* f32 x + y == y + x exactly */
    else
        return PLINTH_ERR_UNSUPPORTED;
    if (y->dtype != PLINTH_F32 || x->dtype != PLINTH_F32 || !vulkan_same_shape(x, y))
        return PLINTH_ERR_UNSUPPORTED;
    /* An invocation reads its row of x (twice) and w, then per element
     * writes y[i], reads r[i], writes s[i]. The same as the two dispatches
     * when y and s are the same bytes as x or r or share none with them,
     * y is not r (the add would read y), and neither touches w (every row
     * reads it). */
    if (!same_or_disjoint(y, x, true) || !same_or_disjoint(y, r, false) ||
        !same_or_disjoint(s, x, true) || !same_or_disjoint(s, r, true) ||
        !same_or_disjoint(s, y, true))
        return PLINTH_ERR_UNSUPPORTED;
    if (c[0].n_in == 2 && (!disjoint_any(&c[0].in[1], y) || !disjoint_any(&c[0].in[1], s)))
        return PLINTH_ERR_UNSUPPORTED;
    const plinth_view *z = NULL, *w2 = NULL;
    if (norm2) {
        /* c[2] = rms_norm(s, w2) -> z, the same eps and weight layout. Its
         * pass runs after the whole row of s is written: z may be any of
         * the row buffers (x, y, r, s) or apart from them, but must not
         * touch a weight, and w2 must not be written before it is read. */
        const plinth_instruction *n2 = &c[2];
        if (n2->op != PLINTH_OP_RMS_NORM || n2->n_in != c[0].n_in || !n2->attrs || !c[0].attrs ||
            !same_view(&n2->in[0], s) ||
            ((const plinth_attr_rms_norm *)n2->attrs)->eps !=
                ((const plinth_attr_rms_norm *)c[0].attrs)->eps)
            return PLINTH_ERR_UNSUPPORTED;
        z = n2->out;
        w2 = n2->n_in == 2 ? &n2->in[1] : NULL;
        if (!same_or_disjoint(z, x, true) || !same_or_disjoint(z, y, true) ||
            !same_or_disjoint(z, r, true) || !same_or_disjoint(z, s, true))
            return PLINTH_ERR_UNSUPPORTED;
        if (w2 && (!disjoint_any(w2, y) || !disjoint_any(w2, s) || !disjoint_any(w2, z)))
            return PLINTH_ERR_UNSUPPORTED;
        if (c[0].n_in == 2 && !disjoint_any(&c[0].in[1], z))
            return PLINTH_ERR_UNSUPPORTED;
    }
    int32_t st =
        vulkan_encode_rms_norm_add(dev, y, c[0].in, c[0].n_in, c[0].attrs, r, s, z, w2, d);
    return st == PLINTH_OK ? PLINTH_OK : PLINTH_ERR_UNSUPPORTED; /* else: unfused */
}

/* 2 or 3 matmuls of the same one-row a with matrices that lie one after
 * another in memory (b [N][K], the same strides: rows of one bigger
 * matrix), as one matrix-vector dispatch over the stacked rows: Gemma's
 * q/k/v and gate/up projections, whose weights the planner lays out in
 * order of use. Each output column is the same dot product as unfused. */
static int32_t fuse_matvec_stack(plinth_device *dev, const plinth_instruction *c, uint32_t n_ins,
                                 vulkan_dispatch *d)
{
    for (uint32_t j = 0; j < n_ins; j++) /* before touching in[1] or attrs */
        if (c[j].op != PLINTH_OP_MATMUL || c[j].n_in != 2 || !c[j].attrs ||
            !((const plinth_attr_matmul *)c[j].attrs)->transpose_b)
            return PLINTH_ERR_UNSUPPORTED;
    const plinth_view *a = &c[0].in[0];
    plinth_view outs[3], b = c[0].in[1];
    for (uint32_t j = 0; j < n_ins; j++) {
        const plinth_view *bj = &c[j].in[1], *o = c[j].out;
        if (!same_view(&c[j].in[0], a))
            return PLINTH_ERR_UNSUPPORTED;
        if (a->dtype != PLINTH_F32 || a->shape[0] * a->shape[1] * a->shape[2] != 1 ||
            o->dtype != PLINTH_F32 || o->stride[3] != 4 || o->buffer != c[0].out->buffer ||
            bj->shape[0] != 1 || bj->shape[1] != 1 || bj->buffer != b.buffer ||
            bj->dtype != b.dtype || bj->stride[2] != b.stride[2] || bj->stride[3] != b.stride[3] ||
            bj->shape[3] != b.shape[3])
            return PLINTH_ERR_UNSUPPORTED;
        /* independent: no output touches a, a b, or another output */
        if (!disjoint_any(o, a))
            return PLINTH_ERR_UNSUPPORTED;
        for (uint32_t q = 0; q < n_ins; q++)
            if (!disjoint_any(o, &c[q].in[1]) || (q != j && !disjoint_any(o, c[q].out)))
                return PLINTH_ERR_UNSUPPORTED;
        if (j > 0) { /* the next rows of the stack */
            if ((int64_t)bj->offset != (int64_t)b.offset + b.shape[2] * b.stride[2])
                return PLINTH_ERR_UNSUPPORTED;
            b.shape[2] += bj->shape[2];
        }
        outs[j] = *o;
    }
    const plinth_view in[2] = {*a, b};
    int32_t st = vulkan_encode_matvec_stack(dev, outs, (int)n_ins, in, c[0].attrs, d);
    return st == PLINTH_OK ? PLINTH_OK : PLINTH_ERR_UNSUPPORTED; /* else: unfused */
}

int32_t vulkan_fuse(plinth_device *dev, const plinth_instruction *code, uint32_t n, uint32_t i,
                    vulkan_dispatch *d, uint32_t *n_d, uint32_t *used)
{
    for (uint32_t k = 3; k >= 2; k--)
        if (i + k <= n && fuse_matvec_stack(dev, &code[i], k, d) == PLINTH_OK) {
            *n_d = 1;
            *used = k;
            return PLINTH_OK;
        }
    if (i + 2 < n && fuse_rms_norm_add(dev, &code[i], true, d) == PLINTH_OK) {
        *n_d = 1;
        *used = 3;
        return PLINTH_OK;
    }
    if (i + 1 < n && (fuse_gelu_binary(dev, &code[i], d) == PLINTH_OK ||
                      fuse_rms_norm_add(dev, &code[i], false, d) == PLINTH_OK)) {
        *n_d = 1;
        *used = 2;
        return PLINTH_OK;
    }
    return PLINTH_ERR_UNSUPPORTED;
}
