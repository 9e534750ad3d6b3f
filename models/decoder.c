/*
 * decoder.c — the graph of a decoder-only language model, for every
 * architecture plinth runs, on the public graph API. The forward pass
 * follows Hugging Face's modeling_gemma3 / modeling_llama / modeling_qwen2 /
 * modeling_qwen3 (f32 activations); where they differ is data
 * (lm_arch_traits), not code per model:
 *
 * Params are named as the checkpoint names them (lm_param_name: HF's, or
 * llama.cpp's in a GGUF file, whose Gemma norms already hold 1 + w), in the
 * dtype it stores them (f32, f16, bf16 or a block dtype), or f32, or
 * quantised at load.
 *
 *   x = embed[tokens]                       (* sqrt(hidden): embed_scale)
 *   per layer:
 *     h = norm(x, input_layernorm)          norm: rms(x) * w, or * (1 + w)
 *     q, k, v = h Wq (+ bq), h Wk (+ bk), h Wv (+ bv)        (qkv_bias)
 *     q, k = norm per head (q_norm, k_norm)                   (qk_norm)
 *     q, k = RoPE (base per layer; frequencies divided by the rope
 *            factors of llama3 / linear scaling)
 *     a = attention(q, K, V; attn_scale; window on sliding layers)
 *     x = x + a Wo                          (norm(a Wo, post_attention): sandwich)
 *     h = norm(x, post_attention_layernorm, or pre_feedforward: sandwich)
 *     m = (act(h Wg) * h Wu) Wd             act: gelu_tanh (gelu) or silu
 *     x = x + m                             (norm(m, post_feedforward): sandwich)
 *   logits = norm(x, norm) (embed or lm_head)^T
 */
#include "decoder.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The checkpoint's tensor `name`, or false. */
static bool tensor(const plinth_state_dict *sd, const char *name, plinth_tensor_info *out)
{
    int32_t i = sd ? plinth_state_dict_find(sd, name) : -1;
    out->struct_size = sizeof *out;
    return i >= 0 && plinth_state_dict_tensor(sd, (uint32_t)i, out) == PLINTH_OK;
}

static bool is_block(int32_t dt)
{
    return dt >= 0 && dt < PLINTH_DTYPE_COUNT && plinth_dtype_block_elems(dt) > 1;
}

int32_t decoder_block_for_rows(int32_t t, int64_t cols)
{
    if (!is_block(t))
        return -1;
    if (cols % (int64_t)plinth_dtype_block_elems(t) != 0)
        t = t == PLINTH_Q4_K ? PLINTH_Q4_0 : t == PLINTH_Q6_K ? PLINTH_Q8_0 : -1;
    return t >= 0 && cols % (int64_t)plinth_dtype_block_elems(t) == 0 ? t : -1;
}

plinth_dtype decoder_param_dtype(const decoder_builder *b, const char *name)
{
    plinth_tensor_info e;
    if (b->f32 || !tensor(b->sd, name, &e))
        return PLINTH_F32;
    /* Quantised at load: matrices, as plinth quantize writes them. */
    const int32_t q = e.ndim == 2 ? decoder_block_for_rows(b->quantize, e.shape[1]) : -1;
    if (q >= 0)
        return (plinth_dtype)q;
    if (e.dtype == PLINTH_BF16 || e.dtype == PLINTH_F16 || is_block(e.dtype))
        return (plinth_dtype)e.dtype;
    return PLINTH_F32;
}

bool decoder_last_row_only(const lm_config *c, int l, int64_t T, bool all)
{
    return !all && T > 1 && l == c->n_layers - 1;
}

/* A weight matrix [rows, cols] in the dtype the checkpoint stores. */
static plinth_node matrix(decoder_builder *b, const char *name, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    return plinth_param(b->g, name, decoder_param_dtype(b, name), 2, shape);
}

/* A vector param [n] widened to f32 (folded at load). */
static plinth_node vector(decoder_builder *b, const char *name, int64_t n)
{
    plinth_dtype dt = decoder_param_dtype(b, name);
    plinth_node w = plinth_param(b->g, name, dt, 1, &n);
    return dt == PLINTH_F32 ? w : plinth_cast(b->g, w, PLINTH_F32);
}

/* RMSNorm over the last dim: x * rsqrt(mean(x^2) + eps) * w, or * (1 + w)
 * for Gemma (1 + w depends on a param and a constant only: folded). */
static plinth_node norm(decoder_builder *b, plinth_node x, const char *name, int64_t n)
{
    plinth_node w = vector(b, name, n);
    if (b->c->traits->norm_plus_one && !b->c->gguf) /* a GGUF file holds 1 + w */
        w = plinth_add(b->g, w, b->one);
    return plinth_rms_norm(b->g, x, w, b->c->eps);
}

/* x [T, rows-of-W] = h W^T (+ bias). */
static plinth_node project(decoder_builder *b, plinth_node h, const char *w, const char *bias,
                           int64_t rows, int64_t cols)
{
    plinth_node y = plinth_matmul(b->g, h, matrix(b, w, rows, cols), true);
    return bias ? plinth_add(b->g, y, vector(b, bias, rows)) : y;
}

/* RoPE of x [T, H, D] on layer l: plain, or with the frequencies divided
 * by the config's rope factors (decoder_build's constants). */
static plinth_node rope(decoder_builder *b, plinth_node x, plinth_node pos, int l)
{
    const lm_config *c = b->c;
    const bool sliding = c->sliding[l];
    const float base = sliding ? c->rope_local_base : c->rope_theta;
    const plinth_node f = b->factors[sliding];
    return f == PLINTH_NODE_INVALID ? plinth_rope(b->g, x, pos, base, c->head_dim)
                                    : plinth_rope_factors(b->g, x, pos, f, base, c->head_dim);
}

/* One transformer layer over x [T, hidden]. With `last` only the last row
 * leaves the layer: K and V are still computed (and cached) for every row,
 * but the query, o_proj and the MLP run for the last position alone. */
static plinth_node layer(decoder_builder *b, int l, plinth_node x, plinth_node pos,
                         plinth_node kv_len, int64_t T, bool last)
{
    plinth_graph *g = b->g;
    const lm_config *c = b->c;
    const lm_arch_traits *t = c->traits;
    const int64_t H = c->hidden, D = c->head_dim, Hq = c->n_heads, Hkv = c->n_kv_heads;
    const int64_t Tq = last ? 1 : T;
    char n[160], nb[160], hf[128], hfb[128]; /* NAME and BIAS meet in one call: own buffers */
#define NAME(s) (snprintf(hf, sizeof hf, "layers.%d.%s", l, s), lm_param_name(c, hf, n, sizeof n), n)
#define BIAS(s) (t->qkv_bias ? (snprintf(hfb, sizeof hfb, "layers.%d.%s", l, s), \
                                lm_param_name(c, hfb, nb, sizeof nb), nb)           \
                             : NULL)

    /* attention */
    plinth_node h = norm(b, x, NAME("input_layernorm.weight"), H);
    plinth_node hq = last ? plinth_slice(g, h, 0, T - 1, 1) : h;     /* [Tq, H]      */
    plinth_node pq = last ? plinth_slice(g, pos, 0, T - 1, 1) : pos; /* [Tq]         */
    plinth_node q = project(b, hq, NAME("self_attn.q_proj.weight"), BIAS("self_attn.q_proj.bias"),
                            Hq * D, H);                               /* [Tq, Hq*D]   */
    plinth_node k = project(b, h, NAME("self_attn.k_proj.weight"), BIAS("self_attn.k_proj.bias"),
                            Hkv * D, H);                              /* [T, Hkv*D]   */
    plinth_node v = project(b, h, NAME("self_attn.v_proj.weight"), BIAS("self_attn.v_proj.bias"),
                            Hkv * D, H);                              /* [T, Hkv*D]   */
    int64_t q3[3] = {Tq, Hq, D}, k3[3] = {T, Hkv, D}, k2[2] = {T, Hkv * D};
    q = plinth_reshape(g, q, 3, q3);
    k = plinth_reshape(g, k, 3, k3);
    if (t->qk_norm) {
        q = norm(b, q, NAME("self_attn.q_norm.weight"), D);
        k = norm(b, k, NAME("self_attn.k_norm.weight"), D);
    }
    q = rope(b, q, pq, l);                                             /* [Tq, Hq, D]  */
    k = rope(b, k, pos, l);                                            /* [T, Hkv, D]  */

    /* KV cache: one f32 state pair per layer, [S, Hkv*D]. */
    int64_t cache2[2] = {b->S, Hkv * D}, cache3[3] = {b->S, Hkv, D};
    char kn[64], vn[64];
    snprintf(kn, sizeof kn, "cache.%d.k", l);
    snprintf(vn, sizeof vn, "cache.%d.v", l);
    plinth_node kc = plinth_set_rows(g, plinth_state(g, kn, PLINTH_F32, 2, cache2),
                                     plinth_reshape(g, k, 2, k2), pos);
    plinth_node vc = plinth_set_rows(g, plinth_state(g, vn, PLINTH_F32, 2, cache2), v, pos);
    const int window = t->sliding_layers && c->sliding[l] ? c->sliding_window : 0;
    plinth_node a = plinth_attention(g, q, plinth_reshape(g, kc, 3, cache3),
                                     plinth_reshape(g, vc, 3, cache3), pq, kv_len,
                                     c->attn_scale, window);           /* [Tq, Hq, D]  */
    int64_t a2[2] = {Tq, Hq * D};
    a = plinth_matmul(g, plinth_reshape(g, a, 2, a2),
                      matrix(b, NAME("self_attn.o_proj.weight"), H, Hq * D), true); /* [Tq, H] */
    if (last)
        x = plinth_slice(g, x, 0, T - 1, 1);
    if (t->sandwich)
        a = norm(b, a, NAME("post_attention_layernorm.weight"), H);
    x = plinth_add(g, x, a);

    /* gated MLP */
    h = norm(b, x, t->sandwich ? NAME("pre_feedforward_layernorm.weight")
                               : NAME("post_attention_layernorm.weight"), H);
    plinth_node gate = plinth_matmul(g, h, matrix(b, NAME("mlp.gate_proj.weight"), c->ffn, H),
                                     true);                            /* [Tq, F]      */
    plinth_node up = plinth_matmul(g, h, matrix(b, NAME("mlp.up_proj.weight"), c->ffn, H),
                                   true);                              /* [Tq, F]      */
    plinth_node mlp = plinth_mul(g, t->gelu ? plinth_gelu_tanh(g, gate) : plinth_silu(g, gate),
                                 up);
    mlp = plinth_matmul(g, mlp, matrix(b, NAME("mlp.down_proj.weight"), H, c->ffn),
                        true);                                         /* [Tq, H]      */
    if (t->sandwich)
        mlp = norm(b, mlp, NAME("post_feedforward_layernorm.weight"), H);
    return plinth_add(g, x, mlp);
#undef BIAS
#undef NAME
}

plinth_status decoder_build(decoder_builder *b, int64_t T, bool all)
{
    plinth_graph *g = b->g;
    const lm_config *c = b->c;
    static const float one = 1.0f;
    int64_t t1[1] = {T}, s1[1] = {1};
    if (c->traits->norm_plus_one)
        b->one = plinth_constant(g, "gemma3.one", PLINTH_F32, 1, s1, &one);
    plinth_node tokens = plinth_input(g, "tokens", PLINTH_I32, 1, t1);
    plinth_node pos = plinth_input(g, "pos", PLINTH_I32, 1, t1);
    plinth_node kv_len = plinth_input(g, "kv_len", PLINTH_I32, 1, s1);
    /* Rope factors, one constant per layer kind (full, sliding) that has them. */
    b->factors[1] = PLINTH_NODE_INVALID;
    for (int sliding = 0; sliding < (c->traits->sliding_layers ? 2 : 1); sliding++) {
        float f[MODEL_MAX_HEAD_DIM / 2];
        int64_t n = c->head_dim / 2;
        b->factors[sliding] = lm_config_rope_factors(c, sliding, f)
                                  ? plinth_constant(g, sliding ? "rope.factors.sliding"
                                                               : "rope.factors",
                                                    PLINTH_F32, 1, &n, f)
                                  : PLINTH_NODE_INVALID;
    }

    /* The split (-ngl): the embedding with the first layer, the head with
     * the last, layer l on backend l < split ? 0 : 1. */
    if (b->split > 0)
        plinth_graph_pin(g, 0);
    char name[160];
    lm_param_name(c, "embed_tokens.weight", name, sizeof name);
    plinth_node embed = matrix(b, name, c->vocab, c->hidden);       /* [V, H] */
    plinth_node x = plinth_get_rows(g, embed, tokens, PLINTH_F32);  /* [T, H] */
    /* HF scales by a tensor sqrt(hidden) in the activation dtype: in f32
     * it is this float. */
    if (c->traits->embed_scale)
        x = plinth_scale(g, x, (float)sqrt((double)c->hidden));
    for (int l = 0; l < c->n_layers; l++) {
        if (b->split > 0)
            plinth_graph_pin(g, l < b->split ? 0 : 1);
        x = layer(b, l, x, pos, kv_len, T, decoder_last_row_only(c, l, T, all));
    }
    lm_param_name(c, "norm.weight", name, sizeof name);
    x = norm(b, x, name, c->hidden);                                 /* [T or 1, H] */
    lm_param_name(c, "lm_head.weight", name, sizeof name);
    plinth_node head = c->tied ? embed : matrix(b, name, c->vocab, c->hidden);
    plinth_output(g, plinth_matmul(g, x, head, true), "logits");   /* [T or 1, V] */
    return plinth_graph_status(g);
}
