/*
 * plinth.c — the `plinth` command: common flags, subcommand dispatch, and
 * the helpers every subcommand uses. Results go to stdout, errors to stderr,
 * and any error gives a non-zero exit status.
 */
#include "cli.h"

#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char usage[] =
    "usage: plinth [options] COMMAND [args]\n"
    "\n"
    "commands:\n"
    "  devices                  backends found, their devices and features\n"
    "  plan [MODEL] [--json]    memory plans (the built-in demo block without MODEL)\n"
    "  demo                     compile, load and run the demo block\n"
    "  run MODEL -p TEXT        generate text, streamed, timings at the end\n"
    "  run MODEL -i             chat on stdin, a line per turn (the KV cache kept)\n"
    "  logits MODEL --tokens 2,17,9 --out FILE   raw f32 [n_tokens][vocab]\n"
    "  tokenize MODEL -p TEXT   token ids, comma-separated\n"
    "  bench MODEL              prefill and decode tokens/s, memory\n"
    "  bench-ops                single matmuls of the 270M shapes, against this machine\n"
    "  init-random DIR --like 270m|tiny|CONFIG.json   a random-weight checkpoint\n"
    "  quantize IN OUT --type q8_0|q4_0|q4_K|q6_K|q4_K_M   a GGUF file llama.cpp reads\n"
    "  conformance              every backend and device against ref\n"
    "\n"
    "options (before or after the command):\n"
    "  -b, --backend=NAME       backend plugin (default: " PLINTH_DEFAULT_BACKEND "), or a plugin path;\n"
    "                           a list A,B runs each op on the first that supports it\n"
    "      --fallback=NAME[,..] backends after --backend (the same as --backend=A,NAME)\n"
    "      --split-layers=N     run, logits, bench, plan: layers [0, N) on the first\n"
    "                           backend, the rest on the second\n"
    "  -ngl, --n-gpu-layers=N   llama.cpp's name for --split-layers=N (two backends)\n"
    "  -d, --device=N           device index within the backend (default: 0)\n"
    "  -t, --threads=N          worker threads for backends that have them\n"
    "      --backend-config=S   backend options, key=value,...\n"
    "      --quantize=TYPE      quantise the weight matrices at load: q8_0, q4_0, q4_K,\n"
    "                           q6_K (run, logits, bench, plan)\n"
    "      --precision=P        exact (default: f32 arithmetic) or fast (reduced precision\n"
    "                           where this device runs it faster; `plinth devices` says\n"
    "                           what; run, logits, bench, bench-ops, plan)\n"
    "  -P, --plugin-dir=DIR     look for plugins in DIR first (repeatable)\n"
    "      --json               JSON on stdout (plan, run, tokenize, logits, bench;\n"
    "                           the other commands refuse it)\n"
    "  -v, --verbose            log what the runtime does\n"
    "  -h, --help               this text (COMMAND --help: the command's own)\n"
    "  -V, --version            print the version\n"
    "\n"
    "Plugins are searched in --plugin-dir, $PLINTH_PLUGIN_PATH, then the plinth/\n"
    "folder beside libplinth (<libdir>/plinth when installed; the build tree's\n"
    "plugins when run from the build tree), in that order.\n";

static void log_to_stderr(void *user, int level, const char *message)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    (void)user;
    fprintf(stderr, "plinth: %s: %s\n", names[level < 0 ? 0 : level > 3 ? 3 : level], message);
}

plinth_context *cli_context(const cli_options *o)
{
    plinth_context_options opts = {
        .struct_size = sizeof opts,
        .log = log_to_stderr,
        .log_level = o->verbose ? PLINTH_LOG_DEBUG : PLINTH_LOG_WARN,
        .plugin_dirs = o->n_plugin_dirs ? o->plugin_dirs : NULL,
    };
    plinth_context *ctx = NULL;
    plinth_status st = plinth_context_create(&opts, &ctx);
    if (st != PLINTH_OK) {
        fprintf(stderr, "plinth: cannot create a context: %s\n", plinth_status_name(st));
        return NULL;
    }
    return ctx;
}

plinth_backend *cli_open_backend(plinth_context *ctx, const cli_options *o)
{
    if (strchr(o->backend, ',') || o->fallback) {
        fprintf(stderr, "plinth: this command runs on one backend, not a list ('%s%s%s')\n",
                o->backend, o->fallback ? "' with fallback '" : "",
                o->fallback ? o->fallback : "");
        return NULL;
    }
    plinth_device_options dopts = {.struct_size = sizeof dopts, .n_threads = o->threads,
                                   .config = o->config, .precision = o->precision};
    plinth_backend *b = NULL;
    if (plinth_backend_open(ctx, o->backend, o->device, &dopts, &b) != PLINTH_OK) {
        cli_fail(ctx, "cannot open backend");
        return NULL;
    }
    return b;
}

void cli_close_backends(plinth_backend **list, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        plinth_backend_close(list[i]);
}

/* Opens the comma-separated names of `names` after the n already in out. */
static bool open_names(plinth_context *ctx, const cli_options *o, const char *names,
                       plinth_backend **out, uint32_t *n, uint32_t max)
{
    for (const char *p = names; *p;) {
        size_t len = strcspn(p, ",");
        char name[1024];
        if (len == 0 || len >= sizeof name || *n == max) {
            fprintf(stderr, "plinth: --backend/--fallback: %s in '%s'\n",
                    *n == max ? "too many backends" : "an empty or overlong name", names);
            return false;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        bool first = *n == 0;
        plinth_device_options dopts = {.struct_size = sizeof dopts, .n_threads = o->threads,
                                       .config = first ? o->config : NULL,
                                       .precision = o->precision};
        if (plinth_backend_open(ctx, name, first ? o->device : 0, &dopts, &out[*n]) !=
            PLINTH_OK) {
            cli_fail(ctx, "cannot open backend");
            return false;
        }
        (*n)++;
        p += len + (p[len] == ',');
    }
    return true;
}

uint32_t cli_open_backends(plinth_context *ctx, const cli_options *o, plinth_backend **out,
                           uint32_t max)
{
    uint32_t n = 0;
    if (!open_names(ctx, o, o->backend, out, &n, max) ||
        (o->fallback && !open_names(ctx, o, o->fallback, out, &n, max))) {
        cli_close_backends(out, n);
        return 0;
    }
    if (o->split_layers && n < 2) {
        if (o->split_from_ngl)
            fprintf(stderr, "plinth: -ngl %u is --split-layers=%u here: layers [0, %u) on the "
                            "first backend, the rest on the second, and ", o->split_layers,
                    o->split_layers, o->split_layers);
        else
            fprintf(stderr, "plinth: ");
        fprintf(stderr, "--split-layers needs two backends (--backend=A,B or "
                        "--backend=A --fallback=B)\n");
        cli_close_backends(out, n);
        return 0;
    }
    return n;
}

const char *cli_backend_names(plinth_backend *const *list, uint32_t n, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "",
                                plinth_backend_name(list[i]));
    return buf;
}

int cli_fail(plinth_context *ctx, const char *what)
{
    fprintf(stderr, "plinth: %s: %s\n", what, plinth_context_error(ctx));
    return 1;
}

const char *cli_bytes(uint64_t bytes, char *buf, size_t size)
{
    if (bytes >= (1ull << 30))
        snprintf(buf, size, "%.2f GiB", (double)bytes / (1ull << 30));
    else if (bytes >= (1ull << 20))
        snprintf(buf, size, "%.2f MiB", (double)bytes / (1ull << 20));
    else if (bytes >= (1ull << 10))
        snprintf(buf, size, "%.1f KiB", (double)bytes / (1ull << 10));
    else
        snprintf(buf, size, "%llu B", (unsigned long long)bytes);
    return buf;
}

double cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int cli_parse_u32(const char *s, const char *flag, uint32_t *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || *s == '-' || v > 0xffffffffUL) {
        fprintf(stderr, "plinth: %s wants a non-negative integer, got '%s'\n", flag, s);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int cli_parse_i32(const char *s, const char *flag, int32_t min, int32_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < min || v > INT32_MAX) {
        fprintf(stderr, "plinth: %s wants an integer from %d to %d, got '%s'\n", flag, (int)min,
                (int)INT32_MAX, s);
        return -1;
    }
    *out = (int32_t)v;
    return 0;
}

int cli_parse_float(const char *s, const char *flag, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || fabs(v) > FLT_MAX) {
        fprintf(stderr, "plinth: %s wants a number, got '%s'\n", flag, s);
        return -1;
    }
    *out = (float)v;
    return 0;
}

/* --json on a command that has no JSON output: said, exit status 2. */
static int refuse_json(const cli_options *o)
{
    fprintf(stderr, "plinth: %s\n", o->json_refusal);
    return 2;
}

int cli_common_flag(int c, cli_options *o, const char *cmd_usage)
{
    switch (c) {
    case 'b': o->backend = optarg; o->backend_given = true; return CLI_PARSED;
    case 'd': return cli_parse_u32(optarg, "--device", &o->device) ? 2 : CLI_PARSED;
    case 't': return cli_parse_u32(optarg, "--threads", &o->threads) ? 2 : CLI_PARSED;
    case CLI_OPT_CONFIG: o->config = optarg; return CLI_PARSED;
    case CLI_OPT_FALLBACK: o->fallback = optarg; return CLI_PARSED;
    case CLI_OPT_SPLIT:
        o->split_from_ngl = false;
        return cli_parse_u32(optarg, "--split-layers", &o->split_layers) ? 2 : CLI_PARSED;
    case CLI_OPT_QUANTIZE:
        for (int32_t dt = 0; dt < PLINTH_DTYPE_COUNT; dt++)
            if (plinth_dtype_block_elems(dt) > 1 && !strcasecmp(optarg, plinth_dtype_label(dt))) {
                o->quantize = dt;
                return CLI_PARSED;
            }
        fprintf(stderr, "plinth: --quantize %s: expected q8_0, q4_0, q4_K or q6_K\n", optarg);
        return 2;
    case CLI_OPT_PRECISION:
        if (!strcmp(optarg, "exact") || !strcmp(optarg, "fast")) {
            o->precision = optarg[0] == 'f' ? PLINTH_PRECISION_FAST : PLINTH_PRECISION_EXACT;
            return CLI_PARSED;
        }
        fprintf(stderr, "plinth: --precision %s: expected exact or fast\n", optarg);
        return 2;
    case CLI_OPT_NGL:
        o->split_from_ngl = true;
        return cli_parse_u32(optarg, "-ngl", &o->split_layers) ? 2 : CLI_PARSED;
    case 'P':
        if (o->n_plugin_dirs == CLI_MAX_PLUGIN_DIRS) {
            fprintf(stderr, "plinth: at most %d --plugin-dir\n", CLI_MAX_PLUGIN_DIRS);
            return 2;
        }
        o->plugin_dirs[o->n_plugin_dirs++] = optarg;
        return CLI_PARSED;
    case CLI_OPT_JSON:
        o->json = true;
        return o->json_refusal ? refuse_json(o) : CLI_PARSED;
    case 'v': o->verbose = true; return CLI_PARSED;
    case 'h': fputs(cmd_usage ? cmd_usage : usage, stdout); return 0;
    default: fputs(cmd_usage ? cmd_usage : usage, stderr); return 2;
    }
}

int cli_parse_common(cli_options *o, int argc, char **argv, const char *cmd_usage)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS};
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_OPTSTRING, longopts, NULL)) != -1) {
        int rc = cli_common_flag(c, o, cmd_usage);
        if (rc != CLI_PARSED)
            return rc;
    }
    return CLI_PARSED;
}

static const struct {
    const char *name;
    int (*fn)(cli_options *o, int argc, char **argv);
    const char *json_refusal; /* NULL: the command takes --json */
} commands[] = {
    {"devices", cli_devices, "devices: --json is not supported (the listing is text only)"},
    {"plan", cli_plan, NULL},
    {"demo", cli_demo, "demo: --json is not supported (plan --json prints the demo's plan)"},
    {"run", cli_run, NULL},
    {"logits", cli_logits, NULL},
    {"tokenize", cli_tokenize, NULL},
    {"bench", cli_bench, NULL},
    {"bench-ops", cli_bench_ops, "bench-ops: --json is not supported (a text table only)"},
    {"init-random", cli_init_random, "init-random: --json is not supported (it writes files)"},
    {"quantize", cli_quantize, "quantize: --json is not supported (it writes a file)"},
    {"conformance", cli_conformance,
     "conformance: --json is not supported; --report=FILE.json writes the JSON report"},
};

/* llama.cpp's single-dash long flags, as their double-dash forms. */
static void rewrite_llama_flags(int argc, char **argv)
{
    static const char *const from[] = {"-ngl", "-sys", "-cnv"};
    static char *const to[] = {"--n-gpu-layers", "--system-prompt", "--conversation"};
    for (int i = 1; i < argc; i++)
        for (size_t k = 0; k < sizeof from / sizeof from[0]; k++)
            if (strcmp(argv[i], from[k]) == 0)
                argv[i] = to[k];
}

int main(int argc, char **argv)
{
    cli_options o = {.backend = PLINTH_DEFAULT_BACKEND};
    static const struct option longopts[] = {
        {"version", no_argument, NULL, 'V'},
        CLI_COMMON_LONGOPTS,
    };
    rewrite_llama_flags(argc, argv);
    /* '+': stop at the command; it parses the rest (common flags included). */
    int c;
    while ((c = getopt_long(argc, argv, "+" CLI_COMMON_OPTSTRING "V", longopts, NULL)) != -1) {
        if (c == 'V') {
            printf("plinth %s (plugin ABI %u)\n", PLINTH_VERSION_STRING, PLINTH_ABI_VERSION);
            return 0;
        }
        int rc = cli_common_flag(c, &o, NULL);
        if (rc != CLI_PARSED)
            return rc;
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(cmd, commands[i].name) == 0) {
            o.json_refusal = commands[i].json_refusal;
            if (o.json && o.json_refusal)
                return refuse_json(&o);
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 0; /* a full getopt reset for the command's own parse */
            return commands[i].fn(&o, sub_argc, sub_argv);
        }
    }
    fprintf(stderr, "plinth: unknown command '%s' (see plinth --help)\n", cmd);
    return 2;
}
