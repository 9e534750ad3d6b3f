/* STUB: to be replaced by its owner. Every function fails. */
#include "planner.h"

uint64_t plan_greedy_by_size(plan_item *items, uint32_t n, uint64_t alignment)
{ (void)items;(void)n;(void)alignment; return UINT64_MAX; }

uint64_t plan_lower_bound(const plan_item *items, uint32_t n, uint64_t alignment)
{ (void)items;(void)n;(void)alignment; return 0; }

int plan_verify(const plan_item *items, uint32_t n, uint64_t pool_size, uint64_t alignment, char *err, size_t err_size)
{ (void)items;(void)n;(void)pool_size;(void)alignment;(void)err;(void)err_size; return -1; }

