/*
 * demo_graph.c — builds the demo transformer block on the public API only,
 * the way a model builder would (models/decoder.c follows the same pattern).
 */
#include "demo_graph.h"

#include <stdio.h>

const demo_config demo_default = {
    .tokens = 64, .hidden = 640, .heads = 4, .kv_heads = 1, .head_dim = 256,
    .ffn = 2048, .context = 512,
};

static plinth_node param2(plinth_graph *g, const char *name, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    return plinth_param(g, name, PLINTH_F32, 2, shape);
}

/* Gemma's RMSNorm multiplies by (1 + w): the sum depends on a param and a
 * constant only, so the compiler folds it once at load time. */
static plinth_node norm(plinth_graph *g, plinth_node x, const char *name, int64_t n)
{
    static const float one = 1.0f;
    int64_t shape1[1] = {1};
    plinth_node w = plinth_param(g, name, PLINTH_F32, 1, &n);
    char cname[96];
    snprintf(cname, sizeof cname, "%s+1", name);
    plinth_node c = plinth_constant(g, cname, PLINTH_F32, 1, shape1, &one);
    return plinth_rms_norm(g, x, plinth_add(g, w, c), 1e-6f);
}

plinth_status demo_build(plinth_graph *g, const demo_config *c)
{
    const int64_t T = c->tokens, H = c->hidden, D = c->head_dim;
    const int64_t q_dim = c->heads * D, kv_dim = c->kv_heads * D;

    int64_t x_shape[2] = {T, H}, t_shape[1] = {T}, one[1] = {1};
    int64_t cache_shape[2] = {c->context, kv_dim};
    plinth_node x = plinth_input(g, "x", PLINTH_F32, 2, x_shape);
    plinth_node pos = plinth_input(g, "pos", PLINTH_I32, 1, t_shape);
    plinth_node kv_len = plinth_input(g, "kv_len", PLINTH_I32, 1, one);
    plinth_node k_cache = plinth_state(g, "demo.k_cache", PLINTH_F32, 2, cache_shape);
    plinth_node v_cache = plinth_state(g, "demo.v_cache", PLINTH_F32, 2, cache_shape);

    /* attention */
    plinth_node h = norm(g, x, "demo.input_layernorm.weight", H);
    plinth_node q = plinth_matmul(g, h, param2(g, "demo.q_proj.weight", q_dim, H), true);
    plinth_node k = plinth_matmul(g, h, param2(g, "demo.k_proj.weight", kv_dim, H), true);
    plinth_node v = plinth_matmul(g, h, param2(g, "demo.v_proj.weight", kv_dim, H), true);
    int64_t q3[3] = {T, c->heads, D}, kv3[3] = {T, c->kv_heads, D};
    q = norm(g, plinth_reshape(g, q, 3, q3), "demo.q_norm.weight", D);
    k = norm(g, plinth_reshape(g, k, 3, kv3), "demo.k_norm.weight", D);
    q = plinth_rope(g, q, pos, 10000.0f, (int)D);
    k = plinth_rope(g, k, pos, 10000.0f, (int)D);
    int64_t kv2[2] = {T, kv_dim}, cache3[3] = {c->context, c->kv_heads, D};
    plinth_node kc = plinth_set_rows(g, k_cache, plinth_reshape(g, k, 2, kv2), pos);
    plinth_node vc = plinth_set_rows(g, v_cache, v, pos);
    plinth_node a = plinth_attention(g, q, plinth_reshape(g, kc, 3, cache3),
                                     plinth_reshape(g, vc, 3, cache3), pos, kv_len,
                                     1.0f / 16.0f, 512);
    int64_t a2[2] = {T, q_dim};
    a = plinth_matmul(g, plinth_reshape(g, a, 2, a2), param2(g, "demo.o_proj.weight", H, q_dim),
                      true);
    x = plinth_add(g, x, norm(g, a, "demo.post_attention_layernorm.weight", H));

    /* GeGLU MLP */
    h = norm(g, x, "demo.pre_feedforward_layernorm.weight", H);
    plinth_node gate = plinth_matmul(g, h, param2(g, "demo.gate_proj.weight", c->ffn, H), true);
    plinth_node up = plinth_matmul(g, h, param2(g, "demo.up_proj.weight", c->ffn, H), true);
    plinth_node m = plinth_mul(g, plinth_gelu_tanh(g, gate), up);
    m = plinth_matmul(g, m, param2(g, "demo.down_proj.weight", H, c->ffn), true);
    x = plinth_add(g, x, norm(g, m, "demo.post_feedforward_layernorm.weight", H));

    plinth_output(g, x, "y");
    return plinth_graph_status(g);
}
