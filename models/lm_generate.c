/*
 * lm_generate.c — plinth_lm.h's sampling and generation: the repeat
 * penalty, the sampler a session keeps, and the loop that feeds a prompt,
 * samples, streams text to a callback and stops at an end-of-turn token, a
 * stop string, the token budget or the end of the context.
 */
#include "lm_internal.h"
#include "model_mem.h"

#include "internal.h" /* sized_out: the one copy of a sized output */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* A sampling struct the caller filled; false for none (struct_size 0). */
static bool read_sampling(const plinth_lm_sampling *in, plinth_lm_sampling *out)
{
    return in && lm_sized_in(in, out, sizeof *out);
}

plinth_status plinth_lm_default_sampling(const plinth_lm *lm, plinth_lm_sampling *out)
{
    if (!lm || !out || out->struct_size < sizeof(uint32_t))
        return PLINTH_ERR_INVALID;
    sized_out(out, &lm->sampling, sizeof lm->sampling);
    return PLINTH_OK;
}

/* llama.cpp's repeat penalty: each distinct token among the last n the
 * session holds has its logit divided by the penalty when positive and
 * multiplied by it when not. Works on a copy (dst). */
static const float *penalised(plinth_lm_session *s, const float *logits,
                              const plinth_lm_sampling *o, float *dst)
{
    if (!s || !(o->repeat_penalty > 0) || o->repeat_penalty == 1.0f || o->repeat_last_n == 0 ||
        s->pos == 0)
        return logits;
    const int32_t V = s->lm->vocab;
    memcpy(dst, logits, (size_t)V * sizeof *dst);
    int32_t n = o->repeat_last_n < 0 || o->repeat_last_n > s->pos ? s->pos : o->repeat_last_n;
    for (int32_t i = s->pos - n; i < s->pos; i++) {
        const int32_t t = s->tokens[i];
        bool seen = false; /* once per distinct token, as llama.cpp */
        for (int32_t j = s->pos - n; j < i && !seen; j++)
            seen = s->tokens[j] == t;
        if (seen || t < 0 || t >= V)
            continue;
        dst[t] = dst[t] > 0 ? dst[t] / o->repeat_penalty : dst[t] * o->repeat_penalty;
    }
    return dst;
}

/* The session's sampler for these settings (made again when they change,
 * which restarts its RNG at the seed). */
static sampler *session_sampler(plinth_lm_session *s, const plinth_lm_sampling *o)
{
    if (s->smp && memcmp(&s->smp_settings, o, sizeof *o) == 0)
        return s->smp;
    sampler_free(s->smp);
    sampler_options so = {.temperature = o->temperature, .top_k = o->top_k, .top_p = o->top_p,
                          .min_p = o->min_p, .seed = o->seed};
    s->smp = sampler_create(s->lm->ctx, &so, s->lm->vocab);
    s->smp_settings = *o;
    return s->smp;
}

plinth_status plinth_lm_sample(plinth_lm_session *s, const float *logits,
                               const plinth_lm_sampling *sampling, int32_t *out)
{
    plinth_lm_sampling o;
    if (!s || !logits || !out || !read_sampling(sampling, &o))
        return PLINTH_ERR_INVALID;
    float *tmp = model_calloc(s->lm->ctx, (size_t)s->lm->vocab, sizeof *tmp);
    sampler *smp = session_sampler(s, &o);
    if (!tmp || !smp) {
        model_free(s->lm->ctx, tmp);
        return lm_fail(s->lm, PLINTH_ERR_NO_MEMORY, "sample: out of memory");
    }
    *out = sampler_sample(smp, penalised(s, logits, &o, tmp));
    model_free(s->lm->ctx, tmp);
    return PLINTH_OK;
}

/* ------------------------------------------------------------ generate --- */

/* The text generated so far and how much of it the callback has seen.
 * Text that could still become a stop string, or that ends inside a UTF-8
 * sequence, is held back. */
typedef struct text_out {
    plinth_context *ctx;
    char *buf;
    size_t len, cap, emitted;
    const char *const *stop;
} text_out;

static bool text_append(text_out *t, const char *p, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *grown = model_realloc(t->ctx, t->buf, cap);
        if (!grown)
            return false;
        t->buf = grown;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
    t->buf[t->len] = '\0';
    return true;
}

/* Where the first stop string starts in the text (searching from where a
 * new match could begin), or -1. */
static long find_stop(const text_out *t, size_t from)
{
    long best = -1;
    for (const char *const *s = t->stop; s && *s; s++) {
        const size_t n = strlen(*s);
        if (n == 0)
            continue;
        const size_t start = from > n ? from - n : 0;
        const char *hit = t->len >= n ? memmem(t->buf + start, t->len - start, *s, n) : NULL;
        if (hit && (best < 0 || hit - t->buf < best))
            best = hit - t->buf;
    }
    return best;
}

/* How much of the text may go out: not a suffix that begins a stop string. */
static size_t safe_end(const text_out *t)
{
    size_t end = t->len;
    for (const char *const *s = t->stop; s && *s; s++) {
        const size_t n = strlen(*s);
        for (size_t k = n > 1 ? n - 1 : 0; k > 0; k--)
            if (k <= t->len && memcmp(t->buf + t->len - k, *s, k) == 0) {
                if (t->len - k < end)
                    end = t->len - k;
                break;
            }
    }
    if (end < t->emitted)
        end = t->emitted;
    return t->emitted + plinth_lm_utf8_complete(t->buf + t->emitted, end - t->emitted);
}

plinth_status plinth_lm_generate(plinth_lm_session *s, const int32_t *prompt, size_t n,
                                 const plinth_lm_generate_options *opts_in,
                                 plinth_lm_generate_result *result)
{
    plinth_lm_generate_options o = {0};
    if (!s || (!prompt && n) || !opts_in || !lm_sized_in(opts_in, &o, sizeof o))
        return PLINTH_ERR_INVALID;
    plinth_lm *lm = s->lm;
    if (!lm->tok)
        return lm_no_tokenizer(lm, "generate");
    plinth_lm_sampling sp;
    if (!read_sampling(&o.sampling, &sp))
        sp = lm->sampling; /* the struct was left zero: the lm's defaults */
    plinth_lm_generate_result res = {.struct_size = sizeof res, .n_prompt = (int32_t)n};
    const int32_t n_ctx = lm_model_n_ctx(lm->m);
    if (n == 0 && s->pos == 0)
        return lm_fail(lm, PLINTH_ERR_INVALID, "generate: nothing to continue (an empty prompt "
                       "on an empty session)");
    plinth_status st = PLINTH_OK;
    double t0 = now_ms();
    if (n) {
        if (n > (size_t)(n_ctx - s->pos))
            return lm_fail(lm, PLINTH_ERR_INVALID,
                           "generate: the prompt (%zu tokens) after %d positions does not fit "
                           "the context of %d", n, (int)s->pos, (int)n_ctx);
        if ((st = plinth_lm_decode(s, prompt, n, lm->all_logits ? NULL : s->logits)) != PLINTH_OK)
            return st;
        if (lm->all_logits) /* the last row is what is sampled from */
            return lm_fail(lm, PLINTH_ERR_INVALID, "generate: open the lm without all_logits");
    } else {
        /* Continue from the last token the session holds: run it again at
         * its position to get its logits. */
        const int32_t last = s->tokens[s->pos - 1];
        s->pos--;
        if ((st = plinth_lm_decode(s, &last, 1, s->logits)) != PLINTH_OK)
            return st;
    }
    res.prefill_ms = now_ms() - t0;
    t0 = now_ms();

    text_out text = {.ctx = lm->ctx, .stop = o.stop};
    const size_t piece_cap = lm->tok ? tokenizer_max_piece_len(lm->tok) + 1 : 1;
    char *piece = model_malloc(lm->ctx, piece_cap);
    float *tmp = model_calloc(lm->ctx, (size_t)lm->vocab, sizeof *tmp);
    sampler *smp = session_sampler(s, &sp);
    if (!piece || !tmp || !smp) {
        st = lm_fail(lm, PLINTH_ERR_NO_MEMORY, "generate: out of memory");
        goto out;
    }
    const int32_t max = o.max_tokens < 0 ? INT32_MAX : o.max_tokens;
    res.stop_reason = PLINTH_LM_STOP_MAX_TOKENS;
    for (int32_t k = 0; k < max; k++) {
        const int32_t next = sampler_sample(smp, penalised(s, s->logits, &sp, tmp));
        bool is_stop = false;
        for (int32_t i = 0; i < lm->n_stop_ids && !o.ignore_eos; i++)
            is_stop |= lm->stop_ids[i] == next;
        if (is_stop) {
            res.stop_reason = PLINTH_LM_STOP_EOS;
            break;
        }
        res.n_generated++;
        /* The text continues the session's: never the first piece. */
        int len = lm->tok ? tokenizer_piece(lm->tok, next, false, piece, piece_cap) : 0;
        const size_t before = text.len;
        if (len > 0 && !text_append(&text, piece, (size_t)len)) {
            st = lm_fail(lm, PLINTH_ERR_NO_MEMORY, "generate: out of memory");
            break;
        }
        const long hit = find_stop(&text, before);
        const size_t end = hit >= 0 ? (size_t)hit : safe_end(&text);
        bool go_on = true;
        if (o.on_token) {
            go_on = o.on_token(o.user, next, text.buf ? text.buf + text.emitted : "",
                               end - text.emitted);
            text.emitted = end;
        }
        if (hit >= 0) {
            res.stop_reason = PLINTH_LM_STOP_STRING;
            break;
        }
        if (!go_on) {
            res.stop_reason = PLINTH_LM_STOP_CALLBACK;
            break;
        }
        if (k + 1 == max)
            break;
        if (s->pos >= n_ctx) { /* no position left to decode it at */
            res.stop_reason = PLINTH_LM_STOP_CONTEXT;
            break;
        }
        if ((st = plinth_lm_decode(s, &next, 1, s->logits)) != PLINTH_OK)
            break;
    }
    /* Whatever was held back for a UTF-8 sequence or a stop string that
     * never came goes out at the end. */
    if (st == PLINTH_OK && o.on_token && res.stop_reason != PLINTH_LM_STOP_STRING &&
        text.emitted < text.len)
        o.on_token(o.user, -1, text.buf + text.emitted, text.len - text.emitted);
out:
    res.decode_ms = now_ms() - t0;
    model_free(lm->ctx, text.buf);
    model_free(lm->ctx, piece);
    model_free(lm->ctx, tmp);
    if (result)
        sized_out(result, &res, sizeof res);
    return st;
}
