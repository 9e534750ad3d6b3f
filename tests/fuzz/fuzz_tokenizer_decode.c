/*
 * fuzz_tokenizer_decode.c — tokenizer_decode and tokenizer_piece of
 * arbitrary ids (negative, past the vocab, holes) on the fixture
 * tokenizers (fixtures.h).
 *
 * Input: byte 0 picks the fixture (bits 0 and 2: fuzz_fixture_pick) and
 * skip_special (bit 1), byte 1
 * the piece buffer size; the rest is little-endian u32 words, one per id:
 * with the top bit clear the id is word % 64 (a real token, mostly, so
 * decoding gets past the first id), else the other 31 bits shifted left,
 * as an i32 (large, negative). Checked: decode succeeds iff every id names a token, and then
 * returns at most n * tokenizer_max_piece_len() bytes, NUL-terminated;
 * on failure the message names the bad id. tokenizer_piece returns -1 for
 * a bad id, else at most its buffer size and max_piece_len bytes.
 */
#include "fixtures.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    for (int i = 0; i < FUZZ_N_FIXTURES; i++)
        fuzz_fixture(i);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_reader r = {data, size};
    const uint8_t flags = fuzz_u8(&r), cap = fuzz_u8(&r);
    const tokenizer *t = fuzz_fixture(fuzz_fixture_pick(flags));
    const bool skip_special = flags & 2;
    const size_t n = r.n / 4;
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    FUZZ_CHECK(ids != NULL, "out of memory");
    bool all_valid = true;
    char *piece = malloc(cap ? cap : 1);
    FUZZ_CHECK(piece != NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const uint32_t u = fuzz_u32(&r);
        const uint32_t w = u << 1;
        int32_t id;
        memcpy(&id, &w, sizeof id); /* top bit set: an i32 of either sign */
        ids[i] = (u & 0x80000000u) ? id : (int32_t)(u % 64);
        const int k = tokenizer_piece(t, ids[i], i == 0, piece, cap);
        all_valid = all_valid && k >= 0;
        FUZZ_CHECK(k <= (int)cap && (uint32_t)(k < 0 ? 0 : k) <= tokenizer_max_piece_len(t),
                   "piece of id %d: %d bytes (buffer %u, max %u)", ids[i], k, cap,
                   tokenizer_max_piece_len(t));
    }
    free(piece);
    char *out = (char *)1, err[512] = "";
    size_t out_len = 7;
    int rc = tokenizer_decode(t, ids, n, skip_special, &out, &out_len, err, sizeof err);
    if (all_valid) {
        FUZZ_CHECK(rc == 0, "decode of valid ids failed: %s", err);
        FUZZ_CHECK(out && out[out_len] == '\0', "decode output not NUL-terminated");
        FUZZ_CHECK(out_len <= n * (size_t)tokenizer_max_piece_len(t),
                   "%zu bytes from %zu ids of at most %u bytes", out_len, n,
                   tokenizer_max_piece_len(t));
        free(out);
    } else {
        FUZZ_CHECK(rc == -1 && out == NULL && out_len == 0, "decode of a bad id did not fail");
        FUZZ_CHECK(strstr(err, "id ") != NULL, "message names no id: %s", err);
    }
    free(ids);
    return 0;
}
