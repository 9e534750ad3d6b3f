/*
 * compile.h — what the compiler's passes share. Internal to core/.
 *
 *   compile.c        analysis, order, io slots, pools, protos, the driver
 *   compile_place.c  placement: a backend per proto, homes of memory,
 *                    replicas and transfers between backends
 *   compile_plan.c   liveness, in-place reuse and offsets, per backend
 *   compile_emit.c   instructions with every view resolved, segments
 *
 * The compiler works in stages. The passes decide, per node, where its
 * memory lives (backend + pool + plan item / io slot / model tensor) and
 * produce "protos": instructions named by graph nodes. The emitter turns
 * protos into `instruction`s with every view resolved to a backend, a pool
 * and byte offsets; it is idempotent, so placement runs it once with
 * placeholder offsets (to ask each backend's supports()) before anything is
 * written into the model, and the driver runs it again at the end.
 */
#ifndef PLINTH_COMPILE_H
#define PLINTH_COMPILE_H

#include "internal.h"
#include "planner.h"

#define NO_BACKEND (-1)

/* What the compiler knows about one graph node. Pool, ref, base, backend
 * and rep are meaningful on memory roots (mem == self); copy on value nodes
 * (a view's root: an op, a set_rows result, a state, a leaf). */
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
    int32_t backend;    /* the backend whose pool holds it ("home")     */
    /* Persistent roots: the model tensor backend b reads when it cannot
     * read the home's memory (a replica), -1 when it reads none. */
    int32_t rep[PLINTH_MAX_BACKENDS];
    /* Value nodes: the transfer copy (index in compiler.copies) backend b
     * reads, in the list that made it; -1 for none. */
    int32_t copy[PLINTH_MAX_BACKENDS];
    /* Folded values: bit b set once a load-time transfer fills rep[b]. */
    uint32_t exported;
} cnode;

/* An instruction named by nodes. out_node < 0: the output is io slot
 * out_slot (contiguous). For set_rows out_node is the state. A transfer
 * (op OP_TRANSFER) copies the memory root of in_node[0] from its home into
 * copy out_copy, or, with out_copy < 0, into the replica of that root on
 * `backend` (a folded value read there at run time). */
typedef struct proto {
    uint32_t op;
    uint32_t n_in;
    int32_t node;
    int32_t out_node;
    int32_t out_slot;
    int32_t in_node[PLINTH_MAX_INPUTS];
    int32_t backend;                     /* where it runs                */
    int32_t in_copy[PLINTH_MAX_INPUTS];  /* read from this copy, or -1   */
    int32_t out_copy;
    uint32_t support;                    /* bit b: backend b can run it  */
    placement_note note;
} proto;

/* A tensor's memory copied to another backend by a transfer proto: the
 * destination lives in that backend's arena (run list) or scratch (load). */
typedef struct xcopy {
    int32_t value;    /* the value node whose memory root is copied */
    int32_t backend;  /* destination */
    int32_t pool;     /* POOL_ARENA or POOL_SCRATCH */
    int32_t ref;      /* its plan item on that backend */
    uint64_t base;
} xcopy;

typedef struct compiler {
    plinth_context *ctx;
    plinth_model *model;
    const plinth_graph *g;
    plinth_program *prog;
    bool no_fold, no_inplace;
    uint32_t serial; /* for the unique names of constants and folded values */
    uint32_t n_backends;
    cnode *cn;
    int32_t *order; /* run-time nodes, in execution order */
    uint32_t n_order;
    proto *code, *fold;
    uint32_t n_code, cap_code, n_fold, cap_fold;
    xcopy *copies;
    uint32_t n_copies, cap_copies;
    uint32_t n_arena_tensors, n_inplace, n_shared;
} compiler;

/* ---------------------------------------------------------- compile.c --- */

/* Byte offset of node n's element 0 from its memory root's start. */
int64_t compile_node_offset(const compiler *c, int32_t n);
bool compile_is_set_rows(const graph_node *n);
plinth_status compile_oom(compiler *c, const char *what);

/* ---------------------------------------------------- compile_place.c --- */

/* A backend for every proto of both lists: its pin, or the first backend of
 * the model's list whose supports() says yes (a state's writers together).
 * PLINTH_ERR_UNSUPPORTED listing every op no backend runs, or naming a pin
 * that cannot be kept. Nothing is written into the model. */
plinth_status place_protos(compiler *c);
/* Homes of every memory root, the replicas readers on other backends need,
 * the input copies, and a transfer proto before the first reader of every
 * value on a backend that cannot read its home. Rebuilds both lists. */
plinth_status place_memory(compiler *c);

/* ----------------------------------------------------- compile_plan.c --- */

/* Liveness, in-place reuse and offsets of the arena (run list) and scratch
 * (load list) of every backend, and the io pools' layouts. Fills the
 * program's per-backend figures and the bases of roots and copies. */
plinth_status plan_pools(compiler *c);

/* ----------------------------------------------------- compile_emit.c --- */

/* One proto as an instruction (views with their backends and pools). */
void emit_proto(const compiler *c, const proto *p, instruction *ins);
/* (Re)builds prog->code and prog->fold (and their notes) from the protos. */
plinth_status emit_instructions(compiler *c);
/* Cuts both lists into segments (a backend's kernels, or transfers). */
plinth_status emit_segments(compiler *c);
/* "f32 x bf16 -> f32" for an instruction's views. */
const char *emit_types(const instruction *ins, char *buf, size_t size);

#endif /* PLINTH_COMPILE_H */
