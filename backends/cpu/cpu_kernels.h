/*
 * cpu_kernels.h — one table of SIMD kernels per ISA level: what the generic
 * files of the cpu backend call, and what each level's files provide.
 *
 * The generic files (cpu_matmul.c, cpu_elementwise.c, cpu_rows.c,
 * cpu_attention.c) check layouts, split the work into tasks and call the
 * device's table; the SIMD bodies of each level live in files of their own,
 * built only on their architecture (meson picks them; each also refuses to
 * compile elsewhere): cpu_*_x86.c (AVX-512, AVX2), cpu_*_neon.c (NEON).
 * A NULL slot means that the level has no such kernel: the generic file's
 * portable loop runs instead, so the scalar level is the table with every
 * slot NULL, and a level may start with a few slots and grow.
 *
 * Sections:
 *   1. the matmul problem and the GEMM's packed layout (shared by levels)
 *   2. the table
 */
#ifndef PLINTH_CPU_KERNELS_H
#define PLINTH_CPU_KERNELS_H

#include "cpu.h"

/* ---------------------------------------------------------------- 1 ---- */

/* One 2-D problem: out[i][n] = sum_k a[i][k] * w(n, k), i < m, n < n_cols,
 * a f32 rows (inner stride 4, row stride lda bytes), out f32 rows (inner
 * stride 4, row stride ldo bytes), w of dtype wdt with
 *   tb: w(n, k) at w + n*ldw + k*esize   (weights stored [N][K])
 *   !tb: w(n, k) at w + k*ldw + n*esize  (weights stored [K][N])
 * A block dtype (q8_0, q4_0, q4_K, q6_K) comes tb only: row n is k / E
 * blocks from w + n*ldw (plinth_plugin.h's layouts). */
typedef struct mm_problem {
    const uint8_t *a, *w;
    uint8_t *out;
    int64_t lda, ldw, ldo; /* bytes */
    int64_t m, n, k;
    int32_t wdt;
    bool tb;
    /* Block weights with q8_act=1: row i of a quantised per block of 32 to
     * int8 (aq + i * k) with one f32 scale each (ad + i * k / 32), and
     * the sums of those per 16, times their scale (as + i * k / 16: the
     * K-quants' offsets and mins). */
    const int8_t *aq;
    const float *ad, *as;
    /* w is q8_0, q4_0 or q4_K packed at load as groups of 8 interleaved rows
     * (CPU_X8_*; ldw unused), not plain rows. */
    bool w_x8;
} mm_problem;

/* q8_0, q4_0 and q4_K weights packed at load (pack_weights, cpu_quant.c
 * section 3): rows in groups of 8 (the last padded with zero rows), each
 * group K / E units, one per block column (E = 32, or 256 for q4_K). A
 * unit holds the 8 rows' scales side by side, then their quant bytes
 * interleaved 4 at a time: chunk c (32 bytes) holds bytes 4c..4c+3 of
 * each row's quants (row j at 4j). One 8-lane register then holds a 4-byte
 * run of every row: the int8 dot products come out per row in its own
 * lane, with no horizontal sums, and one vcvtph2ps converts 8 scales.
 *   q8_0 (272 bytes: the plain rows' bytes): f16 d[8], 8 chunks.
 *   q4_0 (144 bytes: the plain rows' bytes): f16 d[8], 4 chunks.
 *   q4_K (1184 bytes, plain 1152): f16 d[8] at 0, f16 dmin[8] at 16,
 *        the 6-bit scales and mins unpacked to bytes, sc[sub][row] at 32
 *        and m[sub][row] at 96 (sub-block 0..7), then 32 chunks at 160
 *        (chunk 8h + t: bytes 32h + 4t.. of the 128 quant bytes, whose
 *        low nibbles are sub-block 2h and high ones 2h + 1). */
#define CPU_X8_ROWS 8
#define CPU_Q8_0X8_UNIT 272
#define CPU_Q4_0X8_UNIT 144
#define CPU_Q4_KX8_UNIT 1184
#define CPU_Q4_KX8_SC 32
#define CPU_Q4_KX8_M 96
#define CPU_Q4_KX8_QS 160

/* The GEMM's packed operands, the same at every level (the generic GEMM
 * and flash attention index them): A in blocks of CPU_MR rows as [k][12]
 * (rows past m zero), B in panels of CPU_NR columns as [k][32] f32
 * (columns past n zero), both 64-byte aligned. A level's tile computes a
 * 12 x 32 block from them however its registers allow. */
#define CPU_MR 12
#define CPU_NR 32

/* The block dtypes, q8_0 q4_0 q4_K q6_K, index the per-dtype slots. */
#define CPU_BLOCK_TYPES 4
static inline int cpu_block_index(int32_t dt)
{
    return dt - PLINTH_Q8_0;
}

/* q8_act's masks (cpu_device.q8_act): every block dtype (precision=fast),
 * and exact's: q4_0, q4_K and q6_K, whose f32-activation GEMV is bound by
 * unpacking and widening, not by the bytes (cpu_quant.c). */
#define CPU_Q8_ACT_ALL 0xfu
#define CPU_Q8_ACT_AUTO 0xeu

/* The fused elementwise op gelu_tanh(a) * b (cpu_gelu_mul_fast). */
#define CPU_OP_GELU_MUL 1000u

/* ---------------------------------------------------------------- 2 ---- */

struct cpu_kernels {
    int isa; /* enum cpu_isa */

    /* matmul, decode: rows [n0, n1) of the output columns, all m rows of
     * a, tb weights only; may prefetch weight rows up to row pf_end. */
    void (*gemv)(const mm_problem *p, int64_t n0, int64_t n1, int64_t pf_end);
    /* The same for block-dtype weights, one slot per block dtype
     * (cpu_block_index; f32 activations: cpu_quant.c), and one row of n
     * (whole blocks) dequantised to f32 exactly as plinth_dequant_block
     * does (prefill, get_rows, cast). A NULL slot: the portable loop. */
    void (*gemv_block[CPU_BLOCK_TYPES])(const mm_problem *p, int64_t n0, int64_t n1);
    void (*dequant_row[CPU_BLOCK_TYPES])(const uint8_t *src, float *dst, int64_t n);
    /* q8_act=1 (inexact, llama.cpp's way): the block GEMV on activations
     * quantised per block of 32 (p->aq, p->ad, p->as) with integer dot
     * products, and that quantisation of one row of k (a multiple of 32):
     * d = max|x| / 127, q = x / d rounded to nearest even, s = d * the sums
     * of q per 16. NULL: the f32 path runs. */
    void (*gemv_block_q8[CPU_BLOCK_TYPES])(const mm_problem *p, int64_t n0, int64_t n1);
    void (*quantize_q8)(const float *x, int8_t *q, float *d, float *s, int64_t k);
    /* The int8 GEMV on packed q8_0 / q4_0 / q4_K (p->w_x8; cpu_block_index):
     * output columns [n0, n1), n0 a multiple of 8. NULL: that dtype is not
     * packed at this level. */
    void (*gemv_x8_q8[CPU_BLOCK_TYPES])(const mm_problem *p, int64_t n0, int64_t n1);
    /* matmul, prefill (all four or none): pack block blk of A, pack the
     * panel at column n0 of w (tb or not), the 12 x 32 tile
     * c[i][j] = sum_k ap[k][i] * bp[k][j] for i < mr, j < nr (rows of c
     * ldc bytes apart), and its accumulating twin for flash attention,
     * c[i][j] = c[i][j] * rs[i] + sum. */
    void (*pack_a)(const mm_problem *p, int64_t blk, float *dst);
    void (*pack_b)(const mm_problem *p, int64_t n0, float *dst);
    void (*tile)(const float *ap, const float *bp, int64_t k, uint8_t *c, int64_t ldc,
                 int64_t mr, int64_t nr);
    void (*tile_scale)(const float *ap, const float *bp, int64_t k, uint8_t *c, int64_t ldc,
                       int64_t mr, int64_t nr, const float *rs);
    /* Arbitrary f32 rows rows[0..nrows) of length k as dst[k][12] (rows
     * past nrows zero): A blocks of Q and softmax weights in attention. */
    void (*pack_rows)(const float *const *rows, int nrows, int64_t k, float *dst);
    /* bf16_compute=1 (inexact): A rounded to bf16 and packed as pairs
     * dst[ceil(k/2)][12] (u32: k even in the low half), B as pairs
     * [ceil(k/2)][32], the tile on pairs. NULL where the level has none;
     * used only when the CPU runs them (cpu_arch.bf16_gemm). */
    void (*pack_a_bf16)(const mm_problem *p, int64_t blk, uint32_t *dst);
    void (*pack_b_bf16)(const mm_problem *p, int64_t n0, uint32_t *dst);
    void (*tile_bf16)(const uint32_t *ap, const uint32_t *bp, int64_t kp, uint8_t *c,
                      int64_t ldc, int64_t mr, int64_t nr);
    /* bf16 weights [N][K] packed at load (pack_weights; cpu_matmul.c
     * section 6) as the pairs above, [ceil(N/32)][ceil(K/2)][32]: the
     * packing of the panel at column n0 (as pack_b_bf16, which the bf16
     * levels point at the same function), the tile with f32 A (exact: the
     * bits of `tile` on the widened panel), and decode's GEMV over panels
     * [q0, q1) for every row of a. All three or none. */
    void (*pack_b_pairs)(const mm_problem *p, int64_t n0, uint32_t *dst);
    void (*tile_pairs)(const float *ap, const uint32_t *bp, int64_t k, uint8_t *c, int64_t ldc,
                       int64_t mr, int64_t nr);
    void (*gemv_pairs)(const mm_problem *p, const uint32_t *panels, int64_t q0, int64_t q1);
    /* Decode's GEMV over f32 weights packed at load as pack_b's panels
     * ([ceil(N/32)][K][32]; pack_weights=1), panels [q0, q1). NULL: the
     * portable loop. */
    void (*gemv_panels)(const mm_problem *p, const float *panels, int64_t q0, int64_t q1);
    /* The precision probe's loops (cpu_precision.c times them), set with
     * the bf16 slots: n iterations of 16 independent chains of the level's
     * f32 FMA, and of its bf16 dot-product instruction on the same vector
     * width (two products per f32 lane, so twice the products per
     * instruction). Each returns a sum of its chains, to keep them live. */
    float (*probe_f32)(int64_t n);
    float (*probe_bf16)(int64_t n);

    /* elementwise: n f32 elements, out contiguous; a and b contiguous or
     * one broadcast scalar (a_bc, b_bc); b NULL for the unary ops (scale
     * by s, gelu_tanh, silu); op is a PLINTH_OP_ or CPU_OP_GELU_MUL. Reads
     * each element before writing it (out may be a or b). */
    void (*ew_row)(uint32_t op, float s, float *o, const float *a, const float *b, bool a_bc,
                   bool b_bc, int64_t n);
    /* rms_norm of one row of n: o = x / rms(x) [* w (dtype wdt)] [* mul]. */
    void (*norm_row)(float *o, const float *x, const uint8_t *w, int32_t wdt, const float *mul,
                     int64_t n, float eps);
    /* rope's rotation of the first pairs of a row (cs: [cos x half][sin x
     * half]), with a separate rounding of every product (as ref): returns
     * how many of the half pairs it did; the caller does the rest. */
    int64_t (*rope_row)(const float *x, float *o, const float *cs, int64_t half);
    /* attention, a row at a time: q . k (k of dtype kdt), and
     * acc = acc * c + p * v (v of dtype vdt). */
    float (*dot)(const float *q, const uint8_t *k, int32_t kdt, int64_t d);
    void (*axpy)(float *acc, float c, float p, const uint8_t *v, int32_t vdt, int64_t d);
    /* Flash attention's online softmax on one row of scores s[0..nbp)
     * (keys j0 + c; nbp a multiple of 32): masks keys outside [lo, hi)
     * to -inf, scales by `scale`, takes the new maximum over *mx, writes
     * exp(s - max) over s (0 where every key is masked), updates *mx and
     * *sum, and returns the factor the row's old accumulator must be
     * multiplied by. Needs the GEMM slots too. */
    float (*fa_softmax)(float *s, int64_t nbp, int64_t j0, int64_t lo, int64_t hi, float scale,
                        float *mx, float *sum);
};

/* The scalar level's block kernels (cpu_quant.c), which the others fall
 * back on where their table has no slot. */
void cpu_gemv_block_portable(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_dequant_row_portable(int32_t dt, const uint8_t *src, float *dst, int64_t n);

/* Weights [n][k] packed at load as the GEMM's panels (dt f32: pack_b's
 * layout) or pairs (dt bf16: pack_b_pairs'; cpu_matmul.c section 6): the
 * bytes, and row r (k long) of them as f32. */
uint64_t cpu_panels_bytes(int32_t dt, int64_t n, int64_t k);
void cpu_panel_row(const void *panels, int32_t dt, int64_t k, int64_t r, float *dst);

/* q8_0, q4_0 and q4_K packed in groups of 8 rows (cpu_quant.c section 3),
 * dt one of the three: the bytes of n rows of k, group g packed from the plain
 * rows (ldw bytes apart), and row r dequantised. */
uint64_t cpu_x8_bytes(int32_t dt, int64_t n, int64_t k);
void cpu_x8_pack_group(int32_t dt, const uint8_t *plain, int64_t ldw, int64_t n, int64_t k,
                       int64_t g, uint8_t *dst);
void cpu_x8_dequant_row(const cpu_device *dev, int32_t dt, const uint8_t *packed, int64_t k,
                        int64_t r, float *dst);

#endif /* PLINTH_CPU_KERNELS_H */
