/*
 * safetensors.h — what the core's loader needs of a state dict beyond the
 * public plinth_state_dict_* API: the tensors themselves, by index.
 *
 * The dict is plinth.h's plinth_state_dict; safetensors.c is its one
 * parser. Tensors are kept sorted by name; `used` is set by the model
 * loader for plinth_load_options.report_unused.
 */
#ifndef PLINTH_SAFETENSORS_H
#define PLINTH_SAFETENSORS_H

#include "internal.h"
#include "plinth_limits.h"

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

/* Tensor `index` (name order), or NULL. */
st_tensor *st_at(plinth_state_dict *d, uint32_t index);
/* The path of the file a tensor lives in. */
const char *st_file_path(const plinth_state_dict *d, const st_tensor *t);

#endif /* PLINTH_SAFETENSORS_H */
