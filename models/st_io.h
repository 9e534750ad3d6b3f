/*
 * st_io.h — what the model code needs of safetensors outside the core's
 * loader: reading the headers of a checkpoint (one file, a sharded index, or
 * a folder holding either) to learn each tensor's dtype and shape before the
 * graph is built, reading a tensor's bytes (mmap) when weights must be
 * converted, and writing a safetensors file tensor by tensor (streaming).
 *
 * Errors: functions that can fail return 0 or -1 with a message naming the
 * file (and tensor) in `err` (may be NULL). Nothing prints.
 */
#ifndef PLINTH_ST_IO_H
#define PLINTH_ST_IO_H

#include <plinth.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------ reading --- */

typedef struct st_entry {
    char *name;
    char dtype_name[16];  /* as written: "BF16", "F32", ...        */
    int32_t dtype;        /* plinth_dtype, or -1 if plinth has none */
    int32_t ndim;
    int64_t shape[8];
    uint32_t file;        /* index into the index's files           */
    uint64_t begin, end;  /* data offsets relative to the data start */
} st_entry;

typedef struct st_index st_index;

/* `path`: a .safetensors file, a *.safetensors.index.json, or a folder with
 * model.safetensors or model.safetensors.index.json. Only headers are read. */
int st_index_open(const char *path, st_index **out, char *err, size_t err_size);
void st_index_close(st_index *idx);
/* NULL if absent. */
const st_entry *st_index_find(const st_index *idx, const char *name);
uint32_t st_index_count(const st_index *idx);
const st_entry *st_index_at(const st_index *idx, uint32_t i);
/* Where the checkpoint is (the path given, resolved to a file). */
const char *st_index_path(const st_index *idx);
/* The bytes of a tensor (the file is mmapped on first use, unmapped at
 * close). NULL on error. */
const void *st_index_data(st_index *idx, const st_entry *e, char *err, size_t err_size);

/* Converts n elements of a float dtype (f32, f16, bf16) to f32. */
void st_to_f32(float *dst, const void *src, int32_t dtype, size_t n);
/* f32 -> bf16, round to nearest even (NaN stays NaN). */
uint16_t st_f32_to_bf16(float f);

/* ------------------------------------------------------------ writing --- */

typedef struct st_writer st_writer;

/* Starts `path` with a header for n tensors (names, dtypes, shapes given
 * now); the data then follows with st_writer_data, tensor by tensor in the
 * same order, any number of calls each. */
int st_writer_open(const char *path, uint32_t n, const char *const *names,
                   const int32_t *dtypes, const int32_t *ndims, const int64_t (*shapes)[4],
                   st_writer **out, char *err, size_t err_size);
int st_writer_data(st_writer *w, const void *data, size_t bytes, char *err, size_t err_size);
/* Checks every byte was written, closes; frees `w` in any case. */
int st_writer_close(st_writer *w, char *err, size_t err_size);

#endif /* PLINTH_ST_IO_H */
