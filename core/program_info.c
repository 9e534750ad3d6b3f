/*
 * program_info.c — what a compiled program tells about itself: its plan's
 * figures (summed, and per backend) and each instruction's placement, for
 * `plinth plan`, tests and tools. Read-only; nothing here runs.
 *
 * Sections: plan figures; one backend's share; one instruction.
 */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ----------------------------------------------------- plan figures --- */

plinth_status plinth_program_plan_stats(const plinth_program *prog, plinth_plan_stats *out)
{
    if (!prog || !out)
        return PLINTH_ERR_INVALID;
    plinth_plan_stats st = prog->stats;
    st.struct_size = sizeof st;
    /* The model's pools grow while programs are compiled: report them now. */
    st.persistent_bytes = prog->model->persistent_bytes;
    st.state_bytes = prog->model->state_bytes;
    if (!sized_out(out, &st, sizeof st))
        return ctx_error(prog->model->ctx, PLINTH_ERR_INVALID,
                         "plan_stats: out->struct_size is %u", out->struct_size);
    return PLINTH_OK;
}

/* ------------------------------------------------ one backend's share --- */

plinth_status plinth_program_backend_plan(const plinth_program *prog, uint32_t index,
                                          plinth_backend_plan *out)
{
    if (!prog || !out)
        return PLINTH_ERR_INVALID;
    const plinth_model *m = prog->model;
    if (index >= m->n_backends)
        return ctx_error(m->ctx, PLINTH_ERR_INVALID,
                         "backend_plan: the model has %" PRIu32 " backend%s; no backend %" PRIu32,
                         m->n_backends, m->n_backends == 1 ? "" : "s", index);
    const program_backend *pb = &prog->be[index];
    plinth_backend_plan bp = {
        .struct_size = sizeof bp,
        .n_instructions = pb->n_code,
        .n_fold_instructions = pb->n_fold,
        .n_transfers_in = pb->n_transfers_in,
        .transfer_bytes_in = pb->transfer_bytes_in,
        .arena_bytes = pb->pool_bytes[POOL_ARENA],
        .lower_bound = pb->lower_bound,
        .naive_bytes = pb->naive_bytes,
        .io_bytes = pb->pool_bytes[POOL_IO],
        .persistent_bytes = m->be[index].persistent_bytes,
        .state_bytes = m->be[index].state_bytes,
    };
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const model_tensor *t = &m->tensors[i];
        if (t->backend != (int32_t)index || t->pool != POOL_PERSISTENT || !model_tensor_is_replica(m, i))
            continue;
        bp.n_replicas++;
        bp.replica_bytes += t->bytes;
    }
    if (!sized_out(out, &bp, sizeof bp))
        return ctx_error(m->ctx, PLINTH_ERR_INVALID, "backend_plan: out->struct_size is %u",
                         out->struct_size);
    return PLINTH_OK;
}

/* ---------------------------------------------------- one instruction --- */

uint32_t plinth_program_instruction_count(const plinth_program *prog)
{
    return prog ? prog->n_code + prog->n_fold : 0;
}

plinth_status plinth_program_instruction_info(const plinth_program *prog, uint32_t index,
                                              plinth_instruction_info *out)
{
    if (!prog || !out)
        return PLINTH_ERR_INVALID;
    const plinth_model *m = prog->model;
    if (index >= prog->n_code + prog->n_fold)
        return ctx_error(m->ctx, PLINTH_ERR_INVALID,
                         "instruction_info: the program has %" PRIu32 " instructions; no %" PRIu32,
                         prog->n_code + prog->n_fold, index);
    const bool load = index >= prog->n_code;
    const instruction *ins = load ? &prog->fold[index - prog->n_code] : &prog->code[index];
    const placement_note *note =
        load ? &prog->fold_note[index - prog->n_code] : &prog->code_note[index];
    plinth_instruction_info info = {
        .struct_size = sizeof info,
        .op = ins->op == OP_TRANSFER ? -1 : (int32_t)ins->op,
        .node = ins->node,
        .backend = ins->backend,
        .src_backend = ins->op == OP_TRANSFER ? ins->in_backend[0] : -1,
        .at_load = load,
        .pinned = note->pinned,
        .no_kernel = note->no_kernel,
        .refused = note->refused,
    };
    size_t len = 0;
    if (ins->op == OP_TRANSFER) {
        uint64_t first = 0, end = 0;
        view_span(&ins->in[0], &first, &end);
        info.bytes = end - first;
        snprintf(info.types, sizeof info.types, "%s",
                 plinth_dtype_name((plinth_dtype)ins->in[0].dtype));
    } else {
        for (uint32_t j = 0; j < ins->n_in && len < sizeof info.types; j++)
            len += (size_t)snprintf(info.types + len, sizeof info.types - len, "%s%s",
                                    j ? " x " : "",
                                    plinth_dtype_name((plinth_dtype)ins->in[j].dtype));
        if (len < sizeof info.types)
            snprintf(info.types + len, sizeof info.types - len, " -> %s",
                     plinth_dtype_name((plinth_dtype)ins->out.dtype));
    }
    if (!sized_out(out, &info, sizeof info))
        return ctx_error(m->ctx, PLINTH_ERR_INVALID, "instruction_info: out->struct_size is %u",
                         out->struct_size);
    return PLINTH_OK;
}
