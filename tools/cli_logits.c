/*
 * cli_logits.c — `plinth logits`: the logits of every position of a list
 * of token ids, raw little-endian f32 [n_tokens][vocab], through one
 * session of an lm opened with all_logits (plinth_lm_decode). Needs no
 * tokenizer.
 */
#include "cli_lm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char logits_usage[] =
    "usage: plinth logits [-m] MODEL --tokens 2,17,9,... --out FILE [--chunk N] [--f32]\n"
    "                     [--json] [--backend=NAME[,NAME...]] [--fallback=NAME]\n"
    "                     [--split-layers=N]\n"
    "Writes the logits of every position, raw little-endian f32 [n_tokens][vocab],\n"
    "computed by the prefill program (in runs of --chunk tokens, default all up to 256).\n"
    "--f32 converts the weights to f32 at load. --json prints what was written (the\n"
    "file, its shape) as one JSON object. The model needs no tokenizer.json.\n";

enum { OPT_TOKENS = CLI_OPT_FIRST_FREE, OPT_OUT, OPT_CHUNK, OPT_F32 };

/* "2,17,9" -> ids (malloc'ed). */
static int parse_ids(const char *s, int32_t **out, int32_t *n_out)
{
    size_t cap = 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    while (ids && *s) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            fprintf(stderr, "plinth: --tokens wants comma-separated ids, got '%s'\n", s);
            free(ids);
            return -1;
        }
        if (n == cap) {
            int32_t *grown = n < INT32_MAX / 2 ? realloc(ids, (cap *= 2) * sizeof *ids) : NULL;
            if (!grown) {
                free(ids);
                ids = NULL;
                break;
            }
            ids = grown;
        }
        ids[n++] = (int32_t)v;
        s = *end ? end + 1 : end;
    }
    if (!ids || n == 0) {
        fprintf(stderr, "plinth: --tokens: %s\n", ids ? "no ids" : "out of memory");
        free(ids);
        return -1;
    }
    *out = ids;
    *n_out = (int32_t)n;
    return 0;
}

static int write_logits(const char *path, const float *logits, size_t count)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(logits, sizeof *logits, count, fp) != count || fclose(fp) != 0) {
        fprintf(stderr, "plinth: %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

int cli_logits(cli_options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"tokens", required_argument, NULL, OPT_TOKENS}, {"out", required_argument, NULL, OPT_OUT},
        {"chunk", required_argument, NULL, OPT_CHUNK}, {"f32", no_argument, NULL, OPT_F32},
        CLI_COMMON_LONGOPTS};
    const char *tokens = NULL, *out = NULL, *model = NULL;
    uint32_t chunk = 0;
    bool f32 = false;
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_OPTSTRING "m:o:", longopts, NULL)) != -1) {
        if (c == 'm') {
            model = optarg;
        } else if (c == OPT_TOKENS) {
            tokens = optarg;
        } else if (c == OPT_OUT || c == 'o') {
            out = optarg;
        } else if (c == OPT_F32) {
            f32 = true;
        } else if (c == OPT_CHUNK) {
            if (cli_parse_u32(optarg, "--chunk", &chunk))
                return 2;
        } else {
            int rc = cli_common_flag(c, o, logits_usage);
            if (rc != CLI_PARSED)
                return rc;
        }
    }
    if (!(model = cli_model_dir(model, argc, argv, logits_usage)))
        return 2;
    if (!tokens || !out) {
        fputs(logits_usage, stderr);
        return 2;
    }
    int32_t *ids = NULL, n = 0;
    if (parse_ids(tokens, &ids, &n))
        return 2;
    if (chunk > (uint32_t)n)
        chunk = (uint32_t)n;
    plinth_lm_options lo = {.n_ctx = n, .all_logits = true, .force_f32 = f32,
                            .n_batch = chunk ? (int32_t)chunk : n < 256 ? n : 256};
    cli_lm m;
    int rc = cli_lm_open(o, model, lo, &m);
    plinth_lm_session *s = NULL;
    float *logits = NULL;
    const size_t V = (size_t)m.info.vocab, count = (size_t)n * V;
    if (!rc && plinth_lm_session_create(m.lm, &s) != PLINTH_OK)
        rc = cli_lm_fail(&m, "session");
    if (!rc && !(logits = malloc(count * sizeof *logits))) {
        fprintf(stderr, "plinth: out of memory\n");
        rc = 1;
    }
    if (!rc && plinth_lm_decode(s, ids, (size_t)n, logits) != PLINTH_OK)
        rc = cli_lm_fail(&m, NULL);
    if (!rc)
        rc = write_logits(out, logits, count);
    if (!rc && o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", model);
        cJSON_AddStringToObject(j, "arch", m.info.arch);
        cJSON_AddStringToObject(j, "backend", m.names);
        cJSON_AddStringToObject(j, "out", out);
        cJSON_AddNumberToObject(j, "n_tokens", n);
        cJSON_AddNumberToObject(j, "vocab", (double)V);
        cJSON_AddStringToObject(j, "dtype", "f32");
        cJSON_AddNumberToObject(j, "bytes", (double)(count * sizeof *logits));
        rc = cli_print_json(j);
    } else if (!rc && o->verbose) {
        fprintf(stderr, "plinth: wrote %d x %zu logits to %s\n", (int)n, V, out);
    }
    plinth_lm_session_destroy(s);
    free(logits);
    free(ids);
    cli_lm_close(&m);
    return rc;
}
