#!/usr/bin/env bash
# The big-endian check: cross-builds libplinth, the ref and cpu plugins and
# the plinth command for s390x (cross/s390x-linux-gnu.ini, -Dwerror=true, no
# tests, no vulkan) in build-s390x/ and runs them under qemu-user:
#   1. plinth devices: the cpu plugin on an architecture with no SIMD level
#      of its own (cpu_isa_generic.c) says isa=scalar
#   2. plinth logits on the tiny Gemma fails, exit status 1, with the
#      byte-order refusal naming the folder (safetensors are little-endian,
#      nothing is byte-swapped)
#   3. plinth conformance --backend=cpu: cpu (scalar, 1 and 2 threads)
#      against ref on a big-endian host, every case
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
plinth_install_deps
source scripts/deps-portable.sh
plinth_install_s390x_deps

dir=build-s390x
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" --cross-file cross/s390x-linux-gnu.ini -Dtests=false -Dvulkan=disabled \
    -Dwerror=true >/dev/null
fi
echo "== s390x: build ($(s390x-linux-gnu-gcc --version | head -1))"
ninja -C "$dir" tools/plinth backends/ref/plinth-ref.so backends/cpu/plinth-cpu.so \
  >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; exit 1; }
run() { qemu-s390x-static "$dir/tools/plinth" "$@"; }
ok=0; bad=0
check() { # what, command...: counts the command's verdict (no exit on failure)
  local what=$1; shift
  if "$@"; then ok=$((ok + 1)); echo "   ok: $what"; else bad=$((bad + 1)); echo "   FAILED: $what"; fi
}
has() { [[ "$1" == $2 ]]; } # string, glob

line=$(run devices 2>&1 | grep -m1 "isa=" || true)
echo "== s390x: plinth devices: $line"
check "the cpu plugin runs its scalar level" has "$line" "*isa=scalar*"

set +e
rm -f "$dir/logits.bin"
msg=$(run logits tests/data/gemma3-tiny-a --tokens 2,17 --out "$dir/logits.bin" --backend cpu 2>&1)
rc=$?
set -e
echo "== s390x: plinth logits: exit $rc: $msg"
check "exit status 1" [ "$rc" -eq 1 ]
check "a checkpoint is refused on a big-endian host, naming it" \
  has "$msg" "*tests/data/gemma3-tiny-a*little-endian*big-endian*"
check "no logits written" [ ! -s "$dir/logits.bin" ]

set +e
run conformance --backend=cpu >"$dir/conformance.out" 2>&1
rc=$?
set -e
grep -E "^cpu .*isa=scalar|^OK|^FAIL" "$dir/conformance.out" || true
check "conformance: exit status 0" [ "$rc" -eq 0 ]
check "conformance: cpu against ref on a big-endian host, 0 failures" \
  grep -q "^OK: 0 failure" "$dir/conformance.out"

echo "s390x: $ok passed, $bad failed"
[ "$bad" -eq 0 ]
