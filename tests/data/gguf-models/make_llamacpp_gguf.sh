#!/bin/sh
# Writes llama3-tiny-Q4_0.gguf: a GGUF made by llama.cpp's own quantiser, so
# plinth's reader is tested in CI on a file llama.cpp wrote (issue 14), and
# llama3-tiny-Q4_0.logits.f32: llama.cpp's logits of it for the tokens below
# ([8][512] f32; f32 KV cache, no flash attention).
#
# 1. plinth writes tests/data/llama3-tiny (+ bpe/tokenizer.json) as an f32
#    GGUF (`plinth quantize --type f32`: llama.cpp's names, q/k permuted,
#    rope_freqs, the gpt2 tokenizer);
# 2. llama.cpp b10573's llama_model_quantize turns it into Q4_0 (its choice per
#    tensor: q4_0, and q8_0 for output.weight whose rows of 64 are not whole
#    q6_K blocks);
# 3. llama.cpp computes the logits.
# llama_check.cpp (beside this script) is the few libllama calls it needs.
#
#   make_llamacpp_gguf.sh PLINTH_BUILD_DIR [LLAMA_CPP_SRC]   (default /tmp/llamacpp/src)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$1
src=${2:-/tmp/llamacpp/src}
lib=$src/build-cpu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
g++ -O1 -std=c++17 -I"$src/include" -I"$src/ggml/include" "$here/llama_check.cpp" -o "$tmp/llama_check" \
  "$lib/src/libllama.a" "$lib/ggml/src/libggml.a" "$lib/ggml/src/libggml-cpu.a" \
  "$lib/ggml/src/libggml-base.a" -fopenmp -lpthread -ldl
mkdir "$tmp/m"
cp "$here/../llama3-tiny/config.json" "$here/../llama3-tiny/model.safetensors" "$here/bpe/tokenizer.json" "$tmp/m/"
"$build/tools/plinth" quantize "$tmp/m" "$tmp/f32.gguf" --type f32
"$tmp/llama_check" quantize "$tmp/f32.gguf" "$here/llama3-tiny-Q4_0.gguf" 2
"$tmp/llama_check" logits "$here/llama3-tiny-Q4_0.gguf" 510,39,301,385,289,269,509,11 \
  "$here/llama3-tiny-Q4_0.logits.f32"
ls -l "$here/llama3-tiny-Q4_0.gguf" "$here/llama3-tiny-Q4_0.logits.f32"
