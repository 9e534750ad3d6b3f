/*
 * gguf_names.c — the Hugging Face <-> GGUF (llama.cpp) name table of the
 * decoder-only architectures, and the row permutation of Llama's q/k.
 *
 * The names are llama.cpp's (gguf-py's MODEL_TENSOR names: token_embd,
 * blk.N.attn_q, ...). One HF name maps to different GGUF names by
 * architecture: post_attention_layernorm is Gemma's norm after attention
 * (post_attention_norm) but the norm before the MLP elsewhere (ffn_norm).
 */
#include "gguf_names.h"

#include <stdio.h>
#include <string.h>

enum { ALL = 0, SANDWICH = 1, PLAIN = 2 }; /* Gemma's norms around blocks, or not */
enum { KEEP = 0, NORM = 1, PERM_Q = 2, PERM_K = 3 };

/* "#" stands for the layer number. */
static const struct {
    const char *hf, *gguf;
    int when;
    int values; /* NORM: +1 where norms are 1 + w; PERM_*: permuted where the arch says */
} table[] = {
    {"embed_tokens.weight", "token_embd.weight", ALL, KEEP},
    {"norm.weight", "output_norm.weight", ALL, NORM},
    {"lm_head.weight", "output.weight", ALL, KEEP},
    {"layers.#.input_layernorm.weight", "blk.#.attn_norm.weight", ALL, NORM},
    {"layers.#.self_attn.q_proj.weight", "blk.#.attn_q.weight", ALL, PERM_Q},
    {"layers.#.self_attn.q_proj.bias", "blk.#.attn_q.bias", ALL, PERM_Q},
    {"layers.#.self_attn.k_proj.weight", "blk.#.attn_k.weight", ALL, PERM_K},
    {"layers.#.self_attn.k_proj.bias", "blk.#.attn_k.bias", ALL, PERM_K},
    {"layers.#.self_attn.v_proj.weight", "blk.#.attn_v.weight", ALL, KEEP},
    {"layers.#.self_attn.v_proj.bias", "blk.#.attn_v.bias", ALL, KEEP},
    {"layers.#.self_attn.q_norm.weight", "blk.#.attn_q_norm.weight", ALL, NORM},
    {"layers.#.self_attn.k_norm.weight", "blk.#.attn_k_norm.weight", ALL, NORM},
    {"layers.#.self_attn.o_proj.weight", "blk.#.attn_output.weight", ALL, KEEP},
    {"layers.#.post_attention_layernorm.weight", "blk.#.post_attention_norm.weight", SANDWICH, NORM},
    {"layers.#.post_attention_layernorm.weight", "blk.#.ffn_norm.weight", PLAIN, NORM},
    {"layers.#.pre_feedforward_layernorm.weight", "blk.#.ffn_norm.weight", SANDWICH, NORM},
    {"layers.#.mlp.gate_proj.weight", "blk.#.ffn_gate.weight", ALL, KEEP},
    {"layers.#.mlp.up_proj.weight", "blk.#.ffn_up.weight", ALL, KEEP},
    {"layers.#.mlp.down_proj.weight", "blk.#.ffn_down.weight", ALL, KEEP},
    {"layers.#.post_feedforward_layernorm.weight", "blk.#.post_ffw_norm.weight", SANDWICH, NORM},
};

/* Whether `name` matches `pattern` ("#" one decimal number, put in *layer). */
static bool match(const char *pattern, const char *name, long *layer)
{
    *layer = -1;
    for (; *pattern; pattern++, name++) {
        if (*pattern != '#') {
            if (*pattern != *name)
                return false;
            continue;
        }
        if (*name < '0' || *name > '9')
            return false;
        long v = 0;
        while (*name >= '0' && *name <= '9' && v < 1000000)
            v = v * 10 + (*name++ - '0');
        name--;
        *layer = v;
    }
    return *name == '\0';
}

/* The transform of table entry i for this architecture. */
static gguf_transform transform(const lm_config *c, size_t i)
{
    const int v = table[i].values;
    return v == NORM && c->traits->norm_plus_one       ? GGUF_PLUS_ONE
           : v == PERM_Q && c->traits->gguf_permute_qk ? GGUF_PERMUTE_Q
           : v == PERM_K && c->traits->gguf_permute_qk ? GGUF_PERMUTE_K
                                                       : GGUF_AS_IS;
}

static bool applies(const lm_config *c, size_t i)
{
    const bool sandwich = c->traits->sandwich;
    return !(table[i].when == SANDWICH && !sandwich) && !(table[i].when == PLAIN && sandwich);
}

bool gguf_name_of(const lm_config *c, const char *hf, char *out, size_t size, gguf_transform *tr)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        long layer;
        if (!applies(c, i) || !match(table[i].hf, hf, &layer))
            continue;
        const char *hash = strchr(table[i].gguf, '#');
        if (hash)
            snprintf(out, size, "%.*s%ld%s", (int)(hash - table[i].gguf), table[i].gguf, layer,
                     hash + 1);
        else
            snprintf(out, size, "%s", table[i].gguf);
        *tr = transform(c, i);
        return true;
    }
    return false;
}

gguf_transform gguf_transform_of(const lm_config *c, const char *name)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        long layer;
        if (applies(c, i) && match(table[i].gguf, name, &layer))
            return transform(c, i);
    }
    return GGUF_AS_IS;
}

bool gguf_permute_rows(const void *src, void *dst, int64_t rows, size_t row_bytes,
                       int64_t n_head, bool to_file)
{
    if (n_head < 1 || rows % n_head != 0 || (rows / n_head) % 2 != 0)
        return false;
    const int64_t D = rows / n_head, half = D / 2;
    const unsigned char *s = src;
    unsigned char *d = dst;
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t p = 0; p < 2; p++)
            for (int64_t i = 0; i < half; i++) {
                const int64_t hf = h * D + p * half + i, file = h * D + 2 * i + p;
                const int64_t from = to_file ? hf : file, to = to_file ? file : hf;
                memcpy(d + (size_t)to * row_bytes, s + (size_t)from * row_bytes, row_bytes);
            }
    return true;
}
