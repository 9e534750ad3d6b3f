/*
 * planner.h — static offset assignment for one pool (pure, no plinth state).
 *
 * Each item is a tensor of `size` bytes live over the steps [first, last]
 * (inclusive) of a topological order. The planner assigns every item an
 * offset so that no two items whose intervals intersect share a byte, every
 * offset is a multiple of `alignment`, and the pool is as small as it can
 * make it (greedy by size: largest first, lowest fitting offset).
 */
#ifndef PLINTH_PLANNER_H
#define PLINTH_PLANNER_H

#include <stddef.h>
#include <stdint.h>

/* Where the planner's bookkeeping comes from: a plinth_alloc_fn and its
 * user pointer (NULL, or a NULL alloc: the C library). */
typedef struct plan_mem {
    void *(*alloc)(void *user, void *ptr, size_t size);
    void *user;
} plan_mem;

typedef struct plan_item {
    uint64_t size;          /* bytes; 0 is allowed (gets an offset, takes none) */
    uint32_t first, last;   /* live interval, first <= last                */
    uint64_t offset;        /* out                                          */
} plan_item;

/* Assigns offsets; returns the pool size (a multiple of alignment), or
 * UINT64_MAX if memory for the planner's own bookkeeping ran out.
 * `alignment` is a power of two. */
uint64_t plan_greedy_by_size(const plan_mem *mem, plan_item *items, uint32_t n,
                             uint64_t alignment);

/* The largest sum of (aligned) sizes of items live at one step: no valid
 * plan can be smaller. */
uint64_t plan_lower_bound(const plan_mem *mem, const plan_item *items, uint32_t n,
                          uint64_t alignment);

/* Checks a plan by brute force: alignment, bounds, and no overlap between
 * items live at the same step. Returns 0 when valid, else writes a message
 * naming the two items (or the one) into err and returns -1. */
int plan_verify(const plan_item *items, uint32_t n, uint64_t pool_size, uint64_t alignment,
                char *err, size_t err_size);

#endif /* PLINTH_PLANNER_H */
