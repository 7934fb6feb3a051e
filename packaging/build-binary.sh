#!/usr/bin/env bash
# Build the single-file batmond binary (make binary) into build/binary/batmond-<version>-linux-<machine>.
# PyInstaller --onefile with the aiobmsble and esphome extras inside (aioesphomeapi: ESPHome Bluetooth proxies as
# radios, packaging/vendor-requirements-esphome.txt). The Python it bundles must be >= 3.12 (aiobmsble) and have
# socket.AF_BLUETOOTH (the hci-socket: transport), and the binary runs on systems with the build machine's glibc or
# newer: packaging/build-python.sh compiles Debian trixie's CPython 3.13 source here, on the oldest system we
# support (Debian bookworm, glibc 2.36), and caches it. BINARY_PYTHON=/path/to/python3 uses another interpreter
# (e.g. Debian bookworm's /usr/bin/python3 3.11: a binary without the aiobmsble extra, still with esphome).
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
  extra="[aiobmsble,esphome]"
else
  extra="[esphome]" # aioesphomeapi needs 3.11, as batmond does
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
pip_install -c packaging/vendor-requirements.txt -c packaging/vendor-requirements-aiobmsble.txt \
  -c packaging/vendor-requirements-esphome.txt ".$extra"

# batmond finds its protocols and simulators with pkgutil, and pyserial its URL handlers (socket://, loop://)
# by name: PyInstaller cannot see either import, so collect those packages whole. aiobmsble finds its BMS plugins
# the same way (pkgutil over aiobmsble.bms) and reads its own version from its package metadata.
aio_options=()
[[ "$extra" != *aiobmsble* ]] || aio_options=(--collect-submodules aiobmsble.bms --copy-metadata aiobmsble)
# PyInstaller reads imports inside functions too (batmond's lazy `import aioesphomeapi`), but not those of compiled
# code: aioesphomeapi's and zeroconf's modules are Cython, so collect both whole (today that adds 5 small modules
# it found anyway), and backports.zstd, which aioesphomeapi imports by name (importlib, below Python 3.14).
# tzdata is left out: the onefile unpacks every file it holds at each start, and tzdata's ~600 zone files made
# every command 0.3-0.6 s slower. aioesphomeapi only reads it to tell a proxy the local time zone's POSIX rule;
# without it, it sends the zone's name (Europe/Berlin) instead: the proxy still gets the time, a clock it shows in
# local time may be off (the Debian packages bundle tzdata: no unpacking there).
esphome_options=(--collect-submodules aioesphomeapi --collect-submodules zeroconf --hidden-import backports.zstd
  --exclude-module tzdata)
"$venv/bin/pyinstaller" --noconfirm --clean --log-level WARN --onefile --name "$NAME" \
  --distpath "$OUT" --workpath "$OUT/work" --specpath "$OUT/work" \
  --collect-submodules batmond --collect-data batmond --collect-submodules serial.urlhandler "${aio_options[@]}" \
  "${esphome_options[@]}" \
  --exclude-module bumble.apps --exclude-module tkinter \
  batmond/__main__.py
"$OUT/$NAME" --version
ls -l "$OUT/$NAME"
# What PyInstaller put in the binary: its table-of-contents files are Python literals of (name, path, kind) tuples,
# nested differently from one PyInstaller version to the next.
TOC_ENTRIES='def entries(node):
    if isinstance(node, (list, tuple)):
        if len(node) == 3 and all(isinstance(item, str) for item in node):
            yield node
        else:
            for item in node:
                yield from entries(item)'
# A proxy session (packaging/test-binary.sh) cannot reach every lazy import: here, every module that importing
# aioesphomeapi as batmond does, its zstd decoder, its time zone lookup and `batmond sim`'s simulated proxy load in
# the build venv must be in the binary (but tzdata, left out above).
"$venv/bin/python" -c "$TOC_ENTRIES
$(cat <<'PY'
import ast, asyncio, sys
bundled = set()
for toc in sys.argv[1:]:
    for name, _, kind in entries(ast.literal_eval(open(toc).read())):
        if kind in ("PYMODULE", "EXTENSION"):  # a.b, or a/b.cpython-313-x86_64-linux-gnu.so, a/b.abi3.so
            name = name.split("/lib-dynload/")[-1].split(".cpython-")[0].removesuffix(".abi3.so")
            bundled.add(name.replace("/", ".").removesuffix(".__init__"))
before = set(sys.modules)
from batmond.transports import esphome
esphome._api()
from aioesphomeapi import model, timezone
model._zstd_module()
asyncio.run(timezone.get_timezone(None))
import batmond.sim.esphome_proxy
loaded = set()
for name in set(sys.modules) - before:  # the encodings are all in PyInstaller's base_library.zip
    spec = getattr(sys.modules[name], "__spec__", None)
    if spec and spec.origin not in (None, "built-in", "frozen") and name.split(".")[0] not in ("encodings", "tzdata"):
        loaded.add(name)
if loaded - bundled:
    sys.exit(f"build-binary: the esphome extra needs what the binary lacks: {', '.join(sorted(loaded - bundled))}")
print(f"build-binary: the {len(loaded)} modules the esphome extra loads are in the binary")
PY
)" "$OUT/work/$NAME/PYZ-00.toc" "$OUT/work/$NAME/PKG-00.toc"
# The newest glibc symbol version the bundled libraries and extensions use: the oldest glibc that can run it.
glibc=$("$venv/bin/python" -c "$TOC_ENTRIES"'
import ast, re, subprocess, sys
found = {"0"}
for _, path, kind in entries(ast.literal_eval(open(sys.argv[1]).read())):
    if kind in ("BINARY", "EXTENSION"):
        symbols = subprocess.run(["objdump", "-T", path], capture_output=True, text=True).stdout
        found.update(re.findall(r"GLIBC_([0-9.]+)", symbols))
print(max(found, key=lambda version: tuple(map(int, version.split(".")))))
' "$OUT/work/$NAME/PKG-00.toc")
echo "build-binary: needs glibc >= $glibc (this machine has $(ldd --version | awk 'NR == 1 { print $NF }'))"
echo "build-binary: $OUT/$NAME in $(($(date +%s) - started)) s"
