/*
 * test_safetensors.c — the safetensors state dict: the golden Gemma file,
 * small hand-made files, shards and folders; then one test per rejection,
 * each checking the status and that the message names the file and says why.
 *
 * Hand-made files live in a mkdtemp() directory made by the suite's .init
 * and removed by its .fini.
 */
#include "safetensors.h"

#include <criterion/criterion.h>

#include <ftw.h>
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

/* ----------------------------------------------------------- helpers --- */

/* The state dict through its public face, plus the core's view of one
 * tensor (safetensors.h) for the fields the public info does not carry. */
typedef plinth_state_dict st_dict;

static st_tensor *st_find(st_dict *d, const char *name)
{
    int32_t i = plinth_state_dict_find(d, name);
    return i < 0 ? NULL : st_at(d, (uint32_t)i);
}

/* The path of a tensor's file, and its first `n` bytes (read from the
 * file: a state dict keeps nothing mapped). */
#define FILE_OF(d, t) st_file_path((d), (t))
static const uint8_t *data_of(st_dict *d, const st_tensor *t)
{
    static uint8_t buf[4][256];
    static int slot;
    slot = (slot + 1) % 4;
    uint64_t n = t->bytes < sizeof buf[0] ? t->bytes : sizeof buf[0];
    int32_t i = plinth_state_dict_find(d, t->name);
    cr_assert_eq(plinth_state_dict_read(d, (uint32_t)i, 0, buf[slot], n), PLINTH_OK, "%s",
                 plinth_context_error(g_ctx));
    return buf[slot];
}


static void setup(void)
{
    strcpy(g_dir, "/tmp/plinth-st-XXXXXX");
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

TestSuite(st, .init = setup, .fini = teardown);

/* Path of `name` in the temp dir (static buffer, one at a time per slot). */
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

/* A safetensors file: u64 LE `header_len` (normally strlen(header)), the
 * header, then `data_len` bytes of data. Returns the path. */
static const char *write_st_len(const char *name, uint64_t header_len, const char *header,
                                const void *data, size_t data_len)
{
    const char *path = tmp_path(name);
    size_t hl = strlen(header);
    size_t n = 8 + hl + data_len;
    uint8_t *buf = malloc(n);
    cr_assert_not_null(buf);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(header_len >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (data_len)
        memcpy(buf + 8 + hl, data, data_len);
    write_bytes(path, buf, n);
    free(buf);
    return path;
}

static const char *write_st(const char *name, const char *header, const void *data,
                            size_t data_len)
{
    return write_st_len(name, strlen(header), header, data, data_len);
}

/* A one-tensor header around an entry body. */
static const char *write_entry(const char *entry, size_t data_len)
{
    char header[1024];
    snprintf(header, sizeof header, "{\"t\":%s}", entry);
    uint8_t *data = calloc(1, data_len + 1);
    const char *p = write_st("bad.safetensors", header, data, data_len);
    free(data);
    return p;
}

static void expect_fail(const char *path, plinth_status want, const char *phrase,
                        const char *also)
{
    st_dict *d = (st_dict *)1;
    plinth_status s = plinth_state_dict_open(g_ctx, path, &d);
    const char *msg = plinth_context_error(g_ctx);
    cr_assert_eq(s, want, "status %s, want %s; message: %s", plinth_status_name(s),
                 plinth_status_name(want), msg);
    cr_assert_null(d, "out must be NULL on failure");
    cr_assert_not_null(strstr(msg, path), "message does not name the file '%s': %s", path,
                       msg);
    cr_assert_not_null(strstr(msg, phrase), "message lacks '%s': %s", phrase, msg);
    if (also)
        cr_assert_not_null(strstr(msg, also), "message lacks '%s': %s", also, msg);
    CHECK_NO_LEAKS();
}

static void expect_entry_fail(const char *entry, size_t data_len, const char *phrase)
{
    expect_fail(write_entry(entry, data_len), PLINTH_ERR_FORMAT, phrase, "'t'");
}

static st_dict *open_ok(const char *path)
{
    st_dict *d = NULL;
    plinth_status s = plinth_state_dict_open(g_ctx, path, &d);
    cr_assert_eq(s, PLINTH_OK, "st_open(%s): %s: %s", path, plinth_status_name(s),
                 plinth_context_error(g_ctx));
    cr_assert_not_null(d);
    return d;
}

/* Every tensor's data lies inside the file it names. */
static void check_bounds(st_dict *d)
{
    for (uint32_t i = 0; i < plinth_state_dict_count(d); i++) {
        st_tensor *t = st_at(d, i);
        struct stat sb;
        cr_assert_eq(stat(FILE_OF(d, t), &sb), 0);
        cr_assert_leq(t->bytes, (uint64_t)sb.st_size);
        if (i)
            cr_assert_lt(strcmp(st_at(d, i - 1)->name, t->name), 0, "not sorted");
        cr_assert_eq(st_find(d, t->name), t);
    }
}

static char g_golden[1024];

static const char *golden_dir(void)
{
    /* __FILE__ is the path meson gave the compiler, relative to the build
     * dir where the test runs (or absolute). */
    const char *slash = strrchr(__FILE__, '/');
    int len = slash ? (int)(slash - __FILE__) : 1;
    snprintf(g_golden, sizeof g_golden, "%.*s/../data/gemma3-tiny-a", len,
             slash ? __FILE__ : ".");
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/model.safetensors", g_golden);
    cr_assert_eq(access(probe, R_OK), 0,
                 "golden file not found at %s (derived from __FILE__ = %s, cwd must be the "
                 "build dir)",
                 probe, __FILE__);
    return g_golden;
}

static float f32_at(const uint8_t *p)
{
    float f;
    memcpy(&f, p, sizeof f);
    return f;
}

/* ------------------------------------------------------------- valid --- */

Test(st, golden_file)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", golden_dir());
    st_dict *d = open_ok(path);
    cr_assert_eq(plinth_state_dict_count(d), 80);
    st_tensor *t = st_find(d, "model.embed_tokens.weight");
    cr_assert_not_null(t);
    cr_assert_str_eq(t->dtype_name, "F32");
    cr_assert_eq(t->dtype, PLINTH_F32);
    cr_assert_eq(t->ndim, 2);
    cr_assert_eq(t->shape[0], 512);
    cr_assert_eq(t->shape[1], 64);
    cr_assert_eq(t->bytes, 512u * 64u * 4u);
    cr_assert_str_eq(FILE_OF(d, t), path);
    cr_assert_not(t->used);

    /* Its data offset is 0: the first float sits right after the header. */
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    uint8_t hdr[8];
    cr_assert_eq(fread(hdr, 1, 8, f), 8u);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | hdr[i];
    cr_assert_eq(fseek(f, (long)(8 + n), SEEK_SET), 0);
    float raw;
    cr_assert_eq(fread(&raw, sizeof raw, 1, f), 1u);
    fclose(f);
    cr_assert_eq(memcmp(&raw, data_of(d, t), 4), 0, "first float %g vs file %g", f32_at(data_of(d, t)),
                 raw);

    cr_assert_not_null(st_find(d, "model.norm.weight"));
    cr_assert_not_null(st_find(d, "model.layers.5.mlp.down_proj.weight"));
    cr_assert_null(st_find(d, "lm_head.weight"));
    cr_assert_null(st_find(d, "__metadata__"));
    check_bounds(d);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

Test(st, golden_folder)
{
    st_dict *d = open_ok(golden_dir());
    cr_assert_eq(plinth_state_dict_count(d), 80);
    cr_assert_not_null(strstr(FILE_OF(d, st_find(d, "model.norm.weight")), "model.safetensors"));
    plinth_state_dict_close(d);
    /* A trailing slash works too. */
    char path[1100];
    snprintf(path, sizeof path, "%s/", golden_dir());
    d = open_ok(path);
    cr_assert_eq(plinth_state_dict_count(d), 80);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

Test(st, handmade_dtypes)
{
    /* data: f32[2] @0, bf16[3] @8, f16[1,2] @14, i32[2] @18, i64[1] @26, gap, u8 @40. */
    uint8_t data[41] = {0};
    float fv[2] = {1.5f, -2.0f};
    memcpy(data, fv, 8);
    data[8] = 0x80, data[9] = 0x3f; /* bf16 1.0 */
    int32_t iv[2] = {7, -9};
    memcpy(data + 18, iv, 8);
    int64_t lv = 1234567890123;
    memcpy(data + 26, &lv, 8);
    data[40] = 200;
    const char *header =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"u8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[40,41]},"
        "\"f32\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[8,14]},"
        "\"f16\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[14,18]},"
        "\"i32\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[18,26]},"
        "\"i64\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[26,34]}}   ";
    const char *path = write_st("dt.safetensors", header, data, sizeof data);
    st_dict *d = open_ok(path);
    cr_assert_eq(plinth_state_dict_count(d), 6);

    st_tensor *t = st_find(d, "f32");
    cr_assert_eq(t->dtype, PLINTH_F32);
    cr_assert_eq(t->ndim, 1);
    cr_assert_eq(t->shape[0], 2);
    cr_assert_float_eq(f32_at(data_of(d, t) + 4), -2.0f, 0);
    t = st_find(d, "bf16");
    cr_assert_eq(t->dtype, PLINTH_BF16);
    cr_assert_eq(t->bytes, 6u);
    cr_assert_eq(data_of(d, t)[0], 0x80);
    t = st_find(d, "f16");
    cr_assert_eq(t->dtype, PLINTH_F16);
    cr_assert_eq(t->ndim, 2);
    cr_assert_eq(t->shape[1], 2);
    t = st_find(d, "i32");
    cr_assert_eq(t->dtype, PLINTH_I32);
    int32_t i1;
    memcpy(&i1, data_of(d, t) + 4, 4);
    cr_assert_eq(i1, -9);
    t = st_find(d, "i64");
    cr_assert_eq(t->dtype, -1, "I64 is valid in a file but has no plinth dtype");
    cr_assert_str_eq(t->dtype_name, "I64");
    int64_t l;
    memcpy(&l, data_of(d, t), 8);
    cr_assert_eq(l, lv);
    t = st_find(d, "u8");
    cr_assert_eq(t->dtype, -1);
    cr_assert_eq(data_of(d, t)[0], 200);
    check_bounds(d);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

Test(st, every_known_dtype)
{
    static const char *names[] = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8",
                                  "U8", "U16", "U32", "U64", "BOOL", "F8_E4M3", "F8_E5M2"};
    static const int sizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 2, 4, 8, 1, 1, 1};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char header[256];
        snprintf(header, sizeof header,
                 "{\"x\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[0,%d]}}", names[i],
                 3 * sizes[i]);
        uint8_t data[24] = {0};
        st_dict *d = open_ok(write_st("k.safetensors", header, data, (size_t)(3 * sizes[i])));
        cr_assert_str_eq(st_find(d, "x")->dtype_name, names[i]);
        plinth_state_dict_close(d);
    }
    CHECK_NO_LEAKS();
}

Test(st, empty_tensor_and_empty_data)
{
    const char *path = write_st(
        "e.safetensors",
        "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[0,0]},"
        "\"s\":{\"dtype\":\"F32\",\"shape\":[4,0],\"data_offsets\":[0,0]}}",
        NULL, 0);
    st_dict *d = open_ok(path);
    cr_assert_eq(plinth_state_dict_count(d), 2);
    st_tensor *t = st_find(d, "e");
    cr_assert_eq(t->bytes, 0u);
    cr_assert_eq(t->ndim, 2);
    cr_assert_eq(t->shape[0], 0);
    cr_assert_eq(t->shape[1], 4);
    plinth_state_dict_close(d);

    /* An empty tensor in the middle of another's bytes overlaps nothing. */
    uint8_t data[16] = {0};
    path = write_st("e2.safetensors",
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                    "\"z\":{\"dtype\":\"I32\",\"shape\":[0],\"data_offsets\":[8,8]}}",
                    data, sizeof data);
    d = open_ok(path);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

/* A state dict with no tensors at all (only metadata) is valid and empty. */
Test(st, no_tensors)
{
    const char *path = write_st("none.safetensors", "{\"__metadata__\":{\"format\":\"pt\"}}",
                                NULL, 0);
    st_dict *d = open_ok(path);
    cr_assert_eq(plinth_state_dict_count(d), 0u);
    cr_assert_null(st_find(d, "anything"));
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

Test(st, scalar_and_eight_dims)
{
    uint8_t data[8] = {0};
    const char *path = write_st(
        "sc.safetensors",
        "{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
        "\"e\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,2,2],\"data_offsets\":[4,8]}}",
        data, sizeof data);
    st_dict *d = open_ok(path);
    cr_assert_eq(st_find(d, "s")->ndim, 0);
    cr_assert_eq(st_find(d, "s")->bytes, 4u);
    cr_assert_eq(st_find(d, "e")->ndim, 8);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

Test(st, sorted_lookup)
{
    char header[8192];
    size_t off = (size_t)snprintf(header, sizeof header, "{");
    enum { N = 100 };
    for (int i = 0; i < N; i++) {
        int k = (i * 37) % N; /* shuffled names, increasing offsets */
        off += (size_t)snprintf(header + off, sizeof header - off,
                                "%s\"w.%03d\":{\"dtype\":\"I32\",\"shape\":[1],"
                                "\"data_offsets\":[%d,%d]}",
                                i ? "," : "", k, 4 * i, 4 * i + 4);
    }
    snprintf(header + off, sizeof header - off, "}");
    int32_t data[N];
    for (int i = 0; i < N; i++)
        data[i] = (i * 37) % N;
    st_dict *d = open_ok(write_st("many.safetensors", header, data, sizeof data));
    cr_assert_eq(plinth_state_dict_count(d), N);
    for (int k = 0; k < N; k++) {
        char name[16];
        snprintf(name, sizeof name, "w.%03d", k);
        st_tensor *t = st_find(d, name);
        cr_assert_not_null(t, "%s", name);
        int32_t v;
        memcpy(&v, data_of(d, t), 4);
        cr_assert_eq(v, k);
        cr_assert_eq(st_at(d, (uint32_t)k), t);
    }
    cr_assert_null(st_find(d, "w.100"));
    cr_assert_null(st_find(d, ""));
    cr_assert_null(st_at(d, N));
    check_bounds(d);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

Test(st, null_safety)
{
    plinth_state_dict_close(NULL);
    cr_assert_eq(plinth_state_dict_count(NULL), 0u);
    cr_assert_null(st_at(NULL, 0));
    cr_assert_null(st_find(NULL, "x"));
    cr_assert_neq(plinth_state_dict_open(g_ctx, NULL, &(st_dict *){NULL}), PLINTH_OK);
    cr_assert_neq(plinth_state_dict_open(g_ctx, "x", NULL), PLINTH_OK);
}

/* Two shards: s1 holds a and b, s2 holds c. */
static void write_shards(void)
{
    float d1[3] = {1, 2, 3}, d2[2] = {4, 5};
    write_st("model-00001-of-00002.safetensors",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
             d1, sizeof d1);
    write_st("model-00002-of-00002.safetensors",
             "{\"c\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d2, sizeof d2);
}

static const char *write_index(const char *name, const char *weight_map)
{
    size_t cap = strlen(weight_map) + 64;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    snprintf(text, cap, "{\"metadata\":{\"total_size\":20},\"weight_map\":%s}", weight_map);
    const char *p = tmp_path(name);
    write_bytes(p, text, strlen(text));
    free(text);
    return p;
}

#define GOOD_MAP                                                                            \
    "{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00001-of-00002.safetensors\"," \
    "\"c\":\"model-00002-of-00002.safetensors\"}"

Test(st, sharded_index)
{
    write_shards();
    const char *path = write_index("model.safetensors.index.json", GOOD_MAP);
    st_dict *d = open_ok(path);
    cr_assert_eq(plinth_state_dict_count(d), 3);
    cr_assert_str_eq(st_at(d, 0)->name, "a");
    cr_assert_str_eq(st_at(d, 2)->name, "c");
    st_tensor *c = st_find(d, "c");
    cr_assert_not_null(strstr(FILE_OF(d, c), "model-00002-of-00002.safetensors"));
    cr_assert_float_eq(f32_at(data_of(d, c) + 4), 5.0f, 0);
    st_tensor *b = st_find(d, "b");
    cr_assert_not_null(strstr(FILE_OF(d, b), "model-00001-of-00002.safetensors"));
    cr_assert_float_eq(f32_at(data_of(d, b)), 3.0f, 0);
    check_bounds(d);
    plinth_state_dict_close(d);

    /* The folder itself: no model.safetensors there, so the index. */
    d = open_ok(g_dir);
    cr_assert_eq(plinth_state_dict_count(d), 3);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

Test(st, folder_prefers_single_file)
{
    write_shards();
    write_index("model.safetensors.index.json", GOOD_MAP);
    float v = 9;
    write_st("model.safetensors", "{\"only\":{\"dtype\":\"F32\",\"shape\":[1],"
                                  "\"data_offsets\":[0,4]}}",
             &v, sizeof v);
    st_dict *d = open_ok(g_dir);
    cr_assert_eq(plinth_state_dict_count(d), 1);
    cr_assert_not_null(st_find(d, "only"));
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

/* ----------------------------------------------------------- invalid --- */

Test(st, missing_file)
{
    expect_fail(tmp_path("nope.safetensors"), PLINTH_ERR_IO, "cannot open", NULL);
}

Test(st, folder_without_model)
{
    char msg_dir[600];
    snprintf(msg_dir, sizeof msg_dir, "no model.safetensors or model.safetensors.index.json in %s",
             g_dir);
    expect_fail(g_dir, PLINTH_ERR_IO, msg_dir, NULL);
}

Test(st, shorter_than_8_bytes)
{
    const char *p = tmp_path("short.safetensors");
    write_bytes(p, "\x10\0\0", 3);
    expect_fail(p, PLINTH_ERR_FORMAT, "shorter than 8 bytes", NULL);
    write_bytes(p, "", 0);
    expect_fail(p, PLINTH_ERR_FORMAT, "shorter than 8 bytes", NULL);
}

Test(st, header_length_zero)
{
    expect_fail(write_st_len("z.safetensors", 0, "", "abc", 3), PLINTH_ERR_FORMAT,
                "header length is 0", NULL);
}

Test(st, header_length_past_end)
{
    char pad[992];
    memset(pad, ' ', sizeof pad);
    const char *p = tmp_path("past.safetensors");
    uint8_t buf[1000] = {0};
    buf[0] = 123456 & 0xff, buf[1] = (123456 >> 8) & 0xff, buf[2] = 123456 >> 16;
    memcpy(buf + 8, pad, sizeof pad);
    write_bytes(p, buf, sizeof buf);
    expect_fail(p, PLINTH_ERR_FORMAT,
                "header length 123456 runs past the end of the file (size 1000)", NULL);
    /* One byte past is enough. */
    expect_fail(write_st_len("p1.safetensors", 3, "{}", NULL, 0), PLINTH_ERR_FORMAT,
                "runs past the end of the file", NULL);
}

Test(st, absurd_header_length)
{
    expect_fail(write_st_len("abs.safetensors", 200000000, "{}", NULL, 0), PLINTH_ERR_FORMAT,
                "absurd header length 200000000", NULL);
    expect_fail(write_st_len("abs2.safetensors", UINT64_MAX, "{}", NULL, 0), PLINTH_ERR_FORMAT,
                "absurd header length", NULL);
}

Test(st, header_not_json)
{
    expect_fail(write_st("j.safetensors", "{\"t\":{\"dtype\":", NULL, 0), PLINTH_ERR_FORMAT,
                "header is not valid JSON", NULL);
    expect_fail(write_st("j2.safetensors", "{} trailing", NULL, 0), PLINTH_ERR_FORMAT,
                "header is not valid JSON", NULL);
    /* A NUL inside the header: the JSON before it is not the whole header. */
    expect_fail(write_st_len("j3.safetensors", 4, "{}", "\0 ", 2), PLINTH_ERR_FORMAT,
                "header is not valid JSON", NULL);
}

/* A name or value with an escaped NUL would be cut short by cJSON's
 * C strings ("a\u0000b" opened as "a"): refused, in a header and in an
 * index. An escaped backslash before "u0000" is plain text: accepted. */
Test(st, escaped_nul_is_refused)
{
    float v = 1;
    expect_fail(write_st("n1.safetensors",
                         "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                         &v, 4),
                PLINTH_ERR_FORMAT, "escaped NUL", NULL);
    expect_fail(write_st("n2.safetensors",
                         "{\"__metadata__\":{\"k\":\"x\\\\\\u0000\"}}", NULL, 0),
                PLINTH_ERR_FORMAT, "escaped NUL", NULL);
    st_dict *d = open_ok(write_st(
        "n3.safetensors",
        "{\"a\\\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", &v, 4));
    cr_expect_not_null(st_find(d, "a\\u0000b"), "the name with a literal backslash");
    plinth_state_dict_close(d);
    write_shards();
    const char *p = write_index("model.safetensors.index.json",
                                "{\"a\\u0000\":\"model-00001-of-00002.safetensors\"}");
    expect_fail(p, PLINTH_ERR_FORMAT, "escaped NUL", NULL);
    CHECK_NO_LEAKS();
}

Test(st, header_not_object)
{
    expect_fail(write_st("arr.safetensors", "[1, 2]", NULL, 0), PLINTH_ERR_FORMAT,
                "header is not a JSON object", NULL);
    expect_fail(write_st("str.safetensors", "\"x\"", NULL, 0), PLINTH_ERR_FORMAT,
                "header is not a JSON object", NULL);
}

Test(st, metadata_not_object)
{
    expect_fail(write_st("m.safetensors", "{\"__metadata__\":[1]}", NULL, 0),
                PLINTH_ERR_FORMAT, "__metadata__ is not an object", NULL);
    expect_fail(write_st("m2.safetensors", "{\"__metadata__\":{\"k\":1}}", NULL, 0),
                PLINTH_ERR_FORMAT, "__metadata__ value 'k' is not a string", NULL);
}

Test(st, entry_not_object)
{
    expect_entry_fail("[1,2,3]", 0, "entry is not a JSON object");
}

Test(st, missing_fields)
{
    expect_entry_fail("{\"shape\":[1],\"data_offsets\":[0,4]}", 4, "missing \"dtype\"");
    expect_entry_fail("{\"dtype\":\"F32\",\"data_offsets\":[0,4]}", 4, "missing \"shape\"");
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[1]}", 4, "missing \"data_offsets\"");
}

Test(st, wrong_field_types)
{
    expect_entry_fail("{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}", 4,
                      "\"dtype\" is not a string");
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}", 4,
                      "\"shape\" is not an array");
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"a\":0}}", 4,
                      "\"data_offsets\" is not an array of 2 numbers");
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}", 8,
                      "\"data_offsets\" is not an array of 2 numbers");
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}", 4,
                      "shape[0] is not a number");
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[null,4]}", 4,
                      "data_offsets begin is not a number");
}

Test(st, unknown_dtype)
{
    expect_entry_fail("{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}", 4,
                      "unknown dtype \"F33\"");
    expect_entry_fail("{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4,
                      "unknown dtype \"f32\"");
}

Test(st, too_many_dims)
{
    expect_entry_fail("{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                      "\"data_offsets\":[0,1]}",
                      1, "shape has 9 dims (at most 8)");
}

Test(st, negative_dim)
{
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,4]}", 4,
                      "shape[1] is negative");
}

Test(st, non_integer_dim)
{
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}", 4,
                      "shape[0] is not an integer");
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}", 4,
                      "shape[0] is too large");
}

Test(st, element_count_overflow)
{
    /* 2^32 * 2^32 elements overflows; so does 2^62 elements of 8 bytes. */
    expect_entry_fail("{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                      "\"data_offsets\":[0,0]}",
                      0, "element count overflows");
    expect_entry_fail("{\"dtype\":\"F64\",\"shape\":[4194304,4194304,4194304],"
                      "\"data_offsets\":[0,0]}",
                      0, "element count overflows");
    /* A zero dim makes it empty, whatever came before. */
    st_dict *d = open_ok(write_entry("{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,0],"
                                     "\"data_offsets\":[0,0]}",
                                     0));
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

Test(st, byte_count_mismatch)
{
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}", 24,
                      "byte count mismatch: F32 shape needs 24 bytes, data_offsets span 20");
    expect_entry_fail("{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,8]}", 8,
                      "byte count mismatch");
}

Test(st, begin_after_end)
{
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}", 8,
                      "data_offsets [8, 4]: begin after end");
}

Test(st, end_past_data)
{
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}", 12,
                      "data_offsets end 16 runs past the data section (size 12)");
    expect_entry_fail("{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[13,13]}", 12,
                      "runs past the data section");
}

Test(st, bad_offset_numbers)
{
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}", 4,
                      "data_offsets begin is negative");
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.5]}", 8,
                      "data_offsets end is not an integer");
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e19]}", 8,
                      "data_offsets end is too large");
}

Test(st, overlapping_tensors)
{
    uint8_t data[32] = {0};
    const char *p =
        write_st("ov.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"c\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,32]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
                 data, sizeof data);
    expect_fail(p, PLINTH_ERR_FORMAT, "overlap", "'a' and 'b'");
    /* A small tensor wholly inside a large one, after an unrelated one. */
    p = write_st("ov2.safetensors",
                 "{\"big\":{\"dtype\":\"U8\",\"shape\":[30],\"data_offsets\":[0,30]},"
                 "\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]},"
                 "\"y\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[20,22]}}",
                 data, sizeof data);
    expect_fail(p, PLINTH_ERR_FORMAT, "overlap", "'big'");
    /* Identical ranges. */
    p = write_st("ov3.safetensors",
                 "{\"p\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]},"
                 "\"q\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]}}",
                 data, sizeof data);
    expect_fail(p, PLINTH_ERR_FORMAT, "overlap", NULL);
}

Test(st, duplicate_names)
{
    uint8_t data[8] = {0};
    const char *p = write_st("dup.safetensors",
                             "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                             "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                             data, sizeof data);
    expect_fail(p, PLINTH_ERR_FORMAT, "duplicate tensor name 'w'", NULL);
}

Test(st, shard_name_with_path)
{
    write_shards();
    const char *p = write_index("a.safetensors.index.json",
                                "{\"a\":\"../model-00001-of-00002.safetensors\"}");
    expect_fail(p, PLINTH_ERR_FORMAT, "is not a plain file name", "../model-00001");
    p = write_index("b.safetensors.index.json", "{\"a\":\"sub/x.safetensors\"}");
    expect_fail(p, PLINTH_ERR_FORMAT, "is not a plain file name", "'a'");
    p = write_index("c.safetensors.index.json", "{\"a\":\"x..safetensors\"}");
    expect_fail(p, PLINTH_ERR_FORMAT, "is not a plain file name", NULL);
}

Test(st, shard_missing_tensor)
{
    write_shards();
    const char *p = write_index("i.safetensors.index.json",
                                "{\"a\":\"model-00001-of-00002.safetensors\","
                                "\"zz\":\"model-00002-of-00002.safetensors\"}");
    expect_fail(p, PLINTH_ERR_FORMAT, "tensor 'zz' is mapped to shard",
                "model-00002-of-00002.safetensors, which has no such tensor");
    /* In a shard, but not the one named. */
    p = write_index("j.safetensors.index.json",
                    "{\"a\":\"model-00001-of-00002.safetensors\","
                    "\"c\":\"model-00001-of-00002.safetensors\","
                    "\"b\":\"model-00002-of-00002.safetensors\"}");
    expect_fail(p, PLINTH_ERR_FORMAT, "tensor 'c' is mapped to shard", "(it is in ");
}

Test(st, shard_duplicate_across)
{
    write_shards();
    float v[2] = {0};
    write_st("extra.safetensors",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", v, sizeof v);
    const char *p = write_index("d.safetensors.index.json",
                                "{\"a\":\"model-00001-of-00002.safetensors\","
                                "\"x\":\"extra.safetensors\"}");
    expect_fail(p, PLINTH_ERR_FORMAT, "tensor 'a' is in both", "extra.safetensors");
}

Test(st, shard_file_missing_or_bad)
{
    write_shards();
    const char *p = write_index("m.safetensors.index.json",
                                "{\"a\":\"model-00001-of-00002.safetensors\","
                                "\"q\":\"model-00003-of-00003.safetensors\"}");
    expect_fail(p, PLINTH_ERR_IO, "model-00003-of-00003.safetensors", "cannot open");
    /* A corrupt shard: the error names the shard. */
    write_st_len("broken.safetensors", 99, "{}", NULL, 0);
    p = write_index("n.safetensors.index.json", "{\"a\":\"broken.safetensors\"}");
    st_dict *d = (st_dict *)1;
    cr_assert_eq(plinth_state_dict_open(g_ctx, p, &d), PLINTH_ERR_FORMAT);
    cr_assert_null(d);
    cr_assert_not_null(strstr(plinth_context_error(g_ctx), "broken.safetensors"));
    cr_assert_not_null(strstr(plinth_context_error(g_ctx), "runs past the end"));
    CHECK_NO_LEAKS();
}

Test(st, index_malformed)
{
    const char *p = tmp_path("x.safetensors.index.json");
    write_bytes(p, "{\"weight_map\":", 14);
    expect_fail(p, PLINTH_ERR_FORMAT, "index is not valid JSON", NULL);
    write_bytes(p, "{\"metadata\":{}}", 15);
    expect_fail(p, PLINTH_ERR_FORMAT, "no \"weight_map\" object", NULL);
    p = write_index("y.safetensors.index.json", "{\"a\":3}");
    expect_fail(p, PLINTH_ERR_FORMAT, "weight_map entry 'a' is not a string", NULL);
    p = write_index("z.safetensors.index.json", "{}");
    expect_fail(p, PLINTH_ERR_FORMAT, "weight_map is empty", NULL);
}

/* ------------------------------------------------ hostile (issue 15) --- */

/* Offsets past 2^53 are refused before any arithmetic: [2^64 - 65536, 2^64]
 * used to wrap the range check and read 64 KiB before the data. */
Test(st, offsets_beyond_2_53)
{
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[16384],"
                      "\"data_offsets\":[18446744073709486080,18446744073709551616]}",
                      8, "too large");
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4e36]}", 8,
                      "too large");
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[5.8e57,5.8e57]}", 8,
                      "too large");
    expect_entry_fail("{\"dtype\":\"F32\",\"shape\":[9007199254740993],"
                      "\"data_offsets\":[0,4]}",
                      8, "too large");
}

/* A header or a shard with no tensors is a valid, empty dict: lookups of
 * an empty table must not reach qsort/bsearch with NULL (UB). */
Test(st, no_tensors_public_api)
{
    st_dict *d = open_ok(write_st("empty.safetensors", "{\"__metadata__\":{}}", NULL, 0));
    cr_assert_eq(plinth_state_dict_count(d), 0);
    cr_assert_eq(plinth_state_dict_find(d, "x"), -1);
    plinth_tensor_info ti = {.struct_size = sizeof ti};
    cr_assert_eq(plinth_state_dict_tensor(d, 0, &ti), PLINTH_ERR_INVALID);
    uint8_t b;
    cr_assert_eq(plinth_state_dict_read(d, 0, 0, &b, 1), PLINTH_ERR_INVALID);
    plinth_state_dict_close(d);
    d = open_ok(write_st("empty2.safetensors", "{}", NULL, 0));
    cr_assert_eq(plinth_state_dict_count(d), 0);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

Test(st, checkpoint_that_is_a_directory)
{
    char path[600];
    snprintf(path, sizeof path, "%s/folder", g_dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    char inner[700];
    snprintf(inner, sizeof inner, "%s/model.safetensors", path);
    cr_assert_eq(mkdir(inner, 0700), 0);
    expect_fail(path, PLINTH_ERR_IO, "not a regular file (a directory)", "model.safetensors");
}

/* A FIFO named like a checkpoint must not block the open for ever. */
Test(st, fifo_is_refused, .timeout = 10)
{
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", g_dir);
    cr_assert_eq(mkfifo(path, 0600), 0);
    expect_fail(path, PLINTH_ERR_IO, "not a regular file", "pipe");
    expect_fail(g_dir, PLINTH_ERR_IO, "not a regular file", "pipe");
}

/* A file truncated after it was opened: reading is an error naming the
 * file and tensor, not a SIGBUS as with a mapping. */
Test(st, truncated_after_open)
{
    float v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (float)i;
    const char *path = write_st("t.safetensors",
                                "{\"w\":{\"dtype\":\"F32\",\"shape\":[64],\"data_offsets\":[0,256]}}",
                                v, sizeof v);
    st_dict *d = open_ok(path);
    float got[64];
    cr_assert_eq(plinth_state_dict_read(d, 0, 0, got, sizeof got), PLINTH_OK);
    cr_assert_eq(memcmp(got, v, sizeof v), 0);
    cr_assert_eq(truncate(path, 100), 0);
    cr_assert_eq(plinth_state_dict_read(d, 0, 0, got, sizeof got), PLINTH_ERR_IO);
    const char *msg = plinth_context_error(g_ctx);
    cr_assert_not_null(strstr(msg, path), "%s", msg);
    cr_assert_not_null(strstr(msg, "changed since it was opened"), "%s", msg);
    cr_assert_not_null(strstr(msg, "'w'"), "%s", msg);
    /* out-of-range reads of a tensor are refused before any I/O */
    cr_assert_eq(plinth_state_dict_read(d, 0, 200, got, 100), PLINTH_ERR_INVALID);
    plinth_state_dict_close(d);
    CHECK_NO_LEAKS();
}

/* An index naming 100k distinct shards: refused at once (the limit), not
 * after a quadratic de-duplication; and 100k entries naming one shard stay
 * linear-logarithmic. */
Test(st, index_with_many_shards, .timeout = 20)
{
    const int n = 100000;
    size_t cap = (size_t)n * 64 + 64, used = 0;
    char *map = malloc(cap);
    cr_assert_not_null(map);
    used += (size_t)snprintf(map + used, cap - used, "{");
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(map + used, cap - used, "%s\"t%d\":\"s%d.safetensors\"",
                                 i ? "," : "", i, i);
    snprintf(map + used, cap - used, "}");
    const char *p = write_index("many.safetensors.index.json", map);
    expect_fail(p, PLINTH_ERR_FORMAT, "shards (at most", NULL);
    free(map);
}
