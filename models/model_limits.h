/*
 * model_limits.h — the limits the model code (config.json, tokenizer.json,
 * sampling) puts on what a file may ask for, in one place. Each is far
 * above any released model and low enough that a hostile file is refused
 * before it costs time or memory; every refusal names the key and the
 * limit. The README's "Reliability" section lists them.
 */
#ifndef PLINTH_MODEL_LIMITS_H
#define PLINTH_MODEL_LIMITS_H

/* ------------------------------------------------------------- files --- */

/* config.json: real ones are 1-5 KB; a 63 MB one cost 2.5 GB of cJSON. */
#define MODEL_MAX_CONFIG_BYTES (1u << 20)
/* tokenizer.json: 8x Gemma 3's 33 MB (its vocabulary, merges and added
 * tokens are read in place, the small sections through cJSON, whose tree
 * is ~30x its text). Also keeps every token text offset inside the u32 the
 * tokenizer stores. */
#define MODEL_MAX_TOKENIZER_BYTES (256u << 20)

/* --------------------------------------------------------- config.json --- */

/* num_hidden_layers: 2x the deepest released LLM (126); the config holds a
 * per-layer flag array of this size. */
#define MODEL_MAX_LAYERS 256
/* hidden_size: 4x the widest released model (16384). */
#define MODEL_MAX_HIDDEN (1 << 16)
/* intermediate_size: 4x the widest released MLP (53248), rounded up. */
#define MODEL_MAX_FFN (1 << 18)
/* num_attention_heads, num_key_value_heads: 8x the most in use (128). */
#define MODEL_MAX_HEADS 1024
/* head_dim: 4x the largest in use (256). */
#define MODEL_MAX_HEAD_DIM 1024
/* max_position_embeddings, sliding_window: positions are i32, and RoPE's
 * first angle (pos * 1) stops being exact in f32 past 2^24. */
#define MODEL_MAX_CONTEXT (1 << 24)
/* eos_token_id as a list: Gemma 3 lists 2; the stop rule holds 16 ids. */
#define MODEL_MAX_EOS_IDS 8

/* ------------------------------------------------------ tokenizer.json --- */

/* Token ids (vocab_size, the ids of tokenizer.json): 16x Gemma 3's 262144;
 * per-id tables then stay under 40 MB. A tokenizer.json id must also be
 * below its number of vocab entries plus added tokens (ids are dense), so
 * tables are linear in the file. */
#define MODEL_MAX_VOCAB (1 << 22)
/* One token's text: Gemma 3's longest is 93 bytes; this keeps any decoded
 * piece (times MODEL_MAX_TEXT_GROWTH) far inside an int. */
#define MODEL_MAX_TOKEN_BYTES (1u << 16)
/* An added (special) token's text: Gemma 3's longest is 93 bytes. Encode
 * matches added tokens at every byte of the text, walking up to this many
 * bytes each time, so it bounds that walk. */
#define MODEL_MAX_ADDED_TOKEN_BYTES 256
/* Normalizer steps and decoder steps (after flattening Sequences): Gemma
 * 3 has 1 and 3. Each step costs a pass over every text and piece. */
#define MODEL_MAX_TOKENIZER_STEPS 64
/* How many times the normalizer (on a text) or the decoder (on one token)
 * may multiply a length in the worst case, over all its Replace steps:
 * Gemma 3's is 3 (" " -> "▁"). A chain of 40 doubling Replaces would
 * otherwise grow a text 2^40 times. */
#define MODEL_MAX_TEXT_GROWTH 32

/* One encode call: 30x the text of a 128k-token context. BPE's scratch is
 * ~24 bytes per byte of a line (times the normalizer's growth), and word
 * offsets are 32-bit. */
#define MODEL_MAX_ENCODE_BYTES (1u << 24)

#endif /* PLINTH_MODEL_LIMITS_H */
