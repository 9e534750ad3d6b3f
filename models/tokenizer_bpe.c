/*
 * tokenizer_bpe.c — encoding text to ids.
 * Sections: scratch buffers, heap, BPE merge loop (a binary heap over a
 * linked list of symbols), normalizer, pre-tokenizer, driver (added-token
 * split, bad bytes).
 *
 * The pipeline follows tokenizers / transformers.js: added tokens are cut
 * out of the raw text first (leftmost-longest); each remaining section is
 * normalized, pre-tokenized into words (Splits on strings or regexes, then
 * ByteLevel's byte -> character map), and each word is split into
 * characters and merged by rank. Characters missing from the vocab (and
 * bytes that are not valid UTF-8) become <0xXX> byte-fallback tokens and
 * never merge. Gemma 3 has no effective pre-tokenizer (its Split on " "
 * runs after " " became "▁"), so a whole line is one BPE word: the merge
 * loop must stay O(n log n) for long inputs.
 *
 * Text that is not UTF-8: with NFC, a regex or ByteLevel (which read
 * characters), a section is cut at each byte that starts no well-formed
 * sequence; the runs between are encoded as usual and such a byte becomes
 * its ByteLevel character's token (or <0xXX>, or <unk>). JavaScript
 * strings cannot hold such bytes, so this is plinth's rule, and
 * decode(encode(b)) == b still holds for byte-level tokenizers.
 */
#include "tokenizer_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------- scratch buffers */

int tok_ids_push(tok_ids *o, int32_t id)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        int32_t *v = model_realloc(o->ctx, o->v, cap * sizeof *v);
        if (!v) return -1;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = id;
    return 0;
}

enum { SYM_VOCAB, SYM_BYTES, SYM_UNK, SYM_DEAD };
typedef struct {
    int32_t id;
    int32_t prev, next;
    uint32_t start, len; /* bytes of the word this symbol covers */
    uint8_t kind;
} sym;

/* A candidate merge is one u64, (rank << 32) | left slot: the heap compares
 * plain integers, giving lowest rank first and, on ties, the leftmost pair,
 * as in HF's (rank, position) order and transformers.js' rank + position
 * bias. An entry is stale when the pair now at `left` has another rank;
 * ranks name pairs uniquely and a slot's token only grows, so an entry
 * whose rank still matches is exactly the merge a fresh entry would ask. */
typedef uint64_t cand;

typedef struct {
    plinth_context *ctx; /* the tokenizer's: every buffer below is from it */
    char *norm;
    size_t norm_cap;
    size_t *words, *words2; /* (start, len) pairs; words2 while splitting */
    size_t words_cap, words2_cap;
    char *mapped; /* a word in ByteLevel characters */
    size_t mapped_cap;
    tok_matcher *matcher; /* made on the first regex match */
    sym *syms;
    size_t syms_cap;
    cand *heap;
    size_t heap_n, heap_cap;
} scratch;

static int grow(plinth_context *ctx, void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    size_t bytes;
    if (__builtin_mul_overflow(c, elem, &bytes)) return -1;
    void *q = model_realloc(ctx, *p, bytes);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* ---------------------------------------------------------------- heap */

static void sift_down(cand *h, size_t n, size_t i)
{
    cand x = h[i];
    for (;;) {
        size_t l = 2 * i + 1, m = l;
        if (l >= n) break;
        if (l + 1 < n && h[l + 1] < h[l]) m = l + 1;
        if (h[m] >= x) break;
        h[i] = h[m];
        i = m;
    }
    h[i] = x;
}

static int heap_push(scratch *s, cand c)
{
    if (grow(s->ctx, (void **)&s->heap, &s->heap_cap, s->heap_n + 1, sizeof *s->heap)) return -1;
    size_t i = s->heap_n++;
    while (i > 0 && c < s->heap[(i - 1) / 2]) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = c;
    return 0;
}

static cand heap_pop(scratch *s)
{
    cand top = s->heap[0];
    s->heap[0] = s->heap[--s->heap_n];
    if (s->heap_n) sift_down(s->heap, s->heap_n, 0);
    return top;
}

/* ------------------------------------------------------------ BPE merge */

/* The merge of syms[l] with its right neighbour, or NULL. */
static const tok_map64_slot *pair_merge(const tokenizer *t, const scratch *s, int32_t l)
{
    const sym *a = &s->syms[l];
    if (a->kind != SYM_VOCAB || a->next < 0) return NULL;
    const sym *b = &s->syms[a->next];
    if (b->kind != SYM_VOCAB) return NULL;
    return tok_map64_get(&t->merges, ((uint64_t)(uint32_t)a->id << 32) | (uint32_t)b->id);
}

static int push_pair(const tokenizer *t, scratch *s, int32_t l)
{
    const tok_map64_slot *m = pair_merge(t, s, l);
    return m ? heap_push(s, ((uint64_t)m->a << 32) | (uint32_t)l) : 0;
}

static int emit_bytes(const tokenizer *t, const unsigned char *w, const sym *y, tok_ids *out)
{
    for (uint32_t k = 0; k < y->len; k++)
        if (tok_ids_push(out, t->byte_id[w[y->start + k]])) return -1;
    return 0;
}

static int bpe_word(const tokenizer *t, scratch *s, const unsigned char *w, size_t n, tok_ids *out)
{
    if (n == 0) return 0;
    if (n > INT32_MAX) return -1; /* symbol slots are int32 */
    if (t->ignore_merges) {
        int32_t id = tok_lookup(t, (const char *)w, n);
        if (id >= 0) return tok_ids_push(out, id);
    }
    if (grow(s->ctx, (void **)&s->syms, &s->syms_cap, n, sizeof *s->syms)) return -1;

    /* Characters -> symbols. */
    int32_t ns = 0;
    for (size_t i = 0; i < n;) {
        size_t cl = tok_utf8_len(w + i, n - i);
        sym y = {-1, ns - 1, -1, (uint32_t)i, (uint32_t)(cl ? cl : 1), SYM_VOCAB};
        if (cl == 1 && w[i] < 128) y.id = t->ascii_id[w[i]];
        else if (cl) y.id = tok_lookup(t, (const char *)w + i, cl);
        if (y.id < 0) y.kind = (t->byte_fallback && t->byte_id[w[i]] >= 0) ? SYM_BYTES : SYM_UNK;
        if (ns > 0) s->syms[ns - 1].next = ns;
        s->syms[ns++] = y;
        i += y.len;
    }

    /* Merge by rank. A merged symbol keeps its left part's slot, so slot
     * order is text order and "leftmost" is the smaller slot. The first
     * candidates are heapified in O(n) rather than pushed one by one. */
    if (grow(s->ctx, (void **)&s->heap, &s->heap_cap, (size_t)ns, sizeof *s->heap)) return -1;
    s->heap_n = 0;
    for (int32_t i = 0; i + 1 < ns; i++) {
        const tok_map64_slot *m = pair_merge(t, s, i);
        if (m) s->heap[s->heap_n++] = ((uint64_t)m->a << 32) | (uint32_t)i;
    }
    for (size_t i = s->heap_n / 2; i-- > 0;) sift_down(s->heap, s->heap_n, i);
    while (s->heap_n) {
        cand c = heap_pop(s);
        int32_t l = (int32_t)(uint32_t)c;
        const tok_map64_slot *m = pair_merge(t, s, l);
        if (!m || m->a != (uint32_t)(c >> 32)) continue; /* stale */
        sym *a = &s->syms[l], *b = &s->syms[a->next];
        a->id = (int32_t)m->b;
        a->len += b->len;
        a->next = b->next;
        if (b->next >= 0) s->syms[b->next].prev = l;
        b->kind = SYM_DEAD;
        if (a->prev >= 0 && push_pair(t, s, a->prev)) return -1;
        if (push_pair(t, s, l)) return -1;
    }

    /* Emit. */
    bool last_unk = false;
    for (int32_t i = 0; i >= 0; i = s->syms[i].next) {
        const sym *y = &s->syms[i];
        if (y->kind == SYM_BYTES) {
            if (emit_bytes(t, w, y, out)) return -1;
        } else if (y->kind == SYM_UNK) {
            if (t->unk_id < 0) return -2;
            if (!(t->fuse_unk && last_unk) && tok_ids_push(out, t->unk_id)) return -1;
        } else if (tok_ids_push(out, y->id)) {
            return -1;
        }
        last_unk = y->kind == SYM_UNK;
    }
    return 0;
}

/* ------------------------------------------------------------ normalizer */

/* Applies the normalizer steps to a section; the result is in s->norm. */
static int normalize(const tokenizer *t, scratch *s, const char *text, size_t len, size_t *out_len)
{
    if (grow(s->ctx, (void **)&s->norm, &s->norm_cap, len + 1, 1)) return -1;
    memcpy(s->norm, text, len);
    size_t n = len;
    char *tmp = NULL;
    for (size_t k = 0; k < t->n_norm; k++) {
        const tok_norm_step *st = &t->norm[k];
        if (st->kind == TOK_NORM_PREPEND) {
            if (n == 0) continue; /* HF prepends only to non-empty text */
            if (grow(s->ctx, (void **)&s->norm, &s->norm_cap, n + st->clen + 1, 1)) return -1;
            memmove(s->norm + st->clen, s->norm, n);
            memcpy(s->norm, st->content, st->clen);
            n += st->clen;
            continue;
        }
        if (st->kind == TOK_NORM_NFC) {
            size_t nn;
            const int rc = tok_nfc(s->ctx, s->norm, n, &tmp, &nn);
            if (rc < 0) return -1;
            if (rc == 0) {
                if (grow(s->ctx, (void **)&s->norm, &s->norm_cap, nn + 1, 1)) { model_free(s->ctx, tmp); return -1; }
                memcpy(s->norm, tmp, nn);
                model_free(s->ctx, tmp);
                tmp = NULL;
                n = nn;
            }
            continue;
        }
        /* Replace: count, then rebuild once. memmem (two-way search) is
         * linear in the text and the pattern; a byte-by-byte memcmp is
         * their product. */
        size_t hits = 0;
        const char *e = s->norm + n, *p, *h;
        for (p = s->norm; (h = memmem(p, (size_t)(e - p), st->pattern, st->plen)); p = h + st->plen) hits++;
        if (!hits) continue;
        size_t nn = n - hits * st->plen + hits * st->clen; /* bounded: MODEL_MAX_TEXT_GROWTH */
        tmp = model_malloc(s->ctx, nn + 1);
        if (!tmp) return -1;
        size_t o = 0;
        for (p = s->norm; (h = memmem(p, (size_t)(e - p), st->pattern, st->plen)); p = h + st->plen) {
            memcpy(tmp + o, p, (size_t)(h - p));
            o += (size_t)(h - p);
            memcpy(tmp + o, st->content, st->clen);
            o += st->clen;
        }
        memcpy(tmp + o, p, (size_t)(e - p));
        if (grow(s->ctx, (void **)&s->norm, &s->norm_cap, nn + 1, 1)) { model_free(s->ctx, tmp); return -1; }
        memcpy(s->norm, tmp, nn);
        model_free(s->ctx, tmp);
        tmp = NULL;
        n = nn;
    }
    *out_len = n;
    return 0;
}

/* --------------------------------------------------------- pre-tokenizer */

static int add_word(plinth_context *ctx, size_t **w, size_t *cap, size_t *nw, size_t start, size_t len)
{
    if (len == 0) return 0;
    if (grow(ctx, (void **)w, cap, 2 * (*nw + 1), sizeof **w)) return -1;
    (*w)[2 * *nw] = start;
    (*w)[2 * *nw + 1] = len;
    (*nw)++;
    return 0;
}

/* The next match of a Split in p[from, n): TOK_RE_FOUND with [*ms, *me),
 * TOK_RE_NONE, or an error. Empty regex matches are passed over (they
 * split nothing), stepping one character. */
static int next_match(scratch *s, const tok_split_step *st, const tok_regex *re, const char *p, size_t n,
                      size_t from, size_t *ms, size_t *me)
{
    if (!re) {
        /* memmem: linear, where trying every offset costs n * plen. */
        const char *hit = from + st->plen <= n ? memmem(p + from, n - from, st->pattern, st->plen) : NULL;
        if (!hit) return TOK_RE_NONE;
        *ms = (size_t)(hit - p);
        *me = *ms + st->plen;
        return TOK_RE_FOUND;
    }
    if (!s->matcher && !(s->matcher = tok_matcher_create(s->ctx))) return TOK_RE_NO_MEMORY;
    while (from <= n) {
        const int rc = tok_regex_find(re, s->matcher, p, n, from, ms, me);
        if (rc != TOK_RE_FOUND || *me > *ms) return rc;
        if (*ms >= n) return TOK_RE_NONE;
        from = *ms + tok_utf8_len((const unsigned char *)p + *ms, n - *ms);
    }
    return TOK_RE_NONE;
}

/* Splits the word p[0, n) (at offset base of s->norm) into s->words2 by
 * one Split, with HF's delimiter behaviours. */
static int split_word(scratch *s, const tok_split_step *st, const tok_regex *re, int b, size_t base, size_t n,
                      size_t *nw)
{
    const char *p = s->norm + base;
    size_t piece = 0, at = 0, d, dend; /* piece: start of the pending piece */
    int rc;
    while ((rc = next_match(s, st, re, p, n, at, &d, &dend)) == TOK_RE_FOUND) {
        at = dend;
        if (b == TOK_SPLIT_CONTIGUOUS) { /* adjacent matches are one delimiter */
            size_t d2, e2;
            while (at < n && (rc = next_match(s, st, re, p, n, at, &d2, &e2)) == TOK_RE_FOUND && d2 == at)
                at = dend = e2;
            if (rc < 0) return rc;
        }
#define WORD(a, l) add_word(s->ctx, &s->words2, &s->words2_cap, nw, base + (a), (l))
        int bad = 0;
        switch (b) {
        case TOK_SPLIT_REMOVED: bad = WORD(piece, d - piece); piece = dend; break;
        case TOK_SPLIT_ISOLATED:
        case TOK_SPLIT_CONTIGUOUS: bad = WORD(piece, d - piece) || WORD(d, dend - d); piece = dend; break;
        case TOK_SPLIT_PREV: bad = WORD(piece, dend - piece); piece = dend; break;
        default: /* TOK_SPLIT_NEXT */ bad = WORD(piece, d - piece); piece = d; break;
        }
        if (bad) return TOK_RE_NO_MEMORY;
        if (at >= n) break;
    }
    if (rc < 0) return rc;
    return WORD(piece, n - piece) ? TOK_RE_NO_MEMORY : 0;
#undef WORD
}

/* The words of s->norm[0, n): each Split in turn, then ByteLevel's own
 * regex when it has use_regex. -1 out of memory, -3 a regex limit. */
static int split_words(const tokenizer *t, scratch *s, size_t n, size_t *nw)
{
    *nw = 0;
    if (add_word(s->ctx, &s->words, &s->words_cap, nw, 0, n)) return -1;
    const size_t steps = t->n_split + (t->byte_level_re ? 1 : 0);
    static const tok_split_step gpt2 = {.behavior = TOK_SPLIT_ISOLATED};
    for (size_t k = 0; k < steps; k++) {
        const tok_split_step *st = k < t->n_split ? &t->split[k] : &gpt2;
        const tok_regex *re = k < t->n_split ? st->re : t->byte_level_re;
        size_t n2 = 0;
        for (size_t i = 0; i < *nw; i++) {
            const int rc = split_word(s, st, re, st->behavior, s->words[2 * i], s->words[2 * i + 1], &n2);
            if (rc < 0) return rc == TOK_RE_LIMIT ? -3 : -1;
        }
        size_t *w = s->words, c = s->words_cap;
        s->words = s->words2;
        s->words_cap = s->words2_cap;
        s->words2 = w;
        s->words2_cap = c;
        *nw = n2;
    }
    return 0;
}

/* A word in GPT-2's byte characters (tokenizer_unicode.c), in s->mapped;
 * with add_prefix_space, a word that does not start with a space gets one
 * (per word, as HF tokenizers and transformers.js do). */
static int map_bytes(const tokenizer *t, scratch *s, const unsigned char *w, size_t n, size_t *out_n)
{
    if (grow(s->ctx, (void **)&s->mapped, &s->mapped_cap, 2 * n + 2, 1)) return -1;
    size_t o = 0;
    if (t->byte_level_prefix_space && (n == 0 || w[0] != ' ')) o += tok_byte_char(' ', s->mapped);
    for (size_t i = 0; i < n; i++) o += tok_byte_char(w[i], s->mapped + o);
    *out_n = o;
    return 0;
}

/* ---------------------------------------------------------------- driver */

/* Text known to be UTF-8 when the pipeline needs it. */
static int encode_run(const tokenizer *t, scratch *s, const char *text, size_t len, tok_ids *out)
{
    size_t n, nw;
    if (len == 0) return 0;
    if (normalize(t, s, text, len, &n)) return -1;
    int rc = split_words(t, s, n, &nw);
    for (size_t k = 0; rc == 0 && k < nw; k++) {
        const unsigned char *w = (const unsigned char *)s->norm + s->words[2 * k];
        size_t wn = s->words[2 * k + 1];
        if (t->byte_level) {
            if (map_bytes(t, s, w, wn, &wn)) return -1;
            w = (const unsigned char *)s->mapped;
        }
        rc = bpe_word(t, s, w, wn, out);
    }
    return rc;
}

/* A byte that starts no well-formed UTF-8 sequence, in a pipeline that
 * reads characters. */
static int bad_byte(const tokenizer *t, unsigned char b, tok_ids *out)
{
    if (t->byte_level) return tok_ids_push(out, t->byte_char_id[b]);
    if (t->byte_fallback && t->byte_id[b] >= 0) return tok_ids_push(out, t->byte_id[b]);
    if (t->unk_id < 0) return -2;
    return tok_ids_push(out, t->unk_id);
}

static int encode_section(const tokenizer *t, scratch *s, const char *text, size_t len, tok_ids *out)
{
    if (!t->needs_utf8) return encode_run(t, s, text, len, out);
    const unsigned char *u = (const unsigned char *)text;
    size_t start = 0, i = 0;
    while (i < len) {
        const size_t k = tok_utf8_len(u + i, len - i);
        if (k) {
            i += k;
            continue;
        }
        int rc = encode_run(t, s, text + start, i - start, out);
        if (rc == 0) rc = bad_byte(t, u[i], out);
        if (rc) return rc;
        start = ++i;
    }
    return encode_run(t, s, text + start, len - start, out);
}

/* Longest added token starting at text[i], or -1 (length in *mlen). */
static int32_t match_added(const tokenizer *t, const unsigned char *text, size_t len, size_t i, size_t *mlen)
{
    int32_t best = -1;
    uint32_t node = 0;
    for (size_t j = i; j < len; j++) {
        const tok_map64_slot *e = tok_map64_get(&t->trie, ((uint64_t)node << 8) | text[j]);
        if (!e) break;
        node = e->a;
        if (t->node_tok[node] >= 0) { best = t->node_tok[node]; *mlen = j + 1 - i; }
    }
    return best;
}

static bool is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Cuts added tokens out of the raw text (leftmost-longest, like
 * transformers.js' DictionarySplitter and HF's aho-corasick), honouring
 * lstrip/rstrip by trimming ASCII whitespace next to such tokens. */
int tok_encode_text(const tokenizer *t, const char *text, size_t len, tok_ids *out)
{
    const unsigned char *u = (const unsigned char *)text;
    scratch s = {.ctx = t->ctx};
    size_t start = 0, i = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        size_t ml = 0;
        int32_t id = t->can_start[u[i]] ? match_added(t, u, len, i, &ml) : -1;
        if (id < 0) { i++; continue; }
        size_t end = i;
        if (t->flags[id] & TOKF_LSTRIP)
            while (end > start && is_space(u[end - 1])) end--;
        rc = encode_section(t, &s, text + start, end - start, out);
        if (rc == 0) rc = tok_ids_push(out, id);
        i += ml;
        if (t->flags[id] & TOKF_RSTRIP)
            while (i < len && is_space(u[i])) i++;
        start = i;
    }
    if (rc == 0) rc = encode_section(t, &s, text + start, len - start, out);
    model_free(s.ctx, s.norm);
    model_free(s.ctx, s.words);
    model_free(s.ctx, s.words2);
    model_free(s.ctx, s.mapped);
    model_free(s.ctx, s.syms);
    model_free(s.ctx, s.heap);
    tok_matcher_free(s.matcher);
    return rc;
}
