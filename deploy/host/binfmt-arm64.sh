#!/usr/bin/env bash
# Makes this x86_64 host run arm64 binaries through qemu-user (binfmt_misc), which the Debian
# guest image build needs (its arm64 maintainer scripts run in a chroot). Registrations do not
# survive a reboot and a machine without systemd-binfmt (a container, a CI runner) never makes
# them, so `make debian-image` calls this each time; it does nothing when arm64 already runs.
# The definition comes from Debian's packages (make deps): qemu-user-binfmt's
# /usr/lib/binfmt.d/qemu-aarch64.conf (QEMU >= 8.1, the systemd-binfmt format: the register
# line itself), else binfmt-support's /usr/share/binfmts/qemu-aarch64 (older qemu-user-static).
# usage: deploy/host/binfmt-arm64.sh      (root)
set -euo pipefail
die() { echo "binfmt-arm64: error: $*" >&2; exit 1; }
arch-test arm64 >/dev/null 2>&1 && exit 0
[ "$(id -u)" = 0 ] || die "arm64 binaries do not run here, and registering qemu-aarch64 needs root"
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
  mount -t binfmt_misc binfmt_misc "$binfmt" || die "cannot mount binfmt_misc at $binfmt"
fi
conf=/usr/lib/binfmt.d/qemu-aarch64.conf
if [ -e "$binfmt/qemu-aarch64" ]; then
  echo 1 >"$binfmt/qemu-aarch64"
elif [ -f "$conf" ]; then
  grep -v '^[#;]' "$conf" | grep . | head -n1 >"$binfmt/register"
elif [ -f /usr/share/binfmts/qemu-aarch64 ]; then
  update-binfmts --import qemu-aarch64 && update-binfmts --enable qemu-aarch64
else
  die "no qemu-aarch64 binfmt definition: make deps (qemu-user-static, qemu-user-binfmt)"
fi
arch-test arm64 >/dev/null 2>&1 ||
  die "arm64 binaries still do not run (arch-test arm64: $(arch-test arm64 2>&1); $(cat "$binfmt/qemu-aarch64" 2>&1 | head -n3 | tr '\n' ' '))"
echo "binfmt-arm64: registered qemu-aarch64 ($(sed -n 's/^interpreter //p' "$binfmt/qemu-aarch64"))" >&2
