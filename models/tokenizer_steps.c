/*
 * tokenizer_steps.c — the pipeline settings of a tokenizer.json: what the
 * normalizer, pre-tokenizer, decoder and post-processor declare, checked
 * and flattened into step arrays. Sections: helpers, normalizer,
 * pre-tokenizer, decoder, growth bounds, post-processor, all steps.
 *
 * Supported (anything else is refused, naming it):
 *   normalizer      Replace (String pattern), Prepend, NFC, Sequence
 *   pre_tokenizer   Split (String or Regex pattern, any behavior, not
 *                   inverted), ByteLevel, a Sequence of Splits that may end
 *                   in one ByteLevel (Llama 3, Qwen 2.5 / 3)
 *   decoder         Replace (String pattern), ByteFallback, Fuse, Strip,
 *                   ByteLevel, Sequence
 */
#include "tokenizer_internal.h"
#include "json_text.h"
#include "model_limits.h"

#include <string.h>

/* ----------------------------------------------------------------- helpers */

/* A {"String": "..."} pattern; NULL if the pattern is a Regex or absent. */
static const char *string_pattern(const cJSON *o)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "pattern"), "String");
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

static const char *regex_pattern(const cJSON *o)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "pattern"), "Regex");
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

static const char *type_of(const cJSON *o)
{
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : "(none)";
}

/* A boolean setting: its value, `dflt` when absent or null, -1 otherwise. */
static int flag(const cJSON *o, const char *key, bool dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return dflt;
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : -1;
}

/* ------------------------------------------------------------ normalizer */

static int add_norm(tokenizer *t, const tok_load_ctx *c, const cJSON *n)
{
    const char *ty = type_of(n);
    if (t->n_norm == MODEL_MAX_TOKENIZER_STEPS)
        return tok_fail(c, "normalizer: more than %d steps (MODEL_MAX_TOKENIZER_STEPS)", MODEL_MAX_TOKENIZER_STEPS);
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
        st.pattern = model_strndup(c->mem, pat, st.plen = strlen(pat));
    } else if (strcmp(ty, "Prepend") == 0 && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(n, "prepend"))) {
        st.kind = TOK_NORM_PREPEND;
        content = cJSON_GetObjectItemCaseSensitive(n, "prepend");
    } else if (strcmp(ty, "NFC") == 0) {
#ifndef PLINTH_HAVE_UNICODE_LIBS
        return tok_fail(c, "normalizer NFC: this build of plinth has no utf8proc (a cross build "
                           "without it)");
#endif
        st.kind = TOK_NORM_NFC;
        t->needs_utf8 = true;
    } else {
        return tok_fail(c, "unsupported normalizer \"%s\" (supported: Replace with a String pattern, Prepend, "
                           "NFC, Sequence)", ty);
    }
    if (content && st.kind != TOK_NORM_NFC)
        st.content = model_strndup(c->mem, content->valuestring, st.clen = strlen(content->valuestring));
    tok_norm_step *v = model_realloc(c->mem, t->norm, (t->n_norm + 1) * sizeof *v);
    if (!v || (st.kind != TOK_NORM_NFC && !st.content) || (st.kind == TOK_NORM_REPLACE && !st.pattern)) {
        model_free(c->mem, st.pattern);
        model_free(c->mem, st.content);
        if (v) t->norm = v;
        return tok_fail(c, "out of memory");
    }
    t->norm = v;
    t->norm[t->n_norm++] = st;
    return 0;
}

/* --------------------------------------------------------- pre-tokenizer */

/* GPT-2's split, which ByteLevel applies when use_regex is true (the
 * pattern of HF tokenizers' byte_level.rs and transformers.js). */
static const char gpt2_regex[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int add_split(tokenizer *t, const tok_load_ctx *c, const cJSON *p)
{
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                        "Contiguous"};
    const char *str = string_pattern(p), *re = regex_pattern(p);
    const cJSON *beh = cJSON_GetObjectItemCaseSensitive(p, "behavior");
    if ((!str || !*str) && (!re || !*re))
        return tok_fail(c, "pre_tokenizer Split: \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}, "
                           "not empty");
    if (flag(p, "invert", false) != 0) return tok_fail(c, "pre_tokenizer Split: \"invert\" is not supported");
    int b = -1;
    for (int i = 0; i < 5 && cJSON_IsString(beh); i++)
        if (strcmp(beh->valuestring, names[i]) == 0) b = i;
    if (b < 0)
        return tok_fail(c, "unsupported Split behavior \"%s\"", cJSON_IsString(beh) ? beh->valuestring : "(none)");
    if (t->n_split == MODEL_MAX_TOKENIZER_STEPS)
        return tok_fail(c, "pre_tokenizer: more than %d steps (MODEL_MAX_TOKENIZER_STEPS)", MODEL_MAX_TOKENIZER_STEPS);
    tok_split_step *v = model_realloc(c->mem, t->split, (t->n_split + 1) * sizeof *v);
    if (!v) return tok_fail(c, "out of memory");
    t->split = v;
    tok_split_step *st = &t->split[t->n_split];
    *st = (tok_split_step){.behavior = b};
    const char *pat = str && *str ? str : re;
    if (!(st->pattern = model_strndup(c->mem, pat, st->plen = strlen(pat)))) return tok_fail(c, "out of memory");
    t->n_split++;
    if (pat == re) {
        char why[256];
        if (tok_regex_compile(c->mem, re, st->plen, &st->re, why, sizeof why))
            return tok_fail(c, "pre_tokenizer Split regex \"%.60s\"%s %s", re, strlen(re) > 60 ? "..." : "", why);
        t->needs_utf8 = true;
    }
    return 0;
}

static int add_pretok(tokenizer *t, const tok_load_ctx *c, const cJSON *p)
{
    const char *ty = type_of(p);
    if (t->byte_level)
        return tok_fail(c, "pre_tokenizer: \"%s\" after ByteLevel (ByteLevel must come last)", ty);
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"))
            if (add_pretok(t, c, e)) return -1;
        return 0;
    }
    if (strcmp(ty, "Split") == 0) return add_split(t, c, p);
    if (strcmp(ty, "ByteLevel") == 0) {
        /* HF's defaults: add_prefix_space and use_regex true. */
        const int prefix = flag(p, "add_prefix_space", true), use_regex = flag(p, "use_regex", true);
        if (prefix < 0 || use_regex < 0)
            return tok_fail(c, "pre_tokenizer ByteLevel: add_prefix_space and use_regex must be true or false");
        t->byte_level = true;
        t->byte_level_prefix_space = prefix;
        t->needs_utf8 = true;
        char why[256];
        if (use_regex && tok_regex_compile(c->mem, gpt2_regex, sizeof gpt2_regex - 1, &t->byte_level_re, why, sizeof why))
            return tok_fail(c, "pre_tokenizer ByteLevel: GPT-2's regex %s", why);
        return 0;
    }
    return tok_fail(c, "unsupported pre_tokenizer \"%s\" (supported: none, Split on a String or Regex pattern, "
                       "ByteLevel, a Sequence of them with ByteLevel last)", ty);
}

/* --------------------------------------------------------------- decoder */

static int add_dec(tokenizer *t, const tok_load_ctx *c, const cJSON *d, bool *fused)
{
    const char *ty = type_of(d);
    if (t->n_dec == MODEL_MAX_TOKENIZER_STEPS)
        return tok_fail(c, "decoder: more than %d steps (MODEL_MAX_TOKENIZER_STEPS)", MODEL_MAX_TOKENIZER_STEPS);
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
        st.pattern = model_strndup(c->mem, pat, st.plen = strlen(pat));
        st.content = model_strndup(c->mem, content->valuestring, st.clen = strlen(content->valuestring));
        if (!st.pattern || !st.content) {
            model_free(c->mem, st.pattern);
            model_free(c->mem, st.content);
            return tok_fail(c, "out of memory");
        }
    } else if (strcmp(ty, "ByteFallback") == 0) {
        st.kind = TOK_DEC_BYTEFALLBACK;
    } else if (strcmp(ty, "ByteLevel") == 0) {
        st.kind = TOK_DEC_BYTELEVEL;
    } else if (strcmp(ty, "Fuse") == 0) {
        st.kind = TOK_DEC_FUSE;
        *fused = true;
    } else if (strcmp(ty, "Strip") == 0 && cJSON_IsString(content) && strlen(content->valuestring) == 1) {
        st.kind = TOK_DEC_STRIP;
        static const char *const keys[] = {"start", "stop"};
        for (int i = 0; i < 2; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, keys[i]);
            double x = cJSON_IsNumber(v) ? v->valuedouble : 0;
            char b[96];
            if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && x >= 0 && x <= MODEL_MAX_TOKEN_BYTES && x == (int)x))
                return tok_fail(c, "decoder Strip \"%s\" is %s; it must be an integer in [0, %u] (MODEL_MAX_TOKEN_BYTES)",
                                keys[i], json_text_show(v, b, sizeof b), MODEL_MAX_TOKEN_BYTES);
            *(i ? &st.stop : &st.start) = (int)x;
        }
        st.whole_text = *fused;
        if (!(st.content = model_strndup(c->mem, content->valuestring, st.clen = 1))) return tok_fail(c, "out of memory");
    } else {
        return tok_fail(c, "unsupported decoder \"%s\" (supported: Replace with a String pattern, ByteFallback, "
                           "ByteLevel, Fuse, Strip, Sequence)", ty);
    }
    tok_dec_step *v = model_realloc(c->mem, t->dec, (t->n_dec + 1) * sizeof *v);
    if (!v) {
        model_free(c->mem, st.pattern);
        model_free(c->mem, st.content);
        return tok_fail(c, "out of memory");
    }
    t->dec = v;
    t->dec[t->n_dec++] = st;
    return 0;
}

/* ---------------------------------------------------------- growth bounds */

/* How much a Replace step can lengthen a text at most: every byte is part
 * of a match, each plen bytes becoming clen. */
static double replace_growth(size_t plen, size_t clen)
{
    return clen > plen ? (double)clen / (double)plen : 1.0;
}

/* NFC lengthens a text at most 3 times (Unicode's stated bound on the
 * expansion of a normalization form C, in code units). */
#define NFC_GROWTH 3.0

/* The normalizer runs on every text encoded, the decoder on every token:
 * a chain of Replace steps that each double their input (40 of them ran
 * for minutes) is refused at load, naming the step past the limit. */
static int check_growth(const tokenizer *t, const tok_load_ctx *c)
{
    double g = 1.0;
    for (size_t k = 0; k < t->n_norm; k++) {
        const tok_norm_step *st = &t->norm[k];
        if (st->kind == TOK_NORM_REPLACE) g *= replace_growth(st->plen, st->clen);
        if (st->kind == TOK_NORM_NFC) g *= NFC_GROWTH;
        if (g > MODEL_MAX_TEXT_GROWTH)
            return tok_fail(c, "normalizer step %zu (%s \"%.20s\" with \"%.20s\"): the steps up to it can make a "
                               "text %.3g times longer, more than %d (MODEL_MAX_TEXT_GROWTH)",
                            k, st->kind == TOK_NORM_NFC ? "NFC" : "Replace", st->pattern ? st->pattern : "",
                            st->content ? st->content : "", g, MODEL_MAX_TEXT_GROWTH);
    }
    g = 1.0;
    for (size_t k = 0; k < t->n_dec; k++) {
        const tok_dec_step *st = &t->dec[k];
        if (st->kind == TOK_DEC_REPLACE) g *= replace_growth(st->plen, st->clen);
        if (g > MODEL_MAX_TEXT_GROWTH)
            return tok_fail(c, "decoder step %zu (Replace \"%.20s\" with \"%.20s\"): the steps up to it can make a "
                               "token's text %.3g times longer, more than %d (MODEL_MAX_TEXT_GROWTH)",
                            k, st->pattern, st->content, g, MODEL_MAX_TEXT_GROWTH);
    }
    return 0;
}

/* ---------------------------------------------------------- post-processor */

int32_t tok_template_bos(const tokenizer *t, const cJSON *root)
{
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    if (strcmp(type_of(pp), "Sequence") == 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(pp, "processors"))
            if (strcmp(type_of(e), "TemplateProcessing") == 0) {
                pp = e;
                break;
            }
    }
    if (strcmp(type_of(pp), "TemplateProcessing") != 0) return -1;
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(pp, "single"), 0);
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(first, "SpecialToken"), "id");
    return cJSON_IsString(sp) ? tokenizer_token_id(t, sp->valuestring) : -1;
}

/* ------------------------------------------------------------- all steps */

int tok_load_steps(tokenizer *t, const tok_load_ctx *c, const cJSON *root)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    bool fused = false;
    if ((n && !cJSON_IsNull(n) && add_norm(t, c, n)) || (p && !cJSON_IsNull(p) && add_pretok(t, c, p)) ||
        (d && !cJSON_IsNull(d) && add_dec(t, c, d, &fused)))
        return -1;
    return tok_check_steps(t, c);
}

int tok_check_steps(tokenizer *t, const tok_load_ctx *c)
{
    if (t->byte_level) {
        /* Every byte must have its character in the vocab, as every
         * "<0xXX>" must for byte fallback: any text can then be encoded. */
        for (unsigned b = 0; b < 256; b++) {
            char ch[2];
            const size_t k = tok_byte_char(b, ch);
            if ((t->byte_char_id[b] = tok_lookup(t, ch, k)) < 0)
                return tok_fail(c, "pre_tokenizer ByteLevel: byte 0x%02X's character \"%.*s\" is not in the vocab", b,
                                (int)k, ch);
        }
    }
    return check_growth(t, c);
}
