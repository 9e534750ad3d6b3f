/*
 * loader.c — finding, loading and checking plugins.
 *
 * Sections: the search path; open (dlopen, negotiation, table checks,
 * instance); resolve one backend by name or path; scan everything (for
 * listing); unload.
 *
 * The rules of this file: a plugin pointer is never trusted before it was
 * checked; only the file a caller asked for is loaded (a broken plugin
 * elsewhere in the path cannot take a `--backend=cpu` run down), except
 * when listing; a file of the same name later in the search order is
 * never silently ignored (it is logged or reported as shadowed). Every
 * failure names the file and the reason, on the context.
 */
#include "loader.h"

#include "slots.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef PLINTH_BUILD_LIB_DIR
#define PLINTH_BUILD_LIB_DIR ""
#endif
#ifndef PLINTH_BUILD_PLUGIN_PATH
#define PLINTH_BUILD_PLUGIN_PATH ""
#endif

/* Every field before `unavailable_reason` is mandatory in ABI v1. */
#define API_MANDATORY_SIZE offsetof(plinth_backend_api, unavailable_reason)

/* ------------------------------------------------------ search path --- */

typedef struct dir_list {
    char **v;
    uint32_t n, cap;
} dir_list;

static void dirs_free(plinth_context *ctx, dir_list *d)
{
    for (uint32_t i = 0; i < d->n; i++)
        ctx_free(ctx, d->v[i]);
    ctx_free(ctx, d->v);
    *d = (dir_list){0};
}

/* Appends dir[0..len) unless it is empty or already listed. */
static bool dirs_push(plinth_context *ctx, dir_list *d, const char *dir, size_t len)
{
    if (len == 0)
        return true; /* never the current directory by accident */
    while (len > 1 && dir[len - 1] == '/')
        len--;
    for (uint32_t i = 0; i < d->n; i++)
        if (strlen(d->v[i]) == len && memcmp(d->v[i], dir, len) == 0)
            return true;
    if (!ctx_grow(ctx, (void **)&d->v, &d->cap, d->n + 1, sizeof *d->v))
        return false;
    char *s = ctx_malloc(ctx, len + 1);
    if (!s)
        return false;
    memcpy(s, dir, len);
    s[len] = '\0';
    d->v[d->n++] = s;
    return true;
}

/* Appends each entry of a ':'-separated list; empty entries are ignored. */
static bool dirs_push_list(plinth_context *ctx, dir_list *d, const char *list)
{
    while (list && *list) {
        const char *end = strchr(list, ':');
        size_t len = end ? (size_t)(end - list) : strlen(list);
        if (!dirs_push(ctx, d, list, len))
            return false;
        list = end ? end + 1 : NULL;
    }
    return true;
}

/* Any object of libplinth: its address tells dladdr which file we are. */
static const char own_marker = 0;

/* The folder of the running libplinth (resolved), or false. */
static bool own_dir(char *buf, size_t size)
{
    Dl_info info;
    if (!dladdr(&own_marker, &info) || !info.dli_fname)
        return false;
    char real[PATH_MAX];
    if (!realpath(info.dli_fname, real))
        return false;
    char *slash = strrchr(real, '/');
    if (!slash)
        return false;
    *slash = '\0';
    return snprintf(buf, size, "%s", real[0] ? real : "/") < (int)size;
}

/* Whether `dir` is the build tree's library folder: a libplinth run from
 * its build tree also finds the build tree's plugins; an installed one never
 * does. */
static bool is_build_dir(const char *dir)
{
    char real[PATH_MAX];
    return PLINTH_BUILD_LIB_DIR[0] && realpath(PLINTH_BUILD_LIB_DIR, real) &&
           strcmp(real, dir) == 0;
}

/* The search order of plinth.h, deduplicated. */
static plinth_status search_dirs(plinth_context *ctx, dir_list *out)
{
    *out = (dir_list){0};
    bool ok = true;
    for (size_t i = 0; ok && ctx->plugin_dirs && ctx->plugin_dirs[i]; i++)
        ok = dirs_push(ctx, out, ctx->plugin_dirs[i], strlen(ctx->plugin_dirs[i]));
    ok = ok && dirs_push_list(ctx, out, getenv("PLINTH_PLUGIN_PATH"));
    char self[PATH_MAX - 16];
    if (ok && own_dir(self, sizeof self)) {
        if (is_build_dir(self)) {
            ok = dirs_push_list(ctx, out, PLINTH_BUILD_PLUGIN_PATH);
        } else {
            char dir[PATH_MAX];
            snprintf(dir, sizeof dir, "%s/plinth", self);
            ok = dirs_push(ctx, out, dir, strlen(dir));
        }
    }
    if (!ok) {
        dirs_free(ctx, out);
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "plugin search: out of memory");
    }
    return PLINTH_OK;
}

/* A backend name: what may stand between "plinth-" and ".so". */
static bool valid_name(const char *name)
{
    if (!name[0] || strlen(name) >= 64)
        return false;
    for (const char *c = name; *c; c++)
        if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_' ||
              *c == '-'))
            return false;
    return true;
}

/* The backend name a file name promises ("plinth-cpu.so" -> "cpu"), or
 * false if it is not a plugin file name. */
static bool name_of_file(const char *file, char *name, size_t size)
{
    size_t len = strlen(file);
    size_t pre = strlen(PLINTH_PLUGIN_PREFIX), suf = strlen(PLINTH_PLUGIN_SUFFIX);
    if (len <= pre + suf || strncmp(file, PLINTH_PLUGIN_PREFIX, pre) != 0 ||
        strcmp(file + len - suf, PLINTH_PLUGIN_SUFFIX) != 0 || len - pre - suf >= size)
        return false;
    memcpy(name, file + pre, len - pre - suf);
    name[len - pre - suf] = '\0';
    return valid_name(name);
}

static bool is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ------------------------------------------------------------- open --- */

/* The first mandatory slot that is NULL, or NULL if all are set. */
static const char *missing_slot(const plinth_backend_api *api)
{
#define SLOT(f)                                                                \
    if (!api->f)                                                               \
        return #f;
    SLOT(instance_create)
    SLOT(instance_destroy)
    SLOT(instance_error)
    SLOT(device_count)
    SLOT(device_info)
    SLOT(device_open)
    SLOT(device_close)
    SLOT(device_error)
    SLOT(buffer_alloc)
    SLOT(buffer_free)
    SLOT(upload)
    SLOT(download)
    SLOT(supports)
#undef SLOT
    if (api->op_count > 0 && !api->kernels)
        return "kernels";
    return NULL;
}

/* Whether the file starts with the ELF magic (to tell "not a shared object"
 * from "a shared object that failed to load", e.g. a missing dependency). */
static bool looks_like_elf(const char *path)
{
    unsigned char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return got == sizeof magic && memcmp(magic, "\177ELF", 4) == 0;
}

/* Checks a table the entry returned; NULL if it is acceptable, else the
 * reason written into `why`. */
static const char *check_table(const plinth_backend_api *api, const char *expect_name,
                               char *why, size_t size)
{
    if (api->abi_version > PLINTH_ABI_VERSION) {
        snprintf(why, size, "its table's ABI version %" PRIu32 " is newer than the host's %u",
                 api->abi_version, PLINTH_ABI_VERSION);
        return why;
    }
    if (api->abi_version == 0) {
        snprintf(why, size, "its table's ABI version 0 is not a version");
        return why;
    }
    if (api->struct_size < API_MANDATORY_SIZE) {
        snprintf(why, size,
                 "table struct_size %" PRIu32 " is smaller than the %zu bytes of the "
                 "mandatory fields of ABI version %u",
                 api->struct_size, (size_t)API_MANDATORY_SIZE, PLINTH_ABI_VERSION);
        return why;
    }
    if (!api->name || !api->name[0]) {
        snprintf(why, size, "table name is %s", api->name ? "empty" : "NULL");
        return why;
    }
    if (strnlen(api->name, 64) >= 64 || !valid_name(api->name)) {
        snprintf(why, size, "table name '%.64s' is not a backend name ([a-z0-9_-], < 64)",
                 api->name);
        return why;
    }
    if (expect_name && strcmp(api->name, expect_name) != 0) {
        snprintf(why, size,
                 "the file is named for backend '%s' but its table says '%s' (a plugin must "
                 "be plinth-<its name>.so)",
                 expect_name, api->name);
        return why;
    }
    const char *slot = missing_slot(api);
    if (slot) {
        snprintf(why, size, "backend '%s': mandatory slot '%s' is NULL", api->name, slot);
        return why;
    }
    return NULL;
}

void loader_close(plinth_plugin *p)
{
    if (!p)
        return;
    plinth_context *ctx = p->ctx;
    if (p->inst)
        slot_instance_destroy(p);
    if (p->handle)
        dlclose(p->handle);
    ctx_free(ctx, p);
}

plinth_status loader_open(plinth_context *ctx, const char *path, const char *expect_name,
                          plinth_plugin **out)
{
    *out = NULL;
    if (!path || !path[0])
        return ctx_error(ctx, PLINTH_ERR_INVALID, "plugin: no path given");
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return ctx_error(ctx, PLINTH_ERR_IO, "plugin '%s': no such file", path);
        return ctx_error(ctx, PLINTH_ERR_IO, "plugin '%s': %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return ctx_error(ctx, PLINTH_ERR_PLUGIN, "plugin '%s': not a regular file", path);

    size_t len = strlen(path);
    plinth_plugin *p = ctx_calloc(ctx, 1, sizeof *p + len + 1);
    if (!p)
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "plugin '%s': out of memory", path);
    p->ctx = ctx;
    memcpy(p->path, path, len + 1);

    /* RTLD_NOW: a missing symbol fails here, not in the middle of a run.
     * RTLD_LOCAL: two plugins never see each other's symbols.
     * RTLD_NODELETE: a plugin once loaded stays mapped for the process, so
     * its process-wide caches (the vulkan backend's device list and the
     * driver it keeps loaded) are built once, and nothing a plugin set up
     * (a driver's one-time state) is pulled from under it by an unload. */
    dlerror();
    p->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!p->handle) {
        const char *err = dlerror();
        plinth_status s;
        if (!looks_like_elf(path))
            s = ctx_error(ctx, PLINTH_ERR_PLUGIN, "plugin '%s': not a shared object (%s)", path,
                          err ? err : "dlopen failed");
        else
            s = ctx_error(ctx, PLINTH_ERR_PLUGIN, "plugin '%s': cannot load: %s", path,
                          err ? err : "dlopen failed");
        loader_close(p);
        return s;
    }

    /* ISO C has no conversion from void * to a function pointer; POSIX
     * guarantees the representation, so copy the bits (-Wpedantic clean). */
    plinth_plugin_entry_fn entry = NULL;
    void *sym = dlsym(p->handle, PLINTH_PLUGIN_ENTRY_SYMBOL);
    memcpy(&entry, &sym, sizeof entry);
    if (!entry) {
        loader_close(p);
        return ctx_error(ctx, PLINTH_ERR_PLUGIN, "plugin '%s': entry symbol '%s' missing", path,
                         PLINTH_PLUGIN_ENTRY_SYMBOL);
    }
    const plinth_backend_api *api = entry(PLINTH_ABI_VERSION);
    if (!api) {
        loader_close(p);
        return ctx_error(ctx, PLINTH_ERR_PLUGIN,
                         "plugin '%s': refused ABI version %u (its entry returned NULL)", path,
                         PLINTH_ABI_VERSION);
    }
    char why[512];
    if (check_table(api, expect_name, why, sizeof why)) {
        loader_close(p);
        return ctx_error(ctx, PLINTH_ERR_PLUGIN, "plugin '%s': %s", path, why);
    }
    p->api = api;
    plinth_status s = slot_instance_create(p);
    if (s == PLINTH_OK)
        s = slot_device_count(p, &p->n_devices);
    if (s != PLINTH_OK) {
        loader_close(p);
        return s;
    }
    *out = p;
    return PLINTH_OK;
}

/* ------------------------------------------------- the context's list --- */

/* Appends an entry to ctx->plugins; `p` may be NULL (a failed file). */
static plugin_entry *entry_append(plinth_context *ctx, plinth_plugin *p)
{
    uint32_t cap = ctx->n_plugins; /* exact size: the list is short */
    if (!ctx_grow(ctx, (void **)&ctx->plugins, &cap, ctx->n_plugins + 1, sizeof *ctx->plugins))
        return NULL;
    plugin_entry *e = &ctx->plugins[ctx->n_plugins++];
    memset(e, 0, sizeof *e);
    e->report.struct_size = sizeof e->report;
    e->plugin = p;
    return e;
}

/* snprintf into a fixed field of a report; truncation is intended (the
 * fields are for people, and cut long paths rather than fail). */
static void put(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void put(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

/* Records a loaded plugin in the context (which then owns it). */
static plinth_status adopt(plinth_context *ctx, plinth_plugin *p)
{
    plugin_entry *e = entry_append(ctx, p);
    if (!e)
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "plugin '%s': out of memory", p->path);
    plinth_plugin_report *r = &e->report;
    put(r->name, sizeof r->name, "%s", p->api->name);
    put(r->path, sizeof r->path, "%s", p->path);
    put(r->version, sizeof r->version, "%s", p->api->version ? p->api->version : "");
    r->loaded = true;
    r->n_devices = p->n_devices;
    if (p->n_devices == 0)
        slot_unavailable_reason(p, r->unavailable, sizeof r->unavailable);
    return PLINTH_OK;
}

/* Records a file that is not loaded (failed, or shadowed). */
static plinth_status report_only(plinth_context *ctx, const char *name, const char *path,
                                 const char *error)
{
    plugin_entry *e = entry_append(ctx, NULL);
    if (!e)
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "plugin scan: out of memory");
    put(e->report.name, sizeof e->report.name, "%s", name);
    put(e->report.path, sizeof e->report.path, "%s", path);
    put(e->report.error, sizeof e->report.error, "%s", error);
    return PLINTH_OK;
}

/* The loaded plugin of backend `name`, or loaded from `path`. */
static plinth_plugin *find_by_name(const plinth_context *ctx, const char *name)
{
    for (uint32_t i = 0; i < ctx->n_plugins; i++) {
        plinth_plugin *p = ctx->plugins[i].plugin;
        if (p && strcmp(p->api->name, name) == 0)
            return p;
    }
    return NULL;
}

static plinth_plugin *find_by_path(const plinth_context *ctx, const char *path)
{
    for (uint32_t i = 0; i < ctx->n_plugins; i++) {
        plinth_plugin *p = ctx->plugins[i].plugin;
        if (p && strcmp(p->path, path) == 0)
            return p;
    }
    return NULL;
}

/* ---------------------------------------------------------- resolve --- */

/* "no backend named 'x': no file plinth-x.so in D1, D2" */
static plinth_status not_found(plinth_context *ctx, const char *name, const dir_list *dirs)
{
    char msg[sizeof ctx->error];
    size_t used = 0;
#define PUT(...)                                                               \
    do {                                                                       \
        if (used < sizeof msg) {                                               \
            int k_ = snprintf(msg + used, sizeof msg - used, __VA_ARGS__);     \
            used += k_ > 0 ? (size_t)k_ : 0;                                   \
        }                                                                      \
    } while (0)
    PUT("no backend named '%s': no file %s%s%s in", name, PLINTH_PLUGIN_PREFIX, name,
        PLINTH_PLUGIN_SUFFIX);
    for (uint32_t i = 0; i < dirs->n; i++)
        PUT("%s %s", i ? "," : "", dirs->v[i]);
    if (!dirs->n)
        PUT(" any directory (the search path is empty)");
    PUT(" (plinth devices lists the backends found)");
#undef PUT
    return ctx_error(ctx, PLINTH_ERR_INVALID, "%s", msg);
}

plinth_status loader_resolve(plinth_context *ctx, const char *name, plinth_plugin **out)
{
    *out = NULL;
    if (strchr(name, '/')) {
        plinth_plugin *p = find_by_path(ctx, name);
        if (p) {
            *out = p;
            return PLINTH_OK;
        }
        plinth_status s = loader_open(ctx, name, NULL, &p);
        if (s != PLINTH_OK)
            return s;
        s = adopt(ctx, p);
        if (s != PLINTH_OK) {
            loader_close(p);
            return s;
        }
        *out = p;
        return PLINTH_OK;
    }
    if (!valid_name(name))
        return ctx_error(ctx, PLINTH_ERR_INVALID,
                         "'%.64s' is not a backend name (lower-case letters, digits, '_', '-'; "
                         "or give a plugin path containing '/')",
                         name);
    plinth_plugin *p = find_by_name(ctx, name);
    if (p) {
        *out = p;
        return PLINTH_OK;
    }
    dir_list dirs;
    plinth_status s = search_dirs(ctx, &dirs);
    if (s != PLINTH_OK)
        return s;
    char path[PATH_MAX], later[PATH_MAX];
    bool found = false;
    for (uint32_t i = 0; i < dirs.n; i++) {
        char *dst = found ? later : path;
        int n = snprintf(dst, PATH_MAX, "%s/%s%s%s", dirs.v[i], PLINTH_PLUGIN_PREFIX, name,
                         PLINTH_PLUGIN_SUFFIX);
        if (n < 0 || n >= PATH_MAX || !is_regular_file(dst))
            continue;
        if (found) /* never silent: the user may think they run this one */
            ctx_log(ctx, PLINTH_LOG_WARN, "plugin '%s' shadows %s (first in the search order)",
                    path, later);
        found = true;
    }
    if (!found) {
        s = not_found(ctx, name, &dirs);
        dirs_free(ctx, &dirs);
        return s;
    }
    dirs_free(ctx, &dirs);
    s = loader_open(ctx, path, name, &p);
    if (s == PLINTH_OK) {
        s = adopt(ctx, p);
        if (s != PLINTH_OK)
            loader_close(p);
    }
    if (s == PLINTH_OK)
        *out = p;
    return s;
}

/* ------------------------------------------------------------- scan --- */

static int is_plugin_file(const struct dirent *d)
{
    char name[64];
    return name_of_file(d->d_name, name, sizeof name);
}

/* Byte order, not the locale's: the same tree scans the same everywhere. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Loads one file found by the scan (unless a plugin of its name came
 * earlier) and records the outcome. Only running out of memory fails. */
static plinth_status scan_file(plinth_context *ctx, const char *dir, const char *file)
{
    char path[PATH_MAX], name[64];
    int n = snprintf(path, sizeof path, "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= sizeof path || !name_of_file(file, name, sizeof name))
        return PLINTH_OK; /* cannot be opened anyway */
    for (uint32_t i = 0; i < ctx->n_plugins; i++) {
        const plinth_plugin_report *r = &ctx->plugins[i].report;
        if (r->loaded && strcmp(r->path, path) == 0)
            return PLINTH_OK; /* loaded by plinth_backend_open before the scan */
        if (strcmp(r->name, name) == 0 && (r->loaded || !strstr(r->error, "shadowed by"))) {
            char why[sizeof r->error];
            snprintf(why, sizeof why, "shadowed by %.480s", r->path);
            ctx_log(ctx, PLINTH_LOG_INFO, "plugin '%s': %s", path, why);
            return report_only(ctx, name, path, why);
        }
    }
    plinth_plugin *p = NULL;
    plinth_status s = loader_open(ctx, path, name, &p);
    if (s == PLINTH_ERR_NO_MEMORY)
        return s;
    if (s != PLINTH_OK) {
        ctx_log(ctx, PLINTH_LOG_WARN, "%s", ctx->error);
        return report_only(ctx, name, path, ctx->error);
    }
    s = adopt(ctx, p);
    if (s != PLINTH_OK) {
        loader_close(p);
        return s;
    }
    ctx_log(ctx, PLINTH_LOG_DEBUG, "plugin '%s': backend '%s' loaded", path, p->api->name);
    return PLINTH_OK;
}

static plinth_status scan_dir(plinth_context *ctx, const char *dir)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_plugin_file, by_name);
    if (n < 0) {
        int err = errno;
        if (err != ENOENT && err != ENOTDIR)
            ctx_log(ctx, PLINTH_LOG_WARN, "plugin directory '%s': %s", dir, strerror(err));
        return err == ENOMEM ? PLINTH_ERR_NO_MEMORY : PLINTH_OK;
    }
    plinth_status s = PLINTH_OK;
    for (int i = 0; i < n; i++) {
        if (s == PLINTH_OK)
            s = scan_file(ctx, dir, names[i]->d_name);
        free(names[i]); /* scandir's own allocation */
    }
    free(names);
    return s;
}

plinth_status loader_scan(plinth_context *ctx)
{
    if (ctx->scanned)
        return PLINTH_OK;
    dir_list dirs;
    plinth_status s = search_dirs(ctx, &dirs);
    if (s != PLINTH_OK)
        return s;
    /* Files that fail are reports, not a failure of the scan: keep the
     * caller's last error as it was. */
    char *saved = ctx_strdup(ctx, ctx->error);
    if (!saved) {
        dirs_free(ctx, &dirs);
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "plugin scan: out of memory");
    }
    for (uint32_t i = 0; s == PLINTH_OK && i < dirs.n; i++)
        s = scan_dir(ctx, dirs.v[i]);
    dirs_free(ctx, &dirs);
    if (s != PLINTH_OK) {
        ctx_free(ctx, saved);
        return ctx_error(ctx, s, "plugin scan: out of memory");
    }
    snprintf(ctx->error, sizeof ctx->error, "%s", saved);
    ctx_free(ctx, saved);
    ctx->scanned = true;
    return PLINTH_OK;
}

void loader_unload_all(plinth_context *ctx)
{
    for (uint32_t i = ctx->n_plugins; i-- > 0;)
        loader_close(ctx->plugins[i].plugin);
    ctx_free(ctx, ctx->plugins);
    ctx->plugins = NULL;
    ctx->n_plugins = 0;
    ctx->scanned = false;
}
