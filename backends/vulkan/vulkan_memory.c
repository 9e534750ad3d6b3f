/*
 * vulkan_memory.c — the allocator: one VkBuffer per pool.
 *
 * Sections:
 *   1. limits (refuse, naming the limit and by how much)
 *   2. buffer_alloc / buffer_free
 *   3. upload / download (mapped memcpy, or through a staging buffer)
 *
 * Pools are device-local; when the device has a host-visible device-local
 * type on its main heap (lavapipe, integrated GPUs, resizable BAR) they are
 * mapped and `plinth_buffer.host` is given to the host, else copies go
 * through a host-visible staging buffer in chunks.
 *
 * Alignment: the device address of usable byte 0 is a multiple of 256 and
 * of minStorageBufferOffsetAlignment (both checked), so every tensor base
 * the planner places (a multiple of 256) keeps both (descriptor mode: the
 * offset from the VkBuffer's start, byte 0 itself). maxStorageBufferRange
 * does not bound a pool (device addresses have no range; descriptor mode
 * binds each view, splitting the few that are wider: vulkan.h);
 * maxMemoryAllocationSize and the heap do.
 */
#include <stdio.h>
#include <string.h>

#include "vulkan.h"

#define SLACK 256u                      /* room to slide byte 0 to 256      */
#define STAGING_CHUNK (16u << 20)       /* staging copies in 16 MiB pieces */

/* ---------------------------------------------------------------- 1 ---- */

static int32_t check_limits(plinth_device *dev, uint64_t bytes)
{
    if (bytes > dev->max_alloc)
        return vulkan_fail(dev, PLINTH_ERR_NO_MEMORY,
                           "vulkan: a buffer of %llu bytes exceeds the device's "
                           "maxMemoryAllocationSize (%llu) by %llu bytes",
                           (unsigned long long)bytes, (unsigned long long)dev->max_alloc,
                           (unsigned long long)(bytes - dev->max_alloc));
    if (bytes > dev->heap_size)
        return vulkan_fail(dev, PLINTH_ERR_NO_MEMORY,
                           "vulkan: a buffer of %llu bytes exceeds the memory heap (%llu) by "
                           "%llu bytes", (unsigned long long)bytes,
                           (unsigned long long)dev->heap_size,
                           (unsigned long long)(bytes - dev->heap_size));
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 2 ---- */

static void destroy(plinth_device *dev, vulkan_buffer *vb)
{
    if (vb->map)
        dev->vk.vkUnmapMemory(dev->device, vb->memory);
    if (vb->buffer)
        dev->vk.vkDestroyBuffer(dev->device, vb->buffer, NULL);
    if (vb->memory)
        dev->vk.vkFreeMemory(dev->device, vb->memory, NULL);
    memset(vb, 0, sizeof *vb);
}

/* A buffer of `size` usable bytes (256-aligned address) in memory `type`. */
static int32_t create(plinth_device *dev, uint64_t size, uint32_t type, bool map,
                      vulkan_buffer *vb)
{
    memset(vb, 0, sizeof *vb);
    const uint64_t total = size + SLACK;
    int32_t st = check_limits(dev, total);
    if (st != PLINTH_OK)
        return st;
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = total,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT |
                 (dev->has_bda ? VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT : 0),
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    /* Each handle is stored only once created (a failed create leaves its
     * output undefined): destroy() then frees exactly what exists. */
    VkBuffer buffer = VK_NULL_HANDLE;
    VkResult r = dev->vk.vkCreateBuffer(dev->device, &bci, NULL, &buffer);
    if (r != VK_SUCCESS)
        return vulkan_fail(dev, PLINTH_ERR_NO_MEMORY, "vulkan: vkCreateBuffer(%llu): %s",
                           (unsigned long long)total, vulkan_result_name(r));
    vb->buffer = buffer;
    VkMemoryRequirements req;
    dev->vk.vkGetBufferMemoryRequirements(dev->device, vb->buffer, &req);
    if (!(req.memoryTypeBits & (1u << type))) {
        destroy(dev, vb);
        return vulkan_fail(dev, PLINTH_ERR_DEVICE,
                           "vulkan: memory type %u cannot hold a storage buffer", type);
    }
    VkMemoryAllocateFlagsInfo flags = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
                                       .flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT};
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                .pNext = dev->has_bda ? &flags : NULL,
                                .allocationSize = req.size,
                                .memoryTypeIndex = type};
    VkDeviceMemory memory = VK_NULL_HANDLE;
    r = dev->vk.vkAllocateMemory(dev->device, &mai, NULL, &memory);
    if (r == VK_SUCCESS) {
        vb->memory = memory;
        r = dev->vk.vkBindBufferMemory(dev->device, vb->buffer, vb->memory, 0);
    }
    if (r != VK_SUCCESS) {
        destroy(dev, vb);
        return vulkan_fail(dev, PLINTH_ERR_NO_MEMORY,
                           "vulkan: cannot allocate %llu bytes of device memory: %s",
                           (unsigned long long)req.size, vulkan_result_name(r));
    }
    /* Descriptor mode: offsets count from the VkBuffer's start, address 0. */
    VkDeviceAddress addr = 0;
    if (dev->has_bda) {
        VkBufferDeviceAddressInfo ai = {.sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO,
                                        .buffer = vb->buffer};
        addr = dev->vk.vkGetBufferDeviceAddress(dev->device, &ai);
    }
    vb->shift = (SLACK - addr % SLACK) % SLACK;
    vb->addr = addr + vb->shift;
    vb->size = size;
    if (vb->addr % PLINTH_ALIGNMENT != 0 || dev->min_align == 0 || vb->addr % dev->min_align) {
        destroy(dev, vb);
        return vulkan_fail(dev, PLINTH_ERR_DEVICE,
                           "vulkan: buffer address not a multiple of 256 and of "
                           "minStorageBufferOffsetAlignment %llu",
                           (unsigned long long)dev->min_align);
    }
    if (map) {
        void *p = NULL;
        r = dev->vk.vkMapMemory(dev->device, vb->memory, 0, VK_WHOLE_SIZE, 0, &p);
        if (r != VK_SUCCESS) {
            destroy(dev, vb);
            return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: vkMapMemory: %s",
                               vulkan_result_name(r));
        }
        vb->map = (uint8_t *)p + vb->shift;
    }
    return PLINTH_OK;
}

int32_t vulkan_buffer_alloc(plinth_device *dev, uint64_t size, plinth_buffer *out)
{
    if (!dev || !out)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "vulkan: buffer_alloc: NULL argument");
    memset(out, 0, sizeof *out);
    if (size > UINT64_MAX / 2)
        return vulkan_fail(dev, PLINTH_ERR_NO_MEMORY, "vulkan: %llu bytes is too large",
                           (unsigned long long)size);
    const uint64_t rounded = size == 0 ? PLINTH_ALIGNMENT
                                       : (size + PLINTH_ALIGNMENT - 1) / PLINTH_ALIGNMENT *
                                             PLINTH_ALIGNMENT;
    /* The handle is bookkeeping (rule 14); the memory behind it is Vulkan's. */
    vulkan_buffer *vb = plugin_malloc(dev->inst, sizeof *vb);
    if (!vb)
        return vulkan_fail(dev, PLINTH_ERR_NO_MEMORY, "vulkan: out of memory (buffer)");
    int32_t st = create(dev, rounded, dev->mem_type, dev->mappable, vb);
    if (st != PLINTH_OK) {
        plugin_free(dev->inst, vb);
        return st;
    }
    /* Zeroed, as ref's are: nothing from an earlier owner leaks into a run. */
    if (vb->map) {
        memset(vb->map, 0, (size_t)rounded);
    } else {
        st = vulkan_oneshot_begin(dev);
        if (st == PLINTH_OK) {
            dev->vk.vkCmdFillBuffer(dev->cmd, vb->buffer, 0, VK_WHOLE_SIZE, 0);
            st = vulkan_oneshot_submit(dev);
        }
        if (st != PLINTH_OK) {
            destroy(dev, vb);
            plugin_free(dev->inst, vb);
            return st;
        }
    }
    out->handle = vb;
    /* Given to the host only when it keeps the 256-byte contract (a mapping
     * is page-aligned; the shift that aligns the device address keeps it). */
    out->host = vb->map && (uintptr_t)vb->map % PLINTH_ALIGNMENT == 0 ? vb->map : NULL;
    out->size = rounded;
    return PLINTH_OK;
}

void vulkan_buffer_free(plinth_device *dev, plinth_buffer *buf)
{
    if (!dev || !buf || !buf->handle)
        return;
    vulkan_buffer *vb = buf->handle;
    dev->vk.vkDeviceWaitIdle(dev->device);
    destroy(dev, vb);
    plugin_free(dev->inst, vb);
    memset(buf, 0, sizeof *buf);
}

void vulkan_memory_release(plinth_device *dev)
{
    if (dev->staging.buffer)
        destroy(dev, &dev->staging);
}

/* ---------------------------------------------------------------- 3 ---- */

static int32_t check_range(plinth_device *dev, const char *what, const plinth_buffer *buf,
                           uint64_t offset, const void *host, uint64_t size)
{
    if (!dev || !buf || !buf->handle)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "vulkan: %s: no buffer", what);
    if (size > 0 && !host)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "vulkan: %s: NULL host pointer", what);
    if (offset > buf->size || size > buf->size - offset)
        return vulkan_fail(dev, PLINTH_ERR_INVALID,
                           "vulkan: %s: %llu bytes at offset %llu exceed the %llu-byte buffer",
                           what, (unsigned long long)size, (unsigned long long)offset,
                           (unsigned long long)buf->size);
    return PLINTH_OK;
}

static int32_t ensure_staging(plinth_device *dev)
{
    if (dev->staging.buffer)
        return PLINTH_OK;
    return create(dev, STAGING_CHUNK, dev->staging_type, true, &dev->staging);
}

/* One chunk between the staging buffer and `vb`, in the given direction. */
static int32_t staged_copy(plinth_device *dev, vulkan_buffer *vb, uint64_t offset,
                           uint64_t size, bool to_device)
{
    int32_t st = vulkan_oneshot_begin(dev);
    if (st != PLINTH_OK)
        return st;
    VkBufferCopy c = {.srcOffset = to_device ? dev->staging.shift : vb->shift + offset,
                      .dstOffset = to_device ? vb->shift + offset : dev->staging.shift,
                      .size = size};
    dev->vk.vkCmdCopyBuffer(dev->cmd, to_device ? dev->staging.buffer : vb->buffer,
                            to_device ? vb->buffer : dev->staging.buffer, 1, &c);
    return vulkan_oneshot_submit(dev);
}

int32_t vulkan_upload(plinth_device *dev, const plinth_buffer *dst, uint64_t offset,
                      const void *src, uint64_t size)
{
    int32_t st = check_range(dev, "upload", dst, offset, src, size);
    if (st != PLINTH_OK || size == 0)
        return st;
    vulkan_buffer *vb = dst->handle;
    if (vb->map) {
        memcpy(vb->map + offset, src, (size_t)size);
        return PLINTH_OK;
    }
    st = ensure_staging(dev);
    for (uint64_t done = 0; st == PLINTH_OK && done < size; done += STAGING_CHUNK) {
        uint64_t n = size - done < STAGING_CHUNK ? size - done : STAGING_CHUNK;
        memcpy(dev->staging.map, (const uint8_t *)src + done, (size_t)n);
        st = staged_copy(dev, vb, offset + done, n, true);
    }
    return st;
}

int32_t vulkan_download(plinth_device *dev, const plinth_buffer *src, uint64_t offset,
                        void *dst, uint64_t size)
{
    int32_t st = check_range(dev, "download", src, offset, dst, size);
    if (st != PLINTH_OK || size == 0)
        return st;
    vulkan_buffer *vb = src->handle;
    if (vb->map) {
        memcpy(dst, vb->map + offset, (size_t)size);
        return PLINTH_OK;
    }
    st = ensure_staging(dev);
    for (uint64_t done = 0; st == PLINTH_OK && done < size; done += STAGING_CHUNK) {
        uint64_t n = size - done < STAGING_CHUNK ? size - done : STAGING_CHUNK;
        st = staged_copy(dev, vb, offset + done, n, false);
        if (st == PLINTH_OK)
            memcpy((uint8_t *)dst + done, dev->staging.map, (size_t)n);
    }
    return st;
}
