#!/usr/bin/env bash
# Builds a bootable Debian trixie arm64 raw disk image for the e2e guests, from Debian packages
# only, and writes:
#   OUT_DIR/debian-trixie-arm64.raw   2 GiB sparse raw disk (virtio-blk), GPT:
#       1  EFI system partition (FAT32, 200 MiB): \EFI\BOOT\BOOTAA64.EFI = systemd-boot (found by
#          stock edk2/ArmVirtQemu through the removable-media path), loader entry (timeout 0),
#          the kernel and initrd
#       2  ext4 root: linux-image-arm64, initramfs-tools, systemd, udev and the test tools
#          (fio, iperf3, stress-ng, iproute2, iputils-ping, ...)
#   OUT_DIR/debian-image.txt          key=value facts: cache key, package versions, partition and
#                                     filesystem UUIDs, kernel command line, installed packages
# The initramfs (initramfs-tools, MODULES=list) holds virtio_mmio, virtio_blk, virtio_net and
# ext4 (initramfs-modules here), so the root disk is found through ACPI (LNRO0005) or a device
# tree alike, by PARTUUID.
# The guest autologins root on ttyAMA0, is called vmmd-guest, has 10.0.2.15/24 on its first
# ethernet interface (systemd-networkd), onlines hot-added vCPUs (deploy/guest/udev rule) and
# prints @@GUEST-UP-DEBIAN on ttyAMA0 once it is up (vmmd-ready.service). See README.md here.
#
# Everything is cached outside the clone, in $VMMD_CACHE_DIR (default ~/.cache/vmmd):
#   images/<key>/   finished images; <key> hashes this script, its config files here, the udev
#                   rule and the trixie arm64 versions of the key packages, so a new kernel or
#                   systemd in the archive, or a change here, builds a new image. A hit is copied
#                   (cp --sparse=always, reflinked where the filesystem can) in seconds.
#   image-debs/     the .debs of the last build (a rebuild downloads only what changed)
#   image-apt/      apt lists for trixie arm64 that the key's versions are read from
# The trixie sources are derived at run time from the machine's own apt configuration (the
# entries that serve trixie, else the bookworm ones with the suite replaced; -updates and
# -security likewise), so no mirror is named here.
#
# Needs root, and on the host: mmdebstrap arch-test qemu-user-static binfmt-support mtools
# dosfstools fdisk e2fsprogs (see README.md). Arm64 maintainer scripts run under qemu-user via
# binfmt_misc, which this script registers if it can.
#
# usage: tests/e2e/image/build-debian-image.sh OUT_DIR
#   VMMD_IMAGE_REBUILD=1   build even if the cache has the image (and replace it)
set -euo pipefail

prog=build-debian-image
log() { echo "$prog: $*" >&2; }
die() { echo "$prog: error: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self=$here/$(basename "${BASH_SOURCE[0]}")
repo=$(cd "$here/../../.." && pwd)
cpu_rule=$repo/deploy/guest/udev/99-vmmd-cpu-online.rules
suite=trixie
arch=arm64
image_name=debian-$suite-$arch.raw
image_mib=2048 # whole disk
esp_mib=200    # EFI system partition, from 1 MiB; the root takes the rest up to the last MiB
marker=@@GUEST-UP-DEBIAN
# Their trixie arm64 versions go into the cache key.
key_pkgs=(linux-image-arm64 systemd systemd-boot-efi initramfs-tools)
guest_pkgs=(systemd-sysv udev dbus linux-image-arm64 initramfs-tools zstd systemd-boot-efi
  e2fsprogs util-linux kmod procps iproute2 iputils-ping fio iperf3 stress-ng)
# Units that would make a boot without network wait, or start background work in a test guest.
mask_units=(systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer
  apt-daily.service apt-daily-upgrade.service man-db.timer man-db.service e2scrub_all.timer
  e2scrub_all.service e2scrub_reap.service fstrim.timer dpkg-db-backup.timer
  systemd-firstboot.service)
cache=${VMMD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vmmd}
deb_cache=$cache/image-debs

# ---------------------------------------------------------------------------------------------
# mmdebstrap essential hook (before the kernel and initramfs-tools are installed): every
# update-initramfs run during the installation (the kernel's postinst, then initramfs-tools'
# trigger) would build an initramfs under qemu-user for minutes, only to be replaced; a
# diversion turns them into no-ops and customize() builds the one initramfs at the end.
divert_real=/usr/sbin/update-initramfs.vmmd-build
no_initramfs() {
  local root=$1
  chroot "$root" dpkg-divert --quiet --local --rename --divert "$divert_real" \
    --add /usr/sbin/update-initramfs
  printf '#!/bin/sh\n# vmmd image build: the initramfs is built once, at the end\nexit 0\n' \
    >"$root/usr/sbin/update-initramfs"
  chmod 0755 "$root/usr/sbin/update-initramfs"
}

# mmdebstrap customize hook: this script runs itself as `build-debian-image.sh --customize
# ROOTFS` while the chroot has /proc, /sys and /dev mounted. Configuration comes from the
# files beside this script; nothing here needs the network.
customize() {
  local root=$1 f u
  [ -d "$root/etc" ] || die "customize: $root is no root filesystem"
  # Keep exactly the .debs of this build's packages in the cache (sync-out copied the chroot's
  # archive there, and that holds whatever sync-in brought from earlier builds too).
  local keep
  keep=$(dpkg-query --admindir="$root/var/lib/dpkg" -W \
    -f='${db:Status-Abbrev} ${Package}_${Version}_${Architecture}.deb\n' |
    awk '$1 == "ii" { gsub(/:/, "%3a", $2); print $2 }')
  for f in "$deb_cache"/*.deb; do
    [ -e "$f" ] || continue
    grep -qxF "${f##*/}" <<<"$keep" || rm -f "$f"
  done
  rm -f "$root/etc/dpkg/dpkg.cfg.d/zz-vmmd-build"
  # Config files, owned by root whatever owns the clone.
  (cd "$here/rootfs" && tar --owner=0 --group=0 --numeric-owner --mode=go-w -cf - .) |
    tar -C "$root" --no-overwrite-dir -xf -
  [ -f "$cpu_rule" ] || die "customize: $cpu_rule is missing (the guest's CPU-online rule)"
  install -D -m 0644 "$cpu_rule" "$root/etc/udev/rules.d/99-vmmd-cpu-online.rules"
  ln -sfn ../locale.conf "$root/etc/default/locale" # what systemd's tmpfiles make it at boot
  # No DNS in the test network; mmdebstrap copied the build host's resolver here.
  rm -f "$root/etc/resolv.conf"
  printf '# vmmd e2e guest: no name servers\n' >"$root/etc/resolv.conf"
  # Root logs in on the console without a password (autologin; test image without sshd).
  chroot "$root" passwd --delete root >/dev/null
  chroot "$root" systemctl enable systemd-networkd.service vmmd-ready.service \
    vmmd-workload.service 2>&1 |
    sed "s/^/$prog: systemctl: /" >&2
  for u in "${mask_units[@]}"; do ln -sfn /dev/null "$root/etc/systemd/system/$u"; done
  # The one initramfs, with the root disk's drivers (unless the kernel has them built in).
  local kver initrd listing missing=() m
  kver=$(cd "$root/lib/modules" && ls) || die "customize: no kernel modules in the rootfs"
  [ "$(wc -w <<<"$kver")" = 1 ] || die "customize: expected one kernel, found: $kver"
  install -m 0644 "$here/initramfs-modules" "$root/etc/initramfs-tools/modules"
  install -D -m 0644 "$here/initramfs.conf" "$root/etc/initramfs-tools/conf.d/vmmd.conf"
  rm -f "$root/usr/sbin/update-initramfs"
  chroot "$root" dpkg-divert --quiet --local --rename --divert "$divert_real" \
    --remove /usr/sbin/update-initramfs
  [ -x "$root/usr/sbin/update-initramfs" ] || die "customize: update-initramfs is missing"
  initrd=/boot/initrd.img-$kver
  rm -f "$root$initrd"
  log "customize: update-initramfs -c -k $kver (under qemu-user: a minute or two)"
  chroot "$root" update-initramfs -c -k "$kver" >&2 || die "customize: update-initramfs failed"
  [ -s "$root$initrd" ] || die "customize: $initrd was not built"
  listing=$(chroot "$root" lsinitramfs "$initrd") || die "customize: lsinitramfs $initrd failed"
  for m in $(grep -vE '^[[:space:]]*(#|$)' "$here/initramfs-modules"); do
    grep -qE "/${m}\.ko(\.[a-z]+)?\$" <<<"$listing" && continue
    grep -qE "/${m}\.ko\$" "$root/lib/modules/$kver/modules.builtin" && continue
    missing+=("$m")
  done
  [ ${#missing[@]} = 0 ] || die "customize: not in $initrd nor built in: ${missing[*]}"
  log "customize: rootfs configured (kernel $kver, initramfs of $(wc -l <<<"$listing") entries)"
}

case "${1:-}" in
  --no-initramfs) no_initramfs "${2:?--no-initramfs ROOTFS}"; exit 0 ;;
  --customize) customize "${2:?--customize ROOTFS}"; exit 0 ;;
esac

# ---------------------------------------------------------------------------------------------
[ $# = 1 ] && [ -n "$1" ] && [ "${1#-}" = "$1" ] || die "usage: $0 OUT_DIR"
out_dir=$1
[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap --mode=root chroots and mounts /proc)"

missing=()
for t in mmdebstrap:mmdebstrap arch-test:arch-test update-binfmts:binfmt-support \
  mcopy:mtools mmd:mtools mkfs.fat:dosfstools sfdisk:fdisk mke2fs:e2fsprogs e2fsck:e2fsprogs \
  apt-get:apt apt-cache:apt flock:util-linux sha256sum:coreutils; do
  command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
[ ${#missing[@]} = 0 ] ||
  die "missing host tools; install them: apt-get install $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"

start=$(date +%s)

# --- arm64 binaries through qemu-user (binfmt_misc) -------------------------------------------
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/status" ]; then
  mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null ||
    die "binfmt_misc is not mounted at $binfmt and mounting it failed: arm64 maintainer" \
      "scripts cannot run on this $(uname -m) host"
fi
if ! arch-test "$arch" >/dev/null 2>&1; then
  [ -e /usr/share/binfmts/qemu-aarch64 ] ||
    die "no qemu-aarch64 binfmt definition: apt-get install qemu-user-static binfmt-support"
  log "registering qemu-aarch64 with binfmt_misc (update-binfmts)"
  if [ -e "$binfmt/qemu-aarch64" ]; then
    update-binfmts --enable qemu-aarch64 >&2 || true
  else
    update-binfmts --import qemu-aarch64 >&2 || true
    update-binfmts --enable qemu-aarch64 >&2 || true
  fi
  arch-test "$arch" >/dev/null 2>&1 ||
    die "arm64 binaries still do not run here (arch-test $arch: $(arch-test "$arch" 2>&1));" \
      "check: update-binfmts --display qemu-aarch64; cat $binfmt/qemu-aarch64"
fi
grep -q '^flags:.*F' "$binfmt/qemu-aarch64" 2>/dev/null ||
  log "warning: qemu-aarch64 binfmt lacks the F flag; mmdebstrap copies qemu into the chroot"

# --- trixie sources, from this machine's apt configuration ------------------------------------
# Prints "URI SUITE KEYRING" for every enabled "deb" entry (deb822 and one-line formats);
# KEYRING is "-" unless Signed-By names a file.
host_entries() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush(   nu, ns, u, s, i, j) {
        if (types ~ /(^|[ \t])deb([ \t]|$)/ && tolower(enabled) != "no") {
          nu = split(uris, u, /[ \t]+/); ns = split(suites, s, /[ \t]+/)
          for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
            if (u[i] != "" && s[j] != "") print u[i], s[j], (signed ~ /^\// ? signed : "-")
        }
        types = uris = suites = signed = field = ""; enabled = "yes"
      }
      BEGIN { enabled = "yes" }
      /^#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { v = $0; sub(/^[ \t]+/, "", v)
                 if (field == "uris") uris = uris " " v; else if (field == "suites") suites = suites " " v
                 next }
      { name = tolower($0); sub(/:.*/, "", name); v = $0; sub(/^[^:]*:[ \t]*/, "", v); sub(/[ \t]+$/, "", v)
        field = name
        if (name == "types") types = v; else if (name == "uris") uris = v
        else if (name == "suites") suites = v; else if (name == "signed-by") signed = v
        else if (name == "enabled") enabled = v }
      END { flush() }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" {
           key = "-"; i = 2
           if ($2 ~ /^\[/) {
             for (; i <= NF; i++) {
               if ($i ~ /^\[?signed-by=/) { k = $i; sub(/^\[?signed-by=/, "", k); sub(/\]$/, "", k); if (k ~ /^\//) key = k }
               if ($i ~ /\]$/) { i++; break }
             }
           }
           if (i + 1 <= NF) print $i, $(i + 1), key
         }' "$f"
  done
}
entries=$(host_entries)
default_key=/usr/share/keyrings/debian-archive-keyring.gpg
# mirror_lines SUITE FALLBACK_SUITE: one-line "deb" entries for SUITE from the host entries that
# serve SUITE, else from those that serve FALLBACK_SUITE (same URI, suite replaced).
mirror_lines() {
  local want=$1 fallback=$2 sel
  sel=$(awk -v s="$want" '$2 == s' <<<"$entries")
  [ -n "$sel" ] || sel=$(awk -v s="$fallback" '$2 == s' <<<"$entries")
  [ -n "$sel" ] || return 0
  awk -v s="$want" -v dk="$default_key" '!seen[$1]++ {
      k = ($3 != "-") ? $3 : dk
      if (k != "" && (getline line < k) >= 0) { close(k); opt = "[signed-by=" k "] " } else opt = ""
      print "deb " opt $1 " " s " main" }' <<<"$sel"
}
mapfile -t mirrors < <(mirror_lines "$suite" bookworm)
[ ${#mirrors[@]} -gt 0 ] ||
  die "no apt source on this machine serves Debian $suite or bookworm (looked in /etc/apt/sources.list{,.d})"
mapfile -t -O ${#mirrors[@]} mirrors < <(mirror_lines "$suite-updates" bookworm-updates)
mapfile -t -O ${#mirrors[@]} mirrors < <(mirror_lines "$suite-security" bookworm-security)
# Fetch options of the host's apt (proxies, snapshot-style Valid-Until) apply to the image build.
mapfile -t acquire_opts < <(apt-config dump 2>/dev/null |
  grep -E '^Acquire::((https?|ftp)::Proxy[^ ]*|Check-Valid-Until|Check-Date|Retries|http::Timeout) ' |
  sed -E 's/ /=/; s/^([^=]*)="(.*)";$/\1=\2/')

# --- the key: script, config files, CPU rule, trixie arm64 versions of the key packages -------
apt_dir=$cache/image-apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/parts.d" "$deb_cache"
printf '%s\n' "${mirrors[@]}" >"$apt_dir/sources.list"
: >"$apt_dir/status"
apt_opts=(-o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
  -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/parts.d"
  -o "Dir::Etc::Preferences=$apt_dir/none.pref" -o "Dir::Etc::PreferencesParts=$apt_dir/parts.d"
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/status"
  -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=root")
log "reading $suite $arch package versions from: $(printf '%s; ' "${mirrors[@]}")"
exec 8>"$apt_dir/.lock" # apt refuses, rather than waits, when another run updates the lists
flock 8
if ! upd=$(apt-get "${apt_opts[@]}" -q update 2>&1); then
  # Offline with lists from an earlier run: their versions still name a cached image.
  compgen -G "$apt_dir/lists/*_Packages*" >/dev/null ||
    die "apt-get update of the $suite $arch lists failed:"$'\n'"$upd"
  log "warning: apt-get update failed; using the $suite lists of an earlier run:"$'\n'"$upd"
fi
grep -E '^(W|E):' <<<"$upd" | sed "s/^/$prog: apt: /" >&2 || true
policy=$(apt-cache "${apt_opts[@]}" policy "${key_pkgs[@]}" 2>/dev/null) || true
versions=()
for p in "${key_pkgs[@]}"; do
  v=$(awk -v p="$p:" '/^[^ ]/ { cur = ($1 == p) } cur && $1 == "Candidate:" { print $2 }' <<<"$policy")
  [ -n "$v" ] && [ "$v" != "(none)" ] || die "apt knows no $p for $suite $arch (sources: ${mirrors[*]})"
  versions+=("$p=$v")
done
exec 8>&-
config_files=()
while IFS= read -r f; do config_files+=("$f"); done < <(
  cd "$here" && find . -type f ! -name '*.md' ! -name "$(basename "$self")" | LC_ALL=C sort)
key=$( {
  echo "vmmd debian image v1 $suite $arch ${image_mib}M esp ${esp_mib}M"
  echo "== script"; cat "$self"
  for f in "${config_files[@]}"; do echo "== $f"; cat "$here/$f"; done
  echo "== cpu rule"; cat "$cpu_rule" 2>/dev/null || echo missing
  printf '%s\n' "${versions[@]}"
} | sha256sum | cut -c1-16)
log "cache key $key (${versions[*]})"

images=$cache/images
dest=$images/$key
mkdir -p "$images"

publish() {
  mkdir -p "$out_dir"
  rm -f "$out_dir/$image_name"
  cp --sparse=always --reflink=auto "$dest/$image_name" "$out_dir/$image_name.tmp"
  mv -f "$out_dir/$image_name.tmp" "$out_dir/$image_name"
  cp "$dest/debian-image.txt" "$out_dir/debian-image.txt"
  touch "$dest"
  log "wrote $out_dir/$image_name ($(du -h "$out_dir/$image_name" | cut -f1) on disk) and" \
    "$out_dir/debian-image.txt in $(($(date +%s) - start)) s"
}

have_image() { [ -s "$dest/$image_name" ] && [ -s "$dest/debian-image.txt" ]; }
if have_image && [ "${VMMD_IMAGE_REBUILD:-0}" != 1 ]; then
  log "cached image $dest"
  publish
  exit 0
fi

# One build at a time per cache (a concurrent build of the same key is reused).
exec 9>"$images/.lock"
if ! flock -n 9; then
  log "waiting for another image build using $cache"
  flock 9
fi
if have_image && [ "${VMMD_IMAGE_REBUILD:-0}" != 1 ]; then
  log "cached image $dest (built meanwhile)"
  publish
  exit 0
fi

# --- build ------------------------------------------------------------------------------------
rm -rf "$images"/.new-* # what an interrupted build left (this one holds the lock)
work=$(mktemp -d "${TMPDIR:-/tmp}/vmmd-image.XXXXXX")
chmod 0755 "$work" # apt downloads as _apt
cleanup() {
  local m
  # Whatever a failed mmdebstrap left mounted under the work dir, innermost first.
  for m in $(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  if awk -v w="$work/" 'index($2, w) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    echo "$prog: warning: mounts left under $work; not removing it" >&2
  else
    rm -rf --one-file-system "$work"
  fi
}
trap cleanup EXIT
rootfs=$work/rootfs
mkdir "$rootfs"

uuid() { cat /proc/sys/kernel/random/uuid; }
disk_guid=$(uuid)
esp_partuuid=$(uuid)
root_partuuid=$(uuid)
root_fsuuid=$(uuid)
esp_volid=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
cmdline="root=PARTUUID=$root_partuuid rootfstype=ext4 rw console=ttyAMA0"

export VMMD_CACHE_DIR=$cache
aptopt_args=()
for o in "${acquire_opts[@]}"; do aptopt_args+=("--aptopt=${o%%=*} \"${o#*=}\""); done
log "mmdebstrap $suite $arch into $rootfs (packages cached in $deb_cache)"
t0=$(date +%s)
mmdebstrap --mode=root --format=directory --variant=minbase --architectures="$arch" \
  --include="${guest_pkgs[*]}" \
  "${aptopt_args[@]}" \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --skip=essential/unlink \
  --setup-hook='mkdir -p "$1/var/cache/apt/archives" "$1/etc/dpkg/dpkg.cfg.d"' \
  --setup-hook="sync-in $deb_cache /var/cache/apt/archives/" \
  --setup-hook='echo force-unsafe-io > "$1/etc/dpkg/dpkg.cfg.d/zz-vmmd-build"' \
  --essential-hook="'$self' --no-initramfs \"\$1\"" \
  --customize-hook="sync-out /var/cache/apt/archives $deb_cache" \
  --customize-hook="'$self' --customize \"\$1\"" \
  "$suite" "$rootfs" "${mirrors[@]}" ||
  die "mmdebstrap failed (see above)"
t1=$(date +%s)
log "rootfs done in $((t1 - t0)) s"
if awk -v r="$rootfs/" 'index($2 "/", r) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
  die "mounts left under $rootfs after mmdebstrap"
fi
rm -f "$rootfs/etc/apt/apt.conf.d/99mmdebstrap" # the build host's fetch options
for v in "${versions[@]}"; do
  got=$(dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f='${Version}' "${v%%=*}" 2>/dev/null) || true
  [ "$got" = "${v#*=}" ] || log "warning: ${v%%=*} $got was installed, not ${v#*=} (the archive" \
    "changed during the build); the next run builds again under a new key"
done

kver=$(cd "$rootfs/lib/modules" && ls)
printf '# <fs> <mount point> <type> <options> <dump> <pass>\nUUID=%s / ext4 defaults,errors=remount-ro 0 1\n' \
  "$root_fsuuid" >"$rootfs/etc/fstab"

# --- ESP --------------------------------------------------------------------------------------
stage=$work/esp
mkdir -p "$stage/EFI/BOOT" "$stage/loader/entries" "$stage/debian"
sdboot=$rootfs/usr/lib/systemd/boot/efi/systemd-bootaa64.efi
[ -s "$sdboot" ] || die "systemd-boot-efi did not install $sdboot"
cp "$sdboot" "$stage/EFI/BOOT/BOOTAA64.EFI"
# Debian's arm64 vmlinuz may be a gzip'd Image; systemd-boot starts the kernel's own EFI stub,
# which needs the PE image itself.
vmlinuz=$rootfs/boot/vmlinuz-$kver
[ -s "$vmlinuz" ] || die "no $vmlinuz"
if [ "$(od -An -N2 -tx1 "$vmlinuz" | tr -d ' ')" = 1f8b ]; then
  gzip -dc "$vmlinuz" >"$stage/debian/linux"
else
  cp "$vmlinuz" "$stage/debian/linux"
fi
[ "$(head -c2 "$stage/debian/linux")" = MZ ] || die "$vmlinuz is no EFI-stub (PE) kernel image"
cp "$rootfs/boot/initrd.img-$kver" "$stage/debian/initrd.img"
cp "$here/esp/loader/loader.conf" "$stage/loader/loader.conf"
cat >"$stage/loader/entries/vmmd-debian.conf" <<EOF
title   Debian $suite $arch (vmmd e2e guest)
version $kver
linux   /debian/linux
initrd  /debian/initrd.img
options $cmdline
EOF
esp_img=$work/esp.img
mkfs.fat -F 32 -n ESP -i "$esp_volid" -C "$esp_img" $((esp_mib * 1024)) >/dev/null
export MTOOLS_SKIP_CHECK=1
(cd "$stage" && find . -mindepth 1 -type d | LC_ALL=C sort | sed 's|^\./|::/|' | xargs mmd -i "$esp_img")
(cd "$stage" && find . -type f | LC_ALL=C sort | while read -r f; do mcopy -i "$esp_img" "$f" "::/${f#./}"; done)

# --- root filesystem --------------------------------------------------------------------------
root_start=$((1 + esp_mib)) # MiB
root_mib=$((image_mib - root_start - 1))
root_img=$work/root.img
truncate -s "${root_mib}M" "$root_img"
log "mke2fs -d: ext4 root ($root_mib MiB, $(du -sh --one-file-system "$rootfs" | cut -f1) of files)"
mke2fs -q -F -t ext4 -L vmmd-root -U "$root_fsuuid" -m 1 -d "$rootfs" "$root_img"
e2fsck -fn "$root_img" >/dev/null 2>&1 || die "e2fsck finds errors in the new root filesystem"

# --- GPT disk ---------------------------------------------------------------------------------
disk=$work/$image_name
truncate -s "${image_mib}M" "$disk"
sfdisk -q --no-reread --no-tell-kernel "$disk" <<EOF
label: gpt
label-id: $disk_guid
unit: sectors
first-lba: 2048
start=2048, size=$((esp_mib * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=$esp_partuuid, name="ESP"
start=$((root_start * 2048)), size=$((root_mib * 2048)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=$root_partuuid, name="root"
EOF
dd if="$esp_img" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$root_img" of="$disk" bs=1M seek="$root_start" conv=notrunc,sparse status=none
sfdisk --verify "$disk" >/dev/null 2>&1 || die "sfdisk --verify fails on $disk"

{
  echo "# vmmd e2e Debian guest image (tests/e2e/image/build-debian-image.sh)"
  echo "key=$key"
  echo "image=$image_name"
  echo "suite=$suite"
  echo "arch=$arch"
  echo "size_bytes=$((image_mib * 1024 * 1024))"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for v in "${versions[@]}"; do echo "pkg.${v%%=*}=${v#*=}"; done
  echo "kernel_release=$kver"
  echo "disk_guid=$disk_guid"
  echo "esp_partuuid=$esp_partuuid"
  echo "root_partuuid=$root_partuuid"
  echo "root_fs_uuid=$root_fsuuid"
  echo "boot_loader=systemd-boot \\EFI\\BOOT\\BOOTAA64.EFI"
  echo "cmdline=$cmdline"
  echo "ready_marker=$marker"
  echo "console=ttyAMA0"
  echo "hostname=vmmd-guest"
  echo "guest_ip=10.0.2.15/24"
  echo "# installed packages"
  dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f='installed=${binary:Package} ${Version}\n' | LC_ALL=C sort
} >"$work/debian-image.txt"

tmp_dest=$(mktemp -d "$images/.new-$key.XXXXXX")
chmod 0755 "$tmp_dest"
mv "$disk" "$tmp_dest/$image_name"
mv "$work/debian-image.txt" "$tmp_dest/debian-image.txt"
rm -rf "$dest"
mv -T "$tmp_dest" "$dest"
log "built $dest in $(($(date +%s) - start)) s"
# Keep the three most recently used images.
(cd "$images" && ls -1dt -- */ 2>/dev/null | tail -n +4 | while read -r old; do
  log "dropping old cached image $images/${old%/}"
  rm -rf -- "${old%/}"
done)
publish
