/*
 * bench_vulkan.c — the vulkan plugin's own numbers (meson benchmark, not a
 * test), through the public API: cost of running an empty program,
 * per-dispatch cost in a 100-dispatch program, 1024^3 f32 matmul, and the
 * decode matvec 262144 x 640 with f32 and bf16 weights. Medians of
 * plinth_program_run (the plugin's execute and the wait for it); prints one
 * line each.
 *
 * Usage: bench_vulkan PLUGIN [config [matvec]]   (PLUGIN: a path or a name;
 *        VK_DRIVER_FILES picks the driver; "matvec": only the decode matvec)
 *
 * Sections: programs and timing; the measurements.
 */
#include "plinth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ----------------------------------------------------- programs, timing --- */

static plinth_context *ctx;
static plinth_backend *backend;
static char last_program[256]; /* the plugin's "program of ..." debug line */

static void on_log(void *user, int level, const char *msg)
{
    (void)user;
    if (strstr(msg, "program of "))
        snprintf(last_program, sizeof last_program, "%s", msg);
    else if (level <= PLINTH_LOG_WARN)
        fprintf(stderr, "bench_vulkan: %s\n", msg);
}

static void check(plinth_status st, const char *what)
{
    if (st != PLINTH_OK) {
        fprintf(stderr, "bench_vulkan: %s: %s\n", what, plinth_context_error(ctx));
        exit(1);
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static plinth_graph *new_graph(void)
{
    plinth_graph *g = NULL;
    check(plinth_graph_create(ctx, &g), "graph");
    return g;
}

/* Median seconds of `reps` runs of g compiled on the backend (params zero),
 * after one warm-up run. The graph is destroyed. */
static double time_graph(plinth_graph *g, int reps)
{
    plinth_model *m = NULL;
    plinth_program *p = NULL;
    check(plinth_graph_status(g), "building the graph");
    check(plinth_model_create(backend, &m), "model");
    check(plinth_program_compile(m, g, NULL, &p), "compile");
    plinth_graph_destroy(g);
    check(plinth_model_load_empty(m), "load");
    check(plinth_program_run(p), "run"); /* warm */
    double *t = malloc((size_t)reps * sizeof *t);
    if (!t)
        check(PLINTH_ERR_NO_MEMORY, "timings");
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        check(plinth_program_run(p), "run");
        t[i] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    double med = t[reps / 2];
    free(t);
    plinth_program_destroy(p);
    plinth_model_destroy(m);
    return med;
}

/* ----------------------------------------------------- the measurements --- */

/* x op x with x of `n` f32 (n = 0: nothing to dispatch). */
static plinth_node vector(plinth_graph *g, int64_t n)
{
    const int64_t s[1] = {n};
    return plinth_input(g, "x", PLINTH_F32, 1, s);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_vulkan PLUGIN [config [matvec]]\n");
        return 2;
    }
    plinth_context_options co = {.struct_size = sizeof co, .log = on_log,
                                 .log_level = PLINTH_LOG_DEBUG};
    if (plinth_context_create(&co, &ctx) != PLINTH_OK) {
        fprintf(stderr, "bench_vulkan: cannot create a context\n");
        return 1;
    }
    plinth_device_options o = {.struct_size = sizeof o, .config = argc > 2 ? argv[2] : NULL};
    check(plinth_backend_open(ctx, argv[1], 0, &o, &backend), "open");
    plinth_device_info info = {.struct_size = sizeof info};
    check(plinth_backend_device_info(backend, &info), "device info");
    printf("device: %s\n", info.name);

    /* argv[3] "matvec": only the decode matvec (quick A/B of variants) */
    const bool only_mv = argc > 3 && strcmp(argv[3], "matvec") == 0;
    if (!only_mv) {
        /* An add of empty vectors: an instruction with nothing to dispatch,
         * so the program is the submit and the wait alone. */
        plinth_graph *g = new_graph();
        plinth_node x = vector(g, 0);
        plinth_output(g, plinth_add(g, x, x), "y");
        last_program[0] = '\0';
        const double t = time_graph(g, 301);
        if (!strstr(last_program, ": 0 dispatches"))
            fprintf(stderr, "bench_vulkan: the empty program is not empty: %s\n", last_program);
        printf("empty program (submit + wait): %.1f us median\n", t * 1e6);

        g = new_graph(); /* independent: no barriers needed */
        x = vector(g, 64);
        for (int i = 0; i < 100; i++) {
            char name[16];
            snprintf(name, sizeof name, "y%d", i);
            plinth_output(g, plinth_add(g, x, x), name);
        }
        double t100 = time_graph(g, 51);
        printf("100 independent dispatches: %.2f ms median = %.1f us per dispatch\n",
               t100 * 1e3, (t100 - t) / 100 * 1e6);
        g = new_graph(); /* a chain: a barrier before each */
        x = vector(g, 64);
        plinth_node y = x;
        for (int i = 0; i < 100; i++)
            y = plinth_add(g, y, x);
        plinth_output(g, y, "y");
        t100 = time_graph(g, 51);
        printf("100 dependent dispatches:   %.2f ms median = %.1f us per dispatch\n",
               t100 * 1e3, (t100 - t) / 100 * 1e6);

        const int64_t n = 1024, nn[2] = {n, n};
        for (int tb = 1; tb >= 0; tb--) {
            g = new_graph();
            plinth_node a = plinth_input(g, "a", PLINTH_F32, 2, nn);
            plinth_node b = plinth_input(g, "b", PLINTH_F32, 2, nn);
            plinth_output(g, plinth_matmul(g, a, b, tb), "c");
            const double tm = time_graph(g, 5);
            printf(tb ? "matmul 1024^3 f32 (b transposed): %.1f ms = %.2f GFLOP/s\n"
                      : "matmul 1024^3 f32 (b plain):      %.1f ms = %.2f GFLOP/s\n",
                   tm * 1e3, 2.0 * (double)(n * n * n) / tm * 1e-9);
        }
    }
    const int64_t rows = 262144, k = 640;
    for (int dt = 0; dt < 3; dt += 2) {
        const plinth_dtype wdt = dt == 0 ? PLINTH_F32 : PLINTH_BF16;
        const uint64_t wbytes = (uint64_t)rows * k * plinth_dtype_size(wdt);
        plinth_graph *g = new_graph();
        const int64_t xs[2] = {1, k}, ws[2] = {rows, k};
        plinth_node x = plinth_input(g, "x", PLINTH_F32, 2, xs);
        plinth_output(g, plinth_matmul(g, x, plinth_param(g, "w", wdt, 2, ws), true), "y");
        const double t = time_graph(g, 7);
        printf("matvec 262144x640 %s weights: %.1f ms = %.2f GB/s\n",
               wdt == PLINTH_F32 ? "f32" : "bf16", t * 1e3, (double)wbytes / t * 1e-9);
    }
    plinth_backend_close(backend);
    plinth_context_destroy(ctx);
    return 0;
}
