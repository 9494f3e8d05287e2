#!/bin/sh
# l1-run: debian-image
# A real distribution under vmmd: the Debian trixie arm64 image (tests/e2e/image/, L1's second
# drive, a block device here) booted by stock UEFI from its virtio disk — no kernel_path: edk2
# finds systemd-boot on the disk's EFI system partition — to systemd's multi-user target, on a
# NIC on a TAP in L1. A workload disk (serial vmmd-workload) hands it a script: report the
# system state, then run fio with data verification and send verified data to L1 over TCP while
# vmmd scales it 1 -> 4 -> 2 -> 4 -> 1 (40 s). Every byte is checked; no I/O error, no hung task.
set -eu
. /e2e/lib.sh

l1_module virtio_blk
i=0
while [ ! -e /sys/block/vda/dev ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e /sys/block/vda/dev ] || fail "L1 has no vda (the Debian image drive)"
majmin=$(cat /sys/block/vda/dev)
rm -f /guest/debian.raw
mknod /guest/debian.raw b "${majmin%:*}" "${majmin#*:}"
log "Debian image: /guest/debian.raw = block device $majmin, $(($(cat /sys/block/vda/size) / 2048)) MiB"

tap=vmtap1
l1_tap_up "$tap" 10.0.2.2/24
trap 'l1_tap_down "$tap"' EXIT
# What the guest sends is checked here: each connection's bytes hashed into /tmp/recv.log.
cat >/tmp/recv <<'RECV'
#!/bin/sh
echo "$(md5sum | cut -c1-32)" >>/tmp/recv.log
RECV
chmod +x /tmp/recv
: >/tmp/recv.log
nc -ll -p 5002 -e /tmp/recv &
ncpid=$!

cat >/tmp/workload.sh <<'WORK'
# The console's getty hangs up the tty this service was given when it starts: open it anew
# for every line.
exec > >(while IFS= read -r l; do
  printf '%s\n' "$l" >/dev/ttyAMA0 2>/dev/null || printf '%s\n' "$l" >/dev/ttyAMA0
done) 2>&1
# The console is shared with the autologin shell, which writes terminal queries: each marker
# starts on a line of its own.
cpus() {
  printf '\n@@CPUS online=%s enabled=%s\n' "$(cat /sys/devices/system/cpu/online)" \
    "$(cat /sys/devices/system/cpu/enabled)"
}
state=$(timeout 150 systemctl is-system-running --wait)
if [ "$state" != running ]; then
  systemctl list-jobs --no-pager | sed 's/^/@@JOBS /'
  systemctl --failed --no-pager | sed 's/^/@@FAILED-UNITS /'
fi
echo
echo "@@DEBIAN-UP state=$state target=$(systemctl is-active multi-user.target) kernel=$(uname -r) root=$(findmnt -no SOURCE /) eth0=$(cat /sys/class/net/eth0/address)"
cpus
(prev=; while :; do c=$(cat /sys/devices/system/cpu/online); [ "$c" != "$prev" ] && cpus; prev=$c; sleep 0.3; done) &
end=$(( $(cut -d. -f1 /proc/uptime) + 40 ))
(
  n=0 bad=0
  while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
    head -c 4194304 /dev/urandom >/tmp/chunk
    printf '\n'
    echo "@@SENT md5=$(md5sum </tmp/chunk | cut -c1-32)"
    if ! cat /tmp/chunk >/dev/tcp/10.0.2.2/5002; then bad=$((bad + 1)); fi
    n=$((n + 1))
  done
  printf '\n@@NET-DONE sent=%s failed=%s\n' "$n" "$bad"
) &
netpid=$!
rounds=0 failed=0
while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
  if fio --name=verify --filename=/var/tmp/fio.dat --size=4M --rw=randwrite --bs=4k \
      --direct=1 --ioengine=psync --verify=crc32c --verify_fatal=1 --numjobs=1 \
      --output=/tmp/fio.out >/dev/null 2>&1; then
    rounds=$((rounds + 1))
  else
    failed=$((failed + 1))
    sed 's/^/@@FIO-OUT /' /tmp/fio.out
  fi
done
wait "$netpid"
printf '\n@@FIO rounds=%s failed=%s\n' "$rounds" "$failed"
journalctl -k -p warning --no-pager -q | grep -E 'I/O error|blocked for more than|hung_task|virtio' |
  sed 's/^/@@DMESG /'
printf '\n@@WORKLOAD-END\n'
WORK
# The workload disk: the script, NUL-padded to whole sectors.
dd if=/dev/zero of=/guest/workload.img bs=4096 count=4 2>/dev/null
dd if=/tmp/workload.sh of=/guest/workload.img conv=notrunc 2>/dev/null

start_vmmd
ctl create deb --firmware "$GUEST_FIRMWARE" --memory-mib 1024 --vcpus 1 --max-vcpus 4 \
  --disk /guest/debian.raw,serial=root --disk /guest/workload.img,ro,serial=vmmd-workload \
  --net "tap=$tap,mac=02:00:5e:00:02:0f" --entropy
t0=$(now_ms)
ctl start deb
con=$(console_file deb)
wait_for_line "$con" '^@@GUEST-UP-DEBIAN' 400 deb >/dev/null
time_since debian_guest_up "$t0"
up=$(wait_for_line "$con" '^@@DEBIAN-UP ' 240 deb)
log "guest: $up"
grep -a '^@@JOBS \|^@@FAILED-UNITS ' "$con" >&9 || true
time_since debian_multi_user "$t0"
[ "$(field "$up" state)" = running ] || fail "systemd reports '$(field "$up" state)', not running"
[ "$(field "$up" target)" = active ] || fail "multi-user.target is '$(field "$up" target)'"
[ "$(field "$up" eth0)" = 02:00:5e:00:02:0f ] || fail "eth0 is $(field "$up" eth0)"
pass "Debian booted from its virtio disk through UEFI to multi-user (systemd: running), kernel $(field "$up" kernel), root $(field "$up" root)"
ping -c 3 -W 5 10.0.2.15 >&9 2>&1 || fail "L1 cannot ping the Debian guest"
pass "L1 pings the Debian guest through $tap"

for n in 4 2 4 1; do
  scale_to deb "$n"
  check_scaled deb "$n" 4
done
end=$(wait_for_line "$con" '^@@WORKLOAD-END' 240 deb)
fio=$(grep -a '^@@FIO ' "$con" | tail -n1 | tr -d '\r')
net=$(grep -a '^@@NET-DONE ' "$con" | tail -n1 | tr -d '\r')
log "fio: $fio; net: $net"
if grep -a '^@@FIO-OUT \|^@@DMESG ' "$con" >&9; then fail "fio verify failures or kernel I/O errors (above)"; fi
[ "$(field "$fio" failed)" = 0 ] && [ "$(field "$fio" rounds)" -ge 1 ] || fail "fio: $fio"
[ "$(field "$net" failed)" = 0 ] && [ "$(field "$net" sent)" -ge 2 ] || fail "net: $net"
sent=$(grep -a '^@@SENT ' "$con" | tr -d '\r' | sed 's/^@@SENT md5=//' | sort)
got=$(sort /tmp/recv.log)
[ "$sent" = "$got" ] || fail "L1 received $(wc -l </tmp/recv.log) chunks, not those the guest sent"
pass "across 1 -> 4 -> 2 -> 4 -> 1 vCPUs: $(field "$fio" rounds) fio rounds of 4 MiB verified (crc32c), $(field "$net" sent) chunks of 4 MiB to L1 with equal md5, no I/O error"

ctl stop deb --force
wait_for_state deb STOPPED 30
kill "$ncpid" 2>/dev/null || true
