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

// The 4 bytes at byte p (even): one load at a 4-byte boundary, else two.
uint q_word(uvec2 q, uint p)
{
    uint lo = q_ld(q, p >> 2);
    if ((p & 2u) == 0u)
        return lo;
    return (lo >> 16) | (q_ld(q, (p >> 2) + 1u) << 16);
}

// The 2 bytes at byte p (even), and the byte at p (any).
uint q_half(uvec2 q, uint p) { return (q_ld(q, p >> 2) >> ((p & 2u) << 3)) & 0xffffu; }
uint q_byte(uvec2 q, uint p) { return (q_ld(q, p >> 2) >> ((p & 3u) << 3)) & 0xffu; }

// The 4 bytes of w as signed / unsigned values, byte 0 first.
vec4 q_i8x4(uint w) { return vec4((ivec4(int(w)) << ivec4(24, 16, 8, 0)) >> 24); }
uvec4 q_u8x4(uint w, uint shift) { return (uvec4(w) >> (uvec4(0u, 8u, 16u, 24u) + shift)) & 0xffu; }
int q_i8(uint b) { return int(b << 24) >> 24; }

// ------------------------------------------------------- block heads

// What every part of a K-quant block needs (its scales), read once per block.
struct q_head {
    uint w[5]; // q4_K: d|dmin, scales[12]; q6_K: scales[16], d
};

q_head q_read_head(uvec2 q, uint p)
{
    q_head hd;
    for (int i = 0; i < 5; i++)
        hd.w[i] = 0u;
    if (DT_Q == DT_Q4_K) {
        for (int i = 0; i < 4; i++)
            hd.w[i] = q_word(q, p + uint(4 * i));
    } else if (DT_Q == DT_Q6_K) {
        for (int i = 0; i < 4; i++)
            hd.w[i] = q_word(q, p + 192u + uint(4 * i));
        hd.w[4] = q_half(q, p + 208u);
    }
    return hd;
}

// Byte k of the head's words (q4_K: k 0..15 with the scales at 4..15).
uint q_head_byte(q_head hd, int k) { return (hd.w[k >> 2] >> (8 * (k & 3))) & 0xffu; }

// q4_K's 6-bit scale and min of sub-block j (0..7) from the head
// (plinth_q4_K_scale_min; the 12 scale bytes are head bytes 4..15).
void q4k_scale_min(q_head hd, int j, out uint sc, out uint mn)
{
    if (j < 4) {
        sc = q_head_byte(hd, 4 + j) & 63u;
        mn = q_head_byte(hd, 8 + j) & 63u;
    } else {
        sc = (q_head_byte(hd, 8 + j) & 0x0fu) | ((q_head_byte(hd, j) >> 6) << 4);
        mn = (q_head_byte(hd, 8 + j) >> 4) | ((q_head_byte(hd, 4 + j) >> 6) << 4);
    }
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
        float d = f16_to_f32(hd.w[0] & 0xffffu), dmin = f16_to_f32(hd.w[0] >> 16);
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
    if (DT_Q == DT_Q8_0) {
        // 9 words hold the block, whether it starts at a 4-byte boundary
        // (d and qs[0..1] in the first) or 2 bytes past one (d alone).
        uint w0 = p >> 2, d16, qw[8];
        if ((p & 2u) != 0u) {
            d16 = q_ld(q, w0) >> 16;
            for (int i = 0; i < 8; i++)
                qw[i] = q_ld(q, w0 + 1u + uint(i));
        } else {
            uint prev = q_ld(q, w0);
            d16 = prev & 0xffffu;
            for (int i = 0; i < 8; i++) {
                uint next = q_ld(q, w0 + 1u + uint(i));
                qw[i] = (prev >> 16) | (next << 16);
                prev = next;
            }
        }
        float d = f16_to_f32(d16);
        for (int i = 0; i < 8; i++) {
            precise vec4 x = q_i8x4(qw[i]) * d;
            v[i] = x;
        }
    } else if (DT_Q == DT_Q4_0) {
        uint w0 = p >> 2, d16, qw[4];
        if ((p & 2u) != 0u) {
            d16 = q_ld(q, w0) >> 16;
            for (int i = 0; i < 4; i++)
                qw[i] = q_ld(q, w0 + 1u + uint(i));
        } else {
            uint prev = q_ld(q, w0);
            d16 = prev & 0xffffu;
            for (int i = 0; i < 4; i++) {
                uint next = q_ld(q, w0 + 1u + uint(i));
                qw[i] = (prev >> 16) | (next << 16);
                prev = next;
            }
        }
        float d = f16_to_f32(d16);
        for (int i = 0; i < 4; i++) {
            precise vec4 x0 = vec4(ivec4(q_u8x4(qw[i], 0u) & 15u) - 8) * d;
            precise vec4 x1 = vec4(ivec4(q_u8x4(qw[i], 4u) & 15u) - 8) * d;
            v[i] = x0;
            v[i + 4] = x1;
        }
    } else if (DT_Q == DT_Q4_K) {
        float d = f16_to_f32(hd.w[0] & 0xffffu), dmin = f16_to_f32(hd.w[0] >> 16);
        uint sc0, mn0, sc1, mn1;
        q4k_scale_min(hd, 2 * (u >> 1), sc0, mn0);
        q4k_scale_min(hd, 2 * (u >> 1) + 1, sc1, mn1);
        precise float d1 = d * float(sc0), m1 = dmin * float(mn0);
        precise float d2 = d * float(sc1), m2 = dmin * float(mn1);
        uint at = p + 16u + uint(32 * (u >> 1) + 16 * (u & 1));
        for (int i = 0; i < 4; i++) {
            uint w = q_word(q, at + uint(4 * i));
            precise vec4 lo = d1 * vec4(q_u8x4(w, 0u) & 15u);
            precise vec4 hi = d2 * vec4(q_u8x4(w, 4u) & 15u);
            precise vec4 x0 = lo - m1, x1 = hi - m2;
            v[i] = x0;
            v[i + 4] = x1;
        }
    } else { // q6_K
        int h = u >> 2, g = u & 3;
        float d = f16_to_f32(hd.w[4]);
        uint ql = p + uint(64 * h + 8 * g), qh = p + 128u + uint(32 * h + 8 * g);
        uint la[2], lb[2], hb[2];
        for (int s = 0; s < 2; s++) {
            la[s] = q_word(q, ql + uint(4 * s));
            lb[s] = q_word(q, ql + 32u + uint(4 * s));
            hb[s] = q_word(q, qh + uint(4 * s));
        }
        for (int t = 0; t < 4; t++) {
            precise float sc = d * float(q_i8(q_head_byte(hd, 8 * h + g / 2 + 2 * t)));
            for (int s = 0; s < 2; s++) {
                uint lw = (t & 1) == 0 ? la[s] : lb[s];
                ivec4 qv = ivec4((q_u8x4(lw, uint(4 * (t >> 1))) & 15u) |
                                 ((q_u8x4(hb[s], uint(2 * t)) & 3u) << 4)) - 32;
                precise vec4 x = sc * vec4(qv);
                v[2 * t + s] = x;
            }
        }
    }
}
