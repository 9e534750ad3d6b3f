/*
 * cli_model_plan.c — `plinth plan MODEL`: the memory plans of the programs
 * `plinth run` builds (a 512-token prefill and a one-token decode), without
 * reading the weights; on several backends also where each op runs, what
 * fell back and why, the transfers and each backend's pools
 * (cli_placement.c). --json prints both programs' plans as JSON.
 */
#include "cli.h"
#include "cli_session.h"

#include <stdio.h>

static void plan_print(const char *what, const plinth_plan_stats *s)
{
    char a[32], lb[32], nv[32], io[32];
    printf("%s\n", what);
    printf("  instructions    %u per run, %u folded at load, %u views (no copy)\n",
           s->n_instructions, s->n_fold_instructions, s->n_views);
    printf("  arena           %s  (%u tensors, %u in place)\n",
           cli_bytes(s->arena_bytes, a, sizeof a), s->n_arena_tensors, s->n_inplace);
    printf("  lower bound     %s  (arena / bound = %.3f)\n",
           cli_bytes(s->lower_bound, lb, sizeof lb),
           s->lower_bound ? (double)s->arena_bytes / (double)s->lower_bound : 1.0);
    printf("  without reuse   %s\n", cli_bytes(s->naive_bytes, nv, sizeof nv));
    printf("  io              %s\n", cli_bytes(s->io_bytes, io, sizeof io));
}

int cli_model_plan(cli_options *o, const char *model_dir)
{
    /* The programs `plinth run` builds for a 512-token prompt, without
     * reading the weights (params stay zero). */
    lm_model_options go = {.n_ctx = 0, .n_prefill = 512, .no_weights = true};
    session s;
    int rc = session_open(o, model_dir, go, &s);
    if (!rc && o->json) {
        const char *pj = NULL, *dj = NULL;
        plinth_program *dec = lm_model_decode_program(s.m);
        if (plinth_program_plan_json(lm_model_prefill_program(s.m), &pj) != PLINTH_OK ||
            (dec && plinth_program_plan_json(dec, &dj) != PLINTH_OK))
            rc = cli_fail(s.ctx, "plan");
        else
            printf("{\"prefill\": %s, \"decode\": %s}\n", pj, dj ? dj : "null");
    } else if (!rc) {
        const lm_config *c = lm_model_config(s.m);
        plinth_plan_stats ps = {.struct_size = sizeof ps}, ds = {.struct_size = sizeof ds};
        char p[32], st[32];
        plinth_program_plan_stats(lm_model_prefill_program(s.m), &ps);
        printf("%s: gemma3_text, %d layers, hidden %d, vocab %d, %s weights%s, context %d\n",
               model_dir, (int)c->n_layers, (int)c->hidden, (int)c->vocab,
               lm_model_weights_dtype(s.m), lm_model_weights_converted(s.m) ? " (as f32)" : "",
               (int)lm_model_n_ctx(s.m));
        if (s.n_backends > 1) {
            printf("  backends        %s: each op on the first that supports it", s.names);
            if (o->split_layers)
                printf(", layers [0, %u) pinned to %s, the rest to %s", o->split_layers,
                       plinth_backend_name(s.list[0]), plinth_backend_name(s.list[1]));
            printf("\n");
        }
        printf("  persistent      %s (shared)\n", cli_bytes(ps.persistent_bytes, p, sizeof p));
        printf("  state           %s (KV cache, shared)\n",
               cli_bytes(ps.state_bytes, st, sizeof st));
        char what[64];
        snprintf(what, sizeof what, "prefill (%d tokens per run, last logits)",
                 (int)lm_model_n_prefill(s.m));
        plan_print(what, &ps);
        cli_print_placement(lm_model_prefill_program(s.m), lm_model_model(s.m));
        if (lm_model_decode_program(s.m)) {
            plinth_program_plan_stats(lm_model_decode_program(s.m), &ds);
            plan_print("decode (1 token per run)", &ds);
            cli_print_placement(lm_model_decode_program(s.m), lm_model_model(s.m));
        }
    }
    session_close(&s);
    return rc;
}
