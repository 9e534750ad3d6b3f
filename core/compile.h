/*
 * compile.h — what the compiler's passes (compile.c) and its emitter
 * (instruction views, backend check) share. Internal to core/.
 *
 * The compiler works in two stages. The passes decide, per node, where its
 * memory lives (pool + plan item / io slot / model tensor) and produce
 * "protos": instructions named by graph nodes. The emitter turns protos into
 * `instruction`s with every view resolved to a pool and byte offsets; it is
 * idempotent, so the driver runs it once before the model registry is
 * touched (to ask the backend) and once after (with the model offsets).
 */
#ifndef PLINTH_COMPILE_H
#define PLINTH_COMPILE_H

#include "internal.h"
#include "planner.h"

/* What the compiler knows about one graph node. Pool, ref and base are
 * meaningful on memory roots (mem == self); other nodes use their root's. */
typedef struct cnode {
    bool live;          /* reachable from an output or a state write    */
    bool fold;          /* computed at load                            */
    bool folded_value;  /* a fold result read at run time: persistent   */
    bool runtime;       /* live and not folded: in the run order        */
    int32_t mem;        /* node owning the memory (views, set_rows)     */
    int32_t pool;       /* enum pool_id, -1 if none                     */
    int32_t ref;        /* plan item (arena, scratch), input slot (io
                           inputs) or model tensor (persistent, state) */
    int32_t out_slot;   /* output io slot, -1 if not an output          */
    uint64_t base;      /* offset of the memory in its pool             */
} cnode;

/* An instruction named by nodes. out_node < 0: the output is io slot
 * out_slot (contiguous). For set_rows out_node is the state. */
typedef struct proto {
    uint32_t op;
    uint32_t n_in;
    int32_t node;
    int32_t out_node;
    int32_t out_slot;
    int32_t in_node[PLINTH_MAX_INPUTS];
} proto;

typedef struct compiler {
    plinth_context *ctx;
    plinth_model *model;
    const plinth_graph *g;
    plinth_program *prog;
    bool no_fold, no_inplace;
    uint32_t serial; /* for the unique names of constants and folded values */
    cnode *cn;
    int32_t *order; /* run-time nodes, in execution order */
    uint32_t n_order;
    proto *code, *fold;
    uint32_t n_code, cap_code, n_fold, cap_fold;
    uint64_t io_bytes;
    uint64_t naive_bytes[2]; /* arena, scratch */
    uint32_t n_arena_tensors, n_inplace;
} compiler;

/* Byte offset of node n's element 0 from its memory root's start. */
int64_t compile_node_offset(const compiler *c, int32_t n);

/* (Re)builds prog->code and prog->fold from the protos. */
plinth_status emit_instructions(compiler *c);
/* Asks the backend about every instruction; PLINTH_ERR_UNSUPPORTED naming
 * the backend, op, dtypes and node on the first refusal. */
plinth_status emit_check_supports(compiler *c);

#endif /* PLINTH_COMPILE_H */
