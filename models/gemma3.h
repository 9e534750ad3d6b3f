/*
 * gemma3.h — Gemma 3 text models (model_type "gemma3_text", any size) on the
 * plinth public API: config.json parsing, the graph builder, and a small
 * runtime over two programs that share the weights and the KV cache:
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
 * Thread-safety: one gemma3 is used from one thread at a time.
 */
#ifndef PLINTH_GEMMA3_H
#define PLINTH_GEMMA3_H

#include <plinth.h>

#include "model_limits.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GEMMA3_MAX_LAYERS MODEL_MAX_LAYERS
#define GEMMA3_MAX_EOS MODEL_MAX_EOS_IDS

typedef struct gemma3_config {
    int32_t vocab;          /* vocab_size                                   */
    int32_t hidden;         /* hidden_size                                  */
    int32_t ffn;            /* intermediate_size                            */
    int32_t n_layers;       /* num_hidden_layers                            */
    int32_t n_heads;        /* num_attention_heads                          */
    int32_t n_kv_heads;     /* num_key_value_heads                          */
    int32_t head_dim;       /* head_dim                                     */
    float query_pre_attn_scalar; /* attention scale = this^-0.5 (default 256) */
    float eps;              /* rms_norm_eps                                 */
    float rope_theta;       /* RoPE base of global layers                   */
    float rope_local_base;  /* rope_local_base_freq: sliding layers (1e4)   */
    int32_t sliding_window; /* keys within this many positions (local)      */
    int32_t max_pos;        /* max_position_embeddings (default 131072)     */
    bool tied;              /* tie_word_embeddings (default true)           */
    bool sliding[GEMMA3_MAX_LAYERS]; /* per layer: sliding (local) or full  */
    int32_t bos;            /* bos_token_id (default 2)                     */
    int32_t eos[GEMMA3_MAX_EOS]; /* eos_token_id (int or list; default 1)   */
    int32_t n_eos;
} gemma3_config;

/* Reads `path` (a config.json, or a folder holding one). Rejects anything
 * but model_type gemma3_text, softcapping, rope_scaling, a bidirectional
 * (embedding) model and activations other than gelu_pytorch_tanh. Every
 * integer key must be an integer in its range (the limits are in
 * model_limits.h), every float key a positive number whose f32 value is
 * neither 0 nor infinite; token ids must lie below vocab_size. Messages
 * name the file, the key and the value. */
plinth_status gemma3_config_load(const char *path, gemma3_config *out, char *err,
                                 size_t err_size);
/* The same from the text of a config.json (len bytes, need not be
 * NUL-terminated); `where` names it in messages. */
plinth_status gemma3_config_parse(const char *text, size_t len, const char *where,
                                  gemma3_config *out, char *err, size_t err_size);

typedef struct gemma3_options {
    int32_t n_ctx;      /* KV cache positions; 0: min(max_pos, 4096)            */
    int32_t n_prefill;  /* tokens per prefill run; 0: min(512, n_ctx)           */
    bool all_logits;    /* prefill returns logits of every position             */
    bool no_decode;     /* build the prefill program only                       */
    bool force_f32;     /* convert bf16/f16 weights to f32 at load              */
    bool no_weights;    /* allocate the pools, leave params zero (plans, tests) */
    /* More backends after gemma3_load's, in order: the model spans them
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
} gemma3_options;

typedef struct gemma3 gemma3;

/* Reads MODEL_DIR/config.json and the checkpoint's headers, builds and
 * compiles the programs on `backend` (weights in their stored dtype; if the
 * backend refuses that dtype, again with weights converted to f32), and
 * loads the weights. `opts` may be NULL. */
plinth_status gemma3_load(plinth_context *ctx, plinth_backend *backend, const char *model_dir,
                          const gemma3_options *opts, gemma3 **out, char *err,
                          size_t err_size);
void gemma3_free(gemma3 *m);

const gemma3_config *gemma3_get_config(const gemma3 *m);
int32_t gemma3_n_ctx(const gemma3 *m);
int32_t gemma3_n_prefill(const gemma3 *m);
plinth_model *gemma3_model(gemma3 *m);
/* The programs (decode is NULL with no_decode). */
plinth_program *gemma3_prefill_program(gemma3 *m);
plinth_program *gemma3_decode_program(gemma3 *m);
/* The stored dtype of the weights ("bf16", "f32", "mixed", …) and whether
 * they were converted to f32 at load because the backend could not use it. */
const char *gemma3_weights_dtype(const gemma3 *m);
bool gemma3_weights_converted(const gemma3 *m);
/* One line saying why weights were converted ("" if not). */
const char *gemma3_note(const gemma3 *m);
/* Bytes of weights one decode step reads (every param once; the tied
 * embedding is the logits matrix) and the number of parameters. */
uint64_t gemma3_weight_bytes(const gemma3 *m);
uint64_t gemma3_param_count(const gemma3 *m);
/* FLOPs (2 per multiply-add) of the matmuls and attention of one run of
 * the prefill program over n_prefill tokens at positions 0.. (the last
 * layer's query, o_proj and MLP for the last row only unless all logits
 * are asked for; keys limited by the window on sliding layers). */
double gemma3_prefill_flops(const gemma3 *m);

/* Feeds tokens[0..n) at positions start.. (chunked by n_prefill) and writes
 * logits: [n][vocab] with all_logits, else [vocab] of the last token.
 * start + n must not exceed n_ctx. */
plinth_status gemma3_prefill(gemma3 *m, const int32_t *tokens, int32_t n, int32_t start,
                             float *logits, char *err, size_t err_size);
/* One token at position `pos` through the decode program (the prefill
 * program when there is none); logits [vocab]. */
plinth_status gemma3_decode(gemma3 *m, int32_t token, int32_t pos, float *logits, char *err,
                            size_t err_size);
/* Zeroes the KV cache (not needed for correctness: rows beyond the current
 * length are never read). */
plinth_status gemma3_reset(gemma3 *m, char *err, size_t err_size);

/* Names the params of a config, in the order of the graph. `name` is
 * written into buf (size >= 128). Returns false past the last one. Used by
 * the loader (f32 conversion) and by init-random. For each: rows/cols
 * (cols == 0 for a vector) and whether it is a norm weight. */
bool gemma3_param_at(const gemma3_config *c, uint32_t index, char *buf, size_t size,
                     int64_t *rows, int64_t *cols, bool *is_norm);

#endif /* PLINTH_GEMMA3_H */
