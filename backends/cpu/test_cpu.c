/*
 * test_cpu.c — the cpu plugin against ref, op by op and program by program.
 *
 * Both plugins are dlopen'ed (paths in PLINTH_TEST_REF and PLINTH_TEST_CPU)
 * and fed the same inputs: odd shapes (1, 7, 33, 257), padded rows (odd
 * strides), broadcasts, every weight dtype, out aliasing in[0]. The cpu
 * output must match ref's (normalised MSE), have every element written (it
 * is poisoned with NaN first) and leave the 0xA5 guards around it intact.
 * Each test runs the whole list at one ISA level and thread count (a level
 * this machine lacks is skipped: the plugin refuses to open it).
 *
 * Sections: plugins; tensors; one case; the cases; programs; the tests.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plinth_plugin.h"

/* f32 arithmetic against ref's f64: elementwise ops agree to an ulp or two
 * (NMSE ~1e-14); a K-long f32 dot product to ~K * eps^2 (K <= 640: ~1e-11).
 * A wrong index or a missed element gives errors of order 1. */
#define MAX_NMSE 1e-9
#define GUARD 256

/* ------------------------------------------------------------- plugins --- */

typedef struct plugin {
    const plinth_backend_api *api;
    plinth_device *dev;
} plugin;

static void *host_malloc(void *u, size_t n) { return malloc(n); }
static void host_free(void *u, void *p) { free(p); }
static void host_log(void *u, int level, const char *m) {}
static const plinth_host g_host = {sizeof(plinth_host), PLINTH_ABI_VERSION, NULL, host_log,
                                   host_malloc, host_free};

static plugin open_plugin(const char *env, const char *config)
{
    const char *path = getenv(env);
    cr_assert(path && path[0], "%s is not set (run through meson test)", env);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    cr_assert(h, "dlopen %s: %s", path, dlerror());
    plinth_plugin_entry_fn entry = NULL;
    void *sym = dlsym(h, PLINTH_PLUGIN_ENTRY_SYMBOL);
    memcpy(&entry, &sym, sizeof entry); /* ISO C: no object -> function cast */
    cr_assert(entry);
    plugin p = {entry(PLINTH_ABI_VERSION, &g_host), NULL};
    cr_assert(p.api);
    plinth_device_options o = {sizeof o, 0, config};
    int32_t st = p.api->device_open(0, &o, &p.dev);
    if (st == PLINTH_ERR_UNSUPPORTED)
        cr_skip_test("%s: %s", config, p.api->last_error(NULL)); /* level absent here */
    cr_assert_eq(st, PLINTH_OK, "%s: %s", config, p.api->last_error(NULL));
    return p;
}

/* ------------------------------------------------------------- tensors --- */

enum { MAXIN = 5 };

typedef struct tdesc {
    int32_t dtype;
    int64_t shape[4];
    int pad;            /* extra elements after each innermost row */
    const int32_t *ival; /* i32 values (NULL: random)              */
    int32_t imod;        /* random i32 in [0, imod)                */
} tdesc;

typedef struct tcase {
    const char *name;
    uint32_t op;
    uint32_t n_in;
    tdesc in[MAXIN];
    tdesc out;
    plinth_attrs attrs;
    bool alias; /* out is in[0]'s view */
} tcase;

static uint32_t rng = 12345;
static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

__extension__ typedef _Float16 f16_t;

static size_t esize(int32_t dt) { return dt == PLINTH_F16 || dt == PLINTH_BF16 ? 2 : 4; }

static void store(uint8_t *p, int32_t dt, double v)
{
    if (dt == PLINTH_F32) {
        float f = (float)v;
        memcpy(p, &f, 4);
    } else if (dt == PLINTH_I32) {
        int32_t i = (int32_t)v;
        memcpy(p, &i, 4);
    } else if (dt == PLINTH_BF16) {
        float f = (float)v;
        uint32_t u;
        memcpy(&u, &f, 4);
        uint16_t h = (uint16_t)(u >> 16);
        memcpy(p, &h, 2);
    } else {
        f16_t h = (f16_t)v;
        memcpy(p, &h, 2);
    }
}

static double load(const uint8_t *p, int32_t dt)
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
    if (dt == PLINTH_BF16) {
        uint16_t h;
        memcpy(&h, p, 2);
        uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    f16_t h;
    memcpy(&h, p, 2);
    return (double)h;
}

/* Strides (bytes) of a tensor whose innermost rows are padded. */
static void strides(const tdesc *d, int64_t st[4], int64_t *bytes)
{
    int64_t s = (int64_t)esize(d->dtype);
    st[3] = s;
    s *= d->shape[3] + d->pad;
    for (int k = 2; k >= 0; k--) {
        st[k] = s;
        s *= d->shape[k];
    }
    *bytes = s;
}

/* The inputs' bytes, generated once per case and given to both plugins. */
static uint8_t *make_input(const tdesc *d, int64_t *bytes)
{
    int64_t st[4];
    strides(d, st, bytes);
    uint8_t *mem = calloc(1, (size_t)*bytes + 1);
    int64_t n = 0;
    for (int64_t i0 = 0; i0 < d->shape[0]; i0++)
        for (int64_t i1 = 0; i1 < d->shape[1]; i1++)
            for (int64_t i2 = 0; i2 < d->shape[2]; i2++)
                for (int64_t i3 = 0; i3 < d->shape[3]; i3++, n++) {
                    uint8_t *p = mem + i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3];
                    double v;
                    if (d->dtype == PLINTH_I32)
                        v = d->ival ? d->ival[n] : (double)(next_u32() % (uint32_t)d->imod);
                    else
                        v = (double)(next_u32() >> 8) / 16777216.0 * 4.0 - 2.0;
                    store(p, d->dtype, v);
                }
    return mem;
}

/* ------------------------------------------------------------ one case --- */

typedef struct bound {
    plinth_buffer buf[MAXIN + 1];
    plinth_view in[MAXIN], out;
} bound;

static void bind_view(plinth_view *v, const plinth_buffer *b, uint64_t off, const tdesc *d)
{
    memset(v, 0, sizeof *v);
    int64_t bytes;
    v->buffer = b;
    v->data = b->host + off;
    v->offset = off;
    v->dtype = d->dtype;
    v->ndim = 4;
    memcpy(v->shape, d->shape, sizeof v->shape);
    strides(d, v->stride, &bytes);
}

/* Runs c on p; returns the output bytes (dense copy of the out region). */
static void bind_case(plugin *p, const tcase *c, uint8_t *const data[], const int64_t bytes[],
                      bound *b)
{
    for (uint32_t i = 0; i < c->n_in; i++) {
        cr_assert_eq(p->api->buffer_alloc(p->dev, (uint64_t)bytes[i] + 2 * GUARD, &b->buf[i]),
                     PLINTH_OK);
        memset(b->buf[i].host, 0xA5, (size_t)bytes[i] + 2 * GUARD);
        memcpy(b->buf[i].host + GUARD, data[i], (size_t)bytes[i]);
        bind_view(&b->in[i], &b->buf[i], GUARD, &c->in[i]);
    }
    int64_t ob;
    int64_t st[4];
    strides(&c->out, st, &ob);
    if (c->alias) {
        b->out = b->in[0];
        return;
    }
    cr_assert_eq(p->api->buffer_alloc(p->dev, (uint64_t)ob + 2 * GUARD, &b->buf[MAXIN]),
                 PLINTH_OK);
    memset(b->buf[MAXIN].host, 0xA5, (size_t)ob + 2 * GUARD);
    bind_view(&b->out, &b->buf[MAXIN], GUARD, &c->out);
    /* poison every element of out with NaN (a NaN bf16/f16/i32 pattern
     * shows up as a mismatch where not overwritten) */
    for (int64_t i0 = 0; i0 < c->out.shape[0]; i0++)
        for (int64_t i1 = 0; i1 < c->out.shape[1]; i1++)
            for (int64_t i2 = 0; i2 < c->out.shape[2]; i2++)
                for (int64_t i3 = 0; i3 < c->out.shape[3]; i3++)
                    store(b->out.data + i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3],
                          c->out.dtype, c->out.dtype == PLINTH_I32 ? -7777 : NAN);
}

static void unbind(plugin *p, bound *b)
{
    for (int i = 0; i <= MAXIN; i++)
        if (b->buf[i].host)
            p->api->buffer_free(p->dev, &b->buf[i]);
}

/* NMSE of the out views; checks guards around cpu's output. */
static void compare(const tcase *c, const bound *r, const bound *x, const char *cfg)
{
    int64_t st[4], ob;
    strides(&c->out, st, &ob);
    double num = 0, den = 0;
    for (int64_t i0 = 0; i0 < c->out.shape[0]; i0++)
        for (int64_t i1 = 0; i1 < c->out.shape[1]; i1++)
            for (int64_t i2 = 0; i2 < c->out.shape[2]; i2++)
                for (int64_t i3 = 0; i3 < c->out.shape[3]; i3++) {
                    int64_t off = i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3];
                    double a = load(r->out.data + off, c->out.dtype);
                    double b = load(x->out.data + off, c->out.dtype);
                    if (isnan(a) && isnan(b))
                        continue;
                    cr_assert(!isnan(b) && !isnan(a), "%s [%s]: NaN at element offset %lld "
                              "(ref %g, cpu %g)", c->name, cfg, (long long)off, a, b);
                    num += (a - b) * (a - b);
                    den += a * a;
                }
    double nmse = den > 0 ? num / den : num;
    cr_assert(nmse <= MAX_NMSE, "%s [%s]: nmse %.3g", c->name, cfg, nmse);
    const plinth_buffer *ob_buf = c->alias ? &x->buf[0] : &x->buf[MAXIN];
    int64_t obytes = c->alias ? ob : ob;
    for (int64_t i = 0; i < GUARD; i++) {
        cr_assert_eq(ob_buf->host[i], 0xA5, "%s [%s]: guard before out written", c->name, cfg);
        cr_assert_eq(ob_buf->host[GUARD + obytes + i], 0xA5, "%s [%s]: guard after out written",
                     c->name, cfg);
    }
}

static void run_case(plugin *ref, plugin *cpu, const tcase *c, const char *cfg)
{
    uint8_t *data[MAXIN];
    int64_t bytes[MAXIN];
    for (uint32_t i = 0; i < c->n_in; i++)
        data[i] = make_input(&c->in[i], &bytes[i]);
    bound r = {0}, x = {0};
    bind_case(ref, c, data, bytes, &r);
    bind_case(cpu, c, data, bytes, &x);
    cr_assert(ref->api->supports(ref->dev, c->op, &r.out, r.in, c->n_in, &c->attrs),
              "%s: ref refuses: %s", c->name, ref->api->last_error(ref->dev));
    cr_assert(cpu->api->supports(cpu->dev, c->op, &x.out, x.in, c->n_in, &c->attrs),
              "%s [%s]: cpu refuses: %s", c->name, cfg, cpu->api->last_error(cpu->dev));
    cr_assert_eq(ref->api->kernels[c->op](ref->dev, &r.out, r.in, c->n_in, &c->attrs),
                 PLINTH_OK, "%s: ref: %s", c->name, ref->api->last_error(ref->dev));
    cr_assert_eq(cpu->api->kernels[c->op](cpu->dev, &x.out, x.in, c->n_in, &c->attrs),
                 PLINTH_OK, "%s [%s]: cpu: %s", c->name, cfg, cpu->api->last_error(cpu->dev));
    compare(c, &r, &x, cfg);
    unbind(ref, &r);
    unbind(cpu, &x);
    for (uint32_t i = 0; i < c->n_in; i++)
        free(data[i]);
}

/* ------------------------------------------------------------ the cases --- */

#define F PLINTH_F32
#define B PLINTH_BF16
#define H PLINTH_F16
#define I PLINTH_I32
static tdesc T(int32_t dt, int64_t a, int64_t b, int64_t c, int64_t d, int pad)
{
    return (tdesc){.dtype = dt, .shape = {a, b, c, d}, .pad = pad};
}
static tdesc TI(int64_t n, const int32_t *v, int32_t mod)
{
    return (tdesc){.dtype = I, .shape = {1, 1, 1, n}, .ival = v, .imod = mod};
}

static const int32_t pos7[7] = {26, 27, 28, 29, 30, 31, 32};
static const int32_t pos7b[7] = {0, 1, 2, 3, 4, 5, 6};
static const int32_t pos1[1] = {199};
static const int32_t kv33[1] = {33}, kv200[1] = {200}, kv20[1] = {20};

static tcase cases[512];
static int n_cases;

static tcase *add_case(const char *name, uint32_t op, uint32_t n_in, tdesc out)
{
    tcase *c = &cases[n_cases++];
    memset(c, 0, sizeof *c);
    c->name = name;
    c->op = op;
    c->n_in = n_in;
    c->out = out;
    return c;
}

static char names[512][96];

static void build_cases(void)
{
    if (n_cases)
        return;
    static const uint32_t bin[] = {PLINTH_OP_ADD, PLINTH_OP_SUB, PLINTH_OP_MUL, PLINTH_OP_DIV};
    static const int64_t sz[] = {1, 7, 33, 257};
    tcase *c;
    for (int o = 0; o < 4; o++) {
        for (int s = 0; s < 4; s++) {
            c = add_case("binary", bin[o], 2, T(F, 1, 1, 3, sz[s], 0));
            c->in[0] = T(F, 1, 1, 3, sz[s], 0);
            c->in[1] = T(F, 1, 1, 3, sz[s], 1);
        }
        c = add_case("binary bcast row", bin[o], 2, T(F, 1, 2, 7, 257, 0));
        c->in[0] = T(F, 1, 2, 7, 257, 3);
        c->in[1] = T(F, 1, 1, 1, 257, 0);
        c = add_case("binary bcast col", bin[o], 2, T(F, 1, 1, 33, 7, 0));
        c->in[0] = T(F, 1, 1, 33, 1, 0);
        c->in[1] = T(F, 1, 1, 33, 7, 0);
        c = add_case("binary in place", bin[o], 2, T(F, 1, 1, 65, 257, 0));
        c->in[0] = T(F, 1, 1, 65, 257, 0);
        c->in[1] = T(F, 1, 1, 65, 257, 0);
        c->alias = true;
        c = add_case("binary i32", bin[o], 2, T(I, 1, 1, 7, 33, 0));
        c->in[0] = T(I, 1, 1, 7, 33, 0);
        c->in[0].imod = 1000;
        c->in[1] = T(I, 1, 1, 7, 33, 0);
        c->in[1].imod = 7;
        c = add_case("binary bf16", bin[o], 2, T(B, 1, 1, 7, 33, 0));
        c->in[0] = T(B, 1, 1, 7, 33, 0);
        c->in[1] = T(B, 1, 1, 7, 33, 0);
    }
    static const uint32_t un[] = {PLINTH_OP_SCALE, PLINTH_OP_GELU_TANH, PLINTH_OP_SILU};
    for (int o = 0; o < 3; o++) {
        for (int s = 0; s < 4; s++) {
            c = add_case("unary", un[o], 1, T(F, 1, 1, 7, sz[s], 0));
            c->in[0] = T(F, 1, 1, 7, sz[s], 2);
            c->attrs.scale.s = 0.37f;
        }
        c = add_case("unary big in place", un[o], 1, T(F, 1, 1, 129, 1000, 0));
        c->in[0] = T(F, 1, 1, 129, 1000, 0);
        c->attrs.scale.s = -1.5f;
        c->alias = true;
        c = add_case("unary f16", un[o], 1, T(H, 1, 1, 7, 33, 0));
        c->in[0] = T(H, 1, 1, 7, 33, 0);
        c->attrs.scale.s = 3.0f;
    }
    static const int32_t wdts[] = {F, B, H};
    for (int s = 0; s < 4; s++)
        for (int w = 0; w < 3; w++) {
            c = add_case("rms_norm", PLINTH_OP_RMS_NORM, 2, T(F, 1, 1, 7, sz[s], 0));
            c->in[0] = T(F, 1, 1, 7, sz[s], 1);
            c->in[1] = T(wdts[w], 1, 1, 1, sz[s], 0);
            c->attrs.rms_norm.eps = 1e-6f;
        }
    c = add_case("rms_norm no weight", PLINTH_OP_RMS_NORM, 1, T(F, 1, 2, 33, 640, 0));
    c->in[0] = T(F, 1, 2, 33, 640, 0);
    c->attrs.rms_norm.eps = 1e-6f;
    c = add_case("softmax mask", PLINTH_OP_SOFTMAX, 2, T(F, 1, 1, 7, 33, 0));
    c->in[0] = T(F, 1, 1, 7, 33, 0);
    c->in[1] = T(F, 1, 1, 7, 33, 0);
    c->attrs.softmax.scale = 0.5f;
    /* matmul: M K N, all weight dtypes, both layouts */
    static const int64_t mkn[][3] = {{1, 7, 33},   {1, 257, 33}, {1, 640, 257}, {2, 33, 7},
                                     {7, 33, 257}, {13, 64, 40}, {33, 257, 7},  {257, 33, 65},
                                     {25, 100, 33}};
    for (size_t s = 0; s < sizeof mkn / sizeof mkn[0]; s++)
        for (int w = 0; w < 3; w++)
            for (int tb = 0; tb < 2; tb++) {
                const int64_t m = mkn[s][0], k = mkn[s][1], n = mkn[s][2];
                c = add_case(names[n_cases], PLINTH_OP_MATMUL, 2, T(F, 1, 1, m, n, 0));
                snprintf(names[n_cases - 1], sizeof names[0], "matmul %lldx%lldx%lld w%d tb%d",
                         (long long)m, (long long)k, (long long)n, w, tb);
                c->in[0] = T(F, 1, 1, m, k, (int)(s & 1));
                c->in[1] = tb ? T(wdts[w], 1, 1, n, k, (int)(s % 3)) : T(wdts[w], 1, 1, k, n, 1);
                c->attrs.matmul.transpose_b = tb;
            }
    c = add_case("matmul batched bcast", PLINTH_OP_MATMUL, 2, T(F, 2, 3, 13, 33, 0));
    c->in[0] = T(F, 2, 3, 13, 7, 0);
    c->in[1] = T(B, 1, 3, 33, 7, 0);
    c->attrs.matmul.transpose_b = 1;
    c = add_case("matmul padded out", PLINTH_OP_MATMUL, 2, T(F, 1, 1, 20, 33, 5));
    c->in[0] = T(F, 1, 1, 20, 64, 0);
    c->in[1] = T(F, 1, 1, 33, 64, 0);
    c->attrs.matmul.transpose_b = 1;
    /* rows */
    for (int w = 0; w < 3; w++) {
        c = add_case("get_rows widen", PLINTH_OP_GET_ROWS, 2, T(F, 1, 1, 7, 257, 0));
        c->in[0] = T(wdts[w], 1, 1, 33, 257, 0);
        c->in[1] = TI(7, NULL, 33);
        c->attrs.get_rows.dtype = F;
    }
    c = add_case("get_rows bf16", PLINTH_OP_GET_ROWS, 2, T(B, 1, 1, 7, 33, 0));
    c->in[0] = T(B, 1, 1, 33, 33, 0);
    c->in[1] = TI(7, NULL, 33);
    c->attrs.get_rows.dtype = B;
    c = add_case("set_rows", PLINTH_OP_SET_ROWS, 2, T(F, 1, 1, 33, 257, 0));
    c->in[0] = T(F, 1, 1, 7, 257, 0);
    c->in[1] = TI(7, pos7b, 0);
    c = add_case("set_rows bf16 from f32", PLINTH_OP_SET_ROWS, 2, T(B, 1, 1, 33, 64, 0));
    c->in[0] = T(F, 1, 1, 7, 64, 0);
    c->in[1] = TI(7, pos7, 0);
    /* rope */
    static const int32_t nd[] = {64, 32, 2};
    for (int r = 0; r < 3; r++) {
        c = add_case("rope", PLINTH_OP_ROPE, 2, T(F, 1, 7, 3, 64, 0));
        c->in[0] = T(F, 1, 7, 3, 64, 3);
        c->in[1] = TI(7, pos7, 0);
        c->attrs.rope.base = r == 1 ? 1e6f : 10000.0f;
        c->attrs.rope.n_dims = nd[r];
    }
    /* attention */
    static const int32_t kvd[] = {F, B};
    for (int kd = 0; kd < 2; kd++)
        for (int w = 0; w < 3; w++) {
            c = add_case("attention prefill", PLINTH_OP_ATTENTION, 5, T(F, 1, 7, 4, 64, 0));
            c->in[0] = T(F, 1, 7, 4, 64, 1);
            c->in[1] = T(kvd[kd], 1, 33, 1, 64, 0);
            c->in[2] = T(kvd[kd], 1, 33, 1, 64, 0);
            c->in[3] = TI(7, pos7, 0);
            c->in[4] = TI(1, w == 2 ? kv20 : kv33, 0);
            c->attrs.attention.scale = 0.125f;
            c->attrs.attention.window = w == 1 ? 5 : 0;
        }
    c = add_case("attention decode gqa", PLINTH_OP_ATTENTION, 5, T(F, 1, 1, 4, 256, 0));
    c->in[0] = T(F, 1, 1, 4, 256, 0);
    c->in[1] = T(F, 1, 257, 1, 256, 0);
    c->in[2] = T(F, 1, 257, 1, 256, 0);
    c->in[3] = TI(1, pos1, 0);
    c->in[4] = TI(1, kv200, 0);
    c->attrs.attention.scale = 0.0625f;
    c = add_case("attention 2 kv heads", PLINTH_OP_ATTENTION, 5, T(F, 1, 7, 4, 33, 0));
    c->in[0] = T(F, 1, 7, 4, 33, 0);
    c->in[1] = T(F, 1, 33, 2, 33, 0);
    c->in[2] = T(F, 1, 33, 2, 33, 0);
    c->in[3] = TI(7, pos7, 0);
    c->in[4] = TI(1, kv33, 0);
    c->attrs.attention.scale = 0.2f;
    /* moves */
    c = add_case("cast f32->bf16", PLINTH_OP_CAST, 1, T(B, 1, 1, 7, 33, 0));
    c->in[0] = T(F, 1, 1, 7, 33, 1);
    c->attrs.cast.dtype = B;
    c = add_case("copy padded", PLINTH_OP_COPY, 1, T(F, 1, 1, 7, 33, 0));
    c->in[0] = T(F, 1, 1, 7, 33, 3);
    c = add_case("copy dense", PLINTH_OP_COPY, 1, T(B, 1, 1, 7, 33, 0));
    c->in[0] = T(B, 1, 1, 7, 33, 0);
    c = add_case("concat", PLINTH_OP_CONCAT, 2, T(F, 1, 1, 7, 40, 0));
    c->in[0] = T(F, 1, 1, 7, 33, 0);
    c->in[1] = T(F, 1, 1, 7, 7, 0);
    c->attrs.concat.axis = -1;
    c = add_case("argmax", PLINTH_OP_ARGMAX, 1, T(I, 1, 1, 1, 7, 0));
    c->in[0] = T(F, 1, 1, 7, 257, 1);
}

/* ------------------------------------------------------------- programs --- */

/* A little program with both fusable pairs, two rope steps sharing angles
 * and a matmul; cpu runs it through prepare/execute (twice, with the
 * positions changed in between), ref kernel by kernel. */
enum { PX, PW, PY, PG, PU, PQ, PPOS, PMW, PT, PQ2, PK2, PO, PN };

static void run_program(plugin *ref, plugin *cpu, const char *cfg)
{
    tdesc d[PN] = {
        [PX] = T(F, 1, 1, 33, 640, 0),  [PW] = T(B, 1, 1, 1, 640, 0),
        [PY] = T(F, 1, 1, 33, 640, 0),  [PG] = T(F, 1, 1, 33, 257, 0),
        [PU] = T(F, 1, 1, 33, 257, 0),  [PQ] = T(F, 1, 33, 4, 64, 0),
        [PPOS] = TI(33, NULL, 4000),    [PMW] = T(B, 1, 1, 40, 640, 0),
        [PT] = T(F, 1, 1, 33, 640, 0),  [PQ2] = T(F, 1, 33, 4, 64, 0),
        [PK2] = T(F, 1, 33, 4, 64, 0),  [PO] = T(F, 1, 1, 33, 40, 0),
    };
    uint8_t *data[PN];
    int64_t bytes[PN];
    for (int i = 0; i < PN; i++)
        data[i] = make_input(&d[i], &bytes[i]);
    plinth_attrs a_norm = {.rms_norm = {1e-6f}}, a_none = {0}, a_rope = {.rope = {10000.0f, 64}};
    plinth_attrs a_mm = {.matmul = {1}};
    for (int pass = 0; pass < 2; pass++) {
        plugin *pl[2] = {ref, cpu};
        plinth_buffer buf[2][PN];
        plinth_view v[2][PN];
        for (int w = 0; w < 2; w++)
            for (int i = 0; i < PN; i++) {
                cr_assert_eq(pl[w]->api->buffer_alloc(pl[w]->dev, (uint64_t)bytes[i], &buf[w][i]),
                             PLINTH_OK);
                memcpy(buf[w][i].host, data[i], (size_t)bytes[i]);
                bind_view(&v[w][i], &buf[w][i], 0, &d[i]);
            }
        for (int w = 0; w < 2; w++) {
            plinth_view *x = v[w];
            plinth_view in_norm[2] = {x[PX], x[PW]}, in_mul1[2] = {x[PT], x[PY]};
            plinth_view in_gelu[1] = {x[PG]}, in_mul2[2] = {x[PU], x[PG]};
            plinth_view in_rq[2] = {x[PQ], x[PPOS]}, in_rk[2] = {x[PQ2], x[PPOS]};
            plinth_view in_mm[2] = {x[PT], x[PMW]};
            plinth_instruction code[] = {
                {PLINTH_OP_RMS_NORM, 2, &x[PT], in_norm, &a_norm},
                {PLINTH_OP_MUL, 2, &x[PT], in_mul1, &a_none},
                {PLINTH_OP_GELU_TANH, 1, &x[PG], in_gelu, &a_none},
                {PLINTH_OP_MUL, 2, &x[PG], in_mul2, &a_none},
                {PLINTH_OP_ROPE, 2, &x[PQ2], in_rq, &a_rope},
                {PLINTH_OP_ROPE, 2, &x[PK2], in_rk, &a_rope},
                {PLINTH_OP_MATMUL, 2, &x[PO], in_mm, &a_mm},
            };
            const uint32_t n = sizeof code / sizeof code[0];
            if (w == 0) {
                for (uint32_t i = 0; i < n; i++)
                    cr_assert_eq(ref->api->kernels[code[i].op](ref->dev, code[i].out, code[i].in,
                                                               code[i].n_in, code[i].attrs),
                                 PLINTH_OK);
            } else {
                void *prog = NULL;
                cr_assert_eq(cpu->api->prepare(cpu->dev, code, n, &prog), PLINTH_OK, "%s",
                             cpu->api->last_error(cpu->dev));
                cr_assert_eq(cpu->api->execute(cpu->dev, prog), PLINTH_OK, "%s",
                             cpu->api->last_error(cpu->dev));
                cpu->api->release(cpu->dev, prog);
            }
        }
        static const int outs[] = {PT, PG, PQ2, PK2, PO};
        for (int o = 0; o < 5; o++) {
            const int i = outs[o];
            double num = 0, den = 0;
            for (int64_t e = 0; e < bytes[i] / 4; e++) {
                double a = load(buf[0][i].host + e * 4, F), b = load(buf[1][i].host + e * 4, F);
                num += (a - b) * (a - b);
                den += a * a;
            }
            cr_assert(num <= MAX_NMSE * den, "program output %d [%s] pass %d: nmse %.3g", i, cfg,
                      pass, num / den);
        }
        for (int w = 0; w < 2; w++)
            for (int i = 0; i < PN; i++)
                pl[w]->api->buffer_free(pl[w]->dev, &buf[w][i]);
        free(data[PPOS]);
        data[PPOS] = make_input(&d[PPOS], &bytes[PPOS]);
    }
    for (int i = 0; i < PN; i++)
        free(data[i]);
}

/* ---------------------------------------------------------------- tests --- */

static void run_all(const char *cfg)
{
    build_cases();
    plugin ref = open_plugin("PLINTH_TEST_REF", "");
    plugin cpu = open_plugin("PLINTH_TEST_CPU", cfg);
    for (int i = 0; i < n_cases; i++)
        run_case(&ref, &cpu, &cases[i], cfg);
    run_program(&ref, &cpu, cfg);
    cpu.api->device_close(cpu.dev);
    ref.api->device_close(ref.dev);
}

Test(cpu, avx512_t1) { run_all("isa=avx512,threads=1"); }
Test(cpu, avx512_t2) { run_all("isa=avx512,threads=2"); }
Test(cpu, avx2_t1) { run_all("isa=avx2,threads=1"); }
Test(cpu, avx2_t2) { run_all("isa=avx2,threads=2"); }
Test(cpu, scalar_t1) { run_all("isa=scalar,threads=1"); }
Test(cpu, scalar_t2) { run_all("isa=scalar,threads=2"); }

/* Options are checked: a typo is an error, not a default. */
Test(cpu, bad_config)
{
    const char *path = getenv("PLINTH_TEST_CPU");
    cr_assert(path);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    cr_assert(h);
    plinth_plugin_entry_fn entry = NULL;
    void *sym = dlsym(h, PLINTH_PLUGIN_ENTRY_SYMBOL);
    memcpy(&entry, &sym, sizeof entry); /* ISO C: no object -> function cast */
    const plinth_backend_api *api = entry(PLINTH_ABI_VERSION, &g_host);
    plinth_device *dev = NULL;
    plinth_device_options o = {sizeof o, 0, "isa=avx9"};
    cr_assert_eq(api->device_open(0, &o, &dev), PLINTH_ERR_INVALID);
    cr_assert(strstr(api->last_error(NULL), "isa=avx9"));
    o.config = "thread=2";
    cr_assert_eq(api->device_open(0, &o, &dev), PLINTH_ERR_INVALID);
    plinth_device_info info = {.struct_size = sizeof info};
    cr_assert_eq(api->device_info(0, &info), PLINTH_OK);
    cr_assert(strstr(info.features, "isa="));
}
