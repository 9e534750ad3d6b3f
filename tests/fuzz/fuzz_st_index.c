/*
 * fuzz_st_index.c — a sharded checkpoint's model.safetensors.index.json
 * from arbitrary bytes, through the public API. At start-up the harness
 * makes a private folder (in /dev/shm where there is one; unique per
 * process, removed at exit) holding four small valid shards, made once:
 *
 *   model-00001-of-00002.safetensors  two tensors, __metadata__
 *   model-00002-of-00002.safetensors  three (an empty one, a scalar),
 *                                     other __metadata__
 *   dup.safetensors                   a tensor named as one of shard 1's
 *   no-tensors.safetensors            __metadata__ only
 *
 * Each input is written as the folder's model.safetensors.index.json and
 * the folder is opened with plinth_state_dict_open, which resolves it to
 * the index and opens the shards the weight_map names (a name that is not
 * one of these is a missing file, a folder or the index itself); then
 * every tensor and every metadata key is read. The index is the only file
 * an input controls, so each runs in a bounded time: the shards are tiny,
 * and the first missing shard ends the open. Inputs that start with GGUF's
 * magic are skipped: the state dict reads such a file as GGUF whatever its
 * name (fuzz_gguf covers that parser).
 *
 * Checked: a refusal is FORMAT or IO, leaves no dict, and its message
 * names the index. An opened dict: its path is the index; tensors are in
 * strictly ascending name order and find() finds each; each is a tensor
 * of the shard it is said to live in, with that shard's dtype, shape and
 * byte count, and reads back that shard's bytes; a shard is there whole or
 * not at all; the metadata is the first opened shard's __metadata__.
 */
#include "fuzz_files.h"

#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>

/* ------------------------------------------------------------ shards --- */

typedef struct fixture_tensor {
    const char *name, *dtype;
    int ndim;
    int64_t shape[2];
    uint32_t begin, bytes; /* in the data section */
} fixture_tensor;

typedef struct fixture_meta {
    const char *key, *value;
} fixture_meta;

typedef struct fixture_shard {
    const char *file;
    fixture_meta meta[2];     /* {NULL}-terminated */
    fixture_tensor tensor[4]; /* {NULL}-terminated */
} fixture_shard;

static const fixture_shard shards[] = {
    {"model-00001-of-00002.safetensors",
     {{"format", "pt"}, {NULL, NULL}},
     {{"embed.weight", "F32", 2, {2, 2}, 0, 16},
      {"norm.weight", "BF16", 1, {4, 0}, 16, 8},
      {NULL, NULL, 0, {0, 0}, 0, 0}}},
    {"model-00002-of-00002.safetensors",
     {{"format", "pt"}, {"shard", "2"}},
     {{"lm_head.weight", "F16", 2, {2, 3}, 0, 12},
      {"empty", "F32", 2, {0, 4}, 12, 0},
      {"step", "I64", 0, {0, 0}, 12, 8},
      {NULL, NULL, 0, {0, 0}, 0, 0}}},
    {"dup.safetensors",
     {{NULL, NULL}},
     {{"norm.weight", "F32", 1, {1, 0}, 0, 4},
      {"other", "U8", 1, {3, 0}, 4, 3},
      {NULL, NULL, 0, {0, 0}, 0, 0}}},
    {"no-tensors.safetensors",
     {{"format", "pt"}, {NULL, NULL}},
     {{NULL, NULL, 0, {0, 0}, 0, 0}}},
};
#define N_SHARDS (sizeof shards / sizeof shards[0])

/* Byte j of shard s's data section. */
static uint8_t shard_byte(size_t s, size_t j)
{
    return (uint8_t)(s * 31 + j * 7 + 1);
}

static plinth_context *ctx;
static char dir[64];
static char index_path[128];
static int index_fd = -1;

static void shard_path(size_t s, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", dir, shards[s].file);
}

/* A shard as safetensors: 8-byte length, the JSON header, the data. */
static void write_shard(size_t s)
{
    const fixture_shard *sh = &shards[s];
    char header[1024];
    size_t n = 0, data = 0;
    n += (size_t)snprintf(header + n, sizeof header - n, "{");
    if (sh->meta[0].key) {
        n += (size_t)snprintf(header + n, sizeof header - n, "\"__metadata__\":{");
        for (size_t k = 0; k < 2 && sh->meta[k].key; k++)
            n += (size_t)snprintf(header + n, sizeof header - n, "%s\"%s\":\"%s\"",
                                  k ? "," : "", sh->meta[k].key, sh->meta[k].value);
        n += (size_t)snprintf(header + n, sizeof header - n, "}");
    }
    for (const fixture_tensor *t = sh->tensor; t->name; t++) {
        n += (size_t)snprintf(header + n, sizeof header - n, "%s\"%s\":{\"dtype\":\"%s\","
                              "\"shape\":[", n > 1 ? "," : "", t->name, t->dtype);
        for (int k = 0; k < t->ndim; k++)
            n += (size_t)snprintf(header + n, sizeof header - n, "%s%lld", k ? "," : "",
                                  (long long)t->shape[k]);
        n += (size_t)snprintf(header + n, sizeof header - n, "],\"data_offsets\":[%u,%u]}",
                              t->begin, t->begin + t->bytes);
        if (t->begin + t->bytes > data)
            data = t->begin + t->bytes;
    }
    n += (size_t)snprintf(header + n, sizeof header - n, "}");
    FUZZ_CHECK(n < sizeof header, "shard header too long");

    char path[160];
    shard_path(s, path, sizeof path);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL, "cannot create %s", path);
    for (int i = 0; i < 8; i++)
        fputc((int)(((uint64_t)n >> (8 * i)) & 0xff), f);
    fwrite(header, 1, n, f);
    for (size_t j = 0; j < data; j++)
        fputc(shard_byte(s, j), f);
    FUZZ_CHECK(fclose(f) == 0, "cannot write %s", path);
}

static void cleanup(void)
{
    char path[160];
    for (size_t s = 0; s < N_SHARDS; s++) {
        shard_path(s, path, sizeof path);
        unlink(path);
    }
    if (index_fd >= 0) {
        close(index_fd);
        unlink(index_path);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    FUZZ_CHECK(plinth_context_create(NULL, &ctx) == PLINTH_OK, "no context");
    fuzz_temp_dir(dir, sizeof dir, "st-index");
    snprintf(index_path, sizeof index_path, "%s/model.safetensors.index.json", dir);
    atexit(cleanup);
    for (size_t s = 0; s < N_SHARDS; s++)
        write_shard(s);
    index_fd = open(index_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(index_fd >= 0, "cannot create %s", index_path);
    return 0;
}

/* ------------------------------------------------------------ checks --- */

/* Every tensor; `from` counts those of each shard. */
static void walk_tensors(plinth_state_dict *d, uint32_t from[N_SHARDS])
{
    const uint32_t n = plinth_state_dict_count(d);
    /* Each weight_map entry is a tensor of the dict: an index names one. */
    FUZZ_CHECK(n > 0, "an index opened without tensors");
    const char *prev = NULL;
    const size_t dir_len = strlen(dir);
    for (uint32_t i = 0; i < n; i++) {
        plinth_tensor_info ti = {.struct_size = sizeof ti};
        FUZZ_CHECK(plinth_state_dict_tensor(d, i, &ti) == PLINTH_OK, "tensor %u", i);
        FUZZ_CHECK(ti.name && ti.file && ti.dtype_name, "tensor %u: a NULL field", i);
        FUZZ_CHECK(!prev || strcmp(prev, ti.name) < 0, "'%s' after '%s'", ti.name, prev);
        prev = ti.name;
        FUZZ_CHECK(plinth_state_dict_find(d, ti.name) == (int32_t)i, "'%s' not found", ti.name);
        FUZZ_CHECK(strncmp(ti.file, dir, dir_len) == 0 && ti.file[dir_len] == '/',
                   "'%s' in %s, outside %s", ti.name, ti.file, dir);
        size_t s = 0;
        while (s < N_SHARDS && strcmp(shards[s].file, ti.file + dir_len + 1) != 0)
            s++;
        FUZZ_CHECK(s < N_SHARDS, "'%s' in %s, which is no shard", ti.name, ti.file);
        const fixture_tensor *t = shards[s].tensor;
        while (t->name && strcmp(t->name, ti.name) != 0)
            t++;
        FUZZ_CHECK(t->name != NULL, "'%s' is not in %s", ti.name, ti.file);
        from[s]++;
        FUZZ_CHECK(strcmp(ti.dtype_name, t->dtype) == 0 && ti.ndim == t->ndim &&
                       (t->ndim < 1 || ti.shape[0] == t->shape[0]) &&
                       (t->ndim < 2 || ti.shape[1] == t->shape[1]) && ti.bytes == t->bytes,
                   "'%s' of %s: not as written", ti.name, ti.file);
        uint8_t got[16];
        FUZZ_CHECK(ti.bytes <= sizeof got, "'%s': %llu bytes", ti.name,
                   (unsigned long long)ti.bytes);
        FUZZ_CHECK(plinth_state_dict_read(d, i, 0, got, ti.bytes) == PLINTH_OK, "'%s': %s",
                   ti.name, plinth_context_error(ctx));
        for (uint32_t j = 0; j < t->bytes; j++)
            FUZZ_CHECK(got[j] == shard_byte(s, t->begin + j), "'%s': byte %u", ti.name, j);
        FUZZ_CHECK(plinth_state_dict_read(d, i, ti.bytes, got, 1) != PLINTH_OK,
                   "'%s': a byte past its end", ti.name);
    }
    for (size_t s = 0; s < N_SHARDS; s++) {
        uint32_t has = 0;
        for (const fixture_tensor *t = shards[s].tensor; t->name; t++)
            has++;
        FUZZ_CHECK(from[s] == 0 || from[s] == has, "%u of the %u tensors of %s", from[s], has,
                   shards[s].file);
    }
}

/* The metadata: the __metadata__ of the first shard opened (in name
 * order), key for key. Every shard opened has tensors (each was named by
 * an entry that it holds). */
static void walk_metadata(plinth_state_dict *d, const uint32_t from[N_SHARDS])
{
    size_t first = N_SHARDS;
    for (size_t s = 0; s < N_SHARDS; s++)
        if (from[s] && (first == N_SHARDS || strcmp(shards[s].file, shards[first].file) < 0))
            first = s;
    FUZZ_CHECK(first < N_SHARDS, "no shard opened");
    const fixture_meta *m = shards[first].meta;
    const uint32_t n = plinth_state_dict_meta_count(d);
    uint32_t want = 0;
    while (want < 2 && m[want].key)
        want++;
    FUZZ_CHECK(n == want, "%u metadata keys, %s has %u", n, shards[first].file, want);
    for (uint32_t k = 0; k < n; k++) {
        const char *key = plinth_state_dict_meta_key(d, k), *v = NULL;
        FUZZ_CHECK(key && strcmp(key, m[k].key) == 0, "key %u: '%s'", k, key);
        FUZZ_CHECK(plinth_state_dict_meta_string(d, key, &v, NULL) == PLINTH_OK &&
                       strcmp(v, m[k].value) == 0,
                   "'%s': %s", key, v ? v : plinth_context_error(ctx));
    }
    FUZZ_CHECK(plinth_state_dict_meta_key(d, n) == NULL, "a key past the end");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 4 && memcmp(data, "GGUF", 4) == 0)
        return 0;
    fuzz_write_file(index_fd, data, size);
    plinth_state_dict *d = fuzz_open_dict(ctx, dir, index_path, size);
    if (!d)
        return 0;
    uint32_t from[N_SHARDS] = {0};
    walk_tensors(d, from);
    walk_metadata(d, from);
    plinth_state_dict_close(d);
    return 0;
}
