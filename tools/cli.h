/*
 * cli.h — what the `plinth` command's parts share: the common flags, the
 * context they open, and one entry point per subcommand.
 *
 * A command gets argv starting at its own name and parses it with
 * getopt_long over its own options followed by CLI_COMMON_LONGOPTS, passing
 * every option code it does not know to cli_common_flag().
 */
#ifndef PLINTH_CLI_H
#define PLINTH_CLI_H

#include "plinth.h"

#include <getopt.h>
#include <stdbool.h>

#define CLI_MAX_PLUGIN_DIRS 16

typedef struct cli_options {
    /* --backend: a backend, or an ordered list "a,b" (default:
     * PLINTH_DEFAULT_BACKEND); --fallback: more backends after it. */
    const char *backend;
    bool backend_given;    /* --backend was on the command line              */
    const char *fallback;  /* --fallback NAME[,NAME...], NULL for none       */
    uint32_t split_layers; /* --split-layers N: first N layers on the first
                              backend, the rest on the second (0: no split)  */
    uint32_t device;       /* --device                                       */
    uint32_t threads;      /* --threads, 0 = backend default                 */
    const char *config;    /* --backend-config key=value,...                 */
    bool split_from_ngl;   /* it came as llama.cpp's -ngl N                  */
    int32_t quantize;      /* --quantize TYPE: a block dtype, 0 for none     */
    int32_t precision;     /* --precision exact|fast: enum plinth_precision,
                              given to every backend opened               */
    bool verbose;          /* --verbose                                      */
    bool json;             /* --json                                         */
    /* Why the command refuses --json (NULL: it takes it); set by main. */
    const char *json_refusal;
    const char *plugin_dirs[CLI_MAX_PLUGIN_DIRS + 1];
    int n_plugin_dirs;
} cli_options;

/* getopt codes of the common options (long-only ones are >= 256). */
enum { CLI_OPT_JSON = 256, CLI_OPT_CONFIG, CLI_OPT_FALLBACK, CLI_OPT_SPLIT, CLI_OPT_NGL, CLI_OPT_QUANTIZE,
       CLI_OPT_PRECISION, CLI_OPT_FIRST_FREE = 300 };

#define CLI_COMMON_OPTSTRING "b:d:t:P:vh"
#define CLI_COMMON_LONGOPTS                                     \
    {"backend", required_argument, NULL, 'b'},                  \
    {"device", required_argument, NULL, 'd'},                   \
    {"threads", required_argument, NULL, 't'},                  \
    {"plugin-dir", required_argument, NULL, 'P'},               \
    {"backend-config", required_argument, NULL, CLI_OPT_CONFIG}, \
    {"fallback", required_argument, NULL, CLI_OPT_FALLBACK},    \
    {"split-layers", required_argument, NULL, CLI_OPT_SPLIT},   \
    {"n-gpu-layers", required_argument, NULL, CLI_OPT_NGL},     \
    {"gpu-layers", required_argument, NULL, CLI_OPT_NGL},       \
    {"json", no_argument, NULL, CLI_OPT_JSON},                  \
    {"quantize", required_argument, NULL, CLI_OPT_QUANTIZE},   \
    {"precision", required_argument, NULL, CLI_OPT_PRECISION}, \
    {"verbose", no_argument, NULL, 'v'},                        \
    {"help", no_argument, NULL, 'h'},                           \
    {NULL, 0, NULL, 0}

/* Returned by cli_common_flag when it consumed the option. */
#define CLI_PARSED (-1)
/* Handles a common option code (c from getopt_long); returns CLI_PARSED, or
 * an exit status (0 after --help with `usage` printed, 2 for a bad value or
 * an unknown option). */
int cli_common_flag(int c, cli_options *o, const char *usage);
/* For commands with no options of their own: parses the common flags of
 * argv; positional arguments are then argv[optind..argc). Returns
 * CLI_PARSED or an exit status. */
int cli_parse_common(cli_options *o, int argc, char **argv, const char *cmd_usage);
/* Parses a non-negative integer flag value; prints and returns -1 if bad. */
int cli_parse_u32(const char *s, const char *flag, uint32_t *out);
/* An integer in [min, INT32_MAX] (e.g. -1 for "no limit"); prints and
 * returns -1 if bad. */
int cli_parse_i32(const char *s, const char *flag, int32_t min, int32_t *out);
/* A finite number; prints and returns -1 if bad. */
int cli_parse_float(const char *s, const char *flag, float *out);

/* Creates the context with the CLI's log sink (stderr) and plugin dirs. */
plinth_context *cli_context(const cli_options *o);
/* Opens --backend/--device, printing the error on failure (returns NULL).
 * For commands that run on one backend: a list is refused. */
plinth_backend *cli_open_backend(plinth_context *ctx, const cli_options *o);
/* Opens every backend of --backend (a comma-separated list) then of
 * --fallback, in order, into out[0..max): the first with --device and
 * --backend-config, the others device 0 with their defaults; --threads and
 * --precision for all. Returns how many, or 0 after printing the error. */
uint32_t cli_open_backends(plinth_context *ctx, const cli_options *o, plinth_backend **out,
                           uint32_t max);
void cli_close_backends(plinth_backend **list, uint32_t n);
/* "template, cpu" into buf. */
const char *cli_backend_names(plinth_backend *const *list, uint32_t n, char *buf, size_t size);
/* Where a program's instructions run, why the ones on a later backend are
 * not on an earlier one, its transfers and each backend's pools; nothing
 * for a model on one backend (cli_placement.c). `backends` are the
 * program's model's, in its order. */
void cli_print_placement(plinth_program *prog, plinth_backend *const *backends, uint32_t n);
/* Prints "plinth: <what>: <ctx error>" on stderr and returns 1. */
int cli_fail(plinth_context *ctx, const char *what);
/* "1.50 MiB" */
const char *cli_bytes(uint64_t bytes, char *buf, size_t size);
double cli_now_ms(void);
/* Read bandwidth in GB/s with `threads` threads, the median of `samples`
 * passes over 1 GiB (cli_readbw.c); 0 if the buffer cannot be had. */
double cli_read_bandwidth(uint32_t threads, uint32_t samples);

/* Subcommands: argv[0] is the command's name. */
int cli_devices(cli_options *o, int argc, char **argv);
int cli_plan(cli_options *o, int argc, char **argv);   /* demo block, or MODEL */
int cli_demo(cli_options *o, int argc, char **argv);
int cli_conformance(cli_options *o, int argc, char **argv); /* cli_conformance.c */
int cli_run(cli_options *o, int argc, char **argv);         /* cli_run.c */
int cli_logits(cli_options *o, int argc, char **argv);      /* cli_logits.c */
int cli_tokenize(cli_options *o, int argc, char **argv);    /* cli_tokenize.c */
int cli_bench(cli_options *o, int argc, char **argv);       /* cli_bench.c */
int cli_bench_ops(cli_options *o, int argc, char **argv);   /* cli_bench_ops.c */
int cli_init_random(cli_options *o, int argc, char **argv); /* cli_init_random.c */
int cli_quantize(cli_options *o, int argc, char **argv);    /* cli_quantize.c */
/* `plinth plan MODEL` (flags already parsed): the model's programs' plans
 * (cli_model_plan.c). */
int cli_model_plan(cli_options *o, const char *model_dir);

#endif
