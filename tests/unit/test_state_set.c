/*
 * test_state_set.c — state sets (plinth.h): several sequences over one
 * model, on every backend that loads here (ref, cpu, vulkan where a device
 * exists), through the public API only.
 *
 * The program writes one row of a [4, 2] state per run and returns the
 * whole state, so each run shows exactly which pool it wrote and read.
 */
#include "plinth/plinth.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#define ROWS 4
#define COLS 2

#define OKC(ctx, call) \
    cr_assert_eq((call), PLINTH_OK, "%s: %s", #call, plinth_context_error(ctx))

typedef struct fixture {
    plinth_context *ctx;
    plinth_backend *be;
    plinth_model *model;
    plinth_program *prog, *reader;
} fixture;

/* Opens `name`; false (logged) when its plugin has no device here. */
static bool open_backend(fixture *f, const char *name)
{
    memset(f, 0, sizeof *f);
    cr_assert_eq(plinth_context_create(NULL, &f->ctx), PLINTH_OK);
    if (plinth_backend_open(f->ctx, name, 0, NULL, &f->be) != PLINTH_OK) {
        cr_assert_neq(strcmp(name, "ref"), 0, "ref: %s", plinth_context_error(f->ctx));
        cr_log_info("skipping %s: %s", name, plinth_context_error(f->ctx));
        plinth_context_destroy(f->ctx);
        return false;
    }
    OKC(f->ctx, plinth_model_create(f->be, &f->model));
    static const int32_t all[ROWS] = {0, 1, 2, 3};
    /* writer: state[pos] = x, returns every row */
    plinth_graph *g = NULL;
    OKC(f->ctx, plinth_graph_create(f->ctx, &g));
    plinth_node st = plinth_state(g, "s", PLINTH_F32, 2, (int64_t[]){ROWS, COLS});
    plinth_node x = plinth_input(g, "x", PLINTH_F32, 2, (int64_t[]){1, COLS});
    plinth_node pos = plinth_input(g, "pos", PLINTH_I32, 1, (int64_t[]){1});
    plinth_node w = plinth_set_rows(g, st, x, pos);
    plinth_node idx = plinth_constant(g, "all", PLINTH_I32, 1, (int64_t[]){ROWS}, all);
    OKC(f->ctx, plinth_output(g, plinth_get_rows(g, w, idx, PLINTH_F32), "state"));
    OKC(f->ctx, plinth_program_compile(f->model, g, NULL, &f->prog));
    plinth_graph_destroy(g);
    /* reader: a second program over the same state, returns it doubled */
    OKC(f->ctx, plinth_graph_create(f->ctx, &g));
    st = plinth_state(g, "s", PLINTH_F32, 2, (int64_t[]){ROWS, COLS});
    idx = plinth_constant(g, "all", PLINTH_I32, 1, (int64_t[]){ROWS}, all);
    OKC(f->ctx, plinth_output(g, plinth_scale(g, plinth_get_rows(g, st, idx, PLINTH_F32), 2.0f),
                              "twice"));
    OKC(f->ctx, plinth_program_compile(f->model, g, NULL, &f->reader));
    plinth_graph_destroy(g);
    OKC(f->ctx, plinth_model_load_empty(f->model));
    return true;
}

static void close_backend(fixture *f)
{
    plinth_program_destroy(f->reader);
    plinth_program_destroy(f->prog);
    plinth_model_destroy(f->model);
    plinth_backend_close(f->be);
    plinth_context_destroy(f->ctx);
}

/* Writes v into row `row`, returns the state the program saw afterwards. */
static void write_row(fixture *f, int32_t row, float v, float out[ROWS][COLS])
{
    const float x[COLS] = {v, v};
    OKC(f->ctx, plinth_program_set_input(f->prog, 0, x, sizeof x));
    OKC(f->ctx, plinth_program_set_input(f->prog, 1, &row, sizeof row));
    OKC(f->ctx, plinth_program_run(f->prog));
    OKC(f->ctx, plinth_program_get_output(f->prog, 0, out, sizeof(float) * ROWS * COLS));
}

/* The state must hold want[r] in both columns of row r. */
static void expect_rows(const char *be, const char *what, float got[ROWS][COLS],
                        const float want[ROWS])
{
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++)
            cr_expect_eq(got[r][c], want[r], "%s, %s: row %d col %d is %g, want %g", be, what,
                         r, c, (double)got[r][c], (double)want[r]);
}

static void read_state(fixture *f, float out[ROWS][COLS])
{
    OKC(f->ctx, plinth_program_run(f->reader));
    OKC(f->ctx, plinth_program_get_output(f->reader, 0, out, sizeof(float) * ROWS * COLS));
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++)
            out[r][c] /= 2;
}

static const char *const names[] = {"ref", "cpu", "vulkan"};

Test(state_set, sequences_are_separate_and_share_programs)
{
    for (size_t b = 0; b < sizeof names / sizeof *names; b++) {
        fixture f;
        if (!open_backend(&f, names[b]))
            continue;
        const char *be = names[b];
        float got[ROWS][COLS];
        plinth_state_set *a = NULL, *c = NULL;
        write_row(&f, 0, 1, got); /* own: row 0 */
        expect_rows(be, "own after row 0", got, (float[]){1, 0, 0, 0});
        OKC(f.ctx, plinth_state_set_create(f.model, &a));
        OKC(f.ctx, plinth_state_set_create(f.model, &c));
        cr_expect_null(plinth_model_bound_state(f.model));
        OKC(f.ctx, plinth_model_bind_state(f.model, a));
        cr_expect_eq(plinth_model_bound_state(f.model), a);
        write_row(&f, 1, 2, got); /* a: row 1, starts zeroed */
        expect_rows(be, "set a after row 1", got, (float[]){0, 2, 0, 0});
        read_state(&f, got); /* the other program sees the same set */
        expect_rows(be, "reader on set a", got, (float[]){0, 2, 0, 0});
        OKC(f.ctx, plinth_model_bind_state(f.model, NULL));
        write_row(&f, 2, 3, got); /* own again: rows 0 and 2 */
        expect_rows(be, "own after row 2", got, (float[]){1, 0, 3, 0});
        OKC(f.ctx, plinth_model_bind_state(f.model, c));
        read_state(&f, got);
        expect_rows(be, "set c untouched", got, (float[]){0, 0, 0, 0});
        OKC(f.ctx, plinth_model_bind_state(f.model, a));
        write_row(&f, 3, 4, got);
        expect_rows(be, "set a after row 3", got, (float[]){0, 2, 0, 4});
        /* copy own -> c, then c is what own was */
        OKC(f.ctx, plinth_state_set_copy(f.model, c, NULL));
        OKC(f.ctx, plinth_model_bind_state(f.model, c));
        read_state(&f, got);
        expect_rows(be, "c copied from own", got, (float[]){1, 0, 3, 0});
        /* reset zeroes the bound set only */
        OKC(f.ctx, plinth_model_reset_state(f.model));
        read_state(&f, got);
        expect_rows(be, "c after reset", got, (float[]){0, 0, 0, 0});
        OKC(f.ctx, plinth_model_bind_state(f.model, a));
        read_state(&f, got);
        expect_rows(be, "a after c's reset", got, (float[]){0, 2, 0, 4});
        /* destroying the bound set binds the model's own pool */
        plinth_state_set_destroy(a);
        cr_expect_null(plinth_model_bound_state(f.model));
        read_state(&f, got);
        expect_rows(be, "own after a is gone", got, (float[]){1, 0, 3, 0});
        plinth_state_set_destroy(c);
        close_backend(&f);
    }
}

Test(state_set, misuse_is_refused)
{
    fixture f, g;
    cr_assert(open_backend(&f, "ref"));
    cr_assert(open_backend(&g, "ref"));
    plinth_state_set *a = NULL, *other = NULL;
    cr_expect_eq(plinth_state_set_create(NULL, &a), PLINTH_ERR_INVALID);
    OKC(f.ctx, plinth_state_set_create(f.model, &a));
    OKC(g.ctx, plinth_state_set_create(g.model, &other));
    cr_expect_eq(plinth_model_bind_state(f.model, other), PLINTH_ERR_INVALID);
    cr_expect(strstr(plinth_context_error(f.ctx), "another model"), "%s",
              plinth_context_error(f.ctx));
    cr_expect_eq(plinth_state_set_copy(f.model, a, other), PLINTH_ERR_INVALID);
    /* a reload makes sets stale */
    OKC(f.ctx, plinth_model_bind_state(f.model, a));
    OKC(f.ctx, plinth_model_load_empty(f.model));
    cr_expect_null(plinth_model_bound_state(f.model));
    cr_expect_eq(plinth_model_bind_state(f.model, a), PLINTH_ERR_INVALID);
    cr_expect(strstr(plinth_context_error(f.ctx), "loaded again"), "%s",
              plinth_context_error(f.ctx));
    plinth_state_set_destroy(a);
    plinth_state_set_destroy(other);
    close_backend(&f);
    close_backend(&g);
}

Test(state_set, needs_a_loaded_model)
{
    plinth_context *ctx = NULL;
    plinth_backend *be = NULL;
    plinth_model *m = NULL;
    plinth_state_set *s = NULL;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    OKC(ctx, plinth_backend_open(ctx, "ref", 0, NULL, &be));
    OKC(ctx, plinth_model_create(be, &m));
    cr_expect_eq(plinth_state_set_create(m, &s), PLINTH_ERR_INVALID);
    cr_expect_null(s);
    cr_expect(strstr(plinth_context_error(ctx), "load the model first"), "%s",
              plinth_context_error(ctx));
    plinth_model_destroy(m);
    plinth_backend_close(be);
    plinth_context_destroy(ctx);
}

Test(state_set, outlives_the_model_handle)
{
    fixture f;
    cr_assert(open_backend(&f, "ref"));
    plinth_state_set *a = NULL;
    OKC(f.ctx, plinth_state_set_create(f.model, &a));
    OKC(f.ctx, plinth_model_bind_state(f.model, a));
    plinth_model *m = f.model;
    plinth_program_destroy(f.reader);
    plinth_program_destroy(f.prog);
    plinth_model_destroy(m); /* the set keeps it alive */
    plinth_backend_close(f.be);
    plinth_context_destroy(f.ctx);
    plinth_state_set_destroy(a); /* frees the model, backend and context */
}
