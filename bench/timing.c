/*
 * timing.c — clock, median and timed parallel passes (timing.h).
 */
#include "timing.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

double timing_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double timing_median(double *v, uint32_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

uint32_t timing_run_threads(void *(*fn)(void *), void *args, size_t stride, uint32_t threads,
                            double *seconds)
{
    pthread_t th[TIMING_MAX_THREADS];
    char *a = args;
    const double t0 = timing_now();
    uint32_t started = 1;
    for (uint32_t i = 1; i < threads && i < TIMING_MAX_THREADS && started == i; i++)
        if (pthread_create(&th[i], NULL, fn, a + i * stride) == 0)
            started = i + 1;
    fn(a);
    for (uint32_t i = 1; i < started; i++)
        pthread_join(th[i], NULL);
    *seconds = timing_now() - t0;
    return started;
}
