/*
 * fuzz_expect.c — the conformance expectation files
 * (tests/conformance/expectations/NAME.txt) through conf_expect_parse, and
 * the glob that matches their patterns to case names.
 *
 * Checked: parsing never crashes; a refusal has a message naming the
 * file and line; every entry has a pattern and a reason; matching case
 * names against the entries stays bounded.
 */
#include "fuzz.h"
#include "conformance.h"

static const char *const names[] = {
    "matmul f32 x bf16 -> f32 [7,33]x[33,257]^T",
    "attention f32 q[1,97,4,64] kv[1,128,1,64] window 8",
    "add f16 [1] + [7,1]",
    "",
};
static const char *const configs[] = {"", "isa=avx2,threads=2", "isa=scalar,threads=1"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    conf_expect e;
    memset(&e, 0, sizeof e);
    char err[512] = "";
    if (conf_expect_parse(&e, text, "fuzz.txt", err, sizeof err)) {
        for (uint32_t i = 0; i < e.n_entries; i++)
            FUZZ_CHECK(e.entries[i].pattern[0] && e.entries[i].reason[0],
                       "entry %u: empty pattern or reason", i);
        FUZZ_CHECK(e.n_configs <= CONF_MAX_CONFIGS, "%u configs", e.n_configs);
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            for (size_t k = 0; k < sizeof configs / sizeof configs[0]; k++)
                conf_expect_match(&e, names[i], configs[k]);
    } else {
        FUZZ_CHECK(strncmp(err, "fuzz.txt:", 9) == 0, "message names no file: %s", err);
    }
    conf_expect_free(&e);
    /* The glob alone: the first line is the pattern, the rest the name. */
    char *nl = strchr(text, '\n');
    if (nl) {
        *nl = '\0';
        conf_glob(text, nl + 1);
    }
    free(text);
    return 0;
}
