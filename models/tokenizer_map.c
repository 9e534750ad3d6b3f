/*
 * tokenizer_map.c — the tokenizer's hash maps and UTF-8 validation.
 * Sections: u64 -> (u32, u32) map, token text -> id map, UTF-8.
 *
 * Both maps are open-addressed with linear probing and sized once at load
 * (load factor <= 1/2), so lookups on the encode path never allocate.
 */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static uint64_t pow2_at_least(size_t n)
{
    uint64_t c = 16;
    while (c < (uint64_t)n * 2) c <<= 1;
    return c;
}

/* ------------------------------------------------------ u64 -> (u32, u32) */

/* Murmur3's finaliser: merge keys are two small ids side by side, which
 * need mixing before masking. */
static uint64_t mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

uint64_t tok_map_seed(const void *salt)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
        return seed;
    struct timespec ts; /* no entropy yet (early boot): the clock and an address */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)salt);
}

int tok_map64_init(plinth_context *ctx, tok_map64 *m, size_t n_expected, uint64_t seed)
{
    m->seed = seed;
    uint64_t cap = pow2_at_least(n_expected);
    m->slots = model_calloc(ctx, cap, sizeof *m->slots);
    if (!m->slots) return -1;
    for (uint64_t i = 0; i < cap; i++) m->slots[i].key = TOK_MAP_EMPTY;
    m->mask = cap - 1;
    return 0;
}

void tok_map64_free(plinth_context *ctx, tok_map64 *m)
{
    model_free(ctx, m->slots);
    m->slots = NULL;
}

void tok_map64_put(tok_map64 *m, uint64_t key, uint32_t a, uint32_t b)
{
    uint64_t i = mix64(key ^ m->seed) & m->mask;
    while (m->slots[i].key != TOK_MAP_EMPTY && m->slots[i].key != key) i = (i + 1) & m->mask;
    m->slots[i].key = key;
    m->slots[i].a = a;
    m->slots[i].b = b;
}

const tok_map64_slot *tok_map64_get(const tok_map64 *m, uint64_t key)
{
    uint64_t i = mix64(key ^ m->seed) & m->mask;
    for (;;) {
        const tok_map64_slot *s = &m->slots[i];
        if (s->key == key) return s;
        if (s->key == TOK_MAP_EMPTY) return NULL;
        i = (i + 1) & m->mask;
    }
}

/* ----------------------------------------------------- token text -> id */

uint32_t tok_hash_str(const char *s, size_t n, uint64_t seed)
{
    /* FNV-1a from a seeded start, then a seeded finish: tokens are short,
     * and this is cheap and well spread. */
    uint32_t h = 2166136261u ^ (uint32_t)seed;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return (uint32_t)(mix64(h ^ (seed & 0xffffffff00000000u)) >> 32);
}

int tok_strmap_init(plinth_context *ctx, tok_strmap *m, size_t n_expected, uint64_t seed)
{
    m->seed = seed;
    uint64_t cap = pow2_at_least(n_expected);
    m->slots = model_calloc(ctx, cap, sizeof *m->slots);
    if (!m->slots) return -1;
    for (uint64_t i = 0; i < cap; i++) m->slots[i].id = UINT32_MAX;
    m->mask = (uint32_t)(cap - 1);
    return 0;
}

void tok_strmap_free(plinth_context *ctx, tok_strmap *m)
{
    model_free(ctx, m->slots);
    m->slots = NULL;
}

static bool same_text(const tokenizer *t, uint32_t id, const char *s, size_t n)
{
    return t->len[id] == n && memcmp(t->pool + t->off[id], s, n) == 0;
}

void tok_strmap_put(const tokenizer *t, tok_strmap *m, uint32_t id)
{
    const char *s = t->pool + t->off[id];
    size_t n = t->len[id];
    uint32_t h = tok_hash_str(s, n, m->seed), i = h & m->mask;
    while (m->slots[i].id != UINT32_MAX) {
        if (m->slots[i].hash == h && same_text(t, m->slots[i].id, s, n)) break;
        i = (i + 1) & m->mask;
    }
    m->slots[i].id = id;
    m->slots[i].hash = h;
}

int32_t tok_lookup(const tokenizer *t, const char *s, size_t n)
{
    uint32_t h = tok_hash_str(s, n, t->vocab.seed), i = h & t->vocab.mask;
    for (;;) {
        const tok_strmap_slot *e = &t->vocab.slots[i];
        if (e->id == UINT32_MAX) return -1;
        if (e->hash == h && same_text(t, e->id, s, n)) return (int32_t)e->id;
        i = (i + 1) & t->vocab.mask;
    }
}

/* ------------------------------------------------------------------ UTF-8 */

size_t tok_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
#define CONT(k, lo, hi) ((k) < n && s[k] >= (lo) && s[k] <= (hi))
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return CONT(1, 0x80, 0xbf) ? 2 : 0;
    if (c == 0xe0) return CONT(1, 0xa0, 0xbf) && CONT(2, 0x80, 0xbf) ? 3 : 0;
    if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
        return CONT(1, 0x80, 0xbf) && CONT(2, 0x80, 0xbf) ? 3 : 0;
    if (c == 0xed) return CONT(1, 0x80, 0x9f) && CONT(2, 0x80, 0xbf) ? 3 : 0;
    if (c == 0xf0) return CONT(1, 0x90, 0xbf) && CONT(2, 0x80, 0xbf) && CONT(3, 0x80, 0xbf) ? 4 : 0;
    if (c >= 0xf1 && c <= 0xf3)
        return CONT(1, 0x80, 0xbf) && CONT(2, 0x80, 0xbf) && CONT(3, 0x80, 0xbf) ? 4 : 0;
    if (c == 0xf4) return CONT(1, 0x80, 0x8f) && CONT(2, 0x80, 0xbf) && CONT(3, 0x80, 0xbf) ? 4 : 0;
#undef CONT
    return 0;
}
