/*
 * test_lm.c — plinth_lm.h, as an application uses it (this file includes
 * only the public headers): the tiny Gemma (tests/data/gemma3-tiny-a) with
 * the real Gemma 3 tokenizer beside it, on ref.
 *   golden        a session's all-logits decode equals the golden reference
 *   sessions      two sessions over one lm do not see each other: each
 *                 gives what a lone session gives, bit for bit, in any
 *                 interleaving, and truncate/reset rewind correctly
 *   generate      greedy generation = decode + argmax by hand; the
 *                 callback's text = the tokens' pieces; max_tokens, stop
 *                 strings (held back, never passed on), end of context
 *   chat          Gemma's template, system folded into the first turn
 *   errors        no tokenizer, context overflow, bad ids: statuses and
 *                 messages; closing the lm before its sessions
 */
#include <plinth/plinth_lm.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VOCAB 512

static char dir[256];

/* A folder with the golden model and the real tokenizer (symlinks). */
static void make_folder(void)
{
    const char *data = getenv("PLINTH_TEST_DATA"), *tok = getenv("PLINTH_TOKENIZER");
    cr_assert(data && tok, "PLINTH_TEST_DATA and PLINTH_TOKENIZER must be set (meson test)");
    cr_assert(access(tok, R_OK) == 0, "%s is missing: run scripts/fetch-tokenizer.sh", tok);
    snprintf(dir, sizeof dir, "%s/plinth-lm-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert(mkdtemp(dir));
    char src[4096], dst[512];
    static const char *const files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/gemma3-tiny-a/%s", data, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        cr_assert(symlink(src, dst) == 0);
    }
    snprintf(dst, sizeof dst, "%s/tokenizer.json", dir);
    cr_assert(symlink(tok, dst) == 0);
}

static void remove_folder(void)
{
    static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json"};
    char p[512];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

typedef struct env {
    plinth_context *ctx;
    plinth_backend *be;
    plinth_lm *lm;
} env;

static void open_lm(env *e, const char *path, plinth_lm_options o)
{
    cr_assert_eq(plinth_context_create(NULL, &e->ctx), PLINTH_OK);
    cr_assert_eq(plinth_backend_open(e->ctx, "ref", 0, NULL, &e->be), PLINTH_OK, "%s",
                 plinth_context_error(e->ctx));
    o.struct_size = sizeof o;
    cr_assert_eq(plinth_lm_open(&e->be, 1, path, &o, &e->lm), PLINTH_OK, "%s",
                 plinth_context_error(e->ctx));
}

static void close_lm(env *e)
{
    plinth_lm_close(e->lm);
    plinth_backend_close(e->be);
    plinth_context_destroy(e->ctx);
}

static void golden_tokens(int32_t *tok, int32_t *n)
{
    static const int32_t t[] = {2,   270, 136, 407, 267, 155, 18,  384, 21,  196, 299, 499,
                                393, 81,  350, 239, 494, 343, 29,  343, 473, 328, 448, 442};
    memcpy(tok, t, sizeof t);
    *n = (int32_t)(sizeof t / sizeof t[0]);
}

TestSuite(lm, .init = make_folder, .fini = remove_folder, .timeout = 300);

Test(lm, golden)
{
    env e;
    open_lm(&e, dir, (plinth_lm_options){.all_logits = true, .n_ctx = 64});
    plinth_lm_info info = {.struct_size = sizeof info};
    cr_assert_eq(plinth_lm_query_info(e.lm, &info), PLINTH_OK);
    cr_expect_str_eq(info.arch, "gemma3_text");
    cr_expect_eq(info.vocab, VOCAB);
    cr_expect_str_eq(info.chat_template, "gemma");
    cr_expect(info.add_bos && info.bos == 2);
    int32_t tok[32], n;
    golden_tokens(tok, &n);
    plinth_lm_session *s;
    cr_assert_eq(plinth_lm_session_create(e.lm, &s), PLINTH_OK);
    float *out = malloc((size_t)n * VOCAB * sizeof *out);
    cr_assert_eq(plinth_lm_decode(s, tok, (size_t)n, out), PLINTH_OK, "%s",
                 plinth_context_error(e.ctx));
    char path[4096];
    snprintf(path, sizeof path, "%s/gemma3-tiny-a/reference_pytorch.f32",
             getenv("PLINTH_TEST_DATA"));
    FILE *fp = fopen(path, "rb");
    float *ref = malloc((size_t)n * VOCAB * sizeof *ref);
    cr_assert(fp && fread(ref, sizeof *ref, (size_t)n * VOCAB, fp) == (size_t)n * VOCAB);
    fclose(fp);
    double num = 0, den = 0;
    for (size_t i = 0; i < (size_t)n * VOCAB; i++)
        num += ((double)out[i] - ref[i]) * ((double)out[i] - ref[i]), den += (double)ref[i] * ref[i];
    cr_expect_leq(sqrt(num / den), 1e-5, "relative L2 %.3e", sqrt(num / den));
    cr_expect_eq(plinth_lm_session_position(s), n);
    free(out);
    free(ref);
    plinth_lm_session_destroy(s);
    close_lm(&e);
}

/* The last logits after feeding a then b in one session. */
static void feed(plinth_lm_session *s, const int32_t *t, int32_t n, float *logits)
{
    cr_assert_eq(plinth_lm_decode(s, t, (size_t)n, logits), PLINTH_OK);
}

Test(lm, sessions)
{
    env e;
    open_lm(&e, dir, (plinth_lm_options){.n_ctx = 64, .n_batch = 8});
    int32_t tok[32], n;
    golden_tokens(tok, &n);
    const int32_t other[] = {2, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110};
    float alone_a[VOCAB], alone_b[VOCAB], a[VOCAB], b[VOCAB];
    plinth_lm_session *s1, *s2;
    /* Alone: one session, fresh for each sequence. */
    cr_assert_eq(plinth_lm_session_create(e.lm, &s1), PLINTH_OK);
    feed(s1, tok, n, alone_a);
    cr_assert_eq(plinth_lm_session_reset(s1), PLINTH_OK);
    cr_assert_eq(plinth_lm_session_position(s1), 0);
    feed(s1, other, 12, alone_b);
    plinth_lm_session_destroy(s1);
    /* Interleaved: two sessions, pieces of each in turn. */
    cr_assert_eq(plinth_lm_session_create(e.lm, &s1), PLINTH_OK);
    cr_assert_eq(plinth_lm_session_create(e.lm, &s2), PLINTH_OK);
    feed(s1, tok, 10, a);
    feed(s2, other, 5, b);
    feed(s1, tok + 10, 1, a);
    feed(s2, other + 5, 7, b);
    feed(s1, tok + 11, n - 11, a);
    cr_expect_eq(memcmp(a, alone_a, sizeof a), 0, "session 1 differs from a lone run");
    cr_expect_eq(memcmp(b, alone_b, sizeof b), 0, "session 2 differs from a lone run");
    cr_expect_eq(plinth_lm_session_tokens(s2)[11], other[11]);
    /* Truncate and feed again: the same logits. */
    cr_assert_eq(plinth_lm_session_truncate(s1, 20), PLINTH_OK);
    feed(s1, tok + 20, n - 20, a);
    cr_expect_eq(memcmp(a, alone_a, sizeof a), 0, "after truncate");
    cr_expect_eq(plinth_lm_session_truncate(s1, n + 1), PLINTH_ERR_INVALID);
    plinth_lm_session_destroy(s1);
    plinth_lm_session_destroy(s2);
    close_lm(&e);
}

typedef struct collected {
    char text[4096];
    size_t len;
    int32_t ids[256];
    int n;
} collected;

static bool collect(void *user, int32_t token, const char *text, size_t len)
{
    collected *c = user;
    if (token >= 0 && c->n < 256)
        c->ids[c->n++] = token;
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, text, len);
        c->len += len;
        c->text[c->len] = '\0';
    }
    return true;
}

static plinth_lm_generate_options greedy(int32_t max, collected *c)
{
    plinth_lm_generate_options o = {.struct_size = sizeof o, .max_tokens = max,
                                    .on_token = collect, .user = c};
    o.sampling = (plinth_lm_sampling){.struct_size = sizeof o.sampling, .temperature = 0,
                                      .repeat_penalty = 1};
    return o;
}

Test(lm, generate)
{
    env e;
    open_lm(&e, dir, (plinth_lm_options){.n_ctx = 48, .n_batch = 16});
    int32_t prompt[64];
    size_t n;
    const char *text = "The quick brown fox";
    cr_assert_eq(plinth_lm_tokenize(e.lm, text, strlen(text), true, prompt, 64, &n), PLINTH_OK);
    cr_expect(n == 5 && prompt[0] == 2, "bos first, then 4 words: %zu ids", n);
    cr_expect_eq(plinth_lm_tokenize(e.lm, text, strlen(text), true, prompt, 2, &n),
                 PLINTH_ERR_INVALID, "a buffer too small");
    /* The tiny model's vocabulary is the tokenizer's first 512 ids: the
     * prompt is ids, the generated text their pieces. */
    int32_t gold[32], ng;
    golden_tokens(gold, &ng);
    n = 6;
    memcpy(prompt, gold, n * sizeof *prompt);
    /* By hand: decode + argmax. */
    plinth_lm_session *s;
    float logits[VOCAB];
    int32_t want[12];
    cr_assert_eq(plinth_lm_session_create(e.lm, &s), PLINTH_OK);
    feed(s, prompt, (int32_t)n, logits);
    for (int k = 0; k < 12; k++) {
        int32_t best = 0;
        for (int32_t i = 1; i < VOCAB; i++)
            best = logits[i] > logits[best] ? i : best;
        want[k] = best;
        feed(s, &best, 1, logits);
    }
    /* generate: the same ids, the text of their pieces. */
    collected c = {.n = 0};
    plinth_lm_generate_options o = greedy(12, &c);
    o.ignore_eos = true;
    plinth_lm_generate_result r = {.struct_size = sizeof r};
    cr_assert_eq(plinth_lm_session_reset(s), PLINTH_OK);
    cr_assert_eq(plinth_lm_generate(s, prompt, n, &o, &r), PLINTH_OK, "%s",
                 plinth_context_error(e.ctx));
    cr_expect_eq(r.n_generated, 12);
    cr_expect_eq(r.stop_reason, PLINTH_LM_STOP_MAX_TOKENS);
    cr_assert_eq(c.n, 12);
    cr_expect_eq(memcmp(c.ids, want, sizeof want), 0, "generate differs from decode + argmax");
    char expect[4096] = "";
    size_t el = 0;
    for (int k = 0; k < 12; k++) {
        size_t len;
        cr_assert_eq(plinth_lm_token_text(e.lm, want[k], false, expect + el,
                                          sizeof expect - el, &len), PLINTH_OK);
        el += len;
    }
    cr_expect_eq(c.len, el);
    cr_expect_eq(memcmp(c.text, expect, el), 0, "callback text '%s' vs pieces '%.*s'", c.text,
                 (int)el, expect);
    cr_expect_eq(plinth_lm_session_position(s), (int32_t)n + 11, "the last token is not fed");

    /* A stop string taken from the middle of that text: output ends before it. */
    if (el >= 6) {
        char stop[8];
        memcpy(stop, expect + el / 2, 3);
        stop[3] = '\0';
        const char *stops[] = {stop, NULL};
        collected c2 = {.n = 0};
        o = greedy(12, &c2);
        o.ignore_eos = true;
        o.stop = stops;
        cr_assert_eq(plinth_lm_session_reset(s), PLINTH_OK);
        cr_assert_eq(plinth_lm_generate(s, prompt, n, &o, &r), PLINTH_OK);
        cr_expect_eq(r.stop_reason, PLINTH_LM_STOP_STRING);
        const char *first = strstr(expect, stop);
        cr_expect_eq(c2.len, (size_t)(first - expect), "text '%s' should end before '%s'",
                     c2.text, stop);
        cr_expect_null(strstr(c2.text, stop));
    }
    /* The end of the context: 48 positions. */
    collected c3 = {.n = 0};
    o = greedy(-1, &c3);
    o.ignore_eos = true;
    cr_assert_eq(plinth_lm_session_reset(s), PLINTH_OK);
    cr_assert_eq(plinth_lm_generate(s, prompt, n, &o, &r), PLINTH_OK);
    cr_expect_eq(r.stop_reason, PLINTH_LM_STOP_CONTEXT);
    cr_expect_eq(r.n_generated, 48 - (int32_t)n + 1);
    plinth_lm_session_destroy(s);
    close_lm(&e);
}

Test(lm, chat)
{
    env e;
    open_lm(&e, dir, (plinth_lm_options){.n_ctx = 16});
    const plinth_lm_message m[] = {{"system", "Be brief."}, {"user", " Hi there \n"},
                                   {"assistant", "Hello."}, {"user", "Bye"}};
    char buf[512];
    size_t len;
    cr_assert_eq(plinth_lm_chat_format(e.lm, m, 4, true, buf, sizeof buf, &len), PLINTH_OK);
    const char *want = "<start_of_turn>user\nBe brief.\n\nHi there<end_of_turn>\n"
                       "<start_of_turn>model\nHello.<end_of_turn>\n"
                       "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n";
    cr_expect_eq(len, strlen(want));
    cr_expect_eq(memcmp(buf, want, len), 0, "got '%.*s'", (int)len, buf);
    cr_expect_eq(plinth_lm_chat_format(e.lm, m, 4, true, buf, 8, &len), PLINTH_ERR_INVALID);
    const plinth_lm_message bad[] = {{"tool", "x"}};
    cr_expect_eq(plinth_lm_chat_format(e.lm, bad, 1, true, buf, sizeof buf, &len),
                 PLINTH_ERR_INVALID);
    cr_expect(strstr(plinth_context_error(e.ctx), "tool"));
    close_lm(&e);
}

Test(lm, errors)
{
    env e;
    open_lm(&e, dir, (plinth_lm_options){.n_ctx = 8});
    plinth_lm_session *s;
    float logits[VOCAB];
    int32_t many[9] = {2, 3, 4, 5, 6, 7, 8, 9, 10};
    cr_assert_eq(plinth_lm_session_create(e.lm, &s), PLINTH_OK);
    cr_expect_eq(plinth_lm_decode(s, many, 9, logits), PLINTH_ERR_INVALID);
    cr_expect(strstr(plinth_context_error(e.ctx), "context of 8"), "%s",
              plinth_context_error(e.ctx));
    cr_expect_eq(plinth_lm_session_position(s), 0, "nothing ran");
    const int32_t bad = VOCAB;
    cr_expect_neq(plinth_lm_decode(s, &bad, 1, logits), PLINTH_OK);
    /* The lm closed first: its session still runs, and frees it. */
    plinth_lm_close(e.lm);
    cr_expect_eq(plinth_lm_decode(s, many, 4, logits), PLINTH_OK, "%s",
                 plinth_context_error(e.ctx));
    plinth_lm_session_destroy(s);
    plinth_backend_close(e.be);
    plinth_context_destroy(e.ctx);

    /* A folder without tokenizer.json: ids only. */
    char path[4096];
    snprintf(path, sizeof path, "%s/llama3-tiny", getenv("PLINTH_TEST_DATA"));
    open_lm(&e, path, (plinth_lm_options){.n_ctx = 8});
    size_t n;
    int32_t ids[8];
    cr_expect_eq(plinth_lm_tokenize(e.lm, "hi", 2, true, ids, 8, &n), PLINTH_ERR_UNSUPPORTED);
    cr_expect(strstr(plinth_context_error(e.ctx), "tokenizer.json"), "%s",
              plinth_context_error(e.ctx));
    cr_assert_eq(plinth_lm_session_create(e.lm, &s), PLINTH_OK);
    cr_expect_eq(plinth_lm_decode(s, many, 4, logits), PLINTH_OK);
    plinth_lm_session_destroy(s);
    close_lm(&e);
    /* A folder that is not there. */
    cr_assert_eq(plinth_context_create(NULL, &e.ctx), PLINTH_OK);
    cr_assert_eq(plinth_backend_open(e.ctx, "ref", 0, NULL, &e.be), PLINTH_OK);
    cr_expect_neq(plinth_lm_open(&e.be, 1, "/nonexistent/model", NULL, &e.lm), PLINTH_OK);
    cr_expect(strstr(plinth_context_error(e.ctx), "no such model folder"), "%s",
              plinth_context_error(e.ctx));
    plinth_backend_close(e.be);
    plinth_context_destroy(e.ctx);
}

/* plinth_lm_options.quantize: the weight matrices quantised at load give
 * logits near the stored weights' (q8_0: within 5e-2 relative L2 on the
 * tiny Llama 3) but not equal to them — the option took effect. */
Test(lm, quantize_at_load)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/llama3-tiny", getenv("PLINTH_TEST_DATA"));
    const int32_t tok[] = {1, 17, 300, 42, 99, 7, 250, 3};
    float a[8 * VOCAB], b[8 * VOCAB];
    for (int q = 0; q < 2; q++) {
        env e;
        open_lm(&e, path, (plinth_lm_options){.n_ctx = 8, .all_logits = true,
                                              .quantize = q ? PLINTH_Q8_0 : 0});
        plinth_lm_session *s;
        cr_assert_eq(plinth_lm_session_create(e.lm, &s), PLINTH_OK);
        cr_assert_eq(plinth_lm_decode(s, tok, 8, q ? b : a), PLINTH_OK, "%s",
                     plinth_context_error(e.ctx));
        plinth_lm_session_destroy(s);
        close_lm(&e);
    }
    double num = 0, den = 0;
    for (int i = 0; i < 8 * VOCAB; i++)
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), den += (double)a[i] * a[i];
    const double rel = sqrt(num / den);
    cr_log_info("q8_0 at load vs f32: relative L2 %.3e", rel);
    cr_expect_gt(rel, 0.0, "quantize had no effect");
    cr_expect_lt(rel, 5e-2, "q8_0 is %.3e away", rel);
}
