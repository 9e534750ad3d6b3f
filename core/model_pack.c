/*
 * model_pack.c — weights in a plugin's own layout (plinth_plugin.h:
 * pack_size, pack; issue 17).
 *
 * Sections:
 *   1. the plan, once at the first load: which persistent tensors get a
 *      packed twin, and the readers rewritten to read it
 *   2. packing, after every load and every set_param
 *
 * The readers that may read a packed view are matmul's b and get_rows'
 * table: a tied embedding is one tensor for both, and a plugin that serves
 * both from its layout (the cpu plugin's bf16 pairs) has it packed in place.
 * Where something else reads the plain tensor too (a get_rows the plugin
 * does not pack for, a fold, a reader on another backend) it stays beside its
 * twin, and the twin's bytes count in the persistent pool (plinth_plan_stats
 * persistent_bytes): llama.cpp loads a tied output matrix twice for the
 * same reason. Where the matmuls are its only readers, the param is packed
 * in place: it loads into its own range as before, and packing reads a
 * host copy of it and writes the twin over it (so memory grows only by
 * any padding of the layout). That needs host memory (the copy is the
 * plugin's `plain`, a host view in no buffer; a plugin that declares
 * PLINTH_CAP_PACK_IN_PLACE packs over the plain bytes itself, without the
 * copy: a transient allocation of the tensor's size) and a param (its value is
 * written again whole by set_param, then packed again; a folded tensor's
 * would have to be refolded first).
 */
#include "internal.h"
#include "slots.h"

#include <inttypes.h>
#include <string.h>

/* ---------------------------------------------------------------- 1 ---- */

/* Whether v is the whole of tensor t, contiguous, as stored (a block
 * dtype's innermost stride is its block's bytes: contiguous_strides). */
static bool whole(const plinth_view *v, const model_tensor *t)
{
    if (v->offset != v->base || v->dtype != t->dtype || v->ndim != t->ndim || t->ndim < 1)
        return false;
    int64_t stride[PLINTH_MAX_DIMS];
    contiguous_strides(t->dtype, t->ndim, t->shape, stride);
    const int lead = PLINTH_MAX_DIMS - v->ndim; /* shapes are right-aligned */
    for (int d = lead; d < PLINTH_MAX_DIMS; d++)
        if (v->shape[d] != t->shape[d - lead] ||
            (v->shape[d] != 1 && v->stride[d] != stride[d - lead]))
            return false;
    for (int d = 0; d < lead; d++)
        if (v->shape[d] != 1)
            return false;
    return true;
}

/* The packed flag of the operands that may be packed: matmul's b and
 * get_rows' table (plinth_plugin.h pack_size); NULL for any other. */
static int32_t *packed_flag(instruction *i, uint32_t k)
{
    if (i->op == PLINTH_OP_MATMUL && k == 1)
        return &i->attrs.matmul.b_packed;
    if (i->op == PLINTH_OP_GET_ROWS && k == 0)
        return &i->attrs.get_rows.table_packed;
    return NULL;
}

/* Whether instruction i's input k may read tensor ti packed: matmul's b or
 * get_rows' table on the tensor's own backend, the whole tensor, not
 * already packed. Other readers (a fold, a reader on another backend) keep
 * reading the plain tensor, which stays beside its twin. */
static bool packable_reader(const plinth_model *m, instruction *i, uint32_t k, int32_t ti)
{
    const model_tensor *t = &m->tensors[ti];
    const int32_t *flag = packed_flag(i, k);
    return flag && !*flag && i->backend == t->backend && whole(&i->in[k], t);
}

/* The one size every packable reader of tensor ti asked for, or 0 when it
 * is not to be packed: no such reader, or answers that differ (a plugin
 * may decline some shapes: then every reader reads it plain). *sole: no
 * other reader (get_rows, a fold, another backend) reads it. */
static uint64_t agreed_size(plinth_model *m, int32_t ti, bool *sole, uint32_t *op,
                            uint32_t *input)
{
    const model_tensor *t = &m->tensors[ti];
    plinth_backend *b = m->be[t->backend].backend;
    uint64_t size = 0;
    bool any = false;
    *sole = true;
    for (uint32_t p = 0; p < m->n_programs; p++)
        for (int list = 0; list < 2; list++) {
            plinth_program *prog = m->programs[p];
            instruction *l = list ? prog->fold : prog->code;
            const uint32_t n = list ? prog->n_fold : prog->n_code;
            for (uint32_t i = 0; i < n; i++)
                for (uint32_t k = 0; k < l[i].n_in; k++) {
                    if (l[i].in_tensor[k] != ti)
                        continue;
                    if (!packable_reader(m, &l[i], k, ti)) {
                        *sole = false;
                        continue;
                    }
                    const uint64_t s = slot_pack_size(b, l[i].op, k, &l[i].out, l[i].in,
                                                      l[i].n_in, &l[i].attrs);
                    if (s == 0 && l[i].op == PLINTH_OP_GET_ROWS) {
                        *sole = false; /* reads the plain tensor, as before */
                        continue;
                    }
                    if (s == 0 || (any && s != size))
                        return 0;
                    if (!any) { /* pack() is told the first reader's op */
                        *op = l[i].op;
                        *input = k;
                    }
                    size = s;
                    any = true;
                }
        }
    return size;
}

/* The packable readers of tensor `plain` read its twin: a view of the
 * plain dtype and shape with every stride 0, placed at the twin (bind
 * resolves it). A get_rows whose plugin said 0 keeps the plain tensor. */
static void rewrite_readers(plinth_model *m, int32_t plain, int32_t twin)
{
    plinth_backend *b = m->be[m->tensors[plain].backend].backend;
    for (uint32_t p = 0; p < m->n_programs; p++)
        for (int list = 0; list < 2; list++) {
            plinth_program *prog = m->programs[p];
            instruction *l = list ? prog->fold : prog->code;
            const uint32_t n = list ? prog->n_fold : prog->n_code;
            for (uint32_t i = 0; i < n; i++)
                for (uint32_t k = 0; k < l[i].n_in; k++)
                    if (l[i].in_tensor[k] == plain && packable_reader(m, &l[i], k, plain) &&
                        (l[i].op != PLINTH_OP_GET_ROWS ||
                         slot_pack_size(b, l[i].op, k, &l[i].out, l[i].in, l[i].n_in,
                                        &l[i].attrs) != 0)) {
                        plinth_view *v = &l[i].in[k];
                        v->base = v->offset = m->tensors[twin].offset;
                        memset(v->stride, 0, sizeof v->stride);
                        l[i].in_tensor[k] = twin;
                        *packed_flag(&l[i], k) = 1;
                    }
        }
}

plinth_status model_pack_plan(plinth_model *m)
{
    m->pack_planned = true;
    bool any = false;
    for (uint32_t b = 0; b < m->n_backends; b++)
        any |= slot_has_pack(m->be[b].backend);
    if (!any)
        return PLINTH_OK;
    const uint32_t n = m->n_tensors; /* the twins appended below are not asked */
    for (uint32_t i = 0; i < n; i++) {
        model_tensor *t = &m->tensors[i];
        if (t->pool != POOL_PERSISTENT || t->packed >= 0 || t->packed_from >= 0 ||
            !slot_has_pack(m->be[t->backend].backend))
            continue;
        bool sole = false;
        uint32_t op = 0, input = 0;
        const uint64_t size = agreed_size(m, (int32_t)i, &sole, &op, &input);
        if (size == 0)
            continue;
        /* In place: only a param (whose bytes come from outside, so a copy
         * of them can be taken before they are overwritten) on host memory
         * (the copy is a host one: plain.data below) */
        const bool in_place = sole && t->kind == PLINTH_NODE_PARAM &&
                              (m->be[t->backend].backend->caps & PLINTH_CAP_HOST_MEMORY);
        int32_t twin = -1;
        plinth_status s = model_tensor_add_packed(m, (int32_t)i, size, in_place, &twin);
        if (s != PLINTH_OK)
            return s;
        t = &m->tensors[i];
        t->pack_op = op;
        t->pack_input = input;
        rewrite_readers(m, (int32_t)i, twin);
    }
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 2 ---- */

/* The host copy of an in-place tensor's plain bytes (they are about to be
 * overwritten by the packing), from the device's host memory. */
static plinth_status copy_plain(plinth_model *m, const model_tensor *t, uint8_t **copy)
{
    *copy = t->bytes <= SIZE_MAX ? ctx_malloc(m->ctx, t->bytes ? (size_t)t->bytes : 1) : NULL;
    if (!*copy)
        return ctx_error(m->ctx, PLINTH_ERR_NO_MEMORY, "packing '%s': out of memory for a "
                         "copy of its %" PRIu64 " bytes", t->name, t->bytes);
    memcpy(*copy, m->be[t->backend].persistent.host + t->offset, t->bytes);
    return PLINTH_OK;
}

plinth_status model_pack_all(plinth_model *m, const char *param)
{
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const model_tensor *t = &m->tensors[i];
        if (t->packed < 0)
            continue;
        if (t->pack_in_place && param && strcmp(param, t->name) != 0)
            continue; /* packed already, and its plain bytes are gone */
        const model_tensor *w = &m->tensors[t->packed];
        model_backend *mb = &m->be[t->backend];
        plinth_view plain = {.buffer = &mb->persistent, .base = t->offset, .offset = t->offset,
                             .dtype = t->dtype, .ndim = t->ndim};
        /* right-aligned shape, contiguous strides (the lead dims are 1) */
        int64_t stride[PLINTH_MAX_DIMS];
        contiguous_strides(t->dtype, t->ndim, t->shape, stride);
        const int lead = PLINTH_MAX_DIMS - t->ndim;
        for (int d = PLINTH_MAX_DIMS - 1; d >= 0; d--) {
            plain.shape[d] = d >= lead ? t->shape[d - lead] : 1;
            plain.stride[d] = d >= lead ? stride[d - lead] : plain.stride[d + 1] * plain.shape[d + 1];
        }
        plinth_view packed = plain;
        packed.base = packed.offset = w->offset;
        memset(packed.stride, 0, sizeof packed.stride);
        plain.data = mb->persistent.host ? mb->persistent.host + plain.offset : NULL;
        packed.data = mb->persistent.host ? mb->persistent.host + packed.offset : NULL;
        uint8_t *copy = NULL;
        if (t->pack_in_place && (mb->backend->caps & PLINTH_CAP_PACK_IN_PLACE)) {
            /* the plugin packs over the plain bytes itself: plain is the
             * start of packed's range (plinth_plugin.h) */
            plain.base = plain.offset = packed.offset;
            plain.data = packed.data;
        } else if (t->pack_in_place) { /* plain: a host copy, in no buffer */
            plinth_status s = mb->persistent.host ? copy_plain(m, t, &copy)
                                                  : ctx_error(m->ctx, PLINTH_ERR_INTERNAL,
                                                              "packing '%s': no host memory",
                                                              t->name);
            if (s != PLINTH_OK)
                return s;
            plain.buffer = NULL;
            plain.base = plain.offset = 0;
            plain.data = copy;
        }
        plinth_status s = slot_pack(mb->backend, t->pack_op, t->pack_input, &plain, &packed);
        ctx_free(m->ctx, copy);
        if (s != PLINTH_OK)
            return ctx_error_wrap(m->ctx, s, "packing '%s' (%" PRIu64 " bytes)", t->name,
                                  w->bytes);
    }
    return PLINTH_OK;
}
