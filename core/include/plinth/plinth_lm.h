/*
 * plinth_lm.h — language models on plinth: open a Hugging Face model folder,
 * tokenize, run sessions, sample, generate.
 *
 *   plinth_lm_open ─► plinth_lm_session_create (one per conversation)
 *   plinth_lm_tokenize / plinth_lm_chat_format
 *   plinth_lm_generate (prefill + sample + decode, a callback per token)
 *     or plinth_lm_decode (tokens in, logits out) + plinth_lm_sample
 *
 * Architectures: gemma3_text, llama (Llama 3.x, rope_scaling llama3), qwen2
 * (Qwen 2.5), qwen3. A folder holds config.json, model.safetensors (or a
 * sharded model.safetensors.index.json), tokenizer.json and, when present,
 * tokenizer_config.json and generation_config.json. Without tokenizer.json
 * the model runs on token ids (decode, sample); calls that need text fail
 * with PLINTH_ERR_UNSUPPORTED saying so. Anything else (another model_type, a rope scaling
 * type or a mixture of experts plinth does not run, a vision tower alone) is
 * refused naming the file, key and value.
 *
 * Objects: an lm keeps its context and backends alive; a session keeps its
 * lm alive (closing the lm first is allowed: it goes when its last session
 * does). All sessions of an lm share one copy of
 * the weights and the compiled programs; each has its own KV cache (state).
 *
 * Threads: an lm and its sessions take one call at a time (the lm's model
 * refuses an overlapping call with PLINTH_ERR_BUSY); separate lms are
 * independent.
 *
 * Errors: every fallible call returns a plinth_status; the message is on
 * the lm's context (plinth_context_error), naming the file, key, token or
 * session.
 */
#ifndef PLINTH_LM_H
#define PLINTH_LM_H

#include "plinth.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct plinth_lm plinth_lm;
typedef struct plinth_lm_session plinth_lm_session;

/* ------------------------------------------------------------ the model --- */

typedef struct plinth_lm_options {
    uint32_t struct_size;
    int32_t n_ctx;        /* positions per session; 0: the model's, at most 4096  */
    int32_t n_batch;      /* tokens per prefill run (longer inputs are chunked);
                             0: 512, at most n_ctx                               */
    bool all_logits;      /* plinth_lm_decode returns every position's logits    */
    bool force_f32;       /* compute with f32 weights whatever the file stores   */
    bool no_weights;      /* compile and allocate, leave the weights zero (plans) */
    /* With several backends: layers [0, split_layers) and the embedding on
     * the first, the rest and the head on the second (llama.cpp's -ngl).
     * 0: each op on the first backend that supports it. */
    int32_t split_layers;
    /* Load progress in [0, 1]; NULL for none. */
    void (*progress)(void *user, double fraction);
    void *progress_user;
    /* Quantise every weight matrix to this block dtype at load (PLINTH_Q8_0,
     * PLINTH_Q4_0, PLINTH_Q4_K, PLINTH_Q6_K; a matrix whose rows are not
     * whole blocks keeps its dtype). 0: compute with the weights as stored. */
    int32_t quantize;
} plinth_lm_options;

/* Opens the model folder `path` on backends[0, n) (1 to PLINTH_MAX_BACKENDS,
 * of one context, in order of preference: each op runs on the first that
 * supports it, as plinth_model_create_multi): reads the config, the
 * checkpoint's headers and the tokenizer, compiles the programs, loads the
 * weights (converted to f32 once, and said in the note, when the backend
 * cannot compute with the stored dtype). `opts` may be NULL. On failure the
 * message is on the backends' context. */
PLINTH_API plinth_status plinth_lm_open(plinth_backend *const *backends, uint32_t n,
                                        const char *path, const plinth_lm_options *opts,
                                        plinth_lm **out);
PLINTH_API void plinth_lm_close(plinth_lm *lm);
/* The context of the lm's backends: plinth_context_error(plinth_lm_context(lm))
 * is the message of the lm's last failed call. */
PLINTH_API plinth_context *plinth_lm_context(const plinth_lm *lm);

/* What was opened (sized). Strings live as long as the lm. */
typedef struct plinth_lm_info {
    uint32_t struct_size;
    const char *arch;          /* config's model_type                           */
    int32_t vocab;
    int32_t n_layers;
    int32_t hidden;
    int32_t n_ctx;             /* positions per session                         */
    int32_t n_batch;           /* tokens per prefill run                        */
    int32_t max_ctx;           /* the model's max_position_embeddings            */
    const char *weights;       /* the stored dtype: "bf16", "f32", "mixed", ...  */
    bool converted;            /* computed as f32 though the file stores another */
    const char *note;          /* why weights were converted, or ""             */
    uint64_t n_params;
    uint64_t weight_bytes;     /* read per decoded token                        */
    double prefill_flops;      /* of one full prefill run (2 per multiply-add)  */
    int32_t bos, eos;          /* -1 when the model has none                    */
    bool add_bos;              /* the tokenizer prepends bos                    */
    const char *chat_template; /* "gemma", "llama3", "chatml", or "" (none known) */
} plinth_lm_info;
PLINTH_API plinth_status plinth_lm_query_info(const plinth_lm *lm, plinth_lm_info *out);

/* The compiled programs, for plans and benchmarks (the prefill program,
 * and the decode program or NULL when n_batch is 1). */
PLINTH_API plinth_program *plinth_lm_prefill_program(const plinth_lm *lm);
PLINTH_API plinth_program *plinth_lm_decode_program(const plinth_lm *lm);

/* -------------------------------------------------------- the tokenizer --- */

/* Encodes text[0, len) (any bytes; invalid UTF-8 falls back to bytes) into
 * at most `cap` ids; *n_out is the number of ids the text needs (call with
 * cap 0 to size), PLINTH_ERR_INVALID when cap is too small. The model's bos
 * is prepended when add_special and the tokenizer says so. Special tokens
 * in the text ("<start_of_turn>") are parsed as such. */
PLINTH_API plinth_status plinth_lm_tokenize(plinth_lm *lm, const char *text, size_t len,
                                            bool add_special, int32_t *ids, size_t cap,
                                            size_t *n_out);
/* The text of one token as it continues a text (`first`: it starts one, so
 * a leading space marker is dropped), into buf[0, size); *len_out is its
 * length (call with size 0 to size). Pieces of one character may split a
 * UTF-8 sequence: plinth_lm_utf8_complete says how much of a buffer of
 * pieces can be printed. */
PLINTH_API plinth_status plinth_lm_token_text(plinth_lm *lm, int32_t id, bool first, char *buf,
                                              size_t size, size_t *len_out);
PLINTH_API size_t plinth_lm_utf8_complete(const char *buf, size_t len);
/* The id of a token by its text ("<end_of_turn>"), or -1. */
PLINTH_API int32_t plinth_lm_token_id(plinth_lm *lm, const char *text);

/* One message of a chat. */
typedef struct plinth_lm_message {
    const char *role;    /* "system", "user", "assistant" */
    const char *content;
} plinth_lm_message;
/* The prompt text of a chat in the model's own chat template (Gemma's,
 * Llama 3's or ChatML for Qwen), ending with the assistant's turn opened
 * when add_generation_prompt. Into buf[0, size) with *len_out as above.
 * PLINTH_ERR_UNSUPPORTED when the tokenizer's template is none of those. */
PLINTH_API plinth_status plinth_lm_chat_format(plinth_lm *lm, const plinth_lm_message *messages,
                                               size_t n, bool add_generation_prompt, char *buf,
                                               size_t size, size_t *len_out);

/* --------------------------------------------------------- the sessions --- */

/* A conversation: its own KV cache over the lm's weights. The first
 * session uses the model's own state pool, the others a state set each,
 * so an lm with one session holds one KV cache. */
PLINTH_API plinth_status plinth_lm_session_create(plinth_lm *lm, plinth_lm_session **out);
PLINTH_API void plinth_lm_session_destroy(plinth_lm_session *s);
/* Forgets every position (a new conversation). */
PLINTH_API plinth_status plinth_lm_session_reset(plinth_lm_session *s);
/* Positions used so far (the next token goes there). */
PLINTH_API int32_t plinth_lm_session_position(const plinth_lm_session *s);
/* The tokens the session holds, position by position (valid until the next
 * call on the session). */
PLINTH_API const int32_t *plinth_lm_session_tokens(const plinth_lm_session *s);
/* Forgets the positions from n on (n <= position): the next token goes at
 * n. A chat that formats the whole conversation again keeps the common
 * prefix and feeds the rest. */
PLINTH_API plinth_status plinth_lm_session_truncate(plinth_lm_session *s, int32_t n);

/* Appends tokens[0, n) at the session's next positions (prefill in runs of
 * n_batch, or one decode step for n == 1) and writes logits: [vocab] of the
 * last token, or [n][vocab] when the lm was opened with all_logits.
 * PLINTH_ERR_INVALID when the context would overflow (nothing is run). */
PLINTH_API plinth_status plinth_lm_decode(plinth_lm_session *s, const int32_t *tokens, size_t n,
                                          float *logits);

/* ------------------------------------------------ sampling, generation --- */

typedef struct plinth_lm_sampling {
    uint32_t struct_size;
    float temperature;     /* <= 0: greedy                                       */
    int32_t top_k;         /* <= 0: no limit                                     */
    float top_p;           /* >= 1: no limit                                     */
    float min_p;           /* <= 0: no limit; else drop p < min_p * p_max        */
    float repeat_penalty;  /* 1: none; else logits of recent tokens divided (>0)
                              or multiplied (<0) by it, as llama.cpp              */
    int32_t repeat_last_n; /* how many recent tokens the penalty looks at; 0: none,
                              -1: the whole context                               */
    uint64_t seed;
} plinth_lm_sampling;

/* The defaults: the model's generation_config.json when it has one, else
 * temperature 1, top_k 64, top_p 0.95, no min_p or penalty, seed 42. */
PLINTH_API plinth_status plinth_lm_default_sampling(const plinth_lm *lm,
                                                    plinth_lm_sampling *out);

/* Called with each generated token and its text (may be "" while a UTF-8
 * sequence or a possible stop string is incomplete); return false to stop.
 * Text still held back when generation ends comes in one last call with
 * token -1. */
typedef bool (*plinth_lm_token_fn)(void *user, int32_t token, const char *text, size_t len);

typedef struct plinth_lm_generate_options {
    uint32_t struct_size;
    plinth_lm_sampling sampling; /* struct_size 0: the lm's defaults             */
    int32_t max_tokens;        /* -1: until the context is full                 */
    bool ignore_eos;           /* keep going past end-of-sequence tokens         */
    const char *const *stop;   /* NULL-terminated stop strings, or NULL          */
    plinth_lm_token_fn on_token;
    void *user;
} plinth_lm_generate_options;

/* Why generation ended. */
typedef enum plinth_lm_stop_reason {
    PLINTH_LM_STOP_EOS = 0,        /* an end-of-sequence / end-of-turn token      */
    PLINTH_LM_STOP_MAX_TOKENS = 1,
    PLINTH_LM_STOP_STRING = 2,     /* a stop string appeared                       */
    PLINTH_LM_STOP_CONTEXT = 3,    /* the context is full                          */
    PLINTH_LM_STOP_CALLBACK = 4    /* on_token returned false                      */
} plinth_lm_stop_reason;

typedef struct plinth_lm_generate_result {
    uint32_t struct_size;
    int32_t n_prompt, n_generated;
    int32_t stop_reason;       /* plinth_lm_stop_reason */
    double prefill_ms, decode_ms;
} plinth_lm_generate_result;

/* Feeds prompt[0, n) to the session (after what it holds), then samples and
 * decodes until a stop; the stop token or string is not passed on. The
 * session keeps every generated token but the last, so a chat continues
 * with the next user turn. `result` may be NULL. */
PLINTH_API plinth_status plinth_lm_generate(plinth_lm_session *s, const int32_t *prompt,
                                            size_t n, const plinth_lm_generate_options *opts,
                                            plinth_lm_generate_result *result);

/* One token from logits[vocab] under `sampling`: the repeat penalty looks
 * at the session's recent tokens, and the session's sampler draws (its RNG
 * starts again at the seed when the settings change). */
PLINTH_API plinth_status plinth_lm_sample(plinth_lm_session *s, const float *logits,
                                          const plinth_lm_sampling *sampling, int32_t *out);

#ifdef __cplusplus
}
#endif
#endif /* PLINTH_LM_H */
