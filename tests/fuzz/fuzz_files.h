/*
 * fuzz_files.h — for harnesses whose parser reads files (the state dict's
 * safetensors, index and GGUF readers): the input written to a private
 * temporary file or folder, and the checks on a refused open.
 *
 * The temporary files live in /dev/shm where there is a tmpfs: on a disk,
 * truncating and rewriting the file for every input is most of the time
 * spent. Names carry no suffix (a name ending in .json would be opened as
 * an index).
 */
#ifndef PLINTH_FUZZ_FILES_H
#define PLINTH_FUZZ_FILES_H

#include "fuzz.h"

#include <plinth.h>

#include <stdbool.h>
#include <unistd.h>

static const char *const fuzz_temp_dirs[] = {"/dev/shm", "/tmp"};

/* A new empty file "<tmp>/plinth-fuzz-<tag>-XXXXXX": its descriptor, its
 * path in path[size]. */
static inline int fuzz_temp_file(char *path, size_t size, const char *tag)
{
    int fd = -1;
    for (size_t i = 0; i < 2 && fd < 0; i++) {
        snprintf(path, size, "%s/plinth-fuzz-%s-XXXXXX", fuzz_temp_dirs[i], tag);
        fd = mkstemp(path);
    }
    FUZZ_CHECK(fd >= 0, "cannot create a temporary file");
    return fd;
}

/* A new empty folder, the same way. */
static inline void fuzz_temp_dir(char *path, size_t size, const char *tag)
{
    bool made = false;
    for (size_t i = 0; i < 2 && !made; i++) {
        snprintf(path, size, "%s/plinth-fuzz-%s-XXXXXX", fuzz_temp_dirs[i], tag);
        made = mkdtemp(path) != NULL;
    }
    FUZZ_CHECK(made, "cannot create a temporary folder");
}

/* The file behind fd becomes exactly data[0, size). */
static inline void fuzz_write_file(int fd, const uint8_t *data, size_t size)
{
    FUZZ_CHECK(ftruncate(fd, 0) == 0, "ftruncate");
    size_t at = 0;
    while (at < size) {
        ssize_t w = pwrite(fd, data + at, size - at, (off_t)at);
        FUZZ_CHECK(w > 0, "pwrite");
        at += (size_t)w;
    }
}

/* A refused plinth_state_dict_open: no dict left, FORMAT or IO, and a
 * message naming `path`. */
static inline void fuzz_check_refusal(plinth_context *ctx, plinth_status st,
                                      const plinth_state_dict *d, const char *path, size_t size)
{
    FUZZ_CHECK(d == NULL, "failed open left a dict");
    FUZZ_CHECK(st == PLINTH_ERR_FORMAT || st == PLINTH_ERR_IO, "status %s on %zu bytes: %s",
               plinth_status_name(st), size, plinth_context_error(ctx));
    FUZZ_CHECK(strstr(plinth_context_error(ctx), path) != NULL, "message does not name %s: %s",
               path, plinth_context_error(ctx));
}

/* plinth_state_dict_open(path) of a size-byte input: NULL after checking
 * a refusal (fuzz_check_refusal, naming want_path), else the dict, whose
 * path must be want_path. */
static inline plinth_state_dict *fuzz_open_dict(plinth_context *ctx, const char *path,
                                                const char *want_path, size_t size)
{
    plinth_state_dict *d = (plinth_state_dict *)1;
    plinth_status st = plinth_state_dict_open(ctx, path, &d);
    if (st != PLINTH_OK) {
        fuzz_check_refusal(ctx, st, d, want_path, size);
        return NULL;
    }
    FUZZ_CHECK(d != NULL, "open succeeded without a dict");
    FUZZ_CHECK(strcmp(plinth_state_dict_path(d), want_path) == 0, "path %s",
               plinth_state_dict_path(d));
    return d;
}

#endif /* PLINTH_FUZZ_FILES_H */
