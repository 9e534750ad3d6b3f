/* STUB: to be replaced by its owner. Every function fails. */
#include "internal.h"

plinth_status plinth_graph_create(plinth_context *ctx, plinth_graph **out)
{ (void)ctx; (void)out; return PLINTH_ERR_INTERNAL; }

void plinth_graph_destroy(plinth_graph *g)
{ (void)g; }

plinth_status plinth_graph_status(const plinth_graph *g)
{ (void)g; return PLINTH_ERR_INTERNAL; }

uint32_t plinth_graph_node_count(const plinth_graph *g)
{ (void)g; return 0; }

plinth_node plinth_input(plinth_graph *g, const char *name, plinth_dtype dtype, int ndim, const int64_t *shape)
{ (void)g;(void)name;(void)dtype;(void)ndim;(void)shape; return PLINTH_NODE_INVALID; }

plinth_node plinth_param(plinth_graph *g, const char *name, plinth_dtype dtype, int ndim, const int64_t *shape)
{ (void)g;(void)name;(void)dtype;(void)ndim;(void)shape; return PLINTH_NODE_INVALID; }

plinth_node plinth_constant(plinth_graph *g, const char *name, plinth_dtype dtype, int ndim, const int64_t *shape, const void *data)
{ (void)g;(void)name;(void)dtype;(void)ndim;(void)shape;(void)data; return PLINTH_NODE_INVALID; }

plinth_node plinth_state(plinth_graph *g, const char *name, plinth_dtype dtype, int ndim, const int64_t *shape)
{ (void)g;(void)name;(void)dtype;(void)ndim;(void)shape; return PLINTH_NODE_INVALID; }

plinth_status plinth_output(plinth_graph *g, plinth_node node, const char *name)
{ (void)g;(void)node;(void)name; return PLINTH_ERR_INTERNAL; }

plinth_node plinth_reshape(plinth_graph *g, plinth_node x, int ndim, const int64_t *shape)
{ (void)g;(void)x;(void)ndim;(void)shape; return PLINTH_NODE_INVALID; }

plinth_node plinth_permute(plinth_graph *g, plinth_node x, const int *perm)
{ (void)g;(void)x;(void)perm; return PLINTH_NODE_INVALID; }

plinth_node plinth_transpose(plinth_graph *g, plinth_node x)
{ (void)g;(void)x; return PLINTH_NODE_INVALID; }

plinth_node plinth_slice(plinth_graph *g, plinth_node x, int axis, int64_t start, int64_t len)
{ (void)g;(void)x;(void)axis;(void)start;(void)len; return PLINTH_NODE_INVALID; }

plinth_status plinth_graph_node_info(const plinth_graph *g, plinth_node node, plinth_node_info *out)
{ (void)g;(void)node;(void)out; return PLINTH_ERR_INTERNAL; }

