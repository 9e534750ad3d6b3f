/*
 * plinth.h — the public API of libplinth.
 *
 * The workflow:
 *
 *   plinth_context_create ─► plinth_backend_open ─► plinth_model_create
 *   plinth_graph_create, plinth_input/param/constant/state, ops
 *   plinth_program_compile (once per graph; many programs per model)
 *   plinth_model_load_safetensors (allocates pools, loads params, folds)
 *   plinth_program_set_input ─► plinth_program_run ─► plinth_program_get_output
 *
 * Errors: every fallible call returns a plinth_status. The human message
 * (naming the file, tensor, node, op or plugin) is kept on the context and
 * read with plinth_context_error(). The library never prints, exits or aborts;
 * diagnostics go to the log callback given at context creation.
 *
 * Graph building is "sticky": an op that fails returns PLINTH_NODE_INVALID and
 * records the first error in the graph; later calls that receive an invalid
 * node also return PLINTH_NODE_INVALID. plinth_graph_status() and
 * plinth_program_compile() report that first error.
 *
 * Thread-safety: objects are not internally locked. One context may be used
 * from one thread at a time; distinct contexts are independent.
 */
#ifndef PLINTH_H
#define PLINTH_H

#include "plinth_plugin.h" /* status, dtype, op and attrs vocabulary */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PLINTH_VERSION_STRING "0.1.0"

typedef struct plinth_context plinth_context;
typedef struct plinth_backend plinth_backend;
typedef struct plinth_graph plinth_graph;
typedef struct plinth_model plinth_model;
typedef struct plinth_program plinth_program;

/* A node of a graph: an index, valid only with the graph that made it. */
typedef int32_t plinth_node;
#define PLINTH_NODE_INVALID ((plinth_node)-1)

/* ------------------------------------------------------------ basics --- */

const char *plinth_status_name(plinth_status status);
const char *plinth_dtype_name(plinth_dtype dtype);
size_t plinth_dtype_size(plinth_dtype dtype);
const char *plinth_op_name(plinth_op op);
/* Returns PLINTH_OP_COUNT if `name` names no op. */
plinth_op plinth_op_from_name(const char *name);

/* ----------------------------------------------------------- context --- */

typedef void (*plinth_log_fn)(void *user, int level, const char *message);

typedef struct plinth_context_options {
    uint32_t struct_size;     /* sizeof(plinth_context_options) */
    plinth_log_fn log;        /* NULL: discard */
    void *log_user;
    int log_level;            /* messages above this level are dropped */
    /* Plugin search, in this order: plugin_dirs (NULL-terminated list, may
     * be NULL), $PLINTH_PLUGIN_PATH (':'-separated), the install libdir
     * (<libdir>/plinth), the build tree. Never the current directory. */
    const char *const *plugin_dirs;
} plinth_context_options;

/* `opts` may be NULL (defaults). */
plinth_status plinth_context_create(const plinth_context_options *opts, plinth_context **out);
void plinth_context_destroy(plinth_context *ctx);
/* The message of the last failed call on this context or anything made
 * from it; "" if none. Valid until the next failing call. */
const char *plinth_context_error(const plinth_context *ctx);

/* ---------------------------------------------------------- backends --- */

/* What plugin discovery found. Index-based, for `plinth devices`. Each entry
 * is either a loaded plugin or a file that failed to load (with its error). */
typedef struct plinth_plugin_report {
    char name[64];          /* backend name, or the file's base name */
    char path[1024];
    char version[64];
    bool loaded;
    char error[512];        /* why it was refused, when !loaded */
    uint32_t n_devices;
    char unavailable[256];  /* why there are no devices, if n_devices == 0 */
} plinth_plugin_report;

plinth_status plinth_plugins_scan(plinth_context *ctx);
uint32_t plinth_plugin_count(const plinth_context *ctx);
plinth_status plinth_plugin_query(const plinth_context *ctx, uint32_t index,
                                  plinth_plugin_report *out);
plinth_status plinth_plugin_device_info(plinth_context *ctx, uint32_t plugin, uint32_t device,
                                        plinth_device_info *out);

/* Opens device `device` of the backend named `name` ("ref", "cpu", …), or of
 * the plugin file at `name` if it contains a '/'. `opts` may be NULL. */
plinth_status plinth_backend_open(plinth_context *ctx, const char *name, uint32_t device,
                                  const plinth_device_options *opts, plinth_backend **out);
void plinth_backend_close(plinth_backend *backend);
const char *plinth_backend_name(const plinth_backend *backend);

/* ------------------------------------------------------------- graph --- */

plinth_status plinth_graph_create(plinth_context *ctx, plinth_graph **out);
void plinth_graph_destroy(plinth_graph *g);
/* PLINTH_OK, or the first error of a building call (message on the ctx). */
plinth_status plinth_graph_status(const plinth_graph *g);
uint32_t plinth_graph_node_count(const plinth_graph *g);

/* Leaves. Shapes are outermost first, 1 <= ndim <= 4 (ndim 0 is a scalar of
 * shape [1]). Names are copied. */
plinth_node plinth_input(plinth_graph *g, const char *name, plinth_dtype dtype, int ndim,
                         const int64_t *shape);
plinth_node plinth_param(plinth_graph *g, const char *name, plinth_dtype dtype, int ndim,
                         const int64_t *shape);
/* `data` holds the contiguous elements and is copied. */
plinth_node plinth_constant(plinth_graph *g, const char *name, plinth_dtype dtype, int ndim,
                            const int64_t *shape, const void *data);
/* Mutable across runs, shared by every program of a model, zeroed at load. */
plinth_node plinth_state(plinth_graph *g, const char *name, plinth_dtype dtype, int ndim,
                         const int64_t *shape);
/* Marks a node as a program output, readable after a run. */
plinth_status plinth_output(plinth_graph *g, plinth_node node, const char *name);

/* Elementwise and normalisation (see plinth_plugin.h for exact semantics). */
plinth_node plinth_add(plinth_graph *g, plinth_node a, plinth_node b);
plinth_node plinth_sub(plinth_graph *g, plinth_node a, plinth_node b);
plinth_node plinth_mul(plinth_graph *g, plinth_node a, plinth_node b);
plinth_node plinth_div(plinth_graph *g, plinth_node a, plinth_node b);
plinth_node plinth_scale(plinth_graph *g, plinth_node x, float s);
plinth_node plinth_gelu_tanh(plinth_graph *g, plinth_node x);
plinth_node plinth_silu(plinth_graph *g, plinth_node x);
/* w may be PLINTH_NODE_INVALID for no weight. */
plinth_node plinth_rms_norm(plinth_graph *g, plinth_node x, plinth_node w, float eps);
/* mask may be PLINTH_NODE_INVALID. */
plinth_node plinth_softmax(plinth_graph *g, plinth_node x, plinth_node mask, float scale);
plinth_node plinth_matmul(plinth_graph *g, plinth_node a, plinth_node b, bool transpose_b);
plinth_node plinth_get_rows(plinth_graph *g, plinth_node table, plinth_node idx,
                            plinth_dtype out_dtype);
/* Writes src rows into `state` at idx; returns a node standing for the state
 * after the write (use it, not `state`, for later reads). */
plinth_node plinth_set_rows(plinth_graph *g, plinth_node state, plinth_node src, plinth_node idx);
plinth_node plinth_rope(plinth_graph *g, plinth_node x, plinth_node pos, float base, int n_dims);
plinth_node plinth_attention(plinth_graph *g, plinth_node q, plinth_node k, plinth_node v,
                             plinth_node pos, plinth_node kv_len, float scale, int window);
plinth_node plinth_cast(plinth_graph *g, plinth_node x, plinth_dtype dtype);
plinth_node plinth_copy(plinth_graph *g, plinth_node x);
plinth_node plinth_concat(plinth_graph *g, plinth_node a, plinth_node b, int axis);
plinth_node plinth_argmax(plinth_graph *g, plinth_node x);

/* Views: no copy. Negative axes count from the end. */
/* Same element count; x must be contiguous, or the result is a copy node. */
plinth_node plinth_reshape(plinth_graph *g, plinth_node x, int ndim, const int64_t *shape);
/* perm[i] = which input axis becomes output axis i. */
plinth_node plinth_permute(plinth_graph *g, plinth_node x, const int *perm);
plinth_node plinth_transpose(plinth_graph *g, plinth_node x); /* swap last two */
/* Elements [start, start+len) along axis. */
plinth_node plinth_slice(plinth_graph *g, plinth_node x, int axis, int64_t start, int64_t len);

/* Inspection (for tools and tests). */
typedef struct plinth_node_info {
    int32_t kind;            /* enum plinth_node_kind (internal.h) */
    int32_t op;              /* plinth_op, or -1 for leaves and views */
    int32_t dtype;
    int32_t ndim;
    int64_t shape[PLINTH_MAX_DIMS]; /* outermost first, ndim entries */
    const char *name;        /* leaves and outputs, else NULL */
} plinth_node_info;
plinth_status plinth_graph_node_info(const plinth_graph *g, plinth_node node,
                                     plinth_node_info *out);

/* ------------------------------------------------------------- model --- */

/* A model owns the persistent pool (params, constants, folded values) and
 * the state pool on one backend; its programs share them. */
plinth_status plinth_model_create(plinth_backend *backend, plinth_model **out);
void plinth_model_destroy(plinth_model *model); /* programs first */

typedef struct plinth_compile_options {
    uint32_t struct_size;
    bool no_fold;        /* keep param-only subgraphs in the program (tests) */
    bool no_inplace;     /* disable in-place reuse (tests)                   */
} plinth_compile_options;

/* Compiles `g` into a program of `model`. The graph is not needed afterwards.
 * Must precede plinth_model_load_*; `opts` may be NULL. */
plinth_status plinth_program_compile(plinth_model *model, const plinth_graph *g,
                                     const plinth_compile_options *opts, plinth_program **out);
void plinth_program_destroy(plinth_program *prog);

/* Loads every param of every program from a safetensors file, or from a
 * sharded checkpoint (`path` may be a .safetensors file, a
 * model.safetensors.index.json, or a folder holding either). Allocates the
 * pools, zeroes the state, uploads constants, runs the folds. */
typedef struct plinth_load_options {
    uint32_t struct_size;
    bool report_unused;  /* log the tensors of the file no param used */
    /* Called with progress in [0, 1]; NULL for none. */
    void (*progress)(void *user, double fraction);
    void *progress_user;
} plinth_load_options;
plinth_status plinth_model_load_safetensors(plinth_model *model, const char *path,
                                            const plinth_load_options *opts);
/* For models without params, or whose params are set by hand: allocate the
 * pools, upload constants; params are zero until plinth_model_set_param. */
plinth_status plinth_model_load_empty(plinth_model *model);
/* Writes a param's contiguous value (after a load; runs the folds again). */
plinth_status plinth_model_set_param(plinth_model *model, const char *name, const void *data,
                                     size_t bytes);
/* Zeroes the state pool (e.g. a new conversation). */
plinth_status plinth_model_reset_state(plinth_model *model);

/* ----------------------------------------------------------- program --- */

uint32_t plinth_program_input_count(const plinth_program *prog);
uint32_t plinth_program_output_count(const plinth_program *prog);
/* Index of the input/output with this name, or -1. Look up once, not per run. */
int32_t plinth_program_input_index(const plinth_program *prog, const char *name);
int32_t plinth_program_output_index(const plinth_program *prog, const char *name);
plinth_status plinth_program_input_info(const plinth_program *prog, uint32_t index,
                                        plinth_node_info *out);
plinth_status plinth_program_output_info(const plinth_program *prog, uint32_t index,
                                         plinth_node_info *out);

/* Copies `bytes` (must equal the input's size) into the input's buffer. */
plinth_status plinth_program_set_input(plinth_program *prog, uint32_t index, const void *data,
                                       size_t bytes);
/* Runs the instruction list once. On a kernel error the message names the
 * instruction index and op. */
plinth_status plinth_program_run(plinth_program *prog);
/* Copies the output (contiguous, `bytes` must equal its size). */
plinth_status plinth_program_get_output(plinth_program *prog, uint32_t index, void *data,
                                        size_t bytes);

/* The memory plan's figures. */
typedef struct plinth_plan_stats {
    uint64_t arena_bytes;       /* activations pool as planned             */
    uint64_t lower_bound;       /* max over steps of the live bytes         */
    uint64_t naive_bytes;       /* sum of all arena tensors (no reuse)      */
    uint64_t persistent_bytes;  /* whole model pool (shared)                */
    uint64_t state_bytes;       /* whole model pool (shared)                */
    uint64_t io_bytes;          /* this program's inputs and outputs        */
    uint32_t n_instructions;    /* per run                                  */
    uint32_t n_fold_instructions;  /* at load                               */
    uint32_t n_arena_tensors;
    uint32_t n_inplace;         /* tensors that reuse their input's memory  */
    uint32_t n_views;           /* nodes resolved as views (no instruction) */
} plinth_plan_stats;
plinth_status plinth_program_plan_stats(const plinth_program *prog, plinth_plan_stats *out);
/* The plan as JSON (instructions with pools, offsets, shapes, strides), in a
 * malloc'ed string the caller frees with plinth_free(). */
plinth_status plinth_program_plan_json(const plinth_program *prog, char **out_json);
void plinth_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif /* PLINTH_H */
