/*
 * cli_model_plan.c — `plinth plan MODEL`: the memory plans of the programs
 * `plinth run` builds (a 512-token prefill and a one-token decode), without
 * reading the weights; on several backends also where each op runs, what
 * fell back and why, the transfers and each backend's pools
 * (cli_placement.c). --json prints both programs' plans as JSON. Through
 * plinth_lm.h: the lm opened without its weights.
 */
#include "cli_lm.h"

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

/* {"prefill": PLAN, "decode": PLAN or null}, each the program's own plan
 * JSON, parsed and written again by cJSON. */
static int print_plans_json(const cli_lm *m)
{
    plinth_program *progs[2] = {plinth_lm_prefill_program(m->lm), plinth_lm_decode_program(m->lm)};
    static const char *const keys[2] = {"prefill", "decode"};
    cJSON *j = cJSON_CreateObject();
    for (int i = 0; i < 2 && j; i++) {
        const char *text = NULL;
        if (!progs[i]) {
            cJSON_AddNullToObject(j, keys[i]);
            continue;
        }
        if (plinth_program_plan_json(progs[i], &text) != PLINTH_OK) {
            cJSON_Delete(j);
            return cli_lm_fail(m, "plan");
        }
        cJSON *plan = cJSON_Parse(text);
        if (!plan || !cJSON_AddItemToObject(j, keys[i], plan)) {
            cJSON_Delete(plan);
            cJSON_Delete(j);
            fprintf(stderr, "plinth: plan: the %s plan's JSON %s\n", keys[i],
                    plan ? "could not be kept (out of memory)" : "does not parse");
            return 1;
        }
    }
    return cli_print_json(j);
}

int cli_model_plan(cli_options *o, const char *model_dir)
{
    /* The programs `plinth run` builds for a long prompt (512 tokens per
     * prefill run), without reading the weights (params stay zero). */
    plinth_lm_options lo = {.n_batch = 512, .no_weights = true};
    cli_lm s;
    int rc = cli_lm_open(o, model_dir, lo, &s);
    plinth_program *prefill = rc ? NULL : plinth_lm_prefill_program(s.lm);
    plinth_program *decode = rc ? NULL : plinth_lm_decode_program(s.lm);
    if (!rc && o->json) {
        rc = print_plans_json(&s);
    } else if (!rc) {
        const plinth_lm_info *c = &s.info;
        plinth_plan_stats ps = {.struct_size = sizeof ps}, ds = {.struct_size = sizeof ds};
        char p[32], st[32];
        plinth_program_plan_stats(prefill, &ps);
        printf("%s: %s, %d layers, hidden %d, vocab %d, %s weights%s, context %d\n", model_dir,
               c->arch, (int)c->n_layers, (int)c->hidden, (int)c->vocab, c->weights,
               c->converted ? " (as f32)" : "", (int)c->n_ctx);
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
        snprintf(what, sizeof what, "prefill (%d tokens per run, last logits)", (int)c->n_batch);
        plan_print(what, &ps);
        cli_print_placement(prefill, s.list, s.n_backends);
        if (decode) {
            plinth_program_plan_stats(decode, &ds);
            plan_print("decode (1 token per run)", &ds);
            cli_print_placement(decode, s.list, s.n_backends);
        }
    }
    cli_lm_close(&s);
    return rc;
}
