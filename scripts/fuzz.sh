#!/usr/bin/env bash
# Bounded fuzzing of every libFuzzer harness in tests/fuzz/ (test.sh runs it
# after the sanitizer suite; `./test.sh --fuzz SECONDS` runs it alone).
#
#   scripts/fuzz.sh [SECONDS [HARNESS...]]    default: 25 s each, every harness
#
# Builds build-fuzz (clang, ASan+UBSan, -fsanitize=fuzzer; only the fuzz
# targets and what they link) and runs each harness for SECONDS on one core
# (never -jobs/-workers), from its seeds (tests/fuzz/corpus/NAME), its
# regression inputs (tests/fuzz/regressions/NAME) and a working corpus kept
# between runs in build-fuzz/fuzz-corpus/NAME. A crash, a time-out (one
# input over 10 s), a leak or more than 2 GB of memory is a finding: the
# input is printed (hex and base64) with the command that commits it as a
# regression, and the script exits 1. So does a harness that fails to
# build. tests/fuzz/NAME.dict and NAME.options, where present, give a
# harness its dictionary and extra libFuzzer flags. Executions and execs/s
# per harness are printed and appended to build-fuzz/fuzz-totals.tsv.
# Without clang's libFuzzer it says so and exits 0 (scripts/deps.sh
# installs it on Debian).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-25}
shift || true
dir=build-fuzz
timeout_s=10
rss_mb=2048

if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: clang not found: skipping the fuzzing run (install clang, llvm, libclang-rt-dev)"
  exit 0
fi
if [ ! -f "$dir/build.ninja" ]; then
  # The plugins (shared modules linked with --no-undefined) need clang's
  # ASan runtime as a shared library, found through an rpath.
  asan_dir=$(dirname "$(clang -print-file-name=libclang_rt.asan-x86_64.so)")
  CC=clang meson setup "$dir" -Dwerror=true -Dbuildtype=debugoptimized -Dvulkan=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false \
    "-Dc_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" \
    "-Dc_link_args=-shared-libasan -Wl,-rpath,$asan_dir" >"$dir.setup.log" 2>&1 ||
    { cat "$dir.setup.log"; exit 1; }
  rm -f "$dir.setup.log"
fi
# The harness list is tests/fuzz/meson.build's: every libfuzzer_* target
# (build.ninja regenerated first, so a harness added since is listed).
ninja -C "$dir" build.ninja >/dev/null 2>&1 || true
mapfile -t all < <(ninja -C "$dir" -t targets all 2>/dev/null |
  sed -n 's|^tests/fuzz/libfuzzer_\([a-z0-9_]*\): .*|\1|p' | sort -u)
if [ "${#all[@]}" -eq 0 ]; then
  echo "fuzz: $dir has no libfuzzer_* targets (clang without -fsanitize=fuzzer?): skipping"
  exit 0
fi
names=("$@")
[ "${#names[@]}" -gt 0 ] || names=("${all[@]}")

status=0
echo "== fuzz: build (${names[*]})"
targets=()
for n in "${names[@]}"; do targets+=("tests/fuzz/libfuzzer_$n"); done
# -k 0: one harness that does not build must not stop the others.
ninja -C "$dir" -k 0 "${targets[@]}" >"$dir/fuzz-build.log" 2>&1 || true

# verify_asan_link_order=0: with the shared runtime, libFuzzer's libstdc++
# comes before it in the executables' library list, which ASan's start-up
# check refuses; libstdc++ defines no malloc, so ASan's still wins.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:verify_asan_link_order=0}
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export PLINTH_PLUGIN_PATH=""   # the build tree's plugins
printf '%-18s %8s %12s %10s  %s\n' harness seconds executions 'execs/s' result
for n in "${names[@]}"; do
  bin="$dir/tests/fuzz/libfuzzer_$n"
  # Built iff ninja has nothing left to do for it (a failed build leaves
  # it out of date, or an old binary that must not be fuzzed).
  if ! ninja -C "$dir" -n "tests/fuzz/libfuzzer_$n" 2>/dev/null | grep -q "no work to do"; then
    printf '%-18s %8s %12s %10s  %s\n' "$n" - - - "NOT BUILT (see $dir/fuzz-build.log)"
    status=1
    continue
  fi
  work="$dir/fuzz-corpus/$n" art="$dir/fuzz-artifacts/$n"
  mkdir -p "$work" "$art"
  rm -f "$art"/*
  seeds=()
  for d in "tests/fuzz/corpus/$n" "tests/fuzz/regressions/$n"; do [ -d "$d" ] && seeds+=("$d"); done
  # Per harness: a dictionary (NAME.dict) and extra libFuzzer flags, one a
  # line (NAME.options; # starts a comment line).
  flags=()
  [ -f "tests/fuzz/$n.dict" ] && flags+=("-dict=tests/fuzz/$n.dict")
  if [ -f "tests/fuzz/$n.options" ]; then
    while read -r line; do
      case "$line" in ''|'#'*) ;; *) flags+=("$line") ;; esac
    done <"tests/fuzz/$n.options"
  fi
  log="$dir/fuzz-$n.log"
  set +e
  "$bin" -max_total_time="$seconds" -timeout="$timeout_s" -rss_limit_mb="$rss_mb" \
    -print_final_stats=1 -artifact_prefix="$art/" "${flags[@]}" "$work" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  result=ok
  if [ "$rc" -ne 0 ] || compgen -G "$art/*" >/dev/null; then result=FINDING; status=1; fi
  printf '%-18s %8s %12s %10s  %s\n' "$n" "$seconds" "${execs:-?}" "${rate:-?}" "$result"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$n" "$seconds" "${execs:-0}" "${rate:-0}" \
    "$result" >>"$dir/fuzz-totals.tsv"
  if [ "$result" != ok ]; then
    echo "---- $n: libFuzzer exited $rc; the end of its log ($log):"
    grep -v '^#[0-9]' "$log" | tail -40
    for f in "$art"/*; do
      [ -f "$f" ] || continue
      sum=$(sha1sum "$f" | cut -c1-40)
      echo "---- input $(basename "$f") ($(stat -c %s "$f") bytes), hex:"
      od -A x -t x1z -v "$f" | head -64
      echo "---- base64:"
      base64 -w 0 "$f"; echo
      echo "---- to keep it as a regression input:"
      echo "echo '$(base64 -w 0 "$f")' | base64 -d > tests/fuzz/regressions/$n/$sum"
    done
  fi
done
exit $status
