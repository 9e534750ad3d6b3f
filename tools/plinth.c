/*
 * plinth.c — the `plinth` command: common flags, subcommand dispatch, and
 * the helpers every subcommand uses. Results go to stdout, errors to stderr,
 * and any error gives a non-zero exit status.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: plinth [options] COMMAND [args]\n"
    "\n"
    "commands:\n"
    "  devices              backends found, their devices and features\n"
    "  plan [--json]        compile the built-in demo block; print its memory plan\n"
    "  demo                 compile, load and run the demo block on --backend\n"
    "\n"
    "options:\n"
    "  -b, --backend=NAME   backend plugin to use (default: ref), or a plugin path\n"
    "  -d, --device=N       device index within the backend (default: 0)\n"
    "  -t, --threads=N      worker threads for backends that have them\n"
    "  -P, --plugin-dir=DIR look for plugins in DIR first (repeatable)\n"
    "      --json           machine-readable output where supported\n"
    "  -v, --verbose        log what the runtime does\n"
    "  -h, --help           this text\n"
    "  -V, --version        print the version\n"
    "\n"
    "Plugins are searched in --plugin-dir, $PLINTH_PLUGIN_PATH, the install\n"
    "libdir and the build tree, in that order.\n";

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
    plinth_device_options dopts = {.struct_size = sizeof dopts, .n_threads = o->threads};
    plinth_backend *b = NULL;
    if (plinth_backend_open(ctx, o->backend, o->device, &dopts, &b) != PLINTH_OK) {
        cli_fail(ctx, "cannot open backend");
        return NULL;
    }
    return b;
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

static int parse_u32(const char *s, const char *flag, uint32_t *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v > 0xffffffffUL) {
        fprintf(stderr, "plinth: %s wants a non-negative integer, got '%s'\n", flag, s);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

enum { OPT_JSON = 256, PARSED = -1 };

static const struct option longopts[] = {
    {"backend", required_argument, NULL, 'b'},
    {"device", required_argument, NULL, 'd'},
    {"threads", required_argument, NULL, 't'},
    {"plugin-dir", required_argument, NULL, 'P'},
    {"json", no_argument, NULL, OPT_JSON},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* Parses the common flags of argv[optind..]; returns PARSED, or the exit
 * status when the flags already decided it (--help, --version, an error). */
static int parse_flags(int argc, char **argv, const char *optstring, cli_options *o)
{
    int c;
    while ((c = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
        switch (c) {
        case 'b': o->backend = optarg; break;
        case 'd': if (parse_u32(optarg, "--device", &o->device)) return 2; break;
        case 't': if (parse_u32(optarg, "--threads", &o->threads)) return 2; break;
        case 'P':
            if (o->n_plugin_dirs == CLI_MAX_PLUGIN_DIRS) {
                fprintf(stderr, "plinth: at most %d --plugin-dir\n", CLI_MAX_PLUGIN_DIRS);
                return 2;
            }
            o->plugin_dirs[o->n_plugin_dirs++] = optarg;
            break;
        case OPT_JSON: o->json = true; break;
        case 'v': o->verbose = true; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V':
            printf("plinth %s (plugin ABI %u)\n", PLINTH_VERSION_STRING, PLINTH_ABI_VERSION);
            return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    return PARSED;
}

int main(int argc, char **argv)
{
    cli_options o = {.backend = "ref"};
    /* '+' stops at the command; flags may also follow it, so the command's
     * own arguments are parsed again with the same table. */
    int rc = parse_flags(argc, argv, "+b:d:t:P:vhV", &o);
    if (rc != PARSED)
        return rc;
    if (optind >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 1;
    rc = parse_flags(sub_argc, sub_argv, "b:d:t:P:vhV", &o);
    if (rc != PARSED)
        return rc;
    sub_argc -= optind;
    sub_argv += optind;

    if (strcmp(cmd, "devices") == 0)
        return cli_devices(&o, sub_argc, sub_argv);
    if (strcmp(cmd, "plan") == 0)
        return cli_plan(&o, sub_argc, sub_argv);
    if (strcmp(cmd, "demo") == 0)
        return cli_demo(&o, sub_argc, sub_argv);
    fprintf(stderr, "plinth: unknown command '%s' (see plinth --help)\n", cmd);
    return 2;
}
