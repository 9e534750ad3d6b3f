/*
 * json_text.h — reading the JSON files of a model folder (config.json,
 * tokenizer.json) with bounded cost and messages that say what went wrong.
 *
 *   json_text_read   a whole regular file, up to a size limit, without ever
 *                    blocking (a FIFO or a device named config.json is
 *                    refused, not opened for reading)
 *   json_text_parse  cJSON's parse, and on failure the reason: a syntax
 *                    error at line:column, nesting deeper than cJSON's
 *                    limit, or out of memory. cJSON's parse returns NULL
 *                    for all of them; a second pass that allocates nothing
 *                    (json_text_check) tells them apart.
 *
 * Errors: return a plinth_status, message in err (may be NULL) naming the
 * file. Nothing here prints. Thread-safe (no state).
 */
#ifndef PLINTH_JSON_TEXT_H
#define PLINTH_JSON_TEXT_H

#include <plinth.h>

#include <cJSON.h>

#include <stdbool.h>
#include <stddef.h>

/* Reads `path` into *out (from ctx's allocator, model_mem.h; NUL-terminated,
 * *out_len bytes without the NUL). Refuses anything but a regular file, and
 * a file over max_bytes (naming `limit_name`, the constant of
 * model_limits.h). */
plinth_status json_text_read(plinth_context *ctx, const char *path, size_t max_bytes,
                             const char *limit_name, char **out, size_t *out_len, char *err,
                             size_t err_size);

/* Parses text[0, len) (text[len] must be readable; bytes after the first
 * value are ignored, as cJSON does). `where` names the text in messages.
 * cJSON allocates through its hooks: call it inside model_json_enter's
 * bracket of the context the tree belongs to (model_mem.h).
 * NULL on failure: FORMAT for a syntax error or too deep a nesting,
 * NO_MEMORY when the text is valid but cJSON ran out of memory. */
cJSON *json_text_parse(const char *text, size_t len, const char *where, plinth_status *out_status,
                       char *err, size_t err_size);

/* A JSON value as messages show it: a number in full ("1e+38"), a string
 * quoted and cut at 40 bytes, else its kind ("an array"). Returns buf. */
const char *json_text_show(const cJSON *j, char *buf, size_t size);

/* The allocation-free syntax check behind json_text_parse: whether
 * cJSON's parser accepts text[0, len) (same leniencies: any byte <= 0x20
 * is white space, numbers as strtod reads them, bytes after the first
 * value ignored). LONG_NUMBER: a number of more than 63 characters, which
 * cJSON releases disagree on (see json_text.c), refused whatever the
 * release. On failure *fail_at is the byte offset of the error. Exposed so
 * the fuzz harness can check it against cJSON. */
typedef enum json_text_verdict {
    JSON_TEXT_OK,
    JSON_TEXT_SYNTAX,
    JSON_TEXT_TOO_DEEP,    /* nested deeper than CJSON_NESTING_LIMIT */
    JSON_TEXT_LONG_NUMBER,
} json_text_verdict;
json_text_verdict json_text_check(const char *text, size_t len, size_t *fail_at);

/* The string value that starts at text[0] (a '"'; the text around it passed
 * json_text_check, so it closes before text + len) decoded as cJSON decodes
 * it, without allocating: escapes, \uXXXX and surrogate pairs to UTF-8, a
 * bad hex digit read as 0. Returns the length of the C string cJSON would
 * hold (a "\u0000" ends it there) and writes its first cap - 1 bytes and a
 * NUL into out, as snprintf does (cap may be 0). */
size_t json_text_string(const char *text, size_t len, char *out, size_t cap);

#endif /* PLINTH_JSON_TEXT_H */
