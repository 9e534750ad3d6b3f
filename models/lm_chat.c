/*
 * lm_chat.c — for plinth_lm.h: which chat template the tokenizer's
 * (tokenizer_config.json, read by the tokenizer) is, generation_config.json
 * (sampling defaults, more end-of-sequence ids), and the chat templates
 * plinth knows, written out in C.
 *
 * plinth does not run Jinja. It recognises the three template families
 * whose output it can write exactly — Gemma's turns, Llama 3's headers and
 * ChatML (Qwen) — by markers in the tokenizer's own template, or, with no
 * template, by their tokens in the vocabulary; any other template is
 * refused when a chat is formatted (PLINTH_ERR_UNSUPPORTED), not guessed.
 */
#include "lm_internal.h"

#include "json_text.h"
#include "model_limits.h"
#include "model_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------- files --- */

/* FOLDER/name parsed, or NULL with *st OK when the file does not exist.
 * Call inside model_json_enter(lm->ctx): the tree comes from the context. */
static cJSON *read_json(plinth_lm *lm, const char *dir, const char *name, size_t limit,
                        const char *limit_name, plinth_status *st)
{
    char path[4096];
    struct stat sb;
    *st = PLINTH_OK;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path ||
        stat(path, &sb) != 0)
        return NULL;
    char *text, err[1024];
    size_t len;
    if ((*st = json_text_read(lm->ctx, path, limit, limit_name, &text, &len, err, sizeof err)) !=
        PLINTH_OK) {
        *st = lm_fail(lm, *st, "%s", err);
        return NULL;
    }
    cJSON *root = json_text_parse(text, len, path, st, err, sizeof err);
    model_free(lm->ctx, text);
    if (!root)
        *st = lm_fail(lm, *st, "%s", err);
    else if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        root = NULL;
        *st = lm_fail(lm, PLINTH_ERR_FORMAT, "%s: not a JSON object", path);
    }
    return root;
}

static lm_chat_kind chat_kind_of(const char *tmpl)
{
    if (strstr(tmpl, "<start_of_turn>"))
        return LM_CHAT_GEMMA;
    if (strstr(tmpl, "<|start_header_id|>"))
        return LM_CHAT_LLAMA3;
    if (strstr(tmpl, "<|im_start|>"))
        return LM_CHAT_CHATML;
    return LM_CHAT_NONE;
}

/* With no template: the family whose tokens the vocabulary has. */
static lm_chat_kind chat_kind_from_vocab(plinth_lm *lm)
{
    if (plinth_lm_token_id(lm, "<start_of_turn>") >= 0)
        return LM_CHAT_GEMMA;
    if (plinth_lm_token_id(lm, "<|start_header_id|>") >= 0)
        return LM_CHAT_LLAMA3;
    if (plinth_lm_token_id(lm, "<|im_start|>") >= 0)
        return LM_CHAT_CHATML;
    return LM_CHAT_NONE;
}

/* The tokenizer's chat template (tokenizer_config.json), by its markers. */
static void template_settings(plinth_lm *lm)
{
    const char *tmpl = lm->tok ? tokenizer_chat_template(lm->tok) : NULL;
    if (!tmpl)
        return;
    lm->chat = chat_kind_of(tmpl);
    lm->chat_default_system = strstr(tmpl, "You are Qwen, created by Alibaba Cloud") != NULL;
    lm->chat_template_known = true;
}

static float number_or(const cJSON *o, const char *key, float dflt)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(j) && j->valuedouble == j->valuedouble ? (float)j->valuedouble : dflt;
}

static void generation_settings(plinth_lm *lm, const cJSON *g)
{
    plinth_lm_sampling *s = &lm->sampling;
    s->temperature = number_or(g, "temperature", s->temperature);
    s->top_k = (int32_t)number_or(g, "top_k", (float)s->top_k);
    s->top_p = number_or(g, "top_p", s->top_p);
    s->min_p = number_or(g, "min_p", s->min_p);
    s->repeat_penalty = number_or(g, "repetition_penalty", s->repeat_penalty);
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(g, "do_sample")))
        s->temperature = 0; /* greedy */
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(g, "eos_token_id");
    const cJSON *one = cJSON_IsArray(e) ? e->child : e;
    for (; one; one = cJSON_IsArray(e) ? one->next : NULL) {
        if (!cJSON_IsNumber(one) || !(one->valuedouble >= 0) ||
            one->valuedouble >= (double)lm->vocab || lm->n_stop_ids == LM_MAX_STOP_IDS)
            continue;
        const int32_t id = (int32_t)one->valuedouble;
        bool have = false;
        for (int32_t i = 0; i < lm->n_stop_ids; i++)
            have |= lm->stop_ids[i] == id;
        if (!have)
            lm->stop_ids[lm->n_stop_ids++] = id;
    }
}

plinth_status lm_read_folder_settings(plinth_lm *lm, const char *dir)
{
    lm->sampling = (plinth_lm_sampling){.struct_size = sizeof lm->sampling, .temperature = 1.0f,
                                        .top_k = 64, .top_p = 0.95f, .repeat_penalty = 1.0f,
                                        .repeat_last_n = 64, .seed = 42};
    struct stat sb;
    template_settings(lm); /* the tokenizer's template: tokenizer_config.json's or a GGUF's */
    if (!lm->chat_template_known)
        lm->chat = chat_kind_from_vocab(lm);
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return PLINTH_OK; /* a GGUF file: nothing beside it */
    plinth_status st;
    plinth_context *prev = model_json_enter(lm->ctx);
    cJSON *g = read_json(lm, dir, "generation_config.json", MODEL_MAX_CONFIG_BYTES,
                         "MODEL_MAX_CONFIG_BYTES", &st);
    if (g)
        generation_settings(lm, g);
    cJSON_Delete(g);
    model_json_leave(prev);
    return st;
}

/* ------------------------------------------------------------ templates --- */

typedef struct out_text {
    char *buf;
    size_t size, len; /* len counts what did not fit too */
} out_text;

static void put(out_text *o, const char *s, size_t n)
{
    if (o->len < o->size)
        memcpy(o->buf + o->len, s, o->len + n <= o->size ? n : o->size - o->len);
    o->len += n;
}

static void puts_(out_text *o, const char *s) { put(o, s, strlen(s)); }

/* The templates trim each message's content (Jinja's `| trim`): ASCII
 * white space at both ends. */
static void put_trimmed(out_text *o, const char *s)
{
    size_t n = strlen(s);
    while (n && (unsigned char)*s <= ' ' && strchr(" \t\n\r\f\v", *s))
        s++, n--;
    while (n && strchr(" \t\n\r\f\v", s[n - 1]))
        n--;
    put(o, s, n);
}

/* Gemma 3: a system message is folded into the first user turn; the
 * assistant's role is "model". */
static plinth_status gemma(plinth_lm *lm, const plinth_lm_message *m, size_t n, bool gen,
                           out_text *o)
{
    const char *system = NULL;
    size_t i = 0;
    if (n && strcmp(m[0].role, "system") == 0)
        system = m[i++].content;
    for (bool first = true; i < n; i++, first = false) {
        const bool user = strcmp(m[i].role, "user") == 0;
        if (!user && strcmp(m[i].role, "assistant") != 0)
            return lm_fail(lm, PLINTH_ERR_INVALID, "chat: message %zu has role \"%s\"; Gemma's "
                           "template takes a first system message, then user and assistant", i,
                           m[i].role);
        puts_(o, user ? "<start_of_turn>user\n" : "<start_of_turn>model\n");
        if (first && system) {
            put_trimmed(o, system);
            puts_(o, "\n\n");
        }
        put_trimmed(o, m[i].content);
        puts_(o, "<end_of_turn>\n");
    }
    if (gen)
        puts_(o, "<start_of_turn>model\n");
    return PLINTH_OK;
}

/* Llama 3 (3.0's template: no date header). */
static void llama3(const plinth_lm_message *m, size_t n, bool gen, out_text *o)
{
    for (size_t i = 0; i < n; i++) {
        puts_(o, "<|start_header_id|>");
        puts_(o, m[i].role);
        puts_(o, "<|end_header_id|>\n\n");
        put_trimmed(o, m[i].content);
        puts_(o, "<|eot_id|>");
    }
    if (gen)
        puts_(o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* ChatML (Qwen 2.5 adds its default system turn when none is given). */
static void chatml(const plinth_lm *lm, const plinth_lm_message *m, size_t n, bool gen,
                   out_text *o)
{
    if (lm->chat_default_system && (n == 0 || strcmp(m[0].role, "system") != 0))
        puts_(o, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                 "assistant.<|im_end|>\n");
    for (size_t i = 0; i < n; i++) {
        puts_(o, "<|im_start|>");
        puts_(o, m[i].role);
        puts_(o, "\n");
        puts_(o, m[i].content);
        puts_(o, "<|im_end|>\n");
    }
    if (gen)
        puts_(o, "<|im_start|>assistant\n");
}

plinth_status plinth_lm_chat_format(plinth_lm *lm, const plinth_lm_message *messages, size_t n,
                                    bool add_generation_prompt, char *buf, size_t size,
                                    size_t *len_out)
{
    if (!lm || (!messages && n) || (!buf && size) || !len_out)
        return PLINTH_ERR_INVALID;
    if (!lm->tok)
        return lm_no_tokenizer(lm, "chat");
    for (size_t i = 0; i < n; i++)
        if (!messages[i].role || !messages[i].content)
            return lm_fail(lm, PLINTH_ERR_INVALID, "chat: message %zu has no %s", i,
                           messages[i].role ? "content" : "role");
    if (!lm->tok)
        return lm_no_tokenizer(lm, "chat");
    out_text o = {.buf = buf, .size = size};
    plinth_status st = PLINTH_OK;
    /* Gemma's and Llama 3's templates start with the bos token; when the
     * tokenizer does not prepend it (Llama 3's), the text carries it. */
    if (lm->chat != LM_CHAT_CHATML && !lm->add_bos && lm->bos >= 0) {
        char bos[256];
        const int n_bos = tokenizer_piece(lm->tok, lm->bos, false, bos, sizeof bos);
        if (n_bos > 0)
            put(&o, bos, (size_t)n_bos);
    }
    switch (lm->chat) {
    case LM_CHAT_GEMMA: st = gemma(lm, messages, n, add_generation_prompt, &o); break;
    case LM_CHAT_LLAMA3: llama3(messages, n, add_generation_prompt, &o); break;
    case LM_CHAT_CHATML: chatml(lm, messages, n, add_generation_prompt, &o); break;
    default:
        return lm_fail(lm, PLINTH_ERR_UNSUPPORTED,
                       "chat: %s has no chat template plinth knows (it writes Gemma's, Llama "
                       "3's and ChatML); format the prompt yourself", lm->path);
    }
    if (st != PLINTH_OK)
        return st;
    *len_out = o.len;
    if (size && o.len > size)
        return lm_fail(lm, PLINTH_ERR_INVALID, "chat: the prompt is %zu bytes, the buffer "
                       "holds %zu", o.len, size);
    return PLINTH_OK;
}
