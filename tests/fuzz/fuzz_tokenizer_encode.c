/*
 * fuzz_tokenizer_encode.c — tokenizer_encode of arbitrary bytes on the
 * fixture tokenizers (fixtures.h).
 *
 * Input: byte 0 picks the fixture (bits 0 and 2: fuzz_fixture_pick) and
 * add_bos (bit 1); the rest is the text. Checked: encode succeeds (every
 * fixture can encode any bytes: byte fallback in a, <unk> in b, a byte
 * token for each byte in the byte-level one, whose regex must stay within
 * PCRE2's limits) and every id names a token; with add_bos (where the
 * fixture has a <bos>) the first id is <bos> and the rest equal the ids
 * without it; decode(encode(text)) == text on fixture a unless the text
 * holds a literal "▁" (which Gemma's decoder turns into a space), and on
 * the byte-level fixture unless it holds a byte NFC may change.
 */
#include "fixtures.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    for (int i = 0; i < FUZZ_N_FIXTURES; i++)
        fuzz_fixture(i);
    return 0;
}

static void check_ids(const tokenizer *t, const int32_t *ids, size_t n)
{
    char piece[8];
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(tokenizer_piece(t, ids[i], false, piece, sizeof piece) >= 0,
                   "id %d at %zu names no token", ids[i], i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const int which = fuzz_fixture_pick(data[0]);
    const tokenizer *t = fuzz_fixture(which);
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;
    char err[512] = "";
    int32_t *ids = NULL, *ids_bos = NULL;
    size_t n = 0, n_bos = 0;
    FUZZ_CHECK(tokenizer_encode(t, text, len, false, &ids, &n, err, sizeof err) == 0, "%s", err);
    FUZZ_CHECK(ids != NULL, "encode gave NULL ids");
    check_ids(t, ids, n);
    const bool add_bos = (data[0] & 2) && tokenizer_bos(t) >= 0;
    if (add_bos) {
        FUZZ_CHECK(tokenizer_encode(t, text, len, true, &ids_bos, &n_bos, err, sizeof err) == 0,
                   "%s", err);
        FUZZ_CHECK(n_bos == n + 1 && ids_bos[0] == tokenizer_bos(t) &&
                       (n == 0 || memcmp(ids_bos + 1, ids, n * sizeof *ids) == 0),
                   "add_bos changed more than the first id");
        free(ids_bos);
    }
    bool nfc_may_change = false;
    for (size_t i = 0; i < len && !nfc_may_change; i++)
        nfc_may_change = (uint8_t)text[i] >= 0xCC;
    if ((which == 0 && !memmem(text, len, "\xe2\x96\x81", 3)) || (which == 2 && !nfc_may_change)) {
        char *out = NULL;
        size_t out_len = 0;
        FUZZ_CHECK(tokenizer_decode(t, ids, n, false, &out, &out_len, err, sizeof err) == 0, "%s",
                   err);
        FUZZ_CHECK(out_len == len && memcmp(out, text, len) == 0,
                   "decode(encode(text)) differs: %zu bytes in, %zu out", len, out_len);
        free(out);
    }
    free(ids);
    return 0;
}
