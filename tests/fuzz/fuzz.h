/*
 * fuzz.h — what every harness in tests/fuzz/ shares.
 *
 * A harness is one C file defining the libFuzzer entry point
 * LLVMFuzzerTestOneInput over one parser, and optionally
 * LLVMFuzzerInitialize. It is built twice (tests/fuzz/meson.build): with
 * libFuzzer (clang, scripts/fuzz.sh) and with replay.c's main (any
 * compiler), which feeds it the committed seeds and regression inputs in
 * `meson test --suite fuzz`.
 *
 * A harness reports a finding by crashing: FUZZ_CHECK prints what broke
 * and aborts, which libFuzzer records as a crash (with the input) and the
 * replay program as a failed test. Harnesses must be deterministic and
 * free everything they allocate (leaks are findings too).
 */
#ifndef PLINTH_FUZZ_H
#define PLINTH_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, ...)                                                        \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
            abort();                                                                 \
        }                                                                            \
    } while (0)

/* Reads the input front to back: fixed-size fields first (settings), the
 * rest as the payload. Past the end it yields zeros, so every input is a
 * valid one. */
typedef struct fuzz_reader {
    const uint8_t *p;
    size_t n;
} fuzz_reader;

static inline void fuzz_take(fuzz_reader *r, void *out, size_t size)
{
    size_t k = r->n < size ? r->n : size;
    memcpy(out, r->p, k);
    memset((uint8_t *)out + k, 0, size - k);
    r->p += k;
    r->n -= k;
}

static inline uint8_t fuzz_u8(fuzz_reader *r)
{
    uint8_t v;
    fuzz_take(r, &v, 1);
    return v;
}

static inline uint32_t fuzz_u32(fuzz_reader *r)
{
    uint8_t b[4];
    fuzz_take(r, b, 4);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* A NUL-terminated copy of data (for parsers that take C strings, and so
 * that a read one past the end is an error ASan sees on the copy, never
 * a read of whatever follows libFuzzer's buffer). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL, "out of memory copying %zu bytes", size);
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif /* PLINTH_FUZZ_H */
