/*
 * vulkan_profile.c — PLINTH_VULKAN_PROFILE=1: device time per shader.
 *
 * A prepared program gets a timestamp query after every dispatch (and one
 * before the first); each execute reads them back and adds each dispatch's
 * interval (its own run, plus the barrier before it if any) to its
 * shader's total. The table goes to stderr when the process exits, like
 * the cpu backend's PLINTH_CPU_PROFILE. Matrix-vector dispatches that write
 * 64 KB or more (the logits, split over bindings) are counted apart from
 * the per-layer ones.
 * Off, record() and execute() take one predictable branch each.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "vulkan.h"

#define KEYS (VULKAN_SH_COUNT + 1) /* the last: matmul_vec >= 64 KB out */

/* A process-wide diagnostic by design (the sum over every device): the
 * switch is read once and the counters are atomic, since devices of
 * different instances may execute on different threads at once. */
static pthread_once_t prof_once = PTHREAD_ONCE_INIT;
static bool prof_on; /* written once, under prof_once */
static _Atomic int64_t prof_ns[KEYS];
static _Atomic int64_t prof_n[KEYS];

static void report(void)
{
    double ns[KEYS], total = 0;
    for (int i = 0; i < KEYS; i++)
        total += ns[i] = (double)atomic_load(&prof_ns[i]);
    fprintf(stderr, "vulkan profile: %.1f ms of device time in programs\n", total / 1e6);
    for (int i = 0; i < KEYS; i++) {
        const int64_t n = atomic_load(&prof_n[i]);
        if (n)
            fprintf(stderr, "  %-16s %8lld dispatches %10.1f ms %5.1f%% %9.2f us each\n",
                    i == VULKAN_SH_COUNT ? "matmul_vec>64K" : vulkan_shaders[i].name,
                    (long long)n, ns[i] / 1e6, 100 * ns[i] / total,
                    ns[i] / 1e3 / (double)n);
    }
}

static void prof_init(void)
{
    const char *e = getenv("PLINTH_VULKAN_PROFILE");
    prof_on = e && e[0] == '1';
    if (prof_on)
        atexit(report);
}

bool vulkan_profile_enabled(void)
{
    pthread_once(&prof_once, prof_init);
    return prof_on;
}

int32_t vulkan_profile_begin(plinth_device *dev, vulkan_profile *p, uint32_t n_dispatch)
{
    VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                .queryCount = n_dispatch + 1};
    /* On failure what was made stays in *p for vulkan_profile_end. */
    p->keys = plugin_malloc(dev->inst, (n_dispatch + 1) * sizeof *p->keys);
    if (!p->keys)
        return vulkan_fail(dev, PLINTH_ERR_NO_MEMORY, "vulkan: out of memory (profile)");
    VkQueryPool pool = VK_NULL_HANDLE;
    if (dev->vk.vkCreateQueryPool(dev->device, &qi, NULL, &pool) != VK_SUCCESS)
        return vulkan_fail(dev, PLINTH_ERR_DEVICE, "vulkan: cannot create a timestamp query pool");
    p->pool = pool;
    p->n = 0;
    p->cap = n_dispatch + 1;
    return PLINTH_OK;
}

void vulkan_profile_mark(plinth_device *dev, VkCommandBuffer cmd, vulkan_profile *p,
                         const vulkan_dispatch *d)
{
    if (!d) {
        dev->vk.vkCmdResetQueryPool(cmd, p->pool, 0, p->cap);
        dev->vk.vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, p->pool, 0);
        p->n = 1;
        return;
    }
    const bool mv = d->shader == VULKAN_SH_MATMUL_VEC || d->shader == VULKAN_SH_MATMUL_VEC_I64;
    const bool big = mv && d->write.hi - d->write.lo >= (64u << 10);
    p->keys[p->n] = big ? VULKAN_SH_COUNT : d->shader;
    dev->vk.vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, p->pool, p->n);
    p->n++;
}

void vulkan_profile_collect(plinth_device *dev, vulkan_profile *p)
{
    if (!p->pool || p->n < 2)
        return;
    uint64_t *t = plugin_malloc(dev->inst, p->n * sizeof *t);
    if (!t) /* a diagnostic: this run goes uncounted */
        return;
    if (dev->vk.vkGetQueryPoolResults(dev->device, p->pool, 0, p->n, p->n * sizeof *t, t,
                                      sizeof *t, VK_QUERY_RESULT_64_BIT) == VK_SUCCESS) {
        const double period = dev->props.limits.timestampPeriod;
        for (uint32_t i = 1; i < p->n; i++) {
            const double ns = (double)(t[i] - t[i - 1]) * period;
            atomic_fetch_add_explicit(&prof_ns[p->keys[i]], (int64_t)ns, memory_order_relaxed);
            atomic_fetch_add_explicit(&prof_n[p->keys[i]], 1, memory_order_relaxed);
        }
    }
    plugin_free(dev->inst, t);
}

void vulkan_profile_end(plinth_device *dev, vulkan_profile *p)
{
    if (p->pool)
        dev->vk.vkDestroyQueryPool(dev->device, p->pool, NULL);
    plugin_free(dev->inst, p->keys);
}
