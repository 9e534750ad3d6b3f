/* STUB: the tokenizer engineer replaces this file. */
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tokenizer_load(const char *path, tokenizer **out, char *err, size_t err_size)
{
    *out = NULL;
    if (err) snprintf(err, err_size, "%s: tokenizer not built yet", path);
    return -1;
}
void tokenizer_free(tokenizer *t) { (void)t; }
uint32_t tokenizer_vocab_size(const tokenizer *t) { (void)t; return 0; }
int32_t tokenizer_token_id(const tokenizer *t, const char *token) { (void)t; (void)token; return -1; }
int32_t tokenizer_bos(const tokenizer *t) { (void)t; return -1; }
int32_t tokenizer_eos(const tokenizer *t) { (void)t; return -1; }
int tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_bos,
                     int32_t **out_ids, size_t *out_n, char *err, size_t err_size)
{ (void)t; (void)text; (void)len; (void)add_bos; *out_ids = NULL; *out_n = 0; if (err) snprintf(err, err_size, "not built"); return -1; }
int tokenizer_decode(const tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                     char **out_text, size_t *out_len, char *err, size_t err_size)
{ (void)t; (void)ids; (void)n; (void)skip_special; *out_text = NULL; *out_len = 0; if (err) snprintf(err, err_size, "not built"); return -1; }
int tokenizer_piece(const tokenizer *t, int32_t id, bool first, char *buf, size_t cap)
{ (void)t; (void)id; (void)first; (void)buf; (void)cap; return -1; }
char *tokenizer_chat_prompt(const char *user_text) { (void)user_text; return NULL; }
