/*
 * json_text.c — see json_text.h.
 * Sections: reading a file; the syntax check (cJSON's grammar, no
 * allocation); decoding a string (no allocation); parsing with a reason on
 * failure.
 */
#include "json_text.h"
#include "errbuf.h"
#include "model_mem.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------- reading a file --- */

plinth_status json_text_read(plinth_context *ctx, const char *path, size_t max_bytes,
                             const char *limit_name, char **out, size_t *out_len, char *err,
                             size_t es)
{
    *out = NULL;
    *out_len = 0;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
     * writer for ever; it is refused below as not a regular file. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errbuf_fail(err, es, PLINTH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    plinth_status rc = PLINTH_OK;
    char *buf = NULL;
    if (fstat(fd, &st) != 0) {
        rc = errbuf_fail(err, es, PLINTH_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        rc = errbuf_fail(err, es, PLINTH_ERR_IO, "%s: is a directory, not a file", path);
    } else if (!S_ISREG(st.st_mode)) {
        rc = errbuf_fail(err, es, PLINTH_ERR_IO, "%s: not a regular file (a FIFO, socket or device)",
                         path);
    } else if ((uint64_t)st.st_size > max_bytes) {
        rc = errbuf_fail(err, es, PLINTH_ERR_FORMAT,
                         "%s: %lld bytes, more than the %zu bytes this file may have (%s)", path,
                         (long long)st.st_size, max_bytes, limit_name);
    } else if (!(buf = model_malloc(ctx, (size_t)st.st_size + 1))) {
        rc = errbuf_fail(err, es, PLINTH_ERR_NO_MEMORY, "%s: out of memory reading %lld bytes",
                         path, (long long)st.st_size);
    }
    size_t n = 0;
    while (rc == PLINTH_OK && n < (size_t)st.st_size) {
        ssize_t got = read(fd, buf + n, (size_t)st.st_size - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) /* the file shrank, or an I/O error */
            rc = errbuf_fail(err, es, PLINTH_ERR_IO, "%s: short read (%zu of %lld bytes)%s%s",
                             path, n, (long long)st.st_size, got < 0 ? ": " : "",
                             got < 0 ? strerror(errno) : "");
        else
            n += (size_t)got;
    }
    close(fd);
    if (rc != PLINTH_OK) {
        model_free(ctx, buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return PLINTH_OK;
}

/* --------------------------------------------------------- syntax check --- */

/* A port of cJSON 1.7's parse functions that allocates nothing: the same
 * cursor moves, including its quirks (whitespace that reaches the end
 * steps back one byte; "\uZZZZ" reads as U+0000; a number is the longest
 * strtod prefix of a run of [0-9+-.eE]). One thing differs between cJSON
 * releases: before 1.7.19 (Debian: 1.7.15-1+deb12u3) only the first 63
 * bytes of a run are read, later the whole run. A run longer than 63 bytes
 * is therefore its own verdict (JSON_TEXT_LONG_NUMBER), never a guess. The
 * fuzz harness of config.json checks the port against cJSON on every
 * input. */
typedef struct scan {
    const unsigned char *s;
    size_t len, off;
    unsigned depth;
    json_text_verdict why; /* of a failure */
} scan;

#define AT(c, i) ((c)->off + (i) < (c)->len)

static void skip_ws(scan *c)
{
    if (!AT(c, 0))
        return;
    while (AT(c, 0) && c->s[c->off] <= 32)
        c->off++;
    if (c->off == c->len)
        c->off--;
}

static unsigned hex4(const unsigned char *p)
{
    unsigned h = 0;
    for (int i = 0; i < 4; i++) {
        unsigned d;
        if (p[i] >= '0' && p[i] <= '9')
            d = p[i] - '0';
        else if (p[i] >= 'A' && p[i] <= 'F')
            d = 10u + p[i] - 'A';
        else if (p[i] >= 'a' && p[i] <= 'f')
            d = 10u + p[i] - 'a';
        else
            return 0; /* cJSON reads a bad digit as the code 0 */
        h = (h << 4) | d;
    }
    return h;
}

static bool check_string(scan *c)
{
    if (!AT(c, 0) || c->s[c->off] != '"')
        return false;
    const unsigned char *base = c->s, *p = c->s + c->off + 1, *end = p;
    while ((size_t)(end - base) < c->len && *end != '"') {
        if (*end == '\\') {
            if ((size_t)(end + 1 - base) >= c->len)
                return false;
            end++;
        }
        end++;
    }
    if ((size_t)(end - base) >= c->len || *end != '"')
        return false;
    while (p < end) {
        if (*p != '\\') {
            p++;
            continue;
        }
        size_t step = 2;
        switch (p[1]) {
        case 'b': case 'f': case 'n': case 'r': case 't': case '"': case '\\': case '/':
            break;
        case 'u': {
            if (end - p < 6)
                goto bad;
            unsigned first = hex4(p + 2);
            if (first >= 0xDC00 && first <= 0xDFFF)
                goto bad;
            step = 6;
            if (first >= 0xD800 && first <= 0xDBFF) {
                const unsigned char *q = p + 6;
                if (end - q < 6 || q[0] != '\\' || q[1] != 'u')
                    goto bad;
                unsigned second = hex4(q + 2);
                if (second < 0xDC00 || second > 0xDFFF)
                    goto bad;
                step = 12;
            }
            break;
        }
        default:
            goto bad;
        }
        p += step;
    }
    c->off = (size_t)(end - base) + 1;
    return true;
bad:
    c->off = (size_t)(p - base);
    return false;
}

/* Length of the longest prefix of s[0, n) that strtod reads as a decimal
 * number (s holds only [0-9+-.eE]); 0 if none. */
static size_t strtod_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (s[j] == '+' || s[j] == '-'))
            j++;
        if (j < n && s[j] >= '0' && s[j] <= '9') {
            while (j < n && s[j] >= '0' && s[j] <= '9')
                j++;
            i = j;
        }
    }
    return i;
}

static bool check_number(scan *c)
{
    size_t n = 0;
    while (AT(c, n) && c->s[c->off + n] && strchr("0123456789+-eE.", c->s[c->off + n]))
        n++;
    if (n > 63) {
        c->why = JSON_TEXT_LONG_NUMBER;
        return false;
    }
    size_t used = strtod_prefix(c->s + c->off, n);
    if (used == 0)
        return false;
    c->off += used;
    return true;
}

static bool check_value(scan *c);

/* An array (open '[', close ']') or an object ('{', '}'), as cJSON walks
 * them: the cursor steps back before the first element and forward over
 * each ',' before the next. */
static bool check_container(scan *c, bool object)
{
    const unsigned char open = object ? '{' : '[', close = object ? '}' : ']';
    if (c->depth >= CJSON_NESTING_LIMIT) {
        c->why = JSON_TEXT_TOO_DEEP;
        return false;
    }
    c->depth++;
    if (!AT(c, 0) || c->s[c->off] != open)
        return false;
    c->off++;
    skip_ws(c);
    if (AT(c, 0) && c->s[c->off] == close)
        goto done;
    if (!AT(c, 0)) {
        c->off--;
        return false;
    }
    c->off--;
    do {
        c->off++;
        skip_ws(c);
        if (object) {
            if (!check_string(c))
                return false;
            skip_ws(c);
            if (!AT(c, 0) || c->s[c->off] != ':')
                return false;
            c->off++;
            skip_ws(c);
        }
        if (!check_value(c))
            return false;
        skip_ws(c);
    } while (AT(c, 0) && c->s[c->off] == ',');
    if (!AT(c, 0) || c->s[c->off] != close)
        return false;
done:
    c->depth--;
    c->off++;
    return true;
}

static bool lit(const scan *c, const char *w, size_t n)
{
    return c->off + n <= c->len && memcmp(c->s + c->off, w, n) == 0;
}

static bool check_value(scan *c)
{
    if (lit(c, "null", 4) || lit(c, "true", 4)) {
        c->off += 4;
        return true;
    }
    if (lit(c, "false", 5)) {
        c->off += 5;
        return true;
    }
    if (!AT(c, 0))
        return false;
    const unsigned char ch = c->s[c->off];
    if (ch == '"')
        return check_string(c);
    if (ch == '-' || (ch >= '0' && ch <= '9'))
        return check_number(c);
    if (ch == '[' || ch == '{')
        return check_container(c, ch == '{');
    return false;
}

json_text_verdict json_text_check(const char *text, size_t len, size_t *fail_at)
{
    scan c = {.s = (const unsigned char *)text, .len = len, .why = JSON_TEXT_SYNTAX};
    *fail_at = 0;
    if (len == 0)
        return JSON_TEXT_SYNTAX;
    if (len >= 5 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) /* a UTF-8 byte order mark */
        c.off = 3;
    skip_ws(&c);
    if (check_value(&c))
        return JSON_TEXT_OK;
    *fail_at = c.off < len ? c.off : len - 1;
    return c.why;
}

/* --------------------------------------------------- decoding a string --- */

/* One byte of the decoded string: counted, written while it fits. */
static void put_byte(char *out, size_t cap, size_t *n, unsigned char b)
{
    if (*n + 1 < cap)
        out[*n] = (char)b;
    (*n)++;
}

size_t json_text_string(const char *text, size_t len, char *out, size_t cap)
{
    /* cJSON's parse_string and utf16_literal_to_utf8, writing into out. */
    const unsigned char *p = (const unsigned char *)text + 1, *lim = (const unsigned char *)text + len;
    const unsigned char *end = p;
    while (end < lim && *end != '"')
        end += *end == '\\' && end + 1 < lim ? 2 : 1;
    size_t n = 0;
    while (p < end) {
        unsigned char b = *p;
        size_t step = 1;
        uint32_t cp = 0;
        bool utf16 = false;
        if (b == '\\' && p + 1 < end) {
            step = 2;
            switch (p[1]) {
            case 'b': b = '\b'; break;
            case 'f': b = '\f'; break;
            case 'n': b = '\n'; break;
            case 'r': b = '\r'; break;
            case 't': b = '\t'; break;
            case 'u':
                if (end - p < 6)
                    goto done; /* json_text_check refuses it */
                cp = hex4(p + 2);
                step = 6;
                if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 12)
                    cp = 0x10000 + (((cp & 0x3FF) << 10) | (hex4(p + 8) & 0x3FF)), step = 12;
                utf16 = true;
                break;
            default: b = p[1]; break; /* '"', '\\', '/' (json_text_check refuses others) */
            }
        }
        p += step;
        if (!utf16) {
            if (b == 0)
                break; /* a C string ends at its first NUL */
            put_byte(out, cap, &n, b);
            continue;
        }
        if (cp == 0)
            break;
        if (cp < 0x80) {
            put_byte(out, cap, &n, (unsigned char)cp);
        } else if (cp < 0x800) {
            put_byte(out, cap, &n, (unsigned char)(0xC0 | (cp >> 6)));
            put_byte(out, cap, &n, (unsigned char)(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            put_byte(out, cap, &n, (unsigned char)(0xE0 | (cp >> 12)));
            put_byte(out, cap, &n, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
            put_byte(out, cap, &n, (unsigned char)(0x80 | (cp & 0x3F)));
        } else {
            put_byte(out, cap, &n, (unsigned char)(0xF0 | (cp >> 18)));
            put_byte(out, cap, &n, (unsigned char)(0x80 | ((cp >> 12) & 0x3F)));
            put_byte(out, cap, &n, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
            put_byte(out, cap, &n, (unsigned char)(0x80 | (cp & 0x3F)));
        }
    }
done:
    if (cap)
        out[n < cap ? n : cap - 1] = '\0';
    return n;
}

/* ------------------------------------------------------------- parsing --- */

const char *json_text_show(const cJSON *j, char *buf, size_t size)
{
    if (cJSON_IsNumber(j)) {
        /* The shortest form that reads back as the same double: 1e+38,
         * not 9.9999999999999998e+37. */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, size, "%.*g", prec, j->valuedouble);
            if (strtod(buf, NULL) == j->valuedouble)
                break;
        }
    }
    else if (cJSON_IsString(j))
        snprintf(buf, size, "\"%.40s\"%s", j->valuestring, strlen(j->valuestring) > 40 ? "..." : "");
    else
        snprintf(buf, size, "%s",
                 cJSON_IsBool(j)     ? (cJSON_IsTrue(j) ? "true" : "false")
                 : cJSON_IsNull(j)   ? "null"
                 : cJSON_IsArray(j)  ? "an array"
                 : cJSON_IsObject(j) ? "an object"
                                     : "missing");
    return buf;
}

cJSON *json_text_parse(const char *text, size_t len, const char *where, plinth_status *out_status,
                       char *err, size_t es)
{
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, NULL, false);
    if (root) {
        *out_status = PLINTH_OK;
        return root;
    }
    size_t at;
    const json_text_verdict v = json_text_check(text, len, &at);
    if (v == JSON_TEXT_OK) {
        *out_status = errbuf_fail(err, es, PLINTH_ERR_NO_MEMORY,
                                  "%s: out of memory parsing %zu bytes of JSON", where, len);
        return NULL;
    }
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at; i++) {
        if (text[i] == '\n')
            line++, col = 1;
        else
            col++;
    }
    if (len == 0)
        *out_status = errbuf_fail(err, es, PLINTH_ERR_FORMAT, "%s: empty, not valid JSON", where);
    else if (v == JSON_TEXT_TOO_DEEP)
        *out_status = errbuf_fail(err, es, PLINTH_ERR_FORMAT,
                                  "%s: JSON nested deeper than %d levels (line %zu, column %zu)",
                                  where, CJSON_NESTING_LIMIT, line, col);
    else if (v == JSON_TEXT_LONG_NUMBER)
        *out_status = errbuf_fail(err, es, PLINTH_ERR_FORMAT,
                                  "%s: a number of more than 63 characters (line %zu, column %zu)",
                                  where, line, col);
    else
        *out_status = errbuf_fail(err, es, PLINTH_ERR_FORMAT,
                                  "%s: not valid JSON (error at line %zu, column %zu, byte %zu)",
                                  where, line, col, at);
    return NULL;
}
