/*
 * cpu_pool.c — a persistent worker pool, created at device open.
 *
 * Sections:
 *   1. the pool object
 *   2. workers: spin (bounded) on the generation counter, then sleep;
 *      tasks from one shared counter, or (blocked jobs) from the thread's
 *      own contiguous block first, then from the others' blocks
 *   3. cpu_parallel, cpu_parallel_blocked: publish a job, take part, wait
 *      for the others (and, under PLINTH_CPU_PROFILE, time jobs and tasks)
 *
 * Why spin first: in this VM waking a sleeping thread costs ~20 µs and a
 * spin hand-off ~0.1 µs; a decode step runs ~400 ops back to back, so a pool
 * that slept between ops would lose milliseconds per token. Why bounded: a
 * worker that spins forever steals a core from everyone else when the
 * program is idle. The spin budget is ~2 ms of wall time.
 *
 * On a busy machine (more runnable threads than cores) a worker can be
 * preempted inside its task, and the caller then waits a scheduler slice
 * (milliseconds) at the end of every job: 2 threads measured slower than
 * 1. The caller yields while it waits, and when a wait was long while the
 * workers got little CPU (their CPU clocks say so), it runs the next 256
 * jobs alone before trying both cores again.
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "cpu.h"


#define SPIN_NS 2000000LL
#define SLOW_WAIT_NS 200000LL /* a wait this long, with the workers off-CPU */
#define SERIAL_MIN 8          /* then this many jobs on the caller alone, */
#define SERIAL_MAX 256        /* twice as many each time it happens again  */

/* ---------------------------------------------------------------- 1 ---- */

/* One thread's block of a blocked job: its next task and its end. On a
 * cache line of its own: the owner bumps `next` once per task. */
typedef struct pool_block {
    _Alignas(64) _Atomic int64_t next;
    int64_t end;
} pool_block;

typedef struct worker_arg {
    cpu_pool *pool;
    uint32_t id;
} worker_arg;

struct cpu_pool {
    plinth_instance *inst; /* whose allocator made every block below     */
    uint32_t n_threads; /* including the caller's */
    uint32_t started;   /* worker threads running: the ones to join     */
    pthread_t *threads; /* [n_threads - 1]                              */
    worker_arg *args;   /* [n_threads - 1], one per worker, owned here  */
    bool sync_ready;    /* mu and cv initialised                        */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic uint64_t gen;      /* bumped once per job                     */
    _Atomic int sleepers;      /* workers blocked on cv                   */
    _Atomic bool stop;
    /* the job */
    cpu_task_fn fn;
    void *ctx;
    int64_t n_tasks;
    _Atomic int64_t next;      /* next task to hand out                   */
    _Atomic bool closed;       /* the caller is done: join no more        */
    _Atomic uint32_t active;   /* workers inside the job                  */
    bool blocked;              /* tasks from blocks[], not from next      */
    pool_block *blocks;        /* n_threads of them (aligned in blocks_mem) */
    void *blocks_mem;
    uint32_t serial_left;      /* caller only: run this many jobs inline  */
    uint32_t serial_next;      /* caller only: the next such run's length */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* PLINTH_CPU_PROFILE (cpu_pool_profile_start): off, one relaxed load per
 * task; on, two clock reads per task and per job. */
static _Atomic bool prof_on;
static _Atomic int64_t prof_jobs, prof_thread_ns, prof_task_ns;

void cpu_pool_profile_start(void)
{
    atomic_store(&prof_on, true);
}

void cpu_pool_profile_read(int64_t *jobs, int64_t *thread_ns, int64_t *task_ns)
{
    *jobs = atomic_load(&prof_jobs);
    *thread_ns = atomic_load(&prof_thread_ns);
    *task_ns = atomic_load(&prof_task_ns);
}

/* ---------------------------------------------------------------- 2 ---- */

static void run_one(cpu_task_fn fn, void *ctx, int64_t t, uint32_t id)
{
    if (!atomic_load_explicit(&prof_on, memory_order_relaxed)) {
        fn(ctx, t, id);
        return;
    }
    const int64_t t0 = now_ns();
    fn(ctx, t, id);
    atomic_fetch_add_explicit(&prof_task_ns, now_ns() - t0, memory_order_relaxed);
}

/* Blocked jobs: the thread's own block in order, then every other block
 * from wherever its owner has got to (a slow or absent thread's tasks are
 * not left waiting for it). */
static void run_blocks(cpu_pool *p, uint32_t id)
{
    for (uint32_t i = 0; i < p->n_threads; i++) {
        pool_block *b = &p->blocks[(id + i) % p->n_threads];
        for (;;) {
            int64_t t = atomic_fetch_add_explicit(&b->next, 1, memory_order_relaxed);
            if (t >= b->end)
                break;
            run_one(p->fn, p->ctx, t, id);
        }
    }
}

static void run_tasks(cpu_pool *p, uint32_t id)
{
    if (p->blocked) {
        run_blocks(p, id);
        return;
    }
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= p->n_tasks)
            break;
        run_one(p->fn, p->ctx, t, id);
    }
}

static void *worker_main(void *arg)
{
    cpu_pool *p = ((worker_arg *)arg)->pool;
    const uint32_t id = ((worker_arg *)arg)->id;
    uint64_t seen = 0; /* the generation at creation: a job published before
                          this thread first runs must not be missed */
    for (;;) {
        /* Spin while jobs keep coming; check the clock only now and then. */
        int64_t deadline = 0;
        uint32_t spins = 0;
        while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_relaxed)) {
            cpu_relax();
            if ((++spins & 1023) == 0) {
                int64_t t = now_ns();
                if (deadline == 0)
                    deadline = t + SPIN_NS;
                else if (t > deadline)
                    break;
            }
        }
        if (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1); /* seq_cst: pairs with the publisher */
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        /* Join only a job that is still open: on a busy machine a worker
         * may get the CPU long after the caller did every task alone, and
         * the caller must not wait for it. */
        atomic_fetch_add(&p->active, 1);
        if (!atomic_load(&p->closed))
            run_tasks(p, id);
        atomic_fetch_sub_explicit(&p->active, 1, memory_order_release);
    }
}

/* Frees exactly what exists: joins the `started` workers (not n_threads - 1:
 * a pool that failed part way has fewer), then the blocks that were
 * allocated, the sync objects if they were made. Serves a failed create
 * and cpu_pool_destroy alike. */
static void pool_teardown(cpu_pool *p)
{
    if (p->started > 0) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->stop, true);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (uint32_t i = 0; i < p->started; i++)
            pthread_join(p->threads[i], NULL);
    }
    if (p->sync_ready) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
    }
    plugin_free(p->inst, p->threads);
    plugin_free(p->inst, p->args);
    plugin_free(p->inst, p->blocks_mem);
    plugin_free(p->inst, p);
}

/* mu and cv, or neither. */
static bool init_sync(cpu_pool *p)
{
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        return false;
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        return false;
    }
    p->sync_ready = true;
    return true;
}

/* Every block the pool needs, before any thread starts: a worker must never
 * meet a half-built pool, and a failure must not have threads to stop. */
static bool alloc_blocks(cpu_pool *p)
{
    const uint32_t workers = p->n_threads - 1;
    p->threads = plugin_malloc(p->inst, sizeof(pthread_t) * (workers ? workers : 1));
    p->args = plugin_malloc(p->inst, sizeof(worker_arg) * (workers ? workers : 1));
    p->blocks_mem = plugin_malloc(p->inst, sizeof(pool_block) * p->n_threads + 64);
    if (p->blocks_mem)
        p->blocks = (pool_block *)(((uintptr_t)p->blocks_mem + 63) & ~(uintptr_t)63);
    return p->threads && p->args && p->blocks_mem;
}

int32_t cpu_pool_create(plinth_instance *inst, uint32_t n_threads, cpu_pool **out)
{
    *out = NULL;
    if (n_threads < 1)
        n_threads = 1;
    cpu_pool *p = plugin_malloc(inst, sizeof *p);
    if (!p)
        return PLINTH_ERR_NO_MEMORY;
    *p = (cpu_pool){.inst = inst, .n_threads = n_threads, .serial_next = SERIAL_MIN};
    atomic_init(&p->gen, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, false);
    atomic_init(&p->next, 0);
    atomic_init(&p->closed, true);
    atomic_init(&p->active, 0);
    if (!init_sync(p) || !alloc_blocks(p)) {
        pool_teardown(p);
        return PLINTH_ERR_NO_MEMORY;
    }
    for (uint32_t i = 1; i < n_threads; i++) {
        worker_arg *wa = &p->args[i - 1];
        *wa = (worker_arg){p, i};
        if (pthread_create(&p->threads[i - 1], NULL, worker_main, wa) != 0)
            break; /* the system's limit, not ours: run with what we got */
        p->started++;
    }
    /* Published to the workers by the first job's seq_cst generation bump. */
    p->n_threads = p->started + 1;
    *out = p;
    return PLINTH_OK;
}

void cpu_pool_destroy(cpu_pool *p)
{
    if (p)
        pool_teardown(p);
}

/* ---------------------------------------------------------------- 3 ---- */

/* CPU time the workers have used (ns): the slow path of the wait only. */
static int64_t workers_cpu_ns(cpu_pool *p)
{
    int64_t sum = 0;
    for (uint32_t i = 1; i < p->n_threads; i++) {
        clockid_t cid;
        struct timespec ts;
        if (pthread_getcpuclockid(p->threads[i - 1], &cid) == 0 &&
            clock_gettime(cid, &ts) == 0)
            sum += (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    }
    return sum;
}

int64_t cpu_block_start(int64_t n_tasks, uint32_t n_blocks, uint32_t b)
{
    return n_tasks * (int64_t)b / (int64_t)n_blocks;
}

uint32_t cpu_pool_threads(cpu_device *dev)
{
    cpu_pool *p = dev->pool;
    return !p || p->serial_left > 0 ? 1 : p->n_threads;
}

static void dispatch_job(cpu_device *dev, int64_t n_tasks, cpu_task_fn fn, void *ctx,
                         bool blocked)
{
    cpu_pool *p = dev->pool;
    if (!p || p->n_threads <= 1 || n_tasks == 1 || p->serial_left > 0) {
        if (p && p->serial_left > 0)
            p->serial_left--;
        for (int64_t t = 0; t < n_tasks; t++)
            run_one(fn, ctx, t, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    p->blocked = blocked;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    if (blocked)
        for (uint32_t b = 0; b < p->n_threads; b++) {
            atomic_store_explicit(&p->blocks[b].next, cpu_block_start(n_tasks, p->n_threads, b),
                                  memory_order_relaxed);
            p->blocks[b].end = cpu_block_start(n_tasks, p->n_threads, b + 1);
        }
    atomic_store(&p->closed, false);
    atomic_fetch_add(&p->gen, 1); /* seq_cst publish */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    run_tasks(p, 0);
    /* Every task is taken; wait only for workers that joined (they may
     * still be running theirs). seq_cst pairs with the workers' join. */
    atomic_store(&p->closed, true);
    /* A worker still inside its task normally finishes within
     * microseconds; when it does not, the scheduler has taken its core
     * (a busy machine): yield ours instead of spinning against it. */
    uint32_t spins = 0;
    int64_t t0 = 0, c0 = 0;
    while (atomic_load_explicit(&p->active, memory_order_acquire) > 0) {
        cpu_relax();
        if (++spins > 2048) {
            if (t0 == 0) {
                t0 = now_ns();
                c0 = workers_cpu_ns(p);
            }
            sched_yield();
        }
    }
    /* Waited long while the workers got little CPU: the scheduler gave
     * their core to another process, and the next jobs would likely wait
     * for a preempted worker again. Run them on this thread alone, then
     * try all cores again. A worker that is merely busy with a long task
     * (a GEMM block runs ~1 ms) is not preempted: it used the CPU.
     * How many: SERIAL_MIN, doubled each time it recurs (a machine with
     * more runnable threads than cores) up to SERIAL_MAX, halved after
     * each job that ran in parallel without such a wait. A fixed 256 (a
     * whole prefill of the 270M model is ~450 jobs) turned one steal of a
     * VM's vCPU into half a prefill on one thread. On a shared 2-vCPU
     * guest, 2-thread f32 pp512 (`plinth bench ... --f32 --threads=2`,
     * four alternating rounds of three) ran at 54-125 GFLOP/s with it,
     * 92-139 with this, 82-138 with no fallback at all. */
    bool slow = false;
    if (t0 != 0) {
        const int64_t wall = now_ns() - t0;
        slow = wall > SLOW_WAIT_NS &&
               workers_cpu_ns(p) - c0 < wall / 2 * (int64_t)(p->n_threads - 1);
    }
    if (slow) {
        p->serial_left = p->serial_next;
        p->serial_next = p->serial_next * 2 > SERIAL_MAX ? SERIAL_MAX : p->serial_next * 2;
    } else if (p->serial_next > SERIAL_MIN) {
        p->serial_next /= 2;
    }
}

/* Runs the job, and accounts for it when the profile is on. */
static void run_job(cpu_device *dev, int64_t n_tasks, cpu_task_fn fn, void *ctx, bool blocked)
{
    if (n_tasks <= 0)
        return;
    if (!atomic_load_explicit(&prof_on, memory_order_relaxed)) {
        dispatch_job(dev, n_tasks, fn, ctx, blocked);
        return;
    }
    const int64_t t0 = now_ns();
    dispatch_job(dev, n_tasks, fn, ctx, blocked);
    const int64_t threads = dev->pool ? (int64_t)dev->pool->n_threads : 1;
    atomic_fetch_add_explicit(&prof_thread_ns, (now_ns() - t0) * threads, memory_order_relaxed);
    atomic_fetch_add_explicit(&prof_jobs, 1, memory_order_relaxed);
}

void cpu_parallel(cpu_device *dev, int64_t n_tasks, cpu_task_fn fn, void *ctx)
{
    run_job(dev, n_tasks, fn, ctx, false);
}

void cpu_parallel_blocked(cpu_device *dev, int64_t n_tasks, cpu_task_fn fn, void *ctx)
{
    run_job(dev, n_tasks, fn, ctx, true);
}
