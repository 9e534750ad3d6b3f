/*
 * cpu_matmul.c — matmul: which path, how the work is split, scratch.
 *
 * Sections:
 *   1. scratch: per-thread B panel blocks and the shared packed A (grown
 *      outside the hot path: prepare sizes them for the whole program)
 *   2. portable kernel (scalar level; f32 accumulation)
 *   3. GEMV for few rows (decode): tasks of >= 32 KB of weights each, one
 *      contiguous block of them per thread
 *   4. GEMM for many rows (prefill, levels with a tile): pack A once (shared), then
 *      one task per block of up to 8 32-column panels (packed into the
 *      thread's L2; disjoint column ranges per task, >= 2 tasks per
 *      thread) and row part (one per thread with weights packed at load,
 *      so a thread reads the rows it wrote): every 12-row block of the
 *      part against every panel of the block
 *   5. block weights (q8_0, q4_0, q4_K, q6_K): the GEMV of section 3 with
 *      the level's block kernel; for many rows, chunks of weight rows
 *      dequantised into f32 scratch, then the f32 GEMM (or GEMV) on them
 *   6. weights packed at load (pack_size, pack): q4_0/q4_K as 8-row groups, f32
 *      as the GEMM's panels (the GEMV on panels)
 *   7. entry: layout checks, batch dims, path choice; matmuls that share
 *      their A as one job (cpu_matmul_group)
 */
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"

/* Rows of a from which the blocked GEMM beats the GEMV. The GEMV streams
 * each weight row once from DRAM and re-reads it from L1 per row of a; the
 * GEMM pays for packing but runs at the FMA rate. Measured with
 * `bench_ops --m N` (PLINTH_CPU_GEMM_MIN_M forces either path) on the
 * gate+up shape (4096 x 640, cold weights), 2 threads, a noisy machine:
 *   M      2     4     6     8     12    16      (ms, bf16 | f32)
 *   GEMV  0.28  0.42  0.91  0.66  1.56  1.95  | 0.69 0.88 0.97 0.59 1.35 1.55
 *   GEMM  1.57  1.73  1.66  0.83  0.83  1.94  | 2.06 2.08 2.07 1.09 1.04 2.43
 * GEMV wins through M = 8, GEMM from 12: the switch is at 10. */
#define GEMM_MIN_M 10
static int64_t gemm_min_m(void)
{
    /* Read once. Atomic because devices of other instances may run on other
     * threads and get here first (all of them store the same value). */
    static _Atomic int64_t v = -1;
    int64_t m = atomic_load_explicit(&v, memory_order_relaxed);
    if (m < 0) {
        const char *e = getenv("PLINTH_CPU_GEMM_MIN_M");
        m = e && atoll(e) > 0 ? atoll(e) : GEMM_MIN_M;
        atomic_store_explicit(&v, m, memory_order_relaxed);
    }
    return m;
}

/* ---------------------------------------------------------------- 1 ---- */

/* Scratch is bookkeeping, so it comes from the host's allocator (rule 14),
 * which promises only the alignment of a standard type: allocate 64 bytes
 * more plus room for the block's own address, align up, and keep that
 * address just below the aligned pointer for cpu_free_floats. */
#define SCRATCH_ALIGN 64u

static float *aligned_floats(cpu_device *dev, size_t n)
{
    /* One spare vector at the end: SIMD tails may over-read (never write). */
    if (n > (SIZE_MAX - 2 * SCRATCH_ALIGN - sizeof(void *)) / sizeof(float))
        return NULL;
    const size_t bytes = n * sizeof(float) + SCRATCH_ALIGN;
    char *raw = plugin_malloc(cpu_inst(dev), bytes + SCRATCH_ALIGN + sizeof(void *));
    if (!raw)
        return NULL;
    uintptr_t at = ((uintptr_t)raw + sizeof(void *) + SCRATCH_ALIGN - 1) &
                   ~(uintptr_t)(SCRATCH_ALIGN - 1);
    void **slot = (void **)at - 1;
    *slot = raw;
    return (float *)at;
}

void cpu_free_floats(cpu_device *dev, float *p)
{
    if (p)
        plugin_free(cpu_inst(dev), ((void **)(void *)p)[-1]);
}

bool cpu_grow_floats(cpu_device *dev, float **p, size_t *have, size_t want)
{
    if (*p && *have >= want)
        return true;
    cpu_free_floats(dev, *p);
    *p = aligned_floats(dev, want);
    *have = *p ? want : 0;
    return *p != NULL;
}

/* The GEMM packs a block of B panels per task, as many 32-column panels
 * (up to 8) as fit in a third of the core's L2 (cpu_l2_bytes): each
 * 12-row block of packed A is then read from L3 once per block of panels
 * instead of once per panel, and the panels stay in L2 while every A
 * block streams past them. A third, because a block that fills more is
 * evicted by that stream: on a Zen 3 (512 KB L2) gate+up (M 512, K 640,
 * N 4096, f32) ran at a median of 81.2 / 87.7 / 83.8 GFLOP/s at 1 thread
 * and 146 / 172 / 166 at 2 with blocks of 640 KB (8 panels, the earlier
 * fixed size) / 160 KB (2) / 80 KB (1), five alternating rounds of
 * `bench-ops --shape gate+up --m 512 --dtype f32 --no-blas`. */
static int64_t gemm_max_panels(int64_t k)
{
    int64_t np = (int64_t)(cpu_l2_bytes() / 3) / (k * CPU_NR * 4);
    return np < 1 ? 1 : np > 8 ? 8 : np;
}

/* Makes the GEMM buffers big enough for m x k by k x n; false: no memory. */
static bool gemm_scratch(cpu_device *dev, int64_t m, int64_t k)
{
    const size_t panel = (size_t)k * CPU_NR * (size_t)gemm_max_panels(k);
    const size_t apack = (size_t)((m + CPU_MR - 1) / CPU_MR) * CPU_MR * (size_t)k;
    if (!cpu_grow_floats(dev, &dev->apack, &dev->apack_size, apack))
        return false;
    if (dev->scratch_size < panel) {
        /* A failure part way leaves a panel NULL: scratch_size 0 then says
         * that no panel can be trusted, and the next call regrows them all
         * (each old block is freed first, so nothing leaks). */
        for (uint32_t t = 0; t < dev->n_threads; t++) {
            size_t have = dev->scratch_size;
            if (!cpu_grow_floats(dev, &dev->scratch[t], &have, panel)) {
                dev->scratch_size = 0;
                return false;
            }
        }
        dev->scratch_size = panel;
    }
    return true;
}

/* ---------------------------------------------------------------- 2 ---- */

static void gemv_portable(const mm_problem *p, int64_t n0, int64_t n1)
{
    const size_t es = plinth_dtype_bytes(p->wdt);
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
    /* the level's GEMV ([N][K] weights only), or NULL: gemv_portable */
    void (*simd)(const mm_problem *p, int64_t n0, int64_t n1, int64_t pf_end);
    /* block weights: the level's block GEMV, or NULL: the portable one */
    void (*block)(const mm_problem *p, int64_t n0, int64_t n1);
    int64_t rows_per_task, n_tasks;
    uint32_t n_blocks; /* cpu_parallel_blocked's blocks */
} gemv_job;

/* The first row past the block of task t: the rows up to there are most
 * likely this thread's next tasks, worth prefetching across t's end. */
static int64_t gemv_block_end(const gemv_job *j, int64_t t)
{
    for (uint32_t b = 1; b <= j->n_blocks; b++) {
        const int64_t e = cpu_block_start(j->n_tasks, j->n_blocks, b);
        if (t < e)
            return e * j->rows_per_task < j->p->n ? e * j->rows_per_task : j->p->n;
    }
    return j->p->n;
}

static void gemv_task(void *ctx, int64_t t, uint32_t thread)
{
    const gemv_job *j = ctx;
    const int64_t n0 = t * j->rows_per_task;
    const int64_t n1 = n0 + j->rows_per_task < j->p->n ? n0 + j->rows_per_task : j->p->n;
    if (plinth_dtype_block_elems(j->p->wdt) > 1) {
        if (j->block)
            j->block(j->p, n0, n1);
        else
            cpu_gemv_block_portable(j->p, n0, n1);
        return;
    }
    if (j->simd) {
        j->simd(j->p, n0, n1, gemv_block_end(j, t));
        return;
    }
    gemv_portable(j->p, n0, n1);
}

/* q8_act on for this block dtype, and an int8 kernel at this level: a's rows
 * quantised once into scratch (int8 rows of k, then k / 32 scales per row),
 * pointed at by *q. false: no kernel, or no memory (the f32 path runs). */
static bool quantize_activations(cpu_device *dev, mm_problem *q)
{
    const int idx = cpu_block_index(q->wdt);
    if (!(dev->q8_act >> idx & 1) || !dev->k->gemv_block_q8[idx] || !dev->k->quantize_q8 ||
        q->k % 32)
        return false;
    const size_t floats = (size_t)(q->m * q->k) / 4 + (size_t)(q->m * q->k / 32) +
                          (size_t)(q->m * q->k / 16);
    if (!cpu_grow_floats(dev, &dev->aq8, &dev->aq8_size, floats))
        return false;
    int8_t *aq = (int8_t *)(void *)dev->aq8;
    float *ad = dev->aq8 + q->m * q->k / 4, *as = ad + q->m * q->k / 32;
    for (int64_t i = 0; i < q->m; i++)
        dev->k->quantize_q8((const float *)(q->a + i * q->lda), aq + i * q->k,
                            ad + i * (q->k / 32), as + i * (q->k / 16), q->k);
    q->aq = aq;
    q->ad = ad;
    q->as = as;
    return true;
}

/* false only for packed q4_0 without room for its int8 activations */
static bool gemv(cpu_device *dev, const mm_problem *p)
{
    /* ~16 tasks per thread: enough to balance two cores on a shared
     * machine, few enough that the task counters are not cache lines
     * ping-ponged every few microseconds (the logits matrix made 5000
     * tasks of 64 KB before). At least 32 KB of weights per task. The
     * tasks run as one contiguous block per thread (prefetched across
     * task boundaries): the decode step's per-layer matmuls went from
     * 25.5 to 28.7 GB/s in a model of them (tasks from one shared
     * counter: each thread's rows were scattered and every task began
     * with rows no prefetch had asked for). */
    const int64_t row_bytes =
        (int64_t)plinth_dtype_row_bytes(p->wdt, p->k) * (p->m > 0 ? p->m : 1);
    int64_t rows = (p->n + 16 * dev->n_threads - 1) / (16 * dev->n_threads);
    const int64_t min_rows = (32768 + row_bytes - 1) / (row_bytes ? row_bytes : 1);
    if (rows < min_rows)
        rows = min_rows;
    rows = (rows + 7) & ~(int64_t)7; /* whole 4-row steps, whole 8-row groups */
    const bool block = plinth_dtype_block_elems(p->wdt) > 1;
    mm_problem q = *p;
    const bool q8 = block && quantize_activations(dev, &q);
    if (p->w_x8 && !q8)
        return false; /* pack_size packed q4_0 only where q8 runs */
    gemv_job j = {&q, p->tb ? dev->k->gemv : NULL,
                  !block     ? NULL
                  : p->w_x8 ? dev->k->gemv_x8_q8[cpu_block_index(p->wdt)]
                  : q8       ? dev->k->gemv_block_q8[cpu_block_index(p->wdt)]
                             : dev->k->gemv_block[cpu_block_index(p->wdt)],
                  rows, (p->n + rows - 1) / rows, cpu_pool_threads(dev)};
    cpu_parallel_blocked(dev, j.n_tasks, gemv_task, &j);
    return true;
}

/* ---------------------------------------------------------------- 4 ---- */

typedef struct gemm_job {
    const mm_problem *p;
    cpu_device *dev;
    int64_t npan; /* 32-column panels per task */
    bool bf16;    /* the vdpbf16ps variant (bf16_compute=1)     */
    /* B packed at load (section 6), or NULL: f32 panels, or (p->wdt bf16)
     * bf16 pairs */
    const void *panels;
    /* Rows in `parts` contiguous ranges of 12-row blocks, one per thread
     * (gemm_parts); tasks are [part][column block]. */
    int64_t parts, col_tasks;
} gemm_job;

static void pack_a_task(void *ctx, int64_t blk, uint32_t thread)
{
    const gemm_job *j = ctx;
    if (j->bf16)
        j->dev->k->pack_a_bf16(j->p, blk,
                               (uint32_t *)j->dev->apack + blk * CPU_MR * ((j->p->k + 1) / 2));
    else
        j->dev->k->pack_a(j->p, blk, j->dev->apack + blk * CPU_MR * j->p->k);
}

/* B in pairs (bf16_compute, or bf16 packed at load) or f32: units of 32
 * columns per depth step, a panel depth * 32 units apart. */
static bool job_pairs(const gemm_job *j)
{
    return j->bf16 || (j->panels && j->p->wdt == PLINTH_BF16);
}

static int64_t job_depth(const gemm_job *j)
{
    return job_pairs(j) ? (j->p->k + 1) / 2 : j->p->k;
}

/* Job j's B for columns n0.. (np panels): its panels packed at load, or
 * packed now into this thread's scratch (L2). */
static const uint32_t *block_b(const gemm_job *j, int64_t n0, int64_t np, int64_t depth,
                               uint32_t thread)
{
    if (j->panels)
        return (const uint32_t *)j->panels + n0 * depth;
    const mm_problem *p = j->p;
    const cpu_kernels *k = j->dev->k;
    const int64_t pan = depth * CPU_NR;
    uint32_t *bs = (uint32_t *)(void *)j->dev->scratch[thread];
    for (int64_t q = 0; q < np; q++)
        if (j->bf16)
            k->pack_b_bf16(p, n0 + q * CPU_NR, bs + q * pan);
        else
            k->pack_b(p, n0 + q * CPU_NR, (float *)(void *)(bs + q * pan));
    return bs;
}

/* Job j's tiles of rows i .. i+mr, columns n0 .. n1, B from block_b. ap is
 * the packed A block. */
static void block_tiles(const gemm_job *j, const uint32_t *b, int64_t depth, const float *ap,
                        int64_t i, int64_t mr, int64_t n0, int64_t n1)
{
    const mm_problem *p = j->p;
    const cpu_kernels *k = j->dev->k;
    const bool pairs = job_pairs(j);
    const int64_t pan = depth * CPU_NR;
    for (int64_t c0 = n0; c0 < n1; c0 += CPU_NR) {
        const int64_t nr = n1 - c0 < CPU_NR ? n1 - c0 : CPU_NR;
        uint8_t *c = p->out + i * p->ldo + c0 * 4;
        const uint32_t *bq = b + (c0 - n0) / CPU_NR * pan;
        const float *bf = (const float *)(const void *)bq;
        if (j->bf16)
            k->tile_bf16((const uint32_t *)(const void *)ap, bq, depth, c, p->ldo, mr, nr);
        else if (pairs)
            k->tile_pairs(ap, bq, p->k, c, p->ldo, mr, nr);
        else
            k->tile(ap, bf, p->k, c, p->ldo, mr, nr);
    }
}

/* One block of npan panels: pack them (L2), then every 12-row block of the
 * task's part of A (L1) against each panel. Tasks are disjoint: a column
 * range of a row part. */
static void block_run(const gemm_job *j, int64_t task, uint32_t thread)
{
    const mm_problem *p = j->p;
    const int64_t part = task / j->col_tasks, t = task % j->col_tasks;
    const int64_t blocks = (p->m + CPU_MR - 1) / CPU_MR;
    const int64_t i0 = cpu_block_start(blocks, (uint32_t)j->parts, (uint32_t)part) * CPU_MR;
    const int64_t i1 = cpu_block_start(blocks, (uint32_t)j->parts, (uint32_t)part + 1) * CPU_MR;
    const int64_t n0 = t * j->npan * CPU_NR;
    const int64_t n1 = n0 + j->npan * CPU_NR < p->n ? n0 + j->npan * CPU_NR : p->n;
    const int64_t np = (n1 - n0 + CPU_NR - 1) / CPU_NR;
    const int64_t depth = job_depth(j);
    const uint32_t *b = block_b(j, n0, np, depth, thread);
    for (int64_t i = i0; i < i1 && i < p->m; i += CPU_MR) {
        const int64_t mr = p->m - i < CPU_MR ? p->m - i : CPU_MR;
        /* A: packed f32 rows, or (bf16_compute) bf16 pairs */
        block_tiles(j, b, depth, j->dev->apack + i * (j->bf16 ? depth : p->k), i, mr, n0, n1);
    }
}

static void block_task(void *ctx, int64_t t, uint32_t thread)
{
    block_run(ctx, t, thread);
}

/* The vdpbf16ps variant runs this problem (bf16_compute, bf16 [N][K]). */
static bool gemm_on_bf16(const cpu_device *dev, const mm_problem *p)
{
    return dev->bf16_compute && p->wdt == PLINTH_BF16 && p->tb;
}

/* Panels per task for `pans` panels of depth k: as many as fit the L2
 * block, but at least eight tasks per thread: on a shared machine one core
 * may run slower, and coarse tasks (two per thread) made 2 threads scale
 * 1.3x, not 1.8x. */
static int64_t gemm_task_panels(const cpu_device *dev, int64_t pans, int64_t k)
{
    const int64_t per = (pans + 8 * dev->n_threads - 1) / (8 * dev->n_threads);
    const int64_t maxp = gemm_max_panels(k);
    return per < 1 ? 1 : per > maxp ? maxp : per;
}

/* Row parts: one per thread where the weights were packed at load, else 1.
 * Why: a row-wise op (norm, add, rope, the elementwise ops) runs its rows
 * in contiguous blocks, one per thread (cpu_parallel_blocked), and so do
 * pack_a and these parts: a thread reads the rows it wrote. On a 2-vCPU
 * Zen 5 guest a core read what the other core had just written at 31
 * GB/s, what it had written itself at 90-110 GB/s. Panels packed per
 * call would be packed once per part, so those GEMMs keep one part and
 * split columns only. */
static int64_t gemm_parts(cpu_device *dev, const mm_problem *p, const void *panels)
{
    /* at least 8 row blocks per part: each task streams its panels once
     * per part, so more, thinner parts would read the weights more often */
    const int64_t most = (p->m + CPU_MR - 1) / CPU_MR / 8, threads = cpu_pool_threads(dev);
    if (!panels || threads < 2 || most < 2)
        return 1;
    return most < threads ? most : threads;
}

/* Packs every block of A, a contiguous range of blocks per thread (each
 * packs the rows it wrote, and its row part reads them: gemm_parts). */
static void gemm_pack_a(cpu_device *dev, const gemm_job *j)
{
    cpu_parallel_blocked(dev, (j->p->m + CPU_MR - 1) / CPU_MR, pack_a_task, (void *)j);
}

static void gemm(cpu_device *dev, const mm_problem *p, const void *panels)
{
    const int64_t pans = (p->n + CPU_NR - 1) / CPU_NR;
    const bool bf16 = gemm_on_bf16(dev, p);
    gemm_job j = {.p = p,
                  .dev = dev,
                  .npan = gemm_task_panels(dev, pans, p->k),
                  .bf16 = bf16,
                  .panels = panels,
                  .parts = gemm_parts(dev, p, panels)};
    j.col_tasks = (pans + j.npan - 1) / j.npan;
    gemm_pack_a(dev, &j);
    cpu_parallel_blocked(dev, j.parts * j.col_tasks, block_task, &j);
}

/* Several GEMMs on one A (cpu_matmul_group): A packed once, then the block
 * tasks of every member in one parallel run; member i owns tasks
 * first[i] .. first[i + 1] - 1. */
typedef struct group_job {
    gemm_job j[CPU_MM_GROUP_MAX];
    int64_t first[CPU_MM_GROUP_MAX + 1];
    int64_t per_part; /* first[n]: the tasks of one row part */
} group_job;

/* Tasks are [part][member's column blocks], so a thread's block of them is
 * its rows of every member. */
static void group_task(void *ctx, int64_t task, uint32_t thread)
{
    const group_job *g = ctx;
    int i = 0;
    const int64_t part = task / g->per_part, t = task % g->per_part;
    while (t >= g->first[i + 1])
        i++;
    block_run(&g->j[i], part * g->j[i].col_tasks + t - g->first[i], thread);
}

/* ---------------------------------------------------------------- 5 ---- */

/* Rows of a from which block weights are dequantised once into f32 chunks
 * rather than per row of a inside the block GEMV. Measured with
 * `bench-ops --shape gate/up --m M --threads 1` (2048 x 640, ms, GEMV |
 * chunks; PLINTH_CPU_BLOCK_MIN_M forces either path), a shared AVX2 host:
 *   M       2            4            6            8            12
 *   q8_0  0.23 | 0.40  0.38 | 0.64  0.61 | 0.58  0.79 | 0.94  1.34 | 1.15
 *   q4_0  0.18 | 0.31  0.51 | 0.64  0.77 | 0.61  0.70 | 0.68  1.75 | 1.35
 * The chunks win from about 6. */
#define BLOCK_PREFILL_MIN_M 6
static int64_t block_prefill_min_m(void)
{
    static _Atomic int64_t v = -1; /* atomic: as gemm_min_m's */
    int64_t m = atomic_load_explicit(&v, memory_order_relaxed);
    if (m < 0) {
        const char *e = getenv("PLINTH_CPU_BLOCK_MIN_M");
        m = e && atoll(e) > 0 ? atoll(e) : BLOCK_PREFILL_MIN_M;
        atomic_store_explicit(&v, m, memory_order_relaxed);
    }
    return m;
}

/* Weight rows per chunk: ~1 MB of f32 (in L2 while the f32 kernels read
 * it), whole 32-column panels. */
static int64_t block_chunk_rows(int64_t k)
{
    int64_t r = (256 * 1024 / k) / CPU_NR * CPU_NR;
    return r < CPU_NR ? CPU_NR : r;
}

static bool block_scratch(cpu_device *dev, int64_t m, int64_t k)
{
    if (!cpu_grow_floats(dev, &dev->wdeq, &dev->wdeq_size, (size_t)(block_chunk_rows(k) * k)))
        return false;
    return !dev->k->tile || gemm_scratch(dev, m, k);
}

typedef struct deq_job {
    const cpu_device *dev;
    const mm_problem *p;
    int64_t n0, n1, rows_per_task;
} deq_job;

static void deq_task(void *ctx, int64_t t, uint32_t thread)
{
    (void)thread;
    const deq_job *j = ctx;
    const mm_problem *p = j->p;
    for (int64_t r = j->n0 + t * j->rows_per_task;
         r < j->n1 && r < j->n0 + (t + 1) * j->rows_per_task; r++)
        if (p->w_x8)
            cpu_x8_dequant_row(j->dev, p->wdt, p->w, p->k, r,
                               j->dev->wdeq + (r - j->n0) * p->k);
        else
            cpu_dequant_row(j->dev, p->wdt, p->w + r * p->ldw,
                            j->dev->wdeq + (r - j->n0) * p->k, p->k);
}

/* Many rows of a against block weights: each chunk of weight rows is
 * dequantised once (exactly: the f32 values of plinth_dequant_block) and
 * the f32 kernels run on it, so prefill costs what f32 weights cost plus
 * one dequantisation of every weight. */
static void block_prefill(cpu_device *dev, const mm_problem *p)
{
    const int64_t chunk = block_chunk_rows(p->k);
    for (int64_t n0 = 0; n0 < p->n; n0 += chunk) {
        const int64_t n1 = n0 + chunk < p->n ? n0 + chunk : p->n;
        int64_t per = (n1 - n0 + 4 * dev->n_threads - 1) / (4 * dev->n_threads);
        deq_job dj = {dev, p, n0, n1, per < 1 ? 1 : per};
        cpu_parallel(dev, (n1 - n0 + dj.rows_per_task - 1) / dj.rows_per_task, deq_task, &dj);
        mm_problem q = *p;
        q.w = (const uint8_t *)dev->wdeq;
        q.ldw = p->k * 4;
        q.wdt = PLINTH_F32;
        q.w_x8 = false;
        q.n = n1 - n0;
        q.out = p->out + n0 * 4;
        if (dev->k->tile)
            gemm(dev, &q, NULL);
        else
            (void)gemv(dev, &q); /* f32: cannot fail */
    }
}

/* ---------------------------------------------------------------- 6 ---- */

/* Weights packed at load (plinth_plugin.h pack_size/pack):
 *   - q8_0, q4_0 and q4_K [N, K] read transposed, at a level with the
 *     packed int8 GEMV and q8_act on for the dtype (q8_0: precision=fast
 *     or q8_act=1): as groups of 8 interleaved rows (cpu_kernels.h
 *     CPU_X8_*; q8_0 and q4_0 the same bytes, q4_K 2.8% more, the last
 *     group padded). Decode runs gemv_x8_q8, which does per 8 rows
 *     and 32 columns what the plain int8 GEMV does per row: ~45
 *     instructions for 256 q4_0 weights instead of ~140, and no horizontal
 *     sums. Prefill dequantises the rows as from the plain ones.
 *     pack_weights=auto (the default) and 1.
 *   - f32 [N, K] read transposed, at a level with the GEMM: as the GEMM's
 *     own B panels, [ceil(N/32)][K][32] f32 (columns past N zero: the same
 *     bytes give or take the last panel's padding). Prefill then skips
 *     pack_b (the transpose of every panel on every call); decode reads the
 *     panels in order (gemv_panels). pack_weights=auto at AVX-512 (with
 *     the SIMD GEMV on panels) and 1. It paid once the GEMM split rows
 *     per thread (gemm_parts: both threads read every panel, which per
 *     call each would pack): on a Zen 5 guest, four alternating rounds,
 *     pack_weights=0 against auto, pp512 +4.5% at 2 threads, +3% at 1,
 *     tg128 +6%. Before that split it measured no faster there (69-71% of
 *     the FMA peak either way), and on an AVX2 host the plain layout was
 *     ahead, so AVX2 packs f32 only with pack_weights=1.
 *   - bf16 [N, K] read transposed, at a level with the pairs kernels
 *     (AVX-512): as the vdpbf16ps GEMM's B panels, [ceil(N/32)][ceil(K/2)]
 *     [32] u32 pairs of k (the same bytes, give or take padding). Exact
 *     prefill widens them in registers (tile_pairs: the f32 panels' bits),
 *     fast prefill feeds them to vdpbf16ps as they are, decode streams them
 *     (gemv_pairs), and get_rows reads its row out of them (cpu_panel_row),
 *     so a tied embedding is packed in place for both its readers.
 *     Measured on a 2-vCPU Zen 5 guest (gemma-3-270m, four alternating
 *     rounds against the plugin before it): exact pp512 +10% at 2 threads
 *     (73.0% -> 75.4% of the FMA peak), +8% at 1; tg128 +3% (median of
 *     the per-round ratios, 0.98-1.37). pack_weights=auto (the default)
 *     and 1.
 * f16 weights stay plain. A tensor that something else reads plain (a
 * fold, a reader on another backend) keeps its plain copy beside the twin,
 * whose bytes count in the persistent pool. */
/* bf16 [N, K] as pairs (the level has the three slots; pack_weights not 0). */
static bool packs_pairs(const cpu_device *dev, int32_t dt)
{
    return dt == PLINTH_BF16 && dev->pack_weights != CPU_PACK_OFF && dev->k->tile &&
           dev->k->pack_a && dev->k->pack_b_pairs && dev->k->tile_pairs && dev->k->gemv_pairs;
}

/* f32 [N, K] as the GEMM's panels: pack_weights=1, and auto at a level with
 * the SIMD GEMV on panels (AVX-512), where the GEMM's row parts pay (see
 * above). */
static bool packs_f32_panels(const cpu_device *dev, int32_t dt)
{
    return dt == PLINTH_F32 && dev->k->tile && dev->k->pack_b &&
           (dev->pack_weights == CPU_PACK_ALL ||
            (dev->pack_weights == CPU_PACK_AUTO && dev->k->gemv_panels));
}

uint64_t cpu_panels_bytes(int32_t dt, int64_t n, int64_t k)
{
    const uint64_t pans = (uint64_t)((n + CPU_NR - 1) / CPU_NR);
    return dt == PLINTH_BF16 ? pans * (uint64_t)((k + 1) / 2) * CPU_NR * 4
                             : pans * (uint64_t)k * CPU_NR * 4;
}

/* Row r (k long) of f32 panels or bf16 pairs (dt) into dst as f32: lane
 * r % 32 of its panel, one unit every 32. get_rows of a packed table: a
 * tied embedding is one tensor for it and the logits matmul, served from
 * this one layout instead of a plain copy beside it. */
#define ROW_PF 16
void cpu_panel_row(const void *panels, int32_t dt, int64_t k, int64_t r, float *dst)
{
    if (dt == PLINTH_F32) {
        const float *s = (const float *)panels + (r / CPU_NR) * k * CPU_NR + r % CPU_NR;
        for (int64_t i = 0; i < k; i++)
            dst[i] = s[i * CPU_NR];
        return;
    }
    const int64_t kp = (k + 1) / 2;
    const uint32_t *s = (const uint32_t *)panels + (r / CPU_NR) * kp * CPU_NR + r % CPU_NR;
    for (int64_t u = 0; u < kp; u++) {
        /* one cache line per pair: ask for those ahead (a prefill's 512
         * rows of the 270M's table: 1.7-3.1 ms without, 1.1-1.6 with, at
         * 2 threads; 48 ahead did no better) */
        if (u + ROW_PF < kp)
            __builtin_prefetch(&s[(u + ROW_PF) * CPU_NR]);
        const uint32_t w = s[u * CPU_NR], lo = w << 16, hi = w & 0xffff0000u;
        memcpy(&dst[2 * u], &lo, 4);
        if (2 * u + 1 < k)
            memcpy(&dst[2 * u + 1], &hi, 4);
    }
}

uint64_t cpu_get_rows_pack_size(cpu_device *dev, const plinth_view *out,
                                const plinth_view *table)
{
    const int32_t dt = table->dtype;
    const int64_t es = dt == PLINTH_BF16 ? 2 : 4;
    if (!(packs_pairs(dev, dt) || packs_f32_panels(dev, dt)) || table->shape[0] != 1 ||
        table->shape[1] != 1 || table->shape[2] < 1 || table->shape[3] < 1 ||
        table->stride[3] != es || table->stride[2] != es * table->shape[3] ||
        out->dtype != PLINTH_F32 || out->stride[3] != 4)
        return 0;
    return cpu_panels_bytes(dt, table->shape[2], table->shape[3]);
}

static bool packs_x8(const cpu_device *dev, int32_t dt)
{
    if (dt != PLINTH_Q8_0 && dt != PLINTH_Q4_0 && dt != PLINTH_Q4_K)
        return false;
    const int q = cpu_block_index(dt);
    return dev->pack_weights != CPU_PACK_OFF && dev->k->gemv_x8_q8[q] && dev->k->quantize_q8 &&
           dev->k->gemv_block_q8[q] && (dev->q8_act >> q & 1);
}

uint64_t cpu_matmul_pack_size(cpu_device *dev, const plinth_view *out, const plinth_view *a,
                              const plinth_view *b, bool tb)
{
    if (!tb || a->dtype != PLINTH_F32 || out->dtype != PLINTH_F32 || b->shape[0] != 1 ||
        b->shape[1] != 1 || a->stride[3] != 4 || out->stride[3] != 4 || b->shape[2] < 1 ||
        b->shape[3] < 1 || out->shape[2] < 1 ||
        b->stride[3] != (int64_t)plinth_dtype_block_bytes(b->dtype) ||
        b->stride[2] != (int64_t)plinth_dtype_row_bytes(b->dtype, b->shape[3]))
        return 0;
    if (packs_x8(dev, b->dtype))
        return cpu_x8_bytes(b->dtype, b->shape[2], b->shape[3]);
    if (packs_pairs(dev, b->dtype) || packs_f32_panels(dev, b->dtype))
        return cpu_panels_bytes(b->dtype, b->shape[2], b->shape[3]);
    return 0;
}

/* Every layout is a run of units, each made from `rows` consecutive plain
 * rows (8 for the x8 groups, 32 for panels and pairs) into `out_unit`
 * bytes, never fewer than the rows' own bytes. */
typedef struct pack_job {
    cpu_device *dev;
    const mm_problem *p; /* the whole plain tensor */
    uint8_t *dst;
    bool x8;
    int64_t rows, in_unit, out_unit; /* in_unit: rows * ldw */
    uint8_t *scratch; /* in place: in_unit bytes per thread, or NULL */
} pack_job;

/* Unit u from its plain rows at src into its place in dst. */
static void pack_unit(const pack_job *j, int64_t u, const uint8_t *src)
{
    const mm_problem *p = j->p;
    mm_problem q = *p;
    q.w = src;
    q.n = p->n - u * j->rows < j->rows ? p->n - u * j->rows : j->rows;
    uint8_t *dst = j->dst + u * j->out_unit;
    if (j->x8)
        cpu_x8_pack_group(p->wdt, src, p->ldw, q.n, p->k, 0, dst);
    else if (p->wdt == PLINTH_BF16)
        j->dev->k->pack_b_pairs(&q, 0, (uint32_t *)(void *)dst);
    else
        j->dev->k->pack_b(&q, 0, (float *)(void *)dst);
}

/* Unit u, its rows first copied aside when dst is plain's own memory. */
static void pack_task(void *ctx, int64_t u, uint32_t thread)
{
    const pack_job *j = ctx;
    const uint8_t *src = j->p->w + u * j->in_unit;
    if (j->scratch) {
        uint8_t *s = j->scratch + thread * j->in_unit;
        const int64_t left = j->p->n * j->p->ldw - u * j->in_unit;
        memcpy(s, src, (size_t)(left < j->in_unit ? left : j->in_unit));
        src = s;
    }
    pack_unit(j, u, src);
}

/* plain and packed may be one range (PLINTH_CAP_PACK_IN_PLACE: the host
 * made no copy of a param packed in place). Then each unit's rows are
 * copied aside before its unit is written over them; since a unit's bytes
 * start no earlier than its rows do, units made from the last one down
 * never write over rows not yet read, and where every unit is exactly its
 * rows' size (even K: pairs; f32 panels; q8_0 and q4_0 groups) they are
 * disjoint and run in parallel. */
int32_t cpu_matmul_pack(cpu_device *dev, const plinth_view *plain, const plinth_view *packed)
{
    const bool x8 = packs_x8(dev, plain->dtype);
    if (!plain->data || !packed->data ||
        !(x8 || packs_pairs(dev, plain->dtype) || packs_f32_panels(dev, plain->dtype)))
        return ref_fail(&dev->base, PLINTH_ERR_INVALID,
                        "cpu: pack: not a q8_0, q4_0, q4_K, bf16 or f32 weight of ours");
    const mm_problem p = {.w = plain->data, .ldw = plain->stride[2], .n = plain->shape[2],
                          .k = plain->shape[3], .wdt = plain->dtype, .tb = true};
    pack_job j = {dev, &p, packed->data, x8, x8 ? CPU_X8_ROWS : CPU_NR, 0, 0, NULL};
    j.in_unit = j.rows * p.ldw;
    j.out_unit = (int64_t)(x8 ? cpu_x8_bytes(p.wdt, j.rows, p.k)
                              : cpu_panels_bytes(p.wdt, j.rows, p.k));
    const int64_t units = (p.n + j.rows - 1) / j.rows;
    const uint8_t *pe = p.w + p.n * p.ldw, *de = j.dst + units * j.out_unit;
    if (!(pe <= j.dst || de <= p.w)) { /* one range */
        if (j.dst != p.w || j.out_unit < j.in_unit)
            return ref_fail(&dev->base, PLINTH_ERR_INVALID,
                            "cpu: pack: packed overlaps plain other than at its start");
        const bool apart = j.out_unit == j.in_unit;
        const uint32_t threads = apart ? cpu_pool_threads(dev) : 1;
        j.scratch = plugin_malloc(dev->base.inst, (size_t)j.in_unit * threads);
        if (!j.scratch)
            return ref_fail(&dev->base, PLINTH_ERR_NO_MEMORY, "cpu: pack: out of memory");
        if (apart && threads > 1)
            cpu_parallel(dev, units, pack_task, &j);
        else
            for (int64_t u = units - 1; u >= 0; u--)
                pack_task(&j, u, 0);
        plugin_free(dev->base.inst, j.scratch);
        return PLINTH_OK;
    }
    cpu_parallel(dev, units, pack_task, &j);
    return PLINTH_OK;
}

/* Decode (fewer rows than the GEMM takes) on packed panels: each task a
 * run of panels, each panel streamed once per row of a (it stays in L2
 * across rows), 32 outputs at a time. */
typedef struct panels_job {
    const cpu_device *dev;
    const mm_problem *p;
    const void *panels; /* f32, or (p->wdt bf16) pairs */
    int64_t per; /* panels per task */
} panels_job;

static void gemv_panels_task(void *ctx, int64_t t, uint32_t thread)
{
    const panels_job *j = ctx;
    const mm_problem *p = j->p;
    const int64_t pans = (p->n + CPU_NR - 1) / CPU_NR;
    const int64_t q1 = (t + 1) * j->per < pans ? (t + 1) * j->per : pans;
    if (p->wdt == PLINTH_BF16) {
        j->dev->k->gemv_pairs(p, j->panels, t * j->per, q1);
        return;
    }
    if (j->dev->k->gemv_panels) {
        j->dev->k->gemv_panels(p, j->panels, t * j->per, q1);
        return;
    }
    for (int64_t q = t * j->per; q < q1; q++) {
        const float *pan = (const float *)j->panels + q * p->k * CPU_NR;
        const int64_t n0 = q * CPU_NR, nr = p->n - n0 < CPU_NR ? p->n - n0 : CPU_NR;
        for (int64_t i = 0; i < p->m; i++) {
            const float *x = (const float *)(const void *)(p->a + i * p->lda);
            float acc[CPU_NR] = {0};
            for (int64_t kk = 0; kk < p->k; kk++) {
                const float xk = x[kk];
                const float *r = pan + kk * CPU_NR;
                for (int c = 0; c < CPU_NR; c++)
                    acc[c] += xk * r[c];
            }
            memcpy(p->out + i * p->ldo + n0 * 4, acc, (size_t)nr * 4);
        }
    }
}

static void gemv_panels(cpu_device *dev, const mm_problem *p, const void *panels)
{
    const int64_t pans = (p->n + CPU_NR - 1) / CPU_NR;
    const int64_t tasks = 8 * (int64_t)cpu_pool_threads(dev);
    panels_job j = {dev, p, panels, (pans + tasks - 1) / tasks};
    cpu_parallel_blocked(dev, (pans + j.per - 1) / j.per, gemv_panels_task, &j);
}

/* q4_0 or q4_K in 8-row groups: the packed int8 GEMV for few rows of a,
 * the dequantised chunks for many (as plain block weights). false: no
 * memory for the int8 activations or the chunks. */
static bool matmul_x8(cpu_device *dev, const plinth_view *out, const plinth_view *a,
                      const plinth_view *b)
{
    const int64_t m = out->shape[2];
    mm_problem p = {.lda = a->stride[2], .ldo = out->stride[2], .m = m, .n = out->shape[3],
                    .k = a->shape[3], .wdt = b->dtype, .tb = true, .w = b->data,
                    .w_x8 = true};
    const bool prefill = m >= block_prefill_min_m();
    if (prefill && !block_scratch(dev, m, p.k))
        return false;
    if (prefill) {
        cpu_count(dev, CPU_KC_DEQUANT, true);
        cpu_count(dev, dev->k->tile ? CPU_KC_GEMM : CPU_KC_GEMV, true);
    } else {
        cpu_count(dev, CPU_KC_GEMV_BLOCK, true);
    }
    for (int64_t o0 = 0; o0 < out->shape[0]; o0++)
        for (int64_t o1 = 0; o1 < out->shape[1]; o1++) {
            p.a = ref_at(a, a->shape[0] == 1 ? 0 : o0, a->shape[1] == 1 ? 0 : o1, 0, 0);
            p.out = ref_at(out, o0, o1, 0, 0);
            if (m == 1)
                p.lda = p.ldo = 0;
            if (prefill)
                block_prefill(dev, &p);
            else if (!gemv(dev, &p))
                return false;
        }
    return true;
}

/* ---------------------------------------------------------------- 7 ---- */

bool cpu_matmul_fast(cpu_device *dev, const plinth_view *out, const plinth_view *a,
                     const plinth_view *b, bool tb, bool packed)
{
    if (packed && plinth_dtype_block_elems(b->dtype) > 1) /* our 8-row groups */
        return matmul_x8(dev, out, a, b);
    if (packed) { /* b is our panels (pack_size checked the layouts) */
        const int64_t m = out->shape[2];
        mm_problem p = {.lda = a->stride[2], .ldo = out->stride[2], .m = m, .n = out->shape[3],
                        .k = a->shape[3], .wdt = b->dtype, .tb = true};
        const bool use_gemm = m >= gemm_min_m() && gemm_scratch(dev, m, p.k);
        cpu_count(dev, use_gemm ? CPU_KC_GEMM : CPU_KC_GEMV, true);
        if (use_gemm && gemm_on_bf16(dev, &p))
            cpu_count(dev, CPU_KC_GEMM_BF16, true);
        for (int64_t o0 = 0; o0 < out->shape[0]; o0++)
            for (int64_t o1 = 0; o1 < out->shape[1]; o1++) {
                p.a = ref_at(a, a->shape[0] == 1 ? 0 : o0, a->shape[1] == 1 ? 0 : o1, 0, 0);
                p.out = ref_at(out, o0, o1, 0, 0);
                if (m == 1)
                    p.lda = p.ldo = 0;
                if (use_gemm)
                    gemm(dev, &p, b->data);
                else
                    gemv_panels(dev, &p, b->data);
            }
        return true;
    }
    const bool block = plinth_dtype_block_elems(b->dtype) > 1;
    if (out->dtype != PLINTH_F32 || a->dtype != PLINTH_F32 || out->stride[3] != 4 ||
        a->stride[3] != 4 || b->stride[3] != (int64_t)plinth_dtype_block_bytes(b->dtype))
        return false;
    if (!block && b->dtype != PLINTH_F32 && b->dtype != PLINTH_BF16 && b->dtype != PLINTH_F16)
        return false;
    if (block && !tb)
        return false; /* b [K, N] blocked along N: ref's (weights are [N, K]) */
    const int64_t m = out->shape[2], n = out->shape[3], k = a->shape[3];
    if (m == 0 || n == 0)
        return true;
    if (k == 0 || b->shape[3] == 1 || (!tb && n == 1))
        return false; /* degenerate layouts: ref */
    mm_problem p = {.lda = a->stride[2], .ldw = b->stride[2], .ldo = out->stride[2],
                    .m = m, .n = n, .k = k, .wdt = b->dtype, .tb = tb};
    const bool use_block_prefill = block && m >= block_prefill_min_m();
    const bool use_gemm = !block && dev->k->tile && (m >= gemm_min_m() || !tb);
    if (use_gemm && !gemm_scratch(dev, m, k))
        return false; /* out of memory: ref needs none */
    if (use_block_prefill && !block_scratch(dev, m, k))
        return false;
    if (use_block_prefill) {
        cpu_count(dev, CPU_KC_DEQUANT, dev->k->dequant_row[cpu_block_index(b->dtype)] != NULL);
        cpu_count(dev, dev->k->tile ? CPU_KC_GEMM : CPU_KC_GEMV,
                  dev->k->tile || dev->k->gemv);
    } else if (block) {
        cpu_count(dev, CPU_KC_GEMV_BLOCK,
                  dev->k->gemv_block[cpu_block_index(b->dtype)] != NULL);
    } else if (use_gemm) {
        cpu_count(dev, CPU_KC_GEMM, true);
        if (gemm_on_bf16(dev, &p))
            cpu_count(dev, CPU_KC_GEMM_BF16, true);
    } else {
        cpu_count(dev, CPU_KC_GEMV, tb && dev->k->gemv);
    }
    for (int64_t o0 = 0; o0 < out->shape[0]; o0++)
        for (int64_t o1 = 0; o1 < out->shape[1]; o1++) {
            p.a = ref_at(a, a->shape[0] == 1 ? 0 : o0, a->shape[1] == 1 ? 0 : o1, 0, 0);
            p.w = ref_at(b, b->shape[0] == 1 ? 0 : o0, b->shape[1] == 1 ? 0 : o1, 0, 0);
            p.out = ref_at(out, o0, o1, 0, 0);
            if (m == 1)
                p.lda = p.ldo = 0;
            if (use_gemm)
                gemm(dev, &p, NULL);
            else if (use_block_prefill)
                block_prefill(dev, &p);
            else if (!gemv(dev, &p))
                return false; /* not reached: plain weights need no q8 */
        }
    return true;
}

/* One member's problem for cpu_matmul_group, or false where the member
 * would not take the blocked GEMM on its own (cpu_matmul_fast decides
 * those). Batch dims must be 1: the model projections are 2-D. */
static bool group_member(const plinth_view *out, const plinth_view *a, const plinth_view *b,
                         bool packed, mm_problem *p, const void **panels)
{
    for (int d = 0; d < 2; d++)
        if (out->shape[d] != 1 || a->shape[d] != 1 || b->shape[d] != 1)
            return false;
    const int64_t m = out->shape[2], n = out->shape[3], k = a->shape[3];
    if (out->dtype != PLINTH_F32 || a->dtype != PLINTH_F32 || out->stride[3] != 4 ||
        a->stride[3] != 4 || m < gemm_min_m() || n < 1 || k < 1 || a->shape[2] != m ||
        b->shape[2] != n || b->shape[3] != k)
        return false;
    *p = (mm_problem){.a = a->data, .lda = a->stride[2], .out = out->data, .ldo = out->stride[2],
                      .m = m, .n = n, .k = k, .tb = true};
    *panels = NULL;
    if (packed) { /* our f32 panels or bf16 pairs: the 8-row groups are decode's */
        if (plinth_dtype_block_elems(b->dtype) > 1)
            return false;
        p->wdt = b->dtype;
        *panels = b->data;
        return true;
    }
    if ((b->dtype != PLINTH_F32 && b->dtype != PLINTH_BF16 && b->dtype != PLINTH_F16) ||
        b->stride[3] != (int64_t)plinth_dtype_bytes(b->dtype))
        return false;
    p->w = b->data;
    p->ldw = b->stride[2];
    p->wdt = b->dtype;
    return true;
}

bool cpu_matmul_group(cpu_device *dev, int n, const plinth_view *const out[],
                      const plinth_view *a, const plinth_view *const b[], const bool packed[])
{
    if (!dev->k->tile || n < 2 || n > CPU_MM_GROUP_MAX)
        return false;
    mm_problem p[CPU_MM_GROUP_MAX];
    const void *panels[CPU_MM_GROUP_MAX];
    int64_t pans = 0;
    bool bf16 = false;
    for (int i = 0; i < n; i++) {
        if (!group_member(out[i], a, b[i], packed[i], &p[i], &panels[i]))
            return false;
        if (i == 0)
            bf16 = gemm_on_bf16(dev, &p[0]);
        else if (gemm_on_bf16(dev, &p[i]) != bf16)
            return false; /* A is packed one way for all of them */
        pans += (p[i].n + CPU_NR - 1) / CPU_NR;
    }
    if (!gemm_scratch(dev, p[0].m, p[0].k))
        return false; /* out of memory: the members one by one (ref needs none) */
    group_job g;
    const int64_t npan = gemm_task_panels(dev, pans, p[0].k);
    int64_t parts = gemm_parts(dev, &p[0], panels[0]);
    for (int i = 1; i < n; i++)
        if (gemm_parts(dev, &p[i], panels[i]) != parts)
            parts = 1; /* one member packs its panels per call */
    g.first[0] = 0;
    for (int i = 0; i < n; i++) {
        const int64_t col_tasks = ((p[i].n + CPU_NR - 1) / CPU_NR + npan - 1) / npan;
        g.j[i] = (gemm_job){.p = &p[i], .dev = dev, .npan = npan, .bf16 = bf16,
                            .panels = panels[i], .parts = parts, .col_tasks = col_tasks};
        g.first[i + 1] = g.first[i] + col_tasks;
        cpu_count(dev, CPU_KC_GEMM, true);
        if (bf16)
            cpu_count(dev, CPU_KC_GEMM_BF16, true);
    }
    cpu_count(dev, CPU_KC_GEMM_GROUP, true);
    gemm_pack_a(dev, &g.j[0]);
    g.per_part = g.first[n];
    cpu_parallel_blocked(dev, parts * g.per_part, group_task, &g);
    return true;
}

/* Called by prepare: size the GEMM buffers for the largest matmul once. */
bool cpu_matmul_reserve(cpu_device *dev, int64_t m, int64_t k)
{
    return gemm_scratch(dev, m, k);
}

/* The same for block weights: the largest matmul of them, m x k (its
 * quantised activations as a decode, its chunks as a prefill). */
bool cpu_matmul_reserve_block(cpu_device *dev, int64_t m, int64_t k)
{
    const int64_t mq = m < block_prefill_min_m() ? m : block_prefill_min_m() - 1;
    const size_t q8 = (size_t)(mq * k) / 4 + (size_t)(mq * k / 32) + (size_t)(mq * k / 16);
    if (dev->q8_act && !cpu_grow_floats(dev, &dev->aq8, &dev->aq8_size, q8))
        return false;
    return m < block_prefill_min_m() || block_scratch(dev, m, k);
}
