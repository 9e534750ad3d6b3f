/* STUB: the Gemma 3 commands (run, logits, tokenize, bench, init-random,
 * plan MODEL) land with models/gemma3. */
#include "cli.h"

#include <stdio.h>

static int not_yet(const char *cmd)
{
    fprintf(stderr, "plinth: '%s' is not built yet\n", cmd);
    return 2;
}

int cli_run(cli_options *o, int argc, char **argv) { (void)o; (void)argc; (void)argv; return not_yet("run"); }
int cli_logits(cli_options *o, int argc, char **argv) { (void)o; (void)argc; (void)argv; return not_yet("logits"); }
int cli_tokenize(cli_options *o, int argc, char **argv) { (void)o; (void)argc; (void)argv; return not_yet("tokenize"); }
int cli_bench(cli_options *o, int argc, char **argv) { (void)o; (void)argc; (void)argv; return not_yet("bench"); }
int cli_init_random(cli_options *o, int argc, char **argv) { (void)o; (void)argc; (void)argv; return not_yet("init-random"); }
int cli_model_plan(cli_options *o, const char *model_dir) { (void)o; (void)model_dir; return not_yet("plan MODEL"); }
