/*
 * test_alloc_fail.c — every allocation of a whole model's life fails once.
 *
 * The context's allocator (plinth_context_options.alloc) is the one door
 * through which the core, the JSON parser while the core parses, and the
 * plugins' bookkeeping (plinth_host.malloc) take memory. This test counts
 * the allocations of one scenario — open a backend, load the tiny Gemma
 * (config, state dict, two programs compiled, weights loaded), prefill,
 * decode, free everything — and then runs it again once per allocation,
 * failing exactly that one (the Nth), for every N. Each run must end in a
 * clean error with a message (or succeed, where the failure was one a
 * caller may absorb: the planner falls back to slower bookkeeping-free
 * paths), free every block it took (the allocator counts them:
 * a leak fails the test with or without ASan), never crash; and a run with
 * a working allocator afterwards must succeed. ref and cpu each.
 *
 *   PLINTH_ALLOC_FAIL_STRIDE=k  test every k-th N only (local speed-ups;
 *                               the suite tests every N)
 */
#include "lm_model.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ------------------------------------------------------------ scenario --- */

#define TOKENS 8

static const char *model_dir(void)
{
    static char buf[4096];
    const char *d = getenv("PLINTH_TEST_DATA");
    cr_assert(d && d[0], "PLINTH_TEST_DATA is not set (run through meson test)");
    snprintf(buf, sizeof buf, "%s/gemma3-tiny-a", d);
    return buf;
}

/* The whole life of a model on `backend` with allocator `c`. Returns the
 * first failing status (its message in msg), PLINTH_OK if all went well. */
static plinth_status scenario(const char *backend, counting *c, char *msg, size_t size)
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
    lm_model *m = NULL;
    plinth_device_options dopts = {.struct_size = sizeof dopts, .n_threads = 2};
    s = plinth_backend_open(ctx, backend, 0, &dopts, &be);
    if (s != PLINTH_OK)
        snprintf(msg, size, "%s", plinth_context_error(ctx));
    if (s == PLINTH_OK) {
        lm_model_options go = {.n_ctx = 16, .n_prefill = TOKENS, .all_logits = true};
        s = lm_model_load(ctx, be, model_dir(), &go, &m, msg, size);
    }
    float *logits = NULL;
    if (s == PLINTH_OK) {
        const int32_t tok[TOKENS + 1] = {2, 270, 136, 407, 267, 155, 18, 384, 21};
        logits = malloc((size_t)TOKENS * 512 * sizeof *logits);
        cr_assert_not_null(logits);
        s = lm_model_prefill(m, tok, TOKENS, 0, logits, msg, size);
        if (s == PLINTH_OK)
            s = lm_model_decode(m, tok[TOKENS], TOKENS, logits, msg, size);
    }
    free(logits);
    lm_model_free(m);
    plinth_backend_close(be);
    plinth_context_destroy(ctx);
    return s;
}

static long stride(void)
{
    const char *e = getenv("PLINTH_ALLOC_FAIL_STRIDE");
    long k = e ? strtol(e, NULL, 10) : 1;
    return k > 0 ? k : 1;
}

static void every_allocation_fails_once(const char *backend)
{
    char msg[2048];
    counting c = {0};
    cr_assert_eq(scenario(backend, &c, msg, sizeof msg), PLINTH_OK, "%s", msg);
    cr_assert_eq(c.live, 0, "%s: %ld blocks leaked by a working run", backend, c.live);
    const long total = c.calls;
    cr_assert_gt(total, 100, "%s: only %ld allocations: the allocator is not routed", backend,
                 total);
    long failed_runs = 0, absorbed = 0;
    for (long n = 1; n <= total; n += stride()) {
        c = (counting){.fail_at = n};
        plinth_status s = scenario(backend, &c, msg, sizeof msg);
        cr_assert(c.failed, "%s: allocation %ld of %ld never happened", backend, n, total);
        cr_assert_eq(c.live, 0, "%s: failing allocation %ld of %ld leaked %ld blocks (%s)",
                     backend, n, total, c.live, s == PLINTH_OK ? "run succeeded" : msg);
        if (s == PLINTH_OK) {
            absorbed++;
            continue;
        }
        failed_runs++;
        cr_assert(msg[0], "%s: failing allocation %ld of %ld: status %s without a message",
                  backend, n, total, plinth_status_name(s));
        /* The next attempt with a working allocator succeeds (checked
         * after every 16th failure: nothing survives between runs but the
         * process, so this looks for damage to it, e.g. a plugin's shared
         * state left half-made). */
        if (failed_runs % 16 == 1) {
            counting ok = {0};
            cr_assert_eq(scenario(backend, &ok, msg, sizeof msg), PLINTH_OK,
                         "%s: after failing allocation %ld: %s", backend, n, msg);
        }
    }
    cr_log_info("%s: %ld allocations; each failed once: %ld runs failed cleanly, %ld absorbed "
                "the failure",
                backend, total, failed_runs, absorbed);
}

Test(alloc_fail, ref, .timeout = 1800)
{
    every_allocation_fails_once(getenv("PLINTH_TEST_REF"));
}

Test(alloc_fail, cpu, .timeout = 1800)
{
    every_allocation_fails_once(getenv("PLINTH_TEST_CPU"));
}
