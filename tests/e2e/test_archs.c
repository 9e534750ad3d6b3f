/*
 * test_archs.c — Llama 3, Qwen 2.5 and Qwen 3 end to end on every backend
 * that loads, against float64 references the project made from Hugging
 * Face's modeling code (tests/data/<arch>-tiny/README.md says how).
 *
 * Per architecture and backend, relative L2 error over the whole array:
 *   prefill   24 tokens in one run, every position's logits    <= 1e-5
 *   chunked   the same in runs of 5 (the last one padded)       <= 1e-5
 *   decode    one token per run through the decode program      <= 1e-5
 *   long      300 tokens in runs of 64, the last 16 positions   <= 1e-5
 *             (Llama 3's rope scaling needs positions past the
 *             low-frequency wavelength to matter)
 * (vulkan 1e-4, as for Gemma.) And each distinctive feature matters: the
 * logits are >= 1e-1 away from the same reference computed with the
 * feature off (llama3 rope scaling, qwen2's q/k/v biases, qwen3's q/k
 * norm), short and long — a runtime that ignored the feature would land
 * there instead.
 * Plus what the config reader refuses (MoE, rope types, Qwen's sliding
 * window) and a multimodal Gemma 3 folder whose text part runs.
 */
#include "lm_model.h"
#include "st_writer.h"

#include <cJSON.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VOCAB 512
#define N_LONG_REF 16

/* ------------------------------------------------------------ helpers --- */

static void data_path(char *buf, size_t size, const char *fixture, const char *file)
{
    const char *d = getenv("PLINTH_TEST_DATA");
    cr_assert(d && *d, "PLINTH_TEST_DATA is not set (run through meson test)");
    snprintf(buf, size, "%s/%s%s%s", d, fixture, file ? "/" : "", file ? file : "");
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

/* tokens.json's list `key` (malloc'ed). */
static int32_t *tokens(const char *fixture, const char *key, int32_t *n)
{
    char path[4200];
    data_path(path, sizeof path, fixture, "tokens.json");
    char *text = slurp(path, NULL);
    cJSON *root = cJSON_Parse(text);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, key);
    cr_assert(cJSON_IsArray(arr), "%s: no list %s", path, key);
    *n = cJSON_GetArraySize(arr);
    int32_t *t = malloc((size_t)*n * sizeof *t);
    for (int32_t i = 0; i < *n; i++)
        t[i] = (int32_t)cJSON_GetArrayItem(arr, i)->valuedouble;
    cJSON_Delete(root);
    free(text);
    return t;
}

static float *reference(const char *fixture, const char *file, int32_t rows)
{
    char path[4200];
    size_t n;
    data_path(path, sizeof path, fixture, file);
    float *f = (float *)slurp(path, &n);
    cr_assert_eq(n, (size_t)rows * VOCAB * sizeof(float), "%s: unexpected size", path);
    return f;
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

static double tol(const char *backend) { return strcmp(backend, "vulkan") == 0 ? 1e-4 : 1e-5; }

/* The backends that load and have a device (template and device-less
 * ones logged as skipped, as test_gemma does). */
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

typedef struct opened {
    plinth_context *ctx;
    plinth_backend *be;
    lm_model *m;
} opened;

static plinth_status try_open(opened *s, const char *backend, const char *dir,
                              lm_model_options o, char *err, size_t es)
{
    memset(s, 0, sizeof *s);
    cr_assert_eq(plinth_context_create(NULL, &s->ctx), PLINTH_OK);
    plinth_status st = plinth_backend_open(s->ctx, backend, 0, NULL, &s->be);
    if (st != PLINTH_OK) {
        snprintf(err, es, "%s", plinth_context_error(s->ctx));
        return st;
    }
    return lm_model_load(s->ctx, s->be, dir, &o, &s->m, err, es);
}

static void close_model(opened *s)
{
    lm_model_free(s->m);
    plinth_backend_close(s->be);
    plinth_context_destroy(s->ctx);
}

/* Every position's logits of tok[0, n): prefill in runs of `chunk`, or one
 * token per decode run (chunk 0). */
static float *logits_of(const char *backend, const char *dir, const int32_t *tok, int32_t n,
                        int32_t chunk)
{
    opened s;
    char err[2048] = "";
    lm_model_options o = {.n_ctx = n, .n_prefill = chunk ? chunk : 4, .all_logits = chunk > 0};
    cr_assert_eq(try_open(&s, backend, dir, o, err, sizeof err), PLINTH_OK, "%s: load %s: %s",
                 backend, dir, err);
    float *out = malloc((size_t)n * VOCAB * sizeof *out);
    if (chunk)
        cr_assert_eq(lm_model_prefill(s.m, tok, n, 0, out, err, sizeof err), PLINTH_OK, "%s: %s",
                     backend, err);
    else
        for (int32_t i = 0; i < n; i++)
            cr_assert_eq(lm_model_decode(s.m, tok[i], i, out + (size_t)i * VOCAB, err,
                                         sizeof err),
                         PLINTH_OK, "%s: %s", backend, err);
    close_model(&s);
    return out;
}

/* ------------------------------------------------------------- golden --- */

typedef struct arch_case {
    const char *fixture;  /* tests/data/<fixture>           */
    const char *off;      /* its feature-off reference stem */
    const char *feature;
} arch_case;


static void golden(const arch_case *c)
{
    char dir[4200], off[256];
    data_path(dir, sizeof dir, c->fixture, NULL);
    int32_t n, n_long;
    int32_t *tok = tokens(c->fixture, "tokens", &n);
    int32_t *tok_long = tokens(c->fixture, "tokens_long", &n_long);
    float *ref = reference(c->fixture, "reference.f32", n);
    float *ref_long = reference(c->fixture, "reference_long.f32", N_LONG_REF);
    snprintf(off, sizeof off, "%s.f32", c->off);
    float *ref_off = reference(c->fixture, off, n);
    snprintf(off, sizeof off, "%s_long.f32", c->off);
    float *ref_off_long = reference(c->fixture, off, N_LONG_REF);
    const size_t all = (size_t)n * VOCAB, tail = (size_t)N_LONG_REF * VOCAB;
    /* The data itself: the feature moves the logits far. */
    cr_expect_geq(rel_l2(ref_off, ref, all), 1e-1, "%s: %s off is only %.3e away", c->fixture,
                  c->feature, rel_l2(ref_off, ref, all));
    char be[8][64];
    const int n_be = find_backends(be, 8);
    for (int b = 0; b < n_be; b++) {
        float *one = logits_of(be[b], dir, tok, n, n);
        float *chunked = logits_of(be[b], dir, tok, n, 5);
        float *dec = logits_of(be[b], dir, tok, n, 0);
        float *lng = logits_of(be[b], dir, tok_long, n_long, 64);
        const float *lng_tail = lng + (size_t)(n_long - N_LONG_REF) * VOCAB;
        const double e1 = rel_l2(one, ref, all), e5 = rel_l2(chunked, ref, all),
                     ed = rel_l2(dec, ref, all), el = rel_l2(lng_tail, ref_long, tail);
        const double f1 = rel_l2(one, ref_off, all), fl = rel_l2(lng_tail, ref_off_long, tail);
        cr_log_info("%s on %s: prefill %.2e, chunked %.2e, decode %.2e, long %.2e; "
                    "from %s off: %.2e, long %.2e", c->fixture, be[b], e1, e5, ed, el,
                    c->feature, f1, fl);
        cr_expect_leq(e1, tol(be[b]), "%s %s: prefill %.3e", c->fixture, be[b], e1);
        cr_expect_leq(e5, tol(be[b]), "%s %s: chunked %.3e", c->fixture, be[b], e5);
        cr_expect_leq(ed, tol(be[b]), "%s %s: decode %.3e", c->fixture, be[b], ed);
        cr_expect_leq(el, tol(be[b]), "%s %s: long %.3e", c->fixture, be[b], el);
        cr_expect_geq(f1, 1e-1, "%s %s: only %.3e from the %s-off logits", c->fixture, be[b],
                      f1, c->feature);
        cr_expect_geq(fl, 1e-1, "%s %s: long: only %.3e from the %s-off logits", c->fixture,
                      be[b], fl, c->feature);
        free(one);
        free(chunked);
        free(dec);
        free(lng);
    }
    free(tok);
    free(tok_long);
    free(ref);
    free(ref_long);
    free(ref_off);
    free(ref_off_long);
}

Test(archs, llama3, .timeout = 600)
{
    golden(&(arch_case){"llama3-tiny", "reference_no_scaling", "llama3 rope scaling"});
}

Test(archs, qwen2, .timeout = 600)
{
    golden(&(arch_case){"qwen2-tiny", "reference_no_bias", "q/k/v biases"});
}

Test(archs, qwen3, .timeout = 600)
{
    golden(&(arch_case){"qwen3-tiny", "reference_no_qk_norm", "q/k norm"});
}

/* ------------------------------------------------------------- config --- */

/* The fixture's config.json edited by `edit`, parsed. */
static plinth_status parse_edited(const char *fixture, void (*edit)(cJSON *), char *err,
                                  size_t es)
{
    char path[4200];
    data_path(path, sizeof path, fixture, "config.json");
    char *text = slurp(path, NULL);
    cJSON *root = cJSON_Parse(text);
    edit(root);
    char *out = cJSON_PrintUnformatted(root);
    lm_config c;
    plinth_status st = lm_config_parse(NULL, out, strlen(out), "config.json", &c, err, es);
    free(out);
    cJSON_Delete(root);
    free(text);
    return st;
}

static void moe(cJSON *c) { cJSON_AddNumberToObject(c, "num_experts", 8); }
static void yarn(cJSON *c)
{
    cJSON_ReplaceItemInObject(c, "rope_scaling",
                              cJSON_Parse("{\"rope_type\": \"yarn\", \"factor\": 4.0}"));
}
static void sliding(cJSON *c)
{
    cJSON_ReplaceItemInObject(c, "use_sliding_window", cJSON_CreateTrue());
}
static void bias(cJSON *c)
{
    cJSON_ReplaceItemInObject(c, "attention_bias", cJSON_CreateTrue());
}
static void gelu(cJSON *c)
{
    cJSON_ReplaceItemInObject(c, "hidden_act", cJSON_CreateString("gelu"));
}

static void expect_refused(const char *fixture, void (*edit)(cJSON *), const char *const *want,
                           int n_want)
{
    char err[1024] = "";
    cr_expect_neq(parse_edited(fixture, edit, err, sizeof err), PLINTH_OK, "%s: accepted",
                  fixture);
    for (int i = 0; i < n_want; i++)
        cr_expect(strstr(err, want[i]), "the message should name '%s': %s", want[i], err);
}

Test(archs, refused)
{
    expect_refused("qwen2-tiny", moe, (const char *[]){"config.json", "num_experts", "8"}, 3);
    expect_refused("llama3-tiny", yarn, (const char *[]){"rope_scaling", "yarn", "llama3"}, 3);
    expect_refused("qwen3-tiny", yarn, (const char *[]){"rope_scaling", "yarn"}, 2);
    expect_refused("qwen2-tiny", sliding, (const char *[]){"use_sliding_window"}, 1);
    expect_refused("llama3-tiny", bias, (const char *[]){"attention_bias"}, 1);
    expect_refused("qwen3-tiny", gelu, (const char *[]){"hidden_act", "gelu", "silu"}, 3);
}

/* The derived values: GQA, head_dim given (Qwen 3) or implied, the
 * attention scale, tied heads, and llama3's factors at the two ends. */
Test(archs, config_values)
{
    char path[4200], err[1024];
    lm_config c;
    data_path(path, sizeof path, "llama3-tiny", NULL);
    cr_assert_eq(lm_config_load(NULL, path, &c, err, sizeof err), PLINTH_OK, "%s", err);
    cr_expect_eq(c.arch, LM_ARCH_LLAMA);
    cr_expect(!c.tied && c.rope_llama3 && c.n_kv_heads == 2 && c.head_dim == 16);
    cr_expect_float_eq(c.attn_scale, 0.25f, 1e-7);
    float f[8];
    cr_assert(lm_config_rope_factors(&c, false, f));
    cr_expect_float_eq(f[0], 1.0f, 0, "the highest frequency is not scaled");
    cr_expect_float_eq(f[7], 8.0f, 1e-6, "the lowest is divided by factor");
    data_path(path, sizeof path, "qwen3-tiny", NULL);
    cr_assert_eq(lm_config_load(NULL, path, &c, err, sizeof err), PLINTH_OK, "%s", err);
    cr_expect(c.arch == LM_ARCH_QWEN3 && c.head_dim == 24 && c.tied && c.traits->qk_norm);
    cr_expect(!lm_config_rope_factors(&c, false, f), "no rope scaling");
}

/* ------------------------------------------------- multimodal Gemma 3 --- */

/* tests/data/gemma3-tiny-a as a Gemma3ForConditionalGeneration folder:
 * config {"model_type": "gemma3", "text_config": {...}, "vision_config":
 * {...}}, the text weights under language_model.model. and one vision
 * tensor. Its logits must be the text model's, exactly. */
Test(archs, gemma3_multimodal_text_part, .timeout = 120)
{
    char src[4200], path[4200], dir[256], err[2048] = "";
    snprintf(dir, sizeof dir, "%s/plinth-mm-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert(mkdtemp(dir));
    /* config */
    data_path(src, sizeof src, "gemma3-tiny-a", "config.json");
    char *text = slurp(src, NULL);
    cJSON *tc = cJSON_Parse(text), *top = cJSON_CreateObject();
    cJSON_AddStringToObject(top, "model_type", "gemma3");
    cJSON_AddItemToObject(top, "vision_config", cJSON_Parse("{\"model_type\": \"siglip\"}"));
    cJSON_AddItemToObject(top, "text_config", tc);
    char *cfg = cJSON_Print(top);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *fp = fopen(path, "wb");
    cr_assert(fp && fputs(cfg, fp) >= 0 && fclose(fp) == 0);
    free(cfg);
    cJSON_Delete(top);
    free(text);
    /* weights, renamed, plus a vision tensor plinth must not read */
    plinth_context *ctx;
    plinth_state_dict *sd;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    data_path(src, sizeof src, "gemma3-tiny-a", NULL);
    cr_assert_eq(plinth_state_dict_open(ctx, src, &sd), PLINTH_OK);
    const uint32_t n = plinth_state_dict_count(sd) + 1;
    char **names = calloc(n, sizeof *names);
    int32_t *dts = calloc(n, sizeof *dts), *nd = calloc(n, sizeof *nd);
    int64_t(*shapes)[4] = calloc(n, sizeof *shapes);
    for (uint32_t i = 0; i + 1 < n; i++) {
        plinth_tensor_info e = {.struct_size = sizeof e};
        cr_assert_eq(plinth_state_dict_tensor(sd, i, &e), PLINTH_OK);
        names[i] = malloc(strlen(e.name) + 32);
        sprintf(names[i], "language_%s", e.name); /* model.x -> language_model.x */
        if (strncmp(e.name, "model.", 6) == 0)
            sprintf(names[i], "language_model.%s", e.name);
        dts[i] = e.dtype, nd[i] = e.ndim;
        for (int d = 0; d < e.ndim; d++)
            shapes[i][d] = e.shape[d];
    }
    names[n - 1] = strdup("vision_tower.patch_embedding.weight");
    dts[n - 1] = PLINTH_F32, nd[n - 1] = 1, shapes[n - 1][0] = 4;
    st_writer *w;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    cr_assert_eq(st_writer_open(path, n, (const char *const *)names, dts, nd,
                                (const int64_t(*)[4])shapes, &w, err,
                                sizeof err), 0, "%s", err);
    for (uint32_t i = 0; i + 1 < n; i++) {
        plinth_tensor_info e = {.struct_size = sizeof e};
        plinth_state_dict_tensor(sd, i, &e);
        void *buf = malloc(e.bytes);
        cr_assert_eq(plinth_state_dict_read(sd, i, 0, buf, e.bytes), PLINTH_OK);
        cr_assert_eq(st_writer_data(w, buf, e.bytes, err, sizeof err), 0, "%s", err);
        free(buf);
    }
    const float vision[4] = {1, 2, 3, 4};
    cr_assert_eq(st_writer_data(w, vision, sizeof vision, err, sizeof err), 0, "%s", err);
    cr_assert_eq(st_writer_close(w, err, sizeof err), 0, "%s", err);
    plinth_state_dict_close(sd);
    plinth_context_destroy(ctx);
    for (uint32_t i = 0; i < n; i++)
        free(names[i]);
    free(names), free(dts), free(nd), free(shapes);

    int32_t nt;
    int32_t *tok = tokens("gemma3-tiny-a", "tokens", &nt);
    float *mm = logits_of("ref", dir, tok, nt, nt);
    float *plain = logits_of("ref", src, tok, nt, nt);
    cr_expect_eq(memcmp(mm, plain, (size_t)nt * VOCAB * sizeof *mm), 0,
                 "the text part of the multimodal folder gives other logits");
    free(mm), free(plain), free(tok);
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
}
