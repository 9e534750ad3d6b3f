/*
 * fuzz_gguf.c — GGUF files from arbitrary bytes, through the public API:
 * plinth_state_dict_open (the bytes are written to a private temporary
 * file, in /dev/shm where there is one: the state dict reads files), every tensor's info and some of its
 * bytes (dequantised when plinth has the dtype), every metadata key
 * through the getter of its type; then what opened is written again with
 * plinth_gguf_writer and must open again, the same.
 *
 * Checked: a refusal leaves no dict and a message naming the file; an
 * opened dict's tensors lie inside the file with the bytes their shapes
 * need, find() finds every name and meta_find() every key, each getter
 * agrees with the type meta_type() reports; the written copy has the same
 * tensors (dtype, shape, bytes) and as many keys as were copied.
 */
#include "fuzz_files.h"

#include <stdbool.h>
#include <unistd.h>

static plinth_context *ctx;
static char in_path[64];
static char out_path[80];
static int in_fd = -1;

static void cleanup(void)
{
    if (in_fd >= 0)
        unlink(in_path);
    unlink(out_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    FUZZ_CHECK(plinth_context_create(NULL, &ctx) == PLINTH_OK, "no context");
    in_fd = fuzz_temp_file(in_path, sizeof in_path, "gguf");
    snprintf(out_path, sizeof out_path, "%s.out", in_path);
    atexit(cleanup);
    return 0;
}

/* Every getter of the key's type, and the others refusing. */
static void walk_metadata(plinth_state_dict *d)
{
    const uint32_t n = plinth_state_dict_meta_count(d);
    for (uint32_t i = 0; i < n; i++) {
        const char *key = plinth_state_dict_meta_key(d, i);
        FUZZ_CHECK(key != NULL, "key %u is NULL", i);
        FUZZ_CHECK(plinth_state_dict_meta_find(d, key) == (int32_t)i, "key '%s' not found", key);
        const int32_t t = plinth_state_dict_meta_type(d, key);
        FUZZ_CHECK(t >= 0 && t < PLINTH_META_TYPE_COUNT, "key '%s': type %d", key, t);
        int64_t v;
        double x;
        bool b;
        const char *s;
        uint64_t len;
        const bool is_int = t == PLINTH_META_U8 || t == PLINTH_META_I8 || t == PLINTH_META_U16 ||
                            t == PLINTH_META_I16 || t == PLINTH_META_U32 ||
                            t == PLINTH_META_I32 || t == PLINTH_META_U64 || t == PLINTH_META_I64;
        const bool is_number = is_int || t == PLINTH_META_F32 || t == PLINTH_META_F64;
        plinth_status st = plinth_state_dict_meta_int(d, key, INT64_MIN, INT64_MAX, &v);
        if (!is_int)
            FUZZ_CHECK(st == PLINTH_ERR_FORMAT, "meta_int on %s", plinth_meta_type_name(t));
        else if (t != PLINTH_META_U64) /* a u64 past INT64_MAX is refused */
            FUZZ_CHECK(st == PLINTH_OK, "meta_int: %s", plinth_context_error(ctx));
        st = plinth_state_dict_meta_double(d, key, &x);
        if (st == PLINTH_OK)
            FUZZ_CHECK(is_number, "meta_double on %s", plinth_meta_type_name(t));
        else
            FUZZ_CHECK(st == PLINTH_ERR_FORMAT, "meta_double: status %d", (int)st);
        st = plinth_state_dict_meta_bool(d, key, &b);
        FUZZ_CHECK((st == PLINTH_OK) == (t == PLINTH_META_BOOL), "meta_bool on %s",
                   plinth_meta_type_name(t));
        st = plinth_state_dict_meta_string(d, key, &s, &len);
        FUZZ_CHECK((st == PLINTH_OK) == (t == PLINTH_META_STRING), "meta_string on %s",
                   plinth_meta_type_name(t));
        if (st == PLINTH_OK)
            FUZZ_CHECK(s[len] == '\0', "string '%s' not terminated", key);
        int32_t et;
        uint64_t n_el;
        st = plinth_state_dict_meta_array(d, key, &et, &n_el);
        FUZZ_CHECK((st == PLINTH_OK) == (t == PLINTH_META_ARRAY), "meta_array on %s",
                   plinth_meta_type_name(t));
        if (st != PLINTH_OK)
            continue;
        FUZZ_CHECK(et >= 0 && et < PLINTH_META_TYPE_COUNT && et != PLINTH_META_ARRAY,
                   "'%s': element type %d", key, et);
        /* The first and last few elements, and one past the end. */
        for (uint64_t k = 0; k < n_el; k = k == 3 && n_el > 8 ? n_el - 4 : k + 1) {
            if (et == PLINTH_META_STRING) {
                FUZZ_CHECK(plinth_state_dict_meta_array_string(d, key, k, &s, &len) == PLINTH_OK,
                           "'%s'[%llu]: %s", key, (unsigned long long)k,
                           plinth_context_error(ctx));
                FUZZ_CHECK(s[len] == '\0', "'%s'[%llu] not terminated", key,
                           (unsigned long long)k);
            } else if (et == PLINTH_META_F32 || et == PLINTH_META_F64) {
                FUZZ_CHECK(plinth_state_dict_meta_array_double(d, key, k, &x) == PLINTH_OK,
                           "'%s'[%llu]", key, (unsigned long long)k);
            } else {
                st = plinth_state_dict_meta_array_int(d, key, k, &v);
                FUZZ_CHECK(st == PLINTH_OK || et == PLINTH_META_U64, "'%s'[%llu]: %s", key,
                           (unsigned long long)k, plinth_context_error(ctx));
            }
        }
        FUZZ_CHECK(plinth_state_dict_meta_array_int(d, key, n_el, &v) != PLINTH_OK,
                   "'%s': element past the end", key);
    }
    FUZZ_CHECK(plinth_state_dict_meta_key(d, n) == NULL, "a key past the end");
}

/* Every tensor: inside the file, findable, its first and last bytes
 * readable (and dequantisable when plinth has its dtype). */
static void walk_tensors(plinth_state_dict *d, size_t file_size)
{
    const uint32_t n = plinth_state_dict_count(d);
    for (uint32_t i = 0; i < n; i++) {
        plinth_tensor_info ti = {.struct_size = sizeof ti};
        FUZZ_CHECK(plinth_state_dict_tensor(d, i, &ti) == PLINTH_OK, "tensor %u", i);
        FUZZ_CHECK(plinth_state_dict_find(d, ti.name) == (int32_t)i, "'%s' not found", ti.name);
        FUZZ_CHECK(ti.bytes <= file_size, "'%s': %llu bytes in a %zu-byte file", ti.name,
                   (unsigned long long)ti.bytes, file_size);
        FUZZ_CHECK(ti.ndim >= 0 && ti.ndim <= 4, "'%s': ndim %d", ti.name, ti.ndim);
        uint64_t elems = 1; /* wraps only past a zero dim (the reader bounds the rest) */
        bool empty = false;
        for (int k = 0; k < ti.ndim; k++) {
            FUZZ_CHECK(ti.shape[k] >= 0, "'%s': shape[%d] %lld", ti.name, k,
                       (long long)ti.shape[k]);
            elems *= (uint64_t)ti.shape[k];
            empty |= ti.shape[k] == 0;
        }
        if (ti.dtype >= 0 && !empty) {
            const int64_t inner = ti.ndim ? ti.shape[ti.ndim - 1] : 1;
            const uint64_t row = plinth_dtype_row_bytes(ti.dtype, inner);
            FUZZ_CHECK(ti.bytes == row * (elems / (uint64_t)inner), "'%s': %llu bytes for its "
                       "shape", ti.name, (unsigned long long)ti.bytes);
        }
        if (empty)
            FUZZ_CHECK(ti.bytes == 0, "'%s': an empty tensor of %llu bytes", ti.name,
                       (unsigned long long)ti.bytes);
        uint8_t head[256];
        const uint64_t k = ti.bytes < sizeof head ? ti.bytes : sizeof head;
        FUZZ_CHECK(plinth_state_dict_read(d, i, ti.bytes - k, head, k) == PLINTH_OK,
                   "'%s': %s", ti.name, plinth_context_error(ctx));
        FUZZ_CHECK(plinth_state_dict_read(d, i, ti.bytes, head, 1) != PLINTH_OK,
                   "'%s': a byte past its end", ti.name);
        if (ti.dtype >= 0 && ti.dtype != PLINTH_I32) {
            const int64_t be = (int64_t)plinth_dtype_block_elems(ti.dtype);
            const int64_t fit = (int64_t)(k / plinth_dtype_block_bytes(ti.dtype)) * be;
            float out[256 * 8];
            if (fit > 0 && fit <= (int64_t)(sizeof out / sizeof out[0]))
                FUZZ_CHECK(plinth_dequantize_row(ti.dtype, head, fit, out) == PLINTH_OK,
                           "'%s': dequantise", ti.name);
        }
    }
}

/* What opened, written again by the writer: every key, every tensor plinth
 * has a dtype for (with a name llama.cpp takes); then compared. */
static void rewrite(plinth_state_dict *d)
{
    plinth_gguf_writer *w = NULL;
    FUZZ_CHECK(plinth_gguf_writer_create(ctx, out_path, &w) == PLINTH_OK, "writer");
    const uint32_t n_kv = plinth_state_dict_meta_count(d);
    uint32_t copied = 0;
    for (uint32_t i = 0; i < n_kv; i++) {
        const char *key = plinth_state_dict_meta_key(d, i);
        const int32_t t = plinth_state_dict_meta_type(d, key);
        int64_t v;
        double x;
        bool b;
        const char *s;
        plinth_status st = PLINTH_OK;
        if (t == PLINTH_META_BOOL && plinth_state_dict_meta_bool(d, key, &b) == PLINTH_OK)
            st = plinth_gguf_writer_add_bool(w, key, b);
        else if ((t == PLINTH_META_F32 || t == PLINTH_META_F64) &&
                 plinth_state_dict_meta_double(d, key, &x) == PLINTH_OK)
            st = plinth_gguf_writer_add_float(w, key, t, x);
        else if (t == PLINTH_META_STRING && plinth_state_dict_meta_string(d, key, &s, NULL) ==
                                                PLINTH_OK)
            st = plinth_gguf_writer_add_string(w, key, s); /* up to a NUL: fine */
        else if (t != PLINTH_META_ARRAY && t != PLINTH_META_STRING &&
                 plinth_state_dict_meta_int(d, key, INT64_MIN, INT64_MAX, &v) == PLINTH_OK)
            st = plinth_gguf_writer_add_int(w, key, t, v);
        else
            continue; /* arrays and u64 past INT64_MAX: not copied */
        FUZZ_CHECK(st == PLINTH_OK, "re-adding '%s': %s", key, plinth_context_error(ctx));
        copied++;
    }
    const uint32_t n = plinth_state_dict_count(d);
    void **bufs = calloc(n ? n : 1, sizeof *bufs);
    uint32_t written = 0;
    for (uint32_t i = 0; i < n; i++) {
        plinth_tensor_info ti = {.struct_size = sizeof ti};
        plinth_state_dict_tensor(d, i, &ti);
        bool empty = ti.ndim == 0;
        for (int k = 0; k < ti.ndim; k++)
            empty |= ti.shape[k] == 0;
        if (ti.dtype < 0 || empty || ti.ndim > 4 || strlen(ti.name) > 63)
            continue;
        bufs[i] = malloc(ti.bytes);
        FUZZ_CHECK(bufs[i] && plinth_state_dict_read(d, i, 0, bufs[i], ti.bytes) == PLINTH_OK,
                   "reading '%s'", ti.name);
        FUZZ_CHECK(plinth_gguf_writer_add_tensor(w, ti.name, ti.dtype, ti.ndim, ti.shape,
                                                 bufs[i]) == PLINTH_OK,
                   "re-adding tensor '%s': %s", ti.name, plinth_context_error(ctx));
        written++;
    }
    plinth_status st = plinth_gguf_writer_write(w);
    /* The only refusal left: the alignment key, which the reader took as it
     * was (a u32 power of two) and the writer checks the same way. */
    FUZZ_CHECK(st == PLINTH_OK, "writing: %s", plinth_context_error(ctx));
    plinth_gguf_writer_destroy(w);

    plinth_state_dict *e = NULL;
    FUZZ_CHECK(plinth_state_dict_open(ctx, out_path, &e) == PLINTH_OK, "re-opening: %s",
               plinth_context_error(ctx));
    FUZZ_CHECK(plinth_state_dict_count(e) == written, "%u tensors written, %u read",
               written, plinth_state_dict_count(e));
    FUZZ_CHECK(plinth_state_dict_meta_count(e) == copied, "%u keys written, %u read", copied,
               plinth_state_dict_meta_count(e));
    for (uint32_t i = 0; i < n; i++) {
        if (!bufs[i])
            continue;
        plinth_tensor_info ti = {.struct_size = sizeof ti}, tj = {.struct_size = sizeof tj};
        plinth_state_dict_tensor(d, i, &ti);
        const int32_t j = plinth_state_dict_find(e, ti.name);
        FUZZ_CHECK(j >= 0, "'%s' lost", ti.name);
        plinth_state_dict_tensor(e, (uint32_t)j, &tj);
        FUZZ_CHECK(tj.dtype == ti.dtype && tj.ndim == ti.ndim && tj.bytes == ti.bytes &&
                       memcmp(tj.shape, ti.shape, sizeof ti.shape) == 0,
                   "'%s' changed", ti.name);
        void *back = malloc(tj.bytes);
        FUZZ_CHECK(back && plinth_state_dict_read(e, (uint32_t)j, 0, back, tj.bytes) == PLINTH_OK,
                   "reading '%s' back", ti.name);
        FUZZ_CHECK(memcmp(back, bufs[i], ti.bytes) == 0, "'%s': bytes changed", ti.name);
        free(back);
        free(bufs[i]);
    }
    free(bufs);
    plinth_state_dict_close(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_write_file(in_fd, data, size);
    plinth_state_dict *d = (plinth_state_dict *)1;
    plinth_status st = plinth_state_dict_open(ctx, in_path, &d);
    if (st != PLINTH_OK) {
        FUZZ_CHECK(d == NULL, "failed open left a dict");
        FUZZ_CHECK(strstr(plinth_context_error(ctx), in_path) != NULL,
                   "message names no file: %s", plinth_context_error(ctx));
        FUZZ_CHECK(st != PLINTH_ERR_NO_MEMORY, "out of memory on %zu bytes: %s", size,
                   plinth_context_error(ctx));
        return 0;
    }
    FUZZ_CHECK(d != NULL, "open succeeded without a dict");
    walk_tensors(d, size);
    walk_metadata(d);
    if (size >= 4 && memcmp(data, "GGUF", 4) == 0)
        rewrite(d);
    plinth_state_dict_close(d);
    return 0;
}
