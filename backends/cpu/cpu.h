/*
 * cpu.h — internals shared by the files of the cpu backend.
 *
 * The cpu backend runs every op ref runs. Common layouts (contiguous rows of
 * f32, bf16/f16 weights) take SIMD fast paths; everything else falls back to
 * ref's own kernels, compiled into this plugin (the backends/ref sources minus the
 * entry file), so the rare cases have exactly ref's semantics by
 * construction and `supports` is ref's validation.
 *
 * Sections:
 *   1. the device object (prefixed by ref's, so ref_fail and the fallback
 *      kernels can take it), its ISA level and kernel table
 *      (cpu_kernels.h); the instance is ref's (ref_views.c: host services
 *      and the instance slots)
 *   2. the thread pool                            (cpu_pool.c)
 *   3. ISA levels: which this machine runs, which one a device uses, and
 *      the kernel calls counted per level        (cpu_isa.c)
 *   4. fast kernels: each returns true when it ran the case, false when the
 *      caller must fall back to ref (one file per op family)
 *   5. the program path: fusion and replay         (cpu_program.c)
 */
#ifndef PLINTH_CPU_H
#define PLINTH_CPU_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ref.h"

/* ---------------------------------------------------------------- 1 ---- */

/* The ISA levels. Each but scalar belongs to one architecture and is
 * built only there (cpu_isa_x86.c, cpu_isa_arm.c); a machine runs scalar
 * and the levels of its own family that its CPU and OS allow. */
enum cpu_isa { CPU_ISA_SCALAR, CPU_ISA_AVX2, CPU_ISA_AVX512, CPU_ISA_NEON, CPU_ISA_COUNT };

/* Kernel families counted per level (cpu_count): which kernels a device
 * really ran, for tests and `--verbose` (logged when the device closes). */
enum cpu_kc {
    CPU_KC_GEMV, CPU_KC_GEMM, CPU_KC_ELEMENTWISE, CPU_KC_RMS_NORM, CPU_KC_ROPE,
    CPU_KC_ATTENTION, CPU_KC_FLASH, CPU_KC_GEMV_BLOCK, CPU_KC_DEQUANT,
    CPU_KC_GEMM_BF16, /* the GEMMs of CPU_KC_GEMM that ran on bf16 pairs */
    CPU_KC_GEMM_GROUP, /* jobs of several GEMMs on one A (cpu_matmul_group) */
    CPU_KC_COUNT
};

typedef struct cpu_pool cpu_pool;
typedef struct cpu_kernels cpu_kernels;

/* Which matmul weights the device stores in its own layout at load
 * (pack_weights=0|auto|1; cpu_matmul.c section 6 says why): none; q4_0 as
 * 8-row groups for the int8 GEMV (the default); and f32 as GEMM panels. */
enum cpu_pack { CPU_PACK_OFF, CPU_PACK_AUTO, CPU_PACK_ALL };

typedef struct cpu_device {
    plinth_device base;   /* first: the ref kernels and ref_fail see this */
    int isa;              /* enum cpu_isa in use                          */
    const cpu_kernels *k; /* its kernel table (cpu_kernels.h)             */
    bool has_bf16;        /* k has the bf16 GEMM and the CPU runs it      */
    bool bf16_compute;    /* prefill matmul with vdpbf16ps (inexact)      */
    int32_t precision;    /* enum plinth_precision asked for (option or key) */
    int8_t bf16_key;      /* bf16_compute= as given: -1 not given, 0 or 1 */
    uint8_t pack_weights; /* pack_weights=: enum cpu_pack                  */
    uint32_t n_threads;
    cpu_pool *pool;
    float *scratch[64];   /* per-thread packing buffers (GEMM), or NULL   */
    size_t scratch_size;  /* floats in each                               */
    float *apack;         /* shared packed-A buffer for GEMM              */
    size_t apack_size;    /* floats                                       */
    float *attn_pack;     /* packed K and V of one attention call (prefill) */
    size_t attn_pack_size; /* floats                                      */
    float *wdeq;          /* block weights dequantised for a prefill chunk */
    size_t wdeq_size;     /* floats                                       */
    /* Bit cpu_block_index(dt): decode on block weights of dtype dt with
     * int8 activations (q8_act; cpu_quant.c has the default and why). */
    uint32_t q8_act;
    int8_t q8_key;        /* q8_act= as given: -1 not given, else its mask */
    float *aq8;           /* the activations quantised (q8_act: int8, scales) */
    size_t aq8_size;      /* floats                                       */
    struct cpu_rope_freq {  /* rope inverse frequencies, by (base, n_dims) */
        float base;
        int32_t n_dims;
        double inv[256];
    } rope_freq[4];
    uint32_t rope_next;   /* round-robin slot to refill                   */
    /* Kernel calls per level and family: counted by the calling thread
     * (one call at a time per device), before any task is handed out. */
    uint64_t calls[CPU_ISA_COUNT][CPU_KC_COUNT];
} cpu_device;

/* A table of cos/sin for T positions and n_dims/2 frequencies, reused by
 * every rope step of a program with the same base, n_dims and positions
 * (q and k of every layer), or every rope_factors step with also the same
 * factors. Filled lazily; `pos` (and `factors`) keep what it was filled
 * for. */
typedef struct cpu_rope_table {
    float base;
    int32_t n_dims;
    bool scaled;        /* rope_factors steps        */
    float factors[256]; /* if scaled: [n_dims/2]     */
    int64_t t;          /* positions held, 0: empty  */
    int64_t cap_t;      /* room for                  */
    int32_t *pos;       /* [cap_t]                   */
    float *cs;          /* [cap_t][n_dims/2][2]      */
} cpu_rope_table;

static inline cpu_device *cpu_dev(plinth_device *d)
{
    return (cpu_device *)d;
}

/* The instance the device was opened from: its host's log and allocator. */
static inline plinth_instance *cpu_inst(cpu_device *d)
{
    return d->base.inst;
}

static inline float cpu_bf16_to_f32(uint16_t h)
{
    union { uint32_t u; float f; } v = {.u = (uint32_t)h << 16};
    return v.f;
}

float cpu_f16_to_f32(uint16_t h);
/* Loads element i of a float row of dtype dt as f32 (exact). */
float cpu_load_f(const uint8_t *row, int32_t dt, int64_t i);

/* ---------------------------------------------------------------- 2 ---- */

/* fn(ctx, task, thread) runs tasks [0, n_tasks) handed out dynamically; the
 * caller's thread takes part. With one thread, or n_tasks == 1, it runs
 * inline. Not reentrant: one parallel region at a time per pool. */
typedef void (*cpu_task_fn)(void *ctx, int64_t task, uint32_t thread);

/* The pool's bookkeeping comes from `inst`'s allocator. Fails only with
 * PLINTH_ERR_NO_MEMORY, and then leaves nothing behind (no thread, no
 * block); a thread the system refuses to start just means fewer threads. */
int32_t cpu_pool_create(plinth_instance *inst, uint32_t n_threads, cpu_pool **out);
void cpu_pool_destroy(cpu_pool *pool);
void cpu_parallel(cpu_device *dev, int64_t n_tasks, cpu_task_fn fn, void *ctx);
/* The same, but the tasks are cut into one contiguous block per thread
 * (block b: tasks [cpu_block_start(n, T, b), cpu_block_start(n, T, b + 1))
 * with T = cpu_pool_threads()), each thread runs its own block in order
 * and then helps with the others: a streaming kernel sees one long run of
 * addresses per thread and may prefetch across its tasks' boundaries up to
 * its block's end; and ops over the same rows one after another (norms,
 * elementwise ops, rope, pack_a, the GEMM's row parts) leave each row with
 * the thread that wrote it, whose cache still holds it (reading another
 * core's fresh writes ran ~3x slower on a 2-vCPU Zen 5 guest). */
void cpu_parallel_blocked(cpu_device *dev, int64_t n_tasks, cpu_task_fn fn, void *ctx);
int64_t cpu_block_start(int64_t n_tasks, uint32_t n_blocks, uint32_t b);
/* Threads the next job will run on (1 while the pool runs jobs inline). */
uint32_t cpu_pool_threads(cpu_device *dev);
/* PLINTH_CPU_PROFILE's account of the pools (process-wide, as the rest of
 * that profile): after cpu_pool_profile_start, every job adds its wall
 * time times its pool's threads to *thread_ns, every task its own time to
 * *task_ns, and the difference is what the threads spent waiting at job
 * ends and in hand-offs (or idle while the pool ran jobs inline). */
void cpu_pool_profile_start(void);
void cpu_pool_profile_read(int64_t *jobs, int64_t *thread_ns, int64_t *task_ns);
/* One spin-wait step: the architecture's hint (pause, yield) or nothing;
 * in its ISA file (cpu_isa_x86.c, cpu_isa_arm.c, cpu_isa_generic.c). */
void cpu_relax(void);

/* ---------------------------------------------------------------- 3 ---- */

/* What this machine runs: one kernel table per level it has (NULL where
 * it lacks one; [CPU_ISA_SCALAR] always set), the best of them, and the
 * CPU's extra features as `plinth devices` shows them. */
typedef struct cpu_arch {
    const cpu_kernels *level[CPU_ISA_COUNT];
    int best;
    bool bf16_gemm;  /* the best level's table has a bf16 GEMM the CPU runs */
    char flags[96];  /* e.g. "avx512_bf16", "fp16 bf16 dotprod"; may be "" */
    /* The CPU feature the bf16 GEMM needs on this architecture and its
     * instruction ("avx512_bf16", "vdpbf16ps"; "FEAT_BF16", "BFDOT"), for
     * messages; NULL on an architecture with no bf16 GEMM. */
    const char *bf16_feature, *bf16_insn;
} cpu_arch;

/* Filled by the architecture's own file (cpu_isa_x86.c, cpu_isa_arm.c,
 * cpu_isa_generic.c: meson builds exactly one). Cheap, no side effects. */
void cpu_arch_detect(cpu_arch *out);
/* The level names ("scalar", "avx2", "avx512", "neon"); cpu_isa_parse
 * gives -1 for any other name. */
const char *cpu_isa_name(int isa);
int cpu_isa_parse(const char *name);
/* The level a device gets: the best, lowered by PLINTH_CPU_ISA when that
 * names a level this machine has (so the suites can test each level). */
int cpu_isa_default(const cpu_arch *a);
/* Every level name, as "scalar, avx2, avx512 or neon" (messages). */
const char *cpu_isa_all(void);
extern const cpu_kernels cpu_kernels_scalar;

/* One core's L2 in bytes (cpu_cache.c): sysconf, else sysfs, else 1 MiB.
 * cpu_cache_parse_size reads sysfs's "512K" / "1M" (0: not a size). */
size_t cpu_l2_bytes(void);
size_t cpu_cache_parse_size(const char *s);

/* One call of family kc: on the device's level when `simd` (its kernel
 * table ran it), else on the portable loop. */
static inline void cpu_count(cpu_device *dev, int kc, bool simd)
{
    dev->calls[simd ? dev->isa : CPU_ISA_SCALAR][kc]++;
}
/* "neon: gemv 12, gemm 3, ...; scalar: ..." (levels with any call) into buf. */
void cpu_calls_format(const cpu_device *dev, char *buf, size_t size);

/* Precision (cpu_precision.c). The probe: products per second of the
 * best level's bf16 dot-product instruction over those of its f32 FMA,
 * measured once per process (a few ms, the first time a device opens or
 * is listed); 0 where the CPU has no bf16 GEMM. fast uses the bf16 GEMM
 * when the ratio is at least CPU_BF16_MIN_SPEEDUP. */
#define CPU_BF16_MIN_SPEEDUP 1.5
double cpu_bf16_probe(void);
/* Sets d->bf16_compute from what was asked (d->precision, d->bf16_key: an
 * explicit bf16_compute= wins), d->has_bf16 and the probe. */
void cpu_precision_resolve(cpu_device *d);
/* One line for plinth_device_info.precision: what precision fast would do
 * on a device opened at level `isa` (device_info), or what the open
 * device `d` does and how many bf16 GEMMs ran (d not NULL). */
void cpu_precision_line(const cpu_device *d, const cpu_arch *arch, int isa, char *buf,
                        size_t size);

/* ---------------------------------------------------------------- 4 ---- */

/* packed: b is the weight in our layout, made at load (cpu_matmul_pack). */
bool cpu_matmul_fast(cpu_device *dev, const plinth_view *out, const plinth_view *a,
                     const plinth_view *b, bool tb, bool packed);
/* Up to CPU_MM_GROUP_MAX matmuls out[i] = a x b[i]^T on one a (a layer's
 * q, k and v projections; gate and up) as one GEMM: a packed once, the
 * members' panel blocks as the tasks of one parallel run. false, having
 * done nothing: some member would not take the blocked GEMM alone (too
 * few rows, a block dtype, batch dims, ...) or no memory; run each with
 * cpu_matmul_fast then. The caller has made sure no out overlaps a or
 * another out. */
#define CPU_MM_GROUP_MAX 4
bool cpu_matmul_group(cpu_device *dev, int n, const plinth_view *const out[],
                      const plinth_view *a, const plinth_view *const b[], const bool packed[]);
/* The plugin's pack_size/pack for matmul's b (cpu_matmul.c): the bytes of
 * a q4_0 [N, K] weight as 8-row groups or of an f32 one as the GEMM's
 * panels (0: keep it plain), and the packing. */
uint64_t cpu_matmul_pack_size(cpu_device *dev, const plinth_view *out, const plinth_view *a,
                              const plinth_view *b, bool tb);
int32_t cpu_matmul_pack(cpu_device *dev, const plinth_view *plain, const plinth_view *packed);
/* get_rows' table (input 0): the bytes of a bf16 [V, K] table as the
 * matmul's bf16 pairs, so a tied embedding is packed once for both (0:
 * keep it plain). cpu_matmul_pack packs it. */
uint64_t cpu_get_rows_pack_size(cpu_device *dev, const plinth_view *out,
                                const plinth_view *table);
bool cpu_binary_fast(cpu_device *dev, uint32_t op, const plinth_view *out,
                     const plinth_view *a, const plinth_view *b);
bool cpu_unary_fast(cpu_device *dev, uint32_t op, const plinth_view *out,
                    const plinth_view *x, float s);
/* rms_norm; when `mul` is not NULL the result is also multiplied by it
 * elementwise (the fused rms_norm -> mul step), mul being out-shaped f32. */
bool cpu_rms_norm_fast(cpu_device *dev, const plinth_view *out, const plinth_view *x,
                       const plinth_view *w, float eps, const plinth_view *mul);
bool cpu_softmax_fast(cpu_device *dev, const plinth_view *out, const plinth_view *x,
                      const plinth_view *mask, float scale);
/* rope, or rope_factors when factors is not NULL (f32 [n_dims/2]). */
bool cpu_rope_fast(cpu_device *dev, const plinth_view *out, const plinth_view *x,
                   const plinth_view *pos, const plinth_view *factors,
                   const plinth_attr_rope *a);
/* The same with a table (NULL: compute the angles in place). */
bool cpu_rope_table_fast(cpu_device *dev, const plinth_view *out, const plinth_view *x,
                         const plinth_view *pos, const plinth_view *factors,
                         const plinth_attr_rope *a, cpu_rope_table *table);
bool cpu_matmul_reserve(cpu_device *dev, int64_t m, int64_t k);
bool cpu_matmul_reserve_block(cpu_device *dev, int64_t m, int64_t k);
bool cpu_attention_fast(cpu_device *dev, const plinth_view *out, const plinth_view *in,
                        const plinth_attr_attention *a);
bool cpu_get_rows_fast(cpu_device *dev, const plinth_view *out, const plinth_view *table,
                       const plinth_view *idx);
bool cpu_set_rows_fast(cpu_device *dev, const plinth_view *out, const plinth_view *src,
                       const plinth_view *idx);
bool cpu_copy_fast(cpu_device *dev, const plinth_view *out, const plinth_view *x);
bool cpu_argmax_fast(cpu_device *dev, const plinth_view *out, const plinth_view *x);
/* Block-dtype tensors (cpu_quant.c): get_rows of a block table into f32
 * rows (indices already checked), cast to f32/f16/bf16 rows. */
bool cpu_get_rows_block(cpu_device *dev, const plinth_view *out, const plinth_view *table,
                        const plinth_view *idx);
bool cpu_cast_block(cpu_device *dev, const plinth_view *out, const plinth_view *x);
/* n elements (whole blocks) of a block-dtype row as f32, exactly as
 * plinth_dequant_block: the level's kernel or the portable loop. */
void cpu_dequant_row(const cpu_device *dev, int32_t dt, const uint8_t *src, float *dst,
                     int64_t n);
/* gelu_tanh(g) * u into out, all f32 with the same shape (fused step). */
bool cpu_gelu_mul_fast(cpu_device *dev, const plinth_view *out, const plinth_view *g,
                       const plinth_view *u);

/* Runs one op: the fast path when it applies, else ref's kernel. No checks
 * beyond what the fallback does: callers validated the instruction. */
int32_t cpu_run_op(cpu_device *dev, uint32_t op, const plinth_view *out,
                   const plinth_view *in, uint32_t n_in, const void *attrs);

/* ---------------------------------------------------------------- 5 ---- */

int32_t cpu_prepare(plinth_device *dev, const plinth_instruction *code, uint32_t n,
                    size_t instruction_size, void **out_program);
int32_t cpu_execute(plinth_device *dev, void *program);
void cpu_release(plinth_device *dev, void *program);

/* Kernel scratch (cpu_matmul.c), from the device's host allocator: grows
 * *p (64-byte aligned, *have floats, freed with cpu_free_floats) to hold at
 * least `want` floats; the old contents are not kept. False: out of memory
 * (then *p is NULL and *have 0; the caller falls back to ref). Sized
 * outside the hot path. */
bool cpu_grow_floats(cpu_device *dev, float **p, size_t *have, size_t want);
void cpu_free_floats(cpu_device *dev, float *p);

#endif /* PLINTH_CPU_H */
