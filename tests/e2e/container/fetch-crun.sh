#!/usr/bin/env bash
# Fetches (never installs) Debian's arm64 crun, the OCI runtime the container scenario runs in
# L1, and the packages of its shared libraries: crun:arm64 and its Depends, recursively, at
# their candidate versions, downloaded into the shared .deb cache (tests/e2e/deb-cache.sh) and
# unpacked into OUT_DIR (OUT_DIR/usr/bin/crun, OUT_DIR/{usr/,}lib/aarch64-linux-gnu/...).
# Like fetch-assets.sh, done once per OUT_DIR (OUT_DIR/versions.txt lists what was fetched;
# delete OUT_DIR to take newer versions).
# usage: tests/e2e/container/fetch-crun.sh OUT_DIR    (l1-run: build/e2e/crun)
set -euo pipefail

die() { echo "fetch-crun: error: $*" >&2; exit 1; }
out=$(realpath -m "${1:?usage: fetch-crun.sh OUT_DIR}")
e2e=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$out/usr/bin/crun" ] && [ -s "$out/versions.txt" ] && exit 0

mapfile -t pkgs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances crun:arm64 2>/dev/null | grep -E '^[a-z0-9]' | sort -u)
[[ " ${pkgs[*]} " == *" crun:arm64 "* ]] ||
  die "apt-cache knows no crun:arm64 (is arm64 multiarch enabled? run: make deps)"
# "package version" of each candidate (one apt-cache call: each costs seconds here).
want=$(apt-cache show --no-all-versions "${pkgs[@]}" 2>/dev/null |
  awk -F': ' '$1 == "Package" { p = $2 } $1 == "Version" { print p, $2 }' | sort -u)
[ "$(wc -l <<<"$want")" = ${#pkgs[@]} ] || die "versions of ${pkgs[*]}: $want"
rm -rf "$out.new"
mkdir -p "$out.new"
while read -r p v; do
  deb=$("$e2e/deb-cache.sh" "$p" "$v")
  dpkg-deb -x "$deb" "$out.new"
done <<<"$want"
[ -x "$out.new/usr/bin/crun" ] || die "no usr/bin/crun in the crun package"
echo "$want" >"$out.new/versions.txt"
rm -rf "$out"
mv "$out.new" "$out"
echo "fetch-crun: $out: $(tr '\n' ';' <"$out/versions.txt")" >&2
