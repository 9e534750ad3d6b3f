/*
 * cli_init_random.c — `plinth init-random OUT_DIR --like 270m|tiny|CONFIG.json`:
 * a random-weight Gemma 3 checkpoint for tests and benchmarks.
 *
 * Writes config.json, model.safetensors (streamed tensor by tensor, never
 * the whole model in memory: 536 MB for 270m in bf16), README.txt saying
 * the weights are random, and a copy of the real Gemma 3 tokenizer.json when
 * one is found and the vocabulary is Gemma 3's. Weights are drawn like the
 * golden data's generator: normal x 0.02 for matrices, x 0.1 for norm
 * weights (Gemma's norms use 1 + w).
 *
 * Sections: configs; the RNG; weights; the tokenizer; the command.
 */
#include "cli.h"
#include "lm_model.h"
#include "st_writer.h"

#include <cJSON.h>

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ----------------------------------------------------------- configs --- */

typedef struct preset {
    const char *name;
    int vocab, hidden, ffn, layers, heads, kv_heads, head_dim, qpas, window, max_pos;
} preset;

static const preset presets[] = {
    /* google/gemma-3-270m */
    {"270m", 262144, 640, 2048, 18, 4, 1, 256, 256, 512, 32768},
    /* the golden tiny model (tests/data/gemma3-tiny-a) */
    {"tiny", 512, 64, 192, 6, 4, 1, 32, 32, 8, 2048},
};

static char *preset_config(const preset *p, const char *dtype)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "_plinth_note", "RANDOM WEIGHTS (plinth init-random): output is meaningless");
    cJSON *arch = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("Gemma3ForCausalLM"));
    cJSON_AddFalseToObject(c, "attention_bias");
    cJSON_AddNumberToObject(c, "attention_dropout", 0.0);
    cJSON_AddNullToObject(c, "attn_logit_softcapping");
    cJSON_AddNumberToObject(c, "bos_token_id", 2);
    cJSON_AddNumberToObject(c, "eos_token_id", 1);
    cJSON_AddNullToObject(c, "final_logit_softcapping");
    cJSON_AddNumberToObject(c, "head_dim", p->head_dim);
    cJSON_AddStringToObject(c, "hidden_activation", "gelu_pytorch_tanh");
    cJSON_AddNumberToObject(c, "hidden_size", p->hidden);
    cJSON_AddNumberToObject(c, "initializer_range", 0.02);
    cJSON_AddNumberToObject(c, "intermediate_size", p->ffn);
    cJSON *lt = cJSON_AddArrayToObject(c, "layer_types");
    for (int i = 0; i < p->layers; i++)
        cJSON_AddItemToArray(lt, cJSON_CreateString((i + 1) % 6 ? "sliding_attention"
                                                                 : "full_attention"));
    cJSON_AddNumberToObject(c, "max_position_embeddings", p->max_pos);
    cJSON_AddStringToObject(c, "model_type", "gemma3_text");
    cJSON_AddNumberToObject(c, "num_attention_heads", p->heads);
    cJSON_AddNumberToObject(c, "num_hidden_layers", p->layers);
    cJSON_AddNumberToObject(c, "num_key_value_heads", p->kv_heads);
    cJSON_AddNumberToObject(c, "pad_token_id", 0);
    cJSON_AddNumberToObject(c, "query_pre_attn_scalar", p->qpas);
    cJSON_AddNumberToObject(c, "rms_norm_eps", 1e-6);
    cJSON_AddNumberToObject(c, "rope_local_base_freq", 10000.0);
    cJSON_AddNullToObject(c, "rope_scaling");
    cJSON_AddNumberToObject(c, "rope_theta", 1000000.0);
    cJSON_AddNumberToObject(c, "sliding_window", p->window);
    cJSON_AddTrueToObject(c, "tie_word_embeddings");
    cJSON_AddStringToObject(c, "torch_dtype", strcmp(dtype, "bf16") == 0 ? "bfloat16" : "float32");
    cJSON_AddFalseToObject(c, "use_bidirectional_attention");
    cJSON_AddTrueToObject(c, "use_cache");
    cJSON_AddNumberToObject(c, "vocab_size", p->vocab);
    char *text = cJSON_Print(c);
    cJSON_Delete(c);
    return text;
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *text = NULL;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long n = ftell(fp);
        if (n >= 0 && fseek(fp, 0, SEEK_SET) == 0 && (text = malloc((size_t)n + 1))) {
            if (fread(text, 1, (size_t)n, fp) == (size_t)n) {
                text[n] = '\0';
            } else {
                free(text);
                text = NULL;
            }
        }
    }
    fclose(fp);
    return text;
}

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(data, 1, n, fp) != n || fclose(fp) != 0) {
        fprintf(stderr, "plinth: %s: %s\n", path, strerror(errno));
        if (fp)
            fclose(fp);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- RNG --- */

static uint64_t rng_next(uint64_t s[4]) /* xoshiro256+ */
{
    uint64_t r = s[0] + s[3], t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return r;
}

/* n standard normals (Box-Muller, two per draw). */
static void normals(uint64_t s[4], float *out, size_t n, float scale)
{
    for (size_t i = 0; i < n; i += 2) {
        uint64_t r = rng_next(s);
        float u1 = ((float)(r >> 40) + 0.5f) * (1.0f / 16777216.0f);
        float u2 = (float)((r >> 16) & 0xffffff) * (1.0f / 16777216.0f);
        float rad = sqrtf(-2.0f * logf(u1)) * scale, a = 6.2831853f * u2;
        out[i] = rad * cosf(a);
        if (i + 1 < n)
            out[i + 1] = rad * sinf(a);
    }
}

/* ------------------------------------------------------------ weights --- */

#define BLOCK (1u << 20)

static int write_weights(const char *path, const lm_config *c, int32_t dtype, uint64_t seed)
{
    uint32_t n = 0;
    char name[128];
    int64_t rows, cols;
    bool is_norm;
    while (lm_param_at(c, n, name, sizeof name, &rows, &cols, &is_norm))
        n++;
    char **names = calloc(n, sizeof *names);
    int32_t *dtypes = calloc(n, sizeof *dtypes), *ndims = calloc(n, sizeof *ndims);
    int64_t(*shapes)[4] = calloc(n, sizeof *shapes);
    bool *norms = calloc(n, sizeof *norms);
    float *buf = malloc(BLOCK * sizeof *buf);
    uint16_t *half = malloc(BLOCK * sizeof *half);
    int rc = 0;
    char err[1024];
    st_writer *w = NULL;
    if (!names || !dtypes || !ndims || !shapes || !norms || !buf || !half) {
        fprintf(stderr, "plinth: out of memory\n");
        rc = 1;
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        lm_param_at(c, i, name, sizeof name, &rows, &cols, &is_norm);
        if (!(names[i] = strdup(name))) {
            rc = 1;
            goto out;
        }
        dtypes[i] = dtype;
        ndims[i] = cols ? 2 : 1;
        shapes[i][0] = rows;
        shapes[i][1] = cols;
        norms[i] = is_norm;
    }
    if (st_writer_open(path, n, (const char *const *)names, dtypes, ndims,
                       (const int64_t(*)[4])shapes, &w, err, sizeof err)) {
        fprintf(stderr, "plinth: %s\n", err);
        rc = 1;
        goto out;
    }
    uint64_t s[4] = {seed ^ 0x9e3779b97f4a7c15ull, 0x6a09e667f3bcc909ull, 0xbb67ae8584caa73bull,
                     0x3c6ef372fe94f82bull};
    for (int i = 0; i < 16; i++)
        rng_next(s);
    for (uint32_t i = 0; i < n && !rc; i++) {
        size_t total = (size_t)shapes[i][0] * (size_t)(ndims[i] == 2 ? shapes[i][1] : 1);
        for (size_t done = 0; done < total && !rc; done += BLOCK) {
            size_t k = total - done < BLOCK ? total - done : BLOCK;
            normals(s, buf, k, norms[i] ? 0.1f : 0.02f);
            const void *data = buf;
            if (dtype == PLINTH_BF16) {
                for (size_t j = 0; j < k; j++)
                    half[j] = plinth_f32_to_bf16(buf[j]);
                data = half;
            }
            if (st_writer_data(w, data, k * plinth_dtype_size((plinth_dtype)dtype), err,
                               sizeof err)) {
                fprintf(stderr, "plinth: %s\n", err);
                rc = 1;
            }
        }
    }
    if (st_writer_close(w, err, sizeof err) && !rc) {
        fprintf(stderr, "plinth: %s\n", err);
        rc = 1;
    }
out:
    for (uint32_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    free(dtypes);
    free(ndims);
    free(shapes);
    free(norms);
    free(buf);
    free(half);
    return rc;
}

/* ---------------------------------------------------------- tokenizer --- */

/* The real Gemma 3 tokenizer.json: --tokenizer, $PLINTH_TOKENIZER, then
 * .cache/gemma3-tokenizer/tokenizer.json next to the build tree's parent
 * (build/tools/plinth -> ./.cache) and under the current directory. */
static const char *find_tokenizer(const char *given, char *buf, size_t size)
{
    if (given)
        return given;
    const char *env = getenv("PLINTH_TOKENIZER");
    if (env && *env)
        return env;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        snprintf(buf, size, "%s/../../.cache/gemma3-tokenizer/tokenizer.json", dirname(exe));
        if (access(buf, R_OK) == 0)
            return buf;
    }
    snprintf(buf, size, ".cache/gemma3-tokenizer/tokenizer.json");
    return access(buf, R_OK) == 0 ? buf : NULL;
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    int rc = 0;
    if (!in || !out) {
        fprintf(stderr, "plinth: %s: %s\n", in ? to : from, strerror(errno));
        rc = 1;
    } else {
        char b[1 << 16];
        size_t k;
        while ((k = fread(b, 1, sizeof b, in)) > 0)
            if (fwrite(b, 1, k, out) != k) {
                rc = 1;
                break;
            }
        if (ferror(in) || rc) {
            fprintf(stderr, "plinth: copying %s to %s failed\n", from, to);
            rc = 1;
        }
    }
    if (out && fclose(out) != 0)
        rc = 1;
    if (in)
        fclose(in);
    return rc;
}

/* ------------------------------------------------------------ command --- */

static const char init_usage[] =
    "usage: plinth init-random OUT_DIR --like 270m|tiny|CONFIG.json [--dtype bf16|f32]\n"
    "                          [--seed S] [--tokenizer FILE]\n"
    "Writes a random-weight Gemma 3 checkpoint: config.json, model.safetensors\n"
    "(normal x 0.02 matrices, x 0.1 norm weights; default bf16), README.txt, and the\n"
    "real Gemma 3 tokenizer.json when found (--tokenizer, $PLINTH_TOKENIZER, or\n"
    ".cache/gemma3-tokenizer/tokenizer.json of the source tree, which\n"
    "scripts/fetch-tokenizer.sh fills) and the vocabulary is Gemma 3's.\n";

enum { OPT_LIKE = CLI_OPT_FIRST_FREE, OPT_DTYPE, OPT_SEED, OPT_TOKENIZER };

int cli_init_random(cli_options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"like", required_argument, NULL, OPT_LIKE}, {"dtype", required_argument, NULL, OPT_DTYPE},
        {"seed", required_argument, NULL, OPT_SEED},
        {"tokenizer", required_argument, NULL, OPT_TOKENIZER}, CLI_COMMON_LONGOPTS};
    const char *like = NULL, *dtype = "bf16", *tok_given = NULL;
    uint32_t seed = 1;
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_OPTSTRING, longopts, NULL)) != -1) {
        if (c == OPT_LIKE) {
            like = optarg;
        } else if (c == OPT_DTYPE) {
            dtype = optarg;
        } else if (c == OPT_TOKENIZER) {
            tok_given = optarg;
        } else if (c == OPT_SEED) {
            if (cli_parse_u32(optarg, "--seed", &seed))
                return 2;
        } else {
            int rc = cli_common_flag(c, o, init_usage);
            if (rc != CLI_PARSED)
                return rc;
        }
    }
    if (argc - optind != 1 || !like) {
        fputs(init_usage, stderr);
        return 2;
    }
    if (strcmp(dtype, "bf16") != 0 && strcmp(dtype, "f32") != 0) {
        fprintf(stderr, "plinth: --dtype must be bf16 or f32, not '%s'\n", dtype);
        return 2;
    }
    const char *dir = argv[optind];
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "plinth: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char path[4096], err[1024];
    char *config = NULL;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(like, presets[i].name) == 0)
            config = preset_config(&presets[i], dtype);
    if (!config && !(config = read_file(like))) {
        fprintf(stderr, "plinth: --like %s: not 270m, tiny, or a readable config.json\n", like);
        return 1;
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = write_file(path, config, strlen(config));
    free(config);
    lm_config cfg;
    if (!rc && lm_config_load(NULL, path, &cfg, err, sizeof err) != PLINTH_OK) {
        fprintf(stderr, "plinth: %s\n", err);
        rc = 1;
    }
    double t0 = cli_now_ms();
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!rc)
        rc = write_weights(path, &cfg, strcmp(dtype, "bf16") == 0 ? PLINTH_BF16 : PLINTH_F32,
                           seed);
    if (!rc) {
        static const char readme[] =
            "RANDOM WEIGHTS. This checkpoint was written by `plinth init-random`: it has\n"
            "the shapes of a Gemma 3 model and weights drawn at random (normal x 0.02,\n"
            "norm weights x 0.1). Whatever it generates is meaningless; it exists for\n"
            "tests and benchmarks.\n";
        snprintf(path, sizeof path, "%s/README.txt", dir);
        rc = write_file(path, readme, sizeof readme - 1);
    }
    char tbuf[4096];
    const char *tok = rc ? NULL : find_tokenizer(tok_given, tbuf, sizeof tbuf);
    if (!rc && tok && cfg.vocab >= 262144) {
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        rc = copy_file(tok, path);
    } else if (!rc) {
        fprintf(stderr, "plinth: note: no tokenizer.json copied (%s); `plinth logits` works, "
                "`plinth run` needs one\n",
                cfg.vocab < 262144 ? "the vocabulary is not Gemma 3's" : "none found");
    }
    if (!rc)
        printf("wrote %s: random %s weights like '%s' in %.1f s%s\n", dir, dtype, like,
               (cli_now_ms() - t0) / 1e3, tok && cfg.vocab >= 262144 ? ", tokenizer.json" : "");
    return rc;
}
