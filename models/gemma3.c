/*
 * gemma3.c — the Gemma 3 graph, its two programs, loading, and running them.
 *
 * Sections:
 *   1. the model object and small helpers
 *   2. the graph: embedding, one transformer layer, the head
 *   3. checks of the checkpoint against the config
 *   4. compile (stored dtype, or f32 when the backend refuses it) and load
 *   5. running: prefill (chunked, padded in front), decode, reset
 *
 * The forward pass follows Hugging Face's modeling_gemma3 (f32 activations):
 *
 *   x = embed[tokens] * sqrt(hidden)
 *   per layer:  h = rms(x)*(1+w_in);  q,k,v = h Wq, h Wk, h Wv
 *               q,k = rms per head *(1+w_qn / w_kn);  RoPE (local or global base)
 *               a = attention(q, K, V; scale = qpas^-0.5, window on sliding layers)
 *               x = x + rms(a Wo)*(1+w_post_attn)
 *               h = rms(x)*(1+w_pre_ffn);  m = (gelu_tanh(h Wg) * h Wu) Wd
 *               x = x + rms(m)*(1+w_post_ffn)
 *   logits = (rms(x)*(1+w_norm)) embed^T
 */
#include "gemma3.h"
#include "errbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- 1 ---- */

/* A compiled program and where its inputs are. */
typedef struct prog_io {
    plinth_program *prog;
    int32_t T;        /* tokens per run                          */
    bool all;         /* output [T][vocab] (else [1][vocab])     */
    uint32_t in_tokens, in_pos, in_kv_len, out_logits;
} prog_io;

struct gemma3 {
    plinth_context *ctx;
    gemma3_config cfg;
    gemma3_options opts;
    int32_t n_ctx, n_prefill;
    plinth_model *model;
    prog_io prefill, decode;
    bool has_decode;
    bool f32;             /* params declared f32                      */
    bool converted;       /* ... although the file holds another dtype */
    char dtype_name[16];
    char note[512];
    uint64_t weight_bytes, n_params;
    int32_t *tok, *pos;   /* staging, n_prefill each                  */
    float *scratch;       /* [n_prefill][vocab] when all-logits        */
};

#define fail(err, size, st, ...) ((plinth_status)errbuf_fail(err, size, st, __VA_ARGS__))

/* A failed plinth call: its message is on the context. */
static plinth_status plinth_fail(const gemma3 *m, char *err, size_t es, plinth_status st,
                                 const char *what)
{
    return fail(err, es, st, "%s: %s", what, plinth_context_error(m->ctx));
}

const gemma3_config *gemma3_get_config(const gemma3 *m) { return &m->cfg; }
int32_t gemma3_n_ctx(const gemma3 *m) { return m->n_ctx; }
int32_t gemma3_n_prefill(const gemma3 *m) { return m->n_prefill; }
plinth_model *gemma3_model(gemma3 *m) { return m->model; }
plinth_program *gemma3_prefill_program(gemma3 *m) { return m->prefill.prog; }
plinth_program *gemma3_decode_program(gemma3 *m) { return m->has_decode ? m->decode.prog : NULL; }
const char *gemma3_weights_dtype(const gemma3 *m) { return m->dtype_name; }
bool gemma3_weights_converted(const gemma3 *m) { return m->converted; }
const char *gemma3_note(const gemma3 *m) { return m->note; }
uint64_t gemma3_weight_bytes(const gemma3 *m) { return m->weight_bytes; }
uint64_t gemma3_param_count(const gemma3 *m) { return m->n_params; }

/* Whether layer l of a T-row program passes on only its last row (see
 * layer()): the last layer, when only the last logits are wanted. */
static bool last_row_only(const gemma3_config *c, int l, int64_t T, bool all)
{
    return !all && T > 1 && l == c->n_layers - 1;
}

double gemma3_prefill_flops(const gemma3 *m)
{
    const gemma3_config *c = &m->cfg;
    const int32_t n = m->prefill.T;
    const double H = c->hidden, D = c->head_dim, Hq = c->n_heads, Hkv = c->n_kv_heads;
    const double kv = 2 * H * Hkv * D;                        /* k and v, per row */
    const double row = H * Hq * D + kv + Hq * D * H + 3 * H * c->ffn; /* per row */
    const bool all = m->prefill.all;
    double mac = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const bool last = last_row_only(c, l, n, all);
        mac += last ? n * kv + (row - kv) : n * row;
        for (int32_t t = last ? n - 1 : 0; t < n; t++) {
            const int32_t keys = c->sliding[l] && c->sliding_window > 0 && t + 1 > c->sliding_window
                                     ? c->sliding_window
                                     : t + 1;
            mac += 2 * Hq * D * keys; /* q.k and p.v per key and head */
        }
    }
    mac += (double)c->vocab * H * (all ? n : 1); /* logits */
    return 2 * mac;
}

/* ---------------------------------------------------------------- 2 ---- */

typedef struct builder {
    plinth_graph *g;
    const gemma3_config *c;
    const plinth_state_dict *sd; /* the dtypes the checkpoint stores */
    bool f32;            /* declare every param f32 instead    */
    int32_t split;       /* layers pinned to backend 0, then 1; 0: no pins */
    plinth_node one;     /* f32 [1] = 1: Gemma's norm offset   */
    int64_t S;           /* cache rows: n_ctx + 1 (scratch)     */
} builder;

/* "[32]" or "[512, 64]". */
static const char *dims_str(const int64_t *dims, int32_t n, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int32_t i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %lld" : "%lld",
                                 (long long)dims[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

/* The checkpoint's tensor `name`, or false. */
static bool tensor(const plinth_state_dict *sd, const char *name, plinth_tensor_info *out)
{
    int32_t i = sd ? plinth_state_dict_find(sd, name) : -1;
    out->struct_size = sizeof *out;
    return i >= 0 && plinth_state_dict_tensor(sd, (uint32_t)i, out) == PLINTH_OK;
}

static plinth_dtype param_dtype(const builder *b, const char *name)
{
    plinth_tensor_info e;
    if (b->f32 || !tensor(b->sd, name, &e) || (e.dtype != PLINTH_BF16 && e.dtype != PLINTH_F16))
        return PLINTH_F32;
    return (plinth_dtype)e.dtype;
}

/* A weight matrix [rows, cols] in the dtype the checkpoint stores. */
static plinth_node matrix(builder *b, const char *name, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    return plinth_param(b->g, name, param_dtype(b, name), 2, shape);
}

/* Gemma's RMSNorm: x * rsqrt(mean(x^2) + eps) * (1 + w), w widened to f32.
 * cast(w) + 1 depends on a param and a constant only: folded at load. */
static plinth_node norm(builder *b, plinth_node x, const char *name, int64_t n)
{
    plinth_dtype dt = param_dtype(b, name);
    plinth_node w = plinth_param(b->g, name, dt, 1, &n);
    if (dt != PLINTH_F32)
        w = plinth_cast(b->g, w, PLINTH_F32);
    return plinth_rms_norm(b->g, x, plinth_add(b->g, w, b->one), b->c->eps);
}

/* One transformer layer over x [T, hidden]. With `last` only the last row
 * leaves the layer: K and V are still computed (and cached) for every row,
 * but the query, o_proj and the MLP run for the last position alone. */
static plinth_node layer(builder *b, int l, plinth_node x, plinth_node pos, plinth_node kv_len,
                         int64_t T, bool last)
{
    plinth_graph *g = b->g;
    const gemma3_config *c = b->c;
    const int64_t H = c->hidden, D = c->head_dim, Hq = c->n_heads, Hkv = c->n_kv_heads;
    const int64_t Tq = last ? 1 : T;
    char n[128];
#define NAME(s) (snprintf(n, sizeof n, "model.layers.%d.%s", l, s), n)

    /* attention */
    plinth_node h = norm(b, x, NAME("input_layernorm.weight"), H);
    plinth_node hq = last ? plinth_slice(g, h, 0, T - 1, 1) : h;      /* [Tq, H]      */
    plinth_node pq = last ? plinth_slice(g, pos, 0, T - 1, 1) : pos;  /* [Tq]         */
    plinth_node q = plinth_matmul(g, hq, matrix(b, NAME("self_attn.q_proj.weight"), Hq * D, H),
                                  true);                               /* [Tq, Hq*D]   */
    plinth_node k = plinth_matmul(g, h, matrix(b, NAME("self_attn.k_proj.weight"), Hkv * D, H),
                                  true);                               /* [T, Hkv*D]   */
    plinth_node v = plinth_matmul(g, h, matrix(b, NAME("self_attn.v_proj.weight"), Hkv * D, H),
                                  true);                               /* [T, Hkv*D]   */
    int64_t q3[3] = {Tq, Hq, D}, k3[3] = {T, Hkv, D}, k2[2] = {T, Hkv * D};
    q = norm(b, plinth_reshape(g, q, 3, q3), NAME("self_attn.q_norm.weight"), D);
    k = norm(b, plinth_reshape(g, k, 3, k3), NAME("self_attn.k_norm.weight"), D);
    const float base = c->sliding[l] ? c->rope_local_base : c->rope_theta;
    q = plinth_rope(g, q, pq, base, (int)D);                           /* [Tq, Hq, D]  */
    k = plinth_rope(g, k, pos, base, (int)D);                          /* [T, Hkv, D]  */

    /* KV cache: one f32 state pair per layer, [S, Hkv*D]. */
    int64_t cache2[2] = {b->S, Hkv * D}, cache3[3] = {b->S, Hkv, D};
    char kn[64], vn[64];
    snprintf(kn, sizeof kn, "cache.%d.k", l);
    snprintf(vn, sizeof vn, "cache.%d.v", l);
    plinth_node kc = plinth_set_rows(g, plinth_state(g, kn, PLINTH_F32, 2, cache2),
                                     plinth_reshape(g, k, 2, k2), pos);
    plinth_node vc = plinth_set_rows(g, plinth_state(g, vn, PLINTH_F32, 2, cache2), v, pos);
    const float scale = 1.0f / sqrtf(c->query_pre_attn_scalar);
    plinth_node a = plinth_attention(g, q, plinth_reshape(g, kc, 3, cache3),
                                     plinth_reshape(g, vc, 3, cache3), pq, kv_len, scale,
                                     c->sliding[l] ? c->sliding_window : 0); /* [Tq, Hq, D] */
    int64_t a2[2] = {Tq, Hq * D};
    a = plinth_matmul(g, plinth_reshape(g, a, 2, a2),
                      matrix(b, NAME("self_attn.o_proj.weight"), H, Hq * D), true); /* [Tq, H] */
    if (last)
        x = plinth_slice(g, x, 0, T - 1, 1);
    x = plinth_add(g, x, norm(b, a, NAME("post_attention_layernorm.weight"), H));

    /* GeGLU MLP */
    h = norm(b, x, NAME("pre_feedforward_layernorm.weight"), H);
    plinth_node gate = plinth_matmul(g, h, matrix(b, NAME("mlp.gate_proj.weight"), c->ffn, H),
                                     true);                            /* [Tq, F]      */
    plinth_node up = plinth_matmul(g, h, matrix(b, NAME("mlp.up_proj.weight"), c->ffn, H),
                                   true);                              /* [Tq, F]      */
    plinth_node mlp = plinth_mul(g, plinth_gelu_tanh(g, gate), up);
    mlp = plinth_matmul(g, mlp, matrix(b, NAME("mlp.down_proj.weight"), H, c->ffn),
                        true);                                         /* [Tq, H]      */
    return plinth_add(g, x, norm(b, mlp, NAME("post_feedforward_layernorm.weight"), H));
#undef NAME
}

/* The whole forward for T tokens; logits of every row (all) or the last. */
static plinth_status build(builder *b, int64_t T, bool all)
{
    plinth_graph *g = b->g;
    const gemma3_config *c = b->c;
    static const float one = 1.0f;
    int64_t t1[1] = {T}, s1[1] = {1};
    b->one = plinth_constant(g, "gemma3.one", PLINTH_F32, 1, s1, &one);
    plinth_node tokens = plinth_input(g, "tokens", PLINTH_I32, 1, t1);
    plinth_node pos = plinth_input(g, "pos", PLINTH_I32, 1, t1);
    plinth_node kv_len = plinth_input(g, "kv_len", PLINTH_I32, 1, s1);

    /* HF scales by a tensor sqrt(hidden) in the activation dtype: in f32 it
     * is this float. */
    /* The split (-ngl): the embedding with the first layer, the head with
     * the last, layer l on backend l < split ? 0 : 1. */
    if (b->split > 0)
        plinth_graph_pin(g, 0);
    plinth_node embed = matrix(b, "model.embed_tokens.weight", c->vocab, c->hidden); /* [V, H] */
    plinth_node x = plinth_get_rows(g, embed, tokens, PLINTH_F32);                    /* [T, H] */
    x = plinth_scale(g, x, (float)sqrt((double)c->hidden));
    for (int l = 0; l < c->n_layers; l++) {
        if (b->split > 0)
            plinth_graph_pin(g, l < b->split ? 0 : 1);
        x = layer(b, l, x, pos, kv_len, T, last_row_only(c, l, T, all));
    }
    x = norm(b, x, "model.norm.weight", c->hidden);                       /* [T or 1, H] */
    plinth_node head = c->tied ? embed : matrix(b, "lm_head.weight", c->vocab, c->hidden);
    plinth_output(g, plinth_matmul(g, x, head, true), "logits");        /* [T or 1, V] */
    return plinth_graph_status(g);
}

/* ---------------------------------------------------------------- 3 ---- */

/* Every param present with a float dtype and the config's shape; missing
 * ones are listed together. Also sums the bytes a decode step reads. */
static plinth_status check_weights(gemma3 *m, const plinth_state_dict *sd, char *err, size_t es)
{
    const char *path = plinth_state_dict_path(sd);
    char name[128], missing[1024] = "";
    size_t used = 0;
    uint32_t n_missing = 0;
    int64_t rows, cols;
    bool is_norm;
    int32_t seen = -1;
    for (uint32_t i = 0; gemma3_param_at(&m->cfg, i, name, sizeof name, &rows, &cols, &is_norm);
         i++) {
        plinth_tensor_info e;
        if (!tensor(sd, name, &e)) {
            if (n_missing++ < 12 && used < sizeof missing)
                used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%s",
                                         n_missing > 1 ? ", " : "", name);
            continue;
        }
        if (e.dtype != PLINTH_F32 && e.dtype != PLINTH_BF16 && e.dtype != PLINTH_F16)
            return fail(err, es, PLINTH_ERR_FORMAT,
                        "%s: tensor '%s' has dtype %s; plinth wants F32, BF16 or F16", path,
                        name, e.dtype_name);
        bool ok = cols ? e.ndim == 2 && e.shape[0] == rows && e.shape[1] == cols
                       : e.ndim == 1 && e.shape[0] == rows;
        if (!ok) {
            char got[160], want[64];
            dims_str(e.shape, e.ndim, got, sizeof got);
            const int64_t implied[2] = {rows, cols};
            dims_str(implied, cols ? 2 : 1, want, sizeof want);
            return fail(err, es, PLINTH_ERR_FORMAT,
                        "%s: tensor '%s' has shape %s, config.json implies %s", path, name, got,
                        want);
        }
        uint64_t numel = (uint64_t)rows * (uint64_t)(cols ? cols : 1);
        m->n_params += numel;
        seen = seen < 0 ? e.dtype : seen == e.dtype ? seen : PLINTH_DTYPE_COUNT;
    }
    if (n_missing)
        return fail(err, es, PLINTH_ERR_FORMAT, "%u tensor%s missing from %s: %s%s", n_missing,
                    n_missing == 1 ? "" : "s", path, missing,
                    n_missing > 12 ? ", ..." : "");
    snprintf(m->dtype_name, sizeof m->dtype_name, "%s",
             seen == PLINTH_DTYPE_COUNT ? "mixed" : plinth_dtype_name((plinth_dtype)seen));
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 4 ---- */

static plinth_status compile_one(gemma3 *m, builder *b, int64_t T, bool all, prog_io *out,
                                 char *err, size_t es)
{
    plinth_graph *g = NULL;
    plinth_status st = plinth_graph_create(m->ctx, &g);
    if (st != PLINTH_OK)
        return plinth_fail(m, err, es, st, "graph");
    b->g = g;
    st = build(b, T, all);
    if (st == PLINTH_OK)
        st = plinth_program_compile(m->model, g, NULL, &out->prog);
    plinth_graph_destroy(g);
    if (st != PLINTH_OK)
        return plinth_fail(m, err, es, st, T == 1 ? "decode program" : "prefill program");
    out->T = (int32_t)T;
    out->all = all && T > 1;
    out->in_tokens = (uint32_t)plinth_program_input_index(out->prog, "tokens");
    out->in_pos = (uint32_t)plinth_program_input_index(out->prog, "pos");
    out->in_kv_len = (uint32_t)plinth_program_input_index(out->prog, "kv_len");
    out->out_logits = (uint32_t)plinth_program_output_index(out->prog, "logits");
    return PLINTH_OK;
}

static void drop_programs(gemma3 *m)
{
    plinth_program_destroy(m->decode.prog);
    plinth_program_destroy(m->prefill.prog);
    plinth_model_destroy(m->model);
    m->decode.prog = m->prefill.prog = NULL;
    m->model = NULL;
}

static plinth_status compile_all(gemma3 *m, plinth_backend *be, const plinth_state_dict *sd,
                                 bool f32,
                                 char *err, size_t es)
{
    plinth_backend *list[PLINTH_MAX_BACKENDS] = {be};
    uint32_t n = 1;
    for (uint32_t i = 0; i < m->opts.n_fallbacks && n < PLINTH_MAX_BACKENDS; i++)
        list[n++] = m->opts.fallbacks[i];
    plinth_status st = plinth_model_create_multi(list, n, &m->model);
    if (st != PLINTH_OK)
        return plinth_fail(m, err, es, st, "model");
    builder b = {.c = &m->cfg, .sd = sd, .f32 = f32, .S = (int64_t)m->n_ctx + 1,
                 .split = n > 1 ? m->opts.split_layers : 0};
    st = compile_one(m, &b, m->n_prefill, m->opts.all_logits, &m->prefill, err, es);
    if (st == PLINTH_OK && m->has_decode)
        st = compile_one(m, &b, 1, false, &m->decode, err, es);
    return st;
}

/* f32 params from a bf16/f16 checkpoint: read and convert each once. */
static plinth_status load_converted(gemma3 *m, plinth_state_dict *sd, char *err, size_t es)
{
    plinth_status st = plinth_model_load_empty(m->model);
    if (st != PLINTH_OK)
        return plinth_fail(m, err, es, st, "load");
    char name[128];
    int64_t rows, cols;
    bool is_norm;
    float *buf = NULL;
    size_t cap = 0;
    uint64_t done = 0, total = m->n_params;
    for (uint32_t i = 0; st == PLINTH_OK &&
                         gemma3_param_at(&m->cfg, i, name, sizeof name, &rows, &cols, &is_norm);
         i++) {
        plinth_tensor_info e;
        tensor(sd, name, &e);
        size_t n = (size_t)rows * (size_t)(cols ? cols : 1);
        if (n > cap) {
            float *grown = realloc(buf, n * sizeof *buf);
            if (!grown) {
                st = fail(err, es, PLINTH_ERR_NO_MEMORY, "%s: out of memory", name);
                break;
            }
            buf = grown;
            cap = n;
        }
        /* The stored bytes land in the second half of an f32 buffer when
         * they are 16-bit, and are widened in place from the front. */
        const size_t es16 = plinth_dtype_size((plinth_dtype)e.dtype);
        uint8_t *raw = (uint8_t *)buf + n * (sizeof *buf - es16);
        st = plinth_state_dict_read(sd, (uint32_t)plinth_state_dict_find(sd, name), 0, raw,
                                    e.bytes);
        if (st != PLINTH_OK) {
            st = plinth_fail(m, err, es, st, "load");
            break;
        }
        if (e.dtype != PLINTH_F32)
            for (size_t k = 0; k < n; k++) {
                uint16_t h;
                memcpy(&h, raw + 2 * k, 2);
                buf[k] = e.dtype == PLINTH_BF16 ? plinth_bf16_to_f32(h) : plinth_f16_to_f32(h);
            }
        st = plinth_model_set_param(m->model, name, buf, n * sizeof *buf);
        if (st != PLINTH_OK) {
            st = plinth_fail(m, err, es, st, "load");
            break;
        }
        done += n;
        if (m->opts.progress && total)
            m->opts.progress(m->opts.progress_user, (double)done / (double)total);
    }
    free(buf);
    return st;
}

static plinth_status load_weights(gemma3 *m, plinth_state_dict *sd, char *err, size_t es)
{
    if (m->opts.no_weights) {
        plinth_status st = plinth_model_load_empty(m->model);
        return st == PLINTH_OK ? st : plinth_fail(m, err, es, st, "load");
    }
    if (m->converted)
        return load_converted(m, sd, err, es);
    plinth_load_options lo = {.struct_size = sizeof lo, .progress = m->opts.progress,
                              .progress_user = m->opts.progress_user};
    plinth_status st = plinth_model_load(m->model, sd, &lo);
    return st == PLINTH_OK ? st : plinth_fail(m, err, es, st, "load");
}

plinth_status gemma3_load(plinth_context *ctx, plinth_backend *be, const char *dir,
                          const gemma3_options *opts, gemma3 **out, char *err, size_t es)
{
    *out = NULL;
    gemma3 *m = calloc(1, sizeof *m);
    if (!m)
        return fail(err, es, PLINTH_ERR_NO_MEMORY, "out of memory");
    m->ctx = ctx;
    if (opts)
        m->opts = *opts;
    plinth_state_dict *sd = NULL;
    plinth_status st = gemma3_config_load(dir, &m->cfg, err, es);
    if (st == PLINTH_OK && (st = plinth_state_dict_open(ctx, dir, &sd)) != PLINTH_OK)
        st = plinth_fail(m, err, es, st, "weights");
    if (st == PLINTH_OK)
        st = check_weights(m, sd, err, es);
    if (st != PLINTH_OK)
        goto out;

    if (m->opts.n_ctx > m->cfg.max_pos) {
        st = fail(err, es, PLINTH_ERR_INVALID,
                  "a context of %d positions is more than %s allows (max_position_embeddings "
                  "%d)",
                  (int)m->opts.n_ctx, dir, (int)m->cfg.max_pos);
        goto out;
    }
    m->n_ctx = m->opts.n_ctx > 0 ? m->opts.n_ctx : m->cfg.max_pos < 4096 ? m->cfg.max_pos : 4096;
    m->n_prefill = m->opts.n_prefill > 0 ? m->opts.n_prefill : 512;
    if (m->n_prefill > m->n_ctx)
        m->n_prefill = m->n_ctx;
    m->has_decode = !m->opts.no_decode && m->n_prefill > 1;

    /* Stored dtype first; f32 if the backend refuses it. */
    bool stored_f32 = strcmp(m->dtype_name, "f32") == 0;
    m->f32 = m->opts.force_f32 || stored_f32;
    st = compile_all(m, be, sd, m->f32, err, es);
    if (st == PLINTH_ERR_UNSUPPORTED && !m->f32) {
        snprintf(m->note, sizeof m->note,
                 "backend '%s' cannot compute with %s weights (%.300s); converting them to "
                 "f32 at load", plinth_backend_name(be), m->dtype_name, err ? err : "");
        drop_programs(m);
        m->f32 = true;
        st = compile_all(m, be, sd, true, err, es);
    } else if (m->opts.force_f32 && !stored_f32) {
        snprintf(m->note, sizeof m->note, "converting %s weights to f32 at load (asked for)",
                 m->dtype_name);
    }
    m->converted = m->f32 && !stored_f32;
    if (st != PLINTH_OK)
        goto out;
    {
        /* Bytes one decode step reads: every param once, as declared. */
        char name[128];
        int64_t rows, cols;
        bool is_norm;
        builder b = {.c = &m->cfg, .sd = sd, .f32 = m->f32};
        for (uint32_t i = 0;
             gemma3_param_at(&m->cfg, i, name, sizeof name, &rows, &cols, &is_norm); i++)
            m->weight_bytes += (uint64_t)rows * (uint64_t)(cols ? cols : 1) *
                               plinth_dtype_size(param_dtype(&b, name));
    }
    st = load_weights(m, sd, err, es);
    if (st != PLINTH_OK)
        goto out;
    m->tok = malloc((size_t)m->n_prefill * sizeof *m->tok);
    m->pos = malloc((size_t)m->n_prefill * sizeof *m->pos);
    if (m->prefill.all)
        m->scratch = malloc((size_t)m->n_prefill * (size_t)m->cfg.vocab * sizeof *m->scratch);
    if (!m->tok || !m->pos || (m->prefill.all && !m->scratch))
        st = fail(err, es, PLINTH_ERR_NO_MEMORY, "out of memory");
out:
    plinth_state_dict_close(sd);
    if (st != PLINTH_OK) {
        gemma3_free(m);
        return st;
    }
    *out = m;
    return PLINTH_OK;
}

void gemma3_free(gemma3 *m)
{
    if (!m)
        return;
    drop_programs(m);
    free(m->tok);
    free(m->pos);
    free(m->scratch);
    free(m);
}

/* ---------------------------------------------------------------- 5 ---- */

/* Runs n <= p->T tokens at positions start..; padding goes in front (token
 * 0 at the scratch row n_ctx), so the last row is the last real token.
 * `logits`: NULL (not wanted), [n][V] (want_all, program outputs all rows)
 * or [V] (the last token). */
static plinth_status run_chunk(gemma3 *m, prog_io *p, const int32_t *tokens, int32_t n,
                               int32_t start, float *logits, bool want_all, char *err,
                               size_t es)
{
    const int32_t T = p->T, pad = T - n;
    const size_t V = (size_t)m->cfg.vocab;
    for (int32_t i = 0; i < T; i++) {
        m->tok[i] = i < pad ? 0 : tokens[i - pad];
        m->pos[i] = i < pad ? m->n_ctx : start + i - pad;
    }
    int32_t kv_len = start + n;
    plinth_status st = plinth_program_set_input(p->prog, p->in_tokens, m->tok,
                                                (size_t)T * sizeof *m->tok);
    if (st == PLINTH_OK)
        st = plinth_program_set_input(p->prog, p->in_pos, m->pos, (size_t)T * sizeof *m->pos);
    if (st == PLINTH_OK)
        st = plinth_program_set_input(p->prog, p->in_kv_len, &kv_len, sizeof kv_len);
    if (st == PLINTH_OK)
        st = plinth_program_run(p->prog);
    if (st != PLINTH_OK)
        return plinth_fail(m, err, es, st, "run");
    if (!logits)
        return PLINTH_OK;
    if (!p->all) /* [1][V]: the last token */
        st = plinth_program_get_output(p->prog, p->out_logits, logits, V * sizeof *logits);
    else {
        st = plinth_program_get_output(p->prog, p->out_logits, m->scratch,
                                       (size_t)T * V * sizeof *logits);
        if (st == PLINTH_OK && want_all)
            memcpy(logits, m->scratch + (size_t)pad * V, (size_t)n * V * sizeof *logits);
        else if (st == PLINTH_OK)
            memcpy(logits, m->scratch + (size_t)(T - 1) * V, V * sizeof *logits);
    }
    return st == PLINTH_OK ? st : plinth_fail(m, err, es, st, "logits");
}

plinth_status gemma3_prefill(gemma3 *m, const int32_t *tokens, int32_t n, int32_t start,
                             float *logits, char *err, size_t es)
{
    if (n < 1 || start < 0 || start > m->n_ctx - n)
        return fail(err, es, PLINTH_ERR_INVALID,
                    "prefill of %d tokens at position %d does not fit the context of %d",
                    (int)n, (int)start, (int)m->n_ctx);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->cfg.vocab)
            return fail(err, es, PLINTH_ERR_INVALID, "token id %d is outside [0, %d)",
                        (int)tokens[i], (int)m->cfg.vocab);
    const bool all = m->opts.all_logits;
    const size_t V = (size_t)m->cfg.vocab;
    for (int32_t off = 0; off < n;) {
        int32_t len = n - off < m->n_prefill ? n - off : m->n_prefill;
        bool final = off + len == n;
        prog_io *p = len == 1 && m->has_decode ? &m->decode : &m->prefill;
        float *dst = all ? logits + (size_t)off * V : final ? logits : NULL;
        plinth_status st = run_chunk(m, p, tokens + off, len, start + off, dst, all, err, es);
        if (st != PLINTH_OK)
            return st;
        off += len;
    }
    return PLINTH_OK;
}

plinth_status gemma3_decode(gemma3 *m, int32_t token, int32_t pos, float *logits, char *err,
                            size_t es)
{
    if (pos < 0 || pos >= m->n_ctx)
        return fail(err, es, PLINTH_ERR_INVALID, "position %d is outside the context of %d",
                    (int)pos, (int)m->n_ctx);
    if (token < 0 || token >= m->cfg.vocab)
        return fail(err, es, PLINTH_ERR_INVALID, "token id %d is outside [0, %d)", (int)token,
                    (int)m->cfg.vocab);
    prog_io *p = m->has_decode ? &m->decode : &m->prefill;
    return run_chunk(m, p, &token, 1, pos, logits, false, err, es);
}

plinth_status gemma3_reset(gemma3 *m, char *err, size_t es)
{
    plinth_status st = plinth_model_reset_state(m->model);
    return st == PLINTH_OK ? st : plinth_fail(m, err, es, st, "reset");
}
