#!/usr/bin/env bash
# Builds plinth (installing what is missing) and runs the main job: list the
# backends and devices, then compile and run the built-in demo graph.
#   ./run.sh [--backend=NAME]
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh
plinth_install_deps
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >build/build.log 2>&1 || { cat build/build.log; exit 1; }
./build/tools/plinth devices
echo
./build/tools/plinth demo "$@"
