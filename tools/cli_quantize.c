/*
 * cli_quantize.c — `plinth quantize IN OUT --type TYPE`: a Hugging Face
 * model folder (config.json, safetensors, tokenizer.json) or a GGUF file
 * into a GGUF file llama.cpp reads (models/lm_quantize.h says which tensor
 * gets which dtype, and what llama.cpp's converter conventions it keeps).
 */
#include "cli.h"
#include "lm_quantize.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char quantize_usage[] =
    "usage: plinth quantize IN OUT --type q8_0|q4_0|q4_K|q6_K|q4_K_M|f32|f16|bf16\n"
    "Writes OUT, a GGUF file llama.cpp reads, from IN: a model folder (config.json,\n"
    "*.safetensors, tokenizer.json) or a GGUF file. Weight matrices in TYPE (q4_K_M:\n"
    "llama.cpp's mix, q6_K for the output matrix and for attn_v and ffn_down of some\n"
    "layers, q4_K elsewhere); norms and other vectors in f32; a matrix whose rows\n"
    "are not whole blocks of TYPE keeps its float dtype.\n";

enum { OPT_TYPE = CLI_OPT_FIRST_FREE };

static void progress(void *user, double f)
{
    int *last = user;
    const int pct = (int)(f * 100);
    if (pct / 10 != *last / 10) {
        fprintf(stderr, "\rquantizing: %3d%%", pct);
        fflush(stderr);
    }
    *last = pct;
}

int cli_quantize(cli_options *o, int argc, char **argv)
{
    static const struct option longopts[] = {{"type", required_argument, NULL, OPT_TYPE},
                                             CLI_COMMON_LONGOPTS};
    const char *type = NULL;
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_OPTSTRING, longopts, NULL)) != -1) {
        if (c == OPT_TYPE) {
            type = optarg;
        } else {
            int rc = cli_common_flag(c, o, quantize_usage);
            if (rc != CLI_PARSED)
                return rc;
        }
    }
    lm_quantize_options q = {.type = 0};
    if (argc - optind != 2 || !type) {
        fputs(quantize_usage, stderr);
        return 2;
    }
    if (!lm_quantize_type_from_name(type, &q.type, &q.mix)) {
        fprintf(stderr, "plinth: --type %s: not one of q8_0, q4_0, q4_K, q6_K, q4_K_M, f32, f16, "
                "bf16\n", type);
        return 2;
    }
    plinth_context *ctx = cli_context(o);
    if (!ctx)
        return 1;
    int last = -10;
    q.progress = progress;
    q.progress_user = &last;
    char err[2048];
    const double t0 = cli_now_ms();
    plinth_status st = lm_quantize(ctx, argv[optind], argv[optind + 1], &q, err, sizeof err);
    fprintf(stderr, last >= 0 ? "\n" : "");
    plinth_context_destroy(ctx);
    if (st != PLINTH_OK) {
        fprintf(stderr, "plinth: quantize: %s\n", err);
        return 1;
    }
    printf("wrote %s (%s) in %.1f s\n", argv[optind + 1], type, (cli_now_ms() - t0) / 1e3);
    return 0;
}
