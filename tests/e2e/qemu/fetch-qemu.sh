#!/usr/bin/env bash
# Fetches (never installs) Debian trixie's arm64 QEMU (qemu-system-arm: qemu-system-aarch64)
# and iperf3 for the vmmd-vs-QEMU benchmarks, which run them inside L1 next to vmmd, and packs
# them with their shared-library closure into a self-contained prefix that l1-run copies to
# /extra/qemu in L1 (for scripts marked "# l1-run: qemu").
#   OUT_DIR/deb/                  the unpacked .debs: qemu-system-arm:arm64, iperf3:arm64 and the
#                                 arm64 packages their Depends need, recursively, but for
#                                 qemu-system-common and qemu-system-data (ROMs, keymaps, helpers:
#                                 the benchmarks run -M virt -nodefaults with -kernel or -bios and
#                                 virtio-mmio devices only, which load no data file)
#   OUT_DIR/root/                 the prefix (deploy/host/elf-closure.sh, libraries looked up in
#                                 OUT_DIR/deb only: a library that is not there is an error):
#     usr/bin/{qemu-system-aarch64,iperf3}, usr/lib/aarch64-linux-gnu/*.so.*,
#     lib/ld-linux-aarch64.so.1
#     qemu-system-aarch64, iperf3 wrappers: each runs its binary through the prefix's own loader
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
bins=(qemu-system-aarch64 iperf3)
have=1
for b in "${bins[@]}"; do
  [ -x "$out/root/usr/bin/$b" ] && [ -x "$out/root/$b" ] || have=0
done
[ $have = 1 ] && [ -s "$out/versions.txt" ] && exit 0

apt_t=(apt-cache -t trixie)
tops=(qemu-system-arm iperf3)
# The packages they depend on (first alternative of each) but QEMU's own data, then theirs,
# recursively; of those the arm64 ones (arch-all packages hold no arm64 library).
direct=()
for top in "${tops[@]}"; do
  meta=$("${apt_t[@]}" show --no-all-versions "$top:arm64" 2>/dev/null) ||
    die "apt-cache knows no $top:arm64 in trixie (arm64 multiarch and trixie's sources: make deps; apt-get update)"
  mapfile -t -O ${#direct[@]} direct < <(awk -F': ' '$1 == "Depends" { print $2; exit }' <<<"$meta" |
    tr ',' '\n' | sed 's/|.*//; s/(.*//; s/[[:space:]]//g' | grep -v '^qemu-' | sed 's/$/:arm64/')
done
[ ${#direct[@]} -gt 0 ] || die "no library in the Depends of ${tops[*]}"
mapfile -t pkgs < <({
  printf '%s\n' "${tops[@]}"
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
elfs=()
for b in "${bins[@]}"; do
  [ -x "$out.new/deb/usr/bin/$b" ] || die "no usr/bin/$b in ${tops[*]}"
  elfs+=("$out.new/deb/usr/bin/$b")
done

# The prefix: the binaries, their libraries and loader from the .debs only.
root=$out.new/root
ELF_CLOSURE_LIBDIRS=$out.new/deb/usr/lib/aarch64-linux-gnu:$out.new/deb/lib/aarch64-linux-gnu \
  ELF_CLOSURE_SOURCES=$out.new/sources.txt "$repo/deploy/host/elf-closure.sh" "$root" "${elfs[@]}"
if foreign=$(awk -v d="$out.new/deb/" 'index($2, d) != 1' "$out.new/sources.txt") &&
  [ -n "$foreign" ]; then
  die "libraries from outside the trixie packages (a lib* package missing?): $foreign"
fi
[ -x "$root/lib/ld-linux-aarch64.so.1" ] || die "no loader lib/ld-linux-aarch64.so.1 in $root"
for b in "${bins[@]}"; do
  cat >"$root/$b" <<EOF
#!/bin/sh
# trixie's $b through its own loader and libraries (tests/e2e/qemu/fetch-qemu.sh)
d=\${0%/*}
exec "\$d/lib/ld-linux-aarch64.so.1" --library-path "\$d/usr/lib/aarch64-linux-gnu" \\
  --argv0 $b "\$d/usr/bin/$b" "\$@"
EOF
  chmod 0755 "$root/$b"
done
echo "$want" >"$out.new/versions.txt"
rm -rf "$out"
mv "$out.new" "$out"
echo "fetch-qemu: $out: $(for t in "${tops[@]}"; do awk -v p="$t" '$1 == p { printf "%s %s, ", $1, $2 }' "$out/versions.txt"; done)" \
  "+ $(($(wc -l <"$out/versions.txt") - ${#tops[@]})) packages they need; prefix $(du -sh "$out/root" | cut -f1)" >&2
