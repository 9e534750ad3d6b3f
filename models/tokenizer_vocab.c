/*
 * tokenizer_vocab.c — the vocab, the merges and the added-token trie.
 * Sections: ids, the vocab and added tokens, merges, the trie.
 *
 * model.vocab and model.merges are read straight from the text of the
 * tokenizer.json (spans, tokenizer_json.c); the added tokens come from the
 * small cJSON tree.
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

static bool json_id(const cJSON *j, uint32_t limit, uint32_t *out)
{
    return cJSON_IsNumber(j) && id_ok(j->valuedouble, limit, out);
}

/* The text of token `id` as messages quote it. */
#define TOK_TEXT(t, id) (int)((t)->len[id] < 40 ? (t)->len[id] : 40), (t)->pool + (t)->off[id]

/* ------------------------------------------------ the vocab and added tokens */

/* Sizes the id space, copies every token's text into one pool and builds
 * the text -> id map. Added tokens may lie outside the model vocab
 * (Gemma 3's <image_soft_token> is id 262144), but ids are dense: each is
 * below the number of entries plus added tokens, so the per-id tables are
 * linear in the file (one id of 2^30 - 1 used to cost 6.5 s and 1 GB).
 * Two passes over the vocab: ids and sizes, then the texts. */
int tok_load_vocab(tokenizer *t, const tok_load_ctx *c, const char *s, tokj_span vocab, const cJSON *added)
{
    size_t n_vocab = 0, n_added = 0, pool = 0, pos = 0;
    tokj_span k, v;
    const cJSON *e;
    while (tokj_member(s, vocab, &pos, &k, &v)) n_vocab++;
    cJSON_ArrayForEach(e, added) n_added++;
    if (n_vocab == 0) return tok_fail(c, "model.vocab is empty");
    if (n_vocab > MODEL_MAX_VOCAB)
        return tok_fail(c, "model.vocab has %zu entries, more than %d (MODEL_MAX_VOCAB)", n_vocab, MODEL_MAX_VOCAB);
    const uint32_t limit = n_vocab + n_added < MODEL_MAX_VOCAB ? (uint32_t)(n_vocab + n_added) : MODEL_MAX_VOCAB;
    const char *why = n_vocab + n_added < MODEL_MAX_VOCAB ? "the number of vocab entries plus added tokens"
                                                           : "MODEL_MAX_VOCAB";
    char b[96];
    uint32_t max_id = 0, id = 0;
    tok_buf key = {0};
    const char *kp;
    size_t kn;
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
    cJSON_ArrayForEach(e, added) {
        const cJSON *ij = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!json_id(ij, limit, &id)) {
            tok_fail(c, "added_tokens[%zu] has \"id\" %s; an id must be an integer in [0, %u) (%s)", i,
                     json_text_show(ij, b, sizeof b), limit, why);
            goto done;
        }
        if (!cJSON_IsString(ct) || !ct->valuestring[0]) {
            tok_fail(c, "added_tokens[%zu] (id %u) has \"content\" %s; it must be a non-empty string", i, id,
                     json_text_show(ct, b, sizeof b));
            goto done;
        }
        const size_t n = strlen(ct->valuestring);
        if (n > MODEL_MAX_ADDED_TOKEN_BYTES) {
            tok_fail(c, "added_tokens[%zu] (id %u) is %zu bytes long, more than %d (MODEL_MAX_ADDED_TOKEN_BYTES)", i,
                     id, n, MODEL_MAX_ADDED_TOKEN_BYTES);
            goto done;
        }
        if (id > max_id) max_id = id;
        pool += n;
        i++;
    }
    t->n_ids = max_id + 1;
    t->pool = malloc(pool + 1);
    t->off = calloc(t->n_ids, sizeof *t->off);
    t->len = calloc(t->n_ids, sizeof *t->len);
    t->flags = calloc(t->n_ids, 1);
    if (!t->pool || !t->off || !t->len || !t->flags || tok_strmap_init(&t->vocab, n_vocab + n_added, tok_map_seed(t))) {
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
    cJSON_ArrayForEach(e, added) {
        json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), limit, &id);
        const char *txt = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
        const size_t n = strlen(txt);
        if (t->flags[id] & TOKF_ADDED) {
            tok_fail(c, "added_tokens: id %u appears twice (\"%.*s\" and \"%.40s\")", id, TOK_TEXT(t, id), txt);
            goto done;
        }
        memcpy(t->pool + at, txt, n);
        t->off[id] = (uint32_t)at;
        t->len[id] = (uint32_t)n;
        uint8_t f = TOKF_PRESENT | TOKF_ADDED;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special"))) f |= TOKF_SPECIAL;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "lstrip"))) f |= TOKF_LSTRIP;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "rstrip"))) f |= TOKF_RSTRIP;
        t->flags[id] = f;
        at += n;
        tok_strmap_put(t, &t->vocab, id);
    }
    rc = 0;
done:
    free(key.p);
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
    tok_buf cat = {0}, left = {0}, right = {0};
    if (tok_buf_reserve(&cat, 256) || tok_map64_init(&t->merges, n, tok_map_seed(t))) {
        free(cat.p);
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
    free(cat.p);
    free(left.p);
    free(right.p);
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
    t->node_tok = malloc(total * sizeof *t->node_tok);
    if (!t->node_tok || tok_map64_init(&t->trie, total, tok_map_seed(t))) return tok_fail(c, "out of memory");
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
