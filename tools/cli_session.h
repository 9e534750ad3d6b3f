/*
 * cli_session.h — a Gemma 3 model opened for a command (cli_model.c): the
 * context, the backends of --backend/--fallback in order, and the model
 * loaded on them.
 */
#ifndef PLINTH_CLI_SESSION_H
#define PLINTH_CLI_SESSION_H

#include "cli.h"
#include "lm_model.h"

typedef struct session {
    plinth_context *ctx;
    plinth_backend *backend;  /* the first of the list */
    plinth_backend *list[PLINTH_MAX_BACKENDS];
    uint32_t n_backends;
    char names[256];          /* "vulkan, cpu" */
    lm_model *m;
    double load_ms;
} session;

/* Context, backends, and the model loaded with `go` (its fallbacks and
 * split from the options). Returns 0 or the exit status (the error
 * printed). */
int session_open(const cli_options *o, const char *dir, lm_model_options go, session *s);
void session_close(session *s);

#endif
