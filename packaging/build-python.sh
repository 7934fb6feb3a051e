#!/usr/bin/env bash
# Print the path of a CPython >= 3.12 with socket.AF_BLUETOOTH for the single binary (packaging/build-binary.sh),
# building it first if it is not cached. Logs go to stderr; the only line on stdout is the interpreter's path.
#
# Why build one: aiobmsble needs Python >= 3.12, the binary must run on Debian bookworm's glibc (2.36), and the
# hci-socket: transport needs a socket module compiled against the BlueZ headers. Debian bookworm's python3 is 3.11;
# trixie's 3.13 packages need glibc 2.41; a Python built without libbluetooth-dev (pyenv's, usually) lacks
# AF_BLUETOOTH. So: Debian trixie's python3.13 source package, compiled here on bookworm with libbluetooth-dev.
#  - Source: `apt-get source --download-only` from deb.debian.org with a private apt state, so the system's apt
#    configuration is untouched; apt checks the files against the Release signature (debian-archive-keyring).
#  - Upstream's tarball (the .orig, signed by CPython's release manager) plus the patches of Debian's series that
#    end in .patch: the security and crash fixes Debian backported. The .diff ones adapt CPython to Debian's /usr
#    layout (install schemes, multiarch, ensurepip off) and would break a self-contained tree, so they stay out.
#  - --enable-shared (PyInstaller bundles libpython), rpath to its own lib; no PGO/LTO: a few minutes on 2 cores.
#  - Cached in $BINARY_PYTHON_CACHE (~/.cache/batmond-binary-python), one tree per source version and machine.
#    Without network the newest cached tree is used.
# Installs its build dependencies with apt-get when run as root; otherwise says which ones are missing.
set -euo pipefail
SOURCE_PACKAGE=${BINARY_PYTHON_SOURCE:-python3.13}
SUITE=${BINARY_PYTHON_SUITE:-trixie}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${BINARY_PYTHON_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/batmond-binary-python}
MACHINE=$(uname -m)
# CPython's optional modules that batmond or its dependencies import (ssl, ctypes, zlib, uuid) or pip needs, and the
# Bluetooth headers. libbluetooth is not linked: only its headers define the socket constants and structures.
BUILD_DEPS=(build-essential pkg-config xz-utils patch libbluetooth-dev libssl-dev libffi-dev zlib1g-dev libbz2-dev
  liblzma-dev uuid-dev)

log() { echo "build-python: $*" >&2; }

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 # two builds at once would share one tree

apt_dir="$CACHE/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" >"$apt_dir/sources.list"
APT_OPTS=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir" -o "Dir::Cache::archives=$apt_dir/archives"
  -o APT::Sandbox::User="$(id -un)" -o Debug::NoLocking=1)

version=
if apt-get "${APT_OPTS[@]}" -qq update >"$apt_dir/update.log" 2>&1; then
  version=$(apt-cache "${APT_OPTS[@]}" showsrc --only-source "$SOURCE_PACKAGE" | sed -n 's/^Version: //p' |
    sort -V | tail -n 1)
fi
if [ -z "$version" ]; then
  newest=$(find "$CACHE" -maxdepth 2 -name .complete -path "*/$SOURCE_PACKAGE-*-$MACHINE/*" -printf '%h\n' |
    sort -V | tail -n 1)
  [ -n "$newest" ] || {
    log "cannot find $SOURCE_PACKAGE in $SUITE at $MIRROR, and nothing is cached:"
    cat "$apt_dir/update.log" >&2
    exit 1
  }
  log "$MIRROR unreachable: using the cached $(basename "$newest")"
  echo "$newest/bin/python3"
  exit 0
fi

prefix="$CACHE/$SOURCE_PACKAGE-$version-$MACHINE"
if [ -e "$prefix/.complete" ]; then
  log "cached: $prefix"
  echo "$prefix/bin/python3"
  exit 0
fi

missing=()
for package in "${BUILD_DEPS[@]}"; do
  dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    log "run: sudo apt-get install ${missing[*]}"
    exit 1
  fi
fi

started=$(date +%s)
work=$(mktemp -d "$CACHE/build.XXXXXX")
building=
on_exit() {
  local status=$?
  rm -rf "$work"
  if [ "$status" != 0 ] && [ -n "$building" ]; then
    tail -n 40 "$prefix.log" >&2
    log "failed; the whole log is $prefix.log"
  fi
}
trap on_exit EXIT
log "building CPython from $SOURCE_PACKAGE $version ($SUITE) into $prefix; log: $prefix.log"
(cd "$work" && apt-get "${APT_OPTS[@]}" -qq source --download-only "$SOURCE_PACKAGE=$version" >/dev/null)
tar -C "$work" -xJf "$work"/"${SOURCE_PACKAGE}_${version%-*}".orig.tar.xz
tar -C "$work" -xJf "$work"/"${SOURCE_PACKAGE}_$version".debian.tar.xz
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'Python-*')
building=1
(
  for patch in $(grep -E '^[^#].*\.patch$' "$work/debian/patches/series"); do
    echo "applying debian/patches/$patch"
    patch -d "$src" -p1 --batch --forward <"$work/debian/patches/$patch"
  done
  rm -rf "$prefix"
  cd "$src"
  # OPT without -g: no debug info in the libpython and extension modules the binary carries.
  ./configure --prefix="$prefix" --enable-shared --disable-test-modules --with-ensurepip=install \
    LDFLAGS="-Wl,-rpath,$prefix/lib" OPT="-DNDEBUG -O3 -Wall"
  make -j"$(nproc)"
  make install
) >"$prefix.log" 2>&1
"$prefix/bin/python3" -c 'import socket, ssl, ctypes, zlib, bz2, lzma, uuid; socket.AF_BLUETOOTH' || {
  log "the built Python lacks a module the binary needs (see $prefix.log)"
  exit 1
}
touch "$prefix/.complete"
log "built in $(($(date +%s) - started)) s: $("$prefix/bin/python3" --version)"
echo "$prefix/bin/python3"
