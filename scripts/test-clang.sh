#!/usr/bin/env bash
# Builds the whole tree with clang, warnings as errors (the project's
# warning_level=3 plus -Wshadow, -Wstrict-prototypes, -Wmissing-prototypes),
# in build-clang/, and runs the test suites there (the sanitizer build and
# the fuzzing stay on test.sh's compilers). Exits non-zero on any failure.
#
#   scripts/test-clang.sh            every suite
#   scripts/test-clang.sh -- ARGS    extra arguments for `meson test`
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
plinth_install_deps
source scripts/deps-portable.sh
plinth_install_clang_deps
bash scripts/fetch-tokenizer.sh >/dev/null

extra=()
if [ "${1:-}" = "--" ]; then shift; extra=("$@"); fi

dir=build-clang
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang meson setup "$dir" -Dwerror=true >/dev/null
fi
grep -q "C compiler for the host machine: clang" "$dir/meson-logs/meson-log.txt" ||
  { echo "test-clang.sh: $dir is not a clang build (remove it)" >&2; exit 1; }
echo "== clang: build ($(clang --version | head -1))"
ninja -C "$dir" >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; exit 1; }
echo "== clang: test"
set +e
meson test -C "$dir" --print-errorlogs "${extra[@]}" | tee "$dir/test.out"
rc=${PIPESTATUS[0]}
set -e
log="$dir/meson-logs/testlog.txt"
ok=$(grep -cE '^ok ' "$log" || true)
bad=$(grep -cE '^not ok ' "$log" || true)
if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
  bad=$(awk '/^(Fail|Timeout):/ {n += $2} END {print n + 0}' "$dir/test.out")
  [ "$bad" -gt 0 ] || bad=1
fi
echo "clang: $ok passed, $bad failed"
exit "$rc"
