/*
 * graph_gemma.c — a Gemma 3 model folder as a whole-model conformance case.
 *
 * The model (tests/data/gemma3-tiny-a in the suite, any folder with
 * `plinth conformance --model DIR`) runs through both of its programs on the
 * backend under test and on ref: a prefill in chunks (so the chunk padding
 * and the shared KV cache are exercised), then token-by-token decode past
 * the sliding window. Every position's logits are compared.
 */
#include "conf_internal.h"

#include "lm_model.h"

#include <stdio.h>
#include <stdlib.h>

/* Tokens per case: prefill PREFILL of them in chunks of CHUNK, then decode
 * the rest one at a time. 24 positions cover three sliding windows of the
 * tiny models (window 8). */
#define TOKENS 24
#define PREFILL 13
#define CHUNK 5

static plinth_status gemma_case(plinth_backend *const *list, uint32_t n, const char *dir,
                                uint32_t seed, float *out, uint64_t n_out, conf_placement *pl,
                                char *err, size_t err_size)
{
    lm_model_options o = {.n_ctx = 64, .n_prefill = CHUNK, .all_logits = true,
                        .fallbacks = list + 1, .n_fallbacks = n - 1};
    lm_model *m = NULL;
    plinth_status st =
        lm_model_load(plinth_backend_context(list[0]), list[0], dir, &o, &m, err, err_size);
    if (st != PLINTH_OK)
        return st;
    conf_placement_add(pl, lm_model_prefill_program(m));
    conf_placement_add(pl, lm_model_decode_program(m));
    const lm_config *c = lm_model_config(m);
    const uint64_t vocab = (uint64_t)c->vocab;
    if (n_out != TOKENS * vocab) {
        snprintf(err, err_size, "%s: vocab changed since registration", dir);
        lm_model_free(m);
        return PLINTH_ERR_INVALID;
    }
    /* The same tokens for both backends: <bos>, then ids from the seed. */
    int32_t tokens[TOKENS];
    uint64_t s = 0x9E3779B97F4A7C15ull ^ seed;
    tokens[0] = c->bos;
    for (int i = 1; i < TOKENS; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        tokens[i] = 3 + (int32_t)(s % (uint64_t)(c->vocab - 3));
    }
    st = lm_model_prefill(m, tokens, PREFILL, 0, out, err, err_size);
    for (int i = PREFILL; st == PLINTH_OK && i < TOKENS; i++)
        st = lm_model_decode(m, tokens[i], i, out + (uint64_t)i * vocab, err, err_size);
    lm_model_free(m);
    return st;
}

bool conf_graph_register_gemma3(const char *dir, char *err, size_t err_size)
{
    lm_config c;
    if (lm_config_load(NULL, dir, &c, err, err_size) != PLINTH_OK)
        return false;
    static char names[4][160];
    static uint32_t n_names;
    if (n_names == sizeof names / sizeof names[0]) {
        snprintf(err, err_size, "at most %zu models", sizeof names / sizeof names[0]);
        return false;
    }
    char *name = names[n_names++];
    snprintf(name, sizeof names[0], "model gemma3 %s (prefill %d in chunks of %d + decode %d)",
             dir, PREFILL, CHUNK, TOKENS - PREFILL);
    /* Logits after 6+ layers of f32 arithmetic: the golden tests see ~1e-6
     * relative L2 against an exact forward, i.e. an NMSE of ~1e-12; 1e-9
     * leaves room for other summation orders and still refuses a wrong
     * window, base or norm (errors of 1e-2 and more). */
    const conf_graph_case g = {name, gemma_case, (uint64_t)TOKENS * (uint64_t)c.vocab, 1e-9, dir};
    if (!conf_graph_register(&g)) {
        snprintf(err, err_size, "too many whole-graph cases");
        return false;
    }
    return true;
}
