/*
 * vulkan_kernels.c — the out-kernel table: one op, one submit.
 *
 * Sections: the shared body; the table (one entry per op).
 * An op split over maxStorageBufferRange (vulkan.h) is several dispatches
 * in the one command buffer.
 *
 * This path serves the conformance suite, folds at load time and any
 * caller that runs kernels one by one; compiled programs take the
 * prepare/execute path (vulkan_program.c) instead. A pipeline is created on
 * a (shader, spec) pair's first use and kept; after that a kernel call is
 * encode + record + submit + wait, with no allocation.
 */
#include "vulkan.h"

static int32_t run_one(plinth_device *dev, uint32_t op, const plinth_view *out,
                       const plinth_view *in, uint32_t n_in, const void *attrs)
{
    if (!dev) /* no object to hold a message */
        return PLINTH_ERR_INVALID;
    vulkan_dispatch d[VULKAN_MAX_SPLIT];
    uint32_t nd = 0, live = 0;
    int32_t st = vulkan_encode(dev, op, out, in, n_in, attrs, false, d, &nd);
    for (uint32_t i = 0; i < nd && st == PLINTH_OK; i++) {
        if ((uint64_t)d[i].groups[0] * d[i].groups[1] * d[i].groups[2] == 0)
            continue;
        live++;
        st = vulkan_pipeline_get(dev, &d[i]);
    }
    if (st != PLINTH_OK)
        return st;
    if (live == 0)
        return vulkan_check_messages(dev); /* nothing to compute */
    st = vulkan_oneshot_begin(dev);
    if (st != PLINTH_OK)
        return st;
    /* The one-shot sets are free: the last one-shot submit was waited for. */
    for (uint32_t i = 0; i < nd; i++) {
        if ((uint64_t)d[i].groups[0] * d[i].groups[1] * d[i].groups[2] == 0)
            continue;
        if (dev->desc) {
            d[i].set = dev->oneshot_sets[i];
            vulkan_write_set(dev, &d[i]);
        }
        vulkan_barrier(dev, dev->cmd); /* earlier writes -> this dispatch */
        vulkan_record(dev, dev->cmd, &d[i]);
    }
    return vulkan_oneshot_submit(dev);
}

#define KERNEL(E, n, lo, hi)                                                            \
    static int32_t vulkan_##n(plinth_device *dev, const plinth_view *out,               \
                              const plinth_view *in, uint32_t n_in, const void *attrs)  \
    {                                                                                   \
        return run_one(dev, PLINTH_OP_##E, out, in, n_in, attrs);                       \
    }
PLINTH_OP_LIST(KERNEL)
#undef KERNEL

const plinth_kernel_fn vulkan_kernels[PLINTH_OP_COUNT] = {
#define X(E, n, lo, hi) [PLINTH_OP_##E] = vulkan_##n,
    PLINTH_OP_LIST(X)
#undef X
};
