/*
 * cpu_plugin.c — the cpu backend's face to the host.
 *
 * Sections:
 *   1. instances: ref's (ref_views.c), and why there is nothing else here
 *   2. devices: one CPU device; options isa=, threads=, precision=
 *      (cpu_precision.c says what fast does), bf16_compute=, q8_act=; the
 *      ISA level and its kernel table; the kernel calls per level, logged
 *      at close; device_describe (the precision an open device runs)
 *   3. buffers: 256-aligned host memory (large ones mmap'd, huge pages)
 *   4. supports and the kernel table: ref's validation, then cpu_run_op
 *   5. the table and the entry point (the only exported symbol)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu_kernels.h"

/* ---------------------------------------------------------------- 1 ---- */

/* The instance is ref's (host pointer and the message of the last failed
 * device_info/device_open): the cpu backend has nothing to add, since the
 * ISA is detected per device and the thread pool belongs to the device.
 * Nothing is process-wide or thread-local; rule 11. */

/* ---------------------------------------------------------------- 2 ---- */

#define MAX_THREADS 64

static uint32_t default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (uint32_t)n;
}

static uint32_t cpu_device_count(plinth_instance *inst)
{
    (void)inst;
    return 1;
}

static int32_t cpu_device_info(plinth_instance *inst, uint32_t index, plinth_device_info *out)
{
    if (!out || index != 0)
        return plugin_inst_fail(inst, PLINTH_ERR_INVALID, "cpu: no device %u (cpu has one device)",
                             index);
    cpu_arch arch;
    cpu_arch_detect(&arch);
    const int isa = cpu_isa_default(&arch);
    if (PLINTH_HAS_FIELD(out, plinth_device_info, name))
        snprintf(out->name, sizeof out->name, "cpu");
    if (PLINTH_HAS_FIELD(out, plinth_device_info, description))
        snprintf(out->description, sizeof out->description,
                 "plinth cpu backend: SIMD kernels, f32 accumulation, thread pool");
    if (PLINTH_HAS_FIELD(out, plinth_device_info, type))
        out->type = PLINTH_DEVICE_CPU;
    if (PLINTH_HAS_FIELD(out, plinth_device_info, memory_bytes)) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        out->memory_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    }
    if (PLINTH_HAS_FIELD(out, plinth_device_info, features)) {
        /* the level, the CPU's extra features, and whether bf16_compute=1
         * has its GEMM here (all at the level a device opens with) */
        const bool best = isa == arch.best;
        snprintf(out->features, sizeof out->features, "isa=%s%s%s%s threads=%u blas=none",
                 cpu_isa_name(isa), best && arch.flags[0] ? " " : "", best ? arch.flags : "",
                 best && arch.bf16_gemm ? " bf16_compute" : "", default_threads());
    }
    if (PLINTH_HAS_FIELD(out, plinth_device_info, precision))
        cpu_precision_line(NULL, &arch, isa, out->precision, sizeof out->precision);
    return PLINTH_OK;
}

/* "isa=avx2,threads=1": unknown keys and bad values are errors, so a typo
 * is not silently a default. The device does not exist yet for the host:
 * messages go to the instance. */
static int32_t parse_config(cpu_device *d, const cpu_arch *arch, const char *cfg)
{
    while (cfg && *cfg) {
        const char *end = strchr(cfg, ',');
        size_t len = end ? (size_t)(end - cfg) : strlen(cfg);
        char kv[64];
        if (len >= sizeof kv)
            return plugin_inst_fail(cpu_inst(d), PLINTH_ERR_INVALID, "cpu: config entry too long");
        memcpy(kv, cfg, len);
        kv[len] = 0;
        char *eq = strchr(kv, '=');
        const char *val = eq ? eq + 1 : "";
        if (eq)
            *eq = 0;
        if (!strcmp(kv, "isa")) {
            const int want = cpu_isa_parse(val);
            if (want < 0)
                return plugin_inst_fail(cpu_inst(d), PLINTH_ERR_INVALID,
                                     "cpu: isa=%s: expected %s", val, cpu_isa_all());
            /* refused, not lowered: a test of avx512 must not pass on avx2
             * (nor one of neon on x86-64) */
            if (!arch->level[want])
                return plugin_inst_fail(cpu_inst(d), PLINTH_ERR_UNSUPPORTED,
                                     "cpu: isa=%s is not available here (highest: %s)", val,
                                     cpu_isa_name(arch->best));
            d->isa = want;
        } else if (!strcmp(kv, "threads")) {
            char *e;
            long n = strtol(val, &e, 10);
            if (*val == 0 || *e || n < 1 || n > MAX_THREADS)
                return plugin_inst_fail(cpu_inst(d), PLINTH_ERR_INVALID,
                                     "cpu: threads=%s: expected 1..%d", val, MAX_THREADS);
            d->n_threads = (uint32_t)n;
        } else if (!strcmp(kv, "precision")) {
            /* as plinth_device_options.precision, which it overrides */
            if (strcmp(val, "exact") && strcmp(val, "fast"))
                return plugin_inst_fail(cpu_inst(d), PLINTH_ERR_INVALID,
                                     "cpu: precision=%s: expected exact or fast", val);
            d->precision = val[0] == 'f' ? PLINTH_PRECISION_FAST : PLINTH_PRECISION_EXACT;
        } else if (!strcmp(kv, "bf16_compute")) {
            /* prefill matmuls with bf16 weights through vdpbf16ps: the
             * activations are rounded to bf16 (inexact). Given, it wins
             * over precision=; not given, precision decides */
            if (strcmp(val, "0") && strcmp(val, "1"))
                return plugin_inst_fail(cpu_inst(d), PLINTH_ERR_INVALID,
                                     "cpu: bf16_compute=%s: expected 0 or 1", val);
            d->bf16_key = val[0] == '1';
        } else if (!strcmp(kv, "pack_weights")) {
            /* weights in our layout at load (enum cpu_pack; cpu_matmul.c
             * section 6 has what each packs and the measurements) */
            if (strcmp(val, "0") && strcmp(val, "1") && strcmp(val, "auto"))
                return plugin_inst_fail(cpu_inst(d), PLINTH_ERR_INVALID,
                                     "cpu: pack_weights=%s: expected 0, 1 or auto", val);
            d->pack_weights = val[0] == '1'   ? CPU_PACK_ALL
                              : val[0] == '0' ? CPU_PACK_OFF
                                              : CPU_PACK_AUTO;
        } else if (!strcmp(kv, "q8_act")) {
            /* decode matmuls with block weights on activations quantised
             * to int8 per block of 32, as llama.cpp does (inexact): 1 for
             * every block dtype, 0 for none, auto for the 4- and 6-bit
             * ones (cpu_quant.c). Given, it wins over precision=; not
             * given, exact means auto and fast means 1 */
            if (strcmp(val, "0") && strcmp(val, "1") && strcmp(val, "auto"))
                return plugin_inst_fail(cpu_inst(d), PLINTH_ERR_INVALID,
                                     "cpu: q8_act=%s: expected 0, 1 or auto", val);
            d->q8_key = (int8_t)(val[0] == '1' ? CPU_Q8_ACT_ALL : val[0] == '0' ? 0 : CPU_Q8_ACT_AUTO);
        } else if (kv[0]) {
            return plugin_inst_fail(cpu_inst(d), PLINTH_ERR_INVALID,
                                 "cpu: unknown config key '%s' (isa, threads, precision, "
                                 "bf16_compute, pack_weights, q8_act)", kv);
        }
        cfg = end ? end + 1 : NULL;
    }
    return PLINTH_OK;
}

static void cpu_device_close(plinth_device *pd);

static int32_t cpu_device_open(plinth_instance *inst, uint32_t index,
                               const plinth_device_options *opts, plinth_device **out)
{
    if (!out)
        return plugin_inst_fail(inst, PLINTH_ERR_INVALID, "cpu: device_open: NULL out");
    *out = NULL;
    if (index != 0)
        return plugin_inst_fail(inst, PLINTH_ERR_INVALID,
                             "cpu: device index %u out of range (cpu has one device)", index);
    cpu_device *d = plugin_malloc(inst, sizeof *d);
    if (!d)
        return plugin_inst_fail(inst, PLINTH_ERR_NO_MEMORY, "cpu: out of memory opening the device");
    /* Zeroed first: cpu_device_close frees exactly the parts that exist, so
     * every failure below is one call to it. */
    memset(d, 0, sizeof *d);
    d->base.inst = inst;
    cpu_arch arch;
    cpu_arch_detect(&arch);
    d->isa = cpu_isa_default(&arch);
    d->n_threads = default_threads();
    d->q8_key = -1;
    d->pack_weights = CPU_PACK_AUTO;
    d->bf16_key = -1;
    int32_t st = PLINTH_OK;
    if (opts && PLINTH_HAS_FIELD(opts, plinth_device_options, n_threads) && opts->n_threads) {
        d->n_threads = opts->n_threads;
        if (opts->n_threads > MAX_THREADS)
            st = plugin_inst_fail(inst, PLINTH_ERR_INVALID, "cpu: %u threads asked for; at most %d",
                               opts->n_threads, MAX_THREADS);
    }
    /* a value this plugin does not know reads as exact (plinth_plugin.h) */
    if (opts && PLINTH_HAS_FIELD(opts, plinth_device_options, precision) &&
        opts->precision == PLINTH_PRECISION_FAST)
        d->precision = PLINTH_PRECISION_FAST;
    if (st == PLINTH_OK && opts && PLINTH_HAS_FIELD(opts, plinth_device_options, config))
        st = parse_config(d, &arch, opts->config);
    d->k = arch.level[d->isa];
    d->has_bf16 = arch.bf16_gemm && d->isa == arch.best && d->k->tile_bf16;
    if (st == PLINTH_OK)
        cpu_precision_resolve(d); /* may run the probe: only for a device that opens */
    if (st == PLINTH_OK) {
        st = cpu_pool_create(inst, d->n_threads, &d->pool);
        if (st != PLINTH_OK)
            plugin_inst_fail(inst, st, "cpu: out of memory creating the thread pool (%u threads)",
                          d->n_threads);
    }
    if (st != PLINTH_OK) {
        cpu_device_close(&d->base);
        return st;
    }
    char prec[128];
    cpu_precision_line(d, &arch, d->isa, prec, sizeof prec);
    plugin_log(inst, PLINTH_LOG_DEBUG, "cpu: isa=%s threads=%u L2 %zu KiB precision %s",
               cpu_isa_name(d->isa), cpu_pool_threads(d), cpu_l2_bytes() / 1024, prec);
    *out = &d->base;
    return PLINTH_OK;
}

/* device_info as this device was opened: its ISA level and threads in
 * the features, and the precision it computes with, with the bf16 GEMMs
 * that ran so far (what `plinth bench` prints). */
static int32_t cpu_device_describe(plinth_device *pd, plinth_device_info *out)
{
    cpu_device *d = cpu_dev(pd);
    int32_t st = cpu_device_info(cpu_inst(d), 0, out);
    if (st != PLINTH_OK)
        return st;
    cpu_arch arch;
    cpu_arch_detect(&arch);
    if (PLINTH_HAS_FIELD(out, plinth_device_info, features))
        snprintf(out->features, sizeof out->features, "isa=%s%s%s threads=%u blas=none",
                 cpu_isa_name(d->isa), d->isa == arch.best && arch.flags[0] ? " " : "",
                 d->isa == arch.best ? arch.flags : "", cpu_pool_threads(d));
    if (PLINTH_HAS_FIELD(out, plinth_device_info, precision))
        cpu_precision_line(d, &arch, d->isa, out->precision, sizeof out->precision);
    return PLINTH_OK;
}

/* Weights in our own layout (plinth_plugin.h): q8_0, q4_0 and q4_K matmul
 * weights as 8-row groups, bf16 ones as pairs (get_rows' tables too), f32
 * ones as the GEMM's panels (cpu_matmul.c says which and why). */
static uint64_t cpu_pack_size(plinth_device *pd, uint32_t op, uint32_t input,
                              const plinth_view *out, const plinth_view *in, uint32_t n_in,
                              const void *attrs)
{
    if (op == PLINTH_OP_GET_ROWS && input == 0 && n_in == 2 && out && in)
        return cpu_get_rows_pack_size(cpu_dev(pd), out, &in[0]);
    if (op != PLINTH_OP_MATMUL || input != 1 || n_in != 2 || !out || !in || !attrs)
        return 0;
    return cpu_matmul_pack_size(cpu_dev(pd), out, &in[0], &in[1],
                                ((const plinth_attr_matmul *)attrs)->transpose_b != 0);
}

static int32_t cpu_pack(plinth_device *pd, uint32_t op, uint32_t input, const plinth_view *plain,
                        const plinth_view *packed)
{
    if (!((op == PLINTH_OP_MATMUL && input == 1) || (op == PLINTH_OP_GET_ROWS && input == 0)) ||
        !plain || !packed)
        return ref_fail(pd, PLINTH_ERR_INVALID, "cpu: pack: op %u input %u is not ours", op,
                        input);
    return cpu_matmul_pack(cpu_dev(pd), plain, packed);
}

static void cpu_device_close(plinth_device *pd)
{
    if (!pd)
        return;
    cpu_device *d = cpu_dev(pd);
    if (d->pool) { /* it was opened: say which kernels ran (tests read this) */
        char calls[512];
        cpu_calls_format(d, calls, sizeof calls);
        plugin_log(cpu_inst(d), PLINTH_LOG_DEBUG, "cpu: kernel calls: %s", calls);
    }
    cpu_pool_destroy(d->pool);
    for (int i = 0; i < MAX_THREADS; i++)
        cpu_free_floats(d, d->scratch[i]);
    cpu_free_floats(d, d->apack);
    cpu_free_floats(d, d->attn_pack);
    cpu_free_floats(d, d->wdeq);
    cpu_free_floats(d, d->aq8);
    plugin_free(cpu_inst(d), d);
}

/* ---------------------------------------------------------------- 3 ---- */

/* Large buffers are mmap'd: zero pages come free from the kernel (ref zeroes
 * explicitly; touching 1 GB of weights twice costs load time), and huge
 * pages cut TLB misses when the weights stream through at full bandwidth. */
#define MMAP_MIN (2u << 20)

static int32_t cpu_buffer_alloc(plinth_device *dev, uint64_t size, plinth_buffer *out)
{
    if (!out)
        return ref_fail(dev, PLINTH_ERR_INVALID, "buffer_alloc: NULL out");
    memset(out, 0, sizeof *out);
    if (size > UINT64_MAX / 2 || size > SIZE_MAX / 2)
        return ref_fail(dev, PLINTH_ERR_NO_MEMORY, "buffer_alloc: %llu bytes is too large",
                        (unsigned long long)size);
    /* One spare vector at the end: SIMD tails may over-read (never write). */
    uint64_t rounded = (size + 64 + PLINTH_ALIGNMENT - 1) / PLINTH_ALIGNMENT * PLINTH_ALIGNMENT;
    void *p;
    if (rounded >= MMAP_MIN) {
        rounded = (rounded + (2u << 20) - 1) & ~(uint64_t)((2u << 20) - 1);
        p = mmap(NULL, (size_t)rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
        if (p == MAP_FAILED)
            p = NULL;
#ifdef MADV_HUGEPAGE
        else
            madvise(p, (size_t)rounded, MADV_HUGEPAGE);
#endif
    } else {
        p = aligned_alloc(PLINTH_ALIGNMENT, (size_t)rounded);
        if (p)
            memset(p, 0, (size_t)rounded);
    }
    if (!p)
        return ref_fail(dev, PLINTH_ERR_NO_MEMORY, "buffer_alloc: out of memory (%llu bytes)",
                        (unsigned long long)rounded);
    out->handle = p;
    out->host = p;
    out->size = rounded;
    return PLINTH_OK;
}

static void cpu_buffer_free(plinth_device *dev, plinth_buffer *buf)
{
    if (!buf || !buf->handle)
        return;
    if (buf->size >= MMAP_MIN)
        munmap(buf->handle, (size_t)buf->size);
    else
        free(buf->handle);
    memset(buf, 0, sizeof *buf);
}

/* Host memory, and kernels (prepare too) that reach views through `data`
 * alone: tensors of ref, template or another host-memory backend in the
 * same program are read in place. And pack() packs over a param's plain
 * bytes (cpu_matmul_pack), so the host needs no copy of it at load. */
static uint64_t cpu_device_caps(plinth_device *dev)
{
    (void)dev;
    return PLINTH_CAP_HOST_MEMORY | PLINTH_CAP_PACK_IN_PLACE;
}

/* ---------------------------------------------------------------- 4 ---- */

/* supports() is ref's validation (ref_views.c): honest by construction,
 * since every case it accepts runs, on a fast path or on ref's own kernel. */

#define CPU_KERNEL(E, n, lo, hi)                                                          \
    static int32_t cpu_kernel_##n(plinth_device *dev, const plinth_view *out,             \
                                  const plinth_view *in, uint32_t n_in, const void *attrs) \
    {                                                                                     \
        int32_t st = ref_check_##n(dev, out, in, n_in, attrs);                            \
        if (st == PLINTH_OK)                                                              \
            st = ref_check_memory(dev, PLINTH_OP_##E, out, in, n_in);                     \
        if (st != PLINTH_OK)                                                              \
            return st;                                                                    \
        return cpu_run_op(cpu_dev(dev), PLINTH_OP_##E, out, in, n_in, attrs);             \
    }
PLINTH_OP_LIST(CPU_KERNEL)
#undef CPU_KERNEL

static const plinth_kernel_fn kernels[PLINTH_OP_COUNT] = {
#define X(E, n, lo, hi) [PLINTH_OP_##E] = cpu_kernel_##n,
    PLINTH_OP_LIST(X)
#undef X
};

/* ---------------------------------------------------------------- 5 ---- */

static const plinth_backend_api api = {
    .struct_size = sizeof(plinth_backend_api),
    .abi_version = PLINTH_ABI_VERSION,
    .name = "cpu",
    .version = "0.1.0",
    .description = "cpu backend: AVX-512/AVX2/NEON/scalar kernels, bf16 weights, thread pool",
    .instance_create = plugin_instance_create,
    .instance_destroy = plugin_instance_destroy,
    .instance_error = plugin_instance_error,
    .device_count = cpu_device_count,
    .device_info = cpu_device_info,
    .device_open = cpu_device_open,
    .device_close = cpu_device_close,
    .device_error = ref_device_error,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .upload = ref_host_upload,
    .download = ref_host_download,
    .supports = ref_supports,
    .op_count = PLINTH_OP_COUNT,
    .kernels = kernels,
    .unavailable_reason = NULL, /* the one device is always there */
    .prepare = cpu_prepare,
    .execute = cpu_execute,
    .release = cpu_release,
    .synchronize = NULL, /* every call completes before it returns */
    .device_caps = cpu_device_caps,
    .device_describe = cpu_device_describe,
    .pack_size = cpu_pack_size,
    .pack = cpu_pack,
};

PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version);

/* Cheap and without side effects (no CPU detection, no threads): the host
 * may load the plugin only to list it. */
PLINTH_PLUGIN_EXPORT const plinth_backend_api *plinth_plugin_entry(uint32_t host_abi_version)
{
    if (host_abi_version < PLINTH_ABI_VERSION)
        return NULL;
    return &api;
}
