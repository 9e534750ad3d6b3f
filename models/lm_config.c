/*
 * lm_config.c — config.json of a decoder-only language model (gemma3_text,
 * gemma3's text part, llama, qwen2, qwen3), and the names of its params.
 *
 * Sections: keys (integers and floats checked before conversion, with the
 * key and the value in every message); the kind of model (the traits of
 * each architecture, what is refused, rope scaling); layer types and token
 * ids; the whole config (text or file) and rope factors; the param list.
 */
#include "lm_model.h"
#include "errbuf.h"
#include "gguf_names.h"
#include "json_text.h"
#include "model_limits.h"
#include "model_mem.h"

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

/* What sets the architectures apart, as data (decoder.c reads it). */
static const lm_arch_traits traits[LM_ARCH_COUNT] = {
    [LM_ARCH_GEMMA3] = {.model_type = "gemma3_text", .norm_plus_one = true, .embed_scale = true,
                        .gelu = true, .sandwich = true, .qk_norm = true, .sliding_layers = true,
                        .tied_default = true, .gguf_arch = "gemma3"},
    [LM_ARCH_LLAMA] = {.model_type = "llama", .gguf_arch = "llama", .gguf_permute_qk = true},
    [LM_ARCH_QWEN2] = {.model_type = "qwen2", .qkv_bias = true, .gguf_arch = "qwen2"},
    [LM_ARCH_QWEN3] = {.model_type = "qwen3", .qk_norm = true, .gguf_arch = "qwen3"},
};

const lm_arch_traits *lm_arch_traits_of(lm_arch arch)
{
    return arch >= 0 && arch < LM_ARCH_COUNT ? &traits[arch] : NULL;
}

static bool is_true(const reader *r, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->root, key));
}

/* A string key that, when present and not null, must be one of `ok`. */
static plinth_status string_in(const reader *r, const char *key, const char *const *ok, int n,
                               const char *why)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!j || cJSON_IsNull(j))
        return PLINTH_OK;
    for (int i = 0; i < n && cJSON_IsString(j); i++)
        if (strcmp(j->valuestring, ok[i]) == 0)
            return PLINTH_OK;
    char b[96];
    return fail(r->err, r->es, PLINTH_ERR_UNSUPPORTED, "%s: key \"%s\" is %s; %s", r->path, key,
                json_text_show(j, b, sizeof b), why);
}

/* model_type -> architecture. gemma3 (the multimodal wrapper) reads its
 * text_config: *text is set to it. */
static plinth_status arch_of(const reader *r, lm_arch *arch, const cJSON **text)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(r->root, "model_type");
    *text = NULL;
    if (!cJSON_IsString(mt))
        return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                    "%s: required key \"model_type\" is missing (or not a string)", r->path);
    for (int a = 0; a < LM_ARCH_COUNT; a++)
        if (strcmp(mt->valuestring, traits[a].model_type) == 0) {
            *arch = (lm_arch)a;
            return PLINTH_OK;
        }
    if (strcmp(mt->valuestring, "gemma3") == 0) {
        const cJSON *tc = cJSON_GetObjectItemCaseSensitive(r->root, "text_config");
        const cJSON *tt = cJSON_GetObjectItemCaseSensitive(tc, "model_type");
        if (!cJSON_IsObject(tc) || (tt && (!cJSON_IsString(tt) ||
                                           strcmp(tt->valuestring, "gemma3_text") != 0)))
            return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                        "%s: key \"model_type\" is \"gemma3\" but \"text_config\" is not a "
                        "gemma3_text config", r->path);
        *arch = LM_ARCH_GEMMA3;
        *text = tc;
        return PLINTH_OK;
    }
    return fail(r->err, r->es, PLINTH_ERR_UNSUPPORTED,
                "%s: key \"model_type\" is \"%.64s\"; plinth runs gemma3_text, gemma3 (its text "
                "part), llama, qwen2 and qwen3", r->path, mt->valuestring);
}

static plinth_status check_kind(const reader *r, lm_arch arch)
{
    static const char *const experts[] = {"num_experts", "num_local_experts", "n_routed_experts"};
    for (size_t i = 0; i < sizeof experts / sizeof experts[0]; i++) {
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(r->root, experts[i]);
        if (cJSON_IsNumber(j) && j->valuedouble > 0) {
            char b[96];
            return fail(r->err, r->es, PLINTH_ERR_UNSUPPORTED,
                        "%s: key \"%s\" is %s: a mixture of experts, which plinth does not run",
                        r->path, experts[i], json_text_show(j, b, sizeof b));
        }
    }
    plinth_status st = must_be_null(r, "attn_logit_softcapping", "softcapping is not supported");
    if (st == PLINTH_OK)
        st = must_be_null(r, "final_logit_softcapping", "softcapping is not supported");
    if (st != PLINTH_OK)
        return st;
    if (is_true(r, "use_bidirectional_attention"))
        return fail(r->err, r->es, PLINTH_ERR_UNSUPPORTED,
                    "%s: key \"use_bidirectional_attention\" is true (an embedding model); "
                    "plinth runs causal language models only", r->path);
    if (arch == LM_ARCH_GEMMA3) {
        static const char *const gelu[] = {"gelu_pytorch_tanh", "gelu_tanh"};
        return string_in(r, "hidden_activation", gelu, 2,
                         "Gemma 3's MLP is computed with gelu_pytorch_tanh");
    }
    static const char *const silu[] = {"silu"};
    st = string_in(r, "hidden_act", silu, 1, "this architecture's MLP is computed with silu");
    if (st == PLINTH_OK && is_true(r, "use_sliding_window"))
        return fail(r->err, r->es, PLINTH_ERR_UNSUPPORTED,
                    "%s: key \"use_sliding_window\" is true; plinth runs %s with full attention "
                    "on every layer only", r->path, traits[arch].model_type);
    if (st == PLINTH_OK && is_true(r, "mlp_bias"))
        return fail(r->err, r->es, PLINTH_ERR_UNSUPPORTED,
                    "%s: key \"mlp_bias\" is true; plinth runs MLPs without biases", r->path);
    if (st == PLINTH_OK && arch != LM_ARCH_QWEN2 && is_true(r, "attention_bias"))
        return fail(r->err, r->es, PLINTH_ERR_UNSUPPORTED,
                    "%s: key \"attention_bias\" is true; plinth runs %s without attention "
                    "biases", r->path, traits[arch].model_type);
    return st;
}

/* rope_scaling: null, "default", "linear" (every frequency divided by
 * factor) or, for llama, "llama3". Others are refused naming the type. */
static plinth_status rope_scaling(const reader *r, lm_config *c)
{
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(r->root, "rope_scaling");
    if (!rs || cJSON_IsNull(rs))
        return PLINTH_OK;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!t)
        t = cJSON_GetObjectItemCaseSensitive(rs, "type"); /* older configs */
    const char *type = cJSON_IsString(t) ? t->valuestring : "";
    if (strcmp(type, "default") == 0)
        return PLINTH_OK;
    const bool llama3 = strcmp(type, "llama3") == 0, linear = strcmp(type, "linear") == 0;
    if (!(linear || (llama3 && c->arch == LM_ARCH_LLAMA)))
        return fail(r->err, r->es, PLINTH_ERR_UNSUPPORTED,
                    "%s: key \"rope_scaling\" has rope_type \"%.32s\"; plinth supports "
                    "\"default\", \"linear\"%s", r->path, type,
                    c->arch == LM_ARCH_LLAMA ? " and \"llama3\"" : "");
    reader sub = *r;
    sub.root = rs;
    plinth_status st = get_float(&sub, "factor", true, &c->rope_factor);
    if (st != PLINTH_OK || linear) {
        c->rope_low_freq_factor = c->rope_high_freq_factor = 0;
        c->rope_llama3 = false;
        return st;
    }
    c->rope_llama3 = true;
    st = get_float(&sub, "low_freq_factor", true, &c->rope_low_freq_factor);
    if (st == PLINTH_OK)
        st = get_float(&sub, "high_freq_factor", true, &c->rope_high_freq_factor);
    if (st == PLINTH_OK)
        st = get_int(&sub, "original_max_position_embeddings", true, 1, MODEL_MAX_CONTEXT,
                     "MODEL_MAX_CONTEXT", &c->rope_original_max_pos);
    if (st == PLINTH_OK && !(c->rope_high_freq_factor > c->rope_low_freq_factor))
        return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                    "%s: key \"rope_scaling\": high_freq_factor %g must be above "
                    "low_freq_factor %g", r->path, (double)c->rope_high_freq_factor,
                    (double)c->rope_low_freq_factor);
    return st;
}

/* ------------------------------------------- layer types and token ids --- */

static plinth_status layer_types(const reader *r, lm_config *c)
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
static plinth_status eos_ids(const reader *r, lm_config *c)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->root, "eos_token_id");
    if (!e || cJSON_IsNull(e))
        return PLINTH_OK; /* the architecture's default (defaults()) */
    c->n_eos = 1;
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

/* The defaults of Hugging Face's config classes for the keys plinth lets
 * a config.json leave out. A multimodal Gemma 3's text_config may leave out
 * any key (Gemma3TextConfig's defaults fill them); the other architectures
 * must give their sizes. */
void lm_config_defaults(lm_config *c, lm_arch arch)
{
    memset(c, 0, sizeof *c);
    c->arch = arch;
    c->traits = &traits[arch];
    c->eps = 1e-6f;
    c->rope_theta = 10000.0f;
    c->rope_local_base = 10000.0f;
    c->tied = traits[arch].tied_default;
    c->query_pre_attn_scalar = 256.0f;
    c->bos = -1;
    c->n_eos = 0;
    switch (arch) {
    case LM_ARCH_GEMMA3:
        c->vocab = 262208, c->hidden = 2304, c->ffn = 9216, c->n_layers = 26;
        c->n_heads = 8, c->n_kv_heads = 4, c->head_dim = 256, c->sliding_window = 4096;
        c->rope_theta = 1000000.0f;
        c->max_pos = 131072;
        c->bos = 2, c->eos[0] = 1, c->n_eos = 1;
        break;
    case LM_ARCH_LLAMA:
        c->max_pos = 2048;
        c->bos = 1, c->eos[0] = 2, c->n_eos = 1;
        break;
    default:
        c->max_pos = 32768;
        break;
    }
}

/* HF's _compute_llama3_parameters, as the factor each frequency is divided
 * by: 1 above the high band, `factor` below the low band, and between them
 * the reciprocal of a linear blend of 1/factor and 1. In f64. */
static void llama3_factors(const lm_config *c, float *out)
{
    const int n = c->head_dim / 2;
    const double old = c->rope_original_max_pos, f = c->rope_factor;
    const double low_wl = old / c->rope_low_freq_factor, high_wl = old / c->rope_high_freq_factor;
    for (int i = 0; i < n; i++) {
        const double inv = pow((double)c->rope_theta, -2.0 * i / c->head_dim);
        const double wl = 2 * M_PI / inv;
        double k = 1;
        if (wl > low_wl)
            k = f;
        else if (wl >= high_wl) {
            const double s = (old / wl - c->rope_low_freq_factor) /
                             (c->rope_high_freq_factor - c->rope_low_freq_factor);
            k = 1 / ((1 - s) / f + s);
        }
        out[i] = (float)k;
    }
}

bool lm_config_rope_factors(const lm_config *c, bool sliding, float *out)
{
    if (c->rope_freqs_given && !(sliding && c->traits->sliding_layers)) {
        memcpy(out, c->rope_freqs, (size_t)(c->head_dim / 2) * sizeof *out);
        return true;
    }
    if (c->rope_factor <= 0 || (sliding && c->traits->sliding_layers))
        return false; /* Gemma scales its global layers only */
    if (c->rope_llama3)
        llama3_factors(c, out);
    else
        for (int i = 0; i < c->head_dim / 2; i++)
            out[i] = c->rope_factor;
    return true;
}

static plinth_status parse(const reader *top, lm_config *c)
{
    lm_arch arch = LM_ARCH_GEMMA3;
    const cJSON *text = NULL;
    plinth_status st = arch_of(top, &arch, &text);
    if (st != PLINTH_OK)
        return st;
    lm_config_defaults(c, arch);
    reader tr = *top;
    if (text)
        tr.root = text;
    const reader *r = &tr;
    const bool gemma = arch == LM_ARCH_GEMMA3;
    const bool req = !text, greq = gemma && req; /* required everywhere / for gemma3_text */
    c->n_kv_heads = gemma ? c->n_kv_heads : 0; /* 0: num_attention_heads */
    c->head_dim = gemma ? c->head_dim : 0;     /* 0: hidden_size / num_attention_heads */
    st = check_kind(r, arch);
#define INT(key, required, lo, hi, field) \
    if (st == PLINTH_OK) st = get_int(r, key, required, lo, hi, #hi, &c->field)
    INT("vocab_size", req, 1, MODEL_MAX_VOCAB, vocab);
    INT("hidden_size", req, 1, MODEL_MAX_HIDDEN, hidden);
    INT("intermediate_size", req, 1, MODEL_MAX_FFN, ffn);
    INT("num_hidden_layers", req, 1, MODEL_MAX_LAYERS, n_layers);
    INT("num_attention_heads", req, 1, MODEL_MAX_HEADS, n_heads);
    INT("num_key_value_heads", greq, 1, MODEL_MAX_HEADS, n_kv_heads);
    INT("head_dim", greq, 2, MODEL_MAX_HEAD_DIM, head_dim);
    if (gemma)
        INT("sliding_window", greq, 1, MODEL_MAX_CONTEXT, sliding_window);
    INT("max_position_embeddings", false, 1, MODEL_MAX_CONTEXT, max_pos);
#undef INT
    if (st == PLINTH_OK) st = get_float(r, "rms_norm_eps", greq, &c->eps);
    if (st == PLINTH_OK) st = get_float(r, "rope_theta", greq, &c->rope_theta);
    if (gemma && st == PLINTH_OK)
        st = get_float(r, "rope_local_base_freq", false, &c->rope_local_base);
    if (gemma && st == PLINTH_OK) st = get_float(r, "query_pre_attn_scalar", false, &c->query_pre_attn_scalar);
    if (st == PLINTH_OK && c->head_dim == 0) {
        if (c->hidden % c->n_heads != 0)
            return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                        "%s: key \"head_dim\" is missing and hidden_size %d is not a multiple of "
                        "num_attention_heads %d", r->path, (int)c->hidden, (int)c->n_heads);
        c->head_dim = c->hidden / c->n_heads;
    }
    if (st == PLINTH_OK && c->n_kv_heads == 0)
        c->n_kv_heads = c->n_heads;
    /* Token ids: the top level of a multimodal config holds them too. */
    const reader *ids = text && !cJSON_GetObjectItemCaseSensitive(text, "eos_token_id") ? top : r;
    if (st == PLINTH_OK)
        st = get_int(ids, "bos_token_id", false, 0, c->vocab - 1, "a token id below vocab_size",
                     &c->bos);
    if (st == PLINTH_OK && gemma) st = layer_types(r, c);
    if (st == PLINTH_OK) st = eos_ids(ids, c);
    if (st == PLINTH_OK) st = rope_scaling(r, c);
    if (st != PLINTH_OK)
        return st;
    /* Gemma's default ids; a tiny vocabulary may not have them, and
     * callers use both as token ids. */
    if (c->bos >= c->vocab || (c->n_eos && c->eos[0] >= c->vocab))
        return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                    "%s: key \"%s\" is missing and its default %d is not below vocab_size %d",
                    r->path, c->bos >= c->vocab ? "bos_token_id" : "eos_token_id",
                    (int)(c->bos >= c->vocab ? c->bos : c->eos[0]), (int)c->vocab);
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(top->root, "tie_word_embeddings");
    if (text && cJSON_GetObjectItemCaseSensitive(text, "tie_word_embeddings"))
        tie = cJSON_GetObjectItemCaseSensitive(text, "tie_word_embeddings");
    if (tie && !cJSON_IsNull(tie) && !cJSON_IsBool(tie)) {
        char b[96];
        return fail(r->err, r->es, PLINTH_ERR_FORMAT,
                    "%s: key \"tie_word_embeddings\" is %s; it must be true or false", r->path,
                    json_text_show(tie, b, sizeof b));
    }
    if (cJSON_IsBool(tie))
        c->tied = cJSON_IsTrue(tie);
    return lm_config_finish(c, r->path, r->err, r->es);
}

plinth_status lm_config_finish(lm_config *c, const char *where, char *err, size_t es)
{
    if (c->n_heads % c->n_kv_heads != 0)
        return fail(err, es, PLINTH_ERR_FORMAT,
                    "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                    where, (int)c->n_heads, (int)c->n_kv_heads);
    if (c->head_dim % 2 != 0)
        return fail(err, es, PLINTH_ERR_FORMAT, "%s: head_dim %d must be even (RoPE rotates "
                    "pairs)", where, (int)c->head_dim);
    /* In f32, as the builder always computed it. */
    c->attn_scale = 1.0f / sqrtf(c->arch == LM_ARCH_GEMMA3 ? c->query_pre_attn_scalar
                                                           : (float)c->head_dim);
    snprintf(c->prefix, sizeof c->prefix, "model.");
    c->head_prefix[0] = '\0';
    return PLINTH_OK;
}

/* text[len] must be readable (json_text_parse's contract). The tree comes
 * from ctx (model_mem.h). */
static plinth_status parse_text(plinth_context *ctx, const char *text, size_t len,
                                const char *where, lm_config *out, char *err, size_t es)
{
    plinth_status st;
    plinth_context *prev = model_json_enter(ctx);
    cJSON *root = json_text_parse(text, len, where, &st, err, es);
    if (root && !cJSON_IsObject(root))
        st = fail(err, es, PLINTH_ERR_FORMAT, "%s: not a JSON object", where);
    else if (root) {
        reader r = {.root = root, .path = where, .err = err, .es = es};
        st = parse(&r, out);
    }
    cJSON_Delete(root);
    model_json_leave(prev);
    return st;
}

plinth_status lm_config_parse(plinth_context *ctx, const char *text, size_t len,
                              const char *where, lm_config *out, char *err, size_t es)
{
    lm_config_defaults(out, LM_ARCH_GEMMA3);
    if (len > MODEL_MAX_CONFIG_BYTES)
        return fail(err, es, PLINTH_ERR_FORMAT,
                    "%s: %zu bytes, more than the %u bytes a config.json may have "
                    "(MODEL_MAX_CONFIG_BYTES)", where, len, MODEL_MAX_CONFIG_BYTES);
    char *copy = model_malloc(ctx, len + 1); /* cJSON may look one byte past the end */
    if (!copy)
        return fail(err, es, PLINTH_ERR_NO_MEMORY, "%s: out of memory", where);
    if (len)
        memcpy(copy, text, len);
    copy[len] = '\0';
    plinth_status st = parse_text(ctx, copy, len, where, out, err, es);
    model_free(ctx, copy);
    return st;
}

plinth_status lm_config_load(plinth_context *ctx, const char *path, lm_config *out, char *err,
                             size_t es)
{
    lm_config_defaults(out, LM_ARCH_GEMMA3);
    char file[4096];
    struct stat s;
    int n = stat(path, &s) == 0 && S_ISDIR(s.st_mode)
                ? snprintf(file, sizeof file, "%s/config.json", path)
                : snprintf(file, sizeof file, "%s", path);
    if (n < 0 || (size_t)n >= sizeof file)
        return fail(err, es, PLINTH_ERR_IO, "%.256s...: path too long", path);
    char *text;
    size_t len;
    plinth_status st = json_text_read(ctx, file, MODEL_MAX_CONFIG_BYTES, "MODEL_MAX_CONFIG_BYTES",
                                      &text, &len, err, es);
    if (st != PLINTH_OK)
        return st;
    st = parse_text(ctx, text, len, file, out, err, es);
    model_free(ctx, text);
    return st;
}

/* ------------------------------------------------------------ params --- */

/* Per layer, in the order the HF checkpoints (and the golden READMEs) use;
 * `when` says which architectures have it. */
enum { ALL = 0, GEMMA = 1, QK_NORM = 2, QKV_BIAS = 4 };
static const struct {
    const char *suffix;
    int rows, cols; /* 0 none, 1 hidden, 2 q dim, 3 kv dim, 4 ffn, 5 head_dim */
    bool norm;      /* a vector the graph widens to f32 (norms, biases) */
    int when;
} layer_params[] = {
    {"input_layernorm.weight", 1, 0, true, ALL},
    {"self_attn.q_proj.weight", 2, 1, false, ALL},
    {"self_attn.q_proj.bias", 2, 0, true, QKV_BIAS},
    {"self_attn.k_proj.weight", 3, 1, false, ALL},
    {"self_attn.k_proj.bias", 3, 0, true, QKV_BIAS},
    {"self_attn.v_proj.weight", 3, 1, false, ALL},
    {"self_attn.v_proj.bias", 3, 0, true, QKV_BIAS},
    {"self_attn.q_norm.weight", 5, 0, true, QK_NORM},
    {"self_attn.k_norm.weight", 5, 0, true, QK_NORM},
    {"self_attn.o_proj.weight", 1, 2, false, ALL},
    {"post_attention_layernorm.weight", 1, 0, true, ALL},
    {"pre_feedforward_layernorm.weight", 1, 0, true, GEMMA},
    {"mlp.gate_proj.weight", 4, 1, false, ALL},
    {"mlp.up_proj.weight", 4, 1, false, ALL},
    {"mlp.down_proj.weight", 1, 4, false, ALL},
    {"post_feedforward_layernorm.weight", 1, 0, true, GEMMA},
};
#define N_LAYER_PARAMS (sizeof layer_params / sizeof layer_params[0])

static bool has_param(const lm_config *c, int when)
{
    const lm_arch_traits *t = c->traits;
    return when == ALL || (when == GEMMA && t->sandwich) || (when == QK_NORM && t->qk_norm) ||
           (when == QKV_BIAS && t->qkv_bias);
}

static int64_t dim_of(const lm_config *c, int code)
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

void lm_param_name(const lm_config *c, const char *hf, char *buf, size_t size)
{
    gguf_transform tr;
    if (c->gguf && gguf_name_of(c, hf, buf, size, &tr))
        return;
    snprintf(buf, size, "%s%s", strcmp(hf, "lm_head.weight") == 0 ? c->head_prefix : c->prefix,
             hf);
}

bool lm_param_at(const lm_config *c, uint32_t index, char *buf, size_t size,
                 int64_t *rows, int64_t *cols, bool *is_norm)
{
    uint32_t per_layer = 0;
    for (size_t k = 0; k < N_LAYER_PARAMS; k++)
        per_layer += has_param(c, layer_params[k].when);
    const uint32_t n_layer = (uint32_t)c->n_layers * per_layer;
    char hf[128];
    if (index == 0) {
        lm_param_name(c, "embed_tokens.weight", buf, size);
        *rows = c->vocab, *cols = c->hidden, *is_norm = false;
        return true;
    }
    index--;
    if (index < n_layer) {
        uint32_t l = index / per_layer, k = index % per_layer, i = 0;
        for (;; i++) /* the k-th param this architecture has */
            if (has_param(c, layer_params[i].when) && k-- == 0)
                break;
        snprintf(hf, sizeof hf, "layers.%u.%s", l, layer_params[i].suffix);
        lm_param_name(c, hf, buf, size);
        *rows = dim_of(c, layer_params[i].rows);
        *cols = dim_of(c, layer_params[i].cols);
        *is_norm = layer_params[i].norm;
        return true;
    }
    index -= n_layer;
    if (index == 0) {
        lm_param_name(c, "norm.weight", buf, size);
        *rows = c->hidden, *cols = 0, *is_norm = true;
        return true;
    }
    if (index == 1 && !c->tied) {
        lm_param_name(c, "lm_head.weight", buf, size);
        *rows = c->vocab, *cols = c->hidden, *is_norm = false;
        return true;
    }
    return false;
}
