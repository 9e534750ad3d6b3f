/*
 * ref_matmul.c — batched matrix product with f64 accumulation.
 *
 * Sections:
 *   1. check: a [b0, b1, M, K] float; b [c0, c1, K, N] (or [c0, c1, N, K]
 *      with transpose_b) of any float or block dtype; out [o0, o1, M, N] in
 *      a's dtype; batch dims broadcast (each of a's and b's is 1 or equal to
 *      out's)
 *   2. kernel: one dot product per output element, summed in double; a
 *      block b is dequantised a block at a time (plinth_dequant_block, the
 *      exact f32 values) into the loop that reads it
 *
 * out must not alias a or b (every output element reads a whole row and
 * column); the planner only aliases elementwise ops.
 */
#include "ref.h"

/* ---------------------------------------------------------------- 1 ---- */

int32_t ref_check_matmul(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                         uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_arity(dev, PLINTH_OP_MATMUL, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    if (!attrs)
        return ref_fail(dev, PLINTH_ERR_INVALID, "matmul: attrs missing");
    const plinth_view *a = &in[0], *b = &in[1];
    const bool tb = ((const plinth_attr_matmul *)attrs)->transpose_b != 0;
    char s1[96], s2[96], s3[96];
    if (!ref_dtype_is_float(a->dtype) ||
        !(ref_dtype_is_float(b->dtype) || ref_dtype_is_block(b->dtype)))
        return ref_fail(dev, PLINTH_ERR_UNSUPPORTED,
                        "matmul: a must be a float dtype and b a float or block dtype, not "
                        "%s and %s",
                        plinth_dtype_label(a->dtype), plinth_dtype_label(b->dtype));
    if (out->dtype != a->dtype)
        return ref_fail(dev, PLINTH_ERR_INVALID, "matmul: out dtype %s differs from a's %s",
                        plinth_dtype_label(out->dtype), plinth_dtype_label(a->dtype));
    const int64_t m = a->shape[2], k = a->shape[3];
    const int64_t bk = tb ? b->shape[3] : b->shape[2];
    const int64_t n = tb ? b->shape[2] : b->shape[3];
    bool ok = bk == k && out->shape[2] == m && out->shape[3] == n;
    for (int d = 0; d < 2; d++) {
        ok = ok && (a->shape[d] == out->shape[d] || a->shape[d] == 1);
        ok = ok && (b->shape[d] == out->shape[d] || b->shape[d] == 1);
    }
    if (!ok)
        return ref_fail(dev, PLINTH_ERR_INVALID, "matmul: shapes a %s, b %s%s, out %s do not fit",
                        ref_shape_str(a, s1, sizeof s1), ref_shape_str(b, s2, sizeof s2),
                        tb ? " (transposed)" : "", ref_shape_str(out, s3, sizeof s3));
    return PLINTH_OK;
}

/* ---------------------------------------------------------------- 2 ---- */

/* One batch of a block b. With transpose_b (b [N, K], K blocked) each
 * output element walks its row of b a block at a time; without (b [K, N],
 * N blocked) a block of E outputs of one row of a is summed together, so
 * every block is dequantised once per row of a either way. */
static void matmul_block(const plinth_view *out, const plinth_view *a, const plinth_view *b,
                         bool tb, int64_t o0, int64_t o1, int64_t a0, int64_t a1, int64_t b0,
                         int64_t b1)
{
    const int64_t k = a->shape[3], e = (int64_t)plinth_dtype_block_elems(b->dtype);
    float w[256]; /* one block, dequantised */
    double acc[256];
    for (int64_t i = 0; i < out->shape[2]; i++) {
        if (tb) {
            for (int64_t j = 0; j < out->shape[3]; j++) {
                double sum = 0.0;
                for (int64_t p0 = 0; p0 < k; p0 += e) {
                    plinth_dequant_block(b->dtype, ref_block_at(b, b0, b1, j, p0), w);
                    for (int64_t q = 0; q < e; q++)
                        sum += ref_load(ref_at(a, a0, a1, i, p0 + q), a->dtype) * (double)w[q];
                }
                ref_store(ref_at(out, o0, o1, i, j), out->dtype, sum);
            }
            continue;
        }
        for (int64_t j0 = 0; j0 < out->shape[3]; j0 += e) {
            for (int64_t q = 0; q < e; q++)
                acc[q] = 0.0;
            for (int64_t p = 0; p < k; p++) {
                const double x = ref_load(ref_at(a, a0, a1, i, p), a->dtype);
                plinth_dequant_block(b->dtype, ref_block_at(b, b0, b1, p, j0), w);
                for (int64_t q = 0; q < e; q++)
                    acc[q] += x * (double)w[q];
            }
            for (int64_t q = 0; q < e; q++)
                ref_store(ref_at(out, o0, o1, i, j0 + q), out->dtype, acc[q]);
        }
    }
}

int32_t ref_matmul(plinth_device *dev, const plinth_view *out, const plinth_view *in,
                   uint32_t n_in, const void *attrs)
{
    int32_t st = ref_check_matmul(dev, out, in, n_in, attrs);
    if (st == PLINTH_OK)
        st = ref_check_memory(dev, PLINTH_OP_MATMUL, out, in, n_in);
    if (st != PLINTH_OK)
        return st;
    const plinth_view *a = &in[0], *b = &in[1];
    const bool tb = ((const plinth_attr_matmul *)attrs)->transpose_b != 0;
    const int64_t k = a->shape[3];
    for (int64_t o0 = 0; o0 < out->shape[0]; o0++)
        for (int64_t o1 = 0; o1 < out->shape[1]; o1++) {
            const int64_t a0 = ref_bcast(a->shape[0], o0), a1 = ref_bcast(a->shape[1], o1);
            const int64_t b0 = ref_bcast(b->shape[0], o0), b1 = ref_bcast(b->shape[1], o1);
            if (ref_dtype_is_block(b->dtype)) {
                matmul_block(out, a, b, tb, o0, o1, a0, a1, b0, b1);
                continue;
            }
            for (int64_t i = 0; i < out->shape[2]; i++)
                for (int64_t j = 0; j < out->shape[3]; j++) {
                    double acc = 0.0;
                    for (int64_t p = 0; p < k; p++) {
                        double x = ref_load(ref_at(a, a0, a1, i, p), a->dtype);
                        double y = ref_load(tb ? ref_at(b, b0, b1, j, p) : ref_at(b, b0, b1, p, j),
                                            b->dtype);
                        acc += x * y;
                    }
                    ref_store(ref_at(out, o0, o1, i, j), out->dtype, acc);
                }
        }
    return PLINTH_OK;
}
