/*
 * cli_lm.h — a language model opened for a command (run, logits, tokenize,
 * bench, plan MODEL) through plinth_lm.h alone: the context, the backends
 * of --backend/--fallback in order, the lm and what it says about itself;
 * and what those commands share (the MODEL argument, reading a prompt,
 * peak memory, writing JSON). Implemented in cli_model.c.
 */
#ifndef PLINTH_CLI_LM_H
#define PLINTH_CLI_LM_H

#include "cli.h"
#include "plinth_lm.h"

#include <cJSON.h>

typedef struct cli_lm {
    plinth_context *ctx;
    plinth_backend *list[PLINTH_MAX_BACKENDS];
    uint32_t n_backends;
    char names[256];          /* "vulkan, cpu" */
    plinth_lm *lm;
    plinth_lm_info info;
    double load_ms;
} cli_lm;

/* Checks that `dir` is a folder ("no such model folder" / "not a model
 * folder"), opens the context and backends, then the lm with `opts` (its
 * split from --split-layers/-ngl, a progress bar on a terminal), and says
 * what was loaded with --verbose. Returns 0 or the exit status (the error
 * printed); *m is always safe to close. */
int cli_lm_open(const cli_options *o, const char *dir, plinth_lm_options opts, cli_lm *m);
void cli_lm_close(cli_lm *m);
/* Prints "plinth: <what>: <the lm's context error>" (what may be NULL)
 * and returns 1. */
int cli_lm_fail(const cli_lm *m, const char *what);

/* The MODEL of a command: -m DIR (when given) or the one positional
 * argument left in argv[optind..argc). NULL (with `usage` printed) when
 * there is none or more than one. */
const char *cli_model_dir(const char *m_flag, int argc, char **argv, const char *usage);

/* The whole of FILE, or of stdin for "-", NUL-terminated and malloc'ed;
 * one trailing newline dropped (as llama.cpp's -f). NULL after printing
 * the error. */
char *cli_read_prompt(const char *path, const char *flag);

/* The ids of text[0, len) with the model's bos when it wants one
 * (malloc'ed into *ids). Returns 0, or 1 after printing the error. */
int cli_lm_tokenize(const cli_lm *m, const char *text, size_t len, int32_t **ids, size_t *n);
/* The prompt of a chat in the model's template, ending with the
 * assistant's turn opened (malloc'ed, NUL-terminated). NULL after printing
 * the error. */
char *cli_lm_chat_text(const cli_lm *m, const plinth_lm_message *msgs, size_t n);

/* Peak resident memory of this process so far. */
uint64_t cli_peak_rss(void);

/* Prints `j` unformatted on one line of stdout and deletes it; returns 0,
 * or 1 (said) when cJSON runs out of memory. */
int cli_print_json(cJSON *j);

#endif
