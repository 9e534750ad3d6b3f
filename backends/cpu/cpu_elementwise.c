/*
 * cpu_elementwise.c — f32 ops that map each output element from the
 * element(s) at the same index: add sub mul div, scale gelu_tanh silu, and
 * the fused gelu_tanh(g) * u.
 *
 * Sections:
 *   1. layout: broadcast strides, merging dims, splitting into chunks
 *   2. inner loops: the level's row kernel (contiguous or broadcast
 *      scalar; cpu_kernels.h) or the portable loop
 *   3. entry points
 *
 * Every inner loop reads an element before writing the same element, so
 * out may be the very view of in[0] or in[1] (rule 10). add/sub/mul/div are
 * one correctly rounded f32 operation: bit-identical to ref. gelu and silu
 * are computed as x / (1 + e^-z), an exact identity of the tanh form, with a
 * ~1 ulp exp.
 */
#include <math.h>
#include <string.h>

#include "cpu_kernels.h"

/* ---------------------------------------------------------------- 1 ---- */

#define CHUNK 16384 /* elements per task: ~64 KB, L2-friendly, cheap to hand out */

typedef struct ew_job {
    uint32_t op;
    float s;
    /* the level's row kernel when the inner strides suit it, else NULL */
    void (*row)(uint32_t op, float s, float *o, const float *a, const float *b, bool a_bc,
                bool b_bc, int64_t n);
    int nd;                 /* dims after merging (1..4), innermost last */
    int64_t shape[4];
    int64_t st[3][4];       /* byte strides of out, a, b (0: broadcast) */
    const uint8_t *p[3];
    int64_t inner;          /* shape[nd-1] */
    int64_t n_rows;
} ew_job;

/* Effective strides (0 where the view broadcasts) and dims merged where
 * every view is contiguous across them. */
static void layout(ew_job *j, const plinth_view *out, const plinth_view *v[3], int n_views)
{
    int64_t shape[4], st[3][4];
    for (int k = 0; k < 4; k++) {
        shape[k] = out->shape[k];
        for (int i = 0; i < n_views; i++)
            st[i][k] = v[i]->shape[k] == 1 ? 0 : v[i]->stride[k];
    }
    int nd = 0;
    for (int k = 0; k < 4; k++) {
        if (shape[k] == 1 && k < 3)
            continue; /* drop size-1 dims (keep the innermost slot) */
        bool merge = false;
        if (nd > 0) {
            merge = true;
            for (int i = 0; i < n_views; i++)
                if (j->st[i][nd - 1] != st[i][k] * shape[k])
                    merge = false;
        }
        if (merge) {
            j->shape[nd - 1] *= shape[k];
            for (int i = 0; i < n_views; i++)
                j->st[i][nd - 1] = st[i][k];
        } else {
            j->shape[nd] = shape[k];
            for (int i = 0; i < n_views; i++)
                j->st[i][nd] = st[i][k];
            nd++;
        }
    }
    if (nd == 0) {
        nd = 1;
        j->shape[0] = 1;
        for (int i = 0; i < n_views; i++)
            j->st[i][0] = 0;
    }
    j->nd = nd;
    j->inner = j->shape[nd - 1];
    j->n_rows = 1;
    for (int k = 0; k < nd - 1; k++)
        j->n_rows *= j->shape[k];
    for (int i = 0; i < n_views; i++)
        j->p[i] = v[i]->data;
}

/* Byte offset of row r (row-major over the outer dims) in view i. */
static int64_t row_off(const ew_job *j, int i, int64_t r)
{
    int64_t off = 0;
    for (int k = j->nd - 2; k >= 0; k--) {
        off += (r % j->shape[k]) * j->st[i][k];
        r /= j->shape[k];
    }
    return off;
}

/* ---------------------------------------------------------------- 2 ---- */

static float unary1(uint32_t op, float x, float s)
{
    switch (op) {
    case PLINTH_OP_SCALE: return x * s;
    case PLINTH_OP_SILU: return x / (1.0f + expf(-x));
    default: {
        const float z = 1.5957691216057308f * (x + 0.044715f * x * x * x); /* 2*sqrt(2/pi)*(...) */
        return x / (1.0f + expf(-z));
    }
    }
}

static float binary1(uint32_t op, float a, float b)
{
    switch (op) {
    case PLINTH_OP_ADD: return a + b;
    case PLINTH_OP_SUB: return a - b;
    case PLINTH_OP_MUL: return a * b;
    case PLINTH_OP_DIV: return a / b;
    default: /* fused gelu(a) * b */ return unary1(PLINTH_OP_GELU_TANH, a, 0) * b;
    }
}

/* One segment [c0, c1) of row r. */
static void segment(const ew_job *j, int64_t r, int64_t c0, int64_t c1)
{
    const bool unary = j->op == PLINTH_OP_SCALE || j->op == PLINTH_OP_GELU_TANH ||
                       j->op == PLINTH_OP_SILU;
    const int nv = unary ? 2 : 3;
    const uint8_t *p[3];
    int64_t s[3];
    for (int i = 0; i < nv; i++) {
        s[i] = j->st[i][j->nd - 1];
        p[i] = j->p[i] + row_off(j, i, r) + c0 * s[i];
    }
    const int64_t n = c1 - c0;
    if (j->row) {
        j->row(j->op, j->s, (float *)p[0], (const float *)p[1],
               unary ? NULL : (const float *)p[2], s[1] == 0, !unary && s[2] == 0, n);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float x, y = 0, r2;
        memcpy(&x, p[1] + i * s[1], 4);
        if (unary) {
            r2 = unary1(j->op, x, j->s);
        } else {
            memcpy(&y, p[2] + i * s[2], 4);
            r2 = binary1(j->op, x, y);
        }
        memcpy((uint8_t *)p[0] + i * s[0], &r2, 4);
    }
}

static void ew_task(void *ctx, int64_t t, uint32_t thread)
{
    const ew_job *j = ctx;
    int64_t lo = t * CHUNK, hi = lo + CHUNK, total = j->n_rows * j->inner;
    if (hi > total)
        hi = total;
    while (lo < hi) {
        int64_t r = lo / j->inner, c = lo % j->inner;
        int64_t end = j->inner - c < hi - lo ? j->inner : c + (hi - lo);
        segment(j, r, c, end);
        lo += end - c;
    }
}

/* ---------------------------------------------------------------- 3 ---- */

static bool run(cpu_device *dev, uint32_t op, float s, const plinth_view *out,
                const plinth_view *a, const plinth_view *b)
{
    if (out->dtype != PLINTH_F32 || a->dtype != PLINTH_F32 || (b && b->dtype != PLINTH_F32))
        return false;
    ew_job j = {.op = op, .s = s};
    const plinth_view *v[3] = {out, a, b};
    layout(&j, out, v, b ? 3 : 2);
    const int64_t total = j.n_rows * j.inner;
    if (total == 0)
        return true;
    /* The inner strides are the same for every row: out contiguous, each
     * input contiguous or one broadcast scalar. */
    const int in = j.nd - 1;
    if (dev->k->ew_row && j.st[0][in] == 4 && (j.st[1][in] == 4 || j.st[1][in] == 0) &&
        (!b || j.st[2][in] == 4 || j.st[2][in] == 0))
        j.row = dev->k->ew_row;
    cpu_count(dev, CPU_KC_ELEMENTWISE, j.row != NULL);
    cpu_parallel_blocked(dev, (total + CHUNK - 1) / CHUNK, ew_task, &j);
    return true;
}

bool cpu_binary_fast(cpu_device *dev, uint32_t op, const plinth_view *out,
                     const plinth_view *a, const plinth_view *b)
{
    return run(dev, op, 0.0f, out, a, b);
}

bool cpu_unary_fast(cpu_device *dev, uint32_t op, const plinth_view *out,
                    const plinth_view *x, float s)
{
    return run(dev, op, s, out, x, NULL);
}

bool cpu_gelu_mul_fast(cpu_device *dev, const plinth_view *out, const plinth_view *g,
                       const plinth_view *u)
{
    return run(dev, CPU_OP_GELU_MUL, 0.0f, out, g, u);
}
