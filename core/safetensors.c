/*
 * safetensors.c — mmapped, bounds-checked safetensors state dicts.
 *
 * Sections: dtypes; the dict and its teardown; JSON number checks; one
 * file (map, header, entries, duplicates, overlaps); sharded indexes;
 * st_open and the accessors.
 *
 * Everything in a header is distrusted. A tensor's data pointer is formed
 * only after its offsets are known to lie inside the mapped data section,
 * and the JSON is parsed from a NUL-terminated private copy, so no input can
 * make us read outside what we own. Each error names the file (and tensor).
 */
#include "safetensors.h"

#include <cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER_BYTES (100u * 1000u * 1000u) /* 100 MB, as upstream */
#define MAX_INDEX_BYTES (100u * 1000u * 1000u)
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

typedef struct st_file {
    char *path;
    uint8_t *map; /* NULL until mapped */
    size_t size;
} st_file;

struct st_dict {
    st_file *files;
    uint32_t n_files, cap_files;
    st_tensor *tensors; /* sorted by name once st_open succeeds */
    uint32_t n_tensors, cap_tensors;
};

void st_close(st_dict *d)
{
    if (!d)
        return;
    for (uint32_t i = 0; i < d->n_tensors; i++)
        free((char *)d->tensors[i].name);
    free(d->tensors);
    for (uint32_t i = 0; i < d->n_files; i++) {
        if (d->files[i].map)
            munmap(d->files[i].map, d->files[i].size);
        free(d->files[i].path);
    }
    free(d->files);
    free(d);
}

static plinth_status no_memory(plinth_context *ctx, const char *path)
{
    return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s: out of memory", path);
}

/* Adds a file record (path copied); the caller maps it. */
static st_file *add_file(st_dict *d, const char *path)
{
    if (d->n_files == d->cap_files) {
        uint32_t cap = d->cap_files ? d->cap_files * 2 : 4;
        st_file *f = realloc(d->files, cap * sizeof *f);
        if (!f)
            return NULL;
        d->files = f;
        d->cap_files = cap;
    }
    char *copy = strdup(path);
    if (!copy)
        return NULL;
    st_file *f = &d->files[d->n_files++];
    *f = (st_file){.path = copy};
    return f;
}

static st_tensor *add_tensor(st_dict *d, const char *name)
{
    if (d->n_tensors == d->cap_tensors) {
        if (d->cap_tensors > UINT32_MAX / 2)
            return NULL;
        uint32_t cap = d->cap_tensors ? d->cap_tensors * 2 : 64;
        st_tensor *t = realloc(d->tensors, (size_t)cap * sizeof *t);
        if (!t)
            return NULL;
        d->tensors = t;
        d->cap_tensors = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    st_tensor *t = &d->tensors[d->n_tensors++];
    *t = (st_tensor){.name = copy};
    return t;
}

/* ------------------------------------------------- JSON number checks --- */

/* A non-negative integer no larger than 2^53, or NULL with the reason. */
static const char *json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return "is not a number";
    double x = v->valuedouble;
    if (x != x)
        return "is not a number";
    if (x < 0)
        return "is negative";
    if (x > MAX_JSON_INT)
        return "is too large (more than 2^53)";
    uint64_t u = (uint64_t)x;
    if ((double)u != x)
        return "is not an integer";
    *out = u;
    return NULL;
}

/* ---------------------------------------------------------- one file --- */

static int cmp_by_data(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    uintptr_t px = (uintptr_t)x->data, py = (uintptr_t)y->data;
    if (px != py)
        return px < py ? -1 : 1;
    return x->bytes < y->bytes ? -1 : x->bytes > y->bytes;
}

static int cmp_by_name(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* Maps `f->path` read-only into f->map/f->size. */
static plinth_status map_file(plinth_context *ctx, st_file *f)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ctx_error(ctx, PLINTH_ERR_IO, "%s: cannot open: %s", f->path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return ctx_error(ctx, PLINTH_ERR_IO, "%s: cannot stat: %s", f->path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ctx_error(ctx, PLINTH_ERR_IO, "%s: not a regular file", f->path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: file is shorter than 8 bytes (size %lld): not a safetensors file",
                         f->path, (long long)sb.st_size);
    }
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED)
        return ctx_error(ctx, PLINTH_ERR_IO, "%s: cannot mmap: %s", f->path, strerror(e));
    f->map = m;
    f->size = (size_t)sb.st_size;
    return PLINTH_OK;
}

/* Parses one header entry into a new tensor of `d`. */
static plinth_status parse_entry(plinth_context *ctx, st_dict *d, const st_file *f,
                                 const cJSON *e, const uint8_t *data, uint64_t data_size)
{
    const char *path = f->path, *name = e->string;
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
    if (ndim > ST_MAX_DIMS)
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: tensor '%s': shape has %d dims (at most %d)", path, name, ndim,
                         ST_MAX_DIMS);
    int64_t shape[ST_MAX_DIMS] = {0};
    uint64_t elems = 1;
    bool overflow = false;
    int i = 0;
    for (const cJSON *v = js->child; v; v = v->next, i++) {
        uint64_t dim;
        const char *why = json_uint(v, &dim);
        if (why)
            return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: tensor '%s': shape[%d] %s", path,
                             name, i, why);
        shape[i] = (int64_t)dim;
        if (__builtin_mul_overflow(elems, dim, &elems))
            overflow = true;
    }
    uint64_t bytes = 0;
    /* A zero dim makes the count 0 whatever overflowed before it. */
    bool has_zero = false;
    for (int k = 0; k < ndim; k++)
        has_zero |= shape[k] == 0;
    if (has_zero)
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
                         "%s: tensor '%s': data_offsets [%llu, %llu]: begin after end", path,
                         name, (unsigned long long)begin, (unsigned long long)end);
    if (end > data_size)
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets end %llu runs past the data section "
                         "(size %llu)",
                         path, name, (unsigned long long)end, (unsigned long long)data_size);
    if (bytes != end - begin)
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: tensor '%s': byte count mismatch: %s shape needs %llu bytes, "
                         "data_offsets span %llu",
                         path, name, dt->name, (unsigned long long)bytes,
                         (unsigned long long)(end - begin));

    st_tensor *t = add_tensor(d, name);
    if (!t)
        return no_memory(ctx, path);
    t->file = path;
    t->dtype_name = dt->name;
    t->dtype = dt->plinth;
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof shape);
    t->data = data + begin;
    t->bytes = bytes;
    return PLINTH_OK;
}

/* Duplicate names and overlapping data among tensors[first..] (one file). */
static plinth_status check_file_tensors(plinth_context *ctx, st_dict *d, uint32_t first,
                                        const char *path)
{
    st_tensor *ts = d->tensors + first;
    size_t n = d->n_tensors - first;
    if (n < 2)
        return PLINTH_OK;
    qsort(ts, n, sizeof *ts, cmp_by_name);
    for (size_t i = 1; i < n; i++)
        if (strcmp(ts[i - 1].name, ts[i].name) == 0)
            return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: duplicate tensor name '%s'", path,
                             ts[i].name);
    /* Sorted by begin, a non-empty tensor overlaps an earlier one iff it
     * starts before the furthest end seen so far. Empty tensors own no
     * bytes and overlap nothing. */
    qsort(ts, n, sizeof *ts, cmp_by_data);
    const st_tensor *far = NULL;
    for (size_t i = 0; i < n; i++) {
        if (ts[i].bytes == 0)
            continue;
        if (far && ts[i].data < far->data + far->bytes)
            return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", path,
                             far->name, ts[i].name);
        if (!far || ts[i].data + ts[i].bytes > far->data + far->bytes)
            far = &ts[i];
    }
    return PLINTH_OK;
}

/* Maps `path`, validates its header and appends its tensors to `d`. */
static plinth_status open_file(plinth_context *ctx, st_dict *d, const char *path)
{
    st_file *f = add_file(d, path);
    if (!f)
        return no_memory(ctx, path);
    plinth_status s = map_file(ctx, f);
    if (s != PLINTH_OK)
        return s;
    path = f->path;

    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | f->map[i];
    uint64_t rest = (uint64_t)f->size - 8;
    if (n == 0)
        return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: header length is 0 (empty header)", path);
    if (n > MAX_HEADER_BYTES)
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: absurd header length %llu (more than %u bytes)", path,
                         (unsigned long long)n, MAX_HEADER_BYTES);
    if (n > rest)
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: header length %llu runs past the end of the file (size %llu)",
                         path, (unsigned long long)n, (unsigned long long)f->size);
    if (memchr(f->map + 8, '\0', n))
        return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: header is not valid JSON (NUL byte)",
                         path);

    /* cJSON gets a private NUL-terminated copy: it never sees the map. */
    char *text = malloc(n + 1);
    if (!text)
        return no_memory(ctx, path);
    memcpy(text, f->map + 8, n);
    text[n] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n + 1, &end, 1);
    if (!root) {
        size_t at = end && end >= text && end <= text + n ? (size_t)(end - text) : 0;
        free(text);
        return ctx_error(ctx, PLINTH_ERR_FORMAT,
                         "%s: header is not valid JSON (near byte %zu of %llu)", path, at,
                         (unsigned long long)n);
    }
    free(text);

    s = PLINTH_OK;
    uint32_t first = d->n_tensors;
    const uint8_t *data = f->map + 8 + n;
    uint64_t data_size = rest - n;
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
            continue;
        }
        s = parse_entry(ctx, d, f, e, data, data_size);
        if (s != PLINTH_OK)
            goto done;
    }
    s = check_file_tensors(ctx, d, first, path);
done:
    cJSON_Delete(root);
    return s;
}

/* ---------------------------------------------------- sharded indexes --- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* "dir" + "/" + "name", malloc'd. */
static char *join(const char *dir, size_t dir_len, const char *name)
{
    size_t n = strlen(name);
    char *p = malloc(dir_len + 1 + n + 1);
    if (!p)
        return NULL;
    memcpy(p, dir, dir_len);
    p[dir_len] = '/';
    memcpy(p + dir_len + 1, name, n + 1);
    return p;
}

/* Reads a whole (small) file into a NUL-terminated buffer. */
static plinth_status read_text(plinth_context *ctx, const char *path, char **out, size_t *len)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ctx_error(ctx, PLINTH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ctx_error(ctx, PLINTH_ERR_IO, "%s: cannot stat or not a regular file", path);
    }
    if ((uint64_t)sb.st_size > MAX_INDEX_BYTES) {
        close(fd);
        return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: absurd index size %lld", path,
                         (long long)sb.st_size);
    }
    size_t size = (size_t)sb.st_size, got = 0;
    char *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return no_memory(ctx, path);
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            close(fd);
            free(buf);
            return ctx_error(ctx, PLINTH_ERR_IO, "%s: cannot read: %s", path, strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    buf[size] = '\0';
    *out = buf;
    *len = size;
    return PLINTH_OK;
}

static bool shard_name_ok(const char *s)
{
    return s[0] && !strchr(s, '/') && !strstr(s, "..");
}

static plinth_status open_index(plinth_context *ctx, st_dict *d, const char *path)
{
    char *text;
    size_t len = 0;
    plinth_status s = read_text(ctx, path, &text, &len);
    if (s != PLINTH_OK)
        return s;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len + 1, NULL, 1);
    free(text);
    if (!root)
        return ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: index is not valid JSON", path);

    const char *slash = strrchr(path, '/');
    const char *dir = slash ? path : ".";
    size_t dir_len = slash ? (size_t)(slash - path) : 1;
    if (slash == path)
        dir_len = 0; /* "/x.json": the root directory, joined as "/name" */

    const char **shards = NULL; /* distinct shard names, into `root` */
    size_t n_shards = 0;
    const cJSON *map = cJSON_IsObject(root)
                           ? cJSON_GetObjectItemCaseSensitive(root, "weight_map")
                           : NULL;
    if (!map || !cJSON_IsObject(map)) {
        s = ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: index has no \"weight_map\" object", path);
        goto done;
    }
    shards = malloc(((size_t)cJSON_GetArraySize(map) + 1) * sizeof *shards);
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
                          "%s: tensor '%s': shard name \"%s\" is not a plain file name "
                          "(no '/' or '..')",
                          path, e->string, e->valuestring);
            goto done;
        }
        size_t k = 0;
        while (k < n_shards && strcmp(shards[k], e->valuestring) != 0)
            k++;
        if (k == n_shards)
            shards[n_shards++] = e->valuestring;
    }
    if (n_shards == 0) {
        s = ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: weight_map is empty", path);
        goto done;
    }

    uint32_t first_file = d->n_files;
    for (size_t k = 0; k < n_shards; k++) {
        char *shard = join(dir, dir_len, shards[k]);
        if (!shard) {
            s = no_memory(ctx, path);
            goto done;
        }
        s = open_file(ctx, d, shard);
        free(shard);
        if (s != PLINTH_OK) {
            if (ctx) { /* the shard's message, then which index named it */
                char why[sizeof ctx->error];
                memcpy(why, ctx->error, sizeof why);
                ctx_error(ctx, s, "%s (a shard named by %s)", why, path);
            }
            goto done;
        }
    }

    /* Across shards: every name once. */
    if (d->n_tensors > 0) /* qsort(NULL, 0) is undefined behaviour */
        qsort(d->tensors, d->n_tensors, sizeof *d->tensors, cmp_by_name);
    for (uint32_t i = 1; i < d->n_tensors; i++)
        if (strcmp(d->tensors[i - 1].name, d->tensors[i].name) == 0) {
            s = ctx_error(ctx, PLINTH_ERR_FORMAT, "%s: tensor '%s' is in both %s and %s", path,
                          d->tensors[i].name, d->tensors[i - 1].file, d->tensors[i].file);
            goto done;
        }

    /* Every weight_map entry lives in the shard it names. Shard k is file
     * first_file + k, in the order opened above. */
    for (const cJSON *e = map->child; e; e = e->next) {
        size_t k = 0;
        while (strcmp(shards[k], e->valuestring) != 0)
            k++;
        const char *shard_path = d->files[first_file + k].path;
        st_tensor *t = st_find(d, e->string);
        if (!t) {
            s = ctx_error(ctx, PLINTH_ERR_FORMAT,
                          "%s: tensor '%s' is mapped to shard %s, which has no such tensor",
                          path, e->string, shard_path);
            goto done;
        }
        if (t->file != shard_path) {
            s = ctx_error(ctx, PLINTH_ERR_FORMAT,
                          "%s: tensor '%s' is mapped to shard %s, which has no such tensor "
                          "(it is in %s)",
                          path, e->string, shard_path, t->file);
            goto done;
        }
    }
done:
    free(shards);
    cJSON_Delete(root);
    return s;
}

/* --------------------------------------------------- open, accessors --- */

plinth_status st_open(plinth_context *ctx, const char *path, st_dict **out)
{
    if (!out)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "st_open: out is NULL");
    *out = NULL;
    if (!path)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "st_open: path is NULL");

    struct stat sb;
    if (stat(path, &sb) != 0)
        return ctx_error(ctx, PLINTH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));

    st_dict *d = calloc(1, sizeof *d);
    if (!d)
        return no_memory(ctx, path);
    plinth_status s;
    if (S_ISDIR(sb.st_mode)) {
        size_t len = strlen(path);
        while (len > 1 && path[len - 1] == '/')
            len--;
        char *file = join(path, len, "model.safetensors");
        char *index = join(path, len, "model.safetensors.index.json");
        if (!file || !index)
            s = no_memory(ctx, path);
        else if (stat(file, &sb) == 0 && !S_ISDIR(sb.st_mode))
            s = open_file(ctx, d, file);
        else if (stat(index, &sb) == 0 && !S_ISDIR(sb.st_mode))
            s = open_index(ctx, d, index);
        else
            s = ctx_error(ctx, PLINTH_ERR_IO,
                          "no model.safetensors or model.safetensors.index.json in %s", path);
        free(file);
        free(index);
    } else if (ends_with(path, ".json")) {
        s = open_index(ctx, d, path);
    } else {
        s = open_file(ctx, d, path);
    }
    if (s != PLINTH_OK) {
        st_close(d);
        return s;
    }
    /* A single file was sorted by data offset last; st_find needs names. */
    if (d->n_tensors > 0) /* qsort(NULL, 0) is undefined behaviour */
        qsort(d->tensors, d->n_tensors, sizeof *d->tensors, cmp_by_name);
    *out = d;
    return PLINTH_OK;
}

uint32_t st_count(const st_dict *d)
{
    return d ? d->n_tensors : 0;
}

st_tensor *st_at(st_dict *d, uint32_t index)
{
    return d && index < d->n_tensors ? &d->tensors[index] : NULL;
}

st_tensor *st_find(st_dict *d, const char *name)
{
    if (!d || !name || d->n_tensors == 0)
        return NULL;
    st_tensor key = {.name = name};
    return bsearch(&key, d->tensors, d->n_tensors, sizeof *d->tensors, cmp_by_name);
}
