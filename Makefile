# batmond — `make demo` and `make test` work on a fresh Debian/Ubuntu machine with git, make and python3.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_SECONDS ?= 30
PYTEST_ARGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The aiobmsble extra (batmond/aio) needs Python >= 3.12: its tests run in a venv of their own, made with the first
# Python >= 3.12 found here (or AIO_PYTHON); `make test` skips them, saying so, where there is none.
AIO_VENV ?= .venv312
AIO_PYTHON ?= $(shell for p in python3 python3.12 python3.13 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { command -v $$p; break; }; done)

.PHONY: demo test test-aiobmsble lint format venv system-deps clean deb apt-repo deb-test binary binary-test bench soak image image-test

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "batmond needs Python >= 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		echo "python3-venv is missing; installing it with apt-get"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

venv: $(VENV)/.installed

$(AIO_VENV)/.installed: pyproject.toml
	$(AIO_PYTHON) -m venv $(AIO_VENV)
	$(AIO_VENV)/bin/python -m pip install -q --upgrade pip
	$(AIO_VENV)/bin/python -m pip install -q -e '.[test,aiobmsble]'
	@touch $@

# mosquitto is a real broker the end-to-end tests start on 127.0.0.1; openssl makes their TLS certificates.
# influxdb: the tests start their own influxd; the package's service (listening on every interface) is turned off.
system-deps:
	@command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || { \
		echo "installing mosquitto (the tests run a real broker on 127.0.0.1)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq mosquitto openssl; }
	@command -v influxd >/dev/null || { \
		echo "installing influxdb (the InfluxDB sink's tests run a real influxd on 127.0.0.1)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq influxdb && \
		{ ! command -v systemctl >/dev/null || $(SUDO) systemctl disable --now influxdb 2>/dev/null || true; }; }

demo: venv
	$(VENV)/bin/batmond demo --duration $(DEMO_SECONDS) $(DEMO_ARGS)

test: venv system-deps
	$(VENV)/bin/ruff check batmond tests
	$(PY) -m pytest -q $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-aiobmsble

# Only the tests of the aiobmsble extra (tests/aio), under Python >= 3.12; the rest of the suite skips them.
test-aiobmsble: system-deps
	@if [ -z "$(AIO_PYTHON)" ]; then \
		echo "test-aiobmsble skipped: the aiobmsble extra needs Python >= 3.12 and none was found (set AIO_PYTHON)"; \
	else \
		$(MAKE) --no-print-directory $(AIO_VENV)/.installed AIO_PYTHON=$(AIO_PYTHON) && \
		$(AIO_VENV)/bin/python -m pytest -q $(PYTEST_ARGS) tests/aio; \
	fi

# Soak with fault injection (docs/readme/soak.md): every simulated BMS type, faults at random for SOAK_SECONDS; prints
# a report and fails on any failed check. SOAK_ARGS="--seed N" replays a run. `make test` runs a 90 s version.
SOAK_SECONDS ?= 600
soak: venv system-deps
	$(PY) tests/soak/harness.py --seconds $(SOAK_SECONDS) $(SOAK_ARGS)

lint: venv
	$(VENV)/bin/ruff check batmond tests
	$(VENV)/bin/ruff format --check batmond tests

format: venv
	$(VENV)/bin/ruff format batmond tests
	$(VENV)/bin/ruff check --fix batmond tests

# Packaging (docs/readme/packaging.md): .deb for amd64 and arm64, a signed apt repository, the package's
# end-to-end test in a Debian chroot (root), and the single-file binary.
# One package per Debian release (its python3 minor): bookworm (3.11) and trixie (3.13, with the aiobmsble extra).
DEB_DISTS ?= bookworm trixie
deb:
	for dist in $(DEB_DISTS); do DIST=$$dist packaging/build-deb.sh $(DEB_ARCHES) || exit 1; done

apt-repo: deb
	packaging/apt-repo.sh

deb-test:
	for dist in $(DEB_DISTS); do DIST=$$dist packaging/test-deb.sh || exit 1; done

binary:
	packaging/build-binary.sh

# Raspberry Pi SD image (README "Raspberry Pi SD image"; root): Debian 13 arm64 with batmond from its apt repository,
# build/image/batmond-<version>-rpi-arm64.img.xz; image-test boots it under qemu-system-aarch64 -M virt.
image:
	image/build-image.sh

image-test:
	image/test-image.sh

# The binary end to end (docs/readme/binary.md): builds it if missing, then runs it against a mosquitto on
# 127.0.0.1, its own simulator and recorded aiobmsble BMS; prints start and first-publish times.
binary-test: venv system-deps
	packaging/test-binary.sh

# Benchmark (README "Performance"): the daemon against simulated BMS and a real mosquitto on 127.0.0.1, a few
# minutes; prints a table and writes bench/results.json. The decode comparison runs in the aiobmsble venv.
bench: venv system-deps
	@if [ -n "$(AIO_PYTHON)" ]; then $(MAKE) --no-print-directory $(AIO_VENV)/.installed AIO_PYTHON=$(AIO_PYTHON); fi
	$(PY) bench/run.py --aiobmsble-python $(AIO_VENV)/bin/python $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(AIO_VENV) build dist *.egg-info .pytest_cache .ruff_cache
