/*
 * vulkan_plugin.c — the vulkan backend's face to the host.
 *
 * Sections:
 *   1. instances, host services, errors, small tables (dtype and op names)
 *   2. the loader (volk) and device enumeration, done once and cached
 *   3. device_count / device_info / unavailable_reason
 *   4. supports
 *   5. the table and the entry point (the only exported symbol)
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vulkan.h"

/* ---------------------------------------------------------------- 1 ---- */

/* Nothing of a host is kept here: its services travel with the instance,
 * errors with the instance or the device (rule 11). */

int32_t vulkan_fail(plinth_device *dev, int32_t status, const char *fmt, ...)
{
    if (dev) {
        va_list ap;
        va_start(ap, fmt);
        plugin_set_error(dev->error, sizeof dev->error, status, fmt, ap);
        va_end(ap);
    }
    return status;
}



const char *vulkan_result_name(VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    default: return "VkResult error";
    }
}

/* ---------------------------------------------------------------- 2 ---- */

static pthread_once_t g_volk_once = PTHREAD_ONCE_INIT;
static bool g_volk_ok;

static void volk_init(void)
{
    g_volk_ok = volkInitialize() == VK_SUCCESS;
}

bool vulkan_loader_ready(void)
{
    pthread_once(&g_volk_once, volk_init);
    return g_volk_ok;
}

/* At most this many devices are listed (rule 13: PLINTH_MAX_DEVICES). */
#define MAX_DEVICES 16
_Static_assert(MAX_DEVICES <= PLINTH_MAX_DEVICES, "rule 13");

typedef struct device_entry {
    plinth_device_info info;
} device_entry;

/* The process-wide cache: what every instance sees is the same machine.
 * Filled once under g_vk_lock, read-only afterwards; a reader takes the
 * lock in enumerate() first, which orders its reads after the filling.
 *
 * The same lock guards volk's instance-level function pointers: they are
 * process-wide, and volkLoadInstanceOnly rewrites them for each VkInstance
 * (the cache's own and every device's), so whoever loads them and calls
 * through them holds it (vulkan_vk_lock). */
static pthread_mutex_t g_vk_lock = PTHREAD_MUTEX_INITIALIZER;

void vulkan_vk_lock(void)
{
    pthread_mutex_lock(&g_vk_lock);
}

void vulkan_vk_unlock(void)
{
    pthread_mutex_unlock(&g_vk_lock);
}

static bool g_enumerated;
static VkInstance g_enum_instance; /* the enumeration's, kept: see enumerate_locked */
static uint32_t g_n_devices;
static device_entry g_devices[MAX_DEVICES];
static char g_unavailable[256];

static int32_t map_type(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return PLINTH_DEVICE_GPU_DISCRETE;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return PLINTH_DEVICE_GPU_INTEGRATED;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return PLINTH_DEVICE_GPU_VIRTUAL;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return PLINTH_DEVICE_SOFTWARE;
    default: return PLINTH_DEVICE_OTHER;
    }
}

/* Fills one entry from a physical device. */
static void describe(VkPhysicalDevice pd, device_entry *e)
{
    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceVulkan12Properties p12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_PROPERTIES, .pNext = &sg};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &p12};
    vkGetPhysicalDeviceProperties2(pd, &p2);
    vulkan_features vf;
    vulkan_get_features(pd, &vf);
    const VkPhysicalDeviceVulkan11Features *f11 = &vf.f11;
    const VkPhysicalDeviceVulkan12Features *f12 = &vf.f12;
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);

    const VkPhysicalDeviceProperties *p = &p2.properties;
    plinth_device_info *info = &e->info;
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    snprintf(info->name, sizeof info->name, "%.127s", p->deviceName);
    snprintf(info->description, sizeof info->description,
             "Vulkan %u.%u.%u, driver %.48s %.64s, vendor 0x%04x device 0x%04x",
             VK_API_VERSION_MAJOR(p->apiVersion), VK_API_VERSION_MINOR(p->apiVersion),
             VK_API_VERSION_PATCH(p->apiVersion), p12.driverName, p12.driverInfo,
             p->vendorID, p->deviceID);
    info->type = map_type(p->deviceType);
    char heaps[96] = "";
    size_t used = 0;
    for (uint32_t h = 0; h < mp.memoryHeapCount && used < sizeof heaps; h++) {
        const VkMemoryHeap *hp = &mp.memoryHeaps[h];
        used += (size_t)snprintf(heaps + used, sizeof heaps - used, "%s%lluMiB%s",
                                 h ? "+" : "", (unsigned long long)(hp->size >> 20),
                                 hp->flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT ? "(local)" : "");
        if (hp->flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT && hp->size > info->memory_bytes)
            info->memory_bytes = hp->size;
    }
    const char *missing = vulkan_missing_feature(p, &vf);
    snprintf(info->features, sizeof info->features,
             "heaps=%.96s subgroup=%u%s%s%s%s%s%s bf16=emulated%s%s", heaps, sg.subgroupSize,
             f12->shaderFloat16 ? " fp16" : "", f12->shaderInt8 ? " int8" : "",
             vf.f2.features.shaderInt64 ? " int64" : "",
             f11->storageBuffer16BitAccess ? " storage16" : "",
             f12->storageBuffer8BitAccess ? " storage8" : "",
             f12->bufferDeviceAddress ? " bda" : "", missing ? " UNUSABLE: lacks " : "",
             missing ? missing : "");
}

static void enumerate_locked(void)
{
    g_enumerated = true;
    g_n_devices = 0;
    if (!vulkan_loader_ready()) {
        snprintf(g_unavailable, sizeof g_unavailable, "no Vulkan loader (libvulkan.so.1)");
        return;
    }
    uint32_t version = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion)
        vkEnumerateInstanceVersion(&version);
    if (version < VK_API_VERSION_1_2) {
        snprintf(g_unavailable, sizeof g_unavailable,
                 "Vulkan loader is %u.%u; plinth needs 1.2", VK_API_VERSION_MAJOR(version),
                 VK_API_VERSION_MINOR(version));
        return;
    }
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "plinth",
                             .apiVersion = VK_API_VERSION_1_2};
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                .pApplicationInfo = &app};
    VkInstance inst;
    VkResult r = vkCreateInstance(&ici, NULL, &inst);
    if (r != VK_SUCCESS) {
        snprintf(g_unavailable, sizeof g_unavailable, "no Vulkan device (vkCreateInstance: %s)",
                 vulkan_result_name(r));
        return;
    }
    volkLoadInstanceOnly(inst);
    VkPhysicalDevice pds[MAX_DEVICES];
    uint32_t n = MAX_DEVICES;
    r = vkEnumeratePhysicalDevices(inst, &n, pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE)
        n = 0;
    for (uint32_t i = 0; i < n; i++)
        describe(pds[i], &g_devices[i]);
    g_n_devices = n;
    /* Kept for the process (the plugin stays loaded: the host dlopens it
     * RTLD_NODELETE): destroying the last instance makes the Vulkan loader
     * unload the driver, and a driver's one-time state (Mesa's lavapipe
     * keeps some in its statics) would be lost with it; enumerating again
     * would cost a driver load. */
    g_enum_instance = inst;
    if (n == 0)
        snprintf(g_unavailable, sizeof g_unavailable, "no Vulkan device");
}

static void enumerate(void)
{
    vulkan_vk_lock();
    if (!g_enumerated)
        enumerate_locked();
    vulkan_vk_unlock();
}

/* ---------------------------------------------------------------- 3 ---- */

static uint32_t vulkan_device_count(plinth_instance *inst)
{
    (void)inst;
    enumerate();
    return g_n_devices;
}

static const char *vulkan_unavailable_reason(plinth_instance *inst)
{
    (void)inst;
    enumerate();
    return g_n_devices ? NULL : g_unavailable;
}

static int32_t vulkan_device_info(plinth_instance *inst, uint32_t index, plinth_device_info *out)
{
    enumerate();
    if (!out)
        return plugin_inst_fail(inst, PLINTH_ERR_INVALID, "vulkan: device_info: NULL out");
    if (index >= g_n_devices)
        return plugin_inst_fail(inst, PLINTH_ERR_INVALID,
                                "vulkan: no device %u (there are %u%s%s)", index, g_n_devices,
                                g_n_devices ? "" : ": ", g_n_devices ? "" : g_unavailable);
    /* Only as many bytes as the host's struct has (its struct_size). */
    plinth_device_info info = g_devices[index].info;
    info.struct_size = out->struct_size;
    size_t n = out->struct_size < sizeof info ? out->struct_size : sizeof info;
    memcpy(out, &info, n);
    return PLINTH_OK;
}

static const char *vulkan_device_error(plinth_device *dev)
{
    return dev ? dev->error : "";
}

/* ---------------------------------------------------------------- 4 ---- */

/* Honest by construction: the answer is the encoder's own decision, the
 * same code the kernels and prepare run. A "no" leaves its reason in
 * device_error. */
static bool vulkan_supports(plinth_device *dev, uint32_t op, const plinth_view *out,
                            const plinth_view *in, uint32_t n_in, const void *attrs)
{
    vulkan_dispatch d[VULKAN_MAX_SPLIT];
    uint32_t nd;
    return vulkan_encode(dev, op, out, in, n_in, attrs, true, d, &nd) == PLINTH_OK;
}

static int32_t vulkan_synchronize(plinth_device *dev)
{
    /* Every call waits for its own work; what is left to report is what the
     * validation layer said. */
    return dev ? vulkan_check_messages(dev) : PLINTH_OK;
}

/* ---------------------------------------------------------------- 5 ---- */

static const plinth_backend_api vulkan_api = {
    .struct_size = sizeof(plinth_backend_api),
    .abi_version = PLINTH_ABI_VERSION,
    .name = "vulkan",
    .version = "0.1.0",
    .description = "Vulkan compute (volk, SPIR-V from shaders/): lavapipe and GPUs",
    .instance_create = plugin_instance_create,
    .instance_destroy = plugin_instance_destroy,
    .instance_error = plugin_instance_error,
    .device_count = vulkan_device_count,
    .device_info = vulkan_device_info,
    .device_open = vulkan_device_open,
    .device_close = vulkan_device_close,
    .device_error = vulkan_device_error,
    .buffer_alloc = vulkan_buffer_alloc,
    .buffer_free = vulkan_buffer_free,
    .upload = vulkan_upload,
    .download = vulkan_download,
    .supports = vulkan_supports,
    .op_count = PLINTH_OP_COUNT,
    .kernels = vulkan_kernels,
    .unavailable_reason = vulkan_unavailable_reason,
    .prepare = vulkan_prepare,
    .execute = vulkan_execute,
    .release = vulkan_release,
    .synchronize = vulkan_synchronize,
};

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version);

/* Cheap and without side effects: no loader, no device probing here (the
 * host may load the plugin only to list it; probing waits for
 * device_count). */
PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    if (host_abi_version < PLINTH_ABI_VERSION)
        return NULL;
    return &vulkan_api;
}
