/*
 * timing.h — what the same-run references (readbw.c, fmapeak.c) and
 * bench_ops share: a monotonic clock, a median, and one pass of a function
 * on several threads at once, timed.
 */
#ifndef PLINTH_BENCH_TIMING_H
#define PLINTH_BENCH_TIMING_H

#include <stddef.h>
#include <stdint.h>

#define TIMING_MAX_THREADS 64

/* Seconds on the monotonic clock. */
double timing_now(void);

/* The median of v[0..n) (sorts v; n >= 1). */
double timing_median(double *v, uint32_t n);

/* Runs fn(args + i * stride) for i < threads (1..TIMING_MAX_THREADS), one
 * thread each, i = 0 on the caller's; returns how many ran (a thread that
 * cannot be started ends the count there) and their wall time in *seconds. */
uint32_t timing_run_threads(void *(*fn)(void *), void *args, size_t stride, uint32_t threads,
                            double *seconds);

#endif
