/*
 * cli_bench_ops.c — `plinth bench-ops`: single matmuls of the Gemma 3 270M
 * shapes on any backend and device, next to references measured in the
 * same run, as llama.cpp's test-backend-ops perf does for its backends.
 *
 *   plinth bench-ops [--backend=NAME] [--threads N] [--reps N] [--shape NAME]
 *                    [--m ROWS] [--dtype LIST] [--prefill-logits] [--no-blas]
 *                    [--readbw N]
 *
 * Sections: references (read bandwidth, OpenBLAS, CPU time); shapes; one
 * shape; the command.
 *
 * Ops run through the public one-op API (plinth_memory + plinth_backend_run_op,
 * which checks a case once and then only runs it), so what is timed is the
 * backend's kernel and its synchronisation. The machine is shared and its
 * bandwidth drifts between minutes, so every figure is a median of repeats
 * and the read bandwidth is measured right before each decode shape: compare
 * ratios, not absolutes. Decode (M = 1) rotates over enough copies of the
 * weights to defeat the L3, as a model's decode reads each layer once.
 * OpenBLAS (f32 weights only) is dlopen'ed after OPENBLAS_CORETYPE is set
 * to the best core this CPU runs (openblas_core); absent, its columns read
 * "-". It needs host-visible memory.
 */
#include "cli.h"
#include "fmapeak.h"
#include "readbw.h"
#include "timing.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------ references --- */

/* CPU time of the whole process: with 1 thread it does not count the time
 * the scheduler gave to other processes (a kernel's efficiency on a busy
 * machine); with a spinning pool it counts the spinning too. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef void (*sgemv_fn)(int, int, int, int, float, const float *, int, const float *, int,
                         float, float *, int);
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int,
                         const float *, int, float, float *, int);

typedef struct blas {
    sgemv_fn sgemv;
    sgemm_fn sgemm;
    char core[64];
} blas;

/* The OpenBLAS core to force, or NULL to leave its own detection. Forced,
 * because the environment may pin a slower one (Haswell on an AVX-512
 * host); chosen by what this CPU runs, because Debian's OpenBLAS 0.3.21
 * detects SkylakeX on an AVX2-only AMD EPYC guest and dies there of an
 * illegal instruction in sgemm_kernel_SKYLAKEX. */
static const char *openblas_core(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
    return "Prescott"; /* SSE3: every x86-64 OpenBLAS kernel set below Haswell's */
#else
    return NULL;
#endif
}

static void load_openblas(blas *b, uint32_t threads)
{
    snprintf(b->core, sizeof b->core, "-");
    const char *core = openblas_core();
    if (core)
        setenv("OPENBLAS_CORETYPE", core, 1);
    void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
    void *s1 = dlsym(h, "cblas_sgemv"), *s2 = dlsym(h, "cblas_sgemm");
    void *s3 = dlsym(h, "openblas_set_num_threads"), *s4 = dlsym(h, "openblas_get_corename");
    memcpy(&b->sgemv, &s1, sizeof s1);
    memcpy(&b->sgemm, &s2, sizeof s2);
    if (s3) {
        void (*set)(int);
        memcpy(&set, &s3, sizeof s3);
        set((int)threads);
    }
    if (s4) {
        char *(*corename)(void);
        memcpy(&corename, &s4, sizeof s4);
        snprintf(b->core, sizeof b->core, "%s", corename());
    }
}

/* ----------------------------------------------------------- shapes --- */

typedef struct shape {
    const char *name;
    int64_t n, k;
} shape;

static const shape shapes[] = {
    {"qkv", 1536, 640},     {"o", 640, 1024},       {"gate/up", 2048, 640},
    {"gate+up", 4096, 640}, {"down", 640, 2048},    {"logits", 262144, 640},
    {"sq2048", 2048, 2048},
};

/* A 2-D view [r, c] of dtype dt at `off` in mem (base = off: each view is
 * a tensor of its own, 256-aligned); a block dtype steps by its blocks. */
static plinth_view view2(const plinth_memory *mem, uint64_t off, int32_t dt, int64_t r,
                         int64_t c)
{
    plinth_view v = {.buffer = plinth_memory_buffer(mem), .base = off, .offset = off,
                     .dtype = dt, .ndim = 2, .shape = {1, 1, r, c}};
    v.stride[3] = (int64_t)plinth_dtype_block_bytes(dt);
    v.stride[2] = (int64_t)plinth_dtype_row_bytes(dt, c);
    v.stride[1] = v.stride[0] = v.stride[2] * r;
    return v;
}

/* One copy of the weights: ±[0.5, 1) for f32 (f16-looking bits for 16-bit
 * dtypes: finite for both f16 and bf16); block dtypes get pseudo-random
 * quants with each block's f16 scales set to a normal value. */
static void fill_weights(uint8_t *w, uint64_t bytes, int32_t dt)
{
    for (uint64_t i = 0; i < bytes / 4; i++) {
        uint32_t h = (uint32_t)(i * 2654435761u >> 20) % 512;
        uint32_t v = dt == PLINTH_F32                 ? 0x3f000000u + (h << 14)
                     : plinth_dtype_bytes(dt) == 2 ? (0x3c00u + h) | (0x3c00u + h) << 16
                                                     : (uint32_t)(i * 2654435761u);
        memcpy(w + 4 * i, &v, 4);
    }
    const size_t bb = plinth_dtype_block_bytes(dt);
    if (plinth_dtype_block_elems(dt) <= 1)
        return;
    const size_t at = dt == PLINTH_Q6_K ? 208 : 0, n = dt == PLINTH_Q4_K ? 2 : 1;
    for (uint64_t b = 0; b + bb <= bytes; b += bb)
        for (size_t j = 0; j < n; j++) {
            w[b + at + 2 * j] = (uint8_t)b;
            w[b + at + 2 * j + 1] = 0x20; /* 2^-7 */
        }
}

/* -------------------------------------------------------- one shape --- */

typedef struct bench {
    plinth_context *ctx;
    plinth_backend *be;
    blas ob;
    uint32_t threads;
    int reps;
    float *bw_buf;
    size_t bw_n;
} bench;

static int one_shape(bench *B, const shape *sh, int64_t m, int32_t wdt)
{
    const int64_t n = sh->n, k = sh->k;
    const bool logits = n == 262144;
    if (k % (int64_t)plinth_dtype_block_elems(wdt) != 0) {
        printf("%-8s %4lld %5s | K = %lld is not a whole number of %s blocks\n", sh->name,
               (long long)m, plinth_dtype_name((plinth_dtype)wdt), (long long)k,
               plinth_dtype_name((plinth_dtype)wdt));
        return 0;
    }
    const uint64_t wbytes = plinth_dtype_row_bytes(wdt, k) * (uint64_t)n;
    const uint64_t wstride = (wbytes + 255) / 256 * 256;
    /* copies so decode reads from DRAM, as it does in a model */
    const int copies = m < 64 && !logits ? (int)(640e6 / (double)wbytes) + 1 : 1;
    plinth_memory *wm = NULL, *am = NULL, *om = NULL;
    int rc = 1;
    if (plinth_memory_create(B->be, wstride * (uint64_t)copies, &wm) != PLINTH_OK ||
        plinth_memory_create(B->be, (uint64_t)(m * k * 4), &am) != PLINTH_OK ||
        plinth_memory_create(B->be, (uint64_t)(m * n * 4), &om) != PLINTH_OK) {
        cli_fail(B->ctx, "memory");
        goto done;
    }
    /* The weights (one copy made, uploaded into each), inputs of a few
     * tenths. */
    {
        uint8_t *buf = malloc(wbytes);
        float *a = malloc((size_t)(m * k) * sizeof *a);
        if (!buf || !a) {
            free(buf);
            free(a);
            fprintf(stderr, "plinth: bench-ops: out of memory\n");
            goto done;
        }
        fill_weights(buf, wbytes, wdt);
        for (int c = 0; c < copies; c++)
            if (plinth_memory_upload(wm, (uint64_t)c * wstride, buf, wbytes) != PLINTH_OK) {
                free(buf);
                free(a);
                cli_fail(B->ctx, "upload");
                goto done;
            }
        for (int64_t i = 0; i < m * k; i++)
            a[i] = (float)(i % 7) * 0.1f;
        plinth_status s = plinth_memory_upload(am, 0, a, (uint64_t)(m * k) * sizeof *a);
        free(buf);
        free(a);
        if (s != PLINTH_OK) {
            cli_fail(B->ctx, "upload");
            goto done;
        }
    }
    const plinth_attrs at = {.matmul = {.transpose_b = 1}};
    double t[32], tb[32], tc[32], tcb[32];
    const int r_here = logits ? (m > 1 ? 3 : 7) : B->reps;
    for (int r = 0; r < r_here; r++) {
        plinth_view in[2] = {view2(am, 0, PLINTH_F32, m, k),
                             view2(wm, (uint64_t)(r % copies) * wstride, wdt, n, k)};
        plinth_view out = view2(om, 0, PLINTH_F32, m, n);
        double c0 = cpu_now(), t0 = timing_now();
        plinth_status s = plinth_backend_run_op(B->be, PLINTH_OP_MATMUL, &out, in, 2, &at);
        t[r] = timing_now() - t0;
        tc[r] = cpu_now() - c0;
        if (s != PLINTH_OK) {
            cli_fail(B->ctx, "matmul");
            goto done;
        }
    }
    double tp = timing_median(t, (uint32_t)r_here), tob = 0, tcob = 0;
    const double tcp = timing_median(tc, (uint32_t)r_here);
    /* OpenBLAS on the same shape with f32 weights (no bf16 GEMV there): the
     * reference for what a BLAS call costs. */
    const uint8_t *wh = plinth_memory_buffer(wm)->host, *ah = plinth_memory_buffer(am)->host;
    uint8_t *oh = plinth_memory_buffer(om)->host;
    if (B->ob.sgemv && wdt == PLINTH_F32 && wh && ah && oh) {
        for (int r = 0; r < r_here; r++) {
            const float *w = (const float *)(const void *)(wh + (uint64_t)(r % copies) * wstride);
            double c0 = cpu_now(), t0 = timing_now();
            if (m == 1)
                B->ob.sgemv(101, 111, (int)n, (int)k, 1.0f, w, (int)k,
                            (const float *)(const void *)ah, 1, 0.0f, (float *)(void *)oh, 1);
            else
                B->ob.sgemm(101, 111, 112, (int)m, (int)n, (int)k, 1.0f,
                            (const float *)(const void *)ah, (int)k, w, (int)k, 0.0f,
                            (float *)(void *)oh, (int)n);
            tb[r] = timing_now() - t0;
            tcb[r] = cpu_now() - c0;
        }
        tob = timing_median(tb, (uint32_t)r_here);
        tcob = timing_median(tcb, (uint32_t)r_here);
    }
    const double flop = 2.0 * (double)m * (double)n * (double)k;
    double bw = m < 64 ? readbw_measure(B->bw_buf, B->bw_n * sizeof *B->bw_buf, B->threads, 5)
                       : 0;
    char obs[64] = "        -        -       -";
    if (tob > 0)
        snprintf(obs, sizeof obs, "%9.3f %8.1f %7.1f", tob * 1e3, flop / tob / 1e9,
                 (double)n * (double)k * 4 / tob / 1e9);
    const double gbs = (double)wbytes / tp / 1e9;
    printf("%-8s %4lld %5s | %9.3f %8.1f %7.1f | %s | %7.1f %5.0f%% | %7.1f %7.1f\n", sh->name,
           (long long)m, plinth_dtype_name((plinth_dtype)wdt), tp * 1e3, flop / tp / 1e9, gbs, obs,
           bw, bw > 0 ? 100 * gbs / bw : 0.0, flop / tcp / 1e9 / B->threads,
           tcob > 0 ? flop / tcob / 1e9 / B->threads : 0.0);
    fflush(stdout);
    rc = 0;
done:
    plinth_memory_destroy(wm);
    plinth_memory_destroy(am);
    plinth_memory_destroy(om);
    return rc;
}

/* ------------------------------------------------------ the command --- */

static const char bench_ops_usage[] =
    "usage: plinth bench-ops [options]\n"
    "Times the matmuls of the Gemma 3 270M shapes (M = 1 and 512, bf16 and f32 weights) on\n"
    "one backend and device, next to this machine's read bandwidth and OpenBLAS.\n"
    "  --shape NAME        only this shape (qkv, o, gate/up, gate+up, down, logits)\n"
    "  --m ROWS            only this many rows (default: 1 and 512)\n"
    "  --dtype LIST        weight dtypes, comma-separated (default: bf16,f32; also f16,\n"
    "                      q8_0, q4_0, q4_K, q6_K)\n"
    "  --reps N            repeats per shape, the median is shown (default 21, at most 31)\n"
    "  --prefill-logits    also the 512-row logits matmul (slow)\n"
    "  --no-blas           leave OpenBLAS out\n"
    "  --readbw N          print N read-bandwidth samples and exit\n"
    "and the common options (--backend, --device, --threads, --backend-config, ...).\n";

enum { OPT_SHAPE = CLI_OPT_FIRST_FREE, OPT_M, OPT_REPS, OPT_PREFILL_LOGITS, OPT_NO_BLAS,
       OPT_READBW, OPT_DTYPE };

/* "q8_0,bf16" into dts (at most max); the count, or -1 naming the bad one. */
static int parse_dtypes(const char *list, int32_t *dts, int max)
{
    int n = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int32_t d = -1;
        for (int32_t i = 0; i < PLINTH_DTYPE_COUNT; i++)
            if (i != PLINTH_I32 && strcmp(t, plinth_dtype_name((plinth_dtype)i)) == 0)
                d = i;
        if (d < 0 || n == max) {
            fprintf(stderr, "plinth: bench-ops: --dtype: '%s' is not a weight dtype (or too "
                            "many)\n", t);
            return -1;
        }
        dts[n++] = d;
    }
    return n;
}

int cli_bench_ops(cli_options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"shape", required_argument, NULL, OPT_SHAPE},
        {"m", required_argument, NULL, OPT_M},
        {"reps", required_argument, NULL, OPT_REPS},
        {"prefill-logits", no_argument, NULL, OPT_PREFILL_LOGITS},
        {"no-blas", no_argument, NULL, OPT_NO_BLAS},
        {"readbw", required_argument, NULL, OPT_READBW},
        {"dtype", required_argument, NULL, OPT_DTYPE},
        CLI_COMMON_LONGOPTS};
    int32_t dts[8] = {PLINTH_BF16, PLINTH_F32};
    int n_dts = 2;
    const char *only = NULL;
    uint32_t only_m = 0, reps = 21, readbw_only = 0;
    bool prefill_logits = false, use_blas = true;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, CLI_COMMON_OPTSTRING, longopts, NULL)) != -1) {
        switch (c) {
        case OPT_SHAPE: only = optarg; break;
        case OPT_M:
            if (cli_parse_u32(optarg, "--m", &only_m) || only_m == 0 || only_m > 65536) {
                fprintf(stderr, "plinth: bench-ops: --m takes 1..65536\n");
                return 2;
            }
            break;
        case OPT_REPS:
            if (cli_parse_u32(optarg, "--reps", &reps) || reps == 0 || reps > 31) {
                fprintf(stderr, "plinth: bench-ops: --reps takes 1..31\n");
                return 2;
            }
            break;
        case OPT_PREFILL_LOGITS: prefill_logits = true; break;
        case OPT_DTYPE:
            if ((n_dts = parse_dtypes(optarg, dts, 8)) <= 0)
                return 2;
            break;
        case OPT_NO_BLAS: use_blas = false; break;
        case OPT_READBW:
            if (cli_parse_u32(optarg, "--readbw", &readbw_only) || readbw_only > 1000)
                return 2;
            break;
        default: {
            int rc = cli_common_flag(c, o, bench_ops_usage);
            if (rc != CLI_PARSED)
                return rc;
        }
        }
    }
    if (optind < argc) {
        fprintf(stderr, "plinth: bench-ops: unexpected argument '%s'\n%s", argv[optind],
                bench_ops_usage);
        return 2;
    }
    bool known = !only;
    for (size_t s = 0; only && s < sizeof shapes / sizeof shapes[0]; s++)
        known |= strcmp(only, shapes[s].name) == 0;
    if (!known) {
        fprintf(stderr, "plinth: bench-ops: no shape '%s'\n%s", only, bench_ops_usage);
        return 2;
    }
    bench B = {.threads = o->threads ? o->threads : 2, .reps = (int)reps,
               .bw_n = (size_t)128 << 20}; /* 512 MiB of floats */
    B.bw_buf = aligned_alloc(64, B.bw_n * sizeof *B.bw_buf);
    if (!B.bw_buf) {
        fprintf(stderr, "plinth: bench-ops: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < B.bw_n; i++)
        B.bw_buf[i] = 1.0f;
    if (readbw_only) {
        for (uint32_t r = 0; r < readbw_only; r++)
            printf("readbw 1T %.1f GB/s  2T %.1f GB/s\n",
                   readbw_measure(B.bw_buf, B.bw_n * 4, 1, 5),
                   readbw_measure(B.bw_buf, B.bw_n * 4, 2, 5));
        free(B.bw_buf);
        return 0;
    }
    int rc = 1;
    cli_options oo = *o;
    oo.threads = B.threads;
    B.ctx = cli_context(&oo);
    if (!B.ctx || !(B.be = cli_open_backend(B.ctx, &oo)))
        goto done;
    plinth_device_info info = {.struct_size = sizeof info};
    plinth_backend_device_info(B.be, &info);
    if (use_blas)
        load_openblas(&B.ob, B.threads);
    else
        snprintf(B.ob.core, sizeof B.ob.core, "-");
    printf("backend %s (%s): %s | precision %s | OpenBLAS core %s | threads %u | median of %d\n",
           plinth_backend_name(B.be), plinth_backend_path(B.be), info.features,
           info.precision[0] ? info.precision : "as exact (the backend has no fast mode)",
           B.ob.core, B.threads, B.reps);
    printf("%-8s %4s %5s | %9s %8s %7s | %9s %8s %7s | %7s %6s | %s\n", "shape", "M", "w",
           "plinth ms", "GFLOP/s", "GB/s", "OBLAS ms", "GFLOP/s", "GB/s", "readBW", "ratio",
           "GFLOP per CPU-second per thread: plinth, OBLAS");
    rc = 0;
    for (int pass = 0; pass < (only_m ? 1 : 2) && !rc; pass++) {
        /* --m N: that many rows only (any N: the GEMV/GEMM crossover) */
        const int64_t m = only_m ? only_m : pass == 0 ? 1 : 512;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0] && !rc; s++) {
            const bool logits = shapes[s].n == 262144;
            if (only && strcmp(only, shapes[s].name))
                continue;
            if (logits && m > 1 && !prefill_logits && !only)
                continue;
            for (int wd = 0; wd < n_dts && !rc; wd++)
                rc = one_shape(&B, &shapes[s], m, dts[wd]);
        }
    }
    if (!rc) /* the arithmetic reference for the M > 1 rows, as plinth bench has it */
        printf("reference: f32 FMA peak %.1f GFLOP/s (%s, %u thread%s), measured after the "
               "shapes\n",
               fmapeak_measure(B.threads, 9), fmapeak_isa(), B.threads,
               B.threads == 1 ? "" : "s");
done:
    plinth_backend_close(B.be);
    plinth_context_destroy(B.ctx);
    free(B.bw_buf);
    return rc;
}
