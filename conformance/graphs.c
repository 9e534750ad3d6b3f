/*
 * graphs.c — whole graphs through the compiler and the static executor, on
 * each backend against ref.
 *
 * Sections:
 *   1. the registry (built-in cases, and the hook for more: a Gemma tiny
 *      model is registered by its own tests with conf_graph_register)
 *   2. helpers: random params, run and fetch
 *   3. a small MLP block (rms_norm, three matmuls with bf16/f16/f32
 *      weights, gelu, mul, residual add, softmax), and one with quantised
 *      weights (block dtypes, a dequantising cast folded at load)
 *      and q4_0 params that a plugin may pack at load (decode and prefill)
 *   4. an attention block with a KV cache: a prefill program and a decode
 *      program in one model, sharing params and the cache state
 *   5. running one graph case on a backend and on ref, and comparing
 */
#include "conf_internal.h"


#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ 1 --- */

#define MAX_GRAPHS 24 /* built-in ones and those registered */

static conf_graph_case registry[MAX_GRAPHS];
static uint32_t n_registry;
static bool builtins_done;

static void register_builtins(void);

bool conf_graph_register(const conf_graph_case *g)
{
    register_builtins();
    if (n_registry == MAX_GRAPHS)
        return false;
    registry[n_registry++] = *g;
    return true;
}

uint32_t conf_graph_count(void)
{
    register_builtins();
    return n_registry;
}

const conf_graph_case *conf_graph_get(uint32_t i)
{
    register_builtins();
    return i < n_registry ? &registry[i] : NULL;
}

/* ------------------------------------------------------------------ 2 --- */

#define TRY(call)                                                                       \
    do {                                                                                \
        plinth_status st_ = (call);                                                     \
        if (st_ != PLINTH_OK) {                                                         \
            snprintf(err, err_size, "%s: %s", #call, plinth_context_error(plinth_backend_context(b)));     \
            st = st_;                                                                   \
            goto done;                                                                  \
        }                                                                               \
    } while (0)

/* Sets param `name` (n elements of dtype) to values uniform in ±scale; a
 * block dtype to random blocks of values of order 1 (data.c). */
static plinth_status set_random(plinth_model *m, const char *name, int32_t dtype, int64_t n,
                                double scale, uint64_t *rng)
{
    if (plinth_dtype_block_elems(dtype) > 1) {
        const conf_tensor t = CONF_DENSE(dtype, n);
        const size_t bytes = (size_t)conf_bytes(dtype, n);
        uint8_t *blocks = malloc(bytes ? bytes : 1);
        if (!blocks)
            return PLINTH_ERR_NO_MEMORY;
        conf_fill(&t, blocks, rng);
        plinth_status st = plinth_model_set_param(m, name, blocks, bytes);
        free(blocks);
        return st;
    }
    const size_t es = plinth_dtype_bytes(dtype);
    uint8_t *buf = malloc((size_t)n * es);
    if (!buf)
        return PLINTH_ERR_NO_MEMORY;
    for (int64_t i = 0; i < n; i++) {
        double u = (double)(conf_rng_next(rng) >> 11) / 9007199254740992.0;
        conf_store(buf + (size_t)i * es, dtype, (2.0 * u - 1.0) * scale + (u == 0.5 ? 0.1 : 0));
    }
    plinth_status st = plinth_model_set_param(m, name, buf, (size_t)n * es);
    free(buf);
    return st;
}

static plinth_status set_f32(plinth_program *p, const char *name, const float *v, size_t n)
{
    int32_t i = plinth_program_input_index(p, name);
    return i < 0 ? PLINTH_ERR_INVALID : plinth_program_set_input(p, (uint32_t)i, v, n * 4);
}

static plinth_status set_i32(plinth_program *p, const char *name, const int32_t *v, size_t n)
{
    int32_t i = plinth_program_input_index(p, name);
    return i < 0 ? PLINTH_ERR_INVALID : plinth_program_set_input(p, (uint32_t)i, v, n * 4);
}

static void random_f32(float *v, size_t n, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)((double)(conf_rng_next(rng) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* ------------------------------------------------------------------ 3 --- */

enum { MLP_T = 7, MLP_E = 64, MLP_F = 96 };

static plinth_status graph_mlp(plinth_backend *const *list, uint32_t n, const char *arg,
                               uint32_t seed, float *out, uint64_t n_out, conf_placement *pl,
                               char *err, size_t err_size)
{
    plinth_backend *b = list[0];
    plinth_status st = PLINTH_OK;
    plinth_model *m = NULL;
    plinth_graph *g = NULL;
    plinth_program *p = NULL;
    uint64_t rng = 0xD1B54A32D192ED03ull ^ seed;
    float x[MLP_T * MLP_E];
    (void)n_out;

    TRY(plinth_model_create_multi(list, n, &m));
    TRY(plinth_graph_create(plinth_backend_context(b), &g));
    int64_t xs[2] = {MLP_T, MLP_E}, up[2] = {MLP_F, MLP_E}, down[2] = {MLP_E, MLP_F},
            nw[1] = {MLP_E};
    plinth_node xn = plinth_input(g, "x", PLINTH_F32, 2, xs);
    plinth_node h = plinth_rms_norm(g, xn, plinth_param(g, "norm", PLINTH_F32, 1, nw), 1e-6f);
    plinth_node u = plinth_matmul(g, h, plinth_param(g, "up", PLINTH_BF16, 2, up), true);
    plinth_node gate = plinth_gelu_tanh(
        g, plinth_matmul(g, h, plinth_param(g, "gate", PLINTH_F32, 2, up), true));
    plinth_node d = plinth_matmul(g, plinth_mul(g, gate, u),
                                  plinth_param(g, "down", PLINTH_F16, 2, down), true);
    plinth_node y = plinth_add(g, xn, plinth_scale(g, d, 0.5f));
    TRY(plinth_output(g, plinth_softmax(g, plinth_silu(g, y), PLINTH_NODE_INVALID, 2.0f), "y"));
    TRY(plinth_program_compile(m, g, NULL, &p));
    conf_placement_add(pl, p);
    TRY(plinth_model_load_empty(m));
    TRY(set_random(m, "norm", PLINTH_F32, MLP_E, 1.0, &rng));
    TRY(set_random(m, "up", PLINTH_BF16, MLP_F * MLP_E, 0.2, &rng));
    TRY(set_random(m, "gate", PLINTH_F32, MLP_F * MLP_E, 0.2, &rng));
    TRY(set_random(m, "down", PLINTH_F16, MLP_E * MLP_F, 0.2, &rng));
    random_f32(x, MLP_T * MLP_E, &rng);
    TRY(set_f32(p, "x", x, MLP_T * MLP_E));
    TRY(plinth_program_run(p));
    TRY(plinth_program_get_output(p, 0, out, MLP_T * MLP_E * sizeof(float)));
done:
    plinth_program_destroy(p);
    plinth_graph_destroy(g);
    plinth_model_destroy(m);
    return st;
}

/* The same block with quantised weights: the embedding from a q4_0 table,
 * up q8_0, gate q4_K dequantised to f32 at build time (a cast folded at
 * load), down q6_K; 7 rows through the prefill path, K of several blocks. */
enum { QM_T = 7, QM_E = 256, QM_F = 512, QM_V = 40 };

static plinth_status graph_qmlp(plinth_backend *const *list, uint32_t n, const char *arg,
                                uint32_t seed, float *out, uint64_t n_out, conf_placement *pl,
                                char *err, size_t err_size)
{
    plinth_backend *b = list[0];
    plinth_status st = PLINTH_OK;
    plinth_model *m = NULL;
    plinth_graph *g = NULL;
    plinth_program *p = NULL;
    uint64_t rng = 0x9E3779B97F4A7C15ull ^ seed;
    float x[QM_T * QM_E];
    int32_t ids[QM_T];
    (void)arg;
    (void)n_out;

    TRY(plinth_model_create_multi(list, n, &m));
    TRY(plinth_graph_create(plinth_backend_context(b), &g));
    int64_t xs[2] = {QM_T, QM_E}, is[1] = {QM_T}, emb[2] = {QM_V, QM_E}, up[2] = {QM_F, QM_E},
            down[2] = {QM_E, QM_F}, nw[1] = {QM_E};
    plinth_node xn = plinth_input(g, "x", PLINTH_F32, 2, xs);
    plinth_node e = plinth_get_rows(g, plinth_param(g, "emb", PLINTH_Q4_0, 2, emb),
                                    plinth_input(g, "ids", PLINTH_I32, 1, is), PLINTH_F32);
    plinth_node r = plinth_add(g, xn, e);
    plinth_node h = plinth_rms_norm(g, r, plinth_param(g, "norm", PLINTH_F32, 1, nw), 1e-6f);
    plinth_node u = plinth_matmul(g, h, plinth_param(g, "up", PLINTH_Q8_0, 2, up), true);
    plinth_node gw = plinth_cast(g, plinth_param(g, "gate", PLINTH_Q4_K, 2, up), PLINTH_F32);
    plinth_node gate = plinth_gelu_tanh(g, plinth_matmul(g, h, gw, true));
    plinth_node d = plinth_matmul(g, plinth_mul(g, gate, u),
                                  plinth_param(g, "down", PLINTH_Q6_K, 2, down), true);
    TRY(plinth_output(g, plinth_add(g, r, d), "y"));
    TRY(plinth_program_compile(m, g, NULL, &p));
    conf_placement_add(pl, p);
    TRY(plinth_model_load_empty(m));
    TRY(set_random(m, "emb", PLINTH_Q4_0, QM_V * QM_E, 1.0, &rng));
    TRY(set_random(m, "norm", PLINTH_F32, QM_E, 1.0, &rng));
    TRY(set_random(m, "up", PLINTH_Q8_0, QM_F * QM_E, 1.0, &rng));
    TRY(set_random(m, "gate", PLINTH_Q4_K, QM_F * QM_E, 1.0, &rng));
    TRY(set_random(m, "down", PLINTH_Q6_K, QM_E * QM_F, 1.0, &rng));
    random_f32(x, QM_T * QM_E, &rng);
    for (int i = 0; i < QM_T; i++)
        ids[i] = (int32_t)(conf_rng_next(&rng) % QM_V);
    TRY(set_f32(p, "x", x, QM_T * QM_E));
    TRY(set_i32(p, "ids", ids, QM_T));
    TRY(plinth_program_run(p));
    TRY(plinth_program_get_output(p, 0, out, QM_T * QM_E * sizeof(float)));
done:
    plinth_program_destroy(p);
    plinth_graph_destroy(g);
    plinth_model_destroy(m);
    return st;
}

/* Weights as params, which a plugin may pack at load (pack_size):
 * projections with N = 44, 20 and 12 (not whole groups of 8, nor of 32)
 * and a tied table that get_rows reads too, in a decode program (M = 1),
 * one of 3 rows and a prefill one of one model; the outputs of each. A
 * kernel that reads a packed weight as plain (strides 0) fails here.
 * Then a gated MLP on the same weights' dtypes, gelu_tanh(h2 wg) * (h2
 * wu), N = 40, into an f32 wd (N = 12, K = 40: no whole quant blocks):
 * two GEMMs on one input (one job in the cpu backend) whose outputs meet
 * in the product, on packed weights.
 *   q4_0 table, q4_0 / q4_K / q8_0 projections, K = 256, prefill 7;
 *   all bf16, or all f32, K = 75 (odd: the last pair half empty), prefill
 *   203 (17 12-row blocks of a GEMM, the last short: enough for the cpu
 *   GEMM's row parts, one per thread). */
enum { PQ_T = 7, PQ_K = 256, PQ_N = 44, PQ_N2 = 20, PQ_N3 = 12, PQ_V = 40 };
enum { PB_T = 203, PB_K = 75, PQ_NF = 40, PQ_ND = 12 }; /* the MLP's hidden and output widths */
#define PQ_OUTS (PQ_N + PQ_N2 + PQ_N3 + PQ_V + PQ_ND) /* floats per token */

typedef struct pq_spec {
    int32_t emb, w, w2, w3; /* dtypes */
    int64_t k, t_prefill;
} pq_spec;
static const pq_spec pq_quant = {PLINTH_Q4_0, PLINTH_Q4_0, PLINTH_Q4_K, PLINTH_Q8_0, PQ_K, PQ_T};
static const pq_spec pq_bf16 = {PLINTH_BF16, PLINTH_BF16, PLINTH_BF16, PLINTH_BF16, PB_K, PB_T};
static const pq_spec pq_f32 = {PLINTH_F32, PLINTH_F32, PLINTH_F32, PLINTH_F32, PB_K, PB_T};

static plinth_status pq_program(plinth_model *m, plinth_backend *b, const pq_spec *sp, int64_t t,
                                plinth_program **out, char *err, size_t err_size)
{
    plinth_status st = PLINTH_OK;
    plinth_graph *g = NULL;
    TRY(plinth_graph_create(plinth_backend_context(b), &g));
    const int64_t K = sp->k;
    int64_t xs[2] = {t, K}, is[1] = {t}, ws[2] = {PQ_N, K}, ws2[2] = {PQ_N2, K},
            ws3[2] = {PQ_N3, K}, es[2] = {PQ_V, K};
    plinth_node x = plinth_input(g, "x", PLINTH_F32, 2, xs);
    plinth_node emb = plinth_param(g, "emb", (plinth_dtype)sp->emb, 2, es);
    plinth_node h = plinth_add(
        g, x, plinth_get_rows(g, emb, plinth_input(g, "ids", PLINTH_I32, 1, is), PLINTH_F32));
    TRY(plinth_output(
        g, plinth_matmul(g, h, plinth_param(g, "w", (plinth_dtype)sp->w, 2, ws), true), "y"));
    TRY(plinth_output(
        g, plinth_matmul(g, h, plinth_param(g, "w2", (plinth_dtype)sp->w2, 2, ws2), true), "y2"));
    TRY(plinth_output(
        g, plinth_matmul(g, h, plinth_param(g, "w3", (plinth_dtype)sp->w3, 2, ws3), true), "y3"));
    TRY(plinth_output(g, plinth_matmul(g, h, emb, true), "logits"));
    /* the MLP reads its own a (not h): its two GEMMs are not mixed into a
     * group with the four above */
    int64_t fs[2] = {PQ_NF, K}, ds[2] = {PQ_ND, PQ_NF};
    plinth_node h2 = plinth_scale(g, h, 0.5f);
    plinth_node gate = plinth_matmul(g, h2, plinth_param(g, "wg", (plinth_dtype)sp->w, 2, fs), true);
    plinth_node up = plinth_matmul(g, h2, plinth_param(g, "wu", (plinth_dtype)sp->w2, 2, fs), true);
    plinth_node ffn = plinth_mul(g, plinth_gelu_tanh(g, gate), up);
    TRY(plinth_output(
        g, plinth_matmul(g, ffn, plinth_param(g, "wd", PLINTH_F32, 2, ds), true), "ffn"));
    TRY(plinth_program_compile(m, g, NULL, out));
done:
    plinth_graph_destroy(g);
    return st;
}

/* arg "decode": one token (M = 1), "rows3": three (M = 3, still the
 * GEMV: its loop over a's rows), "prefill": sp->t_prefill tokens. */
static plinth_status packed_params(plinth_backend *const *list, uint32_t n, const pq_spec *sp,
                                   const char *arg, uint32_t seed, float *out,
                                   conf_placement *pl, char *err, size_t err_size)
{
    plinth_backend *b = list[0];
    plinth_status st = PLINTH_OK;
    plinth_model *m = NULL;
    plinth_program *prog = NULL;
    uint64_t rng = 0xBF58476D1CE4E5B9ull ^ seed;
    const int64_t t =
        strcmp(arg, "decode") == 0 ? 1 : strcmp(arg, "rows3") == 0 ? 3 : sp->t_prefill;
    const int64_t K = sp->k;
    static _Thread_local float x[PB_T * PQ_K]; /* the larger of both specs' t * k */
    int32_t ids[PB_T];

    TRY(plinth_model_create_multi(list, n, &m));
    st = pq_program(m, b, sp, t, &prog, err, err_size);
    if (st != PLINTH_OK)
        goto done;
    conf_placement_add(pl, prog);
    TRY(plinth_model_load_empty(m));
    TRY(set_random(m, "emb", sp->emb, PQ_V * K, 1.0, &rng));
    TRY(set_random(m, "w", sp->w, PQ_N * K, 1.0, &rng));
    TRY(set_random(m, "w2", sp->w2, PQ_N2 * K, 1.0, &rng));
    TRY(set_random(m, "w3", sp->w3, PQ_N3 * K, 1.0, &rng));
    TRY(set_random(m, "wg", sp->w, PQ_NF * K, 1.0, &rng));
    TRY(set_random(m, "wu", sp->w2, PQ_NF * K, 1.0, &rng));
    TRY(set_random(m, "wd", PLINTH_F32, PQ_ND * PQ_NF, 1.0, &rng));
    random_f32(x, (size_t)(t * K), &rng);
    for (int64_t r = 0; r < t; r++)
        ids[r] = (int32_t)(conf_rng_next(&rng) % PQ_V);
    TRY(set_f32(prog, "x", x, (size_t)(t * K)));
    TRY(set_i32(prog, "ids", ids, (size_t)t));
    TRY(plinth_program_run(prog));
    const int64_t widths[5] = {PQ_N, PQ_N2, PQ_N3, PQ_V, PQ_ND};
    for (uint32_t o = 0; o < 5; o++) {
        TRY(plinth_program_get_output(prog, o, out, (size_t)(t * widths[o]) * sizeof(float)));
        out += t * widths[o];
    }
done:
    plinth_program_destroy(prog);
    plinth_model_destroy(m);
    return st;
}

static plinth_status graph_packed_q4(plinth_backend *const *list, uint32_t n, const char *arg,
                                     uint32_t seed, float *out, uint64_t n_out,
                                     conf_placement *pl, char *err, size_t err_size)
{
    (void)n_out;
    return packed_params(list, n, &pq_quant, arg, seed, out, pl, err, err_size);
}

static plinth_status graph_packed_bf16(plinth_backend *const *list, uint32_t n, const char *arg,
                                       uint32_t seed, float *out, uint64_t n_out,
                                       conf_placement *pl, char *err, size_t err_size)
{
    (void)n_out;
    return packed_params(list, n, &pq_bf16, arg, seed, out, pl, err, err_size);
}

static plinth_status graph_packed_f32(plinth_backend *const *list, uint32_t n, const char *arg,
                                      uint32_t seed, float *out, uint64_t n_out,
                                      conf_placement *pl, char *err, size_t err_size)
{
    (void)n_out;
    return packed_params(list, n, &pq_f32, arg, seed, out, pl, err, err_size);
}

/* ------------------------------------------------------------------ 4 --- */

enum { AT_E = 64, AT_HQ = 4, AT_HKV = 2, AT_D = 16, AT_S = 32, AT_PREFILL = 7, AT_DECODES = 3 };

/* One program of T tokens: project, rope, write k/v rows into the cache
 * states at pos, attend over the cache, project out. */
static plinth_status attn_program(plinth_model *m, plinth_backend *b, int64_t t,
                                  plinth_program **out, char *err, size_t err_size)
{
    plinth_status st = PLINTH_OK;
    plinth_graph *g = NULL;
    TRY(plinth_graph_create(plinth_backend_context(b), &g));
    int64_t xs[2] = {t, AT_E}, ts[1] = {t}, one[1] = {1};
    int64_t wq[2] = {AT_HQ * AT_D, AT_E}, wkv[2] = {AT_HKV * AT_D, AT_E},
            wo[2] = {AT_E, AT_HQ * AT_D}, cache[2] = {AT_S, AT_HKV * AT_D};
    int64_t qs[3] = {t, AT_HQ, AT_D}, ks[3] = {t, AT_HKV, AT_D}, kr[2] = {t, AT_HKV * AT_D},
            cs[3] = {AT_S, AT_HKV, AT_D}, as[2] = {t, AT_HQ * AT_D};
    plinth_node x = plinth_input(g, "x", PLINTH_F32, 2, xs);
    plinth_node pos = plinth_input(g, "pos", PLINTH_I32, 1, ts);
    plinth_node kv_len = plinth_input(g, "kv_len", PLINTH_I32, 1, one);
    plinth_node kc = plinth_state(g, "k_cache", PLINTH_F16, 2, cache);
    plinth_node vc = plinth_state(g, "v_cache", PLINTH_F16, 2, cache);
    plinth_node q = plinth_reshape(
        g, plinth_matmul(g, x, plinth_param(g, "wq", PLINTH_F32, 2, wq), true), 3, qs);
    q = plinth_rope(g, q, pos, 10000.0f, AT_D);
    plinth_node k = plinth_reshape(
        g, plinth_matmul(g, x, plinth_param(g, "wk", PLINTH_BF16, 2, wkv), true), 3, ks);
    k = plinth_reshape(g, plinth_rope(g, k, pos, 10000.0f, AT_D), 2, kr);
    plinth_node v = plinth_matmul(g, x, plinth_param(g, "wv", PLINTH_F16, 2, wkv), true);
    plinth_node kc2 = plinth_reshape(g, plinth_set_rows(g, kc, k, pos), 3, cs);
    plinth_node vc2 = plinth_reshape(g, plinth_set_rows(g, vc, v, pos), 3, cs);
    plinth_node a = plinth_attention(g, q, kc2, vc2, pos, kv_len, 0.25f, 0);
    plinth_node y = plinth_matmul(g, plinth_reshape(g, a, 2, as),
                                  plinth_param(g, "wo", PLINTH_F32, 2, wo), true);
    TRY(plinth_output(g, y, "y"));
    TRY(plinth_program_compile(m, g, NULL, out));
done:
    plinth_graph_destroy(g);
    return st;
}

static plinth_status graph_attention_kv(plinth_backend *const *list, uint32_t n,
                                        const char *arg, uint32_t seed, float *out,
                                        uint64_t n_out, conf_placement *pl, char *err,
                                        size_t err_size)
{
    plinth_backend *b = list[0];
    plinth_status st = PLINTH_OK;
    plinth_model *m = NULL;
    plinth_program *prefill = NULL, *decode = NULL;
    uint64_t rng = 0x94D049BB133111EBull ^ seed;
    float x[AT_PREFILL * AT_E];
    int32_t pos[AT_PREFILL], kv_len;
    (void)n_out;

    TRY(plinth_model_create_multi(list, n, &m));
    st = attn_program(m, b, AT_PREFILL, &prefill, err, err_size);
    if (st == PLINTH_OK)
        st = attn_program(m, b, 1, &decode, err, err_size);
    if (st != PLINTH_OK)
        goto done;
    conf_placement_add(pl, prefill);
    conf_placement_add(pl, decode);
    TRY(plinth_model_load_empty(m));
    TRY(set_random(m, "wq", PLINTH_F32, AT_HQ * AT_D * AT_E, 0.3, &rng));
    TRY(set_random(m, "wk", PLINTH_BF16, AT_HKV * AT_D * AT_E, 0.3, &rng));
    TRY(set_random(m, "wv", PLINTH_F16, AT_HKV * AT_D * AT_E, 0.3, &rng));
    TRY(set_random(m, "wo", PLINTH_F32, AT_E * AT_HQ * AT_D, 0.3, &rng));

    /* Prefill 7 tokens, then decode 3 one at a time: each decode reads the
     * cache rows the earlier runs wrote (shared state). */
    random_f32(x, AT_PREFILL * AT_E, &rng);
    for (int i = 0; i < AT_PREFILL; i++)
        pos[i] = i;
    kv_len = AT_PREFILL;
    TRY(set_f32(prefill, "x", x, AT_PREFILL * AT_E));
    TRY(set_i32(prefill, "pos", pos, AT_PREFILL));
    TRY(set_i32(prefill, "kv_len", &kv_len, 1));
    TRY(plinth_program_run(prefill));
    TRY(plinth_program_get_output(prefill, 0, out, AT_PREFILL * AT_E * sizeof(float)));
    for (int s = 0; s < AT_DECODES; s++) {
        int32_t p1 = AT_PREFILL + s, len = p1 + 1;
        random_f32(x, AT_E, &rng);
        TRY(set_f32(decode, "x", x, AT_E));
        TRY(set_i32(decode, "pos", &p1, 1));
        TRY(set_i32(decode, "kv_len", &len, 1));
        TRY(plinth_program_run(decode));
        TRY(plinth_program_get_output(decode, 0, out + (AT_PREFILL + s) * AT_E,
                                      AT_E * sizeof(float)));
    }
done:
    plinth_program_destroy(prefill);
    plinth_program_destroy(decode);
    plinth_model_destroy(m);
    return st;
}

static void register_builtins(void)
{
    if (builtins_done)
        return;
    builtins_done = true;
    /* Tolerances: the graphs mix f16/bf16 weights and an f16 cache, so one
     * f16 rounding (u = 2^-11) that differs between backends can reach the
     * output; 1e-5 is (6u)² with margin for a few matmuls of slack. */
    registry[n_registry++] = (conf_graph_case){"graph mlp [7,64] (rms_norm, bf16/f16 matmul, "
                                               "gelu, softmax)",
                                               graph_mlp, MLP_T * MLP_E, 1e-5, NULL};
    registry[n_registry++] = (conf_graph_case){
        "graph attention kv-cache (prefill 7 + decode 3, GQA 2:1, f16 cache)",
        graph_attention_kv, (AT_PREFILL + AT_DECODES) * AT_E, 1e-5, NULL};
    /* Quantised weights are dequantised exactly (f32 activations): the f32
     * bound of three matmuls of K <= 512. */
    registry[n_registry++] = (conf_graph_case){
        "graph mlp quantised [7,256] (q4_0 embedding, q8_0/q6_K matmul, q4_K cast at load)",
        graph_qmlp, QM_T * QM_E, 1e-5, NULL};
    /* Decode may quantise its activations to int8 per block of 32 (the
     * cpu backend does for q4_0 and q4_K, and q8_0 under precision=fast:
     * cpu_quant.c): that error's
     * variance is about 1.6e-5 of each result's for uniform inputs; a
     * kernel reading a packed weight as plain is off by order 1. Prefill
     * (7 rows) dequantises exactly: the f32 bound. */
    registry[n_registry++] = (conf_graph_case){
        "graph q4_0/q4_K/q8_0 params, packable, decode (N = 44/20/12, tied table)", graph_packed_q4,
        PQ_OUTS, 2e-4, "decode"};
    registry[n_registry++] = (conf_graph_case){
        "graph q4_0/q4_K/q8_0 params, packable, 3 rows (N = 44/20/12, tied table)", graph_packed_q4,
        3 * PQ_OUTS, 2e-4, "rows3"};
    registry[n_registry++] = (conf_graph_case){
        "graph q4_0/q4_K/q8_0 params, packable, prefill 7 (N = 44/20/12, tied table)", graph_packed_q4,
        PQ_T * PQ_OUTS, 1e-5, "prefill"};
    /* bf16 and f32 weights (the cpu backend keeps them as pairs of k and
     * as panels, the tied table too): f32 arithmetic, the f32 bound. A
     * kernel reading them as plain, or a pair's halves swapped, is off by
     * order 1. */
    registry[n_registry++] = (conf_graph_case){
        "graph bf16 params, packable, decode (K = 75, N = 44/20/12, tied table)",
        graph_packed_bf16, PQ_OUTS, 1e-5, "decode"};
    registry[n_registry++] = (conf_graph_case){
        "graph bf16 params, packable, 3 rows (K = 75, N = 44/20/12, tied table)",
        graph_packed_bf16, 3 * PQ_OUTS, 1e-5, "rows3"};
    registry[n_registry++] = (conf_graph_case){
        "graph bf16 params, packable, prefill 203 (K = 75, N = 44/20/12, tied table)",
        graph_packed_bf16, PB_T * PQ_OUTS, 1e-5, "prefill"};
    registry[n_registry++] = (conf_graph_case){
        "graph f32 params, packable, decode (K = 75, N = 44/20/12, tied table)",
        graph_packed_f32, PQ_OUTS, 1e-5, "decode"};
    registry[n_registry++] = (conf_graph_case){
        "graph f32 params, packable, prefill 203 (K = 75, N = 44/20/12, tied table)",
        graph_packed_f32, PB_T * PQ_OUTS, 1e-5, "prefill"};
}

/* ------------------------------------------------------------------ 5 --- */

void conf_placement_add(conf_placement *pl, plinth_program *prog)
{
    if (!pl || !prog)
        return;
    plinth_plan_stats s = {.struct_size = sizeof s};
    if (plinth_program_plan_stats(prog, &s) != PLINTH_OK)
        return;
    pl->transfers += s.n_transfers;
    pl->shared += s.n_shared;
    for (uint32_t i = 0; i < s.n_instructions; i++) {
        plinth_instruction_info in = {.struct_size = sizeof in};
        if (plinth_program_instruction_info(prog, i, &in) == PLINTH_OK && in.op >= 0 &&
            in.backend >= 0 && (uint32_t)in.backend < PLINTH_MAX_BACKENDS)
            pl->ops[in.backend][in.op]++;
    }
}

void conf_placement_str(const conf_placement *pl, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t b = 0; b < pl->n && len < size; b++) {
        uint32_t total = 0;
        for (uint32_t op = 0; op < PLINTH_OP_COUNT; op++)
            total += pl->ops[b][op];
        len += (size_t)snprintf(buf + len, size - len, "%s%s %u", b ? "; " : "",
                                plinth_backend_name(pl->list[b]), total);
        const char *sep = " (";
        for (uint32_t op = 0; op < PLINTH_OP_COUNT && len < size; op++)
            if (pl->ops[b][op]) {
                len += (size_t)snprintf(buf + len, size - len, "%s%u %s", sep, pl->ops[b][op],
                                        plinth_op_name((plinth_op)op));
                sep = ", ";
            }
        if (*sep == ',' && len < size)
            len += (size_t)snprintf(buf + len, size - len, ")");
    }
    if (len < size)
        snprintf(buf + len, size - len, "; %u transfers, %u shared reads", pl->transfers,
                 pl->shared);
}

void conf_run_graph(plinth_backend *ref, plinth_backend *b, plinth_backend *const *fallbacks,
                    uint32_t n_fallbacks, const conf_graph_case *g, uint32_t seed,
                    conf_result *r, char *placement, size_t placement_size)
{
    memset(r, 0, sizeof *r);
    r->seed = seed;
    r->max_nmse = g->max_nmse;
    if (placement_size)
        placement[0] = '\0';
    double *want = malloc(g->n_out * sizeof *want), *got = malloc(g->n_out * sizeof *got);
    float *fw = malloc(g->n_out * sizeof *fw), *fg = malloc(g->n_out * sizeof *fg);
    plinth_backend *list[PLINTH_MAX_BACKENDS] = {b};
    uint32_t n = 1;
    for (uint32_t i = 0; i < n_fallbacks && n < PLINTH_MAX_BACKENDS; i++)
        list[n++] = fallbacks[i];
    static conf_placement pl; /* large; one case at a time */
    memset(&pl, 0, sizeof pl);
    pl.list = list;
    pl.n = n;
    char err[512] = "";
    if (!want || !got || !fw || !fg) {
        conf_result_set(r, CONF_FAIL, CONF_FAIL_ORACLE, "out of memory");
        goto done;
    }
    plinth_status st = g->fn(list, n, g->arg, seed, fg, g->n_out, &pl, err, sizeof err);
    if (st == PLINTH_ERR_UNSUPPORTED) {
        conf_result_set(r, CONF_UNSUPPORTED, CONF_FAIL_NONE, "%s", err);
        goto done;
    }
    if (n > 1 && placement_size)
        conf_placement_str(&pl, placement, placement_size);
    if (st != PLINTH_OK) {
        conf_result_set(r, CONF_FAIL, CONF_FAIL_GRAPH, "%s (%s)", err,
                        plinth_status_name(st));
        goto done;
    }
    st = g->fn(&ref, 1, g->arg, seed, fw, g->n_out, NULL, err, sizeof err);
    if (st != PLINTH_OK) {
        conf_result_set(r, CONF_FAIL, CONF_FAIL_ORACLE, "ref: %s (%s)", err,
                        plinth_status_name(st));
        goto done;
    }
    for (uint64_t i = 0; i < g->n_out; i++) {
        want[i] = fw[i];
        got[i] = fg[i];
    }
    r->status = conf_compare(got, want, (int64_t)g->n_out, PLINTH_F32, false, g->max_nmse, r)
                    ? CONF_PASS
                    : CONF_FAIL;
done:
    free(want);
    free(got);
    free(fw);
    free(fg);
}
