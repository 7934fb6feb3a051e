#!/usr/bin/env bash
# Build the single-file batmond binary (make binary) into build/binary/batmond-<version>-linux-<machine>.
# PyInstaller --onefile with the aiobmsble extra inside. The Python it bundles must be >= 3.12 (aiobmsble) and have
# socket.AF_BLUETOOTH (the hci-socket: transport), and the binary runs on systems with the build machine's glibc or
# newer: packaging/build-python.sh compiles Debian trixie's CPython 3.13 source here, on the oldest system we
# support (Debian bookworm, glibc 2.36), and caches it. BINARY_PYTHON=/path/to/python3 uses another interpreter
# (e.g. Debian bookworm's /usr/bin/python3 3.11: a binary without the extra).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/binary
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' batmond/__init__.py)
NAME="batmond-$VERSION-linux-$(uname -m)"
mkdir -p "$OUT"
started=$(date +%s)

PYTHON=${BINARY_PYTHON:-$(packaging/build-python.sh)}
"$PYTHON" -c 'import socket; socket.AF_BLUETOOTH' 2>/dev/null || {
  echo "build-binary: $PYTHON has no socket.AF_BLUETOOTH (built without libbluetooth-dev)" >&2
  exit 1
}
if "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
  extra="[aiobmsble]"
else
  extra=""
  echo "build-binary: $("$PYTHON" --version) is older than 3.12: the binary will not include the aiobmsble extra" >&2
fi
if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then # Debian's python3 without python3-venv
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "build-binary: run: sudo apt-get install python3-venv" >&2
    exit 1
  fi
fi

# One venv per interpreter: a rebuilt Python (a new Debian revision) gets a fresh one.
venv="$OUT/venv"
if [ ! -x "$venv/bin/pyinstaller" ] || [ "$(cat "$venv/.python" 2>/dev/null)" != "$PYTHON" ]; then
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q "pyinstaller>=6.10,<7"
  echo "$PYTHON" >"$venv/.python"
fi
# The same dependency versions as the Debian packages.
export PIP_ROOT_USER_ACTION=ignore
pip_install() { "$venv/bin/python" -m pip install -q "$@" 2>>"$OUT/pip.log" || { cat "$OUT/pip.log" >&2; exit 1; }; }
: >"$OUT/pip.log"
pip_install --force-reinstall --no-cache-dir --no-deps .
pip_install -c packaging/vendor-requirements.txt -c packaging/vendor-requirements-aiobmsble.txt ".$extra"

# batmond finds its protocols and simulators with pkgutil, and pyserial its URL handlers (socket://, loop://)
# by name: PyInstaller cannot see either import, so collect those packages whole. aiobmsble finds its BMS plugins
# the same way (pkgutil over aiobmsble.bms) and reads its own version from its package metadata.
aio_options=()
[ -z "$extra" ] || aio_options=(--collect-submodules aiobmsble.bms --copy-metadata aiobmsble)
"$venv/bin/pyinstaller" --noconfirm --clean --log-level WARN --onefile --name "$NAME" \
  --distpath "$OUT" --workpath "$OUT/work" --specpath "$OUT/work" \
  --collect-submodules batmond --collect-data batmond --collect-submodules serial.urlhandler "${aio_options[@]}" \
  --exclude-module bumble.apps --exclude-module tkinter \
  batmond/__main__.py
"$OUT/$NAME" --version
ls -l "$OUT/$NAME"
# The newest glibc symbol version the bundled libraries and extensions use: the oldest glibc that can run it.
glibc=$("$venv/bin/python" -c '
import ast, re, subprocess, sys
def entries(node):  # (name, path, kind) tuples, however PyInstaller nests them
    if isinstance(node, (list, tuple)):
        if len(node) == 3 and all(isinstance(item, str) for item in node):
            yield node
        else:
            for item in node:
                yield from entries(item)
found = {"0"}
for _, path, kind in entries(ast.literal_eval(open(sys.argv[1]).read())):
    if kind in ("BINARY", "EXTENSION"):
        symbols = subprocess.run(["objdump", "-T", path], capture_output=True, text=True).stdout
        found.update(re.findall(r"GLIBC_([0-9.]+)", symbols))
print(max(found, key=lambda version: tuple(map(int, version.split(".")))))
' "$OUT/work/$NAME/PKG-00.toc")
echo "build-binary: needs glibc >= $glibc (this machine has $(ldd --version | awk 'NR == 1 { print $NF }'))"
echo "build-binary: $OUT/$NAME in $(($(date +%s) - started)) s"
