/*
 * plinth_limits.h — the sizes plinth refuses to go past, in one place.
 *
 * Every input plinth reads (graphs built by callers, checkpoint headers and
 * indexes, configs, tokenizers) is checked against these before any
 * arithmetic or allocation that depends on it, so a lying or hostile file
 * gets a clear error instead of an overflow, a huge allocation or a hang.
 * Each limit is far above any real model; the README's Reliability section
 * lists them with their reasons.
 */
#ifndef PLINTH_LIMITS_H
#define PLINTH_LIMITS_H

#include <stdint.h>

/* Largest tensor a graph may declare or an op produce: 2^60 bytes. Sums of
 * a few such sizes (pool layouts, 256-byte rounding) still fit 64 bits. */
#define PLINTH_MAX_TENSOR_BYTES ((uint64_t)1 << 60)

/* A safetensors header: 100 MB, as the format's own reference reader. */
#define PLINTH_MAX_SAFETENSORS_HEADER_BYTES (100u * 1000u * 1000u)
/* A model.safetensors.index.json: 100 MB. */
#define PLINTH_MAX_INDEX_BYTES (100u * 1000u * 1000u)
/* Shards one index may name: the largest public checkpoints have a few
 * hundred; each is a file opened at load. */
#define PLINTH_MAX_SHARDS 4096u
/* Tensors in one state dict: real models have thousands. */
#define PLINTH_MAX_STATE_DICT_TENSORS 1000000u

/* GGUF files (a state dict's, and plinth_gguf_writer's). Everything before
 * the tensor data, the metadata and the tensor infos: 1 GiB (a model's
 * vocabulary and merges take a few MB; llama.cpp allows 1 GiB per string). */
#define PLINTH_MAX_GGUF_HEADER_BYTES ((uint64_t)1 << 30)
/* Metadata keys in one file: real files have a few dozen. */
#define PLINTH_MAX_GGUF_KEYS 65536u
/* Bytes of one key or tensor name, read or written. */
#define PLINTH_MAX_GGUF_NAME_BYTES 4096u
/* Bytes of a tensor name written: llama.cpp refuses a name of 64 or more
 * (ggml's GGML_MAX_NAME, with its NUL). */
#define PLINTH_MAX_GGUF_WRITE_NAME_BYTES 63u
/* Dims of a GGUF tensor (ggml's GGML_MAX_DIMS). */
#define PLINTH_MAX_GGUF_DIMS 4

/* Backends one model spans (plinth_model_create_multi): placement reasons
 * are kept as one bit per backend in 32-bit masks, and a real machine has
 * a few devices. */
#define PLINTH_MAX_BACKENDS 8u

#endif /* PLINTH_LIMITS_H */
