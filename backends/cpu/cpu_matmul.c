/*
 * cpu_matmul.c — matmul: which path, how the work is split, scratch.
 *
 * Sections:
 *   1. scratch: per-thread B panels and the shared packed A (grown outside
 *      the hot path: prepare sizes them for the whole program)
 *   2. portable kernel (scalar level; f32 accumulation)
 *   3. GEMV for few rows (decode): tasks of >= 64 KB of weights each
 *   4. GEMM for many rows (prefill, AVX-512): pack A once, then one task
 *      per 32-column panel (pack it, run every 12-row tile against it)
 *   5. entry: layout checks, batch dims, path choice
 */
#include <stdlib.h>
#include <string.h>

#include "cpu_matmul.h"

/* Rows of a from which the blocked GEMM beats the GEMV (measured with
 * bench_ops on the Gemma shapes: the GEMV re-reads each weight row per row
 * of a from L1, the GEMM pays for packing; they cross near 8). */
#define GEMM_MIN_M 8

/* ---------------------------------------------------------------- 1 ---- */

static bool grow(float **p, size_t *have, size_t want)
{
    if (*p && *have >= want)
        return true;
    free(*p);
    *p = NULL;
    *have = 0;
    void *q = NULL;
    if (posix_memalign(&q, 64, want * sizeof(float) + 64) != 0)
        return false;
    *p = q;
    *have = want;
    return true;
}

/* Makes the GEMM buffers big enough for m x k by k x n; false: no memory. */
static bool gemm_scratch(cpu_device *dev, int64_t m, int64_t k)
{
    const size_t panel = (size_t)k * CPU_NR;
    const size_t apack = (size_t)((m + CPU_MR - 1) / CPU_MR) * CPU_MR * (size_t)k;
    if (!grow(&dev->apack, &dev->apack_size, apack))
        return false;
    if (dev->scratch_size < panel) {
        for (uint32_t t = 0; t < dev->n_threads; t++) {
            size_t have = dev->scratch_size;
            if (!grow(&dev->scratch[t], &have, panel))
                return false;
        }
        dev->scratch_size = panel;
    }
    return true;
}

/* ---------------------------------------------------------------- 2 ---- */

static void gemv_portable(const mm_problem *p, int64_t n0, int64_t n1)
{
    const size_t es = cpu_esize(p->wdt);
    for (int64_t i = 0; i < p->m; i++) {
        const float *x = (const float *)(p->a + i * p->lda);
        float *o = (float *)(p->out + i * p->ldo);
        for (int64_t n = n0; n < n1; n++) {
            float acc[4] = {0, 0, 0, 0};
            if (p->tb) {
                const uint8_t *w = p->w + n * p->ldw;
                int64_t kk = 0;
                for (; kk + 4 <= p->k; kk += 4)
                    for (int l = 0; l < 4; l++)
                        acc[l] += x[kk + l] * cpu_load_f(w, p->wdt, kk + l);
                for (; kk < p->k; kk++)
                    acc[0] += x[kk] * cpu_load_f(w, p->wdt, kk);
            } else {
                for (int64_t kk = 0; kk < p->k; kk++)
                    acc[kk & 3] += x[kk] * cpu_load_f(p->w + kk * p->ldw + n * (int64_t)es, p->wdt, 0);
            }
            o[n] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        }
    }
}

/* ---------------------------------------------------------------- 3 ---- */

typedef struct gemv_job {
    const mm_problem *p;
    int isa;
    int64_t rows_per_task;
} gemv_job;

static void gemv_task(void *ctx, int64_t t, uint32_t thread)
{
    const gemv_job *j = ctx;
    const int64_t n0 = t * j->rows_per_task;
    const int64_t n1 = n0 + j->rows_per_task < j->p->n ? n0 + j->rows_per_task : j->p->n;
#if defined(__x86_64__)
    if (j->isa == CPU_ISA_AVX512 && j->p->tb) {
        cpu_gemv_avx512(j->p, n0, n1);
        return;
    }
    if (j->isa == CPU_ISA_AVX2 && j->p->tb) {
        cpu_gemv_avx2(j->p, n0, n1);
        return;
    }
#endif
    gemv_portable(j->p, n0, n1);
}

static void gemv(cpu_device *dev, const mm_problem *p)
{
    const int64_t row_bytes = p->k * (int64_t)cpu_esize(p->wdt) * (p->m > 0 ? p->m : 1);
    int64_t rows = (65536 + row_bytes - 1) / (row_bytes ? row_bytes : 1);
    /* enough tasks to balance two busy cores on a shared machine */
    const int64_t max_rows = (p->n + 8 * dev->n_threads - 1) / (8 * dev->n_threads);
    if (rows > max_rows)
        rows = max_rows;
    rows = (rows + 3) & ~(int64_t)3;
    if (rows < 4)
        rows = 4;
    gemv_job j = {p, dev->isa, rows};
    cpu_parallel(dev, (p->n + rows - 1) / rows, gemv_task, &j);
}

/* ---------------------------------------------------------------- 4 ---- */

#if defined(__x86_64__)
typedef struct gemm_job {
    const mm_problem *p;
    cpu_device *dev;
} gemm_job;

static void pack_a_task(void *ctx, int64_t blk, uint32_t thread)
{
    const gemm_job *j = ctx;
    cpu_pack_a_avx512(j->p, blk, j->dev->apack + blk * CPU_MR * j->p->k);
}

static void panel_task(void *ctx, int64_t t, uint32_t thread)
{
    const gemm_job *j = ctx;
    const mm_problem *p = j->p;
    float *bp = j->dev->scratch[thread];
    const int64_t n0 = t * CPU_NR, nr = p->n - n0 < CPU_NR ? p->n - n0 : CPU_NR;
    cpu_pack_b_avx512(p, n0, bp);
    for (int64_t i = 0; i < p->m; i += CPU_MR) {
        const int64_t mr = p->m - i < CPU_MR ? p->m - i : CPU_MR;
        cpu_tile_avx512(j->dev->apack + i * p->k, bp, p->k, p->out + i * p->ldo + n0 * 4,
                        p->ldo, mr, nr);
    }
}

static void gemm(cpu_device *dev, const mm_problem *p)
{
    gemm_job j = {p, dev};
    cpu_parallel(dev, (p->m + CPU_MR - 1) / CPU_MR, pack_a_task, &j);
    cpu_parallel(dev, (p->n + CPU_NR - 1) / CPU_NR, panel_task, &j);
}
#endif

/* ---------------------------------------------------------------- 5 ---- */

bool cpu_matmul_fast(cpu_device *dev, const plinth_view *out, const plinth_view *a,
                     const plinth_view *b, bool tb)
{
    if (out->dtype != PLINTH_F32 || a->dtype != PLINTH_F32 || out->stride[3] != 4 ||
        a->stride[3] != 4 || b->stride[tb ? 3 : 3] != (int64_t)cpu_esize(b->dtype))
        return false;
    if (b->dtype != PLINTH_F32 && b->dtype != PLINTH_BF16 && b->dtype != PLINTH_F16)
        return false;
    const int64_t m = out->shape[2], n = out->shape[3], k = a->shape[3];
    if (m == 0 || n == 0)
        return true;
    if (k == 0 || b->shape[3] == 1 || (!tb && n == 1))
        return false; /* degenerate layouts: ref */
    mm_problem p = {.lda = a->stride[2], .ldw = b->stride[2], .ldo = out->stride[2],
                    .m = m, .n = n, .k = k, .wdt = b->dtype, .tb = tb};
    bool use_gemm = false;
#if defined(__x86_64__)
    use_gemm = dev->isa == CPU_ISA_AVX512 && (m >= GEMM_MIN_M || !tb);
    if (use_gemm && !gemm_scratch(dev, m, k))
        return false; /* out of memory: ref needs none */
#endif
    for (int64_t o0 = 0; o0 < out->shape[0]; o0++)
        for (int64_t o1 = 0; o1 < out->shape[1]; o1++) {
            p.a = ref_at(a, a->shape[0] == 1 ? 0 : o0, a->shape[1] == 1 ? 0 : o1, 0, 0);
            p.w = ref_at(b, b->shape[0] == 1 ? 0 : o0, b->shape[1] == 1 ? 0 : o1, 0, 0);
            p.out = ref_at(out, o0, o1, 0, 0);
            if (m == 1)
                p.lda = p.ldo = 0;
#if defined(__x86_64__)
            if (use_gemm) {
                gemm(dev, &p);
                continue;
            }
#endif
            gemv(dev, &p);
        }
    return true;
}

/* Called by prepare: size the GEMM buffers for the largest matmul once. */
bool cpu_matmul_reserve(cpu_device *dev, int64_t m, int64_t k)
{
    return gemm_scratch(dev, m, k);
}
