/*
 * errbuf.h — the model code's error messages: functions that can fail write
 * one message into the caller's buffer (err may be NULL) and return a status.
 * One formatter for every file of models/ (lm_model.c, decoder.c, lm_config.c,
 * st_io.c, the tokenizer, json_text.c), so none carries its own.
 */
#ifndef PLINTH_ERRBUF_H
#define PLINTH_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>

/* printf into err[0, size) when err is not NULL and size > 0; returns
 * `status` (a plinth_status, or -1 for the int results of st_io and the
 * tokenizer). */
int errbuf_fail(char *err, size_t size, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The same from a va_list, with "prefix: " first when prefix is not NULL
 * (the file a message is about): for wrappers that add their own context.
 * A message longer than the buffer is cut, always NUL-terminated. */
int errbuf_vfail(char *err, size_t size, int status, const char *prefix, const char *fmt,
                 va_list ap) __attribute__((format(printf, 5, 0)));

#endif
