/*
 * test_cli.c — the `plinth` command as a user runs it: exit statuses,
 * stdout/stderr content, and the link-time independence of the binary and
 * libplinth from every backend (backends arrive only by dlopen).
 */
#include <criterion/criterion.h>

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char out[1 << 16];

/* Runs `plinth ARGS` (stderr merged into the captured text); returns the
 * exit status. */
static int plinth(const char *args)
{
    const char *exe = getenv("PLINTH_EXE");
    cr_assert(exe, "PLINTH_EXE not set");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", exe, args);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "popen failed");
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void expect_contains(const char *needle)
{
    cr_expect(strstr(out, needle) != NULL, "expected '%s' in output:\n%s", needle, out);
}

Test(cli, version_and_help)
{
    cr_assert_eq(plinth("--version"), 0);
    expect_contains("plinth 0.1.0");
    cr_assert_eq(plinth("--help"), 0);
    expect_contains("devices");
    expect_contains("--plugin-dir");
}

Test(cli, bad_usage_exits_2)
{
    cr_expect_eq(plinth(""), 2);
    cr_expect_eq(plinth("frobnicate"), 2);
    expect_contains("unknown command 'frobnicate'");
    cr_expect_eq(plinth("--device=abc plan"), 2);
    expect_contains("--device wants a non-negative integer");
    cr_expect_eq(plinth("--no-such-flag devices"), 2);
}

Test(cli, devices_lists_ref_not_the_template)
{
    cr_assert_eq(plinth("devices"), 0, "%s", out);
    expect_contains("ref ");
    expect_contains("0: ");
    /* the template is example source, not a backend users see... */
    cr_expect_null(strstr(out, "template"), "%s", out);
    /* ... unless they point at it */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "devices --plugin-dir=%s", getenv("PLINTH_TEST_TEMPLATE_DIR"));
    cr_assert_eq(plinth(cmd), 0, "%s", out);
    expect_contains("template ");
}

Test(cli, plan_prints_lower_bound)
{
    cr_assert_eq(plinth("plan"), 0, "%s", out);
    expect_contains("lower bound");
    expect_contains("arena");
    expect_contains("folded at load");
}

Test(cli, plan_json_is_json)
{
    cr_assert_eq(plinth("plan --json"), 0, "%s", out);
    cJSON *j = cJSON_Parse(out);
    cr_assert(j, "not JSON:\n%.400s", out);
    cJSON *arena = cJSON_GetObjectItemCaseSensitive(j, "arena_bytes");
    cJSON *lb = cJSON_GetObjectItemCaseSensitive(j, "lower_bound");
    cr_expect(cJSON_IsNumber(arena) && cJSON_IsNumber(lb));
    cr_expect(arena->valuedouble >= lb->valuedouble);
    cr_expect(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "instructions")) > 10);
    cJSON_Delete(j);
}

Test(cli, unknown_backend_is_named)
{
    cr_expect_eq(plinth("--backend=nope plan"), 1);
    expect_contains("no backend named 'nope'");
}

Test(cli, demo_runs)
{
    cr_assert_eq(plinth("demo"), 0, "%s", out);
    expect_contains("sum(y)");
    expect_contains("run ");
}

Test(cli, unsupported_op_named_at_compile)
{
    /* The template plugin implements add/mul/scale only. */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "--plugin-dir=%s --backend=template demo",
             getenv("PLINTH_TEST_TEMPLATE_DIR"));
    cr_expect_eq(plinth(cmd), 1);
    expect_contains("does not support");
}

/* Checks the libraries `file` needs at load time (ldd's first column: the
 * soname, not the path, which may well contain "plinth-"). */
static void expect_no_backend_link(const char *file)
{
    char cmd[4096], line[1024];
    snprintf(cmd, sizeof cmd, "ldd '%s'", file);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    int n_libs = 0;
    while (fgets(line, sizeof line, p)) {
        char soname[512];
        if (sscanf(line, " %511s", soname) != 1)
            continue;
        n_libs++;
        cr_expect(strncmp(soname, "plinth-", 7) != 0, "%s links plugin %s", file, soname);
        cr_expect(!strstr(soname, "vulkan"), "%s links %s", file, soname);
        cr_expect(!strstr(soname, "openblas") && !strstr(soname, "libblas"), "%s links %s",
                  file, soname);
    }
    pclose(p);
    cr_assert_gt(n_libs, 1, "ldd listed nothing for %s", file);
}

Test(cli, no_backend_linked_into_core)
{
    expect_no_backend_link(getenv("PLINTH_EXE"));
    expect_no_backend_link(getenv("PLINTH_LIB"));
}

/* `plinth logits` on the golden tiny model reproduces the exact float64
 * reference (relative L2 over the whole [24][512] array) on `backend`. */
static void logits_match_golden_with(const char *backend, const char *extra, double limit)
{
    const char *built = getenv("PLINTH_TEST_BACKENDS");
    cr_assert(built, "PLINTH_TEST_BACKENDS not set");
    char list[256];
    snprintf(list, sizeof list, ",%s,template,", built);
    /* Each backend of a list "a,b" must be built (the template always is). */
    for (const char *b = backend; *b;) {
        size_t len = strcspn(b, ",");
        char key[64];
        snprintf(key, sizeof key, ",%.*s,", (int)len, b);
        if (!strstr(list, key))
            cr_skip_test("backend '%.*s' is not built in this tree (built: %s)", (int)len, b,
                         built);
        b += len + (b[len] == ',');
    }
    const char *data = getenv("PLINTH_TEST_DATA");
    cr_assert(data, "PLINTH_TEST_DATA not set");
    char path[1024], tokens[512] = "";
    snprintf(path, sizeof path, "%s/gemma3-tiny-a/tokens.json", data);
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    char json[4096];
    size_t n = fread(json, 1, sizeof json - 1, f);
    fclose(f);
    json[n] = '\0';
    cJSON *j = cJSON_Parse(json);
    cJSON *ids = cJSON_GetObjectItemCaseSensitive(j, "tokens");
    cr_assert(cJSON_IsArray(ids));
    const int n_tokens = cJSON_GetArraySize(ids);
    for (int i = 0; i < n_tokens; i++) {
        char id[16];
        snprintf(id, sizeof id, i ? ",%d" : "%d", cJSON_GetArrayItem(ids, i)->valueint);
        strncat(tokens, id, sizeof tokens - strlen(tokens) - 1);
    }
    cJSON_Delete(j);

    char out_path[] = "/tmp/plinth-logits-XXXXXX";
    int fd = mkstemp(out_path);
    cr_assert(fd >= 0);
    close(fd);
    char args[2048];
    snprintf(args, sizeof args, "logits --backend=%s %s '%s/gemma3-tiny-a' --tokens %s --out %s",
             backend, extra, data, tokens, out_path);
    int rc = plinth(args);
    if (rc != 0 && strstr(out, "no devices")) {
        unlink(out_path);
        cr_skip_test("%s has no device here: %s", backend, out);
    }
    cr_assert_eq(rc, 0, "plinth %s\n%s", args, out);

    const size_t count = (size_t)n_tokens * 512;
    float *got = malloc(count * sizeof *got), *want = malloc(count * sizeof *want);
    f = fopen(out_path, "rb");
    cr_assert(f);
    cr_assert_eq(fread(got, sizeof *got, count + 1, f), count, "logits file has the wrong size");
    fclose(f);
    unlink(out_path);
    snprintf(path, sizeof path, "%s/gemma3-tiny-a/reference_pytorch.f32", data);
    f = fopen(path, "rb");
    cr_assert(f);
    cr_assert_eq(fread(want, sizeof *want, count, f), count);
    fclose(f);
    double err = 0, norm = 0;
    for (size_t i = 0; i < count; i++) {
        err += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        norm += (double)want[i] * want[i];
    }
    const double rel = sqrt(err / norm);
    cr_log_info("plinth logits --backend=%s %s: relative L2 %.3g vs the exact reference",
                backend, extra, rel);
    cr_expect_leq(rel, limit, "%s %s: relative L2 %g > %g", backend, extra, rel, limit);
    free(got);
    free(want);
}

static void logits_match_golden(const char *backend, double limit)
{
    logits_match_golden_with(backend, "", limit);
}

/* --plugin-dir for the template (example source, not on the search path). */
static const char *template_dir_flag(void)
{
    static char flag[4200];
    snprintf(flag, sizeof flag, "--plugin-dir=%s", getenv("PLINTH_TEST_TEMPLATE_DIR"));
    return flag;
}

/* `plinth bench` reports decode against a read-bandwidth reference and
 * prefill against an f32 FMA-peak reference, both taken in the same run
 * (the peak after each prefill, for as long): the ratios printed are the
 * ones its own numbers give (the prefill's, the median of the rounds'
 * own), the prefill's FLOPs are the model's, and --no-readbw / --no-peak
 * leave the references out. */
static double median3(double a, double b, double c)
{
    return a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
}

Test(cli, bench_reports_bandwidth_ratio)
{
    const char *data = getenv("PLINTH_TEST_DATA");
    cr_assert(data, "PLINTH_TEST_DATA not set");
    char args[1024];
    snprintf(args, sizeof args,
             "bench --backend=ref '%s/gemma3-tiny-a' --prefill 12 --decode 3 --repeats 3 --json",
             data);
    cr_assert_eq(plinth(args), 0, "%s", out);
    cJSON *j = cJSON_Parse(out);
    cr_assert(j, "not JSON: %s", out);
    const double dec = cJSON_GetObjectItem(j, "decode_weight_gb_per_s")->valuedouble;
    const double ref = cJSON_GetObjectItem(j, "read_gb_per_s")->valuedouble;
    const double ratio = cJSON_GetObjectItem(j, "decode_bandwidth_ratio")->valuedouble;
    cr_expect_gt(cJSON_GetObjectItem(j, "decode_tokens_per_s")->valuedouble, 0);
    cr_expect_gt(ref, 0.1, "read bandwidth %g GB/s", ref);
    cr_expect(fabs(ratio - dec / ref) < 1e-3 + 1e-2 * ratio, "ratio %g, %g / %g", ratio, dec,
              ref);
    cr_expect_gt(cJSON_GetObjectItem(j, "read_threads")->valueint, 0);
    /* The tiny model (hidden 64, head_dim 32, 4 heads, 1 KV head, FFN 192,
     * 6 layers of which the last is global, window 8, vocab 512), 12 tokens,
     * in multiply-adds: per row and layer q 8192 + k,v 4096 + o 8192 + MLP
     * 36864 = 57344; layers 0-4: 12 rows; layer 5: k,v for 12 rows and the
     * rest for the last row; attention 2 * 4 * 32 per key: layers 0-4 see
     * min(t+1, 8) keys (sum 68), layer 5 12 keys for its one query; logits
     * 512 * 64 for the last row. */
    const double mac = 5 * 12 * 57344.0 + (57344 - 4096 + 12 * 4096) + 5 * 256 * 68.0 +
                       256 * 12.0 + 512 * 64.0;
    cr_expect_eq(cJSON_GetObjectItem(j, "prefill_flops")->valuedouble, 2 * mac);
    const double pgf = cJSON_GetObjectItem(j, "prefill_gflop_per_s")->valuedouble;
    const double peak = cJSON_GetObjectItem(j, "fma_peak_gflop_per_s")->valuedouble;
    const double pratio = cJSON_GetObjectItem(j, "prefill_peak_ratio")->valuedouble;
    const double pms = cJSON_GetObjectItem(j, "prefill_ms")->valuedouble;
    cr_expect(fabs(pgf - 2 * mac / 1e6 / pms) < 0.01 + 1e-2 * pgf, "%g GFLOP/s from %g ms", pgf,
              pms);
    cr_expect_gt(peak, 0.1, "FMA peak %g GFLOP/s", peak);
    /* per round: its prefill over the peak measured right after it */
    const cJSON *runs = cJSON_GetObjectItem(j, "prefill_ms_runs");
    const cJSON *peaks = cJSON_GetObjectItem(j, "fma_peak_runs");
    cr_assert(cJSON_GetArraySize(runs) == 3 && cJSON_GetArraySize(peaks) == 3, "%s", out);
    double ms[3], pk[3], rt[3];
    for (int i = 0; i < 3; i++) {
        ms[i] = cJSON_GetArrayItem(runs, i)->valuedouble;
        pk[i] = cJSON_GetArrayItem(peaks, i)->valuedouble;
        cr_expect_gt(pk[i], 0.1, "FMA peak of round %d: %g GFLOP/s", i, pk[i]);
        rt[i] = 2 * mac / 1e6 / ms[i] / pk[i];
    }
    const double mid_ms = median3(ms[0], ms[1], ms[2]);
    cr_expect(fabs(pms - mid_ms) < 1e-9 * pms, "prefill %g ms, median of the rounds %g", pms,
              mid_ms);
    cr_expect(fabs(peak - median3(pk[0], pk[1], pk[2])) < 1e-9 * peak, "peak %g", peak);
    const double mid = median3(rt[0], rt[1], rt[2]);
    cr_expect(fabs(pratio - mid) < 1e-9 + 1e-6 * mid, "ratio %g, the rounds' median %g", pratio,
              mid);
    cJSON_Delete(j);

    snprintf(args, sizeof args,
             "bench --backend=ref '%s/gemma3-tiny-a' --prefill 4 --decode 3 --repeats 1", data);
    cr_assert_eq(plinth(args), 0, "%s", out);
    expect_contains("% of ");
    expect_contains("read bandwidth right after the runs");
    /* each flag drops its reference and keeps the other */
    static const struct { const char *flag, *gone, *kept; } drops[] = {
        {"--no-readbw", "read bandwidth", "FMA peak"},
        {"--no-peak", "FMA peak", "read bandwidth right after the runs"}};
    for (size_t i = 0; i < sizeof drops / sizeof drops[0]; i++) {
        snprintf(args, sizeof args,
                 "bench --backend=ref '%s/gemma3-tiny-a' --prefill 4 --decode 3 --repeats 1 %s",
                 data, drops[i].flag);
        cr_assert_eq(plinth(args), 0, "%s", out);
        cr_expect(!strstr(out, drops[i].gone), "%s still measured:\n%s", drops[i].flag, out);
        expect_contains(drops[i].kept);
    }
}

/* bench-ops runs one prefill shape on cpu beside OpenBLAS where it is
 * installed (CI installs it). It used to force OpenBLAS's SkylakeX core,
 * which died of SIGILL on an AVX2-only CPU: the core now follows the CPU. */
Test(cli, bench_ops_runs_one_shape)
{
    cr_assert_eq(plinth("bench-ops --backend=cpu --shape o --m 512 --dtype f32 --reps 1 "
                        "--threads 1"),
                 0, "%s", out);
    expect_contains("OpenBLAS core ");
    expect_contains("o         512   f32 |");
    expect_contains("f32 FMA peak");
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f"))
        cr_expect(!strstr(out, "OpenBLAS core SkylakeX"), "SkylakeX on a CPU without AVX-512:\n%s",
                  out);
#endif
}

/* Without a Vulkan device (a driver file that does not exist), `plinth
 * devices` says so in one line and still lists the others; asking for the
 * vulkan backend fails with that reason and exit status 1. */
Test(cli, vulkan_without_device)
{
    const char *built = getenv("PLINTH_TEST_BACKENDS");
    cr_assert(built, "PLINTH_TEST_BACKENDS not set");
    if (!strstr(built, "vulkan"))
        cr_skip_test("the vulkan backend is not built in this tree (built: %s)", built);
    cr_assert_eq(plinth("devices"), 0);
    setenv("VK_DRIVER_FILES", "/nonexistent/plinth-no-driver.json", 1);
    cr_assert_eq(plinth("devices"), 0, "%s", out);
    expect_contains("no Vulkan device");
    expect_contains("cpu");
    cr_expect_eq(plinth("demo --backend=vulkan"), 1, "%s", out);
    expect_contains("'vulkan' has no devices: no Vulkan device");
    unsetenv("VK_DRIVER_FILES");
}

Test(cli_logits, ref) { logits_match_golden("ref", 1e-5); }
Test(cli_logits, cpu) { logits_match_golden("cpu", 1e-5); }
/* Vulkan's acceptance bound is 1e-4 (f32 on any device, issue 6). */
Test(cli_logits, vulkan) { logits_match_golden("vulkan", 1e-4); }

/* --precision fast keeps the golden bound on f32 weights everywhere: the
 * cpu backend's reduced-precision path is for bf16 weights only. */
Test(cli_logits, cpu_fast) { logits_match_golden_with("cpu", "--precision fast", 1e-5); }
/* f32 weights as the cpu GEMM's panels, packed once at load (issue 17). */
Test(cli_logits, cpu_packed) { logits_match_golden_with("cpu", "--backend-config=pack_weights=1", 1e-5); }

/* --precision: a bad value is refused (exit 2) naming it; `plinth devices`
 * says what fast would use on every device; `plinth bench` says what each
 * backend computed with, in text and JSON (a backend without a fast mode:
 * as exact). */
Test(cli, precision_option)
{
    cr_expect_eq(plinth("--precision=half devices"), 2, "%s", out);
    expect_contains("--precision half: expected exact or fast");
    cr_expect_eq(plinth("devices --precision=FAST"), 2, "%s", out);
    cr_assert_eq(plinth("devices"), 0, "%s", out);
    expect_contains("     precision fast: ");
    const char *data = getenv("PLINTH_TEST_DATA");
    const char *built = getenv("PLINTH_TEST_BACKENDS");
    cr_assert(data && built);
    char args[1024];
    snprintf(args, sizeof args, "bench --backend=ref '%s/gemma3-tiny-a' --prefill 4 --decode 1 "
             "--repeats 1 --no-readbw --no-peak --precision fast", data);
    cr_assert_eq(plinth(args), 0, "%s", out);
    expect_contains("  precision       fast: as exact (the backend has no fast mode)\n");
    if (!strstr(built, "cpu"))
        return;
    snprintf(args, sizeof args, "bench --backend=cpu '%s/gemma3-tiny-a' --prefill 4 --decode 1 "
             "--repeats 1 --no-readbw --no-peak", data);
    cr_assert_eq(plinth(args), 0, "%s", out);
    expect_contains("  precision       exact: f32 arithmetic\n");
    strncat(args, " --precision=fast --json", sizeof args - strlen(args) - 1);
    cr_assert_eq(plinth(args), 0, "%s", out);
    cJSON *j = cJSON_Parse(out);
    cr_assert(j, "not JSON: %s", out);
    cJSON *p = cJSON_GetObjectItem(j, "precision");
    cJSON *used = cJSON_GetObjectItem(j, "precision_used");
    cr_expect(cJSON_IsString(p) && !strcmp(p->valuestring, "fast"), "%s", out);
    cr_assert(cJSON_IsArray(used) && cJSON_GetArraySize(used) == 1, "%s", out);
    const char *line = cJSON_GetArrayItem(used, 0)->valuestring;
    cr_expect(line && !strncmp(line, "fast: ", 6), "%s", out);
    cJSON_Delete(j);
}

/* Several backends (issue 12): the template with a fallback runs the whole
 * model; a layer split between vulkan and cpu stays within vulkan's bound. */
Test(cli_logits, template_with_ref) { logits_match_golden_with("template,ref", template_dir_flag(), 1e-5); }
Test(cli_logits, template_with_cpu)
{
    char extra[4300];
    snprintf(extra, sizeof extra, "%s --fallback=cpu", template_dir_flag());
    logits_match_golden_with("template", extra, 1e-5);
}
Test(cli_logits, vulkan_cpu_split) { logits_match_golden_with("vulkan,cpu", "--split-layers=3", 1e-4); }

Test(cli, plan_on_several_backends)
{
    const char *data = getenv("PLINTH_TEST_DATA");
    char cmd[8400];
    /* The template alone: every op it lacks, in one error. */
    snprintf(cmd, sizeof cmd, "plan %s --backend=template '%s/gemma3-tiny-a'", template_dir_flag(),
             data);
    cr_expect_eq(plinth(cmd), 1, "%s", out);
    expect_contains("backend 'template' does not support");
    static const char *const missing[] = {"get_rows (", "rms_norm (", "matmul (", "rope (",
                                          "set_rows (", "attention (", "gelu_tanh ("};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++)
        expect_contains(missing[i]);
    /* With a fallback: placement, what fell back and why, no transfers. */
    snprintf(cmd, sizeof cmd, "plan %s --backend=template --fallback=ref '%s/gemma3-tiny-a'",
             template_dir_flag(), data);
    cr_assert_eq(plinth(cmd), 0, "%s", out);
    expect_contains("backends        template, ref");
    expect_contains("on template");
    expect_contains("add, ");
    expect_contains("fell back       matmul (f32 x f32 -> f32) x43 to 'ref': 'template' has no kernel");
    expect_contains("transfers       0 per run");
    expect_contains("pools on template");
    /* A split of two host-memory backends: pinned, shared, no copies. */
    snprintf(cmd, sizeof cmd, "plan --backend=ref,cpu --split-layers=3 '%s/gemma3-tiny-a'", data);
    cr_assert_eq(plinth(cmd), 0, "%s", out);
    expect_contains("layers [0, 3) pinned to ref, the rest to cpu");
    expect_contains("pinned");
    expect_contains("transfers       0 per run");
    /* The split needs two backends. */
    snprintf(cmd, sizeof cmd, "plan --backend=ref --split-layers=3 '%s/gemma3-tiny-a'", data);
    cr_expect_eq(plinth(cmd), 1, "%s", out);
    expect_contains("--split-layers needs two backends");
    /* JSON: each backend's pools, every instruction with its backend (the
     * text is longer than the capture: look at its start). */
    snprintf(cmd, sizeof cmd,
             "plan --json --backend=ref,cpu --split-layers=3 '%s/gemma3-tiny-a' >/dev/null", data);
    cr_assert_eq(plinth(cmd), 0, "%.400s", out);
    snprintf(cmd, sizeof cmd,
             "plan --json --backend=ref,cpu --split-layers=3 '%s/gemma3-tiny-a' | head -c 8000",
             data);
    plinth(cmd);
    expect_contains("\"n_transfers\":0");
    expect_contains("\"backends\":[{\"name\":\"ref\"");
    expect_contains("{\"name\":\"cpu\"");
    expect_contains("\"op\":\"get_rows\",\"node\":5,\"backend\":\"ref\",\"pinned\":true");
}
