/*
 * cli_readbw.c — the read bandwidth `plinth bench` compares decode with:
 * bench/readbw.c's reference over 1 GiB (past any L3 seen: 260 MB), with
 * every page touched before timing.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "readbw.h"

double cli_read_bandwidth(uint32_t threads, uint32_t samples)
{
    const size_t bytes = (size_t)1 << 30;
    void *buf = aligned_alloc(64, bytes);
    if (!buf)
        return 0;
    memset(buf, 1, bytes);
    const double gbs = readbw_measure(buf, bytes, threads, samples);
    free(buf);
    return gbs;
}
