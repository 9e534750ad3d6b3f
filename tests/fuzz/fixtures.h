/*
 * fixtures.h — the small tokenizers the encode and decode harnesses run (a
 * few KB each, not the 33 MB Gemma one), loaded once per process from the
 * source tree (FUZZ_DATA_DIR, set by meson).
 *
 *   0 fixtures/tokenizer_a.json  Gemma 3's pipeline: " " -> "▁", byte
 *                     fallback, special tokens, merges as "a b";
 *                     decode(encode(b)) == b for any bytes b without a
 *                     literal "▁"
 *   1 fixtures/tokenizer_b.json  the rest of what the loader takes: <unk>
 *                     with fuse_unk, Prepend, Split MergedWithNext, Strip
 *                     after Fuse, lstrip/rstrip added tokens, ignore_merges,
 *                     merges as ["a", "b"]
 *   2 corpus/tokenizer_load/bytelevel.json  Qwen's pipeline: an NFC
 *                     normalizer (utf8proc), a Split on Qwen's regex
 *                     (PCRE2), ByteLevel pre-tokenizer and decoder, added
 *                     tokens; decode(encode(b)) == b for any bytes b that
 *                     NFC leaves alone (none >= 0xCC, the lead bytes from
 *                     U+0300 up)
 */
#ifndef PLINTH_FUZZ_FIXTURES_H
#define PLINTH_FUZZ_FIXTURES_H

#include "fuzz.h"
#include "tokenizer.h"

#define FUZZ_N_FIXTURES 3

static inline tokenizer *fuzz_fixture(int which)
{
    static tokenizer *t[FUZZ_N_FIXTURES];
    static const char *const names[FUZZ_N_FIXTURES] = {
        "fixtures/tokenizer_a.json", "fixtures/tokenizer_b.json",
        "corpus/tokenizer_load/bytelevel.json"};
    if (!t[which]) {
        char path[4096], err[512] = "";
        snprintf(path, sizeof path, "%s/%s", FUZZ_DATA_DIR, names[which]);
        FUZZ_CHECK(tokenizer_load(NULL, path, &t[which], err, sizeof err) == 0, "%s", err);
    }
    return t[which];
}

/* The fixture a harness's flag byte picks: bit 2 the byte-level one, else
 * bit 0 a or b (older inputs, with bit 2 clear, keep their fixture). */
static inline int fuzz_fixture_pick(uint8_t flags)
{
    return flags & 4 ? 2 : flags & 1;
}

#endif /* PLINTH_FUZZ_FIXTURES_H */
