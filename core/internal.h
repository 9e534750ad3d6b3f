/*
 * internal.h — the structures the core's parts share (never installed).
 *
 * Sections: context and errors; graph nodes; backends; model and program;
 * helpers every part uses. Each part's own interface has its own header:
 * planner.h, safetensors.h, ../plugins/loader.h.
 */
#ifndef PLINTH_INTERNAL_H
#define PLINTH_INTERNAL_H

#include "plinth/plinth.h"

#include <stdarg.h>

#define ALIGN_UP(x, a) (((x) + ((uint64_t)(a)-1)) & ~((uint64_t)(a)-1))

/* ------------------------------------------------- context and errors --- */

typedef struct plinth_plugin plinth_plugin; /* plugins/loader.h */

typedef struct plugin_entry {
    plinth_plugin_report report;
    plinth_plugin *plugin; /* NULL when it failed to load */
} plugin_entry;

struct plinth_context {
    plinth_log_fn log;
    void *log_user;
    int log_level;
    char **plugin_dirs; /* from options, NULL-terminated copy, may be NULL */
    plugin_entry *plugins;
    uint32_t n_plugins;
    bool scanned;
    char error[4096];
};

/* Formats the message into ctx->error and returns `status` (so a caller
 * can write `return ctx_error(ctx, PLINTH_ERR_IO, "...", ...)`). */
plinth_status ctx_error(plinth_context *ctx, plinth_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ctx_log(plinth_context *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------- graph --- */

enum plinth_node_kind {
    PLINTH_NODE_INPUT = 0,
    PLINTH_NODE_PARAM = 1,
    PLINTH_NODE_CONSTANT = 2,
    PLINTH_NODE_STATE = 3,
    PLINTH_NODE_OP = 4,
    PLINTH_NODE_VIEW = 5 /* reshape/permute/slice/transpose of in[0] */
};

typedef struct graph_node {
    int32_t kind;   /* enum plinth_node_kind                           */
    int32_t op;     /* plinth_op for PLINTH_NODE_OP, else -1            */
    int32_t dtype;
    int32_t ndim;   /* 1..4                                            */
    int64_t shape[PLINTH_MAX_DIMS]; /* outermost first, ndim entries    */
    /* Byte strides of the logical dims (ndim entries). Contiguous for every
     * kind but VIEW. */
    int64_t stride[PLINTH_MAX_DIMS];
    int32_t n_in;
    plinth_node in[PLINTH_MAX_INPUTS + 1]; /* set_rows: in[0] is the state
                                             written, in[1..2] the kernel's
                                             inputs                         */
    plinth_attrs attrs;
    /* VIEW: the non-view node that owns the memory, and the byte offset of
     * the view's element 0 from that node's start. Other kinds: root = self,
     * offset = 0. */
    plinth_node root;
    int64_t offset;
    char *name;        /* leaves; NULL for ops and views                */
    void *data;        /* CONSTANT: contiguous copy of the value        */
    char *output_name; /* non-NULL if marked with plinth_output()       */
} graph_node;

struct plinth_graph {
    plinth_context *ctx;
    graph_node *nodes;
    uint32_t n_nodes, cap_nodes;
    plinth_status status; /* first building error, sticky */
};

/* Bytes of the contiguous tensor a node describes. */
uint64_t node_bytes(const graph_node *n);
/* true if the strides are the contiguous ones for the shape. */
bool node_is_contiguous(const graph_node *n);
/* "[2, 3, 4]" into buf. */
const char *shape_str(const int64_t *shape, int ndim, char *buf, size_t size);

/* ---------------------------------------------------------- backends --- */

struct plinth_backend {
    plinth_context *ctx;
    plinth_plugin *plugin;          /* owned by ctx->plugins, not here */
    const plinth_backend_api *api;
    plinth_device *dev;
    char name[64];
    uint32_t device_index;
};

/* ------------------------------------------------- model and program --- */

enum pool_id {
    POOL_ARENA = 0,      /* per program, reused activations          */
    POOL_PERSISTENT = 1, /* per model: params, constants, folds      */
    POOL_STATE = 2,      /* per model: KV cache                       */
    POOL_IO = 3,         /* per program: inputs and outputs           */
    POOL_SCRATCH = 4,    /* per program: fold intermediates, load only */
    POOL_COUNT
};

/* A tensor with a fixed home in the model's persistent or state pool.
 * Programs find theirs by name (params, states) or own them (constants and
 * folded values, named "#p<serial>/c<node>:<name>" and "#p<serial>/n<node>"). */
typedef struct model_tensor {
    char *name;
    int32_t kind;  /* PLINTH_NODE_PARAM, _CONSTANT, _STATE, or _OP (folded) */
    int32_t dtype;
    int32_t ndim;
    int64_t shape[PLINTH_MAX_DIMS];
    int32_t pool;  /* POOL_PERSISTENT or POOL_STATE */
    uint64_t offset, bytes;
    void *data;    /* CONSTANT: value to upload at load (owned) */
} model_tensor;

struct plinth_model {
    plinth_context *ctx;
    plinth_backend *backend;
    model_tensor *tensors;
    uint32_t n_tensors, cap_tensors;
    uint64_t persistent_bytes, state_bytes;
    plinth_buffer persistent, state;
    bool loaded;
    plinth_program **programs;
    uint32_t n_programs, cap_programs;
};

/* One step of a program. Views are planned at compile time as pool ids plus
 * byte offsets (view.base, view.offset); bind fills view.buffer/view.data
 * and `fn`. `in` is a plain array because kernels take it as one. */
typedef struct instruction {
    plinth_kernel_fn fn;   /* resolved at bind (NULL before)              */
    uint32_t op;
    uint32_t n_in;
    int32_t node;          /* graph node index, for messages              */
    int32_t out_pool;      /* enum pool_id                                */
    int32_t in_pool[PLINTH_MAX_INPUTS];
    plinth_view out;
    plinth_view in[PLINTH_MAX_INPUTS];
    plinth_attrs attrs;
    /* For views in POOL_PERSISTENT/POOL_STATE: the index in model->tensors
     * of the tensor the view belongs to, else -1. The compiler writes
     * base = that tensor's offset as the registry held it at compile time;
     * `offset - base` (the view's place inside the tensor) is final. If the
     * model assigns offsets later (at load), bind re-resolves:
     * base' = tensors[t].offset, offset' = base' + (offset - base). */
    int32_t out_tensor;
    int32_t in_tensor[PLINTH_MAX_INPUTS];
} instruction;

typedef struct io_slot {
    char *name;
    plinth_node_info info; /* info.name points at `name`                  */
    uint64_t offset, bytes; /* in the io pool                             */
} io_slot;

struct plinth_program {
    plinth_model *model;
    uint32_t id;               /* index in model->programs                */
    instruction *code;         /* run: one flat loop over these           */
    uint32_t n_code;
    instruction *fold;         /* load: param/constant-only subgraphs     */
    uint32_t n_fold;
    uint64_t pool_bytes[POOL_COUNT]; /* arena, io and scratch are ours   */
    plinth_buffer arena, io, scratch;
    io_slot *inputs, *outputs;
    uint32_t n_inputs, n_outputs;
    plinth_plan_stats stats;
    void *prepared;            /* backend prepare() handle, or NULL       */
    bool bound;
    /* The plan as JSON text, built at compile time (for plan_json). */
    char *plan_json;
    /* Added by the executor (program.c owns it): the plinth_instruction list
     * handed to the backend's prepare; it points into `code`, and must stay
     * valid until release. NULL when the backend has no program path. */
    plinth_instruction *prep_code;
};

/* Resolves every planned view of `prog` (code and fold) to the model's and
 * the program's buffers, picks the kernels, and calls the backend's prepare.
 * Called by the model at load for each of its programs. */
plinth_status program_bind(plinth_program *prog);
/* Drops what bind made (prepared handle, arena, io, scratch); bind again
 * to run. The model calls it before its pools go. */
void program_unbind(plinth_program *prog);
/* Runs the fold list (after params are in the persistent pool). */
plinth_status program_run_folds(plinth_program *prog);

/* Registers (or finds, by name) a persistent/state tensor; checks that a
 * second registration agrees in dtype and shape. Returns its index or -1
 * with the error on ctx. Fails after load. */
int32_t model_tensor_register(plinth_model *model, const char *name, int32_t kind,
                              int32_t dtype, int32_t ndim, const int64_t *shape,
                              const void *const_data);

#endif /* PLINTH_INTERNAL_H */
