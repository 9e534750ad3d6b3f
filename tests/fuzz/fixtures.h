/*
 * fixtures.h — the small tokenizers the encode and decode harnesses run
 * (tests/fuzz/fixtures/, a few KB each, not the 33 MB Gemma one), loaded
 * once per process from the source tree (FUZZ_DATA_DIR, set by meson).
 *
 *   tokenizer_a.json  Gemma 3's pipeline: " " -> "▁", byte fallback, special
 *                     tokens, merges as "a b"; decode(encode(b)) == b for
 *                     any bytes b without a literal "▁"
 *   tokenizer_b.json  the rest of what the loader takes: <unk> with
 *                     fuse_unk, Prepend, Split MergedWithNext, Strip after
 *                     Fuse, lstrip/rstrip added tokens, ignore_merges,
 *                     merges as ["a", "b"]
 */
#ifndef PLINTH_FUZZ_FIXTURES_H
#define PLINTH_FUZZ_FIXTURES_H

#include "fuzz.h"
#include "tokenizer.h"

#define FUZZ_N_FIXTURES 2

static inline tokenizer *fuzz_fixture(int which)
{
    static tokenizer *t[FUZZ_N_FIXTURES];
    static const char *const names[FUZZ_N_FIXTURES] = {"tokenizer_a.json", "tokenizer_b.json"};
    if (!t[which]) {
        char path[4096], err[512] = "";
        snprintf(path, sizeof path, "%s/fixtures/%s", FUZZ_DATA_DIR, names[which]);
        FUZZ_CHECK(tokenizer_load(NULL, path, &t[which], err, sizeof err) == 0, "%s", err);
    }
    return t[which];
}

#endif /* PLINTH_FUZZ_FIXTURES_H */
