/* errbuf.c — see errbuf.h. */
#include "errbuf.h"

#include <stdio.h>

int errbuf_vfail(char *err, size_t size, int status, const char *prefix, const char *fmt,
                 va_list ap)
{
    if (!err || size == 0)
        return status;
    size_t at = 0;
    if (prefix) {
        int n = snprintf(err, size, "%s: ", prefix);
        if (n < 0 || (size_t)n >= size)
            return status; /* the prefix alone filled the buffer (cut) */
        at = (size_t)n;
    }
    vsnprintf(err + at, size - at, fmt, ap);
    return status;
}

int errbuf_fail(char *err, size_t size, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errbuf_vfail(err, size, status, NULL, fmt, ap);
    va_end(ap);
    return status;
}
