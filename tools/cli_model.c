/*
 * cli_model.c — what the model commands share (cli_lm.h): opening a model
 * folder with plinth_lm_open on the backend list with a progress bar, the
 * MODEL argument, reading a prompt from a file or stdin, peak memory, and
 * JSON on stdout.
 */
#include "cli_lm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------- opening --- */

static void progress_bar(void *user, double f)
{
    (void)user;
    int w = (int)(f * 40.0 + 0.5);
    fprintf(stderr, "\rloading [%.*s%*s] %3d%%", w, "########################################",
            40 - w, "", (int)(f * 100.0 + 0.5));
    if (f >= 1.0)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

void cli_lm_close(cli_lm *m)
{
    plinth_lm_close(m->lm);
    cli_close_backends(m->list, m->n_backends);
    plinth_context_destroy(m->ctx);
    memset(m, 0, sizeof *m);
}

int cli_lm_fail(const cli_lm *m, const char *what)
{
    fprintf(stderr, "plinth: %s%s%s\n", what ? what : "", what ? ": " : "",
            plinth_context_error(m->ctx));
    return 1;
}

int cli_lm_open(const cli_options *o, const char *dir, plinth_lm_options opts, cli_lm *m)
{
    memset(m, 0, sizeof *m);
    opts.quantize = o->quantize;
    /* Said before any backend is opened, and in the words a user expects
     * (not the first file the loader fails to find). */
    struct stat st; /* a folder, or a GGUF file (by its magic) */
    char magic[4] = {0};
    FILE *f = stat(dir, &st) == 0 && S_ISREG(st.st_mode) ? fopen(dir, "rb") : NULL;
    const bool gguf = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
    if (f)
        fclose(f);
    if (stat(dir, &st) != 0 || !(S_ISDIR(st.st_mode) || gguf)) {
        const bool there = errno != ENOENT;
        fprintf(stderr, "plinth: %s: %s\n", dir,
                !there ? "no such model folder"
                : stat(dir, &st) == 0 ? "not a model folder (nor a GGUF file)" : strerror(errno));
        return 1;
    }
    if (!(m->ctx = cli_context(o)) ||
        !(m->n_backends = cli_open_backends(m->ctx, o, m->list, PLINTH_MAX_BACKENDS)))
        return 1;
    cli_backend_names(m->list, m->n_backends, m->names, sizeof m->names);
    opts.struct_size = sizeof opts;
    opts.split_layers = (int32_t)o->split_layers;
    if (isatty(STDERR_FILENO) && !o->json)
        opts.progress = progress_bar;
    double t0 = cli_now_ms();
    if (plinth_lm_open(m->list, m->n_backends, dir, &opts, &m->lm) != PLINTH_OK)
        return cli_lm_fail(m, NULL); /* the message names the file and key */
    m->load_ms = cli_now_ms() - t0;
    m->info.struct_size = sizeof m->info;
    if (plinth_lm_query_info(m->lm, &m->info) != PLINTH_OK)
        return cli_lm_fail(m, "model info");
    if (o->verbose) {
        if (m->info.note[0])
            fprintf(stderr, "plinth: %s\n", m->info.note);
        fprintf(stderr,
                "plinth: %s: %s, %d layers, hidden %d, vocab %d, %s weights%s on '%s'; "
                "context %d, prefill %d tokens per run; chat template %s; loaded in %.0f ms\n",
                dir, m->info.arch, (int)m->info.n_layers, (int)m->info.hidden,
                (int)m->info.vocab, m->info.weights, m->info.converted ? " (as f32)" : "",
                m->names, (int)m->info.n_ctx, (int)m->info.n_batch,
                m->info.chat_template[0] ? m->info.chat_template : "none", m->load_ms);
    }
    return 0;
}

/* ----------------------------------------------------------- text --- */

int cli_lm_tokenize(const cli_lm *m, const char *text, size_t len, int32_t **ids, size_t *n)
{
    /* A token covers at least one byte of the text in the tokenizers
     * plinth reads, bos aside: one call is enough; if a tokenizer ever
     * gives more, the second call has the size it asked for. */
    size_t cap = len + 2;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!(*ids = malloc(cap * sizeof **ids))) {
            fprintf(stderr, "plinth: tokenize: out of memory\n");
            return 1;
        }
        *n = 0;
        plinth_status st = plinth_lm_tokenize(m->lm, text, len, true, *ids, cap, n);
        if (st == PLINTH_OK)
            return 0;
        free(*ids);
        *ids = NULL;
        if (*n <= cap)
            break; /* not a matter of room */
        cap = *n;
    }
    return cli_lm_fail(m, NULL);
}

char *cli_lm_chat_text(const cli_lm *m, const plinth_lm_message *msgs, size_t n)
{
    size_t len = 0;
    if (plinth_lm_chat_format(m->lm, msgs, n, true, NULL, 0, &len) != PLINTH_OK) {
        cli_lm_fail(m, NULL);
        return NULL;
    }
    char *text = malloc(len + 1);
    if (!text) {
        fprintf(stderr, "plinth: chat: out of memory\n");
        return NULL;
    }
    if (plinth_lm_chat_format(m->lm, msgs, n, true, text, len + 1, &len) != PLINTH_OK) {
        free(text);
        cli_lm_fail(m, NULL);
        return NULL;
    }
    text[len] = '\0';
    return text;
}

/* --------------------------------------------------------- arguments --- */

const char *cli_model_dir(const char *m_flag, int argc, char **argv, const char *usage)
{
    const int n_pos = argc - optind;
    if (m_flag && n_pos == 0)
        return m_flag;
    if (!m_flag && n_pos == 1)
        return argv[optind];
    if (m_flag || n_pos > 1)
        fprintf(stderr, "plinth: one model folder, please (-m DIR or DIR), not %d\n",
                n_pos + (m_flag != NULL));
    fputs(usage, stderr);
    return NULL;
}

/* A prompt of more than this is refused before it is read whole: the
 * tokenizer takes at most 16 MiB (MODEL_MAX_ENCODE_BYTES) and says so. */
#define CLI_MAX_PROMPT_BYTES ((size_t)64 << 20)

char *cli_read_prompt(const char *path, const char *flag)
{
    const bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "plinth: %s %s: %s\n", flag, path, strerror(errno));
        return NULL;
    }
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 == cap) {
            char *grown = cap < CLI_MAX_PROMPT_BYTES ? realloc(buf, cap * 2) : NULL;
            if (!grown) {
                fprintf(stderr, "plinth: %s %s: %s\n", flag, is_stdin ? "(stdin)" : path,
                        cap < CLI_MAX_PROMPT_BYTES ? "out of memory" : "more than 64 MiB");
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - 1 - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                fprintf(stderr, "plinth: %s %s: %s\n", flag, is_stdin ? "(stdin)" : path,
                        strerror(errno));
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (!is_stdin)
        fclose(f);
    if (!buf)
        return NULL;
    if (len && buf[len - 1] == '\n')
        len--;
    buf[len] = '\0';
    return buf;
}

/* ------------------------------------------------------------ output --- */

uint64_t cli_peak_rss(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss * 1024u;
}

int cli_print_json(cJSON *j)
{
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text) {
        fprintf(stderr, "plinth: out of memory writing JSON\n");
        return 1;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}
