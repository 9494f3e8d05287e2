#!/usr/bin/env bash
# Fetches (never installs) Debian trixie's arm64 QEMU (qemu-system-arm: qemu-system-aarch64)
# for the vmmd-vs-QEMU benchmark, which runs it inside L1 next to vmmd, and packs it with its
# shared-library closure into a self-contained prefix that l1-run copies to /extra/qemu in L1
# (for scripts marked "# l1-run: qemu").
#   OUT_DIR/deb/                  the unpacked .debs: qemu-system-arm:arm64 and the arm64
#                                 packages its Depends need, recursively, but for
#                                 qemu-system-common and qemu-system-data (ROMs, keymaps, helpers:
#                                 the benchmark runs -M virt -nodefaults with -kernel and
#                                 virtio-mmio devices only, which load no data file)
#   OUT_DIR/root/                 the prefix (deploy/host/elf-closure.sh, libraries looked up in
#                                 OUT_DIR/deb only: a library that is not there is an error):
#     usr/bin/qemu-system-aarch64, usr/lib/aarch64-linux-gnu/*.so.*, lib/ld-linux-aarch64.so.1
#     qemu-system-aarch64         a wrapper: runs the binary through the prefix's own loader
#                                 with --library-path, so it never sees L1's libraries (vmmd's,
#                                 bookworm's glibc 2.36; trixie's QEMU needs glibc >= 2.38)
#   OUT_DIR/versions.txt          "package version" of every .deb
# Versions: trixie's candidates (`apt-cache -t trixie`, as fetch-assets.sh resolves trixie's
# kernel; nothing is pinned or installed). The .debs go through tests/e2e/deb-cache.sh into a
# cache directory of their own, $VMMD_CACHE_DIR/trixie-userland/debs (default
# ~/.cache/vmmd/trixie-userland/debs), keyed by package and version: deb-cache.sh drops older
# versions of a package, and trixie's libc6, libzstd1, ... would otherwise evict the bookworm
# ones crun uses (and back) on every fresh clone.
# Like fetch-crun.sh, done once per OUT_DIR (delete it to take newer versions).
# usage: tests/e2e/qemu/fetch-qemu.sh OUT_DIR    (l1-run: build/e2e/qemu)
set -euo pipefail

die() { echo "fetch-qemu: error: $*" >&2; exit 1; }
out=$(realpath -m "${1:?usage: fetch-qemu.sh OUT_DIR}")
e2e=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$e2e/../.." && pwd)
[ -x "$out/root/usr/bin/qemu-system-aarch64" ] && [ -x "$out/root/qemu-system-aarch64" ] &&
  [ -s "$out/versions.txt" ] && exit 0

apt_t=(apt-cache -t trixie)
top=qemu-system-arm
meta=$("${apt_t[@]}" show --no-all-versions "$top:arm64" 2>/dev/null) ||
  die "apt-cache knows no $top:arm64 in trixie (arm64 multiarch and trixie's sources: make deps; apt-get update)"
# The packages it depends on (first alternative of each) but its own data, then theirs,
# recursively; of those the arm64 ones (arch-all packages hold no arm64 library).
mapfile -t direct < <(awk -F': ' '$1 == "Depends" { print $2; exit }' <<<"$meta" | tr ',' '\n' |
  sed 's/|.*//; s/(.*//; s/[[:space:]]//g' | grep -v '^qemu-' | sed 's/$/:arm64/')
[ ${#direct[@]} -gt 0 ] || die "no library in the Depends of $top: $meta"
mapfile -t pkgs < <({
  echo "$top"
  "${apt_t[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "${direct[@]}" 2>/dev/null | sed -n 's/^\([a-z0-9][^ <]*\):arm64$/\1/p'
} | sort -u)
# "package version" of each candidate (one apt-cache call: each costs seconds here).
want=$("${apt_t[@]}" show --no-all-versions "${pkgs[@]/%/:arm64}" 2>/dev/null |
  awk -F': ' '$1 == "Package" { p = $2 } $1 == "Version" { print p, $2 }' | sort -u)
[ "$(wc -l <<<"$want")" = ${#pkgs[@]} ] || die "versions of ${pkgs[*]}: $want"

cache=${VMMD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vmmd}/trixie-userland
rm -rf "$out.new"
mkdir -p "$out.new/deb"
while read -r p v; do
  deb=$(VMMD_CACHE_DIR=$cache "$e2e/deb-cache.sh" "$p" "$v")
  dpkg-deb -x "$deb" "$out.new/deb"
done <<<"$want"
bin=$out.new/deb/usr/bin/qemu-system-aarch64
[ -x "$bin" ] || die "no usr/bin/qemu-system-aarch64 in $top"

# The prefix: the binary, its libraries and loader from the .debs only.
root=$out.new/root
ELF_CLOSURE_LIBDIRS=$out.new/deb/usr/lib/aarch64-linux-gnu:$out.new/deb/lib/aarch64-linux-gnu \
  ELF_CLOSURE_SOURCES=$out.new/sources.txt "$repo/deploy/host/elf-closure.sh" "$root" "$bin"
if foreign=$(awk -v d="$out.new/deb/" 'index($2, d) != 1' "$out.new/sources.txt") &&
  [ -n "$foreign" ]; then
  die "libraries from outside the trixie packages (a lib* package missing?): $foreign"
fi
[ -x "$root/lib/ld-linux-aarch64.so.1" ] || die "no loader lib/ld-linux-aarch64.so.1 in $root"
cat >"$root/qemu-system-aarch64" <<'EOF'
#!/bin/sh
# trixie's qemu-system-aarch64 through its own loader and libraries (tests/e2e/qemu/fetch-qemu.sh)
d=${0%/*}
exec "$d/lib/ld-linux-aarch64.so.1" --library-path "$d/usr/lib/aarch64-linux-gnu" \
  --argv0 qemu-system-aarch64 "$d/usr/bin/qemu-system-aarch64" "$@"
EOF
chmod 0755 "$root/qemu-system-aarch64"
echo "$want" >"$out.new/versions.txt"
rm -rf "$out"
mv "$out.new" "$out"
echo "fetch-qemu: $out: $top $(awk -v p="$top" '$1 == p { print $2 }' "$out/versions.txt")" \
  "+ $(($(wc -l <"$out/versions.txt") - 1)) packages it needs; prefix $(du -sh "$out/root" | cut -f1)" >&2
