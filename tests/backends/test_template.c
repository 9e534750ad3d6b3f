/*
 * test_template.c — the template plugin against ref, op by op.
 *
 * For add, mul and scale on a set of shapes (1-D, 3-D, broadcast, strided
 * and transposed inputs) each case runs through the conformance harness
 * (conf_run_case): the same inputs on both plugins, the output poisoned
 * with NaN (every element must be written: rule 6), guard bytes around it
 * (nothing written outside: rule 6), the inputs checked unchanged (rule 10)
 * and the suite's NMSE bound for one correctly rounded f32 operation.
 *
 * Plugins come from PLINTH_TEST_REF and PLINTH_TEST_TEMPLATE (paths), opened
 * through plinth_backend_open in a fresh context per case, and the process
 * is checked for leaks after each case under ASan.
 *
 * Sections: one case; the shapes; the tests.
 */
#include "backend_test.h"

#include <criterion/criterion.h>

#include <stdio.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define CHECK_NO_LEAKS() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked")
#else
#define CHECK_NO_LEAKS() ((void)0)
#endif

/* ----------------------------------------------------------- one case --- */

static void check_case(const conf_case *c)
{
    plinth_context *ctx = NULL;
    cr_assert_eq(plinth_context_create(NULL, &ctx), PLINTH_OK);
    plinth_backend *ref = bt_open_or_fail(ctx, "PLINTH_TEST_REF", NULL);
    plinth_backend *tpl = bt_open_or_fail(ctx, "PLINTH_TEST_TEMPLATE", NULL);
    bt_check_case(ref, tpl, c, "default");
    plinth_backend_close(ref);
    plinth_backend_close(tpl);
    plinth_context_destroy(ctx);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------ shapes --- */

/* Values uniform in ±[0, 2), never 0. */
static conf_tensor f32(conf_tensor t)
{
    return conf_gen(t, CONF_GEN_UNIFORM, 0, 2);
}

/* The shapes every op runs on. */
static void run_shapes(uint32_t op)
{
    const uint32_t n_in = op == PLINTH_OP_SCALE ? 1 : 2;
    const plinth_attrs attrs = {.scale = {-0.375f}};
    const int64_t lengths[] = {1, 7, 33, 257};
    conf_tensor in[2];
    conf_case c;

    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        in[0] = in[1] = f32(CONF_DENSE(PLINTH_F32, lengths[i]));
        conf_case_make(&c, op, n_in, in, &in[0], &attrs, 0, NULL);
        check_case(&c);
    }
    in[0] = in[1] = f32(CONF_DENSE(PLINTH_F32, 3, 5, 7));
    const conf_tensor out = in[0];
    conf_case_make(&c, op, n_in, in, &out, &attrs, 0, NULL);
    check_case(&c);

    /* [3,5,7] sliced out of a [3,5,10] tensor (the first 7 of each row),
     * and a second input that is the transpose of a [7,5,3] tensor. */
    static const int reverse[4] = {0, 3, 2, 1};
    in[0] = conf_padded(f32(CONF_DENSE(PLINTH_F32, 3, 5, 7)), 3);
    in[1] = conf_permuted(f32(CONF_DENSE(PLINTH_F32, 3, 5, 7)), reverse);
    conf_case_make(&c, op, n_in, in, &out, &attrs, 0, "a padded, b transposed [7,5,3]");
    check_case(&c);

    /* An inner stride that is not the element size: every other float. */
    in[0] = in[1] = conf_step2(f32(CONF_DENSE(PLINTH_F32, 33)));
    const conf_tensor out33 = f32(CONF_DENSE(PLINTH_F32, 33));
    conf_case_make(&c, op, n_in, in, &out33, &attrs, 0, "step-2");
    check_case(&c);

    if (n_in == 2) {
        in[0] = f32(CONF_DENSE(PLINTH_F32, 4, 1, 9));
        in[1] = f32(CONF_DENSE(PLINTH_F32, 1, 6, 9));
        const conf_tensor o1 = f32(CONF_DENSE(PLINTH_F32, 4, 6, 9));
        conf_case_make(&c, op, 2, in, &o1, &attrs, 0, "broadcast [4,1,9]o[1,6,9]");
        check_case(&c);
        in[0] = f32(CONF_DENSE(PLINTH_F32, 2, 3, 4, 5));
        in[1] = f32(CONF_DENSE(PLINTH_F32, 5));
        const conf_tensor o2 = in[0];
        conf_case_make(&c, op, 2, in, &o2, &attrs, 0, "broadcast [2,3,4,5]o[5]");
        check_case(&c);
    }
}

/* -------------------------------------------------------------- tests --- */

Test(template_vs_ref, add)
{
    run_shapes(PLINTH_OP_ADD);
}

Test(template_vs_ref, mul)
{
    run_shapes(PLINTH_OP_MUL);
}

Test(template_vs_ref, scale)
{
    run_shapes(PLINTH_OP_SCALE);
}
