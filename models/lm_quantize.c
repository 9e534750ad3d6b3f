/*
 * lm_quantize.c — lm_quantize.h: a checkpoint into a GGUF file. Sections:
 * dtype choice; metadata (llama.cpp's keys from a config, or a GGUF's own
 * copied); tensors (each produced row by row while the file is written);
 * the whole file.
 */
#include "decoder.h"
#include "lm_quantize.h"
#include "model_mem.h"
#include "errbuf.h"
#include "gguf_names.h"
#include "tokenizer_gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define fail(err, size, st, ...) ((plinth_status)errbuf_fail(err, size, st, __VA_ARGS__))

/* ------------------------------------------------------------ dtype choice */

static const struct {
    const char *name;
    int32_t type;
    bool mix;
    int32_t file_type; /* llama.cpp's llama_ftype, for general.file_type */
} types[] = {
    {"f32", PLINTH_F32, false, 0},    {"f16", PLINTH_F16, false, 1},
    {"bf16", PLINTH_BF16, false, 32}, {"q8_0", PLINTH_Q8_0, false, 7},
    {"q4_0", PLINTH_Q4_0, false, 2},  {"q4_K", PLINTH_Q4_K, false, 14},
    {"q6_K", PLINTH_Q6_K, false, 18}, {"q4_K_M", PLINTH_Q4_K, true, 15},
};
#define N_TYPES (sizeof types / sizeof types[0])

bool lm_quantize_type_from_name(const char *name, int32_t *type, bool *mix)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (strcasecmp(name, types[i].name) == 0) {
            *type = types[i].type;
            *mix = types[i].mix;
            return true;
        }
    return false;
}

static int32_t file_type(const lm_quantize_options *o)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (types[i].type == o->type && types[i].mix == o->mix)
            return types[i].file_type;
    return 0;
}

/* llama-quant.cpp's use_more_bits. */
static bool more_bits(int layer, int n)
{
    return layer < n / 8 || layer >= 7 * n / 8 || (layer - n / 8) % 3 == 2;
}

static bool ends_with(const char *s, const char *suffix)
{
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int32_t choose(const lm_quantize_options *o, const lm_config *c, const char *name,
                      int64_t cols, bool matrix, int32_t stored)
{
    if (!matrix)
        return PLINTH_F32;
    int32_t t = o->type;
    int layer = -1;
    if (o->mix) {
        sscanf(name, "blk.%d.", &layer);
        if (strcmp(name, "output.weight") == 0 ||
            (c->tied && strcmp(name, "token_embd.weight") == 0) ||
            ((ends_with(name, ".attn_v.weight") || ends_with(name, ".ffn_down.weight")) &&
             more_bits(layer, c->n_layers)))
            t = PLINTH_Q6_K;
    }
    const int32_t fits = decoder_block_for_rows(t, cols);
    if (fits >= 0)
        return fits;
    return stored == PLINTH_F16 || stored == PLINTH_BF16 ? stored : PLINTH_F32;
}

/* ---------------------------------------------------------------- metadata */

typedef struct job {
    plinth_state_dict *sd;
    plinth_context *ctx;
    uint32_t index;          /* of the source tensor                     */
    int32_t src, dst;        /* dtypes                                    */
    int64_t rows, cols;
    gguf_transform tr;
    int64_t heads;           /* of a permuted q or k                      */
    const float *values;     /* a tensor made here (rope_freqs), or NULL */
    float *f;                /* [cols] scratch                            */
    void *raw;               /* one source row                            */
    uint64_t done;           /* elements written, for progress            */
    const lm_quantize_options *o;
    uint64_t *total_done, total;
} job;

static plinth_status put_int(plinth_gguf_writer *w, const char *arch, const char *key, int64_t v)
{
    char k[160];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return plinth_gguf_writer_add_int(w, k, PLINTH_META_U32, v);
}

static plinth_status put_float(plinth_gguf_writer *w, const char *arch, const char *key, double v)
{
    char k[160];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return plinth_gguf_writer_add_float(w, k, PLINTH_META_F32, v);
}

/* The period of c's sliding layers (each period's last layer global), or
 * 0 when they follow none. */
static int sliding_period(const lm_config *c)
{
    for (int p = 1; p <= c->n_layers; p++) {
        bool ok = true;
        for (int i = 0; i < c->n_layers && ok; i++)
            ok = c->sliding[i] == ((i + 1) % p != 0);
        if (ok)
            return p;
    }
    return 0;
}

/* llama.cpp's keys for a config read from config.json. */
static plinth_status config_keys(plinth_gguf_writer *w, const lm_config *c, const char *in,
                                 char *err, size_t es)
{
    const char *a = c->traits->gguf_arch;
    const bool gemma = c->arch == LM_ARCH_GEMMA3;
    /* What llama.cpp computes rather than reads must agree with the config. */
    const float qpas = gemma && c->n_layers == 62 ? (float)(c->hidden / c->n_heads)
                                                  : (float)c->head_dim;
    if (gemma && c->query_pre_attn_scalar != qpas)
        return fail(err, es, PLINTH_ERR_UNSUPPORTED, "%s: query_pre_attn_scalar is %g; llama.cpp "
                    "scales Gemma 3's attention by %g^-0.5 and GGUF has no key for it", in,
                    (double)c->query_pre_attn_scalar, (double)qpas);
    const int period = gemma ? sliding_period(c) : 0;
    if (gemma && period == 0)
        return fail(err, es, PLINTH_ERR_UNSUPPORTED, "%s: its layer_types follow no period of "
                    "sliding layers, which is all llama.cpp's Gemma 3 reads", in);
    if (c->rope_factor > 0 && c->rope_llama3 && c->arch != LM_ARCH_LLAMA)
        return fail(err, es, PLINTH_ERR_UNSUPPORTED, "%s: llama3 rope scaling outside llama", in);
    plinth_status st = plinth_gguf_writer_add_string(w, "general.architecture", a);
    if (st == PLINTH_OK) st = put_int(w, a, "context_length", c->max_pos);
    if (st == PLINTH_OK) st = put_int(w, a, "embedding_length", c->hidden);
    if (st == PLINTH_OK) st = put_int(w, a, "feed_forward_length", c->ffn);
    if (st == PLINTH_OK) st = put_int(w, a, "block_count", c->n_layers);
    if (st == PLINTH_OK) st = put_int(w, a, "attention.head_count", c->n_heads);
    if (st == PLINTH_OK) st = put_int(w, a, "attention.head_count_kv", c->n_kv_heads);
    if (st == PLINTH_OK) st = put_int(w, a, "attention.key_length", c->head_dim);
    if (st == PLINTH_OK) st = put_int(w, a, "attention.value_length", c->head_dim);
    if (st == PLINTH_OK) st = put_float(w, a, "attention.layer_norm_rms_epsilon", c->eps);
    if (st == PLINTH_OK) st = put_float(w, a, "rope.freq_base", c->rope_theta);
    if (st == PLINTH_OK && c->arch == LM_ARCH_LLAMA) {
        st = put_int(w, a, "rope.dimension_count", c->head_dim);
        if (st == PLINTH_OK) st = put_int(w, a, "vocab_size", c->vocab);
    }
    if (st == PLINTH_OK && gemma) {
        st = put_int(w, a, "attention.sliding_window", c->sliding_window);
        if (st == PLINTH_OK) st = put_int(w, a, "attention.sliding_window_pattern", period);
        if (st == PLINTH_OK) st = put_float(w, a, "rope.freq_base_swa", c->rope_local_base);
    }
    if (st == PLINTH_OK && c->rope_factor > 0 && !c->rope_llama3) {
        char k[160];
        snprintf(k, sizeof k, "%s.rope.scaling.type", a);
        st = plinth_gguf_writer_add_string(w, k, "linear");
        if (st == PLINTH_OK) st = put_float(w, a, "rope.scaling.factor", c->rope_factor);
    }
    return st;
}

/* A GGUF source's metadata, every key as it is (but those rewritten). */
static plinth_status copy_keys(plinth_gguf_writer *w, plinth_state_dict *sd, plinth_context *ctx,
                               char *err, size_t es)
{
    const uint32_t n = plinth_state_dict_meta_count(sd);
    plinth_status st = PLINTH_OK;
    for (uint32_t i = 0; i < n && st == PLINTH_OK; i++) {
        const char *k = plinth_state_dict_meta_key(sd, i);
        const int32_t t = plinth_state_dict_meta_type(sd, k);
        if (strcmp(k, "general.file_type") == 0 || strcmp(k, "general.quantization_version") == 0)
            continue;
        int64_t iv;
        double dv;
        bool bv;
        const char *sv;
        if (t == PLINTH_META_F32 || t == PLINTH_META_F64) {
            if ((st = plinth_state_dict_meta_double(sd, k, &dv)) == PLINTH_OK)
                st = plinth_gguf_writer_add_float(w, k, t, dv);
        } else if (t == PLINTH_META_BOOL) {
            if ((st = plinth_state_dict_meta_bool(sd, k, &bv)) == PLINTH_OK)
                st = plinth_gguf_writer_add_bool(w, k, bv);
        } else if (t == PLINTH_META_STRING) {
            if ((st = plinth_state_dict_meta_string(sd, k, &sv, NULL)) == PLINTH_OK)
                st = plinth_gguf_writer_add_string(w, k, sv);
        } else if (t != PLINTH_META_ARRAY) {
            if ((st = plinth_state_dict_meta_int(sd, k, INT64_MIN, INT64_MAX, &iv)) == PLINTH_OK)
                st = plinth_gguf_writer_add_int(w, k, t, iv);
        } else {
            int32_t et;
            uint64_t len;
            plinth_state_dict_meta_array(sd, k, &et, &len);
            const size_t esz = et == PLINTH_META_STRING ? sizeof(char *)
                               : et == PLINTH_META_BOOL ? sizeof(bool)
                               : et == PLINTH_META_U8 || et == PLINTH_META_I8 ? 1
                               : et == PLINTH_META_U16 || et == PLINTH_META_I16 ? 2
                               : et == PLINTH_META_U64 || et == PLINTH_META_I64 ||
                                       et == PLINTH_META_F64 ? 8 : 4;
            unsigned char *v = model_calloc(ctx, len, esz);
            uint64_t *lens = et == PLINTH_META_STRING ? model_calloc(ctx, len, 8) : NULL;
            if (!v || (et == PLINTH_META_STRING && !lens)) {
                model_free(ctx, v);
                model_free(ctx, lens);
                return fail(err, es, PLINTH_ERR_NO_MEMORY, "%s: out of memory", k);
            }
            for (uint64_t j = 0; j < len && st == PLINTH_OK; j++) {
                unsigned char *e = v + j * esz;
                if (et == PLINTH_META_STRING) {
                    st = plinth_state_dict_meta_array_string(sd, k, j, &sv, &lens[j]);
                    memcpy(e, &sv, sizeof sv);
                } else if (et == PLINTH_META_F32 || et == PLINTH_META_F64) {
                    st = plinth_state_dict_meta_array_double(sd, k, j, &dv);
                    const float fv = (float)dv;
                    memcpy(e, et == PLINTH_META_F32 ? (const void *)&fv : (const void *)&dv, esz);
                } else {
                    st = plinth_state_dict_meta_array_int(sd, k, j, &iv);
                    if (et == PLINTH_META_BOOL)
                        *(bool *)e = iv != 0;
                    else
                        memcpy(e, &iv, esz); /* little-endian: the low bytes */
                }
            }
            if (st == PLINTH_OK)
                st = et == PLINTH_META_STRING
                         ? plinth_gguf_writer_add_string_array(w, k, (const char *const *)v,
                                                               lens, len)
                         : plinth_gguf_writer_add_array(w, k, et, v, len);
            model_free(ctx, v);
            model_free(ctx, lens);
        }
    }
    return st == PLINTH_OK ? st : fail(err, es, st, "%s", plinth_context_error(ctx));
}

/* ----------------------------------------------------------------- tensors */

/* File row r's source row: the converter's permutation undone. */
static int64_t source_row(const job *j, int64_t r)
{
    if (j->tr != GGUF_PERMUTE_Q && j->tr != GGUF_PERMUTE_K)
        return r;
    const int64_t D = j->rows / j->heads, half = D / 2, h = r / D, w = r % D;
    return h * D + (w % 2) * half + w / 2;
}

static plinth_status produce(void *user, uint64_t offset, void *dst, uint64_t size)
{
    job *j = user;
    const uint64_t row_out = plinth_dtype_row_bytes(j->dst, j->cols);
    const uint64_t row_in = j->values ? 0 : plinth_dtype_row_bytes(j->src, j->cols);
    for (uint64_t at = 0; at < size; at += row_out) {
        const int64_t r = (int64_t)((offset + at) / row_out);
        if (j->values)
            memcpy(j->f, j->values + r * j->cols, (size_t)j->cols * sizeof *j->f);
        else {
            plinth_status st = plinth_state_dict_read(j->sd, j->index,
                                                      (uint64_t)source_row(j, r) * row_in,
                                                      j->raw, row_in);
            if (st != PLINTH_OK)
                return st;
            if (plinth_dequantize_row(j->src, j->raw, j->cols, j->f) != PLINTH_OK)
                return PLINTH_ERR_FORMAT;
        }
        if (j->tr == GGUF_PLUS_ONE)
            for (int64_t k = 0; k < j->cols; k++)
                j->f[k] += 1.0f; /* in f32, as plinth's graph adds it */
        if (plinth_quantize_row(j->dst, j->f, j->cols, (unsigned char *)dst + at) != PLINTH_OK)
            return PLINTH_ERR_FORMAT; /* the writer names the tensor */
        j->done += (uint64_t)j->cols;
        *j->total_done += (uint64_t)j->cols;
        if (j->o->progress && j->total)
            j->o->progress(j->o->progress_user, (double)*j->total_done / (double)j->total);
    }
    return PLINTH_OK;
}

/* ------------------------------------------------------------ the whole file */

typedef struct plan {
    plinth_context *ctx; /* the memory of everything below */
    job *jobs;
    uint32_t n;
    float rope[MODEL_MAX_HEAD_DIM / 2];
    uint64_t total, done;
} plan;

static void plan_free(plan *p)
{
    for (uint32_t i = 0; p->jobs && i < p->n; i++) {
        model_free(p->ctx, p->jobs[i].f);
        model_free(p->ctx, p->jobs[i].raw);
    }
    model_free(p->ctx, p->jobs);
}

/* One job per param (src config c names them in the file, out names them
 * in GGUF), and rope_freqs for llama3 scaling. */
static plinth_status add_tensors(plinth_gguf_writer *w, plinth_context *ctx, plinth_state_dict *sd,
                                 const lm_config *c, const lm_quantize_options *o, plan *p,
                                 char *err, size_t es)
{
    lm_config out = *c, bare = *c;
    out.gguf = true;
    bare.prefix[0] = bare.head_prefix[0] = '\0';
    uint32_t n = 0;
    char name[160], gname[160], hf[160];
    int64_t rows, cols;
    bool is_norm;
    while (lm_param_at(c, n, name, sizeof name, &rows, &cols, &is_norm))
        n++;
    if (!(p->jobs = model_calloc(ctx, n + 1, sizeof *p->jobs)))
        return fail(err, es, PLINTH_ERR_NO_MEMORY, "out of memory");
    plinth_status st = PLINTH_OK;
    for (uint32_t i = 0; i < n && st == PLINTH_OK; i++) {
        lm_param_at(c, i, name, sizeof name, &rows, &cols, &is_norm);
        lm_param_at(&out, i, gname, sizeof gname, &rows, &cols, &is_norm);
        lm_param_at(&bare, i, hf, sizeof hf, &rows, &cols, &is_norm);
        job *j = &p->jobs[p->n++];
        const int32_t idx = plinth_state_dict_find(sd, name);
        plinth_tensor_info t = {.struct_size = sizeof t};
        if (idx < 0 || plinth_state_dict_tensor(sd, (uint32_t)idx, &t) != PLINTH_OK)
            return fail(err, es, PLINTH_ERR_FORMAT, "%s: tensor '%s' is missing",
                        plinth_state_dict_path(sd), name);
        const bool matrix = cols != 0;
        const int64_t want[2] = {rows, cols};
        if (t.dtype < 0 || t.dtype == PLINTH_I32 || t.ndim != (matrix ? 2 : 1) ||
            t.shape[0] != want[0] || (matrix && t.shape[1] != want[1]))
            return fail(err, es, PLINTH_ERR_FORMAT, "%s: tensor '%s' is %s %s; the config wants "
                        "a float or block tensor of %lld x %lld", plinth_state_dict_path(sd),
                        name, t.dtype_name, t.ndim == 2 ? "2-D" : "not 2-D", (long long)rows,
                        (long long)(matrix ? cols : 1));
        gguf_transform tr = GGUF_AS_IS;
        if (!c->gguf)
            gguf_name_of(c, hf, gname, sizeof gname, &tr);
        *j = (job){.sd = sd, .ctx = ctx, .index = (uint32_t)idx, .src = t.dtype,
                   .dst = choose(o, c, gname, matrix ? cols : rows, matrix, t.dtype),
                   .rows = matrix ? rows : 1, .cols = matrix ? cols : rows, .tr = tr,
                   .heads = tr == GGUF_PERMUTE_Q ? c->n_heads : c->n_kv_heads, .o = o,
                   .total_done = &p->done};
        if ((tr == GGUF_PERMUTE_Q || tr == GGUF_PERMUTE_K) &&
            (rows % j->heads != 0 || (rows / j->heads) % 2 != 0))
            return fail(err, es, PLINTH_ERR_FORMAT, "%s: tensor '%s' is not %lld heads of an even "
                        "size", plinth_state_dict_path(sd), name, (long long)j->heads);
        j->f = model_calloc(ctx, (size_t)j->cols, sizeof *j->f);
        j->raw = model_malloc(ctx, plinth_dtype_row_bytes(j->src, j->cols) + 1);
        if (!j->f || !j->raw)
            return fail(err, es, PLINTH_ERR_NO_MEMORY, "out of memory");
        p->total += (uint64_t)(j->rows * j->cols);
        st = plinth_gguf_writer_add_tensor_fn(w, gname, j->dst, matrix ? 2 : 1,
                                              matrix ? want : &rows, produce, j);
    }
    if (st == PLINTH_OK && (c->rope_llama3 || c->rope_freqs_given) &&
        lm_config_rope_factors(c, false, p->rope)) {
        const int64_t half = c->head_dim / 2;
        job *j = &p->jobs[p->n++];
        *j = (job){.dst = PLINTH_F32, .rows = 1, .cols = half, .values = p->rope, .o = o,
                   .total_done = &p->done, .f = model_calloc(ctx, (size_t)half, sizeof(float))};
        if (!j->f)
            return fail(err, es, PLINTH_ERR_NO_MEMORY, "out of memory");
        st = plinth_gguf_writer_add_tensor_fn(w, "rope_freqs.weight", PLINTH_F32, 1, &half,
                                              produce, j);
    }
    return st == PLINTH_OK ? st : fail(err, es, st, "%s", plinth_context_error(ctx));
}

plinth_status lm_quantize(plinth_context *ctx, const char *in, const char *out,
                          const lm_quantize_options *o, char *err, size_t es)
{
    if (plinth_dtype_block_elems(o->type) == 0 || o->type == PLINTH_I32 ||
        (o->mix && o->type != PLINTH_Q4_K))
        return fail(err, es, PLINTH_ERR_INVALID, "quantize: type %d is not one plinth writes",
                    (int)o->type);
    char gpath[4096];
    lm_config c;
    plinth_state_dict *sd = NULL;
    plinth_gguf_writer *w = NULL;
    tokenizer *tok = NULL;
    plan p = {.ctx = ctx};
    const int gguf = lm_gguf_path(in, gpath, sizeof gpath, err, es);
    plinth_status st = gguf < 0 ? PLINTH_ERR_INVALID : PLINTH_OK;
    if (st == PLINTH_OK && gguf) {
        if ((st = plinth_state_dict_open(ctx, gpath, &sd)) != PLINTH_OK)
            st = fail(err, es, st, "%s", plinth_context_error(ctx));
        else
            st = lm_config_from_gguf(ctx, sd, &c, err, es);
    } else if (st == PLINTH_OK) {
        st = lm_config_load(ctx, in, &c, err, es);
        if (st == PLINTH_OK && (st = plinth_state_dict_open(ctx, in, &sd)) != PLINTH_OK)
            st = fail(err, es, st, "%s", plinth_context_error(ctx));
        if (st == PLINTH_OK)
            lm_config_find_prefix(&c, sd);
        char tpath[4096];
        struct stat sb;
        snprintf(tpath, sizeof tpath, "%s/tokenizer.json", in);
        if (st == PLINTH_OK && stat(tpath, &sb) == 0 && tokenizer_load(ctx, in, &tok, err, es) != 0)
            st = PLINTH_ERR_FORMAT;
    }
    if (st == PLINTH_OK && (st = plinth_gguf_writer_create(ctx, out, &w)) != PLINTH_OK)
        st = fail(err, es, st, "%s", plinth_context_error(ctx));
    if (st == PLINTH_OK)
        st = gguf ? copy_keys(w, sd, ctx, err, es) : config_keys(w, &c, in, err, es);
    if (st == PLINTH_OK && tok && tokenizer_write_gguf(tok, w, (uint32_t)c.vocab, err, es) != 0)
        st = PLINTH_ERR_FORMAT;
    if (st == PLINTH_OK &&
        ((st = plinth_gguf_writer_add_int(w, "general.quantization_version", PLINTH_META_U32,
                                          2)) != PLINTH_OK ||
         (st = plinth_gguf_writer_add_int(w, "general.file_type", PLINTH_META_U32,
                                          file_type(o))) != PLINTH_OK))
        st = fail(err, es, st, "%s", plinth_context_error(ctx));
    if (st == PLINTH_OK)
        st = add_tensors(w, ctx, sd, &c, o, &p, err, es);
    if (st == PLINTH_OK && (st = plinth_gguf_writer_write(w)) != PLINTH_OK)
        st = fail(err, es, st, "%s", plinth_context_error(ctx));
    plan_free(&p);
    plinth_gguf_writer_destroy(w);
    tokenizer_free(tok);
    plinth_state_dict_close(sd);
    return st;
}
