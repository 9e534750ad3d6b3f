/*
 * errbuf.h — the model code's error messages: functions that can fail write
 * one message into the caller's buffer (err may be NULL) and return a status.
 * One formatter, so gemma3.c, gemma3_config.c and st_io.c do not each carry
 * their own.
 */
#ifndef PLINTH_ERRBUF_H
#define PLINTH_ERRBUF_H

#include <stddef.h>

/* printf into err[0, size) when err is not NULL and size > 0; returns
 * `status` (a plinth_status, or -1 for st_io's int results). */
int errbuf_fail(char *err, size_t size, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
