/*
 * cpu_precision.c — what `precision=fast` means on this CPU.
 *
 * Sections:
 *   1. the probe: the bf16 dot-product instruction against the f32 FMA,
 *      timed once per process
 *   2. the decision for a device (an explicit bf16_compute= wins)
 *   3. the line `plinth devices` and `plinth bench` print
 *
 * exact, the default, is f32 arithmetic on the weights' values as stored
 * (ref's, up to the order of the f32 sums). fast may round the activations
 * of a prefill matmul with bf16 weights to bf16 and multiply pairs with
 * vdpbf16ps (BFDOT on aarch64): 0.76% relative L2 on the golden model's
 * logits, held to 1% by tests/e2e/test_gemma.c. It does so only where the
 * instruction is faster here: on some CPUs with avx512_bf16 it runs at
 * half the rate of f32 FMA (README, Performance), on Zen 4/5 at twice.
 * So the probe times both, and fast is exact wherever bf16 would not pay.
 * fast also quantises the activations of q8_0 decode matmuls to int8, as
 * exact already does for the 4- and 6-bit types (cpu_quant.c): that one
 * pays on every CPU with the int8 GEMV, so it needs no probe.
 *
 * The probe's result is the one process-wide value of the plugin: it
 * describes the CPU, not a device, and is computed once under
 * pthread_once, so instances on several threads share it safely.
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "cpu_kernels.h"

/* ---------------------------------------------------------------- 1 ---- */

/* Iterations per pass: 16 chains x 50000 steps, ~0.1-0.3 ms on one core
 * (the slower instruction at half rate: twice that). */
#define PROBE_ITERS 50000
#define PROBE_PASSES 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double probe_ratio;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

/* The best of five alternating passes of each: a pass the OS interrupted
 * (the machine may be shared) only makes its time longer, so the shortest
 * is the instruction's own rate; alternating exposes both to the same
 * clock. A warm-up pass of each first (AVX-512 units power up, the
 * frequency settles). */
static void run_probe(void)
{
    cpu_arch arch;
    cpu_arch_detect(&arch);
    const cpu_kernels *k = arch.level[arch.best];
    if (!arch.bf16_gemm || !k->probe_f32 || !k->probe_bf16)
        return; /* 0: nothing to probe */
    volatile float sink = k->probe_f32(PROBE_ITERS / 4) + k->probe_bf16(PROBE_ITERS / 4);
    double t_f32 = 1e30, t_bf16 = 1e30;
    for (int pass = 0; pass < PROBE_PASSES; pass++) {
        double t0 = now_s();
        sink += k->probe_f32(PROBE_ITERS);
        double t1 = now_s();
        sink += k->probe_bf16(PROBE_ITERS);
        double t2 = now_s();
        t_f32 = t1 - t0 < t_f32 ? t1 - t0 : t_f32;
        t_bf16 = t2 - t1 < t_bf16 ? t2 - t1 : t_bf16;
    }
    (void)sink;
    /* the same instruction count; the bf16 one does two products a lane */
    probe_ratio = t_bf16 > 0 ? 2.0 * t_f32 / t_bf16 : 0;
}

double cpu_bf16_probe(void)
{
    pthread_once(&probe_once, run_probe);
    return probe_ratio;
}

/* ---------------------------------------------------------------- 2 ---- */

void cpu_precision_resolve(cpu_device *d)
{
    if (d->bf16_key >= 0)
        d->bf16_compute = d->bf16_key == 1; /* the explicit key wins */
    else
        d->bf16_compute = d->precision == PLINTH_PRECISION_FAST && d->has_bf16 &&
                          cpu_bf16_probe() >= CPU_BF16_MIN_SPEEDUP;
    d->bf16_compute = d->bf16_compute && d->has_bf16; /* asked for, and there */
    /* q8_0 decode on int8 activations: the packed int8 GEMV, faster than
     * the f32-activation one wherever it exists (cpu_quant.c) */
    d->q8_act = d->q8_key >= 0                              ? (uint32_t)d->q8_key
                : d->precision == PLINTH_PRECISION_FAST ? CPU_Q8_ACT_ALL
                                                        : CPU_Q8_ACT_AUTO;
}

/* ---------------------------------------------------------------- 3 ---- */

/* Why fast computes as exact at this level, into buf; false when it does
 * not (the bf16 GEMM pays here). */
static bool why_exact(const cpu_arch *arch, int isa, char *buf, size_t size)
{
    if (!arch->bf16_feature)
        snprintf(buf, size, "no bf16 kernel for this architecture");
    else if (!arch->bf16_gemm)
        snprintf(buf, size, "no %s on this CPU", arch->bf16_feature);
    else if (isa != arch->best || !arch->level[isa]->tile_bf16)
        snprintf(buf, size, "isa=%s has no bf16 GEMM", cpu_isa_name(isa));
    else if (cpu_bf16_probe() < CPU_BF16_MIN_SPEEDUP)
        snprintf(buf, size, "%s probed at %.2fx the f32 FMA rate, below %.1fx",
                 arch->bf16_insn, cpu_bf16_probe(), CPU_BF16_MIN_SPEEDUP);
    else
        return false;
    return true;
}

/* The line's tail where q8_0 decode runs on int8 activations: what this
 * level does with q8_act's bit for q8_0 (0 for exact's default, 1 for
 * fast's). */
static const char *q8_0_tail(const cpu_arch *arch, int isa, uint32_t q8_act)
{
    const int q = cpu_block_index(PLINTH_Q8_0);
    return (q8_act >> q & 1) && arch->level[isa]->gemv_block_q8[q] && arch->level[isa]->quantize_q8
               ? "; q8_0 decode in int8"
               : "";
}

void cpu_precision_line(const cpu_device *d, const cpu_arch *arch, int isa, char *buf,
                        size_t size)
{
    char why[96];
    if (!d) { /* device_info: what fast would do */
        const char *tail = q8_0_tail(arch, isa, CPU_Q8_ACT_ALL);
        if (why_exact(arch, isa, why, sizeof why))
            snprintf(buf, size, "fast: as exact, f32 arithmetic (%s)%s", why, tail);
        else
            snprintf(buf, size, "fast: bf16 dot products (%s) in bf16-weight prefill (probe: "
                     "%.2fx f32)%s", arch->bf16_insn, cpu_bf16_probe(), tail);
        return;
    }
    char asked[48];
    snprintf(asked, sizeof asked, "%s%s", d->precision == PLINTH_PRECISION_FAST ? "fast" : "exact",
             d->bf16_key < 0 ? "" : d->bf16_key ? " bf16_compute=1" : " bf16_compute=0");
    const char *tail = q8_0_tail(arch, d->isa, d->q8_act);
    if (d->bf16_compute)
        snprintf(buf, size, "%s: bf16 dot products (%s) in bf16-weight prefill, %llu matmuls so "
                 "far%s", asked, arch->bf16_insn,
                 (unsigned long long)d->calls[d->isa][CPU_KC_GEMM_BF16], tail);
    else if (((d->precision == PLINTH_PRECISION_FAST && d->bf16_key < 0) || d->bf16_key == 1) &&
             why_exact(arch, d->isa, why, sizeof why)) /* asked for bf16, and why not */
        snprintf(buf, size, "%s: as exact, f32 arithmetic (%s)%s", asked, why, tail);
    else
        snprintf(buf, size, "%s: f32 arithmetic%s", asked, tail);
}
