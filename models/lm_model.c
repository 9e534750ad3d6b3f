/*
 * lm_model.c — a decoder-only language model's two programs (the graph is
 * decoder.c's), loading, and running them.
 *
 * Sections:
 *   1. the model object and small helpers
 *   2. the checkpoint: its tensors, where the text model lives in it
 *   3. checks of the checkpoint against the config
 *   4. compile (stored dtype, quantised at load, or f32 when the backend
 *      refuses it) and load: straight from the file when every param is
 *      used as stored, else each param through the host (dequantised,
 *      Llama's GGUF q/k rows put back in HF's order, quantised)
 *   5. running: prefill (chunked, padded in front), decode, reset
 */
#include "lm_model.h"
#include "decoder.h"
#include "model_mem.h"
#include "errbuf.h"
#include "gguf_names.h"

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

struct lm_model {
    plinth_context *ctx;
    lm_config cfg;
    lm_model_options opts;
    int32_t n_ctx, n_prefill;
    plinth_model *model;
    prog_io prefill, decode;
    /* Smaller prefill programs (16, 64, 256 rows, those below n_prefill):
     * a run computes all of its rows, so a short prompt or chat turn goes
     * to the smallest one that holds it. Same weights, same state. */
    prog_io bucket[3];
    int n_buckets;
    bool has_decode;
    bool f32;             /* params declared f32                      */
    bool converted;       /* ... although the file holds another dtype */
    int32_t quantize;     /* block dtype matrices are quantised to at load, or -1 */
    bool host_load;       /* some param is not loaded as stored       */
    char dtype_name[16];
    char note[512];
    uint64_t weight_bytes, n_params;
    int32_t *tok, *pos;   /* staging, n_prefill each                  */
    float *scratch;       /* [n_prefill][vocab] when all-logits        */
};

#define fail(err, size, st, ...) ((plinth_status)errbuf_fail(err, size, st, __VA_ARGS__))

/* A failed plinth call: its message is on the context. */
static plinth_status plinth_fail(const lm_model *m, char *err, size_t es, plinth_status st,
                                 const char *what)
{
    return fail(err, es, st, "%s: %s", what, plinth_context_error(m->ctx));
}

const lm_config *lm_model_config(const lm_model *m) { return &m->cfg; }
int32_t lm_model_n_ctx(const lm_model *m) { return m->n_ctx; }
int32_t lm_model_n_prefill(const lm_model *m) { return m->n_prefill; }
plinth_model *lm_model_model(lm_model *m) { return m->model; }
plinth_program *lm_model_prefill_program(lm_model *m) { return m->prefill.prog; }
plinth_program *lm_model_decode_program(lm_model *m) { return m->has_decode ? m->decode.prog : NULL; }
const char *lm_model_weights_dtype(const lm_model *m) { return m->dtype_name; }
bool lm_model_weights_converted(const lm_model *m) { return m->converted; }
const char *lm_model_note(const lm_model *m) { return m->note; }
uint64_t lm_model_weight_bytes(const lm_model *m) { return m->weight_bytes; }
uint64_t lm_model_param_count(const lm_model *m) { return m->n_params; }

double lm_model_prefill_flops(const lm_model *m)
{
    const lm_config *c = &m->cfg;
    const int32_t n = m->prefill.T;
    const double H = c->hidden, D = c->head_dim, Hq = c->n_heads, Hkv = c->n_kv_heads;
    const double kv = 2 * H * Hkv * D;                        /* k and v, per row */
    const double row = H * Hq * D + kv + Hq * D * H + 3 * H * c->ffn; /* per row */
    const bool all = m->prefill.all;
    double mac = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const bool last = decoder_last_row_only(c, l, n, all);
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

/* Where the text model's tensors are: a text checkpoint's "model.", or the
 * language model inside a multimodal Gemma 3 (two namings, by
 * transformers version). The vision tower's tensors are left unread. */
void lm_config_find_prefix(lm_config *c, const plinth_state_dict *sd)
{
    static const char *const where[][2] = {
        {"model.", ""}, {"language_model.model.", "language_model."},
        {"model.language_model.", ""}};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        char name[160];
        plinth_tensor_info e;
        snprintf(name, sizeof name, "%sembed_tokens.weight", where[i][0]);
        if (tensor(sd, name, &e)) {
            snprintf(c->prefix, sizeof c->prefix, "%s", where[i][0]);
            snprintf(c->head_prefix, sizeof c->head_prefix, "%s", where[i][1]);
            return;
        }
    }
}

/* ---------------------------------------------------------------- 3 ---- */

/* Every param present with a float dtype and the config's shape; missing
 * ones are listed together. Also sums the bytes a decode step reads. */
static plinth_status check_weights(lm_model *m, const plinth_state_dict *sd, char *err, size_t es)
{
    const char *path = plinth_state_dict_path(sd);
    char name[128], missing[1024] = "";
    size_t used = 0;
    uint32_t n_missing = 0;
    int64_t rows, cols;
    bool is_norm;
    int32_t seen = -1;
    for (uint32_t i = 0; lm_param_at(&m->cfg, i, name, sizeof name, &rows, &cols, &is_norm);
         i++) {
        plinth_tensor_info e;
        if (!tensor(sd, name, &e)) {
            if (n_missing++ < 12 && used < sizeof missing)
                used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%s",
                                         n_missing > 1 ? ", " : "", name);
            continue;
        }
        if (e.dtype < 0 || e.dtype == PLINTH_I32)
            return fail(err, es, PLINTH_ERR_FORMAT,
                        "%s: tensor '%s' has dtype %s; plinth wants F32, BF16, F16, Q8_0, Q4_0, "
                        "Q4_K or Q6_K", path, name, e.dtype_name);
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
        if (cols) /* named by its matrices: a GGUF's norms stay f32 */
            seen = seen < 0 || seen == e.dtype ? e.dtype : PLINTH_DTYPE_COUNT;
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

static plinth_status compile_one(lm_model *m, decoder_builder *b, int64_t T, bool all, prog_io *out,
                                 char *err, size_t es)
{
    plinth_graph *g = NULL;
    plinth_status st = plinth_graph_create(m->ctx, &g);
    if (st != PLINTH_OK)
        return plinth_fail(m, err, es, st, "graph");
    b->g = g;
    st = decoder_build(b, T, all);
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

static void drop_programs(lm_model *m)
{
    plinth_program_destroy(m->decode.prog);
    for (int i = 0; i < m->n_buckets; i++)
        plinth_program_destroy(m->bucket[i].prog);
    m->n_buckets = 0;
    plinth_program_destroy(m->prefill.prog);
    plinth_model_destroy(m->model);
    m->decode.prog = m->prefill.prog = NULL;
    m->model = NULL;
}

static plinth_status compile_all(lm_model *m, plinth_backend *be, const plinth_state_dict *sd,
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
    decoder_builder b = {.c = &m->cfg, .sd = sd, .f32 = f32, .quantize = m->quantize,
                         .S = (int64_t)m->n_ctx + 1, .split = n > 1 ? m->opts.split_layers : 0};
    st = compile_one(m, &b, m->n_prefill, m->opts.all_logits, &m->prefill, err, es);
    static const int32_t rows[] = {16, 64, 256};
    for (size_t i = 0; st == PLINTH_OK && i < sizeof rows / sizeof rows[0]; i++)
        if (rows[i] < m->n_prefill && !m->opts.no_decode)
            st = compile_one(m, &b, rows[i], m->opts.all_logits, &m->bucket[m->n_buckets++],
                             err, es);
    if (st == PLINTH_OK && m->has_decode)
        st = compile_one(m, &b, 1, false, &m->decode, err, es);
    return st;
}

/* A growable host buffer, from the model's context. */
typedef struct hbuf {
    plinth_context *ctx;
    void *p;
    size_t cap;
} hbuf;

static void *hbuf_get(hbuf *b, size_t n)
{
    if (n > b->cap) {
        void *grown = model_realloc(b->ctx, b->p, n);
        if (!grown)
            return NULL;
        b->p = grown;
        b->cap = n;
    }
    return b->p;
}

/* One param as the graph declares it, from its stored bytes: Llama's GGUF
 * q/k rows put back in HF's order (whole rows move, so any dtype), then
 * dequantised to f32 and, for a block dtype, quantised again. */
static plinth_status param_through_host(lm_model *m, plinth_state_dict *sd,
                                        const decoder_builder *b, const char *name,
                                        int64_t rows, int64_t cols, hbuf bufs[4], char *err,
                                        size_t es)
{
    plinth_tensor_info e;
    tensor(sd, name, &e);
    const plinth_dtype want = decoder_param_dtype(b, name);
    const int64_t n = rows * (cols ? cols : 1);
    void *raw = hbuf_get(&bufs[0], e.bytes);
    if (!raw)
        return fail(err, es, PLINTH_ERR_NO_MEMORY, "%s: out of memory", name);
    plinth_status st = plinth_state_dict_read(sd, (uint32_t)plinth_state_dict_find(sd, name), 0,
                                              raw, e.bytes);
    if (st != PLINTH_OK)
        return plinth_fail(m, err, es, st, "load");
    const gguf_transform tr = m->cfg.gguf ? gguf_transform_of(&m->cfg, name) : GGUF_AS_IS;
    if (tr == GGUF_PERMUTE_Q || tr == GGUF_PERMUTE_K) {
        void *un = hbuf_get(&bufs[1], e.bytes);
        const int64_t heads = tr == GGUF_PERMUTE_Q ? m->cfg.n_heads : m->cfg.n_kv_heads;
        if (!un)
            return fail(err, es, PLINTH_ERR_NO_MEMORY, "%s: out of memory", name);
        if (!gguf_permute_rows(raw, un, rows, (size_t)(e.bytes / (uint64_t)rows), heads, false))
            return fail(err, es, PLINTH_ERR_FORMAT, "%s: tensor '%s' has %lld rows, not %lld "
                        "heads of an even size", plinth_state_dict_path(sd), name,
                        (long long)rows, (long long)heads);
        raw = un;
    }
    const void *data = raw;
    uint64_t bytes = e.bytes;
    if ((int32_t)want != e.dtype) {
        float *f = hbuf_get(&bufs[2], (size_t)n * sizeof *f);
        if (!f)
            return fail(err, es, PLINTH_ERR_NO_MEMORY, "%s: out of memory", name);
        if (plinth_dequantize_row(e.dtype, raw, n, f) != PLINTH_OK)
            return fail(err, es, PLINTH_ERR_FORMAT, "%s: tensor '%s' (%s) cannot be converted "
                        "to f32", plinth_state_dict_path(sd), name, e.dtype_name);
        data = f;
        bytes = (uint64_t)n * sizeof *f;
        if (want != PLINTH_F32) {
            bytes = plinth_dtype_row_bytes(want, n);
            void *q = hbuf_get(&bufs[3], bytes);
            if (!q)
                return fail(err, es, PLINTH_ERR_NO_MEMORY, "%s: out of memory", name);
            if (plinth_quantize_row(want, f, n, q) != PLINTH_OK)
                return fail(err, es, PLINTH_ERR_FORMAT, "%s: tensor '%s' cannot be quantised "
                            "to %s (a value that is not finite, or too large for its block's "
                            "scale)", plinth_state_dict_path(sd), name,
                            plinth_dtype_name(want));
            data = q;
        }
    }
    st = plinth_model_set_param(m->model, name, data, bytes);
    return st == PLINTH_OK ? st : plinth_fail(m, err, es, st, "load");
}

/* Every param through the host (param_through_host), one at a time. */
static plinth_status load_through_host(lm_model *m, plinth_state_dict *sd, char *err, size_t es)
{
    plinth_status st = plinth_model_load_empty(m->model);
    if (st != PLINTH_OK)
        return plinth_fail(m, err, es, st, "load");
    const decoder_builder b = {.c = &m->cfg, .sd = sd, .f32 = m->f32, .quantize = m->quantize};
    char name[128];
    int64_t rows, cols;
    bool is_norm;
    hbuf bufs[4] = {{.ctx = m->ctx}, {.ctx = m->ctx}, {.ctx = m->ctx}, {.ctx = m->ctx}};
    uint64_t done = 0, total = m->n_params;
    for (uint32_t i = 0; st == PLINTH_OK &&
                         lm_param_at(&m->cfg, i, name, sizeof name, &rows, &cols, &is_norm);
         i++) {
        st = param_through_host(m, sd, &b, name, rows, cols, bufs, err, es);
        done += (uint64_t)rows * (uint64_t)(cols ? cols : 1);
        if (st == PLINTH_OK && m->opts.progress && total)
            m->opts.progress(m->opts.progress_user, (double)done / (double)total);
    }
    for (int k = 0; k < 4; k++)
        model_free(m->ctx, bufs[k].p);
    return st;
}

/* Whether every param is used as the file stores it (then the core loads
 * them straight into the pools). */
static bool all_as_stored(const lm_model *m, const plinth_state_dict *sd)
{
    const decoder_builder b = {.c = &m->cfg, .sd = sd, .f32 = m->f32, .quantize = m->quantize};
    char name[128];
    int64_t rows, cols;
    bool is_norm;
    for (uint32_t i = 0; lm_param_at(&m->cfg, i, name, sizeof name, &rows, &cols, &is_norm);
         i++) {
        plinth_tensor_info e;
        tensor(sd, name, &e);
        const gguf_transform tr = m->cfg.gguf ? gguf_transform_of(&m->cfg, name) : GGUF_AS_IS;
        if ((int32_t)decoder_param_dtype(&b, name) != e.dtype || tr == GGUF_PERMUTE_Q ||
            tr == GGUF_PERMUTE_K)
            return false;
    }
    return true;
}

static plinth_status load_weights(lm_model *m, plinth_state_dict *sd, char *err, size_t es)
{
    if (m->opts.no_weights) {
        plinth_status st = plinth_model_load_empty(m->model);
        return st == PLINTH_OK ? st : plinth_fail(m, err, es, st, "load");
    }
    if (m->host_load)
        return load_through_host(m, sd, err, es);
    plinth_load_options lo = {.struct_size = sizeof lo, .progress = m->opts.progress,
                              .progress_user = m->opts.progress_user};
    plinth_status st = plinth_model_load(m->model, sd, &lo);
    return st == PLINTH_OK ? st : plinth_fail(m, err, es, st, "load");
}

plinth_status lm_model_load(plinth_context *ctx, plinth_backend *be, const char *dir,
                          const lm_model_options *opts, lm_model **out, char *err, size_t es)
{
    *out = NULL;
    lm_model *m = model_calloc(ctx, 1, sizeof *m);
    if (!m)
        return fail(err, es, PLINTH_ERR_NO_MEMORY, "out of memory");
    m->ctx = ctx;
    if (opts)
        m->opts = *opts;
    plinth_state_dict *sd = NULL;
    plinth_status st = PLINTH_OK;
    char gguf[4096];
    const int is_gguf = lm_gguf_path(dir, gguf, sizeof gguf, err, es);
    if (is_gguf < 0)
        st = PLINTH_ERR_INVALID;
    else if (is_gguf) { /* config, weights (and tokenizer: lm.c) from one file */
        if ((st = plinth_state_dict_open(ctx, gguf, &sd)) != PLINTH_OK)
            st = plinth_fail(m, err, es, st, "weights");
        else
            st = lm_config_from_gguf(ctx, sd, &m->cfg, err, es);
    } else {
        st = lm_config_load(ctx, dir, &m->cfg, err, es);
        if (st == PLINTH_OK && (st = plinth_state_dict_open(ctx, dir, &sd)) != PLINTH_OK)
            st = plinth_fail(m, err, es, st, "weights");
        if (st == PLINTH_OK)
            lm_config_find_prefix(&m->cfg, sd);
    }
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

    /* Stored dtype (or quantised at load) first; f32 if the backend
     * refuses it. f32 and not bf16: a block's values (an f16 scale times
     * an integer) need more than bf16's 8 bits, and f32 keeps them exact. */
    const int32_t q = m->opts.quantize;
    m->quantize = q > 0 && q < PLINTH_DTYPE_COUNT && plinth_dtype_block_elems(q) > 1 ? q : -1;
    bool stored_f32 = strcmp(m->dtype_name, "f32") == 0 && m->quantize < 0;
    m->f32 = m->opts.force_f32 || stored_f32;
    st = compile_all(m, be, sd, m->f32, err, es);
    if (st == PLINTH_ERR_UNSUPPORTED && !m->f32) {
        snprintf(m->note, sizeof m->note,
                 "backend '%s' cannot compute with %s weights (%.300s); converting them to "
                 "f32 at load", plinth_backend_name(be),
                 m->quantize >= 0 ? plinth_dtype_name((plinth_dtype)m->quantize)
                                  : m->dtype_name, err ? err : "");
        drop_programs(m);
        m->f32 = true;
        st = compile_all(m, be, sd, true, err, es);
    } else if (m->opts.force_f32 && !stored_f32) {
        snprintf(m->note, sizeof m->note, "converting %s weights to f32 at load (asked for)",
                 m->dtype_name);
    } else if (m->quantize >= 0) {
        snprintf(m->note, sizeof m->note, "quantising the %s weight matrices to %s at load",
                 m->dtype_name, plinth_dtype_name((plinth_dtype)m->quantize));
    }
    m->converted = m->f32 && strcmp(m->dtype_name, "f32") != 0;
    if (m->f32)
        m->quantize = -1;
    if (st != PLINTH_OK)
        goto out;
    m->host_load = !all_as_stored(m, sd);
    {
        /* Bytes one decode step reads: every param once, as declared. */
        char name[128];
        int64_t rows, cols;
        bool is_norm;
        decoder_builder b = {.c = &m->cfg, .sd = sd, .f32 = m->f32, .quantize = m->quantize};
        for (uint32_t i = 0;
             lm_param_at(&m->cfg, i, name, sizeof name, &rows, &cols, &is_norm); i++)
            m->weight_bytes += plinth_dtype_row_bytes(decoder_param_dtype(&b, name),
                                                      rows * (cols ? cols : 1));
    }
    st = load_weights(m, sd, err, es);
    if (st != PLINTH_OK)
        goto out;
    m->tok = model_calloc(ctx, (size_t)m->n_prefill, sizeof *m->tok);
    m->pos = model_calloc(ctx, (size_t)m->n_prefill, sizeof *m->pos);
    if (m->prefill.all)
        m->scratch = model_calloc(ctx, (size_t)m->n_prefill * (size_t)m->cfg.vocab,
                                  sizeof *m->scratch);
    if (!m->tok || !m->pos || (m->prefill.all && !m->scratch))
        st = fail(err, es, PLINTH_ERR_NO_MEMORY, "out of memory");
out:
    plinth_state_dict_close(sd);
    if (st != PLINTH_OK) {
        lm_model_free(m);
        return st;
    }
    *out = m;
    return PLINTH_OK;
}

void lm_model_free(lm_model *m)
{
    if (!m)
        return;
    drop_programs(m);
    model_free(m->ctx, m->tok);
    model_free(m->ctx, m->pos);
    model_free(m->ctx, m->scratch);
    model_free(m->ctx, m);
}

/* ---------------------------------------------------------------- 5 ---- */

/* Runs n <= p->T tokens at positions start..; padding goes in front (token
 * 0 at the scratch row n_ctx), so the last row is the last real token.
 * `logits`: NULL (not wanted), [n][V] (want_all, program outputs all rows)
 * or [V] (the last token). */
static plinth_status run_chunk(lm_model *m, prog_io *p, const int32_t *tokens, int32_t n,
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

plinth_status lm_model_prefill(lm_model *m, const int32_t *tokens, int32_t n, int32_t start,
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
        for (int b = m->n_buckets - 1; b >= 0 && len > 1; b--)
            if (len <= m->bucket[b].T)
                p = &m->bucket[b]; /* the smallest that holds the chunk */
        float *dst = all ? logits + (size_t)off * V : final ? logits : NULL;
        plinth_status st = run_chunk(m, p, tokens + off, len, start + off, dst, all, err, es);
        if (st != PLINTH_OK)
            return st;
        off += len;
    }
    return PLINTH_OK;
}

plinth_status lm_model_decode(lm_model *m, int32_t token, int32_t pos, float *logits, char *err,
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

plinth_status lm_model_reset(lm_model *m, char *err, size_t es)
{
    plinth_status st = plinth_model_reset_state(m->model);
    return st == PLINTH_OK ? st : plinth_fail(m, err, es, st, "reset");
}
