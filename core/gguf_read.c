/*
 * gguf_read.c — a GGUF file (v2 or v3, little-endian) into a state dict:
 * its metadata, every value type, and its tensors, whose bytes
 * plinth_state_dict_read then preads on demand exactly as for safetensors
 * (nothing mapped, so a file truncated later is an error, not a SIGBUS).
 *
 * Sections: the cursor (buffered pread); strings; metadata values; tensor
 * infos; the file (header, alignment, data section); the magic.
 *
 * Everything in the file is distrusted. Every read is bounded by the file's
 * size and by PLINTH_MAX_GGUF_HEADER_BYTES, and counts are checked against
 * the bytes left before anything is allocated for them, so a count of 2^63
 * fails at once and no allocation exceeds the file. Sizes and offsets are
 * computed with overflow checks; each tensor's bytes (its row bytes by
 * plinth_dtype_row_bytes times its rows) must lie inside the data section,
 * start on the alignment and overlap no other tensor. Each error names the
 * file and the key or tensor.
 */
#include "gguf.h"
#include "safetensors.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ cursor --- */

#define CURSOR_BUF_BYTES (64u * 1024u)

typedef struct cursor {
    plinth_context *ctx;
    const char *path;
    int fd;
    uint64_t size;  /* of the file                                      */
    uint64_t limit; /* reads stop here: the size or the header limit    */
    uint64_t pos;   /* of the next byte                                 */
    uint8_t *buf;   /* a window [buf_at, buf_at + buf_len) of the file  */
    uint64_t buf_at, buf_len;
    char what[320]; /* the item being read, for messages: "tensor 'x'"  */
} cursor;

static void set_what(cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_what(cursor *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->what, sizeof c->what, fmt, ap);
    va_end(ap);
}

static uint64_t left(const cursor *c)
{
    return c->limit - c->pos;
}

/* The error for wanting n bytes more than `left`. */
static plinth_status past_end(cursor *c, uint64_t n, const char *item)
{
    if (c->size - c->pos < n)
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT,
                         "%s: %s: %s needs %" PRIu64 " bytes at byte %" PRIu64
                         ", past the end of the file (%" PRIu64 " bytes; truncated?)",
                         c->path, c->what, item, n, c->pos, c->size);
    return ctx_error(c->ctx, PLINTH_ERR_FORMAT,
                     "%s: %s: %s runs past byte %" PRIu64
                     ": the metadata and tensor infos may take at most that much",
                     c->path, c->what, item, c->limit);
}

/* Exactly n bytes into dst; `item` names them in the error. */
static plinth_status take(cursor *c, void *dst, uint64_t n, const char *item)
{
    if (n > left(c))
        return past_end(c, n, item);
    uint8_t *out = dst;
    while (n > 0) {
        if (c->pos >= c->buf_at && c->pos < c->buf_at + c->buf_len) {
            uint64_t k = c->buf_at + c->buf_len - c->pos;
            k = k < n ? k : n;
            memcpy(out, c->buf + (c->pos - c->buf_at), (size_t)k);
            out += k, c->pos += k, n -= k;
            continue;
        }
        if (n >= CURSOR_BUF_BYTES) { /* large: straight into dst */
            plinth_status s = st_read_at(c->ctx, c->fd, c->path, c->pos, out, n);
            if (s != PLINTH_OK)
                return s;
            c->pos += n;
            return PLINTH_OK;
        }
        uint64_t k = c->size - c->pos < CURSOR_BUF_BYTES ? c->size - c->pos : CURSOR_BUF_BYTES;
        plinth_status s = st_read_at(c->ctx, c->fd, c->path, c->pos, c->buf, k);
        if (s != PLINTH_OK)
            return s;
        c->buf_at = c->pos;
        c->buf_len = k;
    }
    return PLINTH_OK;
}

static plinth_status take_u32(cursor *c, uint32_t *v, const char *item)
{
    return take(c, v, 4, item);
}

static plinth_status take_u64(cursor *c, uint64_t *v, const char *item)
{
    return take(c, v, 8, item);
}

/* An array of n elements of at least `least` bytes each that the bytes
 * left cannot hold: refused before anything is allocated for it. */
static plinth_status too_long(cursor *c, uint64_t n, uint64_t least)
{
    if (n <= left(c) / least)
        return PLINTH_OK;
    bool in_file = c->limit == c->size;
    return ctx_error(c->ctx, PLINTH_ERR_FORMAT,
                     "%s: %s: an array of %" PRIu64 " elements cannot fit in the %" PRIu64
                     " bytes left %s",
                     c->path, c->what, n, left(c),
                     in_file ? "in the file (truncated?)" : "for the metadata and tensor infos");
}

static plinth_status no_memory(cursor *c)
{
    return ctx_error(c->ctx, PLINTH_ERR_NO_MEMORY, "%s: %s: out of memory", c->path, c->what);
}

/* ----------------------------------------------------------- strings --- */

/* A string's length: at most `max` bytes, and in the file. */
static plinth_status take_len(cursor *c, uint64_t max, const char *item, uint64_t *len)
{
    plinth_status s = take_u64(c, len, "its length");
    if (s != PLINTH_OK)
        return s;
    if (*len > max)
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT, "%s: %s: %s of %" PRIu64
                         " bytes (at most %" PRIu64 ")",
                         c->path, c->what, item, *len, max);
    if (*len > left(c))
        return past_end(c, *len, item);
    return PLINTH_OK;
}

/* A key or tensor name: 1 to PLINTH_MAX_GGUF_NAME_BYTES bytes, no NUL. */
static plinth_status take_name(cursor *c, const char *item, char **out)
{
    *out = NULL;
    uint64_t len;
    plinth_status s = take_len(c, PLINTH_MAX_GGUF_NAME_BYTES, item, &len);
    if (s != PLINTH_OK)
        return s;
    if (len == 0)
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT, "%s: %s: empty %s", c->path, c->what, item);
    char *name = ctx_malloc(c->ctx, (size_t)len + 1);
    if (!name)
        return no_memory(c);
    s = take(c, name, len, item);
    if (s == PLINTH_OK && memchr(name, '\0', (size_t)len))
        s = ctx_error(c->ctx, PLINTH_ERR_FORMAT, "%s: %s: %s holds a NUL byte", c->path,
                      c->what, item);
    if (s != PLINTH_OK) {
        ctx_free(c->ctx, name);
        return s;
    }
    name[len] = '\0';
    *out = name;
    return PLINTH_OK;
}

/* --------------------------------------------------- metadata values --- */

static bool known_value_type(int32_t t)
{
    return t >= 0 && t < PLINTH_META_TYPE_COUNT;
}

/* Bool bytes are 0 or 1 (a GGUF writer writes nothing else). */
static plinth_status check_bools(cursor *c, const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i] > 1)
            return ctx_error(c->ctx, PLINTH_ERR_FORMAT,
                             "%s: %s: bool %s%" PRIu64 " is %u, not 0 or 1", c->path, c->what,
                             n > 1 ? "element " : "", n > 1 ? i : 0, p[i]);
    return PLINTH_OK;
}

/* A string value into kv->data (NUL-terminated), its length in kv->n. */
static plinth_status take_string(cursor *c, meta_kv *kv)
{
    uint64_t len;
    plinth_status s = take_len(c, UINT64_MAX, "string", &len);
    if (s != PLINTH_OK)
        return s;
    kv->data = ctx_malloc(c->ctx, (size_t)len + 1);
    if (!kv->data)
        return no_memory(c);
    kv->data[len] = '\0';
    kv->n = len;
    return take(c, kv->data, len, "string");
}

/* An array of strings: the blob and offsets gguf_meta.h describes. */
static plinth_status take_strings(cursor *c, meta_kv *kv)
{
    /* Each string takes 8 bytes of length at least: n is bounded by the
     * bytes left before anything is allocated for it. */
    plinth_status s = too_long(c, kv->n, 8);
    if (s != PLINTH_OK)
        return s;
    kv->offsets = ctx_calloc(c->ctx, (size_t)kv->n + 1, sizeof *kv->offsets);
    if (!kv->offsets)
        return no_memory(c);
    uint64_t used = 0, cap = 0;
    for (uint64_t i = 0; i < kv->n; i++) {
        uint64_t len;
        s = take_len(c, UINT64_MAX, "string", &len);
        if (s != PLINTH_OK)
            return s;
        if (used + len + 1 > cap) { /* len <= the header limit: no overflow */
            uint64_t want = cap ? cap * 2 : 4096;
            while (want < used + len + 1)
                want *= 2;
            uint8_t *p = ctx_realloc(c->ctx, kv->data, (size_t)want);
            if (!p)
                return no_memory(c);
            kv->data = p;
            cap = want;
        }
        s = take(c, kv->data + used, len, "string");
        if (s != PLINTH_OK)
            return s;
        kv->data[used + len] = '\0';
        used += len + 1;
        kv->offsets[i + 1] = used;
    }
    return PLINTH_OK;
}

/* An array value: element type, count, elements. */
static plinth_status take_array(cursor *c, meta_kv *kv)
{
    int32_t et;
    plinth_status s = take(c, &et, 4, "the array's element type");
    if (s == PLINTH_OK)
        s = take_u64(c, &kv->n, "the array's length");
    if (s != PLINTH_OK)
        return s;
    if (et == PLINTH_META_ARRAY)
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT,
                         "%s: %s: an array of arrays (plinth reads arrays of numbers, bools "
                         "and strings)",
                         c->path, c->what);
    if (!known_value_type(et))
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT, "%s: %s: unknown array element type %d",
                         c->path, c->what, et);
    kv->elem_type = et;
    if (et == PLINTH_META_STRING)
        return take_strings(c, kv);
    uint64_t size = meta_type_size(et);
    s = too_long(c, kv->n, size);
    if (s != PLINTH_OK || kv->n == 0)
        return s;
    kv->data = ctx_malloc(c->ctx, (size_t)(kv->n * size));
    if (!kv->data)
        return no_memory(c);
    s = take(c, kv->data, kv->n * size, "the array");
    if (s == PLINTH_OK && et == PLINTH_META_BOOL)
        s = check_bools(c, kv->data, kv->n);
    return s;
}

/* One key/value pair appended to the dict's metadata. */
static plinth_status take_kv(cursor *c, plinth_state_dict *d, uint64_t i, uint64_t n_kv)
{
    set_what(c, "metadata entry %" PRIu64 " of %" PRIu64, i, n_kv);
    char *key;
    plinth_status s = take_name(c, "key", &key);
    if (s != PLINTH_OK)
        return s;
    meta_kv *kv = meta_append(d->ctx, &d->meta, key);
    ctx_free(d->ctx, key);
    if (!kv)
        return no_memory(c);
    set_what(c, "metadata key '%.256s'", kv->key);
    int32_t type;
    s = take(c, &type, 4, "its type");
    if (s != PLINTH_OK)
        return s;
    if (!known_value_type(type))
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT, "%s: %s: unknown value type %d", c->path,
                         c->what, type);
    kv->type = kv->elem_type = type;
    kv->n = 1;
    if (type == PLINTH_META_STRING)
        return take_string(c, kv);
    if (type == PLINTH_META_ARRAY)
        return take_array(c, kv);
    s = take(c, kv->raw, meta_type_size(type), "its value");
    if (s == PLINTH_OK && type == PLINTH_META_BOOL)
        s = check_bools(c, kv->raw, 1);
    return s;
}

/* general.alignment: absent (32), or a u32 power of two. */
static plinth_status alignment(cursor *c, const meta_table *t, uint32_t *out)
{
    *out = GGUF_DEFAULT_ALIGNMENT;
    int32_t i = meta_lookup(t, GGUF_KEY_ALIGNMENT);
    if (i < 0)
        return PLINTH_OK;
    const meta_kv *kv = &t->kv[i];
    if (kv->type != PLINTH_META_U32)
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT, "%s: %s is %s, wanted u32", c->path,
                         GGUF_KEY_ALIGNMENT, plinth_meta_type_name(kv->type));
    uint32_t a;
    memcpy(&a, kv->raw, 4);
    if (a == 0 || (a & (a - 1)) != 0)
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT, "%s: %s is %" PRIu32
                         ": not a power of two",
                         c->path, GGUF_KEY_ALIGNMENT, a);
    *out = a;
    return PLINTH_OK;
}

/* ------------------------------------------------------ tensor infos --- */

/* One tensor info appended to the dict; `begin` is checked later, when
 * the data section is known. */
static plinth_status take_tensor(cursor *c, plinth_state_dict *d, uint32_t file, uint64_t i,
                                 uint64_t n_tensors)
{
    set_what(c, "tensor info %" PRIu64 " of %" PRIu64, i, n_tensors);
    char *name;
    plinth_status s = take_name(c, "name", &name);
    if (s != PLINTH_OK)
        return s;
    st_tensor *t = st_add_tensor(d, name);
    ctx_free(d->ctx, name);
    if (!t)
        return d->n_tensors >= PLINTH_MAX_STATE_DICT_TENSORS
                   ? ctx_error(c->ctx, PLINTH_ERR_FORMAT, "%s: more than %u tensors", c->path,
                               PLINTH_MAX_STATE_DICT_TENSORS)
                   : no_memory(c);
    t->file = file;
    set_what(c, "tensor '%.256s'", t->name);

    uint32_t n_dims;
    s = take_u32(c, &n_dims, "its number of dims");
    if (s != PLINTH_OK)
        return s;
    if (n_dims > PLINTH_MAX_GGUF_DIMS)
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT, "%s: %s has %" PRIu32 " dims (at most %d)",
                         c->path, c->what, n_dims, PLINTH_MAX_GGUF_DIMS);
    int64_t ne[PLINTH_MAX_GGUF_DIMS] = {1, 1, 1, 1};
    s = take(c, ne, 8 * (uint64_t)n_dims, "its dims");
    if (s != PLINTH_OK)
        return s;
    uint64_t elems = 1;
    bool overflow = false;
    for (uint32_t j = 0; j < n_dims; j++) {
        if (ne[j] < 0)
            return ctx_error(c->ctx, PLINTH_ERR_FORMAT, "%s: %s: ne[%" PRIu32 "] is %" PRId64,
                             c->path, c->what, j, ne[j]);
        overflow |= __builtin_mul_overflow(elems, (uint64_t)ne[j], &elems);
    }
    bool empty = false;
    for (uint32_t j = 0; j < n_dims; j++)
        empty |= ne[j] == 0;
    if (!empty && (overflow || elems > INT64_MAX))
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT,
                         "%s: %s: element count overflows 64 bits (ne %" PRId64 " x %" PRId64
                         " x %" PRId64 " x %" PRId64 ")",
                         c->path, c->what, ne[0], ne[1], ne[2], ne[3]);

    int32_t type_id;
    s = take(c, &type_id, 4, "its type");
    if (s != PLINTH_OK)
        return s;
    const gguf_type_info *type = gguf_type_find(type_id);
    if (!type)
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT, "%s: %s: unknown ggml type %" PRId32,
                         c->path, c->what, type_id);
    if (ne[0] % type->block_elems != 0)
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT,
                         "%s: %s: rows of %" PRId64 " elements are not whole %s blocks (of %"
                         PRIu32 ")",
                         c->path, c->what, ne[0], type->name, type->block_elems);
    /* Bytes: those of one row (the one size computation,
     * plinth_dtype_row_bytes, for plinth's dtypes) times the rows. */
    uint64_t bytes = 0;
    if (!empty) {
        uint64_t row = gguf_type_row_bytes(type, ne[0]), rows = elems / (uint64_t)ne[0];
        if (row == 0 || __builtin_mul_overflow(row, rows, &bytes))
            return ctx_error(c->ctx, PLINTH_ERR_FORMAT, "%s: %s: byte size overflows 64 bits",
                             c->path, c->what);
    }
    s = take_u64(c, &t->begin, "its offset");
    if (s != PLINTH_OK)
        return s;
    t->dtype = type->dtype;
    t->dtype_name = type->name;
    t->ndim = (int32_t)n_dims;
    for (uint32_t j = 0; j < n_dims; j++) /* outermost first */
        t->shape[j] = ne[n_dims - 1 - j];
    t->bytes = bytes;
    return PLINTH_OK;
}

/* Each tensor's bytes inside the data section, on the alignment. */
static plinth_status check_offsets(cursor *c, plinth_state_dict *d, uint32_t first,
                                   uint64_t data_size, uint32_t align)
{
    for (uint32_t i = first; i < d->n_tensors; i++) {
        const st_tensor *t = &d->tensors[i];
        if (t->begin % align != 0)
            return ctx_error(c->ctx, PLINTH_ERR_FORMAT,
                             "%s: tensor '%.256s': offset %" PRIu64
                             " is not a multiple of the alignment %" PRIu32,
                             c->path, t->name, t->begin, align);
        if (t->begin > data_size || t->bytes > data_size - t->begin)
            return ctx_error(c->ctx, PLINTH_ERR_FORMAT,
                             "%s: tensor '%.256s': bytes [%" PRIu64 ", +%" PRIu64
                             ") run past the data section (%" PRIu64 " bytes; truncated?)",
                             c->path, t->name, t->begin, t->bytes, data_size);
    }
    return PLINTH_OK;
}

/* ---------------------------------------------------------- the file --- */

static plinth_status take_header(cursor *c, uint64_t *n_tensors, uint64_t *n_kv)
{
    set_what(c, "header");
    char magic[4];
    uint32_t version;
    plinth_status s = take(c, magic, 4, "the magic");
    if (s == PLINTH_OK && memcmp(magic, GGUF_MAGIC, 4) != 0)
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT, "%s: not a GGUF file (no GGUF magic)",
                         c->path);
    if (s == PLINTH_OK)
        s = take_u32(c, &version, "the version");
    if (s != PLINTH_OK)
        return s;
    /* A big-endian file's version 3 reads 0x03000000 here. */
    if (version != 0 && (version & 0xffffu) == 0)
        return ctx_error(c->ctx, PLINTH_ERR_UNSUPPORTED,
                         "%s: a big-endian GGUF file (version bytes %02x %02x %02x %02x): "
                         "plinth reads little-endian GGUF only",
                         c->path, version & 0xff, (version >> 8) & 0xff, (version >> 16) & 0xff,
                         version >> 24);
    if (version == 1)
        return ctx_error(c->ctx, PLINTH_ERR_UNSUPPORTED,
                         "%s: GGUF version 1 (plinth reads versions 2 and 3: convert the "
                         "model again with a current llama.cpp)",
                         c->path);
    if (version < 2 || version > GGUF_VERSION)
        return ctx_error(c->ctx, PLINTH_ERR_UNSUPPORTED,
                         "%s: GGUF version %" PRIu32 " (plinth reads versions 2 and 3)",
                         c->path, version);
    s = take_u64(c, n_tensors, "the tensor count");
    if (s == PLINTH_OK)
        s = take_u64(c, n_kv, "the metadata count");
    if (s != PLINTH_OK)
        return s;
    if (*n_tensors > PLINTH_MAX_STATE_DICT_TENSORS)
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT, "%s: header says %" PRIu64
                         " tensors (at most %u)",
                         c->path, *n_tensors, PLINTH_MAX_STATE_DICT_TENSORS);
    if (*n_kv > PLINTH_MAX_GGUF_KEYS)
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT, "%s: header says %" PRIu64
                         " metadata keys (at most %u)",
                         c->path, *n_kv, PLINTH_MAX_GGUF_KEYS);
    /* The smallest entry: a 1-byte key, its type and a 1-byte value (14
     * bytes); the smallest tensor info: a 1-byte name, 0 dims, type and
     * offset (25). Counts the file cannot hold fail here, before any
     * allocation. */
    uint64_t least = *n_kv * 14 + *n_tensors * 25;
    if (least > left(c))
        return ctx_error(c->ctx, PLINTH_ERR_FORMAT,
                         "%s: header says %" PRIu64 " metadata keys and %" PRIu64
                         " tensors, which need at least %" PRIu64 " bytes; %" PRIu64
                         " are left (truncated?)",
                         c->path, *n_kv, *n_tensors, least, left(c));
    return PLINTH_OK;
}

plinth_status gguf_open_file(plinth_state_dict *d, const char *path_in)
{
    plinth_context *ctx = d->ctx;
    st_file *f = st_add_file(d, path_in);
    if (!f)
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s: out of memory", path_in);
    uint32_t file = d->n_files - 1, first = d->n_tensors;
    cursor c = {.ctx = ctx, .path = f->path, .fd = -1};
    struct stat sb;
    plinth_status s = st_open_regular(ctx, c.path, &c.fd, &sb);
    if (s != PLINTH_OK)
        return s;
    f->size = c.size = (uint64_t)sb.st_size;
    f->dev = sb.st_dev;
    f->ino = sb.st_ino;
    c.limit = c.size < PLINTH_MAX_GGUF_HEADER_BYTES ? c.size : PLINTH_MAX_GGUF_HEADER_BYTES;
    c.buf = ctx_malloc(ctx, CURSOR_BUF_BYTES);
    if (!c.buf) {
        close(c.fd);
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s: out of memory", c.path);
    }

    uint64_t n_tensors = 0, n_kv = 0;
    uint32_t align = GGUF_DEFAULT_ALIGNMENT;
    s = take_header(&c, &n_tensors, &n_kv);
    for (uint64_t i = 0; i < n_kv && s == PLINTH_OK; i++)
        s = take_kv(&c, d, i, n_kv);
    if (s == PLINTH_OK)
        s = meta_index(ctx, &d->meta, c.path, false);
    if (s == PLINTH_OK)
        s = alignment(&c, &d->meta, &align);
    for (uint64_t i = 0; i < n_tensors && s == PLINTH_OK; i++)
        s = take_tensor(&c, d, file, i, n_tensors);
    close(c.fd);
    ctx_free(ctx, c.buf);
    if (s != PLINTH_OK)
        return s;

    /* The data section starts at the next multiple of the alignment (c.pos
     * is at most 1 GiB and align at most 2^31: no overflow). */
    f->data_start = n_tensors > 0 ? ALIGN_UP(c.pos, align) : c.pos;
    if (f->data_start > f->size)
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: the data section would start at byte %" PRIu64
                         ", past the end of the file (%" PRIu64 " bytes; truncated?)",
                         c.path, f->data_start, f->size);
    s = check_offsets(&c, d, first, f->size - f->data_start, align);
    if (s == PLINTH_OK)
        s = st_check_file_tensors(d, first, c.path);
    return s;
}

/* --------------------------------------------------------- the magic --- */

bool gguf_has_magic(const char *path)
{
    int fd;
    struct stat sb;
    char magic[4];
    /* Quietly (no context: no message): on any failure the safetensors
     * parser opens the file again and says what is wrong. */
    if (st_open_regular(NULL, path, &fd, &sb) != PLINTH_OK)
        return false;
    bool yes = sb.st_size >= 4 && pread(fd, magic, 4, 0) == 4 &&
               memcmp(magic, GGUF_MAGIC, 4) == 0;
    close(fd);
    return yes;
}
