/*
 * graph.c — the graph object and its nodes that are not computations.
 *
 * Sections: node storage and sticky errors (shared with shape.c through
 * graph_build.h); graph lifetime; leaves (input, param, constant, state)
 * and outputs; views (reshape, permute, transpose, slice); inspection.
 *
 * Nodes live in one growing array and are named by their index, so the
 * creation order is a topological order: a builder can only refer to nodes
 * that already exist.
 */
#include "graph_build.h"
#include "plinth_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Leaves and reshapes may not describe more bytes than this, so that every
 * size computed later (bytes, offsets, strides) fits in an int64_t. */
#define MAX_TENSOR_BYTES PLINTH_MAX_TENSOR_BYTES

/* ------------------------------------------- node storage and errors --- */

plinth_node graph_error(plinth_graph *g, plinth_status status, const char *fmt, ...)
{
    if (!g || g->status != PLINTH_OK)
        return PLINTH_NODE_INVALID; /* keep the first message */
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g->status = status;
    ctx_error(g->ctx, status, "%s", msg);
    return PLINTH_NODE_INVALID;
}

plinth_node node_error(plinth_graph *g, const char *what, const char *fmt, ...)
{
    if (!g || g->status != PLINTH_OK)
        return PLINTH_NODE_INVALID;
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return graph_error(g, PLINTH_ERR_INVALID, "%s (node %u): %s", what, g->n_nodes, msg);
}

const graph_node *graph_arg(plinth_graph *g, const char *what, const char *role,
                            plinth_node n)
{
    if (n < 0 || (uint32_t)n >= g->n_nodes) {
        node_error(g, what, "%s is node %d, which is not a node of this graph (%u nodes)",
                   role, (int)n, g->n_nodes);
        return NULL;
    }
    return &g->nodes[n];
}

graph_node graph_node_init(int32_t kind)
{
    graph_node n;
    memset(&n, 0, sizeof n);
    n.kind = kind;
    n.op = -1;
    n.root = PLINTH_NODE_INVALID;
    for (int i = 0; i < PLINTH_MAX_INPUTS + 1; i++)
        n.in[i] = PLINTH_NODE_INVALID;
    return n;
}

void graph_contiguous_strides(graph_node *n)
{
    contiguous_strides(n->dtype, n->ndim, n->shape, n->stride);
    for (int i = n->ndim; i < PLINTH_MAX_DIMS; i++)
        n->stride[i] = 0;
}

const char *node_desc(const graph_node *n, char *buf, size_t size)
{
    char shape[128];
    snprintf(buf, size, "%s %s", plinth_dtype_name((plinth_dtype)n->dtype),
             shape_str(n->shape, n->ndim, shape, sizeof shape));
    return buf;
}

plinth_node graph_add_node(plinth_graph *g, const graph_node *proto)
{
    if (g->n_nodes == g->cap_nodes) {
        bool grown = ctx_grow(g->ctx, (void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1,
                              sizeof *g->nodes);
        if (!grown)
            return graph_error(g, PLINTH_ERR_NO_MEMORY, "out of memory adding node %u",
                               g->n_nodes);
    }
    plinth_node id = (plinth_node)g->n_nodes;
    graph_node *n = &g->nodes[id];
    *n = *proto;
    n->pin = g->pin;
    if (n->kind != PLINTH_NODE_VIEW) {
        graph_contiguous_strides(n);
        n->root = id;
        n->offset = 0;
    }
    g->n_nodes++;
    return id;
}

/* ---------------------------------------------------- graph lifetime --- */

plinth_status plinth_graph_create(plinth_context *ctx, plinth_graph **out)
{
    if (out)
        *out = NULL;
    if (!ctx || !out)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "plinth_graph_create: %s is NULL",
                         ctx ? "out" : "ctx");
    plinth_graph *g = ctx_calloc(ctx, 1, sizeof *g);
    if (!g)
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "out of memory creating a graph");
    g->ctx = ctx;
    ctx_retain(ctx);
    g->status = PLINTH_OK;
    g->pin = -1;
    *out = g;
    return PLINTH_OK;
}

void plinth_graph_destroy(plinth_graph *g)
{
    if (!g)
        return;
    plinth_context *ctx = g->ctx;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        ctx_free(ctx, g->nodes[i].name);
        ctx_free(ctx, g->nodes[i].data);
        ctx_free(ctx, g->nodes[i].output_name);
    }
    ctx_free(ctx, g->nodes);
    ctx_free(ctx, g);
    ctx_release(ctx);
}

plinth_status plinth_graph_status(const plinth_graph *g)
{
    return g ? g->status : PLINTH_ERR_INVALID;
}

uint32_t plinth_graph_node_count(const plinth_graph *g)
{
    return g ? g->n_nodes : 0;
}

/* ------------------------------------------------- leaves and outputs --- */

/* Fills n's dtype and shape from a user's description, or records why it
 * is not one. `label` is e.g. "param 'model.norm.weight'". */
static bool leaf_shape(plinth_graph *g, const char *label, plinth_dtype dtype, int ndim,
                       const int64_t *shape, graph_node *n)
{
    if (!dtype_valid(dtype)) {
        graph_error(g, PLINTH_ERR_INVALID, "%s: dtype %d is not a dtype", label, (int)dtype);
        return false;
    }
    if (ndim < 0 || ndim > PLINTH_MAX_DIMS) {
        graph_error(g, PLINTH_ERR_INVALID, "%s: ndim %d is outside 0..%d", label, ndim,
                    PLINTH_MAX_DIMS);
        return false;
    }
    if (ndim > 0 && !shape) {
        graph_error(g, PLINTH_ERR_INVALID, "%s: shape is NULL with ndim %d", label, ndim);
        return false;
    }
    n->dtype = dtype;
    n->ndim = ndim ? ndim : 1; /* a scalar is [1] */
    n->shape[0] = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            graph_error(g, PLINTH_ERR_INVALID, "%s: dim %d is %lld", label, i,
                        (long long)shape[i]);
            return false;
        }
        n->shape[i] = shape[i];
    }
    char buf[128];
    const int64_t per = (int64_t)plinth_dtype_block_elems(dtype);
    if (n->shape[n->ndim - 1] % per != 0) {
        graph_error(g, PLINTH_ERR_INVALID,
                    "%s: %s %s: the last dim must be a whole number of %s blocks (%lld "
                    "elements each)",
                    label, plinth_dtype_name(dtype), shape_str(n->shape, n->ndim, buf, sizeof buf),
                    plinth_dtype_name(dtype), (long long)per);
        return false;
    }
    /* An empty tensor is fine however large its other dims; otherwise the
     * byte size must stay far from overflow. */
    uint64_t bytes = 0;
    if (!tensor_bytes(dtype, n->ndim, n->shape, &bytes) || bytes > MAX_TENSOR_BYTES) {
        graph_error(g, PLINTH_ERR_INVALID, "%s: shape %s is too large", label,
                    shape_str(n->shape, n->ndim, buf, sizeof buf));
        return false;
    }
    return true;
}

static plinth_node add_leaf(plinth_graph *g, int32_t kind, const char *name,
                            plinth_dtype dtype, int ndim, const int64_t *shape,
                            const void *data)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const char *what = node_kind_name(kind);
    if (!name || !name[0])
        return graph_error(g, PLINTH_ERR_INVALID, "%s (node %u): the name is %s", what,
                           g->n_nodes, name ? "empty" : "NULL");
    char label[300];
    snprintf(label, sizeof label, "%s '%s'", what, name);
    /* Names identify params and states in the state dict and inputs at run
     * time: a second leaf of a kind with one name would be ambiguous. */
    for (uint32_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].kind == kind && strcmp(g->nodes[i].name, name) == 0)
            return graph_error(g, PLINTH_ERR_INVALID,
                               "%s: the name is already used by node %u", label, i);
    graph_node n = graph_node_init(kind);
    if (!leaf_shape(g, label, dtype, ndim, shape, &n))
        return PLINTH_NODE_INVALID;
    uint64_t bytes = node_bytes(&n);
    if (kind == PLINTH_NODE_CONSTANT) {
        if (!data && bytes)
            return graph_error(g, PLINTH_ERR_INVALID, "%s: data is NULL", label);
        n.data = ctx_malloc(g->ctx, bytes);
        if (!n.data)
            return graph_error(g, PLINTH_ERR_NO_MEMORY, "%s: out of memory copying %llu bytes",
                               label, (unsigned long long)bytes);
        if (bytes)
            memcpy(n.data, data, bytes);
    }
    n.name = ctx_strdup(g->ctx, name);
    plinth_node id = n.name ? graph_add_node(g, &n) : PLINTH_NODE_INVALID;
    if (id == PLINTH_NODE_INVALID) {
        ctx_free(g->ctx, n.name);
        ctx_free(g->ctx, n.data);
        return graph_error(g, PLINTH_ERR_NO_MEMORY, "%s: out of memory", label);
    }
    return id;
}

plinth_node plinth_input(plinth_graph *g, const char *name, plinth_dtype dtype, int ndim,
                         const int64_t *shape)
{
    return add_leaf(g, PLINTH_NODE_INPUT, name, dtype, ndim, shape, NULL);
}

plinth_node plinth_param(plinth_graph *g, const char *name, plinth_dtype dtype, int ndim,
                         const int64_t *shape)
{
    return add_leaf(g, PLINTH_NODE_PARAM, name, dtype, ndim, shape, NULL);
}

plinth_node plinth_constant(plinth_graph *g, const char *name, plinth_dtype dtype, int ndim,
                            const int64_t *shape, const void *data)
{
    return add_leaf(g, PLINTH_NODE_CONSTANT, name, dtype, ndim, shape, data);
}

plinth_node plinth_state(plinth_graph *g, const char *name, plinth_dtype dtype, int ndim,
                         const int64_t *shape)
{
    /* A state is written by set_rows, and no op writes a block dtype. */
    if (graph_usable(g) && dtype_is_block(dtype))
        return graph_error(g, PLINTH_ERR_INVALID,
                           "state '%s': dtype %s is a block dtype, which is for weights only "
                           "(no op writes one)",
                           name ? name : "(null)", plinth_dtype_name(dtype));
    return add_leaf(g, PLINTH_NODE_STATE, name, dtype, ndim, shape, NULL);
}

static bool pin_ok(plinth_graph *g, int32_t backend_index, const char *what)
{
    if (backend_index >= -1 && backend_index < (int32_t)PLINTH_MAX_BACKENDS)
        return true;
    graph_error(g, PLINTH_ERR_INVALID, "%s: backend index %d is not -1 or in [0, %u)", what,
                (int)backend_index, PLINTH_MAX_BACKENDS);
    return false;
}

plinth_status plinth_graph_pin(plinth_graph *g, int32_t backend_index)
{
    if (!g)
        return PLINTH_ERR_INVALID;
    if (g->status != PLINTH_OK)
        return g->status;
    if (!pin_ok(g, backend_index, "plinth_graph_pin"))
        return g->status;
    g->pin = backend_index;
    return PLINTH_OK;
}

plinth_status plinth_graph_pin_node(plinth_graph *g, plinth_node node, int32_t backend_index)
{
    if (!g)
        return PLINTH_ERR_INVALID;
    if (g->status != PLINTH_OK)
        return g->status;
    if (node < 0 || (uint32_t)node >= g->n_nodes) {
        graph_error(g, PLINTH_ERR_INVALID, "pin: node %d is not a node of this graph (%u nodes)",
                    (int)node, g->n_nodes);
        return g->status;
    }
    if (!pin_ok(g, backend_index, "plinth_graph_pin_node"))
        return g->status;
    g->nodes[node].pin = backend_index;
    return PLINTH_OK;
}

plinth_status plinth_output(plinth_graph *g, plinth_node node, const char *name)
{
    if (!g)
        return PLINTH_ERR_INVALID;
    if (g->status != PLINTH_OK)
        return g->status;
    if (!name || !name[0]) {
        graph_error(g, PLINTH_ERR_INVALID, "output (node %d): the name is %s", (int)node,
                    name ? "empty" : "NULL");
        return g->status;
    }
    if (node < 0 || (uint32_t)node >= g->n_nodes) {
        graph_error(g, PLINTH_ERR_INVALID,
                    "output '%s': node %d is not a node of this graph (%u nodes)", name,
                    (int)node, g->n_nodes);
        return g->status;
    }
    for (uint32_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].output_name && strcmp(g->nodes[i].output_name, name) == 0) {
            graph_error(g, PLINTH_ERR_INVALID,
                        "output '%s' (node %d): the name is already the output of node %u",
                        name, (int)node, i);
            return g->status;
        }
    graph_node *n = &g->nodes[node];
    if (dtype_is_block(n->dtype)) {
        char d[160];
        graph_error(g, PLINTH_ERR_INVALID,
                    "output '%s' (node %d): %s is a block dtype, which is for weights only "
                    "(cast it to f32 to read its values)",
                    name, (int)node, node_desc(n, d, sizeof d));
        return g->status;
    }
    if (n->output_name) {
        graph_error(g, PLINTH_ERR_INVALID,
                    "output '%s' (node %d): the node is already output '%s'", name,
                    (int)node, n->output_name);
        return g->status;
    }
    n->output_name = ctx_strdup(g->ctx, name);
    if (!n->output_name) {
        graph_error(g, PLINTH_ERR_NO_MEMORY, "output '%s': out of memory", name);
        return g->status;
    }
    return PLINTH_OK;
}

/* ------------------------------------------------------------- views --- */

/* A view of `src` with its dtype: root and offset resolved through src, so
 * that a view of a view points straight at the memory's owner. The caller
 * sets shape and strides and adds to offset. */
static graph_node view_of(const graph_node *src, plinth_node src_id)
{
    graph_node v = graph_node_init(PLINTH_NODE_VIEW);
    v.dtype = src->dtype;
    v.n_in = 1;
    v.in[0] = src_id;
    v.root = src->kind == PLINTH_NODE_VIEW ? src->root : src_id;
    v.offset = src->kind == PLINTH_NODE_VIEW ? src->offset : 0;
    return v;
}

static bool axis_norm(int axis, int ndim, int *out)
{
    if (axis < 0)
        axis += ndim;
    if (axis < 0 || axis >= ndim)
        return false;
    *out = axis;
    return true;
}

plinth_node plinth_reshape(plinth_graph *g, plinth_node x, int ndim, const int64_t *shape)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const graph_node *src = graph_arg(g, "reshape", "x", x);
    if (!src)
        return PLINTH_NODE_INVALID;
    char a[160], b[128];
    if (ndim < 0 || ndim > PLINTH_MAX_DIMS)
        return node_error(g, "reshape", "ndim %d is outside 0..%d (x %s)", ndim,
                          PLINTH_MAX_DIMS, node_desc(src, a, sizeof a));
    if (ndim > 0 && !shape)
        return node_error(g, "reshape", "shape is NULL with ndim %d", ndim);
    int64_t dims[PLINTH_MAX_DIMS] = {1, 1, 1, 1};
    int infer = -1;
    uint64_t known = 1, count = 1;
    for (int i = 0; i < src->ndim; i++)
        count *= (uint64_t)src->shape[i];
    for (int i = 0; i < ndim; i++) {
        dims[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (shape[i] < 0)
            return node_error(g, "reshape", "dim %d of %s is %lld (x %s)", i,
                              shape_str(shape, ndim, b, sizeof b), (long long)shape[i],
                              node_desc(src, a, sizeof a));
        if (shape[i] && known > MAX_TENSOR_BYTES / (uint64_t)shape[i])
            return node_error(g, "reshape", "shape %s is too large",
                              shape_str(shape, ndim, b, sizeof b));
        known *= (uint64_t)shape[i];
    }
    if (infer >= 0) {
        if (known == 0 || count % known != 0)
            return node_error(g, "reshape", "cannot infer dim %d of %s from x %s", infer,
                              shape_str(shape, ndim, b, sizeof b),
                              node_desc(src, a, sizeof a));
        dims[infer] = (int64_t)(count / known);
        known = count;
    }
    if (known != count)
        return node_error(g, "reshape", "x %s has %llu elements, shape %s has %llu",
                          node_desc(src, a, sizeof a), (unsigned long long)count,
                          shape_str(dims, ndim ? ndim : 1, b, sizeof b),
                          (unsigned long long)known);
    /* A block dtype's rows are whole blocks: the new inner dim must be one
     * too (a contiguous tensor's blocks follow in element order, so any such
     * shape addresses the same bytes). */
    const int64_t per = (int64_t)plinth_dtype_block_elems(src->dtype);
    if (per > 1 && dims[(ndim ? ndim : 1) - 1] % per != 0)
        return node_error(g, "reshape", "x %s: the new last dim %lld would cut a %s block "
                          "(%lld elements); views of a block dtype keep whole blocks",
                          node_desc(src, a, sizeof a), (long long)dims[(ndim ? ndim : 1) - 1],
                          plinth_dtype_name((plinth_dtype)src->dtype), (long long)per);
    if (per > 1 && !node_is_contiguous(src))
        return node_error(g, "reshape", "x %s is a strided view of a block dtype: reshaping it "
                          "needs a copy, and no op writes a block dtype",
                          node_desc(src, a, sizeof a));
    /* A strided view cannot in general be re-viewed with new dims: make it
     * contiguous first and view the copy. */
    if (!node_is_contiguous(src)) {
        x = plinth_copy(g, x);
        if (x == PLINTH_NODE_INVALID)
            return PLINTH_NODE_INVALID;
        src = &g->nodes[x];
    }
    graph_node v = view_of(src, x);
    v.ndim = ndim ? ndim : 1;
    for (int i = 0; i < v.ndim; i++)
        v.shape[i] = dims[i];
    graph_contiguous_strides(&v);
    return graph_add_node(g, &v);
}

plinth_node plinth_permute(plinth_graph *g, plinth_node x, const int *perm)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const graph_node *src = graph_arg(g, "permute", "x", x);
    if (!src)
        return PLINTH_NODE_INVALID;
    char a[160];
    if (!perm)
        return node_error(g, "permute", "perm is NULL (x %s)", node_desc(src, a, sizeof a));
    graph_node v = view_of(src, x);
    v.ndim = src->ndim;
    bool seen[PLINTH_MAX_DIMS] = {false};
    for (int i = 0; i < src->ndim; i++) {
        int axis;
        if (!axis_norm(perm[i], src->ndim, &axis) || seen[axis]) {
            char p[64];
            int used = 0;
            p[0] = '\0';
            for (int j = 0; j < src->ndim; j++)
                used += snprintf(p + used, sizeof p - (size_t)used, j ? ", %d" : "%d", perm[j]);
            return node_error(g, "permute", "(%s) is not a permutation of the %d axes of x %s",
                              p, src->ndim, node_desc(src, a, sizeof a));
        }
        seen[axis] = true;
        v.shape[i] = src->shape[axis];
        v.stride[i] = src->stride[axis];
    }
    /* A block dtype's inner dim is its blocks: it must stay the inner dim. */
    int last = perm[src->ndim - 1] < 0 ? perm[src->ndim - 1] + src->ndim : perm[src->ndim - 1];
    if (dtype_is_block(src->dtype) && last != src->ndim - 1)
        return node_error(g, "permute", "x %s: the last axis of a block dtype holds its blocks "
                          "and must stay last (a weight [N, K] is used as it is, with "
                          "matmul's transpose_b)",
                          node_desc(src, a, sizeof a));
    return graph_add_node(g, &v);
}

plinth_node plinth_transpose(plinth_graph *g, plinth_node x)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const graph_node *src = graph_arg(g, "transpose", "x", x);
    if (!src)
        return PLINTH_NODE_INVALID;
    char a[160];
    if (src->ndim < 2)
        return node_error(g, "transpose", "x %s has rank %d, needs rank >= 2",
                          node_desc(src, a, sizeof a), src->ndim);
    int perm[PLINTH_MAX_DIMS] = {0, 1, 2, 3};
    perm[src->ndim - 2] = src->ndim - 1;
    perm[src->ndim - 1] = src->ndim - 2;
    return plinth_permute(g, x, perm);
}

plinth_node plinth_slice(plinth_graph *g, plinth_node x, int axis, int64_t start, int64_t len)
{
    if (!graph_usable(g))
        return PLINTH_NODE_INVALID;
    const graph_node *src = graph_arg(g, "slice", "x", x);
    if (!src)
        return PLINTH_NODE_INVALID;
    char a[160];
    int ax;
    if (!axis_norm(axis, src->ndim, &ax))
        return node_error(g, "slice", "axis %d is outside x %s", axis,
                          node_desc(src, a, sizeof a));
    if (start < 0 || len < 0 || start > src->shape[ax] - len)
        return node_error(g, "slice", "[%lld, %lld + %lld) is outside dim %d (%lld) of x %s",
                          (long long)start, (long long)start, (long long)len, ax,
                          (long long)src->shape[ax], node_desc(src, a, sizeof a));
    if (dtype_is_block(src->dtype) && ax == src->ndim - 1 && len != src->shape[ax])
        return node_error(g, "slice", "x %s: slicing the last dim of a block dtype would cut "
                          "its rows of blocks; only whole rows are viewed",
                          node_desc(src, a, sizeof a));
    graph_node v = view_of(src, x);
    v.ndim = src->ndim;
    for (int i = 0; i < src->ndim; i++) {
        v.shape[i] = src->shape[i];
        v.stride[i] = src->stride[i];
    }
    v.shape[ax] = len;
    v.offset += start * src->stride[ax];
    return graph_add_node(g, &v);
}

/* -------------------------------------------------------- inspection --- */

plinth_status plinth_graph_node_info(const plinth_graph *g, plinth_node node,
                                     plinth_node_info *out)
{
    if (!g || !out)
        return PLINTH_ERR_INVALID;
    if (node < 0 || (uint32_t)node >= g->n_nodes)
        return ctx_error(g->ctx, PLINTH_ERR_INVALID,
                         "node_info: node %d is not a node of this graph (%u nodes)", (int)node,
                         g->n_nodes);
    const graph_node *n = &g->nodes[node];
    plinth_node_info info = {.struct_size = sizeof info, .kind = n->kind, .op = n->op,
                             .dtype = n->dtype, .ndim = n->ndim};
    for (int i = 0; i < n->ndim; i++)
        info.shape[i] = n->shape[i];
    /* A leaf is known by its own name even when it is also an output. */
    info.name = n->name ? n->name : n->output_name;
    if (!sized_out(out, &info, sizeof info))
        return ctx_error(g->ctx, PLINTH_ERR_INVALID, "node_info: out->struct_size is %u",
                         out->struct_size);
    return PLINTH_OK;
}
