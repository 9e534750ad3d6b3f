#!/usr/bin/env python3
"""Writes tests/data/gguf/tiny.gguf with llama.cpp's own GGUF writer (gguf-py),
so plinth's reader is tested on a file it did not write.

    make_tiny_gguf.py [OUT.gguf]     (default: tiny.gguf beside this script)

gguf-py is found in $GGUF_PY, else /tmp/llamacpp/src/gguf-py (llama.cpp
b10573). Deterministic: the same gguf-py writes the same bytes.

What it holds (test_gguf.c checks every value against this script):
  metadata   one key of every GGUF value type, "test.<type>", and one array
             of every element type, "test.arr_<type>"; general.alignment 64
  tensors    t.f32 [3, 5], t.f16 [2, 7], t.bf16 [4, 3], t.i32 [6],
             t.4d [2, 3, 1, 4] (f32), t.q5_K [1, 256] (a type plinth lists
             but does not compute with),
             t.q8_0, t.q4_0 [4, 64]: gguf-py's quantisation (bit-exact with
               ggml's reference) of t.q8_0.src, t.q4_0.src (f32, the same
               shape);
             t.q4_K, t.q6_K [2, 256]: random valid blocks, with gguf-py's
               dequantisation of them in t.q4_K.deq, t.q6_K.deq (f32)
  Values are exactly representable where the test compares them exactly.
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, os.environ.get("GGUF_PY", "/tmp/llamacpp/src/gguf-py"))
import numpy as np  # noqa: E402
import gguf  # noqa: E402
from gguf import GGMLQuantizationType as Q, GGUFValueType as V  # noqa: E402

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("tiny.gguf")
rng = np.random.default_rng(20240614)
w = gguf.GGUFWriter(str(out), arch="plinth-test")
w.add_name("tiny")
w.add_custom_alignment(64)

# One scalar of every type.
w.add_uint8("test.u8", 200)
w.add_int8("test.i8", -100)
w.add_uint16("test.u16", 60000)
w.add_int16("test.i16", -30000)
w.add_uint32("test.u32", 4000000000)
w.add_int32("test.i32", -2000000000)
w.add_float32("test.f32", 1.5)
w.add_bool("test.bool", True)
w.add_string("test.string", "h\u00e9llo w\u00f6rld")
w.add_uint64("test.u64", 2**63 + 5)          # above INT64_MAX: meta_int refuses it
w.add_uint64("test.u64_small", 12345678901234)
w.add_int64("test.i64", -(2**62) - 3)
w.add_float64("test.f64", 3.141592653589793)
w.add_bool("test.bool_false", False)

# One array of every element type.
arrays = {
    "u8": (V.UINT8, [1, 2, 255]),
    "i8": (V.INT8, [-128, 0, 127]),
    "u16": (V.UINT16, [0, 65535]),
    "i16": (V.INT16, [-32768, 32767, 5]),
    "u32": (V.UINT32, [4294967295, 7]),
    "i32": (V.INT32, [-2147483648, 2147483647, -1, 0]),
    "f32": (V.FLOAT32, [0.5, -2.25, 1024.0]),
    "bool": (V.BOOL, [True, False, True]),
    "u64": (V.UINT64, [18446744073709551615, 3]),
    "i64": (V.INT64, [-9223372036854775808, 9223372036854775807]),
    "f64": (V.FLOAT64, [0.1, -1e300]),
    "str": (V.STRING, ["a", "", "h\u00e9llo", "nul\x00inside"]),
}
for name, (t, vals) in arrays.items():
    w.add_key_value(f"test.arr_{name}", vals, V.ARRAY, sub_type=t)

# Plain tensors. Values are small multiples of 1/8 so f16 and bf16 hold
# them exactly: the test knows them as (i % 17 - 8) / 8 for element i.
def ramp(shape):
    n = int(np.prod(shape))
    return ((np.arange(n) % 17 - 8) / 8).astype(np.float32).reshape(shape)

w.add_tensor("t.f32", ramp((3, 5)))
w.add_tensor("t.f16", ramp((2, 7)).astype(np.float16))
w.add_tensor("t.bf16", gguf.quants.quantize(ramp((4, 3)), Q.BF16), raw_dtype=Q.BF16)
w.add_tensor("t.i32", (np.arange(6, dtype=np.int32) * 1000 - 2500))
w.add_tensor("t.4d", ramp((2, 3, 1, 4)))

# q8_0 and q4_0 by gguf-py's quantisers, with their sources.
for qt, name in ((Q.Q8_0, "q8_0"), (Q.Q4_0, "q4_0")):
    src = rng.standard_normal((4, 64)).astype(np.float32)
    w.add_tensor(f"t.{name}.src", src)
    w.add_tensor(f"t.{name}", gguf.quants.quantize(src, qt), raw_dtype=qt)

# q4_K and q6_K: random blocks (any bytes are a valid block once its f16
# scales are finite), and gguf-py's dequantisation of them.
def f16_bytes(values):
    return np.asarray(values, dtype=np.float16).view(np.uint8).reshape(-1, 2)

n_blocks = 2
q4k = rng.integers(0, 256, size=(n_blocks, 144), dtype=np.uint8)
q4k[:, 0:2] = f16_bytes(rng.uniform(0.001, 0.05, n_blocks))   # d
q4k[:, 2:4] = f16_bytes(rng.uniform(0.001, 0.05, n_blocks))   # dmin
q6k = rng.integers(0, 256, size=(n_blocks, 210), dtype=np.uint8)
q6k[:, 208:210] = f16_bytes(rng.uniform(0.0005, 0.01, n_blocks))  # d
for qt, name, blocks in ((Q.Q4_K, "q4_K", q4k), (Q.Q6_K, "q6_K", q6k)):
    w.add_tensor(f"t.{name}", blocks.reshape(1, -1).reshape(n_blocks, -1), raw_dtype=qt)
    w.add_tensor(f"t.{name}.deq", gguf.quants.dequantize(blocks, qt).reshape(n_blocks, 256))

q5k = rng.integers(0, 256, size=(1, 176), dtype=np.uint8)
q5k[:, 0:4] = 0
w.add_tensor("t.q5_K", q5k, raw_dtype=Q.Q5_K)

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print(f"wrote {out} ({out.stat().st_size} bytes)")
