/*
 * harness.c — runs one case on one backend with every trap armed, and
 * judges it against ref.
 *
 * Sections:
 *   1. buffers: [256 guard bytes][the tensor's block][256 guard bytes]; the
 *      tensor starts 256-aligned (view.base), views may start inside it
 *   2. one side: upload, supports(), kernel, download, traps
 *      - output elements poisoned with a NaN (or an i32 pattern): one left
 *        poisoned was never written (rule 6)
 *      - every other byte of the output buffer (guards, gaps of a strided
 *        view) must come back as it went in (rule 6: nothing outside out)
 *      - every input buffer must come back unchanged (rule 10)
 *   3. the case: ref first (the oracle), then the backend, then compare
 */
#include "conf_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GUARD PLINTH_ALIGNMENT /* guard bytes each side; keeps the tensor aligned */
#define GUARD_BYTE 0xA5

/* Poison per dtype: quiet NaNs with a payload no arithmetic produces, and an
 * i32 no case produces. */
static const uint32_t POISON_F32 = 0x7FC0DEADu;
static const uint16_t POISON_F16 = 0x7E5Au, POISON_BF16 = 0x7FDAu;
static const uint32_t POISON_I32 = 0x5EADBEEFu;

void conf_result_set(conf_result *r, int32_t status, int32_t fail, const char *fmt, ...)
{
    r->status = status;
    r->fail = fail;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ 1 --- */

static uint64_t region_bytes(const conf_tensor *t)
{
    return (conf_bytes(t->dtype, t->alloc) + PLINTH_ALIGNMENT - 1) / PLINTH_ALIGNMENT *
           PLINTH_ALIGNMENT;
}

/* The view of tensor t in buffer buf (buf may be NULL: for supports()). A
 * block dtype's element strides and offset are whole blocks but for the
 * inner dim's 1, which becomes the block's bytes (plinth_view). */
static plinth_view make_view(const conf_tensor *t, const plinth_buffer *buf)
{
    const int64_t es = (int64_t)plinth_dtype_bytes(t->dtype);
    const int64_t per = (int64_t)plinth_dtype_block_elems(t->dtype);
    const int64_t bb = (int64_t)plinth_dtype_block_bytes(t->dtype);
    const bool blk = per > 1;
    plinth_view v = {.buffer = buf, .base = GUARD,
                     .offset = GUARD + (uint64_t)(blk ? t->offset / per * bb : t->offset * es),
                     .dtype = t->dtype, .ndim = t->ndim};
    for (int d = 0; d < 4; d++) {
        v.shape[d] = t->shape[d];
        v.stride[d] = !blk ? t->stride[d] * es : d == 3 ? bb : t->stride[d] / per * bb;
    }
    v.data = buf && buf->host ? buf->host + v.offset : NULL;
    return v;
}

static void poison(uint8_t *p, int32_t dtype)
{
    switch (dtype) {
    case PLINTH_F32: memcpy(p, &POISON_F32, 4); break;
    case PLINTH_F16: memcpy(p, &POISON_F16, 2); break;
    case PLINTH_BF16: memcpy(p, &POISON_BF16, 2); break;
    default: memcpy(p, &POISON_I32, 4);
    }
}

static bool is_poison(const uint8_t *p, int32_t dtype)
{
    switch (dtype) {
    case PLINTH_F32: return memcmp(p, &POISON_F32, 4) == 0;
    case PLINTH_F16: return memcmp(p, &POISON_F16, 2) == 0;
    case PLINTH_BF16: return memcmp(p, &POISON_BF16, 2) == 0;
    default: return memcmp(p, &POISON_I32, 4) == 0;
    }
}

/* Host images of a case, shared by both sides. */
typedef struct images {
    uint8_t *in[PLINTH_MAX_INPUTS]; /* GUARD + region + GUARD each */
    uint64_t in_size[PLINTH_MAX_INPUTS];
    uint8_t *out;                   /* the output buffer before the run */
    uint64_t out_size;
    uint8_t *mask;                  /* out_size bytes: 1 where an out element lives */
    conf_tensor out_t;              /* the output tensor (in[0]'s when aliased) */
} images;

static void images_free(images *im)
{
    for (int i = 0; i < PLINTH_MAX_INPUTS; i++)
        free(im->in[i]);
    free(im->out);
    free(im->mask);
}

static bool images_make(const conf_case *c, uint32_t seed, images *im)
{
    memset(im, 0, sizeof *im);
    uint64_t rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed << 1 | 1);
    for (uint32_t i = 0; i < c->n_in; i++) {
        const conf_tensor *t = &c->in[i];
        im->in_size[i] = GUARD + region_bytes(t) + GUARD;
        im->in[i] = malloc(im->in_size[i]);
        if (!im->in[i])
            return false;
        memset(im->in[i], GUARD_BYTE, im->in_size[i]);
        conf_fill(t, im->in[i] + GUARD, &rng);
    }
    const bool alias = c->flags & CONF_ALIAS_IN0;
    im->out_t = alias ? c->in[0] : c->out;
    const conf_tensor *o = &im->out_t;
    const size_t es = plinth_dtype_bytes(o->dtype);
    im->out_size = GUARD + region_bytes(o) + GUARD;
    im->out = malloc(im->out_size);
    im->mask = calloc(1, im->out_size);
    if (!im->out || !im->mask)
        return false;
    if (alias) {
        memcpy(im->out, im->in[0], im->out_size);
    } else {
        memset(im->out, GUARD_BYTE, im->out_size);
        if (c->flags & CONF_STATE_OUT) {
            conf_tensor st = *o;
            st.gen = CONF_GEN_UNIFORM;
            st.lo = 0;
            st.hi = 4;
            conf_fill(&st, im->out + GUARD, &rng);
        }
    }
    for (int64_t i = 0, n = conf_numel(o); i < n; i++) {
        size_t at = GUARD + (size_t)conf_elem_index(o, i) * es;
        memset(im->mask + at, 1, es);
        if (!alias && !(c->flags & CONF_STATE_OUT))
            poison(im->out + at, o->dtype);
    }
    return true;
}

/* ------------------------------------------------------------------ 2 --- */

/* The message of the backend's context. */
static const char *be_error(plinth_backend *be)
{
    return plinth_context_error(plinth_backend_context(be));
}

/* Runs the case on `be`; on success `vals` holds the n logical output
 * elements. Traps failing set r (kind, message) and return false.
 * `unsupported` is set when the backend says no (r untouched); a case the
 * host's own rules refuse is a bug of the suite (CONF_FAIL_ORACLE). */
static bool run_side(plinth_backend *be, const conf_case *c, const images *im, double *vals,
                     conf_result *r, bool *unsupported)
{
    const char *op = plinth_op_name((plinth_op)c->op);
    const bool alias = c->flags & CONF_ALIAS_IN0;
    plinth_memory *min[PLINTH_MAX_INPUTS] = {0}, *mout = NULL;
    plinth_view vin[PLINTH_MAX_INPUTS], vout;
    bool ok = false;
    uint8_t *after = NULL, *img = NULL;
    *unsupported = false;

    /* The query sees shapes, dtypes and strides; buffers are NULL. */
    for (uint32_t i = 0; i < c->n_in; i++)
        vin[i] = make_view(&c->in[i], NULL);
    vout = make_view(&im->out_t, NULL);
    plinth_status q = plinth_backend_query_op(be, (plinth_op)c->op, &vout, vin, c->n_in,
                                              &c->attrs);
    if (q == PLINTH_ERR_UNSUPPORTED) {
        *unsupported = true;
        return false;
    }
    if (q != PLINTH_OK) {
        conf_result_set(r, CONF_FAIL, CONF_FAIL_ORACLE, "%s: the case is not a valid op: %s", op,
                        be_error(be));
        return false;
    }

    /* Every tensor in its own memory at offset GUARD: the memory's
     * alignment is checked by the host (rule 4) on every allocation, the
     * view bases here by construction. */
    for (uint32_t i = 0; i < c->n_in; i++) {
        if (alias && i == 0)
            continue;
        if (plinth_memory_create(be, im->in_size[i], &min[i]) != PLINTH_OK) {
            conf_result_set(r, CONF_FAIL, CONF_FAIL_ALLOC, "%s: buffer for in[%u]: %s", op, i,
                            be_error(be));
            goto done;
        }
        if (plinth_memory_upload(min[i], 0, im->in[i], im->in_size[i]) != PLINTH_OK) {
            conf_result_set(r, CONF_FAIL, CONF_FAIL_ALLOC, "%s: upload of in[%u]: %s", op, i,
                            be_error(be));
            goto done;
        }
    }
    if (plinth_memory_create(be, im->out_size, &mout) != PLINTH_OK) {
        conf_result_set(r, CONF_FAIL, CONF_FAIL_ALLOC, "%s: buffer for out: %s", op,
                        be_error(be));
        goto done;
    }
    if (plinth_memory_upload(mout, 0, im->out, im->out_size) != PLINTH_OK) {
        conf_result_set(r, CONF_FAIL, CONF_FAIL_ALLOC, "%s: upload of out: %s", op,
                        be_error(be));
        goto done;
    }
    for (uint32_t i = 0; i < c->n_in; i++)
        vin[i] = make_view(&c->in[i], plinth_memory_buffer(alias && i == 0 ? mout : min[i]));
    vout = make_view(&im->out_t, plinth_memory_buffer(mout));
    if (vout.base % PLINTH_ALIGNMENT != 0) { /* the suite's own invariant */
        conf_result_set(r, CONF_FAIL, CONF_FAIL_ORACLE, "%s: output base %llu not aligned", op,
                        (unsigned long long)vout.base);
        goto done;
    }

    plinth_status st = plinth_backend_run_op(be, (plinth_op)c->op, &vout, vin, c->n_in,
                                             &c->attrs);
    if (st != PLINTH_OK) {
        conf_result_set(r, CONF_FAIL, CONF_FAIL_KERNEL,
                        "%s: kernel failed (%s) after supports() said yes: %s", op,
                        plinth_status_name(st), be_error(be));
        goto done;
    }

    /* Inputs unchanged (rule 10), guards and gaps untouched (rule 6). */
    for (uint32_t i = 0; i < c->n_in; i++) {
        if (alias && i == 0)
            continue;
        img = malloc(im->in_size[i]);
        if (!img || plinth_memory_download(min[i], 0, img, im->in_size[i]) != PLINTH_OK) {
            conf_result_set(r, CONF_FAIL, CONF_FAIL_ALLOC, "%s: download of in[%u]: %s", op, i,
                            be_error(be));
            goto done;
        }
        for (uint64_t k = 0; k < im->in_size[i]; k++)
            if (img[k] != im->in[i][k]) {
                conf_result_set(r, CONF_FAIL, CONF_FAIL_INPUT_CHANGED,
                                "%s: wrote into its input in[%u] at byte offset %lld from "
                                "the tensor's start",
                                op, i, (long long)k - GUARD);
                goto done;
            }
        free(img);
        img = NULL;
    }
    after = malloc(im->out_size);
    if (!after || plinth_memory_download(mout, 0, after, im->out_size) != PLINTH_OK) {
        conf_result_set(r, CONF_FAIL, CONF_FAIL_ALLOC, "%s: download of out: %s", op,
                        be_error(be));
        goto done;
    }
    const conf_tensor *o = &im->out_t;
    const size_t es = plinth_dtype_bytes(o->dtype);
    const int64_t n = conf_numel(o);
    const int64_t start = GUARD + o->offset * (int64_t)es;
    const int64_t end = n ? GUARD + (conf_elem_index(o, n - 1) + 1) * (int64_t)es : start;
    uint64_t bad = 0;
    int64_t first = -1;
    for (uint64_t k = 0; k < im->out_size; k++)
        if (!im->mask[k] && after[k] != im->out[k]) {
            bad++;
            if (first < 0)
                first = (int64_t)k;
        }
    if (bad) {
        char where[96];
        if (first >= end)
            snprintf(where, sizeof where, "%lld byte(s) past the end of the view",
                     (long long)(first - end));
        else if (first < start)
            snprintf(where, sizeof where, "%lld byte(s) before the view's start",
                     (long long)(start - first));
        else
            snprintf(where, sizeof where, "in a gap between the strided view's elements");
        conf_result_set(r, CONF_FAIL, CONF_FAIL_GUARD,
                        "%s: wrote outside its output view: %llu byte(s) changed, the first at "
                        "byte offset %+lld from the view's start (%s)",
                        op, (unsigned long long)bad, (long long)(first - start), where);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *p = after + GUARD + conf_elem_index(o, i) * (int64_t)es;
        if (!alias && !(c->flags & CONF_STATE_OUT) && is_poison(p, o->dtype)) {
            conf_result_set(r, CONF_FAIL, CONF_FAIL_UNWRITTEN,
                            "%s: output element %lld of %lld was never written (still the "
                            "NaN poison)",
                            op, (long long)i, (long long)n);
            goto done;
        }
        vals[i] = conf_load(p, o->dtype);
    }
    ok = true;
done:
    free(img);
    free(after);
    for (uint32_t i = 0; i < c->n_in; i++)
        plinth_memory_destroy(min[i]);
    plinth_memory_destroy(mout);
    return ok;
}

/* ------------------------------------------------------------------ 3 --- */

/* The float elements of an input image with their sign bits cleared (bytes
 * in gaps and guards get the same treatment; nothing reads them). Images
 * hold host-order floats, so the sign is the top bit of the element read
 * as a host integer of its width (not a fixed byte: on a big-endian host
 * the last byte's bit 7 is a mantissa bit, the magnitudes came out signed
 * and the cancellation bound never applied). */
static uint8_t *abs_image(const uint8_t *img, uint64_t size, int32_t dtype)
{
    uint8_t *a = malloc(size);
    if (!a)
        return NULL;
    memcpy(a, img, size);
    const size_t es = plinth_dtype_bytes(dtype);
    for (uint64_t at = GUARD; at + es <= size - GUARD; at += es) {
        if (es == 2) {
            uint16_t u;
            memcpy(&u, a + at, 2);
            u &= 0x7fffu;
            memcpy(a + at, &u, 2);
        } else if (es == 4) {
            uint32_t u;
            memcpy(&u, a + at, 4);
            u &= 0x7fffffffu;
            memcpy(a + at, &u, 4);
        }
    }
    return a;
}

/* A block-dtype image as the f32 image of the same tensor (same element
 * strides): every block dequantised (plinth_dequant_block) with its sign
 * cleared. *size gets the new image's size. */
static uint8_t *abs_dequant_image(const uint8_t *img, const conf_tensor *t, uint64_t *size)
{
    conf_tensor f = *t;
    f.dtype = PLINTH_F32;
    *size = GUARD + region_bytes(&f) + GUARD;
    uint8_t *a = calloc(1, *size);
    if (!a)
        return NULL;
    const int64_t per = (int64_t)plinth_dtype_block_elems(t->dtype);
    const size_t bb = plinth_dtype_block_bytes(t->dtype);
    float w[256];
    for (int64_t b = 0; b < t->alloc / per; b++) {
        plinth_dequant_block(t->dtype, img + GUARD + (size_t)b * bb, w);
        for (int64_t q = 0; q < per; q++) {
            const float v = fabsf(w[q]);
            memcpy(a + GUARD + (size_t)(b * per + q) * 4, &v, 4);
        }
    }
    return a;
}

/* For a matmul: mag[i] = Σ|a·b| of each output element, from ref on |a|,
 * |b| (see conf_cancellation_bound); a block b is given to ref as its
 * dequantised |values| in f32. false if it could not be computed. */
static bool reduction_magnitude(plinth_backend *ref, const conf_case *c, const images *im,
                                double *mag)
{
    if (c->op != PLINTH_OP_MATMUL || c->n_in < 2)
        return false;
    images ab = *im;
    conf_case cc = *c;
    bool ok = false, unsup = false;
    ab.in[0] = abs_image(im->in[0], im->in_size[0], c->in[0].dtype);
    if (plinth_dtype_block_elems(c->in[1].dtype) > 1) {
        cc.in[1].dtype = PLINTH_F32;
        ab.in[1] = abs_dequant_image(im->in[1], &c->in[1], &ab.in_size[1]);
    } else {
        ab.in[1] = abs_image(im->in[1], im->in_size[1], c->in[1].dtype);
    }
    if (ab.in[0] && ab.in[1]) {
        conf_result ignored = {0};
        ok = run_side(ref, &cc, &ab, mag, &ignored, &unsup);
    }
    free(ab.in[0]);
    free(ab.in[1]);
    return ok;
}

void conf_run_case(plinth_backend *ref, plinth_backend *b, const conf_case *c, uint32_t seed,
                   conf_result *r)
{
    memset(r, 0, sizeof *r);
    r->seed = seed;
    r->max_nmse = conf_max_nmse(c);
    const double t0 = now_ms();
    const char *op = plinth_op_name((plinth_op)c->op);
    images im;
    const int64_t n = conf_numel(c->flags & CONF_ALIAS_IN0 ? &c->in[0] : &c->out);
    double *want = malloc((size_t)(n > 0 ? n : 1) * sizeof *want);
    double *got = malloc((size_t)(n > 0 ? n : 1) * sizeof *got);
    bool unsup = false;
    if (!want || !got || !images_make(c, seed, &im)) {
        conf_result_set(r, CONF_FAIL, CONF_FAIL_ORACLE, "%s: out of memory", op);
        goto out;
    }

    /* The backend first: if it does not support the case there is nothing
     * to compare, and ref's time is saved. */
    conf_result side = {0};
    bool ok = run_side(b, c, &im, got, &side, &unsup);
    if (unsup) {
        if ((c->flags & CONF_BASIC) && plinth_backend_has_kernel(b, (plinth_op)c->op))
            conf_result_set(r, CONF_FAIL, CONF_FAIL_BASIC_UNSUPPORTED,
                            "%s: the kernel table has %s but supports() refuses its basic "
                            "f32 case (rule 5): %s",
                            op, op, be_error(b));
        else
            conf_result_set(r, CONF_UNSUPPORTED, CONF_FAIL_NONE, "%s", "");
        goto out_im;
    }
    if (!ok) {
        *r = side;
        r->seed = seed;
        r->max_nmse = conf_max_nmse(c);
        goto out_im;
    }
    conf_result oracle = {0};
    if (!run_side(ref, c, &im, want, &oracle, &unsup)) {
        conf_result_set(r, CONF_FAIL, CONF_FAIL_ORACLE, "ref failed the case: %s",
                        unsup ? "ref does not support it" : oracle.message);
        goto out_im;
    }
    const int32_t dtype = im.out_t.dtype;
    const bool exact = c->c == 0.0 || dtype == PLINTH_I32;
    if (!exact && c->op == PLINTH_OP_MATMUL) {
        double *mag = malloc((size_t)(n > 0 ? n : 1) * sizeof *mag);
        const bool have = mag && reduction_magnitude(ref, c, &im, mag);
        const int64_t below = have ? conf_magnitude_below(want, mag, n) : -1;
        if (below >= 0)
            conf_result_set(r, CONF_FAIL, CONF_FAIL_ORACLE,
                            "%s: the harness's Σ|a·b| %.9g is smaller than ref's result %.9g at "
                            "element %lld (a bug in the suite)",
                            op, mag[below], want[below], (long long)below);
        else if (have)
            r->max_nmse = conf_cancellation_bound(c, want, mag, n);
        free(mag);
        if (below >= 0)
            goto out_im;
    }
    if (conf_compare(got, want, n, dtype, exact, r->max_nmse, r)) {
        r->status = CONF_PASS;
    } else {
        char msg[sizeof r->message + 32];
        snprintf(msg, sizeof msg, "%s: %s", op, r->message);
        snprintf(r->message, sizeof r->message, "%.*s", (int)sizeof r->message - 1, msg);
        r->status = CONF_FAIL;
    }
out_im:
    images_free(&im);
out:
    free(want);
    free(got);
    r->ms = now_ms() - t0;
}

void conf_apply_expectation(conf_result *r, const conf_expect_entry *x)
{
    if (!x)
        return;
    if (x->status == CONF_SKIP) {
        r->status = CONF_SKIP;
        return;
    }
    if (r->status == CONF_FAIL) {
        r->status = CONF_XFAIL;
    } else if (r->status == CONF_PASS) {
        r->status = CONF_XPASS;
        r->fail = CONF_FAIL_XPASS;
        snprintf(r->message, sizeof r->message,
                 "expected to fail (%s) but passes: remove the stale xfail '%s'", x->reason,
                 x->pattern);
    }
}
