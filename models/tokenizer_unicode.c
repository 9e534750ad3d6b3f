/*
 * tokenizer_unicode.c — the Unicode work the tokenizer hands to Debian's
 * libraries. Sections: Split regexes (PCRE2), NFC (utf8proc), GPT-2's
 * byte <-> character table.
 *
 * Regexes: Llama 3 and Qwen split text with patterns such as
 *   (?i:'s|'t|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+...
 * PCRE2 compiles them as written (UTF, with Unicode properties for \s, \d
 * and \w: PCRE2_UCP) and JIT-compiles them where the platform allows. A
 * pattern comes from a file, so every match runs under limits: a pattern
 * that backtracks catastrophically stops with TOK_RE_LIMIT instead of
 * running for ever, and compiling one probes it on a few short texts so it
 * is refused at load.
 */
#include "tokenizer_internal.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

/* ------------------------------------------------------------- regexes */

struct tok_regex {
    pcre2_code *code;
};

struct tok_matcher {
    pcre2_match_data *md;
    pcre2_match_context *mc;
};

/* PCRE2's match limit counts backtracking steps and restarts for every
 * start position. The legitimate patterns need about one step per byte of
 * the longest run they match (Llama 3's \s*[\r\n]+ on a run of spaces), so
 * a call gets a base budget plus two steps per byte it may reach; a
 * catastrophic pattern exhausts that on the first start position. The
 * interpreter's heap (its backtracking frames) is capped at 64 MB. */
#define RE_BASE_STEPS 1000000u
#define RE_HEAP_KB (64u << 10)

tok_matcher *tok_matcher_create(void)
{
    tok_matcher *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->md = pcre2_match_data_create(1, NULL); /* only the whole match is read */
    m->mc = pcre2_match_context_create(NULL);
    if (!m->md || !m->mc) {
        tok_matcher_free(m);
        return NULL;
    }
    pcre2_set_heap_limit(m->mc, RE_HEAP_KB);
    return m;
}

void tok_matcher_free(tok_matcher *m)
{
    if (!m) return;
    pcre2_match_data_free(m->md);
    pcre2_match_context_free(m->mc);
    free(m);
}

int tok_regex_find(const tok_regex *r, tok_matcher *m, const char *s, size_t n, size_t from, size_t *ms,
                   size_t *me)
{
    const size_t reach = n - from;
    const uint32_t steps = reach > (UINT32_MAX - RE_BASE_STEPS) / 2 ? UINT32_MAX : RE_BASE_STEPS + 2 * (uint32_t)reach;
    pcre2_set_match_limit(m->mc, steps);
    pcre2_set_depth_limit(m->mc, steps);
    /* The text was checked to be UTF-8 (tokenizer_bpe.c cuts it at bad
     * bytes), so PCRE2 need not check it again on every call. */
    const int rc = pcre2_match(r->code, (PCRE2_SPTR)s, n, from, PCRE2_NO_UTF_CHECK, m->md, m->mc);
    if (rc == PCRE2_ERROR_NOMATCH) return TOK_RE_NONE;
    if (rc == PCRE2_ERROR_NOMEMORY) return TOK_RE_NO_MEMORY;
    if (rc < 0) return TOK_RE_LIMIT; /* match, depth, heap or JIT stack limit */
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
    *ms = ov[0];
    *me = ov[1];
    return TOK_RE_FOUND;
}

void tok_regex_free(tok_regex *r)
{
    if (!r) return;
    pcre2_code_free(r->code);
    free(r);
}

/* Split the probe with the limits a real text gets; TOK_RE_LIMIT if a
 * match stopped on one. */
static int probe(const tok_regex *r, tok_matcher *m, const char *s, size_t n)
{
    size_t at = 0, ms, me;
    while (at < n) {
        const int rc = tok_regex_find(r, m, s, n, at, &ms, &me);
        if (rc != TOK_RE_FOUND) return rc == TOK_RE_NONE ? 0 : rc;
        at = me > at ? me : at + (size_t)tok_utf8_len((const unsigned char *)s + at, n - at);
    }
    return 0;
}

int tok_regex_compile(const char *pattern, size_t len, tok_regex **out, char *why, size_t why_size)
{
    *out = NULL;
    tok_regex *r = calloc(1, sizeof *r);
    if (!r) return snprintf(why, why_size, "out of memory"), -1;
    int code;
    PCRE2_SIZE at;
    r->code = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
    if (!r->code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(why, why_size, "does not compile (PCRE2: %s, at offset %zu)", (const char *)msg, (size_t)at);
        free(r);
        return -1;
    }
    /* Without JIT (an unsupported CPU, or no executable memory) the
     * interpreter gives the same matches, more slowly. */
    (void)pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE);

    /* Probes: runs of one class each (letters, digits, spaces, newlines,
     * punctuation), each ended by a character of another class, where
     * nested quantifiers such as (a+)+ or (\s*)* explode. */
    static const char *const unit[] = {"a", "1", " ", "\n", "!", "\xc3\xa9", "a "};
    static const char *const tail[] = {"!", "a", "\n", " "};
    char text[160];
    tok_matcher *m = tok_matcher_create();
    int rc = m ? 0 : -1;
    for (size_t u = 0; rc == 0 && u < sizeof unit / sizeof unit[0]; u++)
        for (size_t k = 0; rc == 0 && k < sizeof tail / sizeof tail[0]; k++) {
            size_t n = 0, ul = strlen(unit[u]);
            while (n + ul + 1 < 96) memcpy(text + n, unit[u], ul), n += ul;
            memcpy(text + n, tail[k], strlen(tail[k]));
            n += strlen(tail[k]);
            rc = probe(r, m, text, n);
        }
    tok_matcher_free(m);
    if (rc) {
        snprintf(why, why_size, rc == TOK_RE_LIMIT ? "reached PCRE2's match limit on a 96-byte probe text "
                                                     "(it backtracks catastrophically)"
                                                   : "out of memory");
        tok_regex_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

/* ----------------------------------------------------------------- NFC */

int tok_nfc(const char *s, size_t n, char **out, size_t *out_n)
{
    *out = NULL;
    *out_n = n;
    /* Code points below U+0300 (lead bytes below 0xCC) neither combine nor
     * decompose under NFC: most text is returned as it is. */
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0xCC) i++;
    if (i == n) return 1;
    utf8proc_uint8_t *dst = NULL;
    const utf8proc_ssize_t k =
        utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (k < 0) return -1; /* the text is valid UTF-8: out of memory */
    *out = (char *)dst;
    *out_n = (size_t)k;
    return 0;
}

/* ------------------------------------------- GPT-2's byte <-> character */

/* Bytes that are printable Latin-1 stand for themselves; the other 68
 * (0x00-0x20, 0x7f-0xa0, 0xad: controls, space, DEL, NBSP, soft hyphen)
 * become U+0100 + k in byte order, so that no token holds white space or
 * a control character. */
static uint32_t byte_cp(unsigned b)
{
    if (b <= 0x20) return 0x100 + b;
    if (b >= 0x7f && b <= 0xa0) return 0x100 + 33 + (b - 0x7f);
    if (b == 0xad) return 0x100 + 67;
    return b;
}

size_t tok_byte_char(unsigned b, char buf[2])
{
    const uint32_t c = byte_cp(b);
    if (c < 0x80) {
        buf[0] = (char)c;
        return 1;
    }
    buf[0] = (char)(0xc0 | (c >> 6));
    buf[1] = (char)(0x80 | (c & 0x3f));
    return 2;
}

int tok_char_byte(uint32_t c)
{
    if (c < 0x100) return byte_cp(c) == c ? (int)c : -1;
    if (c <= 0x100 + 32) return (int)(c - 0x100);
    if (c <= 0x100 + 66) return (int)(0x7f + (c - 0x100 - 33));
    return c == 0x100 + 67 ? 0xad : -1;
}
