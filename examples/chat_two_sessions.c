/*
 * chat_two_sessions.c — two conversations over one model, on plinth_lm.h
 * alone (and plinth.h for the context and the backend).
 *
 * One plinth_lm holds the weights and the compiled programs; each
 * plinth_lm_session has only its own KV cache. The two conversations take
 * turns (a1, b1, a2, b2): every turn formats its whole conversation with
 * the model's chat template, keeps what its session already holds (the
 * longest common prefix of tokens) and feeds the rest, so neither session
 * sees the other's tokens. Replies are greedy, so a conversation gives the
 * same text whether it runs alone (--only a) or beside the other.
 *
 *   cc chat_two_sessions.c $(pkg-config --cflags --libs plinth) -o chat_two_sessions
 *   ./chat_two_sessions MODEL_DIR [--backend cpu] [-n 32] [--only a|b]
 */
#include <plinth/plinth_lm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TURNS = 2, MAX_MESSAGES = 2 * TURNS };

typedef struct conversation {
    const char *name;                      /* "a" or "b"                  */
    const char *user[TURNS];               /* the user's turns            */
    plinth_lm_message msgs[MAX_MESSAGES];  /* the conversation so far     */
    char *replies[TURNS];                  /* owned                       */
    size_t n;
    plinth_lm_session *session;
} conversation;

/* The reply as it comes: kept, printed at the end of the turn. */
typedef struct reply {
    char *text;
    size_t len, cap;
} reply;

static bool on_token(void *user, int32_t token, const char *text, size_t len)
{
    (void)token;
    reply *r = user;
    if (r->len + len + 1 > r->cap) {
        size_t cap = 2 * (r->len + len + 1);
        char *grown = realloc(r->text, cap);
        if (!grown)
            return false; /* stop generating; the caller sees text == NULL or short */
        r->text = grown;
        r->cap = cap;
    }
    memcpy(r->text + r->len, text, len);
    r->len += len;
    r->text[r->len] = '\0';
    return true;
}

static int fail(plinth_lm *lm, const char *what)
{
    fprintf(stderr, "chat_two_sessions: %s: %s\n", what,
            plinth_context_error(plinth_lm_context(lm)));
    return 1;
}

/* The token ids of the conversation in the model's chat template, with
 * the assistant's turn opened (malloc'ed); NULL after saying why. */
static int32_t *conversation_ids(plinth_lm *lm, const conversation *c, size_t *n)
{
    size_t len = 0;
    if (plinth_lm_chat_format(lm, c->msgs, c->n, true, NULL, 0, &len) != PLINTH_OK) {
        fail(lm, "chat_format");
        return NULL;
    }
    char *prompt = malloc(len + 1);
    int32_t *ids = NULL;
    if (!prompt) {
        fprintf(stderr, "chat_two_sessions: out of memory\n");
    } else if (plinth_lm_chat_format(lm, c->msgs, c->n, true, prompt, len + 1, &len) ||
               plinth_lm_tokenize(lm, prompt, len, true, NULL, 0, n)) {
        fail(lm, "chat_format/tokenize");
    } else if (!(ids = malloc((*n + 1) * sizeof *ids))) {
        fprintf(stderr, "chat_two_sessions: out of memory\n");
    } else if (plinth_lm_tokenize(lm, prompt, len, true, ids, *n + 1, n)) {
        fail(lm, "tokenize");
        free(ids);
        ids = NULL;
    }
    free(prompt);
    return ids;
}

/* Turn `t` of conversation c: feed what its session lacks of the
 * conversation, generate the reply, print both. */
static int take_turn(plinth_lm *lm, conversation *c, int t, int32_t max_tokens)
{
    c->msgs[c->n++] = (plinth_lm_message){"user", c->user[t]};
    size_t n = 0;
    int32_t *ids = conversation_ids(lm, c, &n);
    int rc = 0;
    if (!ids)
        return 1;
    /* Keep what the session holds of this conversation; feed the rest. */
    const int32_t held = plinth_lm_session_position(c->session);
    const int32_t *have = plinth_lm_session_tokens(c->session);
    size_t keep = 0;
    while (keep + 1 < n && keep < (size_t)held && have[keep] == ids[keep])
        keep++;
    if (plinth_lm_session_truncate(c->session, (int32_t)keep) != PLINTH_OK) {
        rc = fail(lm, "truncate");
        goto out;
    }
    reply r = {0};
    plinth_lm_generate_options go = {
        .struct_size = sizeof go,
        .sampling = {.struct_size = sizeof go.sampling, .temperature = 0, /* greedy */
                     .repeat_penalty = 1},
        .max_tokens = max_tokens,
        .on_token = on_token,
        .user = &r,
    };
    plinth_lm_generate_result res = {.struct_size = sizeof res};
    if (plinth_lm_generate(c->session, ids + keep, n - keep, &go, &res) != PLINTH_OK) {
        free(r.text);
        rc = fail(lm, "generate");
        goto out;
    }
    c->replies[t] = r.text ? r.text : calloc(1, 1);
    c->msgs[c->n++] = (plinth_lm_message){"assistant", c->replies[t] ? c->replies[t] : ""};
    printf("[%s] user: %s\n[%s] assistant: %s\n", c->name, c->user[t], c->name,
           c->replies[t] ? c->replies[t] : "");
    fprintf(stderr, "[%s] turn %d: fed %zu of %zu tokens (%zu kept in the session), %d "
                    "generated\n", c->name, t + 1, n - keep, n, keep, (int)res.n_generated);
out:
    free(ids);
    return rc;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *backend_name = "cpu", *only = NULL;
    int32_t max_tokens = 32;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc)
            backend_name = argv[++i];
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            max_tokens = atoi(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (!model && argv[i][0] != '-')
            model = argv[i];
        else
            model = NULL, i = argc;
    }
    if (!model) {
        fprintf(stderr, "usage: chat_two_sessions MODEL_DIR [--backend NAME] [-n N] "
                        "[--only a|b]\n");
        return 2;
    }
    plinth_context *ctx = NULL;
    plinth_backend *backend = NULL;
    plinth_lm *lm = NULL;
    int rc = 0;
    /* A short chat: 1024 positions per session, and prefill runs of 32
     * tokens (a run computes all its rows, so a turn of 20 new tokens in
     * a 512-token run would cost 512). */
    const plinth_lm_options options = {.struct_size = sizeof options, .n_ctx = 1024,
                                       .n_batch = 32};
    if (plinth_context_create(NULL, &ctx) != PLINTH_OK) {
        fprintf(stderr, "chat_two_sessions: cannot create a context\n");
        return 1;
    }
    if (plinth_backend_open(ctx, backend_name, 0, NULL, &backend) != PLINTH_OK ||
        plinth_lm_open(&backend, 1, model, &options, &lm) != PLINTH_OK) {
        fprintf(stderr, "chat_two_sessions: %s\n", plinth_context_error(ctx));
        plinth_backend_close(backend);
        plinth_context_destroy(ctx);
        return 1;
    }
    conversation conv[2] = {
        {.name = "a", .user = {"Name three colours.", "Which of them is the warmest?"}},
        {.name = "b", .user = {"Write a haiku about rain.", "Now one about snow."}},
    };
    for (int k = 0; k < 2 && !rc; k++)
        if (plinth_lm_session_create(lm, &conv[k].session) != PLINTH_OK)
            rc = fail(lm, "session");

    /* One copy of the weights for both: the lm's persistent pool; each
     * session adds a KV cache the size of the model's state. */
    plinth_lm_info info = {.struct_size = sizeof info};
    plinth_plan_stats plan = {.struct_size = sizeof plan};
    if (!rc && (plinth_lm_query_info(lm, &info) != PLINTH_OK ||
                plinth_program_plan_stats(plinth_lm_prefill_program(lm), &plan) != PLINTH_OK))
        rc = fail(lm, "info");
    if (!rc)
        fprintf(stderr, "%s: %s, %d layers; one lm: %.1f MiB of weights loaded once, 2 sessions "
                        "of %.1f MiB of KV cache each (%d positions)\n",
                model, info.arch, (int)info.n_layers, (double)plan.persistent_bytes / 1048576.0,
                (double)plan.state_bytes / 1048576.0, (int)info.n_ctx);

    /* a1, b1, a2, b2: the sessions take turns on the one model. */
    for (int t = 0; t < TURNS && !rc; t++)
        for (int k = 0; k < 2 && !rc; k++)
            if (!only || strcmp(only, conv[k].name) == 0)
                rc = take_turn(lm, &conv[k], t, max_tokens);

    for (int k = 0; k < 2; k++) {
        plinth_lm_session_destroy(conv[k].session);
        for (int t = 0; t < TURNS; t++)
            free(conv[k].replies[t]);
    }
    plinth_lm_close(lm);
    plinth_backend_close(backend);
    plinth_context_destroy(ctx);
    return rc;
}
