/*
 * demo_graph.h — a built-in graph for `plinth plan` and `plinth demo`: one
 * Gemma-3-shaped transformer block (pre-norm attention with RoPE, per-head
 * q/k norms, a KV cache in state, GeGLU MLP, post-norms, residuals).
 */
#ifndef PLINTH_DEMO_GRAPH_H
#define PLINTH_DEMO_GRAPH_H

#include "plinth.h"

typedef struct demo_config {
    int64_t tokens;   /* T: tokens per run                 */
    int64_t hidden;   /* model width                       */
    int64_t heads;    /* query heads                       */
    int64_t kv_heads; /* key/value heads (GQA)             */
    int64_t head_dim;
    int64_t ffn;      /* MLP width                         */
    int64_t context;  /* KV cache rows                     */
} demo_config;

/* Gemma 3 270M's block shapes with a 64-token prompt. */
extern const demo_config demo_default;

/* Builds the block into `g`: inputs "x" [T, hidden], "pos" i32 [T],
 * "kv_len" i32 [1]; output "y" [T, hidden]; params "demo.*"; states
 * "demo.k_cache", "demo.v_cache". Returns the graph's status. */
plinth_status demo_build(plinth_graph *g, const demo_config *c);

#endif
