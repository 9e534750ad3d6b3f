/*
 * vulkan_device.c — opening a device and the objects every dispatch uses.
 *
 * Sections:
 *   1. configuration ("validation=1,matmul=blocked|tiled,matvec=rows|subgroup,
 *      attention=lanes|blocks,
 *      memory=auto|staging,address=descriptor|device,fuse=0|1,
 *      matvec_rows=1..32,matvec_k8=0|1,matvec_wg=32|64|128|256,matvec_kc=0|1,
 *      int64=0|1,max_range=BYTES";
 *      env PLINTH_VULKAN_VALIDATION=1)
 *   2. the validation layer's messages (counted, turned into errors)
 *   3. device_open / device_close
 *   4. pipelines (created on first use of a (shader, spec) pair, kept)
 *   5. recording and submitting
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vulkan.h"

/* ---------------------------------------------------------------- 1 ---- */

typedef struct config {
    bool validation;
    bool force_staging;
    int matmul, matvec, attention;
    int address; /* 0 auto, 1 descriptor, 2 device */
    int fuse;    /* 0 auto (on), 1 off, 2 on */
    int matvec_rows;
    bool no_k8;
    int matvec_wg, matvec_kc;
    bool no_int64; /* int64=0: no shaderInt64, matmul_vec without 64-bit loads */
    long long max_range; /* a binding range below the device's (descriptor
                          * mode): the tests split small operands with it */
} config;

/* Before the device exists: messages go to the instance. */
static int32_t parse_config(plinth_instance *inst, const char *s, config *c)
{
    const char *env = getenv("PLINTH_VULKAN_VALIDATION");
    c->validation = env && env[0] && strcmp(env, "0") != 0;
    while (s && *s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        char item[64];
        if (len >= sizeof item)
            return plugin_inst_fail(inst, PLINTH_ERR_INVALID, "vulkan: config item too long");
        memcpy(item, s, len);
        item[len] = '\0';
        char *eq = strchr(item, '=');
        const char *val = eq ? eq + 1 : "1";
        if (eq)
            *eq = '\0';
        if (strcmp(item, "validation") == 0)
            c->validation = strcmp(val, "0") != 0;
        else if (strcmp(item, "matmul") == 0 && strcmp(val, "blocked") == 0)
            c->matmul = VULKAN_CPU_STYLE;
        else if (strcmp(item, "matmul") == 0 && strcmp(val, "tiled") == 0)
            c->matmul = VULKAN_GPU_STYLE;
        else if (strcmp(item, "matvec") == 0 && strcmp(val, "rows") == 0)
            c->matvec = VULKAN_CPU_STYLE;
        else if (strcmp(item, "matvec") == 0 && strcmp(val, "subgroup") == 0)
            c->matvec = VULKAN_GPU_STYLE;
        else if (strcmp(item, "attention") == 0 && strcmp(val, "lanes") == 0)
            c->attention = VULKAN_CPU_STYLE;
        else if (strcmp(item, "attention") == 0 && strcmp(val, "blocks") == 0)
            c->attention = VULKAN_GPU_STYLE;
        else if (strcmp(item, "memory") == 0 && strcmp(val, "staging") == 0)
            c->force_staging = true;
        else if (strcmp(item, "memory") == 0 && strcmp(val, "auto") == 0)
            c->force_staging = false;
        else if (strcmp(item, "matvec_rows") == 0 && atoi(val) >= 1 && atoi(val) <= 32)
            c->matvec_rows = atoi(val);
        else if (strcmp(item, "matvec_k8") == 0 && (strcmp(val, "0") == 0 || strcmp(val, "1") == 0))
            c->no_k8 = val[0] == '0';
        else if (strcmp(item, "matvec_wg") == 0 &&
                 (atoi(val) == 32 || atoi(val) == 64 || atoi(val) == 128 || atoi(val) == 256))
            c->matvec_wg = atoi(val);
        else if (strcmp(item, "matvec_kc") == 0 && (strcmp(val, "0") == 0 || strcmp(val, "1") == 0))
            c->matvec_kc = val[0] == '0' ? 1 : 2;
        else if (strcmp(item, "address") == 0 && strcmp(val, "descriptor") == 0)
            c->address = 1;
        else if (strcmp(item, "address") == 0 && strcmp(val, "device") == 0)
            c->address = 2;
        else if (strcmp(item, "fuse") == 0 && (strcmp(val, "0") == 0 || strcmp(val, "1") == 0))
            c->fuse = val[0] == '0' ? 1 : 2;
        else if (strcmp(item, "int64") == 0 && (strcmp(val, "0") == 0 || strcmp(val, "1") == 0))
            c->no_int64 = val[0] == '0';
        else if (strcmp(item, "max_range") == 0 && atoll(val) >= 1024)
            c->max_range = atoll(val);
        else if (item[0])
            return plugin_inst_fail(inst, PLINTH_ERR_INVALID,
                                    "vulkan: unknown config '%s=%s' (known: validation=0|1, "
                                    "matmul=blocked|tiled, matvec=rows|subgroup, "
                                    "attention=lanes|blocks, memory=auto|staging, "
                                    "address=descriptor|device, fuse=0|1, matvec_rows=1..32, "
                                    "matvec_k8=0|1, matvec_wg=32|64|128|256, matvec_kc=0|1, "
                                    "int64=0|1, max_range=BYTES >= 1024)", item, val);
        s = end ? end + 1 : NULL;
    }
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 2 ---- */

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                 VkDebugUtilsMessageTypeFlagsEXT type,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                 void *user)
{
    (void)type;
    plinth_device *dev = user;
    if (sev < VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT)
        return VK_FALSE;
    if (dev->n_messages == dev->n_reported)
        snprintf(dev->message, sizeof dev->message, "%s",
                 data && data->pMessage ? data->pMessage : "(no text)");
    dev->n_messages++;
    plugin_log(dev->inst, PLINTH_LOG_WARN, "vulkan validation: %s",
               data && data->pMessage ? data->pMessage : "(no text)");
    return VK_FALSE;
}

int32_t vulkan_check_messages(plinth_device *dev)
{
    if (dev->n_messages == dev->n_reported)
        return PLINTH_OK;
    uint32_t n = dev->n_messages - dev->n_reported;
    dev->n_reported = dev->n_messages;
    return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: %u validation message%s: %s", n,
                       n == 1 ? "" : "s", dev->message);
}

/* ---------------------------------------------------------------- 3 ---- */

static bool has_layer(const char *name)
{
    VkLayerProperties layers[64];
    uint32_t n = 64;
    VkResult r = vkEnumerateInstanceLayerProperties(&n, layers);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(layers[i].layerName, name) == 0)
            return true;
    return false;
}

static int32_t create_instance(plinth_device *dev)
{
    static const char *const layer = "VK_LAYER_KHRONOS_validation";
    static const char *const ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    if (dev->validation && !has_layer(layer))
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "vulkan: validation asked for, but %s is not installed "
                           "(Debian: vulkan-validationlayers)", layer);
    VkDebugUtilsMessengerCreateInfoEXT mci = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_message,
        .pUserData = dev,
    };
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "plinth",
                             .apiVersion = VK_API_VERSION_1_2};
    VkInstanceCreateInfo ici = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = dev->validation ? &mci : NULL,
        .pApplicationInfo = &app,
        .enabledLayerCount = dev->validation ? 1 : 0,
        .ppEnabledLayerNames = &layer,
        .enabledExtensionCount = dev->validation ? 1 : 0,
        .ppEnabledExtensionNames = &ext,
    };
    /* Handles are kept only once created: on failure Vulkan leaves an
     * output undefined, and vulkan_device_close destroys what is set. */
    VkInstance instance = VK_NULL_HANDLE;
    VkResult r = vkCreateInstance(&ici, NULL, &instance);
    if (r != VK_SUCCESS)
        return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: vkCreateInstance: %s",
                           vulkan_result_name(r));
    dev->instance = instance;
    dev->destroy_instance =
        (PFN_vkDestroyInstance)vkGetInstanceProcAddr(instance, "vkDestroyInstance");
    volkLoadInstanceOnly(dev->instance);
    VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
    if (dev->validation) {
        dev->destroy_messenger = (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
            instance, "vkDestroyDebugUtilsMessengerEXT");
        if (!dev->destroy_messenger ||
            vkCreateDebugUtilsMessengerEXT(dev->instance, &mci, NULL, &messenger) != VK_SUCCESS)
            return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: cannot create debug messenger");
        dev->messenger = messenger;
    }
    return PLINTH_OK;
}

/* Picks memory types: one host-visible device-local type whose heap is the
 * largest local heap (lavapipe, integrated GPUs, resizable BAR) makes every
 * pool mappable; otherwise pools are device-local and copies go through a
 * host-visible staging buffer. */
static int32_t pick_memory(plinth_device *dev, bool force_staging)
{
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(dev->phys, &mp);
    const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags hv =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    uint64_t best_heap = 0;
    for (uint32_t h = 0; h < mp.memoryHeapCount; h++)
        if ((mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            mp.memoryHeaps[h].size > best_heap)
            best_heap = mp.memoryHeaps[h].size;
    int32_t local_t = -1, both_t = -1, host_t = -1;
    for (uint32_t t = 0; t < mp.memoryTypeCount; t++) {
        VkMemoryPropertyFlags f = mp.memoryTypes[t].propertyFlags;
        uint64_t heap = mp.memoryHeaps[mp.memoryTypes[t].heapIndex].size;
        if ((f & local) && local_t < 0 && heap == best_heap)
            local_t = (int32_t)t;
        if ((f & local) && (f & hv) == hv && both_t < 0 && heap == best_heap)
            both_t = (int32_t)t;
        if ((f & hv) == hv && host_t < 0)
            host_t = (int32_t)t;
    }
    if (local_t < 0)
        local_t = host_t; /* no device-local memory at all */
    if (local_t < 0 || host_t < 0)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "vulkan: the device has no usable memory type");
    dev->mappable = both_t >= 0 && !force_staging;
    dev->mem_type = (uint32_t)(dev->mappable ? both_t : local_t);
    dev->staging_type = (uint32_t)host_t;
    dev->heap_size = mp.memoryHeaps[mp.memoryTypes[dev->mem_type].heapIndex].size;
    return PLINTH_OK;
}

void vulkan_get_features(VkPhysicalDevice pd, vulkan_features *f)
{
    f->f11 = (VkPhysicalDeviceVulkan11Features){
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    f->f12 = (VkPhysicalDeviceVulkan12Features){
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, .pNext = &f->f11};
    f->f2 = (VkPhysicalDeviceFeatures2){.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                        .pNext = &f->f12};
    vkGetPhysicalDeviceFeatures2(pd, &f->f2);
}

const char *vulkan_missing_feature(const VkPhysicalDeviceProperties *p, const vulkan_features *f)
{
    return p->apiVersion < VK_API_VERSION_1_2       ? "Vulkan 1.2"
           : !f->f11.storageBuffer16BitAccess       ? "storageBuffer16BitAccess"
           : !f->f2.features.shaderInt16            ? "shaderInt16"
                                                    : NULL;
}

static int32_t open_device(plinth_device *dev, const config *cfg)
{
    VkPhysicalDevice pds[16];
    uint32_t n = 16;
    VkResult r = vkEnumeratePhysicalDevices(dev->instance, &n, pds);
    if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || dev->index >= n)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "vulkan: no device %u (there are %u)",
                           dev->index, n);
    dev->phys = pds[dev->index];

    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceVulkan11Properties p11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES, .pNext = &sg};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &p11};
    vkGetPhysicalDeviceProperties2(dev->phys, &p2);
    dev->props = p2.properties;
    dev->subgroup_size = sg.subgroupSize;
    dev->subgroup_arith = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                          (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    dev->min_align = dev->props.limits.minStorageBufferOffsetAlignment;
    dev->max_alloc = p11.maxMemoryAllocationSize;
    dev->max_buffer = p11.maxMemoryAllocationSize;
    dev->shared_mem = dev->props.limits.maxComputeSharedMemorySize;

    vulkan_features vf;
    vulkan_get_features(dev->phys, &vf);
    const char *missing = vulkan_missing_feature(&dev->props, &vf);
    if (missing)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "vulkan: device %u (%s) lacks %s; plinth's Vulkan backend needs "
                           "Vulkan 1.2 with storageBuffer16BitAccess and shaderInt16",
                           dev->index, dev->props.deviceName, missing);
    /* How shaders reach tensors (vulkan.h section 1): descriptors on CPU
     * devices (measured: llvmpipe loads through a device address 5-11x
     * slower) and wherever bufferDeviceAddress is missing; device
     * addresses elsewhere. */
    dev->max_range = dev->props.limits.maxStorageBufferRange;
    if (cfg->max_range > 0 && (uint64_t)cfg->max_range < dev->max_range)
        dev->max_range = (uint64_t)cfg->max_range;
    dev->desc = cfg->address == 1 || !vf.f12.bufferDeviceAddress ||
                (cfg->address == 0 && dev->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU);
    dev->has_bda = !dev->desc;
    dev->int64 = vf.f2.features.shaderInt64 && !cfg->no_int64;
    dev->fuse = cfg->fuse != 1;

    VkQueueFamilyProperties qf[16];
    uint32_t nq = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(dev->phys, &nq, qf);
    dev->queue_family = UINT32_MAX;
    for (uint32_t i = 0; i < nq && dev->queue_family == UINT32_MAX; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
            dev->queue_family = i;
    if (dev->queue_family == UINT32_MAX)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED, "vulkan: device has no compute queue");

    int32_t st = pick_memory(dev, cfg->force_staging);
    if (st != PLINTH_OK)
        return st;

    /* Enable exactly what the shaders use. */
    VkPhysicalDeviceVulkan11Features e11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .storageBuffer16BitAccess = VK_TRUE};
    VkPhysicalDeviceVulkan12Features e12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, .pNext = &e11,
        .bufferDeviceAddress = dev->has_bda};
    VkPhysicalDeviceFeatures2 e2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &e12};
    e2.features.shaderInt16 = VK_TRUE;
    e2.features.shaderInt64 = dev->int64; /* matmul_vec_i64 */
    const float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = dev->queue_family,
                                   .queueCount = 1,
                                   .pQueuePriorities = &prio};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .pNext = &e2,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci};
    VkDevice device = VK_NULL_HANDLE;
    r = vkCreateDevice(dev->phys, &dci, NULL, &device);
    if (r != VK_SUCCESS)
        return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: vkCreateDevice: %s",
                           vulkan_result_name(r));
    /* The table first: vulkan_device_close destroys through it once
     * dev->device is set. */
    volkLoadDeviceTable(&dev->vk, device);
    dev->device = device;
    dev->vk.vkGetDeviceQueue(dev->device, dev->queue_family, 0, &dev->queue);

    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = dev->queue_family};
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkPushConstantRange range = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
                                 .size = VULKAN_PUSH_MAX};
    VkDescriptorSetLayoutBinding slots = {.binding = 0,
                                          .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                          .descriptorCount = VULKAN_MAX_BINDS,
                                          .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo sli = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = 1,
        .pBindings = &slots};
    if (dev->desc) {
        VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
        if (dev->vk.vkCreateDescriptorSetLayout(dev->device, &sli, NULL, &set_layout) !=
            VK_SUCCESS)
            return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: cannot create a set layout");
        dev->set_layout = set_layout;
    }
    VkPipelineLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                      .setLayoutCount = dev->desc ? 1 : 0,
                                      .pSetLayouts = &dev->set_layout,
                                      .pushConstantRangeCount = 1,
                                      .pPushConstantRanges = &range};
    if (dev->desc) {
        VkDescriptorSetLayout layouts[VULKAN_MAX_SPLIT];
        for (int i = 0; i < VULKAN_MAX_SPLIT; i++)
            layouts[i] = dev->set_layout;
        st = vulkan_descriptor_pool(dev, VULKAN_MAX_SPLIT, &dev->oneshot_pool);
        VkDescriptorSetAllocateInfo sai = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
            .descriptorPool = dev->oneshot_pool,
            .descriptorSetCount = VULKAN_MAX_SPLIT,
            .pSetLayouts = layouts};
        /* The sets live and die with the pool: nothing to undo for them. */
        if (st != PLINTH_OK ||
            dev->vk.vkAllocateDescriptorSets(dev->device, &sai, dev->oneshot_sets) != VK_SUCCESS)
            return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: cannot allocate descriptor sets");
    }
    VkCommandPool pool = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    VkPipelineLayout layout = VK_NULL_HANDLE;
    if (dev->vk.vkCreateCommandPool(dev->device, &pci, NULL, &pool) == VK_SUCCESS)
        dev->pool = pool;
    if (dev->pool && dev->vk.vkCreateFence(dev->device, &fci, NULL, &fence) == VK_SUCCESS)
        dev->fence = fence;
    if (dev->fence &&
        dev->vk.vkCreatePipelineLayout(dev->device, &lci, NULL, &layout) == VK_SUCCESS)
        dev->layout = layout;
    if (!dev->layout)
        return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: cannot create command objects");
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = dev->pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    /* Freed with the pool. */
    if (dev->vk.vkAllocateCommandBuffers(dev->device, &cai, &dev->cmd) != VK_SUCCESS)
        return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: cannot allocate a command buffer");

    /* Variants from what the device reports, unless the config says
     * otherwise. GPUs: shared-memory tiles when 8 KiB of shared memory is
     * there, a subgroup per matvec row when subgroup arithmetic is there.
     * CPU devices (workgroups run as loops over SIMD lanes, barriers are
     * expensive, caches are big): register blocking without shared memory
     * and a row per invocation (measured on lavapipe through descriptors:
     * see the README's performance section). */
    const bool cpu = dev->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    dev->matmul_variant = cfg->matmul ? cfg->matmul
                          : cpu || dev->shared_mem < 8192 ? VULKAN_CPU_STYLE
                                                          : VULKAN_GPU_STYLE;
    dev->matvec_variant = cfg->matvec ? cfg->matvec
                          : cpu || !dev->subgroup_arith ? VULKAN_CPU_STYLE
                                                        : VULKAN_GPU_STYLE;
    /* CPU-style matvec on a CPU device: many columns per invocation (-1:
     * chosen per dispatch in vulkan_ops_nn.c), 32 invocations per
     * workgroup (measured on lavapipe: the 262144 x 640 matvec 6.2 / 5.2
     * GB/s f32 / bf16 with 8 x 32 against 5.5 / 4.4 with 4 x 64, and the
     * gemma-3-270m bf16 decode 7.4-8.4 tokens/s against 6.5-7.3: the small
     * matvecs get more workgroups, so both cores). Elsewhere 0: the
     * defaults in vulkan_ops_nn.c (4 x 64). */
    dev->matvec_rows = cfg->matvec_rows ? cfg->matvec_rows : cpu ? -1 : 0;
    dev->no_k8 = cfg->no_k8;
    dev->matvec_wg = cfg->matvec_wg ? cfg->matvec_wg : cpu ? 32 : 0;
    dev->matvec_kc = cfg->matvec_kc;
    /* Attention: one subgroup per query with 32-byte loads on CPU devices
     * (attention_lanes.comp; needs shaderInt64 and subgroup arithmetic, and
     * a workgroup of the reported subgroup size being one subgroup, which
     * GPUs with varying subgroup sizes do not promise), 64-lane blocks with
     * shared scores elsewhere. */
    dev->attention_variant = cpu && cfg->attention != VULKAN_GPU_STYLE ? VULKAN_CPU_STYLE
                                                                        : VULKAN_GPU_STYLE;
    if (!dev->int64 || !dev->subgroup_arith)
        dev->attention_variant = VULKAN_GPU_STYLE;
    if (dev->matvec_variant == VULKAN_GPU_STYLE &&
        (!dev->subgroup_arith || dev->subgroup_size == 0 || 64 % dev->subgroup_size != 0))
        dev->matvec_variant = VULKAN_CPU_STYLE;
    return vulkan_check_messages(dev);
}

int32_t vulkan_device_open(plinth_instance *inst, uint32_t index,
                           const plinth_device_options *opts, plinth_device **out)
{
    if (!out)
        return plugin_inst_fail(inst, PLINTH_ERR_INVALID, "vulkan: device_open: NULL out");
    *out = NULL;
    if (!vulkan_loader_ready())
        return plugin_inst_fail(inst, PLINTH_ERR_DEVICE,
                                "vulkan: no Vulkan loader (libvulkan.so.1)");
    const char *cfg_text = NULL;
    if (opts && PLINTH_HAS_FIELD(opts, plinth_device_options, config))
        cfg_text = opts->config;
    config cfg = {0};
    int32_t st = parse_config(inst, cfg_text, &cfg);
    if (st != PLINTH_OK)
        return st;
    plinth_device *dev = plugin_malloc(inst, sizeof *dev);
    if (!dev)
        return plugin_inst_fail(inst, PLINTH_ERR_NO_MEMORY,
                                "vulkan: out of memory opening a device");
    /* Zeroed first: vulkan_device_close destroys exactly the handles that
     * are set, so every failure below is one call to it. */
    memset(dev, 0, sizeof *dev);
    dev->inst = inst;
    dev->index = index;
    dev->validation = cfg.validation;
    vulkan_vk_lock(); /* volk's instance-level pointers: this instance's */
    st = create_instance(dev);
    if (st == PLINTH_OK)
        st = open_device(dev, &cfg);
    vulkan_vk_unlock();
    if (st != PLINTH_OK) {
        /* The device never reaches the host: its message moves to the
         * instance (rule 11). */
        if (dev->error[0])
            plugin_inst_fail(inst, st, "%s", dev->error);
        else if (dev->n_messages > dev->n_reported)
            plugin_inst_fail(inst, st, "vulkan: validation: %s", dev->message);
        else
            plugin_inst_fail(inst, st, "vulkan: cannot open device %u", index);
        vulkan_device_close(dev);
        return st;
    }
    *out = dev;
    return PLINTH_OK;
}

void vulkan_device_close(plinth_device *dev)
{
    if (!dev)
        return;
    if (dev->device) {
        dev->vk.vkDeviceWaitIdle(dev->device);
        for (uint32_t i = 0; i < dev->n_pipes; i++)
            dev->vk.vkDestroyPipeline(dev->device, dev->pipes[i].pipeline, NULL);
        vulkan_memory_release(dev);
        if (dev->oneshot_pool)
            dev->vk.vkDestroyDescriptorPool(dev->device, dev->oneshot_pool, NULL);
        if (dev->set_layout)
            dev->vk.vkDestroyDescriptorSetLayout(dev->device, dev->set_layout, NULL);
        if (dev->layout)
            dev->vk.vkDestroyPipelineLayout(dev->device, dev->layout, NULL);
        if (dev->fence)
            dev->vk.vkDestroyFence(dev->device, dev->fence, NULL);
        if (dev->pool)
            dev->vk.vkDestroyCommandPool(dev->device, dev->pool, NULL);
        dev->vk.vkDestroyDevice(dev->device, NULL);
    }
    plugin_free(dev->inst, dev->pipes);
    if (dev->messenger)
        dev->destroy_messenger(dev->instance, dev->messenger, NULL);
    if (dev->instance && dev->destroy_instance)
        dev->destroy_instance(dev->instance, NULL);
    /* device_close returns nothing: a late validation message goes to the
     * host's log as an error (the test suite counts those too). */
    if (dev->n_messages > dev->n_reported)
        plugin_log(dev->inst, PLINTH_LOG_ERROR, "vulkan: %u validation message(s) at close: %s",
                   dev->n_messages - dev->n_reported, dev->message);
    plugin_free(dev->inst, dev);
}

/* ---------------------------------------------------------------- 4 ---- */

int32_t vulkan_pipeline_get(plinth_device *dev, vulkan_dispatch *d)
{
    for (uint32_t i = 0; i < dev->n_pipes; i++) {
        const vulkan_pipe *p = &dev->pipes[i];
        if (p->shader == d->shader && p->n_spec == d->n_spec &&
            memcmp(p->spec, d->spec, d->n_spec * sizeof d->spec[0]) == 0) {
            d->pipeline = p->pipeline;
            return PLINTH_OK;
        }
    }
    if (dev->n_pipes == dev->cap_pipes) {
        uint32_t cap = dev->cap_pipes ? dev->cap_pipes * 2 : 32;
        /* The old list stays whole until the new one exists. */
        vulkan_pipe *np = plugin_malloc(dev->inst, cap * sizeof *np);
        if (!np)
            return vulkan_fail(dev, PLINTH_ERR_NO_MEMORY, "vulkan: out of memory (pipelines)");
        if (dev->n_pipes)
            memcpy(np, dev->pipes, dev->n_pipes * sizeof *np);
        plugin_free(dev->inst, dev->pipes);
        dev->pipes = np;
        dev->cap_pipes = cap;
    }
    const vulkan_spirv *sp =
        dev->desc ? &vulkan_shaders_desc[d->shader] : &vulkan_shaders[d->shader];
    if (!sp->code) /* an enum entry without its line in vulkan_shaders.c */
        return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: shader %u is not built in",
                           d->shader);
    VkShaderModuleCreateInfo smi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                    .codeSize = sp->size,
                                    .pCode = sp->code};
    VkShaderModule mod;
    VkResult r = dev->vk.vkCreateShaderModule(dev->device, &smi, NULL, &mod);
    if (r != VK_SUCCESS)
        return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: shader %s: %s", sp->name,
                           vulkan_result_name(r));
    VkSpecializationMapEntry map[VULKAN_MAX_SPEC];
    for (uint32_t i = 0; i < d->n_spec; i++)
        map[i] = (VkSpecializationMapEntry){.constantID = i,
                                            .offset = i * (uint32_t)sizeof(int32_t),
                                            .size = sizeof(int32_t)};
    VkSpecializationInfo spec = {.mapEntryCount = d->n_spec,
                                 .pMapEntries = map,
                                 .dataSize = d->n_spec * sizeof(int32_t),
                                 .pData = d->spec};
    VkComputePipelineCreateInfo cpi = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = mod,
                  .pName = "main",
                  .pSpecializationInfo = d->n_spec ? &spec : NULL},
        .layout = dev->layout,
    };
    VkPipeline pipe;
    r = dev->vk.vkCreateComputePipelines(dev->device, VK_NULL_HANDLE, 1, &cpi, NULL, &pipe);
    dev->vk.vkDestroyShaderModule(dev->device, mod, NULL);
    if (r != VK_SUCCESS)
        return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: pipeline for %s: %s", sp->name,
                           vulkan_result_name(r));
    vulkan_pipe *p = &dev->pipes[dev->n_pipes++];
    memset(p, 0, sizeof *p);
    p->shader = d->shader;
    p->n_spec = d->n_spec;
    memcpy(p->spec, d->spec, d->n_spec * sizeof d->spec[0]);
    p->pipeline = pipe;
    d->pipeline = pipe;
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 5 ---- */

void vulkan_record(plinth_device *dev, VkCommandBuffer cmd, const vulkan_dispatch *d)
{
    dev->vk.vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, d->pipeline);
    if (d->set)
        dev->vk.vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, dev->layout, 0, 1,
                                        &d->set, 0, NULL);
    if (d->push_size)
        dev->vk.vkCmdPushConstants(cmd, dev->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                                   d->push_size, d->push);
    dev->vk.vkCmdDispatch(cmd, d->groups[0], d->groups[1], d->groups[2]);
}

int32_t vulkan_descriptor_pool(plinth_device *dev, uint32_t sets, VkDescriptorPool *pool)
{
    VkDescriptorPoolSize size = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                 .descriptorCount = sets * VULKAN_MAX_BINDS};
    VkDescriptorPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                      .maxSets = sets,
                                      .poolSizeCount = 1,
                                      .pPoolSizes = &size};
    /* *pool is set only on success (a failed create leaves its output
     * undefined), so the owner may destroy whatever it holds. */
    VkDescriptorPool made = VK_NULL_HANDLE;
    VkResult r = dev->vk.vkCreateDescriptorPool(dev->device, &pci, NULL, &made);
    if (r != VK_SUCCESS)
        return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: descriptor pool of %u sets: %s", sets,
                           vulkan_result_name(r));
    *pool = made;
    return PLINTH_OK;
}

void vulkan_write_set(plinth_device *dev, const vulkan_dispatch *d)
{
    VkDescriptorBufferInfo info[VULKAN_MAX_BINDS];
    for (uint32_t i = 0; i < VULKAN_MAX_BINDS; i++) {
        const vulkan_bind *b = &d->binds[i < d->n_binds ? i : 0];
        info[i] = (VkDescriptorBufferInfo){b->buffer, b->offset, b->range};
    }
    VkWriteDescriptorSet w = {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                              .dstSet = d->set,
                              .descriptorCount = VULKAN_MAX_BINDS,
                              .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                              .pBufferInfo = info};
    dev->vk.vkUpdateDescriptorSets(dev->device, 1, &w, 0, NULL);
}

void vulkan_barrier(plinth_device *dev, VkCommandBuffer cmd)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    dev->vk.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                 VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0,
                                 NULL);
}

void vulkan_barrier_host(plinth_device *dev, VkCommandBuffer cmd)
{
    /* A fence wait does not make device writes visible to the host: this
     * barrier at the end of every command buffer does. */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    dev->vk.vkCmdPipelineBarrier(cmd,
                                 VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                                     VK_PIPELINE_STAGE_TRANSFER_BIT,
                                 VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}

int32_t vulkan_oneshot_begin(plinth_device *dev)
{
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkResult r = dev->vk.vkBeginCommandBuffer(dev->cmd, &bi);
    if (r != VK_SUCCESS)
        return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: vkBeginCommandBuffer: %s",
                           vulkan_result_name(r));
    return PLINTH_OK;
}

int32_t vulkan_oneshot_submit(plinth_device *dev)
{
    vulkan_barrier_host(dev, dev->cmd);
    VkResult r = dev->vk.vkEndCommandBuffer(dev->cmd);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &dev->cmd};
    if (r == VK_SUCCESS)
        r = dev->vk.vkResetFences(dev->device, 1, &dev->fence);
    if (r == VK_SUCCESS)
        r = dev->vk.vkQueueSubmit(dev->queue, 1, &si, dev->fence);
    if (r == VK_SUCCESS)
        r = dev->vk.vkWaitForFences(dev->device, 1, &dev->fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS)
        return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: submit: %s", vulkan_result_name(r));
    return vulkan_check_messages(dev);
}
