/*
 * fuzz_sampler.c — sampler_sample and sampler_argmax with arbitrary
 * logits and settings.
 *
 * Input: temperature (f32 bits), top_k (i32), top_p (f32 bits), seed (u32),
 * vocabulary size (u16: 1 + v % 1024, up to four argmax blocks), a mode
 * byte, then the logits. Mode bit 0 set: logits are raw f32 bits; clear:
 * each byte picks a value from a table of hard cases (NaN, ±inf, 0, -0,
 * denormals, ±FLT_MAX, ties).
 * Logits past the input's end repeat it.
 * Checked: every sample is an id in [0, n); the same seed gives the same
 * id; argmax is the first NaN or else the first maximum; a sample that is
 * not the greedy choice lies inside the top_k of the scaled logits.
 */
#include "fuzz.h"
#include "sampling.h"

#include <float.h>
#include <math.h>

static const float table[] = {
    NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1.0f, -1.0f, 1e30f, -1e30f, FLT_MAX, -FLT_MAX,
    FLT_MIN, 1e-45f, -1e-45f, 0.5f, 2.0f, 3.0f, 100.0f, -100.0f, 88.0f, -88.0f, 1e-30f,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_reader r = {data, size};
    sampler_options o;
    uint32_t u = fuzz_u32(&r);
    memcpy(&o.temperature, &u, 4);
    u = fuzz_u32(&r);
    memcpy(&o.top_k, &u, 4);
    u = fuzz_u32(&r);
    memcpy(&o.top_p, &u, 4);
    o.seed = fuzz_u32(&r);
    const int32_t n = 1 + (int32_t)((fuzz_u8(&r) | (uint32_t)fuzz_u8(&r) << 8) % 1024);
    const uint8_t mode = fuzz_u8(&r);
    float *logits = malloc((size_t)n * sizeof *logits);
    FUZZ_CHECK(logits != NULL, "out of memory");
    for (int32_t i = 0; i < n; i++) {
        if (mode & 1) {
            uint8_t b[4] = {0, 0, 0, 0};
            for (int k = 0; k < 4 && r.n; k++)
                b[k] = r.p[((size_t)i * 4 + (size_t)k) % r.n];
            memcpy(&logits[i], b, 4);
        } else {
            logits[i] = r.n ? table[r.p[(size_t)i % r.n] % (sizeof table / sizeof table[0])] : 0.0f;
        }
    }

    const int32_t am = sampler_argmax(logits, n);
    FUZZ_CHECK(am >= 0 && am < n, "argmax %d of %d", am, n);
    int32_t first_nan = -1, first_max = 0;
    for (int32_t i = 0; i < n; i++) {
        if (isnan(logits[i]) && first_nan < 0)
            first_nan = i;
        if (!isnan(logits[i]) && (isnan(logits[first_max]) || logits[i] > logits[first_max]))
            first_max = i;
    }
    FUZZ_CHECK(am == (first_nan >= 0 ? first_nan : first_max), "argmax %d, expected %d", am,
               first_nan >= 0 ? first_nan : first_max);

    sampler *s = sampler_create(NULL, &o, n), *s2 = sampler_create(NULL, &o, n);
    FUZZ_CHECK(s && s2, "sampler_create(NULL, %d) failed", n);
    for (int round = 0; round < 2; round++) {
        const int32_t id = sampler_sample(s, logits), id2 = sampler_sample(s2, logits);
        FUZZ_CHECK(id >= 0 && id < n, "sample %d of %d (temp %g top_k %d top_p %g)", id, n,
                   (double)o.temperature, o.top_k, (double)o.top_p);
        FUZZ_CHECK(id == id2, "same seed, different samples: %d and %d", id, id2);
        if (id != am && o.top_k > 0) {
            /* Not greedy: the draw was among the top_k scaled logits. */
            const float v = logits[id] / o.temperature;
            int32_t above = 0;
            for (int32_t i = 0; i < n; i++)
                above += logits[i] / o.temperature > v;
            FUZZ_CHECK(above < o.top_k, "id %d has %d scaled logits above it, top_k %d", id,
                       above, o.top_k);
        }
    }
    sampler_free(s);
    sampler_free(s2);
    free(logits);
    return 0;
}
