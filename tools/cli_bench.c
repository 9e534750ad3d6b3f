/*
 * cli_bench.c — `plinth bench`: prefill and decode timings of a model
 * through one session of plinth_lm.h (plinth_lm_decode; greedy tokens by
 * plinth_lm_sample), the memory plans of its programs, and the machine's
 * f32 FMA peak measured after each prefill for as long as it ran and its
 * read bandwidth measured after the runs, so prefill's GFLOP/s and
 * decode's GB/s read as shares of what this machine does now.
 */
#include "cli_lm.h"
#include "fmapeak.h"
#include "timing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char bench_usage[] =
    "usage: plinth bench [-m] MODEL [--prefill N] [--decode N] [--repeats N] [--f32] [--json]\n"
    "                    [--no-readbw] [--no-peak] [--backend=NAME[,NAME...]]\n"
    "                    [--fallback=NAME] [--split-layers=N] [--threads=N]\n"
    "                    [--precision=exact|fast]\n"
    "Times a prefill of N tokens (default 512, logits of the last one) and a decode of\n"
    "N tokens after it (default 128), the median of --repeats runs (default 5), and\n"
    "reports load time, peak RSS, the memory plans, and for decode the weight bytes\n"
    "read per token with the bandwidth they imply, next to the read bandwidth of this\n"
    "machine measured right after the runs with as many threads (--no-readbw: not),\n"
    "and for prefill its FLOPs and rate next to this machine's f32 FMA peak, measured\n"
    "after each prefill for as long as it took (--no-peak: not; the share printed is the\n"
    "median of the runs' own), and the arithmetic each backend used (--precision;\n"
    "for cpu, how many prefill matmuls ran on bf16 dot products). Token ids are\n"
    "pseudo-random; the model needs no tokenizer.json.\n";

enum { OPT_PREFILL = CLI_OPT_FIRST_FREE, OPT_DECODE, OPT_REPEATS, OPT_F32, OPT_NO_READBW,
       OPT_NO_PEAK };

/* Positions a bench may ask for (the library refuses more than the
 * model's max_position_embeddings, naming it). */
#define BENCH_MAX_POSITIONS (1 << 20)

/* The median of v[0..n), v left as it is (scratch: n doubles). */
static double median_of(const double *v, uint32_t n, double *scratch)
{
    memcpy(scratch, v, n * sizeof *v);
    return timing_median(scratch, n);
}

/* The FMA reference after each prefill runs for as long as the prefill
 * did, within these bounds (seconds). */
#define PEAK_MIN_S 0.02
#define PEAK_MAX_S 2.0

typedef struct bench_result {
    double prefill_ms, decode_ms; /* medians, whole phase */
    double *prefill_runs;         /* each round's prefill ms        */
    double *peak_runs;            /* the FMA reference after each; NULL: not measured */
    double peak_ratio;            /* median of the rounds' GFLOP/s over their reference */
    plinth_plan_stats prefill_plan, decode_plan;
    uint64_t peak_rss;            /* before the bandwidth reference */
    double read_gbs;              /* the reference; 0: not measured */
    uint32_t read_threads;        /* of both references            */
    double peak_gflops;           /* median of peak_runs; 0: not measured */
} bench_result;

/* One timed round on a fresh session: the prefill of ids[0, P), the FMA
 * reference for as long (peak_threads > 0: into *peak, GFLOP/s), then D
 * greedy decode steps. */
static int bench_round(const cli_lm *m, plinth_lm_session *s, const int32_t *ids, uint32_t P,
                       uint32_t D, float *logits, uint32_t peak_threads, double *prefill_ms,
                       double *peak, double *decode_ms)
{
    const plinth_lm_sampling greedy = {.struct_size = sizeof greedy, .temperature = 0,
                                       .repeat_penalty = 1};
    if (plinth_lm_session_reset(s) != PLINTH_OK)
        return cli_lm_fail(m, "session");
    double t0 = cli_now_ms();
    if (plinth_lm_decode(s, ids, P, logits) != PLINTH_OK)
        return cli_lm_fail(m, NULL);
    *prefill_ms = cli_now_ms() - t0;
    if (peak_threads) {
        const double w = *prefill_ms / 1e3;
        *peak = fmapeak_measure_for(peak_threads, w < PEAK_MIN_S   ? PEAK_MIN_S
                                                  : w > PEAK_MAX_S ? PEAK_MAX_S
                                                                   : w);
    }
    double t1 = cli_now_ms();
    for (uint32_t i = 0; i < D; i++) {
        int32_t next;
        if (plinth_lm_sample(s, logits, &greedy, &next) != PLINTH_OK ||
            plinth_lm_decode(s, &next, 1, logits) != PLINTH_OK)
            return cli_lm_fail(m, NULL);
    }
    *decode_ms = cli_now_ms() - t1;
    return 0;
}

/* The rounds; r->prefill_runs and r->peak_runs (when peak_threads > 0)
 * are the caller's to free. */
static int bench_runs(const cli_lm *m, uint32_t P, uint32_t D, uint32_t repeats,
                      uint32_t peak_threads, bench_result *r)
{
    const int32_t V = m->info.vocab;
    int32_t *ids = malloc(P * sizeof *ids);
    float *logits = malloc((size_t)V * sizeof *logits);
    double *scratch = calloc(repeats, sizeof *scratch), *dm = calloc(repeats, sizeof *dm);
    r->prefill_runs = calloc(repeats, sizeof *r->prefill_runs);
    r->peak_runs = peak_threads ? calloc(repeats, sizeof *r->peak_runs) : NULL;
    plinth_lm_session *s = NULL;
    int rc = 0;
    if (!ids || !logits || !scratch || !dm || !r->prefill_runs || (peak_threads && !r->peak_runs)) {
        fprintf(stderr, "plinth: out of memory\n");
        rc = 1;
    } else if (plinth_lm_session_create(m->lm, &s) != PLINTH_OK) {
        rc = cli_lm_fail(m, "session");
    }
    uint32_t x = 12345;
    for (uint32_t i = 0; !rc && i < P; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        ids[i] = V > 4 ? 3 + (int32_t)(x % (uint32_t)(V - 3)) : 0;
    }
    if (!rc && P)
        ids[0] = m->info.bos >= 0 && m->info.bos < V ? m->info.bos : 0;
    for (uint32_t k = 0; !rc && k < repeats; k++)
        rc = bench_round(m, s, ids, P, D, logits, peak_threads, &r->prefill_runs[k],
                         peak_threads ? &r->peak_runs[k] : NULL, &dm[k]);
    if (!rc) {
        r->prefill_ms = median_of(r->prefill_runs, repeats, scratch);
        r->decode_ms = timing_median(dm, repeats);
        if (peak_threads) {
            const double gflop = m->info.prefill_flops / 1e9;
            for (uint32_t k = 0; k < repeats; k++) { /* each round over its own reference */
                const double gfs = gflop * 1e3 / r->prefill_runs[k];
                scratch[k] = r->peak_runs[k] > 0 ? gfs / r->peak_runs[k] : 0;
            }
            r->peak_ratio = timing_median(scratch, repeats);
            r->peak_gflops = median_of(r->peak_runs, repeats, scratch);
        }
        r->prefill_plan.struct_size = sizeof r->prefill_plan;
        r->decode_plan.struct_size = sizeof r->decode_plan;
        plinth_program_plan_stats(plinth_lm_prefill_program(m->lm), &r->prefill_plan);
        if (plinth_lm_decode_program(m->lm))
            plinth_program_plan_stats(plinth_lm_decode_program(m->lm), &r->decode_plan);
        else
            r->decode_plan = r->prefill_plan;
    }
    plinth_lm_session_destroy(s);
    free(ids);
    free(logits);
    free(scratch);
    free(dm);
    return rc;
}

/* What backend i computed with, as the open device says after the runs
 * ("fast: bf16 dot products (vdpbf16ps) ..., 216 matmuls so far"; a
 * backend that says nothing has no fast arithmetic: exact). */
static const char *precision_used(const cli_options *o, const cli_lm *s, uint32_t i, char *buf,
                                  size_t size)
{
    plinth_device_info info = {.struct_size = sizeof info};
    if (plinth_backend_device_info(s->list[i], &info) == PLINTH_OK && info.precision[0])
        snprintf(buf, size, "%s", info.precision);
    else
        snprintf(buf, size, "%s: as exact (the backend has no fast mode)",
                 o->precision == PLINTH_PRECISION_FAST ? "fast" : "exact");
    return buf;
}

static int bench_print(const cli_options *o, const cli_lm *s, const char *dir, uint32_t P,
                        uint32_t D, uint32_t repeats, const bench_result *r)
{
    const double pf = P ? P * 1e3 / r->prefill_ms : 0, dc = D ? D * 1e3 / r->decode_ms : 0;
    const uint64_t wb = s->info.weight_bytes, rss = r->peak_rss;
    const double gbs = dc * (double)wb / 1e9;
    const double ratio = r->read_gbs > 0 ? gbs / r->read_gbs : 0;
    const double gflop = s->info.prefill_flops / 1e9; /* per prefill run */
    const double pgf = P ? gflop * 1e3 / r->prefill_ms : 0;  /* GFLOP/s */
    const double pratio = r->peak_gflops > 0 ? r->peak_ratio : 0;
    if (o->json) {
        /* cJSON writes the strings quoted and the numbers in full. */
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", dir);
        cJSON_AddStringToObject(j, "backend", s->names);
        cJSON_AddNumberToObject(j, "split_layers", o->split_layers);
        plinth_plan_stats dps = {.struct_size = sizeof dps};
        plinth_program *dp = plinth_lm_decode_program(s->lm);
        plinth_program_plan_stats(dp ? dp : plinth_lm_prefill_program(s->lm), &dps);
        cJSON_AddNumberToObject(j, "decode_transfers_per_token", dps.n_transfers);
        cJSON_AddNumberToObject(j, "decode_transfer_bytes_per_token", (double)dps.transfer_bytes);
        cJSON_AddNumberToObject(j, "threads", o->threads);
        cJSON_AddStringToObject(j, "precision",
                                o->precision == PLINTH_PRECISION_FAST ? "fast" : "exact");
        cJSON *used = cJSON_AddArrayToObject(j, "precision_used"); /* per backend */
        for (uint32_t i = 0; used && i < s->n_backends; i++) {
            char line[160];
            cJSON_AddItemToArray(used, cJSON_CreateString(precision_used(o, s, i, line,
                                                                         sizeof line)));
        }
        cJSON_AddStringToObject(j, "weights", s->info.weights);
        cJSON_AddBoolToObject(j, "converted_to_f32", s->info.converted);
        cJSON_AddNumberToObject(j, "params", (double)s->info.n_params);
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
        cJSON_AddItemToObject(j, "prefill_ms_runs",
                              cJSON_CreateDoubleArray(r->prefill_runs, (int)repeats));
        cJSON_AddItemToObject(j, "fma_peak_runs",
                              r->peak_runs ? cJSON_CreateDoubleArray(r->peak_runs, (int)repeats)
                                           : cJSON_CreateArray());
        cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)rss);
        cJSON_AddNumberToObject(j, "prefill_arena_bytes", (double)r->prefill_plan.arena_bytes);
        cJSON_AddNumberToObject(j, "decode_arena_bytes", (double)r->decode_plan.arena_bytes);
        cJSON_AddNumberToObject(j, "persistent_bytes", (double)r->prefill_plan.persistent_bytes);
        cJSON_AddNumberToObject(j, "state_bytes", (double)r->prefill_plan.state_bytes);
        return cli_print_json(j);
    }
    char a[32], b[32], c[32], d[32], e[32];
    printf("bench %s on '%s' (%s weights%s, %.1f M params, median of %u)\n", dir,
           s->names, s->info.weights,
           s->info.converted ? ", computed as f32" : "",
           (double)s->info.n_params / 1e6, repeats);
    printf("  load            %.0f ms\n", s->load_ms);
    for (uint32_t i = 0; i < s->n_backends; i++) {
        char line[160];
        printf("  precision       %s%s%s\n", s->n_backends > 1 ? plinth_backend_name(s->list[i]) : "",
               s->n_backends > 1 ? ": " : "", precision_used(o, s, i, line, sizeof line));
    }
    printf("  prefill         %u tokens in %.1f ms: %.1f tokens/s\n", P, r->prefill_ms, pf);
    printf("  decode          %u tokens in %.1f ms: %.2f tokens/s\n", D, r->decode_ms, dc);
    printf("  weights/token   %s read per decoded token: %.1f GB/s implied\n",
           cli_bytes(wb, a, sizeof a), gbs);
    if (r->read_gbs > 0)
        printf("  bandwidth       %.0f%% of %.1f GB/s, this machine's read bandwidth right after "
               "the runs (%u thread%s)\n", 100 * ratio, r->read_gbs, r->read_threads,
               r->read_threads == 1 ? "" : "s");
    if (r->peak_gflops > 0)
        printf("  compute         prefill %.4g GFLOP at %.3g GFLOP/s: %.0f%% of this machine's f32 "
               "FMA peak (%s, %u thread%s; %.0f GFLOP/s), measured after each prefill for as "
               "long as it took (medians)\n",
               gflop, pgf, 100 * pratio, fmapeak_isa(), r->read_threads,
               r->read_threads == 1 ? "" : "s", r->peak_gflops);
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
    return 0;
}

int cli_bench(cli_options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"prefill", required_argument, NULL, OPT_PREFILL},
        {"decode", required_argument, NULL, OPT_DECODE},
        {"repeats", required_argument, NULL, OPT_REPEATS},
        {"f32", no_argument, NULL, OPT_F32},
        {"no-readbw", no_argument, NULL, OPT_NO_READBW},
        {"no-peak", no_argument, NULL, OPT_NO_PEAK}, CLI_COMMON_LONGOPTS};
    const char *model = NULL;
    uint32_t P = 512, D = 128, repeats = 5;
    bool f32 = false, readbw = true, peak = true;
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_OPTSTRING "m:", longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': model = optarg; break;
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
    if (!(model = cli_model_dir(model, argc, argv, bench_usage)))
        return 2;
    if (P < 1 || repeats < 1) {
        fputs(bench_usage, stderr);
        return 2;
    }
    if (P > BENCH_MAX_POSITIONS || D > BENCH_MAX_POSITIONS - P || repeats > 1000) {
        fprintf(stderr,
                "plinth: bench: --prefill %u + --decode %u is more than %d positions, or "
                "--repeats %u more than 1000\n",
                P, D, BENCH_MAX_POSITIONS, repeats);
        return 2;
    }
    plinth_lm_options lo = {.n_ctx = (int32_t)(P + D), .n_batch = (int32_t)P, .force_f32 = f32};
    cli_lm s;
    int rc = cli_lm_open(o, model, lo, &s);
    bench_result r = {0};
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    r.read_threads = o->threads ? o->threads : cores > 0 ? (uint32_t)cores : 1;
    if (!rc)
        rc = bench_runs(&s, P, D, repeats, peak ? r.read_threads : 0, &r);
    if (!rc) {
        /* The peak RSS first: the reference's buffer would raise it. */
        r.peak_rss = cli_peak_rss();
        if (readbw && D > 0)
            r.read_gbs = cli_read_bandwidth(r.read_threads, 5);
        rc = bench_print(o, &s, model, P, D, repeats, &r);
    }
    free(r.prefill_runs);
    free(r.peak_runs);
    cli_lm_close(&s);
    return rc;
}
