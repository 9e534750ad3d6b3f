#!/usr/bin/env python3
"""Tiny random Hugging Face checkpoints and their golden logits.

  make_random.py [ARCH ...] [--outdir tests/data]

ARCH is any of llama3, qwen2, qwen3 (default: all three).  For each it writes
tests/data/<arch>-tiny/ with config.json, model.safetensors (F32, HF tensor
names), tokens.json, the reference logits made by make_golden.py's float64
forward, the "feature off" logits, and README.md with the measured figures.
Deterministic: the same command remakes the same bytes (run with Debian's
/usr/bin/python3, python3-torch and python3-numpy).
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as mg  # noqa: E402

VOCAB = 512
HIDDEN = 64
HEADS = 4
KV_HEADS = 2
INTER = 160
N_SHORT = 24
N_LONG = 300
LAST = 16          # positions of the long sequence stored (the last ones)

# std of the random draws (numpy standard_normal(float32) * std)
STD_MATRIX = 0.02     # embed_tokens, v_proj, o_proj, MLP, lm_head
STD_QK = 0.15
STD_NORM = 0.1        # norm weights are 1 + STD_NORM * N(0, 1)
STD_BIAS = 0.1        # qwen2 q/k/v biases

ARCHS = {
    "llama3": dict(
        seed=3001, tok_seed=24101, layers=3, head_dim=16, tied=False,
        config={
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "attention_bias": False,
            "attention_dropout": 0.0,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "head_dim": 16,
            "hidden_act": "silu",
            "hidden_size": HIDDEN,
            "initializer_range": 0.02,
            "intermediate_size": INTER,
            "max_position_embeddings": 4096,
            "mlp_bias": False,
            "num_attention_heads": HEADS,
            "num_hidden_layers": 3,
            "num_key_value_heads": KV_HEADS,
            "pretraining_tp": 1,
            "rms_norm_eps": 1e-05,
            "rope_scaling": {
                "factor": 8.0,
                "high_freq_factor": 4.0,
                "low_freq_factor": 1.0,
                "original_max_position_embeddings": 64,
                "rope_type": "llama3",
            },
            "rope_theta": 500000.0,
            "tie_word_embeddings": False,
            "torch_dtype": "float32",
            "use_cache": True,
            "vocab_size": VOCAB,
        }),
    "qwen2": dict(
        seed=3002, tok_seed=24102, layers=4, head_dim=16, tied=True,
        config={
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "attention_dropout": 0.0,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "hidden_act": "silu",
            "hidden_size": HIDDEN,
            "initializer_range": 0.02,
            "intermediate_size": INTER,
            "max_position_embeddings": 4096,
            "max_window_layers": 4,
            "num_attention_heads": HEADS,
            "num_hidden_layers": 4,
            "num_key_value_heads": KV_HEADS,
            "rms_norm_eps": 1e-06,
            "rope_scaling": None,
            "rope_theta": 1000000.0,
            "sliding_window": None,
            "tie_word_embeddings": True,
            "torch_dtype": "float32",
            "use_cache": True,
            "use_sliding_window": False,
            "vocab_size": VOCAB,
        }),
    "qwen3": dict(
        seed=3003, tok_seed=24103, layers=4, head_dim=24, tied=True,
        config={
            "architectures": ["Qwen3ForCausalLM"],
            "model_type": "qwen3",
            "attention_bias": False,
            "attention_dropout": 0.0,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "head_dim": 24,
            "hidden_act": "silu",
            "hidden_size": HIDDEN,
            "initializer_range": 0.02,
            "intermediate_size": INTER,
            "max_position_embeddings": 4096,
            "max_window_layers": 4,
            "num_attention_heads": HEADS,
            "num_hidden_layers": 4,
            "num_key_value_heads": KV_HEADS,
            "rms_norm_eps": 1e-06,
            "rope_scaling": None,
            "rope_theta": 1000000.0,
            "sliding_window": None,
            "tie_word_embeddings": True,
            "torch_dtype": "float32",
            "use_cache": True,
            "use_sliding_window": False,
            "vocab_size": VOCAB,
        }),
}


def draw_tensors(arch):
    """[(name, float32 array)] in draw order (= file order)."""
    spec = ARCHS[arch]
    rng = np.random.default_rng(spec["seed"])
    D = spec["head_dim"]
    qwen2 = arch == "qwen2"
    qwen3 = arch == "qwen3"
    out = []

    def mat(name, shape, std=STD_MATRIX):
        out.append((name, rng.standard_normal(shape, dtype=np.float32) * np.float32(std)))

    def norm(name, n):
        out.append((name, np.float32(1.0) + rng.standard_normal((n,), dtype=np.float32) * np.float32(STD_NORM)))

    def bias(name, n):
        out.append((name, rng.standard_normal((n,), dtype=np.float32) * np.float32(STD_BIAS)))

    mat("model.embed_tokens.weight", (VOCAB, HIDDEN))
    for li in range(spec["layers"]):
        p = f"model.layers.{li}."
        norm(p + "input_layernorm.weight", HIDDEN)
        mat(p + "self_attn.q_proj.weight", (HEADS * D, HIDDEN), STD_QK)
        if qwen2:
            bias(p + "self_attn.q_proj.bias", HEADS * D)
        mat(p + "self_attn.k_proj.weight", (KV_HEADS * D, HIDDEN), STD_QK)
        if qwen2:
            bias(p + "self_attn.k_proj.bias", KV_HEADS * D)
        mat(p + "self_attn.v_proj.weight", (KV_HEADS * D, HIDDEN))
        if qwen2:
            bias(p + "self_attn.v_proj.bias", KV_HEADS * D)
        if qwen3:
            norm(p + "self_attn.q_norm.weight", D)
            norm(p + "self_attn.k_norm.weight", D)
        mat(p + "self_attn.o_proj.weight", (HIDDEN, HEADS * D))
        norm(p + "post_attention_layernorm.weight", HIDDEN)
        mat(p + "mlp.gate_proj.weight", (INTER, HIDDEN))
        mat(p + "mlp.up_proj.weight", (INTER, HIDDEN))
        mat(p + "mlp.down_proj.weight", (HIDDEN, INTER))
    norm("model.norm.weight", HIDDEN)
    if not spec["tied"]:
        mat("lm_head.weight", (VOCAB, HIDDEN))
    return out


def draw_tokens(arch):
    rng = np.random.default_rng(ARCHS[arch]["tok_seed"])
    short = [1] + [int(t) for t in rng.integers(3, VOCAB, size=N_SHORT - 1)]
    long = [1] + [int(t) for t in rng.integers(3, VOCAB, size=N_LONG - 1)]
    return short, long


FEATURE = {  # arch: (oracle switch, file stem of the feature-off logits, what is switched off)
    "llama3": ("no_rope_scaling", "reference_no_scaling", "llama3 rope scaling off (plain RoPE, theta 500000)"),
    "qwen2": ("zero_qkv_bias", "reference_no_bias", "q/k/v biases zeroed"),
    "qwen3": ("no_qk_norm", "reference_no_qk_norm", "q_norm/k_norm skipped"),
}

DIAGNOSTICS = {  # likely implementation mistakes and how far each lands (README)
    "llama3": [("medium band not smoothed (kept)", dict(llama3_medium="keep")),
               ("medium band not smoothed (divided by factor)", dict(llama3_medium="divide")),
               ("GPT-J interleaved RoPE pairs instead of NeoX halves", dict(rope_interleaved=True))],
    "qwen2": [("q bias only zeroed", dict(zero_bias="q")),
              ("k bias only zeroed", dict(zero_bias="k")),
              ("v bias only zeroed", dict(zero_bias="v")),
              ("GPT-J interleaved RoPE pairs instead of NeoX halves", dict(rope_interleaved=True))],
    "qwen3": [("q_norm only skipped", dict(skip_norm="q")),
              ("k_norm only skipped", dict(skip_norm="k")),
              ("q/k norm applied after RoPE instead of before", dict(qk_norm_after_rope=True)),
              ("GPT-J interleaved RoPE pairs instead of NeoX halves", dict(rope_interleaved=True))],
}


def make(arch, outdir, diagnostics=True):
    d = os.path.join(outdir, f"{arch}-tiny")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(ARCHS[arch]["config"], f, indent=2, sort_keys=True)
        f.write("\n")
    mg.write_safetensors(os.path.join(d, "model.safetensors"), draw_tensors(arch))
    short, long = draw_tokens(arch)
    with open(os.path.join(d, "tokens.json"), "w") as f:
        json.dump({"tokens": short, "tokens_long": long}, f)
        f.write("\n")

    cfg, W = mg.load_model(d)       # read back what was written
    switch, stem, what = FEATURE[arch]
    ref_s = mg.forward(cfg, W, short).numpy()
    ref_l = mg.forward(cfg, W, long).numpy()
    off_s = mg.forward(cfg, W, short, **{switch: True}).numpy()
    off_l = mg.forward(cfg, W, long, **{switch: True}).numpy()
    mg.save_f32(os.path.join(d, "reference.f32"), ref_s)
    mg.save_f32(os.path.join(d, "reference_long.f32"), ref_l, last=LAST)
    mg.save_f32(os.path.join(d, stem + ".f32"), off_s)
    mg.save_f32(os.path.join(d, stem + "_long.f32"), off_l, last=LAST)

    print(f"{arch}-tiny: {os.path.getsize(os.path.join(d, 'model.safetensors'))} bytes of weights; "
          f"logits short range [{ref_s.min():.3f}, {ref_s.max():.3f}] std {ref_s.std():.3f}, "
          f"long (last {LAST}) std {ref_l[-LAST:].std():.3f}")
    print(f"  feature off ({what}): short {mg.rel_l2(off_s, ref_s):.3e}, "
          f"long last {LAST} {mg.rel_l2(off_l[-LAST:], ref_l[-LAST:]):.3e}, "
          f"long all {N_LONG} {mg.rel_l2(off_l, ref_l):.3e}")
    per_pos = np.linalg.norm(off_l - ref_l, axis=1) / np.linalg.norm(ref_l, axis=1)
    print(f"  feature off per position (long): 0-23 mean {per_pos[:24].mean():.3e}, "
          f"64-127 mean {per_pos[64:128].mean():.3e}, last {LAST} mean {per_pos[-LAST:].mean():.3e}")
    if not diagnostics:
        return
    f32r = mg.forward(cfg, W, long, hf_f32_rope=True).numpy()
    print(f"  RoPE angles in float32 as transformers does: long last {LAST} "
          f"{mg.rel_l2(f32r[-LAST:], ref_l[-LAST:]):.3e}, short {mg.rel_l2(f32r[:N_SHORT], ref_l[:N_SHORT]):.3e}")
    for name, kw in DIAGNOSTICS[arch]:
        a = mg.forward(cfg, W, short, **kw).numpy()
        b = mg.forward(cfg, W, long, **kw).numpy()
        print(f"  diagnostic, {name}: short {mg.rel_l2(a, ref_s):.3e}, "
              f"long last {LAST} {mg.rel_l2(b[-LAST:], ref_l[-LAST:]):.3e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("archs", nargs="*", default=list(ARCHS))
    ap.add_argument("--outdir", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--no-diagnostics", action="store_true")
    a = ap.parse_args()
    for arch in a.archs:
        if arch not in ARCHS:
            sys.exit(f"unknown arch {arch!r} (known: {', '.join(ARCHS)})")
        make(arch, a.outdir, not a.no_diagnostics)


if __name__ == "__main__":
    main()
