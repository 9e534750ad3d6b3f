/*
 * fuzz_config.c — config.json of a Gemma 3 model (lm_config_parse)
 * from arbitrary bytes, and the JSON syntax check behind its messages.
 *
 * Checked: json_text_check accepts what cJSON accepts (it tells a syntax
 * error from out-of-memory, so the two must agree on every input, but for
 * numbers of more than 63 characters, which it always refuses);
 * json_text_string decodes every string as cJSON does (a string at the
 * top, or the keys and string values of a top-level object, walked with
 * the tokenizer's span reader, member for member with cJSON's children);
 * a parse that fails leaves a message naming the file; a config that
 * parses is inside every limit of model_limits.h, its heads divide, its
 * token ids lie below vocab_size, and its param list names and sizes
 * every tensor without overflow.
 */
#include "fuzz.h"
#include "lm_model.h"
#include "json_text.h"
#include "tokenizer_internal.h"

#include <cJSON.h>

/* json_text_string of the span against cJSON's C string. */
static void same_string(const char *text, tokj_span v, const char *want)
{
    char buf[256];
    const size_t n = json_text_string(text + v.start, v.end - v.start, buf, sizeof buf);
    const size_t k = strlen(want);
    FUZZ_CHECK(n == k && memcmp(buf, want, k < sizeof buf - 1 ? k : sizeof buf - 1) == 0 &&
                   strlen(buf) == (k < sizeof buf ? k : sizeof buf - 1),
               "json_text_string at byte %zu gives %zu bytes, cJSON %zu", v.start, n, k);
}

/* Strings of a text both accept, decoded both ways. */
static void check_strings(const char *text, size_t size, const cJSON *j)
{
    const tokj_span root = tokj_root(text, size);
    if (cJSON_IsString(j)) {
        same_string(text, root, j->valuestring);
        return;
    }
    if (!cJSON_IsObject(j))
        return;
    size_t pos = 0;
    tokj_span k, v;
    const cJSON *child = j->child;
    for (; child && tokj_member(text, root, &pos, &k, &v); child = child->next) {
        same_string(text, k, child->string);
        if (cJSON_IsString(child))
            same_string(text, v, child->valuestring);
    }
    FUZZ_CHECK(!child && !tokj_member(text, root, &pos, &k, &v), "the span walk and cJSON "
               "disagree on the number of members");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    cJSON *j = cJSON_ParseWithLengthOpts(text, size, NULL, false);
    size_t at;
    const json_text_verdict v = json_text_check(text, size, &at);
    /* A number of more than 63 characters is refused whatever cJSON does
     * (releases differ on it); everything else must agree. */
    FUZZ_CHECK(j ? v == JSON_TEXT_OK || v == JSON_TEXT_LONG_NUMBER : v != JSON_TEXT_OK,
               "cJSON %s but json_text_check says %d (byte %zu)", j ? "parses" : "fails", (int)v,
               at);
    if (j && v == JSON_TEXT_OK)
        check_strings(text, size, j);
    cJSON_Delete(j);
    free(text);

    lm_config c;
    char err[1024] = "";
    plinth_status st = lm_config_parse(NULL, (const char *)data, size, "config.json", &c, err,
                                           sizeof err);
    if (st != PLINTH_OK) {
        FUZZ_CHECK(strncmp(err, "config.json: ", 13) == 0, "message names no file: %s", err);
        FUZZ_CHECK(st != PLINTH_ERR_NO_MEMORY, "out of memory on %zu bytes: %s", size, err);
        return 0;
    }
    FUZZ_CHECK(c.vocab >= 1 && c.vocab <= MODEL_MAX_VOCAB, "vocab %d", c.vocab);
    FUZZ_CHECK(c.hidden >= 1 && c.hidden <= MODEL_MAX_HIDDEN, "hidden %d", c.hidden);
    FUZZ_CHECK(c.ffn >= 1 && c.ffn <= MODEL_MAX_FFN, "ffn %d", c.ffn);
    FUZZ_CHECK(c.n_layers >= 1 && c.n_layers <= MODEL_MAX_LAYERS, "layers %d", c.n_layers);
    FUZZ_CHECK(c.n_heads >= 1 && c.n_heads <= MODEL_MAX_HEADS && c.n_kv_heads >= 1 &&
                   c.n_heads % c.n_kv_heads == 0,
               "heads %d / %d", c.n_heads, c.n_kv_heads);
    FUZZ_CHECK(c.head_dim >= 2 && c.head_dim <= MODEL_MAX_HEAD_DIM && c.head_dim % 2 == 0,
               "head_dim %d", c.head_dim);
    FUZZ_CHECK(c.sliding_window >= 1 && c.sliding_window <= MODEL_MAX_CONTEXT, "window %d",
               c.sliding_window);
    FUZZ_CHECK(c.max_pos >= 1 && c.max_pos <= MODEL_MAX_CONTEXT, "max_pos %d", c.max_pos);
    const float f[] = {c.eps, c.rope_theta, c.rope_local_base, c.query_pre_attn_scalar};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        FUZZ_CHECK(f[i] > 0.0f && f[i] <= 3.4028234663852886e38f, "float key %zu is %g", i,
                   (double)f[i]);
    FUZZ_CHECK(c.bos >= 0 && c.bos < c.vocab, "bos %d", c.bos);
    FUZZ_CHECK(c.n_eos >= 0 && c.n_eos <= MODEL_MAX_EOS_IDS, "n_eos %d", c.n_eos);
    for (int32_t i = 0; i < c.n_eos; i++)
        FUZZ_CHECK(c.eos[i] >= 0 && c.eos[i] < c.vocab, "eos[%d] = %d", i, c.eos[i]);
    char name[128];
    int64_t rows, cols;
    bool norm;
    uint32_t n = 0;
    while (lm_param_at(&c, n, name, sizeof name, &rows, &cols, &norm)) {
        FUZZ_CHECK(rows >= 1 && cols >= 0 && (cols == 0 || rows <= INT64_MAX / cols),
                   "%s: [%lld, %lld]", name, (long long)rows, (long long)cols);
        n++;
    }
    FUZZ_CHECK(n == 2u + 13u * (uint32_t)c.n_layers + (c.tied ? 0u : 1u), "%u params", n);
    return 0;
}
