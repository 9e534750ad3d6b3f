/*
 * cli_plan.c — `plinth plan` and `plinth demo` on the built-in demo block.
 *
 * plan: compile and print the memory plan with its lower bound (or --json).
 * demo: compile, load deterministic pseudo-random weights, run, and print a
 *       checksum of the output with the timings.
 */
#include "cli.h"
#include "demo_graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct demo {
    plinth_context *ctx;
    plinth_backend *backend; /* the first of the list */
    plinth_backend *list[PLINTH_MAX_BACKENDS];
    uint32_t n_backends;
    plinth_model *model;
    plinth_program *prog;
} demo;

static void demo_close(demo *d)
{
    plinth_program_destroy(d->prog);
    plinth_model_destroy(d->model);
    cli_close_backends(d->list, d->n_backends);
    plinth_context_destroy(d->ctx);
}

/* Context, backend, model, and the compiled demo program. Returns 0 or the
 * exit status (the error already printed). */
static int demo_compile(const cli_options *o, demo *d, double *compile_ms)
{
    memset(d, 0, sizeof *d);
    if (!(d->ctx = cli_context(o)))
        return 1;
    if (o->split_layers) {
        fprintf(stderr, "plinth: --split-layers is for models (the demo block has one layer)\n");
        return 2;
    }
    if (!(d->n_backends = cli_open_backends(d->ctx, o, d->list, PLINTH_MAX_BACKENDS)))
        return 1;
    d->backend = d->list[0];
    if (plinth_model_create_multi(d->list, d->n_backends, &d->model) != PLINTH_OK)
        return cli_fail(d->ctx, "model");
    plinth_graph *g = NULL;
    if (plinth_graph_create(d->ctx, &g) != PLINTH_OK)
        return cli_fail(d->ctx, "graph");
    double t0 = cli_now_ms();
    plinth_status st = demo_build(g, &demo_default);
    if (st == PLINTH_OK)
        st = plinth_program_compile(d->model, g, NULL, &d->prog);
    *compile_ms = cli_now_ms() - t0;
    plinth_graph_destroy(g);
    return st == PLINTH_OK ? 0 : cli_fail(d->ctx, "compile");
}

static void print_plan(const demo_config *c, const plinth_plan_stats *s, double compile_ms)
{
    char a[32], lb[32], nv[32], p[32], st[32], io[32];
    printf("demo block: T=%lld hidden=%lld heads=%lldx%lld kv_heads=%lld ffn=%lld context=%lld\n",
           (long long)c->tokens, (long long)c->hidden, (long long)c->heads,
           (long long)c->head_dim, (long long)c->kv_heads, (long long)c->ffn,
           (long long)c->context);
    printf("  instructions    %u per run, %u folded at load, %u views (no copy)\n",
           s->n_instructions, s->n_fold_instructions, s->n_views);
    printf("  arena           %s  (%u tensors, %u in place)\n",
           cli_bytes(s->arena_bytes, a, sizeof a), s->n_arena_tensors, s->n_inplace);
    printf("  lower bound     %s  (arena / bound = %.3f)\n",
           cli_bytes(s->lower_bound, lb, sizeof lb),
           s->lower_bound ? (double)s->arena_bytes / (double)s->lower_bound : 1.0);
    printf("  without reuse   %s\n", cli_bytes(s->naive_bytes, nv, sizeof nv));
    printf("  persistent      %s\n", cli_bytes(s->persistent_bytes, p, sizeof p));
    printf("  state           %s\n", cli_bytes(s->state_bytes, st, sizeof st));
    printf("  io              %s\n", cli_bytes(s->io_bytes, io, sizeof io));
    printf("  compile         %.1f ms\n", compile_ms);
}

static const char plan_usage[] =
    "usage: plinth plan [[-m] MODEL] [--json] [--backend=NAME[,NAME...]] [--fallback=NAME]\n"
    "                   [--split-layers=N]\n"
    "Prints the memory plan of MODEL's programs, or of the built-in demo block:\n"
    "arena bytes next to the lower bound, persistent, state and io bytes. On several\n"
    "backends also where each op runs, what fell back to a later backend and why, the\n"
    "transfers per run with their bytes, and each backend's pools; a backend that runs\n"
    "no op of the graph alone gets every op it lacks listed in one error.\n";

int cli_plan(cli_options *o, int argc, char **argv)
{
    static const struct option longopts[] = {{"model", required_argument, NULL, 'm'},
                                             CLI_COMMON_LONGOPTS};
    const char *model = NULL;
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_COMMON_OPTSTRING "m:", longopts, NULL)) != -1) {
        if (c == 'm') {
            model = optarg;
        } else if ((rc = cli_common_flag(c, o, plan_usage)) != CLI_PARSED) {
            return rc;
        }
    }
    if (argc - optind + (model != NULL) > 1) {
        fprintf(stderr, "plinth: plan takes at most one MODEL\n");
        return 2;
    }
    if (model || optind < argc) /* a model: its own builder knows its programs */
        return cli_model_plan(o, model ? model : argv[optind]);
    demo d;
    double compile_ms = 0;
    rc = demo_compile(o, &d, &compile_ms);
    if (rc == 0) {
        /* Persistent and state sizes are fixed at load; an empty load makes
         * them known without weights. */
        if (plinth_model_load_empty(d.model) != PLINTH_OK) {
            rc = cli_fail(d.ctx, "load");
        } else if (o->json) {
            const char *json = NULL;
            if (plinth_program_plan_json(d.prog, &json) != PLINTH_OK)
                rc = cli_fail(d.ctx, "plan");
            else
                printf("%s\n", json);
        } else {
            plinth_plan_stats s = {.struct_size = sizeof s};
            plinth_program_plan_stats(d.prog, &s);
            print_plan(&demo_default, &s, compile_ms);
            cli_print_placement(d.prog, d.list, d.n_backends);
        }
    }
    demo_close(&d);
    return rc;
}

/* A small deterministic generator (xorshift): the demo needs repeatable,
 * non-zero weights, not good randomness. */
static float next_uniform(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static plinth_status fill(plinth_model *m, const char *name, size_t n, float scale, uint64_t *s)
{
    float *v = malloc(n * sizeof *v);
    if (!v)
        return PLINTH_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++)
        v[i] = next_uniform(s) * scale;
    plinth_status st = plinth_model_set_param(m, name, v, n * sizeof *v);
    free(v);
    return st;
}

static plinth_status demo_weights(plinth_model *m, const demo_config *c)
{
    const size_t H = (size_t)c->hidden, D = (size_t)c->head_dim, F = (size_t)c->ffn;
    const size_t q = (size_t)c->heads * D, kv = (size_t)c->kv_heads * D;
    const struct { const char *name; size_t n; float scale; } w[] = {
        {"demo.q_proj.weight", q * H, 0.04f},   {"demo.k_proj.weight", kv * H, 0.04f},
        {"demo.v_proj.weight", kv * H, 0.04f},  {"demo.o_proj.weight", H * q, 0.04f},
        {"demo.gate_proj.weight", F * H, 0.04f}, {"demo.up_proj.weight", F * H, 0.04f},
        {"demo.down_proj.weight", H * F, 0.02f},
        {"demo.input_layernorm.weight", H, 0.1f}, {"demo.q_norm.weight", D, 0.1f},
        {"demo.k_norm.weight", D, 0.1f}, {"demo.post_attention_layernorm.weight", H, 0.1f},
        {"demo.pre_feedforward_layernorm.weight", H, 0.1f},
        {"demo.post_feedforward_layernorm.weight", H, 0.1f},
    };
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        plinth_status st = fill(m, w[i].name, w[i].n, w[i].scale, &s);
        if (st != PLINTH_OK)
            return st;
    }
    return PLINTH_OK;
}

static const char demo_usage[] =
    "usage: plinth demo [--backend=NAME]\n"
    "Compiles the built-in demo block, loads deterministic pseudo-random weights,\n"
    "runs it once and prints a checksum of the output with the timings.\n";

int cli_demo(cli_options *o, int argc, char **argv)
{
    int rc = cli_parse_common(o, argc, argv, demo_usage);
    if (rc != CLI_PARSED)
        return rc;
    if (optind < argc) {
        fprintf(stderr, "plinth: demo takes no arguments\n");
        return 2;
    }
    const demo_config *c = &demo_default;
    demo d;
    double compile_ms = 0;
    rc = demo_compile(o, &d, &compile_ms);
    if (rc) {
        demo_close(&d);
        return rc;
    }
    double t0 = cli_now_ms();
    if (plinth_model_load_empty(d.model) != PLINTH_OK || demo_weights(d.model, c) != PLINTH_OK) {
        rc = cli_fail(d.ctx, "load");
        demo_close(&d);
        return rc;
    }
    double load_ms = cli_now_ms() - t0;

    size_t T = (size_t)c->tokens, H = (size_t)c->hidden;
    float *x = malloc(T * H * sizeof *x), *y = malloc(T * H * sizeof *y);
    int32_t *pos = malloc(T * sizeof *pos), kv_len = (int32_t)T;
    uint64_t s = 42;
    for (size_t i = 0; x && i < T * H; i++)
        x[i] = next_uniform(&s);
    for (size_t t = 0; pos && t < T; t++)
        pos[t] = (int32_t)t;
    double run_ms = 0;
    if (!x || !y || !pos) {
        fprintf(stderr, "plinth: out of memory\n");
        rc = 1;
    } else if (plinth_program_set_input(d.prog, (uint32_t)plinth_program_input_index(d.prog, "x"), x, T * H * sizeof *x) ||
               plinth_program_set_input(d.prog, (uint32_t)plinth_program_input_index(d.prog, "pos"), pos, T * sizeof *pos) ||
               plinth_program_set_input(d.prog, (uint32_t)plinth_program_input_index(d.prog, "kv_len"), &kv_len, sizeof kv_len)) {
        rc = cli_fail(d.ctx, "input");
    } else {
        t0 = cli_now_ms();
        if (plinth_program_run(d.prog) != PLINTH_OK)
            rc = cli_fail(d.ctx, "run");
        run_ms = cli_now_ms() - t0;
        if (!rc && plinth_program_get_output(d.prog, 0, y, T * H * sizeof *y) != PLINTH_OK)
            rc = cli_fail(d.ctx, "output");
    }
    if (!rc) {
        double sum = 0, sq = 0;
        for (size_t i = 0; i < T * H; i++) {
            sum += y[i];
            sq += (double)y[i] * y[i];
        }
        plinth_plan_stats st = {.struct_size = sizeof st};
        plinth_program_plan_stats(d.prog, &st);
        char a[32];
        char names[256];
        printf("demo block on backend '%s': %lld tokens x %lld hidden\n",
               cli_backend_names(d.list, d.n_backends, names, sizeof names),
               (long long)c->tokens, (long long)c->hidden);
        printf("  y[0][0..3]      %.6f %.6f %.6f %.6f\n", y[0], y[1], y[2], y[3]);
        printf("  sum(y)          %.6f   rms(y) %.6f\n", sum, sqrt(sq / (double)(T * H)));
        printf("  compile %.1f ms, load %.1f ms, run %.2f ms (%u instructions, arena %s)\n",
               compile_ms, load_ms, run_ms, st.n_instructions,
               cli_bytes(st.arena_bytes, a, sizeof a));
    }
    free(x);
    free(y);
    free(pos);
    demo_close(&d);
    return rc;
}
