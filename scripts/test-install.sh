#!/usr/bin/env bash
# test-install.sh BUILD_DIR — the install stands alone.
#
# Copies the source tree (tracked and untracked-but-not-ignored files) to a
# temporary folder, configures, builds and installs it into a temporary
# prefix, DELETES the copied source and build trees, and then, with no
# LD_LIBRARY_PATH and no PLINTH_PLUGIN_PATH, checks that the installed
# prefix works on its own:
#   - libplinth exports only plinth_* symbols
#   - `plinth devices` lists the shipped backends from <libdir>/plinth,
#     nothing from any build tree, no template
#   - `plinth conformance` finds its installed expectations and prints the
#     same table (every column but the times) as the build tree's plinth
#     in BUILD_DIR
#   - `plinth init-random` + `plinth run` + `plinth logits` work
#   - the installed template builds out of tree with its own meson.build and
#     with one `cc $(pkg-config --cflags --libs plinth)` line, loads with
#     --plugin-dir, and passes its conformance cases
#   - the installed example (share/plinth/examples/chat_two_sessions.c)
#     builds with one cc line and chats with two sessions
# Exits non-zero on the first failure, saying what failed. Ends with
# `install: N passed, M failed`, counting the checks above (M is 0 or 1: the
# first failure stops it, since later checks need what it built).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: test-install.sh BUILD_DIR (a configured and built tree to compare with)}
build=$(cd "$build" && pwd)

tmp=$(mktemp -d /tmp/plinth-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0
fail() {
  echo "test-install: FAILED: $*" >&2
  echo "install: $passed passed, 1 failed"
  exit 1
}
step() { echo "test-install: $*"; }
ok() { passed=$((passed + 1)); echo "   ok: $*"; }

step "copying the source tree to $tmp/src"
mkdir -p "$tmp/src"
# (-P: a symlink is copied as a link, not followed: a .cache linked in from
# another checkout is not ignored by /.cache/ and is no folder to copy)
(cd "$here" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 cp -P --parents -t "$tmp/src" 2>/dev/null) || fail "copying the source tree"
# The tokenizer fixture the run needs lives in the ignored cache: keep it
# outside the source copy, as a user would keep their models.
tok="$here/.cache/gemma3-tokenizer/tokenizer.json"
[ -f "$tok" ] || fail "missing $tok (scripts/fetch-tokenizer.sh fetches it)"
cp "$tok" "$tmp/tokenizer.json"
cp -r "$here/tests/data/gemma3-tiny-a" "$tmp/tiny-golden"

step "configure, build, install into $tmp/prefix"
meson setup "$tmp/build" "$tmp/src" --prefix="$tmp/prefix" -Dtests=false \
    -Dbuildtype=debugoptimized >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; fail "meson setup"; }
ninja -C "$tmp/build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "build"; }
meson install -C "$tmp/build" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "install"; }
ok "configured, built and installed without the tests"
rm -rf "$tmp/src" "$tmp/build"
step "source and build trees deleted"

prefix=$tmp/prefix
plinth=$prefix/bin/plinth
unset LD_LIBRARY_PATH PLINTH_PLUGIN_PATH
lib=$(find "$prefix" -name 'libplinth.so.*' -type f | head -n1)
[ -n "$lib" ] || fail "no libplinth.so in $prefix"
pcdir=$(dirname "$(find "$prefix" -name plinth.pc | head -n1)")
[ -f "$pcdir/plinth.pc" ] || fail "no plinth.pc in $prefix"
export PKG_CONFIG_PATH=$pcdir

step "exported symbols of the installed $lib"
bash "$here/tests/abi/exports.sh" "$lib" || fail "libplinth exports non-plinth_ symbols"
ok "only plinth_* symbols exported"

step "plinth devices (no LD_LIBRARY_PATH)"
"$plinth" devices >"$tmp/devices.txt" 2>&1 || { cat "$tmp/devices.txt"; fail "plinth devices"; }
cat "$tmp/devices.txt"
plugindir=$(pkg-config --variable=plugindir plinth)
[ -n "$plugindir" ] || fail "plinth.pc has no plugindir"
grep -q "^ref .*($plugindir/plinth-ref.so)" "$tmp/devices.txt" || fail "ref not loaded from $plugindir"
grep -q "^cpu .*($plugindir/plinth-cpu.so)" "$tmp/devices.txt" || fail "cpu not loaded from $plugindir"
! grep -q "shadowed by" "$tmp/devices.txt" || fail "the installed plinth still sees another tree's plugins"
! grep -q "$build" "$tmp/devices.txt" || fail "the installed plinth searches the build tree"
! grep -qi "template" "$tmp/devices.txt" || fail "the template is installed as a backend"
[ -f "$prefix/share/plinth/template/template.c" ] || fail "template source not installed"
ok "plinth devices: ref and cpu from plugindir, no build tree, the template as source only"

step "plinth conformance: installed against the build tree's"
table() { # conformance output -> the table rows without the time column
    sed -n '/^backend /,/^$/p' "$1" | sed 's/ *[0-9.]*s$//'
}
"$plinth" conformance --seed=42 >"$tmp/conf-installed.txt" 2>&1 ||
    { cat "$tmp/conf-installed.txt"; fail "installed plinth conformance"; }
(cd "$build" && ./tools/plinth conformance --seed=42) >"$tmp/conf-build.txt" 2>&1 ||
    { cat "$tmp/conf-build.txt"; fail "build-tree plinth conformance"; }
table "$tmp/conf-installed.txt" >"$tmp/t1"
table "$tmp/conf-build.txt" | sed "s|$build/[^ ]*||g" >"$tmp/t2"
sed -i "s|$plugindir/[^ ]*||g" "$tmp/t1"
if ! diff -u "$tmp/t2" "$tmp/t1"; then
    fail "the installed conformance table differs from the build tree's"
fi
cat "$tmp/conf-installed.txt"
ok "plinth conformance from the installed expectations: the build tree's table"

step "init-random, run, logits"
# The tiny golden shape with Gemma 3's vocabulary, so that run has a tokenizer.
sed 's/"vocab_size": 512/"vocab_size": 262144/' "$tmp/tiny-golden/config.json" >"$tmp/tiny.json"
"$plinth" init-random "$tmp/tiny" --like "$tmp/tiny.json" --tokenizer "$tmp/tokenizer.json" \
    >/dev/null || fail "plinth init-random"
"$plinth" run "$tmp/tiny" -p "Hello" -n 4 --temp 0 >"$tmp/run.txt" 2>"$tmp/run.err" ||
    { cat "$tmp/run.err"; fail "plinth run"; }
"$plinth" logits "$tmp/tiny-golden" --tokens 2,17,9 --out "$tmp/logits.f32" ||
    fail "plinth logits"
[ "$(stat -c %s "$tmp/logits.f32")" = $((3 * 512 * 4)) ] || fail "logits of the wrong size"
ok "plinth init-random, run, logits"

step "the template out of tree: its own meson.build"
cp -r "$prefix/share/plinth/template" "$tmp/tpl"
meson setup "$tmp/tpl/build" "$tmp/tpl" >"$tmp/tpl.log" 2>&1 &&
    ninja -C "$tmp/tpl/build" >>"$tmp/tpl.log" 2>&1 || { cat "$tmp/tpl.log"; fail "template with meson"; }
"$plinth" devices --plugin-dir="$tmp/tpl/build" >"$tmp/tpl-devices.txt" 2>&1 ||
    { cat "$tmp/tpl-devices.txt"; fail "plinth devices with the template"; }
grep -q "^template .*($tmp/tpl/build/plinth-template.so)" "$tmp/tpl-devices.txt" ||
    { cat "$tmp/tpl-devices.txt"; fail "the out-of-tree template is not listed"; }
ok "the template built with its own meson.build, loaded with --plugin-dir"

step "the template out of tree: one cc line"
mkdir -p "$tmp/cc"
# shellcheck disable=SC2046
cc -shared -fPIC -fvisibility=hidden -std=c11 -Wall -Wextra -Werror \
    $(pkg-config --cflags --libs plinth) "$tmp/tpl/template.c" -o "$tmp/cc/plinth-template.so" ||
    fail "cc \$(pkg-config --cflags --libs plinth) template.c"
"$plinth" conformance --plugin="$tmp/cc/plinth-template.so" --seed=42 >"$tmp/tpl-conf.txt" 2>&1 ||
    { cat "$tmp/tpl-conf.txt"; fail "conformance of the out-of-tree template"; }
grep -q "^OK: 0 failure" "$tmp/tpl-conf.txt" || { cat "$tmp/tpl-conf.txt"; fail "template conformance"; }
tail -n 4 "$tmp/tpl-conf.txt"
ok "the template built with one cc line, its conformance passed"

step "the installed example out of tree: one cc line, two sessions over one model"
ex="$prefix/share/plinth/examples/chat_two_sessions.c"
[ -f "$ex" ] || fail "example source not installed ($ex)"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror "$ex" $(pkg-config --cflags --libs plinth) \
    -Wl,-rpath,"$(pkg-config --variable=libdir plinth)" -o "$tmp/cc/chat_two_sessions" ||
    fail "cc chat_two_sessions.c \$(pkg-config --cflags --libs plinth)"
"$tmp/cc/chat_two_sessions" "$tmp/tiny" -n 4 >"$tmp/chat.txt" 2>"$tmp/chat.err" ||
    { cat "$tmp/chat.err"; fail "the example chat_two_sessions"; }
[ "$(grep -c '^\[[ab]\] assistant: ' "$tmp/chat.txt")" = 4 ] ||
    { cat "$tmp/chat.txt"; fail "the example did not give four replies"; }
ok "the installed example built with one cc line and chatted with two sessions"

echo "test-install: OK: the installed prefix works with its source and build trees gone"
echo "install: $passed passed, 0 failed"
