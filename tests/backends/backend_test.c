/*
 * backend_test.c — the shared part of the backend tests (backend_test.h).
 */
#include "backend_test.h"

#include <criterion/criterion.h>

#include <stdlib.h>

plinth_status bt_open(plinth_context *ctx, const char *env, const char *config,
                      plinth_backend **out)
{
    const char *path = getenv(env);
    cr_assert(path && path[0], "%s is not set (run through meson test)", env);
    plinth_device_options o = {.struct_size = sizeof o, .config = config};
    return plinth_backend_open(ctx, path, 0, &o, out);
}

plinth_backend *bt_open_or_fail(plinth_context *ctx, const char *env, const char *config)
{
    plinth_backend *b = NULL;
    plinth_status st = bt_open(ctx, env, config, &b);
    cr_assert_eq(st, PLINTH_OK, "%s [%s]: %s", getenv(env), config ? config : "",
                 plinth_context_error(ctx));
    return b;
}

uint32_t bt_seed(void)
{
    const char *s = getenv("PLINTH_CONFORMANCE_SEED");
    return s && *s ? (uint32_t)strtoul(s, NULL, 0) : 0x5EED0001u;
}

void bt_check_case(plinth_backend *ref, plinth_backend *b, const conf_case *c,
                   const char *where)
{
    conf_result r;
    conf_run_case(ref, b, c, conf_case_seed(bt_seed(), c->name), &r);
    if (r.status == CONF_UNSUPPORTED)
        cr_expect_fail("%s [%s]: '%s': the backend does not support it: %s",
                       plinth_backend_name(b), where, c->name,
                       plinth_context_error(plinth_backend_context(b)));
    else
        cr_expect_eq(r.status, CONF_PASS, "%s [%s]: '%s' seed %u: %s: %s",
                     plinth_backend_name(b), where, c->name, r.seed, conf_fail_name(r.fail),
                     r.message);
}

void bt_check_output(conf_pair *p, const char *name, double max_nmse, const char *where)
{
    conf_result r;
    conf_pair_compare(p, name, max_nmse, &r);
    cr_expect_eq(r.status, CONF_PASS, "[%s] %s: %s", where, conf_fail_name(r.fail), r.message);
}

void bt_pair_ok(conf_pair *p, plinth_status st, const char *what)
{
    cr_assert_eq(st, PLINTH_OK, "%s: %s (%s)", what, conf_pair_error(p),
                 plinth_status_name(st));
}
