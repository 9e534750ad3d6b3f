/*
 * safetensors.c — state dicts from safetensors: one file, or the shards a
 * model.safetensors.index.json names. The one parser of the format in the
 * tree (the model builders and tools read checkpoints through
 * plinth_state_dict_*).
 *
 * Sections: dtypes; the dict and its teardown; reading files (no FIFO, no
 * mmap); JSON number checks; one file (header, entries, duplicates,
 * overlaps); sharded indexes; open and the accessors; reading tensors.
 *
 * The dict is the front for GGUF files too: open() hands a file that
 * starts with GGUF's magic to gguf_read.c, which fills the same records
 * (safetensors.h); the accessors and plinth_state_dict_read serve both.
 *
 * Everything in a header is distrusted: offsets and dims are integers no
 * larger than 2^53 (no file is that large; larger values are refused before
 * any arithmetic), every range is checked against the file's data section
 * without overflow, and the JSON is parsed from a private NUL-terminated
 * copy. Tensor bytes are read with pread when asked for, after checking that
 * the file still has the size it had when opened: a file truncated or
 * replaced meanwhile is an error (a mapping would take a SIGBUS instead),
 * and nothing of a checkpoint stays mapped or in the RSS twice. Each error
 * names the file (and tensor).
 *
 * Byte order: safetensors stores every number little-endian, and tensor
 * bytes are handed to the backends as they are in the file. The header
 * length is assembled byte by byte, but nothing swaps the tensors, so a
 * big-endian host refuses to open any checkpoint (host_little_endian)
 * rather than compute with swapped weights.
 *
 * Metadata: the first file's "__metadata__" strings become the dict's
 * metadata (gguf_meta.h), a repeated key given once.
 */
#include "safetensors.h"

#include <cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_JSON_INT 9007199254740992.0 /* 2^53: exact in a double */

/* ------------------------------------------------------------ dtypes --- */

typedef struct dtype_info {
    const char *name;
    uint32_t size;
    int32_t plinth; /* plinth_dtype or -1 */
} dtype_info;

static const dtype_info dtypes[] = {
    {"F64", 8, -1},     {"F32", 4, PLINTH_F32},  {"F16", 2, PLINTH_F16},
    {"BF16", 2, PLINTH_BF16}, {"I64", 8, -1},    {"I32", 4, PLINTH_I32},
    {"I16", 2, -1},     {"I8", 1, -1},           {"U8", 1, -1},
    {"U16", 2, -1},     {"U32", 4, -1},          {"U64", 8, -1},
    {"BOOL", 1, -1},    {"F8_E4M3", 1, -1},      {"F8_E5M2", 1, -1},
};

static const dtype_info *dtype_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return &dtypes[i];
    return NULL;
}

/* ------------------------------------------------- the dict, teardown --- */

void plinth_state_dict_close(plinth_state_dict *d)
{
    if (!d)
        return;
    plinth_context *ctx = d->ctx;
    for (uint32_t i = 0; i < d->n_tensors; i++)
        ctx_free(ctx, (char *)d->tensors[i].name);
    ctx_free(ctx, d->tensors);
    for (uint32_t i = 0; i < d->n_files; i++)
        ctx_free(ctx, d->files[i].path);
    ctx_free(ctx, d->files);
    meta_free(ctx, &d->meta);
    ctx_free(ctx, d->path);
    ctx_free(ctx, d);
    ctx_release(ctx);
}

static plinth_status no_memory(plinth_context *ctx, const char *path)
{
    return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s: out of memory", path);
}

/* Adds a file record (path copied). */
st_file *st_add_file(plinth_state_dict *d, const char *path)
{
    if (!ctx_grow(d->ctx, (void **)&d->files, &d->cap_files, d->n_files + 1, sizeof *d->files))
        return NULL;
    char *copy = ctx_strdup(d->ctx, path);
    if (!copy)
        return NULL;
    st_file *f = &d->files[d->n_files++];
    *f = (st_file){.path = copy};
    return f;
}

st_tensor *st_add_tensor(plinth_state_dict *d, const char *name)
{
    if (d->n_tensors >= ST_MAX_TENSORS ||
        !ctx_grow(d->ctx, (void **)&d->tensors, &d->cap_tensors, d->n_tensors + 1,
                  sizeof *d->tensors))
        return NULL;
    char *copy = ctx_strdup(d->ctx, name);
    if (!copy)
        return NULL;
    st_tensor *t = &d->tensors[d->n_tensors++];
    *t = (st_tensor){.name = copy};
    return t;
}

/* ---------------------------------------------------- reading files --- */

/* Opens a regular file for reading without ever blocking: a FIFO or a
 * device named like a checkpoint would otherwise hang open() or read(). */
plinth_status st_open_regular(plinth_context *ctx, const char *path, int *out_fd,
                                  struct stat *sb)
{
    *out_fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return ctx_error(ctx, PLINTH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, sb) != 0) {
        int e = errno;
        close(fd);
        return ctx_error(ctx, PLINTH_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb->st_mode)) {
        close(fd);
        return ctx_error(ctx, PLINTH_ERR_IO, "%s: not a regular file (%s)", path,
                         S_ISDIR(sb->st_mode) ? "a directory" : "a pipe, socket or device");
    }
    *out_fd = fd;
    return PLINTH_OK;
}

/* Reads exactly n bytes at `offset`; a short read is the file shrinking. */
plinth_status st_read_at(plinth_context *ctx, int fd, const char *path, uint64_t offset,
                             void *dst, uint64_t n)
{
    uint8_t *p = dst;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : (size_t)n;
        ssize_t r = pread(fd, p, chunk, (off_t)offset);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return ctx_error(ctx, PLINTH_ERR_IO, "%s: read error at byte %" PRIu64 ": %s",
                             path, offset, strerror(errno));
        if (r == 0)
            return ctx_error(ctx, PLINTH_ERR_IO,
                             "%s: ends before byte %" PRIu64 " (the file was truncated after "
                             "it was opened?)",
                             path, offset);
        p += r;
        offset += (uint64_t)r;
        n -= (uint64_t)r;
    }
    return PLINTH_OK;
}

/* A whole small file (an index) into a NUL-terminated buffer. */
static plinth_status read_text(plinth_context *ctx, const char *path, char **out, size_t *len)
{
    *out = NULL;
    int fd;
    struct stat sb;
    plinth_status s = st_open_regular(ctx, path, &fd, &sb);
    if (s != PLINTH_OK)
        return s;
    if ((uint64_t)sb.st_size > ST_MAX_INDEX_BYTES) {
        close(fd);
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: index of %lld bytes (at most %u: a checkpoint index is small)",
                         path, (long long)sb.st_size, ST_MAX_INDEX_BYTES);
    }
    size_t size = (size_t)sb.st_size;
    char *buf = ctx_malloc(ctx, size + 1);
    if (!buf) {
        close(fd);
        return no_memory(ctx, path);
    }
    s = st_read_at(ctx, fd, path, 0, buf, size);
    close(fd);
    if (s != PLINTH_OK) {
        ctx_free(ctx, buf);
        return s;
    }
    buf[size] = '\0';
    *out = buf;
    *len = size;
    return PLINTH_OK;
}

/* cJSON on a NUL-terminated text, allocating from ctx; NULL with `why`
 * telling a parse error from running out of memory. */
static cJSON *parse_json(plinth_context *ctx, const char *text, size_t len, size_t *err_at,
                         bool *oom)
{
    plinth_context *prev = json_enter(ctx);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
    json_leave(prev);
    *oom = false;
    if (!root) {
        *err_at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        /* cJSON reports where it stopped; it stops at the end of what it
         * could allocate too, so re-parse without ctx to tell them apart. */
        cJSON *again = cJSON_ParseWithLengthOpts(text, len + 1, NULL, 1);
        *oom = again != NULL;
        cJSON_Delete(again);
    }
    return root;
}

/* Why a JSON text cannot name tensors and keys faithfully, or NULL: a NUL
 * byte, or a \u0000 escape in a string, which cJSON's NUL-terminated
 * strings would cut short ("a\u0000b" would open as "a"). */
static const char *json_nul(const char *text, size_t len)
{
    if (memchr(text, '\0', len))
        return "NUL byte";
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '\\')
            continue;
        size_t j = i;
        while (j < len && text[j] == '\\')
            j++;
        /* an odd run of backslashes escapes what follows */
        if ((j - i) % 2 == 1 && len - j >= 5 && memcmp(text + j, "u0000", 5) == 0)
            return "an escaped NUL, \\u0000, which no name or value may hold";
        i = j - 1;
    }
    return NULL;
}

static void json_free(plinth_context *ctx, cJSON *root)
{
    plinth_context *prev = json_enter(ctx);
    cJSON_Delete(root);
    json_leave(prev);
}

/* ------------------------------------------------- JSON number checks --- */

/* A non-negative integer below 2^53, or NULL with the reason. Offsets and
 * dims are integers, but cJSON keeps doubles: every integer below 2^53
 * parses exactly, while 2^53 itself may be a larger number rounded down, so
 * it is refused with everything above before any arithmetic. */
static const char *json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return "is not a number";
    double x = v->valuedouble;
    if (x != x)
        return "is not a number";
    if (x < 0)
        return "is negative";
    if (x >= MAX_JSON_INT)
        return "is too large (2^53 or more)";
    uint64_t u = (uint64_t)x;
    if ((double)u != x)
        return "is not an integer";
    *out = u;
    return NULL;
}

/* ---------------------------------------------------------- one file --- */

static int cmp_by_begin(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->bytes < y->bytes ? -1 : x->bytes > y->bytes;
}

static int cmp_by_name(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* Parses one header entry into a new tensor of `d`. */
static plinth_status parse_entry(plinth_state_dict *d, uint32_t file, const cJSON *e,
                                 uint64_t data_size)
{
    plinth_context *ctx = d->ctx;
    const char *path = d->files[file].path, *name = e->string;
    if (!cJSON_IsObject(e))
        return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object",
                         path, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!jd || !js || !jo)
        return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: tensor '%s': missing \"%s\"", path, name,
                         !jd ? "dtype" : !js ? "shape" : "data_offsets");
    if (!cJSON_IsString(jd))
        return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is not a string",
                         path, name);
    const dtype_info *dt = dtype_lookup(jd->valuestring);
    if (!dt)
        return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%.64s\"",
                         path, name, jd->valuestring);

    if (!cJSON_IsArray(js))
        return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: tensor '%s': \"shape\" is not an array",
                         path, name);
    int ndim = cJSON_GetArraySize(js);
    if (ndim > PLINTH_STATE_DICT_MAX_DIMS)
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: tensor '%s': shape has %d dims (at most %d)", path, name, ndim,
                         PLINTH_STATE_DICT_MAX_DIMS);
    int64_t shape[PLINTH_STATE_DICT_MAX_DIMS] = {0};
    uint64_t elems = 1;
    bool overflow = false, has_zero = false;
    int i = 0;
    for (const cJSON *v = js->child; v; v = v->next, i++) {
        uint64_t dim;
        const char *why = json_uint(v, &dim);
        if (why)
            return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: tensor '%s': shape[%d] %s", path,
                             name, i, why);
        shape[i] = (int64_t)dim;
        has_zero |= dim == 0;
        overflow |= __builtin_mul_overflow(elems, dim, &elems);
    }
    uint64_t bytes = 0;
    if (has_zero) /* a zero dim makes the count 0 whatever overflowed before it */
        elems = 0, overflow = false;
    if (overflow || __builtin_mul_overflow(elems, (uint64_t)dt->size, &bytes))
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: tensor '%s': element count overflows 64 bits", path, name);

    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2)
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: tensor '%s': \"data_offsets\" is not an array of 2 numbers",
                         path, name);
    uint64_t begin, end;
    const char *why = json_uint(jo->child, &begin);
    if (why)
        return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: tensor '%s': data_offsets begin %s",
                         path, name, why);
    why = json_uint(jo->child->next, &end);
    if (why)
        return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: tensor '%s': data_offsets end %s", path,
                         name, why);
    if (begin > end)
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "]: begin "
                         "after end",
                         path, name, begin, end);
    if (end > data_size)
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets end %" PRIu64 " runs past the data "
                         "section (size %" PRIu64 ")",
                         path, name, end, data_size);
    if (bytes != end - begin)
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: tensor '%s': byte count mismatch: %s shape needs %" PRIu64
                         " bytes, data_offsets span %" PRIu64,
                         path, name, dt->name, bytes, end - begin);

    st_tensor *t = st_add_tensor(d, name);
    if (!t)
        return d->n_tensors >= ST_MAX_TENSORS
                   ? ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: more than %u tensors", path,
                               ST_MAX_TENSORS)
                   : no_memory(ctx, path);
    t->file = file;
    t->dtype_name = dt->name;
    t->dtype = dt->plinth;
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof shape);
    t->begin = begin;
    t->bytes = bytes;
    return PLINTH_OK;
}

/* Duplicate names and overlapping data among tensors[first..] (one file). */
plinth_status st_check_file_tensors(plinth_state_dict *d, uint32_t first, const char *path)
{
    size_t n = d->n_tensors - first;
    if (n < 2) /* before any arithmetic on d->tensors, which may be NULL */
        return PLINTH_OK;
    st_tensor *ts = d->tensors + first;
    qsort(ts, n, sizeof *ts, cmp_by_name);
    for (size_t i = 1; i < n; i++)
        if (strcmp(ts[i - 1].name, ts[i].name) == 0)
            return ctx_error(d->ctx, PLINTH_ERR_FORMAT, "%s: duplicate tensor name '%s'", path,
                             ts[i].name);
    /* Sorted by begin, a non-empty tensor overlaps an earlier one iff it
     * starts before the furthest end seen so far. Empty tensors own no
     * bytes and overlap nothing. */
    qsort(ts, n, sizeof *ts, cmp_by_begin);
    const st_tensor *far = NULL;
    for (size_t i = 0; i < n; i++) {
        if (ts[i].bytes == 0)
            continue;
        if (far && ts[i].begin < far->begin + far->bytes)
            return ctx_error(d->ctx, PLINTH_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap",
                             path, far->name, ts[i].name);
        if (!far || ts[i].begin + ts[i].bytes > far->begin + far->bytes)
            far = &ts[i];
    }
    return PLINTH_OK;
}

/* A __metadata__ entry as a string value of the dict's metadata. */
static plinth_status add_meta_string(plinth_state_dict *d, const char *key, const char *value)
{
    meta_kv *kv = meta_append(d->ctx, &d->meta, key);
    if (!kv || !(kv->data = (uint8_t *)ctx_strdup(d->ctx, value)))
        return no_memory(d->ctx, d->path);
    kv->type = kv->elem_type = PLINTH_META_STRING;
    kv->n = strlen(value);
    return PLINTH_OK;
}

/* Reads `path`'s header and appends its tensors to `d`. */
static plinth_status open_file(plinth_state_dict *d, const char *path_in)
{
    plinth_context *ctx = d->ctx;
    st_file *f = st_add_file(d, path_in);
    if (!f)
        return no_memory(ctx, path_in);
    uint32_t file = d->n_files - 1;
    const char *path = f->path;
    int fd;
    struct stat sb;
    plinth_status s = st_open_regular(ctx, path, &fd, &sb);
    if (s != PLINTH_OK)
        return s;
    f->size = (uint64_t)sb.st_size;
    f->dev = sb.st_dev;
    f->ino = sb.st_ino;
    uint8_t len8[8];
    if (f->size < 8) {
        close(fd);
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: file is shorter than 8 bytes (size %" PRIu64 "): not a "
                         "safetensors file",
                         path, f->size);
    }
    s = st_read_at(ctx, fd, path, 0, len8, 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | len8[i];
    uint64_t rest = f->size - 8;
    if (s == PLINTH_OK && n == 0)
        s = ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: header length is 0 (empty header)", path);
    else if (s == PLINTH_OK && n > ST_MAX_HEADER_BYTES)
        s = ctx_error(ctx, PLINTH_ERR_FORMAT,
                      "%s: absurd header length %" PRIu64 " (more than %u bytes)", path, n,
                      ST_MAX_HEADER_BYTES);
    else if (s == PLINTH_OK && n > rest)
        s = ctx_error(ctx, PLINTH_ERR_FORMAT,
                      "%s: header length %" PRIu64 " runs past the end of the file (size %"
                      PRIu64 ")",
                      path, n, f->size);
    char *text = s == PLINTH_OK ? ctx_malloc(ctx, n + 1) : NULL;
    if (s == PLINTH_OK && !text)
        s = no_memory(ctx, path);
    if (s == PLINTH_OK)
        s = st_read_at(ctx, fd, path, 8, text, n);
    close(fd);
    if (s != PLINTH_OK) {
        ctx_free(ctx, text);
        return s;
    }
    text[n] = '\0';
    f->data_start = 8 + n;
    const char *nul = json_nul(text, n);
    if (nul) {
        ctx_free(ctx, text);
        return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: header is not valid JSON (%s)", path,
                         nul);
    }
    size_t at = 0;
    bool oom = false;
    cJSON *root = parse_json(ctx, text, n, &at, &oom);
    ctx_free(ctx, text);
    if (!root) {
        if (oom)
            return ctx_error(ctx, PLINTH_ERR_NO_MEMORY,
                             "%s: out of memory parsing the %" PRIu64 "-byte header", path, n);
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: header is not valid JSON (near byte %zu of %" PRIu64 ")", path,
                         at, n);
    }

    uint32_t first = d->n_tensors;
    const uint64_t data_size = rest - n;
    if (!cJSON_IsObject(root)) {
        s = ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: header is not a JSON object", path);
        goto done;
    }
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(e)) {
                s = ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: __metadata__ is not an object",
                              path);
                goto done;
            }
            for (const cJSON *m = e->child; m; m = m->next)
                if (!cJSON_IsString(m)) {
                    s = ctx_error(ctx, PLINTH_ERR_FORMAT,
                                  "%s: __metadata__ value '%s' is not a string", path,
                                  m->string);
                    goto done;
                }
            /* The dict's metadata: the first file's (a sharded checkpoint
             * repeats the same few strings in every shard). */
            for (const cJSON *m = e->child; m && file == 0; m = m->next) {
                s = add_meta_string(d, m->string, m->valuestring);
                if (s != PLINTH_OK)
                    goto done;
            }
            continue;
        }
        s = parse_entry(d, file, e, data_size);
        if (s != PLINTH_OK)
            goto done;
    }
    s = st_check_file_tensors(d, first, path);
done:
    json_free(ctx, root);
    return s;
}

/* ---------------------------------------------------- sharded indexes --- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* "dir" + "/" + "name" from ctx. */
static char *join(plinth_context *ctx, const char *dir, size_t dir_len, const char *name)
{
    size_t n = strlen(name);
    char *p = ctx_malloc(ctx, dir_len + 1 + n + 1);
    if (!p)
        return NULL;
    memcpy(p, dir, dir_len);
    p[dir_len] = '/';
    memcpy(p + dir_len + 1, name, n + 1);
    return p;
}

static bool shard_name_ok(const char *s)
{
    return s[0] && !strchr(s, '/') && !strstr(s, "..");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static plinth_status open_index(plinth_state_dict *d, const char *path)
{
    plinth_context *ctx = d->ctx;
    char *text;
    size_t len = 0;
    plinth_status s = read_text(ctx, path, &text, &len);
    if (s != PLINTH_OK)
        return s;
    const char *nul = json_nul(text, len);
    if (nul) {
        ctx_free(ctx, text);
        return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: index is not valid JSON (%s)", path, nul);
    }
    size_t at = 0;
    bool oom = false;
    cJSON *root = parse_json(ctx, text, len, &at, &oom);
    ctx_free(ctx, text);
    if (!root)
        return oom ? no_memory(ctx, path)
                   : ctx_error(ctx, PLINTH_ERR_FORMAT,
                               "%s: index is not valid JSON (near byte %zu)", path, at);

    const char *slash = strrchr(path, '/');
    const char *dir = slash ? path : ".";
    size_t dir_len = slash ? (size_t)(slash - path) : 1;
    if (slash == path)
        dir_len = 0; /* "/x.json": the root directory, joined as "/name" */

    const char **shards = NULL; /* distinct shard names, sorted, into `root` */
    size_t n_shards = 0;
    const cJSON *map = cJSON_IsObject(root)
                           ? cJSON_GetObjectItemCaseSensitive(root, "weight_map")
                           : NULL;
    if (!map || !cJSON_IsObject(map)) {
        s = ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: index has no \"weight_map\" object", path);
        goto done;
    }
    size_t n_entries = (size_t)cJSON_GetArraySize(map);
    shards = ctx_calloc(ctx, n_entries + 1, sizeof *shards);
    if (!shards) {
        s = no_memory(ctx, path);
        goto done;
    }
    for (const cJSON *e = map->child; e; e = e->next) {
        if (!cJSON_IsString(e)) {
            s = ctx_error(ctx, PLINTH_ERR_FORMAT,
                          "%s: weight_map entry '%s' is not a string", path, e->string);
            goto done;
        }
        if (!shard_name_ok(e->valuestring)) {
            s = ctx_error(ctx, PLINTH_ERR_FORMAT,
                          "%s: tensor '%s': shard name \"%.200s\" is not a plain file name "
                          "(no '/' or '..')",
                          path, e->string, e->valuestring);
            goto done;
        }
        shards[n_shards++] = e->valuestring;
    }
    /* Distinct names, sorted: n log n however many entries name a shard. */
    qsort(shards, n_shards, sizeof *shards, cmp_str);
    size_t distinct = 0;
    for (size_t k = 0; k < n_shards; k++)
        if (distinct == 0 || strcmp(shards[distinct - 1], shards[k]) != 0)
            shards[distinct++] = shards[k];
    n_shards = distinct;
    if (n_shards == 0) {
        s = ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: weight_map is empty", path);
        goto done;
    }
    if (n_shards > ST_MAX_SHARDS) {
        s = ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: names %zu shards (at most %u)", path,
                      n_shards, ST_MAX_SHARDS);
        goto done;
    }

    uint32_t first_file = d->n_files;
    for (size_t k = 0; k < n_shards; k++) {
        char *shard = join(ctx, dir, dir_len, shards[k]);
        if (!shard) {
            s = no_memory(ctx, path);
            goto done;
        }
        s = open_file(d, shard);
        ctx_free(ctx, shard);
        if (s != PLINTH_OK) {
            ctx_error_wrap(ctx, s, "a shard named by %s", path);
            goto done;
        }
    }

    /* Across shards: every name once. */
    if (d->n_tensors > 0) /* qsort(NULL, 0) is undefined behaviour */
        qsort(d->tensors, d->n_tensors, sizeof *d->tensors, cmp_by_name);
    for (uint32_t i = 1; i < d->n_tensors; i++)
        if (strcmp(d->tensors[i - 1].name, d->tensors[i].name) == 0) {
            s = ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: tensor '%s' is in both %s and %s", path,
                          d->tensors[i].name, d->files[d->tensors[i - 1].file].path,
                          d->files[d->tensors[i].file].path);
            goto done;
        }

    /* Every weight_map entry lives in the shard it names. Shard k of the
     * sorted list is file first_file + k. */
    for (const cJSON *e = map->child; e; e = e->next) {
        const char *key = e->valuestring;
        const char **hit = bsearch(&key, shards, n_shards, sizeof *shards, cmp_str);
        uint32_t file = first_file + (uint32_t)(hit - shards);
        int32_t t = plinth_state_dict_find(d, e->string);
        if (t < 0 || d->tensors[t].file != file) {
            s = ctx_error(ctx, PLINTH_ERR_FORMAT,
                          "%s: tensor '%s' is mapped to shard %s, which has no such tensor%s%s%s",
                          path, e->string, d->files[file].path, t < 0 ? "" : " (it is in ",
                          t < 0 ? "" : d->files[d->tensors[t].file].path, t < 0 ? "" : ")");
            goto done;
        }
    }
done:
    ctx_free(ctx, shards);
    json_free(ctx, root);
    return s;
}

/* --------------------------------------------------- open, accessors --- */

static bool is_file(const char *path, struct stat *sb)
{
    return stat(path, sb) == 0;
}

/* A run-time test, not a preprocessor one: it needs no compiler's macros
 * and folds to a constant. */
static bool host_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 1;
}

plinth_status plinth_state_dict_open(plinth_context *ctx, const char *path,
                                     plinth_state_dict **out)
{
    if (out)
        *out = NULL;
    if (!ctx || !out || !path)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "plinth_state_dict_open: NULL argument");
    if (!host_little_endian())
        return ctx_error(ctx, PLINTH_ERR_UNSUPPORTED,
                         "%s: safetensors and GGUF files are little-endian and this host "
                         "is big-endian; plinth does not byte-swap tensors, so it does not "
                         "load checkpoints here",
                         path);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ctx_error(ctx, PLINTH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    plinth_state_dict *d = ctx_calloc(ctx, 1, sizeof *d);
    if (!d)
        return no_memory(ctx, path);
    d->ctx = ctx;
    ctx_retain(ctx);
    plinth_status s = PLINTH_OK;
    if (S_ISDIR(sb.st_mode)) {
        size_t len = strlen(path);
        while (len > 1 && path[len - 1] == '/')
            len--;
        char *file = join(ctx, path, len, "model.safetensors");
        char *index = join(ctx, path, len, "model.safetensors.index.json");
        struct stat fs;
        if (!file || !index)
            s = no_memory(ctx, path);
        else if (is_file(file, &fs))
            d->path = file, file = NULL; /* open_file says what is wrong with it */
        else if (is_file(index, &fs))
            d->path = index, index = NULL;
        else
            s = ctx_error(ctx, PLINTH_ERR_IO,
                          "no model.safetensors or model.safetensors.index.json in %s", path);
        ctx_free(ctx, file);
        ctx_free(ctx, index);
    } else {
        d->path = ctx_strdup(ctx, path);
        if (!d->path)
            s = no_memory(ctx, path);
    }
    /* GGUF by its magic, whatever the file is called; then safetensors. */
    if (s == PLINTH_OK && gguf_has_magic(d->path))
        s = gguf_open_file(d, d->path);
    else if (s == PLINTH_OK) {
        s = ends_with(d->path, ".json") ? open_index(d, d->path) : open_file(d, d->path);
        if (s == PLINTH_OK)
            s = meta_index(ctx, &d->meta, d->path, true);
    }
    if (s != PLINTH_OK) {
        plinth_state_dict_close(d);
        return s;
    }
    /* A single file was sorted by offset last; lookups need names. */
    if (d->n_tensors > 0) /* qsort(NULL, 0) is undefined behaviour */
        qsort(d->tensors, d->n_tensors, sizeof *d->tensors, cmp_by_name);
    *out = d;
    return PLINTH_OK;
}

const char *plinth_state_dict_path(const plinth_state_dict *d)
{
    return d ? d->path : "";
}

uint32_t plinth_state_dict_count(const plinth_state_dict *d)
{
    return d ? d->n_tensors : 0;
}

plinth_status plinth_state_dict_tensor(const plinth_state_dict *d, uint32_t index,
                                       plinth_tensor_info *out)
{
    if (!d || !out)
        return PLINTH_ERR_INVALID;
    if (index >= d->n_tensors)
        return ctx_error(d->ctx, PLINTH_ERR_INVALID, "%s: no tensor %u (it has %u)", d->path,
                         index, d->n_tensors);
    const st_tensor *t = &d->tensors[index];
    plinth_tensor_info info = {.struct_size = sizeof info, .name = t->name,
                               .file = d->files[t->file].path, .dtype_name = t->dtype_name,
                               .dtype = t->dtype, .ndim = t->ndim, .bytes = t->bytes};
    memcpy(info.shape, t->shape, sizeof info.shape);
    if (!sized_out(out, &info, sizeof info))
        return ctx_error(d->ctx, PLINTH_ERR_INVALID, "tensor info: out->struct_size is %u",
                         out->struct_size);
    return PLINTH_OK;
}

int32_t plinth_state_dict_find(const plinth_state_dict *d, const char *name)
{
    if (!d || !name || d->n_tensors == 0)
        return -1;
    st_tensor key = {.name = name};
    const st_tensor *t =
        bsearch(&key, d->tensors, d->n_tensors, sizeof *d->tensors, cmp_by_name);
    return t ? (int32_t)(t - d->tensors) : -1;
}

/* ---------------------------------------------------- reading tensors --- */

st_tensor *st_at(plinth_state_dict *d, uint32_t index)
{
    return d && index < d->n_tensors ? &d->tensors[index] : NULL;
}

const char *st_file_path(const plinth_state_dict *d, const st_tensor *t)
{
    return d->files[t->file].path;
}

plinth_status plinth_state_dict_read(plinth_state_dict *d, uint32_t index, uint64_t offset,
                                     void *dst, uint64_t size)
{
    if (!d)
        return PLINTH_ERR_INVALID;
    if (index >= d->n_tensors)
        return ctx_error(d->ctx, PLINTH_ERR_INVALID, "%s: no tensor %u (it has %u)", d->path,
                         index, d->n_tensors);
    const st_tensor *t = &d->tensors[index];
    if (offset > t->bytes || size > t->bytes - offset)
        return ctx_error(d->ctx, PLINTH_ERR_INVALID,
                         "tensor '%s': bytes [%" PRIu64 ", +%" PRIu64 ") are outside its %"
                         PRIu64,
                         t->name, offset, size, t->bytes);
    if (size == 0)
        return PLINTH_OK;
    if (!dst)
        return ctx_error(d->ctx, PLINTH_ERR_INVALID, "tensor '%s': dst is NULL", t->name);
    const st_file *f = &d->files[t->file];
    int fd;
    struct stat sb;
    plinth_status s = st_open_regular(d->ctx, f->path, &fd, &sb);
    if (s != PLINTH_OK)
        return s;
    if ((uint64_t)sb.st_size != f->size || sb.st_ino != f->ino || sb.st_dev != f->dev) {
        close(fd);
        return ctx_error(d->ctx, PLINTH_ERR_IO,
                         "%s: changed since it was opened (%" PRIu64 " bytes then, %lld now): "
                         "tensor '%s' not read",
                         f->path, f->size, (long long)sb.st_size, t->name);
    }
    s = st_read_at(d->ctx, fd, f->path, f->data_start + t->begin + offset, dst, size);
    close(fd);
    if (s != PLINTH_OK)
        return ctx_error_wrap(d->ctx, s, "tensor '%s'", t->name);
    return PLINTH_OK;
}
