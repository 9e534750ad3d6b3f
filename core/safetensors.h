/*
 * safetensors.h — a read-only, bounds-checked view of a safetensors state
 * dict: one file, or the shards a model.safetensors.index.json names.
 *
 * Files are mmapped; tensor data pointers stay valid until st_close.
 * Everything in a header is distrusted: lengths, offsets, dtypes, shapes are
 * validated before any pointer is formed, and every error names the file
 * (and tensor) it concerns.
 */
#ifndef PLINTH_SAFETENSORS_H
#define PLINTH_SAFETENSORS_H

#include "internal.h"

#define ST_MAX_DIMS 8

typedef struct st_tensor {
    const char *name;
    const char *file;       /* path of the file it lives in            */
    const char *dtype_name; /* as written: "F32", "BF16", "I64", ...   */
    int32_t dtype;          /* plinth_dtype, or -1 if plinth has none  */
    int32_t ndim;           /* 0..ST_MAX_DIMS                          */
    int64_t shape[ST_MAX_DIMS];
    const uint8_t *data;    /* mmapped, `bytes` long                   */
    uint64_t bytes;
    bool used;              /* set by the loader when a param took it  */
} st_tensor;

typedef struct st_dict st_dict;

/* `path`: a .safetensors file, a *.safetensors.index.json, or a folder with
 * model.safetensors or model.safetensors.index.json. Errors go to ctx. */
plinth_status st_open(plinth_context *ctx, const char *path, st_dict **out);
void st_close(st_dict *d);

uint32_t st_count(const st_dict *d);
st_tensor *st_at(st_dict *d, uint32_t index);
/* NULL if absent. O(log n). */
st_tensor *st_find(st_dict *d, const char *name);

#endif /* PLINTH_SAFETENSORS_H */
