/*
 * cpu_attention.c — rope and attention over the KV cache.
 *
 * Sections:
 *   1. rope (and rope_factors: the same with frequency i divided by
 *      factors[i]): NeoX rotate-half; angles in double (as ref), cos/sin
 *      from a per-program table when one is given (q and k of all layers
 *      share it)
 *   2. attention: online softmax over blocks of keys (no score matrix is
 *      materialised; a block of 64 scores lives on the stack), GQA heads of
 *      a group share the key/value loads, causal + window + kv_len masks
 *   3. attention for many query rows (prefill, levels with a GEMM tile
 *      and fa_softmax): the same online
 *      softmax, but 12 query rows (positions x heads of a GQA group) at a
 *      time through the GEMM micro-tile: S = Q K^T on K packed once per
 *      call, exp in registers, O = O * corr + P V on V packed once
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"

/* ---------------------------------------------------------------- 1 ---- */

static const double *rope_freq(cpu_device *dev, float base, int32_t n_dims)
{
    for (int i = 0; i < 4; i++)
        if (dev->rope_freq[i].n_dims == n_dims && dev->rope_freq[i].base == base)
            return dev->rope_freq[i].inv;
    struct cpu_rope_freq *f = &dev->rope_freq[dev->rope_next++ % 4];
    f->base = base;
    f->n_dims = n_dims;
    for (int i = 0; i < n_dims / 2; i++)
        f->inv[i] = pow((double)base, -2.0 * (double)i / (double)n_dims);
    return f->inv;
}

static int32_t pos_at(const plinth_view *pos, int64_t t)
{
    int32_t p;
    memcpy(&p, ref_at(pos, 0, 0, 0, t), 4);
    return p;
}

/* fac: rope_factors' factors (NULL for rope), divided after the product in
 * ref's order, so the angle is ref's double to the last bit. */
static void angles(const double *inv, const double *fac, int64_t half, int32_t p, float *cs)
{
    for (int64_t i = 0; i < half; i++) {
        double s, c, theta = (double)p * inv[i];
        if (fac)
            theta /= fac[i];
        sincos(theta, &s, &c);
        cs[i] = (float)c; /* [cos x half][sin x half]: vector loads */
        cs[half + i] = (float)s;
    }
}

typedef struct rope_job {
    const plinth_view *out, *x, *pos;
    const double *inv, *fac; /* fac: NULL for rope */
    const float *table; /* [T][2][half] (cos, then sin) or NULL */
    int64_t half;
    /* the level's row kernel, or NULL: the scalar loop does every pair */
    int64_t (*row)(const float *x, float *o, const float *cs, int64_t half);
} rope_job;

/* Rows (one position of one batch, every head) per task: a row of the
 * 270M's q is 1 KB, and 512 one-row tasks made two threads slower than one
 * (150 against 100 us per call: the shared task counter, not the rows). */
#define ROPE_ROWS_PER_TASK 16

static void rope_row(const rope_job *j, int64_t bt)
{
    const int64_t t = bt % j->x->shape[1], b = bt / j->x->shape[1], half = j->half;
    float local[512];
    const float *cs = j->table ? j->table + t * half * 2 : local;
    if (!j->table)
        angles(j->inv, j->fac, half, pos_at(j->pos, t), local);
    const int64_t d_all = j->x->shape[3];
    for (int64_t h = 0; h < j->x->shape[2]; h++) {
        const float *x = (const float *)ref_at(j->x, b, t, h, 0);
        float *o = (float *)ref_at(j->out, b, t, h, 0);
        /* Reads both halves before writing: out may be x. */
        int64_t i = j->row ? j->row(x, o, cs, half) : 0;
        for (; i < half; i++) {
            const float x0 = x[i], x1 = x[i + half], c = cs[i], s = cs[half + i];
            o[i] = x0 * c - x1 * s;
            o[i + half] = x1 * c + x0 * s;
        }
        if (o != x)
            memmove(o + 2 * half, x + 2 * half, (size_t)(d_all - 2 * half) * 4);
    }
}

static void rope_task(void *ctx, int64_t task, uint32_t thread)
{
    const rope_job *j = ctx;
    const int64_t rows = j->x->shape[0] * j->x->shape[1];
    for (int64_t bt = task * ROPE_ROWS_PER_TASK; bt < rows && bt < (task + 1) * ROPE_ROWS_PER_TASK;
         bt++)
        rope_row(j, bt);
}

/* Filling a table: positions' angles, ROPE_ROWS_PER_TASK per task (a
 * prefill's 512 rows are 32 768 sincos per table in double). */
typedef struct fill_job {
    cpu_rope_table *table;
    const double *inv, *fac;
    int64_t half, t_len;
} fill_job;

static void fill_task(void *ctx, int64_t task, uint32_t thread)
{
    const fill_job *j = ctx;
    for (int64_t t = task * ROPE_ROWS_PER_TASK; t < j->t_len && t < (task + 1) * ROPE_ROWS_PER_TASK;
         t++)
        angles(j->inv, j->fac, j->half, j->table->pos[t], j->table->cs + t * j->half * 2);
}

bool cpu_rope_table_fast(cpu_device *dev, const plinth_view *out, const plinth_view *x,
                         const plinth_view *pos, const plinth_view *factors,
                         const plinth_attr_rope *a, cpu_rope_table *table)
{
    if (x->dtype != PLINTH_F32 || out->dtype != PLINTH_F32 || x->stride[3] != 4 ||
        out->stride[3] != 4 || a->n_dims > 512)
        return false;
    const int64_t half = a->n_dims / 2, t_len = x->shape[1];
    if (half == 0)
        return false;
    const double *inv = rope_freq(dev, a->base, a->n_dims);
    double fac[256]; /* half <= 256 (n_dims <= 512 above) */
    float f[256];
    if (factors)
        for (int64_t i = 0; i < half; i++) {
            memcpy(&f[i], ref_at(factors, 0, 0, 0, i), 4);
            fac[i] = (double)f[i];
        }
    const float *cs = NULL;
    if (table && table->cap_t >= t_len && table->n_dims == a->n_dims && table->base == a->base &&
        table->scaled == (factors != NULL)) {
        /* The factors are compared by value: a table filled for other
         * factors (or other positions) is filled again. */
        bool same = table->t == t_len &&
                    (!factors || !memcmp(table->factors, f, (size_t)half * sizeof *f));
        for (int64_t t = 0; same && t < t_len; t++)
            same = table->pos[t] == pos_at(pos, t);
        if (!same) {
            for (int64_t t = 0; t < t_len; t++)
                table->pos[t] = pos_at(pos, t);
            fill_job fj = {table, inv, factors ? fac : NULL, half, t_len};
            cpu_parallel(dev, (t_len + ROPE_ROWS_PER_TASK - 1) / ROPE_ROWS_PER_TASK, fill_task,
                         &fj);
            table->t = t_len;
            if (factors)
                memcpy(table->factors, f, (size_t)half * sizeof *f);
        }
        cs = table->cs;
    }
    rope_job j = {out, x, pos, inv, factors ? fac : NULL, cs, half, dev->k->rope_row};
    cpu_count(dev, CPU_KC_ROPE, j.row != NULL);
    cpu_parallel_blocked(dev, (x->shape[0] * t_len + ROPE_ROWS_PER_TASK - 1) / ROPE_ROWS_PER_TASK,
                         rope_task, &j);
    return true;
}

bool cpu_rope_fast(cpu_device *dev, const plinth_view *out, const plinth_view *x,
                   const plinth_view *pos, const plinth_view *factors,
                   const plinth_attr_rope *a)
{
    return cpu_rope_table_fast(dev, out, x, pos, factors, a, NULL);
}

/* ---------------------------------------------------------------- 2 ---- */

#define KBLOCK 64
#define MAX_GD 8192 /* group heads x head dim held in accumulators */

typedef struct attn_job {
    const plinth_view *out, *q, *k, *v, *pos;
    int32_t kv_len, window;
    float scale;
    const cpu_kernels *ks; /* dot and axpy (NULL slots: portable loops) */
    int64_t group;    /* query heads per kv head                  */
    int64_t per_task; /* query heads per task: group, or 1        */
} attn_job;

static float dot_f(const cpu_kernels *ks, const float *q, const uint8_t *k, int32_t kdt,
                   int64_t d)
{
    if (ks->dot)
        return ks->dot(q, k, kdt, d);
    float acc[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < d; i++)
        acc[i & 3] += q[i] * cpu_load_f(k, kdt, i);
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* acc = acc * c + p * v */
static void axpy_f(const cpu_kernels *ks, float *acc, float c, float p, const uint8_t *v,
                   int32_t vdt, int64_t d)
{
    if (ks->axpy) {
        ks->axpy(acc, c, p, v, vdt, d);
        return;
    }
    for (int64_t i = 0; i < d; i++)
        acc[i] = acc[i] * c + p * cpu_load_f(v, vdt, i);
}

static void attn_task(void *ctx, int64_t task, uint32_t thread)
{
    const attn_job *j = ctx;
    const int64_t hq = j->q->shape[2], n_groups = hq / j->per_task;
    const int64_t h0 = (task % n_groups) * j->per_task, bt = task / n_groups;
    const int64_t t = bt % j->q->shape[1], b = bt / j->q->shape[1];
    const int64_t kh = h0 / j->group, d = j->q->shape[3], dv = j->v->shape[3];
    const int64_t p = pos_at(j->pos, t);
    int64_t hi = p + 1 < j->kv_len ? p + 1 : j->kv_len;
    int64_t lo = j->window > 0 ? p - j->window + 1 : 0;
    if (lo < 0)
        lo = 0;
    float acc[MAX_GD], mx[64], sum[64], sc[KBLOCK];
    const int64_t g = j->per_task;
    for (int64_t x = 0; x < g; x++) {
        mx[x] = -INFINITY;
        sum[x] = 0.0f;
        memset(acc + x * dv, 0, (size_t)dv * 4);
    }
    for (int64_t j0 = lo; j0 < hi; j0 += KBLOCK) {
        const int64_t nb = hi - j0 < KBLOCK ? hi - j0 : KBLOCK;
        for (int64_t x = 0; x < g; x++) {
            const float *q = (const float *)ref_at(j->q, b, t, h0 + x, 0);
            float bm = mx[x];
            for (int64_t jj = 0; jj < nb; jj++) {
                sc[jj] = dot_f(j->ks, q, ref_at(j->k, b, j0 + jj, kh, 0), j->k->dtype, d) *
                         j->scale;
                if (sc[jj] > bm || isnan(sc[jj]))
                    bm = sc[jj];
            }
            /* rescale what was summed so far to the new maximum */
            const float corr = mx[x] == -INFINITY ? 0.0f : expf(mx[x] - bm);
            float *ac = acc + x * dv;
            float c = corr;
            sum[x] *= corr;
            for (int64_t jj = 0; jj < nb; jj++) {
                const float e = expf(sc[jj] - bm);
                sum[x] += e;
                axpy_f(j->ks, ac, c, e, ref_at(j->v, b, j0 + jj, kh, 0), j->v->dtype, dv);
                c = 1.0f;
            }
            mx[x] = bm;
        }
    }
    for (int64_t x = 0; x < g; x++) {
        float *o = (float *)ref_at(j->out, b, t, h0 + x, 0);
        const float inv = hi > lo ? 1.0f / sum[x] : 0.0f;
        for (int64_t i = 0; i < dv; i++)
            o[i] = hi > lo ? acc[x * dv + i] * inv : 0.0f;
    }
}

/* ---------------------------------------------------------------- 3 ---- */

/* keys per block: S is 12 x 128. 128 against 64: -0.6% and -1.2% of a
 * 2-thread bf16 pp512 of the 270M (20 alternating prefill pairs each, one
 * process): half the softmax, transpose and P V tile calls per key, and
 * the P V tiles' load and store of O once per 128 keys; 256: no change. */
#define FA_KB 128
#define FA_MAXD 512   /* head dims held in the task's stack tiles */

typedef struct fa_job {
    const plinth_view *out, *q, *k, *v, *pos;
    int32_t kv_len, window;
    float scale;
    int64_t group, b, kh;
    int64_t kbase, nk, nk_pad; /* keys packed: [kbase, kbase + nk), padded */
    int64_t ntiles;            /* 12-row tiles of T x group query rows     */
    float *kp;                 /* [nk_pad/32][d][32]                       */
    float *vp;                 /* [ceil(dv/32)][nk_pad][32]                */
    const cpu_kernels *ks;     /* the level's GEMM pieces and fa_softmax   */
} fa_job;

static void fa_range(const fa_job *j, int64_t t, int64_t *lo, int64_t *hi)
{
    const int64_t p = pos_at(j->pos, t);
    *hi = p + 1 < j->kv_len ? p + 1 : j->kv_len;
    *lo = j->window > 0 ? p - j->window + 1 : 0;
    if (*lo < 0)
        *lo = 0;
}

static void fa_pack_task(void *ctx, int64_t task, uint32_t thread)
{
    const fa_job *j = ctx;
    const int64_t d = j->q->shape[3], dv = j->v->shape[3], kpan = j->nk_pad / 32;
    if (task < kpan) { /* 32 keys as [d][32]: columns of K^T */
        mm_problem p = {.w = ref_at(j->k, j->b, j->kbase, j->kh, 0), .ldw = j->k->stride[1],
                        .m = 1, .n = j->nk, .k = d, .wdt = j->k->dtype, .tb = true};
        j->ks->pack_b(&p, task * 32, j->kp + task * d * 32);
        return;
    }
    const int64_t c = task - kpan; /* 32 dims of V as [nk_pad][32] */
    mm_problem p = {.w = ref_at(j->v, j->b, j->kbase, j->kh, 0), .ldw = j->v->stride[1],
                    .m = 1, .n = dv, .k = j->nk, .wdt = j->v->dtype, .tb = false};
    float *dst = j->vp + c * j->nk_pad * 32;
    j->ks->pack_b(&p, c * 32, dst);
    memset(dst + j->nk * 32, 0, (size_t)(j->nk_pad - j->nk) * 32 * 4); /* P is 0 there */
}

static void fa_task(void *ctx, int64_t task, uint32_t thread)
{
    const fa_job *j = ctx;
    const cpu_kernels *ks = j->ks;
    const int64_t tile = j->ntiles - 1 - task; /* the longest rows first */
    const int64_t d = j->q->shape[3], dv = j->v->shape[3], g = j->group;
    const int64_t rows = j->q->shape[1] * g, r0 = tile * CPU_MR;
    const int mr = (int)(rows - r0 < CPU_MR ? rows - r0 : CPU_MR);
    float qa[FA_MAXD * CPU_MR] __attribute__((aligned(64)));
    float o[CPU_MR * FA_MAXD] __attribute__((aligned(64)));
    float sc[CPU_MR * FA_KB] __attribute__((aligned(64)));
    float pa[FA_KB * CPU_MR] __attribute__((aligned(64)));
    float mx[CPU_MR], sum[CPU_MR], rs[CPU_MR];
    int64_t lo[CPU_MR], hi[CPU_MR], lo_all = INT64_MAX, hi_all = 0;
    const float *qr[CPU_MR] = {0};
    for (int r = 0; r < mr; r++) {
        const int64_t t = (r0 + r) / g, h = j->kh * g + (r0 + r) % g;
        qr[r] = (const float *)ref_at(j->q, j->b, t, h, 0);
        fa_range(j, t, &lo[r], &hi[r]);
        if (hi[r] > lo[r]) {
            lo_all = lo[r] < lo_all ? lo[r] : lo_all;
            hi_all = hi[r] > hi_all ? hi[r] : hi_all;
        }
        mx[r] = -INFINITY;
        sum[r] = 0.0f;
    }
    ks->pack_rows(qr, mr, d, qa);
    memset(o, 0, sizeof(float) * CPU_MR * (size_t)dv);
    const float *prow[CPU_MR] = {0};
    for (int r = 0; r < mr; r++)
        prow[r] = sc + r * FA_KB;
    const int64_t ldo = dv * 4;
    if (lo_all < j->kbase)
        lo_all = j->kbase; /* cannot happen: kbase is the minimum */
    for (int64_t j0 = j->kbase + (lo_all - j->kbase) / 32 * 32; j0 < hi_all; j0 += FA_KB) {
        const int64_t nb = hi_all - j0 < FA_KB ? hi_all - j0 : FA_KB;
        const int64_t nbp = (nb + 31) / 32 * 32;
        for (int64_t c = 0; c < nbp; c += 32)
            ks->tile(qa, j->kp + (j0 - j->kbase + c) * d, d, (uint8_t *)(sc + c), FA_KB * 4, mr,
                     32);
        for (int r = 0; r < mr; r++)
            rs[r] = ks->fa_softmax(sc + r * FA_KB, nbp, j0, lo[r], hi[r], j->scale, &mx[r],
                                   &sum[r]);
        /* P as the tile's A operand, [key][row]: the rows of weights through
         * the register transpose (a scalar scatter of every weight here
         * cost about as much as the two tiles' FMAs) */
        ks->pack_rows(prow, mr, nbp, pa);
        const int64_t off = j0 - j->kbase;
        for (int64_t c = 0; c < dv; c += 32)
            ks->tile_scale(pa, j->vp + (c / 32) * j->nk_pad * 32 + off * 32, nbp,
                           (uint8_t *)(o + c), ldo, mr, dv - c < 32 ? dv - c : 32, rs);
    }
    for (int r = 0; r < mr; r++) {
        const int64_t t = (r0 + r) / g, h = j->kh * g + (r0 + r) % g;
        float *out = (float *)ref_at(j->out, j->b, t, h, 0);
        const float inv = hi[r] > lo[r] ? 1.0f / sum[r] : 0.0f;
        for (int64_t i = 0; i < dv; i++) /* once per row: no kernel of its own */
            out[i] = o[r * dv + i] * inv;
    }
}

/* Many query rows: false when the shapes do not suit it (the caller then
 * runs the row-at-a-time path). */
static bool flash_attention(cpu_device *dev, const plinth_view *out, const plinth_view *in,
                            const plinth_attr_attention *a, int32_t kv_len, int64_t group)
{
    const plinth_view *q = &in[0], *k = &in[1], *v = &in[2];
    const int64_t d = q->shape[3], dv = v->shape[3], T = q->shape[1];
    if (!dev->k->tile || !dev->k->fa_softmax || T * group < 2 * CPU_MR || d > FA_MAXD ||
        dv > FA_MAXD ||
        (k->dtype != PLINTH_F32 && k->dtype != PLINTH_BF16 && k->dtype != PLINTH_F16) ||
        (v->dtype != PLINTH_F32 && v->dtype != PLINTH_BF16 && v->dtype != PLINTH_F16) ||
        k->shape[1] > INT32_MAX / 2)
        return false;
    fa_job j = {.out = out, .q = q, .k = k, .v = v, .pos = &in[3], .kv_len = kv_len,
                .window = a->window, .scale = a->scale, .group = group, .ks = dev->k};
    /* the keys any row of the call can see */
    int64_t lo_all = INT64_MAX, hi_all = 0;
    for (int64_t t = 0; t < T; t++) {
        int64_t lo, hi;
        fa_range(&j, t, &lo, &hi);
        if (hi > lo) {
            lo_all = lo < lo_all ? lo : lo_all;
            hi_all = hi > hi_all ? hi : hi_all;
        }
    }
    if (hi_all == 0)
        lo_all = hi_all = 0;
    j.kbase = lo_all / 32 * 32;
    j.nk = hi_all - j.kbase;
    j.nk_pad = (j.nk + 31) / 32 * 32;
    j.ntiles = (T * group + CPU_MR - 1) / CPU_MR;
    const size_t kp = (size_t)j.nk_pad * (size_t)d, vp = (size_t)((dv + 31) / 32) * j.nk_pad * 32;
    if (!cpu_grow_floats(dev, &dev->attn_pack, &dev->attn_pack_size, kp + vp + 16))
        return false;
    j.kp = dev->attn_pack;
    j.vp = dev->attn_pack + kp;
    for (int64_t b = 0; b < q->shape[0]; b++)
        for (int64_t kh = 0; kh < k->shape[2]; kh++) {
            j.b = b;
            j.kh = kh;
            if (j.nk > 0)
                cpu_parallel(dev, j.nk_pad / 32 + (dv + 31) / 32, fa_pack_task, &j);
            cpu_parallel(dev, j.ntiles, fa_task, &j);
        }
    cpu_count(dev, CPU_KC_FLASH, true);
    return true;
}

bool cpu_attention_fast(cpu_device *dev, const plinth_view *out, const plinth_view *in,
                        const plinth_attr_attention *a)
{
    const plinth_view *q = &in[0], *k = &in[1], *v = &in[2];
    if (q->dtype != PLINTH_F32 || out->dtype != PLINTH_F32 || q->stride[3] != 4 ||
        out->stride[3] != 4 || k->stride[3] != (int64_t)plinth_dtype_bytes(k->dtype) ||
        v->stride[3] != (int64_t)plinth_dtype_bytes(v->dtype) || k->shape[2] == 0)
        return false;
    int32_t kv_len;
    memcpy(&kv_len, in[4].data, 4);
    if (kv_len < 0 || kv_len > k->shape[1])
        return false; /* ref reports it */
    const int64_t group = q->shape[2] / k->shape[2];
    const int64_t bt = q->shape[0] * q->shape[1];
    if (ref_numel(out) == 0)
        return true;
    if (flash_attention(dev, out, in, a, kv_len, group))
        return true;
    attn_job j = {out, q, k, v, &in[3], kv_len, a->window, a->scale, dev->k, group, group};
    if (bt * k->shape[2] < 2 * (int64_t)dev->n_threads || group > 64 ||
        group * v->shape[3] > MAX_GD)
        j.per_task = 1; /* few rows: one task per query head */
    if (v->shape[3] > MAX_GD)
        return false;
    cpu_count(dev, CPU_KC_ATTENTION, dev->k->dot != NULL);
    cpu_parallel(dev, bt * (q->shape[2] / j.per_task), attn_task, &j);
    return true;
}

