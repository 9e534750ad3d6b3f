/*
 * fmapeak.h — the arithmetic reference that prefill is measured against
 * (`plinth bench`): what this machine's cores do in f32 fused multiply-adds
 * right now, so a prefill's GFLOP/s can be read as a share of it, as
 * decode's GB/s is read against readbw.h.
 */
#ifndef PLINTH_FMAPEAK_H
#define PLINTH_FMAPEAK_H

#include <stdint.h>

/* GFLOP/s of `threads` threads (1..64) each running 12 independent chains
 * of f32 FMAs on the widest vectors this CPU has (AVX-512, AVX2+FMA, else
 * scalar fmaf), the median of `samples` passes (1..32) of about 5 ms;
 * 0 when a thread cannot be started. One FMA is 2 FLOP. */
double fmapeak_measure(uint32_t threads, uint32_t samples);

/* GFLOP/s of the same passes run back to back for `seconds` (at least
 * one pass): all their FLOPs over all their time, so time in which the
 * cores were shared with another tenant counts as it would for any work
 * run then. `plinth bench` runs it right after each prefill, for as long
 * as that prefill took: on a shared machine whose cores come and go
 * within a second, a short median would be the rate of the good moments
 * only. 0 when a thread cannot be started. */
double fmapeak_measure_for(uint32_t threads, double seconds);

/* The instruction set the measurement ran on: "avx512", "avx2" or "scalar". */
const char *fmapeak_isa(void);

#endif
