/*
 * cli_placement.c — `plinth plan` on several backends: where a program's
 * instructions run, the ones that fell back and why, its transfers and each
 * backend's pools. Written on the public placement queries
 * (plinth_program_instruction_info, _backend_plan, _plan_stats) alone.
 *
 * Sections: op counts per backend; fallbacks grouped by op, dtypes and
 * reason; transfers; pools.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

enum { MAX_KINDS = 64 };

/* The backends of the program's model, in the model's order. */
typedef struct backend_list {
    plinth_backend *const *at;
    uint32_t n;
} backend_list;

/* One group of instructions: an op with its dtypes on a backend, and why
 * the earlier backends did not take it. */
typedef struct kind {
    int32_t op, backend;
    char types[96];
    uint32_t no_kernel, refused;
    uint32_t n;
} kind;

static kind *find_kind(kind *k, uint32_t *n, const plinth_instruction_info *in)
{
    for (uint32_t i = 0; i < *n; i++)
        if (k[i].op == in->op && k[i].backend == in->backend &&
            k[i].no_kernel == in->no_kernel && k[i].refused == in->refused &&
            strcmp(k[i].types, in->types) == 0)
            return &k[i];
    if (*n == MAX_KINDS)
        return NULL;
    kind *x = &k[(*n)++];
    memset(x, 0, sizeof *x);
    x->op = in->op;
    x->backend = in->backend;
    x->no_kernel = in->no_kernel;
    x->refused = in->refused;
    snprintf(x->types, sizeof x->types, "%s", in->types);
    return x;
}

/* ------------------------------------------------------------------ 1 --- */

static void print_counts(plinth_program *prog, const backend_list *m, uint32_t n_run)
{
    const uint32_t nb = m->n;
    for (uint32_t b = 0; b < nb; b++) {
        uint32_t per_op[PLINTH_OP_COUNT] = {0}, total = 0, pinned = 0;
        for (uint32_t i = 0; i < n_run; i++) {
            plinth_instruction_info in = {.struct_size = sizeof in};
            if (plinth_program_instruction_info(prog, i, &in) != PLINTH_OK || in.op < 0 ||
                in.backend != (int32_t)b)
                continue;
            per_op[in.op]++;
            total++;
            pinned += in.pinned;
        }
        char line[1024];
        size_t len = 0;
        line[0] = '\0';
        for (uint32_t op = 0; op < PLINTH_OP_COUNT && len < sizeof line; op++)
            if (per_op[op])
                len += (size_t)snprintf(line + len, sizeof line - len, "%s%u %s",
                                        len ? ", " : "", per_op[op],
                                        plinth_op_name((plinth_op)op));
        printf("  on %-12s %u per run%s%s%s", plinth_backend_name(m->at[b]),
               total, total ? " (" : "", line, total ? ")" : "");
        if (pinned)
            printf(", %u pinned", pinned);
        printf("\n");
    }
}

/* ------------------------------------------------------------------ 2 --- */

/* "'template' has no kernel" / "'vulkan' said no" for each backend set. */
static void print_why(const backend_list *m, uint32_t no_kernel, uint32_t refused)
{
    const char *sep = "";
    for (uint32_t b = 0; b < m->n; b++) {
        const char *name = plinth_backend_name(m->at[b]);
        if (no_kernel >> b & 1)
            printf("%s'%s' has no kernel", sep, name);
        else if (refused >> b & 1)
            printf("%s'%s' said no to these dtypes/shapes", sep, name);
        else
            continue;
        sep = "; ";
    }
}

static void print_fallbacks(plinth_program *prog, const backend_list *m, uint32_t n_all,
                            uint32_t n_run)
{
    kind k[MAX_KINDS];
    uint32_t n = 0, more = 0;
    for (uint32_t i = 0; i < n_all; i++) {
        plinth_instruction_info in = {.struct_size = sizeof in};
        if (plinth_program_instruction_info(prog, i, &in) != PLINTH_OK || in.op < 0 ||
            !(in.no_kernel | in.refused))
            continue;
        kind *x = find_kind(k, &n, &in);
        if (x)
            x->n++;
        else
            more++;
    }
    if (n == 0) {
        printf("  fell back       nothing: every op runs on the first backend or its pin\n");
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        printf("  fell back       %s (%s) x%u to '%s': ", plinth_op_name((plinth_op)k[i].op),
               k[i].types, k[i].n,
               plinth_backend_name(m->at[k[i].backend]));
        print_why(m, k[i].no_kernel, k[i].refused);
        printf("\n");
    }
    if (more)
        printf("  fell back       ... and %u more instructions\n", more);
    (void)n_run;
}

/* ------------------------------------------------------------------ 3 --- */

static void print_transfers(plinth_program *prog, const backend_list *m, const plinth_plan_stats *s,
                            uint32_t n_all)
{
    char a[32];
    printf("  transfers       %u per run, %s", s->n_transfers,
           cli_bytes(s->transfer_bytes, a, sizeof a));
    /* by route */
    const uint32_t nb = m->n;
    for (uint32_t from = 0; from < nb; from++)
        for (uint32_t to = 0; to < nb; to++) {
            uint32_t n = 0;
            uint64_t bytes = 0;
            for (uint32_t i = 0; i < s->n_instructions; i++) {
                plinth_instruction_info in = {.struct_size = sizeof in};
                if (plinth_program_instruction_info(prog, i, &in) != PLINTH_OK || in.op >= 0 ||
                    in.src_backend != (int32_t)from || in.backend != (int32_t)to)
                    continue;
                n++;
                bytes += in.bytes;
            }
            if (n)
                printf("; %s -> %s %u (%s)",
                       plinth_backend_name(m->at[from]),
                       plinth_backend_name(m->at[to]), n,
                       cli_bytes(bytes, a, sizeof a));
        }
    printf("\n");
    printf("  shared          %u reads of another backend's memory in place (no copy)\n",
           s->n_shared);
    if (s->n_load_transfers) {
        uint64_t bytes = 0;
        for (uint32_t i = s->n_instructions; i < n_all; i++) {
            plinth_instruction_info in = {.struct_size = sizeof in};
            if (plinth_program_instruction_info(prog, i, &in) == PLINTH_OK && in.op < 0)
                bytes += in.bytes;
        }
        printf("  at load         %u transfers of folded values (%s, once)\n",
               s->n_load_transfers, cli_bytes(bytes, a, sizeof a));
    }
    printf("  segments        %u per run (stretches on one backend, or of transfers)\n",
           s->n_segments);
}

/* ------------------------------------------------------------------ 4 --- */

static void print_pools(plinth_program *prog, const backend_list *m)
{
    for (uint32_t b = 0; b < m->n; b++) {
        plinth_backend_plan bp = {.struct_size = sizeof bp};
        if (plinth_program_backend_plan(prog, b, &bp) != PLINTH_OK)
            continue;
        char a[32], lb[32], io[32], p[32], st[32], r[32];
        printf("  pools on %-8s arena %s (lower bound %s), io %s, persistent %s, state %s",
               plinth_backend_name(m->at[b]),
               cli_bytes(bp.arena_bytes, a, sizeof a), cli_bytes(bp.lower_bound, lb, sizeof lb),
               cli_bytes(bp.io_bytes, io, sizeof io), cli_bytes(bp.persistent_bytes, p, sizeof p),
               cli_bytes(bp.state_bytes, st, sizeof st));
        if (bp.n_replicas)
            printf(" (%u tensor%s also held by an earlier backend: %s loaded again here)",
                   bp.n_replicas, bp.n_replicas == 1 ? "" : "s",
                   cli_bytes(bp.replica_bytes, r, sizeof r));
        printf("\n");
    }
}

void cli_print_placement(plinth_program *prog, plinth_backend *const *backends, uint32_t n)
{
    const backend_list list = {.at = backends, .n = n}, *model = &list;
    if (n < 2)
        return;
    plinth_plan_stats s = {.struct_size = sizeof s};
    if (plinth_program_plan_stats(prog, &s) != PLINTH_OK)
        return;
    const uint32_t n_all = plinth_program_instruction_count(prog);
    print_counts(prog, model, s.n_instructions);
    print_fallbacks(prog, model, n_all, s.n_instructions);
    print_transfers(prog, model, &s, n_all);
    print_pools(prog, model);
}
