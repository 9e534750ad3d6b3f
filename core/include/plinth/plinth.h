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
 * Beside it, for tools and tests that work op by op (the conformance suite
 * is written on these alone): plinth_memory (a buffer on a backend's device,
 * upload/download) and plinth_backend_query_op / plinth_backend_run_op.
 *
 * Errors: every fallible call returns a plinth_status. The human message
 * (naming the file, tensor, node, op or plugin) is kept on the context and
 * read with plinth_context_error(). The library never prints, exits or aborts;
 * diagnostics go to the log callback given at context creation.
 *
 * Objects and lifetimes:
 *
 *   context ─┬─ backend ─┬─ model ─┬─ program
 *            │           │         └─ state set
 *            │           └─ memory
 *            ├─ graph
 *            └─ state dict
 *
 * Every object keeps its parent alive. A parent may be destroyed before its
 * children: its destroy call then gives up the caller's handle only, the
 * children stay fully usable, and the parent is freed together with its last
 * child (the context's plugins stay loaded while a backend of it lives).
 * After plinth_X_destroy(x) the caller must not use x again; destroying NULL
 * does nothing. A graph is not needed by the programs compiled from it.
 *
 * Thread-safety: objects are not internally locked. A context and every
 * object made from it may be used by one thread at a time (not necessarily
 * the same thread each call). Distinct contexts are independent and may be
 * used from different threads at once. Overlapping calls that would touch
 * one model's pools (running two of its programs, loading while running)
 * are detected and the later one fails with PLINTH_ERR_BUSY naming the
 * model; other overlaps are not detected.
 *
 * Graph building is "sticky": an op that fails returns PLINTH_NODE_INVALID and
 * records the first error in the graph; later calls that receive an invalid
 * node also return PLINTH_NODE_INVALID. plinth_graph_status() and
 * plinth_program_compile() report that first error.
 *
 * Structs the caller passes in or gets filled carry `struct_size` (set it to
 * sizeof the struct as you compiled it): the library reads and writes only
 * the fields that fit, so a program built against an older header keeps
 * working with a newer library.
 */
#ifndef PLINTH_H
#define PLINTH_H

#include "plinth_limits.h" /* PLINTH_MAX_BACKENDS and the input limits */
#include "plinth_plugin.h" /* status, dtype, op, attrs, view, buffer vocabulary */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks what libplinth exports; everything else in it is hidden. */
#if defined(_WIN32)
#define PLINTH_API
#else
#define PLINTH_API __attribute__((visibility("default")))
#endif

#define PLINTH_VERSION_STRING "0.1.0"

typedef struct plinth_context plinth_context;
typedef struct plinth_backend plinth_backend;
typedef struct plinth_memory plinth_memory;
typedef struct plinth_graph plinth_graph;
typedef struct plinth_model plinth_model;
typedef struct plinth_program plinth_program;
typedef struct plinth_state_set plinth_state_set;

/* A node of a graph: an index, valid only with the graph that made it. */
typedef int32_t plinth_node;
#define PLINTH_NODE_INVALID ((plinth_node)-1)

/* ------------------------------------------------------------ basics --- */

PLINTH_API const char *plinth_version(void); /* PLINTH_VERSION_STRING of the library */
PLINTH_API const char *plinth_status_name(plinth_status status);
PLINTH_API const char *plinth_dtype_name(plinth_dtype dtype);
PLINTH_API size_t plinth_dtype_size(plinth_dtype dtype);
PLINTH_API const char *plinth_op_name(plinth_op op);
/* Returns PLINTH_OP_COUNT if `name` names no op. */
PLINTH_API plinth_op plinth_op_from_name(const char *name);
/* The inputs op takes: min and max (PLINTH_OP_LIST); false for a bad op. */
PLINTH_API bool plinth_op_arity(plinth_op op, uint32_t *out_min, uint32_t *out_max);

/* ----------------------------------------------------------- context --- */

typedef void (*plinth_log_fn)(void *user, int level, const char *message);

/* A realloc-like allocator: ptr NULL allocates `size` bytes; size 0 frees
 * ptr and returns NULL; otherwise resizes. Returns NULL on failure, leaving
 * ptr untouched. Blocks must be aligned for any standard type. Called from
 * the threads of plugins too (a cpu backend's workers), so it must be
 * thread-safe if it has state. */
typedef void *(*plinth_alloc_fn)(void *user, void *ptr, size_t size);

typedef struct plinth_context_options {
    uint32_t struct_size;     /* sizeof(plinth_context_options) */
    /* Called for each diagnostic at or below log_level; NULL discards. May
     * be called from a plugin's worker threads during a call, never by two
     * threads at once. */
    plinth_log_fn log;
    void *log_user;
    int log_level;            /* enum plinth_log_level; default WARN     */
    /* Plugin search, in this order: plugin_dirs (NULL-terminated list, may
     * be NULL), $PLINTH_PLUGIN_PATH (':'-separated), the plinth/ folder
     * beside the libplinth that is running (the install's <libdir>/plinth),
     * and, only for a libplinth in its build tree, the build tree's plugins.
     * Never the current directory. */
    const char *const *plugin_dirs;
    /* Every allocation of the library, of its plugins' bookkeeping and of
     * the JSON parser while the library parses goes through `alloc` (NULL:
     * the C library's). Tensor buffers come from the plugins' allocators. */
    plinth_alloc_fn alloc;
    void *alloc_user;
} plinth_context_options;

/* `opts` may be NULL (defaults). */
PLINTH_API plinth_status plinth_context_create(const plinth_context_options *opts,
                                               plinth_context **out);
PLINTH_API void plinth_context_destroy(plinth_context *ctx);
/* The message of the last failed call on this context or anything made
 * from it; "" if none. Valid until the next failing call. */
PLINTH_API const char *plinth_context_error(const plinth_context *ctx);
/* The context's allocator (plinth_alloc_fn semantics), for code built on
 * plinth that wants its memory to come from the same place. */
PLINTH_API void *plinth_context_alloc(plinth_context *ctx, void *ptr, size_t size);

/* ---------------------------------------------------------- backends --- */

/* What plugin discovery found (sized). Each entry is a loaded plugin, a
 * file that failed to load (with its error), or a file shadowed by one of
 * the same name earlier in the search order (not loaded). */
typedef struct plinth_plugin_report {
    uint32_t struct_size;
    char name[64];          /* backend name, or the file's base name */
    char path[1024];
    char version[64];
    bool loaded;
    char error[512];        /* why it was refused or shadowed, when !loaded */
    uint32_t n_devices;
    char unavailable[256];  /* why there are no devices, if n_devices == 0 */
} plinth_plugin_report;

/* Loads every plugin in the search path, for listing (`plinth devices`):
 * a plugin that crashes while loading takes the process with it, so only
 * listing does this; plinth_backend_open loads the one file it needs. */
PLINTH_API plinth_status plinth_plugins_scan(plinth_context *ctx);
/* Loads the one plugin plinth_backend_open would use for `name` (a backend
 * name or a path) without opening a device, and gives its index for
 * plinth_plugin_query / plinth_plugin_device_info. */
PLINTH_API plinth_status plinth_plugin_load(plinth_context *ctx, const char *name,
                                            uint32_t *out_index);
PLINTH_API uint32_t plinth_plugin_count(const plinth_context *ctx);
PLINTH_API plinth_status plinth_plugin_query(const plinth_context *ctx, uint32_t index,
                                             plinth_plugin_report *out);
PLINTH_API plinth_status plinth_plugin_device_info(plinth_context *ctx, uint32_t plugin,
                                                   uint32_t device, plinth_device_info *out);

/* Opens device `device` of the backend named `name` ("ref", "cpu", …: the
 * first plinth-<name>.so in the search order), or of the plugin file at
 * `name` if it contains a '/'. `opts` may be NULL. */
PLINTH_API plinth_status plinth_backend_open(plinth_context *ctx, const char *name,
                                             uint32_t device, const plinth_device_options *opts,
                                             plinth_backend **out);
PLINTH_API void plinth_backend_close(plinth_backend *backend);
PLINTH_API const char *plinth_backend_name(const plinth_backend *backend);
/* The file the backend's plugin was loaded from. */
PLINTH_API const char *plinth_backend_path(const plinth_backend *backend);
PLINTH_API plinth_context *plinth_backend_context(const plinth_backend *backend);
/* The open device's info, as its options made it: its precision field says
 * what arithmetic it computes with (and, where the plugin counts it, what
 * of it ran so far). A plugin without device_describe answers as
 * plinth_plugin_device_info does for its index. */
PLINTH_API plinth_status plinth_backend_device_info(plinth_backend *backend,
                                                    plinth_device_info *out);

/* ------------------------------------------------ memory and one op --- */

/* A block of memory on a backend's device, from the plugin's allocator
 * (256-byte aligned, zero or more bytes). */
PLINTH_API plinth_status plinth_memory_create(plinth_backend *backend, uint64_t size,
                                              plinth_memory **out);
PLINTH_API void plinth_memory_destroy(plinth_memory *mem);
PLINTH_API uint64_t plinth_memory_size(const plinth_memory *mem);
/* The plugin's buffer: what plinth_view.buffer points at for views into
 * this memory. buffer->host is its host address, or NULL for device
 * memory the host cannot map. */
PLINTH_API const plinth_buffer *plinth_memory_buffer(const plinth_memory *mem);
/* Copies between host memory and [offset, offset + size) of the memory;
 * fails without copying if the range is not inside it. */
PLINTH_API plinth_status plinth_memory_upload(plinth_memory *mem, uint64_t offset,
                                              const void *src, uint64_t size);
PLINTH_API plinth_status plinth_memory_download(plinth_memory *mem, uint64_t offset, void *dst,
                                                uint64_t size);

/* Whether the backend's kernel table has an entry for `op` (whatever its
 * supports() says of a particular case). */
PLINTH_API bool plinth_backend_has_kernel(const plinth_backend *backend, plinth_op op);
/* Whether the backend can run `op` on views of these dtypes, shapes and
 * strides (their buffer fields are ignored): PLINTH_OK; PLINTH_ERR_INVALID
 * when the views do not make that op (the host's own shape and dtype rules,
 * those of the graph builders); PLINTH_ERR_UNSUPPORTED when the plugin's
 * supports() says no. The reason is on the context. */
PLINTH_API plinth_status plinth_backend_query_op(plinth_backend *backend, plinth_op op,
                                                 const plinth_view *out, const plinth_view *in,
                                                 uint32_t n_in, const plinth_attrs *attrs);
/* Runs one op: every view's buffer must be plinth_memory_buffer() of a
 * memory of this backend, its base 256-aligned and every element it
 * addresses inside the memory (`data` is computed, not read). `out` may be
 * the very view in[0] or in[1] for the in-place ops (rule 10 of
 * plinth_plugin.h). Returns when the result is in `out` (synchronised).
 * PLINTH_ERR_UNSUPPORTED when query_op says no. */
PLINTH_API plinth_status plinth_backend_run_op(plinth_backend *backend, plinth_op op,
                                               const plinth_view *out, const plinth_view *in,
                                               uint32_t n_in, const plinth_attrs *attrs);

/* ------------------------------------------------------------- graph --- */

PLINTH_API plinth_status plinth_graph_create(plinth_context *ctx, plinth_graph **out);
PLINTH_API void plinth_graph_destroy(plinth_graph *g);
/* PLINTH_OK, or the first error of a building call (message on the ctx). */
PLINTH_API plinth_status plinth_graph_status(const plinth_graph *g);
PLINTH_API uint32_t plinth_graph_node_count(const plinth_graph *g);

/* Leaves. Shapes are outermost first, 1 <= ndim <= 4 (ndim 0 is a scalar of
 * shape [1]). Names are copied. */
PLINTH_API plinth_node plinth_input(plinth_graph *g, const char *name, plinth_dtype dtype,
                                    int ndim, const int64_t *shape);
PLINTH_API plinth_node plinth_param(plinth_graph *g, const char *name, plinth_dtype dtype,
                                    int ndim, const int64_t *shape);
/* `data` holds the contiguous elements and is copied. */
PLINTH_API plinth_node plinth_constant(plinth_graph *g, const char *name, plinth_dtype dtype,
                                       int ndim, const int64_t *shape, const void *data);
/* Mutable across runs, shared by every program of a model, zeroed at load. */
PLINTH_API plinth_node plinth_state(plinth_graph *g, const char *name, plinth_dtype dtype,
                                    int ndim, const int64_t *shape);
/* Marks a node as a program output, readable after a run. */
PLINTH_API plinth_status plinth_output(plinth_graph *g, plinth_node node, const char *name);

/* Placement hints, for a model on several backends (plinth_model_create_multi).
 * After plinth_graph_pin(g, i) every node created is pinned to backend i
 * of the list the graph will be compiled for (-1, the default: not
 * pinned); plinth_graph_pin_node pins one node that exists. A pinned op
 * runs there, or the compile fails naming the node and the backend; an op
 * folded at load only prefers it; leaves ignore pins (their memory goes
 * where their readers are). This is how a builder puts "the first N layers
 * on backend 0, the rest on backend 1". */
PLINTH_API plinth_status plinth_graph_pin(plinth_graph *g, int32_t backend_index);
PLINTH_API plinth_status plinth_graph_pin_node(plinth_graph *g, plinth_node node,
                                               int32_t backend_index);

/* Elementwise and normalisation (see plinth_plugin.h for exact semantics). */
PLINTH_API plinth_node plinth_add(plinth_graph *g, plinth_node a, plinth_node b);
PLINTH_API plinth_node plinth_sub(plinth_graph *g, plinth_node a, plinth_node b);
PLINTH_API plinth_node plinth_mul(plinth_graph *g, plinth_node a, plinth_node b);
PLINTH_API plinth_node plinth_div(plinth_graph *g, plinth_node a, plinth_node b);
PLINTH_API plinth_node plinth_scale(plinth_graph *g, plinth_node x, float s);
PLINTH_API plinth_node plinth_gelu_tanh(plinth_graph *g, plinth_node x);
PLINTH_API plinth_node plinth_silu(plinth_graph *g, plinth_node x);
/* w may be PLINTH_NODE_INVALID for no weight. */
PLINTH_API plinth_node plinth_rms_norm(plinth_graph *g, plinth_node x, plinth_node w, float eps);
/* mask may be PLINTH_NODE_INVALID. */
PLINTH_API plinth_node plinth_softmax(plinth_graph *g, plinth_node x, plinth_node mask,
                                      float scale);
PLINTH_API plinth_node plinth_matmul(plinth_graph *g, plinth_node a, plinth_node b,
                                     bool transpose_b);
PLINTH_API plinth_node plinth_get_rows(plinth_graph *g, plinth_node table, plinth_node idx,
                                       plinth_dtype out_dtype);
/* Writes src rows into `state` at idx; returns a node standing for the state
 * after the write (use it, not `state`, for later reads). */
PLINTH_API plinth_node plinth_set_rows(plinth_graph *g, plinth_node state, plinth_node src,
                                       plinth_node idx);
PLINTH_API plinth_node plinth_rope(plinth_graph *g, plinth_node x, plinth_node pos, float base,
                                   int n_dims);
/* rope with frequency i divided by factors[i] (f32 [n_dims/2]; Llama 3's
 * rope_scaling "llama3"): the op rope_factors. */
PLINTH_API plinth_node plinth_rope_factors(plinth_graph *g, plinth_node x, plinth_node pos,
                                           plinth_node factors, float base, int n_dims);
PLINTH_API plinth_node plinth_attention(plinth_graph *g, plinth_node q, plinth_node k,
                                        plinth_node v, plinth_node pos, plinth_node kv_len,
                                        float scale, int window);
PLINTH_API plinth_node plinth_cast(plinth_graph *g, plinth_node x, plinth_dtype dtype);
PLINTH_API plinth_node plinth_copy(plinth_graph *g, plinth_node x);
PLINTH_API plinth_node plinth_concat(plinth_graph *g, plinth_node a, plinth_node b, int axis);
PLINTH_API plinth_node plinth_argmax(plinth_graph *g, plinth_node x);
/* Any op by number, with its attrs (the union member of the op is read):
 * what the named builders do. `in` holds n_in nodes; set_rows takes
 * (state, src, idx); an absent optional input is PLINTH_NODE_INVALID. */
PLINTH_API plinth_node plinth_op_node(plinth_graph *g, plinth_op op, const plinth_node *in,
                                      uint32_t n_in, const plinth_attrs *attrs);

/* Views: no copy. Negative axes count from the end. */
/* Same element count; x must be contiguous, or the result is a copy node. */
PLINTH_API plinth_node plinth_reshape(plinth_graph *g, plinth_node x, int ndim,
                                      const int64_t *shape);
/* perm[i] = which input axis becomes output axis i. */
PLINTH_API plinth_node plinth_permute(plinth_graph *g, plinth_node x, const int *perm);
PLINTH_API plinth_node plinth_transpose(plinth_graph *g, plinth_node x); /* swap last two */
/* Elements [start, start+len) along axis. */
PLINTH_API plinth_node plinth_slice(plinth_graph *g, plinth_node x, int axis, int64_t start,
                                    int64_t len);

/* Inspection (for tools and tests). */
typedef enum plinth_node_kind {
    PLINTH_NODE_INPUT = 0,
    PLINTH_NODE_PARAM = 1,
    PLINTH_NODE_CONSTANT = 2,
    PLINTH_NODE_STATE = 3,
    PLINTH_NODE_OP = 4,
    PLINTH_NODE_VIEW = 5 /* reshape/permute/slice/transpose: no copy */
} plinth_node_kind;

typedef struct plinth_node_info {
    uint32_t struct_size;
    int32_t kind;            /* plinth_node_kind */
    int32_t op;              /* plinth_op, or -1 for leaves and views */
    int32_t dtype;
    int32_t ndim;
    int64_t shape[PLINTH_MAX_DIMS]; /* outermost first, ndim entries */
    const char *name;        /* leaves and outputs, else NULL; valid while
                                the graph (or program) lives */
} plinth_node_info;
PLINTH_API plinth_status plinth_graph_node_info(const plinth_graph *g, plinth_node node,
                                                plinth_node_info *out);

/* -------------------------------------------------------- state dict --- */

/* A checkpoint's tensors by name: a .safetensors file, a sharded
 * model.safetensors.index.json, a folder holding either, or a GGUF file
 * (v2 or v3, little-endian), recognised by its magic whatever its name.
 * Opening reads and checks the headers only (every count, offset, size and
 * shape distrusted); tensor bytes are read on demand with
 * plinth_state_dict_read, so a file that changes under us is an error, never
 * a crash. Keeps its context alive; the names and strings it hands out live
 * until it is closed. Thread-safety: as every object of a context (one
 * thread at a time).
 *
 * GGUF: shapes are reported outermost first (GGUF's ne[] reversed), so a
 * [N, K] weight reads as safetensors gives it. ggml types map to plinth
 * dtypes (F32, F16, BF16, I32, Q8_0, Q4_0, Q4_K, Q6_K); a tensor of any
 * other ggml type is listed with dtype -1 and its ggml name in dtype_name
 * ("Q5_K", "IQ2_XXS"), so a model can name the tensor it cannot use. The
 * file's key/value metadata is read with plinth_state_dict_meta_* below. */
typedef struct plinth_state_dict plinth_state_dict;

#define PLINTH_STATE_DICT_MAX_DIMS 8

typedef struct plinth_tensor_info {
    uint32_t struct_size;
    const char *name;
    const char *file;        /* the file it lives in                        */
    const char *dtype_name;  /* as the file names it: "BF16", "I64", "Q8_0" */
    int32_t dtype;           /* plinth_dtype, or -1 when plinth has none    */
    int32_t ndim;            /* 0..PLINTH_STATE_DICT_MAX_DIMS (0: a scalar) */
    int64_t shape[PLINTH_STATE_DICT_MAX_DIMS]; /* outermost first           */
    uint64_t bytes;
} plinth_tensor_info;

PLINTH_API plinth_status plinth_state_dict_open(plinth_context *ctx, const char *path,
                                                plinth_state_dict **out);
PLINTH_API void plinth_state_dict_close(plinth_state_dict *sd);
/* The file opened (a folder resolved to the file in it). */
PLINTH_API const char *plinth_state_dict_path(const plinth_state_dict *sd);
PLINTH_API uint32_t plinth_state_dict_count(const plinth_state_dict *sd);
/* Tensors are in name order. */
PLINTH_API plinth_status plinth_state_dict_tensor(const plinth_state_dict *sd, uint32_t index,
                                                  plinth_tensor_info *out);
/* The index of the tensor called `name`, or -1. */
PLINTH_API int32_t plinth_state_dict_find(const plinth_state_dict *sd, const char *name);
/* Copies bytes [offset, offset + size) of tensor `index` into dst. */
PLINTH_API plinth_status plinth_state_dict_read(plinth_state_dict *sd, uint32_t index,
                                                uint64_t offset, void *dst, uint64_t size);

/*
 * Metadata: a state dict's key/value pairs. A GGUF file's metadata, every
 * value type: integers, floats, bools, strings (bytes, possibly with NULs:
 * ask for the length), arrays of any of these but arrays. A safetensors
 * checkpoint's "__metadata__" strings (the first shard's, when sharded; a
 * key repeated there is given once). Keys are in the file's order.
 *
 * Value types are GGUF's numbers. Getters look a key up by name (a binary
 * search: cheap enough per array element), check its type and fail with
 * PLINTH_ERR_FORMAT and a message naming the file, the key, the type
 * wanted and the type found; a missing key is PLINTH_ERR_FORMAT too
 * ("no metadata key ..."): test optional keys with plinth_state_dict_meta_find
 * first. An array index past the end is PLINTH_ERR_INVALID. Outputs are
 * written only on success. Strings returned live until the dict is closed.
 */
typedef enum plinth_meta_type {
    PLINTH_META_U8 = 0,
    PLINTH_META_I8 = 1,
    PLINTH_META_U16 = 2,
    PLINTH_META_I16 = 3,
    PLINTH_META_U32 = 4,
    PLINTH_META_I32 = 5,
    PLINTH_META_F32 = 6,
    PLINTH_META_BOOL = 7,
    PLINTH_META_STRING = 8,
    PLINTH_META_ARRAY = 9,
    PLINTH_META_U64 = 10,
    PLINTH_META_I64 = 11,
    PLINTH_META_F64 = 12,
    PLINTH_META_TYPE_COUNT
} plinth_meta_type;

/* "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
 * "u64", "i64", "f64"; "?" for a number that is none. */
PLINTH_API const char *plinth_meta_type_name(int32_t type);

PLINTH_API uint32_t plinth_state_dict_meta_count(const plinth_state_dict *sd);
/* The key at `index` (file order), or NULL past the end. */
PLINTH_API const char *plinth_state_dict_meta_key(const plinth_state_dict *sd, uint32_t index);
/* The index of `key`, or -1 when the dict has no such key. */
PLINTH_API int32_t plinth_state_dict_meta_find(const plinth_state_dict *sd, const char *key);
/* The key's plinth_meta_type (PLINTH_META_ARRAY for an array), or -1 when
 * absent. */
PLINTH_API int32_t plinth_state_dict_meta_type(const plinth_state_dict *sd, const char *key);
/* An integer value (u8..i64; not bool, not float) in [min, max]: a u64
 * above INT64_MAX or a value outside the range fails naming both. */
PLINTH_API plinth_status plinth_state_dict_meta_int(const plinth_state_dict *sd, const char *key,
                                                    int64_t min, int64_t max, int64_t *out);
/* A number (f32, f64, or an integer that a double holds exactly), as it
 * is stored (NaN and infinities included: check them where they matter). */
PLINTH_API plinth_status plinth_state_dict_meta_double(const plinth_state_dict *sd,
                                                       const char *key, double *out);
PLINTH_API plinth_status plinth_state_dict_meta_bool(const plinth_state_dict *sd, const char *key,
                                                     bool *out);
/* A string: its bytes, NUL-terminated, and its length (out_len may be
 * NULL; a string holding NUL bytes is only whole with it). */
PLINTH_API plinth_status plinth_state_dict_meta_string(const plinth_state_dict *sd,
                                                       const char *key, const char **out,
                                                       uint64_t *out_len);
/* An array: its element type (a plinth_meta_type, never ARRAY) and length;
 * either output may be NULL. */
PLINTH_API plinth_status plinth_state_dict_meta_array(const plinth_state_dict *sd,
                                                      const char *key, int32_t *out_elem_type,
                                                      uint64_t *out_len);
/* Element `index` of an array: of integers or bools (as 0/1), of numbers
 * (as meta_double), of strings (as meta_string). */
PLINTH_API plinth_status plinth_state_dict_meta_array_int(const plinth_state_dict *sd,
                                                          const char *key, uint64_t index,
                                                          int64_t *out);
PLINTH_API plinth_status plinth_state_dict_meta_array_double(const plinth_state_dict *sd,
                                                             const char *key, uint64_t index,
                                                             double *out);
PLINTH_API plinth_status plinth_state_dict_meta_array_string(const plinth_state_dict *sd,
                                                             const char *key, uint64_t index,
                                                             const char **out,
                                                             uint64_t *out_len);

/*
 * Writing GGUF files (v3, little-endian) that llama.cpp reads: metadata in
 * the order added, then the tensors in the order added, each tensor's data
 * padded to the alignment (32, or the u32 "general.alignment" when added:
 * a power of two). Shapes are given outermost first, as everywhere in
 * plinth (the file's ne[] is written reversed). Tensor dtypes: f32, f16,
 * bf16, i32, q8_0, q4_0, q4_K, q6_K; the innermost dim a whole number of
 * blocks; names of 1 to PLINTH_MAX_GGUF_WRITE_NAME_BYTES bytes (llama.cpp's
 * limit).
 *
 * The add calls copy keys, names and metadata values. Tensor data is not
 * copied: a data pointer must stay valid until plinth_gguf_writer_write
 * returns; or a callback produces the bytes while the file is written.
 * Errors name the file and the key or tensor. The first failed add is
 * remembered: later adds still check their own arguments, and write then
 * fails with that first error, writing nothing. write creates "PATH.partial"
 * and renames it to PATH when complete (an existing PATH is replaced only
 * then; on failure the partial file is removed). A writer is used by one
 * thread at a time and keeps its context alive.
 */
typedef struct plinth_gguf_writer plinth_gguf_writer;

/* Bytes [offset, offset + size) of a tensor, into dst. The writer asks for
 * whole rows (offset and size multiples of the bytes of one row, the
 * innermost dim), in order, a few MiB at a time. A non-OK status stops the
 * write; a message put on the context (plinth calls made with it do) is
 * kept, prefixed with the file and tensor. */
typedef plinth_status (*plinth_gguf_tensor_fn)(void *user, uint64_t offset, void *dst,
                                               uint64_t size);

PLINTH_API plinth_status plinth_gguf_writer_create(plinth_context *ctx, const char *path,
                                                   plinth_gguf_writer **out);
PLINTH_API void plinth_gguf_writer_destroy(plinth_gguf_writer *w);
/* Scalars. `type` an integer type (u8..i64) for add_int, the value in its
 * range (a u64 takes 0..INT64_MAX here); f32 or f64 for add_float (an f32
 * rounds the value to nearest). A key is 1 to PLINTH_MAX_GGUF_NAME_BYTES
 * bytes, added once. */
PLINTH_API plinth_status plinth_gguf_writer_add_int(plinth_gguf_writer *w, const char *key,
                                                    int32_t type, int64_t value);
PLINTH_API plinth_status plinth_gguf_writer_add_float(plinth_gguf_writer *w, const char *key,
                                                      int32_t type, double value);
PLINTH_API plinth_status plinth_gguf_writer_add_bool(plinth_gguf_writer *w, const char *key,
                                                     bool value);
/* A NUL-terminated string. */
PLINTH_API plinth_status plinth_gguf_writer_add_string(plinth_gguf_writer *w, const char *key,
                                                       const char *value);
/* An array of n numbers or bools: `values` points at n elements of the C
 * type of elem_type (uint8_t ... double; bool for PLINTH_META_BOOL). */
PLINTH_API plinth_status plinth_gguf_writer_add_array(plinth_gguf_writer *w, const char *key,
                                                      int32_t elem_type, const void *values,
                                                      uint64_t n);
/* An array of n strings: lens[i] bytes of values[i], or strlen(values[i])
 * when lens is NULL. */
PLINTH_API plinth_status plinth_gguf_writer_add_string_array(plinth_gguf_writer *w,
                                                             const char *key,
                                                             const char *const *values,
                                                             const uint64_t *lens, uint64_t n);
/* A tensor of `dtype` and `shape` (ndim 1..4, outermost first, dims >= 1)
 * whose plinth_dtype_row_bytes(dtype, element count) bytes are at `data`
 * (laid out as the file stores them: contiguous, blocks along the
 * innermost dim). */
PLINTH_API plinth_status plinth_gguf_writer_add_tensor(plinth_gguf_writer *w, const char *name,
                                                       int32_t dtype, int32_t ndim,
                                                       const int64_t *shape, const void *data);
/* The same with the bytes produced by `fn` during the write. */
PLINTH_API plinth_status plinth_gguf_writer_add_tensor_fn(plinth_gguf_writer *w,
                                                          const char *name, int32_t dtype,
                                                          int32_t ndim, const int64_t *shape,
                                                          plinth_gguf_tensor_fn fn, void *user);
/* Writes the file. Once per writer (a second call is PLINTH_ERR_INVALID). */
PLINTH_API plinth_status plinth_gguf_writer_write(plinth_gguf_writer *w);

/*
 * Quantisation: rows of f32 into ggml's blocks, by the reference algorithms
 * (ggml's quantize_row_*_ref: q8_0 and q4_0 scale by the largest magnitude;
 * q4_K and q6_K search the scales that minimise a weighted squared error),
 * so the blocks are what llama.cpp's llama-quantize writes without an
 * importance matrix. Pure functions of their arguments: thread-safe.
 *
 * plinth_quantize_row writes plinth_dtype_row_bytes(dtype, n) bytes to out:
 * dtype one of q8_0, q4_0, q4_K, q6_K, or f32, f16, bf16 (rounded to
 * nearest even); n >= 0 a whole number of blocks. PLINTH_ERR_INVALID, out
 * partly written, when: a NULL pointer with n > 0, another dtype, n not a
 * whole number of blocks, a value that is NaN or infinite (block dtypes),
 * or a block whose values are too large for its f16 scale (about 8.3e6 for
 * q8_0, 5.2e5 for q4_0: far beyond any weight). No message: there is no
 * context; say which tensor it was.
 */
PLINTH_API plinth_status plinth_quantize_row(int32_t dtype, const float *x, int64_t n, void *out);
/* The inverse: n elements of `dtype` (any float or block dtype) at `in`
 * into f32, exactly as the kernels read them (plinth_dequant_block).
 * PLINTH_ERR_INVALID for i32, a bad n or a NULL pointer with n > 0. */
PLINTH_API plinth_status plinth_dequantize_row(int32_t dtype, const void *in, int64_t n,
                                               float *out);

/* ------------------------------------------------------------- model --- */

/* A model owns the persistent pool (params, constants, folded values) and
 * the state pool on one backend; its programs share them. */
PLINTH_API plinth_status plinth_model_create(plinth_backend *backend, plinth_model **out);
/* A model over an ordered list of backends: 1 to PLINTH_MAX_BACKENDS, all
 * of one context, none twice (plinth_model_create(b) is the list {b}).
 * Everything is decided when a program compiles:
 *   - each op runs on the first backend of the list whose supports()
 *     accepts its op, dtypes and shapes, or on the one it is pinned to
 *     (plinth_graph_pin); the later backends are the fallbacks;
 *   - a tensor read on another backend than the one that made it crosses
 *     by a transfer instruction into a planned place of the reader's arena,
 *     except when both backends declare PLINTH_CAP_HOST_MEMORY: then the
 *     reader reads the writer's memory and nothing is copied;
 *   - params and constants live in the persistent pool of each backend that
 *     reads them (loaded once per such backend; shared where memory is), a
 *     state on the backend that writes it (every program of the model must
 *     agree), inputs in the io pool of each backend that reads them (set
 *     once per run, copied to each), outputs where they are computed;
 *   - each backend has its own arena, planned by the one planner.
 * A program still runs as one flat list, with no decision or allocation;
 * plinth_program_instruction_info and plinth_program_backend_plan say what
 * went where and why. Keeps every backend of the list alive. */
PLINTH_API plinth_status plinth_model_create_multi(plinth_backend *const *backends, uint32_t n,
                                                   plinth_model **out);
PLINTH_API void plinth_model_destroy(plinth_model *model);
/* The model's backends, in list order (index 0 is the preferred one). */
PLINTH_API uint32_t plinth_model_backend_count(const plinth_model *model);
PLINTH_API plinth_backend *plinth_model_backend(const plinth_model *model, uint32_t index);

typedef struct plinth_compile_options {
    uint32_t struct_size;
    bool no_fold;        /* keep param-only subgraphs in the program (tests) */
    bool no_inplace;     /* disable in-place reuse (tests)                   */
} plinth_compile_options;

/* Compiles `g` into a program of `model`. The graph is not needed afterwards.
 * Must precede plinth_model_load_*; `opts` may be NULL. When ops of the
 * graph can run on no backend of the model's list, fails with
 * PLINTH_ERR_UNSUPPORTED and a message listing every such op (op, dtypes,
 * nodes, and why each backend refused), not only the first; an op pinned to
 * a backend that cannot run it fails the same way naming both. */
PLINTH_API plinth_status plinth_program_compile(plinth_model *model, const plinth_graph *g,
                                                const plinth_compile_options *opts,
                                                plinth_program **out);
PLINTH_API void plinth_program_destroy(plinth_program *prog);

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
PLINTH_API plinth_status plinth_model_load_safetensors(plinth_model *model, const char *path,
                                                       const plinth_load_options *opts);
/* The same from a state dict the caller opened (and closes). */
PLINTH_API plinth_status plinth_model_load(plinth_model *model, plinth_state_dict *sd,
                                           const plinth_load_options *opts);
/* For models without params, or whose params are set by hand: allocate the
 * pools, upload constants; params are zero until plinth_model_set_param. */
PLINTH_API plinth_status plinth_model_load_empty(plinth_model *model);
/* Writes a param's contiguous value (after a load; runs the folds again). */
PLINTH_API plinth_status plinth_model_set_param(plinth_model *model, const char *name,
                                                const void *data, size_t bytes);
/* Zeroes the state pool the programs run against (e.g. a new conversation). */
PLINTH_API plinth_status plinth_model_reset_state(plinth_model *model);

/*
 * State sets: several sequences over one copy of the weights.
 *
 * A model's `state` tensors (a KV cache) live in its state pool. A state set
 * is another pool of the same layout, zeroed at creation: binding it makes
 * every program of the model read and write it instead, while the weights,
 * the programs and their plans stay shared. A chat server keeps one set per
 * conversation and binds the one it runs next. Binding costs no copy of
 * state: it re-points the programs' state views and prepares again the
 * stretches of program that use them (backends that record command lists
 * record them again), so bind once per batch of runs, not per run.
 *
 * Create after plinth_model_load_* (the layout is known then). A set keeps
 * its model alive. Destroying the bound set binds the model's own pool
 * again. A reload of the model makes its sets stale: binding one then fails
 * with PLINTH_ERR_INVALID. Sets share their model's thread rule (one call
 * at a time per model; overlapping calls get PLINTH_ERR_BUSY).
 */
PLINTH_API plinth_status plinth_state_set_create(plinth_model *model, plinth_state_set **out);
PLINTH_API void plinth_state_set_destroy(plinth_state_set *set);
/* Makes `set` the state the model's programs use; NULL: the model's own. */
PLINTH_API plinth_status plinth_model_bind_state(plinth_model *model, plinth_state_set *set);
/* The bound set, or NULL when the model's own pool is bound. */
PLINTH_API plinth_state_set *plinth_model_bound_state(const plinth_model *model);
/* Copies src's state into dst (sets of one model; NULL names the model's
 * own pool): forks a sequence, e.g. a shared system prompt. */
PLINTH_API plinth_status plinth_state_set_copy(plinth_model *model, plinth_state_set *dst,
                                               const plinth_state_set *src);

/* ----------------------------------------------------------- program --- */

PLINTH_API uint32_t plinth_program_input_count(const plinth_program *prog);
PLINTH_API uint32_t plinth_program_output_count(const plinth_program *prog);
/* Index of the input/output with this name, or -1. Look up once, not per run. */
PLINTH_API int32_t plinth_program_input_index(const plinth_program *prog, const char *name);
PLINTH_API int32_t plinth_program_output_index(const plinth_program *prog, const char *name);
PLINTH_API plinth_status plinth_program_input_info(const plinth_program *prog, uint32_t index,
                                                   plinth_node_info *out);
PLINTH_API plinth_status plinth_program_output_info(const plinth_program *prog, uint32_t index,
                                                    plinth_node_info *out);

/* Copies `bytes` (must equal the input's size) into the input's buffer. */
PLINTH_API plinth_status plinth_program_set_input(plinth_program *prog, uint32_t index,
                                                  const void *data, size_t bytes);
/* Runs the instruction list once. On a kernel error the message names the
 * instruction index and op. */
PLINTH_API plinth_status plinth_program_run(plinth_program *prog);
/* Copies the output (contiguous, `bytes` must equal its size). */
PLINTH_API plinth_status plinth_program_get_output(plinth_program *prog, uint32_t index,
                                                   void *data, size_t bytes);

/* The memory plan's figures (sized). */
typedef struct plinth_plan_stats {
    uint32_t struct_size;
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
    /* Placement (a model on several backends; 0 on one). Sums over the
     * backends above: arena, lower bound, naive, io and both model pools. */
    uint32_t n_transfers;       /* per run: copies from one backend to another */
    uint64_t transfer_bytes;    /* per run                                   */
    uint32_t n_shared;          /* reads of another backend's memory in place */
    uint32_t n_fallback;        /* instructions on a later backend because an
                                   earlier one could not run them            */
    uint32_t n_segments;        /* stretches of the run on one backend       */
    uint32_t n_load_transfers;  /* folded values copied once, at load        */
} plinth_plan_stats;
PLINTH_API plinth_status plinth_program_plan_stats(const plinth_program *prog,
                                                   plinth_plan_stats *out);

/* One backend's share of a program (sized): index is its place in the
 * model's list. Pools are this backend's; the model's persistent and state
 * pools on it are shared by every program. */
typedef struct plinth_backend_plan {
    uint32_t struct_size;
    uint32_t n_instructions;      /* kernels per run on this backend          */
    uint32_t n_fold_instructions; /* at load                                  */
    uint32_t n_transfers_in;      /* per run, into this backend               */
    uint64_t transfer_bytes_in;   /* per run                                  */
    uint64_t arena_bytes;
    uint64_t lower_bound;         /* of this backend's arena                  */
    uint64_t naive_bytes;
    uint64_t io_bytes;
    uint64_t persistent_bytes;    /* the model's, on this backend             */
    uint64_t state_bytes;
    /* Params and constants also held by another backend of the model (each
     * backend that reads a tensor, and cannot share memory with the one that
     * has it, holds its own copy). */
    uint32_t n_replicas;
    uint64_t replica_bytes;
} plinth_backend_plan;
PLINTH_API plinth_status plinth_program_backend_plan(const plinth_program *prog, uint32_t index,
                                                     plinth_backend_plan *out);

/* One instruction of a program and where it runs (sized). The run list
 * first (index < n_instructions of plinth_plan_stats), then the load-time
 * list (the folds and their transfers). */
typedef struct plinth_instruction_info {
    uint32_t struct_size;
    int32_t op;           /* plinth_op; -1 for a transfer                     */
    int32_t node;         /* the graph node it computes (a transfer: copies)  */
    int32_t backend;      /* index in the model's list (a transfer: the destination) */
    int32_t src_backend;  /* a transfer's source; else -1                     */
    bool at_load;         /* in the load-time list                            */
    bool pinned;          /* the node was pinned to `backend`                 */
    /* Why not an earlier backend: bit i set when backend i (< backend) has
     * no kernel for the op / has one but its supports() said no. */
    uint32_t no_kernel;
    uint32_t refused;
    uint64_t bytes;       /* a transfer's bytes; 0 for kernels               */
    char types[96];       /* "f32 x i32 -> f32" (a transfer: its dtype)       */
} plinth_instruction_info;
PLINTH_API uint32_t plinth_program_instruction_count(const plinth_program *prog);
PLINTH_API plinth_status plinth_program_instruction_info(const plinth_program *prog,
                                                         uint32_t index,
                                                         plinth_instruction_info *out);
/* The plan as JSON (instructions with their backend, pools, offsets,
 * shapes, strides; transfers; each backend's pools): a string the program
 * owns, valid while it lives. */
PLINTH_API plinth_status plinth_program_plan_json(const plinth_program *prog,
                                                  const char **out_json);

#ifdef __cplusplus
}
#endif
#endif /* PLINTH_H */
