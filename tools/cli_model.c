/*
 * cli_model.c — the Gemma 3 commands: run, logits, tokenize, bench (plan
 * MODEL is in cli_model_plan.c, init-random in cli_init_random.c).
 *
 * Sections: shared helpers (opening a model on its backends with a progress
 * bar, peak RSS, UTF-8 streaming); run; logits; tokenize; bench.
 */
#include "cli.h"
#include "cli_session.h"
#include "fmapeak.h"
#include "lm_model.h"
#include "sampling.h"
#include "tokenizer.h"

#include <cJSON.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers --- */

void session_close(session *s)
{
    lm_model_free(s->m);
    cli_close_backends(s->list, s->n_backends);
    plinth_context_destroy(s->ctx);
    memset(s, 0, sizeof *s);
}

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

int session_open(const cli_options *o, const char *dir, lm_model_options go, session *s)
{
    memset(s, 0, sizeof *s);
    if (!(s->ctx = cli_context(o)) ||
        !(s->n_backends = cli_open_backends(s->ctx, o, s->list, PLINTH_MAX_BACKENDS)))
        return 1;
    s->backend = s->list[0];
    cli_backend_names(s->list, s->n_backends, s->names, sizeof s->names);
    /* A list: the others are fallbacks; --split-layers pins layers. */
    go.fallbacks = s->list + 1;
    go.n_fallbacks = s->n_backends - 1;
    go.split_layers = (int32_t)o->split_layers;
    if (isatty(STDERR_FILENO) && !o->json)
        go.progress = progress_bar;
    char err[2048];
    double t0 = cli_now_ms();
    if (lm_model_load(s->ctx, s->backend, dir, &go, &s->m, err, sizeof err) != PLINTH_OK) {
        fprintf(stderr, "plinth: %s\n", err);
        return 1;
    }
    s->load_ms = cli_now_ms() - t0;
    if (lm_model_note(s->m)[0] && o->verbose)
        fprintf(stderr, "plinth: %s\n", lm_model_note(s->m));
    if (o->verbose) {
        const lm_config *c = lm_model_config(s->m);
        fprintf(stderr,
                "plinth: %s: %d layers, hidden %d, vocab %d, %s weights%s on '%s'; "
                "context %d, prefill %d tokens per run; loaded in %.0f ms\n",
                dir, (int)c->n_layers, (int)c->hidden, (int)c->vocab,
                lm_model_weights_dtype(s->m), lm_model_weights_converted(s->m) ? " (as f32)" : "",
                s->names, (int)lm_model_n_ctx(s->m),
                (int)lm_model_n_prefill(s->m), s->load_ms);
    }
    return 0;
}

static uint64_t peak_rss_bytes(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss * 1024u;
}

/* Length of the prefix of buf[0..n) that ends on a UTF-8 sequence boundary
 * (an incomplete multi-byte sequence at the end is held back). */
static size_t utf8_complete(const char *buf, size_t n)
{
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char c = (unsigned char)buf[n - back];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation byte: look further back */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? n - back : n;
    }
    return n; /* no lead byte in reach: invalid anyway, let it out */
}

static int load_tokenizer(const char *dir, tokenizer **tok)
{
    char err[1024];
    if (tokenizer_load(dir, tok, err, sizeof err) != 0) {
        fprintf(stderr, "plinth: tokenizer: %s\n", err);
        return 1;
    }
    return 0;
}

static int parse_float(const char *s, const char *flag, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno) {
        fprintf(stderr, "plinth: %s wants a number, got '%s'\n", flag, s);
        return -1;
    }
    *out = (float)v;
    return 0;
}

/* ----------------------------------------------------------------- run --- */

static const char run_usage[] =
    "usage: plinth run MODEL -p TEXT [--chat] [-n N] [--temp T] [--top-k K] [--top-p P]\n"
    "                  [--seed S] [--ctx N] [--backend=NAME[,NAME...]] [--fallback=NAME]\n"
    "                  [--split-layers=N] [--device=N] [--threads=N]\n"
    "Generates text after TEXT, streamed, then a timing line on stderr.\n"
    "  -p, --prompt TEXT   the prompt (with --chat: one user turn of Gemma's chat template)\n"
    "  -n N                at most N new tokens (default 128); stops at <eos>/<end_of_turn>\n"
    "      --temp T        temperature (default 1.0; 0 = greedy)\n"
    "      --top-k K       keep the K most likely tokens (default 64; 0 = all)\n"
    "      --top-p P       nucleus: the smallest set with mass >= P (default 0.95)\n"
    "      --seed S        RNG seed (default 42)\n"
    "      --ctx N         KV cache length (default: prompt + N)\n";

enum { OPT_CHAT = CLI_OPT_FIRST_FREE, OPT_TEMP, OPT_TOPK, OPT_TOPP, OPT_SEED, OPT_CTX,
       OPT_TOKENS, OPT_OUT, OPT_CHUNK, OPT_PREFILL, OPT_DECODE, OPT_REPEATS, OPT_F32,
       OPT_NO_READBW, OPT_NO_PEAK };

typedef struct gen_stats {
    int32_t n_prompt, n_gen;
    bool context_full; /* generation stopped because the context was full */
    double prefill_ms, decode_ms;
} gen_stats;

/* Prefill, then sample and decode until a stop; prints as it goes. */
static int generate(session *s, tokenizer *tok, const int32_t *ids, int32_t n_ids,
                    const sampler_options *so, int32_t max_new, gen_stats *gs)
{
    const lm_config *c = lm_model_config(s->m);
    float *logits = malloc((size_t)c->vocab * sizeof *logits);
    sampler *smp = sampler_create(so, c->vocab);
    char err[1024], pending[1024];
    size_t n_pending = 0;
    int rc = 0;
    if (!logits || !smp) {
        fprintf(stderr, "plinth: out of memory\n");
        rc = 1;
        goto out;
    }
    stop_rule stop = {.max_tokens = 0}; /* ids only: the loop counts */
    for (int32_t i = 0; i < c->n_eos; i++)
        stop_rule_add(&stop, c->eos[i]);
    stop_rule_add(&stop, tokenizer_eos(tok));
    stop_rule_add(&stop, tokenizer_token_id(tok, "<end_of_turn>"));

    double t0 = cli_now_ms();
    if (lm_model_prefill(s->m, ids, n_ids, 0, logits, err, sizeof err) != PLINTH_OK) {
        fprintf(stderr, "plinth: %s\n", err);
        rc = 1;
        goto out;
    }
    gs->prefill_ms = cli_now_ms() - t0;
    gs->n_prompt = n_ids;
    t0 = cli_now_ms();
    for (int32_t n = 0; n < max_new; n++) {
        int32_t next = sampler_sample(smp, logits);
        if (stop_rule_hit(&stop, next, 0)) /* a stop token: not printed */
            break;
        /* The text continues the prompt: never the first piece of a text. */
        int len = tokenizer_piece(tok, next, false, pending + n_pending,
                                  sizeof pending - n_pending);
        if (len > 0)
            n_pending += (size_t)len;
        size_t ok = utf8_complete(pending, n_pending);
        if (ok > 0) {
            fwrite(pending, 1, ok, stdout);
            fflush(stdout);
            memmove(pending, pending + ok, n_pending - ok);
            n_pending -= ok;
        }
        gs->n_gen++;
        if (n + 1 == max_new)
            break;
        if (n_ids + n >= lm_model_n_ctx(s->m)) { /* no position left to decode it at */
            gs->context_full = true;
            break;
        }
        if (lm_model_decode(s->m, next, n_ids + n, logits, err, sizeof err) != PLINTH_OK) {
            fprintf(stderr, "\nplinth: %s\n", err);
            rc = 1;
            break;
        }
    }
    gs->decode_ms = cli_now_ms() - t0;
    fwrite(pending, 1, n_pending, stdout);
    fputc('\n', stdout);
    fflush(stdout);
out:
    sampler_free(smp);
    free(logits);
    return rc;
}

int cli_run(cli_options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"prompt", required_argument, NULL, 'p'}, {"chat", no_argument, NULL, OPT_CHAT},
        {"temp", required_argument, NULL, OPT_TEMP}, {"top-k", required_argument, NULL, OPT_TOPK},
        {"top-p", required_argument, NULL, OPT_TOPP}, {"seed", required_argument, NULL, OPT_SEED},
        {"ctx", required_argument, NULL, OPT_CTX}, CLI_COMMON_LONGOPTS};
    const char *prompt = NULL;
    bool chat = false;
    uint32_t max_new = 128, seed = 42, ctx_len = 0, top_k = 64;
    sampler_options so = {.temperature = 1.0f, .top_p = 0.95f};
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_OPTSTRING "p:n:", longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'p': prompt = optarg; break;
        case 'n': bad = cli_parse_u32(optarg, "-n", &max_new); break;
        case OPT_CHAT: chat = true; break;
        case OPT_TEMP: bad = parse_float(optarg, "--temp", &so.temperature); break;
        case OPT_TOPK: bad = cli_parse_u32(optarg, "--top-k", &top_k); break;
        case OPT_TOPP: bad = parse_float(optarg, "--top-p", &so.top_p); break;
        case OPT_SEED: bad = cli_parse_u32(optarg, "--seed", &seed); break;
        case OPT_CTX: bad = cli_parse_u32(optarg, "--ctx", &ctx_len); break;
        default: {
            int rc = cli_common_flag(c, o, run_usage);
            if (rc != CLI_PARSED)
                return rc;
        }
        }
        if (bad)
            return 2;
    }
    if (argc - optind != 1 || !prompt) {
        fputs(run_usage, stderr);
        return 2;
    }
    const char *dir = argv[optind];
    so.top_k = (int32_t)top_k;
    so.seed = seed;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "plinth: %s: %s\n", dir,
                errno == ENOENT ? "no such model folder" : "not a model folder");
        return 1;
    }
    if (max_new > MODEL_MAX_CONTEXT || ctx_len > MODEL_MAX_CONTEXT) {
        fprintf(stderr, "plinth: run: -n and --ctx take at most %d\n", MODEL_MAX_CONTEXT);
        return 2;
    }

    tokenizer *tok = NULL;
    if (load_tokenizer(dir, &tok))
        return 1;
    char *text = chat ? tokenizer_chat_prompt(prompt) : strdup(prompt);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    char err[1024];
    if (!text || tokenizer_encode(tok, text, strlen(text), true, &ids, &n_ids, err,
                                  sizeof err) != 0) {
        fprintf(stderr, "plinth: encode: %s\n", text ? err : "out of memory");
        free(text);
        tokenizer_free(tok);
        return 1;
    }
    free(text);
    lm_config cfg;
    int rc = 0;
    if (lm_config_load(dir, &cfg, err, sizeof err) != PLINTH_OK) {
        fprintf(stderr, "plinth: %s\n", err);
        rc = 1;
    }
    session s = {0};
    if (!rc) {
        int64_t want = ctx_len ? ctx_len : (int64_t)n_ids + max_new;
        if (want > cfg.max_pos)
            want = cfg.max_pos;
        lm_model_options go = {.n_ctx = (int32_t)want,
                             .n_prefill = n_ids < 512 ? (int32_t)n_ids : 512};
        if ((int64_t)n_ids > want) {
            fprintf(stderr, "plinth: the prompt (%zu tokens) does not fit the context (%lld)\n",
                    n_ids, (long long)want);
            rc = 1;
        } else {
            rc = session_open(o, dir, go, &s);
        }
    }
    gen_stats gs = {0};
    if (!rc)
        rc = generate(&s, tok, ids, (int32_t)n_ids, &so, (int32_t)max_new, &gs);
    if (!rc && gs.context_full)
        fprintf(stderr, "plinth: stopped after %d tokens: the context of %d positions is full "
                        "(--ctx)\n",
                (int)gs.n_gen, (int)lm_model_n_ctx(s.m));
    if (!rc) {
        char rss[32];
        fprintf(stderr,
                "load %.0f ms | prefill %d tokens %.1f ms (%.1f tokens/s) | decode %d tokens "
                "%.1f ms (%.1f tokens/s) | peak memory %s | backend %s\n",
                s.load_ms, (int)gs.n_prompt, gs.prefill_ms,
                gs.prefill_ms > 0 ? gs.n_prompt * 1e3 / gs.prefill_ms : 0.0, (int)gs.n_gen,
                gs.decode_ms, gs.decode_ms > 0 ? gs.n_gen * 1e3 / gs.decode_ms : 0.0,
                cli_bytes(peak_rss_bytes(), rss, sizeof rss), s.names);
    }
    session_close(&s);
    free(ids);
    tokenizer_free(tok);
    return rc;
}

/* -------------------------------------------------------------- logits --- */

static const char logits_usage[] =
    "usage: plinth logits MODEL --tokens 2,17,9,... --out FILE [--chunk N] [--f32]\n"
    "                     [--backend=NAME[,NAME...]] [--fallback=NAME] [--split-layers=N]\n"
    "Writes the logits of every position, raw little-endian f32 [n_tokens][vocab],\n"
    "computed by the prefill program (in runs of --chunk tokens, default all up to 256).\n"
    "--f32 converts the weights to f32 at load.\n";

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
            int32_t *grown = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!grown)
                break;
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

int cli_logits(cli_options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"tokens", required_argument, NULL, OPT_TOKENS}, {"out", required_argument, NULL, OPT_OUT},
        {"chunk", required_argument, NULL, OPT_CHUNK}, {"f32", no_argument, NULL, OPT_F32},
        CLI_COMMON_LONGOPTS};
    const char *tokens = NULL, *out = NULL;
    uint32_t chunk = 0;
    bool f32 = false;
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_OPTSTRING "o:", longopts, NULL)) != -1) {
        if (c == OPT_TOKENS) {
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
    if (argc - optind != 1 || !tokens || !out) {
        fputs(logits_usage, stderr);
        return 2;
    }
    int32_t *ids = NULL, n = 0;
    if (parse_ids(tokens, &ids, &n))
        return 2;
    lm_model_options go = {.n_ctx = n, .all_logits = true, .no_decode = true, .force_f32 = f32,
                         .n_prefill = chunk ? (int32_t)chunk : n < 256 ? n : 256};
    session s;
    int rc = session_open(o, argv[optind], go, &s);
    float *logits = NULL;
    size_t V = 0;
    char err[1024];
    if (!rc) {
        V = (size_t)lm_model_config(s.m)->vocab;
        if (!(logits = malloc((size_t)n * V * sizeof *logits))) {
            fprintf(stderr, "plinth: out of memory\n");
            rc = 1;
        } else if (lm_model_prefill(s.m, ids, n, 0, logits, err, sizeof err) != PLINTH_OK) {
            fprintf(stderr, "plinth: %s\n", err);
            rc = 1;
        }
    }
    if (!rc) {
        FILE *fp = fopen(out, "wb");
        size_t want = (size_t)n * V;
        if (!fp || fwrite(logits, sizeof *logits, want, fp) != want || fclose(fp) != 0) {
            fprintf(stderr, "plinth: %s: %s\n", out, strerror(errno));
            rc = 1;
        } else if (o->verbose) {
            fprintf(stderr, "plinth: wrote %d x %zu logits to %s\n", (int)n, V, out);
        }
    }
    free(logits);
    free(ids);
    session_close(&s);
    return rc;
}

/* ------------------------------------------------------------ tokenize --- */

static const char tokenize_usage[] =
    "usage: plinth tokenize MODEL -p TEXT [--chat]\n"
    "Prints the token ids of TEXT (with <bos>), comma-separated on one line.\n";

int cli_tokenize(cli_options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"prompt", required_argument, NULL, 'p'}, {"chat", no_argument, NULL, OPT_CHAT},
        CLI_COMMON_LONGOPTS};
    const char *prompt = NULL;
    bool chat = false;
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_OPTSTRING "p:", longopts, NULL)) != -1) {
        if (c == 'p') {
            prompt = optarg;
        } else if (c == OPT_CHAT) {
            chat = true;
        } else {
            int rc = cli_common_flag(c, o, tokenize_usage);
            if (rc != CLI_PARSED)
                return rc;
        }
    }
    if (argc - optind != 1 || !prompt) {
        fputs(tokenize_usage, stderr);
        return 2;
    }
    tokenizer *tok = NULL;
    if (load_tokenizer(argv[optind], &tok))
        return 1;
    char *text = chat ? tokenizer_chat_prompt(prompt) : strdup(prompt);
    int32_t *ids = NULL;
    size_t n = 0;
    char err[1024];
    int rc = 0;
    if (!text || tokenizer_encode(tok, text, strlen(text), true, &ids, &n, err, sizeof err)) {
        fprintf(stderr, "plinth: encode: %s\n", text ? err : "out of memory");
        rc = 1;
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%s%d", i ? "," : "", (int)ids[i]);
        printf("\n");
    }
    free(ids);
    free(text);
    tokenizer_free(tok);
    return rc;
}

/* --------------------------------------------------------------- bench --- */

static const char bench_usage[] =
    "usage: plinth bench MODEL [--prefill N] [--decode N] [--repeats N] [--f32] [--json]\n"
    "                    [--no-readbw] [--no-peak] [--backend=NAME[,NAME...]]\n"
    "                    [--fallback=NAME] [--split-layers=N] [--threads=N]\n"
    "Times a prefill of N tokens (default 512, logits of the last one) and a decode of\n"
    "N tokens after it (default 128), the median of --repeats runs (default 5), and\n"
    "reports load time, peak RSS, the memory plans, and for decode the weight bytes\n"
    "read per token with the bandwidth they imply, next to the read bandwidth of this\n"
    "machine measured right after the runs with as many threads (--no-readbw: not),\n"
    "and for prefill its FLOPs and rate next to this machine's f32 FMA peak measured\n"
    "the same way (--no-peak: not). Token ids are pseudo-random.\n";

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, uint32_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct bench_result {
    double prefill_ms, decode_ms; /* medians, whole phase */
    plinth_plan_stats prefill_plan, decode_plan;
    uint64_t peak_rss;            /* before the bandwidth reference */
    double read_gbs;              /* the reference; 0: not measured */
    uint32_t read_threads;        /* of both references            */
    double peak_gflops;           /* f32 FMA reference; 0: not measured */
} bench_result;

static int bench_runs(session *s, uint32_t P, uint32_t D, uint32_t repeats, bench_result *r)
{
    const int32_t V = lm_model_config(s->m)->vocab;
    int32_t *ids = malloc(P * sizeof *ids);
    float *logits = malloc((size_t)V * sizeof *logits);
    double *pm = calloc(repeats, sizeof *pm), *dm = calloc(repeats, sizeof *dm);
    char err[1024];
    int rc = 0;
    if (!ids || !logits || !pm || !dm) {
        fprintf(stderr, "plinth: out of memory\n");
        rc = 1;
    }
    uint32_t x = 12345;
    for (uint32_t i = 0; !rc && i < P; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        ids[i] = V > 4 ? 3 + (int32_t)(x % (uint32_t)(V - 3)) : 0;
    }
    if (!rc && P)
        ids[0] = lm_model_config(s->m)->bos < V ? lm_model_config(s->m)->bos : 0;
    for (uint32_t k = 0; !rc && k < repeats; k++) {
        double t0 = cli_now_ms();
        if (lm_model_prefill(s->m, ids, (int32_t)P, 0, logits, err, sizeof err) != PLINTH_OK) {
            fprintf(stderr, "plinth: %s\n", err);
            rc = 1;
            break;
        }
        double t1 = cli_now_ms();
        for (uint32_t i = 0; i < D; i++) {
            int32_t next = sampler_argmax(logits, V);
            if (lm_model_decode(s->m, next, (int32_t)(P + i), logits, err, sizeof err)) {
                fprintf(stderr, "plinth: %s\n", err);
                rc = 1;
                break;
            }
        }
        pm[k] = t1 - t0;
        dm[k] = cli_now_ms() - t1;
    }
    if (!rc) {
        r->prefill_ms = median(pm, repeats);
        r->decode_ms = median(dm, repeats);
        r->prefill_plan.struct_size = sizeof r->prefill_plan;
        r->decode_plan.struct_size = sizeof r->decode_plan;
        plinth_program_plan_stats(lm_model_prefill_program(s->m), &r->prefill_plan);
        if (lm_model_decode_program(s->m))
            plinth_program_plan_stats(lm_model_decode_program(s->m), &r->decode_plan);
        else
            r->decode_plan = r->prefill_plan;
    }
    free(ids);
    free(logits);
    free(pm);
    free(dm);
    return rc;
}

static void bench_print(const cli_options *o, session *s, const char *dir, uint32_t P,
                        uint32_t D, uint32_t repeats, const bench_result *r)
{
    const double pf = P ? P * 1e3 / r->prefill_ms : 0, dc = D ? D * 1e3 / r->decode_ms : 0;
    const uint64_t wb = lm_model_weight_bytes(s->m), rss = r->peak_rss;
    const double gbs = dc * (double)wb / 1e9;
    const double ratio = r->read_gbs > 0 ? gbs / r->read_gbs : 0;
    const double gflop = lm_model_prefill_flops(s->m) / 1e9; /* per prefill run */
    const double pgf = P ? gflop * 1e3 / r->prefill_ms : 0;  /* GFLOP/s */
    const double pratio = r->peak_gflops > 0 ? pgf / r->peak_gflops : 0;
    if (o->json) {
        /* cJSON writes the strings quoted and the numbers in full. */
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", dir);
        cJSON_AddStringToObject(j, "backend", s->names);
        cJSON_AddNumberToObject(j, "split_layers", o->split_layers);
        plinth_plan_stats dps = {.struct_size = sizeof dps};
        plinth_program *dp = lm_model_decode_program(s->m);
        plinth_program_plan_stats(dp ? dp : lm_model_prefill_program(s->m), &dps);
        cJSON_AddNumberToObject(j, "decode_transfers_per_token", dps.n_transfers);
        cJSON_AddNumberToObject(j, "decode_transfer_bytes_per_token", (double)dps.transfer_bytes);
        cJSON_AddNumberToObject(j, "threads", o->threads);
        cJSON_AddStringToObject(j, "weights", lm_model_weights_dtype(s->m));
        cJSON_AddBoolToObject(j, "converted_to_f32", lm_model_weights_converted(s->m));
        cJSON_AddNumberToObject(j, "params", (double)lm_model_param_count(s->m));
        cJSON_AddNumberToObject(j, "repeats", repeats);
        cJSON_AddNumberToObject(j, "load_ms", s->load_ms);
        cJSON_AddNumberToObject(j, "prefill_tokens", P);
        cJSON_AddNumberToObject(j, "prefill_ms", r->prefill_ms);
        cJSON_AddNumberToObject(j, "prefill_tokens_per_s", pf);
        cJSON_AddNumberToObject(j, "decode_tokens", D);
        cJSON_AddNumberToObject(j, "decode_ms", r->decode_ms);
        cJSON_AddNumberToObject(j, "decode_tokens_per_s", dc);
        cJSON_AddNumberToObject(j, "weight_bytes_per_token", (double)wb);
        cJSON_AddNumberToObject(j, "decode_weight_gb_per_s", gbs);
        cJSON_AddNumberToObject(j, "read_gb_per_s", r->read_gbs);
        cJSON_AddNumberToObject(j, "read_threads", r->read_threads);
        cJSON_AddNumberToObject(j, "decode_bandwidth_ratio", ratio);
        cJSON_AddNumberToObject(j, "prefill_flops", gflop * 1e9);
        cJSON_AddNumberToObject(j, "prefill_gflop_per_s", pgf);
        cJSON_AddNumberToObject(j, "fma_peak_gflop_per_s", r->peak_gflops);
        cJSON_AddNumberToObject(j, "prefill_peak_ratio", pratio);
        cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)rss);
        cJSON_AddNumberToObject(j, "prefill_arena_bytes", (double)r->prefill_plan.arena_bytes);
        cJSON_AddNumberToObject(j, "decode_arena_bytes", (double)r->decode_plan.arena_bytes);
        cJSON_AddNumberToObject(j, "persistent_bytes", (double)r->prefill_plan.persistent_bytes);
        cJSON_AddNumberToObject(j, "state_bytes", (double)r->prefill_plan.state_bytes);
        char *text = cJSON_PrintUnformatted(j);
        if (text)
            printf("%s\n", text);
        else
            fprintf(stderr, "plinth: bench: out of memory writing JSON\n");
        free(text);
        cJSON_Delete(j);
        return;
    }
    char a[32], b[32], c[32], d[32], e[32];
    printf("bench %s on '%s' (%s weights%s, %.1f M params, median of %u)\n", dir,
           s->names, lm_model_weights_dtype(s->m),
           lm_model_weights_converted(s->m) ? ", computed as f32" : "",
           (double)lm_model_param_count(s->m) / 1e6, repeats);
    printf("  load            %.0f ms\n", s->load_ms);
    printf("  prefill         %u tokens in %.1f ms: %.1f tokens/s\n", P, r->prefill_ms, pf);
    printf("  decode          %u tokens in %.1f ms: %.2f tokens/s\n", D, r->decode_ms, dc);
    printf("  weights/token   %s read per decoded token: %.1f GB/s implied\n",
           cli_bytes(wb, a, sizeof a), gbs);
    if (r->read_gbs > 0)
        printf("  bandwidth       %.0f%% of %.1f GB/s, this machine's read bandwidth right after "
               "the runs (%u thread%s)\n", 100 * ratio, r->read_gbs, r->read_threads,
               r->read_threads == 1 ? "" : "s");
    if (r->peak_gflops > 0)
        printf("  compute         prefill %.4g GFLOP at %.3g GFLOP/s: %.0f%% of %.0f GFLOP/s, this "
               "machine's f32 FMA peak (%s) right after the runs (%u thread%s)\n",
               gflop, pgf, 100 * pratio, r->peak_gflops, fmapeak_isa(),
               r->read_threads, r->read_threads == 1 ? "" : "s");
    printf("  peak RSS        %s\n", cli_bytes(rss, b, sizeof b));
    printf("  arena           prefill %s, decode %s\n",
           cli_bytes(r->prefill_plan.arena_bytes, c, sizeof c),
           cli_bytes(r->decode_plan.arena_bytes, d, sizeof d));
    printf("  persistent      %s   state (KV cache) %s\n",
           cli_bytes(r->prefill_plan.persistent_bytes, a, sizeof a),
           cli_bytes(r->prefill_plan.state_bytes, e, sizeof e));
    if (s->n_backends > 1)
        printf("  transfers       decode %u per token (%s), prefill %u per run (%s)\n",
               r->decode_plan.n_transfers, cli_bytes(r->decode_plan.transfer_bytes, a, sizeof a),
               r->prefill_plan.n_transfers,
               cli_bytes(r->prefill_plan.transfer_bytes, b, sizeof b));
}

int cli_bench(cli_options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"prefill", required_argument, NULL, OPT_PREFILL},
        {"decode", required_argument, NULL, OPT_DECODE},
        {"repeats", required_argument, NULL, OPT_REPEATS},
        {"f32", no_argument, NULL, OPT_F32},
        {"no-readbw", no_argument, NULL, OPT_NO_READBW},
        {"no-peak", no_argument, NULL, OPT_NO_PEAK}, CLI_COMMON_LONGOPTS};
    uint32_t P = 512, D = 128, repeats = 5;
    bool f32 = false, readbw = true, peak = true;
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_OPTSTRING, longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case OPT_PREFILL: bad = cli_parse_u32(optarg, "--prefill", &P); break;
        case OPT_DECODE: bad = cli_parse_u32(optarg, "--decode", &D); break;
        case OPT_REPEATS: bad = cli_parse_u32(optarg, "--repeats", &repeats); break;
        case OPT_F32: f32 = true; break;
        case OPT_NO_READBW: readbw = false; break;
        case OPT_NO_PEAK: peak = false; break;
        default: {
            int rc = cli_common_flag(c, o, bench_usage);
            if (rc != CLI_PARSED)
                return rc;
        }
        }
        if (bad)
            return 2;
    }
    if (argc - optind != 1 || P < 1 || repeats < 1) {
        fputs(bench_usage, stderr);
        return 2;
    }
    if (P > MODEL_MAX_CONTEXT || D > MODEL_MAX_CONTEXT - P || repeats > 1000) {
        fprintf(stderr,
                "plinth: bench: --prefill %u + --decode %u is more than %d positions, or "
                "--repeats %u more than 1000\n",
                P, D, MODEL_MAX_CONTEXT, repeats);
        return 2;
    }
    lm_model_options go = {.n_ctx = (int32_t)(P + D), .n_prefill = (int32_t)P, .force_f32 = f32};
    session s;
    int rc = session_open(o, argv[optind], go, &s);
    bench_result r = {0};
    if (!rc)
        rc = bench_runs(&s, P, D, repeats, &r);
    if (!rc) {
        /* The peak first: the reference's buffer would raise it. */
        r.peak_rss = peak_rss_bytes();
        const long cores = sysconf(_SC_NPROCESSORS_ONLN);
        r.read_threads = o->threads ? o->threads : cores > 0 ? (uint32_t)cores : 1;
        if (readbw && D > 0)
            r.read_gbs = cli_read_bandwidth(r.read_threads, 5);
        if (peak)
            r.peak_gflops = fmapeak_measure(r.read_threads, 9);
        bench_print(o, &s, argv[optind], P, D, repeats, &r);
    }
    session_close(&s);
    return rc;
}
