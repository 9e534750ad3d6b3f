/*
 * vulkan_fuse.c — the hook where prepare would run instruction patterns
 * (rms_norm x weight, gelu(gate) * up, a residual add after a matmul, rope
 * of q and k) as one dispatch.
 *
 * Sections: the hook. No pattern is fused yet: every call answers
 * PLINTH_ERR_UNSUPPORTED and prepare encodes instruction by instruction
 * (config fuse=0 skips the call). On lavapipe a decoded token spends
 * ~5-15 ms of its time in dispatch overhead against ~150 ms in the matvecs
 * (README), so the matvec came first.
 */
#include "vulkan.h"

int32_t vulkan_fuse(plinth_device *dev, const plinth_instruction *code, uint32_t n, uint32_t i,
                    vulkan_dispatch *d, uint32_t *n_d, uint32_t *used)
{
    (void)dev, (void)code, (void)n, (void)i, (void)d, (void)n_d, (void)used;
    return PLINTH_ERR_UNSUPPORTED;
}
