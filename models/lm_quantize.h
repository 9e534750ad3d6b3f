/*
 * lm_quantize.h — a decoder-only model into a GGUF file that llama.cpp
 * reads (`plinth quantize`): from a Hugging Face folder (config.json,
 * safetensors, tokenizer.json) or a GGUF file, with llama.cpp's metadata
 * keys, tensor names and conventions (gguf_names.h), the weight matrices
 * in the dtype asked for.
 *
 * Which tensors get which dtype:
 *   - 1-D tensors (norms, biases) and rope_freqs: f32;
 *   - matrices: `type`; with `mix` (llama.cpp's Q4_K_M, llama-quant.cpp):
 *     q6_K for the output matrix (the embedding when tied), for attn_v and
 *     ffn_down of the layers llama.cpp's use_more_bits picks (the first
 *     and last eighth, and every third between), q4_K for the rest;
 *   - a matrix whose rows are not whole blocks of its dtype keeps a float
 *     dtype: its own when it is f32, f16 or bf16, else f32.
 * Values are quantised from f32 by plinth_quantize_row (ggml's reference
 * quantisers); Gemma's norms are written 1 + w (added in f32, as plinth's
 * graph adds it), Llama's q/k rows permuted (gguf_names.h).
 */
#ifndef PLINTH_LM_QUANTIZE_H
#define PLINTH_LM_QUANTIZE_H

#include "lm_model.h"

typedef struct lm_quantize_options {
    int32_t type;  /* f32, f16, bf16, q8_0, q4_0, q4_K or q6_K */
    bool mix;      /* llama.cpp's Q4_K_M mix (type is then q4_K) */
    void (*progress)(void *user, double fraction);
    void *progress_user;
} lm_quantize_options;

/* Writes `out` (replaced only when complete) from `in`. Returns a status
 * with a message in err naming the file, key or tensor. */
plinth_status lm_quantize(plinth_context *ctx, const char *in, const char *out,
                          const lm_quantize_options *o, char *err, size_t err_size);

/* "q8_0", "q4_K_M", ... -> *type and *mix; false for a name plinth does
 * not write. Case does not matter. */
bool lm_quantize_type_from_name(const char *name, int32_t *type, bool *mix);

#endif
