/*
 * test_conformance.c — the conformance suite under Criterion: the same
 * cases as `plinth conformance`, for every plugin built in the tree.
 *
 * Sections:
 *   1. running the library for one backend and one op, turning its result
 *      into a Criterion verdict (absent backend or device: skipped, with why)
 *   2. backend × op tests, generated from PLINTH_OP_LIST for each in-tree
 *      backend name; whole graphs; any other plugin a scan finds
 *   3. the suite's self-test: deliberately wrong plugins must be caught,
 *      with the right kind and message
 *   4. expectations: reasons required, XPASS reported, the files parse
 *
 * Seeds: fixed (0x5EED0001) so CI is reproducible; set
 * PLINTH_CONFORMANCE_SEED=N to explore others.
 */
#include "conf_internal.h"
#include "conformance.h"

#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ 1 --- */

static uint32_t test_seed(void)
{
    const char *s = getenv("PLINTH_CONFORMANCE_SEED");
    return s && *s ? (uint32_t)strtoul(s, NULL, 0) : 0x5EED0001u;
}

/* Runs `backend` (a name or a path) and returns the run; skips the test when
 * the backend is not built or none of its devices is available. */
static void run_or_skip(const char *backend, uint32_t op, bool graphs, const char *expect_dir,
                        conf_run *run)
{
    conf_options o = {.backend = backend, .all_devices = true, .op = op,
                      .graphs = graphs, .only_graphs = graphs, .seed = test_seed(),
                      .expect_dir = expect_dir};
    char err[1024] = "";
    plinth_status st = conf_run_all(&o, run, err, sizeof err);
    if (st != PLINTH_OK && strstr(err, "no backend named"))
        cr_skip_test("backend '%s' is not built in this tree", backend);
    cr_assert_eq(st, PLINTH_OK, "%s", err);
    bool any = false;
    for (uint32_t i = 0; i < run->n_targets; i++)
        any |= run->targets[i].available;
    if (!any) {
        const char *why = run->n_targets ? run->targets[0].reason : "no targets";
        char msg[600];
        snprintf(msg, sizeof msg, "%s: %s", backend, why);
        conf_run_free(run);
        cr_skip_test("%s", msg);
    }
}

/* The whole-model cases: the tiny Gemma 3 of tests/data joins the graphs
 * (PLINTH_GEMMA_TINY, set by meson). Its absence is a failure, not a skip:
 * the data ships with the tree. */
static void register_models(void)
{
    const char *dir = getenv("PLINTH_GEMMA_TINY");
    cr_assert(dir && *dir, "PLINTH_GEMMA_TINY is not set");
    char err[512];
    cr_assert(conf_graph_register_gemma3(dir, err, sizeof err), "%s", err);
}

/* The verdict: every failure is logged (backend, device, config, case,
 * seed, kind, message); the test fails if there is any. */
static void expect_no_failures(conf_run *run)
{
    uint32_t failed = conf_run_failed(run), shown = 0, ran = 0;
    for (uint32_t i = 0; i < run->n_records; i++) {
        const conf_record *r = &run->records[i];
        ran += r->r.status != CONF_SKIP && r->r.status != CONF_UNSUPPORTED;
        if ((r->r.status == CONF_FAIL || r->r.status == CONF_XPASS) && shown++ < 20) {
            const conf_target *t = &run->targets[r->target];
            cr_log_error("%s device %u [%s] '%s' seed %u: %s: %s", t->backend, t->device,
                         t->config[0] ? t->config : "default", r->name, r->r.seed,
                         conf_fail_name(r->r.fail), r->r.message);
        }
    }
    for (uint32_t i = 0; i < run->n_targets; i++)
        if (!run->targets[i].available)
            cr_log_info("%s device %u [%s] skipped: %s", run->targets[i].backend,
                        run->targets[i].device, run->targets[i].config,
                        run->targets[i].reason);
    conf_run_free(run);
    cr_assert_eq(failed, 0, "%u conformance failure(s) (see the log above)", failed);
    (void)ran;
}

static void check_backend_op(const char *backend, uint32_t op)
{
    conf_run run;
    run_or_skip(backend, op, false, NULL, &run);
    /* An op nobody supports is not a failure, but then nothing ran: say so. */
    uint32_t ran = 0;
    for (uint32_t i = 0; i < run.n_records; i++)
        ran += run.records[i].r.status != CONF_UNSUPPORTED && run.records[i].r.status != CONF_SKIP;
    if (ran == 0) {
        conf_run_free(&run);
        cr_skip_test("%s does not support %s (every case unsupported or skipped)", backend,
                     plinth_op_name((plinth_op)op));
    }
    expect_no_failures(&run);
}

/* ------------------------------------------------------------------ 2 --- */

/* One Test per in-tree backend and op; ref runs too (its traps are checked
 * like anyone's: an oracle that writes outside its output is no oracle). */
#define OP_TESTS(BACKEND)                                                              \
    PLINTH_OP_LIST(OP_TEST_##BACKEND)                                                  \
    Test(BACKEND, graphs, .timeout = 300)                                              \
    {                                                                                  \
        conf_run run;                                                                  \
        register_models();                                                             \
        run_or_skip(#BACKEND, PLINTH_OP_COUNT, true, NULL, &run);                      \
        expect_no_failures(&run);                                                      \
    }

#define OP_TEST_ref(E, n, lo, hi) \
    Test(ref, n, .timeout = 300) { check_backend_op("ref", PLINTH_OP_##E); }
#define OP_TEST_template(E, n, lo, hi) \
    Test(template, n, .timeout = 300) { check_backend_op("template", PLINTH_OP_##E); }
#define OP_TEST_cpu(E, n, lo, hi) \
    Test(cpu, n, .timeout = 300) { check_backend_op("cpu", PLINTH_OP_##E); }
#define OP_TEST_vulkan(E, n, lo, hi) \
    Test(vulkan, n, .timeout = 600) { check_backend_op("vulkan", PLINTH_OP_##E); }

OP_TESTS(ref)
OP_TESTS(template)
OP_TESTS(cpu)
OP_TESTS(vulkan)

/* Any other plugin a scan of the build tree finds (a backend added later
 * is covered before anyone lists it above). */
Test(other_plugins, all_ops, .timeout = 600)
{
    static const char *const known[] = {"ref", "template", "cpu", "vulkan"};
    conf_options o = {.backend = "all", .all_devices = true, .op = PLINTH_OP_COUNT,
                      .graphs = true, .seed = test_seed(), .case_glob = "__none__"};
    conf_run probe;
    char err[1024] = "";
    cr_assert_eq(conf_run_all(&o, &probe, err, sizeof err), PLINTH_OK, "%s", err);
    uint32_t others = 0;
    for (uint32_t i = 0; i < probe.n_targets; i++) {
        bool is_known = false;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            is_known |= strcmp(probe.targets[i].backend, known[k]) == 0;
        if (is_known)
            continue;
        others++;
        conf_run run;
        run_or_skip(probe.targets[i].plugin_path, PLINTH_OP_COUNT, false, NULL, &run);
        expect_no_failures(&run);
    }
    conf_run_free(&probe);
    if (!others)
        cr_skip_test("no plugins beyond ref, template, cpu, vulkan in this tree");
}

/* cpu's AVX-512 levels on a CPU without AVX-512: the emulated test build
 * (PLINTH_TEST_CPU_EMU512, tests/emulated/meson.build) under the
 * configurations of expectations-emu512/cpu.txt, every op and every graph
 * (the tiny Gemma among them), as a CPU with VNNI and avx512_bf16 ("") and
 * as a Skylake-X without either ("skx"). */
static void emulated_avx512(const char *cpu)
{
    const char *path = getenv("PLINTH_TEST_CPU_EMU512");
    if (!path || !*path)
        cr_skip_test("no emulated AVX-512 build (x86-64 only)");
    cr_assert_eq(setenv("PLINTH_CPU_EMULATE", cpu, 1), 0); /* this test's process only */
    const char *dir = getenv("PLINTH_CONFORMANCE_EXPECTATIONS_EMU512");
    cr_assert(dir && *dir, "PLINTH_CONFORMANCE_EXPECTATIONS_EMU512 is not set");
    conf_run run;
    run_or_skip(path, PLINTH_OP_COUNT, false, dir, &run);
    expect_no_failures(&run);
    register_models();
    run_or_skip(path, PLINTH_OP_COUNT, true, dir, &run);
    expect_no_failures(&run);
}

Test(cpu_emulated_avx512, vnni_bf16, .timeout = 600) { emulated_avx512(""); }
Test(cpu_emulated_avx512, skylake_x, .timeout = 600) { emulated_avx512("skx"); }

/* A partial plugin runs whole models with a fallback: the template (f32
 * add, mul, scale) with ref and with cpu runs every whole graph, the tiny
 * Gemma among them, matching ref alone, and each record says which ops ran
 * where. Without a fallback the same graphs are unsupported. */
static void template_graphs(const char *fallback)
{
    const char *path = getenv("PLINTH_TEST_TEMPLATE");
    cr_assert(path && *path, "PLINTH_TEST_TEMPLATE is not set");
    register_models();
    conf_options o = {.backend = path, .op = PLINTH_OP_COUNT, .graphs = true,
                      .only_graphs = true, .seed = test_seed(), .fallback = fallback};
    conf_run run;
    char err[1024] = "";
    cr_assert_eq(conf_run_all(&o, &run, err, sizeof err), PLINTH_OK, "%s", err);
    uint32_t gemma = 0;
    for (uint32_t i = 0; i < run.n_records; i++) {
        const conf_record *r = &run.records[i];
        cr_expect_eq(r->r.status, fallback ? CONF_PASS : CONF_UNSUPPORTED, "'%s': %s: %s",
                     r->name, conf_status_name(r->r.status), r->r.message);
        if (!fallback) {
            cr_expect_eq(r->placement[0], '\0');
            continue;
        }
        cr_log_info("%s: %s", r->name, r->placement);
        cr_expect(strncmp(r->placement, "template ", 9) == 0, "%s", r->placement);
        if (strstr(r->name, "model gemma3")) {
            gemma++;
            cr_expect(strstr(r->placement, " add") && strstr(r->placement, " mul") &&
                      strstr(r->placement, " scale"), "%s", r->placement);
            cr_expect(strstr(r->placement, "; 0 transfers"), "host memory: %s", r->placement);
        }
    }
    if (fallback)
        cr_expect_eq(gemma, 1, "the tiny Gemma ran");
    conf_run_free(&run);
}

Test(template_with_fallback, ref, .timeout = 300)
{
    template_graphs("ref");
}

Test(template_with_fallback, cpu, .timeout = 300)
{
    template_graphs(getenv("PLINTH_TEST_CPU"));
}

Test(template_with_fallback, none, .timeout = 300)
{
    template_graphs(NULL);
}

/* ------------------------------------------------------------------ 3 --- */

/* Runs a wrong plugin on one op and asserts that a case failed with `kind`
 * and a message containing `text`. */
static void expect_caught(const char *env, uint32_t op, int kind, const char *text)
{
    const char *path = getenv(env);
    cr_assert(path && *path, "%s is not set (run through meson test)", env);
    conf_run run;
    conf_options o = {.backend = path, .all_devices = true, .op = op, .seed = test_seed()};
    char err[1024] = "";
    cr_assert_eq(conf_run_all(&o, &run, err, sizeof err), PLINTH_OK, "%s", err);
    uint32_t hits = 0, failed = conf_run_failed(&run);
    const char *first_other = NULL;
    for (uint32_t i = 0; i < run.n_records; i++) {
        const conf_result *r = &run.records[i].r;
        if (r->status != CONF_FAIL)
            continue;
        if (r->fail == kind && strstr(r->message, text))
            hits++;
        else if (!first_other)
            first_other = r->message;
    }
    cr_log_info("%s: %u of %u cases failed as %s", path, hits, run.n_records,
                conf_fail_name(kind));
    conf_run_free(&run);
    cr_assert_gt(failed, 0, "the suite did not catch %s", path);
    cr_assert_gt(hits, 0, "no failure of kind %s mentioning '%s' (first other: %s)",
                 conf_fail_name(kind), text, first_other ? first_other : "none");
}

Test(selftest, ulp_error_is_caught)
{
    expect_caught("PLINTH_TEST_WRONG_ULP", PLINTH_OP_ADD, CONF_FAIL_ACCURACY,
                  "add: normalised MSE");
}

Test(selftest, write_past_output_is_caught)
{
    expect_caught("PLINTH_TEST_WRONG_OVERRUN", PLINTH_OP_MUL, CONF_FAIL_GUARD,
                  "mul: wrote outside its output view");
}

Test(selftest, unwritten_element_is_caught)
{
    expect_caught("PLINTH_TEST_WRONG_UNWRITTEN", PLINTH_OP_SCALE, CONF_FAIL_UNWRITTEN,
                  "scale: output element");
}

Test(selftest, misaligned_buffer_is_caught)
{
    expect_caught("PLINTH_TEST_WRONG_MISALIGNED", PLINTH_OP_ADD, CONF_FAIL_ALLOC,
                  "misaligned buffer");
}

/* The wrong plugins are right elsewhere: the defects are caught only
 * where they are (no false alarms on the other ops). */
Test(selftest, correct_ops_of_wrong_plugins_pass)
{
    const char *path = getenv("PLINTH_TEST_WRONG_ULP");
    cr_assert(path && *path);
    conf_run run;
    conf_options o = {.backend = path, .all_devices = true, .op = PLINTH_OP_MUL,
                      .seed = test_seed()};
    char err[1024] = "";
    cr_assert_eq(conf_run_all(&o, &run, err, sizeof err), PLINTH_OK, "%s", err);
    cr_assert_gt(run.targets[0].counts[CONF_PASS], 10);
    expect_no_failures(&run);
}

/* ------------------------------------------------------------------ 4 --- */

Test(expectations, skip_without_reason_is_refused)
{
    conf_expect e = {0};
    char err[256] = "";
    cr_assert_not(conf_expect_parse(&e, "skip matmul bf16*\n", "t.txt", err, sizeof err));
    cr_assert(strstr(err, "t.txt:1: a skip needs a reason"), "%s", err);
    conf_expect_free(&e);
    memset(&e, 0, sizeof e);
    cr_assert_not(conf_expect_parse(&e, "xfail add* :   \n", "t.txt", err, sizeof err));
    cr_assert(strstr(err, "an xfail needs a reason"), "%s", err);
    conf_expect_free(&e);
}

Test(expectations, parse_configs_and_qualifiers)
{
    conf_expect e = {0};
    char err[256] = "";
    cr_assert(conf_expect_parse(&e,
                                "# comment\nconfig isa=scalar threads=1\nconfig default\n"
                                "xfail@isa=avx2 matmul f16* : f16 not yet on avx2\n"
                                "skip softmax * : too slow\n",
                                "t.txt", err, sizeof err),
              "%s", err);
    cr_assert_eq(e.n_configs, 2);
    cr_assert_str_eq(e.configs[0], "isa=scalar,threads=1");
    cr_assert_str_eq(e.configs[1], "");
    cr_assert_null(conf_expect_match(&e, "matmul f16 [1,1]x[1,1]", "isa=scalar,threads=1"));
    conf_expect_entry *x = conf_expect_match(&e, "matmul f16 [1,1]x[1,1]", "isa=avx2");
    cr_assert(x && x->status == CONF_XFAIL);
    cr_assert_str_eq(x->reason, "f16 not yet on avx2");
    x = conf_expect_match(&e, "softmax f32 [4,7]", "");
    cr_assert(x && x->status == CONF_SKIP);
    conf_expect_free(&e);
}

Test(expectations, stale_xfail_is_a_failure)
{
    /* A template case that passes, marked xfail: the run reports XPASS and
     * counts it as a failure; a wrong plugin's failing case marked xfail is
     * XFAIL and not a failure. */
    char dir[] = "/tmp/plinth-expect-XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/template.txt", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("xfail add f32 [33] : pretend it is broken\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/wrong_ulp.txt", dir);
    f = fopen(path, "w");
    cr_assert(f);
    fputs("xfail add f32 [257] : the plugin is 4 ulps off on purpose\n"
          "skip add f16 * : no f16 here\n",
          f);
    fclose(f);

    conf_run run;
    run_or_skip("template", PLINTH_OP_ADD, false, dir, &run);
    uint32_t xpass = 0;
    for (uint32_t i = 0; i < run.n_records; i++)
        if (run.records[i].r.status == CONF_XPASS) {
            xpass++;
            cr_assert(strstr(run.records[i].r.message, "stale xfail"), "%s",
                      run.records[i].r.message);
        }
    cr_assert_eq(xpass, 1);
    cr_assert_eq(conf_run_failed(&run), 1);
    conf_run_free(&run);

    const char *wrong = getenv("PLINTH_TEST_WRONG_ULP");
    cr_assert(wrong && *wrong);
    run_or_skip(wrong, PLINTH_OP_ADD, false, dir, &run);
    const conf_target *t = &run.targets[0];
    cr_assert_eq(t->counts[CONF_XFAIL], 1);
    cr_assert_eq(t->counts[CONF_XPASS], 0);
    cr_assert_gt(t->counts[CONF_SKIP], 0);
    for (uint32_t i = 0; i < run.n_records; i++)
        if (strcmp(run.records[i].name, "add f32 [257]") == 0)
            cr_assert_eq(run.records[i].r.status, CONF_XFAIL, "%s",
                         conf_status_name(run.records[i].r.status));
    conf_run_free(&run);
    snprintf(path, sizeof path, "%s/template.txt", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/wrong_ulp.txt", dir);
    remove(path);
    rmdir(dir);
}

Test(expectations, shipped_files_parse)
{
    const char *dir = getenv("PLINTH_CONFORMANCE_EXPECTATIONS");
    cr_assert(dir && *dir);
    static const char *const names[] = {"ref", "template", "cpu", "vulkan"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        conf_expect e;
        char err[512] = "";
        cr_assert(conf_expect_load(&e, dir, names[i], err, sizeof err), "%s", err);
        conf_expect_free(&e);
    }
    const char *emu = getenv("PLINTH_CONFORMANCE_EXPECTATIONS_EMU512");
    cr_assert(emu && *emu);
    conf_expect e;
    char err[512] = "";
    cr_assert(conf_expect_load(&e, emu, "cpu", err, sizeof err), "%s", err);
    conf_expect_free(&e);
}

/* The cases themselves: generated for every op, each with a basic f32 case,
 * unique names (seeds derive from them), and sizes that are not multiples
 * of vector widths. */
Test(cases, every_op_has_a_basic_case_and_names_are_unique)
{
    conf_case_list l;
    cr_assert(conf_cases_build(&l, PLINTH_OP_COUNT));
    uint32_t basic[PLINTH_OP_COUNT] = {0}, per_op[PLINTH_OP_COUNT] = {0};
    for (uint32_t i = 0; i < l.n; i++) {
        per_op[l.v[i].op]++;
        basic[l.v[i].op] += (l.v[i].flags & CONF_BASIC) != 0;
        for (uint32_t j = i + 1; j < l.n; j++)
            cr_assert_str_neq(l.v[i].name, l.v[j].name, "duplicate case name");
    }
    for (uint32_t op = 0; op < PLINTH_OP_COUNT; op++) {
        cr_assert_eq(basic[op], 1, "%s has %u basic cases", plinth_op_name((plinth_op)op),
                     basic[op]);
        cr_assert_geq(per_op[op], 10, "%s has only %u cases", plinth_op_name((plinth_op)op),
                      per_op[op]);
    }
    conf_cases_free(&l);
}

/* The cancellation-aware bound (compare.c): unchanged when a dot product
 * does not cancel, wider only by the partial sums' size when it does, and
 * still far below what a wrong accumulation produces. */
Test(bounds, cancellation_widens_only_what_rounding_can_explain)
{
    conf_case c = {.op = PLINTH_OP_MATMUL, .k = 640, .c = 8};
    c.out.dtype = PLINTH_F32;
    const double base = conf_max_nmse(&c);

    /* No cancellation: |ref| ~ Σ|a·b|/√K, the bound is the plain one. */
    double want[2] = {1.0, -2.0}, mag[2] = {25.0, 50.0};
    cr_expect_float_eq(conf_cancellation_bound(&c, want, mag, 2), base, base * 1e-12);

    /* Terms of size ~1 summing to 0.009: the allowance grows with the
     * partial sums (mag²/K over ref²), about (20²/640)/0.009² ≈ 7700×. */
    double want_c[1] = {0.009}, mag_c[1] = {20.0};
    const double wide = conf_cancellation_bound(&c, want_c, mag_c, 1);
    cr_expect_gt(wide, base * 1000, "bound %g vs base %g", wide, base);

    /* An f16 accumulator over K = 640 errs by ~√K·2^-11·mag/√K ≈ 20·4.9e-4
     * ≈ 1e-2 on this element: an NMSE of ~1.2, still refused. */
    const double f16_err = 20.0 * 0x1p-11;
    cr_expect_gt(f16_err * f16_err / (0.009 * 0.009), wide,
                 "an f16-accumulated result would pass: bound %g", wide);
}

/* The harness's magnitudes must be sums of |terms|: a "magnitude" that kept
 * the signs (what clearing a fixed byte's bit 7 gave on a big-endian host)
 * is caught, a true one passes, rounding in either direction included. */
Test(bounds, magnitudes_below_the_result_are_refused)
{
    const double want[3] = {-0.0666, 3.0, 2.0};
    const double true_mag[3] = {150.0, 3.0, 2.0 * (1 - 1e-6)}; /* the last: no cancellation */
    cr_expect_eq(conf_magnitude_below(want, true_mag, 3), -1);
    const double signed_mag[3] = {-0.0666, 3.0, 2.0};
    cr_expect_eq(conf_magnitude_below(want, signed_mag, 3), 0);
    const double small[3] = {150.0, 3.0, 1.9};
    cr_expect_eq(conf_magnitude_below(want, small, 3), 2);
    const double nan_mag[3] = {NAN, 3.0, 2.0}; /* non-finite: not judged */
    cr_expect_eq(conf_magnitude_below(want, nan_mag, 3), -1);
}
