/*
 * conformance.h — the cross-backend conformance suite as a library.
 *
 * Used by `plinth conformance` (tools/cli_conformance.c), by the Criterion
 * suite (tests/conformance/) and by the backend tests (tests/backends/),
 * whose hand-written cases and programs run on the same harness. One suite, every backend: cases are generated
 * from PLINTH_OP_LIST (cases.c), each is run on the backend under test and on
 * `ref` (the oracle) with the same inputs (harness.c), and judged by the same
 * traps: NaN-poisoned outputs, guard bytes around every output view, inputs
 * checked unchanged, 256-byte alignment, NaN/Inf agreement, and a normalised
 * MSE threshold derived from the dtype and the reduction length (compare.c).
 * Whole graphs (graphs.c) run through the compiler and the static executor.
 * Expectations (expect.c) mark cases skip/xfail per backend, with a reason;
 * reports (report.c) are a terminal table, JSON and JUnit XML.
 *
 * Sections: 1 tensors and cases (generated, and by hand); 2 results;
 * 3 expectations; 4 running; 5 whole graphs (the suite's, and one graph on
 * two backends); 6 reports.
 */
#ifndef PLINTH_CONFORMANCE_H
#define PLINTH_CONFORMANCE_H

#include "plinth.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------------ 1 --- */

/* How a tensor's values are drawn. Every generator avoids exact zeros for
 * floats, so the NMSE denominator is never 0 and an all-zero bug shows. */
enum conf_gen {
    CONF_GEN_UNIFORM = 0, /* uniform in ±[lo, hi) (hi=0: ±1)             */
    CONF_GEN_INT,         /* integers in [lo, hi]                         */
    CONF_GEN_INDEX,       /* i32 indices in [0, hi) (distinct if lo == 1) */
    CONF_GEN_ARANGE,      /* lo, lo+1, ... (positions)                    */
    CONF_GEN_CONST,       /* every element = lo                           */
    CONF_GEN_ARGMAX,      /* rows in ±1 with one clear maximum (2 ties if lo) */
    CONF_GEN_CAUSAL_MASK, /* 0 on/below the diagonal, -inf above, + noise */
    CONF_GEN_SPECIAL,     /* NaN, ±Inf, ties, saturating values, repeated */
};

/* One tensor of a case: a 4-D view (outermost first) into a block of
 * `alloc` elements. Element (i0..i3) is element offset + Σ i_d * stride[d]
 * of the block. A dense tensor has offset 0 and row-major strides. A block
 * dtype (q8_0, ...) counts elements too, with stride[3] = 1 and the outer
 * strides, offset and alloc whole blocks (its rows may be padded by whole
 * blocks: conf_padded); its values are random blocks (data.c). */
typedef struct conf_tensor {
    int32_t dtype;
    int32_t ndim;        /* logical rank (concat's axis is relative to it) */
    int64_t shape[4];
    int64_t stride[4];   /* in elements; 0 = broadcast                     */
    int64_t offset;      /* in elements, from the block's start            */
    int64_t alloc;       /* elements in the block                          */
    int32_t gen;         /* enum conf_gen                                  */
    double lo, hi;
} conf_tensor;

enum conf_case_flag {
    CONF_BASIC = 1u << 0,     /* the op's plain f32 case: a backend whose kernel
                                 table has the op must support it            */
    CONF_ALIAS_IN0 = 1u << 1, /* out is the very view in[0] (in-place, rule 10) */
    CONF_STATE_OUT = 1u << 2, /* out holds data before the run (set_rows)    */
};

#define CONF_NAME_SIZE 256

typedef struct conf_case {
    char name[CONF_NAME_SIZE]; /* "matmul f32 x bf16 -> f32 [7,33]x[33,257]^T" */
    uint32_t op;
    uint32_t n_in;
    uint32_t flags;            /* enum conf_case_flag                        */
    conf_tensor in[PLINTH_MAX_INPUTS];
    conf_tensor out;
    plinth_attrs attrs;
    /* Error growth for the tolerance (compare.c): the reduction length K of
     * a dot product or sum, or for rope the largest position squared. */
    double k;
    /* Per-op factor on the unit roundoff: how many roundings of slack the
     * op's arithmetic (transcendentals, two-pass reductions) deserves. */
    double c;
} conf_case;

typedef struct conf_case_list {
    conf_case *v;
    uint32_t n, cap;
} conf_case_list;

/* All cases of every op (op_filter == PLINTH_OP_COUNT) or of one op. Returns
 * false on out-of-memory. Free with conf_cases_free. */
bool conf_cases_build(conf_case_list *out, uint32_t op_filter);
void conf_cases_free(conf_case_list *l);

/* The per-case seed: a hash of the run's base seed and the case name, so a
 * case keeps its seed when others are filtered out. */
uint32_t conf_case_seed(uint32_t base, const char *name);

/* Cases by hand (build.c): the constructors, names and tolerances the
 * generated cases use, for tests that write their own (tests/backends/). */

/* A dense tensor of rank ndim (shape outermost first, ndim values), values
 * uniform in ±[0, 1). CONF_DENSE(dtype, d0, d1, ...) spells the shape
 * inline. */
conf_tensor conf_dense(int32_t dtype, int ndim, const int64_t *shape);
#define CONF_DENSE(dtype, ...)                                                   \
    conf_dense((dtype), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
               (int64_t[]){__VA_ARGS__})
/* The same logical tensor as a view of a bigger block (values unchanged):
 *   sliced:     rows pad + 1 elements longer, the view starting at element 1
 *               (a slice on the last axis: rows not contiguous, start not
 *               aligned);
 *   padded:     rows pad elements longer, the view starting at element 0;
 *   permuted:   view dim d walks memory dim perm[d] of a dense block;
 *   transposed: the last two dims swapped in memory;
 *   step2:      every element two apart;
 *   expanded:   dim d broadcast to n by a zero stride;
 *   strided:    any strides (elements) from element `offset`; the block
 *               ends at the last element the view reaches. */
conf_tensor conf_sliced(conf_tensor t, int64_t pad);
conf_tensor conf_padded(conf_tensor t, int64_t pad);
conf_tensor conf_permuted(conf_tensor t, const int perm[4]);
conf_tensor conf_transposed(conf_tensor t);
conf_tensor conf_step2(conf_tensor t);
conf_tensor conf_expanded(conf_tensor t, int d, int64_t n);
conf_tensor conf_strided(conf_tensor t, const int64_t stride[4], int64_t offset);
/* t with its values drawn by generator `gen` (enum conf_gen) with lo, hi. */
conf_tensor conf_gen(conf_tensor t, int32_t gen, double lo, double hi);

/* Unit roundoff multipliers, the `c` of a case (compare.c turns them and
 * `k` into the NMSE bound). */
#define CONF_C_EXACT 0.0   /* data movement and casts: value-exact            */
#define CONF_C_ROUND 2.0   /* one correctly rounded operation per element     */
#define CONF_C_TRANS 16.0  /* transcendental functions (exp, tanh) in f32     */
#define CONF_C_REDUCE 8.0  /* sums and dot products (times the length K)      */

/* The suite's k and c for c's op on its tensors: K is the reduction length
 * (matmul's K, rms_norm's and softmax's row, attention's D + S, rope's
 * largest position squared), c the op's slack. What the generated cases
 * use; an i32 output is compared exactly whatever c says. */
void conf_case_tolerance(const conf_case *c, double *k, double *slack);
/* Names c as the suite does: "<op> <dtypes> <out shape> <tag>". */
void conf_case_name(conf_case *c, const char *tag);
/* A whole case: op, inputs, output (ignored with CONF_ALIAS_IN0: out is
 * in[0]), attrs (NULL: zero), flags; k and c from conf_case_tolerance, the
 * name from conf_case_name with `tag` (may be NULL). */
void conf_case_make(conf_case *c, uint32_t op, uint32_t n_in, const conf_tensor *in,
                    const conf_tensor *out, const plinth_attrs *attrs, uint32_t flags,
                    const char *tag);

/* ------------------------------------------------------------------ 2 --- */

enum conf_status {
    CONF_PASS = 0,
    CONF_FAIL,
    CONF_UNSUPPORTED, /* supports() said no: counted, not a failure */
    CONF_SKIP,        /* an expectation said skip (with a reason)   */
    CONF_XFAIL,       /* failed as an expectation said it would     */
    CONF_XPASS,       /* an xfail that passes: stale, a failure     */
    CONF_STATUS_COUNT
};

/* Why a case failed. The names (conf_fail_name) are stable: tests and
 * report readers match on them. */
enum conf_fail {
    CONF_FAIL_NONE = 0,
    CONF_FAIL_BASIC_UNSUPPORTED, /* op in the kernel table, basic f32 case refused */
    CONF_FAIL_ALLOC,             /* buffer refused (misaligned, too small, error)  */
    CONF_FAIL_KERNEL,            /* kernel returned an error after supports() yes  */
    CONF_FAIL_GUARD,             /* wrote outside the output view                  */
    CONF_FAIL_UNWRITTEN,         /* left an output element poisoned                */
    CONF_FAIL_INPUT_CHANGED,     /* wrote into an input                            */
    CONF_FAIL_NONFINITE,         /* NaN/Inf where ref has none, or vice versa      */
    CONF_FAIL_MISMATCH,          /* exact (integer) output differs                 */
    CONF_FAIL_ACCURACY,          /* normalised MSE over the threshold              */
    CONF_FAIL_GRAPH,             /* whole graph: compile/load/run failed           */
    CONF_FAIL_ORACLE,            /* ref itself failed: a bug in the suite or ref   */
    CONF_FAIL_XPASS,             /* expected to fail, passed                       */
    CONF_FAIL_COUNT
};
const char *conf_fail_name(int kind);
const char *conf_status_name(int status);

typedef struct conf_result {
    int32_t status;     /* enum conf_status */
    int32_t fail;       /* enum conf_fail   */
    uint32_t seed;
    double nmse, max_nmse;
    double ms;          /* wall time of the case (both backends) */
    char message[768];
} conf_result;

/* ------------------------------------------------------------------ 3 --- */

#define CONF_MAX_CONFIGS 16

typedef struct conf_expect_entry {
    int32_t status;     /* CONF_SKIP or CONF_XFAIL */
    char pattern[192];  /* glob (* and ?) on the case name */
    char config[128];   /* only under this config ("" = any) */
    char reason[256];
    uint32_t hits;
} conf_expect_entry;

/* The data of tests/conformance/expectations/<backend>.txt:
 *
 *   # comment
 *   config isa=avx2 threads=2        a configuration to run (default: one,
 *                                    the backend's defaults); words are
 *                                    joined with ',' into --backend-config
 *   skip  PATTERN : REASON           do not run matching cases
 *   xfail PATTERN : REASON           run; failing is expected, passing is XPASS
 *   xfail@isa=avx512 PATTERN : REASON   the same, under one config only
 *
 * A skip or xfail without a reason is a parse error: the file is refused. */
typedef struct conf_expect {
    char backend[64];
    char path[1024];   /* "" when there was no file */
    char configs[CONF_MAX_CONFIGS][128];
    uint32_t n_configs; /* 0: run the default config only */
    conf_expect_entry *entries;
    uint32_t n_entries;
} conf_expect;

/* Loads `dir/<backend>.txt`; a missing file gives an empty expectation
 * (true). On a parse error returns false with the message in err. */
bool conf_expect_load(conf_expect *e, const char *dir, const char *backend, char *err,
                      size_t err_size);
/* Parses text (for tests). */
bool conf_expect_parse(conf_expect *e, const char *text, const char *where, char *err,
                       size_t err_size);
void conf_expect_free(conf_expect *e);
/* The expectations folder for this program: the source tree's when it
 * runs from the build tree, else the installed <datadir>/plinth/conformance
 * (beside the program, then at the configured prefix). false, with the
 * folders tried in err, when there is none. */
bool conf_expect_dir(char *buf, size_t size, char *err, size_t err_size);
/* Glob match with '*' and '?' only ('[' is literal: case names hold shapes). */
bool conf_glob(const char *pattern, const char *s);
/* The entry that applies to a case under a config, or NULL. */
conf_expect_entry *conf_expect_match(conf_expect *e, const char *case_name, const char *config);

/* ------------------------------------------------------------------ 4 --- */

/* Runs one case on `b` against `ref` (both open). Fills r (status PASS, FAIL
 * or UNSUPPORTED; expectations are applied by the caller). */
void conf_run_case(plinth_backend *ref, plinth_backend *b, const conf_case *c, uint32_t seed,
                   conf_result *r);

/* Applies an expectation to a finished result: FAIL -> XFAIL, PASS -> XPASS. */
void conf_apply_expectation(conf_result *r, const conf_expect_entry *x);

/* One backend × device × config target of a run, and its tallies. */
typedef struct conf_target {
    char backend[64];
    char plugin_path[1024];
    uint32_t device;
    char device_name[128];
    char config[128];           /* "" = defaults */
    bool available;             /* false: skipped with `reason`   */
    char reason[512];
    uint32_t counts[CONF_STATUS_COUNT];
    double ms;
} conf_target;

/* One reported case (kept for the reports; passes are kept too, for JUnit). */
typedef struct conf_record {
    uint32_t target;            /* index into the run's targets */
    char name[CONF_NAME_SIZE];
    uint32_t op;                /* PLINTH_OP_COUNT for whole graphs */
    conf_result r;
    char reason[256];           /* of the expectation that applied */
    /* A whole graph run with a fallback: which ops ran where ("" else). */
    char placement[512];
} conf_record;

typedef struct conf_run {
    uint32_t base_seed;
    conf_target *targets;
    uint32_t n_targets, cap_targets;
    conf_record *records;
    uint32_t n_records, cap_records;
    double ms;
} conf_run;

typedef struct conf_options {
    const char *backend;        /* name, plugin path, or "all" (NULL = all)   */
    bool all_devices;           /* else `device` only                          */
    uint32_t device;
    uint32_t op;                /* PLINTH_OP_COUNT = every op                 */
    const char *case_glob;      /* NULL or a glob on case names               */
    bool graphs;                /* also run the whole-graph cases             */
    bool only_graphs;
    uint32_t seed;
    const char *config;         /* overrides the expectation file's configs   */
    /* Backends (names or paths, comma-separated) the whole graphs may fall
     * back to: each runs on a model of {backend, fallbacks...}, so a partial
     * plugin runs whole models, and the record says which ops ran where.
     * NULL: the backend alone (graphs it cannot run are unsupported). */
    const char *fallback;
    bool config_given;
    uint32_t n_threads;
    const char *expect_dir;     /* NULL: conf_expect_dir()                   */
    const char *const *plugin_dirs; /* NULL-terminated, may be NULL           */
    /* Called after every case (progress); may be NULL. */
    void (*progress)(void *user, const conf_run *run, const conf_target *t,
                     const conf_record *rec, uint32_t done, uint32_t total);
    void *user;
} conf_options;

/* Runs everything the options select. Returns PLINTH_OK when the run itself
 * worked (cases may still have failed: see conf_run_failed); an error (with
 * a message in err) when e.g. the backend named does not exist or an
 * expectation file is malformed. */
plinth_status conf_run_all(const conf_options *o, conf_run *run, char *err, size_t err_size);
void conf_run_free(conf_run *run);
uint32_t conf_run_failed(const conf_run *run); /* FAIL + XPASS over all targets */

/* ------------------------------------------------------------------ 5 --- */

/* Where a whole graph's instructions ran, summed over its programs, per
 * backend of the list (a graph case fills it with conf_placement_add). */
typedef struct conf_placement {
    plinth_backend *const *list;
    uint32_t n;
    uint32_t ops[PLINTH_MAX_BACKENDS][PLINTH_OP_COUNT];
    uint32_t transfers, shared;
} conf_placement;
/* Adds prog's run-list placement to pl (NULL: nothing). */
void conf_placement_add(conf_placement *pl, plinth_program *prog);
/* "template: 12 add, 6 mul; ref: 43 matmul, ...; 0 transfers, 81 shared". */
void conf_placement_str(const conf_placement *pl, char *buf, size_t size);

/* A whole-graph case: builds its graph(s) on a model of the backends
 * list[0..n) (the backend under test, then its fallbacks), runs them and
 * writes its outputs into `out` (n_out floats), and adds each program's
 * placement to `pl` (may be NULL). Called for the backend and for ref with
 * the same seed; the harness compares the two. The Gemma end-to-end tests
 * can register a tiny model here (conf_graph_register) without touching the
 * suite. Return PLINTH_ERR_UNSUPPORTED when the list cannot compile it. */
typedef plinth_status (*conf_graph_fn)(plinth_backend *const *list, uint32_t n, const char *arg,
                                       uint32_t seed, float *out, uint64_t n_out,
                                       conf_placement *pl, char *err, size_t err_size);

typedef struct conf_graph_case {
    const char *name;
    conf_graph_fn fn;
    uint64_t n_out;   /* floats written to out */
    double max_nmse;
    const char *arg;  /* passed to fn (e.g. a model folder); may be NULL */
} conf_graph_case;

/* Adds a whole-graph case (e.g. a Gemma tiny model). Returns false when full. */
bool conf_graph_register(const conf_graph_case *g);
/* Registers the Gemma 3 model in `dir` (config.json + model.safetensors) as
 * a whole-model case: a chunked prefill then token-by-token decode, every
 * position's logits compared with ref's (graph_gemma.c). `dir` must outlive
 * the run. false (message in err) if the folder is not a usable model. */
bool conf_graph_register_gemma3(const char *dir, char *err, size_t err_size);
uint32_t conf_graph_count(void);
const conf_graph_case *conf_graph_get(uint32_t i);
/* Runs g on {b, fallbacks[0..n_fallbacks)} and on ref alone, compares.
 * With fallbacks, `placement` (placement_size bytes) gets which ops ran
 * where (conf_placement_str). */
void conf_run_graph(plinth_backend *ref, plinth_backend *b, plinth_backend *const *fallbacks,
                    uint32_t n_fallbacks, const conf_graph_case *g, uint32_t seed,
                    conf_result *r, char *placement, size_t placement_size);

/* One graph on two backends (pair.c): compiled into a fresh model on the
 * backend under test and on ref, fed the same values, run, and compared
 * output by output with conf_compare's rules. The whole-program checks of
 * the backend tests (fusion patterns, programs run again with new inputs)
 * are written on it. Every call returns a plinth_status; the message of a
 * failure is conf_pair_error's. */
typedef struct conf_pair conf_pair;
enum { CONF_PAIR_BACKEND = 0, CONF_PAIR_REF = 1 };

/* Compiles g on b, then on ref, and loads both models empty (params zero,
 * state zeroed). *out is set even on failure (destroy it; its error says
 * what failed); PLINTH_ERR_UNSUPPORTED from b's compile means b cannot run
 * the graph. g is not needed afterwards. */
plinth_status conf_pair_create(plinth_backend *ref, plinth_backend *b, const plinth_graph *g,
                               conf_pair **out);
void conf_pair_destroy(conf_pair *p);
const char *conf_pair_error(const conf_pair *p);
/* The program of one side (CONF_PAIR_BACKEND or CONF_PAIR_REF), e.g. for
 * its plan stats. */
plinth_program *conf_pair_program(const conf_pair *p, int side);
/* Sets param / input `name` on both sides to the same values, drawn by a
 * generator (enum conf_gen, lo, hi as in conf_tensor) from *rng. */
plinth_status conf_pair_fill_param(conf_pair *p, const char *name, int32_t gen, double lo,
                                   double hi, uint64_t *rng);
plinth_status conf_pair_fill_input(conf_pair *p, const char *name, int32_t gen, double lo,
                                   double hi, uint64_t *rng);
/* Sets input `name` on both sides to `bytes` of contiguous data. */
plinth_status conf_pair_set_input(conf_pair *p, const char *name, const void *data,
                                  size_t bytes);
/* Runs both programs once. */
plinth_status conf_pair_run(conf_pair *p);
/* Compares output `name` of the last runs: NaN/Inf agreement, then i32
 * exactly and float dtypes by normalised MSE <= max_nmse. Fills r (PASS,
 * or FAIL with the output named in the message). */
void conf_pair_compare(conf_pair *p, const char *name, double max_nmse, conf_result *r);

/* ------------------------------------------------------------------ 6 --- */

/* The summary table: one row per target. */
void conf_report_table(FILE *f, const conf_run *run);
/* Each failure (FAIL and XPASS) with everything needed to reproduce it. */
void conf_report_failures(FILE *f, const conf_run *run);
/* Where each whole graph run with a fallback ran its ops (nothing else). */
void conf_report_placement(FILE *f, const conf_run *run);
bool conf_report_json(const conf_run *run, const char *path, char *err, size_t err_size);
bool conf_report_junit(const conf_run *run, const char *path, char *err, size_t err_size);

#endif /* PLINTH_CONFORMANCE_H */
