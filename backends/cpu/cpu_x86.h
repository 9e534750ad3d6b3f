/*
 * cpu_x86.h — the AVX-512 and AVX2 kernels (cpu_matmul_x86.c,
 * cpu_gemm_avx2.c, cpu_quant_x86.c, cpu_quant_avx512.c, cpu_rowwise_x86.c,
 * cpu_rowwise_avx2.c),
 * declared for the tables of cpu_isa_x86.c. Each implements the cpu_kernels
 * slot of the same name (cpu_kernels.h says what it must do); x86-64 only.
 */
#ifndef PLINTH_CPU_X86_H
#define PLINTH_CPU_X86_H

#if !defined(__x86_64__)
#error "cpu_x86.h is for the x86-64 kernel files only"
#endif

#include "cpu_kernels.h"

/* cpu_matmul_x86.c: the GEMVs (both prefetch rows up to pf_end), the
 * AVX-512 GEMM, and the vdpbf16ps GEMM (avx512_bf16). */
void cpu_gemv_avx512(const mm_problem *p, int64_t n0, int64_t n1, int64_t pf_end);
void cpu_gemv_avx2(const mm_problem *p, int64_t n0, int64_t n1, int64_t pf_end);
void cpu_pack_a_avx512(const mm_problem *p, int64_t blk, float *dst);
void cpu_pack_b_avx512(const mm_problem *p, int64_t n0, float *dst);
void cpu_tile_avx512(const float *ap, const float *bp, int64_t k, uint8_t *c, int64_t ldc,
                     int64_t mr, int64_t nr);
void cpu_tile_scale_avx512(const float *ap, const float *bp, int64_t k, uint8_t *c,
                           int64_t ldc, int64_t mr, int64_t nr, const float *rs);
void cpu_pack_rows_avx512(const float *const *rows, int nrows, int64_t k, float *dst);
void cpu_pack_a_bf16(const mm_problem *p, int64_t blk, uint32_t *dst);
void cpu_tile_bf16(const uint32_t *ap, const uint32_t *bp, int64_t kp, uint8_t *c, int64_t ldc,
                   int64_t mr, int64_t nr);
/* bf16 weights packed at load as pairs (cpu_matmul_x86.c section 5); the
 * packing is section 4's B panel, which needs no bf16 instruction. */
void cpu_pack_b_pairs_avx512(const mm_problem *p, int64_t n0, uint32_t *dst);
void cpu_tile_pairs_avx512(const float *ap, const uint32_t *bp, int64_t k, uint8_t *c,
                           int64_t ldc, int64_t mr, int64_t nr);
void cpu_gemv_pairs_avx512(const mm_problem *p, const uint32_t *panels, int64_t q0, int64_t q1);
void cpu_gemv_panels_avx512(const mm_problem *p, const float *panels, int64_t q0, int64_t q1);
/* cpu_probe_x86.c: the precision probe's loops (vfmadd, vdpbf16ps). */
float cpu_probe_f32_avx512(int64_t n);
float cpu_probe_bf16_avx512(int64_t n);

/* cpu_gemm_avx2.c: the GEMM of the AVX2 level (6 x 16 strips of the
 * shared 12 x 32 tile). */
void cpu_pack_a_avx2(const mm_problem *p, int64_t blk, float *dst);
void cpu_pack_b_avx2(const mm_problem *p, int64_t n0, float *dst);
void cpu_tile_avx2(const float *ap, const float *bp, int64_t k, uint8_t *c, int64_t ldc,
                   int64_t mr, int64_t nr);
void cpu_tile_scale_avx2(const float *ap, const float *bp, int64_t k, uint8_t *c, int64_t ldc,
                         int64_t mr, int64_t nr, const float *rs);
void cpu_pack_rows_avx2(const float *const *rows, int nrows, int64_t k, float *dst);

/* cpu_rowwise_avx2.c: the row-at-a-time kernels of the AVX2 level. */
void cpu_ew_row_avx2(uint32_t op, float sc, float *o, const float *a, const float *b, bool a_bc,
                     bool b_bc, int64_t n);
void cpu_norm_row_avx2(float *o, const float *x, const uint8_t *w, int32_t wdt, const float *mul,
                       int64_t n, float eps);
int64_t cpu_rope_row_avx2(const float *x, float *o, const float *cs, int64_t half);
float cpu_dot_avx2(const float *q, const uint8_t *k, int32_t kdt, int64_t d);
void cpu_axpy_avx2(float *acc, float c, float p, const uint8_t *v, int32_t vdt, int64_t d);
float cpu_fa_softmax_avx2(float *s, int64_t nbp, int64_t j0, int64_t lo, int64_t hi,
                          float scale, float *mx, float *sum);

/* cpu_quant_x86.c: block-dtype weights at AVX2 (the AVX-512 tables keep
 * the unpacked int8 GEMVs of q8_0, q4_0 and q4_K, which run only where
 * those weights are not packed): the GEMV and the dequantisation of a row,
 * per dtype. */
void cpu_gemv_q8_0_avx2(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q4_0_avx2(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q4_K_avx2(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q6_K_avx2(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q8_0_q8_avx2(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q4_0_q8_avx2(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q8_0x8_q8_avx2(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q4_0x8_q8_avx2(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q4_Kx8_q8_avx2(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q4_K_q8_avx2(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q6_K_q8_avx2(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_quantize_q8_avx2(const float *x, int8_t *q, float *d, float *s, int64_t k);
void cpu_dequant_q8_0_avx2(const uint8_t *src, float *dst, int64_t n);
void cpu_dequant_q4_0_avx2(const uint8_t *src, float *dst, int64_t n);
void cpu_dequant_q4_K_avx2(const uint8_t *src, float *dst, int64_t n);
void cpu_dequant_q6_K_avx2(const uint8_t *src, float *dst, int64_t n);

/* cpu_quant_avx512.c: block-dtype weights at AVX-512; the packed int8
 * GEMVs twice, with VNNI (_avx512vnni) and without (_avx512). */
void cpu_gemv_q8_0_avx512(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q4_0_avx512(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q4_K_avx512(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q6_K_avx512(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q6_K_q8_avx512(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_quantize_q8_avx512(const float *x, int8_t *q, float *d, float *s, int64_t k);
void cpu_gemv_q8_0x8_q8_avx512(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q4_0x8_q8_avx512(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q4_Kx8_q8_avx512(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q8_0x8_q8_avx512vnni(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q4_0x8_q8_avx512vnni(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_gemv_q4_Kx8_q8_avx512vnni(const mm_problem *p, int64_t n0, int64_t n1);
void cpu_dequant_q8_0_avx512(const uint8_t *src, float *dst, int64_t n);
void cpu_dequant_q4_0_avx512(const uint8_t *src, float *dst, int64_t n);
void cpu_dequant_q4_K_avx512(const uint8_t *src, float *dst, int64_t n);
void cpu_dequant_q6_K_avx512(const uint8_t *src, float *dst, int64_t n);

/* cpu_rowwise_x86.c: elementwise, rms_norm, rope and attention rows. */
void cpu_ew_row_avx512(uint32_t op, float s, float *o, const float *a, const float *b,
                       bool a_bc, bool b_bc, int64_t n);
void cpu_norm_row_avx512(float *o, const float *x, const uint8_t *w, int32_t wdt,
                         const float *mul, int64_t n, float eps);
int64_t cpu_rope_row_avx512(const float *x, float *o, const float *cs, int64_t half);
float cpu_dot_avx512(const float *q, const uint8_t *k, int32_t kdt, int64_t d);
void cpu_axpy_avx512(float *acc, float c, float p, const uint8_t *v, int32_t vdt, int64_t d);
float cpu_fa_softmax_avx512(float *s, int64_t nbp, int64_t j0, int64_t lo, int64_t hi,
                            float scale, float *mx, float *sum);

#endif /* PLINTH_CPU_X86_H */
