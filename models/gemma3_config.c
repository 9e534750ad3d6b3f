/*
 * gemma3_config.c — config.json of a Gemma 3 text model, and the names of
 * its params.
 *
 * Sections: keys (integers and floats checked before conversion, with the
 * key and the value in every message); the kind of model; layer types and
 * token ids; the whole config (text or file); the param list.
 */
#include "gemma3.h"
#include "errbuf.h"
#include "json_text.h"
#include "model_limits.h"

#include <cJSON.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define fail(err, size, st, ...) ((plinth_status)errbuf_fail(err, size, st, __VA_ARGS__))

/* ---------------------------------------------------------------- keys --- */

typedef struct reader {
    const cJSON *root;
    const char *path;
    char *err;
    size_t es;
} reader;

/* j as an integer in [lo, hi]: the range is checked on the double, before
 * any conversion (1e38 to int32 is undefined behaviour). `name` is the key
 * as messages print it ("eos_token_id"[1]); `why` names the bound. */
static plinth_status int_value(const reader *r, const cJSON *j, const char *name, int64_t lo,
                               int64_t hi, const char *why, int32_t *out)
{
    const double v = cJSON_IsNumber(j) ? j->valuedouble : NAN;
    if (v >= (double)lo && v <= (double)hi && v == floor(v)) {
        *out = (int32_t)v;
        return PLINTH_OK;
    }
    char b[96];
    return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                "%s: key %s is %s; it must be an integer in [%lld, %lld]%s%s%s", r->path, name,
                json_text_show(j, b, sizeof b), (long long)lo, (long long)hi, why ? " (" : "",
                why ? why : "", why ? ")" : "");
}

/* An integer key in [lo, hi]; missing (or null) is an error when
 * `required`, else *out keeps its default. */
static plinth_status get_int(const reader *r, const char *key, bool required, int64_t lo,
                             int64_t hi, const char *why, int32_t *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!j || cJSON_IsNull(j)) {
        if (required)
            return fail(r->err, r->es, PLINTH_ERR_FORMAT, "%s: required key \"%s\" is missing",
                        r->path, key);
        return PLINTH_OK;
    }
    char name[80];
    snprintf(name, sizeof name, "\"%s\"", key);
    return int_value(r, j, name, lo, hi, why, out);
}

/* A positive float key. Checked on its f32 image, the value the graph
 * uses: 1e-300 is 0 in f32 (an attention scale of 0^-0.5 makes every
 * logit NaN), 1e39 is infinite. */
static plinth_status get_float(const reader *r, const char *key, bool required, float *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!j || cJSON_IsNull(j)) {
        if (required)
            return fail(r->err, r->es, PLINTH_ERR_FORMAT, "%s: required key \"%s\" is missing",
                        r->path, key);
        return PLINTH_OK;
    }
    char b[96];
    const double v = cJSON_IsNumber(j) ? j->valuedouble : NAN;
    if (!(v > 0) || !isfinite(v))
        return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                    "%s: key \"%s\" is %s; it must be a positive number", r->path, key,
                    json_text_show(j, b, sizeof b));
    /* Out of float's range the conversion is undefined: compare first. */
    const float f = v > (double)3.4028234663852886e38 ? INFINITY : (float)v;
    if (f == 0.0f || isinf(f))
        return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                    "%s: key \"%s\" is %s, which is %s as a 32-bit float; it must be a positive "
                    "number whose f32 value is neither 0 nor infinite",
                    r->path, key, json_text_show(j, b, sizeof b), f == 0.0f ? "0" : "infinite");
    *out = f;
    return PLINTH_OK;
}

/* A key that must be absent or null (features plinth does not implement). */
static plinth_status must_be_null(const reader *r, const char *key, const char *why)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!j || cJSON_IsNull(j))
        return PLINTH_OK;
    return fail(r->err, r->es, PLINTH_ERR_UNSUPPORTED, "%s: key \"%s\" is not null: %s",
                r->path, key, why);
}

/* ------------------------------------------------------ kind of model --- */

static plinth_status check_kind(const reader *r)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(r->root, "model_type");
    if (!cJSON_IsString(mt))
        return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                    "%s: required key \"model_type\" is missing (or not a string)", r->path);
    if (strcmp(mt->valuestring, "gemma3_text") != 0)
        return fail(r->err, r->es, PLINTH_ERR_UNSUPPORTED,
                    "%s: key \"model_type\" is \"%.64s\"; plinth runs \"gemma3_text\" models "
                    "only%s",
                    r->path, mt->valuestring,
                    strcmp(mt->valuestring, "gemma3") == 0
                        ? " (this is the multimodal wrapper; use a text-only checkpoint)"
                        : "");
    plinth_status st = must_be_null(r, "attn_logit_softcapping", "softcapping is not supported");
    if (st == PLINTH_OK)
        st = must_be_null(r, "final_logit_softcapping", "softcapping is not supported");
    if (st != PLINTH_OK)
        return st;
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(r->root, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
        if (!cJSON_IsString(t) || strcmp(t->valuestring, "default") != 0)
            return fail(r->err, r->es, PLINTH_ERR_UNSUPPORTED,
                        "%s: key \"rope_scaling\" is not null: RoPE scaling is not supported",
                        r->path);
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(r->root, "hidden_activation");
    if (act && !cJSON_IsNull(act) &&
        (!cJSON_IsString(act) || (strcmp(act->valuestring, "gelu_pytorch_tanh") != 0 &&
                                  strcmp(act->valuestring, "gelu_tanh") != 0)))
        return fail(r->err, r->es, PLINTH_ERR_UNSUPPORTED,
                    "%s: key \"hidden_activation\" must be \"gelu_pytorch_tanh\"", r->path);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->root, "use_bidirectional_attention")))
        return fail(r->err, r->es, PLINTH_ERR_UNSUPPORTED,
                    "%s: key \"use_bidirectional_attention\" is true (an embedding model); "
                    "plinth runs causal language models only", r->path);
    return PLINTH_OK;
}

/* ------------------------------------------- layer types and token ids --- */

static plinth_status layer_types(const reader *r, gemma3_config *c)
{
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(r->root, "layer_types");
    if (lt && !cJSON_IsNull(lt)) {
        if (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != c->n_layers)
            return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                        "%s: key \"layer_types\" must list %d layer types (num_hidden_layers)",
                        r->path, (int)c->n_layers);
        int32_t i = 0;
        for (const cJSON *t = lt->child; t; t = t->next, i++) {
            if (cJSON_IsString(t) && strcmp(t->valuestring, "sliding_attention") == 0)
                c->sliding[i] = true;
            else if (cJSON_IsString(t) && strcmp(t->valuestring, "full_attention") == 0)
                c->sliding[i] = false;
            else
                return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                            "%s: key \"layer_types\"[%d] must be \"sliding_attention\" or "
                            "\"full_attention\"", r->path, (int)i);
        }
        return PLINTH_OK;
    }
    /* Every Nth layer is global (HF: sliding iff (i + 1) % N != 0). */
    int32_t pattern = 6;
    plinth_status st = get_int(r, "sliding_window_pattern", false, 1, MODEL_MAX_LAYERS,
                               "MODEL_MAX_LAYERS", &pattern);
    if (st == PLINTH_OK)
        st = get_int(r, "_sliding_window_pattern", false, 1, MODEL_MAX_LAYERS, "MODEL_MAX_LAYERS",
                     &pattern);
    for (int32_t i = 0; i < c->n_layers && st == PLINTH_OK; i++)
        c->sliding[i] = (i + 1) % pattern != 0;
    return st;
}

/* eos_token_id: one id or a list of at most MODEL_MAX_EOS_IDS, each a
 * token id (below vocab_size). */
static plinth_status eos_ids(const reader *r, gemma3_config *c)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->root, "eos_token_id");
    c->eos[0] = 1;
    c->n_eos = 1;
    if (!e || cJSON_IsNull(e))
        return PLINTH_OK;
    if (!cJSON_IsArray(e))
        return int_value(r, e, "\"eos_token_id\"", 0, c->vocab - 1, "a token id below vocab_size",
                         &c->eos[0]);
    c->n_eos = 0;
    for (const cJSON *x = e->child; x; x = x->next) {
        if (c->n_eos == MODEL_MAX_EOS_IDS)
            return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                        "%s: key \"eos_token_id\" lists more than %d ids (MODEL_MAX_EOS_IDS)",
                        r->path, MODEL_MAX_EOS_IDS);
        char name[48];
        snprintf(name, sizeof name, "\"eos_token_id\"[%d]", (int)c->n_eos);
        plinth_status st = int_value(r, x, name, 0, c->vocab - 1, "a token id below vocab_size",
                                     &c->eos[c->n_eos]);
        if (st != PLINTH_OK)
            return st;
        c->n_eos++;
    }
    return PLINTH_OK;
}

/* ------------------------------------------------------ the whole config --- */

static plinth_status parse(const reader *r, gemma3_config *c)
{
    plinth_status st = check_kind(r);
#define INT(key, req, lo, hi, field) \
    if (st == PLINTH_OK) st = get_int(r, key, req, lo, hi, #hi, &c->field)
    INT("vocab_size", true, 1, MODEL_MAX_VOCAB, vocab);
    INT("hidden_size", true, 1, MODEL_MAX_HIDDEN, hidden);
    INT("intermediate_size", true, 1, MODEL_MAX_FFN, ffn);
    INT("num_hidden_layers", true, 1, MODEL_MAX_LAYERS, n_layers);
    INT("num_attention_heads", true, 1, MODEL_MAX_HEADS, n_heads);
    INT("num_key_value_heads", true, 1, MODEL_MAX_HEADS, n_kv_heads);
    INT("head_dim", true, 2, MODEL_MAX_HEAD_DIM, head_dim);
    INT("sliding_window", true, 1, MODEL_MAX_CONTEXT, sliding_window);
    INT("max_position_embeddings", false, 1, MODEL_MAX_CONTEXT, max_pos);
#undef INT
    if (st == PLINTH_OK) st = get_float(r, "rms_norm_eps", true, &c->eps);
    if (st == PLINTH_OK) st = get_float(r, "rope_theta", true, &c->rope_theta);
    if (st == PLINTH_OK) st = get_float(r, "rope_local_base_freq", false, &c->rope_local_base);
    if (st == PLINTH_OK) st = get_float(r, "query_pre_attn_scalar", false, &c->query_pre_attn_scalar);
    if (st == PLINTH_OK)
        st = get_int(r, "bos_token_id", false, 0, c->vocab - 1, "a token id below vocab_size",
                     &c->bos);
    if (st == PLINTH_OK) st = layer_types(r, c);
    if (st == PLINTH_OK) st = eos_ids(r, c);
    if (st != PLINTH_OK)
        return st;
    /* The defaults are Gemma's ids; a tiny vocabulary may not have them,
     * and callers use both as token ids. */
    if (c->bos >= c->vocab || c->eos[0] >= c->vocab)
        return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                    "%s: key \"%s\" is missing and its default %d is not below vocab_size %d",
                    r->path, c->bos >= c->vocab ? "bos_token_id" : "eos_token_id",
                    (int)(c->bos >= c->vocab ? c->bos : c->eos[0]), (int)c->vocab);
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(r->root, "tie_word_embeddings");
    if (tie && !cJSON_IsNull(tie) && !cJSON_IsBool(tie)) {
        char b[96];
        return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                    "%s: key \"tie_word_embeddings\" is %s; it must be true or false", r->path,
                    json_text_show(tie, b, sizeof b));
    }
    c->tied = !cJSON_IsFalse(tie);
    if (c->n_heads % c->n_kv_heads != 0)
        return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                    "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                    r->path, (int)c->n_heads, (int)c->n_kv_heads);
    if (c->head_dim % 2 != 0)
        return fail(r->err, r->es, PLINTH_ERR_FORMAT, "%s: head_dim %d must be even (RoPE rotates "
                    "pairs)", r->path, (int)c->head_dim);
    return PLINTH_OK;
}

static void defaults(gemma3_config *out)
{
    memset(out, 0, sizeof *out);
    out->query_pre_attn_scalar = 256.0f;
    out->rope_local_base = 10000.0f;
    out->max_pos = 131072;
    out->bos = 2;
}

/* text[len] must be readable (json_text_parse's contract). */
static plinth_status parse_text(const char *text, size_t len, const char *where,
                                gemma3_config *out, char *err, size_t es)
{
    plinth_status st;
    cJSON *root = json_text_parse(text, len, where, &st, err, es);
    if (!root)
        return st;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(err, es, PLINTH_ERR_FORMAT, "%s: not a JSON object", where);
    }
    reader r = {.root = root, .path = where, .err = err, .es = es};
    st = parse(&r, out);
    cJSON_Delete(root);
    return st;
}

plinth_status gemma3_config_parse(const char *text, size_t len, const char *where,
                                  gemma3_config *out, char *err, size_t es)
{
    defaults(out);
    if (len > MODEL_MAX_CONFIG_BYTES)
        return fail(err, es, PLINTH_ERR_FORMAT,
                    "%s: %zu bytes, more than the %u bytes a config.json may have "
                    "(MODEL_MAX_CONFIG_BYTES)", where, len, MODEL_MAX_CONFIG_BYTES);
    char *copy = malloc(len + 1); /* cJSON may look one byte past the end */
    if (!copy)
        return fail(err, es, PLINTH_ERR_NO_MEMORY, "%s: out of memory", where);
    if (len)
        memcpy(copy, text, len);
    copy[len] = '\0';
    plinth_status st = parse_text(copy, len, where, out, err, es);
    free(copy);
    return st;
}

plinth_status gemma3_config_load(const char *path, gemma3_config *out, char *err, size_t es)
{
    defaults(out);
    char file[4096];
    struct stat s;
    int n = stat(path, &s) == 0 && S_ISDIR(s.st_mode)
                ? snprintf(file, sizeof file, "%s/config.json", path)
                : snprintf(file, sizeof file, "%s", path);
    if (n < 0 || (size_t)n >= sizeof file)
        return fail(err, es, PLINTH_ERR_IO, "%.256s...: path too long", path);
    char *text;
    size_t len;
    plinth_status st = json_text_read(file, MODEL_MAX_CONFIG_BYTES, "MODEL_MAX_CONFIG_BYTES",
                                      &text, &len, err, es);
    if (st != PLINTH_OK)
        return st;
    st = parse_text(text, len, file, out, err, es);
    free(text);
    return st;
}

/* ------------------------------------------------------------ params --- */

/* Per layer, in the order the HF checkpoints (and the golden README) use. */
static const struct {
    const char *suffix;
    int rows, cols; /* 0 none, 1 hidden, 2 q dim, 3 kv dim, 4 ffn, 5 head_dim */
    bool norm;
} layer_params[] = {
    {"input_layernorm.weight", 1, 0, true},
    {"self_attn.q_proj.weight", 2, 1, false},
    {"self_attn.k_proj.weight", 3, 1, false},
    {"self_attn.v_proj.weight", 3, 1, false},
    {"self_attn.q_norm.weight", 5, 0, true},
    {"self_attn.k_norm.weight", 5, 0, true},
    {"self_attn.o_proj.weight", 1, 2, false},
    {"post_attention_layernorm.weight", 1, 0, true},
    {"pre_feedforward_layernorm.weight", 1, 0, true},
    {"mlp.gate_proj.weight", 4, 1, false},
    {"mlp.up_proj.weight", 4, 1, false},
    {"mlp.down_proj.weight", 1, 4, false},
    {"post_feedforward_layernorm.weight", 1, 0, true},
};
#define N_LAYER_PARAMS (sizeof layer_params / sizeof layer_params[0])

static int64_t dim_of(const gemma3_config *c, int code)
{
    switch (code) {
    case 1: return c->hidden;
    case 2: return (int64_t)c->n_heads * c->head_dim;
    case 3: return (int64_t)c->n_kv_heads * c->head_dim;
    case 4: return c->ffn;
    case 5: return c->head_dim;
    default: return 0;
    }
}

bool gemma3_param_at(const gemma3_config *c, uint32_t index, char *buf, size_t size,
                     int64_t *rows, int64_t *cols, bool *is_norm)
{
    const uint32_t n_layer = (uint32_t)c->n_layers * (uint32_t)N_LAYER_PARAMS;
    if (index == 0) {
        snprintf(buf, size, "model.embed_tokens.weight");
        *rows = c->vocab, *cols = c->hidden, *is_norm = false;
        return true;
    }
    index--;
    if (index < n_layer) {
        uint32_t l = index / (uint32_t)N_LAYER_PARAMS, k = index % (uint32_t)N_LAYER_PARAMS;
        snprintf(buf, size, "model.layers.%u.%s", l, layer_params[k].suffix);
        *rows = dim_of(c, layer_params[k].rows);
        *cols = dim_of(c, layer_params[k].cols);
        *is_norm = layer_params[k].norm;
        return true;
    }
    index -= n_layer;
    if (index == 0) {
        snprintf(buf, size, "model.norm.weight");
        *rows = c->hidden, *cols = 0, *is_norm = true;
        return true;
    }
    if (index == 1 && !c->tied) {
        snprintf(buf, size, "lm_head.weight");
        *rows = c->vocab, *cols = c->hidden, *is_norm = false;
        return true;
    }
    return false;
}
