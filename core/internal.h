/*
 * internal.h — the structures the core's parts share (never installed).
 *
 * Sections: context and errors; graph nodes; backends; model and program;
 * helpers every part uses. Each part's own interface has its own header:
 * planner.h, safetensors.h, loader.h, slots.h, compile.h.
 */
#ifndef PLINTH_INTERNAL_H
#define PLINTH_INTERNAL_H

#include "plinth/plinth.h"
#include "plinth/plinth_limits.h"

#include <pthread.h>
#include <stdarg.h>

#define ALIGN_UP(x, a) (((x) + ((uint64_t)(a)-1)) & ~((uint64_t)(a)-1))

/* ------------------------------------------------- context and errors --- */

typedef struct plinth_plugin plinth_plugin; /* loader.h */

typedef struct plugin_entry {
    plinth_plugin_report report;
    plinth_plugin *plugin; /* NULL when it failed to load or was shadowed */
} plugin_entry;

struct plinth_context {
    plinth_alloc_fn alloc;  /* never NULL (the C library's by default)   */
    void *alloc_user;
    plinth_log_fn log;
    void *log_user;
    int log_level;
    pthread_mutex_t log_lock; /* plugins may log from their threads       */
    char **plugin_dirs; /* from options, NULL-terminated copy, may be NULL */
    plugin_entry *plugins;
    uint32_t n_plugins;
    bool scanned;
    /* Lifetime: the caller's handle plus one per live backend and graph;
     * the context is freed when it drops to 0 (plinth.h, lifetimes). */
    uint32_t refs;
    char error[4096];
};

/* Formats the message into ctx->error and returns `status` (so a caller
 * can write `return ctx_error(ctx, PLINTH_ERR_IO, "...", ...)`). */
plinth_status ctx_error(plinth_context *ctx, plinth_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Puts "<formatted>: <the message already on ctx>" on ctx: a caller adds
 * what it was doing to a callee's error. */
plinth_status ctx_error_wrap(plinth_context *ctx, plinth_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ctx_log(plinth_context *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The context's allocator. calloc and the array helpers check n * size for
 * overflow; every core allocation goes through these. */
void *ctx_malloc(plinth_context *ctx, size_t size);
void *ctx_calloc(plinth_context *ctx, size_t n, size_t size);
void *ctx_realloc(plinth_context *ctx, void *ptr, size_t size);
/* Grows *v (elements of `size` bytes, capacity *cap) to hold at least
 * `need` elements, doubling; false on overflow or out of memory. */
bool ctx_grow(plinth_context *ctx, void **v, uint32_t *cap, uint32_t need, size_t size);
void ctx_free(plinth_context *ctx, void *ptr);
char *ctx_strdup(plinth_context *ctx, const char *s);

void ctx_retain(plinth_context *ctx);
void ctx_release(plinth_context *ctx);

/* Routes cJSON's allocations to ctx while a parse or print runs on this
 * thread (json_enter returns the previous owner for json_leave). cJSON's
 * hooks are process-wide; outside these brackets they are the C library's. */
plinth_context *json_enter(plinth_context *ctx);
void json_leave(plinth_context *prev);

/* ------------------------------------------------------------- graph --- */


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
    int32_t pin;       /* backend index it is pinned to, -1 for none    */
} graph_node;

struct plinth_graph {
    plinth_context *ctx;
    graph_node *nodes;
    uint32_t n_nodes, cap_nodes;
    plinth_status status; /* first building error, sticky */
    int32_t pin;          /* given to new nodes (plinth_graph_pin)        */
};

/* Copies a filled sized struct (`full`, `size` bytes, struct_size first)
 * into the caller's `out`, as much as out->struct_size says the caller
 * has; out->struct_size is kept. false when it is too small to hold even
 * struct_size. */
bool sized_out(void *out, const void *full, size_t size);

/* "arena", "persistent", ... for messages. */
const char *pool_name(int32_t pool);
/* "param", "constant", "state", "folded value", ... for messages. */
const char *node_kind_name(int32_t kind);

/* The bytes [*first, *end) of its buffer a view can address (first == end
 * for an empty view); false when a dim is negative, the extent overflows,
 * or a block dtype's inner dim is not a whole number of blocks. */
bool view_span(const plinth_view *v, uint64_t *first, uint64_t *end);

/* Block dtypes (q8_0, q4_0, q4_K, q6_K): several elements per block, weights
 * only (plinth_plugin.h). Their innermost dim is a whole number of blocks. */
static inline bool dtype_is_block(int32_t dtype)
{
    return plinth_dtype_block_elems(dtype) > 1;
}

/* The one size computation for tensors in the core: bytes of a contiguous
 * dtype/shape (ndim dims, outermost first; ndim 0 is a scalar), through
 * plinth_dtype_row_bytes. false when a dim is negative, a block dtype's
 * inner dim is not a whole number of blocks, or the size overflows. */
bool tensor_bytes(int32_t dtype, int32_t ndim, const int64_t *shape, uint64_t *out);
/* Contiguous byte strides of a dtype/shape (ndim dims): the innermost is the
 * element's size, or a block's size for a block dtype (plinth_view). */
void contiguous_strides(int32_t dtype, int32_t ndim, const int64_t *shape, int64_t *stride);

/* Bytes of the contiguous tensor a node describes (its shape was checked
 * when the node was made, so this cannot fail). */
uint64_t node_bytes(const graph_node *n);
/* true if the strides are the contiguous ones for the shape. */
bool node_is_contiguous(const graph_node *n);
/* "[2, 3, 4]" into buf. */
const char *shape_str(const int64_t *shape, int ndim, char *buf, size_t size);

/* ---------------------------------------------------------- backends --- */

struct plinth_backend {
    plinth_context *ctx;            /* retained                            */
    plinth_plugin *plugin;          /* owned by ctx->plugins, not here     */
    const plinth_backend_api *api;  /* read by slots.c only                */
    plinth_device *dev;
    uint64_t caps;                  /* PLINTH_CAP_* bits, asked at open    */
    char name[64];
    uint32_t device_index;
    /* The caller's handle plus one per live model and memory. */
    uint32_t refs;
    plinth_memory *memories;        /* live plinth_memory objects (list)   */
    /* The last one-op case run_op checked and the plugin accepted (views
     * without their buffers and offsets): a repeat of it, as a benchmark
     * loop makes, skips the checks. */
    struct {
        bool valid;
        uint32_t op, n_in;
        plinth_view out, in[PLINTH_MAX_INPUTS];
        plinth_attrs attrs;
    } checked;
};

struct plinth_memory {
    plinth_backend *backend;        /* retained                            */
    plinth_buffer buf;
    plinth_memory *next;
};

void backend_retain(plinth_backend *b);
void backend_release(plinth_backend *b);

/* ------------------------------------------------- model and program --- */

enum pool_id {
    POOL_ARENA = 0,      /* per program, reused activations          */
    POOL_PERSISTENT = 1, /* per model: params, constants, folds      */
    POOL_STATE = 2,      /* per model: KV cache                       */
    POOL_IO = 3,         /* per program: inputs and outputs           */
    POOL_SCRATCH = 4,    /* per program: fold intermediates, load only */
    POOL_COUNT
};

/* A tensor with a fixed home in a persistent or state pool of the model.
 * Programs find theirs by name and backend (params, states) or own them
 * (constants and folded values, named "#p<serial>/c<node>:<name>" and
 * "#p<serial>/n<node>"). A param read on two backends that cannot share
 * memory is registered once per backend (a replica), and loaded into each. */
typedef struct model_tensor {
    char *name;
    int32_t kind;  /* PLINTH_NODE_PARAM, _CONSTANT, _STATE, or _OP (folded) */
    int32_t dtype;
    int32_t ndim;
    int64_t shape[PLINTH_MAX_DIMS];
    int32_t pool;  /* POOL_PERSISTENT or POOL_STATE */
    int32_t backend; /* index in the model's list */
    uint64_t offset, bytes;
    void *data;    /* CONSTANT: value to upload at load (owned) */
    /* Plugin-owned layouts (model_pack.c): on a plain tensor, the index of
     * its packed twin (-1: none) and the op and input it was packed for;
     * on a packed twin, the plain tensor's index (-1 on every other). */
    int32_t packed, packed_from;
    uint32_t pack_op, pack_input;
    /* On a plain param whose every reader reads the twin, on a device of
     * host memory: the twin takes the plain tensor's place (layout gives
     * both one range of the larger size), packed from a copy of the plain
     * bytes whenever they were written (pack_stale: at load, set_param). */
    bool pack_in_place, pack_stale;
} model_tensor;

/* The model's pools on one backend of its list. */
typedef struct model_backend {
    plinth_backend *backend;       /* retained */
    uint64_t persistent_bytes, state_bytes;
    plinth_buffer persistent;
    /* The state pool the programs run against (views point here): a copy
     * of own_state, or of a bound plinth_state_set's buffer (state_set.c). */
    plinth_buffer state;
    plinth_buffer own_state;       /* the model's own, allocated at load    */
} model_backend;

struct plinth_model {
    plinth_context *ctx;
    plinth_backend *backend;       /* be[0].backend: the preferred one      */
    model_backend be[PLINTH_MAX_BACKENDS];
    uint32_t n_backends;
    model_tensor *tensors;
    uint32_t n_tensors, cap_tensors;
    uint64_t persistent_bytes, state_bytes; /* sums over the backends      */
    bool loaded;
    plinth_program **programs;
    uint32_t n_programs, cap_programs;
    /* Lifetime: the caller's handle plus one per live program. */
    uint32_t refs;
    /* Set while a call uses the pools (run, set_input, get_output, load,
     * set_param, reset_state): an overlapping call gets PLINTH_ERR_BUSY. */
    _Atomic int busy;
    /* The state set the programs run against (NULL: the model's own), and
     * the load count: a set made before a reload is stale. */
    plinth_state_set *bound;
    uint32_t generation;
    bool pack_planned; /* model_pack_plan ran (at the first load)        */
};

/* Plugin-owned weight layouts (model_pack.c). At the first load, before
 * the pools exist: each persistent tensor read as operand 1 of matmuls on
 * its backend whose pack_size gave one non-zero size gets a packed twin in
 * that backend's persistent pool, and those readers are rewritten to read
 * the twin (a packed view: strides 0, attrs b_packed = 1; get_rows'
 * tables too where the plugin packs for them: table_packed). The twin takes
 * the plain tensor's place where nothing else reads it (pack_in_place). */
plinth_status model_pack_plan(plinth_model *m);
/* Appends the packed twin of tensor `plain`, in its place or beside it
 * (model.c: keeps the layout). */
plinth_status model_tensor_add_packed(plinth_model *m, int32_t plain, uint64_t bytes,
                                      bool in_place, int32_t *out_index);
/* Writes the packed twins from their plain tensors (after folds, and after
 * every change of a param): every one when `param` is NULL (a load), else
 * the twins packed beside their plain tensor (folds may have changed them)
 * and those in place of the param named `param`, whose plain bytes were
 * just written. */
plinth_status model_pack_all(plinth_model *m, const char *param);

/* Points every program's state views at the model's current state buffers
 * (after model->be[].state changed) and prepares again the segments that
 * touch them (state_set.c calls it; program.c implements it). */
plinth_status program_rebind_state(plinth_program *prog);

/* Takes the model's busy flag for `what`, or fails with PLINTH_ERR_BUSY
 * naming the model; model_leave gives it back. */
plinth_status model_enter(plinth_model *m, const char *what);
void model_leave(plinth_model *m);
void model_release(plinth_model *m);
/* Whether backends a and b of the model read each other's memory in place
 * (both declare PLINTH_CAP_HOST_MEMORY); a backend shares with itself. */
bool model_shares(const plinth_model *m, int32_t a, int32_t b);

/* The op number of a transfer instruction: past every plugin op, so no
 * plugin table is ever indexed with it. */
#define OP_TRANSFER ((uint32_t)PLINTH_OP_COUNT)

/* One step of a program. Views are planned at compile time as (backend,
 * pool) ids plus byte offsets (view.base, view.offset); bind fills
 * view.buffer/view.data and `fn`. `in` is a plain array because kernels
 * take it as one. A transfer (op OP_TRANSFER) copies in[0] (on backend
 * in_backend[0]) into out (on `backend`), bytes for bytes. */
typedef struct instruction {
    plinth_kernel_fn fn;   /* resolved at bind (NULL before, and for transfers) */
    uint32_t op;
    uint32_t n_in;
    int32_t node;          /* graph node index, for messages              */
    int32_t backend;       /* index in the model's list: where it runs    */
    int32_t out_pool;      /* enum pool_id, on `backend`                  */
    int32_t in_pool[PLINTH_MAX_INPUTS];
    /* Whose pool each input lives in: `backend`, or another that shares
     * memory with it, or a transfer's source. */
    int32_t in_backend[PLINTH_MAX_INPUTS];
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

/* Why an instruction runs where it does (for reports, beside the lists). */
typedef struct placement_note {
    uint32_t no_kernel, refused; /* bit i: backend i had no kernel / said no */
    bool pinned;
} placement_note;

/* A stretch of a list the executor hands over as one: kernels of one
 * backend (through its whole-program path when it has one: `prepared`), or
 * transfers. Decided at compile; prepared at bind. */
typedef struct segment {
    int32_t backend;       /* -1 for a stretch of transfers               */
    uint32_t first, n;     /* instructions [first, first + n)            */
    void *prepared;        /* the backend's prepare() handle, or NULL     */
    bool uses_state;       /* some view lies in a state pool               */
    plinth_instruction *prep_code; /* what prepare saw; lives until release */
} segment;

typedef struct io_slot {
    char *name;
    plinth_node_info info; /* info.name points at `name`                  */
    int32_t backend;       /* whose io pool holds it (an input: the first) */
    uint64_t offset, bytes; /* in that io pool                            */
    /* Inputs: the offset in backend b's io pool, or IO_NONE when b does
     * not read it; set_input writes every copy. Outputs: unused. */
    uint64_t at[PLINTH_MAX_BACKENDS];
} io_slot;
#define IO_NONE UINT64_MAX

/* A program's own pools on one backend. */
typedef struct program_backend {
    uint64_t pool_bytes[POOL_COUNT]; /* arena, io and scratch are ours   */
    plinth_buffer arena, io, scratch;
    uint64_t lower_bound, naive_bytes;
    uint32_t n_code, n_fold;          /* instructions that run here       */
    uint32_t n_transfers_in;
    uint64_t transfer_bytes_in;
} program_backend;

struct plinth_program {
    plinth_model *model;
    uint32_t id;               /* index in model->programs                */
    instruction *code;         /* run: one flat list                      */
    uint32_t n_code;
    instruction *fold;         /* load: param/constant-only subgraphs     */
    uint32_t n_fold;
    placement_note *code_note, *fold_note;
    segment *seg, *fold_seg;   /* the lists cut where the backend changes */
    uint32_t n_seg, n_fold_seg;
    program_backend be[PLINTH_MAX_BACKENDS]; /* one per model backend     */
    /* Host memory for transfers between two backends neither of which the
     * host can address (allocated at bind, when such a transfer exists). */
    uint8_t *staging;
    uint64_t staging_bytes;
    io_slot *inputs, *outputs;
    uint32_t n_inputs, n_outputs;
    plinth_plan_stats stats;
    bool bound;
    /* The plan as JSON text, built on the first plinth_program_plan_json
     * (plan_json.c); NULL before. */
    char *plan_json;
};

/* Resolves every planned view of `prog` (code and fold) to the model's and
 * the program's buffers, picks the kernels, and calls the backends' prepare.
 * Called by the model at load for each of its programs. */
plinth_status program_bind(plinth_program *prog);
/* Drops what bind made (prepared handles, arenas, io, scratch); bind again
 * to run. The model calls it before its pools go. */
void program_unbind(plinth_program *prog);
/* Frees a program (a failed compile's partial one too) and releases its
 * model: plinth_program_destroy. */
void program_free(plinth_program *prog);
/* Runs the fold list (after params are in the persistent pools). */
plinth_status program_run_folds(plinth_program *prog);
/* Frees each backend's scratch (fold intermediates are needed at load only). */
void program_free_scratch(plinth_program *prog);

/* Registers (or finds, by name and backend) a persistent/state tensor;
 * checks that a second registration agrees in dtype and shape. Its index
 * in *out_index, or the error (naming the tensor) on ctx. Fails after load. */
plinth_status model_tensor_register(plinth_model *model, const char *name, int32_t kind,
                                    int32_t dtype, int32_t ndim, const int64_t *shape,
                                    const void *const_data, int32_t backend,
                                    int32_t *out_index);
/* Whether tensor i is a replica: an earlier registration (on another
 * backend) has its name. */
bool model_tensor_is_replica(const plinth_model *m, uint32_t i);
/* The backend a state is registered on, or -1 when no program has it yet. */
int32_t model_state_backend(const plinth_model *model, const char *name);

#endif /* PLINTH_INTERNAL_H */
