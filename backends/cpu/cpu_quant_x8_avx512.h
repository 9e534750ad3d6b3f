/*
 * cpu_quant_x8_avx512.h — the body of the AVX-512 GEMVs on packed 8-row
 * q8_0, q4_0 and q4_K weights (cpu_kernels.h CPU_X8_*) with int8
 * activations, included twice by cpu_quant_avx512.c: X8_DPBUSD(acc, u, s)
 * adds to each int32 lane of acc the four products of u's unsigned bytes
 * and s's signed ones (vpdpbusd with VNNI, vpmaddubsw + vpmaddwd without),
 * X8_NAME(t) names the kernel, X8_TARGET is its target attribute.
 *
 * One 512-bit load is two chunks (rows 0-7 of bytes 4c..4c+3, then of
 * 4c+4..4c+7), against x's 8 matching bytes (bcast4x2); everything after
 * the int32 sums is the AVX2 level's arithmetic (cpu_quant_x86.h), 8 rows
 * wide.
 * No include guard: meant to be included more than once.
 */

/* q8_0: row j gets d_j * d_x * Σ w xq per block (4 loads of 2 chunks). */
X8_TARGET void X8_NAME(q8_0x8_q8)(const mm_problem *p, int64_t n0, int64_t n1)
{
    const int64_t nb = p->k / 32;
    for (int64_t g = n0 / CPU_X8_ROWS; g * CPU_X8_ROWS < n1; g++) {
        const uint8_t *grp = p->w + g * nb * CPU_Q8_0X8_UNIT;
        for (int64_t i = 0; i < p->m; i++) {
            const int8_t *xq = p->aq + i * p->k;
            const float *xd = p->ad + i * nb;
            __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *u = grp + b * CPU_Q8_0X8_UNIT;
                const int8_t *x = xq + 32 * b;
                x8_prefetch(u, CPU_Q8_0X8_UNIT);
                __m512i s = _mm512_setzero_si512();
                for (int j = 0; j < 4; j++) {
                    const __m512i w = _mm512_loadu_si512(u + 16 + 64 * j);
                    s = X8_DPBUSD(s, _mm512_abs_epi8(w), sign_x(bcast4x2(x + 8 * j), w));
                }
                const __m256 dw = x8_q8_0_scale(u, xd[b]);
                const __m256 dot = _mm256_cvtepi32_ps(halves_epi32(s));
                if (b & 1)
                    acc1 = _mm256_fmadd_ps(dw, dot, acc1);
                else
                    acc0 = _mm256_fmadd_ps(dw, dot, acc0);
            }
            x8_store(p, i, g, n1, _mm256_add_ps(acc0, acc1));
        }
    }
}

/* q4_0: row j gets d_j * (d_x * Σ q xq - 8 * Σ_x) per block; the quants
 * unsigned (q, not q - 8), low nibbles elements 0-15, high 16-31. */
X8_TARGET void X8_NAME(q4_0x8_q8)(const mm_problem *p, int64_t n0, int64_t n1)
{
    const int64_t nb = p->k / 32;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    for (int64_t g = n0 / CPU_X8_ROWS; g * CPU_X8_ROWS < n1; g++) {
        const uint8_t *grp = p->w + g * nb * CPU_Q4_0X8_UNIT;
        for (int64_t i = 0; i < p->m; i++) {
            const int8_t *xq = p->aq + i * p->k;
            const float *xd = p->ad + i * nb, *xs = p->as + i * 2 * nb;
            __m256 acc = _mm256_setzero_ps();
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *u = grp + b * CPU_Q4_0X8_UNIT;
                const int8_t *x = xq + 32 * b;
                x8_prefetch(u, CPU_Q4_0X8_UNIT);
                __m512i s = _mm512_setzero_si512();
                for (int j = 0; j < 2; j++) {
                    const __m512i v = _mm512_loadu_si512(u + 16 + 64 * j);
                    s = X8_DPBUSD(s, _mm512_and_si512(v, m4), bcast4x2(x + 8 * j));
                    s = X8_DPBUSD(s, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4),
                                  bcast4x2(x + 16 + 8 * j));
                }
                acc = x8_q4_0_add(acc, u, xd[b], xs + 2 * b, _mm256_cvtepi32_ps(halves_epi32(s)));
            }
            x8_store(p, i, g, n1, acc);
        }
    }
}

/* q4_K: row j gets d_j * Σ_s sc_js * d_x,s * Σ q xq - dmin_j * Σ_s m_js *
 * Σ_x,s over its 8 sub-blocks s; chunks 8h..8h+7 hold sub-block 2h in
 * their low nibbles (x's 64h + [0, 32)) and 2h + 1 in their high ones. */
X8_TARGET void X8_NAME(q4_Kx8_q8)(const mm_problem *p, int64_t n0, int64_t n1)
{
    const int64_t nb = p->k / 256;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    for (int64_t g = n0 / CPU_X8_ROWS; g * CPU_X8_ROWS < n1; g++) {
        const uint8_t *grp = p->w + g * nb * CPU_Q4_KX8_UNIT;
        for (int64_t i = 0; i < p->m; i++) {
            const int8_t *xq = p->aq + i * p->k;
            const float *xd = p->ad + i * (p->k / 32), *xs = p->as + i * (p->k / 16);
            __m256 acc = _mm256_setzero_ps();
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *u = grp + b * CPU_Q4_KX8_UNIT;
                x8_prefetch(u, CPU_Q4_KX8_UNIT);
                const int8_t *x8 = xq + 256 * b;
                const float *dx = xd + 8 * b, *sx = xs + 16 * b;
                __m256 sacc = _mm256_setzero_ps(), macc = sacc;
                for (int h = 0; h < 4; h++) {
                    __m512i lo = _mm512_setzero_si512(), hi = lo;
                    for (int j = 0; j < 4; j++) {
                        const __m512i v = _mm512_loadu_si512(u + CPU_Q4_KX8_QS + 256 * h + 64 * j);
                        lo = X8_DPBUSD(lo, _mm512_and_si512(v, m4), bcast4x2(x8 + 64 * h + 8 * j));
                        hi = X8_DPBUSD(hi, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4),
                                       bcast4x2(x8 + 64 * h + 32 + 8 * j));
                    }
                    x8_q4_K_sub(u, h, dx, sx, _mm256_cvtepi32_ps(halves_epi32(lo)),
                                _mm256_cvtepi32_ps(halves_epi32(hi)), &sacc, &macc);
                }
                acc = x8_q4_K_add(acc, u, sacc, macc);
            }
            x8_store(p, i, g, n1, acc);
        }
    }
}
