#!/usr/bin/env bash
# Cross-builds the tree for aarch64 (cross/aarch64-linux-gnu.ini, Debian's
# gcc-aarch64-linux-gnu, warnings as errors) in build-aarch64/ and runs it
# under qemu-user: plinth devices (the NEON level chosen), the unit and abi
# suites, the conformance suite (every op and graph, cpu at isa=scalar and
# isa=neon with 1 and 2 threads, against ref), the cpu plugin's own cases
# with the kernels that ran checked per level, and the tiny Gemma golden
# test on ref and cpu. The vulkan plugin is cross-built; no arm64 Vulkan
# driver is installed, so its tests skip (with why). Exits non-zero on any
# failure; prints the qemu wall time of each step and ends with
# `aarch64: N passed, M failed`: the test cases (Criterion's TAP lines) and
# the two `plinth devices` checks.
#
# Emulated CPUs: qemu's default (`max`: NEON plus fp16, bf16, dotprod, SVE
# ...) for everything, and a Cortex-A53 (baseline ARMv8.0 NEON, none of
# those extensions) for `plinth devices` and the cpu plugin's cases: a
# kernel that used an instruction beyond the baseline would die there with
# SIGILL.
#
# Left out, for time (emulation is ~10-30x slower than native): the
# allocation-failure sweep (unit/alloc_fail), the CLI suites, fuzzing and
# the sanitizers; they run natively in ./test.sh.
#
#   scripts/test-aarch64.sh            build and run the above
#   scripts/test-aarch64.sh -- ARGS    extra arguments for `meson test`
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
plinth_install_deps
source scripts/deps-portable.sh
plinth_install_aarch64_deps
bash scripts/fetch-tokenizer.sh >/dev/null

extra=()
if [ "${1:-}" = "--" ]; then shift; extra=("$@"); fi

# --- binfmt_misc: the kernel runs aarch64 ELF files through qemu, so that
# Criterion's workers (it re-executes the test binary for every test) and
# every program a test starts run too. Registered with Debian's own entry
# (F: the interpreter is opened now, so it works in containers as well).
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/qemu-aarch64" ]; then
  [ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || true
  conf=/usr/lib/binfmt.d/qemu-aarch64.conf
  if [ -w "$binfmt/register" ] && [ -f "$conf" ]; then
    grep -v '^#' "$conf" >"$binfmt/register"
  fi
fi
[ -e "$binfmt/qemu-aarch64" ] ||
  { echo "test-aarch64.sh: cannot register qemu-aarch64 with binfmt_misc (needs root)" >&2; exit 1; }

dir=build-aarch64
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" --cross-file cross/aarch64-linux-gnu.ini \
    --cross-file "$PLINTH_AARCH64_CACHE/criterion.ini" -Dwerror=true >/dev/null
fi
echo "== aarch64: build ($(aarch64-linux-gnu-gcc --version | head -1))"
ninja -C "$dir" >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; exit 1; }
# (readelf: binutils, which gcc brings; `file` is not on a fresh machine)
readelf -h "$dir/tools/plinth" | grep -E "Machine: +AArch64" >/dev/null ||
  { echo "test-aarch64.sh: $dir/tools/plinth is not an aarch64 binary" >&2; exit 1; }

# The arm64 Criterion unpacked by deps-portable.sh.
export LD_LIBRARY_PATH="$PLINTH_AARCH64_CACHE/sysroot/usr/lib/aarch64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
status=0
total_ok=0; total_bad=0
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# --- plinth devices: the level the plugin chose, on both emulated CPUs.
for cpu in max cortex-a53; do
  t0=$(now)
  line=$(QEMU_CPU=$cpu "$dir/tools/plinth" devices 2>&1 |
         grep -m1 "isa=" || true)
  echo "== aarch64 [$cpu]: plinth devices: ${line:-NOTHING} ($(took "$t0"))"
  case "$line" in
    *isa=neon*) total_ok=$((total_ok + 1)) ;;
    *) echo "test-aarch64.sh: plinth devices did not choose isa=neon on $cpu" >&2
       total_bad=$((total_bad + 1)); status=1 ;;
  esac
done

# --- the suites, each timed. Counting as test.sh does: Criterion's TAP lines.
#
# qemu-user (7.2, Debian 12) can deadlock a child forked from a threaded
# process before it execs (seen once in a few dozen runs, on a loaded
# machine: Criterion's runner has threads and forks a worker per test).
# So every test binary runs under a watchdog (`timeout`, which kills its
# whole process group) well above its emulated run time but far below
# meson's own limits, and a binary the watchdog stopped is run once more;
# any other failure is final, and every retry is printed.
run_once() { # out file, watchdog seconds, env..., -- meson test args
  local out=$1 limit=$2; shift 2
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  set +e
  env "${envs[@]}" meson test -C "$dir" --print-errorlogs --num-processes 2 \
    --timeout-multiplier 4 --wrapper "timeout -k 10 $limit" "$@" "${extra[@]}" >"$out" 2>&1
  local rc=$?
  set -e
  return $rc
}
# (meson names its logs after the wrapper: testlog-timeout.json)
retry_list() { # the failed tests of the last run, if `timeout` ended every one of them
  python3 - "$dir/meson-logs/testlog-timeout.json" <<'PY'
import json, sys
failed = [json.loads(l) for l in open(sys.argv[1])]
failed = [t for t in failed if t.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL")]
if failed and all(t.get("returncode") in (124, 137, -9) for t in failed):
    print(" ".join(t["name"] for t in failed))
PY
}
tap_counts() { # testlog.json, names to leave out...: "ok bad" over its TAP lines
  python3 - "$@" <<'PY'
import json, re, sys
ok = bad = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    if t["name"] in sys.argv[2:]:
        continue
    out = t.get("stdout") or ""
    ok += len(re.findall(r"^ok ", out, re.M))
    bad += len(re.findall(r"^not ok ", out, re.M))
print(ok, bad)
PY
}
run() { # label, watchdog seconds, env..., -- meson test args
  local label=$1 limit=$2; shift 2
  local t0 rc=0 ok bad json="$dir/meson-logs/testlog-timeout.json" out="$dir/test-$label.out"
  local args=("$@") first="0 0"
  t0=$(now)
  echo "== aarch64: $label"
  run_once "$out" "$limit" "${args[@]}" || rc=$?
  grep -E '^ *[0-9]+/[0-9]+ ' "$out" || true
  if [ "$rc" -ne 0 ]; then
    local hung envs=()
    hung=$(retry_list)
    while [ "${args[0]}" != "--" ]; do envs+=("${args[0]}"); args=("${args[@]:1}"); done
    if [ -n "$hung" ]; then
      echo "   $label: the watchdog stopped $hung after ${limit} s (a qemu-user hang): once more"
      cp "$out" "$out.first"
      # shellcheck disable=SC2086
      first=$(tap_counts "$json" $hung)
      rc=0
      # shellcheck disable=SC2086
      run_once "$out" "$limit" "${envs[@]}" -- $hung || rc=$?
      grep -E '^ *[0-9]+/[0-9]+ ' "$out" || true
    fi
  fi
  read -r ok bad <<<"$(tap_counts "$json")"
  ok=$((ok + ${first% *})); bad=$((bad + ${first#* }))
  if [ "$rc" -ne 0 ]; then
    cat "$out"
    [ "$bad" -gt 0 ] || bad=1
    status=1
  fi
  echo "   $label: $ok passed, $bad failed ($(took "$t0") under qemu)"
  total_ok=$((total_ok + ok)); total_bad=$((total_bad + bad))
}
t_all=$(now)
run unit-abi 240 -- graph planner compile executor safetensors plugin_header_alone \
  api_header_alone loader abi_layout exports host_interpose lifetime cpu_cache
run conformance 600 -- conformance ref_values template cpu_vs_ref
run gemma 400 -- gemma
run cpu-cortex-a53 240 QEMU_CPU=cortex-a53 -- cpu_vs_ref
echo
echo "aarch64: $total_ok passed, $total_bad failed ($(took "$t_all") under qemu)"
exit $status
