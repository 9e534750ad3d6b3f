/*
 * cli_readbw.c — the read bandwidth `plinth bench` compares decode with.
 *
 * Decode is read-bound: its figure of merit is the weight bytes per token
 * times tokens/s against what this machine can read right now, and on a
 * shared machine "right now" moves by 2-4x within minutes. So bench
 * measures a reference in the same run, with the same thread count: each
 * thread sums its share of a buffer far larger than any cache, in four
 * streams (a single stream per core leaves bandwidth on the table) with
 * eight independent accumulators and software prefetch, so the ratio
 * kernel/reference is not flattered by a weak loop. Plain C vectors, built
 * for AVX-512, AVX2 and the baseline (target_clones picks at load time on
 * x86-64): 16-byte loads measured 24 GB/s where 64-byte ones read 30+.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double cli_read_bandwidth(uint32_t threads, uint32_t samples)
{
    enum { MAX_THREADS = 64, MAX_SAMPLES = 32 };
    const size_t bytes = (size_t)1 << 30; /* well past any L3 seen (260 MB) */
    threads = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
    samples = samples < 1 ? 1 : samples > MAX_SAMPLES ? MAX_SAMPLES : samples;
    v16 *buf = aligned_alloc(64, bytes);
    if (!buf)
        return 0;
    memset(buf, 1, bytes); /* touch every page before timing */
    const size_t n = bytes / sizeof(v16);
    double gbs[MAX_SAMPLES];
    for (uint32_t s = 0; s < samples; s++) {
        pthread_t th[MAX_THREADS];
        part a[MAX_THREADS];
        double t0 = cli_now_ms();
        uint32_t started = 0;
        for (uint32_t i = 0; i < threads; i++) {
            a[i] = (part){buf + n / threads * i, n / threads, 0};
            if (i == 0 || pthread_create(&th[i], NULL, sum_part, &a[i]) == 0)
                started = i + 1;
            else
                break;
        }
        sum_part(&a[0]);
        for (uint32_t i = 1; i < started; i++)
            pthread_join(th[i], NULL);
        const double ms = cli_now_ms() - t0;
        gbs[s] = ms > 0 ? (double)(n / threads * started) * sizeof(v16) / ms / 1e6 : 0;
    }
    free(buf);
    qsort(gbs, samples, sizeof gbs[0], cmp_double);
    return gbs[samples / 2];
}
