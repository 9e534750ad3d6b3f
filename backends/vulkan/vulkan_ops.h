/*
 * vulkan_ops.h — helpers shared by the op encoders (vulkan_ops.c,
 * vulkan_ops_nn.c): turning a plinth_view into what a shader takes.
 *
 * A view becomes a uvec2 in the push constants (a device address, or a
 * descriptor slot of the dispatch and a byte offset: vulkan.h section 1)
 * and element strides (int32). Views must be element-aligned (byte strides and
 * the offset inside the tensor multiples of the element size) and reach at
 * most 2^31 - 1 elements from their start; supports() refuses the rest.
 */
#ifndef PLINTH_VULKAN_OPS_H
#define PLINTH_VULKAN_OPS_H

#include "vulkan.h"

typedef struct vview {
    uint32_t addr[2];  /* device address, low word first            */
    int32_t s[4];      /* element strides; 0 where the dim is 1      */
    vulkan_range range; /* bytes it may touch, for barriers          */
    uint64_t byte_addr; /* device address (descriptor mode: offset in its
                         * VkBuffer), for alignment tests             */
} vview;

/* Validates and converts `v` (what names it in messages). With check_only
 * the buffer is not looked at. */
int32_t vulkan_view(plinth_device *dev, uint32_t op, const char *what, const plinth_view *v,
                    bool check_only, vulkan_dispatch *d, vview *out);
/* Bytes between the lowest and the highest byte a view reaches. */
uint64_t vulkan_view_bytes(const plinth_view *v);

bool vulkan_is_float(int32_t dtype);
int64_t vulkan_numel(const plinth_view *v);
bool vulkan_same_shape(const plinth_view *a, const plinth_view *b);
/* Do the element strides describe a dense row-major layout of `shape`? */
bool vulkan_dense(const int64_t shape[4], const int32_t s[4]);
/* Workgroups for n invocations of 64: 2-D when x would pass 65535. */
void vulkan_groups_1d(uint64_t n, uint32_t groups[3]);
/* Shape text for messages. */
const char *vulkan_shape_str(const plinth_view *v, char *buf, size_t size);

/* Encoders of vulkan_ops_nn.c (same contract as vulkan_encode). */
int32_t vulkan_encode_matmul(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                             const void *attrs, bool check_only, vulkan_dispatch *d,
                             uint32_t *n_d);
/* Matrix-vector products of one a (one row) with 2 or 3 matrices stacked
 * row after row in b ([N1 + N2 (+ N3), K], transposed), as one dispatch
 * writing outs[0..n_out) (dense f32, one buffer). UNSUPPORTED where the
 * matvec shader would not run it. */
int32_t vulkan_encode_matvec_stack(plinth_device *dev, const plinth_view *outs, int n_out,
                                   const plinth_view *in, const void *attrs,
                                   vulkan_dispatch *d);
int32_t vulkan_encode_get_rows(plinth_device *dev, const plinth_view *out,
                               const plinth_view *in, const void *attrs, bool check_only,
                               vulkan_dispatch *d, uint32_t *n_d);
int32_t vulkan_encode_set_rows(plinth_device *dev, const plinth_view *out,
                               const plinth_view *in, bool check_only, vulkan_dispatch *d);
/* rope and rope_factors (op says which). */
int32_t vulkan_encode_rope(plinth_device *dev, uint32_t op, const plinth_view *out,
                           const plinth_view *in, const void *attrs, bool check_only,
                           vulkan_dispatch *d);
int32_t vulkan_encode_attention(plinth_device *dev, const plinth_view *out,
                                const plinth_view *in, const void *attrs, bool check_only,
                                vulkan_dispatch *d);

/* Copies a push-constant struct into d (size checked at compile time). */
#define VULKAN_PUSH(d, pc)                                                      \
    do {                                                                        \
        _Static_assert(sizeof(pc) <= VULKAN_PUSH_MAX, "push constants > 128"); \
        memcpy((d)->push, &(pc), sizeof(pc));                                   \
        (d)->push_size = (uint32_t)sizeof(pc);                                  \
    } while (0)

#endif /* PLINTH_VULKAN_OPS_H */
