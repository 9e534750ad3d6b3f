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
 * Patterns: gelu_tanh(x) -> g followed by mul/add/sub/div(g, b) (the Gemma
 * MLP's gelu(gate) * up; mul and add also with g second); rms_norm(x, w)
 * -> y followed by add(r, y) (Gemma's post-attention and post-MLP norms
 * and the residual add). Not fused yet: rope of q and k, the q/k/v
 * matvecs. On lavapipe a decoded token spends ~5-15 ms of its time in
 * dispatch overhead against ~150 ms in the matvecs (README).
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
    int64_t a = (int64_t)v->offset, b = a + (int64_t)vulkan_dtype_size(v->dtype);
    for (int k = 0; k < 4; k++) {
        if (v->shape[k] <= 1)
            continue;
        const int64_t span = (v->shape[k] - 1) * v->stride[k];
        if (span < 0)
            a += span;
        else
            b += span;
    }
    *lo = (uint64_t)a, *hi = (uint64_t)b;
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

/* rms_norm then an add of its output and a residual. */
static int32_t fuse_rms_norm_add(plinth_device *dev, const plinth_instruction *c,
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
    int32_t st = vulkan_encode_rms_norm_add(dev, y, c[0].in, c[0].n_in, c[0].attrs, r, s, d);
    return st == PLINTH_OK ? PLINTH_OK : PLINTH_ERR_UNSUPPORTED; /* else: unfused */
}

int32_t vulkan_fuse(plinth_device *dev, const plinth_instruction *code, uint32_t n, uint32_t i,
                    vulkan_dispatch *d, uint32_t *n_d, uint32_t *used)
{
    if (i + 1 < n && (fuse_gelu_binary(dev, &code[i], d) == PLINTH_OK ||
                      fuse_rms_norm_add(dev, &code[i], d) == PLINTH_OK)) {
        *n_d = 1;
        *used = 2;
        return PLINTH_OK;
    }
    return PLINTH_ERR_UNSUPPORTED;
}
