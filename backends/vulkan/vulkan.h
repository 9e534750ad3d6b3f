/*
 * vulkan.h — internals shared by the files of the vulkan backend.
 *
 * Sections:
 *   1. how tensors reach shaders (the design choice, in one place)
 *   2. shaders and dispatches                  (vulkan_shaders.c, vulkan_ops*.c)
 *   3. buffers                                 (vulkan_memory.c)
 *   4. the device object                       (vulkan_device.c)
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

/* ---------------------------------------------------------------- 1 ---- */

/*
 * Tensors are addressed by buffer device address (Vulkan 1.2
 * bufferDeviceAddress + GL_EXT_buffer_reference), not by descriptor
 * bindings. Why: the Gemma 3 270M bf16 embedding alone is 335 MB and the
 * persistent pool more, while lavapipe's maxStorageBufferRange is 128 MiB
 * (many GPUs: 2-4 GiB); a descriptor binding cannot reach past that range,
 * so matmul/get_rows over the embedding would have to be split by rows into
 * several dispatches. A device address has no range limit, needs no
 * descriptor sets at all (each dispatch is a pipeline, push constants with
 * the addresses and strides, and vkCmdDispatch), and keeps the plan's
 * offsets as they are: a view's address is buffer address + base + (offset -
 * base), where buffer address + base is checked to be a multiple of 256 and
 * of minStorageBufferOffsetAlignment.
 *
 * Fallback: a device without bufferDeviceAddress (or without
 * storageBuffer16BitAccess) is listed by `plinth devices` with what it lacks
 * and refused by device_open with that message. A descriptor path would
 * bind each tensor's base with range <= maxStorageBufferRange and split
 * matmul/get_rows over larger tables by row ranges; it is not written,
 * because every Vulkan 1.3 device has bufferDeviceAddress (it is required
 * there) and most 1.2 desktop and mobile drivers expose it.
 */

/* ---------------------------------------------------------------- 2 ---- */

/* One entry per .comp in shaders/; order matches vulkan_shaders.c. */
enum vulkan_shader {
    VULKAN_SH_ADD, VULKAN_SH_SUB, VULKAN_SH_MUL, VULKAN_SH_DIV, VULKAN_SH_SCALE,
    VULKAN_SH_GELU_TANH, VULKAN_SH_SILU, VULKAN_SH_RMS_NORM, VULKAN_SH_SOFTMAX,
    VULKAN_SH_ARGMAX, VULKAN_SH_MATMUL, VULKAN_SH_MATMUL_TILED, VULKAN_SH_MATMUL_VEC,
    VULKAN_SH_GET_ROWS, VULKAN_SH_SET_ROWS, VULKAN_SH_ROPE, VULKAN_SH_ATTENTION,
    VULKAN_SH_CAST, VULKAN_SH_COPY, VULKAN_SH_CONCAT,
    VULKAN_SH_COUNT
};

typedef struct vulkan_spirv {
    const char *name;
    const uint32_t *code;
    size_t size; /* bytes */
} vulkan_spirv;

extern const vulkan_spirv vulkan_shaders[VULKAN_SH_COUNT];

#define VULKAN_MAX_SPEC 6
#define VULKAN_PUSH_MAX 128 /* the minimum maxPushConstantsSize */

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
    uint32_t n_reads;
    vulkan_range reads[PLINTH_MAX_INPUTS];
    VkPipeline pipeline; /* filled by vulkan_pipeline_get */
} vulkan_dispatch;

/* Encodes `op` into `d`. With `check_only` (supports(): views carry no
 * buffers) it only decides whether the device runs the case. Returns a
 * plinth_status and leaves a message in dev->error. (vulkan_ops.c) */
int32_t vulkan_encode(plinth_device *dev, uint32_t op, const plinth_view *out,
                      const plinth_view *in, uint32_t n_in, const void *attrs,
                      bool check_only, vulkan_dispatch *d);

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

struct plinth_device {
    uint32_t index;
    char error[1024];
    const plinth_host *host; /* for bookkeeping allocations */

    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice device;
    struct VolkDeviceTable vk;
    VkQueue queue;
    uint32_t queue_family;
    VkCommandPool pool;
    VkCommandBuffer cmd; /* one-shot work: kernels, staging copies */
    VkFence fence;
    VkPipelineLayout layout; /* push constants only: no descriptor sets */

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

    /* Staging for upload/download when pools are not mappable. */
    vulkan_buffer staging;

    /* Validation messages (warnings and errors) from the debug callback. */
    uint32_t n_messages, n_reported;
    char message[768];
};

/* Runs the one-shot command buffer: begin / end + submit + wait. */
int32_t vulkan_oneshot_begin(plinth_device *dev);
int32_t vulkan_oneshot_submit(plinth_device *dev);
/* A pipeline for (shader, spec), created on first use and kept. */
int32_t vulkan_pipeline_get(plinth_device *dev, vulkan_dispatch *d);
/* Records one dispatch into `cmd`. */
void vulkan_record(plinth_device *dev, VkCommandBuffer cmd, const vulkan_dispatch *d);
/* A compute-to-compute memory barrier into `cmd`. */
void vulkan_barrier(plinth_device *dev, VkCommandBuffer cmd);
/* Device writes -> host reads, at the end of a command buffer. */
void vulkan_barrier_host(plinth_device *dev, VkCommandBuffer cmd);
/* PLINTH_ERR_DEVICE with the text when the validation layer has spoken
 * since the last call, else OK. */
int32_t vulkan_check_messages(plinth_device *dev);

int32_t vulkan_device_open(uint32_t index, const plinth_device_options *opts,
                           plinth_device **out);
void vulkan_device_close(plinth_device *dev);

/* ---------------------------------------------------------------- 5 ---- */

/* Formats into dev->error (or the thread's device-less message) and
 * returns `status`. */
int32_t vulkan_fail(plinth_device *dev, int32_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void vulkan_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void *vulkan_alloc(size_t size);
void vulkan_free(void *p);
/* One-time volkInitialize; false when there is no loader. */
bool vulkan_loader_ready(void);
const char *vulkan_result_name(VkResult r);
size_t vulkan_dtype_size(int32_t dtype);
const char *vulkan_dtype_name(int32_t dtype);
const char *vulkan_op_name(uint32_t op);

int32_t vulkan_buffer_alloc(plinth_device *dev, uint64_t size, plinth_buffer *out);
void vulkan_buffer_free(plinth_device *dev, plinth_buffer *buf);
int32_t vulkan_upload(plinth_device *dev, const plinth_buffer *dst, uint64_t offset,
                      const void *src, uint64_t size);
int32_t vulkan_download(plinth_device *dev, const plinth_buffer *src, uint64_t offset,
                        void *dst, uint64_t size);

int32_t vulkan_prepare(plinth_device *dev, const plinth_instruction *code, uint32_t n,
                       void **out_program);
int32_t vulkan_execute(plinth_device *dev, void *program);
void vulkan_release(plinth_device *dev, void *program);

extern const plinth_kernel_fn vulkan_kernels[PLINTH_OP_COUNT];

#endif /* PLINTH_VULKAN_H */
