#!/usr/bin/env bash
# End-to-end test of the Debian package (make deb-test; needs root for debootstrap and chroot):
#   build the amd64 package (lintian-gated), put it in a signed apt repository, `apt install batmond` into a
#   clean Debian chroot, check it, upgrade to a rebuilt newer version with a user-changed config, purge.
#   DIST=trixie packaging/test-deb.sh      the same for the Debian 13 package (default: bookworm)
# The units are checked with systemd-analyze (verify, and security with an exposure gate).
# A minimal chroot of the release is cached in $BATMOND_TEST_CACHE (default ~/.cache/batmond-deb-test).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "deb-test: needs root (debootstrap, chroot)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
START=$SECONDS
DIST=${DIST:-bookworm}
WORK=build/deb-test-$DIST
CACHE=${BATMOND_TEST_CACHE:-$HOME/.cache/batmond-deb-test}
ROOT=$PWD/$WORK/root
EXPOSURE_MAX=20 # tenths: systemd-analyze security must rate batmond.service 2.0 or better
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' batmond/__init__.py)
case "$DIST" in
  bookworm) PKG_VERSION=$VERSION ;;
  trixie) PKG_VERSION=$VERSION+deb13 ;; # packaging/build-deb.sh
  *) echo "deb-test: DIST must be bookworm or trixie" >&2; exit 1 ;;
esac
NEXT="$PKG_VERSION+test1"

step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - START)); }
fail() { echo "deb-test: FAILED: $*" >&2; exit 1; }
in_root() { chroot "$ROOT" "$@"; }

cleanup() {
  if mountpoint -q "$ROOT/proc"; then umount -l "$ROOT/proc"; fi
}
trap cleanup EXIT

command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }

step "units: systemd-analyze verify and security"
units=$WORK/units
rm -rf "$units" && mkdir -p "$units/usr/bin" "$units/usr/libexec/batmond" "$units/lib/systemd/system"
# The host's units too (targets, sockets) for the dependencies systemd adds by default.
cp -a /lib/systemd/system/. "$units/lib/systemd/system/"
cp packaging/systemd/* "$units/lib/systemd/system/"
# verify wants the executables to exist; the real ones come with the package.
cp packaging/bin/batmond "$units/usr/bin/" && cp packaging/libexec/bt-reset "$units/usr/libexec/batmond/"
mkdir -p "$units/bin" && cp /bin/kill "$units/bin/"  # ExecReload (procps, a dependency of the package)
(cd "$units" && for unit in lib/systemd/system/batmond*; do
  out=$(systemd-analyze verify --man=no --root=. "$unit" 2>&1) || fail "systemd-analyze verify $unit: $out"
  [ -z "$out" ] || fail "systemd-analyze verify $unit is not clean: $out"
done)
systemd-analyze security --offline=yes --threshold=$EXPOSURE_MAX packaging/systemd/batmond.service \
  | tail -1 || fail "batmond.service exposure is above $((EXPOSURE_MAX / 10)).$((EXPOSURE_MAX % 10))"

step "build $PKG_VERSION and $NEXT (amd64, $DIST)"
# Both from one snapshot of the tree, so that only the version differs between them.
rm -rf "$WORK/tree" "$WORK/debs" && mkdir -p "$WORK/tree" "$WORK/debs"
tar -c --exclude=__pycache__ batmond pyproject.toml README.md packaging | tar -x -C "$WORK/tree"
(cd "$WORK/tree" && export DIST && packaging/build-deb.sh amd64 \
  && DEB_VERSION=$NEXT LINTIAN=0 packaging/build-deb.sh amd64 >/dev/null)
cp "$WORK/tree/build/deb/batmond_${PKG_VERSION}_amd64.deb" "$WORK/tree/build/deb/batmond_${NEXT}_amd64.deb" "$WORK/debs/"

step "clean $DIST chroot"
# The host's Debian mirror (its bookworm entry: the same mirror serves trixie).
mirror=$(awk '/^URIs:/ { uri = $2 } /^Suites:/ && / bookworm( |$)/ { print uri; exit }' \
  /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' \
  /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
tarball="$CACHE/$DIST-minbase.tar"
if [ ! -s "$tarball" ]; then
  mkdir -p "$CACHE"
  rm -rf "$WORK/bootstrap"
  debootstrap --variant=minbase "$DIST" "$WORK/bootstrap" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap from $mirror"; }
  rm -rf "$WORK/bootstrap/var/cache/apt/archives/"*.deb
  tar -C "$WORK/bootstrap" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf "$WORK/bootstrap"
fi
cleanup # mounts a killed run may have left: never let rm reach the host's /dev or /proc
rm -rf --one-file-system "$ROOT" && mkdir -p "$ROOT"
# debootstrap made the device nodes apt and dpkg need: no bind mount of the host's /dev.
tar -C "$ROOT" -xf "$tarball"
mount -t proc proc "$ROOT/proc"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
printf 'deb %s %s main\n' "$mirror" "$DIST" >"$ROOT/etc/apt/sources.list"

repo() { # the packages given, as the signed repository the chroot uses
  packaging/apt-repo.sh "$WORK/repo" "$@" >/dev/null 2>&1 || fail "apt-repo.sh"
  rm -rf "$ROOT/srv/batmond-repo" && cp -r "$WORK/repo" "$ROOT/srv/batmond-repo"
  cp "$WORK/repo/batmond-archive-keyring.gpg" "$ROOT/usr/share/keyrings/"
}

step "apt install batmond from the signed repository"
repo "$WORK/debs/batmond_${PKG_VERSION}_amd64.deb"
echo "deb [signed-by=/usr/share/keyrings/batmond-archive-keyring.gpg] file:/srv/batmond-repo $DIST main" \
  >"$ROOT/etc/apt/sources.list.d/batmond.list"
in_root apt-get update -qq || fail "apt-get update (is the repository signature accepted?)"
in_root apt-get install -y -qq --no-install-recommends batmond >"$WORK/install.log" 2>&1 \
  || { tail -30 "$WORK/install.log"; fail "apt install batmond"; }
version=$(in_root batmond --version) && echo "$version"
[ "$version" = "batmond $VERSION" ] || fail "batmond --version"
in_root batmond check-config /etc/batmon.toml || fail "check-config of the shipped /etc/batmon.toml"
# trixie's package bundles the aiobmsble extra: its types load (elsewhere they are a config error).
aio_config='[[device]]\naddress = "C8:47:8C:00:00:01"\ntype = "seplos"\n'
if [ "$DIST" = trixie ]; then
  printf %b "$aio_config" >"$ROOT/tmp/aio.toml"
  in_root batmond check-config /tmp/aio.toml || fail "check-config of an aiobmsble type (the bundled extra)"
  rm "$ROOT/tmp/aio.toml"
fi

step "the esphome extra (both releases): check-config of a proxy, imports, a BMS read through a simulated proxy"
# aioesphomeapi as batmond imports it, from the bundled wheels on Debian's python3, with their compiled parts (a
# pure-Python fallback would load as well, only slower): Cython in aioesphomeapi and zeroconf, protobuf's upb.
in_root python3 -I -c '
import importlib.metadata, sys, time
sys.path.insert(0, "/usr/lib/batmond")
from batmond.transports import esphome
started = time.perf_counter()
esphome._api()
took = time.perf_counter() - started
import noise.connection, zeroconf._dns
from aioesphomeapi import connection, model
from google.protobuf.internal import api_implementation
model._zstd_module()
pure = [m.__name__ for m in (connection, zeroconf._dns) if not m.__file__.endswith(".so")]
assert not pure and api_implementation.Type() == "upb", (pure, api_implementation.Type())
version = importlib.metadata.version("aioesphomeapi")
print(f"aioesphomeapi {version} (compiled parts, upb) imported in {took:.2f} s")
' || fail "aioesphomeapi from /usr/lib/batmond"
# The package's own simulator (batmond.sim.esphome_proxy) plays an encrypted ESP32 proxy in front of a JK BMS on
# 127.0.0.1: the installed `batmond check-config` accepts the proxy (without aioesphomeapi it is a config error) and
# `batmond run` reads the BMS through it: "1/1 BMS online" to its NOTIFY_SOCKET.
cp packaging/proxy-check.py "$ROOT/tmp/proxy-check.py"
in_root env PYTHONPATH=/usr/lib/batmond python3 /tmp/proxy-check.py batmond /tmp ||
  fail "batmond run through a simulated ESPHome proxy"
rm "$ROOT/tmp/proxy-check.py"

step "installed files, user, permissions"
[ "$(in_root stat -c '%a %U %G' /etc/batmon.toml)" = "640 root batmond" ] || fail "/etc/batmon.toml mode/owner"
[ "$(in_root stat -c '%a %U %G' /var/lib/batmond)" = "750 batmond batmond" ] || fail "/var/lib/batmond"
in_root id -nG batmond | grep -qw dialout || fail "batmond is not in dialout"
in_root grep -qx /etc/batmon.toml /var/lib/dpkg/info/batmond.conffiles || fail "/etc/batmon.toml not a conffile"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/batmond.service" ] || fail "batmond.service not enabled"
for page in man8/batmond.8.gz man5/batmon.toml.5.gz; do
  [ -s "$ROOT/usr/share/man/$page" ] || fail "no $page"
done
for rules in "$WORK"/tree/packaging/udev/*.rules; do
  [ ! -e "$rules" ] || cmp "$rules" "$ROOT/lib/udev/rules.d/$(basename "$rules")" || fail "udev rules $rules"
done
# What the service does at start, as the service's user: read the config and run the real daemon code.
in_root setpriv --reuid=batmond --regid=batmond --init-groups batmond check-config /etc/batmon.toml \
  || fail "the batmond user cannot read /etc/batmon.toml"
in_root setpriv --reuid=batmond --regid=batmond --init-groups env HOME=/var/lib/batmond \
  batmond demo --duration 4 --state-dir /tmp/batmond-demo >"$WORK/demo.log" 2>&1 \
  || { tail -20 "$WORK/demo.log"; fail "batmond demo with the bundled dependencies"; }
grep -qw online "$WORK/demo.log" || { tail -20 "$WORK/demo.log"; fail "the demo read no battery"; }
rm -rf "$ROOT/tmp/batmond-demo"
# bumble's usb: transport loads Debian's libusb-1.0-0 (the wheel's bundled copy is left out).
in_root python3 -I -c 'import sys; sys.path.insert(0, "/usr/lib/batmond"); import usb1; print(usb1.getVersion())' \
  || fail "libusb from Debian"
systemd-analyze security --offline=yes --root="$ROOT" --threshold=$EXPOSURE_MAX batmond.service | tail -1 \
  || fail "installed batmond.service exposure"

step "upgrade to $NEXT with a user-changed config and meters"
sed -i 's/^host = "localhost"/host = "broker.example"/' "$ROOT/etc/batmon.toml"
echo '{"battery1": {"charged_wh": 1234}}' >"$ROOT/var/lib/batmond/meters.json"
changed=$(sha256sum <"$ROOT/etc/batmon.toml")
repo "$WORK/debs/batmond_${PKG_VERSION}_amd64.deb" "$WORK/debs/batmond_${NEXT}_amd64.deb"
in_root apt-get update -qq
in_root apt-get install -y -qq batmond >"$WORK/upgrade.log" 2>&1 || { tail -30 "$WORK/upgrade.log"; fail "upgrade"; }
in_root batmond --version | grep -qx "batmond $VERSION" || fail "batmond --version after the upgrade"
in_root dpkg-query -W -f '${Version}\n' batmond | grep -qx "$NEXT" || fail "not upgraded to $NEXT"
[ "$(sha256sum <"$ROOT/etc/batmon.toml")" = "$changed" ] || fail "the upgrade changed /etc/batmon.toml"
[ "$(in_root stat -c '%a %U %G' /etc/batmon.toml)" = "640 root batmond" ] || fail "config mode after upgrade"
grep -q 1234 "$ROOT/var/lib/batmond/meters.json" || fail "the upgrade lost the meters"
in_root batmond check-config /etc/batmon.toml || fail "check-config after the upgrade"

step "boot the chroot with systemd: notify, sandbox, watchdog, bt-reset request, restarts, retry timer"
command -v systemd-nspawn >/dev/null || apt-get install -y -qq systemd-container >/dev/null
in_root apt-get install -y -qq --no-install-recommends systemd systemd-sysv >"$WORK/systemd.log" 2>&1 \
  || { tail -20 "$WORK/systemd.log"; fail "installing systemd into the chroot"; }
cp "$ROOT/etc/batmon.toml" "$WORK/batmon.toml.saved"
# No broker; one JK BMS served by `batmond sim` (the package's batmond-sim.service) over TCP: the daemon reads it
# through bumble inside the full sandbox.
printf '[mqtt]\nenabled = false\n[bluetooth]\ntransport = "tcp-client:127.0.0.1:9100"\n' >"$ROOT/etc/batmon.toml"
printf '[[device]]\naddress = "C8:47:8C:E4:54:0D"\ntype = "jk"\nalias = "battery1"\n' >>"$ROOT/etc/batmon.toml"
# Shorter times than in production, so that each mechanism shows within seconds.
mkdir -p "$ROOT/etc/systemd/system/batmond.service.d" "$ROOT/etc/systemd/system/batmond-retry.timer.d"
printf '[Unit]\nStartLimitIntervalSec=30s\nStartLimitBurst=4\n[Service]\nWatchdogSec=4s\nRestartSec=1s\n' \
  >"$ROOT/etc/systemd/system/batmond.service.d/pkgtest.conf"
printf '[Timer]\nOnActiveSec=\nOnActiveSec=35s\n' >"$ROOT/etc/systemd/system/batmond-retry.timer.d/pkgtest.conf"
cat >"$ROOT/usr/local/sbin/pkgtest" <<'SCRIPT'
#!/bin/sh
# Runs inside the booted chroot; every line of /root/pkgtest.log is "ok ..." or "FAIL ...".
exec >/root/pkgtest.log 2>&1
prop() { systemctl show -p "$1" --value batmond; }
check() { if [ "$2" = "$3" ]; then echo "ok $1: $2"; else echo "FAIL $1: '$2', expected '$3'"; fi; }
wait_for() { i=0; while [ $i -lt "$1" ] && ! eval "$2"; do sleep 1; i=$((i + 1)); done; }
wait_for 90 '[ "$(prop ActiveState)" = active ] && prop StatusText | grep -q "^1/1 BMS online"'
check "started (READY=1 through the sandbox)" "$(prop ActiveState)/$(prop SubState)" active/running
check "reads the simulated BMS" "$(prop StatusText | cut -c1-14)" "1/1 BMS online"
pid=$(prop MainPID)
check "user" "$(stat -c %U /proc/$pid)" batmond
check "effective capabilities (CAP_NET_ADMIN)" "$(awk '/^CapEff/ { print $2 }' /proc/$pid/status)" 0000000000001000
check "ambient capabilities" "$(awk '/^CapAmb/ { print $2 }' /proc/$pid/status)" 0000000000001000
check "seccomp filter" "$(awk '/^Seccomp:/ { print $2 }' /proc/$pid/status)" 2
check "in dialout" "$(id -Gn batmond | grep -cw dialout)" 1
check "request watcher" "$(systemctl is-active batmond-bt-reset.path)" active
check "simulator service as batmond, sandboxed" "$(systemctl show -p User --value batmond-sim)/$(systemctl is-active batmond-sim)" batmond/active
setpriv --reuid=batmond --regid=batmond --init-groups sh -c \
  'echo tcp-client:127.0.0.1:9 >/run/batmond/req.tmp && mv /run/batmond/req.tmp /run/batmond/bt-reset.request'
wait_for 30 '[ -e /run/batmond/bt-reset.result ]'
check "bt-reset answer to the daemon's request (3: nothing to reset)" "$(cut -d' ' -f1 /run/batmond/bt-reset.result)" 3
kill -STOP "$pid"
wait_for 60 '[ "$(prop NRestarts)" -ge 1 ] && [ "$(prop ActiveState)" = active ]'
check "watchdog restarted the stopped daemon" "$(prop NRestarts)/$(prop ActiveState)" 1/active
echo "broken = 1" >>/etc/batmon.toml
systemctl restart batmond
wait_for 30 '[ "$(prop ActiveState)" = failed ]'
check "a config error is not retried in a loop (EX_CONFIG)" "$(prop ActiveState)/$(prop ExecMainStatus)" failed/78
sed -i '/^broken = 1$/d' /etc/batmon.toml
# A daemon that cannot start for another reason (here: a state directory it cannot create) is restarted.
printf '[state]\ndir = "/proc/batmond-cannot-be-here"\n' >>/etc/batmon.toml
systemctl reset-failed batmond
systemctl start batmond
wait_for 90 '[ "$(prop ActiveState)" = failed ]'
check "a failing daemon restarts quickly, then stops at the start limit" \
  "$(prop ActiveState)/$([ "$(prop NRestarts)" -ge 1 ] && echo restarted)" failed/restarted
check "retry timer armed" "$(systemctl is-active batmond-retry.timer)" active
sed -i '/^\[state\]$/d; /cannot-be-here/d' /etc/batmon.toml
wait_for 120 '[ "$(prop ActiveState)" = active ]'
check "the retry timer started it again" "$(prop ActiveState)/$(prop SubState)" active/running
echo "done"
systemctl poweroff
SCRIPT
chmod 755 "$ROOT/usr/local/sbin/pkgtest"
printf '[Unit]\nAfter=batmond.service\n[Service]\nType=oneshot\nExecStart=/usr/local/sbin/pkgtest\n' \
  >"$ROOT/etc/systemd/system/pkgtest.service"
ln -sf /etc/systemd/system/pkgtest.service "$ROOT/etc/systemd/system/multi-user.target.wants/"
ln -sf /lib/systemd/system/batmond-sim.service "$ROOT/etc/systemd/system/multi-user.target.wants/"
cleanup
timeout 300 systemd-nspawn -q -D "$ROOT" -b --register=no --keep-unit --capability=CAP_NET_ADMIN \
  --console=passive >"$WORK/boot.log" 2>&1 || true
cat "$ROOT/root/pkgtest.log" 2>/dev/null || true
grep -qx done "$ROOT/root/pkgtest.log" && ! grep -q '^FAIL' "$ROOT/root/pkgtest.log" \
  || { in_root journalctl -D /var/log/journal -u batmond --no-pager | tail -30; fail "service behaviour under systemd"; }
rm -rf "$ROOT/etc/systemd/system/batmond.service.d" "$ROOT/etc/systemd/system/batmond-retry.timer.d" \
  "$ROOT"/etc/systemd/system/pkgtest.service "$ROOT"/etc/systemd/system/multi-user.target.wants/pkgtest.service \
  "$ROOT"/etc/systemd/system/multi-user.target.wants/batmond-sim.service \
  "$ROOT/usr/local/sbin/pkgtest" "$ROOT/root/pkgtest.log"
cp "$WORK/batmon.toml.saved" "$ROOT/etc/batmon.toml"
mount -t proc proc "$ROOT/proc"

step "purge"
in_root apt-get purge -y -qq batmond >"$WORK/purge.log" 2>&1 || { tail -30 "$WORK/purge.log"; fail "purge"; }
left=$(cd "$ROOT" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./srv/batmond-repo \
  -o -path ./var/lib/apt/lists -o -path ./var/cache/apt \) -prune -o -name '*batmon*' -print \
  | grep -v -e '^./etc/apt/sources.list.d/batmond.list$' -e '^./usr/share/keyrings/batmond-archive-keyring.gpg$' \
  || true)
[ -z "$left" ] || fail "purge left: $left"
! in_root dpkg-statoverride --list /etc/batmon.toml >/dev/null || fail "statoverride left after purge"

cleanup
rm -rf --one-file-system "$ROOT" # 400 MB; a failed run leaves it for a look
step "done in $((SECONDS - START)) s"
echo "deb-test ($DIST): 1 passed, 0 failed"
