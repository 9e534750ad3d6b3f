/*
 * tokenizer_gguf.h — the tokenizer of a GGUF file's tokenizer.ggml.*
 * metadata (llama.cpp's "llama" and "gpt2" models), and a tokenizer
 * written as that metadata (tokenizer_gguf.c says how each maps).
 */
#ifndef PLINTH_TOKENIZER_GGUF_H
#define PLINTH_TOKENIZER_GGUF_H

#include "tokenizer.h"

#include <plinth.h>

/* Builds the tokenizer of `sd`'s metadata: tokenizer.ggml.model "llama"
 * (tokens, scores, token_type, add_space_prefix) or "gpt2" (tokens,
 * token_type, merges, pre); bos/eos/unknown_token_id, add_bos_token,
 * tokenizer.chat_template. Returns 0, or -1 with a message naming the file
 * and the key. The same limits as tokenizer.json (model_limits.h); its
 * memory from ctx, as tokenizer_load's (tokenizer.h). */
int tokenizer_load_gguf(plinth_context *ctx, const plinth_state_dict *sd, tokenizer **out, char *err,
                        size_t err_size);

/* Whether t is a byte-level BPE (GGUF "gpt2"), else SentencePiece-style. */
bool tokenizer_gguf_is_byte_level(const tokenizer *t);

/* Adds t's metadata to w as llama.cpp's converter writes it, for a model
 * of n_vocab rows: ids 0..n_vocab-1 (an id with no token becomes "[PADn]",
 * unused; ids past n_vocab are left out). A byte-level tokenizer becomes
 * "gpt2" (its Split regex must be Llama 3's, Qwen 2's or GPT-2's), a
 * SentencePiece-style one "llama" with scores from its merges (its
 * scratch from t's context). Returns 0, or -1 with a message. */
int tokenizer_write_gguf(const tokenizer *t, plinth_gguf_writer *w, uint32_t n_vocab, char *err,
                         size_t err_size);

#endif
