/*
 * gguf_meta.c — key/value metadata (gguf_meta.h) and the public
 * plinth_state_dict_meta_* getters over a state dict's table.
 *
 * Sections: value types; the table (append, free, index, lookup); the
 * getters (one lookup-and-type-check helper, then one function per kind of
 * value).
 *
 * Values hold the file's little-endian bytes; the state dict refuses
 * big-endian hosts, so memcpy reads them as host numbers.
 */
#include "gguf_meta.h"
#include "safetensors.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------- value types --- */

static const char *const type_names[PLINTH_META_TYPE_COUNT] = {
    [PLINTH_META_U8] = "u8",      [PLINTH_META_I8] = "i8",         [PLINTH_META_U16] = "u16",
    [PLINTH_META_I16] = "i16",    [PLINTH_META_U32] = "u32",       [PLINTH_META_I32] = "i32",
    [PLINTH_META_F32] = "f32",    [PLINTH_META_BOOL] = "bool",     [PLINTH_META_STRING] = "string",
    [PLINTH_META_ARRAY] = "array", [PLINTH_META_U64] = "u64",      [PLINTH_META_I64] = "i64",
    [PLINTH_META_F64] = "f64",
};

const char *plinth_meta_type_name(int32_t type)
{
    return type >= 0 && type < PLINTH_META_TYPE_COUNT ? type_names[type] : "?";
}

size_t meta_type_size(int32_t type)
{
    switch (type) {
    case PLINTH_META_U8: case PLINTH_META_I8: case PLINTH_META_BOOL: return 1;
    case PLINTH_META_U16: case PLINTH_META_I16: return 2;
    case PLINTH_META_U32: case PLINTH_META_I32: case PLINTH_META_F32: return 4;
    case PLINTH_META_U64: case PLINTH_META_I64: case PLINTH_META_F64: return 8;
    default: return 0;
    }
}

bool meta_type_is_int(int32_t type)
{
    return meta_type_size(type) != 0 && type != PLINTH_META_BOOL && type != PLINTH_META_F32 &&
           type != PLINTH_META_F64;
}

/* An integer element as int64; false for a u64 above INT64_MAX (*out is
 * then its value wrapped, for the message). */
static bool load_int(int32_t type, const uint8_t *p, int64_t *out)
{
    switch (type) {
    case PLINTH_META_U8: *out = p[0]; return true;
    case PLINTH_META_I8: *out = (int8_t)p[0]; return true;
    case PLINTH_META_BOOL: *out = p[0] != 0; return true;
    case PLINTH_META_U16: { uint16_t v; memcpy(&v, p, 2); *out = v; return true; }
    case PLINTH_META_I16: { int16_t v; memcpy(&v, p, 2); *out = v; return true; }
    case PLINTH_META_U32: { uint32_t v; memcpy(&v, p, 4); *out = v; return true; }
    case PLINTH_META_I32: { int32_t v; memcpy(&v, p, 4); *out = v; return true; }
    case PLINTH_META_I64: memcpy(out, p, 8); return true;
    case PLINTH_META_U64: {
        uint64_t v;
        memcpy(&v, p, 8);
        *out = (int64_t)(v & INT64_MAX);
        return v <= INT64_MAX;
    }
    default: return false;
    }
}

/* A number element as a double; false when an integer does not convert
 * exactly (beyond 2^53) or the type is no number. */
static bool load_double(int32_t type, const uint8_t *p, double *out)
{
    if (type == PLINTH_META_F32) {
        float f;
        memcpy(&f, p, 4);
        *out = f;
        return true;
    }
    if (type == PLINTH_META_F64) {
        memcpy(out, p, 8);
        return true;
    }
    if (!meta_type_is_int(type))
        return false;
    if (type == PLINTH_META_U64) {
        uint64_t v;
        memcpy(&v, p, 8);
        *out = (double)v;
        return v <= ((uint64_t)1 << 53);
    }
    int64_t v;
    load_int(type, p, &v);
    *out = (double)v;
    return v >= -((int64_t)1 << 53) && v <= ((int64_t)1 << 53);
}

/* ---------------------------------------------------------- the table --- */

meta_kv *meta_append(plinth_context *ctx, meta_table *t, const char *key)
{
    if (!ctx_grow(ctx, (void **)&t->kv, &t->cap, t->n + 1, sizeof *t->kv))
        return NULL;
    char *copy = ctx_strdup(ctx, key);
    if (!copy)
        return NULL;
    meta_kv *kv = &t->kv[t->n++];
    *kv = (meta_kv){.key = copy};
    return kv;
}

void meta_free(plinth_context *ctx, meta_table *t)
{
    for (uint32_t i = 0; i < t->n; i++) {
        ctx_free(ctx, t->kv[i].key);
        ctx_free(ctx, t->kv[i].data);
        ctx_free(ctx, t->kv[i].offsets);
    }
    ctx_free(ctx, t->kv);
    ctx_free(ctx, t->by_key);
    *t = (meta_table){0};
}

typedef struct key_at {
    const char *key;
    uint32_t index;
} key_at;

static int cmp_key_at(const void *a, const void *b)
{
    const key_at *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->index > y->index) - (x->index < y->index); /* twins: file order */
}

plinth_status meta_index(plinth_context *ctx, meta_table *t, const char *path, bool keep_first)
{
    ctx_free(ctx, t->by_key);
    t->by_key = NULL;
    if (t->n == 0)
        return PLINTH_OK;
    key_at *sorted = ctx_calloc(ctx, t->n, sizeof *sorted);
    if (!sorted)
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s: out of memory", path);
    for (uint32_t i = 0; i < t->n; i++)
        sorted[i] = (key_at){t->kv[i].key, i};
    qsort(sorted, t->n, sizeof *sorted, cmp_key_at);
    uint32_t n_twins = 0;
    for (uint32_t i = 1; i < t->n; i++) {
        if (strcmp(sorted[i - 1].key, sorted[i].key) != 0)
            continue;
        if (!keep_first) {
            plinth_status s = ctx_error(ctx, PLINTH_ERR_FORMAT,
                                        "%s: metadata key '%.256s' appears twice", path,
                                        sorted[i].key);
            ctx_free(ctx, sorted);
            return s;
        }
        t->kv[sorted[i].index].type = -1; /* a later twin */
        n_twins++;
    }
    if (n_twins > 0) { /* drop the later twins, then index what is left */
        ctx_free(ctx, sorted);
        uint32_t kept = 0;
        for (uint32_t i = 0; i < t->n; i++) {
            meta_kv *kv = &t->kv[i];
            if (kv->type < 0) {
                ctx_free(ctx, kv->key);
                ctx_free(ctx, kv->data);
                ctx_free(ctx, kv->offsets);
                continue;
            }
            t->kv[kept++] = *kv;
        }
        t->n = kept;
        return meta_index(ctx, t, path, false);
    }
    t->by_key = ctx_calloc(ctx, t->n, sizeof *t->by_key);
    if (t->by_key)
        for (uint32_t i = 0; i < t->n; i++)
            t->by_key[i] = sorted[i].index;
    ctx_free(ctx, sorted);
    return t->by_key ? PLINTH_OK : ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s: out of memory", path);
}

int32_t meta_lookup(const meta_table *t, const char *key)
{
    if (!t->by_key || !key)
        return -1;
    uint32_t lo = 0, hi = t->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->kv[t->by_key[mid]].key, key);
        if (c == 0)
            return (int32_t)t->by_key[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* --------------------------------------------------------- getters --- */

uint32_t plinth_state_dict_meta_count(const plinth_state_dict *sd)
{
    return sd ? sd->meta.n : 0;
}

const char *plinth_state_dict_meta_key(const plinth_state_dict *sd, uint32_t index)
{
    return sd && index < sd->meta.n ? sd->meta.kv[index].key : NULL;
}

int32_t plinth_state_dict_meta_find(const plinth_state_dict *sd, const char *key)
{
    return sd ? meta_lookup(&sd->meta, key) : -1;
}

int32_t plinth_state_dict_meta_type(const plinth_state_dict *sd, const char *key)
{
    int32_t i = plinth_state_dict_meta_find(sd, key);
    return i < 0 ? -1 : sd->meta.kv[i].type;
}

/* What a getter wants, for messages. */
typedef enum want {
    WANT_INT,
    WANT_NUMBER,
    WANT_BOOL,
    WANT_STRING,
    WANT_ARRAY,
} want;

static const char *want_name(want w)
{
    static const char *const names[] = {"an integer", "a number", "a bool", "a string",
                                        "an array"};
    return names[w];
}

static bool type_fits(int32_t type, want w)
{
    switch (w) {
    case WANT_INT: return meta_type_is_int(type);
    case WANT_NUMBER: return meta_type_size(type) != 0 && type != PLINTH_META_BOOL;
    case WANT_BOOL: return type == PLINTH_META_BOOL;
    case WANT_STRING: return type == PLINTH_META_STRING;
    case WANT_ARRAY: return type == PLINTH_META_ARRAY;
    }
    return false;
}

/* "an array of u32" / "u32": what a value is, for messages. */
static const char *kv_type_str(const meta_kv *kv, char *buf, size_t size)
{
    if (kv->type != PLINTH_META_ARRAY)
        return plinth_meta_type_name(kv->type);
    snprintf(buf, size, "an array of %s", plinth_meta_type_name(kv->elem_type));
    return buf;
}

/* The entry of `key` if it is of the kind wanted; NULL after putting the
 * error on the context. */
static const meta_kv *get(const plinth_state_dict *sd, const char *key, want w,
                          plinth_status *s)
{
    *s = PLINTH_ERR_INVALID;
    if (!sd)
        return NULL;
    if (!key) {
        *s = ctx_error(sd->ctx, PLINTH_ERR_INVALID, "%s: metadata key is NULL", sd->path);
        return NULL;
    }
    int32_t i = meta_lookup(&sd->meta, key);
    if (i < 0) {
        *s = ctx_error(sd->ctx, PLINTH_ERR_FORMAT, "%s: no metadata key '%.256s'", sd->path,
                       key);
        return NULL;
    }
    const meta_kv *kv = &sd->meta.kv[i];
    if (!type_fits(kv->type, w)) {
        char buf[48];
        *s = ctx_error(sd->ctx, PLINTH_ERR_FORMAT, "%s: metadata key '%.256s' is %s, wanted %s",
                       sd->path, key, kv_type_str(kv, buf, sizeof buf), want_name(w));
        return NULL;
    }
    *s = PLINTH_OK;
    return kv;
}

/* Element `index` of an array whose elements are of the kind wanted. */
static const meta_kv *get_elem(const plinth_state_dict *sd, const char *key, uint64_t index,
                               want w, plinth_status *s)
{
    const meta_kv *kv = get(sd, key, WANT_ARRAY, s);
    if (!kv)
        return NULL;
    if (!type_fits(kv->elem_type, w)) {
        char buf[48];
        *s = ctx_error(sd->ctx, PLINTH_ERR_FORMAT,
                       "%s: metadata key '%.256s' is %s, wanted an array of %s", sd->path, key,
                       kv_type_str(kv, buf, sizeof buf),
                       w == WANT_INT ? "integers" : w == WANT_NUMBER ? "numbers" : "strings");
        return NULL;
    }
    if (index >= kv->n) {
        *s = ctx_error(sd->ctx, PLINTH_ERR_INVALID,
                       "%s: metadata key '%.256s': no element %" PRIu64 " (it has %" PRIu64 ")",
                       sd->path, key, index, kv->n);
        return NULL;
    }
    return kv;
}

plinth_status plinth_state_dict_meta_int(const plinth_state_dict *sd, const char *key,
                                         int64_t min, int64_t max, int64_t *out)
{
    plinth_status s;
    const meta_kv *kv = get(sd, key, WANT_INT, &s);
    if (!kv)
        return s;
    int64_t v;
    if (!load_int(kv->type, kv->raw, &v)) {
        uint64_t u;
        memcpy(&u, kv->raw, 8);
        return ctx_error(sd->ctx, PLINTH_ERR_FORMAT,
                         "%s: metadata key '%.256s' is %" PRIu64 ", outside [%" PRId64
                         ", %" PRId64 "]",
                         sd->path, key, u, min, max);
    }
    if (v < min || v > max)
        return ctx_error(sd->ctx, PLINTH_ERR_FORMAT,
                         "%s: metadata key '%.256s' is %" PRId64 ", outside [%" PRId64
                         ", %" PRId64 "]",
                         sd->path, key, v, min, max);
    if (out)
        *out = v;
    return PLINTH_OK;
}

/* A number that does not convert exactly: an integer past 2^53. */
static plinth_status not_exact(const plinth_state_dict *sd, const char *key)
{
    return ctx_error(sd->ctx, PLINTH_ERR_FORMAT,
                     "%s: metadata key '%.256s': integer too large for a double (past 2^53)",
                     sd->path, key);
}

plinth_status plinth_state_dict_meta_double(const plinth_state_dict *sd, const char *key,
                                            double *out)
{
    plinth_status s;
    const meta_kv *kv = get(sd, key, WANT_NUMBER, &s);
    if (!kv)
        return s;
    double v;
    if (!load_double(kv->type, kv->raw, &v))
        return not_exact(sd, key);
    if (out)
        *out = v;
    return PLINTH_OK;
}

plinth_status plinth_state_dict_meta_bool(const plinth_state_dict *sd, const char *key,
                                          bool *out)
{
    plinth_status s;
    const meta_kv *kv = get(sd, key, WANT_BOOL, &s);
    if (!kv)
        return s;
    if (out)
        *out = kv->raw[0] != 0;
    return PLINTH_OK;
}

plinth_status plinth_state_dict_meta_string(const plinth_state_dict *sd, const char *key,
                                            const char **out, uint64_t *out_len)
{
    plinth_status s;
    const meta_kv *kv = get(sd, key, WANT_STRING, &s);
    if (!kv)
        return s;
    if (out)
        *out = (const char *)kv->data;
    if (out_len)
        *out_len = kv->n;
    return PLINTH_OK;
}

plinth_status plinth_state_dict_meta_array(const plinth_state_dict *sd, const char *key,
                                           int32_t *out_elem_type, uint64_t *out_len)
{
    plinth_status s;
    const meta_kv *kv = get(sd, key, WANT_ARRAY, &s);
    if (!kv)
        return s;
    if (out_elem_type)
        *out_elem_type = kv->elem_type;
    if (out_len)
        *out_len = kv->n;
    return PLINTH_OK;
}

plinth_status plinth_state_dict_meta_array_int(const plinth_state_dict *sd, const char *key,
                                               uint64_t index, int64_t *out)
{
    plinth_status s;
    /* Integers and bools: WANT_INT refuses bools, so check by hand. */
    const meta_kv *kv = get(sd, key, WANT_ARRAY, &s);
    if (!kv)
        return s;
    if (kv->elem_type != PLINTH_META_BOOL) {
        kv = get_elem(sd, key, index, WANT_INT, &s);
        if (!kv)
            return s;
    } else if (index >= kv->n) {
        return ctx_error(sd->ctx, PLINTH_ERR_INVALID,
                         "%s: metadata key '%.256s': no element %" PRIu64 " (it has %" PRIu64
                         ")",
                         sd->path, key, index, kv->n);
    }
    const uint8_t *p = kv->data + index * meta_type_size(kv->elem_type);
    int64_t v;
    if (!load_int(kv->elem_type, p, &v))
        return ctx_error(sd->ctx, PLINTH_ERR_FORMAT,
                         "%s: metadata key '%.256s': element %" PRIu64 " is above INT64_MAX",
                         sd->path, key, index);
    if (out)
        *out = v;
    return PLINTH_OK;
}

plinth_status plinth_state_dict_meta_array_double(const plinth_state_dict *sd, const char *key,
                                                  uint64_t index, double *out)
{
    plinth_status s;
    const meta_kv *kv = get_elem(sd, key, index, WANT_NUMBER, &s);
    if (!kv)
        return s;
    double v;
    if (!load_double(kv->elem_type, kv->data + index * meta_type_size(kv->elem_type), &v))
        return not_exact(sd, key);
    if (out)
        *out = v;
    return PLINTH_OK;
}

plinth_status plinth_state_dict_meta_array_string(const plinth_state_dict *sd, const char *key,
                                                  uint64_t index, const char **out,
                                                  uint64_t *out_len)
{
    plinth_status s;
    const meta_kv *kv = get_elem(sd, key, index, WANT_STRING, &s);
    if (!kv)
        return s;
    if (out)
        *out = (const char *)kv->data + kv->offsets[index];
    if (out_len)
        *out_len = kv->offsets[index + 1] - kv->offsets[index] - 1;
    return PLINTH_OK;
}
