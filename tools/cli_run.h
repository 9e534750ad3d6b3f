/*
 * cli_run.h — `plinth run`'s parts: the parsed arguments, the text sink a
 * generation streams into, and the timing line, shared by the one-shot run
 * (cli_run.c) and the interactive chat (cli_chat.c).
 */
#ifndef PLINTH_CLI_RUN_H
#define PLINTH_CLI_RUN_H

#include "cli_lm.h"

#define RUN_MAX_STOPS 16

typedef struct run_args {
    const char *model;
    const char *prompt_flag;   /* -p's value ("-": stdin)                      */
    const char *file;          /* -f                                           */
    const char *system;        /* --system                                     */
    char *prompt;              /* the text of -p, stdin or -f (owned), or NULL */
    bool chat;                 /* --chat: the prompt is a user turn            */
    bool interactive;          /* -i: turns from stdin                         */
    /* Sampling from the command line over the model's defaults: a field
     * counts where its bit in `given` is set. */
    plinth_lm_sampling sampling;
    uint32_t given;
    plinth_lm_generate_options gen; /* max_tokens, ignore_eos, stop            */
    const char *stops[RUN_MAX_STOPS + 1];
    uint32_t n_stops;
} run_args;

/* Where generated text goes: stdout as it comes (print), and/or kept in
 * text (collect). */
typedef struct run_out {
    bool print, collect, oom;
    char *text;
    size_t len, cap;
} run_out;

/* plinth_lm_generate's on_token over a run_out. */
bool run_on_token(void *user, int32_t token, const char *text, size_t len);

/* "load … | prefill … | decode … | peak memory … | backend …" on stderr. */
void run_timing_line(const cli_lm *m, int32_t n_prompt, double prefill_ms, int32_t n_gen,
                     double decode_ms);

/* The message when the context ended a generation (stderr). */
void run_context_full(const cli_lm *m, int32_t n_gen);

/* -i: the chat loop over stdin (cli_chat.c). The lm is open; a->gen is
 * ready. Returns the exit status. */
int cli_chat(const cli_options *o, cli_lm *m, run_args *a);

#endif
