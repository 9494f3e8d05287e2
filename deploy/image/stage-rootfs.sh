#!/usr/bin/env bash
# Stages the root file system of vmmd's container image (deploy/image/build-image.sh packs it):
#   /usr/bin/vmmd, vmmctl, vmm-autoscaler   the cross-built arm64 binaries
#   /usr/lib/aarch64-linux-gnu/*, /lib/ld-linux-aarch64.so.1
#                        their shared-library closure, from the arm64 Debian packages `make deps`
#                        installs and the cross sysroot's .debs (deploy/host/elf-closure.sh)
#   /usr/share/doc/vmmd/packages            "package version" of each Debian package used
#   /usr/share/doc/<package>/copyright      their copyright files
#   /etc/passwd, /etc/group                 root only
#   /run/vmmd, /var/lib/vmmd, /root, /tmp   empty (the socket and state dirs are mounted)
# No shell, no package manager, no CA certificates.
# usage: stage-rootfs.sh ROOT        env: VMMD_BIN_DIR (default <repo>/build/arm64/bin)
set -euo pipefail

die() { echo "stage-rootfs: error: $*" >&2; exit 1; }
root=$(realpath -m "${1:?usage: stage-rootfs.sh ROOT}")
repo=$(cd "$(dirname "$0")/../.." && pwd)
bindir=${VMMD_BIN_DIR:-$repo/build/arm64/bin}
crossdebs=$repo/build/cross/debs

bins=()
for b in vmmd vmmctl vmm-autoscaler; do
  [ -x "$bindir/$b" ] || die "$bindir/$b is not built (run: make build-arm64)"
  bins+=("$bindir/$b")
done
rm -rf "$root"
mkdir -p "$root"/{etc,root,run/vmmd,var/lib/vmmd,usr/share/doc/vmmd}
install -d -m 1777 "$root/tmp"
sources=$(mktemp)
trap 'rm -f "$sources" "$sources.pkgs"' EXIT
ELF_CLOSURE_SOURCES=$sources "$repo/deploy/host/elf-closure.sh" "$root" "${bins[@]}"
echo "root:x:0:0:root:/root:/usr/sbin/nologin" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"

# The Debian package of each copied file, as "name version doc-dir": the arm64 packages
# installed here (their dpkg file lists; with merged /usr dpkg may know a file by its /lib path),
# else the cross sysroot's .debs.
sysroot=$repo/build/cross/sysroot
declare -A owner=() crossver=()
lists=(/var/lib/dpkg/info/*:arm64.list)
while read -r list path; do
  owner[$path]=${list##*/}
done < <(cut -d' ' -f2 "$sources" | sed 'p; s|^/usr/lib/|/lib/|' |
  grep -x -F -f - "${lists[@]}" | sed 's/\.list:/ /' || true)
for deb in "$crossdebs"/*_arm64.deb; do
  p=$(dpkg-deb -f "$deb" Package)
  crossver[$p]=$(dpkg-deb -f "$deb" Version)
  while read -r path; do
    owner[$sysroot/${path#./}]=$p:arm64
  done < <(dpkg-deb -c "$deb" | awk '{ print $6 }')
done
while read -r _ src; do
  p=${owner[$src]:-${owner[/${src#/usr/}]:-}}
  [ -n "$p" ] || die "no Debian package owns $src"
  p=${p%:arm64}
  case "$src" in
    "$sysroot"/*) echo "$p ${crossver[$p]} $sysroot/usr/share/doc/$p" ;;
    *) echo "$p $(dpkg-query -W -f='${Version}' "$p:arm64") /usr/share/doc/$p" ;;
  esac
done <"$sources" | sort -u >"$sources.pkgs"
while read -r pkg _ doc; do
  [ -f "$doc/copyright" ] || die "no $doc/copyright"
  install -D -m 0644 "$doc/copyright" "$root/usr/share/doc/$pkg/copyright"
done <"$sources.pkgs"
cut -d' ' -f1,2 "$sources.pkgs" >"$root/usr/share/doc/vmmd/packages"
echo "stage-rootfs: $root: ${bins[*]##*/} + $(wc -l <"$root/usr/share/doc/vmmd/packages")" \
  "Debian packages' libraries ($(du -sh "$root" | cut -f1))" >&2
