/*
 * test_lm_cli.c — the model commands as thin callers of plinth_lm.h, with
 * llama-cli's flags: -m, -c, -f, -p - (stdin), --system with --chat, the -i
 * chat loop keeping its KV cache across turns, -r stop strings, --min-p and
 * the repeat penalty, -n -1 until the context is full, -ngl as the layer
 * split; --json on every command (valid JSON or a refusal); the tiny
 * Llama 3, Qwen 2 and Qwen 3 checkpoints through `plinth logits` without a
 * tokenizer; and examples/chat_two_sessions (two sessions over one model
 * give what each conversation gives alone).
 *
 * The chat model ($PLINTH_CHAT_MODEL) is the golden tiny Gemma 3 shape
 * with the real Gemma 3 tokenizer and its vocabulary, random weights,
 * written once per build by `plinth init-random`. Greedy decoding makes
 * every output a function of the model and the prompt, so two ways of
 * asking the same thing must print the same bytes.
 *
 * Sections: helpers; flags; the chat loop; sampling and stops; JSON;
 * models without a tokenizer; the example.
 */
#include <criterion/criterion.h>

#include <cJSON.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ----------------------------------------------------------- helpers --- */

static char dir[64];
static char out[1 << 20], err[1 << 16]; /* plan --json is long */

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/plinth-lmcli-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void teardown(void) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

TestSuite(lm_cli, .init = setup, .fini = teardown, .timeout = 300);

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
}

static void slurp_into(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs `plinth ARGS` with `input` on stdin (NULL: /dev/null); stdout in
 * `out`, stderr in `err`; returns the exit status (128 + n for a signal). */
static int plinth_in(const char *input, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int plinth_in(const char *input, const char *fmt, ...)
{
    char args[8192], cmd[9000], in[128], o[128], e[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(in, sizeof in, "%s/stdin", dir);
    snprintf(o, sizeof o, "%s/stdout", dir);
    snprintf(e, sizeof e, "%s/stderr", dir);
    spit(in, input ? input : "");
    snprintf(cmd, sizeof cmd, "'%s' %s <%s >%s 2>%s", getenv("PLINTH_EXE"), args, in, o, e);
    int st = system(cmd);
    slurp_into(o, out, sizeof out);
    slurp_into(e, err, sizeof err);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

#define plinth(...) plinth_in(NULL, __VA_ARGS__)

#define EXPECT_IN(where, needle)                                                          \
    cr_expect_not_null(strstr((where), (needle)), "expected \"%s\" in:\n%s", (needle),    \
                       (where))

static const char *chat_model(void)
{
    const char *m = getenv("PLINTH_CHAT_MODEL");
    cr_assert_not_null(m, "PLINTH_CHAT_MODEL not set");
    return m;
}

static const char *data(const char *name)
{
    static char buf[4][1024];
    static int slot;
    slot = (slot + 1) % 4;
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", getenv("PLINTH_TEST_DATA"), name);
    return buf[slot];
}

/* A copy of `s` (the last output) that outlives the next run. */
static char *keep(const char *s)
{
    char *k = strdup(s);
    cr_assert_not_null(k);
    return k;
}

/* The run options every greedy run here shares. */
#define GREEDY "--temp 0 -n 8"

/* ------------------------------------------------------------- flags --- */

/* -m DIR is the positional; -f FILE and -p - read the same prompt (one
 * trailing newline dropped, as llama.cpp's -f); both -m and a positional
 * is refused. */
Test(lm_cli, model_flag_file_and_stdin)
{
    const char *m = chat_model();
    cr_assert_eq(plinth("run %s -p Hello " GREEDY, m), 0, "%s", err);
    char *want = keep(out);
    cr_expect_gt(strlen(want), 1, "nothing generated");
    EXPECT_IN(err, "decode 8 tokens");
    cr_assert_eq(plinth("run -m %s -p Hello " GREEDY, m), 0, "%s", err);
    cr_expect_str_eq(out, want);
    char f[128];
    snprintf(f, sizeof f, "%s/prompt.txt", dir);
    spit(f, "Hello\n");
    cr_assert_eq(plinth("run %s -f %s " GREEDY, m, f), 0, "%s", err);
    cr_expect_str_eq(out, want, "-f differs from -p");
    cr_assert_eq(plinth_in("Hello\n", "run %s -p - " GREEDY, m), 0, "%s", err);
    cr_expect_str_eq(out, want, "-p - differs from -p");
    /* another prompt gives another text: the comparisons can fail */
    cr_assert_eq(plinth("run %s -p Goodbye " GREEDY, m), 0, "%s", err);
    cr_expect_str_neq(out, want);
    cr_expect_eq(plinth("run -m %s %s -p Hello", m, m), 2);
    EXPECT_IN(err, "one model folder");
    cr_expect_eq(plinth("run %s -p a -f %s", m, f), 2);
    EXPECT_IN(err, "-p or -f, not both");
    cr_expect_eq(plinth("run %s -f %s/none.txt", m, dir), 1);
    EXPECT_IN(err, "none.txt");
    free(want);
}

/* A folder that is not there says so, on every model command, before any
 * tokenizer or checkpoint is looked for. */
Test(lm_cli, missing_model_folder)
{
    static const char *const cmds[] = {"run %s/none -p hi", "tokenize %s/none -p hi",
                                       "logits %s/none --tokens 1 --out x", "bench %s/none",
                                       "plan %s/none"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        cr_expect_eq(plinth(cmds[i], dir), 1, "%s", cmds[i]);
        EXPECT_IN(err, "no such model folder");
        cr_expect_null(strstr(err, "tokenizer"), "%s", err);
    }
}

/* -c is the context: -n -1 generates until it is full and says so; the
 * count is what fits (the last token is sampled, never decoded). */
Test(lm_cli, ctx_and_n_minus_one)
{
    const char *m = chat_model();
    cr_assert_eq(plinth("run %s -p Hello --temp 0 -n -1 -c 10 --json", m), 0, "%s", err);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "not JSON: %s", out);
    const int n_prompt = cJSON_GetObjectItem(j, "n_prompt")->valueint;
    cr_expect_eq(n_prompt, 2, "<bos> Hello");
    cr_expect_eq(cJSON_GetObjectItem(j, "n_generated")->valueint, 10 - n_prompt + 1);
    cr_expect_str_eq(cJSON_GetObjectItem(j, "stop_reason")->valuestring, "context");
    cr_expect_eq(cJSON_GetObjectItem(j, "n_ctx")->valueint, 10);
    cJSON_Delete(j);
    EXPECT_IN(err, "the context of 10 positions is full");
    cr_assert_eq(plinth("run %s -p Hello --temp 0 -n -1 --ctx-size 7", m), 0, "%s", err);
    EXPECT_IN(err, "stopped after 6 tokens: the context of 7 positions is full");
    /* -n within the context: no such message */
    cr_assert_eq(plinth("run %s -p Hello --temp 0 -n 3 -c 10", m), 0, "%s", err);
    cr_expect_null(strstr(err, "is full"), "%s", err);
    cr_expect_eq(plinth("run %s -p Hello -n -2", m), 2);
    EXPECT_IN(err, "-n wants an integer from -1");
}

/* -ngl N is --split-layers=N: with one backend it says what it maps to and
 * what it needs; on two it pins layers like --split-layers. */
Test(lm_cli, ngl_is_the_layer_split)
{
    const char *m = chat_model(), *tiny = data("gemma3-tiny-a");
    cr_expect_eq(plinth("run %s -ngl 3 -p hi", m), 1);
    EXPECT_IN(err, "-ngl 3 is --split-layers=3");
    EXPECT_IN(err, "needs two backends");
    cr_assert_eq(plinth("plan --backend=ref,cpu -ngl 3 %s", tiny), 0, "%s", err);
    EXPECT_IN(out, "layers [0, 3) pinned to ref, the rest to cpu");
    char *split = keep(out);
    cr_assert_eq(plinth("plan --backend=ref,cpu --split-layers=3 -m %s", tiny), 0, "%s", err);
    cr_expect_str_eq(out, split, "-m or -ngl changed the plan");
    free(split);
    /* llama.cpp's long name too: the same run as --split-layers */
    cr_assert_eq(plinth("run %s --backend=ref,cpu --split-layers=2 -p Hello --verbose " GREEDY,
                        m), 0, "%s", err);
    char *split_run = keep(out);
    EXPECT_IN(err, "on 'ref, cpu'");
    cr_assert_eq(plinth("run %s --backend=ref,cpu --n-gpu-layers 2 -p Hello " GREEDY, m), 0,
                 "%s", err);
    cr_expect_str_eq(out, split_run);
    free(split_run);
}

/* ---------------------------------------------------------- the chat --- */

/* Gemma 3's template written out: what --chat and -i must feed. */
static void gemma_turn(char *buf, size_t size, const char *role, const char *text)
{
    size_t n = strlen(buf);
    snprintf(buf + n, size - n, "<start_of_turn>%s\n%s<end_of_turn>\n", role, text);
}

/* --system with --chat: one user turn after the system message, exactly
 * the template's text run as a plain prompt; tokenize --chat agrees. */
Test(lm_cli, system_and_chat)
{
    const char *m = chat_model();
    char text[1024] = "", f[128];
    gemma_turn(text, sizeof text, "user", "Be brief.\n\nHello");
    strcat(text, "<start_of_turn>model\n\n"); /* -f drops the last newline */
    snprintf(f, sizeof f, "%s/chat.txt", dir);
    spit(f, text);
    cr_assert_eq(plinth("run %s --chat --system 'Be brief.' -p Hello " GREEDY, m), 0, "%s", err);
    char *chat = keep(out);
    cr_assert_eq(plinth("run %s -f %s " GREEDY, m, f), 0, "%s", err);
    cr_expect_str_eq(out, chat, "--chat --system is not Gemma's template");
    cr_assert_eq(plinth("run %s -sys 'Be brief.' --chat -p Hello " GREEDY, m), 0, "%s", err);
    cr_expect_str_eq(out, chat, "-sys is not --system");
    cr_assert_eq(plinth("run %s --chat -p Hello " GREEDY, m), 0, "%s", err);
    cr_expect_str_neq(out, chat, "the system message changed nothing");
    free(chat);
    cr_assert_eq(plinth("tokenize %s --chat --system 'Be brief.' -p Hello", m), 0, "%s", err);
    char *ids = keep(out);
    cr_assert_eq(plinth("tokenize %s -f %s", m, f), 0, "%s", err);
    cr_expect_str_eq(out, ids);
    free(ids);
    cr_expect_eq(plinth("run %s --system 'Be brief.' -p Hello", m), 2);
    EXPECT_IN(err, "--system is a chat message");
}

/* Parses the --verbose line of turn `t`: the conversation's tokens, held
 * by the session, reused, fed. */
static void turn_counts(int t, int *n, int *held, int *reused, int *fed)
{
    char key[32];
    snprintf(key, sizeof key, "turn %d: ", t);
    const char *at = strstr(err, key);
    cr_assert_not_null(at, "no '%s' in:\n%s", key, err);
    cr_assert_eq(sscanf(at + strlen(key), "the conversation is %d tokens, the session holds %d, "
                        "%d of them reused, %d fed", n, held, reused, fed), 4, "%s", at);
}

/* -i: two turns from stdin. The second feeds only what the session does
 * not hold (it keeps the first turn's tokens and KV rows), and its reply
 * is what one prefill of the whole conversation gives. */
Test(lm_cli, interactive_two_turns)
{
    const char *m = chat_model();
    cr_assert_eq(plinth_in("Hello\n\nHow are you?\n",
                           "run %s -i --system 'Be brief.' --temp 0 -n 6 --verbose", m),
                 0, "%s", err);
    char *replies = keep(out);
    EXPECT_IN(err, "> ");
    /* two replies, one line each (the empty line is no turn) */
    char *nl = strchr(replies, '\n');
    cr_assert(nl && strchr(nl + 1, '\n') && !strchr(strchr(nl + 1, '\n') + 1, '\n'),
              "want two lines:\n%s", replies);
    *nl = '\0';
    char *second = nl + 1;
    second[strlen(second) - 1] = '\0';
    int n1, h1, r1, f1, n2, h2, r2, f2;
    turn_counts(1, &n1, &h1, &r1, &f1);
    turn_counts(2, &n2, &h2, &r2, &f2);
    cr_expect(h1 == 0 && r1 == 0 && f1 == n1, "turn 1 starts empty: %d %d %d %d", n1, h1, r1, f1);
    /* The session holds turn 1's prompt and all but the last reply token,
     * and the whole first prompt is reused. */
    cr_expect_eq(h2, n1 + 6 - 1);
    cr_expect_geq(r2, n1, "turn 2 reused %d tokens, turn 1's prompt had %d", r2, n1);
    cr_expect_eq(f2, n2 - r2);
    cr_expect_lt(f2, n2, "turn 2 fed the whole conversation");
    /* The same conversation in one prefill. The template trims the reply. */
    char text[4096] = "", f[128];
    const char *reply1 = replies;
    while (*reply1 == ' ')
        reply1++;
    gemma_turn(text, sizeof text, "user", "Be brief.\n\nHello");
    gemma_turn(text, sizeof text, "model", reply1);
    gemma_turn(text, sizeof text, "user", "How are you?");
    strcat(text, "<start_of_turn>model\n\n");
    snprintf(f, sizeof f, "%s/conv.txt", dir);
    spit(f, text);
    cr_assert_eq(plinth("run %s -f %s --temp 0 -n 6", m, f), 0, "%s", err);
    out[strcspn(out, "\n")] = '\0';
    cr_expect_str_eq(out, second, "turn 2 of -i differs from the whole conversation at once");
    free(replies);
    /* EOF at once: no turn, no error; -p gives the first turn */
    cr_assert_eq(plinth_in("", "run %s -i --temp 0 -n 4", m), 0, "%s", err);
    cr_expect_str_eq(out, "");
    cr_assert_eq(plinth_in("", "run %s -i -p Hello --temp 0 -n 6", m), 0, "%s", err);
    char *first = keep(out);
    cr_assert_eq(plinth("run %s --chat -p Hello --temp 0 -n 6", m), 0, "%s", err);
    cr_expect_str_eq(out, first, "-i -p differs from --chat -p");
    char first_turn[512];
    snprintf(first_turn, sizeof first_turn, "%s", first);
    free(first);
    /* --chat without a prompt is the loop */
    cr_assert_eq(plinth_in("Hello\n", "run %s --chat --temp 0 -n 6", m), 0, "%s", err);
    cr_expect_str_eq(out, first_turn, "--chat without a prompt is not the -i loop");
    cr_expect_eq(plinth_in("x\n", "run %s -i -p -", m), 2);
    EXPECT_IN(err, "not -p -");
}

/* ---------------------------------------------------- sampling, stops --- */

/* -r: the text stops before the first stop string (not printed); the
 * JSON says why. */
Test(lm_cli, stop_strings)
{
    const char *m = chat_model();
    cr_assert_eq(plinth("run %s -p Hello " GREEDY, m), 0, "%s", err);
    /* the second word of the greedy text as the stop string */
    char *full = keep(out), word[256];
    const char *w = full + strspn(full, " ");
    w += strcspn(w, " ");
    w += strspn(w, " ");
    size_t wl = strcspn(w, " \n");
    cr_assert(wl > 0 && wl < sizeof word && !memchr(w, '\'', wl), "no second word in '%s'", full);
    memcpy(word, w, wl);
    word[wl] = '\0';
    const size_t before = (size_t)(strstr(full, word) - full);
    cr_assert_eq(plinth("run %s -p Hello -r 'zzqq' -r '%s' " GREEDY, m, word), 0, "%s", err);
    cr_expect_eq(strlen(out), before + 1, "'%s' stopped at '%s'", out, word);
    cr_expect(strncmp(out, full, before) == 0 && out[before] == '\n', "'%s' vs '%s'", out, full);
    cr_assert_eq(plinth("run %s -p Hello -r '%s' --json " GREEDY, m, word), 0, "%s", err);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    cr_expect_str_eq(cJSON_GetObjectItem(j, "stop_reason")->valuestring, "stop_string");
    cr_expect(strncmp(cJSON_GetObjectItem(j, "text")->valuestring, full, before) == 0);
    cr_expect_eq(strlen(cJSON_GetObjectItem(j, "text")->valuestring), before);
    cJSON_Delete(j);
    free(full);
}

/* Neutral --min-p / --repeat-penalty change nothing at temperature 0;
 * --min-p 1 at temperature 1 keeps only the most likely token (greedy);
 * a real penalty changes a text that repeats a token. */
Test(lm_cli, min_p_and_repeat_penalty)
{
    const char *m = chat_model();
    cr_assert_eq(plinth("run %s -p Hello --temp 0 -n 12", m), 0, "%s", err);
    char *greedy = keep(out);
    cr_assert_eq(plinth("run %s -p Hello --temp 0 -n 12 --min-p 0 --repeat-penalty 1 "
                        "--repeat-last-n 64 --top-k 0 --top-p 1", m), 0, "%s", err);
    cr_expect_str_eq(out, greedy);
    cr_assert_eq(plinth("run %s -p Hello --temp 1 --seed 7 -n 12 --min-p 1", m), 0, "%s", err);
    cr_expect_str_eq(out, greedy, "--min-p 1 is not greedy");
    cr_assert_eq(plinth("run %s -p Hello --temp 1 --seed 7 -n 12", m), 0, "%s", err);
    cr_expect_str_neq(out, greedy, "sampling at temperature 1 gave the greedy text");
    /* The greedy text repeats a word; dividing its logit must change it. */
    int repeats = 0;
    char *copy = keep(greedy), *save = NULL;
    char *words[64];
    int nw = 0;
    for (char *t = strtok_r(copy, " \n", &save); t && nw < 64; t = strtok_r(NULL, " \n", &save))
        words[nw++] = t;
    for (int a = 0; a < nw; a++)
        for (int b = a + 1; b < nw; b++)
            repeats += strcmp(words[a], words[b]) == 0;
    cr_assert_gt(repeats, 0, "the fixture's greedy text repeats no word: '%s'", greedy);
    free(copy);
    cr_assert_eq(plinth("run %s -p Hello --temp 0 -n 12 --repeat-penalty 1.5", m), 0, "%s", err);
    cr_expect_str_neq(out, greedy, "--repeat-penalty 1.5 changed nothing");
    cr_assert_eq(plinth("run %s -p Hello --temp 0 -n 12 --repeat-penalty 1.5 --repeat-last-n 0",
                        m), 0, "%s", err);
    cr_expect_str_eq(out, greedy, "--repeat-last-n 0 still penalises");
    cr_expect_eq(plinth("run %s -p Hello --repeat-penalty 0", m), 2);
    cr_expect_eq(plinth("run %s -p Hello --min-p x", m), 2);
    free(greedy);
}

/* --ignore-eos: the tiny model's greedy text is cut by -n either way, so
 * its effect is shown by the stop reason staying max_tokens over a long
 * run while the flag is accepted. */
Test(lm_cli, ignore_eos_accepted)
{
    const char *m = chat_model();
    cr_assert_eq(plinth("run %s -p Hello --temp 0 -n 4 --ignore-eos --json", m), 0, "%s", err);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    cr_expect_str_eq(cJSON_GetObjectItem(j, "stop_reason")->valuestring, "max_tokens");
    cr_expect_eq(cJSON_GetObjectItem(j, "n_generated")->valueint, 4);
    cJSON_Delete(j);
}

/* -------------------------------------------------------------- JSON --- */

static void expect_json(int rc, const char *what)
{
    cr_expect_eq(rc, 0, "%s: %s", what, err);
    cJSON *j = cJSON_Parse(out);
    cr_expect_not_null(j, "%s: not JSON:\n%.600s", what, out);
    cr_expect(cJSON_IsObject(j), "%s", what);
    cJSON_Delete(j);
}

static void expect_refused(int rc, const char *what)
{
    cr_expect_eq(rc, 2, "%s: exit %d", what, rc);
    EXPECT_IN(err, "--json");
    cr_expect_str_eq(out, "", "%s printed on stdout", what);
}

/* Every command: valid JSON on stdout, or exit 2 saying --json is not for
 * it; the flag works before and after the command name. */
Test(lm_cli, json_on_every_command)
{
    const char *m = chat_model(), *tiny = data("gemma3-tiny-a");
    expect_json(plinth("run %s -p Hello --json " GREEDY, m), "run");
    expect_json(plinth("--json run %s -p Hello " GREEDY, m), "--json run");
    expect_json(plinth("tokenize %s -p Hello --json", m), "tokenize");
    cJSON *j = cJSON_Parse(out);
    cJSON *ids = cJSON_GetObjectItem(j, "ids");
    cr_expect(cJSON_IsArray(ids) && cJSON_GetArraySize(ids) == 2, "%s", out);
    cr_expect_eq(cJSON_GetArrayItem(ids, 0)->valueint, 2, "<bos>");
    cJSON_Delete(j);
    expect_json(plinth("logits %s --tokens 2,17,9 --out %s/l.f32 --json", tiny, dir), "logits");
    j = cJSON_Parse(out);
    cr_expect_eq(cJSON_GetObjectItem(j, "n_tokens")->valueint, 3);
    cr_expect_eq(cJSON_GetObjectItem(j, "vocab")->valueint, 512);
    cJSON_Delete(j);
    expect_json(plinth("bench %s --prefill 4 --decode 2 --repeats 1 --no-readbw --no-peak "
                       "--json", tiny), "bench");
    expect_json(plinth("plan %s --json", tiny), "plan MODEL");
    j = cJSON_Parse(out);
    cr_expect(cJSON_IsObject(cJSON_GetObjectItem(j, "prefill")) &&
              cJSON_IsObject(cJSON_GetObjectItem(j, "decode")), "%.300s", out);
    cJSON_Delete(j);
    expect_json(plinth("plan --json"), "plan");
    expect_refused(plinth("devices --json"), "devices");
    expect_refused(plinth("--json devices"), "--json devices");
    expect_refused(plinth("demo --json"), "demo");
    expect_refused(plinth("conformance --json --backend=ref"), "conformance");
    EXPECT_IN(err, "--report=FILE.json");
    expect_refused(plinth("bench-ops --json"), "bench-ops");
    expect_refused(plinth("init-random %s/r --like tiny --json", dir), "init-random");
    cr_expect_eq(plinth_in("hi\n", "run %s -i --json", m), 2);
    EXPECT_IN(err, "--json is for one-shot runs");
}

/* A model path with a quote and a backslash: bench --json stays valid JSON
 * and gives the path back as it is. */
Test(lm_cli, bench_json_with_a_quote_in_the_path)
{
    char path[256], cmd[1024];
    snprintf(path, sizeof path, "%s/tiny\"q\\b", dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    snprintf(cmd, sizeof cmd, "cp '%s/config.json' '%s/model.safetensors' '%s'",
             data("gemma3-tiny-a"), data("gemma3-tiny-a"), path);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(plinth("bench '%s' --backend=ref --prefill 3 --decode 1 --repeats 1 "
                        "--no-readbw --no-peak --json", path), 0, "%s", err);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "not JSON:\n%s", out);
    cr_expect_str_eq(cJSON_GetObjectItem(j, "model")->valuestring, path);
    cJSON_Delete(j);
}

/* ------------------------------------------- no tokenizer: logits only --- */

/* `plinth logits` on the tiny Llama 3, Qwen 2.5 and Qwen 3 checkpoints
 * (no tokenizer.json) reproduces their float64 references; tokenize and
 * run there say the folder has no tokenizer. */
static void logits_match_reference(const char *name)
{
    char path[1024], tokens[1024] = "", lf[128];
    snprintf(path, sizeof path, "%s/tokens.json", data(name));
    char json[8192];
    slurp_into(path, json, sizeof json);
    cJSON *j = cJSON_Parse(json), *ids = cJSON_GetObjectItem(j, "tokens");
    cr_assert(cJSON_IsArray(ids), "%s", path);
    const int n = cJSON_GetArraySize(ids);
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, i ? ",%d" : "%d", cJSON_GetArrayItem(ids, i)->valueint);
        strcat(tokens, id);
    }
    cJSON_Delete(j);
    snprintf(lf, sizeof lf, "%s/%s.f32", dir, name);
    cr_assert_eq(plinth("logits %s --tokens %s --out %s", data(name), tokens, lf), 0, "%s: %s",
                 name, err);
    const size_t count = (size_t)n * 512;
    float *got = malloc(count * sizeof *got), *want = malloc(count * sizeof *want);
    FILE *f = fopen(lf, "rb");
    cr_assert_not_null(f);
    cr_assert_eq(fread(got, sizeof *got, count + 1, f), count, "%s: the wrong size", name);
    fclose(f);
    snprintf(path, sizeof path, "%s/reference.f32", data(name));
    f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fread(want, sizeof *want, count, f), count);
    fclose(f);
    double e = 0, norm = 0;
    for (size_t i = 0; i < count; i++) {
        e += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        norm += (double)want[i] * want[i];
    }
    cr_log_info("plinth logits %s: relative L2 %.3g", name, sqrt(e / norm));
    cr_expect_leq(sqrt(e / norm), 1e-5, "%s: relative L2 %g", name, sqrt(e / norm));
    free(got);
    free(want);
    cr_expect_eq(plinth("tokenize %s -p hi", data(name)), 1);
    EXPECT_IN(err, "has no tokenizer.json");
    cr_expect_eq(plinth("run %s -p hi", data(name)), 1);
    EXPECT_IN(err, "has no tokenizer.json");
}

Test(lm_cli, logits_llama3_without_tokenizer) { logits_match_reference("llama3-tiny"); }
Test(lm_cli, logits_qwen2_without_tokenizer) { logits_match_reference("qwen2-tiny"); }
Test(lm_cli, logits_qwen3_without_tokenizer) { logits_match_reference("qwen3-tiny"); }

/* ------------------------------------------------------- the example --- */

/* The lines of conversation `name` ("[a] ...") in `text`, in order: a
 * reply's own line breaks stay with it. */
static void lines_of(const char *text, const char *name, char *dst, size_t size)
{
    char tag[8];
    snprintf(tag, sizeof tag, "[%s] ", name);
    size_t n = 0;
    bool in = false;
    for (const char *l = text; *l;) {
        size_t len = strcspn(l, "\n");
        len += l[len] == '\n';
        if (l[0] == '[' && l[1] && l[2] == ']')
            in = strncmp(l, tag, strlen(tag)) == 0;
        if (in) {
            cr_assert_lt(n + len, size, "conversation too long");
            memcpy(dst + n, l, len);
            n += len;
        }
        l += len;
    }
    dst[n] = '\0';
}

/* examples/chat_two_sessions: two conversations taking turns over one lm
 * give exactly what each gives alone in its own run: the sessions share
 * the weights and nothing else. */
Test(lm_cli, example_two_sessions)
{
    const char *exe = getenv("PLINTH_EXAMPLE_CHAT"), *m = chat_model();
    cr_assert_not_null(exe, "PLINTH_EXAMPLE_CHAT not set");
    char cmd[4096], both[1 << 14], alone[1 << 14], part[1 << 14];
    snprintf(cmd, sizeof cmd, "'%s' '%s' -n 8 >%s/both 2>%s/both.err", exe, m, dir, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "%s/both", dir);
    slurp_into(cmd, both, sizeof both);
    snprintf(cmd, sizeof cmd, "%s/both.err", dir);
    slurp_into(cmd, err, sizeof err);
    EXPECT_IN(err, "one lm:");
    EXPECT_IN(err, "2 sessions");
    /* the second turns reuse what their sessions hold */
    static const char *const names[] = {"a", "b"};
    for (int k = 0; k < 2; k++) {
        char key[32];
        snprintf(key, sizeof key, "[%s] turn 2: fed ", names[k]);
        const char *at = strstr(err, key);
        int fed = 0, total = 0, kept = 0;
        cr_assert_not_null(at, "%s", err);
        cr_assert_eq(sscanf(at + strlen(key), "%d of %d tokens (%d kept", &fed, &total, &kept), 3);
        /* at least its own first prompt: a session holding the other's
         * conversation would share only the template's first tokens */
        int fed1 = 0;
        snprintf(key, sizeof key, "[%s] turn 1: fed ", names[k]);
        cr_assert_not_null(strstr(err, key), "%s", err);
        cr_assert_eq(sscanf(strstr(err, key) + strlen(key), "%d", &fed1), 1);
        cr_expect(kept >= fed1 && fed + kept == total, "%s (turn 1 fed %d)", at, fed1);
    }
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "'%s' '%s' -n 8 --only %s >%s/alone 2>/dev/null", exe, m,
                 names[k], dir);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
        snprintf(cmd, sizeof cmd, "%s/alone", dir);
        slurp_into(cmd, alone, sizeof alone);
        lines_of(both, names[k], part, sizeof part);
        cr_expect_gt(strlen(part), 40, "no conversation %s in:\n%s", names[k], both);
        cr_expect_str_eq(part, alone, "conversation %s beside the other differs from alone",
                         names[k]);
    }
    lines_of(both, "a", part, sizeof part);
    lines_of(both, "b", alone, sizeof alone);
    cr_expect_str_neq(part, alone);
}
