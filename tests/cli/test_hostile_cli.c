/*
 * test_hostile_cli.c — hostile files and arguments through the `plinth`
 * command: each gets a clear error (exit 1 or 2, a message naming the file,
 * tensor, key or flag) or a correct result, in bounded time (every command
 * runs under `timeout`; a hang is exit 124) and never a crash (a signal is
 * exit >= 128).
 *
 * Model folders are made per test in a temporary directory from the golden
 * tiny model (tests/data/gemma3-tiny-a), then damaged.
 *
 * Sections: helpers; checkpoints; configs; folders; arguments.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ----------------------------------------------------------- helpers --- */

static char out[1 << 16];
static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/plinth-hostile-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void teardown(void)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(hostile, .init = setup, .fini = teardown, .timeout = 120);

/* Runs `plinth ARGS` under `timeout 30`; returns the exit status (124 for a
 * time-out, 128 + n for a signal), output (stdout + stderr) in `out`. */
static int plinth(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int plinth(const char *fmt, ...)
{
    char args[8192], cmd[9000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "timeout -s KILL 30 '%s' %s 2>&1", getenv("PLINTH_EXE"), args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    int code = WEXITSTATUS(st);
    return code == 137 ? 124 : code; /* timeout -s KILL reports 128 + 9 */
}

#define EXPECT_IN(needle)                                                                \
    cr_expect_not_null(strstr(out, (needle)), "expected \"%s\" in:\n%s", (needle), out)

/* A clean failure: exit 1 or 2, no crash, no hang, and each needle said. */
#define EXPECT_REFUSED(rc, ...)                                                          \
    do {                                                                                 \
        int rc_ = (rc);                                                                  \
        cr_expect(rc_ == 1 || rc_ == 2, "exit %d (want 1 or 2):\n%s", rc_, out);          \
        const char *needles_[] = {__VA_ARGS__};                                          \
        for (size_t i_ = 0; i_ < sizeof needles_ / sizeof needles_[0]; i_++)             \
            EXPECT_IN(needles_[i_]);                                                     \
    } while (0)

static const char *golden(const char *file)
{
    static char buf[4][4096];
    static int slot;
    slot = (slot + 1) % 4;
    snprintf(buf[slot], sizeof buf[slot], "%s/gemma3-tiny-a/%s", getenv("PLINTH_TEST_DATA"),
             file);
    return buf[slot];
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    cr_assert(b && fread(b, 1, (size_t)len, f) == (size_t)len);
    b[len] = '\0';
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void spit(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* A model folder `name` in the temp dir: the golden config (with `from`
 * replaced by `to` when given) and checkpoint. Returns its path. */
static const char *model(const char *name, const char *from, const char *to)
{
    static char path[4][256];
    static int slot;
    slot = (slot + 1) % 4;
    snprintf(path[slot], sizeof path[slot], "%s/%s", dir, name);
    cr_assert_eq(mkdir(path[slot], 0700), 0);
    size_t n;
    char *cfg = slurp(golden("config.json"), &n);
    if (from) {
        char *at = strstr(cfg, from);
        cr_assert_not_null(at, "no '%s' in the golden config", from);
        size_t fl = strlen(from), tl = strlen(to);
        char *cfg2 = malloc(n - fl + tl + 1);
        memcpy(cfg2, cfg, (size_t)(at - cfg));
        memcpy(cfg2 + (at - cfg), to, tl);
        strcpy(cfg2 + (at - cfg) + tl, at + fl);
        free(cfg);
        cfg = cfg2;
        n = strlen(cfg);
    }
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", path[slot]);
    spit(p, cfg, n);
    free(cfg);
    char *st = slurp(golden("model.safetensors"), &n);
    snprintf(p, sizeof p, "%s/model.safetensors", path[slot]);
    spit(p, st, n);
    free(st);
    return path[slot];
}

static const char *logits_of(const char *m)
{
    static char a[512];
    snprintf(a, sizeof a, "logits %s --tokens 2,17,9 --out %s/l.f32", m, dir);
    return a;
}

/* The checkpoint of `m` rewritten: header text `h` (re-encoded length),
 * then the golden data section cut or kept. */
static void rewrite_checkpoint(const char *m, const char *(*edit)(const char *header))
{
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", m);
    size_t n;
    char *f = slurp(p, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | (uint8_t)f[i];
    char *h = malloc(hl + 1);
    memcpy(h, f + 8, hl);
    h[hl] = '\0';
    const char *h2 = edit(h);
    size_t l2 = strlen(h2), dn = n - 8 - hl;
    char *g = malloc(8 + l2 + dn);
    for (int i = 0; i < 8; i++)
        g[i] = (char)((uint64_t)l2 >> (8 * i));
    memcpy(g + 8, h2, l2);
    memcpy(g + 8 + l2, f + 8 + hl, dn);
    spit(p, g, 8 + l2 + dn);
    free(f);
    free(h);
    free(g);
}

/* ------------------------------------------------------- checkpoints --- */

Test(hostile, truncated_checkpoint)
{
    const char *m = model("trunc", NULL, NULL);
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", m);
    cr_assert_eq(truncate(p, 4), 0); /* inside the length */
    EXPECT_REFUSED(plinth("%s", logits_of(m)), p, "shorter than 8 bytes");
    cr_assert_eq(truncate(p, 200), 0); /* inside the header */
    EXPECT_REFUSED(plinth("%s", logits_of(m)), p, "runs past the end of the file");
    const char *m2 = model("trunc2", NULL, NULL);
    snprintf(p, sizeof p, "%s/model.safetensors", m2);
    struct stat sb;
    cr_assert_eq(stat(p, &sb), 0);
    cr_assert_eq(truncate(p, sb.st_size - 1000), 0); /* inside the data */
    EXPECT_REFUSED(plinth("%s", logits_of(m2)), p, "runs past the data section");
}

static char edited[1 << 16];

/* The first tensor's data_offsets made [2^64 - 65536, 2^64]. */
static const char *lying_offsets(const char *h)
{
    const char *at = strstr(h, "\"data_offsets\":[");
    cr_assert_not_null(at);
    const char *end = strchr(at, ']');
    snprintf(edited, sizeof edited, "%.*s\"data_offsets\":[18446744073709486080,"
             "18446744073709551616%s", (int)(at - h), h, end);
    return edited;
}

/* Every F32 dtype renamed BF16: byte counts no longer match the shapes. */
static const char *lying_dtype(const char *h)
{
    size_t o = 0;
    for (const char *p = h; *p && o + 8 < sizeof edited;) {
        if (strncmp(p, "\"F32\"", 5) == 0) {
            o += (size_t)snprintf(edited + o, sizeof edited - o, "\"BF16\"");
            p += 5;
        } else {
            edited[o++] = *p++;
        }
    }
    edited[o] = '\0';
    return edited;
}

/* The first shape made [2^31, 2^31, 2^31]: its product overflows int64. */
static const char *overflowing_shape(const char *h)
{
    const char *at = strstr(h, "\"shape\":[");
    cr_assert_not_null(at);
    const char *end = strchr(at, ']');
    snprintf(edited, sizeof edited, "%.*s\"shape\":[2147483648,2147483648,2147483648,"
             "2147483648%s", (int)(at - h), h, end);
    return edited;
}

Test(hostile, lying_headers)
{
    const char *m = model("offsets", NULL, NULL);
    rewrite_checkpoint(m, lying_offsets);
    EXPECT_REFUSED(plinth("%s", logits_of(m)), "model.safetensors", "too large");
    m = model("dtype", NULL, NULL);
    rewrite_checkpoint(m, lying_dtype);
    EXPECT_REFUSED(plinth("%s", logits_of(m)), "model.safetensors", "byte count mismatch");
    m = model("shape", NULL, NULL);
    rewrite_checkpoint(m, overflowing_shape);
    EXPECT_REFUSED(plinth("%s", logits_of(m)), "model.safetensors", "overflows 64 bits");
}

Test(hostile, checkpoint_that_is_a_directory_or_fifo)
{
    const char *m = model("dirck", NULL, NULL);
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", m);
    cr_assert_eq(unlink(p), 0);
    cr_assert_eq(mkdir(p, 0700), 0);
    EXPECT_REFUSED(plinth("%s", logits_of(m)), p, "a directory");
    cr_assert_eq(rmdir(p), 0);
    cr_assert_eq(mkfifo(p, 0600), 0);
    EXPECT_REFUSED(plinth("%s", logits_of(m)), p, "not a regular file");
}

/* ----------------------------------------------------------- configs --- */

Test(hostile, config_sizes)
{
    static const struct {
        const char *from, *to, *key;
    } cases[] = {
        {"\"hidden_size\": 64", "\"hidden_size\": 0", "hidden_size"},
        {"\"hidden_size\": 64", "\"hidden_size\": -64", "hidden_size"},
        {"\"hidden_size\": 64", "\"hidden_size\": 1e12", "hidden_size"},
        {"\"hidden_size\": 64", "\"hidden_size\": 64.5", "hidden_size"},
        {"\"num_hidden_layers\": 6", "\"num_hidden_layers\": 10000", "num_hidden_layers"},
        {"\"num_key_value_heads\": 1", "\"num_key_value_heads\": 3", "num_key_value_heads"},
        {"\"vocab_size\": 512", "\"vocab_size\": 99999999999", "vocab_size"},
        {"\"eos_token_id\": 1", "\"eos_token_id\": 1e38", "eos_token_id"},
        {"\"eos_token_id\": 1", "\"eos_token_id\": [1, 1e38]", "eos_token_id"},
        {"\"query_pre_attn_scalar\": 32", "\"query_pre_attn_scalar\": 1e-300",
         "query_pre_attn_scalar"},
        {"\"rms_norm_eps\": 1e-06", "\"rms_norm_eps\": 1e999", "rms_norm_eps"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "cfg%zu", i);
        const char *m = model(name, cases[i].from, cases[i].to);
        EXPECT_REFUSED(plinth("%s", logits_of(m)), "config.json", cases[i].key);
    }
}

Test(hostile, deeply_nested_config)
{
    const char *m = model("nested", NULL, NULL);
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", m);
    const size_t depth = 100000;
    char *deep = malloc(2 * depth + 16);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    spit(p, deep, 2 * depth);
    free(deep);
    EXPECT_REFUSED(plinth("%s", logits_of(m)), "config.json");
}

/* A 1 GB config.json (sparse: nothing is written) is refused by its size,
 * quickly and without reading it. */
Test(hostile, huge_config)
{
    const char *m = model("huge", NULL, NULL);
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", m);
    cr_assert_eq(truncate(p, (off_t)1 << 30), 0);
    EXPECT_REFUSED(plinth("%s", logits_of(m)), "config.json");
}

Test(hostile, fifo_config)
{
    const char *m = model("fifo", NULL, NULL);
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", m);
    cr_assert_eq(unlink(p), 0);
    cr_assert_eq(mkfifo(p, 0600), 0);
    EXPECT_REFUSED(plinth("%s", logits_of(m)), "config.json");
}

/* ----------------------------------------------------------- folders --- */

Test(hostile, model_folder_that_is_a_file_or_missing)
{
    char p[512];
    snprintf(p, sizeof p, "%s/plain-file", dir);
    spit(p, "x", 1);
    EXPECT_REFUSED(plinth("run %s -p hi", p), p, "not a model folder");
    EXPECT_REFUSED(plinth("run %s/none -p hi", dir), "no such model folder");
    EXPECT_REFUSED(plinth("logits %s --tokens 1 --out %s/o", p, dir), p);
}

/* --------------------------------------------------------- arguments --- */

/* A model with Gemma 3's vocabulary (so `run` has a tokenizer): made once
 * by `plinth init-random` from the tiny config. */
static const char *chat_model(void)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/v", dir);
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/v.json", dir);
    size_t n;
    char *c = slurp(golden("config.json"), &n);
    char *at = strstr(c, "\"vocab_size\": 512");
    cr_assert_not_null(at);
    FILE *f = fopen(cfg, "wb");
    fprintf(f, "%.*s\"vocab_size\": 262144%s", (int)(at - c), c, at + strlen("\"vocab_size\": 512"));
    fclose(f);
    free(c);
    cr_assert_eq(plinth("init-random %s --like %s --tokenizer %s", path, cfg,
                        getenv("PLINTH_TOKENIZER")),
                 0, "%s", out);
    return path;
}

Test(hostile, run_arguments)
{
    const char *m = chat_model();
    /* -n 0: the prompt is processed, nothing is generated, no complaint */
    cr_expect_eq(plinth("run %s -p hello -n 0 --temp 0", m), 0, "%s", out);
    EXPECT_IN("decode 0 tokens");
    /* the context is too small for the prompt: said so */
    EXPECT_REFUSED(plinth("run %s -p hello --ctx 1", m), "does not fit the context");
    /* generation that fills the context says so */
    cr_expect_eq(plinth("run %s -p hello -n 50 --ctx 6 --temp 0", m), 0, "%s", out);
    EXPECT_IN("the context of 6 positions is full");
    /* invalid UTF-8 in the prompt: encoded byte by byte, runs */
    cr_expect_eq(plinth("run %s -p $'\\xff\\xfe\\xc3' -n 2 --temp 0", m), 0, "%s", out);
    /* threads: 0 is the default, absurd counts are refused by the backend */
    cr_expect_eq(plinth("run %s -p hi -n 1 --threads 0", m), 0, "%s", out);
    EXPECT_REFUSED(plinth("run %s -p hi -n 1 --threads 100000", m), "100000 threads",
                   "at most 64");
    EXPECT_REFUSED(plinth("run %s -p hi -n 99999999999", m), "-n");
}

Test(hostile, bench_arguments)
{
    const char *m = model("b", NULL, NULL);
    /* 2^31 and 2^32 - 1 tokens: refused before anything is allocated */
    EXPECT_REFUSED(plinth("bench %s --prefill 2147483648", m), "--prefill 2147483648");
    EXPECT_REFUSED(plinth("bench %s --prefill 4294967295", m), "--prefill 4294967295");
    /* more than the model's context: said so, naming the key */
    EXPECT_REFUSED(plinth("bench %s --prefill 3000 --decode 1 --no-readbw --no-peak", m),
                   "max_position_embeddings 2048");
}
