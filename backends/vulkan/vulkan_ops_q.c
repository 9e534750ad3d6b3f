/*
 * vulkan_ops_q.c — encoders for the block dtypes (q8_0, q4_0, q4_K, q6_K):
 * the ops that read them as weights.
 *
 * Sections:
 *   1. matmul with a block b (shaders/matmul_q.glsl): the decode
 *      matrix-vector product, the prefill tiles, b not transposed
 *   2. get_rows from a block table and cast from a block dtype
 *      (shaders/dequant.comp)
 *
 * Block views reach the shaders as 4-byte aligned operands plus a byte
 * offset (vview.qo) and byte strides (vulkan_view). Every value is
 * dequantised as plinth_dequant_block does (shaders/blocks.glsl) before it
 * meets an activation, so a result differs from the f32 matmul of the
 * dequantised weights only by the order of the f32 sums.
 */
#include <string.h>

#include "vulkan_ops.h"

/* ---------------------------------------------------------------- 1 ---- */

/* Rows per invocation of the prefill tiles (matmul_q.comp TM; columns TN):
 * each unit of a weight row is dequantised once for TM rows of a. */
#define TILE_M 4
#define TILE_N 4

int32_t vulkan_encode_matmul_q(plinth_device *dev, const vulkan_matmul_case *c,
                               bool check_only, vulkan_dispatch *d)
{
    const vview *vo = &c->vo, *va = &c->va, *vb = &c->vb;
    const int64_t m = c->m, n = c->n, k = c->k;
    const bool matvec = m <= MATVEC_MAX_M && c->tb;
    if (c->n_more && !matvec)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED, "matmul: a stack needs the matvec");
    pc_matmul pc = {.m = (int32_t)m, .n = (int32_t)n, .k = (int32_t)k,
                    .o1 = (int32_t)c->out->shape[1], .n1 = (int32_t)c->out->shape[3],
                    .n2 = c->n_more == 2 ? (int32_t)c->more[0].shape[3] : (int32_t)n,
                    .qo = vb->qo};
    memcpy(pc.o2, c->n_more ? c->vm[0].addr : vo->addr, 8);
    memcpy(pc.o3, c->n_more ? c->vm[c->n_more - 1].addr : vo->addr, 8);
    memcpy(pc.o, vo->addr, 8);
    memcpy(pc.a, va->addr, 8);
    memcpy(pc.b, vb->addr, 8);
    memcpy(pc.so, vo->s, 16);
    memcpy(pc.sa, va->s, 16);
    /* Bytes: the batch steps, then the step of b's unblocked dim (its rows
     * when transposed: n; else k); the blocked dim's step is the block. */
    pc.sb[0] = vb->s[0];
    pc.sb[1] = vb->s[1];
    pc.sb[2] = c->tb ? 0 : vb->s[2];
    pc.sb[3] = c->tb ? vb->s[2] : 0;
    /* a read 4 k at a time: f32, contiguous in k, rows 16-byte aligned (K
     * is a multiple of the block, so of 4). */
    bool kvec = c->a->dtype == PLINTH_F32 && (pc.sa[3] == 1 || k == 1) &&
                va->byte_addr % 16 == 0;
    for (int i = 0; i < 3 && kvec; i++)
        kvec = pc.sa[i] % 4 == 0;

    d->n_spec = 8;
    d->spec[0] = c->a->dtype;
    d->spec[1] = c->b->dtype;
    d->spec[2] = kvec;
    int wg = 64, tn = 1, tm = 1;
    uint64_t cols_per_group;
    d->shader = !c->tb ? VULKAN_SH_MATMUL_Q_KN : matvec ? VULKAN_SH_MATVEC_Q : VULKAN_SH_MATMUL_Q;
    if (!c->tb) { /* 8 columns (of one block) per invocation */
        tm = m <= MATVEC_MAX_M ? 1 : TILE_M;
        cols_per_group = 8 * (uint64_t)wg;
    } else if (matvec && dev->matvec_variant == VULKAN_GPU_STYLE) {
        d->spec[3] = 1; /* SG: a column per subgroup */
        cols_per_group = 64 / dev->subgroup_size;
    } else if (matvec) {
        /* 8-byte loads (matvec_q_i64.comp) where every block (q4_K) or
         * group of 4 (q8_0, q4_0: G4) starts at a multiple of 8 bytes;
         * q6_K reads only a that way. */
        const int32_t q = c->b->dtype;
        const bool at8 = vb->qo % 8 == 0 && pc.sb[0] % 8 == 0 && pc.sb[1] % 8 == 0 &&
                         pc.sb[3] % 8 == 0;
        const bool g4 = (q == PLINTH_Q8_0 || q == PLINTH_Q4_0) && k % 128 == 0 && at8;
        const bool i64 = dev->int64 && (g4 || q == PLINTH_Q6_K || (q == PLINTH_Q4_K && at8));
        if (i64) {
            d->shader = VULKAN_SH_MATVEC_Q_I64;
            d->spec[6] = g4;
        }
        /* Columns per invocation: a's values are loaded once for them (the
         * CPU devices' cost is per load: see matvec.glsl); fewer where the
         * matrix is too small to give every core several workgroups.
         * Measured on lavapipe ([2048 x 2048], process CPU time, q8_0 /
         * q4_K with 8-byte loads): 2 columns 14 / 12 ms, 4: 9-12 / 8-11, 8:
         * 7-9 / 6 (f32 weights: 21-26 ms). */
        tn = dev->matvec_rows > 0 ? dev->matvec_rows : i64 ? 8 : 4;
        wg = dev->matvec_wg ? dev->matvec_wg : 64;
        while (wg > (int)dev->subgroup_size && wg % 2 == 0 && n < (int64_t)16 * wg * tn)
            wg /= 2;
        cols_per_group = (uint64_t)wg * (uint64_t)tn;
    } else {
        tm = TILE_M;
        tn = TILE_N;
        cols_per_group = (uint64_t)wg * (uint64_t)tn;
    }
    d->spec[4] = tn;
    d->spec[5] = tm;
    d->spec[7] = wg;
    const uint64_t gx = ((uint64_t)n + cols_per_group - 1) / cols_per_group;
    if (gx > 65535)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED, "matmul: N = %lld is too wide",
                           (long long)n);
    if (check_only)
        return PLINTH_OK;
    d->groups[0] = (uint32_t)gx;
    d->groups[1] = (uint32_t)((m + tm - 1) / tm);
    d->groups[2] = (uint32_t)c->batch;
    VULKAN_PUSH(d, pc);
    vulkan_matmul_ranges(c, d);
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 2 ---- */

typedef struct pc_dequant {
    uint32_t o[2], x[2], idx[2];
    uint32_t n;  /* pieces of 8 elements in out */
    uint32_t qo; /* x's element 0: its byte from x */
    int32_t ne[4], so[4], si[4], sx[4];
    int32_t row0, rows, total;
} pc_dequant;

/* One dispatch of dequant.comp: out [p, q, r, C] from the block tensor x
 * (cast: x [p, q, r, C]; idx: x is a table [1, 1, R, C] and idx i32
 * [1, p, q, r], of which this dispatch holds rows [row0, row0 + R) of
 * total). */
static int32_t dequant(plinth_device *dev, uint32_t op, const plinth_view *out,
                       const plinth_view *x, const plinth_view *idx, bool check_only,
                       int64_t row0, int64_t total, vulkan_dispatch *d)
{
    vview vo, vx, vi;
    memset(&vi, 0, sizeof vi);
    int32_t st = vulkan_view(dev, op, "out", out, check_only, d, &vo);
    if (st == PLINTH_OK)
        st = vulkan_view(dev, op, idx ? "table" : "x", x, check_only, d, &vx);
    if (st == PLINTH_OK && idx)
        st = vulkan_view(dev, op, "idx", idx, check_only, d, &vi);
    if (st != PLINTH_OK || check_only)
        return st;
    pc_dequant pc = {.n = (uint32_t)(vulkan_numel(out) / 8), .qo = vx.qo,
                     .row0 = (int32_t)row0, .rows = (int32_t)x->shape[2],
                     .total = (int32_t)total};
    memcpy(pc.o, vo.addr, 8);
    memcpy(pc.x, vx.addr, 8);
    memcpy(pc.idx, idx ? vi.addr : vo.addr, 8);
    for (int k = 0; k < 4; k++)
        pc.ne[k] = (int32_t)out->shape[k];
    memcpy(pc.so, vo.s, 16);
    memcpy(pc.si, vi.s, 16);
    memcpy(pc.sx, vx.s, 16);
    d->shader = VULKAN_SH_DEQUANT;
    d->n_spec = 3;
    d->spec[0] = x->dtype;
    d->spec[1] = out->dtype;
    d->spec[2] = idx != NULL;
    VULKAN_PUSH(d, pc);
    vulkan_groups_1d(pc.n, d->groups);
    d->write = vo.range;
    d->n_reads = idx ? 2 : 1;
    d->reads[0] = vx.range;
    d->reads[1] = vi.range;
    return PLINTH_OK;
}

int32_t vulkan_encode_get_rows_q(plinth_device *dev, const plinth_view *out,
                                 const plinth_view *in, const void *attrs, bool check_only,
                                 int64_t row0, int64_t total, vulkan_dispatch *d)
{
    const int32_t want = ((const plinth_attr_get_rows *)attrs)->dtype;
    if (out->dtype != want || out->dtype != PLINTH_F32)
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "get_rows: a %s table gives f32 rows, not %s",
                           plinth_dtype_label(in[0].dtype), plinth_dtype_label(want));
    int32_t st = vulkan_check_rows(dev, "get_rows", &in[0], out, &in[1]);
    if (st != PLINTH_OK)
        return st;
    return dequant(dev, PLINTH_OP_GET_ROWS, out, &in[0], &in[1], check_only, row0, total, d);
}

int32_t vulkan_encode_cast_q(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                             const void *attrs, bool check_only, vulkan_dispatch *d)
{
    const int32_t want = ((const plinth_attr_cast *)attrs)->dtype;
    if (out->dtype != want || !vulkan_is_float(want))
        return vulkan_fail(dev, PLINTH_ERR_UNSUPPORTED,
                           "cast: %s casts to a float dtype, not %s",
                           plinth_dtype_label(in[0].dtype), plinth_dtype_label(want));
    if (!vulkan_same_shape(out, &in[0]))
        return vulkan_fail(dev, PLINTH_ERR_INVALID, "cast: out and x differ in shape");
    return dequant(dev, PLINTH_OP_CAST, out, &in[0], NULL, check_only, 0, 0, d);
}
