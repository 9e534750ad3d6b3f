/*
 * tokenizer.c — loading a tokenizer.json, decoding, the public API.
 * Sections: errors and small helpers, reading the file, the vocab and
 * merges, added tokens, normalizer / pre-tokenizer / decoder, load and
 * free, encode (the work is in tokenizer_bpe.c), decode and pieces, the
 * chat template.
 *
 * The JSON is parsed with cJSON, then copied into flat arrays and hash maps
 * (tokenizer_internal.h) and the cJSON tree is freed: a loaded tokenizer
 * holds no JSON, and is immutable, so encode/decode are thread-safe.
 */
#include "tokenizer_internal.h"
#include "errbuf.h"
#include "json_text.h"
#include "model_limits.h"

#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------ errors and small helpers */

typedef struct {
    const char *path;
    char *err;
    size_t err_size;
} load_ctx;

/* "<file>: message" through the one formatter of models/ (errbuf.h). */
static int fail(const load_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const load_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errbuf_vfail(c->err, c->err_size, -1, c->path, fmt, ap);
    va_end(ap);
    return -1;
}

static char *dup_str(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* A {"String": "..."} pattern; NULL if the pattern is a Regex or absent. */
static const char *string_pattern(const cJSON *o)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(p, "String");
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

static const char *type_of(const cJSON *o)
{
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : "(none)";
}

/* ------------------------------------------------------ the vocab and merges */

/* An integer id in [0, limit), checked before any conversion. */
static bool get_id(const cJSON *j, uint32_t limit, uint32_t *out)
{
    const double v = cJSON_IsNumber(j) ? j->valuedouble : -1.0;
    if (!(v >= 0 && v < (double)limit) || v != (double)(uint32_t)v)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* The text of token `id` as messages quote it. */
#define TOK_TEXT(t, id) (int)((t)->len[id] < 40 ? (t)->len[id] : 40), (t)->pool + (t)->off[id]

/* Sizes the id space, copies every token's text into one pool and builds
 * the text -> id map. Added tokens may lie outside the model vocab
 * (Gemma 3's <image_soft_token> is id 262144), but ids are dense: each is
 * below the number of entries plus added tokens, so the per-id tables are
 * linear in the file (one id of 2^30 - 1 used to cost 6.5 s and 1 GB). */
static int load_vocab(tokenizer *t, const load_ctx *c, const cJSON *vocab, const cJSON *added)
{
    size_t n_vocab = 0, n_added = 0, pool = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) n_vocab++;
    cJSON_ArrayForEach(e, added) n_added++;
    if (n_vocab == 0) return fail(c, "model.vocab is empty");
    if (n_vocab > MODEL_MAX_VOCAB)
        return fail(c, "model.vocab has %zu entries, more than %d (MODEL_MAX_VOCAB)", n_vocab, MODEL_MAX_VOCAB);
    const uint32_t limit = n_vocab + n_added < MODEL_MAX_VOCAB ? (uint32_t)(n_vocab + n_added) : MODEL_MAX_VOCAB;
    const char *why = n_vocab + n_added < MODEL_MAX_VOCAB ? "the number of vocab entries plus added tokens"
                                                           : "MODEL_MAX_VOCAB";
    char b[96];
    uint32_t max_id = 0, id = 0;
    cJSON_ArrayForEach(e, vocab) {
        if (!get_id(e, limit, &id))
            return fail(c, "model.vocab entry \"%.40s\" has id %s; an id must be an integer in [0, %u) (%s)",
                        e->string, json_text_show(e, b, sizeof b), limit, why);
        size_t n = strlen(e->string);
        if (n > MODEL_MAX_TOKEN_BYTES)
            return fail(c, "model.vocab entry %u is %zu bytes long, more than %u (MODEL_MAX_TOKEN_BYTES)", id, n,
                        MODEL_MAX_TOKEN_BYTES);
        if (id > max_id) max_id = id;
        pool += n;
    }
    size_t k = 0;
    cJSON_ArrayForEach(e, added) {
        const cJSON *ij = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!get_id(ij, limit, &id))
            return fail(c, "added_tokens[%zu] has \"id\" %s; an id must be an integer in [0, %u) (%s)", k,
                        json_text_show(ij, b, sizeof b), limit, why);
        if (!cJSON_IsString(ct) || !ct->valuestring[0])
            return fail(c, "added_tokens[%zu] (id %u) has \"content\" %s; it must be a non-empty string", k, id,
                        json_text_show(ct, b, sizeof b));
        size_t n = strlen(ct->valuestring);
        if (n > MODEL_MAX_ADDED_TOKEN_BYTES)
            return fail(c, "added_tokens[%zu] (id %u) is %zu bytes long, more than %d (MODEL_MAX_ADDED_TOKEN_BYTES)",
                        k, id, n, MODEL_MAX_ADDED_TOKEN_BYTES);
        if (id > max_id) max_id = id;
        pool += n;
        k++;
    }
    t->n_ids = max_id + 1;
    t->pool = malloc(pool + 1);
    t->off = calloc(t->n_ids, sizeof *t->off);
    t->len = calloc(t->n_ids, sizeof *t->len);
    t->flags = calloc(t->n_ids, 1);
    if (!t->pool || !t->off || !t->len || !t->flags || tok_strmap_init(&t->vocab, n_vocab + n_added, tok_map_seed(t)))
        return fail(c, "out of memory");
    size_t at = 0;
    cJSON_ArrayForEach(e, vocab) {
        get_id(e, limit, &id);
        size_t n = strlen(e->string);
        if (t->flags[id] & TOKF_PRESENT)
            return fail(c, "model.vocab id %u is used twice (\"%.*s\" and \"%.40s\")", id, TOK_TEXT(t, id), e->string);
        memcpy(t->pool + at, e->string, n);
        t->off[id] = (uint32_t)at;
        t->len[id] = (uint32_t)n;
        t->flags[id] = TOKF_PRESENT;
        at += n;
        tok_strmap_put(t, &t->vocab, id);
    }
    cJSON_ArrayForEach(e, added) {
        get_id(cJSON_GetObjectItemCaseSensitive(e, "id"), limit, &id);
        const char *s = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
        size_t n = strlen(s);
        if (t->flags[id] & TOKF_ADDED)
            return fail(c, "added_tokens: id %u appears twice (\"%.*s\" and \"%.40s\")", id, TOK_TEXT(t, id), s);
        memcpy(t->pool + at, s, n);
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
    return 0;
}

/* Merges as "a b" strings (tokenizers < 0.20) or ["a", "b"] pairs. The
 * map holds (left id, right id) -> (rank, merged id). */
static int load_merges(tokenizer *t, const load_ctx *c, const cJSON *merges)
{
    size_t n = (size_t)cJSON_GetArraySize(merges), rank = 0, cat_cap = 256;
    char *cat = malloc(cat_cap);
    if (!cat || tok_map64_init(&t->merges, n, tok_map_seed(t))) {
        free(cat);
        return fail(c, "out of memory");
    }
    const cJSON *e;
    int rc = 0;
    cJSON_ArrayForEach(e, merges) {
        const char *a, *b;
        size_t al, bl;
        if (cJSON_IsString(e)) {
            const char *sp = strchr(e->valuestring, ' ');
            if (!sp) { rc = fail(c, "merge %zu \"%s\" is not \"left right\"", rank, e->valuestring); break; }
            a = e->valuestring;
            al = (size_t)(sp - a);
            b = sp + 1;
            bl = strlen(b);
        } else if (cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            a = cJSON_GetArrayItem(e, 0)->valuestring;
            b = cJSON_GetArrayItem(e, 1)->valuestring;
            al = strlen(a);
            bl = strlen(b);
        } else {
            rc = fail(c, "merge %zu is neither \"a b\" nor [\"a\", \"b\"]", rank);
            break;
        }
        if (al + bl > cat_cap) {
            cat_cap = 2 * (al + bl);
            char *p = realloc(cat, cat_cap);
            if (!p) { rc = fail(c, "out of memory"); break; }
            cat = p;
        }
        memcpy(cat, a, al);
        memcpy(cat + al, b, bl);
        int32_t ia = tok_lookup(t, a, al), ib = tok_lookup(t, b, bl), im = tok_lookup(t, cat, al + bl);
        if (ia < 0 || ib < 0 || im < 0) {
            rc = fail(c, "merge %zu (\"%.*s\" \"%.*s\"): %s not in the vocab", rank, (int)al, a, (int)bl, b,
                      im < 0 && ia >= 0 && ib >= 0 ? "the merged token is" : "a part is");
            break;
        }
        tok_map64_put(&t->merges, ((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib, (uint32_t)rank, (uint32_t)im);
        rank++;
    }
    free(cat);
    return rc;
}

/* --------------------------------------------------------------- added tokens */

/* A byte trie of the added tokens' text; edges live in a hash map keyed by
 * (node << 8) | byte so that nodes with many children (all the "<..."
 * tokens) stay O(1) per byte. */
static int build_trie(tokenizer *t, const load_ctx *c)
{
    size_t total = 1; /* nodes: the root plus at most one per byte */
    for (uint32_t id = 0; id < t->n_ids; id++)
        if (t->flags[id] & TOKF_ADDED) total += t->len[id];
    t->node_tok = malloc(total * sizeof *t->node_tok);
    if (!t->node_tok || tok_map64_init(&t->trie, total, tok_map_seed(t))) return fail(c, "out of memory");
    t->node_tok[0] = -1;
    t->n_nodes = 1;
    for (uint32_t id = 0; id < t->n_ids; id++) {
        if (!(t->flags[id] & TOKF_ADDED)) continue;
        const unsigned char *s = (const unsigned char *)t->pool + t->off[id];
        uint32_t node = 0;
        t->can_start[s[0]] = true;
        for (uint32_t k = 0; k < t->len[id]; k++) {
            uint64_t key = ((uint64_t)node << 8) | s[k];
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

/* ------------------------------------- normalizer / pre-tokenizer / decoder */

static int add_norm(tokenizer *t, const load_ctx *c, const cJSON *n)
{
    const char *ty = type_of(n);
    if (t->n_norm == MODEL_MAX_TOKENIZER_STEPS)
        return fail(c, "normalizer: more than %d steps (MODEL_MAX_TOKENIZER_STEPS)", MODEL_MAX_TOKENIZER_STEPS);
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(n, "normalizers"))
            if (add_norm(t, c, e)) return -1;
        return 0;
    }
    tok_norm_step st = {0};
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(n, "content");
    const char *pat = string_pattern(n);
    if (strcmp(ty, "Replace") == 0 && pat && *pat && cJSON_IsString(content)) {
        st.kind = TOK_NORM_REPLACE;
        st.pattern = dup_str(pat, st.plen = strlen(pat));
    } else if (strcmp(ty, "Prepend") == 0 && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(n, "prepend"))) {
        st.kind = TOK_NORM_PREPEND;
        content = cJSON_GetObjectItemCaseSensitive(n, "prepend");
    } else {
        return fail(c, "unsupported normalizer \"%s\" (supported: Replace with a String pattern, Prepend, "
                       "Sequence)", ty);
    }
    st.content = dup_str(content->valuestring, st.clen = strlen(content->valuestring));
    tok_norm_step *v = realloc(t->norm, (t->n_norm + 1) * sizeof *v);
    if (!v || !st.content || (st.kind == TOK_NORM_REPLACE && !st.pattern)) {
        free(st.pattern);
        free(st.content);
        if (v) t->norm = v;
        return fail(c, "out of memory");
    }
    t->norm = v;
    t->norm[t->n_norm++] = st;
    return 0;
}

static int load_pretok(tokenizer *t, const load_ctx *c, const cJSON *p)
{
    if (!p || cJSON_IsNull(p)) return 0;
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                        "Contiguous"};
    const char *ty = type_of(p), *pat = string_pattern(p);
    const cJSON *beh = cJSON_GetObjectItemCaseSensitive(p, "behavior");
    if (strcmp(ty, "Split") != 0 || !pat || !*pat || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "invert")) ||
        !cJSON_IsString(beh))
        return fail(c, "unsupported pre_tokenizer \"%s\" (supported: none, or Split on a String pattern)", ty);
    t->split_behavior = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(beh->valuestring, names[i]) == 0) t->split_behavior = i;
    if (t->split_behavior < 0) return fail(c, "unsupported Split behavior \"%s\"", beh->valuestring);
    t->split_pat = dup_str(pat, t->split_len = strlen(pat));
    t->has_split = true;
    return t->split_pat ? 0 : fail(c, "out of memory");
}

static int add_dec(tokenizer *t, const load_ctx *c, const cJSON *d, bool *fused)
{
    const char *ty = type_of(d);
    if (t->n_dec == MODEL_MAX_TOKENIZER_STEPS)
        return fail(c, "decoder: more than %d steps (MODEL_MAX_TOKENIZER_STEPS)", MODEL_MAX_TOKENIZER_STEPS);
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(d, "decoders"))
            if (add_dec(t, c, e, fused)) return -1;
        return 0;
    }
    tok_dec_step st = {0};
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(d, "content");
    const char *pat = string_pattern(d);
    if (strcmp(ty, "Replace") == 0 && pat && *pat && cJSON_IsString(content)) {
        st.kind = TOK_DEC_REPLACE;
        st.pattern = dup_str(pat, st.plen = strlen(pat));
        st.content = dup_str(content->valuestring, st.clen = strlen(content->valuestring));
        if (!st.pattern || !st.content) {
            free(st.pattern);
            free(st.content);
            return fail(c, "out of memory");
        }
    } else if (strcmp(ty, "ByteFallback") == 0) {
        st.kind = TOK_DEC_BYTEFALLBACK;
    } else if (strcmp(ty, "Fuse") == 0) {
        st.kind = TOK_DEC_FUSE;
        *fused = true;
    } else if (strcmp(ty, "Strip") == 0 && cJSON_IsString(content) && strlen(content->valuestring) == 1) {
        st.kind = TOK_DEC_STRIP;
        st.content = dup_str(content->valuestring, st.clen = 1);
        static const char *const keys[] = {"start", "stop"};
        for (int i = 0; i < 2; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, keys[i]);
            uint32_t x = 0;
            char b[96];
            if (v && !cJSON_IsNull(v) && !get_id(v, MODEL_MAX_TOKEN_BYTES + 1, &x)) {
                free(st.content);
                return fail(c, "decoder Strip \"%s\" is %s; it must be an integer in [0, %u] (MODEL_MAX_TOKEN_BYTES)",
                            keys[i], json_text_show(v, b, sizeof b), MODEL_MAX_TOKEN_BYTES);
            }
            *(i ? &st.stop : &st.start) = (int)x;
        }
        st.whole_text = *fused;
        if (!st.content) return fail(c, "out of memory");
    } else {
        return fail(c, "unsupported decoder \"%s\" (supported: Replace with a String pattern, ByteFallback, Fuse, "
                       "Strip, Sequence)", ty);
    }
    tok_dec_step *v = realloc(t->dec, (t->n_dec + 1) * sizeof *v);
    if (!v) {
        free(st.pattern);
        free(st.content);
        return fail(c, "out of memory");
    }
    t->dec = v;
    t->dec[t->n_dec++] = st;
    return 0;
}

static int add_norm_all(tokenizer *t, const load_ctx *c, const cJSON *root)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    return !n || cJSON_IsNull(n) ? 0 : add_norm(t, c, n);
}

/* How much a Replace step can lengthen a text at most: every byte is part
 * of a match, each plen bytes becoming clen. */
static double replace_growth(size_t plen, size_t clen)
{
    return clen > plen ? (double)clen / (double)plen : 1.0;
}

/* The normalizer runs on every text encoded, the decoder on every token:
 * a chain of Replace steps that each double their input (40 of them ran
 * for minutes) is refused at load, naming the step past the limit. */
static int check_growth(const tokenizer *t, const load_ctx *c)
{
    double g = 1.0;
    for (size_t k = 0; k < t->n_norm; k++) {
        const tok_norm_step *st = &t->norm[k];
        if (st->kind == TOK_NORM_REPLACE) g *= replace_growth(st->plen, st->clen);
        if (g > MODEL_MAX_TEXT_GROWTH)
            return fail(c, "normalizer step %zu (Replace \"%.20s\" with \"%.20s\"): the steps up to it can make a "
                           "text %.3g times longer, more than %d (MODEL_MAX_TEXT_GROWTH)",
                        k, st->pattern, st->content, g, MODEL_MAX_TEXT_GROWTH);
    }
    g = 1.0;
    for (size_t k = 0; k < t->n_dec; k++) {
        const tok_dec_step *st = &t->dec[k];
        if (st->kind == TOK_DEC_REPLACE) g *= replace_growth(st->plen, st->clen);
        if (g > MODEL_MAX_TEXT_GROWTH)
            return fail(c, "decoder step %zu (Replace \"%.20s\" with \"%.20s\"): the steps up to it can make a "
                           "token's text %.3g times longer, more than %d (MODEL_MAX_TEXT_GROWTH)",
                        k, st->pattern, st->content, g, MODEL_MAX_TEXT_GROWTH);
    }
    return 0;
}

/* ----------------------------------------------------------- load and free */

static int32_t find_bos(const tokenizer *t, const cJSON *root)
{
    /* The post-processor's template names the token encode() prepends. */
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(pp, "single"), 0);
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(first, "SpecialToken"), "id");
    if (cJSON_IsString(sp) && tokenizer_token_id(t, sp->valuestring) >= 0)
        return tokenizer_token_id(t, sp->valuestring);
    int32_t id = tokenizer_token_id(t, "<bos>");
    return id >= 0 ? id : tokenizer_token_id(t, "<s>");
}

static int load_model(tokenizer *t, const load_ctx *c, const cJSON *root)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return fail(c, "no \"model\" object");
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (cJSON_IsString(ty) && strcmp(ty->valuestring, "BPE") != 0)
        return fail(c, "unsupported model type \"%s\" (only BPE is supported)", ty->valuestring);
    if (!cJSON_IsObject(vocab)) return fail(c, "model.vocab is missing or not an object");
    if (!cJSON_IsArray(merges)) return fail(c, "model.merges is missing or not an array");
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble != 0)
        return fail(c, "BPE dropout is not supported (encoding must be deterministic)");
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (cJSON_IsString(a) && a->valuestring[0]) return fail(c, "BPE %s is not supported", affixes[i]);
    }
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added)) return fail(c, "added_tokens is not an array");
    if (load_vocab(t, c, vocab, cJSON_IsArray(added) ? added : NULL) || load_merges(t, c, merges)) return -1;

    t->byte_fallback = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback"));
    t->fuse_unk = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "fuse_unk"));
    t->ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    t->unk_id = cJSON_IsString(unk) ? tok_lookup(t, unk->valuestring, strlen(unk->valuestring)) : -1;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_id[b] = tok_lookup(t, name, 6);
        if (t->byte_fallback && t->byte_id[b] < 0) return fail(c, "byte_fallback is set but %s is not in the vocab", name);
        if (b < 128) t->ascii_id[b] = tok_lookup(t, (const char[]){(char)b}, 1);
    }
    t->bos = find_bos(t, root);
    t->eos = tokenizer_token_id(t, "<eos>");
    if (t->eos < 0) t->eos = tokenizer_token_id(t, "</s>");
    return 0;
}

static int piece_into(const tokenizer *t, int32_t id, bool first, char **buf, size_t *cap, size_t *len);

/* Builds a tokenizer from text[0, len) (malloc'ed, NUL-terminated, freed
 * here as soon as cJSON has copied what it needs); c->path names it. */
static int load_text(const load_ctx *c, char *text, size_t len, tokenizer **out)
{
    tokenizer *t = calloc(1, sizeof *t);
    cJSON *root = NULL;
    int rc = -1;
    if (!t || !(t->path = strdup(c->path))) {
        fail(c, "out of memory");
        goto done;
    }
    plinth_status st;
    root = json_text_parse(text, len, c->path, &st, c->err, c->err_size);
    free(text); /* peak memory: the tree, not the tree and the text */
    text = NULL;
    if (!root) goto done;
    if (!cJSON_IsObject(root)) {
        fail(c, "not a tokenizer.json (the top level is not an object)");
        goto done;
    }
    if (load_model(t, c, root) || add_norm_all(t, c, root) ||
        load_pretok(t, c, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer")) || build_trie(t, c))
        goto done;
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    bool fused = false;
    if ((dec && !cJSON_IsNull(dec) && add_dec(t, c, dec, &fused)) || check_growth(t, c)) goto done;

    /* The longest piece, so streaming callers can size one buffer. */
    char *pb = NULL;
    size_t pcap = 0, plen;
    for (uint32_t id = 0; id < t->n_ids; id++) {
        if (!(t->flags[id] & TOKF_PRESENT)) continue;
        plen = 0;
        if (piece_into(t, (int32_t)id, false, &pb, &pcap, &plen)) {
            free(pb);
            fail(c, "out of memory");
            goto done;
        }
        if (plen > t->max_piece) t->max_piece = (uint32_t)plen;
    }
    free(pb);
    rc = 0;
done:
    free(text);
    cJSON_Delete(root);
    if (rc == 0) *out = t;
    else tokenizer_free(t);
    return rc;
}

int tokenizer_load(const char *path, tokenizer **out, char *err, size_t err_size)
{
    *out = NULL;
    load_ctx c = {path, err, err_size};
    char *file = NULL;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t n = strlen(path);
        file = malloc(n + sizeof "/tokenizer.json");
        if (!file) return fail(&c, "out of memory");
        memcpy(file, path, n);
        memcpy(file + n, "/tokenizer.json", sizeof "/tokenizer.json");
        c.path = file;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = -1;
    if (json_text_read(c.path, MODEL_MAX_TOKENIZER_BYTES, "MODEL_MAX_TOKENIZER_BYTES", &text, &len, err,
                       err_size) == PLINTH_OK)
        rc = load_text(&c, text, len, out);
    free(file);
    return rc;
}

int tokenizer_load_from_memory(const char *text, size_t len, const char *name, tokenizer **out, char *err,
                               size_t err_size)
{
    *out = NULL;
    load_ctx c = {name, err, err_size};
    if (len > MODEL_MAX_TOKENIZER_BYTES)
        return fail(&c, "%zu bytes, more than the %u bytes a tokenizer.json may have (MODEL_MAX_TOKENIZER_BYTES)",
                    len, MODEL_MAX_TOKENIZER_BYTES);
    char *copy = malloc(len + 1); /* cJSON may look one byte past the end */
    if (!copy) return fail(&c, "out of memory");
    if (len) memcpy(copy, text, len);
    copy[len] = 0;
    return load_text(&c, copy, len, out);
}

void tokenizer_free(tokenizer *t)
{
    if (!t) return;
    free(t->path);
    free(t->pool);
    free(t->off);
    free(t->len);
    free(t->flags);
    tok_strmap_free(&t->vocab);
    tok_map64_free(&t->merges);
    tok_map64_free(&t->trie);
    free(t->node_tok);
    for (size_t i = 0; i < t->n_norm; i++) {
        free(t->norm[i].pattern);
        free(t->norm[i].content);
    }
    free(t->norm);
    free(t->split_pat);
    for (size_t i = 0; i < t->n_dec; i++) {
        free(t->dec[i].pattern);
        free(t->dec[i].content);
    }
    free(t->dec);
    free(t);
}

uint32_t tokenizer_vocab_size(const tokenizer *t) { return t->n_ids; }
uint32_t tokenizer_max_piece_len(const tokenizer *t) { return t->max_piece; }
int32_t tokenizer_bos(const tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const tokenizer *t) { return t->eos; }

int32_t tokenizer_token_id(const tokenizer *t, const char *token)
{
    return tok_lookup(t, token, strlen(token));
}

/* ------------------------------------------------------------------ encode */

int tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_bos,
                     int32_t **out_ids, size_t *out_n, char *err, size_t err_size)
{
    load_ctx c = {t->path, err, err_size};
    tok_ids ids = {0};
    *out_ids = NULL;
    *out_n = 0;
    if (len > MODEL_MAX_ENCODE_BYTES)
        return fail(&c, "encode: a text of %zu bytes, more than %u (MODEL_MAX_ENCODE_BYTES)", len,
                    MODEL_MAX_ENCODE_BYTES);
    if (add_bos) {
        if (t->bos < 0) return fail(&c, "add_bos, but the tokenizer has no <bos> token");
        if (tok_ids_push(&ids, t->bos)) return fail(&c, "out of memory");
    }
    int rc = tok_encode_text(t, text, len, &ids);
    if (rc == 0 && !ids.v && !(ids.v = malloc(sizeof *ids.v))) rc = -1; /* never NULL on success */
    if (rc) {
        free(ids.v);
        return rc == -2 ? fail(&c, "a character is not in the vocab and there is no unk token")
                        : fail(&c, "out of memory encoding %zu bytes", len);
    }
    *out_ids = ids.v;
    *out_n = ids.n;
    return 0;
}

/* --------------------------------------------------------- decode and pieces */

static int put(char **buf, size_t *cap, size_t *len, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 128;
        while (c < *len + n + 1) c *= 2;
        char *p = realloc(*buf, c);
        if (!p) return -1;
        *buf = p;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

/* Appends the bytes token `id` contributes to the decoded text, running
 * the decoder's steps in order on the token alone. ByteFallback yields the
 * raw byte (HF would turn an invalid UTF-8 run into U+FFFD; plinth keeps
 * the bytes so that decode(encode(b)) == b for any input). A whole-text
 * Strip (after Fuse) strips the start of the first piece only; its `stop`
 * is applied by tokenizer_decode. */
static int piece_into(const tokenizer *t, int32_t id, bool first, char **buf, size_t *cap, size_t *len)
{
    size_t base = *len;
    if (put(buf, cap, len, t->pool + t->off[id], t->len[id])) return -1;
    for (size_t k = 0; k < t->n_dec; k++) {
        const tok_dec_step *st = &t->dec[k];
        char *s = *buf + base;
        size_t n = *len - base;
        if (st->kind == TOK_DEC_REPLACE) {
            /* memmem (two-way search): linear in the piece and the pattern,
             * where a byte-by-byte memcmp is their product. */
            if (!memmem(s, n, st->pattern, st->plen)) continue;
            char *tmp = dup_str(s, n);
            if (!tmp) return -1;
            *len = base;
            int rc = 0;
            const char *p = tmp, *e = tmp + n, *h;
            for (; rc == 0 && (h = memmem(p, (size_t)(e - p), st->pattern, st->plen)); p = h + st->plen)
                rc = put(buf, cap, len, p, (size_t)(h - p)) || put(buf, cap, len, st->content, st->clen);
            if (rc == 0) rc = put(buf, cap, len, p, (size_t)(e - p));
            free(tmp);
            if (rc) return -1;
        } else if (st->kind == TOK_DEC_BYTEFALLBACK) {
            if (n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && hexval(s[3]) >= 0 && hexval(s[4]) >= 0) {
                s[0] = (char)(hexval(s[3]) * 16 + hexval(s[4]));
                *len = base + 1;
            }
        } else if (st->kind == TOK_DEC_STRIP) {
            size_t a = 0, b = n;
            if (!st->whole_text || first)
                while (a < n && a < (size_t)st->start && s[a] == st->content[0]) a++;
            if (!st->whole_text)
                for (int i = 0; i < st->stop && b > a && s[b - 1] == st->content[0]; i++) b--;
            memmove(s, s + a, b - a);
            *len = base + (b - a);
        }
    }
    if (*buf) (*buf)[*len] = 0;
    return 0;
}

int tokenizer_piece(const tokenizer *t, int32_t id, bool first, char *buf, size_t cap)
{
    if (id < 0 || (uint32_t)id >= t->n_ids || !(t->flags[id] & TOKF_PRESENT)) return -1;
    char *p = NULL;
    size_t pcap = 0, n = 0;
    if (piece_into(t, id, first, &p, &pcap, &n)) {
        free(p);
        return -1;
    }
    if (n > cap) n = cap;
    if (n) memcpy(buf, p, n);
    free(p);
    return (int)n;
}

int tokenizer_decode(const tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                     char **out_text, size_t *out_len, char *err, size_t err_size)
{
    load_ctx c = {t->path, err, err_size};
    char *buf = NULL;
    size_t cap = 0, len = 0;
    *out_text = NULL;
    *out_len = 0;
    if (put(&buf, &cap, &len, "", 0)) return fail(&c, "out of memory");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || (uint32_t)id >= t->n_ids || !(t->flags[id] & TOKF_PRESENT)) {
            free(buf);
            return fail(&c, "decode: id %d at position %zu is not a token (vocab size %u)", id, i, t->n_ids);
        }
        if (skip_special && (t->flags[id] & TOKF_SPECIAL)) continue;
        if (piece_into(t, id, first, &buf, &cap, &len)) {
            free(buf);
            return fail(&c, "out of memory");
        }
        first = false;
    }
    for (size_t k = 0; k < t->n_dec; k++) {
        const tok_dec_step *st = &t->dec[k];
        if (st->kind == TOK_DEC_STRIP && st->whole_text)
            for (int i = 0; i < st->stop && len > 0 && buf[len - 1] == st->content[0]; i++) buf[--len] = 0;
    }
    *out_text = buf;
    *out_len = len;
    return 0;
}

/* ----------------------------------------------------------- chat template */

char *tokenizer_chat_prompt(const char *user_text)
{
    /* The checkpoints' Jinja template writes `message['content'] | trim`,
     * so surrounding whitespace of the user's text is dropped here too. */
    static const char pre[] = "<start_of_turn>user\n", post[] = "<end_of_turn>\n<start_of_turn>model\n";
    size_t a = 0, b = strlen(user_text);
    while (a < b && (user_text[a] == ' ' || (user_text[a] >= '\t' && user_text[a] <= '\r'))) a++;
    while (b > a && (user_text[b - 1] == ' ' || (user_text[b - 1] >= '\t' && user_text[b - 1] <= '\r'))) b--;
    char *s = malloc(sizeof pre - 1 + (b - a) + sizeof post);
    if (!s) return NULL;
    memcpy(s, pre, sizeof pre - 1);
    memcpy(s + sizeof pre - 1, user_text + a, b - a);
    memcpy(s + sizeof pre - 1 + (b - a), post, sizeof post);
    return s;
}
