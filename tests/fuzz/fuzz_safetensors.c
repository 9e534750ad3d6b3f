/*
 * fuzz_safetensors.c — a deterministic mutation fuzzer for the safetensors
 * state dict (plinth_state_dict_open).
 *
 *   fuzz_safetensors [ITERATIONS (default 2000)] [SEED]
 *
 * Starts from a small valid file (several dtypes, an empty tensor,
 * metadata) and, per iteration, applies one or two mutations: random byte
 * flips, flips inside the header, truncation, edits of the 8-byte header
 * length, digit edits and token substitutions inside the JSON (re-encoding
 * the length so that the semantic checks are reached). Each result is written
 * to a temp file and opened.
 *
 * Checked: opening never crashes; a failure is FORMAT or IO with a message
 * naming the file and leaves *out NULL; on success every tensor lies inside
 * the data section, reading it gives the file's bytes there, its byte count
 * matches dtype and shape, and find finds it. Exit 0 iff all held.
 * Run it under ASan/UBSan for the full effect; FUZZ_VERBOSE=1 prints each
 * rejection's message.
 */
#include "safetensors.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------- input --- */

static const char base_header[] =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
    "\"c\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[32,40]},"
    "\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[40,40]},"
    "\"d\":{\"dtype\":\"U8\",\"shape\":[1,1,3],\"data_offsets\":[40,43]}}    ";
#define BASE_DATA 43

static const char *const tokens[] = {
    "-1", "1.5", "1e30", "0", "1", "4", "24", "9007199254740993", "18446744073709551616",
    "null", "true", "[]", "{}", "[0,0]", "\"F32\"", "\"I64\"", "\"BF16\"", "\"XX\"", ",", "]",
    "}", "[", "{", "\"", ":", "\"shape\"", "\"dtype\"", "\"data_offsets\"", "\"a\"",
    "\"__metadata__\"", "[1,1,1,1,1,1,1,1,1]", "[4294967296,4294967296]", "\\u0000", " ",
};

/* Whole-value replacements keep the JSON valid and reach the semantic checks
 * (overlaps, duplicates, dims, overflow). */
static const char *const numbers[] = {"-1", "1.5", "1e30", "0", "1", "2", "3", "8", "16",
                                      "24", "32", "40", "43", "44", "4294967296",
                                      "9007199254740992", "9007199254740993", "-0", "1e2"};
static const char *const strings[] = {"\"a\"", "\"b\"", "\"c\"", "\"F32\"", "\"U8\"",
                                      "\"I64\"", "\"BF16\"", "\"F64\"", "\"__metadata__\"",
                                      "\"shape\"", "\"x\"", "7", "[]", "{}"};
static const char *const arrays[] = {"[]", "[0,0]", "[0,24]", "[24,48]", "[8,32]", "[1]",
                                     "[1,1,1,1,1,1,1,1,1]", "[1,1,1,1,1,1,1,1]",
                                     "[4294967296,4294967296]", "[4294967296,4294967296,0]",
                                     "[-1]", "[1.5]", "[2,3]", "[6]", "[0,4]", "[40,43,44]",
                                     "\"F32\"", "{}"};
#define PICK(list) (list[below(sizeof list / sizeof list[0])])

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic for a given seed */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void reserve(buf *b, size_t n)
{
    if (n <= b->cap)
        return;
    b->cap = n * 2;
    b->p = realloc(b->p, b->cap);
    if (!b->p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
}

/* Replaces [at, at+len) with `with` (wlen bytes). */
static void splice(buf *b, size_t at, size_t len, const void *with, size_t wlen)
{
    reserve(b, b->n - len + wlen + 1);
    memmove(b->p + at + wlen, b->p + at + len, b->n - at - len);
    if (wlen)
        memcpy(b->p + at, with, wlen);
    b->n = b->n - len + wlen;
}

static void set_len(buf *f, uint64_t n)
{
    for (int i = 0; i < 8; i++)
        f->p[i] = (uint8_t)(n >> (8 * i));
}

/* ---------------------------------------------------------- mutations --- */

/* JSON-level edits work on the header alone, then the file is re-encoded
 * with the right length (most of the time). */
static void mutate_header(buf *h)
{
    switch (below(6)) {
    case 3: { /* a whole number */
        size_t at = below(h->n), i = at;
        while (i < h->n && !(h->p[i] >= '0' && h->p[i] <= '9'))
            i++;
        if (i == h->n)
            break;
        size_t j = i;
        while (j < h->n && ((h->p[j] >= '0' && h->p[j] <= '9') || h->p[j] == '.' ||
                            h->p[j] == 'e' || h->p[j] == '-'))
            j++;
        if (i > 0 && h->p[i - 1] == '-')
            i--;
        const char *t = PICK(numbers);
        splice(h, i, j - i, t, strlen(t));
        break;
    }
    case 4: { /* a whole quoted string (a key, a dtype, a value) */
        size_t i = below(h->n);
        while (i < h->n && h->p[i] != '"')
            i++;
        size_t j = i + 1;
        while (j < h->n && h->p[j] != '"')
            j++;
        if (j >= h->n)
            break;
        const char *t = PICK(strings);
        splice(h, i, j + 1 - i, t, strlen(t));
        break;
    }
    case 5: { /* a whole innermost array */
        size_t i = below(h->n);
        while (i < h->n && h->p[i] != '[')
            i++;
        size_t j = i;
        while (j < h->n && h->p[j] != ']')
            j++;
        if (j >= h->n)
            break;
        const char *t = PICK(arrays);
        splice(h, i, j + 1 - i, t, strlen(t));
        break;
    }
    case 0: { /* change, drop or add digits */
        size_t at = below(h->n);
        for (size_t k = 0; k < h->n; k++) {
            size_t i = (at + k) % h->n;
            if (h->p[i] >= '0' && h->p[i] <= '9') {
                char c = (char)('0' + below(10));
                if (below(4) == 0)
                    splice(h, i, 1, NULL, 0);
                else if (below(3) == 0)
                    splice(h, i, 0, &c, 1);
                else
                    h->p[i] = (uint8_t)c;
                return;
            }
        }
        break;
    }
    case 1: { /* a token replaces a short span */
        const char *t = PICK(tokens);
        size_t at = below(h->n), len = below(6);
        if (at + len > h->n)
            len = h->n - at;
        splice(h, at, len, t, strlen(t));
        break;
    }
    default: /* random printable or any byte */
        if (h->n)
            h->p[below(h->n)] = below(2) ? (uint8_t)(' ' + below(95)) : (uint8_t)rnd();
        break;
    }
}

static void mutate_file(buf *f)
{
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--)
        hn = (hn << 8) | f->p[i];
    switch (below(4)) {
    case 0: /* flip bytes anywhere */
        for (size_t k = 1 + below(4); k > 0; k--)
            f->p[below(f->n)] ^= (uint8_t)(1u << below(8));
        break;
    case 1: /* truncate */
        f->n = below(f->n + 1);
        break;
    case 2: { /* header length edits */
        static const uint64_t fixed[] = {0, 1, 2, 7, 8, 100000001ull, 100000000ull,
                                         UINT64_MAX, 1ull << 63, 1ull << 32};
        uint64_t v;
        switch (below(4)) {
        case 0: v = fixed[below(sizeof fixed / sizeof fixed[0])]; break;
        case 1: v = hn + below(9) - 4; break;
        case 2: v = f->n - 8 + below(3) - 1; break;
        default: v = rnd() >> below(64); break;
        }
        if (f->n >= 8)
            set_len(f, v);
        break;
    }
    default: /* append garbage */
        for (size_t k = below(16); k > 0; k--) {
            uint8_t c = (uint8_t)rnd();
            splice(f, f->n, 0, &c, 1);
        }
        break;
    }
}

static void build(buf *f, const buf *h, const uint8_t *data, size_t data_len)
{
    f->n = 0;
    reserve(f, 8 + h->n + data_len + 1);
    set_len(f, h->n);
    memcpy(f->p + 8, h->p, h->n);
    memcpy(f->p + 8 + h->n, data, data_len);
    f->n = 8 + h->n + data_len;
}

/* ------------------------------------------------------------ checks --- */

static int failures;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "iteration %d: check failed: %s: ", iter, #cond); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
            failures++;                                                       \
        }                                                                     \
    } while (0)

static size_t dtype_size(const char *name)
{
    static const struct { const char *n; size_t s; } t[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
        {"I8", 1}, {"U8", 1}, {"U16", 2}, {"U32", 4}, {"U64", 8}, {"BOOL", 1},
        {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(t[i].n, name) == 0)
            return t[i].s;
    return 0;
}

static void check_dict(int iter, plinth_state_dict *d, const char *path, const buf *f)
{
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--)
        hn = (hn << 8) | f->p[i];
    CHECK(f->n >= 8 && hn > 0 && hn <= f->n - 8, "accepted a bad header length %" PRIu64, hn);
    const uint64_t data_lo = 8 + hn, data_hi = f->n;
    for (uint32_t i = 0; i < plinth_state_dict_count(d); i++) {
        st_tensor *t = st_at(d, i);
        CHECK(t && t->name && t->dtype_name, "null fields");
        if (!t)
            continue;
        CHECK(strcmp(st_file_path(d, t), path) == 0, "file %s", st_file_path(d, t));
        CHECK(plinth_state_dict_find(d, t->name) == (int32_t)i, "find('%s')", t->name);
        CHECK(t->ndim >= 0 && t->ndim <= PLINTH_STATE_DICT_MAX_DIMS, "ndim %d", t->ndim);
        uint64_t elems = 1;
        for (int k = 0; k < t->ndim && k < PLINTH_STATE_DICT_MAX_DIMS; k++)
            elems *= (uint64_t)t->shape[k];
        CHECK(elems * dtype_size(t->dtype_name) == t->bytes, "'%s': bytes %" PRIu64, t->name,
              t->bytes);
        if (t->bytes == 0)
            continue;
        /* Every accepted tensor lies inside the data section of the file,
         * and reading it gives the file's bytes there. */
        bool inside = t->begin <= data_hi - data_lo && t->bytes <= data_hi - data_lo - t->begin;
        CHECK(inside, "'%s' [%" PRIu64 ", +%" PRIu64 ") outside the data section", t->name,
              t->begin, t->bytes);
        if (!inside)
            continue;
        uint8_t *got = malloc(t->bytes);
        CHECK(got && plinth_state_dict_read(d, i, 0, got, t->bytes) == PLINTH_OK,
              "'%s' cannot be read", t->name);
        if (got)
            CHECK(memcmp(got, f->p + data_lo + t->begin, t->bytes) == 0, "'%s' bytes differ",
                  t->name);
        free(got);
    }
    plinth_state_dict_find(d, "");
    plinth_state_dict_find(d, "zz");
}

/* -------------------------------------------------------------- main --- */

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x5eed5afe7e45ull;
    if (rng_state == 0)
        rng_state = 1;
    bool verbose = getenv("FUZZ_VERBOSE") != NULL;
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/plinth-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    char path[600];
    snprintf(path, sizeof path, "%s/fuzz.safetensors", dir);
    plinth_context *ctx;
    if (plinth_context_create(NULL, &ctx) != PLINTH_OK)
        return 2;

    uint8_t data[BASE_DATA];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 1);
    buf h = {0}, f = {0};
    long accepted = 0, by_status[16] = {0};

    for (int iter = 0; iter < iterations; iter++) {
        h.n = 0;
        reserve(&h, sizeof base_header);
        memcpy(h.p, base_header, sizeof base_header - 1);
        h.n = sizeof base_header - 1;
        size_t kind = below(3);
        if (kind != 1)
            for (size_t k = 1 + below(3); k > 0; k--)
                mutate_header(&h);
        build(&f, &h, data, sizeof data);
        if (kind != 0)
            for (size_t k = 1 + below(2); k > 0; k--)
                if (f.n)
                    mutate_file(&f);

        FILE *out = fopen(path, "wb");
        if (!out || (f.n && fwrite(f.p, 1, f.n, out) != f.n) || fclose(out) != 0) {
            perror(path);
            return 2;
        }
        plinth_state_dict *d = (plinth_state_dict *)&ctx; /* garbage: must be overwritten */
        plinth_status s = plinth_state_dict_open(ctx, path, &d);
        by_status[s & 15]++;
        if (s == PLINTH_OK) {
            accepted++;
            check_dict(iter, d, path, &f);
            plinth_state_dict_close(d);
        } else {
            if (verbose)
                printf("%d: %s\n", iter, plinth_context_error(ctx));
            CHECK(d == NULL, "out not cleared");
            CHECK(s == PLINTH_ERR_FORMAT || s == PLINTH_ERR_IO, "status %s",
                  plinth_status_name(s));
            CHECK(strstr(plinth_context_error(ctx), path) != NULL, "message '%s'",
                  plinth_context_error(ctx));
        }
        if (failures > 20)
            break;
    }
    unlink(path);
    rmdir(dir);
    free(h.p);
    free(f.p);
    plinth_context_destroy(ctx);
    printf("fuzz_safetensors: %ld iterations, %ld accepted, %ld format errors, %ld io errors, "
           "%d failed checks\n",
           iterations, accepted, by_status[PLINTH_ERR_FORMAT], by_status[PLINTH_ERR_IO],
           failures);
    return failures ? 1 : 0;
}
