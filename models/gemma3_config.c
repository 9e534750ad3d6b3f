/*
 * gemma3_config.c — config.json of a Gemma 3 text model, and the names of
 * its params.
 *
 * Sections: reading the file; keys (required, optional, rejected); layer
 * types; the param list.
 */
#include "gemma3.h"
#include "errbuf.h"

#include <cJSON.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define fail(err, size, st, ...) ((plinth_status)errbuf_fail(err, size, st, __VA_ARGS__))

/* ------------------------------------------------------------- the file --- */

static char *read_text(const char *path, char *err, size_t es)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fail(err, es, PLINTH_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    long n = -1;
    if (fseek(fp, 0, SEEK_END) == 0)
        n = ftell(fp);
    if (n >= 0 && n < (64L << 20) && fseek(fp, 0, SEEK_SET) == 0 &&
        (text = malloc((size_t)n + 1)) && fread(text, 1, (size_t)n, fp) == (size_t)n) {
        text[n] = '\0';
    } else {
        free(text);
        text = NULL;
        fail(err, es, PLINTH_ERR_IO, "%s: cannot read", path);
    }
    fclose(fp);
    return text;
}

/* ---------------------------------------------------------------- keys --- */

typedef struct reader {
    const cJSON *root;
    const char *path;
    char *err;
    size_t es;
} reader;

/* An integer key in [lo, hi]; missing is an error when `required`, else
 * *out keeps its default. */
static plinth_status get_int(const reader *r, const char *key, bool required, int64_t lo,
                             int64_t hi, int32_t *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!j || cJSON_IsNull(j)) {
        if (required)
            return fail(r->err, r->es, PLINTH_ERR_FORMAT, "%s: required key \"%s\" is missing",
                        r->path, key);
        return PLINTH_OK;
    }
    double v = cJSON_IsNumber(j) ? j->valuedouble : NAN;
    if (!(v >= (double)lo && v <= (double)hi) || v != floor(v))
        return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                    "%s: key \"%s\" must be an integer in [%lld, %lld]", r->path, key,
                    (long long)lo, (long long)hi);
    *out = (int32_t)v;
    return PLINTH_OK;
}

static plinth_status get_float(const reader *r, const char *key, bool required, float *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!j || cJSON_IsNull(j)) {
        if (required)
            return fail(r->err, r->es, PLINTH_ERR_FORMAT, "%s: required key \"%s\" is missing",
                        r->path, key);
        return PLINTH_OK;
    }
    if (!cJSON_IsNumber(j) || !(j->valuedouble > 0) || !isfinite(j->valuedouble))
        return fail(r->err, r->es, PLINTH_ERR_FORMAT, "%s: key \"%s\" must be a positive number",
                    r->path, key);
    *out = (float)j->valuedouble;
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

/* ---------------------------------------------------------- layer types --- */

static plinth_status layer_types(const reader *r, gemma3_config *c)
{
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(r->root, "layer_types");
    if (lt && !cJSON_IsNull(lt)) {
        if (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != c->n_layers)
            return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                        "%s: key \"layer_types\" must list %d layer types", r->path,
                        (int)c->n_layers);
        for (int32_t i = 0; i < c->n_layers; i++) {
            const cJSON *t = cJSON_GetArrayItem(lt, i);
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
    plinth_status st = get_int(r, "sliding_window_pattern", false, 1, 1 << 20, &pattern);
    if (st == PLINTH_OK)
        st = get_int(r, "_sliding_window_pattern", false, 1, 1 << 20, &pattern);
    for (int32_t i = 0; i < c->n_layers && st == PLINTH_OK; i++)
        c->sliding[i] = (i + 1) % pattern != 0;
    return st;
}

static plinth_status eos_ids(const reader *r, gemma3_config *c)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->root, "eos_token_id");
    c->eos[0] = 1;
    c->n_eos = 1;
    if (!e || cJSON_IsNull(e))
        return PLINTH_OK;
    if (cJSON_IsNumber(e)) {
        c->eos[0] = (int32_t)e->valuedouble;
        return PLINTH_OK;
    }
    if (!cJSON_IsArray(e))
        return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                    "%s: key \"eos_token_id\" must be an integer or a list", r->path);
    c->n_eos = 0;
    for (const cJSON *x = e->child; x && c->n_eos < GEMMA3_MAX_EOS; x = x->next)
        if (cJSON_IsNumber(x))
            c->eos[c->n_eos++] = (int32_t)x->valuedouble;
    return PLINTH_OK;
}

static plinth_status parse(const reader *r, gemma3_config *c)
{
    const int64_t big = 1 << 30;
    plinth_status st = check_kind(r);
    if (st == PLINTH_OK) st = get_int(r, "vocab_size", true, 1, big, &c->vocab);
    if (st == PLINTH_OK) st = get_int(r, "hidden_size", true, 1, big, &c->hidden);
    if (st == PLINTH_OK) st = get_int(r, "intermediate_size", true, 1, big, &c->ffn);
    if (st == PLINTH_OK) st = get_int(r, "num_hidden_layers", true, 1, GEMMA3_MAX_LAYERS, &c->n_layers);
    if (st == PLINTH_OK) st = get_int(r, "num_attention_heads", true, 1, 4096, &c->n_heads);
    if (st == PLINTH_OK) st = get_int(r, "num_key_value_heads", true, 1, 4096, &c->n_kv_heads);
    if (st == PLINTH_OK) st = get_int(r, "head_dim", true, 2, 1 << 16, &c->head_dim);
    if (st == PLINTH_OK) st = get_int(r, "sliding_window", true, 1, big, &c->sliding_window);
    if (st == PLINTH_OK) st = get_float(r, "rms_norm_eps", true, &c->eps);
    if (st == PLINTH_OK) st = get_float(r, "rope_theta", true, &c->rope_theta);
    if (st == PLINTH_OK) st = get_float(r, "rope_local_base_freq", false, &c->rope_local_base);
    if (st == PLINTH_OK) st = get_float(r, "query_pre_attn_scalar", false, &c->query_pre_attn_scalar);
    if (st == PLINTH_OK) st = get_int(r, "max_position_embeddings", false, 1, big, &c->max_pos);
    if (st == PLINTH_OK) st = get_int(r, "bos_token_id", false, 0, big, &c->bos);
    if (st == PLINTH_OK) st = layer_types(r, c);
    if (st == PLINTH_OK) st = eos_ids(r, c);
    if (st != PLINTH_OK)
        return st;
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(r->root, "tie_word_embeddings");
    c->tied = !cJSON_IsFalse(tie);
    if (c->n_heads % c->n_kv_heads != 0)
        return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                    "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                    r->path, (int)c->n_heads, (int)c->n_kv_heads);
    if (c->head_dim % 2 != 0)
        return fail(r->err, r->es, PLINTH_ERR_FORMAT, "%s: head_dim %d must be even", r->path,
                    (int)c->head_dim);
    return PLINTH_OK;
}

plinth_status gemma3_config_load(const char *path, gemma3_config *out, char *err, size_t es)
{
    memset(out, 0, sizeof *out);
    out->query_pre_attn_scalar = 256.0f;
    out->rope_local_base = 10000.0f;
    out->max_pos = 131072;
    out->bos = 2;
    char file[4096];
    struct stat s;
    if (stat(path, &s) == 0 && S_ISDIR(s.st_mode))
        snprintf(file, sizeof file, "%s/config.json", path);
    else
        snprintf(file, sizeof file, "%s", path);
    char *text = read_text(file, err, es);
    if (!text)
        return PLINTH_ERR_IO;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(err, es, PLINTH_ERR_FORMAT, "%s: not a JSON object", file);
    }
    reader r = {.root = root, .path = file, .err = err, .es = es};
    plinth_status st = parse(&r, out);
    cJSON_Delete(root);
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
