/*
 * readbw.c — the read-bandwidth reference (readbw.h).
 *
 * Decode is read-bound: its figure of merit is bytes per token times
 * tokens/s against what this machine can read right now, and on a shared
 * machine "right now" moves by 2x within minutes. Each thread sums its share
 * in four streams (a single stream per core leaves bandwidth on the table:
 * the GEMV reads 4 rows at once) with eight independent accumulators and
 * software prefetch 2 KB ahead, so the ratio kernel/reference is not
 * flattered by a weak loop. Plain C vectors, built for AVX-512, AVX2 and
 * the baseline (target_clones picks at load time on x86-64 GCC): with
 * 16-byte loads the same loop read 24 GB/s where 64-byte ones read 30+.
 */
#include "readbw.h"
#include "timing.h"


typedef float v16 __attribute__((vector_size(64)));

typedef struct part {
    const v16 *p;
    size_t n; /* v16s: 4 streams of n / 4 */
    float out;
} part;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void *sum_part(void *arg)
{
    part *a = arg;
    v16 acc[8] = {{0}};
    const size_t q = a->n / 4 / 2 * 2;
    const v16 *p0 = a->p, *p1 = p0 + q, *p2 = p1 + q, *p3 = p2 + q;
    for (size_t i = 0; i + 2 <= q; i += 2) {
        __builtin_prefetch((const char *)(p0 + i) + 2048, 0, 3);
        __builtin_prefetch((const char *)(p1 + i) + 2048, 0, 3);
        __builtin_prefetch((const char *)(p2 + i) + 2048, 0, 3);
        __builtin_prefetch((const char *)(p3 + i) + 2048, 0, 3);
        acc[0] += p0[i];
        acc[1] += p0[i + 1];
        acc[2] += p1[i];
        acc[3] += p1[i + 1];
        acc[4] += p2[i];
        acc[5] += p2[i + 1];
        acc[6] += p3[i];
        acc[7] += p3[i + 1];
    }
    float s = 0;
    for (int j = 0; j < 8; j++)
        for (int l = 0; l < 16; l++)
            s += acc[j][l];
    a->out = s;
    return NULL;
}

double readbw_measure(const void *buf, size_t bytes, uint32_t threads, uint32_t samples)
{
    enum { MAX_SAMPLES = 32 };
    threads = threads < 1 ? 1 : threads > TIMING_MAX_THREADS ? TIMING_MAX_THREADS : threads;
    samples = samples < 1 ? 1 : samples > MAX_SAMPLES ? MAX_SAMPLES : samples;
    const size_t n = bytes / sizeof(v16);
    const v16 *v = buf;
    double gbs[MAX_SAMPLES];
    for (uint32_t s = 0; s < samples; s++) {
        part a[TIMING_MAX_THREADS];
        for (uint32_t i = 0; i < threads; i++)
            a[i] = (part){v + n / threads * i, n / threads, 0};
        double t;
        const uint32_t started = timing_run_threads(sum_part, a, sizeof a[0], threads, &t);
        gbs[s] = t > 0 ? (double)(n / threads * started) * sizeof(v16) / t / 1e9 : 0;
    }
    return timing_median(gbs, samples);
}
