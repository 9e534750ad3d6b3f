/*
 * expect_dir.c — where the expectation files are: the source tree's for a
 * program run from the build tree, the installed copy (<datadir>/plinth/
 * conformance, found relative to the running program, then at the prefix it
 * was configured with) otherwise. Never a silent default: a suite run
 * without the files would test fewer configurations than it claims.
 */
#include "conf_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PLINTH_CONF_SOURCE_DIR
#define PLINTH_CONF_SOURCE_DIR ""
#endif
#ifndef PLINTH_CONF_BUILD_ROOT
#define PLINTH_CONF_BUILD_ROOT ""
#endif
#ifndef PLINTH_CONF_REL_DIR
#define PLINTH_CONF_REL_DIR ""
#endif
#ifndef PLINTH_CONF_INSTALL_DIR
#define PLINTH_CONF_INSTALL_DIR ""
#endif

static bool is_dir(const char *path)
{
    struct stat st;
    return path[0] && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The running program's resolved path, or false. */
static bool self_path(char *buf, size_t size)
{
    char link[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", link, sizeof link - 1);
    if (n <= 0)
        return false;
    link[n] = '\0';
    char real[PATH_MAX];
    if (!realpath(link, real))
        return false;
    return snprintf(buf, size, "%s", real) < (int)size;
}

bool conf_expect_dir(char *buf, size_t size, char *err, size_t err_size)
{
    char self[PATH_MAX], root[PATH_MAX];
    bool have_self = self_path(self, sizeof self);
    if (have_self && PLINTH_CONF_BUILD_ROOT[0] && realpath(PLINTH_CONF_BUILD_ROOT, root)) {
        size_t n = strlen(root);
        if (strncmp(self, root, n) == 0 && self[n] == '/' && is_dir(PLINTH_CONF_SOURCE_DIR)) {
            snprintf(buf, size, "%s", PLINTH_CONF_SOURCE_DIR);
            return true;
        }
    }
    if (have_self) {
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            char dir[PATH_MAX], real[PATH_MAX];
            if (snprintf(dir, sizeof dir, "%s/%s", self, PLINTH_CONF_REL_DIR) < (int)sizeof dir &&
                is_dir(dir) && realpath(dir, real)) {
                snprintf(buf, size, "%s", real);
                return true;
            }
        }
    }
    if (is_dir(PLINTH_CONF_INSTALL_DIR)) {
        snprintf(buf, size, "%s", PLINTH_CONF_INSTALL_DIR);
        return true;
    }
    snprintf(err, err_size,
             "the conformance expectations are missing: not beside this program (%s) nor in %s; "
             "give --expect-dir=DIR",
             PLINTH_CONF_REL_DIR, PLINTH_CONF_INSTALL_DIR);
    return false;
}
