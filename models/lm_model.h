/*
 * lm_model.h — decoder-only language models (Gemma 3, Llama 3, Qwen 2.5,
 * Qwen 3) on the plinth public API: config.json parsing (lm_config.c), the
 * graph builder shared by every architecture (decoder.c), and a small
 * runtime over two programs that share the weights and the KV cache
 * (lm_model.c):
 *
 *   prefill  up to n_prefill tokens per run (longer prompts are chunked);
 *            logits of the last position only, or of every position
 *   decode   one token per run
 *
 * Both take the token ids and their positions as i32 inputs ("tokens",
 * "pos") and the number of valid cache rows as "kv_len" [1], so the plan is
 * static while the sequence grows. The KV cache is one f32 `state` pair per
 * layer, [n_ctx + 1, n_kv_heads * head_dim]; its last row is a scratch row
 * that padding tokens of a short prefill chunk write to (they sit before the
 * real tokens, so the last row of a chunk is always its last real token).
 *
 * Errors: functions that can fail return a plinth_status with a message in
 * `err` (naming the file, key or tensor). Nothing here prints.
 * Thread-safety: one lm_model is used from one thread at a time.
 */
#ifndef PLINTH_LM_MODEL_H
#define PLINTH_LM_MODEL_H

#include <plinth.h>

#include "model_limits.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The architectures: one decoder-only builder (decoder.c), and per
 * architecture the few places where they differ, as data (lm_arch_traits). */
typedef enum lm_arch {
    LM_ARCH_GEMMA3 = 0, /* model_type gemma3_text (or gemma3's text part)    */
    LM_ARCH_LLAMA,      /* llama: Llama 3.x (rope_scaling llama3 or none)     */
    LM_ARCH_QWEN2,      /* qwen2: Qwen 2.5 (biases on q, k, v)                */
    LM_ARCH_QWEN3,      /* qwen3 (per-head RMSNorm on q and k)                */
    LM_ARCH_COUNT
} lm_arch;

typedef struct lm_arch_traits {
    const char *model_type;  /* config.json's model_type                      */
    bool norm_plus_one;      /* RMSNorm scales by (1 + w) (Gemma), else by w    */
    bool embed_scale;        /* embeddings times sqrt(hidden) (Gemma)          */
    bool gelu;               /* gelu_tanh gate (Gemma), else SiLU              */
    bool sandwich;           /* norms after attention and MLP too (Gemma)      */
    bool qk_norm;            /* RMSNorm per head on q and k before RoPE        */
    bool qkv_bias;           /* biases on the q, k, v projections (Qwen 2)      */
    bool sliding_layers;     /* some layers see a window of keys (Gemma)       */
    bool tied_default;       /* tie_word_embeddings when the key is absent     */
    const char *gguf_arch;   /* GGUF's general.architecture (llama.cpp's name)  */
    bool gguf_permute_qk;    /* llama.cpp's converter permutes q/k rows (llama) */
} lm_arch_traits;

const lm_arch_traits *lm_arch_traits_of(lm_arch arch);

typedef struct lm_config {
    lm_arch arch;
    const lm_arch_traits *traits;
    /* Where the text model's tensors are: "model." for a text checkpoint,
     * "language_model.model." or "model.language_model." for the text part
     * of a multimodal Gemma 3; the head is <head_prefix>lm_head.weight. */
    char prefix[40], head_prefix[40];
    int32_t vocab;          /* vocab_size                                   */
    int32_t hidden;         /* hidden_size                                  */
    int32_t ffn;            /* intermediate_size                            */
    int32_t n_layers;       /* num_hidden_layers                            */
    int32_t n_heads;        /* num_attention_heads                          */
    int32_t n_kv_heads;     /* num_key_value_heads (default n_heads)        */
    int32_t head_dim;       /* head_dim (default hidden / n_heads)          */
    float query_pre_attn_scalar; /* Gemma (default 256)                     */
    float attn_scale;       /* Gemma: query_pre_attn_scalar^-0.5; else head_dim^-0.5 */
    float eps;              /* rms_norm_eps                                 */
    float rope_theta;       /* RoPE base (of global layers)                 */
    float rope_local_base;  /* Gemma: rope_local_base_freq, sliding layers  */
    int32_t sliding_window; /* keys within this many positions (sliding layers) */
    int32_t max_pos;        /* max_position_embeddings                      */
    bool tied;              /* tie_word_embeddings                          */
    bool sliding[MODEL_MAX_LAYERS]; /* per layer: sliding (local) or full   */
    /* rope_scaling {"rope_type": "llama3", ...}: each frequency divided by
     * a factor (1 for high frequencies, `factor` for low, smooth between). */
    bool rope_llama3;
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int32_t rope_original_max_pos;
    int32_t bos;            /* bos_token_id, -1 if none                     */
    int32_t eos[MODEL_MAX_EOS_IDS]; /* eos_token_id (int or list)           */
    int32_t n_eos;
    /* A GGUF file: params have llama.cpp's names and conventions
     * (gguf_names.c): Gemma's norm weights hold 1 + w, Llama's q/k rows are
     * permuted. */
    bool gguf;
    /* GGUF's rope_freqs.weight (llama3 scaling as a tensor): the factors
     * themselves, used instead of computing them. */
    bool rope_freqs_given;
    float rope_freqs[MODEL_MAX_HEAD_DIM / 2];
} lm_config;

/* Reads `path` (a config.json, or a folder holding one). model_type is
 * gemma3_text, gemma3 (its text_config; the vision tower is not run),
 * llama, qwen2 or qwen3; anything else is refused naming the key and the
 * value, and so are what plinth does not compute: softcapping, rope_scaling
 * other than llama3's, a mixture of experts, Qwen's sliding window, biases
 * on Llama's projections, a bidirectional (embedding) model, activations
 * other than the architecture's. Every integer key must be an integer in
 * its range (the limits are in model_limits.h), every float key a positive
 * number whose f32 value is neither 0 nor infinite; token ids must lie
 * below vocab_size. Messages name the file, the key and the value. */
plinth_status lm_config_load(plinth_context *ctx, const char *path, lm_config *out, char *err,
                             size_t err_size);
/* The same from the text of a config.json (len bytes, need not be
 * NUL-terminated); `where` names it in messages. Both allocate from ctx
 * (NULL: the C library; model_mem.h) and keep nothing. */
plinth_status lm_config_parse(plinth_context *ctx, const char *text, size_t len,
                              const char *where, lm_config *out, char *err, size_t err_size);

/* A config from a GGUF file's metadata, with llama.cpp's key names
 * (general.architecture gemma3, llama, qwen2 or qwen3; {arch}.block_count,
 * .embedding_length, .feed_forward_length, .context_length,
 * .attention.head_count(_kv), .attention.key_length,
 * .attention.layer_norm_rms_epsilon, .attention.sliding_window(_pattern),
 * .rope.freq_base(_swa), .rope.dimension_count, .rope.scaling.type/factor;
 * the vocabulary from tokenizer.ggml.tokens; bos/eos from
 * tokenizer.ggml.*_token_id; tied when output.weight is absent; llama3
 * rope factors from rope_freqs.weight) and the same limits and refusals as
 * lm_config_load. Messages name the file and the key (the state dict's
 * own messages are read from ctx, its context). */
plinth_status lm_config_from_gguf(plinth_context *ctx, plinth_state_dict *sd, lm_config *out,
                                  char *err, size_t err_size);
/* Shared by both readers: an architecture's defaults, and the checks and
 * derived values once every key is read. */
void lm_config_defaults(lm_config *c, lm_arch arch);
plinth_status lm_config_finish(lm_config *c, const char *where, char *err, size_t err_size);

/* Where a Hugging Face checkpoint keeps the text model's tensors: sets
 * c->prefix and c->head_prefix ("model.", or the language model of a
 * multimodal Gemma 3) by the embedding's name in sd. */
void lm_config_find_prefix(lm_config *c, const plinth_state_dict *sd);

/* If `path` is a GGUF file (by its magic), or a folder without config.json
 * holding exactly one *.gguf file, writes the file's path to out and
 * returns 1; 0 when it is neither (a Hugging Face folder or file); -1 with
 * a message when a folder holds several .gguf files. */
int lm_gguf_path(const char *path, char *out, size_t size, char *err, size_t err_size);

typedef struct lm_model_options {
    int32_t n_ctx;      /* KV cache positions; 0: min(max_pos, 4096)            */
    int32_t n_prefill;  /* tokens per prefill run; 0: min(512, n_ctx)           */
    bool all_logits;    /* prefill returns logits of every position             */
    bool no_decode;     /* build the prefill program only                       */
    bool force_f32;     /* convert bf16/f16/block weights to f32 at load        */
    /* Quantise every weight matrix to this block dtype at load (q8_0, q4_0,
     * q4_K, q6_K; a matrix whose rows are not whole blocks keeps its
     * dtype); -1 or 0 (f32): as stored. */
    int32_t quantize;
    bool no_weights;    /* allocate the pools, leave params zero (plans, tests) */
    /* More backends after lm_model_load's, in order: the model spans them
     * all, each op on the first that supports it (plinth_model_create_multi). */
    plinth_backend *const *fallbacks;
    uint32_t n_fallbacks;
    /* With a fallback: layers [0, split_layers) and the embedding pinned to
     * the first backend, the other layers and the head to the second (the
     * `-ngl N` split). 0: no pins. */
    int32_t split_layers;
    /* Load progress in [0, 1] (NULL for none). */
    void (*progress)(void *user, double fraction);
    void *progress_user;
} lm_model_options;

typedef struct lm_model lm_model;

/* Reads MODEL_DIR/config.json and the checkpoint's headers, builds and
 * compiles the programs on `backend` (weights in their stored dtype; if the
 * backend refuses that dtype, again with weights converted to f32), and
 * loads the weights. `opts` may be NULL. */
plinth_status lm_model_load(plinth_context *ctx, plinth_backend *backend, const char *model_dir,
                          const lm_model_options *opts, lm_model **out, char *err,
                          size_t err_size);
void lm_model_free(lm_model *m);

const lm_config *lm_model_config(const lm_model *m);
int32_t lm_model_n_ctx(const lm_model *m);
int32_t lm_model_n_prefill(const lm_model *m);
plinth_model *lm_model_model(lm_model *m);
/* The programs (decode is NULL with no_decode). */
plinth_program *lm_model_prefill_program(lm_model *m);
plinth_program *lm_model_decode_program(lm_model *m);
/* The stored dtype of the weights ("bf16", "f32", "mixed", …) and whether
 * they were converted to f32 at load because the backend could not use it. */
const char *lm_model_weights_dtype(const lm_model *m);
bool lm_model_weights_converted(const lm_model *m);
/* One line saying why weights were converted ("" if not). */
const char *lm_model_note(const lm_model *m);
/* Bytes of weights one decode step reads (every param once; the tied
 * embedding is the logits matrix) and the number of parameters. */
uint64_t lm_model_weight_bytes(const lm_model *m);
uint64_t lm_model_param_count(const lm_model *m);
/* FLOPs (2 per multiply-add) of the matmuls and attention of one run of
 * the prefill program over n_prefill tokens at positions 0.. (the last
 * layer's query, o_proj and MLP for the last row only unless all logits
 * are asked for; keys limited by the window on sliding layers). */
double lm_model_prefill_flops(const lm_model *m);

/* Feeds tokens[0..n) at positions start.. (chunked by n_prefill) and writes
 * logits: [n][vocab] with all_logits, else [vocab] of the last token.
 * start + n must not exceed n_ctx. */
plinth_status lm_model_prefill(lm_model *m, const int32_t *tokens, int32_t n, int32_t start,
                             float *logits, char *err, size_t err_size);
/* One token at position `pos` through the decode program (the prefill
 * program when there is none); logits [vocab]. */
plinth_status lm_model_decode(lm_model *m, int32_t token, int32_t pos, float *logits, char *err,
                            size_t err_size);
/* Zeroes the KV cache (not needed for correctness: rows beyond the current
 * length are never read). */
plinth_status lm_model_reset(lm_model *m, char *err, size_t err_size);

/* The factors rope_factors divides each of the head_dim/2 frequencies by
 * (llama3 or linear rope scaling) on a layer (`sliding`: a sliding-window
 * layer, which Gemma does not scale); false when the layer uses plain RoPE. */
bool lm_config_rope_factors(const lm_config *c, bool sliding, float *out);

/* The name of a param in the checkpoint: HF's (prefix + `hf`, where `hf`
 * is "embed_tokens.weight", "layers.N.self_attn.q_proj.weight",
 * "norm.weight" or "lm_head.weight" as lm_param_at lists them without the
 * prefix) or, for a GGUF config, llama.cpp's (gguf_names.c). */
void lm_param_name(const lm_config *c, const char *hf, char *buf, size_t size);

/* Names the params of a config, in the order of the graph. `name` is
 * written into buf (size >= 128). Returns false past the last one. Used by
 * the loader (f32 conversion) and by init-random. For each: rows/cols
 * (cols == 0 for a vector) and whether it is a norm weight. */
bool lm_param_at(const lm_config *c, uint32_t index, char *buf, size_t size,
                     int64_t *rows, int64_t *cols, bool *is_norm);

#endif /* PLINTH_LM_MODEL_H */
