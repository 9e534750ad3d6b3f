/*
 * graph_ops.c — the op builders: argument checks, shape and dtype inference.
 *
 * Sections: checks shared by the builders; elementwise ops (numpy
 * broadcasting); normalisation and softmax; matmul; rows (get_rows,
 * set_rows); rope (and rope_factors) and attention; cast, copy, concat,
 * argmax.
 *
 * Every check that can fail here is one the compiler and the kernels then
 * rely on without looking again, so the rules follow the op list of
 * plinth_plugin.h exactly. A failure names the op, the node index it would
 * have had, and the shapes and dtypes involved (graph_build.h keeps only
 * the first failure of a graph).
 */
#include "graph_build.h"
#include "plinth_limits.h"

#include <stdio.h>
#include <string.h>

/* Largest tensor an op may produce (plinth_limits.h). */
#define MAX_OUT_BYTES PLINTH_MAX_TENSOR_BYTES

/* -------------------------------------------------------- the checks --- */

/* Shape descriptions for messages; each builder needs at most a few. */
typedef struct descs {
    char a[160], b[160], c[160];
} descs;

/* The argument nodes of one builder call, fetched in order; stops at the
 * first bad one. Pointers are valid until the node is added. */
static bool fetch(plinth_graph *g, const char *what, int n, const char *const *roles,
                  const plinth_node *ids, const graph_node **out)
{
    for (int i = 0; i < n; i++) {
        out[i] = graph_arg(g, what, roles[i], ids[i]);
        if (!out[i])
            return false;
    }
    return true;
}

static bool need_float(plinth_graph *g, const char *what, const char *role,
                       const graph_node *n)
{
    if (dtype_is_float(n->dtype))
        return true;
    char d[160];
    node_error(g, what, "%s is %s; needs a float dtype (f32, f16, bf16)", role,
               node_desc(n, d, sizeof d));
    return false;
}

/* idx/pos-like arguments: i32 of rank 1, of length `len` unless len < 0. */
static bool need_i32_vector(plinth_graph *g, const char *what, const char *role,
                            const graph_node *n, int64_t len, const char *len_name)
{
    if (n->dtype == PLINTH_I32 && n->ndim == 1 && (len < 0 || n->shape[0] == len))
        return true;
    char d[160];
    if (len < 0)
        node_error(g, what, "%s is %s; needs i32 of rank 1", role, node_desc(n, d, sizeof d));
    else
        node_error(g, what, "%s is %s; needs i32 [%lld] (%s)", role, node_desc(n, d, sizeof d),
                   (long long)len, len_name);
    return false;
}

/* numpy broadcasting: dims align from the right; each pair must be equal or
 * contain a 1, and the result takes the other. */
static bool broadcast(const int64_t *a, int na, const int64_t *b, int nb, int64_t *out,
                      int *n_out)
{
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int ia = na - n + i, ib = nb - n + i;
        int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return false;
        out[i] = da == 1 ? db : da;
    }
    *n_out = n;
    return true;
}

static graph_node op_node(plinth_op op, int32_t dtype, int ndim, const int64_t *shape)
{
    graph_node n = graph_node_init(PLINTH_NODE_OP);
    n.op = op;
    n.dtype = dtype;
    n.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        n.shape[i] = shape[i];
    return n;
}

/* Adds the finished op node, refusing outputs whose size would overflow
 * the planner's arithmetic (broadcasting can multiply sizes). */
static plinth_node finish(plinth_graph *g, const graph_node *n)
{
    char s[128];
    /* Block dtypes are weights only: the op list has no op that writes one. */
    if (dtype_is_block(n->dtype))
        return node_error(g, plinth_op_name((plinth_op)n->op),
                          "the output would be %s %s, a block dtype; no op writes one (block "
                          "dtypes are weights: matmul's b, get_rows' table, cast's x)",
                          plinth_dtype_name((plinth_dtype)n->dtype),
                          shape_str(n->shape, n->ndim, s, sizeof s));
    uint64_t bytes = 0;
    if (!tensor_bytes(n->dtype, n->ndim, n->shape, &bytes) || bytes > MAX_OUT_BYTES)
        return node_error(g, plinth_op_name((plinth_op)n->op), "output %s is too large",
                          shape_str(n->shape, n->ndim, s, sizeof s));
    return graph_add_node(g, n);
}

/* A weight argument that may be a block dtype (matmul's b). */
static bool need_float_or_block(plinth_graph *g, const char *what, const char *role,
                                const graph_node *n)
{
    if (dtype_is_float(n->dtype) || dtype_is_block(n->dtype))
        return true;
    char d[160];
    node_error(g, what, "%s is %s; needs a float dtype (f32, f16, bf16) or a block dtype "
               "(q8_0, q4_0, q4_K, q6_K)", role, node_desc(n, d, sizeof d));
    return false;
}

/* --------------------------------------------------------- elementwise --- */

static plinth_node binary(plinth_graph *g, plinth_op op, plinth_node a, plinth_node b)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const char *what = plinth_op_name(op);
    const graph_node *in[2];
    if (!fetch(g, what, 2, (const char *const[]){"a", "b"}, (plinth_node[]){a, b}, in))
        return PLINTH_NODE_INVALID;
    descs d;
    if (in[0]->dtype != in[1]->dtype)
        return node_error(g, what, "dtypes differ: a %s, b %s",
                          node_desc(in[0], d.a, sizeof d.a), node_desc(in[1], d.b, sizeof d.b));
    int64_t shape[PLINTH_MAX_DIMS];
    int ndim;
    if (!broadcast(in[0]->shape, in[0]->ndim, in[1]->shape, in[1]->ndim, shape, &ndim))
        return node_error(g, what, "shapes %s and %s do not broadcast",
                          shape_str(in[0]->shape, in[0]->ndim, d.a, sizeof d.a),
                          shape_str(in[1]->shape, in[1]->ndim, d.b, sizeof d.b));
    graph_node n = op_node(op, in[0]->dtype, ndim, shape);
    n.n_in = 2;
    n.in[0] = a;
    n.in[1] = b;
    return finish(g, &n);
}

plinth_node plinth_add(plinth_graph *g, plinth_node a, plinth_node b)
{
    return binary(g, PLINTH_OP_ADD, a, b);
}

plinth_node plinth_sub(plinth_graph *g, plinth_node a, plinth_node b)
{
    return binary(g, PLINTH_OP_SUB, a, b);
}

plinth_node plinth_mul(plinth_graph *g, plinth_node a, plinth_node b)
{
    return binary(g, PLINTH_OP_MUL, a, b);
}

plinth_node plinth_div(plinth_graph *g, plinth_node a, plinth_node b)
{
    return binary(g, PLINTH_OP_DIV, a, b);
}

/* One float input, same shape and dtype out. */
static plinth_node unary_float(plinth_graph *g, plinth_op op, plinth_node x,
                               const plinth_attrs *attrs)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const char *what = plinth_op_name(op);
    const graph_node *nx = graph_arg(g, what, "x", x);
    if (!nx || !need_float(g, what, "x", nx))
        return PLINTH_NODE_INVALID;
    graph_node n = op_node(op, nx->dtype, nx->ndim, nx->shape);
    n.n_in = 1;
    n.in[0] = x;
    if (attrs)
        n.attrs = *attrs;
    return finish(g, &n);
}

plinth_node plinth_scale(plinth_graph *g, plinth_node x, float s)
{
    plinth_attrs attrs = {.scale = {.s = s}};
    return unary_float(g, PLINTH_OP_SCALE, x, &attrs);
}

plinth_node plinth_gelu_tanh(plinth_graph *g, plinth_node x)
{
    return unary_float(g, PLINTH_OP_GELU_TANH, x, NULL);
}

plinth_node plinth_silu(plinth_graph *g, plinth_node x)
{
    return unary_float(g, PLINTH_OP_SILU, x, NULL);
}

/* ------------------------------------------- normalisation, softmax --- */

plinth_node plinth_rms_norm(plinth_graph *g, plinth_node x, plinth_node w, float eps)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const char *what = "rms_norm";
    const graph_node *nx = graph_arg(g, what, "x", x);
    if (!nx || !need_float(g, what, "x", nx))
        return PLINTH_NODE_INVALID;
    descs d;
    if (!(eps >= 0.0f)) /* also refuses NaN */
        return node_error(g, what, "eps is %g; needs eps >= 0 (x %s)", (double)eps,
                          node_desc(nx, d.a, sizeof d.a));
    int64_t n_last = nx->shape[nx->ndim - 1];
    if (w != PLINTH_NODE_INVALID) {
        const graph_node *nw = graph_arg(g, what, "w", w);
        if (!nw || !need_float(g, what, "w", nw))
            return PLINTH_NODE_INVALID;
        if (nw->ndim != 1 || nw->shape[0] != n_last)
            return node_error(g, what, "w is %s; needs [%lld], the last dim of x %s",
                              node_desc(nw, d.b, sizeof d.b), (long long)n_last,
                              node_desc(nx, d.a, sizeof d.a));
    }
    graph_node n = op_node(PLINTH_OP_RMS_NORM, nx->dtype, nx->ndim, nx->shape);
    n.n_in = w != PLINTH_NODE_INVALID ? 2 : 1;
    n.in[0] = x;
    n.in[1] = w; /* PLINTH_NODE_INVALID when there is none */
    n.attrs.rms_norm.eps = eps;
    return finish(g, &n);
}

plinth_node plinth_softmax(plinth_graph *g, plinth_node x, plinth_node mask, float scale)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const char *what = "softmax";
    const graph_node *nx = graph_arg(g, what, "x", x);
    if (!nx || !need_float(g, what, "x", nx))
        return PLINTH_NODE_INVALID;
    if (mask != PLINTH_NODE_INVALID) {
        const graph_node *nm = graph_arg(g, what, "mask", mask);
        if (!nm || !need_float(g, what, "mask", nm))
            return PLINTH_NODE_INVALID;
        /* The mask is added to x, never the other way: broadcasting the
         * pair must give x's own shape back. */
        int64_t shape[PLINTH_MAX_DIMS];
        int ndim;
        bool ok = broadcast(nx->shape, nx->ndim, nm->shape, nm->ndim, shape, &ndim) &&
                  ndim == nx->ndim && memcmp(shape, nx->shape, (size_t)ndim * sizeof *shape) == 0;
        if (!ok) {
            descs d;
            return node_error(g, what, "mask %s does not broadcast to x %s",
                              shape_str(nm->shape, nm->ndim, d.b, sizeof d.b),
                              shape_str(nx->shape, nx->ndim, d.a, sizeof d.a));
        }
    }
    graph_node n = op_node(PLINTH_OP_SOFTMAX, nx->dtype, nx->ndim, nx->shape);
    n.n_in = mask != PLINTH_NODE_INVALID ? 2 : 1;
    n.in[0] = x;
    n.in[1] = mask;
    n.attrs.softmax.scale = scale;
    return finish(g, &n);
}

/* ------------------------------------------------------------- matmul --- */

plinth_node plinth_matmul(plinth_graph *g, plinth_node a, plinth_node b, bool transpose_b)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const char *what = "matmul";
    const graph_node *in[2];
    if (!fetch(g, what, 2, (const char *const[]){"a", "b"}, (plinth_node[]){a, b}, in))
        return PLINTH_NODE_INVALID;
    const graph_node *na = in[0], *nb = in[1];
    if (!need_float(g, what, "a", na) || !need_float_or_block(g, what, "b", nb))
        return PLINTH_NODE_INVALID;
    descs d;
    if (na->ndim < 2 || nb->ndim < 2)
        return node_error(g, what, "a %s and b %s must both have rank >= 2",
                          shape_str(na->shape, na->ndim, d.a, sizeof d.a),
                          shape_str(nb->shape, nb->ndim, d.b, sizeof d.b));
    int64_t m = na->shape[na->ndim - 2], ka = na->shape[na->ndim - 1];
    int64_t kb = nb->shape[nb->ndim - (transpose_b ? 1 : 2)];
    int64_t nn = nb->shape[nb->ndim - (transpose_b ? 2 : 1)];
    if (ka != kb)
        return node_error(g, what, "inner dims differ: a %s (K=%lld), b %s%s (K=%lld)",
                          shape_str(na->shape, na->ndim, d.a, sizeof d.a), (long long)ka,
                          shape_str(nb->shape, nb->ndim, d.b, sizeof d.b),
                          transpose_b ? " transposed" : "", (long long)kb);
    int64_t shape[PLINTH_MAX_DIMS];
    int nbatch;
    if (!broadcast(na->shape, na->ndim - 2, nb->shape, nb->ndim - 2, shape, &nbatch))
        return node_error(g, what, "batch dims of a %s and b %s do not broadcast",
                          shape_str(na->shape, na->ndim, d.a, sizeof d.a),
                          shape_str(nb->shape, nb->ndim, d.b, sizeof d.b));
    shape[nbatch] = m;
    shape[nbatch + 1] = nn;
    graph_node n = op_node(PLINTH_OP_MATMUL, na->dtype, nbatch + 2, shape);
    n.n_in = 2;
    n.in[0] = a;
    n.in[1] = b;
    n.attrs.matmul.transpose_b = transpose_b ? 1 : 0;
    return finish(g, &n);
}

/* --------------------------------------------------------------- rows --- */

plinth_node plinth_get_rows(plinth_graph *g, plinth_node table, plinth_node idx,
                            plinth_dtype out_dtype)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const char *what = "get_rows";
    const graph_node *in[2];
    if (!fetch(g, what, 2, (const char *const[]){"table", "idx"}, (plinth_node[]){table, idx},
               in))
        return PLINTH_NODE_INVALID;
    const graph_node *nt = in[0], *ni = in[1];
    descs d;
    if (nt->ndim != 2)
        return node_error(g, what, "table is %s; needs rank 2 [R, C]",
                          node_desc(nt, d.a, sizeof d.a));
    if (!need_i32_vector(g, what, "idx", ni, -1, NULL))
        return PLINTH_NODE_INVALID;
    /* Widening a half-precision table to f32 is free in the kernel and
     * saves a cast of every row; any other conversion is a cast's job. */
    if (dtype_is_block(nt->dtype) && out_dtype != PLINTH_F32)
        return node_error(g, what, "out dtype %s (%d) for table %s; a block table gives f32 "
                          "rows (dequantised)", plinth_dtype_name(out_dtype), (int)out_dtype,
                          node_desc(nt, d.a, sizeof d.a));
    bool widen = out_dtype == PLINTH_F32 && (nt->dtype == PLINTH_F16 ||
                                             nt->dtype == PLINTH_BF16 || dtype_is_block(nt->dtype));
    if (!dtype_valid(out_dtype) || ((int32_t)out_dtype != nt->dtype && !widen))
        return node_error(g, what, "out dtype %s (%d) for table %s; needs %s%s",
                          plinth_dtype_name(out_dtype), (int)out_dtype,
                          node_desc(nt, d.a, sizeof d.a),
                          plinth_dtype_name((plinth_dtype)nt->dtype),
                          dtype_is_float(nt->dtype) && nt->dtype != PLINTH_F32 ? " or f32" : "");
    int64_t shape[2] = {ni->shape[0], nt->shape[1]};
    graph_node n = op_node(PLINTH_OP_GET_ROWS, out_dtype, 2, shape);
    n.n_in = 2;
    n.in[0] = table;
    n.in[1] = idx;
    n.attrs.get_rows.dtype = out_dtype;
    return finish(g, &n);
}

plinth_node plinth_set_rows(plinth_graph *g, plinth_node state, plinth_node src, plinth_node idx)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const char *what = "set_rows";
    const graph_node *in[3];
    if (!fetch(g, what, 3, (const char *const[]){"state", "src", "idx"},
               (plinth_node[]){state, src, idx}, in))
        return PLINTH_NODE_INVALID;
    const graph_node *ns = in[0], *nsrc = in[1], *ni = in[2];
    descs d;
    /* The write lands in the state's own memory, so only the state itself
     * (or an earlier write to it) can be the target. */
    bool is_state = ns->kind == PLINTH_NODE_STATE ||
                    (ns->kind == PLINTH_NODE_OP && ns->op == PLINTH_OP_SET_ROWS);
    if (!is_state)
        return node_error(g, what, "target node %d (%s) is not a state or a set_rows result",
                          (int)state, node_desc(ns, d.a, sizeof d.a));
    if (ns->ndim != 2)
        return node_error(g, what, "state is %s; needs rank 2 [R, C]",
                          node_desc(ns, d.a, sizeof d.a));
    if (nsrc->ndim != 2 || nsrc->shape[1] != ns->shape[1])
        return node_error(g, what, "src is %s; needs [N, %lld] for state %s",
                          node_desc(nsrc, d.b, sizeof d.b), (long long)ns->shape[1],
                          node_desc(ns, d.a, sizeof d.a));
    bool narrow = nsrc->dtype == PLINTH_F32 &&
                  (ns->dtype == PLINTH_F16 || ns->dtype == PLINTH_BF16);
    if (nsrc->dtype != ns->dtype && !narrow)
        return node_error(g, what, "src %s cannot be written into state %s",
                          node_desc(nsrc, d.b, sizeof d.b), node_desc(ns, d.a, sizeof d.a));
    if (!need_i32_vector(g, what, "idx", ni, nsrc->shape[0], "N, the rows of src"))
        return PLINTH_NODE_INVALID;
    graph_node n = op_node(PLINTH_OP_SET_ROWS, ns->dtype, 2, ns->shape);
    n.n_in = 3;
    n.in[0] = state;
    n.in[1] = src;
    n.in[2] = idx;
    return finish(g, &n);
}

/* ------------------------------------------------- rope and attention --- */

/* rope and rope_factors: one set of checks (rope has no factors). */
static plinth_node rope_node(plinth_graph *g, plinth_op op, plinth_node x, plinth_node pos,
                             plinth_node factors, float base, int n_dims)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const bool scaled = op == PLINTH_OP_ROPE_FACTORS;
    const char *what = plinth_op_name(op);
    const graph_node *in[3];
    if (!fetch(g, what, scaled ? 3 : 2, (const char *const[]){"x", "pos", "factors"},
               (plinth_node[]){x, pos, factors}, in))
        return PLINTH_NODE_INVALID;
    const graph_node *nx = in[0], *np = in[1];
    if (!need_float(g, what, "x", nx))
        return PLINTH_NODE_INVALID;
    descs d;
    if (nx->ndim != 3 && nx->ndim != 4)
        return node_error(g, what, "x is %s; needs [T, H, D] or [B, T, H, D]",
                          node_desc(nx, d.a, sizeof d.a));
    int64_t t = nx->shape[nx->ndim - 3], dim = nx->shape[nx->ndim - 1];
    if (!need_i32_vector(g, what, "pos", np, t, "T of x"))
        return PLINTH_NODE_INVALID;
    if (n_dims <= 0 || n_dims % 2 != 0 || n_dims > dim)
        return node_error(g, what, "n_dims %d must be even and in 1..%lld (D of x %s)", n_dims,
                          (long long)dim, node_desc(nx, d.a, sizeof d.a));
    if (!(base > 0.0f))
        return node_error(g, what, "base is %g; needs base > 0", (double)base);
    if (scaled && (in[2]->dtype != PLINTH_F32 || in[2]->ndim != 1 ||
                   in[2]->shape[0] != n_dims / 2))
        return node_error(g, what, "factors is %s; needs f32 [%d] (n_dims / 2)",
                          node_desc(in[2], d.b, sizeof d.b), n_dims / 2);
    graph_node n = op_node(op, nx->dtype, nx->ndim, nx->shape);
    n.n_in = scaled ? 3 : 2;
    n.in[0] = x;
    n.in[1] = pos;
    if (scaled)
        n.in[2] = factors;
    n.attrs.rope.base = base;
    n.attrs.rope.n_dims = n_dims;
    return finish(g, &n);
}

plinth_node plinth_rope(plinth_graph *g, plinth_node x, plinth_node pos, float base, int n_dims)
{
    return rope_node(g, PLINTH_OP_ROPE, x, pos, PLINTH_NODE_INVALID, base, n_dims);
}

plinth_node plinth_rope_factors(plinth_graph *g, plinth_node x, plinth_node pos,
                                plinth_node factors, float base, int n_dims)
{
    return rope_node(g, PLINTH_OP_ROPE_FACTORS, x, pos, factors, base, n_dims);
}

plinth_node plinth_attention(plinth_graph *g, plinth_node q, plinth_node k, plinth_node v,
                             plinth_node pos, plinth_node kv_len, float scale, int window)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const char *what = "attention";
    const graph_node *in[5];
    if (!fetch(g, what, 5, (const char *const[]){"q", "k", "v", "pos", "kv_len"},
               (plinth_node[]){q, k, v, pos, kv_len}, in))
        return PLINTH_NODE_INVALID;
    const graph_node *nq = in[0], *nk = in[1], *nv = in[2];
    if (!need_float(g, what, "q", nq) || !need_float(g, what, "k", nk) ||
        !need_float(g, what, "v", nv))
        return PLINTH_NODE_INVALID;
    descs d;
    if (nq->ndim != 3)
        return node_error(g, what, "q is %s; needs [T, Hq, D]", node_desc(nq, d.a, sizeof d.a));
    if (nk->ndim != 3 || nv->ndim != 3 || memcmp(nk->shape, nv->shape, 3 * sizeof(int64_t)))
        return node_error(g, what, "k %s and v %s must both be [S, Hkv, D]",
                          shape_str(nk->shape, nk->ndim, d.b, sizeof d.b),
                          shape_str(nv->shape, nv->ndim, d.c, sizeof d.c));
    int64_t t = nq->shape[0], hq = nq->shape[1], hkv = nk->shape[1];
    if (nk->shape[2] != nq->shape[2])
        return node_error(g, what, "head dims differ: q %s, k %s",
                          shape_str(nq->shape, 3, d.a, sizeof d.a),
                          shape_str(nk->shape, 3, d.b, sizeof d.b));
    if (hkv <= 0 || hq % hkv != 0)
        return node_error(g, what, "q heads (%lld) are not a multiple of k heads (%lld): "
                          "q %s, k %s", (long long)hq, (long long)hkv,
                          shape_str(nq->shape, 3, d.a, sizeof d.a),
                          shape_str(nk->shape, 3, d.b, sizeof d.b));
    if (!need_i32_vector(g, what, "pos", in[3], t, "T of q") ||
        !need_i32_vector(g, what, "kv_len", in[4], 1, "one value"))
        return PLINTH_NODE_INVALID;
    if (window < 0)
        return node_error(g, what, "window is %d; needs >= 0 (0: no window)", window);
    graph_node n = op_node(PLINTH_OP_ATTENTION, nq->dtype, 3, nq->shape);
    n.n_in = 5;
    n.in[0] = q;
    n.in[1] = k;
    n.in[2] = v;
    n.in[3] = pos;
    n.in[4] = kv_len;
    n.attrs.attention.scale = scale;
    n.attrs.attention.window = window;
    return finish(g, &n);
}

/* ------------------------------------------ cast, copy, concat, argmax --- */

plinth_node plinth_cast(plinth_graph *g, plinth_node x, plinth_dtype dtype)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const graph_node *nx = graph_arg(g, "cast", "x", x);
    if (!nx)
        return PLINTH_NODE_INVALID;
    char a[160];
    if (!dtype_valid(dtype))
        return node_error(g, "cast", "dtype %d is not a dtype (x %s)", (int)dtype,
                          node_desc(nx, a, sizeof a));
    /* A block dtype is dequantised: to a float dtype only. */
    if (dtype_is_block(nx->dtype) && !dtype_is_float(dtype))
        return node_error(g, "cast", "x %s is a block dtype: it casts to f32, f16 or bf16 "
                          "(dequantised), not to %s", node_desc(nx, a, sizeof a),
                          plinth_dtype_name(dtype));
    graph_node n = op_node(PLINTH_OP_CAST, dtype, nx->ndim, nx->shape);
    n.n_in = 1;
    n.in[0] = x;
    n.attrs.cast.dtype = dtype;
    return finish(g, &n);
}

plinth_node plinth_copy(plinth_graph *g, plinth_node x)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const graph_node *nx = graph_arg(g, "copy", "x", x);
    if (!nx)
        return PLINTH_NODE_INVALID;
    graph_node n = op_node(PLINTH_OP_COPY, nx->dtype, nx->ndim, nx->shape);
    n.n_in = 1;
    n.in[0] = x;
    return finish(g, &n);
}

plinth_node plinth_concat(plinth_graph *g, plinth_node a, plinth_node b, int axis)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const char *what = "concat";
    const graph_node *in[2];
    if (!fetch(g, what, 2, (const char *const[]){"a", "b"}, (plinth_node[]){a, b}, in))
        return PLINTH_NODE_INVALID;
    const graph_node *na = in[0], *nb = in[1];
    descs d;
    node_desc(na, d.a, sizeof d.a);
    node_desc(nb, d.b, sizeof d.b);
    if (na->dtype != nb->dtype || na->ndim != nb->ndim)
        return node_error(g, what, "a %s and b %s differ in dtype or rank", d.a, d.b);
    int ax = axis < 0 ? axis + na->ndim : axis;
    if (ax < 0 || ax >= na->ndim)
        return node_error(g, what, "axis %d is outside a %s", axis, d.a);
    for (int i = 0; i < na->ndim; i++)
        if (i != ax && na->shape[i] != nb->shape[i])
            return node_error(g, what, "a %s and b %s differ in dim %d (axis is %d)", d.a, d.b,
                              i, ax);
    graph_node n = op_node(PLINTH_OP_CONCAT, na->dtype, na->ndim, na->shape);
    n.shape[ax] = na->shape[ax] + nb->shape[ax];
    n.n_in = 2;
    n.in[0] = a;
    n.in[1] = b;
    n.attrs.concat.axis = ax; /* normalised: kernels never see a negative axis */
    return finish(g, &n);
}

plinth_node plinth_argmax(plinth_graph *g, plinth_node x)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const graph_node *nx = graph_arg(g, "argmax", "x", x);
    if (!nx || !need_float(g, "argmax", "x", nx))
        return PLINTH_NODE_INVALID;
    int64_t one = 1;
    bool vector = nx->ndim == 1;
    graph_node n = op_node(PLINTH_OP_ARGMAX, PLINTH_I32, vector ? 1 : nx->ndim - 1,
                           vector ? &one : nx->shape);
    n.n_in = 1;
    n.in[0] = x;
    return finish(g, &n);
}

/* ---------------------------------------------------------- by number --- */

plinth_node plinth_op_node(plinth_graph *g, plinth_op op, const plinth_node *in, uint32_t n_in,
                           const plinth_attrs *attrs)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    uint32_t lo = 0, hi = 0;
    if (!plinth_op_arity(op, &lo, &hi))
        return graph_error(g, PLINTH_ERR_INVALID, "op number %d is not an op", (int)op);
    if (op == PLINTH_OP_SET_ROWS)
        lo = hi = 3; /* the state written, then the kernel's two inputs */
    if (n_in < lo || n_in > hi || (n_in > 0 && !in) || !attrs)
        return graph_error(g, PLINTH_ERR_INVALID, "%s takes %u to %u inputs and attrs; got %u%s",
                           plinth_op_name(op), lo, hi, n_in, attrs ? "" : " and no attrs");
    const plinth_node opt = n_in > 1 ? in[1] : PLINTH_NODE_INVALID;
    switch (op) {
    case PLINTH_OP_ADD: return plinth_add(g, in[0], in[1]);
    case PLINTH_OP_SUB: return plinth_sub(g, in[0], in[1]);
    case PLINTH_OP_MUL: return plinth_mul(g, in[0], in[1]);
    case PLINTH_OP_DIV: return plinth_div(g, in[0], in[1]);
    case PLINTH_OP_SCALE: return plinth_scale(g, in[0], attrs->scale.s);
    case PLINTH_OP_GELU_TANH: return plinth_gelu_tanh(g, in[0]);
    case PLINTH_OP_SILU: return plinth_silu(g, in[0]);
    case PLINTH_OP_RMS_NORM: return plinth_rms_norm(g, in[0], opt, attrs->rms_norm.eps);
    case PLINTH_OP_SOFTMAX: return plinth_softmax(g, in[0], opt, attrs->softmax.scale);
    case PLINTH_OP_MATMUL:
        return plinth_matmul(g, in[0], in[1], attrs->matmul.transpose_b != 0);
    case PLINTH_OP_GET_ROWS:
        return plinth_get_rows(g, in[0], in[1], (plinth_dtype)attrs->get_rows.dtype);
    case PLINTH_OP_SET_ROWS: return plinth_set_rows(g, in[0], in[1], in[2]);
    case PLINTH_OP_ROPE:
        return plinth_rope(g, in[0], in[1], attrs->rope.base, attrs->rope.n_dims);
    case PLINTH_OP_ATTENTION:
        return plinth_attention(g, in[0], in[1], in[2], in[3], in[4], attrs->attention.scale,
                                attrs->attention.window);
    case PLINTH_OP_CAST: return plinth_cast(g, in[0], (plinth_dtype)attrs->cast.dtype);
    case PLINTH_OP_COPY: return plinth_copy(g, in[0]);
    case PLINTH_OP_CONCAT: return plinth_concat(g, in[0], in[1], attrs->concat.axis);
    case PLINTH_OP_ARGMAX: return plinth_argmax(g, in[0]);
    case PLINTH_OP_ROPE_FACTORS:
        return plinth_rope_factors(g, in[0], in[1], in[2], attrs->rope.base,
                                   attrs->rope.n_dims);
    default: break;
    }
    return graph_error(g, PLINTH_ERR_INTERNAL, "op %s has no builder", plinth_op_name(op));
}
