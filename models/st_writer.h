/*
 * st_writer.h — writing a safetensors file tensor by tensor (streaming), for
 * `plinth init-random` and the tests. Reading is the core's
 * plinth_state_dict_* (one parser of the format).
 *
 * Errors: functions that can fail return 0 or -1 with a message naming the
 * file (and tensor) in `err` (may be NULL). Nothing prints.
 */
#ifndef PLINTH_ST_WRITER_H
#define PLINTH_ST_WRITER_H

#include <plinth.h>

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ writing --- */

typedef struct st_writer st_writer;

/* Starts `path` with a header for n tensors (names, dtypes, shapes given
 * now); the data then follows with st_writer_data, tensor by tensor in the
 * same order, any number of calls each. */
int st_writer_open(const char *path, uint32_t n, const char *const *names,
                   const int32_t *dtypes, const int32_t *ndims, const int64_t (*shapes)[4],
                   st_writer **out, char *err, size_t err_size);
int st_writer_data(st_writer *w, const void *data, size_t bytes, char *err, size_t err_size);
/* Checks every byte was written, closes; frees `w` in any case. */
int st_writer_close(st_writer *w, char *err, size_t err_size);

#endif /* PLINTH_ST_WRITER_H */
