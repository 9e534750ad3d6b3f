/*
 * tokenizer_vocab.c — the vocab, the merges and the added-token trie.
 * Sections: ids, the vocab and added tokens, merges, the trie.
 *
 * model.vocab, model.merges and added_tokens are read straight from the
 * text of the tokenizer.json (spans, tokenizer_json.c).
 */
#include "tokenizer_internal.h"
#include "json_text.h"
#include "model_limits.h"

#include <string.h>

/* -------------------------------------------------------------------- ids */

/* An integer id in [0, limit), checked before any conversion. */
static bool id_ok(double v, uint32_t limit, uint32_t *out)
{
    if (!(v >= 0 && v < (double)limit) || v != (double)(uint32_t)v) return false;
    *out = (uint32_t)v;
    return true;
}

static bool span_id(const char *s, tokj_span v, uint32_t limit, uint32_t *out)
{
    double d;
    return tokj_number(s, v, &d) && id_ok(d, limit, out);
}

static bool is_true(const char *s, tokj_span v)
{
    return v.end - v.start == 4 && memcmp(s + v.start, "true", 4) == 0;
}

/* The text of token `id` as messages quote it. */
#define TOK_TEXT(t, id) (int)((t)->len[id] < 40 ? (t)->len[id] : 40), (t)->pool + (t)->off[id]

/* ------------------------------------------------ the vocab and added tokens */

/* One entry of added_tokens, read from its span as cJSON's lookups read it
 * from a tree (the first of a duplicate key; an element that is not an
 * object has no keys): its id, its text (in the text or in scratch) and
 * flags. */
typedef struct {
    uint32_t id;
    const char *text;
    size_t n;
    uint8_t flags;
} added_token;

static int read_added(const tok_load_ctx *c, const char *s, tokj_span e, size_t i, uint32_t limit,
                      const char *why, tok_buf *scratch, added_token *out)
{
    static const tokj_span none = {0, 0};
    tokj_span v;
    char b[96];
    if (!tokj_get(s, e, "id", &v)) v = none;
    if (v.end == v.start || !span_id(s, v, limit, &out->id))
        return tok_fail(c, "added_tokens[%zu] has \"id\" %s; an id must be an integer in [0, %u) (%s)", i,
                        tokj_show(s, v, b, sizeof b), limit, why);
    if (!tokj_get(s, e, "content", &v)) v = none;
    const int got = v.end > v.start ? tokj_string(s, v, scratch, &out->text, &out->n) : 1;
    if (got < 0) return tok_fail(c, "out of memory");
    if (got == 0) out->n = strnlen(out->text, out->n); /* cJSON's C string ended at a NUL */
    if (got || out->n == 0)
        return tok_fail(c, "added_tokens[%zu] (id %u) has \"content\" %s; it must be a non-empty string", i,
                        out->id, tokj_show(s, v, b, sizeof b));
    if (out->n > MODEL_MAX_ADDED_TOKEN_BYTES)
        return tok_fail(c, "added_tokens[%zu] (id %u) is %zu bytes long, more than %d (MODEL_MAX_ADDED_TOKEN_BYTES)",
                        i, out->id, out->n, MODEL_MAX_ADDED_TOKEN_BYTES);
    out->flags = TOKF_PRESENT | TOKF_ADDED;
    static const struct {
        const char *key;
        uint8_t flag;
    } flags[] = {{"special", TOKF_SPECIAL}, {"lstrip", TOKF_LSTRIP}, {"rstrip", TOKF_RSTRIP}};
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
        if (tokj_get(s, e, flags[k].key, &v) && is_true(s, v)) out->flags |= flags[k].flag;
    return 0;
}

/* Sizes the id space, copies every token's text into one pool and builds
 * the text -> id map. Added tokens may lie outside the model vocab
 * (Gemma 3's <image_soft_token> is id 262144), but ids are dense: each is
 * below the number of entries plus added tokens, so the per-id tables are
 * linear in the file (one id of 2^30 - 1 used to cost 6.5 s and 1 GB).
 * Two passes over the vocab and the added tokens: ids and sizes, then the
 * texts. Nothing is allocated per entry. */
int tok_load_vocab(tokenizer *t, const tok_load_ctx *c, const char *s, tokj_span vocab, tokj_span added)
{
    size_t n_vocab = 0, n_added = 0, pool = 0, pos = 0;
    tokj_span k, v;
    while (tokj_member(s, vocab, &pos, &k, &v)) n_vocab++;
    for (pos = 0; added.end > added.start && tokj_element(s, added, &pos, &v);) n_added++;
    if (n_vocab == 0) return tok_fail(c, "model.vocab is empty");
    if (n_vocab > MODEL_MAX_VOCAB)
        return tok_fail(c, "model.vocab has %zu entries, more than %d (MODEL_MAX_VOCAB)", n_vocab, MODEL_MAX_VOCAB);
    const uint32_t limit = n_vocab + n_added < MODEL_MAX_VOCAB ? (uint32_t)(n_vocab + n_added) : MODEL_MAX_VOCAB;
    const char *why = n_vocab + n_added < MODEL_MAX_VOCAB ? "the number of vocab entries plus added tokens"
                                                           : "MODEL_MAX_VOCAB";
    char b[96];
    uint32_t max_id = 0, id = 0;
    tok_buf key = {.ctx = c->mem};
    const char *kp;
    size_t kn;
    added_token a;
    int rc = -1;
    for (pos = 0; tokj_member(s, vocab, &pos, &k, &v);) {
        if (tokj_string(s, k, &key, &kp, &kn)) {
            tok_fail(c, "out of memory");
            goto done;
        }
        if (!span_id(s, v, limit, &id)) {
            tok_fail(c, "model.vocab entry \"%.*s\" has id %s; an id must be an integer in [0, %u) (%s)",
                     (int)(kn < 40 ? kn : 40), kp, tokj_show(s, v, b, sizeof b), limit, why);
            goto done;
        }
        /* cJSON's C strings ended at an escaped NUL; so does the token */
        kn = strnlen(kp, kn);
        if (kn > MODEL_MAX_TOKEN_BYTES) {
            tok_fail(c, "model.vocab entry %u is %zu bytes long, more than %u (MODEL_MAX_TOKEN_BYTES)", id, kn,
                     MODEL_MAX_TOKEN_BYTES);
            goto done;
        }
        if (id > max_id) max_id = id;
        pool += kn;
    }
    size_t i = 0;
    for (pos = 0; added.end > added.start && tokj_element(s, added, &pos, &v); i++) {
        if (read_added(c, s, v, i, limit, why, &key, &a)) goto done;
        if (a.id > max_id) max_id = a.id;
        pool += a.n;
    }
    t->n_ids = max_id + 1;
    t->pool = model_malloc(c->mem, pool + 1);
    t->off = model_calloc(c->mem, t->n_ids, sizeof *t->off);
    t->len = model_calloc(c->mem, t->n_ids, sizeof *t->len);
    t->flags = model_calloc(c->mem, t->n_ids, 1);
    if (!t->pool || !t->off || !t->len || !t->flags ||
        tok_strmap_init(c->mem, &t->vocab, n_vocab + n_added, tok_map_seed(t))) {
        tok_fail(c, "out of memory");
        goto done;
    }
    size_t at = 0;
    for (pos = 0; tokj_member(s, vocab, &pos, &k, &v);) {
        if (tokj_string(s, k, &key, &kp, &kn)) {
            tok_fail(c, "out of memory");
            goto done;
        }
        kn = strnlen(kp, kn);
        span_id(s, v, limit, &id);
        if (t->flags[id] & TOKF_PRESENT) {
            tok_fail(c, "model.vocab id %u is used twice (\"%.*s\" and \"%.*s\")", id, TOK_TEXT(t, id),
                     (int)(kn < 40 ? kn : 40), kp);
            goto done;
        }
        memcpy(t->pool + at, kp, kn);
        t->off[id] = (uint32_t)at;
        t->len[id] = (uint32_t)kn;
        t->flags[id] = TOKF_PRESENT;
        at += kn;
        tok_strmap_put(t, &t->vocab, id);
    }
    i = 0;
    for (pos = 0; added.end > added.start && tokj_element(s, added, &pos, &v); i++) {
        if (read_added(c, s, v, i, limit, why, &key, &a)) goto done;
        if (t->flags[a.id] & TOKF_ADDED) {
            tok_fail(c, "added_tokens: id %u appears twice (\"%.*s\" and \"%.*s\")", a.id, TOK_TEXT(t, a.id),
                     (int)(a.n < 40 ? a.n : 40), a.text);
            goto done;
        }
        memcpy(t->pool + at, a.text, a.n);
        t->off[a.id] = (uint32_t)at;
        t->len[a.id] = (uint32_t)a.n;
        t->flags[a.id] = a.flags;
        at += a.n;
        tok_strmap_put(t, &t->vocab, a.id);
    }
    rc = 0;
done:
    tok_buf_free(&key);
    return rc;
}

/* ----------------------------------------------------------------- merges */

/* Merges as "a b" strings (tokenizers < 0.20) or ["a", "b"] pairs. The
 * map holds (left id, right id) -> (rank, merged id). */
int tok_load_merges(tokenizer *t, const tok_load_ctx *c, const char *s, tokj_span merges)
{
    size_t n = 0, rank = 0, pos = 0;
    tokj_span e;
    while (tokj_element(s, merges, &pos, &e)) n++;
    tok_buf cat = {.ctx = c->mem}, left = {.ctx = c->mem}, right = {.ctx = c->mem};
    if (tok_buf_reserve(&cat, 256) || tok_map64_init(c->mem, &t->merges, n, tok_map_seed(t))) {
        tok_buf_free(&cat);
        return tok_fail(c, "out of memory");
    }
    int rc = 0;
    for (pos = 0; rc == 0 && tokj_element(s, merges, &pos, &e); rank++) {
        const char *a = NULL, *b = NULL;
        size_t al = 0, bl = 0;
        int got;
        if (tokj_is(s, e, '"')) {
            if ((got = tokj_string(s, e, &left, &a, &al)) < 0) { rc = tok_fail(c, "out of memory"); break; }
            al = strnlen(a, al);
            const char *sp = memchr(a, ' ', al);
            if (!sp) { rc = tok_fail(c, "merge %zu \"%.*s\" is not \"left right\"", rank, (int)al, a); break; }
            b = sp + 1;
            bl = al - (size_t)(b - a);
            al = (size_t)(sp - a);
        } else {
            size_t ep = 0, k = 0;
            tokj_span part;
            got = tokj_is(s, e, '[') ? 0 : 1;
            while (got == 0 && tokj_element(s, e, &ep, &part)) {
                if (k == 0) got = tokj_string(s, part, &left, &a, &al);
                else if (k == 1) got = tokj_string(s, part, &right, &b, &bl);
                k++;
            }
            if (got < 0) { rc = tok_fail(c, "out of memory"); break; }
            if (got || k != 2) { rc = tok_fail(c, "merge %zu is neither \"a b\" nor [\"a\", \"b\"]", rank); break; }
            al = strnlen(a, al);
            bl = strnlen(b, bl);
        }
        if (tok_buf_reserve(&cat, al + bl)) { rc = tok_fail(c, "out of memory"); break; }
        memcpy(cat.p, a, al);
        memcpy(cat.p + al, b, bl);
        const int32_t ia = tok_lookup(t, a, al), ib = tok_lookup(t, b, bl), im = tok_lookup(t, cat.p, al + bl);
        if (ia < 0 || ib < 0 || im < 0) {
            rc = tok_fail(c, "merge %zu (\"%.*s\" \"%.*s\"): %s not in the vocab", rank, (int)al, a, (int)bl, b,
                          im < 0 && ia >= 0 && ib >= 0 ? "the merged token is" : "a part is");
            break;
        }
        tok_map64_put(&t->merges, ((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib, (uint32_t)rank, (uint32_t)im);
    }
    tok_buf_free(&cat);
    tok_buf_free(&left);
    tok_buf_free(&right);
    return rc;
}

/* ---------------------------------------------------------------- the trie */

/* A byte trie of the added tokens' text; edges live in a hash map keyed by
 * (node << 8) | byte so that nodes with many children (all the "<..."
 * tokens) stay O(1) per byte. */
int tok_build_trie(tokenizer *t, const tok_load_ctx *c)
{
    size_t total = 1; /* nodes: the root plus at most one per byte */
    for (uint32_t id = 0; id < t->n_ids; id++)
        if (t->flags[id] & TOKF_ADDED) total += t->len[id];
    t->node_tok = model_calloc(c->mem, total, sizeof *t->node_tok);
    if (!t->node_tok || tok_map64_init(c->mem, &t->trie, total, tok_map_seed(t))) return tok_fail(c, "out of memory");
    t->node_tok[0] = -1;
    t->n_nodes = 1;
    for (uint32_t id = 0; id < t->n_ids; id++) {
        if (!(t->flags[id] & TOKF_ADDED)) continue;
        const unsigned char *p = (const unsigned char *)t->pool + t->off[id];
        uint32_t node = 0;
        t->can_start[p[0]] = true;
        for (uint32_t k = 0; k < t->len[id]; k++) {
            const uint64_t key = ((uint64_t)node << 8) | p[k];
            const tok_map64_slot *e = tok_map64_get(&t->trie, key);
            if (e) {
                node = e->a;
            } else {
                t->node_tok[t->n_nodes] = -1;
                tok_map64_put(&t->trie, key, t->n_nodes, 0);
                node = t->n_nodes++;
            }
        }
        t->node_tok[node] = (int32_t)id;
    }
    return 0;
}
