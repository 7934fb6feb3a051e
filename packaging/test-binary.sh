#!/usr/bin/env bash
# End-to-end test of the single binary (make binary-test): tests/binary/check.py runs the file `make binary` built
# (building it first if it is missing) against a mosquitto on 127.0.0.1, the binary's own simulator and recorded
# aiobmsble BMS, and prints what it measured. BINARY=path tests another build of it. Then the esphome extra: the
# binary reads a BMS through the repository's simulated ESPHome proxy (esphome_check below).
# As root it runs the same checks again with the binary inside clean minimal Debian chroots (bookworm: the oldest
# glibc supported; trixie: the newest release), where nothing but the binary and a base system is installed. The
# chroots share this machine's network, so the broker and simulator outside are on the same 127.0.0.1.
# BINARY_TEST_SYSTEMS (default "host bookworm trixie"; "host" alone without root) chooses.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' batmond/__init__.py)
BINARY=${BINARY:-build/binary/batmond-$VERSION-linux-$(uname -m)}
if [ "$(id -u)" = 0 ]; then SYSTEMS=${BINARY_TEST_SYSTEMS:-host bookworm trixie}; else SYSTEMS=${BINARY_TEST_SYSTEMS:-host}; fi
CACHE=${BATMOND_TEST_CACHE:-$HOME/.cache/batmond-deb-test} # the minimal chroots, shared with test-deb.sh
WORK=$PWD/build/binary-test

[ -x "$BINARY" ] || packaging/build-binary.sh
BINARY=$(realpath "$BINARY")
# The checker runs in the repository's venv, with mosquitto installed (make venv system-deps).
make --no-print-directory venv system-deps >/dev/null
echo "$BINARY: $(stat -c %s "$BINARY" | numfmt --to=si --suffix=B)"

mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'echo "binary-test: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

chroot_of() { # a fresh minimal Debian $1 under $WORK/$1, from the cached tarball (made once with debootstrap)
  local dist=$1 root=$WORK/$1 tarball=$CACHE/$1-minbase.tar
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
    mkdir -p "$CACHE" && rm -rf --one-file-system "$WORK/bootstrap"
    debootstrap --variant=minbase "$dist" "$WORK/bootstrap" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 ||
      { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
    rm -rf "$WORK/bootstrap/var/cache/apt/archives/"*.deb
    tar -C "$WORK/bootstrap" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf --one-file-system "$WORK/bootstrap"
  fi
  # Mounts a killed run may have left: never let rm reach the host's /proc.
  { findmnt -rn -o TARGET | grep "^$root/" || true; } | sort -r | xargs -r -n 1 umount -l
  rm -rf --one-file-system "$root" && mkdir -p "$root" && tar -C "$root" -xf "$tarball"
  mount -t proc proc "$root/proc" && mounts+=("$root/proc")
  install -m 755 "$BINARY" "$root/usr/local/bin/batmond"
  # The work directory at the same path inside, so that config and state paths mean the same on both sides.
  mkdir -p "$WORK/shared" "$root$WORK/shared" && mount --bind "$WORK/shared" "$root$WORK/shared" &&
    mounts+=("$root$WORK/shared")
  printf '#!/bin/sh\nexec chroot %s /usr/local/bin/batmond "$@"\n' "$root" >"$WORK/batmond-in-$dist"
  chmod +x "$WORK/batmond-in-$dist"
}

# The esphome extra (aioesphomeapi, imported only when a proxy is configured): check-config of a [[bluetooth.proxy]],
# then `run` reads a JK BMS through an encrypted simulated ESPHome proxy (packaging/proxy-check.py, the simulator
# from the repository's venv) and tells systemd "1/1 BMS online" (a NOTIFY_SOCKET here).
esphome_check() { # BINARY-OR-WRAPPER WORK-DIRECTORY (one the binary sees at the same path)
  .venv/bin/python packaging/proxy-check.py "$1" "$2"
}

mkdir -p "$WORK"
for system in $SYSTEMS; do
  case $system in
    host)
      glibc=$(ldd --version | awk 'NR == 1 { print $NF }')
      .venv/bin/python tests/binary/check.py "$BINARY" --system "this machine ($(. /etc/os-release && echo "$PRETTY_NAME"), glibc $glibc)"
      esphome_check "$BINARY" "$WORK"
      ;;
    bookworm | trixie)
      [ "$(id -u)" = 0 ] || { echo "binary-test: the $system chroot needs root" >&2; exit 1; }
      chroot_of "$system"
      glibc=$(chroot "$WORK/$system" ldd --version | awk 'NR == 1 { print $NF }')
      .venv/bin/python tests/binary/check.py "$WORK/batmond-in-$system" --work "$WORK/shared" \
        --system "a clean minimal Debian $system chroot (glibc $glibc)"
      esphome_check "$WORK/batmond-in-$system" "$WORK/shared"
      cleanup && mounts=() && rm -rf --one-file-system "$WORK/$system"
      ;;
    *) echo "binary-test: unknown system $system (host, bookworm, trixie)" >&2; exit 1 ;;
  esac
done
