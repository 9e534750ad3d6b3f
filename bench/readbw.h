/*
 * readbw.h — the read-bandwidth reference that decode is measured against
 * (`plinth bench`, bench_ops): one implementation, so both report the same
 * thing.
 */
#ifndef PLINTH_READBW_H
#define PLINTH_READBW_H

#include <stddef.h>
#include <stdint.h>

/* GB/s of `threads` threads (1..64) each summing its share of buf[0, bytes)
 * (64-byte aligned, far larger than the caches), the median of `samples`
 * passes (1..32). */
double readbw_measure(const void *buf, size_t bytes, uint32_t threads, uint32_t samples);

#endif
