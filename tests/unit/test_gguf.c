/*
 * test_gguf.c — GGUF files as state dicts, the GGUF writer and the
 * quantisers.
 *
 * Suites:
 *   tiny     the committed tests/data/gguf/tiny.gguf, written by llama.cpp's
 *            gguf-py (make_tiny_gguf.py): every metadata type and every
 *            tensor type checked against what the script wrote; q8_0/q4_0
 *            quantised by plinth byte for byte as gguf-py (bit-exact with
 *            ggml's reference) did; q4_K/q6_K dequantised as gguf-py did;
 *            a model loads from it: f32 weights, and q8_0/q4_K/q6_K weights
 *            through matmul on ref
 *   writer   writer -> reader round trips (every value type, every dtype,
 *            data pointers and callbacks, alignments); each refusal
 *   quant    dequantise(quantise(x)) error bounds per type on random
 *            data; bit-exact re-quantisation of q8_0 and q4_0 blocks;
 *            refusals
 *   hostile  hand-built files: truncations, lying counts and lengths,
 *            offsets, dims, types, names, alignment; each a clear error
 *            naming the file
 *
 * Hand-made files live in a mkdtemp() directory made by each suite's .init
 * and removed by its .fini.
 */
#include "gguf.h"
#include "safetensors.h"

#include <criterion/criterion.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define CHECK_NO_LEAKS() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked")
#else
#define CHECK_NO_LEAKS() ((void)0)
#endif

static char g_dir[64];
static plinth_context *g_ctx;

#define OK(call) cr_assert_eq((call), PLINTH_OK, "%s: %s", #call, plinth_context_error(g_ctx))

/* ----------------------------------------------------------- helpers --- */

static void setup(void)
{
    strcpy(g_dir, "/tmp/plinth-gguf-XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir), "mkdtemp failed");
    cr_assert_eq(plinth_context_create(NULL, &g_ctx), PLINTH_OK);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void teardown(void)
{
    plinth_context_destroy(g_ctx);
    g_ctx = NULL;
    if (g_dir[0])
        nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int slot;
    slot = (slot + 1) % 4;
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", g_dir, name);
    return buf[slot];
}

static void write_bytes(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    if (n)
        cr_assert_eq(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static plinth_state_dict *open_ok(const char *path)
{
    plinth_state_dict *d = NULL;
    OK(plinth_state_dict_open(g_ctx, path, &d));
    cr_assert_not_null(d);
    return d;
}

/* Opening fails with `status` and a message naming the file and saying
 * `why`. */
static void expect_fail(const char *path, plinth_status status, const char *why)
{
    plinth_state_dict *d = (plinth_state_dict *)1;
    plinth_status s = plinth_state_dict_open(g_ctx, path, &d);
    const char *msg = plinth_context_error(g_ctx);
    cr_assert_eq(s, status, "%s: status %s, wanted %s (%s)", path, plinth_status_name(s),
                 plinth_status_name(status), msg);
    cr_assert_null(d, "a failed open left a dict");
    cr_assert_not_null(strstr(msg, path), "message does not name the file: %s", msg);
    cr_assert_not_null(strstr(msg, why), "message lacks \"%s\": %s", why, msg);
    CHECK_NO_LEAKS();
}

static plinth_tensor_info info_of(plinth_state_dict *d, const char *name)
{
    int32_t i = plinth_state_dict_find(d, name);
    cr_assert_geq(i, 0, "no tensor '%s'", name);
    plinth_tensor_info ti = {.struct_size = sizeof ti};
    OK(plinth_state_dict_tensor(d, (uint32_t)i, &ti));
    return ti;
}

/* A tensor's bytes, read (caller frees). */
static void *read_all(plinth_state_dict *d, const char *name, uint64_t *bytes)
{
    plinth_tensor_info ti = info_of(d, name);
    void *p = malloc(ti.bytes ? ti.bytes : 1);
    cr_assert_not_null(p);
    OK(plinth_state_dict_read(d, (uint32_t)plinth_state_dict_find(d, name), 0, p, ti.bytes));
    if (bytes)
        *bytes = ti.bytes;
    return p;
}

/* A tensor as f32 (any float or block dtype; caller frees). */
static float *read_f32(plinth_state_dict *d, const char *name, int64_t *n_out)
{
    plinth_tensor_info ti = info_of(d, name);
    int64_t n = 1;
    for (int i = 0; i < ti.ndim; i++)
        n *= ti.shape[i];
    void *raw = read_all(d, name, NULL);
    float *f = malloc((size_t)n * sizeof *f);
    cr_assert_not_null(f);
    OK(plinth_dequantize_row(ti.dtype, raw, n, f));
    free(raw);
    *n_out = n;
    return f;
}

static void expect_shape(const plinth_tensor_info *ti, int ndim, const int64_t *shape)
{
    cr_assert_eq(ti->ndim, ndim, "%s: ndim %d, wanted %d", ti->name, ti->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        cr_assert_eq(ti->shape[i], shape[i], "%s: shape[%d] %lld, wanted %lld", ti->name, i,
                     (long long)ti->shape[i], (long long)shape[i]);
}

/* The message on the context contains every one of the NULL-terminated
 * needles. */
static void msg_has(const char *first, ...)
{
    const char *msg = plinth_context_error(g_ctx);
    va_list ap;
    va_start(ap, first);
    for (const char *n = first; n; n = va_arg(ap, const char *))
        cr_assert_not_null(strstr(msg, n), "message lacks \"%s\": %s", n, msg);
    va_end(ap);
}

/* Deterministic random numbers: xorshift64 and Box-Muller. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}
static float gauss(void)
{
    const double u = urand() + 1e-300, v = urand();
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

/* ------------------------------------------------------- tiny.gguf --- */

static const char *tiny_path(void)
{
    static char path[1024];
    const char *d = getenv("PLINTH_TEST_DATA");
    cr_assert(d && d[0], "PLINTH_TEST_DATA is not set (run through meson test)");
    snprintf(path, sizeof path, "%s/gguf/tiny.gguf", d);
    return path;
}

/* The script's plain tensor values: (i % 17 - 8) / 8. */
static float ramp(int64_t i)
{
    return (float)(i % 17 - 8) / 8.f;
}

TestSuite(tiny, .init = setup, .fini = teardown);

Test(tiny, tensors_and_shapes)
{
    plinth_state_dict *d = open_ok(tiny_path());
    cr_assert_eq(plinth_state_dict_count(d), 14);
    cr_assert_str_eq(plinth_state_dict_path(d), tiny_path());
    static const struct {
        const char *name, *dtype_name;
        int32_t dtype;
        int ndim;
        int64_t shape[4];
        uint64_t bytes;
    } want[] = {
        {"t.f32", "F32", PLINTH_F32, 2, {3, 5}, 60},
        {"t.f16", "F16", PLINTH_F16, 2, {2, 7}, 28},
        {"t.bf16", "BF16", PLINTH_BF16, 2, {4, 3}, 24},
        {"t.i32", "I32", PLINTH_I32, 1, {6}, 24},
        {"t.4d", "F32", PLINTH_F32, 4, {2, 3, 1, 4}, 96},
        {"t.q8_0", "Q8_0", PLINTH_Q8_0, 2, {4, 64}, 4 * 2 * 34},
        {"t.q4_0", "Q4_0", PLINTH_Q4_0, 2, {4, 64}, 4 * 2 * 18},
        {"t.q4_K", "Q4_K", PLINTH_Q4_K, 2, {2, 256}, 2 * 144},
        {"t.q6_K", "Q6_K", PLINTH_Q6_K, 2, {2, 256}, 2 * 210},
        {"t.q5_K", "Q5_K", -1, 2, {1, 256}, 176},
        {"t.q4_K.deq", "F32", PLINTH_F32, 2, {2, 256}, 2048},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        plinth_tensor_info ti = info_of(d, want[k].name);
        cr_assert_str_eq(ti.name, want[k].name);
        cr_assert_str_eq(ti.file, tiny_path());
        cr_assert_str_eq(ti.dtype_name, want[k].dtype_name, "%s", ti.name);
        cr_assert_eq(ti.dtype, want[k].dtype, "%s: dtype %d", ti.name, ti.dtype);
        expect_shape(&ti, want[k].ndim, want[k].shape);
        cr_assert_eq(ti.bytes, want[k].bytes, "%s: %llu bytes", ti.name,
                     (unsigned long long)ti.bytes);
    }
    /* Name order, as for safetensors. */
    for (uint32_t i = 1; i < plinth_state_dict_count(d); i++) {
        plinth_tensor_info a = {.struct_size = sizeof a}, b = {.struct_size = sizeof b};
        OK(plinth_state_dict_tensor(d, i - 1, &a));
        OK(plinth_state_dict_tensor(d, i, &b));
        cr_assert_lt(strcmp(a.name, b.name), 0);
    }
    cr_assert_eq(plinth_state_dict_find(d, "nope"), -1);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

Test(tiny, plain_values)
{
    plinth_state_dict *d = open_ok(tiny_path());
    static const char *const names[] = {"t.f32", "t.f16", "t.bf16", "t.4d"};
    for (size_t k = 0; k < 4; k++) {
        int64_t n;
        float *f = read_f32(d, names[k], &n);
        for (int64_t i = 0; i < n; i++)
            cr_assert_eq(f[i], ramp(i), "%s[%lld] = %g, wanted %g", names[k], (long long)i,
                         f[i], ramp(i));
        free(f);
    }
    int32_t *v = read_all(d, "t.i32", NULL);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(v[i], i * 1000 - 2500);
    free(v);
    /* A slice of a tensor's bytes. */
    float part[2];
    OK(plinth_state_dict_read(d, (uint32_t)plinth_state_dict_find(d, "t.f32"), 8, part, 8));
    cr_assert_eq(part[0], ramp(2));
    cr_assert_eq(part[1], ramp(3));
    cr_assert_eq(plinth_state_dict_read(d, (uint32_t)plinth_state_dict_find(d, "t.f32"), 56,
                                        part, 8),
                 PLINTH_ERR_INVALID);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

/* plinth's q8_0 and q4_0 of the script's sources are gguf-py's blocks. */
Test(tiny, quantisers_match_gguf_py)
{
    plinth_state_dict *d = open_ok(tiny_path());
    static const struct {
        const char *q, *src;
        int32_t dtype;
    } pairs[] = {{"t.q8_0", "t.q8_0.src", PLINTH_Q8_0}, {"t.q4_0", "t.q4_0.src", PLINTH_Q4_0}};
    for (size_t k = 0; k < 2; k++) {
        uint64_t bytes;
        uint8_t *theirs = read_all(d, pairs[k].q, &bytes);
        int64_t n;
        float *src = read_f32(d, pairs[k].src, &n);
        cr_assert_eq(n, 256);
        uint8_t mine[4 * 2 * 34];
        cr_assert_eq(plinth_dtype_row_bytes(pairs[k].dtype, n), bytes);
        OK(plinth_quantize_row(pairs[k].dtype, src, n, mine));
        for (uint64_t i = 0; i < bytes; i++)
            cr_assert_eq(mine[i], theirs[i], "%s: byte %llu is %u, gguf-py wrote %u",
                         pairs[k].q, (unsigned long long)i, mine[i], theirs[i]);
        free(theirs);
        free(src);
    }
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

/* plinth's q4_K and q6_K dequantisation is gguf-py's, to the bit. */
Test(tiny, k_quants_dequantise_as_gguf_py)
{
    plinth_state_dict *d = open_ok(tiny_path());
    static const char *const names[][2] = {{"t.q4_K", "t.q4_K.deq"}, {"t.q6_K", "t.q6_K.deq"}};
    for (size_t k = 0; k < 2; k++) {
        int64_t n, m;
        float *mine = read_f32(d, names[k][0], &n);
        float *theirs = read_f32(d, names[k][1], &m);
        cr_assert_eq(n, 512);
        cr_assert_eq(m, 512);
        int nonzero = 0;
        for (int64_t i = 0; i < n; i++) {
            cr_assert_eq(mine[i], theirs[i], "%s[%lld] = %.9g, gguf-py %.9g", names[k][0],
                         (long long)i, mine[i], theirs[i]);
            nonzero += mine[i] != 0;
        }
        cr_assert_gt(nonzero, 256, "%s: mostly zeros: the test would prove little", names[k][0]);
        free(mine);
        free(theirs);
    }
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

Test(tiny, metadata_scalars)
{
    plinth_state_dict *d = open_ok(tiny_path());
    cr_assert_eq(plinth_state_dict_meta_count(d), 29);
    cr_assert_str_eq(plinth_state_dict_meta_key(d, 0), "general.architecture");
    cr_assert_str_eq(plinth_state_dict_meta_key(d, 2), "general.alignment");
    cr_assert_null(plinth_state_dict_meta_key(d, 29));
    static const struct {
        const char *key;
        int32_t type;
        int64_t value;
    } ints[] = {
        {"test.u8", PLINTH_META_U8, 200},
        {"test.i8", PLINTH_META_I8, -100},
        {"test.u16", PLINTH_META_U16, 60000},
        {"test.i16", PLINTH_META_I16, -30000},
        {"test.u32", PLINTH_META_U32, 4000000000},
        {"test.i32", PLINTH_META_I32, -2000000000},
        {"test.u64_small", PLINTH_META_U64, 12345678901234},
        {"test.i64", PLINTH_META_I64, -(INT64_C(1) << 62) - 3},
        {"general.alignment", PLINTH_META_U32, 64},
    };
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        int64_t v = 0;
        cr_assert_eq(plinth_state_dict_meta_type(d, ints[k].key), ints[k].type, "%s",
                     ints[k].key);
        cr_assert_geq(plinth_state_dict_meta_find(d, ints[k].key), 0);
        OK(plinth_state_dict_meta_int(d, ints[k].key, INT64_MIN, INT64_MAX, &v));
        cr_assert_eq(v, ints[k].value, "%s: %lld", ints[k].key, (long long)v);
        double x;
        if (llabs(ints[k].value) <= (INT64_C(1) << 53)) {
            OK(plinth_state_dict_meta_double(d, ints[k].key, &x));
            cr_assert_eq(x, (double)ints[k].value);
        } else {
            cr_assert_eq(plinth_state_dict_meta_double(d, ints[k].key, &x), PLINTH_ERR_FORMAT);
            msg_has(ints[k].key, "past 2^53", NULL);
        }
    }
    /* Range-checked, naming the key and the range. */
    int64_t v = 7;
    cr_assert_eq(plinth_state_dict_meta_int(d, "test.u8", 0, 100, &v), PLINTH_ERR_FORMAT);
    msg_has(tiny_path(), "'test.u8' is 200, outside [0, 100]", NULL);
    cr_assert_eq(v, 7, "output written on failure");
    cr_assert_eq(plinth_state_dict_meta_int(d, "test.u64", INT64_MIN, INT64_MAX, &v),
                 PLINTH_ERR_FORMAT);
    msg_has("'test.u64' is 9223372036854775813, outside", NULL);
    double x;
    cr_assert_eq(plinth_state_dict_meta_double(d, "test.u64", &x), PLINTH_ERR_FORMAT);
    msg_has("'test.u64'", "2^53", NULL);

    OK(plinth_state_dict_meta_double(d, "test.f32", &x));
    cr_assert_eq(x, 1.5);
    OK(plinth_state_dict_meta_double(d, "test.f64", &x));
    cr_assert_eq(x, 3.141592653589793);
    bool b = false;
    OK(plinth_state_dict_meta_bool(d, "test.bool", &b));
    cr_assert(b);
    OK(plinth_state_dict_meta_bool(d, "test.bool_false", &b));
    cr_assert(!b);
    const char *s;
    uint64_t len;
    OK(plinth_state_dict_meta_string(d, "test.string", &s, &len));
    cr_assert_str_eq(s, "h\xc3\xa9llo w\xc3\xb6rld");
    cr_assert_eq(len, 13);
    OK(plinth_state_dict_meta_string(d, "general.architecture", &s, NULL));
    cr_assert_str_eq(s, "plinth-test");

    /* Wrong kinds: the key, what it is, what was wanted. */
    cr_assert_eq(plinth_state_dict_meta_string(d, "test.u8", &s, NULL), PLINTH_ERR_FORMAT);
    msg_has(tiny_path(), "'test.u8' is u8, wanted a string", NULL);
    cr_assert_eq(plinth_state_dict_meta_int(d, "test.f32", 0, 10, &v), PLINTH_ERR_FORMAT);
    msg_has("'test.f32' is f32, wanted an integer", NULL);
    cr_assert_eq(plinth_state_dict_meta_int(d, "test.bool", 0, 10, &v), PLINTH_ERR_FORMAT);
    msg_has("'test.bool' is bool, wanted an integer", NULL);
    cr_assert_eq(plinth_state_dict_meta_bool(d, "test.u8", &b), PLINTH_ERR_FORMAT);
    msg_has("wanted a bool", NULL);
    cr_assert_eq(plinth_state_dict_meta_double(d, "test.string", &x), PLINTH_ERR_FORMAT);
    msg_has("'test.string' is string, wanted a number", NULL);
    cr_assert_eq(plinth_state_dict_meta_int(d, "test.arr_u8", 0, 10, &v), PLINTH_ERR_FORMAT);
    msg_has("'test.arr_u8' is an array of u8, wanted an integer", NULL);
    cr_assert_eq(plinth_state_dict_meta_int(d, "no.such.key", 0, 10, &v), PLINTH_ERR_FORMAT);
    msg_has(tiny_path(), "no metadata key 'no.such.key'", NULL);
    cr_assert_eq(plinth_state_dict_meta_type(d, "no.such.key"), -1);
    cr_assert_eq(plinth_state_dict_meta_find(d, "no.such.key"), -1);
    cr_assert_eq(plinth_state_dict_meta_find(d, NULL), -1);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

Test(tiny, metadata_arrays)
{
    plinth_state_dict *d = open_ok(tiny_path());
    static const struct {
        const char *key;
        int32_t type;
        uint64_t n;
        int64_t v[4];
    } ints[] = {
        {"test.arr_u8", PLINTH_META_U8, 3, {1, 2, 255}},
        {"test.arr_i8", PLINTH_META_I8, 3, {-128, 0, 127}},
        {"test.arr_u16", PLINTH_META_U16, 2, {0, 65535}},
        {"test.arr_i16", PLINTH_META_I16, 3, {-32768, 32767, 5}},
        {"test.arr_u32", PLINTH_META_U32, 2, {4294967295, 7}},
        {"test.arr_i32", PLINTH_META_I32, 4, {INT32_MIN, INT32_MAX, -1, 0}},
        {"test.arr_bool", PLINTH_META_BOOL, 3, {1, 0, 1}},
        {"test.arr_i64", PLINTH_META_I64, 2, {INT64_MIN, INT64_MAX}},
    };
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        int32_t et = -1;
        uint64_t n = 0;
        cr_assert_eq(plinth_state_dict_meta_type(d, ints[k].key), PLINTH_META_ARRAY);
        OK(plinth_state_dict_meta_array(d, ints[k].key, &et, &n));
        cr_assert_eq(et, ints[k].type, "%s: element type %d", ints[k].key, et);
        cr_assert_eq(n, ints[k].n);
        for (uint64_t i = 0; i < n; i++) {
            int64_t v;
            OK(plinth_state_dict_meta_array_int(d, ints[k].key, i, &v));
            cr_assert_eq(v, ints[k].v[i], "%s[%llu] = %lld", ints[k].key,
                         (unsigned long long)i, (long long)v);
        }
        int64_t v;
        cr_assert_eq(plinth_state_dict_meta_array_int(d, ints[k].key, n, &v),
                     PLINTH_ERR_INVALID);
        msg_has(ints[k].key, "no element", NULL);
    }
    int64_t v;
    cr_assert_eq(plinth_state_dict_meta_array_int(d, "test.arr_u64", 0, &v), PLINTH_ERR_FORMAT);
    msg_has("'test.arr_u64'", "element 0 is above INT64_MAX", NULL);
    OK(plinth_state_dict_meta_array_int(d, "test.arr_u64", 1, &v));
    cr_assert_eq(v, 3);

    double x;
    OK(plinth_state_dict_meta_array_double(d, "test.arr_f32", 1, &x));
    cr_assert_eq(x, -2.25);
    OK(plinth_state_dict_meta_array_double(d, "test.arr_f32", 2, &x));
    cr_assert_eq(x, 1024.0);
    OK(plinth_state_dict_meta_array_double(d, "test.arr_f64", 0, &x));
    cr_assert_eq(x, 0.1);
    OK(plinth_state_dict_meta_array_double(d, "test.arr_f64", 1, &x));
    cr_assert_eq(x, -1e300);
    OK(plinth_state_dict_meta_array_double(d, "test.arr_i16", 0, &x));
    cr_assert_eq(x, -32768.0);

    static const char *const strs[] = {"a", "", "h\xc3\xa9llo", "nul\0inside"};
    static const uint64_t lens[] = {1, 0, 6, 10};
    int32_t et;
    uint64_t n;
    OK(plinth_state_dict_meta_array(d, "test.arr_str", &et, &n));
    cr_assert_eq(et, PLINTH_META_STRING);
    cr_assert_eq(n, 4);
    for (uint64_t i = 0; i < 4; i++) {
        const char *s;
        uint64_t len;
        OK(plinth_state_dict_meta_array_string(d, "test.arr_str", i, &s, &len));
        cr_assert_eq(len, lens[i]);
        cr_assert_eq(memcmp(s, strs[i], len), 0);
        cr_assert_eq(s[len], '\0');
    }

    /* Wrong element kinds. */
    const char *s;
    cr_assert_eq(plinth_state_dict_meta_array_string(d, "test.arr_u8", 0, &s, NULL),
                 PLINTH_ERR_FORMAT);
    msg_has("'test.arr_u8' is an array of u8, wanted an array of strings", NULL);
    cr_assert_eq(plinth_state_dict_meta_array_int(d, "test.arr_f32", 0, &v), PLINTH_ERR_FORMAT);
    msg_has("wanted an array of integers", NULL);
    cr_assert_eq(plinth_state_dict_meta_array_double(d, "test.arr_str", 0, &x),
                 PLINTH_ERR_FORMAT);
    msg_has("wanted an array of numbers", NULL);
    cr_assert_eq(plinth_state_dict_meta_array(d, "test.u8", &et, &n), PLINTH_ERR_FORMAT);
    msg_has("'test.u8' is u8, wanted an array", NULL);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

/* The model loader takes a GGUF dict unchanged: a param from tiny.gguf
 * through a program on ref. */
Test(tiny, model_loads_from_gguf)
{
    const char *ref = getenv("PLINTH_TEST_REF");
    cr_assert(ref, "PLINTH_TEST_REF is not set (run through meson test)");
    plinth_backend *be = NULL;
    plinth_model *m = NULL;
    plinth_graph *g = NULL;
    plinth_program *p = NULL;
    OK(plinth_backend_open(g_ctx, ref, 0, NULL, &be));
    OK(plinth_model_create(be, &m));
    OK(plinth_graph_create(g_ctx, &g));
    const int64_t shape[2] = {3, 5};
    plinth_node w = plinth_param(g, "t.f32", PLINTH_F32, 2, shape);
    OK(plinth_output(g, plinth_scale(g, w, 2.f), "y"));
    OK(plinth_program_compile(m, g, NULL, &p));
    plinth_state_dict *d = open_ok(tiny_path());
    OK(plinth_model_load(m, d, NULL));
    OK(plinth_program_run(p));
    float y[15];
    OK(plinth_program_get_output(p, 0, y, sizeof y));
    for (int i = 0; i < 15; i++)
        cr_assert_eq(y[i], 2.f * ramp(i));
    plinth_state_dict_close(d);
    plinth_program_destroy(p);
    plinth_graph_destroy(g);
    plinth_model_destroy(m);
    plinth_backend_close(be);
    CHECK_NO_LEAKS();
}

/* Block-dtype weights straight from the file: tiny.gguf's q8_0, q4_K and
 * q6_K tensors as matmul weights on ref, against x . dequant(w)^T
 * computed here in f64. */
Test(tiny, block_weights_load_into_a_model)
{
    const char *ref = getenv("PLINTH_TEST_REF");
    cr_assert(ref, "PLINTH_TEST_REF is not set (run through meson test)");
    static const struct {
        const char *name;
        int32_t dtype;
        int64_t n, k;
    } ws[] = {{"t.q8_0", PLINTH_Q8_0, 4, 64}, {"t.q4_K", PLINTH_Q4_K, 2, 256},
              {"t.q6_K", PLINTH_Q6_K, 2, 256}};
    plinth_state_dict *d = open_ok(tiny_path());
    plinth_backend *be = NULL;
    OK(plinth_backend_open(g_ctx, ref, 0, NULL, &be));
    for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++) {
        enum { M = 3 };
        const int64_t N = ws[k].n, K = ws[k].k;
        plinth_model *m = NULL;
        plinth_graph *g = NULL;
        plinth_program *p = NULL;
        OK(plinth_model_create(be, &m));
        OK(plinth_graph_create(g_ctx, &g));
        plinth_node x = plinth_input(g, "x", PLINTH_F32, 2, (const int64_t[]){M, K});
        plinth_node w = plinth_param(g, ws[k].name, ws[k].dtype, 2, (const int64_t[]){N, K});
        OK(plinth_output(g, plinth_matmul(g, x, w, true), "y"));
        OK(plinth_program_compile(m, g, NULL, &p));
        OK(plinth_model_load(m, d, NULL));
        float xs[M * 256], ys[M * 4];
        for (int64_t i = 0; i < M * K; i++)
            xs[i] = gauss();
        OK(plinth_program_set_input(p, 0, xs, (size_t)(M * K) * sizeof *xs));
        OK(plinth_program_run(p));
        OK(plinth_program_get_output(p, 0, ys, (size_t)(M * N) * sizeof *ys));
        int64_t nw;
        float *wf = read_f32(d, ws[k].name, &nw);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t l = 0; l < K; l++)
                    acc += (double)xs[i * K + l] * wf[j * K + l];
                cr_assert_float_eq(ys[i * N + j], acc, 1e-5 * (1 + fabs(acc)),
                                   "%s: y[%lld][%lld] = %g, wanted %g", ws[k].name, (long long)i,
                                   (long long)j, ys[i * N + j], acc);
            }
        free(wf);
        plinth_program_destroy(p);
        plinth_graph_destroy(g);
        plinth_model_destroy(m);
    }
    plinth_backend_close(be);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------ writer --- */

TestSuite(writer, .init = setup, .fini = teardown);

typedef struct ramp_source {
    int calls;
    uint64_t row_bytes;
    bool fail_at_second;
} ramp_source;

/* f32 ramp values by callback: checks it is asked for whole rows in order. */
static plinth_status ramp_rows(void *user, uint64_t offset, void *dst, uint64_t size)
{
    ramp_source *src = user;
    if (offset % src->row_bytes != 0 || size % src->row_bytes != 0)
        return PLINTH_ERR_INTERNAL;
    if (src->fail_at_second && src->calls == 1) {
        src->calls++;
        return PLINTH_ERR_IO;
    }
    src->calls++;
    float *f = dst;
    for (uint64_t i = 0; i < size / 4; i++)
        f[i] = ramp((int64_t)(offset / 4 + i));
    return PLINTH_OK;
}

Test(writer, round_trip_every_type)
{
    const char *path = tmp_path("rt.gguf");
    plinth_gguf_writer *w = NULL;
    OK(plinth_gguf_writer_create(g_ctx, path, &w));
    OK(plinth_gguf_writer_add_string(w, "general.architecture", "llama"));
    OK(plinth_gguf_writer_add_int(w, "k.u8", PLINTH_META_U8, 255));
    OK(plinth_gguf_writer_add_int(w, "k.i8", PLINTH_META_I8, -128));
    OK(plinth_gguf_writer_add_int(w, "k.u16", PLINTH_META_U16, 65535));
    OK(plinth_gguf_writer_add_int(w, "k.i16", PLINTH_META_I16, -32768));
    OK(plinth_gguf_writer_add_int(w, "k.u32", PLINTH_META_U32, 4294967295));
    OK(plinth_gguf_writer_add_int(w, "k.i32", PLINTH_META_I32, INT32_MIN));
    OK(plinth_gguf_writer_add_int(w, "k.u64", PLINTH_META_U64, INT64_MAX));
    OK(plinth_gguf_writer_add_int(w, "k.i64", PLINTH_META_I64, INT64_MIN));
    OK(plinth_gguf_writer_add_float(w, "k.f32", PLINTH_META_F32, 0.1));
    OK(plinth_gguf_writer_add_float(w, "k.f64", PLINTH_META_F64, 0.1));
    OK(plinth_gguf_writer_add_bool(w, "k.bool", true));
    OK(plinth_gguf_writer_add_string(w, "k.str", "tokens \xe2\x96\x81"));
    const float fa[3] = {1.5f, -0.25f, 3e38f};
    OK(plinth_gguf_writer_add_array(w, "k.arr_f32", PLINTH_META_F32, fa, 3));
    const int32_t ia[4] = {3, -4, 5, INT32_MIN};
    OK(plinth_gguf_writer_add_array(w, "k.arr_i32", PLINTH_META_I32, ia, 4));
    const bool ba[2] = {false, true};
    OK(plinth_gguf_writer_add_array(w, "k.arr_bool", PLINTH_META_BOOL, ba, 2));
    const uint64_t ua[1] = {UINT64_MAX};
    OK(plinth_gguf_writer_add_array(w, "k.arr_u64", PLINTH_META_U64, ua, 1));
    OK(plinth_gguf_writer_add_array(w, "k.arr_empty", PLINTH_META_U32, NULL, 0));
    const char *strs[3] = {"<s>", "a\0b", ""};
    const uint64_t lens[3] = {3, 3, 0};
    OK(plinth_gguf_writer_add_string_array(w, "k.arr_str", strs, lens, 3));
    OK(plinth_gguf_writer_add_string_array(w, "k.arr_str2", strs, NULL, 2));

    /* Tensors of every dtype the writer takes. */
    enum { R = 3, C = 512 };
    float *x = malloc(R * C * sizeof *x);
    for (int i = 0; i < R * C; i++)
        x[i] = gauss();
    static const int32_t dts[] = {PLINTH_F32, PLINTH_F16,  PLINTH_BF16, PLINTH_Q8_0,
                                  PLINTH_Q4_0, PLINTH_Q4_K, PLINTH_Q6_K};
    enum { NDT = sizeof dts / sizeof dts[0] };
    void *data[NDT];
    const int64_t shape[2] = {R, C};
    for (int k = 0; k < NDT; k++) {
        const uint64_t row = plinth_dtype_row_bytes(dts[k], C);
        data[k] = malloc(R * row);
        for (int r = 0; r < R; r++)
            OK(plinth_quantize_row(dts[k], x + r * C, C, (uint8_t *)data[k] + r * row));
        char name[32];
        snprintf(name, sizeof name, "w.%s", plinth_dtype_label(dts[k]));
        OK(plinth_gguf_writer_add_tensor(w, name, dts[k], 2, shape, data[k]));
    }
    const int32_t iv[5] = {1, -2, 3, -4, 5};
    OK(plinth_gguf_writer_add_tensor(w, "w.i32", PLINTH_I32, 1, (const int64_t[]){5}, iv));
    ramp_source src = {.row_bytes = 7 * 4};
    OK(plinth_gguf_writer_add_tensor_fn(w, "w.cb", PLINTH_F32, 3, (const int64_t[]){2, 3, 7},
                                        ramp_rows, &src));
    OK(plinth_gguf_writer_write(w));
    cr_assert_eq(plinth_gguf_writer_write(w), PLINTH_ERR_INVALID, "written twice");
    plinth_gguf_writer_destroy(w);
    cr_assert_eq(src.calls, 1);
    char partial[600];
    snprintf(partial, sizeof partial, "%s.partial", path);
    cr_assert(!exists(partial), "the partial file is left");

    plinth_state_dict *d = open_ok(path);
    cr_assert_eq(plinth_state_dict_meta_count(d), 20);
    cr_assert_str_eq(plinth_state_dict_meta_key(d, 0), "general.architecture");
    cr_assert_str_eq(plinth_state_dict_meta_key(d, 19), "k.arr_str2");
    static const struct {
        const char *key;
        int32_t type;
        int64_t v;
    } ints[] = {{"k.u8", PLINTH_META_U8, 255},          {"k.i8", PLINTH_META_I8, -128},
                {"k.u16", PLINTH_META_U16, 65535},       {"k.i16", PLINTH_META_I16, -32768},
                {"k.u32", PLINTH_META_U32, 4294967295},  {"k.i32", PLINTH_META_I32, INT32_MIN},
                {"k.u64", PLINTH_META_U64, INT64_MAX},   {"k.i64", PLINTH_META_I64, INT64_MIN}};
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        int64_t v;
        cr_assert_eq(plinth_state_dict_meta_type(d, ints[k].key), ints[k].type);
        OK(plinth_state_dict_meta_int(d, ints[k].key, INT64_MIN, INT64_MAX, &v));
        cr_assert_eq(v, ints[k].v, "%s", ints[k].key);
    }
    double f;
    OK(plinth_state_dict_meta_double(d, "k.f32", &f));
    cr_assert_eq(f, (double)0.1f);
    OK(plinth_state_dict_meta_double(d, "k.f64", &f));
    cr_assert_eq(f, 0.1);
    bool b;
    OK(plinth_state_dict_meta_bool(d, "k.bool", &b));
    cr_assert(b);
    const char *s;
    uint64_t len, n;
    int32_t et;
    OK(plinth_state_dict_meta_string(d, "k.str", &s, &len));
    cr_assert_str_eq(s, "tokens \xe2\x96\x81");
    for (int i = 0; i < 3; i++) {
        OK(plinth_state_dict_meta_array_double(d, "k.arr_f32", (uint64_t)i, &f));
        cr_assert_eq(f, (double)fa[i]);
    }
    for (int i = 0; i < 4; i++) {
        int64_t v;
        OK(plinth_state_dict_meta_array_int(d, "k.arr_i32", (uint64_t)i, &v));
        cr_assert_eq(v, ia[i]);
    }
    int64_t v;
    OK(plinth_state_dict_meta_array_int(d, "k.arr_bool", 1, &v));
    cr_assert_eq(v, 1);
    cr_assert_eq(plinth_state_dict_meta_array_int(d, "k.arr_u64", 0, &v), PLINTH_ERR_FORMAT);
    OK(plinth_state_dict_meta_array(d, "k.arr_empty", &et, &n));
    cr_assert_eq(et, PLINTH_META_U32);
    cr_assert_eq(n, 0);
    OK(plinth_state_dict_meta_array(d, "k.arr_str", &et, &n));
    cr_assert_eq(n, 3);
    for (uint64_t i = 0; i < 3; i++) {
        OK(plinth_state_dict_meta_array_string(d, "k.arr_str", i, &s, &len));
        cr_assert_eq(len, lens[i]);
        cr_assert_eq(memcmp(s, strs[i], len), 0);
    }
    OK(plinth_state_dict_meta_array_string(d, "k.arr_str2", 1, &s, &len));
    cr_assert_eq(len, 1, "strlen stops at the NUL");

    for (int k = 0; k < NDT; k++) {
        char name[32];
        snprintf(name, sizeof name, "w.%s", plinth_dtype_label(dts[k]));
        plinth_tensor_info ti = info_of(d, name);
        cr_assert_eq(ti.dtype, dts[k]);
        expect_shape(&ti, 2, shape);
        uint64_t bytes;
        void *back = read_all(d, name, &bytes);
        cr_assert_eq(bytes, R * plinth_dtype_row_bytes(dts[k], C));
        cr_assert_eq(memcmp(back, data[k], bytes), 0, "%s: bytes differ", name);
        free(back);
        free(data[k]);
    }
    int32_t *ib = read_all(d, "w.i32", NULL);
    cr_assert_eq(memcmp(ib, iv, sizeof iv), 0);
    free(ib);
    int64_t m;
    float *cb = read_f32(d, "w.cb", &m);
    plinth_tensor_info ti = info_of(d, "w.cb");
    expect_shape(&ti, 3, (const int64_t[]){2, 3, 7});
    for (int64_t i = 0; i < m; i++)
        cr_assert_eq(cb[i], ramp(i));
    free(cb);
    free(x);
    /* Default alignment: every tensor on 32 bytes. */
    for (uint32_t i = 0; i < plinth_state_dict_count(d); i++) {
        cr_assert_eq(st_at(d, i)->begin % 32, 0);
        cr_assert_eq((d->files[0].data_start) % 32, 0);
    }
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

Test(writer, custom_alignment_and_contiguous_offsets)
{
    const char *path = tmp_path("al.gguf");
    plinth_gguf_writer *w = NULL;
    OK(plinth_gguf_writer_create(g_ctx, path, &w));
    OK(plinth_gguf_writer_add_int(w, "general.alignment", PLINTH_META_U32, 256));
    const float a[3] = {1, 2, 3}, b[5] = {4, 5, 6, 7, 8};
    OK(plinth_gguf_writer_add_tensor(w, "z.a", PLINTH_F32, 1, (const int64_t[]){3}, a));
    OK(plinth_gguf_writer_add_tensor(w, "a.b", PLINTH_F32, 1, (const int64_t[]){5}, b));
    OK(plinth_gguf_writer_write(w));
    plinth_gguf_writer_destroy(w);
    plinth_state_dict *d = open_ok(path);
    /* llama.cpp wants offsets in order, each the padded end of the last. */
    cr_assert_eq(st_at(d, (uint32_t)plinth_state_dict_find(d, "z.a"))->begin, 0);
    cr_assert_eq(st_at(d, (uint32_t)plinth_state_dict_find(d, "a.b"))->begin, 256);
    cr_assert_eq(d->files[0].data_start % 256, 0);
    cr_assert_eq(d->files[0].size, d->files[0].data_start + 512);
    float back[5];
    OK(plinth_state_dict_read(d, (uint32_t)plinth_state_dict_find(d, "a.b"), 0, back, 20));
    cr_assert_eq(memcmp(back, b, 20), 0);
    plinth_state_dict_close(d);

    /* No tensors, no metadata: a valid, empty file. */
    const char *empty = tmp_path("empty.gguf");
    OK(plinth_gguf_writer_create(g_ctx, empty, &w));
    OK(plinth_gguf_writer_write(w));
    plinth_gguf_writer_destroy(w);
    d = open_ok(empty);
    cr_assert_eq(plinth_state_dict_count(d), 0);
    cr_assert_eq(plinth_state_dict_meta_count(d), 0);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

/* Each refused add: its status and a message naming the file and the key
 * or tensor; the first one is kept and write then refuses, writing
 * nothing. */
Test(writer, refusals)
{
    const char *path = tmp_path("bad.gguf");
    plinth_gguf_writer *w = NULL;
    OK(plinth_gguf_writer_create(g_ctx, path, &w));
    OK(plinth_gguf_writer_add_int(w, "a", PLINTH_META_U8, 1));
    cr_assert_eq(plinth_gguf_writer_add_int(w, "a", PLINTH_META_U8, 2), PLINTH_ERR_INVALID);
    msg_has(path, "'a' added twice", NULL);
    cr_assert_eq(plinth_gguf_writer_add_int(w, "b", PLINTH_META_U8, 256), PLINTH_ERR_INVALID);
    msg_has(path, "'b': 256 is outside u8's range", NULL);
    cr_assert_eq(plinth_gguf_writer_add_int(w, "b", PLINTH_META_I32, INT64_C(1) << 40),
                 PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_gguf_writer_add_int(w, "b", PLINTH_META_U64, -1), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_gguf_writer_add_int(w, "b", PLINTH_META_F32, 1), PLINTH_ERR_INVALID);
    msg_has("f32 is not an integer type", NULL);
    cr_assert_eq(plinth_gguf_writer_add_float(w, "b", PLINTH_META_F32, 1e39),
                 PLINTH_ERR_INVALID);
    msg_has("outside f32's range", NULL);
    cr_assert_eq(plinth_gguf_writer_add_float(w, "b", PLINTH_META_U8, 1), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_gguf_writer_add_int(w, "", PLINTH_META_U8, 1), PLINTH_ERR_INVALID);
    msg_has("has 0 bytes", NULL);
    cr_assert_eq(plinth_gguf_writer_add_int(w, NULL, PLINTH_META_U8, 1), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_gguf_writer_add_string(w, "b", NULL), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_gguf_writer_add_array(w, "b", PLINTH_META_STRING, "x", 1),
                 PLINTH_ERR_INVALID);
    msg_has("plinth_gguf_writer_add_string_array", NULL);
    cr_assert_eq(plinth_gguf_writer_add_array(w, "b", PLINTH_META_ARRAY, "x", 1),
                 PLINTH_ERR_INVALID);
    const uint8_t bad_bools[2] = {1, 7};
    cr_assert_eq(plinth_gguf_writer_add_array(w, "b", PLINTH_META_BOOL, bad_bools, 2),
                 PLINTH_ERR_INVALID);
    msg_has("bool element 1 is not 0 or 1", NULL);
    const char *strs[2] = {"x", NULL};
    cr_assert_eq(plinth_gguf_writer_add_string_array(w, "b", strs, NULL, 2), PLINTH_ERR_INVALID);
    msg_has("string 1 is NULL", NULL);
    cr_assert_eq(plinth_gguf_writer_add_int(w, "general.alignment", PLINTH_META_U32, 48),
                 PLINTH_ERR_INVALID);
    msg_has("general.alignment must be a u32 power of two", NULL);
    cr_assert_eq(plinth_gguf_writer_add_int(w, "general.alignment", PLINTH_META_U64, 64),
                 PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_gguf_writer_add_string(w, "general.alignment", "64"),
                 PLINTH_ERR_INVALID);

    const float f[64] = {0};
    const int64_t s1[1] = {64};
    char long_name[65];
    memset(long_name, 'n', 64);
    long_name[64] = '\0';
    cr_assert_eq(plinth_gguf_writer_add_tensor(w, long_name, PLINTH_F32, 1, s1, f),
                 PLINTH_ERR_INVALID);
    msg_has(path, "name of 64 bytes", NULL);
    long_name[63] = '\0';
    OK(plinth_gguf_writer_add_tensor(w, long_name, PLINTH_F32, 1, s1, f));
    cr_assert_eq(plinth_gguf_writer_add_tensor(w, long_name, PLINTH_F32, 1, s1, f),
                 PLINTH_ERR_INVALID);
    msg_has("added twice", NULL);
    cr_assert_eq(plinth_gguf_writer_add_tensor(w, "q", PLINTH_Q8_0, 1, (const int64_t[]){48}, f),
                 PLINTH_ERR_INVALID);
    msg_has("'q': rows of 48 elements are not whole q8_0 blocks (of 32)", NULL);
    cr_assert_eq(plinth_gguf_writer_add_tensor(w, "q", 99, 1, s1, f), PLINTH_ERR_INVALID);
    msg_has("'q': dtype ? cannot be written", NULL);
    cr_assert_eq(plinth_gguf_writer_add_tensor(w, "q", PLINTH_F32, 5,
                                               (const int64_t[]){1, 1, 1, 1, 64}, f),
                 PLINTH_ERR_INVALID);
    msg_has("'q': 5 dims", NULL);
    cr_assert_eq(plinth_gguf_writer_add_tensor(w, "q", PLINTH_F32, 2, (const int64_t[]){0, 64},
                                               f),
                 PLINTH_ERR_INVALID);
    msg_has("'q': shape[0] is 0", NULL);
    cr_assert_eq(plinth_gguf_writer_add_tensor(w, "q", PLINTH_F32, 2,
                                               (const int64_t[]){INT64_MAX, 64}, f),
                 PLINTH_ERR_INVALID);
    msg_has("'q': larger than", NULL);
    cr_assert_eq(plinth_gguf_writer_add_tensor(w, "q", PLINTH_F32, 1, s1, NULL),
                 PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_gguf_writer_add_tensor_fn(w, "q", PLINTH_F32, 1, s1, NULL, NULL),
                 PLINTH_ERR_INVALID);

    /* The first failure is what write reports. */
    cr_assert_eq(plinth_gguf_writer_write(w), PLINTH_ERR_INVALID);
    msg_has(path, "not written: an add failed first", "'a' added twice", NULL);
    cr_assert(!exists(path));
    plinth_gguf_writer_destroy(w);

    cr_assert_eq(plinth_gguf_writer_create(g_ctx, NULL, &w), PLINTH_ERR_INVALID);
    cr_assert_null(w);
    CHECK_NO_LEAKS();
}

Test(writer, io_and_callback_failures_leave_no_file)
{
    const char *dir_path = tmp_path("no/such/dir/x.gguf");
    plinth_gguf_writer *w = NULL;
    OK(plinth_gguf_writer_create(g_ctx, dir_path, &w));
    OK(plinth_gguf_writer_add_int(w, "a", PLINTH_META_U8, 1));
    cr_assert_eq(plinth_gguf_writer_write(w), PLINTH_ERR_IO);
    msg_has(dir_path, "cannot create", NULL);
    plinth_gguf_writer_destroy(w);

    /* A callback that fails on its second call: the message names the
     * file, the tensor and the bytes; nothing is left behind. */
    const char *path = tmp_path("cb.gguf");
    OK(plinth_gguf_writer_create(g_ctx, path, &w));
    ramp_source src = {.row_bytes = 1024 * 4, .fail_at_second = true};
    /* 2048 rows of 4 KiB: at least two 4 MiB chunks. */
    OK(plinth_gguf_writer_add_tensor_fn(w, "big", PLINTH_F32, 2, (const int64_t[]){2048, 1024},
                                        ramp_rows, &src));
    cr_assert_eq(plinth_gguf_writer_write(w), PLINTH_ERR_IO);
    msg_has(path, "tensor 'big': bytes [4194304, +4194304)", NULL);
    cr_assert_eq(src.calls, 2);
    cr_assert(!exists(path));
    char partial[600];
    snprintf(partial, sizeof partial, "%s.partial", path);
    cr_assert(!exists(partial), "the partial file is left");
    plinth_gguf_writer_destroy(w);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------- quant --- */

TestSuite(quant, .init = setup, .fini = teardown);

typedef struct err_stats {
    double rel_rms;  /* sqrt(sum err^2 / sum x^2)                    */
    double max_rel;  /* max over blocks of max|err| / max|x| in block */
} err_stats;

static err_stats round_trip_error(int32_t dt, const float *x, int64_t n)
{
    const uint64_t bytes = plinth_dtype_row_bytes(dt, n);
    uint8_t *q = malloc(bytes);
    float *y = malloc((size_t)n * sizeof *y);
    OK(plinth_quantize_row(dt, x, n, q));
    OK(plinth_dequantize_row(dt, q, n, y));
    const int64_t be = (int64_t)plinth_dtype_block_elems(dt);
    double se = 0, sx = 0, max_rel = 0;
    for (int64_t b = 0; b < n / be; b++) {
        double amax = 0, emax = 0;
        for (int64_t i = b * be; i < (b + 1) * be; i++) {
            const double e = (double)x[i] - y[i];
            se += e * e;
            sx += (double)x[i] * x[i];
            amax = fmax(amax, fabs(x[i]));
            emax = fmax(emax, fabs(e));
        }
        if (amax > 0)
            max_rel = fmax(max_rel, emax / amax);
    }
    free(q);
    free(y);
    return (err_stats){sqrt(se / sx), max_rel};
}

/* Bounds on Gaussian rows (a third of the values 100 times smaller, as
 * weights of mixed magnitude). The largest error per block, from the
 * formats: q8_0 rounds to 1/254 of the block's max|x| (plus f16's rounding
 * of the scale), q4_0 to 1/16 (the value opposite the extreme may be
 * clamped by 1/8). The K types fit their scales, so their bounds, and the
 * rms bounds, are the measured values with a margin of about 1.25 (rel.
 * rms: q8_0 0.0061, q4_0 0.081, q4_K 0.073, q6_K 0.017; largest error /
 * block max: q4_K 0.065, q6_K 0.016). */
Test(quant, error_bounds)
{
    enum { N = 256 * 64 };
    float *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++)
        x[i] = gauss() * (i % 3 == 0 ? 0.01f : 1.f);
    static const struct {
        int32_t dt;
        double rel_rms, max_rel;
    } want[] = {
        {PLINTH_Q8_0, 0.008, 0.5 / 127 * 1.01 + 127 / 2048.0 / 127},
        {PLINTH_Q4_0, 0.10, 1.0 / 8 * 1.01 + 8 / 2048.0 / 8},
        {PLINTH_Q4_K, 0.09, 0.08},
        {PLINTH_Q6_K, 0.022, 0.02},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        err_stats e = round_trip_error(want[k].dt, x, N);
        cr_log_info("%s: rel. rms error %.5f, max error / block max %.5f",
                    plinth_dtype_label(want[k].dt), e.rel_rms, e.max_rel);
        cr_assert_lt(e.rel_rms, want[k].rel_rms, "%s: rel. rms error %g",
                     plinth_dtype_label(want[k].dt), e.rel_rms);
        cr_assert_lt(e.max_rel, want[k].max_rel, "%s: max error %g of the block's max",
                     plinth_dtype_label(want[k].dt), e.max_rel);
        cr_assert_gt(e.rel_rms, 0, "%s: no error at all: the test would prove nothing",
                     plinth_dtype_label(want[k].dt));
    }
    /* More bits, less error. */
    cr_assert_lt(round_trip_error(PLINTH_Q6_K, x, N).rel_rms,
                 round_trip_error(PLINTH_Q4_K, x, N).rel_rms);
    cr_assert_lt(round_trip_error(PLINTH_Q4_K, x, N).rel_rms,
                 round_trip_error(PLINTH_Q4_0, x, N).rel_rms);
    free(x);
}

/* Quantising what a q8_0 or q4_0 block dequantises to gives the block
 * back, byte for byte (the largest value maps to the same scale, every
 * other value to its level exactly); q4_K and q6_K fit their scales
 * afresh, so they come back close, not equal. */
Test(quant, requantise_round_trips)
{
    enum { N = 256 * 16 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *z = malloc(N * sizeof *z);
    uint8_t *a = malloc(N * 2), *b = malloc(N * 2);
    for (int i = 0; i < N; i++)
        x[i] = gauss() * 3.f;
    static const int32_t exact[] = {PLINTH_Q8_0, PLINTH_Q4_0};
    for (size_t k = 0; k < 2; k++) {
        const uint64_t bytes = plinth_dtype_row_bytes(exact[k], N);
        OK(plinth_quantize_row(exact[k], x, N, a));
        OK(plinth_dequantize_row(exact[k], a, N, y));
        OK(plinth_quantize_row(exact[k], y, N, b));
        cr_assert_eq(memcmp(a, b, bytes), 0, "%s: re-quantised blocks differ",
                     plinth_dtype_label(exact[k]));
    }
    static const int32_t close_[] = {PLINTH_Q4_K, PLINTH_Q6_K};
    for (size_t k = 0; k < 2; k++) {
        OK(plinth_quantize_row(close_[k], x, N, a));
        OK(plinth_dequantize_row(close_[k], a, N, y));
        OK(plinth_quantize_row(close_[k], y, N, b));
        OK(plinth_dequantize_row(close_[k], b, N, z));
        double se = 0, sy = 0;
        for (int i = 0; i < N; i++) {
            se += ((double)y[i] - z[i]) * ((double)y[i] - z[i]);
            sy += (double)y[i] * y[i];
        }
        cr_assert_lt(sqrt(se / sy), close_[k] == PLINTH_Q4_K ? 0.05 : 0.01, "%s: %g",
                     plinth_dtype_label(close_[k]), sqrt(se / sy));
    }
    free(x), free(y), free(z), free(a), free(b);
}

/* Blocks of zeros, of one value, and of one outlier among zeros. */
Test(quant, special_blocks)
{
    static const int32_t dts[] = {PLINTH_Q8_0, PLINTH_Q4_0, PLINTH_Q4_K, PLINTH_Q6_K};
    float x[256], y[256];
    uint8_t q[256];
    for (size_t k = 0; k < 4; k++) {
        const int32_t dt = dts[k];
        const int n = (int)plinth_dtype_block_elems(dt);
        memset(x, 0, sizeof x);
        OK(plinth_quantize_row(dt, x, n, q));
        OK(plinth_dequantize_row(dt, q, n, y));
        for (int i = 0; i < n; i++)
            cr_assert_eq(y[i], 0.f, "%s: zeros give %g", plinth_dtype_label(dt), y[i]);
        for (int i = 0; i < n; i++)
            x[i] = -0.75f;
        OK(plinth_quantize_row(dt, x, n, q));
        OK(plinth_dequantize_row(dt, q, n, y));
        for (int i = 0; i < n; i++)
            cr_assert_float_eq(y[i], -0.75f, 0.75f * 0.01f, "%s: a constant block gives %g",
                               plinth_dtype_label(dt), y[i]);
        memset(x, 0, sizeof x);
        x[n / 2 + 1] = 100.f;
        OK(plinth_quantize_row(dt, x, n, q));
        OK(plinth_dequantize_row(dt, q, n, y));
        cr_assert_float_eq(y[n / 2 + 1], 100.f, 1.f, "%s: the outlier gives %g",
                           plinth_dtype_label(dt), y[n / 2 + 1]);
    }
}

Test(quant, plain_dtypes_and_refusals)
{
    float x[256], y[256];
    uint8_t q[512];
    for (int i = 0; i < 64; i++)
        x[i] = ramp(i) * 3.f;
    static const int32_t plain[] = {PLINTH_F32, PLINTH_F16, PLINTH_BF16};
    for (size_t k = 0; k < 3; k++) {
        OK(plinth_quantize_row(plain[k], x, 63, q)); /* no blocks: any n */
        OK(plinth_dequantize_row(plain[k], q, 63, y));
        for (int i = 0; i < 63; i++)
            cr_assert_eq(y[i], x[i], "%s", plinth_dtype_label(plain[k]));
    }
    x[5] = NAN;
    cr_assert_eq(plinth_quantize_row(PLINTH_Q8_0, x, 32, q), PLINTH_ERR_INVALID);
    for (int i = 0; i < 256; i++)
        x[i] = 1.f;
    x[200] = INFINITY;
    cr_assert_eq(plinth_quantize_row(PLINTH_Q4_K, x, 256, q), PLINTH_ERR_INVALID);
    x[200] = -INFINITY;
    cr_assert_eq(plinth_quantize_row(PLINTH_Q6_K, x, 256, q), PLINTH_ERR_INVALID);
    x[200] = 1.f;
    OK(plinth_quantize_row(PLINTH_Q6_K, x, 256, q));
    x[3] = 9e6f; /* q8_0's f16 scale tops out at 65504: about 8.3e6 */
    cr_assert_eq(plinth_quantize_row(PLINTH_Q8_0, x, 32, q), PLINTH_ERR_INVALID);
    x[3] = 8e6f;
    OK(plinth_quantize_row(PLINTH_Q8_0, x, 32, q));
    x[3] = 6e5f;
    cr_assert_eq(plinth_quantize_row(PLINTH_Q4_0, x, 32, q), PLINTH_ERR_INVALID);
    x[3] = 1.f;
    cr_assert_eq(plinth_quantize_row(PLINTH_Q8_0, x, 33, q), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_quantize_row(PLINTH_Q8_0, x, -32, q), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_quantize_row(PLINTH_I32, x, 32, q), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_quantize_row(99, x, 0, q), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_quantize_row(PLINTH_Q8_0, NULL, 32, q), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_quantize_row(PLINTH_Q8_0, x, 32, NULL), PLINTH_ERR_INVALID);
    OK(plinth_quantize_row(PLINTH_Q8_0, NULL, 0, NULL));
    cr_assert_eq(plinth_dequantize_row(PLINTH_I32, q, 4, y), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_dequantize_row(PLINTH_Q6_K, q, 255, y), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_dequantize_row(PLINTH_Q6_K, NULL, 256, y), PLINTH_ERR_INVALID);
}

/* The table behind the reader agrees with the ABI's block sizes. */
Test(quant, type_table_matches_the_abi)
{
    int mapped = 0;
    for (int32_t id = -2; id < 64; id++) {
        const gguf_type_info *t = gguf_type_find(id);
        if (!t || t->dtype < 0)
            continue;
        mapped++;
        cr_assert_eq(t->block_elems, plinth_dtype_block_elems(t->dtype), "%s", t->name);
        cr_assert_eq(t->block_bytes, plinth_dtype_block_bytes(t->dtype), "%s", t->name);
        cr_assert_eq(gguf_type_of_dtype(t->dtype), t);
    }
    cr_assert_eq(mapped, PLINTH_DTYPE_COUNT, "every plinth dtype has a ggml type");
    cr_assert_null(gguf_type_find(4), "removed Q4_2 is unknown");
    cr_assert_null(gguf_type_find(31));
    cr_assert_eq(gguf_type_find(13)->dtype, -1);
    cr_assert_str_eq(gguf_type_find(13)->name, "Q5_K");
}

/* ----------------------------------------------------------- hostile --- */

TestSuite(hostile, .init = setup, .fini = teardown);

/* A GGUF image built by hand. */
typedef struct gb {
    uint8_t *p;
    size_t n, cap;
} gb;

static void put(gb *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        cr_assert_not_null(b->p);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void u32(gb *b, uint32_t v) { put(b, &v, 4); }
static void u64(gb *b, uint64_t v) { put(b, &v, 8); }
static void str(gb *b, const char *s)
{
    u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void header(gb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, n_tensors);
    u64(b, n_kv);
}
static void kv_u32(gb *b, const char *key, uint32_t v)
{
    str(b, key);
    u32(b, PLINTH_META_U32);
    u32(b, v);
}
static void kv_str(gb *b, const char *key, const char *v)
{
    str(b, key);
    u32(b, PLINTH_META_STRING);
    str(b, v);
}
static void info(gb *b, const char *name, uint32_t n_dims, const int64_t *ne, int32_t type,
                 uint64_t offset)
{
    str(b, name);
    u32(b, n_dims);
    put(b, ne, 8 * (size_t)n_dims);
    u32(b, (uint32_t)type);
    u64(b, offset);
}
static void pad_to(gb *b, size_t align)
{
    while (b->n % align)
        put(b, "", 1);
}
static void zeros(gb *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(b, "", 1);
}
static const char *save(gb *b, const char *name)
{
    const char *path = tmp_path(name);
    write_bytes(path, b->p, b->n);
    free(b->p);
    *b = (gb){0};
    return path;
}

/* A valid file with several value types and two tensors: f32 [2, 4] at 0
 * and q8_0 [1, 32] at 32; `data_at` gets where its data section starts. */
static gb good(size_t *data_at)
{
    gb b = {0};
    header(&b, 3, 2, 4);
    kv_str(&b, "general.architecture", "llama");
    kv_u32(&b, "llama.block_count", 2);
    str(&b, "tokenizer.ggml.tokens");
    u32(&b, PLINTH_META_ARRAY);
    u32(&b, PLINTH_META_STRING);
    u64(&b, 3);
    str(&b, "<s>");
    str(&b, "a");
    str(&b, "bc");
    str(&b, "tokenizer.ggml.scores");
    u32(&b, PLINTH_META_ARRAY);
    u32(&b, PLINTH_META_F32);
    u64(&b, 3);
    const float sc[3] = {0, -1, -2};
    put(&b, sc, sizeof sc);
    info(&b, "a.weight", 2, (const int64_t[]){4, 2}, 0, 0);
    info(&b, "b.weight", 2, (const int64_t[]){32, 1}, 8, 32);
    pad_to(&b, 32);
    if (data_at)
        *data_at = b.n;
    zeros(&b, 32 + 34);
    return b;
}

Test(hostile, good_file_opens)
{
    size_t at;
    gb b = good(&at);
    plinth_state_dict *d = open_ok(save(&b, "good.gguf"));
    cr_assert_eq(plinth_state_dict_count(d), 2);
    cr_assert_eq(d->files[0].data_start, at);
    plinth_tensor_info ti = info_of(d, "a.weight");
    expect_shape(&ti, 2, (const int64_t[]){2, 4});
    const char *s;
    OK(plinth_state_dict_meta_array_string(d, "tokenizer.ggml.tokens", 2, &s, NULL));
    cr_assert_str_eq(s, "bc");
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

/* Cut at every 1/16 of the header (and at every byte, for the status):
 * always an error naming the file, never a crash. */
Test(hostile, truncated_everywhere)
{
    size_t at;
    gb b = good(&at);
    const size_t full = b.n;
    uint8_t *bytes = b.p;
    const char *path = tmp_path("cut.gguf");
    for (int k = 1; k < 16; k++) {
        const size_t n = at * (size_t)k / 16;
        write_bytes(path, bytes, n);
        plinth_state_dict *d = (plinth_state_dict *)1;
        plinth_status s = plinth_state_dict_open(g_ctx, path, &d);
        cr_assert_eq(s, PLINTH_ERR_FORMAT, "cut at %zu: %s", n, plinth_context_error(g_ctx));
        cr_assert_null(d);
        msg_has(path, n < 4 ? "" : "truncated", NULL);
    }
    for (size_t n = 0; n < full; n++) {
        write_bytes(path, bytes, n);
        plinth_state_dict *d = (plinth_state_dict *)1;
        cr_assert_neq(plinth_state_dict_open(g_ctx, path, &d), PLINTH_OK, "cut at %zu", n);
        cr_assert_null(d);
        msg_has(path, NULL);
    }
    write_bytes(path, bytes, full - 1); /* one byte short of the last tensor */
    expect_fail(path, PLINTH_ERR_FORMAT, "tensor 'b.weight': bytes [32, +34) run past the data "
                                         "section (65 bytes; truncated?)");
    free(bytes);
}

/* The file shrinks after it was opened: reading is an error, not a
 * SIGBUS. */
Test(hostile, truncated_after_open)
{
    gb b = good(NULL);
    const size_t full = b.n;
    uint8_t *bytes = b.p;
    const char *path = tmp_path("shrinks.gguf");
    write_bytes(path, bytes, full);
    plinth_state_dict *d = open_ok(path);
    cr_assert_eq(truncate(path, (off_t)full - 40), 0);
    uint8_t buf[34];
    cr_assert_eq(plinth_state_dict_read(d, (uint32_t)plinth_state_dict_find(d, "b.weight"), 0,
                                        buf, 34),
                 PLINTH_ERR_IO);
    msg_has(path, "changed since it was opened", NULL);
    plinth_state_dict_close(d);
    free(bytes);
    CHECK_NO_LEAKS();
}

Test(hostile, lying_counts)
{
    gb b = {0};
    header(&b, 3, 0, UINT64_C(1) << 63);
    kv_u32(&b, "a", 1);
    expect_fail(save(&b, "kv63.gguf"), PLINTH_ERR_FORMAT,
                "header says 9223372036854775808 metadata keys (at most 65536)");
    header(&b, 3, UINT64_C(1) << 63, 0);
    expect_fail(save(&b, "t63.gguf"), PLINTH_ERR_FORMAT,
                "header says 9223372036854775808 tensors (at most 1000000)");
    header(&b, 3, 1000, 1000);
    kv_u32(&b, "a", 1);
    expect_fail(save(&b, "t1000.gguf"), PLINTH_ERR_FORMAT,
                "header says 1000 metadata keys and 1000 tensors, which need at least 39000 "
                "bytes");
    /* An array claiming 2^62 elements. */
    header(&b, 3, 0, 1);
    str(&b, "arr");
    u32(&b, PLINTH_META_ARRAY);
    u32(&b, PLINTH_META_U32);
    u64(&b, UINT64_C(1) << 62);
    u32(&b, 5);
    expect_fail(save(&b, "arr62.gguf"), PLINTH_ERR_FORMAT,
                "metadata key 'arr': an array of 4611686018427387904 elements cannot fit");
    header(&b, 3, 0, 1);
    str(&b, "arr");
    u32(&b, PLINTH_META_ARRAY);
    u32(&b, PLINTH_META_STRING);
    u64(&b, UINT64_MAX);
    expect_fail(save(&b, "arrs.gguf"), PLINTH_ERR_FORMAT,
                "'arr': an array of 18446744073709551615 elements cannot fit");
}

Test(hostile, lengths_past_the_end)
{
    gb b = {0};
    header(&b, 3, 0, 1);
    u64(&b, UINT64_C(1) << 40); /* a key of 2^40 bytes */
    put(&b, "abc", 3);
    zeros(&b, 8);
    expect_fail(save(&b, "key.gguf"), PLINTH_ERR_FORMAT,
                "metadata entry 0 of 1: key of 1099511627776 bytes (at most 4096)");
    header(&b, 3, 0, 1);
    u64(&b, 100); /* 100 bytes of key, 11 there */
    put(&b, "abc", 3);
    zeros(&b, 8);
    expect_fail(save(&b, "key2.gguf"), PLINTH_ERR_FORMAT,
                "metadata entry 0 of 1: key needs 100 bytes at byte 32, past the end of the file");
    header(&b, 3, 0, 1);
    str(&b, "s");
    u32(&b, PLINTH_META_STRING);
    u64(&b, 1000000);
    put(&b, "short", 5);
    expect_fail(save(&b, "val.gguf"), PLINTH_ERR_FORMAT,
                "metadata key 's': string needs 1000000 bytes");
    header(&b, 3, 0, 1);
    str(&b, "arr");
    u32(&b, PLINTH_META_ARRAY);
    u32(&b, PLINTH_META_STRING);
    u64(&b, 2);
    str(&b, "ok");
    u64(&b, UINT64_MAX);
    expect_fail(save(&b, "arrstr.gguf"), PLINTH_ERR_FORMAT,
                "metadata key 'arr': string needs 18446744073709551615 bytes");
    header(&b, 3, 0, 1);
    str(&b, "n");
    u32(&b, PLINTH_META_U64);
    put(&b, "abc", 3);
    expect_fail(save(&b, "num.gguf"), PLINTH_ERR_FORMAT,
                "metadata key 'n': its value needs 8 bytes");
}

Test(hostile, tensor_offsets)
{
    gb b = {0};
    const int64_t ne[1] = {8};
    /* Past the end. */
    header(&b, 3, 1, 0);
    info(&b, "t", 1, ne, 0, 64);
    pad_to(&b, 32);
    zeros(&b, 32);
    expect_fail(save(&b, "past.gguf"), PLINTH_ERR_FORMAT,
                "tensor 't': bytes [64, +32) run past the data section (32 bytes");
    /* Overlapping the data's end by one byte. */
    header(&b, 3, 1, 0);
    info(&b, "t", 1, ne, 0, 0);
    pad_to(&b, 32);
    zeros(&b, 31);
    expect_fail(save(&b, "end.gguf"), PLINTH_ERR_FORMAT, "tensor 't': bytes [0, +32) run past");
    /* An offset near 2^64: no wrap-around. */
    header(&b, 3, 1, 0);
    info(&b, "t", 1, ne, 0, UINT64_MAX - 31);
    pad_to(&b, 32);
    zeros(&b, 64);
    expect_fail(save(&b, "wrap.gguf"), PLINTH_ERR_FORMAT, "run past the data section");
    /* Unaligned. */
    header(&b, 3, 1, 0);
    info(&b, "t", 1, ne, 0, 4);
    pad_to(&b, 32);
    zeros(&b, 64);
    expect_fail(save(&b, "unal.gguf"), PLINTH_ERR_FORMAT,
                "tensor 't': offset 4 is not a multiple of the alignment 32");
    /* Two tensors sharing bytes. */
    header(&b, 3, 2, 0);
    info(&b, "t", 1, ne, 0, 0);
    info(&b, "u", 1, (const int64_t[]){16}, 0, 0);
    pad_to(&b, 32);
    zeros(&b, 64);
    expect_fail(save(&b, "over.gguf"), PLINTH_ERR_FORMAT, "tensors 't' and 'u' overlap");
    /* The data section would start past the end. */
    header(&b, 3, 1, 0);
    info(&b, "t", 1, (const int64_t[]){0}, 0, 0);
    expect_fail(save(&b, "nodata.gguf"), PLINTH_ERR_FORMAT,
                "the data section would start at byte 64, past the end of the file (57 bytes");
}

Test(hostile, dims_and_types)
{
    gb b = {0};
    header(&b, 3, 1, 0);
    info(&b, "t", 5, (const int64_t[]){1, 1, 1, 1, 1}, 0, 0);
    expect_fail(save(&b, "dims.gguf"), PLINTH_ERR_FORMAT, "tensor 't' has 5 dims (at most 4)");
    header(&b, 3, 1, 0);
    info(&b, "t", 4, (const int64_t[]){1 << 20, 1 << 20, 1 << 20, 1 << 20}, 0, 0);
    expect_fail(save(&b, "ovf.gguf"), PLINTH_ERR_FORMAT,
                "tensor 't': element count overflows 64 bits");
    header(&b, 3, 1, 0);
    info(&b, "t", 2, (const int64_t[]){INT64_MAX, 2}, 0, 0);
    expect_fail(save(&b, "ovf2.gguf"), PLINTH_ERR_FORMAT, "element count overflows");
    header(&b, 3, 1, 0); /* elements fit, bytes do not */
    info(&b, "t", 1, (const int64_t[]){INT64_C(1) << 62}, 0, 0);
    expect_fail(save(&b, "ovf3.gguf"), PLINTH_ERR_FORMAT, "tensor 't': byte size overflows");
    header(&b, 3, 1, 0);
    info(&b, "t", 2, (const int64_t[]){4, -1}, 0, 0);
    expect_fail(save(&b, "neg.gguf"), PLINTH_ERR_FORMAT, "tensor 't': ne[1] is -1");
    header(&b, 3, 1, 0);
    info(&b, "t", 1, (const int64_t[]){32}, 99, 0);
    expect_fail(save(&b, "type.gguf"), PLINTH_ERR_FORMAT, "tensor 't': unknown ggml type 99");
    header(&b, 3, 1, 0);
    info(&b, "t", 1, (const int64_t[]){32}, 4, 0); /* Q4_2: removed from ggml */
    expect_fail(save(&b, "type4.gguf"), PLINTH_ERR_FORMAT, "unknown ggml type 4");
    header(&b, 3, 1, 0);
    info(&b, "t", 1, (const int64_t[]){33}, 8, 0);
    expect_fail(save(&b, "blk.gguf"), PLINTH_ERR_FORMAT,
                "tensor 't': rows of 33 elements are not whole Q8_0 blocks (of 32)");
    header(&b, 3, 2, 0);
    info(&b, "t", 1, (const int64_t[]){8}, 0, 0);
    info(&b, "t", 1, (const int64_t[]){8}, 0, 32);
    pad_to(&b, 32);
    zeros(&b, 64);
    expect_fail(save(&b, "dup.gguf"), PLINTH_ERR_FORMAT, "duplicate tensor name 't'");
    header(&b, 3, 1, 0);
    str(&b, "");
    zeros(&b, 32);
    expect_fail(save(&b, "noname.gguf"), PLINTH_ERR_FORMAT, "tensor info 0 of 1: empty name");
    header(&b, 3, 1, 0);
    u64(&b, 3);
    put(&b, "a\0b", 3);
    zeros(&b, 32);
    expect_fail(save(&b, "nul.gguf"), PLINTH_ERR_FORMAT, "name holds a NUL byte");

    /* A type plinth lists but does not read: fine to open, dtype -1. */
    header(&b, 3, 1, 0);
    info(&b, "t", 1, (const int64_t[]){256}, 13, 0);
    pad_to(&b, 32);
    zeros(&b, 176);
    plinth_state_dict *d = open_ok(save(&b, "q5k.gguf"));
    plinth_tensor_info ti = info_of(d, "t");
    cr_assert_eq(ti.dtype, -1);
    cr_assert_str_eq(ti.dtype_name, "Q5_K");
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

Test(hostile, alignment)
{
    static const uint32_t bad[] = {0, 3, 48, 0x80000001u};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        gb b = {0};
        header(&b, 3, 0, 1);
        kv_u32(&b, "general.alignment", bad[k]);
        char why[96];
        snprintf(why, sizeof why, "general.alignment is %u: not a power of two", bad[k]);
        expect_fail(save(&b, "al.gguf"), PLINTH_ERR_FORMAT, why);
    }
    gb b = {0};
    header(&b, 3, 0, 1);
    str(&b, "general.alignment");
    u32(&b, PLINTH_META_U64);
    u64(&b, 64);
    expect_fail(save(&b, "al64.gguf"), PLINTH_ERR_FORMAT, "general.alignment is u64, wanted u32");
    /* A good one moves the data section and the offsets' grain. */
    header(&b, 3, 1, 1);
    kv_u32(&b, "general.alignment", 128);
    info(&b, "t", 1, (const int64_t[]){8}, 0, 0);
    pad_to(&b, 128);
    zeros(&b, 32);
    plinth_state_dict *d = open_ok(save(&b, "al128.gguf"));
    cr_assert_eq(d->files[0].data_start, 128);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

Test(hostile, metadata_values)
{
    gb b = {0};
    header(&b, 3, 0, 2);
    kv_u32(&b, "k", 1);
    kv_u32(&b, "k", 2);
    expect_fail(save(&b, "dupkey.gguf"), PLINTH_ERR_FORMAT, "metadata key 'k' appears twice");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, 13);
    u32(&b, 0);
    expect_fail(save(&b, "vt.gguf"), PLINTH_ERR_FORMAT, "metadata key 'k': unknown value type 13");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, PLINTH_META_ARRAY);
    u32(&b, PLINTH_META_ARRAY);
    u64(&b, 1);
    u32(&b, PLINTH_META_U8);
    u64(&b, 1);
    put(&b, "x", 1);
    expect_fail(save(&b, "nest.gguf"), PLINTH_ERR_FORMAT, "metadata key 'k': an array of arrays");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, PLINTH_META_ARRAY);
    u32(&b, (uint32_t)-1);
    u64(&b, 1);
    expect_fail(save(&b, "et.gguf"), PLINTH_ERR_FORMAT, "unknown array element type -1");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, PLINTH_META_BOOL);
    put(&b, "\x02", 1);
    expect_fail(save(&b, "bool.gguf"), PLINTH_ERR_FORMAT, "metadata key 'k': bool 0 is 2");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, PLINTH_META_ARRAY);
    u32(&b, PLINTH_META_BOOL);
    u64(&b, 3);
    put(&b, "\x01\x00\x05", 3);
    expect_fail(save(&b, "bools.gguf"), PLINTH_ERR_FORMAT, "bool element 2 is 5, not 0 or 1");
    header(&b, 3, 0, 1);
    str(&b, "");
    zeros(&b, 8);
    expect_fail(save(&b, "nokey.gguf"), PLINTH_ERR_FORMAT, "metadata entry 0 of 1: empty key");
}

Test(hostile, versions_and_magic)
{
    gb b = {0};
    put(&b, "GGUF", 4);
    put(&b, "\0\0\0\x03", 4); /* big-endian version 3 */
    u64(&b, 0);
    u64(&b, 0);
    expect_fail(save(&b, "be.gguf"), PLINTH_ERR_UNSUPPORTED,
                "a big-endian GGUF file (version bytes 00 00 00 03)");
    header(&b, 1, 0, 0);
    expect_fail(save(&b, "v1.gguf"), PLINTH_ERR_UNSUPPORTED, "GGUF version 1");
    header(&b, 4, 0, 0);
    expect_fail(save(&b, "v4.gguf"), PLINTH_ERR_UNSUPPORTED, "GGUF version 4");
    header(&b, 0, 0, 0);
    expect_fail(save(&b, "v0.gguf"), PLINTH_ERR_UNSUPPORTED, "GGUF version 0");
    /* Version 2 has version 3's layout. */
    header(&b, 2, 0, 1);
    kv_u32(&b, "k", 7);
    plinth_state_dict *d = open_ok(save(&b, "v2.gguf"));
    int64_t v;
    OK(plinth_state_dict_meta_int(d, "k", 0, 10, &v));
    cr_assert_eq(v, 7);
    plinth_state_dict_close(d);
    /* Not GGUF: the safetensors parser says what is wrong, as before. */
    put(&b, "GGUX", 4);
    expect_fail(save(&b, "x.gguf"), PLINTH_ERR_FORMAT, "shorter than 8 bytes");
    put(&b, "GGU", 3);
    expect_fail(save(&b, "y.gguf"), PLINTH_ERR_FORMAT, "shorter than 8 bytes");
    CHECK_NO_LEAKS();
}

/* A safetensors file's __metadata__ strings are the dict's metadata. */
Test(hostile, safetensors_metadata)
{
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\",\"x\":\"1\"},"
                      "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    gb b = {0};
    u64(&b, strlen(hdr));
    put(&b, hdr, strlen(hdr));
    zeros(&b, 4);
    plinth_state_dict *d = open_ok(save(&b, "m.safetensors"));
    cr_assert_eq(plinth_state_dict_meta_count(d), 2);
    cr_assert_str_eq(plinth_state_dict_meta_key(d, 0), "format");
    const char *s;
    OK(plinth_state_dict_meta_string(d, "format", &s, NULL));
    cr_assert_str_eq(s, "pt");
    cr_assert_eq(plinth_state_dict_meta_type(d, "x"), PLINTH_META_STRING);
    plinth_state_dict_close(d);
    /* A key twice: the first value, once (the file opened before too). */
    hdr = "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}";
    u64(&b, strlen(hdr));
    put(&b, hdr, strlen(hdr));
    d = open_ok(save(&b, "m2.safetensors"));
    cr_assert_eq(plinth_state_dict_meta_count(d), 1);
    OK(plinth_state_dict_meta_string(d, "a", &s, NULL));
    cr_assert_str_eq(s, "1");
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------- alloc --- */

/* Every allocation of opening tiny.gguf (and reading its metadata and a
 * tensor) and of writing a file fails once, in turn: a clean error with a
 * message, nothing leaked (the allocator counts its blocks), no crash. */
typedef struct counting {
    long calls, fail_at, live;
} counting;

static void *counting_alloc(void *user, void *ptr, size_t size)
{
    counting *c = user;
    if (size == 0) {
        if (ptr) {
            free(ptr);
            c->live--;
        }
        return NULL;
    }
    if (++c->calls == c->fail_at)
        return NULL;
    void *p = realloc(ptr, size);
    if (p && !ptr)
        c->live++;
    return p;
}

static plinth_status alloc_scenario(counting *c, char *msg, size_t msg_size)
{
    plinth_context_options o = {.struct_size = sizeof o, .alloc = counting_alloc,
                                .alloc_user = c};
    plinth_context *ctx = NULL;
    plinth_status s = plinth_context_create(&o, &ctx);
    if (s != PLINTH_OK)
        return s;
    plinth_state_dict *d = NULL;
    s = plinth_state_dict_open(ctx, tiny_path(), &d);
    const char *str;
    if (s == PLINTH_OK)
        s = plinth_state_dict_meta_array_string(d, "test.arr_str", 2, &str, NULL);
    float f[15];
    if (s == PLINTH_OK)
        s = plinth_state_dict_read(d, (uint32_t)plinth_state_dict_find(d, "t.f32"), 0, f, 60);
    plinth_gguf_writer *w = NULL;
    if (s == PLINTH_OK)
        s = plinth_gguf_writer_create(ctx, tmp_path("alloc.gguf"), &w);
    const char *strs[2] = {"a", "bc"};
    ramp_source src = {.row_bytes = 5 * 4};
    if (s == PLINTH_OK)
        s = plinth_gguf_writer_add_string(w, "k.s", "v");
    if (s == PLINTH_OK)
        s = plinth_gguf_writer_add_string_array(w, "k.a", strs, NULL, 2);
    if (s == PLINTH_OK)
        s = plinth_gguf_writer_add_array(w, "k.f", PLINTH_META_F32, f, 15);
    if (s == PLINTH_OK)
        s = plinth_gguf_writer_add_tensor(w, "t", PLINTH_F32, 2, (const int64_t[]){3, 5}, f);
    if (s == PLINTH_OK)
        s = plinth_gguf_writer_add_tensor_fn(w, "u", PLINTH_F32, 2, (const int64_t[]){3, 5},
                                             ramp_rows, &src);
    if (s == PLINTH_OK)
        s = plinth_gguf_writer_write(w);
    snprintf(msg, msg_size, "%s", plinth_context_error(ctx));
    plinth_gguf_writer_destroy(w);
    plinth_state_dict_close(d);
    plinth_context_destroy(ctx);
    return s;
}

TestSuite(alloc, .init = setup, .fini = teardown);

Test(alloc, every_allocation_fails_once)
{
    char msg[4096];
    counting c = {0};
    OK(alloc_scenario(&c, msg, sizeof msg));
    cr_assert_eq(c.live, 0, "a working run leaked %ld blocks", c.live);
    const long total = c.calls;
    cr_log_info("%ld allocations, each failed once", total);
    cr_assert_gt(total, 50, "only %ld allocations: the scenario does little", total);
    for (long n = 1; n <= total; n++) {
        c = (counting){.fail_at = n};
        plinth_status s = alloc_scenario(&c, msg, sizeof msg);
        cr_assert_eq(c.live, 0, "failing allocation %ld of %ld leaked %ld blocks (%s)", n, total,
                     c.live, s == PLINTH_OK ? "run succeeded" : msg);
        if (s != PLINTH_OK && n > 1) /* the first is the context's own */
            cr_assert(strstr(msg, "out of memory") || s == PLINTH_ERR_NO_MEMORY,
                      "failing allocation %ld: status %s, message: %s", n,
                      plinth_status_name(s), msg);
    }
    c = (counting){0};
    OK(alloc_scenario(&c, msg, sizeof msg));
}
