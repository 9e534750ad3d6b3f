/*
 * fuzz_st_header.c — safetensors files from arbitrary bytes (the 8-byte
 * header length, the JSON header, the data section), through the public
 * API: plinth_state_dict_open on a private temporary file (in /dev/shm
 * where there is one: the state dict reads files), every tensor's info and
 * all of its bytes, every "__metadata__" key through the getters.
 *
 * Inputs that start with GGUF's magic are skipped: the state dict hands
 * them to the GGUF parser, which fuzz_gguf covers (and a header length
 * starting "GGUF" is over the header limit anyway).
 *
 * Checked: a refusal is FORMAT or IO, leaves no dict and a message naming
 * the file. An opened dict: the header length fits the file; tensors are
 * in strictly ascending name order (no name twice) and find() finds each;
 * each has a safetensors dtype with the plinth dtype it maps to, at most 8
 * non-negative dims and exactly the bytes its shape needs; together they
 * fit the data section (no two share a byte); each reads whole, its bytes
 * are bytes of the data section, and a byte past its end is refused.
 * Metadata keys are strings, found by meta_find, NUL-terminated at their
 * length, and refused by the integer getter.
 */
#include "fuzz_files.h"

static plinth_context *ctx;
static char in_path[64];
static int in_fd = -1;

static void cleanup(void)
{
    if (in_fd >= 0)
        unlink(in_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    FUZZ_CHECK(plinth_context_create(NULL, &ctx) == PLINTH_OK, "no context");
    in_fd = fuzz_temp_file(in_path, sizeof in_path, "st-header");
    atexit(cleanup);
    return 0;
}

/* The format's dtypes, their element sizes and plinth's dtype for each
 * (-1: none), written out here rather than taken from the parser. */
static const struct {
    const char *name;
    uint32_t size;
    int32_t plinth;
} st_dtypes[] = {
    {"F64", 8, -1},   {"F32", 4, PLINTH_F32}, {"F16", 2, PLINTH_F16}, {"BF16", 2, PLINTH_BF16},
    {"I64", 8, -1},   {"I32", 4, PLINTH_I32}, {"I16", 2, -1},         {"I8", 1, -1},
    {"U8", 1, -1},    {"U16", 2, -1},         {"U32", 4, -1},         {"U64", 8, -1},
    {"BOOL", 1, -1},  {"F8_E4M3", 1, -1},     {"F8_E5M2", 1, -1},
};

static void walk_tensors(plinth_state_dict *d, const uint8_t *section, uint64_t section_size)
{
    const uint32_t n = plinth_state_dict_count(d);
    const char *prev = NULL;
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        plinth_tensor_info ti = {.struct_size = sizeof ti};
        FUZZ_CHECK(plinth_state_dict_tensor(d, i, &ti) == PLINTH_OK, "tensor %u", i);
        FUZZ_CHECK(ti.name && ti.file && ti.dtype_name, "tensor %u: a NULL field", i);
        FUZZ_CHECK(strcmp(ti.file, in_path) == 0, "'%s' in %s", ti.name, ti.file);
        FUZZ_CHECK(!prev || strcmp(prev, ti.name) < 0, "'%s' after '%s'", ti.name, prev);
        prev = ti.name;
        FUZZ_CHECK(plinth_state_dict_find(d, ti.name) == (int32_t)i, "'%s' not found", ti.name);
        size_t k = 0;
        while (k < sizeof st_dtypes / sizeof st_dtypes[0] &&
               strcmp(st_dtypes[k].name, ti.dtype_name) != 0)
            k++;
        FUZZ_CHECK(k < sizeof st_dtypes / sizeof st_dtypes[0], "'%s': dtype '%s'", ti.name,
                   ti.dtype_name);
        FUZZ_CHECK(ti.dtype == st_dtypes[k].plinth, "'%s': %s as plinth dtype %d", ti.name,
                   ti.dtype_name, ti.dtype);
        FUZZ_CHECK(ti.ndim >= 0 && ti.ndim <= PLINTH_STATE_DICT_MAX_DIMS, "'%s': ndim %d",
                   ti.name, ti.ndim);
        uint64_t bytes = st_dtypes[k].size;
        bool overflow = false;
        for (int j = 0; j < ti.ndim; j++) {
            FUZZ_CHECK(ti.shape[j] >= 0, "'%s': shape[%d] %lld", ti.name, j,
                       (long long)ti.shape[j]);
            overflow |= __builtin_mul_overflow(bytes, (uint64_t)ti.shape[j], &bytes);
        }
        FUZZ_CHECK(!overflow && ti.bytes == bytes, "'%s': %llu bytes for its shape", ti.name,
                   (unsigned long long)ti.bytes);
        /* Sharing no byte, the tensors fit the data section together. */
        FUZZ_CHECK(ti.bytes <= section_size - total, "'%s': %llu bytes past the %llu of the "
                   "data section", ti.name, (unsigned long long)(total + ti.bytes),
                   (unsigned long long)section_size);
        total += ti.bytes;

        uint8_t *got = malloc(ti.bytes ? ti.bytes : 1);
        FUZZ_CHECK(got != NULL, "out of memory for '%s'", ti.name);
        FUZZ_CHECK(plinth_state_dict_read(d, i, 0, got, ti.bytes) == PLINTH_OK, "'%s': %s",
                   ti.name, plinth_context_error(ctx));
        FUZZ_CHECK(ti.bytes == 0 || memmem(section, section_size, got, ti.bytes) != NULL,
                   "'%s': bytes that are not in the data section", ti.name);
        free(got);
        uint8_t one;
        FUZZ_CHECK(plinth_state_dict_read(d, i, ti.bytes, &one, 1) != PLINTH_OK,
                   "'%s': a byte past its end", ti.name);
    }
    plinth_tensor_info past = {.struct_size = sizeof past};
    FUZZ_CHECK(plinth_state_dict_tensor(d, n, &past) != PLINTH_OK, "a tensor past the end");
}

static void walk_metadata(plinth_state_dict *d)
{
    const uint32_t n = plinth_state_dict_meta_count(d);
    for (uint32_t i = 0; i < n; i++) {
        const char *key = plinth_state_dict_meta_key(d, i);
        FUZZ_CHECK(key != NULL, "key %u is NULL", i);
        FUZZ_CHECK(plinth_state_dict_meta_find(d, key) == (int32_t)i, "key '%s' not found", key);
        FUZZ_CHECK(plinth_state_dict_meta_type(d, key) == PLINTH_META_STRING, "key '%s': type %d",
                   key, plinth_state_dict_meta_type(d, key));
        const char *s = NULL;
        uint64_t len = 0;
        FUZZ_CHECK(plinth_state_dict_meta_string(d, key, &s, &len) == PLINTH_OK, "'%s': %s", key,
                   plinth_context_error(ctx));
        FUZZ_CHECK(s[len] == '\0' && strlen(s) == len, "'%s': not a string of %llu bytes", key,
                   (unsigned long long)len);
        int64_t v;
        FUZZ_CHECK(plinth_state_dict_meta_int(d, key, INT64_MIN, INT64_MAX, &v) ==
                       PLINTH_ERR_FORMAT,
                   "meta_int on the string '%s'", key);
    }
    FUZZ_CHECK(plinth_state_dict_meta_key(d, n) == NULL, "a key past the end");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 4 && memcmp(data, "GGUF", 4) == 0)
        return 0;
    fuzz_write_file(in_fd, data, size);
    plinth_state_dict *d = fuzz_open_dict(ctx, in_path, in_path, size);
    if (!d)
        return 0;
    uint64_t header = 0;
    for (int i = 7; i >= 0 && size >= 8; i--)
        header = header << 8 | data[i];
    FUZZ_CHECK(size >= 8 && header > 0 && header <= size - 8,
               "accepted a header of %llu bytes in a %zu-byte file",
               (unsigned long long)header, size);
    walk_tensors(d, data + 8 + header, size - 8 - header);
    walk_metadata(d);
    plinth_state_dict_close(d);
    return 0;
}
