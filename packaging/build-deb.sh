#!/usr/bin/env bash
# Build batmond's Debian packages into build/deb/ (make deb).
#   packaging/build-deb.sh [ARCH ...]        default: amd64 arm64
#   DEB_VERSION=0.1.0+1 packaging/build-deb.sh amd64    stamp another version (packaging/test-deb.sh upgrades)
#   LINTIAN=0 ...                            skip lintian (it gates errors and warnings otherwise)
#   DIST=trixie packaging/build-deb.sh       the package for Debian 13 (default: bookworm, Debian 12)
# Each architecture gets the wheels pinned in packaging/vendor-requirements.txt for that platform
# (pip --platform ... --only-binary=:all:), so arm64 builds on x86_64 in seconds without emulation or compiler.
# The wheels are built for one Python minor, so there is one package per Debian release: bookworm's python3 is
# 3.11 (no aiobmsble, which needs 3.12), trixie's is 3.13 and its package bundles the aiobmsble extra too
# (packaging/vendor-requirements-aiobmsble.txt). Both bundle the esphome extra (ESPHome Bluetooth proxies,
# packaging/vendor-requirements-esphome.txt). The trixie package's version is the bookworm one + "+deb13", so
# a dist-upgrade from bookworm to trixie moves to it.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a ARCHES <<<"${*:-amd64 arm64}"
OUT=build/deb
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' batmond/__init__.py)
DIST=${DIST:-bookworm}
requirements=(packaging/vendor-requirements.txt packaging/vendor-requirements-esphome.txt)
case "$DIST" in
  bookworm) py=3.11 deb_version=${DEB_VERSION:-} ;;
  trixie)
    py=3.13 deb_version=${DEB_VERSION:-$VERSION+deb13}
    requirements+=(packaging/vendor-requirements-aiobmsble.txt)
    export BATMOND_LIBDIR=/usr/lib # debian/rules: units and udev rules under /usr/lib (merged /usr)
    ;;
  *) echo "build-deb: DIST must be bookworm or trixie, not $DIST" >&2; exit 1 ;;
esac
# dh_gencontrol fills ${batmond:Python} (debian/rules): the wheels' Python minor and nothing else.
export BATMOND_PYTHON_DEPENDS="python3 (>= $py), python3 (<< ${py%.*}.$((${py#*.} + 1)))"

need=(dpkg-buildpackage:dpkg-dev dh:debhelper scdoc:scdoc fakeroot:fakeroot)
[ "${LINTIAN:-1}" = 0 ] || need+=(lintian:lintian)
[[ " ${ARCHES[*]} " != *" arm64 "* ]] || need+=(aarch64-linux-gnu-strip:binutils-aarch64-linux-gnu)
python3 -m pip --version >/dev/null 2>&1 || need+=(pip-missing:python3-pip)
missing=()
for tool in "${need[@]}"; do command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  else
    echo "build-deb: missing tools; run: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

changelog_version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
if [ "$changelog_version" != "$VERSION" ]; then
  echo "build-deb: packaging/debian/changelog is at $changelog_version but batmond is $VERSION: add an entry" >&2
  exit 1
fi

# Every runtime dependency in pyproject.toml, and those of each extra bundled (vendor-requirements-EXTRA.txt), must
# be pinned; what they need in turn is checked against the installed wheels below.
python3 - "${requirements[@]}" <<'PY'
import re, sys, tomllib
def name(requirement): return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
wanted = {name(r) for r in project["dependencies"]}
for path in sys.argv[1:]:
    extra = re.fullmatch(r".*/vendor-requirements-(.+)\.txt", path)
    if extra:
        wanted |= {name(r) for r in project["optional-dependencies"][extra.group(1)]}
pinned = {name(line) for path in sys.argv[1:] for line in open(path) if line.strip() and line[0] != "#"}
if wanted - pinned:
    sys.exit(f"build-deb: pin {', '.join(sorted(wanted - pinned))} in {' or '.join(sys.argv[1:])}")
PY

src="$OUT/src/batmond-$VERSION"
rm -rf "$OUT/src" && mkdir -p "$src"
tar -c --exclude=__pycache__ batmond pyproject.toml README.md packaging | tar -x -C "$src"
cp -r packaging/debian "$src/debian"
if [ -n "$deb_version" ]; then
  { printf 'batmond (%s) %s; urgency=medium\n\n  * Rebuild as %s for %s.\n\n' "$deb_version" "$DIST" "$deb_version" "$DIST"
    printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l packaging/debian/changelog -S Maintainer)" "$(date -R)"
    cat packaging/debian/changelog; } >"$src/debian/changelog"
fi

# sdnotify is published as a source distribution only: make it a (pure Python) wheel once.
mkdir -p "$OUT/wheels"
if ! ls "$OUT"/wheels/sdnotify-*.whl >/dev/null 2>&1; then
  python3 -m pip wheel -q --no-deps -w "$OUT/wheels" "$(grep '^sdnotify==' packaging/vendor-requirements.txt)" \
    2>"$OUT/pip-wheel.log" || { cat "$OUT/pip-wheel.log" >&2; exit 1; }
fi

for arch in "${ARCHES[@]}"; do
  case "$arch" in
    amd64) machine=x86_64 ;;
    arm64) machine=aarch64 ;;
    *) echo "build-deb: unsupported architecture $arch" >&2; exit 1 ;;
  esac
  vendor="$src/debian/vendor/$arch"
  # Wheels for the release's python3 minor on every architecture (${batmond:Python} pins it); pip would check
  # Requires-Python against the interpreter running it, not the target's.
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --no-deps --no-compile --target "$vendor" --find-links "$OUT/wheels" \
    --ignore-requires-python \
    --only-binary=:all: --implementation cp --python-version "$py" --abi "cp${py/./}" --abi abi3 --abi none \
    --platform "manylinux_2_28_$machine" --platform "manylinux_2_17_$machine" \
    --platform "manylinux2014_$machine" --platform "manylinux_2_5_$machine" --platform "manylinux1_$machine" \
    --platform any "${requirements[@]/#/-r}" 2>"$OUT/pip-$arch.log" || {
    cat "$OUT/pip-$arch.log" >&2
    exit 1
  }
  # pip --no-deps trusts the pins: every dependency the installed wheels declare for this Python and machine must
  # be among them (libusb-package is left out on purpose, packaging/vendor-requirements.txt).
  python3 - "$vendor" "$py" "$machine" <<'PY'
import email.parser, pathlib, sys
try:
    from packaging.requirements import Requirement
except ImportError:  # pip's own copy, where packaging is not installed on its own
    from pip._vendor.packaging.requirements import Requirement
vendor, py, machine = sys.argv[1:]
def key(name): return name.lower().replace("_", "-").replace(".", "-")
dists = [email.parser.Parser().parse(open(p)) for p in pathlib.Path(vendor).glob("*.dist-info/METADATA")]
have = {key(dist["Name"]): dist["Version"] for dist in dists}
target = {"python_version": py, "python_full_version": f"{py}.0", "platform_machine": machine, "extra": ""}
missing = set()
for dist in dists:
    for requirement in map(Requirement, dist.get_all("Requires-Dist") or []):
        if requirement.marker and not requirement.marker.evaluate(target) or key(requirement.name) == "libusb-package":
            continue
        version = have.get(key(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            missing.add(f"{dist['Name']} needs {requirement.name}{requirement.specifier} (bundled: {version})")
if missing:
    sys.exit(f"build-deb: pin in packaging/vendor-requirements*.txt: {'; '.join(sorted(missing))}")
PY
  # bumble's apps (console scripts and their web pages, which load scripts from CDNs) are not used by batmond, nor
  # aioesphomeapi's benchmarks and noiseprotocol's examples (top-level packages in their wheels).
  rm -rf "$vendor/bin" "$vendor/bumble/apps" "$vendor/bench" "$vendor/examples"
  find "$vendor" -name __pycache__ -prune -exec rm -rf {} +
  # Modules are not run as scripts: blank their "#!" line (a comment keeps traceback line numbers).
  find "$vendor" -name '*.py' -exec sed -i '1s/^#!.*/#/' {} +
  # Nor are the other files of a wheel that sets their executable bits (protobuf's): lintian would flag each.
  find "$vendor" -type f -perm /111 ! -name '*.so' ! -name '*.so.*' -exec chmod a-x {} +
  build_arch=$(dpkg --print-architecture)
  flags=(-b -us -uc "-a$arch")
  # A cross build cannot satisfy Build-Depends for the target architecture from this machine's packages.
  [ "$arch" = "$build_arch" ] || flags+=(-d)
  (cd "$src" && dpkg-buildpackage "${flags[@]}" >"../build-$arch.log" 2>&1) || {
    tail -40 "$OUT/src/build-$arch.log" >&2
    exit 1
  }
done
mv "$OUT"/src/*.deb "$OUT"/src/*.buildinfo "$OUT"/src/*.changes "$OUT/"
if [ "${LINTIAN:-1}" != 0 ]; then
  for deb in "$OUT"/batmond_*.deb; do
    lintian --fail-on error,warning "$deb"
  done
fi
ls -l "$OUT"/*.deb
