/*
 * test_alloc_fail.c — every allocation of a language model's life fails
 * once.
 *
 * The context's allocator (plinth_context_options.alloc) is the one door
 * through which the core, the model code (config, tokenizer, sampler,
 * plinth_lm's objects), cJSON while either parses, PCRE2 and the plugins'
 * bookkeeping (plinth_host.malloc) take memory. This test counts the
 * allocations of one life through the public API — open a backend, open the
 * tiny Gemma with a tokenizer beside it (plinth_lm_open: tokenizer, config,
 * state dict, two programs compiled, weights loaded), a session, tokenize,
 * a prefill of 8 tokens, a generation of 3 more (sampling, the decode
 * program, streamed text), close everything — and then lives it again once
 * per allocation, failing exactly that one (the Nth). Each life must end
 * in a clean error with a message (or succeed, where the failure was one a
 * caller may absorb: the planner falls back to bookkeeping-free paths), free
 * every block it took (the allocator counts them: a leak fails the test with
 * or without ASan), never crash; and a life with a working allocator
 * afterwards must succeed.
 *
 *   ref   tiny Gemma + tests/fuzz/fixtures/tokenizer_a.json (Gemma 3's
 *         pipeline: Replace, byte fallback, special tokens): every N
 *   cpu   tiny Gemma + tests/fuzz/corpus/tokenizer_load/bytelevel.json
 *         (NFC by utf8proc, a Split regex by PCRE2, ByteLevel), 2 threads:
 *         every N
 *   gguf  tests/data/gguf-models/llama3-tiny-Q4_0.gguf on cpu (config,
 *         q4_0 weights and the byte-level tokenizer from the GGUF file's
 *         metadata): every N
 *   gemma_tokenizer  tiny Gemma + the real Gemma 3 tokenizer.json and
 *         tokenizer_config.json (33 MB and 1 MB, $PLINTH_TOKENIZER) on ref:
 *         every N up to the end of the tokenizer's load (about 210
 *         allocations, each life reading the 33 MB again), and the rest of
 *         the life, which the two tests above cover at every N with small
 *         tokenizers, at every GEMMA_REST_STRIDE-th N and the last
 *
 *   PLINTH_ALLOC_FAIL_STRIDE=k  test every k-th N only (local speed-ups;
 *                               the suite tests every N)
 */
#include <plinth.h>
#include <plinth_lm.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The part after the Gemma tokenizer's load: a prime, so the failures land
 * on every kind of allocation site rather than on one phase of a loop. */
#define GEMMA_REST_STRIDE 101

/* -------------------------------------------------------- the allocator --- */

typedef struct counting {
    long calls;      /* allocations (malloc and growing realloc) so far */
    long fail_at;    /* the call that fails (1-based); 0: none          */
    long live;       /* blocks taken and not given back                  */
    bool failed;     /* the failure was handed out                      */
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
    if (++c->calls == c->fail_at) {
        c->failed = true;
        return NULL;
    }
    void *p = realloc(ptr, size);
    if (p && !ptr)
        c->live++;
    return p;
}

/* ----------------------------------------------------------- a folder --- */

/* A temporary model folder: the tiny Gemma's config.json and
 * model.safetensors, and `tokenizer` as tokenizer.json (with the
 * tokenizer_config.json beside it, if any, when with_config), all symlinks.
 * tokenizer NULL: no tokenizer. with_model false: no config.json, so that
 * plinth_lm_open stops right after the tokenizer's load. */
typedef struct folder {
    char dir[64];
    char links[4][4200];
    int n_links;
} folder;

static void link_into(folder *f, const char *target, const char *name)
{
    cr_assert(access(target, R_OK) == 0, "%s is missing%s", target,
              strstr(target, ".cache") ? " (scripts/fetch-tokenizer.sh fetches it)" : "");
    char *l = f->links[f->n_links++], buf[sizeof f->links[0]];
    snprintf(buf, sizeof buf, "%s/%s", f->dir, name);
    memcpy(l, buf, sizeof buf);
    cr_assert_eq(symlink(target, l), 0, "symlink %s -> %s", l, target);
}

static void folder_make(folder *f, const char *tokenizer, bool with_config, bool with_model)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/plinth-alloc-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    const char *data = getenv("PLINTH_TEST_DATA");
    cr_assert(data && data[0], "PLINTH_TEST_DATA is not set (run through meson test)");
    char path[4096];
    if (with_model) {
        snprintf(path, sizeof path, "%s/gemma3-tiny-a/config.json", data);
        link_into(f, path, "config.json");
        snprintf(path, sizeof path, "%s/gemma3-tiny-a/model.safetensors", data);
        link_into(f, path, "model.safetensors");
    }
    if (tokenizer)
        link_into(f, tokenizer, "tokenizer.json");
    if (tokenizer && with_config) {
        char copy[4096];
        snprintf(copy, sizeof copy, "%s", tokenizer);
        snprintf(path, sizeof path, "%s/tokenizer_config.json", dirname(copy));
        if (access(path, R_OK) == 0)
            link_into(f, path, "tokenizer_config.json");
    }
}

static void folder_remove(folder *f)
{
    for (int i = 0; i < f->n_links; i++)
        unlink(f->links[i]);
    rmdir(f->dir);
}

static const char *env_path(const char *name)
{
    const char *p = getenv(name);
    cr_assert(p && p[0], "%s is not set (run through meson test)", name);
    return p;
}

/* ------------------------------------------------------------- a life --- */

#define TOKENS 8
#define GENERATE 3

static bool on_token(void *user, int32_t token, const char *text, size_t len)
{
    (void)token, (void)text;
    *(size_t *)user += len;
    return true;
}

/* One life of the model in `dir` on `backend` with allocator c. Returns the
 * first failing status (its message in msg), PLINTH_OK if all went well. */
static plinth_status life(const char *backend, const char *dir, counting *c, char *msg,
                          size_t size)
{
    msg[0] = '\0';
    plinth_context_options o = {.struct_size = sizeof o, .alloc = counting_alloc,
                                .alloc_user = c};
    plinth_context *ctx = NULL;
    plinth_status s = plinth_context_create(&o, &ctx);
    if (s != PLINTH_OK) {
        snprintf(msg, size, "context: %s", plinth_status_name(s));
        return s;
    }
    plinth_backend *be = NULL;
    plinth_lm *lm = NULL;
    plinth_lm_session *ss = NULL;
    plinth_device_options dopts = {.struct_size = sizeof dopts, .n_threads = 2};
    s = plinth_backend_open(ctx, backend, 0, &dopts, &be);
    plinth_lm_options lo = {.struct_size = sizeof lo, .n_ctx = 16, .n_batch = TOKENS};
    if (s == PLINTH_OK)
        s = plinth_lm_open(&be, 1, dir, &lo, &lm);
    if (s == PLINTH_OK)
        s = plinth_lm_session_create(lm, &ss);
    /* Text through the tokenizer (NFC composes the e and its accent with
     * the byte-level fixture); its ids may lie past the tiny model's 512,
     * so the model gets ids of its own. */
    static const char text[] = "Caf\xc3\xa9 e\xcc\x81t\xc3\xa9, it's 123 <start_of_turn>!";
    int32_t ids[64];
    size_t n_ids = 0;
    if (s == PLINTH_OK)
        s = plinth_lm_tokenize(lm, text, sizeof text - 1, true, ids, 64, &n_ids);
    const int32_t tok[TOKENS] = {2, 270, 136, 407, 267, 155, 18, 384};
    if (s == PLINTH_OK)
        s = plinth_lm_decode(ss, tok, TOKENS, NULL);
    size_t streamed = 0;
    plinth_lm_generate_options go = {.struct_size = sizeof go, .max_tokens = GENERATE,
                                     .ignore_eos = true, .on_token = on_token,
                                     .user = &streamed};
    plinth_lm_generate_result res = {.struct_size = sizeof res};
    if (s == PLINTH_OK)
        s = plinth_lm_generate(ss, NULL, 0, &go, &res);
    if (s == PLINTH_OK && res.n_generated != GENERATE) {
        snprintf(msg, size, "generated %d tokens, not %d", (int)res.n_generated, GENERATE);
        s = PLINTH_ERR_INVALID;
    } else if (s != PLINTH_OK) {
        snprintf(msg, size, "%s", plinth_context_error(ctx));
    }
    plinth_lm_session_destroy(ss);
    plinth_lm_close(lm);
    plinth_backend_close(be);
    plinth_context_destroy(ctx);
    return s;
}

/* ------------------------------------------------------------ the sweep --- */

static long stride(void)
{
    const char *e = getenv("PLINTH_ALLOC_FAIL_STRIDE");
    long k = e ? strtol(e, NULL, 10) : 1;
    return k > 0 ? k : 1;
}

/* Fails each N in [1, total] with n <= every_until or n % rest_stride == 0
 * or n == total (every_until = total: every N). */
static void sweep(const char *what, const char *backend, const char *dir, long every_until,
                  long rest_stride, long check_every)
{
    char msg[2048];
    counting c = {0};
    cr_assert_eq(life(backend, dir, &c, msg, sizeof msg), PLINTH_OK, "%s: %s", what, msg);
    cr_assert_eq(c.live, 0, "%s: %ld blocks leaked by a working life", what, c.live);
    const long total = c.calls;
    cr_assert_gt(total, 300, "%s: only %ld allocations: the allocator is not routed", what, total);
    if (every_until > total)
        every_until = total;
    long failed_runs = 0, absorbed = 0, tried = 0;
    for (long n = 1; n <= total; n += n < every_until ? stride() : 1) {
        if (n > every_until && n % rest_stride != 0 && n != total)
            continue;
        tried++;
        c = (counting){.fail_at = n};
        plinth_status s = life(backend, dir, &c, msg, sizeof msg);
        cr_assert(c.failed, "%s: allocation %ld of %ld never happened", what, n, total);
        cr_assert_eq(c.live, 0, "%s: failing allocation %ld of %ld leaked %ld blocks (%s)", what,
                     n, total, c.live, s == PLINTH_OK ? "life succeeded" : msg);
        if (s == PLINTH_OK) {
            absorbed++;
            continue;
        }
        failed_runs++;
        cr_assert(msg[0], "%s: failing allocation %ld of %ld: status %s without a message",
                  what, n, total, plinth_status_name(s));
        /* The next attempt with a working allocator succeeds (checked
         * after every check_every-th failure: nothing survives between
         * lives but the process, so this looks for damage to it, e.g. a
         * plugin's shared state left half-made). */
        if (failed_runs % check_every == 1) {
            counting ok = {0};
            cr_assert_eq(life(backend, dir, &ok, msg, sizeof msg), PLINTH_OK,
                         "%s: after failing allocation %ld: %s", what, n, msg);
        }
    }
    char which[96] = "every one";
    if (every_until < total)
        snprintf(which, sizeof which, "every N up to %ld, then every %ld-th and the last",
                 every_until, rest_stride);
    if (stride() > 1)
        snprintf(which, sizeof which, "every %ld-th (PLINTH_ALLOC_FAIL_STRIDE)", stride());
    cr_log_info("%s: %ld allocations, %ld failed one at a time (%s): %ld lives failed cleanly, "
                "%ld absorbed the failure",
                what, total, tried, which, failed_runs, absorbed);
}

Test(alloc_fail, ref, .timeout = 1800)
{
    folder f;
    folder_make(&f, env_path("PLINTH_TEST_TOKENIZER_A"), false, true);
    sweep("ref", env_path("PLINTH_TEST_REF"), f.dir, LONG_MAX, 1, 16);
    folder_remove(&f);
}

Test(alloc_fail, cpu, .timeout = 1800)
{
    folder f;
    folder_make(&f, env_path("PLINTH_TEST_TOKENIZER_BYTELEVEL"), false, true);
    sweep("cpu", env_path("PLINTH_TEST_CPU"), f.dir, LONG_MAX, 1, 16);
    folder_remove(&f);
}

Test(alloc_fail, gguf, .timeout = 1800)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/gguf-models/llama3-tiny-Q4_0.gguf", env_path("PLINTH_TEST_DATA"));
    sweep("gguf", env_path("PLINTH_TEST_CPU"), path, LONG_MAX, 1, 16);
}

/* The allocations up to the end of the tokenizer's load: the same life on
 * a folder without config.json, which plinth_lm_open refuses right after
 * loading the tokenizer (it loads the tokenizer first). */
static long tokenizer_allocations(const char *backend, const char *tokenizer)
{
    folder f;
    folder_make(&f, tokenizer, true, false);
    char msg[2048];
    counting c = {0};
    plinth_status s = life(backend, f.dir, &c, msg, sizeof msg);
    folder_remove(&f);
    cr_assert_neq(s, PLINTH_OK, "a folder without config.json opened");
    cr_assert(strstr(msg, "config.json"), "not refused for its config.json: %s", msg);
    cr_assert_eq(c.live, 0, "%ld blocks leaked", c.live);
    return c.calls;
}

Test(alloc_fail, gemma_tokenizer, .timeout = 1800)
{
    const char *tokenizer = env_path("PLINTH_TOKENIZER");
    const long through_tokenizer = tokenizer_allocations(env_path("PLINTH_TEST_REF"), tokenizer);
    /* The tokenizer's own: a context, a backend and an lm take a few. */
    cr_assert_gt(through_tokenizer, 100, "the Gemma tokenizer's load took %ld allocations: not "
                 "routed through the context", through_tokenizer);
    folder f;
    folder_make(&f, tokenizer, true, true);
    sweep("gemma_tokenizer", env_path("PLINTH_TEST_REF"), f.dir, through_tokenizer + 1,
          GEMMA_REST_STRIDE, 64);
    folder_remove(&f);
}
