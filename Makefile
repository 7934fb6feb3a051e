# batmond — `make demo` and `make test` work on a fresh Debian/Ubuntu machine with git, make and python3.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_SECONDS ?= 30
PYTEST_ARGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint format venv system-deps clean deb apt-repo deb-test binary

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

lint: venv
	$(VENV)/bin/ruff check batmond tests
	$(VENV)/bin/ruff format --check batmond tests

format: venv
	$(VENV)/bin/ruff format batmond tests
	$(VENV)/bin/ruff check --fix batmond tests

# Packaging (docs/readme/packaging.md): .deb for amd64 and arm64, a signed apt repository, the package's
# end-to-end test in a Debian chroot (root), and the single-file binary.
deb:
	packaging/build-deb.sh $(DEB_ARCHES)

apt-repo: deb
	packaging/apt-repo.sh

deb-test:
	packaging/test-deb.sh

binary:
	packaging/build-binary.sh

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
