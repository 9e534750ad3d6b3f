/*
 * bench_vulkan.c — the vulkan plugin's own numbers (meson benchmark, not a
 * test): cost of running an empty program, per-dispatch cost in a
 * 100-dispatch program, 1024^3 f32 matmul, and the decode matvec
 * 262144 x 640 with f32 and bf16 weights. Medians; prints one line each.
 *
 * Usage: bench_vulkan PLUGIN [config [matvec]]   (VK_DRIVER_FILES picks the driver;
 *        "matvec": only the decode matvec)
 *
 * Sections: plugin and helpers; the measurements.
 */
#include "plinth_plugin.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *hmalloc(void *u, size_t n) { (void)u; return malloc(n); }
static void hfree(void *u, void *p) { (void)u; free(p); }
static const plinth_host host = {.struct_size = sizeof host, .abi_version = PLINTH_ABI_VERSION,
                                 .malloc = hmalloc, .free = hfree};
static const plinth_backend_api *api;
static plinth_device *dev;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void check(int32_t st, const char *what)
{
    if (st != PLINTH_OK) {
        fprintf(stderr, "bench_vulkan: %s: %s\n", what, api->last_error(dev));
        exit(1);
    }
}

/* Median seconds of `reps` executions of a prepared program. */
static double time_program(const plinth_instruction *code, uint32_t n, int reps)
{
    void *prog;
    check(api->prepare(dev, code, n, &prog), "prepare");
    check(api->execute(dev, prog), "execute"); /* warm */
    double *t = malloc((size_t)reps * sizeof *t);
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        check(api->execute(dev, prog), "execute");
        t[i] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    double med = t[reps / 2];
    free(t);
    api->release(dev, prog);
    return med;
}

static plinth_view view(const plinth_buffer *b, int32_t dt, int64_t rows, int64_t cols)
{
    int64_t es = dt == PLINTH_F32 || dt == PLINTH_I32 ? 4 : 2;
    plinth_view v = {.buffer = b, .data = b->host, .dtype = dt, .ndim = 2,
                     .shape = {1, 1, rows, cols},
                     .stride = {rows * cols * es, rows * cols * es, cols * es, es}};
    return v;
}

static plinth_buffer alloc(uint64_t bytes)
{
    plinth_buffer b;
    check(api->buffer_alloc(dev, bytes, &b), "buffer_alloc");
    return b;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_vulkan PLUGIN [config]\n");
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    plinth_plugin_entry_fn entry;
    if (!lib || !(*(void **)&entry = dlsym(lib, PLINTH_PLUGIN_ENTRY_SYMBOL))) {
        fprintf(stderr, "bench_vulkan: cannot load %s\n", argv[1]);
        return 1;
    }
    api = entry(PLINTH_ABI_VERSION, &host);
    if (!api || api->device_count() == 0) {
        fprintf(stderr, "bench_vulkan: no device: %s\n",
                api && api->unavailable_reason ? api->unavailable_reason() : "?");
        return 1;
    }
    plinth_device_options o = {.struct_size = sizeof o, .config = argc > 2 ? argv[2] : NULL};
    check(api->device_open(0, &o, &dev), "device_open");
    plinth_device_info info = {.struct_size = sizeof info};
    api->device_info(0, &info);
    printf("device: %s\n", info.name);

    /* argv[3] "matvec": only the decode matvec (quick A/B of variants) */
    const bool only_mv = argc > 3 && strcmp(argv[3], "matvec") == 0;
    double t = only_mv ? 0 : time_program(NULL, 0, 301);
    if (!only_mv) {
    printf("empty program (submit + wait): %.1f us median\n", t * 1e6);

    plinth_buffer small = alloc(256 * 101);
    plinth_attrs none = {{0}};
    plinth_view v[101], in[100][2];
    plinth_instruction code[100];
    for (int i = 0; i < 101; i++) {
        v[i] = view(&small, PLINTH_F32, 1, 64);
        v[i].offset = v[i].base = (uint64_t)i * 256;
        v[i].data = small.host ? small.host + i * 256 : NULL;
    }
    for (int i = 0; i < 100; i++) { /* independent: no barriers needed */
        in[i][0] = v[100];
        in[i][1] = v[100];
        code[i] = (plinth_instruction){PLINTH_OP_ADD, 2, &v[i], in[i], &none};
    }
    double t100 = time_program(code, 100, 51);
    printf("100 independent dispatches: %.2f ms median = %.1f us per dispatch\n", t100 * 1e3,
           (t100 - t) / 100 * 1e6);
    for (int i = 0; i < 100; i++) { /* a chain: a barrier before each */
        in[i][0] = v[i == 0 ? 100 : i - 1];
        in[i][1] = v[100];
    }
    t100 = time_program(code, 100, 51);
    printf("100 dependent dispatches:   %.2f ms median = %.1f us per dispatch\n", t100 * 1e3,
           (t100 - t) / 100 * 1e6);

    const int64_t n = 1024;
    plinth_buffer ba = alloc(n * n * 4), bb = alloc(n * n * 4), bc = alloc(n * n * 4);
    plinth_view va = view(&ba, PLINTH_F32, n, n), vb = view(&bb, PLINTH_F32, n, n),
                vc = view(&bc, PLINTH_F32, n, n), mm_in[2] = {va, vb};
    plinth_attrs tb = {.matmul = {.transpose_b = 1}};
    plinth_instruction mm = {PLINTH_OP_MATMUL, 2, &vc, mm_in, &tb};
    t = time_program(&mm, 1, 5);
    printf("matmul 1024^3 f32 (b transposed): %.1f ms = %.2f GFLOP/s\n", t * 1e3,
           2.0 * n * n * n / t * 1e-9);
    plinth_attrs nt = {.matmul = {.transpose_b = 0}};
    mm.attrs = &nt;
    t = time_program(&mm, 1, 5);
    printf("matmul 1024^3 f32 (b plain):      %.1f ms = %.2f GFLOP/s\n", t * 1e3,
           2.0 * n * n * n / t * 1e-9);

    api->buffer_free(dev, &ba);
    api->buffer_free(dev, &bb);
    api->buffer_free(dev, &bc);
    api->buffer_free(dev, &small);
    }
    const int64_t rows = 262144, k = 640;
    plinth_attrs tb = {.matmul = {.transpose_b = 1}};
    for (int dt = 0; dt < 3; dt += 2) {
        const int32_t wdt = dt == 0 ? PLINTH_F32 : PLINTH_BF16;
        const uint64_t wbytes = (uint64_t)rows * k * (wdt == PLINTH_F32 ? 4 : 2);
        plinth_buffer bw = alloc(wbytes), bx = alloc(k * 4), by = alloc(rows * 4);
        plinth_view vw = view(&bw, wdt, rows, k), vx = view(&bx, PLINTH_F32, 1, k),
                    vy = view(&by, PLINTH_F32, 1, rows), mv_in[2] = {vx, vw};
        plinth_instruction mv = {PLINTH_OP_MATMUL, 2, &vy, mv_in, &tb};
        t = time_program(&mv, 1, 7);
        printf("matvec 262144x640 %s weights: %.1f ms = %.2f GB/s\n",
               wdt == PLINTH_F32 ? "f32" : "bf16", t * 1e3, (double)wbytes / t * 1e-9);
        api->buffer_free(dev, &bw);
        api->buffer_free(dev, &bx);
        api->buffer_free(dev, &by);
    }
    api->device_close(dev);
    return 0;
}
