#!/usr/bin/env bash
# Installs what the portability checks need, if missing: clang for
# scripts/test-clang.sh; the aarch64 cross toolchain, the arm64 multiarch
# libraries and qemu-user for scripts/test-aarch64.sh; the s390x ones for
# scripts/test-s390x.sh. Sourced by them and by test.sh (after
# scripts/deps.sh, whose packages they also need). Idempotent: when
# everything is there it runs no apt-get at all (dpkg-query only).
#
#   plinth_install_portable_deps   all of the below, with one apt-get update
#                                  (test.sh: a fresh machine gets it all at once)
#   plinth_install_clang_deps      clang
#   plinth_install_aarch64_deps    arm64 as a dpkg foreign architecture, the
#                                  cross gcc, arm64 libcjson/libvulkan,
#                                  qemu-user-static, and Criterion for arm64
#                                  unpacked under .cache/aarch64/ (below)
#   plinth_install_s390x_deps      s390x (big-endian) likewise: the cross gcc,
#                                  s390x libcjson, qemu-user-static
#
# A fresh Debian 12 machine knows no foreign architecture: `dpkg
# --add-architecture arm64 s390x` comes first, and the package lists must be
# updated after it (apt has no arm64 lists yet); plinth_apt_install does that
# update once, just before it installs, and only if something is missing.
#
# Criterion for arm64: libcriterion-dev:arm64 cannot be installed beside the
# native libcriterion-dev that the main build needs (its libnanomsg-dev and
# libhttp-parser-dev are not multiarch, so apt removes the amd64 ones, and
# Debian 12's arm64 libnanomsg5 is a different build from the amd64 one).
# So the arm64 runtime libraries alone (libcriterion3, libnanomsg5) are
# fetched with `apt-get download` and unpacked into .cache/aarch64/sysroot;
# the headers are the native package's (the same files on every
# architecture), and .cache/aarch64/pkgconfig/criterion.pc points there.
set -euo pipefail

PLINTH_CLANG_DEBS=(clang)
PLINTH_AARCH64_DEBS=(
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross   # the cross compiler and its libc
  qemu-user-static                              # runs aarch64 binaries (binfmt_misc)
  libcjson-dev:arm64                            # what libplinth links
  libpcre2-dev:arm64 libutf8proc-dev:arm64      # ... and its tokenizer
  libvulkan-dev:arm64                           # the vulkan plugin's headers and .pc
  libffi8:arm64 libgit2-1.5:arm64               # what libcriterion3:arm64 needs
)
# Unpacked, not installed (see above).
PLINTH_AARCH64_UNPACKED=(libcriterion3:arm64 libnanomsg5:arm64)
# (No PCRE2/utf8proc for s390x: Debian's s390x lists lag the amd64 security
# updates, and multiarch needs equal versions; the s390x build goes without
# them, see models/meson.build.)
PLINTH_S390X_DEBS=(gcc-s390x-linux-gnu libc6-dev-s390x-cross qemu-user-static libcjson-dev:s390x)

plinth_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PLINTH_AARCH64_CACHE="$plinth_root/.cache/aarch64"

plinth_as_root() { # command...: through sudo unless we are root
  if [ "$(id -u)" -ne 0 ]; then sudo "$@"; else "$@"; fi
}

# 1 once `apt-get update` ran after the last architecture was added.
plinth_apt_lists_fresh=0
plinth_apt_update() {
  [ "$plinth_apt_lists_fresh" = 1 ] && return 0
  plinth_as_root apt-get update -qq
  plinth_apt_lists_fresh=1
}

plinth_apt_install() { # packages...
  local missing=() p
  for p in "$@"; do
    # (grep without -q: reading it all, so that pipefail never sees a SIGPIPE)
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null ||
      missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  # (duplicates, e.g. qemu-user-static named by two lists, are harmless to apt)
  echo "plinth: installing missing packages: ${missing[*]}" >&2
  plinth_apt_update
  # (env after sudo: sudo would drop a DEBIAN_FRONTEND set before it)
  plinth_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
}

plinth_add_arch() { # dpkg architectures...: added if missing; apt's lists are then stale
  local arch
  for arch in "$@"; do
    if ! dpkg --print-foreign-architectures | grep -x "$arch" >/dev/null; then
      echo "plinth: adding $arch as a foreign architecture (dpkg multiarch)" >&2
      plinth_as_root dpkg --add-architecture "$arch"
      plinth_apt_lists_fresh=0
    fi
  done
}

plinth_install_clang_deps() {
  plinth_apt_install "${PLINTH_CLANG_DEBS[@]}"
}

plinth_install_s390x_deps() {
  plinth_add_arch s390x
  plinth_apt_install "${PLINTH_S390X_DEBS[@]}"
}

plinth_install_portable_deps() {
  plinth_add_arch arm64 s390x
  plinth_apt_install "${PLINTH_CLANG_DEBS[@]}" "${PLINTH_AARCH64_DEBS[@]}" "${PLINTH_S390X_DEBS[@]}"
  plinth_unpack_aarch64_criterion
}

plinth_install_aarch64_deps() {
  plinth_add_arch arm64
  plinth_apt_install "${PLINTH_AARCH64_DEBS[@]}"
  plinth_unpack_aarch64_criterion
}

plinth_unpack_aarch64_criterion() { # (arm64 must be a dpkg architecture by now)
  local sysroot="$PLINTH_AARCH64_CACHE/sysroot" libdir
  libdir="$sysroot/usr/lib/aarch64-linux-gnu"
  if [ ! -e "$libdir/libcriterion.so.3" ] || [ ! -e "$libdir/libnanomsg.so.5" ]; then
    local debs="$PLINTH_AARCH64_CACHE/debs"
    rm -rf "$debs" "$sysroot"
    mkdir -p "$debs" "$sysroot"
    # Lists older than the archive (a machine not updated for a while) name
    # versions the mirror no longer has: one update, then once more.
    (cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root "${PLINTH_AARCH64_UNPACKED[@]}" >&2) || {
      plinth_apt_lists_fresh=0
      plinth_apt_update
      (cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root "${PLINTH_AARCH64_UNPACKED[@]}" >&2)
    }
    local d
    for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$sysroot"; done
    ln -sf libcriterion.so.3 "$libdir/libcriterion.so"
  fi
  # The headers are the native libcriterion-dev's (scripts/deps.sh).
  [ -f /usr/include/criterion/criterion.h ] ||
    { echo "plinth: /usr/include/criterion missing (run scripts/deps.sh first)" >&2; return 1; }
  mkdir -p "$PLINTH_AARCH64_CACHE/pkgconfig"
  cat >"$PLINTH_AARCH64_CACHE/pkgconfig/criterion.pc" <<PC
# Written by scripts/deps-portable.sh: arm64 Criterion unpacked in $sysroot
includedir=/usr/include
libdir=$libdir

Name: criterion
Description: Criterion 2.4 for arm64 (runtime unpacked, headers from the native package)
Version: 2.4.1
Libs: -L\${libdir} -Wl,-rpath-link,\${libdir} -lcriterion
Cflags: -I\${includedir}
PC
  # A machine file that adds that pkgconfig dir to the cross file's.
  cat >"$PLINTH_AARCH64_CACHE/criterion.ini" <<INI
# Written by scripts/deps-portable.sh; pass after cross/aarch64-linux-gnu.ini.
[properties]
pkg_config_libdir = ['$PLINTH_AARCH64_CACHE/pkgconfig', '/usr/lib/aarch64-linux-gnu/pkgconfig', '/usr/share/pkgconfig']
INI
}
