/*
 * bench_ops.c — single-op timings of the cpu plugin on the Gemma 3 270M
 * matmul shapes, next to references measured in the same run.
 *
 *   bench_ops [--plugin PATH] [--threads N] [--reps N] [--prefill-logits]
 *             [--shape NAME] [--m ROWS] [--readbw N] [--no-blas]
 *
 * Sections: timing and references (read bandwidth, OpenBLAS); the plugin;
 * shapes; main.
 *
 * The machine is shared and its bandwidth drifts by +-20% between minutes,
 * so every figure is a median of repeats and the read-only bandwidth is
 * measured right before each decode shape: compare ratios, not absolutes.
 * Decode (M = 1) rotates over enough copies of the weights to defeat the
 * L3 (260 MB on the 2-core VM; as real decode does: each layer's weights
 * are read once).
 * OpenBLAS is dlopen'ed after OPENBLAS_CORETYPE=SkylakeX is set (the Debian
 * build otherwise runs its Haswell kernels here; see toolchain notes);
 * absent, its columns read "-". --no-blas leaves it out: its threads keep
 * spinning after each call and took a core from the plugin's next shape
 * (bf16 rows after an f32 OpenBLAS run measured at half speed).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plinth_plugin.h"
#include "fmapeak.h"
#include "readbw.h"
#include "timing.h"

/* ------------------------------------------------ timing and references --- */

/* CPU time of the whole process: with 1 thread it does not count the time
 * the scheduler gave to other processes (a kernel's efficiency on a busy
 * machine); with a spinning pool it counts the spinning too. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Read-only bandwidth (GB/s) over n floats with `threads` threads: the
 * reference of readbw.c (shared with `plinth bench`). */
static double read_bw(const float *buf, size_t n, int threads, int reps)
{
    return readbw_measure(buf, n * sizeof *buf, (uint32_t)threads, (uint32_t)reps);
}

typedef void (*sgemv_fn)(int, int, int, int, float, const float *, int, const float *, int,
                         float, float *, int);
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int,
                         const float *, int, float, float *, int);
static sgemv_fn ob_sgemv;
static sgemm_fn ob_sgemm;
static char ob_core[64] = "-";

static void load_openblas(int threads)
{
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
    void *s1 = dlsym(h, "cblas_sgemv"), *s2 = dlsym(h, "cblas_sgemm");
    void *s3 = dlsym(h, "openblas_set_num_threads"), *s4 = dlsym(h, "openblas_get_corename");
    memcpy(&ob_sgemv, &s1, sizeof s1);
    memcpy(&ob_sgemm, &s2, sizeof s2);
    if (s3) {
        void (*set)(int);
        memcpy(&set, &s3, sizeof s3);
        set(threads);
    }
    if (s4) {
        char *(*core)(void);
        memcpy(&core, &s4, sizeof s4);
        snprintf(ob_core, sizeof ob_core, "%s", core());
    }
}

/* ---------------------------------------------------------------- plugin --- */

static const plinth_backend_api *api;
static plinth_device *dev;

static void *h_malloc(void *u, size_t n) { return malloc(n); }
static void h_free(void *u, void *p) { free(p); }
static void h_log(void *u, int l, const char *m) {}
static const plinth_host host = {sizeof host, PLINTH_ABI_VERSION, NULL, h_log, h_malloc, h_free};

static void view2(plinth_view *v, plinth_buffer *b, uint64_t off, int32_t dt, int64_t r,
                  int64_t c)
{
    memset(v, 0, sizeof *v);
    const int64_t es = dt == PLINTH_F32 ? 4 : 2;
    v->buffer = b;
    v->data = b->host + off;
    v->offset = off;
    v->dtype = dt;
    v->ndim = 2;
    v->shape[0] = v->shape[1] = 1;
    v->shape[2] = r;
    v->shape[3] = c;
    v->stride[3] = es;
    v->stride[2] = es * c;
    v->stride[1] = v->stride[0] = es * c * r;
}

/* ---------------------------------------------------------------- shapes --- */

typedef struct shape {
    const char *name;
    int64_t n, k;
} shape;

static const shape shapes[] = {
    {"qkv", 1536, 640}, {"o", 640, 1024},     {"gate/up", 2048, 640},
    {"gate+up", 4096, 640}, {"down", 640, 2048}, {"logits", 262144, 640},
};

int main(int argc, char **argv)
{
    const char *path = getenv("PLINTH_BENCH_PLUGIN");
    int threads = 2, reps = 21;
    bool prefill_logits = false;
    int readbw_only = 0;     /* --readbw N: print N read-bandwidth samples, exit */
    const char *only = NULL; /* --shape NAME: just that shape */
    int64_t only_m = 0;      /* --m 1|512: just that pass */
    bool blas = true;        /* --no-blas: no OpenBLAS columns */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--plugin") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--prefill-logits"))
            prefill_logits = true;
        else if (!strcmp(argv[i], "--readbw") && i + 1 < argc)
            readbw_only = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--m") && i + 1 < argc)
            only_m = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--no-blas"))
            blas = false;
        else {
            fprintf(stderr, "usage: bench_ops [--plugin PATH] [--threads N] [--reps N] "
                            "[--prefill-logits] [--shape NAME] [--m ROWS] [--readbw N] [--no-blas]\n");
            return 2;
        }
    }
    if (reps > 31)
        reps = 31;
    if (readbw_only) {
        /* the same-run reference for `plinth bench`: run it before/after */
        const size_t n = (size_t)128 << 20;
        float *buf = aligned_alloc(64, n * 4);
        for (size_t i = 0; i < n; i++)
            buf[i] = 1.0f;
        for (int r = 0; r < readbw_only; r++)
            printf("readbw 1T %.1f GB/s  2T %.1f GB/s\n", read_bw(buf, n, 1, 5),
                   read_bw(buf, n, 2, 5));
        free(buf);
        return 0;
    }
    if (!path) {
        fprintf(stderr, "bench_ops: give --plugin PATH/plinth-cpu.so\n");
        return 2;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "bench_ops: %s\n", dlerror());
        return 1;
    }
    plinth_plugin_entry_fn entry;
    void *sym = dlsym(h, PLINTH_PLUGIN_ENTRY_SYMBOL);
    memcpy(&entry, &sym, sizeof sym);
    api = entry(PLINTH_ABI_VERSION, &host);
    char cfg[64];
    snprintf(cfg, sizeof cfg, "threads=%d", threads);
    plinth_device_options o = {sizeof o, 0, cfg};
    if (!api || api->device_open(0, &o, &dev) != PLINTH_OK) {
        fprintf(stderr, "bench_ops: cannot open the cpu device\n");
        return 1;
    }
    plinth_device_info info = {.struct_size = sizeof info};
    api->device_info(0, &info);
    if (blas)
        load_openblas(threads);
    printf("plugin %s: %s | OpenBLAS core %s | threads %d | median of %d\n", path,
           info.features, ob_core, threads, reps);

    const size_t bw_n = (size_t)128 << 20; /* 512 MiB of floats */
    float *bw_buf = aligned_alloc(64, bw_n * 4);
    for (size_t i = 0; i < bw_n; i++)
        bw_buf[i] = 1.0f;
    printf("%-8s %4s %5s | %9s %8s %7s | %9s %8s %7s | %7s %6s | %s\n", "shape", "M", "w",
           "plinth ms", "GFLOP/s", "GB/s", "OBLAS ms", "GFLOP/s", "GB/s", "readBW", "ratio",
           "GFLOP per CPU-second per thread: plinth, OBLAS");
    for (int pass = 0; pass < (only_m ? 1 : 2); pass++) {
        /* --m N: that many rows only (any N: the GEMV/GEMM crossover) */
        const int64_t m = only_m ? only_m : pass == 0 ? 1 : 512;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int64_t n = shapes[s].n, k = shapes[s].k;
            const bool logits = n == 262144;
            if (only && strcmp(only, shapes[s].name))
                continue;
            if (only && logits && m > 1)
                prefill_logits = true;
            if (logits && m > 1 && !prefill_logits)
                continue;
            for (int wd = 0; wd < 2; wd++) {
                const int32_t wdt = wd == 0 ? PLINTH_BF16 : PLINTH_F32;
                const int64_t es = wdt == PLINTH_F32 ? 4 : 2;
                const uint64_t wbytes = (uint64_t)(n * k * es);
                /* copies so decode reads from DRAM, as it does in a model */
                int copies = m < 64 && !logits ? (int)(640e6 / (double)wbytes) + 1 : 1;
                plinth_buffer wb, ab, ob;
                api->buffer_alloc(dev, wbytes * (uint64_t)copies, &wb);
                api->buffer_alloc(dev, (uint64_t)(m * k * 4), &ab);
                api->buffer_alloc(dev, (uint64_t)(m * n * 4), &ob);
                for (uint64_t i = 0; i < wbytes * (uint64_t)copies / 2; i++)
                    ((uint16_t *)wb.host)[i] = (uint16_t)(0x3c00 + (i * 2654435761u >> 20) % 512);
                for (int64_t i = 0; i < m * k; i++)
                    ((float *)ab.host)[i] = (float)(i % 7) * 0.1f;
                plinth_view v_in[2], v_out;
                plinth_attrs at = {.matmul = {1}};
                double t[32], tb[32], tc[32], tcb[32];
                const int r_here = logits ? (m > 1 ? 3 : 7) : reps;
                for (int r = 0; r < r_here; r++) {
                    view2(&v_in[0], &ab, 0, PLINTH_F32, m, k);
                    view2(&v_in[1], &wb, (uint64_t)(r % copies) * wbytes, wdt, n, k);
                    view2(&v_out, &ob, 0, PLINTH_F32, m, n);
                    double c0 = cpu_now(), t0 = timing_now();
                    api->kernels[PLINTH_OP_MATMUL](dev, &v_out, v_in, 2, &at);
                    t[r] = timing_now() - t0;
                    tc[r] = cpu_now() - c0;
                }
                double tp = timing_median(t, (uint32_t)r_here), tob = 0, tcob = 0;
                const double tcp = timing_median(tc, (uint32_t)r_here);
                /* OpenBLAS on the same shape with f32 weights (no bf16 GEMV
                 * there): the reference for what a BLAS call costs. */
                if (ob_sgemv && wdt == PLINTH_F32) {
                    for (int r = 0; r < r_here; r++) {
                        const float *w = (const float *)(wb.host + (uint64_t)(r % copies) * wbytes);
                        double c0 = cpu_now(), t0 = timing_now();
                        if (m == 1)
                            ob_sgemv(101, 111, (int)n, (int)k, 1.0f, w, (int)k,
                                     (const float *)ab.host, 1, 0.0f, (float *)ob.host, 1);
                        else
                            ob_sgemm(101, 111, 112, (int)m, (int)n, (int)k, 1.0f,
                                     (const float *)ab.host, (int)k, w, (int)k, 0.0f,
                                     (float *)ob.host, (int)n);
                        tb[r] = timing_now() - t0;
                        tcb[r] = cpu_now() - c0;
                    }
                    tob = timing_median(tb, (uint32_t)r_here);
                    tcob = timing_median(tcb, (uint32_t)r_here);
                }
                const double flop = 2.0 * (double)m * (double)n * (double)k;
                double bw = m < 64 ? read_bw(bw_buf, bw_n, threads, 5) : 0;
                char obs[64] = "        -        -       -";
                if (tob > 0)
                    snprintf(obs, sizeof obs, "%9.3f %8.1f %7.1f", tob * 1e3, flop / tob / 1e9,
                             (double)n * (double)k * 4 / tob / 1e9);
                const double gbs = (double)wbytes / tp / 1e9;
                printf("%-8s %4lld %5s | %9.3f %8.1f %7.1f | %s | %7.1f %5.0f%% | %7.1f %7.1f\n",
                       shapes[s].name, (long long)m, wdt == PLINTH_F32 ? "f32" : "bf16", tp * 1e3,
                       flop / tp / 1e9, gbs, obs, bw, bw > 0 ? 100 * gbs / bw : 0.0,
                       flop / tcp / 1e9 / threads, tcob > 0 ? flop / tcob / 1e9 / threads : 0.0);
                fflush(stdout);
                api->buffer_free(dev, &wb);
                api->buffer_free(dev, &ab);
                api->buffer_free(dev, &ob);
            }
        }
    }
    api->device_close(dev);
    free(bw_buf);
    /* the arithmetic reference for the M > 1 rows, as plinth bench has it */
    printf("reference: f32 FMA peak %.1f GFLOP/s (%s, %d thread%s), measured after the shapes\n",
           fmapeak_measure((uint32_t)threads, 9), fmapeak_isa(), threads, threads == 1 ? "" : "s");
    return 0;
}
