/*
 * expect.c — per-backend expectations as data: configurations to run,
 * skips and expected failures, each with its reason.
 *
 * Sections: 1 parsing (format in conformance.h); 2 loading a file;
 * 3 matching a case.
 */
#include "conf_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ 1 --- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static bool fail(char *err, size_t size, const char *where, int line, const char *what)
{
    snprintf(err, size, "%s:%d: %s", where, line, what);
    return false;
}

bool conf_expect_parse(conf_expect *e, const char *text, const char *where, char *err,
                       size_t err_size)
{
    char *copy = strdup(text ? text : "");
    if (!copy)
        return fail(err, err_size, where, 0, "out of memory");
    int line_no = 0;
    bool ok = true;
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line && ok;
         line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char kw[64];
        size_t kl = strcspn(s, " \t");
        if (kl >= sizeof kw) {
            ok = fail(err, err_size, where, line_no, "unknown keyword");
            break;
        }
        memcpy(kw, s, kl);
        kw[kl] = '\0';
        char *rest = trim(s + kl);
        if (strcmp(kw, "config") == 0) {
            if (e->n_configs == CONF_MAX_CONFIGS) {
                ok = fail(err, err_size, where, line_no, "too many config lines");
                break;
            }
            /* Words become one key=value,key=value string. */
            char *dst = e->configs[e->n_configs];
            size_t n = 0;
            for (char *w = strtok(rest, " \t,"); w; w = strtok(NULL, " \t,"))
                n += (size_t)snprintf(dst + n, n < 128 ? 128 - n : 0, "%s%s", n ? "," : "", w);
            if (strcmp(dst, "default") == 0)
                dst[0] = '\0';
            e->n_configs++;
            continue;
        }
        int32_t status;
        char *at = strchr(kw, '@');
        if (at)
            *at++ = '\0';
        if (strcmp(kw, "skip") == 0)
            status = CONF_SKIP;
        else if (strcmp(kw, "xfail") == 0)
            status = CONF_XFAIL;
        else {
            ok = fail(err, err_size, where, line_no,
                      "unknown keyword (expected config, skip, xfail)");
            break;
        }
        /* The reason follows the last " : " (patterns may contain ':'). */
        char *colon = strstr(rest, " : ");
        for (char *nx = colon; nx; nx = strstr(nx + 1, " : "))
            colon = nx;
        char *reason = colon ? trim(colon + 3) : NULL;
        if (!colon || !*reason) {
            ok = fail(err, err_size, where, line_no,
                      status == CONF_SKIP ? "a skip needs a reason: 'skip PATTERN : REASON'"
                                          : "an xfail needs a reason: 'xfail PATTERN : REASON'");
            break;
        }
        *colon = '\0';
        char *pattern = trim(rest);
        if (!*pattern) {
            ok = fail(err, err_size, where, line_no, "empty pattern");
            break;
        }
        conf_expect_entry *v = realloc(e->entries, (e->n_entries + 1) * sizeof *v);
        if (!v) {
            ok = fail(err, err_size, where, line_no, "out of memory");
            break;
        }
        e->entries = v;
        conf_expect_entry *x = &v[e->n_entries++];
        memset(x, 0, sizeof *x);
        x->status = status;
        snprintf(x->pattern, sizeof x->pattern, "%s", pattern);
        snprintf(x->reason, sizeof x->reason, "%s", reason);
        if (at) {
            /* The config qualifier, normalised like config lines. */
            size_t n = 0;
            for (char *w = strtok(at, " \t,"); w; w = strtok(NULL, " \t,"))
                n += (size_t)snprintf(x->config + n, n < sizeof x->config ? sizeof x->config - n : 0,
                                      "%s%s", n ? "," : "", w);
        }
    }
    free(copy);
    return ok;
}

/* ------------------------------------------------------------------ 2 --- */

bool conf_expect_load(conf_expect *e, const char *dir, const char *backend, char *err,
                      size_t err_size)
{
    memset(e, 0, sizeof *e);
    snprintf(e->backend, sizeof e->backend, "%s", backend);
    if (!dir || !*dir)
        return true;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.txt", dir, backend);
    FILE *f = fopen(path, "rb");
    if (!f)
        return true; /* no file: the default config, nothing expected */
    snprintf(e->path, sizeof e->path, "%s", path);
    char *text = NULL;
    size_t len = 0, cap = 0;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + got + 1 > cap) {
            cap = (len + got + 1) * 2;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                snprintf(err, err_size, "%s: out of memory", path);
                return false;
            }
            text = t;
        }
        memcpy(text + len, chunk, got);
        len += got;
    }
    fclose(f);
    if (text)
        text[len] = '\0';
    bool ok = conf_expect_parse(e, text ? text : "", path, err, err_size);
    free(text);
    return ok;
}

void conf_expect_free(conf_expect *e)
{
    free(e->entries);
    e->entries = NULL;
    e->n_entries = 0;
}

/* ------------------------------------------------------------------ 3 --- */

/* A glob with only '*' and '?': case names are full of '[' and ']', which
 * fnmatch would take for character classes. */
bool conf_glob(const char *pat, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == '?' || *pat == *s) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

conf_expect_entry *conf_expect_match(conf_expect *e, const char *case_name, const char *config)
{
    for (uint32_t i = 0; i < e->n_entries; i++) {
        conf_expect_entry *x = &e->entries[i];
        if (x->config[0] && strcmp(x->config, config ? config : "") != 0)
            continue;
        if (conf_glob(x->pattern, case_name)) {
            x->hits++;
            return x;
        }
    }
    return NULL;
}
