/*
 * runner.c — a whole run: which backends, devices and configurations, every
 * case on each, expectations applied, results kept for the reports.
 *
 * Sections:
 *   1. records and targets (growing arrays)
 *   2. resolving --backend (a name, a plugin path, or all) to plugins
 *   3. running one target
 *   4. conf_run_all
 */
#include "conf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ 1 --- */

static conf_target *new_target(conf_run *run)
{
    if (run->n_targets == run->cap_targets) {
        uint32_t cap = run->cap_targets ? run->cap_targets * 2 : 8;
        conf_target *v = realloc(run->targets, cap * sizeof *v);
        if (!v)
            return NULL;
        run->targets = v;
        run->cap_targets = cap;
    }
    conf_target *t = &run->targets[run->n_targets++];
    memset(t, 0, sizeof *t);
    return t;
}

static conf_record *new_record(conf_run *run)
{
    if (run->n_records == run->cap_records) {
        uint32_t cap = run->cap_records ? run->cap_records * 2 : 1024;
        conf_record *v = realloc(run->records, cap * sizeof *v);
        if (!v)
            return NULL;
        run->records = v;
        run->cap_records = cap;
    }
    conf_record *r = &run->records[run->n_records++];
    memset(r, 0, sizeof *r);
    return r;
}

void conf_run_free(conf_run *run)
{
    free(run->targets);
    free(run->records);
    memset(run, 0, sizeof *run);
}

uint32_t conf_run_failed(const conf_run *run)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < run->n_targets; i++)
        n += run->targets[i].counts[CONF_FAIL] + run->targets[i].counts[CONF_XPASS];
    return n;
}

/* ------------------------------------------------------------------ 2 --- */


/* ------------------------------------------------------------------ 3 --- */

typedef struct job {
    const conf_options *o;
    conf_run *run;
    plinth_backend *ref;
    plinth_backend *fallbacks[PLINTH_MAX_BACKENDS - 1]; /* for the whole graphs */
    uint32_t n_fallbacks;
    const conf_case_list *cases;
    uint32_t total, done;
} job;

/* Runs every case on one opened backend; t is run->targets[ti]. */
static bool run_target(job *j, uint32_t ti, plinth_backend *b, conf_expect *ex)
{
    const conf_options *o = j->o;
    const bool graphs = o->graphs && o->op >= PLINTH_OP_COUNT;
    const double t0 = now_ms();
    const uint32_t n_cases = o->only_graphs ? 0 : j->cases->n;
    const uint32_t n_graphs = graphs ? conf_graph_count() : 0;
    for (uint32_t i = 0; i < n_cases + n_graphs; i++) {
        const conf_case *c = i < n_cases ? &j->cases->v[i] : NULL;
        const conf_graph_case *g = c ? NULL : conf_graph_get(i - n_cases);
        const char *name = c ? c->name : g->name;
        if (o->case_glob && !conf_glob(o->case_glob, name))
            continue;
        conf_record *rec = new_record(j->run);
        if (!rec)
            return false;
        conf_target *t = &j->run->targets[ti];
        rec->target = ti;
        rec->op = c ? c->op : PLINTH_OP_COUNT;
        snprintf(rec->name, sizeof rec->name, "%s", name);
        const uint32_t seed = conf_case_seed(j->run->base_seed, name);
        conf_expect_entry *x = conf_expect_match(ex, name, t->config);
        if (x && x->status == CONF_SKIP) {
            rec->r.status = CONF_SKIP;
            rec->r.seed = seed;
        } else if (c) {
            conf_run_case(j->ref, b, c, seed, &rec->r);
        } else {
            conf_run_graph(j->ref, b, j->fallbacks, j->n_fallbacks, g, seed, &rec->r,
                           rec->placement, sizeof rec->placement);
        }
        if (x) {
            conf_apply_expectation(&rec->r, x);
            snprintf(rec->reason, sizeof rec->reason, "%s", x->reason);
        }
        t->counts[rec->r.status]++;
        j->done++;
        if (o->progress)
            o->progress(o->user, j->run, t, rec, j->done, j->total);
    }
    j->run->targets[ti].ms = now_ms() - t0;
    return true;
}

/* ------------------------------------------------------------------ 4 --- */

static int by_backend(const void *a, const void *b)
{
    const plinth_plugin_report *x = a, *y = b;
    bool xr = strcmp(x->name, "ref") == 0, yr = strcmp(y->name, "ref") == 0;
    if (xr != yr)
        return xr ? -1 : 1;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->path, y->path);
}

/* The backends a run covers: every loaded plugin (all), or one name/path. */
static int collect(plinth_context *ctx, const char *sel, plinth_plugin_report *out, int max,
                   char *err, size_t err_size)
{
    if (sel && strcmp(sel, "all") != 0) {
        uint32_t index = 0;
        out[0].struct_size = sizeof out[0];
        if (plinth_plugin_load(ctx, sel, &index) != PLINTH_OK ||
            plinth_plugin_query(ctx, index, &out[0]) != PLINTH_OK) {
            snprintf(err, err_size, "%s", plinth_context_error(ctx));
            return -1;
        }
        return 1;
    }
    if (plinth_plugins_scan(ctx) != PLINTH_OK) {
        snprintf(err, err_size, "%s", plinth_context_error(ctx));
        return -1;
    }
    int n = 0;
    for (uint32_t i = 0; i < plinth_plugin_count(ctx) && n < max; i++) {
        out[n].struct_size = sizeof out[n];
        if (plinth_plugin_query(ctx, i, &out[n]) == PLINTH_OK &&
            !strstr(out[n].error, "shadowed by"))
            n++;
    }
    /* One order wherever the plugins live (one install folder, or one
     * build folder each): the oracle first, then by name. */
    qsort(out, (size_t)n, sizeof *out, by_backend);
    return n;
}

plinth_status conf_run_all(const conf_options *o, conf_run *run, char *err, size_t err_size)
{
    memset(run, 0, sizeof *run);
    run->base_seed = o->seed;
    const double t0 = now_ms();
    plinth_context_options copts = {.struct_size = sizeof copts, .plugin_dirs = o->plugin_dirs};
    plinth_context *ctx = NULL;
    plinth_status st = plinth_context_create(&copts, &ctx);
    if (st != PLINTH_OK) {
        snprintf(err, err_size, "cannot create a context");
        return st;
    }
    conf_case_list cases = {0};
    plinth_backend *ref = NULL;
    enum { MAX_PLUGINS = 64 };
    plinth_plugin_report *reps = calloc(MAX_PLUGINS, sizeof *reps);
    int n_reps = reps ? collect(ctx, o->backend, reps, MAX_PLUGINS, err, err_size) : -1;
    if (n_reps < 0) {
        st = PLINTH_ERR_INVALID;
        goto done;
    }
    if (plinth_backend_open(ctx, "ref", 0, NULL, &ref) != PLINTH_OK) {
        snprintf(err, err_size, "the oracle is missing: %s", plinth_context_error(ctx));
        st = PLINTH_ERR_INVALID;
        goto done;
    }
    if (!conf_cases_build(&cases, o->op)) {
        snprintf(err, err_size, "out of memory building cases");
        st = PLINTH_ERR_NO_MEMORY;
        goto done;
    }
    char found[1024];
    const char *dir = o->expect_dir;
    if (!dir) {
        if (!conf_expect_dir(found, sizeof found, err, err_size)) {
            st = PLINTH_ERR_IO;
            goto done;
        }
        dir = found;
    }

    /* Pass 1: targets (backend × device × config) and their expectations;
     * pass 2 runs them, so the progress line knows the total. */
    conf_expect *ex = calloc((size_t)(n_reps ? n_reps : 1), sizeof *ex);
    if (!ex) {
        st = PLINTH_ERR_NO_MEMORY;
        goto done;
    }
    uint32_t *owner = NULL; /* target -> index into reps/ex */
    for (int i = 0; i < n_reps && st == PLINTH_OK; i++) {
        const plinth_plugin_report *rp = &reps[i];
        if (!rp->loaded) {
            conf_target *t = new_target(run);
            uint32_t *ow = realloc(owner, run->n_targets * sizeof *ow);
            if (!t || !ow) { st = PLINTH_ERR_NO_MEMORY; break; }
            owner = ow;
            owner[run->n_targets - 1] = (uint32_t)i;
            snprintf(t->backend, sizeof t->backend, "%s", rp->name);
            snprintf(t->plugin_path, sizeof t->plugin_path, "%s", rp->path);
            snprintf(t->reason, sizeof t->reason, "plugin did not load: %.480s", rp->error);
            continue;
        }
        if (!conf_expect_load(&ex[i], dir, rp->name, err, err_size)) {
            st = PLINTH_ERR_FORMAT;
            break;
        }
        uint32_t n_cfg = o->config_given || ex[i].n_configs == 0 ? 1 : ex[i].n_configs;
        uint32_t d0 = o->all_devices ? 0 : o->device;
        uint32_t d1 = o->all_devices ? (rp->n_devices ? rp->n_devices : 1) : o->device + 1;
        for (uint32_t d = d0; d < d1; d++)
            for (uint32_t k = 0; k < n_cfg; k++) {
                conf_target *t = new_target(run);
                uint32_t *ow = realloc(owner, run->n_targets * sizeof *ow);
                if (!t || !ow) { st = PLINTH_ERR_NO_MEMORY; break; }
                owner = ow;
                owner[run->n_targets - 1] = (uint32_t)i;
                snprintf(t->backend, sizeof t->backend, "%s", rp->name);
                snprintf(t->plugin_path, sizeof t->plugin_path, "%s", rp->path);
                t->device = d;
                snprintf(t->config, sizeof t->config, "%s",
                         o->config_given ? (o->config ? o->config : "") : ex[i].n_configs ? ex[i].configs[k] : "");
                if (rp->n_devices == 0)
                    snprintf(t->reason, sizeof t->reason, "no device: %s",
                             rp->unavailable[0] ? rp->unavailable : "the backend reports none");
                else if (d >= rp->n_devices)
                    snprintf(t->reason, sizeof t->reason, "no device %u (the backend has %u)", d,
                             rp->n_devices);
                else
                    t->available = true;
            }
    }
    job j = {.o = o, .run = run, .ref = ref, .cases = &cases};
    for (const char *f = o->fallback; st == PLINTH_OK && f && *f;) {
        char name[1024];
        size_t len = strcspn(f, ",");
        snprintf(name, sizeof name, "%.*s", (int)len, f);
        f += len + (f[len] == ',');
        if (j.n_fallbacks == PLINTH_MAX_BACKENDS - 1 ||
            plinth_backend_open(ctx, name, 0, NULL, &j.fallbacks[j.n_fallbacks]) != PLINTH_OK) {
            snprintf(err, err_size, "fallback '%s': %s", name,
                     j.n_fallbacks == PLINTH_MAX_BACKENDS - 1 ? "too many fallbacks"
                                                             : plinth_context_error(ctx));
            st = PLINTH_ERR_INVALID;
            break;
        }
        j.n_fallbacks++;
    }
    uint32_t per = (o->only_graphs ? 0 : cases.n) +
                   (o->graphs && o->op >= PLINTH_OP_COUNT ? conf_graph_count() : 0);
    for (uint32_t i = 0; i < run->n_targets; i++)
        j.total += run->targets[i].available ? per : 0;
    for (uint32_t i = 0; i < run->n_targets && st == PLINTH_OK; i++) {
        conf_target *t = &run->targets[i];
        if (!t->available)
            continue;
        plinth_device_options dopts = {.struct_size = sizeof dopts, .n_threads = o->n_threads,
                                       .config = t->config[0] ? t->config : NULL};
        plinth_device_info info = {.struct_size = sizeof info};
        plinth_backend *b = NULL;
        if (plinth_backend_open(ctx, t->plugin_path, t->device, &dopts, &b) != PLINTH_OK) {
            /* e.g. isa=avx512 on a machine without it: skipped, with why. */
            t->available = false;
            snprintf(t->reason, sizeof t->reason, "cannot open: %.480s", plinth_context_error(ctx));
            j.total -= per;
            continue;
        }
        if (plinth_backend_device_info(b, &info) == PLINTH_OK)
            snprintf(t->device_name, sizeof t->device_name, "%s", info.name);
        if (!run_target(&j, i, b, &ex[owner[i]]))
            st = PLINTH_ERR_NO_MEMORY;
        plinth_backend_close(b);
    }
    for (int i = 0; i < n_reps; i++)
        conf_expect_free(&ex[i]);
    for (uint32_t i = 0; i < j.n_fallbacks; i++)
        plinth_backend_close(j.fallbacks[i]);
    free(ex);
    free(owner);
done:
    free(reps);
    conf_cases_free(&cases);
    plinth_backend_close(ref);
    plinth_context_destroy(ctx);
    run->ms = now_ms() - t0;
    return st;
}
