/* STUB: to be replaced by its owner. Every function fails. */
#include "internal.h"

plinth_node plinth_add(plinth_graph *g, plinth_node a, plinth_node b)
{ (void)g;(void)a;(void)b; return PLINTH_NODE_INVALID; }

plinth_node plinth_sub(plinth_graph *g, plinth_node a, plinth_node b)
{ (void)g;(void)a;(void)b; return PLINTH_NODE_INVALID; }

plinth_node plinth_mul(plinth_graph *g, plinth_node a, plinth_node b)
{ (void)g;(void)a;(void)b; return PLINTH_NODE_INVALID; }

plinth_node plinth_div(plinth_graph *g, plinth_node a, plinth_node b)
{ (void)g;(void)a;(void)b; return PLINTH_NODE_INVALID; }

plinth_node plinth_scale(plinth_graph *g, plinth_node x, float s)
{ (void)g;(void)x;(void)s; return PLINTH_NODE_INVALID; }

plinth_node plinth_gelu_tanh(plinth_graph *g, plinth_node x)
{ (void)g;(void)x; return PLINTH_NODE_INVALID; }

plinth_node plinth_silu(plinth_graph *g, plinth_node x)
{ (void)g;(void)x; return PLINTH_NODE_INVALID; }

plinth_node plinth_rms_norm(plinth_graph *g, plinth_node x, plinth_node w, float eps)
{ (void)g;(void)x;(void)w;(void)eps; return PLINTH_NODE_INVALID; }

plinth_node plinth_softmax(plinth_graph *g, plinth_node x, plinth_node mask, float scale)
{ (void)g;(void)x;(void)mask;(void)scale; return PLINTH_NODE_INVALID; }

plinth_node plinth_matmul(plinth_graph *g, plinth_node a, plinth_node b, bool transpose_b)
{ (void)g;(void)a;(void)b;(void)transpose_b; return PLINTH_NODE_INVALID; }

plinth_node plinth_get_rows(plinth_graph *g, plinth_node table, plinth_node idx, plinth_dtype out_dtype)
{ (void)g;(void)table;(void)idx;(void)out_dtype; return PLINTH_NODE_INVALID; }

plinth_node plinth_set_rows(plinth_graph *g, plinth_node state, plinth_node src, plinth_node idx)
{ (void)g;(void)state;(void)src;(void)idx; return PLINTH_NODE_INVALID; }

plinth_node plinth_rope(plinth_graph *g, plinth_node x, plinth_node pos, float base, int n_dims)
{ (void)g;(void)x;(void)pos;(void)base;(void)n_dims; return PLINTH_NODE_INVALID; }

plinth_node plinth_attention(plinth_graph *g, plinth_node q, plinth_node k, plinth_node v, plinth_node pos, plinth_node kv_len, float scale, int window)
{ (void)g;(void)q;(void)k;(void)v;(void)pos;(void)kv_len;(void)scale;(void)window; return PLINTH_NODE_INVALID; }

plinth_node plinth_cast(plinth_graph *g, plinth_node x, plinth_dtype dtype)
{ (void)g;(void)x;(void)dtype; return PLINTH_NODE_INVALID; }

plinth_node plinth_copy(plinth_graph *g, plinth_node x)
{ (void)g;(void)x; return PLINTH_NODE_INVALID; }

plinth_node plinth_concat(plinth_graph *g, plinth_node a, plinth_node b, int axis)
{ (void)g;(void)a;(void)b;(void)axis; return PLINTH_NODE_INVALID; }

plinth_node plinth_argmax(plinth_graph *g, plinth_node x)
{ (void)g;(void)x; return PLINTH_NODE_INVALID; }

