/*
 * build.c — cases from a compact description: tensor layouts, the suite's
 * naming and the suite's tolerance for any op.
 *
 * The generated cases (cases.c) and hand-written ones (the backend tests
 * under tests/backends/) are built with the same constructors, named the
 * same way and judged by the same bound, so a case written by hand is
 * exactly as strict as one the suite generates.
 *
 * Sections:
 *   1. tensors: dense, then views of a bigger block (sliced, padded,
 *      permuted, transposed, step-2, broadcast, any strides), generators
 *   2. naming: "<op> <dtypes> <out shape> <tag>"
 *   3. tolerance: the reduction length K and the slack c of an op
 *   4. conf_case_make
 */
#include "conf_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ 1 --- */

/* Row-major strides of shape s into st; returns the element count. */
static int64_t row_major(const int64_t *s, int64_t *st)
{
    int64_t n = 1;
    for (int d = 3; d >= 0; d--) {
        st[d] = n;
        n *= s[d];
    }
    return n;
}

conf_tensor conf_dense(int32_t dtype, int ndim, const int64_t *shape)
{
    conf_tensor t = {.dtype = dtype, .ndim = ndim, .shape = {1, 1, 1, 1},
                     .gen = CONF_GEN_UNIFORM};
    for (int i = 0; i < ndim && i < 4; i++)
        t.shape[4 - ndim + i] = shape[i];
    t.alloc = row_major(t.shape, t.stride);
    return t;
}

conf_tensor conf_sliced(conf_tensor t, int64_t pad)
{
    int64_t mem[4] = {t.shape[0], t.shape[1], t.shape[2], t.shape[3] + pad + 1};
    t.alloc = row_major(mem, t.stride);
    t.offset = 1;
    return t;
}

conf_tensor conf_padded(conf_tensor t, int64_t pad)
{
    int64_t mem[4] = {t.shape[0], t.shape[1], t.shape[2], t.shape[3] + pad};
    t.alloc = row_major(mem, t.stride);
    t.offset = 0;
    return t;
}

conf_tensor conf_permuted(conf_tensor t, const int perm[4])
{
    int64_t mem[4], mst[4];
    for (int d = 0; d < 4; d++)
        mem[perm[d]] = t.shape[d];
    t.alloc = row_major(mem, mst);
    for (int d = 0; d < 4; d++)
        t.stride[d] = mst[perm[d]];
    return t;
}

conf_tensor conf_transposed(conf_tensor t)
{
    static const int perm[4] = {0, 1, 3, 2};
    return conf_permuted(t, perm);
}

conf_tensor conf_step2(conf_tensor t)
{
    for (int d = 0; d < 4; d++)
        t.stride[d] *= 2;
    t.alloc *= 2;
    return t;
}

conf_tensor conf_expanded(conf_tensor t, int d, int64_t n)
{
    t.shape[d] = n;
    t.stride[d] = 0;
    return t;
}

conf_tensor conf_strided(conf_tensor t, const int64_t stride[4], int64_t offset)
{
    int64_t last = offset;
    bool empty = false;
    for (int d = 0; d < 4; d++) {
        t.stride[d] = stride[d];
        empty |= t.shape[d] == 0;
        if (t.shape[d] > 1)
            last += (t.shape[d] - 1) * stride[d];
    }
    t.offset = offset;
    t.alloc = empty ? offset : last + 1;
    return t;
}

conf_tensor conf_gen(conf_tensor t, int32_t gen, double lo, double hi)
{
    t.gen = gen;
    t.lo = lo;
    t.hi = hi;
    return t;
}

/* ------------------------------------------------------------------ 2 --- */

static void shape_str(const conf_tensor *t, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int d = 4 - t->ndim; d < 4 && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", d > 4 - t->ndim ? "," : "",
                              (long long)t->shape[d]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
}

void conf_case_name(conf_case *c, const char *tag)
{
    const conf_tensor *in = c->in, *out = &c->out;
    const uint32_t op = c->op;
    char types[48] = "", shape[48];
    size_t n = 0;
    bool differ = false;
    /* The value inputs' dtypes (not indices, positions, lengths), when they
     * differ from the output's. */
    for (uint32_t i = 0; i < c->n_in; i++) {
        bool index_like = in[i].dtype == PLINTH_I32 && (in[i].gen == CONF_GEN_INDEX ||
                                                        in[i].gen == CONF_GEN_ARANGE ||
                                                        in[i].gen == CONF_GEN_CONST);
        if (index_like && out->dtype != PLINTH_I32)
            continue;
        if (index_like && op != PLINTH_OP_CAST && op != PLINTH_OP_COPY && i > 0)
            continue;
        differ |= in[i].dtype != out->dtype;
        n += (size_t)snprintf(types + n, sizeof types - n, "%s%s", n ? "x" : "",
                              plinth_dtype_name((plinth_dtype)in[i].dtype));
    }
    if (differ)
        snprintf(types + n, sizeof types - n, "->%s", plinth_dtype_name((plinth_dtype)out->dtype));
    else
        snprintf(types, sizeof types, "%s", plinth_dtype_name((plinth_dtype)out->dtype));
    shape_str(out, shape, sizeof shape);
    snprintf(c->name, sizeof c->name, "%s %s %s%s%s", plinth_op_name((plinth_op)op), types,
             shape, tag && tag[0] ? " " : "", tag ? tag : "");
}

/* ------------------------------------------------------------------ 3 --- */

/* The largest value an i32 tensor's generator puts in its logical
 * elements (positions for rope). */
static double max_value(const conf_tensor *t)
{
    const int64_t n = conf_numel(t);
    switch (t->gen) {
    case CONF_GEN_ARANGE: return t->lo + (double)n;
    case CONF_GEN_CONST: return fabs(t->lo);
    case CONF_GEN_INT: return fmax(fabs(t->lo), fabs(t->hi));
    default: return t->hi; /* INDEX: [0, hi) */
    }
}

void conf_case_tolerance(const conf_case *c, double *k, double *slack)
{
    const conf_tensor *x = &c->in[0];
    *k = 1.0;
    switch (c->op) {
    case PLINTH_OP_ADD: case PLINTH_OP_SUB: case PLINTH_OP_MUL: case PLINTH_OP_DIV:
    case PLINTH_OP_SCALE:
        *slack = CONF_C_ROUND;
        break;
    case PLINTH_OP_GELU_TANH: case PLINTH_OP_SILU:
        *slack = CONF_C_TRANS;
        break;
    case PLINTH_OP_RMS_NORM:
        *k = (double)x->shape[3];
        *slack = CONF_C_REDUCE;
        break;
    case PLINTH_OP_SOFTMAX:
        *k = (double)x->shape[3];
        *slack = CONF_C_TRANS;
        break;
    case PLINTH_OP_MATMUL:
        /* K is a's last dim (b is [K, N] or, transposed, [N, K]). */
        *k = (double)x->shape[3];
        *slack = CONF_C_REDUCE;
        break;
    case PLINTH_OP_ROPE:
    case PLINTH_OP_ROPE_FACTORS: {
        /* Angles pos * base^(-2i/n) carry an absolute error growing with
         * pos: K is the largest position squared. */
        const double p = c->n_in > 1 ? max_value(&c->in[1]) : 1.0;
        *k = p * p;
        *slack = CONF_C_TRANS;
        break;
    }
    case PLINTH_OP_ATTENTION:
        /* q·k over D, then the weighted sum over S keys. */
        *k = (double)(x->shape[3] + (c->n_in > 1 ? c->in[1].shape[1] : 0));
        *slack = CONF_C_TRANS;
        break;
    default: /* data movement, casts, argmax: exact */
        *slack = CONF_C_EXACT;
        break;
    }
    /* (An i32 output is compared exactly whatever the slack: harness.c.) */
}

/* ------------------------------------------------------------------ 4 --- */

void conf_case_make(conf_case *c, uint32_t op, uint32_t n_in, const conf_tensor *in,
                    const conf_tensor *out, const plinth_attrs *attrs, uint32_t flags,
                    const char *tag)
{
    memset(c, 0, sizeof *c);
    c->op = op;
    c->n_in = n_in < PLINTH_MAX_INPUTS ? n_in : PLINTH_MAX_INPUTS;
    c->flags = flags;
    for (uint32_t i = 0; i < c->n_in; i++)
        c->in[i] = in[i];
    c->out = (flags & CONF_ALIAS_IN0) && n_in > 0 ? in[0] : *out;
    if (attrs)
        c->attrs = *attrs;
    conf_case_tolerance(c, &c->k, &c->c);
    conf_case_name(c, tag);
}
