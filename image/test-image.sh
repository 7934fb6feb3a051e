#!/usr/bin/env bash
# Boot test of the SD image (make image-test, after make image): boots a copy of the built image under
# qemu-system-aarch64 -M virt with the image's own kernel, initrd and kernel command line (its console swapped
# for QEMU's serial port), the way a user would prepare it: batmon.toml, authorized_keys and
# wpa_supplicant.conf on the FAT boot partition, the card bigger than the image; the only addition is
# systemd.wants=batmond-sim.service on the kernel command line: the package's simulator serves the two BMS of
# that batmon.toml inside the guest. Then: batmond's readings arrive at a mosquitto on this machine's 127.0.0.1,
# and over SSH (the only way in, as on a real Pi) systemd reached multi-user with no failed unit, the
# boot-partition files were applied, the root filesystem grew, batmond is active. Then a broken batmon.toml
# on the boot partition is rejected with its reason and the old config stays. Last, `apt upgrade` from the
# project's repository (a rebuilt newer version, signed with the image's repository key, served from 127.0.0.1)
# updates batmond, keeps the config, and batmond publishes again.
# Network: QEMU's user network with restrict=on (the guest reaches nothing but the three forwards below).
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C.UTF-8
START=$SECONDS
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' batmond/__init__.py)
IMAGE=${IMAGE:-build/image/batmond-$VERSION-rpi-arm64.img}
WORK=$PWD/build/image-test
BOOT_TIMEOUT=${BOOT_TIMEOUT:-600} # s until SSH answers; first boot under TCG takes 1-2 min
step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - START)); }
fail() {
  echo "image-test: FAILED: $*" >&2
  [ ! -s "$WORK/console.log" ] || { echo "--- last lines of the serial console:" >&2; tail -25 "$WORK/console.log" >&2; }
  exit 1
}
check() { if [ "$2" = "$3" ]; then echo "ok $1: $2"; else fail "$1: '$2', expected '$3'"; fi; }

[ -s "$IMAGE" ] || { echo "image-test: no $IMAGE; run make image first" >&2; exit 1; }
need=(qemu-system-aarch64:qemu-system-arm mcopy:mtools socat:socat mosquitto_sub:mosquitto-clients ssh:openssh-client)
missing=()
for tool in "${need[@]}"; do command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}"); done
[ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "image-test: run: sudo apt-get install ${missing[*]}" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

step "prepare the card: a copy of $IMAGE, 1 GiB bigger, files on the boot partition"
rm -rf "$WORK" && mkdir -p "$WORK"
cp --sparse=always "$IMAGE" "$WORK/card.img"
truncate -s +1G "$WORK/card.img"
fat="$WORK/card.img@@4M" # image/genimage.cfg: the FAT partition starts at 4 MiB
ssh-keygen -q -t ed25519 -N '' -C image-test -f "$WORK/id_ed25519"
cp "$WORK/id_ed25519.pub" "$WORK/authorized_keys"
# MQTT: 10.0.2.100:1883 in the guest is forwarded to the test's broker on 127.0.0.1.
cat >"$WORK/batmon.toml" <<'EOF'
# image-test: two BMS served by batmond-sim.service inside the guest, a broker forwarded from the host
[mqtt]
host = "10.0.2.100"
client_id = "batmond-image-test"
[bluetooth]
transport = "tcp-client:127.0.0.1:9100"
[[device]]
address = "C8:47:8C:E4:54:0D"
type = "jk"
alias = "jk1"
[[device]]
address = "A4:C1:38:00:00:02"
type = "jbd"
alias = "jbd1"
EOF
printf 'ctrl_interface=DIR=/run/wpa_supplicant\ncountry=DE\nnetwork={\n  ssid="batmon-test"\n  psk="not-a-real-password"\n}\n' \
  >"$WORK/wpa_supplicant.conf"
for file in batmon.toml authorized_keys wpa_supplicant.conf; do mcopy -i "$fat" "$WORK/$file" "::$file"; done
# The image's own kernel, initrd and command line, as the Pi's firmware would take them.
kernel=$(mdir -b -i "$fat" :: | sed -n 's|^::/||p' | grep '^vmlinuz-' | sort -V | tail -1)
initrd=$(mdir -b -i "$fat" :: | sed -n 's|^::/||p' | grep '^initrd.img-' | sort -V | tail -1)
[ -n "$kernel" ] && [ -n "$initrd" ] || fail "no kernel or initrd on the boot partition"
mcopy -i "$fat" "::$kernel" "::$initrd" "::cmdline.txt" "$WORK/"
cmdline="$(sed 's/console=[^ ]*//g' "$WORK/cmdline.txt" | tr -s ' ') console=ttyAMA0 systemd.wants=batmond-sim.service"
echo "kernel $kernel, command line: $cmdline"

step "a newer batmond in a repository signed with the image's key, served on 127.0.0.1"
NEXT="$VERSION+deb13+test1"
mkdir -p "$WORK/tree"
tar -c --exclude=__pycache__ batmond pyproject.toml README.md packaging | tar -x -C "$WORK/tree"
(cd "$WORK/tree" && DIST=trixie DEB_VERSION=$NEXT LINTIAN=0 packaging/build-deb.sh arm64 >"$WORK/build-deb.log" 2>&1) \
  || { tail -20 "$WORK/build-deb.log"; fail "building $NEXT"; }
# apt-repo.sh signs with the key kept next to its output directory: the one the image was built with.
packaging/apt-repo.sh "$PWD/build/image/upgrade-repo" "$WORK/tree/build/deb/batmond_${NEXT}_arm64.deb" \
  >"$WORK/apt-repo.log" 2>&1 || { cat "$WORK/apt-repo.log"; fail "apt-repo"; }
http_port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory build/image/upgrade-repo "$http_port" >"$WORK/http.log" 2>&1 &
pids+=($!)

step "broker on 127.0.0.1 and the guest booting (qemu-system-aarch64 -M virt, TCG)"
mqtt_port=$(free_port)
ssh_port=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$mqtt_port" >"$WORK/mosquitto.conf"
/usr/sbin/mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -t image-test/probe -n 2>/dev/null && break; sleep 0.2; done
mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -v -t 'batmond/#' -t 'homeassistant/#' \
  -F '%U %t %p' >"$WORK/mqtt.log" 2>"$WORK/mosquitto_sub.log" &
pids+=($!)
sleep 1
kill -0 "${pids[-1]}" 2>/dev/null || fail "mosquitto_sub: $(cat "$WORK/mosquitto_sub.log")"
boot_epoch=$(date +%s.%N)
# romfile= : the kernel boots directly, so the NIC needs no PXE option ROM; asking for one fails on machines
# where qemu came without its recommended ipxe-qemu ("failed to find romfile efi-virtio.rom").
qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 -nographic -no-reboot \
  -kernel "$WORK/$kernel" -initrd "$WORK/$initrd" -append "$cmdline" \
  -drive "file=$WORK/card.img,format=raw,if=virtio" \
  -netdev "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:$ssh_port-:22,guestfwd=tcp:10.0.2.100:1883-cmd:socat - TCP:127.0.0.1:$mqtt_port,guestfwd=tcp:10.0.2.101:80-cmd:socat - TCP:127.0.0.1:$http_port" \
  -device virtio-net-pci,netdev=net0,romfile= -serial "file:$WORK/console.log" -monitor none -display none \
  </dev/null >"$WORK/qemu.log" 2>&1 &
qemu=$!
pids+=("$qemu")
ssh_to() {
  ssh -q -i "$WORK/id_ed25519" -p "$ssh_port" -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile="$WORK/known_hosts" root@127.0.0.1 "$@"
}
deadline=$((SECONDS + BOOT_TIMEOUT))
until ssh_to true 2>/dev/null; do
  kill -0 "$qemu" 2>/dev/null || fail "QEMU exited: $(tail -5 "$WORK/qemu.log")"
  [ $SECONDS -lt $deadline ] || fail "no SSH within ${BOOT_TIMEOUT}s"
  sleep 5
done
ssh_s=$(python3 -c "import time; print(round(time.time() - $boot_epoch, 1))")
echo "SSH answers ${ssh_s}s after power-on"

step "batmond reads the simulated BMS running in the guest and publishes"
deadline=$((SECONDS + 120))
until grep -q ' batmond/jbd1/state ' "$WORK/mqtt.log" && grep -q ' batmond/jk1/state ' "$WORK/mqtt.log"; do
  [ $SECONDS -lt $deadline ] || { ssh_to 'journalctl -u batmond -n 20 --no-pager' || true; fail "no state from both BMS"; }
  sleep 2
done
first_state=$(awk '$2 ~ /\/state$/ { print $1; exit }' "$WORK/mqtt.log")
boot_to_state=$(python3 -c "print(round($first_state - $boot_epoch, 1))")
python3 - "$WORK/mqtt.log" <<'PY' || fail "the published state is not what the simulator holds"
import json, sys
states = {}
for line in open(sys.argv[1]):
    _, topic, payload = line.rstrip("\n").split(" ", 2)
    if topic.endswith("/state"):
        states[topic.split("/")[1]] = json.loads(payload)
for alias in ("jk1", "jbd1"):
    state = states[alias]
    cells = state["cell_voltages"]
    # The simulated packs (batmond/sim/battery.py): LiFePO4 cells near 3.3 V, pack voltage the sum of the cells.
    assert all(3.0 < cell < 3.6 for cell in cells), cells
    assert abs(state["voltage"] - sum(cells)) < 0.1 * len(cells), (state["voltage"], cells)
    assert 0 <= state["soc"] <= 100, state["soc"]
    print(f"ok {alias}: {len(cells)} cells, {state['voltage']} V, {state['current']} A, SoC {state['soc']} %")
PY
echo "ok first battery state at the broker ${boot_to_state}s after power-on"

step "the booted system"
state=$(ssh_to 'timeout 300 systemctl is-system-running --wait' || true)
check "systemd state" "$state" running
check "failed units" "$(ssh_to 'systemctl list-units --failed --plain --no-legend | wc -l')" 0
check "batmond" "$(ssh_to 'systemctl is-active batmond')" active
check "hostname" "$(ssh_to hostname)" batmon
check "mDNS answered by systemd-resolved" "$(ssh_to 'resolvectl mdns | sed -n "s/^Global: //p"')" yes
check "root mounted noatime" "$(ssh_to 'findmnt -no OPTIONS / | tr , "\n" | grep -x noatime')" noatime
check "/tmp in RAM" "$(ssh_to 'findmnt -no FSTYPE /tmp')" tmpfs
check "journald bounded" "$(ssh_to 'systemd-analyze cat-config systemd/journald.conf | grep "^SystemMaxUse="')" SystemMaxUse=64M
check "bluetoothd absent (batmond owns the adapter)" "$(ssh_to 'command -v bluetoothd || echo absent')" absent
check "config from the boot partition" "$(ssh_to 'sha256sum </etc/batmon.toml')" "$(sha256sum <"$WORK/batmon.toml")"
check "config owner and mode" "$(ssh_to 'stat -c "%a %U %G" /etc/batmon.toml')" "640 root batmond"
check "boot files renamed" "$(ssh_to 'cd /boot/firmware && ls *.applied | tr "\n" " "')" \
  "authorized_keys.applied batmon.toml.applied wpa_supplicant.conf.applied "
check "Wi-Fi settings installed" "$(ssh_to 'stat -c %a /etc/wpa_supplicant/wpa_supplicant-wlan0.conf')" 600
check "no password for root" "$(ssh_to 'passwd -S root | cut -d" " -f2')" L
root_mb=$(ssh_to 'df -BM --output=size / | tail -1 | tr -dc 0-9')
[ "$root_mb" -gt 2200 ] || fail "the root filesystem did not grow to the card: ${root_mb} MB"
echo "ok root filesystem grown to the card: ${root_mb} MB"
check "batmond from the project's repository" "$(ssh_to 'dpkg-query -W -f "\${Version}" batmond')" "$VERSION+deb13"
ssh_to 'python3 -I -c "import sys; sys.path.insert(0, \"/usr/lib/batmond\"); import aiobmsble"' \
  || fail "the aiobmsble extra is not importable"
echo "ok aiobmsble extra bundled"
first_publish=$(awk 'NR == 1 { print $1 }' "$WORK/mqtt.log")
[ -n "$first_publish" ] || fail "batmond published nothing to the broker"
boot_to_publish=$(python3 -c "print(round($first_publish - $boot_epoch, 1))")
echo "ok first MQTT publish from batmond ${boot_to_publish}s after power-on ($(awk 'NR == 1 { print $2 }' "$WORK/mqtt.log"))"

step "a broken batmon.toml on the boot partition is rejected, the old config stays"
before=$(ssh_to 'sha256sum </etc/batmon.toml')
ssh_to 'printf "[[device]]\naddress = \"C8:47:8C:00:00:09\"\ntype = \"no-such-bms\"\n" >/boot/firmware/batmon.toml \
  && systemctl restart batmon-boot-files'
check "config kept" "$(ssh_to 'sha256sum </etc/batmon.toml')" "$before"
check "file renamed" "$(ssh_to 'ls /boot/firmware/batmon.toml.rejected')" /boot/firmware/batmon.toml.rejected
reason=$(ssh_to 'cat /boot/firmware/batmon.toml.error.txt')
echo "$reason" | grep -q 'no-such-bms' || fail "the reason does not name the problem: $reason"
ssh_to 'journalctl -b -u batmon-boot-files --no-pager -o cat' | grep 'was rejected' >/dev/null || fail "no journal line"
echo "ok rejected with its reason: $(echo "$reason" | head -1)"
check "batmond still active" "$(ssh_to 'systemctl is-active batmond')" active

step "apt upgrade from the project's repository"
# As an image built with BATMOND_APT_URL has it; Debian's own sources are left out (the guest has no internet).
ssh_to "sed -i 's|^URIs: .*|URIs: http://10.0.2.101/|; /^Enabled: no/d' /etc/apt/sources.list.d/batmond.sources"
states_before=$(grep -c ' batmond/jk1/state ' "$WORK/mqtt.log")
ssh_to 'apt-get -o Dir::Etc::SourceList=/dev/null -qq update && apt-get -o Dir::Etc::SourceList=/dev/null -y -qq upgrade' \
  >"$WORK/upgrade.log" 2>&1 || { tail -20 "$WORK/upgrade.log"; fail "apt upgrade in the guest"; }
check "upgraded" "$(ssh_to 'dpkg-query -W -f "\${Version}" batmond')" "$NEXT"
check "config kept" "$(ssh_to 'sha256sum </etc/batmon.toml')" "$before"
check "batmond restarted and active" "$(ssh_to 'systemctl is-active batmond')" active
deadline=$((SECONDS + 120))
until [ "$(grep -c ' batmond/jk1/state ' "$WORK/mqtt.log")" -gt $((states_before + 3)) ]; do
  [ $SECONDS -lt $deadline ] || fail "no state published after the upgrade"
  sleep 2
done
echo "ok publishing again after the upgrade"

ssh_to 'systemctl poweroff' || true
for _ in $(seq 60); do kill -0 "$qemu" 2>/dev/null || break; sleep 1; done
cat >"$WORK/report.txt" <<EOF
image: $IMAGE ($(du -h --apparent-size "$IMAGE" | cut -f1) raw)
ssh_after_power_on_s: $ssh_s
first_mqtt_publish_after_power_on_s: $boot_to_publish
first_state_after_power_on_s: $boot_to_state
root_filesystem_after_growth_mb: $root_mb
test_s: $((SECONDS - START))
EOF
cat "$WORK/report.txt"
echo "image-test: 1 passed, 0 failed"
