#!/usr/bin/env bash
# plinth's test command (CI runs exactly this): installs what is missing,
# builds with warnings as errors, runs every test suite, then runs them again
# under AddressSanitizer + UndefinedBehaviorSanitizer, then fuzzes every
# libFuzzer harness of tests/fuzz/ for 25 s each (scripts/fuzz.sh: clang,
# ASan+UBSan, build-fuzz/; a finding prints its input and fails the run).
# Exits non-zero on any failure. Quick when nothing changed (but the
# fuzzing, a few minutes).
#
#   ./test.sh                 everything
#   ./test.sh --no-sanitize   skip the sanitizer build and the fuzzing (faster local loop)
#   ./test.sh --no-fuzz       skip the fuzzing only
#   ./test.sh --fuzz SECONDS  only fuzz, SECONDS per harness (no other suite):
#                             the longer local run; the working corpus grows
#                             in build-fuzz/fuzz-corpus/ from run to run
#   ./test.sh -- ARGS         extra arguments for `meson test` (e.g. --suite unit)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh
plinth_install_deps
bash scripts/fetch-tokenizer.sh >/dev/null   # the Gemma 3 tokenizer.json, cached in .cache/

sanitize=1
fuzz=1
fuzz_only=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-sanitize) sanitize=0 ;;
    --no-fuzz) fuzz=0 ;;
    --fuzz)
      [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "test.sh: --fuzz needs SECONDS (per harness)" >&2; exit 2; }
      fuzz_only=$2; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "test.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

setup() { # dir, meson options...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null
  fi
}

run_suite() { # dir, label
  local dir=$1 label=$2 rc=0
  echo "== $label: build"
  ninja -C "$dir" >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; return 1; }
  echo "== $label: test"
  set +e
  meson test -C "$dir" --print-errorlogs "${extra[@]}" | tee "$dir/test.out"
  rc=${PIPESTATUS[0]}
  set -e
  # Count Criterion's individual test cases from the TAP in meson's log.
  local log="$dir/meson-logs/testlog.txt" ok=0 bad=0
  if [ -f "$log" ]; then
    ok=$(grep -cE '^ok ' "$log" || true)
    bad=$(grep -cE '^not ok ' "$log" || true)
  fi
  # A binary that failed without a "not ok" line (a crash, a leak report, a
  # timeout) still counts: never report 0 failed for a failing run.
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
    bad=$(awk '/^(Fail|Timeout):/ {n += $2} END {print n + 0}' "$dir/test.out")
    [ "$bad" -gt 0 ] || bad=1
  fi
  echo "$label: $ok passed, $bad failed"
  total_ok=$((total_ok + ok)); total_bad=$((total_bad + bad))
  return $rc
}

if [ -n "$fuzz_only" ]; then
  exec bash scripts/fuzz.sh "$fuzz_only"
fi

total_ok=0; total_bad=0; status=0
setup build -Dwerror=true
run_suite build "plain" || status=1
if [ "$sanitize" = 1 ]; then
  setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug
  run_suite build-asan "asan+ubsan" || status=1
fi
fuzz_result=""
if [ "$sanitize" = 1 ] && [ "$fuzz" = 1 ]; then
  echo "== fuzz: 25 s per harness"
  if bash scripts/fuzz.sh 25; then fuzz_result="; fuzzing: no finding"
  else fuzz_result="; fuzzing: FAILED (see above)"; status=1; fi
fi
echo
echo "all: $total_ok passed, $total_bad failed$fuzz_result"
[ "$total_bad" -eq 0 ] || status=1
exit $status
