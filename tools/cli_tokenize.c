/*
 * cli_tokenize.c — `plinth tokenize`: the token ids of a text (with the
 * model's bos when it wants one), or of a one-turn chat in the model's
 * template, through plinth_lm_tokenize and plinth_lm_chat_format. The
 * weights are not read.
 */
#include "cli_lm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char tokenize_usage[] =
    "usage: plinth tokenize [-m] MODEL -p TEXT|-p -|-f FILE [--chat [--system TEXT]] [--json]\n"
    "Prints the token ids of TEXT (with the model's bos when its tokenizer adds one),\n"
    "comma-separated on one line; --json: {\"ids\": [...]}. --chat: of TEXT as one user\n"
    "turn of the model's chat template (--system: a system message first).\n";

enum { OPT_CHAT = CLI_OPT_FIRST_FREE, OPT_SYSTEM };

int cli_tokenize(cli_options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'}, {"prompt", required_argument, NULL, 'p'},
        {"file", required_argument, NULL, 'f'}, {"chat", no_argument, NULL, OPT_CHAT},
        {"system", required_argument, NULL, OPT_SYSTEM},
        {"system-prompt", required_argument, NULL, OPT_SYSTEM}, CLI_COMMON_LONGOPTS};
    const char *prompt = NULL, *file = NULL, *model = NULL, *system = NULL;
    bool chat = false;
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_OPTSTRING "m:p:f:", longopts, NULL)) != -1) {
        if (c == 'm') {
            model = optarg;
        } else if (c == 'p') {
            prompt = optarg;
        } else if (c == 'f') {
            file = optarg;
        } else if (c == OPT_CHAT) {
            chat = true;
        } else if (c == OPT_SYSTEM) {
            system = optarg;
        } else {
            int rc = cli_common_flag(c, o, tokenize_usage);
            if (rc != CLI_PARSED)
                return rc;
        }
    }
    if (!(model = cli_model_dir(model, argc, argv, tokenize_usage)))
        return 2;
    if (!prompt == !file || (system && !chat)) {
        fprintf(stderr, "plinth: tokenize: %s\n",
                system && !chat ? "--system goes with --chat"
                                : "one text: -p TEXT, -p - (stdin) or -f FILE");
        return 2;
    }
    char *text = file || strcmp(prompt, "-") == 0 ? cli_read_prompt(file ? file : "-",
                                                                     file ? "-f" : "-p -")
                                                  : strdup(prompt);
    if (!text)
        return 1;
    /* Only the tokenizer is wanted: compile the programs for one token and
     * leave the weights unread. */
    plinth_lm_options lo = {.n_ctx = 1, .n_batch = 1, .no_weights = true};
    cli_lm m;
    int rc = cli_lm_open(o, model, lo, &m);
    if (!rc && chat) {
        plinth_lm_message msgs[2] = {{"system", system}, {"user", text}};
        char *formatted = cli_lm_chat_text(&m, system ? msgs : msgs + 1, system ? 2 : 1);
        free(text);
        text = formatted;
        rc = !text;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    if (!rc)
        rc = cli_lm_tokenize(&m, text, strlen(text), &ids, &n);
    if (!rc && o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(j, "ids");
        for (size_t i = 0; i < n && arr; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
        if (!arr || (size_t)cJSON_GetArraySize(arr) != n) { /* an allocation failed */
            cJSON_Delete(j);
            j = NULL;
        }
        rc = cli_print_json(j);
    } else if (!rc) {
        for (size_t i = 0; i < n; i++)
            printf("%s%d", i ? "," : "", (int)ids[i]);
        printf("\n");
    }
    free(ids);
    free(text);
    cli_lm_close(&m);
    return rc;
}
