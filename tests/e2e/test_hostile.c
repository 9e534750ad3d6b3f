/*
 * test_hostile.c — regression tests for hostile input to the model code
 * (issue 15): the sampler, config.json, tokenizer.json, the JSON reader
 * and the error helper. Each test failed before its fix.
 * Sections: helpers; sampler; config.json; JSON text; tokenizer.json;
 * files that are not regular files; errbuf.
 *
 * Needs no data: every input is written here. Runs under `meson test
 * --suite e2e` (plain and ASan+UBSan builds).
 */
#include "errbuf.h"
#include "lm_model.h"
#include "json_text.h"
#include "model_limits.h"
#include "sampling.h"
#include "tokenizer.h"

#include <cJSON.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers --- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A growable string for building inputs. */
typedef struct text {
    char *s;
    size_t n, cap;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    cr_assert_geq(k, 0);
    if (t->n + (size_t)k + 1 > t->cap) {
        t->cap = 2 * (t->n + (size_t)k + 1);
        t->s = realloc(t->s, t->cap);
        cr_assert(t->s);
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    t->n += (size_t)k;
}

static void assert_has(const char *msg, const char *needle)
{
    cr_assert(strstr(msg, needle), "message lacks \"%s\": %s", needle, msg);
}

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
    static char path[256];
    if (!tmpdir[0]) {
        strcpy(tmpdir, "/tmp/plinth-hostile-XXXXXX");
        cr_assert(mkdtemp(tmpdir));
    }
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

/* ------------------------------------------------------------- sampler --- */

static bool valid_id(int32_t id, int32_t n) { return id >= 0 && id < n; }

/* Vocabulary of one with a nucleus: the pre-cut divided by m - 1 = 0, kept
 * no candidate and read c[-1] (a heap-buffer-overflow from `plinth run`). */
Test(sampler, vocab_of_one)
{
    const float logits[1] = {0.25f};
    const float top_ps[] = {1e-6f, 0.5f, 0.95f};
    for (size_t i = 0; i < sizeof top_ps / sizeof top_ps[0]; i++) {
        sampler_options o = {.temperature = 1.0f, .top_k = 0, .top_p = top_ps[i], .seed = 42};
        sampler *s = sampler_create(NULL, &o, 1);
        cr_assert(s);
        for (int k = 0; k < 8; k++)
            cr_assert_eq(sampler_sample(s, logits), 0);
        sampler_free(s);
    }
}

/* --temp 1e30 --top-k 0 --top-p 1e-6: every scaled logit is ~0, all equal,
 * and the pre-cut (1 - p) / (m - 1) * sum is above every candidate. */
Test(sampler, huge_temperature_tiny_top_p)
{
    enum { N = 4096 };
    float *logits = malloc(N * sizeof *logits);
    for (int i = 0; i < N; i++)
        logits[i] = (float)((i * 7919) % 1000) / 100.0f - 5.0f;
    sampler_options o = {.temperature = 1e30f, .top_k = 0, .top_p = 1e-6f, .seed = 1};
    sampler *s = sampler_create(NULL, &o, N);
    cr_assert(s);
    for (int k = 0; k < 64; k++)
        cr_assert(valid_id(sampler_sample(s, logits), N));
    sampler_free(s);
    free(logits);
}

/* Every combination of hostile logits and settings gives a valid id, and
 * where there is no distribution (NaN, +inf, all -inf) the greedy one. */
Test(sampler, any_logits_any_settings)
{
    enum { N = 300 };
    const float temps[] = {NAN, -1.0f, 0.0f, 1e-45f, 1e-30f, 0.5f, 1.0f, 1e30f, INFINITY};
    const int32_t top_ks[] = {-5, 0, 1, 2, 64, N - 1, N, N + 7};
    const float top_ps[] = {NAN, -1.0f, 0.0f, 1e-6f, 0.5f, 0.95f, 1.0f, 2.0f, INFINITY};
    static float logits[8][N];
    for (int i = 0; i < N; i++) {
        logits[0][i] = NAN;                                /* all NaN           */
        logits[1][i] = i == 150 ? NAN : (float)(i % 17);   /* one NaN           */
        logits[2][i] = i == 42 ? INFINITY : 1.0f;          /* one +inf          */
        logits[3][i] = -INFINITY;                          /* all -inf          */
        logits[4][i] = 3.0f;                               /* all equal         */
        logits[5][i] = (i & 1) ? INFINITY : -INFINITY;     /* ±inf              */
        logits[6][i] = (i % 3) ? 1e-45f : -FLT_MAX;        /* denormals, -max   */
        logits[7][i] = i == 7 ? FLT_MAX : -FLT_MAX;        /* the float range   */
    }
    for (size_t l = 0; l < 8; l++)
        for (size_t a = 0; a < sizeof temps / sizeof *temps; a++)
            for (size_t b = 0; b < sizeof top_ks / sizeof *top_ks; b++)
                for (size_t c = 0; c < sizeof top_ps / sizeof *top_ps; c++) {
                    sampler_options o = {.temperature = temps[a], .top_k = top_ks[b],
                                         .top_p = top_ps[c], .seed = 7};
                    sampler *s = sampler_create(NULL, &o, N);
                    cr_assert(s);
                    int32_t id = sampler_sample(s, logits[l]);
                    cr_assert(valid_id(id, N), "logits %zu, temp %g, top_k %d, top_p %g: id %d", l,
                              (double)temps[a], top_ks[b], (double)top_ps[c], id);
                    if (l <= 3)
                        cr_assert_eq(id, sampler_argmax(logits[l], N),
                                     "logits %zu, temp %g: %d is not the greedy choice", l,
                                     (double)temps[a], id);
                    sampler_free(s);
                }
}

Test(sampler, bounds)
{
    sampler_options o = {.temperature = 1.0f};
    cr_assert_null(sampler_create(NULL, &o, 0));
    cr_assert_null(sampler_create(NULL, &o, -1));
    cr_assert_null(sampler_create(NULL, &o, MODEL_MAX_VOCAB + 1));
    const float x = 1.0f;
    cr_assert_eq(sampler_argmax(&x, 0), -1);
    cr_assert_eq(sampler_argmax(&x, 1), 0);
}

/* ---------------------------------------------------------- config.json --- */

/* The tiny test model's config (tests/data/gemma3-tiny-a), as an object
 * to edit. */
static cJSON *base_config(void)
{
    cJSON *c = cJSON_Parse(
        "{\"model_type\": \"gemma3_text\", \"vocab_size\": 512, \"hidden_size\": 64,"
        " \"intermediate_size\": 192, \"num_hidden_layers\": 6, \"num_attention_heads\": 4,"
        " \"num_key_value_heads\": 1, \"head_dim\": 32, \"sliding_window\": 8,"
        " \"rms_norm_eps\": 1e-6, \"rope_theta\": 1000000.0, \"rope_local_base_freq\": 10000.0,"
        " \"query_pre_attn_scalar\": 32, \"max_position_embeddings\": 2048,"
        " \"bos_token_id\": 2, \"eos_token_id\": 1, \"tie_word_embeddings\": true,"
        " \"_sliding_window_pattern\": 6}");
    cr_assert(c);
    return c;
}

/* Parses the base config with `key` set to the raw JSON `value` (NULL:
 * removed); returns the status, message in err. */
static plinth_status parse_with(const char *key, const char *value, char *err, size_t es)
{
    cJSON *c = base_config();
    cJSON_DeleteItemFromObjectCaseSensitive(c, key);
    if (value)
        cJSON_AddItemToObject(c, key, cJSON_CreateRaw(value));
    char *s = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    lm_config cfg;
    err[0] = '\0';
    plinth_status st = lm_config_parse(NULL, s, strlen(s), "hostile/config.json", &cfg, err, es);
    free(s);
    return st;
}

Test(config, base_parses)
{
    char err[512];
    cr_assert_eq(parse_with("unused", NULL, err, sizeof err), PLINTH_OK, "%s", err);
}

/* Integers are checked for integrality and range on the double, before
 * the conversion (1e38 to int32 was undefined behaviour); the message
 * names the file, the key and the value, and the limit where one applies. */
Test(config, integer_keys)
{
    static const struct {
        const char *key, *value, *needles[3];
    } cases[] = {
        {"eos_token_id", "1e38", {"\"eos_token_id\"", "1e+38", "below vocab_size"}},
        {"eos_token_id", "[1, 1e38]", {"\"eos_token_id\"[1]", "1e+38", NULL}},
        {"eos_token_id", "[1, -1]", {"\"eos_token_id\"[1]", "-1", NULL}},
        {"eos_token_id", "[1, \"x\"]", {"\"eos_token_id\"[1]", "\"x\"", NULL}},
        {"eos_token_id", "[1, 2.5]", {"\"eos_token_id\"[1]", "2.5", NULL}},
        {"eos_token_id", "512", {"\"eos_token_id\"", "512", "[0, 511]"}},
        {"eos_token_id", "[1,2,3,4,5,6,7,8,9]", {"MODEL_MAX_EOS_IDS", NULL, NULL}},
        {"bos_token_id", "4294967296", {"\"bos_token_id\"", "4294967296", NULL}},
        {"num_hidden_layers", "10000", {"\"num_hidden_layers\"", "10000", "MODEL_MAX_LAYERS"}},
        {"num_hidden_layers", "0", {"\"num_hidden_layers\"", "is 0", NULL}},
        {"hidden_size", "1e9", {"\"hidden_size\"", "1000000000", "MODEL_MAX_HIDDEN"}},
        {"hidden_size", "-64", {"\"hidden_size\"", "-64", NULL}},
        {"hidden_size", "64.5", {"\"hidden_size\"", "64.5", NULL}},
        {"hidden_size", "\"64\"", {"\"hidden_size\"", "\"64\"", NULL}},
        {"intermediate_size", "1e12", {"\"intermediate_size\"", "MODEL_MAX_FFN", NULL}},
        {"vocab_size", "1e38", {"\"vocab_size\"", "1e+38", "MODEL_MAX_VOCAB"}},
        {"num_attention_heads", "100000", {"\"num_attention_heads\"", "MODEL_MAX_HEADS", NULL}},
        {"head_dim", "100000", {"\"head_dim\"", "MODEL_MAX_HEAD_DIM", NULL}},
        {"head_dim", "31", {"head_dim 31 must be even", NULL, NULL}},
        {"num_key_value_heads", "3", {"not a multiple of num_key_value_heads 3", NULL, NULL}},
        {"sliding_window", "0", {"\"sliding_window\"", NULL, NULL}},
        {"max_position_embeddings", "1e10", {"\"max_position_embeddings\"", "MODEL_MAX_CONTEXT", NULL}},
        {"_sliding_window_pattern", "1e300", {"\"_sliding_window_pattern\"", "1e+300", NULL}},
        {"tie_word_embeddings", "\"yes\"", {"\"tie_word_embeddings\"", "true or false", NULL}},
    };
    /* Found by fuzz_config: with vocab_size 2 and no bos_token_id, the
     * default <bos> (2) lay outside the vocabulary. */
    static const char tiny[] =
        "{\"model_type\":\"gemma3_text\",\"vocab_size\":2,\"hidden_size\":2,\"intermediate_size\":2,"
        "\"num_hidden_layers\":3,\"num_attention_heads\":1,\"num_key_value_heads\":1,\"head_dim\":2,"
        "\"sliding_window\":1,\"rms_norm_eps\":1e-6,\"rope_theta\":1e4}";
    lm_config cfg;
    char e2[512] = "";
    cr_assert_eq(lm_config_parse(NULL, tiny, sizeof tiny - 1, "tiny.json", &cfg, e2, sizeof e2),
                 PLINTH_ERR_FORMAT);
    assert_has(e2, "key \"bos_token_id\" is missing and its default 2 is not below vocab_size 2");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512];
        plinth_status st = parse_with(cases[i].key, cases[i].value, err, sizeof err);
        cr_assert_neq(st, PLINTH_OK, "%s: %s was accepted", cases[i].key, cases[i].value);
        assert_has(err, "hostile/config.json: ");
        for (int k = 0; k < 3 && cases[i].needles[k]; k++)
            assert_has(err, cases[i].needles[k]);
        cr_log_info("config: %s = %s: %s", cases[i].key, cases[i].value, err);
    }
}

/* Floats are checked on their f32 image: query_pre_attn_scalar 1e-300 was
 * 0 in f32, every logit NaN, exit 0. */
Test(config, float_keys)
{
    static const struct {
        const char *key, *value, *needle;
    } cases[] = {
        {"query_pre_attn_scalar", "1e-300", "0 as a 32-bit float"},
        {"query_pre_attn_scalar", "0", "positive"},
        {"rms_norm_eps", "1e-50", "0 as a 32-bit float"},
        {"rms_norm_eps", "-1e-6", "positive"},
        {"rope_theta", "1e39", "infinite as a 32-bit float"},
        {"rope_local_base_freq", "1e300", "infinite as a 32-bit float"},
        {"rope_theta", "\"1e6\"", "positive"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512];
        cr_assert_neq(parse_with(cases[i].key, cases[i].value, err, sizeof err), PLINTH_OK,
                      "%s: %s was accepted", cases[i].key, cases[i].value);
        char key[80];
        snprintf(key, sizeof key, "\"%s\"", cases[i].key);
        assert_has(err, key);
        assert_has(err, cases[i].needle);
    }
    /* The smallest positive f32 values are fine: not 0. */
    char err[512];
    cr_assert_eq(parse_with("rms_norm_eps", "1e-45", err, sizeof err), PLINTH_OK, "%s", err);
}

/* A config.json over MODEL_MAX_CONFIG_BYTES is refused before parsing (a
 * 63 MB one cost 2.5 GB of cJSON tree; 4 MB was read and parsed). */
Test(config, too_big)
{
    const size_t n = 4u << 20;
    cr_assert_lt(MODEL_MAX_CONFIG_BYTES, n);
    char *s = malloc(n);
    memset(s, ' ', n);
    memcpy(s, "{\"model_type\": \"gemma3_text\"}", 29);
    lm_config cfg;
    char err[512] = "";
    cr_assert_eq(lm_config_parse(NULL, s, n, "big/config.json", &cfg, err, sizeof err),
                 PLINTH_ERR_FORMAT);
    assert_has(err, "MODEL_MAX_CONFIG_BYTES");
    /* The same through a file. */
    FILE *f = fopen(tmp_path("config.json"), "wb");
    cr_assert(f);
    fwrite(s, 1, n, f);
    fclose(f);
    err[0] = '\0';
    cr_assert_eq(lm_config_load(NULL, tmpdir, &cfg, err, sizeof err), PLINTH_ERR_FORMAT);
    assert_has(err, "MODEL_MAX_CONFIG_BYTES");
    unlink(tmp_path("config.json"));
    rmdir(tmpdir);
    free(s);
}

/* ----------------------------------------------------------- JSON text --- */

static int alloc_budget;
static void *failing_malloc(size_t n)
{
    return alloc_budget-- > 0 ? malloc(n) : NULL;
}

/* Out of memory while cJSON parses read "not valid JSON" (tokenizer) or
 * "not a JSON object" (config). Every failing allocation now says out of
 * memory, until there are enough and the parse succeeds. */
Test(json, out_of_memory_is_not_a_syntax_error)
{
    static const char cfg[] =
        "{\"model_type\": \"gemma3_text\", \"vocab_size\": 512, \"hidden_size\": 64,"
        " \"intermediate_size\": 192, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
        " \"num_key_value_heads\": 1, \"head_dim\": 32, \"sliding_window\": 8,"
        " \"rms_norm_eps\": 1e-6, \"rope_theta\": 1e6, \"eos_token_id\": [1, 106]}";
    static const char tok[] =
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2},"
        " \"merges\": [\"a b\"]}, \"added_tokens\": [{\"id\": 3, \"content\": \"<s>\"}]}";
    cJSON_Hooks hooks = {.malloc_fn = failing_malloc, .free_fn = free};
    cJSON_InitHooks(&hooks);
    int n_fail = 0;
    bool cfg_ok = false, tok_ok = false;
    for (int budget = 0; budget < 200 && !(cfg_ok && tok_ok); budget++) {
        char err[512] = "";
        lm_config c;
        alloc_budget = budget;
        plinth_status st = lm_config_parse(NULL, cfg, sizeof cfg - 1, "config.json", &c, err, sizeof err);
        if (st != PLINTH_OK) {
            cr_assert_eq(st, PLINTH_ERR_NO_MEMORY, "budget %d: %s", budget, err);
            assert_has(err, "out of memory");
            n_fail++;
        }
        cfg_ok = cfg_ok || st == PLINTH_OK;
        tokenizer *t = NULL;
        err[0] = '\0';
        alloc_budget = budget;
        int rc = tokenizer_load_from_memory(NULL, tok, sizeof tok - 1, "tokenizer.json", &t, err, sizeof err);
        if (rc != 0) {
            assert_has(err, "out of memory");
            cr_assert_null(strstr(err, "not valid JSON"), "%s", err);
            n_fail++;
        }
        tok_ok = tok_ok || rc == 0;
        tokenizer_free(t);
    }
    cJSON_InitHooks(NULL);
    cr_assert(cfg_ok && tok_ok, "never parsed with enough memory");
    cr_assert_gt(n_fail, 10);
}

/* The syntax check behind those messages agrees with cJSON on its odd
 * corners, and a syntax error says where. */
Test(json, syntax_check_agrees_with_cjson)
{
    static const char *const texts[] = {
        "{}", "[]", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "[1 2]", "\"\\uZZZZ\"", "\"\\ud800\"",
        "\"\\ud800\\udc00\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\q\"", "\"a\\\"",
        "[1.]", "[01]", "[-]", "[1e]", "[1e+]", "[.5]", "[-.5]", "[1-2]", "[+1]",
        "\xEF\xBB\xBF{}", "\xEF\xBB\xBF", "nul", "null", "[true,false,null]", "{\"a\":}",
        "[\x01\x02 1]", "{\"a\":[{\"b\":\"c\"}]} trailing", "", " ", "[", "{",
        "\"abc", "[\"\x00\"]",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const size_t n = strlen(texts[i]);
        cJSON *j = cJSON_ParseWithLengthOpts(texts[i], n, NULL, false);
        size_t at;
        json_text_verdict v = json_text_check(texts[i], n, &at);
        cr_assert_eq(v == JSON_TEXT_OK, j != NULL, "\"%s\": cJSON %s, check %d", texts[i],
                     j ? "parses" : "fails", (int)v);
        cJSON_Delete(j);
    }
    /* Nesting: 1000 levels parse, 1001 do not, and the message says why. */
    text t = {0};
    for (int i = 0; i < 1001; i++)
        add(&t, "[");
    for (int i = 0; i < 1001; i++)
        add(&t, "]");
    size_t at;
    cr_assert_eq(json_text_check(t.s, t.n, &at), JSON_TEXT_TOO_DEEP);
    cr_assert_eq(json_text_check(t.s + 1, t.n - 2, &at), JSON_TEXT_OK);
    plinth_status st;
    char err[512];
    cr_assert_null(json_text_parse(t.s, t.n, "deep.json", &st, err, sizeof err));
    cr_assert_eq(st, PLINTH_ERR_FORMAT);
    assert_has(err, "nested deeper than 1000");
    free(t.s);
    cr_assert_null(json_text_parse("{\n  \"a\": 1,\n  \"b\" 2\n}", 21, "x.json", &st, err, sizeof err));
    assert_has(err, "x.json: not valid JSON (error at line 3, column 7");
    /* Numbers of more than 63 characters: refused, whatever cJSON does. */
    char num[128] = "[";
    memset(num + 1, '1', 70);
    strcpy(num + 71, "]");
    cr_assert_eq(json_text_check(num, strlen(num), &at), JSON_TEXT_LONG_NUMBER);
}

/* ------------------------------------------------------- tokenizer.json --- */

static int load_tok(const char *json, tokenizer **t, char *err, size_t es)
{
    err[0] = '\0';
    *t = NULL;
    return tokenizer_load_from_memory(NULL, json, strlen(json), "hostile/tokenizer.json", t, err, es);
}

static void expect_refused(const char *json, const char *n1, const char *n2, double max_s)
{
    char err[1024];
    tokenizer *t;
    double t0 = now_s();
    int rc = load_tok(json, &t, err, sizeof err);
    double dt = now_s() - t0;
    tokenizer_free(t);
    cr_assert_eq(rc, -1, "loaded: %.200s", json);
    cr_assert_lt(dt, max_s, "refusing took %.2f s", dt);
    assert_has(err, "hostile/tokenizer.json: ");
    assert_has(err, n1);
    if (n2)
        assert_has(err, n2);
    cr_log_info("tokenizer: refused in %.1f ms: %s", dt * 1e3, err);
}

#define BPE(extra, vocab) "{" extra "\"model\": {\"type\": \"BPE\", \"vocab\": {" vocab "}, \"merges\": []}}"

/* One vocab id of 2^30 - 1 sized every per-id table for a billion ids:
 * 6.5 s and 1 GB. Ids must be integers below the number of entries plus
 * added tokens. */
Test(tokenizer_hostile, huge_or_fractional_ids, .timeout = 30)
{
    expect_refused(BPE("", "\"a\": 0, \"b\": 1073741823"), "model.vocab entry \"b\"", "1073741823", 1.0);
    expect_refused(BPE("", "\"a\": 0, \"b\": 2"), "entry \"b\"", "[0, 2)", 1.0);
    expect_refused(BPE("", "\"a\": 0, \"b\": 0.5"), "entry \"b\"", "0.5", 1.0);
    expect_refused(BPE("", "\"a\": 0, \"b\": -1"), "entry \"b\"", "-1", 1.0);
    expect_refused(BPE("", "\"a\": 0, \"b\": \"1\""), "entry \"b\"", "\"1\"", 1.0);
    expect_refused(BPE("\"added_tokens\": [{\"id\": 1073741823, \"content\": \"<s>\"}],", "\"a\": 0"),
                   "added_tokens[0]", "1073741823", 1.0);
    expect_refused(BPE("\"added_tokens\": [{\"id\": 1, \"content\": \"\"}],", "\"a\": 0"),
                   "added_tokens[0]", "non-empty", 1.0);
    /* Holes are fine as long as the ids stay below entries + added. */
    char err[512];
    tokenizer *t;
    cr_assert_eq(load_tok(BPE("\"added_tokens\": [{\"id\": 0, \"content\": \"a\"}, {\"id\": 2, \"content\": \"<s>\"}],",
                              "\"a\": 0"), &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tokenizer_vocab_size(t), 3);
    char piece[8];
    cr_assert_eq(tokenizer_piece(t, 1, false, piece, sizeof piece), -1); /* the hole */
    tokenizer_free(t);
}

/* Duplicate ids: an added token listed twice under one id (with odd keys
 * around it) was taken silently; a vocab id used twice names both. */
Test(tokenizer_hostile, duplicate_ids)
{
    expect_refused(BPE("\"added_tokens\": [{\"id\": 1, \"content\": \"<a>\", \"odd\": [1,{}]},"
                       " {\"id\": 1, \"content\": \"<b>\", \"special\": 7}],",
                       "\"a\": 0, \"x\": 1"),
                   "added_tokens: id 1 appears twice", "\"<a>\" and \"<b>\"", 1.0);
    expect_refused(BPE("", "\"a\": 0, \"b\": 0"), "model.vocab id 0 is used twice", "\"a\" and \"b\"", 1.0);
}

/* A chain of Replace steps that each double the text ran for minutes
 * (normalizer, on encode) or made a 2^40-byte piece at load (decoder).
 * The growth of the whole chain is bounded by MODEL_MAX_TEXT_GROWTH. */
Test(tokenizer_hostile, doubling_chains, .timeout = 30)
{
    text n = {0}, d = {0};
    add(&n, "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [");
    add(&d, "{\"decoder\": {\"type\": \"Sequence\", \"decoders\": [");
    for (int i = 0; i < 40; i++) {
        add(&n, "%s{\"type\": \"Replace\", \"pattern\": {\"String\": \"a\"}, \"content\": \"aa\"}", i ? "," : "");
        add(&d, "%s{\"type\": \"Replace\", \"pattern\": {\"String\": \"a\"}, \"content\": \"aa\"}", i ? "," : "");
    }
    add(&n, "]}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
    add(&d, "]}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
    /* 2^5 = 32 is allowed, 2^6 is not: step 5 is named. */
    expect_refused(n.s, "normalizer step 5 (Replace \"a\" with \"aa\")", "MODEL_MAX_TEXT_GROWTH", 1.0);
    expect_refused(d.s, "decoder step 5 (Replace \"a\" with \"aa\")", "MODEL_MAX_TEXT_GROWTH", 1.0);
    free(n.s);
    free(d.s);
    /* Many steps that do not grow the text are bounded too. */
    text m = {0};
    add(&m, "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [");
    for (int i = 0; i < MODEL_MAX_TOKENIZER_STEPS + 1; i++)
        add(&m, "%s{\"type\": \"Replace\", \"pattern\": {\"String\": \"b\"}, \"content\": \"c\"}", i ? "," : "");
    add(&m, "]}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
    expect_refused(m.s, "normalizer: more than", "MODEL_MAX_TOKENIZER_STEPS", 1.0);
    free(m.s);
}

/* Numbers and sizes in the pipeline. */
Test(tokenizer_hostile, pipeline_values)
{
    expect_refused("{\"decoder\": {\"type\": \"Strip\", \"content\": \" \", \"start\": -1, \"stop\": 0},"
                   " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                   "decoder Strip \"start\" is -1", NULL, 1.0);
    expect_refused("{\"decoder\": {\"type\": \"Strip\", \"content\": \" \", \"start\": 0, \"stop\": 1e300},"
                   " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                   "decoder Strip \"stop\" is 1e+300", NULL, 1.0);
    text a = {0};
    add(&a, "{\"added_tokens\": [{\"id\": 1, \"content\": \"");
    for (int i = 0; i < MODEL_MAX_ADDED_TOKEN_BYTES + 1; i++)
        add(&a, "x");
    add(&a, "\"}], \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
    expect_refused(a.s, "added_tokens[0] (id 1)", "MODEL_MAX_ADDED_TOKEN_BYTES", 1.0);
    free(a.s);
}

/* Encode of any bytes and decode of any ids stay safe and bounded. */
Test(tokenizer_hostile, encode_decode_bounds, .timeout = 60)
{
    char err[512];
    tokenizer *t;
    cr_assert_eq(load_tok("{\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"},"
                          " \"content\": \"\\u2581\"}, \"model\": {\"type\": \"BPE\", \"byte_fallback\": true,"
                          " \"vocab\": {\"a\": 0, \"<0x00>\": 1}, \"merges\": []}}",
                          &t, err, sizeof err),
                 -1);
    assert_has(err, "<0x01>"); /* byte fallback needs all 256 */
    cr_assert_eq(load_tok(BPE("\"model_unused\": 1,", "\"<unk>\": 0, \"a\": 1, \"b\": 2"), &t, err, sizeof err),
                 0, "%s", err);
    int32_t *ids = NULL;
    size_t n = 0;
    /* No <unk> declared: a character outside the vocab is an error. */
    cr_assert_eq(tokenizer_encode(t, "abz", 3, false, &ids, &n, err, sizeof err), -1);
    assert_has(err, "not in the vocab");
    const size_t big = MODEL_MAX_ENCODE_BYTES + 1;
    char *text_big = calloc(big, 1);
    cr_assert(text_big);
    cr_assert_eq(tokenizer_encode(t, text_big, big, false, &ids, &n, err, sizeof err), -1);
    assert_has(err, "MODEL_MAX_ENCODE_BYTES");
    free(text_big);
    static const int32_t bad[][2] = {{1, -1}, {1, 3}, {1, INT32_MAX}, {INT32_MIN, 1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = (char *)1;
        size_t len = 9;
        cr_assert_eq(tokenizer_decode(t, bad[i], 2, false, &out, &len, err, sizeof err), -1);
        cr_assert(out == NULL && len == 0);
        assert_has(err, "is not a token");
        char piece[4];
        cr_assert_eq(tokenizer_piece(t, bad[i][0] == 1 ? bad[i][1] : bad[i][0], false, piece, sizeof piece), -1);
    }
    tokenizer_free(t);
}

/* --------------------------------------- files that are not regular files --- */

/* A FIFO named config.json or tokenizer.json blocked for ever (fopen waits
 * for a writer); a directory named so read "cannot read". */
Test(files, fifo_and_directory, .timeout = 20)
{
    char err[512] = "";
    lm_config cfg;
    tokenizer *t;
    cr_assert_eq(mkfifo(tmp_path("config.json"), 0600), 0);
    cr_assert_eq(mkfifo(tmp_path("tokenizer.json"), 0600), 0);
    cr_assert_eq(lm_config_load(NULL, tmpdir, &cfg, err, sizeof err), PLINTH_ERR_IO);
    assert_has(err, "not a regular file");
    cr_assert_eq(tokenizer_load(NULL, tmpdir, &t, err, sizeof err), -1);
    assert_has(err, "not a regular file");
    unlink(tmp_path("config.json"));
    unlink(tmp_path("tokenizer.json"));
    cr_assert_eq(mkdir(tmp_path("config.json"), 0700), 0);
    cr_assert_eq(lm_config_load(NULL, tmpdir, &cfg, err, sizeof err), PLINTH_ERR_IO);
    assert_has(err, "is a directory");
    rmdir(tmp_path("config.json"));
    rmdir(tmpdir);
}

/* --------------------------------------------------------------- errbuf --- */

static int via_va(char *err, size_t size, const char *prefix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = errbuf_vfail(err, size, 5, prefix, fmt, ap);
    va_end(ap);
    return st;
}

/* One formatter for models/: a prefix, a cut that stays NUL-terminated,
 * and no write without a buffer. The tokenizer's messages come through it. */
Test(errbuf, prefix_and_cut)
{
    char err[16], big[32];
    cr_assert_eq(via_va(big, sizeof big, "file.json", "key %d", 7), 5);
    cr_assert_str_eq(big, "file.json: key 7");
    cr_assert_eq(via_va(err, 8, "file.json", "key %d", 7), 5);
    cr_assert_eq(strlen(err), 7);
    cr_assert_eq(via_va(NULL, 0, "x", "y"), 5);
    cr_assert_eq(errbuf_fail(err, sizeof err, -1, "%s", "abc"), -1);
    cr_assert_str_eq(err, "abc");
    /* A tokenizer message, cut to a small buffer, still NUL-terminated. */
    tokenizer *t;
    cr_assert_eq(tokenizer_load_from_memory(NULL, "[]", 2, "some/long/path/tokenizer.json", &t, err, sizeof err), -1);
    cr_assert_eq(strlen(err), sizeof err - 1);
    cr_assert_eq(strncmp(err, "some/long/path/", 15), 0);
}
