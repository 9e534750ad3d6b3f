/*
 * safetensors.h — what the core's loader needs of a state dict beyond the
 * public plinth_state_dict_* API: the tensors themselves, by index; and
 * what the GGUF parser (gguf_read.c) shares with the safetensors one.
 *
 * The dict is plinth.h's plinth_state_dict: files, tensors and metadata,
 * whatever the format. safetensors.c holds the dict, its accessors and
 * plinth_state_dict_read, and parses safetensors; gguf_read.c parses GGUF
 * into the same dict. Tensors are kept sorted by name; `used` is set by the
 * model loader for plinth_load_options.report_unused.
 */
#ifndef PLINTH_SAFETENSORS_H
#define PLINTH_SAFETENSORS_H

#include "gguf_meta.h"
#include "internal.h"
#include "plinth_limits.h"

#include <sys/stat.h>

#define ST_MAX_HEADER_BYTES PLINTH_MAX_SAFETENSORS_HEADER_BYTES
#define ST_MAX_INDEX_BYTES PLINTH_MAX_INDEX_BYTES
#define ST_MAX_SHARDS PLINTH_MAX_SHARDS
#define ST_MAX_TENSORS PLINTH_MAX_STATE_DICT_TENSORS

typedef struct st_tensor {
    const char *name;
    uint32_t file;          /* index of the file it lives in           */
    const char *dtype_name; /* as written: "F32", "BF16", "I64", ...   */
    int32_t dtype;          /* plinth_dtype, or -1 if plinth has none  */
    int32_t ndim;           /* 0..PLINTH_STATE_DICT_MAX_DIMS            */
    int64_t shape[PLINTH_STATE_DICT_MAX_DIMS];
    uint64_t begin;         /* in the file's data section              */
    uint64_t bytes;
    bool used;              /* set by the loader when a param took it  */
} st_tensor;

typedef struct st_file {
    char *path;
    uint64_t size;       /* when opened                        */
    uint64_t data_start; /* where tensor offsets count from    */
    dev_t dev;           /* identity when opened: a file       */
    ino_t ino;           /* replaced meanwhile is refused      */
} st_file;

struct plinth_state_dict {
    plinth_context *ctx; /* retained */
    char *path;
    st_file *files;
    uint32_t n_files, cap_files;
    st_tensor *tensors; /* sorted by name once open succeeds */
    uint32_t n_tensors, cap_tensors;
    meta_table meta; /* indexed once open succeeds */
};

/* Tensor `index` (name order), or NULL. */
st_tensor *st_at(plinth_state_dict *d, uint32_t index);
/* The path of the file a tensor lives in. */
const char *st_file_path(const plinth_state_dict *d, const st_tensor *t);

/* For the parsers (each returns NULL when out of memory or, for tensors,
 * past ST_MAX_TENSORS; the caller says so naming the file): a file record
 * with a copy of `path`, a tensor with a copy of `name`, other fields 0. */
st_file *st_add_file(plinth_state_dict *d, const char *path);
st_tensor *st_add_tensor(plinth_state_dict *d, const char *name);
/* Opens a regular file for reading without blocking (no FIFO, device or
 * folder), with its stat; errors name the file. */
plinth_status st_open_regular(plinth_context *ctx, const char *path, int *out_fd,
                              struct stat *sb);
/* Exactly n bytes at `offset`; a short read is an error naming the file. */
plinth_status st_read_at(plinth_context *ctx, int fd, const char *path, uint64_t offset,
                         void *dst, uint64_t n);
/* The tensors of one file (d->tensors[first..]): no name twice, no two
 * sharing a byte. Reorders them (by offset). */
plinth_status st_check_file_tensors(plinth_state_dict *d, uint32_t first, const char *path);

/* gguf_read.c: whether `path` starts with GGUF's magic (false for anything
 * unreadable: the safetensors parser then says what is wrong), and the
 * parser that appends a GGUF file's tensors and metadata to `d`. */
bool gguf_has_magic(const char *path);
plinth_status gguf_open_file(plinth_state_dict *d, const char *path);

#endif /* PLINTH_SAFETENSORS_H */
