/*
 * lm_internal.h — the objects behind plinth_lm.h, shared by its files:
 * lm.c (open, info, tokenizer, sessions, decode), lm_generate.c (sampling,
 * generation, stop strings) and lm_chat.c (chat templates, generation
 * defaults from the folder's JSON files). Not part of the public API.
 */
#ifndef PLINTH_LM_INTERNAL_H
#define PLINTH_LM_INTERNAL_H

#include "lm_model.h"
#include "plinth_lm.h"
#include "sampling.h"
#include "tokenizer.h"

/* The chat templates plinth knows. */
typedef enum lm_chat_kind { LM_CHAT_NONE = 0, LM_CHAT_GEMMA, LM_CHAT_LLAMA3, LM_CHAT_CHATML } lm_chat_kind;

#define LM_MAX_STOP_IDS 16

struct plinth_lm {
    plinth_context *ctx;
    lm_model *m;
    tokenizer *tok;            /* NULL: no tokenizer.json (token ids only) */
    char *path;
    int32_t vocab;
    lm_chat_kind chat;
    bool chat_default_system;   /* ChatML of Qwen 2.5: a system turn when none is given */
    bool add_bos;
    bool all_logits;
    bool chat_template_known;  /* tokenizer_config.json named a template */
    int32_t bos;
    int32_t stop_ids[LM_MAX_STOP_IDS]; /* eos and end-of-turn tokens */
    int32_t n_stop_ids;
    plinth_lm_sampling sampling;       /* defaults (generation_config.json) */
    uint32_t n_sessions;               /* alive; the lm goes with the last */
    bool closed;
    plinth_lm_session *bound;          /* whose state the model runs on */
    bool own_state_taken;              /* a session holds the model's own pool */
};

struct plinth_lm_session {
    plinth_lm *lm;
    plinth_state_set *set;     /* NULL: the model's own state pool       */
    bool own_state;
    int32_t pos;               /* positions used                         */
    int32_t *tokens;           /* [n_ctx]: what each position holds      */
    sampler *smp;              /* the sampler of the last settings used  */
    plinth_lm_sampling smp_settings;
    float *logits;             /* [vocab] scratch for generate           */
};

/* lm.c: makes s's state the one the model runs on. */
plinth_status lm_session_bind(plinth_lm_session *s);
/* lm.c: s->lm's context error with "session: " context. */
plinth_status lm_fail(plinth_lm *lm, plinth_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* lm.c: the error of a call that needs text when the folder has no
 * tokenizer.json. */
plinth_status lm_no_tokenizer(plinth_lm *lm, const char *what);

/* lm_chat.c: the folder's tokenizer_config.json (chat template, add_bos)
 * and generation_config.json (sampling defaults) into lm. Missing files
 * leave the defaults; a malformed one is an error naming it. */
plinth_status lm_read_folder_settings(plinth_lm *lm, const char *dir);

#endif
