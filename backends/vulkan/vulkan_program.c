/*
 * vulkan_program.c — the whole-program path: prepare once, execute many.
 *
 * Sections:
 *   1. dependencies: which dispatches need a barrier before them
 *   2. prepare: encode every instruction (one or a few dispatches each),
 *      create pipelines and (descriptor mode) one descriptor set per
 *      dispatch, record the whole list into one command buffer
 *   3. execute (one submit, one wait) and release
 *
 * Run-time scalars (positions, kv_len) are i32 tensors in the io pool that
 * the shaders read, so the recorded command buffer never changes.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "vulkan.h"

typedef struct vulkan_program {
    VkCommandBuffer cmd;
    VkDescriptorPool pool; /* descriptor mode */
    uint32_t n_dispatch, n_barriers;
    vulkan_profile prof; /* PLINTH_VULKAN_PROFILE=1 */
} vulkan_program;

/* ---------------------------------------------------------------- 1 ---- */

/* Ranges read and written since the last barrier. A dispatch needs a
 * barrier before it when it reads or writes what an earlier one wrote
 * (RAW, WAW), or writes what an earlier one read (WAR). Dispatches with
 * disjoint data run without one, and lavapipe/GPUs may overlap them. */
typedef struct pending {
    vulkan_range *writes, *reads;
    uint32_t n_writes, n_reads;
} pending;

static bool overlaps(const vulkan_range *a, const vulkan_range *b)
{
    return a->buf && a->buf == b->buf && a->lo < b->hi && b->lo < a->hi;
}

static bool hits(const vulkan_range *r, const vulkan_range *list, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (overlaps(r, &list[i]))
            return true;
    return false;
}

static bool needs_barrier(const pending *p, const vulkan_dispatch *d)
{
    if (hits(&d->write, p->writes, p->n_writes) || hits(&d->write, p->reads, p->n_reads))
        return true;
    if (hits(&d->write2, p->writes, p->n_writes) || hits(&d->write2, p->reads, p->n_reads))
        return true;
    if (hits(&d->write3, p->writes, p->n_writes) || hits(&d->write3, p->reads, p->n_reads))
        return true;
    for (uint32_t i = 0; i < d->n_reads; i++)
        if (hits(&d->reads[i], p->writes, p->n_writes))
            return true;
    return false;
}

static void add_pending(pending *p, const vulkan_dispatch *d)
{
    if (d->write.buf)
        p->writes[p->n_writes++] = d->write;
    if (d->write2.buf)
        p->writes[p->n_writes++] = d->write2;
    if (d->write3.buf)
        p->writes[p->n_writes++] = d->write3;
    for (uint32_t i = 0; i < d->n_reads; i++)
        if (d->reads[i].buf)
            p->reads[p->n_reads++] = d->reads[i];
}

/* ---------------------------------------------------------------- 2 ---- */

static int32_t record(plinth_device *dev, vulkan_program *prog, vulkan_dispatch *ds,
                      uint32_t n)
{
    pending p = {0};
    p.writes = plugin_malloc(dev->inst, (n ? n : 1) * 3 * sizeof *p.writes); /* write, 2, 3 */
    p.reads = plugin_malloc(dev->inst, (n ? n : 1) * PLINTH_MAX_INPUTS * sizeof *p.reads);
    if (!p.writes || !p.reads) {
        plugin_free(dev->inst, p.writes);
        plugin_free(dev->inst, p.reads);
        return vulkan_fail(dev, PLINTH_ERR_NO_MEMORY, "vulkan: out of memory (prepare)");
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    VkResult r = dev->vk.vkBeginCommandBuffer(prog->cmd, &bi);
    if (r == VK_SUCCESS) {
        /* The previous run's (and uploads') writes before this run's reads. */
        vulkan_barrier(dev, prog->cmd);
        if (prog->prof.pool)
            vulkan_profile_mark(dev, prog->cmd, &prog->prof, NULL);
        for (uint32_t i = 0; i < n; i++) {
            const vulkan_dispatch *d = &ds[i];
            if ((uint64_t)d->groups[0] * d->groups[1] * d->groups[2] == 0)
                continue;
            if (needs_barrier(&p, d)) {
                vulkan_barrier(dev, prog->cmd);
                prog->n_barriers++;
                p.n_writes = p.n_reads = 0;
            }
            add_pending(&p, d);
            vulkan_record(dev, prog->cmd, d);
            if (prog->prof.pool)
                vulkan_profile_mark(dev, prog->cmd, &prog->prof, d);
            prog->n_dispatch++;
        }
        vulkan_barrier_host(dev, prog->cmd);
        r = dev->vk.vkEndCommandBuffer(prog->cmd);
    }
    plugin_free(dev->inst, p.writes);
    plugin_free(dev->inst, p.reads);
    if (r != VK_SUCCESS)
        return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: recording the program: %s",
                           vulkan_result_name(r));
    return PLINTH_OK;
}

/* The dispatch list, grown as instructions are encoded. */
typedef struct dlist {
    vulkan_dispatch *d;
    uint32_t n, cap;
} dlist;

static int32_t encode_all(plinth_device *dev, const plinth_instruction *code, uint32_t n,
                          dlist *l)
{
    vulkan_dispatch tmp[VULKAN_MAX_SPLIT];
    for (uint32_t i = 0, used = 1; i < n; i += used) {
        const plinth_instruction *ins = &code[i];
        uint32_t nd = 0;
        used = 1;
        int32_t st = dev->fuse ? vulkan_fuse(dev, code, n, i, tmp, &nd, &used)
                               : PLINTH_ERR_UNSUPPORTED;
        if (st == PLINTH_ERR_UNSUPPORTED) {
            used = 1;
            st = vulkan_encode(dev, ins->op, ins->out, ins->in, ins->n_in, ins->attrs, false,
                               tmp, &nd);
        }
        for (uint32_t j = 0; j < nd && st == PLINTH_OK; j++)
            if ((uint64_t)tmp[j].groups[0] * tmp[j].groups[1] * tmp[j].groups[2] != 0)
                st = vulkan_pipeline_get(dev, &tmp[j]);
        if (st != PLINTH_OK) {
            char why[sizeof dev->error];
            snprintf(why, sizeof why, "%s", dev->error);
            return vulkan_fail(dev, st, "instruction %u (%s): %s", i, plinth_op_label(ins->op),
                               why);
        }
        for (uint32_t j = 0; j < nd; j++) {
            if ((uint64_t)tmp[j].groups[0] * tmp[j].groups[1] * tmp[j].groups[2] == 0)
                continue;
            if (l->n == l->cap) {
                uint32_t cap = l->cap ? l->cap * 2 : 64;
                /* The old list stays whole (and the caller's to free)
                 * until the new one exists. */
                vulkan_dispatch *nd2 = plugin_malloc(dev->inst, cap * sizeof *nd2);
                if (!nd2)
                    return vulkan_fail(dev, PLINTH_ERR_NO_MEMORY,
                                       "vulkan: out of memory (prepare)");
                if (l->n)
                    memcpy(nd2, l->d, l->n * sizeof *nd2);
                plugin_free(dev->inst, l->d);
                l->d = nd2;
                l->cap = cap;
            }
            l->d[l->n++] = tmp[j];
        }
    }
    return PLINTH_OK;
}

/* Descriptor mode: one set per dispatch from a pool the program owns. */
static int32_t make_sets(plinth_device *dev, vulkan_program *prog, dlist *l)
{
    if (!dev->desc || l->n == 0)
        return PLINTH_OK;
    int32_t st = vulkan_descriptor_pool(dev, l->n, &prog->pool);
    for (uint32_t i = 0; i < l->n && st == PLINTH_OK; i++) {
        if (l->d[i].n_binds == 0)
            return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: a dispatch binds no tensor");
        VkDescriptorSetAllocateInfo sai = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
            .descriptorPool = prog->pool,
            .descriptorSetCount = 1,
            .pSetLayouts = &dev->set_layout};
        if (dev->vk.vkAllocateDescriptorSets(dev->device, &sai, &l->d[i].set) != VK_SUCCESS)
            return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: cannot allocate a descriptor set");
        vulkan_write_set(dev, &l->d[i]);
    }
    return st;
}

/* The fields this plugin reads: all of a v1 instruction. */
#define INSTRUCTION_V1_SIZE (offsetof(plinth_instruction, attrs) + sizeof(const void *))

/* code[i] for i < n, from elements of `size` bytes into an array of our own
 * sizeof, which the encoders and vulkan_fuse index directly. A host built
 * with a longer instruction passes fields we do not know: not copied.
 * NULL: out of memory. */
static plinth_instruction *copy_code(plinth_device *dev, const plinth_instruction *code,
                                     uint32_t n, size_t size)
{
    plinth_instruction *c = plugin_malloc(dev->inst, sizeof *c * (n ? n : 1));
    if (!c)
        return NULL;
    const size_t take = size < sizeof *c ? size : sizeof *c;
    for (uint32_t i = 0; i < n; i++) {
        memset(&c[i], 0, sizeof c[i]);
        memcpy(&c[i], plinth_instruction_at(code, size, i), take);
    }
    return c;
}

/* A command buffer from the device's pool into prog->cmd, set only on
 * success (vulkan_release frees what is set). */
static int32_t alloc_cmd(plinth_device *dev, vulkan_program *prog)
{
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = dev->pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    if (dev->vk.vkAllocateCommandBuffers(dev->device, &cai, &cmd) != VK_SUCCESS)
        return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: cannot allocate a command buffer");
    prog->cmd = cmd;
    return PLINTH_OK;
}

int32_t vulkan_prepare(plinth_device *dev, const plinth_instruction *host_code, uint32_t n,
                       size_t instruction_size, void **out_program)
{
    if (!dev || !out_program || (n && !host_code))
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "vulkan: prepare: NULL argument");
    *out_program = NULL;
    if (n && instruction_size < INSTRUCTION_V1_SIZE)
        return vulkan_fail(dev, PLINTH_ERR_INVALID,
                           "vulkan: prepare: instruction_size %zu is smaller than an ABI v1 "
                           "instruction (%zu bytes)", instruction_size,
                           (size_t)INSTRUCTION_V1_SIZE);
    plinth_instruction *code = copy_code(dev, host_code, n, instruction_size);
    vulkan_program *prog = plugin_malloc(dev->inst, sizeof *prog);
    if (!code || !prog) {
        plugin_free(dev->inst, code);
        plugin_free(dev->inst, prog);
        return vulkan_fail(dev, PLINTH_ERR_NO_MEMORY, "vulkan: out of memory (prepare)");
    }
    memset(prog, 0, sizeof *prog);
    /* From here every failure is one vulkan_release(prog): it frees exactly
     * the parts that were made. The instruction copy and the dispatch list
     * are needed only while encoding and recording. */
    dlist l = {0};
    int32_t st = encode_all(dev, code, n, &l);
    plugin_free(dev->inst, code);
    if (st == PLINTH_OK)
        st = make_sets(dev, prog, &l);
    if (st == PLINTH_OK)
        st = alloc_cmd(dev, prog);
    if (st == PLINTH_OK && vulkan_profile_enabled())
        st = vulkan_profile_begin(dev, &prog->prof, l.n);
    if (st == PLINTH_OK)
        st = record(dev, prog, l.d, l.n);
    plugin_free(dev->inst, l.d);
    if (st == PLINTH_OK)
        st = vulkan_check_messages(dev);
    if (st != PLINTH_OK) {
        vulkan_release(dev, prog);
        return st;
    }
    plugin_log(dev->inst, PLINTH_LOG_DEBUG,
               "vulkan: program of %u instructions: %u dispatches, %u barriers", n,
               prog->n_dispatch, prog->n_barriers);
    *out_program = prog;
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 3 ---- */

int32_t vulkan_execute(plinth_device *dev, void *program)
{
    vulkan_program *prog = program;
    if (!dev || !prog)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "vulkan: execute: NULL argument");
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &prog->cmd};
    VkResult r = dev->vk.vkResetFences(dev->device, 1, &dev->fence);
    if (r == VK_SUCCESS)
        r = dev->vk.vkQueueSubmit(dev->queue, 1, &si, dev->fence);
    if (r == VK_SUCCESS)
        r = dev->vk.vkWaitForFences(dev->device, 1, &dev->fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS)
        return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: execute: %s", vulkan_result_name(r));
    if (prog->prof.pool)
        vulkan_profile_collect(dev, &prog->prof);
    return vulkan_check_messages(dev);
}

void vulkan_release(plinth_device *dev, void *program)
{
    vulkan_program *prog = program;
    if (!dev || !prog)
        return;
    if (prog->cmd)
        dev->vk.vkFreeCommandBuffers(dev->device, dev->pool, 1, &prog->cmd);
    if (prog->pool)
        dev->vk.vkDestroyDescriptorPool(dev->device, prog->pool, NULL);
    vulkan_profile_end(dev, &prog->prof);
    plugin_free(dev->inst, prog);
}
