/*
 * cli.h — what the `plinth` command's parts share: parsed common flags, the
 * context they open, and one entry per subcommand.
 */
#ifndef PLINTH_CLI_H
#define PLINTH_CLI_H

#include "plinth.h"

#include <stdbool.h>

#define CLI_MAX_PLUGIN_DIRS 16

typedef struct cli_options {
    const char *backend;   /* --backend (default "ref" until faster ones land) */
    uint32_t device;       /* --device                                      */
    uint32_t threads;      /* --threads, 0 = backend default                */
    bool verbose;          /* --verbose                                     */
    bool json;             /* --json                                        */
    const char *plugin_dirs[CLI_MAX_PLUGIN_DIRS + 1];
    int n_plugin_dirs;
} cli_options;

/* Creates the context with the CLI's log sink (stderr) and plugin dirs. */
plinth_context *cli_context(const cli_options *o);
/* Opens --backend/--device, printing the error on failure (returns NULL). */
plinth_backend *cli_open_backend(plinth_context *ctx, const cli_options *o);
/* Prints "plinth: <what>: <ctx error>" on stderr and returns 1. */
int cli_fail(plinth_context *ctx, const char *what);
/* "1.50 MiB" */
const char *cli_bytes(uint64_t bytes, char *buf, size_t size);
double cli_now_ms(void);

int cli_devices(const cli_options *o, int argc, char **argv);
int cli_plan(const cli_options *o, int argc, char **argv);
int cli_demo(const cli_options *o, int argc, char **argv);

#endif
