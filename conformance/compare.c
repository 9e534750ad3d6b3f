/*
 * compare.c — how close is close enough: the error metric and its bound.
 *
 * Sections:
 *   1. the threshold, derived from the output dtype and the reduction length
 *   2. the comparison: NaN/Inf agreement, exact or normalised MSE
 *   3. names of statuses and failure kinds
 */
#include "conf_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ 1 --- */

/* Unit roundoff u = 2^-p (p = significand bits incl. the hidden one): the
 * largest relative error of one correct rounding. */
static double unit_roundoff(int32_t dtype)
{
    switch (dtype) {
    case PLINTH_F16: return 0x1p-11;
    case PLINTH_BF16: return 0x1p-8;
    default: return 0x1p-24;
    }
}

/*
 * The error metric is the normalised MSE, Σ(got−ref)² / Σref² (ggml's
 * choice: scale-free, and a single wrong element of n shows as ~1/n). ref
 * computes in f64 and rounds once, so it is "the exact answer rounded to the
 * output dtype". A conforming backend differs from it by
 *
 *   - the rounding of its own output: a relative error up to u_out per
 *     element, so an NMSE of order u_out² (uniform rounding: u_out²/3);
 *   - accumulated f32 rounding in reductions: summing K terms in f32 adds K
 *     roundings whose errors are ~independent, so the variance of the sum's
 *     error grows like K·u_f32² relative to the result (a K-long dot
 *     product, softmax or rms_norm sum; for rope the angle pos·θ carries an
 *     absolute error ∝ pos·u, so K is pos_max²).
 *
 * Hence  max_nmse = c² · (u_out² + K · u_f32²),  with c the case's slack in
 * units of roundings (2 for one correctly rounded op, 8 for reductions, 16
 * for transcendental functions that vector code approximates). For 16-bit
 * outputs the first term dominates: the output rounding is the error. A
 * wrong index, a missed element or a wrong formula gives an NMSE of order
 * 1/n to 1, many orders above every bound here. Backends must accumulate in
 * at least f32: an f16 accumulator over K=257 exceeds the bound, on purpose.
 */
/*
 * Block weights (q8_0, q4_0, q4_K, q6_K) as matmul's b. The weights are
 * exact (their dequantised values are f32 numbers), but a backend may
 * quantise the activations to int8 per block of 32, as llama.cpp does and
 * the cpu backend does by default for the 4- and 6-bit types: each x is
 * then off by at most d/2, d = max|x| / 127 over its block, an error of
 * variance d²/12 against x's own E[x²]. The dot product's error relative
 * to Σ(w·x)² is then (max|x|² / E[x²]) / (12 · 127²): 1.55e-5 for the
 * suite's uniform values (max|x|² / E[x²] ≈ 3), observed 1e-6 to 4e-5.
 * The allowance is 2e-4 (13 times that), added to the reduction term so
 * that the cancellation rule below scales it too; a block misread (one in
 * the 20 of K = 640) is an NMSE of ~0.05.
 */
#define Q8_ACTIVATION_NMSE 2e-4

double conf_max_nmse(const conf_case *c)
{
    double out_term, sum_term;
    conf_nmse_terms(c, &out_term, &sum_term);
    return out_term + sum_term;
}

void conf_nmse_terms(const conf_case *c, double *out_term, double *sum_term)
{
    const conf_tensor *o = (c->flags & CONF_ALIAS_IN0) ? &c->in[0] : &c->out;
    *out_term = *sum_term = 0.0;
    if (c->c == 0.0 || o->dtype == PLINTH_I32)
        return;
    const double uo = unit_roundoff(o->dtype), u32 = 0x1p-24;
    const double k = c->k > 1.0 ? c->k : 1.0;
    *out_term = c->c * c->c * uo * uo;
    *sum_term = c->c * c->c * k * u32 * u32;
    if (c->op == PLINTH_OP_MATMUL && c->n_in > 1 && plinth_dtype_block_elems(c->in[1].dtype) > 1)
        *sum_term += Q8_ACTIVATION_NMSE;
}

/*
 * Cancellation. The K·u² term above assumes the partial sums of a reduction
 * are about as large as its result. When a dot product cancels (terms of
 * size 1 summing to 0.009), the partial sums are not, and a correct f32
 * backend's error is set by them: ~√K·u·(Σ|a·b|/√K) rather than √K·u·|ref|.
 * For such ops the harness also runs ref on |a| and |b|, which gives
 * mag = Σ|a·b| per element, and the reduction term then uses
 * max(ref², mag²/K) per element: the same as before when the sum does not
 * cancel (mag²/K ≈ ref² for random signs), and the honest bound when it
 * does. A wrong answer still shows: mag only scales the allowance for
 * rounding, which stays ~K·u² relative.
 */
double conf_cancellation_bound(const conf_case *c, const double *want, const double *mag,
                               int64_t n)
{
    double out_term, sum_term;
    conf_nmse_terms(c, &out_term, &sum_term);
    const double k = c->k > 1.0 ? c->k : 1.0;
    double norm = 0.0, eff = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(want[i]) || !isfinite(mag[i]))
            continue;
        const double r2 = want[i] * want[i], m2 = mag[i] * mag[i] / k;
        norm += r2;
        eff += r2 > m2 ? r2 : m2;
    }
    if (norm <= 0.0)
        return out_term + sum_term;
    return out_term + sum_term * (eff / norm);
}

/* Both are ref's f32 sums of the same K terms, so |want| can pass mag only
 * by their rounding, ~K·u relative: 1e-3 covers K up to ~16k. */
int64_t conf_magnitude_below(const double *want, const double *mag, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (isfinite(want[i]) && isfinite(mag[i]) && fabs(want[i]) > mag[i] * (1.0 + 1e-3))
            return i;
    return -1;
}

/* ------------------------------------------------------------------ 2 --- */

static const char *fmt_val(double v, int32_t dtype, char *buf, size_t size)
{
    if (dtype == PLINTH_I32)
        snprintf(buf, size, "%.0f", v);
    else
        snprintf(buf, size, "%.9g", v);
    return buf;
}

bool conf_compare(const double *got, const double *want, int64_t n, int32_t dtype, bool exact,
                  double max_nmse, conf_result *r)
{
    char a[48], b[48];
    /* NaN and Inf must agree element by element (ggml's rule): a backend
     * that overflows where ref does not, or hides a NaN, fails whatever
     * the average error. */
    for (int64_t i = 0; i < n; i++) {
        const bool gn = isnan(got[i]), wn = isnan(want[i]);
        const bool gi = isinf(got[i]), wi = isinf(want[i]);
        if (gn != wn || gi != wi || (gi && wi && got[i] != want[i])) {
            conf_result_set(r, CONF_FAIL, CONF_FAIL_NONFINITE,
                            "NaN/Inf mismatch at element %lld: got %s, ref %s", (long long)i,
                            fmt_val(got[i], dtype, a, sizeof a),
                            fmt_val(want[i], dtype, b, sizeof b));
            return false;
        }
    }
    if (exact) {
        for (int64_t i = 0; i < n; i++)
            if (!isnan(want[i]) && got[i] != want[i]) {
                int64_t wrong = 0;
                for (int64_t j = i; j < n; j++)
                    wrong += !isnan(want[j]) && got[j] != want[j];
                conf_result_set(r, CONF_FAIL, CONF_FAIL_MISMATCH,
                                "%lld of %lld elements differ (exact op); first at element "
                                "%lld: got %s, ref %s",
                                (long long)wrong, (long long)n, (long long)i,
                                fmt_val(got[i], dtype, a, sizeof a),
                                fmt_val(want[i], dtype, b, sizeof b));
                return false;
            }
        return true;
    }
    double err = 0.0, norm = 0.0, worst = -1.0;
    int64_t wi = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(want[i]))
            continue; /* agreed above */
        const double d = got[i] - want[i];
        err += d * d;
        norm += want[i] * want[i];
        if (fabs(d) > worst) {
            worst = fabs(d);
            wi = i;
        }
    }
    /* All-zero reference (e.g. attention with no visible key): the absolute
     * squared error must then be within the bound. */
    r->nmse = norm > 0.0 ? err / norm : err;
    if (r->nmse <= max_nmse)
        return true;
    conf_result_set(r, CONF_FAIL, CONF_FAIL_ACCURACY,
                    "normalised MSE %.3g > %.3g; worst element %lld: got %s, ref %s", r->nmse,
                    max_nmse, (long long)wi, fmt_val(got[wi], dtype, a, sizeof a),
                    fmt_val(want[wi], dtype, b, sizeof b));
    return false;
}

/* ------------------------------------------------------------------ 3 --- */

const char *conf_fail_name(int kind)
{
    static const char *const names[CONF_FAIL_COUNT] = {
        [CONF_FAIL_NONE] = "none",
        [CONF_FAIL_BASIC_UNSUPPORTED] = "basic-unsupported",
        [CONF_FAIL_ALLOC] = "alloc",
        [CONF_FAIL_KERNEL] = "kernel-error",
        [CONF_FAIL_GUARD] = "guard",
        [CONF_FAIL_UNWRITTEN] = "unwritten",
        [CONF_FAIL_INPUT_CHANGED] = "input-changed",
        [CONF_FAIL_NONFINITE] = "nan-inf",
        [CONF_FAIL_MISMATCH] = "mismatch",
        [CONF_FAIL_ACCURACY] = "accuracy",
        [CONF_FAIL_GRAPH] = "graph",
        [CONF_FAIL_ORACLE] = "oracle",
        [CONF_FAIL_XPASS] = "xpass",
    };
    return kind >= 0 && kind < CONF_FAIL_COUNT ? names[kind] : "?";
}

const char *conf_status_name(int status)
{
    static const char *const names[CONF_STATUS_COUNT] = {
        [CONF_PASS] = "pass",       [CONF_FAIL] = "fail", [CONF_UNSUPPORTED] = "unsupported",
        [CONF_SKIP] = "skip",       [CONF_XFAIL] = "xfail", [CONF_XPASS] = "xpass",
    };
    return status >= 0 && status < CONF_STATUS_COUNT ? names[status] : "?";
}
