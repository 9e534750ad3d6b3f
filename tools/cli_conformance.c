/*
 * cli_conformance.c — `plinth conformance`: every backend and device against
 * ref, with a live progress line, a summary table, each failure with what
 * reproduces it, and JSON / JUnit reports. Exit status: 0 all passed, 1 any
 * failure (or a stale xfail), 2 bad usage or a run that could not start.
 *
 * Sections: 1 usage and flags; 2 the progress line; 3 the command.
 */
#include "cli.h"
#include "conformance.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ 1 --- */

static const char usage[] =
    "usage: plinth conformance [options]\n"
    "\n"
    "Runs the conformance suite: every op on many dtypes, shapes and layouts, and\n"
    "whole graphs, on each backend x device x configuration, against the ref\n"
    "backend (the oracle). Outputs are NaN-poisoned and guarded; results are\n"
    "compared by normalised MSE with a bound derived from dtype and reduction length.\n"
    "\n"
    "  -b, --backend=NAME|all   backend to test (default: all that load)\n"
    "      --plugin=PATH        test the plugin file at PATH (an out-of-tree backend)\n"
    "  -d, --device=N|all       device index (default: all)\n"
    "      --backend-config=S   run only this configuration (default: the configs\n"
    "                           listed in the backend's expectations file)\n"
    "      --op=NAME            only this op's cases\n"
    "      --case=GLOB          only cases whose name matches GLOB\n"
    "      --no-graphs          skip the whole-graph cases\n"
    "      --model=DIR          also run the Gemma 3 model in DIR end to end, every\n"
    "                           position's logits against ref (repeatable)\n"
    "      --fallback=NAME[,..] run the whole graphs on a model of the backend and these\n"
    "                           (a partial plugin runs whole models: each op on the\n"
    "                           first that supports it), and report which ops ran where\n"
    "      --seed=S             base seed (default: fresh, printed); each case's seed\n"
    "                           derives from it and the case name\n"
    "      --report=FILE.json   write the full JSON report\n"
    "      --junit=FILE.xml     write a JUnit XML report\n"
    "      --expectations=DIR   skip/xfail/config files (<backend>.txt)\n"
    "      --list               list the cases and exit\n"
    "  -P, --plugin-dir=DIR     look for plugins in DIR first\n"
    "  -h, --help               this text\n";

enum {
    OPT_DEVICE = CLI_OPT_FIRST_FREE,
    OPT_PLUGIN,
    OPT_MODEL,
    OPT_OP,
    OPT_CASE,
    OPT_NO_GRAPHS,
    OPT_SEED,
    OPT_REPORT,
    OPT_JUNIT,
    OPT_EXPECT,
    OPT_LIST,
};

/* ------------------------------------------------------------------ 2 --- */

typedef struct progress {
    bool tty;
    double t0;
} progress;

static void on_case(void *user, const conf_run *run, const conf_target *t,
                    const conf_record *rec, uint32_t done, uint32_t total)
{
    progress *p = user;
    (void)run;
    if (rec->r.status == CONF_FAIL || rec->r.status == CONF_XPASS) {
        /* Failures scroll above the progress line as they happen. */
        fprintf(stderr, "%s%s %s/%u: %s: %s\n", p->tty ? "\r\033[K" : "",
                rec->r.status == CONF_XPASS ? "XPASS" : "FAIL", t->backend, t->device,
                rec->name, rec->r.message);
    }
    if (!p->tty)
        return;
    static double last;
    double now = cli_now_ms();
    if (done != total && now - last < 50)
        return;
    last = now;
    char line[120];
    if (snprintf(line, sizeof line, "[%5u/%u] %s/%u %s  %s", done, total, t->backend, t->device,
             t->config[0] ? t->config : "", rec->name) < 0)
        return;
    fprintf(stderr, "\r\033[K%.*s", 110, line);
    fflush(stderr);
}

/* ------------------------------------------------------------------ 3 --- */

int cli_conformance(cli_options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"device", required_argument, NULL, OPT_DEVICE},
        {"plugin", required_argument, NULL, OPT_PLUGIN},
        {"model", required_argument, NULL, OPT_MODEL},
        {"op", required_argument, NULL, OPT_OP},
        {"case", required_argument, NULL, OPT_CASE},
        {"no-graphs", no_argument, NULL, OPT_NO_GRAPHS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"report", required_argument, NULL, OPT_REPORT},
        {"junit", required_argument, NULL, OPT_JUNIT},
        {"expectations", required_argument, NULL, OPT_EXPECT},
        {"list", no_argument, NULL, OPT_LIST},
        CLI_COMMON_LONGOPTS,
    };
    conf_options co = {.op = PLINTH_OP_COUNT, .graphs = true, .device = o->device,
                       .all_devices = o->device == 0};
    const char *report = NULL, *junit = NULL, *plugin = NULL;
    bool list = false, seed_given = false;
    char plugin_buf[1100];
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_OPTSTRING, longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
        case OPT_DEVICE:
            if (strcmp(optarg, "all") == 0) {
                co.all_devices = true;
            } else {
                if (cli_parse_u32(optarg, "--device", &co.device))
                    return 2;
                co.all_devices = false;
            }
            break;
        case OPT_PLUGIN: plugin = optarg; break;
        case OPT_MODEL: {
            char err[512];
            if (!conf_graph_register_gemma3(optarg, err, sizeof err)) {
                fprintf(stderr, "plinth: conformance: --model: %s\n", err);
                return 2;
            }
            break;
        }
        case OPT_OP:
            co.op = plinth_op_from_name(optarg);
            if (co.op >= PLINTH_OP_COUNT) {
                fprintf(stderr, "plinth: conformance: unknown op '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_CASE: co.case_glob = optarg; break;
        case OPT_NO_GRAPHS: co.graphs = false; break;
        case OPT_SEED:
            if (cli_parse_u32(optarg, "--seed", &co.seed))
                return 2;
            seed_given = true;
            break;
        case OPT_REPORT: report = optarg; break;
        case OPT_JUNIT: junit = optarg; break;
        case OPT_EXPECT: co.expect_dir = optarg; break;
        case OPT_LIST: list = true; break;
        default: {
            int rc = cli_common_flag(c, o, usage);
            if (rc != CLI_PARSED)
                return rc;
        }
        }
    }
    if (optind < argc) {
        fprintf(stderr, "plinth: conformance: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (list) {
        conf_case_list l;
        if (!conf_cases_build(&l, co.op))
            return 2;
        for (uint32_t i = 0; i < l.n; i++)
            if (!co.case_glob || conf_glob(co.case_glob, l.v[i].name))
                printf("%s\n", l.v[i].name);
        for (uint32_t i = 0; co.graphs && co.op >= PLINTH_OP_COUNT && i < conf_graph_count(); i++)
            printf("%s\n", conf_graph_get(i)->name);
        conf_cases_free(&l);
        return 0;
    }
    if (plugin) {
        /* A path without '/' would be taken for a backend name. */
        snprintf(plugin_buf, sizeof plugin_buf, "%s%s", strchr(plugin, '/') ? "" : "./", plugin);
        co.backend = plugin_buf;
    } else {
        co.backend = o->backend_given ? o->backend : "all";
    }
    if (!seed_given)
        co.seed = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
    co.config = o->config;
    co.config_given = o->config != NULL;
    co.fallback = o->fallback;
    co.n_threads = o->threads;
    o->plugin_dirs[o->n_plugin_dirs] = NULL;
    co.plugin_dirs = o->n_plugin_dirs ? o->plugin_dirs : NULL;
    progress pr = {.tty = isatty(2) != 0, .t0 = cli_now_ms()};
    co.progress = on_case;
    co.user = &pr;

    printf("plinth conformance: oracle ref, base seed %u (reproduce with --seed=%u)\n",
           co.seed, co.seed);
    fflush(stdout);
    conf_run run;
    char err[1024] = "";
    plinth_status st = conf_run_all(&co, &run, err, sizeof err);
    if (pr.tty)
        fprintf(stderr, "\r\033[K");
    if (st != PLINTH_OK) {
        fprintf(stderr, "plinth: conformance: %s\n", err);
        conf_run_free(&run);
        return 2;
    }
    printf("\n");
    conf_report_table(stdout, &run);
    if (co.fallback) {
        printf("\nwhole graphs with fallback '%s' (ops per backend):\n", co.fallback);
        conf_report_placement(stdout, &run);
    }
    const uint32_t failed = conf_run_failed(&run);
    if (failed) {
        printf("\nfailures:\n");
        conf_report_failures(stdout, &run);
    }
    int rc = failed ? 1 : 0;
    if (report && !conf_report_json(&run, report, err, sizeof err)) {
        fprintf(stderr, "plinth: conformance: %s\n", err);
        rc = 2;
    }
    if (junit && !conf_report_junit(&run, junit, err, sizeof err)) {
        fprintf(stderr, "plinth: conformance: %s\n", err);
        rc = 2;
    }
    printf("\n%s: %u failure(s) in %.1f s\n", failed ? "FAILED" : "OK", failed, run.ms / 1e3);
    conf_run_free(&run);
    return rc;
}
