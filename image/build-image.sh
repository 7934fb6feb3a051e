#!/usr/bin/env bash
# Build the Raspberry Pi SD image (make image; needs root): Debian 13 (trixie) arm64 from Debian's own archive,
# batmond installed from the project's apt repository, ready to flash.
#   build/image/batmond-<version>-rpi-arm64.img.xz and .img.xz.sha256 (and the raw .img for make image-test)
# Two stages, so that changing batmond or the files in image/rootfs does not rebuild Debian:
#   1. base: mmdebstrap under qemu-user-static (binfmt): Debian packages, kernel, firmware and ONE initramfs
#      (the package scripts' own update-initramfs runs are diverted: each costs ~10 min under emulation).
#      Cached in $BATMOND_IMAGE_CACHE (default ~/.cache/batmond-image) by its inputs, rebuilt after 7 days so
#      that Debian's updates get in.
#   2. batmond from a signed apt repository made from the trixie arm64 package, image/rootfs, clean-up;
#      then genimage (no loop devices, no mounts) and xz.
# Settings (environment):
#   BATMOND_APT_URL   where the published repository lives (for `apt upgrade` on the Pi); unset: the entry is
#                     written disabled, with a note
#   APT_SIGNING_KEY   release key for the repository (packaging/apt-repo.sh); unset: a throwaway test key
#   MIRROR            Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "build-image: needs root (chroot into the arm64 tree)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
START=$SECONDS
OUT=build/image
CACHE=${BATMOND_IMAGE_CACHE:-$HOME/.cache/batmond-image}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' batmond/__init__.py)
NAME="batmond-$VERSION-rpi-arm64"
ROOT=$PWD/$OUT/root
step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - START)); }
fail() { echo "build-image: FAILED: $*" >&2; exit 1; }

need=(mmdebstrap:mmdebstrap genimage:genimage mcopy:mtools mkfs.vfat:dosfstools mke2fs:e2fsprogs xz:xz-utils
  qemu-aarch64-static:qemu-user-static update-binfmts:binfmt-support)
missing=()
for tool in "${need[@]}"; do command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}"); done
[ -e /usr/share/keyrings/debian-archive-trixie-stable.gpg ] || missing+=(debian-archive-keyring)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -d /proc/sys/fs/binfmt_misc ] && [ -e /proc/sys/fs/binfmt_misc/register ] \
  || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || fail "arm64 binaries cannot run here (binfmt_misc qemu-aarch64)"

mkdir -p "$OUT"
cleanup() {
  for dir in proc sys; do if mountpoint -q "$ROOT/$dir"; then umount -l "$ROOT/$dir"; fi; done
}
trap cleanup EXIT

# Stage 1 ------------------------------------------------------------------------------------------------------
# Everything the Pi needs from Debian, batmond's own dependencies included (python3, libudev1, libusb-1.0-0).
packages=(systemd-sysv udev kmod initramfs-tools linux-image-arm64 raspi-firmware firmware-brcm80211
  bluez-firmware wireless-regdb wpasupplicant systemd-timesyncd systemd-resolved openssh-server ca-certificates
  apt python3 adduser libudev1 libusb-1.0-0 rfkill iproute2 cloud-guest-utils fdisk e2fsprogs dosfstools
  nano less)
sources="deb $MIRROR trixie main non-free-firmware
deb $MIRROR trixie-updates main non-free-firmware
deb ${MIRROR%/debian}/debian-security trixie-security main non-free-firmware"
base_key=$( (printf '%s\n' "${packages[*]}" "$sources"; sed -n '/^# Stage 1/,/^# Stage 2/p' "$0") \
  | sha256sum | cut -c1-16)
base="$CACHE/base-$base_key.tar"
find "$CACHE" -name 'base-*.tar' -mtime +7 -delete 2>/dev/null || true
if [ ! -s "$base" ]; then
  step "stage 1: Debian trixie arm64 base (mmdebstrap under emulation; 15-20 min)"
  mkdir -p "$CACHE"
  rm -f "$CACHE"/base-*.tar
  # ROOTPART: the kernel command line raspi-firmware writes (now and at every kernel upgrade on the Pi) finds
  # the root filesystem by label, as on any card the image is written to.
  # While packages install, update-initramfs is a stub that does nothing (the kernel's hook skips a stub that
  # does not say it is initramfs-tools'); the real one, restored afterwards, runs once.
  mmdebstrap --arch=arm64 --variant=apt --format=tar --components=main,non-free-firmware \
    --include="${packages[*]// /,}" \
    --setup-hook='mkdir -p "$1/boot/firmware"' \
    --essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs' \
    --essential-hook='printf "#!/bin/sh\nexit 0\n" >"$1/usr/sbin/update-initramfs"; chmod 755 "$1/usr/sbin/update-initramfs"' \
    --customize-hook='sed -i "s/^#\?ROOTPART=.*/ROOTPART=LABEL=RASPIROOT/" "$1/etc/default/raspi-firmware"' \
    --customize-hook='rm "$1/usr/sbin/update-initramfs"' \
    --customize-hook='chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs' \
    --customize-hook='chroot "$1" update-initramfs -c -k all' \
    --customize-hook='for kernel in "$1"/boot/vmlinuz-*; do
        chroot "$1" /etc/kernel/postinst.d/z50-raspi-firmware "${kernel##*/vmlinuz-}"; done' \
    trixie "$base.tmp" "$sources" >"$OUT/mmdebstrap.log" 2>&1 \
    || { tail -30 "$OUT/mmdebstrap.log"; fail "mmdebstrap (log: $OUT/mmdebstrap.log)"; }
  mv "$base.tmp" "$base"
  step "stage 1 done: $(du -h "$base" | cut -f1)"
else
  step "stage 1: cached base $base"
fi

# Stage 2 ------------------------------------------------------------------------------------------------------
step "stage 2: batmond trixie arm64 package and its apt repository"
DIST=trixie packaging/build-deb.sh arm64 >"$OUT/build-deb.log" 2>&1 || { tail -20 "$OUT/build-deb.log"; fail "build-deb"; }
deb=build/deb/batmond_${VERSION}+deb13_arm64.deb
packaging/apt-repo.sh "$OUT/repo" "$deb" >"$OUT/apt-repo.log" 2>&1 || { cat "$OUT/apt-repo.log"; fail "apt-repo"; }

step "stage 2: root filesystem"
cleanup
rm -rf --one-file-system "$ROOT" && mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$base"
mount -t proc proc "$ROOT/proc"
cp -r "$OUT/repo" "$ROOT/srv/batmond-repo"
install -m 644 "$OUT/repo/batmond-archive-keyring.gpg" "$ROOT/usr/share/keyrings/"
echo "deb [signed-by=/usr/share/keyrings/batmond-archive-keyring.gpg] file:/srv/batmond-repo trixie main" \
  >"$ROOT/etc/apt/batmond-build.list"
# Only the project's repository: the base already holds every Debian package batmond depends on.
apt_local=(-o Dir::Etc::SourceList=/etc/apt/batmond-build.list -o Dir::Etc::SourceParts=/nonexistent)
chroot "$ROOT" apt-get "${apt_local[@]}" update -qq || fail "apt-get update from the project repository"
chroot "$ROOT" apt-get "${apt_local[@]}" install -y -qq --no-install-recommends batmond >"$OUT/install.log" 2>&1 \
  || { tail -20 "$OUT/install.log"; fail "apt install batmond"; }
rm -rf "$ROOT/srv/batmond-repo" "$ROOT/etc/apt/batmond-build.list"
{
  echo "# batmond's apt repository: 'apt update && apt upgrade' updates batmond with the rest of the system."
  if [ -n "${BATMOND_APT_URL:-}" ]; then
    printf 'Types: deb\nURIs: %s\n' "$BATMOND_APT_URL"
  else
    echo "# This image was built without BATMOND_APT_URL: set URIs to where the repository is published and"
    echo "# remove the line Enabled: no."
    printf 'Types: deb\nURIs: https://REPOSITORY-URL\nEnabled: no\n'
  fi
  printf 'Suites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/batmond-archive-keyring.gpg\n'
} >"$ROOT/etc/apt/sources.list.d/batmond.sources"

cp -r image/rootfs/. "$ROOT/"
echo batmon >"$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tbatmon\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
ln -sf ../run/systemd/resolve/stub-resolv.conf "$ROOT/etc/resolv.conf"
chroot "$ROOT" systemctl enable --quiet systemd-networkd systemd-resolved systemd-timesyncd ssh \
  batmon-boot-files batmon-grow-root batmond
# Wi-Fi starts when there is a wlan0 (not every Pi has one) and settings for it (its drop-in's condition).
# (systemctl add-wants refuses a device unit that does not exist yet, so the link is made by hand.)
mkdir -p "$ROOT/etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants"
ln -sf /usr/lib/systemd/system/wpa_supplicant@.service \
  "$ROOT/etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants/wpa_supplicant@wlan0.service"
chroot "$ROOT" passwd --lock root >/dev/null
# Made on the card's first boot (batmon-boot-files): no two cards share a host key or a machine id.
rm -f "$ROOT"/etc/ssh/ssh_host_*
echo uninitialized >"$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"
chroot "$ROOT" apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/log/*.log "$ROOT"/var/log/apt/* "$ROOT"/tmp/* "$ROOT"/root/.bash_history
cleanup

grep -q 'root=LABEL=RASPIROOT' "$ROOT/boot/firmware/cmdline.txt" \
  || fail "cmdline.txt does not boot LABEL=RASPIROOT: $(cat "$ROOT/boot/firmware/cmdline.txt")"
ls "$ROOT"/boot/firmware/initrd.img-* >/dev/null || fail "no initrd in /boot/firmware"

step "genimage and xz"
rm -rf "$OUT/genimage-tmp" "$OUT/$NAME".img*
genimage --config image/genimage.cfg --rootpath "$ROOT" --tmppath "$OUT/genimage-tmp" --inputpath "$OUT" \
  --outputpath "$OUT" >"$OUT/genimage.log" 2>&1 || { tail -20 "$OUT/genimage.log"; fail "genimage"; }
mv "$OUT/batmon.img" "$OUT/$NAME.img"
rm -rf "$OUT/genimage-tmp" "$OUT/boot.vfat" "$OUT/root.ext4"
xz -T0 -6 -k -f "$OUT/$NAME.img"
(cd "$OUT" && sha256sum "$NAME.img.xz" >"$NAME.img.xz.sha256")
rm -rf --one-file-system "$ROOT"
step "done: $OUT/$NAME.img.xz $(du -h "$OUT/$NAME.img.xz" | cut -f1) (raw $(du -h --apparent-size "$OUT/$NAME.img" | cut -f1)) in $((SECONDS - START)) s"
