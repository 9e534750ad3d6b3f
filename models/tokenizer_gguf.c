/*
 * tokenizer_gguf.c — the tokenizer of a GGUF file (tokenizer.ggml.*, as
 * llama.cpp's converter writes it), and a loaded tokenizer written into a
 * GGUF file. Sections: what the kinds mean; reading (vocab, merges,
 * pipeline, special ids); writing.
 *
 * Two of llama.cpp's tokenizer models, each mapped onto the pipeline the
 * tokenizer.json path builds, so encode and decode are the same code:
 *
 *   "llama"  SentencePiece-style BPE with scores (Gemma 3's GGUFs): the
 *            pair whose concatenation is the token of the highest score
 *            merges first, leftmost on ties; spaces become U+2581 (with
 *            one in front when add_space_prefix); characters with no token
 *            fall back to <0xXX> bytes. As merges: every split of every
 *            NORMAL token into two tokens, ranked by the token's score
 *            (equal scores, equal rank, so the leftmost pair wins as in
 *            llama.cpp). Written from a tokenizer.json with merges, a token's
 *            score is minus the rank of the first merge that makes it.
 *   "gpt2"   byte-level BPE with merges ("a b", ranked by order) and
 *            tokenizer.ggml.pre naming the split regex: "llama-bpe" (Llama
 *            3), "qwen2" (Qwen 2.5 / 3: with tokenizer.json's NFC), "gpt-2".
 *
 * Token types (llama.cpp's): 1 normal, 2 unknown, 3 control (a special
 * added token), 4 user-defined (an added token that is not special; the
 * converter writes SentencePiece's U+2581 in them as spaces), 5 unused,
 * 6 byte.
 */
#include "tokenizer_gguf.h"
#include "tokenizer_internal.h"
#include "model_limits.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------ what the kinds mean */

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

static const char llama3_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char qwen2_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* tokenizer.ggml.pre -> the Split regex (NULL: GPT-2's own, ByteLevel's). */
static const struct {
    const char *pre;
    const char *regex;
    bool nfc, ignore_merges, add_bos;
} pres[] = {
    {"llama-bpe", llama3_regex, false, true, true},
    {"llama3", llama3_regex, false, true, true},
    {"llama-v3", llama3_regex, false, true, true},
    {"qwen2", qwen2_regex, true, false, false},
    {"gpt-2", NULL, false, false, false},
};
#define N_PRES (sizeof pres / sizeof pres[0])

static const char space_mark[] = "\xe2\x96\x81"; /* U+2581, SentencePiece's space */

/* ------------------------------------------------------------------ reading */

typedef struct reader {
    const plinth_state_dict *sd;
    tok_load_ctx c;
    uint64_t n;        /* tokens */
    bool has_types, has_scores;
} reader;

static int32_t token_type(const reader *r, uint64_t i)
{
    int64_t v = TT_NORMAL;
    if (r->has_types)
        plinth_state_dict_meta_array_int(r->sd, "tokenizer.ggml.token_type", i, &v);
    return (int32_t)v;
}

/* An array key of n elements of element type `want` (or absent: 0). */
static int array_of(const reader *r, const char *key, int32_t want, uint64_t n, bool *present)
{
    int32_t et;
    uint64_t len;
    *present = false;
    if (plinth_state_dict_meta_find(r->sd, key) < 0)
        return 0;
    if (plinth_state_dict_meta_type(r->sd, key) != PLINTH_META_ARRAY ||
        plinth_state_dict_meta_array(r->sd, key, &et, &len) != PLINTH_OK ||
        (want == PLINTH_META_F32 ? et != PLINTH_META_F32 && et != PLINTH_META_F64
                                 : (want == PLINTH_META_I32 ? et == PLINTH_META_STRING ||
                                                                  et == PLINTH_META_F32 ||
                                                                  et == PLINTH_META_F64
                                                            : et != want)) ||
        (n && len != n))
        return tok_fail(&r->c, "metadata key '%s' must be an array of %s%s", key,
                        plinth_meta_type_name(want), n ? " with one entry per token" : "");
    *present = true;
    return 0;
}

/* The token list into the pool, the flags and the text -> id map. Added
 * tokens (control, user-defined, unknown) go in last, so their text wins. */
static int read_vocab(tokenizer *t, const reader *r)
{
    const plinth_state_dict *sd = r->sd;
    size_t pool = 0;
    const char *s;
    uint64_t len;
    for (uint64_t i = 0; i < r->n; i++) {
        if (plinth_state_dict_meta_array_string(sd, "tokenizer.ggml.tokens", i, &s, &len) !=
            PLINTH_OK)
            return tok_fail(&r->c, "tokenizer.ggml.tokens[%llu] is not a string",
                            (unsigned long long)i);
        len = strnlen(s, len); /* as the tokenizer.json path: a NUL ends a token */
        if (len > MODEL_MAX_TOKEN_BYTES)
            return tok_fail(&r->c, "tokenizer.ggml.tokens[%llu] is %llu bytes long, more than %u "
                            "(MODEL_MAX_TOKEN_BYTES)", (unsigned long long)i,
                            (unsigned long long)len, MODEL_MAX_TOKEN_BYTES);
        pool += len;
    }
    t->n_ids = (uint32_t)r->n;
    t->pool = model_malloc(t->ctx, pool + 1);
    t->off = model_calloc(t->ctx, t->n_ids, sizeof *t->off);
    t->len = model_calloc(t->ctx, t->n_ids, sizeof *t->len);
    t->flags = model_calloc(t->ctx, t->n_ids, 1);
    if (!t->pool || !t->off || !t->len || !t->flags ||
        tok_strmap_init(t->ctx, &t->vocab, t->n_ids, tok_map_seed(t)))
        return tok_fail(&r->c, "out of memory");
    size_t at = 0;
    t->unk_id = -1;
    for (int pass = 0; pass < 2; pass++)
        for (uint64_t i = 0; i < r->n; i++) {
            const int32_t ty = token_type(r, i);
            plinth_state_dict_meta_array_string(sd, "tokenizer.ggml.tokens", i, &s, &len);
            len = strnlen(s, len);
            const bool added = (ty == TT_CONTROL || ty == TT_USER || ty == TT_UNKNOWN) &&
                               len > 0 && len <= MODEL_MAX_ADDED_TOKEN_BYTES;
            if (added != (pass == 1))
                continue;
            memcpy(t->pool + at, s, len);
            t->off[i] = (uint32_t)at;
            t->len[i] = (uint32_t)len;
            t->flags[i] = TOKF_PRESENT | (added ? TOKF_ADDED : 0) |
                          (added && ty != TT_USER ? TOKF_SPECIAL : 0);
            at += len;
            tok_strmap_put(t, &t->vocab, (uint32_t)i);
            if (ty == TT_UNKNOWN && t->unk_id < 0)
                t->unk_id = (int32_t)i;
        }
    return 0;
}

/* gpt2: "left right" strings, ranked by order. */
static int read_merges(tokenizer *t, const reader *r)
{
    bool present;
    if (array_of(r, "tokenizer.ggml.merges", PLINTH_META_STRING, 0, &present))
        return -1;
    if (!present)
        return tok_fail(&r->c, "tokenizer.ggml.model is \"gpt2\" but there is no "
                               "tokenizer.ggml.merges");
    uint64_t n = 0;
    plinth_state_dict_meta_array(r->sd, "tokenizer.ggml.merges", NULL, &n);
    tok_buf cat = {.ctx = t->ctx};
    if (tok_map64_init(t->ctx, &t->merges, n, tok_map_seed(t)))
        return tok_fail(&r->c, "out of memory");
    int rc = 0;
    for (uint64_t rank = 0; rank < n && rc == 0; rank++) {
        const char *s;
        uint64_t len;
        plinth_state_dict_meta_array_string(r->sd, "tokenizer.ggml.merges", rank, &s, &len);
        len = strnlen(s, len);
        /* llama.cpp splits at the first space after the first byte. */
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp || len > 2 * (uint64_t)MODEL_MAX_TOKEN_BYTES) {
            rc = tok_fail(&r->c, "tokenizer.ggml.merges[%llu] is not \"left right\"",
                          (unsigned long long)rank);
            break;
        }
        const size_t al = (size_t)(sp - s), bl = (size_t)len - al - 1;
        if (tok_buf_reserve(&cat, al + bl)) {
            rc = tok_fail(&r->c, "out of memory");
            break;
        }
        memcpy(cat.p, s, al);
        memcpy(cat.p + al, sp + 1, bl);
        const int32_t ia = tok_lookup(t, s, al), ib = tok_lookup(t, sp + 1, bl),
                      im = tok_lookup(t, cat.p, al + bl);
        if (ia < 0 || ib < 0 || im < 0)
            rc = tok_fail(&r->c, "tokenizer.ggml.merges[%llu] (\"%.*s\" \"%.*s\"): %s not a "
                          "token", (unsigned long long)rank, (int)(al < 40 ? al : 40), s,
                          (int)(bl < 40 ? bl : 40), sp + 1, im < 0 && ia >= 0 && ib >= 0
                          ? "the merged text is" : "a part is");
        else
            tok_map64_put(&t->merges, ((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib,
                          (uint32_t)rank, (uint32_t)im);
    }
    tok_buf_free(&cat);
    return rc;
}

/* llama: merges from scores. */
typedef struct scored {
    float score;
    uint32_t id;
} scored;

static int by_score_desc(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    return x->score > y->score ? -1 : x->score < y->score ? 1 : (x->id > y->id) - (x->id < y->id);
}

static int merges_from_scores(tokenizer *t, const reader *r)
{
    scored *v = model_calloc(t->ctx, r->n, sizeof *v);
    if (!v)
        return tok_fail(&r->c, "out of memory");
    size_t n = 0, n_pairs = 0;
    for (uint64_t i = 0; i < r->n; i++) {
        double sc = 0;
        if (token_type(r, i) != TT_NORMAL || t->len[i] < 2)
            continue;
        if (r->has_scores)
            plinth_state_dict_meta_array_double(r->sd, "tokenizer.ggml.scores", i, &sc);
        if (sc != sc) { /* NaN ranks nowhere */
            model_free(t->ctx, v);
            return tok_fail(&r->c, "tokenizer.ggml.scores[%llu] is NaN", (unsigned long long)i);
        }
        v[n++] = (scored){(float)sc, (uint32_t)i};
        n_pairs += t->len[i] - 1;
    }
    qsort(v, n, sizeof *v, by_score_desc);
    if (tok_map64_init(t->ctx, &t->merges, n_pairs, tok_map_seed(t))) {
        model_free(t->ctx, v);
        return tok_fail(&r->c, "out of memory");
    }
    uint32_t rank = 0;
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && v[k].score != v[k - 1].score)
            rank++;
        const uint32_t id = v[k].id;
        const char *s = t->pool + t->off[id];
        const size_t len = t->len[id];
        for (size_t cut = 0; cut < len;) {
            const size_t cl = tok_utf8_len((const unsigned char *)s + cut, len - cut);
            cut += cl ? cl : 1;
            if (cut >= len)
                break;
            const int32_t a = tok_lookup(t, s, cut), b = tok_lookup(t, s + cut, len - cut);
            if (a < 0 || b < 0)
                continue;
            const uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
            if (!tok_map64_get(&t->merges, key)) /* a pair makes one token */
                tok_map64_put(&t->merges, key, rank, id);
        }
    }
    model_free(t->ctx, v);
    return 0;
}

/* Room for `more` steps after the n of one of the step arrays; false when
 * out of memory (the array is as it was). A step's strings are made after
 * its room, so a failure leaves nothing unowned. */
#define ROOM(arr, n, more)                                                              \
    ((grown_ = model_realloc(t->ctx, (arr), ((n) + (more)) * sizeof *(arr))) != NULL && \
     ((arr) = grown_, true))

/* A copy of s for a step, or NULL (the caller fails "out of memory"). */
#define DUP(s) model_strndup(t->ctx, (s), sizeof(s) - 1)

static int spm_steps(tokenizer *t, const tok_load_ctx *c, bool space_prefix)
{
    /* HF's Llama / Gemma pipeline: [Prepend U+2581], Replace ' ' -> U+2581;
     * decoder Replace U+2581 -> ' ', ByteFallback, Fuse, [Strip one ' ']. */
    void *grown_;
    if (!ROOM(t->norm, t->n_norm, 2) || !ROOM(t->dec, t->n_dec, 4))
        return tok_fail(c, "out of memory");
    /* Each step is counted before its strings are made: tokenizer_free
     * frees steps [0, n) of a tokenizer that fails, so nothing is left
     * unowned. */
    if (space_prefix) {
        tok_norm_step *st = &t->norm[t->n_norm++];
        *st = (tok_norm_step){.kind = TOK_NORM_PREPEND, .clen = 3};
        if (!(st->content = DUP(space_mark)))
            return tok_fail(c, "out of memory");
    }
    tok_norm_step *rep = &t->norm[t->n_norm++];
    *rep = (tok_norm_step){.kind = TOK_NORM_REPLACE, .plen = 1, .clen = 3};
    rep->pattern = DUP(" ");
    rep->content = DUP(space_mark);
    tok_dec_step *back = &t->dec[t->n_dec++];
    *back = (tok_dec_step){.kind = TOK_DEC_REPLACE, .plen = 3, .clen = 1};
    back->pattern = DUP(space_mark);
    back->content = DUP(" ");
    if (!rep->pattern || !rep->content || !back->pattern || !back->content)
        return tok_fail(c, "out of memory");
    t->dec[t->n_dec++] = (tok_dec_step){.kind = TOK_DEC_BYTEFALLBACK};
    t->dec[t->n_dec++] = (tok_dec_step){.kind = TOK_DEC_FUSE};
    if (space_prefix) {
        tok_dec_step *strip = &t->dec[t->n_dec++];
        *strip = (tok_dec_step){.kind = TOK_DEC_STRIP, .clen = 1, .start = 1, .whole_text = true};
        if (!(strip->content = DUP(" ")))
            return tok_fail(c, "out of memory");
    }
    t->byte_fallback = true;
    return 0;
}

static int gpt2_steps(tokenizer *t, const tok_load_ctx *c, const char *pre)
{
    size_t k = 0;
    while (k < N_PRES && strcmp(pres[k].pre, pre) != 0)
        k++;
    if (k == N_PRES)
        return tok_fail(c, "tokenizer.ggml.pre is \"%.40s\"; plinth knows llama-bpe (llama3, "
                           "llama-v3), qwen2 and gpt-2", pre);
    char why[256];
    void *grown_;
    if (!ROOM(t->norm, t->n_norm, 1) || !ROOM(t->split, t->n_split, 1) || !ROOM(t->dec, t->n_dec, 1))
        return tok_fail(c, "out of memory");
    if (pres[k].nfc) {
#ifndef PLINTH_HAVE_UNICODE_LIBS
        return tok_fail(c, "normalizer NFC: this build of plinth has no utf8proc");
#endif
        t->norm[t->n_norm++] = (tok_norm_step){.kind = TOK_NORM_NFC};
    }
    const char *re = pres[k].regex ? pres[k].regex : NULL;
    if (re) {
        tok_split_step *st = &t->split[t->n_split];
        *st = (tok_split_step){.behavior = TOK_SPLIT_ISOLATED};
        if (!(st->pattern = model_strndup(t->ctx, re, st->plen = strlen(re))))
            return tok_fail(c, "out of memory");
        t->n_split++; /* the tokenizer owns it now */
        if (tok_regex_compile(t->ctx, re, st->plen, &st->re, why, sizeof why))
            return tok_fail(c, "tokenizer.ggml.pre \"%s\": its regex %s", pre, why);
    } else {
        static const char gpt2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+"
                                   "|\\s+(?!\\S)|\\s+";
        if (tok_regex_compile(t->ctx, gpt2, sizeof gpt2 - 1, &t->byte_level_re, why, sizeof why))
            return tok_fail(c, "GPT-2's regex %s", why);
    }
    t->byte_level = true;
    t->needs_utf8 = true;
    t->ignore_merges = pres[k].ignore_merges;
    t->add_bos = pres[k].add_bos; /* llama.cpp's default; the key overrides */
    t->dec[t->n_dec++] = (tok_dec_step){.kind = TOK_DEC_BYTELEVEL};
    return 0;
}

/* An optional id key below the vocabulary, or -1. */
static int special(const reader *r, const char *key, int32_t *out)
{
    *out = -1;
    if (plinth_state_dict_meta_find(r->sd, key) < 0)
        return 0;
    int64_t v;
    if (plinth_state_dict_meta_int(r->sd, key, 0, (int64_t)r->n - 1, &v) != PLINTH_OK)
        return tok_fail(&r->c, "metadata key '%s' must be a token id below %llu", key,
                        (unsigned long long)r->n);
    *out = (int32_t)v;
    return 0;
}

static int bool_key(const reader *r, const char *key, bool *out)
{
    if (plinth_state_dict_meta_find(r->sd, key) >= 0 &&
        plinth_state_dict_meta_bool(r->sd, key, out) != PLINTH_OK)
        return tok_fail(&r->c, "metadata key '%s' must be a bool", key);
    return 0;
}

static int read_all(tokenizer *t, reader *r)
{
    const plinth_state_dict *sd = r->sd;
    const char *model = NULL, *pre = "default";
    if (plinth_state_dict_meta_find(sd, "tokenizer.ggml.model") < 0 ||
        plinth_state_dict_meta_string(sd, "tokenizer.ggml.model", &model, NULL) != PLINTH_OK)
        return tok_fail(&r->c, "no tokenizer: metadata key 'tokenizer.ggml.model' is missing or "
                               "not a string");
    const bool spm = strcmp(model, "llama") == 0, bpe = strcmp(model, "gpt2") == 0;
    if (!spm && !bpe)
        return tok_fail(&r->c, "tokenizer.ggml.model is \"%.40s\"; plinth reads \"llama\" "
                               "(SentencePiece-style BPE) and \"gpt2\" (byte-level BPE)", model);
    if (plinth_state_dict_meta_find(sd, "tokenizer.ggml.pre") >= 0 &&
        plinth_state_dict_meta_string(sd, "tokenizer.ggml.pre", &pre, NULL) != PLINTH_OK)
        return tok_fail(&r->c, "metadata key 'tokenizer.ggml.pre' is not a string");
    bool present;
    if (array_of(r, "tokenizer.ggml.tokens", PLINTH_META_STRING, 0, &present))
        return -1;
    if (!present)
        return tok_fail(&r->c, "metadata key 'tokenizer.ggml.tokens' is missing");
    plinth_state_dict_meta_array(sd, "tokenizer.ggml.tokens", NULL, &r->n);
    if (r->n < 1 || r->n > MODEL_MAX_VOCAB)
        return tok_fail(&r->c, "tokenizer.ggml.tokens has %llu tokens; 1 to %d are allowed "
                               "(MODEL_MAX_VOCAB)", (unsigned long long)r->n, MODEL_MAX_VOCAB);
    if (array_of(r, "tokenizer.ggml.token_type", PLINTH_META_I32, r->n, &r->has_types) ||
        array_of(r, "tokenizer.ggml.scores", PLINTH_META_F32, r->n, &r->has_scores) ||
        read_vocab(t, r))
        return -1;
    bool space_prefix = spm; /* llama.cpp's default for "llama" */
    if (bool_key(r, "tokenizer.ggml.add_space_prefix", &space_prefix) ||
        (spm ? merges_from_scores(t, r) || spm_steps(t, &r->c, space_prefix)
             : read_merges(t, r) || gpt2_steps(t, &r->c, pre)) ||
        tok_index_bytes(t, &r->c) || tok_check_steps(t, &r->c) || tok_build_trie(t, &r->c))
        return -1;
    if (spm)
        t->add_bos = true;
    int32_t unk;
    if (special(r, "tokenizer.ggml.bos_token_id", &t->bos) ||
        special(r, "tokenizer.ggml.eos_token_id", &t->eos) ||
        special(r, "tokenizer.ggml.unknown_token_id", &unk) ||
        bool_key(r, "tokenizer.ggml.add_bos_token", &t->add_bos))
        return -1;
    if (unk >= 0)
        t->unk_id = unk;
    const char *tmpl;
    uint64_t tlen;
    if (plinth_state_dict_meta_find(sd, "tokenizer.chat_template") >= 0 &&
        plinth_state_dict_meta_string(sd, "tokenizer.chat_template", &tmpl, &tlen) == PLINTH_OK &&
        !(t->chat_template = model_strndup(t->ctx, tmpl, (size_t)tlen)))
        return tok_fail(&r->c, "out of memory");
    return tok_measure_pieces(t, &r->c);
}

int tokenizer_load_gguf(plinth_context *ctx, const plinth_state_dict *sd, tokenizer **out,
                        char *err, size_t err_size)
{
    *out = NULL;
    reader r = {.sd = sd, .c = {plinth_state_dict_path(sd), err, err_size, ctx}};
    tokenizer *t = model_calloc(ctx, 1, sizeof *t);
    if (t)
        t->ctx = ctx;
    if (!t || !(t->path = model_strdup(ctx, r.c.path))) {
        model_free(ctx, t);
        return tok_fail(&r.c, "out of memory");
    }
    t->bos = t->eos = -1;
    if (read_all(t, &r)) {
        tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

/* ------------------------------------------------------------------ writing */

bool tokenizer_gguf_is_byte_level(const tokenizer *t) { return t->byte_level; }

/* The merges by rank (the map holds (left, right) -> (rank, merged)). */
typedef struct merge_row {
    uint32_t rank, left, right, merged;
} merge_row;

static int by_rank(const void *a, const void *b)
{
    const merge_row *x = a, *y = b;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static merge_row *sorted_merges(const tokenizer *t, size_t *n)
{
    size_t count = 0;
    for (uint64_t i = 0; t->merges.slots && i <= t->merges.mask; i++)
        count += t->merges.slots[i].key != TOK_MAP_EMPTY;
    merge_row *m = model_calloc(t->ctx, count, sizeof *m);
    if (!m)
        return NULL;
    *n = 0;
    for (uint64_t i = 0; t->merges.slots && i <= t->merges.mask; i++) {
        const tok_map64_slot *s = &t->merges.slots[i];
        if (s->key != TOK_MAP_EMPTY)
            m[(*n)++] = (merge_row){s->a, (uint32_t)(s->key >> 32), (uint32_t)s->key, s->b};
    }
    qsort(m, *n, sizeof *m, by_rank);
    return m;
}

/* What llama.cpp's converter calls special though it is not flagged so. */
static bool looks_special(const char *s, size_t n)
{
    return (n >= 4 && memcmp(s, "<|", 2) == 0 && memcmp(s + n - 2, "|>", 2) == 0) ||
           (n >= 8 && memcmp(s, "<unused", 7) == 0 && s[n - 1] == '>');
}

static bool is_byte_token(const char *s, size_t n)
{
    return n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>';
}

/* A user-defined token's text with U+2581 written as spaces (from ctx). */
static char *spaces_for_marks(plinth_context *ctx, const char *s, size_t n, size_t *out_n)
{
    char *o = model_malloc(ctx, n + 1);
    size_t k = 0;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(s + i, space_mark, 3) == 0) {
            o[k++] = ' ';
            i += 3;
        } else {
            o[k++] = s[i++];
        }
    }
    *out_n = k;
    return o;
}

/* Which of pres[] the byte-level tokenizer t is, or -1. */
static int pre_of(const tokenizer *t)
{
    for (size_t k = 0; k < N_PRES; k++) {
        if (pres[k].regex ? t->n_split == 1 && t->split[0].re &&
                                strcmp(t->split[0].pattern, pres[k].regex) == 0 &&
                                t->split[0].behavior == TOK_SPLIT_ISOLATED && !t->byte_level_re
                          : t->n_split == 0 && t->byte_level_re)
            return (int)k;
    }
    return -1;
}

int tokenizer_write_gguf(const tokenizer *t, plinth_gguf_writer *w, uint32_t n_vocab, char *err,
                         size_t err_size)
{
    tok_load_ctx c = {t->path, err, err_size, t->ctx};
    plinth_context *const ctx = t->ctx;
    const bool spm = !t->byte_level;
    int pre = -1;
    if (spm && !t->byte_fallback)
        return tok_fail(&c, "plinth writes byte-level BPE tokenizers (GGUF \"gpt2\") and "
                            "SentencePiece-style ones with byte fallback (\"llama\"); this is "
                            "neither");
    if (!spm && (pre = pre_of(t)) < 0)
        return tok_fail(&c, "its pre-tokenizer regex is none llama.cpp names (Llama 3's, Qwen "
                            "2's or GPT-2's): cannot write tokenizer.ggml.pre");
    size_t n_merges = 0;
    merge_row *merges = sorted_merges(t, &n_merges);
    const char **texts = model_calloc(ctx, n_vocab, sizeof *texts);
    uint64_t *lens = model_calloc(ctx, n_vocab, sizeof *lens);
    int32_t *types = model_calloc(ctx, n_vocab, sizeof *types);
    float *scores = model_calloc(ctx, n_vocab, sizeof *scores);
    char **owned = model_calloc(ctx, n_vocab, sizeof *owned);
    char **mtext = NULL;
    size_t kept = 0; /* merge texts made */
    int rc = -1;
    if (!merges || !texts || !lens || !types || !scores || !owned) {
        tok_fail(&c, "out of memory");
        goto done;
    }
    /* Scores: minus the rank of the first merge making the token; tokens no
     * merge makes sort after every merge. */
    for (uint32_t i = 0; i < n_vocab; i++)
        scores[i] = -1e9f;
    for (size_t k = n_merges; k-- > 0;)
        if (merges[k].merged < n_vocab)
            scores[merges[k].merged] = -(float)merges[k].rank;
    for (uint32_t i = 0; i < n_vocab; i++) {
        char pad[32];
        if (i >= t->n_ids || !(t->flags[i] & TOKF_PRESENT)) {
            snprintf(pad, sizeof pad, "[PAD%u]", i);
            owned[i] = model_strndup(ctx, pad, lens[i] = strlen(pad));
            texts[i] = owned[i];
            types[i] = TT_UNUSED;
            if (!owned[i]) {
                tok_fail(&c, "out of memory");
                goto done;
            }
            continue;
        }
        const char *s = t->pool + t->off[i];
        const size_t n = t->len[i];
        const uint8_t f = t->flags[i];
        texts[i] = s;
        lens[i] = n;
        types[i] = (int32_t)i == t->unk_id                             ? TT_UNKNOWN
                   : spm && is_byte_token(s, n)                         ? TT_BYTE
                   : (f & TOKF_ADDED) && ((f & TOKF_SPECIAL) || looks_special(s, n)) ? TT_CONTROL
                   : (f & TOKF_ADDED)                                   ? TT_USER
                                                                        : TT_NORMAL;
        if (types[i] != TT_NORMAL)
            scores[i] = -1000.0f; /* as the converter writes them */
        if (spm && types[i] == TT_USER) {
            size_t k;
            if (!(owned[i] = spaces_for_marks(ctx, s, n, &k))) {
                tok_fail(&c, "out of memory");
                goto done;
            }
            texts[i] = owned[i];
            lens[i] = k;
        }
    }
    plinth_status st = plinth_gguf_writer_add_string(w, "tokenizer.ggml.model",
                                                     spm ? "llama" : "gpt2");
    if (st == PLINTH_OK)
        st = plinth_gguf_writer_add_string(w, "tokenizer.ggml.pre",
                                           spm ? "default" : pres[pre].pre);
    if (st == PLINTH_OK)
        st = plinth_gguf_writer_add_string_array(w, "tokenizer.ggml.tokens", texts, lens, n_vocab);
    if (st == PLINTH_OK && spm)
        st = plinth_gguf_writer_add_array(w, "tokenizer.ggml.scores", PLINTH_META_F32, scores,
                                          n_vocab);
    if (st == PLINTH_OK)
        st = plinth_gguf_writer_add_array(w, "tokenizer.ggml.token_type", PLINTH_META_I32, types,
                                          n_vocab);
    if (st == PLINTH_OK && !spm) {
        if (!(mtext = model_calloc(ctx, n_merges, sizeof *mtext))) {
            tok_fail(&c, "out of memory");
            goto done;
        }
        for (size_t k = 0; k < n_merges; k++) {
            const merge_row *m = &merges[k];
            if (m->left >= n_vocab || m->right >= n_vocab || m->merged >= n_vocab)
                continue;
            const size_t al = t->len[m->left], bl = t->len[m->right];
            char *s = model_malloc(ctx, al + bl + 2);
            if (!s) {
                tok_fail(&c, "out of memory");
                goto done;
            }
            memcpy(s, t->pool + t->off[m->left], al);
            s[al] = ' ';
            memcpy(s + al + 1, t->pool + t->off[m->right], bl);
            s[al + 1 + bl] = 0;
            mtext[kept++] = s;
        }
        st = plinth_gguf_writer_add_string_array(w, "tokenizer.ggml.merges",
                                                 (const char *const *)mtext, NULL, kept);
    }
    if (spm && st == PLINTH_OK)
        st = plinth_gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix",
                                         t->n_norm && t->norm[0].kind == TOK_NORM_PREPEND);
    if (st == PLINTH_OK && t->bos >= 0 && (uint32_t)t->bos < n_vocab)
        st = plinth_gguf_writer_add_int(w, "tokenizer.ggml.bos_token_id", PLINTH_META_U32, t->bos);
    if (st == PLINTH_OK && t->eos >= 0 && (uint32_t)t->eos < n_vocab)
        st = plinth_gguf_writer_add_int(w, "tokenizer.ggml.eos_token_id", PLINTH_META_U32, t->eos);
    if (st == PLINTH_OK && t->unk_id >= 0 && (uint32_t)t->unk_id < n_vocab)
        st = plinth_gguf_writer_add_int(w, "tokenizer.ggml.unknown_token_id", PLINTH_META_U32,
                                        t->unk_id);
    if (st == PLINTH_OK)
        st = plinth_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", tokenizer_add_bos(t));
    if (st == PLINTH_OK && t->chat_template)
        st = plinth_gguf_writer_add_string(w, "tokenizer.chat_template", t->chat_template);
    if (st != PLINTH_OK) {
        tok_fail(&c, "writing its GGUF metadata failed (status %d)", (int)st);
        goto done;
    }
    rc = 0;
done:
    for (uint32_t i = 0; owned && i < n_vocab; i++)
        model_free(ctx, owned[i]);
    for (size_t k = 0; k < kept; k++)
        model_free(ctx, mtext[k]);
    model_free(ctx, owned);
    model_free(ctx, mtext);
    model_free(ctx, merges);
    model_free(ctx, texts);
    model_free(ctx, lens);
    model_free(ctx, types);
    model_free(ctx, scores);
    return rc;
}
