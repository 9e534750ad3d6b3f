/*
 * vulkan.h — internals shared by the files of the vulkan backend.
 *
 * Sections:
 *   1. how tensors reach shaders (the design choice, in one place)
 *   2. shaders and dispatches                  (vulkan_shaders.c, vulkan_ops*.c)
 *   3. buffers                                 (vulkan_memory.c)
 *   4. the instance and device objects         (vulkan_device.c)
 *   5. errors, host services, entry points     (vulkan_plugin.c and the rest)
 *
 * Nothing here crosses the plugin boundary; the only exported symbol is the
 * entry point in vulkan_plugin.c.
 */
#ifndef PLINTH_VULKAN_H
#define PLINTH_VULKAN_H

#include <volk.h> /* first: it defines VK_NO_PROTOTYPES before vulkan.h */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plinth_plugin.h"
#include "plugin_host.h"

/* ---------------------------------------------------------------- 1 ---- */

/*
 * Two ways for a shader to reach a tensor, chosen per device at open
 * (vulkan_device.c; config "address=descriptor|device"); every shader is
 * compiled for both (shaders/common.glsl) and takes each operand as a uvec2
 * push constant:
 *
 *  - descriptors (VkDeviceType CPU, or no bufferDeviceAddress): each
 *    operand is a storage-buffer descriptor, set 0 binding 0[slot], bound at
 *    a multiple of 256 and of minStorageBufferOffsetAlignment at or below
 *    the view's first byte, range <= maxStorageBufferRange; the uvec2 is
 *    (slot, byte offset of element 0 in the binding). A view wider than the
 *    range is split by rows into several dispatches (matmul's b, get_rows'
 *    table: the 335 MB Gemma embedding against lavapipe's 128 MiB); other
 *    ops refuse it. Measured on lavapipe (Mesa 22.3, bench in the README):
 *    the same row-per-invocation matvec loads 4.7 GB/s through a binding,
 *    0.4 through a device address (llvmpipe emits 64-bit per-lane address
 *    arithmetic and a scalar loop for global loads).
 *  - device addresses (GPUs): GL_EXT_buffer_reference, no range limit and no
 *    descriptor sets; the uvec2 is the address of element 0.
 *
 * Descriptor sets are allocated and written at prepare time (one per
 * dispatch, from a pool owned by the program); the one-shot kernel path
 * has its own small set of sets, rewritten before each submit.
 */

/* ---------------------------------------------------------------- 2 ---- */

/* One entry per .comp in shaders/; order matches vulkan_shaders.c. */
enum vulkan_shader {
    VULKAN_SH_ADD, VULKAN_SH_SUB, VULKAN_SH_MUL, VULKAN_SH_DIV, VULKAN_SH_SCALE,
    VULKAN_SH_GELU_TANH, VULKAN_SH_SILU, VULKAN_SH_RMS_NORM, VULKAN_SH_SOFTMAX,
    VULKAN_SH_ARGMAX, VULKAN_SH_MATMUL, VULKAN_SH_MATMUL_I64, VULKAN_SH_MATMUL_TILED,
    VULKAN_SH_MATMUL_VEC,
    VULKAN_SH_MATMUL_VEC_I64,
    VULKAN_SH_GET_ROWS, VULKAN_SH_SET_ROWS, VULKAN_SH_ROPE, VULKAN_SH_ATTENTION,
    VULKAN_SH_ATTENTION_LANES,
    VULKAN_SH_CAST, VULKAN_SH_COPY, VULKAN_SH_CONCAT,
    /* block dtypes (vulkan_ops_q.c) */
    VULKAN_SH_MATVEC_Q, VULKAN_SH_MATVEC_Q_I64, VULKAN_SH_MATMUL_Q, VULKAN_SH_MATMUL_Q_KN,
    VULKAN_SH_DEQUANT,
    VULKAN_SH_COUNT
};

typedef struct vulkan_spirv {
    const char *name;
    const uint32_t *code;
    size_t size; /* bytes */
} vulkan_spirv;

extern const vulkan_spirv vulkan_shaders[VULKAN_SH_COUNT];
extern const vulkan_spirv vulkan_shaders_desc[VULKAN_SH_COUNT]; /* -DPLINTH_DESC */

#define VULKAN_MAX_SPEC 8
#define VULKAN_PUSH_MAX 128 /* the minimum maxPushConstantsSize */
#define VULKAN_MAX_BINDS 8  /* descriptor slots per dispatch (NB in common.glsl) */
#define VULKAN_MAX_SPLIT 16 /* dispatches one op may be split into */

/* One descriptor slot: a byte range of a VkBuffer. */
typedef struct vulkan_bind {
    VkBuffer buffer;
    uint64_t offset, range;
} vulkan_bind;

/* A byte range of one buffer that a dispatch reads or writes. */
typedef struct vulkan_range {
    const void *buf; /* vulkan_buffer *, NULL: none */
    uint64_t lo, hi;
} vulkan_range;

/* Everything needed to record one dispatch, worked out once. */
typedef struct vulkan_dispatch {
    uint32_t shader;
    uint32_t n_spec;
    int32_t spec[VULKAN_MAX_SPEC];
    uint32_t groups[3];
    uint32_t push_size;
    uint8_t push[VULKAN_PUSH_MAX];
    vulkan_range write;
    vulkan_range write2; /* a second output (fused patterns), or none */
    vulkan_range write3; /* a third (rms_norm -> add -> rms_norm), or none */
    uint32_t n_reads;
    vulkan_range reads[PLINTH_MAX_INPUTS];
    uint32_t n_binds; /* descriptor mode: the slots the views took */
    vulkan_bind binds[VULKAN_MAX_BINDS];
    VkPipeline pipeline; /* filled by vulkan_pipeline_get */
    VkDescriptorSet set; /* descriptor mode: written before recording */
} vulkan_dispatch;

/* Encodes `op` into d[0 .. *n_d) (room for VULKAN_MAX_SPLIT; more than one
 * when a view is split over maxStorageBufferRange). With `check_only`
 * (supports(): views carry no buffers) it only decides whether the device
 * runs the case. Returns a plinth_status and leaves a message in
 * dev->error. (vulkan_ops.c) */
int32_t vulkan_encode(plinth_device *dev, uint32_t op, const plinth_view *out,
                      const plinth_view *in, uint32_t n_in, const void *attrs,
                      bool check_only, vulkan_dispatch *d, uint32_t *n_d);
/* Fusion (vulkan_fuse.c): when code[i..] starts a pattern it fuses,
 * encodes it into d[0 .. *n_d) and says how many instructions it took
 * (*used); PLINTH_ERR_UNSUPPORTED when nothing fuses there. */
int32_t vulkan_fuse(plinth_device *dev, const plinth_instruction *code, uint32_t n, uint32_t i,
                    vulkan_dispatch *d, uint32_t *n_d, uint32_t *used);
/* gelu_tanh(x) -> g followed by op(g, b) -> out (add/sub/mul/div), as one
 * dispatch that writes both g and out; f32, all four dense and of one
 * shape. PLINTH_ERR_UNSUPPORTED when the case does not fit. (vulkan_ops.c) */
int32_t vulkan_encode_gelu_binary(plinth_device *dev, uint32_t op, const plinth_view *out,
                                  const plinth_view *x, const plinth_view *b,
                                  const plinth_view *g, vulkan_dispatch *d);
/* rms_norm(in) -> out followed by add(out, r) -> s, as one dispatch that
 * writes both out and s; f32, out, r and s dense and of one shape. With z
 * (w2: the weight, laid out like in[1]; NULL without one), then also
 * rms_norm(s) -> z with the same eps. (vulkan_ops.c) */
int32_t vulkan_encode_rms_norm_add(plinth_device *dev, const plinth_view *out,
                                   const plinth_view *in, uint32_t n_in, const void *attrs,
                                   const plinth_view *r, const plinth_view *s,
                                   const plinth_view *z, const plinth_view *w2,
                                   vulkan_dispatch *d);
/* Points d->set's slots at d->binds (unused slots repeat slot 0). */
void vulkan_write_set(plinth_device *dev, const vulkan_dispatch *d);

/* ---------------------------------------------------------------- 3 ---- */

typedef struct vulkan_buffer {
    VkBuffer buffer;
    VkDeviceMemory memory;
    VkDeviceAddress addr; /* device address of usable byte 0 (256-aligned) */
    uint64_t shift;       /* usable byte 0 is at this offset in `buffer`    */
    uint64_t size;        /* usable bytes                                  */
    uint8_t *map;         /* mapped address of usable byte 0, or NULL      */
} vulkan_buffer;

/* Frees the staging buffer. (vulkan_memory.c) */
void vulkan_memory_release(plinth_device *dev);

/* ---------------------------------------------------------------- 4 ---- */

enum vulkan_variant { VULKAN_AUTO = 0, VULKAN_CPU_STYLE = 1, VULKAN_GPU_STYLE = 2 };

typedef struct vulkan_pipe {
    uint32_t shader, n_spec;
    int32_t spec[VULKAN_MAX_SPEC];
    VkPipeline pipeline;
} vulkan_pipe;

#define VULKAN_ERROR_SIZE 1024

/* The instance (struct plinth_instance) and its host services are
 * backends/common/plugin_host.h; the only process-wide state is the loader
 * and the cache of enumerated devices (vulkan_plugin.c), both set up once
 * under a lock. */

struct plinth_device {
    plinth_instance *inst; /* opened from: its log and allocator */
    uint32_t index;
    char error[VULKAN_ERROR_SIZE];

    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    /* This VkInstance's own: closing must not depend on which instance
     * volk's process-wide pointers were loaded from last. */
    PFN_vkDestroyInstance destroy_instance;
    PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger;
    VkPhysicalDevice phys;
    VkDevice device;
    struct VolkDeviceTable vk;
    VkQueue queue;
    uint32_t queue_family;
    VkCommandPool pool;
    VkCommandBuffer cmd; /* one-shot work: kernels, staging copies */
    VkFence fence;
    VkPipelineLayout layout; /* push constants (+ set 0 in descriptor mode) */
    bool desc;               /* descriptor mode (section 1) */
    bool has_bda;            /* bufferDeviceAddress enabled */
    bool int64;              /* shaderInt64 enabled: matmul_vec_i64 */
    uint64_t max_range;      /* maxStorageBufferRange */
    VkDescriptorSetLayout set_layout;
    VkDescriptorPool oneshot_pool; /* VULKAN_MAX_SPLIT sets for kernels */
    VkDescriptorSet oneshot_sets[VULKAN_MAX_SPLIT];

    vulkan_pipe *pipes;
    uint32_t n_pipes, cap_pipes;

    /* What the device reports, kept for decisions. */
    VkPhysicalDeviceProperties props;
    uint32_t subgroup_size;
    bool subgroup_arith; /* arithmetic subgroup ops in compute */
    uint64_t min_align;  /* minStorageBufferOffsetAlignment */
    uint64_t max_alloc;  /* maxMemoryAllocationSize */
    uint64_t max_buffer; /* maxBufferSize (1.3) or max_alloc */
    uint64_t heap_size;
    uint32_t mem_type;     /* for pools */
    bool mappable;         /* pools are host-visible and coherent */
    uint32_t staging_type; /* host-visible type for staging */
    uint64_t shared_mem;   /* maxComputeSharedMemorySize */

    /* Configuration (device_open config / environment). */
    bool validation;
    int matmul_variant, matvec_variant;
    int attention_variant; /* CPU style: attention_lanes.comp where it applies */
    int matvec_rows; /* columns per invocation of the CPU-style matvec (-1: per dispatch) */
    bool no_k8;      /* matvec: b 4 k per load (no 16- or 32-byte loads) */
    int matvec_wg;   /* CPU-style matvec invocations per workgroup (0: default) */
    int matvec_kc;   /* K as a specialisation constant: 0 default, 1 off, 2 on */
    bool fuse; /* prepare fuses instruction patterns (vulkan_fuse.c) */

    /* Staging for upload/download when pools are not mappable. */
    vulkan_buffer staging;

    /* Validation messages (warnings and errors) from the debug callback. */
    uint32_t n_messages, n_reported;
    char message[768];
};

/* PLINTH_VULKAN_PROFILE=1 (vulkan_profile.c): timestamps around every
 * dispatch of a prepared program, summed per shader, printed at exit. */
typedef struct vulkan_profile {
    VkQueryPool pool;
    uint32_t n, cap;
    uint16_t *keys; /* per query: the shader whose dispatch ended there */
} vulkan_profile;
bool vulkan_profile_enabled(void);
int32_t vulkan_profile_begin(plinth_device *dev, vulkan_profile *p, uint32_t n_dispatch);
/* d NULL: reset and the first timestamp (at the start of the program). */
void vulkan_profile_mark(plinth_device *dev, VkCommandBuffer cmd, vulkan_profile *p,
                         const vulkan_dispatch *d);
void vulkan_profile_collect(plinth_device *dev, vulkan_profile *p);
void vulkan_profile_end(plinth_device *dev, vulkan_profile *p);

/* The feature structs plinth reads (chained), and the first requirement a
 * device misses (NULL: none) — the one rule both `plinth devices` and
 * device_open apply. bufferDeviceAddress is optional (descriptor mode). */
typedef struct vulkan_features {
    VkPhysicalDeviceFeatures2 f2;
    VkPhysicalDeviceVulkan11Features f11;
    VkPhysicalDeviceVulkan12Features f12;
} vulkan_features;
void vulkan_get_features(VkPhysicalDevice pd, vulkan_features *f);
const char *vulkan_missing_feature(const VkPhysicalDeviceProperties *p, const vulkan_features *f);

/* Runs the one-shot command buffer: begin / end + submit + wait. */
int32_t vulkan_oneshot_begin(plinth_device *dev);
int32_t vulkan_oneshot_submit(plinth_device *dev);
/* A pipeline for (shader, spec), created on first use and kept. */
int32_t vulkan_pipeline_get(plinth_device *dev, vulkan_dispatch *d);
/* Records one dispatch into `cmd`. */
void vulkan_record(plinth_device *dev, VkCommandBuffer cmd, const vulkan_dispatch *d);
/* A pool for `sets` descriptor sets of the device's layout. */
int32_t vulkan_descriptor_pool(plinth_device *dev, uint32_t sets, VkDescriptorPool *pool);
/* A compute-to-compute memory barrier into `cmd`. */
void vulkan_barrier(plinth_device *dev, VkCommandBuffer cmd);
/* Device writes -> host reads, at the end of a command buffer. */
void vulkan_barrier_host(plinth_device *dev, VkCommandBuffer cmd);
/* PLINTH_ERR_DEVICE with the text when the validation layer has spoken
 * since the last call, else OK. */
int32_t vulkan_check_messages(plinth_device *dev);

int32_t vulkan_device_open(plinth_instance *inst, uint32_t index,
                           const plinth_device_options *opts, plinth_device **out);
void vulkan_device_close(plinth_device *dev);

/* ---------------------------------------------------------------- 5 ---- */

/* Formats into dev->error and returns `status` (dev NULL: only returns it;
 * there is no object to hold the message). */
int32_t vulkan_fail(plinth_device *dev, int32_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Instance errors, the log and bookkeeping memory: plugin_inst_fail,
 * plugin_log, plugin_malloc/plugin_free (backends/common/plugin_host.h). */
/* One-time volkInitialize; false when there is no loader. */
bool vulkan_loader_ready(void);
/* Held while volk's instance-level pointers are loaded and used (device
 * enumeration, device_open): they are process-wide (vulkan_plugin.c). */
void vulkan_vk_lock(void);
void vulkan_vk_unlock(void);
const char *vulkan_result_name(VkResult r);

int32_t vulkan_buffer_alloc(plinth_device *dev, uint64_t size, plinth_buffer *out);
void vulkan_buffer_free(plinth_device *dev, plinth_buffer *buf);
int32_t vulkan_upload(plinth_device *dev, const plinth_buffer *dst, uint64_t offset,
                      const void *src, uint64_t size);
int32_t vulkan_download(plinth_device *dev, const plinth_buffer *src, uint64_t offset,
                        void *dst, uint64_t size);

int32_t vulkan_prepare(plinth_device *dev, const plinth_instruction *code, uint32_t n,
                       size_t instruction_size, void **out_program);
int32_t vulkan_execute(plinth_device *dev, void *program);
void vulkan_release(plinth_device *dev, void *program);

extern const plinth_kernel_fn vulkan_kernels[PLINTH_OP_COUNT];

#endif /* PLINTH_VULKAN_H */
