/*
 * sampling.h — picking the next token from logits: greedy, temperature,
 * top-k, top-p (nucleus), with a seeded RNG so a run can be repeated; and
 * the stop rule of generation.
 *
 * Order of the filters (as Hugging Face applies them): temperature, top-k,
 * top-p, min-p, then a draw from the renormalised distribution. temperature <= 0
 * or NaN (or top_k == 1, or a vocabulary of 1) is greedy: the first
 * maximum, no randomness.
 *
 * Any logits and any options give a valid id in [0, n_vocab): logits with a
 * NaN, or whose scaled maximum is infinite (+inf, or a temperature so small
 * that logit / temperature overflows), have no distribution and give the
 * greedy choice (the first NaN, else the first maximum); all -inf gives 0.
 * A top_p so small that no token reaches it keeps the most likely one.
 *
 * Thread-safety: a sampler is used from one thread at a time.
 */
#ifndef PLINTH_SAMPLING_H
#define PLINTH_SAMPLING_H

#include <plinth.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sampler_options {
    float temperature; /* <= 0: greedy                              */
    int32_t top_k;     /* <= 0: no limit                            */
    float top_p;       /* >= 1, <= 0 or NaN: no limit               */
    float min_p;       /* drop p < min_p * p_max (after top-p, as HF and
                          llama.cpp); <= 0, > 1 or NaN: no limit     */
    uint64_t seed;
} sampler_options;

typedef struct sampler sampler;

/* Creates a sampler for a vocabulary of n_vocab logits, its memory from
 * ctx (NULL: the C library; model_mem.h); NULL if n_vocab is not in
 * [1, MODEL_MAX_VOCAB] or out of memory. */
sampler *sampler_create(plinth_context *ctx, const sampler_options *opts, int32_t n_vocab);
void sampler_free(sampler *s);
/* The next token. `logits` (n_vocab) is read, not modified. */
int32_t sampler_sample(sampler *s, const float *logits);
/* Index of the first maximum (NaN counts as the maximum); -1 if n < 1. */
int32_t sampler_argmax(const float *logits, int32_t n);
/* A uniform double in [0, 1) from the sampler's RNG (for tests). */
double sampler_uniform(sampler *s);

/* Generation stops at any of `stop` ids, or after max_tokens. */
typedef struct stop_rule {
    int32_t ids[16];
    int32_t n_ids;
    int32_t max_tokens;
} stop_rule;
/* Adds id to the rule (ignored if negative, a duplicate, or full). */
void stop_rule_add(stop_rule *r, int32_t id);
bool stop_rule_hit(const stop_rule *r, int32_t id, int32_t n_generated);

#endif /* PLINTH_SAMPLING_H */
