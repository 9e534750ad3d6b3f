/*
 * test_loader.c — the loader against broken plugins, discovery, reports,
 * and the template's kernels through the public memory and one-op API
 * (which go through the core's checked slot wrappers).
 *
 * Paths come from the environment (tests/abi/meson.build):
 *   PLINTH_TEST_BROKEN_<WHAT>  one deliberately broken plugin each
 *   PLINTH_TEST_TEMPLATE, PLINTH_TEST_REF
 * Files that must not be in the build tree (a text file named like a
 * plugin, copies of plugins) are made in a fresh temporary directory.
 *
 * Sections: helpers; broken plugins; discovery and reports; wrappers and
 * the template's kernels.
 */
#include "plinth.h"

#include <criterion/criterion.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define CHECK_NO_LEAKS() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked")
#else
#define CHECK_NO_LEAKS() ((void)0)
#endif

/* ------------------------------------------------------------ helpers --- */

static const char *need_env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v && v[0], "environment variable %s is not set (run through meson test)", name);
    return v;
}

static plinth_context *context(const char *const *dirs)
{
    plinth_context_options o = {.struct_size = sizeof o, .plugin_dirs = dirs};
    plinth_context *ctx = NULL;
    cr_assert_eq(plinth_context_create(&o, &ctx), PLINTH_OK);
    return ctx;
}

#define ASSERT_HAS(text, needle)                                               \
    cr_assert(strstr((text), (needle)) != NULL, "expected \"%s\" in \"%s\"", (needle), (text))

/* A fresh directory under /tmp with up to 8 files, removed by tmp_remove. */
typedef struct tmpdir {
    char path[64];
    char files[8][PATH_MAX];
    int n;
} tmpdir;

static void tmp_make(tmpdir *t)
{
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "/tmp/plinth-abi-XXXXXX");
    cr_assert(mkdtemp(t->path) != NULL, "mkdtemp failed");
}

static const char *tmp_write(tmpdir *t, const char *name, const void *data, size_t size)
{
    cr_assert(t->n < 8);
    char *path = t->files[t->n++];
    char dir[sizeof t->path];
    memcpy(dir, t->path, sizeof dir);
    snprintf(path, PATH_MAX, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, size, f), size);
    fclose(f);
    return path;
}

/* Copies a real file (a built plugin) into the directory under `name`. */
static const char *tmp_copy(tmpdir *t, const char *name, const char *from)
{
    FILE *f = fopen(from, "rb");
    cr_assert(f, "cannot open %s", from);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    cr_assert(size > 0);
    char *buf = malloc((size_t)size);
    cr_assert(buf);
    cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    const char *path = tmp_write(t, name, buf, (size_t)size);
    free(buf);
    return path;
}

static void tmp_remove(tmpdir *t)
{
    for (int i = 0; i < t->n; i++)
        unlink(t->files[i]);
    rmdir(t->path);
}

/* The directory part of a path, in `buf`. */
static const char *dir_of(const char *path, char *buf, size_t size)
{
    snprintf(buf, size, "%s", path);
    char *slash = strrchr(buf, '/');
    cr_assert(slash, "no directory in %s", path);
    *slash = '\0';
    return buf;
}

/* Index of the report whose name is `name` and whose loaded flag is
 * `loaded`, or -1. */
static int find_report(plinth_context *ctx, const char *name, bool loaded,
                       plinth_plugin_report *out)
{
    for (uint32_t i = 0; i < plinth_plugin_count(ctx); i++) {
        cr_assert_eq(plinth_plugin_query(ctx, i, out), PLINTH_OK);
        if (strcmp(out->name, name) == 0 && out->loaded == loaded)
            return (int)i;
    }
    return -1;
}

/* Opens the plugin file at the path in env var `var` and expects it to be
 * refused with `status` and a message naming the file and `reason`. */
static void expect_refused(const char *var, plinth_status status, const char *reason)
{
    const char *path = need_env(var);
    plinth_context *ctx = context(NULL);
    plinth_backend *b = (plinth_backend *)&b; /* must be reset to NULL */
    plinth_status s = plinth_backend_open(ctx, path, 0, NULL, &b);
    cr_assert_eq(s, status, "status %d (%s), expected %d; message: %s", s,
                 plinth_status_name(s), status, plinth_context_error(ctx));
    cr_assert_null(b);
    ASSERT_HAS(plinth_context_error(ctx), path);
    ASSERT_HAS(plinth_context_error(ctx), reason);
    cr_assert_eq(plinth_plugin_count(ctx), 0, "a refused plugin must not be kept");

    /* Loading without a device: same outcome, nothing kept. */
    uint32_t index = 12345;
    cr_assert_eq(plinth_plugin_load(ctx, path, &index), status);
    cr_assert_eq(plinth_plugin_count(ctx), 0);
    plinth_context_destroy(ctx);
    CHECK_NO_LEAKS();
}

/* ----------------------------------------------------- broken plugins --- */

Test(broken, no_entry_symbol)
{
    expect_refused("PLINTH_TEST_BROKEN_NOENTRY", PLINTH_ERR_PLUGIN,
                   "entry symbol 'plinth_plugin_entry' missing");
}

Test(broken, entry_refuses_abi)
{
    expect_refused("PLINTH_TEST_BROKEN_REFUSE", PLINTH_ERR_PLUGIN, "refused ABI version 1");
}

Test(broken, newer_abi_version)
{
    expect_refused("PLINTH_TEST_BROKEN_NEWER", PLINTH_ERR_PLUGIN,
                   "ABI version 2 is newer than the host's 1");
}

Test(broken, struct_size_too_small)
{
    expect_refused("PLINTH_TEST_BROKEN_SMALL", PLINTH_ERR_PLUGIN, "struct_size");
}

Test(broken, mandatory_slot_null)
{
    expect_refused("PLINTH_TEST_BROKEN_NOALLOC", PLINTH_ERR_PLUGIN,
                   "slot 'buffer_alloc' is NULL");
}

Test(broken, name_null)
{
    expect_refused("PLINTH_TEST_BROKEN_NONAME", PLINTH_ERR_PLUGIN, "name is NULL");
}

Test(broken, text_file)
{
    tmpdir t;
    tmp_make(&t);
    static const char text[] = "not a shared object\n";
    const char *path = tmp_write(&t, "plinth-text.so", text, sizeof text - 1);
    plinth_context *ctx = context(NULL);
    plinth_backend *b = NULL;
    cr_assert_eq(plinth_backend_open(ctx, path, 0, NULL, &b), PLINTH_ERR_PLUGIN);
    const char *err = plinth_context_error(ctx);
    ASSERT_HAS(err, path);
    ASSERT_HAS(err, "not a shared object");
    /* dlerror's own words come along: "invalid ELF header" or "file too short" */
    cr_assert(strstr(err, "invalid ELF header") || strstr(err, "file too short"),
              "dlerror text missing: %s", err);
    plinth_context_destroy(ctx);
    tmp_remove(&t);
    CHECK_NO_LEAKS();
}

Test(broken, missing_file)
{
    const char *path = "/nonexistent/plinth-missing.so";
    plinth_context *ctx = context(NULL);
    plinth_backend *b = NULL;
    cr_assert_eq(plinth_backend_open(ctx, path, 0, NULL, &b), PLINTH_ERR_IO);
    ASSERT_HAS(plinth_context_error(ctx), path);
    ASSERT_HAS(plinth_context_error(ctx), "no such file");
    plinth_context_destroy(ctx);
    CHECK_NO_LEAKS();
}

Test(broken, misaligned_allocator)
{
    const char *path = need_env("PLINTH_TEST_BROKEN_MISALIGNED");
    plinth_context *ctx = context(NULL);
    plinth_backend *b = NULL;
    /* The table is fine: the plugin loads and opens. */
    cr_assert_eq(plinth_backend_open(ctx, path, 0, NULL, &b), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_assert_str_eq(plinth_backend_name(b), "misaligned");

    /* Every allocation is refused, and freed (the leak check below). */
    for (int i = 0; i < 3; i++) {
        plinth_memory *mem = (plinth_memory *)&mem;
        cr_assert_eq(plinth_memory_create(b, 1000, &mem), PLINTH_ERR_PLUGIN);
        cr_assert_null(mem);
        const char *err = plinth_context_error(ctx);
        ASSERT_HAS(err, "misaligned");
        ASSERT_HAS(err, "plugin 'misaligned'");
        ASSERT_HAS(err, path);
        ASSERT_HAS(err, "not a multiple of 256");
    }
    plinth_backend_close(b);
    plinth_context_destroy(ctx);
    CHECK_NO_LEAKS();
}

/* Rule 15: a device that declares host memory must hand out host buffers;
 * the wrapper refuses (and frees) one that has no host address, before a
 * program could share it with another backend. */
Test(broken, host_memory_declared_but_not_given)
{
    const char *path = need_env("PLINTH_TEST_BROKEN_HOSTCAPS");
    plinth_context *ctx = context(NULL);
    plinth_backend *b = NULL;
    cr_assert_eq(plinth_backend_open(ctx, path, 0, NULL, &b), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    plinth_memory *mem = NULL;
    cr_assert_eq(plinth_memory_create(b, 1000, &mem), PLINTH_ERR_PLUGIN);
    cr_assert_null(mem);
    ASSERT_HAS(plinth_context_error(ctx), "plugin 'hostcaps'");
    ASSERT_HAS(plinth_context_error(ctx), "PLINTH_CAP_HOST_MEMORY");
    plinth_backend_close(b);
    plinth_context_destroy(ctx);
    CHECK_NO_LEAKS();
}

/* A plugin whose mere loading kills the process (constructor abort, entry
 * segfault or exit): never loaded unless asked for by name or listed. */
Test(broken, killers_elsewhere_in_the_path_are_not_loaded)
{
    tmpdir t;
    tmp_make(&t);
    tmp_copy(&t, "plinth-abort.so", need_env("PLINTH_TEST_BROKEN_ABORT"));
    tmp_copy(&t, "plinth-segv.so", need_env("PLINTH_TEST_BROKEN_SEGV"));
    tmp_copy(&t, "plinth-exit.so", need_env("PLINTH_TEST_BROKEN_EXIT"));
    const char *copy = tmp_copy(&t, "plinth-template.so", need_env("PLINTH_TEST_TEMPLATE"));
    const char *dirs[] = {t.path, NULL};
    plinth_context *ctx = context(dirs);
    plinth_backend *b = NULL;
    cr_assert_eq(plinth_backend_open(ctx, "template", 0, NULL, &b), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_assert_str_eq(plinth_backend_path(b), copy);
    cr_assert_eq(plinth_plugin_count(ctx), 1, "only the plugin asked for is loaded");
    plinth_backend_close(b);
    plinth_context_destroy(ctx);
    tmp_remove(&t);
    CHECK_NO_LEAKS();
}

Test(broken, too_many_devices)
{
    expect_refused("PLINTH_TEST_BROKEN_MANYDEV", PLINTH_ERR_PLUGIN, "claims 4294967295 devices");
}

Test(broken, file_name_and_table_name_differ)
{
    /* The template copied as plinth-cpu.so must not pass for the cpu backend. */
    tmpdir t;
    tmp_make(&t);
    const char *fake = tmp_copy(&t, "plinth-cpu.so", need_env("PLINTH_TEST_TEMPLATE"));
    const char *dirs[] = {t.path, NULL};
    plinth_context *ctx = context(dirs);
    plinth_backend *b = NULL;
    cr_assert_eq(plinth_backend_open(ctx, "cpu", 0, NULL, &b), PLINTH_ERR_PLUGIN);
    cr_assert_null(b);
    ASSERT_HAS(plinth_context_error(ctx), fake);
    ASSERT_HAS(plinth_context_error(ctx),
               "the file is named for backend 'cpu' but its table says 'template'");
    plinth_context_destroy(ctx);
    tmp_remove(&t);
    CHECK_NO_LEAKS();
}

Test(broken, names_that_are_not_backend_names)
{
    plinth_context *ctx = context(NULL);
    plinth_backend *b = NULL;
    const char *bad[] = {"", "CPU", "a b", "..", "x.so", "cpu;rm"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(plinth_backend_open(ctx, bad[i], 0, NULL, &b), PLINTH_ERR_INVALID, "%s",
                     bad[i]);
        ASSERT_HAS(plinth_context_error(ctx), "not a backend name");
    }
    plinth_context_destroy(ctx);
    CHECK_NO_LEAKS();
}

/* ---------------------------------------------- discovery and reports --- */

static char warnings[4096];

static void keep_warnings(void *user, int level, const char *message)
{
    (void)user;
    if (level <= PLINTH_LOG_WARN)
        snprintf(warnings + strlen(warnings), sizeof warnings - strlen(warnings), "%s\n",
                 message);
}

Test(discovery, plugin_dirs_option_and_shadowing)
{
    const char *tpl = need_env("PLINTH_TEST_TEMPLATE");
    tmpdir t, u;
    tmp_make(&t);
    tmp_make(&u);
    const char *copy = tmp_copy(&t, "plinth-template.so", tpl);
    const char *later = tmp_copy(&u, "plinth-template.so", tpl);

    /* The first directory wins; the later file of the same name is not
     * silently ignored: opening says so in a warning... */
    const char *dirs[] = {t.path, u.path, NULL};
    plinth_context_options o = {.struct_size = sizeof o, .plugin_dirs = dirs,
                                .log = keep_warnings, .log_level = PLINTH_LOG_WARN};
    plinth_context *ctx = NULL;
    cr_assert_eq(plinth_context_create(&o, &ctx), PLINTH_OK);
    warnings[0] = '\0';
    plinth_backend *b = NULL;
    cr_assert_eq(plinth_backend_open(ctx, "template", 0, NULL, &b), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_assert_str_eq(plinth_backend_name(b), "template");
    cr_assert_str_eq(plinth_backend_path(b), copy);
    ASSERT_HAS(warnings, "shadows");
    ASSERT_HAS(warnings, later);

    /* ... and a listing reports it as shadowed, without loading it. */
    cr_assert_eq(plinth_plugins_scan(ctx), PLINTH_OK);
    plinth_plugin_report r = {.struct_size = sizeof r};
    cr_assert_geq(find_report(ctx, "template", true, &r), 0);
    cr_assert_str_eq(r.path, copy);
    bool shadowed = false;
    for (uint32_t i = 0; !shadowed && i < plinth_plugin_count(ctx); i++) {
        cr_assert_eq(plinth_plugin_query(ctx, i, &r), PLINTH_OK);
        shadowed = !r.loaded && strcmp(r.path, later) == 0;
    }
    cr_assert(shadowed, "the later template should be reported as shadowed");
    cr_assert_str_eq(r.name, "template");
    ASSERT_HAS(r.error, "shadowed by");
    ASSERT_HAS(r.error, copy);

    plinth_backend_close(b);
    plinth_context_destroy(ctx);
    tmp_remove(&t);
    tmp_remove(&u);
    CHECK_NO_LEAKS();
}

Test(discovery, env_plugin_path)
{
    const char *tpl = need_env("PLINTH_TEST_TEMPLATE");
    tmpdir t;
    tmp_make(&t);
    const char *copy = tmp_copy(&t, "plinth-template.so", tpl);

    /* Empty entries are ignored (they would mean the current directory). */
    char env[256];
    snprintf(env, sizeof env, "::%s:", t.path);
    cr_assert_eq(setenv("PLINTH_PLUGIN_PATH", env, 1), 0);

    plinth_context *ctx = context(NULL); /* fresh: searches with the new env */
    plinth_backend *b = NULL;
    cr_assert_eq(plinth_backend_open(ctx, "template", 0, NULL, &b), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_assert_str_eq(plinth_backend_path(b), copy);
    plinth_backend_close(b);
    plinth_context_destroy(ctx);
    tmp_remove(&t);
    CHECK_NO_LEAKS();
}

Test(discovery, unknown_backend_lists_dirs)
{
    char ref_dir[PATH_MAX];
    dir_of(need_env("PLINTH_TEST_REF"), ref_dir, sizeof ref_dir);
    tmpdir t;
    tmp_make(&t);
    const char *dirs[] = {t.path, NULL};
    plinth_context *ctx = context(dirs);
    plinth_backend *b = NULL;
    plinth_status s = plinth_backend_open(ctx, "nosuch", 0, NULL, &b);
    cr_assert_neq(s, PLINTH_OK);
    cr_assert_null(b);
    const char *err = plinth_context_error(ctx);
    ASSERT_HAS(err, "no backend named 'nosuch'");
    ASSERT_HAS(err, "plinth-nosuch.so");
    ASSERT_HAS(err, t.path);
    /* the build tree's plugins come last: a build-tree libplinth searches them */
    ASSERT_HAS(err, ref_dir);
    cr_assert(strstr(err, t.path) < strstr(err, ref_dir), "search order wrong: %s", err);
    plinth_context_destroy(ctx);
    tmp_remove(&t);
    CHECK_NO_LEAKS();
}

Test(discovery, query_reports_loaded_and_failed)
{
    const char *tpl = need_env("PLINTH_TEST_TEMPLATE");
    const char *noentry = need_env("PLINTH_TEST_BROKEN_NOENTRY");
    tmpdir t;
    tmp_make(&t);
    const char *copy = tmp_copy(&t, "plinth-template.so", tpl);
    const char *broken = tmp_copy(&t, "plinth-noentry.so", noentry);
    static const char text[] = "not a shared object\n";
    const char *txt = tmp_write(&t, "plinth-text.so", text, sizeof text - 1);
    /* Not named plinth-<name>.so: never loaded, never reported. */
    tmp_copy(&t, "libplinth-other.so", tpl);
    tmp_write(&t, "plinth-.so", text, sizeof text - 1);
    tmp_write(&t, "plinth-UPPER.so", text, sizeof text - 1);

    const char *dirs[] = {t.path, NULL};
    plinth_context *ctx = context(dirs);
    cr_assert_eq(plinth_plugins_scan(ctx), PLINTH_OK, "%s", plinth_context_error(ctx));
    cr_assert_str_empty(plinth_context_error(ctx), "a scan that succeeds sets no error");
    uint32_t n = plinth_plugin_count(ctx);
    cr_assert_geq(n, 3);

    /* Our directory comes first, its files sorted by name. */
    plinth_plugin_report r = {.struct_size = sizeof r};
    cr_assert_eq(plinth_plugin_query(ctx, 0, &r), PLINTH_OK);
    cr_assert_str_eq(r.path, broken);
    cr_assert_str_eq(r.name, "noentry");
    cr_assert_not(r.loaded);
    ASSERT_HAS(r.error, "entry symbol 'plinth_plugin_entry' missing");
    ASSERT_HAS(r.error, broken);

    cr_assert_eq(plinth_plugin_query(ctx, 1, &r), PLINTH_OK);
    cr_assert_str_eq(r.path, copy);
    cr_assert_str_eq(r.name, "template");
    cr_assert_str_eq(r.version, "0.1.0");
    cr_assert(r.loaded);
    cr_assert_str_empty(r.error);
    cr_assert_eq(r.n_devices, 1);

    plinth_device_info info = {.struct_size = sizeof info};
    cr_assert_eq(plinth_plugin_device_info(ctx, 1, 0, &info), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_assert_str_eq(info.name, "template-cpu");
    cr_assert_eq(info.type, PLINTH_DEVICE_CPU);
    cr_assert_neq(plinth_plugin_device_info(ctx, 1, 1, &info), PLINTH_OK);
    cr_assert_neq(plinth_plugin_device_info(ctx, 0, 0, &info), PLINTH_OK);
    ASSERT_HAS(plinth_context_error(ctx), "not loaded");

    cr_assert_eq(plinth_plugin_query(ctx, 2, &r), PLINTH_OK);
    cr_assert_str_eq(r.path, txt);
    cr_assert_not(r.loaded);
    ASSERT_HAS(r.error, "not a shared object");

    for (uint32_t i = 0; i < n; i++) {
        cr_assert_eq(plinth_plugin_query(ctx, i, &r), PLINTH_OK);
        cr_assert_null(strstr(r.path, "libplinth-other.so"));
        cr_assert_null(strstr(r.path, "/plinth-.so"));
        cr_assert_null(strstr(r.path, "/plinth-UPPER.so"));
    }
    cr_assert_eq(plinth_plugin_query(ctx, n, &r), PLINTH_ERR_INVALID);

    /* A report filled into an older caller's shorter struct: only what fits. */
    struct {
        uint32_t struct_size;
        char name[64];
        char guard[8];
    } old = {.struct_size = sizeof(uint32_t) + 64, .guard = "GUARDGU"};
    cr_assert_eq(plinth_plugin_query(ctx, 1, (plinth_plugin_report *)(void *)&old), PLINTH_OK);
    cr_assert_str_eq(old.name, "template");
    cr_assert_str_eq(old.guard, "GUARDGU");

    /* Idempotent. */
    cr_assert_eq(plinth_plugins_scan(ctx), PLINTH_OK);
    cr_assert_eq(plinth_plugin_count(ctx), n);

    plinth_context_destroy(ctx);
    tmp_remove(&t);
    CHECK_NO_LEAKS();
}

Test(discovery, ref_and_template_from_their_dirs)
{
    char ref_dir[PATH_MAX], tpl_dir[PATH_MAX];
    dir_of(need_env("PLINTH_TEST_REF"), ref_dir, sizeof ref_dir);
    dir_of(need_env("PLINTH_TEST_TEMPLATE"), tpl_dir, sizeof tpl_dir);
    const char *dirs[] = {ref_dir, tpl_dir, NULL};
    plinth_context *ctx = context(dirs);
    cr_assert_eq(plinth_plugins_scan(ctx), PLINTH_OK);
    plinth_plugin_report r = {.struct_size = sizeof r};
    int ref = find_report(ctx, "ref", true, &r);
    if (ref < 0) {
        /* say why, from the report of the ref file */
        for (uint32_t i = 0; i < plinth_plugin_count(ctx); i++) {
            plinth_plugin_query(ctx, i, &r);
            if (strstr(r.path, "plinth-ref.so"))
                cr_assert_fail("ref did not load: %s", r.error);
        }
        cr_assert_fail("ref not found in %s", ref_dir);
    }
    cr_assert_geq(find_report(ctx, "template", true, &r), 0);

    plinth_backend *a = NULL, *b = NULL;
    cr_assert_eq(plinth_backend_open(ctx, "ref", 0, NULL, &a), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_assert_eq(plinth_backend_open(ctx, "template", 0, NULL, &b), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_assert_str_eq(plinth_backend_name(a), "ref");
    cr_assert_str_eq(plinth_backend_name(b), "template");
    plinth_backend_close(a);
    plinth_backend_close(b);
    plinth_context_destroy(ctx);
    CHECK_NO_LEAKS();
}

Test(discovery, open_by_path_is_kept_once)
{
    const char *tpl = need_env("PLINTH_TEST_TEMPLATE");
    plinth_context *ctx = context(NULL);
    plinth_backend *a = NULL, *b = NULL;
    cr_assert_eq(plinth_backend_open(ctx, tpl, 0, NULL, &a), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_assert_eq(plinth_backend_open(ctx, tpl, 0, NULL, &b), PLINTH_OK);
    cr_assert_eq(plinth_plugin_count(ctx), 1);
    cr_assert_str_eq(plinth_backend_path(a), plinth_backend_path(b));
    cr_assert_neq(a, b);
    plinth_plugin_report r = {.struct_size = sizeof r};
    cr_assert_eq(plinth_plugin_query(ctx, 0, &r), PLINTH_OK);
    cr_assert(r.loaded);
    cr_assert_str_eq(r.path, tpl);

    /* Device out of range: names the backend and how many it has. */
    plinth_backend *c = NULL;
    cr_assert_eq(plinth_backend_open(ctx, tpl, 3, NULL, &c), PLINTH_ERR_DEVICE);
    cr_assert_null(c);
    ASSERT_HAS(plinth_context_error(ctx), "backend 'template' has 1 device");

    /* Options the template does not know: its own message comes through. */
    plinth_device_options o = {.struct_size = sizeof o, .config = "fast=yes"};
    cr_assert_eq(plinth_backend_open(ctx, tpl, 0, &o, &c), PLINTH_ERR_INVALID);
    ASSERT_HAS(plinth_context_error(ctx), "unknown device config 'fast=yes'");

    plinth_backend_close(a);
    plinth_backend_close(b);
    plinth_backend_close(NULL);
    plinth_context_destroy(ctx);
    CHECK_NO_LEAKS();
}

/* ------------------------------------- memory, one op, template kernels --- */

static plinth_backend *open_template(plinth_context *ctx)
{
    plinth_backend *b = NULL;
    cr_assert_eq(plinth_backend_open(ctx, need_env("PLINTH_TEST_TEMPLATE"), 0, NULL, &b),
                 PLINTH_OK, "%s", plinth_context_error(ctx));
    return b;
}

/* A contiguous f32 view of `shape` (4 dims) at `offset` in `mem`. */
static plinth_view view4(const plinth_memory *mem, uint64_t offset, const int64_t *shape)
{
    plinth_view v = {.buffer = plinth_memory_buffer(mem), .base = offset, .offset = offset,
                     .dtype = PLINTH_F32, .ndim = 4};
    int64_t stride = 4;
    for (int d = 3; d >= 0; d--) {
        v.shape[d] = shape[d];
        v.stride[d] = stride;
        stride *= shape[d];
    }
    return v;
}

Test(wrappers, template_kernels_run)
{
    plinth_context *ctx = context(NULL);
    plinth_backend *b = open_template(ctx);

    /* a [2,3] + b [1,3] (broadcast), a * b, a * 0.5 */
    const int64_t sa[4] = {1, 1, 2, 3}, sb[4] = {1, 1, 1, 3};
    const float av[6] = {1, 2, 3, 4, 5, 6}, bv[3] = {10, 20, 30};
    plinth_memory *ma, *mb, *mo;
    cr_assert_eq(plinth_memory_create(b, sizeof av, &ma), PLINTH_OK);
    cr_assert_eq(plinth_memory_create(b, sizeof bv, &mb), PLINTH_OK);
    cr_assert_eq(plinth_memory_create(b, sizeof av, &mo), PLINTH_OK);
    cr_assert_eq((uintptr_t)plinth_memory_buffer(ma)->host % PLINTH_ALIGNMENT, 0);
    cr_assert_geq(plinth_memory_size(ma), sizeof av);
    cr_assert_eq(plinth_memory_upload(ma, 0, av, sizeof av), PLINTH_OK);
    cr_assert_eq(plinth_memory_upload(mb, 0, bv, sizeof bv), PLINTH_OK);

    plinth_view in[2] = {view4(ma, 0, sa), view4(mb, 0, sb)};
    plinth_view out = view4(mo, 0, sa);
    const plinth_attrs half = {.scale = {0.5f}};
    float got[6];

    cr_assert_eq(plinth_backend_query_op(b, PLINTH_OP_ADD, &out, in, 2, &half), PLINTH_OK);
    cr_assert_eq(plinth_backend_run_op(b, PLINTH_OP_ADD, &out, in, 2, &half), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    cr_assert_eq(plinth_memory_download(mo, 0, got, sizeof got), PLINTH_OK);
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(got[i], av[i] + bv[i % 3], 0.0f, "add [%d]", i);

    cr_assert_eq(plinth_backend_run_op(b, PLINTH_OP_MUL, &out, in, 2, &half), PLINTH_OK);
    cr_assert_eq(plinth_memory_download(mo, 0, got, sizeof got), PLINTH_OK);
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(got[i], av[i] * bv[i % 3], 0.0f, "mul [%d]", i);

    cr_assert_eq(plinth_backend_run_op(b, PLINTH_OP_SCALE, &out, in, 1, &half), PLINTH_OK);
    cr_assert_eq(plinth_memory_download(mo, 0, got, sizeof got), PLINTH_OK);
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(got[i], av[i] * 0.5f, 0.0f, "scale [%d]", i);

    /* In place (rule 10): out is the very view in[0]. */
    plinth_view self[1] = {out};
    cr_assert_eq(plinth_backend_run_op(b, PLINTH_OP_SCALE, &out, self, 1, &half), PLINTH_OK);
    cr_assert_eq(plinth_memory_download(mo, 0, got, sizeof got), PLINTH_OK);
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(got[i], av[i] * 0.25f, 0.0f, "scale in place [%d]", i);

    /* The plugin says no: no kernel, or a dtype it does not take. */
    cr_assert_not(plinth_backend_has_kernel(b, PLINTH_OP_MATMUL));
    cr_assert(plinth_backend_has_kernel(b, PLINTH_OP_ADD));
    cr_assert_not(plinth_backend_has_kernel(b, (plinth_op)100000));
    const int64_t s33[4] = {1, 1, 3, 3};
    plinth_view m33 = view4(mo, 0, s33);
    plinth_view mm[2] = {m33, m33};
    cr_assert_eq(plinth_backend_query_op(b, PLINTH_OP_MATMUL, &m33, mm, 2, &half),
                 PLINTH_ERR_UNSUPPORTED);
    ASSERT_HAS(plinth_context_error(ctx), "backend 'template' does not support matmul");
    plinth_view f16[2] = {in[0], in[1]}, f16out = out;
    f16[0].dtype = f16[1].dtype = f16out.dtype = PLINTH_F16;
    cr_assert_eq(plinth_backend_run_op(b, PLINTH_OP_ADD, &f16out, f16, 2, &half),
                 PLINTH_ERR_UNSUPPORTED);

    /* The host's own rules, before the plugin is asked: */
    plinth_view mixed[2] = {f16[0], in[1]}; /* dtypes differ */
    cr_assert_eq(plinth_backend_query_op(b, PLINTH_OP_ADD, &out, mixed, 2, &half),
                 PLINTH_ERR_INVALID);
    ASSERT_HAS(plinth_context_error(ctx), "dtypes differ");
    plinth_view wide[2] = {in[1], in[0]}; /* out [1,3] from a [2,3]: no */
    plinth_view small = in[1];
    cr_assert_eq(plinth_backend_query_op(b, PLINTH_OP_ADD, &small, wide, 2, &half),
                 PLINTH_ERR_INVALID);
    ASSERT_HAS(plinth_context_error(ctx), "the inputs give");
    cr_assert_eq(plinth_backend_query_op(b, PLINTH_OP_ADD, &out, in, 1, &half),
                 PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_backend_query_op(b, (plinth_op)100000, &out, in, 2, &half),
                 PLINTH_ERR_INVALID);

    /* Views that leave their memory, or are not in one of this backend's. */
    plinth_view past = out;
    past.offset = past.base = plinth_memory_size(mo);
    cr_assert_eq(plinth_backend_run_op(b, PLINTH_OP_SCALE, &past, in, 1, &half),
                 PLINTH_ERR_INVALID);
    ASSERT_HAS(plinth_context_error(ctx), "does not lie inside");
    plinth_view unaligned = out;
    unaligned.base = unaligned.offset = 4;
    cr_assert_eq(plinth_backend_run_op(b, PLINTH_OP_SCALE, &unaligned, in, 1, &half),
                 PLINTH_ERR_INVALID);
    plinth_buffer stranger = *plinth_memory_buffer(mo);
    plinth_view foreign = out;
    foreign.buffer = &stranger;
    cr_assert_eq(plinth_backend_run_op(b, PLINTH_OP_SCALE, &foreign, in, 1, &half),
                 PLINTH_ERR_INVALID);
    ASSERT_HAS(plinth_context_error(ctx), "is not a memory of backend 'template'");

    /* Copies in and out of bounds. */
    cr_assert_eq(plinth_memory_upload(mo, plinth_memory_size(mo) - 4, av, 8),
                 PLINTH_ERR_INVALID);
    ASSERT_HAS(plinth_context_error(ctx), "overruns");
    cr_assert_eq(plinth_memory_download(mo, UINT64_MAX, got, 8), PLINTH_ERR_INVALID);
    cr_assert_eq(plinth_memory_upload(mo, 0, NULL, 8), PLINTH_ERR_INVALID);

    /* Size 0 is a valid memory; NULL is ignored. */
    plinth_memory *empty = NULL;
    cr_assert_eq(plinth_memory_create(b, 0, &empty), PLINTH_OK);
    cr_assert_eq(plinth_memory_upload(empty, 0, av, 0), PLINTH_OK);
    plinth_memory_destroy(empty);
    plinth_memory_destroy(NULL);

    plinth_memory_destroy(ma);
    plinth_memory_destroy(mb);
    plinth_memory_destroy(mo);
    plinth_backend_close(b);
    plinth_context_destroy(ctx);
    CHECK_NO_LEAKS();
}

Test(wrappers, memory_keeps_its_backend_alive)
{
    plinth_context *ctx = context(NULL);
    plinth_backend *b = open_template(ctx);
    plinth_memory *m = NULL;
    cr_assert_eq(plinth_memory_create(b, 64, &m), PLINTH_OK);
    plinth_backend_close(b);   /* the memory still holds the backend */
    plinth_context_destroy(ctx); /* ... and the backend the context */
    const float v[4] = {1, 2, 3, 4};
    float got[4];
    cr_assert_eq(plinth_memory_upload(m, 0, v, sizeof v), PLINTH_OK);
    cr_assert_eq(plinth_memory_download(m, 0, got, sizeof got), PLINTH_OK);
    cr_assert_eq(memcmp(v, got, sizeof v), 0);
    plinth_memory_destroy(m); /* frees the backend, then the context */
    CHECK_NO_LEAKS();
}
