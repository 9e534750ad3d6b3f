/*
 * tokenizer.c — loading a tokenizer.json (the order of the steps),
 * decoding, the public API. Sections: errors and small helpers, load and
 * free, encode (the work is in tokenizer_bpe.c), decode and pieces, the
 * chat template.
 *
 * Loading walks the text of the file (tokenizer_json.c): the vocab and
 * merges go straight into flat arrays and hash maps (tokenizer_vocab.c),
 * the rest through a small cJSON tree that is freed at the end. A loaded
 * tokenizer holds no JSON and is immutable, so encode/decode are
 * thread-safe.
 */
#include "tokenizer_internal.h"
#include "errbuf.h"
#include "json_text.h"
#include "model_limits.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------ errors and small helpers */

int tok_fail(const tok_load_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errbuf_vfail(c->err, c->err_size, -1, c->path, fmt, ap);
    va_end(ap);
    return -1;
}

/* ----------------------------------------------------------- load and free */

static int load_model(tokenizer *t, const tok_load_ctx *c, const cJSON *root, const char *text, tokj_span vocab,
                      tokj_span merges, tokj_span added)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return tok_fail(c, "no \"model\" object");
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (cJSON_IsString(ty) && strcmp(ty->valuestring, "BPE") != 0)
        return tok_fail(c, "unsupported model type \"%s\" (only BPE is supported)", ty->valuestring);
    if (!tokj_is(text, vocab, '{')) return tok_fail(c, "model.vocab is missing or not an object");
    if (!tokj_is(text, merges, '[')) return tok_fail(c, "model.merges is missing or not an array");
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble != 0)
        return tok_fail(c, "BPE dropout is not supported (encoding must be deterministic)");
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (cJSON_IsString(a) && a->valuestring[0]) return tok_fail(c, "BPE %s is not supported", affixes[i]);
    }
    const bool no_added = added.end == added.start || (added.end - added.start == 4 && !memcmp(text + added.start, "null", 4));
    if (!no_added && !tokj_is(text, added, '[')) return tok_fail(c, "added_tokens is not an array");
    if (tok_load_vocab(t, c, text, vocab, no_added ? (tokj_span){0, 0} : added) ||
        tok_load_merges(t, c, text, merges))
        return -1;

    t->byte_fallback = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback"));
    t->fuse_unk = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "fuse_unk"));
    t->ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    t->unk_id = cJSON_IsString(unk) ? tok_lookup(t, unk->valuestring, strlen(unk->valuestring)) : -1;
    return tok_index_bytes(t, c);
}

int tok_index_bytes(tokenizer *t, const tok_load_ctx *c)
{
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_id[b] = tok_lookup(t, name, 6);
        if (t->byte_fallback && t->byte_id[b] < 0)
            return tok_fail(c, "byte_fallback is set but %s is not in the vocab", name);
        if (b < 128) t->ascii_id[b] = tok_lookup(t, (const char[]){(char)b}, 1);
    }
    return 0;
}

static int piece_into(const tokenizer *t, int32_t id, bool first, char **buf, size_t *cap, size_t *len);

/* The text of a tokenizer.json, checked with json_text_check: cJSON's
 * grammar, so that the walk of tokenizer_json.c may trust it. */
static int check_text(const tok_load_ctx *c, const char *text, size_t len)
{
    size_t at;
    const json_text_verdict v = json_text_check(text, len, &at);
    if (v == JSON_TEXT_OK) return 0;
    plinth_status st;
    cJSON *j = json_text_parse(text, len, c->path, &st, c->err, c->err_size); /* for its message */
    if (j) tok_fail(c, "a number of more than 63 characters (byte %zu)", at);
    cJSON_Delete(j);
    return -1;
}

/* Builds a tokenizer from text[0, len) (from c->mem, NUL-terminated, freed
 * here as soon as the vocab and merges are read); c->path names it, and
 * json_path (NULL for a text from memory) says where tokenizer_config.json
 * may lie. cJSON's trees come from c->mem too (model_json_enter). */
static int load_text(const tok_load_ctx *c, char *text, size_t len, const char *json_path, tokenizer **out)
{
    plinth_context *const ctx = c->mem, *prev = model_json_enter(ctx);
    tokenizer *t = model_calloc(ctx, 1, sizeof *t);
    cJSON *root = NULL;
    int rc = -1;
    tokj_span big[3];
    if (t) t->ctx = ctx;
    if (!t || !(t->path = model_strdup(ctx, c->path))) {
        tok_fail(c, "out of memory");
        goto done;
    }
    if (check_text(c, text, len)) goto done;
    const tokj_span top = tokj_root(text, len);
    if (!tokj_is(text, top, '{')) {
        tok_fail(c, "not a tokenizer.json (the top level is not an object)");
        goto done;
    }
    if (!(root = tokj_tree(ctx, text, top, big))) {
        tok_fail(c, "out of memory parsing %zu bytes of JSON", len);
        goto done;
    }
    if (load_model(t, c, root, text, big[0], big[1], big[2])) goto done;
    model_free(ctx, text); /* peak memory: the tables and the text, never a tree of it */
    text = NULL;
    if (tok_load_steps(t, c, root) || tok_build_trie(t, c) || tok_load_config(t, c, json_path, root)) goto done;

    if (tok_measure_pieces(t, c)) goto done;
    rc = 0;
done:
    model_free(ctx, text);
    cJSON_Delete(root);
    model_json_leave(prev);
    if (rc == 0) *out = t;
    else tokenizer_free(t);
    return rc;
}

int tok_measure_pieces(tokenizer *t, const tok_load_ctx *c)
{
    /* The longest piece, so streaming callers can size one buffer. */
    char *pb = NULL;
    size_t pcap = 0, plen;
    for (uint32_t id = 0; id < t->n_ids; id++) {
        if (!(t->flags[id] & TOKF_PRESENT)) continue;
        plen = 0;
        if (piece_into(t, (int32_t)id, false, &pb, &pcap, &plen)) {
            model_free(t->ctx, pb);
            return tok_fail(c, "out of memory");
        }
        if (plen > t->max_piece) t->max_piece = (uint32_t)plen;
    }
    model_free(t->ctx, pb);
    return 0;
}

int tokenizer_load(plinth_context *ctx, const char *path, tokenizer **out, char *err, size_t err_size)
{
    *out = NULL;
    tok_load_ctx c = {path, err, err_size, ctx};
    char *file = NULL;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t n = strlen(path);
        file = model_malloc(ctx, n + sizeof "/tokenizer.json");
        if (!file) return tok_fail(&c, "out of memory");
        memcpy(file, path, n);
        memcpy(file + n, "/tokenizer.json", sizeof "/tokenizer.json");
        c.path = file;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = -1;
    if (json_text_read(ctx, c.path, MODEL_MAX_TOKENIZER_BYTES, "MODEL_MAX_TOKENIZER_BYTES", &text, &len, err,
                       err_size) == PLINTH_OK)
        rc = load_text(&c, text, len, c.path, out);
    model_free(ctx, file);
    return rc;
}

int tokenizer_load_from_memory(plinth_context *ctx, const char *text, size_t len, const char *name,
                               tokenizer **out, char *err, size_t err_size)
{
    *out = NULL;
    tok_load_ctx c = {name, err, err_size, ctx};
    if (len > MODEL_MAX_TOKENIZER_BYTES)
        return tok_fail(&c, "%zu bytes, more than the %u bytes a tokenizer.json may have (MODEL_MAX_TOKENIZER_BYTES)",
                        len, MODEL_MAX_TOKENIZER_BYTES);
    char *copy = model_malloc(ctx, len + 1); /* cJSON may look one byte past the end */
    if (!copy) return tok_fail(&c, "out of memory");
    if (len) memcpy(copy, text, len);
    copy[len] = 0;
    return load_text(&c, copy, len, NULL, out);
}

void tokenizer_free(tokenizer *t)
{
    if (!t) return;
    plinth_context *const ctx = t->ctx;
    model_free(ctx, t->path);
    model_free(ctx, t->pool);
    model_free(ctx, t->off);
    model_free(ctx, t->len);
    model_free(ctx, t->flags);
    tok_strmap_free(ctx, &t->vocab);
    tok_map64_free(ctx, &t->merges);
    tok_map64_free(ctx, &t->trie);
    model_free(ctx, t->node_tok);
    for (size_t i = 0; i < t->n_norm; i++) {
        model_free(ctx, t->norm[i].pattern);
        model_free(ctx, t->norm[i].content);
    }
    model_free(ctx, t->norm);
    for (size_t i = 0; i < t->n_split; i++) {
        model_free(ctx, t->split[i].pattern);
        tok_regex_free(t->split[i].re);
    }
    model_free(ctx, t->split);
    tok_regex_free(t->byte_level_re);
    for (size_t i = 0; i < t->n_dec; i++) {
        model_free(ctx, t->dec[i].pattern);
        model_free(ctx, t->dec[i].content);
    }
    model_free(ctx, t->dec);
    model_free(ctx, t->chat_template);
    model_free(ctx, t);
}

uint32_t tokenizer_vocab_size(const tokenizer *t) { return t->n_ids; }
uint32_t tokenizer_max_piece_len(const tokenizer *t) { return t->max_piece; }
int32_t tokenizer_bos(const tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const tokenizer *t) { return t->eos; }
bool tokenizer_add_bos(const tokenizer *t) { return t->add_bos && t->bos >= 0; }
const char *tokenizer_chat_template(const tokenizer *t) { return t->chat_template; }

int32_t tokenizer_token_id(const tokenizer *t, const char *token)
{
    return tok_lookup(t, token, strlen(token));
}

/* ------------------------------------------------------------------ encode */

int tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_bos,
                     int32_t **out_ids, size_t *out_n, char *err, size_t err_size)
{
    tok_load_ctx c = {t->path, err, err_size, t->ctx};
    tok_ids ids = {.ctx = t->ctx};
    *out_ids = NULL;
    *out_n = 0;
    if (len > MODEL_MAX_ENCODE_BYTES)
        return tok_fail(&c, "encode: a text of %zu bytes, more than %u (MODEL_MAX_ENCODE_BYTES)", len,
                    MODEL_MAX_ENCODE_BYTES);
    if (add_bos) {
        if (t->bos < 0) return tok_fail(&c, "add_bos, but the tokenizer has no <bos> token");
        if (tok_ids_push(&ids, t->bos)) return tok_fail(&c, "out of memory");
    }
    int rc = tok_encode_text(t, text, len, &ids);
    if (rc == 0 && !ids.v && !(ids.v = model_malloc(t->ctx, sizeof *ids.v))) rc = -1; /* never NULL on success */
    if (rc) {
        model_free(t->ctx, ids.v);
        if (rc == -2) return tok_fail(&c, "a character is not in the vocab and there is no unk token");
        if (rc == -3)
            return tok_fail(&c, "encode: a pre_tokenizer regex reached PCRE2's match limit on this text (a pattern "
                                "that backtracks catastrophically?)");
        return tok_fail(&c, "out of memory encoding %zu bytes", len);
    }
    *out_ids = ids.v;
    *out_n = ids.n;
    return 0;
}

/* --------------------------------------------------------- decode and pieces */

/* Room for `need` bytes in *buf. */
static int reserve(plinth_context *ctx, char **buf, size_t *cap, size_t need)
{
    if (need > *cap) {
        size_t c = *cap ? *cap : 128;
        while (c < need) c *= 2;
        char *p = model_realloc(ctx, *buf, c);
        if (!p) return -1;
        *buf = p;
        *cap = c;
    }
    return 0;
}

static int put(plinth_context *ctx, char **buf, size_t *cap, size_t *len, const char *s, size_t n)
{
    if (reserve(ctx, buf, cap, *len + n + 1)) return -1;
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

/* The code point of a well-formed UTF-8 sequence of k bytes. */
static uint32_t utf8_cp(const unsigned char *s, size_t k)
{
    static const unsigned char lead_mask[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    uint32_t c = s[0] & lead_mask[k];
    for (size_t i = 1; i < k; i++) c = (c << 6) | (s[i] & 0x3f);
    return c;
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
    if (put(t->ctx, buf, cap, len, t->pool + t->off[id], t->len[id])) return -1;
    for (size_t k = 0; k < t->n_dec; k++) {
        const tok_dec_step *st = &t->dec[k];
        char *s = *buf + base;
        size_t n = *len - base;
        if (st->kind == TOK_DEC_REPLACE) {
            /* memmem (two-way search): linear in the piece and the pattern,
             * where a byte-by-byte memcmp is their product. The result is
             * built after the piece and moved down over it: no allocation
             * per token (the loop over the vocab at load made 130,000). */
            size_t hits = 0;
            const char *p, *e = s + n, *h;
            for (p = s; (h = memmem(p, (size_t)(e - p), st->pattern, st->plen)); p = h + st->plen) hits++;
            if (!hits) continue;
            const size_t nn = n - hits * st->plen + hits * st->clen;
            if (reserve(t->ctx, buf, cap, base + n + nn + 1)) return -1;
            s = *buf + base;
            e = s + n;
            char *o = s + n;
            for (p = s; (h = memmem(p, (size_t)(e - p), st->pattern, st->plen)); p = h + st->plen) {
                memcpy(o, p, (size_t)(h - p));
                o += h - p;
                memcpy(o, st->content, st->clen);
                o += st->clen;
            }
            memcpy(o, p, (size_t)(e - p));
            memmove(s, s + n, nn);
            *len = base + nn;
        } else if (st->kind == TOK_DEC_BYTEFALLBACK) {
            if (n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && hexval(s[3]) >= 0 && hexval(s[4]) >= 0) {
                s[0] = (char)(hexval(s[3]) * 16 + hexval(s[4]));
                *len = base + 1;
            }
        } else if (st->kind == TOK_DEC_BYTELEVEL) {
            /* GPT-2's characters back to bytes. Added tokens are text as
             * they stand (transformers.js); a token with a character
             * outside the table is kept whole (HF tokenizers). */
            if (t->flags[id] & TOKF_ADDED) continue;
            size_t o = 0, i = 0;
            bool all = true;
            for (i = 0; i < n && all;) {
                const size_t cl = tok_utf8_len((const unsigned char *)s + i, n - i);
                all = cl && tok_char_byte(utf8_cp((const unsigned char *)s + i, cl)) >= 0;
                i += cl;
            }
            if (!all) continue;
            for (i = 0; i < n;) { /* in place: each character gives one byte, never more */
                const size_t cl = tok_utf8_len((const unsigned char *)s + i, n - i);
                s[o++] = (char)tok_char_byte(utf8_cp((const unsigned char *)s + i, cl));
                i += cl;
            }
            *len = base + o;
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
        model_free(t->ctx, p);
        return -1;
    }
    if (n > cap) n = cap;
    if (n) memcpy(buf, p, n);
    model_free(t->ctx, p);
    return (int)n;
}

int tokenizer_decode(const tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                     char **out_text, size_t *out_len, char *err, size_t err_size)
{
    tok_load_ctx c = {t->path, err, err_size, t->ctx};
    char *buf = NULL;
    size_t cap = 0, len = 0;
    *out_text = NULL;
    *out_len = 0;
    if (put(t->ctx, &buf, &cap, &len, "", 0)) return tok_fail(&c, "out of memory");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || (uint32_t)id >= t->n_ids || !(t->flags[id] & TOKF_PRESENT)) {
            model_free(t->ctx, buf);
            return tok_fail(&c, "decode: id %d at position %zu is not a token (vocab size %u)", id, i, t->n_ids);
        }
        if (skip_special && (t->flags[id] & TOKF_SPECIAL)) continue;
        if (piece_into(t, id, first, &buf, &cap, &len)) {
            model_free(t->ctx, buf);
            return tok_fail(&c, "out of memory");
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

char *tokenizer_chat_prompt(plinth_context *ctx, const char *user_text)
{
    /* The checkpoints' Jinja template writes `message['content'] | trim`,
     * so surrounding whitespace of the user's text is dropped here too. */
    static const char pre[] = "<start_of_turn>user\n", post[] = "<end_of_turn>\n<start_of_turn>model\n";
    size_t a = 0, b = strlen(user_text);
    while (a < b && (user_text[a] == ' ' || (user_text[a] >= '\t' && user_text[a] <= '\r'))) a++;
    while (b > a && (user_text[b - 1] == ' ' || (user_text[b - 1] >= '\t' && user_text[b - 1] <= '\r'))) b--;
    char *s = model_malloc(ctx, sizeof pre - 1 + (b - a) + sizeof post);
    if (!s) return NULL;
    memcpy(s, pre, sizeof pre - 1);
    memcpy(s + sizeof pre - 1, user_text + a, b - a);
    memcpy(s + sizeof pre - 1 + (b - a), post, sizeof post);
    return s;
}
