/*
 * test_gguf_model.c — GGUF models end to end (issue 14): the project's tiny
 * random models (tests/data/{gemma3,llama3,qwen2,qwen3}-tiny*) written by
 * lm_quantize (`plinth quantize`) into a temporary folder, read back as
 * GGUF (config from metadata, llama.cpp's names, Gemma's 1 + w norms and
 * Llama's permuted q/k undone, the tokenizer from tokenizer.ggml.*), on
 * every backend that loads:
 *
 *   f32 GGUF        logits == the safetensors checkpoint's, bit for bit
 *   q8_0 GGUF       max |logit - f32 logit| <= 0.05 (measured 0.006-0.017
 *                   with logits up to 0.8), and <= 1e-5 (vulkan 1e-4) from
 *                   the same file with its weights dequantised to f32 at
 *                   load (activations stay f32)
 *   llama.cpp's     tests/data/gguf-models/llama3-tiny-Q4_0.gguf (written by
 *   own file        llama.cpp's quantiser): loads; within 0.02 of the logits
 *                   llama.cpp computed for it (it quantises activations to
 *                   q8 for its q4_0 dot products), within 1e-5 of its
 *                   dequantised run; its tokenizer encodes as bpe/'s
 *   tokenizers      the real Gemma 3, Llama 3 and Qwen 3 tokenizer.json
 *                   (.cache: the test fails when missing, as tokenizer's
 *                   does) written as GGUF metadata and read back encode
 *                   every text of the tokenizer cases files to the
 *                   same ids, and decode them back
 *   quantize        q4_K, q6_K, q4_0 and the Q4_K_M mix on a random model
 *                   whose rows are whole 256-blocks: each tensor's dtype as
 *                   lm_quantize.h says; max |logit - f32 logit| over max
 *                   |f32 logit| <= 0.3 (q4_0; measured 0.22), 0.2 (q4_K,
 *                   0.15; mix, 0.14), 0.06 (q6_K, 0.04); <= 1e-5 from the
 *                   dequantised weights; quantised at load == from the file
 *   narrow rows     the tiny Llama 3 (64-wide rows) as q4_K is q4_0 and as
 *                   q6_K q8_0, in the file and at load alike
 *   plinth_lm       plinth_lm_open of a .gguf file: text in, text out
 *   errors          an unknown architecture, a missing tensor, two .gguf
 *                   files in a folder: messages name them
 */
#include "lm_model.h"
#include "lm_quantize.h"
#include "st_writer.h"
#include "tokenizer.h"
#include "tokenizer_gguf.h"

#include <plinth_lm.h>

#include <cJSON.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VOCAB 512

static const int32_t toks[] = {1, 5, 9, 200, 3, 77, 400, 12, 511, 0, 42, 300};
#define N_TOKS ((int32_t)(sizeof toks / sizeof toks[0]))

/* ------------------------------------------------------------ helpers --- */

static void data_path(char *buf, size_t size, const char *rel)
{
    const char *d = getenv("PLINTH_TEST_DATA");
    cr_assert(d && *d, "PLINTH_TEST_DATA is not set (run through meson test)");
    snprintf(buf, size, "%s/%s", d, rel);
}

static char tmpdir[256];

/* A case's bytes: "text", or "hex" for bytes that are not UTF-8. */
static char *case_bytes(const cJSON *c, size_t *len)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "text");
    if (cJSON_IsString(t)) {
        *len = strlen(t->valuestring);
        return strdup(t->valuestring);
    }
    const char *hex = cJSON_GetObjectItemCaseSensitive(c, "hex")->valuestring;
    *len = strlen(hex) / 2;
    char *b = malloc(*len + 1);
    for (size_t i = 0; i < *len; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        b[i] = (char)v;
    }
    b[*len] = 0;
    return b;
}

static void make_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/plinth-gguf-XXXXXX");
    cr_assert(mkdtemp(tmpdir), "mkdtemp");
}

static void remove_tmp(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_expect_eq(system(cmd), 0);
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    cr_assert(a && b, "copy %s -> %s", from, to);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
}

/* tests/data/<fixture> with gguf-models/<tok>/tokenizer.json beside it, in
 * tmpdir/<fixture>; the folder's path into out. */
static void folder_with_tokenizer(const char *fixture, const char *tok, char *out, size_t size)
{
    char from[4200], to[4200];
    snprintf(out, size, "%s/%s", tmpdir, fixture);
    cr_assert_eq(mkdir(out, 0777), 0);
    static const char *const files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(to, sizeof to, "%s/%s", fixture, files[i]);
        data_path(from, sizeof from, to);
        snprintf(to, sizeof to, "%s/%s", out, files[i]);
        copy_file(from, to);
    }
    snprintf(to, sizeof to, "gguf-models/%s/tokenizer.json", tok);
    data_path(from, sizeof from, to);
    snprintf(to, sizeof to, "%s/tokenizer.json", out);
    copy_file(from, to);
}

static void quantize(const char *in, const char *out, const char *type)
{
    lm_quantize_options q = {0};
    cr_assert(lm_quantize_type_from_name(type, &q.type, &q.mix), "%s", type);
    plinth_context *ctx = NULL;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    char err[2048] = "";
    cr_assert_eq(lm_quantize(ctx, in, out, &q, err, sizeof err), PLINTH_OK, "quantize %s: %s",
                 in, err);
    plinth_context_destroy(ctx);
}

static int find_backends(char names[][64], int cap)
{
    plinth_context *ctx = NULL;
    int n = 0;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    cr_assert_eq(plinth_plugins_scan(ctx), PLINTH_OK, "%s", plinth_context_error(ctx));
    for (uint32_t i = 0; i < plinth_plugin_count(ctx); i++) {
        plinth_plugin_report r = {.struct_size = sizeof r};
        if (plinth_plugin_query(ctx, i, &r) != PLINTH_OK || !r.loaded ||
            strcmp(r.name, "template") == 0 || r.n_devices == 0) {
            cr_log_info("skipping %s", r.name);
            continue;
        }
        if (n < cap)
            snprintf(names[n++], 64, "%s", r.name);
    }
    plinth_context_destroy(ctx);
    cr_assert(n > 0, "no backend loaded (ref at least must)");
    return n;
}

/* Every position's logits of toks on `backend` (malloc'ed [n][VOCAB]);
 * NULL with the message in err when the load fails. */
static float *logits(const char *backend, const char *path, const lm_model_options *extra,
                     char *err, size_t es)
{
    plinth_context *ctx = NULL;
    plinth_backend *be = NULL;
    lm_model *m = NULL;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    cr_assert_eq(plinth_backend_open(ctx, backend, 0, NULL, &be), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    lm_model_options o = extra ? *extra : (lm_model_options){0};
    o.n_ctx = 64, o.n_prefill = N_TOKS, o.all_logits = true;
    float *out = NULL;
    if (lm_model_load(ctx, be, path, &o, &m, err, es) == PLINTH_OK) {
        out = malloc((size_t)N_TOKS * VOCAB * sizeof *out);
        cr_assert_eq(lm_model_prefill(m, toks, N_TOKS, 0, out, err, es), PLINTH_OK, "%s", err);
    }
    lm_model_free(m);
    plinth_backend_close(be);
    plinth_context_destroy(ctx);
    return out;
}

static float *logits_ok(const char *backend, const char *path, const lm_model_options *extra)
{
    char err[2048] = "";
    float *l = logits(backend, path, extra, err, sizeof err);
    cr_assert(l, "%s: load %s: %s", backend, path, err);
    return l;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    /* A NaN difference wins (fmax would drop it). Written as a compare,
     * not fmax: gcc 12 for aarch64 crashed vectorising the fmax
     * reduction (internal compiler error in vect_transform_reduction). */
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= m))
            m = d;
    }
    return m;
}

/* ----------------------------------------------------- tiny models --- */

static const char *const fixtures[][2] = {
    {"gemma3-tiny-a", "spm"}, {"llama3-tiny", "bpe"}, {"qwen2-tiny", "bpe"}, {"qwen3-tiny", "bpe"}};

Test(gguf, f32_and_q8_0_of_every_architecture, .init = make_tmp, .fini = remove_tmp,
     .timeout = 600)
{
    char names[8][64];
    const int nb = find_backends(names, 8);
    for (size_t f = 0; f < 4; f++) {
        char dir[4300], g32[4400], g8[4400];
        folder_with_tokenizer(fixtures[f][0], fixtures[f][1], dir, sizeof dir);
        snprintf(g32, sizeof g32, "%s/%s-f32.gguf", tmpdir, fixtures[f][0]);
        snprintf(g8, sizeof g8, "%s/%s-q8_0.gguf", tmpdir, fixtures[f][0]);
        quantize(dir, g32, "f32");
        quantize(dir, g8, "q8_0");
        for (int b = 0; b < nb; b++) {
            const size_t n = (size_t)N_TOKS * VOCAB;
            float *st = logits_ok(names[b], dir, NULL);
            float *f32 = logits_ok(names[b], g32, NULL);
            float *q8 = logits_ok(names[b], g8, NULL);
            const lm_model_options deq = {.force_f32 = true};
            float *q8f = logits_ok(names[b], g8, &deq);
            cr_expect(memcmp(st, f32, n * sizeof *st) == 0,
                      "%s on %s: the f32 GGUF's logits differ from the safetensors' (max %.3g)",
                      fixtures[f][0], names[b], max_abs_diff(st, f32, n));
            const double dq = max_abs_diff(st, q8, n), dd = max_abs_diff(q8, q8f, n);
            const double tol = strcmp(names[b], "vulkan") == 0 ? 1e-4 : 1e-5;
            cr_log_info("%s on %s: q8_0 vs f32 %.3g, vs dequantised %.3g", fixtures[f][0],
                        names[b], dq, dd);
            cr_expect_leq(dq, 0.05, "%s on %s: q8_0 logits %.3g from f32", fixtures[f][0],
                          names[b], dq);
            cr_expect_gt(dq, 0, "%s on %s: q8_0 changed nothing?", fixtures[f][0], names[b]);
            cr_expect_leq(dd, tol, "%s on %s: q8_0 vs its dequantised weights %.3g",
                          fixtures[f][0], names[b], dd);
            free(st), free(f32), free(q8), free(q8f);
        }
    }
}

/* Every token of toks decoded one at a time on cpu (precision, q8_act as
 * config): [N_TOKS][VOCAB], malloc'ed. */
static float *decoded(const char *path, int32_t prec, const char *config,
                      const lm_model_options *extra)
{
    plinth_context *ctx = NULL;
    plinth_backend *be = NULL;
    lm_model *m = NULL;
    char err[2048] = "";
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    plinth_device_options d = {.struct_size = sizeof d, .precision = prec, .config = config};
    cr_assert_eq(plinth_backend_open(ctx, "cpu", 0, &d, &be), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    lm_model_options o = extra ? *extra : (lm_model_options){0};
    o.n_ctx = 64;
    cr_assert_eq(lm_model_load(ctx, be, path, &o, &m, err, sizeof err), PLINTH_OK, "%s", err);
    float *out = malloc((size_t)N_TOKS * VOCAB * sizeof *out);
    for (int32_t t = 0; t < N_TOKS; t++)
        cr_assert_eq(lm_model_decode(m, toks[t], t, out + (size_t)t * VOCAB, err, sizeof err),
                     PLINTH_OK, "%s", err);
    lm_model_free(m);
    plinth_backend_close(be);
    plinth_context_destroy(ctx);
    return out;
}

/* q8_0 decode on cpu: exact keeps the activations f32 (the dequantised
 * weights' logits to 1e-5); fast quantises them to int8 per block of 32
 * and runs the packed GEMV. That moves the logits (so it ran), by an
 * error of the same kind as the weights' own 8-bit blocks: at most twice
 * what q8_0 itself moves them from the f32 model, and within the test
 * above's bound for that (0.05). */
Test(gguf, q8_0_decode_exact_and_fast, .init = make_tmp, .fini = remove_tmp, .timeout = 300)
{
    char dir[4300], g8[4400];
    folder_with_tokenizer("gemma3-tiny-a", "spm", dir, sizeof dir);
    snprintf(g8, sizeof g8, "%s/gemma3-tiny-a-q8_0.gguf", tmpdir);
    quantize(dir, g8, "q8_0");
    const size_t n = (size_t)N_TOKS * VOCAB;
    const lm_model_options deq = {.force_f32 = true};
    float *f32 = decoded(dir, PLINTH_PRECISION_EXACT, NULL, NULL);
    float *f = decoded(g8, PLINTH_PRECISION_EXACT, NULL, &deq);
    float *exact = decoded(g8, PLINTH_PRECISION_EXACT, NULL, NULL);
    float *fast = decoded(g8, PLINTH_PRECISION_FAST, NULL, NULL);
    float *fast_f32 = decoded(g8, PLINTH_PRECISION_FAST, "q8_act=0", NULL);
    const double de = max_abs_diff(f, exact, n), df = max_abs_diff(exact, fast, n),
                 dq = max_abs_diff(f32, exact, n);
    cr_log_info("q8_0 decode: exact vs dequantised %.3g, fast vs exact %.3g, exact vs f32 %.3g",
                de, df, dq);
    cr_expect_leq(de, 1e-5, "exact q8_0 decode %.3g from its dequantised weights", de);
    cr_expect_gt(df, 0, "fast q8_0 decode equals exact: the int8 path did not run");
    cr_expect_leq(df, 2 * dq, "fast q8_0 decode %.3g from exact; q8_0 %.3g from f32", df, dq);
    cr_expect_leq(df, 0.05, "fast q8_0 decode %.3g from exact", df);
    cr_expect_leq(max_abs_diff(exact, fast_f32, n), 1e-5, "q8_act=0 wins over fast: %.3g",
                  max_abs_diff(exact, fast_f32, n));
    free(f32), free(f), free(exact), free(fast), free(fast_f32);
}

/* ------------------------------------------------- llama.cpp's own file --- */

Test(gguf, file_written_by_llama_cpp, .timeout = 300)
{
    char path[4200], ref[4200];
    data_path(path, sizeof path, "gguf-models/llama3-tiny-Q4_0.gguf");
    data_path(ref, sizeof ref, "gguf-models/llama3-tiny-Q4_0.logits.f32");
    /* llama.cpp's logits of its first 8 tokens (make_llamacpp_gguf.sh). */
    static const int32_t lt[] = {510, 39, 301, 385, 289, 269, 509, 11};
    float *want = malloc(8 * VOCAB * sizeof *want);
    FILE *fp = fopen(ref, "rb");
    cr_assert(fp && fread(want, sizeof *want, 8 * VOCAB, fp) == 8 * VOCAB, "read %s", ref);
    fclose(fp);
    char names[8][64];
    const int nb = find_backends(names, 8);
    for (int b = 0; b < nb; b++) {
        plinth_context *ctx = NULL;
        plinth_backend *be = NULL;
        lm_model *m[2] = {NULL, NULL};
        char err[2048] = "";
        cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
        cr_assert_eq(plinth_backend_open(ctx, names[b], 0, NULL, &be), PLINTH_OK);
        float *got[2];
        for (int k = 0; k < 2; k++) {
            lm_model_options o = {.n_ctx = 16, .n_prefill = 8, .all_logits = true,
                                  .force_f32 = k == 1};
            cr_assert_eq(lm_model_load(ctx, be, path, &o, &m[k], err, sizeof err), PLINTH_OK,
                         "%s: %s", names[b], err);
            got[k] = malloc(8 * VOCAB * sizeof *got[k]);
            cr_assert_eq(lm_model_prefill(m[k], lt, 8, 0, got[k], err, sizeof err), PLINTH_OK);
        }
        cr_expect_str_eq(lm_model_weights_dtype(m[0]), "mixed"); /* q4_0 and output q8_0 */
        const double dl = max_abs_diff(got[0], want, 8 * VOCAB);
        const double dd = max_abs_diff(got[0], got[1], 8 * VOCAB);
        cr_log_info("%s: llama.cpp's Q4_0 file: vs llama.cpp %.3g, vs dequantised %.3g",
                    names[b], dl, dd);
        cr_expect_leq(dl, 0.02, "%s: %.3g from llama.cpp's logits", names[b], dl);
        cr_expect_leq(dd, strcmp(names[b], "vulkan") == 0 ? 1e-4 : 1e-5,
                      "%s: %.3g from the dequantised run", names[b], dd);
        for (int k = 0; k < 2; k++) {
            lm_model_free(m[k]);
            free(got[k]);
        }
        plinth_backend_close(be);
        plinth_context_destroy(ctx);
    }
    free(want);

    /* Its tokenizer (llama.cpp's copy of plinth's metadata) encodes as the
     * tokenizer.json it came from. */
    plinth_context *ctx = NULL;
    plinth_state_dict *sd = NULL;
    tokenizer *tg = NULL, *tj = NULL;
    char err[1024], tj_path[4200];
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    cr_assert_eq(plinth_state_dict_open(ctx, path, &sd), PLINTH_OK);
    cr_assert_eq(tokenizer_load_gguf(NULL, sd, &tg, err, sizeof err), 0, "%s", err);
    data_path(tj_path, sizeof tj_path, "gguf-models/bpe/tokenizer.json");
    cr_assert_eq(tokenizer_load(NULL, tj_path, &tj, err, sizeof err), 0, "%s", err);
    static const char text[] = "Hello world, this is a test of 12345 tokens!\n  Done.";
    int32_t *a, *c;
    size_t na, nc;
    cr_assert_eq(tokenizer_encode(tg, text, sizeof text - 1, true, &a, &na, err, sizeof err), 0);
    cr_assert_eq(tokenizer_encode(tj, text, sizeof text - 1, true, &c, &nc, err, sizeof err), 0);
    cr_expect(na == nc && memcmp(a, c, na * sizeof *a) == 0, "GGUF and JSON encodes differ");
    cr_expect_eq(a[0], 510, "bos first");
    free(a), free(c);
    tokenizer_free(tg), tokenizer_free(tj);
    plinth_state_dict_close(sd);
    plinth_context_destroy(ctx);
}

/* ----------------------------------------------------------- tokenizers --- */

/* Every text of a cases file encodes through the GGUF-read tokenizer as
 * through the tokenizer.json one (which test_tokenizer* check against the
 * reference ids), and decodes back to the same text. */
static void tokenizer_roundtrip(const char *cache_dir, const char *cases_file)
{
    const char *cache = getenv("PLINTH_TOKENIZER_CACHE");
    cr_assert(cache && *cache, "PLINTH_TOKENIZER_CACHE is not set");
    char path[4200], gpath[4300], err[2048] = "";
    snprintf(path, sizeof path, "%s/%s/tokenizer.json", cache, cache_dir);
    tokenizer *tj = NULL, *tg = NULL;
    cr_assert_eq(tokenizer_load(NULL, path, &tj, err, sizeof err), 0,
                 "%s (scripts/fetch-tokenizer.sh fetches it)", err);
    plinth_context *ctx = NULL;
    plinth_gguf_writer *w = NULL;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    snprintf(gpath, sizeof gpath, "%s/%s.gguf", tmpdir, cache_dir);
    cr_assert_eq(plinth_gguf_writer_create(ctx, gpath, &w), PLINTH_OK);
    cr_assert_eq(tokenizer_write_gguf(tj, w, tokenizer_vocab_size(tj), err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(plinth_gguf_writer_write(w), PLINTH_OK, "%s", plinth_context_error(ctx));
    plinth_gguf_writer_destroy(w);
    plinth_state_dict *sd = NULL;
    cr_assert_eq(plinth_state_dict_open(ctx, gpath, &sd), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_assert_eq(tokenizer_load_gguf(NULL, sd, &tg, err, sizeof err), 0, "%s", err);
    plinth_state_dict_close(sd);
    cr_expect_eq(tokenizer_bos(tg), tokenizer_bos(tj));
    cr_expect_eq(tokenizer_add_bos(tg), tokenizer_add_bos(tj));

    data_path(path, sizeof path, cases_file);
    FILE *fp = fopen(path, "rb");
    cr_assert(fp, "%s", path);
    fseek(fp, 0, SEEK_END);
    const long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    cr_assert_eq(fread(text, 1, (size_t)len, fp), (size_t)len);
    text[len] = 0;
    fclose(fp);
    cJSON *root = cJSON_Parse(text);
    const cJSON *c;
    int n = 0, bad = 0, skipped = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases")) {
        size_t sl;
        char *s = case_bytes(c, &sl);
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        /* A literal U+2581 in a SentencePiece-style text: llama.cpp's GGUF
         * holds user-defined tokens with spaces where tokenizer.json has
         * U+2581 ("\u2581\u2581" is one added token there, two pieces in
         * llama.cpp and here). Not compared; counted. */
        if (!tokenizer_gguf_is_byte_level(tg) && memmem(s, sl, "\xe2\x96\x81", 3)) {
            skipped++;
            free(s);
            continue;
        }
        cr_assert_eq(tokenizer_encode(tj, s, sl, false, &a, &na, err, sizeof err), 0);
        cr_assert_eq(tokenizer_encode(tg, s, sl, false, &b, &nb, err, sizeof err), 0, "%s", err);
        if (na != nb || memcmp(a, b, na * sizeof *a) != 0) {
            if (bad++ < 5)
                cr_log_error("%s: \"%.60s\": %zu ids from JSON, %zu from GGUF", cache_dir, s, na,
                             nb);
        } else {
            char *d1 = NULL, *d2 = NULL;
            size_t l1, l2;
            cr_assert_eq(tokenizer_decode(tj, a, na, false, &d1, &l1, err, sizeof err), 0);
            cr_assert_eq(tokenizer_decode(tg, b, nb, false, &d2, &l2, err, sizeof err), 0);
            cr_expect(l1 == l2 && memcmp(d1, d2, l1) == 0, "%s: decode of \"%.60s\" differs",
                      cache_dir, s);
            free(d1), free(d2);
        }
        free(a), free(b), free(s);
        n++;
    }
    cr_log_info("%s: %d texts, %d differ, %d with U+2581 not compared", cache_dir, n, bad,
                skipped);
    cr_expect_leq(skipped, 5, "%s: %d texts not compared", cache_dir, skipped);
    cr_expect_eq(bad, 0, "%s: %d of %d texts encode differently from GGUF", cache_dir, bad, n);
    cr_expect_gt(n, 100);
    cJSON_Delete(root);
    free(text);
    tokenizer_free(tj), tokenizer_free(tg);
    plinth_context_destroy(ctx);
}

Test(gguf, tokenizer_gemma3, .init = make_tmp, .fini = remove_tmp, .timeout = 300)
{
    tokenizer_roundtrip("gemma3-tokenizer", "tokenizer/cases.json");
}

Test(gguf, tokenizer_llama3, .init = make_tmp, .fini = remove_tmp, .timeout = 300)
{
    tokenizer_roundtrip("llama3-tokenizer", "tokenizer/llama3_cases.json");
}

Test(gguf, tokenizer_qwen3, .init = make_tmp, .fini = remove_tmp, .timeout = 300)
{
    tokenizer_roundtrip("qwen3-tokenizer", "tokenizer/qwen3_cases.json");
}

/* ------------------------------------------------------------- quantize --- */

/* A random llama-architecture model whose rows are whole 256-blocks. */
static void write_wide_model(const char *dir)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *fp = fopen(path, "w");
    cr_assert(fp);
    fputs("{\"model_type\": \"llama\", \"vocab_size\": 512, \"hidden_size\": 256, "
          "\"intermediate_size\": 512, \"num_hidden_layers\": 8, \"num_attention_heads\": 4, "
          "\"num_key_value_heads\": 2, \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0, "
          "\"max_position_embeddings\": 256, \"tie_word_embeddings\": false}\n", fp);
    fclose(fp);
    lm_config c;
    char err[1024];
    cr_assert_eq(lm_config_load(NULL, dir, &c, err, sizeof err), PLINTH_OK, "%s", err);
    uint32_t n = 0;
    char names[128][128];
    const char *np[128];
    int32_t dt[128], nd[128];
    int64_t shapes[128][4];
    bool norm;
    while (lm_param_at(&c, n, names[n], 128, &shapes[n][0], &shapes[n][1], &norm)) {
        np[n] = names[n];
        dt[n] = PLINTH_F32;
        nd[n] = shapes[n][1] ? 2 : 1;
        n++;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_writer *w;
    cr_assert_eq(st_writer_open(path, n, np, dt, nd, (const int64_t(*)[4])shapes, &w, err,
                                sizeof err), 0, "%s", err);
    uint32_t state = 12345;
    for (uint32_t i = 0; i < n; i++) {
        const size_t k = (size_t)shapes[i][0] * (size_t)(nd[i] == 2 ? shapes[i][1] : 1);
        float *v = malloc(k * sizeof *v);
        for (size_t j = 0; j < k; j++) {
            state = state * 1664525u + 1013904223u;
            const float u = (float)(state >> 8) / 16777216.0f - 0.5f;
            v[j] = nd[i] == 2 ? 0.08f * u : 1.0f + 0.2f * u;
        }
        cr_assert_eq(st_writer_data(w, v, k * sizeof *v, err, sizeof err), 0, "%s", err);
        free(v);
    }
    cr_assert_eq(st_writer_close(w, err, sizeof err), 0, "%s", err);
}

static int32_t dtype_in(const char *gguf, const char *name)
{
    plinth_context *ctx = NULL;
    plinth_state_dict *sd = NULL;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    cr_assert_eq(plinth_state_dict_open(ctx, gguf, &sd), PLINTH_OK);
    plinth_tensor_info t = {.struct_size = sizeof t};
    const int32_t i = plinth_state_dict_find(sd, name);
    cr_assert(i >= 0, "%s has no %s", gguf, name);
    plinth_state_dict_tensor(sd, (uint32_t)i, &t);
    plinth_state_dict_close(sd);
    plinth_context_destroy(ctx);
    return t.dtype;
}

Test(gguf, quantize_types_and_mix, .init = make_tmp, .fini = remove_tmp, .timeout = 600)
{
    char dir[512], out[600];
    snprintf(dir, sizeof dir, "%s/wide", tmpdir);
    cr_assert_eq(mkdir(dir, 0777), 0);
    write_wide_model(dir);
    float *ref = logits_ok("ref", dir, NULL);
    const size_t n = (size_t)N_TOKS * VOCAB;
    static const struct {
        const char *type;
        int32_t want;  /* of blk.1.attn_q.weight */
        double bound;  /* max |logit - f32 logit|, relative to max |f32 logit| */
    } cases[] = {{"q4_0", PLINTH_Q4_0, 0.3}, {"q4_K", PLINTH_Q4_K, 0.2},
                 {"q6_K", PLINTH_Q6_K, 0.06}, {"q4_K_M", PLINTH_Q4_K, 0.2}};
    const float *zero = calloc(n, sizeof *zero);
    const double max_ref = max_abs_diff(ref, zero, n); /* max |ref| */
    free((void *)zero);
    for (size_t k = 0; k < 4; k++) {
        snprintf(out, sizeof out, "%s/wide-%s.gguf", tmpdir, cases[k].type);
        quantize(dir, out, cases[k].type);
        cr_expect_eq(dtype_in(out, "blk.1.attn_q.weight"), cases[k].want, "%s", cases[k].type);
        cr_expect_eq(dtype_in(out, "blk.1.attn_norm.weight"), PLINTH_F32, "%s", cases[k].type);
        float *q = logits_ok("ref", out, NULL);
        const double d = max_abs_diff(ref, q, n);
        cr_log_info("wide model %s: max |d| %.3g (logits up to %.3g)", cases[k].type, d, max_ref);
        cr_expect_leq(d, cases[k].bound * max_ref, "%s: %.3g from f32 (logits up to %.3g)",
                      cases[k].type, d, max_ref);
        const lm_model_options deq = {.force_f32 = true};
        float *qf = logits_ok("ref", out, &deq);
        cr_expect_leq(max_abs_diff(q, qf, n), 1e-5, "%s: %.3g from its dequantised weights",
                      cases[k].type, max_abs_diff(q, qf, n));
        free(q), free(qf);
    }
    /* The mix: q6_K for output and for attn_v / ffn_down of layers 0, 3, 6,
     * 7 (8 layers: use_more_bits), q4_K elsewhere. */
    snprintf(out, sizeof out, "%s/wide-q4_K_M.gguf", tmpdir);
    cr_expect_eq(dtype_in(out, "output.weight"), PLINTH_Q6_K);
    cr_expect_eq(dtype_in(out, "token_embd.weight"), PLINTH_Q4_K);
    static const bool more[8] = {true, false, false, true, false, false, true, true};
    for (int l = 0; l < 8; l++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", l);
        cr_expect_eq(dtype_in(out, name), more[l] ? PLINTH_Q6_K : PLINTH_Q4_K, "%s", name);
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
        cr_expect_eq(dtype_in(out, name), more[l] ? PLINTH_Q6_K : PLINTH_Q4_K, "%s", name);
        snprintf(name, sizeof name, "blk.%d.ffn_up.weight", l);
        cr_expect_eq(dtype_in(out, name), PLINTH_Q4_K, "%s", name);
    }
    /* Quantised at load (lm_model_options.quantize) == the q4_K file. */
    snprintf(out, sizeof out, "%s/wide-q4_K.gguf", tmpdir);
    const lm_model_options at_load = {.quantize = PLINTH_Q4_K};
    float *ql = logits_ok("ref", dir, &at_load), *qf = logits_ok("ref", out, NULL);
    cr_expect(memcmp(ql, qf, n * sizeof *ql) == 0, "q4_K at load vs file: %.3g",
              max_abs_diff(ql, qf, n));
    free(ql), free(qf);
    /* Requantising a GGUF: q8_0 of the q6_K file, names and metadata kept. */
    char out2[700];
    snprintf(out, sizeof out, "%s/wide-q6_K.gguf", tmpdir);
    snprintf(out2, sizeof out2, "%s/wide-requant.gguf", tmpdir);
    quantize(out, out2, "q8_0");
    cr_expect_eq(dtype_in(out2, "blk.3.ffn_gate.weight"), PLINTH_Q8_0);
    float *q = logits_ok("ref", out2, NULL);
    cr_expect_leq(max_abs_diff(ref, q, n), 0.05 * max_ref, "requantised: %.3g",
                  max_abs_diff(ref, q, n));
    free(q);
    free(ref);
}

/* Rows that are not whole 256-blocks (the tiny Llama 3's are 64 wide, as
 * Gemma 3 270M's are 640): q4_K falls back to q4_0 and q6_K to q8_0, in the
 * file and at load alike; rows of 32-blocks stay what was asked. */
Test(gguf, k_quants_fall_back_on_narrow_rows, .init = make_tmp, .fini = remove_tmp,
     .timeout = 300)
{
    char dir[4300], out[4400];
    folder_with_tokenizer("llama3-tiny", "bpe", dir, sizeof dir);
    static const struct {
        const char *type;
        int32_t asked, want;
    } cases[] = {{"q4_K", PLINTH_Q4_K, PLINTH_Q4_0}, {"q6_K", PLINTH_Q6_K, PLINTH_Q8_0}};
    const size_t n = (size_t)N_TOKS * VOCAB;
    for (size_t k = 0; k < 2; k++) {
        snprintf(out, sizeof out, "%s/narrow-%s.gguf", tmpdir, cases[k].type);
        quantize(dir, out, cases[k].type);
        cr_expect_eq(dtype_in(out, "blk.0.attn_q.weight"), cases[k].want, "%s", cases[k].type);
        cr_expect_eq(dtype_in(out, "blk.0.attn_norm.weight"), PLINTH_F32, "%s", cases[k].type);
        const lm_model_options at_load = {.quantize = cases[k].asked};
        float *ql = logits_ok("ref", dir, &at_load), *qf = logits_ok("ref", out, NULL);
        cr_expect(memcmp(ql, qf, n * sizeof *ql) == 0, "%s at load vs file: %.3g",
                  cases[k].type, max_abs_diff(ql, qf, n));
        free(ql), free(qf);
    }
}

/* ------------------------------------------------------------ plinth_lm --- */

Test(gguf, plinth_lm_opens_a_gguf_file, .init = make_tmp, .fini = remove_tmp, .timeout = 300)
{
    char dir[4300], g[4400];
    folder_with_tokenizer("gemma3-tiny-a", "spm", dir, sizeof dir);
    snprintf(g, sizeof g, "%s/tiny-q8_0.gguf", tmpdir);
    quantize(dir, g, "q8_0");
    plinth_context *ctx = NULL;
    plinth_backend *be = NULL;
    plinth_lm *lm = NULL;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    cr_assert_eq(plinth_backend_open(ctx, "ref", 0, NULL, &be), PLINTH_OK);
    plinth_lm_options o = {.struct_size = sizeof o, .n_ctx = 64};
    cr_assert_eq(plinth_lm_open(&be, 1, g, &o, &lm), PLINTH_OK, "%s", plinth_context_error(ctx));
    plinth_lm_info info = {.struct_size = sizeof info};
    cr_assert_eq(plinth_lm_query_info(lm, &info), PLINTH_OK);
    cr_expect_str_eq(info.arch, "gemma3_text");
    cr_expect_str_eq(info.weights, "q8_0");
    cr_expect_eq(info.vocab, VOCAB);
    cr_expect_eq(plinth_lm_token_id(lm, "<start_of_turn>"), 4);
    plinth_lm_close(lm);
    plinth_backend_close(be);
    plinth_context_destroy(ctx);
}

/* --------------------------------------------------------------- errors --- */

Test(gguf, errors_name_the_key_and_file, .init = make_tmp, .fini = remove_tmp)
{
    plinth_context *ctx = NULL;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    char path[600], err[2048] = "";
    snprintf(path, sizeof path, "%s/bad.gguf", tmpdir);
    plinth_gguf_writer *w = NULL;
    cr_assert_eq(plinth_gguf_writer_create(ctx, path, &w), PLINTH_OK);
    cr_assert_eq(plinth_gguf_writer_add_string(w, "general.architecture", "mamba"), PLINTH_OK);
    cr_assert_eq(plinth_gguf_writer_write(w), PLINTH_OK);
    plinth_gguf_writer_destroy(w);
    cr_expect_null(logits("ref", path, NULL, err, sizeof err));
    cr_expect(strstr(err, "general.architecture") && strstr(err, "mamba") &&
              strstr(err, "bad.gguf"), "%s", err);

    /* A right config and no tensors: they are listed as missing. */
    cr_assert_eq(plinth_gguf_writer_create(ctx, path, &w), PLINTH_OK);
    plinth_gguf_writer_add_string(w, "general.architecture", "qwen3");
    plinth_gguf_writer_add_int(w, "qwen3.block_count", PLINTH_META_U32, 1);
    plinth_gguf_writer_add_int(w, "qwen3.embedding_length", PLINTH_META_U32, 64);
    plinth_gguf_writer_add_int(w, "qwen3.feed_forward_length", PLINTH_META_U32, 128);
    plinth_gguf_writer_add_int(w, "qwen3.attention.head_count", PLINTH_META_U32, 4);
    plinth_gguf_writer_add_float(w, "qwen3.attention.layer_norm_rms_epsilon", PLINTH_META_F32, 1e-6);
    static const float emb[32 * 64];
    const int64_t shape[2] = {32, 64};
    plinth_gguf_writer_add_tensor(w, "token_embd.weight", PLINTH_F32, 2, shape, emb);
    cr_assert_eq(plinth_gguf_writer_write(w), PLINTH_OK, "%s", plinth_context_error(ctx));
    plinth_gguf_writer_destroy(w);
    cr_expect_null(logits("ref", path, NULL, err, sizeof err));
    cr_expect(strstr(err, "blk.0.attn_q.weight") && strstr(err, "missing"), "%s", err);

    /* Two .gguf files in a folder without config.json. */
    char dir[600], other[700];
    snprintf(dir, sizeof dir, "%s/two", tmpdir);
    cr_assert_eq(mkdir(dir, 0777), 0);
    snprintf(other, sizeof other, "%s/a.gguf", dir);
    copy_file(path, other);
    snprintf(other, sizeof other, "%s/b.gguf", dir);
    copy_file(path, other);
    cr_expect_null(logits("ref", dir, NULL, err, sizeof err));
    cr_expect(strstr(err, "several .gguf"), "%s", err);
    plinth_context_destroy(ctx);
}
