/*
 * gemma_oracle.c — the tests' independent Gemma 3 forward (see the header).
 *
 * Sections: weights as double; the pieces (rms norm, matvec, rope,
 * gelu_tanh); the forward.
 */
#include "gemma_oracle.h"

#include "lm_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ weights --- */

/* A whole tensor as doubles (NULL on error, message in err). */
static double *weight(plinth_state_dict *sd, const char *name, size_t n, char *err, size_t es)
{
    int32_t i = plinth_state_dict_find(sd, name);
    plinth_tensor_info e = {.struct_size = sizeof e};
    if (i < 0 || plinth_state_dict_tensor(sd, (uint32_t)i, &e) != PLINTH_OK ||
        (e.dtype != PLINTH_F32 && e.dtype != PLINTH_BF16 && e.dtype != PLINTH_F16) ||
        e.bytes != n * plinth_dtype_bytes(e.dtype)) {
        snprintf(err, es, "oracle: no float tensor %s of %zu elements", name, n);
        return NULL;
    }
    uint8_t *raw = malloc(e.bytes);
    double *d = malloc(n * sizeof *d);
    if (!raw || !d || plinth_state_dict_read(sd, (uint32_t)i, 0, raw, e.bytes) != PLINTH_OK) {
        snprintf(err, es, "oracle: cannot read %s", name);
        free(raw);
        free(d);
        return NULL;
    }
    for (size_t k = 0; k < n; k++) {
        uint16_t h;
        float f;
        if (e.dtype == PLINTH_F32) {
            memcpy(&f, raw + 4 * k, 4);
        } else {
            memcpy(&h, raw + 2 * k, 2);
            f = e.dtype == PLINTH_BF16 ? plinth_bf16_to_f32(h) : plinth_f16_to_f32(h);
        }
        d[k] = f;
    }
    free(raw);
    return d;
}

/* ------------------------------------------------------------- pieces --- */

/* x[n] <- x / sqrt(mean(x^2) + eps) * (1 + w) */
static void rms(double *x, const double *w, int64_t n, double eps)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++)
        ss += x[i] * x[i];
    double r = 1.0 / sqrt(ss / (double)n + eps);
    for (int64_t i = 0; i < n; i++)
        x[i] = x[i] * r * (1.0 + w[i]);
}

/* out[rows] = W[rows][cols] x[cols] */
static void matvec(double *out, const double *W, const double *x, int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++) {
        double acc = 0;
        for (int64_t c = 0; c < cols; c++)
            acc += W[r * cols + c] * x[c];
        out[r] = acc;
    }
}

/* NeoX rotate-half over a head of D. */
static void rope(double *x, int64_t D, int32_t pos, double base)
{
    for (int64_t i = 0; i < D / 2; i++) {
        double th = pos * pow(base, -2.0 * (double)i / (double)D);
        double a = x[i], b = x[i + D / 2];
        x[i] = a * cos(th) - b * sin(th);
        x[i + D / 2] = b * cos(th) + a * sin(th);
    }
}

static double gelu_tanh(double x)
{
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

/* ------------------------------------------------------------ forward --- */

int oracle_logits(const char *dir, const int32_t *tok, int32_t n, float **out, char *err,
                  size_t es)
{
    lm_config c;
    plinth_context *ctx = NULL;
    plinth_state_dict *idx = NULL;
    *out = NULL;
    if (lm_config_load(NULL, dir, &c, err, es) != PLINTH_OK)
        return -1;
    if (plinth_context_create(NULL, &ctx) != PLINTH_OK ||
        plinth_state_dict_open(ctx, dir, &idx) != PLINTH_OK) {
        snprintf(err, es, "oracle: %s", ctx ? plinth_context_error(ctx) : "no context");
        plinth_context_destroy(ctx);
        return -1;
    }
    const int64_t H = c.hidden, D = c.head_dim, Hq = c.n_heads, Hkv = c.n_kv_heads, F = c.ffn,
                  V = c.vocab, QD = Hq * D, KD = Hkv * D;
    double *x = calloc((size_t)(n * H), sizeof *x), *h = malloc((size_t)H * sizeof *h);
    double *q = malloc((size_t)(n * QD) * sizeof *q), *k = malloc((size_t)(n * KD) * sizeof *k);
    double *v = malloc((size_t)(n * KD) * sizeof *v), *a = malloc((size_t)QD * sizeof *a);
    double *o = malloc((size_t)H * sizeof *o), *g = malloc((size_t)F * sizeof *g);
    double *u = malloc((size_t)F * sizeof *u), *p = malloc((size_t)n * sizeof *p);
    float *logits = malloc((size_t)(n * V) * sizeof *logits);
    double *E = weight(idx, "model.embed_tokens.weight", (size_t)(V * H), err, es);
    int rc = -1;
    if (!x || !h || !q || !k || !v || !a || !o || !g || !u || !p || !logits || !E)
        goto out;
    for (int32_t t = 0; t < n; t++)
        for (int64_t i = 0; i < H; i++)
            x[t * H + i] = E[tok[t] * H + i] * sqrt((double)H);
    for (int l = 0; l < c.n_layers; l++) {
        static const char *const names[] = {
            "input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
            "self_attn.q_norm", "self_attn.k_norm", "self_attn.o_proj",
            "post_attention_layernorm", "pre_feedforward_layernorm", "mlp.gate_proj",
            "mlp.up_proj", "mlp.down_proj", "post_feedforward_layernorm"};
        const size_t sizes[] = {(size_t)H, (size_t)(QD * H), (size_t)(KD * H), (size_t)(KD * H),
                                (size_t)D, (size_t)D, (size_t)(H * QD), (size_t)H, (size_t)H,
                                (size_t)(F * H), (size_t)(F * H), (size_t)(H * F), (size_t)H};
        double *w[13] = {0};
        bool ok = true;
        for (int i = 0; i < 13 && ok; i++) {
            char name[128];
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, names[i]);
            ok = (w[i] = weight(idx, name, sizes[i], err, es)) != NULL;
        }
        const double base = c.sliding[l] ? c.rope_local_base : c.rope_theta;
        const double scale = 1.0 / sqrt((double)c.query_pre_attn_scalar);
        for (int32_t t = 0; t < n && ok; t++) {
            memcpy(h, &x[t * H], (size_t)H * sizeof *h);
            rms(h, w[0], H, c.eps);
            matvec(&q[t * QD], w[1], h, QD, H);
            matvec(&k[t * KD], w[2], h, KD, H);
            matvec(&v[t * KD], w[3], h, KD, H);
            for (int64_t hh = 0; hh < Hq; hh++) {
                rms(&q[t * QD + hh * D], w[4], D, c.eps);
                rope(&q[t * QD + hh * D], D, t, base);
            }
            for (int64_t hh = 0; hh < Hkv; hh++) {
                rms(&k[t * KD + hh * D], w[5], D, c.eps);
                rope(&k[t * KD + hh * D], D, t, base);
            }
        }
        for (int32_t t = 0; t < n && ok; t++) {
            for (int64_t hh = 0; hh < Hq; hh++) {
                const int64_t kh = hh / (Hq / Hkv);
                /* HF's sliding mask keeps key j for query t when t - j < window. */
                int32_t lo = c.sliding[l] && t - c.sliding_window + 1 > 0
                                 ? t - c.sliding_window + 1 : 0;
                double mx = -INFINITY, sum = 0;
                for (int32_t j = lo; j <= t; j++) {
                    double s = 0;
                    for (int64_t d = 0; d < D; d++)
                        s += q[t * QD + hh * D + d] * k[j * KD + kh * D + d];
                    p[j] = s * scale;
                    mx = p[j] > mx ? p[j] : mx;
                }
                for (int32_t j = lo; j <= t; j++)
                    sum += (p[j] = exp(p[j] - mx));
                for (int64_t d = 0; d < D; d++) {
                    double acc = 0;
                    for (int32_t j = lo; j <= t; j++)
                        acc += p[j] / sum * v[j * KD + kh * D + d];
                    a[hh * D + d] = acc;
                }
            }
            matvec(o, w[6], a, H, QD);
            rms(o, w[7], H, c.eps);
            for (int64_t i = 0; i < H; i++)
                x[t * H + i] += o[i];
            memcpy(h, &x[t * H], (size_t)H * sizeof *h);
            rms(h, w[8], H, c.eps);
            matvec(g, w[9], h, F, H);
            matvec(u, w[10], h, F, H);
            for (int64_t i = 0; i < F; i++)
                g[i] = gelu_tanh(g[i]) * u[i];
            matvec(o, w[11], g, H, F);
            rms(o, w[12], H, c.eps);
            for (int64_t i = 0; i < H; i++)
                x[t * H + i] += o[i];
        }
        for (int i = 0; i < 13; i++)
            free(w[i]);
        if (!ok)
            goto out;
    }
    double *wn = weight(idx, "model.norm.weight", (size_t)H, err, es);
    if (!wn)
        goto out;
    for (int32_t t = 0; t < n; t++) {
        rms(&x[t * H], wn, H, c.eps);
        for (int64_t r = 0; r < V; r++) {
            double acc = 0;
            for (int64_t i = 0; i < H; i++)
                acc += E[r * H + i] * x[t * H + i];
            logits[t * V + r] = (float)acc;
        }
    }
    free(wn);
    *out = logits;
    logits = NULL;
    rc = 0;
out:
    free(x), free(h), free(q), free(k), free(v), free(a), free(o), free(g), free(u), free(p);
    free(logits);
    free(E);
    plinth_state_dict_close(idx);
    plinth_context_destroy(ctx);
    return rc;
}
