#!/bin/sh
# l1-run: debian-image
# A real distribution under vmmd: the Debian trixie arm64 image (tests/e2e/image/, L1's second
# drive, a block device here) booted by stock UEFI from its virtio disk — no kernel_path: edk2
# finds systemd-boot on the disk's EFI system partition — to systemd's multi-user target, on a
# NIC on a TAP in L1. A workload disk (serial vmmd-workload) hands it a script: report the
# system state, then run fio with data verification and send verified data to L1 over TCP while
# vmmd scales it 1 -> 4 -> 2 -> 4 -> 1. Every byte is checked; no I/O error, no hung task.
set -eu
. /e2e/lib.sh

debian_image_node

tap=vmtap1
l1_tap_up "$tap" 10.0.2.2/24
trap 'l1_tap_down "$tap"' EXIT
# Each 1 MiB chunk the guest sends is checked here against the MD5 the guest sent after it.
chunk_receiver 5002
# The workload (after /e2e/workload-lib.sh): systemd's state, then fio with data verification
# on the root disk and 1 MiB chunks to L1 over TCP, round after round, until the harness has
# scaled the guest and says stop (control; at most 10 min). Small rounds (1 MiB of 4 KiB random
# writes, each verified) keep a loaded bed's last round short.
control_serve
cat >/tmp/workload.sh <<'WORK'
debian_up
watch_cpus
end=$(($(uptime_s) + 600))
watchdog $(($(uptime_s) + 300))
going() { [ "$(uptime_s)" -lt "$end" ] && [ "$(control)" = run ]; }
(
  n=0 bad=0
  while going; do
    head -c 1048576 /dev/urandom >/tmp/chunk
    if ! send_checked /tmp/chunk 5002; then
      bad=$((bad + 1))
      marker "NET-FAILED chunk=$n"
    fi
    n=$((n + 1))
  done
  marker "NET-DONE sent=$n failed=$bad"
) &
netpid=$!
rounds=0 failed=0
while going; do
  t0=$(uptime_s)
  timeout 120 fio --name=verify --filename=/var/tmp/fio.dat --size=1M --rw=randwrite --bs=4k \
    --direct=1 --ioengine=psync --verify=crc32c --verify_fatal=1 --numjobs=1 \
    --output=/tmp/fio.out >/tmp/fio.err 2>&1
  rc=$?
  if [ $rc = 0 ]; then
    rounds=$((rounds + 1))
  else
    failed=$((failed + 1))
    marker "FIO-FAILED rc=$rc started=$t0 ended=$(uptime_s)"
    cat /tmp/fio.out /tmp/fio.err | sed 's/^/@@FIO-OUT /'
  fi
done
wait "$netpid"
marker "FIO rounds=$rounds failed=$failed"
timeout 60 journalctl -k -p warning --no-pager -q | grep -E 'I/O error|blocked for more than|hung_task|virtio' |
  sed 's/^/@@DMESG /'
workload_end
WORK
workload_disk /guest/workload.img /tmp/workload.sh

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

# On a failure from here on: give the guest's watchdog time to show its blocked tasks, and
# vmmd's I/O counters twice, 10 s apart (do they still move?).
diagnose() {
  i=0
  while [ $i -lt 90 ] && ! grep -aq '@@WATCHDOG\|^@@WORKLOAD-END' "$con"; do sleep 1; i=$((i + 1)); done
  ctl get deb >&9 2>&1 || true
  sleep 10
  ctl get deb >&9 2>&1 || true
  log "---- the guest's console from its watchdog on"
  sed -n '/sysrq: Show Blocked State/,$p' "$con" | tr -d '\r' | head -n 300 >&9
  fail "$@"
}
trap '' TERM # (a helper's fail() in a subshell lets this shell diagnose first)
for n in 4 2 4 1; do
  (scale_to deb "$n" && check_scaled deb "$n" 4) || diagnose "scaling to $n vCPUs (above)"
done
control_set stop
end=$(wait_for_line "$con" '^@@WORKLOAD-END' 400 deb) || diagnose "the workload did not end"
trap 'exit 1' TERM
fio=$(grep -a '^@@FIO ' "$con" | tail -n1 | tr -d '\r')
net=$(grep -a '^@@NET-DONE ' "$con" | tail -n1 | tr -d '\r')
log "fio: $fio; net: $net"
if grep -a '^@@FIO-OUT \|^@@DMESG ' "$con" >&9; then fail "fio verify failures or kernel I/O errors (above)"; fi
[ "$(field "$fio" failed)" = 0 ] && [ "$(field "$fio" rounds)" -ge 1 ] || fail "fio: $fio"
[ "$(field "$net" failed)" = 0 ] && [ "$(field "$net" sent)" -ge 2 ] || fail "net: $net"
[ "$(grep -c . /tmp/recv-5002.log)" = "$(field "$net" sent)" ] ||
  fail "L1 received $(grep -c . /tmp/recv-5002.log) chunks, the guest sent $(field "$net" sent)"
if grep -v '^ok 1048576$' /tmp/recv-5002.log >&9; then fail "chunks that L1 received differ from what the guest sent (above)"; fi
pass "across 1 -> 4 -> 2 -> 4 -> 1 vCPUs: $(field "$fio" rounds) fio rounds of 1 MiB verified (crc32c), $(field "$net" sent) chunks of 1 MiB to L1 with equal md5, no I/O error"

ctl stop deb --force
wait_for_state deb STOPPED 30
kill "$CHUNK_RECEIVER_PID" 2>/dev/null || true
