/*
 * cases.c — the conformance cases, generated from the one op list.
 *
 * Sections:
 *   1. tensor constructors (build.c's: dense, sliced, transposed,
 *      permuted, step-2, broadcast by stride 0) and the case list
 *   2. one generator per op; the table of generators is built from
 *      PLINTH_OP_LIST, so an op added to the list without cases here does
 *      not compile (gen_<op> is undefined)
 *   3. conf_cases_build, per-case seeds
 *
 * Sizes: 1, 7, 33, 257 and others that are not multiples of any vector
 * width, tile or workgroup size; empty tensors where the op allows them.
 * Every op has one CONF_BASIC case (plain f32, dense): a backend whose
 * kernel table has the op must support at least that.
 */
#include "conformance.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ 1 --- */

typedef conf_tensor T;

static const int32_t F32 = PLINTH_F32, F16 = PLINTH_F16, BF16 = PLINTH_BF16,
                     I32 = PLINTH_I32;
static const int32_t float_types[] = {PLINTH_F32, PLINTH_F16, PLINTH_BF16};
static const int32_t all_types[] = {PLINTH_F32, PLINTH_F16, PLINTH_BF16, PLINTH_I32};
/* Block dtypes: weights only (matmul's b, get_rows' table, cast's x); their
 * tensors are whole blocks along the inner dim, rows padded by whole blocks
 * at most (views never cut a block). */
static const int32_t block_types[] = {PLINTH_Q8_0, PLINTH_Q4_0, PLINTH_Q4_K, PLINTH_Q6_K};
#define N_BLOCK_TYPES 4

static int64_t block_elems(int32_t dtype)
{
    return (int64_t)plinth_dtype_block_elems(dtype);
}

/* Row-major strides of shape s into st; returns the element count. */
static int64_t row_major(const int64_t *s, int64_t *st)
{
    int64_t n = 1;
    for (int d = 3; d >= 0; d--) {
        st[d] = n;
        n *= s[d];
    }
    return n;
}

/* The tensor constructors are build.c's (shared with hand-written cases). */
#define D1(dt, a) CONF_DENSE(dt, (int64_t)(a))
#define D2(dt, a, b) CONF_DENSE(dt, (int64_t)(a), (int64_t)(b))
#define D3(dt, a, b, c) CONF_DENSE(dt, (int64_t)(a), (int64_t)(b), (int64_t)(c))
#define D4(dt, a, b, c, d) CONF_DENSE(dt, (int64_t)(a), (int64_t)(b), (int64_t)(c), (int64_t)(d))
#define sliced(...) conf_sliced(__VA_ARGS__)
#define permuted(...) conf_permuted(__VA_ARGS__)
#define transposed(...) conf_transposed(__VA_ARGS__)
#define step2(...) conf_step2(__VA_ARGS__)
#define expanded(...) conf_expanded(__VA_ARGS__)
#define gen(...) conf_gen(__VA_ARGS__)

static T with_dtype(T t, int32_t dtype)
{
    t.dtype = dtype;
    return t;
}

typedef struct builder {
    conf_case_list *l;
    bool oom;
} builder;

static const char *dt(int32_t d)
{
    return plinth_dtype_name((plinth_dtype)d);
}

/* Appends a case; its name is "<op> <dtypes> <out shape> <tag>"
 * (conf_case_name). */
static conf_case *add(builder *b, uint32_t op, uint32_t n_in, const T *in, T out,
                      uint32_t flags, double k, double c, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));

static conf_case *add(builder *b, uint32_t op, uint32_t n_in, const T *in, T out,
                      uint32_t flags, double k, double c, const char *fmt, ...)
{
    conf_case_list *l = b->l;
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 256;
        conf_case *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            b->oom = true;
            return NULL;
        }
        l->v = v;
        l->cap = cap;
    }
    conf_case *c0 = &l->v[l->n++];
    memset(c0, 0, sizeof *c0);
    c0->op = op;
    c0->n_in = n_in;
    c0->flags = flags;
    for (uint32_t i = 0; i < n_in; i++)
        c0->in[i] = in[i];
    c0->out = out;
    c0->k = k;
    c0->c = c;
    char tag[80];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tag, sizeof tag, fmt, ap);
    va_end(ap);
    conf_case_name(c0, tag);
    return c0;
}

/* Unit roundoff multipliers (conformance.h; compare.c turns them into a bound). */
#define C_EXACT CONF_C_EXACT
#define C_ROUND CONF_C_ROUND
#define C_TRANS CONF_C_TRANS
#define C_REDUCE CONF_C_REDUCE

/* ------------------------------------------------------------------ 2 --- */

/* Elementwise shapes shared by the binary and unary float ops. `n_in` is 1
 * or 2; `a`/`b` are built from `dtype`. */
static void elementwise(builder *b, uint32_t op, uint32_t n_in, int32_t dtype, double c,
                        T base, bool basic_here)
{
    T in[2];
    const int64_t lens[] = {1, 7, 33, 257};
    for (size_t i = 0; i < 4; i++) {
        T t = base;
        T d = D1(dtype, lens[i]);
        d.gen = t.gen; d.lo = t.lo; d.hi = t.hi;
        in[0] = in[1] = d;
        uint32_t fl = basic_here && dtype == F32 && lens[i] == 33 ? CONF_BASIC : 0;
        add(b, op, n_in, in, D1(dtype, lens[i]), fl, 1, c, "%s", "");
    }
#define LIKE(x) gen(x, base.gen, base.lo, base.hi)
    in[0] = in[1] = LIKE(D3(dtype, 3, 5, 7));
    add(b, op, n_in, in, D3(dtype, 3, 5, 7), 0, 1, c, "%s", "");
    in[0] = in[1] = LIKE(D2(dtype, 0, 5));
    add(b, op, n_in, in, D2(dtype, 0, 5), 0, 1, c, "empty");
    in[0] = sliced(LIKE(D3(dtype, 3, 5, 7)), 3);
    in[1] = transposed(LIKE(D3(dtype, 3, 5, 7)));
    add(b, op, n_in, in, D3(dtype, 3, 5, 7), 0, 1, c, "a sliced, b transposed");
    in[0] = in[1] = step2(LIKE(D1(dtype, 33)));
    add(b, op, n_in, in, D1(dtype, 33), 0, 1, c, "step-2");
    static const int perm[4] = {2, 0, 3, 1};
    in[0] = permuted(LIKE(D4(dtype, 2, 3, 4, 5)), perm);
    in[1] = LIKE(D4(dtype, 2, 3, 4, 5));
    add(b, op, n_in, in, D4(dtype, 2, 3, 4, 5), 0, 1, c, "a permuted (2,0,3,1)");
    /* Output into the first 7 of every 12 elements of a row: a slice of a
     * bigger tensor (e.g. a KV cache); the gaps are guard bytes. */
    in[0] = in[1] = LIKE(D2(dtype, 5, 7));
    add(b, op, n_in, in, sliced(D2(dtype, 5, 7), 4), 0, 1, c, "out strided");
    /* In place: out is in[0] itself (the planner does this, rule 10). */
    in[0] = in[1] = LIKE(D3(dtype, 3, 5, 7));
    add(b, op, n_in, in, D3(dtype, 3, 5, 7), CONF_ALIAS_IN0, 1, c, "in-place");
    if (n_in == 2) {
        in[0] = LIKE(D3(dtype, 4, 1, 9));
        in[1] = LIKE(D3(dtype, 1, 6, 9));
        add(b, op, n_in, in, D3(dtype, 4, 6, 9), 0, 1, c, "broadcast [4,1,9]o[1,6,9]");
        in[0] = LIKE(D4(dtype, 2, 3, 4, 5));
        in[1] = LIKE(D1(dtype, 5));
        add(b, op, n_in, in, D4(dtype, 2, 3, 4, 5), 0, 1, c, "broadcast [2,3,4,5]o[5]");
        in[0] = LIKE(D2(dtype, 257, 1));
        in[1] = LIKE(D2(dtype, 1, 33));
        add(b, op, n_in, in, D2(dtype, 257, 33), 0, 1, c, "broadcast outer [257,1]o[1,33]");
        in[0] = LIKE(D2(dtype, 4, 9));
        in[1] = expanded(LIKE(D2(dtype, 1, 9)), 2, 4);
        in[1].ndim = 2;
        add(b, op, n_in, in, D2(dtype, 4, 9), 0, 1, c, "b stride-0 expand");
    }
#undef LIKE
}

static void binary(builder *b, uint32_t op)
{
    for (size_t i = 0; i < 4; i++) {
        int32_t d = all_types[i];
        T base = {.gen = CONF_GEN_UNIFORM};
        if (d == I32)
            base = (T){.gen = CONF_GEN_INT, .lo = -1000, .hi = 1000};
        if (op == PLINTH_OP_DIV && d == I32)
            base = (T){.gen = CONF_GEN_INT, .lo = -9, .hi = 9}; /* zeros: x/0 = 0 */
        elementwise(b, op, 2, d, C_ROUND, base, true);
    }
    T in[2];
    if (op == PLINTH_OP_DIV) {
        /* Divisors near zero make quotients huge; keep them in ±[0.25, 2). */
        in[0] = D1(F32, 257);
        in[1] = gen(D1(F32, 257), CONF_GEN_UNIFORM, 0.25, 2);
        add(b, op, 2, in, D1(F32, 257), 0, 1, C_ROUND, "divisor ±[0.25,2)");
    }
    /* Large magnitudes: f16 overflows to ±inf (both sides must agree). */
    in[0] = in[1] = gen(D2(F16, 7, 33), CONF_GEN_UNIFORM, 20000, 60000);
    if (op == PLINTH_OP_MUL || op == PLINTH_OP_DIV)
        in[0] = in[1] = gen(D2(F16, 7, 33), CONF_GEN_UNIFORM, 100, 400);
    add(b, op, 2, in, D2(F16, 7, 33), 0, 1, C_ROUND, "large (f16 overflow)");
    in[0] = in[1] = gen(D1(BF16, 257), CONF_GEN_UNIFORM, 1e37, 3e38);
    if (op == PLINTH_OP_MUL || op == PLINTH_OP_DIV)
        in[0] = in[1] = gen(D1(BF16, 257), CONF_GEN_UNIFORM, 1e18, 1e20);
    add(b, op, 2, in, D1(BF16, 257), 0, 1, C_ROUND, "large (bf16 overflow)");
    /* i32 two's-complement wrap-around. */
    in[0] = in[1] = gen(D1(I32, 257), CONF_GEN_INT, -2147483648.0, 2147483647.0);
    add(b, op, 2, in, D1(I32, 257), 0, 1, C_EXACT, "i32 full range (wraps)");
}

static void gen_add(builder *b) { binary(b, PLINTH_OP_ADD); }
static void gen_sub(builder *b) { binary(b, PLINTH_OP_SUB); }
static void gen_mul(builder *b) { binary(b, PLINTH_OP_MUL); }
static void gen_div(builder *b) { binary(b, PLINTH_OP_DIV); }

static void unary(builder *b, uint32_t op, double c, double large_lo, double large_hi)
{
    for (size_t i = 0; i < 3; i++)
        elementwise(b, op, 1, float_types[i], c, (T){.gen = CONF_GEN_UNIFORM, .hi = 4}, true);
    T in = gen(D2(F16, 7, 257), CONF_GEN_UNIFORM, large_lo, large_hi);
    conf_case *k = add(b, op, 1, &in, D2(F16, 7, 257), 0, 1, c, "large");
    if (k && op == PLINTH_OP_SCALE)
        k->attrs.scale.s = 250.0f;
    in = gen(D1(BF16, 257), CONF_GEN_UNIFORM, 1e30, 3e36);
    add(b, op, 1, &in, D1(BF16, 257), 0, 1, c, "large");
}

/* scale's attribute is set after generation (all its cases share it). */
static void gen_scale(builder *b)
{
    uint32_t first = b->l->n;
    unary(b, PLINTH_OP_SCALE, C_ROUND, 100, 400);
    for (uint32_t i = first; i < b->l->n; i++)
        if (b->l->v[i].attrs.scale.s == 0.0f)
            b->l->v[i].attrs.scale.s = -0.3125f;
}
static void gen_gelu_tanh(builder *b) { unary(b, PLINTH_OP_GELU_TANH, C_TRANS, 5, 300); }
static void gen_silu(builder *b) { unary(b, PLINTH_OP_SILU, C_TRANS, 8, 60); }

static void gen_rms_norm(builder *b)
{
    const int64_t ns[] = {1, 7, 33, 257, 1024};
    T in[2];
    for (size_t i = 0; i < 3; i++) {
        int32_t d = float_types[i];
        for (size_t j = 0; j < 5; j++) {
            int64_t n = ns[j];
            in[0] = D2(d, 3, n);
            uint32_t fl = d == F32 && n == 33 ? CONF_BASIC : 0;
            conf_case *c = add(b, PLINTH_OP_RMS_NORM, 1, in, D2(d, 3, n), fl, (double)n, C_REDUCE,
                               "no weight");
            in[1] = gen(D1(d, n), CONF_GEN_UNIFORM, 0.5, 1.5);
            conf_case *c2 = add(b, PLINTH_OP_RMS_NORM, 2, in, D2(d, 3, n), 0, (double)n,
                                C_REDUCE, "weight %s", dt(d));
            if (c) c->attrs.rms_norm.eps = 1e-6f;
            if (c2) c2->attrs.rms_norm.eps = 1e-6f;
        }
        in[0] = sliced(D3(d, 2, 3, 257), 6);
        in[1] = gen(D1(F32, 257), CONF_GEN_UNIFORM, 0.5, 1.5);
        conf_case *c = add(b, PLINTH_OP_RMS_NORM, 2, in, D3(d, 2, 3, 257), 0, 257, C_REDUCE,
                           "x sliced, weight f32");
        if (c) c->attrs.rms_norm.eps = 1e-5f;
        in[0] = D2(d, 0, 33);
        c = add(b, PLINTH_OP_RMS_NORM, 1, in, D2(d, 0, 33), 0, 33, C_REDUCE, "empty");
        if (c) c->attrs.rms_norm.eps = 1e-6f;
    }
    in[0] = D2(F32, 7, 640);
    in[1] = gen(D1(BF16, 640), CONF_GEN_UNIFORM, 0.5, 1.5);
    conf_case *c = add(b, PLINTH_OP_RMS_NORM, 2, in, D2(F32, 7, 640), 0, 640, C_REDUCE,
                       "weight bf16");
    if (c) c->attrs.rms_norm.eps = 1e-6f;
    /* x² overflows f16 (x up to 1000): a backend that squares in f16 fails. */
    in[0] = gen(D2(F16, 5, 257), CONF_GEN_UNIFORM, 300, 1000);
    c = add(b, PLINTH_OP_RMS_NORM, 1, in, D2(F16, 5, 257), 0, 257, C_REDUCE, "large");
    if (c) c->attrs.rms_norm.eps = 1e-6f;
}

static void gen_softmax(builder *b)
{
    const int64_t ns[] = {1, 7, 33, 257, 1000};
    T in[2];
    for (size_t i = 0; i < 3; i++) {
        int32_t d = float_types[i];
        for (size_t j = 0; j < 5; j++) {
            int64_t n = ns[j];
            in[0] = gen(D2(d, 4, n), CONF_GEN_UNIFORM, 0, 4);
            uint32_t fl = d == F32 && n == 33 ? CONF_BASIC : 0;
            conf_case *c = add(b, PLINTH_OP_SOFTMAX, 1, in, D2(d, 4, n), fl, (double)n, C_TRANS,
                               "%s", "");
            if (c) c->attrs.softmax.scale = 1.0f;
        }
        /* Causal mask with -inf (row 0 entirely masked: zeros), scaled. */
        in[0] = gen(D2(d, 33, 33), CONF_GEN_UNIFORM, 0, 8);
        in[1] = gen(D2(F32, 33, 33), CONF_GEN_CAUSAL_MASK, 1, 0);
        conf_case *c = add(b, PLINTH_OP_SOFTMAX, 2, in, D2(d, 33, 33), 0, 33, C_TRANS,
                           "causal mask f32, scale 0.125, a fully masked row");
        if (c) c->attrs.softmax.scale = 0.125f;
        in[0] = gen(D3(d, 2, 7, 257), CONF_GEN_UNIFORM, 0, 4);
        in[1] = gen(D1(d, 257), CONF_GEN_UNIFORM, 0, 2);
        c = add(b, PLINTH_OP_SOFTMAX, 2, in, D3(d, 2, 7, 257), 0, 257, C_TRANS,
                "mask %s broadcast [257]", dt(d));
        if (c) c->attrs.softmax.scale = 0.5f;
        in[0] = transposed(gen(D2(d, 7, 33), CONF_GEN_UNIFORM, 0, 4));
        c = add(b, PLINTH_OP_SOFTMAX, 1, in, D2(d, 7, 33), 0, 33, C_TRANS, "x transposed");
        if (c) c->attrs.softmax.scale = 1.0f;
    }
    in[0] = gen(D2(F32, 7, 7), CONF_GEN_UNIFORM, 0, 4);
    in[1] = gen(D2(F16, 7, 7), CONF_GEN_CAUSAL_MASK, 0, 0);
    conf_case *c = add(b, PLINTH_OP_SOFTMAX, 2, in, D2(F32, 7, 7), 0, 7, C_TRANS,
                       "causal mask f16");
    if (c) c->attrs.softmax.scale = 1.0f;
    /* Logits in the hundreds: exp overflows unless the max is subtracted. */
    in[0] = gen(D2(F16, 3, 257), CONF_GEN_UNIFORM, 100, 1000);
    c = add(b, PLINTH_OP_SOFTMAX, 1, in, D2(F16, 3, 257), 0, 257, C_TRANS, "large");
    if (c) c->attrs.softmax.scale = 1.0f;
}

/* a [.., M, K] x b [.., K, N] (or [.., N, K] transposed). */
static void matmul_case(builder *b, int32_t da, int32_t db, int64_t m, int64_t k, int64_t n,
                        bool tb, uint32_t fl, const char *tag)
{
    T in[2] = {D2(da, m, k), tb ? D2(db, n, k) : D2(db, k, n)};
    conf_case *c = add(b, PLINTH_OP_MATMUL, 2, in, D2(da, m, n), fl, (double)k, C_REDUCE,
                       "[%lld,%lld]x[%lld,%lld]%s%s%s", (long long)m, (long long)k,
                       (long long)in[1].shape[2], (long long)in[1].shape[3], tb ? "^T" : "",
                       tag[0] ? " " : "", tag);
    if (c) c->attrs.matmul.transpose_b = tb;
}

static void matmul_block_cases(builder *b);

static void gen_matmul(builder *b)
{
    static const int64_t mkn[][3] = {{1, 1, 1}, {1, 33, 257}, {7, 33, 17}, {33, 257, 7},
                                     {16, 64, 32}, {5, 300, 9}, {1, 640, 1}};
    const int32_t pairs[][2] = {{F32, F32}, {F32, F16}, {F32, BF16}, {F16, F16},
                                {BF16, BF16}, {F16, F32}};
    for (size_t p = 0; p < 6; p++)
        for (size_t i = 0; i < 7; i++)
            for (int tb = 0; tb < 2; tb++) {
                if (p >= 3 && i % 2 == 1)
                    continue; /* fewer shapes for the rarer pairs */
                uint32_t fl = p == 0 && i == 2 && !tb ? CONF_BASIC : 0;
                matmul_case(b, pairs[p][0], pairs[p][1], mkn[i][0], mkn[i][1], mkn[i][2],
                            tb, fl, "");
            }
    matmul_case(b, F32, F32, 0, 33, 7, false, 0, "empty M");
    matmul_case(b, F32, F32, 7, 0, 5, false, 0, "empty K (zeros)");
    T in[2];
    /* Batched, with broadcast batch dims. */
    in[0] = D4(F32, 2, 3, 7, 33);
    in[1] = D2(F32, 33, 9);
    conf_case *c = add(b, PLINTH_OP_MATMUL, 2, in, D4(F32, 2, 3, 7, 9), 0, 33, C_REDUCE,
                       "batch [2,3]x[]");
    in[0] = D4(F32, 2, 1, 7, 33);
    in[1] = D4(BF16, 1, 3, 9, 33);
    c = add(b, PLINTH_OP_MATMUL, 2, in, D4(F32, 2, 3, 7, 9), 0, 33, C_REDUCE,
            "batch [2,1]x[1,3]^T");
    if (c) c->attrs.matmul.transpose_b = 1;
    /* Views: a transposed, b sliced. */
    in[0] = transposed(D2(F32, 7, 33));
    in[1] = sliced(D2(F32, 33, 17), 5);
    add(b, PLINTH_OP_MATMUL, 2, in, D2(F32, 7, 17), 0, 33, C_REDUCE, "a transposed, b sliced");
    in[0] = sliced(D3(F32, 3, 5, 64), 3);
    in[1] = transposed(D3(F16, 3, 64, 9));
    add(b, PLINTH_OP_MATMUL, 2, in, D3(F32, 3, 5, 9), 0, 64, C_REDUCE,
        "a sliced, b transposed");
    /* f16 with large values: partial sums near the f16 range. */
    in[0] = gen(D2(F16, 7, 257), CONF_GEN_UNIFORM, 10, 30);
    in[1] = gen(D2(F16, 9, 257), CONF_GEN_UNIFORM, 10, 30);
    c = add(b, PLINTH_OP_MATMUL, 2, in, D2(F16, 7, 9), 0, 257, C_REDUCE, "large ^T");
    if (c) c->attrs.matmul.transpose_b = 1;
    matmul_block_cases(b);
}

/* Block weights: K of one block, of three, of many (decode GEMV and
 * prefill GEMM, N not a multiple of 4 or 8), rows padded by a block, batch
 * dims broadcast, b [K, N] blocked along N, a of every float dtype. */
static void matmul_block_cases(builder *b)
{
    for (size_t t = 0; t < N_BLOCK_TYPES; t++) {
        const int32_t q = block_types[t];
        const int64_t e = block_elems(q);
        const int64_t big = e == 32 ? 640 : 2048; /* gemma-270m's hidden, its FFN */
        static const int64_t mn[][3] = {/* M, K in blocks (0: big), N */
                                        {1, 1, 1},   {1, 3, 257}, {1, 0, 33}, {1, 0, 8},
                                        {2, 3, 7},   {7, 3, 17},  {12, 1, 9}, {33, 3, 65},
                                        {16, 0, 31}};
        for (size_t i = 0; i < sizeof mn / sizeof mn[0]; i++) {
            const int64_t k = mn[i][1] ? mn[i][1] * e : big;
            matmul_case(b, F32, q, mn[i][0], k, mn[i][2], true, 0,
                        mn[i][0] == 1 ? "decode" : "prefill");
        }
        T in[2];
        /* rows of b a block apart (a [N, K+E] weight viewed [N, K]) */
        in[0] = D2(F32, 1, 3 * e);
        in[1] = conf_padded(D2(q, 33, 3 * e), e);
        conf_case *c = add(b, PLINTH_OP_MATMUL, 2, in, D2(F32, 1, 33), 0, (double)(3 * e),
                           C_REDUCE, "[1,%lld]x[33,%lld]^T b rows padded", (long long)(3 * e),
                           (long long)(3 * e));
        if (c) c->attrs.matmul.transpose_b = 1;
        in[0] = D2(F32, 19, 3 * e);
        c = add(b, PLINTH_OP_MATMUL, 2, in, D2(F32, 19, 33), 0, (double)(3 * e), C_REDUCE,
                "[19,%lld]x[33,%lld]^T b rows padded", (long long)(3 * e), (long long)(3 * e));
        if (c) c->attrs.matmul.transpose_b = 1;
        /* batch dims: a [2, 3, M, K] x b [3, N, K] */
        in[0] = D4(F32, 2, 3, 5, 2 * e);
        in[1] = D3(q, 3, 9, 2 * e);
        c = add(b, PLINTH_OP_MATMUL, 2, in, D4(F32, 2, 3, 5, 9), 0, (double)(2 * e), C_REDUCE,
                "batch [2,3]x[3]^T");
        if (c) c->attrs.matmul.transpose_b = 1;
        /* a transposed (a column-major view) */
        in[0] = transposed(D2(F32, 7, 3 * e));
        in[1] = D2(q, 17, 3 * e);
        c = add(b, PLINTH_OP_MATMUL, 2, in, D2(F32, 7, 17), 0, (double)(3 * e), C_REDUCE,
                "a transposed ^T");
        if (c) c->attrs.matmul.transpose_b = 1;
        /* a of a 16-bit dtype (out in a's dtype) */
        matmul_case(b, t % 2 ? BF16 : F16, q, 5, 2 * e, 9, true, 0, "");
        /* b [K, N], N blocked */
        matmul_case(b, F32, q, 1, 33, 2 * e, false, 0, "decode");
        matmul_case(b, F32, q, 7, 17, e, false, 0, "");
        matmul_case(b, F32, q, 16, 9, 2 * e, false, 0, "prefill");
        /* empty M */
        matmul_case(b, F32, q, 0, e, 7, true, 0, "empty M");
    }
}

static void gen_get_rows(builder *b)
{
    T in[2];
    for (size_t i = 0; i < 4; i++) {
        int32_t d = all_types[i];
        const int64_t cs[] = {1, 7, 64, 257};
        for (size_t j = 0; j < 4; j++) {
            in[0] = D2(d, 300, cs[j]);
            if (d == I32)
                in[0] = gen(in[0], CONF_GEN_INT, -100000, 100000);
            in[1] = gen(D1(I32, 33), CONF_GEN_INDEX, 0, 300);
            uint32_t fl = d == F32 && cs[j] == 64 ? CONF_BASIC : 0;
            conf_case *c = add(b, PLINTH_OP_GET_ROWS, 2, in, D2(d, 33, cs[j]), fl, 1, C_EXACT,
                               "%s", "table [300,C]");
            if (c) c->attrs.get_rows.dtype = d;
        }
        if (d != I32) {
            /* Widening: a bf16/f16 embedding table read as f32 rows. */
            in[0] = D2(d, 257, 640);
            in[1] = gen(D1(I32, 7), CONF_GEN_INDEX, 0, 257);
            conf_case *c = add(b, PLINTH_OP_GET_ROWS, 2, in, D2(F32, 7, 640), 0, 1, C_EXACT,
                               "widen");
            if (c) c->attrs.get_rows.dtype = F32;
        }
        in[0] = d == I32 ? gen(D2(d, 5, 33), CONF_GEN_INT, -9, 9) : D2(d, 5, 33);
        in[1] = gen(D2(I32, 2, 3), CONF_GEN_INDEX, 0, 5);
        conf_case *c = add(b, PLINTH_OP_GET_ROWS, 2, in, D3(d, 2, 3, 33), 0, 1, C_EXACT,
                           "idx [2,3]");
        if (c) c->attrs.get_rows.dtype = d;
        in[0] = d == I32 ? gen(sliced(D2(d, 9, 7), 2), CONF_GEN_INT, -9, 9) : sliced(D2(d, 9, 7), 2);
        in[1] = gen(D1(I32, 1), CONF_GEN_INDEX, 0, 9);
        c = add(b, PLINTH_OP_GET_ROWS, 2, in, D2(d, 1, 7), 0, 1, C_EXACT, "table sliced");
        if (c) c->attrs.get_rows.dtype = d;
        in[0] = D2(d, 9, 7);
        in[1] = gen(D1(I32, 0), CONF_GEN_INDEX, 0, 9);
        c = add(b, PLINTH_OP_GET_ROWS, 2, in, D2(d, 0, 7), 0, 1, C_EXACT, "empty");
        if (c) c->attrs.get_rows.dtype = d;
    }
    /* A block table gives its rows dequantised, in f32: exact. */
    for (size_t t = 0; t < N_BLOCK_TYPES; t++) {
        const int32_t q = block_types[t];
        const int64_t e = block_elems(q);
        const int64_t cs[] = {e, 3 * e, e == 32 ? 640 : 1024};
        for (size_t j = 0; j < 3; j++) {
            in[0] = D2(q, 300, cs[j]);
            in[1] = gen(D1(I32, 33), CONF_GEN_INDEX, 0, 300);
            conf_case *c = add(b, PLINTH_OP_GET_ROWS, 2, in, D2(F32, 33, cs[j]), 0, 1, C_EXACT,
                               "table [300,C]");
            if (c) c->attrs.get_rows.dtype = F32;
        }
        in[0] = D2(q, 5, 2 * e);
        in[1] = gen(D2(I32, 2, 3), CONF_GEN_INDEX, 0, 5);
        conf_case *c = add(b, PLINTH_OP_GET_ROWS, 2, in, D3(F32, 2, 3, 2 * e), 0, 1, C_EXACT,
                           "idx [2,3]");
        if (c) c->attrs.get_rows.dtype = F32;
        in[0] = conf_padded(D2(q, 9, e), e);
        in[1] = gen(D1(I32, 4), CONF_GEN_INDEX, 0, 9);
        c = add(b, PLINTH_OP_GET_ROWS, 2, in, D2(F32, 4, e), 0, 1, C_EXACT, "table rows padded");
        if (c) c->attrs.get_rows.dtype = F32;
        in[0] = D2(q, 9, e);
        in[1] = gen(D1(I32, 0), CONF_GEN_INDEX, 0, 9);
        c = add(b, PLINTH_OP_GET_ROWS, 2, in, D2(F32, 0, e), 0, 1, C_EXACT, "empty");
        if (c) c->attrs.get_rows.dtype = F32;
    }
}

static void gen_set_rows(builder *b)
{
    /* out = state [R, C] (holds data before the run); in: src [N, C], idx [N]. */
    const int32_t pairs[][2] = {{F32, F32}, {F32, F16}, {F32, BF16}, {F16, F16},
                                {BF16, BF16}, {F16, F32}};
    const int64_t rc[][3] = {{1, 1, 1}, {33, 7, 5}, {300, 257, 33}, {64, 1024, 1}};
    T in[2];
    for (size_t p = 0; p < 6; p++)
        for (size_t i = 0; i < 4; i++) {
            int64_t r = rc[i][0], cc = rc[i][1], n = rc[i][2];
            in[0] = D2(pairs[p][0], n, cc);
            in[1] = gen(D1(I32, n), CONF_GEN_INDEX, 1, (double)r); /* distinct */
            uint32_t fl = CONF_STATE_OUT | (p == 0 && i == 1 ? CONF_BASIC : 0);
            add(b, PLINTH_OP_SET_ROWS, 2, in, D2(pairs[p][1], r, cc), fl, 1, C_EXACT,
                "state [%lld,%lld]", (long long)r, (long long)cc);
        }
    in[0] = D2(F32, 9, 33);
    in[1] = gen(D1(I32, 9), CONF_GEN_SPECIAL, 0, 4); /* repeats: the last write wins */
    add(b, PLINTH_OP_SET_ROWS, 2, in, D2(F32, 4, 33), CONF_STATE_OUT, 1, C_EXACT,
        "repeated index (last wins)");
    in[0] = transposed(D2(F16, 3, 64));
    in[1] = gen(D1(I32, 3), CONF_GEN_INDEX, 1, 40);
    add(b, PLINTH_OP_SET_ROWS, 2, in, D2(F16, 40, 64), CONF_STATE_OUT, 1, C_EXACT,
        "src transposed");
    in[0] = D2(F32, 0, 16);
    in[1] = gen(D1(I32, 0), CONF_GEN_INDEX, 1, 8);
    add(b, PLINTH_OP_SET_ROWS, 2, in, D2(F32, 8, 16), CONF_STATE_OUT, 1, C_EXACT, "empty src");
}

/* rope's cases; with `factors` (a tensor of n_dims/2) they are
 * rope_factors's. */
static void rope_case(builder *b, T x, int64_t t, int n_dims, float base, double pos_lo,
                      double pos_hi, const T *factors, uint32_t fl, const char *tag)
{
    T in[3] = {x, gen(D1(I32, t), pos_hi > 0 ? CONF_GEN_INDEX : CONF_GEN_ARANGE, pos_lo,
                      pos_hi)};
    if (pos_hi > 0)
        in[1].lo = 0; /* INDEX: not necessarily distinct */
    if (factors)
        in[2] = *factors;
    double pmax = pos_hi > 0 ? pos_hi : pos_lo + (double)t;
    T out = x;
    out.alloc = row_major(out.shape, out.stride);
    out.offset = 0;
    out.gen = CONF_GEN_UNIFORM;
    /* Angles pos * base^(-2i/n) carry a relative error of a few ulp in f32,
     * i.e. an absolute error growing with pos: k = pos_max². (Factors >= 1
     * only make the angles smaller.) */
    conf_case *c = add(b, factors ? PLINTH_OP_ROPE_FACTORS : PLINTH_OP_ROPE, factors ? 3 : 2,
                       in, out, fl, pmax * pmax, C_TRANS, "n_dims %d pos<%g base %g%s%s",
                       n_dims, pmax, (double)base, tag[0] ? " " : "", tag);
    if (c) {
        c->attrs.rope.base = base;
        c->attrs.rope.n_dims = n_dims;
    }
}

static void gen_rope(builder *b)
{
    for (size_t i = 0; i < 3; i++) {
        int32_t d = float_types[i];
        rope_case(b, D3(d, 7, 4, 64), 7, 64, 10000.0f, 0, 0, NULL, d == F32 ? CONF_BASIC : 0,
                  "");
        rope_case(b, D3(d, 1, 3, 256), 1, 256, 1e6f, 300, 0, NULL, 0, "decode");
        rope_case(b, D3(d, 33, 2, 64), 33, 32, 10000.0f, 0, 0, NULL, 0, "partial");
        rope_case(b, D3(d, 7, 1, 10), 7, 6, 10000.0f, 0, 0, NULL, 0, "partial odd D");
        rope_case(b, D4(d, 2, 5, 3, 32), 5, 32, 10000.0f, 0, 4096, NULL, 0, "4-D random pos");
        rope_case(b, sliced(D3(d, 7, 4, 64), 7), 7, 64, 10000.0f, 0, 0, NULL, 0, "x sliced");
        rope_case(b, D3(d, 0, 4, 64), 0, 64, 10000.0f, 0, 0, NULL, 0, "empty");
    }
}

/* Factors as Llama 3's rope_scaling makes them: 1 (high frequencies) up to
 * the scale factor (8 for Llama 3.1, 32 for 3.2), here integers in 1..32. */
static T factors_of(int n_dims)
{
    return gen(D1(F32, n_dims / 2), CONF_GEN_INT, 1, 32);
}

static void gen_rope_factors(builder *b)
{
    for (size_t i = 0; i < 3; i++) {
        int32_t d = float_types[i];
        T f64 = factors_of(64), f32 = factors_of(32), f128 = factors_of(128),
          f6 = factors_of(6);
        rope_case(b, D3(d, 7, 4, 64), 7, 64, 500000.0f, 0, 0, &f64,
                  d == F32 ? CONF_BASIC : 0, "");
        rope_case(b, D3(d, 1, 3, 128), 1, 128, 500000.0f, 300, 0, &f128, 0, "decode");
        rope_case(b, D3(d, 33, 2, 64), 33, 32, 10000.0f, 0, 0, &f32, 0, "partial");
        rope_case(b, D3(d, 7, 1, 10), 7, 6, 10000.0f, 0, 0, &f6, 0, "partial odd D");
        rope_case(b, D4(d, 2, 5, 3, 32), 5, 32, 500000.0f, 0, 4096, &f32, 0, "4-D random pos");
        rope_case(b, sliced(D3(d, 7, 4, 64), 7), 7, 64, 10000.0f, 0, 0, &f64, 0, "x sliced");
        rope_case(b, D3(d, 0, 4, 64), 0, 64, 10000.0f, 0, 0, &f64, 0, "empty");
    }
    T f = step2(factors_of(64));
    rope_case(b, D3(F32, 7, 4, 64), 7, 64, 500000.0f, 0, 0, &f, 0, "factors step-2");
    f = gen(D1(F32, 32), CONF_GEN_UNIFORM, 1, 32); /* random sign */
    rope_case(b, D4(F32, 2, 9, 2, 64), 9, 64, 500000.0f, 0, 1000, &f, 0,
              "factors non-integer, either sign");
}

/* q [T, Hq, D], k/v [S, Hkv, D] (the first kv_len of S valid), pos [T]
 * (arange from p0), kv_len [1]. */
static void attn_case(builder *b, int32_t dq, int32_t dkv, int64_t t, int64_t s, int64_t hq,
                      int64_t hkv, int64_t d, int64_t p0, int64_t kv_len, int32_t window,
                      uint32_t fl, const char *tag)
{
    T in[5] = {D3(dq, t, hq, d), D3(dkv, s, hkv, d), D3(dkv, s, hkv, d),
               gen(D1(I32, t), CONF_GEN_ARANGE, (double)p0, 0),
               gen(D1(I32, 1), CONF_GEN_CONST, (double)kv_len, 0)};
    conf_case *c = add(b, PLINTH_OP_ATTENTION, 5, in, D3(dq, t, hq, d), fl, (double)(d + s),
                       C_TRANS, "S %lld Hkv %lld pos %lld.. kv_len %lld window %d%s%s",
                       (long long)s, (long long)hkv, (long long)p0, (long long)kv_len,
                       (int)window, tag[0] ? " " : "", tag);
    if (c) {
        c->attrs.attention.scale = (float)(1.0 / sqrt((double)d));
        c->attrs.attention.window = window;
    }
}

static void gen_attention(builder *b)
{
    const int32_t pairs[][2] = {{F32, F32}, {F32, F16}, {F16, F16}, {BF16, BF16}, {F32, BF16}};
    for (size_t p = 0; p < 5; p++) {
        int32_t q = pairs[p][0], kv = pairs[p][1];
        attn_case(b, q, kv, 7, 7, 4, 4, 32, 0, 7, 0, p == 0 ? CONF_BASIC : 0, "prefill");
        attn_case(b, q, kv, 33, 64, 8, 2, 64, 0, 33, 0, 0, "GQA 4:1, cache longer");
        attn_case(b, q, kv, 1, 257, 4, 1, 256, 199, 200, 0, 0, "decode");
        attn_case(b, q, kv, 33, 33, 2, 1, 16, 0, 33, 16, 0, "sliding window");
        attn_case(b, q, kv, 7, 40, 3, 3, 8, 20, 27, 5, 0, "window, pos offset");
        /* Enough rows that a block of query rows (positions 126-128
         * under GQA 4:1, the cpu backend's 12) straddles a block of keys
         * (its 128; 64 and 32 too): the earlier rows see none of the next
         * block's keys. */
        attn_case(b, q, kv, 193, 256, 4, 1, 32, 0, 193, 0, 0, "rows across key blocks");
        attn_case(b, q, kv, 193, 256, 4, 2, 16, 0, 193, 40, 0, "window across key blocks");
    }
    attn_case(b, F32, F32, 5, 16, 2, 2, 8, 3, 0, 0, 0, "kv_len 0 (zeros)");
    attn_case(b, F32, F32, 5, 16, 2, 1, 8, 10, 12, 0, 0, "kv_len < pos+1");
    attn_case(b, F32, F32, 0, 16, 2, 1, 8, 0, 0, 0, 0, "empty");
    /* k and v as strided views of a [S, Hkv, D+pad] cache. */
    T in[5] = {D3(F32, 7, 4, 32), sliced(D3(F32, 9, 2, 32), 3), transposed(D3(F32, 9, 2, 32)),
               gen(D1(I32, 7), CONF_GEN_ARANGE, 2, 0), gen(D1(I32, 1), CONF_GEN_CONST, 9, 0)};
    conf_case *c = add(b, PLINTH_OP_ATTENTION, 5, in, D3(F32, 7, 4, 32), 0, 32 + 9, C_TRANS,
                       "k sliced, v transposed");
    if (c) c->attrs.attention.scale = 0.2f;
}

static void gen_cast(builder *b)
{
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 4; j++) {
            int32_t from = all_types[i], to = all_types[j];
            T x = from == I32 ? gen(D1(I32, 257), CONF_GEN_INT, -70000, 70000)
                              : gen(D1(from, 257), CONF_GEN_UNIFORM, 0, 1000);
            uint32_t fl = from == F32 && to == F16 ? CONF_BASIC : 0;
            conf_case *c = add(b, PLINTH_OP_CAST, 1, &x, D1(to, 257), fl, 1, C_EXACT, "%s", "");
            if (c) c->attrs.cast.dtype = to;
            x = transposed(from == I32 ? gen(D3(I32, 3, 5, 7), CONF_GEN_INT, -99, 99)
                                       : D3(from, 3, 5, 7));
            c = add(b, PLINTH_OP_CAST, 1, &x, D3(to, 3, 5, 7), 0, 1, C_EXACT, "transposed");
            if (c) c->attrs.cast.dtype = to;
            /* NaN, ±inf, ties to even, values that saturate / overflow. */
            x = gen(D1(from, 64), CONF_GEN_SPECIAL, 0, 0);
            c = add(b, PLINTH_OP_CAST, 1, &x, D1(to, 64), 0, 1, C_EXACT, "special values");
            if (c) c->attrs.cast.dtype = to;
        }
    /* Dequantisation: exact in f32, then rounded once to f16/bf16. */
    for (size_t t = 0; t < N_BLOCK_TYPES; t++)
        for (size_t j = 0; j < 3; j++) {
            const int32_t q = block_types[t], to = float_types[j];
            const int64_t e = block_elems(q);
            T x = D2(q, 7, 3 * e);
            conf_case *c = add(b, PLINTH_OP_CAST, 1, &x, D2(to, 7, 3 * e), 0, 1, C_EXACT,
                               "%s", "");
            if (c) c->attrs.cast.dtype = to;
            x = D1(q, e);
            c = add(b, PLINTH_OP_CAST, 1, &x, D1(to, e), 0, 1, C_EXACT, "one block");
            if (c) c->attrs.cast.dtype = to;
            x = conf_padded(D3(q, 2, 3, 2 * e), e);
            c = add(b, PLINTH_OP_CAST, 1, &x, sliced(D3(to, 2, 3, 2 * e), 5), 0, 1, C_EXACT,
                    "x rows padded, out strided");
            if (c) c->attrs.cast.dtype = to;
        }
}

static void gen_copy(builder *b)
{
    for (size_t i = 0; i < 4; i++) {
        int32_t d = all_types[i];
        T base = d == I32 ? (T){.gen = CONF_GEN_INT, .lo = -1e6, .hi = 1e6}
                          : (T){.gen = CONF_GEN_UNIFORM};
#define G(x) gen(x, base.gen, base.lo, base.hi)
        T x = G(D1(d, 257));
        add(b, PLINTH_OP_COPY, 1, &x, D1(d, 257), d == F32 ? CONF_BASIC : 0, 1, C_EXACT, "%s", "");
        x = transposed(G(D3(d, 3, 33, 7)));
        add(b, PLINTH_OP_COPY, 1, &x, D3(d, 3, 33, 7), 0, 1, C_EXACT, "transposed");
        x = sliced(G(D2(d, 7, 33)), 2);
        add(b, PLINTH_OP_COPY, 1, &x, D2(d, 7, 33), 0, 1, C_EXACT, "sliced");
        x = step2(G(D1(d, 33)));
        add(b, PLINTH_OP_COPY, 1, &x, D1(d, 33), 0, 1, C_EXACT, "step-2");
        x = expanded(G(D2(d, 1, 9)), 2, 7);
        add(b, PLINTH_OP_COPY, 1, &x, D2(d, 7, 9), 0, 1, C_EXACT, "stride-0 expand");
        x = transposed(G(D2(d, 5, 7)));
        add(b, PLINTH_OP_COPY, 1, &x, D1(d, 35), 0, 1, C_EXACT, "transposed into [35] (reshape)");
        x = G(D2(d, 5, 7));
        add(b, PLINTH_OP_COPY, 1, &x, sliced(D2(d, 5, 7), 9), 0, 1, C_EXACT, "out strided");
        x = G(D3(d, 0, 3, 7));
        add(b, PLINTH_OP_COPY, 1, &x, D3(d, 0, 3, 7), 0, 1, C_EXACT, "empty");
#undef G
    }
}

static void concat_case(builder *b, T a, T bb, int axis, uint32_t fl, const char *tag)
{
    T in[2] = {a, bb};
    if (a.dtype == I32)
        in[0] = gen(in[0], CONF_GEN_INT, -1e6, 1e6), in[1] = gen(in[1], CONF_GEN_INT, -1e6, 1e6);
    T out = with_dtype(a, a.dtype);
    int ax = axis < 0 ? axis + a.ndim : axis;
    int d4 = ax + 4 - a.ndim;
    out.shape[d4] = a.shape[d4] + bb.shape[d4];
    out.alloc = row_major(out.shape, out.stride);
    out.offset = 0;
    out.gen = CONF_GEN_UNIFORM;
    conf_case *c = add(b, PLINTH_OP_CONCAT, 2, in, out, fl, 1, C_EXACT, "axis %d%s%s", axis,
                       tag[0] ? " " : "", tag);
    if (c) c->attrs.concat.axis = axis;
}

static void gen_concat(builder *b)
{
    for (size_t i = 0; i < 4; i++) {
        int32_t d = all_types[i];
        concat_case(b, D1(d, 7), D1(d, 33), 0, d == F32 ? CONF_BASIC : 0, "");
        concat_case(b, D2(d, 3, 7), D2(d, 5, 7), 0, 0, "");
        concat_case(b, D2(d, 7, 3), D2(d, 7, 257), 1, 0, "");
        concat_case(b, D3(d, 3, 5, 7), D3(d, 3, 2, 7), 1, 0, "");
        concat_case(b, D3(d, 3, 5, 7), transposed(D3(d, 3, 5, 9)), -1, 0, "b transposed");
        concat_case(b, D4(d, 2, 3, 4, 5), D4(d, 1, 3, 4, 5), 0, 0, "");
        concat_case(b, sliced(D3(d, 2, 3, 4), 3), D3(d, 2, 1, 4), 1, 0, "a sliced");
        concat_case(b, D2(d, 0, 7), D2(d, 5, 7), 0, 0, "a empty");
    }
}

static void gen_argmax(builder *b)
{
    const int64_t ns[] = {1, 7, 33, 257, 1000};
    for (size_t i = 0; i < 3; i++) {
        int32_t d = float_types[i];
        for (size_t j = 0; j < 5; j++) {
            T x = gen(D2(d, 5, ns[j]), CONF_GEN_ARGMAX, 0, 0);
            add(b, PLINTH_OP_ARGMAX, 1, &x, D1(I32, 5), d == F32 && j == 2 ? CONF_BASIC : 0, 1,
                C_EXACT, "x [5,%lld]", (long long)ns[j]);
        }
        T x = gen(D3(d, 2, 3, 257), CONF_GEN_ARGMAX, 1, 0);
        add(b, PLINTH_OP_ARGMAX, 1, &x, D2(I32, 2, 3), 0, 1, C_EXACT, "tied maximum (first)");
        x = gen(transposed(D2(d, 7, 33)), CONF_GEN_ARGMAX, 0, 0);
        add(b, PLINTH_OP_ARGMAX, 1, &x, D1(I32, 7), 0, 1, C_EXACT, "x transposed");
        x = gen(D2(d, 4, 33), CONF_GEN_SPECIAL, 0, 0);
        add(b, PLINTH_OP_ARGMAX, 1, &x, D1(I32, 4), 0, 1, C_EXACT, "NaN and inf");
    }
}

/* ------------------------------------------------------------------ 3 --- */

typedef void (*gen_fn)(builder *b);
static const gen_fn generators[PLINTH_OP_COUNT] = {
#define X(E, n, lo, hi) [PLINTH_OP_##E] = gen_##n,
    PLINTH_OP_LIST(X)
#undef X
};

bool conf_cases_build(conf_case_list *out, uint32_t op_filter)
{
    memset(out, 0, sizeof *out);
    builder b = {.l = out};
    for (uint32_t op = 0; op < PLINTH_OP_COUNT && !b.oom; op++)
        if (op_filter >= PLINTH_OP_COUNT || op == op_filter)
            generators[op](&b);
    if (b.oom)
        conf_cases_free(out);
    return !b.oom;
}

void conf_cases_free(conf_case_list *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

uint32_t conf_case_seed(uint32_t base, const char *name)
{
    /* FNV-1a over the name, then a murmur finaliser mixed with the base. */
    uint32_t h = 2166136261u ^ base;
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h ? h : 1;
}
