/*
 * fuzz_tokenizer_load.c — tokenizer_load_from_memory on arbitrary bytes
 * (seeds: the fixtures and small hand-made tokenizer.json files).
 *
 * Checked: a refusal names the file; a tokenizer that loads answers every
 * id: tokenizer_piece is -1 or at most max_piece_len bytes; a fixed mix of
 * text (spaces, special-token text, invalid UTF-8) either encodes to ids
 * that each name a token and decode again, or fails with a message (a
 * tokenizer without <unk> or byte fallback cannot encode every character).
 * Time and memory must stay linear in the input (libFuzzer's -timeout and
 * -rss_limit_mb).
 */
#include "fuzz.h"
#include "tokenizer.h"

static const char sample[] = "Hello world, the  end<s><bos>\n\n\t\xc3\xa9\xe2\x96\x81 \xff\xfe"
                             "<start_of_turn>ab abc";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tokenizer *t = NULL;
    char err[1024] = "";
    if (tokenizer_load_from_memory(NULL, (const char *)data, size, "tokenizer.json", &t, err,
                                   sizeof err) != 0) {
        FUZZ_CHECK(t == NULL, "failed load left a tokenizer");
        FUZZ_CHECK(strncmp(err, "tokenizer.json: ", 16) == 0, "message names no file: %s", err);
        return 0;
    }
    const uint32_t n_ids = tokenizer_vocab_size(t), max_piece = tokenizer_max_piece_len(t);
    char piece[64];
    for (uint32_t id = 0; id < n_ids; id++) {
        int k = tokenizer_piece(t, (int32_t)id, id == 0, piece, sizeof piece);
        FUZZ_CHECK(k >= -1 && k <= (int)sizeof piece && (k < 0 || (uint32_t)k <= max_piece),
                   "piece of %u: %d (max %u)", id, k, max_piece);
    }
    FUZZ_CHECK(tokenizer_piece(t, -1, false, piece, sizeof piece) == -1, "id -1 has a piece");
    FUZZ_CHECK(tokenizer_piece(t, (int32_t)n_ids, false, piece, sizeof piece) == -1,
               "id %u (the vocab size) has a piece", n_ids);
    int32_t *ids = NULL;
    size_t n = 0;
    if (tokenizer_encode(t, sample, sizeof sample - 1, tokenizer_bos(t) >= 0, &ids, &n, err,
                         sizeof err) == 0) {
        char *text = NULL;
        size_t len = 0;
        FUZZ_CHECK(tokenizer_decode(t, ids, n, false, &text, &len, err, sizeof err) == 0,
                   "ids from encode do not decode: %s", err);
        free(text);
        free(ids);
    } else {
        FUZZ_CHECK(ids == NULL && err[0], "failed encode without a message");
    }
    tokenizer_free(t);
    return 0;
}
