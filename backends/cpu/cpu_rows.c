/*
 * cpu_rows.c — row-wise ops and the op dispatcher.
 *
 * Sections:
 *   1. element loads (f16/bf16 widen exactly)
 *   2. rms_norm (optionally fused with the following mul)
 *   3. get_rows, set_rows, copy, argmax
 *   4. cpu_run_op: the fast path when it applies, else ref's kernel
 */
#include <math.h>
#include <string.h>

#include "cpu_kernels.h"

/* ---------------------------------------------------------------- 1 ---- */

float cpu_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v;
    if (e == 0)
        v = ldexpf((float)m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexpf((float)(m | 0x400), (int)e - 25);
    union { float f; uint32_t u; } u = {.f = v};
    u.u |= sign;
    return u.f;
}

float cpu_load_f(const uint8_t *row, int32_t dt, int64_t i)
{
    if (dt == PLINTH_F32) {
        float f;
        memcpy(&f, row + i * 4, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, row + i * 2, 2);
    return dt == PLINTH_BF16 ? cpu_bf16_to_f32(h) : cpu_f16_to_f32(h);
}

/* ---------------------------------------------------------------- 2 ---- */

typedef struct norm_job {
    const plinth_view *out, *x, *w, *mul;
    float eps;
    /* the level's row kernel, or NULL: the portable loop */
    void (*row)(float *o, const float *x, const uint8_t *w, int32_t wdt, const float *mul,
                int64_t n, float eps);
    int64_t rows_per_task;
} norm_job;

static void row_index(const plinth_view *v, int64_t r, int64_t idx[3])
{
    idx[2] = r % v->shape[2];
    r /= v->shape[2];
    idx[1] = r % v->shape[1];
    idx[0] = r / v->shape[1];
}

static const uint8_t *row_ptr(const plinth_view *v, const int64_t idx[3])
{
    int64_t off = 0;
    for (int k = 0; k < 3; k++)
        off += (v->shape[k] == 1 ? 0 : idx[k]) * v->stride[k];
    return v->data + off;
}

static void norm_row(const norm_job *j, int64_t r)
{
    int64_t idx[3];
    row_index(j->out, r, idx);
    float *o = (float *)row_ptr(j->out, idx);
    const float *x = (const float *)row_ptr(j->x, idx);
    const uint8_t *w = j->w ? row_ptr(j->w, idx) : NULL;
    const float *mul = j->mul ? (const float *)row_ptr(j->mul, idx) : NULL;
    const int64_t n = j->x->shape[3];
    const int32_t wdt = j->w ? j->w->dtype : PLINTH_F32;
    if (j->row) {
        j->row(o, x, w, wdt, mul, n, j->eps);
        return;
    }
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += x[i + l] * x[i + l];
    for (; i < n; i++)
        acc[0] += x[i] * x[i];
    double ss = 0;
    for (int l = 0; l < 8; l++)
        ss += acc[l];
    const float inv = (float)(1.0 / sqrt(ss / (double)n + j->eps));
    for (i = 0; i < n; i++) {
        float v = x[i] * inv;
        if (w)
            v *= cpu_load_f(w, wdt, i);
        if (mul)
            v *= mul[i];
        o[i] = v;
    }
}

static void norm_task(void *ctx, int64_t t, uint32_t thread)
{
    const norm_job *j = ctx;
    const int64_t rows = j->out->shape[0] * j->out->shape[1] * j->out->shape[2];
    for (int64_t r = t * j->rows_per_task; r < rows && r < (t + 1) * j->rows_per_task; r++)
        norm_row(j, r);
}

/* Contiguous rows only: out and x (and mul) f32 with inner stride 4, w a
 * float vector of the row length (inner stride = its element size). out may
 * be x: a row is fully reduced before it is written. */
bool cpu_rms_norm_fast(cpu_device *dev, const plinth_view *out, const plinth_view *x,
                       const plinth_view *w, float eps, const plinth_view *mul)
{
    if (out->dtype != PLINTH_F32 || x->dtype != PLINTH_F32 || out->stride[3] != 4 ||
        x->stride[3] != 4)
        return false;
    if (w && (w->shape[3] != x->shape[3] || w->stride[3] != (int64_t)plinth_dtype_bytes(w->dtype)))
        return false;
    if (mul && (mul->dtype != PLINTH_F32 || mul->stride[3] != 4 ||
                !ref_same_shape(mul, out)))
        return false;
    const int64_t rows = out->shape[0] * out->shape[1] * out->shape[2];
    if (rows == 0 || x->shape[3] == 0)
        return rows == 0 || false;
    norm_job j = {out, x, w, mul, eps, dev->k->norm_row, 1};
    cpu_count(dev, CPU_KC_RMS_NORM, j.row != NULL);
    j.rows_per_task = (16384 + x->shape[3] - 1) / x->shape[3];
    cpu_parallel_blocked(dev, (rows + j.rows_per_task - 1) / j.rows_per_task, norm_task, &j);
    return true;
}

bool cpu_softmax_fast(cpu_device *dev, const plinth_view *out, const plinth_view *x,
                      const plinth_view *mask, float scale)
{
    return false; /* rare outside attention: ref's kernel serves it */
}

/* ---------------------------------------------------------------- 3 ---- */

/* Whether every index is in [0, n_rows); if not, *bad is the first that
 * is not. */
static bool indices_ok(const plinth_view *idx, int64_t n_rows, int32_t *bad)
{
    for (int64_t p = 0; p < idx->shape[1]; p++)
        for (int64_t q = 0; q < idx->shape[2]; q++)
            for (int64_t r = 0; r < idx->shape[3]; r++) {
                int32_t v;
                memcpy(&v, ref_at(idx, 0, p, q, r), 4);
                if (v < 0 || v >= n_rows) {
                    *bad = v;
                    return false;
                }
            }
    return true;
}

/* Rows move as bytes when the dtypes match; a bf16/f16 table widens to f32
 * exactly. Anything else (narrowing, strided rows) is ref's. */
static bool move_row(uint8_t *dst, int32_t ddt, const uint8_t *src, int32_t sdt, int64_t n)
{
    if (ddt == sdt) {
        memmove(dst, src, (size_t)n * plinth_dtype_bytes(sdt));
        return true;
    }
    if (ddt != PLINTH_F32 || (sdt != PLINTH_BF16 && sdt != PLINTH_F16))
        return false;
    for (int64_t i = 0; i < n; i++) {
        float f = cpu_load_f(src, sdt, i);
        memcpy(dst + i * 4, &f, 4);
    }
    return true;
}

static bool rows_contiguous(const plinth_view *v)
{
    return v->stride[3] == (int64_t)plinth_dtype_bytes(v->dtype);
}

/* get_rows of a table packed as f32 panels or bf16 pairs (table_packed;
 * pack_size said so only for such a [V, K] table into contiguous f32
 * rows): each row gathered from its panel's lane. An index out of range is
 * an error here (ref cannot read this layout to report it). */
typedef struct rows_job {
    const plinth_view *out, *table, *idx;
} rows_job;

/* 16 rows per task: a row of a 640-wide table is 320 reads 128 bytes apart,
 * each its own cache line (a prefill's 512 rows took 2.7 ms on one thread;
 * the plain rows 0.5). */
#define PACKED_ROWS_PER_TASK 16
static void packed_rows_task(void *ctx, int64_t task, uint32_t thread)
{
    const rows_job *j = ctx;
    const plinth_view *idx = j->idx;
    const int64_t n = idx->shape[1] * idx->shape[2] * idx->shape[3];
    for (int64_t e = task * PACKED_ROWS_PER_TASK; e < n && e < (task + 1) * PACKED_ROWS_PER_TASK;
         e++) {
        const int64_t r = e % idx->shape[3], q = e / idx->shape[3] % idx->shape[2],
                      p = e / idx->shape[3] / idx->shape[2];
        int32_t v;
        memcpy(&v, ref_at(idx, 0, p, q, r), 4);
        cpu_panel_row(j->table->data, j->table->dtype, j->table->shape[3], v,
                      (float *)(void *)ref_at(j->out, p, q, r, 0));
    }
}

static int32_t get_rows_packed(cpu_device *dev, const plinth_view *out, const plinth_view *table,
                               const plinth_view *idx)
{
    if ((table->dtype != PLINTH_BF16 && table->dtype != PLINTH_F32) || out->dtype != PLINTH_F32 ||
        !rows_contiguous(out))
        return ref_fail(&dev->base, PLINTH_ERR_INTERNAL, "cpu: get_rows on a packed table");
    int32_t bad;
    if (!indices_ok(idx, table->shape[2], &bad))
        return ref_fail(&dev->base, PLINTH_ERR_INVALID, "get_rows: index %d out of range [0, %lld)",
                        bad, (long long)table->shape[2]);
    rows_job j = {out, table, idx};
    const int64_t n = idx->shape[1] * idx->shape[2] * idx->shape[3];
    cpu_parallel(dev, (n + PACKED_ROWS_PER_TASK - 1) / PACKED_ROWS_PER_TASK, packed_rows_task, &j);
    return PLINTH_OK;
}

bool cpu_get_rows_fast(cpu_device *dev, const plinth_view *out, const plinth_view *table,
                       const plinth_view *idx)
{
    int32_t bad; /* out of range: ref's kernel reports it */
    if (plinth_dtype_block_elems(table->dtype) > 1)
        return indices_ok(idx, table->shape[2], &bad) && cpu_get_rows_block(dev, out, table, idx);
    if (!rows_contiguous(out) || !rows_contiguous(table) ||
        (out->dtype != table->dtype && out->dtype != PLINTH_F32) ||
        (out->dtype != table->dtype && table->dtype == PLINTH_I32) ||
        !indices_ok(idx, table->shape[2], &bad))
        return false;
    for (int64_t p = 0; p < idx->shape[1]; p++)
        for (int64_t q = 0; q < idx->shape[2]; q++)
            for (int64_t r = 0; r < idx->shape[3]; r++) {
                int32_t v;
                memcpy(&v, ref_at(idx, 0, p, q, r), 4);
                move_row(ref_at(out, p, q, r, 0), out->dtype, ref_at(table, 0, 0, v, 0),
                         table->dtype, out->shape[3]);
            }
    return true;
}

bool cpu_set_rows_fast(cpu_device *dev, const plinth_view *out, const plinth_view *src,
                       const plinth_view *idx)
{
    int32_t bad;
    if (out->dtype != src->dtype || !rows_contiguous(out) || !rows_contiguous(src) ||
        !indices_ok(idx, out->shape[2], &bad))
        return false;
    for (int64_t p = 0; p < idx->shape[1]; p++)
        for (int64_t q = 0; q < idx->shape[2]; q++)
            for (int64_t r = 0; r < idx->shape[3]; r++) {
                int32_t v;
                memcpy(&v, ref_at(idx, 0, p, q, r), 4);
                move_row(ref_at(out, 0, 0, v, 0), out->dtype, ref_at(src, p, q, r, 0),
                         src->dtype, out->shape[3]);
            }
    return true;
}

static bool dense(const plinth_view *v)
{
    int64_t s = (int64_t)plinth_dtype_bytes(v->dtype);
    for (int k = 3; k >= 0; k--) {
        if (v->shape[k] != 1 && v->stride[k] != s)
            return false;
        s *= v->shape[k];
    }
    return true;
}

bool cpu_copy_fast(cpu_device *dev, const plinth_view *out, const plinth_view *x)
{
    if (!dense(out) || !dense(x) || out->dtype != x->dtype)
        return false;
    const int64_t n = ref_numel(out);
    if (n > 0)
        memmove(out->data, x->data, (size_t)n * plinth_dtype_bytes(x->dtype));
    return true;
}

bool cpu_argmax_fast(cpu_device *dev, const plinth_view *out, const plinth_view *x)
{
    if (x->dtype != PLINTH_F32 || x->stride[3] != 4 || x->shape[3] == 0)
        return false;
    for (int64_t i0 = 0; i0 < x->shape[0]; i0++)
        for (int64_t i1 = 0; i1 < x->shape[1]; i1++)
            for (int64_t i2 = 0; i2 < x->shape[2]; i2++) {
                const float *row = (const float *)ref_at(x, i0, i1, i2, 0);
                int32_t best = 0;
                float bv = row[0];
                /* First maximum; the first NaN wins (as ref and numpy). */
                for (int64_t i = 1; i < x->shape[3] && !isnan(bv); i++)
                    if (isnan(row[i]) || row[i] > bv) {
                        bv = row[i];
                        best = (int32_t)i;
                    }
                memcpy(ref_at(out, 0, i0, i1, i2), &best, 4);
            }
    return true;
}

/* ---------------------------------------------------------------- 4 ---- */

int32_t cpu_run_op(cpu_device *dev, uint32_t op, const plinth_view *out,
                   const plinth_view *in, uint32_t n_in, const void *attrs)
{
    plinth_device *pd = &dev->base;
    bool done = false;
    switch (op) {
    case PLINTH_OP_ADD:
    case PLINTH_OP_SUB:
    case PLINTH_OP_MUL:
    case PLINTH_OP_DIV:
        done = cpu_binary_fast(dev, op, out, &in[0], &in[1]);
        break;
    case PLINTH_OP_SCALE:
        done = cpu_unary_fast(dev, op, out, &in[0], ((const plinth_attr_scale *)attrs)->s);
        break;
    case PLINTH_OP_GELU_TANH:
    case PLINTH_OP_SILU:
        done = cpu_unary_fast(dev, op, out, &in[0], 0.0f);
        break;
    case PLINTH_OP_RMS_NORM:
        done = cpu_rms_norm_fast(dev, out, &in[0], n_in == 2 ? &in[1] : NULL,
                                 ((const plinth_attr_rms_norm *)attrs)->eps, NULL);
        break;
    case PLINTH_OP_SOFTMAX:
        done = cpu_softmax_fast(dev, out, &in[0], n_in == 2 ? &in[1] : NULL,
                                ((const plinth_attr_softmax *)attrs)->scale);
        break;
    case PLINTH_OP_MATMUL:
        if (((const plinth_attr_matmul *)attrs)->b_packed) /* never ref's: it reads plain */
            return cpu_matmul_fast(dev, out, &in[0], &in[1], true, true)
                       ? PLINTH_OK
                       : ref_fail(pd, PLINTH_ERR_INTERNAL, "cpu: matmul on a packed weight");
        done = cpu_matmul_fast(dev, out, &in[0], &in[1],
                               ((const plinth_attr_matmul *)attrs)->transpose_b != 0, false);
        break;
    case PLINTH_OP_GET_ROWS:
        if (((const plinth_attr_get_rows *)attrs)->table_packed) /* never ref's */
            return get_rows_packed(dev, out, &in[0], &in[1]);
        done = cpu_get_rows_fast(dev, out, &in[0], &in[1]);
        break;
    case PLINTH_OP_SET_ROWS:
        done = cpu_set_rows_fast(dev, out, &in[0], &in[1]);
        break;
    case PLINTH_OP_ROPE:
    case PLINTH_OP_ROPE_FACTORS:
        done = cpu_rope_fast(dev, out, &in[0], &in[1],
                             op == PLINTH_OP_ROPE_FACTORS ? &in[2] : NULL, attrs);
        break;
    case PLINTH_OP_ATTENTION:
        done = cpu_attention_fast(dev, out, in, attrs);
        break;
    case PLINTH_OP_COPY:
        done = cpu_copy_fast(dev, out, &in[0]);
        break;
    case PLINTH_OP_CAST:
        done = cpu_cast_block(dev, out, &in[0]);
        break;
    case PLINTH_OP_ARGMAX:
        done = cpu_argmax_fast(dev, out, &in[0]);
        break;
    default:
        break;
    }
    if (done)
        return PLINTH_OK;
    switch (op) {
#define X(E, n, lo, hi)       \
    case PLINTH_OP_##E:       \
        return ref_##n(pd, out, in, n_in, attrs);
        PLINTH_OP_LIST(X)
#undef X
    default:
        return ref_fail(pd, PLINTH_ERR_INVALID, "cpu: unknown op %u", op);
    }
}
