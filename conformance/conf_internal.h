/*
 * conf_internal.h — what the files of the conformance library share.
 */
#ifndef PLINTH_CONF_INTERNAL_H
#define PLINTH_CONF_INTERNAL_H

#include "conformance.h"

#include <stddef.h>
#include <stdint.h>

/* data.c */
uint64_t conf_rng_next(uint64_t *s);
double conf_load(const uint8_t *p, int32_t dtype);
void conf_store(uint8_t *p, int32_t dtype, double v);
int64_t conf_numel(const conf_tensor *t);
/* Block element index of logical element `flat` (row-major over shape). */
int64_t conf_elem_index(const conf_tensor *t, int64_t flat);
/* Bytes of n elements of dtype (block dtypes: n a whole number of blocks). */
uint64_t conf_bytes(int32_t dtype, int64_t n);
/* Fills the tensor's whole block (t->alloc elements) from its generator; a
 * block dtype gets random blocks whatever the generator (values of order 1). */
void conf_fill(const conf_tensor *t, uint8_t *block, uint64_t *rng);

/* compare.c */
/* The NMSE threshold of a case (see the derivation there). */
double conf_max_nmse(const conf_case *c);
/* The two parts of conf_max_nmse: the output rounding and the f32 reduction. */
void conf_nmse_terms(const conf_case *c, double *out_term, double *sum_term);
/* conf_max_nmse with the reduction term scaled for cancellation, given
 * mag[i] = Σ|terms| of each output element (ref run on |inputs|). */
double conf_cancellation_bound(const conf_case *c, const double *want, const double *mag,
                               int64_t n);
/* The first element whose mag is below |want| by more than rounding (a
 * sum of |terms| cannot be smaller than the sum's own size), or -1: mag
 * was not computed from the inputs' magnitudes. */
int64_t conf_magnitude_below(const double *want, const double *mag, int64_t n);
/* Compares got with want (n logical elements of `dtype`, as doubles). Fills
 * r->fail, r->nmse, r->max_nmse and the message (without the op prefix);
 * returns true when they agree. `exact`: equal values required. */
bool conf_compare(const double *got, const double *want, int64_t n, int32_t dtype, bool exact,
                  double max_nmse, conf_result *r);

/* report.c / runner.c helpers */
void conf_result_set(conf_result *r, int32_t status, int32_t fail, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
