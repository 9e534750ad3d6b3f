// blocks.glsl — reading plinth's block dtypes (q8_0, q4_0, q4_K, q6_K; the
// layouts are in plugins/plinth_plugin.h) from a storage buffer, and
// dequantising them exactly as plinth_dequant_block does: the same f32
// operations in the same order (`precise`: never contracted into an FMA),
// f16 scales widened by f16_to_f32 (exact for subnormals, which
// unpackHalf2x16 may flush).
//
// Sections: byte access; block heads (scales); 8 consecutive elements (any
// use); units of 32 (the transposed matmul's inner loop).
//
// Before including: common.glsl, and DT_Q, the block dtype (a constant).
//
// A block operand is a uvec2 like any other (common.glsl) at a 4-byte
// boundary, plus byte positions relative to it (the host passes the view's
// start as a byte offset, pc.qo). Blocks are 34 / 18 / 144 / 210 bytes: they
// start at an even byte but not always at a 4-byte boundary, so 32-bit words
// are read at 4-byte boundaries and shifted (16-bit storage would need twice
// the loads, and loads are what a CPU device pays for). Only words holding
// at least one byte of the block are read: a binding ends at a 4-byte
// boundary at or after the tensor's last byte.

#define DT_Q8_0 4
#define DT_Q4_0 5
#define DT_Q4_K 6
#define DT_Q6_K 7

// Elements and bytes per block, 32-element units per block.
int q_elems() { return DT_Q == DT_Q8_0 || DT_Q == DT_Q4_0 ? 32 : 256; }
int q_bytes() { return DT_Q == DT_Q8_0 ? 34 : DT_Q == DT_Q4_0 ? 18 : DT_Q == DT_Q4_K ? 144 : 210; }
int q_units() { return q_elems() / 32; }

// ------------------------------------------------------------ byte access

uint q_ld(uvec2 q, uint w) { return U32_AT(q, int(w)); }
#ifdef PLINTH_INT64
// The aligned 8 bytes at byte 8w as two words (devices with shaderInt64).
uvec2 q_ld64(uvec2 q, uint w) { return unpack32(U64_AT(q, int(w))); }
#endif

// The 4 bytes at byte p (even): one load at a 4-byte boundary, else two.
uint q_word(uvec2 q, uint p)
{
    uint lo = q_ld(q, p >> 2);
    if ((p & 2u) == 0u)
        return lo;
    return (lo >> 16) | (q_ld(q, (p >> 2) + 1u) << 16);
}

// The 4-byte word of a block at byte `at` (even) from two aligned words
// w0, w1 that cover it: w0 itself, or its upper half and w1's lower.
uint q_funnel(uint at, uint w0, uint w1) { return (at & 2u) == 0u ? w0 : (w0 >> 16) | (w1 << 16); }

// The 2 bytes at byte p (even), and the byte at p (any).
uint q_half(uvec2 q, uint p) { return (q_ld(q, p >> 2) >> ((p & 2u) << 3)) & 0xffffu; }
uint q_byte(uvec2 q, uint p) { return (q_ld(q, p >> 2) >> ((p & 3u) << 3)) & 0xffu; }

// The 4 bytes of w as signed / unsigned values, byte 0 first.
vec4 q_i8x4(uint w) { return vec4((ivec4(int(w)) << ivec4(24, 16, 8, 0)) >> 24); }
uvec4 q_u8x4(uint w, uint shift) { return (uvec4(w) >> (uvec4(0u, 8u, 16u, 24u) + shift)) & 0xffu; }
int q_i8(uint b) { return int(b << 24) >> 24; }

// ------------------------------------------------------- block heads

// What every part of a K-quant block needs (its scales), read once per
// block. Plain words, no arrays: a CPU driver turns an array indexed by a
// loop counter into branches per access.
struct q_head {
    uint w0, w1, w2, w3; // q4_K: d|dmin, scales[12]; q6_K: scales[16]
    uint w4;             // q6_K: d
};

q_head q_read_head(uvec2 q, uint p)
{
    q_head hd = q_head(0u, 0u, 0u, 0u, 0u);
    if (DT_Q == DT_Q4_K) { // 144-byte blocks: at a 4-byte boundary
#ifdef PLINTH_INT64
        uvec2 a = q_ld64(q, p >> 3), b = q_ld64(q, (p >> 3) + 1u);
        hd = q_head(a.x, a.y, b.x, b.y, 0u);
#else
        uint w = p >> 2;
        hd = q_head(q_ld(q, w), q_ld(q, w + 1u), q_ld(q, w + 2u), q_ld(q, w + 3u), 0u);
#endif
    } else if (DT_Q == DT_Q6_K) {
        // bytes 192 .. 209 lie in 5 aligned words at either alignment
        uint at = p + 192u, w = at >> 2;
        uint a = q_ld(q, w), b = q_ld(q, w + 1u), c = q_ld(q, w + 2u), d = q_ld(q, w + 3u),
             e = q_ld(q, w + 4u);
        hd = q_head(q_funnel(at, a, b), q_funnel(at, b, c), q_funnel(at, c, d),
                    q_funnel(at, d, e), (at & 2u) == 0u ? e & 0xffffu : e >> 16);
    }
    return hd;
}

// q4_K's 6-bit scale and min of sub-block j (0..7) from the head
// (plinth_q4_K_scale_min; the 12 scale bytes are w1 .. w3). s[j & 3],
// s[(j & 3) + 4], s[(j & 3) + 8] are bytes j & 3 of w1, w2, w3.
void q4k_scale_min(q_head hd, int j, out uint sc, out uint mn)
{
    uint b = uint(8 * (j & 3));
    uint lo = (hd.w1 >> b) & 0xffu, mid = (hd.w2 >> b) & 0xffu, hi = (hd.w3 >> b) & 0xffu;
    if (j < 4) {
        sc = lo & 63u;
        mn = mid & 63u;
    } else {
        sc = (hi & 0x0fu) | ((lo >> 6) << 4);
        mn = (hi >> 4) | ((mid >> 6) << 4);
    }
}

// q6_K's scale of quarter t (0..3), 16-group is (0..1), half h (0..1):
// scales[8h + is + 2t] (signed).
int q6k_scale(q_head hd, int h, int is, int t)
{
    uint w = t < 2 ? (h == 0 ? hd.w0 : hd.w2) : (h == 0 ? hd.w1 : hd.w3);
    return q_i8(w >> uint(8 * ((is + 2 * t) & 3)));
}

// ---------------------------------------------- 8 consecutive elements

// Elements e .. e + 7 (e % 8 == 0) of the block at byte p, into lo, hi.
void q_dq8(uvec2 q, uint p, int e, out vec4 lo, out vec4 hi)
{
    if (DT_Q == DT_Q8_0) {
        float d = f16_to_f32(q_half(q, p));
        uint at = p + 2u + uint(e);
        precise vec4 x0 = q_i8x4(q_word(q, at)) * d, x1 = q_i8x4(q_word(q, at + 4u)) * d;
        lo = x0;
        hi = x1;
    } else if (DT_Q == DT_Q4_0) {
        float d = f16_to_f32(q_half(q, p));
        uint at = p + 2u + uint(e & 15), sh = e < 16 ? 0u : 4u;
        precise vec4 x0 = vec4(ivec4(q_u8x4(q_word(q, at), sh) & 15u) - 8) * d;
        precise vec4 x1 = vec4(ivec4(q_u8x4(q_word(q, at + 4u), sh) & 15u) - 8) * d;
        lo = x0;
        hi = x1;
    } else if (DT_Q == DT_Q4_K) {
        q_head hd = q_read_head(q, p);
        float d = f16_to_f32(hd.w0 & 0xffffu), dmin = f16_to_f32(hd.w0 >> 16);
        int j = e / 32;
        uint sc, mn;
        q4k_scale_min(hd, j, sc, mn);
        precise float d1 = d * float(sc), m1 = dmin * float(mn);
        uint at = p + 16u + uint(32 * (j / 2) + e % 32), sh = (j & 1) == 0 ? 0u : 4u;
        precise vec4 l0 = d1 * vec4(q_u8x4(q_word(q, at), sh) & 15u);
        precise vec4 l1 = d1 * vec4(q_u8x4(q_word(q, at + 4u), sh) & 15u);
        precise vec4 x0 = l0 - m1, x1 = l1 - m1;
        lo = x0;
        hi = x1;
    } else { // q6_K
        int h = e / 128, t = (e % 128) / 32, l = e % 32;
        float d = f16_to_f32(q_half(q, p + 208u));
        precise float s = d * float(q_i8(q_byte(q, p + 192u + uint(8 * h + l / 16 + 2 * t))));
        uint ql = p + uint(64 * h + 32 * (t & 1) + l), qh = p + 128u + uint(32 * h + l);
        uint shl = uint(4 * (t >> 1)), shh = uint(2 * t);
        ivec4 q0 = ivec4((q_u8x4(q_word(q, ql), shl) & 15u) | ((q_u8x4(q_word(q, qh), shh) & 3u) << 4)) - 32;
        ivec4 q1 = ivec4((q_u8x4(q_word(q, ql + 4u), shl) & 15u) |
                         ((q_u8x4(q_word(q, qh + 4u), shh) & 3u) << 4)) - 32;
        precise vec4 x0 = s * vec4(q0), x1 = s * vec4(q1);
        lo = x0;
        hi = x1;
    }
}

// ------------------------------------------------------ units of 32

// A block as units of 32 values (8 vec4): q8_0 and q4_0 one unit, the
// whole block; q4_K 8 units of 16 quant bytes (u = 2 * pair + half: the
// low nibbles are 16 elements of sub-block 2 * pair, the high ones the same
// 16 of sub-block 2 * pair + 1); q6_K 8 units (u = 4 * half + g: elements
// 8g .. 8g + 7 of each of the half's four quarters, which share their ql
// and qh bytes). The block's head comes from q_read_head.

// Element index in the block of v[i].x of unit u (v[i] holds 4 in a row).
int q_unit_pos(int u, int i)
{
    if (DT_Q == DT_Q8_0 || DT_Q == DT_Q4_0)
        return 4 * i;
    if (DT_Q == DT_Q4_K)
        return 64 * (u >> 1) + 16 * (u & 1) + (i < 4 ? 4 * i : 32 + 4 * (i - 4));
    return 128 * (u >> 2) + 32 * (i >> 1) + 8 * (u & 3) + 4 * (i & 1);
}

void q_unit(uvec2 q, uint p, int u, q_head hd, out vec4 v[8])
{
    if (DT_Q == DT_Q8_0 || DT_Q == DT_Q4_0) {
        // The block lies in 9 (5) aligned words whether it starts at a
        // 4-byte boundary (d and qs[0..1] in the first) or 2 bytes past one
        // (d alone in the first's upper half): the same loads either way.
        const int nw = DT_Q == DT_Q8_0 ? 9 : 5;
        uint w[9];
        for (int i = 0; i < nw; i++)
            w[i] = q_ld(q, (p >> 2) + uint(i));
        const bool odd = (p & 2u) != 0u;
        float d = f16_to_f32(odd ? w[0] >> 16 : w[0] & 0xffffu);
        for (int i = 0; i < nw - 1; i++) {
            uint qs = odd ? w[i + 1] : (w[i] >> 16) | (w[i + 1] << 16);
            if (DT_Q == DT_Q8_0) {
                precise vec4 x = q_i8x4(qs) * d;
                v[i] = x;
            } else {
                precise vec4 x0 = vec4(ivec4(q_u8x4(qs, 0u) & 15u) - 8) * d;
                precise vec4 x1 = vec4(ivec4(q_u8x4(qs, 4u) & 15u) - 8) * d;
                v[i] = x0;
                v[i + 4] = x1;
            }
        }
    } else if (DT_Q == DT_Q4_K) {
        // 144-byte blocks: always at a 4-byte boundary (the host checks).
        float d = f16_to_f32(hd.w0 & 0xffffu), dmin = f16_to_f32(hd.w0 >> 16);
        uint sc0, mn0, sc1, mn1;
        q4k_scale_min(hd, 2 * (u >> 1), sc0, mn0);
        q4k_scale_min(hd, 2 * (u >> 1) + 1, sc1, mn1);
        precise float d1 = d * float(sc0), m1 = dmin * float(mn0);
        precise float d2 = d * float(sc1), m2 = dmin * float(mn1);
        uint at = (p >> 2) + 4u + uint(8 * (u >> 1) + 4 * (u & 1));
#ifdef PLINTH_INT64
        uvec2 w01 = q_ld64(q, at >> 1), w23 = q_ld64(q, (at >> 1) + 1u);
        uint ws[4] = uint[4](w01.x, w01.y, w23.x, w23.y);
#endif
        for (int i = 0; i < 4; i++) {
#ifdef PLINTH_INT64
            uint w = ws[i];
#else
            uint w = q_ld(q, at + uint(i));
#endif
            precise vec4 lo = d1 * vec4(q_u8x4(w, 0u) & 15u);
            precise vec4 hi = d2 * vec4(q_u8x4(w, 4u) & 15u);
            precise vec4 x0 = lo - m1, x1 = hi - m2;
            v[i] = x0;
            v[i + 4] = x1;
        }
    } else { // q6_K
        // Three 8-byte runs (ql low, ql high, qh), each read as the three
        // aligned words that cover it at either alignment of the block.
        int h = u >> 2, g = u & 3;
        float d = f16_to_f32(hd.w4);
        uint at[3] = uint[3](p + uint(64 * h + 8 * g), p + uint(64 * h + 32 + 8 * g),
                             p + 128u + uint(32 * h + 8 * g));
        uint r[3][2];
        for (int k = 0; k < 3; k++) {
            uint w0 = q_ld(q, at[k] >> 2), w1 = q_ld(q, (at[k] >> 2) + 1u),
                 w2 = q_ld(q, (at[k] >> 2) + 2u);
            r[k][0] = q_funnel(at[k], w0, w1);
            r[k][1] = q_funnel(at[k], w1, w2);
        }
        for (int t = 0; t < 4; t++) {
            precise float sc = d * float(q6k_scale(hd, h, g >> 1, t));
            for (int s = 0; s < 2; s++) {
                uint lw = r[t & 1][s];
                ivec4 qv = ivec4((q_u8x4(lw, uint(4 * (t >> 1))) & 15u) |
                                 ((q_u8x4(r[2][s], uint(2 * t)) & 3u) << 4)) - 32;
                precise vec4 x = sc * vec4(qv);
                v[2 * t + s] = x;
            }
        }
    }
}

#ifdef PLINTH_INT64
// -------------------------------------- 8-byte loads (devices with shaderInt64)
//
// A CPU device pays per loaded component (see matvec.glsl): 64-bit
// components halve the loads. The host picks them only where every block
// (q4_K) or group of 4 blocks (q8_0, q4_0) read starts at a multiple of 8
// bytes from the operand; q4_K's head and quants are read this way too.


// Block b (a constant) of a q8_0 / q4_0 group held in the words w (the
// group's bytes from its first, 4 bytes a word) as 8 vec4, v[i] = values
// 4i .. 4i + 3 of the block.
void q_group_block(uint w[34], const int b, out vec4 v[8])
{
    const int at = q_bytes() * b, w0 = at >> 2;
    const bool odd = (at & 2) != 0;
    float d = f16_to_f32(odd ? w[w0] >> 16 : w[w0] & 0xffffu);
    for (int i = 0; i < (DT_Q == DT_Q8_0 ? 8 : 4); i++) {
        uint qs = odd ? w[w0 + 1 + i] : (w[w0 + i] >> 16) | (w[w0 + i + 1] << 16);
        if (DT_Q == DT_Q8_0) {
            precise vec4 x = q_i8x4(qs) * d;
            v[i] = x;
        } else {
            precise vec4 x0 = vec4(ivec4(q_u8x4(qs, 0u) & 15u) - 8) * d;
            precise vec4 x1 = vec4(ivec4(q_u8x4(qs, 4u) & 15u) - 8) * d;
            v[i] = x0;
            v[i + 4] = x1;
        }
    }
}

// q8_0 / q4_0: 4 blocks (128 values in 136 / 72 bytes, a multiple of 8)
// from byte p (p % 8 == 0) as 17 / 9 loads of 8 bytes.
void q_group4_words(uvec2 q, uint p, out uint w[34])
{
    for (int i = 0; i < 17; i++) {
        uvec2 x = uvec2(0u);
        if (i < q_bytes() / 2) // 4 blocks: 4 * bytes / 8 loads
            x = q_ld64(q, (p >> 3) + uint(i));
        w[2 * i] = x.x;
        w[2 * i + 1] = x.y;
    }
}
#endif
