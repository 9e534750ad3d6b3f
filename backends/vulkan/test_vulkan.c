/*
 * test_vulkan.c — the vulkan plugin against ref, op by op, and the
 * whole-program path, with the Khronos validation layer on.
 *
 * Both plugins are dlopen-ed (PLINTH_TEST_REF, PLINTH_TEST_VULKAN). Every
 * case runs the same inputs through both; the output is poisoned with NaN
 * before the run (every element must be written), surrounded by 0xA5 guard
 * bytes (nothing may be written outside) and compared by normalised mean
 * squared error with a per-dtype threshold. Any validation message fails
 * the test: the plugin turns it into an error status, and device_close
 * logs it as an error, which the host log below counts.
 *
 * Sections: plugins and host; views and data; running one case; cases;
 * the program path.
 */
#include "plinth_plugin.h"

#include <criterion/criterion.h>

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ plugins, host --- */

static int g_log_errors;
static char g_last_log[1024];
static char g_last_program[256]; /* the last "program of ..." debug line */

static void on_log(void *user, int level, const char *msg)
{
    (void)user;
    if (strstr(msg, "program of "))
        snprintf(g_last_program, sizeof g_last_program, "%s", msg);
    if (level <= PLINTH_LOG_WARN) {
        g_log_errors++;
        snprintf(g_last_log, sizeof g_last_log, "%s", msg);
    }
}

static void *host_malloc(void *user, size_t n)
{
    (void)user;
    return malloc(n);
}

static void host_free(void *user, void *p)
{
    (void)user;
    free(p);
}

static const plinth_host host = {
    .struct_size = sizeof(plinth_host),
    .abi_version = PLINTH_ABI_VERSION,
    .log = on_log,
    .malloc = host_malloc,
    .free = host_free,
};

typedef struct plugin {
    void *lib;
    const plinth_backend_api *api;
    plinth_device *dev;
} plugin;

static plugin ref, vk;

static void open_plugin(plugin *p, const char *env, const char *config)
{
    const char *path = getenv(env);
    cr_assert(path && path[0], "%s is not set (run through meson test)", env);
    p->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    cr_assert(p->lib, "dlopen %s: %s", path, dlerror());
    plinth_plugin_entry_fn entry;
    *(void **)&entry = dlsym(p->lib, PLINTH_PLUGIN_ENTRY_SYMBOL);
    cr_assert(entry);
    p->api = entry(PLINTH_ABI_VERSION, &host);
    cr_assert(p->api);
    cr_assert_gt(p->api->device_count(), 0, "%s: no device: %s", env,
                 p->api->unavailable_reason ? p->api->unavailable_reason() : "?");
    plinth_device_options o = {.struct_size = sizeof o, .config = config};
    int32_t st = p->api->device_open(0, &o, &p->dev);
    cr_assert_eq(st, PLINTH_OK, "%s: device_open: %s", env, p->api->last_error(NULL));
}

static void setup_with(const char *config)
{
    g_log_errors = 0;
    open_plugin(&ref, "PLINTH_TEST_REF", NULL);
    open_plugin(&vk, "PLINTH_TEST_VULKAN", config);
}

static void setup(void)
{
    setup_with("validation=1");
}

static void teardown(void)
{
    if (vk.dev)
        vk.api->device_close(vk.dev);
    if (ref.dev)
        ref.api->device_close(ref.dev);
    vk.dev = ref.dev = NULL;
    cr_expect_eq(g_log_errors, 0, "plugin logged %d warnings/errors, last: %s", g_log_errors,
                 g_last_log);
}

/* -------------------------------------------------------- views, data --- */

enum layout { DENSE, STRIDED, PERMUTED };

typedef struct tview {
    int32_t dtype;
    int32_t ndim;
    int64_t shape[4];
    int layout;
} tview;

static size_t esize(int32_t dt)
{
    return dt == PLINTH_F16 || dt == PLINTH_BF16 ? 2 : 4;
}

/* Byte strides of a layout and the bytes it spans. */
static uint64_t layout_strides(const tview *t, int64_t st[4])
{
    const int64_t es = (int64_t)esize(t->dtype);
    int64_t ext[4];
    memcpy(ext, t->shape, sizeof ext);
    int order[4] = {0, 1, 2, 3}; /* outermost first in memory */
    if (t->layout == PERMUTED) {
        order[2] = 3;
        order[3] = 2;
    }
    int64_t step = t->layout == STRIDED ? 2 * es : es;
    for (int i = 3; i >= 0; i--) {
        int d = order[i];
        st[d] = step;
        step *= ext[d] ? ext[d] : 1;
        if (t->layout == STRIDED && i == 3)
            step += es * 3; /* padded rows too */
    }
    uint64_t hi = 0;
    for (int d = 0; d < 4; d++)
        if (t->shape[d] > 0)
            hi += (uint64_t)((t->shape[d] - 1) * st[d]);
    return hi + (uint64_t)es;
}

static uint16_t f32_to_half(float f, bool bf)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if (bf)
        return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    /* f16 for values in normal range (test data is |x| < 64 and not tiny) */
    uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a < 0x38800000u)
        return (uint16_t)sign;
    uint32_t r = a - 0x38000000u;
    r = (r + 0xfffu + ((r >> 13) & 1u)) >> 13;
    return (uint16_t)(sign | r);
}

static double load_elem(const uint8_t *p, int32_t dt)
{
    if (dt == PLINTH_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    if (dt == PLINTH_I32) {
        int32_t i;
        memcpy(&i, p, 4);
        return i;
    }
    uint16_t h;
    memcpy(&h, p, 2);
    if (dt == PLINTH_BF16) {
        uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
    return h & 0x8000 ? -v : v;
}

static void store_elem(uint8_t *p, int32_t dt, double v)
{
    if (dt == PLINTH_F32) {
        float f = (float)v;
        memcpy(p, &f, 4);
    } else if (dt == PLINTH_I32) {
        int32_t i = (int32_t)v;
        memcpy(p, &i, 4);
    } else {
        uint16_t h = f32_to_half((float)v, dt == PLINTH_BF16);
        memcpy(p, &h, 2);
    }
}

static uint32_t g_seed = 12345;

static uint32_t rnd(void)
{
    g_seed ^= g_seed << 13;
    g_seed ^= g_seed >> 17;
    g_seed ^= g_seed << 5;
    return g_seed;
}

/* How an input is filled. */
enum fill { RANDOM, INDEX, POSITION, KVLEN, SMALLINT };

typedef struct tinput {
    tview v;
    int fill;
    int64_t arg; /* INDEX: rows; POSITION: first position; KVLEN: value */
} tinput;

#define GUARD 256

/* A buffer per view in each plugin: GUARD bytes, the tensor, GUARD bytes. */
typedef struct tbuf {
    plinth_buffer b[2]; /* ref, vulkan */
    plinth_view view[2];
    uint64_t bytes;
    uint8_t *host; /* the data, as uploaded */
} tbuf;

static void make_buf(tbuf *t, const tview *v)
{
    memset(t, 0, sizeof *t);
    int64_t st[4];
    t->bytes = layout_strides(v, st);
    uint64_t total = GUARD + ((t->bytes + 255) / 256) * 256 + GUARD;
    t->host = calloc(1, (size_t)total);
    cr_assert(t->host);
    plugin *ps[2] = {&ref, &vk};
    for (int i = 0; i < 2; i++) {
        int32_t s = ps[i]->api->buffer_alloc(ps[i]->dev, total, &t->b[i]);
        cr_assert_eq(s, PLINTH_OK, "buffer_alloc: %s", ps[i]->api->last_error(ps[i]->dev));
        plinth_view *w = &t->view[i];
        memset(w, 0, sizeof *w);
        w->buffer = &t->b[i];
        w->data = t->b[i].host ? t->b[i].host + GUARD : NULL;
        w->base = GUARD;
        w->offset = GUARD;
        w->dtype = v->dtype;
        w->ndim = v->ndim ? v->ndim : 4;
        memcpy(w->shape, v->shape, sizeof w->shape);
        memcpy(w->stride, st, sizeof w->stride);
    }
}

static void free_buf(tbuf *t)
{
    plugin *ps[2] = {&ref, &vk};
    for (int i = 0; i < 2; i++)
        ps[i]->api->buffer_free(ps[i]->dev, &t->b[i]);
    free(t->host);
}

/* Calls fn(elem byte offset, flat index) for every element of view v. */
#define FOR_EACH(v, off, n, ...)                                                       \
    do {                                                                               \
        int64_t n = 0;                                                                 \
        for (int64_t i0 = 0; i0 < (v)->shape[0]; i0++)                                 \
            for (int64_t i1 = 0; i1 < (v)->shape[1]; i1++)                             \
                for (int64_t i2 = 0; i2 < (v)->shape[2]; i2++)                         \
                    for (int64_t i3 = 0; i3 < (v)->shape[3]; i3++, n++) {              \
                        int64_t off = i0 * (v)->stride[0] + i1 * (v)->stride[1] +      \
                                      i2 * (v)->stride[2] + i3 * (v)->stride[3];       \
                        __VA_ARGS__;                                                   \
                    }                                                                  \
    } while (0)

static void fill_buf(tbuf *t, const tinput *in)
{
    uint8_t *base = t->host + GUARD;
    const plinth_view *v = &t->view[0];
    FOR_EACH(v, off, n, {
        double x;
        switch (in->fill) {
        case INDEX: x = (double)(rnd() % (uint32_t)in->arg); break;
        case POSITION: x = (double)(in->arg + n); break;
        case KVLEN: x = (double)in->arg; break;
        case SMALLINT: x = (double)((int32_t)(rnd() % 2001) - 1000); if (x == 0) x = 7; break;
        default: x = (double)(rnd() >> 8) / 16777216.0 * 4.0 - 2.0; if (x == 0) x = 0.25;
        }
        store_elem(base + off, in->v.dtype, x);
    });
}

static void upload_both(tbuf *t, uint64_t total)
{
    plugin *ps[2] = {&ref, &vk};
    for (int i = 0; i < 2; i++)
        cr_assert_eq(ps[i]->api->upload(ps[i]->dev, &t->b[i], 0, t->host, total), PLINTH_OK);
}

/* ------------------------------------------------------ one case --- */

typedef struct tcase {
    const char *name;
    uint32_t op;
    plinth_attrs attrs;
    tview out;
    uint32_t n_in;
    tinput in[5];
    bool keep_out; /* set_rows: out is state, filled, not poisoned */
    double tol;    /* NMSE threshold; 0: per dtype */
} tcase;

static double default_tol(int32_t dt)
{
    return dt == PLINTH_F32 ? 1e-9 : dt == PLINTH_F16 ? 1e-6 : dt == PLINTH_BF16 ? 1e-4 : 0.0;
}

static void run_case(const tcase *c)
{
    tbuf in[5], out;
    for (uint32_t i = 0; i < c->n_in; i++) {
        make_buf(&in[i], &c->in[i].v);
        fill_buf(&in[i], &c->in[i]);
        upload_both(&in[i], in[i].b[0].size < in[i].b[1].size ? in[i].b[0].size : in[i].b[1].size);
    }
    make_buf(&out, &c->out);
    uint64_t total = out.b[0].size < out.b[1].size ? out.b[0].size : out.b[1].size;
    memset(out.host, 0xA5, (size_t)total);
    if (c->keep_out) {
        tinput t = {.v = c->out, .fill = RANDOM};
        fill_buf(&out, &t);
    } else {
        uint8_t *b = out.host + GUARD;
        const int32_t dt = c->out.dtype;
        FOR_EACH(&out.view[0], off, n, {
            (void)n;
            if (dt == PLINTH_I32)
                memcpy(b + off, &(int32_t){INT32_MIN + 5}, 4);
            else
                store_elem(b + off, dt, NAN);
        });
    }
    upload_both(&out, total);

    plugin *ps[2] = {&ref, &vk};
    uint8_t *got[2];
    for (int p = 0; p < 2; p++) {
        plinth_view views[5];
        for (uint32_t i = 0; i < c->n_in; i++)
            views[i] = in[i].view[p];
        bool ok = ps[p]->api->supports(ps[p]->dev, c->op, &out.view[p], views, c->n_in, &c->attrs);
        cr_assert(ok, "%s: %s does not support it: %s", c->name, p ? "vulkan" : "ref",
                  ps[p]->api->last_error(ps[p]->dev));
        int32_t s = ps[p]->api->kernels[c->op](ps[p]->dev, &out.view[p], views, c->n_in,
                                               &c->attrs);
        cr_assert_eq(s, PLINTH_OK, "%s: %s kernel: %s", c->name, p ? "vulkan" : "ref",
                     ps[p]->api->last_error(ps[p]->dev));
        got[p] = malloc((size_t)total);
        cr_assert_eq(ps[p]->api->download(ps[p]->dev, &out.b[p], 0, got[p], total), PLINTH_OK);
    }
    /* Guard bytes and anything outside the view's elements stay 0xA5 (or
     * the filled state for set_rows): compare the whole buffer outside the
     * elements byte for byte against ref. */
    double num = 0, den = 0;
    int nan_count = 0;
    const int32_t dt = c->out.dtype;
    uint8_t *mask = calloc(1, (size_t)total);
    FOR_EACH(&out.view[0], off, n, {
        (void)n;
        memset(mask + GUARD + off, 1, esize(dt));
        double r = load_elem(got[0] + GUARD + off, dt), v = load_elem(got[1] + GUARD + off, dt);
        if (isnan(v) && !isnan(r))
            nan_count++;
        else if (!isnan(r)) {
            num += (r - v) * (r - v);
            den += r * r;
        }
    });
    for (uint64_t i = 0; i < total; i++)
        if (!mask[i])
            cr_assert_eq(got[1][i], got[0][i], "%s (out dtype %d, in dtype %d): byte %llu "
                         "outside the output changed (0x%02x, ref 0x%02x)", c->name,
                         (int)c->out.dtype, (int)c->in[0].v.dtype, (unsigned long long)i,
                         got[1][i], got[0][i]);
    double nmse = den > 0 ? num / den : num;
    double tol = c->tol > 0 ? c->tol : default_tol(dt);
    cr_expect_eq(nan_count, 0, "%s (out dtype %d, in dtype %d): %d elements left NaN/unwritten",
                 c->name, (int)c->out.dtype, (int)c->in[0].v.dtype, nan_count);
    cr_expect(nmse <= tol, "%s (out dtype %d, in dtype %d): nmse %.3g > %.3g", c->name,
              (int)c->out.dtype, (int)c->in[0].v.dtype, nmse, tol);
    free(mask);
    free(got[0]);
    free(got[1]);
    for (uint32_t i = 0; i < c->n_in; i++)
        free_buf(&in[i]);
    free_buf(&out);
}

/* ------------------------------------------------------------ cases --- */

static tview V(int32_t dt, int64_t d0, int64_t d1, int64_t d2, int64_t d3, int layout)
{
    return (tview){.dtype = dt, .ndim = 4, .shape = {d0, d1, d2, d3}, .layout = layout};
}

static tinput R(tview v)
{
    return (tinput){.v = v, .fill = RANDOM};
}

static const int32_t float_dts[] = {PLINTH_F32, PLINTH_F16, PLINTH_BF16};
static const int64_t odd[] = {1, 7, 33, 257};

TestSuite(vulkan, .init = setup, .fini = teardown, .timeout = 240);

Test(vulkan, binary)
{
    const uint32_t ops[] = {PLINTH_OP_ADD, PLINTH_OP_SUB, PLINTH_OP_MUL, PLINTH_OP_DIV};
    const int32_t dts[] = {PLINTH_F32, PLINTH_F16, PLINTH_BF16, PLINTH_I32};
    for (int o = 0; o < 4; o++)
        for (int t = 0; t < 4; t++)
            for (int s = 0; s < 4; s++) {
                const int32_t dt = dts[t];
                const int64_t n = odd[s];
                const int lay = s % 3;
                tcase c = {.name = "binary", .op = ops[o], .n_in = 2};
                c.out = V(dt, 1, 2, 3, n, DENSE);
                c.in[0] = R(V(dt, 1, 2, 3, n, lay));
                c.in[1] = R(V(dt, 1, 1, 3, s == 2 ? 1 : n, s == 3 ? PERMUTED : DENSE));
                if (dt == PLINTH_I32)
                    c.in[0].fill = c.in[1].fill = SMALLINT;
                run_case(&c);
            }
}

Test(vulkan, unary)
{
    const uint32_t ops[] = {PLINTH_OP_SCALE, PLINTH_OP_GELU_TANH, PLINTH_OP_SILU};
    for (int o = 0; o < 3; o++)
        for (int t = 0; t < 3; t++)
            for (int s = 0; s < 4; s++) {
                tcase c = {.name = "unary", .op = ops[o], .n_in = 1};
                c.attrs.scale.s = 0.37f;
                c.out = V(float_dts[t], 1, 1, 5, odd[s], s == 3 ? STRIDED : DENSE);
                c.in[0] = R(V(float_dts[t], 1, 1, 5, odd[s], s % 3));
                run_case(&c);
            }
}

Test(vulkan, rows)
{
    for (int t = 0; t < 3; t++)
        for (int s = 0; s < 4; s++) {
            const int32_t dt = float_dts[t];
            tcase c = {.name = "rms_norm", .op = PLINTH_OP_RMS_NORM, .n_in = 2};
            c.attrs.rms_norm.eps = 1e-6f;
            c.out = V(dt, 1, 2, 3, odd[s], DENSE);
            c.in[0] = R(V(dt, 1, 2, 3, odd[s], s % 3));
            c.in[1] = R(V(float_dts[(t + s) % 3], 1, 1, 1, odd[s], DENSE));
            run_case(&c);
            c.n_in = 1;
            run_case(&c);
            tcase m = {.name = "softmax", .op = PLINTH_OP_SOFTMAX, .n_in = 2};
            m.attrs.softmax.scale = 0.7f;
            m.out = V(dt, 1, 2, 3, odd[s], DENSE);
            m.in[0] = R(V(dt, 1, 2, 3, odd[s], s % 3));
            m.in[1] = R(V(PLINTH_F32, 1, 1, 3, odd[s], DENSE));
            run_case(&m);
            m.n_in = 1;
            run_case(&m);
            tcase a = {.name = "argmax", .op = PLINTH_OP_ARGMAX, .n_in = 1};
            a.out = V(PLINTH_I32, 1, 1, 2, 3, DENSE);
            a.in[0] = R(V(dt, 1, 2, 3, odd[s], s % 3));
            a.tol = 1e-30;
            run_case(&a);
        }
}

Test(vulkan, matmul)
{
    /* (M, K, N): decode rows, odd sizes, vec4-able sizes. */
    const int64_t mkn[][3] = {{1, 7, 33}, {1, 64, 257}, {2, 33, 7}, {7, 257, 33},
                              {33, 64, 65}, {65, 16, 70}, {1, 256, 64}, {3, 128, 128}};
    for (int i = 0; i < 8; i++)
        for (int t = 0; t < 3; t++)
            for (int tb = 0; tb < 2; tb++) {
                const int64_t m = mkn[i][0], k = mkn[i][1], n = mkn[i][2];
                tcase c = {.name = "matmul", .op = PLINTH_OP_MATMUL, .n_in = 2};
                c.attrs.matmul.transpose_b = tb;
                c.out = V(PLINTH_F32, 1, 1, m, n, DENSE);
                c.in[0] = R(V(PLINTH_F32, 1, 1, m, k, i == 3 ? PERMUTED : DENSE));
                c.in[1] = R(tb ? V(float_dts[t], 1, 1, n, k, i == 4 ? STRIDED : DENSE)
                               : V(float_dts[t], 1, 1, k, n, DENSE));
                run_case(&c);
            }
    /* batched with broadcast, and f16/bf16 activations */
    tcase c = {.name = "matmul batched", .op = PLINTH_OP_MATMUL, .n_in = 2};
    c.attrs.matmul.transpose_b = 1;
    c.out = V(PLINTH_F32, 2, 3, 5, 9, DENSE);
    c.in[0] = R(V(PLINTH_F32, 2, 3, 5, 12, DENSE));
    c.in[1] = R(V(PLINTH_F32, 1, 3, 9, 12, DENSE));
    run_case(&c);
    for (int t = 1; t < 3; t++) {
        tcase h = {.name = "matmul half a", .op = PLINTH_OP_MATMUL, .n_in = 2};
        h.out = V(float_dts[t], 1, 1, 6, 10, DENSE);
        h.in[0] = R(V(float_dts[t], 1, 1, 6, 12, DENSE));
        h.in[1] = R(V(PLINTH_F32, 1, 1, 12, 10, DENSE));
        run_case(&h);
    }
}

Test(vulkan, matmul_variants_other)
{
    /* The other variants (register blocking, a row per invocation) on this
     * device too, so both paths are checked wherever the suite runs. */
    teardown();
    setup_with("validation=1,matmul=blocked,matvec=rows");
    const int64_t mkn[][3] = {{1, 7, 33}, {1, 64, 257}, {33, 64, 65}, {70, 20, 3}};
    for (int i = 0; i < 4; i++)
        for (int t = 0; t < 3; t++) {
            tcase c = {.name = "matmul (blocked, rows)", .op = PLINTH_OP_MATMUL, .n_in = 2};
            c.attrs.matmul.transpose_b = i % 2;
            const int64_t m = mkn[i][0], k = mkn[i][1], n = mkn[i][2];
            c.out = V(PLINTH_F32, 1, 1, m, n, DENSE);
            c.in[0] = R(V(PLINTH_F32, 1, 1, m, k, DENSE));
            c.in[1] = R(i % 2 ? V(float_dts[t], 1, 1, n, k, DENSE)
                              : V(float_dts[t], 1, 1, k, n, DENSE));
            run_case(&c);
        }
}

Test(vulkan, moves)
{
    const int32_t dts[] = {PLINTH_F32, PLINTH_F16, PLINTH_BF16, PLINTH_I32};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            tcase c = {.name = "cast", .op = PLINTH_OP_CAST, .n_in = 1};
            c.attrs.cast.dtype = dts[b];
            c.out = V(dts[b], 1, 1, 7, 33, DENSE);
            c.in[0] = R(V(dts[a], 1, 1, 7, 33, (a + b) % 3));
            if (dts[a] == PLINTH_I32)
                c.in[0].fill = SMALLINT;
            if (dts[b] == PLINTH_I32)
                c.tol = 1e-30;
            run_case(&c);
        }
    for (int a = 0; a < 4; a++) {
        tcase c = {.name = "copy reshape", .op = PLINTH_OP_COPY, .n_in = 1};
        c.out = V(dts[a], 1, 1, 33, 7, DENSE);
        c.in[0] = R(V(dts[a], 1, 1, 7, 33, PERMUTED));
        if (dts[a] == PLINTH_I32)
            c.in[0].fill = SMALLINT, c.tol = 1e-30;
        run_case(&c);
        tcase k = {.name = "concat", .op = PLINTH_OP_CONCAT, .n_in = 2};
        k.attrs.concat.axis = 1 + a % 3;
        int64_t sa[4] = {1, 2, 3, 5}, sb[4] = {1, 2, 3, 5}, so[4] = {1, 2, 3, 5};
        sb[k.attrs.concat.axis] = 4;
        so[k.attrs.concat.axis] += 4;
        k.out = V(dts[a], so[0], so[1], so[2], so[3], DENSE);
        k.in[0] = R(V(dts[a], sa[0], sa[1], sa[2], sa[3], STRIDED));
        k.in[1] = R(V(dts[a], sb[0], sb[1], sb[2], sb[3], DENSE));
        if (dts[a] == PLINTH_I32)
            k.in[0].fill = k.in[1].fill = SMALLINT, k.tol = 1e-30;
        run_case(&k);
    }
}

Test(vulkan, rows_io)
{
    for (int t = 0; t < 4; t++) {
        const int32_t dt = t < 3 ? float_dts[t] : PLINTH_I32;
        tcase g = {.name = "get_rows", .op = PLINTH_OP_GET_ROWS, .n_in = 2};
        g.attrs.get_rows.dtype = dt;
        g.out = V(dt, 1, 1, 7, 33, DENSE);
        g.in[0] = R(V(dt, 1, 1, 257, 33, DENSE));
        g.in[1] = (tinput){.v = V(PLINTH_I32, 1, 1, 1, 7, DENSE), .fill = INDEX, .arg = 257};
        if (dt == PLINTH_I32)
            g.in[0].fill = SMALLINT, g.tol = 1e-30;
        run_case(&g);
        if (t < 3) {
            g.attrs.get_rows.dtype = PLINTH_F32;
            g.out = V(PLINTH_F32, 1, 1, 7, 33, DENSE);
            run_case(&g);
        }
        tcase s = {.name = "set_rows", .op = PLINTH_OP_SET_ROWS, .n_in = 2, .keep_out = true};
        s.out = V(dt, 1, 1, 33, 65, DENSE);
        s.in[0] = R(V(t == 3 ? dt : PLINTH_F32, 1, 1, 7, 65, t == 1 ? STRIDED : DENSE));
        s.in[1] = (tinput){.v = V(PLINTH_I32, 1, 1, 1, 7, DENSE), .fill = INDEX, .arg = 33};
        if (dt == PLINTH_I32)
            s.in[0].fill = SMALLINT, s.tol = 1e-30;
        run_case(&s);
    }
}

Test(vulkan, rope)
{
    for (int t = 0; t < 3; t++)
        for (int s = 0; s < 3; s++) {
            tcase c = {.name = "rope", .op = PLINTH_OP_ROPE, .n_in = 2};
            c.attrs.rope.base = s == 1 ? 1e6f : 10000.0f;
            c.attrs.rope.n_dims = s == 2 ? 8 : 16;
            c.out = V(float_dts[t], 1, 7, 3, 16, DENSE);
            c.in[0] = R(V(float_dts[t], 1, 7, 3, 16, s));
            c.in[1] = (tinput){.v = V(PLINTH_I32, 1, 1, 1, 7, DENSE), .fill = POSITION,
                               .arg = 3 + 20 * s};
            c.tol = float_dts[t] == PLINTH_F32 ? 1e-8 : 0;
            run_case(&c);
        }
}

Test(vulkan, attention)
{
    /* (T, S, kv_len, first pos, Hq, Hkv, D, window) */
    const int64_t cfg[][8] = {{1, 33, 20, 19, 4, 1, 64, 0},   {7, 70, 70, 63, 4, 2, 32, 0},
                              {5, 130, 100, 95, 2, 2, 16, 8}, {3, 257, 257, 254, 4, 1, 256, 0},
                              {1, 7, 7, 6, 1, 1, 33, 3},      {2, 9, 2, 0, 2, 1, 8, 0}};
    for (int i = 0; i < 6; i++)
        for (int t = 0; t < 3; t++) {
            const int64_t *f = cfg[i];
            tcase c = {.name = "attention", .op = PLINTH_OP_ATTENTION, .n_in = 5};
            c.attrs.attention.scale = 1.0f / sqrtf((float)f[6]);
            c.attrs.attention.window = (int32_t)f[7];
            c.out = V(PLINTH_F32, 1, f[0], f[4], f[6], DENSE);
            c.in[0] = R(V(PLINTH_F32, 1, f[0], f[4], f[6], i == 1 ? PERMUTED : DENSE));
            c.in[1] = R(V(float_dts[t], 1, f[1], f[5], f[6], DENSE));
            c.in[2] = R(V(float_dts[t], 1, f[1], f[5], f[6], i == 2 ? STRIDED : DENSE));
            c.in[3] = (tinput){.v = V(PLINTH_I32, 1, 1, 1, f[0], DENSE), .fill = POSITION,
                               .arg = f[3]};
            c.in[4] = (tinput){.v = V(PLINTH_I32, 1, 1, 1, 1, DENSE), .fill = KVLEN,
                               .arg = f[2]};
            c.tol = 1e-8;
            run_case(&c);
        }
}

/* ------------------------------------------------------ program path --- */

/* A small graph through prepare/execute (one command buffer, barriers from
 * the data dependencies, an in-place add), run twice with new inputs, each
 * time against ref's kernels in the same order. */
Test(vulkan, program)
{
    tinput x = R(V(PLINTH_F32, 1, 1, 4, 64, DENSE));
    tinput w = R(V(PLINTH_BF16, 1, 1, 48, 64, DENSE));
    tinput b = R(V(PLINTH_F32, 1, 1, 1, 48, DENSE));
    tview y = V(PLINTH_F32, 1, 1, 4, 48, DENSE), nrm = y, am = V(PLINTH_I32, 1, 1, 1, 4, DENSE);
    tbuf bx, bw, bb, by, bn, ba;
    make_buf(&bx, &x.v);
    make_buf(&bw, &w.v);
    make_buf(&bb, &b.v);
    make_buf(&by, &y);
    make_buf(&bn, &nrm);
    make_buf(&ba, &am);
    fill_buf(&bw, &w);
    fill_buf(&bb, &b);
    upload_both(&bw, bw.b[0].size);
    upload_both(&bb, bb.b[0].size);
    plinth_attrs mm = {.matmul = {.transpose_b = 1}}, rn = {.rms_norm = {.eps = 1e-5f}};
    plinth_attrs none = {{0}};
    plinth_view in_mm[2][2], in_add[2][2], in_rn[2][1], in_am[2][1];
    plinth_instruction code[4];
    for (int p = 0; p < 2; p++) {
        in_mm[p][0] = bx.view[p];
        in_mm[p][1] = bw.view[p];
        in_add[p][0] = by.view[p];
        in_add[p][1] = bb.view[p];
        in_rn[p][0] = by.view[p];
        in_am[p][0] = bn.view[p];
    }
    code[0] = (plinth_instruction){PLINTH_OP_MATMUL, 2, &by.view[1], in_mm[1], &mm};
    code[1] = (plinth_instruction){PLINTH_OP_ADD, 2, &by.view[1], in_add[1], &none};
    code[2] = (plinth_instruction){PLINTH_OP_RMS_NORM, 1, &bn.view[1], in_rn[1], &rn};
    code[3] = (plinth_instruction){PLINTH_OP_ARGMAX, 1, &ba.view[1], in_am[1], &none};
    void *prog = NULL;
    cr_assert_eq(vk.api->prepare(vk.dev, code, 4, &prog), PLINTH_OK, "prepare: %s",
                 vk.api->last_error(vk.dev));
    for (int run = 0; run < 2; run++) {
        fill_buf(&bx, &x);
        upload_both(&bx, bx.b[0].size);
        cr_assert_eq(vk.api->execute(vk.dev, prog), PLINTH_OK, "execute: %s",
                     vk.api->last_error(vk.dev));
        for (int i = 0; i < 4; i++) {
            const plinth_view *ins = code[i].op == PLINTH_OP_MATMUL ? in_mm[0]
                                     : code[i].op == PLINTH_OP_ADD  ? in_add[0]
                                     : code[i].op == PLINTH_OP_RMS_NORM ? in_rn[0]
                                                                        : in_am[0];
            const plinth_view *o = code[i].op == PLINTH_OP_MATMUL || code[i].op == PLINTH_OP_ADD
                                       ? &by.view[0]
                                   : code[i].op == PLINTH_OP_RMS_NORM ? &bn.view[0]
                                                                      : &ba.view[0];
            cr_assert_eq(ref.api->kernels[code[i].op](ref.dev, o, ins, code[i].n_in,
                                                      code[i].attrs), PLINTH_OK);
        }
        float r[4 * 48], v[4 * 48];
        int32_t ri[4], vi[4];
        ref.api->download(ref.dev, &bn.b[0], GUARD, r, sizeof r);
        vk.api->download(vk.dev, &bn.b[1], GUARD, v, sizeof v);
        ref.api->download(ref.dev, &ba.b[0], GUARD, ri, sizeof ri);
        vk.api->download(vk.dev, &ba.b[1], GUARD, vi, sizeof vi);
        double num = 0, den = 0;
        for (int i = 0; i < 4 * 48; i++) {
            num += ((double)r[i] - v[i]) * ((double)r[i] - v[i]);
            den += (double)r[i] * r[i];
        }
        cr_expect(num / den < 1e-10, "program run %d: nmse %g", run, num / den);
        cr_expect(memcmp(ri, vi, sizeof ri) == 0, "program run %d: argmax differs", run);
    }
    vk.api->release(vk.dev, prog);
    void *empty = NULL;
    cr_assert_eq(vk.api->prepare(vk.dev, code, 0, &empty), PLINTH_OK);
    cr_assert_eq(vk.api->execute(vk.dev, empty), PLINTH_OK);
    vk.api->release(vk.dev, empty);
    tbuf *all[] = {&bx, &bw, &bb, &by, &bn, &ba};
    for (int i = 0; i < 6; i++)
        free_buf(all[i]);
}

/* Runs code_ref[0..n) on ref one by one, then expects each of outs (nt
 * f32 each) to agree between ref (b[0]) and vulkan (b[1]) within nmse
 * 1e-10. */
static void expect_fused_outputs(const plinth_instruction *code_ref, int n, tbuf *const *outs,
                                 const char *const *names, int n_outs, int nt)
{
    for (int i = 0; i < n; i++)
        cr_assert_eq(ref.api->kernels[code_ref[i].op](ref.dev, code_ref[i].out, code_ref[i].in,
                                                      code_ref[i].n_in, code_ref[i].attrs),
                     PLINTH_OK);
    float *a = malloc((size_t)nt * sizeof *a), *b = malloc((size_t)nt * sizeof *b);
    cr_assert(a && b);
    for (int k = 0; k < n_outs; k++) {
        ref.api->download(ref.dev, &outs[k]->b[0], GUARD, a, (uint64_t)nt * sizeof *a);
        vk.api->download(vk.dev, &outs[k]->b[1], GUARD, b, (uint64_t)nt * sizeof *b);
        double num = 0, den = 0;
        for (int i = 0; i < nt; i++) {
            num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
            den += (double)a[i] * a[i];
        }
        cr_expect(den > 0 && num / den < 1e-10, "%s: nmse %g", names[k], num / den);
    }
    free(a);
    free(b);
}

/* The patterns prepare fuses (vulkan_fuse.c): rms_norm then an in-place
 * residual add, gelu_tanh then mul. Every output, the intermediates too,
 * must match ref's kernels run one by one. */
Test(vulkan, fused_program)
{
    enum { ROWS = 3, COLS = 64, NT = ROWS * COLS };
    tinput x = R(V(PLINTH_F32, 1, 1, ROWS, COLS, DENSE));
    tinput w = R(V(PLINTH_BF16, 1, 1, 1, COLS, DENSE));
    tinput r = R(V(PLINTH_F32, 1, 1, ROWS, COLS, DENSE));
    tinput gate = R(V(PLINTH_F32, 1, 1, ROWS, COLS, DENSE));
    tinput up = R(V(PLINTH_F32, 1, 1, ROWS, COLS, DENSE));
    tview t = V(PLINTH_F32, 1, 1, ROWS, COLS, DENSE);
    tbuf bx, bw, br, bgate, bup, by, bg, bo;
    tbuf *all[] = {&bx, &bw, &br, &bgate, &bup, &by, &bg, &bo};
    const tinput *ins_of[] = {&x, &w, &r, &gate, &up};
    for (int i = 0; i < 8; i++) {
        make_buf(all[i], i < 5 ? &ins_of[i]->v : &t);
        if (i < 5) {
            fill_buf(all[i], ins_of[i]);
            upload_both(all[i], all[i]->b[0].size);
        }
    }
    plinth_attrs rn = {.rms_norm = {.eps = 1e-6f}}, none = {{0}};
    plinth_view in_rn[2][2], in_add[2][2], in_gelu[2][1], in_mul[2][2];
    plinth_instruction code[2][4];
    for (int p = 0; p < 2; p++) {
        in_rn[p][0] = bx.view[p];
        in_rn[p][1] = bw.view[p];
        in_add[p][0] = br.view[p];
        in_add[p][1] = by.view[p];
        in_gelu[p][0] = bgate.view[p];
        in_mul[p][0] = bg.view[p];
        in_mul[p][1] = bup.view[p];
        code[p][0] = (plinth_instruction){PLINTH_OP_RMS_NORM, 2, &by.view[p], in_rn[p], &rn};
        code[p][1] = (plinth_instruction){PLINTH_OP_ADD, 2, &br.view[p], in_add[p], &none};
        code[p][2] = (plinth_instruction){PLINTH_OP_GELU_TANH, 1, &bg.view[p], in_gelu[p], &none};
        code[p][3] = (plinth_instruction){PLINTH_OP_MUL, 2, &bo.view[p], in_mul[p], &none};
    }
    void *prog = NULL;
    cr_assert_eq(vk.api->prepare(vk.dev, code[1], 4, &prog), PLINTH_OK, "prepare: %s",
                 vk.api->last_error(vk.dev));
    cr_assert_eq(vk.api->execute(vk.dev, prog), PLINTH_OK, "execute: %s",
                 vk.api->last_error(vk.dev));
    tbuf *outs[] = {&by, &br, &bg, &bo};
    const char *names[] = {"rms_norm out", "residual sum", "gelu out", "mul out"};
    expect_fused_outputs(code[0], 4, outs, names, 4, NT);
    vk.api->release(vk.dev, prog);
    for (int i = 0; i < 8; i++)
        free_buf(all[i]);
}

/* Gemma's post-norm, residual add and next pre-norm as one dispatch
 * (rms_norm -> add -> rms_norm of the sum): y, the sum and z must match
 * ref's kernels run one by one, and the program must be one dispatch. */
Test(vulkan, fused_norm_chain)
{
    enum { ROWS = 3, COLS = 64, NT = ROWS * COLS };
    tinput x = R(V(PLINTH_F32, 1, 1, ROWS, COLS, DENSE));
    tinput w = R(V(PLINTH_F32, 1, 1, 1, COLS, DENSE));
    tinput w2 = R(V(PLINTH_F32, 1, 1, 1, COLS, DENSE));
    tinput r = R(V(PLINTH_F32, 1, 1, ROWS, COLS, DENSE));
    tview t = V(PLINTH_F32, 1, 1, ROWS, COLS, DENSE);
    tbuf bx, bw, bw2, br, by, bz;
    tbuf *all[] = {&bx, &bw, &bw2, &br, &by, &bz};
    const tinput *ins_of[] = {&x, &w, &w2, &r};
    for (int i = 0; i < 6; i++) {
        make_buf(all[i], i < 4 ? &ins_of[i]->v : &t);
        if (i < 4) {
            fill_buf(all[i], ins_of[i]);
            upload_both(all[i], all[i]->b[0].size);
        }
    }
    plinth_attrs rn = {.rms_norm = {.eps = 1e-6f}}, none = {{0}};
    plinth_view in_rn[2][2], in_add[2][2], in_rn2[2][2];
    plinth_instruction code[2][3];
    for (int p = 0; p < 2; p++) {
        in_rn[p][0] = bx.view[p];
        in_rn[p][1] = bw.view[p];
        in_add[p][0] = br.view[p];
        in_add[p][1] = by.view[p];
        in_rn2[p][0] = br.view[p];
        in_rn2[p][1] = bw2.view[p];
        code[p][0] = (plinth_instruction){PLINTH_OP_RMS_NORM, 2, &by.view[p], in_rn[p], &rn};
        code[p][1] = (plinth_instruction){PLINTH_OP_ADD, 2, &br.view[p], in_add[p], &none};
        code[p][2] = (plinth_instruction){PLINTH_OP_RMS_NORM, 2, &bz.view[p], in_rn2[p], &rn};
    }
    void *prog = NULL;
    g_last_program[0] = 0;
    cr_assert_eq(vk.api->prepare(vk.dev, code[1], 3, &prog), PLINTH_OK, "prepare: %s",
                 vk.api->last_error(vk.dev));
    cr_expect(strstr(g_last_program, "3 instructions: 1 dispatches"), "the plugin said '%s'",
              g_last_program);
    cr_assert_eq(vk.api->execute(vk.dev, prog), PLINTH_OK, "execute: %s",
                 vk.api->last_error(vk.dev));
    tbuf *outs[] = {&by, &br, &bz};
    const char *names[] = {"first norm", "residual sum", "second norm"};
    expect_fused_outputs(code[0], 3, outs, names, 3, NT);
    vk.api->release(vk.dev, prog);
    for (int i = 0; i < 6; i++)
        free_buf(all[i]);
}

/* Indices [i0, i0 + n) of dim `dim` of a view (rows: 2, columns: 3). */
static plinth_view slice_of(const plinth_view *v, int dim, int64_t i0, int64_t n)
{
    plinth_view s = *v;
    s.shape[dim] = n;
    s.offset += (uint64_t)(i0 * v->stride[dim]);
    if (s.data)
        s.data += i0 * v->stride[dim];
    return s;
}

/* q/k/v-shaped matvecs of one x with matrices lying one after another
 * (fused into one dispatch over the stacked rows, outputs scattered like
 * Gemma's), and the same with the matrices out of order (not stacked: one
 * dispatch each). Every output must match ref's kernels. */
Test(vulkan, stacked_matvec)
{
    enum { K = 64, NQ = 48, NK = 16, NV = 16, NALL = NQ + NK + NV, OUT = 96 };
    tinput x = R(V(PLINTH_F32, 1, 1, 1, K, DENSE));
    tinput w = R(V(PLINTH_BF16, 1, 1, NALL, K, DENSE));
    tview o = V(PLINTH_F32, 1, 1, 1, OUT, DENSE);
    tbuf bx, bw, bo;
    make_buf(&bx, &x.v);
    make_buf(&bw, &w.v);
    make_buf(&bo, &o);
    fill_buf(&bx, &x);
    fill_buf(&bw, &w);
    upload_both(&bx, bx.b[0].size);
    upload_both(&bw, bw.b[0].size);
    plinth_attrs mm = {.matmul = {.transpose_b = 1}};
    /* rows of w, output columns: q [0, 48) -> 0, k [48, 64) -> 72, v [64, 80) -> 48 */
    const int64_t r0[3] = {0, NQ, NQ + NK}, n[3] = {NQ, NK, NV}, c0[3] = {0, 72, 48};
    for (int order = 0; order < 2; order++) {
        const int perm[2][3] = {{0, 1, 2}, {1, 0, 2}};
        plinth_view in[2][3][2], out[2][3];
        plinth_instruction code[2][3];
        for (int p = 0; p < 2; p++)
            for (int i = 0; i < 3; i++) {
                const int j = perm[order][i];
                in[p][i][0] = bx.view[p];
                in[p][i][1] = slice_of(&bw.view[p], 2, r0[j], n[j]);
                out[p][i] = slice_of(&bo.view[p], 3, c0[j], n[j]);
                code[p][i] = (plinth_instruction){PLINTH_OP_MATMUL, 2, &out[p][i], in[p][i], &mm};
            }
        void *prog = NULL;
        g_last_program[0] = 0;
        cr_assert_eq(vk.api->prepare(vk.dev, code[1], 3, &prog), PLINTH_OK, "prepare: %s",
                     vk.api->last_error(vk.dev));
        const char *want = order == 0 ? "1 dispatches" : "3 dispatches";
        cr_expect(strstr(g_last_program, want), "order %d: want %s, the plugin said '%s'", order,
                  want, g_last_program);
        cr_assert_eq(vk.api->execute(vk.dev, prog), PLINTH_OK, "execute: %s",
                     vk.api->last_error(vk.dev));
        for (int i = 0; i < 3; i++)
            cr_assert_eq(ref.api->kernels[PLINTH_OP_MATMUL](ref.dev, &out[0][i], in[0][i], 2, &mm),
                         PLINTH_OK);
        float a[OUT], b[OUT];
        ref.api->download(ref.dev, &bo.b[0], GUARD, a, sizeof a);
        vk.api->download(vk.dev, &bo.b[1], GUARD, b, sizeof b);
        for (int j = 0; j < 3; j++) {
            double num = 0, den = 0;
            for (int64_t c = c0[j]; c < c0[j] + n[j]; c++) {
                num += ((double)a[c] - b[c]) * ((double)a[c] - b[c]);
                den += (double)a[c] * a[c];
            }
            cr_expect(den > 0 && num / den < 1e-10, "order %d, matrix %d: nmse %g", order, j,
                      num / den);
        }
        vk.api->release(vk.dev, prog);
    }
    free_buf(&bx);
    free_buf(&bw);
    free_buf(&bo);
}

/* The staging path (pools not mapped, copies through a staging buffer), as
 * a discrete GPU without resizable BAR takes it. */
Test(vulkan, staging_memory)
{
    teardown();
    setup_with("validation=1,memory=staging");
    tcase c = {.name = "add (staging)", .op = PLINTH_OP_ADD, .n_in = 2};
    c.out = V(PLINTH_F32, 1, 1, 7, 33, DENSE);
    c.in[0] = R(V(PLINTH_F32, 1, 1, 7, 33, STRIDED));
    c.in[1] = R(V(PLINTH_F32, 1, 1, 1, 33, DENSE));
    run_case(&c);
}

/* A pool the device cannot hold is refused with a message naming the limit
 * and by how much, and the device stays usable. */
Test(vulkan, refuses_oversize_buffer)
{
    plinth_buffer b;
    const uint64_t huge = (uint64_t)1 << 50;
    cr_assert_neq(vk.api->buffer_alloc(vk.dev, huge, &b), PLINTH_OK);
    const char *msg = vk.api->last_error(vk.dev);
    cr_expect(strstr(msg, "exceeds") && strstr(msg, "by"), "message: %s", msg);
    cr_assert_eq(vk.api->buffer_alloc(vk.dev, 4096, &b), PLINTH_OK, "%s",
                 vk.api->last_error(vk.dev));
    vk.api->buffer_free(vk.dev, &b);
}

Test(vulkan, refuses_bad_config)
{
    plinth_device *d = NULL;
    plinth_device_options o = {.struct_size = sizeof o, .config = "frobnicate=1"};
    cr_assert_neq(vk.api->device_open(0, &o, &d), PLINTH_OK);
    cr_assert(strstr(vk.api->last_error(NULL), "frobnicate"));
}
