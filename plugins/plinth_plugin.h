/*
 * plinth_plugin.h — the backend plugin ABI of plinth.
 *
 * This header is the whole contract between the plinth core (the host) and a
 * backend plugin (a shared module loaded with dlopen). It includes only
 * standard headers; a plugin includes this file and nothing else of plinth.
 *
 * Sections:
 *   1. versions and constants
 *   2. vocabulary shared with the public API: status, dtype, op list, attrs
 *   3. views and buffers
 *   4. host services (passed in) and the backend vtable (passed out)
 *   5. the entry symbol
 *   6. a well-behaved plugin (numbered rules, what breaks, what the host checks)
 *
 * Growth rules: every struct that crosses the boundary starts with
 * `struct_size` (and the top-level ones with `abi_version`). Fields are only
 * ever appended. A reader checks `struct_size` before touching a field that
 * was added later; a missing field reads as its documented default. Op numbers
 * and dtype numbers are ABI: append only, never renumber.
 */
#ifndef PLINTH_PLUGIN_H
#define PLINTH_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- 1 ---- */

/* The ABI version this header describes. Bumped only when a change cannot be
 * expressed by appending fields; plugins say which versions they can serve. */
#define PLINTH_ABI_VERSION 1u

/* Every buffer a plugin allocates and every tensor the planner places starts
 * at a multiple of this many bytes. 256 is the largest
 * minStorageBufferOffsetAlignment Vulkan allows, so one plan fits all. */
#define PLINTH_ALIGNMENT 256u

/* Tensors have at most this many dimensions. */
#define PLINTH_MAX_DIMS 4

/* Name of the one symbol a plugin exports (see section 5). */
#define PLINTH_PLUGIN_ENTRY_SYMBOL "plinth_plugin_entry"

/* ---------------------------------------------------------------- 2 ---- */

typedef enum plinth_status {
    PLINTH_OK = 0,
    PLINTH_ERR_INVALID = 1,     /* bad argument, bad graph, bad shape       */
    PLINTH_ERR_UNSUPPORTED = 2, /* op/dtype/feature not available here      */
    PLINTH_ERR_NO_MEMORY = 3,   /* an allocation failed                     */
    PLINTH_ERR_IO = 4,          /* file missing, unreadable, truncated      */
    PLINTH_ERR_FORMAT = 5,      /* file readable but its content is wrong   */
    PLINTH_ERR_PLUGIN = 6,      /* a plugin broke the ABI contract          */
    PLINTH_ERR_DEVICE = 7,      /* the device failed or is absent           */
    PLINTH_ERR_INTERNAL = 8,    /* a bug in plinth                          */
    PLINTH_STATUS_COUNT
} plinth_status;

/* Element types. Sizes: f32 4, f16 2, bf16 2, i32 4. */
typedef enum plinth_dtype {
    PLINTH_F32 = 0,
    PLINTH_F16 = 1,
    PLINTH_BF16 = 2,
    PLINTH_I32 = 3,
    PLINTH_DTYPE_COUNT
} plinth_dtype;

/*
 * The op list, once. X(ENUM, name, min_inputs, max_inputs)
 *
 * Shapes below are written outermost first; "[..., N]" means any leading
 * dims. Unless said otherwise the output dtype is the first input's dtype.
 *
 *  add sub mul div  a ∘ b with numpy broadcasting; a, b same dtype. On i32:
 *                   add/sub/mul wrap (two's complement), div truncates
 *                   toward zero, x/0 = 0.
 *  scale            x * attrs.scale.s (float dtypes)
 *  gelu_tanh        0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))
 *  silu             x / (1 + e^-x)
 *  rms_norm         x [..., N], optional w [N] (any float dtype):
 *                   x / sqrt(mean(x²) + eps) (* w)
 *  softmax          x [..., N], optional float mask broadcastable to x (added
 *                   after scaling): softmax(x * scale + mask) over the last
 *                   dim; a row that is entirely -inf gives zeros
 *  matmul           a [..., M, K] x b [..., K, N] (or b [..., N, K] with
 *                   transpose_b) -> [..., M, N]; leading dims broadcast;
 *                   a float, b any float dtype; out dtype = a's dtype
 *  get_rows         table [R, C] (any dtype), idx i32 [N] -> [N, C] in
 *                   attrs.get_rows.dtype (a float table may widen to f32)
 *  set_rows         out = a state tensor [R, C]; in: src [N, C] (any float
 *                   dtype), idx i32 [N]: out[idx[i]] = src[i]; other rows
 *                   untouched (the one op exempt from "writes every
 *                   element", rule 6); a repeated index: the last write wins
 *  rope             x [T, H, D] or [B, T, H, D], pos i32 [T]: NeoX
 *                   rotate-half over the first n_dims of D with
 *                   theta_i = pos * base^(-2i/n_dims)
 *  attention        q [T, Hq, D], k [S, Hkv, D], v [S, Hkv, D], pos i32 [T],
 *                   kv_len i32 [1] -> [T, Hq, D]. Query t attends to key j
 *                   when j < kv_len, j <= pos[t] (causal) and, if window > 0,
 *                   pos[t] - j < window. Hq is a multiple of Hkv (GQA). A
 *                   query with no visible key gives zeros.
 *  cast             x -> attrs.cast.dtype (round to nearest even; float ->
 *                   i32 saturates, NaN -> 0)
 *  copy             x -> same values, contiguous
 *  concat           a, b equal except on attrs.concat.axis -> joined
 *  argmax           x [..., N] float -> i32 [...] (first maximum; NaN counts
 *                   as the maximum, as in numpy)
 */
#define PLINTH_OP_LIST(X)                \
    X(ADD,       add,       2, 2)        \
    X(SUB,       sub,       2, 2)        \
    X(MUL,       mul,       2, 2)        \
    X(DIV,       div,       2, 2)        \
    X(SCALE,     scale,     1, 1)        \
    X(GELU_TANH, gelu_tanh, 1, 1)        \
    X(SILU,      silu,      1, 1)        \
    X(RMS_NORM,  rms_norm,  1, 2)        \
    X(SOFTMAX,   softmax,   1, 2)        \
    X(MATMUL,    matmul,    2, 2)        \
    X(GET_ROWS,  get_rows,  2, 2)        \
    X(SET_ROWS,  set_rows,  2, 2)        \
    X(ROPE,      rope,      2, 2)        \
    X(ATTENTION, attention, 5, 5)        \
    X(CAST,      cast,      1, 1)        \
    X(COPY,      copy,      1, 1)        \
    X(CONCAT,    concat,    2, 2)        \
    X(ARGMAX,    argmax,    1, 1)

typedef enum plinth_op {
#define PLINTH_X_ENUM(E, n, lo, hi) PLINTH_OP_##E,
    PLINTH_OP_LIST(PLINTH_X_ENUM)
#undef PLINTH_X_ENUM
    PLINTH_OP_COUNT
} plinth_op;

/* Maximum number of inputs any op takes. */
#define PLINTH_MAX_INPUTS 5

/* Per-op attributes. The executor passes a pointer to the member of the
 * union that belongs to the op (all members start at offset 0). */
typedef struct plinth_attr_scale     { float s; } plinth_attr_scale;
typedef struct plinth_attr_rms_norm  { float eps; } plinth_attr_rms_norm;
typedef struct plinth_attr_softmax   { float scale; } plinth_attr_softmax;
typedef struct plinth_attr_matmul    { int32_t transpose_b; } plinth_attr_matmul;
typedef struct plinth_attr_get_rows  { int32_t dtype; } plinth_attr_get_rows;
typedef struct plinth_attr_rope      { float base; int32_t n_dims; } plinth_attr_rope;
typedef struct plinth_attr_attention { float scale; int32_t window; } plinth_attr_attention;
typedef struct plinth_attr_cast      { int32_t dtype; } plinth_attr_cast;
typedef struct plinth_attr_concat    { int32_t axis; } plinth_attr_concat;

typedef union plinth_attrs {
    plinth_attr_scale scale;
    plinth_attr_rms_norm rms_norm;
    plinth_attr_softmax softmax;
    plinth_attr_matmul matmul;
    plinth_attr_get_rows get_rows;
    plinth_attr_rope rope;
    plinth_attr_attention attention;
    plinth_attr_cast cast;
    plinth_attr_concat concat;
    uint8_t reserved[64]; /* fixes the size: members may be appended */
} plinth_attrs;

/* ---------------------------------------------------------------- 3 ---- */

/* A buffer as the plugin's allocator hands it out. */
typedef struct plinth_buffer {
    void *handle;  /* the plugin's own object; opaque to the host          */
    uint8_t *host; /* host address of byte 0 if the host may read/write the
                      buffer directly, else NULL (e.g. device memory)       */
    uint64_t size; /* usable bytes, >= the size asked for                  */
} plinth_buffer;

/*
 * A view: where a tensor's elements are and how to step through them.
 *
 * Always 4 dims, outermost first: shape[3] is the innermost dim. A tensor of
 * rank r < 4 has its leading 4 - r dims set to 1; ndim keeps r, which
 * matters where an attr names a logical axis (concat: the 4-D axis is
 * axis + 4 - ndim). Strides are in bytes and may be anything a reshape, permute,
 * slice or broadcast produces (0 for a broadcast dim). A view never extends
 * outside the tensor it belongs to.
 *
 *   element (i0,i1,i2,i3) lives at  data + i0*stride[0] + ... + i3*stride[3]
 *
 * `data` is buffer.host + offset (NULL when the buffer is not host-visible).
 * `base` is the offset of the tensor's own 256-aligned start in the buffer;
 * `offset - base` is where this view begins inside that tensor. Backends that
 * bind buffers (Vulkan) bind at `base` and pass `offset - base` as an
 * argument; host backends just use `data`.
 */
typedef struct plinth_view {
    const plinth_buffer *buffer;
    uint8_t *data;
    uint64_t base;
    uint64_t offset;
    int32_t dtype;
    int32_t ndim;
    int64_t shape[PLINTH_MAX_DIMS];
    int64_t stride[PLINTH_MAX_DIMS];
} plinth_view;

/* ---------------------------------------------------------------- 4 ---- */

enum plinth_log_level {
    PLINTH_LOG_ERROR = 0,
    PLINTH_LOG_WARN = 1,
    PLINTH_LOG_INFO = 2,
    PLINTH_LOG_DEBUG = 3
};

/* Services the host gives the plugin. A plugin never prints and never calls
 * into the core except through these. All may be called from any thread.
 * The struct is process-wide: one loaded image serves every context. */
typedef struct plinth_host {
    uint32_t struct_size;
    uint32_t abi_version;
    void *user;
    void (*log)(void *user, int level, const char *message);
    /* Host allocator for the plugin's bookkeeping (not for tensor buffers).
     * May return NULL: the plugin must then fail with PLINTH_ERR_NO_MEMORY. */
    void *(*malloc)(void *user, size_t size);
    void (*free)(void *user, void *ptr);
} plinth_host;

enum plinth_device_type {
    PLINTH_DEVICE_CPU = 0,
    PLINTH_DEVICE_GPU_DISCRETE = 1,
    PLINTH_DEVICE_GPU_INTEGRATED = 2,
    PLINTH_DEVICE_GPU_VIRTUAL = 3,
    PLINTH_DEVICE_SOFTWARE = 4, /* e.g. a software Vulkan rasteriser */
    PLINTH_DEVICE_OTHER = 5
};

typedef struct plinth_device_info {
    uint32_t struct_size; /* set by the host to sizeof its struct */
    char name[128];
    char description[256]; /* one line: driver, versions            */
    int32_t type;           /* enum plinth_device_type              */
    uint64_t memory_bytes;  /* memory usable for buffers, 0 unknown */
    char features[256];     /* one line, e.g. "avx512 bf16 threads=2" */
} plinth_device_info;

typedef struct plinth_device_options {
    uint32_t struct_size;
    uint32_t n_threads;  /* 0 = the plugin's default                */
    const char *config;  /* "key=value,key=value" backend specific,
                            NULL or "" for defaults                 */
} plinth_device_options;

/* One instruction of a compiled program, as handed to `prepare`. */
typedef struct plinth_instruction {
    uint32_t op;
    uint32_t n_in;
    const plinth_view *out;
    const plinth_view *in; /* n_in views                            */
    const void *attrs;     /* the op's attrs member, never NULL     */
} plinth_instruction;

typedef struct plinth_device plinth_device; /* plugin-defined */

/* An out-kernel: compute the op from `in` into `out`, writing nothing
 * outside `out`. Returns a plinth_status; on failure the message is read
 * with `last_error`. */
typedef int32_t (*plinth_kernel_fn)(plinth_device *dev, const plinth_view *out,
                                    const plinth_view *in, uint32_t n_in,
                                    const void *attrs);

typedef struct plinth_backend_api {
    uint32_t struct_size;
    uint32_t abi_version; /* the version this table follows */
    const char *name;     /* short, lower case: "ref", "cpu" */
    const char *version;  /* the plugin's own version string */
    const char *description;

    /* Devices. `device_count` may return 0 (e.g. no Vulkan driver);
     * `unavailable_reason` then says why in one line (may be NULL). */
    uint32_t (*device_count)(void);
    int32_t (*device_info)(uint32_t index, plinth_device_info *out);
    int32_t (*device_open)(uint32_t index, const plinth_device_options *opts,
                           plinth_device **out);
    void (*device_close)(plinth_device *dev);
    const char *(*last_error)(plinth_device *dev);

    /* Allocator: `out->host`, when not NULL, must be a multiple of
     * PLINTH_ALIGNMENT; size 0 is allowed and yields a valid buffer. */
    int32_t (*buffer_alloc)(plinth_device *dev, uint64_t size, plinth_buffer *out);
    void (*buffer_free)(plinth_device *dev, plinth_buffer *buf);
    int32_t (*upload)(plinth_device *dev, const plinth_buffer *dst, uint64_t offset,
                      const void *src, uint64_t size);
    int32_t (*download)(plinth_device *dev, const plinth_buffer *src, uint64_t offset,
                        void *dst, uint64_t size);

    /* May this device run `op` on these views? Views carry shapes and dtypes
     * (their buffers are NULL at this point). */
    bool (*supports)(plinth_device *dev, uint32_t op, const plinth_view *out,
                     const plinth_view *in, uint32_t n_in, const void *attrs);

    /* Out-kernels indexed by plinth_op; ops >= op_count or NULL entries are
     * unsupported. */
    uint32_t op_count;
    const plinth_kernel_fn *kernels;

    /* Optional whole-program path (NULL if absent): `prepare` sees the final
     * instruction list once, after every buffer exists; `execute` replays it.
     * Views and attrs stay valid until `release`. */
    int32_t (*prepare)(plinth_device *dev, const plinth_instruction *code, uint32_t n,
                       void **out_program);
    int32_t (*execute)(plinth_device *dev, void *program);
    void (*release)(plinth_device *dev, void *program);

    /* Optional: wait until all submitted work is done (NULL = synchronous). */
    int32_t (*synchronize)(plinth_device *dev);

    /* Optional: why device_count() is 0, one line (NULL = not said). */
    const char *(*unavailable_reason)(void);
} plinth_backend_api;

/* ---------------------------------------------------------------- 5 ---- */

/*
 * The one exported symbol:
 *
 *   const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version,
 *                                                 const plinth_host *host);
 *
 * Cheap, no side effects beyond remembering `host`. Returns NULL when the
 * plugin cannot serve `host_abi_version`; otherwise a table whose
 * abi_version is <= host_abi_version. `host` outlives the table.
 */
typedef const plinth_backend_api *(*plinth_plugin_entry_fn)(uint32_t host_abi_version,
                                                            const plinth_host *host);

#if defined(_WIN32)
#define PLINTH_PLUGIN_EXPORT __declspec(dllexport)
#else
#define PLINTH_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* ---------------------------------------------------------------- 6 ---- */

/*
 * A well-behaved plugin. Each rule: what it asks, what happens if it is
 * broken, and whether the host checks it.
 *
 *  1. Export exactly `plinth_plugin_entry`, built with hidden visibility.
 *     Broken: the loader reports "entry symbol missing" naming the file.
 *     Checked: yes (dlsym).
 *  2. Return NULL for an ABI version you cannot serve; never return a table
 *     whose abi_version exceeds the host's. Broken: the plugin is refused
 *     with both versions in the message. Checked: yes.
 *  3. Set struct_size = sizeof(plinth_backend_api) as compiled, and fill
 *     every mandatory slot (all but prepare/execute/release/synchronize/
 *     unavailable_reason). Broken: refused naming the missing slot.
 *     Checked: yes.
 *  4. Allocator: every buffer's host address (when not NULL) is a multiple
 *     of PLINTH_ALIGNMENT and `size` >= the size asked for. Broken: the
 *     allocation is freed and refused, naming the plugin and the address.
 *     Checked: yes, on every buffer.
 *  5. `supports` is honest: if it says yes, the kernel runs that case.
 *     Broken: compile succeeds but the run fails (or the conformance suite
 *     reports the op). Checked: by conformance.
 *  6. A kernel writes only inside `out` (its shape and strides), and writes
 *     every element of it (set_rows: every indexed row). Broken: neighbouring tensors are corrupted, or
 *     stale values leak through. Checked: by conformance (guard bytes and
 *     NaN poisoning), not at run time.
 *  7. A kernel does not allocate, lock, or look anything up by name on the
 *     hot path; setup belongs in device_open or prepare. Broken: slow.
 *     Checked: by benchmarks.
 *  8. Never print, exit or abort for anything a caller can cause: return a
 *     status and keep the message for `last_error`. Broken: the host cannot
 *     report the error or recover. Checked: no.
 *  9. Results agree with `ref` within the conformance thresholds for every
 *     case `supports` accepts. Checked: by conformance.
 * 10. Do not touch inputs (`in` views are read-only) except where an op's
 *     output aliases its input: the planner reuses an input's memory for
 *     the output of add sub mul div scale gelu_tanh silu when that input
 *     dies there, so out may be the very same view as in[0] or in[1] for
 *     those ops. Kernels of those ops must read an element before writing
 *     the same element, and must not assume out and in are disjoint.
 *     Checked: by conformance.
 * 11. device_open and device_info fail before a device exists to hold a
 *     message: `last_error(NULL)` returns the message of the last such
 *     failure (NULL or "" if none). Broken: the host reports the status
 *     without a reason. Checked: no.
 * 12. `host` (given to the entry) is process-wide and outlives the plugin;
 *     keep the pointer. Its log lines reach the context whose call is in
 *     progress, so log only from inside a call the host made.
 */

#ifdef __cplusplus
}
#endif
#endif /* PLINTH_PLUGIN_H */
