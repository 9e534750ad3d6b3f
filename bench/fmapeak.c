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
#include "timing.h"

#include <math.h>
#include <stdbool.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FMAPEAK_X86 1
#endif

#define CHAINS 12
#define ITERS 2000000 /* per pass: 12 chains x 2e6 FMAs, ~4 ms on one AVX-512 core */

enum { ISA_SCALAR, ISA_AVX2, ISA_AVX512 };

typedef struct worker {
    int isa;
    float sink; /* keeps the chains live */
} worker;

#if FMAPEAK_X86
/* One function per ISA, the chains as twelve named variables: an array
 * here stayed in memory (gcc -O2 did not unroll the loop over it), which
 * measured store forwarding, not the FMA pipes. */
#define ALL12(X, ...)                                                                          \
    X(0, __VA_ARGS__) X(1, __VA_ARGS__) X(2, __VA_ARGS__) X(3, __VA_ARGS__) X(4, __VA_ARGS__)  \
    X(5, __VA_ARGS__) X(6, __VA_ARGS__) X(7, __VA_ARGS__) X(8, __VA_ARGS__) X(9, __VA_ARGS__)  \
    X(10, __VA_ARGS__) X(11, __VA_ARGS__)
#define DECL(i, V, SET1) V c##i = SET1(0.25f + 0.01f * (float)(i));
#define STEP(i, FMA) c##i = FMA(c##i, a, b);
#define SUM(i, ADD) s = ADD(s, c##i);
#define CHAINS_FN(NAME, TARGET, V, SET1, FMA, ADD, STORE, LANES)                               \
    __attribute__((target(TARGET))) static float NAME(void)                                    \
    {                                                                                          \
        const V a = SET1(0.999f), b = SET1(0.001f);                                            \
        ALL12(DECL, V, SET1)                                                                   \
        for (long n = 0; n < ITERS; n++) {                                                     \
            ALL12(STEP, FMA)                                                                   \
        }                                                                                      \
        V s = SET1(0.0f);                                                                      \
        ALL12(SUM, ADD)                                                                        \
        float out[LANES];                                                                      \
        STORE(out, s);                                                                         \
        return out[0];                                                                         \
    }
CHAINS_FN(chains_avx512, "avx512f,fma", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps,
          _mm512_storeu_ps, 16)
CHAINS_FN(chains_avx2, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps,
          _mm256_storeu_ps, 8)
#undef CHAINS_FN
#undef SUM
#undef STEP
#undef DECL
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
        return ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return ISA_AVX2;
#endif
    return ISA_SCALAR;
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
    if (w->isa != ISA_SCALAR) {
        w->sink = w->isa == ISA_AVX512 ? chains_avx512() : chains_avx2();
        return NULL;
    }
#endif
    w->sink = chains_scalar();
    return NULL;
}

static uint32_t clamp_threads(uint32_t threads)
{
    return threads < 1 ? 1 : threads > TIMING_MAX_THREADS ? TIMING_MAX_THREADS : threads;
}

/* One pass on `threads` threads: its FLOPs into *flop and its wall time
 * into *sec; false when a thread cannot be started. */
static bool one_pass(uint32_t threads, double *flop, double *sec)
{
    const int isa = best_isa();
    const double lanes = isa == ISA_AVX512 ? 16 : isa == ISA_AVX2 ? 8 : 1;
    worker w[TIMING_MAX_THREADS];
    for (uint32_t t = 0; t < threads; t++)
        w[t].isa = isa;
    const uint32_t ran = timing_run_threads(run_pass, w, sizeof w[0], threads, sec);
    *flop = 2.0 * CHAINS * ITERS * lanes * ran;
    return ran == threads;
}

double fmapeak_measure_for(uint32_t threads, double seconds)
{
    threads = clamp_threads(threads);
    double flop = 0, total = 0;
    do {
        double f, sec;
        if (!one_pass(threads, &f, &sec))
            return 0;
        flop += f;
        total += sec;
    } while (total < seconds);
    return flop / total / 1e9;
}

double fmapeak_measure(uint32_t threads, uint32_t samples)
{
    enum { MAX_SAMPLES = 32 };
    threads = clamp_threads(threads);
    samples = samples < 1 ? 1 : samples > MAX_SAMPLES ? MAX_SAMPLES : samples;
    double rate[MAX_SAMPLES];
    for (uint32_t s = 0; s < samples; s++) {
        double flop, sec;
        if (!one_pass(threads, &flop, &sec))
            return 0;
        rate[s] = flop / sec / 1e9;
    }
    return timing_median(rate, samples);
}
