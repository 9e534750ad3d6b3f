/*
 * bench_executor.c — what the static executor costs per instruction.
 *
 *   bench_executor [--backend NAME] [--ops N] [--runs N]
 *
 * A program of N chained `scale` ops on a one-element f32 tensor: the
 * kernels do almost nothing, so a run's time divided by N is the executor's
 * per-instruction overhead (the loop, the kernel call through the plugin
 * table, status checks) plus one trivial kernel. Prints the median of 7
 * batches in ns per instruction. Under callgrind
 * (`valgrind --tool=callgrind bench_executor --runs 1000`) the instruction
 * count of plinth_program_run divided by runs x N is the same figure in
 * instructions, free of timing noise.
 */
#include "plinth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define CHECK(call)                                                                  \
    do {                                                                             \
        if ((call) != PLINTH_OK) {                                                   \
            fprintf(stderr, "bench_executor: %s: %s\n", #call,                      \
                    plinth_context_error(ctx));                                      \
            return 1;                                                                \
        }                                                                            \
    } while (0)

int main(int argc, char **argv)
{
    const char *backend = "cpu";
    int n_ops = 256, runs = 2000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc)
            backend = argv[++i];
        else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc)
            n_ops = atoi(argv[++i]);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_executor [--backend NAME] [--ops N] [--runs N]\n");
            return 2;
        }
    }
    if (n_ops < 1 || runs < 1) {
        fprintf(stderr, "bench_executor: --ops and --runs must be positive\n");
        return 2;
    }

    plinth_context *ctx = NULL;
    if (plinth_context_create(NULL, &ctx) != PLINTH_OK)
        return 1;
    plinth_backend *be = NULL;
    plinth_device_options dopts = {.struct_size = sizeof dopts, .n_threads = 1};
    CHECK(plinth_backend_open(ctx, backend, 0, &dopts, &be));
    plinth_model *model = NULL;
    CHECK(plinth_model_create(be, &model));
    plinth_graph *g = NULL;
    CHECK(plinth_graph_create(ctx, &g));
    int64_t shape[1] = {1};
    plinth_node x = plinth_input(g, "x", PLINTH_F32, 1, shape);
    /* scale is elementwise: the planner runs the chain in place, so every
     * instruction reads and writes the same 4 bytes. */
    for (int i = 0; i < n_ops; i++)
        x = plinth_scale(g, x, 1.0f);
    CHECK(plinth_output(g, x, "y"));
    plinth_program *prog = NULL;
    CHECK(plinth_program_compile(model, g, NULL, &prog));
    plinth_graph_destroy(g);
    CHECK(plinth_model_load_empty(model));
    float one = 1.0f, y = 0.0f;
    CHECK(plinth_program_set_input(prog, 0, &one, sizeof one));

    enum { BATCHES = 7 };
    double per[BATCHES];
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now_ns();
        for (int r = 0; r < runs; r++)
            CHECK(plinth_program_run(prog));
        per[b] = (now_ns() - t0) / ((double)runs * n_ops);
    }
    CHECK(plinth_program_get_output(prog, 0, &y, sizeof y));
    qsort(per, BATCHES, sizeof *per, cmp_double);
    printf("backend %s: %d instructions x %d runs: %.2f ns per instruction (median of %d; "
           "min %.2f, max %.2f); y = %g\n",
           backend, n_ops, runs, per[BATCHES / 2], BATCHES, per[0], per[BATCHES - 1], y);

    plinth_program_destroy(prog);
    plinth_model_destroy(model);
    plinth_backend_close(be);
    plinth_context_destroy(ctx);
    return 0;
}
