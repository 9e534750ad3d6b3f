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
 *
 * Two rewrites make the patterns split as the reference (transformers.js,
 * JavaScript's RegExp with the u flag) does:
 *  - \s and \S mean JavaScript's white space: PCRE2's \s also matches
 *    U+0085 and U+180E and not U+FEFF. (HF tokenizers and tiktoken use
 *    Unicode's White_Space: U+0085 yes, U+FEFF no; a BOM next to spaces
 *    may split differently there.)
 *  - Llama 3's and Qwen's (?i:'s|'t|'re|'ve|'m|'ll|'d) becomes the ASCII
 *    [sS]... group transformers.js substitutes (PCRE2's caseless s also
 *    matches U+017F, long s).
 * \p{L} and \p{N} follow PCRE2's Unicode tables (10.42: Unicode 14);
 * letters added to Unicode later are not letters to it.
 */
#include "tokenizer_internal.h"

#include <stdio.h>
#include <string.h>

#ifdef PLINTH_HAVE_UNICODE_LIBS
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

/* ------------------------------------------------------------- regexes */

struct tok_regex {
    plinth_context *ctx;
    pcre2_code *code;
};

struct tok_matcher {
    plinth_context *ctx;
    pcre2_match_data *md;
    pcre2_match_context *mc;
};

/* PCRE2 takes its memory from the tokenizer's context: a general context
 * carries the functions, and each object made from it keeps a copy. */
static void *re_malloc(PCRE2_SIZE size, void *ctx) { return model_malloc(ctx, size); }
static void re_free(void *p, void *ctx) { model_free(ctx, p); }

static pcre2_general_context *re_memory(plinth_context *ctx)
{
    return pcre2_general_context_create(re_malloc, re_free, ctx);
}

/* PCRE2's match limit counts backtracking steps and restarts for every
 * start position. The legitimate patterns need about one step per byte of
 * the longest run they match (Llama 3's \s*[\r\n]+ on a run of spaces), so
 * a call gets a base budget plus two steps per byte it may reach; a
 * catastrophic pattern exhausts that on the first start position. The
 * interpreter's heap (its backtracking frames) is capped at 64 MB. */
#define RE_BASE_STEPS 1000000u
#define RE_HEAP_KB (64u << 10)

tok_matcher *tok_matcher_create(plinth_context *ctx)
{
    tok_matcher *m = model_calloc(ctx, 1, sizeof *m);
    if (!m) return NULL;
    m->ctx = ctx;
    pcre2_general_context *g = re_memory(ctx);
    if (g) {
        m->md = pcre2_match_data_create(1, g); /* only the whole match is read */
        m->mc = pcre2_match_context_create(g);
        pcre2_general_context_free(g);
    }
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
    model_free(m->ctx, m);
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

/* JavaScript's \s (WhiteSpace and LineTerminator) as a class body, and
 * its complement for a \S inside a class. */
static const char js_space[] =
    "\\t-\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}";
static const char js_nonspace[] =
    "\\x{0}-\\x{8}\\x{e}-\\x{1f}\\x{21}-\\x{9f}\\x{a1}-\\x{167f}\\x{1681}-\\x{1fff}\\x{200b}-\\x{2027}"
    "\\x{202a}-\\x{202e}\\x{2030}-\\x{205e}\\x{2060}-\\x{2fff}\\x{3001}-\\x{fefe}\\x{ff00}-\\x{10ffff}";
static const char contractions[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
static const char contractions_js[] = "(?:'([sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))";

static int put(tok_buf *b, size_t *n, const char *s, size_t k)
{
    if (tok_buf_reserve(b, *n + k + 1)) return -1;
    memcpy(b->p + *n, s, k);
    *n += k;
    b->p[*n] = 0;
    return 0;
}

/* The rewrites above. The walk knows escapes, \Q...\E quoting and
 * character classes (with their POSIX [:name:] items), which is all it
 * needs to tell a \s in a class from one outside. */
static int rewrite(const char *p, size_t len, tok_buf *out, size_t *out_len)
{
    size_t n = 0, i = 0;
    bool in_class = false;
    int rc = put(out, &n, "", 0);
    while (rc == 0 && i < len) {
        const char ch = p[i];
        if (!in_class && len - i >= sizeof contractions - 1 && memcmp(p + i, contractions, sizeof contractions - 1) == 0) {
            rc = put(out, &n, contractions_js, sizeof contractions_js - 1);
            i += sizeof contractions - 1;
        } else if (ch == '\\' && i + 1 < len && p[i + 1] == 'Q') { /* quoted up to \E */
            const char *e = NULL;
            for (size_t j = i + 2; j + 1 < len && !e; j++)
                if (p[j] == '\\' && p[j + 1] == 'E') e = p + j + 2;
            const size_t k = e ? (size_t)(e - (p + i)) : len - i;
            rc = put(out, &n, p + i, k);
            i += k;
        } else if (ch == '\\' && i + 1 < len && (p[i + 1] == 's' || p[i + 1] == 'S')) {
            const bool neg = p[i + 1] == 'S';
            if (in_class) rc = put(out, &n, neg ? js_nonspace : js_space, strlen(neg ? js_nonspace : js_space));
            else
                rc = put(out, &n, neg ? "[^" : "[", neg ? 2 : 1) || put(out, &n, js_space, sizeof js_space - 1) ||
                     put(out, &n, "]", 1);
            i += 2;
        } else if (ch == '\\') {
            rc = put(out, &n, p + i, i + 1 < len ? 2 : 1);
            i += 2;
        } else if (!in_class && ch == '[') {
            /* A ']' first in a class (after an optional '^') is literal. */
            size_t k = 1;
            if (i + k < len && p[i + k] == '^') k++;
            if (i + k < len && p[i + k] == ']') k++;
            rc = put(out, &n, p + i, k);
            i += k;
            in_class = true;
        } else if (in_class && ch == '[' && i + 1 < len && p[i + 1] == ':') { /* [:alpha:] */
            const char *e = memmem(p + i + 2, len - i - 2, ":]", 2);
            const size_t k = e ? (size_t)(e + 2 - (p + i)) : 1;
            rc = put(out, &n, p + i, k);
            i += k;
        } else {
            if (in_class && ch == ']') in_class = false;
            rc = put(out, &n, p + i, 1);
            i++;
        }
    }
    *out_len = n;
    return rc;
}

void tok_regex_free(tok_regex *r)
{
    if (!r) return;
    pcre2_code_free(r->code);
    model_free(r->ctx, r);
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

int tok_regex_compile(plinth_context *ctx, const char *pattern, size_t len, tok_regex **out, char *why,
                      size_t why_size)
{
    *out = NULL;
    tok_regex *r = model_calloc(ctx, 1, sizeof *r);
    if (!r) return snprintf(why, why_size, "out of memory"), -1;
    r->ctx = ctx;
    int code = 0;
    PCRE2_SIZE at = 0;
    tok_buf js = {.ctx = ctx};
    size_t js_len = 0;
    bool same = false;
    pcre2_general_context *g = re_memory(ctx);
    pcre2_compile_context *cc = g ? pcre2_compile_context_create(g) : NULL;
    if (cc && rewrite(pattern, len, &js, &js_len) == 0) {
        r->code = pcre2_compile((PCRE2_SPTR)js.p, js_len, PCRE2_UTF | PCRE2_UCP, &code, &at, cc);
        same = js_len == len && memcmp(js.p, pattern, len) == 0;
    }
    pcre2_compile_context_free(cc);
    pcre2_general_context_free(g);
    tok_buf_free(&js);
    if (!r->code && (code == 0 || code == PCRE2_ERROR_HEAP_FAILED)) {
        model_free(ctx, r);
        return snprintf(why, why_size, "out of memory"), -1;
    }
    if (!r->code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(why, why_size, "does not compile (PCRE2: %s, at offset %zu%s)", (const char *)msg, (size_t)at,
                 same ? "" : " of the pattern with \\s spelt out");
        model_free(ctx, r);
        return -1;
    }
    /* Without JIT (an unsupported CPU, or no executable memory) the
     * interpreter gives the same matches, more slowly. */
    (void)pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE);

    /* Probes: runs of one class each (letters, digits, spaces, newlines,
     * punctuation), each ended by a character of another class, where
     * nested quantifiers such as (a+)+ or (\s*)* explode; then every
     * printable ASCII character, so that a literal the pattern requires
     * (PCRE2 gives up at once when one is absent) is there to look for. */
    static const char *const unit[] = {"a", "1", " ", "\n", "!", "\xc3\xa9", "a "};
    static const char *const tail[] = {"!", "a", "\n", " "};
    char text[256];
    tok_matcher *m = tok_matcher_create(ctx);
    int rc = m ? 0 : -1;
    for (size_t u = 0; rc == 0 && u < sizeof unit / sizeof unit[0]; u++)
        for (size_t k = 0; rc == 0 && k < sizeof tail / sizeof tail[0]; k++) {
            size_t n = 0, ul = strlen(unit[u]);
            while (n + ul + 1 < 96) memcpy(text + n, unit[u], ul), n += ul;
            memcpy(text + n, tail[k], strlen(tail[k]));
            n += strlen(tail[k]);
            text[n++] = '\x01';
            for (char ch = ' '; ch <= '~'; ch++) text[n++] = ch;
            rc = probe(r, m, text, n);
        }
    tok_matcher_free(m);
    if (rc) {
        snprintf(why, why_size, rc == TOK_RE_LIMIT ? "reached PCRE2's match limit on a 192-byte probe text "
                                                     "(it backtracks catastrophically)"
                                                   : "out of memory");
        tok_regex_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

/* ----------------------------------------------------------------- NFC */

int tok_nfc(plinth_context *ctx, const char *s, size_t n, char **out, size_t *out_n)
{
    *out = NULL;
    *out_n = n;
    /* Code points below U+0300 (lead bytes below 0xCC) neither combine nor
     * decompose under NFC: most text is returned as it is. */
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0xCC) i++;
    if (i == n) return 1;
    /* utf8proc_map's steps, with the buffer from ctx (utf8proc_map takes
     * its own from malloc): measure the decomposition, decompose, compose
     * and re-encode as UTF-8 in place (k code points take at most 4k
     * bytes, and a NUL). The text is valid UTF-8, so a failure can only
     * be out of memory. */
    const utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    const utf8proc_ssize_t k = utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, NULL, 0, opt);
    if (k < 0) return -1;
    utf8proc_int32_t *buf = model_calloc(ctx, (size_t)k + 1, sizeof *buf);
    if (!buf) return -1;
    utf8proc_ssize_t m = utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, buf, k, opt);
    if (m >= 0) m = utf8proc_reencode(buf, m, opt);
    if (m < 0) {
        model_free(ctx, buf);
        return -1;
    }
    *out = (char *)buf;
    *out_n = (size_t)m;
    return 0;
}

#else /* !PLINTH_HAVE_UNICODE_LIBS */

/* A cross build for a target without PCRE2 and utf8proc (Debian's s390x
 * lists lag the amd64 ones, so multiarch cannot install them): Split
 * regexes and NFC are refused at load, naming why; Gemma's tokenizer,
 * which needs neither, works. Native builds always have both (meson
 * requires them). */
struct tok_regex {
    int unused;
};
struct tok_matcher {
    int unused;
};

tok_matcher *tok_matcher_create(plinth_context *ctx)
{
    (void)ctx;
    static tok_matcher none;
    return &none;
}

void tok_matcher_free(tok_matcher *m) { (void)m; }

int tok_regex_compile(plinth_context *ctx, const char *pattern, size_t len, tok_regex **out, char *why,
                      size_t why_size)
{
    (void)ctx, (void)pattern, (void)len;
    *out = NULL;
    snprintf(why, why_size, "this build of plinth has no PCRE2 (a cross build without it): "
                            "Split regexes are not available");
    return -1;
}

void tok_regex_free(tok_regex *r) { (void)r; }

int tok_regex_find(const tok_regex *r, tok_matcher *m, const char *s, size_t n, size_t from,
                   size_t *ms, size_t *me)
{
    (void)r, (void)m, (void)s, (void)n, (void)from, (void)ms, (void)me;
    return TOK_RE_NONE;
}

int tok_nfc(plinth_context *ctx, const char *s, size_t n, char **out, size_t *out_n)
{
    (void)ctx, (void)s, (void)n, (void)out_n;
    *out = NULL;
    return 1; /* unreachable: tokenizer_steps.c refuses NFC at load */
}

#endif /* PLINTH_HAVE_UNICODE_LIBS */

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
