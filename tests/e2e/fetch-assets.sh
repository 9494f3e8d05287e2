#!/usr/bin/env bash
# Fetches (never installs) the arm64 pieces of the nested end-to-end bed and builds the L2 guest
# initramfs. Everything lands under OUT_DIR:
#   OUT_DIR/kernel-6.12/Image    Debian trixie's arm64 kernel (L1 kernel and the default L2 guest)
#   OUT_DIR/kernel-6.1/Image     Debian bookworm's arm64 kernel (the "pre-hotplug" L2 guest)
#   OUT_DIR/kernel-*/config      their kernel configs; kernel-*/version the exact package
#   OUT_DIR/kernel-6.12/modules/ L1's network modules (tun for TAP devices, virtio_net and what
#                                it needs; see net_modules), decompressed, and `order`: the
#                                real-Prometheus scenario loads them (lib.sh l1_network_up)
#   OUT_DIR/kernel-6.12/guest-modules/<release>/  the L2 guest's modules (evdev, virtio_mmio,
#                                virtio_blk, virtio_net...; see guest_modules), decompressed, and
#                                `order`, the list its /init loads them by
#   OUT_DIR/busybox              busybox-static:arm64 (L1 and L2 userland)
#   OUT_DIR/guest-initrd.cpio    L2 initramfs: busybox + tests/e2e/guest/init (uncompressed newc)
#                                + /bin/virtio-hostile (tests/e2e/guest/virtio-hostile.c, static)
# The .debs are cached outside the clone, keyed by package and version, in
# $VMMD_CACHE_DIR/debs (default ~/.cache/vmmd/debs; tests/e2e/deb-cache.sh, which the container
# scenario's crun uses too): a fresh clone on the same machine unpacks
# them again without downloading; a fresh machine downloads them with the same command. The
# unpacking is done once per OUT_DIR (stamp OUT_DIR/.fetched.v2); the modules are extracted
# again whenever one of the lists below changes (stamps kernel-6.12/modules/.list and
# kernel-6.12/guest-modules/.list); the guest initramfs is rebuilt whenever
# tests/e2e/guest/init is newer than it.
# Exact kernel versions come from the linux-image-arm64 metapackages that apt knows (trixie's
# via `-t trixie`, bookworm's = the default candidate), so nothing here names a version.
#
# usage: tests/e2e/fetch-assets.sh OUT_DIR        (make e2e-assets calls it with build/e2e)
set -euo pipefail

out=$(realpath -m "${1:?usage: fetch-assets.sh OUT_DIR}")
here=$(cd "$(dirname "$0")" && pwd)
stamp=$out/.fetched.v2
# L1's modules, in load order (paths inside the kernel package's module tree): tun (depends on
# nothing) for the TAP devices behind vmmd's virtio-net devices; virtio_net, which depends on
# net_failover, which depends on failover, for QEMU's NIC; virtio_blk for the drive with the
# Debian guest image (scenarios marked "# l1-run: debian-image").
net_modules=(drivers/net/tun.ko net/core/failover.ko drivers/net/net_failover.ko
  drivers/net/virtio_net.ko drivers/block/virtio_blk.ko)
# The L2 guest's modules (6.12 only), in load order: evdev, so /init sees the ACPI power
# button's KEY_POWER (Debian builds CONFIG_INPUT_EVDEV=m) and a graceful StopVm powers it off;
# virtio_mmio and virtio_blk for vmmd's virtio disks (both =m in Debian; the virtio core is
# built in); virtio_net (and its failover, net_failover, as for L1) for vmmd's virtio-net;
# virtio-rng for its entropy device (the hw_random core is built in).
guest_modules=(drivers/input/evdev.ko drivers/virtio/virtio_mmio.ko drivers/block/virtio_blk.ko
  net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko
  drivers/char/hw_random/virtio-rng.ko)

log() { echo "fetch-assets: $*" >&2; }
die() { echo "fetch-assets: error: $*" >&2; exit 1; }

# The unsigned image package the arm64 metapackage points at, e.g.
#   resolve_kernel trixie 6.12  ->  "linux-image-6.12.107+deb13-arm64-unsigned 6.12.107-1"
# $1: release for `apt-cache -t` ("" = default candidate), $2: expected upstream series.
resolve_kernel() {
  local rel=$1 series=$2 targs=() meta dep pkg ver
  [ -n "$rel" ] && targs=(-t "$rel")
  meta=$(apt-cache "${targs[@]}" show --no-all-versions linux-image-arm64:arm64 2>/dev/null) ||
    die "apt-cache knows no linux-image-arm64:arm64${rel:+ in $rel} (run: make deps; apt-get update)"
  dep=$(awk -F': ' '$1 == "Depends" { print $2; exit }' <<<"$meta" |
    tr ',' '\n' | grep -oE 'linux-image-[0-9][^ ]*-arm64' | head -n1) || true
  [ -n "$dep" ] || die "cannot read the kernel package from linux-image-arm64${rel:+/$rel}: $meta"
  case "$dep" in
    "linux-image-$series".*) ;;
    *) die "linux-image-arm64${rel:+/$rel} points at $dep, expected a $series kernel" ;;
  esac
  pkg=$dep-unsigned
  ver=$(apt-cache "${targs[@]}" show --no-all-versions "$pkg:arm64" 2>/dev/null |
    awk -F': ' '$1 == "Version" { print $2; exit }') || true
  [ -n "$ver" ] || die "apt-cache knows no $pkg:arm64"
  echo "$pkg $ver"
}

# Downloads PKG:arm64=VER into the cache (deb-cache.sh) and prints the .deb path.
download() { "$here/deb-cache.sh" "$1" "$2"; }

# Unpacks a kernel .deb and keeps only the Image (raw arm64 Image with EFI stub) and the config
# (the modules: extract_modules).
unpack_kernel() {
  local deb=$1 dir=$2 pkg=$3 ver=$4 tmp img
  tmp=$(mktemp -d "$out/.unpack.XXXXXX")
  dpkg-deb -x "$deb" "$tmp"
  img=$(ls "$tmp"/boot/vmlinuz-* 2>/dev/null | head -n1) || true
  [ -n "$img" ] || die "no /boot/vmlinuz-* in $deb"
  # Raw arm64 Image: "ARMd" magic at offset 56 (QEMU and vmmd load it as is).
  [ "$(dd if="$img" bs=1 skip=56 count=4 2>/dev/null)" = ARMd ] ||
    die "$img is not a raw arm64 Image (compressed?)"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$img" "$dir/Image"
  cp "$tmp"/boot/config-* "$dir/config" 2>/dev/null || true
  echo "$pkg $ver" >"$dir/version"
  rm -rf "$tmp"
}

fetch() {
  rm -rf "$out/debs"  # where earlier versions of this script kept them
  local k612 k61 bb_ver deb tmp
  k612=$(resolve_kernel trixie 6.12)
  k61=$(resolve_kernel "" 6.1)
  bb_ver=$(apt-cache show --no-all-versions busybox-static:arm64 2>/dev/null |
    awk -F': ' '$1 == "Version" { print $2; exit }') || true
  [ -n "$bb_ver" ] || die "apt-cache knows no busybox-static:arm64 (is arm64 multiarch enabled?)"

  set -- $k612
  deb=$(download "$1" "$2")
  unpack_kernel "$deb" "$out/kernel-6.12" "$1" "$2"
  set -- $k61
  deb=$(download "$1" "$2")
  unpack_kernel "$deb" "$out/kernel-6.1" "$1" "$2"

  deb=$(download busybox-static "$bb_ver")
  tmp=$(mktemp -d "$out/.unpack.XXXXXX")
  dpkg-deb -x "$deb" "$tmp"
  [ -f "$tmp/bin/busybox" ] || die "no bin/busybox in $deb"
  cp "$tmp/bin/busybox" "$out/busybox.tmp" && mv "$out/busybox.tmp" "$out/busybox"
  rm -rf "$tmp"

  {
    echo "kernel-6.12: $k612"
    echo "kernel-6.1: $k61"
    echo "busybox-static: $bb_ver"
  } >"$out/versions.txt"
  touch "$stamp"
  log "assets ready in $out ($(tr '\n' ';' <"$out/versions.txt"))"
}

# copy_modules TREE DEST MODULE...: the modules (paths inside the module tree TREE of an
# unpacked kernel package) into DEST, decompressed (busybox insmod reads plain .ko), and
# DEST/order, their file names in the given (load) order.
copy_modules() {
  local tree=$1 dest=$2 m src
  shift 2
  rm -rf "$dest"
  mkdir -p "$dest"
  for m in "$@"; do
    src=$(ls "$tree/$m"* 2>/dev/null | head -n1) || true
    [ -n "$src" ] || die "no module $m in $tree"
    case "$src" in
      *.xz) xz -dc "$src" >"$dest/$(basename "$m")" ;;
      *.zst) zstd -qdc "$src" >"$dest/$(basename "$m")" ;;
      *) cp "$src" "$dest/$(basename "$m")" ;;
    esac
  done
  printf '%s\n' "${@##*/}" >"$dest/order"
}

# Unpacks the modules of the kernel in DIR (its cached .deb, named by DIR/version): L1's into
# DIR/modules/, the guest's into DIR/guest-modules/<release>/, each with its list as .list.
extract_modules() {
  local dir=$1 deb tmp tree rel
  set -- $(cat "$dir/version")
  deb=$(download "$1" "$2")
  tmp=$(mktemp -d "$out/.unpack.XXXXXX")
  dpkg-deb -x "$deb" "$tmp"
  tree=$(ls -d "$tmp"/lib/modules/*/kernel "$tmp"/usr/lib/modules/*/kernel 2>/dev/null |
    head -n1) || true
  [ -n "$tree" ] || die "no lib/modules/*/kernel in $deb"
  rel=$(basename "$(dirname "$tree")")
  copy_modules "$tree" "$dir/modules" "${net_modules[@]}"
  printf '%s\n' "${net_modules[@]}" >"$dir/modules/.list"
  rm -rf "$dir/guest-modules"
  copy_modules "$tree" "$dir/guest-modules/$rel" "${guest_modules[@]}"
  printf '%s\n' "${guest_modules[@]}" >"$dir/guest-modules/.list"
  rm -rf "$tmp"
  log "L1 modules: ${net_modules[*]##*/}; guest modules for $rel: ${guest_modules[*]##*/}"
}

# L2 guest initramfs: /bin/busybox (+ sh link), /init, empty mount points. Applets are linked
# at boot by /init (busybox --install -s), which keeps the cpio small.
build_guest_initrd() {
  local root=$out/guest-root cpio=$out/guest-initrd.cpio
  rm -rf "$root"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run}
  cp "$out/busybox" "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  install -m 0755 "$here/guest/init" "$root/init"
  # The hostile virtio driver (vmmd.e2e.vhostile): static, so the busybox guest needs no libc.
  aarch64-linux-gnu-gcc -static -O2 -s -Wall -Wextra -Werror -o "$root/bin/virtio-hostile" \
    "$here/guest/virtio-hostile.c" || die "compiling tests/e2e/guest/virtio-hostile.c"
  mkdir -p "$root/lib/modules"
  cp -r "$out/kernel-6.12/guest-modules/." "$root/lib/modules/"
  rm -f "$root/lib/modules/.list"
  # The online rule vmmd ships for busybox guests (deploy/guest/mdev, docs/guest-setup.md).
  mkdir -p "$root/etc/mdev"
  install -m 0644 "$here/../../deploy/guest/mdev/mdev.conf" "$root/etc/mdev.conf"
  install -m 0755 "$here/../../deploy/guest/mdev/cpu-online" "$root/etc/mdev/cpu-online"
  # /dev/console lets the kernel give /init its console even before devtmpfs is mounted
  # (the kernel's built-in initramfs has one too; this is belt and braces, root only).
  mknod -m 0600 "$root/dev/console" c 5 1 2>/dev/null || true
  (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$cpio.tmp"
  mv "$cpio.tmp" "$cpio"
  rm -rf "$root"
  log "built $cpio ($(du -h "$cpio" | cut -f1))"
}

mkdir -p "$out"
if [ ! -f "$stamp" ] || [ ! -f "$out/kernel-6.12/Image" ] || [ ! -f "$out/kernel-6.1/Image" ] ||
   [ ! -f "$out/busybox" ]; then
  fetch
fi
# Extracted again whenever a module list changes (fetch's unpack_kernel drops both).
# list_changed FILE MODULE...: true unless FILE holds exactly that list.
list_changed() {
  local file=$1
  shift
  [ "$(cat "$file" 2>/dev/null)" != "$(printf '%s\n' "$@")" ]
}
if list_changed "$out/kernel-6.12/modules/.list" "${net_modules[@]}" ||
   list_changed "$out/kernel-6.12/guest-modules/.list" "${guest_modules[@]}"; then
  extract_modules "$out/kernel-6.12"
fi
guest_sources=("$here/guest/init" "$here/guest/virtio-hostile.c" "$out/busybox" "$here/../../deploy/guest/mdev/mdev.conf"
  "$here/../../deploy/guest/mdev/cpu-online" "$out/kernel-6.12/guest-modules")
stale=0
for f in "${guest_sources[@]}"; do [ "$f" -nt "$out/guest-initrd.cpio" ] && stale=1; done
if [ ! -f "$out/guest-initrd.cpio" ] || [ $stale = 1 ]; then
  build_guest_initrd
fi
