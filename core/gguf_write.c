/*
 * gguf_write.c — plinth_gguf_writer: GGUF v3 files that llama.cpp reads.
 *
 * Sections: the writer and its sticky error; keys and metadata values;
 * tensors; writing (a buffered file, the header, metadata, tensor infos,
 * the data section).
 *
 * Metadata is kept as the reader keeps it (gguf_meta.h), so one
 * representation serves both directions. Tensors are laid out as
 * llama.cpp's reader insists: in the order added, each at the running
 * offset, padded to the alignment. The file is written to PATH.partial and
 * renamed over PATH only when complete.
 */
#include "gguf.h"
#include "gguf_meta.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ----------------------------------------------------------- writer --- */

typedef struct w_tensor {
    char *name;
    const gguf_type_info *type;
    int32_t ndim;
    int64_t shape[PLINTH_MAX_GGUF_DIMS]; /* outermost first */
    uint64_t bytes, row_bytes, offset;
    const void *data;         /* or:       */
    plinth_gguf_tensor_fn fn; /* with user */
    void *user;
} w_tensor;

struct plinth_gguf_writer {
    plinth_context *ctx; /* retained */
    char *path;
    meta_table meta; /* in the order added; never indexed */
    w_tensor *tensors;
    uint32_t n_tensors, cap_tensors;
    uint32_t alignment;
    uint64_t meta_bytes; /* the metadata's size in the file, so far */
    bool written;
    plinth_status first_status; /* the first failed add, kept for write */
    char first_error[1024];
};

/* Puts "PATH: <message>" on the context and remembers the first failure. */
static plinth_status fail(plinth_gguf_writer *w, plinth_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static plinth_status fail(plinth_gguf_writer *w, plinth_status status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx_error(w->ctx, status, "%s: %s", w->path, msg);
    if (w->first_status == PLINTH_OK) {
        w->first_status = status;
        snprintf(w->first_error, sizeof w->first_error, "%s", plinth_context_error(w->ctx));
    }
    return status;
}

plinth_status plinth_gguf_writer_create(plinth_context *ctx, const char *path,
                                        plinth_gguf_writer **out)
{
    if (out)
        *out = NULL;
    if (!ctx || !path || !out)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "plinth_gguf_writer_create: NULL argument");
    if (!path[0])
        return ctx_error(ctx, PLINTH_ERR_INVALID, "plinth_gguf_writer_create: empty path");
    plinth_gguf_writer *w = ctx_calloc(ctx, 1, sizeof *w);
    char *copy = ctx_strdup(ctx, path);
    if (!w || !copy) {
        ctx_free(ctx, w);
        ctx_free(ctx, copy);
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    w->ctx = ctx;
    w->path = copy;
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    ctx_retain(ctx);
    *out = w;
    return PLINTH_OK;
}

void plinth_gguf_writer_destroy(plinth_gguf_writer *w)
{
    if (!w)
        return;
    plinth_context *ctx = w->ctx;
    meta_free(ctx, &w->meta);
    for (uint32_t i = 0; i < w->n_tensors; i++)
        ctx_free(ctx, w->tensors[i].name);
    ctx_free(ctx, w->tensors);
    ctx_free(ctx, w->path);
    ctx_free(ctx, w);
    ctx_release(ctx);
}

/* ---------------------------------------------------- keys and values --- */

/* A new entry for `key` (checked: 1 to PLINTH_MAX_GGUF_NAME_BYTES bytes,
 * not added before); `value_bytes` is what its value takes in the file
 * (its type and payload), counted against the header limit. */
static meta_kv *new_kv(plinth_gguf_writer *w, const char *key, uint64_t value_bytes,
                       plinth_status *s)
{
    *s = PLINTH_ERR_INVALID;
    if (!w)
        return NULL;
    if (!key) {
        *s = fail(w, PLINTH_ERR_INVALID, "metadata key is NULL");
        return NULL;
    }
    size_t len = strlen(key);
    if (len == 0 || len > PLINTH_MAX_GGUF_NAME_BYTES) {
        *s = fail(w, PLINTH_ERR_INVALID, "metadata key '%.256s' has %zu bytes (1 to %u)", key,
                  len, PLINTH_MAX_GGUF_NAME_BYTES);
        return NULL;
    }
    for (uint32_t i = 0; i < w->meta.n; i++)
        if (strcmp(w->meta.kv[i].key, key) == 0) {
            *s = fail(w, PLINTH_ERR_INVALID, "metadata key '%.256s' added twice", key);
            return NULL;
        }
    if (w->meta.n >= PLINTH_MAX_GGUF_KEYS) {
        *s = fail(w, PLINTH_ERR_INVALID, "metadata key '%.256s': more than %u keys", key,
                  PLINTH_MAX_GGUF_KEYS);
        return NULL;
    }
    uint64_t bytes = 8 + len + value_bytes;
    if (value_bytes > PLINTH_MAX_GGUF_HEADER_BYTES ||
        w->meta_bytes + bytes > PLINTH_MAX_GGUF_HEADER_BYTES) {
        *s = fail(w, PLINTH_ERR_INVALID,
                  "metadata key '%.256s': the metadata would pass %" PRIu64 " bytes", key,
                  (uint64_t)PLINTH_MAX_GGUF_HEADER_BYTES);
        return NULL;
    }
    meta_kv *kv = meta_append(w->ctx, &w->meta, key);
    if (!kv) {
        *s = fail(w, PLINTH_ERR_NO_MEMORY, "metadata key '%.256s': out of memory", key);
        return NULL;
    }
    w->meta_bytes += bytes;
    *s = PLINTH_OK;
    return kv;
}

/* general.alignment must be a u32 power of two (llama.cpp refuses others). */
static bool is_alignment_key(const char *key)
{
    return key && strcmp(key, GGUF_KEY_ALIGNMENT) == 0;
}

plinth_status plinth_gguf_writer_add_int(plinth_gguf_writer *w, const char *key, int32_t type,
                                         int64_t value)
{
    if (!w)
        return PLINTH_ERR_INVALID;
    static const struct {
        int64_t min, max;
    } range[PLINTH_META_TYPE_COUNT] = {
        [PLINTH_META_U8] = {0, UINT8_MAX},        [PLINTH_META_I8] = {INT8_MIN, INT8_MAX},
        [PLINTH_META_U16] = {0, UINT16_MAX},      [PLINTH_META_I16] = {INT16_MIN, INT16_MAX},
        [PLINTH_META_U32] = {0, UINT32_MAX},      [PLINTH_META_I32] = {INT32_MIN, INT32_MAX},
        [PLINTH_META_U64] = {0, INT64_MAX},       [PLINTH_META_I64] = {INT64_MIN, INT64_MAX},
    };
    if (!meta_type_is_int(type))
        return fail(w, PLINTH_ERR_INVALID, "metadata key '%.256s': %s is not an integer type",
                    key ? key : "(null)", plinth_meta_type_name(type));
    if (value < range[type].min || value > range[type].max)
        return fail(w, PLINTH_ERR_INVALID,
                    "metadata key '%.256s': %" PRId64 " is outside %s's range", key ? key : "(null)",
                    value, plinth_meta_type_name(type));
    if (is_alignment_key(key) &&
        (type != PLINTH_META_U32 || value == 0 || (value & (value - 1)) != 0))
        return fail(w, PLINTH_ERR_INVALID,
                    "%s must be a u32 power of two (given %s %" PRId64 ")", GGUF_KEY_ALIGNMENT,
                    plinth_meta_type_name(type), value);
    plinth_status s;
    const size_t size = meta_type_size(type);
    meta_kv *kv = new_kv(w, key, 4 + size, &s);
    if (!kv)
        return s;
    kv->type = kv->elem_type = type;
    kv->n = 1;
    /* The low bytes of the two's complement value, little-endian. */
    for (size_t i = 0; i < size; i++)
        kv->raw[i] = (uint8_t)((uint64_t)value >> (8 * i));
    if (is_alignment_key(key))
        w->alignment = (uint32_t)value;
    return PLINTH_OK;
}

plinth_status plinth_gguf_writer_add_float(plinth_gguf_writer *w, const char *key,
                                           int32_t type, double value)
{
    if (!w)
        return PLINTH_ERR_INVALID;
    if (type != PLINTH_META_F32 && type != PLINTH_META_F64)
        return fail(w, PLINTH_ERR_INVALID, "metadata key '%.256s': %s is not f32 or f64",
                    key ? key : "(null)", plinth_meta_type_name(type));
    if (type == PLINTH_META_F32 && isfinite(value) && fabs(value) > FLT_MAX)
        return fail(w, PLINTH_ERR_INVALID, "metadata key '%.256s': %g is outside f32's range",
                    key ? key : "(null)", value);
    if (is_alignment_key(key))
        return fail(w, PLINTH_ERR_INVALID, "%s must be a u32 power of two", GGUF_KEY_ALIGNMENT);
    plinth_status s;
    meta_kv *kv = new_kv(w, key, 4 + meta_type_size(type), &s);
    if (!kv)
        return s;
    kv->type = kv->elem_type = type;
    kv->n = 1;
    if (type == PLINTH_META_F32) {
        const float f = (float)value;
        memcpy(kv->raw, &f, 4);
    } else {
        memcpy(kv->raw, &value, 8);
    }
    return PLINTH_OK;
}

plinth_status plinth_gguf_writer_add_bool(plinth_gguf_writer *w, const char *key, bool value)
{
    if (!w)
        return PLINTH_ERR_INVALID;
    if (is_alignment_key(key))
        return fail(w, PLINTH_ERR_INVALID, "%s must be a u32 power of two", GGUF_KEY_ALIGNMENT);
    plinth_status s;
    meta_kv *kv = new_kv(w, key, 4 + 1, &s);
    if (!kv)
        return s;
    kv->type = kv->elem_type = PLINTH_META_BOOL;
    kv->n = 1;
    kv->raw[0] = value ? 1 : 0;
    return PLINTH_OK;
}

plinth_status plinth_gguf_writer_add_string(plinth_gguf_writer *w, const char *key,
                                            const char *value)
{
    if (!w)
        return PLINTH_ERR_INVALID;
    if (!value)
        return fail(w, PLINTH_ERR_INVALID, "metadata key '%.256s': value is NULL",
                    key ? key : "(null)");
    if (is_alignment_key(key))
        return fail(w, PLINTH_ERR_INVALID, "%s must be a u32 power of two", GGUF_KEY_ALIGNMENT);
    const size_t len = strlen(value);
    plinth_status s;
    meta_kv *kv = new_kv(w, key, 4 + 8 + (uint64_t)len, &s);
    if (!kv)
        return s;
    kv->type = kv->elem_type = PLINTH_META_STRING;
    kv->n = len;
    kv->data = (uint8_t *)ctx_strdup(w->ctx, value);
    if (!kv->data)
        return fail(w, PLINTH_ERR_NO_MEMORY, "metadata key '%.256s': out of memory", key);
    return PLINTH_OK;
}

plinth_status plinth_gguf_writer_add_array(plinth_gguf_writer *w, const char *key,
                                           int32_t elem_type, const void *values, uint64_t n)
{
    if (!w)
        return PLINTH_ERR_INVALID;
    const size_t size = meta_type_size(elem_type);
    if (size == 0)
        return fail(w, PLINTH_ERR_INVALID,
                    "metadata key '%.256s': arrays of %s are written with %s", key ? key : "(null)",
                    plinth_meta_type_name(elem_type),
                    elem_type == PLINTH_META_STRING ? "plinth_gguf_writer_add_string_array"
                                                    : "no call (numbers, bools, strings only)");
    if (!values && n > 0)
        return fail(w, PLINTH_ERR_INVALID, "metadata key '%.256s': values are NULL",
                    key ? key : "(null)");
    if (is_alignment_key(key))
        return fail(w, PLINTH_ERR_INVALID, "%s must be a u32 power of two", GGUF_KEY_ALIGNMENT);
    const uint64_t bytes = n <= PLINTH_MAX_GGUF_HEADER_BYTES / size ? n * size : UINT64_MAX;
    if (elem_type == PLINTH_META_BOOL)
        for (uint64_t i = 0; i < n && bytes != UINT64_MAX; i++)
            if (((const uint8_t *)values)[i] > 1)
                return fail(w, PLINTH_ERR_INVALID,
                            "metadata key '%.256s': bool element %" PRIu64 " is not 0 or 1",
                            key ? key : "(null)", i);
    plinth_status s;
    meta_kv *kv = new_kv(w, key, bytes == UINT64_MAX ? UINT64_MAX : 4 + 4 + 8 + bytes, &s);
    if (!kv)
        return s;
    kv->type = PLINTH_META_ARRAY;
    kv->elem_type = elem_type;
    kv->n = n;
    if (n == 0)
        return PLINTH_OK;
    kv->data = ctx_malloc(w->ctx, (size_t)bytes);
    if (!kv->data)
        return fail(w, PLINTH_ERR_NO_MEMORY, "metadata key '%.256s': out of memory", key);
    memcpy(kv->data, values, (size_t)bytes);
    return PLINTH_OK;
}

plinth_status plinth_gguf_writer_add_string_array(plinth_gguf_writer *w, const char *key,
                                                  const char *const *values,
                                                  const uint64_t *lens, uint64_t n)
{
    if (!w)
        return PLINTH_ERR_INVALID;
    if (!values && n > 0)
        return fail(w, PLINTH_ERR_INVALID, "metadata key '%.256s': values are NULL",
                    key ? key : "(null)");
    if (is_alignment_key(key))
        return fail(w, PLINTH_ERR_INVALID, "%s must be a u32 power of two", GGUF_KEY_ALIGNMENT);
    /* The file's bytes (a length and the bytes per string) and the blob's. */
    uint64_t file_bytes = 4 + 4 + 8, blob = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!values[i])
            return fail(w, PLINTH_ERR_INVALID, "metadata key '%.256s': string %" PRIu64
                        " is NULL",
                        key ? key : "(null)", i);
        const uint64_t len = lens ? lens[i] : strlen(values[i]);
        if (len > PLINTH_MAX_GGUF_HEADER_BYTES || file_bytes > PLINTH_MAX_GGUF_HEADER_BYTES) {
            file_bytes = UINT64_MAX;
            break;
        }
        file_bytes += 8 + len;
        blob += len + 1;
    }
    plinth_status s;
    meta_kv *kv = new_kv(w, key, file_bytes, &s);
    if (!kv)
        return s;
    kv->type = PLINTH_META_ARRAY;
    kv->elem_type = PLINTH_META_STRING;
    kv->n = n;
    kv->offsets = ctx_calloc(w->ctx, (size_t)n + 1, sizeof *kv->offsets);
    kv->data = ctx_malloc(w->ctx, (size_t)(blob ? blob : 1));
    if (!kv->offsets || !kv->data)
        return fail(w, PLINTH_ERR_NO_MEMORY, "metadata key '%.256s': out of memory", key);
    uint64_t at = 0;
    for (uint64_t i = 0; i < n; i++) {
        const uint64_t len = lens ? lens[i] : strlen(values[i]);
        memcpy(kv->data + at, values[i], (size_t)len);
        kv->data[at + len] = '\0';
        at += len + 1;
        kv->offsets[i + 1] = at;
    }
    return PLINTH_OK;
}

/* ----------------------------------------------------------- tensors --- */

static plinth_status add_tensor(plinth_gguf_writer *w, const char *name, int32_t dtype,
                                int32_t ndim, const int64_t *shape, const void *data,
                                plinth_gguf_tensor_fn fn, void *user)
{
    if (!w)
        return PLINTH_ERR_INVALID;
    if (!name)
        return fail(w, PLINTH_ERR_INVALID, "tensor name is NULL");
    const size_t len = strlen(name);
    if (len == 0 || len > PLINTH_MAX_GGUF_WRITE_NAME_BYTES)
        return fail(w, PLINTH_ERR_INVALID,
                    "tensor '%.256s': name of %zu bytes (1 to %u: llama.cpp reads no longer)",
                    name, len, PLINTH_MAX_GGUF_WRITE_NAME_BYTES);
    const gguf_type_info *type = gguf_type_of_dtype(dtype);
    if (!type)
        return fail(w, PLINTH_ERR_INVALID, "tensor '%s': dtype %s cannot be written", name,
                    plinth_dtype_label(dtype));
    if (ndim < 1 || ndim > PLINTH_MAX_GGUF_DIMS || !shape)
        return fail(w, PLINTH_ERR_INVALID, "tensor '%s': %d dims (1 to %d)", name, ndim,
                    PLINTH_MAX_GGUF_DIMS);
    uint64_t rows = 1;
    for (int32_t i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return fail(w, PLINTH_ERR_INVALID, "tensor '%s': shape[%d] is %" PRId64, name, i,
                        shape[i]);
        if (i < ndim - 1 && __builtin_mul_overflow(rows, (uint64_t)shape[i], &rows))
            rows = UINT64_MAX;
    }
    const int64_t inner = shape[ndim - 1];
    const uint64_t row_bytes = plinth_dtype_row_bytes(dtype, inner);
    uint64_t bytes;
    if (row_bytes == 0)
        return fail(w, PLINTH_ERR_INVALID,
                    "tensor '%s': rows of %" PRId64 " elements are not whole %s blocks (of %zu)",
                    name, inner, plinth_dtype_label(dtype), plinth_dtype_block_elems(dtype));
    if (__builtin_mul_overflow(row_bytes, rows, &bytes) || bytes > PLINTH_MAX_TENSOR_BYTES)
        return fail(w, PLINTH_ERR_INVALID, "tensor '%s': larger than %" PRIu64 " bytes", name,
                    (uint64_t)PLINTH_MAX_TENSOR_BYTES);
    for (uint32_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return fail(w, PLINTH_ERR_INVALID, "tensor '%s' added twice", name);
    if (w->n_tensors >= PLINTH_MAX_STATE_DICT_TENSORS)
        return fail(w, PLINTH_ERR_INVALID, "tensor '%s': more than %u tensors", name,
                    PLINTH_MAX_STATE_DICT_TENSORS);
    char *copy = ctx_strdup(w->ctx, name);
    if (!copy || !ctx_grow(w->ctx, (void **)&w->tensors, &w->cap_tensors, w->n_tensors + 1,
                           sizeof *w->tensors)) {
        ctx_free(w->ctx, copy);
        return fail(w, PLINTH_ERR_NO_MEMORY, "tensor '%s': out of memory", name);
    }
    w_tensor *t = &w->tensors[w->n_tensors++];
    *t = (w_tensor){.name = copy, .type = type, .ndim = ndim, .bytes = bytes,
                    .row_bytes = row_bytes, .data = data, .fn = fn, .user = user};
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    return PLINTH_OK;
}

plinth_status plinth_gguf_writer_add_tensor(plinth_gguf_writer *w, const char *name,
                                            int32_t dtype, int32_t ndim, const int64_t *shape,
                                            const void *data)
{
    if (w && !data)
        return fail(w, PLINTH_ERR_INVALID, "tensor '%.256s': data is NULL",
                    name ? name : "(null)");
    return add_tensor(w, name, dtype, ndim, shape, data, NULL, NULL);
}

plinth_status plinth_gguf_writer_add_tensor_fn(plinth_gguf_writer *w, const char *name,
                                               int32_t dtype, int32_t ndim,
                                               const int64_t *shape, plinth_gguf_tensor_fn fn,
                                               void *user)
{
    if (w && !fn)
        return fail(w, PLINTH_ERR_INVALID, "tensor '%.256s': callback is NULL",
                    name ? name : "(null)");
    return add_tensor(w, name, dtype, ndim, shape, NULL, fn, user);
}

/* ----------------------------------------------------------- writing --- */

#define OUT_BUF_BYTES ((size_t)256 << 10)
#define CHUNK_BYTES ((uint64_t)4 << 20) /* asked of a tensor callback at once */

typedef struct out_file {
    plinth_gguf_writer *w;
    const char *path; /* the partial file */
    int fd;
    uint8_t *buf;
    size_t len;
    uint64_t pos; /* bytes written so far, buffered ones included */
} out_file;

static plinth_status write_all(out_file *o, const uint8_t *p, uint64_t n)
{
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : (size_t)n;
        ssize_t r = write(o->fd, p, chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return ctx_error(o->w->ctx, PLINTH_ERR_IO, "%s: cannot write: %s", o->path,
                             r < 0 ? strerror(errno) : "no progress");
        p += r;
        n -= (uint64_t)r;
    }
    return PLINTH_OK;
}

static plinth_status flush(out_file *o)
{
    plinth_status s = write_all(o, o->buf, o->len);
    o->len = 0;
    return s;
}

static plinth_status put(out_file *o, const void *src, uint64_t n)
{
    const uint8_t *p = src;
    o->pos += n;
    if (n >= OUT_BUF_BYTES) { /* large: straight to the file */
        plinth_status s = flush(o);
        return s == PLINTH_OK ? write_all(o, p, n) : s;
    }
    if (o->len + n > OUT_BUF_BYTES) {
        plinth_status s = flush(o);
        if (s != PLINTH_OK)
            return s;
    }
    memcpy(o->buf + o->len, p, (size_t)n);
    o->len += (size_t)n;
    return PLINTH_OK;
}

static plinth_status put_u32(out_file *o, uint32_t v)
{
    return put(o, &v, 4); /* little-endian host: checked by write */
}

static plinth_status put_u64(out_file *o, uint64_t v)
{
    return put(o, &v, 8);
}

static plinth_status put_string(out_file *o, const void *s, uint64_t len)
{
    plinth_status st = put_u64(o, len);
    return st == PLINTH_OK ? put(o, s, len) : st;
}

/* Zeros up to the next multiple of the alignment. */
static plinth_status pad(out_file *o, uint32_t align)
{
    static const uint8_t zeros[256];
    uint64_t n = ALIGN_UP(o->pos, align) - o->pos;
    plinth_status s = PLINTH_OK;
    while (n > 0 && s == PLINTH_OK) {
        uint64_t k = n < sizeof zeros ? n : sizeof zeros;
        s = put(o, zeros, k);
        n -= k;
    }
    return s;
}

static plinth_status put_kv(out_file *o, const meta_kv *kv)
{
    plinth_status s = put_string(o, kv->key, strlen(kv->key));
    if (s == PLINTH_OK)
        s = put_u32(o, (uint32_t)kv->type);
    if (s != PLINTH_OK)
        return s;
    if (kv->type == PLINTH_META_STRING)
        return put_string(o, kv->data, kv->n);
    if (kv->type != PLINTH_META_ARRAY)
        return put(o, kv->raw, meta_type_size(kv->type));
    s = put_u32(o, (uint32_t)kv->elem_type);
    if (s == PLINTH_OK)
        s = put_u64(o, kv->n);
    if (s != PLINTH_OK || kv->n == 0)
        return s;
    if (kv->elem_type != PLINTH_META_STRING)
        return put(o, kv->data, kv->n * meta_type_size(kv->elem_type));
    for (uint64_t i = 0; i < kv->n && s == PLINTH_OK; i++)
        s = put_string(o, kv->data + kv->offsets[i], kv->offsets[i + 1] - kv->offsets[i] - 1);
    return s;
}

static plinth_status put_tensor_info(out_file *o, const w_tensor *t)
{
    plinth_status s = put_string(o, t->name, strlen(t->name));
    if (s == PLINTH_OK)
        s = put_u32(o, (uint32_t)t->ndim);
    for (int32_t i = t->ndim - 1; i >= 0 && s == PLINTH_OK; i--) /* ne[]: innermost first */
        s = put_u64(o, (uint64_t)t->shape[i]);
    if (s == PLINTH_OK)
        s = put_u32(o, (uint32_t)t->type->id);
    if (s == PLINTH_OK)
        s = put_u64(o, t->offset);
    return s;
}

/* A tensor's bytes: from its pointer, or from its callback a few MiB of
 * whole rows at a time through `*chunk`. */
static plinth_status put_tensor_data(out_file *o, const w_tensor *t, uint8_t **chunk,
                                     uint64_t *chunk_cap)
{
    plinth_gguf_writer *w = o->w;
    if (t->data)
        return put(o, t->data, t->bytes);
    uint64_t rows_per = t->row_bytes >= CHUNK_BYTES ? 1 : CHUNK_BYTES / t->row_bytes;
    uint64_t step = rows_per * t->row_bytes;
    if (step > t->bytes)
        step = t->bytes;
    if (step > *chunk_cap) {
        uint8_t *p = ctx_realloc(w->ctx, *chunk, (size_t)step);
        if (!p)
            return ctx_error(w->ctx, PLINTH_ERR_NO_MEMORY, "%s: tensor '%s': out of memory",
                             w->path, t->name);
        *chunk = p;
        *chunk_cap = step;
    }
    for (uint64_t at = 0; at < t->bytes; at += step) {
        const uint64_t n = t->bytes - at < step ? t->bytes - at : step;
        /* What the message says if the callback puts none on the context. */
        ctx_error(w->ctx, PLINTH_ERR_INVALID, "the callback failed without a message");
        plinth_status s = t->fn(t->user, at, *chunk, n);
        if (s != PLINTH_OK)
            return ctx_error_wrap(w->ctx, s, "%s: tensor '%s': bytes [%" PRIu64 ", +%" PRIu64 ")",
                                  w->path, t->name, at, n);
        s = put(o, *chunk, n);
        if (s != PLINTH_OK)
            return s;
    }
    return PLINTH_OK;
}

static plinth_status write_file(plinth_gguf_writer *w, out_file *o)
{
    plinth_status s = put(o, GGUF_MAGIC, 4);
    if (s == PLINTH_OK)
        s = put_u32(o, GGUF_VERSION);
    if (s == PLINTH_OK)
        s = put_u64(o, w->n_tensors);
    if (s == PLINTH_OK)
        s = put_u64(o, w->meta.n);
    for (uint32_t i = 0; i < w->meta.n && s == PLINTH_OK; i++)
        s = put_kv(o, &w->meta.kv[i]);
    for (uint32_t i = 0; i < w->n_tensors && s == PLINTH_OK; i++)
        s = put_tensor_info(o, &w->tensors[i]);
    if (s == PLINTH_OK && w->n_tensors > 0)
        s = pad(o, w->alignment);
    uint8_t *chunk = NULL;
    uint64_t chunk_cap = 0;
    for (uint32_t i = 0; i < w->n_tensors && s == PLINTH_OK; i++) {
        s = put_tensor_data(o, &w->tensors[i], &chunk, &chunk_cap);
        if (s == PLINTH_OK)
            s = pad(o, w->alignment);
    }
    ctx_free(w->ctx, chunk);
    if (s == PLINTH_OK)
        s = flush(o);
    return s;
}

plinth_status plinth_gguf_writer_write(plinth_gguf_writer *w)
{
    if (!w)
        return PLINTH_ERR_INVALID;
    plinth_context *ctx = w->ctx;
    if (w->written)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "%s: already written", w->path);
    if (w->first_status != PLINTH_OK)
        return ctx_error(ctx, w->first_status, "%s: not written: an add failed first: %s",
                         w->path, w->first_error);
    if (!gguf_host_little_endian())
        return ctx_error(ctx, PLINTH_ERR_UNSUPPORTED,
                         "%s: plinth writes GGUF files on little-endian hosts only", w->path);
    /* Offsets: in order, each tensor padded to the alignment. */
    uint64_t off = 0;
    for (uint32_t i = 0; i < w->n_tensors; i++) {
        w_tensor *t = &w->tensors[i];
        t->offset = off;
        if (__builtin_add_overflow(off, ALIGN_UP(t->bytes, w->alignment), &off))
            return ctx_error(ctx, PLINTH_ERR_INVALID, "%s: the tensors pass 2^64 bytes",
                             w->path);
    }
    const size_t plen = strlen(w->path);
    char *partial = ctx_malloc(ctx, plen + sizeof ".partial");
    uint8_t *buf = ctx_malloc(ctx, OUT_BUF_BYTES);
    if (!partial || !buf) {
        ctx_free(ctx, partial);
        ctx_free(ctx, buf);
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s: out of memory", w->path);
    }
    memcpy(partial, w->path, plen);
    memcpy(partial + plen, ".partial", sizeof ".partial");
    out_file o = {.w = w, .path = partial, .buf = buf};
    plinth_status s = PLINTH_OK;
    o.fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o.fd < 0)
        s = ctx_error(ctx, PLINTH_ERR_IO, "%s: cannot create: %s", partial, strerror(errno));
    if (s == PLINTH_OK)
        s = write_file(w, &o);
    if (o.fd >= 0 && close(o.fd) != 0 && s == PLINTH_OK)
        s = ctx_error(ctx, PLINTH_ERR_IO, "%s: cannot write: %s", partial, strerror(errno));
    if (s == PLINTH_OK && rename(partial, w->path) != 0)
        s = ctx_error(ctx, PLINTH_ERR_IO, "%s: cannot rename %s to it: %s", w->path, partial,
                      strerror(errno));
    if (s != PLINTH_OK && o.fd >= 0)
        unlink(partial);
    ctx_free(ctx, partial);
    ctx_free(ctx, buf);
    if (s == PLINTH_OK)
        w->written = true;
    return s;
}
