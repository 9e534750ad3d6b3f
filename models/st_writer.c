/*
 * st_writer.c — writing a safetensors file tensor by tensor (see
 * st_writer.h). Reading checkpoints is the core's job
 * (plinth_state_dict_*, core/safetensors.c): one parser of the format.
 */
#include "st_writer.h"
#include "errbuf.h"

#include <cJSON.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define fail(err, size, ...) errbuf_fail(err, size, -1, __VA_ARGS__)

static const char *dtype_to_name(int32_t d)
{
    switch (d) {
    case PLINTH_F32: return "F32";
    case PLINTH_F16: return "F16";
    case PLINTH_BF16: return "BF16";
    case PLINTH_I32: return "I32";
    default: return NULL;
    }
}

/* ------------------------------------------------------------ the writer --- */

struct st_writer {
    FILE *fp;
    char *path;
    uint64_t expected, written;
};

int st_writer_open(const char *path, uint32_t n, const char *const *names,
                   const int32_t *dtypes, const int32_t *ndims, const int64_t (*shapes)[4],
                   st_writer **out, char *err, size_t es)
{
    *out = NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *dn = dtype_to_name(dtypes[i]);
        if (!dn) {
            cJSON_Delete(root);
            return fail(err, es, "%s: tensor '%s': bad dtype", path, names[i]);
        }
        cJSON *t = cJSON_AddObjectToObject(root, names[i]);
        cJSON_AddStringToObject(t, "dtype", dn);
        cJSON *sh = cJSON_AddArrayToObject(t, "shape");
        uint64_t bytes = plinth_dtype_size((plinth_dtype)dtypes[i]);
        for (int32_t k = 0; k < ndims[i]; k++) {
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)shapes[i][k]));
            bytes *= (uint64_t)shapes[i][k];
        }
        cJSON *o = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + bytes)));
        off += bytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    st_writer *w = calloc(1, sizeof *w);
    if (!json || !w) {
        free(json);
        free(w);
        return fail(err, es, "%s: out of memory", path);
    }
    size_t len = strlen(json), padded = (len + 7) & ~(size_t)7;
    w->fp = fopen(path, "wb");
    w->path = strdup(path);
    w->expected = off;
    int rc = 0;
    if (!w->fp || !w->path) {
        rc = fail(err, es, "%s: %s", path, strerror(errno));
    } else {
        uint8_t len8[8];
        for (int i = 0; i < 8; i++)
            len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
        if (fwrite(len8, 1, 8, w->fp) != 8 || fwrite(json, 1, len, w->fp) != len)
            rc = fail(err, es, "%s: write failed: %s", path, strerror(errno));
        for (size_t i = len; i < padded && rc == 0; i++)
            if (fputc(' ', w->fp) == EOF)
                rc = fail(err, es, "%s: write failed", path);
    }
    free(json);
    if (rc != 0) {
        if (w->fp)
            fclose(w->fp);
        free(w->path);
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

int st_writer_data(st_writer *w, const void *data, size_t bytes, char *err, size_t es)
{
    if (w->written + bytes > w->expected)
        return fail(err, es, "%s: more data than the header declares", w->path);
    if (bytes && fwrite(data, 1, bytes, w->fp) != bytes)
        return fail(err, es, "%s: write failed: %s", w->path, strerror(errno));
    w->written += bytes;
    return 0;
}

int st_writer_close(st_writer *w, char *err, size_t es)
{
    if (!w)
        return 0;
    int rc = 0;
    if (w->written != w->expected)
        rc = fail(err, es, "%s: %llu of %llu data bytes written", w->path,
                  (unsigned long long)w->written, (unsigned long long)w->expected);
    if (fclose(w->fp) != 0 && rc == 0)
        rc = fail(err, es, "%s: close failed: %s", w->path, strerror(errno));
    free(w->path);
    free(w);
    return rc;
}
