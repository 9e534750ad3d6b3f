/*
 * gguf_meta.h — key/value metadata as GGUF types it: the one representation
 * of a state dict's metadata (a GGUF file's; a safetensors file's
 * __metadata__ strings) and of what plinth_gguf_writer writes.
 *
 * Values keep the file's little-endian bytes (plinth runs on little-endian
 * hosts only): scalars in `raw`, arrays of numbers packed in `data`,
 * strings NUL-terminated in `data` (GGUF strings may hold NULs, so `n` is
 * the length), arrays of strings one after the other in `data`, each
 * NUL-terminated, string i at offsets[i] with length
 * offsets[i + 1] - offsets[i] - 1.
 */
#ifndef PLINTH_GGUF_META_H
#define PLINTH_GGUF_META_H

#include "internal.h"

typedef struct meta_kv {
    char *key;
    int32_t type;      /* plinth_meta_type; PLINTH_META_ARRAY for arrays */
    int32_t elem_type; /* an array's element type; else == type          */
    uint64_t n;        /* array: elements; string: bytes; else 1         */
    uint8_t raw[8];    /* a scalar number or bool                        */
    uint8_t *data;     /* strings, arrays                                */
    uint64_t *offsets; /* arrays of strings: n + 1                       */
} meta_kv;

typedef struct meta_table {
    meta_kv *kv; /* in the order added */
    uint32_t n, cap;
    uint32_t *by_key; /* kv indices sorted by key (meta_index) */
} meta_table;

/* Bytes of one element of a number or bool type; 0 for string, array, or a
 * number that is no type. */
size_t meta_type_size(int32_t type);
bool meta_type_is_int(int32_t type);

/* Appends an entry with a copy of `key` (other fields zero); NULL when out
 * of memory. */
meta_kv *meta_append(plinth_context *ctx, meta_table *t, const char *key);
void meta_free(plinth_context *ctx, meta_table *t);

/* Builds the key index. A key given twice fails naming it and `path`, or,
 * with keep_first, keeps its first entry and drops the later ones. */
plinth_status meta_index(plinth_context *ctx, meta_table *t, const char *path,
                         bool keep_first);
/* Entry index of `key` in an indexed table, or -1. */
int32_t meta_lookup(const meta_table *t, const char *key);

#endif /* PLINTH_GGUF_META_H */
