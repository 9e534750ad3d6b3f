/*
 * lm.c — plinth_lm.h: opening a model folder (config, weights, tokenizer)
 * or a GGUF file (all three from it),
 * what was opened, the tokenizer calls, sessions and decoding.
 *
 * A session is a state set of the lm's model (plinth.h, state sets): the
 * model's programs run on whichever session is bound, and a call on a
 * session binds it first when another one was bound (a re-point of the
 * state views, no copy).
 */
#include "lm_internal.h"
#include "tokenizer_gguf.h"

#include "internal.h" /* ctx_error: messages go on the context like the core's */
#include "model_mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

plinth_status lm_fail(plinth_lm *lm, plinth_status st, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ctx_error(lm->ctx, st, "%s", msg);
}

bool lm_sized_in(const void *in, void *out, size_t size)
{
    memset(out, 0, size);
    if (!in)
        return true;
    uint32_t have;
    memcpy(&have, in, sizeof have);
    if (have < sizeof(uint32_t))
        return false;
    memcpy(out, in, have < size ? have : size);
    return true;
}

/* ------------------------------------------------------------- opening --- */

static void lm_free(plinth_lm *lm)
{
    lm_model_free(lm->m);
    tokenizer_free(lm->tok);
    model_free(lm->ctx, lm->path);
    model_free(lm->ctx, lm);
}

/* The ids that end generation: the config's eos ids and the tokenizer's
 * end-of-sequence and end-of-turn tokens (tokenizer_stop_ids). */
static void collect_stop_ids(plinth_lm *lm)
{
    stop_rule r = {.n_ids = 0};
    const lm_config *c = lm_model_config(lm->m);
    for (int32_t i = 0; i < c->n_eos; i++)
        stop_rule_add(&r, c->eos[i]);
    int32_t ids[LM_MAX_STOP_IDS];
    const int n = lm->tok ? tokenizer_stop_ids(lm->tok, ids, LM_MAX_STOP_IDS) : 0;
    for (int i = 0; i < n && i < LM_MAX_STOP_IDS; i++)
        if (ids[i] < lm->vocab)
            stop_rule_add(&r, ids[i]);
    lm->n_stop_ids = r.n_ids < LM_MAX_STOP_IDS ? r.n_ids : LM_MAX_STOP_IDS;
    memcpy(lm->stop_ids, r.ids, (size_t)lm->n_stop_ids * sizeof *lm->stop_ids);
}

plinth_status plinth_lm_open(plinth_backend *const *backends, uint32_t n, const char *path,
                             const plinth_lm_options *opts_in, plinth_lm **out)
{
    if (!out)
        return PLINTH_ERR_INVALID;
    *out = NULL;
    if (!backends || n < 1 || !backends[0])
        return PLINTH_ERR_INVALID;
    plinth_context *ctx = plinth_backend_context(backends[0]);
    if (n > PLINTH_MAX_BACKENDS || !path)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "plinth_lm_open: %s",
                         path ? "more backends than PLINTH_MAX_BACKENDS" : "no path");
    plinth_lm_options o;
    if (!lm_sized_in(opts_in, &o, sizeof o))
        return ctx_error(ctx, PLINTH_ERR_INVALID, "plinth_lm_open: options.struct_size is %u",
                         opts_in->struct_size);
    plinth_lm *lm = model_calloc(ctx, 1, sizeof *lm);
    if (lm)
        lm->ctx = ctx;
    if (!lm || !(lm->path = model_strdup(ctx, path))) {
        model_free(ctx, lm);
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    lm->all_logits = o.all_logits;
    char err[2048];
    plinth_status st = PLINTH_OK;
    /* The tokenizer first (a broken one fails before the weights load).
     * A folder without tokenizer.json opens for token ids only: logits,
     * decode and sampling work; text in or out says what is missing. */
    struct stat sb;
    char tpath[4096];
    const bool is_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (!is_dir && stat(path, &sb) != 0) {
        st = ctx_error(ctx, PLINTH_ERR_IO, "%s: no such model folder", path);
        goto fail;
    }
    snprintf(tpath, sizeof tpath, "%s/tokenizer.json", path);
    const int gguf = lm_gguf_path(path, tpath, sizeof tpath, err, sizeof err);
    if (gguf < 0) {
        st = ctx_error(ctx, PLINTH_ERR_INVALID, "%s", err);
        goto fail;
    }
    if (gguf) { /* a GGUF file: the tokenizer from its metadata, when it has one */
        plinth_state_dict *sd = NULL;
        if ((st = plinth_state_dict_open(ctx, tpath, &sd)) != PLINTH_OK)
            goto fail;
        if (plinth_state_dict_meta_find(sd, "tokenizer.ggml.model") >= 0 &&
            tokenizer_load_gguf(ctx, sd, &lm->tok, err, sizeof err) != 0)
            st = ctx_error(ctx, PLINTH_ERR_FORMAT, "%s", err);
        plinth_state_dict_close(sd);
        if (st != PLINTH_OK)
            goto fail;
    } else if ((!is_dir || stat(tpath, &sb) == 0) &&
               tokenizer_load(ctx, path, &lm->tok, err, sizeof err) != 0) {
        st = ctx_error(ctx, PLINTH_ERR_FORMAT, "%s", err);
        goto fail;
    }
    lm_model_options mo = {.n_ctx = o.n_ctx, .n_prefill = o.n_batch, .all_logits = o.all_logits,
                           .force_f32 = o.force_f32, .no_weights = o.no_weights,
                           .fallbacks = backends + 1, .n_fallbacks = n - 1,
                           .split_layers = n > 1 ? o.split_layers : 0,
                           .quantize = o.quantize,
                           .progress = o.progress, .progress_user = o.progress_user};
    if ((st = lm_model_load(ctx, backends[0], path, &mo, &lm->m, err, sizeof err)) != PLINTH_OK) {
        st = ctx_error(ctx, st, "%s", err);
        goto fail;
    }
    lm->vocab = lm_model_config(lm->m)->vocab;
    /* A tokenizer with more ids than the model's rows (a test model over a
     * real vocabulary) is allowed: an id past vocab_size is refused by
     * decode, naming it, and sampling never makes one. */
    lm->bos = lm->tok ? tokenizer_bos(lm->tok) : lm_model_config(lm->m)->bos;
    lm->add_bos = lm->tok ? tokenizer_add_bos(lm->tok) : lm->bos >= 0;
    collect_stop_ids(lm);
    if ((st = lm_read_folder_settings(lm, path)) != PLINTH_OK)
        goto fail;
    *out = lm;
    return PLINTH_OK;
fail:
    lm_free(lm);
    return st;
}

void plinth_lm_close(plinth_lm *lm)
{
    if (!lm)
        return;
    lm->closed = true;
    if (lm->n_sessions == 0)
        lm_free(lm);
}

plinth_context *plinth_lm_context(const plinth_lm *lm) { return lm ? lm->ctx : NULL; }

static const char *chat_name(lm_chat_kind k)
{
    return k == LM_CHAT_GEMMA ? "gemma" : k == LM_CHAT_LLAMA3 ? "llama3"
           : k == LM_CHAT_CHATML ? "chatml" : "";
}

plinth_status plinth_lm_query_info(const plinth_lm *lm, plinth_lm_info *out)
{
    if (!lm || !out || out->struct_size < sizeof(uint32_t))
        return PLINTH_ERR_INVALID;
    const lm_config *c = lm_model_config(lm->m);
    plinth_lm_info full = {
        .struct_size = sizeof full,
        .arch = c->traits->model_type,
        .vocab = c->vocab,
        .n_layers = c->n_layers,
        .hidden = c->hidden,
        .n_ctx = lm_model_n_ctx(lm->m),
        .n_batch = lm_model_n_prefill(lm->m),
        .max_ctx = c->max_pos,
        .weights = lm_model_weights_dtype(lm->m),
        .converted = lm_model_weights_converted(lm->m),
        .note = lm_model_note(lm->m),
        .n_params = lm_model_param_count(lm->m),
        .weight_bytes = lm_model_weight_bytes(lm->m),
        .prefill_flops = lm_model_prefill_flops(lm->m),
        .bos = lm->bos,
        .eos = lm->n_stop_ids ? lm->stop_ids[0] : -1,
        .add_bos = lm->add_bos,
        .chat_template = chat_name(lm->chat),
    };
    sized_out(out, &full, sizeof full);
    return PLINTH_OK;
}

plinth_program *plinth_lm_prefill_program(const plinth_lm *lm)
{
    return lm ? lm_model_prefill_program(lm->m) : NULL;
}

plinth_program *plinth_lm_decode_program(const plinth_lm *lm)
{
    return lm ? lm_model_decode_program(lm->m) : NULL;
}

/* ----------------------------------------------------------- tokenizer --- */

plinth_status lm_no_tokenizer(plinth_lm *lm, const char *what)
{
    return lm_fail(lm, PLINTH_ERR_UNSUPPORTED, "%s: %s has no tokenizer.json (it runs on token "
                   "ids only)", what, lm->path);
}


plinth_status plinth_lm_tokenize(plinth_lm *lm, const char *text, size_t len, bool add_special,
                                 int32_t *ids, size_t cap, size_t *n_out)
{
    if (!lm || (!text && len) || !n_out || (!ids && cap))
        return PLINTH_ERR_INVALID;
    if (!lm->tok)
        return lm_no_tokenizer(lm, "tokenize");
    int32_t *got = NULL;
    size_t n = 0;
    char err[1024];
    if (tokenizer_encode(lm->tok, text ? text : "", len, add_special && lm->add_bos, &got, &n,
                         err, sizeof err) != 0)
        return lm_fail(lm, PLINTH_ERR_INVALID, "tokenize: %s", err);
    *n_out = n;
    plinth_status st = PLINTH_OK;
    if (n <= cap)
        memcpy(ids, got, n * sizeof *ids);
    else if (cap) /* cap 0 only asks for the size */
        st = lm_fail(lm, PLINTH_ERR_INVALID, "tokenize: the text needs %zu ids, the buffer "
                     "holds %zu", n, cap);
    model_free(lm->ctx, got);
    return st;
}

plinth_status plinth_lm_token_text(plinth_lm *lm, int32_t id, bool first, char *buf,
                                   size_t size, size_t *len_out)
{
    if (!lm || !len_out || (!buf && size))
        return PLINTH_ERR_INVALID;
    if (!lm->tok)
        return lm_no_tokenizer(lm, "token_text");
    const uint32_t need = tokenizer_max_piece_len(lm->tok);
    char stack[512];
    char *tmp = need <= sizeof stack ? stack : model_malloc(lm->ctx, need);
    if (!tmp)
        return lm_fail(lm, PLINTH_ERR_NO_MEMORY, "token_text: out of memory");
    int n = id >= 0 && id < lm->vocab ? tokenizer_piece(lm->tok, id, first, tmp, need) : -1;
    plinth_status st = PLINTH_OK;
    if (n < 0)
        st = lm_fail(lm, PLINTH_ERR_INVALID, "token_text: %d is not a token id of %s (vocab %d)",
                     (int)id, lm->path, (int)lm->vocab);
    else {
        *len_out = (size_t)n;
        if ((size_t)n <= size)
            memcpy(buf, tmp, (size_t)n);
        else if (size)
            st = lm_fail(lm, PLINTH_ERR_INVALID,
                         "token_text: token %d is %d bytes, the buffer holds %zu", (int)id, n,
                         size);
    }
    if (tmp != stack)
        model_free(lm->ctx, tmp);
    return st;
}

size_t plinth_lm_utf8_complete(const char *buf, size_t n)
{
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char c = (unsigned char)buf[n - back];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation byte: look further back */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? n - back : n;
    }
    return n; /* no lead byte in reach: invalid anyway, let it out */
}

int32_t plinth_lm_token_id(plinth_lm *lm, const char *text)
{
    if (!lm || !text || !lm->tok)
        return -1;
    int32_t id = tokenizer_token_id(lm->tok, text);
    return id < lm->vocab ? id : -1;
}

/* ------------------------------------------------------------ sessions --- */

plinth_status plinth_lm_session_create(plinth_lm *lm, plinth_lm_session **out)
{
    if (!out)
        return PLINTH_ERR_INVALID;
    *out = NULL;
    if (!lm || lm->closed)
        return PLINTH_ERR_INVALID;
    plinth_lm_session *s = model_calloc(lm->ctx, 1, sizeof *s);
    const size_t n_ctx = (size_t)lm_model_n_ctx(lm->m);
    if (!s || !(s->tokens = model_calloc(lm->ctx, n_ctx, sizeof *s->tokens)) ||
        !(s->logits = model_calloc(lm->ctx, (size_t)lm->vocab, sizeof *s->logits))) {
        if (s)
            model_free(lm->ctx, s->tokens);
        model_free(lm->ctx, s);
        return lm_fail(lm, PLINTH_ERR_NO_MEMORY, "session: out of memory");
    }
    /* The first session takes the model's own state pool; the others get
     * state sets: an lm with one session holds one KV cache. */
    plinth_status st = PLINTH_OK;
    if (!lm->own_state_taken)
        lm->own_state_taken = s->own_state = true;
    else
        st = plinth_state_set_create(lm_model_model(lm->m), &s->set);
    if (st != PLINTH_OK) {
        model_free(lm->ctx, s->logits);
        model_free(lm->ctx, s->tokens);
        model_free(lm->ctx, s);
        return ctx_error_wrap(lm->ctx, st, "session");
    }
    s->lm = lm;
    lm->n_sessions++;
    *out = s;
    return PLINTH_OK;
}

void plinth_lm_session_destroy(plinth_lm_session *s)
{
    if (!s)
        return;
    plinth_lm *lm = s->lm;
    if (lm->bound == s)
        lm->bound = NULL; /* destroying the bound set binds the model's own pool */
    if (s->own_state)
        lm->own_state_taken = false;
    plinth_state_set_destroy(s->set);
    sampler_free(s->smp);
    model_free(lm->ctx, s->logits);
    model_free(lm->ctx, s->tokens);
    model_free(lm->ctx, s);
    if (--lm->n_sessions == 0 && lm->closed)
        lm_free(lm);
}

plinth_status lm_session_bind(plinth_lm_session *s)
{
    plinth_lm *lm = s->lm;
    if (lm->bound == s)
        return PLINTH_OK;
    plinth_status st = plinth_model_bind_state(lm_model_model(lm->m), s->set);
    if (st != PLINTH_OK)
        return ctx_error_wrap(lm->ctx, st, "session");
    lm->bound = s;
    return PLINTH_OK;
}

plinth_status plinth_lm_session_reset(plinth_lm_session *s)
{
    if (!s)
        return PLINTH_ERR_INVALID;
    s->pos = 0; /* rows past the length are never read: nothing to clear */
    return PLINTH_OK;
}

int32_t plinth_lm_session_position(const plinth_lm_session *s) { return s ? s->pos : 0; }

const int32_t *plinth_lm_session_tokens(const plinth_lm_session *s)
{
    return s ? s->tokens : NULL;
}

plinth_status plinth_lm_session_truncate(plinth_lm_session *s, int32_t n)
{
    if (!s)
        return PLINTH_ERR_INVALID;
    if (n < 0 || n > s->pos)
        return lm_fail(s->lm, PLINTH_ERR_INVALID,
                       "session: cannot truncate to %d positions, it holds %d", (int)n,
                       (int)s->pos);
    s->pos = n;
    return PLINTH_OK;
}

plinth_status plinth_lm_decode(plinth_lm_session *s, const int32_t *tokens, size_t n,
                               float *logits)
{
    if (!s || !tokens || n == 0)
        return PLINTH_ERR_INVALID;
    plinth_lm *lm = s->lm;
    if (!logits && lm->all_logits && n > 1)
        return lm_fail(lm, PLINTH_ERR_INVALID, "decode: an lm opened with all_logits needs a "
                       "logits buffer");
    const int32_t n_ctx = lm_model_n_ctx(lm->m);
    if (n > (size_t)(n_ctx - s->pos))
        return lm_fail(lm, PLINTH_ERR_INVALID,
                       "decode: %zu tokens after %d positions do not fit the context of %d",
                       n, (int)s->pos, (int)n_ctx);
    plinth_status st = lm_session_bind(s);
    if (st != PLINTH_OK)
        return st;
    char err[1024];
    st = lm_model_prefill(lm->m, tokens, (int32_t)n, s->pos, logits ? logits : s->logits, err,
                          sizeof err);
    if (st != PLINTH_OK)
        return lm_fail(lm, st, "decode: %s", err);
    memcpy(s->tokens + s->pos, tokens, n * sizeof *tokens);
    s->pos += (int32_t)n;
    return PLINTH_OK;
}
