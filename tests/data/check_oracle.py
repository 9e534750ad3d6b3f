#!/usr/bin/env python3
"""Cross-checks of make_golden.py (the float64 oracle).  Not a test of plinth.

  check_oracle.py [--llamacpp BUILD_DIR]

1. gemma3-tiny-a: the oracle against reference_pytorch.f32 (an independent
   float64 PyTorch forward) and logits.f32 (llama.cpp b10573).
2. llama3 RoPE scaling: the oracle's inverse frequencies (transformers'
   _compute_llama3_parameters, vectorised) against Meta's reference loop
   (llama-models apply_scaling) and llama.cpp's rope_freqs factors
   (convert_hf_to_gguf.py LlamaModel.generate_extra_tensors), written out here.
3. A second forward, written separately in plain numpy float64 and run token by
   token with a KV cache (decode order; RoPE as explicit rotations of the pairs
   (i, i + D/2)), against the oracle's batched forward on every fixture.
4. With --llamacpp BUILD_DIR (a llama.cpp b10573 CPU build with libllama):
   GGUF twins of the fixtures written as convert_hf_to_gguf.py does (llama:
   q/k rows permuted to llama.cpp's interleaved RoPE, rope_freqs from the llama3
   factors; qwen2/qwen3 unpermuted, NeoX RoPE), one llama_decode of the whole
   sequence, logits of every position, compared with the stored references.
   Needs gguf-py from the llama.cpp tree (BUILD_DIR/../gguf-py) and a C compiler.
   The build used for the READMEs' figures (tag b10573, from a git mirror of
   llama.cpp as for ../shared/tools/llamacpp-side-by-side.sh; about 15 minutes
   on 2 busy cores):
     git -C MIRROR archive b10573 $(git -C MIRROR ls-tree --name-only b10573 | grep -v '^models$') | tar x -C SRC
     mkdir SRC/models && cd SRC && cmake -B build-cpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
       -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF \
       -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
       -DBUILD_SHARED_LIBS=OFF && cmake --build build-cpu -j2 --target llama
     /usr/bin/python3 tests/data/check_oracle.py --llamacpp SRC/build-cpu
"""

import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_golden as mg  # noqa: E402

FIXTURES = ["llama3-tiny", "qwen2-tiny", "qwen3-tiny"]


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / np.linalg.norm(b))


def load_f32(path, rows):
    a = np.fromfile(path, dtype="<f4").astype(np.float64)
    return a.reshape(rows, -1)


# ---------------------------------------------------------------- 1. gemma3
def check_gemma():
    d = os.path.join(HERE, "gemma3-tiny-a")
    cfg, W = mg.load_model(d)
    toks = json.load(open(os.path.join(d, "tokens.json")))["tokens"]
    ours = mg.forward(cfg, W, toks).numpy()
    for f in ("reference_pytorch.f32", "logits.f32"):
        ref = load_f32(os.path.join(d, f), len(toks))
        print(f"  gemma3-tiny-a: oracle vs {f}: rel L2 {rel(ours, ref):.2e}, "
              f"max abs {np.abs(ours - ref).max():.2e}, argmax {int((ours.argmax(1) == ref.argmax(1)).sum())}/{len(toks)}")


# ---------------------------------------------------------------- 2. rope
def meta_apply_scaling(freqs, scale_factor, low_freq_factor, high_freq_factor, old_context_len):
    """Meta llama-models reference (loop form), in Python floats (float64)."""
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    new = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            new.append(freq)
        elif wavelen > low_freq_wavelen:
            new.append(freq / scale_factor)
        else:
            smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            new.append((1 - smooth) * freq / scale_factor + smooth * freq)
    return new


def llamacpp_rope_factors(freqs, factor, low, high, old):
    """convert_hf_to_gguf.py: theta_i is divided by factors[i]."""
    lw, hw = old / low, old / high
    out = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < hw:
            out.append(1.0)
        elif wl > lw:
            out.append(factor)
        else:
            s = (old / wl - low) / (high - low)
            out.append(1 / ((1 - s) / factor + s))
    return out


def check_rope():
    cfg = json.load(open(os.path.join(HERE, "llama3-tiny", "config.json")))
    sc = cfg["rope_scaling"]
    D = mg.head_dim_of(cfg)
    theta = cfg["rope_theta"]
    base = [theta ** (-(2 * i) / D) for i in range(D // 2)]
    oracle = mg.inv_freq(theta, D, sc).numpy()
    meta = np.array(meta_apply_scaling(base, sc["factor"], sc["low_freq_factor"],
                                       sc["high_freq_factor"], sc["original_max_position_embeddings"]))
    fac = llamacpp_rope_factors(base, sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"],
                                sc["original_max_position_embeddings"])
    cpp = np.array(base) / np.array(fac)
    print(f"  llama3 inv_freq: oracle vs Meta loop max rel diff {np.max(np.abs(oracle / meta - 1)):.1e}; "
          f"vs llama.cpp factors {np.max(np.abs(oracle / cpp - 1)):.1e}")
    lw = sc["original_max_position_embeddings"] / sc["low_freq_factor"]
    hw = sc["original_max_position_embeddings"] / sc["high_freq_factor"]
    print(f"  bands (head_dim {D}, theta {theta:g}; high_freq_wavelen {hw:g}, low_freq_wavelen {lw:g}):")
    for i, (b, o, f) in enumerate(zip(base, oracle, fac)):
        wl = 2 * math.pi / b
        band = "high: kept" if wl < hw else ("low: / factor" if wl > lw else "medium: smoothed")
        print(f"    i={i}  inv_freq {b:.9e}  wavelen {wl:10.2f}  {band:16s}  scaled {o:.9e}  (divided by {f:.6f})")
    return oracle


# ---------------------------------------------------------------- 3. numpy decoder
def numpy_decode(model_dir, tokens, **feat):
    """Independent plain-numpy float64 forward, one token at a time with a KV cache."""
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    raw = open(os.path.join(model_dir, "model.safetensors"), "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    W = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32"
        a, b = v["data_offsets"]
        W[k] = np.frombuffer(raw[8 + n + a: 8 + n + b], "<f4").astype(np.float64).reshape(v["shape"])
    mt = cfg["model_type"]
    gemma = mt == "gemma3_text"
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim") or cfg["hidden_size"] // H
    eps = cfg["rms_norm_eps"]
    L = cfg["num_hidden_layers"]
    group = H // KV

    def norm(x, w):
        r = 1.0 / math.sqrt(float(np.dot(x, x)) / x.shape[0] + eps)
        return x * r * ((1.0 + w) if gemma else w)

    # per-layer angle tables: theta_i for i < D/2
    def base_freqs(theta):
        return [theta ** (-(2 * i) / D) for i in range(D // 2)]

    if gemma:
        lt = cfg["layer_types"]
        freqs = {"full_attention": base_freqs(cfg["rope_theta"]),
                 "sliding_attention": base_freqs(cfg["rope_local_base_freq"])}
        layer_freqs = [freqs[t] for t in lt]
        window = [cfg["sliding_window"] if t == "sliding_attention" else None for t in lt]
        scale = cfg["query_pre_attn_scalar"] ** -0.5
        tied = cfg.get("tie_word_embeddings", True)
    else:
        f = base_freqs(cfg["rope_theta"])
        sc = cfg.get("rope_scaling")
        if sc and not feat.get("no_rope_scaling"):
            f = meta_apply_scaling(f, sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"],
                                   sc["original_max_position_embeddings"])
        layer_freqs = [f] * L
        window = [None] * L
        scale = 1.0 / math.sqrt(D)
        tied = cfg.get("tie_word_embeddings", False)

    def rotate(vec, pos, fr):
        # vec [D]; pair (i, i + D/2) rotated by pos * fr[i]
        out = vec.copy()
        h = D // 2
        for i in range(h):
            a = pos * fr[i]
            c, s = math.cos(a), math.sin(a)
            x0, x1 = vec[i], vec[i + h]
            out[i] = x0 * c - x1 * s
            out[i + h] = x1 * c + x0 * s
        return out

    kcache = [[] for _ in range(L)]
    vcache = [[] for _ in range(L)]
    out = []
    for pos, tok in enumerate(tokens):
        x = W["model.embed_tokens.weight"][tok].copy()
        if gemma:
            x = x * math.sqrt(cfg["hidden_size"])
        for li in range(L):
            p = f"model.layers.{li}.self_attn."
            y = norm(x, W[f"model.layers.{li}.input_layernorm.weight"])
            q = W[p + "q_proj.weight"] @ y
            k = W[p + "k_proj.weight"] @ y
            v = W[p + "v_proj.weight"] @ y
            if mt == "qwen2" and not feat.get("zero_qkv_bias"):
                q = q + W[p + "q_proj.bias"]
                k = k + W[p + "k_proj.bias"]
                v = v + W[p + "v_proj.bias"]
            qh = [q[h * D:(h + 1) * D] for h in range(H)]
            kh = [k[j * D:(j + 1) * D] for j in range(KV)]
            vh = [v[j * D:(j + 1) * D] for j in range(KV)]
            if (mt == "qwen3" and not feat.get("no_qk_norm")) or gemma:
                qh = [norm(t, W[p + "q_norm.weight"]) for t in qh]
                kh = [norm(t, W[p + "k_norm.weight"]) for t in kh]
            qh = [rotate(t, pos, layer_freqs[li]) for t in qh]
            kh = [rotate(t, pos, layer_freqs[li]) for t in kh]
            kcache[li].append(kh)
            vcache[li].append(vh)
            first = 0 if window[li] is None else max(0, pos - window[li] + 1)
            att = np.zeros(H * D)
            for h in range(H):
                j = h // group
                sc_ = np.array([float(np.dot(qh[h], kcache[li][t][j])) * scale for t in range(first, pos + 1)])
                w = np.exp(sc_ - sc_.max())
                w /= w.sum()
                acc = np.zeros(D)
                for t, wt in zip(range(first, pos + 1), w):
                    acc += wt * vcache[li][t][j]
                att[h * D:(h + 1) * D] = acc
            o = W[p + "o_proj.weight"] @ att
            m = f"model.layers.{li}."
            if gemma:
                x = x + norm(o, W[m + "post_attention_layernorm.weight"])
                y = norm(x, W[m + "pre_feedforward_layernorm.weight"])
            else:
                x = x + o
                y = norm(x, W[m + "post_attention_layernorm.weight"])
            g = W[m + "mlp.gate_proj.weight"] @ y
            u = W[m + "mlp.up_proj.weight"] @ y
            if gemma:
                g = 0.5 * g * (1 + np.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g ** 3)))
            else:
                g = g / (1 + np.exp(-g))
            d = W[m + "mlp.down_proj.weight"] @ (g * u)
            if gemma:
                d = norm(d, W[m + "post_feedforward_layernorm.weight"])
            x = x + d
        x = norm(x, W["model.norm.weight"])
        head = W["model.embed_tokens.weight"] if tied else W["lm_head.weight"]
        out.append(head @ x)
    return np.array(out)


def check_numpy():
    d = os.path.join(HERE, "gemma3-tiny-a")
    toks = json.load(open(os.path.join(d, "tokens.json")))["tokens"]
    ref = load_f32(os.path.join(d, "reference_pytorch.f32"), len(toks))
    print(f"  gemma3-tiny-a: numpy decoder vs reference_pytorch.f32: rel L2 {rel(numpy_decode(d, toks), ref):.2e}")
    for fx in FIXTURES:
        d = os.path.join(HERE, fx)
        tj = json.load(open(os.path.join(d, "tokens.json")))
        cfg, W = mg.load_model(d)
        feat = {"llama3-tiny": "no_rope_scaling", "qwen2-tiny": "zero_qkv_bias", "qwen3-tiny": "no_qk_norm"}[fx]
        for key in ("tokens", "tokens_long"):
            toks = tj[key]
            for f in (None, feat):
                kw = {f: True} if f else {}
                a = numpy_decode(d, toks, **kw)
                b = mg.forward(cfg, W, toks, **kw).numpy()
                print(f"  {fx} {key} ({len(toks)}){' ' + f if f else ''}: numpy decoder vs oracle rel L2 {rel(a, b):.2e}")


# ---------------------------------------------------------------- 4. llama.cpp
LLAMACPP_MAIN = r"""
#include "llama.h"
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    /* model.gguf tokens.bin n out.f32 */
    int n = atoi(argv[3]);
    int *tok = malloc(sizeof(int) * n);
    FILE *f = fopen(argv[2], "rb"); if (!f || fread(tok, sizeof(int), n, f) != (size_t)n) return 2; fclose(f);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *m = llama_model_load_from_file(argv[1], mp);
    if (!m) return 3;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n < 512 ? 512 : n; cp.n_batch = cp.n_ctx; cp.n_ubatch = cp.n_ctx;
    cp.n_threads = 2; cp.n_threads_batch = 2;
    cp.type_k = GGML_TYPE_F32; cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context *c = llama_init_from_model(m, cp);
    if (!c) return 4;
    struct llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        b.token[i] = tok[i]; b.pos[i] = i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = 1;
    }
    b.n_tokens = n;
    if (llama_decode(c, b)) return 5;
    int nv = llama_vocab_n_tokens(llama_model_get_vocab(m));
    FILE *o = fopen(argv[4], "wb");
    for (int i = 0; i < n; i++) fwrite(llama_get_logits_ith(c, i), sizeof(float), nv, o);
    fclose(o);
    llama_batch_free(b); llama_free(c); llama_model_free(m); llama_backend_free();
    return 0;
}
"""


def llama_permute(w, n_head):
    """convert_hf_to_gguf.py LlamaModel.permute (HF NeoX halves -> interleaved pairs)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(model_dir, path):
    import gguf
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    W = {k: v.numpy().astype(np.float32) for k, v in mg.read_safetensors(os.path.join(model_dir, "model.safetensors")).items()}
    mt = cfg["model_type"]
    arch = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2, "qwen3": gguf.MODEL_ARCH.QWEN3}[mt]
    L, H, KV = cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = mg.head_dim_of(cfg)
    w = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[arch])
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(os.path.basename(model_dir))
    w.add_block_count(L)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    if cfg.get("head_dim"):
        w.add_key_length(D)
        w.add_value_length(D)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    if mt == "llama":
        w.add_vocab_size(cfg["vocab_size"])
        w.add_rope_dimension_count(D)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    nv = cfg["vocab_size"]
    toks = ["<unk>", "<s>", "</s>"] + [f"\u2581w{i}" for i in range(nv - 3)]
    types = [2, 3, 3] + [1] * (nv - 3)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(toks)
    w.add_token_scores([0.0, 0.0, 0.0] + [-float(i) for i in range(nv - 3)])
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(False)
    tmap = gguf.get_tensor_name_map(arch, L)
    for name, data in W.items():
        if mt == "llama" and name.endswith("q_proj.weight"):
            data = llama_permute(data, H)
        if mt == "llama" and name.endswith("k_proj.weight"):
            data = llama_permute(data, KV)
        new = tmap.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise ValueError(f"cannot map {name}")
        w.add_tensor(new, np.ascontiguousarray(data), raw_dtype=gguf.GGMLQuantizationType.F32)
    sc = cfg.get("rope_scaling")
    if sc and sc.get("rope_type") == "llama3":
        base = [cfg["rope_theta"] ** (-(2 * i) / D) for i in range(D // 2)]
        f = llamacpp_rope_factors(base, sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"],
                                  sc["original_max_position_embeddings"])
        w.add_tensor("rope_freqs.weight", np.array(f, dtype=np.float32), raw_dtype=gguf.GGMLQuantizationType.F32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def check_llamacpp(build):
    src = os.path.dirname(os.path.abspath(build))
    sys.path.insert(0, os.path.join(src, "gguf-py"))
    tmp = tempfile.mkdtemp(prefix="llamacpp-check-")
    c = os.path.join(tmp, "logits.c")
    open(c, "w").write(LLAMACPP_MAIN)
    exe = os.path.join(tmp, "logits")
    libs = []
    for root, _, files in os.walk(build):
        libs += [os.path.join(root, f) for f in files if f.endswith(".a") and ("llama" in f or "ggml" in f)]
    order = sorted(libs, key=lambda p: (0 if "libllama" in p else 1 if "cpu" in p else 2 if "libggml.a" in p else 3))
    subprocess.check_call(["cc", "-O1", c, "-I", os.path.join(src, "include"), "-I", os.path.join(src, "ggml", "include"),
                           "-o", exe, *order, *order, "-lstdc++", "-lm", "-lpthread", "-fopenmp"])
    for fx in FIXTURES:
        d = os.path.join(HERE, fx)
        g = os.path.join(tmp, fx + ".gguf")
        write_gguf(d, g)
        tj = json.load(open(os.path.join(d, "tokens.json")))
        for key, ref_name, last in (("tokens", "reference.f32", None), ("tokens_long", "reference_long.f32", 16)):
            toks = tj[key]
            tb = os.path.join(tmp, "t.bin")
            np.array(toks, dtype="<i4").tofile(tb)
            out = os.path.join(tmp, "out.f32")
            subprocess.run([exe, g, tb, str(len(toks)), out], check=True, stderr=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL)
            ours = np.fromfile(out, "<f4").astype(np.float64).reshape(len(toks), -1)
            if last:
                ours = ours[-last:]
            ref = load_f32(os.path.join(d, ref_name), ours.shape[0])
            off_name = {"llama3-tiny": "reference_no_scaling", "qwen2-tiny": "reference_no_bias",
                        "qwen3-tiny": "reference_no_qk_norm"}[fx] + ref_name[len("reference"):]
            off = load_f32(os.path.join(d, off_name), ours.shape[0])
            print(f"  {fx} {key} ({len(toks)}): llama.cpp vs {ref_name}: rel L2 {rel(ours, ref):.2e}, "
                  f"max abs {np.abs(ours - ref).max():.2e}, "
                  f"argmax {int((ours.argmax(1) == ref.argmax(1)).sum())}/{ours.shape[0]}; "
                  f"vs {off_name}: {rel(ours, off):.2e}")
    shutil.rmtree(tmp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llamacpp", help="llama.cpp build dir (with libllama.a)")
    ap.add_argument("--skip-numpy", action="store_true")
    a = ap.parse_args()
    print("1. gemma3-tiny-a")
    check_gemma()
    print("2. llama3 rope scaling")
    check_rope()
    if not a.skip_numpy:
        print("3. independent numpy decoder (token by token, KV cache)")
        check_numpy()
    if a.llamacpp:
        print("4. llama.cpp")
        check_llamacpp(a.llamacpp)


if __name__ == "__main__":
    main()
