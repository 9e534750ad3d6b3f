/*
 * test_split.c — Gemma 3 on several backends (issue 12).
 *
 *   template_golden   the template plugin (f32 add, mul, scale: nothing
 *                     else) runs the golden tiny model with ref, and with
 *                     cpu, as fallback: all logits within 1e-5 relative L2
 *                     of the exact reference, by prefill and by decode, with
 *                     its ops on the template and no transfer (host memory)
 *   vulkan_cpu_split  a small 270M-shaped random model (init-random --like
 *                     a config: GQA 4:1, sliding and global layers) with its
 *                     first half of layers on vulkan and the rest on cpu:
 *                     the same greedy tokens as vulkan alone and cpu alone,
 *                     logits within the vulkan bound, and the plan's one
 *                     transfer per run (the residual stream at the split)
 *
 * Sections: helpers; the template; vulkan + cpu.
 */
#include "lm_model.h"
#include "sampling.h"

#include <cJSON.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers --- */

#define N_GOLD 24
#define VOCAB 512

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

static const char *gold_dir(void)
{
    static char buf[4096];
    const char *d = getenv("PLINTH_TEST_DATA");
    cr_assert(d && *d, "PLINTH_TEST_DATA is not set (run through meson test)");
    snprintf(buf, sizeof buf, "%s/gemma3-tiny-a", d);
    return buf;
}

static void golden_tokens(int32_t *tok)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tokens.json", gold_dir());
    char *text = slurp(path, NULL);
    cJSON *root = cJSON_Parse(text);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    cr_assert(cJSON_GetArraySize(arr) == N_GOLD);
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

/* A model on an ordered list of backends (plugin paths or names). */
typedef struct session {
    plinth_context *ctx;
    plinth_backend *be[4];
    uint32_t n;
    lm_model *m;
} session;

/* Opens the backends; false (with the reason in why) when one has no
 * device here. */
static bool open_list(session *s, const char *const *names, uint32_t n, char *why, size_t size)
{
    memset(s, 0, sizeof *s);
    cr_assert_eq(plinth_context_create(NULL, &s->ctx), PLINTH_OK);
    for (uint32_t i = 0; i < n; i++) {
        if (plinth_backend_open(s->ctx, names[i], 0, NULL, &s->be[i]) != PLINTH_OK) {
            snprintf(why, size, "%s: %s", names[i], plinth_context_error(s->ctx));
            return false;
        }
        s->n++;
    }
    return true;
}

static void load(session *s, const char *dir, lm_model_options o)
{
    o.fallbacks = s->be + 1;
    o.n_fallbacks = s->n - 1;
    char err[2048];
    cr_assert_eq(lm_model_load(s->ctx, s->be[0], dir, &o, &s->m, err, sizeof err), PLINTH_OK,
                 "%s", err);
}

static void close_session(session *s)
{
    lm_model_free(s->m);
    for (uint32_t i = 0; i < s->n; i++)
        plinth_backend_close(s->be[i]);
    plinth_context_destroy(s->ctx);
}

static plinth_plan_stats stats(plinth_program *p)
{
    plinth_plan_stats st = {.struct_size = sizeof st};
    cr_assert_eq(plinth_program_plan_stats(p, &st), PLINTH_OK);
    return st;
}

/* Kernel instructions of p on backend b, per op. */
static void ops_on(plinth_program *p, int32_t b, uint32_t *count)
{
    memset(count, 0, PLINTH_OP_COUNT * sizeof *count);
    for (uint32_t i = 0; i < stats(p).n_instructions; i++) {
        plinth_instruction_info in = {.struct_size = sizeof in};
        cr_assert_eq(plinth_program_instruction_info(p, i, &in), PLINTH_OK);
        if (in.op >= 0 && in.backend == b)
            count[in.op]++;
    }
}

/* ------------------------------------------------------- the template --- */

static void template_with(const char *fallback)
{
    const char *names[2] = {getenv("PLINTH_TEST_TEMPLATE"), fallback};
    int32_t tok[N_GOLD];
    golden_tokens(tok);
    char path[4200];
    snprintf(path, sizeof path, "%s/reference_pytorch.f32", gold_dir());
    size_t bytes = 0;
    float *want = (float *)slurp(path, &bytes);
    cr_assert_eq(bytes, sizeof(float) * N_GOLD * VOCAB);
    float *got = malloc(sizeof(float) * N_GOLD * VOCAB);
    char why[1024], err[1024];
    for (int pass = 0; pass < 2; pass++) { /* prefill of all, then decode one by one */
        session s;
        cr_assert(open_list(&s, names, 2, why, sizeof why), "%s", why);
        load(&s, gold_dir(), (lm_model_options){.n_ctx = N_GOLD, .n_prefill = pass ? 4 : N_GOLD,
                                              .all_logits = pass == 0});
        plinth_program *p = pass ? lm_model_decode_program(s.m) : lm_model_prefill_program(s.m);
        uint32_t on_t[PLINTH_OP_COUNT], on_f[PLINTH_OP_COUNT];
        ops_on(p, 0, on_t);
        ops_on(p, 1, on_f);
        cr_expect_gt(on_t[PLINTH_OP_ADD], 0, "the residual adds run on the template");
        cr_expect_gt(on_t[PLINTH_OP_MUL], 0, "GeGLU's mul runs on the template");
        cr_expect_eq(on_t[PLINTH_OP_SCALE], 1, "the embedding scale runs on the template");
        cr_expect_eq(on_f[PLINTH_OP_ADD] + on_f[PLINTH_OP_MUL] + on_f[PLINTH_OP_SCALE], 0,
                     "the fallback runs none of the template's ops");
        cr_expect_gt(on_f[PLINTH_OP_MATMUL], 0);
        cr_expect_eq(stats(p).n_transfers, 0, "template and %s share host memory", fallback);
        cr_expect_gt(stats(p).n_shared, 0);
        if (pass == 0) {
            cr_assert_eq(lm_model_prefill(s.m, tok, N_GOLD, 0, got, err, sizeof err), PLINTH_OK,
                         "%s", err);
        } else {
            for (int32_t i = 0; i < N_GOLD; i++)
                cr_assert_eq(lm_model_decode(s.m, tok[i], i, got + (size_t)i * VOCAB, err,
                                           sizeof err), PLINTH_OK, "%s", err);
        }
        const double e = rel_l2(got, want, (size_t)N_GOLD * VOCAB);
        cr_log_info("template + %s, %s: relative L2 %.3g vs the exact reference", fallback,
                    pass ? "decode" : "prefill", e);
        cr_expect_leq(e, 1e-5, "template + %s (%s): relative L2 %.3g > 1e-5", fallback,
                      pass ? "decode" : "prefill", e);
        close_session(&s);
    }
    free(got);
    free(want);
}

Test(split, template_golden_with_ref, .timeout = 120)
{
    template_with("ref");
}

Test(split, template_golden_with_cpu, .timeout = 120)
{
    template_with("cpu");
}

/* ----------------------------------------------------- vulkan + cpu --- */

/* 270M's shape in small: GQA 4:1, head_dim > hidden / heads, four sliding
 * layers then a global one, tied embedding. */
static const char small_config[] =
    "{\"model_type\": \"gemma3_text\", \"architectures\": [\"Gemma3ForCausalLM\"],"
    " \"vocab_size\": 1024, \"hidden_size\": 256, \"intermediate_size\": 768,"
    " \"num_hidden_layers\": 6, \"num_attention_heads\": 4, \"num_key_value_heads\": 1,"
    " \"head_dim\": 128, \"query_pre_attn_scalar\": 128, \"sliding_window\": 8,"
    " \"layer_types\": [\"sliding_attention\", \"sliding_attention\", \"sliding_attention\","
    " \"sliding_attention\", \"sliding_attention\", \"full_attention\"],"
    " \"max_position_embeddings\": 4096, \"rms_norm_eps\": 1e-6, \"rope_theta\": 1000000.0,"
    " \"rope_local_base_freq\": 10000.0, \"hidden_activation\": \"gelu_pytorch_tanh\","
    " \"tie_word_embeddings\": true, \"bos_token_id\": 2, \"eos_token_id\": 1,"
    " \"torch_dtype\": \"bfloat16\"}";

static void make_model(char *dir, size_t size)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, size, "%s/plinth-split-XXXXXX", t && *t ? t : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    char cfg[4200], cmd[9000];
    snprintf(cfg, sizeof cfg, "%s.json", dir);
    FILE *f = fopen(cfg, "wb");
    cr_assert(f && fputs(small_config, f) >= 0 && fclose(f) == 0);
    snprintf(cmd, sizeof cmd, "'%s' init-random '%s/m' --like '%s' --seed 12 >/dev/null 2>&1",
             getenv("PLINTH_EXE"), dir, cfg);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    unlink(cfg);
    strncat(dir, "/m", size - strlen(dir) - 1);
}

static void rm_model(const char *dir)
{
    char p[4200];
    static const char *const files[] = {"config.json", "model.safetensors", "README.txt",
                                        "tokenizer.json"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
    snprintf(p, sizeof p, "%s", dir);
    char *slash = strrchr(p, '/');
    if (slash) {
        *slash = '\0';
        rmdir(p);
    }
}

enum { PROMPT = 12, GEN = 12, SV = 1024 };

typedef struct greedy {
    int32_t tokens[PROMPT + GEN];
    float logits[PROMPT][SV]; /* every prompt position */
    float last[GEN][SV];      /* each decode step */
} greedy;

/* Prefill of PROMPT tokens (all logits), then GEN greedy decodes. */
static void run_greedy(session *s, const char *dir, int32_t split, greedy *out)
{
    load(s, dir, (lm_model_options){.n_ctx = PROMPT + GEN, .n_prefill = PROMPT,
                                  .all_logits = true, .split_layers = split});
    char err[1024];
    for (int i = 0; i < PROMPT; i++)
        out->tokens[i] = 2 + (int32_t)((i * 97 + 13) % (SV - 2));
    cr_assert_eq(lm_model_prefill(s->m, out->tokens, PROMPT, 0, &out->logits[0][0], err,
                                sizeof err), PLINTH_OK, "%s", err);
    const float *l = out->logits[PROMPT - 1];
    for (int i = 0; i < GEN; i++) {
        out->tokens[PROMPT + i] = sampler_argmax(l, SV);
        cr_assert_eq(lm_model_decode(s->m, out->tokens[PROMPT + i], PROMPT + i, out->last[i], err,
                                   sizeof err), PLINTH_OK, "%s", err);
        l = out->last[i];
    }
}

Test(split, vulkan_cpu_split, .timeout = 300)
{
    const char *vk = getenv("PLINTH_TEST_VULKAN"), *cpu = getenv("PLINTH_TEST_CPU");
    if (!vk || !*vk)
        cr_skip_test("the vulkan backend is not built in this tree");
    char dir[4096], why[1024];
    session sv;
    const char *vk_only[1] = {vk};
    if (!open_list(&sv, vk_only, 1, why, sizeof why)) {
        close_session(&sv);
        cr_skip_test("no vulkan device here: %s", why);
    }
    make_model(dir, sizeof dir);
    static greedy g_vk, g_cpu, g_split;
    run_greedy(&sv, dir, 0, &g_vk);
    close_session(&sv);

    session sc;
    const char *cpu_only[1] = {cpu};
    cr_assert(open_list(&sc, cpu_only, 1, why, sizeof why), "%s", why);
    run_greedy(&sc, dir, 0, &g_cpu);
    close_session(&sc);

    session ss;
    const char *both[2] = {vk, cpu};
    cr_assert(open_list(&ss, both, 2, why, sizeof why), "%s", why);
    run_greedy(&ss, dir, 3, &g_split);
    /* The plan: layers 0-2 (and the embedding) on vulkan, 3-5 and the head
     * on cpu; one crossing per run, the residual stream; the tied
     * embedding held by both (vulkan cannot read cpu memory). */
    plinth_program *dec = lm_model_decode_program(ss.m);
    plinth_plan_stats st = stats(dec);
    cr_expect_eq(st.n_transfers, 1, "decode: %u transfers per token", st.n_transfers);
    cr_expect_eq(st.transfer_bytes, 256 * sizeof(float), "one row of the residual stream");
    cr_expect_eq(st.n_shared, 0);
    plinth_backend_plan bp = {.struct_size = sizeof bp};
    cr_assert_eq(plinth_program_backend_plan(dec, 1, &bp), PLINTH_OK);
    /* The tied embedding (1024 x 256, bf16 or f32) and the constant 1 the
     * norms add (one per program): the only tensors both halves read. */
    cr_expect_eq(bp.n_replicas, 3, "the tied embedding and two constants on cpu too: %u",
                 bp.n_replicas);
    cr_expect_geq(bp.replica_bytes, 1024 * 256 * 2);
    cr_expect_leq(bp.replica_bytes, 1024 * 256 * 4 + 512);
    uint32_t on_vk[PLINTH_OP_COUNT], on_cpu[PLINTH_OP_COUNT];
    ops_on(dec, 0, on_vk);
    ops_on(dec, 1, on_cpu);
    cr_expect_eq(on_vk[PLINTH_OP_ATTENTION], 3);
    cr_expect_eq(on_cpu[PLINTH_OP_ATTENTION], 3);
    cr_expect_eq(on_vk[PLINTH_OP_GET_ROWS], 1);
    plinth_instruction_info first = {.struct_size = sizeof first};
    cr_assert_eq(plinth_program_instruction_info(dec, 0, &first), PLINTH_OK);
    cr_expect(first.pinned, "the split pins");
    close_session(&ss);

    for (int i = 0; i < PROMPT + GEN; i++) {
        cr_expect_eq(g_split.tokens[i], g_cpu.tokens[i], "token %d: split %d, cpu %d", i,
                     g_split.tokens[i], g_cpu.tokens[i]);
        cr_expect_eq(g_split.tokens[i], g_vk.tokens[i], "token %d: split %d, vulkan %d", i,
                     g_split.tokens[i], g_vk.tokens[i]);
    }
    /* The golden bound for vulkan (test_gemma.c): 1e-4 relative L2. */
    const double ep = rel_l2(&g_split.logits[0][0], &g_cpu.logits[0][0], (size_t)PROMPT * SV);
    const double ed = rel_l2(&g_split.last[0][0], &g_cpu.last[0][0], (size_t)GEN * SV);
    const double ev = rel_l2(&g_vk.logits[0][0], &g_cpu.logits[0][0], (size_t)PROMPT * SV);
    cr_log_info("split vs cpu: prefill %.3g, decode %.3g (vulkan alone vs cpu: %.3g)", ep, ed,
                ev);
    cr_expect_leq(ep, 1e-4, "prefill logits: split vs cpu %.3g", ep);
    cr_expect_leq(ed, 1e-4, "decode logits: split vs cpu %.3g", ed);
    cr_expect_gt(ep, 0.0, "vulkan computed part of it (the logits would equal cpu's)");
    rm_model(dir);
}
