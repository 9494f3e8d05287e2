#!/usr/bin/env bash
# Installs everything vmmd's build and test need on a Debian 12 (bookworm) x86_64 machine:
#   * native toolchain + libraries (gRPC, Protobuf, Abseil, libfdt, prometheus-cpp, civetweb,
#     zlib, GoogleTest, Google Benchmark) for the x86_64 build and its unit/integration tests;
#   * clang, lld, llvm (its llvm-symbolizer makes sanitizer reports readable) and clang's runtimes
#     (ASan, UBSan, libFuzzer: libclang-rt-14-dev) for the sanitizer tree and the fuzz targets
#     (build/sanitize, docs/testing.md);
#   * ccache: the three C++ trees (native, sanitize, arm64) reuse what an earlier build compiled
#     from the same inputs (~/.cache/ccache; the Makefile sets it up);
#   * the aarch64 cross toolchain and arm64 multiarch libraries for the vmmd/vmmctl arm64 build;
#   * the tools of the nested arm64 end-to-end bed (QEMU 10 from bookworm-backports, edk2
#     firmware, acpica-tools, cpio);
#   * Prometheus (server and promtool): the tests lint vmmd's /metrics and the shipped rules, and
#     a real Prometheus scrapes vmmd in the end-to-end bed. Its service is not started.
#   * the offline checks of the deployment assets (tests/deploy): kubectl from trixie (its
#     `kubectl kustomize` renders deploy/kubernetes; bookworm's 1.20 is too old), yamllint,
#     systemd-analyze, and Node.js/npm for the npm schema packages that npm-tools.sh installs
#     outside the clone. systemd and Node.js come from Debian only when their command is
#     missing, so a machine's own (e.g. NodeSource's Node.js) is not replaced.
#   * the tools that build the Debian guest disk image (tests/e2e/image/build-debian-image.sh):
#     mmdebstrap, arch-test and qemu-user-static + binfmt-support (arm64 maintainer scripts run
#     under qemu-user), mtools, dosfstools and fdisk (the EFI system partition and the GPT);
#   * the OCI image tools of `make image` (deploy/image): umoci assembles the image layout,
#     skopeo writes it as an oci-archive. No container runtime is installed here: the e2e bed
#     runs Debian's arm64 crun inside L1, from .debs it only downloads.
# trixie and bookworm-backports are added pinned at priority 100, with the same URI as the
# machine's existing Debian source, so nothing from bookworm is replaced unless asked for.
# Idempotent: a second run only checks. Needs root (or sudo).
set -euo pipefail

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
STAMP=/var/lib/vmmd-build-deps.v7

native_pkgs=(cmake g++ make pkg-config ninja-build ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libfdt-dev libseccomp-dev device-tree-compiler prometheus-cpp-dev libcivetweb-dev zlib1g-dev libgtest-dev
  libgmock-dev googletest
  libbenchmark-dev acpica-tools cpio xz-utils zstd file curl python3 python3-yaml prometheus
  yamllint clang lld llvm libclang-rt-14-dev)
cross_pkgs=(g++-aarch64-linux-gnu libc6-dev-arm64-cross
  libgrpc++-dev:arm64 libprotobuf-dev:arm64 libabsl-dev:arm64 zlib1g-dev:arm64
  libseccomp-dev:arm64)
e2e_pkgs=(qemu-efi-aarch64 mmdebstrap arch-test qemu-user-static binfmt-support mtools dosfstools
  fdisk)
image_pkgs=(umoci skopeo)
bpo_pkgs=(qemu-system-arm qemu-system-common qemu-system-data)
# trixie's kubectl installs alone (it needs only libc6). Its `kubernetes-client` is a
# transitional package that just depends on kubectl.
trixie_pkgs=(kubectl)
command -v systemd-analyze >/dev/null || native_pkgs+=(systemd)
command -v npm >/dev/null || native_pkgs+=(nodejs npm)
here=$(cd "$(dirname "$0")" && pwd)

# Done already? The stamp records the package list; dpkg-query with explicit architectures
# checks they are all still installed (plain `dpkg -s` is ambiguous for multiarch packages).
want="${native_pkgs[*]} ${cross_pkgs[*]} ${e2e_pkgs[*]} ${image_pkgs[*]} ${bpo_pkgs[*]}"
want+=" ${trixie_pkgs[*]}"
installed() {
  local p
  for p in "${native_pkgs[@]}" "${e2e_pkgs[@]}" "${image_pkgs[@]}" "${bpo_pkgs[@]}" \
    "${trixie_pkgs[@]}" "${cross_pkgs[@]}"; do
    dpkg-query -W -f='${db:Status-Abbrev}\n' "$p" 2>/dev/null | grep -q '^ii' || return 1
  done
}
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && installed; then
  exec "$here/npm-tools.sh" install
fi

# The URI the machine already uses for Debian bookworm (deb822 or one-line format).
debian_uri() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm([ \n]|$)/ && !/security/ {
           for (i = 1; i <= NF; i++) if ($i == "URIs:") { print $(i+1); exit } }' "$f"
  done | head -n1
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" && $3 == "bookworm" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f"
  done | head -n1
}
uri=$(debian_uri | head -n1)
[ -n "$uri" ] || { echo "install-build-deps: no Debian bookworm source found in /etc/apt" >&2; exit 1; }

src=/etc/apt/sources.list.d/vmmd-extra-suites.sources
if [ ! -f "$src" ]; then
  $SUDO tee "$src" >/dev/null <<SRC
# Added by vmmd deploy/host/install-build-deps.sh: only what bookworm lacks is taken from here.
Types: deb
URIs: $uri
Suites: trixie bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  $SUDO tee /etc/apt/preferences.d/vmmd-extra-suites >/dev/null <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100

Package: *
Pin: release n=bookworm-backports
Pin-Priority: 100
PIN
fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $SUDO dpkg --add-architecture arm64
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# No service is started by the install (prometheus would start one where there is an init):
# a policy-rc.d that denies every start, only if the machine has none of its own.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get install -y -q --no-install-recommends "${native_pkgs[@]}" "${cross_pkgs[@]}" \
  "${e2e_pkgs[@]}" "${image_pkgs[@]}"
$SUDO apt-get install -y -q --no-install-recommends -t bookworm-backports "${bpo_pkgs[@]}"
$SUDO apt-get install -y -q --no-install-recommends -t trixie "${trixie_pkgs[@]}"
"$here/npm-tools.sh" install
echo "$want" | $SUDO tee "$STAMP" >/dev/null
