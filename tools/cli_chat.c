/*
 * cli_chat.c — `plinth run -i`: a conversation over stdin. Each line is a
 * user turn (a first one may come from -p or -f); the whole conversation
 * is formatted again with the model's chat template every turn, and only
 * what the session does not hold yet is fed: the session keeps its KV
 * cache, is cut back to the longest common prefix of the tokens it holds
 * and the new conversation's (plinth_lm_session_truncate), and generation
 * continues from there. A "> " marker on stderr asks for each turn; EOF
 * ends the chat, and the timing line sums every turn.
 *
 * Sections: the conversation; one turn; the loop.
 */
#include "cli_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------- the conversation --- */

typedef struct conversation {
    plinth_lm_message *msgs; /* contents owned (malloc'ed), roles static */
    size_t n, cap;
} conversation;

static bool push(conversation *c, const char *role, const char *content)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        plinth_lm_message *grown = realloc(c->msgs, cap * sizeof *grown);
        if (!grown)
            return false;
        c->msgs = grown;
        c->cap = cap;
    }
    char *copy = strdup(content);
    if (!copy)
        return false;
    c->msgs[c->n++] = (plinth_lm_message){.role = role, .content = copy};
    return true;
}

static void conversation_free(conversation *c)
{
    for (size_t i = 0; i < c->n; i++)
        free((char *)c->msgs[i].content);
    free(c->msgs);
}

/* The next user turn from stdin, without its line end; NULL at EOF.
 * Empty lines are skipped. */
static char *read_turn(char **line, size_t *cap)
{
    for (;;) {
        fputs("> ", stderr);
        fflush(stderr);
        ssize_t n = getline(line, cap, stdin);
        if (n < 0)
            return NULL;
        while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r'))
            (*line)[--n] = '\0';
        if (n > 0)
            return *line;
    }
}

/* ---------------------------------------------------------- one turn --- */

typedef struct totals {
    int32_t turns, n_prompt, n_gen;
    double prefill_ms, decode_ms;
} totals;

/* Formats the conversation, feeds what the session lacks, streams the
 * reply and appends it to the conversation. 0, or 1 after the error. */
static int turn(const cli_options *o, cli_lm *m, plinth_lm_session *s,
                plinth_lm_generate_options *gen, conversation *c, totals *t,
                int32_t *stop_reason)
{
    char *text = cli_lm_chat_text(m, c->msgs, c->n);
    int32_t *ids = NULL;
    size_t n = 0;
    if (!text || cli_lm_tokenize(m, text, strlen(text), &ids, &n)) {
        free(text);
        return 1;
    }
    free(text);
    /* What the session holds of this conversation already: its KV rows
     * stay, the rest goes. At least one token is fed, to have logits. */
    const int32_t held = plinth_lm_session_position(s);
    const int32_t *have = plinth_lm_session_tokens(s);
    size_t keep = 0;
    while (keep < n && keep < (size_t)held && have[keep] == ids[keep])
        keep++;
    if (keep == n && n > 0)
        keep--;
    if (o->verbose)
        fprintf(stderr, "plinth: turn %d: the conversation is %zu tokens, the session holds "
                        "%d, %zu of them reused, %zu fed\n",
                (int)t->turns + 1, n, (int)held, keep, n - keep);
    run_out out = {.print = true, .collect = true};
    gen->on_token = run_on_token;
    gen->user = &out;
    plinth_lm_generate_result r = {.struct_size = sizeof r};
    int rc = 0;
    if (plinth_lm_session_truncate(s, (int32_t)keep) != PLINTH_OK ||
        plinth_lm_generate(s, ids + keep, n - keep, gen, &r) != PLINTH_OK) {
        if (out.len)
            fputc('\n', stdout);
        rc = cli_lm_fail(m, NULL);
    } else if (out.oom || !push(c, "assistant", out.text ? out.text : "")) {
        fprintf(stderr, "plinth: out of memory keeping the conversation\n");
        rc = 1;
    } else {
        fputc('\n', stdout);
        fflush(stdout);
        t->turns++;
        t->n_prompt += r.n_prompt;
        t->n_gen += r.n_generated;
        t->prefill_ms += r.prefill_ms;
        t->decode_ms += r.decode_ms;
        *stop_reason = r.stop_reason;
        if (r.stop_reason == PLINTH_LM_STOP_CONTEXT)
            run_context_full(m, r.n_generated);
    }
    free(out.text);
    free(ids);
    return rc;
}

/* ---------------------------------------------------------- the loop --- */

int cli_chat(const cli_options *o, cli_lm *m, run_args *a)
{
    conversation c = {0};
    plinth_lm_session *s = NULL;
    totals t = {0};
    char *line = NULL;
    size_t line_cap = 0;
    int rc = 0;
    if (a->system && !push(&c, "system", a->system)) {
        fprintf(stderr, "plinth: out of memory\n");
        rc = 1;
    }
    if (!rc && plinth_lm_session_create(m->lm, &s) != PLINTH_OK)
        rc = cli_lm_fail(m, "session");
    for (const char *first = a->prompt; !rc;) {
        const char *user = first ? first : read_turn(&line, &line_cap);
        first = NULL;
        if (!user) { /* EOF: end the marker's line */
            fputc('\n', stderr);
            break;
        }
        if (!push(&c, "user", user)) {
            fprintf(stderr, "plinth: out of memory keeping the conversation\n");
            rc = 1;
            break;
        }
        int32_t stop = 0;
        rc = turn(o, m, s, &a->gen, &c, &t, &stop);
        if (!rc && stop == PLINTH_LM_STOP_CONTEXT) {
            fprintf(stderr, "plinth: the chat ends here: no room for another turn\n");
            break;
        }
    }
    if (!rc && t.turns)
        run_timing_line(m, t.n_prompt, t.prefill_ms, t.n_gen, t.decode_ms);
    free(line);
    plinth_lm_session_destroy(s);
    conversation_free(&c);
    return rc;
}
