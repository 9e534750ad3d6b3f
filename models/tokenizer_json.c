/*
 * tokenizer_json.c — reading a tokenizer.json without a tree for its big
 * parts. Sections: walking validated text, strings and numbers, the small
 * tree.
 *
 * Parsing Gemma 3's 33 MB tokenizer.json into one cJSON tree cost 216 MB
 * of RSS (1.3 million small nodes, which glibc keeps after the tree is
 * freed). model.vocab and model.merges are nearly all of it and are read
 * once, in order, so they are walked in place: the whole text is first
 * checked with json_text_check (cJSON's grammar, no allocation), then
 * spans of it are visited; so are the added tokens (Gemma 3 has 6415, which
 * cost 100,000 allocations as a tree). Everything else (normalizer,
 * pre-tokenizer, decoder: a few KB) is parsed by cJSON, one member at a
 * time, into a small tree. Strings with escapes are decoded as cJSON
 * decodes them (json_text_string), so a key reads exactly as it did from
 * the tree, without allocating.
 */
#include "tokenizer_internal.h"
#include "json_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------- walking valid text */

/* cJSON's white space: any byte up to ' '. */
static size_t skip_ws(const char *s, size_t end, size_t i)
{
    while (i < end && (unsigned char)s[i] <= 32) i++;
    return i;
}

/* The end of the value that starts at s[i]. The text passed
 * json_text_check, so strings close and brackets balance. */
static size_t value_end(const char *s, size_t end, size_t i)
{
    if (s[i] == '"') {
        /* memchr to each quote; one preceded by an odd run of
         * backslashes is escaped. */
        const size_t open = i++;
        for (;;) {
            const char *q = memchr(s + i, '"', end - i);
            if (!q) return end;
            size_t j = (size_t)(q - s), bs = 0;
            while (j - bs - 1 > open && s[j - bs - 1] == '\\') bs++;
            if (bs % 2 == 0) return j + 1;
            i = j + 1;
        }
    }
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        for (; i < end; i++) {
            const char ch = s[i];
            if (ch == '"') i = value_end(s, end, i) - 1; /* strings hide brackets */
            else if (ch == '{' || ch == '[') depth++;
            else if ((ch == '}' || ch == ']') && --depth == 0) return i + 1;
        }
        return end;
    }
    /* a number or a literal: up to the next delimiter */
    while (i < end && s[i] != ',' && s[i] != '}' && s[i] != ']' && (unsigned char)s[i] > 32) i++;
    return i;
}

tokj_span tokj_root(const char *s, size_t len)
{
    size_t i = 0;
    if (len >= 5 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) i = 3; /* as json_text_check */
    i = skip_ws(s, len, i);
    return (tokj_span){i, i < len ? value_end(s, len, i) : len};
}

bool tokj_is(const char *s, tokj_span v, char open)
{
    return v.end > v.start && s[v.start] == open;
}

/* Members of an object and elements of an array share one walk: *pos is 0
 * before the first, then the end of the last value read. */
static bool next_item(const char *s, tokj_span c, size_t *pos, tokj_span *key, tokj_span *val)
{
    size_t i = skip_ws(s, c.end, *pos ? *pos : c.start + 1);
    if (i < c.end && s[i] == ',') i = skip_ws(s, c.end, i + 1);
    if (i >= c.end - 1 || s[i] == '}' || s[i] == ']') return false;
    if (key) {
        key->start = i;
        key->end = value_end(s, c.end, i);
        i = skip_ws(s, c.end, skip_ws(s, c.end, key->end) + 1); /* past ':' */
    }
    val->start = i;
    val->end = value_end(s, c.end, i);
    *pos = val->end;
    return true;
}

bool tokj_member(const char *s, tokj_span obj, size_t *pos, tokj_span *key, tokj_span *val)
{
    return next_item(s, obj, pos, key, val);
}

bool tokj_element(const char *s, tokj_span arr, size_t *pos, tokj_span *val)
{
    return next_item(s, arr, pos, NULL, val);
}

/* -------------------------------------------------- strings and numbers */

int tokj_string(const char *s, tokj_span v, tok_buf *scratch, const char **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!tokj_is(s, v, '"')) return 1;
    const char *body = s + v.start + 1;
    const size_t raw = v.end - v.start - 2;
    if (!memchr(body, '\\', raw)) {
        *out = body;
        *n = raw;
        return 0;
    }
    /* Escapes: decoded as cJSON decodes them, so the text is what the tree
     * held (a "\u0000" ends it, as it ended cJSON's C string). Escapes
     * only shorten, so the span's length is room enough. */
    if (tok_buf_reserve(scratch, v.end - v.start)) return -1;
    *n = json_text_string(s + v.start, v.end - v.start, scratch->p, scratch->cap);
    *out = scratch->p;
    return 0;
}

bool tokj_key_is(const char *s, tokj_span key, const char *name)
{
    const size_t n = strlen(name), raw = key.end - key.start - 2;
    const char *body = s + key.start + 1;
    if (!memchr(body, '\\', raw)) return raw == n && memcmp(body, name, n) == 0;
    /* Equal as C strings, as cJSON's lookup compares (names are short). */
    char buf[64];
    const size_t k = json_text_string(s + key.start, key.end - key.start, buf, sizeof buf);
    return k == n && n < sizeof buf && memcmp(buf, name, n) == 0;
}

bool tokj_number(const char *s, tokj_span v, double *out)
{
    /* cJSON reads a number as strtod of its run of [0-9+-.eE]; the text
     * passed json_text_check, so the run is short and well-formed. */
    char buf[64];
    size_t k = 0;
    if (!(s[v.start] == '-' || (s[v.start] >= '0' && s[v.start] <= '9'))) return false;
    for (size_t i = v.start; i < v.end && k < sizeof buf - 1 && strchr("0123456789+-eE.", s[i]); i++)
        buf[k++] = s[i];
    buf[k] = 0;
    *out = strtod(buf, NULL);
    return true;
}

const char *tokj_show(const char *s, tokj_span v, char *buf, size_t size)
{
    if (tokj_is(s, v, '{')) return snprintf(buf, size, "an object"), buf;
    if (tokj_is(s, v, '[')) return snprintf(buf, size, "an array"), buf;
    /* A string, number or literal: small enough to parse for the message. */
    cJSON *j = v.end > v.start ? cJSON_ParseWithLength(s + v.start, v.end - v.start) : NULL;
    json_text_show(j, buf, size);
    cJSON_Delete(j);
    return buf;
}

bool tokj_get(const char *s, tokj_span obj, const char *key, tokj_span *val)
{
    size_t pos = 0;
    tokj_span k;
    if (!tokj_is(s, obj, '{')) return false;
    while (tokj_member(s, obj, &pos, &k, val))
        if (tokj_key_is(s, k, key)) return true;
    return false;
}

/* -------------------------------------------------------- the small tree */

/* cJSON of one value, or NULL when out of memory (the text is valid). */
static cJSON *parse_span(const char *s, tokj_span v)
{
    return cJSON_ParseWithLength(s + v.start, v.end - v.start);
}

/* An object's members as a cJSON object, each parsed on its own; a key
 * seen before is skipped (cJSON's lookup finds the first). The first
 * "added_tokens" of the root and "vocab" and "merges" of its "model" are
 * not parsed: their spans go to big[2], big[0] and big[1]. */
static cJSON *object_tree(plinth_context *ctx, const char *s, tokj_span obj, tokj_span *big, int depth)
{
    cJSON *o = cJSON_CreateObject();
    size_t pos = 0;
    tokj_span k, v;
    tok_buf name = {.ctx = ctx};
    while (o && tokj_member(s, obj, &pos, &k, &v)) {
        const char *kp;
        size_t kn;
        if (tokj_string(s, k, &name, &kp, &kn)) goto oom;
        if (kp != name.p) { /* not escaped: copy to terminate it */
            if (tok_buf_reserve(&name, kn + 1)) goto oom;
            memcpy(name.p, kp, kn);
            name.p[kn] = 0;
        }
        if (cJSON_GetObjectItemCaseSensitive(o, name.p)) continue;
        cJSON *item = NULL;
        const int slot = depth == 0 ? (strcmp(name.p, "added_tokens") == 0 ? 2 : -1)
                         : strcmp(name.p, "vocab") == 0 ? 0 : strcmp(name.p, "merges") == 0 ? 1 : -1;
        if (slot >= 0) {
            big[slot] = v;
            item = cJSON_CreateNull(); /* a placeholder, so a later duplicate stays unread */
        } else if (depth == 0 && strcmp(name.p, "model") == 0 && tokj_is(s, v, '{')) {
            item = object_tree(ctx, s, v, big, 1);
        } else {
            item = parse_span(s, v);
        }
        if (!item) goto oom;
        if (!cJSON_AddItemToObject(o, name.p, item)) {
            cJSON_Delete(item);
            goto oom;
        }
    }
    tok_buf_free(&name);
    return o;
oom:
    tok_buf_free(&name);
    cJSON_Delete(o);
    return NULL;
}

cJSON *tokj_tree(plinth_context *ctx, const char *s, tokj_span root, tokj_span big[3])
{
    for (int i = 0; i < 3; i++) big[i] = (tokj_span){0, 0};
    return object_tree(ctx, s, root, big, 0);
}
