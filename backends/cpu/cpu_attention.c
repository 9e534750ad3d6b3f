/*
 * cpu_attention.c — rope and attention over the KV cache.
 *
 * Sections:
 *   1. rope: NeoX rotate-half; angles in double (as ref), cos/sin from a
 *      per-program table when one is given (q and k of all layers share it)
 *   2. attention: online softmax over blocks of keys (no score matrix is
 *      materialised; a block of 64 scores lives on the stack), GQA heads of
 *      a group share the key/value loads, causal + window + kv_len masks
 */
#include <math.h>
#include <string.h>

#include "cpu_simd.h"

/* ---------------------------------------------------------------- 1 ---- */

static const double *rope_freq(cpu_device *dev, float base, int32_t n_dims)
{
    for (int i = 0; i < 4; i++)
        if (dev->rope_freq[i].n_dims == n_dims && dev->rope_freq[i].base == base)
            return dev->rope_freq[i].inv;
    struct cpu_rope_freq *f = &dev->rope_freq[dev->rope_next++ % 4];
    f->base = base;
    f->n_dims = n_dims;
    for (int i = 0; i < n_dims / 2; i++)
        f->inv[i] = pow((double)base, -2.0 * (double)i / (double)n_dims);
    return f->inv;
}

static int32_t pos_at(const plinth_view *pos, int64_t t)
{
    int32_t p;
    memcpy(&p, ref_at(pos, 0, 0, 0, t), 4);
    return p;
}

static void angles(const double *inv, int64_t half, int32_t p, float *cs)
{
    for (int64_t i = 0; i < half; i++) {
        double s, c;
        sincos((double)p * inv[i], &s, &c);
        cs[2 * i] = (float)c;
        cs[2 * i + 1] = (float)s;
    }
}

typedef struct rope_job {
    const plinth_view *out, *x, *pos;
    const double *inv;
    const float *table; /* [T][half][2] or NULL */
    int64_t half;
} rope_job;

static void rope_task(void *ctx, int64_t bt, uint32_t thread)
{
    const rope_job *j = ctx;
    const int64_t t = bt % j->x->shape[1], b = bt / j->x->shape[1], half = j->half;
    float local[512];
    const float *cs = j->table ? j->table + t * half * 2 : local;
    if (!j->table)
        angles(j->inv, half, pos_at(j->pos, t), local);
    const int64_t d_all = j->x->shape[3];
    for (int64_t h = 0; h < j->x->shape[2]; h++) {
        const float *x = (const float *)ref_at(j->x, b, t, h, 0);
        float *o = (float *)ref_at(j->out, b, t, h, 0);
        /* Reads both halves before writing: out may be x. */
        for (int64_t i = 0; i < half; i++) {
            const float x0 = x[i], x1 = x[i + half], c = cs[2 * i], s = cs[2 * i + 1];
            o[i] = x0 * c - x1 * s;
            o[i + half] = x1 * c + x0 * s;
        }
        if (o != x)
            memmove(o + 2 * half, x + 2 * half, (size_t)(d_all - 2 * half) * 4);
    }
}

bool cpu_rope_table_fast(cpu_device *dev, const plinth_view *out, const plinth_view *x,
                         const plinth_view *pos, const plinth_attr_rope *a,
                         cpu_rope_table *table)
{
    if (x->dtype != PLINTH_F32 || out->dtype != PLINTH_F32 || x->stride[3] != 4 ||
        out->stride[3] != 4 || a->n_dims > 512)
        return false;
    const int64_t half = a->n_dims / 2, t_len = x->shape[1];
    if (half == 0)
        return false;
    const double *inv = rope_freq(dev, a->base, a->n_dims);
    const float *cs = NULL;
    if (table && table->cap_t >= t_len && table->n_dims == a->n_dims && table->base == a->base) {
        bool same = table->t == t_len;
        for (int64_t t = 0; same && t < t_len; t++)
            same = table->pos[t] == pos_at(pos, t);
        if (!same) {
            for (int64_t t = 0; t < t_len; t++) {
                table->pos[t] = pos_at(pos, t);
                angles(inv, half, table->pos[t], table->cs + t * half * 2);
            }
            table->t = t_len;
        }
        cs = table->cs;
    }
    rope_job j = {out, x, pos, inv, cs, half};
    cpu_parallel(dev, x->shape[0] * t_len, rope_task, &j);
    return true;
}

bool cpu_rope_fast(cpu_device *dev, const plinth_view *out, const plinth_view *x,
                   const plinth_view *pos, const plinth_attr_rope *a)
{
    return cpu_rope_table_fast(dev, out, x, pos, a, NULL);
}

/* ---------------------------------------------------------------- 2 ---- */

#if defined(__x86_64__)
CPU_AVX512 static float cpu_dot_avx512(const float *q, const uint8_t *k, int32_t kdt, int64_t d)
{
    const size_t es = cpu_esize(kdt);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 32 <= d; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), v16_load(k + i * es, kdt, 16), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), v16_load(k + (i + 16) * es, kdt, 16), s1);
    }
    for (; i < d; i += 16) {
        const int n = d - i >= 16 ? 16 : (int)(d - i);
        s0 = _mm512_fmadd_ps(v16_load(q + i, PLINTH_F32, n), v16_load(k + i * es, kdt, n), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

CPU_AVX512 static void cpu_axpy_avx512(float *acc, float c, float p, const uint8_t *v, int32_t vdt,
                                int64_t d)
{
    const size_t es = cpu_esize(vdt);
    const __m512 cv = _mm512_set1_ps(c), pv = _mm512_set1_ps(p);
    for (int64_t i = 0; i < d; i += 16) {
        const int n = d - i >= 16 ? 16 : (int)(d - i);
        const __mmask16 m = (__mmask16)(n == 16 ? 0xffff : (1u << n) - 1);
        __m512 a = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, acc + i), cv);
        a = _mm512_fmadd_ps(pv, v16_load(v + i * es, vdt, n), a);
        _mm512_mask_storeu_ps(acc + i, m, a);
    }
}
#endif

#define KBLOCK 64
#define MAX_GD 8192 /* group heads x head dim held in accumulators */

typedef struct attn_job {
    const plinth_view *out, *q, *k, *v, *pos;
    int32_t kv_len, window;
    float scale;
    int isa;
    int64_t group;    /* query heads per kv head                  */
    int64_t per_task; /* query heads per task: group, or 1        */
} attn_job;

static float dot_f(int isa, const float *q, const uint8_t *k, int32_t kdt, int64_t d)
{
#if defined(__x86_64__)
    if (isa == CPU_ISA_AVX512) {
        return cpu_dot_avx512(q, k, kdt, d);
    }
#endif
    float acc[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < d; i++)
        acc[i & 3] += q[i] * cpu_load_f(k, kdt, i);
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* acc = acc * c + p * v */
static void axpy_f(int isa, float *acc, float c, float p, const uint8_t *v, int32_t vdt,
                   int64_t d)
{
#if defined(__x86_64__)
    if (isa == CPU_ISA_AVX512) {
        cpu_axpy_avx512(acc, c, p, v, vdt, d);
        return;
    }
#endif
    for (int64_t i = 0; i < d; i++)
        acc[i] = acc[i] * c + p * cpu_load_f(v, vdt, i);
}

static void attn_task(void *ctx, int64_t task, uint32_t thread)
{
    const attn_job *j = ctx;
    const int64_t hq = j->q->shape[2], n_groups = hq / j->per_task;
    const int64_t h0 = (task % n_groups) * j->per_task, bt = task / n_groups;
    const int64_t t = bt % j->q->shape[1], b = bt / j->q->shape[1];
    const int64_t kh = h0 / j->group, d = j->q->shape[3], dv = j->v->shape[3];
    const int64_t p = pos_at(j->pos, t);
    int64_t hi = p + 1 < j->kv_len ? p + 1 : j->kv_len;
    int64_t lo = j->window > 0 ? p - j->window + 1 : 0;
    if (lo < 0)
        lo = 0;
    float acc[MAX_GD], mx[64], sum[64], sc[KBLOCK];
    const int64_t g = j->per_task;
    for (int64_t x = 0; x < g; x++) {
        mx[x] = -INFINITY;
        sum[x] = 0.0f;
        memset(acc + x * dv, 0, (size_t)dv * 4);
    }
    for (int64_t j0 = lo; j0 < hi; j0 += KBLOCK) {
        const int64_t nb = hi - j0 < KBLOCK ? hi - j0 : KBLOCK;
        for (int64_t x = 0; x < g; x++) {
            const float *q = (const float *)ref_at(j->q, b, t, h0 + x, 0);
            float bm = mx[x];
            for (int64_t jj = 0; jj < nb; jj++) {
                sc[jj] = dot_f(j->isa, q, ref_at(j->k, b, j0 + jj, kh, 0), j->k->dtype, d) *
                         j->scale;
                if (sc[jj] > bm || isnan(sc[jj]))
                    bm = sc[jj];
            }
            /* rescale what was summed so far to the new maximum */
            const float corr = mx[x] == -INFINITY ? 0.0f : expf(mx[x] - bm);
            float *ac = acc + x * dv;
            float c = corr;
            sum[x] *= corr;
            for (int64_t jj = 0; jj < nb; jj++) {
                const float e = expf(sc[jj] - bm);
                sum[x] += e;
                axpy_f(j->isa, ac, c, e, ref_at(j->v, b, j0 + jj, kh, 0), j->v->dtype, dv);
                c = 1.0f;
            }
            mx[x] = bm;
        }
    }
    for (int64_t x = 0; x < g; x++) {
        float *o = (float *)ref_at(j->out, b, t, h0 + x, 0);
        const float inv = hi > lo ? 1.0f / sum[x] : 0.0f;
        for (int64_t i = 0; i < dv; i++)
            o[i] = hi > lo ? acc[x * dv + i] * inv : 0.0f;
    }
}

bool cpu_attention_fast(cpu_device *dev, const plinth_view *out, const plinth_view *in,
                        const plinth_attr_attention *a)
{
    const plinth_view *q = &in[0], *k = &in[1], *v = &in[2];
    if (q->dtype != PLINTH_F32 || out->dtype != PLINTH_F32 || q->stride[3] != 4 ||
        out->stride[3] != 4 || k->stride[3] != (int64_t)cpu_esize(k->dtype) ||
        v->stride[3] != (int64_t)cpu_esize(v->dtype) || k->shape[2] == 0)
        return false;
    int32_t kv_len;
    memcpy(&kv_len, in[4].data, 4);
    if (kv_len < 0 || kv_len > k->shape[1])
        return false; /* ref reports it */
    const int64_t group = q->shape[2] / k->shape[2];
    const int64_t bt = q->shape[0] * q->shape[1];
    if (ref_numel(out) == 0)
        return true;
    attn_job j = {out, q, k, v, &in[3], kv_len, a->window, a->scale, dev->isa, group, group};
    if (bt * k->shape[2] < 2 * (int64_t)dev->n_threads || group > 64 ||
        group * v->shape[3] > MAX_GD)
        j.per_task = 1; /* few rows: one task per query head */
    if (v->shape[3] > MAX_GD)
        return false;
    cpu_parallel(dev, bt * (q->shape[2] / j.per_task), attn_task, &j);
    return true;
}

