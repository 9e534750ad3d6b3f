/*
 * sampling.c — the next token from logits, and the stop rule.
 *
 * Sections: the RNG (splitmix64 seeding xoshiro256**); candidates (top-k by
 * a min-heap, a probability cut-off that keeps top-p from sorting the whole
 * vocabulary); the draw; the stop rule.
 */
#include "sampling.h"
#include "model_limits.h"
#include "model_mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    float v;   /* scaled logit, then probability */
    int32_t id;
} cand;

struct sampler {
    plinth_context *ctx; /* its memory's (model_mem.h) */
    sampler_options o;
    int32_t n_vocab;
    uint64_t rng[4];
    cand *c; /* n_vocab */
};

/* ----------------------------------------------------------------- RNG --- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

double sampler_uniform(sampler *s)
{
    return (double)(next_u64(s->rng) >> 11) * (1.0 / 9007199254740992.0);
}

sampler *sampler_create(plinth_context *ctx, const sampler_options *opts, int32_t n_vocab)
{
    if (n_vocab < 1 || n_vocab > MODEL_MAX_VOCAB)
        return NULL;
    sampler *s = model_calloc(ctx, 1, sizeof *s);
    if (!s)
        return NULL;
    s->ctx = ctx;
    s->o = *opts;
    s->n_vocab = n_vocab;
    uint64_t x = opts->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
    if (!(s->c = model_calloc(ctx, (size_t)n_vocab, sizeof *s->c))) {
        model_free(ctx, s);
        return NULL;
    }
    return s;
}

void sampler_free(sampler *s)
{
    if (!s)
        return;
    model_free(s->ctx, s->c);
    model_free(s->ctx, s);
}

/* Greedy decoding takes the argmax of 262144 logits per token: the plain
 * compare-and-branch loop cost 0.31 ms, 2% of a decoded token on the cpu
 * backend. Blocks of 256 are ranked by the largest order key of their
 * floats (the bits with the magnitude flipped for negatives, -0 as +0: an
 * integer max that vectorises, no fast-math), and only the winning block
 * is searched for the first element equal to the maximum: 0.09 ms, the
 * same index in every case (first NaN, else first maximum). */
#define ARGMAX_BLOCK 256

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("tree-vectorize")))
#endif
static int32_t block_key_max(const float *x, int32_t n, uint32_t *nan)
{
    int32_t kmax = INT32_MIN;
    uint32_t any_nan = 0;
    for (int32_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        any_nan |= (u & 0x7fffffffu) > 0x7f800000u;
        u = u == 0x80000000u ? 0u : u;
        const int32_t k = (int32_t)(u ^ ((uint32_t)((int32_t)u >> 31) & 0x7fffffffu));
        kmax = k > kmax ? k : kmax;
    }
    *nan = any_nan;
    return kmax;
}

int32_t sampler_argmax(const float *logits, int32_t n)
{
    if (n < 1)
        return -1;
    int32_t best = 0, kbest = INT32_MIN;
    for (int32_t b = 0; b < n; b += ARGMAX_BLOCK) {
        const int32_t len = n - b < ARGMAX_BLOCK ? n - b : ARGMAX_BLOCK;
        uint32_t nan;
        const int32_t k = block_key_max(logits + b, len, &nan);
        if (nan) /* the first NaN wins */
            for (int32_t i = b; i < b + len; i++)
                if (isnan(logits[i]))
                    return i;
        if (k > kbest) {
            kbest = k;
            best = b;
        }
    }
    const uint32_t mu = (uint32_t)kbest ^ ((uint32_t)(kbest >> 31) & 0x7fffffffu);
    float mx;
    memcpy(&mx, &mu, 4);
    for (int32_t i = best; i < n; i++)
        if (logits[i] == mx)
            return i;
    return best;
}

/* ---------------------------------------------------------- candidates --- */

/* Descending by value; ties by id, so the order is reproducible. */
static int cmp_desc(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool less(const cand *a, const cand *b) { return cmp_desc(a, b) > 0; }

static void sift_down(cand *h, int32_t n, int32_t i)
{
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && less(&h[l], &h[m]))
            m = l;
        if (r < n && less(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* The k best of c[0..n) into c[0..k), sorted descending (a min-heap of k). */
static int32_t top_k(cand *c, int32_t n, int32_t k)
{
    if (k >= n) {
        qsort(c, (size_t)n, sizeof *c, cmp_desc);
        return n;
    }
    for (int32_t i = k / 2 - 1; i >= 0; i--)
        sift_down(c, k, i);
    for (int32_t i = k; i < n; i++)
        if (less(&c[0], &c[i])) {
            c[0] = c[i];
            sift_down(c, k, 0);
        }
    qsort(c, (size_t)k, sizeof *c, cmp_desc);
    return k;
}

/* ---------------------------------------------------------------- draw --- */

int32_t sampler_sample(sampler *s, const float *logits)
{
    const sampler_options *o = &s->o;
    const int32_t n = s->n_vocab;
    /* !(t > 0) is greedy for NaN too; so is one candidate. */
    if (!(o->temperature > 0.0f) || o->top_k == 1 || n == 1)
        return sampler_argmax(logits, n);
    cand *c = s->c;
    float mx = -INFINITY;
    bool nan = false;
    for (int32_t i = 0; i < n; i++) {
        c[i].v = logits[i] / o->temperature;
        c[i].id = i;
        nan |= isnan(c[i].v);
        if (c[i].v > mx)
            mx = c[i].v;
    }
    /* A NaN or an infinite scaled logit has no distribution to draw from:
     * take what greedy takes (the first NaN, else the first maximum), as
     * when every logit is -inf. */
    if (nan || !isfinite(mx))
        return sampler_argmax(logits, n);
    int32_t m = n;
    bool sorted = false;
    if (o->top_k > 0 && o->top_k < n) {
        m = top_k(c, n, o->top_k);
        sorted = true;
    }
    /* The maximum becomes exp(0) = 1 exactly: sum >= 1 and the top
     * candidate always survives the cuts below. */
    double sum = 0.0;
    for (int32_t i = 0; i < m; i++) {
        c[i].v = (float)exp((double)c[i].v - (double)mx);
        sum += c[i].v;
    }
    if (o->top_p > 0.0f && o->top_p < 1.0f) {
        if (!sorted) {
            /* Tokens below (1 - p) / (m - 1) of the mass can never be in
             * the nucleus (llama2.c's pre-cut): drop them before sorting.
             * The bound says nothing about the top token, so it is capped
             * at the maximum (1): with p below 1 / m and equal logits it
             * would otherwise drop every candidate. m >= 2 here. */
            double cut = (1.0 - o->top_p) / (double)(m - 1) * sum;
            if (cut > 1.0)
                cut = 1.0;
            int32_t kept = 0;
            for (int32_t i = 0; i < m; i++)
                if (c[i].v >= cut)
                    c[kept++] = c[i];
            m = kept;
            qsort(c, (size_t)m, sizeof *c, cmp_desc);
        }
        double cum = 0.0;
        int32_t keep = m;
        for (int32_t i = 0; i < m; i++) {
            cum += c[i].v;
            if (cum >= o->top_p * sum) {
                keep = i + 1;
                break;
            }
        }
        m = keep;
        sum = 0.0;
        for (int32_t i = 0; i < m; i++)
            sum += c[i].v;
    }
    /* min-p: c[].v is each probability over the top one's (which is 1 and
     * stays), so the cut is a plain compare; order is kept. */
    if (o->min_p > 0.0f && o->min_p <= 1.0f) {
        int32_t kept = 0;
        sum = 0.0;
        for (int32_t i = 0; i < m; i++)
            if (c[i].v >= o->min_p) {
                sum += c[i].v;
                c[kept++] = c[i];
            }
        m = kept;
    }
    double r = sampler_uniform(s) * sum, acc = 0.0;
    for (int32_t i = 0; i < m; i++) {
        acc += c[i].v;
        if (r < acc)
            return c[i].id;
    }
    return c[m - 1].id; /* rounding: the last candidate (m >= 1: the top one is kept) */
}

/* ----------------------------------------------------------- stop rule --- */

void stop_rule_add(stop_rule *r, int32_t id)
{
    if (id < 0 || r->n_ids >= (int32_t)(sizeof r->ids / sizeof r->ids[0]))
        return;
    for (int32_t i = 0; i < r->n_ids; i++)
        if (r->ids[i] == id)
            return;
    r->ids[r->n_ids++] = id;
}

bool stop_rule_hit(const stop_rule *r, int32_t id, int32_t n_generated)
{
    for (int32_t i = 0; i < r->n_ids; i++)
        if (r->ids[i] == id)
            return true;
    return r->max_tokens > 0 && n_generated >= r->max_tokens;
}
