/*
 * backend_test.h — what the backend tests (test_cpu, test_vulkan,
 * test_template) share: opening the plugins meson names in the environment,
 * and a Criterion verdict on a conformance case or a program output.
 *
 * Everything runs through the public API (plinth.h) and the conformance
 * library: a case goes through conf_run_case (NaN-poisoned output, guard
 * bytes, inputs checked unchanged, NMSE bound of the suite), a program
 * through conf_pair (the same graph on the backend and on ref).
 */
#ifndef PLINTH_BACKEND_TEST_H
#define PLINTH_BACKEND_TEST_H

#include "conformance.h"

/* Opens device 0 of the plugin at the path in environment variable `env`
 * (set by meson), with `config` (NULL: defaults). Fails the test when the
 * variable is unset; returns the status of plinth_backend_open (the reason
 * is on ctx), so a caller may skip on PLINTH_ERR_UNSUPPORTED. */
plinth_status bt_open(plinth_context *ctx, const char *env, const char *config,
                      plinth_backend **out);
/* Opens `env`'s plugin and fails the test if it does not open. */
plinth_backend *bt_open_or_fail(plinth_context *ctx, const char *env, const char *config);

/* The base seed of the cases: PLINTH_CONFORMANCE_SEED, or fixed. */
uint32_t bt_seed(void);

/* Runs c on b against ref (conf_run_case); the test fails (and goes on)
 * unless it passes. An unsupported case fails too: every case of these
 * tests is one the backend claims. `where` names the configuration. */
void bt_check_case(plinth_backend *ref, plinth_backend *b, const conf_case *c,
                   const char *where);

/* The same for output `name` of a pair's last runs. */
void bt_check_output(conf_pair *p, const char *name, double max_nmse, const char *where);

/* Fails the test with the pair's message unless st is PLINTH_OK. */
void bt_pair_ok(conf_pair *p, plinth_status st, const char *what);

#endif
