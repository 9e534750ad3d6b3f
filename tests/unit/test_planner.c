/*
 * test_planner.c — the offset planner alone (core/planner.h).
 *
 * Sections:
 *   1. helpers      PRNG, random graphs -> liveness, naive lower bound
 *   2. random       >= 1000 random graphs and random interval sets, checked
 *                   by plan_verify and against the lower bound
 *   3. edges        n = 0, one item, all live, all disjoint, size 0, alignment
 *   4. verifier     hand-made bad plans rejected, naming the items
 *   5. quality      transformer-like pattern within 10% of the lower bound
 *   6. speed        n = 5000 completes; time logged
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "planner.h"

/* ------------------------------------------------------------ 1. helpers */

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64: tiny, seedable with any value, good enough for test data */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *s, uint64_t bound)
{
    return bound ? rng_next(s) % bound : 0;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t random_size(uint64_t *s)
{
    uint64_t r = rng_below(s, 100);
    if (r < 6)
        return 0;
    if (r < 8)   /* huge outliers dominate the pool and stress the gap search */
        return (8ull << 20) + rng_below(s, 56ull << 20);
    if (r < 30)  /* already aligned */
        return 256 * (1 + rng_below(s, 4096));
    return 1 + rng_below(s, 1u << 20);   /* mostly not multiples of 256 */
}

/* A random DAG of n nodes in topological (index) order: each node consumes
 * 0-3 earlier nodes. Liveness as the compiler derives it: from the producing
 * step to the last consuming step; an unconsumed node is a graph output and
 * lives to the end with probability 1/2 (else it dies where it is made). */
static void random_graph(uint64_t *s, plan_item *items, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        items[i] = (plan_item){ .size = random_size(s), .first = i, .last = i,
                                .offset = 0xDEADBEEF };
        uint32_t n_in = i ? (uint32_t)rng_below(s, 4) : 0;
        for (uint32_t k = 0; k < n_in; k++) {
            uint32_t j = (uint32_t)rng_below(s, i);
            items[j].last = i;   /* consumers come in increasing order */
        }
    }
    for (uint32_t i = 0; i < n; i++)
        if (items[i].last == i && rng_below(s, 2))
            items[i].last = n - 1;
}

/* O(n * steps), obviously right: the reference for plan_lower_bound. */
static uint64_t naive_lower_bound(const plan_item *items, uint32_t n, uint64_t a)
{
    uint32_t steps = 0;
    for (uint32_t i = 0; i < n; i++)
        if (items[i].last + 1 > steps)
            steps = items[i].last + 1;
    uint64_t peak = 0;
    for (uint32_t t = 0; t < steps; t++) {
        uint64_t sum = 0;
        for (uint32_t i = 0; i < n; i++)
            if (items[i].first <= t && t <= items[i].last)
                sum += align_up(items[i].size, a);
        if (sum > peak)
            peak = sum;
    }
    return peak;
}

static uint64_t sum_aligned(const plan_item *items, uint32_t n, uint64_t a)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += align_up(items[i].size, a);
    return sum;
}

static uint64_t max_aligned(const plan_item *items, uint32_t n, uint64_t a)
{
    uint64_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (align_up(items[i].size, a) > m)
            m = align_up(items[i].size, a);
    return m;
}

/* Every property a plan must have; `what` names the case in failures. */
static uint64_t plan_and_check(plan_item *items, uint32_t n, uint64_t a, const char *what,
                               uint64_t seed)
{
    plan_item *before = malloc((n ? n : 1) * sizeof *before);
    cr_assert_not_null(before);
    if (n)
        memcpy(before, items, n * sizeof *items);

    uint64_t pool = plan_greedy_by_size(NULL, items, n, a);
    cr_assert_neq(pool, UINT64_MAX, "%s seed %" PRIu64 ": planner failed", what, seed);

    char err[512] = "";
    int rc = plan_verify(items, n, pool, a, err, sizeof err);
    cr_assert_eq(rc, 0, "%s seed %" PRIu64 " (n=%u, align=%" PRIu64 "): %s",
                 what, seed, n, a, err);
    cr_assert_eq(pool % a, 0, "%s seed %" PRIu64 ": pool %" PRIu64 " not aligned",
                 what, seed, pool);

    uint64_t lb = plan_lower_bound(NULL, items, n, a);
    cr_assert_geq(pool, lb, "%s seed %" PRIu64 ": pool %" PRIu64 " < lower bound %" PRIu64,
                  what, seed, pool, lb);
    cr_assert_leq(pool, sum_aligned(items, n, a),
                  "%s seed %" PRIu64 ": pool %" PRIu64 " > sum of aligned sizes",
                  what, seed, pool);

    for (uint32_t i = 0; i < n; i++) {
        cr_assert(items[i].size == before[i].size && items[i].first == before[i].first &&
                  items[i].last == before[i].last,
                  "%s seed %" PRIu64 ": item %u inputs changed", what, seed, i);
        if (items[i].size == 0)
            cr_assert_eq(items[i].offset, 0, "%s seed %" PRIu64 ": size-0 item %u at %" PRIu64,
                         what, seed, i, items[i].offset);
    }

    /* Same input, same plan: compiled programs must be reproducible. */
    uint64_t pool2 = plan_greedy_by_size(NULL, before, n, a);
    cr_assert_eq(pool2, pool, "%s seed %" PRIu64 ": second plan differs", what, seed);
    for (uint32_t i = 0; i < n; i++)
        cr_assert_eq(before[i].offset, items[i].offset,
                     "%s seed %" PRIu64 ": item %u offset not deterministic", what, seed, i);
    free(before);
    return pool;
}

/* ------------------------------------------------------------- 2. random */

#define N_GRAPHS 1200u

Test(planner_random, graphs_verify_and_bound)
{
    static const uint64_t aligns[] = { 256, 256, 256, 1, 64, 4096 };
    plan_item items[300];
    double ratio_sum = 0;
    for (uint64_t seed = 1; seed <= N_GRAPHS; seed++) {
        uint64_t s = seed;
        uint32_t n = 2 + (uint32_t)rng_below(&s, 299);
        uint64_t a = aligns[rng_below(&s, sizeof aligns / sizeof aligns[0])];
        random_graph(&s, items, n);

        uint64_t lb = plan_lower_bound(NULL, items, n, a);
        uint64_t naive = naive_lower_bound(items, n, a);
        cr_assert_eq(lb, naive, "graph seed %" PRIu64 ": lower bound %" PRIu64
                     " != naive %" PRIu64, seed, lb, naive);

        uint64_t pool = plan_and_check(items, n, a, "graph", seed);
        if (lb)
            ratio_sum += (double)pool / (double)lb;
    }
    cr_log_info("random graphs: %u planned, mean pool / lower bound = %.4f",
                N_GRAPHS, ratio_sum / N_GRAPHS);
}

/* Arbitrary intervals (not from a graph): long-lived items placed late,
 * wide step ranges, many simultaneous items. */
Test(planner_random, intervals_verify_and_bound)
{
    plan_item items[400];
    for (uint64_t seed = 1; seed <= 500; seed++) {
        uint64_t s = seed * 7919;
        uint32_t n = 1 + (uint32_t)rng_below(&s, 400);
        uint32_t steps = 1 + (uint32_t)rng_below(&s, seed % 2 ? 50 : 1000);
        uint64_t a = seed % 3 ? 256 : 1;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t f = (uint32_t)rng_below(&s, steps);
            uint32_t len = (uint32_t)rng_below(&s, rng_below(&s, 4) ? steps / 8 + 1 : steps);
            uint32_t l = f + len < steps ? f + len : steps - 1;
            items[i] = (plan_item){ .size = random_size(&s), .first = f, .last = l };
        }
        cr_assert_eq(plan_lower_bound(NULL, items, n, a), naive_lower_bound(items, n, a),
                     "intervals seed %" PRIu64, seed);
        plan_and_check(items, n, a, "intervals", seed);
    }
}

/* -------------------------------------------------------------- 3. edges */

Test(planner_edges, empty)
{
    cr_assert_eq(plan_greedy_by_size(NULL, NULL, 0, 256), 0);
    cr_assert_eq(plan_lower_bound(NULL, NULL, 0, 256), 0);
    char err[64];
    cr_assert_eq(plan_verify(NULL, 0, 0, 256, err, sizeof err), 0);
}

Test(planner_edges, single_item)
{
    plan_item it = { .size = 1000, .first = 3, .last = 7, .offset = 12345 };
    cr_assert_eq(plan_greedy_by_size(NULL, &it, 1, 256), 1024);
    cr_assert_eq(it.offset, 0);
    cr_assert_eq(plan_lower_bound(NULL, &it, 1, 256), 1024);
    cr_assert_eq(plan_greedy_by_size(NULL, &it, 1, 1), 1000);
    cr_assert_eq(plan_lower_bound(NULL, &it, 1, 1), 1000);
}

Test(planner_edges, all_live_at_once)
{
    for (uint64_t a = 1; a <= 256; a *= 256) {
        plan_item items[64];
        uint64_t s = 42;
        for (uint32_t i = 0; i < 64; i++)
            items[i] = (plan_item){ .size = 1 + rng_below(&s, 100000), .first = 0, .last = 9 };
        uint64_t pool = plan_and_check(items, 64, a, "all live", a);
        cr_assert_eq(pool, sum_aligned(items, 64, a));
        cr_assert_eq(pool, plan_lower_bound(NULL, items, 64, a));
    }
}

Test(planner_edges, all_disjoint)
{
    for (uint64_t a = 1; a <= 256; a *= 256) {
        plan_item items[64];
        uint64_t s = 7;
        for (uint32_t i = 0; i < 64; i++)
            items[i] = (plan_item){ .size = 1 + rng_below(&s, 100000), .first = 2 * i,
                                    .last = 2 * i + 1 };
        uint64_t pool = plan_and_check(items, 64, a, "disjoint", a);
        cr_assert_eq(pool, max_aligned(items, 64, a));
        cr_assert_eq(pool, plan_lower_bound(NULL, items, 64, a));
        for (uint32_t i = 0; i < 64; i++)
            cr_assert_eq(items[i].offset, 0, "item %u", i);
    }
}

Test(planner_edges, zero_size_items)
{
    plan_item items[6] = {
        { .size = 0, .first = 0, .last = 5, .offset = 99 },
        { .size = 300, .first = 0, .last = 5 },
        { .size = 0, .first = 1, .last = 2, .offset = 7 },
        { .size = 256, .first = 1, .last = 3 },
        { .size = 0, .first = 4, .last = 4, .offset = 1 },
        { .size = 1, .first = 4, .last = 5 },
    };
    uint64_t pool = plan_and_check(items, 6, 256, "zero", 0);
    cr_assert_eq(pool, 512 + 256);
    cr_assert_eq(plan_lower_bound(NULL, items, 6, 256), 768);
    for (uint32_t i = 0; i < 6; i += 2)
        cr_assert_eq(items[i].offset, 0);

    plan_item none[3] = { { .size = 0, .last = 1 }, { .size = 0 }, { .size = 0, .first = 1, .last = 1 } };
    cr_assert_eq(plan_and_check(none, 3, 256, "all zero", 0), 0);
    cr_assert_eq(plan_lower_bound(NULL, none, 3, 256), 0);
}

Test(planner_edges, alignment_respected)
{
    /* Odd sizes overlapping in time: with alignment 256 every offset lands
     * on a boundary; with alignment 1 they pack tight. */
    plan_item items[3] = {
        { .size = 3, .first = 0, .last = 2 },
        { .size = 5, .first = 1, .last = 3 },
        { .size = 7, .first = 2, .last = 4 },
    };
    cr_assert_eq(plan_and_check(items, 3, 256, "align256", 0), 768);
    for (uint32_t i = 0; i < 3; i++)
        cr_assert_eq(items[i].offset % 256, 0);
    cr_assert_eq(plan_and_check(items, 3, 1, "align1", 0), 15);
}

Test(planner_edges, extreme_steps)
{
    /* last == UINT32_MAX must not wrap the sweep line's end event. */
    plan_item items[3] = {
        { .size = 512, .first = 0, .last = UINT32_MAX },
        { .size = 256, .first = UINT32_MAX, .last = UINT32_MAX },
        { .size = 256, .first = 0, .last = 0 },
    };
    cr_assert_eq(plan_lower_bound(NULL, items, 3, 256), 768);
    cr_assert_eq(plan_and_check(items, 3, 256, "extreme", 0), 768);
}

Test(planner_edges, best_fit_gap)
{
    /* Placed first (largest): A [0,1024) and B, leaving the smallest hole
     * that fits C between long-lived neighbours; C must reuse a hole rather
     * than grow the pool. */
    plan_item items[4] = {
        { .size = 4096, .first = 0, .last = 1 },   /* dies early: leaves a 4 KiB hole */
        { .size = 2048, .first = 0, .last = 9 },
        { .size = 1024, .first = 0, .last = 9 },
        { .size = 4096, .first = 2, .last = 9 },   /* fits the hole exactly */
    };
    uint64_t pool = plan_and_check(items, 4, 256, "gap", 0);
    cr_assert_eq(pool, plan_lower_bound(NULL, items, 4, 256));
    cr_assert_eq(pool, 4096 + 2048 + 1024);
}

/* ----------------------------------------------------------- 4. verifier */

static plan_item *five_items(plan_item *it)
{
    /* Items 2 and 4 are the ones each case breaks; 0, 1, 3 are bystanders. */
    for (uint32_t i = 0; i < 5; i++)
        it[i] = (plan_item){ .size = 256, .first = 0, .last = 0, .offset = 4096 + 256 * i };
    return it;
}

Test(planner_verify, overlap_rejected_and_named)
{
    plan_item it[5];
    char err[512];
    five_items(it);
    it[2] = (plan_item){ .size = 512, .first = 1, .last = 5, .offset = 0 };
    it[4] = (plan_item){ .size = 512, .first = 5, .last = 8, .offset = 256 };
    cr_assert_eq(plan_verify(it, 5, 8192, 256, err, sizeof err), -1);
    cr_assert(strstr(err, "2") && strstr(err, "4") && strstr(err, "overlap"), "%s", err);
    cr_assert(strstr(err, "[1, 5]") && strstr(err, "[5, 8]"), "intervals missing: %s", err);
    cr_assert(strstr(err, "[0, 512)") && strstr(err, "[256, 768)"), "ranges missing: %s", err);
    cr_log_info("verifier says: %s", err);

    /* Same offsets, intervals that do not meet: valid. */
    it[4].first = 6;
    cr_assert_eq(plan_verify(it, 5, 8192, 256, err, sizeof err), 0, "%s", err);

    /* Touching byte ranges do not overlap. */
    it[4].first = 5;
    it[4].offset = 512;
    cr_assert_eq(plan_verify(it, 5, 8192, 256, err, sizeof err), 0, "%s", err);
}

Test(planner_verify, misaligned_rejected)
{
    plan_item it[5];
    char err[512];
    five_items(it);
    it[2].offset = 100;
    cr_assert_eq(plan_verify(it, 5, 8192, 256, err, sizeof err), -1);
    cr_assert(strstr(err, "item 2") && strstr(err, "100"), "%s", err);
    cr_assert_eq(plan_verify(it, 5, 8192, 4, err, sizeof err), 0, "%s", err);
}

Test(planner_verify, past_end_rejected)
{
    plan_item it[5];
    char err[512];
    five_items(it);
    it[4] = (plan_item){ .size = 300, .first = 0, .last = 0, .offset = 7936 };
    cr_assert_eq(plan_verify(it, 5, 8192, 256, err, sizeof err), -1);
    cr_assert(strstr(err, "item 4") && strstr(err, "8192"), "%s", err);
    cr_assert_eq(plan_verify(it, 5, 8236, 256, err, sizeof err), 0, "%s", err);

    /* offset + size wrapping 64 bits must not look like it fits. */
    it[4] = (plan_item){ .size = UINT64_MAX - 255, .offset = 512 };
    cr_assert_eq(plan_verify(it, 5, UINT64_MAX - 255, 256, err, sizeof err), -1);
    cr_assert(strstr(err, "item 4"), "%s", err);
}

Test(planner_verify, zero_size_never_conflicts)
{
    plan_item it[2] = {
        { .size = 1024, .first = 0, .last = 9, .offset = 0 },
        { .size = 0, .first = 0, .last = 9, .offset = 256 },
    };
    char err[256];
    cr_assert_eq(plan_verify(it, 2, 1024, 256, err, sizeof err), 0, "%s", err);
    /* No message buffer is fine too. */
    it[1].offset = 3;
    cr_assert_eq(plan_verify(it, 2, 1024, 256, NULL, 0), -1);
}

/* ------------------------------------------------------------ 5. quality */

/* A builder for graph-shaped tests: a node's inputs extend their lifetimes. */
typedef struct tgraph {
    plan_item *items;
    uint32_t n;
} tgraph;

static uint32_t node(tgraph *g, uint64_t size, uint32_t in0, uint32_t in1, uint32_t in2)
{
    uint32_t id = g->n++;
    g->items[id] = (plan_item){ .size = size, .first = id, .last = id };
    uint32_t ins[3] = { in0, in1, in2 };
    for (int k = 0; k < 3; k++)
        if (ins[k] != UINT32_MAX)
            g->items[ins[k]].last = id;
    return id;
}

#define NONE UINT32_MAX

/* Gemma-3-270M-like prefill in f32: T=512, hidden 640, 4 query heads and
 * 1 KV head of 256, FFN 2048. The residual stream is carried layer to layer
 * (each x lives across its layer), and the attention mask and RoPE tables
 * are live throughout. Weights are not arena items. 21 tensors a layer. */
static uint32_t transformer(plan_item *items, int n_layers)
{
    enum { T = 512, H = 640, NH = 4, NKV = 1, HD = 256, FFN = 2048 };
    const uint64_t f = 4;
    tgraph g = { items, 0 };

    uint32_t x = node(&g, f * T * H, NONE, NONE, NONE);            /* embeddings */
    uint32_t mask = node(&g, f * T * T, NONE, NONE, NONE);
    uint32_t cosv = node(&g, f * T * HD / 2, NONE, NONE, NONE);
    uint32_t sinv = node(&g, f * T * HD / 2, NONE, NONE, NONE);
    for (int layer = 0; layer < n_layers; layer++) {
        uint32_t n1 = node(&g, f * T * H, x, NONE, NONE);
        uint32_t q = node(&g, f * T * NH * HD, n1, NONE, NONE);
        uint32_t k = node(&g, f * T * NKV * HD, n1, NONE, NONE);
        uint32_t v = node(&g, f * T * NKV * HD, n1, NONE, NONE);
        uint32_t qn = node(&g, f * T * NH * HD, q, NONE, NONE);      /* qk-norm */
        uint32_t kn = node(&g, f * T * NKV * HD, k, NONE, NONE);
        uint32_t qr = node(&g, f * T * NH * HD, qn, cosv, sinv);     /* rope */
        uint32_t kr = node(&g, f * T * NKV * HD, kn, cosv, sinv);
        uint32_t sc = node(&g, f * NH * T * T, qr, kr, NONE);
        uint32_t sm = node(&g, f * NH * T * T, sc, mask, NONE);
        uint32_t at = node(&g, f * T * NH * HD, sm, v, NONE);
        uint32_t o = node(&g, f * T * H, at, NONE, NONE);
        uint32_t on = node(&g, f * T * H, o, NONE, NONE);            /* post-attn norm */
        uint32_t x2 = node(&g, f * T * H, x, on, NONE);
        uint32_t n2 = node(&g, f * T * H, x2, NONE, NONE);
        uint32_t gt = node(&g, f * T * FFN, n2, NONE, NONE);
        uint32_t up = node(&g, f * T * FFN, n2, NONE, NONE);
        uint32_t ac = node(&g, f * T * FFN, gt, up, NONE);
        uint32_t dn = node(&g, f * T * H, ac, NONE, NONE);
        uint32_t dnn = node(&g, f * T * H, dn, NONE, NONE);          /* post-ffn norm */
        x = node(&g, f * T * H, x2, dnn, NONE);
    }
    uint32_t out = node(&g, f * T * H, x, NONE, NONE);
    items[out].last = g.n - 1;   /* graph output */
    return g.n;
}

Test(planner_quality, transformer_within_10_percent)
{
    plan_item items[21 * 18 + 5];
    uint32_t n = transformer(items, 18);

    double t0 = now_ms();
    uint64_t pool = plan_and_check(items, n, 256, "transformer", 0);
    double ms = now_ms() - t0;
    uint64_t lb = plan_lower_bound(NULL, items, n, 256);
    double ratio = (double)pool / (double)lb;
    cr_log_info("transformer (%u tensors): pool %.2f MiB, lower bound %.2f MiB, "
                "ratio %.4f, sum %.2f MiB (%.2f ms incl. checks)",
                n, pool / 1048576.0, lb / 1048576.0, ratio,
                sum_aligned(items, n, 256) / 1048576.0, ms);
    cr_assert_leq(ratio, 1.10, "pool %" PRIu64 " / lower bound %" PRIu64 " = %.4f",
                  pool, lb, ratio);
}

/* -------------------------------------------------------------- 6. speed */

static void time_plan(plan_item *items, uint32_t n, const char *what)
{
    double t0 = now_ms();
    uint64_t pool = plan_greedy_by_size(NULL, items, n, 256);
    double ms = now_ms() - t0;
    cr_assert_neq(pool, UINT64_MAX);
    char err[512] = "";
    cr_assert_eq(plan_verify(items, n, pool, 256, err, sizeof err), 0, "%s: %s", what, err);
    uint64_t lb = plan_lower_bound(NULL, items, n, 256);
    cr_log_info("%s: n=%u planned in %.2f ms, pool / lower bound = %.4f",
                what, n, ms, (double)pool / (double)lb);
}

Test(planner_speed, n5000)
{
    enum { N = 5000 };
    plan_item *items = malloc(N * sizeof *items);
    cr_assert_not_null(items);
    uint64_t s = 2024;

    for (uint32_t i = 0; i < N; i++) {
        uint32_t f = (uint32_t)rng_below(&s, N);
        uint32_t len = (uint32_t)rng_below(&s, rng_below(&s, 10) ? 20 : N);
        items[i] = (plan_item){ .size = random_size(&s), .first = f,
                                .last = f + len < N ? f + len : N - 1 };
    }
    time_plan(items, N, "random intervals");

    random_graph(&s, items, N);
    time_plan(items, N, "random graph");

    uint32_t nt = transformer(items, (N - 5) / 21);
    time_plan(items, nt, "transformer-like");

    for (uint32_t i = 0; i < N; i++)   /* worst case for the scan: everything meets */
        items[i] = (plan_item){ .size = random_size(&s), .first = 0, .last = 1 };
    time_plan(items, N, "all live");
    free(items);
}
