/*
 * host_interpose.c — a host program that defines every name libplinth uses
 * internally (those it exported before its symbols were sealed, and those
 * of today), each as a function that aborts. Were any of them exported by
 * libplinth, the dynamic linker would bind libplinth's own calls to these
 * (ELF interposition) and the run would abort or crash: the tiny Gemma must
 * load and give its golden logits instead.
 *
 *   host_interpose MODEL_DIR BACKEND
 */
#include "lm_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each trap has the shape of no real function: calling it is the failure. */
#define TRAP(name)                                                          \
    void name(void);                                                        \
    void name(void)                                                         \
    {                                                                       \
        fprintf(stderr, "host_interpose: libplinth called the host's " #name "\n"); \
        abort();                                                            \
    }

TRAP(backend_buffer_alloc)
TRAP(backend_buffer_free)
TRAP(backend_download)
TRAP(backend_execute)
TRAP(backend_has_program_path)
TRAP(backend_kernel)
TRAP(backend_last_error)
TRAP(backend_prepare)
TRAP(backend_release)
TRAP(backend_retain)
TRAP(backend_supports)
TRAP(backend_synchronize)
TRAP(backend_upload)
TRAP(backend_zero)
TRAP(compile_node_offset)
TRAP(ctx_calloc)
TRAP(ctx_error)
TRAP(ctx_error_wrap)
TRAP(ctx_free)
TRAP(ctx_grow)
TRAP(ctx_log)
TRAP(ctx_malloc)
TRAP(ctx_realloc)
TRAP(ctx_release)
TRAP(ctx_retain)
TRAP(ctx_strdup)
TRAP(emit_check_supports)
TRAP(emit_instructions)
TRAP(emit_plan_json)
TRAP(graph_add_node)
TRAP(graph_arg)
TRAP(graph_contiguous_strides)
TRAP(graph_error)
TRAP(graph_node_init)
TRAP(half_bf16_to_f32)
TRAP(half_convert)
TRAP(half_f16_to_f32)
TRAP(half_f32_to_bf16)
TRAP(half_f32_to_f16)
TRAP(json_enter)
TRAP(json_leave)
TRAP(loader_api)
TRAP(loader_close)
TRAP(loader_enter)
TRAP(loader_leave)
TRAP(loader_open)
TRAP(loader_path)
TRAP(loader_resolve)
TRAP(loader_scan)
TRAP(loader_unload_all)
TRAP(model_enter)
TRAP(model_leave)
TRAP(model_release)
TRAP(model_tensor_register)
TRAP(node_bytes)
TRAP(node_desc)
TRAP(node_error)
TRAP(node_is_contiguous)
TRAP(node_kind_name)
TRAP(plan_greedy_by_size)
TRAP(plan_lower_bound)
TRAP(plan_verify)
TRAP(pool_name)
TRAP(program_bind)
TRAP(program_free)
TRAP(program_run_folds)
TRAP(program_unbind)
TRAP(shape_str)
TRAP(sized_out)
TRAP(slot_buffer_alloc)
TRAP(slot_buffer_free)
TRAP(slot_device_close)
TRAP(slot_device_count)
TRAP(slot_device_info)
TRAP(slot_device_open)
TRAP(slot_download)
TRAP(slot_execute)
TRAP(slot_has_program_path)
TRAP(slot_instance_create)
TRAP(slot_instance_destroy)
TRAP(slot_kernel)
TRAP(slot_prepare)
TRAP(slot_release)
TRAP(slot_run_kernel)
TRAP(slot_run_list)
TRAP(slot_supports)
TRAP(slot_synchronize)
TRAP(slot_unavailable_reason)
TRAP(slot_upload)
TRAP(slot_zero)
TRAP(st_at)
TRAP(st_close)
TRAP(st_count)
TRAP(st_find)
TRAP(st_open)
TRAP(view_span)

#define N_TOK 24
#define VOCAB 512

static float *read_f32(const char *dir, const char *file, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    float *v = malloc(n * sizeof *v);
    if (!f || !v || fread(v, sizeof *v, n, f) != n) {
        fprintf(stderr, "host_interpose: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: host_interpose MODEL_DIR BACKEND\n");
        return 2;
    }
    /* tokens.json of gemma3-tiny-a, written out (the host needs no JSON). */
    static const int32_t tokens[N_TOK] = {2,   270, 136, 407, 267, 155, 18,  384,
                                          21,  196, 299, 499, 393, 81,  350, 239,
                                          494, 343, 29,  343, 473, 328, 448, 442};
    plinth_context *ctx = NULL;
    plinth_backend *be = NULL;
    lm_model *m = NULL;
    char err[1024] = "";
    if (plinth_context_create(NULL, &ctx) != PLINTH_OK ||
        plinth_backend_open(ctx, argv[2], 0, NULL, &be) != PLINTH_OK) {
        fprintf(stderr, "host_interpose: %s\n", ctx ? plinth_context_error(ctx) : "no context");
        return 1;
    }
    lm_model_options o = {.n_ctx = 64, .n_prefill = N_TOK, .all_logits = true};
    float *got = malloc((size_t)N_TOK * VOCAB * sizeof *got);
    if (!got || lm_model_load(ctx, be, argv[1], &o, &m, err, sizeof err) != PLINTH_OK ||
        lm_model_prefill(m, tokens, N_TOK, 0, got, err, sizeof err) != PLINTH_OK) {
        fprintf(stderr, "host_interpose: %s\n", err);
        return 1;
    }
    float *want = read_f32(argv[1], "reference_pytorch.f32", (size_t)N_TOK * VOCAB);
    double num = 0, den = 0;
    for (size_t i = 0; i < (size_t)N_TOK * VOCAB; i++) {
        double d = (double)got[i] - want[i];
        num += d * d;
        den += (double)want[i] * want[i];
    }
    double rel = sqrt(num / den);
    printf("host_interpose: %s, relative L2 %.2e against the exact forward\n", argv[2], rel);
    lm_model_free(m);
    plinth_backend_close(be);
    plinth_context_destroy(ctx);
    free(got);
    free(want);
    return rel < 1e-5 ? 0 : 1;
}
