/*
 * st_io.c — safetensors headers, tensor bytes and a streaming writer for
 * the model code (see st_io.h).
 *
 * Sections: errors and small helpers; dtype conversion; one file's header;
 * the index (file, sharded index, folder); tensor data (mmap); the writer.
 */
#include "st_io.h"
#include "errbuf.h"

#include <cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A header larger than this is not a checkpoint we trust. */
#define MAX_HEADER (100u << 20)

/* ------------------------------------------------------------ helpers --- */

#define fail(err, size, ...) errbuf_fail(err, size, -1, __VA_ARGS__)

static bool is_dir(const char *path)
{
    struct stat s;
    return stat(path, &s) == 0 && S_ISDIR(s.st_mode);
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* The folder part of `path` ("." when none). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 2);
    if (d) {
        memcpy(d, path, n ? n : 1);
        d[n ? n : 1] = '\0';
    }
    return d;
}

static int32_t dtype_from_name(const char *s)
{
    if (strcmp(s, "F32") == 0) return PLINTH_F32;
    if (strcmp(s, "F16") == 0) return PLINTH_F16;
    if (strcmp(s, "BF16") == 0) return PLINTH_BF16;
    if (strcmp(s, "I32") == 0) return PLINTH_I32;
    return -1;
}

static const char *dtype_to_name(int32_t d)
{
    switch (d) {
    case PLINTH_F32: return "F32";
    case PLINTH_F16: return "F16";
    case PLINTH_BF16: return "BF16";
    case PLINTH_I32: return "I32";
    default: return NULL;
    }
}

/* ---------------------------------------------------------- conversion --- */

static float half_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: normalise */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400u));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

void st_to_f32(float *dst, const void *src, int32_t dtype, size_t n)
{
    const uint16_t *s16 = src;
    if (dtype == PLINTH_F32) {
        memcpy(dst, src, n * sizeof *dst);
    } else if (dtype == PLINTH_BF16) {
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)s16[i] << 16;
            memcpy(&dst[i], &bits, sizeof bits);
        }
    } else {
        for (size_t i = 0; i < n; i++)
            dst[i] = half_to_f32(s16[i]);
    }
}

uint16_t st_f32_to_bf16(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    if ((b & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((b >> 16) | 0x40u); /* quiet NaN */
    b += 0x7fffu + ((b >> 16) & 1u);
    return (uint16_t)(b >> 16);
}

/* ------------------------------------------------------- one header --- */

typedef struct st_file {
    char *path;
    uint64_t data_start; /* 8 + header length */
    uint64_t size;       /* file size         */
    void *map;           /* mmapped on demand */
} st_file;

struct st_index {
    char *path;
    st_file *files;
    uint32_t n_files;
    st_entry *entries; /* sorted by name */
    uint32_t n_entries, cap_entries;
};

static int add_entry(st_index *idx, const char *name, const cJSON *e, uint32_t file,
                     char *err, size_t es)
{
    const st_file *f = &idx->files[file];
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo) ||
        cJSON_GetArraySize(jo) != 2 || cJSON_GetArraySize(js) > 8)
        return fail(err, es, "%s: tensor '%s': bad dtype, shape or data_offsets", f->path, name);
    if (idx->n_entries == idx->cap_entries) {
        uint32_t cap = idx->cap_entries ? idx->cap_entries * 2 : 64;
        st_entry *grown = realloc(idx->entries, cap * sizeof *grown);
        if (!grown)
            return fail(err, es, "%s: out of memory", f->path);
        idx->entries = grown;
        idx->cap_entries = cap;
    }
    st_entry *t = &idx->entries[idx->n_entries];
    memset(t, 0, sizeof *t);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", jd->valuestring);
    t->dtype = dtype_from_name(jd->valuestring);
    t->ndim = cJSON_GetArraySize(js);
    uint64_t numel = 1;
    for (int32_t k = 0; k < t->ndim; k++) {
        const cJSON *d = cJSON_GetArrayItem(js, k);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 9e15)
            return fail(err, es, "%s: tensor '%s': bad shape", f->path, name);
        t->shape[k] = (int64_t)d->valuedouble;
        numel *= (uint64_t)t->shape[k];
    }
    const cJSON *b = cJSON_GetArrayItem(jo, 0), *en = cJSON_GetArrayItem(jo, 1);
    if (!cJSON_IsNumber(b) || !cJSON_IsNumber(en) || b->valuedouble < 0 ||
        en->valuedouble < b->valuedouble)
        return fail(err, es, "%s: tensor '%s': bad data_offsets", f->path, name);
    t->begin = (uint64_t)b->valuedouble;
    t->end = (uint64_t)en->valuedouble;
    if (t->end > f->size - f->data_start)
        return fail(err, es, "%s: tensor '%s': data beyond the end of the file", f->path, name);
    if (t->dtype >= 0 && numel * plinth_dtype_size((plinth_dtype)t->dtype) != t->end - t->begin)
        return fail(err, es, "%s: tensor '%s': %llu bytes of data do not fit its shape",
                    f->path, name, (unsigned long long)(t->end - t->begin));
    t->file = file;
    if (!(t->name = strdup(name)))
        return fail(err, es, "%s: out of memory", f->path);
    idx->n_entries++;
    return 0;
}

/* Reads the header of files[file] and adds its tensors. */
static int read_header(st_index *idx, uint32_t file, char *err, size_t es)
{
    st_file *f = &idx->files[file];
    FILE *fp = fopen(f->path, "rb");
    if (!fp)
        return fail(err, es, "%s: %s", f->path, strerror(errno));
    int rc = -1;
    char *json = NULL;
    cJSON *root = NULL;
    uint8_t len8[8];
    struct stat s;
    if (fstat(fileno(fp), &s) != 0 || fread(len8, 1, 8, fp) != 8) {
        fail(err, es, "%s: too short for a safetensors file", f->path);
        goto out;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | len8[i];
    f->size = (uint64_t)s.st_size;
    if (n > MAX_HEADER || n > f->size - 8) {
        fail(err, es, "%s: header length %llu is not plausible", f->path,
             (unsigned long long)n);
        goto out;
    }
    f->data_start = 8 + n;
    if (!(json = malloc(n + 1)) || fread(json, 1, n, fp) != n) {
        fail(err, es, "%s: cannot read the header", f->path);
        goto out;
    }
    json[n] = '\0';
    if (!(root = cJSON_Parse(json)) || !cJSON_IsObject(root)) {
        fail(err, es, "%s: the header is not a JSON object", f->path);
        goto out;
    }
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0)
            continue;
        if (add_entry(idx, e->string, e, file, err, es) != 0)
            goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    free(json);
    fclose(fp);
    return rc;
}

static int add_file(st_index *idx, char *path /* owned */, char *err, size_t es)
{
    for (uint32_t i = 0; i < idx->n_files; i++)
        if (strcmp(idx->files[i].path, path) == 0) {
            free(path);
            return (int)i;
        }
    st_file *grown = realloc(idx->files, (idx->n_files + 1) * sizeof *grown);
    if (!grown) {
        free(path);
        return fail(err, es, "out of memory");
    }
    idx->files = grown;
    memset(&idx->files[idx->n_files], 0, sizeof *grown);
    idx->files[idx->n_files].path = path;
    return (int)idx->n_files++;
}

/* ----------------------------------------------------------- the index --- */

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

static int open_sharded(st_index *idx, const char *index_path, char *err, size_t es)
{
    FILE *fp = fopen(index_path, "rb");
    if (!fp)
        return fail(err, es, "%s: %s", index_path, strerror(errno));
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *text = n >= 0 && n < (long)MAX_HEADER ? malloc((size_t)n + 1) : NULL;
    size_t got = text ? fread(text, 1, (size_t)n, fp) : 0;
    fclose(fp);
    if (!text || got != (size_t)n) {
        free(text);
        return fail(err, es, "%s: cannot read", index_path);
    }
    text[n] = '\0';
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    int rc = 0;
    if (!cJSON_IsObject(map)) {
        rc = fail(err, es, "%s: no \"weight_map\" object", index_path);
    } else {
        char *dir = dir_of(index_path);
        for (const cJSON *e = map->child; e && rc == 0 && dir; e = e->next) {
            if (!cJSON_IsString(e) || strchr(e->valuestring, '/')) {
                rc = fail(err, es, "%s: bad shard name for '%s'", index_path, e->string);
                break;
            }
            char *p = join(dir, e->valuestring);
            rc = p ? add_file(idx, p, err, es) : fail(err, es, "out of memory");
            rc = rc < 0 ? -1 : 0;
        }
        if (!dir)
            rc = fail(err, es, "out of memory");
        free(dir);
    }
    cJSON_Delete(root);
    for (uint32_t i = 0; i < idx->n_files && rc == 0; i++)
        rc = read_header(idx, i, err, es);
    return rc;
}

int st_index_open(const char *path, st_index **out, char *err, size_t es)
{
    *out = NULL;
    st_index *idx = calloc(1, sizeof *idx);
    if (!idx)
        return fail(err, es, "out of memory");
    char *file = NULL;
    if (is_dir(path)) {
        char *single = join(path, "model.safetensors");
        char *sharded = join(path, "model.safetensors.index.json");
        if (single && exists(single)) {
            file = single;
            free(sharded);
        } else if (sharded && exists(sharded)) {
            file = sharded;
            free(single);
        } else {
            free(single);
            free(sharded);
            st_index_close(idx);
            return fail(err, es, "%s: no model.safetensors or model.safetensors.index.json",
                        path);
        }
    } else {
        file = strdup(path);
    }
    if (!file) {
        st_index_close(idx);
        return fail(err, es, "out of memory");
    }
    idx->path = file;
    int rc;
    if (ends_with(file, ".json")) {
        rc = open_sharded(idx, file, err, es);
    } else {
        char *copy = strdup(file);
        rc = copy ? add_file(idx, copy, err, es) : fail(err, es, "out of memory");
        rc = rc < 0 ? -1 : read_header(idx, 0, err, es);
    }
    if (rc != 0) {
        st_index_close(idx);
        return -1;
    }
    qsort(idx->entries, idx->n_entries, sizeof *idx->entries, cmp_entry);
    *out = idx;
    return 0;
}

void st_index_close(st_index *idx)
{
    if (!idx)
        return;
    for (uint32_t i = 0; i < idx->n_files; i++) {
        if (idx->files[i].map)
            munmap(idx->files[i].map, idx->files[i].size);
        free(idx->files[i].path);
    }
    for (uint32_t i = 0; i < idx->n_entries; i++)
        free(idx->entries[i].name);
    free(idx->files);
    free(idx->entries);
    free(idx->path);
    free(idx);
}

const st_entry *st_index_find(const st_index *idx, const char *name)
{
    st_entry key = {.name = (char *)name};
    return bsearch(&key, idx->entries, idx->n_entries, sizeof key, cmp_entry);
}

uint32_t st_index_count(const st_index *idx) { return idx->n_entries; }
const st_entry *st_index_at(const st_index *idx, uint32_t i) { return &idx->entries[i]; }
const char *st_index_path(const st_index *idx) { return idx->path; }

/* ---------------------------------------------------------- tensor data --- */

const void *st_index_data(st_index *idx, const st_entry *e, char *err, size_t es)
{
    st_file *f = &idx->files[e->file];
    if (!f->map) {
        int fd = open(f->path, O_RDONLY);
        if (fd < 0) {
            fail(err, es, "%s: %s", f->path, strerror(errno));
            return NULL;
        }
        void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (m == MAP_FAILED) {
            fail(err, es, "%s: mmap: %s", f->path, strerror(errno));
            return NULL;
        }
        f->map = m;
    }
    return (const uint8_t *)f->map + f->data_start + e->begin;
}

/* ------------------------------------------------------------ the writer --- */

struct st_writer {
    FILE *fp;
    char *path;
    uint64_t expected, written;
};

int st_writer_open(const char *path, uint32_t n, const char *const *names,
                   const int32_t *dtypes, const int32_t *ndims, const int64_t (*shapes)[4],
                   st_writer **out, char *err, size_t es)
{
    *out = NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *dn = dtype_to_name(dtypes[i]);
        if (!dn) {
            cJSON_Delete(root);
            return fail(err, es, "%s: tensor '%s': bad dtype", path, names[i]);
        }
        cJSON *t = cJSON_AddObjectToObject(root, names[i]);
        cJSON_AddStringToObject(t, "dtype", dn);
        cJSON *sh = cJSON_AddArrayToObject(t, "shape");
        uint64_t bytes = plinth_dtype_size((plinth_dtype)dtypes[i]);
        for (int32_t k = 0; k < ndims[i]; k++) {
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)shapes[i][k]));
            bytes *= (uint64_t)shapes[i][k];
        }
        cJSON *o = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + bytes)));
        off += bytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    st_writer *w = calloc(1, sizeof *w);
    if (!json || !w) {
        free(json);
        free(w);
        return fail(err, es, "%s: out of memory", path);
    }
    size_t len = strlen(json), padded = (len + 7) & ~(size_t)7;
    w->fp = fopen(path, "wb");
    w->path = strdup(path);
    w->expected = off;
    int rc = 0;
    if (!w->fp || !w->path) {
        rc = fail(err, es, "%s: %s", path, strerror(errno));
    } else {
        uint8_t len8[8];
        for (int i = 0; i < 8; i++)
            len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
        if (fwrite(len8, 1, 8, w->fp) != 8 || fwrite(json, 1, len, w->fp) != len)
            rc = fail(err, es, "%s: write failed: %s", path, strerror(errno));
        for (size_t i = len; i < padded && rc == 0; i++)
            if (fputc(' ', w->fp) == EOF)
                rc = fail(err, es, "%s: write failed", path);
    }
    free(json);
    if (rc != 0) {
        if (w->fp)
            fclose(w->fp);
        free(w->path);
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

int st_writer_data(st_writer *w, const void *data, size_t bytes, char *err, size_t es)
{
    if (w->written + bytes > w->expected)
        return fail(err, es, "%s: more data than the header declares", w->path);
    if (bytes && fwrite(data, 1, bytes, w->fp) != bytes)
        return fail(err, es, "%s: write failed: %s", w->path, strerror(errno));
    w->written += bytes;
    return 0;
}

int st_writer_close(st_writer *w, char *err, size_t es)
{
    if (!w)
        return 0;
    int rc = 0;
    if (w->written != w->expected)
        rc = fail(err, es, "%s: %llu of %llu data bytes written", w->path,
                  (unsigned long long)w->written, (unsigned long long)w->expected);
    if (fclose(w->fp) != 0 && rc == 0)
        rc = fail(err, es, "%s: close failed: %s", w->path, strerror(errno));
    free(w->path);
    free(w);
    return rc;
}
