/*
 * gguf_names.h — llama.cpp's tensor names for the decoder-only models and
 * the transforms its converter (convert_hf_to_gguf.py) applies, as data:
 * one table maps each Hugging Face param name to its GGUF name, for the
 * architectures that have it, with what the converter did to its values.
 * Used both ways: to load a GGUF file (lm_param_name) and to write one
 * (lm_quantize.c).
 */
#ifndef PLINTH_GGUF_NAMES_H
#define PLINTH_GGUF_NAMES_H

#include "lm_model.h"

typedef enum gguf_transform {
    GGUF_AS_IS = 0,
    /* Gemma's norm weights: the file holds 1 + w (HF's Gemma3RMSNorm scales
     * by 1 + w; ggml's rms_norm by the weight), added in f32. */
    GGUF_PLUS_ONE,
    /* Llama's q_proj / k_proj rows: within each head (of n_heads / of
     * n_kv_heads), HF row (half, i) is stored at row (i, half), so that
     * ggml's rope, which rotates adjacent pairs, sees HF's rotate-half
     * pairs (i, i + head_dim / 2) side by side. */
    GGUF_PERMUTE_Q,
    GGUF_PERMUTE_K,
} gguf_transform;

/* The GGUF name of HF param `hf` (without the config's prefix: as
 * lm_param_name takes it) for architecture c->arch, and its transform.
 * False when the table has no such name. */
bool gguf_name_of(const lm_config *c, const char *hf, char *out, size_t size,
                  gguf_transform *tr);

/* The transform of the param GGUF calls `name` (GGUF_AS_IS when the table
 * does not know the name). */
gguf_transform gguf_transform_of(const lm_config *c, const char *name);

/* Rows of a [rows, row_bytes] tensor permuted as GGUF_PERMUTE_* says
 * (heads of rows / n_head rows each): to_file true applies the
 * converter's permutation, false undoes it. src and dst do not overlap.
 * False when rows is not a whole number of heads of an even size. */
bool gguf_permute_rows(const void *src, void *dst, int64_t rows, size_t row_bytes,
                       int64_t n_head, bool to_file);

#endif
