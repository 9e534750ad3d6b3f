/*
 * vulkan_ops_nn.c — encoders for the ops of the transformer block.
 *
 * Sections:
 *   1. matmul: choosing a variant (matrix-vector for few rows; register
 *      blocking or shared-memory tiles for the rest), vec4 / 32-byte loads,
 *      stacked matrix-vector products (vulkan_fuse.c)
 *   2. get_rows / set_rows
 *   3. rope
 *   4. attention (fused, over the KV cache)
 */
#include <stdio.h>
#include <string.h>

#include "vulkan_ops.h"

static void copy4(int32_t dst[4], const int64_t src[4])
{
    for (int k = 0; k < 4; k++)
        dst[k] = (int32_t)src[k];
}

/* ---------------------------------------------------------------- 1 ---- */

/* One dispatch; `more` (n_more <= 2) are the further outputs of a stack
 * (then m == 1, no batch, every output dense f32 in one buffer). */
static int32_t matmul_one(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                          const void *attrs, bool check_only, vulkan_dispatch *d,
                          const plinth_view *more, int n_more)
{
    const plinth_view *a = &in[0], *b = &in[1];
    const bool tb = ((const plinth_attr_matmul *)attrs)->transpose_b != 0;
    const bool blocks = plinth_dtype_block_elems(b->dtype) > 1;
    if (!vulkan_is_float(a->dtype) || !(vulkan_is_float(b->dtype) || blocks))
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "matmul: a must be a float dtype, b a float or block dtype");
    if (out->dtype != a->dtype)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "matmul: out dtype differs from a's");
    vulkan_matmul_case c = {.out = out, .a = a, .b = b, .more = more, .n_more = n_more,
                            .tb = tb};
    const int64_t m = a->shape[2], k = a->shape[3];
    const int64_t bk = tb ? b->shape[3] : b->shape[2], n = tb ? b->shape[2] : b->shape[3];
    int64_t n_outs = out->shape[3];
    for (int j = 0; j < n_more; j++)
        n_outs += more[j].shape[3];
    bool ok = bk == k && out->shape[2] == m && n_outs == n;
    for (int i = 0; i < 2; i++) {
        ok = ok && (a->shape[i] == out->shape[i] || a->shape[i] == 1);
        ok = ok && (b->shape[i] == out->shape[i] || b->shape[i] == 1);
    }
    if (!ok) {
        char s1[96], s2[96], s3[96];
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "matmul: shapes a %s, b %s%s, out %s do not fit",
                           vulkan_shape_str(a, s1, sizeof s1), vulkan_shape_str(b, s2, sizeof s2),
                           tb ? " (transposed)" : "", vulkan_shape_str(out, s3, sizeof s3));
    }
    const int64_t batch = out->shape[0] * out->shape[1];
    if (batch > 65535 || m > 65535)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "matmul: more than 65535 batches or rows in one dispatch");
    c.m = m, c.n = n, c.k = k, c.batch = batch;
    vview *vo = &c.vo, *va = &c.va, *vb = &c.vb, *vm = c.vm;
    int32_t st = vulkan_view(dev, PLINTH_OP_MATMUL, "out", out, check_only, d, vo);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_MATMUL, "a", a, check_only, d, va);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_MATMUL, "b", b, check_only, d, vb);
    for (int j = 0; j < n_more && st == PLINTH_OK; j++)
        st = vulkan_view(dev, PLINTH_OP_MATMUL, "out", &more[j], check_only, d, &vm[j]);
    if (st == PLINTH_OK && blocks)
        return vulkan_encode_matmul_q(dev, &c, check_only, d);
    if (st != PLINTH_OK || check_only)
        return st;

    pc_matmul pc = {.m = (int32_t)m, .n = (int32_t)n, .k = (int32_t)k,
                    .o1 = (int32_t)out->shape[1], .n1 = (int32_t)out->shape[3],
                    .n2 = n_more == 2 ? (int32_t)more[0].shape[3] : (int32_t)n};
    memcpy(pc.o2, n_more ? vm[0].addr : vo->addr, 8);
    memcpy(pc.o3, n_more ? vm[n_more - 1].addr : vo->addr, 8);
    memcpy(pc.o, vo->addr, 8);
    memcpy(pc.a, va->addr, 8);
    memcpy(pc.b, vb->addr, 8);
    memcpy(pc.so, vo->s, 16);
    memcpy(pc.sa, va->s, 16);
    pc.sb[0] = vb->s[0];
    pc.sb[1] = vb->s[1];
    pc.sb[2] = tb ? vb->s[3] : vb->s[2]; /* steps k */
    pc.sb[3] = tb ? vb->s[2] : vb->s[3]; /* steps n */

    /* vec4 along k: both operands contiguous in k, every row start and the
     * base 16-byte aligned (b: 4 halves = 8 bytes), a in f32, K % 4 == 0. */
    const bool b32 = b->dtype == PLINTH_F32;
    bool kvec = a->dtype == PLINTH_F32 && k % 4 == 0 && k > 0 &&
                (pc.sa[3] == 1 || k == 1) && (pc.sb[2] == 1 || k == 1) &&
                va->byte_addr % 16 == 0 && vb->byte_addr % (b32 ? 16 : 8) == 0;
    for (int i = 0; i < 3 && kvec; i++)
        kvec = pc.sa[i] % 4 == 0;
    kvec = kvec && pc.sb[0] % 4 == 0 && pc.sb[1] % 4 == 0 && pc.sb[3] % 4 == 0;

    d->spec[0] = a->dtype;
    d->spec[1] = b->dtype;
    d->spec[2] = kvec;
    const uint32_t ny = (uint32_t)((m + 63) / 64), nx64 = (uint32_t)((n + 63) / 64);
    if (m <= MATVEC_MAX_M) {
        d->shader = dev->int64 ? VULKAN_SH_MATMUL_VEC_I64 : VULKAN_SH_MATMUL_VEC;
        d->n_spec = 8;
        bool sg = dev->matvec_variant == VULKAN_GPU_STYLE;
        d->spec[3] = sg;
        /* k per load (matvec.glsl KW): 32 bytes of b where the rows allow
         * it and the device has 64-bit integers, else 16 bytes of a 16-bit
         * b, else 4 k. a is read 16 bytes at a time in all three. */
        const int64_t k32 = b32 ? 8 : 16;
        const bool w32 = !sg && kvec && dev->int64 && k % k32 == 0 && vb->byte_addr % 32 == 0 &&
                         va->byte_addr % 16 == 0 && pc.sb[0] % k32 == 0 &&
                         pc.sb[1] % k32 == 0 && pc.sb[3] % k32 == 0;
        const bool w16 = !sg && kvec && !b32 && k % 8 == 0 && vb->byte_addr % 16 == 0 &&
                         pc.sb[0] % 8 == 0 && pc.sb[1] % 8 == 0 && pc.sb[3] % 8 == 0;
        d->spec[5] = dev->no_k8 ? 0 : w32 ? 2 : w16 ? 1 : 0;
        /* Columns per invocation (CPU style). llvmpipe (Mesa 22.3) runs a
         * storage-buffer load whose address differs per lane as a loop over
         * lanes and components (matvec.glsl), so what counts is loads per
         * byte: a is loaded once per NR columns, b in 32-byte pieces.
         * Measured on the 262144 x 640 logits matvec (bench_vulkan ...
         * matvec, GB/s f32 / bf16): 16-byte loads, NR 1 / 2 / 4 / 8: 3.3 /
         * 2.4, 4.5 / 3.3, 5.5 / 4.4, 6.2 / 5.2; 32-byte loads, NR 4 / 8 /
         * 16 / 24 / 32: 7.0 / 5.7, 8.6 / 6.9, 8.8 / 7.3, 7.2 / 8.0, 6.6 /
         * 7.6. So 16 for f32 and 24 for 16-bit b, 8 with smaller loads;
         * fewer where the matrix is too small to give every core several
         * workgroups (below). */
        int nr = sg || !kvec ? 1 : dev->matvec_rows > 0 ? dev->matvec_rows
                               : dev->matvec_rows == 0 ? 4
                               : d->spec[5] == 2 ? (b32 ? 16 : 24) : 8;
        d->spec[6] = !sg && kvec && dev->matvec_kc == 2 ? (int32_t)k : 0;
        d->spec[7] = sg ? 64 : dev->matvec_wg ? dev->matvec_wg : 64;
        /* Enough workgroups to keep every core of a CPU device busy on the
         * small per-layer matrices: with 32 x 8 columns per group, a
         * 256-column k_proj was one group (one busy core) and 640-column
         * o/down_proj three (two rounds on two cores). Halve the group down
         * to one subgroup until there are at least 16, then (per-dispatch
         * choice only) the columns per invocation until there are 8. */
        while (!sg && d->spec[7] > (int32_t)dev->subgroup_size && d->spec[7] % 2 == 0 &&
               n < (int64_t)16 * d->spec[7] * nr)
            d->spec[7] /= 2;
        while (!sg && dev->matvec_rows < 0 && nr > 4 && nr % 2 == 0 &&
               n < (int64_t)8 * d->spec[7] * nr)
            nr /= 2;
        d->spec[4] = nr;
        uint32_t per_group = sg ? 64 / dev->subgroup_size : (uint32_t)(d->spec[7] * d->spec[4]);
        d->groups[0] = (uint32_t)((n + per_group - 1) / per_group);
        d->groups[1] = (uint32_t)m;
    } else if (dev->matmul_variant == VULKAN_GPU_STYLE) {
        d->shader = VULKAN_SH_MATMUL_TILED;
        d->n_spec = 3;
        d->groups[0] = nx64;
        d->groups[1] = ny;
    } else {
        d->shader = dev->int64 ? VULKAN_SH_MATMUL_I64 : VULKAN_SH_MATMUL;
        d->n_spec = 7;
        d->spec[3] = 16; /* workgroup 16 x 4, 16 rows x 4 columns per invocation */
        d->spec[4] = 4;  /* (matmul_blocked.glsl TM): 64 x 64 per workgroup */
        /* b along n, a along k, vec4 loads of both (matmul.comp NVEC). */
        const int64_t eb = b32 ? 4 : 2;
        d->spec[5] = !kvec && a->dtype == PLINTH_F32 && k % 4 == 0 && n % 4 == 0 &&
                     pc.sa[3] == 1 && pc.sb[3] == 1 && va->byte_addr % 16 == 0 &&
                     vb->byte_addr % (uint64_t)(4 * eb) == 0 && pc.sa[0] % 4 == 0 &&
                     pc.sa[1] % 4 == 0 && pc.sa[2] % 4 == 0 && pc.sb[0] % 4 == 0 &&
                     pc.sb[1] % 4 == 0 && pc.sb[2] % 4 == 0;
        /* k along rows of both, 32 bytes per load (matmul_blocked.glsl W32) */
        const int64_t ks = b32 ? 8 : 16;
        d->spec[6] = dev->int64 && !dev->no_k8 && kvec && k % ks == 0 &&
                     va->byte_addr % 32 == 0 && vb->byte_addr % 32 == 0 && pc.sa[0] % 8 == 0 &&
                     pc.sa[1] % 8 == 0 && pc.sa[2] % 8 == 0 && pc.sb[0] % ks == 0 &&
                     pc.sb[1] % ks == 0 && pc.sb[3] % ks == 0;
        d->groups[0] = nx64;
        d->groups[1] = ny;
    }
    d->groups[2] = (uint32_t)batch;
    if (d->groups[0] > 65535)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED, "matmul: N = %lld is too wide",
                           (long long)n);
    if (n_more && d->shader != VULKAN_SH_MATMUL_VEC && d->shader != VULKAN_SH_MATMUL_VEC_I64)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED, "matmul: a stack needs the matvec");
    VULKAN_PUSH(d, pc);
    vulkan_matmul_ranges(&c, d);
    return PLINTH_OK;
}

void vulkan_matmul_ranges(const vulkan_matmul_case *c, vulkan_dispatch *d)
{
    d->write = c->vo.range;
    for (int j = 0; j < c->n_more; j++) { /* one span over the outputs (same buffer) */
        d->write.lo = c->vm[j].range.lo < d->write.lo ? c->vm[j].range.lo : d->write.lo;
        d->write.hi = c->vm[j].range.hi > d->write.hi ? c->vm[j].range.hi : d->write.hi;
    }
    d->n_reads = 2;
    d->reads[0] = c->va.range;
    d->reads[1] = c->vb.range;
}

int32_t vulkan_encode_matvec_stack(plinth_device *dev, const plinth_view *outs, int n_out,
                                   const plinth_view *in, const void *attrs,
                                   vulkan_dispatch *d)
{
    memset(d, 0, sizeof *d);
    if (n_out < 2 || n_out > 3 || in[0].shape[2] != 1 || (dev->desc &&
        vulkan_view_bytes(&in[1]) + 2 * PLINTH_ALIGNMENT > dev->max_range))
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED, "matmul: no stack here");
    return matmul_one(dev, &outs[0], in, attrs, false, d, outs + 1, n_out - 1);
}

/* Descriptor mode: how many of `total` rows (step `stride` bytes, the
 * rest of a row `rest` bytes) fit one binding, a multiple of 64 when it can
 * be; 0 when not even one does. */
static int64_t rows_per_binding(const plinth_device *dev, int64_t total, int64_t stride,
                                uint64_t rest)
{
    const uint64_t room = dev->max_range - 2 * PLINTH_ALIGNMENT;
    if (rest > room)
        return 0;
    int64_t r = stride ? (int64_t)((room - rest) / (uint64_t)(stride < 0 ? -stride : stride)) + 1
                       : total;
    if (r > 64)
        r = r / 64 * 64;
    return r < total ? r : total;
}

/* Splits `total` rows into dispatches of `per` rows: fails when it would
 * take more than VULKAN_MAX_SPLIT. */
static int32_t split_count(plinth_device *dev, const char *name, int64_t total, int64_t per,
                           uint32_t *n_d)
{
    int64_t n = per > 0 ? (total + per - 1) / per : INT64_MAX;
    if (n > VULKAN_MAX_SPLIT)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "%s: an operand would need more than %d bindings of "
                           "maxStorageBufferRange %llu", name, VULKAN_MAX_SPLIT,
                           (unsigned long long)dev->max_range);
    *n_d = (uint32_t)n;
    return PLINTH_OK;
}

/* A wide b (the tied logits embedding) is split along n: each dispatch
 * takes a range of b's n rows and the matching columns of out. */
int32_t vulkan_encode_matmul(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                             const void *attrs, bool check_only, vulkan_dispatch *d,
                             uint32_t *n_d)
{
    const plinth_view *b = &in[1];
    *n_d = 1;
    const int nd = ((const plinth_attr_matmul *)attrs)->transpose_b ? 2 : 3;
    /* A block b splits by whole rows only: along n when transposed. */
    if (!dev->desc || vulkan_view_bytes(b) + 2 * PLINTH_ALIGNMENT <= dev->max_range ||
        plinth_dtype_block_bytes(b->dtype) == 0 ||
        (plinth_dtype_block_elems(b->dtype) > 1 && nd == 3))
        return matmul_one(dev, out, in, attrs, check_only, d, NULL, 0);
    plinth_view one = *b;
    one.shape[nd] = 1;
    const int64_t n = b->shape[nd];
    const int64_t per = rows_per_binding(dev, n, b->stride[nd], vulkan_view_bytes(&one));
    int32_t st = split_count(dev, "matmul", n, per, n_d);
    for (uint32_t c = 0; c < *n_d && st == PLINTH_OK; c++) {
        const int64_t n0 = (int64_t)c * per, len = n - n0 < per ? n - n0 : per;
        plinth_view o = *out, part[2] = {in[0], *b};
        part[1].shape[nd] = len;
        part[1].offset = (uint64_t)((int64_t)b->offset + n0 * b->stride[nd]);
        o.shape[3] = len;
        o.offset = (uint64_t)((int64_t)out->offset + n0 * out->stride[3]);
        memset(&d[c], 0, sizeof d[c]);
        st = matmul_one(dev, &o, part, attrs, check_only, &d[c], NULL, 0);
    }
    return st;
}

/* ---------------------------------------------------------------- 2 ---- */

/* idx [1, p, q, r] pairs with rows [p, q, r, C]; the table is [1, 1, R, C]. */
int32_t vulkan_check_rows(plinth_device *dev, const char *name, const plinth_view *table,
                          const plinth_view *rows, const plinth_view *idx)
{
    if (idx->dtype != PLINTH_I32)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: idx must be i32", name);
    if (table->shape[0] != 1 || table->shape[1] != 1 || idx->shape[0] != 1 ||
        rows->shape[0] != idx->shape[1] || rows->shape[1] != idx->shape[2] ||
        rows->shape[2] != idx->shape[3] || rows->shape[3] != table->shape[3])
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: shapes do not fit", name);
    return PLINTH_OK;
}

typedef struct pc_rows_io {
    uint32_t o[2], t[2], idx[2];
    uint32_t n;
    int32_t rows;
    int32_t ne[4], so[4], si[4];
    int32_t st[2];
    int32_t row0, total; /* get_rows: this dispatch's table rows start at row0 */
} pc_rows_io;

static int32_t get_rows_one(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                            const void *attrs, bool check_only, int64_t row0, int64_t total,
                            vulkan_dispatch *d)
{
    const plinth_view *table = &in[0];
    const int32_t want = ((const plinth_attr_get_rows *)attrs)->dtype;
    if (plinth_dtype_block_elems(table->dtype) > 1)
        return vulkan_encode_get_rows_q(dev, out, in, attrs, check_only, row0, total, d);
    if (out->dtype != want)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "get_rows: out dtype differs from attrs");
    if (out->dtype != table->dtype && !(vulkan_is_float(table->dtype) && out->dtype == PLINTH_F32))
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "get_rows: %s table to %s (only the same dtype or float to f32)",
                           plinth_dtype_label(table->dtype), plinth_dtype_label(out->dtype));
    int32_t st = vulkan_check_rows(dev, "get_rows", table, out, &in[1]);
    vview vo, vt, vi;
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_GET_ROWS, "out", out, check_only, d, &vo);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_GET_ROWS, "table", table, check_only, d, &vt);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_GET_ROWS, "idx", &in[1], check_only, d, &vi);
    if (st != PLINTH_OK || check_only)
        return st;
    pc_rows_io pc = {.n = (uint32_t)vulkan_numel(out), .rows = (int32_t)table->shape[2],
                     .row0 = (int32_t)row0, .total = (int32_t)total};
    memcpy(pc.o, vo.addr, 8);
    memcpy(pc.t, vt.addr, 8);
    memcpy(pc.idx, vi.addr, 8);
    copy4(pc.ne, out->shape);
    memcpy(pc.so, vo.s, 16);
    memcpy(pc.si, vi.s, 16);
    pc.st[0] = vt.s[2];
    pc.st[1] = vt.s[3];
    d->shader = VULKAN_SH_GET_ROWS;
    d->n_spec = 2;
    d->spec[0] = table->dtype;
    d->spec[1] = out->dtype;
    VULKAN_PUSH(d, pc);
    vulkan_groups_1d(pc.n, d->groups);
    d->write = vo.range;
    d->n_reads = 2;
    d->reads[0] = vt.range;
    d->reads[1] = vi.range;
    return PLINTH_OK;
}

/* A table wider than a binding (the embedding) is split by rows: each
 * dispatch copies the indices that fall in its rows; the first one also
 * writes the zeros of out-of-range indices. */
int32_t vulkan_encode_get_rows(plinth_device *dev, const plinth_view *out,
                               const plinth_view *in, const void *attrs, bool check_only,
                               vulkan_dispatch *d, uint32_t *n_d)
{
    const plinth_view *t = &in[0];
    const int64_t rows = t->shape[2];
    *n_d = 1;
    if (rows > INT32_MAX)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED, "get_rows: more than 2^31 rows");
    if (!dev->desc || vulkan_view_bytes(t) + 2 * PLINTH_ALIGNMENT <= dev->max_range ||
        plinth_dtype_block_bytes(t->dtype) == 0)
        return get_rows_one(dev, out, in, attrs, check_only, 0, rows, d);
    plinth_view one = *t;
    one.shape[2] = 1;
    const int64_t per = rows_per_binding(dev, rows, t->stride[2], vulkan_view_bytes(&one));
    int32_t st = split_count(dev, "get_rows", rows, per, n_d);
    for (uint32_t c = 0; c < *n_d && st == PLINTH_OK; c++) {
        const int64_t r0 = (int64_t)c * per;
        plinth_view part[2] = {*t, in[1]};
        part[0].shape[2] = rows - r0 < per ? rows - r0 : per;
        part[0].offset = (uint64_t)((int64_t)t->offset + r0 * t->stride[2]);
        memset(&d[c], 0, sizeof d[c]);
        st = get_rows_one(dev, out, part, attrs, check_only, r0, rows, &d[c]);
    }
    return st;
}

int32_t vulkan_encode_set_rows(plinth_device *dev, const plinth_view *out,
                               const plinth_view *in, bool check_only, vulkan_dispatch *d)
{
    const plinth_view *src = &in[0];
    if (out->dtype != src->dtype && !(vulkan_is_float(out->dtype) && vulkan_is_float(src->dtype)))
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED, "set_rows: %s src into %s state",
                           plinth_dtype_label(src->dtype), plinth_dtype_label(out->dtype));
    int32_t st = vulkan_check_rows(dev, "set_rows", out, src, &in[1]);
    vview vo, vs, vi;
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_SET_ROWS, "state", out, check_only, d, &vo);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_SET_ROWS, "src", src, check_only, d, &vs);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_SET_ROWS, "idx", &in[1], check_only, d, &vi);
    if (st != PLINTH_OK || check_only)
        return st;
    pc_rows_io pc = {.n = (uint32_t)out->shape[3], .rows = (int32_t)out->shape[2]};
    memcpy(pc.o, vo.addr, 8);
    memcpy(pc.t, vs.addr, 8);
    memcpy(pc.idx, vi.addr, 8);
    copy4(pc.ne, src->shape);
    memcpy(pc.so, vs.s, 16); /* the shader's "ss": src strides */
    memcpy(pc.si, vi.s, 16);
    pc.st[0] = vo.s[2]; /* the shader's "so": state row, column strides */
    pc.st[1] = vo.s[3];
    d->shader = VULKAN_SH_SET_ROWS;
    d->n_spec = 2;
    d->spec[0] = src->dtype;
    d->spec[1] = out->dtype;
    VULKAN_PUSH(d, pc);
    vulkan_groups_1d(vulkan_numel(src) ? pc.n : 0, d->groups);
    d->write = vo.range;
    d->n_reads = 2;
    d->reads[0] = vs.range;
    d->reads[1] = vi.range;
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 3 ---- */

typedef struct pc_rope {
    uint32_t o[2], x[2], pos[2];
    uint32_t n;
    int32_t half;
    int32_t ne[4], so[4], sx[4];
    float base;
    int32_t n_dims, spos, pad;
    uint32_t f[2];
    int32_t sf, pad2;
} pc_rope;

/* rope, and rope_factors (factors: in[2]) through the same shader. */
int32_t vulkan_encode_rope(plinth_device *dev, uint32_t op, const plinth_view *out,
                           const plinth_view *in, const void *attrs, bool check_only,
                           vulkan_dispatch *d)
{
    const char *name = plinth_op_label(op);
    const plinth_view *x = &in[0], *pos = &in[1];
    const plinth_view *factors = op == PLINTH_OP_ROPE_FACTORS ? &in[2] : NULL;
    const plinth_attr_rope *a = attrs;
    if (!vulkan_is_float(x->dtype) || out->dtype != x->dtype || !vulkan_same_shape(out, x))
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: out must match x (a float dtype)",
                           name);
    if (pos->dtype != PLINTH_I32 || pos->shape[0] != 1 || pos->shape[1] != 1 ||
        pos->shape[2] != 1 || pos->shape[3] != x->shape[1])
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: pos must be i32 [T]", name);
    if (a->n_dims < 0 || a->n_dims % 2 != 0 || a->n_dims > x->shape[3])
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: n_dims %d must be even and within "
                           "the head dim", name, (int)a->n_dims);
    if (factors && (factors->dtype != PLINTH_F32 || factors->shape[0] != 1 ||
                    factors->shape[1] != 1 || factors->shape[2] != 1 ||
                    factors->shape[3] != a->n_dims / 2))
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "%s: factors must be f32 [n_dims/2]", name);
    vview vo, vx, vp, vf = {0};
    int32_t st = vulkan_view(dev, op, "out", out, check_only, d, &vo);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, op, "x", x, check_only, d, &vx);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, op, "pos", pos, check_only, d, &vp);
    if (st == PLINTH_OK && factors)
        st = vulkan_view(dev, op, "factors", factors, check_only, d, &vf);
    if (st != PLINTH_OK || check_only)
        return st;
    const int32_t half = a->n_dims / 2;
    pc_rope pc = {.half = half, .base = a->base, .n_dims = a->n_dims, .spos = vp.s[3],
                  .sf = vf.s[3]};
    pc.n = (uint32_t)(x->shape[0] * x->shape[1] * x->shape[2] * (x->shape[3] - half));
    memcpy(pc.o, vo.addr, 8);
    memcpy(pc.x, vx.addr, 8);
    memcpy(pc.pos, vp.addr, 8);
    memcpy(pc.f, vf.addr, 8);
    copy4(pc.ne, x->shape);
    memcpy(pc.so, vo.s, 16);
    memcpy(pc.sx, vx.s, 16);
    d->shader = VULKAN_SH_ROPE;
    d->n_spec = 2;
    d->spec[0] = x->dtype;
    d->spec[1] = factors != NULL;
    VULKAN_PUSH(d, pc);
    vulkan_groups_1d(pc.n, d->groups);
    d->write = vo.range;
    d->n_reads = factors ? 3 : 2;
    d->reads[0] = vx.range;
    d->reads[1] = vp.range;
    d->reads[2] = vf.range;
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 4 ---- */

typedef struct pc_attention {
    uint32_t q[2], k[2], v[2], o[2], pos[2], kvl[2];
    int32_t dk, dv, s_len, window;
    float scale;
    int32_t group, spos, pad;
    int32_t sq[3], sk[3], sv[3], so[3];
} pc_attention;

enum { Q, K, V, POS, KV_LEN };

int32_t vulkan_encode_attention(plinth_device *dev, const plinth_view *out,
                                const plinth_view *in, const void *attrs, bool check_only,
                                vulkan_dispatch *d)
{
    const plinth_view *q = &in[Q], *k = &in[K], *v = &in[V];
    const plinth_attr_attention *a = attrs;
    if (!vulkan_is_float(q->dtype) || !vulkan_is_float(k->dtype) || !vulkan_is_float(v->dtype))
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED, "attention: q, k, v must be float");
    if (out->dtype != q->dtype)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "attention: out dtype differs from q's");
    const int64_t hq = q->shape[2], hkv = k->shape[2];
    bool ok = k->shape[0] == q->shape[0] && v->shape[0] == q->shape[0] &&
              k->shape[3] == q->shape[3] && v->shape[1] == k->shape[1] && v->shape[2] == hkv &&
              out->shape[0] == q->shape[0] && out->shape[1] == q->shape[1] &&
              out->shape[2] == hq && out->shape[3] == v->shape[3] &&
              (hkv == 0 ? hq == 0 : hq % hkv == 0);
    if (!ok)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "attention: shapes do not fit");
    const plinth_view *pos = &in[POS], *kvl = &in[KV_LEN];
    if (pos->dtype != PLINTH_I32 || pos->shape[0] != 1 || pos->shape[1] != 1 ||
        pos->shape[2] != 1 || pos->shape[3] != q->shape[1])
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "attention: pos must be i32 [T]");
    if (kvl->dtype != PLINTH_I32 || vulkan_numel(kvl) != 1)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "attention: kv_len must be one i32");
    if (a->window < 0)
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "attention: negative window");
    /* Limits of this shader (documented in attention.comp). */
    if (q->shape[0] > 1)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "attention: batch dim %lld > 1 not implemented on vulkan",
                           (long long)q->shape[0]);
    if (q->shape[3] > 512 || v->shape[3] > 512 || q->shape[1] > 65535 || hq > 65535)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "attention: head dims above 512 or more than 65535 queries/heads");
    vview vq, vk, vv, vo, vp, vl;
    int32_t st = vulkan_view(dev, PLINTH_OP_ATTENTION, "out", out, check_only, d, &vo);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_ATTENTION, "q", q, check_only, d, &vq);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_ATTENTION, "k", k, check_only, d, &vk);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_ATTENTION, "v", v, check_only, d, &vv);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_ATTENTION, "pos", pos, check_only, d, &vp);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, PLINTH_OP_ATTENTION, "kv_len", kvl, check_only, d, &vl);
    if (st != PLINTH_OK || check_only)
        return st;
    pc_attention pc = {.dk = (int32_t)q->shape[3], .dv = (int32_t)v->shape[3],
                       .s_len = (int32_t)k->shape[1], .window = a->window, .scale = a->scale,
                       .group = hkv ? (int32_t)(hq / hkv) : 1, .spos = vp.s[3]};
    memcpy(pc.q, vq.addr, 8);
    memcpy(pc.k, vk.addr, 8);
    memcpy(pc.v, vv.addr, 8);
    memcpy(pc.o, vo.addr, 8);
    memcpy(pc.pos, vp.addr, 8);
    memcpy(pc.kvl, vl.addr, 8);
    memcpy(pc.sq, &vq.s[1], 12);
    memcpy(pc.sk, &vk.s[1], 12);
    memcpy(pc.sv, &vv.s[1], 12);
    memcpy(pc.so, &vo.s[1], 12);
    d->shader = VULKAN_SH_ATTENTION;
    d->n_spec = 3;
    d->spec[0] = q->dtype;
    d->spec[1] = k->dtype;
    d->spec[2] = v->dtype;
    /* attention_lanes.comp: lane chunks of 8 dims read as 32 bytes. */
    const int64_t dk = q->shape[3], dv = v->shape[3], span = 8 * (int64_t)dev->subgroup_size;
    if (dev->attention_variant == VULKAN_CPU_STYLE && k->dtype == PLINTH_F32 &&
        v->dtype == PLINTH_F32 && dk % 8 == 0 && dv % 8 == 0 && pc.sk[2] == 1 &&
        pc.sv[2] == 1 && pc.sk[0] % 8 == 0 && pc.sk[1] % 8 == 0 && pc.sv[0] % 8 == 0 &&
        pc.sv[1] % 8 == 0 && vk.byte_addr % 32 == 0 && vv.byte_addr % 32 == 0 &&
        dev->subgroup_size > 0 && dev->subgroup_size <= 128) {
        d->shader = VULKAN_SH_ATTENTION_LANES;
        d->n_spec = 4;
        d->spec[1] = (int32_t)((dk + span - 1) / span);
        d->spec[2] = (int32_t)((dv + span - 1) / span);
        d->spec[3] = (int32_t)dev->subgroup_size;
    }
    VULKAN_PUSH(d, pc);
    d->groups[0] = vulkan_numel(out) ? (uint32_t)hq : 0;
    d->groups[1] = (uint32_t)q->shape[1];
    d->groups[2] = 1;
    d->write = vo.range;
    d->n_reads = 5;
    d->reads[0] = vq.range;
    d->reads[1] = vk.range;
    d->reads[2] = vv.range;
    d->reads[3] = vp.range;
    d->reads[4] = vl.range;
    return PLINTH_OK;
}
