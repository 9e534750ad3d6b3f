/*
 * readbw.c — the read-bandwidth reference (readbw.h).
 *
 * Decode is read-bound: its figure of merit is bytes per token times
 * tokens/s against what this machine can read right now, and on a shared
 * machine "right now" moves by 2x within minutes. So the reference must
 * not be flattered by a weak loop, nor by one pattern that one CPU
 * happens to dislike. Each thread sums its share in two patterns, and the
 * better median wins:
 *   - one sequential stream (what every hardware prefetcher follows);
 *   - four streams a quarter apart with software prefetch 2 KB ahead (the
 *     GEMV reads several rows at once; on an AVX-512 Xeon a single stream
 *     per core left bandwidth on the table). The streams start 17 vectors
 *     (1088 bytes) off their power-of-two spacing: on an AVX2 EPYC guest
 *     four streams exactly 256 MB apart read 3.3 GB/s on one thread where
 *     one stream read 11 (cache-set and DRAM-bank aliasing).
 * Four accumulators of 64 bytes: 8 of the 16 ymm registers on AVX2 (eight
 * of them, 16 registers, spilled to the stack there), four zmm on
 * AVX-512; a read-bound loop needs no more. Plain C vectors, built for
 * AVX-512, AVX2 and the baseline (target_clones picks at load time on
 * x86-64 GCC): with 16-byte loads the same loop read 24 GB/s where
 * 64-byte ones read 30+.
 */
#include "readbw.h"
#include "timing.h"

typedef float v16 __attribute__((vector_size(64)));

typedef struct part {
    const v16 *p;
    size_t n; /* v16s */
    int streams; /* 1 or 4 */
    size_t read; /* v16s summed */
    float out;
} part;

enum { SKEW = 17 }; /* v16s between the four streams beyond n / 4 */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void *sum_part(void *arg)
{
    part *a = arg;
    v16 acc[4] = {{0}};
    if (a->streams == 4 && a->n > 8 * SKEW) {
        const size_t q = (a->n - 3 * SKEW) / 4;
        const v16 *p0 = a->p, *p1 = p0 + q + SKEW, *p2 = p1 + q + SKEW, *p3 = p2 + q + SKEW;
        for (size_t i = 0; i < q; i++) {
            __builtin_prefetch((const char *)(p0 + i) + 2048, 0, 3);
            __builtin_prefetch((const char *)(p1 + i) + 2048, 0, 3);
            __builtin_prefetch((const char *)(p2 + i) + 2048, 0, 3);
            __builtin_prefetch((const char *)(p3 + i) + 2048, 0, 3);
            acc[0] += p0[i];
            acc[1] += p1[i];
            acc[2] += p2[i];
            acc[3] += p3[i];
        }
        a->read = 4 * q;
    } else {
        const v16 *p = a->p;
        for (size_t i = 0; i + 4 <= a->n; i += 4) {
            acc[0] += p[i];
            acc[1] += p[i + 1];
            acc[2] += p[i + 2];
            acc[3] += p[i + 3];
        }
        a->read = a->n / 4 * 4;
    }
    float s = 0;
    for (int j = 0; j < 4; j++)
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
    double gbs[2][MAX_SAMPLES];
    /* the two patterns alternate, so a slow minute of the machine does not
     * fall on one of them only */
    for (uint32_t s = 0; s < samples; s++)
        for (int pat = 0; pat < 2; pat++) {
            part a[TIMING_MAX_THREADS];
            for (uint32_t i = 0; i < threads; i++)
                a[i] = (part){v + n / threads * i, n / threads, pat ? 4 : 1, 0, 0};
            double t;
            const uint32_t started = timing_run_threads(sum_part, a, sizeof a[0], threads, &t);
            size_t read = 0;
            for (uint32_t i = 0; i < started; i++)
                read += a[i].read;
            gbs[pat][s] = t > 0 ? (double)read * sizeof(v16) / t / 1e9 : 0;
        }
    const double one = timing_median(gbs[0], samples), four = timing_median(gbs[1], samples);
    return one > four ? one : four;
}
