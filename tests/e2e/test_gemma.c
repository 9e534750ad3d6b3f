/*
 * test_gemma.c — Gemma 3 end to end on every backend that loads.
 *
 * The golden model tests/data/gemma3-tiny-a (6 layers, sliding window 8, 24
 * tokens) has logits from an exact float64 forward that follows Hugging
 * Face (reference_pytorch.f32) and from llama.cpp (logits.f32). Checks, by
 * relative L2 error over the whole [n][vocab] array:
 *   golden_prefill   one prefill, all logits: <= 1e-5 vs the reference
 *                    (1e-4 on vulkan), <= 2e-3 vs llama.cpp; the last-only
 *                    program gives the last row
 *   golden_decode    the tokens one at a time through the decode program
 *   golden_chunked   prefill in chunks of 5 (the last one padded)
 *   bf16_weights     a bf16-rounded copy of the weights, stored as bf16, vs
 *                    the same values stored as f32 (and the f32-conversion
 *                    path of the loader)
 *   past_window      64 tokens (8 windows): single prefill, chunks of 5 and
 *                    decode against an independent double-precision forward
 *                    (gemma_oracle.c), itself checked against the golden
 *   errors           missing config key, unsupported model_type, missing
 *                    tensors: messages name the file, key or tensors
 * plus sampling (greedy, top-k, top-p, seeded draws).
 *
 * Sections: helpers (data, backends, temp dirs, errors); golden; bf16;
 * past the window; errors; sampling.
 */
#include "lm_model.h"
#include "gemma_oracle.h"
#include "sampling.h"
#include "st_writer.h"

#include <cJSON.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_GOLD 24
#define VOCAB 512
#define MAX_BACKENDS 8

/* ------------------------------------------------------------ helpers --- */

static const char *gold_dir(void)
{
    static char buf[4096];
    const char *d = getenv("PLINTH_TEST_DATA");
    cr_assert(d && *d, "PLINTH_TEST_DATA is not set (run through meson test)");
    snprintf(buf, sizeof buf, "%s/gemma3-tiny-a", d);
    return buf;
}

static char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    cr_assert(fp, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    cr_assert(buf && fread(buf, 1, (size_t)len, fp) == (size_t)len, "cannot read %s", path);
    buf[len] = '\0';
    fclose(fp);
    if (n)
        *n = (size_t)len;
    return buf;
}

static float *golden(const char *file)
{
    char path[4200];
    size_t n;
    snprintf(path, sizeof path, "%s/%s", gold_dir(), file);
    float *f = (float *)slurp(path, &n);
    cr_assert_eq(n, (size_t)N_GOLD * VOCAB * sizeof(float), "%s: unexpected size", path);
    return f;
}

static void golden_tokens(int32_t *tok)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tokens.json", gold_dir());
    char *text = slurp(path, NULL);
    cJSON *root = cJSON_Parse(text);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    cr_assert(cJSON_GetArraySize(arr) == N_GOLD, "tokens.json: want %d tokens", N_GOLD);
    for (int i = 0; i < N_GOLD; i++)
        tok[i] = (int32_t)cJSON_GetArrayItem(arr, i)->valuedouble;
    cJSON_Delete(root);
    free(text);
}

static double rel_l2(const float *a, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Vulkan computes in f32 with its own reduction orders (issue 6). */
static double tol(const char *backend)
{
    return strcmp(backend, "vulkan") == 0 ? 1e-4 : 1e-5;
}

typedef struct backends {
    char name[MAX_BACKENDS][64];
    int n;
} backends;

/* Every backend that loads and has a device; the others are logged with
 * the reason they are skipped. */
static void find_backends(backends *out)
{
    plinth_context *ctx = NULL;
    memset(out, 0, sizeof *out);
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    cr_assert_eq(plinth_plugins_scan(ctx), PLINTH_OK, "%s", plinth_context_error(ctx));
    for (uint32_t i = 0; i < plinth_plugin_count(ctx); i++) {
        plinth_plugin_report r = {.struct_size = sizeof r};
        if (plinth_plugin_query(ctx, i, &r) != PLINTH_OK)
            continue;
        if (!r.loaded && strstr(r.error, "shadowed by")) /* PLINTH_PLUGIN_PATH chose another */
            cr_log_info("skipping %s: %s", r.path, r.error);
        else if (!r.loaded)
            cr_log_warn("skipping %s: not loaded: %s", r.path, r.error);
        else if (strcmp(r.name, "template") == 0)
            cr_log_info("skipping template: the plugin writer's example (add, mul, scale only)");
        else if (r.n_devices == 0) /* info: Criterion fails a run that logs a warning,
                                      and a machine without Vulkan is no failure */
            cr_log_info("skipping %s: no device: %s", r.name, r.unavailable);
        else if (out->n < MAX_BACKENDS)
            snprintf(out->name[out->n++], 64, "%s", r.name);
    }
    plinth_context_destroy(ctx);
    cr_assert(out->n > 0, "no backend loaded (ref at least must)");
}

typedef struct session {
    plinth_context *ctx;
    plinth_backend *be;
    lm_model *m;
} session;

/* config: the backend's "key=value,..." options, or NULL. */
static plinth_status try_open(session *s, const char *backend, const char *config,
                              const char *dir, lm_model_options o, char *err, size_t es)
{
    memset(s, 0, sizeof *s);
    cr_assert_eq(plinth_context_create(NULL, &s->ctx), PLINTH_OK);
    const plinth_device_options opts = {.struct_size = sizeof opts, .config = config};
    plinth_status st = plinth_backend_open(s->ctx, backend, 0, config ? &opts : NULL, &s->be);
    if (st != PLINTH_OK) {
        snprintf(err, es, "%s", plinth_context_error(s->ctx));
        return st;
    }
    return lm_model_load(s->ctx, s->be, dir, &o, &s->m, err, es);
}

static void open_model_with(session *s, const char *backend, const char *config,
                            const char *dir, lm_model_options o)
{
    char err[2048] = "";
    plinth_status st = try_open(s, backend, config, dir, o, err, sizeof err);
    cr_assert_eq(st, PLINTH_OK, "%s: load %s: %s", backend, dir, err);
    if (lm_model_note(s->m)[0])
        cr_log_info("%s: %s", backend, lm_model_note(s->m));
}

static void open_model(session *s, const char *backend, const char *dir, lm_model_options o)
{
    open_model_with(s, backend, NULL, dir, o);
}

static void close_model(session *s)
{
    lm_model_free(s->m);
    plinth_backend_close(s->be);
    plinth_context_destroy(s->ctx);
}

/* All logits of tokens[0..n) by prefill (chunk tokens per run), the
 * backend opened with `config` (NULL: defaults). */
static float *prefill_all_with(const char *backend, const char *config, const char *dir,
                               const int32_t *tok, int32_t n, int32_t chunk, bool force_f32)
{
    session s;
    open_model_with(&s, backend, config, dir,
               (lm_model_options){.n_ctx = n, .n_prefill = chunk, .all_logits = true,
                                .force_f32 = force_f32});
    float *out = malloc((size_t)n * VOCAB * sizeof *out);
    char err[1024];
    cr_assert_eq(lm_model_prefill(s.m, tok, n, 0, out, err, sizeof err), PLINTH_OK, "%s: %s",
                 backend, err);
    close_model(&s);
    return out;
}

static float *prefill_all(const char *backend, const char *dir, const int32_t *tok, int32_t n,
                          int32_t chunk, bool force_f32)
{
    return prefill_all_with(backend, NULL, dir, tok, n, chunk, force_f32);
}

/* All logits of tokens[0..n), fed one at a time through decode, the
 * backend opened with `config` (NULL: defaults); *persistent (when not
 * NULL) gets the model's persistent bytes. */
static float *decode_all_with(const char *backend, const char *config, const char *dir,
                              const int32_t *tok, int32_t n, uint64_t *persistent)
{
    session s;
    open_model_with(&s, backend, config, dir, (lm_model_options){.n_ctx = n, .n_prefill = 4});
    if (persistent) {
        plinth_plan_stats st = {.struct_size = sizeof st};
        cr_assert_eq(plinth_program_plan_stats(lm_model_decode_program(s.m), &st), PLINTH_OK);
        *persistent = st.persistent_bytes;
    }
    cr_assert_not_null(lm_model_decode_program(s.m));
    float *out = malloc((size_t)n * VOCAB * sizeof *out);
    char err[1024];
    for (int32_t i = 0; i < n; i++)
        cr_assert_eq(lm_model_decode(s.m, tok[i], i, out + (size_t)i * VOCAB, err, sizeof err),
                     PLINTH_OK, "%s: %s", backend, err);
    close_model(&s);
    return out;
}

static float *decode_all(const char *backend, const char *dir, const int32_t *tok, int32_t n)
{
    return decode_all_with(backend, NULL, dir, tok, n, NULL);
}

/* A fresh directory under $TMPDIR (removed by rm_tree). */
static void make_temp_dir(char *buf, size_t size)
{
    const char *t = getenv("TMPDIR");
    snprintf(buf, size, "%s/plinth-gemma-XXXXXX", t && *t ? t : "/tmp");
    cr_assert_not_null(mkdtemp(buf), "mkdtemp %s", buf);
}

static void rm_tree(const char *dir)
{
    static const char *const files[] = {"config.json", "model.safetensors"};
    char p[4200];
    for (size_t i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void write_text(const char *dir, const char *file, const char *text)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *fp = fopen(p, "wb");
    cr_assert(fp && fputs(text, fp) >= 0 && fclose(fp) == 0, "cannot write %s", p);
}

/* config.json of the golden model, edited by `edit` (may be NULL). */
static void write_config(const char *dir, void (*edit)(cJSON *))
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", gold_dir());
    char *text = slurp(path, NULL);
    cJSON *root = cJSON_Parse(text);
    if (edit)
        edit(root);
    char *out = cJSON_Print(root);
    write_text(dir, "config.json", out);
    free(out);
    cJSON_Delete(root);
    free(text);
}

/* The golden weights into dir/model.safetensors: as `dtype` after rounding
 * through `round_to` (-1: no rounding), leaving out names in `skip`. The
 * golden file is f32. */
static void write_weights(const char *dir, int32_t dtype, int32_t round_to,
                          const char *const *skip, int n_skip)
{
    char err[1024], path[4200];
    plinth_context *ctx = NULL;
    plinth_state_dict *sd = NULL;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    cr_assert_eq(plinth_state_dict_open(ctx, gold_dir(), &sd), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    uint32_t n = 0, total = plinth_state_dict_count(sd);
    const char **names = calloc(total, sizeof *names);
    int32_t *dtypes = calloc(total, sizeof *dtypes), *ndims = calloc(total, sizeof *ndims);
    int64_t(*shapes)[4] = calloc(total, sizeof *shapes);
    uint32_t *which = calloc(total, sizeof *which);
    for (uint32_t i = 0; i < total; i++) {
        plinth_tensor_info e = {.struct_size = sizeof e};
        cr_assert_eq(plinth_state_dict_tensor(sd, i, &e), PLINTH_OK);
        cr_assert_eq(e.dtype, PLINTH_F32, "%s: the golden weights are f32", e.name);
        bool skipped = false;
        for (int k = 0; k < n_skip; k++)
            skipped |= strcmp(skip[k], e.name) == 0;
        if (skipped)
            continue;
        which[n] = i;
        names[n] = e.name;
        dtypes[n] = dtype;
        ndims[n] = e.ndim;
        for (int k = 0; k < e.ndim; k++)
            shapes[n][k] = e.shape[k];
        n++;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_writer *w = NULL;
    cr_assert_eq(st_writer_open(path, n, names, dtypes, ndims, (const int64_t(*)[4])shapes, &w,
                                err, sizeof err), 0, "%s", err);
    for (uint32_t i = 0; i < n; i++) {
        size_t numel = 1;
        for (int k = 0; k < ndims[i]; k++)
            numel *= (size_t)shapes[i][k];
        float *f = malloc(numel * sizeof *f);
        uint16_t *h = malloc(numel * sizeof *h);
        cr_assert_eq(plinth_state_dict_read(sd, which[i], 0, f, numel * sizeof *f), PLINTH_OK,
                     "%s", plinth_context_error(ctx));
        for (size_t j = 0; j < numel; j++) {
            h[j] = plinth_f32_to_bf16(f[j]);
            if (round_to == PLINTH_BF16)
                f[j] = plinth_bf16_to_f32(h[j]);
        }
        const void *data = dtype == PLINTH_BF16 ? (const void *)h : (const void *)f;
        cr_assert_eq(st_writer_data(w, data, numel * (dtype == PLINTH_BF16 ? 2 : 4), err,
                                    sizeof err), 0, "%s", err);
        free(f);
        free(h);
    }
    cr_assert_eq(st_writer_close(w, err, sizeof err), 0, "%s", err);
    free(names);
    free(dtypes);
    free(ndims);
    free(shapes);
    free(which);
    plinth_state_dict_close(sd);
    plinth_context_destroy(ctx);
}

/* ------------------------------------------------------------- golden --- */

Test(gemma, golden_prefill, .timeout = 120)
{
    backends b;
    find_backends(&b);
    int32_t tok[N_GOLD];
    golden_tokens(tok);
    float *ref = golden("reference_pytorch.f32"), *lcpp = golden("logits.f32");
    for (int i = 0; i < b.n; i++) {
        float *got = prefill_all(b.name[i], gold_dir(), tok, N_GOLD, N_GOLD, false);
        double e_ref = rel_l2(got, ref, (size_t)N_GOLD * VOCAB);
        double e_lcpp = rel_l2(got, lcpp, (size_t)N_GOLD * VOCAB);
        cr_log_info("%s: prefill vs reference %.3e, vs llama.cpp %.3e", b.name[i], e_ref,
                    e_lcpp);
        cr_expect_leq(e_ref, tol(b.name[i]), "%s: prefill vs reference %.3e", b.name[i], e_ref);
        cr_expect_leq(e_lcpp, 2e-3, "%s: prefill vs llama.cpp %.3e", b.name[i], e_lcpp);

        /* Logits only where needed: the last-only program's one row. */
        session s;
        open_model(&s, b.name[i], gold_dir(), (lm_model_options){.n_ctx = 32, .n_prefill = 16});
        float last[VOCAB];
        char err[1024];
        cr_assert_eq(lm_model_prefill(s.m, tok, N_GOLD, 0, last, err, sizeof err), PLINTH_OK,
                     "%s", err);
        double e_last = rel_l2(last, ref + (N_GOLD - 1) * VOCAB, VOCAB);
        cr_log_info("%s: last-only prefill (chunks of 16) vs reference row 23 %.3e", b.name[i],
                    e_last);
        cr_expect_leq(e_last, tol(b.name[i]), "%s: last row %.3e", b.name[i], e_last);
        close_model(&s);
        free(got);
    }
    free(ref);
    free(lcpp);
}

Test(gemma, golden_decode, .timeout = 120)
{
    backends b;
    find_backends(&b);
    int32_t tok[N_GOLD];
    golden_tokens(tok);
    float *ref = golden("reference_pytorch.f32");
    for (int i = 0; i < b.n; i++) {
        float *got = decode_all(b.name[i], gold_dir(), tok, N_GOLD);
        double e = rel_l2(got, ref, (size_t)N_GOLD * VOCAB);
        cr_log_info("%s: decode one token at a time vs reference %.3e", b.name[i], e);
        cr_expect_leq(e, tol(b.name[i]), "%s: decode %.3e", b.name[i], e);
        free(got);
    }
    free(ref);
}

Test(gemma, golden_chunked, .timeout = 120)
{
    backends b;
    find_backends(&b);
    int32_t tok[N_GOLD];
    golden_tokens(tok);
    float *ref = golden("reference_pytorch.f32");
    for (int i = 0; i < b.n; i++) {
        float *got = prefill_all(b.name[i], gold_dir(), tok, N_GOLD, 5, false);
        double e = rel_l2(got, ref, (size_t)N_GOLD * VOCAB);
        cr_log_info("%s: prefill in chunks of 5 vs reference %.3e", b.name[i], e);
        cr_expect_leq(e, tol(b.name[i]), "%s: chunked %.3e", b.name[i], e);
        free(got);
    }
    free(ref);
}

/* --------------------------------------------------------------- bf16 --- */

/* Two temporary models of the golden one, its weights rounded to bf16:
 * stored bf16 (d16) and the same values stored f32 (d32). */
static void write_bf16_models(char *d16, char *d32, size_t size)
{
    make_temp_dir(d16, size);
    make_temp_dir(d32, size);
    write_config(d16, NULL);
    write_config(d32, NULL);
    write_weights(d16, PLINTH_BF16, PLINTH_BF16, NULL, 0);
    write_weights(d32, PLINTH_F32, PLINTH_BF16, NULL, 0);
}

Test(gemma, bf16_weights, .timeout = 120)
{
    backends b;
    find_backends(&b);
    int32_t tok[N_GOLD];
    golden_tokens(tok);
    char d16[4096], d32[4096];
    write_bf16_models(d16, d32, sizeof d16);
    float *ref = golden("reference_pytorch.f32");
    for (int i = 0; i < b.n; i++) {
        float *w16 = prefill_all(b.name[i], d16, tok, N_GOLD, N_GOLD, false);
        float *w32 = prefill_all(b.name[i], d32, tok, N_GOLD, N_GOLD, false);
        float *conv = prefill_all(b.name[i], d16, tok, N_GOLD, N_GOLD, true);
        const size_t n = (size_t)N_GOLD * VOCAB;
        double e = rel_l2(w16, w32, n), ec = rel_l2(conv, w32, n), er = rel_l2(w16, ref, n);
        cr_log_info("%s: bf16 weights vs f32 run on the bf16-rounded weights %.3e "
                    "(converted to f32 at load: %.3e; rounding moves the logits %.3e from the "
                    "f32 reference)", b.name[i], e, ec, er);
        cr_expect_leq(e, tol(b.name[i]), "%s: bf16 %.3e", b.name[i], e);
        cr_expect_leq(ec, tol(b.name[i]), "%s: bf16 converted %.3e", b.name[i], ec);
        cr_expect_gt(er, 1e-4, "bf16 rounding should be visible (%.3e): were weights rounded?",
                     er);
        free(w16);
        free(w32);
        free(conv);
    }
    free(ref);
    rm_tree(d16);
    rm_tree(d32);
}

/* cpu with bf16 weights: at a level with the pairs kernels (AVX-512) each
 * weight is kept as pairs of k at load, in place, the tied embedding too
 * (get_rows reads the pairs), so the persistent pool is the plain one to
 * the byte (every N and K of this model is a multiple of 32 and 2).
 * Prefill (all logits: the GEMM on the tied table) and decode (4-token
 * chunks, then the GEMV) within the golden bound of the f32 run on the
 * same bf16-rounded weights, as plain bf16 weights are. */
Test(gemma, cpu_bf16_pairs, .timeout = 120)
{
    int32_t tok[N_GOLD];
    golden_tokens(tok);
    char d16[4096], d32[4096];
    write_bf16_models(d16, d32, sizeof d16);
    const size_t n = (size_t)N_GOLD * VOCAB;
    float *w32 = prefill_all_with("cpu", "pack_weights=0", d32, tok, N_GOLD, N_GOLD, false);
    uint64_t packed = 0, plain = 0;
    const char *configs[2] = {"pack_weights=auto", "pack_weights=0"};
    for (int c = 0; c < 2; c++) {
        float *pre = prefill_all_with("cpu", configs[c], d16, tok, N_GOLD, N_GOLD, false);
        float *dec = decode_all_with("cpu", configs[c], d16, tok, N_GOLD, c ? &plain : &packed);
        const double ep = rel_l2(pre, w32, n), ed = rel_l2(dec, w32, n);
        cr_log_info("cpu bf16 %s: prefill %.3e, decode %.3e vs f32 on the rounded weights",
                    configs[c], ep, ed);
        cr_expect_leq(ep, tol("cpu"), "%s: prefill %.3e", configs[c], ep);
        cr_expect_leq(ed, tol("cpu"), "%s: decode %.3e", configs[c], ed);
        free(pre);
        free(dec);
    }
    cr_expect_eq(packed, plain, "persistent %llu bytes packed, %llu plain: a twin was kept",
                 (unsigned long long)packed, (unsigned long long)plain);
    free(w32);
    rm_tree(d16);
    rm_tree(d32);
}

/* Whether the cpu plugin has a bf16_compute GEMM at the level it would
 * open with (vdpbf16ps at isa=avx512 with avx512_bf16, BFDOT at isa=neon
 * with FEAT_BF16): its device features say "bf16_compute" then (plinth
 * devices shows the same), which also follows PLINTH_CPU_ISA. */
static bool cpu_has_bf16_gemm(char *features, size_t size)
{
    plinth_context *ctx = NULL;
    bool has = false;
    snprintf(features, size, "no cpu plugin");
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    cr_assert_eq(plinth_plugins_scan(ctx), PLINTH_OK, "%s", plinth_context_error(ctx));
    for (uint32_t i = 0; i < plinth_plugin_count(ctx); i++) {
        plinth_plugin_report r = {.struct_size = sizeof r};
        plinth_device_info info = {.struct_size = sizeof info};
        if (plinth_plugin_query(ctx, i, &r) != PLINTH_OK || !r.loaded || strcmp(r.name, "cpu") ||
            plinth_plugin_device_info(ctx, i, 0, &info) != PLINTH_OK)
            continue;
        snprintf(features, size, "%s", info.features);
        has = strstr(info.features, " bf16_compute") != NULL;
    }
    plinth_context_destroy(ctx);
    return has;
}

/* The cpu backend's inexact prefill path (bf16_compute=1: vdpbf16ps or
 * BFDOT, activations rounded to bf16) on the bf16-stored golden model: within
 * 1e-2 relative L2 of the exact result for the same weights (issue 5's
 * bound; the exact path is itself checked against the float64 reference
 * in bf16_weights), and visibly not the exact path (else the option did
 * nothing). Skipped, with why, where the CPU has neither (or the ISA is
 * forced to a level without it). */
Test(gemma, cpu_bf16_compute, .timeout = 120)
{
    char features[256];
    if (!cpu_has_bf16_gemm(features, sizeof features))
        cr_skip_test("bf16_compute needs avx512_bf16 at isa=avx512 or FEAT_BF16 at isa=neon "
                     "(cpu device: %s)", features);
    int32_t tok[N_GOLD];
    golden_tokens(tok);
    char d16[4096];
    make_temp_dir(d16, sizeof d16);
    write_config(d16, NULL);
    write_weights(d16, PLINTH_BF16, PLINTH_BF16, NULL, 0);
    float *ref = golden("reference_pytorch.f32");
    float *exact = prefill_all("cpu", d16, tok, N_GOLD, N_GOLD, false);
    float *fast = prefill_all_with("cpu", "bf16_compute=1", d16, tok, N_GOLD, N_GOLD, false);
    const size_t n = (size_t)N_GOLD * VOCAB;
    const double d = rel_l2(fast, exact, n);
    cr_log_info("cpu bf16_compute=1: relative L2 %.3e from the exact result on the same bf16 "
                "weights (both %.3e / %.3e from the f32-weight reference)", d,
                rel_l2(fast, ref, n), rel_l2(exact, ref, n));
    cr_expect_leq(d, 1e-2, "bf16_compute=1: relative L2 %.3e > 1e-2", d);
    cr_expect_gt(d, 1e-6, "bf16_compute=1 gave the exact path's logits (%.3e): not taken?", d);
    free(ref);
    free(exact);
    free(fast);
    rm_tree(d16);
}

/* precision=fast on the bf16-stored golden model, as a user asks for it
 * (the cpu key here; `--precision fast` sets the device options' field to
 * the same effect, tests/backends/test_cpu.c). The open device says what it
 * did, and the logits must match: where it says bf16 dot products ran
 * (avx512_bf16 or FEAT_BF16, and the probe found them faster), within the
 * bound of bf16_compute=1 above (1e-2 relative L2 from the exact result:
 * activations rounded to bf16, 7.6e-3 measured with vdpbf16ps, 7.5e-3
 * with BFDOT under qemu) and not equal to exact; everywhere else (this
 * CPU has no bf16 GEMM, or it is slower than f32 here) bit for bit the
 * exact logits, since fast then runs the very same kernels. */
Test(gemma, cpu_precision_fast, .timeout = 120)
{
    int32_t tok[N_GOLD];
    golden_tokens(tok);
    char d16[4096];
    make_temp_dir(d16, sizeof d16);
    write_config(d16, NULL);
    write_weights(d16, PLINTH_BF16, PLINTH_BF16, NULL, 0);
    float *exact = prefill_all("cpu", d16, tok, N_GOLD, N_GOLD, false);
    session s;
    open_model_with(&s, "cpu", "precision=fast", d16,
                    (lm_model_options){.n_ctx = N_GOLD, .n_prefill = N_GOLD, .all_logits = true});
    const size_t n = (size_t)N_GOLD * VOCAB;
    float *fast = malloc(n * sizeof *fast);
    char err[1024];
    cr_assert_eq(lm_model_prefill(s.m, tok, N_GOLD, 0, fast, err, sizeof err), PLINTH_OK, "%s",
                 err);
    plinth_device_info info = {.struct_size = sizeof info};
    cr_assert_eq(plinth_backend_device_info(s.be, &info), PLINTH_OK);
    close_model(&s);
    const double d = rel_l2(fast, exact, n);
    cr_log_info("cpu precision=fast: '%s'; relative L2 %.3e from exact", info.precision, d);
    unsigned long long ran = 0;
    const char *at = strstr(info.precision, "in bf16-weight prefill, ");
    if (strstr(info.precision, "fast: bf16 dot products") == info.precision) {
        cr_expect(at && sscanf(at, "in bf16-weight prefill, %llu matmuls", &ran) == 1 && ran > 0,
                  "the device says bf16 but counted no bf16 matmul: %s", info.precision);
        cr_expect_leq(d, 1e-2, "precision=fast: relative L2 %.3e > 1e-2", d);
        cr_expect_gt(d, 1e-6, "precision=fast said bf16 but gave the exact logits (%.3e)", d);
    } else {
        cr_expect(strstr(info.precision, "fast: as exact, f32 arithmetic (") == info.precision,
                  "%s", info.precision);
        cr_expect(memcmp(fast, exact, n * sizeof *fast) == 0,
                  "fast computes as exact here (%s), yet the logits differ by %.3e",
                  info.precision, d);
    }
    free(exact);
    free(fast);
    rm_tree(d16);
}

/* cpu with pack_weights=1: the f32 golden model's weights stored as the
 * GEMM's panels at load (plinth_plugin.h pack_size/pack; the tied
 * embedding too, which get_rows reads out of the panels), prefill on them
 * and decode through the GEMV on panels: the golden bound, and the
 * persistent pool the plain one to the byte (packed in place, no twin:
 * every N and K here is a multiple of 32). */
Test(gemma, cpu_packed_weights, .timeout = 120)
{
    int32_t tok[N_GOLD];
    golden_tokens(tok);
    float *ref = golden("reference_pytorch.f32");
    const size_t n = (size_t)N_GOLD * VOCAB;
    float *pre = prefill_all_with("cpu", "pack_weights=1", gold_dir(), tok, N_GOLD, N_GOLD, false);
    uint64_t packed = 0, plain = 0;
    float *dec = decode_all_with("cpu", "pack_weights=1", gold_dir(), tok, N_GOLD, &packed);
    float *dec0 = decode_all_with("cpu", "pack_weights=0", gold_dir(), tok, N_GOLD, &plain);
    const double ep = rel_l2(pre, ref, n), ed = rel_l2(dec, ref, n);
    cr_log_info("cpu pack_weights=1: prefill %.3e, decode %.3e vs reference; persistent %llu "
                "bytes (plain %llu)", ep, ed, (unsigned long long)packed,
                (unsigned long long)plain);
    cr_expect_leq(ep, tol("cpu"), "packed prefill %.3e", ep);
    cr_expect_leq(ed, tol("cpu"), "packed decode %.3e", ed);
    cr_expect_eq(packed, plain, "persistent %llu bytes packed, %llu plain: a twin was kept",
                 (unsigned long long)packed, (unsigned long long)plain);
    cr_expect_leq(rel_l2(dec0, ref, n), tol("cpu"));
    free(ref);
    free(pre);
    free(dec);
    free(dec0);
}

/* ------------------------------------------------------ past the window --- */

#define N_LONG 64

Test(gemma, past_window, .timeout = 300)
{
    backends b;
    find_backends(&b);
    char err[1024];
    /* The oracle first earns trust on the golden tokens. */
    int32_t gtok[N_GOLD];
    golden_tokens(gtok);
    float *gref = golden("reference_pytorch.f32"), *ora = NULL;
    cr_assert_eq(oracle_logits(gold_dir(), gtok, N_GOLD, &ora, err, sizeof err), 0, "%s", err);
    double eo = rel_l2(ora, gref, (size_t)N_GOLD * VOCAB);
    cr_log_info("oracle (double, independent loops) vs reference %.3e", eo);
    cr_assert_leq(eo, 1e-6, "the oracle disagrees with the golden reference: %.3e", eo);
    free(ora);
    free(gref);

    /* 64 tokens: 8 sliding windows of 8; the global layer sees them all. */
    int32_t tok[N_LONG];
    uint32_t x = 2024;
    tok[0] = 2;
    for (int i = 1; i < N_LONG; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        tok[i] = 3 + (int32_t)(x % 509u);
    }
    cr_assert_eq(oracle_logits(gold_dir(), tok, N_LONG, &ora, err, sizeof err), 0, "%s", err);
    const size_t n = (size_t)N_LONG * VOCAB;
    for (int i = 0; i < b.n; i++) {
        float *one = prefill_all(b.name[i], gold_dir(), tok, N_LONG, N_LONG, false);
        float *chunked = prefill_all(b.name[i], gold_dir(), tok, N_LONG, 5, false);
        float *dec = decode_all(b.name[i], gold_dir(), tok, N_LONG);
        double e1 = rel_l2(one, ora, n), e5 = rel_l2(chunked, ora, n), ed = rel_l2(dec, ora, n);
        double x15 = rel_l2(chunked, one, n), x1d = rel_l2(dec, one, n);
        cr_log_info("%s: 64 tokens vs oracle: prefill %.3e, chunks of 5 %.3e, decode %.3e; "
                    "chunked vs prefill %.3e, decode vs prefill %.3e",
                    b.name[i], e1, e5, ed, x15, x1d);
        cr_expect_leq(e1, tol(b.name[i]), "%s: prefill %.3e", b.name[i], e1);
        cr_expect_leq(e5, tol(b.name[i]), "%s: chunked %.3e", b.name[i], e5);
        cr_expect_leq(ed, tol(b.name[i]), "%s: decode %.3e", b.name[i], ed);
        free(one);
        free(chunked);
        free(dec);
    }
    free(ora);
}

/* ------------------------------------------------------------- errors --- */

static void drop_hidden(cJSON *c) { cJSON_DeleteItemFromObject(c, "hidden_size"); }
static void mistral_type(cJSON *c)
{
    cJSON_ReplaceItemInObject(c, "model_type", cJSON_CreateString("mistral"));
}
static void softcap(cJSON *c)
{
    cJSON_ReplaceItemInObject(c, "final_logit_softcapping", cJSON_CreateNumber(30.0));
}

/* Loading dir on ref must fail with a message holding every `want`. */
static void expect_load_error(const char *dir, const char *const *want, int n_want)
{
    session s;
    char err[2048] = "";
    plinth_status st =
        try_open(&s, "ref", NULL, dir, (lm_model_options){.n_ctx = 8}, err, sizeof err);
    cr_expect_neq(st, PLINTH_OK, "loading %s should fail", dir);
    cr_log_info("expected error: %s", err);
    for (int i = 0; i < n_want; i++)
        cr_expect(strstr(err, want[i]) != NULL, "the message should name '%s': %s", want[i],
                  err);
    cr_expect_null(s.m);
    plinth_backend_close(s.be);
    plinth_context_destroy(s.ctx);
}

Test(gemma, errors, .timeout = 60)
{
    char dir[4096];
    make_temp_dir(dir, sizeof dir);
    write_weights(dir, PLINTH_F32, -1, NULL, 0);

    write_config(dir, drop_hidden);
    expect_load_error(dir, (const char *[]){"config.json", "\"hidden_size\"", "missing"}, 3);
    write_config(dir, mistral_type);
    expect_load_error(dir, (const char *[]){"config.json", "model_type", "mistral", "gemma3_text",
                                            "llama", "qwen3"}, 6);
    write_config(dir, softcap);
    expect_load_error(dir, (const char *[]){"config.json", "final_logit_softcapping"}, 2);

    write_config(dir, NULL);
    static const char *const skip[] = {"model.layers.3.mlp.up_proj.weight", "model.norm.weight"};
    write_weights(dir, PLINTH_F32, -1, skip, 2);
    expect_load_error(dir, (const char *[]){"2 tensors missing", "model.safetensors", skip[0],
                                            skip[1]}, 4);
    rm_tree(dir);
}

/* ----------------------------------------------------------- sampling --- */

/* The blocked argmax (sampling.c) against the plain definition: the first
 * NaN, else the first maximum (-0 and +0 equal), on arrays across block
 * boundaries made of runs of one value (so blocks differ: a -0 block
 * before a +0 block, ties between blocks), with signed zeros, infinities
 * and NaNs. */
static int32_t argmax_plain(const float *x, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++) {
        if (isnan(x[best]))
            break;
        if (x[i] > x[best] || isnan(x[i]))
            best = i;
    }
    return best;
}

Test(sampling, argmax_matches_definition)
{
    static float x[2000];
    /* the first 4: a maximum of signed zeros; 7: no NaN; 8: all */
    const float pool[] = {-1.0f, 0.0f, -0.0f, -INFINITY, 1.0f, 3.0f, INFINITY, NAN};
    uint32_t r = 7;
    for (int t = 0; t < 3000; t++) {
        const int32_t n = 1 + (int32_t)(r % 2000);
        const uint32_t kinds = t % 3 == 0 ? 4 : t % 3 == 1 ? 7 : 8;
        for (int32_t i = 0; i < n;) {
            r ^= r << 13, r ^= r >> 17, r ^= r << 5;
            float v = pool[(r >> 8) % kinds];
            if (v != v && (r >> 20) % 16 != 0)
                v = -1.0f; /* NaN rare, so the max path runs too */
            for (int32_t run = 1 + (int32_t)((r >> 24) % 300); run > 0 && i < n; run--)
                x[i++] = v;
        }
        const int32_t want = argmax_plain(x, n), got = sampler_argmax(x, n);
        cr_assert_eq(got, want, "case %d (n %d): argmax %d, the definition gives %d", t, (int)n,
                     (int)got, (int)want);
    }
}

Test(sampling, greedy_and_top_k_one)
{
    float logits[6] = {0.1f, 2.0f, -1.0f, 2.5f, 2.5f, 0.0f};
    sampler *g = sampler_create(NULL, &(sampler_options){.temperature = 0.0f}, 6);
    sampler *k1 = sampler_create(NULL, &(sampler_options){.temperature = 1.0f, .top_k = 1}, 6);
    cr_expect_eq(sampler_sample(g, logits), 3, "greedy: the first maximum");
    cr_expect_eq(sampler_sample(k1, logits), 3, "top-k 1 is greedy");
    sampler_free(g);
    sampler_free(k1);
}

Test(sampling, distribution_and_filters)
{
    /* p = 0.25 / 0.75 at temperature 1. */
    float logits[3] = {0.0f, logf(3.0f), -INFINITY};
    sampler *s = sampler_create(NULL, &(sampler_options){.temperature = 1.0f, .seed = 7}, 3);
    int count[3] = {0};
    for (int i = 0; i < 8000; i++)
        count[sampler_sample(s, logits)]++;
    cr_expect_eq(count[2], 0, "a -inf logit is never drawn");
    cr_expect(fabs(count[1] / 8000.0 - 0.75) < 0.02, "p(1) = %.3f, want 0.75", count[1] / 8000.0);
    sampler_free(s);

    /* top-p 0.7 keeps only the 0.75 token; top-k 1 keeps the maximum. */
    sampler *p = sampler_create(NULL, &(sampler_options){.temperature = 1.0f, .top_p = 0.7f, .seed = 1}, 3);
    for (int i = 0; i < 200; i++)
        cr_expect_eq(sampler_sample(p, logits), 1);
    sampler_free(p);

    /* The same seed gives the same draws. */
    float flat[50];
    for (int i = 0; i < 50; i++)
        flat[i] = (float)(i % 7) * 0.1f;
    sampler_options o = {.temperature = 0.8f, .top_k = 20, .top_p = 0.9f, .seed = 99};
    sampler *a = sampler_create(NULL, &o, 50), *b = sampler_create(NULL, &o, 50);
    for (int i = 0; i < 100; i++)
        cr_expect_eq(sampler_sample(a, flat), sampler_sample(b, flat));
    sampler_free(a);
    sampler_free(b);

    stop_rule r = {.max_tokens = 3};
    stop_rule_add(&r, 1);
    stop_rule_add(&r, 106);
    cr_expect(stop_rule_hit(&r, 106, 0));
    cr_expect(!stop_rule_hit(&r, 5, 2));
    cr_expect(stop_rule_hit(&r, 5, 3));
}
