/*
 * fmapeak.c — the f32 FMA reference (fmapeak.h).
 *
 * Twelve independent accumulator chains per thread: enough to cover the FMA
 * latency (4 cycles) on two pipes with room to spare, few enough to stay in
 * registers. Each chain is c = c * a + b with a < 1, so the values settle
 * near b / (1 - a): no overflow, no subnormals (either can slow a core
 * down). Every chain starts from its own value, or the compiler may merge
 * identical chains and report impossible rates. The vector bodies are
 * compiled per ISA with target attributes and chosen at run time, so the
 * figure is this CPU's, whatever -march the build used.
 */
#include "fmapeak.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FMAPEAK_X86 1
#endif

#define CHAINS 12
#define ITERS 2000000 /* per pass: 12 chains x 2e6 FMAs, ~4 ms on one AVX-512 core */

typedef struct worker {
    int isa;      /* 2: avx512, 1: avx2, 0: scalar */
    float sink;   /* keeps the chains live */
} worker;

#if FMAPEAK_X86
/* The chains as twelve named variables: an array here stayed in memory
 * (gcc -O2 did not unroll the loop over it), which measured the store
 * forwarding, not the FMA pipes. */
#define ALL12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define BODY(V, SET1, FMA, ADD, STORE, LANES)                                                  \
    const V a = SET1(0.999f), b = SET1(0.001f);                                                \
    ALL12(DECL)                                                                                \
    for (long n = 0; n < ITERS; n++) {                                                         \
        ALL12(STEP)                                                                            \
    }                                                                                          \
    V s = c0;                                                                                  \
    ALL12(SUM)                                                                                 \
    float out[LANES];                                                                          \
    STORE(out, s);                                                                             \
    return out[0];

#define DECL(i) V_T c##i = SET1_F(0.25f + 0.01f * (float)(i));
#define STEP(i) c##i = FMA_F(c##i, a, b);
#define SUM(i) s = (i) ? ADD_F(s, c##i) : s;

#define V_T __m512
#define SET1_F _mm512_set1_ps
#define FMA_F _mm512_fmadd_ps
#define ADD_F _mm512_add_ps
__attribute__((target("avx512f,fma"))) static float chains_avx512(void)
{
    BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps, 16)
}
#undef V_T
#undef SET1_F
#undef FMA_F
#undef ADD_F

#define V_T __m256
#define SET1_F _mm256_set1_ps
#define FMA_F _mm256_fmadd_ps
#define ADD_F _mm256_add_ps
__attribute__((target("avx2,fma"))) static float chains_avx2(void)
{
    BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps, 8)
}
#undef V_T
#undef SET1_F
#undef FMA_F
#undef ADD_F
#undef DECL
#undef STEP
#undef SUM
#undef BODY
#undef ALL12
#endif

static float chains_scalar(void)
{
    float c[CHAINS];
    for (int i = 0; i < CHAINS; i++)
        c[i] = 0.25f + 0.01f * (float)i;
    for (long n = 0; n < ITERS; n++)
        for (int i = 0; i < CHAINS; i++)
            c[i] = fmaf(c[i], 0.999f, 0.001f);
    float s = 0;
    for (int i = 0; i < CHAINS; i++)
        s += c[i];
    return s;
}

static int best_isa(void)
{
#if FMAPEAK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return 1;
#endif
    return 0;
}

const char *fmapeak_isa(void)
{
    static const char *const names[] = {"scalar", "avx2", "avx512"};
    return names[best_isa()];
}

static void *run_pass(void *arg)
{
    worker *w = arg;
#if FMAPEAK_X86
    if (w->isa == 2) {
        w->sink = chains_avx512();
        return NULL;
    }
    if (w->isa == 1) {
        w->sink = chains_avx2();
        return NULL;
    }
#endif
    w->sink = chains_scalar();
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double fmapeak_measure(uint32_t threads, uint32_t samples)
{
    if (threads < 1)
        threads = 1;
    if (threads > 64)
        threads = 64;
    if (samples < 1)
        samples = 1;
    if (samples > 32)
        samples = 32;
    const int isa = best_isa();
    const double lanes = isa == 2 ? 16 : isa == 1 ? 8 : 1;
    const double flop = 2.0 * CHAINS * ITERS * lanes * threads;
    worker w[64];
    pthread_t tid[64];
    double rate[32];
    for (uint32_t s = 0; s < samples; s++) {
        const double t0 = now();
        uint32_t started = 0;
        for (uint32_t t = 0; t < threads; t++) {
            w[t].isa = isa;
            if (t + 1 < threads && pthread_create(&tid[t], NULL, run_pass, &w[t]) != 0)
                break;
            if (t + 1 == threads)
                run_pass(&w[t]);
            started++;
        }
        for (uint32_t t = 0; t + 1 < started; t++)
            pthread_join(tid[t], NULL);
        if (started < threads)
            return 0;
        rate[s] = flop / (now() - t0) / 1e9;
    }
    qsort(rate, samples, sizeof *rate, cmp_d);
    return samples % 2 ? rate[samples / 2] : 0.5 * (rate[samples / 2 - 1] + rate[samples / 2]);
}
