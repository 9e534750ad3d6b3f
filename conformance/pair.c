/*
 * pair.c — one graph compiled on two backends, fed the same values, run
 * and compared output by output: the whole-program checks of the backend
 * tests (fused instruction patterns, a program run twice with new inputs),
 * on the public API alone.
 *
 * Sections: 1. creating a pair; 2. the same values on both sides;
 * 3. running and comparing.
 */
#include "conf_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_PARAMS = 64 };

typedef struct leaf {
    char name[128];
    int32_t dtype;
    int32_t ndim;
    int64_t shape[PLINTH_MAX_DIMS];
} leaf;

struct conf_pair {
    plinth_backend *b[2]; /* CONF_PAIR_BACKEND, CONF_PAIR_REF */
    plinth_model *model[2];
    plinth_program *prog[2];
    leaf params[MAX_PARAMS];
    uint32_t n_params;
    char err[1024];
};

static plinth_status fail(conf_pair *p, plinth_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static plinth_status fail(conf_pair *p, plinth_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    return st;
}

static const char *side_error(const conf_pair *p, int side)
{
    return plinth_context_error(plinth_backend_context(p->b[side]));
}

/* ------------------------------------------------------------------ 1 --- */

plinth_status conf_pair_create(plinth_backend *ref, plinth_backend *b, const plinth_graph *g,
                               conf_pair **out)
{
    *out = NULL;
    conf_pair *p = calloc(1, sizeof *p);
    if (!p)
        return PLINTH_ERR_NO_MEMORY;
    *out = p;
    p->b[CONF_PAIR_BACKEND] = b;
    p->b[CONF_PAIR_REF] = ref;
    /* The params, to fill them by name (their dtype and shape). */
    for (uint32_t i = 0, n = plinth_graph_node_count(g); i < n; i++) {
        plinth_node_info info = {.struct_size = sizeof info};
        if (plinth_graph_node_info(g, (plinth_node)i, &info) != PLINTH_OK ||
            info.kind != PLINTH_NODE_PARAM)
            continue;
        if (p->n_params == MAX_PARAMS)
            return fail(p, PLINTH_ERR_INVALID, "more than %d params", MAX_PARAMS);
        leaf *l = &p->params[p->n_params++];
        snprintf(l->name, sizeof l->name, "%s", info.name ? info.name : "");
        l->dtype = info.dtype;
        l->ndim = info.ndim;
        memcpy(l->shape, info.shape, sizeof l->shape);
    }
    /* The backend under test first: PLINTH_ERR_UNSUPPORTED from its
     * compile says it cannot run the graph. */
    for (int s = 0; s < 2; s++) {
        const char *who = s == CONF_PAIR_REF ? "ref" : plinth_backend_name(b);
        plinth_status st = plinth_model_create(p->b[s], &p->model[s]);
        if (st == PLINTH_OK)
            st = plinth_program_compile(p->model[s], g, NULL, &p->prog[s]);
        if (st == PLINTH_OK)
            st = plinth_model_load_empty(p->model[s]);
        if (st != PLINTH_OK)
            return fail(p, st, "%s: %s", who, side_error(p, s));
    }
    return PLINTH_OK;
}

void conf_pair_destroy(conf_pair *p)
{
    if (!p)
        return;
    for (int s = 0; s < 2; s++) {
        plinth_program_destroy(p->prog[s]);
        plinth_model_destroy(p->model[s]);
    }
    free(p);
}

plinth_program *conf_pair_program(const conf_pair *p, int side)
{
    return p && (side == CONF_PAIR_BACKEND || side == CONF_PAIR_REF) ? p->prog[side] : NULL;
}

const char *conf_pair_error(const conf_pair *p)
{
    return p ? p->err : "out of memory";
}

/* ------------------------------------------------------------------ 2 --- */

/* The values of a dense tensor of this dtype and shape, drawn by the
 * suite's generators (data.c). NULL: out of memory. */
static uint8_t *draw(int32_t dtype, int32_t ndim, const int64_t *shape, int32_t gen, double lo,
                     double hi, uint64_t *rng, size_t *bytes)
{
    conf_tensor t = conf_gen(conf_dense(dtype, ndim, shape), gen, lo, hi);
    *bytes = (size_t)conf_bytes(dtype, t.alloc);
    uint8_t *buf = malloc(*bytes ? *bytes : 1);
    if (buf)
        conf_fill(&t, buf, rng);
    return buf;
}

plinth_status conf_pair_fill_param(conf_pair *p, const char *name, int32_t gen, double lo,
                                   double hi, uint64_t *rng)
{
    const leaf *l = NULL;
    for (uint32_t i = 0; i < p->n_params && !l; i++)
        if (strcmp(p->params[i].name, name) == 0)
            l = &p->params[i];
    if (!l)
        return fail(p, PLINTH_ERR_INVALID, "the graph has no param '%s'", name);
    size_t bytes;
    uint8_t *v = draw(l->dtype, l->ndim, l->shape, gen, lo, hi, rng, &bytes);
    if (!v)
        return fail(p, PLINTH_ERR_NO_MEMORY, "param '%s': out of memory", name);
    plinth_status st = PLINTH_OK;
    for (int s = 0; s < 2 && st == PLINTH_OK; s++)
        if ((st = plinth_model_set_param(p->model[s], name, v, bytes)) != PLINTH_OK)
            fail(p, st, "param '%s' on %s: %s", name, plinth_backend_name(p->b[s]),
                 side_error(p, s));
    free(v);
    return st;
}

plinth_status conf_pair_set_input(conf_pair *p, const char *name, const void *data,
                                  size_t bytes)
{
    for (int s = 0; s < 2; s++) {
        int32_t i = plinth_program_input_index(p->prog[s], name);
        if (i < 0)
            return fail(p, PLINTH_ERR_INVALID, "the program has no input '%s'", name);
        plinth_status st = plinth_program_set_input(p->prog[s], (uint32_t)i, data, bytes);
        if (st != PLINTH_OK)
            return fail(p, st, "input '%s' on %s: %s", name, plinth_backend_name(p->b[s]),
                        side_error(p, s));
    }
    return PLINTH_OK;
}

plinth_status conf_pair_fill_input(conf_pair *p, const char *name, int32_t gen, double lo,
                                   double hi, uint64_t *rng)
{
    const int32_t i = plinth_program_input_index(p->prog[0], name);
    plinth_node_info info = {.struct_size = sizeof info};
    if (i < 0 || plinth_program_input_info(p->prog[0], (uint32_t)i, &info) != PLINTH_OK)
        return fail(p, PLINTH_ERR_INVALID, "the program has no input '%s'", name);
    size_t bytes;
    uint8_t *v = draw(info.dtype, info.ndim, info.shape, gen, lo, hi, rng, &bytes);
    if (!v)
        return fail(p, PLINTH_ERR_NO_MEMORY, "input '%s': out of memory", name);
    plinth_status st = conf_pair_set_input(p, name, v, bytes);
    free(v);
    return st;
}

/* ------------------------------------------------------------------ 3 --- */

plinth_status conf_pair_run(conf_pair *p)
{
    for (int s = 0; s < 2; s++) {
        plinth_status st = plinth_program_run(p->prog[s]);
        if (st != PLINTH_OK)
            return fail(p, st, "run on %s: %s", plinth_backend_name(p->b[s]), side_error(p, s));
    }
    return PLINTH_OK;
}

/* Output `name` of one side as doubles (n of them). */
static bool fetch(conf_pair *p, int side, const char *name, double **out, int64_t *n,
                  int32_t *dtype, conf_result *r)
{
    plinth_program *prog = p->prog[side];
    const int32_t i = plinth_program_output_index(prog, name);
    plinth_node_info info = {.struct_size = sizeof info};
    if (i < 0 || plinth_program_output_info(prog, (uint32_t)i, &info) != PLINTH_OK) {
        conf_result_set(r, CONF_FAIL, CONF_FAIL_GRAPH, "the program has no output '%s'", name);
        return false;
    }
    int64_t count = 1;
    for (int d = 0; d < info.ndim; d++)
        count *= info.shape[d];
    const size_t es = plinth_dtype_bytes(info.dtype);
    uint8_t *raw = malloc((size_t)count * es + 1);
    double *v = malloc((size_t)count * sizeof *v + 1);
    bool ok = raw && v;
    if (!ok)
        conf_result_set(r, CONF_FAIL, CONF_FAIL_ORACLE, "output '%s': out of memory", name);
    plinth_status st = ok ? plinth_program_get_output(prog, (uint32_t)i, raw, (size_t)count * es)
                          : PLINTH_OK;
    if (ok && st != PLINTH_OK) {
        conf_result_set(r, CONF_FAIL, side == CONF_PAIR_REF ? CONF_FAIL_ORACLE : CONF_FAIL_GRAPH,
                        "output '%s' of %s: %s", name, plinth_backend_name(p->b[side]),
                        side_error(p, side));
        ok = false;
    }
    for (int64_t k = 0; ok && k < count; k++)
        v[k] = conf_load(raw + (size_t)k * es, info.dtype);
    free(raw);
    if (!ok) {
        free(v);
        return false;
    }
    *out = v;
    *n = count;
    *dtype = info.dtype;
    return true;
}

void conf_pair_compare(conf_pair *p, const char *name, double max_nmse, conf_result *r)
{
    memset(r, 0, sizeof *r);
    r->max_nmse = max_nmse;
    double *got = NULL, *want = NULL;
    int64_t n = 0, n_ref = 0;
    int32_t dtype = 0, dtype_ref = 0;
    if (!fetch(p, CONF_PAIR_BACKEND, name, &got, &n, &dtype, r) ||
        !fetch(p, CONF_PAIR_REF, name, &want, &n_ref, &dtype_ref, r))
        goto done;
    if (n != n_ref || dtype != dtype_ref) {
        conf_result_set(r, CONF_FAIL, CONF_FAIL_ORACLE, "output '%s' differs in shape or dtype",
                         name);
        goto done;
    }
    if (conf_compare(got, want, n, dtype, dtype == PLINTH_I32, max_nmse, r)) {
        r->status = CONF_PASS;
    } else {
        char msg[sizeof r->message];
        snprintf(msg, sizeof msg, "%s", r->message);
        snprintf(r->message, sizeof r->message, "output '%s': %.700s", name, msg);
        r->status = CONF_FAIL;
    }
done:
    free(got);
    free(want);
}
