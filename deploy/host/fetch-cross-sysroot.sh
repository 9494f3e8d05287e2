#!/usr/bin/env bash
# Unpacks (never installs) what the aarch64 cross build needs but cannot co-install as :arm64:
#   libfdt (conflicts with the amd64 libfdt-dev), prometheus-cpp + civetweb (not
#   co-installable; vmmd's HTTP endpoint uses civetweb's headers and library directly), and the
#   6.12 UAPI headers from linux-libc-dev/trixie (SMCCC filter).
# usage: fetch-cross-sysroot.sh OUT_DIR     → OUT_DIR/sysroot, OUT_DIR/uapi/usr/include
set -euo pipefail
out=$(realpath -m "${1:?usage: fetch-cross-sysroot.sh OUT_DIR}")
stamp=$out/.complete.v3
[ -f "$stamp" ] && exit 0

mkdir -p "$out/debs"
cd "$out/debs"
sysroot_pkgs=(libfdt-dev:arm64/bookworm libfdt1:arm64/bookworm
  prometheus-cpp-dev:arm64/bookworm libprometheus-cpp-core1.0:arm64/bookworm
  libprometheus-cpp-pull1.0:arm64/bookworm libcivetweb1:arm64/bookworm
  libcivetweb-dev:arm64/bookworm)
# apt runs the download as _apt when it can read the folder; quiet the root fallback note.
apt-get download -q "${sysroot_pkgs[@]}" linux-libc-dev/trixie >/dev/null
rm -rf "$out/sysroot" "$out/uapi"
mkdir -p "$out/sysroot" "$out/uapi"
for deb in *_arm64.deb; do dpkg-deb -x "$deb" "$out/sysroot"; done
# Whole tree: the per-arch asm headers are relative symlinks into usr/lib/linux/uapi.
dpkg-deb -x linux-libc-dev_*_all.deb "$out/uapi"
# The unversioned .so symlinks of runtime-only packages, for the linker.
for so in "$out"/sysroot/usr/lib/aarch64-linux-gnu/libcivetweb.so.1; do
  [ -e "$so" ] && ln -sf "$(basename "$so")" "${so%.1}"
done
grep -q KVM_ARM_VM_SMCCC_FILTER "$out/uapi/usr/include/aarch64-linux-gnu/asm/kvm.h" || {
  echo "fetch-cross-sysroot: linux-libc-dev/trixie lacks the SMCCC filter UAPI" >&2; exit 1; }
touch "$stamp"
