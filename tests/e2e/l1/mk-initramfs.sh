#!/usr/bin/env bash
# Builds the L1 initramfs (uncompressed newc cpio: no decompression cost under TCG):
#   /init                     tests/e2e/l1/init
#   /bin/busybox (+ sh)       busybox-static:arm64 (applets linked at boot)
#   /usr/bin/vmmd, vmmctl, vmm-autoscaler, e2e-driver   the cross-built binaries + their shared-library closure
#                             (/usr/lib/aarch64-linux-gnu/*, /lib/ld-linux-aarch64.so.1), packed
#                             by deploy/host/elf-closure.sh (as is the container image)
#   /usr/bin/<program>        each of $L1_EXTRA_BINS, with its closure likewise
#   /lib/modules/l1/          L1's network modules (virtio_net and what it needs) + `order`
#   /guest/Image              trixie 6.12 arm64 Image (the default L2 guest kernel)
#   /guest/Image-6.1          bookworm 6.1 arm64 Image (the pre-hotplug guest kernel)
#   /guest/initrd.cpio        the L2 guest initramfs (tests/e2e/guest/init)
#   /guest/QEMU_EFI.fd        edk2 firmware (UEFI + ACPI boots)
#   /e2e/lib.sh               the scenario helpers
#   /e2e/workload-lib.sh      the start of every Debian workload script
#   /e2e/bench-lib.sh         the side-by-side benchmarks' helpers (tests/e2e/bench/)
#   /e2e/scenarios/NN-NAME.sh the scenarios, run in this order by /init (one L1 boot for all)
#   /e2e/scenario-env         $L1_SCENARIO_ENV, one NAME=VALUE a line, sourced by lib.sh
#   /extra/...                the contents of $L1_EXTRA_DIR, if set
# usage: mk-initramfs.sh OUT_CPIO SCRIPT [SCRIPT...]
# env:   E2E_ASSETS (default <repo>/build/e2e), VMMD_BIN_DIR (default <repo>/build/arm64/bin),
#        L1_EXTRA_DIR, L1_SCENARIO_ENV, L1_ALLOW_NO_VMMD=1 (pack without vmmd/vmmctl when they are missing),
#        L1_EXTRA_BINS (space-separated paths of more arm64 programs, e.g. crun),
#        L1_EXTRA_LIBDIRS (colon-separated dirs searched first for their libraries)
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: mk-initramfs.sh OUT_CPIO SCRIPT [SCRIPT...]" >&2; exit 2; }
out_cpio=$(realpath -m "$1")
shift
scripts=("$@")
here=$(cd "$(dirname "$0")" && pwd)
e2e=$(cd "$here/.." && pwd)
repo=$(cd "$e2e/../.." && pwd)
assets=${E2E_ASSETS:-$repo/build/e2e}
bindir=${VMMD_BIN_DIR:-$repo/build/arm64/bin}
efi=/usr/share/qemu-efi-aarch64/QEMU_EFI.fd

die() { echo "mk-initramfs: error: $*" >&2; exit 1; }

for script in "${scripts[@]}"; do [ -f "$script" ] || die "no scenario script $script"; done
for f in "$assets/busybox" "$assets/kernel-6.12/Image" "$assets/kernel-6.1/Image" \
  "$assets/guest-initrd.cpio"; do
  [ -f "$f" ] || die "missing $f (run: make e2e-assets)"
done
[ -f "$efi" ] || die "missing $efi (install qemu-efi-aarch64: make deps)"

root=$out_cpio.root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/lib/aarch64-linux-gnu,lib,etc,dev,proc,sys,tmp,run,root,guest,e2e,extra}
cp "$assets/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 "$here/init" "$root/init"
mknod -m 0600 "$root/dev/console" c 5 1 2>/dev/null || true
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$root/etc/hosts"

# ---- vmmd, vmmctl, vmm-autoscaler and their shared-library closure (deploy/host/elf-closure.sh)
bins=() missing=()
for b in vmmd vmmctl vmm-autoscaler e2e-driver; do
  if [ -x "$bindir/$b" ]; then bins+=("$bindir/$b"); else missing+=("$b"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "${L1_ALLOW_NO_VMMD:-0}" = 1 ] || die "${missing[*]} not built in $bindir (run: make build-arm64)"
  echo "mk-initramfs: WARNING: ${missing[*]} not in $bindir: L1 is packed without" >&2
fi
if [ ${#bins[@]} -gt 0 ]; then
  "$repo/deploy/host/elf-closure.sh" "$root" "${bins[@]}"
fi
# More arm64 programs, packed the same way after vmmd's (whose libraries they then share).
if [ -n "${L1_EXTRA_BINS:-}" ]; then
  read -r -a extra_bins <<<"$L1_EXTRA_BINS"
  ELF_CLOSURE_LIBDIRS=${L1_EXTRA_LIBDIRS:-} \
    "$repo/deploy/host/elf-closure.sh" "$root" "${extra_bins[@]}"
fi

# ---- L1's network modules (loaded only by scenarios that bring the network up)
if [ -f "$assets/kernel-6.12/modules/order" ]; then
  mkdir -p "$root/lib/modules/l1"
  cp "$assets"/kernel-6.12/modules/* "$root/lib/modules/l1/"
fi

# ---- guest payloads, scenario, extras
cp "$assets/kernel-6.12/Image" "$root/guest/Image"
cp "$assets/kernel-6.1/Image" "$root/guest/Image-6.1"
cp "$assets/guest-initrd.cpio" "$root/guest/initrd.cpio"
cp "$efi" "$root/guest/QEMU_EFI.fd"
install -m 0644 "$e2e/lib.sh" "$root/e2e/lib.sh"
install -m 0644 "$e2e/workload-lib.sh" "$root/e2e/workload-lib.sh"
install -m 0644 "$e2e/bench/bench-lib.sh" "$root/e2e/bench-lib.sh"
mkdir -p "$root/e2e/scenarios"
n=0
for script in "${scripts[@]}"; do
  n=$((n + 1))
  install -m 0755 "$script" "$root/e2e/scenarios/$(printf '%02d' $n)-$(basename "$script")"
done
# Each scenario's own time limit inside L1 (s): a hung one is killed and the next one runs.
echo "${L1_SCENARIO_TIMEOUT:-600}" >"$root/e2e/scenario-timeout"
# Variables every scenario of this boot sees (lib.sh sources the file), e.g.
# E2E_ACPI_BOOT=acpi-direct: NAME=VALUE words, no spaces or quotes in a value.
if [ -n "${L1_SCENARIO_ENV:-}" ]; then
  for kv in $L1_SCENARIO_ENV; do
    [[ "$kv" =~ ^[A-Z_][A-Z0-9_]*=[A-Za-z0-9_./:,-]*$ ]] ||
      { echo "mk-initramfs: L1_SCENARIO_ENV: '$kv' is not NAME=VALUE" >&2; exit 2; }
    echo "$kv"
  done >"$root/e2e/scenario-env"
fi
if [ -n "${L1_EXTRA_DIR:-}" ]; then
  [ -d "$L1_EXTRA_DIR" ] || die "L1_EXTRA_DIR=$L1_EXTRA_DIR is not a directory"
  cp -a "$L1_EXTRA_DIR"/. "$root/extra/"
fi

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out_cpio.tmp"
mv "$out_cpio.tmp" "$out_cpio"
rm -rf "$root"
echo "mk-initramfs: $out_cpio ($(du -h "$out_cpio" | cut -f1))" >&2
