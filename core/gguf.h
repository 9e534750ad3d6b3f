/*
 * gguf.h — what the GGUF reader (gguf_read.c) and writer (gguf_write.c)
 * share: ggml's tensor types and the format's constants.
 *
 * The state dict front (safetensors.h) declares the reader's entry points;
 * the writer is public (plinth.h). The GGUF layout, little-endian:
 *
 *   "GGUF" u32 version (2, 3) i64 n_tensors i64 n_kv
 *   n_kv x   { string key; i32 type; value }
 *            value: the number or bool; string = u64 length + bytes;
 *                   array = i32 element type, u64 count, the elements
 *   n_tensors x { string name; u32 n_dims; i64 ne[n_dims] (innermost
 *                 first); i32 ggml type; u64 offset in the data section }
 *   padding to the alignment, then the data section
 */
#ifndef PLINTH_GGUF_H
#define PLINTH_GGUF_H

#include "internal.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_VERSION 3u
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_KEY_ALIGNMENT "general.alignment"

/* One of ggml's tensor types, as GGUF numbers it. */
typedef struct gguf_type_info {
    int32_t id;           /* ggml_type                                    */
    const char *name;     /* "Q8_0": the state dict's dtype_name          */
    uint32_t block_elems;
    uint32_t block_bytes;
    int32_t dtype;        /* plinth_dtype, or -1 when plinth reads none    */
} gguf_type_info;

/* The type numbered `id`, or NULL (unknown, or removed from ggml). */
const gguf_type_info *gguf_type_find(int32_t id);
/* The type a plinth dtype is written as, or NULL. */
const gguf_type_info *gguf_type_of_dtype(int32_t dtype);
/* Bytes of n elements (a whole number of blocks) of a type: for a plinth
 * dtype exactly plinth_dtype_row_bytes; 0 when n is not whole blocks or
 * the size overflows. */
uint64_t gguf_type_row_bytes(const gguf_type_info *t, int64_t n);

/* Little-endian, checked once where files are opened or written. */
bool gguf_host_little_endian(void);

#endif /* PLINTH_GGUF_H */
