#!/usr/bin/env bash
# Downloads (never installs) an arm64 .deb into the cache shared by every clone on this machine
# and prints its path. The cache is outside the clone, keyed by package and version:
# $VMMD_CACHE_DIR/debs (default ~/.cache/vmmd/debs). A cached file is used as is; after a new
# version of a package is downloaded, its older versions there are dropped.
# usage: tests/e2e/deb-cache.sh PACKAGE VERSION     (the :arm64 architecture is implied)
set -euo pipefail

die() { echo "deb-cache: error: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: deb-cache.sh PACKAGE VERSION"
pkg=$1 ver=$2
cache=${VMMD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vmmd}
mkdir -p "$cache/debs"
file=$cache/debs/${pkg}_${ver//:/%3a}_arm64.deb
if [ ! -s "$file" ]; then
  echo "deb-cache: downloading $pkg:arm64 $ver into $cache/debs" >&2
  # (as root apt warns that it downloads unsandboxed: only shown when the download fails)
  err=$(cd "$cache/debs" && apt-get download -q "$pkg:arm64=$ver" 2>&1 >/dev/null) ||
    die "apt-get download $pkg:arm64=$ver failed: $err"
  for old in "$cache/debs/${pkg}"_*_arm64.deb; do
    [ "$old" = "$file" ] || rm -f "$old"
  done
else
  echo "deb-cache: $pkg:arm64 $ver: cached in $cache/debs" >&2
fi
[ -s "$file" ] || die "expected $file after apt-get download"
echo "$file"
