/*
 * loader.c — finding, loading and checking plugins, and the checked wrappers
 * through which the core calls every plugin slot.
 *
 * Sections: the plugin object; open (dlopen, negotiation, table checks);
 * discovery (search directories, scan, resolve by name or path); checked
 * wrappers.
 *
 * The rule of this file: a plugin pointer is never trusted before it was
 * checked, and a slot added after ABI v1's mandatory set is never read unless
 * the table's struct_size covers it (API_HAS). Every failure names the file
 * (or the backend) and the reason, on the context.
 */
#include "loader.h"

#include <dirent.h>
#include <stdarg.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef PLINTH_INSTALL_PLUGIN_DIR
#define PLINTH_INSTALL_PLUGIN_DIR ""
#endif
#ifndef PLINTH_BUILD_PLUGIN_PATH
#define PLINTH_BUILD_PLUGIN_PATH ""
#endif

/* True when the table is long enough to hold `field` (the field may still be
 * NULL). Fields appended after the plugin was built read as absent. */
#define API_HAS(api, field)                                                    \
    ((api)->struct_size >= offsetof(plinth_backend_api, field) + sizeof((api)->field))

/* Every field before `prepare` is mandatory in ABI v1. */
#define API_MANDATORY_SIZE offsetof(plinth_backend_api, prepare)

/* -------------------------------------------------- the plugin object --- */

struct plinth_plugin {
    void *handle;                  /* from dlopen                          */
    const plinth_backend_api *api; /* checked table, lives in the plugin   */
    char path[];                   /* as given (not canonicalised)         */
};

const plinth_backend_api *loader_api(const plinth_plugin *p)
{
    return p ? p->api : NULL;
}

const char *loader_path(const plinth_plugin *p)
{
    return p ? p->path : "";
}

void loader_close(plinth_plugin *p)
{
    if (!p)
        return;
    if (p->handle)
        dlclose(p->handle);
    free(p);
}

/* ------------------------------------------------------------- open --- */

/* The first mandatory slot that is NULL, or NULL if all are set. */
static const char *missing_slot(const plinth_backend_api *api)
{
#define SLOT(f)                                                                \
    if (!api->f)                                                               \
        return #f;
    SLOT(device_count)
    SLOT(device_info)
    SLOT(device_open)
    SLOT(device_close)
    SLOT(last_error)
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
static const char *check_table(const plinth_backend_api *api, char *why, size_t size)
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
    const char *slot = missing_slot(api);
    if (slot) {
        snprintf(why, size, "backend '%s': mandatory slot '%s' is NULL", api->name, slot);
        return why;
    }
    return NULL;
}

/* ------------------------------------------------------- host services --- */

/* One dlopen-ed image serves every context of the process, so the services a
 * plugin keeps from its entry call cannot belong to one context. They are
 * process-wide; a plugin's log line goes to the context that made the call
 * in progress, which every wrapper records here (thread-local, so two
 * threads with two contexts do not mix). */
static _Thread_local plinth_context *calling_ctx;

plinth_context *loader_enter(plinth_context *ctx)
{
    plinth_context *prev = calling_ctx;
    calling_ctx = ctx;
    return prev;
}

void loader_leave(plinth_context *prev)
{
    calling_ctx = prev;
}

static void host_log(void *user, int level, const char *message)
{
    (void)user;
    if (calling_ctx && message)
        ctx_log(calling_ctx, level, "%s", message);
}

static void *host_malloc(void *user, size_t size)
{
    (void)user;
    return malloc(size);
}

static void host_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

/* Runs `stmt` (a plugin call) with `ctx` as the calling context. */
#define IN_PLUGIN(ctx_, stmt)                          \
    do {                                               \
        plinth_context *prev_ = loader_enter(ctx_);    \
        stmt;                                          \
        loader_leave(prev_);                           \
    } while (0)

static const plinth_host loader_host = {
    .struct_size = sizeof(plinth_host),
    .abi_version = PLINTH_ABI_VERSION,
    .user = NULL,
    .log = host_log,
    .malloc = host_malloc,
    .free = host_free,
};

plinth_status loader_open(plinth_context *ctx, const char *path, plinth_plugin **out)
{
    if (!out)
        return ctx_error(ctx, PLINTH_ERR_INVALID, "loader_open: out is NULL");
    *out = NULL;
    if (!ctx || !path || !path[0])
        return ctx_error(ctx, PLINTH_ERR_INVALID, "loader_open: no path given");

    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return ctx_error(ctx, PLINTH_ERR_IO, "plugin '%s': no such file", path);
        return ctx_error(ctx, PLINTH_ERR_IO, "plugin '%s': %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return ctx_error(ctx, PLINTH_ERR_PLUGIN, "plugin '%s': not a regular file", path);

    size_t len = strlen(path);
    plinth_plugin *p = calloc(1, sizeof *p + len + 1);
    if (!p)
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "plugin '%s': out of memory", path);
    memcpy(p->path, path, len + 1);

    /* RTLD_NOW: a missing symbol fails here, not in the middle of a run.
     * RTLD_LOCAL: two plugins never see each other's symbols. */
    dlerror();
    p->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
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
    *(void **)&entry = dlsym(p->handle, PLINTH_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        loader_close(p);
        return ctx_error(ctx, PLINTH_ERR_PLUGIN, "plugin '%s': entry symbol '%s' missing", path,
                         PLINTH_PLUGIN_ENTRY_SYMBOL);
    }

    plinth_context *prev = loader_enter(ctx);
    const plinth_backend_api *api = entry(PLINTH_ABI_VERSION, &loader_host);
    loader_leave(prev);
    if (!api) {
        loader_close(p);
        return ctx_error(ctx, PLINTH_ERR_PLUGIN,
                         "plugin '%s': refused ABI version %u (its entry returned NULL)", path,
                         PLINTH_ABI_VERSION);
    }
    char why[512];
    if (check_table(api, why, sizeof why)) {
        loader_close(p);
        return ctx_error(ctx, PLINTH_ERR_PLUGIN, "plugin '%s': %s", path, why);
    }
    p->api = api;
    *out = p;
    return PLINTH_OK;
}

/* -------------------------------------------------------- discovery --- */

typedef struct dir_list {
    char **v;
    size_t n, cap;
} dir_list;

static void dirs_free(dir_list *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i]);
    free(d->v);
    *d = (dir_list){0};
}

/* Appends dir[0..len) unless it is empty or already listed. */
static bool dirs_push(dir_list *d, const char *dir, size_t len)
{
    if (len == 0)
        return true; /* never the current directory by accident */
    for (size_t i = 0; i < d->n; i++)
        if (strlen(d->v[i]) == len && memcmp(d->v[i], dir, len) == 0)
            return true;
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 8;
        char **v = realloc(d->v, cap * sizeof *v);
        if (!v)
            return false;
        d->v = v;
        d->cap = cap;
    }
    char *s = malloc(len + 1);
    if (!s)
        return false;
    memcpy(s, dir, len);
    s[len] = '\0';
    d->v[d->n++] = s;
    return true;
}

/* Appends each entry of a ':'-separated list; empty entries are ignored. */
static bool dirs_push_list(dir_list *d, const char *list)
{
    while (list && *list) {
        const char *end = strchr(list, ':');
        size_t len = end ? (size_t)(end - list) : strlen(list);
        if (!dirs_push(d, list, len))
            return false;
        list = end ? end + 1 : NULL;
    }
    return true;
}

/* The search order of plinth.h, deduplicated. */
static plinth_status search_dirs(plinth_context *ctx, dir_list *out)
{
    *out = (dir_list){0};
    bool ok = true;
    for (size_t i = 0; ok && ctx->plugin_dirs && ctx->plugin_dirs[i]; i++)
        ok = dirs_push(out, ctx->plugin_dirs[i], strlen(ctx->plugin_dirs[i]));
    ok = ok && dirs_push_list(out, getenv("PLINTH_PLUGIN_PATH"));
    ok = ok && dirs_push(out, PLINTH_INSTALL_PLUGIN_DIR, strlen(PLINTH_INSTALL_PLUGIN_DIR));
    ok = ok && dirs_push_list(out, PLINTH_BUILD_PLUGIN_PATH);
    if (!ok) {
        dirs_free(out);
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "plugin search: out of memory");
    }
    return PLINTH_OK;
}

/* snprintf into a fixed field of a report; truncation is intended (the
 * fields are for people, and cut long paths rather than fail). */
static void put(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void put(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

/* Appends an entry to ctx->plugins; `p` may be NULL (a failed file). */
static plugin_entry *entry_append(plinth_context *ctx, plinth_plugin *p)
{
    plugin_entry *v = realloc(ctx->plugins, (ctx->n_plugins + 1) * sizeof *v);
    if (!v)
        return NULL;
    ctx->plugins = v;
    plugin_entry *e = &v[ctx->n_plugins++];
    memset(e, 0, sizeof *e);
    e->plugin = p;
    return e;
}

/* Fills the name/version/devices part of a report from a checked table. */
static void report_fill(plinth_plugin_report *r, const plinth_plugin *p)
{
    const plinth_backend_api *api = p->api;
    put(r->name, sizeof r->name, "%s", api->name);
    put(r->path, sizeof r->path, "%s", p->path);
    put(r->version, sizeof r->version, "%s", api->version ? api->version : "");
    r->n_devices = api->device_count();
    if (r->n_devices == 0 && API_HAS(api, unavailable_reason) && api->unavailable_reason) {
        const char *why = api->unavailable_reason(); /* scan holds calling_ctx */
        put(r->unavailable, sizeof r->unavailable, "%s", why ? why : "");
    }
}

static plinth_status loader_adopt(plinth_context *ctx, plinth_plugin *p)
{
    plugin_entry *e = entry_append(ctx, p);
    if (!e)
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "plugin '%s': out of memory", p->path);
    IN_PLUGIN(ctx, report_fill(&e->report, p));
    e->report.loaded = true;
    return PLINTH_OK;
}

static const plugin_entry *find_loaded(const plinth_context *ctx, const char *name)
{
    for (uint32_t i = 0; i < ctx->n_plugins; i++)
        if (ctx->plugins[i].plugin && strcmp(ctx->plugins[i].report.name, name) == 0)
            return &ctx->plugins[i];
    return NULL;
}

static int is_plugin_file(const struct dirent *d)
{
    size_t len = strlen(d->d_name);
    size_t pre = strlen(PLINTH_PLUGIN_PREFIX), suf = strlen(PLINTH_PLUGIN_SUFFIX);
    return len > pre + suf && strncmp(d->d_name, PLINTH_PLUGIN_PREFIX, pre) == 0 &&
           strcmp(d->d_name + len - suf, PLINTH_PLUGIN_SUFFIX) == 0;
}

/* Byte order, not the locale's: the same tree scans the same everywhere. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Loads one file found by the scan and records the outcome. */
static plinth_status scan_file(plinth_context *ctx, const char *dir, const char *file)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= sizeof path)
        return PLINTH_OK; /* cannot be opened anyway */

    plinth_plugin *p = NULL;
    plinth_status s = loader_open(ctx, path, &p);
    if (s == PLINTH_ERR_NO_MEMORY)
        return s;
    if (s != PLINTH_OK) {
        plugin_entry *e = entry_append(ctx, NULL);
        if (!e)
            return PLINTH_ERR_NO_MEMORY;
        put(e->report.name, sizeof e->report.name, "%s", file);
        put(e->report.path, sizeof e->report.path, "%s", path);
        put(e->report.error, sizeof e->report.error, "%s", ctx->error);
        ctx_log(ctx, PLINTH_LOG_WARN, "%s", ctx->error);
        return PLINTH_OK;
    }
    const plugin_entry *first = find_loaded(ctx, p->api->name);
    if (first) {
        plinth_plugin_report r = {0};
        report_fill(&r, p);
        put(r.error, sizeof r.error, "shadowed by %s", first->report.path);
        loader_close(p);
        plugin_entry *e = entry_append(ctx, NULL);
        if (!e)
            return PLINTH_ERR_NO_MEMORY;
        e->report = r;
        ctx_log(ctx, PLINTH_LOG_INFO, "plugin '%s': %s", path, r.error);
        return PLINTH_OK;
    }
    s = loader_adopt(ctx, p);
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
        free(names[i]);
    }
    free(names);
    return s;
}

plinth_status loader_scan(plinth_context *ctx)
{
    if (!ctx)
        return PLINTH_ERR_INVALID;
    if (ctx->scanned)
        return PLINTH_OK;

    dir_list dirs;
    plinth_status s = search_dirs(ctx, &dirs);
    if (s != PLINTH_OK)
        return s;

    /* Files that fail are reports, not a failure of the scan: keep the
     * caller's last error as it was. */
    char *saved = strdup(ctx->error);
    if (!saved) {
        dirs_free(&dirs);
        return ctx_error(ctx, PLINTH_ERR_NO_MEMORY, "plugin scan: out of memory");
    }
    plinth_context *prev = loader_enter(ctx);
    for (size_t i = 0; s == PLINTH_OK && i < dirs.n; i++)
        s = scan_dir(ctx, dirs.v[i]);
    loader_leave(prev);
    dirs_free(&dirs);

    if (s != PLINTH_OK) {
        free(saved);
        return ctx_error(ctx, s, "plugin scan: out of memory");
    }
    snprintf(ctx->error, sizeof ctx->error, "%s", saved);
    free(saved);
    ctx->scanned = true;
    return PLINTH_OK;
}

void loader_unload_all(plinth_context *ctx)
{
    if (!ctx)
        return;
    for (uint32_t i = ctx->n_plugins; i-- > 0;)
        loader_close(ctx->plugins[i].plugin);
    free(ctx->plugins);
    ctx->plugins = NULL;
    ctx->n_plugins = 0;
    ctx->scanned = false;
}

/* "no backend named 'x'; found: a, b; searched: D1, D2" */
static plinth_status not_found(plinth_context *ctx, const char *name)
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
    PUT("no backend named '%s'; found:", name);
    uint32_t n_found = 0, n_failed = 0;
    for (uint32_t i = 0; i < ctx->n_plugins; i++) {
        if (ctx->plugins[i].plugin)
            PUT("%s %s", n_found++ ? "," : "", ctx->plugins[i].report.name);
        else if (!strstr(ctx->plugins[i].report.error, "shadowed by"))
            n_failed++;
    }
    if (!n_found)
        PUT(" none");
    if (n_failed)
        PUT(" (%" PRIu32 " plugin file%s failed to load)", n_failed, n_failed == 1 ? "" : "s");
    PUT("; searched:");
    dir_list dirs;
    if (search_dirs(ctx, &dirs) != PLINTH_OK)
        return PLINTH_ERR_NO_MEMORY;
    for (size_t i = 0; i < dirs.n; i++)
        PUT("%s %s", i ? "," : "", dirs.v[i]);
    if (!dirs.n)
        PUT(" nothing");
    dirs_free(&dirs);
#undef PUT
    return ctx_error(ctx, PLINTH_ERR_INVALID, "%s", msg);
}

plinth_status loader_resolve(plinth_context *ctx, const char *name, plinth_plugin **out)
{
    *out = NULL;
    if (strchr(name, '/')) {
        for (uint32_t i = 0; i < ctx->n_plugins; i++)
            if (ctx->plugins[i].plugin && strcmp(ctx->plugins[i].plugin->path, name) == 0) {
                *out = ctx->plugins[i].plugin;
                return PLINTH_OK;
            }
        plinth_plugin *p = NULL;
        plinth_status s = loader_open(ctx, name, &p);
        if (s != PLINTH_OK)
            return s;
        s = loader_adopt(ctx, p);
        if (s != PLINTH_OK) {
            loader_close(p);
            return s;
        }
        *out = p;
        return PLINTH_OK;
    }
    plinth_status s = loader_scan(ctx);
    if (s != PLINTH_OK)
        return s;
    const plugin_entry *e = find_loaded(ctx, name);
    if (!e)
        return not_found(ctx, name);
    *out = e->plugin;
    return PLINTH_OK;
}

/* ------------------------------------------------- checked wrappers --- */

/* Turns a plugin's status into ours, with its message on the context. A
 * status outside the enum is itself a broken contract. */
static plinth_status plugin_failed(plinth_backend *b, int32_t status, const char *what)
{
    if (status <= PLINTH_OK || status >= PLINTH_STATUS_COUNT)
        return ctx_error(b->ctx, PLINTH_ERR_PLUGIN,
                         "backend '%s': %s returned status %" PRId32 ", which is not a "
                         "plinth_status",
                         b->name, what, status);
    const char *msg = b->api->last_error(b->dev);
    if (msg && msg[0])
        return ctx_error(b->ctx, (plinth_status)status, "backend '%s': %s", b->name, msg);
    return ctx_error(b->ctx, (plinth_status)status, "backend '%s': %s failed: %s", b->name, what,
                     plinth_status_name((plinth_status)status));
}

plinth_status backend_buffer_alloc(plinth_backend *b, uint64_t size, plinth_buffer *out)
{
    *out = (plinth_buffer){0};
    int32_t st;
    IN_PLUGIN(b->ctx, st = b->api->buffer_alloc(b->dev, size, out));
    if (st != PLINTH_OK) {
        *out = (plinth_buffer){0};
        return plugin_failed(b, st, "buffer_alloc");
    }
    if (out->host && (uintptr_t)out->host % PLINTH_ALIGNMENT != 0) {
        uintptr_t addr = (uintptr_t)out->host;
        IN_PLUGIN(b->ctx, b->api->buffer_free(b->dev, out));
        *out = (plinth_buffer){0};
        return ctx_error(b->ctx, PLINTH_ERR_PLUGIN,
                         "plugin '%s' (%s): allocator returned misaligned buffer 0x%" PRIxPTR
                         " (not a multiple of %u)",
                         b->name, loader_path(b->plugin), addr, PLINTH_ALIGNMENT);
    }
    if (out->size < size) {
        uint64_t got = out->size;
        IN_PLUGIN(b->ctx, b->api->buffer_free(b->dev, out));
        *out = (plinth_buffer){0};
        return ctx_error(b->ctx, PLINTH_ERR_PLUGIN,
                         "plugin '%s' (%s): allocator returned %" PRIu64 " bytes for a request "
                         "of %" PRIu64,
                         b->name, loader_path(b->plugin), got, size);
    }
    return PLINTH_OK;
}

void backend_buffer_free(plinth_backend *b, plinth_buffer *buf)
{
    if (!b || !buf)
        return;
    if (buf->handle || buf->host)
        IN_PLUGIN(b->ctx, b->api->buffer_free(b->dev, buf));
    *buf = (plinth_buffer){0};
}

/* offset + size within the buffer, without overflow. */
static bool in_bounds(const plinth_buffer *buf, uint64_t offset, uint64_t size)
{
    return offset <= buf->size && size <= buf->size - offset;
}

plinth_status backend_upload(plinth_backend *b, const plinth_buffer *dst, uint64_t offset,
                             const void *src, uint64_t size)
{
    if (!in_bounds(dst, offset, size))
        return ctx_error(b->ctx, PLINTH_ERR_INVALID,
                         "backend '%s': upload of %" PRIu64 " bytes at %" PRIu64
                         " overruns a buffer of %" PRIu64,
                         b->name, size, offset, dst->size);
    if (size == 0)
        return PLINTH_OK;
    int32_t st;
    IN_PLUGIN(b->ctx, st = b->api->upload(b->dev, dst, offset, src, size));
    return st == PLINTH_OK ? PLINTH_OK : plugin_failed(b, st, "upload");
}

plinth_status backend_download(plinth_backend *b, const plinth_buffer *src, uint64_t offset,
                               void *dst, uint64_t size)
{
    if (!in_bounds(src, offset, size))
        return ctx_error(b->ctx, PLINTH_ERR_INVALID,
                         "backend '%s': download of %" PRIu64 " bytes at %" PRIu64
                         " overruns a buffer of %" PRIu64,
                         b->name, size, offset, src->size);
    if (size == 0)
        return PLINTH_OK;
    int32_t st;
    IN_PLUGIN(b->ctx, st = b->api->download(b->dev, src, offset, dst, size));
    return st == PLINTH_OK ? PLINTH_OK : plugin_failed(b, st, "download");
}

plinth_status backend_zero(plinth_backend *b, const plinth_buffer *dst, uint64_t offset,
                           uint64_t size)
{
    /* Through upload, so it works for buffers the host cannot map. */
    static const uint8_t zeros[64 * 1024];
    if (!in_bounds(dst, offset, size))
        return ctx_error(b->ctx, PLINTH_ERR_INVALID,
                         "backend '%s': zeroing %" PRIu64 " bytes at %" PRIu64
                         " overruns a buffer of %" PRIu64,
                         b->name, size, offset, dst->size);
    while (size > 0) {
        uint64_t chunk = size < sizeof zeros ? size : sizeof zeros;
        plinth_status s = backend_upload(b, dst, offset, zeros, chunk);
        if (s != PLINTH_OK)
            return s;
        offset += chunk;
        size -= chunk;
    }
    return PLINTH_OK;
}

bool backend_supports(plinth_backend *b, uint32_t op, const plinth_view *out,
                      const plinth_view *in, uint32_t n_in, const void *attrs)
{
    if (!backend_kernel(b, op))
        return false;
    bool yes;
    IN_PLUGIN(b->ctx, yes = b->api->supports(b->dev, op, out, in, n_in, attrs));
    return yes;
}

plinth_kernel_fn backend_kernel(plinth_backend *b, uint32_t op)
{
    if (op >= b->api->op_count || !b->api->kernels)
        return NULL;
    return b->api->kernels[op];
}

bool backend_has_program_path(const plinth_backend *b)
{
    const plinth_backend_api *api = b->api;
    return API_HAS(api, release) && api->prepare && api->execute && api->release;
}

plinth_status backend_prepare(plinth_backend *b, const plinth_instruction *code, uint32_t n,
                              void **out_program)
{
    *out_program = NULL;
    if (!backend_has_program_path(b))
        return PLINTH_OK; /* default: no program, the executor runs kernels */
    int32_t st;
    IN_PLUGIN(b->ctx, st = b->api->prepare(b->dev, code, n, out_program));
    if (st != PLINTH_OK) {
        *out_program = NULL;
        return plugin_failed(b, st, "prepare");
    }
    return PLINTH_OK;
}

plinth_status backend_execute(plinth_backend *b, void *program)
{
    if (!backend_has_program_path(b))
        return ctx_error(b->ctx, PLINTH_ERR_UNSUPPORTED,
                         "backend '%s' has no whole-program path (prepare/execute)", b->name);
    int32_t st;
    IN_PLUGIN(b->ctx, st = b->api->execute(b->dev, program));
    return st == PLINTH_OK ? PLINTH_OK : plugin_failed(b, st, "execute");
}

void backend_release(plinth_backend *b, void *program)
{
    if (program && backend_has_program_path(b))
        IN_PLUGIN(b->ctx, b->api->release(b->dev, program));
}

plinth_status backend_synchronize(plinth_backend *b)
{
    if (!API_HAS(b->api, synchronize) || !b->api->synchronize)
        return PLINTH_OK; /* default: the plugin is synchronous */
    int32_t st;
    IN_PLUGIN(b->ctx, st = b->api->synchronize(b->dev));
    return st == PLINTH_OK ? PLINTH_OK : plugin_failed(b, st, "synchronize");
}

const char *backend_last_error(plinth_backend *b)
{
    const char *msg = b->api->last_error(b->dev);
    return msg ? msg : "";
}
