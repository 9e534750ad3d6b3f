/*
 * lm_config_gguf.c — a decoder-only model's config from a GGUF file's
 * metadata, with llama.cpp's key names, and finding the GGUF file a path
 * names. Sections: finding the file; keys (each checked like config.json's:
 * integers in range, floats positive and finite in f32); the config.
 *
 * What llama.cpp (b10573) decides without a key is decided the same way
 * here: Gemma 3's attention scale is head_dim^-0.5 (hidden / heads for the
 * 62-layer 27B), its sliding layers every layer but each 6th unless
 * attention.sliding_window_pattern says otherwise, their RoPE base 10000
 * unless rope.freq_base_swa; Llama 3's rope scaling comes as the tensor
 * rope_freqs.weight (the factors themselves).
 */
#include "lm_model.h"
#include "errbuf.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define fail(err, size, st, ...) ((plinth_status)errbuf_fail(err, size, st, __VA_ARGS__))

/* ------------------------------------------------------ finding the file --- */

static bool has_gguf_magic(const char *path)
{
    FILE *f = fopen(path, "rb");
    char m[4] = {0};
    const bool ok = f && fread(m, 1, 4, f) == 4 && memcmp(m, "GGUF", 4) == 0;
    if (f)
        fclose(f);
    return ok;
}

int lm_gguf_path(const char *path, char *out, size_t size, char *err, size_t es)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return 0;
    if (!S_ISDIR(sb.st_mode)) {
        if (!has_gguf_magic(path))
            return 0;
        snprintf(out, size, "%s", path);
        return 1;
    }
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/config.json", path);
    if (stat(probe, &sb) == 0)
        return 0; /* a Hugging Face folder, even with a .gguf beside it */
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int found = 0;
    char first[512] = "";
    for (struct dirent *e; (e = readdir(d));) {
        const size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".gguf") != 0)
            continue;
        if (found++ == 0) {
            snprintf(first, sizeof first, "%s", e->d_name);
            snprintf(out, size, "%s/%s", path, e->d_name);
        } else {
            errbuf_fail(err, es, -1, "%s: holds several .gguf files (%s, %s, ...): name the one "
                        "to run", path, first, e->d_name);
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    return found;
}

/* ---------------------------------------------------------------- keys --- */

typedef struct reader {
    plinth_context *ctx; /* where the state dict's messages are */
    plinth_state_dict *sd;
    const char *path, *arch;
    char *err;
    size_t es;
} reader;

/* "{arch}.key" */
static const char *akey(const reader *r, const char *key, char *buf, size_t size)
{
    snprintf(buf, size, "%s.%s", r->arch, key);
    return buf;
}

static bool has(const reader *r, const char *key)
{
    return plinth_state_dict_meta_find(r->sd, key) >= 0;
}

/* An integer key in [lo, hi]; absent: an error when required, else *out
 * keeps its default. */
static plinth_status get_int(const reader *r, const char *key, bool required, int64_t lo,
                             int64_t hi, int32_t *out)
{
    if (!has(r, key)) {
        if (required)
            return fail(r->err, r->es, PLINTH_ERR_FORMAT, "%s: required metadata key '%s' is "
                        "missing", r->path, key);
        return PLINTH_OK;
    }
    int64_t v;
    plinth_status st = plinth_state_dict_meta_int(r->sd, key, lo, hi, &v);
    if (st != PLINTH_OK)
        return fail(r->err, r->es, st, "%s",
                    plinth_context_error(r->ctx));
    *out = (int32_t)v;
    return PLINTH_OK;
}

/* A positive number key whose f32 value is neither 0 nor infinite. */
static plinth_status get_float(const reader *r, const char *key, bool required, float *out)
{
    if (!has(r, key)) {
        if (required)
            return fail(r->err, r->es, PLINTH_ERR_FORMAT, "%s: required metadata key '%s' is "
                        "missing", r->path, key);
        return PLINTH_OK;
    }
    double v;
    plinth_status st = plinth_state_dict_meta_double(r->sd, key, &v);
    if (st != PLINTH_OK)
        return fail(r->err, r->es, st, "%s",
                    plinth_context_error(r->ctx));
    const float f = v > 3.4028234663852886e38 ? INFINITY : (float)v;
    if (!(v > 0) || f == 0.0f || isinf(f))
        return fail(r->err, r->es, PLINTH_ERR_FORMAT, "%s: metadata key '%s' is %g; it must be "
                    "a positive number whose f32 value is neither 0 nor infinite", r->path, key,
                    v);
    *out = f;
    return PLINTH_OK;
}

/* A token id key (tokenizer.ggml.*_token_id) below the vocabulary. */
static plinth_status token_id(const reader *r, const char *key, int32_t vocab, int32_t *out)
{
    return get_int(r, key, false, 0, (int64_t)vocab - 1, out);
}

/* ------------------------------------------------------------ the config --- */

/* attention.sliding_window_pattern: a period (every Nth layer global), or
 * one bool per layer (true: sliding), as llama.cpp's get_key_or_arr. */
static plinth_status sliding_layers(const reader *r, lm_config *c)
{
    char k[160];
    akey(r, "attention.sliding_window_pattern", k, sizeof k);
    int32_t period = 6;
    if (plinth_state_dict_meta_type(r->sd, k) == PLINTH_META_ARRAY) {
        uint64_t n = 0;
        plinth_state_dict_meta_array(r->sd, k, NULL, &n);
        if (n != (uint64_t)c->n_layers)
            return fail(r->err, r->es, PLINTH_ERR_FORMAT, "%s: metadata key '%s' lists %llu "
                        "layers; block_count is %d", r->path, k, (unsigned long long)n,
                        (int)c->n_layers);
        for (int32_t i = 0; i < c->n_layers; i++) {
            int64_t v = 0;
            if (plinth_state_dict_meta_array_int(r->sd, k, (uint64_t)i, &v) != PLINTH_OK)
                return fail(r->err, r->es, PLINTH_ERR_FORMAT, "%s: metadata key '%s'[%d] is "
                            "not a bool", r->path, k, (int)i);
            c->sliding[i] = v != 0;
        }
        return PLINTH_OK;
    }
    plinth_status st = get_int(r, k, false, 1, MODEL_MAX_LAYERS, &period);
    for (int32_t i = 0; i < c->n_layers && st == PLINTH_OK; i++)
        c->sliding[i] = (i + 1) % period != 0;
    return st;
}

/* What plinth does not compute, refused naming the key. */
static plinth_status refusals(const reader *r)
{
    static const char *const nonzero[] = {"expert_count", "attn_logit_softcapping",
                                          "final_logit_softcapping"};
    char k[160];
    for (size_t i = 0; i < sizeof nonzero / sizeof nonzero[0]; i++) {
        double v = 0;
        if (has(r, akey(r, nonzero[i], k, sizeof k)) &&
            plinth_state_dict_meta_double(r->sd, k, &v) == PLINTH_OK && v != 0)
            return fail(r->err, r->es, PLINTH_ERR_UNSUPPORTED, "%s: metadata key '%s' is %g: "
                        "%s", r->path, k, v, i == 0 ? "a mixture of experts, which plinth "
                        "does not run" : "softcapping is not supported");
    }
    return PLINTH_OK;
}

/* rope.scaling.type none / linear (factor), llama3's rope_freqs.weight. */
static plinth_status rope(const reader *r, lm_config *c)
{
    char k[160];
    const char *type = "none";
    if (has(r, akey(r, "rope.scaling.type", k, sizeof k)) &&
        plinth_state_dict_meta_string(r->sd, k, &type, NULL) != PLINTH_OK)
        return fail(r->err, r->es, PLINTH_ERR_FORMAT, "%s: metadata key '%s' is not a string",
                    r->path, k);
    float factor = 1.0f;
    plinth_status st = get_float(r, akey(r, "rope.scaling.factor", k, sizeof k), false, &factor);
    if (st != PLINTH_OK)
        return st;
    if (strcmp(type, "linear") == 0 && factor != 1.0f)
        c->rope_factor = factor;
    else if (strcmp(type, "none") != 0 && strcmp(type, "linear") != 0)
        return fail(r->err, r->es, PLINTH_ERR_UNSUPPORTED, "%s: metadata key '%s.rope.scaling."
                    "type' is \"%.32s\"; plinth supports \"none\" and \"linear\" (and llama3's "
                    "rope_freqs.weight)", r->path, r->arch, type);
    const int32_t i = plinth_state_dict_find(r->sd, "rope_freqs.weight");
    if (i < 0)
        return PLINTH_OK;
    plinth_tensor_info t = {.struct_size = sizeof t};
    plinth_state_dict_tensor(r->sd, (uint32_t)i, &t);
    if (t.dtype != PLINTH_F32 || t.ndim != 1 || t.shape[0] != c->head_dim / 2)
        return fail(r->err, r->es, PLINTH_ERR_FORMAT, "%s: tensor 'rope_freqs.weight' must be "
                    "f32 [%d] (head_dim / 2)", r->path, (int)(c->head_dim / 2));
    st = plinth_state_dict_read(r->sd, (uint32_t)i, 0, c->rope_freqs, t.bytes);
    if (st != PLINTH_OK)
        return fail(r->err, r->es, st, "%s",
                    plinth_context_error(r->ctx));
    for (int32_t j = 0; j < c->head_dim / 2; j++)
        if (!(c->rope_freqs[j] > 0) || isinf(c->rope_freqs[j]))
            return fail(r->err, r->es, PLINTH_ERR_FORMAT, "%s: tensor 'rope_freqs.weight'[%d] "
                        "is %g; rope factors must be positive and finite", r->path, (int)j,
                        (double)c->rope_freqs[j]);
    c->rope_freqs_given = true;
    return PLINTH_OK;
}

plinth_status lm_config_from_gguf(plinth_context *ctx, plinth_state_dict *sd, lm_config *c,
                                  char *err, size_t es)
{
    reader rd = {.ctx = ctx, .sd = sd, .path = plinth_state_dict_path(sd), .err = err, .es = es};
    const reader *r = &rd;
    lm_config_defaults(c, LM_ARCH_GEMMA3);
    const char *arch = NULL;
    if (!has(r, "general.architecture") ||
        plinth_state_dict_meta_string(sd, "general.architecture", &arch, NULL) != PLINTH_OK)
        return fail(err, es, PLINTH_ERR_FORMAT, "%s: metadata key 'general.architecture' is "
                    "missing or not a string", r->path);
    int a = 0;
    while (a < LM_ARCH_COUNT && strcmp(arch, lm_arch_traits_of((lm_arch)a)->gguf_arch) != 0)
        a++;
    if (a == LM_ARCH_COUNT)
        return fail(err, es, PLINTH_ERR_UNSUPPORTED, "%s: metadata key 'general.architecture' "
                    "is \"%.64s\"; plinth runs gemma3, llama, qwen2 and qwen3", r->path, arch);
    lm_config_defaults(c, (lm_arch)a);
    rd.arch = arch;
    c->gguf = true;
    const bool gemma = a == LM_ARCH_GEMMA3;
    char k[160];
    plinth_status st = refusals(r);
#define INT(key, required, lo, hi, field) \
    if (st == PLINTH_OK) st = get_int(r, akey(r, key, k, sizeof k), required, lo, hi, &c->field)
    INT("block_count", true, 1, MODEL_MAX_LAYERS, n_layers);
    INT("embedding_length", true, 1, MODEL_MAX_HIDDEN, hidden);
    INT("feed_forward_length", true, 1, MODEL_MAX_FFN, ffn);
    INT("attention.head_count", true, 1, MODEL_MAX_HEADS, n_heads);
    c->n_kv_heads = c->n_heads;
    INT("attention.head_count_kv", false, 1, MODEL_MAX_HEADS, n_kv_heads);
    INT("context_length", false, 1, MODEL_MAX_CONTEXT, max_pos);
    if (st != PLINTH_OK)
        return st;
    c->head_dim = c->hidden % c->n_heads == 0 ? c->hidden / c->n_heads : 0;
    INT("attention.key_length", c->head_dim == 0, 2, MODEL_MAX_HEAD_DIM, head_dim);
    int32_t v_len = c->head_dim, rot = c->head_dim;
    if (st == PLINTH_OK)
        st = get_int(r, akey(r, "attention.value_length", k, sizeof k), false, 1,
                     MODEL_MAX_HEAD_DIM, &v_len);
    if (st == PLINTH_OK)
        st = get_int(r, akey(r, "rope.dimension_count", k, sizeof k), false, 1,
                     MODEL_MAX_HEAD_DIM, &rot);
    if (st == PLINTH_OK && (v_len != c->head_dim || rot != c->head_dim))
        return fail(err, es, PLINTH_ERR_UNSUPPORTED, "%s: %s is %d; plinth wants it equal to "
                    "the key length %d", r->path, v_len != c->head_dim ? "attention."
                    "value_length" : "rope.dimension_count", (int)(v_len != c->head_dim ? v_len
                    : rot), (int)c->head_dim);
    c->sliding_window = 0;
    if (gemma)
        INT("attention.sliding_window", false, 1, MODEL_MAX_CONTEXT, sliding_window);
#undef INT
    if (st == PLINTH_OK)
        st = get_float(r, akey(r, "attention.layer_norm_rms_epsilon", k, sizeof k), true,
                       &c->eps);
    if (st == PLINTH_OK)
        st = get_float(r, akey(r, "rope.freq_base", k, sizeof k), false, &c->rope_theta);
    c->rope_local_base = 10000.0f;
    if (st == PLINTH_OK && gemma)
        st = get_float(r, akey(r, "rope.freq_base_swa", k, sizeof k), false,
                       &c->rope_local_base);
    if (st == PLINTH_OK && gemma && c->sliding_window > 0)
        st = sliding_layers(r, c);
    else
        memset(c->sliding, 0, sizeof c->sliding);
    if (st == PLINTH_OK)
        st = rope(r, c);
    if (st != PLINTH_OK)
        return st;
    /* llama.cpp's Gemma 3 attention scale (gemma_pytorch's config). */
    c->query_pre_attn_scalar = gemma && c->n_layers == 62 ? (float)(c->hidden / c->n_heads)
                                                          : (float)c->head_dim;

    /* The vocabulary: the tokenizer's tokens, else the embedding's rows. */
    uint64_t n_tokens = 0;
    const int32_t embd = plinth_state_dict_find(sd, "token_embd.weight");
    if (plinth_state_dict_meta_type(sd, "tokenizer.ggml.tokens") == PLINTH_META_ARRAY)
        plinth_state_dict_meta_array(sd, "tokenizer.ggml.tokens", NULL, &n_tokens);
    else if (embd >= 0) {
        plinth_tensor_info t = {.struct_size = sizeof t};
        plinth_state_dict_tensor(sd, (uint32_t)embd, &t);
        n_tokens = t.ndim == 2 && t.shape[0] > 0 ? (uint64_t)t.shape[0] : 0;
    }
    if (n_tokens < 1 || n_tokens > MODEL_MAX_VOCAB)
        return fail(err, es, PLINTH_ERR_FORMAT, "%s: the vocabulary (tokenizer.ggml.tokens, or "
                    "token_embd.weight's rows) has %llu tokens; it must have 1 to %d "
                    "(MODEL_MAX_VOCAB)", r->path, (unsigned long long)n_tokens, MODEL_MAX_VOCAB);
    c->vocab = (int32_t)n_tokens;
    c->tied = plinth_state_dict_find(sd, "output.weight") < 0;
    c->bos = -1;
    c->n_eos = 0;
    st = token_id(r, "tokenizer.ggml.bos_token_id", c->vocab, &c->bos);
    int32_t eos = -1;
    if (st == PLINTH_OK)
        st = token_id(r, "tokenizer.ggml.eos_token_id", c->vocab, &eos);
    if (st != PLINTH_OK)
        return st;
    if (eos >= 0)
        c->eos[c->n_eos++] = eos;
    return lm_config_finish(c, r->path, err, es);
}
