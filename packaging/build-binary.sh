#!/usr/bin/env bash
# Build the single-file batmond binary (make binary) into build/binary/batmond-<version>-linux-<machine>.
# PyInstaller --onefile, built with Debian's /usr/bin/python3: its socket module has AF_BLUETOOTH, which the
# hci-socket: transport needs (a Python built without the BlueZ headers lacks it, and so would the binary).
# The binary runs on systems with the build machine's glibc or newer: build on the oldest one you support.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${BINARY_PYTHON:-/usr/bin/python3}
OUT=build/binary
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' batmond/__init__.py)
NAME="batmond-$VERSION-linux-$(uname -m)"

"$PYTHON" -c 'import socket; socket.AF_BLUETOOTH' 2>/dev/null || {
  echo "build-binary: $PYTHON has no socket.AF_BLUETOOTH; use Debian's python3" >&2
  exit 1
}
if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "build-binary: run: sudo apt-get install python3-venv" >&2
    exit 1
  fi
fi

venv="$OUT/venv"
if [ ! -x "$venv/bin/pyinstaller" ]; then
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q "pyinstaller>=6.10,<7"
fi
# The same dependency versions as the Debian package.
PIP_ROOT_USER_ACTION=ignore "$venv/bin/python" -m pip install -q --force-reinstall --no-cache-dir --no-deps . \
  2>"$OUT/pip.log" || { cat "$OUT/pip.log" >&2; exit 1; }
PIP_ROOT_USER_ACTION=ignore "$venv/bin/python" -m pip install -q -c packaging/vendor-requirements.txt . \
  2>>"$OUT/pip.log" || { cat "$OUT/pip.log" >&2; exit 1; }

# batmond finds its protocols and simulators with pkgutil, and pyserial its URL handlers (socket://, loop://)
# by name: PyInstaller cannot see either import, so collect those packages whole.
"$venv/bin/pyinstaller" --noconfirm --clean --log-level WARN --onefile --name "$NAME" \
  --distpath "$OUT" --workpath "$OUT/work" --specpath "$OUT/work" \
  --collect-submodules batmond --collect-data batmond --collect-submodules serial.urlhandler \
  --exclude-module bumble.apps --exclude-module tkinter \
  batmond/__main__.py
"$OUT/$NAME" --version
ls -l "$OUT/$NAME"
