/*
 * test_lifetime.c — destroying the objects of plinth.h in every order.
 *
 * context -> backend -> {model -> program, memory}: each keeps its parent
 * alive, so a parent's destroy before its children's only gives up the
 * caller's handle. For every one of the 120 orders of destroying context,
 * backend, model, program and a memory, every object not yet destroyed must
 * keep working after each step (the program runs and gives the right
 * answer, the memory copies in and out), and nothing may leak or be used
 * after it is freed (ASan in the sanitizer build). Uses the template
 * plugin: f32 scale is enough to run a program.
 */
#include "plinth.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <pthread.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define CHECK_NO_LEAKS() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked")
#else
#define CHECK_NO_LEAKS() ((void)0)
#endif

enum { CTX, BACKEND, MODEL, PROGRAM, MEMORY, N_OBJ };
static const char *const obj_names[N_OBJ] = {"context", "backend", "model", "program",
                                             "memory"};

typedef struct objects {
    plinth_context *ctx;
    plinth_backend *be;
    plinth_model *model;
    plinth_program *prog;
    plinth_memory *mem;
    bool alive[N_OBJ];
} objects;

static void make(objects *o)
{
    memset(o, 0, sizeof *o);
    const char *tpl = getenv("PLINTH_TEST_TEMPLATE");
    cr_assert(tpl && tpl[0], "PLINTH_TEST_TEMPLATE is not set (run through meson test)");
    cr_assert_eq(plinth_context_create(NULL, &o->ctx), PLINTH_OK);
    cr_assert_eq(plinth_backend_open(o->ctx, tpl, 0, NULL, &o->be), PLINTH_OK, "%s",
                 plinth_context_error(o->ctx));
    cr_assert_eq(plinth_model_create(o->be, &o->model), PLINTH_OK);
    plinth_graph *g = NULL;
    cr_assert_eq(plinth_graph_create(o->ctx, &g), PLINTH_OK);
    const int64_t shape[1] = {4};
    plinth_node y = plinth_scale(g, plinth_input(g, "x", PLINTH_F32, 1, shape), 3.0f);
    cr_assert_eq(plinth_output(g, y, "y"), PLINTH_OK);
    cr_assert_eq(plinth_program_compile(o->model, g, NULL, &o->prog), PLINTH_OK, "%s",
                 plinth_context_error(o->ctx));
    plinth_graph_destroy(g);
    cr_assert_eq(plinth_model_load_empty(o->model), PLINTH_OK, "%s",
                 plinth_context_error(o->ctx));
    cr_assert_eq(plinth_memory_create(o->be, 64, &o->mem), PLINTH_OK);
    for (int i = 0; i < N_OBJ; i++)
        o->alive[i] = true;
}

/* Uses every object the caller still holds. */
static void exercise(objects *o, const char *after)
{
    if (o->alive[PROGRAM]) {
        const float x[4] = {1, 2, 3, 4};
        float y[4] = {0};
        cr_assert_eq(plinth_program_set_input(o->prog, 0, x, sizeof x), PLINTH_OK, "%s", after);
        cr_assert_eq(plinth_program_run(o->prog), PLINTH_OK, "%s", after);
        cr_assert_eq(plinth_program_get_output(o->prog, 0, y, sizeof y), PLINTH_OK, "%s",
                     after);
        for (int i = 0; i < 4; i++)
            cr_assert_float_eq(y[i], 3.0f * x[i], 0.0f, "%s: y[%d]", after, i);
    }
    if (o->alive[MEMORY]) {
        const char text[16] = "still here";
        char back[16];
        cr_assert_eq(plinth_memory_upload(o->mem, 8, text, sizeof text), PLINTH_OK, "%s", after);
        cr_assert_eq(plinth_memory_download(o->mem, 8, back, sizeof back), PLINTH_OK, "%s",
                     after);
        cr_assert_eq(memcmp(text, back, sizeof text), 0, "%s", after);
    }
    if (o->alive[MODEL])
        cr_assert_eq(plinth_model_reset_state(o->model), PLINTH_OK, "%s", after);
    if (o->alive[BACKEND])
        cr_assert_str_eq(plinth_backend_name(o->be), "template", "%s", after);
    if (o->alive[CTX])
        cr_assert_not_null(plinth_context_error(o->ctx), "%s", after);
}

static void destroy(objects *o, int which)
{
    switch (which) {
    case CTX: plinth_context_destroy(o->ctx); break;
    case BACKEND: plinth_backend_close(o->be); break;
    case MODEL: plinth_model_destroy(o->model); break;
    case PROGRAM: plinth_program_destroy(o->prog); break;
    case MEMORY: plinth_memory_destroy(o->mem); break;
    }
    o->alive[which] = false;
}

/* The k-th permutation of 0..n-1 (factorial number system). */
static void permutation(int k, int *perm, int n)
{
    int pool[N_OBJ];
    for (int i = 0; i < n; i++)
        pool[i] = i;
    for (int i = 0; i < n; i++) {
        int f = 1;
        for (int j = 2; j < n - i; j++)
            f *= j;
        int pick = k / f;
        k %= f;
        perm[i] = pool[pick];
        memmove(&pool[pick], &pool[pick + 1], (size_t)(n - i - pick - 1) * sizeof *pool);
    }
}

Test(lifetime, every_destroy_order)
{
    for (int k = 0; k < 120; k++) {
        int perm[N_OBJ];
        permutation(k, perm, N_OBJ);
        objects o;
        make(&o);
        char after[160] = "before any destroy";
        exercise(&o, after);
        size_t used = 0;
        used += (size_t)snprintf(after, sizeof after, "order");
        for (int i = 0; i < N_OBJ; i++) {
            destroy(&o, perm[i]);
            used += (size_t)snprintf(after + used, sizeof after - used, " %s",
                                     obj_names[perm[i]]);
            exercise(&o, after);
        }
        CHECK_NO_LEAKS();
    }
}

/* Destroying NULL is harmless; a graph outlives nothing it needs. */
Test(lifetime, null_and_graph)
{
    plinth_context_destroy(NULL);
    plinth_backend_close(NULL);
    plinth_model_destroy(NULL);
    plinth_program_destroy(NULL);
    plinth_memory_destroy(NULL);
    plinth_graph_destroy(NULL);
    plinth_context *ctx = NULL;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    plinth_graph *g = NULL;
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
    plinth_context_destroy(ctx); /* the graph holds it */
    const int64_t shape[1] = {2};
    cr_assert_neq(plinth_input(g, "x", PLINTH_F32, 1, shape), PLINTH_NODE_INVALID);
    plinth_graph_destroy(g);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------- one call at a time --- */

/* A model takes one call at a time: a call that overlaps another on the
 * same model (another thread's run, or a call made from inside one, as this
 * allocator does while the load is under way) fails with PLINTH_ERR_BUSY
 * naming the model, and touches nothing. */
typedef struct reenter {
    plinth_program *prog;
    int calls;
    plinth_status got;
} reenter;

static void *reentering_alloc(void *user, void *ptr, size_t size)
{
    reenter *r = user;
    if (r->prog && r->calls++ == 0)
        r->got = plinth_program_run(r->prog);
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, size);
}

Test(busy, a_call_inside_a_load_is_refused)
{
    const char *cpu = getenv("PLINTH_TEST_CPU");
    cr_assert(cpu && cpu[0], "PLINTH_TEST_CPU is not set (run through meson test)");
    reenter r = {0};
    plinth_context_options o = {.struct_size = sizeof o, .alloc = reentering_alloc,
                                .alloc_user = &r};
    plinth_context *ctx = NULL;
    cr_assert_eq(plinth_context_create(&o, &ctx), PLINTH_OK);
    plinth_backend *be = NULL;
    cr_assert_eq(plinth_backend_open(ctx, cpu, 0, NULL, &be), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    plinth_model *model = NULL;
    cr_assert_eq(plinth_model_create(be, &model), PLINTH_OK);
    plinth_graph *g = NULL;
    cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
    const int64_t shape[1] = {4};
    plinth_node y = plinth_scale(g, plinth_input(g, "x", PLINTH_F32, 1, shape), 2.0f);
    cr_assert_eq(plinth_output(g, y, "y"), PLINTH_OK);
    plinth_program *prog = NULL;
    cr_assert_eq(plinth_program_compile(model, g, NULL, &prog), PLINTH_OK);
    plinth_graph_destroy(g);
    /* The cpu backend prepares programs at load; the core allocates their
     * instruction list through the context: the allocator runs mid-load. */
    r.prog = prog;
    cr_assert_eq(plinth_model_load_empty(model), PLINTH_OK, "%s", plinth_context_error(ctx));
    r.prog = NULL;
    cr_assert_gt(r.calls, 0, "the allocator never ran during the load");
    cr_assert_eq(r.got, PLINTH_ERR_BUSY, "a run inside a load returned %s",
                 plinth_status_name(r.got));
    /* ... and afterwards the model works. */
    const float x[4] = {1, 2, 3, 4};
    float out[4];
    cr_assert_eq(plinth_program_set_input(prog, 0, x, sizeof x), PLINTH_OK);
    cr_assert_eq(plinth_program_run(prog), PLINTH_OK, "%s", plinth_context_error(ctx));
    cr_assert_eq(plinth_program_get_output(prog, 0, out, sizeof out), PLINTH_OK);
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(out[i], 2 * x[i], 0.0f);
    plinth_program_destroy(prog);
    plinth_model_destroy(model);
    plinth_backend_close(be);
    plinth_context_destroy(ctx);
    CHECK_NO_LEAKS();
}

/* Two threads running one model's programs at once (the misuse issue 15
 * found crashing the cpu backend): every call returns OK or BUSY, the OK
 * runs give the right answer, nothing crashes. */
typedef struct racer {
    plinth_program *prog;
    float factor;
    int ok, busy, wrong, other;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    float x[256], y[256];
    for (int i = 0; i < 256; i++)
        x[i] = (float)i;
    for (int it = 0; it < 400; it++) {
        plinth_status s = plinth_program_set_input(r->prog, 0, x, sizeof x);
        if (s == PLINTH_OK)
            s = plinth_program_run(r->prog);
        if (s == PLINTH_OK)
            s = plinth_program_get_output(r->prog, 0, y, sizeof y);
        if (s == PLINTH_ERR_BUSY) {
            r->busy++;
        } else if (s != PLINTH_OK) {
            r->other++;
        } else {
            r->ok++;
            /* a run interleaved with the other thread's set_input may have
             * seen its input: the answer is one of the two programs' */
            for (int i = 0; i < 256; i++)
                if (y[i] != r->factor * x[i] && y[i] != 0.0f) {
                    r->wrong++;
                    break;
                }
        }
    }
    return NULL;
}

Test(busy, two_threads_on_one_model)
{
    const char *cpu = getenv("PLINTH_TEST_CPU");
    cr_assert(cpu && cpu[0], "PLINTH_TEST_CPU is not set (run through meson test)");
    plinth_context *ctx = NULL;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    plinth_backend *be = NULL;
    plinth_device_options dopts = {.struct_size = sizeof dopts, .n_threads = 2};
    cr_assert_eq(plinth_backend_open(ctx, cpu, 0, &dopts, &be), PLINTH_OK, "%s",
                 plinth_context_error(ctx));
    plinth_model *model = NULL;
    cr_assert_eq(plinth_model_create(be, &model), PLINTH_OK);
    racer r[2] = {{.factor = 2.0f}, {.factor = 3.0f}};
    for (int k = 0; k < 2; k++) {
        plinth_graph *g = NULL;
        cr_assert_eq(plinth_graph_create(ctx, &g), PLINTH_OK);
        const int64_t shape[1] = {256};
        plinth_node y = plinth_scale(g, plinth_input(g, "x", PLINTH_F32, 1, shape), r[k].factor);
        cr_assert_eq(plinth_output(g, y, "y"), PLINTH_OK);
        cr_assert_eq(plinth_program_compile(model, g, NULL, &r[k].prog), PLINTH_OK);
        plinth_graph_destroy(g);
    }
    cr_assert_eq(plinth_model_load_empty(model), PLINTH_OK);
    pthread_t t[2];
    for (int k = 0; k < 2; k++)
        cr_assert_eq(pthread_create(&t[k], NULL, race, &r[k]), 0);
    for (int k = 0; k < 2; k++)
        pthread_join(t[k], NULL);
    for (int k = 0; k < 2; k++) {
        cr_expect_eq(r[k].ok + r[k].busy, 400, "thread %d: %d ok, %d busy, %d other errors", k,
                     r[k].ok, r[k].busy, r[k].other);
        cr_expect_eq(r[k].wrong, 0, "thread %d: %d wrong answers", k, r[k].wrong);
    }
    cr_log_info("two threads: %d + %d calls refused as busy", r[0].busy, r[1].busy);
    plinth_program_destroy(r[0].prog);
    plinth_program_destroy(r[1].prog);
    plinth_model_destroy(model);
    plinth_backend_close(be);
    plinth_context_destroy(ctx);
    CHECK_NO_LEAKS();
}
