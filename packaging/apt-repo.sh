#!/usr/bin/env bash
# Make a signed apt repository from built packages (make apt-repo).
#   packaging/apt-repo.sh [OUTDIR [DEB ...]]     default: build/apt-repo from build/deb/batmond_*.deb
# Packages for bookworm and trixie (make deb DIST=...) go to the suites of those names.
# Signing key:
#   APT_SIGNING_KEY=<key id or fingerprint>   a release key already in gpg's keyring (GNUPGHOME as usual),
#                                             e.g. imported from a CI secret with `gpg --import`;
#   unset                                     a throwaway key is made in OUTDIR/../apt-repo-gnupg (tests only).
# The public key is written to OUTDIR/batmond-archive-keyring.gpg; users install it in /usr/share/keyrings
# and add:  deb [signed-by=/usr/share/keyrings/batmond-archive-keyring.gpg] URL <bookworm|trixie> main
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build/apt-repo}
shift || true
debs=("$@")
[ ${#debs[@]} -gt 0 ] || debs=(build/deb/batmond_*.deb)
[ -e "${debs[0]}" ] || { echo "apt-repo: no packages; run make deb first" >&2; exit 1; }

if ! command -v apt-ftparchive >/dev/null || ! command -v gpg >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq apt-utils gnupg >/dev/null
  else
    echo "apt-repo: run: sudo apt-get install apt-utils gnupg" >&2
    exit 1
  fi
fi

if [ -z "${APT_SIGNING_KEY:-}" ]; then
  export GNUPGHOME
  GNUPGHOME="$(cd "$(dirname "$OUT")" && pwd)/apt-repo-gnupg"
  # Kept between runs (a repository and its upgrade must share a key), made again once it has expired.
  if [ ! -s "$GNUPGHOME/key-id" ] || [ "$(gpg --batch --list-keys --with-colons "$(cat "$GNUPGHOME/key-id")" \
    2>/dev/null | awk -F: '$1 == "pub" { print $2 }')" != u ]; then
    rm -rf "$GNUPGHOME" && mkdir -p -m 700 "$GNUPGHOME"
    gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
      --quick-gen-key "batmond throwaway test archive key" ed25519 sign 30d
    gpg --batch --list-keys --with-colons | awk -F: '$1 == "fpr" { print $10; exit }' >"$GNUPGHOME/key-id"
  fi
  APT_SIGNING_KEY=$(cat "$GNUPGHOME/key-id")
  echo "apt-repo: signed with a throwaway key ($APT_SIGNING_KEY); set APT_SIGNING_KEY for a release" >&2
fi

# One suite per Debian release, told apart by the package version (build-deb.sh: trixie's ends in +deb13).
suite_of() { case "$(dpkg-deb -f "$1" Version)" in *+deb13*) echo trixie ;; *) echo bookworm ;; esac; }
rm -rf "$OUT" && mkdir -p "$OUT"
suites=()
for deb in "${debs[@]}"; do
  suite=$(suite_of "$deb")
  mkdir -p "$OUT/pool/$suite/b/batmond" && cp "$deb" "$OUT/pool/$suite/b/batmond/"
  [[ " ${suites[*]} " == *" $suite "* ]] || suites+=("$suite")
done
for suite in "${suites[@]}"; do
  archs=$(for deb in "$OUT/pool/$suite"/b/batmond/*.deb; do dpkg-deb -f "$deb" Architecture; done | sort -u | tr '\n' ' ')
  for arch in $archs; do
    dir="$OUT/dists/$suite/main/binary-$arch"
    mkdir -p "$dir"
    (cd "$OUT" && apt-ftparchive --arch "$arch" packages "pool/$suite") >"$dir/Packages"
    gzip -9nk "$dir/Packages"
  done
  apt-ftparchive \
    -o APT::FTPArchive::Release::Origin=batmond -o APT::FTPArchive::Release::Label=batmond \
    -o APT::FTPArchive::Release::Suite="$suite" -o APT::FTPArchive::Release::Codename="$suite" \
    -o "APT::FTPArchive::Release::Architectures=${archs% }" -o APT::FTPArchive::Release::Components=main \
    release "$OUT/dists/$suite" >"$OUT/Release.tmp"
  mv "$OUT/Release.tmp" "$OUT/dists/$suite/Release"
  gpg --batch --yes --local-user "$APT_SIGNING_KEY" --clearsign -o "$OUT/dists/$suite/InRelease" \
    "$OUT/dists/$suite/Release"
  gpg --batch --yes --local-user "$APT_SIGNING_KEY" --armor --detach-sign -o "$OUT/dists/$suite/Release.gpg" \
    "$OUT/dists/$suite/Release"
  echo "apt repository: $OUT ($suite main: ${archs% })"
done
gpg --batch --export "$APT_SIGNING_KEY" >"$OUT/batmond-archive-keyring.gpg"
