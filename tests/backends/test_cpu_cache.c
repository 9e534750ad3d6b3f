/*
 * test_cpu_cache.c — the cpu plugin's L2 size (backends/cpu/cpu_cache.c),
 * which sets how many weight panels a GEMM task keeps in L2. Built with
 * that one source file: the size is not part of any plugin interface.
 */
#include <criterion/criterion.h>

#include "cpu.h"

Test(cpu_cache, parse_size)
{
    cr_expect_eq(cpu_cache_parse_size("512K\n"), 512u * 1024);
    cr_expect_eq(cpu_cache_parse_size("2048K"), 2048u * 1024);
    cr_expect_eq(cpu_cache_parse_size("1M\n"), 1u << 20);
    cr_expect_eq(cpu_cache_parse_size("65536"), 65536u);
    cr_expect_eq(cpu_cache_parse_size(""), 0);
    cr_expect_eq(cpu_cache_parse_size("K"), 0);
    cr_expect_eq(cpu_cache_parse_size("0K"), 0);
    cr_expect_eq(cpu_cache_parse_size("512KB"), 0);
    cr_expect_eq(cpu_cache_parse_size("-1K"), 0);
    cr_expect_eq(cpu_cache_parse_size("4096M"), 0); /* over 1 GiB: not an L2 */
}

Test(cpu_cache, l2_is_plausible_and_stable)
{
    const size_t l2 = cpu_l2_bytes();
    cr_expect_geq(l2, 64u * 1024, "L2 %zu bytes", l2);
    cr_expect_leq(l2, 1u << 30, "L2 %zu bytes", l2);
    cr_expect_eq(cpu_l2_bytes(), l2, "a second call gave another size");
}
