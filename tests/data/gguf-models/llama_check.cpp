// llama_check: the few llama.cpp calls the GGUF cross-checks need, on libllama.
//   llama_check quantize IN OUT FTYPE      (llama_ftype number: 7 Q8_0, 2 Q4_0, 15 Q4_K_M, 18 Q6_K, 0 F32)
//   llama_check logits MODEL 2,17,9 OUT.f32 (every position's logits, [n][vocab] f32)
//   llama_check tokenize MODEL TEXT [nobos]  (ids, comma separated)
#include "llama.h"
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static void quiet(enum ggml_log_level level, const char *text, void *) {
    if (level >= GGML_LOG_LEVEL_WARN || getenv("LLAMA_CHECK_VERBOSE")) fputs(text, stderr);
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: see the source\n"); return 2; }
    llama_log_set(quiet, nullptr);
    llama_backend_init();
    std::string cmd = argv[1];
    if (cmd == "quantize" && argc == 5) {
        llama_model_quantize_params p = llama_model_quantize_default_params();
        p.ftype = (enum llama_ftype)atoi(argv[4]);
        p.nthread = 2;
        uint32_t rc = llama_model_quantize(argv[2], argv[3], &p);
        if (rc) fprintf(stderr, "llama_model_quantize failed: %u\n", rc);
        return rc ? 1 : 0;
    }
    llama_model_params mp = llama_model_default_params();
    llama_model *model = llama_model_load_from_file(argv[2], mp);
    if (!model) { fprintf(stderr, "llama.cpp could not load %s\n", argv[2]); return 1; }
    const llama_vocab *vocab = llama_model_get_vocab(model);
    if (cmd == "tokenize") {
        const char *text = argv[3];
        bool bos = !(argc > 4 && strcmp(argv[4], "nobos") == 0);
        std::vector<llama_token> ids(strlen(text) + 8);
        int n = llama_tokenize(vocab, text, (int)strlen(text), ids.data(), (int)ids.size(), bos, true);
        if (n < 0) { fprintf(stderr, "tokenize failed\n"); return 1; }
        for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
        printf("\n");
        return 0;
    }
    if (cmd == "logits" && argc == 5) {
        std::vector<llama_token> toks;
        for (char *s = argv[3]; *s;) { toks.push_back((llama_token)strtol(s, &s, 10)); if (*s == ',') s++; }
        llama_context_params cp = llama_context_default_params();
        cp.n_ctx = 256;
        cp.n_batch = 256;
        cp.n_ubatch = 256;
        cp.n_threads = cp.n_threads_batch = 2;
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
        cp.type_k = GGML_TYPE_F32;
        cp.type_v = GGML_TYPE_F32;
        llama_context *ctx = llama_init_from_model(model, cp);
        if (!ctx) { fprintf(stderr, "no context\n"); return 1; }
        llama_batch b = llama_batch_init((int)toks.size(), 0, 1);
        for (size_t i = 0; i < toks.size(); i++) {
            b.token[i] = toks[i]; b.pos[i] = (llama_pos)i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = 1;
        }
        b.n_tokens = (int)toks.size();
        if (llama_decode(ctx, b)) { fprintf(stderr, "decode failed\n"); return 1; }
        const int nv = llama_vocab_n_tokens(vocab);
        FILE *f = fopen(argv[4], "wb");
        for (size_t i = 0; i < toks.size(); i++) fwrite(llama_get_logits_ith(ctx, (int)i), sizeof(float), nv, f);
        fclose(f);
        printf("%zu tokens x %d logits\n", toks.size(), nv);
        llama_batch_free(b);
        llama_free(ctx);
        return 0;
    }
    fprintf(stderr, "bad command\n");
    return 2;
}
