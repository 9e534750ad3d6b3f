/*
 * cpu_cache.c — the size of one core's L2, which the GEMM blocks for
 * (cpu_matmul.c section 4).
 *
 * From glibc's sysconf where it knows it (on x86 it reads CPUID), else
 * from Linux's sysfs (the cache of cpu0 whose level is 2 and that holds
 * data), else 1 MiB: the L2 of the Zen 4/5 and Intel client cores the
 * blocking was first measured on. Read once per process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu.h"

#define L2_FALLBACK (1u << 20)

/* "512K", "2048K" or "1M" (sysfs's size file) in bytes; 0 if not that. */
size_t cpu_cache_parse_size(const char *s)
{
    char *end;
    const unsigned long long v = strtoull(s, &end, 10);
    if (end == s || v == 0 || v > (1ull << 30))
        return 0;
    unsigned long long unit = 1;
    if (*end == 'K')
        unit = 1024, end++;
    else if (*end == 'M')
        unit = 1024 * 1024, end++;
    while (*end == '\n' || *end == ' ')
        end++;
    if (*end || v * unit > (1ull << 30))
        return 0;
    return (size_t)(v * unit);
}

/* The first line of path into buf; false if it cannot be read. */
static bool read_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    const bool ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    return ok;
}

static size_t l2_from_sysfs(void)
{
    for (int i = 0; i < 8; i++) {
        char path[96], line[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        if (!read_line(path, line, sizeof line))
            break;
        if (strcmp(line, "2\n") != 0)
            continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if (read_line(path, line, sizeof line) && !strncmp(line, "Instruction", 11))
            continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (read_line(path, line, sizeof line))
            return cpu_cache_parse_size(line);
    }
    return 0;
}

size_t cpu_l2_bytes(void)
{
    /* atomic: devices may open on several threads at once; every thread
     * computes the same value, so a race only repeats the reads */
    static _Atomic size_t cached;
    size_t v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v)
        return v;
#ifdef _SC_LEVEL2_CACHE_SIZE
    const long sc = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (sc >= 64 * 1024 && sc <= (1l << 30))
        v = (size_t)sc;
#endif
    if (!v)
        v = l2_from_sysfs();
    if (v < 64 * 1024)
        v = L2_FALLBACK;
    atomic_store_explicit(&cached, v, memory_order_relaxed);
    return v;
}
