/*
 * graph_build.h — what graph.c (leaves, views) and shape.c (op builders)
 * share: appending a node, recording the graph's sticky first error, and
 * fetching argument nodes. Internal to core/; never installed.
 *
 * The sticky-error rule lives here: a builder returns PLINTH_NODE_INVALID
 * without touching the message once g->status is set, and the first
 * failure of a graph in a good state records its status and message.
 */
#ifndef PLINTH_GRAPH_BUILD_H
#define PLINTH_GRAPH_BUILD_H

#include "internal.h"

/* True if builders may proceed: a graph that has not failed yet. */
static inline bool graph_usable(const plinth_graph *g)
{
    return g && g->status == PLINTH_OK;
}

/* Records `status` and the message as the graph's first error (a no-op if
 * one is already recorded) and returns PLINTH_NODE_INVALID. */
plinth_node graph_error(plinth_graph *g, plinth_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* graph_error(PLINTH_ERR_INVALID) with the prefix "<what> (node N): ", N
 * being the index the failed node would have had. */
plinth_node node_error(plinth_graph *g, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The node `n` as argument `role` of builder `what`, or NULL after
 * recording why (out of range, or PLINTH_NODE_INVALID). Call only on a
 * usable graph. The pointer is valid until the next graph_add_node. */
const graph_node *graph_arg(plinth_graph *g, const char *what, const char *role,
                            plinth_node n);

/* Appends a copy of `proto` and returns its index. Non-views get
 * contiguous strides and root = self, offset 0; views keep the strides,
 * root and offset the caller computed. On allocation failure records
 * PLINTH_ERR_NO_MEMORY and returns PLINTH_NODE_INVALID; ownership of
 * proto's name/data passes to the graph only on success. */
plinth_node graph_add_node(plinth_graph *g, const graph_node *proto);

/* A blank node of `kind`: op -1, no inputs, no name. */
graph_node graph_node_init(int32_t kind);

/* Contiguous byte strides for n's shape and dtype. */
void graph_contiguous_strides(graph_node *n);

/* "f32 [2, 3]" into buf, for messages. */
const char *node_desc(const graph_node *n, char *buf, size_t size);

static inline bool dtype_valid(int32_t dtype)
{
    return dtype >= 0 && dtype < PLINTH_DTYPE_COUNT;
}

static inline bool dtype_is_float(int32_t dtype)
{
    return dtype == PLINTH_F32 || dtype == PLINTH_F16 || dtype == PLINTH_BF16;
}

#endif /* PLINTH_GRAPH_BUILD_H */
