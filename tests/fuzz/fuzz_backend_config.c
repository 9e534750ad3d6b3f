/*
 * fuzz_backend_config.c — `--backend-config` strings ("isa=avx2,threads=1")
 * as the cpu plugin parses them when a device opens, through the public
 * API: plinth_backend_open(ctx, "cpu", 0, &{.config = input}) and close.
 *
 * Checked: opening never crashes; a refusal leaves no backend and a
 * message on the context; threads= is bounded by the plugin, so an input
 * cannot start more than its MAX_THREADS.
 */
#include "fuzz.h"

#include <plinth.h>

static plinth_context *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    FUZZ_CHECK(plinth_context_create(NULL, &ctx) == PLINTH_OK, "no context");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *cfg = fuzz_cstr(data, size);
    plinth_device_options o = {.struct_size = sizeof o, .n_threads = 1, .config = cfg};
    plinth_backend *be = (plinth_backend *)1;
    plinth_status st = plinth_backend_open(ctx, "cpu", 0, &o, &be);
    if (st == PLINTH_OK) {
        FUZZ_CHECK(be != NULL, "open succeeded without a backend");
        plinth_backend_close(be);
    } else {
        FUZZ_CHECK(be == NULL, "failed open left a backend");
        FUZZ_CHECK(plinth_context_error(ctx)[0], "failed open (status %d) without a message",
                   (int)st);
        /* The plugin itself must be there: a missing plugin is a broken
         * build, not a finding about the input. */
        FUZZ_CHECK(st != PLINTH_ERR_IO, "the cpu plugin did not load: %s",
                   plinth_context_error(ctx));
    }
    free(cfg);
    return 0;
}
