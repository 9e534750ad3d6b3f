/*
 * vulkan_ops.h — helpers shared by the op encoders (vulkan_ops.c,
 * vulkan_ops_nn.c): turning a plinth_view into what a shader takes.
 *
 * A view becomes a uvec2 in the push constants (a device address, or a
 * descriptor slot of the dispatch and a byte offset: vulkan.h section 1)
 * and element strides (int32). Views must be element-aligned (byte strides and
 * the offset inside the tensor multiples of the element size) and reach at
 * most 2^31 - 1 elements from their start; supports() refuses the rest.
 * Block-dtype views (q8_0 ...) are addressed by byte (blocks.glsl): byte
 * strides, an even start, at most 2^31 - 1 bytes.
 */
#ifndef PLINTH_VULKAN_OPS_H
#define PLINTH_VULKAN_OPS_H

#include "vulkan.h"

typedef struct vview {
    uint32_t addr[2];  /* device address, low word first            */
    int32_t s[4];      /* element strides; 0 where the dim is 1 (block
                        * dtypes: byte strides, s[3] the block's bytes) */
    uint32_t qo;       /* block dtypes: addr is 4-byte aligned (16 for a
                        * device address, (slot, 0) in descriptor mode),
                        * element 0 is qo bytes past it              */
    vulkan_range range; /* bytes it may touch, for barriers          */
    uint64_t byte_addr; /* device address (descriptor mode: offset in its
                         * VkBuffer), for alignment tests             */
} vview;

/* Validates and converts `v` (what names it in messages). With check_only
 * the buffer is not looked at. */
int32_t vulkan_view(plinth_device *dev, uint32_t op, const char *what, const plinth_view *v,
                    bool check_only, vulkan_dispatch *d, vview *out);
/* Bytes between the lowest and the highest byte a view reaches (0 for an
 * empty view or an unknown dtype). */
uint64_t vulkan_view_bytes(const plinth_view *v);
/* The bytes [*lo, *hi) a view reaches, relative to its offset (block
 * dtypes too; an empty view counts as one element). */
void vulkan_view_span(const plinth_view *v, int64_t *lo, int64_t *hi);

bool vulkan_is_float(int32_t dtype);
int64_t vulkan_numel(const plinth_view *v);
bool vulkan_same_shape(const plinth_view *a, const plinth_view *b);
/* Do the element strides describe a dense row-major layout of `shape`? */
bool vulkan_dense(const int64_t shape[4], const int32_t s[4]);
/* Workgroups for n invocations of 64: 2-D when x would pass 65535. */
void vulkan_groups_1d(uint64_t n, uint32_t groups[3]);
/* Shape text for messages. */
const char *vulkan_shape_str(const plinth_view *v, char *buf, size_t size);

/* The matmul shaders' push constants (shaders/matmul.glsl). */
typedef struct pc_matmul {
    uint32_t o[2], a[2], b[2];
    int32_t m, n, k, o1;
    uint32_t qo; /* a block b: byte offset of element 0 (vulkan_ops_q.c) */
    int32_t pad;
    int32_t so[4], sa[4], sb[4];
    /* Stacked matrix-vector products (vulkan_encode_matvec_stack): columns
     * [0, n1) go to o, [n1, n1 + n2) to o2, the rest to o3. Otherwise
     * n1 = n and o2 = o3 = o. */
    uint32_t o2[2], o3[2];
    int32_t n1, n2;
} pc_matmul;

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

/* Rows of a up to which the matrix-vector shaders are used (decode). */
#define MATVEC_MAX_M 2

/* A matmul case with its shapes checked and its views converted
 * (vulkan_ops_nn.c); `more` are the further outputs of a stack
 * (vulkan_encode_matvec_stack: m == 1, no batch, dense f32 outputs in one
 * buffer). */
typedef struct vulkan_matmul_case {
    const plinth_view *out, *a, *b, *more;
    int n_more;
    bool tb; /* transpose_b */
    int64_t m, n, k, batch;
    vview vo, va, vb, vm[2];
} vulkan_matmul_case;
/* d->write (the outputs) and d->reads (a, b) of a matmul dispatch. */
void vulkan_matmul_ranges(const vulkan_matmul_case *c, vulkan_dispatch *d);

/* get_rows / set_rows: idx i32 [1, p, q, r] pairs with rows [p, q, r, C] of
 * the table [1, 1, R, C]. */
int32_t vulkan_check_rows(plinth_device *dev, const char *name, const plinth_view *table,
                          const plinth_view *rows, const plinth_view *idx);

/* Encoders of vulkan_ops_q.c, for block dtypes (same contract as
 * vulkan_encode): matmul with a block b (matmul_one hands over the case),
 * get_rows from a block table (row0, total: a table split by rows, see
 * vulkan_encode_get_rows), cast from a block dtype. */
int32_t vulkan_encode_matmul_q(plinth_device *dev, const vulkan_matmul_case *c,
                               bool check_only, vulkan_dispatch *d);
int32_t vulkan_encode_get_rows_q(plinth_device *dev, const plinth_view *out,
                                 const plinth_view *in, const void *attrs, bool check_only,
                                 int64_t row0, int64_t total, vulkan_dispatch *d);
int32_t vulkan_encode_cast_q(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                             const void *attrs, bool check_only, vulkan_dispatch *d);

/* Copies a push-constant struct into d (size checked at compile time). */
#define VULKAN_PUSH(d, pc)                                                      \
    do {                                                                        \
        _Static_assert(sizeof(pc) <= VULKAN_PUSH_MAX, "push constants > 128"); \
        memcpy((d)->push, &(pc), sizeof(pc));                                   \
        (d)->push_size = (uint32_t)sizeof(pc);                                  \
    } while (0)

#endif /* PLINTH_VULKAN_OPS_H */
