/*
 * cli_run.c — `plinth run`: generate text after a prompt with
 * plinth_lm_generate, streamed to stdout, then a timing line on stderr (or
 * one JSON object with --json); -i hands over to the chat loop
 * (cli_chat.c). Flags follow llama-cli where they mean the same.
 *
 * Sections: arguments; the text sink and timing line; one-shot run.
 */
#include "cli_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------- arguments --- */

static const char run_usage[] =
    "usage: plinth run [-m] MODEL -p TEXT|-p -|-f FILE [--chat [--system TEXT]] [options]\n"
    "       plinth run [-m] MODEL -i [--system TEXT] [-p FIRST_TURN] [options]\n"
    "Generates text after the prompt, streamed to stdout, then a timing line on stderr.\n"
    "  -m, --model DIR           the model folder (or give it as the first argument)\n"
    "  -p, --prompt TEXT         the prompt; '-p -' reads it from stdin\n"
    "  -f, --file FILE           the prompt from FILE (one trailing newline dropped)\n"
    "      --chat                the prompt is one user turn of the model's chat template\n"
    "                            (Gemma, Llama 3 or ChatML); without a prompt, as -i\n"
    "  -i, --interactive, -cnv   chat: each line of stdin is a user turn, the reply is\n"
    "                            streamed, the KV cache is kept across turns; EOF ends\n"
    "  -sys, --system TEXT       a system message first (with --chat or -i)\n"
    "  -n, --n-predict N         at most N new tokens (default 128; -1: until the context\n"
    "                            is full); stops at end-of-turn/end-of-sequence tokens\n"
    "  -c, --ctx-size N          positions of the KV cache (default 0: the model's, at\n"
    "                            most 4096)\n"
    "      --batch N             tokens per prefill run (default: enough for the prompt in\n"
    "                            one run, at most 512; with -i 64)\n"
    "  -r, --reverse-prompt TEXT stop when TEXT appears (repeatable; TEXT is not printed)\n"
    "      --ignore-eos          go on past end-of-turn/end-of-sequence tokens\n"
    "      --temp T              temperature (0: greedy)\n"
    "      --top-k K             keep the K most likely tokens (0: all)\n"
    "      --top-p P             the smallest set with mass >= P (1: all)\n"
    "      --min-p P             drop tokens below P times the most likely's (0: none)\n"
    "      --repeat-penalty X    llama.cpp's repeat penalty (1: none)\n"
    "      --repeat-last-n N     tokens the penalty looks back at (0: none, -1: the\n"
    "                            context)\n"
    "      --seed S              random seed\n"
    "  -ngl N                    llama.cpp's GPU layers: --split-layers=N (needs two\n"
    "                            backends: --backend=A,B)\n"
    "      --json                one JSON object at the end: the text, token counts,\n"
    "                            stop reason and timings (not with -i)\n"
    "Sampling not given comes from the model's generation_config.json, else temperature\n"
    "1.0, top-k 64, top-p 0.95, no min-p, no penalty, seed 42.\n";

enum { OPT_CHAT = CLI_OPT_FIRST_FREE, OPT_SYSTEM, OPT_BATCH, OPT_IGNORE_EOS, OPT_TEMP,
       OPT_TOP_K, OPT_TOP_P, OPT_MIN_P, OPT_PENALTY, OPT_LAST_N, OPT_SEED };

/* Bits of run_args.given. */
enum { GIVEN_TEMP = 1, GIVEN_TOP_K = 2, GIVEN_TOP_P = 4, GIVEN_MIN_P = 8, GIVEN_PENALTY = 16,
       GIVEN_LAST_N = 32, GIVEN_SEED = 64 };

/* One option of run's own; 0 when taken, else the exit status. */
static int run_flag(int c, run_args *a, uint32_t *ctx, uint32_t *batch)
{
    plinth_lm_sampling *s = &a->sampling;
    uint32_t u = 0;
    int bad = 0;
    switch (c) {
    case 'm': a->model = optarg; break;
    case 'p': a->prompt_flag = optarg; break;
    case 'f': a->file = optarg; break;
    case 'i': a->interactive = true; break;
    case OPT_CHAT: a->chat = true; break;
    case OPT_SYSTEM: a->system = optarg; break;
    case 'n': bad = cli_parse_i32(optarg, "-n", -1, &a->gen.max_tokens); break;
    case 'c': bad = cli_parse_u32(optarg, "-c/--ctx-size", ctx); break;
    case OPT_BATCH: bad = cli_parse_u32(optarg, "--batch", batch); break;
    case 'r':
        if (!*optarg || a->n_stops == RUN_MAX_STOPS) {
            fprintf(stderr, "plinth: -r: %s\n", *optarg ? "at most 16 stop strings"
                                                         : "an empty stop string");
            return 2;
        }
        a->stops[a->n_stops++] = optarg;
        break;
    case OPT_IGNORE_EOS: a->gen.ignore_eos = true; break;
    case OPT_TEMP: bad = cli_parse_float(optarg, "--temp", &s->temperature); a->given |= GIVEN_TEMP; break;
    case OPT_TOP_K:
        bad = cli_parse_i32(optarg, "--top-k", 0, &s->top_k);
        a->given |= GIVEN_TOP_K;
        break;
    case OPT_TOP_P: bad = cli_parse_float(optarg, "--top-p", &s->top_p); a->given |= GIVEN_TOP_P; break;
    case OPT_MIN_P: bad = cli_parse_float(optarg, "--min-p", &s->min_p); a->given |= GIVEN_MIN_P; break;
    case OPT_PENALTY:
        bad = cli_parse_float(optarg, "--repeat-penalty", &s->repeat_penalty);
        if (!bad && !(s->repeat_penalty > 0)) {
            fprintf(stderr, "plinth: --repeat-penalty wants a positive number (1: none), "
                            "got '%s'\n", optarg);
            bad = 1;
        }
        a->given |= GIVEN_PENALTY;
        break;
    case OPT_LAST_N:
        bad = cli_parse_i32(optarg, "--repeat-last-n", -1, &s->repeat_last_n);
        a->given |= GIVEN_LAST_N;
        break;
    case OPT_SEED:
        bad = cli_parse_u32(optarg, "--seed", &u);
        s->seed = u;
        a->given |= GIVEN_SEED;
        break;
    default: return -1; /* not run's own */
    }
    return bad ? 2 : 0;
}

/* The model's defaults with the flags given over them. */
static plinth_status apply_sampling(const cli_lm *m, const run_args *a, plinth_lm_sampling *out)
{
    out->struct_size = sizeof *out;
    plinth_status st = plinth_lm_default_sampling(m->lm, out);
    const plinth_lm_sampling *g = &a->sampling;
    if (a->given & GIVEN_TEMP) out->temperature = g->temperature;
    if (a->given & GIVEN_TOP_K) out->top_k = g->top_k;
    if (a->given & GIVEN_TOP_P) out->top_p = g->top_p;
    if (a->given & GIVEN_MIN_P) out->min_p = g->min_p;
    if (a->given & GIVEN_PENALTY) out->repeat_penalty = g->repeat_penalty;
    if (a->given & GIVEN_LAST_N) out->repeat_last_n = g->repeat_last_n;
    if (a->given & GIVEN_SEED) out->seed = g->seed;
    return st;
}

/* Checks the combination of flags and reads the prompt; 0 or the exit
 * status (said). */
static int check_args(const cli_options *o, run_args *a)
{
    if (a->prompt_flag && a->file) {
        fprintf(stderr, "plinth: run: -p or -f, not both\n");
        return 2;
    }
    const char *src = a->file ? a->file : a->prompt_flag;
    if (a->chat && !src)
        a->interactive = true; /* --chat with no prompt: the chat loop */
    if (!src && !a->interactive) {
        fprintf(stderr, "plinth: run: no prompt (-p TEXT, -p - for stdin, -f FILE, or -i)\n");
        return 2;
    }
    if (a->system && !a->chat && !a->interactive) {
        fprintf(stderr, "plinth: run: --system is a chat message: add --chat (one turn) or "
                        "-i (a conversation)\n");
        return 2;
    }
    if (a->interactive && a->prompt_flag && strcmp(a->prompt_flag, "-") == 0) {
        fprintf(stderr, "plinth: run: -i reads the turns from stdin; give a first turn with "
                        "-p TEXT or -f FILE, not -p -\n");
        return 2;
    }
    if (a->interactive && o->json) {
        fprintf(stderr, "plinth: run: --json is for one-shot runs (one object at the end), "
                        "not the -i chat\n");
        return 2;
    }
    if (a->file || (a->prompt_flag && strcmp(a->prompt_flag, "-") == 0)) {
        if (!(a->prompt = cli_read_prompt(a->file ? a->file : "-", a->file ? "-f" : "-p -")))
            return 1;
    } else if (a->prompt_flag && !(a->prompt = strdup(a->prompt_flag))) {
        fprintf(stderr, "plinth: out of memory\n");
        return 1;
    }
    return 0;
}

/* ---------------------------------------- the text sink, timing line --- */

bool run_on_token(void *user, int32_t token, const char *text, size_t len)
{
    (void)token;
    run_out *out = user;
    if (out->print && len) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
    if (out->collect && len) {
        if (out->len + len + 1 > out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 256;
            while (cap < out->len + len + 1)
                cap *= 2;
            char *grown = realloc(out->text, cap);
            if (!grown) {
                out->oom = true;
                return false;
            }
            out->text = grown;
            out->cap = cap;
        }
        memcpy(out->text + out->len, text, len);
        out->len += len;
        out->text[out->len] = '\0';
    }
    return true;
}

static double per_s(int32_t n, double ms) { return ms > 0 ? n * 1e3 / ms : 0.0; }

void run_timing_line(const cli_lm *m, int32_t n_prompt, double prefill_ms, int32_t n_gen,
                     double decode_ms)
{
    char rss[32];
    fprintf(stderr,
            "load %.0f ms | prefill %d tokens %.1f ms (%.1f tokens/s) | decode %d tokens "
            "%.1f ms (%.1f tokens/s) | peak memory %s | backend %s\n",
            m->load_ms, (int)n_prompt, prefill_ms, per_s(n_prompt, prefill_ms), (int)n_gen,
            decode_ms, per_s(n_gen, decode_ms), cli_bytes(cli_peak_rss(), rss, sizeof rss),
            m->names);
}

void run_context_full(const cli_lm *m, int32_t n_gen)
{
    fprintf(stderr, "plinth: stopped after %d tokens: the context of %d positions is full "
                    "(-c/--ctx-size)\n", (int)n_gen, (int)m->info.n_ctx);
}

static const char *stop_name(int32_t reason)
{
    static const char *const names[] = {"eos", "max_tokens", "stop_string", "context",
                                        "callback"};
    return reason >= 0 && reason < 5 ? names[reason] : "unknown";
}

/* ------------------------------------------------------ one-shot run --- */

static int print_json(const cli_lm *m, const char *dir, const run_out *out,
                      const plinth_lm_generate_result *r)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", dir);
    cJSON_AddStringToObject(j, "arch", m->info.arch);
    cJSON_AddStringToObject(j, "backend", m->names);
    /* cJSON escapes control characters; bytes that are not UTF-8 pass as
     * they are (a random model can produce them). */
    cJSON_AddStringToObject(j, "text", out->text ? out->text : "");
    cJSON_AddNumberToObject(j, "n_prompt", r->n_prompt);
    cJSON_AddNumberToObject(j, "n_generated", r->n_generated);
    cJSON_AddStringToObject(j, "stop_reason", stop_name(r->stop_reason));
    cJSON_AddNumberToObject(j, "n_ctx", m->info.n_ctx);
    cJSON_AddNumberToObject(j, "load_ms", m->load_ms);
    cJSON_AddNumberToObject(j, "prefill_ms", r->prefill_ms);
    cJSON_AddNumberToObject(j, "prefill_tokens_per_s", per_s(r->n_prompt, r->prefill_ms));
    cJSON_AddNumberToObject(j, "decode_ms", r->decode_ms);
    cJSON_AddNumberToObject(j, "decode_tokens_per_s", per_s(r->n_generated, r->decode_ms));
    cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)cli_peak_rss());
    return cli_print_json(j);
}

static int run_once(const cli_options *o, cli_lm *m, run_args *a)
{
    char *text = a->prompt;
    if (a->chat) {
        plinth_lm_message msgs[2] = {{"system", a->system}, {"user", a->prompt}};
        if (!(text = cli_lm_chat_text(m, a->system ? msgs : msgs + 1, a->system ? 2 : 1)))
            return 1;
        if (o->verbose)
            fprintf(stderr, "plinth: the chat prompt (%s template):\n%s\n",
                    m->info.chat_template, text);
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = cli_lm_tokenize(m, text, strlen(text), &ids, &n);
    if (text != a->prompt)
        free(text);
    plinth_lm_session *s = NULL;
    if (!rc && plinth_lm_session_create(m->lm, &s) != PLINTH_OK)
        rc = cli_lm_fail(m, "session");
    run_out out = {.print = !o->json, .collect = o->json};
    a->gen.on_token = run_on_token;
    a->gen.user = &out;
    plinth_lm_generate_result r = {.struct_size = sizeof r};
    if (!rc && plinth_lm_generate(s, ids, n, &a->gen, &r) != PLINTH_OK) {
        if (!o->json && out.len)
            fputc('\n', stdout);
        rc = cli_lm_fail(m, NULL);
    } else if (!rc && out.oom) {
        fprintf(stderr, "plinth: out of memory keeping the text\n");
        rc = 1;
    } else if (!rc) {
        if (o->json) {
            rc = print_json(m, a->model, &out, &r);
        } else {
            fputc('\n', stdout);
            fflush(stdout);
        }
        if (r.stop_reason == PLINTH_LM_STOP_CONTEXT)
            run_context_full(m, r.n_generated);
        if (!o->json)
            run_timing_line(m, r.n_prompt, r.prefill_ms, r.n_generated, r.decode_ms);
    }
    plinth_lm_session_destroy(s);
    free(out.text);
    free(ids);
    return rc;
}

int cli_run(cli_options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'}, {"prompt", required_argument, NULL, 'p'},
        {"file", required_argument, NULL, 'f'}, {"chat", no_argument, NULL, OPT_CHAT},
        {"interactive", no_argument, NULL, 'i'}, {"conversation", no_argument, NULL, 'i'},
        {"system", required_argument, NULL, OPT_SYSTEM},
        {"system-prompt", required_argument, NULL, OPT_SYSTEM},
        {"n-predict", required_argument, NULL, 'n'}, {"predict", required_argument, NULL, 'n'},
        {"ctx", required_argument, NULL, 'c'}, {"ctx-size", required_argument, NULL, 'c'},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"reverse-prompt", required_argument, NULL, 'r'},
        {"ignore-eos", no_argument, NULL, OPT_IGNORE_EOS},
        {"temp", required_argument, NULL, OPT_TEMP}, {"top-k", required_argument, NULL, OPT_TOP_K},
        {"top-p", required_argument, NULL, OPT_TOP_P}, {"min-p", required_argument, NULL, OPT_MIN_P},
        {"repeat-penalty", required_argument, NULL, OPT_PENALTY},
        {"repeat-last-n", required_argument, NULL, OPT_LAST_N},
        {"seed", required_argument, NULL, OPT_SEED}, CLI_COMMON_LONGOPTS};
    run_args a = {.gen = {.struct_size = sizeof a.gen, .max_tokens = 128}};
    uint32_t ctx = 0, batch = 0;
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_OPTSTRING "m:p:f:n:c:r:i", longopts, NULL)) !=
           -1) {
        int rc = run_flag(c, &a, &ctx, &batch);
        if (rc < 0)
            rc = cli_common_flag(c, o, run_usage);
        else if (rc == 0)
            rc = CLI_PARSED;
        if (rc != CLI_PARSED)
            return rc;
    }
    if (!(a.model = cli_model_dir(a.model, argc, argv, run_usage)))
        return 2;
    int rc = check_args(o, &a);
    if (rc) {
        free(a.prompt);
        return rc;
    }
    a.stops[a.n_stops] = NULL;
    a.gen.stop = a.n_stops ? a.stops : NULL;
    /* The batch: a token covers at least a byte, so bytes + bos (+ the
     * chat template's markers) hold the whole prompt in one run. */
    if (!batch && a.interactive) {
        batch = 64;
    } else if (!batch) {
        size_t bound = strlen(a.prompt) + 1;
        if (a.chat)
            bound += (a.system ? strlen(a.system) + 64 : 0) + 64 + 128;
        batch = bound < 512 ? (uint32_t)bound : 512;
    }
    plinth_lm_options lo = {.n_ctx = (int32_t)(ctx > INT32_MAX ? INT32_MAX : ctx),
                            .n_batch = (int32_t)batch};
    cli_lm m;
    rc = cli_lm_open(o, a.model, lo, &m);
    if (!rc && apply_sampling(&m, &a, &a.gen.sampling) != PLINTH_OK)
        rc = cli_lm_fail(&m, "sampling");
    if (!rc)
        rc = a.interactive ? cli_chat(o, &m, &a) : run_once(o, &m, &a);
    cli_lm_close(&m);
    free(a.prompt);
    return rc;
}
