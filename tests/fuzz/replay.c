/*
 * replay.c — main() for a fuzz harness built without libFuzzer:
 *
 *   fuzz_<name> [--timeout SECONDS] PATH...
 *
 * Feeds every file named, and every file of every folder named (sorted,
 * not recursive, names starting with '.' skipped), to the harness's
 * LLVMFuzzerTestOneInput once. A harness reports a finding by aborting;
 * an input that takes longer than the timeout (default 10 s, libFuzzer's
 * -timeout in scripts/fuzz.sh) fails the run too, so a committed
 * time-out input keeps failing until its cause is fixed.
 * Exit 0 when every input passed, 1 otherwise, 2 on a usage error.
 */
#include "fuzz.h"

#include <dirent.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

#pragma weak LLVMFuzzerInitialize

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double timeout_s = 10.0;
static size_t n_inputs, n_slow;
static double slowest;
static char slowest_path[1024];

static bool read_all(const char *path, uint8_t **out, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, got;
    uint8_t chunk[65536];
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + got > cap) {
            cap = (len + got) * 2;
            uint8_t *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return false;
            }
            buf = p;
        }
        memcpy(buf + len, chunk, got);
        len += got;
    }
    bool ok = !ferror(f);
    fclose(f);
    if (!ok) {
        free(buf);
        return false;
    }
    *out = buf;
    *out_len = len;
    return true;
}

static bool run_file(const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    if (!read_all(path, &data, &len)) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        return false;
    }
    /* A copy of exactly len bytes, so that ASan sees a read past the end. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(data);
        fprintf(stderr, "replay: out of memory for %s\n", path);
        return false;
    }
    if (len)
        memcpy(exact, data, len);
    free(data);
    double t0 = now_s();
    LLVMFuzzerTestOneInput(exact, len);
    double dt = now_s() - t0;
    free(exact);
    n_inputs++;
    if (dt > slowest) {
        slowest = dt;
        snprintf(slowest_path, sizeof slowest_path, "%s", path);
    }
    if (dt > timeout_s) {
        fprintf(stderr, "replay: %s took %.2f s, more than the %.0f s time-out\n", path, dt,
                timeout_s);
        n_slow++;
        return false;
    }
    return true;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: cannot open folder %s\n", dir);
        return false;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    bool ok = true;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) {
                ok = false;
                break;
            }
            names = p;
        }
        if (!(names[n] = strdup(e->d_name))) {
            ok = false;
            break;
        }
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && !run_file(path))
            ok = false;
        free(names[i]);
    }
    free(names);
    if (!ok)
        fprintf(stderr, "replay: failures in %s\n", dir);
    return ok;
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    bool ok = true;
    int n_paths = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            timeout_s = atof(argv[++i]);
            continue;
        }
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: no such file or folder\n", argv[i]);
            ok = false;
        } else if (S_ISDIR(st.st_mode)) {
            ok = run_dir(argv[i]) && ok;
        } else {
            ok = run_file(argv[i]) && ok;
        }
        n_paths++;
    }
    if (n_paths == 0) {
        fprintf(stderr, "usage: %s [--timeout SECONDS] FILE|FOLDER...\n", argv[0]);
        return 2;
    }
    printf("replay: %zu inputs, %s; slowest %.1f ms (%s)\n", n_inputs,
           ok ? "all passed" : "FAILED", slowest * 1e3, slowest_path[0] ? slowest_path : "-");
    if (n_slow)
        printf("replay: %zu inputs over the %.0f s time-out\n", n_slow, timeout_s);
    return ok ? 0 : 1;
}
