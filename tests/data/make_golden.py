#!/usr/bin/env python3
"""Float64 reference forward for Hugging Face decoder-only checkpoints.

The golden-logit oracle for plinth's tests: an implementation written from
Hugging Face transformers' modeling code (models/llama/modeling_llama.py,
qwen2/modeling_qwen2.py, qwen3/modeling_qwen3.py, gemma3/modeling_gemma3.py,
modeling_rope_utils.py), independent of plinth's C code.  It runs on CPU with
torch in float64 (Debian's python3-torch; run it with /usr/bin/python3), and
parses safetensors itself (no `safetensors` package).

Everything is float64: the weights are converted from their stored dtype,
RoPE inverse frequencies and angles, norms and softmax included.  (transformers
itself keeps some float32 islands even in a float64 model: RoPE angles and
cos/sin, RMSNorm's normalisation, softmax.  --hf-f32-rope reproduces the RoPE one
to measure it.)

model_type supported:
  llama        SiLU gated MLP, RMSNorm x*w, GQA, rope_theta, rope_scaling none /
               linear / llama3, attention_bias (q,k,v,o), mlp_bias, head_dim from
               config or hidden/heads, tied or untied lm_head
  qwen2        as llama, plus biases on q/k/v (never on o); use_sliding_window
               must be false
  qwen3        as llama, plus per-head RMSNorm on q and k (q_norm/k_norm, x*w)
               BEFORE RoPE; attention_bias as llama
  gemma3_text  embed * sqrt(hidden), RMSNorm x*(1+w), 4 norms per layer,
               q/k norm, sliding-window layers with their own RoPE base,
               query_pre_attn_scalar, optional softcapping, GELU(tanh)

Fixtures made with it: tests/data/{llama3,qwen2,qwen3}-tiny (make_random.py);
it reproduces tests/data/gemma3-tiny-a/reference_pytorch.f32 to 2.5e-8;
check_oracle.py cross-checks it (llama.cpp, a second numpy forward).

Usage:
  make_golden.py MODEL_DIR [--tokens FILE] [--key tokens] [--out FILE.f32]
                 [--last N] [--no-rope-scaling] [--zero-qkv-bias] [--no-qk-norm]
                 [--hf-f32-rope]
Output: raw little-endian float32, row-major [n_positions][vocab], no header
(n_positions = all positions, or the last N with --last N).
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

DT = torch.float64

# --------------------------------------------------------------------------
# safetensors (format: u64 LE header length N, N bytes of JSON header, data;
# data_offsets are [begin, end) relative to the start of the data section)

_NP_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1",
}


def read_safetensors(path):
    """Returns {name: float64 torch tensor} (BF16/F16/F32/F64 and ints)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for safetensors")
    n = struct.unpack_from("<Q", data, 0)[0]
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} past end of file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin: base + end]
        if base + end > len(data) or end < begin:
            raise ValueError(f"{path}: {name}: data_offsets out of range")
        shape = [int(s) for s in info["shape"]]
        count = 1
        for s in shape:
            count *= s
        dtype = info["dtype"]
        if dtype == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        elif dtype in _NP_DTYPES:
            arr = np.frombuffer(raw, dtype=_NP_DTYPES[dtype])
        else:
            raise ValueError(f"{path}: {name}: unsupported dtype {dtype}")
        if arr.size != count:
            raise ValueError(f"{path}: {name}: {arr.size} elements, shape says {count}")
        out[name] = torch.from_numpy(arr.astype(np.float64).reshape(shape))
    return out


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, numpy float32 array), written in that order."""
    header = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    blobs = []
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr, dtype="<f4")
        b = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)  # pad the header to 8 bytes, as safetensors does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# --------------------------------------------------------------------------
# configuration

SUPPORTED = ("llama", "qwen2", "qwen3", "gemma3_text")


def head_dim_of(cfg):
    # HF: getattr(config, "head_dim", None) or hidden_size // num_attention_heads
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def layer_types_of(cfg):
    n = cfg["num_hidden_layers"]
    lt = cfg.get("layer_types")
    if lt:
        if len(lt) != n:
            raise ValueError(f"layer_types has {len(lt)} entries, num_hidden_layers is {n}")
        return list(lt)
    if cfg["model_type"] == "gemma3_text":
        pattern = cfg.get("sliding_window_pattern", cfg.get("_sliding_window_pattern", 6))
        return ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(n)]
    if cfg.get("use_sliding_window"):
        mwl = cfg.get("max_window_layers", n)
        return ["sliding_attention" if i >= mwl else "full_attention" for i in range(n)]
    return ["full_attention"] * n


def rope_of(cfg, layer_type):
    """(theta, scaling dict or None) for a layer type, old- or new-style config."""
    rp = cfg.get("rope_parameters")
    if rp:
        if layer_type in rp and isinstance(rp[layer_type], dict):
            rp = rp[layer_type]
        rtype = rp.get("rope_type", rp.get("type", "default"))
        return float(rp["rope_theta"]), (None if rtype == "default" else rp)
    if cfg["model_type"] == "gemma3_text" and layer_type == "sliding_attention":
        return float(cfg.get("rope_local_base_freq", 10000.0)), None
    sc = cfg.get("rope_scaling")
    if sc is not None and sc.get("rope_type", sc.get("type", "default")) == "default":
        sc = None
    return float(cfg.get("rope_theta", 10000.0)), sc


def inv_freq(theta, dim, scaling, no_scaling=False, llama3_medium="smooth"):
    """RoPE inverse frequencies in float64, following modeling_rope_utils.

    llama3_medium is a diagnostic only: "keep" or "divide" treat the medium band
    (high_freq_wavelen <= wavelen <= low_freq_wavelen) as unscaled or as fully
    divided by factor instead of interpolating."""
    i = torch.arange(0, dim, 2, dtype=DT)
    inv = 1.0 / (theta ** (i / dim))            # _compute_default_rope_parameters
    if scaling is None or no_scaling:
        return inv
    rtype = scaling.get("rope_type", scaling.get("type"))
    if rtype == "linear":                        # _compute_linear_scaling_rope_parameters
        return inv / float(scaling["factor"])
    if rtype == "llama3":                        # _compute_llama3_parameters
        factor = float(scaling["factor"])
        low = float(scaling["low_freq_factor"])
        high = float(scaling["high_freq_factor"])
        old = float(scaling["original_max_position_embeddings"])
        low_freq_wavelen = old / low
        high_freq_wavelen = old / high
        wavelen = 2 * math.pi / inv
        inv_l = torch.where(wavelen > low_freq_wavelen, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
        if llama3_medium == "keep":
            smoothed = inv
        elif llama3_medium == "divide":
            smoothed = inv / factor
        return torch.where(medium, smoothed, inv_l)
    raise ValueError(f"rope_scaling rope_type {rtype!r} is not supported by this oracle")


def cos_sin(inv, n_pos, hf_f32=False):
    """[n_pos, dim] cos and sin, NeoX layout: emb = cat(freqs, freqs)."""
    if hf_f32:
        # transformers: inv_freq is a float32 buffer, angles and cos/sin in float32
        pos = torch.arange(n_pos, dtype=torch.float32)
        freqs = pos[:, None] * inv.to(torch.float32)[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(DT), emb.sin().to(DT)
    pos = torch.arange(n_pos, dtype=DT)
    freqs = pos[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_apply(x, cos, sin, interleaved=False):
    """x [T, heads, D]; HF NeoX layout: pairs (i, i + D/2) rotate by angle i.
    interleaved=True is a diagnostic only (GPT-J layout: pairs (2i, 2i+1))."""
    if not interleaved:
        return x * cos[:, None, :] + rotate_half(x) * sin[:, None, :]
    h = x.shape[-1] // 2
    c = cos[:, None, :h]
    s = sin[:, None, :h]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def rms_norm(x, w, eps, offset=0.0):
    """RMSNorm over the last dim: llama/qwen x*w (offset 0), gemma x*(1+w)."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (w + offset)


def act(name, x):
    if name in ("silu", "swish"):
        return torch.nn.functional.silu(x)
    if name in ("gelu_pytorch_tanh", "gelu_new", "gelu_fast"):
        return torch.nn.functional.gelu(x, approximate="tanh")
    if name == "gelu":
        return torch.nn.functional.gelu(x)
    raise ValueError(f"activation {name!r} is not supported by this oracle")


# --------------------------------------------------------------------------
# forward

def forward(cfg, W, tokens, no_rope_scaling=False, zero_qkv_bias=False,
            no_qk_norm=False, hf_f32_rope=False, zero_bias=(), skip_norm=(),
            qk_norm_after_rope=False, rope_interleaved=False, llama3_medium="smooth"):
    """Logits [n_tokens, vocab] float64 for one sequence at positions 0..n-1.

    The feature-off switches (no_rope_scaling, zero_qkv_bias, no_qk_norm) make the
    stored feature-off references; hf_f32_rope computes RoPE angles as transformers
    does (float32).  The rest are diagnostics of likely implementation mistakes:
    zero_bias subset of "qkv", skip_norm subset of "qk", qk_norm_after_rope,
    rope_interleaved (GPT-J pairs instead of NeoX halves), llama3_medium."""
    if zero_qkv_bias:
        zero_bias = "qkv"
    if no_qk_norm:
        skip_norm = "qk"
    mt = cfg["model_type"]
    if mt not in SUPPORTED:
        raise ValueError(f"model_type {mt!r} is not supported by this oracle")
    gemma = mt == "gemma3_text"
    prf = cfg.get("partial_rotary_factor", 1.0)
    if prf != 1.0:
        raise ValueError(f"partial_rotary_factor {prf} is not supported by this oracle")
    if mt in ("qwen2", "qwen3") and cfg.get("use_sliding_window"):
        raise ValueError("use_sliding_window true is not supported by this oracle")

    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    D = head_dim_of(cfg)
    eps = float(cfg.get("rms_norm_eps", 1e-6))
    n_rep = H // KV
    T = len(tokens)
    layer_types = layer_types_of(cfg)
    act_name = cfg.get("hidden_activation") or cfg.get("hidden_act") or "silu"
    if gemma:
        scaling = float(cfg["query_pre_attn_scalar"]) ** -0.5
        norm_off = 1.0
        tied = cfg.get("tie_word_embeddings", True)
        attn_cap = cfg.get("attn_logit_softcapping")
        final_cap = cfg.get("final_logit_softcapping")
    else:
        scaling = D ** -0.5
        norm_off = 0.0
        tied = cfg.get("tie_word_embeddings", False)
        attn_cap = final_cap = None
    has_qk_norm = mt in ("qwen3", "gemma3_text")
    if mt == "qwen2":
        bias_q = bias_k = bias_v = True
        bias_o = False
    else:
        bias_q = bias_k = bias_v = bias_o = bool(cfg.get("attention_bias", False))
    mlp_bias = mt == "llama" and bool(cfg.get("mlp_bias", False))

    def lin(x, name, bias, zero=False):
        y = x @ W[name + ".weight"].T
        if bias and not zero:
            y = y + W[name + ".bias"]
        return y

    # RoPE tables per layer type
    rope = {}
    for lt in set(layer_types):
        theta, sc = rope_of(cfg, lt)
        rope[lt] = cos_sin(inv_freq(theta, D, sc, no_rope_scaling, llama3_medium), T, hf_f32_rope)

    ids = torch.tensor(tokens, dtype=torch.long)
    h = W["model.embed_tokens.weight"][ids]
    if gemma:
        h = h * math.sqrt(cfg["hidden_size"])

    t_idx = torch.arange(T)
    causal = t_idx[None, :] > t_idx[:, None]           # [q, k] True = masked

    for li in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{li}."
        lt = layer_types[li]
        cos, sin = rope[lt]
        mask = causal
        if lt == "sliding_attention":
            win = cfg["sliding_window"]
            # masking_utils.sliding_window_overlay: keep kv_idx > q_idx - sliding_window
            mask = mask | (t_idx[None, :] <= t_idx[:, None] - win)

        x = rms_norm(h, W[p + "input_layernorm.weight"], eps, norm_off)
        q = lin(x, p + "self_attn.q_proj", bias_q, "q" in zero_bias).view(T, H, D)
        k = lin(x, p + "self_attn.k_proj", bias_k, "k" in zero_bias).view(T, KV, D)
        v = lin(x, p + "self_attn.v_proj", bias_v, "v" in zero_bias).view(T, KV, D)

        def qk_norm(q, k):
            # per head, over head_dim, with the q_norm / k_norm weights [head_dim]
            if has_qk_norm and "q" not in skip_norm:
                q = rms_norm(q, W[p + "self_attn.q_norm.weight"], eps, norm_off)
            if has_qk_norm and "k" not in skip_norm:
                k = rms_norm(k, W[p + "self_attn.k_norm.weight"], eps, norm_off)
            return q, k

        if not qk_norm_after_rope:
            q, k = qk_norm(q, k)                        # HF: norm, then RoPE
        q = rope_apply(q, cos, sin, rope_interleaved)
        k = rope_apply(k, cos, sin, rope_interleaved)
        if qk_norm_after_rope:
            q, k = qk_norm(q, k)
        # repeat_kv: query head hq reads KV head hq // n_rep
        k = k.repeat_interleave(n_rep, dim=1)
        v = v.repeat_interleave(n_rep, dim=1)
        s = torch.einsum("qhd,khd->hqk", q, k) * scaling
        if attn_cap:
            s = torch.tanh(s / attn_cap) * attn_cap
        s = s.masked_fill(mask[None, :, :], float("-inf"))
        a = torch.softmax(s, dim=-1)
        o = torch.einsum("hqk,khd->qhd", a, v).reshape(T, H * D)
        o = lin(o, p + "self_attn.o_proj", bias_o)
        if gemma:
            o = rms_norm(o, W[p + "post_attention_layernorm.weight"], eps, norm_off)
            h = h + o
            x = rms_norm(h, W[p + "pre_feedforward_layernorm.weight"], eps, norm_off)
        else:
            h = h + o
            x = rms_norm(h, W[p + "post_attention_layernorm.weight"], eps, norm_off)
        m = act(act_name, lin(x, p + "mlp.gate_proj", mlp_bias)) * lin(x, p + "mlp.up_proj", mlp_bias)
        m = lin(m, p + "mlp.down_proj", mlp_bias)
        if gemma:
            m = rms_norm(m, W[p + "post_feedforward_layernorm.weight"], eps, norm_off)
        h = h + m

    h = rms_norm(h, W["model.norm.weight"], eps, norm_off)
    if tied:
        head = W["model.embed_tokens.weight"]
    else:
        if "lm_head.weight" not in W:
            raise ValueError("tie_word_embeddings is false but lm_head.weight is missing")
        head = W["lm_head.weight"]
    logits = h @ head.T
    if final_cap:
        logits = torch.tanh(logits / final_cap) * final_cap
    return logits


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    W = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    return cfg, W


def rel_l2(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def save_f32(path, logits, last=None):
    arr = logits.detach().numpy() if torch.is_tensor(logits) else logits
    if last:
        arr = arr[-last:]
    np.ascontiguousarray(arr, dtype="<f4").tofile(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--tokens", help="tokens.json (default MODEL_DIR/tokens.json)")
    ap.add_argument("--key", default="tokens", help="list in tokens.json to use")
    ap.add_argument("--out", help="output .f32 (default: print a summary only)")
    ap.add_argument("--last", type=int, help="store only the last N positions")
    ap.add_argument("--no-rope-scaling", action="store_true", help="feature off: plain RoPE")
    ap.add_argument("--zero-qkv-bias", action="store_true", help="feature off: q/k/v biases zeroed")
    ap.add_argument("--no-qk-norm", action="store_true", help="feature off: skip q_norm/k_norm")
    ap.add_argument("--hf-f32-rope", action="store_true",
                    help="RoPE angles and cos/sin in float32, as transformers computes them")
    ap.add_argument("--compare", help="an .f32 file to compare with (relative L2)")
    a = ap.parse_args()

    cfg, W = load_model(a.model_dir)
    with open(a.tokens or os.path.join(a.model_dir, "tokens.json")) as f:
        tokens = json.load(f)[a.key]
    logits = forward(cfg, W, tokens, a.no_rope_scaling, a.zero_qkv_bias, a.no_qk_norm, a.hf_f32_rope)
    arr = logits.numpy()
    if a.last:
        arr = arr[-a.last:]
    print(f"{cfg['model_type']}: {len(tokens)} tokens, logits {list(arr.shape)}, "
          f"range [{arr.min():.4f}, {arr.max():.4f}], std {arr.std():.4f}")
    if a.out:
        save_f32(a.out, arr)
        print(f"wrote {a.out}")
    if a.compare:
        ref = np.fromfile(a.compare, dtype="<f4").astype(np.float64)
        if ref.size != arr.size:
            sys.exit(f"{a.compare}: {ref.size} values, expected {arr.size}")
        ref = ref.reshape(arr.shape)
        print(f"relative L2 vs {a.compare}: {rel_l2(arr, ref):.3e}, "
              f"max abs diff {np.abs(arr - ref).max():.3e}, "
              f"argmax agrees at {(arr.argmax(-1) == ref.argmax(-1)).sum()}/{arr.shape[0]}")


if __name__ == "__main__":
    main()
