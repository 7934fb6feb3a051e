#!/usr/bin/env bash
# End-to-end test of the single binary (make binary-test): tests/binary/check.py runs the file `make binary` built
# (building it first if it is missing) against a mosquitto on 127.0.0.1, the binary's own simulator and recorded
# aiobmsble BMS, and prints what it measured. BINARY=path tests another build of it.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' batmond/__init__.py)
BINARY=${BINARY:-build/binary/batmond-$VERSION-linux-$(uname -m)}
[ -x "$BINARY" ] || packaging/build-binary.sh
# The checker runs in the repository's venv, with mosquitto installed (make venv system-deps).
make --no-print-directory venv system-deps >/dev/null
.venv/bin/python tests/binary/check.py "$BINARY"
