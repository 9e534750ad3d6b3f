/*
 * cpu_quant.c — block-dtype weights (q8_0, q4_0, q4_K, q6_K): the portable
 * kernels of the scalar level, and get_rows and cast of block tensors.
 *
 * Sections:
 *   1. portable kernels: a row dequantised a block at a time
 *      (plinth_dequant_block, the one definition), the GEMV on it
 *   2. rows: get_rows of a block table, cast of a block tensor
 *   3. q8_0, q4_0 and q4_K packed at load in groups of 8 interleaved rows (the
 *      layout: cpu_kernels.h CPU_X8_*): packing, and a row back as plain
 *      blocks
 *
 * Which activations, per path:
 *   - prefill (M >= 6 rows; cpu_matmul.c): f32. Chunks of weight rows are
 *     dequantised exactly (a block's values are f32 numbers: a scale times
 *     a small integer) and the f32 kernels run on them: the result differs
 *     from the f32 matmul of the dequantised weights only by the order of
 *     its f32 sums.
 *   - decode (the block GEMV): f32 for q8_0, int8 for q4_0, q4_K and q6_K
 *     (device config q8_act=auto, the default under precision=exact;
 *     q8_act=0 keeps every type f32, q8_act=1 makes q8_0 int8 too, and so
 *     does precision=fast). With f32 activations each block's
 *     quants are widened to f32 and dotted with x: exact as above. With
 *     int8 ones x is quantised per block of 32 (d = max|x| / 127, round to
 *     nearest even) once per matmul, and the dots are integer (vpmaddubsw),
 *     as llama.cpp does: an error of variance (max|x|² / E[x²]) / (12 ·
 *     127²) relative to each result, 1.55e-5 for uniform x (conformance
 *     allows 2e-4: compare.c). Measured on one AVX2 thread ([2048 x 2048]
 *     GEMV, `plinth bench-ops --shape sq2048 --m 1 --threads 1`, three
 *     alternating rounds on a shared 2-core EPYC, load 9-11, medians):
 *       q8_0  f32 0.344 ms   int8 0.344 ms   (equal: f32 kept, exact)
 *       q4_0  f32 0.468 ms   int8 0.270 ms   (1.73x)
 *       q4_K  f32 0.574 ms   int8 0.305 ms   (1.88x)
 *       q6_K  f32 0.628 ms   int8 0.442 ms   (1.42x)
 *     The 4- and 6-bit types with f32 activations are bound by unpacking
 *     and widening twice the quants per byte, not by the bytes. q8_0's is
 *     bound by widening each byte to f32 (Gemma 3 270M q8_0 decode read
 *     8.1 GB/s on one thread where a plain loop streams 14): on plain rows
 *     int8 did not pay, packed in 8-row groups it does (tg64, 2 threads:
 *     ~49 tok/s f32, ~63 int8 packed before its prefetch, ~73 after;
 *     README). Since int8 activations are
 *     an error the size of q8_0's own, that is precision=fast's.
 * The scalar level has no int8 kernels: it runs f32 activations always.
 */
#include <string.h>

#include "cpu_kernels.h"

/* ---------------------------------------------------------------- 1 ---- */

void cpu_dequant_row_portable(int32_t dt, const uint8_t *src, float *dst, int64_t n)
{
    const int64_t e = (int64_t)plinth_dtype_block_elems(dt);
    const size_t bb = plinth_dtype_block_bytes(dt);
    for (int64_t b = 0; b < n / e; b++)
        plinth_dequant_block(dt, src + (size_t)b * bb, dst + b * e);
}

void cpu_dequant_row(const cpu_device *dev, int32_t dt, const uint8_t *src, float *dst,
                     int64_t n)
{
    void (*fn)(const uint8_t *, float *, int64_t) = dev->k->dequant_row[cpu_block_index(dt)];
    if (fn)
        fn(src, dst, n);
    else
        cpu_dequant_row_portable(dt, src, dst, n);
}

/* Rows [n0, n1) of the output: each weight block dequantised into w, then
 * dotted with the matching run of every row of a (four f32 partial sums,
 * as the portable f32 GEMV). */
void cpu_gemv_block_portable(const mm_problem *p, int64_t n0, int64_t n1)
{
    const int64_t e = (int64_t)plinth_dtype_block_elems(p->wdt);
    const size_t bb = plinth_dtype_block_bytes(p->wdt);
    float w[256];
    for (int64_t i = 0; i < p->m; i++) {
        const float *x = (const float *)(p->a + i * p->lda);
        float *o = (float *)(p->out + i * p->ldo);
        for (int64_t n = n0; n < n1; n++) {
            const uint8_t *row = p->w + n * p->ldw;
            float acc[4] = {0, 0, 0, 0};
            for (int64_t b = 0; b < p->k / e; b++) {
                plinth_dequant_block(p->wdt, row + (size_t)b * bb, w);
                const float *xb = x + b * e;
                for (int64_t q = 0; q < e; q += 4)
                    for (int l = 0; l < 4; l++)
                        acc[l] += xb[q + l] * w[q + l];
            }
            o[n] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        }
    }
}

/* ---------------------------------------------------------------- 2 ---- */

static bool rows_of_blocks(const plinth_view *v)
{
    return plinth_dtype_block_elems(v->dtype) > 1 &&
           v->stride[3] == (int64_t)plinth_dtype_block_bytes(v->dtype);
}

/* f32 row of n into dst of dtype dt (f32, f16, bf16: one rounding each). */
static void store_row(uint8_t *dst, int32_t dt, const float *src, int64_t n)
{
    if (dt == PLINTH_F32) {
        memcpy(dst, src, (size_t)n * 4);
        return;
    }
    uint16_t *h = (uint16_t *)(void *)dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = dt == PLINTH_F16 ? plinth_f32_to_f16(src[i]) : plinth_f32_to_bf16(src[i]);
}

/* get_rows of a block table into f32 rows (contiguous), a row at a time
 * straight into the output. Indices are checked first (by the caller). */
bool cpu_get_rows_block(cpu_device *dev, const plinth_view *out, const plinth_view *table,
                        const plinth_view *idx)
{
    if (!rows_of_blocks(table) || out->dtype != PLINTH_F32 || out->stride[3] != 4)
        return false;
    for (int64_t p = 0; p < idx->shape[1]; p++)
        for (int64_t q = 0; q < idx->shape[2]; q++)
            for (int64_t r = 0; r < idx->shape[3]; r++) {
                int32_t v;
                memcpy(&v, ref_at(idx, 0, p, q, r), 4);
                cpu_dequant_row(dev, table->dtype, table->data + v * table->stride[2],
                                (float *)(void *)ref_at(out, p, q, r, 0), out->shape[3]);
            }
    return true;
}

typedef struct cast_job {
    cpu_device *dev;
    const plinth_view *out, *x;
    int64_t rows_per_task;
} cast_job;

/* Rows [t * rows_per_task, ...) of the flattened outer dims. */
static void cast_task(void *ctx, int64_t t, uint32_t thread)
{
    (void)thread;
    const cast_job *j = ctx;
    const plinth_view *out = j->out, *x = j->x;
    const int64_t n = out->shape[3], rows = out->shape[0] * out->shape[1] * out->shape[2];
    float buf[1024];
    for (int64_t r = t * j->rows_per_task; r < rows && r < (t + 1) * j->rows_per_task; r++) {
        const int64_t i2 = r % out->shape[2], i1 = r / out->shape[2] % out->shape[1],
                      i0 = r / out->shape[2] / out->shape[1];
        const uint8_t *src = ref_at(x, i0, i1, i2, 0);
        uint8_t *dst = ref_at(out, i0, i1, i2, 0);
        const int64_t e = (int64_t)plinth_dtype_block_elems(x->dtype);
        const int64_t es = (int64_t)plinth_dtype_bytes(out->dtype);
        const size_t bb = plinth_dtype_block_bytes(x->dtype);
        /* in runs of whole blocks that fit the buffer */
        for (int64_t c = 0; c < n; c += 1024) {
            const int64_t len = n - c < 1024 ? n - c : 1024;
            cpu_dequant_row(j->dev, x->dtype, src + (size_t)(c / e) * bb, buf, len);
            store_row(dst + c * es, out->dtype, buf, len);
        }
    }
}

/* cast of a block tensor to f32/f16/bf16 rows (inner dims contiguous),
 * the rows split over the threads. */
bool cpu_cast_block(cpu_device *dev, const plinth_view *out, const plinth_view *x)
{
    if (!rows_of_blocks(x) || !ref_same_shape(out, x) ||
        out->stride[3] != (int64_t)plinth_dtype_bytes(out->dtype) ||
        (out->dtype != PLINTH_F32 && out->dtype != PLINTH_F16 && out->dtype != PLINTH_BF16))
        return false;
    const int64_t rows = out->shape[0] * out->shape[1] * out->shape[2];
    if (rows == 0 || out->shape[3] == 0)
        return true;
    /* ~64 KB of output per task */
    int64_t per = 65536 / (out->shape[3] * 4);
    cast_job j = {dev, out, x, per < 1 ? 1 : per};
    cpu_parallel(dev, (rows + j.rows_per_task - 1) / j.rows_per_task, cast_task, &j);
    return true;
}

/* ---------------------------------------------------------------- 3 ---- */

static size_t x8_unit(int32_t dt)
{
    return dt == PLINTH_Q8_0   ? CPU_Q8_0X8_UNIT
           : dt == PLINTH_Q4_0 ? CPU_Q4_0X8_UNIT
                               : CPU_Q4_KX8_UNIT;
}

uint64_t cpu_x8_bytes(int32_t dt, int64_t n, int64_t k)
{
    const uint64_t groups = (uint64_t)(n + CPU_X8_ROWS - 1) / CPU_X8_ROWS;
    return groups * (uint64_t)(k / (int64_t)plinth_dtype_block_elems(dt)) * x8_unit(dt);
}

/* q8_0's and q4_0's 4-byte chunks per block: its quant bytes after the
 * 2-byte scale, 4 at a time (8 and 4). */
static int x8_chunks(int32_t dt)
{
    return (int)(plinth_dtype_block_bytes(dt) - 2) / 4;
}

/* Row j's plain block `blk` into unit u (cpu_kernels.h says where). */
static void x8_put(int32_t dt, const uint8_t *blk, int j, uint8_t *u)
{
    if (dt == PLINTH_Q8_0 || dt == PLINTH_Q4_0) {
        memcpy(u + 2 * j, blk, 2);
        for (int c = 0; c < x8_chunks(dt); c++)
            memcpy(u + 16 + 32 * c + 4 * j, blk + 2 + 4 * c, 4);
        return;
    }
    memcpy(u + 2 * j, blk, 2);
    memcpy(u + 16 + 2 * j, blk + 2, 2);
    for (int s = 0; s < 8; s++) {
        int sc, m;
        plinth_q4_K_scale_min(blk + 4, s, &sc, &m);
        u[CPU_Q4_KX8_SC + 8 * s + j] = (uint8_t)sc;
        u[CPU_Q4_KX8_M + 8 * s + j] = (uint8_t)m;
    }
    for (int c = 0; c < 32; c++)
        memcpy(u + CPU_Q4_KX8_QS + 32 * c + 4 * j, blk + 16 + 4 * c, 4);
}

/* The inverse: row j's plain block from unit u; q4_K's 6-bit scales and
 * mins packed again as plinth_q4_K_scale_min reads them. */
static void x8_get(int32_t dt, const uint8_t *u, int j, uint8_t *blk)
{
    if (dt == PLINTH_Q8_0 || dt == PLINTH_Q4_0) {
        memcpy(blk, u + 2 * j, 2);
        for (int c = 0; c < x8_chunks(dt); c++)
            memcpy(blk + 2 + 4 * c, u + 16 + 32 * c + 4 * j, 4);
        return;
    }
    memcpy(blk, u + 2 * j, 2);
    memcpy(blk + 2, u + 16 + 2 * j, 2);
    uint8_t *s = blk + 4;
    for (int i = 0; i < 4; i++) {
        const uint8_t sc = u[CPU_Q4_KX8_SC + 8 * i + j], m = u[CPU_Q4_KX8_M + 8 * i + j];
        const uint8_t sc4 = u[CPU_Q4_KX8_SC + 8 * (i + 4) + j],
                      m4 = u[CPU_Q4_KX8_M + 8 * (i + 4) + j];
        s[i] = (uint8_t)(sc | (sc4 >> 4) << 6);
        s[i + 4] = (uint8_t)(m | (m4 >> 4) << 6);
        s[i + 8] = (uint8_t)((sc4 & 0x0f) | (m4 & 0x0f) << 4);
    }
    for (int c = 0; c < 32; c++)
        memcpy(blk + 16 + 4 * c, u + CPU_Q4_KX8_QS + 32 * c + 4 * j, 4);
}

void cpu_x8_pack_group(int32_t dt, const uint8_t *plain, int64_t ldw, int64_t n, int64_t k,
                       int64_t g, uint8_t *dst)
{
    const int64_t nb = k / (int64_t)plinth_dtype_block_elems(dt);
    const size_t bb = plinth_dtype_block_bytes(dt), ub = x8_unit(dt);
    memset(dst, 0, (size_t)nb * ub);
    for (int j = 0; j < CPU_X8_ROWS && g * CPU_X8_ROWS + j < n; j++) {
        const uint8_t *row = plain + (g * CPU_X8_ROWS + j) * ldw;
        for (int64_t b = 0; b < nb; b++)
            x8_put(dt, row + (size_t)b * bb, j, dst + (size_t)b * ub);
    }
}

/* Row r of a packed q8_0 / q4_0 / q4_K weight dequantised to f32 (k values),
 * through plain blocks a run at a time: the plain row's very values. */
void cpu_x8_dequant_row(const cpu_device *dev, int32_t dt, const uint8_t *packed, int64_t k,
                        int64_t r, float *dst)
{
    enum { RUN_BYTES = 2304 }; /* plain blocks per run: 128 of q4_0, 16 of q4_K */
    uint8_t plain[RUN_BYTES];
    const int64_t e = (int64_t)plinth_dtype_block_elems(dt), nb = k / e;
    const size_t bb = plinth_dtype_block_bytes(dt), ub = x8_unit(dt);
    const int64_t run = (int64_t)(RUN_BYTES / bb);
    const uint8_t *grp = packed + (r / CPU_X8_ROWS) * nb * (int64_t)ub;
    for (int64_t b0 = 0; b0 < nb; b0 += run) {
        const int64_t b1 = b0 + run < nb ? b0 + run : nb;
        for (int64_t b = b0; b < b1; b++)
            x8_get(dt, grp + b * (int64_t)ub, (int)(r % CPU_X8_ROWS), plain + (b - b0) * bb);
        cpu_dequant_row(dev, dt, plain, dst + e * b0, e * (b1 - b0));
    }
}
